"""``POST /v1/audio/speech`` streaming, with the tone engine (pure transport logic)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import threading
import wave

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from engines.base import Engines
from engines.errors import EngineError
from engines.testing import ScriptedASR, ScriptedVAD, ToneTTS
from realtime.auth.middleware import KEYSTORE
from realtime.server.app import create_app
from realtime.server.settings import Settings

THREE = "One. Two. Three."
SENTENCE_BYTES = round(0.2 * 24_000) * 2  # a ToneTTS sentence as 24 kHz pcm16


class FailingTone(ToneTTS):
    """Speaks the first sentence, then fails: an engine that breaks mid-response."""

    def render_sentence(self, unit: str, speed: float):
        if self.rendered:
            raise EngineError("the voice model crashed")
        return super().render_sentence(unit, speed)


async def serve(tts: ToneTTS, tmp_path) -> TestClient:
    engines = Engines(vad=ScriptedVAD([]), asr=ScriptedASR(), tts=tts)
    app = create_app(Settings(data_dir=tmp_path, batch_workers=0), engines=engines)
    client = TestClient(TestServer(app))
    await client.start_server()
    client.key = app[KEYSTORE].create("test")[1]  # type: ignore[attr-defined]
    return client


async def speak(client: TestClient, **body) -> aiohttp.ClientResponse:
    return await client.post(
        "/v1/audio/speech", json={"input": THREE, **body}, headers={"Authorization": client.key}
    )


def events(text: str) -> list[dict]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


async def test_audio_arrives_before_the_speech_is_finished(tmp_path):
    tts = ToneTTS(gate=threading.Event())
    client = await serve(tts, tmp_path)
    try:
        response = await speak(client, response_format="pcm")
        assert response.status == 200 and response.content_type == "audio/pcm"
        assert response.headers["Transfer-Encoding"] == "chunked"
        first = await asyncio.wait_for(response.content.readexactly(SENTENCE_BYTES), 10)
        assert tts.rendered == ["One."]  # the rest waits for the gate: this was streamed
        assert len(first) == SENTENCE_BYTES
        tts.gate.set()
        rest = await asyncio.wait_for(response.read(), 10)
        assert len(first) + len(rest) == 3 * SENTENCE_BYTES
        assert tts.rendered == ["One.", "Two.", "Three."]
    finally:
        tts.gate.set()
        await client.close()


async def test_sse_sends_base64_deltas_then_done(tmp_path):
    client = await serve(ToneTTS(), tmp_path)
    try:
        response = await speak(client, response_format="pcm", stream_format="sse")
        assert response.status == 200 and response.content_type == "text/event-stream"
        received = events(await response.text())
        assert [e["type"] for e in received] == ["speech.audio.delta"] * 3 + ["speech.audio.done"]
        audio = b"".join(base64.b64decode(e["audio"]) for e in received[:-1])
        assert len(audio) == 3 * SENTENCE_BYTES
        assert set(received[-1]["usage"]) == {"input_tokens", "output_tokens", "total_tokens"}
    finally:
        await client.close()


async def test_null_formats_mean_the_defaults(tmp_path):
    client = await serve(ToneTTS(), tmp_path)
    try:
        response = await speak(client, response_format=None, stream_format=None)
        assert response.status == 200 and response.content_type == "audio/mpeg"
        assert len(await response.read()) > 1000
        response = await speak(client, stream_format="json")
        assert response.status == 400
        assert (await response.json())["error"]["param"] == "stream_format"
        response = await speak(client, speed=None)  # a number, as OpenAI's schema says
        assert (await response.json())["error"]["param"] == "speed"
    finally:
        await client.close()


async def test_wav_is_sent_whole_with_its_true_sizes_unless_streaming_is_asked(tmp_path):
    client = await serve(ToneTTS(), tmp_path)
    try:
        response = await speak(client, response_format="wav")  # what speech.create sends
        assert response.status == 200 and response.content_type == "audio/wav"
        data = await response.read()
        assert int(response.headers["Content-Length"]) == len(data)
        with wave.open(io.BytesIO(data)) as wav:
            assert wav.getframerate() == 24_000
            assert wav.getnframes() == 3 * SENTENCE_BYTES // 2 == (len(data) - 44) // 2
        response = await speak(client, response_format="wav", stream_format="audio")
        assert response.headers["Transfer-Encoding"] == "chunked"
        streamed = await response.read()
        assert streamed[4:8] == streamed[40:44] == b"\xff\xff\xff\xff"  # sizes unknown
        assert streamed[44:] == data[44:]
    finally:
        await client.close()


async def test_nothing_to_say_is_a_400_before_any_audio(tmp_path):
    client = await serve(ToneTTS(), tmp_path)
    try:
        response = await speak(client, input="[laugh]")  # an unvoiced tag: no audio at all
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "speech_failed"
    finally:
        await client.close()


@pytest.mark.parametrize("stream_format", ["audio", "sse"])
async def test_a_failure_after_the_audio_started_is_never_a_complete_answer(
    tmp_path, caplog, stream_format
):
    client = await serve(FailingTone(), tmp_path)
    try:
        with caplog.at_level(logging.ERROR, logger="realtime.openai_audio.speech"):
            response = await speak(client, response_format="pcm", stream_format=stream_format)
            assert response.status == 200  # the first sentence was fine
            if stream_format == "audio":
                with pytest.raises(aiohttp.ClientPayloadError):
                    await asyncio.wait_for(response.read(), 10)  # cut off, not complete
            else:
                received = events(await asyncio.wait_for(response.text(), 10))
                assert [e["type"] for e in received] == ["speech.audio.delta", "error"]
                error = received[-1]["error"]
                assert error["code"] == "speech_failed" and "crashed" not in error["message"]
        assert "the voice model crashed" in caplog.text  # the detail is in the log only
    finally:
        await client.close()
