"""What a transport adapter implements to host sessions: a :class:`Channel`, and close reasons.

A transport (the WebSocket endpoint, a WebRTC peer connection) carries one session's
events between a client and a :class:`~realtime.hosting.hosted.HostedSession`. The host
decides *why* a session ends (:class:`CloseReason`); each adapter maps the reason to its
own signal (a WebSocket close code, an HTTP status, a hang-up).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from engines.base import PCM
from protocol import InvalidEvent, ServerEvent

CLOSE_TIMEOUT_S = 5.0
"""The longest a :meth:`Channel.close` may take (waiting for the client's goodbye)."""


class CloseReason(enum.Enum):
    """Why a hosted session ended, independent of the transport."""

    NORMAL = "normal"
    """The client left, or the session ended as agreed."""
    POLICY = "policy"
    """The client broke a rule: it does not read its events, or its initial config is bad."""
    TOO_BIG = "too_big"
    """The client sent a message over the transport's size limit."""
    INTERNAL_ERROR = "internal_error"
    """The session failed on the server's side."""
    RESTART = "restart"
    """The server is shutting down; the client may reconnect."""
    OVERLOADED = "overloaded"
    """Refused: too many sessions (in all, or for the client's key); retry later."""
    EXPIRED = "expired"
    """The session reached its maximum length (``settings.max_session_seconds``)."""


@dataclass(frozen=True, slots=True)
class Closing:
    """How a session ends: the reason, and a message for the client (may be empty)."""

    reason: CloseReason
    message: str = ""


class Refused(Exception):
    """The host would not start a session; ``closing`` says why (the adapter tells the client).

    Attributes:
        closing: The reason and message to answer with.
    """

    def __init__(self, closing: Closing) -> None:
        super().__init__(closing.message)
        self.closing = closing


class SessionInput(Protocol):
    """What a channel feeds: the hosted session's side (:class:`~realtime.hosting.hosted.HostedSession`)."""

    def receive_text(self, text: str) -> None:
        """One client event, as JSON text."""
        ...

    def receive_audio(self, pcm: PCM, rate: int) -> None:
        """Input audio the transport carries natively (mono int16 at ``rate`` Hz)."""
        ...

    def reject(self, error: InvalidEvent) -> None:
        """Report input the transport could not accept (the session stays open)."""
        ...

    def send_event(self, event: ServerEvent) -> None:
        """Send a server event the transport made itself (e.g. WebRTC's playout events)."""
        ...

    def close(self, reason: CloseReason, message: str = "") -> None:
        """End the session (the first reason wins)."""
        ...


class Channel(Protocol):
    """The transport's side of one hosted session; every method runs on the event loop."""

    async def receive(self, session: SessionInput) -> None:
        """Hand the client's input to ``session`` until the client stops sending.

        Feed events with :meth:`SessionInput.receive_text` (and audio carried natively
        with :meth:`SessionInput.receive_audio`); yield to the loop between messages.
        Return when the client closed or the connection failed (after
        :meth:`SessionInput.close` with the reason, for a failure the client caused).
        """
        ...

    async def send(self, text: str) -> None:
        """Write one serialised server event to the client.

        Raises:
            ConnectionError: The client is gone.
        """
        ...

    async def close(self, closing: Closing) -> None:
        """Close the connection for ``closing`` (idempotent; at most CLOSE_TIMEOUT_S).

        Called by the session's own task once it ended, and on shutdown from outside it.
        """
        ...
