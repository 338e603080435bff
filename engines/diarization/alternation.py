"""The second test of the speaker count: two voices that take turns.

:func:`~engines.diarization.batch.cluster_windows` first looks for clearly different
voices (centroid cosine below the batch ``THRESHOLD``, 0.66). Two voices on one
telephone line can be closer than that: those of ``pyannote/sample.wav`` are 0.84 alike,
while one speaker's voice drifts as far within a recording (jfk's opening words against
the rest, 0.74). What tells them apart is the timeline: a drift goes one way, speakers
take turns. :func:`alternating_split` therefore splits the windows in two (spherical
k-means) and keeps the split only when

* the two halves take turns: each holds at least two runs of consecutive windows worth
  ``min_run`` seconds of speech or more (A … B … A … B), and
* their centroids are less alike than ``threshold``.

Calibration (:data:`ALTERNATING_THRESHOLD`, ``bench/diarization.py`` re-measures it):
of the shared corpus, only three recordings have alternating halves at all, with these
centroid cosines (Whisper base words; Silero VAD regions):

* ``pyannote/sample.wav``, two speakers (must split): 0.839; 0.817.
* ``asterisk/demo-congrats.wav``, 30 s, one speaker (must not): 0.895; 0.896.
* ``faster-whisper/physicsworks.wav``, 203 s, one speaker (must not): 0.889; 0.889
  (0.897 from the batch pipeline's words, with its pause and crash windows left out:
  :mod:`.batch`, "Windows without speech"; 0.885 with them in).

0.85 sits in (0.839, 0.889), nearer the two-speaker side: the evidence is one
conversation, and the cost of a false split shows in 30 s excerpts of physicsworks
(starting every 10 s, 19 of them), which a single speaker fills as a short recording
would: the halves of 9 of them alternate (words; 2 from VAD regions), and 1 of the 19 is
split at 0.85 (0.802 from words; 0.848 from VAD regions), 2 at the middle of the gap
(0.86). So about one 30 s single-speaker recording in 19 may come out as two speakers.
The margin on ``sample.wav`` is small (0.011): the d-vector hears these two voices
barely apart, and a weaker transcript (tiny.en) or other windows can tip it to one
speaker. Jfk, the pocketsphinx, deepspeech, pyroomacoustics, MFA and Asterisk clips
never alternate (too short for two 2 s runs per half, or one drift).
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
    """Two speakers who take turns, or None (module notes: the test and its calibration).

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
