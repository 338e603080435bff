"""Batch diarization: who spoke when in a whole recording, and who said each word.

:func:`diarize` joins the timed items (words, segments or VAD regions) into speech regions,
cuts them into equal windows, leaves out windows with too little voiced speech
(:mod:`.voicing`), embeds the rest at equal loudness and clusters them: agglomerative at
:data:`THRESHOLD` with small clusters folded in, refined by spherical k-means, or the
alternating-voices test (:mod:`.alternation`) when that leaves one speaker, or k-means to
``num_speakers`` when it is given. Window labels become 20 ms frame labels, each item takes
its frames' majority, and consecutive items of one speaker become turns numbered ``"0"``,
``"1"``, … in order of first appearance. :func:`assign_speakers` labels words from turns.

Pure functions; blocking; thread-safe when the embedder is.

Why these values, and calibration: docs/decisions/batch-diarization.md
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from engines.base import PCM, Segment, SpeakerEmbedder, SpeakerTurn, VADEngine
from engines.diarization import clustering
from engines.diarization.alternation import ALTERNATING_THRESHOLD, MIN_RUN, alternating_split
from engines.diarization.embedding import embed_spans
from engines.diarization.regions import (
    SpeechRegion,
    Timed,
    embedding_windows,
    speech_regions,
    vad_regions,
)
from engines.diarization.timeline import LabelTimeline
from engines.diarization.voicing import voiced_fractions

THRESHOLD = 0.66
"""Centroid cosine below which clusters stay apart (docs/decisions/batch-diarization.md)."""

MIN_VOICED = 0.1
"""Share of voiced-speech frames a window needs to be clustered (same page)."""

MAX_AGGLOMERATIVE_ROWS = 2000
"""Most rows agglomerative clustering gets (its time and memory grow as the square)."""


@dataclass(frozen=True, slots=True)
class DiarizationOptions:
    """Knobs of :func:`diarize`; the defaults are the calibrated ones.

    Why these values: docs/decisions/batch-diarization.md

    Attributes:
        threshold: Centroid cosine below which two clusters are different speakers.
        window: Embedding window length in seconds (the d-vector needs ≥ 0.82 s).
        step: Largest distance between consecutive window starts in a region.
        min_fragment: Regions shorter than this are not embedded; they take the label
            of the nearest embedded speech.
        min_voiced: Share of a window's frames that must be voiced speech
            (:func:`~.voicing.voiced_fractions`) for it to be embedded and clustered;
            windows below it take the label of the nearest clustered speech. When no
            window reaches it, all are kept. 0 keeps every window.
        region_gap: Items closer than this share a speech region.
        min_speaker: Seconds of speech a cluster needs to count as a speaker when the
            count is chosen automatically.
        alternating_threshold: Centroid cosine below which two voices that take turns
            are two speakers (:mod:`.alternation`); None skips that test.
        alternating_run: Seconds of speech a run of windows needs to count as a turn
            in that test.
        min_turn: Label runs shorter than this (seconds) join their neighbour.
        join_gap: Consecutive items of one speaker closer than this form one turn.
        frame: Resolution of the label timeline in seconds.
        threads: Threads that embed windows at once (the result does not depend on it).
    """

    threshold: float = THRESHOLD
    window: float = 1.5
    step: float = 0.5
    min_fragment: float = 1.0
    min_voiced: float = MIN_VOICED
    region_gap: float = 0.5
    min_speaker: float = 2.0
    alternating_threshold: float | None = ALTERNATING_THRESHOLD
    alternating_run: float = MIN_RUN
    min_turn: float = 0.5
    join_gap: float = 1.0
    frame: float = 0.02
    threads: int = 2


def diarize(
    audio: PCM,
    *,
    embedder: SpeakerEmbedder,
    words_or_segments: Iterable[Timed],
    num_speakers: int | None = None,
    options: DiarizationOptions | None = None,
) -> list[SpeakerTurn]:
    """Find who spoke when (the module docstring outlines the steps).

    Blocking: embeds about 1.6 windows per second of speech. Safe to call from several
    threads when the embedder is thread-safe.

    Args:
        audio: The whole recording, mono int16 at 16 kHz.
        embedder: Speaker embedder (e.g. :class:`~engines.diarization.dvector.DVectorEmbedder`).
        words_or_segments: Where the speech is, in seconds from the start of ``audio``:
            words (best: turns then start and end on word boundaries), segments (their
            words are used when every segment has some), or VAD regions (use
            :func:`diarize_vad`).
        num_speakers: The number of speakers when known; None chooses it.
        options: Tuning; the defaults are calibrated.

    Returns:
        Turns sorted by start, never overlapping within one speaker; speakers are
        ``"0"``, ``"1"``, … in order of first appearance. Empty when there is no speech.
        Use :func:`assign_speakers` to label the words.

    Raises:
        ValueError: ``num_speakers`` is given and below 1.
    """
    if num_speakers is not None and num_speakers < 1:
        raise ValueError(f"num_speakers must be ≥ 1, got {num_speakers}")
    opts = options or DiarizationOptions()
    items = _flatten(words_or_segments)
    speech = embed_speech(audio, embedder=embedder, items=items, options=opts)
    if not speech.regions:
        return []
    labels = cluster_windows(
        speech.embeddings,
        speech.weights,
        num_speakers=num_speakers,
        threshold=opts.threshold,
        min_speaker=opts.min_speaker,
        alternating_threshold=opts.alternating_threshold,
        alternating_run=opts.alternating_run,
    )
    timeline = LabelTimeline.from_windows(speech.windows, labels, speech.regions, frame=opts.frame)
    timeline.smooth(opts.min_turn)
    pieces = [p for item in items for p in timeline.pieces(item, min_turn=opts.min_turn)]
    return _number_speakers(_join(pieces, join_gap=opts.join_gap))


@dataclass(frozen=True, slots=True)
class EmbeddedSpeech:
    """The speech of a recording, cut into windows and embedded.

    Attributes:
        regions: Speech regions, sorted and disjoint.
        windows: The embedded windows, each inside a region: those with enough voiced
            speech (``DiarizationOptions.min_voiced``), or all when none has.
        embeddings: ``(len(windows), dim)`` unit-norm rows.
        weights: Seconds of speech each window stands for (its region's length shared
            equally among all the region's windows, the left-out ones included, so a
            left-out window's share counts for no one).
        left_out: The windows cut from the regions but not embedded (too little voiced
            speech); the label timeline fills their speech from the nearest windows.
    """

    regions: list[SpeechRegion]
    windows: list[SpeechRegion]
    embeddings: npt.NDArray[np.float32]
    weights: npt.NDArray[np.float64]
    left_out: list[SpeechRegion] = field(default_factory=list)


def diarize_vad(
    audio: PCM,
    *,
    embedder: SpeakerEmbedder,
    vad: VADEngine,
    num_speakers: int | None = None,
    options: DiarizationOptions | None = None,
) -> list[SpeakerTurn]:
    """:func:`diarize` where a VAD says where the speech is (no transcript needed).

    The VAD already joined pauses shorter than its silence duration, so ``region_gap`` is
    not applied again (docs/decisions/batch-diarization.md, "VAD regions as input").
    Arguments and result as :func:`diarize`.
    """
    return diarize(
        audio,
        embedder=embedder,
        words_or_segments=vad_regions(vad, audio),
        num_speakers=num_speakers,
        options=replace(options or DiarizationOptions(), region_gap=0.0),
    )


def embed_speech(
    audio: PCM,
    *,
    embedder: SpeakerEmbedder,
    items: Iterable[Timed],
    options: DiarizationOptions | None = None,
) -> EmbeddedSpeech:
    """The first half of :func:`diarize`: speech regions, windows and their embeddings.

    Args:
        audio: The whole recording, mono int16 at 16 kHz.
        embedder: Speaker embedder.
        items: Where the speech is (words, segments or regions).
        options: Region and window settings.

    Returns:
        The embedded speech; every field is empty when there is no speech.
    """
    opts = options or DiarizationOptions()
    regions = speech_regions(items, max_gap=opts.region_gap)
    windows = embedding_windows(
        regions, length=opts.window, step=opts.step, min_fragment=opts.min_fragment
    )
    weights = _speech_seconds(windows, regions)
    keep = np.ones(len(windows), dtype=bool)
    if opts.min_voiced > 0 and windows:
        keep = voiced_fractions(audio, windows, regions=regions) >= opts.min_voiced
        if not keep.any():
            keep[:] = True
    kept = [w for w, k in zip(windows, keep, strict=True) if k]
    return EmbeddedSpeech(
        regions,
        kept,
        embed_spans(embedder, audio, kept, threads=opts.threads),
        weights[keep],
        [w for w, k in zip(windows, keep, strict=True) if not k],
    )


def cluster_windows(
    embeddings: npt.NDArray[np.floating],
    weights: npt.NDArray[np.floating],
    *,
    num_speakers: int | None,
    threshold: float,
    min_speaker: float,
    alternating_threshold: float | None = ALTERNATING_THRESHOLD,
    alternating_run: float = MIN_RUN,
) -> clustering.Labels:
    """Group window embeddings by speaker.

    With ``num_speakers``, spherical k-means to that many clusters (fewer when there are
    fewer windows). Otherwise agglomerative clustering at ``threshold`` with clusters of
    less than ``min_speaker`` seconds folded into the nearest one, refined by k-means
    started from its centroids; when that leaves one cluster, the alternating-voices
    test (:func:`~.alternation.alternating_split`) may still split it in two.

    Args:
        embeddings: ``(n, dim)`` unit-norm rows in time order, n ≥ 1.
        weights: Seconds of speech each window stands for.
        num_speakers: Known count, or None.
        threshold: Stopping cosine of the agglomerative step.
        min_speaker: Seconds a cluster needs to remain a speaker.
        alternating_threshold: Cosine of the alternating-voices test; None skips it.
        alternating_run: Seconds a run of windows needs to count as a turn there.

    Returns:
        Cluster of each window, ``0 … k-1``.

    Cost: agglomerative clustering is quadratic, so above :data:`MAX_AGGLOMERATIVE_ROWS`
    windows (about 17 minutes of speech) it runs on the means of runs of consecutive
    windows instead; the k-means refinement still sees every window.
    """
    if num_speakers is not None:
        return clustering.spherical_kmeans(embeddings, num_speakers, weights=weights)
    n = len(embeddings)
    group = math.ceil(n / MAX_AGGLOMERATIVE_ROWS)
    if group > 1:  # long recording: cluster runs of consecutive windows, then refine
        owner = np.arange(n) // group
        sums = np.zeros((owner[-1] + 1, embeddings.shape[1]))
        np.add.at(sums, owner, np.asarray(embeddings) * np.asarray(weights)[:, None])
        labels = clustering.agglomerative(
            clustering.normalize_rows(sums),
            threshold=threshold,
            weights=np.bincount(owner, weights=weights),
            min_cluster_weight=min_speaker,
        )[owner]
    else:
        labels = clustering.agglomerative(
            embeddings, threshold=threshold, weights=weights, min_cluster_weight=min_speaker
        )
    k = int(labels.max()) + 1
    if k == 1:
        if alternating_threshold is None:
            return labels
        split = alternating_split(
            embeddings, weights, threshold=alternating_threshold, min_run=alternating_run
        )
        return labels if split is None else split
    start = clustering.centroids(embeddings, labels, k, weights)
    return clustering.spherical_kmeans(embeddings, k, weights=weights, init=start)


def assign_speakers(items: Iterable[Timed], turns: Sequence[SpeakerTurn]) -> list[str | None]:
    """The speaker of each item: the one whose turns overlap it most.

    Ties go to the speaker whose overlapping turn comes first; an item that overlaps no
    turn takes the speaker of the nearest turn in time.

    Args:
        items: Words, segments, anything timed in seconds.
        turns: Speaker turns, e.g. from :func:`diarize`.

    Returns:
        One label per item, in order; None for every item when ``turns`` is empty.
    """
    ordered = sorted(turns, key=lambda t: t.start)
    starts = [t.start for t in ordered]
    reach = np.maximum.accumulate([t.end for t in ordered]) if ordered else np.zeros(0)
    result: list[str | None] = []
    for item in items:
        if not ordered:
            result.append(None)
            continue
        i = bisect_left(starts, item.end) - 1  # the last turn starting before the item ends
        first = i
        while first >= 0 and reach[first] > item.start:  # earlier turns may reach the item
            first -= 1
        overlap: dict[str, float] = {}  # in time order, so ties go to the earlier speaker
        for t in ordered[first + 1 : i + 1]:
            shared = min(item.end, t.end) - max(item.start, t.start)
            if shared > 0:
                overlap[t.speaker] = overlap.get(t.speaker, 0.0) + shared
        if overlap:
            result.append(max(overlap, key=overlap.__getitem__))
            continue
        after = bisect_left(starts, item.end)
        candidates = ordered[max(after - 1, 0) : after + 1]
        if after > 0:  # the turn reaching furthest among those that start before
            candidates.append(ordered[int(np.argmax(reach[:after]))])
        nearest = min(candidates, key=lambda t: max(t.start - item.end, item.start - t.end))
        result.append(nearest.speaker)
    return result


def _flatten(items: Iterable[Timed]) -> list[Timed]:
    """The items sorted by start; segments are replaced by their words when all have some."""
    listed = list(items)
    if listed and all(isinstance(i, Segment) and i.words for i in listed):
        listed = [w for s in listed for w in s.words]  # type: ignore[attr-defined]
    return sorted((i for i in listed if i.end > i.start), key=lambda i: (i.start, i.end))


def _speech_seconds(
    windows: Sequence[SpeechRegion], regions: Sequence[SpeechRegion]
) -> npt.NDArray[np.float64]:
    """Seconds of speech each window stands for: its region's length over its windows."""
    if not windows:
        return np.zeros(0)
    starts = np.array([r.start for r in regions])
    lengths = np.array([r.duration for r in regions])
    owner = np.searchsorted(starts, [w.start for w in windows], side="right") - 1
    counts = np.bincount(owner, minlength=len(regions))
    return lengths[owner] / counts[owner]


def _join(pieces: Sequence[SpeakerTurn], *, join_gap: float) -> list[SpeakerTurn]:
    """Merge consecutive pieces of one speaker less than ``join_gap`` apart into turns.

    A piece that overlaps its speaker's previous turn is merged into it as well, so one
    speaker's turns never overlap.
    """
    turns: list[SpeakerTurn] = []
    latest: dict[str, int] = {}  # speaker → index of their latest turn
    for p in sorted(pieces, key=lambda p: (p.start, p.end)):
        i = latest.get(p.speaker)
        if i is not None and (
            (i == len(turns) - 1 and p.start - turns[i].end < join_gap) or p.start < turns[i].end
        ):
            turns[i] = SpeakerTurn(p.speaker, turns[i].start, max(turns[i].end, p.end))
        else:
            latest[p.speaker] = len(turns)
            turns.append(p)
    return turns


def _number_speakers(turns: Sequence[SpeakerTurn]) -> list[SpeakerTurn]:
    """Rename speakers "0", "1", … in order of first appearance."""
    names: dict[str, str] = {}
    for t in turns:
        names.setdefault(t.speaker, str(len(names)))
    return [SpeakerTurn(names[t.speaker], t.start, t.end) for t in turns]
