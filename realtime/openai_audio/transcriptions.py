"""``POST /v1/audio/transcriptions``, as OpenAI's.

The ``openai`` SDK's ``audio.transcriptions.create`` works with only ``base_url`` changed.
Transcriptions go through the batch pipeline (:mod:`realtime.openai_audio.runs`); ``model``
is accepted and ignored (the configured final model answers), except that ``whisper-1``
ignores ``stream``, as OpenAI's does. Response formats: ``json`` (with ``usage`` by
duration), ``text``, ``srt``, ``vtt``, ``verbose_json`` (``words`` when
``timestamp_granularities[]`` includes ``word``) and ``diarized_json`` (speakers found by
the diarizer, labelled ``A``, ``B``, … or by ``known_speaker_names[]`` matched to
``known_speaker_references[]``: :mod:`realtime.openai_audio.known_speakers`).

``stream=true`` answers server-sent events (:mod:`realtime.openai_audio.streaming`), for
``json``, ``text`` and ``diarized_json``; other formats are a 400. ``include[]=logprobs``
(``json`` only) adds the tokens' log-probabilities (Whisper's, teacher-forced: the
probability of each decoded token), also to the stream's done event; ``null`` when the
engine cannot give them. ``chunking_strategy`` (``auto`` or ``server_vad``) and
``temperature`` (0–1) are accepted and ignored: voxgate always cuts the audio at VAD
silences and decodes deterministically.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TypeVar

from aiohttp import web

from realtime.batch.files import Upload
from realtime.batch.pipeline import PipelineOptions
from realtime.inference.scheduler import Priority
from realtime.openai_audio.forms import AudioForm, FormError, serve_form
from realtime.openai_audio.known_speakers import (
    Embeddings,
    KnownSpeakers,
    embed_references,
    name_speakers,
    parse_known,
)
from realtime.openai_audio.renderings import (
    TRANSCRIPTION_FORMATS,
    Rendering,
    render,
    speaker_labels,
)
from realtime.openai_audio.runs import Finished, PipelineRun, error_response
from realtime.openai_audio.streaming import STREAM_FORMATS, stream_diarized, stream_transcript
from realtime.server.app_keys import ENGINES, INFERENCE, SETTINGS

_CHUNKING = frozenset({"auto", "server_vad"})
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TranscriptionRequest:
    """A well-formed transcription request.

    Attributes:
        options: The pipeline's options.
        rendering: How to answer.
        stream: Answer server-sent events.
        known: The known speakers (``diarized_json``), if any.
    """

    options: PipelineOptions
    rendering: Rendering
    stream: bool
    known: KnownSpeakers | None

    @property
    def diarized(self) -> bool:
        """Whether speakers are asked for."""
        return self.rendering.response_format == "diarized_json"


def parse_transcription(form: AudioForm, request: web.Request) -> TranscriptionRequest:
    """The request the form makes.

    Raises:
        BadRequest: a field OpenAI would refuse, or one this server cannot serve (named).
    """
    fmt = form.choice("response_format", TRANSCRIPTION_FORMATS, "json")
    granularities = set(form.values("timestamp_granularities"))
    if not granularities <= {"word", "segment"}:
        raise FormError(
            "timestamp_granularities[] takes word and/or segment",
            param="timestamp_granularities[]",
        )
    language = form.first("language")
    if language is not None and not (language.isalpha() and 2 <= len(language) <= 3):
        raise FormError("language must be an ISO-639-1 code", param="language")
    form.temperature()
    _check_chunking(form)
    logprobs = _logprobs_asked(form, fmt)
    stream = form.boolean("stream") and form.first("model") != "whisper-1"
    if stream and fmt not in STREAM_FORMATS:
        raise FormError(
            f"response_format {fmt} cannot be streamed; use one of "
            f"{', '.join(sorted(STREAM_FORMATS))}",
            param="response_format",
        )
    known = parse_known(form)
    diarized = fmt == "diarized_json"
    if known is not None and not diarized:
        raise FormError(
            "known speakers need response_format=diarized_json", param="known_speaker_names[]"
        )
    if diarized and request.app[ENGINES].embedder is None:
        raise FormError(
            "diarized_json needs a speaker embedder: set VOXGATE_EMBEDDER_MODEL",
            param="response_format",
            code="unsupported_response_format",
        )
    settings = request.app[SETTINGS]
    options = PipelineOptions(
        diarize=diarized,
        language=language.lower() if language else None,
        prompt=form.first("prompt"),
        word_timestamps="word" in granularities or logprobs or diarized,
        beam_size=settings.asr_beam_size,
        max_audio_s=settings.max_audio_seconds,
    )
    rendering = Rendering(
        fmt,
        words="word" in granularities,
        segments="segment" in granularities or not granularities,
        with_logprobs=logprobs,
    )
    return TranscriptionRequest(options, rendering, stream, known)


def _check_chunking(form: AudioForm) -> None:
    for name in ("chunking_strategy", "chunking_strategy[type]"):
        form.choice(name, _CHUNKING, "auto")


def _logprobs_asked(form: AudioForm, fmt: str) -> bool:
    include = set(form.values("include"))
    if not include <= {"logprobs"}:
        raise FormError("include[] takes logprobs", param="include[]")
    if include and fmt != "json":
        raise FormError("logprobs come with response_format json only", param="include[]")
    return bool(include)


async def create_transcription(request: web.Request) -> web.StreamResponse:
    """``POST /v1/audio/transcriptions`` (OpenAI shape)."""
    return await serve_form(request, partial(_transcribe, request))


async def _transcribe(request: web.Request, form: AudioForm, upload: Upload) -> web.StreamResponse:
    asked = parse_transcription(form, request)
    embedder = request.app[ENGINES].embedder
    references = None
    if asked.known is not None and embedder is not None:
        references = await _on_pool(request, partial(embed_references, asked.known, embedder))
    path = await asyncio.to_thread(upload.keep_temporary)
    run = PipelineRun(
        request,
        path,
        asked.options,
        diarize=asked.diarized,
        report_chunks=asked.stream and not asked.diarized,
    )
    labeller = partial(_speakers, request, path, asked.known, references)
    try:
        if asked.stream and asked.diarized:
            return await stream_diarized(request, run, labeller)
        if asked.stream:
            return await stream_transcript(request, run, logprobs=asked.rendering.with_logprobs)
        run.start()
        try:
            finished = await run.result()
            speakers = await labeller(finished) if asked.diarized else None
        except Exception as exc:
            answer = error_response(exc)
            if answer is None:
                raise
            return answer
        rendering = replace(asked.rendering, logprobs=finished.logprobs, speakers=speakers)
        return render(finished.transcript, rendering)
    finally:
        run.stop()  # a no-op once it is over; else (the client left) it ends it


async def _speakers(
    request: web.Request,
    path: Path,
    known: KnownSpeakers | None,
    references: Embeddings | None,
    finished: Finished,
) -> Mapping[str, str]:
    """The labels of a diarized transcript's speakers: known names where they match."""
    names: Mapping[str, str] = {}
    embedder = request.app[ENGINES].embedder
    transcript = finished.transcript
    if (
        known is not None
        and references is not None
        and embedder is not None
        and transcript.segments
    ):
        max_seconds = request.app[SETTINGS].max_audio_seconds
        call = partial(
            name_speakers, path, transcript, known, references, embedder, max_seconds=max_seconds
        )
        names = await _on_pool(request, call)
    return speaker_labels(transcript, names)


async def _on_pool(request: web.Request, call: Callable[[], T]) -> T:
    """``call()`` as a BATCH job of the inference pool (not the default executor)."""
    job = request.app[INFERENCE].schedule(call, priority=Priority.BATCH)
    return await asyncio.wrap_future(job)
