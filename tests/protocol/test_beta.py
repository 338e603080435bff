"""The beta dialect: names and shapes on the way out, translation on the way in."""

from __future__ import annotations

import json
from typing import Any

import pytest

from protocol import (
    AssistantMessage,
    ConversationItemCreate,
    Dialect,
    InputText,
    OutputAudio,
    OutputText,
    RealtimeSession,
    SessionUpdate,
    SystemMessage,
    TranscriptionSession,
    UserMessage,
    dump_server_event,
    merge_session,
    parse_client_event,
)
from protocol import server_events as se
from protocol.session import (
    AudioInput,
    AudioOutput,
    RealtimeAudio,
    ServerVad,
    TranscriptionAudio,
    VoiceId,
)

IDS = {"event_id": "e", "response_id": "r", "item_id": "i", "output_index": 0, "content_index": 0}


def _beta(event: Any) -> Any:
    text = dump_server_event(event, Dialect.BETA)
    return None if text is None else json.loads(text)


@pytest.mark.parametrize(
    ("event", "beta_type"),
    [
        (se.ResponseOutputAudioDelta(delta="AA==", **IDS), "response.audio.delta"),
        (se.ResponseOutputAudioDone(**IDS), "response.audio.done"),
        (
            se.ResponseOutputAudioTranscriptDelta(delta="a", **IDS),
            "response.audio_transcript.delta",
        ),
        (
            se.ResponseOutputAudioTranscriptDone(transcript="a", **IDS),
            "response.audio_transcript.done",
        ),
        (se.ResponseOutputTextDelta(delta="a", **IDS), "response.text.delta"),
        (se.ResponseOutputTextDone(text="a", **IDS), "response.text.done"),
    ],
)
def test_output_events_are_renamed(event: Any, beta_type: str) -> None:
    ga = json.loads(dump_server_event(event) or "")
    assert _beta(event) == {**ga, "type": beta_type}


def test_item_added_becomes_created_with_beta_part_names() -> None:
    item = AssistantMessage(
        id="item_1",
        status="completed",
        content=[OutputAudio(transcript="Hi."), OutputText(text="Hi.")],
    )
    beta = _beta(se.ConversationItemAdded(event_id="e", previous_item_id=None, item=item))
    assert beta["type"] == "conversation.item.created"
    assert beta["previous_item_id"] is None
    assert [p["type"] for p in beta["item"]["content"]] == ["audio", "text"]


def test_events_without_beta_counterpart_are_not_sent() -> None:
    item = AssistantMessage(id="item_1", status="completed", content=[])
    assert _beta(se.ConversationItemDone(event_id="e", previous_item_id=None, item=item)) is None
    timeout = se.InputAudioBufferTimeoutTriggered(
        event_id="e", audio_start_ms=0, audio_end_ms=1, item_id="i"
    )
    assert _beta(timeout) is None


def test_realtime_session_is_flattened() -> None:
    session = RealtimeSession(id="sess_1", model="gpt-4o-realtime-preview", expires_at=5)
    beta = _beta(se.SessionCreated(event_id="e", session=session))["session"]
    assert beta == {
        "id": "sess_1",
        "object": "realtime.session",
        "expires_at": 5,
        "modalities": ["text", "audio"],  # GA ["audio"]: audio and its transcript
        "instructions": "",
        "voice": "marin",
        "speed": 1.0,
        "input_audio_format": "pcm16",
        "output_audio_format": "pcm16",
        "input_audio_transcription": None,
        "input_audio_noise_reduction": None,
        "turn_detection": {
            "type": "server_vad",
            "threshold": 0.5,
            "prefix_padding_ms": 300,
            "silence_duration_ms": 200,
            "create_response": True,
            "interrupt_response": True,
        },
        "tools": [],
        "tool_choice": "auto",
        "max_response_output_tokens": "inf",
        "tracing": None,
        "model": "gpt-4o-realtime-preview",
        "temperature": 0.8,
    }


def test_custom_voice_is_sent_as_its_id_to_beta() -> None:
    audio = RealtimeAudio(output=AudioOutput(voice=VoiceId(id="voice_1")))
    session = RealtimeSession(id="s", audio=audio)
    assert _beta(se.SessionUpdated(event_id="e", session=session))["session"]["voice"] == "voice_1"


@pytest.mark.parametrize("kind", ["created", "updated"])
def test_transcription_session_events_are_renamed_and_flattened(kind: str) -> None:
    session = TranscriptionSession(id="sess_2", expires_at=5)
    event_cls = se.SessionCreated if kind == "created" else se.SessionUpdated
    beta = _beta(event_cls(event_id="e", session=session))
    assert beta["type"] == f"transcription_session.{kind}"
    assert beta["session"] == {  # exactly the beta SDK's TranscriptionSession: no id, object
        "modalities": ["audio", "text"],
        "turn_detection": {
            "type": "server_vad",
            "threshold": 0.5,
            "prefix_padding_ms": 300,
            "silence_duration_ms": 200,
        },
        "input_audio_format": "pcm16",
        "input_audio_transcription": {"model": "whisper-1", "language": None, "prompt": None},
        "client_secret": {"value": "", "expires_at": session.expires_at or 0},
    }
    # GA keeps the GA name and shape.
    assert (
        json.loads(dump_server_event(event_cls(event_id="e", session=session)) or "")["type"]
        == f"session.{kind}"
    )


def test_manual_transcription_session_flattens_null_turn_detection() -> None:
    session = TranscriptionSession(
        id="s", audio=TranscriptionAudio(input=AudioInput(turn_detection=None))
    )
    assert (
        _beta(se.SessionUpdated(event_id="e", session=session))["session"]["turn_detection"] is None
    )


def test_response_is_flattened() -> None:
    from protocol import AudioPCMU

    response = se.Response(
        id="resp_1",
        status="completed",
        output=[
            AssistantMessage(id="i", status="completed", content=[OutputAudio(transcript="x")])
        ],
        audio=se.ResponseAudio(output=se.ResponseAudioOutput(format=AudioPCMU(), voice="ash")),
        usage=se.Usage(),
    )
    beta = _beta(se.ResponseDone(event_id="e", response=response))["response"]
    assert beta["modalities"] == ["text", "audio"]
    assert beta["output_audio_format"] == "g711_ulaw"
    assert beta["voice"] == "ash"
    assert "audio" not in beta and "output_modalities" not in beta
    assert beta["output"][0]["content"] == [{"type": "audio", "transcript": "x"}]
    assert set(beta["usage"]["input_token_details"]) == {
        "text_tokens",
        "audio_tokens",
        "cached_tokens",
    }


# --- in ---------------------------------------------------------------------------------------


def test_flat_session_round_trips_through_a_beta_client() -> None:
    sent = {
        "modalities": ["text", "audio"],  # GA ["audio"]
        "instructions": "Be brief.",
        "voice": "alloy",
        "input_audio_format": "g711_alaw",
        "output_audio_format": "g711_alaw",
        "input_audio_transcription": {"model": "whisper-1", "language": "en", "prompt": "x"},
        "input_audio_noise_reduction": {"type": "near_field"},
        "turn_detection": {
            "type": "server_vad",
            "threshold": 0.7,
            "prefix_padding_ms": 100,
            "silence_duration_ms": 900,
            "create_response": False,
            "interrupt_response": False,
        },
        "max_response_output_tokens": 512,
        "speed": 1.2,
    }
    event = parse_client_event(
        json.dumps({"type": "session.update", "session": sent}), Dialect.BETA
    )
    assert isinstance(event, SessionUpdate)
    merged = merge_session(RealtimeSession(id="s"), event.session)
    echoed = _beta(se.SessionUpdated(event_id="e", session=merged))["session"]
    assert {k: echoed[k] for k in sent} == sent


@pytest.mark.parametrize("dialect", list(Dialect))
def test_pipecat_assistant_input_text_is_read_as_assistant_text(dialect: Dialect) -> None:
    event = parse_client_event(
        '{"type":"conversation.item.create","item":{"type":"message","role":"assistant",'
        '"content":[{"type":"input_text","text":"Hello"}]}}',
        dialect,
    )
    assert isinstance(event, ConversationItemCreate)
    assert event.item == AssistantMessage(content=[OutputText(text="Hello")])


@pytest.mark.parametrize("dialect", list(Dialect))
def test_output_text_on_user_and_system_messages_is_read_as_input_text(dialect: Dialect) -> None:
    for role, cls in (("user", UserMessage), ("system", SystemMessage)):
        item = {"role": role, "content": [{"type": "output_text", "text": "Hi"}]}
        event = parse_client_event(
            json.dumps({"type": "conversation.item.create", "item": item}), dialect
        )
        assert isinstance(event, ConversationItemCreate)
        assert event.item == cls(content=[InputText(text="Hi")])


def test_ga_connection_accepts_a_beta_shaped_session() -> None:
    event = parse_client_event('{"type":"session.update","session":{"voice":"echo"}}')
    assert isinstance(event, SessionUpdate)
    assert event.session.audio.output.voice == "echo"  # type: ignore[union-attr]


def test_transcription_session_update_is_a_transcription_session_update() -> None:
    for dialect in Dialect:
        event = parse_client_event(
            json.dumps(
                {
                    "type": "transcription_session.update",
                    "event_id": "evt_1",
                    "session": {
                        "input_audio_format": "pcm16",
                        "input_audio_transcription": {"model": "whisper-1"},
                        "turn_detection": {"type": "server_vad", "silence_duration_ms": 600},
                        "modalities": ["text"],
                        "client_secret": {"expires_at": {"anchor": "created_at", "seconds": 60}},
                    },
                }
            ),
            dialect,
        )
        assert isinstance(event, SessionUpdate)
        assert isinstance(event.session, TranscriptionSession)
        assert event.event_id == "evt_1"
        assert event.session.audio.input.turn_detection == ServerVad(silence_duration_ms=600)


def test_ga_shaped_transcription_session_update_is_accepted() -> None:
    """SDK 1.107.0 briefly sent GA-shaped ``transcription_session.update``."""
    event = parse_client_event(
        '{"type":"transcription_session.update","session":{"audio":{"input":{"turn_detection":null}}}}'
    )
    assert isinstance(event, SessionUpdate) and isinstance(event.session, TranscriptionSession)
    assert event.session.audio.input.turn_detection is None


def test_beta_item_reference_and_response_input() -> None:
    event = parse_client_event(
        json.dumps(
            {
                "type": "response.create",
                "response": {
                    "input": [
                        {"type": "item_reference", "id": "item_1"},
                        {"role": "assistant", "content": [{"type": "text", "text": "hi"}]},
                    ],
                    "temperature": 0.9,
                    "max_response_output_tokens": 20,
                },
            }
        ),
        Dialect.BETA,
    )
    params = event.response  # type: ignore[union-attr]
    assert params.max_output_tokens == 20
    assert params.input[0].id == "item_1"
    assert params.input[1] == AssistantMessage(content=[OutputText(text="hi")])


def test_dialect_from_handshake() -> None:
    assert Dialect.from_handshake() is Dialect.GA
    assert Dialect.from_handshake("realtime=v1") is Dialect.BETA
    assert Dialect.from_handshake("assistants=v2, realtime=v1") is Dialect.BETA
    assert Dialect.from_handshake(None, ["realtime", "openai-beta.realtime-v1"]) is Dialect.BETA
    assert Dialect.from_handshake(None, ["realtime", "openai-insecure-api-key.k"]) is Dialect.GA
