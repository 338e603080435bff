"""Hysteresis over any frame scorer: OpenAI ``server_vad`` turn detection on the sample timeline.

A :class:`HysteresisVAD` turns per-frame speech probabilities (from any
:class:`~engines.base.FrameScorer`) into alternating START/END edges. It is the logic written
once; a VAD plugin only scores frames.

Rules, with ``frame = scorer.frame_samples`` and frame ``k`` covering samples
``[origin + k·frame, origin + (k+1)·frame)``:

* **Thresholds.** ``threshold`` comes from :class:`~engines.base.VADOptions`; the lower
  (release) threshold is ``max(threshold - 0.15, 0.01)``, the offset Silero's own
  ``VADIterator`` uses. Outside speech a frame is *speech* when its probability is
  ``≥ threshold``. Inside speech a frame is *silent* only when its probability is
  ``< release threshold``; any other frame keeps the speech going.
* **START** fires on the first speech frame outside speech. Its sample is that frame's first
  sample minus ``prefix_padding_ms``, clamped so it is never before the first sample this
  stream saw and never before the previous END's sample.
* **END** fires on the frame that completes ``ceil(silence_duration_ms · 16 / frame)``
  consecutive silent frames (at least one). Its sample is the first sample of that silent
  run, i.e. one past the last sample of the last non-silent frame. The event is therefore
  *emitted* one silence duration (rounded up to whole frames) after the sample it reports;
  add ``silence_frames · frame`` to get the emission point.
* **End of input.** :meth:`HysteresisVAD.flush` closes open speech: at the start of the
  current silent run if one is in progress, else at the end of all audio fed (the unscored
  tail shorter than a frame counts as continuing speech).

* **PAUSE / RESUME** (only with ``pause_ms`` set and shorter than the silence duration):
  PAUSE fires on the frame that completes ``ceil(pause_ms · 16 / frame)`` consecutive silent
  frames inside speech, at the same sample an END of that silent run would report; RESUME
  fires on the next non-silent frame of the same speech (at its first sample). An END after
  a PAUSE with no RESUME between them reports the PAUSE's sample.

START and END strictly alternate START, END, START, …; every edge's sample is ≥ the
previous edge's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from engines.base import (
    PCM,
    SAMPLE_RATE,
    AudioChunk,
    FrameScorer,
    SpeechEdge,
    VADEngine,
    VADEvent,
    VADOptions,
    VADStream,
)

RELEASE_OFFSET = 0.15
"""The release threshold sits this far below ``threshold`` (Silero's ``VADIterator``)."""

MIN_RELEASE_THRESHOLD = 0.01
"""Floor of the release threshold, so a threshold below 0.16 still has a silence level."""


def release_threshold(threshold: float) -> float:
    """The probability below which a frame counts as silent inside speech.

    Args:
        threshold: The START threshold.

    Returns:
        ``max(threshold - 0.15, 0.01)``.
    """
    return max(threshold - RELEASE_OFFSET, MIN_RELEASE_THRESHOLD)


def ms_to_samples(ms: int) -> int:
    """Milliseconds to samples at :data:`~engines.base.SAMPLE_RATE`."""
    return ms * SAMPLE_RATE // 1000


class HysteresisVAD:
    """A :class:`~engines.base.VADStream` applying ``server_vad`` hysteresis to a frame scorer.

    Feed contiguous chunks of any length; full frames are scored as soon as they are complete
    and the rest (fewer than ``frame_samples`` samples) waits in a fixed remainder buffer.
    The first chunk after construction or :meth:`reset` anchors the timeline (usually at
    sample 0); every later chunk must start where the previous one ended.

    The stream owns its scorer: :meth:`reset` resets it too. Thread-confined.

    Args:
        scorer: The frame kernel, e.g. a Silero scorer. Its state should be fresh.
        options: Threshold, prefix padding and silence duration.
    """

    def __init__(self, scorer: FrameScorer, options: VADOptions | None = None) -> None:
        options = options if options is not None else VADOptions()
        if not 0.0 <= options.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {options.threshold}")
        if options.prefix_padding_ms < 0 or options.silence_duration_ms < 0:
            raise ValueError("prefix_padding_ms and silence_duration_ms must be ≥ 0")
        frame = int(scorer.frame_samples)
        if frame <= 0:
            raise ValueError(f"scorer.frame_samples must be positive, got {frame}")
        self._scorer = scorer
        self._options = options
        self._frame = frame
        self._release = release_threshold(options.threshold)
        self._prefix = ms_to_samples(options.prefix_padding_ms)
        self._silence_frames = max(1, math.ceil(ms_to_samples(options.silence_duration_ms) / frame))
        pause = options.pause_ms
        pause_frames = max(1, math.ceil(ms_to_samples(pause) / frame)) if pause is not None else 0
        self._pause_frames = pause_frames if 0 < pause_frames < self._silence_frames else 0
        self._pending = np.zeros(frame, dtype=np.int16)
        self._clear()

    def _clear(self) -> None:
        self._filled = 0  # samples waiting in self._pending
        self._origin: int | None = None  # first sample of the stream; None until the first chunk
        self._next = 0  # sample index the next chunk must start at
        self._frame_end = 0  # one past the last scored sample
        self._speaking = False
        self._silent_run = 0  # consecutive silent frames while speaking
        self._floor = 0  # earliest sample a START may report
        self._last_probability = 0.0

    @property
    def options(self) -> VADOptions:
        """The options this stream applies."""
        return self._options

    @property
    def frame_samples(self) -> int:
        """Samples per scored frame."""
        return self._frame

    @property
    def silence_frames(self) -> int:
        """Consecutive silent frames that end speech."""
        return self._silence_frames

    @property
    def speaking(self) -> bool:
        """True between a START and its END."""
        return self._speaking

    @property
    def position(self) -> int | None:
        """The sample the next chunk must start at; None before the first chunk."""
        return None if self._origin is None else self._next

    def feed(self, chunk: AudioChunk) -> list[VADEvent]:
        """Consume audio and return the edges it completes.

        Args:
            chunk: Mono int16 samples, contiguous with the previous chunk.

        Returns:
            New edges in timeline order (possibly empty).

        Raises:
            ValueError: the chunk does not start where the previous one ended, starts before
                sample 0, or is not one-dimensional.
        """
        samples = np.asarray(chunk.samples)
        if samples.ndim != 1:
            raise ValueError(f"chunk samples must be 1-D, got shape {samples.shape}")
        if self._origin is None:
            if chunk.start < 0:
                raise ValueError(f"chunk starts at negative sample {chunk.start}")
            self._origin = self._next = self._frame_end = self._floor = chunk.start
        elif chunk.start != self._next:
            raise ValueError(
                f"chunk starts at sample {chunk.start}, expected {self._next} (chunks must be contiguous)"
            )
        self._next += len(samples)
        events: list[VADEvent] = []
        frame = self._frame
        offset = 0
        if self._filled:
            take = min(frame - self._filled, len(samples))
            self._pending[self._filled : self._filled + take] = samples[:take]
            self._filled += take
            offset = take
            if self._filled < frame:
                return events
            self._filled = 0
            self._step(self._pending, events)
        while len(samples) - offset >= frame:
            self._step(samples[offset : offset + frame], events)
            offset += frame
        rest = len(samples) - offset
        if rest:
            self._pending[:rest] = samples[offset:]
            self._filled = rest
        return events

    def _step(self, frame: PCM, events: list[VADEvent]) -> None:
        """Score one full frame and advance the hysteresis."""
        start = self._frame_end
        self._frame_end += self._frame
        p = float(self._scorer.score(frame))
        self._last_probability = p
        if not self._speaking:
            if p >= self._options.threshold:
                self._speaking = True
                self._silent_run = 0
                edge = max(start - self._prefix, self._floor)
                events.append(VADEvent(SpeechEdge.START, edge, p))
            return
        if p >= self._release:
            if self._pause_frames and self._silent_run >= self._pause_frames:
                events.append(VADEvent(SpeechEdge.RESUME, start, p))
            self._silent_run = 0
            return
        self._silent_run += 1
        if self._silent_run == self._pause_frames:
            events.append(
                VADEvent(SpeechEdge.PAUSE, self._frame_end - self._silent_run * self._frame, p)
            )
        if self._silent_run >= self._silence_frames:
            end = self._frame_end - self._silent_run * self._frame
            events.append(VADEvent(SpeechEdge.END, end, p))
            self._speaking = False
            self._silent_run = 0
            self._floor = end

    def flush(self) -> list[VADEvent]:
        """End the input: close open speech, then reset the stream.

        Returns:
            ``[END]`` when speech was open (at the start of the current silent run, or at the
            end of all audio fed when the speech had not started to fall silent), else ``[]``.
            The END's probability is the last frame's score.
        """
        events: list[VADEvent] = []
        if self._speaking:
            end = (
                self._frame_end - self._silent_run * self._frame if self._silent_run else self._next
            )
            events.append(VADEvent(SpeechEdge.END, end, self._last_probability))
        self.reset()
        return events

    def reset(self) -> None:
        """Forget all state, the scorer's included; the next chunk anchors a new timeline."""
        self._scorer.reset()
        self._clear()


@runtime_checkable
class _OpensStreams(Protocol):
    def open_stream(self, options: VADOptions) -> VADStream: ...


def speech_segments(
    source: FrameScorer | VADEngine,
    audio: PCM,
    options: VADOptions | None = None,
) -> list[tuple[int, int]]:
    """Run VAD over a whole signal and return its speech ranges.

    Args:
        source: A VAD engine (a fresh stream is opened) or a frame scorer (it is reset and
            wrapped in a :class:`HysteresisVAD`).
        audio: Mono int16 at :data:`~engines.base.SAMPLE_RATE`; sample 0 is its first sample.
        options: Hysteresis options; defaults to :class:`~engines.base.VADOptions`.

    Returns:
        ``[(start, end), …]`` half-open sample ranges, in order and non-overlapping, prefix
        padding included. Speech still open at the end is closed as :meth:`HysteresisVAD.flush`
        does (or at ``len(audio)`` for streams without ``flush``).
    """
    options = options if options is not None else VADOptions()
    stream: VADStream
    if isinstance(source, _OpensStreams):
        stream = source.open_stream(options)
    else:
        source.reset()
        stream = HysteresisVAD(source, options)
    events = stream.feed(AudioChunk(np.asarray(audio, dtype=np.int16), 0))
    flush = getattr(stream, "flush", None)
    if callable(flush):
        events += flush()
    return pair_edges(events, len(audio))


def pair_edges(events: Sequence[VADEvent], end_of_audio: int) -> list[tuple[int, int]]:
    """Pair alternating START/END edges into ``(start, end)`` sample ranges.

    Args:
        events: Edges in order, alternating and starting with START.
        end_of_audio: Closes a trailing START that has no END.

    Returns:
        The ranges.

    Raises:
        ValueError: the edges do not alternate.
    """
    ranges: list[tuple[int, int]] = []
    start: int | None = None
    for event in events:
        if event.edge is SpeechEdge.START and start is None:
            start = event.sample
        elif event.edge is SpeechEdge.END and start is not None:
            ranges.append((start, event.sample))
            start = None
        else:
            raise ValueError(f"VAD edges do not alternate at {event}")
    if start is not None:
        ranges.append((start, end_of_audio))
    return ranges
