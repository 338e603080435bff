"""Audio utilities: sample-format conversion, resampling and file decoding.

Everything returns mono int16 PCM (:data:`engines.base.PCM`) unless the name says float.
Resampling uses soxr (high quality); decoding uses PyAV, so any container and codec FFmpeg
reads works: wav, flac, mp3, ogg/opus, m4a/aac, webm.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import soxr

from engines.base import PCM, SAMPLE_RATE
from engines.errors import AudioDecodeError, AudioTooLong

if TYPE_CHECKING:
    from av import AudioFrame

FloatAudio = npt.NDArray[np.float32]


def int16_to_float32(samples: PCM) -> FloatAudio:
    """Scale int16 PCM to float32 in [-1, 1)."""
    return samples.astype(np.float32) * np.float32(1 / 32768)


def float_to_int16(samples: npt.NDArray[np.floating]) -> PCM:
    """Scale float audio in [-1, 1] to int16, rounding and clipping out-of-range values."""
    scaled = np.rint(np.asarray(samples, dtype=np.float32) * 32768.0)
    return np.clip(scaled, -32768, 32767).astype(np.int16)


def resample(samples: PCM, from_rate: int, to_rate: int) -> PCM:
    """Resample a whole int16 signal with soxr (HQ); returns the input when rates match."""
    if from_rate == to_rate or len(samples) == 0:
        return samples
    return soxr.resample(samples, from_rate, to_rate, quality="HQ")


@dataclass(frozen=True, slots=True)
class DecodedAudio:
    """A decoded recording.

    Attributes:
        samples: Mono int16 at SAMPLE_RATE.
        codec: The source codec as FFmpeg names it (``"flac"``, ``"pcm_s16le"``, ``"mp3"``…).
        container: The container format (``"wav"``, ``"ogg"``, ``"mov,mp4,m4a,3gp,3g2,mj2"``…).
        source_rate: The source sample rate.
        source_channels: The source channel count (downmixed to mono here).
    """

    samples: PCM
    codec: str
    container: str
    source_rate: int
    source_channels: int

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / SAMPLE_RATE


MIN_SOURCE_RATE = 1_000
"""Lowest source sample rate :func:`decode_file` accepts. Lower rates only come from damaged
headers, and upsampling them multiplies the data (a 1 Hz WAV grows 16,000-fold)."""


def decode_file(
    source: str | os.PathLike[str] | bytes, *, max_seconds: float | None = None
) -> DecodedAudio:
    """Decode the first audio stream of a file (or its bytes) to 16 kHz mono int16.

    Channels are averaged by FFmpeg's downmix; resampling is streamed through soxr, so
    memory stays proportional to the 16 kHz output, not the source.

    Args:
        source: A path, or the file's bytes.
        max_seconds: Longest decoded length accepted. Counted on the decoded samples (a
            header's declared duration is not trusted), and decoding stops at the first
            frame past it, so a small compressed file of hours of silence costs at most
            ``max_seconds`` of samples. None: no limit (trusted, local files).

    Raises:
        AudioTooLong: the decoded audio passed ``max_seconds`` (an AudioDecodeError).
        AudioDecodeError: not a readable media file, no audio stream, an unsupported codec
            or a sample rate below :data:`MIN_SOURCE_RATE`, or no samples.
    """
    import av  # PyAV pulls in FFmpeg; import lazily so light tools stay light

    opened: str | io.BytesIO = (
        io.BytesIO(source) if isinstance(source, bytes | bytearray) else os.fspath(source)
    )
    label = "upload" if isinstance(opened, io.BytesIO) else Path(opened).name
    try:
        with av.open(opened, mode="r") as container:
            stream = next(iter(container.streams.audio), None)
            if stream is None:
                raise AudioDecodeError(f"{label}: no audio stream found")
            if stream.codec_context is None:  # e.g. a WAV whose format tag FFmpeg lacks
                raise AudioDecodeError(f"{label}: unsupported audio codec")
            codec = stream.codec_context.codec.canonical_name  # "mp3", not decoder "mp3float"
            rate = stream.codec_context.sample_rate or stream.rate
            if not rate or rate < MIN_SOURCE_RATE:  # a damaged header; 1 Hz would be a bomb
                raise AudioDecodeError(f"{label}: unsupported sample rate ({rate} Hz)")
            channels = stream.codec_context.channels
            to_mono = av.AudioResampler(format="flt", layout="mono", rate=rate)
            to_16k = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
            pieces: list[PCM] = []
            limit_s = math.inf if max_seconds is None else float(max_seconds)
            decoded = 0
            for frame in container.decode(stream):
                for mono in to_mono.resample(frame):
                    pieces.append(float_to_int16(to_16k.resample_chunk(_plane(mono))))
                    decoded += len(pieces[-1])
                if decoded > limit_s * SAMPLE_RATE:  # stop now: never decode the rest
                    raise AudioTooLong(
                        f"{label}: the audio is longer than the limit of {limit_s:g} s "
                        "(max_audio_seconds)",
                        limit_s=limit_s,
                    )
            for mono in to_mono.resample(None):
                pieces.append(float_to_int16(to_16k.resample_chunk(_plane(mono))))
            pieces.append(float_to_int16(to_16k.resample_chunk(np.zeros(0, np.float32), last=True)))
            format_name = container.format.name
    except AudioDecodeError:
        raise
    except (av.FFmpegError, ValueError, OSError, IndexError) as exc:
        raise AudioDecodeError(f"{label}: not decodable audio ({_reason(exc)})") from exc
    samples = np.concatenate(pieces) if pieces else np.zeros(0, np.int16)
    if len(samples) == 0:
        raise AudioDecodeError(f"{label}: the file holds no audio samples")
    return DecodedAudio(samples, codec, format_name, int(rate), int(channels))


def _plane(frame: AudioFrame) -> FloatAudio:
    """The float32 samples of a packed mono PyAV frame."""
    return frame.to_ndarray().reshape(-1).astype(np.float32, copy=False)


def _reason(exc: BaseException) -> str:
    """A short, path-free reason for a decode failure."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.split(":")[0].strip()[:120]


def load_pcm(source: str | os.PathLike[str] | bytes) -> PCM:
    """Shorthand for ``decode_file(source).samples``."""
    return decode_file(source).samples


class PCMBuffer:
    """An append-only int16 buffer that grows by doubling (no per-append reallocation).

    ``view()`` returns the filled part without copying; it is valid until the next
    ``append`` or ``clear``. Not thread-safe: owned by one stream.
    """

    def __init__(self, capacity: int = SAMPLE_RATE * 4) -> None:
        self._data = np.zeros(max(capacity, 1), dtype=np.int16)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def append(self, samples: PCM) -> None:
        """Append samples (copied)."""
        need = self._size + len(samples)
        if need > len(self._data):
            grown = np.zeros(max(need, 2 * len(self._data)), dtype=np.int16)
            grown[: self._size] = self._data[: self._size]
            self._data = grown
        self._data[self._size : need] = samples
        self._size = need

    def view(self, start: int = 0, stop: int | None = None) -> PCM:
        """The samples ``[start, stop)`` of the filled part, without copying."""
        stop = self._size if stop is None else min(stop, self._size)
        return self._data[start:stop]

    def clear(self) -> None:
        """Forget the contents (keeps the allocation)."""
        self._size = 0
