"""GA session objects: realtime and transcription sessions, audio formats, turn detection.

The models are the GA (nested) shape; the beta flat shape exists only on the wire and is
translated in :mod:`protocol.beta`. A model built with no arguments is the default session
of reference §6.2 (what ``session.created`` shows)::

    RealtimeSession().audio.input.turn_detection
    # ServerVad(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=200, ...)

The same models carry partial updates: a ``session.update`` parses into a
:class:`RealtimeSession` or :class:`TranscriptionSession` whose ``model_fields_set`` (at
every level) records what the client actually sent, and :func:`merge_session` applies
exactly those fields to the current session.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, overload

from pydantic import Field, ValidationError

from protocol._base import EventModel, OmitNoneModel
from protocol.errors import ErrorCode, InvalidEvent
from protocol.extensions import VoxgateTranscriptionOptions

__all__ = [
    "DEFAULT_SAMPLE_RATE",
    "AudioFormat",
    "AudioInput",
    "AudioOutput",
    "AudioPCM",
    "AudioPCMA",
    "AudioPCMU",
    "AudioTranscription",
    "FunctionTool",
    "MaxOutputTokens",
    "Modality",
    "NoiseReduction",
    "Prompt",
    "RealtimeAudio",
    "RealtimeSession",
    "RetentionRatioTruncation",
    "SemanticVad",
    "ServerVad",
    "SessionConfig",
    "ToolChoice",
    "ToolChoiceFunction",
    "TracingConfig",
    "TranscriptionAudio",
    "TranscriptionSession",
    "TurnDetection",
    "Voice",
    "VoiceId",
    "merge_session",
]

DEFAULT_SAMPLE_RATE: Final = 24_000
"""The only PCM rate of the protocol, input and output (reference §13)."""

Modality = Literal["text", "audio"]
"""An output modality. GA sessions use exactly one: ``["audio"]`` (audio plus transcript)
or ``["text"]``."""


def default_output_modalities() -> list[Modality]:
    """A fresh ``["audio"]``: the default ``output_modalities`` of sessions and responses."""
    return ["audio"]


# --- audio formats -------------------------------------------------------------------


class AudioPCM(EventModel):
    """16-bit signed little-endian mono PCM at 24 kHz (beta name ``pcm16``)."""

    type: Literal["audio/pcm"] = "audio/pcm"
    rate: Literal[24000] = DEFAULT_SAMPLE_RATE


class AudioPCMU(EventModel):
    """G.711 μ-law at 8 kHz (beta name ``g711_ulaw``); telephony."""

    type: Literal["audio/pcmu"] = "audio/pcmu"


class AudioPCMA(EventModel):
    """G.711 A-law at 8 kHz (beta name ``g711_alaw``); telephony."""

    type: Literal["audio/pcma"] = "audio/pcma"


AudioFormat = Annotated[AudioPCM | AudioPCMU | AudioPCMA, Field(discriminator="type")]
"""An audio format, discriminated by ``type``."""


# --- input ---------------------------------------------------------------------------


class NoiseReduction(EventModel):
    """Input noise reduction; ``null`` in the session turns it off."""

    type: Literal["near_field", "far_field"]


class AudioTranscription(OmitNoneModel):
    """Input transcription settings. ``model`` is any string: unknown names map to the local ASR.

    ``voxgate`` is our extension (:class:`~protocol.extensions.VoxgateTranscriptionOptions`);
    it is serialised only when set, so stock clients never see it.
    """

    __omit_if_none__ = frozenset({"voxgate"})

    model: str | None = None
    """Requested model (``whisper-1``, ``gpt-4o-transcribe``, …)."""
    language: str | None = None
    """ISO-639-1 language hint, or ``None`` to detect."""
    prompt: str | None = None
    """Decoder prompt (vocabulary, spelling)."""
    voxgate: VoxgateTranscriptionOptions | None = None
    """voxgate extension options; absent unless the client sent them."""


class ServerVad(EventModel):
    """Probability VAD with hysteresis (Silero).

    Field defaults are the API's documented ones; the *session* default
    (:class:`RealtimeSession`) uses ``silence_duration_ms=200``.
    """

    type: Literal["server_vad"] = "server_vad"
    threshold: float = Field(0.5, ge=0.0, le=1.0)
    """Speech probability that starts speech."""
    prefix_padding_ms: int = Field(300, ge=0)
    """Audio kept before the detected start."""
    silence_duration_ms: int = Field(500, ge=0)
    """Silence that ends speech."""
    idle_timeout_ms: int | None = Field(None, ge=0)
    """After the last response's playback, trigger ``input_audio_buffer.timeout_triggered``."""
    create_response: bool = True
    """Create a response automatically when speech stops."""
    interrupt_response: bool = True
    """Cancel the in-flight response when speech starts (barge-in)."""


class SemanticVad(EventModel):
    """Turn detection that estimates the end of a turn from content.

    ``eagerness`` bounds the wait: low/medium/high = 8/4/2 s; ``auto`` = medium.
    """

    type: Literal["semantic_vad"] = "semantic_vad"
    eagerness: Literal["low", "medium", "high", "auto"] = "auto"
    create_response: bool = True
    interrupt_response: bool = True


TurnDetection = Annotated[ServerVad | SemanticVad, Field(discriminator="type")]
"""Turn detection; ``None`` in a session means manual turns (client commits and creates)."""


def _default_turn_detection() -> ServerVad:
    return ServerVad(silence_duration_ms=200)


class AudioInput(EventModel):
    """``audio.input``: format, transcription, noise reduction, turn detection."""

    format: AudioFormat = Field(default_factory=AudioPCM)
    transcription: AudioTranscription | None = None
    """``None``: no input transcription (realtime default)."""
    noise_reduction: NoiseReduction | None = None
    turn_detection: TurnDetection | None = Field(default_factory=_default_turn_detection)


# --- output --------------------------------------------------------------------------


class VoiceId(EventModel):
    """A custom voice by id (GA)."""

    id: str


Voice = str | VoiceId
"""A voice name (``marin``, ``alloy`` … mapped to a local voice) or a custom voice id."""


class AudioOutput(EventModel):
    """``audio.output``: format, voice, speed."""

    format: AudioFormat = Field(default_factory=AudioPCM)
    voice: Voice = "marin"
    speed: float = Field(1.0, ge=0.25, le=1.5)
    """Playback speed multiplier; changes apply between turns."""


class RealtimeAudio(EventModel):
    """``audio`` of a realtime session."""

    input: AudioInput = Field(default_factory=AudioInput)
    output: AudioOutput = Field(default_factory=AudioOutput)


# --- tools and the rest ----------------------------------------------------------------


class FunctionTool(EventModel):
    """A function the client implements (voxgate never calls tools itself)."""

    type: Literal["function"] = "function"
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    """JSON Schema of the arguments."""


class ToolChoiceFunction(EventModel):
    """Force one function."""

    type: Literal["function"] = "function"
    name: str


ToolChoice = Literal["auto", "none", "required"] | ToolChoiceFunction
"""How the model picks tools."""

MaxOutputTokens = Annotated[int, Field(ge=1, le=4096)] | Literal["inf"]
"""Per-response output limit: 1–4096 or ``"inf"``."""


class TracingConfig(EventModel):
    """Tracing details (accepted and echoed; voxgate writes no traces)."""

    workflow_name: str | None = None
    group_id: str | None = None
    metadata: dict[str, Any] | None = None


class RetentionRatioTruncation(EventModel):
    """Truncate the context to a fraction of its maximum when it overflows."""

    type: Literal["retention_ratio"] = "retention_ratio"
    retention_ratio: float = Field(ge=0.0, le=1.0)


class Prompt(EventModel):
    """Reference to a stored prompt template (accepted and echoed)."""

    id: str
    version: str | None = None
    variables: dict[str, Any] | None = None


# --- sessions ------------------------------------------------------------------------


class RealtimeSession(EventModel):
    """A GA realtime (conversation) session; defaults are reference §6.2's.

    ``id``, ``object``, ``model`` and ``expires_at`` are server-owned: the session layer
    sets them, and :func:`merge_session` ignores them in client updates. ``instructions``
    defaults to empty (OpenAI's default text is its own model's prompt; voxgate has none).
    """

    type: Literal["realtime"] = "realtime"
    object: Literal["realtime.session"] = "realtime.session"
    id: str | None = None
    """``sess_…``; assigned by the session."""
    model: str | None = None
    """The model name the client asked for (echoed; voxgate serves its own engines)."""
    expires_at: int | None = None
    """Unix seconds; set by the session from its injected clock."""
    output_modalities: list[Modality] = Field(default_factory=default_output_modalities)
    instructions: str = ""
    audio: RealtimeAudio = Field(default_factory=RealtimeAudio)
    include: list[Literal["item.input_audio_transcription.logprobs"]] | None = None
    tools: list[FunctionTool] = Field(default_factory=list)
    tool_choice: ToolChoice = "auto"
    max_output_tokens: MaxOutputTokens = "inf"
    tracing: Literal["auto"] | TracingConfig | None = None
    truncation: Literal["auto", "disabled"] | RetentionRatioTruncation = "auto"
    prompt: Prompt | None = None


def _default_transcription_input() -> AudioInput:
    return AudioInput(transcription=AudioTranscription(model="whisper-1"))


class TranscriptionAudio(EventModel):
    """``audio`` of a transcription session (input only)."""

    input: AudioInput = Field(default_factory=_default_transcription_input)


class TranscriptionSession(EventModel):
    """A GA transcription-only session (``?intent=transcription``).

    Beta clients see it flattened as ``transcription_session.*``; see :mod:`protocol.beta`.
    """

    type: Literal["transcription"] = "transcription"
    object: Literal["realtime.transcription_session"] = "realtime.transcription_session"
    id: str | None = None
    """``sess_…``; assigned by the session."""
    expires_at: int | None = None
    """Unix seconds; set by the session from its injected clock."""
    audio: TranscriptionAudio = Field(default_factory=TranscriptionAudio)
    include: list[Literal["item.input_audio_transcription.logprobs"]] | None = None


SessionConfig = Annotated[RealtimeSession | TranscriptionSession, Field(discriminator="type")]
"""Either session kind, discriminated by ``type``."""

_SERVER_OWNED = frozenset({"id", "object", "model", "expires_at"})


@overload
def merge_session(
    current: RealtimeSession, update: RealtimeSession | TranscriptionSession
) -> RealtimeSession: ...


@overload
def merge_session(
    current: TranscriptionSession, update: RealtimeSession | TranscriptionSession
) -> TranscriptionSession: ...


@overload
def merge_session(
    current: RealtimeSession | TranscriptionSession,
    update: RealtimeSession | TranscriptionSession,
) -> RealtimeSession | TranscriptionSession: ...


def merge_session(
    current: RealtimeSession | TranscriptionSession,
    update: RealtimeSession | TranscriptionSession,
) -> RealtimeSession | TranscriptionSession:
    """Apply a partial ``session.update`` to the current session (reference §6.3).

    Only the fields the client sent change, at every nesting level; everything else keeps
    its current value. An explicit ``null`` is a value (``turn_detection: null`` turns VAD
    off). A nested object whose ``type`` changes (``server_vad`` → ``semantic_vad``,
    ``audio/pcm`` → ``audio/pcmu``) is replaced whole, starting from its own defaults; one
    whose ``type`` stays is merged field by field. Lists (``tools``, ``include``) are
    replaced. Server-owned fields (``id``, ``object``, ``model``, ``expires_at``) are never
    taken from the update.

    Args:
        current: The session now in effect.
        update: The parsed ``session`` of a ``session.update``; its ``model_fields_set``
            says what was sent.

    Returns:
        A new session of the same kind; ``current`` is unchanged.

    Raises:
        InvalidEvent: The update names the other session kind (``param`` is
            ``session.type``), or the merged result is invalid. ``event_id`` is ``None``;
            the caller adds it with :meth:`InvalidEvent.with_event_id`.
    """
    if update.type != current.type:
        raise InvalidEvent(
            f"Invalid value: '{update.type}'. The session type cannot be changed from "
            f"'{current.type}' after the session is created.",
            code=ErrorCode.INVALID_VALUE,
            param="session.type",
        )
    patch = {
        key: value
        for key, value in update.model_dump(exclude_unset=True).items()
        if key not in _SERVER_OWNED
    }
    merged = _deep_merge(current.model_dump(), patch)
    try:
        return type(current).model_validate(merged)
    except ValidationError as exc:  # pragma: no cover - parts were validated separately
        raise InvalidEvent.from_validation_error(exc, merged) from None


def _deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        old = out.get(key)
        if (
            isinstance(value, dict)
            and isinstance(old, dict)
            and value.get("type", old.get("type")) == old.get("type")
        ):
            out[key] = _deep_merge(old, value)
        else:
            out[key] = value
    return out
