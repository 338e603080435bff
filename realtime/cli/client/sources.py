"""What the client sends: audio from a file or the microphone, text lines from stdin.

Audio sources are async iterators of 24 kHz pcm16 chunks (little-endian bytes).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import numpy as np

from engines.base import SAMPLE_RATE
from engines.resampling import StreamResampler
from realtime.cli.client.connection import PCM_RATE, ClientError

CHUNK_MS = 20
"""Audio per ``input_audio_buffer.append``."""

TRAILING_SILENCE_S = 1.0
"""Silence appended after a file, so server VAD sees its last utterance end."""

MIC_INSTALL_HINT = (
    "microphone input needs the optional sounddevice package: pip install sounddevice"
)


def file_pcm(path: str | os.PathLike[str]) -> bytes:
    """Decode a media file to 24 kHz mono pcm16 (little-endian bytes).

    Raises:
        AudioDecodeError: the file is not readable audio.
    """
    from engines.audio import decode_file

    samples = decode_file(path).samples
    resampler = StreamResampler(SAMPLE_RATE, PCM_RATE)
    pcm = np.concatenate([resampler.process(samples), resampler.flush()])
    return pcm.astype("<i2").tobytes()


def chunked(pcm: bytes, chunk_ms: int = CHUNK_MS) -> Iterator[bytes]:
    """Split 24 kHz pcm16 bytes into chunks of ``chunk_ms`` (the last may be shorter)."""
    step = PCM_RATE * 2 * chunk_ms // 1000
    for at in range(0, len(pcm), step):
        yield pcm[at : at + step]


async def file_source(
    path: str | os.PathLike[str],
    *,
    speed: float | None = 1.0,
    chunk_ms: int = CHUNK_MS,
    trailing_silence_s: float = TRAILING_SILENCE_S,
) -> AsyncIterator[bytes]:
    """Yield a file as 24 kHz pcm16 chunks, followed by a little silence.

    Args:
        path: Any file FFmpeg decodes.
        speed: Pace relative to real time: 1.0 plays like a live microphone, 10.0 ten
            times faster (scheduled against the loop clock, so the pace does not drift);
            None sends as fast as the consumer takes the chunks.
        chunk_ms: Audio per chunk.
        trailing_silence_s: Silence after the file, so VAD sees the last utterance end.

    Raises:
        AudioDecodeError: the file is not readable audio (raised before the first chunk).
    """
    pcm = await asyncio.to_thread(file_pcm, path)
    pcm += bytes(int(PCM_RATE * trailing_silence_s) * 2)
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent_s = 0.0
    for chunk in chunked(pcm, chunk_ms):
        if speed:
            await asyncio.sleep(max(0.0, start + sent_s / speed - loop.time()))
        yield chunk
        sent_s += len(chunk) / (2 * PCM_RATE)


def require_sounddevice() -> Any:
    """The ``sounddevice`` module, or :class:`ClientError` naming the fix."""
    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # OSError: the package is there, PortAudio is not
        raise ClientError(MIC_INSTALL_HINT) from exc
    return sounddevice


async def microphone_source(
    chunk_ms: int = CHUNK_MS, max_queued: int = 100
) -> AsyncIterator[bytes]:
    """Yield the default microphone as 24 kHz pcm16 chunks until cancelled.

    Args:
        chunk_ms: Audio per chunk.
        max_queued: Chunks held while the consumer is slow; older ones are dropped beyond.

    Raises:
        ClientError: ``sounddevice`` is not installed or no input device opens.
    """
    sd = require_sounddevice()
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue(max_queued)

    def put(chunk: bytes) -> None:
        if queue.full():
            queue.get_nowait()  # keep the newest audio when the consumer falls behind
        queue.put_nowait(chunk)

    def callback(data: Any, frames: int, time: Any, status: Any) -> None:
        loop.call_soon_threadsafe(put, bytes(data))

    try:
        stream = sd.RawInputStream(
            samplerate=PCM_RATE,
            channels=1,
            dtype="int16",
            blocksize=PCM_RATE * chunk_ms // 1000,
            callback=callback,
        )
    except Exception as exc:  # PortAudioError and friends
        raise ClientError(f"cannot open the microphone: {exc}") from exc
    with stream:
        while True:
            yield await queue.get()


async def stdin_lines(prompt: str | None = None) -> AsyncIterator[str]:
    """Yield lines typed or piped on stdin until end of file.

    A daemon thread reads stdin, so a blocked read never keeps the process alive after
    Ctrl-C (``asyncio.to_thread`` would: the loop waits for its threads at shutdown).

    Args:
        prompt: Printed on stderr before each line (for a terminal); None prints nothing.
    """
    import threading

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str] = asyncio.Queue()
    wanted = threading.Semaphore(0)  # one line per request: nothing is read ahead

    def read() -> None:
        while wanted.acquire():
            line = sys.stdin.readline()
            loop.call_soon_threadsafe(queue.put_nowait, line)
            if not line:
                return

    threading.Thread(target=read, name="stdin", daemon=True).start()
    while True:
        if prompt:
            print(prompt, end="", file=sys.stderr, flush=True)
        wanted.release()
        line = await queue.get()
        if not line:
            return
        yield line.rstrip("\n")
