"""The Fluxions batch REST API on aiohttp: ``/submit``, ``/transcriptions``, signed audio.

Shapes follow ``fluxions-api.md`` field by field. Extensions, all additive: ``progress``
(0 to 1) on a job, ``error_message`` on a failed job, and ``/files/…`` signed audio URLs.

Every blocking call (database, file writes) runs off the event loop; the pipeline runs in
the workers (:mod:`realtime.batch.worker`). :func:`setup` registers the routes and a
cleanup context that opens the store and, after the engines are loaded, starts
``settings.batch_workers`` in-process workers.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import math
import mimetypes
import time
import unicodedata
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from realtime.auth.middleware import API_KEY
from realtime.batch.backends import open_store
from realtime.batch.files import (
    AudioStorage,
    StoredAudio,
    Upload,
    UploadTooLarge,
    UrlSigner,
    audio_path,
    load_secret,
    parse_expires,
)
from realtime.batch.store import MAX_PAGE, Job, JobStatus, JobStore, NewJob
from realtime.batch.watch import RECHECK_S, JobWatch
from realtime.batch.worker import BatchWorkers, worker_options
from realtime.server.app_keys import ENGINES, INFERENCE, SETTINGS
from realtime.server.errors import json_error
from realtime.server.metrics import METRICS
from realtime.server.settings import Settings

JOB_STORE = web.AppKey("job_store", JobStore)
AUDIO_STORAGE = web.AppKey("audio_storage", AudioStorage)
URL_SIGNER = web.AppKey("url_signer", UrlSigner)
BATCH_WORKERS = web.AppKey("batch_workers", BatchWorkers)
JOB_WATCH = web.AppKey("job_watch", JobWatch)
MAX_WAIT_S = 60.0
"""Longest a ``GET /transcriptions/{id}?wait=`` request is held."""

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


# --- small helpers ------------------------------------------------------------------------


def iso_time(ts: float) -> str:
    """Unix seconds as the reference's timestamps: ``2025-10-24T10:35:00.000Z``."""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


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


def base_url(request: web.Request) -> str:
    """Scheme and host for generated links: ``settings.public_url`` or the request's."""
    configured = request.app[SETTINGS].public_url
    return configured or str(request.url.origin())


def options_key(settings: Settings, *, non_speech: bool) -> str:
    """Everything besides the audio that changes a job's result (the cache key's other half)."""
    return (
        f"v2;non_speech={int(non_speech)};asr={settings.asr_final_model};"
        f"beam={settings.asr_beam_size}"
    )


def audio_scope(job: Job) -> str:
    """What a job's audio URL is bound to besides its path: the owner and the audio's hash."""
    return f"{job.owner}:{job.audio_sha256}"


def signed_audio_url(request: web.Request, job: Job, *, now: float) -> str:
    """A signed, expiring URL to the job's original audio (bound to its owner and audio)."""
    settings = request.app[SETTINGS]
    return request.app[URL_SIGNER].sign(
        base_url(request),
        audio_path(job.id),
        now=now,
        ttl_s=settings.signed_url_ttl_s,
        scope=audio_scope(job),
    )


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


def content_disposition(filename: str) -> str:
    """``inline`` with the name: an ASCII ``filename`` and the exact UTF-8 ``filename*``."""
    ascii_name = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename
    )
    exact = quote(filename.encode("utf-8", "replace"), safe="")
    return f"inline; filename=\"{ascii_name or DEFAULT_FILENAME}\"; filename*=UTF-8''{exact}"


def _job_id(request: web.Request) -> int | None:
    raw = request.match_info["job_id"]
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None


def _not_found() -> web.Response:
    return json_error(404, "No such transcription.", code="not_found")


# --- bodies ------------------------------------------------------------------------------


def job_body(job: Job, *, audio_url: str, words: bool) -> dict[str, Any]:
    """The ``GET /transcriptions/{id}`` body.

    Result fields are null until the job completes; ``segments`` carry ``words`` only when
    ``words`` is set.
    """
    detail = job.detail or {}
    segments = detail.get("segments")
    if segments is not None and not words:
        segments = [{k: v for k, v in s.items() if k != "words"} for s in segments]
    body: dict[str, Any] = {
        "id": job.id,
        "status": job.status.value,
        "created_at": iso_time(job.created_at),
        "updated_at": iso_time(job.updated_at),
        "filename": job.filename,
        "audio_duration": job.audio_duration,
        "audio_format": job.audio_format,
        "processing_time": job.processing_time,
        "language": job.language,
        "non_speech": job.non_speech,
        "num_chunks": detail.get("num_chunks"),
        "num_segments": job.num_segments,
        "num_speakers": job.num_speakers,
        "text": detail.get("text"),
        "segments": segments,
        "audio_url": audio_url,
        "cached": job.cached,
        "progress": round(job.progress, 4),
    }
    if job.status is JobStatus.FAILED:
        body["error_message"] = job.error_message
    return body


def list_item(job: Job, *, original_audio_url: str) -> dict[str, Any]:
    """One entry of ``GET /transcriptions``."""
    return {
        "id": job.id,
        "status": job.status.value,
        "created_at": iso_time(job.created_at),
        "filename": job.filename,
        "audio_duration": job.audio_duration,
        "audio_format": job.audio_format,
        "processing_time": job.processing_time,
        "num_speakers": job.num_speakers,
        "num_segments": job.num_segments,
        "original_audio_url": original_audio_url,
        "language": job.language,
    }


def submit_body(request: web.Request, job: Job, *, now: float) -> dict[str, Any]:
    """The ``POST /submit`` body."""
    url = f"{base_url(request)}/transcriptions/{job.id}"
    return {
        "id": job.id,
        "status": job.status.value,
        "created_at": iso_time(job.created_at),
        "original_audio_url": signed_audio_url(request, job, now=now),
        "query_urls": {"get": url, "status": url},
        "cached": job.cached,
    }


# --- uploads -----------------------------------------------------------------------------


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
        filename = None
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            async for part in reader:
                if isinstance(part, BodyPartReader) and part.name == "file":
                    filename = part.filename
                    await _copy(_part_chunks(part), upload)
                    break
            else:
                raise BadRequest("multipart body has no 'file' field", param="file")
        else:
            await _copy(request.content.iter_chunked(1 << 16), upload)
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


# --- handlers ----------------------------------------------------------------------------

NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
"""``OSError.errno`` values that mean the data directory is full."""


def insufficient_storage() -> web.Response:
    """HTTP 507 for an upload the data directory has no room for (nothing was stored)."""
    logging.getLogger(__name__).error("no space left in the data directory for an upload")
    return json_error(
        507,
        "The server has no room to store this upload. Try again later.",
        code="insufficient_storage",
        type_="server_error",
    )


async def submit(request: web.Request) -> web.Response:
    """``POST /submit``: store the audio, queue a job (or answer from the cache)."""
    app = request.app
    settings, store = app[SETTINGS], app[JOB_STORE]
    try:
        non_speech = query_bool(request, "non_speech", False)
        use_cache = query_bool(request, "cache", True)
        filename = request.query.get("filename", "").strip()
        upload, part_name = await receive_upload(request, app[AUDIO_STORAGE])
    except BadRequest as exc:
        return json_error(exc.status, str(exc), param=exc.param)
    except OSError as exc:  # the partial file is already gone (receive_upload discards it)
        if exc.errno not in NO_SPACE:
            raise
        return insufficient_storage()
    try:
        stored: StoredAudio = await asyncio.to_thread(upload.finish)
    except OSError as exc:  # e.g. fsync on a full disk: no job, no partial file
        await asyncio.to_thread(upload.discard)
        if exc.errno not in NO_SPACE:
            raise
        return insufficient_storage()
    new = NewJob(
        owner=request[API_KEY].id,
        filename=clean_filename(filename or part_name),
        audio_key=stored.key,
        audio_sha256=stored.sha256,
        audio_bytes=stored.size,
        non_speech=non_speech,
        options_key=options_key(settings, non_speech=non_speech),
    )
    now = time.time()
    source = None
    if use_cache:
        source = await asyncio.to_thread(
            store.find_cached, new.owner, new.audio_sha256, new.options_key
        )
    if source is not None:
        job = await asyncio.to_thread(store.submit_cached, new, source, now=now)
    else:
        job = await asyncio.to_thread(store.submit, new, now=now)
        if BATCH_WORKERS in app:
            app[BATCH_WORKERS].wake()
    return web.json_response(submit_body(request, job, now=now))


async def get_transcription(request: web.Request) -> web.Response:
    """``GET /transcriptions/{id}``: status and, once completed, the results.

    Extension: ``wait=N`` (seconds, at most 60) holds the request until the job changes
    (status or progress) or ``N`` seconds pass, so clients need not poll in a loop; without
    it the answer is immediate, as in the reference.
    """
    try:
        words = query_bool(request, "word_level_timestamps", False)
        wait_s = min(query_float(request, "wait", 0.0, minimum=0.0), MAX_WAIT_S)
    except BadRequest as exc:
        return json_error(exc.status, str(exc), param=exc.param)
    job_id = _job_id(request)
    if job_id is None:
        return _not_found()
    store, owner = request.app[JOB_STORE], request[API_KEY].id
    job = await asyncio.to_thread(store.get, job_id, owner=owner)
    if job is None:
        return _not_found()
    deadline = time.monotonic() + wait_s
    first = (job.status, job.progress)
    while (job.status, job.progress) == first and job.status in (
        JobStatus.SUBMITTED,
        JobStatus.PROCESSING,
    ):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        await request.app[JOB_WATCH].wait(job_id, min(left, RECHECK_S))
        job = await asyncio.to_thread(store.get, job_id, owner=owner) or job
    url = signed_audio_url(request, job, now=time.time())
    return web.json_response(job_body(job, audio_url=url, words=words))


async def list_transcriptions(request: web.Request) -> web.Response:
    """``GET /transcriptions``: the key's jobs, newest first (``limit`` capped at 100)."""
    try:
        limit = min(query_int(request, "limit", 50, minimum=1), MAX_PAGE)
        offset = query_int(request, "offset", 0, minimum=0)
    except BadRequest as exc:
        return json_error(exc.status, str(exc), param=exc.param)
    total, jobs = await asyncio.to_thread(
        request.app[JOB_STORE].list, request[API_KEY].id, limit=limit, offset=offset
    )
    now = time.time()
    items = [list_item(j, original_audio_url=signed_audio_url(request, j, now=now)) for j in jobs]
    return web.json_response(
        {"total": total, "limit": limit, "offset": offset, "transcriptions": items}
    )


async def job_audio(request: web.Request) -> web.StreamResponse:
    """``GET /files/jobs/{id}/audio``: the original upload, for a valid signed URL (no key).

    403 for anything but an unexpired signature of this path, this job's owner and its
    audio (an unknown job too: unauthenticated callers learn nothing about which exist).
    """
    job_id = _job_id(request)
    expires = request.query.get("expires", "")
    signature = request.query.get("signature", "")
    signer, now = request.app[URL_SIGNER], time.time()
    job = None
    when = parse_expires(expires)
    if job_id is not None and when is not None and now <= when:  # else no database read
        job = await asyncio.to_thread(request.app[JOB_STORE].get, job_id, owner=None)
    if job is None or not signer.verify(
        request.path, expires, signature, now=now, scope=audio_scope(job)
    ):
        return json_error(
            403,
            "Invalid or expired signed URL.",
            code="invalid_signature",
            type_="permission_error",
        )
    path = request.app[AUDIO_STORAGE].path(job.audio_key)
    if not await asyncio.to_thread(path.is_file):
        return json_error(404, "The audio file is no longer stored.", code="not_found")
    kind = mimetypes.guess_type(job.filename)[0] or "application/octet-stream"
    return web.FileResponse(
        path,
        headers={
            "Content-Type": kind,
            "Content-Disposition": content_disposition(job.filename),
            "Cache-Control": "private, max-age=300",
        },
    )


# --- wiring ------------------------------------------------------------------------------


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


def setup(app: web.Application, *, store: JobStore | None = None) -> None:
    """Register the batch routes and the store/worker lifespan on ``app``.

    Must be called after the inference lifespan is registered, so the workers start once the
    engines are loaded and stop before the inference pool shuts down.

    Args:
        app: The application (``SETTINGS`` set).
        store: A job store to use instead of the one settings name (tests).
    """
    settings = app[SETTINGS]
    if store is not None:
        app[JOB_STORE] = store
    app[AUDIO_STORAGE] = AudioStorage(settings.data_dir / "audio")
    app[JOB_WATCH] = JobWatch()
    app.router.add_post("/submit", submit)
    app.router.add_get("/transcriptions", list_transcriptions)
    app.router.add_get("/transcriptions/{job_id}", get_transcription)
    app.router.add_get("/files/jobs/{job_id}/audio", job_audio)
    app.cleanup_ctx.append(_batch_lifespan)


async def _batch_lifespan(app: web.Application) -> AsyncIterator[None]:
    """Open the store and the signer; run the in-process workers; close everything."""
    settings = app[SETTINGS]
    owned = JOB_STORE not in app
    if owned:
        app[JOB_STORE] = await asyncio.to_thread(open_store, settings)
    app[URL_SIGNER] = UrlSigner(await asyncio.to_thread(load_secret, settings.data_dir))
    workers = None
    if settings.batch_workers > 0:
        workers = BatchWorkers(
            app[JOB_STORE],
            app[AUDIO_STORAGE],
            app[ENGINES],
            app[INFERENCE],
            worker_options(settings),
            on_change=app[JOB_WATCH].changed,
            metrics=app.get(METRICS),
        )
        app[BATCH_WORKERS] = workers
        workers.start()
    try:
        yield
    finally:
        if workers is not None:
            await workers.stop()
        if owned:
            await asyncio.to_thread(app[JOB_STORE].close)
