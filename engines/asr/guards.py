"""Hallucination guards for Whisper output.

Whisper invents text for non-speech ("Thank you.", "you") and loops ("the the the …").
These checks run on every decode, partial and final:

* :func:`segment_is_trustworthy` drops segments that are probably not speech
  (``no_speech_prob`` high while the decoder is unsure) or degenerate (``compression_ratio``
  above 2.4: the text compresses like a loop).
* :func:`cut_repetition` truncates a word sequence where an n-gram starts repeating
  back-to-back more often than speech plausibly does.
* :func:`is_stock_hallucination` recognises the phrases Whisper emits for silence and noise;
  callers drop them only when the audio also looks like non-speech.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

NO_SPEECH_PROB = 0.6
"""Above this, a segment is probably not speech …"""
LOW_LOGPROB = -1.0
"""… unless the decoder is confident (average log-probability above this)."""
VERY_NO_SPEECH_PROB = 0.85
"""Above this, a segment is dropped whatever its log-probability."""
MAX_COMPRESSION_RATIO = 2.4
"""gzip ratio above which text is a loop (Whisper's own threshold)."""

_STOCK = {
    "you",
    "thank you",
    "thanks",
    "thank you very much",
    "thanks for watching",
    "thank you for watching",
    "bye",
    "so",
    "okay",
    "oh",
    "hmm",
    "subtitles by the amaraorg community",
    "please subscribe",
}


def normalise_word(text: str) -> str:
    """Lower-case a word and strip punctuation, for comparing words across decodes."""
    return re.sub(r"[^\w']+", "", text.lower())


def segment_is_trustworthy(segment: Any) -> bool:
    """True unless a faster-whisper segment looks like non-speech or a loop."""
    if segment.no_speech_prob > VERY_NO_SPEECH_PROB:
        return False
    if segment.no_speech_prob > NO_SPEECH_PROB and segment.avg_logprob < LOW_LOGPROB:
        return False
    return segment.compression_ratio <= MAX_COMPRESSION_RATIO


class _HasText(Protocol):
    @property
    def text(self) -> str: ...


W = TypeVar("W", bound=_HasText)


def cut_repetition(words: Sequence[W], max_ngram: int = 4) -> list[W]:
    """Truncate ``words`` where an n-gram repeats back-to-back too often.

    A single word may occur three times in a row ("no, no, no"); a longer n-gram twice.
    The kept prefix ends with the last allowed occurrence.
    """
    keys = [normalise_word(w.text) for w in words]
    for i in range(len(keys)):
        for n in range(1, max_ngram + 1):
            allowed = 3 if n == 1 else 2
            span = n * (allowed + 1)
            if i + span > len(keys):
                continue
            gram = keys[i : i + n]
            if all(keys[i + k * n : i + (k + 1) * n] == gram for k in range(allowed + 1)):
                return list(words[: i + n * allowed])
    return list(words)


def is_stock_hallucination(text: str) -> bool:
    """True when the whole text is one of Whisper's stock phrases for non-speech."""
    return " ".join(normalise_word(w) for w in text.split()) in _STOCK
