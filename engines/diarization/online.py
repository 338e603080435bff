"""Online speaker attribution for realtime sessions: one label per completed utterance.

Each utterance (a VAD turn, once it has ended) is embedded and compared with the
session's speakers, each kept as the running mean of its utterances' unit embeddings:

* An utterance of at least ``min_new_speaker`` seconds joins the most similar speaker
  when its cosine to that speaker's centroid is at least ``threshold`` (the centroid
  then takes it in), and otherwise opens a new speaker (unless ``max_speakers`` are
  open already: then it joins the most similar one).
* A shorter utterance ("Yes.", "No.") is attributed to the most similar speaker and
  leaves the centroids alone: its embedding is too noisy to open a speaker or to move
  one (``shared/reference/models.md``: short turns open spurious speakers).
* The session's first utterance is speaker ``"0"`` whatever its length; if it is short,
  speaker 0's centroid is seeded by the next long utterance instead.

Threshold
---------
:data:`THRESHOLD` (0.65) was calibrated on utterances cut by Silero VAD (``server_vad``
defaults) from the shared corpus, each at equal loudness, by finding for each session
the lowest threshold at which it opens a second speaker (``bench/diarization.py``):

* one speaker per session (must stay one): jfk 0.74 (whisper.cpp's jfk.mp3 0.78),
  physicsworks (60 utterances over 203 s) 0.69, mfa_hes 0.69; the clips of one utterance
  never split.
* two speakers, their utterances alternating (must split): 45 pairs of different
  single-speaker clips (15 s of each at most), median 0.30, 95th percentile 0.55, at
  most 0.61; the two channels of ``stereo_diarization.wav``, 0.49.

0.65 is the middle of the gap (0.61, 0.69); ``shared/reference/models.md`` found
0.45–0.6 on other data. Known failures: sessions whose utterances are laughter,
breathing or noise open extra speakers (mfa_laughter from 0.58, mfa_breaths 0.50,
mfa_um 0.44, speechbrain vad_valid 0.11); and the two telephone voices of
``pyannote/sample.wav`` are not told apart: its RTTM turns, fed in order, open a second
speaker at 0.65 but give it one of Sheila's five turns (a threshold can't fix it: across
speakers the turns are 0.52–0.89 alike, within one 0.68–0.91).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from engines.base import PCM, SAMPLE_RATE, SpeakerEmbedder
from engines.diarization.embedding import normalize_loudness

THRESHOLD = 0.65
"""Cosine to a speaker's centroid from which an utterance joins that speaker."""

MIN_NEW_SPEAKER = 1.0
"""Seconds an utterance needs to open a speaker or update a centroid."""

_EPS = 1e-12


@dataclass(frozen=True, slots=True)
class Attribution:
    """The outcome of one utterance.

    Attributes:
        speaker: The speaker label, ``"0"``, ``"1"``, … in order of first appearance.
        similarity: Cosine to that speaker's centroid before the update; None when the
            speaker had no centroid yet (its first long utterance).
        new_speaker: This utterance opened the speaker.
    """

    speaker: str
    similarity: float | None
    new_speaker: bool


class OnlineSpeakerTracker:
    """Per-session online clustering of utterance embeddings (module notes: the rules).

    Thread-confined: one tracker per session, called by one worker at a time. The
    embedder may be shared between trackers when it is thread-safe (the d-vector is).

    Args:
        embedder: Speaker embedder.
        threshold: Cosine from which an utterance joins an existing speaker.
        min_new_speaker: Seconds an utterance needs to open or update a speaker.
        max_speakers: Most speakers to open; None for no limit.

    Raises:
        ValueError: ``max_speakers`` is below 1.
    """

    def __init__(
        self,
        embedder: SpeakerEmbedder,
        *,
        threshold: float = THRESHOLD,
        min_new_speaker: float = MIN_NEW_SPEAKER,
        max_speakers: int | None = None,
    ) -> None:
        if max_speakers is not None and max_speakers < 1:
            raise ValueError(f"max_speakers must be ≥ 1, got {max_speakers}")
        self.embedder = embedder
        self.threshold = threshold
        self.min_new_speaker = min_new_speaker
        self.max_speakers = max_speakers
        self.reset()

    def reset(self) -> None:
        """Forget every speaker (a new session)."""
        self._sums: list[npt.NDArray[np.float64] | None] = []
        self._counts: list[int] = []

    @property
    def speakers(self) -> tuple[str, ...]:
        """The labels opened so far, in order."""
        return tuple(str(i) for i in range(len(self._sums)))

    def centroid(self, speaker: str) -> npt.NDArray[np.float64] | None:
        """The unit-norm centroid of a speaker; None before its first long utterance.

        Raises:
            KeyError: no such speaker.
        """
        index = int(speaker) if speaker.isdigit() else -1
        if not 0 <= index < len(self._sums):
            raise KeyError(speaker)
        total = self._sums[index]
        return None if total is None else total / (np.linalg.norm(total) + _EPS)

    def observe(self, audio: PCM) -> str:
        """Attribute one completed utterance.

        Blocking (one embedding, about 20 ms per second of audio on one core).

        Args:
            audio: The utterance, mono int16 at 16 kHz.

        Returns:
            Its speaker label.
        """
        return self.observe_detailed(audio).speaker

    def observe_detailed(self, audio: PCM) -> Attribution:
        """As :meth:`observe`, with the similarity and whether a speaker was opened."""
        embedding = self.embedder.embed(normalize_loudness(audio))
        return self.attribute(embedding, duration=len(audio) / SAMPLE_RATE)

    def attribute(self, embedding: npt.ArrayLike, *, duration: float) -> Attribution:
        """Attribute an already computed embedding (pure logic; module notes: the rules).

        Args:
            embedding: The utterance's embedding (normalised here).
            duration: The utterance's length in seconds.

        Returns:
            Its speaker, the similarity that decided it, and whether it is new.
        """
        vector = np.asarray(embedding, dtype=np.float64)
        vector = vector / (np.linalg.norm(vector) + _EPS)
        long = duration >= self.min_new_speaker
        if not self._sums:
            self._open(vector if long else None)
            return Attribution("0", None, True)
        known = [i for i, s in enumerate(self._sums) if s is not None]
        if not known:  # only speaker 0, opened by a short utterance
            if long:
                self._sums[0] = vector.copy()
                self._counts[0] = 1
            return Attribution("0", None, False)
        sims = {i: float(vector @ self.centroid(str(i))) for i in known}  # type: ignore[operator]
        best = max(sims, key=sims.__getitem__)
        full = self.max_speakers is not None and len(self._sums) >= self.max_speakers
        if long and sims[best] < self.threshold and not full:
            self._open(vector)
            return Attribution(str(len(self._sums) - 1), None, True)
        if long:
            self._sums[best] = self._sums[best] + vector  # type: ignore[operator]
            self._counts[best] += 1
        return Attribution(str(best), sims[best], False)

    def _open(self, vector: npt.NDArray[np.float64] | None) -> None:
        self._sums.append(None if vector is None else vector.copy())
        self._counts.append(0 if vector is None else 1)
