"""``POST /v1/audio/transcriptions``, as OpenAI's.

The ``openai`` SDK's ``audio.transcriptions.create`` works with only ``base_url`` changed.
It runs synchronously on the shared inference pool (the batch queue is for long
recordings: ``/submit``). Transcriptions go through the same pipeline as batch jobs
(:mod:`realtime.batch.pipeline`); ``model`` is accepted and ignored (the configured final
model answers). Response formats: ``json``, ``text``, ``srt``, ``vtt``, ``verbose_json``
(with ``words`` when ``timestamp_granularities[]`` includes ``word``). Recordings without
speech give an empty text, as OpenAI's do.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from engines.errors import AudioDecodeError, AudioTooLong, EngineError
from realtime.batch.app_keys import AUDIO_STORAGE
from realtime.batch.assembly import BatchTranscript
from realtime.batch.files import UploadTooLarge
from realtime.batch.pipeline import NoSpeech, PipelineOptions, transcribe_file
from realtime.batch.request_parsing import BadRequest
from realtime.inference.scheduler import Priority
from realtime.server.app_keys import ENGINES, INFERENCE, SETTINGS
from realtime.server.errors import json_error

TRANSCRIPTION_FORMATS = frozenset({"json", "text", "srt", "vtt", "verbose_json"})


# --- transcriptions ------------------------------------------------------------------------


def _timestamp(seconds: float, sep: str) -> str:
    ms = round(seconds * 1000)
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_srt(transcript: BatchTranscript) -> str:
    """SubRip captions, one cue per segment."""
    cues = [
        f"{i}\n{_timestamp(s.start, ',')} --> {_timestamp(s.end, ',')}\n{s.text}\n"
        for i, s in enumerate(transcript.segments, 1)
    ]
    return "\n".join(cues)


def to_vtt(transcript: BatchTranscript) -> str:
    """WebVTT captions, one cue per segment."""
    cues = [
        f"{_timestamp(s.start, '.')} --> {_timestamp(s.end, '.')}\n{s.text}\n"
        for s in transcript.segments
    ]
    return "WEBVTT\n\n" + "\n".join(cues)


def verbose_json(transcript: BatchTranscript, *, words: bool, segments: bool) -> dict[str, Any]:
    """OpenAI's ``verbose_json`` transcription body."""
    body: dict[str, Any] = {
        "task": "transcribe",
        "language": transcript.language or "",
        "duration": round(transcript.duration, 3),
        "text": transcript.plain_text,
    }
    if segments:
        body["segments"] = [
            {
                "id": i,
                "seek": 0,
                "start": round(s.start, 3),
                "end": round(s.end, 3),
                "text": s.text,
                "tokens": [],
                "temperature": 0.0,
                "avg_logprob": 0.0,
                "compression_ratio": 0.0,
                "no_speech_prob": 0.0,
            }
            for i, s in enumerate(transcript.segments)
        ]
    if words:
        body["words"] = [
            {"word": w.text.strip(), "start": round(w.start, 3), "end": round(w.end, 3)}
            for s in transcript.segments
            for w in s.words
        ]
    return body


async def _read_form(request: web.Request) -> tuple[dict[str, list[str]], Any]:
    """Read a multipart form: text fields, and the ``file`` part streamed to a temp file.

    Returns:
        The fields (each name to its values) and the upload holding the file (or None).
    """
    if request.content_type != "multipart/form-data":
        raise BadRequest("send multipart/form-data with a 'file' field", param="file")
    limit = request.app[SETTINGS].max_upload_bytes
    if request.content_length is not None and request.content_length > limit:
        raise BadRequest(f"Upload larger than the limit of {limit} bytes.", status=413)
    fields: dict[str, list[str]] = {}
    upload = None
    try:
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            if part.name == "file" and upload is None:
                upload = await asyncio.to_thread(request.app[AUDIO_STORAGE].upload, limit)
                while chunk := await part.read_chunk(1 << 20):
                    await asyncio.to_thread(upload.write, chunk)
            else:
                value = await part.read(decode=True)
                if len(value) > 65_536:
                    raise BadRequest(f"form field {part.name!r} is too long", param=part.name)
                fields.setdefault(part.name, []).append(value.decode("utf-8", "replace"))
    except UploadTooLarge:
        raise BadRequest(f"Upload larger than the limit of {limit} bytes.", status=413) from None
    except (HttpProcessingError, ValueError):  # a part header aiohttp refuses (NUL, …)
        if upload is not None:
            await asyncio.to_thread(upload.discard)
        raise BadRequest("Malformed multipart body.", param="file") from None
    except BaseException:
        if upload is not None:
            await asyncio.to_thread(upload.discard)
        raise
    return fields, upload


async def create_transcription(request: web.Request) -> web.Response:
    """``POST /v1/audio/transcriptions`` (OpenAI shape)."""
    try:
        fields, upload = await _read_form(request)
    except BadRequest as exc:
        return json_error(exc.status, str(exc), param=exc.param)
    if upload is None:
        return json_error(400, "missing the 'file' field", param="file")
    try:
        if upload.size == 0:
            return json_error(400, "the uploaded file is empty", param="file")

        def first(name: str) -> str | None:
            values = fields.get(name)
            return (values[0] or None) if values else None

        response_format = first("response_format") or "json"
        if response_format not in TRANSCRIPTION_FORMATS:
            return json_error(
                400,
                f"response_format must be one of {', '.join(sorted(TRANSCRIPTION_FORMATS))}",
                param="response_format",
            )
        granularities = set(fields.get("timestamp_granularities[]", [])) | set(
            fields.get("timestamp_granularities", [])
        )
        if not granularities <= {"word", "segment"}:
            return json_error(
                400,
                "timestamp_granularities[] takes word and/or segment",
                param="timestamp_granularities[]",
            )
        language = first("language")
        if language is not None and not (language.isalpha() and 2 <= len(language) <= 3):
            return json_error(400, "language must be an ISO-639-1 code", param="language")
        settings = request.app[SETTINGS]
        options = PipelineOptions(
            language=language.lower() if language else None,
            prompt=first("prompt"),
            word_timestamps="word" in granularities,
            beam_size=settings.asr_beam_size,
            max_audio_s=settings.max_audio_seconds,
        )
        path = await asyncio.to_thread(upload.keep_temporary)
        engines = request.app[ENGINES]
        # file transcription is batch work: each step is a BATCH job of the scheduler,
        # and this request's own thread only waits for them
        steps = partial(request.app[INFERENCE].run, priority=Priority.BATCH)
        try:
            transcript = await asyncio.to_thread(
                lambda: transcribe_file(
                    path, engines.vad, engines.asr, options, label="file", run_step=steps
                )
            )
        except NoSpeech:
            transcript = None
        except AudioTooLong as exc:
            return json_error(413, str(exc), code="audio_too_long", param="file")
        except AudioDecodeError as exc:
            return json_error(400, str(exc), code="invalid_audio", param="file")
        except EngineError as exc:
            return json_error(400, str(exc), code="transcription_failed")
    finally:
        await asyncio.to_thread(upload.discard)
    if transcript is None:
        empty = BatchTranscript(0.0, "", "", options.language, 0, ())
        transcript = empty
    if response_format == "text":
        return web.Response(text=transcript.plain_text + "\n", content_type="text/plain")
    if response_format == "srt":
        return web.Response(text=to_srt(transcript), content_type="text/plain")
    if response_format == "vtt":
        return web.Response(text=to_vtt(transcript), content_type="text/vtt")
    if response_format == "verbose_json":
        body = verbose_json(
            transcript,
            words="word" in granularities,
            segments="segment" in granularities or not granularities,
        )
        return web.json_response(body)
    return web.json_response({"text": transcript.plain_text})
