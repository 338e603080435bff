"""Commands: what the sans-I/O session asks the runner to do with engines and responders.

The session never calls an engine or a responder. It emits these frozen records; the runner
executes them off the event loop and feeds the results back through the session's
``receive_*`` methods.
"""

from __future__ import annotations

from dataclasses import dataclass

from engines.base import ASROptions, AudioChunk, VADOptions
from realtime.session.replies import ReplyRequest


@dataclass(frozen=True, slots=True)
class ConfigureVAD:
    """(Re)open the session's VAD stream with ``options``; None turns VAD off (manual turns)."""

    options: VADOptions | None


@dataclass(frozen=True, slots=True)
class DetectSpeech:
    """Run the session's VAD stream over ``chunk`` → ``Session.receive_vad_events``."""

    chunk: AudioChunk


@dataclass(frozen=True, slots=True)
class StartTranscript:
    """A new utterance ``item_id`` begins; its audio follows in :class:`FeedTranscriber`.

    Attributes:
        item_id: The user item the utterance becomes.
        options: Recognition options for this utterance (the runner reopens its ASR stream
            when they differ from the previous utterance's).
        tags: Annotate the final with non-speech sound events (the runner keeps the
            utterance's audio for it).
        speakers: Annotate the final with the speaker (likewise).
    """

    item_id: str
    options: ASROptions
    tags: bool = False
    speakers: bool = False


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
class SpeculateFinal:
    """Decode the final of ``item_id`` ahead of time, during a pause; keep it as ``token``.

    Only sent when the ASR stream can speculate. Latest-wins; the final drops it when it
    has not started.

    Attributes:
        item_id: The utterance.
        token: Names this pause's decode.
        guess: First make a quick guess with the partial model, reported at once
            (``Session.receive_speculative_transcript(..., quick=True)``); never dropped by
            a later speculation, only by the final.
    """

    item_id: str
    token: int
    guess: bool = False


@dataclass(frozen=True, slots=True)
class FinalizeTranscript:
    """End the utterance ``item_id`` → ``Session.receive_transcript``. Never dropped.

    Attributes:
        item_id: The utterance.
        speculation: The token of a :class:`SpeculateFinal` still valid for this final
            (the speaker stayed silent since), or None.
    """

    item_id: str
    speculation: int | None = None


@dataclass(frozen=True, slots=True)
class CancelTranscript:
    """Drop the utterance being transcribed (buffer cleared) without a transcript."""

    item_id: str


@dataclass(frozen=True, slots=True)
class GenerateReply:
    """Ask the responder for a reply → ``Session.receive_reply_part``, part by part.

    Attributes:
        request: What to answer.
        hold: A speculative reply (started on a speculative final, before its response
            exists): the runner keeps its parts until :class:`ReleaseReply`, or drops them
            on :class:`CancelReply`.
        speech: For a held spoken reply: how its pieces will be spoken (``text`` empty).
            The runner may synthesise the first piece early, cut as
            :class:`~realtime.session.speech_pieces.SpeechPieces` cuts it, and keep its
            audio until the session asks for that piece.
    """

    request: ReplyRequest
    hold: bool = False
    speech: Synthesize | None = None


@dataclass(frozen=True, slots=True)
class ReleaseReply:
    """Hand a held reply's parts (those kept so far, then the rest) to the session."""

    response_id: str


@dataclass(frozen=True, slots=True)
class CancelReply:
    """Stop generating for ``response_id``; its later parts are ignored."""

    response_id: str


@dataclass(frozen=True, slots=True)
class Synthesize:
    """Speak one piece of a response's text → ``Session.receive_synthesized_audio``.

    A response's pieces come in order and are spoken as one continuous stream; the runner
    reports ``final`` audio after the piece marked ``last`` is spoken.

    Attributes:
        response_id: The response the audio belongs to.
        text: What to say (inline VUI tags allowed); may be empty on the last piece.
        speed: Speaking-rate multiplier.
        output_format: Wire format of the audio to produce (``audio/pcm``, ``audio/pcmu``,
            ``audio/pcma``).
        voice: Voice name the client asked for (engines map or ignore unknown names).
        last: No more text follows for this response.
    """

    response_id: str
    text: str
    speed: float = 1.0
    output_format: str = "audio/pcm"
    voice: str | None = None
    last: bool = True


@dataclass(frozen=True, slots=True)
class CancelSynthesis:
    """Stop speaking for ``response_id``; no more audio for it may reach the session."""

    response_id: str


ASRCommand = (
    StartTranscript
    | FeedTranscriber
    | RequestPartial
    | SpeculateFinal
    | FinalizeTranscript
    | CancelTranscript
)
"""The commands the session's transcriber (its ASR stream) executes."""

Command = (
    ConfigureVAD
    | DetectSpeech
    | StartTranscript
    | FeedTranscriber
    | RequestPartial
    | SpeculateFinal
    | FinalizeTranscript
    | CancelTranscript
    | GenerateReply
    | ReleaseReply
    | CancelReply
    | Synthesize
    | CancelSynthesis
)
