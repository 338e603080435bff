"""Whisper over faster-whisper on real speech (batch path)."""

from __future__ import annotations

import pytest

from engines.audio import load_pcm
from engines.base import ASROptions
from engines.errors import EngineError
from tests.conftest import wer

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
