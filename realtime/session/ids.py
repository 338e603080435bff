"""Identifier factories: injected into the session so tests get deterministic ids.

Ids look like OpenAI's: a prefix (``event``, ``item``, ``resp``, ``sess``, ``conv``) and
21 base62 characters, e.g. ``event_C9G5RJeJ2gF77mV7f2B1j``.
"""

from __future__ import annotations

import itertools
import secrets
import string
from typing import Protocol

_ALPHABET = string.digits + string.ascii_letters


class IdFactory(Protocol):
    """Makes a fresh id with a prefix."""

    def __call__(self, prefix: str) -> str:
        """Return a new id starting with ``prefix_``."""
        ...


def random_ids(prefix: str) -> str:
    """A random id (production): ``prefix_`` + 21 base62 characters."""
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(21))


class SequentialIds:
    """Deterministic ids for tests: ``event_0001``, ``item_0002``, … (one counter for all)."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def __call__(self, prefix: str) -> str:
        """Return ``prefix_NNNN``."""
        return f"{prefix}_{next(self._counter):04d}"
