"""Stored audio and signed, expiring URLs to it.

Uploads are streamed to a temporary file while hashed (SHA-256) and counted, then moved to
``<data_dir>/audio/<sha256[:2]>/<sha256>``: content-addressed, so identical uploads share
one file and a stored file is never rewritten. For scale-out, every voxgate process that
serves or works on jobs must see the same data directory (a shared volume).

Audio URLs in responses are capabilities: ``/files/jobs/<id>/audio?expires=…&signature=…``,
where ``signature`` is the HMAC-SHA256 of the path, a scope and ``expires`` (joined by
newlines). The API's scope is the job's owner (key id) and its audio's SHA-256, so a URL
opens that one recording of that one key and nothing else, even if job ids were ever
reused (a new database beside the same data directory). They work without an API key
until ``expires`` (Unix seconds). The secret is 32 random
bytes created once per installation in ``<data_dir>/url-signing.key`` (mode 0600);
deleting it revokes every URL.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlencode

SECRET_FILE = "url-signing.key"
_HEX = frozenset("0123456789abcdef")


class UploadTooLarge(Exception):
    """The upload passed the size limit; the partial file was removed."""


@dataclass(frozen=True, slots=True)
class StoredAudio:
    """An upload, stored.

    Attributes:
        key: Storage name (the hex SHA-256).
        sha256: Hex SHA-256 of the bytes.
        size: Bytes.
    """

    key: str
    sha256: str
    size: int


class Upload:
    """An upload being received: write chunks, then :meth:`finish` (or :meth:`discard`).

    Blocking file I/O: call from a worker thread. Not thread-safe (one writer).

    Args:
        storage: Where the file ends up.
        limit: Most bytes accepted; :meth:`write` raises :class:`UploadTooLarge` past it.
    """

    def __init__(self, storage: AudioStorage, limit: int) -> None:
        self._storage = storage
        self._limit = limit
        self._hash = hashlib.sha256()
        self.size = 0
        storage.tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=storage.tmp_dir, prefix="upload-")
        self._path = Path(name)
        self._file: BinaryIO | None = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        """Append bytes.

        Raises:
            UploadTooLarge: the total passed the limit (the partial file is removed).
        """
        if self._file is None:
            raise ValueError("upload already finished")
        self.size += len(data)
        if self.size > self._limit:
            self.discard()
            raise UploadTooLarge(f"upload is larger than {self._limit} bytes")
        self._hash.update(data)
        self._file.write(data)

    def finish(self) -> StoredAudio:
        """Close, fsync and move the file into place; return what was stored."""
        if self._file is None:
            raise ValueError("upload already finished")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        digest = self._hash.hexdigest()
        target = self._storage.path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            self._path.unlink(missing_ok=True)  # same content already stored
        else:
            self._path.replace(target)
        return StoredAudio(digest, digest, self.size)

    def keep_temporary(self) -> Path:
        """Close the file and return its temporary path, for one-off use.

        The file is not stored: the caller must call :meth:`discard` when done with it.
        """
        if self._file is not None:
            self._file.close()
            self._file = None
        return self._path

    def discard(self) -> None:
        """Close and remove the partial file (idempotent).

        Also after a failed write or on a full disk, where closing fails too: the file is
        removed all the same.
        """
        file, self._file = self._file, None
        try:
            if file is not None:
                with contextlib.suppress(OSError):  # close() flushes, which fails again
                    file.close()
        finally:
            self._path.unlink(missing_ok=True)


class AudioStorage:
    """Content-addressed audio files under ``root``.

    Args:
        root: The directory (``<data_dir>/audio``); created on first upload.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_dir = root / "tmp"

    def path(self, key: str) -> Path:
        """Where the file with storage name ``key`` lives.

        Raises:
            ValueError: ``key`` is not a hex SHA-256 (never a path from outside).
        """
        if len(key) != 64 or not set(key) <= _HEX:
            raise ValueError("invalid audio key")
        return self.root / key[:2] / key

    def upload(self, limit: int) -> Upload:
        """Start receiving an upload of at most ``limit`` bytes."""
        return Upload(self, limit)

    @contextlib.contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        """Open a stored file for reading."""
        with self.path(key).open("rb") as f:
            yield f

    def store_bytes(self, data: bytes) -> StoredAudio:
        """Store bytes in one call (tests, tools)."""
        upload = self.upload(len(data))
        upload.write(data)
        return upload.finish()


def load_secret(data_dir: Path) -> bytes:
    """The installation's URL-signing secret, created on first use (mode 0600).

    Safe when several processes start together: creation is exclusive, and a process that
    loses the race reads the winner's secret.
    """
    path = data_dir / SECRET_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
            f.flush()
            os.fsync(f.fileno())
    for _ in range(100):  # a racing creator may not have written yet
        text = path.read_text().strip()
        if len(text) == 64:
            return bytes.fromhex(text)
    raise OSError(f"{path} does not hold a 32-byte hex secret")


class UrlSigner:
    """Signs and checks expiring URLs.

    Args:
        secret: The HMAC key.
    """

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def signature(self, path: str, expires: int, scope: str = "") -> str:
        """Hex HMAC-SHA256 of ``path``, ``scope`` and ``expires``."""
        message = f"{path}\n{scope}\n{expires}".encode("utf-8", "surrogatepass")
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def sign(self, base_url: str, path: str, *, now: float, ttl_s: int, scope: str = "") -> str:
        """An absolute URL to ``path`` valid until ``now + ttl_s``.

        Args:
            base_url: Scheme and host (``https://voxgate.example.com``), no trailing slash.
            path: The route path, starting with ``/``.
            now: Current Unix time.
            ttl_s: Lifetime in seconds.
            scope: What else the URL is bound to (not in the URL: the verifier must
                supply the same scope, e.g. from the job it names).
        """
        expires = int(now) + ttl_s
        signature = self.signature(path, expires, scope)
        query = urlencode({"expires": expires, "signature": signature})
        return f"{base_url}{path}?{query}"

    def verify(
        self, path: str, expires: str, signature: str, *, now: float, scope: str = ""
    ) -> bool:
        """True when ``signature`` is this signer's for ``path`` and ``scope``, unexpired.

        Constant-time comparison; a malformed ``expires`` or ``signature`` is simply False.
        """
        when = parse_expires(expires)
        if when is None:
            return False
        expected = self.signature(path, when, scope)
        presented = signature.encode("utf-8", "replace")  # any text: compared as bytes
        return hmac.compare_digest(expected.encode(), presented) and now <= when


def parse_expires(expires: str) -> int | None:
    """A signed URL's ``expires`` as Unix seconds; None unless 1 to 12 ASCII digits."""
    if not (expires.isascii() and expires.isdigit()) or len(expires) > 12:
        return None
    return int(expires)


def audio_path(job_id: int) -> str:
    """The route path of a job's original audio."""
    return f"/files/jobs/{job_id}/audio"
