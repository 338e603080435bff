"""The sans-I/O session: plain synchronous tests, no event loop, no models."""

from __future__ import annotations

import json

import pytest

from engines.base import ASROptions, SpeechEdge, Transcript, TranscriptDelta, VADEvent
from protocol import RealtimeSession, TranscriptionSession, dump_server_event
from realtime.session import Session
from realtime.session.commands import (
    CancelSynthesis,
    CancelTranscript,
    ConfigureVAD,
    DetectSpeech,
    FeedTranscriber,
    FinalizeTranscript,
    RequestPartial,
    StartTranscript,
    Synthesize,
)
from realtime.session.ids import SequentialIds
from tests.realtime.session_support import TRANSCRIBED, append, drain, make, send, types


def test_creation_events_and_vad_configuration():
    s = Session(RealtimeSession(), ids=SequentialIds(), created_at=1_000.0)
    events, commands = drain(s)
    assert types(events) == ["session.created", "conversation.created"]
    assert events[0].session.expires_at == 1_000 + 3_600
    assert commands == [ConfigureVAD(s.vad_options)]
    assert s.vad_options.silence_duration_ms == 200  # the GA default session
    t = Session(TranscriptionSession(), ids=SequentialIds(), created_at=0.0)
    assert types(t.events_to_send()) == ["session.created"]


def test_server_vad_turn_produces_the_reference_event_flow():
    s = make(TRANSCRIBED)
    _, commands = append(s, 2.0)
    assert [type(c) for c in commands] == [DetectSpeech]
    assert commands[0].chunk.start == 0 and len(commands[0].chunk.samples) == pytest.approx(
        32_000,
        abs=400,  # soxr holds ~12 ms back
    )
    s.receive_vad_events([VADEvent(SpeechEdge.START, 4_800, 0.9)], 16_000)
    events, commands = drain(s)
    assert types(events) == ["input_audio_buffer.speech_started"]
    assert events[0].audio_start_ms == 300
    item = events[0].item_id
    assert [type(c) for c in commands] == [StartTranscript, FeedTranscriber, RequestPartial]
    assert commands[0].item_id == item and commands[0].options == ASROptions()
    assert commands[1].chunk.start == 4_800 and commands[1].chunk.end == 16_000
    s.receive_transcript_delta(item, TranscriptDelta("Hello"))
    assert types(drain(s)[0]) == ["conversation.item.input_audio_transcription.delta"]
    s.receive_vad_events([VADEvent(SpeechEdge.END, 24_000, 0.1)], 32_000)
    events, commands = drain(s)
    assert types(events) == [
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "response.created",  # create_response: true in the default session
        "response.done",  # the say responder has nothing to say yet
    ]
    assert events[0].audio_end_ms == 24_000 // 16 + 200
    assert events[2].item.content[0].type == "input_audio"  # legacy clients index content[0]
    assert events[4].response.status == "completed" and events[4].response.output == []
    feeds = [c for c in commands if isinstance(c, FeedTranscriber)]
    assert feeds[-1].chunk.end == 24_000 + 200 * 16  # the tail after the end of speech
    assert isinstance(commands[-1], FinalizeTranscript) and commands[-1].item_id == item
    s.receive_transcript(item, Transcript("Hello there.", "en", 0.3, 1.7))
    events, _ = drain(s)
    assert types(events) == [
        "conversation.item.input_audio_transcription.completed",
        "conversation.item.done",
    ]
    assert events[0].transcript == "Hello there." and events[0].usage.type == "duration"
    assert events[1].item.content[0].transcript == "Hello there."


def test_manual_mode_commit_and_errors():
    s = make()
    send(
        s,
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {"input": {"turn_detection": None, "transcription": {"model": "x"}}},
            },
        },
    )
    events, _ = send(s, {"type": "input_audio_buffer.commit", "event_id": "c1"})
    assert events[0].error.code == "input_audio_buffer_commit_empty"
    assert events[0].error.event_id == "c1"
    _, commands = append(s, 1.0)
    assert commands == []  # no VAD in manual mode
    events, commands = send(s, {"type": "input_audio_buffer.commit"})
    assert types(events) == ["input_audio_buffer.committed", "conversation.item.added"]
    start, feed, final = commands
    assert start == StartTranscript(feed.item_id, ASROptions())
    assert isinstance(feed, FeedTranscriber) and feed.chunk.start == 0
    assert len(feed.chunk.samples) == pytest.approx(16_000, abs=400)
    assert final == FinalizeTranscript(feed.item_id)
    append(s, 0.5)
    events, _ = send(s, {"type": "input_audio_buffer.clear"})
    assert types(events) == ["input_audio_buffer.cleared"]
    assert (
        send(s, {"type": "input_audio_buffer.commit"})[0][0].error.code
        == "input_audio_buffer_commit_empty"
    )


def test_clear_during_speech_cancels_the_transcription():
    s = make(TRANSCRIBED)
    append(s, 1.0)
    s.receive_vad_events([VADEvent(SpeechEdge.START, 0, 0.9)], 16_000)
    item = drain(s)[0][0].item_id
    _, commands = send(s, {"type": "input_audio_buffer.clear"})
    assert commands == [CancelTranscript(item)]
    s.receive_transcript(item, Transcript("late", "en", 0, 1))  # nothing for a dropped item
    assert drain(s)[0] == []


def test_bad_audio_is_an_error_with_the_event_id():
    s = make()
    for audio, message in [("***", "base64"), ("AAAA", "odd")]:
        events, _ = send(s, {"type": "input_audio_buffer.append", "event_id": "a", "audio": audio})
        assert events[0].error.code == "invalid_value" and events[0].error.event_id == "a"
        assert message in events[0].error.message
        assert events[0].error.param == "audio"
    append(s, 0.1)  # the session carries on


SAY = {
    "type": "message",
    "role": "assistant",
    "content": [{"type": "output_text", "text": "Hi there."}],
}


def test_response_lifecycle_and_late_audio_after_cancel():
    s = make()
    events, _ = send(s, {"type": "conversation.item.create", "item": SAY})
    assert types(events) == ["conversation.item.added", "conversation.item.done"]
    events, commands = send(s, {"type": "response.create"})
    assert types(events) == [
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
        "response.output_audio_transcript.delta",
    ]
    assert events[3].part.transcript == ""  # legacy clients append to it
    (synth,) = commands
    assert isinstance(synth, Synthesize) and synth.text == "Hi there."
    assert synth.output_format == "audio/pcm"
    again, _ = send(s, {"type": "response.create", "event_id": "r2"})
    assert again[0].error.code == "conversation_already_has_active_response"
    s.receive_synthesized_audio(synth.response_id, b"\0\0" * 24_000, final=False)  # 1 s
    deltas, _ = drain(s)
    assert types(deltas) == ["response.output_audio.delta"] * 10  # split into 100 ms deltas
    events, commands = send(s, {"type": "response.cancel"})
    assert commands == [CancelSynthesis(synth.response_id)]
    assert types(events)[-1] == "response.done"
    assert events[-1].response.status == "cancelled"
    assert events[-1].response.status_details.reason == "client_cancelled"
    s.receive_synthesized_audio(synth.response_id, b"\0\0" * 2400, final=True)
    assert drain(s)[0] == []  # audio after the cancel is dropped
    events, _ = send(s, {"type": "response.cancel", "event_id": "x"})
    assert events[0].error.code == "response_cancel_not_active"


def test_truncate_clamps_to_the_audio_produced():
    s = make()
    send(s, {"type": "conversation.item.create", "item": SAY})
    _, (synth,) = send(s, {"type": "response.create"})
    s.receive_synthesized_audio(synth.response_id, b"\0\0" * 24_000, final=True)  # 1000 ms
    events, _ = drain(s)
    item_id = events[-1].response.output[0].id
    events, _ = send(
        s,
        {
            "type": "conversation.item.truncate",
            "item_id": item_id,
            "content_index": 0,
            "audio_end_ms": 5000,
        },
    )
    assert types(events) == ["conversation.item.truncated"]
    assert events[0].audio_end_ms == 1000
    events, _ = send(s, {"type": "conversation.item.retrieve", "item_id": item_id})
    assert events[0].item.content[0].transcript == "Hi there."


def test_barge_in_cancels_with_turn_detected():
    s = make()
    _, (synth,) = send(
        s, {"type": "response.create", "response": {"instructions": "A long story."}}
    )
    append(s, 0.5)
    s.receive_vad_events([VADEvent(SpeechEdge.START, 0, 0.9)], 8_000)
    events, commands = drain(s)
    assert types(events)[0] == "input_audio_buffer.speech_started"
    assert (
        events[-1].type == "response.done"
        and events[-1].response.status_details.reason == "turn_detected"
    )
    assert CancelSynthesis(synth.response_id) in commands


def test_echo_waits_for_the_transcript():
    s = make(responder="echo")
    append(s, 1.0)
    s.receive_vad_events(
        [VADEvent(SpeechEdge.START, 0, 0.9), VADEvent(SpeechEdge.END, 12_000, 0.1)], 16_000
    )
    events, commands = drain(s)
    item = events[0].item_id
    assert "response.created" in types(events)
    assert not any(isinstance(c, Synthesize) for c in commands)  # nothing to say yet
    s.receive_transcript(item, Transcript("say it back", "en", 0, 1))
    events, commands = drain(s)
    assert "response.output_audio_transcript.delta" in types(events)
    assert [c.text for c in commands if isinstance(c, Synthesize)] == ["say it back"]


def test_text_modality_and_transcription_failure():
    s = make()
    events, commands = send(
        s,
        {
            "type": "response.create",
            "response": {"instructions": "Text only.", "output_modalities": ["text"]},
        },
    )
    assert "response.output_text.delta" in types(events) and commands == []
    assert events[-1].type == "response.done" and events[-1].response.status == "completed"
    t = make(TranscriptionSession())
    send(
        t,
        {
            "type": "session.update",
            "session": {"type": "transcription", "audio": {"input": {"turn_detection": None}}},
        },
    )
    append(t, 0.5)
    _, (_start, feed, _final) = send(t, {"type": "input_audio_buffer.commit"})
    t.receive_transcription_failed(feed.item_id, "The audio could not be transcribed.")
    events, _ = drain(t)
    assert types(events) == ["conversation.item.input_audio_transcription.failed"]
    events, _ = send(t, {"type": "response.create", "event_id": "r"})
    assert events[0].type == "error" and events[0].error.event_id == "r"


def test_items_create_retrieve_delete_and_errors():
    s = make()
    send(s, {"type": "conversation.item.create", "item": {**SAY, "id": "a1"}})
    events, _ = send(
        s,
        {
            "type": "conversation.item.create",
            "previous_item_id": "root",
            "item": {**SAY, "id": "a0"},
        },
    )
    assert events[0].previous_item_id is None
    events, _ = send(
        s, {"type": "conversation.item.create", "previous_item_id": "nope", "item": SAY}
    )
    assert events[0].error.param == "previous_item_id"
    events, _ = send(s, {"type": "conversation.item.retrieve", "item_id": "a1"})
    assert events[0].item.id == "a1"
    events, _ = send(s, {"type": "conversation.item.delete", "item_id": "a1"})
    assert types(events) == ["conversation.item.deleted"]
    events, _ = send(s, {"type": "conversation.item.delete", "item_id": "a1", "event_id": "d"})
    assert events[0].error.event_id == "d"


def test_first_update_may_choose_the_session_kind():
    s = make()
    events, _ = send(s, {"type": "session.update", "session": {"type": "transcription"}})
    assert events[0].session.type == "transcription"
    append(s, 0.2)  # once audio flowed, the kind is fixed
    events, _ = send(s, {"type": "session.update", "session": {"type": "realtime"}})
    assert events[0].type == "error" and events[0].error.param == "session.type"


def test_idle_timeout_after_a_response_played():
    s = make(TRANSCRIBED)
    send(
        s,
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {
                    "input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": 2000}}
                },
            },
        },
    )
    _, (synth,) = send(
        s, {"type": "response.create", "response": {"instructions": "Anyone there?"}}
    )
    s.receive_synthesized_audio(synth.response_id, b"\0\0" * 24_000, final=True)  # 1 s of audio
    drain(s)
    append(s, 2.5)
    s.receive_vad_events([], 40_000)  # 2.5 s of silence: still within 1 s playback + 2 s
    assert drain(s)[0] == []
    append(s, 1.0)
    s.receive_vad_events([], 56_000)  # 3.5 s: past it
    events, commands = drain(s)
    assert types(events)[:3] == [
        "input_audio_buffer.timeout_triggered",
        "input_audio_buffer.committed",
        "conversation.item.added",
    ]
    assert (events[0].audio_start_ms, events[0].audio_end_ms) == (1000, 3500)
    assert any(isinstance(c, FinalizeTranscript) for c in commands)
    s.receive_vad_events([], 80_000)
    assert "input_audio_buffer.timeout_triggered" not in types(drain(s)[0])  # once per response


def test_semantic_vad_eagerness_maps_to_silence():
    s = make()
    for eagerness, silence in [("low", 1500), ("medium", 800), ("high", 400), ("auto", 800)]:
        turn = {"type": "semantic_vad", "eagerness": eagerness}
        _, commands = send(
            s,
            {
                "type": "session.update",
                "session": {"type": "realtime", "audio": {"input": {"turn_detection": turn}}},
            },
        )
        assert s.vad_options.silence_duration_ms == silence
        assert (
            ConfigureVAD(s.vad_options) in commands or eagerness == "auto"
        )  # auto = medium: unchanged


def test_transcription_extras_when_the_session_opts_in():
    from engines.base import AudioTag
    from realtime.inference.annotation import Annotation, SpeakerSegment

    s = make(TranscriptionSession())
    send(
        s,
        {
            "type": "session.update",
            "session": {
                "type": "transcription",
                "audio": {
                    "input": {
                        "transcription": {
                            "model": "whisper-1",
                            "voxgate": {
                                "non_speech_tags": True,
                                "speaker_segments": True,
                                "audio_tag_events": True,
                            },
                        },
                        "turn_detection": None,
                    }
                },
            },
        },
    )
    assert s.extras.speaker_segments and s.extras.non_speech_tags
    append(s, 1.0)
    _, commands = send(s, {"type": "input_audio_buffer.commit"})
    item = commands[0].item_id
    annotation = Annotation(
        text="So [laugh] I *really* think so.",
        plain_text="So I really think so.",
        speaker="1",
        segments=(
            SpeakerSegment("0", 0.25, 0.45, "So"),
            SpeakerSegment("1", 0.6, 1.9, "I really think so."),
        ),
        events=(AudioTag("laugh", 0.68, 0.5, 1.2),),
        speech_start=0.25,
        speech_end=1.9,
    )
    transcript = Transcript("So [Laughter] I really think so.", "en", 0.0, 2.0)
    s.receive_transcript(item, transcript, annotation)
    events, _ = drain(s)  # each one validated by the SDK's own types
    assert types(events) == [
        "conversation.item.input_audio_transcription.segment",
        "conversation.item.input_audio_transcription.segment",
        "voxgate.input_audio_buffer.audio_tag",
        "conversation.item.input_audio_transcription.completed",
        "conversation.item.done",
    ]
    first, segment, tag, completed, done = events
    assert (first.speaker, first.text, first.start, first.end) == ("0", "So", 0.25, 0.45)
    assert (segment.speaker, segment.text, segment.start, segment.end) == (
        "1",
        "I really think so.",
        0.6,
        1.9,
    )
    assert (tag.label, tag.audio_start_ms, tag.audio_end_ms, tag.item_id) == (
        "laugh",
        500,
        1200,
        item,
    )
    assert completed.transcript == "So [laugh] I *really* think so."
    wire = json.loads(dump_server_event(completed))
    assert wire["voxgate"] == {"speaker": "1", "plain_transcript": "So I really think so."}
    assert done.item.content[0].transcript == completed.transcript


def test_no_extras_and_no_extension_field_unless_asked():
    from realtime.inference.annotation import Annotation

    s = make(TranscriptionSession())
    send(
        s,
        {
            "type": "session.update",
            "session": {"type": "transcription", "audio": {"input": {"turn_detection": None}}},
        },
    )
    append(s, 1.0)
    _, commands = send(s, {"type": "input_audio_buffer.commit"})
    annotation = Annotation("a [laugh]", "a", "0", (), (), 0.0, 1.0)
    s.receive_transcript(commands[0].item_id, Transcript("a", "en", 0, 1), annotation)
    events, _ = drain(s)
    assert types(events) == [
        "conversation.item.input_audio_transcription.completed",
        "conversation.item.done",
    ]
    assert events[0].transcript == "a" and "voxgate" not in dump_server_event(events[0])
