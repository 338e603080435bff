"""Online speaker attribution for realtime sessions: one label per completed utterance.

Each utterance (a VAD turn, once it has ended) is embedded, at equal loudness and over a
fixed noise floor (:func:`~engines.diarization.embedding.mask_noise_floor`), and compared
with the session's speakers, each kept as the running mean of its utterances' unit
embeddings together with the seconds of speech behind it:

* An utterance of at least ``min_new_speaker`` seconds joins the most similar speaker
  unless its cosine to that speaker's centroid is below the limit, and otherwise opens a
  new speaker (unless ``max_speakers`` are open already: then it joins the most similar
  one). The limit is ``threshold`` when both the utterance and that speaker's centroid
  rest on at least ``confident_duration`` seconds of speech, and the lower
  ``short_threshold`` otherwise.
* A shorter utterance ("Yes.", "No.") is attributed to the most similar speaker and
  leaves the centroids alone.
* The session's first utterance is speaker ``"0"`` whatever its length; if it is short,
  speaker 0's centroid is seeded by the next long utterance instead.

Labels are final: a speaker once emitted is never revised.

Why these values, and calibration: docs/decisions/online-diarization.md
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from engines.base import PCM, SAMPLE_RATE, SpeakerEmbedder
from engines.diarization.embedding import mask_noise_floor, normalize_loudness

THRESHOLD = 0.73
"""Cosine to a speaker's centroid from which an utterance joins that speaker, when both
rest on at least :data:`CONFIDENT_DURATION` seconds (docs/decisions/online-diarization.md)."""

SHORT_THRESHOLD = 0.60
"""The same when the utterance or the speaker's centroid rests on less."""

CONFIDENT_DURATION = 2.0
"""Seconds of speech from which an embedding or a centroid counts as reliable."""

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
    """Per-session online clustering of utterance embeddings (rules in the module docstring).

    Thread-confined: one tracker per session, called by one worker at a time. The
    embedder may be shared between trackers when it is thread-safe (the d-vector is).

    Args:
        embedder: Speaker embedder.
        threshold: Cosine from which an utterance joins an existing speaker, when the
            utterance and that speaker's centroid both rest on ``confident_duration``
            seconds or more.
        min_new_speaker: Seconds an utterance needs to open or update a speaker.
        max_speakers: Most speakers to open; None for no limit.
        short_threshold: The joining cosine when either rests on less; None uses
            ``min(threshold, SHORT_THRESHOLD)``.
        confident_duration: Seconds from which an utterance or a centroid is reliable.

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
        short_threshold: float | None = None,
        confident_duration: float = CONFIDENT_DURATION,
    ) -> None:
        if max_speakers is not None and max_speakers < 1:
            raise ValueError(f"max_speakers must be ≥ 1, got {max_speakers}")
        self.embedder = embedder
        self.threshold = threshold
        self.short_threshold = (
            min(threshold, SHORT_THRESHOLD) if short_threshold is None else short_threshold
        )
        self.confident_duration = confident_duration
        self.min_new_speaker = min_new_speaker
        self.max_speakers = max_speakers
        self.reset()

    def reset(self) -> None:
        """Forget every speaker (a new session)."""
        self._sums: list[npt.NDArray[np.float64] | None] = []
        self._seconds: list[float] = []

    @property
    def speakers(self) -> tuple[str, ...]:
        """The labels opened so far, in order."""
        return tuple(str(i) for i in range(len(self._sums)))

    def centroid(self, speaker: str) -> npt.NDArray[np.float64] | None:
        """The unit-norm centroid of a speaker; None before its first long utterance.

        Raises:
            KeyError: no such speaker.
        """
        total = self._sums[self._index(speaker)]
        return None if total is None else total / (np.linalg.norm(total) + _EPS)

    def seconds(self, speaker: str) -> float:
        """Seconds of speech behind a speaker's centroid (its long utterances).

        Raises:
            KeyError: no such speaker.
        """
        return self._seconds[self._index(speaker)]

    def observe(self, audio: PCM) -> str:
        """Attribute one completed utterance.

        Blocking (one embedding).

        Args:
            audio: The utterance, mono int16 at 16 kHz.

        Returns:
            Its speaker label.
        """
        return self.observe_detailed(audio).speaker

    def observe_detailed(self, audio: PCM) -> Attribution:
        """As :meth:`observe`, with the similarity and whether a speaker was opened."""
        embedding = self.embedder.embed(mask_noise_floor(normalize_loudness(audio)))
        return self.attribute(embedding, duration=len(audio) / SAMPLE_RATE)

    def observe_speakers(self, pieces: Mapping[str, Sequence[PCM]]) -> dict[str, str]:
        """Attribute the speakers that the batch diarizer found inside one utterance.

        Each local speaker's pieces are joined and embedded as one utterance. Local
        speakers are attributed in order of decreasing speech, as :meth:`attribute`
        would, except that two of them never share a session speaker: the diarizer
        already told them apart (see :meth:`attribute_distinct`).

        Blocking (one embedding per local speaker).

        Args:
            pieces: Audio pieces (mono int16, 16 kHz) per local speaker label.

        Returns:
            The session speaker of each local label.
        """
        labels = [label for label, audio in pieces.items() if audio]
        joined = [np.concatenate(list(pieces[label])) for label in labels]
        embedded = [
            (self.embedder.embed(mask_noise_floor(normalize_loudness(a))), len(a) / SAMPLE_RATE)
            for a in joined
        ]
        found = self.attribute_distinct(embedded)
        return {label: a.speaker for label, a in zip(labels, found, strict=True)}

    def attribute_distinct(
        self, utterances: Sequence[tuple[npt.ArrayLike, float]]
    ) -> list[Attribution]:
        """Attribute embeddings known to be different speakers (pure logic).

        In order of decreasing duration, each is attributed as by :meth:`attribute`
        among the session speakers not yet given to another one of them; when none is
        left or the best one is below the limit, a long one opens a new speaker
        (``max_speakers`` permitting) and a short one, or one that cannot open, takes the
        most similar speaker, taken or not.

        Args:
            utterances: ``(embedding, duration in seconds)`` pairs.

        Returns:
            One attribution per pair, in the order given.
        """
        order = sorted(range(len(utterances)), key=lambda i: -utterances[i][1])
        taken: set[int] = set()
        found: dict[int, Attribution] = {}
        for i in order:
            embedding, duration = utterances[i]
            found[i] = self._attribute(embedding, duration, exclude=taken)
            taken.add(int(found[i].speaker))
        return [found[i] for i in range(len(utterances))]

    def attribute(self, embedding: npt.ArrayLike, *, duration: float) -> Attribution:
        """Attribute an already computed embedding (pure logic; module notes: the rules).

        Args:
            embedding: The utterance's embedding (normalised here).
            duration: The utterance's length in seconds.

        Returns:
            Its speaker, the similarity that decided it, and whether it is new.
        """
        return self._attribute(embedding, duration, exclude=set())

    def _attribute(
        self, embedding: npt.ArrayLike, duration: float, *, exclude: set[int]
    ) -> Attribution:
        """:meth:`attribute` among the speakers not in ``exclude`` (when any is left)."""
        vector = np.asarray(embedding, dtype=np.float64)
        vector = vector / (np.linalg.norm(vector) + _EPS)
        long = duration >= self.min_new_speaker
        full = self.max_speakers is not None and len(self._sums) >= self.max_speakers
        if not self._sums or (long and not full and len(exclude) == len(self._sums)):
            self._open(vector if long else None, duration)
            return Attribution(str(len(self._sums) - 1), None, True)
        known = [i for i, s in enumerate(self._sums) if s is not None]
        if not known:  # only speaker 0, opened by a short utterance
            if long:
                self._sums[0] = vector.copy()
                self._seconds[0] = duration
            return Attribution("0", None, False)
        sims = {i: float(vector @ self.centroid(str(i))) for i in known}  # type: ignore[operator]
        free = [i for i in known if i not in exclude] or known
        best = max(free, key=sims.__getitem__)
        if long and sims[best] < self.limit(duration, self._seconds[best]) and not full:
            self._open(vector, duration)
            return Attribution(str(len(self._sums) - 1), None, True)
        if best in exclude:  # nothing free and nothing may open: the most similar of all
            best = max(known, key=sims.__getitem__)
        if long:
            self._sums[best] = self._sums[best] + vector  # type: ignore[operator]
            self._seconds[best] += duration
        return Attribution(str(best), sims[best], False)

    def limit(self, duration: float, centroid_seconds: float) -> float:
        """The cosine an utterance needs to join a speaker (module notes: the two tiers).

        Args:
            duration: The utterance's length in seconds.
            centroid_seconds: Seconds of speech behind the speaker's centroid.

        Returns:
            ``threshold`` when both reach ``confident_duration``, else ``short_threshold``.
        """
        if min(duration, centroid_seconds) >= self.confident_duration:
            return self.threshold
        return self.short_threshold

    def _index(self, speaker: str) -> int:
        index = int(speaker) if speaker.isdigit() else -1
        if not 0 <= index < len(self._sums):
            raise KeyError(speaker)
        return index

    def _open(self, vector: npt.NDArray[np.float64] | None, duration: float) -> None:
        self._sums.append(None if vector is None else vector.copy())
        self._seconds.append(0.0 if vector is None else duration)
