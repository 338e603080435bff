"""Piper and hibari speech engines: real voices, checked by listening with Whisper."""

from __future__ import annotations

import numpy as np
import pytest

from engines.audio import resample
from engines.base import ASROptions
from engines.errors import EngineError
from engines.models import ensure
from engines.tts.tags import strip_tags
from tests.conftest import wer

pytestmark = pytest.mark.model

SENTENCE = "The quick brown fox jumps over the lazy dog. It was a sunny day."


@pytest.fixture(scope="module", params=["piper", "hibari"])
def tts(request, model_cache_dir):
    if request.param == "piper":
        from engines.tts.piper import PiperTTS

        return PiperTTS(ensure("piper-joe", model_cache_dir))
    from engines.tts.hibari import HibariTTS

    return HibariTTS(ensure("hibari-heart", model_cache_dir))


def test_speech_is_intelligible(tts, asr_base):
    chunks = list(tts.synthesize(SENTENCE))
    assert len(chunks) == 2  # one per sentence: the runner can cancel between them
    assert all(c.dtype == np.int16 and c.ndim == 1 for c in chunks)
    pcm = np.concatenate(chunks)
    seconds = len(pcm) / tts.sample_rate
    assert 2.0 < seconds < 8.0
    assert np.abs(pcm).max() > 8000  # audible, not silence
    heard = asr_base.transcribe(resample(pcm, tts.sample_rate, 16_000), ASROptions(language="en"))
    assert wer(SENTENCE, heard.text) <= 0.15, heard.text


def test_declared_rates(tts):
    assert tts.sample_rate == {"piper": 22_050, "hibari": 24_000}[tts.info.name]
    assert [v.id for v in tts.voices()] == [tts.info.model]


def test_speed_changes_duration(tts):
    normal = sum(len(c) for c in tts.synthesize("Hello there, how are you?"))
    fast = sum(len(c) for c in tts.synthesize("Hello there, how are you?", speed=1.5))
    assert fast < 0.85 * normal


def test_inline_tags_are_not_spoken(tts, asr_base):
    pcm = np.concatenate(list(tts.synthesize("Hello there. [laugh] Nice to meet you.")))
    heard = asr_base.transcribe(resample(pcm, tts.sample_rate, 16_000), ASROptions(language="en"))
    assert "laugh" not in heard.text.lower()
    assert wer("Hello there. Nice to meet you.", heard.text) <= 0.2, heard.text


def test_bad_requests_fail_before_audio(tts):
    with pytest.raises(EngineError, match="unknown voice"):
        tts.synthesize("hi", voice="nobody")
    with pytest.raises(EngineError, match="speed"):
        tts.synthesize("hi", speed=10)


def test_empty_text_yields_nothing(tts):
    assert list(tts.synthesize("   ")) == []


def test_strip_tags():
    assert strip_tags("Well [laugh] that is <breath/> funny [cough]") == "Well that is funny"
    assert strip_tags("[sigh]") == ""
    assert strip_tags("keep [Proper Nouns] and a[1]") == "keep [Proper Nouns] and a[1]"
