"""Wake-ups for job changes made in this process (long-polling readers, tests).

Workers call :meth:`JobWatch.changed` when a job is claimed, makes progress or ends;
``GET /transcriptions/{id}?wait=N`` awaits :meth:`JobWatch.wait` instead of making clients
poll. Changes made by other processes (PostgreSQL scale-out) are not seen here: waiters
re-read the store at least every :data:`RECHECK_S` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib

RECHECK_S = 1.0
"""Longest a waiter goes without re-reading the store (other processes' changes)."""


class JobWatch:
    """Per-job wake-ups on one event loop. Not thread-safe: call from the loop."""

    def __init__(self) -> None:
        self._events: dict[int, asyncio.Event] = {}
        self._any = asyncio.Event()

    def changed(self, job_id: int) -> None:
        """Wake everyone waiting on ``job_id`` (and on any job)."""
        event = self._events.pop(job_id, None)
        if event is not None:
            event.set()
        self._any.set()
        self._any = asyncio.Event()

    async def wait(self, job_id: int | None, at_most_s: float) -> None:
        """Return when ``job_id`` (None: any job) changes, or after ``at_most_s`` seconds."""
        event = self._any if job_id is None else self._events.setdefault(job_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), at_most_s)
