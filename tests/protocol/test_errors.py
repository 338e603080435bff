"""Error recovery: every bad message becomes an InvalidEvent with OpenAI's code and param."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import (
    CLIENT_EVENT_TYPES,
    Dialect,
    ErrorCode,
    InvalidEvent,
    SessionUpdate,
    dump_client_event,
    dump_server_event,
    parse_client_event,
)
from protocol.beta import SESSION_FIELDS
from protocol.server_events import ErrorEvent


def _error(data: str | bytes, dialect: Dialect = Dialect.GA) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as info:
        parse_client_event(data, dialect)
    return info.value


def _event(**fields: Any) -> str:
    return json.dumps({"event_id": "evt_42", **fields})


@pytest.mark.parametrize(
    ("data", "code", "param", "event_id"),
    [
        ("{", ErrorCode.INVALID_JSON, None, None),
        ("", ErrorCode.INVALID_JSON, None, None),
        ('{"type": NaN}', ErrorCode.INVALID_JSON, None, None),
        (b"\xff\xfe\x00{", ErrorCode.INVALID_JSON, None, None),
        ("[" * 100_000, ErrorCode.INVALID_JSON, None, None),
        ("[]", ErrorCode.INVALID_EVENT, None, None),
        ('"session.update"', ErrorCode.INVALID_EVENT, None, None),
        ("null", ErrorCode.INVALID_EVENT, None, None),
        (_event(), ErrorCode.INVALID_EVENT, None, "evt_42"),
        (_event(type="session.patch"), ErrorCode.INVALID_VALUE, "type", "evt_42"),
        (_event(type=5), ErrorCode.INVALID_VALUE, "type", "evt_42"),
        (
            _event(type="input_audio_buffer.append", audio=5),
            ErrorCode.INVALID_VALUE,
            "audio",
            "evt_42",
        ),
        (
            _event(type="input_audio_buffer.append"),
            ErrorCode.MISSING_REQUIRED_PARAMETER,
            "audio",
            "evt_42",
        ),
        (
            _event(type="session.update", session={"type": "realtime", "audio": 5}),
            ErrorCode.INVALID_VALUE,
            "session.audio",
            "evt_42",
        ),
        (
            _event(type="session.update", session={"instructions": "hi"}),
            ErrorCode.MISSING_REQUIRED_PARAMETER,
            "session.type",
            "evt_42",
        ),
        (
            _event(type="session.update", session={"type": "chat"}),
            ErrorCode.INVALID_VALUE,
            "session.type",
            "evt_42",
        ),
        (
            _event(type="session.update"),
            ErrorCode.MISSING_REQUIRED_PARAMETER,
            "session",
            "evt_42",
        ),
        (
            _event(
                type="session.update",
                session={
                    "type": "realtime",
                    "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 2}}},
                },
            ),
            ErrorCode.DECIMAL_ABOVE_MAX_VALUE,
            "session.audio.input.turn_detection.threshold",
            "evt_42",
        ),
        (
            _event(
                type="session.update",
                session={"type": "realtime", "audio": {"output": {"speed": 0.1}}},
            ),
            ErrorCode.DECIMAL_BELOW_MIN_VALUE,
            "session.audio.output.speed",
            "evt_42",
        ),
        (
            _event(type="session.update", session={"type": "realtime", "max_output_tokens": 5000}),
            ErrorCode.INTEGER_ABOVE_MAX_VALUE,
            "session.max_output_tokens",
            "evt_42",
        ),
        (
            _event(
                type="session.update",
                session={"type": "realtime", "audio": {"input": {"turn_detection": {"type": "x"}}}},
            ),
            ErrorCode.INVALID_VALUE,
            "session.audio.input.turn_detection.type",
            "evt_42",
        ),
        (
            _event(
                type="session.update",
                session={
                    "type": "realtime",
                    "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}},
                },
            ),
            ErrorCode.INVALID_VALUE,
            "session.audio.input.format.rate",
            "evt_42",
        ),
        (
            _event(
                type="session.update", session={"type": "realtime", "output_modalities": ["video"]}
            ),
            ErrorCode.INVALID_VALUE,
            "session.output_modalities[0]",
            "evt_42",
        ),
        (
            _event(
                type="conversation.item.create",
                item={
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": 1}],
                },
            ),
            ErrorCode.INVALID_VALUE,
            "item.content[0].text",
            "evt_42",
        ),
        (
            _event(type="conversation.item.create", item={"type": "message", "content": []}),
            ErrorCode.MISSING_REQUIRED_PARAMETER,
            "item.role",
            "evt_42",
        ),
        (
            _event(type="conversation.item.truncate", item_id="i", content_index=0),
            ErrorCode.MISSING_REQUIRED_PARAMETER,
            "audio_end_ms",
            "evt_42",
        ),
        (
            _event(
                type="conversation.item.truncate", item_id="i", content_index=0, audio_end_ms=1.5
            ),
            ErrorCode.INVALID_VALUE,
            "audio_end_ms",
            "evt_42",
        ),
        (
            _event(
                type="conversation.item.truncate", item_id="i", content_index=0, audio_end_ms=-1
            ),
            ErrorCode.INTEGER_BELOW_MIN_VALUE,
            "audio_end_ms",
            "evt_42",
        ),
        (
            _event(type="response.cancel", response_id=True),
            ErrorCode.INVALID_VALUE,
            "response_id",
            "evt_42",
        ),
        (
            json.dumps({"type": "response.cancel", "event_id": "x" * 513}),
            ErrorCode.STRING_ABOVE_MAX_LENGTH,
            "event_id",
            None,
        ),
        (
            json.dumps({"type": "response.cancel", "event_id": 7}),
            ErrorCode.INVALID_VALUE,
            "event_id",
            None,
        ),
    ],
)
def test_invalid_messages(
    data: str | bytes, code: str, param: str | None, event_id: str | None
) -> None:
    error = _error(data)
    assert (error.code, error.param, error.event_id) == (code, param, event_id)
    detail = error.detail()
    assert detail.type == "invalid_request_error"
    assert detail.message and detail.message == str(error)


def test_messages_are_worded_like_openai() -> None:
    assert _error(_event()).message == "The 'type' field is missing."
    missing = _error(_event(type="session.update", session={"instructions": "x"}))
    assert missing.message == "Missing required parameter: 'session.type'."
    unknown = _error(_event(type="nope"))
    assert unknown.message.startswith("Invalid value: 'nope'. Supported values are: ")
    assert all(f"'{name}'" in unknown.message for name in CLIENT_EVENT_TYPES)


def test_beta_values_without_ga_equivalent_are_reported_with_the_beta_name() -> None:
    error = _error(
        _event(type="session.update", session={"input_audio_format": "mp3"}), Dialect.BETA
    )
    assert (error.code, error.param, error.event_id) == (
        ErrorCode.INVALID_VALUE,
        "session.input_audio_format",
        "evt_42",
    )


def test_unknown_fields_are_ignored_at_every_level() -> None:
    event = parse_client_event(
        _event(
            type="session.update",
            future_field=1,
            session={
                "type": "realtime",
                "reasoning": {"effort": "low"},
                "audio": {"input": {"turn_detection": {"type": "server_vad", "new_knob": True}}},
            },
        )
    )
    assert isinstance(event, SessionUpdate)
    assert "future_field" not in event.model_dump()


def test_error_event_carries_the_recovered_event_id() -> None:
    error = _error(_event(type="input_audio_buffer.append", audio=5))
    text = dump_server_event(ErrorEvent(event_id="event_1", error=error.detail()))
    assert json.loads(text or "") == {
        "type": "error",
        "event_id": "event_1",
        "error": {
            "type": "invalid_request_error",
            "code": "invalid_value",
            "message": "Invalid type for 'audio': expected a string, but got an integer instead.",
            "param": "audio",
            "event_id": "evt_42",
        },
    }


# --- properties ---------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
type_names = st.sampled_from(sorted(CLIENT_EVENT_TYPES | {"transcription_session.update", "x"}))
event_like = st.fixed_dictionaries(
    {"type": type_names},
    optional={"event_id": json_values, "session": json_values, "item": json_values},
)
dialects = st.sampled_from(list(Dialect))
_SESSION_KEYS = [*SESSION_FIELDS, "temperature", "client_secret", "type", "audio", "x"]
beta_shaped = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            ["session.update", "transcription_session.update", "response.create"]
        ),
        "session": st.dictionaries(st.sampled_from(_SESSION_KEYS), json_values, max_size=6),
        "response": st.dictionaries(
            st.sampled_from(
                ["modalities", "voice", "output_audio_format", "audio", "input", "temperature"]
            ),
            json_values,
            max_size=4,
        ),
        "item": st.fixed_dictionaries(
            {"role": st.sampled_from(["user", "assistant", "system", 5])},
            optional={
                "content": st.lists(json_values | st.fixed_dictionaries({"type": json_values}))
            },
        ),
    }
)


def _parse_or_invalid(data: str | bytes, dialect: Dialect) -> None:
    try:
        event = parse_client_event(data, dialect)
    except InvalidEvent as exc:
        assert isinstance(exc.message, str) and exc.message
        exc.detail()  # always a valid ErrorDetail
    else:
        assert event.type in CLIENT_EVENT_TYPES


@settings(max_examples=300, deadline=None)
@given(data=st.text() | st.binary(), dialect=dialects)
def test_arbitrary_text_only_raises_invalid_event(data: str | bytes, dialect: Dialect) -> None:
    _parse_or_invalid(data, dialect)


@settings(max_examples=300, deadline=None)
@given(value=json_values | event_like | beta_shaped, dialect=dialects)
def test_arbitrary_json_only_raises_invalid_event(value: Any, dialect: Dialect) -> None:
    _parse_or_invalid(json.dumps(value), dialect)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            out += _paths(child, (*prefix, i))
    return out


def _mutate(value: Any, path: tuple[Any, ...], op: str, new: Any) -> Any:
    if not path:
        return new if op == "replace" else value
    head, rest = path[0], path[1:]
    copy = dict(value) if isinstance(value, dict) else list(value)
    if not rest and op == "delete":
        del copy[head]
    elif not rest and op == "extra" and isinstance(copy, dict):
        copy[f"{head}_new"] = new
    else:
        copy[head] = _mutate(value[head], rest, op, new)
    return copy


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data(), dialect=dialects)
def test_mutated_valid_events_only_raise_invalid_event_and_keep_event_id(
    client_samples: list[tuple[str, Any]], data: st.DataObject, dialect: Dialect
) -> None:
    _, event = data.draw(st.sampled_from(client_samples))
    payload = json.loads(dump_client_event(event))
    payload["event_id"] = "evt_keep"
    path = data.draw(st.sampled_from([p for p in _paths(payload) if p and p[0] != "event_id"]))
    op = data.draw(st.sampled_from(["replace", "delete", "extra"]))
    mutated = _mutate(payload, path, op, data.draw(json_values))
    try:
        parsed = parse_client_event(json.dumps(mutated), dialect)
    except InvalidEvent as exc:
        assert exc.event_id == "evt_keep"
        exc.detail()
    else:
        assert parsed.type in CLIENT_EVENT_TYPES
