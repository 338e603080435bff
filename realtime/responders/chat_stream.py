"""Streamed Chat Completions chunks as reply parts.

:class:`ChunkReader` reads ``chat.completion.chunk`` objects (as dicts, in order) and
yields :data:`~realtime.session.replies.ReplyPart`: content as text deltas, tool calls as
function-call deltas (the first delta of a call carries its id and name; later chunks of
the same ``index`` add argument text), and the usage chunk as the reply's token counts. A
refusal, a tool the client did not offer, or a chunk without the expected shape fails the
reply with a message safe to show the client.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from realtime.session.replies import FunctionCallDelta, ReplyFailed, ReplyPart, TextDelta, Usage


class MalformedChunk(Exception):
    """The endpoint streamed something that is not a chat completion chunk."""


@dataclass
class _Call:
    call_id: str
    name: str


@dataclass
class ChunkReader:
    """Turns one reply's chunks into reply parts.

    Args:
        offered: The names of the functions the client offered.

    Attributes:
        usage: Token counts, once the usage chunk arrived.
        finish_reason: Why the model stopped, once it did.
        failed: The reply failed (a :class:`ReplyFailed` was yielded).
    """

    offered: frozenset[str]
    usage: Usage | None = None
    finish_reason: str | None = None
    failed: bool = False
    _calls: dict[int, _Call] = field(default_factory=dict)

    def read(self, chunk: dict[str, Any]) -> Iterator[ReplyPart]:
        """The parts of ``chunk``. Raises :class:`MalformedChunk` on an unexpected shape."""
        if not isinstance(chunk, dict):
            raise MalformedChunk("a chunk that is not a JSON object")
        if chunk.get("error"):
            self.failed = True
            yield ReplyFailed(f"The language model failed: {_error_text(chunk['error'])}")
            return
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.usage = Usage(
                input_tokens=int(usage.get("prompt_tokens") or 0),
                output_tokens=int(usage.get("completion_tokens") or 0),
            )
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            raise MalformedChunk("a chunk without choices")
        for choice in choices[:1]:  # n = 1
            yield from self._choice(choice)

    def _choice(self, choice: Any) -> Iterator[ReplyPart]:
        if not isinstance(choice, dict):
            raise MalformedChunk("a choice that is not a JSON object")
        delta = choice.get("delta") or {}
        if delta.get("refusal"):
            self.failed = True
            yield ReplyFailed(f"The language model refused: {delta['refusal']}")
            return
        if delta.get("content"):
            yield TextDelta(str(delta["content"]))
        for call in delta.get("tool_calls") or ():
            part = self._call_delta(call)
            if isinstance(part, ReplyFailed):
                self.failed = True
                yield part
                return
            yield part
        if choice.get("finish_reason"):
            self.finish_reason = str(choice["finish_reason"])
            if self.finish_reason == "content_filter":
                self.failed = True
                yield ReplyFailed("The language model's content filter stopped the answer.")

    def _call_delta(self, call: Any) -> FunctionCallDelta | ReplyFailed:
        if not isinstance(call, dict):
            raise MalformedChunk("a tool call that is not a JSON object")
        function = call.get("function") or {}
        index = int(call.get("index") or 0)
        known = self._calls.get(index)
        if known is None:
            name = function.get("name")
            if not name:
                raise MalformedChunk("a tool call without a function name")
            if name not in self.offered:
                return ReplyFailed(f"The language model called an unknown function {name!r}.")
            call_id = call.get("id") or new_call_id()
            known = self._calls[index] = _Call(call_id=str(call_id), name=str(name))
        return FunctionCallDelta(known.call_id, known.name, str(function.get("arguments") or ""))


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error.get("type") or "unknown error")
    return str(error)


def new_call_id() -> str:
    """A call id for a tool call the model gave without one."""
    return f"call_{secrets.token_hex(12)}"
