"""One session as a transport sees it: events in, serialised events out, one close reason.

A :class:`HostedSession` runs a :class:`~realtime.hosting.runner.SessionRunner` beside its
transport's :class:`~realtime.hosting.channel.Channel`: a reader task hands the client's
input to the runner, a writer task sends the server's events from a bounded queue, and a
timer ends the session at its maximum length. The first :meth:`HostedSession.close` wins;
it stops the runner, and the session's own task then closes the channel. A transport may
*tap* the session's events (see :data:`Tap`) and send events of its own
(:meth:`HostedSession.send_event`), as WebRTC does with the audio it plays on its track.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from engines.base import PCM
from protocol import InvalidEvent, ServerEvent, dump_server_event
from protocol.codec import Dialect
from realtime.hosting.channel import Channel, CloseReason, Closing
from realtime.hosting.runner import SessionRunner
from realtime.server.metrics import SessionObserver

log = logging.getLogger(__name__)

OUTBOUND_QUEUE = 2_000
"""Server events waiting for a slow client before it is disconnected (POLICY)."""

OpenRunner = Callable[[Callable[[ServerEvent], None]], SessionRunner]
"""Builds the session's runner from its ``emit`` callback."""

Tap = Callable[[ServerEvent], Sequence[ServerEvent]]
"""A transport's hook on each server event before it is sent: returns the events to send
in its place, in order (the event itself, nothing, or more). Runs on the event loop inside
the runner's flush, so it must not feed the session synchronously."""


class HostedSession:
    """One session between a transport's channel and its runner.

    Args:
        channel: The transport's side of the session.
        open_runner: Builds the runner, given this session's ``emit``.
        dialect: The protocol dialect events are serialised in.
        observer: Watches the server events that are sent (metrics).
        max_seconds: The session's maximum length (EXPIRED after it).
        tap: The transport's hook on the session's events (None: send them all as they are).
    """

    def __init__(
        self,
        channel: Channel,
        open_runner: OpenRunner,
        *,
        dialect: Dialect,
        observer: SessionObserver,
        max_seconds: float,
        tap: Tap | None = None,
    ) -> None:
        self.channel = channel
        self.ended = asyncio.Event()
        """Set once the host has finished with the session."""
        self._dialect = dialect
        self._observer = observer
        self._max_seconds = max_seconds
        self._tap = tap
        self._outbound: asyncio.Queue[str | None] = asyncio.Queue(OUTBOUND_QUEUE)
        self._closing: Closing | None = None
        self.runner = open_runner(self._emit)

    @property
    def closing(self) -> Closing | None:
        """Why the session ends, once something asked it to (None until then)."""
        return self._closing

    # --- from the transport ------------------------------------------------------------------

    def receive_text(self, text: str) -> None:
        """One client event, as JSON text."""
        self.runner.receive_text(text)

    def receive_audio(self, pcm: PCM, rate: int) -> None:
        """Input audio the transport carries natively (mono int16 at ``rate`` Hz)."""
        self.runner.receive_audio(pcm, rate)

    def reject(self, error: InvalidEvent) -> None:
        """Input the transport could not turn into an event: tell the client, carry on."""
        self.runner.session.receive_invalid_event(error)
        self.runner.flush()

    def close(self, reason: CloseReason, message: str = "") -> None:
        """End the session (the first reason wins; later calls do nothing)."""
        if self._closing is None:
            self._closing = Closing(reason, message)
            self.runner.stop()

    # --- the session's life ------------------------------------------------------------------

    async def run(self) -> Closing:
        """Run the session until it closes; close the channel; return why it ended."""
        try:
            async with asyncio.TaskGroup() as group:
                writer = group.create_task(self._write())
                reader = group.create_task(self._read())
                timer = group.create_task(self._expire())
                await self.runner.run()
                reader.cancel()
                timer.cancel()
                with contextlib.suppress(asyncio.QueueFull):
                    self._outbound.put_nowait(None)  # let the writer drain what is queued
                if self._closing is not None and self._closing.reason is not CloseReason.NORMAL:
                    writer.cancel()
        except* Exception:
            log.exception("realtime session failed")
            self._closing = Closing(CloseReason.INTERNAL_ERROR, "internal error")
        closing = self._closing or Closing(CloseReason.NORMAL)
        await self.channel.close(closing)
        return closing

    def send_event(self, event: ServerEvent) -> None:
        """Queue one server event for the client (the transport's own events go this way)."""
        text = dump_server_event(event, self._dialect)
        if text is None:
            return
        self._observer.server_event(event)
        try:
            self._outbound.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("closing a realtime session whose client does not read its events")
            self.close(CloseReason.POLICY, "client is not reading events")

    def _emit(self, event: ServerEvent) -> None:
        if self._tap is None:
            self.send_event(event)
            return
        replacement = self._tap(event)
        if not any(sent is event for sent in replacement):
            self._observer.server_event(event)  # carried another way (metrics count it)
        for sent in replacement:
            self.send_event(sent)

    async def _write(self) -> None:
        try:
            while (text := await self._outbound.get()) is not None:
                await self.channel.send(text)
        except ConnectionError:  # the client went away; the reader ends the session
            self.close(CloseReason.NORMAL)

    async def _read(self) -> None:
        await self.channel.receive(self)
        self.close(CloseReason.NORMAL)

    async def _expire(self) -> None:
        await asyncio.sleep(self._max_seconds)
        self.close(
            CloseReason.EXPIRED,
            f"Your session hit the maximum duration of {self._max_seconds} seconds.",
        )
