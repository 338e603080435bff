"""``stream=true`` on ``/v1/audio/transcriptions``: the event stream's transport logic.

Scripted engines (a two-chunk VAD script, an ASR that hears a fixed sentence per chunk)
stand in for the models, so that the order of events, what arrives before the pipeline
ends, and failures before and after the first event can be controlled. The same route
with real models and the openai SDK is tests/realtime/test_openai_audio_sdk.py's.
"""

from __future__ import annotations

import asyncio
import json
import threading

import numpy as np
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer

from engines.audio_files import encode_file
from engines.base import Engines, Segment, SpeechEdge, Transcript
from engines.errors import EngineError
from engines.testing import ScriptedASR, ScriptedVAD
from realtime.auth.middleware import KEYSTORE
from realtime.server.app import create_app
from realtime.server.settings import Settings

RATE = 16_000
TWO_CHUNKS = [
    (SpeechEdge.START, 1 * RATE),
    (SpeechEdge.END, 21 * RATE),
    (SpeechEdge.START, 24 * RATE),
    (SpeechEdge.END, 44 * RATE),
]
"""Two 20 s stretches of speech: two Whisper decodes (at most 30 s each)."""
WAV = encode_file(np.zeros(46 * RATE, dtype=np.int16), RATE, "wav")


class ChunkedASR(ScriptedASR):
    """Hears ``"Chunk N."`` in the N-th decode; the second waits for ``gate``, may fail."""

    def __init__(self, *, fail_second: bool = False) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.fail_second = fail_second
        self.calls = 0

    def transcribe(self, audio, options, *, decode=None, on_progress=None) -> Transcript:
        self.calls += 1
        if self.calls == 2:
            if not self.gate.wait(30):
                raise AssertionError("the test never opened the gate")
            if self.fail_second:
                raise EngineError("the decoder crashed")
        text = f"Chunk {self.calls}."
        end = len(audio) / RATE
        return Transcript(text, "en", 0.0, end, segments=(Segment(text, 0.5, end - 0.5),))


async def serve(asr: ScriptedASR, tmp_path) -> TestClient:
    engines = Engines(vad=ScriptedVAD(TWO_CHUNKS), asr=asr)
    app = create_app(Settings(data_dir=tmp_path, batch_workers=0), engines=engines)
    client = TestClient(TestServer(app))
    await client.start_server()
    client.key = app[KEYSTORE].create("test")[1]  # type: ignore[attr-defined]
    return client


async def transcribe(client: TestClient, audio: bytes = WAV, **fields: str):
    form = FormData()
    form.add_field("file", audio, filename="speech.wav")
    for name, value in {"model": "gpt-4o-transcribe", "stream": "true", **fields}.items():
        form.add_field(name, value)
    return await client.post(
        "/v1/audio/transcriptions", data=form, headers={"Authorization": client.key}
    )


async def next_event(response) -> dict:
    """The next ``data:`` event of a server-sent event stream."""
    while True:
        line = await asyncio.wait_for(response.content.readline(), 10)
        assert line, "the stream ended"
        if line.startswith(b"data: "):
            return json.loads(line[6:])


async def test_the_first_chunk_is_sent_before_the_second_is_decoded(tmp_path):
    asr = ChunkedASR()
    client = await serve(asr, tmp_path)
    try:
        response = await transcribe(client)
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        first = await next_event(response)
        assert first == {"type": "transcript.text.delta", "delta": "Chunk 1."}
        assert not asr.gate.is_set()  # sent while the second decode cannot have ended
        asr.gate.set()
        second = await next_event(response)
        done = await next_event(response)
        assert second == {"type": "transcript.text.delta", "delta": " Chunk 2."}
        assert done == {"type": "transcript.text.done", "text": "Chunk 1. Chunk 2."}
        assert (await asyncio.wait_for(response.content.read(), 10)).strip() == b""
    finally:
        asr.gate.set()
        await client.close()


async def test_a_failure_after_the_first_event_ends_the_stream_with_an_error_event(
    tmp_path, caplog
):
    asr = ChunkedASR(fail_second=True)
    asr.gate.set()
    client = await serve(asr, tmp_path)
    try:
        response = await transcribe(client)
        assert response.status == 200
        first = await next_event(response)
        error = await next_event(response)
        assert first["type"] == "transcript.text.delta"
        assert error["type"] == "error"
        assert error["error"]["code"] == "transcription_failed"
        assert "crashed" not in error["error"]["message"]  # the detail is logged only
        assert (await asyncio.wait_for(response.content.read(), 10)).strip() == b""
        assert "the decoder crashed" in caplog.text
    finally:
        await client.close()


async def test_failures_before_the_first_event_are_json_errors(tmp_path):
    client = await serve(ChunkedASR(), tmp_path)
    try:
        response = await transcribe(client, audio=b"not audio at all")
        assert response.status == 400 and response.content_type == "application/json"
        assert (await response.json())["error"]["code"] == "invalid_audio"
        response = await transcribe(client, response_format="srt")
        assert response.status == 400
        assert (await response.json())["error"]["param"] == "response_format"
        response = await transcribe(client, stream="maybe")
        assert (await response.json())["error"]["param"] == "stream"
    finally:
        await client.close()


async def test_whisper_1_ignores_stream_as_openai_does(tmp_path):
    asr = ChunkedASR()
    asr.gate.set()
    client = await serve(asr, tmp_path)
    try:
        response = await transcribe(client, model="whisper-1", response_format="srt")
        assert response.status == 200 and response.content_type == "text/plain"
        assert "Chunk 2." in await response.text()
    finally:
        await client.close()


async def test_logprobs_are_null_when_the_engine_gives_none(tmp_path):
    asr = ChunkedASR()
    asr.gate.set()
    client = await serve(asr, tmp_path)
    try:
        response = await transcribe(client, stream="false", **{"include[]": "logprobs"})
        assert response.status == 200
        body = await response.json()
        assert body["text"] == "Chunk 1. Chunk 2." and body["logprobs"] is None
        assert body["usage"] == {"type": "duration", "seconds": 46.0}
        response = await transcribe(client, response_format="text", **{"include[]": "logprobs"})
        assert (await response.json())["error"]["param"] == "include[]"
    finally:
        await client.close()
