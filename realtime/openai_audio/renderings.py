"""OpenAI's transcription response bodies, made from a :class:`BatchTranscript`.

``json`` (``text``, ``usage`` by duration, ``logprobs`` when asked), ``text``, ``srt``,
``vtt``, ``verbose_json`` (``segments``; ``words`` when asked) and ``diarized_json``
(``segments`` of ``type: transcript.text.segment`` with a ``speaker``); translations have no
``usage``, as OpenAI's (its API defines none for them). The text of every
format is the segments' texts joined by single spaces. Speaker labels: a known speaker's
name, else ``A``, ``B``, … in order of first appearance (OpenAI's labels).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from engines.asr.languages import language_name
from engines.base import TokenLogprob
from realtime.batch.assembly import BatchTranscript

TRANSCRIPTION_FORMATS = frozenset({"json", "text", "srt", "vtt", "verbose_json", "diarized_json"})
TRANSLATION_FORMATS = frozenset({"json", "text", "srt", "vtt", "verbose_json"})


@dataclass(frozen=True, slots=True)
class Rendering:
    """What a response shows besides the transcript.

    Attributes:
        response_format: One of :data:`TRANSCRIPTION_FORMATS`.
        words: ``verbose_json``: the ``words`` list.
        segments: ``verbose_json``: the ``segments`` list.
        task: ``transcribe`` or ``translate`` (``verbose_json``).
        logprobs: ``json``: the tokens' log-probabilities (None: the engine gave none).
        with_logprobs: Whether ``logprobs`` was asked for (the key is present then).
        speakers: ``diarized_json``: the voxgate speaker (``"0"``…) → its label.
    """

    response_format: str
    words: bool = False
    segments: bool = True
    task: str = "transcribe"
    logprobs: Sequence[TokenLogprob] | None = None
    with_logprobs: bool = False
    speakers: Mapping[str, str] | None = None


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


def usage(transcript: BatchTranscript) -> dict[str, Any]:
    """OpenAI's usage by duration (``whisper-1``'s kind)."""
    return {"type": "duration", "seconds": round(transcript.duration, 3)}


def verbose_json(
    transcript: BatchTranscript, *, words: bool, segments: bool, task: str = "transcribe"
) -> dict[str, Any]:
    """OpenAI's ``verbose_json`` body, its ``language`` named as whisper-1 names it.

    ``english``, not ``en`` (a translation's is always ``english``).
    """
    language = "english" if task == "translate" else language_name(transcript.language or "")
    body: dict[str, Any] = {
        "task": task,
        "language": language,
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
    if task == "transcribe":  # OpenAI's translations carry no usage
        body["usage"] = usage(transcript)
    return body


def letter(index: int) -> str:
    """``A``, ``B``, … ``Z``, ``AA``, ``AB``, …: the label of the ``index``-th speaker."""
    label = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        label = chr(ord("A") + rest) + label
    return label


def speaker_labels(transcript: BatchTranscript, names: Mapping[str, str]) -> dict[str, str]:
    """Each speaker's label: its name in ``names``, else the next free letter.

    Letters go to the unnamed speakers in order of first appearance.
    """
    labels: dict[str, str] = {}
    for seg in transcript.segments:
        if seg.speaker not in labels:
            unnamed = sum(1 for s in labels if s not in names)
            labels[seg.speaker] = names.get(seg.speaker) or letter(unnamed)
    return labels


def diarized_segments(
    transcript: BatchTranscript, speakers: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The ``segments`` of ``diarized_json`` (also the stream's segment events)."""
    return [
        {
            "type": "transcript.text.segment",
            "id": f"seg_{i}",
            "start": round(s.start, 3),
            "end": round(s.end, 3),
            "text": s.text,
            "speaker": speakers.get(s.speaker, s.speaker),
        }
        for i, s in enumerate(transcript.segments)
    ]


def diarized_json(transcript: BatchTranscript, speakers: Mapping[str, str]) -> dict[str, Any]:
    """OpenAI's ``diarized_json`` body."""
    return {
        "task": "transcribe",
        "duration": round(transcript.duration, 3),
        "text": transcript.plain_text,
        "segments": diarized_segments(transcript, speakers),
        "usage": usage(transcript),
    }


def logprob_list(logprobs: Sequence[TokenLogprob] | None) -> list[dict[str, Any]] | None:
    """``logprobs`` as OpenAI writes them: ``token``, ``logprob``, ``bytes``."""
    if logprobs is None:
        return None
    return [{"token": t.token, "logprob": t.logprob, "bytes": list(t.bytes)} for t in logprobs]


def render(transcript: BatchTranscript, how: Rendering) -> web.Response:
    """The response for ``transcript`` in ``how.response_format``."""
    fmt = how.response_format
    if fmt == "text":
        return web.Response(text=transcript.plain_text + "\n", content_type="text/plain")
    if fmt == "srt":
        return web.Response(text=to_srt(transcript), content_type="text/plain")
    if fmt == "vtt":
        return web.Response(text=to_vtt(transcript), content_type="text/vtt")
    if fmt == "verbose_json":
        body = verbose_json(transcript, words=how.words, segments=how.segments, task=how.task)
        return web.json_response(body)
    if fmt == "diarized_json":
        speakers = how.speakers or speaker_labels(transcript, {})
        return web.json_response(diarized_json(transcript, speakers))
    body = {"text": transcript.plain_text}
    if how.task == "transcribe":  # OpenAI's translations carry no usage
        body["usage"] = usage(transcript)
    if how.with_logprobs:
        body["logprobs"] = logprob_list(how.logprobs)
    return web.json_response(body)
