"""What the client does with spoken replies: play them, or save them as WAV files."""

from __future__ import annotations

import asyncio
import wave
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
