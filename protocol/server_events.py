"""GA server events (server → client), one model per event, and the :data:`ServerEvent` union.

Names and fields are GA's (openai-python ``types/realtime/``); :mod:`protocol.beta`
renames and reshapes them for beta clients on the way out. Every server event has a
required ``event_id``, assigned by the session from its injected id factory (never a
default factory here, so golden transcripts are deterministic).

A transcription session uses the same ``session.created`` / ``session.updated`` events
with a :class:`~protocol.session.TranscriptionSession`; beta clients receive them as
``transcription_session.created`` / ``.updated``.

The ``output_audio_buffer.*`` events are WebRTC's: the call's transport sends them as it
plays a response's audio on its media track.

Not modelled (a speech gateway never emits them): function-call argument streaming, MCP
events and ``input_audio_buffer.dtmf_event_received`` (SIP).
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field

from protocol._base import EventModel, OmitNoneModel
from protocol.errors import ErrorDetail
from protocol.extensions import AudioTagEvent, TranscriptAnnotation
from protocol.items import ContentPart, ConversationItem
from protocol.session import (
    AudioFormat,
    MaxOutputTokens,
    Modality,
    SessionConfig,
    default_output_modalities,
)

__all__ = [
    "SERVER_EVENT_TYPES",
    "CachedTokenDetails",
    "Conversation",
    "ConversationCreated",
    "ConversationItemAdded",
    "ConversationItemCreated",
    "ConversationItemDeleted",
    "ConversationItemDone",
    "ConversationItemRetrieved",
    "ConversationItemTruncated",
    "ErrorEvent",
    "InputAudioBufferCleared",
    "InputAudioBufferCommitted",
    "InputAudioBufferSpeechStarted",
    "InputAudioBufferSpeechStopped",
    "InputAudioBufferTimeoutTriggered",
    "InputAudioTranscriptionCompleted",
    "InputAudioTranscriptionDelta",
    "InputAudioTranscriptionFailed",
    "InputAudioTranscriptionSegment",
    "InputTokenDetails",
    "LogProb",
    "OutputAudioBufferCleared",
    "OutputAudioBufferStarted",
    "OutputAudioBufferStopped",
    "OutputTokenDetails",
    "RateLimit",
    "RateLimitsUpdated",
    "Response",
    "ResponseAudio",
    "ResponseAudioOutput",
    "ResponseContentPartAdded",
    "ResponseContentPartDone",
    "ResponseCreated",
    "ResponseDone",
    "ResponseOutputAudioDelta",
    "ResponseOutputAudioDone",
    "ResponseOutputAudioTranscriptDelta",
    "ResponseOutputAudioTranscriptDone",
    "ResponseOutputItemAdded",
    "ResponseOutputItemDone",
    "ResponseOutputTextDelta",
    "ResponseOutputTextDone",
    "ResponseStatus",
    "ResponseStatusDetails",
    "ResponseStatusError",
    "ServerEvent",
    "SessionCreated",
    "SessionUpdated",
    "TranscriptionDurationUsage",
    "TranscriptionError",
    "TranscriptionTokenDetails",
    "TranscriptionTokenUsage",
    "TranscriptionUsage",
    "Usage",
]


# --- error and session -------------------------------------------------------------------


class ErrorEvent(EventModel):
    """A recoverable error; the session stays open unless it also closes the socket."""

    type: Literal["error"] = "error"
    event_id: str
    error: ErrorDetail


class SessionCreated(EventModel):
    """First event of every connection: the default (or client-secret) session."""

    type: Literal["session.created"] = "session.created"
    event_id: str
    session: SessionConfig


class SessionUpdated(EventModel):
    """Reply to ``session.update``: the full effective session (never the client's event_id)."""

    type: Literal["session.updated"] = "session.updated"
    event_id: str
    session: SessionConfig


# --- conversation --------------------------------------------------------------------------


class Conversation(EventModel):
    """The default conversation of a realtime session."""

    id: str
    object: Literal["realtime.conversation"] = "realtime.conversation"


class ConversationCreated(EventModel):
    """Sent right after ``session.created`` in realtime (conversation) sessions."""

    type: Literal["conversation.created"] = "conversation.created"
    event_id: str
    conversation: Conversation


class ConversationItemAdded(EventModel):
    """GA: an item joined the conversation. Beta: ``conversation.item.created``.

    Sent for client-created items, committed audio, and at the start of a generated item
    (``in_progress``, no content).
    """

    type: Literal["conversation.item.added"] = "conversation.item.added"
    event_id: str
    previous_item_id: str | None
    """The item before it; ``null`` for the first item."""
    item: ConversationItem


class ConversationItemDone(EventModel):
    """GA: an item is final (no audio payload). No beta counterpart: not sent to beta clients."""

    type: Literal["conversation.item.done"] = "conversation.item.done"
    event_id: str
    previous_item_id: str | None
    item: ConversationItem


class ConversationItemCreated(EventModel):
    """The beta name of ``conversation.item.added``; still in the GA union."""

    type: Literal["conversation.item.created"] = "conversation.item.created"
    event_id: str
    previous_item_id: str | None
    item: ConversationItem


class ConversationItemRetrieved(EventModel):
    """Reply to ``conversation.item.retrieve``: the item including its audio."""

    type: Literal["conversation.item.retrieved"] = "conversation.item.retrieved"
    event_id: str
    item: ConversationItem


class ConversationItemDeleted(EventModel):
    """Reply to ``conversation.item.delete``."""

    type: Literal["conversation.item.deleted"] = "conversation.item.deleted"
    event_id: str
    item_id: str


class ConversationItemTruncated(EventModel):
    """Reply to ``conversation.item.truncate``, with the (clamped) cut point."""

    type: Literal["conversation.item.truncated"] = "conversation.item.truncated"
    event_id: str
    item_id: str
    content_index: int
    audio_end_ms: int


# --- input audio buffer --------------------------------------------------------------------


class InputAudioBufferCommitted(EventModel):
    """The buffer became user item ``item_id`` (manually or by VAD)."""

    type: Literal["input_audio_buffer.committed"] = "input_audio_buffer.committed"
    event_id: str
    previous_item_id: str | None
    item_id: str


class InputAudioBufferCleared(EventModel):
    """Reply to ``input_audio_buffer.clear``."""

    type: Literal["input_audio_buffer.cleared"] = "input_audio_buffer.cleared"
    event_id: str


class InputAudioBufferSpeechStarted(EventModel):
    """VAD detected speech.

    ``audio_start_ms`` is session-cumulative and includes the prefix padding; ``item_id``
    is the id the user item will get.
    """

    type: Literal["input_audio_buffer.speech_started"] = "input_audio_buffer.speech_started"
    event_id: str
    audio_start_ms: int
    item_id: str


class InputAudioBufferSpeechStopped(EventModel):
    """VAD detected the end of speech (``audio_end_ms`` includes the silence duration)."""

    type: Literal["input_audio_buffer.speech_stopped"] = "input_audio_buffer.speech_stopped"
    event_id: str
    audio_end_ms: int
    item_id: str


class InputAudioBufferTimeoutTriggered(EventModel):
    """GA: ``idle_timeout_ms`` elapsed without speech.

    The silent audio is committed as ``item_id``. No beta counterpart: not sent to beta
    clients.
    """

    type: Literal["input_audio_buffer.timeout_triggered"] = "input_audio_buffer.timeout_triggered"
    event_id: str
    audio_start_ms: int
    audio_end_ms: int
    item_id: str


# --- input transcription -------------------------------------------------------------------


class LogProb(EventModel):
    """One token's log probability (when ``include`` asks for logprobs)."""

    token: str
    bytes: list[int]
    logprob: float


class TranscriptionTokenDetails(EventModel):
    """Input token breakdown of a token-billed transcription."""

    text_tokens: int = 0
    audio_tokens: int = 0


class TranscriptionTokenUsage(EventModel):
    """Token usage of a transcription (OpenAI's transcribe models)."""

    type: Literal["tokens"] = "tokens"
    input_tokens: int
    output_tokens: int
    total_tokens: int
    input_token_details: TranscriptionTokenDetails | None = None


class TranscriptionDurationUsage(EventModel):
    """Duration usage of a transcription: what a local ASR gateway reports (reference §7)."""

    type: Literal["duration"] = "duration"
    seconds: float = Field(ge=0.0)


TranscriptionUsage = Annotated[
    TranscriptionTokenUsage | TranscriptionDurationUsage, Field(discriminator="type")
]
"""Usage of one input transcription."""


class InputAudioTranscriptionDelta(EventModel):
    """Append-only transcript text of a user audio item (never revised once sent)."""

    type: Literal["conversation.item.input_audio_transcription.delta"] = (
        "conversation.item.input_audio_transcription.delta"
    )
    event_id: str
    item_id: str
    content_index: int = 0
    delta: str
    logprobs: list[LogProb] | None = None


class InputAudioTranscriptionCompleted(OmitNoneModel):
    """Final transcript of a user audio item; may arrive before or after response events.

    ``voxgate`` (:class:`~protocol.extensions.TranscriptAnnotation`) is our extension,
    present only when the session opted in to speaker segments or non-speech tags.
    """

    __omit_if_none__ = frozenset({"voxgate"})

    type: Literal["conversation.item.input_audio_transcription.completed"] = (
        "conversation.item.input_audio_transcription.completed"
    )
    event_id: str
    item_id: str
    content_index: int = 0
    transcript: str
    usage: TranscriptionUsage
    logprobs: list[LogProb] | None = None
    voxgate: TranscriptAnnotation | None = None


class TranscriptionError(EventModel):
    """Why an item's transcription failed (``type`` ``transcription_error`` …)."""

    type: str
    code: str | None = None
    message: str
    param: str | None = None


class InputAudioTranscriptionFailed(EventModel):
    """An item's transcription failed; item-scoped, not a session ``error``."""

    type: Literal["conversation.item.input_audio_transcription.failed"] = (
        "conversation.item.input_audio_transcription.failed"
    )
    event_id: str
    item_id: str
    content_index: int = 0
    error: TranscriptionError


class InputAudioTranscriptionSegment(EventModel):
    """A diarized segment of a user item: voxgate's carrier for speaker labels.

    ``start`` and ``end`` are seconds from the start of the item's audio.
    """

    type: Literal["conversation.item.input_audio_transcription.segment"] = (
        "conversation.item.input_audio_transcription.segment"
    )
    event_id: str
    item_id: str
    content_index: int = 0
    id: str
    """Segment id, e.g. ``seg_0001``."""
    text: str
    speaker: str
    """Speaker label: ``"0"``, ``"1"``, … in order of first appearance; stable within a
    session (the batch API's labels)."""
    start: float = Field(ge=0.0)
    end: float = Field(ge=0.0)


# --- responses ------------------------------------------------------------------------------

ResponseStatus = Literal["completed", "cancelled", "failed", "incomplete", "in_progress"]
"""Status of a response."""


class ResponseStatusError(EventModel):
    """Error of a ``failed`` response."""

    type: str
    code: str | None = None
    message: str | None = None


class ResponseStatusDetails(EventModel):
    """Why a response ended the way it did."""

    type: Literal["completed", "cancelled", "incomplete", "failed"]
    reason: (
        Literal["turn_detected", "client_cancelled", "max_output_tokens", "content_filter"] | None
    ) = None
    error: ResponseStatusError | None = None


class CachedTokenDetails(EventModel):
    """Cached input tokens by kind (always zero for voxgate)."""

    text_tokens: int = 0
    audio_tokens: int = 0
    image_tokens: int = 0


class InputTokenDetails(EventModel):
    """Input tokens by kind."""

    text_tokens: int = 0
    audio_tokens: int = 0
    image_tokens: int = 0
    cached_tokens: int = 0
    cached_tokens_details: CachedTokenDetails = Field(default_factory=CachedTokenDetails)


class OutputTokenDetails(EventModel):
    """Output tokens by kind."""

    text_tokens: int = 0
    audio_tokens: int = 0


class Usage(EventModel):
    """Usage of a response; always sent in ``response.done`` (billing-minded clients read it)."""

    total_tokens: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    input_token_details: InputTokenDetails = Field(default_factory=InputTokenDetails)
    output_token_details: OutputTokenDetails = Field(default_factory=OutputTokenDetails)


class ResponseAudioOutput(EventModel):
    """The output audio of a response."""

    format: AudioFormat
    voice: str
    """Voice name, or a custom voice's id."""


class ResponseAudio(EventModel):
    """``response.audio``."""

    output: ResponseAudioOutput


class Response(EventModel):
    """A response object (``response.created`` has ``in_progress`` and ``usage: null``)."""

    id: str
    object: Literal["realtime.response"] = "realtime.response"
    status: ResponseStatus
    status_details: ResponseStatusDetails | None = None
    output: list[ConversationItem] = Field(default_factory=list)
    """Items produced, without audio payloads."""
    conversation_id: str | None = None
    """``None`` for out-of-band (``conversation: "none"``) responses."""
    output_modalities: list[Modality] = Field(default_factory=default_output_modalities)
    max_output_tokens: MaxOutputTokens = "inf"
    audio: ResponseAudio | None = None
    metadata: dict[str, str] | None = None
    usage: Usage | None = None


class ResponseCreated(EventModel):
    """A response started."""

    type: Literal["response.created"] = "response.created"
    event_id: str
    response: Response


class ResponseDone(EventModel):
    """A response ended (always sent, also when cancelled or failed)."""

    type: Literal["response.done"] = "response.done"
    event_id: str
    response: Response


class ResponseOutputItemAdded(EventModel):
    """An output item started (before its ``conversation.item.added``/``.created``)."""

    type: Literal["response.output_item.added"] = "response.output_item.added"
    event_id: str
    response_id: str
    output_index: int
    item: ConversationItem


class ResponseOutputItemDone(EventModel):
    """An output item is final."""

    type: Literal["response.output_item.done"] = "response.output_item.done"
    event_id: str
    response_id: str
    output_index: int
    item: ConversationItem


class ResponseContentPartAdded(EventModel):
    """A content part started (``part`` is ``{"type": "audio", "transcript": ""}`` for audio)."""

    type: Literal["response.content_part.added"] = "response.content_part.added"
    event_id: str
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    part: ContentPart


class ResponseContentPartDone(EventModel):
    """A content part is final (also on interruption)."""

    type: Literal["response.content_part.done"] = "response.content_part.done"
    event_id: str
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    part: ContentPart


class ResponseOutputAudioDelta(EventModel):
    """A chunk of output audio, base64 in the output format. Beta: ``response.audio.delta``."""

    type: Literal["response.output_audio.delta"] = "response.output_audio.delta"
    event_id: str
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    delta: str


class ResponseOutputAudioDone(EventModel):
    """Output audio finished (also on interruption). Beta: ``response.audio.done``."""

    type: Literal["response.output_audio.done"] = "response.output_audio.done"
    event_id: str
    response_id: str
    item_id: str
    output_index: int
    content_index: int


class ResponseOutputAudioTranscriptDelta(EventModel):
    """Transcript of output audio. Beta: ``response.audio_transcript.delta``."""

    type: Literal["response.output_audio_transcript.delta"] = (
        "response.output_audio_transcript.delta"
    )
    event_id: str
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    delta: str


class ResponseOutputAudioTranscriptDone(EventModel):
    """Full transcript of output audio. Beta: ``response.audio_transcript.done``."""

    type: Literal["response.output_audio_transcript.done"] = "response.output_audio_transcript.done"
    event_id: str
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    transcript: str


class ResponseOutputTextDelta(EventModel):
    """Output text (text-only responses). Beta: ``response.text.delta``."""

    type: Literal["response.output_text.delta"] = "response.output_text.delta"
    event_id: str
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    delta: str


class ResponseOutputTextDone(EventModel):
    """Full output text. Beta: ``response.text.done``."""

    type: Literal["response.output_text.done"] = "response.output_text.done"
    event_id: str
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    text: str


class ResponseFunctionCallArgumentsDelta(EventModel):
    """More of a function call's JSON arguments (same name in beta)."""

    type: Literal["response.function_call_arguments.delta"] = (
        "response.function_call_arguments.delta"
    )
    event_id: str
    response_id: str
    item_id: str
    output_index: int
    call_id: str
    delta: str


class ResponseFunctionCallArgumentsDone(EventModel):
    """A function call's complete arguments (also sent when its response is cancelled)."""

    type: Literal["response.function_call_arguments.done"] = "response.function_call_arguments.done"
    event_id: str
    response_id: str
    item_id: str
    output_index: int
    call_id: str
    name: str
    arguments: str


# --- misc ---------------------------------------------------------------------------------


class RateLimit(EventModel):
    """One limit in ``rate_limits.updated``."""

    name: Literal["requests", "tokens"]
    limit: int
    remaining: int
    reset_seconds: float


class RateLimitsUpdated(EventModel):
    """The caller's limits, at the start of a response (optional)."""

    type: Literal["rate_limits.updated"] = "rate_limits.updated"
    event_id: str
    rate_limits: list[RateLimit]


class OutputAudioBufferStarted(EventModel):
    """WebRTC: a response's audio started playing on the call's media track."""

    type: Literal["output_audio_buffer.started"] = "output_audio_buffer.started"
    event_id: str
    response_id: str


class OutputAudioBufferStopped(EventModel):
    """WebRTC: a response's audio finished playing (after its ``response.done``)."""

    type: Literal["output_audio_buffer.stopped"] = "output_audio_buffer.stopped"
    event_id: str
    response_id: str


class OutputAudioBufferCleared(EventModel):
    """Reply to ``output_audio_buffer.clear``; WebRTC: also when barge-in cut the audio off."""

    type: Literal["output_audio_buffer.cleared"] = "output_audio_buffer.cleared"
    event_id: str
    response_id: str


ServerEvent = Annotated[
    ErrorEvent
    | SessionCreated
    | SessionUpdated
    | ConversationCreated
    | ConversationItemAdded
    | ConversationItemDone
    | ConversationItemCreated
    | ConversationItemRetrieved
    | ConversationItemDeleted
    | ConversationItemTruncated
    | InputAudioBufferCommitted
    | InputAudioBufferCleared
    | InputAudioBufferSpeechStarted
    | InputAudioBufferSpeechStopped
    | InputAudioBufferTimeoutTriggered
    | InputAudioTranscriptionDelta
    | InputAudioTranscriptionCompleted
    | InputAudioTranscriptionFailed
    | InputAudioTranscriptionSegment
    | ResponseCreated
    | ResponseDone
    | ResponseOutputItemAdded
    | ResponseOutputItemDone
    | ResponseContentPartAdded
    | ResponseContentPartDone
    | ResponseOutputAudioDelta
    | ResponseOutputAudioDone
    | ResponseOutputAudioTranscriptDelta
    | ResponseOutputAudioTranscriptDone
    | ResponseOutputTextDelta
    | ResponseOutputTextDone
    | ResponseFunctionCallArgumentsDelta
    | ResponseFunctionCallArgumentsDone
    | RateLimitsUpdated
    | OutputAudioBufferStarted
    | OutputAudioBufferStopped
    | OutputAudioBufferCleared
    | AudioTagEvent,
    Field(discriminator="type"),
]
"""Any server event voxgate sends (GA names), including the opt-in extension events."""

SERVER_EVENT_TYPES: frozenset[str] = frozenset(
    m.model_fields["type"].default for m in get_args(get_args(ServerEvent)[0])
)
"""The ``type`` of every member of :data:`ServerEvent` (derived, never hand-kept)."""
