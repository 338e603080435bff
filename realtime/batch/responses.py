"""The JSON bodies and links the batch routes answer with.

Shapes follow ``fluxions-api.md`` field by field. Extensions, all additive: ``progress``
(0 to 1) on a job, ``error_message`` on a failed job, and ``/files/…`` signed audio URLs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from realtime.batch.app_keys import URL_SIGNER
from realtime.batch.files import audio_path
from realtime.batch.request_parsing import DEFAULT_FILENAME
from realtime.batch.store import Job, JobStatus
from realtime.server.app_keys import SETTINGS


def iso_time(ts: float) -> str:
    """Unix seconds as the reference's timestamps: ``2025-10-24T10:35:00.000Z``."""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def base_url(request: web.Request) -> str:
    """Scheme and host for generated links: ``settings.public_url`` or the request's."""
    configured = request.app[SETTINGS].public_url
    return configured or str(request.url.origin())


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


def content_disposition(filename: str) -> str:
    """``inline`` with the name: an ASCII ``filename`` and the exact UTF-8 ``filename*``."""
    ascii_name = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename
    )
    exact = quote(filename.encode("utf-8", "replace"), safe="")
    return f"inline; filename=\"{ascii_name or DEFAULT_FILENAME}\"; filename*=UTF-8''{exact}"


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
