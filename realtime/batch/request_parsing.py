"""Reading the batch routes' requests: validated query parameters and the uploaded audio.

Every client mistake raises :class:`BadRequest`, whose message is shown to the client.
Uploads are streamed to disk off the event loop (:func:`receive_upload`); client-supplied
filenames are cleaned into metadata that never reaches a file path (:func:`clean_filename`).
"""

from __future__ import annotations

import asyncio
import math
import unicodedata
from collections.abc import AsyncIterator

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from realtime.batch.files import AudioStorage, Upload, UploadTooLarge
from realtime.server.app_keys import SETTINGS

MAX_QUERY_INT = 1_000_000_000
"""Largest integer query parameter accepted (``offset``; ``limit`` is capped lower)."""
DEFAULT_FILENAME = "audio"
WRITE_BATCH = 1 << 20
"""Upload bytes gathered before each (threaded) file write."""


class BadRequest(Exception):
    """A client mistake; the message is shown to the client."""

    def __init__(self, message: str, *, param: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.param = param
        self.status = status


# --- query parameters ----------------------------------------------------------------------


def query_bool(request: web.Request, name: str, default: bool) -> bool:
    """A boolean query parameter (true/false, 1/0, yes/no, on/off).

    Raises:
        BadRequest: any other value.
    """
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"true", "1", "yes", "on"}:
        return True
    if value in {"false", "0", "no", "off"}:
        return False
    raise BadRequest(f"{name} must be true or false, got {raw!r}", param=name)


def query_int(
    request: web.Request, name: str, default: int, *, minimum: int, maximum: int = MAX_QUERY_INT
) -> int:
    """An integer query parameter in [``minimum``, ``maximum``].

    Raises:
        BadRequest: not an integer, or out of range (a database cannot hold it either).
    """
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {raw!r}", param=name) from None
    if value < minimum:
        raise BadRequest(f"{name} must be at least {minimum}", param=name)
    if value > maximum:
        raise BadRequest(f"{name} must be at most {maximum}", param=name)
    return value


def query_float(request: web.Request, name: str, default: float, *, minimum: float) -> float:
    """A finite number query parameter of at least ``minimum``.

    Raises:
        BadRequest: not a finite number, or below ``minimum``.
    """
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a number, got {raw!r}", param=name) from None
    if not math.isfinite(value) or value < minimum:
        raise BadRequest(f"{name} must be a number of at least {minimum:g}", param=name)
    return value


# --- the upload ----------------------------------------------------------------------------


def clean_filename(raw: str | None) -> str:
    r"""A client-supplied filename made safe to store and show: never a path.

    Only the last path component is kept (``../../etc/passwd`` → ``passwd``; both ``/``
    and ``\\`` separate), control characters (NUL included) are dropped, text that is not
    valid Unicode is replaced, and the result is cut to 255 characters. Empty, ``.`` or
    ``..`` becomes :data:`DEFAULT_FILENAME`. The name is metadata only: stored audio is
    named by its SHA-256, so no client text ever reaches a file path.
    """
    text = (raw or "").encode("utf-8", "replace").decode("utf-8")  # lone surrogates → ?
    text = "".join(c for c in text if unicodedata.category(c) != "Cc")
    name = text.replace("\\", "/").rsplit("/", 1)[-1].strip()[:255]
    return DEFAULT_FILENAME if name in ("", ".", "..") else name


async def receive_upload(request: web.Request, storage: AudioStorage) -> tuple[Upload, str | None]:
    """Stream the request's audio into a new upload (raw body, or multipart field ``file``).

    Returns:
        The upload (written, not finished: the caller finishes or discards it) and the
        multipart filename, if one came.

    Raises:
        BadRequest: 413 over the size limit; 400 for an empty body, a malformed multipart
            body, or one without a ``file`` field.
    """
    limit = request.app[SETTINGS].max_upload_bytes
    if request.content_length is not None and request.content_length > limit:
        raise BadRequest(f"Upload larger than the limit of {limit} bytes.", status=413)
    upload = await asyncio.to_thread(storage.upload, limit)
    try:
        filename = await _write_body(request, upload)
        if upload.size == 0:
            raise BadRequest("The request body is empty: send the audio file's bytes.")
    except UploadTooLarge:
        raise BadRequest(f"Upload larger than the limit of {limit} bytes.", status=413) from None
    except (HttpProcessingError, ValueError):  # a part header aiohttp refuses (NUL, …)
        await asyncio.to_thread(upload.discard)
        raise BadRequest("Malformed multipart body.", param="file") from None
    except BaseException:
        await asyncio.to_thread(upload.discard)
        raise
    return upload, filename


async def _write_body(request: web.Request, upload: Upload) -> str | None:
    """Write the audio into ``upload``: the raw body, or the multipart field ``file``.

    Returns:
        The multipart part's filename, if one came (None for a raw body).

    Raises:
        BadRequest: a multipart body without a ``file`` field.
    """
    if request.content_type != "multipart/form-data":
        await _copy(request.content.iter_chunked(1 << 16), upload)
        return None
    reader = await request.multipart()
    async for part in reader:
        if isinstance(part, BodyPartReader) and part.name == "file":
            filename = part.filename
            await _copy(_part_chunks(part), upload)
            return filename
    raise BadRequest("multipart body has no 'file' field", param="file")


async def _part_chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(1 << 16):
        yield chunk


async def _copy(chunks: AsyncIterator[bytes], upload: Upload) -> None:
    buffer = bytearray()
    async for chunk in chunks:
        buffer += chunk
        if len(buffer) >= WRITE_BATCH:
            await asyncio.to_thread(upload.write, bytes(buffer))
            buffer.clear()
    if buffer:
        await asyncio.to_thread(upload.write, bytes(buffer))
