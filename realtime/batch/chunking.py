"""Planning the Whisper decodes of a recording: VAD speech ranges packed into chunks.

Silero VAD finds speech ranges on the whole recording; :func:`pad_and_filter` drops clicks
and pads each range's end; :func:`plan_chunks` packs consecutive ranges into chunks of at
most a given amount of *speech* (the silence between them is left out, as faster-whisper's
own VAD filter does), and each chunk is one Whisper decode. A single range longer than the
limit is a chunk of its own, which Whisper's long-form loop windows itself, so no word is
ever cut in two. :meth:`Chunk.to_source` maps times in the chunk's concatenated speech back
to the recording.

Everything here is pure: functions over sample ranges.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engines.base import PCM, SAMPLE_RATE, VADOptions

BATCH_VAD = VADOptions(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=1000)
"""Speech detection for recordings: a pause of 1 s splits ranges (finer than a turn gap)."""

SUFFIX_PADDING_S = 0.3
"""Audio kept after each detected speech end (the release of the last word)."""

MIN_SPEECH_S = 0.25
"""Speech ranges shorter than this (padding excluded) are clicks, not words: dropped."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """Speech ranges decoded together, as one concatenated signal.

    Attributes:
        spans: Half-open sample ranges ``(start, end)`` of the recording, in order.
    """

    spans: tuple[tuple[int, int], ...]

    @property
    def samples(self) -> int:
        """Samples of speech in the chunk (silence between spans excluded)."""
        return sum(end - start for start, end in self.spans)

    def extract(self, audio: PCM) -> PCM:
        """The chunk's audio: its spans of ``audio`` concatenated."""
        return np.concatenate([audio[start:end] for start, end in self.spans])

    def to_source(self, seconds: float, *, is_end: bool = False) -> float:
        """Map a time in the concatenated chunk to seconds in the recording.

        Args:
            seconds: Time from the start of :meth:`extract`'s signal.
            is_end: The time ends an interval: a time exactly on a joint maps to the end of
                the earlier span rather than the start of the later one.

        Returns:
            Seconds from the start of the recording.
        """
        t = max(0, round(seconds * SAMPLE_RATE))
        offset = 0
        for i, (start, end) in enumerate(self.spans):
            length = end - start
            last = i == len(self.spans) - 1
            if t < offset + length or (is_end and t == offset + length) or last:
                return (start + min(t - offset, length)) / SAMPLE_RATE
            offset += length
        return 0.0  # pragma: no cover - spans are never empty


def pad_and_filter(
    ranges: Sequence[tuple[int, int]],
    total: int,
    *,
    suffix: int = round(SUFFIX_PADDING_S * SAMPLE_RATE),
    min_samples: int = round(MIN_SPEECH_S * SAMPLE_RATE),
    prefix: int = BATCH_VAD.prefix_padding_ms * SAMPLE_RATE // 1000,
) -> list[tuple[int, int]]:
    """Drop click-length ranges and extend each end by ``suffix`` samples.

    Args:
        ranges: VAD speech ranges (prefix padding included), ordered, non-overlapping.
        total: Length of the recording in samples (ends are clamped to it).
        suffix: Samples to add after each end, never past the next range's start.
        min_samples: Ranges with less speech than this (after removing the prefix padding)
            are dropped.
        prefix: The prefix padding the VAD included in each range.

    Returns:
        Ordered, non-overlapping ranges.
    """
    kept = []
    previous_end = 0
    for start, end in ranges:
        padding = min(prefix, start - previous_end)  # the VAD clamps padding at the last end
        if end - start - padding >= min_samples:
            kept.append((start, end))
        previous_end = end
    out: list[tuple[int, int]] = []
    for i, (start, end) in enumerate(kept):
        limit = kept[i + 1][0] if i + 1 < len(kept) else total
        out.append((start, min(end + suffix, limit, total)))
    return out


def plan_chunks(ranges: Sequence[tuple[int, int]], max_samples: int) -> list[Chunk]:
    """Pack consecutive speech ranges into chunks of at most ``max_samples`` of speech.

    A range longer than ``max_samples`` becomes a chunk of its own (never split).

    Args:
        ranges: Ordered, non-overlapping sample ranges.
        max_samples: Most speech samples per chunk.

    Returns:
        Chunks in time order covering every range exactly once.
    """
    chunks: list[Chunk] = []
    current: list[tuple[int, int]] = []
    size = 0
    for start, end in ranges:
        length = end - start
        if current and size + length > max_samples:
            chunks.append(Chunk(tuple(current)))
            current, size = [], 0
        current.append((start, end))
        size += length
    if current:
        chunks.append(Chunk(tuple(current)))
    return chunks
