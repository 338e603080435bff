"""Embedding stretches of a recording with any :class:`~engines.base.SpeakerEmbedder`.

Each stretch is brought to one loudness (:func:`normalize_loudness`) before it is
embedded, so a speaker who talks louder or softer stays in place in embedding space. The
online tracker also masks each utterance's own noise floor with a fixed one
(:func:`mask_noise_floor`: white noise 25 dB below the normalised speech), so the pauses
and breaths of a VAD utterance look alike for every speaker; the batch diarizer does not.

Pure functions; thread-safe when the embedder is.

Why this design, and measurements: docs/decisions/speaker-embeddings.md
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from engines.base import PCM, SAMPLE_RATE, SpeakerEmbedder
from engines.diarization.regions import Timed

TARGET_RMS = 0.1
"""Loudness every stretch is scaled to: RMS 0.1 of full scale (−20 dBFS)."""

MAX_GAIN = 100.0
"""Largest amplification (+40 dB), so near-silence is not blown up into noise."""

NOISE_FLOOR_DBFS = -45.0
"""Level of the masking noise of :func:`mask_noise_floor`: RMS −45 dBFS, 25 dB below
:data:`TARGET_RMS`. Why this value: docs/decisions/speaker-embeddings.md"""


def normalize_loudness(audio: PCM) -> PCM:
    """Scale int16 audio to :data:`TARGET_RMS`, amplifying at most :data:`MAX_GAIN` times.

    Args:
        audio: Mono int16.

    Returns:
        A new int16 array; samples that would overflow are clipped. Digital silence is
        returned unchanged.
    """
    x = audio.astype(np.float32) / np.float32(32768)
    rms = float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0
    if rms == 0.0:
        return audio.copy()
    gain = min(TARGET_RMS / rms, MAX_GAIN)
    return np.clip(np.rint(x * (gain * 32768)), -32768, 32767).astype(np.int16)


def mask_noise_floor(audio: PCM, *, level_dbfs: float = NOISE_FLOOR_DBFS) -> PCM:
    """Add white noise at a fixed level, masking the recording's own noise floor.

    Deterministic: the noise comes from a generator seeded identically on every call, so
    the same audio always gives the same result. Meant for audio already brought to
    :data:`TARGET_RMS` by :func:`normalize_loudness` (why: docs/decisions/speaker-embeddings.md).

    Args:
        audio: Mono int16.
        level_dbfs: RMS of the noise in dB relative to full scale.

    Returns:
        A new int16 array; samples that would overflow are clipped.
    """
    sigma = 32768.0 * 10.0 ** (level_dbfs / 20.0)
    noise = np.random.default_rng(0).normal(0.0, sigma, len(audio))
    return np.clip(np.rint(audio + noise), -32768, 32767).astype(np.int16)


def embed_spans(
    embedder: SpeakerEmbedder, audio: PCM, spans: Sequence[Timed], *, threads: int = 1
) -> npt.NDArray[np.float32]:
    """Embed stretches of one recording, each at equal loudness.

    Args:
        embedder: Any speaker embedder. One with an ``embed_many(audios, *, threads)``
            method (the d-vector) gets all stretches at once.
        audio: Mono int16 at 16 kHz.
        spans: Stretches in seconds; parts outside the audio are ignored.
        threads: Threads an ``embed_many`` may use (the result does not depend on it).

    Returns:
        ``(len(spans), embedder.dim)`` unit-norm rows, in the order of ``spans``.
    """
    if not spans:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    pieces = [normalize_loudness(audio[_sample(s.start) : _sample(s.end)]) for s in spans]
    many = getattr(embedder, "embed_many", None)
    if many is not None:
        return np.asarray(many(pieces, threads=threads), dtype=np.float32)
    return np.stack([embedder.embed(p) for p in pieces]).astype(np.float32, copy=False)


def _sample(seconds: float) -> int:
    """The sample index of a time, clamped at 0."""
    return max(0, round(seconds * SAMPLE_RATE))
