"""The embedded job store: a ``jobs`` table in voxgate's SQLite database (WAL mode).

Each call opens its own short-lived connection (as :class:`realtime.auth.keys.KeyStore` does), so
one store serves any number of threads, and several processes on one host may share the
file (``voxgate serve`` and ``voxgate worker``). Writes that read first (claims) take the
write lock up front with ``BEGIN IMMEDIATE``, so two claimers never see the same job.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from realtime.batch.store import COPIED_ON_CACHE_HIT, Job, JobStatus, NewJob, exhausted_message
from realtime.batch.store_sql import SqlJobStore

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


class SQLiteJobStore(SqlJobStore):
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

    def close(self) -> None:
        """Nothing to release: connections are per call."""
