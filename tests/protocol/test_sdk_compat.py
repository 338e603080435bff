"""The openai SDK is the judge: it must accept what we send and we must accept what it sends.

Server side: every sample is dumped per dialect and validated with the SDK's own union
(``openai.types.realtime.RealtimeServerEvent`` for GA, ``openai.types.beta.realtime`` for
beta); the SDK must pick the class with the same ``type``, see no field it does not define,
and dump back exactly what we sent.

Client side: the SDK's own connection objects (``client.realtime.connect()`` minus the
socket) produce frames that our codec must parse, in both dialects.
"""

from __future__ import annotations

import json
from typing import Any

import openai.types.beta.realtime as sdk_beta
import openai.types.realtime as sdk_ga
import pytest
from openai import BaseModel as SDKModel
from pydantic import TypeAdapter, ValidationError

from protocol import (
    EXTENSION_PREFIX,
    AssistantMessage,
    AudioPCMA,
    AudioPCMU,
    ConversationItemCreate,
    Dialect,
    FunctionCallOutput,
    InputAudioBufferAppend,
    OutputText,
    RealtimeSession,
    ResponseCreate,
    SemanticVad,
    SessionUpdate,
    TranscriptionSession,
    UserMessage,
    dump_client_event,
    dump_server_event,
    parse_client_event,
)

GA_SERVER = TypeAdapter(sdk_ga.RealtimeServerEvent)
BETA_SERVER = TypeAdapter(sdk_beta.RealtimeServerEvent)
GA_CLIENT = TypeAdapter(sdk_ga.RealtimeClientEvent)

# Session fields that OpenAI sends and defines on its *response* session types
# (RealtimeSessionCreateResponse, RealtimeTranscriptionSessionCreateResponse, beta
# SessionCreateResponse), but that the SDK's session.* event classes (typed with the
# *request* types) do not list. The SPEC's session.created example carries them.
SESSION_SERVER_FIELDS = {"session.id", "session.object", "session.expires_at"}

# Beta has no counterpart for these: dump_server_event returns None.
BETA_DROPPED = {"conversation.item.done", "input_audio_buffer.timeout_triggered"}


def sdk_extras(obj: object, path: str = "") -> set[str]:
    """Dotted paths of every field the SDK kept as an *extra* (i.e. does not define)."""
    found: set[str] = set()
    if isinstance(obj, SDKModel):
        found |= {f"{path}.{k}".lstrip(".") for k in obj.model_extra or {}}
        for name in type(obj).model_fields:
            found |= sdk_extras(getattr(obj, name), f"{path}.{name}")
    elif isinstance(obj, list):
        for value in obj:
            found |= sdk_extras(value, f"{path}[]")
    elif isinstance(obj, dict):
        for key, value in obj.items():
            found |= sdk_extras(value, f"{path}.{key}")
    return found


def _check_sdk_parse(adapter: TypeAdapter[Any], data: dict[str, Any]) -> None:
    parsed = adapter.validate_python(data)
    assert parsed.type == data["type"]
    assert sdk_extras(parsed) <= SESSION_SERVER_FIELDS
    assert parsed.model_dump(mode="json", exclude_unset=True) == data


# --- server events ------------------------------------------------------------------------


def test_ga_server_event_is_valid_for_the_sdk(server_sample: Any) -> None:
    text = dump_server_event(server_sample, Dialect.GA)
    assert text is not None
    if server_sample.type.startswith(EXTENSION_PREFIX):
        # Opt-in extension: unknown to the SDK by design (its recv() tolerates it).
        with pytest.raises(ValidationError):
            GA_SERVER.validate_json(text)
        return
    _check_sdk_parse(GA_SERVER, json.loads(text))


def test_beta_server_event_is_valid_for_the_sdk(server_sample: Any) -> None:
    text = dump_server_event(server_sample, Dialect.BETA)
    if server_sample.type in BETA_DROPPED:
        assert text is None
        return
    assert text is not None
    data = json.loads(text)
    if server_sample.type.startswith(EXTENSION_PREFIX) or server_sample.type.endswith(".segment"):
        # Identical in both dialects (the SPEC lists a beta twin of .segment; the PY beta
        # union does not).
        assert data == json.loads(dump_server_event(server_sample) or "")
        return
    if data["type"].startswith("transcription_session."):
        # The SDK's beta TranscriptionSession models the REST response, whose
        # client_secret is required; on a WebSocket there is none, so we send an empty one.
        assert data["session"]["client_secret"]["value"] == ""
        patched = {
            **data,
            "type": "transcription_session.updated",  # the only one in the PY beta union
        }
        parsed = BETA_SERVER.validate_python(patched)
        assert isinstance(parsed, sdk_beta.TranscriptionSessionUpdatedEvent)
        assert sdk_extras(parsed) == set()  # exactly the beta shape: no id, no object
        return
    _check_sdk_parse(BETA_SERVER, data)


def test_beta_names_match_the_sdk_beta_union(server_samples: list) -> None:
    names = set()
    for _, event in server_samples:
        text = dump_server_event(event, Dialect.BETA)
        if text is not None:
            names.add(json.loads(text)["type"])
    beta_union = {m.model_fields["type"].annotation.__args__[0] for m in _beta_members()}
    not_in_sdk = {n for n in names - beta_union if not n.startswith(EXTENSION_PREFIX)}
    assert not_in_sdk == {
        "transcription_session.created",  # SPEC; the SDK parses it leniently
        "conversation.item.input_audio_transcription.segment",  # SPEC lists a beta twin
    }
    for ga_only in ("response.output_audio.delta", "conversation.item.added"):
        assert ga_only not in names


def _beta_members() -> tuple[Any, ...]:
    from typing import get_args

    return get_args(get_args(sdk_beta.RealtimeServerEvent)[0])


# --- client events: ours are valid OpenAI events -----------------------------------------


def test_our_client_events_are_valid_for_the_sdk(client_sample: Any) -> None:
    data = json.loads(dump_client_event(client_sample))
    if any(i.get("type") == "item_reference" for i in data.get("response", {}).get("input", [])):
        # Item references exist only in the SDK's param types (what send() accepts).
        from openai.types.realtime.response_create_event_with_references_param import (
            ResponseCreateEventWithReferencesParam,
        )

        TypeAdapter(ResponseCreateEventWithReferencesParam).validate_python(data)
        return
    parsed = GA_CLIENT.validate_python(data)
    assert parsed.type == client_sample.type
    assert sdk_extras(parsed) == set()


# --- client events: what the SDK sends, we parse ------------------------------------------


def test_ga_sdk_frames_parse(ga_sdk: tuple[Any, Any]) -> None:
    conn, socket = ga_sdk
    conn.session.update(
        session={
            "type": "realtime",
            "instructions": "Be brief.",
            "output_modalities": ["audio"],
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "turn_detection": {"type": "semantic_vad", "eagerness": "high"},
                    "transcription": {"model": "gpt-4o-transcribe", "language": "en"},
                    "noise_reduction": {"type": "far_field"},
                },
                "output": {"format": {"type": "audio/pcmu"}, "voice": "cedar", "speed": 1.2},
            },
            "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
            "tool_choice": {"type": "function", "name": "f"},
            "max_output_tokens": 1024,
            "tracing": "auto",
        },
        event_id="evt_1",
    )
    conn.session.update(session={"type": "transcription", "include": []})
    conn.input_audio_buffer.append(audio="AAAA")
    conn.input_audio_buffer.commit()
    conn.input_audio_buffer.clear()
    conn.output_audio_buffer.clear()
    conn.conversation.item.create(
        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        previous_item_id="root",
    )
    conn.conversation.item.create(
        item={"type": "function_call_output", "call_id": "call_1", "output": "42"}
    )
    conn.conversation.item.retrieve(item_id="item_1")
    conn.conversation.item.delete(item_id="item_1")
    conn.conversation.item.truncate(item_id="item_2", content_index=0, audio_end_ms=1500)
    conn.response.create(
        response={
            "conversation": "none",
            "instructions": "Say hi.",
            "output_modalities": ["text"],
            "metadata": {"k": "v"},
            "audio": {"output": {"voice": "marin", "format": {"type": "audio/pcma"}}},
            "input": [{"type": "item_reference", "id": "item_1"}],
        }
    )
    conn.response.cancel(response_id="resp_1")
    events = [parse_client_event(frame) for frame in socket.sent]
    assert [e.type for e in events] == [json.loads(f)["type"] for f in socket.sent]

    first = events[0]
    assert isinstance(first, SessionUpdate) and isinstance(first.session, RealtimeSession)
    assert first.event_id == "evt_1"
    assert first.session.audio.input.turn_detection == SemanticVad(eagerness="high")
    assert first.session.audio.output.format == AudioPCMU()
    assert first.session.max_output_tokens == 1024
    assert isinstance(events[1], SessionUpdate)
    assert isinstance(events[1].session, TranscriptionSession)
    assert isinstance(events[2], InputAudioBufferAppend) and events[2].audio == "AAAA"
    create = events[6]
    assert isinstance(create, ConversationItemCreate) and create.previous_item_id == "root"
    assert isinstance(create.item, UserMessage)
    assert isinstance(events[7], ConversationItemCreate)
    assert isinstance(events[7].item, FunctionCallOutput)
    response = events[11]
    assert isinstance(response, ResponseCreate) and response.response is not None
    assert response.response.conversation == "none"
    assert response.response.audio is not None and response.response.audio.output is not None
    assert response.response.audio.output.format == AudioPCMA()


def test_ga_sdk_model_frames_parse(ga_sdk: tuple[Any, Any]) -> None:
    """``connection.send(model)`` (exclude_unset JSON) parses too."""
    conn, socket = ga_sdk
    for event in [
        sdk_ga.SessionUpdateEvent(
            type="session.update",
            session=sdk_ga.RealtimeSessionCreateRequest(type="realtime", instructions="x"),
        ),
        sdk_ga.InputAudioBufferAppendEvent(type="input_audio_buffer.append", audio="AAAA"),
        sdk_ga.ConversationItemTruncateEvent(
            type="conversation.item.truncate", item_id="i", content_index=0, audio_end_ms=10
        ),
        sdk_ga.ResponseCancelEvent(type="response.cancel"),
    ]:
        conn.send(event)
    parsed = [parse_client_event(frame) for frame in socket.sent]
    assert [p.type for p in parsed] == [
        "session.update",
        "input_audio_buffer.append",
        "conversation.item.truncate",
        "response.cancel",
    ]
    assert isinstance(parsed[0], SessionUpdate)
    assert parsed[0].session.model_fields_set == {"type", "instructions"}


def test_beta_sdk_frames_parse(beta_sdk: tuple[Any, Any]) -> None:
    conn, socket = beta_sdk
    conn.session.update(
        session={
            "modalities": ["text", "audio"],
            "instructions": "Be brief.",
            "voice": "alloy",
            "input_audio_format": "g711_ulaw",
            "output_audio_format": "g711_alaw",
            "input_audio_transcription": {"model": "whisper-1"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 700},
            "temperature": 0.7,
            "max_response_output_tokens": "inf",
        }
    )
    conn.transcription_session.update(
        session={
            "input_audio_format": "pcm16",
            "input_audio_transcription": {"model": "gpt-4o-transcribe", "language": "en"},
            "turn_detection": {"type": "server_vad", "threshold": 0.4},
            "input_audio_noise_reduction": {"type": "near_field"},
            "include": ["item.input_audio_transcription.logprobs"],
        }
    )
    conn.conversation.item.create(
        item={"type": "message", "role": "assistant", "content": [{"type": "text", "text": "ok"}]}
    )
    conn.response.create(
        response={"modalities": ["text"], "voice": "echo", "output_audio_format": "pcm16"}
    )
    conn.input_audio_buffer.append(audio="AAAA")
    conn.conversation.item.truncate(item_id="item_2", content_index=0, audio_end_ms=5)
    events = [parse_client_event(frame, Dialect.BETA) for frame in socket.sent]

    session = events[0]
    assert isinstance(session, SessionUpdate) and isinstance(session.session, RealtimeSession)
    ga = session.session
    assert ga.output_modalities == ["audio"]
    assert ga.audio.output.voice == "alloy"
    assert ga.audio.input.format == AudioPCMU()
    assert ga.audio.output.format == AudioPCMA()
    assert ga.audio.input.transcription is not None
    assert ga.audio.input.transcription.model == "whisper-1"
    assert ga.audio.input.turn_detection is not None
    assert ga.audio.input.turn_detection.model_dump(exclude_unset=True) == {
        "type": "server_vad",
        "silence_duration_ms": 700,
    }
    assert "temperature" not in ga.model_dump()

    transcription = events[1]
    assert isinstance(transcription, SessionUpdate)
    assert isinstance(transcription.session, TranscriptionSession)
    assert transcription.session.include == ["item.input_audio_transcription.logprobs"]
    assert transcription.session.audio.input.noise_reduction is not None

    item = events[2]
    assert isinstance(item, ConversationItemCreate)
    assert item.item == AssistantMessage(content=[OutputText(text="ok")])

    response = events[3]
    assert isinstance(response, ResponseCreate) and response.response is not None
    assert response.response.output_modalities == ["text"]
    assert response.response.audio is not None and response.response.audio.output is not None
    assert response.response.audio.output.voice == "echo"
    assert [e.type for e in events[4:]] == [
        "input_audio_buffer.append",
        "conversation.item.truncate",
    ]
