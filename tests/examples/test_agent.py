"""The voice-agent example (official openai SDK) against a real in-process voxgate."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from openai import AsyncOpenAI

from engines.audio import resample
from engines.base import ASROptions
from testkit.wer import wer
from tests.examples.conftest import load_example

WAIT = 180  # seconds for the whole turn before failing


@pytest.mark.model
async def test_one_listen_and_reply_turn(gateway, testdata, asr_base):
    agent = load_example("agent/agent.py")
    voxgate = AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key=gateway.key, max_retries=0)
    delivered: list[tuple[bytes, int]] = []

    async def deliver(pcm: bytes, turn: int) -> None:
        delivered.append((pcm, turn))

    audio = agent.file_audio(str(testdata / "asterisk/agent-pass.wav"), realtime=False)
    turns = await asyncio.wait_for(
        agent.run_agent(voxgate, audio, deliver=deliver, max_turns=1), WAIT
    )

    [turn] = turns
    reference = (testdata / "asterisk/agent-pass.txt").read_text()
    assert wer(reference, turn.heard) <= 0.15, turn.heard
    assert turn.said == "I will never ask for your password. Please keep it secret."  # the rule
    assert turn.status == "completed"  # response.done
    assert [n for _, n in delivered] == [1] and delivered[0][0] == turn.audio
    pcm = np.frombuffer(turn.audio, np.int16)
    assert len(pcm) / agent.RATE > 0.5
    said = asr_base.transcribe(resample(pcm, agent.RATE, 16_000), ASROptions(language="en"))
    assert wer(turn.said, said.text) <= 0.2, said.text


async def test_rules_answer_in_order_and_fall_back_to_echo():
    agent = load_example("agent/agent.py")
    assert (await agent.rule_reply("Hey there")).startswith("Hello!")
    assert (await agent.rule_reply("What time is it?")).startswith("It is ")
    assert await agent.rule_reply("The sky is blue.") == "You said: The sky is blue."
    assert await agent.rule_reply("  ") is None
