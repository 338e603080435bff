"""Streaming resampling and the OpenAI realtime wire audio formats.

:class:`StreamResampler` converts a continuous int16 stream chunk by chunk, keeping the
filter state between chunks so chunk edges leave no clicks; its output matches a one-shot
:func:`engines.audio.resample` of the whole signal to within a sample value or two.

:func:`decode_input` and :func:`encode_output` convert between base64-decoded realtime
payloads and int16 PCM at the format's native rate (:func:`native_rate`): 24 kHz for
``pcm16`` / ``audio/pcm``, 8 kHz for the G.711 formats. Resampling to and from
:data:`engines.base.SAMPLE_RATE` is the caller's job, with a :class:`StreamResampler`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import soxr

from engines import g711
from engines.audio import float_to_int16, int16_to_float32
from engines.base import PCM

Payload = bytes | bytearray | memoryview
"""Raw (base64-decoded) audio bytes from or for the wire."""


class StreamResampler:
    """Resample a continuous mono int16 stream in chunks of any size.

    Wraps :class:`soxr.ResampleStream` (float32 inside, rounded back to int16, the same
    rounding as :func:`engines.audio.decode_file`). Feed chunks with :meth:`process`, in
    order, and call :meth:`flush` once at the end of the stream to get the filter's tail;
    the resampler is then ready for a new stream.

    Latency: soxr holds output back and releases it in blocks, so a chunk may yield nothing
    and a later one a burst; :attr:`delay` reports the current lag. When the rates are
    equal, chunks pass through unchanged with no delay. Measured lags:
    docs/decisions/resampling-latency.md

    Args:
        from_rate: Input sample rate in Hz.
        to_rate: Output sample rate in Hz.
        quality: soxr quality: ``"QQ"``, ``"LQ"``, ``"MQ"``, ``"HQ"`` or ``"VHQ"``.

    Raises:
        ValueError: a rate is not positive.
    """

    def __init__(self, from_rate: int, to_rate: int, *, quality: str = "HQ") -> None:
        if from_rate <= 0 or to_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {from_rate} → {to_rate}")
        self.from_rate = from_rate
        self.to_rate = to_rate
        self.quality = quality
        self._stream = (
            None
            if from_rate == to_rate
            else soxr.ResampleStream(from_rate, to_rate, 1, dtype="float32", quality=quality)
        )

    @property
    def identity(self) -> bool:
        """Whether the rates match, so chunks pass through untouched."""
        return self._stream is None

    @property
    def delay(self) -> float:
        """Output samples currently held back by the filter (0 on the identity path)."""
        return 0.0 if self._stream is None else float(self._stream.delay())

    def process(self, chunk: PCM) -> PCM:
        """Resample the next chunk of the stream.

        Args:
            chunk: Mono int16 samples at ``from_rate``, contiguous with the previous chunk.

        Returns:
            The int16 output that is ready, at ``to_rate``; possibly empty. On the identity
            path, ``chunk`` itself.

        Raises:
            TypeError: ``chunk`` is not int16.
        """
        _check_pcm(chunk)
        if self._stream is None:
            return chunk
        return float_to_int16(self._stream.resample_chunk(int16_to_float32(chunk.reshape(-1))))

    def flush(self) -> PCM:
        """End the stream: return the held-back tail and reset for a new stream.

        Returns:
            The remaining int16 output at ``to_rate`` (empty on the identity path).
        """
        if self._stream is None:
            return np.zeros(0, np.int16)
        tail = float_to_int16(self._stream.resample_chunk(np.zeros(0, np.float32), last=True))
        self._stream.clear()
        return tail

    def reset(self) -> None:
        """Drop all held-back audio and state, as if the stream had just begun."""
        if self._stream is not None:
            self._stream.clear()


def _check_pcm(samples: PCM) -> None:
    """Raise TypeError unless ``samples`` is an int16 array."""
    if not isinstance(samples, np.ndarray) or samples.dtype != np.int16:
        kind = getattr(samples, "dtype", type(samples).__name__)
        raise TypeError(f"PCM samples must be an int16 array, got {kind}")


# --- Wire formats -----------------------------------------------------------------------------


def _pcm16_decode(data: Payload) -> PCM:
    """Decode little-endian 16-bit samples into a new native int16 array."""
    if len(data) % 2:
        raise ValueError(
            f"pcm16 audio must be whole 16-bit samples, but got {len(data)} bytes (an odd count)"
        )
    return np.frombuffer(data, dtype="<i2").astype(np.int16)


def _pcm16_encode(samples: PCM) -> bytes:
    """Encode int16 samples as little-endian bytes."""
    return samples.reshape(-1).astype("<i2", copy=False).tobytes()


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """A realtime wire audio format.

    Attributes:
        name: The beta name (``session.input_audio_format``), e.g. ``"g711_ulaw"``.
        mime: The GA name (``audio.input.format.type``), e.g. ``"audio/pcmu"``.
        rate: The native sample rate in Hz.
        decode: Payload bytes → int16 PCM at ``rate``.
        encode: int16 PCM at ``rate`` → payload bytes.
    """

    name: str
    mime: str
    rate: int
    decode: Callable[[Payload], PCM]
    encode: Callable[[PCM], bytes]


AUDIO_FORMATS: tuple[AudioFormat, ...] = (
    AudioFormat("pcm16", "audio/pcm", 24_000, _pcm16_decode, _pcm16_encode),
    AudioFormat("g711_ulaw", "audio/pcmu", g711.G711_RATE, g711.ulaw_decode, g711.ulaw_encode),
    AudioFormat("g711_alaw", "audio/pcma", g711.G711_RATE, g711.alaw_decode, g711.alaw_encode),
)
"""Every supported format: the one table of names and rates."""

_BY_NAME: dict[str, AudioFormat] = {
    key: fmt for fmt in AUDIO_FORMATS for key in (fmt.name, fmt.mime)
}


def audio_format(fmt: str) -> AudioFormat:
    """Look a format up by its beta or GA name.

    Args:
        fmt: ``"pcm16"``, ``"g711_ulaw"``, ``"g711_alaw"``, ``"audio/pcm"``,
            ``"audio/pcmu"`` or ``"audio/pcma"``.

    Returns:
        The format.

    Raises:
        ValueError: the name is not a supported format.
    """
    try:
        return _BY_NAME[fmt]
    except KeyError:
        known = ", ".join(repr(name) for name in _BY_NAME)
        raise ValueError(f"unsupported audio format {fmt!r}; expected one of {known}") from None


def native_rate(fmt: str) -> int:
    """The sample rate of a wire format: 24000 for pcm16, 8000 for G.711.

    Raises:
        ValueError: the name is not a supported format.
    """
    return audio_format(fmt).rate


def decode_input(data: Payload, fmt: str) -> PCM:
    """Decode a (base64-decoded) realtime audio payload to int16 PCM.

    Args:
        data: The payload bytes of ``input_audio_buffer.append``.
        fmt: The session's input format, by beta or GA name.

    Returns:
        A new mono int16 array at :func:`native_rate` of ``fmt``.

    Raises:
        ValueError: unknown format, or a pcm16 payload with an odd number of bytes.
    """
    return audio_format(fmt).decode(data)


def encode_output(pcm: PCM, fmt: str) -> bytes:
    """Encode int16 PCM as a realtime audio payload (before base64).

    Args:
        pcm: Mono int16 samples, already at :func:`native_rate` of ``fmt``.
        fmt: The session's output format, by beta or GA name.

    Returns:
        The payload bytes: little-endian 16-bit for pcm16, one byte per sample for G.711.

    Raises:
        ValueError: unknown format.
        TypeError: ``pcm`` is not an int16 array.
    """
    codec = audio_format(fmt)
    _check_pcm(pcm)
    return codec.encode(pcm)
