"""Worker lifecycle with a gated fake ASR: progress, completion, release on stop, lost leases."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from engines.base import SAMPLE_RATE, Engines, Segment, SpeechEdge, Transcript, Word
from engines.testing import ScriptedVAD
from realtime.batch.files import AudioStorage
from realtime.batch.store import JobStatus, NewJob
from realtime.batch.store_sqlite import SQLiteJobStore
from realtime.batch.watch import JobWatch
from realtime.batch.worker import BatchWorkers, WorkerOptions
from realtime.inference.scheduler import InferenceScheduler


class GatedASR:
    """A batch ASR (``engines.base.BatchASR``) that decodes only once ``gate`` is set.

    Reports progress while it waits, so the pipeline's stop checks run.
    """

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.gate = threading.Event()

    def transcribe(self, audio, options, *, decode=None, on_progress=None):
        self.entered.set()
        while not self.gate.wait(0.05):  # an event wait, re-checking the stop flag
            on_progress(0.5)
        end = len(audio) / SAMPLE_RATE
        words = (Word(" Hello", 0.0, 0.5), Word(" there.", 0.5, end))
        segment = Segment("Hello there.", 0.0, end, words)
        return Transcript("Hello there.", "en", 0.0, end, words, (segment,))


def tone_wav(seconds: float = 2.0) -> bytes:
    import io
    import wave

    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    pcm = (0.3 * 32767 * np.sin(2 * np.pi * 220 * t)).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.tobytes())
    return out.getvalue()


@pytest.fixture
def setup(tmp_path):
    store = SQLiteJobStore(tmp_path / "voxgate.db")
    storage = AudioStorage(tmp_path / "audio")
    stored = storage.store_bytes(tone_wav())
    job = store.submit(
        NewJob("k", "tone.wav", stored.key, stored.sha256, stored.size, False, "o"), now=0.0
    )
    asr = GatedASR()
    vad = ScriptedVAD([(SpeechEdge.START, 0), (SpeechEdge.END, SAMPLE_RATE)])
    pool = InferenceScheduler(1)
    yield store, storage, Engines(vad=vad, asr=asr), pool, job, asr
    asr.gate.set()
    pool.shutdown(wait=True)


async def wait_until(watch: JobWatch, predicate, limit_s: float = 30.0) -> None:
    """Re-check ``predicate`` each time the workers report a job change (bounded)."""
    async with asyncio.timeout(limit_s):
        while not predicate():
            await watch.wait(None, at_most_s=limit_s)


async def test_a_job_runs_reports_progress_and_completes(setup):
    store, storage, engines, pool, job, asr = setup
    watch = JobWatch()
    workers = BatchWorkers(
        store, storage, engines, pool, WorkerOptions(lease_s=2.0), on_change=watch.changed
    )
    workers.start()
    try:
        await asyncio.to_thread(asr.entered.wait, 30)
        await wait_until(watch, lambda: store.get(job.id, owner=None).progress > 0)
        running = store.get(job.id, owner=None)
        assert running.status is JobStatus.PROCESSING and 0 < running.progress < 1
        asr.gate.set()
        await wait_until(watch, lambda: store.get(job.id, owner=None).status is JobStatus.COMPLETED)
    finally:
        await workers.stop()
    done = store.get(job.id, owner=None)
    assert done.detail["text"] == "SPEAKER_0: Hello there." and done.progress == 1.0
    assert done.audio_format == "pcm_s16le" and done.num_segments == 1


async def test_stopping_returns_a_running_job_to_the_queue(setup):
    store, storage, engines, pool, job, asr = setup
    workers = BatchWorkers(store, storage, engines, pool, WorkerOptions(lease_s=30.0))
    workers.start()
    await asyncio.to_thread(asr.entered.wait, 30)
    await workers.stop()  # the pipeline stops at its next progress report
    back = store.get(job.id, owner=None)
    assert (back.status, back.attempts, back.lease_owner) == (JobStatus.SUBMITTED, 0, None)


async def test_a_worker_that_lost_its_lease_drops_its_result(setup):
    store, storage, engines, pool, job, asr = setup
    watch = JobWatch()
    workers = BatchWorkers(
        store, storage, engines, pool, WorkerOptions(lease_s=2.0), on_change=watch.changed
    )
    workers.start()
    try:
        await asyncio.to_thread(asr.entered.wait, 30)
        # another worker takes the job over (as after a lease expiry elsewhere)
        now = time.time()
        assert store.release(job.id, workers.names[0], now=now)
        assert store.claim("other", now=now, lease_s=600, max_attempts=3).id == job.id
        # the first worker's next heartbeat finds the lease gone and stops the pipeline
        await wait_until(watch, lambda: not workers._runs)
    finally:
        await workers.stop()
    taken = store.get(job.id, owner=None)
    assert (taken.status, taken.lease_owner, taken.detail) == (JobStatus.PROCESSING, "other", None)
