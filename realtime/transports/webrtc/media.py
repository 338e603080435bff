"""A call's media: the assistant's outgoing audio track, and the client's frames as PCM.

:class:`AssistantTrack` is the aiortc track the call sends: every :meth:`~AssistantTrack.recv`
returns one 20 ms 48 kHz mono frame from the call's :class:`~.playout.Playout` (silence when
nothing is queued), paced in real time as aiortc's own ``AudioStreamTrack`` paces (it waits
until the frame is due on a clock started with the first frame), and hands the playout's
transitions to ``on_playout``. aiortc's sender pulls it once the call's media flows.
:func:`mono_pcm` turns a decoded frame of the client's microphone into mono int16.
"""

from __future__ import annotations

import asyncio
import fractions
from collections.abc import Callable

import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame

from engines.base import PCM
from realtime.transports.webrtc.playout import FRAME_SAMPLES, RATE, Playout, Started, Stopped

OnPlayout = Callable[[list[Started | Stopped]], None]
"""Receives the playout transitions a frame caused (on the event loop)."""


class AssistantTrack(MediaStreamTrack):
    """The assistant's voice: frames pulled from a playout, in real time.

    Args:
        playout: Where the audio to play is queued.
        on_playout: Called with the transitions each frame caused (when there are any).
    """

    kind = "audio"

    def __init__(self, playout: Playout, on_playout: OnPlayout) -> None:
        super().__init__()
        self._playout = playout
        self._on_playout = on_playout
        self._start: float | None = None
        self._pts = 0

    async def recv(self) -> AudioFrame:
        """The next frame, once it is due (raises MediaStreamError once stopped)."""
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        else:
            self._pts += FRAME_SAMPLES
            due = self._start + self._pts / RATE
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
        samples, transitions = self._playout.pull(FRAME_SAMPLES)
        if transitions:
            self._on_playout(transitions)
        frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, RATE)
        return frame


def mono_pcm(frame: AudioFrame) -> PCM:
    """A decoded audio frame (any layout, s16 or float) as mono int16 at its own rate."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        mixed = data.reshape(channels, -1).mean(axis=0)
    else:
        mixed = data.reshape(-1, channels).mean(axis=1)
    if frame.format.name.startswith(("flt", "dbl")):
        mixed = mixed * 32767.0
    return np.clip(np.rint(mixed), -32768, 32767).astype(np.int16)
