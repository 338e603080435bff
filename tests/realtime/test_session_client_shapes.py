"""Client shapes from the wild, in both dialects: synchronous session tests, no models.

Pipecat's assistant items with ``input_text`` parts, a beta client's ``modalities`` echo,
beta transcription sessions checked strictly against the beta SDK's types, and a
``response.create`` that leaves the ``say``/``echo`` responder nothing to say. Events are
compared as the client receives them (dumped in its dialect).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import openai.types.beta.realtime as sdk_beta
import pytest
from openai import BaseModel as SDKModel
from pydantic import TypeAdapter

from engines.base import SpeechEdge, TokenLogprob, Transcript, TranscriptDelta, VADEvent
from protocol import (
    Dialect,
    InvalidEvent,
    TranscriptionSession,
    dump_server_event,
    parse_client_event,
)
from realtime.session import Session
from realtime.session.commands import StartTranscript, Synthesize
from realtime.session.ids import SequentialIds
from tests.realtime.session_support import InlineReplies, append, drain, make

BETA_SERVER: TypeAdapter[Any] = TypeAdapter(sdk_beta.RealtimeServerEvent)
PIPECAT_ITEM = {
    "type": "conversation.item.create",
    "item": {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "input_text", "text": "Hello"}],
    },
}
"""Exactly what Pipecat's realtime service sends for an assistant message of its context."""


def as_sent(events: list[Any], dialect: Dialect) -> list[dict[str, Any]]:
    """``events`` as the client receives them: JSON in its dialect (beta: checked by the SDK)."""
    out = []
    for event in events:
        text = dump_server_event(event, dialect)
        if text is not None:
            out.append(json.loads(text))
    if dialect is Dialect.BETA:
        for data in out:
            if not data["type"].startswith("transcription_session."):
                assert BETA_SERVER.validate_python(data).type == data["type"]
    return out


def wire(s: Session, dialect: Dialect) -> list[dict[str, Any]]:
    """What the session sends now, as the client receives it (commands are dropped)."""
    return as_sent(drain(s)[0], dialect)  # drain checks each GA event with the GA SDK


def send(s: Session, payload: dict[str, Any], dialect: Dialect) -> list[dict[str, Any]]:
    """Send one client event as ``dialect`` speaks it; what the client receives."""
    s.receive_client_event(parse_client_event(json.dumps(payload), dialect))
    return wire(s, dialect)


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


# --- assistant items with input_text parts (Pipecat) ----------------------------------------


@pytest.mark.parametrize("dialect", list(Dialect))
def test_pipecat_assistant_item_with_input_text_is_accepted_as_text(dialect, caplog):
    s = make()
    with caplog.at_level(logging.DEBUG, logger="protocol.beta"):
        events = send(s, PIPECAT_ITEM, dialect)
    assert "error" not in kinds(events)
    added = events[0]
    assert added["type"] == (
        "conversation.item.added" if dialect is Dialect.GA else "conversation.item.created"
    )
    # echoed normalised: GA's assistant text part, and beta's name for it
    text_part = "output_text" if dialect is Dialect.GA else "text"
    assert added["item"]["role"] == "assistant"
    assert added["item"]["content"] == [{"type": text_part, "text": "Hello"}]
    assert "input_text content part is read as output_text" in caplog.text
    item_id = added["item"]["id"]
    (retrieved,) = send(s, {"type": "conversation.item.retrieve", "item_id": item_id}, dialect)
    assert retrieved["item"]["content"] == [{"type": text_part, "text": "Hello"}]
    s.receive_client_event(parse_client_event('{"type":"response.create"}', dialect))
    _, commands = drain(s)
    # the say responder speaks the client's assistant text: it was read as text
    assert [c.text for c in commands if isinstance(c, Synthesize)] == ["Hello"]


@pytest.mark.parametrize("dialect", list(Dialect))
@pytest.mark.parametrize("role", ["user", "system"])
@pytest.mark.parametrize("part", ["output_text", "text"])
def test_user_and_system_text_parts_are_read_as_input_text(dialect, role, part):
    s = make()
    item = {"type": "message", "role": role, "content": [{"type": part, "text": "Hi"}]}
    events = send(s, {"type": "conversation.item.create", "item": item}, dialect)
    assert "error" not in kinds(events)
    assert events[0]["item"]["content"] == [{"type": "input_text", "text": "Hi"}]


@pytest.mark.parametrize("dialect", list(Dialect))
def test_parts_that_are_not_text_are_still_refused(dialect):
    item = {"type": "message", "role": "system", "content": [{"type": "input_audio"}]}
    create = {"type": "conversation.item.create", "item": item, "event_id": "x"}
    with pytest.raises(InvalidEvent) as refused:
        parse_client_event(json.dumps(create), dialect)
    assert (refused.value.code, refused.value.event_id) == ("invalid_value", "x")


# --- beta modalities echo -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "echoed"),
    [
        (["text", "audio"], ["text", "audio"]),
        (["text"], ["text"]),
        (["audio", "text"], ["text", "audio"]),  # beta's one audio combination, canonical order
    ],
)
def test_beta_modalities_are_echoed_as_the_client_set_them(sent, echoed):
    s = make()
    update = {"type": "session.update", "session": {"modalities": sent}}
    (updated,) = send(s, update, Dialect.BETA)
    assert updated["type"] == "session.updated"
    assert updated["session"]["modalities"] == echoed
    ga_modality = ["audio"] if "audio" in sent else ["text"]
    assert s.config.output_modalities == ga_modality  # GA keeps exactly one
    events = send(s, {"type": "response.create", "response": {"instructions": "Hi."}}, Dialect.BETA)
    assert events[0]["type"] == "response.created"
    assert events[0]["response"]["modalities"] == echoed


def test_ga_session_keeps_one_output_modality():
    s = make()
    update = {
        "type": "session.update",
        "session": {"type": "realtime", "output_modalities": ["audio"]},
    }
    (updated,) = send(s, update, Dialect.GA)
    assert updated["session"]["output_modalities"] == ["audio"]
    assert "modalities" not in updated["session"]


# --- beta transcription sessions: exactly the beta SDK's shapes ------------------------------


def extras(obj: object, path: str = "") -> set[str]:
    """Dotted paths of every field the SDK model does not define (SDK models allow extras)."""
    found: set[str] = set()
    if isinstance(obj, SDKModel):
        found |= {f"{path}.{key}".lstrip(".") for key in obj.model_extra or {}}
        for name in type(obj).model_fields:
            found |= extras(getattr(obj, name), f"{path}.{name}")
    elif isinstance(obj, list):
        for value in obj:
            found |= extras(value, f"{path}[]")
    return found


def strictly_beta(data: dict[str, Any]) -> None:
    """``data`` is a beta SDK server event with no field the SDK lacks, dumped back unchanged."""
    if data["type"] == "transcription_session.created":  # the PY beta union has only .updated
        parsed: Any = sdk_beta.TranscriptionSessionUpdatedEvent.model_validate(
            {**data, "type": "transcription_session.updated"}
        )
        parsed.type = "transcription_session.created"
    else:
        parsed = BETA_SERVER.validate_python(data)
    assert parsed.type == data["type"]
    assert extras(parsed) == set(), data
    assert parsed.model_dump(mode="json", exclude_unset=True) == data


BETA_TRANSCRIPTION = {
    "input_audio_format": "pcm16",
    "input_audio_transcription": {"model": "gpt-4o-transcribe", "language": "en", "prompt": "x"},
    "input_audio_noise_reduction": {"type": "near_field"},
    "turn_detection": {"type": "server_vad", "threshold": 0.6, "silence_duration_ms": 600},
    "include": ["item.input_audio_transcription.logprobs"],
}
TOKENS = (TokenLogprob(" Hi", -0.05, (32, 72, 105)),)


def test_every_beta_transcription_session_event_is_exactly_the_beta_sdk_shape():
    s = InlineReplies(
        TranscriptionSession(), ids=SequentialIds(), created_at=1_000.0, asr_logprobs=True
    )
    seen = wire(s, Dialect.BETA)
    update = {"type": "transcription_session.update", "session": BETA_TRANSCRIPTION}
    seen += send(s, update, Dialect.BETA)
    assert kinds(seen) == ["transcription_session.created", "transcription_session.updated"]
    assert "id" not in seen[1]["session"] and seen[1]["session"]["client_secret"]["value"] == ""
    # a VAD turn with a partial, a final with logprobs; then a failed manual turn
    append(s, 2.0)
    s.receive_vad_events([VADEvent(SpeechEdge.START, 4_800, 0.9)], 16_000)
    seen += (started := wire(s, Dialect.BETA))
    item = started[0]["item_id"]
    s.receive_transcript_delta(item, TranscriptDelta("Hi"))
    s.receive_vad_events([VADEvent(SpeechEdge.END, 24_000, 0.1)], 32_000)
    s.receive_transcript(item, Transcript("Hi there.", "en", 0.3, 1.7, logprobs=TOKENS))
    seen += wire(s, Dialect.BETA)
    manual = {"type": "transcription_session.update", "session": {"turn_detection": None}}
    seen += send(s, manual, Dialect.BETA)
    seen += send(s, {"type": "input_audio_buffer.commit", "event_id": "c0"}, Dialect.BETA)
    append(s, 0.5)
    s.receive_client_event(parse_client_event('{"type":"input_audio_buffer.commit"}'))
    events, commands = drain(s)
    seen += as_sent(events, Dialect.BETA)
    start = next(c for c in commands if isinstance(c, StartTranscript))
    s.receive_transcription_failed(start.item_id, "The audio could not be transcribed.")
    seen += wire(s, Dialect.BETA)
    seen += send(s, {"type": "input_audio_buffer.clear"}, Dialect.BETA)
    transcription = "conversation.item.input_audio_transcription."
    for expected in [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.created",
        transcription + "delta",
        transcription + "completed",
        transcription + "failed",
        "input_audio_buffer.cleared",
        "error",
    ]:
        assert expected in kinds(seen)
    for data in seen:
        strictly_beta(data)


# --- a response.create with nothing to say -------------------------------------------------


def assert_failed_empty(events: list[dict[str, Any]], event_id: str, why: str) -> None:
    """``response.created``, an ``error`` naming ``event_id``, ``response.done`` failed."""
    assert kinds(events) == ["response.created", "error", "response.done"]
    error = events[1]["error"]
    assert (error["type"], error["code"], error["event_id"]) == (
        "invalid_request_error",
        "empty_response",
        event_id,
    )
    assert why in error["message"]
    done = events[2]["response"]
    assert done["status"] == "failed" and done["output"] == []
    assert done["status_details"] == {
        "type": "failed",
        "reason": None,
        "error": {
            "type": "invalid_request_error",
            "code": "empty_response",
            "message": error["message"],
        },
    }


@pytest.mark.parametrize("dialect", list(Dialect))
def test_say_with_nothing_to_say_fails_the_response(dialect):
    s = make()
    events = send(s, {"type": "response.create", "event_id": "evt_say"}, dialect)
    assert_failed_empty(events, "evt_say", "nothing to say")
    assert not any(isinstance(c, Synthesize) for c in s.commands())
    # the session goes on: a response with something to say completes
    events = send(s, {"type": "response.create", "response": {"instructions": "Hi."}}, dialect)
    assert "error" not in kinds(events)


@pytest.mark.parametrize("dialect", list(Dialect))
def test_blank_voxgate_say_fails_the_response(dialect):
    s = make()
    create = {"type": "response.create", "event_id": "v1", "response": {"voxgate": {"say": " "}}}
    assert_failed_empty(send(s, create, dialect), "v1", "voxgate.say is blank")


@pytest.mark.parametrize("dialect", list(Dialect))
def test_echo_with_nothing_to_echo_fails_the_response(dialect):
    s = make(responder="echo")
    events = send(s, {"type": "response.create", "event_id": "evt_echo"}, dialect)
    assert_failed_empty(events, "evt_echo", "nothing to echo")


@pytest.mark.parametrize("dialect", list(Dialect))
def test_echo_of_a_turn_with_an_empty_transcript_fails_the_response(dialect):
    s = make(responder="echo")
    manual = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
    send(s, {"type": "session.update", "session": manual}, Dialect.GA)
    append(s, 0.5)
    item = send(s, {"type": "input_audio_buffer.commit"}, dialect)[0]["item_id"]
    created = send(s, {"type": "response.create", "event_id": "r1"}, dialect)
    assert kinds(created) == ["response.created"]  # echo waits for the transcript
    s.receive_transcript(item, Transcript("", "en", 0.0, 0.5))
    ended = [e for e in wire(s, dialect) if e["type"].startswith(("response.", "error"))]
    assert_failed_empty(created + ended, "r1", "no transcript")


def test_an_automatic_response_with_nothing_to_echo_still_completes_quietly():
    s = make(responder="echo")
    append(s, 1.0)
    s.receive_vad_events(
        [VADEvent(SpeechEdge.START, 0, 0.9), VADEvent(SpeechEdge.END, 12_000, 0.1)], 16_000
    )
    item = drain(s)[0][0].item_id
    s.receive_transcript(item, Transcript("", "en", 0, 1))
    events = wire(s, Dialect.GA)
    assert "error" not in kinds(events)
    done = events[-1]
    assert done["type"] == "response.done" and done["response"]["status"] == "completed"
