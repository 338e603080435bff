"""Batch diarization: who spoke when in a whole recording, and who said each word.

Pipeline (:func:`diarize`)::

    words / segments / VAD regions ──► speech regions (gaps < 0.5 s joined)
      ──► 1.5 s windows at most 0.5 s apart (regions < 1 s get none: they are merged
          into their neighbours' labels)
      ──► windows with < 10 % voiced-speech frames left out (pauses, noises; below)
      ──► d-vectors of the windows, each at equal loudness
      ──► clustering: agglomerative at cosine THRESHOLD, clusters with < 2 s of speech
          folded into the nearest one, refined by spherical k-means; when that leaves one
          speaker, the alternating-voices test (:mod:`.alternation`) may still find two
          (or k-means to ``num_speakers`` when it is given)
      ──► frame labels (20 ms): each window votes for its cluster over its span, most
          at its centre; label runs shorter than 0.5 s take their neighbour's label
      ──► each word (or each piece of a longer segment) takes its frames' majority
      ──► turns: consecutive items of one speaker less than 1 s apart, speakers
          numbered "0", "1", … in order of first appearance

Threshold
---------
:data:`THRESHOLD` (0.66) is the centroid cosine under which two clusters of windows stay
different speakers. It was calibrated with this pipeline on the shared corpus by finding,
for each recording, the lowest threshold at which it comes out as two speakers (Whisper
base words; ``bench/diarization.py`` re-measures it):

* single speaker (must stay one): jfk 0.73 (whisper.cpp's jfk.mp3 0.76), physicsworks
  (203 s) 0.71 (0.73 from the batch pipeline's words, which chunk it differently),
  demo-congrats 0.84; the pocketsphinx, deepspeech, pyroomacoustics,
  agent-pass and MFA clips never split (none has two 2 s stretches apart).
* different speakers (must split): 45 pairs of different single-speaker clips (15 s of
  each at most) joined end to end, median 0.35, 95th percentile 0.57, at most 0.61; the
  two channels of ``stereo_diarization.wav`` one after the other, 0.47.

0.66 is the middle of the gap (0.61, 0.71). The two telephone voices of
``pyannote/sample.wav`` do **not** split at it (they need 0.79): they are closer to each
other (centroid cosine 0.83) than the two halves of jfk (0.81), so no threshold on this
embedder counts them; the alternating-voices test below does. (``bench/diarization.py``
prints every clip's count; the speechbrain VAD clips come out as one speaker.)

Windows without speech
----------------------
Word timings place windows over more than speech: between two words of one region lies
a pause (up to ``region_gap``), a 1.5 s window over it is mostly room noise, which
loudness normalisation raises to speech level, and a window over a loud noise (a crash,
a bang) is mostly that noise. The d-vector hears both as voices of their own. With the
words of the batch pipeline (``realtime.batch.pipeline``) on physicsworks, 10 such
windows (pauses at 33 s and 96 s, the pendulum crash at 67–69 s: YAMNet "Silence" 1.0
and "Breaking" 0.68) made a second cluster of 5.5 s, 0.49 alike to the lecturer, and
k-means grew it to 56 windows. :func:`~.voicing.voiced_fractions` scores each window by
the share of its 40 ms frames that are voiced (periodic at a 60–400 Hz pitch) and within
30 dB of the recording's speech level, and :data:`MIN_VOICED` (0.1) leaves out windows
below it; their speech takes the nearest clustered window's label. Measured (Whisper
base words / Silero VAD regions, every clip of the shared corpus): 11 of physicsworks's
247 pipeline windows score 0.00–0.09, all over the two pauses and the crash (9 of the 10
above, and 34.2 s and 67.2 s; the tenth, 69.2 s, holds speech after the crash, scores
≥ 0.2 and joins the lecturer); every other window scores ≥ 0.11 (10th percentile
0.11–0.79 per clip), except one word window of the noisy ``speechbrain/vad_valid.wav``
(0.00). None of sample.wav's 41 windows, nor any window from VAD regions, is left out,
so its figures below are unchanged. Afterwards physicsworks on the pipeline words
splits only from threshold 0.73 (before: it came out as two speakers at every threshold
from 0.50 up). Cost: 0.13–0.15 s per 203 s recording. A window with only
unvoiced speech (whispering) is left out too; when no window passes, all are kept.

Alternating voices
------------------
When the threshold finds one speaker, :func:`~.alternation.alternating_split` tests for
two voices that take turns (each half of a 2-means split holding at least two runs of
≥ 2 s) and are less than :data:`~.alternation.ALTERNATING_THRESHOLD` (0.85) alike; its
module notes give the calibration. It counts the two telephone voices of
``pyannote/sample.wav`` (0.839), with the same split as ``num_speakers=2``: DER 18.1 %
with a 0.25 s collar (pyannote convention, ±0.125 s), 10.2 % with ±0.25 s. A drifting
single voice (jfk) does not alternate; demo-congrats (0.895) and physicsworks (0.889)
alternate but stay above it (physicsworks on the batch pipeline's words: 0.897). The
margin is thin on both sides (module notes there): sample.wav on the batch pipeline's
words (rather than one-shot transcription's) is 0.847 alike, 0.003 from the limit.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from engines.base import PCM, EngineInfo, Segment, SpeakerEmbedder, SpeakerTurn, VADEngine
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
"""Centroid cosine below which clusters stay apart (module notes: calibration)."""

MIN_VOICED = 0.1
"""Share of voiced-speech frames a window needs to be clustered (module notes)."""

MAX_AGGLOMERATIVE_ROWS = 2000
"""Most rows agglomerative clustering gets (its time and memory grow as the square)."""


@dataclass(frozen=True, slots=True)
class DiarizationOptions:
    """Knobs of :func:`diarize`; the defaults are the calibrated ones.

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
            Two: the embedding is most of diarization's cost; measured on
            physicsworks.wav (203 s, 236 windows, 2 cores) diarize took 2.6 s with one
            thread and 1.6 s with two.
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
    """Find who spoke when (module notes describe the pipeline).

    Blocking: embeds about 1.6 windows per second of speech (15–35 ms each on one CPU
    core; physicsworks.wav, 203 s: 2.6 s, about 20 % of Whisper base's transcription,
    0.15 s of it the voicing test).
    Safe to call from several threads when the embedder is thread-safe.

    Args:
        audio: The whole recording, mono int16 at 16 kHz.
        embedder: Speaker embedder (e.g. :class:`~engines.diarization.dvector.DVectorEmbedder`).
        words_or_segments: Where the speech is, in seconds from the start of ``audio``:
            words (best: turns then start and end on word boundaries), segments (their
            words are used when every segment has some), or
            :func:`~engines.diarization.regions.vad_regions`.
        num_speakers: The number of speakers when known; None chooses it.
        options: Tuning; the defaults are calibrated (module notes).

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


class EmbeddingDiarizer:
    """A ``Diarizer`` (``shared/reference/architecture.md`` §3) over an embedder and a VAD.

    Without words or segments, the speech regions come from the VAD
    (:func:`~engines.diarization.regions.vad_regions`), used as they are: the VAD has
    already joined pauses shorter than its silence duration, so ``region_gap`` is not
    applied again. Measured: joining VAD regions across 0.5 s pauses glues the two
    channels of ``stereo_diarization.wav`` (played one after the other) into one region
    and they come out as one speaker.

    Stateless between calls; thread-safe when both engines are.

    Args:
        embedder: Speaker embedder.
        vad: VAD engine, used when no words or segments are given.
        options: Tuning for :func:`diarize`.
    """

    def __init__(
        self,
        embedder: SpeakerEmbedder,
        vad: VADEngine,
        options: DiarizationOptions | None = None,
    ) -> None:
        self.embedder = embedder
        self.vad = vad
        self.options = options or DiarizationOptions()
        self.info = EngineInfo("dvector-clustering", embedder.info.model)

    def diarize(
        self,
        audio: PCM,
        *,
        num_speakers: int | None = None,
        words_or_segments: Iterable[Timed] | None = None,
    ) -> list[SpeakerTurn]:
        """Diarize ``audio``; see :func:`diarize`.

        Args:
            audio: Mono int16 at 16 kHz.
            num_speakers: Known number of speakers, or None.
            words_or_segments: Where the speech is; None runs the VAD.

        Returns:
            Speaker turns as :func:`diarize` returns them.
        """
        options = self.options
        if words_or_segments is None:
            words_or_segments = vad_regions(self.vad, audio)
            options = replace(options, region_gap=0.0)
        return diarize(
            audio,
            embedder=self.embedder,
            words_or_segments=words_or_segments,
            num_speakers=num_speakers,
            options=options,
        )


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
