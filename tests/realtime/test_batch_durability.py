"""Jobs survive the server: SIGKILL during processing, restart, every job completes."""

from __future__ import annotations

import re
import signal
import subprocess

import pytest
import requests

from realtime.batch.store import JobStatus
from realtime.batch.store_sqlite import SQLiteJobStore
from testkit.wer import wer
from tests import serving
from tests.realtime.batch_support import spoken_text, wait_for_job

pytestmark = pytest.mark.model

LEASE_S = "3"  # a killed worker's job is retried this long after its last heartbeat


def serve(data_dir) -> tuple[subprocess.Popen, str, list[str]]:
    proc = serving.start(data_dir, "--batch-lease-s", LEASE_S)
    return proc, *serving.read_until_listening(proc)


def test_sigkill_during_processing_loses_nothing(tmp_path, testdata):
    files = {
        "demo-congrats.wav": testdata / "asterisk/demo-congrats.wav",
        "sample.wav": testdata / "pyannote/sample.wav",
        "jfk.flac": testdata / "openai-whisper/jfk.flac",
    }
    proc, url, lines = serve(tmp_path)
    try:
        key = re.search(r"(vg_[0-9a-f]{8}_\S+)", "".join(lines)).group(1)
        ids = {}
        for name, path in files.items():
            response = requests.post(
                f"{url}/submit",
                headers={"Authorization": key},
                params={"filename": name},
                data=path.read_bytes(),
                timeout=60,
            )
            assert response.status_code == 200, response.text
            ids[name] = response.json()["id"]
        processing = ids["demo-congrats.wav"]  # the first submitted is claimed first

        def status(wait_s: float) -> str:
            return requests.get(
                f"{url}/transcriptions/{processing}",
                headers={"Authorization": key},
                params={"wait": wait_s},  # held until the job changes (extension)
                timeout=90,
            ).json()["status"]

        state = status(0)
        if state == "submitted":
            state = status(60)
        assert state == "processing", state
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        proc.kill()
        proc.wait()

    before = SQLiteJobStore(tmp_path / "voxgate.db").get(processing, owner=None)
    assert before.status is JobStatus.PROCESSING  # held by the dead worker

    proc, url, _ = serve(tmp_path)
    try:
        for name, job_id in ids.items():
            result, _ = wait_for_job(url, key, job_id, timeout=240)
            assert result["status"] == "completed", (name, result.get("error_message"))
            assert result["filename"] == name and result["text"]
        jfk, _ = wait_for_job(url, key, ids["jfk.flac"])
        reference = (testdata / "openai-whisper/jfk.txt").read_text()
        assert wer(reference, spoken_text(jfk["text"])) <= 0.05
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
        proc.wait()
    after = SQLiteJobStore(tmp_path / "voxgate.db").get(processing, owner=None)
    assert after.attempts == 2  # the interrupted attempt, then the one that finished
