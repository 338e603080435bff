"""Choosing the job store: the backend the settings name, opened."""

from __future__ import annotations

from pathlib import Path

from realtime.batch.store import JobStore
from realtime.batch.store_postgres import PostgresJobStore
from realtime.batch.store_sqlite import SQLiteJobStore
from realtime.server.errors import ConfigurationError
from realtime.server.settings import Settings


def open_store(settings: Settings) -> JobStore:
    """Open the store ``settings`` name.

    PostgreSQL for a ``postgres(ql)://`` database URL, a SQLite file for ``sqlite:///PATH``,
    else SQLite in the data directory.

    Raises:
        ConfigurationError: an unsupported database URL, or PostgreSQL unreachable.
    """
    url = settings.database_url
    if not url:
        return SQLiteJobStore(settings.database_path)
    if url.startswith(("postgres://", "postgresql://")):
        return PostgresJobStore(url)
    if url.startswith("sqlite:///"):
        return SQLiteJobStore(Path(url.removeprefix("sqlite:///")))
    raise ConfigurationError(
        "database_url must start with postgresql:// (or sqlite:///PATH); leave it unset for "
        "SQLite in the data directory"
    )
