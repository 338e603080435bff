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


def cut_repetition(words: Sequence[W], max_ngram: int = 4, max_phrase: int = 16) -> list[W]:
    """Truncate ``words`` where an n-gram repeats back-to-back too often.

    A single word may occur three times in a row ("no, no, no"); an n-gram of up to
    ``max_ngram`` words twice; a longer phrase (up to ``max_phrase`` words) once: Whisper,
    prompted, may loop on a whole sentence ("150 joules is enough to kill you." three
    times). The kept prefix ends with the last allowed occurrence.
    """
    keys = [normalise_word(w.text) for w in words]
    for i in range(len(keys)):
        for n in range(1, max_phrase + 1):
            allowed = 3 if n == 1 else 2 if n <= max_ngram else 1
            span = n * (allowed + 1)
            if i + span > len(keys):
                break
            gram = keys[i : i + n]
            if all(keys[i + k * n : i + (k + 1) * n] == gram for k in range(allowed + 1)):
                return list(words[: i + n * allowed])
    return list(words)


def is_stock_hallucination(text: str) -> bool:
    """True when the whole text is one of Whisper's stock phrases for non-speech."""
    return " ".join(normalise_word(w) for w in text.split()) in _STOCK


def echoes_prompt(words: Sequence[str], prompt: str, min_words: int = 3) -> bool:
    """True when a decode mostly repeats its prompt (Whisper's prompt-induced hallucination).

    Whisper conditioned on earlier text sometimes writes that text again instead of the
    audio. A decode echoes when at least ``min_words`` of its words, and at least half of
    them, form one run found word for word in the prompt. A genuine repetition by the
    speaker also matches; the caller decodes again without the prompt, which costs time
    only.
    """
    said = [k for k in (normalise_word(w) for w in words) if k]
    if len(said) < min_words:
        return False
    context = [k for k in (normalise_word(w) for w in prompt.split()) if k]
    longest = _longest_common_run(said, context)
    return longest >= min_words and longest * 2 >= len(said)


def _longest_common_run(a: list[str], b: list[str]) -> int:
    from difflib import SequenceMatcher

    match = SequenceMatcher(a=a, b=b, autojunk=False).find_longest_match(0, len(a), 0, len(b))
    return int(match.size)
