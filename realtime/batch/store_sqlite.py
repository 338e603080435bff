"""The embedded job store: a ``jobs`` table in voxgate's SQLite database (WAL mode).

Each call opens its own short-lived connection (as :class:`realtime.keys.KeyStore` does), so
one store serves any number of threads, and several processes on one host may share the
file (``voxgate serve`` and ``voxgate worker``). Writes that read first (claims) take the
write lock up front with ``BEGIN IMMEDIATE``, so two claimers never see the same job.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from realtime.batch.store import (
    COPIED_ON_CACHE_HIT,
    SUMMARY_COLUMNS,
    Job,
    JobResult,
    JobStatus,
    NewJob,
    check_page,
    exhausted_message,
    job_from_row,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    owner           TEXT NOT NULL,
    status          TEXT NOT NULL,
    filename        TEXT NOT NULL,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL,
    audio_key       TEXT NOT NULL,
    audio_sha256    TEXT NOT NULL,
    audio_bytes     INTEGER NOT NULL,
    non_speech      INTEGER NOT NULL,
    options_key     TEXT NOT NULL,
    cached          INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    lease_owner     TEXT,
    lease_until     REAL,
    progress        REAL NOT NULL DEFAULT 0,
    error_message   TEXT,
    audio_duration  REAL,
    audio_format    TEXT,
    processing_time REAL,
    language        TEXT,
    num_speakers    INTEGER,
    num_segments    INTEGER,
    detail          TEXT
);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner, id);
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (status, id);
CREATE INDEX IF NOT EXISTS jobs_cache ON jobs (owner, audio_sha256, options_key, status);
"""

_SUMMARY = ", ".join(SUMMARY_COLUMNS)


class SQLiteJobStore:
    """A :class:`~realtime.batch.store.JobStore` in a SQLite file.

    Args:
        database: The database file (created with its directory if missing).
    """

    def __init__(self, database: Path) -> None:
        self.path = database
        database.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)  # commits by itself
        finally:
            db.close()

    @contextlib.contextmanager
    def _connect(self, *, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    def submit(self, job: NewJob, *, now: float) -> Job:
        """See :meth:`JobStore.submit`."""
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO jobs (owner, status, filename, created_at, updated_at, audio_key, "
                "audio_sha256, audio_bytes, non_speech, options_key) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.owner,
                    JobStatus.SUBMITTED.value,
                    job.filename,
                    now,
                    now,
                    job.audio_key,
                    job.audio_sha256,
                    job.audio_bytes,
                    int(job.non_speech),
                    job.options_key,
                ),
            )
            return self._get(db, int(cursor.lastrowid or 0), None)  # type: ignore[return-value]

    def submit_cached(self, job: NewJob, source: Job, *, now: float) -> Job:
        """See :meth:`JobStore.submit_cached`."""
        copied = ", ".join(COPIED_ON_CACHE_HIT)
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO jobs (owner, status, filename, created_at, updated_at, audio_key, "
                f"audio_sha256, audio_bytes, non_speech, options_key, cached, progress, {copied}) "
                f"SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 1.0, {copied} FROM jobs WHERE id = ?",
                (
                    job.owner,
                    JobStatus.COMPLETED.value,
                    job.filename,
                    now,
                    now,
                    job.audio_key,
                    job.audio_sha256,
                    job.audio_bytes,
                    int(job.non_speech),
                    job.options_key,
                    source.id,
                ),
            )
            return self._get(db, int(cursor.lastrowid or 0), None)  # type: ignore[return-value]

    def find_cached(self, owner: str, audio_sha256: str, options_key: str) -> Job | None:
        """See :meth:`JobStore.find_cached`."""
        with self._connect() as db:
            row = db.execute(
                f"SELECT {_SUMMARY} FROM jobs WHERE owner = ? AND audio_sha256 = ? "
                "AND options_key = ? AND status = ? ORDER BY id DESC LIMIT 1",
                (owner, audio_sha256, options_key, JobStatus.COMPLETED.value),
            ).fetchone()
        return job_from_row(dict(row)) if row else None

    def get(self, job_id: int, *, owner: str | None) -> Job | None:
        """See :meth:`JobStore.get`."""
        with self._connect() as db:
            return self._get(db, job_id, owner)

    @staticmethod
    def _get(db: sqlite3.Connection, job_id: int, owner: str | None) -> Job | None:
        row = db.execute(f"SELECT {_SUMMARY}, detail FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None or (owner is not None and row["owner"] != owner):
            return None
        return job_from_row(dict(row))

    def list(self, owner: str, *, limit: int, offset: int) -> tuple[int, list[Job]]:
        """See :meth:`JobStore.list`."""
        check_page(limit, offset)
        with self._connect() as db:
            total = db.execute("SELECT COUNT(*) FROM jobs WHERE owner = ?", (owner,)).fetchone()[0]
            rows = db.execute(
                f"SELECT {_SUMMARY} FROM jobs WHERE owner = ? ORDER BY id DESC LIMIT ? OFFSET ?",
                (owner, limit, offset),
            ).fetchall()
        return int(total), [job_from_row(dict(r)) for r in rows]

    def claim(self, worker: str, *, now: float, lease_s: float, max_attempts: int) -> Job | None:
        """See :meth:`JobStore.claim`."""
        with self._connect(immediate=True) as db:
            for row in db.execute(
                "SELECT id, attempts FROM jobs WHERE status = ? AND lease_until < ? "
                "AND attempts >= ?",
                (JobStatus.PROCESSING.value, now, max_attempts),
            ).fetchall():
                db.execute(
                    "UPDATE jobs SET status = ?, error_message = ?, updated_at = ?, "
                    "lease_owner = NULL, lease_until = NULL WHERE id = ?",
                    (JobStatus.FAILED.value, exhausted_message(row[1]), now, row[0]),
                )
            row = db.execute(
                "SELECT id FROM jobs WHERE status = ? OR (status = ? AND lease_until < ?) "
                "ORDER BY id LIMIT 1",
                (JobStatus.SUBMITTED.value, JobStatus.PROCESSING.value, now),
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET status = ?, attempts = attempts + 1, lease_owner = ?, "
                "lease_until = ?, progress = 0, updated_at = ? WHERE id = ?",
                (JobStatus.PROCESSING.value, worker, now + lease_s, now, row[0]),
            )
            return self._get(db, row[0], None)

    def _held(self, db: sqlite3.Connection, sql: str, params: tuple[object, ...]) -> bool:
        """Run an UPDATE guarded by ``id = ? AND lease_owner = ? AND status = processing``."""
        cursor = db.execute(
            f"{sql} WHERE id = ? AND lease_owner = ? AND status = ?",
            (*params, JobStatus.PROCESSING.value),
        )
        return cursor.rowcount == 1

    def heartbeat(
        self, job_id: int, worker: str, *, now: float, lease_s: float, progress: float
    ) -> bool:
        """See :meth:`JobStore.heartbeat`."""
        with self._connect() as db:
            return self._held(
                db,
                "UPDATE jobs SET lease_until = ?, progress = ?, updated_at = ?",
                (now + lease_s, min(max(progress, 0.0), 1.0), now, job_id, worker),
            )

    def complete(self, job_id: int, worker: str, result: JobResult, *, now: float) -> bool:
        """See :meth:`JobStore.complete`."""
        with self._connect() as db:
            return self._held(
                db,
                "UPDATE jobs SET status = ?, progress = 1.0, updated_at = ?, lease_until = NULL, "
                "audio_duration = ?, audio_format = ?, processing_time = ?, language = ?, "
                "num_speakers = ?, num_segments = ?, detail = ?",
                (
                    JobStatus.COMPLETED.value,
                    now,
                    result.audio_duration,
                    result.audio_format,
                    result.processing_time,
                    result.language,
                    result.num_speakers,
                    result.num_segments,
                    result.detail_json(),
                    job_id,
                    worker,
                ),
            )

    def fail(self, job_id: int, worker: str, message: str, *, now: float) -> bool:
        """See :meth:`JobStore.fail`."""
        with self._connect() as db:
            return self._held(
                db,
                "UPDATE jobs SET status = ?, error_message = ?, updated_at = ?, lease_until = NULL",
                (JobStatus.FAILED.value, message, now, job_id, worker),
            )

    def release(self, job_id: int, worker: str, *, now: float) -> bool:
        """See :meth:`JobStore.release`."""
        with self._connect() as db:
            return self._held(
                db,
                "UPDATE jobs SET status = ?, attempts = MAX(attempts - 1, 0), progress = 0, "
                "updated_at = ?, lease_owner = NULL, lease_until = NULL",
                (JobStatus.SUBMITTED.value, now, job_id, worker),
            )

    def close(self) -> None:
        """Nothing to release: connections are per call."""
