"""The Fluxions result fields of a transcript: the ``text`` and the ``segments`` array.

:func:`render_text` writes one ``SPEAKER_N:`` line per speaker turn; with ``non_speech`` the
events go inline between the words at their time and the words carry their marks.
:func:`segment_records` writes the JSON-ready segments. Both are pure.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

from engines.base import AudioTag
from engines.tagging.inline import inline_text
from engines.tagging.prosody import Mark
from realtime.batch.assembly import BatchSegment


def tag_text(label: str) -> str:
    """The inline form of a non-speech tag: ``[laugh]``."""
    return f"[{label}]"


def speaker_turns(segments: Sequence[BatchSegment]) -> list[list[BatchSegment]]:
    """Consecutive segments of one speaker, grouped: the lines of the ``text`` field."""
    turns: list[list[BatchSegment]] = []
    for seg in segments:
        if not turns or turns[-1][0].speaker != seg.speaker:
            turns.append([])
        turns[-1].append(seg)
    return turns


def render_text(
    segments: Sequence[BatchSegment], tags: Sequence[AudioTag] = (), *, non_speech: bool = False
) -> str:
    """The Fluxions ``text`` field: one ``SPEAKER_N: …`` line per speaker turn.

    Without ``non_speech`` a line is its segments' texts. With it, each event belongs to
    the line during which it happens (by its midpoint; before the first line: the first)
    and is placed inline between that line's words at its time
    (:func:`engines.tagging.inline.inline_text`), and words carry their prosody marks.

    Args:
        segments: Segments in time order.
        tags: Non-speech events (bare tag labels: ``"laugh"``).
        non_speech: Whether to include events and marks.

    Returns:
        The text; empty when there are no segments.
    """
    turns = speaker_turns(segments)
    events: list[list[AudioTag]] = [[] for _ in turns]
    if non_speech and turns:
        starts = [turn[0].start for turn in turns]
        for tag in sorted(tags, key=lambda t: t.start):
            i = max(bisect_right(starts, (tag.start + tag.end) / 2) - 1, 0)
            events[i].append(tag)
    lines = []
    for turn, found in zip(turns, events, strict=True):
        body = _turn_body(turn, found, non_speech=non_speech)
        lines.append(f"SPEAKER_{turn[0].speaker}: {body}")
    return "\n".join(lines)


def _turn_body(
    turn: Sequence[BatchSegment], events: Sequence[AudioTag], *, non_speech: bool
) -> str:
    """One line's text after its ``SPEAKER_N:``: words, with events and marks when asked.

    Words with timings take the events inline at their time and carry their marks; without
    word timings (or without ``non_speech``) the events before the turn's start lead and
    the others follow the segment texts.
    """
    if non_speech and all(seg.words for seg in turn):
        words = [w for seg in turn for w in seg.words]
        marks = [m for seg in turn for m in (seg.marks or (Mark.NONE,) * len(seg.words))]
        return inline_text(words, events, marks)
    return " ".join(
        [tag_text(t.label) for t in events if t.start < turn[0].start]
        + [seg.text for seg in turn]
        + [tag_text(t.label) for t in events if t.start >= turn[0].start]
    )


def segment_records(segments: Sequence[BatchSegment], *, words: bool) -> list[dict[str, Any]]:
    """The Fluxions ``segments`` array.

    ``segment_idx`` counts segments within a speaker turn, restarting at 0 when the speaker
    changes (as in the reference example).

    Args:
        segments: Segments in time order.
        words: Add a ``words`` list (``word``, ``start``, ``end``) to each segment.

    Returns:
        JSON-ready dictionaries.
    """
    out: list[dict[str, Any]] = []
    idx = 0
    for i, seg in enumerate(segments):
        idx = 0 if i == 0 or segments[i - 1].speaker != seg.speaker else idx + 1
        record: dict[str, Any] = {
            "speaker": seg.speaker,
            "text": seg.text,
            "start": round(seg.start, 3),
            "end": round(seg.end, 3),
            "segment_idx": idx,
        }
        if words:
            record["words"] = [
                {"word": w.text.strip(), "start": round(w.start, 3), "end": round(w.end, 3)}
                for w in seg.words
            ]
        out.append(record)
    return out
