"""One WebRTC call: a peer connection carrying one hosted session.

A :class:`Call` is the session's :class:`~realtime.hosting.channel.Channel`. Into the
session go the client's microphone (the first audio track of the offer, decoded by aiortc,
mixed to mono: :meth:`SessionInput.receive_audio` at the frame's rate) and the JSON events
of the ``oai-events`` data channel the client opens. Out go the session's events on that
data channel (each :meth:`Call.send` waits until it is open; an offer without a data
channel makes a media-only call, whose events are dropped) and its speech on the call's
:class:`~.media.AssistantTrack`, routed by the call's :class:`~.tap.CallTap`.

The call ends (:meth:`Call.receive` returns) when the peer connection fails or closes, the
data channel closes, or ICE has not connected within ``connect_timeout_s``; the host then
closes it (:meth:`Call.close`: the peer connection, its sockets and its tasks). A hang-up
(:meth:`Call.hang_up`) ends the session the same way. Every method runs on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from aiortc import MediaStreamTrack, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.exceptions import InvalidStateError
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame

from protocol import InvalidEvent
from protocol import server_events as ev
from realtime.hosting.channel import CLOSE_TIMEOUT_S, CloseReason, Closing, SessionInput
from realtime.session.ids import random_ids
from realtime.transports.webrtc.ice import IcePolicy
from realtime.transports.webrtc.media import AssistantTrack, mono_pcm
from realtime.transports.webrtc.playout import Playout, Started, Stopped
from realtime.transports.webrtc.tap import CallTap

log = logging.getLogger(__name__)

EVENTS_LABEL = "oai-events"
"""The data channel that carries the realtime events (the client creates it)."""
HIGH_WATER_BYTES = 1024 * 1024
"""Event bytes buffered on the data channel before :meth:`Call.send` waits."""
LOW_WATER_BYTES = 256 * 1024
"""…until the buffer drains below this."""


class Call:
    """A peer connection and the session it carries (see the module docstring).

    Args:
        call_id: The call's id (``rtc_…``), as the ``Location`` of its answer names it.
        key_id: The API key that placed the call (only it may hang up).
        pc: A fresh peer connection (the call owns it from here).
        connect_timeout_s: How long ICE may take to connect before the call ends.
    """

    def __init__(
        self, call_id: str, key_id: str, pc: RTCPeerConnection, *, connect_timeout_s: float
    ) -> None:
        self.id = call_id
        self.key_id = key_id
        self.connected = asyncio.Event()
        """Set once ICE and DTLS connected."""
        self._pc = pc
        self._connect_timeout_s = connect_timeout_s
        self._playout = Playout()
        self.track = AssistantTrack(self._playout, self._on_playout)
        self.tap = CallTap(self._playout, ids=random_ids, feed=self._feed, later=self._later)
        self._microphone: MediaStreamTrack | None = None
        self._events: RTCDataChannel | None = None
        self._opened: asyncio.Future[RTCDataChannel | None] = (
            asyncio.get_running_loop().create_future()
        )
        self._drained = asyncio.Event()
        self._drained.set()
        self._ended = asyncio.Event()
        self._session: SessionInput | None = None
        self._early: list[str] = []  # events the client sent before the session started
        pc.on("track", self._on_track)
        pc.on("datachannel", self._on_datachannel)
        pc.on("connectionstatechange", self._on_state)

    # --- signalling --------------------------------------------------------------------------

    async def answer(self, offer: str, ice: IcePolicy) -> str:
        """Apply the client's SDP offer; return the SDP answer (candidates included).

        Raises:
            Exception: aiortc refused the offer (the caller answers 400 and closes).
        """
        await self._pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        audio = [t for t in self._pc.getTransceivers() if t.kind == "audio"]
        if not audio:
            raise ValueError("the offer has no audio section")
        for transceiver in self._pc.getTransceivers():
            if transceiver is not audio[0]:
                transceiver.direction = "inactive"  # one voice; video is not read
        self._pc.addTrack(self.track)
        if self._pc.sctp is None:  # no data channel offered: the events go nowhere
            self._resolve_opened(None)
        ice.apply(self._pc)
        await self._pc.setLocalDescription(await self._pc.createAnswer())
        return self._pc.localDescription.sdp

    def hang_up(self) -> None:
        """End the call (its session closes NORMAL; the host then closes the connection)."""
        if self._session is not None:
            self._session.close(CloseReason.NORMAL, "hung up")
        self._end()

    # --- the Channel -------------------------------------------------------------------------

    async def receive(self, session: SessionInput) -> None:
        """Feed the client's audio and events to ``session`` until the call ends."""
        self._session = session
        for text in self._early:
            session.receive_text(text)
        self._early.clear()
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(self._deadline(), name="ice deadline")]
            if self._microphone is not None:
                tasks.append(group.create_task(self._listen(session, self._microphone)))
            await self._ended.wait()
            for task in tasks:
                task.cancel()

    async def send(self, text: str) -> None:
        """Send one event on the data channel (waits until it opens, or drains).

        Raises:
            ConnectionError: The call ended, or the client closed the data channel.
        """
        channel = self._events
        if channel is None or channel.readyState != "open":
            channel = await asyncio.shield(self._opened)
        if channel is None:
            if self._ended.is_set():
                raise ConnectionError("the call ended")
            return  # a call without a data channel: media only
        try:
            channel.send(text)
        except InvalidStateError as exc:
            raise ConnectionError("the data channel is closed") from exc
        if channel.bufferedAmount > HIGH_WATER_BYTES:
            self._drained.clear()
            await self._drained.wait()

    async def close(self, closing: Closing) -> None:
        """Close the peer connection (idempotent; at most CLOSE_TIMEOUT_S)."""
        if not self._ended.is_set():
            log.info("WebRTC call %s closing (%s)", self.id, closing.reason.value)
        self._end()
        self._playout.clear()
        self.track.stop()
        try:
            await asyncio.wait_for(self._pc.close(), CLOSE_TIMEOUT_S)
        except Exception:
            log.exception("closing the peer connection of call %s failed", self.id)

    # --- inside the call ---------------------------------------------------------------------

    async def _deadline(self) -> None:
        try:
            await asyncio.wait_for(self.connected.wait(), self._connect_timeout_s)
        except TimeoutError:
            log.info(
                "WebRTC call %s: ICE did not connect within %gs", self.id, self._connect_timeout_s
            )
            self._end()

    async def _listen(self, session: SessionInput, microphone: MediaStreamTrack) -> None:
        """Hand each decoded microphone frame to the session (until the track ends)."""
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await microphone.recv()
                if isinstance(frame, AudioFrame):
                    session.receive_audio(mono_pcm(frame), frame.sample_rate)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio" and self._microphone is None:
            self._microphone = track

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label != EVENTS_LABEL or self._events is not None:
            return
        self._events = channel
        channel.bufferedAmountLowThreshold = LOW_WATER_BYTES
        channel.on("message", self._on_message)
        channel.on("bufferedamountlow", self._drained.set)
        channel.on("close", self._end)
        if channel.readyState == "open":
            self._resolve_opened(channel)
        else:
            channel.on("open", lambda: self._resolve_opened(channel))

    def _on_message(self, message: str | bytes) -> None:
        session = self._session
        if isinstance(message, bytes):
            if session is not None:
                session.reject(InvalidEvent("Binary messages are not supported: send JSON text."))
        elif session is None:
            self._early.append(message)
        else:
            session.receive_text(message)

    def _on_state(self) -> None:
        state = self._pc.connectionState
        if state == "connected":
            self.connected.set()
        elif state in ("failed", "closed"):
            self._end()

    def _on_playout(self, transitions: list[Started | Stopped]) -> None:
        session = self._session
        if session is None:
            return
        for change in transitions:
            if isinstance(change, Started):
                event: ev.ServerEvent = ev.OutputAudioBufferStarted(
                    event_id=random_ids("event"), response_id=change.response_id
                )
            else:
                event = ev.OutputAudioBufferStopped(
                    event_id=random_ids("event"), response_id=change.response_id
                )
            session.send_event(event)

    def _later(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` soon, after the session's current flush."""
        asyncio.get_running_loop().call_soon(callback)

    def _feed(self, event: dict[str, Any]) -> None:
        """A client event the call makes for the session (the tap's cancel and truncate)."""
        if self._session is not None and not self._ended.is_set():
            self._session.receive_text(json.dumps(event))

    def _resolve_opened(self, channel: RTCDataChannel | None) -> None:
        if not self._opened.done():
            self._opened.set_result(channel)

    def _end(self) -> None:
        self._ended.set()
        self._resolve_opened(None)
        self._drained.set()
