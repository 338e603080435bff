"""What a WebRTC call makes of its session's events: audio for the track, events for the client.

A :class:`CallTap` is the call's :data:`~realtime.hosting.hosted.Tap`. As OpenAI does over
WebRTC, ``response.output_audio.delta`` never reaches the data channel: its audio (in the
response's output format) is decoded, resampled to 48 kHz and queued on the call's
:class:`~.playout.Playout`. Every other event goes on, and some also act on the playout:

* ``response.output_audio.done``: the resampler's tail is queued;
* ``response.done``: a completed (or failed) response's audio plays out, then *stops*; a
  cancelled one's queued audio is dropped (``output_audio_buffer.cleared`` follows);
* ``input_audio_buffer.speech_started`` when the session interrupts responses on speech
  (``turn_detection.interrupt_response``): whatever plays is dropped (barge-in also after
  the response completed, while its audio still plays), then ``output_audio_buffer.cleared``;
* ``output_audio_buffer.cleared`` (the session's reply to the client's
  ``output_audio_buffer.clear``): the audio is dropped.

As OpenAI's server does, a cut stops the response (its later audio is dropped; a response
still in progress is cancelled with ``response.cancel``) and truncates its item to what
was played (``conversation.item.truncate``, once the response is done). Those client
events go to the session through ``feed``, from a callback that ``later`` runs after the
current flush (the tap runs inside one). Sans-I/O: no clock, no task; ids come from ``ids``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from engines.resampling import StreamResampler, decode_input, native_rate
from protocol import ServerEvent
from protocol import server_events as ev
from realtime.session.ids import IdFactory
from realtime.transports.webrtc.playout import RATE, Cut, Playout


class CallTap:
    """Routes one call's server events (see the module docstring).

    Args:
        playout: The call's queued assistant audio.
        ids: Makes the ids of the events the tap adds.
        feed: Hands the session a client event (JSON-ready).
        later: Runs a callback after the current flush.
    """

    def __init__(
        self,
        playout: Playout,
        *,
        ids: IdFactory,
        feed: Callable[[dict[str, Any]], None],
        later: Callable[[Callable[[], None]], None],
    ) -> None:
        self._playout = playout
        self._ids = ids
        self._feed = feed
        self._later = later
        self._interrupts = True
        self._formats: dict[str, str] = {}  # response in progress → its audio's format
        self._in_band: set[str] = set()  # responses in progress with conversation items
        self._resamplers: dict[str, StreamResampler] = {}  # response id → to 48 kHz
        self._muted: set[str] = set()  # responses in progress whose audio was cut
        self._truncations: dict[str, Cut] = {}  # cuts waiting for their response to end

    def __call__(self, event: ServerEvent) -> list[ServerEvent]:
        """The events to send in place of ``event``."""
        match event:
            case ev.SessionCreated() | ev.SessionUpdated():
                detection = getattr(event.session.audio.input, "turn_detection", None)
                self._interrupts = bool(getattr(detection, "interrupt_response", False))
            case ev.ResponseCreated():
                self._created(event.response)
            case ev.ResponseOutputAudioDelta():
                if event.response_id not in self._muted:
                    self._queue(event)
                return []
            case ev.ResponseOutputAudioDone():
                resampler = self._resamplers.pop(event.response_id, None)
                if resampler is not None and event.response_id not in self._muted:
                    in_band = event.response_id in self._in_band
                    item_id = event.item_id if in_band else None
                    self._playout.add(event.response_id, item_id, resampler.flush())
            case ev.ResponseDone():
                return [event, *self._response_done(event.response)]
            case ev.InputAudioBufferSpeechStarted() if self._interrupts:
                return [event, *self._cleared(self._playout.clear())]
            case ev.OutputAudioBufferCleared():
                self._cut(self._playout.clear())  # the reply to the client's clear
        return [event]

    def _created(self, response: ev.Response) -> None:
        audio = response.audio
        self._formats[response.id] = audio.output.format.type if audio else "audio/pcm"
        if response.conversation_id is not None:
            self._in_band.add(response.id)

    def _queue(self, event: ev.ResponseOutputAudioDelta) -> None:
        fmt = self._formats.get(event.response_id, "audio/pcm")
        resampler = self._resamplers.get(event.response_id)
        if resampler is None:
            resampler = self._resamplers[event.response_id] = StreamResampler(
                native_rate(fmt), RATE
            )
        pcm = decode_input(base64.b64decode(event.delta), fmt)
        item_id = event.item_id if event.response_id in self._in_band else None  # not truncatable
        self._playout.add(event.response_id, item_id, resampler.process(pcm))

    def _response_done(self, response: ev.Response) -> list[ServerEvent]:
        rid = response.id
        self._formats.pop(rid, None)
        self._resamplers.pop(rid, None)
        self._muted.discard(rid)
        self._in_band.discard(rid)
        cut = self._truncations.pop(rid, None)
        if cut is not None:
            self._later(lambda: self._truncate(cut))
        if response.status == "cancelled":
            return self._cleared(self._playout.clear(rid))
        self._playout.finish(rid)
        return []

    def _cleared(self, cut: Cut | None) -> list[ServerEvent]:
        """``output_audio_buffer.cleared`` for a cut (nothing when nothing was cut)."""
        if cut is None:
            return []
        self._cut(cut)
        return [
            ev.OutputAudioBufferCleared(event_id=self._ids("event"), response_id=cut.response_id)
        ]

    def _cut(self, cut: Cut | None) -> None:
        """Stop the cut response and truncate its item (once the response ended)."""
        if cut is None:
            return
        rid = cut.response_id
        if rid not in self._formats:  # over already
            if cut.item_id is not None:
                self._later(lambda: self._truncate(cut))
            return
        self._muted.add(rid)
        if cut.item_id is not None:
            self._truncations[rid] = cut
        self._later(lambda: self._cancel(rid))

    def _cancel(self, response_id: str) -> None:
        if response_id in self._formats:  # the session did not end it in the meantime
            self._feed({"type": "response.cancel", "response_id": response_id})

    def _truncate(self, cut: Cut) -> None:
        self._feed(
            {
                "type": "conversation.item.truncate",
                "item_id": cut.item_id,
                "content_index": 0,
                "audio_end_ms": cut.played_ms,
            }
        )
