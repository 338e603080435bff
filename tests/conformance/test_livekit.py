"""LiveKit Agents' OpenAI ``RealtimeModel`` (livekit-agents 1.8.9) against voxgate's llm responder.

The model is built as the plugin's docs show (``openai.realtime.RealtimeModel(base_url=…)``,
the HTTP base URL it turns into ``ws://…/v1/realtime``) and its session is driven directly,
without a LiveKit room, the way ``AgentSession`` drives it: session instructions, a chat
context update, then ``generate_reply(instructions=…)``. The generation's text and audio
streams are read to the end. A real voxgate (real TTS) answers from a scripted
OpenAI-compatible LLM (:mod:`testkit.chat_endpoint`), and Whisper listens to the audio.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import llm
from livekit.plugins import openai

from engines.audio import resample
from engines.base import ASROptions
from realtime.inference.loading import load_engines
from realtime.server.settings import Settings
from testkit.chat_endpoint import ScriptedChatEndpoint, TextReply
from testkit.loadgen import Server, serve
from testkit.wer import wer

pytestmark = pytest.mark.model

API_KEY = "sk-livekit-conformance"
STEP_TIMEOUT_S = 20
REPLY_TIMEOUT_S = 45
OUTPUT_RATE = 24_000

INSTRUCTIONS = "You are the receptionist of a small hotel."
ARRIVAL = "Hi, I just arrived."
GREET = "Greet the user."
GREETING = "Welcome to the hotel! How can I help you today?"


@pytest.fixture(scope="module")
def engines():
    return load_engines(Settings())


@pytest.fixture
async def conversation(engines) -> AsyncIterator[tuple[ScriptedChatEndpoint, Server]]:
    """A voxgate whose llm responder asks an endpoint that answers :data:`GREETING` once."""
    async with (
        ScriptedChatEndpoint([TextReply(GREETING, chunk_words=3)], api_key=API_KEY) as endpoint,
        serve(engines, llm_base_url=endpoint.base_url, llm_api_key=API_KEY) as server,
    ):
        yield endpoint, server


@dataclass
class Reply:
    """What one generation delivered: its messages' text and audio, and their modalities."""

    text: list[str] = field(default_factory=list)
    audio: list[rtc.AudioFrame] = field(default_factory=list)
    modalities: list[list[str]] = field(default_factory=list)

    def pcm(self) -> np.ndarray:
        return np.concatenate([np.frombuffer(f.data, np.int16) for f in self.audio])


async def read_generation(generation: llm.GenerationCreatedEvent) -> Reply:
    """Read every message of ``generation`` to the end of its text and audio streams."""
    reply = Reply()

    async def read_text(message: llm.MessageGeneration) -> None:
        async for piece in message.text_stream:
            reply.text.append(str(piece))

    async def read_audio(message: llm.MessageGeneration) -> None:
        async for frame in message.audio_stream:
            reply.audio.append(frame)

    async for message in generation.message_stream:
        await asyncio.gather(read_text(message), read_audio(message))
        reply.modalities.append(list(await message.modalities))
    return reply


async def greet(server: Server, errors: list[Any]) -> tuple[Reply, llm.ChatContext]:
    """A session that greets a user who just arrived; its reply and its chat context after."""
    model = openai.realtime.RealtimeModel(base_url=f"{server.url}/v1", api_key=server.key)
    session = model.session()
    session.on("error", errors.append)
    try:
        await session.update_instructions(INSTRUCTIONS)
        chat_ctx = llm.ChatContext.empty()
        chat_ctx.add_message(role="user", content=ARRIVAL)
        await asyncio.wait_for(session.update_chat_ctx(chat_ctx), STEP_TIMEOUT_S)
        generation = await asyncio.wait_for(
            session.generate_reply(instructions=GREET), STEP_TIMEOUT_S
        )
        reply = await asyncio.wait_for(read_generation(generation), REPLY_TIMEOUT_S)
        return reply, session.chat_ctx.copy()
    finally:
        await asyncio.wait_for(session.aclose(), STEP_TIMEOUT_S)
        await model.aclose()


async def test_generate_reply_speaks_the_llm_answer_and_not_its_instructions(
    conversation: tuple[ScriptedChatEndpoint, Server], engines: Any
) -> None:
    endpoint, server = conversation
    errors: list[Any] = []
    reply, chat_ctx = await greet(server, errors)

    assert errors == []
    assert reply.modalities == [["audio", "text"]]  # one message, spoken
    spoken = "".join(reply.text)
    assert spoken == GREETING
    assert GREET not in spoken
    assert {f.sample_rate for f in reply.audio} == {OUTPUT_RATE}
    pcm = reply.pcm()
    assert len(pcm) > OUTPUT_RATE // 2  # more than half a second of speech
    heard = engines.asr.transcribe(resample(pcm, OUTPUT_RATE, 16_000), ASROptions(language="en"))
    assert wer(GREETING, heard.text) <= 0.15, heard.text
    # the session's mirror of the conversation: the user's message, then what was said
    said = [(m.role, m.text_content) for m in chat_ctx.messages()]
    assert said == [("user", ARRIVAL), ("assistant", GREETING)]
    (body,) = endpoint.requests
    messages = body["messages"]
    # LiveKit sends response.instructions as the session's instructions plus its own line;
    # as in OpenAI's API they replace the session's for this response
    assert messages == [
        {"role": "system", "content": f"{INSTRUCTIONS}\n{GREET}"},
        {"role": "user", "content": ARRIVAL},
    ]
