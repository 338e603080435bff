"""Diarization error rate (DER), computed the way pyannote.metrics 4.x computes it.

``DER = (missed + false alarm + confusion) / total``, where over the evaluated part of the
timeline ``total`` is the reference speech (counted once per active reference speaker, so
overlapped speech counts twice), ``missed`` is reference speech with fewer hypothesis
speakers than reference speakers (``max(0, n_ref - n_hyp)`` per instant), ``false alarm``
the converse, and ``confusion`` the speech attributed to a hypothesis speaker that the
optimal mapping does not pair with a reference speaker active there. The mapping is the
one-to-one pairing of hypothesis and reference labels that maximises their total
co-occurring time (the Hungarian algorithm, as ``pyannote.metrics``' ``HungarianMapper``),
computed once per file after the collars are removed.

Conventions copied from ``pyannote.metrics`` (``DiarizationErrorRate``, ``uemify``):

* ``collar`` is the *total* width of the no-score zone centred on every reference turn
  boundary: ``collar=0.25`` forgives ±0.125 s around each boundary. (NIST ``md-eval``'s
  ``-c 0.25`` forgives ±0.25 s: pass ``collar=0.5`` for that.) Collars are cut from the
  evaluation map, so they remove both reference and hypothesis time.
* Without an explicit ``uem`` the evaluated region is the span from the earliest start to
  the latest end over both reference and hypothesis.
* ``skip_overlap`` also removes regions where two or more reference turns overlap.
* When nothing is evaluated (``total == 0``) the rate is 0 if there is no error, else 1.

Pure functions; thread-safe.

Why not pyannote.metrics itself, and how this was checked: docs/decisions/der-metric.md
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import numpy as np
import numpy.typing as npt

from engines.base import SpeakerTurn

Interval = tuple[float, float]
"""``(start, end)`` in seconds."""


@dataclass(frozen=True, slots=True)
class DERDetails:
    """The components of one file's diarization error rate.

    Attributes:
        total: Evaluated reference speech, in speaker-seconds.
        missed: Missed speech (speaker-seconds).
        false_alarm: False-alarm speech (speaker-seconds).
        confusion: Speech given to the wrong speaker (speaker-seconds).
        mapping: Hypothesis label → the reference label it was paired with; hypothesis
            labels that co-occur with no reference label stay unpaired.
    """

    total: float
    missed: float
    false_alarm: float
    confusion: float
    mapping: dict[str, str] = field(default_factory=dict)

    @property
    def correct(self) -> float:
        """Reference speech given to its paired hypothesis speaker (speaker-seconds)."""
        return self.total - self.missed - self.confusion

    @property
    def der(self) -> float:
        """``(missed + false_alarm + confusion) / total``; 0 or 1 when ``total`` is 0."""
        errors = self.missed + self.false_alarm + self.confusion
        if self.total == 0.0:
            return 0.0 if errors == 0.0 else 1.0
        return errors / self.total


def diarization_error_rate(
    reference: Iterable[SpeakerTurn],
    hypothesis: Iterable[SpeakerTurn],
    *,
    collar: float = 0.0,
    skip_overlap: bool = False,
    uem: Sequence[Interval] | None = None,
) -> float:
    """The diarization error rate of ``hypothesis`` against ``reference``.

    Shorthand for ``diarization_error(...).der``; see :func:`diarization_error`.
    """
    return diarization_error(
        reference, hypothesis, collar=collar, skip_overlap=skip_overlap, uem=uem
    ).der


def diarization_error(
    reference: Iterable[SpeakerTurn],
    hypothesis: Iterable[SpeakerTurn],
    *,
    collar: float = 0.0,
    skip_overlap: bool = False,
    uem: Sequence[Interval] | None = None,
) -> DERDetails:
    """Compare a hypothesis diarization with a reference (module notes give the rules).

    Turns may overlap, within or across speakers; empty turns (``end <= start``) are
    ignored. Labels are compared only through the optimal mapping, so the hypothesis
    may number its speakers any way it likes.

    Args:
        reference: The true speaker turns.
        hypothesis: The turns to score.
        collar: Total width in seconds of the no-score zone centred on each reference
            turn boundary (pyannote convention: 0.25 forgives ±0.125 s).
        skip_overlap: Do not score regions where reference turns overlap.
        uem: Evaluated regions; defaults to the span of both annotations.

    Returns:
        The error components, the mapping, and (``.der``) the rate.

    Raises:
        ValueError: ``collar`` is negative.
    """
    if collar < 0:
        raise ValueError(f"collar must be ≥ 0, got {collar}")
    ref = [t for t in reference if t.end > t.start]
    hyp = [t for t in hypothesis if t.end > t.start]
    region = _evaluation_map(ref, hyp, collar=collar, skip_overlap=skip_overlap, uem=uem)
    pieces = _elementary_pieces(ref, hyp, region)

    ref_labels = sorted({t.speaker for t in ref})
    hyp_labels = sorted({t.speaker for t in hyp})
    ref_index = {label: i for i, label in enumerate(ref_labels)}
    hyp_index = {label: j for j, label in enumerate(hyp_labels)}
    cooccurrence = np.zeros((len(hyp_labels), len(ref_labels)))
    for duration, r, h in pieces:
        for hl, hn in h.items():
            for rl, rn in r.items():
                cooccurrence[hyp_index[hl], ref_index[rl]] += duration * hn * rn
    mapping = {
        hyp_labels[j]: ref_labels[i]
        for j, i in optimal_assignment(cooccurrence)
        if cooccurrence[j, i] > 0
    }

    total = missed = false_alarm = confusion = 0.0
    for duration, r, h in pieces:
        n_ref, n_hyp = sum(r.values()), sum(h.values())
        mapped = Counter({mapping[label]: n for label, n in h.items() if label in mapping})
        correct = sum(min(n, mapped[label]) for label, n in r.items())
        total += duration * n_ref
        missed += duration * max(0, n_ref - n_hyp)
        false_alarm += duration * max(0, n_hyp - n_ref)
        confusion += duration * (min(n_ref, n_hyp) - correct)
    return DERDetails(total, missed, false_alarm, confusion, mapping)


def optimal_assignment(score: npt.ArrayLike) -> list[tuple[int, int]]:
    """The one-to-one pairing of rows and columns with the largest total score.

    The Hungarian (Kuhn–Munkres) algorithm with potentials, O(n²·m); rectangular matrices
    pair ``min(rows, cols)`` times, as ``scipy.optimize.linear_sum_assignment``.

    Args:
        score: A 2-D array of finite numbers.

    Returns:
        ``(row, col)`` pairs sorted by row.

    Raises:
        ValueError: ``score`` is not 2-D or holds non-finite values.
    """
    matrix = np.asarray(score, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"score must be 2-D, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ValueError("score must be finite")
    if matrix.size == 0:
        return []
    transposed = matrix.shape[0] > matrix.shape[1]
    cost = -(matrix.T if transposed else matrix)  # rows ≤ cols; minimise
    pairs = _hungarian_min(cost)
    if transposed:
        pairs = [(c, r) for r, c in pairs]
    return sorted(pairs)


def _hungarian_min(cost: npt.NDArray[np.float64]) -> list[tuple[int, int]]:
    """Minimum-cost assignment of every row of an n×m cost matrix (n ≤ m) to a column."""
    n, m = cost.shape
    u = np.zeros(n + 1)
    v = np.zeros(m + 1)
    owner = np.zeros(m + 1, dtype=np.int64)  # owner[j]: 1-based row assigned to column j
    way = np.zeros(m + 1, dtype=np.int64)
    for row in range(1, n + 1):
        owner[0] = row
        j0 = 0
        slack = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, dtype=bool)
        while True:
            used[j0] = True
            i0 = owner[j0]
            reduced = cost[i0 - 1] - u[i0] - v[1:]
            free = ~used[1:]
            better = free & (reduced < slack[1:])
            slack[1:][better] = reduced[better]
            way[1:][better] = j0
            candidates = np.where(free, slack[1:], np.inf)
            j1 = int(np.argmin(candidates)) + 1
            delta = candidates[j1 - 1]
            u[owner[used]] += delta
            v[used] -= delta
            slack[1:][free] -= delta
            j0 = j1
            if owner[j0] == 0:
                break
        while j0:
            j1 = int(way[j0])
            owner[j0] = owner[j1]
            j0 = j1
    return [(int(owner[j]) - 1, j - 1) for j in range(1, m + 1) if owner[j]]


def load_rttm(source: str | os.PathLike[str], *, file_id: str | None = None) -> list[SpeakerTurn]:
    """Read the ``SPEAKER`` lines of an RTTM file.

    Args:
        source: Path to the file.
        file_id: Keep only this file's lines (the second field); None keeps all.

    Returns:
        Turns in file order, ``end = start + duration``.

    Raises:
        ValueError: a ``SPEAKER`` line has fewer than 8 fields or non-numeric times.
    """
    turns = []
    for number, line in enumerate(Path(source).read_text().splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0] != "SPEAKER":
            continue
        if len(fields) < 8:
            raise ValueError(f"{source}:{number}: an RTTM SPEAKER line has ≥ 8 fields")
        if file_id is not None and fields[1] != file_id:
            continue
        try:
            start, duration = float(fields[3]), float(fields[4])
        except ValueError as exc:
            raise ValueError(f"{source}:{number}: bad onset or duration") from exc
        turns.append(SpeakerTurn(fields[7], start, start + duration))
    return turns


def _evaluation_map(
    ref: Sequence[SpeakerTurn],
    hyp: Sequence[SpeakerTurn],
    *,
    collar: float,
    skip_overlap: bool,
    uem: Sequence[Interval] | None,
) -> list[Interval]:
    """Sorted disjoint regions to score: the UEM minus collars (and reference overlaps)."""
    if uem is None:
        turns = [*ref, *hyp]
        region = [(min(t.start for t in turns), max(t.end for t in turns))] if turns else []
    else:
        region = _union([(a, b) for a, b in uem if b > a])
    removed: list[Interval] = []
    if collar > 0:
        half = collar / 2
        for t in ref:
            removed += [(t.start - half, t.start + half), (t.end - half, t.end + half)]
    if skip_overlap:
        for i, a in enumerate(ref):
            for b in ref[i + 1 :]:
                lo, hi = max(a.start, b.start), min(a.end, b.end)
                if hi > lo:
                    removed.append((lo, hi))
    return _subtract(region, _union(removed))


def _elementary_pieces(
    ref: Sequence[SpeakerTurn], hyp: Sequence[SpeakerTurn], region: Sequence[Interval]
) -> list[tuple[float, Counter[str], Counter[str]]]:
    """Cut the evaluated region where any turn starts or ends.

    Returns:
        ``(duration, reference label counts, hypothesis label counts)`` per piece of
        positive duration inside ``region``; the counts are constant over each piece.
    """
    events: list[tuple[float, int, int, str]] = []  # (time, kind, ±1, label); kind 0 ref, 1 hyp
    for kind, turns in ((0, ref), (1, hyp)):
        for t in turns:
            events += [(t.start, kind, 1, t.speaker), (t.end, kind, -1, t.speaker)]
    times = sorted({e[0] for e in events} | {x for r in region for x in r})
    events.sort(key=lambda e: e[0])
    active: tuple[Counter[str], Counter[str]] = (Counter(), Counter())
    pieces = []
    k = 0
    for t0, t1 in pairwise(times):
        while k < len(events) and events[k][0] <= t0:
            _, kind, step, label = events[k]
            active[kind][label] += step
            k += 1
        lo_hi = _clip(t0, t1, region)
        if lo_hi <= 0.0:
            continue
        r = +active[0]  # unary plus drops zero counts
        h = +active[1]
        if r or h:
            pieces.append((lo_hi, r, h))
    return pieces


def _clip(t0: float, t1: float, region: Sequence[Interval]) -> float:
    """Length of ``[t0, t1]`` inside ``region`` (a piece lies in at most one region part)."""
    for a, b in region:
        if b <= t0:
            continue
        if a >= t1:
            break
        return min(b, t1) - max(a, t0)
    return 0.0


def _union(intervals: Iterable[Interval]) -> list[Interval]:
    """Merge overlapping or touching intervals into sorted disjoint ones."""
    merged: list[list[float]] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def _subtract(region: Sequence[Interval], holes: Sequence[Interval]) -> list[Interval]:
    """``region`` minus ``holes``; both sorted and disjoint."""
    out: list[Interval] = []
    for a, b in region:
        start = a
        for ha, hb in holes:
            if hb <= start or ha >= b:
                continue
            if ha > start:
                out.append((start, ha))
            start = max(start, hb)
            if start >= b:
                break
        if start < b:
            out.append((start, b))
    return out
