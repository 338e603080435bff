"""Transport rules with fake engines (pure connection logic): limits and close codes."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import tempfile
import threading
from typing import Any

import pytest
import websockets
from aiohttp import web
from websockets.sync.client import connect as sync_connect

from engines.base import Engines
from engines.testing import ScriptedASR, ScriptedVAD, ToneTTS
from realtime.auth.middleware import KEYSTORE
from realtime.hosting.host import HOST, close_all
from realtime.server.app import create_app
from realtime.server.settings import Settings

FAKES = Engines(vad=ScriptedVAD([]), asr=ScriptedASR(), tts=ToneTTS())


async def start(engines: Engines = FAKES, **settings) -> tuple[web.AppRunner, str, str]:
    app = create_app(Settings(data_dir=tempfile.mkdtemp(), **settings), engines=engines)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    key = app[KEYSTORE].create("t")[1]
    return runner, f"ws://127.0.0.1:{port}/v1/realtime", key


def connect(url: str, key: str, **kwargs):
    return websockets.connect(url, additional_headers={"Authorization": f"Bearer {key}"}, **kwargs)


async def closed_with(ws) -> int:
    with pytest.raises(websockets.ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    return ws.close_code


async def test_session_limits_close_with_1013():
    runner, url, key = await start(max_sessions_per_key=1)
    try:
        async with connect(url, key) as first:
            assert json.loads(await first.recv())["type"] == "session.created"
            async with connect(url, key) as second:
                assert await closed_with(second) == 1013
            # the first session is unaffected
            await first.send(json.dumps({"type": "input_audio_buffer.clear"}))
            while json.loads(await first.recv())["type"] != "input_audio_buffer.cleared":
                pass
    finally:
        await runner.cleanup()


async def test_maximum_session_length_closes_with_1001():
    runner, url, key = await start(max_session_seconds=1)
    try:
        async with connect(url, key) as ws:
            assert await closed_with(ws) == 1001
            assert "maximum duration" in ws.close_reason
    finally:
        await runner.cleanup()


async def test_oversized_frame_closes_with_1009():
    runner, url, key = await start()
    try:
        async with connect(url, key, max_size=None) as ws:
            await ws.recv()
            await ws.send("x" * (25 * 1024 * 1024))
            assert await closed_with(ws) == 1009
    finally:
        await runner.cleanup()


async def test_shutdown_closes_sessions_with_1012():
    runner, url, key = await start()
    async with connect(url, key) as ws:
        await ws.recv()
        cleanup = asyncio.create_task(runner.cleanup())
        assert await closed_with(ws) == 1012
        await cleanup


def streaming_client(url: str, key: str, streaming: threading.Event) -> Any:
    """A client in its own thread that sends audio as fast as it can until closed.

    Sets ``streaming`` once 50 chunks are out; returns (close code, close frame received,
    close frame sent).
    """
    chunk = json.dumps({"type": "input_audio_buffer.append", "audio": "AAAA" * 2400})
    headers = {"Authorization": f"Bearer {key}"}
    with sync_connect(url, additional_headers=headers, close_timeout=10) as ws:
        ws.recv(timeout=10)  # session.created

        def stream() -> None:
            with contextlib.suppress(websockets.ConnectionClosed):
                for sent in itertools.count(1):
                    ws.send(chunk)
                    if sent == 50:
                        streaming.set()

        sender = threading.Thread(target=stream)
        sender.start()
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                ws.recv(timeout=30)
        sender.join(10)
        return ws.close_code, ws.protocol.close_rcvd, ws.protocol.close_sent


async def test_close_all_completes_the_handshake_with_a_client_still_streaming():
    # A telephony bridge keeps streaming while the server restarts. Each session closes its
    # own socket and reads on until the client's close frame; closed from outside while
    # its reader waited, aiohttp dropped the connection at once and a client still sending
    # saw a reset (1006, 1 run in 4) instead of 1012.
    runner, url, key = await start()
    app = runner.app
    streaming = threading.Event()
    client = asyncio.ensure_future(asyncio.to_thread(streaming_client, url, key, streaming))
    try:
        assert await asyncio.to_thread(streaming.wait, 10)
        sockets = list(app[HOST].sessions)
        await close_all(app)
        code, received, sent = await asyncio.wait_for(client, 30)
    finally:
        await runner.cleanup()
    assert code == 1012 and received is not None and received.code == 1012
    assert sent is not None  # the client answered the close frame ...
    assert [ws.close_code for ws in sockets] == [1012]  # ... and the server read the answer


async def test_binary_frames_are_an_error_not_a_disconnect():
    runner, url, key = await start()
    try:
        async with connect(url, key) as ws:
            await ws.recv()
            await ws.send(b"\x00\x01")
            while (event := json.loads(await asyncio.wait_for(ws.recv(), 10)))["type"] != "error":
                pass
            assert "Binary frames" in event["error"]["message"]
            await ws.send(json.dumps({"type": "input_audio_buffer.clear"}))
            while json.loads(await ws.recv())["type"] != "input_audio_buffer.cleared":
                pass
    finally:
        await runner.cleanup()


async def test_shutdown_lets_a_response_finish_before_1012():
    runner, url, key = await start()
    async with connect(url, key) as ws:
        await ws.recv()
        await ws.send(
            json.dumps(
                {"type": "response.create", "response": {"instructions": "One. Two. Three."}}
            )
        )
        while json.loads(await ws.recv())["type"] != "response.output_audio.delta":
            pass
        cleanup = asyncio.create_task(runner.cleanup())
        seen = []
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                seen.append(json.loads(await asyncio.wait_for(ws.recv(), 10))["type"])
        await cleanup
    assert ws.close_code == 1012
    assert "response.done" in seen  # the response completed before the session closed


async def test_events_sent_while_the_server_drains_are_still_handled():
    # serve's shutdown: stop listening, then close_all before aiohttp's cleanup, which
    # would discard client input. While a response finishes, the client is still heard.
    tts = ToneTTS(gate=threading.Event())
    runner, url, key = await start(Engines(vad=ScriptedVAD([]), asr=ScriptedASR(), tts=tts))
    create = {"type": "response.create", "response": {"instructions": "One. Two."}}
    try:
        async with connect(url, key) as ws:
            await ws.recv()
            await ws.send(json.dumps(create))
            while json.loads(await ws.recv())["type"] != "response.output_audio.delta":
                pass
            (connection,) = runner.app[HOST].sessions.values()
            draining = asyncio.Event()
            drain = connection.runner.drain

            async def drain_and_tell(*, grace_s: float) -> None:
                draining.set()
                await drain(grace_s=grace_s)

            connection.runner.drain = drain_and_tell
            for site in list(runner.sites):
                await site.stop()
            closing = asyncio.create_task(close_all(runner.app))
            await asyncio.wait_for(draining.wait(), 10)
            await ws.send(json.dumps({"type": "input_audio_buffer.clear", "event_id": "e1"}))
            seen = []
            while "input_audio_buffer.cleared" not in seen:
                seen.append(json.loads(await asyncio.wait_for(ws.recv(), 10))["type"])
            assert not closing.done()  # still draining: the response is held open
            tts.gate.set()
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    seen.append(json.loads(await asyncio.wait_for(ws.recv(), 10))["type"])
            await closing
        assert ws.close_code == 1012
        assert seen.index("input_audio_buffer.cleared") < seen.index("response.done")
    finally:
        tts.gate.set()
        await runner.cleanup()


async def test_a_client_that_stops_reading_is_closed_with_1008():
    runner, url, key = await start()
    loop = asyncio.get_running_loop()
    gave_up = asyncio.Event()

    class Watch(logging.Handler):
        def emit(self, record):
            if "does not read" in record.getMessage():
                loop.call_soon_threadsafe(gave_up.set)

    watch = Watch()
    logging.getLogger("realtime.hosting.hosted").addHandler(watch)
    host, port = url.removeprefix("ws://").split("/")[0].split(":")
    try:
        # A raw socket: handshake, one request, then no reading at all (real backpressure).
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            (
                "GET /v1/realtime HTTP/1.1\r\n"
                f"Host: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                f"Authorization: Bearer {key}\r\n\r\n"
            ).encode()
        )
        assert b" 101 " in await reader.readuntil(b"\r\n\r\n")
        text = " ".join(["Go."] * 4000)  # 4000 sentences → 8000 audio deltas (~50 MB)
        writer.write(
            _masked_text_frame(
                json.dumps({"type": "response.create", "response": {"instructions": text}})
            )
        )
        await writer.drain()
        await asyncio.wait_for(gave_up.wait(), 60)  # the server stopped queueing for us
        received = await asyncio.wait_for(reader.read(), 60)  # now drain until it hangs up
        assert b"\x03\xf0client is not reading events" in received  # close frame: 1008
        writer.close()
    finally:
        logging.getLogger("realtime.hosting.hosted").removeHandler(watch)
        await runner.cleanup()


def _masked_text_frame(text: str) -> bytes:
    """One client→server WebSocket text frame (RFC 6455 §5.2: clients mask)."""
    import os
    import struct

    payload = text.encode()
    mask = os.urandom(4)
    header = b"\x81" + (
        bytes([0x80 | len(payload)])
        if len(payload) < 126
        else (
            b"\xfe" + struct.pack("!H", len(payload))
            if len(payload) < 1 << 16
            else b"\xff" + struct.pack("!Q", len(payload))
        )
    )
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
