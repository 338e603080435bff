"""`voxgate serve --workers 2`: two processes on one port, rolling reload, clean stop.

Each worker loads every model (about 10 s each here), so this runs one server through its
whole life: start, serve from both workers, SIGHUP (each worker replaced while /health
keeps answering), SIGTERM (everything exits 0).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

pytestmark = pytest.mark.model

DEADLINE_S = 240.0


def health(url: str) -> str:
    """GET /health; the pid of the worker that answered.

    One retry on a refused or reset connection: a connection the kernel queued on an old
    worker in the instant it closes its listening socket is reset (Linux gives queued
    connections of a closed SO_REUSEPORT socket to no sibling); the retry lands on a live one.
    """
    for attempt in (1, 2):
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=30) as response:
                assert response.status == 200
                return response.headers["X-Voxgate-Worker"]
        except (ConnectionError, urllib.error.URLError):
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_two_workers_share_the_port_reload_on_sighup_and_stop_on_sigterm(tmp_path):
    log = (tmp_path / "stderr.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "realtime",
            "serve",
            "--workers",
            "2",
            "--port",
            "0",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        url = None
        for line in proc.stdout:  # the parent prints this once every worker listens
            if match := re.search(
                r"listening on (http://\S+) .*2 workers, pids (\d+), (\d+)", line
            ):
                url = match.group(1)
                announced = {match.group(2), match.group(3)}
                break
        assert url, f"no listening line; stderr: {(tmp_path / 'stderr.log').read_text()}"

        # both workers serve: new connections are spread over them
        old: set[str] = set()
        deadline = time.monotonic() + DEADLINE_S
        while old != announced:
            assert time.monotonic() < deadline, f"saw only {old} of {announced}"
            pid = health(url)
            assert pid in announced
            old.add(pid)

        # SIGHUP: each worker replaced by a new one, /health answering all along
        proc.send_signal(signal.SIGHUP)
        new: set[str] = set()
        answers = 0
        deadline = time.monotonic() + DEADLINE_S
        while len(new) < 2 or any(alive(int(pid)) for pid in old):
            assert time.monotonic() < deadline, f"reload incomplete: new {new}, old {old}"
            pid = health(url)
            answers += 1
            if pid not in old:
                new.add(pid)
        assert answers > 2 and len(new) == 2
        assert proc.poll() is None  # the parent is still in charge

        # SIGTERM: the workers drain and stop, the parent exits 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0
        assert not any(alive(int(pid)) for pid in new)
        assert "all workers stopped (exit codes 0, 0)" in (tmp_path / "stderr.log").read_text()
    finally:
        proc.kill()
        proc.wait()
        log.close()
