"""The OpenAI Agents SDK for JS (``@openai/agents-realtime``, pinned in node/) talks with voxgate.

node/agent.mjs drives the SDK as its voice-agent docs show (a ``RealtimeAgent``, a
``RealtimeSession`` with the websocket transport, ``connect({apiKey, url})`` with only the
URL and the key changed, the question handed to ``sendAudio``, the session's ``audio``
events collected) against a real ``voxgate serve`` over wss (:mod:`node_support`). Its LLM
responder asks a scripted OpenAI-compatible endpoint (:mod:`testkit.chat_endpoint`) served
from this test's event loop while Node runs. The question is spoken by voxgate's own TTS
(``/v1/audio/speech``, the hibari voice: deterministic, and heard right by Whisper base; see
test_agents_sdk.py); the answer the SDK hands over is transcribed by voxgate's batch
endpoint. Every run also checks that voxgate sent no ``error`` event and no server event the
SDK's own schema rejects, and that the SDK logged no complaint.

Skipped only when ``node`` is not installed; fails when the npm packages are missing.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from engines.audio_files import wav_header
from testkit.chat_endpoint import Outcome, ScriptedChatEndpoint, TextReply, ToolCallReply
from tests.conformance.node_support import (
    NODE,
    TlsServer,
    require_packages,
    result,
    run_script,
    tls_voxgate,
)

if NODE is None:
    pytest.skip(
        "node is not installed: the Agents SDK (JS) conformance tests need Node (20 or later)",
        allow_module_level=True,
    )

pytestmark = pytest.mark.model

LLM_KEY = "sk-node-agents-conformance"
RATE = 24_000
TAIL_S = 1.5
HTTP_TIMEOUT_S = 120
QUESTION = "What is the weather like in Paris today?"  # see test_agents_sdk.py on the wording
WEATHER = "21 degrees and sunny"
ANSWER = "It is 21 degrees and sunny in Paris."


@asynccontextmanager
async def voxgate(
    root: Path, script: Callable[[dict[str, Any]], Outcome]
) -> AsyncIterator[tuple[ScriptedChatEndpoint, TlsServer]]:
    """(endpoint, server): a TLS voxgate whose LLM responder asks ``script``'s endpoint."""
    require_packages("@openai/agents-realtime", "zod")
    async with ScriptedChatEndpoint(script, api_key=LLM_KEY) as endpoint:
        env = {"VOXGATE_LLM_BASE_URL": endpoint.base_url, "VOXGATE_LLM_API_KEY": LLM_KEY}
        flags = ("--responder", "llm", "--tts-engine", "hibari")
        stack = ExitStack()  # the server starts and stops in a thread: both wait on its process
        server = await asyncio.to_thread(stack.enter_context, tls_voxgate(root, *flags, env=env))
        try:
            yield endpoint, server
        finally:
            await asyncio.to_thread(stack.close)


@asynccontextmanager
async def http(server: TlsServer) -> AsyncIterator[aiohttp.ClientSession]:
    """An https client of ``server`` that trusts its CA and sends its key."""
    context = ssl.create_default_context(cafile=str(server.certs.ca))
    async with aiohttp.ClientSession(
        base_url=server.base_url + "/",
        connector=aiohttp.TCPConnector(ssl=context),
        headers={"Authorization": f"Bearer {server.key}"},
        timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S),
    ) as session:
        yield session


async def spoken(server: TlsServer, text: str) -> bytes:
    """``text`` in voxgate's voice as raw pcm16 24 kHz, then :data:`TAIL_S` of silence."""
    body = {"model": "tts-1", "voice": "alloy", "input": text, "response_format": "pcm"}
    async with http(server) as client, client.post("audio/speech", json=body) as response:
        assert response.status == 200, await response.text()
        speech = await response.read()
    return speech + bytes(2 * int(RATE * TAIL_S))


async def heard(server: TlsServer, pcm: bytes) -> str:
    """What voxgate's batch transcription hears in pcm16 24 kHz ``pcm``."""
    form = aiohttp.FormData({"model": "whisper-1", "language": "en"})
    form.add_field("file", wav_header(RATE, len(pcm)) + pcm, filename="answer.wav")
    async with http(server) as client, client.post("audio/transcriptions", data=form) as response:
        assert response.status == 200, await response.text()
        text: str = (await response.json())["text"]
    return text


async def converse(
    server: TlsServer, scenario: str, question: bytes, folder: Path
) -> tuple[dict, bytes]:
    """(node/agent.mjs SCENARIO's result, the answer's audio) for ``question`` (pcm16 24 kHz).

    Node runs in a thread: the scripted endpoint answers voxgate on this loop meanwhile.
    """

    def run() -> tuple[dict, bytes]:
        (folder / "question.pcm").write_bytes(question)
        answer = folder / "answer.pcm"
        done = run_script(server, "agent.mjs", scenario, str(answer), pcm=folder / "question.pcm")
        return result(done), answer.read_bytes()

    return await asyncio.to_thread(run)


def assert_clean(out: dict) -> None:
    """No error event, no server event the SDK's schema rejects, nothing the SDK logged."""
    assert out["errors"] == [], out["errors"]
    assert out["rejected"] == [], out["rejected"]
    assert out["logged"] == [], out["logged"]


def transcript_of(item: dict) -> str | None:
    return item["content"][0].get("transcript")


def weather(body: dict[str, Any]) -> Outcome:
    """Call the tool for the question; answer once its output is in the conversation.

    A callable, not a list: an early reply (started on the speculative final) asks too.
    """
    if body["messages"][-1]["role"] == "tool":
        return TextReply(ANSWER, chunk_words=2)
    return ToolCallReply("get_weather", '{"city": "Paris"}', call_id="call_w1")


@pytest.mark.compat("OpenAI Agents SDK (JS)", "RealtimeAgent: tool call round trip")
@pytest.mark.compat("OpenAI Agents SDK (JS)", "RealtimeAgent: spoken LLM answer")
@pytest.mark.compat("OpenAI Agents SDK (JS)", "TLS: wss with a private CA")
async def test_the_agent_runs_its_tool_and_speaks_the_answer(tmp_path):
    async with voxgate(tmp_path, weather) as (endpoint, server):
        question = await spoken(server, QUESTION)
        out, answer_audio = await converse(server, "weather", question, tmp_path)
        said = await heard(server, answer_audio)
    assert_clean(out)
    assert out["url"].startswith("wss://127.0.0.1:")
    assert out["calls"] == ["Paris"]
    assert out["tool_events"] == [
        ["tool_start", "get_weather", {"city": "Paris"}],
        ["tool_end", "get_weather", {"city": "Paris"}, WEATHER],
    ]
    assert out["answers"][-1] == ANSWER
    user, call, answer = out["history"]
    assert (call["type"], call["name"], call["output"]) == ("function_call", "get_weather", WEATHER)
    assert (answer["role"], answer["status"], transcript_of(answer)) == (
        "assistant",
        "completed",
        ANSWER,
    )
    assert ("21" in said or "twenty-one" in said.lower()) and "paris" in said.lower(), said
    # the question's request (an early reply's, possibly asked more than once), then the answer's
    first, second = endpoint.requests[-2], endpoint.requests[-1]
    asked = [m for m in first["messages"] if m["role"] == "user"][-1]["content"]
    assert "weather" in asked.lower() and "paris" in asked.lower(), asked
    assert asked == transcript_of(user)
    assert first["tools"][0]["function"]["name"] == "get_weather"
    assert first["tools"][0]["function"]["parameters"]["properties"] == {"city": {"type": "string"}}
    assert second["messages"][-2]["tool_calls"][0]["id"] == "call_w1"
    assert second["messages"][-1] == {"role": "tool", "tool_call_id": "call_w1", "content": WEATHER}


@pytest.mark.compat("OpenAI Agents SDK (JS)", "RealtimeAgent: spoken LLM answer")
@pytest.mark.compat("OpenAI Agents SDK (JS)", "RealtimeAgent: input transcription")
async def test_a_spoken_question_gets_a_spoken_answer_in_the_history(tmp_path):
    reply = "Yes, I can hear you clearly."
    async with voxgate(tmp_path, lambda body: TextReply(reply, chunk_words=2)) as (
        endpoint,
        server,
    ):
        question = await spoken(server, "Good morning! Can you hear me?")
        out, answer_audio = await converse(server, "chat", question, tmp_path)
        said = await heard(server, answer_audio)
    assert_clean(out)
    assert out["calls"] == [] and out["tool_events"] == []
    user, answer = out["history"]
    assert (user["type"], user["role"]) == ("message", "user")
    assert (answer["type"], answer["role"], answer["status"]) == (
        "message",
        "assistant",
        "completed",
    )
    assert transcript_of(answer) == reply
    assert "hear you" in said.lower(), said
    body = endpoint.requests[-1]  # earlier ones, if any, were early replies
    assert body["messages"][0] == {"role": "system", "content": "You are a helpful assistant."}
    assert body["messages"][-1] == {"role": "user", "content": transcript_of(user)}
    assert not body.get("tools")
