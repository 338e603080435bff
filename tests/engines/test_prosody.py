"""Prosody marks on real speech, with Whisper base word timings.

A word is stretched 2.5x without changing its pitch (FFmpeg ``atempo`` through PyAV) or made
8 dB louder (10 ms gain ramps), spliced back at the span Whisper timed on the original clip,
and the modified clip is transcribed again. The chosen words are the robust ones from the
calibration in ``docs/decisions/prosody-marks.md``: measured on these exact
edits, stretch scores 6.5 (much), 5.5 (steels), 5.5 (again) against the 5.0 threshold, and
emphasis margins 11.9 dB (had) and 8.6 dB (Dashwood) against 6.0 dB.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from engines.audio import load_pcm
from engines.base import PCM, SAMPLE_RATE, ASROptions, Transcript, Word
from engines.tagging.inline import inline_text
from engines.tagging.prosody import Mark, ProsodyOptions, prosody_marks

pytestmark = pytest.mark.model

CLEAN = [
    "pocketsphinx/sense_and_sensibility_01_austen_64kb-0870.wav",
    "pocketsphinx/sense_and_sensibility_01_austen_64kb-0880.wav",
    "pocketsphinx/sense_and_sensibility_01_austen_64kb-0890.wav",
    "deepspeech/LDC93S1.wav",
    "deepspeech/LDC93S1_pcms16le_1_8000.wav",
    "deepspeech/new-home-in-the-stars-16k.wav",
    "pyroomacoustics/cmu_arctic_us_aew_a0001.wav",
    "pyroomacoustics/cmu_arctic_us_axb_a0004.wav",
    "openai-whisper/jfk.flac",
]


@pytest.fixture(scope="module")
def transcribe(asr_base):
    """Whisper base with word timings, memoised per clip and edit."""
    cache: dict[tuple[str, str], tuple[PCM, Transcript]] = {}

    def run(key: tuple[str, str], audio: PCM) -> Transcript:
        if key not in cache:
            cache[key] = (audio, asr_base.transcribe(audio, ASROptions(word_timestamps=True)))
        return cache[key][1]

    return run


def _key(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower())


def _find(words: tuple[Word, ...], text: str) -> int:
    found = [i for i, w in enumerate(words) if _key(w.text) == _key(text)]
    assert len(found) == 1, [w.text for w in words]
    return found[0]


def _stretch(samples: PCM, factor: float) -> PCM:
    """Time-stretch by ``factor`` keeping the pitch: FFmpeg atempo (0.5 at most per stage)."""
    import av
    import av.filter

    graph = av.filter.Graph()
    nodes = [
        graph.add_abuffer(
            format="s16", sample_rate=SAMPLE_RATE, layout="mono", time_base=f"1/{SAMPLE_RATE}"
        )
    ]
    tempo = 1 / factor
    while tempo < 0.5:
        nodes.append(graph.add("atempo", "0.5"))
        tempo /= 0.5
    nodes += [graph.add("atempo", f"{tempo:.6f}"), graph.add("abuffersink")]
    graph.link_nodes(*nodes).configure()
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = SAMPLE_RATE, 0, Fraction(1, SAMPLE_RATE)
    graph.push(frame)
    graph.push(None)
    out = []
    while True:
        try:
            out.append(graph.pull().to_ndarray().reshape(-1))
        except (av.BlockingIOError, av.EOFError):
            break
    return np.concatenate(out).astype(np.int16)


def _splice_stretched(audio: PCM, word: Word, factor: float) -> PCM:
    start, end = int(word.start * SAMPLE_RATE), int(word.end * SAMPLE_RATE)
    return np.concatenate([audio[:start], _stretch(audio[start:end], factor), audio[end:]])


def _boost(audio: PCM, word: Word, gain_db: float, ramp_s: float = 0.01) -> PCM:
    start, end = int(word.start * SAMPLE_RATE), int(word.end * SAMPLE_RATE)
    gain, ramp = 10 ** (gain_db / 20), int(ramp_s * SAMPLE_RATE)
    envelope = np.ones(len(audio))
    envelope[start:end] = gain
    envelope[start : start + ramp] = np.linspace(1, gain, ramp)
    envelope[end - ramp : end] = np.linspace(gain, 1, ramp)
    return np.clip(audio * envelope, -32768, 32767).astype(np.int16)


@pytest.mark.parametrize("clip", CLEAN)
def test_clean_read_speech_gets_no_marks(transcribe, testdata: Path, clip: str) -> None:
    audio = load_pcm(testdata / clip)
    words = transcribe((clip, ""), audio).words
    marks = prosody_marks(audio, words)
    assert len(marks) == len(words) >= 5
    assert marks == [Mark.NONE] * len(words), inline_text(words, marks=marks)


@pytest.mark.parametrize(
    ("clip", "target"),
    [
        ("pocketsphinx/sense_and_sensibility_01_austen_64kb-0870.wav", "much"),
        ("pyroomacoustics/cmu_arctic_us_aew_a0001.wav", "steels"),
        ("pyroomacoustics/cmu_arctic_us_axb_a0004.wav", "again"),
    ],
)
def test_stretched_word_and_no_other_is_elongated(
    transcribe, testdata: Path, clip: str, target: str
) -> None:
    audio = load_pcm(testdata / clip)
    original = transcribe((clip, ""), audio).words
    assert prosody_marks(audio, original) == [Mark.NONE] * len(original)
    modified = _splice_stretched(audio, original[_find(original, target)], 2.5)
    words = transcribe((clip, f"stretch {target}"), modified).words
    index = _find(words, target)
    marks = prosody_marks(modified, words)
    assert marks == [Mark.ELONGATED if i == index else Mark.NONE for i in range(len(words))]
    assert f"{target}..." in inline_text(words, marks=marks)
    assert "*" not in inline_text(words, marks=marks)


@pytest.mark.parametrize(
    ("clip", "target"),
    [
        ("deepspeech/LDC93S1.wav", "had"),
        ("pocketsphinx/sense_and_sensibility_01_austen_64kb-0870.wav", "Dashwood"),
    ],
)
def test_louder_word_and_no_other_is_emphasised(
    transcribe, testdata: Path, clip: str, target: str
) -> None:
    audio = load_pcm(testdata / clip)
    original = transcribe((clip, ""), audio).words
    assert prosody_marks(audio, original) == [Mark.NONE] * len(original)
    modified = _boost(audio, original[_find(original, target)], 8.0)
    words = transcribe((clip, f"boost {target}"), modified).words
    index = _find(words, target)
    marks = prosody_marks(modified, words)
    assert marks == [Mark.EMPHASIS if i == index else Mark.NONE for i in range(len(words))]
    text = inline_text(words, marks=marks)
    assert f"*{target}*" in text
    assert "..." not in text


def test_offset_places_audio_on_the_words_timeline(transcribe, testdata: Path) -> None:
    clip = "deepspeech/LDC93S1.wav"
    audio = load_pcm(testdata / clip)
    original = transcribe((clip, ""), audio).words
    modified = _boost(audio, original[_find(original, "had")], 8.0)
    words = transcribe((clip, "boost had"), modified).words
    marks = prosody_marks(modified, words)
    assert Mark.EMPHASIS in marks
    later = [Word(w.text, w.start + 7.5, w.end + 7.5, w.probability) for w in words]
    assert prosody_marks(modified, later, offset=7.5) == marks
    assert prosody_marks(modified, later) == [Mark.NONE] * len(words)  # words past the audio


def test_too_few_words_or_silence_give_no_marks(transcribe, testdata: Path) -> None:
    clip = "deepspeech/LDC93S1.wav"
    audio = load_pcm(testdata / clip)
    original = transcribe((clip, ""), audio).words
    modified = _boost(audio, original[_find(original, "had")], 8.0)
    words = transcribe((clip, "boost had"), modified).words
    head = words[: _find(words, "had") + 2]
    assert len(head) < ProsodyOptions().min_words
    assert prosody_marks(modified, head) == [Mark.NONE] * len(head)
    silence = np.zeros(len(modified), dtype=np.int16)
    assert prosody_marks(silence, words) == [Mark.NONE] * len(words)
    assert prosody_marks(modified[:100], words) == [Mark.NONE] * len(words)
