"""Parse client events and dump server events, in either dialect.

The one way in is :func:`parse_client_event`; the one way out is
:func:`dump_server_event`. Both are pure and thread-safe (the module-level
``TypeAdapter`` objects are immutable). The dialect is chosen once per connection
(:meth:`Dialect.from_handshake`); beta shapes go through the translation tables of
:mod:`protocol.beta` and nowhere else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from pydantic import TypeAdapter, ValidationError

from protocol import beta
from protocol._base import MAX_EVENT_ID_LENGTH
from protocol.client_events import CLIENT_EVENT_TYPES, ClientEvent
from protocol.errors import ErrorCode, InvalidEvent
from protocol.server_events import ServerEvent
from protocol.session import SessionConfig

__all__ = [
    "BETA_HEADER_VALUE",
    "BETA_SUBPROTOCOL",
    "Dialect",
    "dump_client_event",
    "dump_server_event",
    "parse_client_event",
    "parse_server_event",
    "parse_session_config",
]

_CLIENT: TypeAdapter[ClientEvent] = TypeAdapter(ClientEvent)
_SERVER: TypeAdapter[ServerEvent] = TypeAdapter(ServerEvent)
_SESSION: TypeAdapter[SessionConfig] = TypeAdapter(SessionConfig)

BETA_HEADER_VALUE = "realtime=v1"
"""``OpenAI-Beta`` header value that selects the beta dialect."""
BETA_SUBPROTOCOL = "openai-beta.realtime-v1"
"""WebSocket subprotocol that selects the beta dialect (browsers cannot set headers)."""


class Dialect(StrEnum):
    """Which shape of the protocol a connection speaks. GA is the default."""

    GA = "ga"
    """``gpt-realtime`` shapes: nested session, ``response.output_audio.*`` …"""
    BETA = "beta"
    """Legacy ``realtime=v1`` shapes: flat session, ``response.audio.*`` …"""

    @classmethod
    def from_handshake(
        cls, openai_beta_header: str | None = None, subprotocols: Iterable[str] = ()
    ) -> Dialect:
        """The dialect a client asked for at connect time (reference §2.3).

        Args:
            openai_beta_header: The ``OpenAI-Beta`` request header, if any (may list
                several comma-separated values).
            subprotocols: The WebSocket subprotocols the client offered.

        Returns:
            :attr:`BETA` iff the header contains ``realtime=v1`` or the subprotocol
            ``openai-beta.realtime-v1`` was offered; otherwise :attr:`GA`.
        """
        values = {v.strip() for v in (openai_beta_header or "").split(",")}
        if BETA_HEADER_VALUE in values or BETA_SUBPROTOCOL in subprotocols:
            return cls.BETA
        return cls.GA


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _decode(data: str | bytes) -> Any:
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InvalidEvent(
            f"The event is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}.",
            code=ErrorCode.INVALID_JSON,
        ) from None
    except (ValueError, RecursionError, TypeError):
        raise InvalidEvent(
            "The event is not valid JSON (encoding, nesting or number out of range).",
            code=ErrorCode.INVALID_JSON,
        ) from None


def _recover_event_id(payload: dict[str, Any]) -> str | None:
    event_id = payload.get("event_id")
    if (
        isinstance(event_id, str)
        and len(event_id) <= MAX_EVENT_ID_LENGTH
        and not _has_surrogate(event_id)
    ):
        return event_id
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_surrogate(text: str) -> bool:
    """Whether ``text`` holds a lone UTF-16 surrogate (which UTF-8 cannot encode)."""
    return not text.isascii() and _SURROGATE.search(text) is not None


MAX_NESTING_DEPTH = 100
"""Deepest nesting of arrays and objects accepted in a client event. Free-form fields
(``tools[].parameters``, ``tracing.metadata``, ``prompt.variables``) are echoed back in
``session.updated``, and pydantic refuses to serialise much deeper than 250 levels."""


def _unsendable(value: object) -> tuple[str, str] | None:
    r"""Find what in a decoded payload could not be sent back to the client.

    Two things parse as JSON but break any reply that echoes them: a string (or key)
    holding an unpaired surrogate (``json`` decodes ``"\ud800"`` to a Python string that
    UTF-8 cannot encode) and nesting deeper than :data:`MAX_NESTING_DEPTH`. Both are
    refused at the door. Iterative, so nesting as deep as ``json`` accepts cannot exhaust
    the stack.

    Returns:
        ``(path, problem)`` for the first offender, or ``None``.
    """
    stack: list[tuple[object, tuple[str, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            if _has_surrogate(node):
                return _join(path), "text holds an unpaired UTF-16 surrogate escape"
            continue
        if not isinstance(node, dict | list):
            continue
        if len(path) >= MAX_NESTING_DEPTH:
            return _join(path[:1]), f"nested deeper than {MAX_NESTING_DEPTH} levels"
        if isinstance(node, dict):
            for key, child in node.items():
                if _has_surrogate(key):  # the key itself cannot be quoted back
                    return _join(path), "a key holds an unpaired UTF-16 surrogate escape"
                stack.append((child, (*path, f".{key}")))
        else:
            stack.extend((child, (*path, f"[{i}]")) for i, child in enumerate(node))
    return None


def _join(path: tuple[str, ...]) -> str:
    return "".join(path).removeprefix(".")


def _reject_unsendable(payload: object, event_id: str | None = None) -> None:
    found = _unsendable(payload)
    if found is not None:
        path, problem = found
        where = f"'{path}'" if path else "the event"
        raise InvalidEvent(
            f"Invalid value for {where}: {problem}.",
            code=ErrorCode.INVALID_VALUE,
            param=path or None,
            event_id=event_id,
        )


def _supported_types() -> str:
    names = CLIENT_EVENT_TYPES | beta.BETA_CLIENT_EVENT_TYPES
    return ", ".join(f"'{name}'" for name in sorted(names))


def parse_client_event(data: str | bytes, dialect: Dialect = Dialect.GA) -> ClientEvent:
    """Parse one WebSocket message from a client into a typed GA event.

    Unknown fields are ignored at every level; types are strict (``"5"`` is not a number).
    Beta shapes are translated (see :mod:`protocol.beta`); a GA connection also accepts
    beta-only keys in a type-less session and ``transcription_session.update``.

    Args:
        data: The text (or binary) frame, one JSON object.
        dialect: The connection's dialect.

    Returns:
        The event, always GA-shaped (``transcription_session.update`` arrives as a
        :class:`~protocol.client_events.SessionUpdate` with a transcription session).

    Raises:
        InvalidEvent: Anything else. ``code`` is ``invalid_json`` (not JSON),
            ``invalid_event`` (not an object, or no ``type``), ``invalid_value`` (unknown
            ``type``, wrong field type, value outside its enumeration),
            ``missing_required_parameter`` or a range code such as
            ``decimal_above_max_value``; ``param`` is the offending field's path and
            ``event_id`` the client's own, recovered whenever it is a valid string.
    """
    payload = _decode(data)
    if not isinstance(payload, dict):
        raise InvalidEvent(
            "The event must be a JSON object.",
            code=ErrorCode.INVALID_EVENT,
        )
    event_id = _recover_event_id(payload)
    _reject_unsendable(payload, event_id)
    if "type" not in payload:
        raise InvalidEvent(
            "The 'type' field is missing.", code=ErrorCode.INVALID_EVENT, event_id=event_id
        )
    kind = payload["type"]
    if not isinstance(kind, str):
        raise InvalidEvent(
            "Invalid type for 'type': expected a string.",
            code=ErrorCode.INVALID_VALUE,
            param="type",
            event_id=event_id,
        )
    if kind not in CLIENT_EVENT_TYPES and kind not in beta.BETA_CLIENT_EVENT_TYPES:
        raise InvalidEvent(
            f"Invalid value: '{kind[:64]}'. Supported values are: {_supported_types()}.",
            code=ErrorCode.INVALID_VALUE,
            param="type",
            event_id=event_id,
        )
    try:
        ga = beta.client_event_to_ga(payload, beta=dialect is Dialect.BETA)
        return _CLIENT.validate_python(ga)
    except InvalidEvent as exc:
        raise exc.with_event_id(event_id) from None
    except ValidationError as exc:
        raise InvalidEvent.from_validation_error(exc, ga, event_id=event_id) from None


def parse_session_config(data: object, dialect: Dialect = Dialect.GA) -> SessionConfig:
    """Validate a session object outside an event (e.g. a client secret's ``session``).

    Args:
        data: The decoded JSON session object (GA, or beta-flat for :attr:`Dialect.BETA`).
        dialect: How to read a session without ``type``.

    Returns:
        The session, partial like a ``session.update``'s (``model_fields_set`` tells).

    Raises:
        InvalidEvent: As :func:`parse_client_event`, with ``param`` relative to
            ``session``.
    """
    event = {"type": "session.update", "session": data}
    _reject_unsendable(data)
    try:
        ga = beta.client_event_to_ga(event, beta=dialect is Dialect.BETA)
        return _SESSION.validate_python(ga["session"])
    except InvalidEvent as exc:
        param = exc.param.removeprefix("session.") if exc.param else None
        raise InvalidEvent(exc.message, code=exc.code, param=param) from None
    except ValidationError as exc:
        raise InvalidEvent.from_validation_error(exc, ga["session"]) from None


def dump_server_event(event: ServerEvent, dialect: Dialect = Dialect.GA) -> str | None:
    """Serialise one server event for the wire.

    Explicit ``None`` fields are sent as ``null`` (no global ``exclude_none``).

    Args:
        event: A server event (GA model, as the session produces them).
        dialect: The connection's dialect.

    Returns:
        Compact JSON text, or ``None`` when the event has no counterpart in ``dialect``
        (beta: ``conversation.item.done``, ``input_audio_buffer.timeout_triggered``); the
        caller then sends nothing.
    """
    if dialect is Dialect.GA:
        return event.model_dump_json()
    translated = beta.server_event_to_beta(event.model_dump(mode="json"))
    if translated is None:
        return None
    return json.dumps(translated, separators=(",", ":"), ensure_ascii=False)


def parse_server_event(data: str | bytes) -> ServerEvent:
    """Parse a GA server event, as voxgate's own clients (CLI, benchmarks, tests) need.

    Args:
        data: One JSON server event in the GA dialect.

    Returns:
        The typed event.

    Raises:
        pydantic.ValidationError: ``data`` is not a valid GA server event.
    """
    return _SERVER.validate_json(data)


def dump_client_event(event: ClientEvent) -> str:
    """Serialise a client event (GA) as a client would send it: only the fields it set.

    Args:
        event: A client event model.

    Returns:
        Compact JSON; fields left at their defaults are omitted, explicit ``None`` kept
        (``turn_detection: null`` turns VAD off).
    """
    return event.model_dump_json(exclude_unset=True)
