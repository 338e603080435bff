"""LiveKit Agents' OpenAI plugin (livekit-agents 1.8.9) against voxgate.

The plugin runs in .venv-clients (:mod:`tests.conformance.clients_support`); the scripts
clients/livekit_*.py build its objects as the plugin's docs show, with ``base_url`` pointed
at a voxgate run here: the ``RealtimeModel`` session (driven without a room, as
``AgentSession`` drives it) speaking a scripted OpenAI-compatible LLM's answer
(:mod:`testkit.chat_endpoint`), with every server event checked against the openai types;
``openai.STT`` batch and realtime (``use_realtime=True``) on a real recording, scored
against its reference text; ``openai.TTS`` speaking a sentence that voxgate's ASR then hears.
voxgate speaks with the hibari voice: its output is deterministic, so every run hears the
same audio (piper's varies from run to run, and Whisper base mishears some of its takes).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from engines.audio import load_pcm, resample
from engines.base import Engines
from realtime.inference.loading import load_engines
from realtime.server.settings import Settings
from testkit.chat_endpoint import ScriptedChatEndpoint, TextReply
from testkit.loadgen import Server, serve
from testkit.wer import wer
from tests.conformance.clients_support import heard, read_pcm, run_client, write_pcm

pytestmark = pytest.mark.model

API_KEY = "sk-livekit-conformance"
OUTPUT_RATE = 24_000

INSTRUCTIONS = "You are the receptionist of a small hotel."
ARRIVAL = "Hi, I just arrived."
GREET = "Greet the user."
GREETING = "Welcome to the hotel! How can I help you today?"

CLIP = "asterisk/agent-pass.wav"  # 3.3 s; Whisper base hears it word for word
SENTENCE = "Your room is on the second floor, next to the lift."


@pytest.fixture(scope="module")
def engines() -> Engines:
    return load_engines(Settings(tts_engine="hibari"))


@pytest.fixture
async def conversation(engines) -> AsyncIterator[tuple[ScriptedChatEndpoint, Server]]:
    """A voxgate whose llm responder asks an endpoint that answers :data:`GREETING` once."""
    async with (
        ScriptedChatEndpoint([TextReply(GREETING, chunk_words=3)], api_key=API_KEY) as endpoint,
        serve(engines, llm_base_url=endpoint.base_url, llm_api_key=API_KEY) as server,
    ):
        yield endpoint, server


@pytest.fixture
async def server(engines) -> AsyncIterator[Server]:
    """A voxgate for the audio endpoints (no language model)."""
    async with serve(engines) as server:
        yield server


@pytest.fixture
def clip(testdata) -> tuple[np.ndarray, str]:
    """:data:`CLIP` as 16 kHz int16 samples, and its reference text."""
    return load_pcm(testdata / CLIP), (testdata / CLIP).with_suffix(".txt").read_text().strip()


@pytest.mark.compat("LiveKit Agents (OpenAI plugin)", "RealtimeModel: spoken LLM answer")
@pytest.mark.compat("LiveKit Agents (OpenAI plugin)", "RealtimeModel: instructions not spoken")
async def test_generate_reply_speaks_the_llm_answer_and_not_its_instructions(
    conversation: tuple[ScriptedChatEndpoint, Server], engines: Engines, tmp_path: Path
) -> None:
    endpoint, server = conversation
    audio = tmp_path / "reply.pcm"
    out = await run_client(
        "livekit_generate_reply.py",
        INSTRUCTIONS,
        ARRIVAL,
        GREET,
        str(audio),
        base_url=f"{server.url}/v1",
        key=server.key,
    )

    assert out["errors"] == []
    assert out["validation_failures"] == []  # every server event fits the openai types
    assert {"session.updated", "response.output_audio.delta", "response.done"} <= set(
        out["server_events"]
    )
    assert out["modalities"] == [["audio", "text"]]  # one message, spoken
    spoken = "".join(out["text"])
    assert spoken == GREETING
    assert GREET not in spoken
    assert out["sample_rates"] == [OUTPUT_RATE]
    pcm = read_pcm(audio)
    assert len(pcm) > OUTPUT_RATE // 2  # more than half a second of speech
    said = heard(engines, pcm, OUTPUT_RATE)
    assert wer(GREETING, said) <= 0.15, said
    # the session's mirror of the conversation: the user's message, then what was said
    assert out["chat_ctx"] == [["user", ARRIVAL], ["assistant", GREETING]]
    (body,) = endpoint.requests
    # LiveKit sends response.instructions as the session's instructions plus its own line;
    # as in OpenAI's API they replace the session's for this response
    assert body["messages"] == [
        {"role": "system", "content": f"{INSTRUCTIONS}\n{GREET}"},
        {"role": "user", "content": ARRIVAL},
    ]


@pytest.mark.compat("LiveKit Agents (OpenAI plugin)", "STT")
async def test_stt_transcribes_a_recording(server: Server, clip, tmp_path: Path) -> None:
    pcm, reference = clip
    recording = write_pcm(tmp_path / "clip.pcm", pcm)
    out = await run_client(
        "livekit_stt.py", str(recording), "16000", base_url=f"{server.url}/v1", key=server.key
    )
    assert wer(reference, out["text"]) <= 0.10, out["text"]


@pytest.mark.compat("LiveKit Agents (OpenAI plugin)", "realtime STT")
async def test_realtime_stt_transcribes_a_stream(server: Server, clip, tmp_path: Path) -> None:
    pcm, reference = clip
    recording = write_pcm(tmp_path / "clip.pcm", resample(pcm, 16_000, OUTPUT_RATE))
    out = await run_client(
        "livekit_stt.py",
        str(recording),
        str(OUTPUT_RATE),
        "--realtime",
        base_url=f"{server.url}/v1",
        key=server.key,
    )
    assert out["validation_failures"] == []
    assert "conversation.item.input_audio_transcription.completed" in out["server_events"]
    assert out["text"] is not None, out["server_events"]
    assert wer(reference, out["text"]) <= 0.10, out["text"]


@pytest.mark.compat("LiveKit Agents (OpenAI plugin)", "TTS")
async def test_tts_speaks_a_sentence(server: Server, engines: Engines, tmp_path: Path) -> None:
    audio = tmp_path / "speech.pcm"
    out = await run_client(
        "livekit_tts.py", SENTENCE, str(audio), base_url=f"{server.url}/v1", key=server.key
    )
    assert (out["sample_rates"], out["channels"]) == ([OUTPUT_RATE], [1])
    pcm = read_pcm(audio)
    assert len(pcm) > OUTPUT_RATE  # more than a second of speech
    said = heard(engines, pcm, OUTPUT_RATE)
    assert wer(SENTENCE, said) <= 0.15, said
