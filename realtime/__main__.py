"""``python -m realtime``: the voxgate CLI."""

import sys

from realtime.cli.main import main

sys.exit(main())
