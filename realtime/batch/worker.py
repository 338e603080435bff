"""Batch workers: claim jobs, run the pipeline on the inference scheduler, keep the lease alive.

:class:`BatchWorkers` runs ``count`` worker loops as tasks of the current event loop (in
``voxgate serve``'s app, or alone in ``voxgate worker``). Each loop:

1. claims the oldest claimable job (:meth:`JobStore.claim`, off the event loop);
2. runs decode → VAD → ASR on a thread of its own that mostly waits: each heavy step (the
   decode, the VAD pass, each chunk's Whisper call, listening, diarization) is a job of the
   process's :class:`~realtime.inference.scheduler.InferenceScheduler` at
   :attr:`~realtime.inference.scheduler.Priority.BATCH` (below every realtime job), while a heartbeat
   renews the lease and records progress every ``min(lease/3, 2 s)``;
3. completes the job, or fails it with a clear ``error_message`` when the audio is bad.

A worker that loses its lease (it stalled past it and another worker took the job) stops
the pipeline at its next checkpoint (its queued scheduler steps are dropped) and drops the
result. On :meth:`BatchWorkers.stop` running pipelines stop at their next checkpoint and
their jobs are released (returned to
the queue without spending an attempt). A worker killed outright leaves its lease to
expire; another claim then retries the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from engines.base import Engines
from engines.errors import AudioDecodeError, EngineError
from realtime.batch.assembly import BatchTranscript
from realtime.batch.backends import open_store
from realtime.batch.files import AudioStorage
from realtime.batch.pipeline import Cancelled, PipelineOptions, transcribe_file
from realtime.batch.render import render_text, segment_records
from realtime.batch.store import Job, JobResult, JobStore
from realtime.inference.scheduler import Dropped, InferenceScheduler, Lane, Priority
from realtime.server.logs import bound
from realtime.server.metrics import Metrics
from realtime.server.settings import Settings

log = logging.getLogger(__name__)

HEARTBEAT_MAX_S = 2.0
"""Longest gap between heartbeats (progress is recorded with each)."""

INTERNAL_ERROR = "internal error while processing the audio (the server log has details)"


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How workers claim and process jobs.

    Attributes:
        count: Worker loops (jobs processed at once).
        lease_s: Lease taken by a claim and renewed by heartbeats.
        max_attempts: Claims per job before a job whose worker died is failed.
        poll_s: Longest idle wait between claims when not woken (other processes' jobs).
        beam_size: Whisper beam width.
        max_audio_s: Longest recording transcribed (decoded seconds); longer ones fail.
    """

    count: int = 1
    lease_s: float = 60.0
    max_attempts: int = 3
    poll_s: float = 1.0
    beam_size: int = 5
    max_audio_s: float | None = None


def job_result(
    transcript: BatchTranscript, *, non_speech: bool, processing_time: float
) -> JobResult:
    """The stored result of a finished pipeline run (segments keep their words)."""
    return JobResult(
        audio_duration=round(transcript.duration, 3),
        audio_format=transcript.codec,
        processing_time=round(processing_time, 3),
        language=transcript.language,
        num_speakers=transcript.num_speakers,
        num_segments=len(transcript.segments),
        num_chunks=transcript.num_chunks,
        text=render_text(transcript.segments, transcript.tags, non_speech=non_speech),
        segments=segment_records(transcript.segments, words=True),
    )


class _Run:
    """Shared state of one running job: progress out of the thread, stop into it."""

    def __init__(self, scheduler: InferenceScheduler, lane: Lane) -> None:
        self.progress = 0.0
        self.stop = threading.Event()
        self.lost = False
        self._scheduler = scheduler
        self._lane = lane

    def report(self, fraction: float) -> None:
        self.progress = max(self.progress, fraction)

    def halt(self) -> None:
        """Stop at the next checkpoint; drop the steps still queued on the scheduler."""
        self.stop.set()
        self._lane.cancel()

    def step(self, fn: Callable[[], Any]) -> Any:
        """The pipeline's ``run_step``: one step on the scheduler at batch priority.

        Raises:
            Cancelled: the run was halted before the step could run or finish.
        """
        if self.stop.is_set():
            raise Cancelled
        try:
            return self._scheduler.run(fn, priority=Priority.BATCH, lane=self._lane)
        except Dropped as exc:
            raise Cancelled from exc


class BatchWorkers:
    """Worker loops over a job store. Create, :meth:`start` in a running loop, :meth:`stop`.

    Args:
        store: The job queue.
        storage: Where uploaded audio lives.
        engines: Loaded engines (VAD and ASR are used).
        pool: The inference scheduler; a running job's steps are its BATCH jobs, and the
            job itself waits on a thread of the workers' own (``options.count`` threads).
        options: Claiming and processing options.
        on_change: Called on the event loop with a job id when this process claims it,
            records its progress, or ends it (wakes long-polling readers).
        metrics: Where finished jobs' durations and failures are counted (the app's).

    While a job is processed, log lines carry its id (:data:`realtime.server.logs.JOB_ID`).
    """

    def __init__(
        self,
        store: JobStore,
        storage: AudioStorage,
        engines: Engines,
        pool: InferenceScheduler,
        options: WorkerOptions,
        on_change: Callable[[int], None] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._on_change = on_change or (lambda job_id: None)
        self._metrics = metrics
        self._store = store
        self._storage = storage
        self._engines = engines
        self._pool = pool
        self.options = options
        self._wake = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._runs: set[_Run] = set()
        self._waiting = ThreadPoolExecutor(options.count, thread_name_prefix="batch-job")
        prefix = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"
        self.names = [f"{prefix}:{i}" for i in range(options.count)]

    def start(self) -> None:
        """Start the loops as tasks of the running event loop."""
        for name in self.names:
            self._tasks.append(asyncio.create_task(self._loop(name), name=f"batch-{name}"))

    def wake(self) -> None:
        """Tell idle loops that a job was submitted (claims at once instead of at the poll)."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop claiming, stop running pipelines at their next checkpoint, release their jobs.

        Returns when every loop has ended.
        """
        self._stopping = True
        for run in self._runs:
            run.halt()
        self._wake.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await asyncio.to_thread(self._waiting.shutdown, wait=True)

    async def _loop(self, name: str) -> None:
        opts = self.options
        while not self._stopping:
            try:
                job = await asyncio.to_thread(
                    self._store.claim,
                    name,
                    now=time.time(),
                    lease_s=opts.lease_s,
                    max_attempts=opts.max_attempts,
                )
            except Exception:  # the database is unreachable: log, back off, retry
                log.exception("claiming a batch job failed")
                job = None
            if job is None:
                self._wake.clear()
                if self._stopping:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), opts.poll_s)
                continue
            with bound(job_id=job.id):
                log.info("job %d claimed by %s (attempt %d)", job.id, name, job.attempts)
                self._on_change(job.id)
                try:
                    await self._process(job, name)
                except Exception:  # never let one job end the loop; its lease will expire
                    log.exception("job %d: the worker could not finish it", job.id)
                finally:
                    self._on_change(job.id)

    async def _process(self, job: Job, name: str) -> None:
        run = _Run(self._pool, self._pool.lane(f"job {job.id}", serial=False))
        self._runs.add(run)
        if self._stopping:
            run.halt()
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        context = contextvars.copy_context()  # the job id follows into the pipeline thread
        work = loop.run_in_executor(self._waiting, context.run, self._pipeline, job, run)
        beat = asyncio.create_task(self._heartbeats(job, name, run, work))
        try:
            transcript = await work
        except Cancelled:
            if not run.lost:
                await self._store_call(
                    "releasing", job, lambda: self._store.release(job.id, name, now=time.time())
                )
                log.info("job %d released by %s (shutting down)", job.id, name)
            return
        except AudioDecodeError as exc:  # bad input, NoSpeech included: the client's to fix
            await self._finish_failed(job, name, str(exc), started)
            return
        except EngineError as exc:
            log.warning("job %d failed: %s", job.id, exc)
            await self._finish_failed(job, name, str(exc), started)
            return
        except Exception:
            log.exception("job %d: unexpected error", job.id)
            await self._finish_failed(job, name, INTERNAL_ERROR, started)
            return
        finally:
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)
            self._runs.discard(run)
        result = job_result(
            transcript, non_speech=job.non_speech, processing_time=time.monotonic() - started
        )
        done = await self._store_call(
            "completing", job, lambda: self._store.complete(job.id, name, result, now=time.time())
        )
        if done:
            log.info("job %d completed by %s in %.1f s", job.id, name, result.processing_time)
            if self._metrics is not None:
                self._metrics.job_finished(time.monotonic() - started, failed=False)
        else:
            log.warning(
                "job %d finished by %s after its lease was lost: result dropped", job.id, name
            )

    async def _finish_failed(self, job: Job, name: str, message: str, started: float) -> None:
        failed = await self._store_call(
            "failing", job, lambda: self._store.fail(job.id, name, message, now=time.time())
        )
        log.info("job %d failed: %s", job.id, message)
        if failed and self._metrics is not None:
            self._metrics.job_finished(time.monotonic() - started, failed=True)

    async def _store_call(self, what: str, job: Job, call: Callable[[], bool]) -> bool:
        """Run a store update that ends a job, retrying while the database is unreachable.

        A database restart or failover must not lose a finished result: the update is
        retried (with backoff, off the event loop) for as long as the lease would have
        lasted; after that another worker may hold the job, and False is returned.
        """
        deadline = time.monotonic() + self.options.lease_s
        backoff = 0.1
        while True:
            try:
                return await asyncio.to_thread(call)
            except Exception:
                if time.monotonic() + backoff > deadline:
                    log.exception("%s job %d failed; giving up (its lease expires)", what, job.id)
                    return False
                log.warning("%s job %d failed (database unreachable?); retrying", what, job.id)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, HEARTBEAT_MAX_S)

    def _pipeline(self, job: Job, run: _Run) -> BatchTranscript:
        """Blocking: decode and transcribe the stored audio, step by step on the scheduler."""
        return transcribe_file(
            self._storage.path(job.audio_key),
            self._engines.vad,
            self._engines.asr,
            PipelineOptions(
                non_speech=job.non_speech,
                beam_size=self.options.beam_size,
                max_audio_s=self.options.max_audio_s,
            ),
            embedder=self._engines.embedder,
            tagger=self._engines.tagger,
            label=job.filename,
            on_progress=run.report,
            should_stop=run.stop.is_set,
            run_step=run.step,
        )

    async def _heartbeats(
        self, job: Job, name: str, run: _Run, work: asyncio.Future[BatchTranscript]
    ) -> None:
        """Renew the lease and record progress until the work ends; stop it if the lease is lost."""
        interval = min(self.options.lease_s / 3, HEARTBEAT_MAX_S)
        while True:
            await asyncio.wait({work}, timeout=interval)
            if work.done():
                return
            try:
                held = await asyncio.to_thread(
                    self._store.heartbeat,
                    job.id,
                    name,
                    now=time.time(),
                    lease_s=self.options.lease_s,
                    progress=run.progress,
                )
            except Exception:  # transient database trouble: the lease still has time
                log.exception("heartbeat for job %d failed", job.id)
                continue
            self._on_change(job.id)
            if not held:
                log.warning("job %d: lease lost by %s; stopping", job.id, name)
                run.lost = True
                run.halt()
                return


def worker_options(settings: Settings) -> WorkerOptions:
    """Worker options from settings."""
    return WorkerOptions(
        count=settings.batch_workers,
        lease_s=settings.batch_lease_s,
        max_attempts=settings.batch_max_attempts,
        beam_size=settings.asr_beam_size,
        max_audio_s=settings.max_audio_seconds,
    )


def run_workers(settings: Settings, *, say: Callable[[str], None] = print) -> None:
    """``voxgate worker``: load the engines, run workers until SIGINT/SIGTERM (blocking).

    On a signal, running jobs stop at their next checkpoint and go back to the queue.

    Raises:
        ConfigurationError: the database is unusable.
        ModelNotFound: a model is unusable.
    """
    from realtime.batch.files import AudioStorage
    from realtime.inference.loading import load_engines

    store = open_store(settings)
    engines = load_engines(settings)
    storage = AudioStorage(settings.data_dir / "audio")

    async def main() -> None:
        threads = settings.inference_workers  # no realtime sessions here: batch may use all
        pool = InferenceScheduler(threads, batch_threads=threads)
        workers = BatchWorkers(store, storage, engines, pool, worker_options(settings))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        workers.start()
        where = "PostgreSQL" if settings.database_url else str(settings.database_path)
        say(f"voxgate worker: {len(workers.names)} worker(s) on {where}")
        sys.stdout.flush()
        try:
            await stop.wait()
            log.info("shutting down")
        finally:
            await workers.stop()
            pool.shutdown(wait=True, cancel_futures=True)

    loop_factory = None
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:  # not on Linux: the default loop is fine
        pass
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(main())
    finally:
        store.close()
