"""The streaming layer every TTS engine shares, written once.

An engine implements a small :class:`SentenceKernel`: split text into sentence units (its
own G2P does this) and render one unit to int16 PCM. :func:`stream_speech` does the rest:

* inline tags (:mod:`engines.tts.tags`) the kernel cannot voice become silences at their
  positions, or are dropped; they are never passed to the kernel as words;
* text is split into sentences lazily, piece by piece, and each sentence's audio is yielded
  as soon as it is rendered: nothing runs before the first ``next()``, and after the
  ``k``-th chunk at most the sentences up to it have been rendered;
* closing the iterator (or dropping it) between chunks means no later sentence is rendered,
  which is how the realtime runner cancels a response (barge-in).

Engines compose this (``return stream_speech(self, text, speed=speed)``) instead of
inheriting from a base class. :func:`check_request` holds the validation every engine does
before any audio.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, TypeVar

import numpy as np

from engines.base import PCM
from engines.errors import EngineError
from engines.tts.tags import Silence, plan_speech

Unit = TypeVar("Unit")

MIN_SPEED = 0.25
"""Slowest accepted speaking-rate multiplier."""

MAX_SPEED = 4.0
"""Fastest accepted speaking-rate multiplier."""


class SentenceKernel(Protocol[Unit]):
    """What a TTS plugin implements; :func:`stream_speech` turns it into a stream.

    Both methods may block and are called from the worker thread that consumes the stream.
    Kernels shared across sessions must be safe to call from several threads at once:
    guard global state (espeak-ng, a lazily built G2P) with a lock inside the kernel.

    Attributes:
        sample_rate: Rate of the PCM :meth:`render_sentence` returns.
        voiced_tags: Inline tag names the engine renders itself; it receives them inline,
            as written, in the text given to :meth:`split_sentences`.
    """

    sample_rate: int
    voiced_tags: frozenset[str]

    def split_sentences(self, text: str) -> Sequence[Unit]:
        """Split tag-free text (bar voiced tags) into units to render one at a time.

        Args:
            text: One or more sentences, stripped, never empty.

        Returns:
            One unit per sentence (e.g. its phonemes), in order; possibly empty.
        """
        ...

    def render_sentence(self, unit: Unit, speed: float) -> PCM:
        """Synthesise one unit.

        Args:
            unit: A unit from :meth:`split_sentences`.
            speed: Speaking-rate multiplier, already validated (> 1 is faster).

        Returns:
            Mono int16 PCM at ``sample_rate``; possibly empty.
        """
        ...


def check_request(voice: str | None, speed: float, *, voice_id: str) -> None:
    """Validate a synthesis request before any audio is produced.

    Args:
        voice: The requested voice; None means the engine's own.
        speed: The requested speaking-rate multiplier.
        voice_id: The only voice the engine has.

    Raises:
        EngineError: an unknown voice, or a speed outside ``MIN_SPEED``–``MAX_SPEED``.
    """
    if voice not in (None, voice_id):
        raise EngineError(f"unknown voice {voice!r}; this engine has {voice_id!r}")
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise EngineError(f"speed {speed} is out of range {MIN_SPEED:g}–{MAX_SPEED:g}")


def stream_speech(kernel: SentenceKernel[Unit], text: str, *, speed: float = 1.0) -> Iterator[PCM]:
    """Synthesise tagged text lazily: one int16 chunk per sentence, one per tag silence.

    Nothing happens until the first ``next()``. Each sentence is rendered only when the
    caller asks for the chunk after the previous one, so the first chunk arrives after one
    sentence's work whatever the text's length, and closing the iterator between chunks
    stops synthesis there. Empty renders are skipped; tag silences are zeros of the length
    in :data:`engines.tts.tags.TAG_SILENCE_MS` at the kernel's rate.

    Args:
        kernel: The engine's sentence kernel.
        text: What to say, with optional inline tags.
        speed: Speaking-rate multiplier, already validated (:func:`check_request`).

    Yields:
        Mono int16 PCM at ``kernel.sample_rate``.
    """
    for step in plan_speech(text, kernel.voiced_tags):
        if isinstance(step, Silence):
            yield np.zeros(step.samples(kernel.sample_rate), np.int16)
            continue
        for unit in kernel.split_sentences(step):
            audio = kernel.render_sentence(unit, speed)
            if len(audio):
                yield audio
