"""Commands: what the sans-I/O session asks the runner to do with engines.

The session never calls an engine. It emits these frozen records; the runner executes them
on worker threads and feeds the results back through the session's ``receive_*`` methods.
"""

from __future__ import annotations

from dataclasses import dataclass

from engines.base import AudioChunk, VADOptions


@dataclass(frozen=True, slots=True)
class ConfigureVAD:
    """(Re)open the session's VAD stream with ``options``; None turns VAD off (manual turns)."""

    options: VADOptions | None


@dataclass(frozen=True, slots=True)
class DetectSpeech:
    """Run the session's VAD stream over ``chunk`` → ``Session.receive_vad_events``."""

    chunk: AudioChunk


@dataclass(frozen=True, slots=True)
class FeedTranscriber:
    """Append ``chunk`` to the utterance being transcribed as ``item_id``."""

    item_id: str
    chunk: AudioChunk


@dataclass(frozen=True, slots=True)
class RequestPartial:
    """Decode the utterance so far → ``Session.receive_transcript_delta``.

    Latest-wins: the runner may coalesce several pending requests into one.
    """

    item_id: str


@dataclass(frozen=True, slots=True)
class FinalizeTranscript:
    """End the utterance ``item_id`` → ``Session.receive_transcript``. Never dropped."""

    item_id: str


@dataclass(frozen=True, slots=True)
class CancelTranscript:
    """Drop the utterance being transcribed (buffer cleared) without a transcript."""

    item_id: str


@dataclass(frozen=True, slots=True)
class Synthesize:
    """Speak ``text`` for a response → ``Session.receive_synthesized_audio``.

    Attributes:
        response_id: The response the audio belongs to.
        text: What to say (inline VUI tags allowed).
        speed: Speaking-rate multiplier.
        output_format: Wire format of the audio to produce (``audio/pcm``, ``audio/pcmu``,
            ``audio/pcma``).
        voice: Voice name the client asked for (engines map or ignore unknown names).
    """

    response_id: str
    text: str
    speed: float = 1.0
    output_format: str = "audio/pcm"
    voice: str | None = None


@dataclass(frozen=True, slots=True)
class CancelSynthesis:
    """Stop speaking for ``response_id``; no more audio for it may reach the session."""

    response_id: str


@dataclass(frozen=True, slots=True)
class CloseConnection:
    """Close the WebSocket with ``code`` (RFC 6455) and a short ``reason``."""

    code: int
    reason: str


Command = (
    ConfigureVAD
    | DetectSpeech
    | FeedTranscriber
    | RequestPartial
    | FinalizeTranscript
    | CancelTranscript
    | Synthesize
    | CancelSynthesis
    | CloseConnection
)
