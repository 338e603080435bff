"""Clustering of unit-norm speaker embeddings, in numpy alone.

* :func:`agglomerative`: centroid-linkage agglomerative clustering that stops at a cosine
  threshold, then folds clusters with too little speech into their nearest large cluster
  (pyannote's ``min_cluster_size`` idea): a stray window of laughter, noise or overlapped
  speech must not become a speaker.
* :func:`spherical_kmeans`: k-means on the unit sphere (cosine), seeded either with given
  centroids or with k-means++ restarts from a fixed seed, so results are reproducible.

Clusters are represented by the weighted sum of their members' unit vectors; a cluster's
centroid is that sum normalised, and the similarity of two clusters is the cosine of their
centroids.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Embeddings = npt.NDArray[np.floating]
"""An ``(n, dim)`` array of unit-norm rows."""

Labels = npt.NDArray[np.int64]
"""An ``(n,)`` array of cluster indices ``0 … k-1``."""

_EPS = 1e-12


def normalize_rows(x: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Scale each row to unit L2 norm (zero rows stay zero)."""
    array = np.asarray(x, dtype=np.float64)
    return array / (np.linalg.norm(array, axis=-1, keepdims=True) + _EPS)


def centroids(embeddings: Embeddings, labels: Labels, k: int, weights=None) -> np.ndarray:
    """Unit-norm weighted mean of each cluster's members; a zero row for an empty cluster.

    Args:
        embeddings: ``(n, dim)`` unit-norm rows.
        labels: Cluster of each row, in ``0 … k-1``.
        k: Number of clusters.
        weights: ``(n,)`` non-negative weights; None weighs every row 1.

    Returns:
        ``(k, dim)`` array.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=np.float64)
    sums = np.zeros((k, x.shape[1]))
    np.add.at(sums, labels, x * w[:, None])
    return normalize_rows(sums)


def agglomerative(
    embeddings: Embeddings,
    *,
    threshold: float,
    weights: npt.ArrayLike | None = None,
    min_cluster_weight: float = 0.0,
) -> Labels:
    """Centroid-linkage agglomerative clustering with a cosine stopping threshold.

    The two clusters with the most similar centroids merge while that similarity is at
    least ``threshold``. Then every cluster whose total weight is below
    ``min_cluster_weight`` is dissolved and its members join the large cluster whose
    centroid is nearest to each of them; if no cluster is large enough, all rows form
    one cluster.

    Cost: O(n²·dim) time and O(n²) memory for n rows (a few seconds for 5,000).

    Args:
        embeddings: ``(n, dim)`` unit-norm rows, n ≥ 1.
        threshold: Cosine similarity below which clusters stay apart.
        weights: ``(n,)`` positive weights (e.g. seconds of speech); None weighs 1 each.
        min_cluster_weight: Smallest total weight a cluster needs to survive.

    Returns:
        Labels ``0 … k-1``, numbered in order of each cluster's first row.

    Raises:
        ValueError: ``embeddings`` is empty or not 2-D.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"embeddings must be a non-empty (n, dim) array, got {x.shape}")
    n = len(x)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    sums = x * w[:, None]
    members: list[list[int]] = [[i] for i in range(n)]
    alive = np.ones(n, dtype=bool)
    unit = normalize_rows(sums)
    sim = unit @ unit.T
    np.fill_diagonal(sim, -np.inf)
    best = sim.argmax(axis=1)  # each cluster's most similar partner
    for _ in range(n - 1):
        rows = np.flatnonzero(alive)
        scores = sim[rows, best[rows]]
        a = int(rows[scores.argmax()])
        b = int(best[a])
        if sim[a, b] < threshold:
            break
        sums[a] += sums[b]
        members[a] += members[b]
        members[b] = []
        alive[b] = False
        sim[b, :] = -np.inf
        sim[:, b] = -np.inf
        unit_a = sums[a] / (np.linalg.norm(sums[a]) + _EPS)
        row = normalize_rows(sums) @ unit_a
        row[~alive] = -np.inf
        row[a] = -np.inf
        sim[a, :] = row
        sim[:, a] = row
        best[a] = int(sim[a].argmax())
        stale = alive & ((best == a) | (best == b))
        for i in np.flatnonzero(stale):
            best[i] = int(sim[i].argmax())
        better = alive & (row > sim[np.arange(n), best])
        best[better] = a
    labels = np.empty(n, dtype=np.int64)
    clusters = [m for m in members if m]
    for c, m in enumerate(clusters):
        labels[m] = c
    total = np.array([w[m].sum() for m in clusters])
    large = np.flatnonzero(total >= min_cluster_weight)
    if len(large) == 0:
        return np.zeros(n, dtype=np.int64)
    if len(large) < len(clusters):
        centres = centroids(x, labels, len(clusters), w)[large]
        small = ~np.isin(labels, large)
        labels[small] = large[(x[small] @ centres.T).argmax(axis=1)]
    return _renumber(labels)


def spherical_kmeans(
    embeddings: Embeddings,
    k: int,
    *,
    weights: npt.ArrayLike | None = None,
    init: npt.ArrayLike | None = None,
    restarts: int = 16,
    max_iter: int = 50,
    seed: int = 0,
) -> Labels:
    """k-means with cosine similarity: maximise the summed similarity to the centroids.

    Args:
        embeddings: ``(n, dim)`` unit-norm rows.
        k: Number of clusters, ``1 ≤ k``; more than ``n`` is clamped to ``n``.
        weights: ``(n,)`` positive weights; None weighs 1 each.
        init: ``(k, dim)`` starting centroids; when given, one run from them replaces the
            k-means++ restarts.
        restarts: k-means++ initialisations tried (the best objective wins).
        max_iter: Iterations per run.
        seed: Seed of the k-means++ draws (results are deterministic).

    Returns:
        Labels ``0 … k'-1`` (k' ≤ k when a cluster empties), numbered in order of each
        cluster's first row.

    Raises:
        ValueError: ``k < 1`` or ``embeddings`` is empty.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"embeddings must be a non-empty (n, dim) array, got {x.shape}")
    if k < 1:
        raise ValueError(f"k must be ≥ 1, got {k}")
    k = min(k, len(x))
    w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=np.float64)
    if k == 1:
        return np.zeros(len(x), dtype=np.int64)
    if init is not None:
        starts = [normalize_rows(init)]
    else:
        rng = np.random.default_rng(seed)
        starts = [_kmeans_pp(x, w, k, rng) for _ in range(max(restarts, 1))]
    best_labels, best_score = None, -np.inf
    for start in starts:
        labels, score = _lloyd(x, w, start, max_iter)
        if score > best_score + 1e-9:
            best_labels, best_score = labels, score
    assert best_labels is not None
    return _renumber(best_labels)


def _kmeans_pp(x: np.ndarray, w: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding with cosine distance, weighted by ``w``."""
    chosen = [int(rng.choice(len(x), p=w / w.sum()))]
    for _ in range(1, k):
        distance = np.clip(1.0 - (x @ x[chosen].T).max(axis=1), 0.0, None) * w
        total = distance.sum()
        if total <= 0:
            break
        chosen.append(int(rng.choice(len(x), p=distance / total)))
    return x[chosen]


def _lloyd(
    x: np.ndarray, w: np.ndarray, centres: np.ndarray, max_iter: int
) -> tuple[np.ndarray, float]:
    """Alternate assignment and centroid updates; return the labels and the objective."""
    labels = (x @ centres.T).argmax(axis=1)
    for _ in range(max_iter):
        centres = centroids(x, labels, len(centres), w)
        new = (x @ centres.T).argmax(axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
    score = float((w * (x * centroids(x, labels, len(centres), w)[labels]).sum(axis=1)).sum())
    return labels, score


def _renumber(labels: np.ndarray) -> Labels:
    """Relabel clusters ``0 … k-1`` in order of first occurrence."""
    _, first = np.unique(labels, return_index=True)
    order = labels[np.sort(first)]
    mapping = {int(old): new for new, old in enumerate(order)}
    return np.array([mapping[int(v)] for v in labels], dtype=np.int64)
