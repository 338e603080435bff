"""Deterministic fallback: a window that loops is decoded again greedily, never sampled.

faster-whisper decodes each window at temperature 0 and, when the text looks degenerate
(compression ratio above its threshold) or unsure (average log-probability below its
threshold), decodes it again by *sampling* at higher temperatures, which CTranslate2 cannot
seed per call. :func:`deterministic_model_class` keeps faster-whisper's decision and
replaces its cure, so the same audio always gives the same text:

1. Decode at the schedule's first temperature (0). Accept it unless faster-whisper would
   fall back (same thresholds, same "it is silence" exception).
2. If it loops, decode again greedily with :data:`FALLBACK_REPETITION_PENALTY`; accept
   that when it passes.
3. Otherwise keep the best candidate by faster-whisper's own rule (those under the
   compression threshold first, then the highest average log-probability), reported at
   the schedule's last temperature so that faster-whisper resets the prompt of the next
   window as it does after a failed fallback.

An unsure window that does not loop is not retried. Decodes asked for at a single
temperature (greedy partials) are not touched; verbatim decoding uses the same retry.

Why this design, and measurements: docs/decisions/asr-fallback.md
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import cache
from typing import Any

FALLBACK_REPETITION_PENALTY = 1.3
"""Repetition penalty of the greedy retry of a looping window (never of a first decode).

Why this value: docs/decisions/asr-fallback.md
"""

DecodeResult = tuple[Any, float, float, float]
"""faster-whisper's ``generate_with_fallback`` result: (CTranslate2 result, average
log-probability, temperature, compression ratio)."""


def needs_fallback(candidate: DecodeResult, options: Any) -> bool:
    """Whether faster-whisper would decode this window again (its rule, exactly)."""
    result, avg_logprob = candidate[0], candidate[1]
    limit = options.log_prob_threshold
    unsure = limit is not None and avg_logprob < limit
    silence = options.no_speech_threshold is not None and (
        result.no_speech_prob > options.no_speech_threshold
    )
    if unsure and silence:
        return False  # faster-whisper drops the window instead
    return loops(candidate, options) or unsure


def loops(candidate: DecodeResult, options: Any) -> bool:
    """Whether the window's text compresses like a loop."""
    limit = options.compression_ratio_threshold
    return limit is not None and candidate[3] > limit


def decode_deterministically(generate: Callable[[Any], DecodeResult], options: Any) -> DecodeResult:
    """One window's decode with the deterministic fallback (steps in the module docstring).

    Args:
        generate: faster-whisper's ``generate_with_fallback`` for this window, taking the
            (replaced) ``TranscriptionOptions``.
        options: The decode's ``TranscriptionOptions``.

    Returns:
        The chosen candidate, as ``generate_with_fallback`` returns it.
    """
    temperatures = list(options.temperatures)
    if len(temperatures) <= 1:
        return generate(options)
    first = generate(dataclasses.replace(options, temperatures=temperatures[:1]))
    if not needs_fallback(first, options):
        return first
    candidates = [first]
    if loops(first, options):
        retry = generate(
            dataclasses.replace(
                options, temperatures=[0.0], repetition_penalty=FALLBACK_REPETITION_PENALTY
            )
        )
        if not needs_fallback(retry, options):
            return retry
        candidates.append(retry)
    fine = [c for c in candidates if not loops(c, options)] or candidates
    best = max(fine, key=lambda c: c[1])
    return best[0], best[1], temperatures[-1], best[3]


@cache
def deterministic_model_class(base: type) -> type:
    """``base`` (a ``faster_whisper.WhisperModel`` class) with the deterministic fallback."""

    class DeterministicWhisperModel(base):
        """Never samples when a window falls back (:mod:`engines.asr.fallback`)."""

        def generate_with_fallback(
            self, encoder_output: Any, prompt: list[int], tokenizer: Any, options: Any
        ) -> DecodeResult:
            parent = super().generate_with_fallback
            return decode_deterministically(
                lambda opts: parent(encoder_output, prompt, tokenizer, opts), options
            )

    DeterministicWhisperModel.__name__ = f"Deterministic{base.__name__}"
    return DeterministicWhisperModel
