"""Whisper over faster-whisper on real speech (batch path)."""

from __future__ import annotations

import pytest

from engines.audio import load_pcm
from engines.base import ASROptions
from engines.errors import EngineError
from testkit.wer import wer

pytestmark = pytest.mark.model


@pytest.mark.parametrize("model", ["asr_tiny", "asr_base"])
def test_jfk_word_error_rate(model, request, testdata):
    asr = request.getfixturevalue(model)
    audio = load_pcm(testdata / "openai-whisper/jfk.flac")
    reference = (testdata / "openai-whisper/jfk.txt").read_text()
    transcript = asr.transcribe(audio, ASROptions(word_timestamps=True))
    assert wer(reference, transcript.text) <= 0.10, transcript.text
    assert transcript.language == "en"
    assert transcript.end == pytest.approx(11.0, abs=0.01)
    starts = [w.start for w in transcript.words]
    assert starts == sorted(starts)
    assert all(0.0 <= w.start <= w.end <= transcript.end + 0.1 for w in transcript.words)
    assert len(transcript.words) >= 20  # 22 words in the reference


def test_base_on_8khz_telephony_with_forced_language(asr_base, testdata):
    audio = load_pcm(testdata / "asterisk/agent-pass.wav")  # decoded and upsampled to 16 kHz
    reference = (testdata / "asterisk/agent-pass.txt").read_text()
    forced = asr_base.transcribe(audio, ASROptions(language="en"))
    assert forced.language == "en"
    assert wer(reference, forced.text) <= 0.10, forced.text  # measured: 0.0


def test_english_only_model_rejects_other_languages(asr_tiny, testdata):
    with pytest.raises(EngineError, match="English-only"):
        asr_tiny.transcribe(
            load_pcm(testdata / "openai-whisper/jfk.flac"), ASROptions(language="de")
        )


def test_silence_gives_no_text(asr_base, testdata):
    transcript = asr_base.transcribe(load_pcm(testdata / "aana/squirrel.wav"), ASROptions())
    assert transcript.text == ""
    assert transcript.segments == ()


def test_progress_reaches_the_end(asr_tiny, testdata):
    seen: list[float] = []
    audio = load_pcm(testdata / "openai-whisper/jfk.flac")
    asr_tiny.transcribe(audio, ASROptions(), on_progress=seen.append)
    assert seen and seen == sorted(seen)
    assert seen[-1] == pytest.approx(11.0, abs=1.0)


@pytest.mark.parametrize("clip", ["asterisk/agent-pass", "deepspeech/LDC93S1_pcms16le_1_8000"])
def test_8khz_after_mulaw_round_trip(asr_base, testdata, clip):
    from engines.audio import resample
    from engines.g711 import ulaw_decode, ulaw_encode

    wideband = load_pcm(testdata / f"{clip}.wav")
    narrow = resample(wideband, 16_000, 8_000)
    telephone = resample(ulaw_decode(ulaw_encode(narrow)), 8_000, 16_000)
    reference = (testdata / f"{clip}.txt").read_text()
    clean = wer(reference, asr_base.transcribe(wideband, ASROptions(language="en")).text)
    heard = wer(reference, asr_base.transcribe(telephone, ASROptions(language="en")).text)
    assert heard <= clean + 0.05  # μ-law costs nothing measurable (measured: equal)
    if clip == "asterisk/agent-pass":
        assert heard <= 0.15  # measured 0.0
    # LDC93S1 (TIMIT) is 0.36 for Whisper base even before μ-law (tiny.en: 0.18): the 15 %
    # bar of issue 3 is out of reach for these models on this sentence.


# --- short encoder windows (engines/asr/windowing.py) ----------------------------------------

WINDOW_CLIPS = [
    "openai-whisper/jfk.flac",
    "pocketsphinx/sense_and_sensibility_01_austen_64kb-0870.wav",
    "pocketsphinx/sense_and_sensibility_01_austen_64kb-0880.wav",
    "deepspeech/new-home-in-the-stars-16k.wav",
    "pyroomacoustics/cmu_arctic_us_aew_a0001.wav",
    "asterisk/agent-pass.wav",
]


def test_encoder_window_frames():
    from engines.asr.windowing import EncoderWindow

    window = EncoderWindow(margin_s=1.0, min_s=5.0)
    assert window.frames(200) == 500  # 2 s of audio: the 5 s floor
    assert window.frames(1100) == 1200  # 11 s: audio + 1 s
    assert window.frames(2950) == 3000  # never past Whisper's 30 s
    assert window.frames(3001) is None  # longer than one window: the standard path


def test_short_window_is_used_and_transcribes_as_well(asr_base, testdata):
    """Whisper base with the final window: the same words as the 30 s window, same times."""
    from engines.asr.windowing import SHORT_WINDOW
    from engines.audio import int16_to_float32

    references, full_texts, short_texts, drifts = [], [], [], []
    for clip in WINDOW_CLIPS:
        audio = int16_to_float32(load_pcm(testdata / clip))
        references.append((testdata / clip).with_suffix(".txt").read_text())
        options = {"language": "en", "prompt": None, "beam_size": 5, "greedy_only": True}
        full = asr_base.decode(audio, **options).segments
        short = asr_base.decode(audio, **options, window=SHORT_WINDOW).segments
        assert asr_base.model.last_window_frames == SHORT_WINDOW.frames(len(audio) // 160)
        full_texts.append(" ".join(s.text for s in full))
        short_texts.append(" ".join(s.text for s in short))
        full_words = [w for s in full for w in s.words]
        short_words = [w for s in short for w in s.words]
        drifts += [abs(a.end - b.end) for a, b in zip(full_words, short_words, strict=False)]
    pooled = [wer(" ".join(references), " ".join(t)) for t in (full_texts, short_texts)]
    assert pooled[1] <= pooled[0] + 0.02, (full_texts, short_texts)  # measured: equal
    assert sorted(drifts)[len(drifts) // 2] <= 0.05  # median word-end shift; measured ~0.01 s
