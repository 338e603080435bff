"""Per-token log-probabilities of Whisper decodes, for ``include: […logprobs]``.

faster-whisper times words by running CTranslate2's ``align`` over each segment's text
tokens; that pass also returns the probability the model gives each of those tokens
(teacher-forced: the probability of the token actually decoded, given the audio and the
tokens before it). faster-whisper averages them into ``Word.probability`` and drops the rest.
:func:`recording_model_class` keeps them: while :meth:`recording` is active on a thread, the
probabilities of every aligned segment of that thread's decodes are kept, keyed by the
segment's text tokens. :func:`word_tokens` then hands each word of a segment its tokens.

Only decodes with word timestamps align (every decode of the streaming adapter does).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any

from engines.base import TokenLogprob

TokenProbs = dict[tuple[int, ...], tuple[float, ...]]
"""Text tokens of a segment → the probability of each."""

_MIN_PROBABILITY = 1e-12  # log(0) guard


@cache
def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level BPE alphabet, reversed: each printable stand-in → its byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return {char: b for b, char in table.items()}


def token_bytes(tokenizer: Any, token_id: int) -> bytes:
    """The UTF-8 bytes a Whisper token stands for (a token may hold part of a character)."""
    piece = tokenizer.id_to_token(token_id) or ""
    decoder = _byte_decoder()
    return bytes(decoder[c] for c in piece if c in decoder)


def to_logprobs(
    tokenizer: Any, tokens: Sequence[int], probabilities: Sequence[float]
) -> list[TokenLogprob]:
    """One :class:`~engines.base.TokenLogprob` per token (text, natural log, bytes)."""
    out = []
    for token_id, probability in zip(tokens, probabilities, strict=True):
        raw = token_bytes(tokenizer, token_id)
        out.append(
            TokenLogprob(
                token=raw.decode("utf-8", errors="replace"),
                logprob=math.log(max(float(probability), _MIN_PROBABILITY)),
                bytes=tuple(raw),
            )
        )
    return out


def segment_text_tokens(segment: Any, eot: int) -> tuple[int, ...]:
    """A faster-whisper segment's text tokens (timestamps and special tokens removed)."""
    return tuple(t for t in segment.tokens if t < eot)


def word_tokens(
    tokenizer: Any, segment: Any, probs: Mapping[tuple[int, ...], tuple[float, ...]]
) -> list[tuple[TokenLogprob, ...]] | None:
    """The tokens of each of ``segment.words``, in order; None when they cannot be told.

    Args:
        tokenizer: The model's Hugging Face ``tokenizers.Tokenizer``.
        segment: A faster-whisper segment decoded with word timestamps.
        probs: What :meth:`recording` collected during its decode.

    A token belongs to the word holding its first byte (words and tokens spell the same
    bytes: faster-whisper builds word texts from the tokens, punctuation merged in).
    """
    tokens = segment_text_tokens(segment, tokenizer.token_to_id("<|endoftext|>"))
    probabilities = probs.get(tokens)
    words = segment.words or ()
    if probabilities is None or len(probabilities) != len(tokens):
        return None
    logprobs = to_logprobs(tokenizer, tokens, probabilities)
    ends, total = [], 0
    for word in words:
        total += len(word.word.encode("utf-8"))
        ends.append(total)
    if total != sum(len(t.bytes) for t in logprobs):
        return None
    grouped: list[list[TokenLogprob]] = [[] for _ in words]
    position, index = 0, 0
    for token in logprobs:
        while index < len(ends) - 1 and position >= ends[index]:
            index += 1
        if grouped:
            grouped[index].append(token)
        position += len(token.bytes)
    return [tuple(group) for group in grouped]


def decode_logprobs(
    tokenizer: Any, segments: Sequence[Any], probs: Mapping[tuple[int, ...], tuple[float, ...]]
) -> list[list[TokenLogprob]] | None:
    """The text tokens of each segment of a whole decode, with their log-probabilities.

    faster-whisper aligns all the segments of one 30 s window at once, so ``probs`` holds
    one entry per window (its segments' tokens joined), recorded in decode order; the
    entries that spell the decode's tokens in order are taken (a window decoded again
    and dropped by the fallback is skipped).

    Args:
        tokenizer: The model's Hugging Face ``tokenizers.Tokenizer``.
        segments: Every segment of the decode, in order, decoded with word timestamps.
        probs: What :meth:`recording` collected during the decode.

    Returns:
        One list per segment; None when the recorded windows do not spell the tokens.
    """
    eot = tokenizer.token_to_id("<|endoftext|>")
    tokens = [segment_text_tokens(segment, eot) for segment in segments]
    flat = [t for segment_tokens in tokens for t in segment_tokens]
    found: list[float] = []
    for window, values in probs.items():
        start = len(found)
        if len(values) == len(window) and tuple(flat[start : start + len(window)]) == window:
            found.extend(values)
    if len(found) != len(flat):
        return None
    out, position = [], 0
    for segment_tokens in tokens:
        end = position + len(segment_tokens)
        out.append(to_logprobs(tokenizer, segment_tokens, found[position:end]))
        position = end
    return out


class _AlignRecorder:
    """A CTranslate2 Whisper model whose ``align`` results are recorded on this thread."""

    def __init__(self, model: Any, local: threading.local) -> None:
        self._model = model
        self._local = local

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def align(self, encoder_output: Any, sot: Any, text_tokens: Any, *args: Any, **kw: Any) -> Any:
        results = self._model.align(encoder_output, sot, text_tokens, *args, **kw)
        record: TokenProbs | None = getattr(self._local, "probs", None)
        if record is not None:
            for tokens, result in zip(text_tokens, results, strict=False):
                record[tuple(tokens)] = tuple(float(p) for p in result.text_token_probs)
        return results


@cache
def recording_model_class(base: type) -> type:
    """``base`` (a ``faster_whisper.WhisperModel`` class) with :meth:`recording`."""

    class RecordingWhisperModel(base):
        """Keeps the token probabilities of the aligned segments (thread-safe)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._token_probs = threading.local()
            self.model: Any = _AlignRecorder(self.model, self._token_probs)

        @contextmanager
        def recording(self) -> Iterator[TokenProbs]:
            """Collect the token probabilities of this thread's decodes within."""
            previous = getattr(self._token_probs, "probs", None)
            record: TokenProbs = {}
            self._token_probs.probs = record
            try:
                yield record
            finally:
                self._token_probs.probs = previous

    RecordingWhisperModel.__name__ = f"Recording{base.__name__}"
    return RecordingWhisperModel
