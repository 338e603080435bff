"""The second test of the speaker count: two voices that take turns.

Two voices on one line can be closer than the batch ``THRESHOLD`` while one speaker's
voice drifts as far within a recording; what tells them apart is the timeline: a drift goes
one way, speakers take turns. :func:`alternating_split` therefore splits the windows in two
(spherical k-means) and keeps the split only when

* the two halves take turns: each holds at least two runs of consecutive windows worth
  ``min_run`` seconds of speech or more (A … B … A … B), and
* their centroids are less alike than ``threshold``.

Pure functions; thread-safe.

Why these values, and calibration: docs/decisions/alternating-voices.md
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from engines.diarization import clustering

ALTERNATING_THRESHOLD = 0.85
"""Centroid cosine below which two alternating halves are two speakers."""

MIN_RUN = 2.0
"""Seconds of speech a run of windows needs to count as a turn."""


def alternating_split(
    embeddings: npt.NDArray[np.floating],
    weights: npt.NDArray[np.floating],
    *,
    threshold: float = ALTERNATING_THRESHOLD,
    min_run: float = MIN_RUN,
) -> clustering.Labels | None:
    """Two speakers who take turns, or None (the test is in the module docstring).

    Args:
        embeddings: ``(n, dim)`` unit-norm rows, in time order.
        weights: Seconds of speech each row stands for.
        threshold: Centroid cosine below which the halves are two speakers.
        min_run: Seconds of speech a run needs to count as a turn.

    Returns:
        Labels ``0``/``1`` of the rows (as ``spherical_kmeans(embeddings, 2)`` gives
        them), or None when the split fails either test.
    """
    if len(embeddings) < 4:
        return None
    labels = clustering.spherical_kmeans(embeddings, 2, weights=weights)
    if labels.max() < 1:
        return None
    if min(turns_per_label(labels, weights, min_run=min_run)) < 2:
        return None
    centres = clustering.centroids(embeddings, labels, 2, weights)
    if float(centres[0] @ centres[1]) >= threshold:
        return None
    return labels


def turns_per_label(
    labels: npt.NDArray[np.integer], weights: npt.NDArray[np.floating], *, min_run: float
) -> list[int]:
    """How many runs of consecutive rows each label holds that weigh ``min_run`` or more.

    Args:
        labels: Label of each row, ``0 … k-1``, rows in time order.
        weights: Weight (seconds) of each row.
        min_run: Least total weight of a counted run.

    Returns:
        One count per label, ``k = labels.max() + 1`` of them.
    """
    counts = [0] * (int(labels.max()) + 1 if len(labels) else 0)
    start = 0
    for end in range(1, len(labels) + 1):
        if end == len(labels) or labels[end] != labels[start]:
            if float(np.sum(weights[start:end])) >= min_run:
                counts[int(labels[start])] += 1
            start = end
    return counts
