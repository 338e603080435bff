"""How a streamed reply's text is cut into the pieces the speech engine speaks one by one.

A reply given in one piece is spoken in one piece. A streamed one (two deltas or more) is
spoken sentence by sentence as each sentence completes, except its first piece: a clause
(up to a comma, semicolon or colon) of at least :data:`FIRST_CLAUSE_WORDS` words goes as
soon as it is complete, so speech starts before the first sentence ends. The session cuts
a response's text with :class:`SpeechPieces`; the runner uses the same cut to synthesise
an early reply's first piece before its response exists.

Why: docs/decisions/conversations.md
"""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
_CLAUSE_END = re.compile(r"(?<=[,;:])\s+")
FIRST_CLAUSE_WORDS = 4
"""Words a first clause needs to be spoken on its own."""


class SpeechPieces:
    """The text of one reply not yet spoken, and the pieces ready to speak.

    Attributes:
        unspoken: Text received and not yet handed out as a piece.
        started: A piece was handed out.
    """

    def __init__(self) -> None:
        self.unspoken = ""
        self.started = False
        self._deltas = 0

    def add(self, text: str) -> list[str]:
        """Add a text delta; the pieces now ready, in order (leading blanks never count)."""
        if self._deltas == 0:
            text = text.lstrip()
            if not text:
                return []
        self.unspoken += text
        self._deltas += 1
        if self._deltas < 2:  # one delta so far: it may be the whole reply
            return []
        pieces = self._ready()
        self.started = self.started or bool(pieces)
        return pieces

    def rest(self) -> str:
        """Take what is left (the reply ended): the last piece, possibly empty."""
        rest, self.unspoken = self.unspoken, ""
        return rest

    def _ready(self) -> list[str]:
        *ready, self.unspoken = _SENTENCE_END.split(self.unspoken)
        if ready or self.started:
            return ready
        for end in _CLAUSE_END.finditer(self.unspoken):
            clause = self.unspoken[: end.start()]
            if len(clause.split()) >= FIRST_CLAUSE_WORDS:
                self.unspoken = self.unspoken[end.end() :]
                return [clause]
        return []
