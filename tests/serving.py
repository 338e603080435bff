"""`voxgate serve` as a child process, for tests that need a real one (signals, restarts).

Usage: ``proc = start(tmp_path, "--batch-lease-s", "3")``, then
``url, lines = read_until_listening(proc)``; ``api_key(lines)`` is the key a first run
printed. The caller stops the process (SIGTERM, or kill).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def start(
    data_dir: Path | str,
    *flags: str,
    stderr: int = subprocess.DEVNULL,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[str]:
    """Start ``python -m realtime serve --port 0 --data-dir DATA_DIR FLAGS…`` (unbuffered).

    ``env``: added to this process's environment for the server (``VOXGATE_…`` settings).
    """
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "realtime",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            *flags,
        ],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
    )


def read_until_listening(proc: subprocess.Popen[str]) -> tuple[str, list[str]]:
    """The server's URL once it prints ``listening on``, and every line it printed so far.

    Blocks on the process's own output (pytest-timeout bounds it).

    Raises:
        AssertionError: the process ended first (its output is in the message).
    """
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if match := re.search(r"listening on (https?://\S+)", line):
            return match.group(1), lines
    raise AssertionError(f"server exited before listening: {''.join(lines)}")


def api_key(lines: list[str]) -> str | None:
    """The API key a first run printed (``vg_…``), or None."""
    found = re.search(r"(vg_[0-9a-f]{8}_\S+)", "".join(lines))
    return found.group(1) if found else None
