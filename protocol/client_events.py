"""GA client events (client → server), one model per event, and the :data:`ClientEvent` union.

Names are GA's (openai-python ``types/realtime/realtime_client_event.py``: 11 types). The
beta dialect has the same names plus ``transcription_session.update``, which
:mod:`protocol.beta` turns into a :class:`SessionUpdate` carrying a
:class:`~protocol.session.TranscriptionSession`.

Every client event has an optional ``event_id`` (≤ 512 characters). It is echoed back
only inside ``error.event_id`` when the event fails, never on success events.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field

from protocol._base import ClientEventId, EventModel
from protocol.extensions import VoxgateResponseOptions
from protocol.items import ConversationItem, InputItem
from protocol.session import (
    AudioFormat,
    FunctionTool,
    MaxOutputTokens,
    Modality,
    SessionConfig,
    ToolChoice,
    Voice,
)

__all__ = [
    "CLIENT_EVENT_TYPES",
    "ClientEvent",
    "ConversationItemCreate",
    "ConversationItemDelete",
    "ConversationItemRetrieve",
    "ConversationItemTruncate",
    "InputAudioBufferAppend",
    "InputAudioBufferClear",
    "InputAudioBufferCommit",
    "OutputAudioBufferClear",
    "ResponseAudioOutputParams",
    "ResponseAudioParams",
    "ResponseCancel",
    "ResponseCreate",
    "ResponseCreateParams",
    "SessionUpdate",
]


class SessionUpdate(EventModel):
    """Change the session. Reply: ``session.updated`` with the full effective session, or ``error``.

    ``session`` is partial: only the fields present change (see
    :func:`protocol.session.merge_session`). ``session.type`` is required in GA.
    """

    type: Literal["session.update"] = "session.update"
    event_id: ClientEventId = None
    session: SessionConfig


class InputAudioBufferAppend(EventModel):
    """Append base64 audio (session input format) to the input buffer. No acknowledgement.

    ``audio`` is not decoded here; the session decodes it and reports bad base64.
    """

    type: Literal["input_audio_buffer.append"] = "input_audio_buffer.append"
    event_id: ClientEventId = None
    audio: str


class InputAudioBufferCommit(EventModel):
    """Commit the buffer as a user audio item.

    Reply: ``input_audio_buffer.committed``, or ``input_audio_buffer_commit_empty`` under
    100 ms.
    """

    type: Literal["input_audio_buffer.commit"] = "input_audio_buffer.commit"
    event_id: ClientEventId = None


class InputAudioBufferClear(EventModel):
    """Drop uncommitted input audio. Reply: ``input_audio_buffer.cleared``."""

    type: Literal["input_audio_buffer.clear"] = "input_audio_buffer.clear"
    event_id: ClientEventId = None


class OutputAudioBufferClear(EventModel):
    """Cut off playing output audio (WebRTC/SIP only upstream).

    Reply: ``output_audio_buffer.cleared``. Clients send ``response.cancel`` first.
    """

    type: Literal["output_audio_buffer.clear"] = "output_audio_buffer.clear"
    event_id: ClientEventId = None


class ConversationItemCreate(EventModel):
    """Add an item. Reply: ``conversation.item.added`` + ``.done`` (GA) / ``.created`` (beta).

    ``previous_item_id``: absent or ``null`` appends; ``"root"`` prepends; an unknown id is
    an error.
    """

    type: Literal["conversation.item.create"] = "conversation.item.create"
    event_id: ClientEventId = None
    previous_item_id: str | None = None
    item: ConversationItem


class ConversationItemRetrieve(EventModel):
    """Ask for an item with its audio. Reply: ``conversation.item.retrieved``."""

    type: Literal["conversation.item.retrieve"] = "conversation.item.retrieve"
    event_id: ClientEventId = None
    item_id: str


class ConversationItemDelete(EventModel):
    """Delete an item. Reply: ``conversation.item.deleted``."""

    type: Literal["conversation.item.delete"] = "conversation.item.delete"
    event_id: ClientEventId = None
    item_id: str


class ConversationItemTruncate(EventModel):
    """Cut an assistant audio item at what the user heard. Reply: ``conversation.item.truncated``.

    The session clamps ``audio_end_ms`` to the generated duration (reference §10).
    """

    type: Literal["conversation.item.truncate"] = "conversation.item.truncate"
    event_id: ClientEventId = None
    item_id: str
    content_index: int = Field(ge=0)
    audio_end_ms: int = Field(ge=0)


class ResponseAudioOutputParams(EventModel):
    """Per-response output audio overrides."""

    format: AudioFormat | None = None
    voice: Voice | None = None


class ResponseAudioParams(EventModel):
    """``response.audio``: per-response audio overrides."""

    output: ResponseAudioOutputParams | None = None


class ResponseCreateParams(EventModel):
    """Per-response overrides; ``None`` means "as the session says" (reference §9.1)."""

    conversation: str | None = None
    """``"auto"`` (default conversation), ``"none"`` (out of band, may run in parallel)."""
    input: list[InputItem] | None = None
    """Context for this response instead of the conversation (items or item references)."""
    instructions: str | None = None
    output_modalities: list[Modality] | None = None
    audio: ResponseAudioParams | None = None
    metadata: dict[str, str] | None = Field(None, max_length=16)
    """Up to 16 key/value pairs, echoed in ``response.created`` / ``response.done``."""
    max_output_tokens: MaxOutputTokens | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: ToolChoice | None = None
    voxgate: VoxgateResponseOptions | None = None
    """voxgate's extension (``{"say": "text"}``: speak the text verbatim)."""


class ResponseCreate(EventModel):
    """Start a response.

    Reply: ``response.created`` … ``response.done``, or
    ``conversation_already_has_active_response``.
    """

    type: Literal["response.create"] = "response.create"
    event_id: ClientEventId = None
    response: ResponseCreateParams | None = None


class ResponseCancel(EventModel):
    """Cancel a response (default: the active one).

    Reply: ``response.done`` with status ``cancelled``, or ``response_cancel_not_active``.
    """

    type: Literal["response.cancel"] = "response.cancel"
    event_id: ClientEventId = None
    response_id: str | None = None


ClientEvent = Annotated[
    SessionUpdate
    | InputAudioBufferAppend
    | InputAudioBufferCommit
    | InputAudioBufferClear
    | OutputAudioBufferClear
    | ConversationItemCreate
    | ConversationItemRetrieve
    | ConversationItemDelete
    | ConversationItemTruncate
    | ResponseCreate
    | ResponseCancel,
    Field(discriminator="type"),
]
"""Any GA client event, discriminated by ``type``."""

CLIENT_EVENT_TYPES: frozenset[str] = frozenset(
    m.model_fields["type"].default for m in get_args(get_args(ClientEvent)[0])
)
"""The ``type`` of every member of :data:`ClientEvent` (derived, never hand-kept)."""
