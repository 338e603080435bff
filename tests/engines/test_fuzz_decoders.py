"""Fuzzing the file decoders with corrupted real recordings.

Seeds are small real files from the shared corpus (WAV 8 kHz, FLAC, stereo 44.1 kHz MP3;
an Ogg/Opus file is encoded from one of them in memory, the corpus has none). Each example
corrupts a seed — truncation, flipped bytes, overwritten header fields (extreme sample
rates, channel counts, sizes), splices of two files, zeroed runs, duplicated regions, or
random bytes behind a valid magic number — and feeds the bytes to
:func:`engines.audio.decode_file` and :func:`realtime.batch.pipeline.declared_duration`.

Invariant: ``decode_file`` returns mono int16 16 kHz audio of plausible length, or raises
:class:`~engines.errors.AudioDecodeError` with a one-line message; ``declared_duration``
returns a finite number or ``None``. No other exception; every test has a timeout, and
inputs are at most 96 KiB.

The default profile is a fixed, derandomized budget for ``make test``. The long run::

    VOXGATE_FUZZ=long .venv/bin/pytest tests/engines/test_fuzz_decoders.py -p no:cacheprovider

(random seeds, thousands of examples, failures saved in ``.hypothesis/``).
"""

from __future__ import annotations

import io
import math
import struct
from functools import cache

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from engines.audio import decode_file
from engines.base import SAMPLE_RATE
from engines.errors import AudioDecodeError
from testkit.paths import TESTDATA
from tests.fuzzing import fuzz_settings

pytestmark = pytest.mark.timeout(240)

FUZZ = fuzz_settings(300, 3_000)

SEED_FILES = {
    "wav": "deepspeech/LDC93S1_pcms16le_1_8000.wav",  # 8 kHz mono PCM, 46 KB
    "flac": "mfa/mfa_hes.flac",  # 16 kHz FLAC, 62 KB
    "mp3": "faster-whisper/hotwords.mp3",  # 44.1 kHz stereo MP3, 65 KB
}
MAX_INPUT = 96 * 1024
MAX_SECONDS = 3_600.0
"""Longest plausible decode of a ≤ 96 KiB input (a µ-law byte per 8 kHz sample is 12 s;
the bound leaves room for very low bit-rate codecs and repeated frames)."""
MAGICS = [b"RIFF\x24\x08\x00\x00WAVEfmt ", b"fLaC", b"ID3\x03\x00", b"\xff\xfb\x90", b"OggS\x00"]
EXTREMES = [0, 1, 2, 255, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF]


@cache
def seeds() -> dict[str, bytes]:
    """The seed files' bytes (and an Ogg/Opus encoding of the WAV seed)."""
    out = {name: (TESTDATA / path).read_bytes() for name, path in SEED_FILES.items()}
    out["ogg"] = _ogg_opus(decode_file(out["wav"]).samples[:SAMPLE_RATE])
    return out


def _ogg_opus(samples: np.ndarray) -> bytes:
    """One second of ``samples`` as Ogg/Opus (48 kHz mono), encoded in memory."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=48_000, layout="mono")
        upsampled = np.repeat(samples, 3).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(upsampled, format="s16", layout="mono")
        frame.rate = 48_000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def _wav(*, tag: int = 1, rate: int = 8_000, bits: int = 16, data: bytes = bytes(3_200)) -> bytes:
    """A minimal mono WAV file with the given header fields."""
    block = bits // 8
    fmt = struct.pack("<HHIIHH", tag, 1, rate, rate * block, block, bits)
    body = b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


# Regressions found by this fuzzer: a WAV format tag FFmpeg has no decoder for (0, 0xFFFE
# without an extension, or bits=0) escaped as AttributeError; a 1 Hz sample rate decoded
# 3.2 KB into 1,600 s of 16 kHz audio (a decompression bomb, now refused below 1 kHz).
REGRESSIONS = [_wav(tag=0), _wav(tag=0xFFFE), _wav(bits=0), _wav(rate=1), _wav(rate=999)]


@st.composite
def corrupted(draw: st.DrawFn) -> bytes:
    """A seed file after one to three corruptions."""
    names = [*sorted(SEED_FILES), "ogg"]
    data = bytearray(seeds()[draw(st.sampled_from(names))])
    for _ in range(draw(st.integers(1, 3))):
        size = len(data)
        at = draw(st.integers(0, max(size - 1, 0)))
        action = draw(
            st.sampled_from(
                ["truncate", "flip", "header", "field", "splice", "zeros", "repeat", "magic"]
            )
        )
        if action == "truncate":
            del data[draw(st.integers(0, size)) :]
        elif action == "flip":
            for _ in range(draw(st.integers(1, 16))):
                if data:
                    data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
        elif action == "header":  # random bytes over the first 64
            at = draw(st.integers(0, 63))
            patch = draw(st.binary(min_size=1, max_size=8))
            data[at : at + len(patch)] = patch
        elif action == "field":  # an extreme little/big-endian 16/32-bit value in the header
            at = draw(st.integers(0, 60))
            fmt = draw(st.sampled_from(["<H", "<I", ">H", ">I"]))
            value = draw(st.sampled_from(EXTREMES)) & (0xFFFF if fmt[1] == "H" else 0xFFFFFFFF)
            patch = struct.pack(fmt, value)
            data[at : at + len(patch)] = patch
        elif action == "splice":
            other = seeds()[draw(st.sampled_from(names))]
            data = data[:at] + other[draw(st.integers(0, len(other))) :]
        elif action == "zeros":
            length = draw(st.integers(1, 4_096))
            data[at : at + length] = bytes(min(length, size - at))
        elif action == "repeat":
            length = draw(st.integers(1, 8_192))
            data[at:at] = data[at : at + length]
        else:
            data = bytearray(draw(st.sampled_from(MAGICS)) + draw(st.binary(max_size=2_048)))
    return bytes(data[:MAX_INPUT])


def check(data: bytes) -> None:
    """Decode ``data`` and assert the decoders' contract (see the module docstring)."""
    from realtime.batch.pipeline import declared_duration

    declared = declared_duration(data)
    assert declared is None or (isinstance(declared, float) and math.isfinite(declared))
    try:
        audio = decode_file(data)
    except AudioDecodeError as exc:
        message = str(exc)
        assert message.startswith("upload: ") and "\n" not in message and len(message) < 300
        return
    samples = audio.samples
    assert isinstance(samples, np.ndarray) and samples.dtype == np.int16 and samples.ndim == 1
    assert 0 < len(samples) <= MAX_SECONDS * SAMPLE_RATE
    assert audio.source_rate > 0 and audio.source_channels >= 1
    assert isinstance(audio.codec, str) and isinstance(audio.container, str)


@pytest.mark.parametrize("name", [*sorted(SEED_FILES), "ogg"])
def test_seeds_decode(name: str) -> None:
    """The seeds themselves decode, so corruptions start from valid files."""
    audio = decode_file(seeds()[name])
    assert audio.duration > 0.5
    check(seeds()[name])


@FUZZ
@given(data=corrupted())
@example(data=REGRESSIONS[0])
@example(data=REGRESSIONS[3])
def test_corrupted_files(data: bytes) -> None:
    """Corrupted real files decode to sane audio or fail with AudioDecodeError."""
    check(data)


@pytest.mark.parametrize("data", REGRESSIONS, ids=["tag0", "tagFFFE", "bits0", "1Hz", "999Hz"])
def test_damaged_wav_headers_are_decode_errors(data: bytes) -> None:
    """Regression: unknown codecs and absurd sample rates are AudioDecodeError."""
    with pytest.raises(AudioDecodeError, match=r"^upload: unsupported (audio codec|sample rate)"):
        decode_file(data)
    check(data)


@FUZZ
@given(data=st.binary(max_size=4_096))
@example(data=b"")
@example(data=b"RIFF")
def test_random_bytes(data: bytes) -> None:
    """Arbitrary bytes are never audio that escapes as another exception."""
    check(data)
