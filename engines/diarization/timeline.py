"""Speaker labels on a frame grid: where window votes become turns.

Each embedded window votes for its cluster over the frames it spans, most at its centre,
so where overlapping windows disagree the change lands between their centres; speech
that no window covers (fragments too short to embed) takes the nearest label. Short
label runs are then absorbed into their neighbours, and items (words, segments) are read
off the grid: a word takes its frames' majority, a longer item is cut where the label
changes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from engines.base import SpeakerTurn
from engines.diarization.regions import SpeechRegion, Timed


class LabelTimeline:
    """Speaker labels on a fixed frame grid over the speech regions.

    Frame ``f`` covers ``[f·frame, (f+1)·frame)`` seconds; -1 marks frames outside speech.
    Built once per recording; not thread-safe (``smooth`` mutates it).

    Args:
        labels: Label per frame (-1 outside speech).
        regions: The speech regions the labels cover.
        frame: Frame length in seconds.
    """

    def __init__(
        self, labels: npt.NDArray[np.int64], regions: Sequence[SpeechRegion], frame: float
    ) -> None:
        self.labels = labels
        self.regions = list(regions)
        self.frame = frame

    @classmethod
    def from_windows(
        cls,
        windows: Sequence[SpeechRegion],
        window_labels: npt.NDArray[np.int64],
        regions: Sequence[SpeechRegion],
        *,
        frame: float,
    ) -> LabelTimeline:
        """Let each window vote for its label over its span.

        A window's vote falls linearly from 1 at its centre to 0.05 at its edges, so where
        windows of different speakers overlap, the boundary lands between their centres.
        Speech frames no window covers (regions too short to embed) take the label of the
        nearest covered frame.

        Args:
            windows: The embedded windows.
            window_labels: Cluster of each window.
            regions: All speech regions (windows lie inside them).
            frame: Frame length in seconds.

        Returns:
            The timeline.
        """
        n_frames = math.ceil(max(r.end for r in regions) / frame) + 1
        k = int(window_labels.max()) + 1 if len(window_labels) else 1
        votes = np.zeros((n_frames, k))
        for w, label in zip(windows, window_labels, strict=True):
            lo, hi = _frames(w, frame, n_frames)
            if hi <= lo:
                continue
            t = (np.arange(lo, hi) + 0.5) * frame
            half = max(w.duration / 2, frame)
            votes[lo:hi, label] += np.clip(1 - np.abs(t - (w.start + w.end) / 2) / half, 0.05, 1)
        speech = np.zeros(n_frames, dtype=bool)
        for r in regions:
            lo, hi = _frames(r, frame, n_frames)
            speech[lo:hi] = True
        covered = votes.sum(axis=1) > 0
        labels = np.where(covered, votes.argmax(axis=1), -1)
        if covered.any():
            known = np.flatnonzero(covered)
            todo = np.flatnonzero(speech & ~covered)
            right = np.clip(np.searchsorted(known, todo), 0, len(known) - 1)
            left = np.clip(right - 1, 0, len(known) - 1)
            nearest = np.where(
                np.abs(known[left] - todo) <= np.abs(known[right] - todo),
                known[left],
                known[right],
            )
            labels[todo] = labels[nearest]
        labels[~speech] = -1
        return cls(labels.astype(np.int64), regions, frame)

    def smooth(self, min_turn: float) -> None:
        """Give every label run shorter than ``min_turn`` seconds its neighbour's label.

        Works inside each speech region, shortest run first; a short run joins the longer
        of its two neighbours. A region's only run is never changed.
        """
        shortest = max(1, round(min_turn / self.frame))
        for r in self.regions:
            lo, hi = _frames(r, self.frame, len(self.labels))
            self.labels[lo:hi] = _absorb_short_runs(self.labels[lo:hi], shortest)

    def pieces(self, item: Timed, *, min_turn: float) -> list[SpeakerTurn]:
        """Cut one item where the speaker changes.

        The item's frames are split into label runs; runs shorter than ``min_turn`` join
        their neighbour, so an item shorter than ``2·min_turn`` (a word) stays whole and
        takes its majority label.

        Args:
            item: A word, segment or region.
            min_turn: Shortest piece in seconds.

        Returns:
            Consecutive pieces covering the item (``speaker`` is the cluster index as a
            string); empty when the item has no speech frames.
        """
        lo, hi = _frames(item, self.frame, len(self.labels))
        labels = self.labels[lo:hi]
        labels = labels[labels >= 0]
        if len(labels) == 0:
            return []
        if item.end - item.start < 2 * min_turn:
            return [SpeakerTurn(str(int(np.bincount(labels).argmax())), item.start, item.end)]
        labels = _absorb_short_runs(self.labels[lo:hi].copy(), max(1, round(min_turn / self.frame)))
        out: list[SpeakerTurn] = []
        for value, first, last in _runs(labels):
            if value < 0:
                continue
            start = item.start if first == 0 else (lo + first) * self.frame
            end = item.end if last == len(labels) else (lo + last) * self.frame
            out.append(SpeakerTurn(str(int(value)), start, end))
        return out


def _frames(span: Timed, frame: float, n_frames: int) -> tuple[int, int]:
    """Frame range ``[lo, hi)`` of a span, clamped to the grid."""
    lo = min(max(round(span.start / frame), 0), n_frames)
    hi = min(max(round(span.end / frame), lo), n_frames)
    return lo, hi


def _runs(labels: npt.NDArray[np.int64]) -> list[tuple[int, int, int]]:
    """``(value, first, last)`` for each run of equal values, ``last`` exclusive."""
    if len(labels) == 0:
        return []
    edges = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [len(labels)]])
    return [(int(labels[a]), int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def _absorb_short_runs(labels: npt.NDArray[np.int64], shortest: int) -> npt.NDArray[np.int64]:
    """Relabel runs shorter than ``shortest`` frames with their longer neighbour's label.

    Runs of -1 (no speech) are never relabelled and never absorb others.
    """
    while True:
        runs = _runs(labels)
        candidates = [(b - a, i) for i, (v, a, b) in enumerate(runs) if v >= 0 and b - a < shortest]
        neighbours = []
        for length, i in sorted(candidates):
            left = runs[i - 1] if i > 0 and runs[i - 1][0] >= 0 else None
            right = runs[i + 1] if i + 1 < len(runs) and runs[i + 1][0] >= 0 else None
            options = [r for r in (left, right) if r is not None]
            if options:
                neighbours.append((length, i, max(options, key=lambda r: r[2] - r[1])))
                break
        if not neighbours:
            return labels
        _, i, target = neighbours[0]
        _, a, b = runs[i]
        labels[a:b] = target[0]
