"""Speakers and non-speech tags in realtime sessions, end to end with the official SDK.

A real server with the default engines; every event is validated against the SDK's types.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from protocol import EXTENSION_PREFIX, AudioTagEvent
from tests.realtime import test_realtime_sdk as sdk
from tests.realtime.test_realtime_sdk import EVENT_TIMEOUT, GA_EVENTS, pcm24, stream_audio

engines = sdk.engines  # the real server with the default engines (fixtures)
server = sdk.server

pytestmark = pytest.mark.model

EXTRAS = {"non_speech_tags": True, "speaker_segments": True, "audio_tag_events": True}


async def listen_to(gateway, payload: bytes, *, silence_ms: int = 500) -> list:
    """Stream ``payload`` (pcm16 24 kHz) into a transcription session with every extra on;
    return all events once each committed item has its final transcript."""
    async with gateway.client().realtime.connect(extra_query={"intent": "transcription"}) as conn:
        await conn.session.update(
            session={
                "type": "transcription",
                "audio": {
                    "input": {
                        "transcription": {"model": "whisper-1", "voxgate": EXTRAS},
                        "turn_detection": {"type": "server_vad", "silence_duration_ms": silence_ms},
                    }
                },
            }
        )
        sender = asyncio.create_task(stream_audio(conn, payload, bytes_per_chunk=9600, pace=0))
        seen, committed, completed, open_turns = [], [], set(), set()
        while not (sender.done() and committed and not open_turns and completed >= set(committed)):
            raw = await asyncio.wait_for(conn.recv_bytes(), EVENT_TIMEOUT)
            if json.loads(raw)["type"].startswith(EXTENSION_PREFIX):  # ours, opted in
                event = AudioTagEvent.model_validate_json(raw)
            else:
                event = GA_EVENTS.validate_json(raw)  # the SDK's own types accept the rest
            seen.append(event)
            if event.type == "input_audio_buffer.speech_started":
                open_turns.add(event.item_id)
            elif event.type == "input_audio_buffer.committed":
                committed.append(event.item_id)
                open_turns.discard(event.item_id)
            elif event.type == "conversation.item.input_audio_transcription.completed":
                completed.add(event.item_id)
            elif event.type == "error":
                pytest.fail(f"unexpected error event: {event.error}")
        await sender
    return seen


def of_type(events: list, name: str) -> list:
    return [e for e in events if e.type == name]


async def test_two_speakers_in_the_sample_call_get_segment_events(server, testdata):
    events = await listen_to(server, pcm24(testdata, "pyannote/sample.wav").tobytes())
    segments = of_type(events, "conversation.item.input_audio_transcription.segment")
    completed = of_type(events, "conversation.item.input_audio_transcription.completed")
    # server VAD hears no pause in this call: one long utterance holds both voices, and it
    # is cut into one segment per speaker turn
    assert len(segments) >= 4 and len(completed) <= len(segments)
    speakers = [s.speaker for s in segments]
    assert set(speakers) == {"0", "1"}, [(s.speaker, s.text) for s in segments]
    assert speakers[0] == "0"
    for segment in segments:
        assert 0 <= segment.start < segment.end
    sheila = next(s for s in segments if "Sheila" in s.text)
    diane = next(s for s in segments if "New Jersey" in s.text)
    assert sheila.speaker != diane.speaker, [(s.speaker, s.text) for s in segments]
    for done in completed:  # the extension names the item's main speaker
        labels = {s.speaker for s in segments if s.item_id == done.item_id}
        assert done.model_extra["voxgate"]["speaker"] in labels


async def test_laughter_is_tagged_inline_in_the_completed_transcript(server, testdata):
    events = await listen_to(server, pcm24(testdata, "mfa/mfa_laughter.flac").tobytes())
    transcript = " ".join(
        e.transcript
        for e in of_type(events, "conversation.item.input_audio_transcription.completed")
    )
    assert "[laugh]" in transcript, transcript
    assert "liner" in transcript.lower()  # the words are there too ("… a liner")
    tags = of_type(events, "voxgate.input_audio_buffer.audio_tag")
    assert "laugh" in {t.label for t in tags}
    for done in of_type(events, "conversation.item.input_audio_transcription.completed"):
        assert "[" not in done.model_extra["voxgate"]["plain_transcript"]


async def test_clean_speech_gets_one_speaker_and_no_tags(server, testdata):
    events = await listen_to(server, pcm24(testdata, "openai-whisper/jfk.flac").tobytes())
    segments = of_type(events, "conversation.item.input_audio_transcription.segment")
    assert segments and {s.speaker for s in segments} == {"0"}
    transcript = " ".join(
        e.transcript
        for e in of_type(events, "conversation.item.input_audio_transcription.completed")
    )
    assert "[" not in transcript and "*" not in transcript, transcript
