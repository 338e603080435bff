"""Hesitations (thinking noises) are held sounds: syllabic speech is never one.

A stub tagger hears neither speech nor any tag anywhere (YAMNet does that on some patches of
real speech: on jfk's "my fellow Americans" its Speech score swings from 0.02 to 0.68 as the
patch grid moves by 20 ms), so the loudness alone decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from engines.base import SAMPLE_RATE, Word
from engines.tagging.events import SPEECH_CLASSES, detect_events
from engines.tagging.yamnet import PATCH_HOP_SAMPLES, WINDOW_SAMPLES

TAGS = ("laugh", "breath", "cough", "sigh", "sniff", "tut", "env")
WORDS = [Word(" Well", 0.5, 0.9), Word(" then.", 3.1, 3.5)]  # no filler: nothing claims


@dataclass(frozen=True)
class DeafTagger:
    """A tagger that scores every class 0 in every patch, on YAMNet's patch grid."""

    window_samples: int = WINDOW_SAMPLES
    hop_samples: int = PATCH_HOP_SAMPLES

    @property
    def class_names(self) -> Sequence[str]:
        return (*SPEECH_CLASSES, "Silence", *TAGS)

    @property
    def tag_classes(self) -> Mapping[str, Sequence[str]]:
        return {tag: (tag,) for tag in TAGS}

    def patch_scores(self, audio: npt.NDArray[np.int16]) -> npt.NDArray[np.float32]:
        extra = max(0, len(audio) - self.window_samples)
        n_patches = 1 + -(-extra // self.hop_samples)
        return np.zeros((n_patches, len(self.class_names)), np.float32)


def clip(envelope: npt.NDArray[np.float64]) -> npt.NDArray[np.int16]:
    """0.5 s of room noise, 3 s of a 150 Hz voice shaped by ``envelope``, 0.5 s of noise."""
    rng = np.random.default_rng(0)
    t = np.arange(3 * SAMPLE_RATE) / SAMPLE_RATE
    voice = 0.1 * envelope(t) * np.sin(2 * np.pi * 150.0 * t)
    quiet = np.zeros(SAMPLE_RATE // 2)
    signal = np.concatenate((quiet, voice, quiet)) + 3e-4 * rng.standard_normal(4 * SAMPLE_RATE)
    return (signal * 32767).astype(np.int16)


def hesitations(audio: npt.NDArray[np.int16]) -> list[tuple[float, float]]:
    found = detect_events(audio, WORDS, tagger=DeafTagger())  # type: ignore[arg-type]
    return [(e.start, e.end) for e in found.events if e.label == "hesitation"]


def test_a_held_voice_among_words_is_a_hesitation() -> None:
    held = hesitations(clip(lambda t: np.ones_like(t)))
    assert held and all(start >= WORDS[0].start and end <= WORDS[-1].end for start, end in held)


def test_syllables_the_tagger_misses_are_no_hesitation() -> None:
    # four syllables a second, the voice 20 dB down between their vowels, as words go
    syllables = clip(lambda t: 0.1 + 0.9 * np.sin(np.pi * 4.0 * t) ** 2)
    assert hesitations(syllables) == []
