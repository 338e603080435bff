"""Event unions, derived type sets, and GA round trips of every event."""

from __future__ import annotations

import json
from typing import Any, get_args

import openai.types.beta.realtime as sdk_beta
import openai.types.realtime as sdk_ga
import pytest

from protocol import (
    CLIENT_EVENT_TYPES,
    EXTENSION_PREFIX,
    SERVER_EVENT_TYPES,
    ClientEvent,
    Dialect,
    ServerEvent,
    dump_client_event,
    dump_server_event,
    parse_client_event,
    parse_server_event,
)
from protocol.beta import BETA_CLIENT_EVENT_TYPES


def _sdk_types(union: Any) -> set[str]:
    members = get_args(get_args(union)[0])
    return {get_args(m.model_fields["type"].annotation)[0] for m in members}


def _member_types(union: Any) -> set[str]:
    return {m.model_fields["type"].default for m in get_args(get_args(union)[0])}


def test_type_sets_are_derived_from_the_unions() -> None:
    assert _member_types(ClientEvent) == CLIENT_EVENT_TYPES
    assert _member_types(ServerEvent) == SERVER_EVENT_TYPES
    assert len(get_args(get_args(ClientEvent)[0])) == len(CLIENT_EVENT_TYPES)
    assert len(get_args(get_args(ServerEvent)[0])) == len(SERVER_EVENT_TYPES)


def test_client_events_are_exactly_the_sdk_ga_client_union() -> None:
    assert _sdk_types(sdk_ga.RealtimeClientEvent) == CLIENT_EVENT_TYPES


def test_beta_client_union_is_ga_plus_transcription_session_update() -> None:
    assert _sdk_types(sdk_beta.RealtimeClientEvent) == CLIENT_EVENT_TYPES | BETA_CLIENT_EVENT_TYPES


def test_server_events_are_sdk_ga_events_or_namespaced_extensions() -> None:
    ours = {t for t in SERVER_EVENT_TYPES if not t.startswith(EXTENSION_PREFIX)}
    extensions = SERVER_EVENT_TYPES - ours
    assert ours <= _sdk_types(sdk_ga.RealtimeServerEvent)
    assert extensions == {"voxgate.input_audio_buffer.audio_tag"}
    assert not any(t.startswith(EXTENSION_PREFIX) for t in _sdk_types(sdk_ga.RealtimeServerEvent))


def test_every_event_type_has_a_sample(server_samples: list, client_samples: list) -> None:
    assert {e.type for _, e in server_samples} == SERVER_EVENT_TYPES
    assert {e.type for _, e in client_samples} == CLIENT_EVENT_TYPES


def test_server_event_round_trips(server_sample: Any) -> None:
    text = dump_server_event(server_sample)
    assert text is not None
    assert parse_server_event(text) == server_sample
    assert json.loads(text)["event_id"] == server_sample.event_id


def test_client_event_round_trips(client_sample: Any) -> None:
    text = dump_client_event(client_sample)
    parsed = parse_client_event(text)
    assert parsed == client_sample
    assert dump_client_event(parsed) == text


def test_client_event_round_trips_through_the_beta_codec(client_sample: Any) -> None:
    """GA-shaped input is accepted unchanged by a beta connection too (lenient edge)."""
    assert parse_client_event(dump_client_event(client_sample), Dialect.BETA) == client_sample


def test_server_events_require_event_id() -> None:
    from pydantic import ValidationError

    from protocol.server_events import InputAudioBufferCleared

    with pytest.raises(ValidationError):
        InputAudioBufferCleared()  # type: ignore[call-arg]


def test_explicit_nulls_are_sent() -> None:
    from protocol.server_events import InputAudioBufferCommitted

    event = InputAudioBufferCommitted(event_id="e", previous_item_id=None, item_id="item_1")
    assert json.loads(dump_server_event(event) or "") == {
        "type": "input_audio_buffer.committed",
        "event_id": "e",
        "previous_item_id": None,
        "item_id": "item_1",
    }


def test_audio_payloads_are_omitted_not_null() -> None:
    from protocol import InputAudio, UserMessage
    from protocol.items import ContentPart

    item = UserMessage(id="item_1", content=[InputAudio()])
    assert item.model_dump(mode="json")["content"] == [{"type": "input_audio", "transcript": None}]
    part = ContentPart(type="audio", transcript="")
    assert part.model_dump(mode="json") == {"type": "audio", "transcript": ""}


def test_models_are_frozen() -> None:
    from pydantic import ValidationError

    from protocol import InputAudioBufferAppend

    event = InputAudioBufferAppend(audio="AAAA")
    with pytest.raises(ValidationError):
        event.audio = "BBBB"  # type: ignore[misc]
