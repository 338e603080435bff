"""YAMNet (int8 ONNX) on real audio from the shared corpus.

Scores measured with this front-end (max over patches unless stated), for the thresholds:

* coughing_freesound451260: Cough 0.999, Sneeze 0.954, Throat clearing 0.820; tags cough
  0.999, env 0.500 (Bouncing); 15 of 44 patches tagged Cough, all overlapping the derived
  energy segments, and every patch in a gap has Cough 0.000.
* tt-monkeys: Groan 0.906, Animal / Dog / Domestic animals 0.681, Speech 0.681; env 0.681;
  Speech mean over patches 0.157, ≥ 0.5 in 2 of 33 patches (6 %).
* jfk: Speech 0.999 (mean 0.942, ≥ 0.5 in 21 of 22 patches), env 0.180, cough 0.000,
  laugh 0.002.
* squirrel (digital silence): Silence 0.989, every other class ≤ 0.001.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engines.audio import load_pcm
from engines.base import SAMPLE_RATE, AudioChunk
from engines.errors import ModelNotFound
from engines.tagging.yamnet import (
    NON_ENV_CLASSES,
    TAG_CLASSES,
    WINDOW_SAMPLES,
    YamnetTagger,
    max_by_tag,
)

pytestmark = pytest.mark.model

COUGH = "events-freesound/coughing_freesound451260.wav"


@pytest.fixture(scope="module")
def tagger(model_cache_dir: Path) -> YamnetTagger:
    return YamnetTagger.load(cache_dir=model_cache_dir)


@pytest.fixture(scope="module")
def cough_audio(testdata: Path) -> np.ndarray:
    return load_pcm(testdata / COUGH)


def test_labels_window_and_tag_classes(tagger: YamnetTagger) -> None:
    assert len(tagger.labels) == 521
    assert tagger.class_names[0] == "Speech"
    assert tagger.window_samples == WINDOW_SAMPLES == 96 * 160 + 400 - 160 == 15600
    assert tagger.info.name == "yamnet"
    for names in TAG_CLASSES.values():
        assert set(names) <= tagger.labels
    env = set(tagger.tag_classes["env"])
    assert env.isdisjoint(NON_ENV_CLASSES)
    assert env | NON_ENV_CLASSES == tagger.labels
    assert {"Animal", "Dog", "White noise", "Music", "Telephone", "Applause"} <= env
    assert {"Speech", "Laughter", "Cough", "Breathing", "Silence"}.isdisjoint(env)


def test_patch_count_and_short_audio(tagger: YamnetTagger) -> None:
    assert [tagger.num_patches(n) for n in (0, 15_600, 15_601, 23_280, 23_281)] == [1, 1, 2, 2, 3]
    short = tagger.patch_scores(np.zeros(1000, np.int16))
    assert short.shape == (1, 521)
    jfk_like = tagger.patch_scores(np.zeros(11 * SAMPLE_RATE, np.int16))
    # 1 + ceil((176000 - 15600) / 7680) = 1 + ceil(20.9) = 22: the tail is padded, not dropped.
    assert jfk_like.shape == (tagger.num_patches(11 * SAMPLE_RATE), 521) == (22, 521)


def test_cough_clip_scores_cough(tagger: YamnetTagger, cough_audio: np.ndarray) -> None:
    scores = tagger.patch_scores(cough_audio)
    assert scores.shape == (44, 521)
    assert scores.min() >= 0.0
    assert scores.max() <= 1.0
    by_tag = tagger.max_by_tag(scores)
    assert set(by_tag) == set(TAG_CLASSES)
    assert by_tag["cough"] >= 0.5  # measured 0.999
    assert by_tag["laugh"] < 0.2  # measured 0.022
    assert by_tag == max_by_tag(scores, tagger.class_names)
    assert tagger.max_by_tag(scores.max(axis=0)) == by_tag


def test_monkeys_are_animals_not_speech(tagger: YamnetTagger, testdata: Path) -> None:
    scores = tagger.patch_scores(load_pcm(testdata / "asterisk/tt-monkeys.wav"))
    speech = scores[:, tagger.class_names.index("Speech")]
    assert scores[:, tagger.class_names.index("Animal")].max() >= 0.5  # measured 0.681
    assert tagger.max_by_tag(scores)["env"] >= 0.5  # measured 0.681
    assert speech.mean() < 0.4  # measured 0.157 (jfk: 0.942)
    assert (speech >= 0.5).mean() < 0.2  # measured 2 of 33 patches


def test_speech_clip_is_speech(tagger: YamnetTagger, testdata: Path) -> None:
    scores = tagger.patch_scores(load_pcm(testdata / "openai-whisper/jfk.flac"))
    speech = scores[:, tagger.class_names.index("Speech")]
    assert speech.max() >= 0.9  # measured 0.999
    assert speech.mean() >= 0.8  # measured 0.942
    by_tag = tagger.max_by_tag(scores)
    assert by_tag["cough"] < 0.2  # measured 0.000
    assert by_tag["laugh"] < 0.2  # measured 0.002
    assert by_tag["env"] < 0.5  # measured 0.180


def test_digital_silence_gives_no_vocal_events(tagger: YamnetTagger, testdata: Path) -> None:
    audio = load_pcm(testdata / "aana/squirrel.wav")
    assert not audio.any()
    tags = tagger.tag(AudioChunk(audio, 0))
    vocal = {n for tag in ("laugh", "cough", "breath") for n in TAG_CLASSES[tag]}
    assert tags, "Silence itself should be tagged"
    assert {t.label for t in tags} == {"Silence"}  # measured 0.989
    assert not vocal & {t.label for t in tags}
    assert max(tagger.max_by_tag(tagger.patch_scores(audio)).values()) < 0.1


def test_tag_times_events_on_the_stream_timeline(
    tagger: YamnetTagger, testdata: Path, cough_audio: np.ndarray
) -> None:
    offset = 123_457  # samples already seen on this stream
    chunk = AudioChunk(cough_audio, offset)
    tags = tagger.tag(chunk)
    at_zero = tagger.tag(AudioChunk(cough_audio, 0))
    # Same events, shifted by exactly the chunk's start.
    assert [(t.label, t.score) for t in tags] == [(t.label, t.score) for t in at_zero]
    for t, z in zip(tags, at_zero, strict=True):
        assert t.start - z.start == pytest.approx(offset / SAMPLE_RATE)
        assert t.end - z.end == pytest.approx(offset / SAMPLE_RATE)
    # Inside the chunk, on the 0.48 s patch grid, at most one window long.
    for t in tags:
        assert chunk.start / SAMPLE_RATE <= t.start < t.end <= chunk.end / SAMPLE_RATE
        assert t.end - t.start <= WINDOW_SAMPLES / SAMPLE_RATE + 1e-9
        patch = (t.start * SAMPLE_RATE - offset) / 7680
        assert patch == pytest.approx(round(patch), abs=1e-6)
    # Every Cough tag overlaps a burst of the (energy-derived) cough segments, moved onto the
    # stream timeline; measured: 15 Cough tags, none in a gap.
    events = json.loads((testdata / COUGH).with_suffix(".events.json").read_text())
    bursts = [
        (a + offset / SAMPLE_RATE, b + offset / SAMPLE_RATE)
        for a, b in events["derived_energy_segments_s"]
    ]
    coughs = [t for t in tags if t.label == "Cough"]
    assert len(coughs) >= 8
    for t in coughs:
        assert any(a < t.end and b > t.start for a, b in bursts), t


def test_tag_of_an_empty_chunk_is_empty(tagger: YamnetTagger) -> None:
    assert tagger.tag(AudioChunk(np.zeros(0, np.int16), 5)) == []


def test_thresholds_are_per_class(tagger: YamnetTagger, model_cache_dir: Path) -> None:
    assert tagger.thresholds[tagger.class_names.index("Laughter")] == pytest.approx(0.3)
    assert tagger.thresholds[tagger.class_names.index("Cough")] == pytest.approx(0.5)
    strict = YamnetTagger.load(
        cache_dir=model_cache_dir, thresholds={"Silence": 2.0}, default_threshold=0.99
    )
    audio = np.zeros(2 * SAMPLE_RATE, np.int16)
    assert strict.tag(AudioChunk(audio, 0)) == []
    with pytest.raises(ValueError, match="Not a class"):
        YamnetTagger.load(cache_dir=model_cache_dir, thresholds={"Not a class": 0.5})


def test_rejects_a_directory_without_the_model(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound):
        YamnetTagger(tmp_path)
