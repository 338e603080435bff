"""What the client does with spoken replies: play them, or save them as WAV files.

Whole replies play with :func:`play`; :class:`StreamingPlayer` plays audio as it arrives and
stops at once on barge-in, reporting how much of each item was heard.
"""

from __future__ import annotations

import asyncio
import threading
import wave
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from engines.base import PCM
from realtime.cli.client.connection import PCM_RATE
from realtime.cli.client.sources import require_sounddevice


def write_wav(path: Path, pcm: bytes, rate: int = PCM_RATE) -> Path:
    """Write mono pcm16 bytes to a WAV file; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return path


def output_device() -> Any | None:
    """The ``sounddevice`` module when an output device exists; None otherwise."""
    try:
        sd = require_sounddevice()
        sd.query_devices(kind="output")
    except Exception:  # no package, no PortAudio, or no device
        return None
    return sd


async def play(sd: Any, pcm: bytes, rate: int = PCM_RATE) -> None:
    """Play pcm16 bytes on the default output device and wait until they are done."""
    samples: PCM = np.frombuffer(pcm, "<i2")

    def blocking() -> None:
        sd.play(samples, rate)
        sd.wait()

    await asyncio.to_thread(blocking)


BYTES_PER_MS = PCM_RATE * 2 // 1000
"""pcm16 bytes per millisecond at :data:`PCM_RATE`."""


class PlaybackQueue:
    """Audio waiting to play, item by item, and how much of each has gone to the device.

    Thread-safe: :meth:`pull` runs on the audio device's thread, the rest on the caller's.

    Args:
        on_empty: Called (on the device's thread) when :meth:`pull` takes the last bytes.
    """

    def __init__(self, on_empty: Callable[[], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._queued: deque[tuple[str, bytearray]] = deque()
        self._played: dict[str, int] = {}  # bytes pulled, per item with audio queued
        self._on_empty = on_empty

    @property
    def busy(self) -> bool:
        """Whether any audio is waiting to play."""
        with self._lock:
            return bool(self._queued)

    def feed(self, item_id: str, pcm: bytes) -> None:
        """Queue ``pcm`` (pcm16 bytes) of item ``item_id`` after everything queued before."""
        if not pcm:
            return
        with self._lock:
            if self._queued and self._queued[-1][0] == item_id:
                self._queued[-1][1].extend(pcm)
            else:
                self._queued.append((item_id, bytearray(pcm)))
            self._played.setdefault(item_id, 0)

    def pull(self, size: int) -> bytes:
        """The next ``size`` bytes to play, padded with silence when too little is queued."""
        out = bytearray()
        with self._lock:
            had_audio = bool(self._queued)
            while self._queued and len(out) < size:
                item_id, pcm = self._queued[0]
                piece = pcm[: size - len(out)]
                del pcm[: len(piece)]
                out.extend(piece)
                self._played[item_id] += len(piece)
                if not pcm:
                    self._queued.popleft()
            emptied = had_audio and not self._queued
        if emptied and self._on_empty is not None:
            self._on_empty()
        return bytes(out.ljust(size, b"\0"))

    def stop(self) -> list[tuple[str, int]]:
        """Drop every queued byte; returns ``(item_id, ms pulled)`` of each item cut short.

        The items are those with audio still queued, in order: the one playing (part
        pulled) and any not started yet (0 ms).
        """
        with self._lock:
            cut = [(item_id, self._played[item_id] // BYTES_PER_MS) for item_id, _ in self._queued]
            self._queued.clear()
        return cut


class StreamingPlayer:
    """Plays pcm16 on the default output device as it arrives; a context manager.

    The output stream stays open (silent while nothing is queued) until the ``with`` block
    ends. Use from one event loop.

    Args:
        sd: The ``sounddevice`` module (see :func:`output_device`).
        rate: The sample rate of the audio fed.
    """

    def __init__(self, sd: Any, rate: int = PCM_RATE) -> None:
        self._sd = sd
        self._rate = rate
        self._loop = asyncio.get_running_loop()
        self._idle = asyncio.Event()
        self._idle.set()
        self._queue = PlaybackQueue(on_empty=self._emptied)
        self._stream: Any = None

    def __enter__(self) -> StreamingPlayer:
        self._stream = self._sd.RawOutputStream(
            samplerate=self._rate, channels=1, dtype="int16", callback=self._fill
        )
        self._stream.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stream.close()

    @property
    def playing(self) -> bool:
        """Whether audio is queued to play."""
        return self._queue.busy

    def feed(self, item_id: str, pcm: bytes) -> None:
        """Queue pcm16 bytes of assistant item ``item_id``."""
        self._queue.feed(item_id, pcm)
        if self._queue.busy:
            self._idle.clear()

    def stop(self) -> list[tuple[str, int]]:
        """Silence the queued audio now; ``(item_id, ms heard)`` of each item cut short.

        The ms heard are those sent to the device less its output latency (not yet heard).
        """
        latency_ms = int(1000 * float(self._stream.latency)) if self._stream else 0
        cut = [(item_id, max(0, ms - latency_ms)) for item_id, ms in self._queue.stop()]
        self._idle.set()
        return cut

    async def drain(self) -> None:
        """Wait until everything queued has gone to the device."""
        await self._idle.wait()

    def _fill(self, outdata: Any, frames: int, time: Any, status: Any) -> None:
        outdata[:] = self._queue.pull(len(outdata))

    def _emptied(self) -> None:
        self._loop.call_soon_threadsafe(self._set_idle_unless_fed)

    def _set_idle_unless_fed(self) -> None:
        if not self._queue.busy:
            self._idle.set()
