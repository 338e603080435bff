"""Prosody marks: which words are elongated (``so...``) or emphasised (``*really*``).

:func:`prosody_marks` gives one :class:`Mark` per word from the utterance audio and Whisper's
word timings; :mod:`engines.tagging.inline` renders the marks. Pure numpy, blocking,
thread-safe (no shared state). Every word is compared with the rest of its own utterance:

* **Voiced frames.** Frames are 25 ms with a 10 ms hop; a frame belongs to a word when its
  centre lies within the word's timestamps, and counts as voiced when it is within
  ``voiced_range_db`` of the word's loudest frame.
* **ELONGATED.** ``stretch`` = voiced duration / (``expected_base_s`` +
  ``expected_per_letter_s`` per letter); ``rate`` = stretch / median stretch of the other
  words; ``slowness`` = median spectral change of the other words / the word's own (mean
  RMS step between consecutive voiced frames of 24 log-mel bands). The word is elongated
  when ``rate >= elongation_rate_ratio``, ``rate * slowness >= elongation_score`` and it
  is voiced for at least ``elongation_min_voiced_s``.
* **EMPHASIS.** The word's loudest frame is at least ``emphasis_margin_db`` above the
  loudest frame of every neighbour within ``neighbours`` words. Pitch is not used.
* Utterances of fewer than ``min_words`` words get no marks.

(Names are :class:`ProsodyOptions` fields.)

Why these values, and calibration: docs/decisions/prosody-marks.md
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from engines.base import PCM, SAMPLE_RATE, Word
from engines.features import hann, mel_filterbank, stft

FRAME_SAMPLES = 400
"""Analysis window: 25 ms at SAMPLE_RATE."""

HOP_SAMPLES = 160
"""Frame step: 10 ms at SAMPLE_RATE."""

N_FFT = 512
"""FFT size of the spectral-change analysis."""

MEL_BANDS = 24
"""Mel bands (100 Hz to 7 kHz) of the spectral-change analysis."""

_HOP_S = HOP_SAMPLES / SAMPLE_RATE
_WINDOW = hann(FRAME_SAMPLES)
_MEL = mel_filterbank(SAMPLE_RATE, N_FFT, MEL_BANDS, fmin=100.0, fmax=7000.0).astype(np.float64)
_LETTERS = re.compile(r"[^\W\d_]")


class Mark(enum.Flag):
    """Prosodic decoration of one word (combinable)."""

    NONE = 0
    ELONGATED = enum.auto()
    EMPHASIS = enum.auto()


@dataclass(frozen=True, slots=True)
class ProsodyOptions:
    """Detection thresholds, calibrated on clean read speech.

    Why these values: docs/decisions/prosody-marks.md

    Attributes:
        voiced_range_db: A frame of a word counts as voiced when its level is within this
            many dB of the word's loudest frame (drops the silence and breath a word's
            timestamps absorb at utterance edges).
        floor_dbfs: Frames quieter than this (dBFS) never count as voiced.
        expected_base_s: Expected voiced duration of a word, fixed part (seconds).
        expected_per_letter_s: Expected voiced duration per letter (seconds).
        elongation_rate_ratio: A word is ELONGATED only when its voiced/expected ratio is at
            least this many times the utterance's speaking rate (the median ratio of the
            other words)...
        elongation_score: ...and that relative stretch times its relative slowness (the
            other words' median spectral change per frame over its own) reaches this...
        elongation_min_voiced_s: ...and it is voiced for at least this long.
        emphasis_margin_db: A word is EMPHASIS when its peak frame level exceeds the loudest
            peak among its neighbours by at least this much.
        neighbours: How many words on each side count as neighbours.
        min_words: Utterances with fewer words get no marks at all (no reference to compare
            a word against).
    """

    voiced_range_db: float = 20.0
    floor_dbfs: float = -60.0
    expected_base_s: float = 0.10
    expected_per_letter_s: float = 0.035
    elongation_rate_ratio: float = 2.0
    elongation_score: float = 5.0
    elongation_min_voiced_s: float = 0.3
    emphasis_margin_db: float = 6.0
    neighbours: int = 3
    min_words: int = 4


@dataclass(frozen=True, slots=True)
class WordProsody:
    """What :func:`measure` finds in one word's audio.

    Attributes:
        peak_db: Level of the word's loudest frame (dBFS); -inf when it has no frame.
        voiced_s: Seconds of voiced frames (within ``voiced_range_db`` of the peak).
        expected_s: Expected voiced duration from the word's letters.
        change_db: Mean spectral change between consecutive voiced frames (RMS difference of
            log-mel bands, dB); NaN with fewer than two voiced frames.
    """

    peak_db: float
    voiced_s: float
    expected_s: float
    change_db: float

    @property
    def stretch(self) -> float:
        """Voiced duration over expected duration."""
        return self.voiced_s / self.expected_s


def prosody_marks(
    audio: PCM,
    words: Sequence[Word],
    *,
    offset: float = 0.0,
    options: ProsodyOptions | None = None,
) -> list[Mark]:
    """One Mark per word: ELONGATED for a word held far too long, EMPHASIS for one far louder.

    Conservative by design: a word gets a mark only when it stands out clearly from the rest
    of its own utterance, so clean read speech gets none (rules in the module docstring).

    Args:
        audio: Mono int16 at SAMPLE_RATE whose sample 0 is at time ``offset`` on the words'
            timeline; it should cover the words (parts outside it count as silent).
        words: The utterance's words in time order.
        offset: Time of ``audio[0]`` in seconds on the words' timeline.
        options: Thresholds; the calibrated defaults when None.

    Returns:
        A list as long as ``words``; all ``Mark.NONE`` below ``options.min_words`` words.
    """
    opts = options or ProsodyOptions()
    if len(words) < opts.min_words:
        return [Mark.NONE] * len(words)
    found = measure(audio, words, offset=offset, options=opts)
    stretches = np.array([m.stretch for m in found])
    changes = np.array([m.change_db for m in found])
    peaks = np.array([m.peak_db for m in found])
    marks: list[Mark] = []
    for index, word in enumerate(found):
        mark = Mark.NONE
        if _elongated(word, np.delete(stretches, index), np.delete(changes, index), opts):
            mark |= Mark.ELONGATED
        near = np.r_[
            peaks[max(0, index - opts.neighbours) : index],
            peaks[index + 1 : index + 1 + opts.neighbours],
        ]
        if np.isfinite(word.peak_db) and word.peak_db - near.max() >= opts.emphasis_margin_db:
            mark |= Mark.EMPHASIS
        marks.append(mark)
    return marks


def _elongated(
    word: WordProsody,
    other_stretches: npt.NDArray[np.float64],
    other_changes: npt.NDArray[np.float64],
    opts: ProsodyOptions,
) -> bool:
    """Whether a word is held far longer and far steadier than the rest of its utterance."""
    if word.voiced_s < opts.elongation_min_voiced_s or not word.change_db > 0:
        return False
    changes = other_changes[np.isfinite(other_changes)]
    pace = float(np.median(other_stretches))
    if not len(changes) or not pace > 0:
        return False
    rate = word.stretch / pace
    slowness = float(np.median(changes)) / word.change_db
    return rate >= opts.elongation_rate_ratio and rate * slowness >= opts.elongation_score


def measure(
    audio: PCM,
    words: Sequence[Word],
    *,
    offset: float = 0.0,
    options: ProsodyOptions | None = None,
) -> list[WordProsody]:
    """Measure each word's peak level, voiced duration and spectral change.

    A frame belongs to a word when its centre lies within the word's timestamps; its voiced
    frames are those within ``voiced_range_db`` of its loudest and above ``floor_dbfs``.

    Args:
        audio: Mono int16 at SAMPLE_RATE whose sample 0 is at time ``offset``.
        words: The words, on the same timeline.
        offset: Time of ``audio[0]`` in seconds.
        options: Thresholds; the defaults when None.

    Returns:
        One measurement per word.
    """
    opts = options or ProsodyOptions()
    levels, bands = frame_features(audio)
    change = np.full(len(levels), np.nan)
    change[1:] = np.sqrt(np.mean(np.diff(bands, axis=0) ** 2, axis=1))
    centres = offset + (np.arange(len(levels)) * HOP_SAMPLES + FRAME_SAMPLES / 2) / SAMPLE_RATE
    found = []
    for word in words:
        inside = np.flatnonzero((centres >= word.start) & (centres <= word.end))
        peak = float(levels[inside].max()) if len(inside) else -np.inf
        voiced = inside[levels[inside] >= max(peak - opts.voiced_range_db, opts.floor_dbfs)]
        steps = change[voiced[1:]] if len(voiced) > 1 else np.zeros(0)
        letters = len(_LETTERS.findall(word.text))
        found.append(
            WordProsody(
                peak_db=peak,
                voiced_s=len(voiced) * _HOP_S,
                expected_s=opts.expected_base_s + opts.expected_per_letter_s * letters,
                change_db=float(np.nanmean(steps)) if np.isfinite(steps).any() else np.nan,
            )
        )
    return found


def frame_features(
    audio: PCM,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Level and log-mel bands of each 25 ms frame, 10 ms hop (frame t starts at t * hop).

    Args:
        audio: Mono int16 PCM at SAMPLE_RATE.

    Returns:
        ``(levels, bands)``: levels in dBFS (mean power; 0 dB is a full-scale square wave),
        shape ``(n_frames,)``; bands in dB, shape ``(n_frames, MEL_BANDS)``. Both are empty
        when the audio is shorter than a frame.
    """
    if len(audio) < FRAME_SAMPLES:
        return np.zeros(0), np.zeros((0, MEL_BANDS))
    samples = audio.astype(np.float64) / 32768.0
    count = (len(samples) - FRAME_SAMPLES) // HOP_SAMPLES + 1
    power = np.convolve(samples**2, np.ones(FRAME_SAMPLES) / FRAME_SAMPLES, mode="valid")
    levels = 10.0 * np.log10(power[::HOP_SAMPLES][:count] + 1e-12)
    spectrum = stft(samples, _WINDOW, hop=HOP_SAMPLES, n_fft=N_FFT, power=2.0)
    bands = 10.0 * np.log10(spectrum.astype(np.float64) @ _MEL.T + 1e-12)
    return levels, bands
