"""The responder seam: what a response asks a responder for, and the parts it gets back.

The session builds a :class:`ReplyRequest` (a snapshot of the conversation and the
response's settings) and emits it in a ``GenerateReply`` command. A responder (``say``,
``echo``, an LLM; see :mod:`realtime.responders`) answers with a stream of
:data:`ReplyPart`, which the runner hands back to ``Session.receive_reply_part`` in order.
The stream ends with exactly one :class:`ReplyDone` or :class:`ReplyFailed`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from protocol.items import ConversationItem
from protocol.session import FunctionTool, ToolChoice


@dataclass(frozen=True, slots=True)
class ReplyRequest:
    """A snapshot of everything a responder may use to answer.

    Attributes:
        response_id: The response being generated.
        instructions: The session's instructions (a system prompt).
        extra_instructions: ``response.instructions`` of this response, if any.
        items: The conversation in order, or the response's own ``input`` when it is out of
            band (``conversation: "none"``). User audio turns carry their final transcripts.
        tools: Functions the client offers.
        tool_choice: How the model may pick tools.
        temperature: Sampling temperature, if the client set one.
        max_output_tokens: Token limit; None for no limit.
        modality: ``"audio"`` (the text is spoken) or ``"text"``.
        latest_user_item_id: The user audio turn this response follows, if any.
        generated_item_ids: Assistant items that responses of this session produced (as
            opposed to items the client created).
    """

    response_id: str
    instructions: str = ""
    extra_instructions: str | None = None
    items: tuple[ConversationItem, ...] = ()
    tools: tuple[FunctionTool, ...] = ()
    tool_choice: ToolChoice = "auto"
    temperature: float | None = None
    max_output_tokens: int | None = None
    modality: Literal["audio", "text"] = "audio"
    latest_user_item_id: str | None = None
    generated_item_ids: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class TextDelta:
    """More of the assistant's message text (spoken when the response has audio)."""

    text: str


@dataclass(frozen=True, slots=True)
class FunctionCallDelta:
    """More of a function call's JSON arguments; the first delta of a call names it.

    Attributes:
        call_id: Identifies the call (the client answers with a ``function_call_output``).
        name: The function's name.
        arguments: The next piece of the arguments' JSON text.
    """

    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of a reply, when the responder knows them."""

    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True, slots=True)
class ReplyDone:
    """The reply is complete."""

    usage: Usage | None = None


@dataclass(frozen=True, slots=True)
class ReplyFailed:
    """The responder could not answer; ``message`` is safe to show the client.

    Attributes:
        message: Why, for the client.
        code: ``None`` for a server error. An :class:`~protocol.ErrorCode` when the request
            is at fault (``empty_response``: nothing to say): a client's ``response.create``
            then fails as an ``invalid_request_error`` naming its event, and an automatic
            response completes with no output instead.
    """

    message: str
    code: str | None = None


ReplyPart = TextDelta | FunctionCallDelta | ReplyDone | ReplyFailed
"""One piece of a reply stream."""
