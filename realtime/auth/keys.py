"""API keys, stored hashed in the SQLite database; verified in constant time.

A key looks like ``vg_<id>_<secret>``: ``id`` (8 hex digits) is public and names the key in
listings; ``secret`` is 256 random bits. Only ``sha256(key)`` is stored. A fast hash is
the right tool here: with 256 bits of entropy there is nothing to brute-force, and
verification stays cheap on every request. The plaintext is shown once, at creation.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PREFIX = "vg_"
_DUMMY_HASH = hashlib.sha256(b"voxgate-no-such-key").hexdigest()

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    hash        TEXT NOT NULL,
    created_at  REAL NOT NULL,
    revoked_at  REAL
)
"""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key (never its plaintext).

    Attributes:
        id: Public identifier (the 8 hex digits after ``vg_``).
        name: Label given at creation.
        created_at: Unix time of creation.
        revoked_at: Unix time of revocation, or None while active.
    """

    id: str
    name: str
    created_at: float
    revoked_at: float | None

    @property
    def active(self) -> bool:
        """True until revoked."""
        return self.revoked_at is None


def secret_digest(key: str) -> str:
    """SHA-256 hex of a high-entropy secret (API keys, client secrets): what is stored."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _key_id(key: str) -> str | None:
    """The id part of a well-formed key, else None."""
    if not key.startswith(PREFIX):
        return None
    kid, sep, secret = key[len(PREFIX) :].partition("_")
    if not sep or len(kid) != 8 or not secret:
        return None
    return kid


class KeyStore:
    """API keys in the ``api_keys`` table of a SQLite database.

    Each call opens its own short-lived connection, so one store may be used from any
    thread, and from several processes (the CLI while the server runs). Calls block: the
    server runs them off the event loop.
    """

    def __init__(self, database: Path) -> None:
        self._path = database
        database.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(_SCHEMA)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self._path, timeout=10)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            with db:  # commit on success, roll back on error
                yield db
        finally:
            db.close()

    def create(self, name: str = "default") -> tuple[ApiKey, str]:
        """Create a key. Returns the record and the plaintext key (shown to the user once)."""
        with self._connect() as db:
            while True:
                kid = secrets.token_hex(4)
                if db.execute("SELECT 1 FROM api_keys WHERE id = ?", (kid,)).fetchone() is None:
                    break
            plaintext = f"{PREFIX}{kid}_{secrets.token_urlsafe(32)}"
            record = ApiKey(kid, name, time.time(), None)
            db.execute(
                "INSERT INTO api_keys (id, name, hash, created_at) VALUES (?, ?, ?, ?)",
                (kid, name, secret_digest(plaintext), record.created_at),
            )
        return record, plaintext

    def list(self) -> list[ApiKey]:
        """Every key, oldest first, revoked ones included."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, name, created_at, revoked_at FROM api_keys ORDER BY created_at"
            ).fetchall()
        return [ApiKey(*row) for row in rows]

    def revoke(self, key_id: str) -> bool:
        """Revoke a key by id (or by the full key). Returns False if no active key matched."""
        kid = _key_id(key_id) or key_id
        with self._connect() as db:
            cursor = db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (time.time(), kid),
            )
        return cursor.rowcount == 1

    def has_active(self) -> bool:
        """True when at least one key is not revoked."""
        with self._connect() as db:
            row = db.execute("SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1").fetchone()
        return row is not None

    def verify(self, presented: str) -> ApiKey | None:
        """Return the active key matching ``presented``, else None.

        The hash comparison is constant-time, and a malformed or unknown key costs the same
        comparison, so timing reveals nothing about stored keys.
        """
        kid = _key_id(presented)
        row = None
        if kid is not None:
            with self._connect() as db:
                row = db.execute(
                    "SELECT id, name, created_at, revoked_at, hash FROM api_keys WHERE id = ?",
                    (kid,),
                ).fetchone()
        stored = row[4] if row is not None else _DUMMY_HASH
        matches = hmac.compare_digest(stored, secret_digest(presented))
        if row is None or not matches or row[3] is not None:
            return None
        return ApiKey(*row[:4])
