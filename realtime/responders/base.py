"""The responder interface."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from realtime.session.replies import ReplyPart, ReplyRequest


class Responder(Protocol):
    """Answers responses, one reply stream per response.

    ``reply`` is called on the event loop for each response and iterated there by the
    runner; blocking work (a local model) must run off the loop (``asyncio.to_thread`` or
    the inference scheduler). The stream yields text and function-call deltas in order and
    ends with exactly one ``ReplyDone`` or ``ReplyFailed``; an exception counts as a
    failure (logged, shown to the client without its details). The runner closes the
    stream (``aclose``) when the response is cancelled (barge-in, ``response.cancel``):
    release the request (an HTTP stream, a decode) in ``finally``.

    Attributes:
        reads_transcripts: The replies depend on user transcripts: the session waits for
            the latest user turn's final transcript before asking.
    """

    reads_transcripts: bool

    def reply(self, request: ReplyRequest) -> AsyncIterator[ReplyPart]:
        """Stream the reply to ``request``."""
        ...
