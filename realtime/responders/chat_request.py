"""A reply request as an OpenAI Chat Completions request body.

The mapping: the session's ``instructions`` become the first system message (a short
spoken-style default when the client gave none); conversation items become messages in
order (user audio by its final transcript, user and assistant text, an assistant audio item
by the transcript of what it said, which truncation cut to what the user heard); consecutive
``function_call`` items become one assistant message's ``tool_calls``, and each
``function_call_output`` a ``tool`` message. ``response.instructions`` replace the
session's for that response, as in OpenAI's API (clients such as LiveKit's send the session
instructions plus their extra line): they are the system message, never text to speak.
Tools, ``tool_choice``, ``temperature`` and the output token limit map one to one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from protocol import (
    AssistantMessage,
    FunctionCall,
    FunctionCallOutput,
    InputAudio,
    InputText,
    OutputAudio,
    OutputText,
    SystemMessage,
    UserMessage,
)
from protocol.items import ConversationItem
from protocol.session import FunctionTool, ToolChoice
from realtime.session.replies import ReplyRequest

Body = dict[str, Any]
Message = dict[str, Any]

SPOKEN_DEFAULT = (
    "You are a helpful voice assistant. Your words are spoken aloud: answer in one to three "
    "short, plain sentences, without lists, markdown or emoji."
)
"""The system prompt when the session has no ``instructions`` and the reply is spoken."""
TEXT_DEFAULT = "You are a helpful assistant. Answer briefly."
"""The system prompt when the session has no ``instructions`` and the reply is text."""


def chat_body(request: ReplyRequest, model: str | None) -> Body:
    """The streaming Chat Completions request that answers ``request`` with ``model``.

    ``model`` None leaves the model out (the backend fills it in).
    """
    body: Body = {
        "messages": messages(request),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if model is not None:
        body["model"] = model
    if request.tools and request.tool_choice != "none":
        body["tools"] = [tool(t) for t in request.tools]
        body["tool_choice"] = tool_choice(request.tool_choice)
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.max_output_tokens is not None:
        body["max_tokens"] = request.max_output_tokens
    return body


def messages(request: ReplyRequest) -> list[Message]:
    """The conversation as chat messages, system prompt first."""
    default = SPOKEN_DEFAULT if request.modality == "audio" else TEXT_DEFAULT
    system = request.extra_instructions or request.instructions or default
    out: list[Message] = [{"role": "system", "content": system}]
    for item in request.items:
        _append(out, item)
    return out


def _append(out: list[Message], item: ConversationItem) -> None:
    """Add ``item`` to ``out`` (function calls join the assistant message before them)."""
    match item:
        case SystemMessage():
            _add_text(out, "system", " ".join(part.text for part in item.content))
        case UserMessage() | AssistantMessage():
            _add_text(out, item.role, _words(item.content))
        case FunctionCall():
            _add_call(out, item)
        case FunctionCallOutput():
            _add_output(out, item)


def _add_text(out: list[Message], role: str, text: str) -> None:
    if text.strip():
        out.append({"role": role, "content": text.strip()})


def _words(parts: Sequence[InputText | InputAudio | OutputText | OutputAudio]) -> str:
    """A message's text and audio transcripts, joined (audio not transcribed says nothing)."""
    texts = [
        part.text if isinstance(part, InputText | OutputText) else (part.transcript or "")
        for part in parts
    ]
    return " ".join(t.strip() for t in texts if t.strip())


def _add_call(out: list[Message], item: FunctionCall) -> None:
    call = {
        "id": item.call_id or item.id or "call",
        "type": "function",
        "function": {"name": item.name, "arguments": item.arguments or "{}"},
    }
    last = out[-1] if out else None
    if last is not None and last["role"] == "assistant" and "tool_calls" in last:
        last["tool_calls"].append(call)
    elif last is not None and last["role"] == "assistant":
        last["tool_calls"] = [call]  # text the model said before calling
    else:
        out.append({"role": "assistant", "content": None, "tool_calls": [call]})


def _add_output(out: list[Message], item: FunctionCallOutput) -> None:
    """A ``tool`` message, or (for a call the conversation no longer has) a system note.

    Chat Completions refuses a ``tool`` message whose call is not in the messages before it.
    """
    called = {
        call["id"]
        for message in out
        if message["role"] == "assistant"
        for call in message.get("tool_calls", ())
    }
    if item.call_id in called:
        out.append({"role": "tool", "tool_call_id": item.call_id, "content": item.output})
    else:
        out.append(
            {"role": "system", "content": f"Function result ({item.call_id}): {item.output}"}
        )


def tool(function: FunctionTool) -> dict[str, Any]:
    """A Realtime function tool as a Chat Completions tool."""
    spec: dict[str, Any] = {"name": function.name}
    if function.description:
        spec["description"] = function.description
    spec["parameters"] = function.parameters or {"type": "object", "properties": {}}
    return {"type": "function", "function": spec}


def tool_choice(choice: ToolChoice) -> str | dict[str, Any]:
    """A Realtime ``tool_choice`` as Chat Completions spells it."""
    if isinstance(choice, str):
        return choice
    return {"type": "function", "function": {"name": choice.name}}
