"""Responders that speak given text: ``say`` and ``echo``.

A reply with nothing to say (no instructions and no client assistant text for ``say``, no
transcript for ``echo``) is a :class:`~realtime.session.replies.ReplyFailed` with code
``empty_response``, never a silent empty reply.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from protocol import AssistantMessage, ErrorCode, InputAudio, OutputAudio, OutputText, UserMessage
from realtime.session.replies import ReplyDone, ReplyFailed, ReplyPart, ReplyRequest, TextDelta

NOTHING_TO_SAY = (
    "The say responder has nothing to say: the response has no instructions and the "
    "conversation has no assistant message with text that the client created."
)
NOTHING_TO_ECHO = "The echo responder has nothing to echo: the latest user turn has no transcript."


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


def scripted_parts(text: str, *, empty: str) -> list[ReplyPart]:
    """The reply parts that speak ``text``: one delta, then done.

    Args:
        text: What to speak.
        empty: Why there is nothing to say, should ``text`` be blank.

    Returns:
        ``[TextDelta(text), ReplyDone()]``, or ``[ReplyFailed(empty, code=empty_response)]``
        when ``text`` is blank.
    """
    if not text.strip():
        return [ReplyFailed(empty, code=ErrorCode.EMPTY_RESPONSE)]
    return [TextDelta(text), ReplyDone()]


def say_parts(request: ReplyRequest) -> list[ReplyPart]:
    """``say``'s whole reply to ``request``."""
    return scripted_parts(say_text(request), empty=NOTHING_TO_SAY)


def echo_parts(request: ReplyRequest) -> list[ReplyPart]:
    """``echo``'s whole reply to ``request``."""
    return scripted_parts(echo_text(request), empty=NOTHING_TO_ECHO)


class SayResponder:
    """Speaks ``response.instructions`` or the latest assistant text the client created."""

    reads_transcripts = False

    async def reply(self, request: ReplyRequest) -> AsyncIterator[ReplyPart]:
        """Yield :func:`say_parts`."""
        for part in say_parts(request):
            yield part


class EchoResponder:
    """Speaks the user's last transcript back."""

    reads_transcripts = True

    async def reply(self, request: ReplyRequest) -> AsyncIterator[ReplyPart]:
        """Yield :func:`echo_parts`."""
        for part in echo_parts(request):
            yield part
