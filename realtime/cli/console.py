"""What every command shares on the console: exit statuses, the error line, progress bars."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

EXIT_FAILURE = 1
"""A failure while working (an unreadable file, a refused connection, a model not ready)."""

EXIT_USAGE = 2
"""A usage or configuration error."""

EXIT_INTERRUPTED = 130
"""Stopped by Ctrl-C (128 + SIGINT)."""


def print_error(message: str) -> None:
    """Print ``voxgate: error: <message>`` on stderr."""
    print(f"voxgate: error: {message}", file=sys.stderr)


@contextlib.contextmanager
def progress_bar(total: int, desc: str) -> Iterator[Any]:
    """A byte-counting tqdm bar on stderr that disappears when done (for model downloads)."""
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit="B", unit_scale=True, leave=False) as bar:
        yield bar
