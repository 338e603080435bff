"""`voxgate serve` as a user runs it: first-run key, /health, clean shutdown on SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import urllib.error
import urllib.request

import pytest

from realtime import __version__
from tests import serving

pytestmark = pytest.mark.model  # serve checks every configured model before it listens


def test_serve_first_run_health_and_sigterm(tmp_path):
    proc = serving.start(tmp_path, stderr=subprocess.PIPE)
    try:
        url, lines = serving.read_until_listening(proc)
        key = re.search(r"(vg_[0-9a-f]{8}_\S+)", "".join(lines)).group(1)
        with urllib.request.urlopen(f"{url}/health", timeout=10) as response:
            assert json.load(response) == {
                "status": "ok",
                "version": __version__,
                "model": "whisper-base",
            }
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(f"{url}/transcriptions", timeout=10)
        assert denied.value.code == 401
        request = urllib.request.Request(f"{url}/nothing", headers={"Authorization": key})
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(request, timeout=10)
        assert missing.value.code == 404  # the printed key works
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()
    # a second run finds the key and prints none
    second = serving.start(tmp_path, stderr=subprocess.PIPE)
    try:
        _, lines = serving.read_until_listening(second)
        assert not any("vg_" in line for line in lines)
        second.send_signal(signal.SIGINT)
        assert second.wait(timeout=30) == 0
    finally:
        second.kill()
        second.wait()
