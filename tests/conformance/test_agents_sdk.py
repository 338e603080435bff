"""The OpenAI Agents SDK (openai-agents 0.24.0) holds spoken conversations with voxgate.

The SDK runs in .venv-clients (:mod:`tests.conformance.clients_support`): the scripts
clients/agents_*.py drive it as its realtime docs show, a ``RealtimeAgent`` (with a
``@function_tool`` in the first test) and a ``RealtimeRunner`` whose model config changes
only the WebSocket URL and the API key (everything else is the SDK's defaults:
``semantic_vad``, voice ``ash``, input transcription, tracing ``auto``); audio goes in with
``session.send_audio``, and the session's events come back (audio, tool_start / tool_end,
history, and every raw server event checked against the openai SDK's types). A real voxgate
(real VAD, ASR and TTS), run here, answers from a scripted OpenAI-compatible endpoint
(:mod:`testkit.chat_endpoint`). The questions are spoken by voxgate's own TTS; the answers
the SDK hands over are transcribed by voxgate's ASR.

The hibari voice speaks both sides: its output is deterministic, so every run hears the
same audio (piper's varies from run to run, and Whisper base often hears its "Paris" as
"pairs").
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engines.audio import resample
from engines.base import Engines
from realtime.inference.loading import load_engines
from realtime.server.settings import Settings
from testkit.chat_endpoint import Script, ScriptedChatEndpoint, TextReply, ToolCallReply
from testkit.loadgen import IN_RATE, Server, serve
from tests.conformance.clients_support import heard, read_pcm, run_client, write_pcm

pytestmark = pytest.mark.model

LLM_KEY = "sk-agents-conformance"
TAIL_S = 1.5

# Whisper base with the realtime final's short encoder window mishears hibari's "What's the
# weather in Paris?" at many turn edges ("What's the weather in in in"); this wording was
# heard right at every turn edge tried.
QUESTION = "What is the weather like in Paris today?"
WEATHER = "21 degrees and sunny"
ANSWER = "It is 21 degrees and sunny in Paris."


@pytest.fixture(scope="module")
def engines() -> Engines:
    return load_engines(Settings(tts_engine="hibari"))


def spoken(engines: Engines, text: str, path: Path) -> Path:
    """``text`` in voxgate's voice as a pcm16 24 kHz file, then :data:`TAIL_S` of silence."""
    assert engines.tts is not None
    speech = np.concatenate(list(engines.tts.synthesize(text)))
    speech = resample(speech, engines.tts.sample_rate, IN_RATE)
    return write_pcm(path, np.concatenate([speech, np.zeros(int(IN_RATE * TAIL_S), np.int16)]))


@asynccontextmanager
async def voxgate(
    engines: Engines, script: Script
) -> AsyncIterator[tuple[ScriptedChatEndpoint, Server]]:
    """(endpoint, server) for a voxgate whose LLM answers with ``script``."""
    async with (
        ScriptedChatEndpoint(script, api_key=LLM_KEY) as endpoint,
        serve(engines, llm_base_url=endpoint.base_url, llm_api_key=LLM_KEY) as server,
    ):
        yield endpoint, server


async def converse(
    engines: Engines, script: Script, client: str, question: str, tmp_path: Path
) -> tuple[ScriptedChatEndpoint, dict[str, Any], np.ndarray]:
    """Run ``client`` (a clients/ script) saying ``question``; endpoint, result, answer audio."""
    said, answer = spoken(engines, question, tmp_path / "question.pcm"), tmp_path / "answer.pcm"
    async with voxgate(engines, script) as (endpoint, server):
        out = await run_client(
            client, str(said), str(answer), base_url=f"{server.url}/v1", key=server.key
        )
    assert out["validation_failures"] == []  # every server event fits the openai types
    assert {"session.updated", "response.output_audio.delta"} <= set(out["server_events"])
    assert out["errors"] == []
    return endpoint, out, read_pcm(answer)


@pytest.mark.compat("OpenAI Agents SDK (Python)", "RealtimeAgent: tool call round trip")
@pytest.mark.compat("OpenAI Agents SDK (Python)", "RealtimeAgent: spoken LLM answer")
async def test_the_agent_runs_its_tool_and_speaks_the_answer(engines, tmp_path):
    def script(body: dict[str, Any]) -> ToolCallReply | TextReply:
        """Call the tool for the question; answer once its output is in the conversation.

        A callable, not a list: an early reply (started on the speculative final) asks too.
        """
        if body["messages"][-1]["role"] == "tool":
            return TextReply(ANSWER, chunk_words=2)
        return ToolCallReply("get_weather", '{"city": "Paris"}', call_id="call_w1")

    endpoint, out, audio = await converse(
        engines, script, "agents_weather_tool.py", QUESTION, tmp_path
    )
    assert out["calls"] == ["Paris"]
    assert out["tool_events"] == [
        ["tool_start", "get_weather", {"city": "Paris"}],
        ["tool_end", "get_weather", {"city": "Paris"}],
    ]
    user, call, answer = out["history"]
    assert (call["type"], call["name"], call["output"]) == ("function_call", "get_weather", WEATHER)
    assert (answer["role"], answer["transcript"]) == ("assistant", ANSWER)
    said = heard(engines, audio, IN_RATE)
    assert ("21" in said or "twenty-one" in said.lower()) and "paris" in said.lower(), said
    # the question's request (an early reply's, possibly asked more than once), then the answer's
    first, second = endpoint.requests[-2], endpoint.requests[-1]
    asked = [m for m in first["messages"] if m["role"] == "user"][-1]["content"]
    assert "weather" in asked.lower() and "paris" in asked.lower(), asked
    assert asked == user["transcript"]
    assert first["tools"][0]["function"]["name"] == "get_weather"
    assert second["messages"][-2]["tool_calls"][0]["id"] == "call_w1"
    assert second["messages"][-1] == {"role": "tool", "tool_call_id": "call_w1", "content": WEATHER}


@pytest.mark.compat("OpenAI Agents SDK (Python)", "RealtimeAgent: spoken LLM answer")
@pytest.mark.compat("OpenAI Agents SDK (Python)", "RealtimeAgent: input transcription")
async def test_a_spoken_question_gets_a_spoken_answer_in_the_history(engines, tmp_path):
    reply = "Yes, I can hear you clearly."
    endpoint, out, audio = await converse(
        engines,
        lambda body: TextReply(reply, chunk_words=2),
        "agents_spoken_answer.py",
        "Good morning! Can you hear me?",
        tmp_path,
    )
    user, answer = out["history"]
    assert (answer["type"], answer["role"], answer["status"]) == (
        "message",
        "assistant",
        "completed",
    )
    assert answer["transcript"] == reply
    assert len(audio) > IN_RATE // 2  # more than half a second of speech
    body = endpoint.requests[-1]  # earlier ones, if any, were early replies
    assert body["messages"][0] == {"role": "system", "content": "You are a helpful assistant."}
    assert body["messages"][-1] == {"role": "user", "content": user["transcript"]}
    assert not body.get("tools")
