"""Diarization: the DER metric, clustering, the batch pipeline and the online tracker.

The first half needs no model (hand-computed DER cases, synthetic embeddings, a tone
"embedder"); the tests marked ``model`` run the d-vector, Silero VAD and Whisper base on
the shared corpus. Figures in comments were measured on a 2-core AMD EPYC (Whisper base
int8, 2 threads); `bench/diarization.py` re-measures them.

Known limits of the d-vector, each pinned by a strict xfail so a better embedder shows up:
the two telephone voices of pyannote/sample.wav are not counted automatically (batch or
online), and the right channel of stereo_diarization.wav, which speaks only while the left
one does, is neither transcribed nor attributed once the channels are mixed.
"""

from __future__ import annotations

import itertools
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from engines.audio import load_pcm
from engines.base import (
    SAMPLE_RATE,
    ASROptions,
    AudioChunk,
    EngineInfo,
    Segment,
    SpeakerTurn,
    SpeechEdge,
    VADOptions,
    Word,
)
from engines.diarization.batch import (
    DiarizationOptions,
    EmbeddingDiarizer,
    assign_speakers,
    diarize,
)
from engines.diarization.clustering import agglomerative, normalize_rows, spherical_kmeans
from engines.diarization.embedding import TARGET_RMS, normalize_loudness
from engines.diarization.metrics import (
    diarization_error,
    diarization_error_rate,
    load_rttm,
    optimal_assignment,
)
from engines.diarization.online import OnlineSpeakerTracker
from engines.diarization.regions import SpeechRegion, embedding_windows, speech_regions
from tests.conftest import wer

# --- DER ------------------------------------------------------------------------------------


def _turns(rows: list[tuple[str, float, float]]) -> list[SpeakerTurn]:
    return [SpeakerTurn(*row) for row in rows]


SAMPLE_RTTM = [
    ("speaker90", 6.69, 7.12),
    ("speaker91", 7.55, 8.35),
    ("speaker90", 8.32, 10.02),
    ("speaker91", 9.92, 11.03),
    ("speaker90", 10.57, 14.70),
    ("speaker91", 14.49, 17.92),
    ("speaker90", 18.05, 21.49),
    ("speaker91", 18.15, 18.59),
    ("speaker91", 21.78, 28.50),
    ("speaker90", 27.85, 30.00),
]
# What diarize() gave on sample.wav with Whisper base words and num_speakers=2.
SAMPLE_HYPOTHESIS = [
    ("0", 6.38, 9.76),
    ("1", 9.98, 10.62),
    ("0", 10.9, 13.96),
    ("1", 14.38, 19.5),
    ("0", 19.5, 22.12),
    ("1", 22.28, 28.7),
    ("0", 28.7, 29.82),
]

# (reference, hypothesis, collar, skip_overlap) → (DER, total, missed, false alarm,
# confusion). The hand-made cases are computed in their comments; every row was also
# checked against pyannote.metrics 4.2.0 (DiarizationErrorRate(collar, skip_overlap),
# detailed=True), which gave the same five numbers. So did 300 random cases of 1-12 turns
# of 1-5 speakers with overlaps, collars 0/0.25/0.5 and skip_overlap (largest difference
# 9e-16); pyannote itself is not a dependency (see engines/diarization/metrics.py).
DER_CASES = {
    # labels differ, times agree: no error
    "renamed": ([("A", 0, 10), ("B", 10, 20)], [("x", 0, 10), ("y", 10, 20)], 0.0, False,
                (0.0, 20.0, 0.0, 0.0, 0.0)),
    # x→A (10 s together), y→B (5 s): B's 10–15 s under x is confusion
    "confusion": ([("A", 0, 10), ("B", 10, 20)], [("x", 0, 15), ("y", 15, 20)], 0.0, False,
                  (0.25, 20.0, 0.0, 0.0, 5.0)),
    # 0–2 s missed, 10–12 s false alarm, over 10 s of reference
    "miss_fa": ([("A", 0, 10)], [("x", 2, 12)], 0.0, False, (0.4, 10.0, 2.0, 2.0, 0.0)),
    # a 0.25 s collar forgives ±0.125 s: the 0.1 s and 0.05 s misses vanish, total 9.75
    "collar": ([("A", 0, 10)], [("x", 0.1, 9.95)], 0.25, False, (0.0, 9.75, 0.0, 0.0, 0.0)),
    # overlap counts once per speaker: total 15; one hypothesis speaker misses 5 s
    "overlap_missed": ([("A", 0, 10), ("B", 5, 10)], [("x", 0, 10)], 0.0, False,
                       (1 / 3, 15.0, 5.0, 0.0, 0.0)),
    # x→A, y→B (5 + 5 s) beats y→A: 5–10 s has B right and A missed
    "overlap_split": ([("A", 0, 10), ("B", 5, 10)], [("x", 0, 5), ("y", 5, 10)], 0.0, False,
                      (1 / 3, 15.0, 5.0, 0.0, 0.0)),
    # y pairs with no reference speaker: its 4 s are confusion
    "extra_speaker": ([("A", 0, 10)], [("x", 0, 6), ("y", 6, 10)], 0.0, False,
                      (0.4, 10.0, 0.0, 0.0, 4.0)),
    # skip_overlap drops 5–10 s
    "skip_overlap": ([("A", 0, 10), ("B", 5, 10)], [("x", 0, 10)], 0.0, True,
                     (0.0, 5.0, 0.0, 0.0, 0.0)),
    "empty_hypothesis": ([("A", 0, 10)], [], 0.0, False, (1.0, 10.0, 10.0, 0.0, 0.0)),
    # real turns: sample.rttm against our two-speaker output, three collars
    "sample_collar_0": (SAMPLE_RTTM, SAMPLE_HYPOTHESIS, 0.0, False,
                        (0.276797, 24.35, 3.15, 1.16, 2.43)),
    "sample_collar_0.25": (SAMPLE_RTTM, SAMPLE_HYPOTHESIS, 0.25, False,
                           (0.184662, 19.82, 1.66, 0.405, 1.595)),
    "sample_collar_0.5": (SAMPLE_RTTM, SAMPLE_HYPOTHESIS, 0.5, False,
                          (0.102203, 16.34, 0.59, 0.06, 1.02)),
    # one speaker for the whole sample: the smaller speaker is confusion
    "sample_one_speaker": (SAMPLE_RTTM, [("0", 6.38, 29.82)], 0.25, False,
                           (0.495207, 19.82, 0.855, 0.405, 8.555)),
}  # fmt: skip


@pytest.mark.parametrize("name", DER_CASES)
def test_der_matches_hand_computed_and_pyannote_values(name: str) -> None:
    reference, hypothesis, collar, skip, expected = DER_CASES[name]
    details = diarization_error(
        _turns(reference), _turns(hypothesis), collar=collar, skip_overlap=skip
    )
    got = (details.der, details.total, details.missed, details.false_alarm, details.confusion)
    assert got == pytest.approx(expected, abs=1e-6)


def test_der_mapping_pairs_labels_and_ignores_names() -> None:
    reference = _turns([("A", 0, 10), ("B", 10, 20)])
    details = diarization_error(reference, _turns([("1", 0, 10), ("0", 10, 20)]))
    assert details.mapping == {"1": "A", "0": "B"}
    assert details.correct == pytest.approx(20.0)
    assert diarization_error_rate(reference, reference) == 0.0
    # nothing to score, nothing wrong
    assert diarization_error_rate([], []) == 0.0
    # nothing to score, but a false alarm
    assert diarization_error_rate([], _turns([("x", 0, 1)])) == 1.0


def test_der_uem_restricts_the_scored_region() -> None:
    reference = _turns([("A", 0, 10)])
    hypothesis = _turns([("x", 5, 15)])
    assert diarization_error_rate(reference, hypothesis) == pytest.approx(1.0)  # 5 + 5 of 10
    assert diarization_error_rate(reference, hypothesis, uem=[(5, 10)]) == 0.0


def test_der_rejects_a_negative_collar() -> None:
    with pytest.raises(ValueError, match="collar"):
        diarization_error([], [], collar=-0.1)


def test_optimal_assignment_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        rows, cols = (int(x) for x in rng.integers(1, 6, size=2))
        score = rng.integers(0, 4, size=(rows, cols)).astype(float)
        pairs = optimal_assignment(score)
        k = min(rows, cols)
        assert len(pairs) == k
        assert len({r for r, _ in pairs}) == k and len({c for _, c in pairs}) == k
        best = max(
            sum(score[r, c] for r, c in zip(rs, cs, strict=True))
            for rs in itertools.permutations(range(rows), k)
            for cs in itertools.permutations(range(cols), k)
        )
        assert sum(score[r, c] for r, c in pairs) == pytest.approx(best)
    assert optimal_assignment(np.zeros((0, 3))) == []
    with pytest.raises(ValueError):
        optimal_assignment([[np.inf]])


def test_load_rttm(testdata: Path, tmp_path: Path) -> None:
    turns = load_rttm(testdata / "pyannote/sample.rttm")
    assert [t.speaker for t in turns] == [s for s, _, _ in SAMPLE_RTTM]
    assert [(t.start, t.end) for t in turns] == [pytest.approx((a, b)) for _, a, b in SAMPLE_RTTM]
    other = tmp_path / "two.rttm"
    other.write_text(
        "SPEAKER a 1 0.5 1.0 <NA> <NA> s1 <NA> <NA>\n"
        ";; comment\n"
        "SPEAKER b 1 2.0 1.0 <NA> <NA> s2 <NA> <NA>\n"
    )
    assert load_rttm(other, file_id="b") == [SpeakerTurn("s2", 2.0, 3.0)]
    other.write_text("SPEAKER a 1 x 1.0 <NA> <NA> s1 <NA> <NA>\n")
    with pytest.raises(ValueError, match="onset"):
        load_rttm(other)


# --- clustering, regions ----------------------------------------------------------------------


def _blobs(centres: np.ndarray, sizes: list[int], noise: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = [
        c + noise * rng.standard_normal((n, len(c))) for c, n in zip(centres, sizes, strict=True)
    ]
    return normalize_rows(np.concatenate(rows))


def test_agglomerative_stops_at_the_threshold() -> None:
    centres = normalize_rows(np.eye(3, 16))  # orthogonal: cosine 0 between groups
    x = _blobs(centres, [5, 7, 4], noise=0.05)
    labels = agglomerative(x, threshold=0.5)
    assert list(labels) == [0] * 5 + [1] * 7 + [2] * 4
    assert set(agglomerative(x, threshold=-1.0)) == {0}  # merges everything
    one = _blobs(centres[:1], [12], noise=0.05)
    assert set(agglomerative(one, threshold=0.5)) == {0}


def test_agglomerative_folds_clusters_with_too_little_weight() -> None:
    centres = normalize_rows(np.eye(2, 16))
    x = _blobs(centres, [8, 2], noise=0.05)
    assert list(agglomerative(x, threshold=0.5)) == [0] * 8 + [1] * 2
    folded = agglomerative(x, threshold=0.5, weights=np.full(10, 0.5), min_cluster_weight=2.0)
    assert set(folded) == {0}  # the 2-row group has 1 s < 2 s
    # no cluster large enough: everything is one speaker
    assert set(agglomerative(x, threshold=1.1, min_cluster_weight=100)) == {0}


def test_spherical_kmeans_finds_k_groups_numbered_by_first_row() -> None:
    centres = normalize_rows(np.eye(3, 8) + 0.2)
    x = _blobs(centres, [4, 4, 4], noise=0.05)[np.r_[4:8, 0:4, 8:12]]
    labels = spherical_kmeans(x, 3)
    assert list(labels) == [0] * 4 + [1] * 4 + [2] * 4
    assert set(spherical_kmeans(x, 1)) == {0}
    assert len(set(spherical_kmeans(x[:2], 5))) == 2  # k clamped to the rows
    with pytest.raises(ValueError):
        spherical_kmeans(x, 0)


def test_cluster_windows_of_a_long_recording_groups_consecutive_windows(monkeypatch) -> None:
    import engines.diarization.batch as batch

    centres = normalize_rows(np.eye(2, 16))
    x = _blobs(centres, [30, 30], noise=0.02)[np.r_[0:20, 30:60, 20:30]]
    weights = np.full(60, 0.5)
    direct = batch.cluster_windows(x, weights, num_speakers=None, threshold=0.66, min_speaker=2)
    monkeypatch.setattr(batch, "MAX_AGGLOMERATIVE_ROWS", 7)  # groups of 9 windows
    grouped = batch.cluster_windows(x, weights, num_speakers=None, threshold=0.66, min_speaker=2)
    expected = [0] * 20 + [1] * 30 + [0] * 10
    assert list(direct) == expected and list(grouped) == expected


def test_speech_regions_join_items_closer_than_the_gap() -> None:
    words = [Word(" a", 0.0, 0.4), Word(" b", 0.6, 1.0), Word(" c", 2.0, 2.5), Word(" d", 3.0, 3.0)]
    assert speech_regions(words, max_gap=0.5) == [SpeechRegion(0.0, 1.0), SpeechRegion(2.0, 2.5)]
    assert len(speech_regions(words, max_gap=0.1)) == 3


def test_embedding_windows_have_one_length_and_cover_each_region() -> None:
    regions = [SpeechRegion(0.0, 4.0), SpeechRegion(5.0, 6.2), SpeechRegion(7.0, 7.5)]
    windows = embedding_windows(regions, length=1.5, step=0.5, min_fragment=1.0)
    inside_first = [w for w in windows if w.end <= 4.0]
    assert [w.duration for w in inside_first] == pytest.approx([1.5] * len(inside_first))
    assert inside_first[0].start == 0.0 and inside_first[-1].end == pytest.approx(4.0)
    starts = [w.start for w in inside_first]
    assert max(np.diff(starts)) <= 0.5 + 1e-9
    assert SpeechRegion(5.0, 6.2) in windows  # 1–1.5 s: one window of its own length
    assert all(w.start < 7.0 for w in windows)  # < 1 s: merged into neighbours' labels
    # only fragments: the longest one is embedded anyway
    assert embedding_windows(
        [SpeechRegion(0, 0.3), SpeechRegion(1, 1.6)], length=1.5, step=0.5, min_fragment=1.0
    ) == [SpeechRegion(1, 1.6)]
    with pytest.raises(ValueError):
        embedding_windows(regions, length=1.0, step=2.0, min_fragment=1.0)


def test_normalize_loudness() -> None:
    quiet = (np.sin(np.arange(16000) / 10) * 300).astype(np.int16)
    loud = normalize_loudness(quiet)
    rms = np.sqrt(np.mean((loud / 32768.0) ** 2))
    assert rms == pytest.approx(TARGET_RMS, rel=0.01)
    silence = np.zeros(100, dtype=np.int16)
    assert np.array_equal(normalize_loudness(silence), silence)


# --- the batch pipeline on tones ---------------------------------------------------------------


class ToneEmbedder:
    """A fake SpeakerEmbedder: the spectrum in 16 bands, so each pure tone is a 'voice'."""

    info = EngineInfo("tones", "test")
    dim = 16

    def embed(self, audio: np.ndarray) -> np.ndarray:
        usable = len(audio) // 1024 * 1024
        frames = audio[:usable].astype(np.float64).reshape(-1, 1024)
        spectrum = np.abs(np.fft.rfft(frames, axis=1))[:, :512].sum(axis=0)
        bands = spectrum.reshape(16, 32).sum(axis=1)
        return (bands / (np.linalg.norm(bands) + 1e-12)).astype(np.float32)


def _tones(plan: list[tuple[float, float, float]], length: float) -> np.ndarray:
    """Sine tones at (start, end, hertz), silence elsewhere."""
    audio = np.zeros(int(length * SAMPLE_RATE), dtype=np.int16)
    for start, end, hz in plan:
        t = np.arange(int(start * SAMPLE_RATE), int(end * SAMPLE_RATE))
        audio[t] = (8000 * np.sin(2 * np.pi * hz * t / SAMPLE_RATE)).astype(np.int16)
    return audio


def _words_over(spans: list[tuple[float, float]], every: float = 0.4) -> list[Word]:
    return [
        Word(f" w{i}", t, min(t + every * 0.8, end))
        for i, (start, end) in enumerate(spans)
        for t in np.arange(start, end - 0.05, every)
    ]


PLAN = [(0.0, 3.0, 300.0), (3.6, 6.6, 2500.0), (7.2, 10.2, 300.0)]


def test_diarize_finds_tone_speakers_in_order_of_appearance() -> None:
    audio = _tones(PLAN, 11.0)
    words = _words_over([(a, b) for a, b, _ in PLAN])
    turns = diarize(audio, embedder=ToneEmbedder(), words_or_segments=words)
    assert [t.speaker for t in turns] == ["0", "1", "0"]
    for turn, (start, end, _) in zip(turns, PLAN, strict=True):
        assert turn.start == pytest.approx(start, abs=0.05)
        assert turn.end == pytest.approx(end, abs=0.4)
    labels = assign_speakers(words, turns)
    expected = ["0" if w.start < 3.3 or w.start > 6.9 else "1" for w in words]
    assert labels == expected


def test_diarize_honours_the_speaker_count_hint() -> None:
    audio = _tones(PLAN, 11.0)
    words = _words_over([(a, b) for a, b, _ in PLAN])
    turns = diarize(audio, embedder=ToneEmbedder(), words_or_segments=words, num_speakers=1)
    assert {t.speaker for t in turns} == {"0"}
    with pytest.raises(ValueError):
        diarize(audio, embedder=ToneEmbedder(), words_or_segments=words, num_speakers=0)


def test_diarize_splits_a_long_segment_where_the_speaker_changes() -> None:
    audio = _tones([(0.0, 4.0, 300.0), (4.0, 8.0, 2500.0)], 8.0)
    segment = Segment("no words", 0.0, 8.0)
    turns = diarize(audio, embedder=ToneEmbedder(), words_or_segments=[segment])
    assert [t.speaker for t in turns] == ["0", "1"]
    # a window straddling the change (3.5–5 s) went to "0": boundaries are good to a step
    assert turns[0].end == pytest.approx(4.0, abs=0.5)  # measured 4.5
    assert (turns[0].start, turns[1].end) == (0.0, 8.0)
    # segments with words are diarized word by word
    words = tuple(_words_over([(0.0, 4.0), (4.0, 8.0)]))
    with_words = diarize(
        audio, embedder=ToneEmbedder(), words_or_segments=[Segment("w", 0.0, 8.0, words)]
    )
    assert turns[0].end == pytest.approx(with_words[0].end, abs=0.5)
    assert with_words[1].start in {w.start for w in words}


def test_diarize_without_speech_and_labels_of_stray_items() -> None:
    audio = _tones(PLAN, 11.0)
    assert diarize(audio, embedder=ToneEmbedder(), words_or_segments=[]) == []
    turns = _turns([("0", 0.0, 1.0), ("1", 2.0, 3.0)])
    words = [Word(" a", 0.5, 2.5), Word(" b", 1.1, 1.2), Word(" c", 5.0, 5.5)]
    assert assign_speakers(words, turns) == ["0", "0", "1"]  # most overlap; else nearest
    assert assign_speakers(words, []) == [None, None, None]


def test_assign_speakers_matches_the_brute_force_definition() -> None:
    rng = np.random.default_rng(1)
    for _ in range(200):
        starts = np.sort(rng.uniform(0, 20, size=rng.integers(1, 8)))
        turns = [
            SpeakerTurn(str(rng.integers(0, 3)), float(a), float(a + rng.uniform(0.1, 6)))
            for a in starts
        ]
        items = [
            Word("w", float(a), float(a + rng.uniform(0.05, 1))) for a in rng.uniform(0, 25, 10)
        ]
        for item, label in zip(items, assign_speakers(items, turns), strict=True):
            overlap: dict[str, float] = {}
            for t in turns:
                shared = min(item.end, t.end) - max(item.start, t.start)
                if shared > 0:
                    overlap[t.speaker] = overlap.get(t.speaker, 0.0) + shared
            if overlap:
                assert overlap[label] == max(overlap.values())
            else:  # the nearest turn in time
                gap = {t: max(t.start - item.end, item.start - t.end) for t in turns}
                assert any(g == min(gap.values()) for t, g in gap.items() if t.speaker == label)


# --- the online tracker on synthetic embeddings ----------------------------------------------


def _unit(*values: float) -> np.ndarray:
    v = np.array(values, dtype=np.float64)
    return v / np.linalg.norm(v)


def test_tracker_opens_and_joins_speakers_at_the_threshold() -> None:
    tracker = OnlineSpeakerTracker(ToneEmbedder(), threshold=0.6)
    a, b = _unit(1, 0, 0), _unit(0, 1, 0)
    first = tracker.attribute(a, duration=2.0)
    assert (first.speaker, first.new_speaker) == ("0", True)
    assert tracker.attribute(_unit(1, 0.5, 0), duration=2.0).speaker == "0"  # cos 0.89
    second = tracker.attribute(b, duration=2.0)
    assert (second.speaker, second.new_speaker) == ("1", True)
    joined = tracker.attribute(_unit(0.3, 1, 0), duration=2.0)
    assert joined.speaker == "1" and joined.similarity == pytest.approx(0.958, abs=1e-3)
    # running mean of the unit embeddings
    assert tracker.centroid("1") == pytest.approx(normalize_rows(b + _unit(0.3, 1, 0)))
    assert tracker.speakers == ("0", "1")
    with pytest.raises(KeyError):
        tracker.centroid("7")
    tracker.reset()
    assert tracker.speakers == ()


def test_tracker_short_utterances_never_open_or_move_a_speaker() -> None:
    tracker = OnlineSpeakerTracker(ToneEmbedder(), threshold=0.6, min_new_speaker=1.0)
    tracker.attribute(_unit(1, 0, 0), duration=2.0)
    short = tracker.attribute(_unit(0, 1, 0), duration=0.5)  # far, but short
    assert (short.speaker, short.new_speaker) == ("0", False)
    assert tracker.centroid("0") == pytest.approx(_unit(1, 0, 0))


def test_tracker_first_short_utterance_is_seeded_by_the_next_long_one() -> None:
    tracker = OnlineSpeakerTracker(ToneEmbedder(), threshold=0.6)
    assert tracker.attribute(_unit(0, 0, 1), duration=0.4).speaker == "0"
    assert tracker.centroid("0") is None
    seeded = tracker.attribute(_unit(1, 0, 0), duration=2.0)
    assert (seeded.speaker, seeded.similarity) == ("0", None)
    assert tracker.centroid("0") == pytest.approx(_unit(1, 0, 0))
    assert tracker.attribute(_unit(0, 1, 0), duration=2.0).speaker == "1"


def test_tracker_max_speakers_attributes_to_the_nearest() -> None:
    tracker = OnlineSpeakerTracker(ToneEmbedder(), threshold=0.6, max_speakers=2)
    for v in (_unit(1, 0, 0), _unit(0, 1, 0)):
        tracker.attribute(v, duration=2.0)
    assert tracker.attribute(_unit(0.2, 0, 1), duration=2.0).speaker == "0"
    assert tracker.speakers == ("0", "1")
    with pytest.raises(ValueError):
        OnlineSpeakerTracker(ToneEmbedder(), max_speakers=0)


def test_tracker_observe_embeds_the_audio() -> None:
    tracker = OnlineSpeakerTracker(ToneEmbedder())
    low, high = _tones([(0, 2, 300.0)], 2.0), _tones([(0, 2, 2500.0)], 2.0)
    assert [tracker.observe(x) for x in (low, high, low // 4)] == ["0", "1", "0"]


# --- real models on real audio ----------------------------------------------------------------

SINGLE_SPEAKER_CLIPS = [
    "openai-whisper/jfk.flac",
    "pocketsphinx/sense_and_sensibility_01_austen_64kb-0870.wav",
    "pocketsphinx/sense_and_sensibility_01_austen_64kb-0880.wav",
    "pocketsphinx/sense_and_sensibility_01_austen_64kb-0890.wav",
    "deepspeech/LDC93S1.wav",
    "deepspeech/LDC93S1_pcms16le_1_8000.wav",
    "deepspeech/new-home-in-the-stars-16k.wav",
    "pyroomacoustics/cmu_arctic_us_aew_a0001.wav",
    "pyroomacoustics/cmu_arctic_us_axb_a0004.wav",
    "asterisk/demo-congrats.wav",
]


@pytest.fixture(scope="module")
def embedder(model_cache_dir: Path):
    from engines.diarization.dvector import DVectorEmbedder

    return DVectorEmbedder.load(cache_dir=model_cache_dir)


@pytest.fixture(scope="module")
def vad(model_cache_dir: Path):
    from engines.vad.silero import SileroVAD

    return SileroVAD.load(cache_dir=model_cache_dir)


@pytest.fixture(scope="module")
def words_of(asr_base):
    """Whisper base word timings of a clip, computed once per clip."""
    cache: dict[int, list[Word]] = {}

    def words(audio: np.ndarray) -> list[Word]:
        key = hash(audio.tobytes())
        if key not in cache:
            transcript = asr_base.transcribe(audio, ASROptions(word_timestamps=True))
            cache[key] = list(transcript.words)
        return cache[key]

    return words


@pytest.fixture(scope="module")
def channels(testdata: Path) -> tuple[np.ndarray, np.ndarray]:
    with wave.open(str(testdata / "faster-whisper/stereo_diarization.wav")) as f:
        assert (f.getnchannels(), f.getframerate()) == (2, SAMPLE_RATE)
        frames = np.frombuffer(f.readframes(f.getnframes()), dtype=np.int16).reshape(-1, 2)
    return frames[:, 0].copy(), frames[:, 1].copy()


@pytest.fixture(scope="module")
def channel_texts(testdata: Path) -> dict[str, str]:
    lines = (testdata / "faster-whisper/stereo_diarization.txt").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line[:5] in ("LEFT:", "RIGHT"))


def _utterances(vad, audio: np.ndarray) -> Iterator[np.ndarray]:
    """Utterances as the realtime session cuts them (server_vad defaults)."""
    start = None
    for event in vad.open_stream(VADOptions()).feed(AudioChunk(audio, 0)):
        if event.edge is SpeechEdge.START:
            start = event.sample
        else:
            yield audio[start : event.sample]
            start = None
    if start is not None:
        yield audio[start:]


def _speakers(turns: list[SpeakerTurn]) -> set[str]:
    return {t.speaker for t in turns}


@pytest.mark.model
def test_sample_two_speakers_with_the_hint(embedder, words_of, testdata: Path) -> None:
    audio = load_pcm(testdata / "pyannote/sample.wav")
    reference = load_rttm(testdata / "pyannote/sample.rttm")
    turns = diarize(audio, embedder=embedder, words_or_segments=words_of(audio), num_speakers=2)
    assert _speakers(turns) == {"0", "1"}
    assert turns[0].speaker == "0"
    # Measured 0.185 (missed 1.66 s: overlapped speech; false alarm 0.41 s; confusion
    # 1.60 s: Diane's "Oh, I'm originally from Chicago" right after Sheila's turn), of
    # 19.82 s scored. The margin is thin: tiny.en words give 0.23, VAD regions 0.25.
    assert diarization_error_rate(reference, turns, collar=0.25) <= 0.20
    # md-eval's ±0.25 s forgiveness (pyannote collar 0.5): measured 0.102.
    assert diarization_error_rate(reference, turns, collar=0.5) <= 0.15


@pytest.mark.model
@pytest.mark.xfail(
    strict=True,
    reason="the d-vector puts these two telephone voices 0.83 apart, closer than the halves "
    "of jfk (0.81): they split only above threshold 0.79, single speakers from 0.71",
)
def test_sample_two_speakers_counted_automatically(embedder, words_of, testdata: Path) -> None:
    audio = load_pcm(testdata / "pyannote/sample.wav")
    turns = diarize(audio, embedder=embedder, words_or_segments=words_of(audio))
    assert len(_speakers(turns)) == 2  # measured 1 (DER 0.495, collar 0.25)


@pytest.mark.model
def test_stereo_channels_one_after_the_other(
    embedder, vad, words_of, channels, channel_texts
) -> None:
    left, right = channels
    audio = np.concatenate([left, right])  # 5 s each; speech at 0.3–4.5 s and 5.3–7.3 s
    words = words_of(audio)
    turns = diarize(audio, embedder=embedder, words_or_segments=words)
    assert _speakers(turns) == {"0", "1"}  # the two clusters merge only above 0.47
    labels = assign_speakers(words, turns)
    by_channel = {"LEFT": [], "RIGHT": []}
    for word, label in zip(words, labels, strict=True):
        by_channel["LEFT" if word.end <= len(left) / SAMPLE_RATE else "RIGHT"].append(
            (word.text, label)
        )
    assert {label for _, label in by_channel["LEFT"]} == {"0"}
    assert {label for _, label in by_channel["RIGHT"]} == {"1"}
    for channel, pairs in by_channel.items():
        text = "".join(w for w, _ in pairs)
        assert wer(channel_texts[channel], text) <= 0.1  # measured 0.0 and 0.0
    # The VAD path finds the same two speakers.
    assert _speakers(EmbeddingDiarizer(embedder, vad).diarize(audio)) == {"0", "1"}


@pytest.mark.model
@pytest.mark.xfail(
    strict=True,
    reason="mixed to mono, the right channel speaks only while the left one does: Whisper "
    "transcribes the left text alone and the mix stays one speaker (splits above 0.67)",
)
def test_stereo_mixed_to_mono(embedder, words_of, testdata: Path, channel_texts) -> None:
    audio = load_pcm(testdata / "faster-whisper/stereo_diarization.wav")  # FFmpeg downmix
    words = words_of(audio)
    turns = diarize(audio, embedder=embedder, words_or_segments=words)
    texts = {}
    for word, label in zip(words, assign_speakers(words, turns), strict=True):
        texts[label] = texts.get(label, "") + word.text
    assert len(texts) == 2  # measured 1
    assert min(wer(channel_texts["RIGHT"], t) for t in texts.values()) <= 0.5  # measured 1.0


@pytest.mark.model
@pytest.mark.parametrize("clip", SINGLE_SPEAKER_CLIPS)
def test_single_speaker_clips_have_one_speaker(
    clip: str, embedder, vad, words_of, testdata: Path
) -> None:
    # Lowest thresholds at which these split (words path): jfk 0.73, demo-congrats 0.84,
    # the others never (none has two 2 s stretches that differ); the default is 0.66.
    audio = load_pcm(testdata / clip)
    turns = diarize(audio, embedder=embedder, words_or_segments=words_of(audio))
    assert _speakers(turns) == {"0"}
    assert _speakers(EmbeddingDiarizer(embedder, vad).diarize(audio)) == {"0"}


@pytest.mark.model
def test_online_tracker_separates_distinct_voices(embedder, vad, channels, testdata) -> None:
    # Left channel then right channel: a second speaker from threshold 0.49.
    tracker = OnlineSpeakerTracker(embedder)
    labels = [tracker.observe(u) for ch in channels for u in _utterances(vad, ch)]
    assert labels == ["0", "1"]
    # jfk's four utterances alternating with a CMU ARCTIC reader: exact from 0.23.
    tracker = OnlineSpeakerTracker(embedder)
    jfk = list(_utterances(vad, load_pcm(testdata / "openai-whisper/jfk.flac")))
    aew = list(_utterances(vad, load_pcm(testdata / "pyroomacoustics/cmu_arctic_us_aew_a0001.wav")))
    assert (len(jfk), len(aew)) == (4, 1)
    session = [jfk[0], aew[0], *jfk[1:]]
    assert [tracker.observe(u) for u in session] == ["0", "1", "0", "0", "0"]


@pytest.mark.model
def test_online_tracker_keeps_one_speaker_whole(embedder, vad, testdata: Path) -> None:
    # physicsworks: 60 utterances over 203 s; a second speaker would open from 0.69.
    audio = load_pcm(testdata / "faster-whisper/physicsworks.wav")
    tracker = OnlineSpeakerTracker(embedder)
    labels = [tracker.observe(u) for u in _utterances(vad, audio)]
    assert len(labels) >= 50 and set(labels) == {"0"}


@pytest.mark.model
@pytest.mark.xfail(
    strict=True,
    reason="turn-level cosines of the two sample.wav voices overlap (0.52–0.89 across, "
    "0.68–0.91 within): at 0.65 one of Sheila's five turns opens speaker 1, the rest join 0",
)
def test_online_tracker_on_the_sample_turns(embedder, testdata: Path) -> None:
    audio = load_pcm(testdata / "pyannote/sample.wav")
    turns = load_rttm(testdata / "pyannote/sample.rttm")
    tracker = OnlineSpeakerTracker(embedder)
    labels = [
        tracker.observe(audio[int(t.start * SAMPLE_RATE) : int(t.end * SAMPLE_RATE)]) for t in turns
    ]
    assert len(set(labels)) == 2  # measured 2: "0001000000"
    # ... and the turns of at least 1 s go to their own speaker (reference "0101010110").
    long = [i for i, t in enumerate(turns) if t.end - t.start >= 1.0]
    for i, j in itertools.combinations(long, 2):
        assert (labels[i] == labels[j]) == (turns[i].speaker == turns[j].speaker)


def test_default_options_are_documented() -> None:
    options = DiarizationOptions()
    assert (options.threshold, options.window, options.step) == (0.66, 1.5, 0.5)
    assert OnlineSpeakerTracker(ToneEmbedder()).threshold == 0.65
