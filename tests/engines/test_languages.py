"""Whisper's language names (what ``verbose_json`` reports, as OpenAI's whisper-1 does)."""

from __future__ import annotations

from faster_whisper.tokenizer import _LANGUAGE_CODES

from engines.asr.languages import WHISPER_LANGUAGE_NAMES, language_name


def test_every_language_whisper_detects_has_its_name():
    assert set(_LANGUAGE_CODES) == set(WHISPER_LANGUAGE_NAMES)
    assert language_name("en") == "english" and language_name("yue") == "cantonese"
    assert language_name("xx") == "xx"  # unknown codes pass through
