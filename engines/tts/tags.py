"""VUI-style inline tags in text to speak (``[laugh]``, ``[breath]``, ``<pause/>``…).

A tag is one lowercase word (letters, ``_`` or ``-``) in square brackets (``[pause]``) or
angle brackets (``<pause>``, ``<pause/>``). Anything else in brackets is ordinary text and is
spoken as written: ``[Proper Nouns]``, ``a[1]``, ``[two words]``.

An engine voices the tags it declares it can (its ``voiced_tags``); every other tag is
rendered from this table and is never read aloud:

* ``pause``: 500 ms of silence; ``long_pause`` 1000 ms, ``short_pause`` 250 ms (also spelled
  ``long-pause``, ``short-pause``).
* ``breath``, ``inhale``, ``exhale``: a 250 ms gap (silence).
* ``hesitate``, ``hesitation``, ``sigh``: a 300 ms gap.
* ``laugh``, ``laughs``, ``laughter``, ``chuckle``, ``giggle``, ``cough``, ``sniff``,
  ``clear_throat``, ``gasp``, ``groan``, ``yawn``, ``sneeze``, ``cry``: nothing (dropped).
* any other tag: nothing (dropped).

A gap splits the text around it (the words before it are synthesised first, then the
silence, then the rest); a dropped tag does not, so ``Well [laugh] that is funny`` stays one
sentence. Gaps are exact sample counts at the engine's rate and do not scale with speed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

_TAG_BODY = r"\[(?P<sq>[a-z][a-z_-]*)\]|<(?P<ang>[a-z][a-z_-]*)\s*/?>"
_TAG = re.compile(_TAG_BODY)
_TAG_WITH_SPACE = re.compile(rf"\s*(?:{_TAG_BODY})\s*")

PAUSE_MS = 500
"""Silence rendered for ``[pause]``."""

BREATH_MS = 250
"""Gap rendered for ``[breath]`` (and ``inhale``/``exhale``)."""

HESITATE_MS = 300
"""Gap rendered for ``[hesitate]``/``[hesitation]`` and ``[sigh]``."""

_DROPPED = (
    "laugh",
    "laughs",
    "laughter",
    "chuckle",
    "giggle",
    "cough",
    "sniff",
    "clear_throat",
    "gasp",
    "groan",
    "yawn",
    "sneeze",
    "cry",
)

TAG_SILENCE_MS: Mapping[str, int] = MappingProxyType(
    {
        "pause": PAUSE_MS,
        "long_pause": 2 * PAUSE_MS,
        "long-pause": 2 * PAUSE_MS,
        "short_pause": PAUSE_MS // 2,
        "short-pause": PAUSE_MS // 2,
        "breath": BREATH_MS,
        "inhale": BREATH_MS,
        "exhale": BREATH_MS,
        "hesitate": HESITATE_MS,
        "hesitation": HESITATE_MS,
        "sigh": HESITATE_MS,
        **dict.fromkeys(_DROPPED, 0),
    }
)
"""Milliseconds of silence each known tag renders as, for engines that can't voice it.

Tags not listed render as nothing (0 ms). See the module docstring for the table.
"""


@dataclass(frozen=True, slots=True)
class Tag:
    """An inline tag found in text.

    Attributes:
        name: The tag word, e.g. ``"pause"``.
        raw: The tag as written, e.g. ``"[pause]"`` or ``"<pause/>"``.
    """

    name: str
    raw: str

    @property
    def silence_ms(self) -> int:
        """Milliseconds of silence this tag renders as when not voiced (0: nothing)."""
        return TAG_SILENCE_MS.get(self.name, 0)


@dataclass(frozen=True, slots=True)
class Silence:
    """A gap in the speech plan, rendered as digital silence.

    Attributes:
        ms: Length in milliseconds (> 0).
        tag: The tag it stands for.
    """

    ms: int
    tag: str

    def samples(self, sample_rate: int) -> int:
        """Length in samples at ``sample_rate`` (rounded to the nearest sample)."""
        return round(self.ms * sample_rate / 1000)


Segment = str | Tag
"""A piece of parsed text: plain text or a tag."""

_LEADING_PUNCTUATION = ".,;:!?… "

Step = str | Silence
"""A step of a speech plan: text to synthesise, or a silence to insert."""


def parse(text: str) -> list[Segment]:
    """Split text into plain-text pieces and tags, in order.

    Text pieces are returned as written (whitespace included) and are never empty;
    concatenating the pieces and the tags' ``raw`` gives back ``text``.

    Args:
        text: Text with optional inline tags.

    Returns:
        The segments in order.
    """
    segments: list[Segment] = []
    pos = 0
    for match in _TAG.finditer(text):
        if match.start() > pos:
            segments.append(text[pos : match.start()])
        segments.append(Tag(match["sq"] or match["ang"], match.group(0)))
        pos = match.end()
    if pos < len(text):
        segments.append(text[pos:])
    return segments


def plan_speech(text: str, voiced_tags: frozenset[str] = frozenset()) -> list[Step]:
    """Turn tagged text into what an engine should do, in order.

    Tags in ``voiced_tags`` stay inline (as written) for the engine to render. Other tags
    with a silence in :data:`TAG_SILENCE_MS` become a :class:`Silence` step that splits
    the text; the rest are dropped without splitting it. Text steps are stripped, have
    runs of whitespace collapsed and leading punctuation removed (``"[pause]. Next"``
    speaks ``"Next"``), and are left out when they hold no letter or digit: a lone ``"."``
    between two tags would only be noise.

    Args:
        text: Text with optional inline tags.
        voiced_tags: Tag names the engine renders itself.

    Returns:
        Text and silence steps, in order; empty when there is nothing to say.
    """
    steps: list[Step] = []
    words: list[str] = []

    def flush() -> None:
        piece = " ".join("".join(words).split()).lstrip(_LEADING_PUNCTUATION)
        words.clear()
        if any(ch.isalnum() for ch in piece):
            steps.append(piece)

    for segment in parse(text):
        if isinstance(segment, str):
            words.append(segment)
        elif segment.name in voiced_tags:
            words.append(segment.raw)
        elif segment.silence_ms > 0:
            flush()
            steps.append(Silence(segment.silence_ms, segment.name))
        else:
            words.append(" ")
    flush()
    return steps


def strip_tags(text: str) -> str:
    """Remove inline tags, keeping one space where a tag separated words."""
    return re.sub(r"\s{2,}", " ", _TAG_WITH_SPACE.sub(" ", text)).strip()
