"""Where tests and benchmarks find the repository and the shared test recordings."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
"""The repository root."""

TESTDATA = Path(os.environ.get("VOXGATE_TESTDATA", REPO.parent / "shared" / "testdata"))
"""The shared recordings (``../shared/testdata``, or ``VOXGATE_TESTDATA``)."""
