"""Responders: where a response's words come from.

A responder turns a :class:`~realtime.session.replies.ReplyRequest` (a snapshot of the
conversation) into a stream of reply parts. :data:`RESPONDERS` maps each name the
``responder`` setting accepts to its factory; :mod:`~realtime.responders.scripted` holds
``say`` and ``echo``.
"""

from __future__ import annotations

from collections.abc import Callable

from realtime.responders.base import Responder
from realtime.responders.scripted import EchoResponder, SayResponder

RESPONDERS: dict[str, Callable[[], Responder]] = {
    "say": SayResponder,
    "echo": EchoResponder,
}
"""Responder name → factory (one entry per responder)."""


def responder_factory(name: str) -> Callable[[], Responder]:
    """The factory of the responder ``name`` names.

    Raises:
        ValueError: an unknown name (the message lists the choices).
    """
    factory = RESPONDERS.get(name)
    if factory is None:
        raise ValueError(f"unknown responder {name!r}: use one of {', '.join(RESPONDERS)}")
    return factory


def create_responder(name: str) -> Responder:
    """A new responder ``name`` names. Raises ValueError for an unknown name."""
    return responder_factory(name)()


__all__ = ["RESPONDERS", "Responder", "create_responder", "responder_factory"]
