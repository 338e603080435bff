"""Protocol errors: the ``error`` object, its type and code constants, and :class:`InvalidEvent`.

The wire shape (reference §11; openai-python ``realtime_error.py``)::

    {"type": "error", "event_id": "event_890",
     "error": {"type": "invalid_request_error", "code": "invalid_event",
               "message": "The 'type' field is missing.", "param": null,
               "event_id": "event_567"}}

``type`` and ``message`` are required; ``code``, ``param`` and ``event_id`` (the *client*
event that failed) are sent as explicit nulls when unknown. Codes are the ones OpenAI
sends, so client special cases (``response_cancel_not_active`` ignored,
``conversation_already_has_active_response`` retried, …) keep working against voxgate.

:class:`InvalidEvent` is what :func:`protocol.codec.parse_client_event` raises for any
message it cannot turn into a typed event. Its message quotes only the client's own input
and the field path, never our internals. Client mistakes are recoverable: the session
replies with an ``error`` event and stays open.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from protocol._base import MAX_EVENT_ID_LENGTH, EventModel

__all__ = ["MAX_EVENT_ID_LENGTH", "ErrorCode", "ErrorDetail", "ErrorType", "InvalidEvent"]


class ErrorType(StrEnum):
    """Values of ``error.type``."""

    INVALID_REQUEST = "invalid_request_error"
    """The client sent something wrong; the session stays open."""
    SERVER = "server_error"
    """Our fault; the message is generic and details go to the logs only."""
    TRANSCRIPTION = "transcription_error"
    """In ``conversation.item.input_audio_transcription.failed`` (item-scoped)."""


class ErrorCode(StrEnum):
    """Values of ``error.code`` that OpenAI sends (reference §11) plus our parser's own."""

    INVALID_EVENT = "invalid_event"
    """Not an event: not a JSON object, or no ``type`` ("The 'type' field is missing.")."""
    INVALID_JSON = "invalid_json"
    """The text frame is not JSON (voxgate's code; OpenAI's is not documented)."""
    INVALID_VALUE = "invalid_value"
    """A field has the wrong type or a value outside its enumeration (also: unknown ``type``)."""
    MISSING_REQUIRED_PARAMETER = "missing_required_parameter"
    """A required field is absent, e.g. ``session.type`` in a GA ``session.update``."""
    UNKNOWN_PARAMETER = "unknown_parameter"
    """A field we refuse (the parser ignores unknown fields; the session may refuse some)."""
    DECIMAL_ABOVE_MAX_VALUE = "decimal_above_max_value"
    """A number above its maximum (e.g. ``threshold`` > 1)."""
    DECIMAL_BELOW_MIN_VALUE = "decimal_below_min_value"
    """A number below its minimum (e.g. ``speed`` < 0.25)."""
    INTEGER_ABOVE_MAX_VALUE = "integer_above_max_value"
    """An integer above its maximum (e.g. ``max_output_tokens`` > 4096)."""
    INTEGER_BELOW_MIN_VALUE = "integer_below_min_value"
    """An integer below its minimum (e.g. a negative ``audio_end_ms``)."""
    STRING_ABOVE_MAX_LENGTH = "string_above_max_length"
    """A string too long (e.g. an ``event_id`` over 512 characters)."""
    ARRAY_ABOVE_MAX_LENGTH = "array_above_max_length"
    """A list too long."""
    INPUT_AUDIO_BUFFER_COMMIT_EMPTY = "input_audio_buffer_commit_empty"
    """``input_audio_buffer.commit`` with less than 100 ms of audio."""
    CONVERSATION_ALREADY_HAS_ACTIVE_RESPONSE = "conversation_already_has_active_response"
    """A second ``response.create`` while one writes to the default conversation."""
    RESPONSE_CANCEL_NOT_ACTIVE = "response_cancel_not_active"
    """``response.cancel`` with nothing to cancel (clients routinely ignore it)."""
    AUDIO_UNINTELLIGIBLE = "audio_unintelligible"
    """Transcription failed for an item (with :attr:`ErrorType.TRANSCRIPTION`)."""
    BETA_API_SHAPE_DISABLED = "beta_api_shape_disabled"
    """What OpenAI answers beta clients since May 2026 (voxgate keeps serving beta)."""
    SESSION_EXPIRED = "session_expired"
    """The session hit its maximum duration (sent before closing with 1001)."""
    EMPTY_RESPONSE = "empty_response"
    """voxgate's: a ``response.create`` left the ``say``/``echo`` responder nothing to say."""


class ErrorDetail(EventModel):
    """The ``error`` object of an ``error`` event.

    All five fields are always serialised; unknown ones are explicit ``null`` as in the
    reference example.
    """

    type: str
    """An :class:`ErrorType` value."""
    code: str | None = None
    """An :class:`ErrorCode` value, or ``None``."""
    message: str
    """Human-readable; never contains internals (paths, tracebacks, engine names)."""
    param: str | None = None
    """Dotted path of the offending field in the client's payload, e.g. ``session.type``."""
    event_id: str | None = None
    """The client's ``event_id`` of the event that failed, when it could be recovered."""


class InvalidEvent(Exception):
    """A client message that is not a valid event; becomes an ``error`` event, session stays open.

    Attributes:
        message: What was wrong, phrased like OpenAI's messages.
        code: An :class:`ErrorCode` value.
        param: Dotted path of the offending field, when known.
        event_id: The client's ``event_id``, recovered from the payload even when the rest
            of it is invalid; ``None`` when absent or itself invalid.
        type: An :class:`ErrorType` value (``invalid_request_error`` unless stated).
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = ErrorCode.INVALID_EVENT,
        param: str | None = None,
        event_id: str | None = None,
        type: str = ErrorType.INVALID_REQUEST,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = None if code is None else str(code)
        self.param = param
        self.event_id = event_id
        self.type = str(type)

    def __repr__(self) -> str:
        return (
            f"InvalidEvent({self.message!r}, code={self.code!r}, param={self.param!r}, "
            f"event_id={self.event_id!r})"
        )

    def detail(self) -> ErrorDetail:
        """The ``error`` object to send back to the client."""
        return ErrorDetail(
            type=self.type,
            code=self.code,
            message=self.message,
            param=self.param,
            event_id=self.event_id,
        )

    def with_event_id(self, event_id: str | None) -> InvalidEvent:
        """A copy correlated with the client event ``event_id`` (for errors raised later).

        Args:
            event_id: The failing client event's ``event_id``.

        Returns:
            A new :class:`InvalidEvent`; this one is unchanged.
        """
        return InvalidEvent(
            self.message, code=self.code, param=self.param, event_id=event_id, type=self.type
        )

    @classmethod
    def from_validation_error(
        cls, exc: ValidationError, payload: object, *, event_id: str | None = None
    ) -> InvalidEvent:
        """Translate pydantic's most specific error into OpenAI's vocabulary.

        Args:
            exc: The validation failure.
            payload: The JSON value that was validated; used to turn pydantic's location
                (which includes union tags) into the client's field path.
            event_id: The client's ``event_id``, if recovered.

        Returns:
            An :class:`InvalidEvent` with ``code``, ``param`` and ``message`` filled in.
        """
        errors = exc.errors(include_url=False)
        # Prefer the error pydantic reached deepest: in a union that is the matching member.
        err = max(errors, key=lambda e: len(e["loc"])) if errors else None
        if err is None:  # pragma: no cover - pydantic always reports at least one error
            return cls("Invalid event.", code=ErrorCode.INVALID_VALUE, event_id=event_id)
        path = _client_path(err["loc"], payload, missing=err["type"] == "missing")
        code, message, param = _describe(err, path)
        return cls(message, code=code, param=param or None, event_id=event_id)


def _client_path(loc: tuple[int | str, ...], payload: object, *, missing: bool) -> str:
    """Map a pydantic location onto the client's payload, dropping union tags.

    Pydantic inserts discriminator tags and union member names into ``loc`` (for example
    ``("session", "realtime", "audio")``). Walking the payload alongside keeps only the
    parts that are real keys or indexes; a final part that is not a key is kept only for a
    *missing* field, whose name is by definition absent.
    """
    parts: list[str] = []
    node: object = payload
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, Mapping) and isinstance(part, str) and part in node:
            parts.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            parts.append(f"[{part}]")
            node = node[part]
        elif last and missing and isinstance(part, str):
            parts.append(part)
        # else: a union tag or member label, not part of the client's payload
    return ".".join(parts).replace(".[", "[")


_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "a boolean",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "list_type": "an array",
    "none_required": "null",
}


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return "a value"  # pragma: no cover - JSON has no other kinds


def _quote(value: object, limit: int = 64) -> str:
    text = value if isinstance(value, str) else repr(value)
    return f"'{text[:limit]}…'" if len(text) > limit else f"'{text}'"


def _describe(err: Any, path: str) -> tuple[ErrorCode, str, str]:
    """``(code, message, param)`` for one pydantic error dict, worded like OpenAI's."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    where = f"'{path}'" if path else "the event"
    if kind == "missing":
        return ErrorCode.MISSING_REQUIRED_PARAMETER, f"Missing required parameter: {where}.", path
    if kind in ("union_tag_not_found", "union_tag_invalid"):
        # The discriminator itself is the offending field: report its own path.
        tag = str(ctx.get("discriminator", "'type'")).strip("'")
        tag_path = f"{path}.{tag}" if path else tag
        if kind == "union_tag_not_found":
            message = f"Missing required parameter: '{tag_path}'."
            return ErrorCode.MISSING_REQUIRED_PARAMETER, message, tag_path
        message = (
            f"Invalid value: {_quote(ctx.get('tag'))}. "
            f"Supported values are: {ctx.get('expected_tags')}."
        )
        return ErrorCode.INVALID_VALUE, message, tag_path
    if kind in ("literal_error", "enum"):
        message = f"Invalid value: {_quote(value)}. Supported values are: {ctx.get('expected')}."
        return ErrorCode.INVALID_VALUE, message, path
    if kind in _BOUNDS:
        above, sign = _BOUNDS[kind]
        bound = next(iter(ctx.values()), "?")
        integer = isinstance(bound, int) and not isinstance(bound, bool)
        code = {
            (True, True): ErrorCode.INTEGER_ABOVE_MAX_VALUE,
            (True, False): ErrorCode.DECIMAL_ABOVE_MAX_VALUE,
            (False, True): ErrorCode.INTEGER_BELOW_MIN_VALUE,
            (False, False): ErrorCode.DECIMAL_BELOW_MIN_VALUE,
        }[(above, integer)]
        noun = "integer" if integer else "decimal"
        direction = "above maximum" if above else "below minimum"
        message = (
            f"Invalid {where}: {noun} {direction} value. "
            f"Expected a value {sign} {bound}, but got {value} instead."
        )
        return code, message, path
    if kind == "string_too_long":
        message = (
            f"Invalid {where}: string too long. Expected a string with maximum length "
            f"{ctx.get('max_length')}, but got a string with length {len(str(value))} instead."
        )
        return ErrorCode.STRING_ABOVE_MAX_LENGTH, message, path
    if kind == "too_long":
        if isinstance(value, Mapping):
            message = f"Invalid {where}: at most {ctx.get('max_length')} keys are allowed."
            return ErrorCode.INVALID_VALUE, message, path
        message = (
            f"Invalid {where}: array too long. Expected an array with maximum length "
            f"{ctx.get('max_length')}."
        )
        return ErrorCode.ARRAY_ABOVE_MAX_LENGTH, message, path
    if kind in _TYPE_NAMES:
        message = (
            f"Invalid type for {where}: expected {_TYPE_NAMES[kind]}, "
            f"but got {_json_kind(value)} instead."
        )
        return ErrorCode.INVALID_VALUE, message, path
    return ErrorCode.INVALID_VALUE, f"Invalid value for {where}.", path


_BOUNDS = {
    "less_than_equal": (True, "<="),
    "less_than": (True, "<"),
    "greater_than_equal": (False, ">="),
    "greater_than": (False, ">"),
}
