"""``known_speaker_names[]`` and ``known_speaker_references[]`` of ``diarized_json``.

As OpenAI's: up to :data:`MAX_KNOWN` names, each with a reference clip of 2–10 s sent as
a data URL (``data:audio/wav;base64,…``; any format FFmpeg decodes). Each clip is embedded
with the speaker embedder the diarizer uses; each diarized speaker gets a centroid of its
segments' embeddings, and names go to speakers one-to-one for the greatest total cosine,
counting only pairs at :data:`MATCH_THRESHOLD` or above. Speakers no reference matches
keep letters (``A``, ``B``, …); a name no speaker matches is not used.

The embedding steps are blocking: run them on the inference pool.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import os
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

import numpy as np
import numpy.typing as npt

from engines.audio import decode_file
from engines.base import SpeakerEmbedder
from engines.diarization.batch import THRESHOLD
from engines.diarization.embedding import embed_spans, normalize_loudness
from engines.errors import AudioDecodeError, AudioTooLong
from realtime.batch.assembly import BatchSegment, BatchTranscript
from realtime.openai_audio.forms import AudioForm, FormError

MAX_KNOWN = 4
"""Most known speakers (OpenAI's limit)."""
MIN_REFERENCE_S, MAX_REFERENCE_S = 2.0, 10.0
"""Length of a reference clip (OpenAI's bounds)."""
MATCH_THRESHOLD = THRESHOLD
"""Least cosine between a reference and a speaker's centroid for the name to be given (the
diarizer's own bar for one speaker)."""
_CANDIDATES = 4
MIN_SPAN_S = 1.0
"""Segments shorter than this are left out of a centroid (unless a speaker has no other)."""
MAX_CENTROID_S = 60.0
"""Speech per speaker embedded for its centroid (its longest segments)."""

Embeddings = npt.NDArray[np.float32]
_REFERENCES = "known_speaker_references[]"


@dataclass(frozen=True, slots=True)
class KnownSpeakers:
    """The known speakers of a request: names and their reference clips (file bytes)."""

    names: tuple[str, ...]
    clips: tuple[bytes, ...]


def parse_known(form: AudioForm) -> KnownSpeakers | None:
    """The known speakers in ``form``; None when it names none.

    Raises:
        FormError: names without one reference each, too many, or a reference that is
            not a data URL.
    """
    names = form.values("known_speaker_names")
    references = form.values("known_speaker_references")
    if not names and not references:
        return None
    if len(names) != len(references):
        raise FormError(
            "known_speaker_names[] and known_speaker_references[] need one entry each per speaker",
            param=_REFERENCES,
        )
    if len(names) > MAX_KNOWN:
        raise FormError(f"at most {MAX_KNOWN} known speakers", param="known_speaker_names[]")
    if len(set(names)) != len(names) or not all(n.strip() for n in names):
        raise FormError(
            "known speaker names must be distinct and non-empty", param="known_speaker_names[]"
        )
    return KnownSpeakers(tuple(names), tuple(data_url_bytes(r) for r in references))


def data_url_bytes(url: str) -> bytes:
    """The bytes of a ``data:`` URL (base64 or percent-encoded).

    Raises:
        FormError: not a data URL.
    """
    header, comma, payload = url.strip().partition(",")
    if not header.lower().startswith("data:") or not comma:
        raise FormError("a known speaker reference must be a data: URL", param=_REFERENCES)
    if header.lower().endswith(";base64"):
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise FormError(
                "a known speaker reference is not valid base64", param=_REFERENCES
            ) from None
    return unquote_to_bytes(payload)


def embed_references(known: KnownSpeakers, embedder: SpeakerEmbedder) -> Embeddings:
    """One unit-norm embedding per reference clip, in order (blocking).

    Raises:
        FormError: a clip does not decode, or is not 2–10 s long.
    """
    rows = []
    for i, clip in enumerate(known.clips):
        try:
            audio = decode_file(clip, max_seconds=MAX_REFERENCE_S + 1.0)
        except AudioTooLong:
            raise FormError(
                f"known speaker reference {i} lasts more than {MAX_REFERENCE_S:g} s",
                param=_REFERENCES,
            ) from None
        except AudioDecodeError:
            raise FormError(
                f"known speaker reference {i} is not decodable audio", param=_REFERENCES
            ) from None
        if not MIN_REFERENCE_S <= audio.duration <= MAX_REFERENCE_S:
            raise FormError(
                f"known speaker reference {i} lasts {audio.duration:.1f} s; it must last "
                f"{MIN_REFERENCE_S:g} to {MAX_REFERENCE_S:g} s",
                param=_REFERENCES,
            )
        rows.append(_unit(embedder.embed(normalize_loudness(audio.samples))))
    return np.stack(rows)


def name_speakers(
    recording: str | os.PathLike[str],
    transcript: BatchTranscript,
    known: KnownSpeakers,
    references: Embeddings,
    embedder: SpeakerEmbedder,
    *,
    max_seconds: float | None,
) -> dict[str, str]:
    """Each diarized speaker a reference matches → that reference's name (blocking).

    Args:
        recording: The transcribed file (decoded again for the speakers' audio).
        transcript: Its diarized transcript.
        known: The known speakers.
        references: :func:`embed_references` of ``known``.
        embedder: The embedder that made ``references``.
        max_seconds: The decoding limit the transcription had.
    """
    samples = decode_file(recording, max_seconds=max_seconds).samples
    speakers = sorted({s.speaker for s in transcript.segments})
    centroids = {
        speaker: _centroid(
            embedder, samples, [s for s in transcript.segments if s.speaker == speaker]
        )
        for speaker in speakers
    }
    similarity = np.array([references @ centroids[speaker] for speaker in speakers])
    pairs = best_assignment(similarity, MATCH_THRESHOLD)
    return {speakers[row]: known.names[column] for row, column in pairs.items()}


def best_assignment(similarity: npt.NDArray[np.float32], threshold: float) -> dict[int, int]:
    """Rows (speakers) to columns (names), one-to-one, for the greatest total similarity.

    Only pairs at ``threshold`` or above count; each column considers its
    :data:`_CANDIDATES` most similar rows (and none), so the search stays small.
    """
    options = []
    for column in range(similarity.shape[1]):
        order = np.argsort(-similarity[:, column])[:_CANDIDATES]
        rows = [int(r) for r in order if similarity[r, column] >= threshold]
        options.append([None, *rows])
    best: dict[int, int] = {}
    best_score = 0.0
    for choice in itertools.product(*options):
        taken = [row for row in choice if row is not None]
        if len(set(taken)) != len(taken):
            continue
        score = sum(
            float(similarity[row, col]) for col, row in enumerate(choice) if row is not None
        )
        if score > best_score:
            best_score = score
            best = {row: col for col, row in enumerate(choice) if row is not None}
    return best


def _centroid(
    embedder: SpeakerEmbedder, samples: npt.NDArray[np.int16], segments: list[BatchSegment]
) -> npt.NDArray[np.float32]:
    """The duration-weighted mean embedding of a speaker's longest segments, unit norm."""
    spans = sorted(segments, key=lambda s: s.end - s.start, reverse=True)
    long_enough = [s for s in spans if s.end - s.start >= MIN_SPAN_S] or spans[:1]
    chosen, total = [], 0.0
    for seg in long_enough:
        if total >= MAX_CENTROID_S:
            break
        chosen.append(seg)
        total += seg.end - seg.start
    rows = embed_spans(embedder, samples, chosen)
    weights = np.array([s.end - s.start for s in chosen], dtype=np.float32)
    return _unit((rows * weights[:, None]).sum(axis=0))


def _unit(vector: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm > 0 else vector).astype(np.float32)
