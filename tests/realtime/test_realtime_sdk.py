"""The realtime endpoint end to end: a real server on port 0, real models, the official SDK.

Every server event a client receives here is validated against the SDK's own types.
"""

from __future__ import annotations

import asyncio
import base64
import json
import tempfile
from collections.abc import AsyncIterator
from difflib import SequenceMatcher

import numpy as np
import pytest
import websockets
from aiohttp import web
from openai import AsyncOpenAI
from openai.types.beta.realtime import RealtimeServerEvent as BetaServerEvent
from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter

from engines.asr.guards import normalise_word
from engines.audio import load_pcm, resample
from engines.base import ASROptions
from engines.g711 import ulaw_decode, ulaw_encode
from realtime.auth.middleware import KEYSTORE
from realtime.inference.loading import load_engines
from realtime.server.app import create_app
from realtime.server.settings import Settings
from testkit.wer import wer

pytestmark = pytest.mark.model

GA_EVENTS = TypeAdapter(RealtimeServerEvent)
BETA_EVENTS = TypeAdapter(BetaServerEvent)
CHUNK_MS = 40
EVENT_TIMEOUT = 60  # seconds to wait for one event before failing


@pytest.fixture(scope="module")
def engines():
    return load_engines(Settings())


class Server:
    def __init__(self, url: str, key: str, app: web.Application) -> None:
        self.url, self.key, self.app = url, key, app

    def client(self) -> AsyncOpenAI:
        # the beta client always builds wss:// from base_url; websocket_base_url is the SDK's
        # documented override (the GA client derives ws:// from http:// by itself)
        ws_url = self.url.replace("http", "ws") + "/v1"
        return AsyncOpenAI(
            base_url=f"{self.url}/v1", websocket_base_url=ws_url, api_key=self.key, max_retries=0
        )


@pytest.fixture
async def server(engines, request) -> AsyncIterator[Server]:
    responder = getattr(request, "param", "say")
    app = create_app(Settings(data_dir=tempfile.mkdtemp(), responder=responder), engines=engines)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    key = app[KEYSTORE].create("test")[1]
    try:
        yield Server(f"http://127.0.0.1:{port}", key, app)
    finally:
        await runner.cleanup()


def pcm24(testdata, clip: str, *, tail_s: float = 1.5) -> np.ndarray:
    """A clip as 24 kHz pcm16 with trailing silence (so VAD sees the end of speech)."""
    audio = resample(load_pcm(testdata / clip), 16_000, 24_000)
    return np.concatenate([audio, np.zeros(int(24_000 * tail_s), np.int16)])


async def stream_audio(conn, payload: bytes, *, bytes_per_chunk: int, pace: float) -> None:
    """Append ``payload`` in chunks; ``pace`` = seconds to wait per chunk (0: as fast as possible)."""
    for i in range(0, len(payload), bytes_per_chunk):
        await conn.input_audio_buffer.append(
            audio=base64.b64encode(payload[i : i + bytes_per_chunk]).decode()
        )
        await asyncio.sleep(pace)


async def events(conn, adapter=GA_EVENTS) -> AsyncIterator:
    """Yield each server event after validating its raw JSON with the SDK's types."""
    while True:
        raw = await asyncio.wait_for(conn.recv_bytes(), EVENT_TIMEOUT)
        yield adapter.validate_json(raw)


VAD = {"type": "server_vad", "silence_duration_ms": 800, "create_response": False}
WHISPER = {"transcription": {"model": "whisper-1"}}
"""``audio.input`` asking for input transcription (a realtime session's default is off)."""


async def transcribe_stream(conn, payload, *, bytes_per_chunk, pace, adapter=GA_EVENTS):
    """Stream audio; collect events until the audio is sent, no turn is open, and every
    committed item has its final transcript."""
    sender = asyncio.create_task(
        stream_audio(conn, payload, bytes_per_chunk=bytes_per_chunk, pace=pace)
    )
    seen, deltas, finals, committed, open_turns = [], {}, {}, [], set()

    def finished() -> bool:
        return (
            sender.done()
            and not open_turns
            and bool(committed)
            and all(i in finals for i in committed)
        )

    while not finished():
        receive = asyncio.ensure_future(conn.recv_bytes())
        done, _ = await asyncio.wait(
            {receive, sender}, timeout=EVENT_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        if receive not in done:
            receive.cancel()  # cancelling a websockets recv is safe: nothing is lost
            assert done, f"no event for {EVENT_TIMEOUT} s; seen: {seen}"
            continue
        event = adapter.validate_json(receive.result())
        seen.append(event.type)
        print(
            event.type, getattr(event, "item_id", ""), getattr(event, "transcript", ""), flush=True
        )
        if event.type == "input_audio_buffer.speech_started":
            open_turns.add(event.item_id)
        elif event.type == "conversation.item.input_audio_transcription.delta":
            deltas.setdefault(event.item_id, []).append(event.delta)
        elif event.type == "input_audio_buffer.committed":
            committed.append(event.item_id)
            open_turns.discard(event.item_id)
        elif event.type == "conversation.item.input_audio_transcription.completed":
            finals[event.item_id] = event.transcript
        elif event.type == "error":
            pytest.fail(f"unexpected error event: {event.error}")
    await sender
    return seen, deltas, finals, committed


async def test_ga_sdk_transcribes_jfk_in_real_time(server, testdata):
    payload = pcm24(testdata, "openai-whisper/jfk.flac").tobytes()
    async with server.client().realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(
            session={"type": "realtime", "audio": {"input": {"turn_detection": VAD, **WHISPER}}}
        )
        seen, deltas, finals, committed = await transcribe_stream(
            conn, payload, bytes_per_chunk=48 * CHUNK_MS, pace=CHUNK_MS / 1000
        )
    assert seen[0] == "session.created"
    assert (
        "input_audio_buffer.speech_started" in seen and "input_audio_buffer.speech_stopped" in seen
    )
    first = committed[0]
    completed_at = seen.index("conversation.item.input_audio_transcription.completed")
    delta_count = seen[:completed_at].count("conversation.item.input_audio_transcription.delta")
    assert delta_count >= 2
    for item_id, parts in deltas.items():
        # deltas are interim text that ``completed`` replaces: the final mostly confirms them
        said = [normalise_word(w) for w in "".join(parts).split()]
        final = [normalise_word(w) for w in finals[item_id].split()]
        blocks = SequenceMatcher(a=said, b=final, autojunk=False).get_matching_blocks()
        assert sum(b.size for b in blocks) >= 0.8 * len(said), (parts, finals[item_id])
    text = " ".join(finals[i] for i in committed)
    reference = (testdata / "openai-whisper/jfk.txt").read_text()
    assert wer(reference, text) <= 0.10, text
    assert first in deltas


async def test_beta_sdk_transcription_session(server, testdata):
    payload = pcm24(
        testdata, "pocketsphinx/sense_and_sensibility_01_austen_64kb-0870.wav"
    ).tobytes()
    client = server.client()
    async with client.beta.realtime.connect(model="gpt-4o-realtime-preview") as conn:
        await conn.send(
            {
                "type": "transcription_session.update",
                "session": {
                    "input_audio_format": "pcm16",
                    "input_audio_transcription": {"model": "whisper-1"},
                    "turn_detection": {"type": "server_vad", "silence_duration_ms": 800},
                },
            }
        )
        seen, _, finals, committed = await transcribe_stream(
            conn, payload, bytes_per_chunk=48 * 100, pace=0.0, adapter=BETA_EVENTS
        )
    assert "conversation.item.created" in seen and "conversation.item.added" not in seen
    reference = (
        testdata / "pocketsphinx/sense_and_sensibility_01_austen_64kb-0870.txt"
    ).read_text()
    assert wer(reference, " ".join(finals[i] for i in committed)) <= 0.10


async def test_transcription_intent_with_mulaw_telephony(server, testdata):
    audio = resample(load_pcm(testdata / "asterisk/demo-congrats.wav"), 16_000, 8_000)
    payload = ulaw_encode(np.concatenate([audio, np.zeros(12_000, np.int16)]))
    client = server.client()
    async with client.realtime.connect(extra_query={"intent": "transcription"}) as conn:
        await conn.session.update(
            session={
                "type": "transcription",
                "audio": {"input": {"format": {"type": "audio/pcmu"}, "turn_detection": VAD}},
            }
        )
        seen, _, finals, committed = await transcribe_stream(
            conn, payload, bytes_per_chunk=8 * 200, pace=0.0
        )
    assert seen[0] == "session.created"
    assert "response.created" not in seen
    reference = (testdata / "asterisk/demo-congrats.txt").read_text()
    text = " ".join(finals[i] for i in committed)
    assert wer(reference, text) <= 0.15, text


SAY = "The weather today is sunny and warm, with a light breeze from the west."


@pytest.mark.parametrize("fmt", ["audio/pcm", "audio/pcmu"])
async def test_response_speaks_the_assistant_text(server, engines, fmt):
    async with server.client().realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(
            session={"type": "realtime", "audio": {"output": {"format": {"type": fmt}}}}
        )
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": SAY}],
            }
        )
        await conn.response.create()
        audio, order = bytearray(), []
        async for event in events(conn):
            order.append(event.type)
            if event.type == "response.output_audio.delta":
                audio += base64.b64decode(event.delta)
            if event.type == "response.done":
                assert event.response.status == "completed"
                break
    lifecycle = [t for t in order if t.startswith("response.") and not t.endswith(".delta")]
    assert lifecycle == [
        "response.created",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.done",
    ]
    if fmt == "audio/pcm":
        pcm = resample(np.frombuffer(bytes(audio), "<i2"), 24_000, 16_000)
    else:
        pcm = resample(ulaw_decode(bytes(audio)), 8_000, 16_000)
    heard = engines.asr.transcribe(pcm, ASROptions(language="en")).text
    assert wer(SAY, heard) <= 0.10, heard


LONG = " ".join([SAY] * 6)


async def test_barge_in_cancels_the_response(server, testdata):
    speech = pcm24(testdata, "openai-whisper/jfk.flac", tail_s=0.5).tobytes()
    async with server.client().realtime.connect(model="gpt-realtime") as conn:
        await conn.response.create(response={"instructions": LONG})
        sender = None
        after_done = []
        done = None
        async for event in events(conn):
            if event.type == "response.output_audio.delta" and sender is None:
                sender = asyncio.create_task(
                    stream_audio(conn, speech, bytes_per_chunk=48 * 100, pace=0.0)
                )
            if done is not None:
                after_done.append(event.type)
            if event.type == "response.done":
                done = event.response
            if event.type == "input_audio_buffer.speech_stopped":
                break
        sender.cancel()
    assert done is not None and done.status == "cancelled"
    assert done.status_details.reason == "turn_detected"
    assert "response.output_audio.delta" not in after_done


async def test_manual_commit_and_empty_commit(server, testdata):
    payload = pcm24(testdata, "asterisk/agent-pass.wav", tail_s=0.2).tobytes()
    async with server.client().realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(
            session={"type": "realtime", "audio": {"input": {"turn_detection": None, **WHISPER}}}
        )
        await conn.input_audio_buffer.commit(event_id="empty-1")
        await stream_audio(conn, payload, bytes_per_chunk=48 * 200, pace=0.0)
        await conn.input_audio_buffer.commit()
        errors, final = [], None
        async for event in events(conn):
            assert event.type != "input_audio_buffer.speech_started"  # VAD is off
            if event.type == "error":
                errors.append(event.error)
            if event.type == "conversation.item.input_audio_transcription.completed":
                final = event.transcript
                break
    assert [(e.code, e.event_id) for e in errors] == [
        ("input_audio_buffer_commit_empty", "empty-1")
    ]
    assert wer("Please enter your password followed by the pound key.", final) <= 0.10


BAD_FRAMES = [
    ("not json", None, "invalid_json"),
    ('{"type": "no.such.event", "event_id": "e2"}', "e2", "invalid_value"),
    ('{"type": "input_audio_buffer.append", "event_id": "e3", "audio": 5}', "e3", "invalid_value"),
    (
        '{"type": "input_audio_buffer.append", "event_id": "e4", "audio": "***"}',
        "e4",
        "invalid_value",
    ),
    (
        '{"type": "input_audio_buffer.append", "event_id": "e5", "audio": "AAAA"}',
        "e5",
        "invalid_value",
    ),
    ('{"type": "response.cancel", "event_id": "e6"}', "e6", "response_cancel_not_active"),
]


async def test_bad_input_gets_errors_and_the_session_carries_on(server, testdata):
    url = server.url.replace("http", "ws") + "/v1/realtime?model=x"
    async with websockets.connect(
        url, additional_headers={"Authorization": f"Bearer {server.key}"}
    ) as ws:
        first = json.loads(await ws.recv())
        assert first["type"] == "session.created"
        for frame, event_id, code in BAD_FRAMES:
            await ws.send(frame)
            while (reply := json.loads(await asyncio.wait_for(ws.recv(), EVENT_TIMEOUT)))[
                "type"
            ] != "error":
                pass
            GA_EVENTS.validate_python(reply)
            assert (reply["error"]["event_id"], reply["error"]["code"]) == (event_id, code), reply
        # oversized append (16 MiB) → error, not a disconnect
        big = base64.b64encode(b"\0" * (16 * 1024 * 1024)).decode()
        await ws.send(
            json.dumps({"type": "input_audio_buffer.append", "event_id": "big", "audio": big})
        )
        while (reply := json.loads(await asyncio.wait_for(ws.recv(), EVENT_TIMEOUT)))[
            "type"
        ] != "error":
            pass
        assert reply["error"]["event_id"] == "big"
        # the same connection still transcribes
        manual = {"turn_detection": None, **WHISPER}
        await ws.send(
            json.dumps(
                {
                    "type": "session.update",
                    "session": {"type": "realtime", "audio": {"input": manual}},
                }
            )
        )
        payload = pcm24(testdata, "asterisk/agent-pass.wav", tail_s=0.2).tobytes()
        await ws.send(
            json.dumps(
                {"type": "input_audio_buffer.append", "audio": base64.b64encode(payload).decode()}
            )
        )
        await ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
        while (reply := json.loads(await asyncio.wait_for(ws.recv(), EVENT_TIMEOUT)))["type"] != (
            "conversation.item.input_audio_transcription.completed"
        ):
            assert reply["type"] != "error", reply
        assert "password" in reply["transcript"].lower()


async def test_browser_subprotocols_with_a_client_secret(server):
    import aiohttp

    async with aiohttp.ClientSession() as http:
        minted = await http.post(
            f"{server.url}/v1/realtime/client_secrets",
            headers={"Authorization": f"Bearer {server.key}"},
            json={"session": {"type": "transcription"}},
        )
        assert minted.status == 200
        secret = (await minted.json())["value"]
        assert secret.startswith("ek_")
        url = server.url.replace("http", "ws") + "/v1/realtime"
        async with websockets.connect(
            url, subprotocols=["realtime", f"openai-insecure-api-key.{secret}"]
        ) as ws:
            assert ws.subprotocol == "realtime"  # never the key-bearing entry
            first = json.loads(await ws.recv())
            assert (
                first["type"] == "session.created" and first["session"]["type"] == "transcription"
            )
        # single use: the same secret is refused before the upgrade
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(
                url, subprotocols=["realtime", f"openai-insecure-api-key.{secret}"]
            ):
                pass
        assert refused.value.response.status_code == 401
        body = refused.value.response.body.decode()
        assert secret not in body and server.key not in body
        with pytest.raises(websockets.InvalidStatus) as wrong:
            async with websockets.connect(
                url, subprotocols=["realtime", "openai-insecure-api-key.vg_bad_key"]
            ):
                pass
        assert wrong.value.response.status_code == 401
