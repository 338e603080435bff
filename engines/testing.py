"""Shipped fakes for pure-logic tests: deterministic stand-ins for real engines.

They implement the Protocols in :mod:`engines.base` with knobs instead of models, so the
logic around engines (hysteresis, the realtime session) can be tested without weights.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import numpy as np

from engines.audio import float_to_int16
from engines.base import PCM, EngineInfo, Voice
from engines.tts.streaming import check_request, stream_speech


class ScriptedScorer:
    """A :class:`~engines.base.FrameScorer` that returns a scripted probability per frame.

    Frame ``k`` since construction or the last :meth:`reset` scores ``probabilities[k]``;
    frames past the end of the script score ``default``.

    Args:
        probabilities: The per-frame scores, in order.
        frame_samples: Frame size the scorer declares (and checks).
        default: Score for frames past the script.
        record_frames: Keep a copy of every frame scored in :attr:`frames`.

    Attributes:
        calls: Frames scored since the last reset.
        resets: How many times :meth:`reset` was called.
        frames: Copies of the frames scored since the last reset (when recording).
    """

    def __init__(
        self,
        probabilities: Sequence[float],
        frame_samples: int = 512,
        *,
        default: float = 0.0,
        record_frames: bool = False,
    ) -> None:
        self.probabilities = [float(p) for p in probabilities]
        self.frame_samples = frame_samples
        self.default = default
        self.record_frames = record_frames
        self.calls = 0
        self.resets = 0
        self.frames: list[PCM] = []

    def score(self, frame: PCM) -> float:
        """Return the next scripted probability.

        Raises:
            ValueError: the frame is not ``frame_samples`` long.
        """
        if len(frame) != self.frame_samples:
            raise ValueError(f"expected {self.frame_samples} samples, got {len(frame)}")
        if self.record_frames:
            self.frames.append(np.array(frame, dtype=np.int16, copy=True))
        k = self.calls
        self.calls += 1
        return self.probabilities[k] if k < len(self.probabilities) else self.default

    def reset(self) -> None:
        """Restart the script from its first frame."""
        self.calls = 0
        self.resets += 1
        self.frames = []


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


class ToneTTS:
    """A :class:`~engines.base.TTSEngine` that speaks each sentence as a sine tone.

    It runs the real streaming layer (:func:`~engines.tts.streaming.stream_speech`), so
    tags, laziness and cancellation behave as with Piper or hibari: sentences are split
    after ``.``, ``!`` or ``?`` followed by whitespace, each rendered as
    ``seconds_per_sentence / speed`` of a half-scale sine, and tag gaps are exact zeros.
    Every rendered sentence is recorded, so tests can count synthesis work without clocks.

    Args:
        hz: Tone frequency.
        sample_rate: Rate of the PCM it yields.
        seconds_per_sentence: Tone length per sentence at speed 1.
        voiced_tags: Tag names to treat as voiced (passed inline to the kernel).

    Attributes:
        rendered: The sentences rendered so far, in order (the kernel's call log).
    """

    voice_id = "tone"

    def __init__(
        self,
        hz: float = 440,
        sample_rate: int = 24_000,
        seconds_per_sentence: float = 0.2,
        *,
        voiced_tags: frozenset[str] = frozenset(),
    ) -> None:
        self.hz = hz
        self.sample_rate = sample_rate
        self.seconds_per_sentence = seconds_per_sentence
        self.voiced_tags = voiced_tags
        self.rendered: list[str] = []
        self.info = EngineInfo("tone", f"{hz:g} Hz")

    def voices(self) -> Sequence[Voice]:
        """The one voice, ``"tone"`` (language-neutral), at :attr:`sample_rate`."""
        return (Voice(self.voice_id, None, self.sample_rate),)

    def synthesize(
        self, text: str, *, voice: str | None = None, speed: float = 1.0
    ) -> Iterator[PCM]:
        """Yield one tone per sentence and one silence per tag gap, lazily.

        Raises:
            EngineError: unknown voice or speed out of range (before any audio).
        """
        check_request(voice, speed, voice_id=self.voice_id)
        return stream_speech(self, text, speed=speed)

    def split_sentences(self, text: str) -> Sequence[str]:
        """Split after sentence-ending punctuation."""
        return [s for s in _SENTENCE_END.split(text) if s.strip()]

    def render_sentence(self, unit: str, speed: float) -> PCM:
        """Record ``unit`` and return its tone."""
        self.rendered.append(unit)
        n = round(self.seconds_per_sentence / speed * self.sample_rate)
        t = np.arange(n, dtype=np.float64) / self.sample_rate
        return float_to_int16(0.5 * np.sin(2 * np.pi * self.hz * t))
