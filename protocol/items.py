"""Conversation items and their content parts (GA names).

An item is a ``message`` (role ``system``, ``user`` or ``assistant``), a
``function_call`` or a ``function_call_output``, discriminated by ``type`` and, for
messages, by ``role``. Content part types are GA's: ``input_text`` / ``input_audio`` for
user and system content, ``output_text`` / ``output_audio`` for assistant content. Beta
clients write ``text`` / ``audio`` for assistant parts; :mod:`protocol.beta` renames them in
both directions, and reads any text part name as the role's own (Pipecat sends assistant
``input_text``), so the models here stay strict and items are echoed in GA names.

Items arrive from clients (``conversation.item.create``, ``response.create.input``) with
``id`` and ``status`` usually absent; the session fills them before the item appears in a
server event. ``audio`` payloads are omitted (not ``null``) when an item carries none, as
the reference server does; ``transcript`` is sent as ``null`` until known (legacy clients
index ``content[0].transcript``, reference §7).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from protocol._base import EventModel, OmitNoneModel

__all__ = [
    "AssistantContent",
    "AssistantMessage",
    "ContentPart",
    "ConversationItem",
    "FunctionCall",
    "FunctionCallOutput",
    "InputAudio",
    "InputItem",
    "InputText",
    "ItemReference",
    "ItemStatus",
    "OutputAudio",
    "OutputText",
    "SystemMessage",
    "UserContent",
    "UserMessage",
]

ItemStatus = Literal["completed", "incomplete", "in_progress"]
"""Lifecycle of an item; generated items start ``in_progress``."""


# --- content parts of items ------------------------------------------------------------


class InputText(EventModel):
    """Text typed by the user, or a system message's text."""

    type: Literal["input_text"] = "input_text"
    text: str


class InputAudio(OmitNoneModel):
    """User audio: base64 in the session's input format when sent, and its transcript."""

    __omit_if_none__ = frozenset({"audio"})

    type: Literal["input_audio"] = "input_audio"
    audio: str | None = None
    """Base64 audio; omitted from server events except ``conversation.item.retrieved``."""
    transcript: str | None = None
    """Input transcript; ``null`` until transcription completes."""


class OutputText(EventModel):
    """Assistant text (beta name ``text``)."""

    type: Literal["output_text"] = "output_text"
    text: str


class OutputAudio(OmitNoneModel):
    """Assistant audio (beta name ``audio``) and the transcript of what it says."""

    __omit_if_none__ = frozenset({"audio"})

    type: Literal["output_audio"] = "output_audio"
    audio: str | None = None
    """Base64 audio; omitted from server events except ``conversation.item.retrieved``."""
    transcript: str | None = None
    """What the audio says (for voxgate: the text it synthesised)."""


UserContent = Annotated[InputText | InputAudio, Field(discriminator="type")]
"""A user content part."""
AssistantContent = Annotated[OutputText | OutputAudio, Field(discriminator="type")]
"""An assistant content part."""


# --- items -------------------------------------------------------------------------------


class SystemMessage(EventModel):
    """A system message (text only)."""

    id: str | None = None
    object: Literal["realtime.item"] = "realtime.item"
    type: Literal["message"] = "message"
    status: ItemStatus | None = None
    role: Literal["system"] = "system"
    content: list[InputText]


class UserMessage(EventModel):
    """A user message: typed text and/or audio (committed audio becomes one ``input_audio``)."""

    id: str | None = None
    object: Literal["realtime.item"] = "realtime.item"
    type: Literal["message"] = "message"
    status: ItemStatus | None = None
    role: Literal["user"] = "user"
    content: list[UserContent]


class AssistantMessage(EventModel):
    """An assistant message; generated ones start ``in_progress`` with empty ``content``."""

    id: str | None = None
    object: Literal["realtime.item"] = "realtime.item"
    type: Literal["message"] = "message"
    status: ItemStatus | None = None
    role: Literal["assistant"] = "assistant"
    content: list[AssistantContent]


class FunctionCall(EventModel):
    """A function call (created by clients that run their own LLM and tools)."""

    id: str | None = None
    object: Literal["realtime.item"] = "realtime.item"
    type: Literal["function_call"] = "function_call"
    status: ItemStatus | None = None
    call_id: str | None = None
    name: str
    arguments: str
    """JSON-encoded arguments."""


class FunctionCallOutput(EventModel):
    """The result of a function call, sent by the client."""

    id: str | None = None
    object: Literal["realtime.item"] = "realtime.item"
    type: Literal["function_call_output"] = "function_call_output"
    status: ItemStatus | None = None
    call_id: str
    output: str


class ItemReference(EventModel):
    """A reference to an existing item, only in ``response.create.response.input``."""

    type: Literal["item_reference"] = "item_reference"
    id: str


Message = Annotated[SystemMessage | UserMessage | AssistantMessage, Field(discriminator="role")]

ConversationItem = Annotated[
    Message | FunctionCall | FunctionCallOutput, Field(discriminator="type")
]
"""Any conversation item, discriminated by ``type`` then (messages) ``role``."""

InputItem = Annotated[
    Message | FunctionCall | FunctionCallOutput | ItemReference, Field(discriminator="type")
]
"""An item or an item reference, as ``response.create`` accepts in ``input``."""


# --- content parts of responses ---------------------------------------------------------


class ContentPart(OmitNoneModel):
    """The ``part`` of ``response.content_part.added/done``: ``text`` or ``audio``.

    Fields that do not apply are omitted, never ``null``: an audio part is
    ``{"type": "audio", "transcript": ""}`` (legacy clients append to ``transcript``), a
    text part ``{"type": "text", "text": ""}``.
    """

    __omit_if_none__ = frozenset({"text", "audio", "transcript"})

    type: Literal["text", "audio"]
    text: str | None = None
    audio: str | None = None
    transcript: str | None = None
