"""Scale-out: two `voxgate worker` processes drain one PostgreSQL queue."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from realtime.batch.files import AudioStorage
from realtime.batch.store import JobStatus, NewJob
from realtime.batch.store_postgres import PostgresJobStore
from testkit.wer import wer
from tests.realtime.batch_support import PG_URL, postgres_schema, schema_url, spoken_text

pytestmark = pytest.mark.model

JOBS = 20


def worker(data_dir, database_url) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "realtime",
            "worker",
            "--data-dir",
            str(data_dir),
            "--database-url",
            database_url,
            "--asr-final-model",
            "tiny.en",  # the queue is under test here, not accuracy: the fast model
            "--asr-beam-size",
            "1",
            "--inference-workers",
            "1",
            "--log-level",
            "info",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_two_workers_drain_twenty_jobs_none_twice_none_lost(tmp_path, testdata):
    with postgres_schema() as schema:
        store = PostgresJobStore(PG_URL, schema=schema)
        storage = AudioStorage(tmp_path / "audio")
        sources = [testdata / "openai-whisper/jfk.flac", testdata / "deepspeech/LDC93S1.wav"]
        ids = []
        for i in range(JOBS):
            stored = storage.store_bytes(sources[i % 2].read_bytes())
            job = NewJob("k1", f"job{i}", stored.key, stored.sha256, stored.size, False, "scaleout")
            ids.append(store.submit(job, now=time.time()).id)
        procs = [worker(tmp_path, schema_url(schema)) for _ in range(2)]
        early: list[list[str]] = [[], []]
        try:
            # wait on the workers' own log lines until every job has ended (bounded)
            ended = 0
            deadline = time.monotonic() + 240
            while ended < JOBS:
                left = deadline - time.monotonic()
                assert left > 0, f"{ended} of {JOBS} jobs ended"
                ready, _, _ = select.select([p.stderr for p in procs], [], [], left)
                for i, p in enumerate(procs):
                    if p.stderr in ready:
                        line = p.stderr.readline()
                        assert line, f"worker {i} exited: {''.join(early[i])}"
                        early[i].append(line)
                        ended += bool(re.search(r"job \d+ (completed|failed)", line))
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            rest = [p.communicate(timeout=60)[1] for p in procs]
            logs = ["".join(e) + r for e, r in zip(early, rest, strict=True)]
            codes = [p.returncode for p in procs]
        assert codes == [0, 0], logs
        total, jobs = store.list("k1", limit=100, offset=0)
        assert total == JOBS and sorted(j.id for j in jobs) == sorted(ids)  # none lost
        assert {j.status for j in jobs} == {JobStatus.COMPLETED}
        assert {j.attempts for j in jobs} == {1}
        claims = Counter(
            int(job_id) for log in logs for job_id in re.findall(r"job (\d+) claimed by", log)
        )
        assert sorted(claims) == sorted(ids) and set(claims.values()) == {1}  # none twice
        per_worker = [len(re.findall(r"job \d+ claimed by", log)) for log in logs]
        print(f"claims per worker process: {per_worker}")
        jfk = store.get(ids[0], owner="k1")
        reference = (testdata / "openai-whisper/jfk.txt").read_text()
        assert wer(reference, spoken_text(jfk.detail["text"])) <= 0.1
        store.close()
