"""Speech regions and the embedding windows cut from them.

Diarization embeds speech, never silence: the regions come from what the recogniser
already found (words or segments, anything with ``start`` and ``end`` in seconds) or from
a VAD pass over the audio (:func:`vad_regions`). Items closer than ``max_gap`` are joined
into one region, so a region is a stretch of talk, possibly by several people in turn.

:func:`embedding_windows` then cuts each region into windows of one length (the
d-vector's similarity depends on how much audio it saw, so windows of equal length are
comparable: docs/decisions/batch-diarization.md).
Regions shorter than ``min_fragment`` get no window of their own: the caller labels them
from their neighbours (the short-fragment merge of ``shared/reference/models.md``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from engines.base import PCM, SAMPLE_RATE, AudioChunk, SpeechEdge, VADEngine, VADOptions


class Timed(Protocol):
    """Anything placed on the timeline in seconds: a Word, a Segment, a SpeechRegion."""

    @property
    def start(self) -> float:
        """Start in seconds."""
        ...

    @property
    def end(self) -> float:
        """End in seconds."""
        ...


@dataclass(frozen=True, slots=True)
class SpeechRegion:
    """A stretch of speech.

    Attributes:
        start: Start in seconds.
        end: End in seconds.
    """

    start: float
    end: float

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.end - self.start


def speech_regions(items: Iterable[Timed], *, max_gap: float = 0.5) -> list[SpeechRegion]:
    """Join timed items into regions of continuous talk.

    Args:
        items: Words, segments or regions, in any order; empty ones (``end <= start``)
            are skipped.
        max_gap: Items separated by less than this many seconds share a region.

    Returns:
        Disjoint regions sorted by start.
    """
    spans = sorted((float(i.start), float(i.end)) for i in items if i.end > i.start)
    regions: list[list[float]] = []
    for start, end in spans:
        if regions and start - regions[-1][1] < max_gap:
            regions[-1][1] = max(regions[-1][1], end)
        else:
            regions.append([start, end])
    return [SpeechRegion(a, b) for a, b in regions]


def vad_regions(
    vad: VADEngine, audio: PCM, options: VADOptions | None = None
) -> list[SpeechRegion]:
    """Speech regions of a whole recording according to a VAD engine.

    Args:
        vad: A loaded VAD (e.g. :class:`~engines.vad.silero.SileroVAD`); one stream is
            opened and fed the whole recording.
        audio: Mono int16 at 16 kHz.
        options: Hysteresis; the default keeps pauses shorter than 300 ms inside a
            region and pads starts by 100 ms (tighter than ``server_vad`` turn taking).

    Returns:
        Regions between each START and END edge; speech still open at the end of the
        audio ends there.
    """
    options = options or VADOptions(prefix_padding_ms=100, silence_duration_ms=300)
    stream = vad.open_stream(options)
    regions: list[SpeechRegion] = []
    start: int | None = None
    for event in stream.feed(AudioChunk(audio, 0)):
        if event.edge is SpeechEdge.START:
            start = event.sample
        elif start is not None:
            regions.append(SpeechRegion(start / SAMPLE_RATE, event.sample / SAMPLE_RATE))
            start = None
    if start is not None:
        regions.append(SpeechRegion(start / SAMPLE_RATE, len(audio) / SAMPLE_RATE))
    return regions


def embedding_windows(
    regions: Sequence[SpeechRegion],
    *,
    length: float,
    step: float,
    min_fragment: float,
) -> list[SpeechRegion]:
    """Cut regions into windows to embed.

    A region longer than ``length`` gets windows of exactly ``length`` seconds, evenly
    spread from its start to its end at most ``step`` apart (the last one ends at the
    region's end). A region from ``min_fragment`` to ``length`` long is one window of its
    own length. A shorter region gets none, unless no region reaches ``min_fragment``:
    then the longest region is the one window, so every recording with speech yields at
    least one.

    Args:
        regions: Disjoint speech regions.
        length: Window length in seconds.
        step: Largest distance between the starts of consecutive windows in a region.
        min_fragment: Shortest region embedded on its own.

    Returns:
        Windows sorted by start; each lies inside one region.

    Raises:
        ValueError: ``length`` or ``step`` is not positive, or ``step > length``.
    """
    if length <= 0 or step <= 0 or step > length:
        raise ValueError(f"need 0 < step ≤ length, got step={step}, length={length}")
    windows: list[SpeechRegion] = []
    for region in regions:
        if region.duration >= length:
            count = math.ceil((region.duration - length) / step - 1e-9) + 1
            hop = (region.duration - length) / (count - 1) if count > 1 else 0.0
            windows += [
                SpeechRegion(region.start + i * hop, region.start + i * hop + length)
                for i in range(count)
            ]
        elif region.duration >= min_fragment:
            windows.append(region)
    if not windows and regions:
        windows.append(max(regions, key=lambda r: r.duration))
    return windows
