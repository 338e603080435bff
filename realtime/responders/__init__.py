"""Responders: where a response's words come from.

A responder turns a :class:`~realtime.session.replies.ReplyRequest` (a snapshot of the
conversation) into a stream of reply parts. :data:`RESPONDERS` maps each name the
``responder`` setting accepts to its factory: ``llm`` (:mod:`~realtime.responders.llm`, a
language model), ``say`` and ``echo`` (:mod:`~realtime.responders.scripted`). ``auto``
means ``llm`` when the app has a language model, else ``say``.
"""

from __future__ import annotations

from collections.abc import Callable

from realtime.responders.base import Responder
from realtime.responders.chat_backends import ChatBackend
from realtime.responders.llm import LLMResponder
from realtime.responders.scripted import EchoResponder, SayResponder

NO_LLM = (
    "the llm responder needs a language model: set VOXGATE_LLM_BASE_URL (an OpenAI-compatible "
    "endpoint), or install the embedded one with `make install`"
)


def _llm(chat: ChatBackend | None) -> Responder:
    if chat is None:
        raise ValueError(NO_LLM)
    return LLMResponder(chat)


RESPONDERS: dict[str, Callable[[ChatBackend | None], Responder]] = {
    "llm": _llm,
    "say": lambda chat: SayResponder(),
    "echo": lambda chat: EchoResponder(),
}
"""Responder name → factory, given the app's chat backend (None: no language model)."""

AUTO = "auto"
"""The ``responder`` setting's default: ``llm`` with a language model, else ``say``."""


def check_responder_name(name: str) -> str:
    """``name`` if the ``responder`` setting accepts it.

    Raises:
        ValueError: an unknown name (the message lists the choices).
    """
    if name != AUTO and name not in RESPONDERS:
        choices = ", ".join([AUTO, *RESPONDERS])
        raise ValueError(f"unknown responder {name!r}: use one of {choices}")
    return name


def resolve_responder(name: str, chat: ChatBackend | None) -> str:
    """The responder ``name`` stands for, given the app's chat backend (``auto`` resolved)."""
    if name == AUTO:
        return "llm" if chat is not None else "say"
    return check_responder_name(name)


def create_responder(name: str, chat: ChatBackend | None = None) -> Responder:
    """A new responder ``name`` names (``auto`` resolved against ``chat``).

    Raises:
        ValueError: an unknown name, or ``llm`` without a chat backend.
    """
    return RESPONDERS[resolve_responder(name, chat)](chat)


__all__ = [
    "AUTO",
    "RESPONDERS",
    "Responder",
    "check_responder_name",
    "create_responder",
    "resolve_responder",
]
