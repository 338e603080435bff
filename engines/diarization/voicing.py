"""How much voiced speech a stretch of audio holds, measured in numpy alone.

The batch diarizer embeds windows placed by word or VAD timings, and some of them hold
little speech: a window that straddles a pause is mostly room noise (which loudness
normalisation then blows up), a window over a crash or a bang is mostly that noise. The
d-vector hears such windows as a voice of their own, and a handful of them can make a
"speaker". :func:`voiced_fractions` scores each window by the share of its frames that are
*voiced speech*:

* loud enough: frame energy within :data:`LEVEL_RANGE_DB` of the recording's speech
  level (the :data:`LEVEL_PERCENTILE` th percentile of the frame energies inside the
  speech regions), so quiet pauses do not count whatever their spectrum, and
* periodic: the normalised cross-correlation of the frame with itself shifted by one
  pitch period (60–400 Hz) peaks at :data:`MIN_PERIODICITY` or above (the voicing test
  of pitch trackers such as RAPT), which vowels pass and noise, clicks and crashes do not.

Frames are :data:`FRAME` seconds long every :data:`HOP` seconds. Pure numpy; thread-safe.

Why the threshold on the score: docs/decisions/batch-diarization.md
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from engines.base import PCM, SAMPLE_RATE
from engines.diarization.regions import Timed

FRAME = 0.04
"""Frame length in seconds (long enough to hold two periods of a 60 Hz voice)."""

HOP = 0.02
"""Distance between frame starts in seconds."""

MIN_PITCH = 60.0
"""Lowest fundamental frequency searched (Hz)."""

MAX_PITCH = 400.0
"""Highest fundamental frequency searched (Hz)."""

MIN_PERIODICITY = 0.6
"""Normalised cross-correlation at the best pitch lag from which a frame is voiced."""

LEVEL_RANGE_DB = 30.0
"""How far below the recording's speech level a voiced frame may lie (dB)."""

LEVEL_PERCENTILE = 90.0
"""Percentile of the frame energies in the speech regions taken as the speech level."""


def voiced_fractions(
    audio: PCM, spans: Sequence[Timed], *, regions: Sequence[Timed]
) -> npt.NDArray[np.float64]:
    """The share of each span's frames that are voiced speech (module notes: the test).

    Cost: one FFT per frame of the regions' audio.

    Args:
        audio: The whole recording, mono int16 at 16 kHz.
        spans: Stretches to score, in seconds (e.g. embedding windows).
        regions: The speech regions, in seconds; the recording's speech level is
            measured over them.

    Returns:
        One fraction in ``[0, 1]`` per span, in order; 0 for a span holding no whole
        frame.
    """
    if not spans:
        return np.zeros(0)
    frame, hop = round(FRAME * SAMPLE_RATE), round(HOP * SAMPLE_RATE)
    x = audio.astype(np.float64) / 32768.0
    n_frames = max(0, (len(x) - frame) // hop + 1)
    centres = (np.arange(n_frames) * hop + frame / 2) / SAMPLE_RATE
    wanted = _inside(centres, spans) | _inside(centres, regions)
    voiced = np.zeros(n_frames, dtype=bool)
    level_db = np.full(n_frames, -np.inf)
    index = np.flatnonzero(wanted)
    for chunk in np.array_split(index, max(1, len(index) // 2048)):
        if len(chunk) == 0:
            continue
        frames = x[chunk[:, None] * hop + np.arange(frame)[None, :]]
        frames = frames - frames.mean(axis=1, keepdims=True)
        level_db[chunk] = 10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-10)
        voiced[chunk] = _periodicity(frames) >= MIN_PERIODICITY
    in_regions = _inside(centres, regions)
    if not in_regions.any():
        return np.zeros(len(spans))
    level = np.percentile(level_db[in_regions], LEVEL_PERCENTILE)
    speech = voiced & (level_db >= level - LEVEL_RANGE_DB)
    out = np.zeros(len(spans))
    for i, span in enumerate(spans):
        lo = np.searchsorted(centres, span.start)
        hi = np.searchsorted(centres, span.end)
        if hi > lo:
            out[i] = float(np.mean(speech[lo:hi]))
    return out


def _periodicity(frames: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Peak normalised cross-correlation over pitch lags, one value per frame (row).

    For lag ``L`` it is ``Σ x[i]·x[i+L] / sqrt(Σ x[i]² · Σ x[i+L]²)`` over the samples
    the two copies share, so a strictly periodic frame scores 1 whatever its period.
    """
    n = frames.shape[1]
    lo, hi = int(SAMPLE_RATE / MAX_PITCH), int(SAMPLE_RATE / MIN_PITCH)
    spectrum = np.fft.rfft(frames, 2 * n, axis=1)
    corr = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, lo : hi + 1]
    energy = np.concatenate([np.zeros((len(frames), 1)), np.cumsum(frames**2, axis=1)], axis=1)
    lags = np.arange(lo, hi + 1)
    head = energy[:, n - lags]  # Σ x[i]², i < n - L
    tail = energy[:, n : n + 1] - energy[:, lags]  # Σ x[i]², i ≥ L
    return np.max(corr / np.sqrt(head * tail + 1e-20), axis=1)


def _inside(times: npt.NDArray[np.float64], spans: Sequence[Timed]) -> npt.NDArray[np.bool_]:
    """Which times fall inside any of the spans."""
    mask = np.zeros(len(times), dtype=bool)
    for span in spans:
        mask[np.searchsorted(times, span.start) : np.searchsorted(times, span.end)] = True
    return mask
