"""Pipecat's OpenAI services (pipecat-ai 1.14.0) against voxgate.

Pipecat runs in .venv-clients (:mod:`tests.conformance.clients_support`); the scripts
clients/pipecat_*.py build its services as Pipecat's examples do, with ``base_url`` pointed
at a voxgate run here: ``OpenAIRealtimeLLMService`` speaking a scripted OpenAI-compatible
LLM's answer to its context (:mod:`testkit.chat_endpoint`), every server message checked
against Pipecat's own event models; ``OpenAISTTService`` and ``OpenAIRealtimeSTTService``
behind a Silero ``VADProcessor`` on a real recording, scored against its reference text;
``OpenAITTSService`` speaking a sentence that voxgate's ASR then hears. voxgate speaks with
the hibari voice: its output is deterministic, so every run hears the same audio (piper's
varies from run to run, and Whisper base mishears some of its takes).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engines.audio import load_pcm
from engines.base import Engines
from realtime.inference.loading import load_engines
from realtime.server.settings import Settings
from testkit.chat_endpoint import ScriptedChatEndpoint, TextReply
from testkit.loadgen import Server, serve
from testkit.wer import wer
from tests.conformance.clients_support import heard, read_pcm, run_client, write_pcm

pytestmark = pytest.mark.model

API_KEY = "sk-pipecat-conformance"
OUTPUT_RATE = 24_000

INSTRUCTIONS = "You are the concierge of a small hotel. Keep every answer short and warm."
QUESTION = "Where is the train station?"
ANSWER = "The train station is two streets north of the hotel."

CLIP = "asterisk/agent-pass.wav"  # 3.3 s; Whisper base hears it word for word
SENTENCE = "Breakfast is served in the garden room every morning."


@pytest.fixture(scope="module")
def engines() -> Engines:
    return load_engines(Settings(tts_engine="hibari"))


@pytest.fixture
async def conversation(engines) -> AsyncIterator[tuple[ScriptedChatEndpoint, Server]]:
    """A voxgate whose llm responder asks an endpoint that answers :data:`ANSWER` once."""
    async with (
        ScriptedChatEndpoint([TextReply(ANSWER, chunk_words=2)], api_key=API_KEY) as endpoint,
        serve(engines, llm_base_url=endpoint.base_url, llm_api_key=API_KEY) as server,
    ):
        yield endpoint, server


@pytest.fixture
async def server(engines) -> AsyncIterator[Server]:
    """A voxgate for the audio endpoints (no language model)."""
    async with serve(engines) as server:
        yield server


@pytest.fixture
def clip(testdata, tmp_path: Path) -> tuple[Path, str]:
    """:data:`CLIP` as a pcm16 16 kHz file, and its reference text."""
    pcm = write_pcm(tmp_path / "clip.pcm", load_pcm(testdata / CLIP))
    return pcm, (testdata / CLIP).with_suffix(".txt").read_text().strip()


@pytest.mark.compat("Pipecat (OpenAI services)", "realtime LLM: spoken LLM answer")
@pytest.mark.compat("Pipecat (OpenAI services)", "realtime LLM: instructions not spoken")
async def test_the_realtime_service_speaks_the_llm_answer_to_its_context(
    conversation: tuple[ScriptedChatEndpoint, Server], engines: Engines, tmp_path: Path
) -> None:
    endpoint, server = conversation
    audio = tmp_path / "answer.pcm"
    out = await run_client(
        "pipecat_realtime_llm.py",
        INSTRUCTIONS,
        QUESTION,
        str(audio),
        base_url=f"{server.url}/v1",
        key=server.key,
    )

    assert out["errors"] == []
    assert out["validation_failures"] == []  # every server event fits Pipecat's models
    assert out["server_events"] > 0
    assert out["said"] == ANSWER
    assert "".join(out["spoken"]) == ANSWER  # spoken text, never the instructions
    assert INSTRUCTIONS not in out["said"]
    assert out["sample_rates"] == [OUTPUT_RATE]
    pcm = read_pcm(audio)
    assert len(pcm) > OUTPUT_RATE // 2  # more than half a second of speech
    said = heard(engines, pcm, OUTPUT_RATE)
    assert wer(ANSWER, said) <= 0.15, said
    (body,) = endpoint.requests
    messages = body["messages"]
    assert messages[0] == {"role": "system", "content": INSTRUCTIONS}
    assert [m for m in messages if m["role"] != "system"] == [{"role": "user", "content": QUESTION}]


@pytest.mark.compat("Pipecat (OpenAI services)", "STT")
async def test_stt_transcribes_each_speech_segment(server: Server, clip) -> None:
    recording, reference = clip
    out = await run_client(
        "pipecat_stt.py", str(recording), base_url=f"{server.url}/v1", key=server.key
    )
    assert out["errors"] == []
    assert wer(reference, " ".join(out["texts"])) <= 0.10, out["texts"]


@pytest.mark.compat("Pipecat (OpenAI services)", "realtime STT")
async def test_realtime_stt_transcribes_each_speech_segment(server: Server, clip) -> None:
    recording, reference = clip
    out = await run_client(
        "pipecat_stt.py",
        str(recording),
        "--realtime",
        base_url=f"{server.url}/v1",
        key=server.key,
    )
    assert out["errors"] == []
    assert out["validation_failures"] == []  # every server event fits the openai types
    assert "conversation.item.input_audio_transcription.completed" in out["server_events"]
    assert wer(reference, " ".join(out["texts"])) <= 0.10, out["texts"]


@pytest.mark.compat("Pipecat (OpenAI services)", "TTS")
async def test_tts_speaks_a_sentence(server: Server, engines: Engines, tmp_path: Path) -> None:
    audio = tmp_path / "speech.pcm"
    out = await run_client(
        "pipecat_tts.py", SENTENCE, str(audio), base_url=f"{server.url}/v1", key=server.key
    )
    assert out["errors"] == []
    assert out["sample_rates"] == [OUTPUT_RATE]
    pcm = read_pcm(audio)
    assert len(pcm) > OUTPUT_RATE  # more than a second of speech
    said = heard(engines, pcm, OUTPUT_RATE)
    assert wer(SENTENCE, said) <= 0.15, said
