"""``POST /v1/audio/speech`` (OpenAI shape): JSON in, speech out, streamed as it is made.

The configured TTS engine speaks ``input``; OpenAI's voice names (``alloy``…) select its
default voice. ``response_format``: ``mp3`` (the default, as OpenAI's), ``wav`` and ``pcm``
(24 kHz 16-bit mono; OpenAI's pcm), ``flac``, ``opus``, ``aac``
(:mod:`engines.audio_files`).

The response streams: each sentence is rendered on the inference pool, encoded and written
as soon as it is ready (chunked transfer), so the first audio arrives after one sentence,
not after the whole input (``client.audio.speech.with_streaming_response``). With
``stream_format: "sse"`` the same bytes come as server-sent events,
``{"type": "speech.audio.delta", "audio": <base64>}`` and a final
``{"type": "speech.audio.done", "usage": {...}}`` (token counts are 0: voxgate's engines
do not count tokens). A streamed ``wav`` header goes out before the length is known: its
RIFF and data sizes are ``0xFFFFFFFF`` ("unknown": players accept it; Python's ``wave``
reads 89,478 s). So ``wav`` without a ``stream_format`` (what the SDK's
``speech.create(..., response_format="wav")`` sends) is rendered whole, then sent with its
true sizes and a ``Content-Length``; ``stream_format: "audio"`` streams it.

Errors: a request the engine refuses (bad voice, speed, nothing to say) is a 400 before any
audio. A failure after the audio has started cannot change the status: the audio stream is
cut off without its final chunk (clients see an incomplete body), the event stream ends
with ``{"type": "error", ...}``; either way the detail is logged, not sent. A client that
hangs up stops the synthesis between sentences.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from engines.audio_files import FILE_FORMATS, FileEncoder, wav_header
from engines.base import PCM
from engines.errors import EngineError
from realtime.server.app_keys import ENGINES, INFERENCE, SETTINGS
from realtime.server.errors import json_error

log = logging.getLogger(__name__)

OPENAI_VOICES = frozenset(
    {
        "alloy",
        "ash",
        "ballad",
        "coral",
        "echo",
        "fable",
        "onyx",
        "nova",
        "sage",
        "shimmer",
        "verse",
        "marin",
        "cedar",
    }
)
MAX_INPUT_CHARS = 4096
"""Longest ``input`` accepted (OpenAI's limit)."""
MIN_SPEED, MAX_SPEED = 0.25, 4.0
"""The ``speed`` range (OpenAI's)."""
SPEECH_FORMATS = frozenset(FILE_FORMATS)
STREAM_FORMATS = frozenset({"audio", "sse"})
USAGE = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}


class _SpeechFile:
    """Pulls engine chunks and encodes them; each :meth:`next_bytes` runs on a pool thread."""

    def __init__(self, chunks: Iterator[PCM], encoder: FileEncoder) -> None:
        self._chunks = chunks
        self._encoder = encoder
        self._pulling: asyncio.Future[bytes | None] | None = None
        self.samples = 0
        self.content_type = encoder.content_type

    async def pull(self, pool: Any) -> bytes | None:
        """:meth:`next_bytes` on ``pool``; a cancelled caller leaves it to finish there."""
        self._pulling = asyncio.get_running_loop().run_in_executor(pool, self.next_bytes)
        return await asyncio.shield(self._pulling)

    def next_bytes(self) -> bytes | None:
        """The next non-empty bytes of the file; None once it is complete."""
        for chunk in self._chunks:
            self.samples += len(chunk)
            out = self._encoder.feed(chunk)
            if out:
                return out
        if self.samples == 0:
            raise EngineError("the engine produced no audio for this input")
        out = self._encoder.finish()
        return out or None

    def close(self) -> None:
        """Stop synthesis (between sentences) and release the encoder.

        If a pull is still running on its thread, they are released when it ends.
        """
        if self._pulling is not None and not self._pulling.done():
            self._pulling.add_done_callback(lambda _: self.close())
            return
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()
        self._encoder.close()


@dataclass(frozen=True, slots=True)
class SpeechRequest:
    """A well-formed ``/v1/audio/speech`` body.

    Attributes:
        text: What to say.
        fmt: The audio file format (a key of :data:`~engines.audio_files.FILE_FORMATS`).
        sse: Server-sent events rather than the file's bytes.
        whole: Render everything before answering, to send a file with its true sizes (wav
            without a ``stream_format``).
        speed: Speaking rate.
        voice: The engine voice asked for; None: its default (also for OpenAI's names).
    """

    text: str
    fmt: str
    sse: bool
    speed: float
    voice: str | None
    whole: bool = False


def parse_request(body: Any, voice_ids: set[str]) -> SpeechRequest | web.Response:
    """The request in ``body``, or the 400 that says what is wrong with it.

    ``response_format`` and ``stream_format`` may be null (their defaults, as OpenAI's); a
    wav without a ``stream_format`` is sent whole (see the module docstring).
    """
    if not isinstance(body, dict):
        return json_error(400, "the body must be a JSON object")
    text = body.get("input")
    if not isinstance(text, str) or not text.strip():
        return json_error(400, "input must be a non-empty string", param="input")
    if len(text) > MAX_INPUT_CHARS:
        return json_error(400, f"input is longer than {MAX_INPUT_CHARS} characters", param="input")
    fmt = body.get("response_format")
    fmt = "mp3" if fmt is None else fmt
    if not isinstance(fmt, str) or fmt not in SPEECH_FORMATS:  # a list is unhashable
        return json_error(
            400,
            f"response_format must be one of {', '.join(sorted(SPEECH_FORMATS))}",
            param="response_format",
        )
    stream_format = body.get("stream_format")
    whole = stream_format is None and fmt == "wav"
    stream_format = "audio" if stream_format is None else stream_format
    if not isinstance(stream_format, str) or stream_format not in STREAM_FORMATS:
        return json_error(400, "stream_format must be audio or sse", param="stream_format")
    speed = body.get("speed", 1.0)
    if not isinstance(speed, int | float) or isinstance(speed, bool):
        return json_error(400, "speed must be a number", param="speed")
    if not MIN_SPEED <= speed <= MAX_SPEED:  # NaN too
        return json_error(400, f"speed must be between {MIN_SPEED} and {MAX_SPEED}", param="speed")
    requested = body.get("voice")
    if isinstance(requested, dict):  # newer SDKs: {"id": ...}
        if not isinstance(requested.get("id"), str):
            return json_error(400, "voice.id must be a string", param="voice")
        requested = requested["id"]
    if requested is not None and not isinstance(requested, str):
        return json_error(400, "voice must be a string", param="voice")
    if requested is not None and requested not in voice_ids | OPENAI_VOICES:
        choices = ", ".join(sorted(voice_ids | OPENAI_VOICES))
        return json_error(400, f"unknown voice {requested!r}; one of {choices}", param="voice")
    voice = requested if requested in voice_ids else None
    return SpeechRequest(text, fmt, stream_format == "sse", float(speed), voice, whole)


async def create_speech(request: web.Request) -> web.StreamResponse:
    """``POST /v1/audio/speech``: validate, render the first sentence, then stream."""
    engine = request.app[ENGINES].tts
    if engine is None:
        return json_error(503, "no speech engine is configured", code="unavailable")
    try:
        body = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return json_error(400, "the body must be JSON")
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[SETTINGS].max_upload_bytes
        return json_error(413, f"Body larger than the limit of {limit} bytes.")
    parsed = parse_request(body, {v.id for v in engine.voices()})
    if isinstance(parsed, web.Response):
        return parsed
    sse = parsed.sse
    pool = request.app[INFERENCE]
    try:
        chunks = engine.synthesize(parsed.text, voice=parsed.voice, speed=parsed.speed)
    except EngineError as exc:
        return json_error(400, str(exc), code="speech_failed")
    speech = _SpeechFile(chunks, FileEncoder(parsed.fmt, engine.sample_rate))
    try:
        try:
            data = await speech.pull(pool)
        except EngineError as exc:  # refused, or no audio at all: nothing was sent yet
            return json_error(400, str(exc), code="speech_failed")
        if parsed.whole:
            return await _whole_wav(speech, data, pool)
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream" if sse else speech.content_type,
                "Cache-Control": "no-cache",
            }
        )
        await response.prepare(request)
        try:
            while data is not None:
                await response.write(_delta(data) if sse else data)
                data = await speech.pull(pool)
        except ConnectionError:  # the client hung up: nothing to tell it
            return response
        except Exception:
            log.exception("speech synthesis failed after the response started")
            if not sse:
                if request.transport is not None:  # cut off without the final chunk:
                    request.transport.close()  # the client sees an incomplete body
                return response
            error = {"type": "server_error", "code": "speech_failed", "message": "synthesis failed"}
            await response.write(_event({"type": "error", "error": error}))
            await response.write_eof()
            return response
        if sse:
            await response.write(_event({"type": "speech.audio.done", "usage": USAGE}))
        await response.write_eof()
        return response
    finally:
        speech.close()


async def _whole_wav(speech: _SpeechFile, first: bytes | None, pool: Any) -> web.Response:
    """The rest of the speech, then the whole file with its true RIFF and data sizes."""
    parts = [first or b""]
    try:
        while (data := await speech.pull(pool)) is not None:
            parts.append(data)
    except EngineError as exc:
        return json_error(400, str(exc), code="speech_failed")
    rate = FILE_FORMATS["wav"].rate
    body = b"".join(parts)[len(wav_header(rate)) :]  # after the streamed "unknown" header
    header = wav_header(rate, len(body))
    return web.Response(body=header + body, content_type=speech.content_type)


def _delta(data: bytes) -> bytes:
    return _event({"type": "speech.audio.delta", "audio": base64.b64encode(data).decode("ascii")})


def _event(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()
