"""The shared inference scheduler: one per process, it owns the inference worker threads.

Every blocking engine call of the process runs here: realtime sessions' ASR work (through
a serial :class:`Lane` per session), VAD and TTS (plain :meth:`InferenceScheduler.submit`,
so the scheduler is also a :class:`concurrent.futures.Executor`), and batch jobs' pipeline
steps (:meth:`InferenceScheduler.run` at :attr:`Priority.BATCH`).

Policy (what the next free thread runs):

* **Priorities.** URGENT before PARTIAL before BATCH; ties go to the oldest job.
* **Serial lanes.** A lane runs one job at a time, in submission order; its head job runs
  at the most urgent priority queued in the lane.
* **Latest wins.** A lane holds at most one queued ``latest`` job: a newer one replaces
  it, and an URGENT job joining the lane drops it (:class:`Dropped`).
* **Adaptive cadence.** Under load, a new ``latest`` job is skipped (``"skipped"``)
  unless its lane already skipped ``load`` requests in a row, ``load`` = (queued
  URGENT-effective jobs + other lanes' queued partials) // threads.
* **No starvation.** A lower class waiting while ``share`` jobs of higher classes started
  gets the next start.
* **A thread for realtime.** Batch jobs hold at most ``batch_threads`` threads.
* **Cancellation.** :meth:`Lane.cancel` drops queued jobs and discards the result of the
  one in flight (never interrupted); :meth:`Lane.close` also refuses later submissions.
* **Errors** raised by a job are set on its future; a job runs in a copy of its
  submitter's :mod:`contextvars`.
* **Shutdown** refuses new work, drops or runs the queued jobs, and joins the threads.

Thread-safe: every public method may be called from any thread.

Policy reasons, and why partial decodes are not batched: docs/decisions/scheduler.md
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_SHARE = 4
"""Starts that may pass over a waiting lower class before it gets a turn."""


class Priority(IntEnum):
    """Scheduling classes; a lower value runs first."""

    URGENT = 0
    """Finals, their annotation, VAD, TTS: someone is waiting for the result."""
    PARTIAL = 1
    """Partial transcripts and the stream feeds they need."""
    BATCH = 2
    """Batch pipeline steps: throughput work."""


class Dropped(Exception):
    """The job did not run, or its result was discarded.

    Attributes:
        reason: ``"superseded"`` (a newer partial or a final replaced it), ``"skipped"``
            (adaptive cadence), ``"cancelled"`` (its lane was cancelled or closed), or
            ``"shutdown"``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"inference job dropped: {reason}")
        self.reason = reason


@dataclass(eq=False, slots=True)
class _Job:
    fn: Callable[[], Any]
    priority: Priority
    lane: Lane | None
    latest: bool
    seq: int
    tag: str | None = None
    future: Future[Any] = field(default_factory=Future)
    # The submitter's contextvars (session and job ids for logs): the job runs inside them.
    context: contextvars.Context = field(default_factory=contextvars.copy_context)
    discard: bool = False  # its lane was cancelled while it ran: drop the result


class Lane:
    """One submitter's handle (a session, a batch job): groups its jobs for cancellation.

    Create with :meth:`InferenceScheduler.lane`. A *serial* lane runs its jobs one at a
    time in submission order; a non-serial lane only groups them. Thread-safe.
    """

    def __init__(self, scheduler: InferenceScheduler, *, serial: bool, name: str) -> None:
        self._scheduler = scheduler
        self.serial = serial
        self.name = name
        self.closed = False
        self.skipped = 0  # consecutive latest-job requests skipped by the cadence rule
        self.running: list[_Job] = []

    def submit(
        self,
        fn: Callable[[], T],
        *,
        priority: Priority,
        latest: bool = False,
        cadence: bool = True,
        tag: str | None = None,
    ) -> Future[T]:
        """Queue ``fn()`` in this lane; see :meth:`InferenceScheduler.schedule`."""
        return self._scheduler.schedule(
            fn, priority=priority, lane=self, latest=latest, cadence=cadence, tag=tag
        )

    def cancel(self, tag: str | None = None) -> None:
        """Drop queued jobs; discard the results of jobs in flight (they still finish).

        Jobs submitted afterwards run normally (a session clearing its buffer goes on).

        Args:
            tag: Only the jobs submitted with this tag (an item id); None: all of them.
        """
        self._scheduler._cancel(self, close=False, tag=tag)

    def close(self) -> None:
        """:meth:`cancel`, and refuse later submissions (they fail with :class:`Dropped`)."""
        self._scheduler._cancel(self, close=True)


class InferenceScheduler(Executor):
    """A priority scheduler over ``threads`` worker threads (policy: module docstring).

    Args:
        threads: Worker threads (``settings.inference_workers``).
        share: Reserved share: a waiting lower class starts after at most this many starts
            passed it over.
        batch_threads: Most threads batch work holds at once; default ``threads - 1``
            (at least 1).
        name: Thread name prefix.
        record_starts: Keep :attr:`starts`, the (class, lane name) of every job started,
            in order (for tests of the policy).
    """

    def __init__(
        self,
        threads: int,
        *,
        share: int = DEFAULT_SHARE,
        batch_threads: int | None = None,
        name: str = "inference",
        record_starts: bool = False,
    ) -> None:
        if threads < 1 or share < 1:
            raise ValueError("threads and share must be at least 1")
        self.threads = threads
        self.share = share
        self.batch_threads = batch_threads or max(1, threads - 1)
        self._cond = threading.Condition()
        self._queue: list[_Job] = []
        self._seq = itertools.count()
        self._passed = dict.fromkeys(Priority, 0)
        self._batch_running = 0
        self._shutdown = False
        self._paused = 0
        self.record_starts = record_starts
        self.starts: list[tuple[Priority, str]] = []
        self._workers = [
            threading.Thread(target=self._work, name=f"{name}_{i}", daemon=True)
            for i in range(threads)
        ]
        for worker in self._workers:
            worker.start()

    # --- submission ---------------------------------------------------------------------

    def lane(self, name: str = "", *, serial: bool = True) -> Lane:
        """A new lane (one per session; ``serial=False`` for a batch job's steps)."""
        return Lane(self, serial=serial, name=name)

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Executor interface: ``fn(*args, **kwargs)`` at :attr:`Priority.URGENT`, no lane.

        Raises:
            RuntimeError: after :meth:`shutdown`.
        """
        return self.schedule(lambda: fn(*args, **kwargs), priority=Priority.URGENT)

    def schedule(
        self,
        fn: Callable[[], T],
        *,
        priority: Priority,
        lane: Lane | None = None,
        latest: bool = False,
        cadence: bool = True,
        tag: str | None = None,
    ) -> Future[T]:
        """Queue ``fn()``; its future gets the result, the exception, or :class:`Dropped`.

        Never blocks on the work. Safe from any thread, including the event loop.

        Args:
            fn: The blocking call.
            priority: Its class.
            lane: Its lane (a serial lane also orders it after the lane's earlier jobs).
            latest: Latest wins in its lane (a partial request): replaces a queued
                ``latest`` job of the lane, is dropped when an URGENT job joins it, and is
                subject to adaptive cadence. Needs a lane.
            cadence: Whether a ``latest`` job may be skipped by adaptive cadence (False for
                a speculative final: skipping it only makes the final later, it saves no work).
            tag: Names the job for :meth:`Lane.cancel` (e.g. the item it works on).

        Raises:
            RuntimeError: after :meth:`shutdown`.
        """
        job = _Job(fn, priority, lane, latest and lane is not None, next(self._seq), tag)
        with self._cond:
            if self._shutdown:
                raise RuntimeError("the inference scheduler is shut down")
            if lane is not None and lane.closed:
                job.future.set_exception(Dropped("cancelled"))
                return job.future
            if job.latest:
                assert lane is not None
                queued = self._queued_latest(lane)
                if queued is not None:
                    self._drop(queued, "superseded")
                elif cadence and self._should_skip(lane):
                    lane.skipped += 1
                    job.future.set_exception(Dropped("skipped"))
                    return job.future
                lane.skipped = 0
            elif priority is Priority.URGENT and lane is not None:
                queued = self._queued_latest(lane)
                if queued is not None:
                    self._drop(queued, "superseded")
            self._queue.append(job)
            self._cond.notify()
        return job.future

    def run(self, fn: Callable[[], T], *, priority: Priority, lane: Lane | None = None) -> T:
        """Blocking: run ``fn()`` on a worker thread at ``priority`` and return its result.

        For a caller that has its own thread to wait on (a batch job): the pipeline's
        ``run_step`` hook. Not for the event loop.

        Raises:
            Dropped: the lane was cancelled or the scheduler shut down before it ran.
            Exception: whatever ``fn`` raised.
        """
        return self.schedule(fn, priority=priority, lane=lane).result()

    # --- lifecycle ----------------------------------------------------------------------

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Refuse new work; drop queued jobs when ``cancel_futures``, else run them; join.

        Args:
            wait: Join the worker threads (after the jobs they are running end).
            cancel_futures: Drop queued jobs (their futures fail with ``Dropped("shutdown")``).
        """
        with self._cond:
            self._shutdown = True
            if cancel_futures:
                for job in list(self._queue):
                    self._drop(job, "shutdown")
            self._cond.notify_all()
        if wait:
            for worker in self._workers:
                if worker is not threading.current_thread():
                    worker.join()

    def pause(self) -> None:
        """Start nothing until :meth:`resume` (tests fill the queue, then watch the order)."""
        with self._cond:
            self._paused += 1

    def resume(self) -> None:
        """Undo one :meth:`pause`."""
        with self._cond:
            self._paused -= 1
            self._cond.notify_all()

    # --- internals (under self._cond) ---------------------------------------------------

    def _queued_latest(self, lane: Lane) -> _Job | None:
        return next((j for j in self._queue if j.lane is lane and j.latest), None)

    def _should_skip(self, lane: Lane) -> bool:
        ahead = sum(
            1
            for j in self._queue
            if self._effective(j) is Priority.URGENT or (j.latest and j.lane is not lane)
        )
        load = ahead // self.threads
        return load > 0 and lane.skipped < load

    def _drop(self, job: _Job, reason: str) -> None:
        self._queue.remove(job)
        if not job.future.cancelled():  # a caller may have cancelled the pending future
            job.future.set_exception(Dropped(reason))

    def _cancel(self, lane: Lane, *, close: bool, tag: str | None = None) -> None:
        def matches(job: _Job) -> bool:
            return tag is None or job.tag == tag

        with self._cond:
            for job in [j for j in self._queue if j.lane is lane and matches(j)]:
                self._drop(job, "cancelled")
            for job in lane.running:
                job.discard = job.discard or matches(job)
            lane.closed = lane.closed or close

    def _effective(self, job: _Job) -> Priority:
        lane = job.lane
        if lane is None or not lane.serial:
            return job.priority
        return min(j.priority for j in self._queue if j.lane is lane)

    def _eligible(self) -> list[_Job]:
        seen: set[int] = set()
        out = []
        for job in self._queue:
            lane = job.lane
            if lane is not None and lane.serial:
                if lane.running or id(lane) in seen:
                    continue
                seen.add(id(lane))
            if job.priority is Priority.BATCH and self._batch_running >= self.batch_threads:
                continue
            out.append(job)
        return out

    def _pick(self) -> tuple[_Job, Priority] | None:
        """The next job to start and its class (None: nothing is eligible). The batching seam."""
        eligible = self._eligible()
        if not eligible:
            return None
        ranked = [(self._effective(j), j.seq, j) for j in eligible]
        classes = {p for p, _, _ in ranked}
        due = [p for p in sorted(classes, reverse=True) if self._passed[p] >= self.share]
        cls = due[0] if due else min(classes)
        _, _, job = min(r for r in ranked if r[0] is cls)
        self._passed[cls] = 0
        for lower in classes:
            if lower > cls:
                self._passed[lower] += 1
        return job, cls

    def _work(self) -> None:
        while True:
            with self._cond:
                picked = None
                while True:
                    if not self._paused:
                        picked = self._pick()
                    if picked is not None or (self._shutdown and not self._queue):
                        break
                    self._cond.wait()
                if picked is None:
                    return
                job, cls = picked
                self._queue.remove(job)
                if not job.future.set_running_or_notify_cancel():
                    continue
                lane = job.lane
                if lane is not None:
                    lane.running.append(job)
                if job.priority is Priority.BATCH:
                    self._batch_running += 1
                if self.record_starts:
                    self.starts.append((cls, lane.name if lane else ""))
            try:
                result, error = job.context.run(job.fn), None
            except BaseException as exc:  # reported to the submitter
                result, error = None, exc
            with self._cond:
                if lane is not None:
                    lane.running.remove(job)
                if job.priority is Priority.BATCH:
                    self._batch_running -= 1
                self._cond.notify_all()
            if job.discard:
                job.future.set_exception(Dropped("cancelled"))
            elif error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(result)
