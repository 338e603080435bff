"""OpenAI Realtime protocol events as typed pydantic models (GA and beta dialects). No I/O.

Imports only the standard library and pydantic. The public surface:

* :data:`ClientEvent` / :data:`ServerEvent` — discriminated unions of GA event models
  (:mod:`protocol.client_events`, :mod:`protocol.server_events`), with the derived
  :data:`CLIENT_EVENT_TYPES` / :data:`SERVER_EVENT_TYPES`.
* :func:`parse_client_event` — one WebSocket message in, one typed GA event out, or
  :class:`InvalidEvent` (correlated with the client's ``event_id``).
* :func:`dump_server_event` — one GA event out as JSON text for the connection's
  :class:`Dialect` (beta renames and reshapes; ``None`` when beta has no such event).
* Session models (:mod:`protocol.session`) and :func:`merge_session` for partial updates.
* :mod:`protocol.extensions` — voxgate's opt-in extras (``voxgate.`` events, the
  ``transcription.voxgate`` option).
"""

from protocol.client_events import (
    CLIENT_EVENT_TYPES,
    ClientEvent,
    ConversationItemCreate,
    ConversationItemDelete,
    ConversationItemRetrieve,
    ConversationItemTruncate,
    InputAudioBufferAppend,
    InputAudioBufferClear,
    InputAudioBufferCommit,
    OutputAudioBufferClear,
    ResponseCancel,
    ResponseCreate,
    ResponseCreateParams,
    SessionUpdate,
)
from protocol.codec import (
    Dialect,
    dump_client_event,
    dump_server_event,
    parse_client_event,
    parse_server_event,
    parse_session_config,
)
from protocol.errors import ErrorCode, ErrorDetail, ErrorType, InvalidEvent
from protocol.extensions import (
    EXTENSION_PREFIX,
    AudioTagEvent,
    TranscriptAnnotation,
    VoxgateResponseOptions,
    VoxgateTranscriptionOptions,
)
from protocol.items import (
    AssistantMessage,
    ContentPart,
    ConversationItem,
    FunctionCall,
    FunctionCallOutput,
    InputAudio,
    InputText,
    OutputAudio,
    OutputText,
    SystemMessage,
    UserMessage,
)
from protocol.server_events import SERVER_EVENT_TYPES, ServerEvent
from protocol.session import (
    AudioFormat,
    AudioInput,
    AudioOutput,
    AudioPCM,
    AudioPCMA,
    AudioPCMU,
    AudioTranscription,
    NoiseReduction,
    RealtimeAudio,
    RealtimeSession,
    SemanticVad,
    ServerVad,
    SessionConfig,
    TranscriptionAudio,
    TranscriptionSession,
    TurnDetection,
    merge_session,
)

__all__ = [
    "CLIENT_EVENT_TYPES",
    "EXTENSION_PREFIX",
    "SERVER_EVENT_TYPES",
    "AssistantMessage",
    "AudioFormat",
    "AudioInput",
    "AudioOutput",
    "AudioPCM",
    "AudioPCMA",
    "AudioPCMU",
    "AudioTagEvent",
    "AudioTranscription",
    "ClientEvent",
    "ContentPart",
    "ConversationItem",
    "ConversationItemCreate",
    "ConversationItemDelete",
    "ConversationItemRetrieve",
    "ConversationItemTruncate",
    "Dialect",
    "ErrorCode",
    "ErrorDetail",
    "ErrorType",
    "FunctionCall",
    "FunctionCallOutput",
    "InputAudio",
    "InputAudioBufferAppend",
    "InputAudioBufferClear",
    "InputAudioBufferCommit",
    "InputText",
    "InvalidEvent",
    "NoiseReduction",
    "OutputAudio",
    "OutputAudioBufferClear",
    "OutputText",
    "RealtimeAudio",
    "RealtimeSession",
    "ResponseCancel",
    "ResponseCreate",
    "ResponseCreateParams",
    "SemanticVad",
    "ServerEvent",
    "ServerVad",
    "SessionConfig",
    "SessionUpdate",
    "SystemMessage",
    "TranscriptAnnotation",
    "TranscriptionAudio",
    "TranscriptionSession",
    "TurnDetection",
    "UserMessage",
    "VoxgateResponseOptions",
    "VoxgateTranscriptionOptions",
    "dump_client_event",
    "dump_server_event",
    "merge_session",
    "parse_client_event",
    "parse_server_event",
    "parse_session_config",
]
