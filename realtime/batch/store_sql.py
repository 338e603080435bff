"""The SQL both job stores share: reads and lease-guarded updates, written once.

Statements use ``?`` placeholders; a backend whose driver wants ``%s`` sets
:attr:`SqlJobStore.placeholder`. Backends supply :meth:`SqlJobStore._connect` (a connection
inside one transaction) and :meth:`SqlJobStore._row` (a driver row as a ``dict``), and keep
what really differs between engines: table creation, inserts and claims.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from realtime.batch.store import (
    SUMMARY_COLUMNS,
    Job,
    JobResult,
    JobStatus,
    check_page,
    job_from_row,
)

SUMMARY = ", ".join(SUMMARY_COLUMNS)
"""The columns every job read returns (``detail`` is added where results are wanted)."""


class SqlJobStore:
    """Shared part of the SQLite and PostgreSQL :class:`~realtime.batch.store.JobStore`."""

    placeholder = "?"

    def _connect(self) -> contextlib.AbstractContextManager[Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def _row(row: Any) -> Mapping[str, Any]:
        """A driver row as a mapping of column name to value."""
        return dict(row)

    def _execute(self, db: Any, sql: str, params: tuple[object, ...] = ()) -> Any:
        """Run ``sql`` (written with ``?``) with this backend's placeholder."""
        if self.placeholder != "?":
            sql = sql.replace("?", self.placeholder)
        return db.execute(sql, params)

    # --- reads ----------------------------------------------------------------------------

    def find_cached(self, owner: str, audio_sha256: str, options_key: str) -> Job | None:
        """See :meth:`JobStore.find_cached`."""
        with self._connect() as db:
            row = self._execute(
                db,
                f"SELECT {SUMMARY} FROM jobs WHERE owner = ? AND audio_sha256 = ? "
                "AND options_key = ? AND status = ? ORDER BY id DESC LIMIT 1",
                (owner, audio_sha256, options_key, JobStatus.COMPLETED.value),
            ).fetchone()
        return job_from_row(self._row(row)) if row else None

    def get(self, job_id: int, *, owner: str | None) -> Job | None:
        """See :meth:`JobStore.get`."""
        with self._connect() as db:
            return self._get(db, job_id, owner)

    def _get(self, db: Any, job_id: int, owner: str | None) -> Job | None:
        row = self._execute(db, f"SELECT {SUMMARY}, detail FROM jobs WHERE id = ?", (job_id,))
        found = row.fetchone()
        if found is None:
            return None
        values = self._row(found)
        if owner is not None and values["owner"] != owner:
            return None
        return job_from_row(values)

    def list(self, owner: str, *, limit: int, offset: int) -> tuple[int, list[Job]]:
        """See :meth:`JobStore.list`."""
        check_page(limit, offset)
        with self._connect() as db:
            total = self._row(
                self._execute(
                    db, "SELECT COUNT(*) AS n FROM jobs WHERE owner = ?", (owner,)
                ).fetchone()
            )["n"]
            rows = self._execute(
                db,
                f"SELECT {SUMMARY} FROM jobs WHERE owner = ? ORDER BY id DESC LIMIT ? OFFSET ?",
                (owner, limit, offset),
            ).fetchall()
        return int(total), [job_from_row(self._row(r)) for r in rows]

    def queue_depth(self) -> int:
        """See :meth:`JobStore.queue_depth`."""
        with self._connect() as db:
            row = self._execute(
                db, "SELECT COUNT(*) AS n FROM jobs WHERE status = ?", (JobStatus.SUBMITTED.value,)
            ).fetchone()
        return int(self._row(row)["n"])

    # --- lease-guarded updates -------------------------------------------------------------

    def _held(self, sql: str, params: tuple[object, ...], job_id: int, worker: str) -> bool:
        """Run an UPDATE only while ``worker`` holds ``job_id``'s lease; True if it did."""
        with self._connect() as db:
            cursor = self._execute(
                db,
                f"{sql} WHERE id = ? AND lease_owner = ? AND status = ?",
                (*params, job_id, worker, JobStatus.PROCESSING.value),
            )
            return int(cursor.rowcount) == 1

    def heartbeat(
        self, job_id: int, worker: str, *, now: float, lease_s: float, progress: float
    ) -> bool:
        """See :meth:`JobStore.heartbeat`."""
        return self._held(
            "UPDATE jobs SET lease_until = ?, progress = ?, updated_at = ?",
            (now + lease_s, min(max(progress, 0.0), 1.0), now),
            job_id,
            worker,
        )

    def complete(self, job_id: int, worker: str, result: JobResult, *, now: float) -> bool:
        """See :meth:`JobStore.complete`."""
        return self._held(
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
            ),
            job_id,
            worker,
        )

    def fail(self, job_id: int, worker: str, message: str, *, now: float) -> bool:
        """See :meth:`JobStore.fail`."""
        return self._held(
            "UPDATE jobs SET status = ?, error_message = ?, updated_at = ?, lease_until = NULL",
            (JobStatus.FAILED.value, message, now),
            job_id,
            worker,
        )

    def release(self, job_id: int, worker: str, *, now: float) -> bool:
        """See :meth:`JobStore.release`."""
        return self._held(
            "UPDATE jobs SET status = ?, "
            "attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, progress = 0, "
            "updated_at = ?, lease_owner = NULL, lease_until = NULL",
            (JobStatus.SUBMITTED.value, now),
            job_id,
            worker,
        )
