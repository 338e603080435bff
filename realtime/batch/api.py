"""The Fluxions batch REST API on aiohttp: ``/submit``, ``/transcriptions``, signed audio.

The routes live here; reading requests is :mod:`realtime.batch.request_parsing`, the bodies
they answer with are :mod:`realtime.batch.responses`, and the state they share is keyed in
:mod:`realtime.batch.app_keys`.

Every blocking call (database, file writes) runs off the event loop; the pipeline runs in
the workers (:mod:`realtime.batch.worker`). :func:`setup` registers the routes and a
cleanup context that opens the store and, after the engines are loaded, starts
``settings.batch_workers`` in-process workers.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import mimetypes
import time
from collections.abc import AsyncIterator

from aiohttp import web

from realtime.auth.middleware import API_KEY
from realtime.batch.app_keys import (
    AUDIO_STORAGE,
    BATCH_WORKERS,
    JOB_STORE,
    JOB_WATCH,
    URL_SIGNER,
)
from realtime.batch.backends import open_store
from realtime.batch.files import AudioStorage, StoredAudio, UrlSigner, load_secret, parse_expires
from realtime.batch.request_parsing import (
    BadRequest,
    clean_filename,
    query_bool,
    query_float,
    query_int,
    receive_upload,
)
from realtime.batch.responses import (
    audio_scope,
    content_disposition,
    job_body,
    list_item,
    signed_audio_url,
    submit_body,
)
from realtime.batch.store import MAX_PAGE, Job, JobStatus, JobStore, NewJob
from realtime.batch.watch import RECHECK_S, JobWatch
from realtime.batch.worker import BatchWorkers, worker_options
from realtime.server.app_keys import ENGINES, INFERENCE, SETTINGS
from realtime.server.errors import json_error
from realtime.server.metrics import METRICS
from realtime.server.settings import Settings

MAX_WAIT_S = 60.0
"""Longest a ``GET /transcriptions/{id}?wait=`` request is held."""

NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
"""``OSError.errno`` values that mean the data directory is full."""


def options_key(settings: Settings, *, non_speech: bool) -> str:
    """Everything besides the audio that changes a job's result (the cache key's other half)."""
    return (
        f"v2;non_speech={int(non_speech)};asr={settings.asr_final_model};"
        f"beam={settings.asr_beam_size}"
    )


def insufficient_storage() -> web.Response:
    """HTTP 507 for an upload the data directory has no room for (nothing was stored)."""
    logging.getLogger(__name__).error("no space left in the data directory for an upload")
    return json_error(
        507,
        "The server has no room to store this upload. Try again later.",
        code="insufficient_storage",
        type_="server_error",
    )


def _job_id(request: web.Request) -> int | None:
    raw = request.match_info["job_id"]
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None


def _not_found() -> web.Response:
    return json_error(404, "No such transcription.", code="not_found")


# --- POST /submit ----------------------------------------------------------------------------


async def submit(request: web.Request) -> web.Response:
    """``POST /submit``: store the audio, queue a job (or answer from the cache)."""
    try:
        non_speech = query_bool(request, "non_speech", False)
        use_cache = query_bool(request, "cache", True)
        filename = request.query.get("filename", "").strip()
        stored = await _store_upload(request)
    except BadRequest as exc:
        return json_error(exc.status, str(exc), param=exc.param)
    if stored is None:
        return insufficient_storage()
    audio, part_name = stored
    new = NewJob(
        owner=request[API_KEY].id,
        filename=clean_filename(filename or part_name),
        audio_key=audio.key,
        audio_sha256=audio.sha256,
        audio_bytes=audio.size,
        non_speech=non_speech,
        options_key=options_key(request.app[SETTINGS], non_speech=non_speech),
    )
    now = time.time()
    job = await _queue_job(request.app, new, use_cache=use_cache, now=now)
    return web.json_response(submit_body(request, job, now=now))


async def _store_upload(request: web.Request) -> tuple[StoredAudio, str | None] | None:
    """Receive the request's audio and store it for good.

    Returns:
        The stored audio and the multipart filename, if one came; None when the data
        directory is full (nothing is left behind).

    Raises:
        BadRequest: see :func:`~realtime.batch.request_parsing.receive_upload`.
        OSError: a storage failure other than a full data directory.
    """
    try:
        upload, part_name = await receive_upload(request, request.app[AUDIO_STORAGE])
    except OSError as exc:  # the partial file is already gone (receive_upload discards it)
        if exc.errno not in NO_SPACE:
            raise
        return None
    try:
        stored: StoredAudio = await asyncio.to_thread(upload.finish)
    except OSError as exc:  # e.g. fsync on a full disk: no job, no partial file
        await asyncio.to_thread(upload.discard)
        if exc.errno not in NO_SPACE:
            raise
        return None
    return stored, part_name


async def _queue_job(app: web.Application, new: NewJob, *, use_cache: bool, now: float) -> Job:
    """Create the job for ``new``: from the cache when allowed, else queued.

    With ``use_cache``, a completed job of the same owner, audio and options is copied;
    otherwise the job is queued and the in-process workers are woken.
    """
    store = app[JOB_STORE]
    source = None
    if use_cache:
        source = await asyncio.to_thread(
            store.find_cached, new.owner, new.audio_sha256, new.options_key
        )
    if source is not None:
        return await asyncio.to_thread(store.submit_cached, new, source, now=now)
    job = await asyncio.to_thread(store.submit, new, now=now)
    if BATCH_WORKERS in app:
        app[BATCH_WORKERS].wake()
    return job


# --- GET /transcriptions ---------------------------------------------------------------------


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
    job = await asyncio.to_thread(request.app[JOB_STORE].get, job_id, owner=request[API_KEY].id)
    if job is None:
        return _not_found()
    job = await _wait_for_change(request, job, wait_s)
    url = signed_audio_url(request, job, now=time.time())
    return web.json_response(job_body(job, audio_url=url, words=words))


async def _wait_for_change(request: web.Request, job: Job, wait_s: float) -> Job:
    """The job once its status or progress changes, or as it is after ``wait_s`` seconds.

    Returns at once for a job that is neither submitted nor processing.
    """
    store, owner = request.app[JOB_STORE], request[API_KEY].id
    deadline = time.monotonic() + wait_s
    first = (job.status, job.progress)
    while (job.status, job.progress) == first and job.status in (
        JobStatus.SUBMITTED,
        JobStatus.PROCESSING,
    ):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        await request.app[JOB_WATCH].wait(job.id, min(left, RECHECK_S))
        latest = await asyncio.to_thread(store.get, job.id, owner=owner)
        job = latest or job
    return job


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


# --- GET /files/jobs/{id}/audio --------------------------------------------------------------


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


# --- wiring ----------------------------------------------------------------------------------


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
