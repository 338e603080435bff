"""Render a Fluxions-style inline transcript: words, ``[tag]`` events and prosody marks.

The Fluxions transcript format (``/work/shared/reference/fluxions-api.md``, "Usage Notes")
writes non-speech events inline at their natural position (``I was thinking [breath] about``),
elongated words with an ellipsis (``um... so... I think...``) and emphasised words between
asterisks (``I *really* think so``). :func:`inline_text` produces that text from timed words,
timed events and one :class:`~engines.tagging.prosody.Mark` per word; :func:`strip_inline`
takes the tags and the emphasis off again for the plain ``segments[].text``.

Rendering rules (deterministic, pure string work):

* Words are concatenated as Whisper spells them, leading spaces included
  (``" ill" + "-disposed"`` stays ``"ill-disposed"``), and the result is stripped.
* An event goes after the last word whose midpoint is strictly before the event's midpoint;
  an event whose midpoint is not after any word's midpoint leads the text, one after every
  word closes it. Each tag is written as a space and ``[label]`` right after that word, so
  the next word keeps its own spacing. Events in one gap keep time order (midpoint, then
  start, then label); a label already written in that gap is not written again, so
  ``[laugh] [laugh]`` with no word between comes out once.
* ``Mark.ELONGATED`` replaces the word's trailing punctuation with ``...``
  (``"so,"`` → ``"so..."``, ``"so"`` → ``"so..."``). ``Mark.EMPHASIS`` puts asterisks around
  the word's letters, punctuation outside (``"really,"`` → ``"*really*,"``,
  ``"-disposed"`` → ``"-*disposed*"``). Both together give ``"*so*..."``. A word with no
  letter or digit (a lone ``"-"``) is never decorated.

:func:`strip_inline` removes every ``[...]`` tag with the space before it and the asterisks
around emphasised words. Ellipses stay: they are ordinary punctuation (Whisper writes
``" so..."`` itself), and the punctuation an elongation replaced cannot be recovered. So
``strip_inline(inline_text(words, events, marks))`` equals ``inline_text(words)`` whenever no
word is elongated, and ``inline_text(words, marks=elongated_only)`` in general.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from engines.base import AudioTag, Word
from engines.tagging.prosody import Mark

ELLIPSIS = "..."
"""What an elongated word's trailing punctuation becomes."""

_CORE = re.compile(r"^(\s*)(.*?)([^\W_](?:.*[^\W_])?)(.*)$", re.DOTALL)
"""Split a word: leading space, leading punctuation, letters-to-letters core, trailing rest."""

_TAG = re.compile(r" ?\[[^\[\]]+\]")
_EMPHASIS = re.compile(r"\*([^\s*](?:[^*]*[^\s*])?)\*")


def inline_text(
    words: Sequence[Word],
    events: Sequence[AudioTag] = (),
    marks: Sequence[Mark] | None = None,
) -> str:
    """Join words into one line with events as ``[label]`` tags and prosody marks applied.

    Args:
        words: Timed words in time order, texts as Whisper spells them (leading spaces).
        events: Non-speech events on the same timeline, any order; ``label`` is the bare
            tag name (``"laugh"``).
        marks: One mark per word, or None for no marks.

    Returns:
        The decorated text, stripped (see the module docstring for the placement rule).

    Raises:
        ValueError: ``marks`` is given and its length differs from ``words``.
    """
    if marks is not None and len(marks) != len(words):
        raise ValueError(f"{len(marks)} marks for {len(words)} words")
    gaps: list[list[AudioTag]] = [[] for _ in range(len(words) + 1)]
    midpoints = [(w.start + w.end) / 2 for w in words]
    for event in sorted(events, key=lambda e: ((e.start + e.end) / 2, e.start, e.label)):
        middle = (event.start + event.end) / 2
        gaps[sum(1 for m in midpoints if m < middle)].append(event)
    parts = [_tags(gaps[0])]
    for index, word in enumerate(words):
        parts.append(decorate(word.text, marks[index] if marks is not None else Mark.NONE))
        parts.append(_tags(gaps[index + 1]))
    return "".join(parts).strip()


def decorate(text: str, mark: Mark) -> str:
    """Apply one word's marks to its text, keeping its leading space and outer punctuation.

    Args:
        text: The word as Whisper spells it (``" really,"``).
        mark: Its prosody marks.

    Returns:
        The decorated word (``" *really*,"``); the text unchanged for ``Mark.NONE`` or a word
        without letters or digits.
    """
    parts = _CORE.match(text)
    if mark == Mark.NONE or parts is None:
        return text
    space, lead, core, trail = parts.groups()
    if Mark.EMPHASIS in mark:
        core = f"*{core}*"
    if Mark.ELONGATED in mark:
        trail = ELLIPSIS
    return f"{space}{lead}{core}{trail}"


def strip_inline(text: str) -> str:
    """Remove ``[label]`` tags and emphasis asterisks from an inline transcript.

    Args:
        text: Text produced by :func:`inline_text`.

    Returns:
        The plain text, stripped; ellipses are kept.
    """
    return _EMPHASIS.sub(r"\1", _TAG.sub("", text)).strip()


def _tags(events: Sequence[AudioTag]) -> str:
    """The tags of one gap, each label once, each with a leading space."""
    labels = dict.fromkeys(event.label for event in events)
    return "".join(f" [{label}]" for label in labels)
