"""Shipped fakes for pure-logic tests: deterministic stand-ins for real engines.

They implement the Protocols in :mod:`engines.base` with knobs instead of models, so the
logic around engines (hysteresis, the realtime session) can be tested without weights.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from engines.audio import float_to_int16
from engines.base import (
    PCM,
    SAMPLE_RATE,
    ASROptions,
    AudioChunk,
    DecodeOptions,
    EngineInfo,
    ProgressCallback,
    SpeechEdge,
    Transcript,
    TranscriptDelta,
    VADEvent,
    VADOptions,
    Voice,
)
from engines.errors import EngineError
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
GATE_TIMEOUT_S = 30.0
"""How long a gated ToneTTS waits for its gate before failing the sentence."""


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
        gate: When given, every sentence after the first waits (on its rendering thread)
            until the event is set: a response held open for as long as a test needs.

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
        gate: threading.Event | None = None,
    ) -> None:
        self.hz = hz
        self.sample_rate = sample_rate
        self.seconds_per_sentence = seconds_per_sentence
        self.voiced_tags = voiced_tags
        self.gate = gate
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
        """Record ``unit`` and return its tone (after the gate, for all but the first)."""
        if self.gate is not None and self.rendered and not self.gate.wait(GATE_TIMEOUT_S):
            raise EngineError("ToneTTS: the gate was never opened")
        self.rendered.append(unit)
        n = round(self.seconds_per_sentence / speed * self.sample_rate)
        t = np.arange(n, dtype=np.float64) / self.sample_rate
        return float_to_int16(0.5 * np.sin(2 * np.pi * self.hz * t))


class ScriptedVAD:
    """A :class:`~engines.base.VADEngine` whose streams emit scripted edges.

    Each stream reports an edge once the audio fed to it reaches the edge's sample.

    Args:
        edges: ``(edge, sample)`` pairs in timeline order, e.g.
            ``[(SpeechEdge.START, 1600), (SpeechEdge.END, 24000)]``.
    """

    info = EngineInfo("scripted-vad", "script")

    def __init__(self, edges: Sequence[tuple[SpeechEdge, int]]) -> None:
        self.edges = list(edges)

    def open_stream(self, options: VADOptions) -> _ScriptedVADStream:
        """A stream over the script (``options`` are ignored)."""
        return _ScriptedVADStream(self.edges)


class _ScriptedVADStream:
    def __init__(self, edges: list[tuple[SpeechEdge, int]]) -> None:
        self._edges = edges
        self._next = 0

    def feed(self, chunk: AudioChunk) -> list[VADEvent]:
        out: list[VADEvent] = []
        while self._next < len(self._edges) and self._edges[self._next][1] < chunk.end:
            edge, sample = self._edges[self._next]
            out.append(VADEvent(edge, sample, 1.0 if edge is SpeechEdge.START else 0.0))
            self._next += 1
        return out

    def reset(self) -> None:
        self._next = 0


class ScriptedASR:
    """An :class:`~engines.base.ASREngine` that "recognises" a fixed transcript.

    Each ``partial()`` after new audio emits the next word as a delta; ``finalize()``
    returns the whole transcript (so deltas are always a prefix of it).

    Args:
        transcript: The text every utterance is heard as.
        fail_with: Raise this from ``finalize()`` (engine-failure paths).
        language: Reported language.

    Attributes:
        finalized: How many utterances were finalized, across streams.
    """

    info = EngineInfo("scripted-asr", "script")

    def __init__(
        self,
        transcript: str = "hello world",
        *,
        fail_with: Exception | None = None,
        language: str = "en",
    ) -> None:
        self.transcript = transcript
        self.fail_with = fail_with
        self.language = language
        self.finalized = 0

    def open_stream(self, options: ASROptions) -> _ScriptedASRStream:
        """A stream over the script."""
        return _ScriptedASRStream(self)

    def transcribe(
        self,
        audio: PCM,
        options: ASROptions,
        *,
        decode: DecodeOptions | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Transcript:
        """The scripted transcript, timed over ``audio`` (no segments, no progress)."""
        return Transcript(self.transcript, self.language, 0.0, len(audio) / SAMPLE_RATE)


class _ScriptedASRStream:
    def __init__(self, engine: ScriptedASR) -> None:
        self._engine = engine
        self.reset()

    def reset(self) -> None:
        self._start: int | None = None
        self._samples = 0
        self._fresh = False
        self._emitted = 0

    def feed(self, chunk: AudioChunk) -> None:
        if self._start is None:
            self._start = chunk.start
        self._samples += len(chunk.samples)
        self._fresh = True

    def partial(self) -> list[TranscriptDelta]:
        words = self._engine.transcript.split(" ")
        if not self._fresh or self._emitted >= len(words):
            return []
        self._fresh = False
        text = words[self._emitted] if self._emitted == 0 else f" {words[self._emitted]}"
        self._emitted += 1
        return [TranscriptDelta(text)]

    def finalize(self) -> Transcript:
        start = (self._start or 0) / SAMPLE_RATE
        end = start + self._samples / SAMPLE_RATE
        self.reset()
        self._engine.finalized += 1
        if self._engine.fail_with is not None:
            raise self._engine.fail_with
        return Transcript(self._engine.transcript, self._engine.language, start, end)


if TYPE_CHECKING:  # `make lint` (mypy) checks that the fakes satisfy the engine Protocols
    from engines.base import ASREngine, FrameScorer, TTSEngine, VADEngine

    def _satisfies(
        asr: ScriptedASR, vad: ScriptedVAD, tts: ToneTTS, scorer: ScriptedScorer
    ) -> tuple[ASREngine, VADEngine, TTSEngine, FrameScorer]:
        return asr, vad, tts, scorer
