"""G.711 μ-law and A-law codecs, vectorised with numpy.

Bit-exact with the classic Sun Microsystems ``g711.c`` reference, which is what Python's
``audioop`` module (removed in 3.13) implemented as ``lin2ulaw``/``ulaw2lin`` and
``lin2alaw``/``alaw2lin``:

* μ-law encodes the top 14 bits of a sample (``x >> 2``, sign by magnitude), clips the
  magnitude at 8159, adds the bias 33 and searches the segment; codes are bit-inverted.
* A-law encodes the top 13 bits (``x >> 3``, negatives as one's complement) and inverts the
  even bits (XOR ``0x55``).

Decoding goes through two 256-entry tables and encoding through two 65536-entry tables (one
per int16 value, indexed by the sample's bit pattern), all built once at import: 130 KiB.
The codecs are stateless, so chunks can be coded independently.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from engines.base import PCM

G711_RATE = 8_000
"""The sample rate of G.711 telephony audio."""

Codes = bytes | bytearray | memoryview | npt.NDArray[np.uint8]
"""G.711 code bytes, as a bytes-like object or a uint8 array."""

_ULAW_BIAS = 0x84
_ULAW_CLIP = 8159  # largest 14-bit magnitude before the bias is added
_ULAW_SEG_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], np.int32)
_ALAW_SEG_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], np.int32)


def _ulaw_decode_table() -> PCM:
    """The int16 value of every μ-law code (Sun's ``ulaw2linear``)."""
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + _ULAW_BIAS) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, _ULAW_BIAS - t, t - _ULAW_BIAS).astype(np.int16)


def _alaw_decode_table() -> PCM:
    """The int16 value of every A-law code (Sun's ``alaw2linear``)."""
    a = np.arange(256, dtype=np.int32) ^ 0x55
    seg = (a & 0x70) >> 4
    t = ((a & 0x0F) << 4) + np.where(seg == 0, 8, 0x108)
    t = t << np.maximum(seg - 1, 0)
    return np.where(a & 0x80, t, -t).astype(np.int16)


def _ulaw_encode_table() -> npt.NDArray[np.uint8]:
    """The μ-law code of every int16 value, indexed by its uint16 bit pattern."""
    x = np.arange(65536, dtype=np.int32).astype(np.uint16).view(np.int16).astype(np.int32)
    v = x >> 2
    mask = np.where(v < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(v), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    seg = np.searchsorted(_ULAW_SEG_END, mag)  # first segment whose end is >= mag
    code = np.where(seg >= 8, 0x7F, (seg << 4) | ((mag >> (np.minimum(seg, 7) + 1)) & 0x0F))
    return (code ^ mask).astype(np.uint8)


def _alaw_encode_table() -> npt.NDArray[np.uint8]:
    """The A-law code of every int16 value, indexed by its uint16 bit pattern."""
    x = np.arange(65536, dtype=np.int32).astype(np.uint16).view(np.int16).astype(np.int32)
    v = x >> 3
    mask = np.where(v >= 0, 0xD5, 0x55)
    mag = np.where(v >= 0, v, -v - 1)
    seg = np.searchsorted(_ALAW_SEG_END, mag)
    shift = np.where(seg < 2, 1, np.minimum(seg, 7))
    code = np.where(seg >= 8, 0x7F, (seg << 4) | ((mag >> shift) & 0x0F))
    return (code ^ mask).astype(np.uint8)


ULAW_DECODE: PCM = _ulaw_decode_table()
"""int16 value of each μ-law code, indexed by the code."""

ALAW_DECODE: PCM = _alaw_decode_table()
"""int16 value of each A-law code, indexed by the code."""

_ULAW_ENCODE = _ulaw_encode_table()
_ALAW_ENCODE = _alaw_encode_table()
for _table in (ULAW_DECODE, ALAW_DECODE, _ULAW_ENCODE, _ALAW_ENCODE):
    _table.flags.writeable = False


def _as_codes(data: Codes) -> npt.NDArray[np.uint8]:
    """View bytes-like data (or a uint8 array) as a flat uint8 array, without copying."""
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8:
            raise TypeError(f"G.711 codes must be uint8, got {data.dtype}")
        return data.reshape(-1)
    return np.frombuffer(data, dtype=np.uint8)


def _as_pcm(samples: PCM) -> npt.NDArray[np.uint16]:
    """The bit patterns of int16 samples, as table indices."""
    array = np.asarray(samples)
    if array.dtype != np.int16:
        raise TypeError(f"PCM samples must be int16, got {array.dtype}")
    return array.reshape(-1).view(np.uint16)


def ulaw_encode(samples: PCM) -> bytes:
    """Encode int16 samples to G.711 μ-law.

    Args:
        samples: Mono int16 PCM (normally at 8 kHz; the codec itself is rate-agnostic).

    Returns:
        One code byte per sample.

    Raises:
        TypeError: ``samples`` is not int16.
    """
    return _ULAW_ENCODE[_as_pcm(samples)].tobytes()


def ulaw_decode(data: Codes) -> PCM:
    """Decode G.711 μ-law codes to int16 samples.

    Args:
        data: μ-law code bytes, or a uint8 array of codes.

    Returns:
        A new int16 array, one sample per code.

    Raises:
        TypeError: ``data`` is an array that is not uint8.
    """
    return ULAW_DECODE[_as_codes(data)]


def alaw_encode(samples: PCM) -> bytes:
    """Encode int16 samples to G.711 A-law.

    Args:
        samples: Mono int16 PCM (normally at 8 kHz; the codec itself is rate-agnostic).

    Returns:
        One code byte per sample.

    Raises:
        TypeError: ``samples`` is not int16.
    """
    return _ALAW_ENCODE[_as_pcm(samples)].tobytes()


def alaw_decode(data: Codes) -> PCM:
    """Decode G.711 A-law codes to int16 samples.

    Args:
        data: A-law code bytes, or a uint8 array of codes.

    Returns:
        A new int16 array, one sample per code.

    Raises:
        TypeError: ``data`` is an array that is not uint8.
    """
    return ALAW_DECODE[_as_codes(data)]
