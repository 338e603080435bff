"""Diarization: the DER metric, clustering, the batch pipeline and the online tracker.

The first half needs no model (hand-computed DER cases, synthetic embeddings, a tone
"embedder"); the tests marked ``model`` run the d-vector, Silero VAD and Whisper base on
the shared corpus. Figures in comments were measured on a 2-core AMD EPYC (Whisper base
int8, 2 threads); `bench/diarization.py` re-measures them.

The two telephone voices of pyannote/sample.wav, closer to each other than one speaker's
drift, are counted by the alternating-voices test (batch) and by the two-tier online
tracker over a masked noise floor. One known limit stays pinned by a strict xfail: the
right channel of stereo_diarization.wav, which speaks only while the left one does, is not
transcribed once the channels are mixed, so no speaker can be given its words.
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
from engines.diarization.alternation import alternating_split, turns_per_label
from engines.diarization.batch import (
    DiarizationOptions,
    assign_speakers,
    cluster_windows,
    diarize,
    diarize_vad,
    embed_speech,
)
from engines.diarization.clustering import agglomerative, normalize_rows, spherical_kmeans
from engines.diarization.embedding import TARGET_RMS, mask_noise_floor, normalize_loudness
from engines.diarization.metrics import (
    diarization_error,
    diarization_error_rate,
    load_rttm,
    optimal_assignment,
)
from engines.diarization.online import OnlineSpeakerTracker
from engines.diarization.regions import (
    SpeechRegion,
    embedding_windows,
    speech_regions,
)
from engines.diarization.utterance import diarize_utterance
from engines.diarization.voicing import voiced_fractions
from testkit.wer import wer

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


def _close_voices() -> tuple[np.ndarray, np.ndarray]:
    """Two groups of 12 rows whose centroids are about 0.8 alike (one voice each)."""
    a, b = np.eye(16)[0], 0.8 * np.eye(16)[0] + 0.6 * np.eye(16)[1]
    rows = _blobs(np.stack([a, b]), [12, 12], noise=0.05)
    return rows[:12], rows[12:]


def test_alternating_voices_split_where_a_drift_does_not() -> None:
    a, b = _close_voices()
    weights = np.full(24, 0.5)  # 6 rows = a 3 s run
    taking_turns = np.concatenate([a[:6], b[:6], a[6:], b[6:]])
    one_way = np.concatenate([a, b])  # A then B: a drift, or two speakers far apart
    opts = {"num_speakers": None, "threshold": 0.66, "min_speaker": 2.0}
    expected = [0] * 6 + [1] * 6 + [0] * 6 + [1] * 6
    assert list(cluster_windows(taking_turns, weights, **opts)) == expected
    assert set(cluster_windows(one_way, weights, **opts)) == {0}
    # the test is off, or the voices must be less alike than 0.7
    assert set(cluster_windows(taking_turns, weights, alternating_threshold=None, **opts)) == {0}
    assert alternating_split(taking_turns, weights, threshold=0.7) is None
    # runs of 1.5 s are too short to count as turns
    assert alternating_split(taking_turns, np.full(24, 0.25)) is None
    assert alternating_split(taking_turns[:3], weights[:3]) is None


def test_turns_per_label_counts_long_runs() -> None:
    labels = np.array([0, 0, 1, 0, 0, 0, 1, 1, 1, 2])
    assert turns_per_label(labels, np.ones(10), min_run=2.0) == [2, 1, 0]
    assert turns_per_label(labels, np.ones(10), min_run=1.0) == [2, 2, 1]
    assert turns_per_label(np.zeros(0, dtype=int), np.zeros(0), min_run=1.0) == []


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


def test_voiced_fractions_count_loud_periodic_frames() -> None:
    # 1.5 s each: a 110 Hz voice-like harmonic tone, white noise as loud, the tone 40 dB
    # down (a pause), then the tone over a region that holds only half of the window.
    t = np.arange(int(1.5 * SAMPLE_RATE)) / SAMPLE_RATE
    voice = sum(np.sin(2 * np.pi * 110 * h * t) / h for h in range(1, 8)) * 6000
    noise = np.random.default_rng(0).normal(0, np.sqrt(np.mean(voice**2)), len(t))
    audio = np.concatenate([voice, noise, voice / 100, voice]).astype(np.int16)
    spans = [SpeechRegion(1.5 * i, 1.5 * (i + 1)) for i in range(4)]
    fractions = voiced_fractions(audio, spans, regions=spans)
    assert fractions[0] > 0.9 and fractions[3] > 0.9
    assert fractions[1] < 0.05  # loud but aperiodic
    assert fractions[2] < 0.05  # periodic but 40 dB below the speech level
    assert len(voiced_fractions(audio, [], regions=spans)) == 0


def test_mask_noise_floor_is_deterministic_and_quiet() -> None:
    speech = normalize_loudness((np.sin(np.arange(16000) / 10) * 300).astype(np.int16))
    masked = mask_noise_floor(speech)
    assert np.array_equal(masked, mask_noise_floor(speech))  # same audio, same noise
    noise = (masked.astype(np.float64) - speech) / 32768.0
    assert 20 * np.log10(np.sqrt(np.mean(noise**2))) == pytest.approx(-45.0, abs=0.1)
    assert masked.dtype == np.int16 and len(masked) == len(speech)


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


def test_tracker_needs_a_clearer_difference_when_evidence_is_short() -> None:
    near = _unit(0.65, np.sqrt(1 - 0.65**2), 0)  # 0.65 alike: between the two limits

    def seeded(seconds: float) -> OnlineSpeakerTracker:
        tracker = OnlineSpeakerTracker(ToneEmbedder(), threshold=0.73, short_threshold=0.6)
        tracker.attribute(_unit(1, 0, 0), duration=seconds)
        return tracker

    tracker = seeded(3.0)
    kept = tracker.attribute(near, duration=1.5)  # a short utterance: the 0.6 limit
    assert (kept.speaker, kept.new_speaker) == ("0", False)
    assert tracker.seconds("0") == pytest.approx(4.5)
    tracker = seeded(3.0)
    opened = tracker.attribute(near, duration=2.5)  # both ≥ 2 s: the 0.73 limit
    assert (opened.speaker, opened.new_speaker) == ("1", True)
    assert tracker.seconds("1") == pytest.approx(2.5)
    # a speaker resting on < 2 s of speech also gets the lower limit
    tracker = seeded(1.2)
    assert tracker.attribute(near, duration=5.0).speaker == "0"
    assert (tracker.limit(5.0, 1.2), tracker.limit(5.0, 2.0)) == (0.6, 0.73)
    # without a short threshold: the lower of the threshold and SHORT_THRESHOLD
    assert OnlineSpeakerTracker(ToneEmbedder(), threshold=0.5).short_threshold == 0.5


def test_tracker_never_merges_speakers_told_apart() -> None:
    tracker = OnlineSpeakerTracker(ToneEmbedder(), threshold=0.6)
    tracker.attribute(_unit(1, 0, 0), duration=3.0)
    # two local speakers of one utterance, both like speaker 0: the longer one gets it
    found = tracker.attribute_distinct([(_unit(1, 0.2, 0), 2.0), (_unit(1, 0.1, 0), 4.0)])
    assert [(a.speaker, a.new_speaker) for a in found] == [("1", True), ("0", False)]
    assert tracker.seconds("0") == pytest.approx(7.0)
    # a short one takes the most similar free speaker, else any: it cannot open one
    found = tracker.attribute_distinct([(_unit(1, 0, 0), 3.0), (_unit(0.9, 0.1, 0), 0.5)])
    assert [a.speaker for a in found] == ["0", "1"]
    alone = OnlineSpeakerTracker(ToneEmbedder(), threshold=0.6)
    alone.attribute(_unit(1, 0, 0), duration=3.0)
    found = alone.attribute_distinct([(_unit(1, 0, 0), 3.0), (_unit(0.9, 0.1, 0), 0.5)])
    assert [a.speaker for a in found] == ["0", "0"] and alone.speakers == ("0",)
    # neither can any once max_speakers are open
    full = OnlineSpeakerTracker(ToneEmbedder(), threshold=0.6, max_speakers=1)
    full.attribute(_unit(1, 0, 0), duration=3.0)
    assert [a.speaker for a in full.attribute_distinct([(_unit(1, 0, 0), 3.0)] * 2)] == ["0", "0"]
    # observe_speakers embeds each local speaker's joined pieces
    tones = OnlineSpeakerTracker(ToneEmbedder())
    low, high = _tones([(0, 2, 300.0)], 2.0), _tones([(0, 2, 2500.0)], 2.0)
    assert tones.observe_speakers({"a": [low, low], "b": [high]}) == {"a": "0", "b": "1"}
    assert tones.observe_speakers({"x": [high[:8000]], "y": [low]}) == {"x": "1", "y": "0"}


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
    "asterisk/agent-pass.wav",
    "mfa/mfa_laughter.flac",
    "mfa/mfa_breaths.flac",
    "mfa/mfa_um.flac",
    "mfa/mfa_hes.flac",
    "mfa/mfa_uh.flac",
]
# Sessions of VAD utterances that open a second speaker online: laughter, breaths and
# "um"s are voices of their own to the d-vector (known failures: docs/decisions/online-diarization.md).
ONLINE_KNOWN_SPLITS = {"mfa/mfa_laughter.flac", "mfa/mfa_breaths.flac", "mfa/mfa_um.flac"}


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


def _utterance_spans(vad, audio: np.ndarray) -> Iterator[tuple[int, int]]:
    """Sample spans of the utterances a realtime session cuts (server_vad defaults)."""
    start = None
    for event in vad.open_stream(VADOptions()).feed(AudioChunk(audio, 0)):
        if event.edge is SpeechEdge.START:
            start = event.sample
        else:
            yield start, event.sample
            start = None
    if start is not None:
        yield start, len(audio)


def _utterances(vad, audio: np.ndarray) -> Iterator[np.ndarray]:
    """Utterances as the realtime session cuts them (server_vad defaults)."""
    for start, end in _utterance_spans(vad, audio):
        yield audio[start:end]


def _speakers(turns: list[SpeakerTurn]) -> set[str]:
    return {t.speaker for t in turns}


@pytest.mark.model
def test_sample_two_speakers_with_the_hint(embedder, words_of, testdata: Path) -> None:
    audio = load_pcm(testdata / "pyannote/sample.wav")
    reference = load_rttm(testdata / "pyannote/sample.rttm")
    turns = diarize(audio, embedder=embedder, words_or_segments=words_of(audio), num_speakers=2)
    assert _speakers(turns) == {"0", "1"}
    assert turns[0].speaker == "0"
    # Measured 0.181 (missed 1.66 s: overlapped speech; false alarm 0.41 s; confusion
    # 1.52 s: Diane's "Oh, I'm originally from Chicago" right after Sheila's turn), of
    # 19.82 s scored. The margin is thin: tiny.en words give 0.23, VAD regions 0.25.
    assert diarization_error_rate(reference, turns, collar=0.25) <= 0.20
    # md-eval's ±0.25 s forgiveness (pyannote collar 0.5): measured 0.102.
    assert diarization_error_rate(reference, turns, collar=0.5) <= 0.15


@pytest.mark.model
def test_sample_two_speakers_counted_automatically(embedder, vad, words_of, testdata: Path) -> None:
    # The threshold (0.66) keeps these two telephone voices together (they split only
    # from 0.79, jfk's drift from 0.73); the alternating-voices test counts them: the
    # halves take turns and their centroids are 0.839 alike (limit 0.85, measured).
    audio = load_pcm(testdata / "pyannote/sample.wav")
    reference = load_rttm(testdata / "pyannote/sample.rttm")
    words = words_of(audio)
    turns = diarize(audio, embedder=embedder, words_or_segments=words)
    assert _speakers(turns) == {"0", "1"}
    # the same split as the hint gives: DER measured 0.181 (collar 0.25)
    assert turns == diarize(audio, embedder=embedder, words_or_segments=words, num_speakers=2)
    assert diarization_error_rate(reference, turns, collar=0.25) <= 0.20
    # Silero VAD regions instead of words: two speakers too (measured DER 0.254).
    assert len(_speakers(diarize_vad(audio, embedder=embedder, vad=vad))) == 2


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
    assert _speakers(diarize_vad(audio, embedder=embedder, vad=vad)) == {"0", "1"}


@pytest.mark.model
@pytest.mark.xfail(
    strict=True,
    reason="mixed to mono, the right channel speaks only while the left one does (0.2-2.5 s): "
    "Whisper base transcribes the left text alone (none of the right's 5 words), so no "
    "speaker can hold the right text; the mix stays one speaker (threshold: splits above "
    "0.67; the alternating test: 8 windows, one run each)",
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
    # Alternating halves: only demo-congrats has them, 0.895 alike (limit 0.85).
    audio = load_pcm(testdata / clip)
    turns = diarize(audio, embedder=embedder, words_or_segments=words_of(audio))
    assert _speakers(turns) == {"0"}
    assert _speakers(diarize_vad(audio, embedder=embedder, vad=vad)) == {"0"}


@pytest.mark.model
def test_physicsworks_stays_one_speaker_in_batch(embedder, vad, testdata: Path) -> None:
    # 203 s lecture, VAD regions (Whisper would take 14 s here): the threshold splits it
    # from 0.71; its 2-means halves alternate but are 0.889 alike (limit 0.85).
    audio = load_pcm(testdata / "faster-whisper/physicsworks.wav")
    assert _speakers(diarize_vad(audio, embedder=embedder, vad=vad)) == {"0"}


@pytest.mark.model
def test_physicsworks_pauses_and_crash_are_no_speaker(
    embedder, vad, asr_base, words_of, testdata: Path
) -> None:
    # The batch pipeline's words place windows over two pauses (33 s, 96 s; mostly
    # quiet audio that loudness normalisation blows up) and the pendulum crash (67–69 s);
    # clustered, those 10 windows were a second "speaker" 0.49 alike to the lecturer.
    # They hold ≤ 9 % voiced speech (the lecture's other windows ≥ 11 %), so they are
    # left out (min_voiced 0.1) and the timeline labels their speech from the neighbours.
    from realtime.batch.pipeline import PipelineOptions, transcribe_file

    path = testdata / "faster-whisper/physicsworks.wav"
    audio = load_pcm(path)
    transcript = transcribe_file(path, vad, asr_base, PipelineOptions(diarize=False))
    pipeline_words = [w for s in transcript.segments for w in s.words]
    speech = embed_speech(audio, embedder=embedder, items=pipeline_words)
    left_out = [round(w.start) for w in speech.left_out]
    # Whisper's word times differ by CPU: on an AVX-512 AMD EPYC, words spanned the crash and
    # its windows (starting 67 s, 68 s) were left out, 11 of 247; on a Sapphire Rapids Xeon
    # (AMX) no word covers 66.5–70.4 s, so no window is cut there, 5 of 232 left out.
    assert {33, 96} <= set(left_out) and len(left_out) <= 12
    assert not [w for w in speech.windows if 67.5 <= (w.start + w.end) / 2 <= 68.5]
    for words in (pipeline_words, words_of(audio)):
        turns = diarize(audio, embedder=embedder, words_or_segments=words)
        assert _speakers(turns) == {"0"}
        assert all(label == "0" for label in assign_speakers(words, turns))
    everything = DiarizationOptions(min_voiced=0.0)
    turns = diarize(audio, embedder=embedder, words_or_segments=pipeline_words, options=everything)
    assert len(_speakers(turns)) == 2  # the failure this guards against


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
@pytest.mark.parametrize("clip", SINGLE_SPEAKER_CLIPS)
def test_online_tracker_single_speaker_sessions(clip: str, embedder, vad, testdata: Path) -> None:
    tracker = OnlineSpeakerTracker(embedder)
    labels = [tracker.observe(u) for u in _utterances(vad, load_pcm(testdata / clip))]
    assert labels and labels[0] == "0"
    if clip in ONLINE_KNOWN_SPLITS:  # measured "0100", "001", "011"
        assert len(set(labels)) == 2
    else:
        assert set(labels) == {"0"}


@pytest.mark.model
def test_online_tracker_keeps_one_speaker_whole(embedder, vad, testdata: Path) -> None:
    # physicsworks: 60 utterances over 203 s; its least alike are 1.0-1.3 s long, from
    # 0.67 (short limit 0.60), and those of ≥ 2 s from 0.78 (limit 0.73).
    audio = load_pcm(testdata / "faster-whisper/physicsworks.wav")
    tracker = OnlineSpeakerTracker(embedder)
    labels = [tracker.observe(u) for u in _utterances(vad, audio)]
    assert len(labels) >= 50 and set(labels) == {"0"}


@pytest.mark.model
def test_online_tracker_on_the_sample_turns(embedder, testdata: Path) -> None:
    # Plain embeddings and one threshold gave "0001000000" (turn cosines overlap, 0.47-0.87
    # across and 0.61-0.92 within); over the masked noise floor they are 0.52-0.83 and
    # 0.71-0.88, and the second turn of Sheila (3.4 s, 0.71 alike to her first, 1.1 s)
    # is judged by the short limit (0.60), her centroid resting on < 2 s.
    audio = load_pcm(testdata / "pyannote/sample.wav")
    turns = load_rttm(testdata / "pyannote/sample.rttm")
    tracker = OnlineSpeakerTracker(embedder)
    labels = [
        tracker.observe(audio[int(t.start * SAMPLE_RATE) : int(t.end * SAMPLE_RATE)]) for t in turns
    ]
    assert len(set(labels)) == 2  # measured "0001010110"
    # ... and the turns of at least 1 s go to their own speaker (reference "0101010110").
    long = [i for i, t in enumerate(turns) if t.end - t.start >= 1.0]
    for i, j in itertools.combinations(long, 2):
        assert (labels[i] == labels[j]) == (turns[i].speaker == turns[j].speaker)


@pytest.mark.model
def test_online_tracker_on_vad_utterances_of_the_sample(embedder, vad, testdata: Path) -> None:
    # A VAD does not cut at speaker changes: server_vad gives 0.4 s and 22.6 s, the long
    # utterance holding both voices, so one label per utterance cannot separate them
    # (the realtime annotation splits long utterances with the batch diarizer first).
    audio = load_pcm(testdata / "pyannote/sample.wav")
    reference = load_rttm(testdata / "pyannote/sample.rttm")
    utterances = list(_utterances(vad, audio))
    assert [round(len(u) / SAMPLE_RATE, 1) for u in utterances] == [0.4, 22.6]
    start = len(audio) - len(utterances[1])  # the long one runs to the end
    spoken = {
        s: sum(
            max(0.0, t.end - max(t.start, start / SAMPLE_RATE)) for t in reference if t.speaker == s
        )
        for s in ("speaker90", "speaker91")
    }
    assert min(spoken.values()) > 8.0
    tracker = OnlineSpeakerTracker(embedder)
    assert [tracker.observe(u) for u in utterances] == ["0", "0"]


@pytest.mark.model
def test_realtime_flow_on_the_sample(embedder, vad, words_of, testdata: Path) -> None:
    # As the realtime annotation does: each VAD utterance is diarized on its words, then
    # the tracker maps its local speakers to session speakers, never two onto one.
    audio = load_pcm(testdata / "pyannote/sample.wav")
    reference = load_rttm(testdata / "pyannote/sample.rttm")
    words = words_of(audio)
    tracker = OnlineSpeakerTracker(embedder)
    session: list[SpeakerTurn] = []
    for begin, end in _utterance_spans(vad, audio):
        t0, t1 = begin / SAMPLE_RATE, end / SAMPLE_RATE
        local = [w for w in words if t0 <= w.start < t1]
        session += diarize_utterance(audio[begin:end], local, tracker, offset=t0)
    assert _speakers(session) == {"0", "1"}
    assert diarization_error_rate(reference, session, collar=0.25) <= 0.20  # measured 0.176


def test_default_options_are_documented() -> None:
    options = DiarizationOptions()
    assert (options.threshold, options.window, options.step) == (0.66, 1.5, 0.5)
    assert (options.alternating_threshold, options.alternating_run) == (0.85, 2.0)
    assert options.min_voiced == 0.1
    tracker = OnlineSpeakerTracker(ToneEmbedder())
    assert (tracker.threshold, tracker.short_threshold, tracker.confident_duration) == (
        0.73,
        0.60,
        2.0,
    )
