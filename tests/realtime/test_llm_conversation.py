"""Conversations with the llm responder, end to end over the official SDK.

A real voxgate (real VAD, ASR and TTS) talks to a scripted OpenAI-compatible endpoint
(:mod:`testkit.chat_endpoint`) that stands in for a capable LLM; the embedded model answers
for real in the last test.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator

import numpy as np
import pytest
from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter

from engines.audio import load_pcm, resample
from realtime.inference.loading import load_engines, load_llm
from realtime.server.settings import Settings
from testkit.chat_endpoint import (
    Endless,
    HttpError,
    ScriptedChatEndpoint,
    Stall,
    TextReply,
    ToolCallReply,
)
from testkit.loadgen import send_paced, serve
from testkit.wer import wer

pytestmark = pytest.mark.model

EVENTS = TypeAdapter(RealtimeServerEvent)
EVENT_TIMEOUT = 60
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The current weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}

ONE_TURN = {"type": "server_vad", "silence_duration_ms": 1200}
"""server_vad that keeps jfk.flac (pauses up to ~1 s) in one turn."""


@pytest.fixture(scope="module")
def engines():
    return load_engines(Settings())


async def receive(conn) -> object:
    return EVENTS.validate_json(await asyncio.wait_for(conn.recv_bytes(), EVENT_TIMEOUT))


async def until(conn, kind: str) -> list:
    """Events up to and including the next one of type ``kind``."""
    seen = []
    while not seen or seen[-1].type != kind:
        seen.append(await receive(conn))
    return seen


async def until_all(conn, *kinds: str) -> list:
    """Events until one of each type in ``kinds`` arrived, in any order."""
    seen, wanted = [], set(kinds)
    while wanted:
        seen.append(await receive(conn))
        wanted.discard(seen[-1].type)
    return seen


async def ask(conn, text: str) -> list:
    """A typed user message and ``response.create``; the events up to ``response.done``."""
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    await conn.send({"type": "conversation.item.create", "item": item})
    await conn.send({"type": "response.create"})
    return await until(conn, "response.done")


def pcm24(testdata, clip: str, tail_s: float = 1.5) -> bytes:
    audio = resample(load_pcm(testdata / clip), 16_000, 24_000)
    return np.concatenate([audio, np.zeros(int(24_000 * tail_s), np.int16)]).tobytes()


async def send_audio(conn, payload: bytes, chunk_ms: int = 40) -> None:
    step = 48 * chunk_ms
    for at in range(0, len(payload), step):
        await conn.send(
            {
                "type": "input_audio_buffer.append",
                "audio": base64.b64encode(payload[at : at + step]).decode(),
            }
        )


@pytest.fixture
async def conversation(engines, request) -> AsyncIterator:
    """(endpoint, server) for the script in the test's ``script`` marker-free param."""
    script, extra = request.param
    async with (
        ScriptedChatEndpoint(script, api_key="sk-test-secret") as endpoint,
        serve(
            engines,
            llm_base_url=endpoint.base_url,
            llm_api_key="sk-test-secret",
            **extra,
        ) as server,
    ):
        yield endpoint, server


def scripted(*script, **settings):
    """The endpoint's script: replies in order, or one callable answering every request."""
    replies = script[0] if len(script) == 1 and callable(script[0]) else list(script)
    return pytest.mark.parametrize("conversation", [(replies, settings)], indirect=True)


@scripted(
    ToolCallReply("get_weather", '{"city": "Paris"}', call_id="call_w1"),
    TextReply("It is 21 degrees and sunny in Paris.", chunk_words=2),
)
async def test_a_tool_call_round_trip_ends_in_a_spoken_answer(conversation):
    endpoint, server = conversation
    async with server.client().realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(
            session={
                "type": "realtime",
                "instructions": "You are a weather bot.",
                "tools": [WEATHER],
            }
        )
        await until(conn, "session.updated")
        events = await ask(conn, "What's the weather in Paris?")
        call = next(e for e in events if e.type == "response.function_call_arguments.done")
        assert (call.name, call.call_id, json.loads(call.arguments)) == (
            "get_weather",
            "call_w1",
            {"city": "Paris"},
        )
        done = events[-1].response
        assert done.status == "completed" and [o.type for o in done.output] == ["function_call"]
        # the client runs the tool and asks for the rest of the turn (as the Agents SDK does)
        output = {"type": "function_call_output", "call_id": "call_w1", "output": '{"temp_c": 21}'}
        await conn.send({"type": "conversation.item.create", "item": output})
        await conn.send({"type": "response.create"})
        events = await until(conn, "response.done")
    audio = b"".join(
        base64.b64decode(e.delta) for e in events if e.type == "response.output_audio.delta"
    )
    assert len(audio) > 48_000  # more than half a second of speech
    transcript = "".join(
        e.delta for e in events if e.type == "response.output_audio_transcript.delta"
    )
    assert transcript == "It is 21 degrees and sunny in Paris."
    assert events[-1].response.usage.output_tokens > 0
    first, second = endpoint.requests
    assert first["messages"][0] == {"role": "system", "content": "You are a weather bot."}
    assert first["tools"][0]["function"]["name"] == "get_weather"
    assert first["max_tokens"] == 256  # "inf" (the default) meets the server's cap
    assert second["messages"][-2]["tool_calls"][0]["id"] == "call_w1"
    assert second["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_w1",
        "content": '{"temp_c": 21}',
    }


@scripted(lambda body: TextReply("Thank you, that was inspiring.", chunk_words=3))
async def test_a_spoken_turn_gets_a_spoken_answer_from_its_transcript(conversation, testdata):
    endpoint, server = conversation
    async with server.client().realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(
            session={
                "type": "realtime",
                "instructions": "You are a helpful assistant. Greet the user.",
                "audio": {"input": {"turn_detection": ONE_TURN}},
            }
        )
        await until(conn, "session.updated")
        await send_audio(conn, pcm24(testdata, "openai-whisper/jfk.flac"))
        events = await until(conn, "response.done")
    assert events[-1].response.status == "completed"
    spoken = "".join(e.delta for e in events if e.type == "response.output_audio_transcript.delta")
    assert spoken == "Thank you, that was inspiring."  # the instructions are never read aloud
    said = endpoint.requests[-1]["messages"][-1]  # earlier requests: early replies, if any
    assert said["role"] == "user"
    truth = (testdata / "openai-whisper/jfk.txt").read_text()
    assert wer(truth, said["content"]) < 0.15, said


async def transcribed_turns(conn) -> None:
    """One turn per clip (:data:`ONE_TURN`), its transcript shown; until ``session.updated``."""
    input_audio = {"turn_detection": ONE_TURN, "transcription": {"model": "whisper-1"}}
    await conn.session.update(session={"type": "realtime", "audio": {"input": input_audio}})
    await until(conn, "session.updated")


ASKED_AT: list[float] = []
"""When the quick-reply test's endpoint was asked (``time.monotonic``)."""


def _thank_and_note_when(body: dict) -> TextReply:
    ASKED_AT.append(time.monotonic())
    return TextReply("Thank you.", chunk_words=2)


@scripted(_thank_and_note_when, llm_reply_transcript="quick")
async def test_a_quick_reply_answers_the_guess_before_the_final_and_the_item_keeps_the_final(
    conversation, testdata
):
    endpoint, server = conversation
    ASKED_AT.clear()
    async with server.client().realtime.connect(model="gpt-realtime") as conn:
        await transcribed_turns(conn)
        # the speech at once, the silence after it as a microphone sends it: the VAD then
        # sees the pause before the turn's end, as in a live conversation
        await send_audio(conn, pcm24(testdata, "openai-whisper/jfk.flac", tail_s=0))
        await send_paced(conn, bytes(48_000 * 3 // 2), chunk_ms=40)
        completed = "conversation.item.input_audio_transcription.completed"
        events = await until(conn, completed)
        final_at = time.monotonic()
        if not any(e.type == "response.done" for e in events):
            events += await until(conn, "response.done")
    done = next(e for e in events if e.type == "response.done").response
    assert done.status == "completed"
    assert any(e.type == "response.output_audio.delta" for e in events)
    assert ASKED_AT[-1] < final_at  # the reply did not wait for the final transcript
    truth = (testdata / "openai-whisper/jfk.txt").read_text()
    heard = endpoint.requests[-1]["messages"][-1]["content"]  # the quick guess (tiny.en)
    assert wer(truth, heard) < 0.25, heard
    final = next(e for e in events if e.type == completed)
    assert wer(truth, final.transcript) < 0.1, final.transcript  # the final model's


@scripted(lambda body: TextReply("Thank you.", chunk_words=2), llm_reply_transcript="final")
async def test_a_final_reply_answers_the_final_transcript(conversation, testdata):
    endpoint, server = conversation
    async with server.client().realtime.connect(model="gpt-realtime") as conn:
        await transcribed_turns(conn)
        await send_audio(conn, pcm24(testdata, "openai-whisper/jfk.flac"))
        events = await until_all(
            conn, "response.done", "conversation.item.input_audio_transcription.completed"
        )
    final = next(
        e for e in events if e.type == "conversation.item.input_audio_transcription.completed"
    )
    assert endpoint.requests[-1]["messages"][-1]["content"] == final.transcript


@scripted(Endless(token=" It went on.", interval_s=0.01), TextReply("Sure."))
async def test_barge_in_closes_the_llm_stream_and_the_next_turn_hears_only_what_was_heard(
    conversation, testdata
):
    endpoint, server = conversation
    async with server.client().realtime.connect(model="gpt-realtime") as conn:
        vad = {**ONE_TURN, "create_response": False}
        await conn.session.update(
            session={"type": "realtime", "audio": {"input": {"turn_detection": vad}}}
        )
        await until(conn, "session.updated")
        await ask_without_waiting(conn, "Tell me a long story.")
        first_audio = await until(conn, "response.output_audio.delta")
        item_id = first_audio[-1].item_id
        await send_audio(conn, pcm24(testdata, "openai-whisper/jfk.flac"))
        events = await until(conn, "response.done")
        assert events[-1].response.status == "cancelled"
        await endpoint.wait_disconnect(timeout=10, request_index=0)
        # as SDKs do on an interruption: keep what was played (here: 200 ms)
        await conn.send(
            {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": 200,
            }
        )
        await until_all(conn, "conversation.item.truncated", "input_audio_buffer.committed")
        await conn.send({"type": "response.create"})
        after = await until(conn, "response.done")
    cancelled_at = len(events) - 1
    assert not [e for e in events[cancelled_at:] if e.type == "response.output_audio.delta"]
    assert not [
        e for e in after if e.type == "response.output_audio.delta" and e.item_id == item_id
    ]
    said = events[-1].response.output[0].content[0].transcript
    assert after[-1].response.status == "completed", [e.type for e in after]
    heard = [m for m in endpoint.requests[1]["messages"] if m["role"] == "assistant"]
    assert heard and len(heard[0]["content"]) < len(said)
    assert said.startswith(heard[0]["content"])


async def ask_without_waiting(conn, text: str) -> None:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    await conn.send({"type": "conversation.item.create", "item": item})
    await conn.send({"type": "response.create"})


@scripted(
    HttpError(500, "The model crashed."),
    Stall(first_token_delay_s=30),
    ToolCallReply("get_weather", '{"city": "Par'),
    TextReply("All good now."),
    llm_first_token_timeout_s=1.0,
)
async def test_a_down_slow_or_malformed_llm_fails_the_response_and_the_session_goes_on(
    conversation,
):
    endpoint, server = conversation
    failures = []
    async with server.client().realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "tools": [WEATHER]})
        await until(conn, "session.updated")
        for question in ("Hello?", "Are you there?", "Weather in Paris?"):
            events = await ask(conn, question)
            errors = [e.error.message for e in events if e.type == "error"]
            done = events[-1].response
            assert done.status == "failed" and errors == [done.status_details.error.message]
            failures.append(errors[0])
        events = await ask(conn, "And now?")
    assert "HTTP 500: The model crashed." in failures[0]
    assert "did not start answering within 1 s" in failures[1]
    assert "malformed JSON arguments for 'get_weather'" in failures[2]
    assert all("sk-test-secret" not in f for f in failures)
    assert events[-1].response.status == "completed"
    spoken = "".join(e.delta for e in events if e.type == "response.output_audio_transcript.delta")
    assert spoken == "All good now."
    assert await endpoint.wait_disconnect(timeout=10, request_index=1) == 1


@pytest.fixture(scope="module")
def engines_with_llm(engines):
    from dataclasses import replace

    llm = load_llm(Settings())
    yield replace(engines, llm=llm)
    llm.close()


async def test_the_embedded_model_answers_a_spoken_question(engines_with_llm, testdata):
    async with (
        serve(engines_with_llm) as server,  # responder auto: the embedded model
        server.client().realtime.connect(model="gpt-realtime") as conn,
    ):
        await conn.session.update(
            session={"type": "realtime", "audio": {"input": {"turn_detection": ONE_TURN}}}
        )
        await until(conn, "session.updated")
        await send_audio(conn, pcm24(testdata, "openai-whisper/jfk.flac"))
        events = await until(conn, "response.done")
    done = events[-1].response
    assert done.status == "completed", done
    spoken = "".join(e.delta for e in events if e.type == "response.output_audio_transcript.delta")
    assert len(spoken.split()) >= 3
    audio = [e for e in events if e.type == "response.output_audio.delta"]
    assert audio and done.usage.input_tokens > 0 and done.usage.output_tokens > 0
