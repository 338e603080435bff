"""``python -m realtime``: the voxgate CLI."""

import sys

from realtime.cli import main

sys.exit(main())
