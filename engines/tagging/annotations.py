"""Reading Whisper's verbatim output: annotations, written laughter and fillers.

With :attr:`ASROptions.verbatim <engines.base.ASROptions.verbatim>` Whisper writes more than
words (``reference/models.md`` §3):

* **annotations**: ``[Laughter]``, ``(coughing)``, ``[Sigh]``, ``*sniff*``, ``♪``,
  ``[sound of monkeys screaming]`` (one annotation may span several word tokens);
* **written laughter**: ``Ha-ha-ha``, ``hahaha``, ``hehe`` (tokens ``" Ha"``, ``"-ha"``…);
* **fillers**: ``um``, ``umm...``, ``uh``, ``er``, ``hmm``.

:func:`read_words` splits a word sequence into those kinds, without judging them: whether an
annotation or a laugh is believed is decided against the audio in
:mod:`engines.tagging.events`. Pure functions, no state.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass

from engines.base import Word

ANNOTATION_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("laugh", ("laugh", "chuckl", "giggl", "snicker", "chortl")),
    ("cough", ("cough", "throat")),
    ("sigh", ("sigh",)),
    ("sniff", ("sniff", "sneez", "snif")),
    ("breath", ("breath", "inhal", "exhal", "gasp", "pant")),
    ("tut", ("tut", "tsk", "click", "smack", "lip")),
    ("hesitation", ("hesitat", "stammer", "stutter")),
    (
        "env",
        (
            "music", "♪", "applause", "clap", "cheer", "noise", "beep", "bell", "ring",
            "phone", "bark", "dog", "animal", "monkey", "bird", "door", "knock", "static",
            "wind", "rain", "engine", "traffic", "siren", "alarm", "footstep", "crowd",
            "scream", "thunder", "buzz", "bang", "crash",
        ),
    ),
)  # fmt: skip
"""Annotation text → tag, first match wins (so ``(laughing and clapping)`` is a laugh).

Matching is on lower-cased substrings. An annotation that matches nothing (``[BLANK_AUDIO]``,
``(inaudible)``, ``[silence]``) maps to no tag: it is removed and gives no event."""

FILLERS: frozenset[str] = frozenset(
    {"um", "umm", "ummm", "uh", "uhh", "uhm", "er", "erm", "hmm", "hm", "mm", "mhm", "ah"}
)
"""Filler words (normalised: lower-case, letters only). They are kept verbatim."""

_OPEN_CLOSE = {"[": "]", "(": ")", "*": "*"}
_LAUGH_TOKEN = re.compile(r"(?:ha|he|hah|heh|hee)+")
_LAUGH_SYLLABLE = re.compile(r"h+[aei]+")


class Kind(enum.Enum):
    """What a word of Whisper's output is."""

    WORD = "word"
    FILLER = "filler"
    LAUGH = "laugh"
    ANNOTATION = "annotation"


@dataclass(frozen=True, slots=True)
class Piece:
    """A run of consecutive words of one kind.

    Attributes:
        kind: What the words are.
        words: The words, in order (one for ``WORD`` and ``FILLER``).
        tag: For an annotation, the tag its text names (None when it names none); for
            written laughter ``"laugh"``; else None.
    """

    kind: Kind
    words: tuple[Word, ...]
    tag: str | None = None

    @property
    def start(self) -> float:
        """Start of the first word, in seconds."""
        return self.words[0].start

    @property
    def end(self) -> float:
        """End of the last word, in seconds."""
        return self.words[-1].end

    @property
    def text(self) -> str:
        """The words' text joined, stripped."""
        return "".join(w.text for w in self.words).strip()


def letters(text: str) -> str:
    """Lower-case ``text`` and keep its letters only (``" Umm..."`` → ``"umm"``)."""
    return "".join(c for c in text.lower() if c.isalpha())


def is_filler(text: str) -> bool:
    """True when a word is a filler (:data:`FILLERS`, any spelling ``"Um,"``, ``"uh..."``)."""
    return letters(text) in FILLERS


def annotation_tag(text: str) -> str | None:
    """The tag an annotation names (see :data:`ANNOTATION_KEYWORDS`), or None."""
    low = text.lower()
    for tag, keys in ANNOTATION_KEYWORDS:
        if any(k in low for k in keys):
            return tag
    return None


def _is_laugh_token(text: str) -> bool:
    return bool(_LAUGH_TOKEN.fullmatch(letters(text)))


def _laugh_syllables(words: Sequence[Word]) -> int:
    """Syllables of written laughter: ``"Ha"`` 1, ``"hah"`` 1, ``"HAHA"`` 2, ``"hehehe"`` 3."""
    return sum(len(_LAUGH_SYLLABLE.findall(letters(w.text))) for w in words)


def _annotation_end(words: Sequence[Word], i: int) -> int | None:
    """Index one past the annotation starting at ``words[i]``, or None if none starts there."""
    text = words[i].text.strip()
    if text.startswith("♪"):
        return i + 1
    close = _OPEN_CLOSE.get(text[:1])
    if close is None:
        return None
    rest = text[1:]
    for j in range(i, len(words)):
        piece = rest if j == i else words[j].text
        if close in piece:
            return j + 1
    return None  # never closed: an unbalanced bracket is not an annotation


def read_words(words: Sequence[Word]) -> list[Piece]:
    """Split Whisper's words into words, fillers, written laughter and annotations.

    Args:
        words: Whisper's words in time order (texts with their leading spaces).

    Returns:
        Pieces covering every word exactly once, in order. Consecutive laugh tokens form
        one ``LAUGH`` piece when they hold at least two syllables (``"Ha-ha"``,
        ``"hahaha"``); a lone ``"Ha!"`` stays a ``WORD``. Brackets, parentheses and
        asterisks that open a word and close in the same or a later word make one
        ``ANNOTATION`` piece; so does a ``♪`` word.
    """
    pieces: list[Piece] = []
    i = 0
    while i < len(words):
        end = _annotation_end(words, i)
        if end is not None:
            run = tuple(words[i:end])
            text = "".join(w.text for w in run)
            pieces.append(Piece(Kind.ANNOTATION, run, annotation_tag(text)))
            i = end
            continue
        j = i
        while j < len(words) and _is_laugh_token(words[j].text):
            j += 1
        if j > i and _laugh_syllables(words[i:j]) >= 2:
            pieces.append(Piece(Kind.LAUGH, tuple(words[i:j]), "laugh"))
            i = j
            continue
        kind = Kind.FILLER if is_filler(words[i].text) else Kind.WORD
        pieces.append(Piece(kind, (words[i],)))
        i += 1
    return pieces
