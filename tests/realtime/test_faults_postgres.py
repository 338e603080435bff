"""Fault injection: the PostgreSQL server restarts while batch workers are busy.

The test owns a real, throwaway PostgreSQL cluster (the Debian server binaries, initdb in a
temporary directory, a free port) so it can restart it; it skips only when those binaries
are missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from realtime.batch.files import AudioStorage
from realtime.batch.store import JobStatus, NewJob
from realtime.batch.store_postgres import PostgresJobStore
from realtime.batch.worker import BatchWorkers, WorkerOptions
from realtime.inference.loading import load_engines
from realtime.inference.scheduler import InferenceScheduler
from realtime.server.settings import Settings
from testkit.wer import wer
from tests.realtime.batch_support import reference_text, spoken_text

pytestmark = pytest.mark.model

CLIPS = [
    "openai-whisper/jfk.flac",
    "pocketsphinx/sense_and_sensibility_01_austen_64kb-0870.wav",
    "pocketsphinx/sense_and_sensibility_01_austen_64kb-0880.wav",
    "pocketsphinx/sense_and_sensibility_01_austen_64kb-0890.wav",
    "pyroomacoustics/cmu_arctic_us_aew_a0001.wav",
]
SETTLE_S = 300.0
"""Longest the whole batch may take (a bound on a hang, not a measurement)."""


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found or not (found[-1].parent / "initdb").exists():
        pytest.skip("the Debian PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are missing")
    return found[-1].parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    """A throwaway PostgreSQL cluster this test owns."""

    bin: Path
    root: Path
    port: int
    as_owner: list[str]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        subprocess.run(
            [
                *self.as_owner,
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.root / "data"),
                "-l",
                str(self.root / "server.log"),
                "-o",
                options,
                "-w",
                *args,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """initdb + start on a free port; stopped and removed afterwards.

    As root (initdb refuses root) the cluster belongs to the ``postgres`` user, run through
    ``runuser``; its directory lives directly under the system temp dir so that user can
    reach it.
    """
    bin_dir = _pg_bin()
    root = Path(tempfile.mkdtemp(prefix="voxgate-pg-"))
    as_owner: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            shutil.rmtree(root)
            pytest.skip("running as root without runuser: cannot start PostgreSQL")
        shutil.chown(root, "postgres", "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    try:
        subprocess.run(
            [
                *as_owner,
                str(bin_dir / "initdb"),
                "-D",
                str(root / "data"),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        cluster = Cluster(bin_dir, root, _free_port(), as_owner)
        cluster.pg_ctl("start")
        try:
            yield cluster
        finally:
            with contextlib.suppress(subprocess.SubprocessError):
                cluster.pg_ctl("-m", "immediate", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


class CountingStore:
    """A job store that counts, per job, the completions the database accepted."""

    def __init__(self, store: PostgresJobStore) -> None:
        self._store = store
        self.completed: Counter[int] = Counter()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def complete(self, job_id: int, *args: Any, **kwargs: Any) -> bool:
        done = self._store.complete(job_id, *args, **kwargs)
        if done:
            self.completed[job_id] += 1
        return done


def _started_at(url: str) -> Any:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0]


async def test_postgres_restart_during_a_batch_loses_and_repeats_nothing(
    cluster, testdata, tmp_path
):
    """``pg_ctl restart -m fast`` while jobs are processing (every pooled connection dies):
    the workers reconnect, every job completes once with the right text, none is lost."""
    import time

    store = CountingStore(PostgresJobStore(cluster.url))
    storage = AudioStorage(tmp_path / "audio")
    ids: dict[int, str] = {}
    for clip in CLIPS:
        stored = storage.store_bytes((testdata / clip).read_bytes())
        job = store.submit(
            NewJob("owner", Path(clip).name, stored.key, stored.sha256, stored.size, False, "k"),
            now=time.time(),
        )
        ids[job.id] = clip
    engines = load_engines(Settings())
    pool = InferenceScheduler(2, batch_threads=2)
    changed = asyncio.Event()
    claimed = asyncio.Event()

    def on_change(job_id: int) -> None:
        changed.set()
        claimed.set()

    workers = BatchWorkers(
        store,  # type: ignore[arg-type]
        storage,
        engines,
        pool,
        WorkerOptions(count=2, lease_s=30.0, poll_s=0.5),
        on_change=on_change,
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_S
    workers.start()
    try:
        await asyncio.wait_for(claimed.wait(), 60)  # a job is being processed
        before = _started_at(cluster.url)
        processing = [j for j in ids if store.get(j, owner=None).status is JobStatus.PROCESSING]
        await asyncio.to_thread(cluster.pg_ctl, "-m", "fast", "restart")
        assert _started_at(cluster.url) > before  # a new server: every old connection is gone
        assert processing  # the restart hit jobs in flight

        def statuses() -> dict[int, JobStatus]:
            return {j: store.get(j, owner=None).status for j in ids}

        while True:
            changed.clear()
            now = await asyncio.to_thread(statuses)
            if all(s in (JobStatus.COMPLETED, JobStatus.FAILED) for s in now.values()):
                break
            left = deadline - loop.time()
            assert left > 0, now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(left, 5.0))  # or re-check
    finally:
        await workers.stop()
        pool.shutdown(wait=True, cancel_futures=True)

    for job_id, clip in ids.items():
        job = store.get(job_id, owner=None)
        assert job.status is JobStatus.COMPLETED, (clip, job.error_message)
        reference = reference_text(testdata / clip.replace(Path(clip).suffix, ".txt"))
        text = spoken_text(job.detail["text"])
        assert wer(reference, text) <= 0.3, (clip, text)
    assert store.completed == Counter(list(ids))  # each completed exactly once
    store.close()
