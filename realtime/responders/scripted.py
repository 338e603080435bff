"""Responders that speak given text: ``say`` and ``echo``."""

from __future__ import annotations

from collections.abc import AsyncIterator

from protocol import AssistantMessage, InputAudio, OutputAudio, OutputText, UserMessage
from realtime.session.replies import ReplyDone, ReplyPart, ReplyRequest, TextDelta


def say_text(request: ReplyRequest) -> str:
    """``say``: the response's instructions, else the client's latest assistant message."""
    if request.extra_instructions:
        return request.extra_instructions
    for item in reversed(request.items):
        if isinstance(item, AssistantMessage) and item.id not in request.generated_item_ids:
            texts = [c.text for c in item.content if isinstance(c, OutputText)]
            texts += [c.transcript or "" for c in item.content if isinstance(c, OutputAudio)]
            return " ".join(t for t in texts if t).strip()
    return ""


def echo_text(request: ReplyRequest) -> str:
    """``echo``: the transcript of the latest user turn."""
    wanted = request.latest_user_item_id
    for item in request.items:
        if isinstance(item, UserMessage) and item.id == wanted:
            return " ".join(
                (c.transcript or "") if isinstance(c, InputAudio) else c.text for c in item.content
            ).strip()
    return ""


def scripted_parts(text: str) -> list[ReplyPart]:
    """The reply parts that speak ``text``: one delta (none when blank), then done."""
    parts: list[ReplyPart] = [TextDelta(text)] if text.strip() else []
    return [*parts, ReplyDone()]


class SayResponder:
    """Speaks ``response.instructions`` or the latest assistant text the client created."""

    reads_transcripts = False

    async def reply(self, request: ReplyRequest) -> AsyncIterator[ReplyPart]:
        """Yield :func:`say_text` as one delta."""
        for part in scripted_parts(say_text(request)):
            yield part


class EchoResponder:
    """Speaks the user's last transcript back."""

    reads_transcripts = True

    async def reply(self, request: ReplyRequest) -> AsyncIterator[ReplyPart]:
        """Yield :func:`echo_text` as one delta."""
        for part in scripted_parts(echo_text(request)):
            yield part
