"""Assembling a recording's transcript from its chunks' decodes: segments, words, speakers.

The result types of the batch pipeline (:class:`BatchSegment`, :class:`BatchTranscript`)
and the pure steps that build them: :func:`map_transcript` puts a chunk's Whisper segments
on the recording's timeline; :func:`regroup_words` puts the words that survive listening
back into their segments; :func:`split_by_speaker` gives every word its diarization speaker
and splits a segment two speakers share. Speakers are ``"0"``, ``"1"``… in order of first
appearance; without diarization turns every segment is speaker ``"0"``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from engines.base import AudioTag, SpeakerTurn, Transcript, Word
from engines.diarization.batch import assign_speakers as speakers_of_words
from engines.tagging.inline import inline_text
from engines.tagging.prosody import Mark
from realtime.batch.chunking import Chunk


@dataclass(frozen=True, slots=True)
class BatchSegment:
    """One transcribed segment on the recording's timeline.

    Attributes:
        speaker: Speaker label (``"0"``, ``"1"``… in order of first appearance).
        text: The words, stripped, without non-speech tags.
        start: Start in seconds.
        end: End in seconds.
        words: Word timings (empty when not requested).
        marks: Prosody mark of each word (empty unless non-speech output was asked for).
    """

    speaker: str
    text: str
    start: float
    end: float
    words: tuple[Word, ...] = ()
    marks: tuple[Mark, ...] = ()


@dataclass(frozen=True, slots=True)
class BatchTranscript:
    """The pipeline's result for one recording.

    Attributes:
        duration: Length of the recording in seconds.
        codec: Detected codec (FFmpeg's name: ``"mp3"``, ``"opus"``, ``"pcm_s16le"``…).
        container: Detected container.
        language: Detected or forced language.
        num_chunks: Whisper decodes (VAD chunks).
        segments: Segments in time order.
        tags: Non-speech events found (empty without a tagger).
    """

    duration: float
    codec: str
    container: str
    language: str | None
    num_chunks: int
    segments: tuple[BatchSegment, ...]
    tags: tuple[AudioTag, ...] = field(default=())

    @property
    def plain_text(self) -> str:
        """The words alone: segment texts joined by spaces (what ``voxgate transcribe`` prints)."""
        return " ".join(s.text for s in self.segments)

    @property
    def num_speakers(self) -> int:
        """Distinct speakers among the segments."""
        return len({s.speaker for s in self.segments})


def map_transcript(chunk: Chunk, transcript: Transcript) -> list[BatchSegment]:
    """Segments of a chunk's transcript on the recording timeline (speaker ``"0"``)."""
    out = []
    for seg in transcript.segments:
        words = tuple(
            Word(
                w.text,
                chunk.to_source(w.start),
                chunk.to_source(w.end, is_end=True),
                w.probability,
            )
            for w in seg.words
        )
        out.append(
            BatchSegment(
                "0",
                seg.text,
                chunk.to_source(seg.start),
                chunk.to_source(seg.end, is_end=True),
                words,
            )
        )
    return out


def assign_speakers(
    segments: Sequence[BatchSegment], turns: Sequence[SpeakerTurn] | None
) -> list[BatchSegment]:
    """Attribute each whole segment to the diarization speaker that overlaps it most.

    For segments without word timings (word-level attribution is
    :func:`split_by_speaker`). Labels are renumbered ``"0"``, ``"1"``… in order of first
    appearance. Without turns (no diarizer), or for a segment no turn overlaps, the speaker
    is the previous segment's (``"0"`` at the start).

    Args:
        segments: Segments in time order.
        turns: Diarization turns, or None.

    Returns:
        The segments with speakers set.
    """
    names: dict[str, str] = {}
    out: list[BatchSegment] = []
    previous = "0"
    for seg in segments:
        best = _most_overlapping(seg, turns or ())
        if best is not None:
            previous = names.setdefault(best, str(len(names)))
        out.append(replace(seg, speaker=previous))
    return out


def _most_overlapping(seg: BatchSegment, turns: Sequence[SpeakerTurn]) -> str | None:
    """The speaker of the turn that overlaps ``seg`` most; None when none overlaps it."""
    best, overlap = None, 0.0
    for turn in turns:
        o = min(seg.end, turn.end) - max(seg.start, turn.start)
        if o > overlap:
            best, overlap = turn.speaker, o
    return best


def regroup_words(
    segments: Sequence[BatchSegment], words: Sequence[Word], marks: Sequence[Mark]
) -> list[BatchSegment]:
    """Put the words that remain after listening back into their segments.

    Each word joins the segment whose span holds its midpoint (else the nearest one);
    segment texts are rebuilt from their words and segments left without words are
    dropped (they held only annotations or invented words).

    Args:
        segments: Segments in time order, with words.
        words: The words to keep, in time order.
        marks: The prosody mark of each word.

    Returns:
        Segments in time order, each with at least one word.
    """
    if not segments:
        return []
    buckets: list[list[tuple[Word, Mark]]] = [[] for _ in segments]
    starts = [seg.start for seg in segments]
    for word, mark in zip(words, marks, strict=True):
        buckets[_nearest_segment(segments, starts, word)].append((word, mark))
    out = []
    for seg, bucket in zip(segments, buckets, strict=True):
        if bucket:
            kept = tuple(w for w, _ in bucket)
            out.append(
                replace(
                    seg,
                    text=inline_text(kept),
                    start=min(seg.start, kept[0].start),
                    end=max(seg.end, kept[-1].end),
                    words=kept,
                    marks=tuple(m for _, m in bucket),
                )
            )
    return out


def _nearest_segment(segments: Sequence[BatchSegment], starts: Sequence[float], word: Word) -> int:
    """Index of the segment whose span holds ``word``'s midpoint, else the nearest one."""
    middle = (word.start + word.end) / 2
    i = max(bisect_right(starts, middle) - 1, 0)
    in_gap = i + 1 < len(segments) and middle > segments[i].end
    if in_gap and segments[i + 1].start - middle < middle - segments[i].end:
        i += 1  # in a gap between segments: the nearer one
    return i


def split_by_speaker(
    segments: Sequence[BatchSegment], turns: Sequence[SpeakerTurn]
) -> list[BatchSegment]:
    """Give every word its diarization speaker; split segments where the speaker changes.

    Segments without words are attributed whole (:func:`assign_speakers`). Speakers are
    renumbered ``"0"``, ``"1"``… in order of first appearance.

    Args:
        segments: Segments in time order.
        turns: Diarization turns (``engines.diarization.batch.diarize``).

    Returns:
        Segments in time order; a piece of a split segment spans its words.
    """
    if not turns:
        return assign_speakers(segments, None)
    pieces: list[BatchSegment] = []
    for seg in segments:
        if not seg.words:
            previous = pieces[-1].speaker if pieces else "0"
            pieces.append(replace(seg, speaker=_most_overlapping(seg, turns) or previous))
            continue
        pieces.extend(_split_at_speaker_changes(seg, speakers_of_words(seg.words, turns)))
    names: dict[str, str] = {}
    return [replace(p, speaker=names.setdefault(p.speaker, str(len(names)))) for p in pieces]


def _split_at_speaker_changes(
    seg: BatchSegment, labels: Sequence[str | None]
) -> list[BatchSegment]:
    """``seg`` cut into runs of words with one speaker label (raw labels, not renumbered).

    Args:
        seg: A segment with words.
        labels: The speaker of each of its words (None: unknown, taken as ``"0"``).

    Returns:
        The pieces in order; a single piece keeps the segment's text and span.
    """
    pieces: list[BatchSegment] = []
    run = 0
    for i in range(1, len(seg.words) + 1):
        if i == len(seg.words) or labels[i] != labels[run]:
            words = seg.words[run:i]
            whole = run == 0 and i == len(seg.words)
            pieces.append(
                BatchSegment(
                    labels[run] or "0",
                    seg.text if whole else inline_text(words),
                    seg.start if whole else words[0].start,
                    seg.end if whole else words[-1].end,
                    words,
                    seg.marks[run:i] if seg.marks else (),
                )
            )
            run = i
    return pieces
