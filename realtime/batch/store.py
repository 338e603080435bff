"""The job store: one interface over the durable queue of batch transcription jobs.

Two backends implement :class:`JobStore` and pass one shared test suite:

* :class:`~realtime.batch.store_sqlite.SQLiteJobStore` — embedded, the default (WAL mode, in
  the data directory). Several processes on one host may share it.
* :class:`~realtime.batch.store_postgres.PostgresJobStore` — several voxgate processes on
  different machines share one queue (claims use ``FOR UPDATE SKIP LOCKED``).

Lifecycle of a job::

    submitted ──claim──▶ processing ──complete──▶ completed
        ▲                    │  └──────fail──────▶ failed
        └──release / lease expiry (attempts left)─┘

A claim takes a *lease* (``lease_s`` seconds) that the worker renews with
:meth:`JobStore.heartbeat`. A job whose lease expired (its worker died) is claimable again,
and each claim counts one attempt; once ``max_attempts`` claims were used up, an expired job
is failed instead. :meth:`JobStore.release` returns a job without counting the attempt (a
worker shutting down). Nothing submitted is lost: every transition is one transaction.

Every method blocks (run it off the event loop) and takes ``now`` (Unix seconds) from the
caller instead of reading a clock. Methods that act for a worker name it (``worker``) and
do nothing, returning False, when that worker no longer holds the job's lease.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class JobStatus(enum.StrEnum):
    """Where a job is (the Fluxions ``status`` values)."""

    SUBMITTED = "submitted"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class NewJob:
    """What a submission stores.

    Attributes:
        owner: The submitting API key's id; only that key sees the job.
        filename: Name given by the client (``"audio"`` by default).
        audio_key: Storage name of the uploaded file (see :mod:`realtime.batch.files`).
        audio_sha256: Hex SHA-256 of the uploaded bytes (the cache key's content part).
        audio_bytes: Size of the upload.
        non_speech: The client asked for non-speech tags.
        options_key: Everything besides the content that changes the result (options,
            model); equal keys and hashes give equal results, so the cache may answer.
    """

    owner: str
    filename: str
    audio_key: str
    audio_sha256: str
    audio_bytes: int
    non_speech: bool
    options_key: str


@dataclass(frozen=True, slots=True)
class JobResult:
    """What a worker stores on completion.

    Attributes:
        audio_duration: Seconds of audio.
        audio_format: Detected codec.
        processing_time: Seconds the successful attempt took.
        language: Detected language.
        num_speakers: Distinct speakers.
        num_segments: Segments.
        num_chunks: VAD chunks decoded.
        text: The Fluxions ``text`` (``SPEAKER_N: …`` lines).
        segments: Segment records with words (see
            :func:`realtime.batch.render.segment_records`).
    """

    audio_duration: float
    audio_format: str
    processing_time: float
    language: str | None
    num_speakers: int
    num_segments: int
    num_chunks: int
    text: str
    segments: list[dict[str, Any]]

    def detail_json(self) -> str:
        """The parts stored as one JSON document (the rest are columns)."""
        return json.dumps(
            {"num_chunks": self.num_chunks, "text": self.text, "segments": self.segments},
            separators=(",", ":"),
        )


@dataclass(frozen=True, slots=True)
class Job:
    """A stored job.

    Attributes:
        id: Integer id, increasing with submission order.
        owner: Owning API key id.
        status: Current status.
        filename: Client's name for the file.
        created_at: Submission time (Unix seconds).
        updated_at: Last change (Unix seconds).
        audio_key: Storage name of the audio.
        audio_sha256: Hex SHA-256 of the audio.
        audio_bytes: Size of the audio.
        non_speech: Non-speech tags requested.
        options_key: See :class:`NewJob`.
        cached: Completed from the cache, without processing.
        attempts: Claims so far.
        lease_owner: Worker holding the lease (while processing).
        lease_until: Lease expiry (Unix seconds; while processing).
        progress: Fraction done, 0 to 1.
        error_message: Why it failed (failed jobs).
        audio_duration: Seconds of audio (completed jobs).
        audio_format: Detected codec (completed jobs).
        processing_time: Seconds of processing (completed jobs).
        language: Detected language (completed jobs).
        num_speakers: Speakers (completed jobs).
        num_segments: Segments (completed jobs).
        detail: ``num_chunks``, ``text`` and ``segments`` (completed jobs, when loaded:
            :meth:`JobStore.get` loads it, :meth:`JobStore.list` does not).
    """

    id: int
    owner: str
    status: JobStatus
    filename: str
    created_at: float
    updated_at: float
    audio_key: str
    audio_sha256: str
    audio_bytes: int
    non_speech: bool
    options_key: str
    cached: bool
    attempts: int
    lease_owner: str | None
    lease_until: float | None
    progress: float
    error_message: str | None
    audio_duration: float | None
    audio_format: str | None
    processing_time: float | None
    language: str | None
    num_speakers: int | None
    num_segments: int | None
    detail: dict[str, Any] | None


SUMMARY_COLUMNS = (
    "id",
    "owner",
    "status",
    "filename",
    "created_at",
    "updated_at",
    "audio_key",
    "audio_sha256",
    "audio_bytes",
    "non_speech",
    "options_key",
    "cached",
    "attempts",
    "lease_owner",
    "lease_until",
    "progress",
    "error_message",
    "audio_duration",
    "audio_format",
    "processing_time",
    "language",
    "num_speakers",
    "num_segments",
)
"""Columns every query returns; ``detail`` (a JSON text column) is added by ``get``."""

COPIED_ON_CACHE_HIT = (
    "audio_duration",
    "audio_format",
    "processing_time",
    "language",
    "num_speakers",
    "num_segments",
    "detail",
)
"""Result columns a cache hit copies from the job it reuses."""

MAX_PAGE = 100
"""Largest ``limit`` of :meth:`JobStore.list` (the Fluxions maximum)."""


def job_from_row(row: Mapping[str, Any]) -> Job:
    """Build a :class:`Job` from a row mapping with :data:`SUMMARY_COLUMNS` (and ``detail``)."""
    detail = row.get("detail")
    return Job(
        id=int(row["id"]),
        owner=row["owner"],
        status=JobStatus(row["status"]),
        filename=row["filename"],
        created_at=float(row["created_at"]),
        updated_at=float(row["updated_at"]),
        audio_key=row["audio_key"],
        audio_sha256=row["audio_sha256"],
        audio_bytes=int(row["audio_bytes"]),
        non_speech=bool(row["non_speech"]),
        options_key=row["options_key"],
        cached=bool(row["cached"]),
        attempts=int(row["attempts"]),
        lease_owner=row["lease_owner"],
        lease_until=row["lease_until"],
        progress=float(row["progress"]),
        error_message=row["error_message"],
        audio_duration=row["audio_duration"],
        audio_format=row["audio_format"],
        processing_time=row["processing_time"],
        language=row["language"],
        num_speakers=row["num_speakers"],
        num_segments=row["num_segments"],
        detail=json.loads(detail) if detail else None,
    )


def exhausted_message(attempts: int) -> str:
    """The error of a job whose every attempt was lost with its worker."""
    return (
        f"processing was interrupted {attempts} times (the worker stopped or lost its lease); "
        "giving up"
    )


def check_page(limit: int, offset: int) -> None:
    """Validate list paging.

    Raises:
        ValueError: ``limit`` outside 1..100 or ``offset`` negative.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}")
    if offset < 0:
        raise ValueError("offset must be 0 or more")


class JobStore(Protocol):
    """The durable job queue (see the module docstring for the lifecycle).

    Implementations are safe to call from several threads at once, and from several
    processes sharing the same database.
    """

    def submit(self, job: NewJob, *, now: float) -> Job:
        """Store a new job as ``submitted`` and return it (with its id)."""
        ...

    def submit_cached(self, job: NewJob, source: Job, *, now: float) -> Job:
        """Store a new job already ``completed`` with ``source``'s result, ``cached`` True."""
        ...

    def find_cached(self, owner: str, audio_sha256: str, options_key: str) -> Job | None:
        """The newest completed job of ``owner`` with this content and options, if any."""
        ...

    def get(self, job_id: int, *, owner: str | None) -> Job | None:
        """A job with its ``detail``; None if absent or not ``owner``'s (None: any owner)."""
        ...

    def list(self, owner: str, *, limit: int, offset: int) -> tuple[int, list[Job]]:
        """``owner``'s jobs, newest first, without ``detail``; and their total count.

        Raises:
            ValueError: bad paging (see :func:`check_page`).
        """
        ...

    def queue_depth(self) -> int:
        """Jobs waiting to be claimed (``submitted``), of every owner (for metrics)."""
        ...

    def claim(self, worker: str, *, now: float, lease_s: float, max_attempts: int) -> Job | None:
        """Take the oldest claimable job for ``worker``, or None when there is none.

        Claimable: ``submitted``, or ``processing`` with an expired lease and fewer than
        ``max_attempts`` attempts. Expired jobs without attempts left are failed first.
        The claimed job is ``processing``, leased until ``now + lease_s``, its attempts
        increased by one and its progress reset. No two workers ever claim one job at once.
        """
        ...

    def heartbeat(
        self, job_id: int, worker: str, *, now: float, lease_s: float, progress: float
    ) -> bool:
        """Extend ``worker``'s lease to ``now + lease_s`` and record progress.

        Returns:
            False when the worker no longer holds the job (it should stop working on it).
        """
        ...

    def complete(self, job_id: int, worker: str, result: JobResult, *, now: float) -> bool:
        """Store the result and mark the job ``completed``; False if the lease was lost."""
        ...

    def fail(self, job_id: int, worker: str, message: str, *, now: float) -> bool:
        """Mark the job ``failed`` with ``message``; False if the lease was lost."""
        ...

    def release(self, job_id: int, worker: str, *, now: float) -> bool:
        """Return the job to ``submitted`` without counting the attempt; False if not held."""
        ...

    def close(self) -> None:
        """Release connections. The store is unusable afterwards."""
        ...
