"""Session defaults (reference §6.2) and ``session.update`` merge semantics (§6.3)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from protocol import (
    AudioPCMU,
    Dialect,
    InvalidEvent,
    RealtimeSession,
    SemanticVad,
    ServerVad,
    SessionUpdate,
    TranscriptionSession,
    VoxgateTranscriptionOptions,
    merge_session,
    parse_client_event,
    parse_session_config,
)

REFERENCE_DEFAULT_AUDIO = {
    "input": {
        "format": {"type": "audio/pcm", "rate": 24000},
        "transcription": None,
        "noise_reduction": None,
        "turn_detection": {
            "type": "server_vad",
            "threshold": 0.5,
            "prefix_padding_ms": 300,
            "silence_duration_ms": 200,
            "idle_timeout_ms": None,
            "create_response": True,
            "interrupt_response": True,
        },
    },
    "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin", "speed": 1},
}


def test_new_realtime_session_matches_reference_defaults() -> None:
    data = json.loads(RealtimeSession(id="sess_1").model_dump_json())
    assert data["type"] == "realtime"
    assert data["object"] == "realtime.session"
    assert data["output_modalities"] == ["audio"]
    assert data["tools"] == []
    assert data["tool_choice"] == "auto"
    assert data["max_output_tokens"] == "inf"
    assert data["tracing"] is None
    assert data["prompt"] is None
    assert data["include"] is None
    assert data["audio"] == REFERENCE_DEFAULT_AUDIO


def test_new_transcription_session_defaults() -> None:
    data = json.loads(TranscriptionSession(id="sess_2").model_dump_json())
    assert data["type"] == "transcription"
    assert data["object"] == "realtime.transcription_session"
    assert set(data) == {"type", "object", "id", "expires_at", "audio", "include"}
    assert data["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert data["audio"]["input"]["transcription"]["model"] == "whisper-1"
    assert (
        data["audio"]["input"]["turn_detection"]
        == REFERENCE_DEFAULT_AUDIO["input"]["turn_detection"]
    )


def test_server_vad_field_defaults_are_the_documented_ones() -> None:
    assert ServerVad() == ServerVad(
        threshold=0.5, prefix_padding_ms=300, silence_duration_ms=500, idle_timeout_ms=None
    )
    assert SemanticVad().eagerness == "auto"


CURRENT = RealtimeSession(id="sess_1", model="gpt-realtime", expires_at=100, instructions="Hi.")


def _update(session: dict[str, Any], dialect: Dialect = Dialect.GA) -> Any:
    event = parse_client_event(json.dumps({"type": "session.update", "session": session}), dialect)
    assert isinstance(event, SessionUpdate)
    return event.session


def _merged(session: dict[str, Any], current: Any = CURRENT) -> Any:
    return merge_session(current, _update(session))


def test_only_sent_fields_change() -> None:
    merged = _merged({"type": "realtime", "output_modalities": ["text"]})
    assert merged.output_modalities == ["text"]
    assert merged.model_copy(update={"output_modalities": ["audio"]}) == CURRENT


def test_nested_fields_merge_one_by_one() -> None:
    merged = _merged(
        {
            "type": "realtime",
            "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 0.8}}},
        }
    )
    vad = merged.audio.input.turn_detection
    assert vad == ServerVad(threshold=0.8, silence_duration_ms=200)  # 200 kept, not reset to 500
    assert merged.audio.output == CURRENT.audio.output


def test_changing_a_discriminated_object_replaces_it() -> None:
    merged = _merged(
        {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "semantic_vad"}}}}
    )
    assert merged.audio.input.turn_detection == SemanticVad()
    merged = _merged({"type": "realtime", "audio": {"output": {"format": {"type": "audio/pcmu"}}}})
    assert merged.audio.output.format == AudioPCMU()
    assert merged.audio.output.voice == "marin"


def test_null_turns_things_off_and_clearing_values_work() -> None:
    off = _merged({"type": "realtime", "audio": {"input": {"turn_detection": None}}})
    assert off.audio.input.turn_detection is None
    back = _merged(
        {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "server_vad"}}}},
        current=off,
    )
    assert back.audio.input.turn_detection == ServerVad()  # the field defaults again
    cleared = _merged({"type": "realtime", "instructions": "", "tools": []})
    assert cleared.instructions == ""
    assert cleared.tools == []


def test_omitting_a_field_keeps_it() -> None:
    with_nr = _merged(
        {"type": "realtime", "audio": {"input": {"noise_reduction": {"type": "far_field"}}}}
    )
    kept = _merged({"type": "realtime", "audio": {"input": {}}}, current=with_nr)
    assert kept.audio.input.noise_reduction == with_nr.audio.input.noise_reduction
    removed = _merged(
        {"type": "realtime", "audio": {"input": {"noise_reduction": None}}}, current=with_nr
    )
    assert removed.audio.input.noise_reduction is None


def test_lists_are_replaced() -> None:
    tools = [{"type": "function", "name": "a"}, {"type": "function", "name": "b"}]
    first = _merged({"type": "realtime", "tools": tools})
    second = _merged({"type": "realtime", "tools": [{"type": "function", "name": "c"}]}, first)
    assert [t.name for t in second.tools] == ["c"]


def test_server_owned_fields_are_never_taken_from_the_client() -> None:
    merged = _merged({"type": "realtime", "id": "sess_evil", "model": "other", "expires_at": 1})
    assert (merged.id, merged.model, merged.expires_at) == ("sess_1", "gpt-realtime", 100)


def test_session_type_cannot_change() -> None:
    with pytest.raises(InvalidEvent) as info:
        _merged({"type": "transcription"})
    assert (info.value.code, info.value.param, info.value.event_id) == (
        "invalid_value",
        "session.type",
        None,
    )
    assert info.value.with_event_id("evt_1").event_id == "evt_1"


def test_merge_returns_a_new_session() -> None:
    before = CURRENT.model_dump()
    merged = _merged({"type": "realtime", "instructions": "Changed."})
    assert merged is not CURRENT
    assert CURRENT.model_dump() == before


def test_transcription_session_merge() -> None:
    current = TranscriptionSession(id="sess_2")
    merged = merge_session(
        current,
        _update(
            {
                "type": "transcription",
                "audio": {"input": {"transcription": {"language": "fr"}}},
                "include": ["item.input_audio_transcription.logprobs"],
            }
        ),
    )
    transcription = merged.audio.input.transcription
    assert (transcription.model, transcription.language) == ("whisper-1", "fr")
    assert merged.include == ["item.input_audio_transcription.logprobs"]
    assert merged.audio.input.turn_detection == current.audio.input.turn_detection


def test_extension_options_merge_and_stay_invisible_until_set() -> None:
    current = TranscriptionSession(id="sess_2")
    assert "voxgate" not in json.dumps(current.model_dump(mode="json"))
    on = merge_session(
        current,
        _update(
            {
                "type": "transcription",
                "audio": {"input": {"transcription": {"voxgate": {"non_speech_tags": True}}}},
            }
        ),
    )
    more = merge_session(
        on,
        _update(
            {
                "type": "transcription",
                "audio": {"input": {"transcription": {"voxgate": {"speaker_segments": True}}}},
            }
        ),
    )
    assert more.audio.input.transcription.voxgate == VoxgateTranscriptionOptions(
        non_speech_tags=True, speaker_segments=True
    )
    assert '"voxgate":{"non_speech_tags":true' in more.model_dump_json()


def test_beta_and_ga_updates_merge_to_the_same_session() -> None:
    ga = _update(
        {
            "type": "realtime",
            "instructions": "x",
            "output_modalities": ["audio"],
            "audio": {
                "input": {
                    "format": {"type": "audio/pcmu"},
                    "transcription": {"model": "whisper-1"},
                    "turn_detection": {"type": "server_vad", "silence_duration_ms": 800},
                },
                "output": {"voice": "alloy", "format": {"type": "audio/pcmu"}, "speed": 1.1},
            },
            "max_output_tokens": 300,
        }
    )
    beta = _update(
        {
            "instructions": "x",
            "modalities": ["text", "audio"],
            "input_audio_format": "g711_ulaw",
            "output_audio_format": "g711_ulaw",
            "input_audio_transcription": {"model": "whisper-1"},
            "turn_detection": {"silence_duration_ms": 800},
            "voice": "alloy",
            "speed": 1.1,
            "max_response_output_tokens": 300,
            "temperature": 0.6,
        },
        Dialect.BETA,
    )
    assert merge_session(CURRENT, ga) == merge_session(CURRENT, beta)


def test_parse_session_config_reads_client_secret_sessions() -> None:
    session = parse_session_config({"type": "realtime", "instructions": "Hi"})
    assert isinstance(session, RealtimeSession)
    assert session.model_fields_set == {"type", "instructions"}
    flat = parse_session_config({"voice": "ash"}, Dialect.BETA)
    assert isinstance(flat, RealtimeSession) and flat.audio.output.voice == "ash"
    with pytest.raises(InvalidEvent) as info:
        parse_session_config({"type": "realtime", "max_output_tokens": 0})
    assert (info.value.code, info.value.param) == ("integer_below_min_value", "max_output_tokens")


def test_parse_session_config_reports_beta_params_relative_to_the_session() -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_session_config({"input_audio_format": "opus"}, Dialect.BETA)
    assert (info.value.code, info.value.param) == ("invalid_value", "input_audio_format")
