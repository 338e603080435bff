"""Pipecat's ``OpenAIRealtimeLLMService`` (pipecat-ai 1.14.0) against voxgate's llm responder.

The service is driven the way Pipecat's realtime examples do it: a system instruction in the
service settings, an ``LLMContext`` behind an ``LLMContextAggregatorPair``, a
``PipelineWorker`` run by a ``WorkerRunner``, and an ``LLMRunFrame`` to start the
conversation. With no transport, a frame processor after the service records what it
pushes downstream (speech audio, spoken text). Pipecat sends the context as a user message,
then ``response.create``; a real voxgate (real TTS) answers from a scripted
OpenAI-compatible LLM (:mod:`testkit.chat_endpoint`), and Whisper listens to the audio.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from pipecat.frames.frames import (
    ErrorFrame,
    Frame,
    LLMRunFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService
from pipecat.workers.runner import WorkerRunner
from wait_for2 import wait_for as pipecat_wait_for  # type: ignore[import-untyped]

from engines.audio import resample
from engines.base import ASROptions
from realtime.inference.loading import load_engines
from realtime.server.settings import Settings
from testkit.chat_endpoint import ScriptedChatEndpoint, TextReply
from testkit.loadgen import Server, serve
from testkit.wer import wer

pytestmark = pytest.mark.model

# Importing pipecat swaps asyncio.wait_for for wait_for2's, process-wide, on Python < 3.12:
# undo it for the rest of the test run, and give it back to pipecat in these tests only.
asyncio.wait_for = asyncio.tasks.wait_for

API_KEY = "sk-pipecat-conformance"
REPLY_TIMEOUT_S = 45
CLOSE_TIMEOUT_S = 15
OUTPUT_RATE = 24_000

INSTRUCTIONS = "You are the concierge of a small hotel. Keep every answer short and warm."
QUESTION = "Where is the train station?"
ANSWER = "The train station is two streets north of the hotel."


@pytest.fixture(scope="module")
def engines():
    return load_engines(Settings())


@pytest.fixture(autouse=True)
def pipecat_wait_for_only_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asyncio, "wait_for", pipecat_wait_for)


@pytest.fixture
async def conversation(engines) -> AsyncIterator[tuple[ScriptedChatEndpoint, Server]]:
    """A voxgate whose llm responder asks an endpoint that answers :data:`ANSWER` once."""
    async with (
        ScriptedChatEndpoint([TextReply(ANSWER, chunk_words=2)], api_key=API_KEY) as endpoint,
        serve(engines, llm_base_url=endpoint.base_url, llm_api_key=API_KEY) as server,
    ):
        yield endpoint, server


class SpeechRecorder(FrameProcessor):
    """Passes every frame on; keeps the speech audio and spoken text that flow downstream."""

    def __init__(self) -> None:
        super().__init__()
        self.audio = bytearray()
        self.sample_rates: set[int] = set()
        self.spoken: list[str] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSAudioRawFrame):
            self.audio += frame.audio
            self.sample_rates.add(frame.sample_rate)
        elif isinstance(frame, TTSTextFrame):
            self.spoken.append(frame.text)
        await self.push_frame(frame, direction)


def realtime_url(server: Server) -> str:
    """voxgate's realtime WebSocket endpoint (the service appends ``?model=…`` itself)."""
    return server.url.replace("http", "ws", 1) + "/v1/realtime"


async def first_reply(worker: PipelineWorker, reply: asyncio.Future[str]) -> str:
    """Run ``worker`` until ``reply`` resolves (bounded), then cancel it and wait for its end."""
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    running = asyncio.create_task(runner.run())
    try:
        return await asyncio.wait_for(reply, REPLY_TIMEOUT_S)
    finally:
        await worker.cancel()
        await asyncio.wait_for(running, CLOSE_TIMEOUT_S)


async def test_the_realtime_service_speaks_the_llm_answer_to_its_context(
    conversation: tuple[ScriptedChatEndpoint, Server], engines: Any
) -> None:
    endpoint, server = conversation
    llm = OpenAIRealtimeLLMService(
        api_key=server.key,
        base_url=realtime_url(server),
        settings=OpenAIRealtimeLLMService.Settings(system_instruction=INSTRUCTIONS),
    )
    context = LLMContext([{"role": "user", "content": QUESTION}])
    user_aggregator, assistant_aggregator = LLMContextAggregatorPair(context)
    recorder = SpeechRecorder()
    worker = PipelineWorker(
        Pipeline([user_aggregator, llm, recorder, assistant_aggregator]),
        idle_timeout_secs=None,
    )
    reply: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    @assistant_aggregator.event_handler("on_assistant_turn_stopped")
    async def on_assistant_turn_stopped(aggregator: Any, message: Any) -> None:
        if not reply.done():
            reply.set_result(message.content)

    @worker.event_handler("on_pipeline_error")
    async def on_pipeline_error(worker: Any, frame: ErrorFrame) -> None:
        if not reply.done():
            reply.set_exception(AssertionError(f"pipecat reported: {frame.error}"))

    await worker.queue_frames([LLMRunFrame()])
    said = await first_reply(worker, reply)

    assert said == ANSWER
    assert "".join(recorder.spoken) == ANSWER  # spoken text, never the instructions
    assert INSTRUCTIONS not in said
    assert recorder.sample_rates == {OUTPUT_RATE}
    assert len(recorder.audio) > OUTPUT_RATE  # more than half a second of pcm16
    pcm = resample(np.frombuffer(bytes(recorder.audio), "<i2"), OUTPUT_RATE, 16_000)
    heard = engines.asr.transcribe(pcm, ASROptions(language="en")).text
    assert wer(ANSWER, heard) <= 0.15, heard
    (body,) = endpoint.requests
    messages = body["messages"]
    assert messages[0] == {"role": "system", "content": INSTRUCTIONS}
    assert [m for m in messages if m["role"] != "system"] == [{"role": "user", "content": QUESTION}]
