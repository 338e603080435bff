"""Streaming resampler and realtime wire formats."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
import soxr
from hypothesis import given, settings
from hypothesis import strategies as st

from engines import g711
from engines.audio import float_to_int16, int16_to_float32, resample
from engines.resampling import (
    AUDIO_FORMATS,
    StreamResampler,
    audio_format,
    decode_input,
    encode_output,
    native_rate,
)

RATE_PAIRS = [
    (24_000, 16_000),
    (16_000, 24_000),
    (8_000, 16_000),
    (16_000, 8_000),
    (22_050, 24_000),
    (24_000, 8_000),
]
NOISE = np.clip(np.random.default_rng(7).standard_normal(12_000) * 6000, -32768, 32767).astype(
    np.int16
)


def _stream(resampler: StreamResampler, signal: np.ndarray, sizes: list[int]) -> np.ndarray:
    """Feed ``signal`` in chunks of ``sizes`` (cycled), then flush; return all output."""
    out, pos, i = [], 0, 0
    while pos < len(signal):
        n = sizes[i % len(sizes)]
        out.append(resampler.process(signal[pos : pos + n]))
        pos, i = pos + n, i + 1
    out.append(resampler.flush())
    return np.concatenate(out)


# --- Streaming equals one-shot ------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    rates=st.sampled_from(RATE_PAIRS),
    sizes=st.tuples(
        st.integers(min_value=1, max_value=4000),
        st.lists(st.integers(min_value=0, max_value=4000), max_size=19),
    ).map(lambda t: [t[0], *t[1]]),
)
def test_streaming_in_random_chunks_equals_one_shot(
    rates: tuple[int, int], sizes: list[int]
) -> None:
    from_rate, to_rate = rates
    streamed = _stream(StreamResampler(from_rate, to_rate), NOISE, sizes)
    # Bit-exact with one-shot soxr on the same float32 path...
    one_shot = float_to_int16(soxr.resample(int16_to_float32(NOISE), from_rate, to_rate, "HQ"))
    np.testing.assert_array_equal(streamed, one_shot)
    # ...and within one rounding step of engines.audio.resample (soxr's int16 path).
    reference = resample(NOISE, from_rate, to_rate)
    assert streamed.shape == reference.shape
    assert np.abs(streamed.astype(np.int32) - reference).max() <= 1  # measured: 1


def test_real_telephony_audio_streams_like_one_shot(testdata: Path) -> None:
    with wave.open(str(testdata / "asterisk" / "agent-pass.wav")) as wav:
        speech = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(np.int16)
    streamed = _stream(StreamResampler(8_000, 16_000), speech, [160])  # 20 ms at 8 kHz
    reference = resample(speech, 8_000, 16_000)
    assert streamed.shape == reference.shape == (2 * len(speech),)
    assert np.abs(streamed.astype(np.int32) - reference).max() <= 1  # measured: 1


def test_flush_resets_for_a_new_stream() -> None:
    resampler = StreamResampler(24_000, 16_000)
    first = _stream(resampler, NOISE, [480])
    assert resampler.delay == 0
    second = _stream(resampler, NOISE, [480])
    np.testing.assert_array_equal(first, second)


def test_reset_drops_pending_audio() -> None:
    resampler = StreamResampler(24_000, 16_000)
    resampler.process(NOISE[:5000])
    assert resampler.delay > 0
    resampler.reset()
    np.testing.assert_array_equal(
        _stream(resampler, NOISE, [480]), _stream(StreamResampler(24_000, 16_000), NOISE, [480])
    )


# --- No clicks at chunk edges -------------------------------------------------------------------


def _sine_through(process: object, seconds: float = 2.0) -> np.ndarray:
    """A 1 kHz sine at 24 kHz fed in 20 ms chunks to ``process``; returns the output."""
    t = np.arange(int(24_000 * seconds)) / 24_000
    sine = np.rint(12_000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    return np.concatenate([process(sine[i : i + 480]) for i in range(0, len(sine), 480)])  # type: ignore[operator]


def _leakage_db(samples: np.ndarray) -> float:
    """Energy outside 1 kHz ± 3 bins, relative to the tone, over 1 s of steady state at 16 kHz.

    16000 samples hold exactly 1000 periods, so a clean tone falls on one bin with no
    leakage even without a window; any click at a chunk edge spreads across the spectrum.
    """
    power = np.abs(np.fft.rfft(samples[4000:20_000].astype(np.float64))) ** 2
    tone = power[997:1004].sum()
    return float(10 * np.log10((power.sum() - tone) / tone))


def test_sine_has_no_discontinuities_at_chunk_edges() -> None:
    resampler = StreamResampler(24_000, 16_000)
    out = _sine_through(resampler.process)
    assert _leakage_db(out) < -80  # measured: -93.9 dB (int16 rounding noise)
    # The derivative of a 1 kHz sine of amplitude A at 16 kHz is bounded by 2π·f/fs·A.
    assert np.abs(np.diff(out[100:].astype(np.int32))).max() <= 2 * np.pi * 1000 / 16_000 * 12_000

    # The checks have teeth: resampling each chunk on its own clicks at every edge.
    naive = _sine_through(lambda chunk: resample(chunk, 24_000, 16_000))
    assert _leakage_db(naive) > -60  # measured: -52.2 dB
    assert np.abs(np.diff(naive[100:].astype(np.int32))).max() > 2 * np.pi * 1000 / 16_000 * 12_000


# --- Identity, latency, input checks ------------------------------------------------------------


def test_identity_path_returns_input_unchanged() -> None:
    resampler = StreamResampler(16_000, 16_000)
    assert resampler.identity
    chunk = NOISE[:321]
    assert resampler.process(chunk) is chunk
    assert resampler.delay == 0
    assert resampler.flush().shape == (0,)


def test_delay_reports_held_back_output() -> None:
    resampler = StreamResampler(24_000, 16_000)
    assert not resampler.identity
    emitted = sum(len(resampler.process(NOISE[i : i + 480])) for i in range(0, 9600, 480))
    # 400 ms in → 6400 samples due; what is missing is exactly the reported delay.
    assert emitted + resampler.delay == pytest.approx(6400)
    assert 0 < resampler.delay < 0.05 * 16_000  # under 50 ms at HQ


def test_empty_chunks_are_fine() -> None:
    resampler = StreamResampler(8_000, 16_000)
    assert resampler.process(np.zeros(0, np.int16)).shape == (0,)


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="positive"):
        StreamResampler(0, 16_000)
    with pytest.raises(TypeError, match="int16"):
        StreamResampler(24_000, 16_000).process(np.zeros(10, np.float32))  # type: ignore[arg-type]


# --- Wire formats -------------------------------------------------------------------------------

FORMAT_NAMES = [name for fmt in AUDIO_FORMATS for name in (fmt.name, fmt.mime)]


def test_format_table() -> None:
    assert {n: native_rate(n) for n in FORMAT_NAMES} == {
        "pcm16": 24_000,
        "audio/pcm": 24_000,
        "g711_ulaw": 8_000,
        "audio/pcmu": 8_000,
        "g711_alaw": 8_000,
        "audio/pcma": 8_000,
    }
    assert audio_format("audio/pcmu") is audio_format("g711_ulaw")
    with pytest.raises(ValueError, match="unsupported audio format 'opus'"):
        native_rate("opus")


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_bytes_round_trip(fmt: str) -> None:
    payload = np.random.default_rng(3).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    if fmt in ("g711_ulaw", "audio/pcmu"):
        payload = payload.replace(b"\x7f", b"\xff")  # μ-law's "negative zero" reads back as 0xFF
    pcm = decode_input(payload, fmt)
    assert pcm.dtype == np.int16
    assert pcm.flags.writeable
    assert len(pcm) == len(payload) // (2 if audio_format(fmt).name == "pcm16" else 1)
    assert encode_output(pcm, fmt) == payload


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_pcm_round_trip(fmt: str) -> None:
    pcm = NOISE[:2400]
    decoded = decode_input(encode_output(pcm, fmt), fmt)
    expected = {
        "pcm16": pcm,
        "g711_ulaw": g711.ulaw_decode(g711.ulaw_encode(pcm)),
        "g711_alaw": g711.alaw_decode(g711.alaw_encode(pcm)),
    }[audio_format(fmt).name]
    np.testing.assert_array_equal(decoded, expected)


def test_pcm16_is_little_endian() -> None:
    assert decode_input(b"\x01\x00\x00\x80\xff\x7f", "pcm16").tolist() == [1, -32768, 32767]
    assert encode_output(np.array([1, -2], np.int16), "audio/pcm") == b"\x01\x00\xfe\xff"


@pytest.mark.parametrize("fmt", ["pcm16", "audio/pcm"])
@pytest.mark.parametrize("data", [b"\x00", b"\x00\x01\x02", bytearray(5), memoryview(b"abc")])
def test_odd_pcm16_payload_raises(fmt: str, data: bytes) -> None:
    with pytest.raises(ValueError, match=rf"whole 16-bit samples.*{len(data)} bytes"):
        decode_input(data, fmt)


def test_g711_accepts_any_length_and_empty() -> None:
    assert len(decode_input(b"\xff" * 3, "g711_ulaw")) == 3
    for fmt in FORMAT_NAMES:
        assert decode_input(b"", fmt).shape == (0,)
        assert encode_output(np.zeros(0, np.int16), fmt) == b""


def test_encode_output_rejects_non_int16() -> None:
    with pytest.raises(TypeError, match="int16"):
        encode_output(np.zeros(4, np.float32), "pcm16")  # type: ignore[arg-type]
