"""The assistant audio a WebRTC call plays, and when each response's audio starts and stops.

Sans-I/O: :class:`Playout` queues 48 kHz mono int16 audio by response, in order. The
call's media track takes one frame at a time (:meth:`Playout.pull`, always a full frame,
silence where nothing is queued), which reports the transitions it caused: a response's
audio *started* with its first sample pulled, and *stopped* once all of it was pulled after
:meth:`Playout.finish` said no more will come. :meth:`Playout.clear` drops queued audio
(barge-in, a cancelled response, ``output_audio_buffer.clear``) and says which response was
cut off and how much of its item had been played: the next pull is silence. Not
thread-safe: use it from the event loop only.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from engines.base import PCM

RATE = 48_000
"""Sample rate of the call's audio (Opus)."""
FRAME_SAMPLES = RATE // 50
"""One 20 ms frame."""


@dataclass(frozen=True, slots=True)
class Started:
    """A response's audio started playing."""

    response_id: str


@dataclass(frozen=True, slots=True)
class Stopped:
    """A response's audio finished playing (all of it, after :meth:`Playout.finish`)."""

    response_id: str


@dataclass(frozen=True, slots=True)
class Cut:
    """Audio of a response was dropped before it played.

    Attributes:
        response_id: The response whose audio was dropped.
        item_id: The item that was playing or next to play (None: not known).
        played_ms: How much of that item's audio had been played.
    """

    response_id: str
    item_id: str | None
    played_ms: int


@dataclass(slots=True)
class _Segment:
    response_id: str
    item_id: str | None
    samples: PCM


@dataclass(slots=True)
class _Playing:
    response_id: str
    item_id: str | None = None
    played: int = 0  # samples of item_id pulled


class Playout:
    """Queued assistant audio, pulled frame by frame by the call's media track."""

    def __init__(self) -> None:
        self._queue: deque[_Segment] = deque()
        self._offset = 0  # samples of the head segment already pulled
        self._playing: _Playing | None = None
        self._finished: set[str] = set()  # responses that will add no more audio

    @property
    def queued_samples(self) -> int:
        """Samples waiting to be pulled."""
        return sum(len(s.samples) for s in self._queue) - self._offset

    @property
    def playing(self) -> str | None:
        """The response whose audio started and has not stopped or been cut (None: none)."""
        return self._playing.response_id if self._playing is not None else None

    def add(self, response_id: str, item_id: str | None, samples: PCM) -> None:
        """Queue audio of ``response_id`` (of its item ``item_id``) after what is queued."""
        if len(samples):
            self._queue.append(_Segment(response_id, item_id, samples))

    def finish(self, response_id: str) -> None:
        """``response_id`` adds no more audio: it stops once what is queued has played."""
        if self.playing == response_id or any(s.response_id == response_id for s in self._queue):
            self._finished.add(response_id)

    def pull(self, count: int = FRAME_SAMPLES) -> tuple[PCM, list[Started | Stopped]]:
        """The next ``count`` samples (silence-padded) and the transitions they caused."""
        out = np.zeros(count, dtype=np.int16)
        events: list[Started | Stopped] = []
        filled = 0
        while filled < count and self._queue:
            head = self._queue[0]
            playing = self._playing
            if playing is None or playing.response_id != head.response_id:
                if playing is not None:
                    events.append(self._stop(playing.response_id))
                playing = self._playing = _Playing(head.response_id)
                events.append(Started(head.response_id))
            if playing.item_id != head.item_id:
                playing.item_id, playing.played = head.item_id, 0
            take = min(count - filled, len(head.samples) - self._offset)
            out[filled : filled + take] = head.samples[self._offset : self._offset + take]
            filled += take
            playing.played += take
            self._offset += take
            if self._offset == len(head.samples):
                self._queue.popleft()
                self._offset = 0
        done = self._playing is not None and self._playing.response_id in self._finished
        if done and not self._queue:
            assert self._playing is not None
            events.append(self._stop(self._playing.response_id))
        return out, events

    def clear(self, response_id: str | None = None) -> Cut | None:
        """Drop the queued audio of ``response_id`` (None: the current response's).

        Returns:
            What was cut off, or None when that response had nothing queued or playing.
        """
        playing = self._playing
        target = response_id
        if target is None:
            target = playing.response_id if playing else None
            target = target or (self._queue[0].response_id if self._queue else None)
        if target is None:
            return None
        was_playing = playing is not None and playing.response_id == target
        queued = [s for s in self._queue if s.response_id == target]
        if not was_playing and not queued:
            return None
        if was_playing:
            assert playing is not None
            cut = Cut(target, playing.item_id, playing.played * 1000 // RATE)
            self._playing = None
        else:
            cut = Cut(target, queued[0].item_id, 0)
        if queued:
            if self._queue[0].response_id == target:
                self._offset = 0
            self._queue = deque(s for s in self._queue if s.response_id != target)
        self._finished.discard(target)
        return cut

    def _stop(self, response_id: str) -> Stopped:
        self._finished.discard(response_id)
        self._playing = None
        return Stopped(response_id)
