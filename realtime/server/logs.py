"""Logging: session and job ids on every line, text or JSON output, secrets redacted.

Context travels in :mod:`contextvars`: the session host (:class:`~realtime.hosting.host.SessionHost`) sets :data:`SESSION_ID` for
the lifetime of a session (every task the session starts inherits it) and the batch
workers set :data:`JOB_ID` while they process a job (the job's pipeline thread too). The
:class:`ContextFilter` copies both onto each record; :class:`TextFormatter` and
:class:`JsonFormatter` render them. The inference scheduler runs each job in
a copy of its submitter's context, so engine code on its threads logs with the ids too.

API keys (``vg_<id>_<secret>``) and client secrets (``ek_…``) are redacted from every
formatted line, whatever logged them (the aiohttp access log shows query strings, which may
carry ``api-key=…``): only a key's public id is kept.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import re
import sys
from collections.abc import Iterator
from typing import IO, Literal

SESSION_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "voxgate_session_id", default=None
)
"""The realtime session (``sess_…``) whose work is running, if any."""
JOB_ID: contextvars.ContextVar[int | None] = contextvars.ContextVar("voxgate_job_id", default=None)
"""The batch job being processed, if any."""

LogFormat = Literal["text", "json"]

_SECRETS = re.compile(r"\b(vg_[0-9a-f]{8}_)[A-Za-z0-9_\-]+|\bek_[A-Za-z0-9_\-]{8,}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s"


def redact(text: str) -> str:
    """``text`` with API key secrets and client secrets replaced by ``[redacted]``."""
    return _SECRETS.sub(
        lambda m: f"{m.group(1)}[redacted]" if m.group(1) else "ek_[redacted]", text
    )


@contextlib.contextmanager
def bound(*, session_id: str | None = None, job_id: int | None = None) -> Iterator[None]:
    """Set the ids given (not None) for the code inside the block, then restore them.

    Tasks created inside the block keep the ids after it ends (they copied the context).
    """
    session_token = SESSION_ID.set(session_id) if session_id is not None else None
    job_token = JOB_ID.set(job_id) if job_id is not None else None
    try:
        yield
    finally:
        if job_token is not None:
            JOB_ID.reset(job_token)
        if session_token is not None:
            SESSION_ID.reset(session_token)


class ContextFilter(logging.Filter):
    """Adds ``session_id``, ``job_id`` and ``context`` (text form, may be empty) to records.

    Attach it to handlers (handler filters see records propagated from every logger).
    Never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate ``record``; always True."""
        session_id, job_id = SESSION_ID.get(), JOB_ID.get()
        record.session_id = session_id
        record.job_id = job_id
        parts = []
        if session_id is not None:
            parts.append(f"session={session_id}")
        if job_id is not None:
            parts.append(f"job={job_id}")
        record.context = f" [{' '.join(parts)}]" if parts else ""
        return True


class TextFormatter(logging.Formatter):
    """``time LEVEL logger [session=… job=…]: message``, secrets redacted."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        """The redacted line (``context`` defaults to empty without a ContextFilter)."""
        if not hasattr(record, "context"):
            record.context = ""
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line, secrets redacted from the message and the traceback.

    Keys: ``ts`` (ISO 8601 UTC), ``level``, ``logger``, ``message``, ``session_id`` /
    ``job_id`` when set, ``exc_info`` (the traceback as text) when present.
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        entry: dict[str, object] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        session_id = getattr(record, "session_id", None)
        job_id = getattr(record, "job_id", None)
        if session_id is not None:
            entry["session_id"] = session_id
        if job_id is not None:
            entry["job_id"] = job_id
        if record.exc_info:
            entry["exc_info"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exc_info"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack_info"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False)


def make_handler(fmt: LogFormat, stream: IO[str] | None = None) -> logging.Handler:
    """A stream handler (stderr by default) with the context filter and the formatter."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    return handler


def configure(level: str, fmt: LogFormat = "text", stream: IO[str] | None = None) -> None:
    """Configure the root logger: ``level`` (``info``, …) and one handler in ``fmt``.

    Replaces handlers installed earlier (by a previous call or ``basicConfig``), so
    calling it again (a child process, a test) does not duplicate lines.
    """
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(make_handler(fmt, stream))
    root.setLevel(level.upper())
