"""G.711 codecs: bit-exact against a scalar reference, error bounds, and real telephony audio."""

from __future__ import annotations

import importlib
import warnings
import wave
from pathlib import Path

import numpy as np
import pytest

from engines import g711

ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = np.arange(256, dtype=np.uint8)


# --- An independent scalar reference: G.711 as the Sun / ITU reference code states it ------


def ref_ulaw_encode(x: int) -> int:
    """μ-law code of one 16-bit sample: 14-bit magnitude, bias 33, segment search."""
    v = x >> 2  # keep the top 14 bits (floor, as C's arithmetic shift)
    sign = 0x80 if v < 0 else 0x00
    mag = min(-v if v < 0 else v, 8159) + 33
    seg = 0
    while seg < 8 and mag > (64 << seg) - 1:  # segment ends 0x3F, 0x7F, ... 0x1FFF
        seg += 1
    if seg == 8:
        return ~(sign | 0x7F) & 0xFF
    mantissa = (mag >> (seg + 1)) & 0x0F
    return ~(sign | (seg << 4) | mantissa) & 0xFF


def ref_ulaw_decode(code: int) -> int:
    """16-bit value of one μ-law code: ±4·(((2m + 33) << e) − 33)."""
    u = ~code & 0xFF
    exponent, mantissa = (u >> 4) & 0x07, u & 0x0F
    magnitude = 4 * (((2 * mantissa + 33) << exponent) - 33)
    return -magnitude if u & 0x80 else magnitude


def ref_alaw_encode(x: int) -> int:
    """A-law code of one 16-bit sample: 13-bit magnitude, segment search, even bits inverted."""
    v = x >> 3  # keep the top 13 bits
    sign, mag = (0x80, v) if v >= 0 else (0x00, -v - 1)
    seg = 0
    while seg < 8 and mag > (32 << seg) - 1:  # segment ends 0x1F, 0x3F, ... 0xFFF
        seg += 1
    if seg == 8:
        return (sign | 0x7F) ^ 0x55
    mantissa = ((mag >> 1) if seg < 2 else (mag >> seg)) & 0x0F
    return (sign | (seg << 4) | mantissa) ^ 0x55


def ref_alaw_decode(code: int) -> int:
    """16-bit value of one A-law code: ±8·(2m + 1) in segment 0, ±8·((2m + 33) << (e − 1))."""
    a = code ^ 0x55
    exponent, mantissa = (a >> 4) & 0x07, a & 0x0F
    magnitude = 8 * (2 * mantissa + 1 if exponent == 0 else (2 * mantissa + 33) << (exponent - 1))
    return magnitude if a & 0x80 else -magnitude


LAWS = {
    "ulaw": (g711.ulaw_encode, g711.ulaw_decode, ref_ulaw_encode, ref_ulaw_decode),
    "alaw": (g711.alaw_encode, g711.alaw_decode, ref_alaw_encode, ref_alaw_decode),
}


# --- Bit-exactness ---------------------------------------------------------------------------


@pytest.mark.parametrize("law", LAWS)
def test_decode_matches_reference_for_all_256_codes(law: str) -> None:
    _, decode, _, ref_decode = LAWS[law]
    expected = np.array([ref_decode(c) for c in range(256)], dtype=np.int16)
    got = decode(bytes(range(256)))
    assert got.dtype == np.int16
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("law", LAWS)
def test_encode_matches_reference_for_all_65536_samples(law: str) -> None:
    encode, _, ref_encode, _ = LAWS[law]
    expected = bytes(ref_encode(x) for x in range(-32768, 32768))
    assert encode(ALL_INT16) == expected


def test_known_codes() -> None:
    # Silence encodes to the idle codes; the extremes decode to the G.711 end points.
    silence = np.zeros(3, np.int16)
    assert g711.ulaw_encode(silence) == b"\xff\xff\xff"
    assert g711.alaw_encode(silence) == b"\xd5\xd5\xd5"
    assert g711.ulaw_decode(b"\x00\x80\xff\x7f").tolist() == [-32124, 32124, 0, 0]
    assert g711.alaw_decode(b"\x2a\xaa\xd5\x55").tolist() == [-32256, 32256, 8, -8]


def _audioop():  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return importlib.import_module("audioop")
        except ImportError:
            return None


@pytest.mark.skipif(_audioop() is None, reason="audioop was removed in Python 3.13")
def test_matches_audioop_where_available() -> None:
    audioop = _audioop()
    linear, codes = ALL_INT16.tobytes(), bytes(range(256))
    assert g711.ulaw_encode(ALL_INT16) == audioop.lin2ulaw(linear, 2)
    assert g711.alaw_encode(ALL_INT16) == audioop.lin2alaw(linear, 2)
    assert g711.ulaw_decode(codes).tobytes() == audioop.ulaw2lin(codes, 2)
    assert g711.alaw_decode(codes).tobytes() == audioop.alaw2lin(codes, 2)


# --- Round trips and error bounds -------------------------------------------------------------


def _half_step(law: str, codes: np.ndarray) -> np.ndarray:
    """Half the quantisation step (16-bit units) of each code's segment."""
    exponent = ((codes ^ (0xFF if law == "ulaw" else 0x55)) >> 4 & 0x07).astype(np.int64)
    if law == "ulaw":
        return 4 << exponent
    return 8 << np.maximum(exponent - 1, 0)


@pytest.mark.parametrize("law", LAWS)
def test_round_trip_error_is_within_half_a_step(law: str) -> None:
    encode, decode, _, _ = LAWS[law]
    codes = np.frombuffer(encode(ALL_INT16), np.uint8)
    decoded = decode(codes).astype(np.int64)
    error = np.abs(decoded - ALL_INT16)
    peak = 32124 if law == "ulaw" else 32256  # largest magnitude the law represents
    in_range = np.abs(ALL_INT16.astype(np.int64)) <= peak
    # μ-law truncates to 14 bits before quantising, which costs up to 3 more (16-bit units).
    slack = 3 if law == "ulaw" else 0
    assert np.all(error[in_range] <= _half_step(law, codes[in_range]) + slack)
    assert np.all(np.abs(decoded[~in_range]) == peak)  # beyond the end point: clipped
    assert np.all(np.diff(decoded) >= 0)  # the quantiser is monotone
    assert error[np.abs(ALL_INT16.astype(np.int64)) < 256].max() <= 11  # fine near zero


@pytest.mark.parametrize("law", LAWS)
def test_codes_survive_decode_then_encode(law: str) -> None:
    encode, decode, _, _ = LAWS[law]
    again = np.frombuffer(encode(decode(ALL_CODES)), np.uint8)
    changed = np.flatnonzero(again != ALL_CODES).tolist()
    # μ-law has two zeros (0xFF and 0x7F); "negative zero" re-encodes as 0xFF.
    assert changed == ([0x7F] if law == "ulaw" else [])


@pytest.mark.parametrize("law", LAWS)
def test_accepts_bytes_like_and_uint8_arrays(law: str) -> None:
    _, decode, _, _ = LAWS[law]
    expected = decode(bytes(range(256)))
    for data in (bytearray(range(256)), memoryview(bytes(range(256))), ALL_CODES):
        np.testing.assert_array_equal(decode(data), expected)
    assert decode(b"").shape == (0,)


@pytest.mark.parametrize("law", LAWS)
def test_rejects_wrong_dtypes(law: str) -> None:
    encode, decode, _, _ = LAWS[law]
    with pytest.raises(TypeError, match="int16"):
        encode(np.zeros(4, np.float32))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="uint8"):
        decode(np.zeros(4, np.int16))  # type: ignore[arg-type]


def test_tables_are_read_only() -> None:
    with pytest.raises(ValueError, match="read-only"):
        g711.ULAW_DECODE[0] = 1
    decoded = g711.ulaw_decode(b"\x00")
    decoded[0] = 1  # results are fresh arrays, not views of the tables
    assert g711.ULAW_DECODE[0] == -32124


# --- Real telephony audio -----------------------------------------------------------------------


def _read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        return np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(np.int16)


def _snr_db(clean: np.ndarray, coded: np.ndarray) -> float:
    noise = coded.astype(np.float64) - clean
    return float(10 * np.log10(np.sum(clean.astype(np.float64) ** 2) / np.sum(noise**2)))


# Measured: agent-pass 37.37 dB (μ-law) / 37.81 dB (A-law); LDC93S1, a quiet recording
# (RMS ≈ 275), 33.96 / 34.08 dB.
@pytest.mark.parametrize(
    ("name", "min_snr"),
    [("asterisk/agent-pass.wav", 35.0), ("deepspeech/LDC93S1_pcms16le_1_8000.wav", 32.0)],
)
@pytest.mark.parametrize("law", LAWS)
def test_real_speech_round_trip_snr(testdata: Path, name: str, min_snr: float, law: str) -> None:
    encode, decode, _, _ = LAWS[law]
    speech = _read_wav(testdata / name)
    payload = encode(speech)
    assert len(payload) == len(speech)
    coded = decode(payload)
    assert coded.shape == speech.shape
    assert _snr_db(speech, coded) > min_snr
