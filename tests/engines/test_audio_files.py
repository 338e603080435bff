"""Audio files from streamed PCM (engines/audio_files.py), decoded back with FFmpeg."""

from __future__ import annotations

import io
import struct
import wave

import numpy as np
import pytest

from engines.audio import decode_file, load_pcm, resample
from engines.audio_files import FILE_FORMATS, SPEECH_RATE, FileEncoder, encode_file
from engines.base import SAMPLE_RATE

CODECS = {"wav": "pcm_s16le", "mp3": "mp3", "flac": "flac", "opus": "opus", "aac": "aac"}


@pytest.fixture(scope="module")
def jfk(testdata) -> np.ndarray:
    return load_pcm(testdata / "openai-whisper/jfk.flac")  # 11 s, mono int16 at 16 kHz


def stream(fmt: str, pcm: np.ndarray, pieces: int = 22) -> list[bytes]:
    """Feed ``pcm`` in ``pieces`` chunks (0.5 s each for jfk); the outputs, then finish's."""
    encoder = FileEncoder(fmt, SAMPLE_RATE)
    outputs = [encoder.feed(chunk) for chunk in np.array_split(pcm, pieces)]
    return [*outputs, encoder.finish()]


@pytest.mark.parametrize("fmt", sorted(CODECS))
def test_streamed_files_decode_to_the_whole_recording(fmt, jfk):
    outputs = stream(fmt, jfk)
    decoded = decode_file(b"".join(outputs))
    assert decoded.codec == CODECS[fmt]
    seconds = len(decoded.samples) / SAMPLE_RATE
    # mp3 and aac keep their encoder's priming (no header to trim it in a stream)
    assert len(jfk) / SAMPLE_RATE <= seconds + 0.01 < len(jfk) / SAMPLE_RATE + 0.2, seconds
    # bytes come out while the speech is still being fed, not only at the end
    early = sum(1 for out in outputs[:-1] if out)
    assert early >= len(outputs) // 2, [len(out) for out in outputs]


@pytest.mark.parametrize("fmt", ["wav", "pcm", "flac"])
def test_lossless_formats_keep_the_resampled_samples_exactly(fmt, jfk):
    data = b"".join(stream(fmt, jfk))
    expected = resample(jfk, SAMPLE_RATE, SPEECH_RATE)
    if fmt == "flac":
        import av

        with av.open(io.BytesIO(data)) as container:
            frames = [f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]
        samples = np.concatenate(frames)
    else:
        samples = np.frombuffer(data[44:] if fmt == "wav" else data, dtype="<i2")
    # one resampler carried across the chunks: the one-shot result, within a sample or two
    assert abs(len(samples) - len(expected)) <= 2
    n = min(len(samples), len(expected))
    assert np.abs(samples[:n].astype(np.int32) - expected[:n]).max() <= 2


def test_streamed_wav_says_its_length_is_unknown_and_whole_files_say_it_exactly(jfk):
    streamed = stream("wav", jfk)[0]
    riff, data = struct.unpack("<I", streamed[4:8])[0], struct.unpack("<I", streamed[40:44])[0]
    assert (riff, data) == (0xFFFFFFFF, 0xFFFFFFFF)
    whole = encode_file(jfk, SAMPLE_RATE, "wav")
    with wave.open(io.BytesIO(whole)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (SPEECH_RATE, 1, 2)
        assert w.getnframes() == (len(whole) - 44) // 2
    assert struct.unpack("<I", whole[4:8])[0] == len(whole) - 8


def test_opus_is_48_khz_ogg_and_every_format_names_its_media_type(jfk):
    decoded = decode_file(encode_file(jfk, SAMPLE_RATE, "opus"))
    assert (decoded.container, decoded.source_rate) == ("ogg", 48_000)
    assert {f: FILE_FORMATS[f].content_type for f in ("mp3", "wav", "pcm")} == {
        "mp3": "audio/mpeg",
        "wav": "audio/wav",
        "pcm": "audio/pcm",
    }
    with pytest.raises(ValueError, match="unknown audio file format"):
        FileEncoder("docx", SAMPLE_RATE)


def test_an_encoder_closed_early_releases_its_codec(jfk):
    encoder = FileEncoder("mp3", SAMPLE_RATE)
    assert encoder.feed(jfk[:SAMPLE_RATE])  # a second of speech is out
    encoder.close()
    assert encoder.finish() == b""  # nothing more after a close
