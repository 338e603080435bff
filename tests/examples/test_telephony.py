"""The Twilio bridge example on a replayed phone call: bridge and voxgate both real, in-process.

The test plays Twilio: it sends an 8 kHz recording as Media Streams ``media`` frames (20 ms
of μ-law each) and checks what comes back the way Twilio would play it.
"""

from __future__ import annotations

import asyncio
import base64

import aiohttp
import numpy as np
import pytest

from engines.audio import load_pcm, resample
from engines.base import ASROptions
from engines.g711 import ulaw_decode, ulaw_encode
from testkit.wer import wer
from tests.examples.conftest import load_example, serve

pytestmark = pytest.mark.model

FRAME_BYTES = 160  # 20 ms of 8 kHz μ-law, as Twilio sends it
WAIT = 120  # seconds to wait for one thing before failing
STREAM_SID = "MZ00000000000000000000000000000000"


class FakeTwilio:
    """Twilio's side of one media stream: numbered frames out, typed frames in."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.sequence = 0
        self.chunk = 0

    async def send(self, event: str, **body: object) -> None:
        self.sequence += 1
        frame = {"event": event, "sequenceNumber": str(self.sequence), **body}
        if event != "connected":
            frame["streamSid"] = STREAM_SID
        await self.ws.send_json(frame)

    async def start(self) -> None:
        await self.ws.send_json({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await self.send(
            "start",
            start={
                "accountSid": "AC0",
                "streamSid": STREAM_SID,
                "callSid": "CA0",
                "tracks": ["inbound"],
                "customParameters": {},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        )

    async def speak(self, mulaw: bytes) -> None:
        for at in range(0, len(mulaw), FRAME_BYTES):
            self.chunk += 1
            payload = base64.b64encode(mulaw[at : at + FRAME_BYTES]).decode()
            media = {
                "track": "inbound",
                "chunk": str(self.chunk),
                "timestamp": str((self.chunk - 1) * 20),
                "payload": payload,
            }
            await self.send("media", media=media)

    async def receive(self) -> dict:
        frame = await asyncio.wait_for(self.ws.receive_json(), WAIT)
        assert frame["streamSid"] == STREAM_SID, frame
        return frame


def caller_audio(testdata) -> bytes:
    """agent-pass.wav as a caller's μ-law, with 1.5 s of silence after it."""
    pcm = resample(load_pcm(testdata / "asterisk/agent-pass.wav"), 16_000, 8_000)
    return ulaw_encode(np.concatenate([pcm, np.zeros(12_000, np.int16)]))


async def test_a_call_is_transcribed_answered_and_barged_in(gateway, testdata, asr_base):
    bridge = load_example("telephony/bridge.py")
    transcripts: asyncio.Queue[str] = asyncio.Queue()
    config = bridge.BridgeConfig(
        voxgate_url=gateway.url, api_key=gateway.key, on_transcript=transcripts.put_nowait
    )
    runner, port = await serve(bridge.create_app(config))
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"http://127.0.0.1:{port}/media") as ws,
        ):
            twilio = FakeTwilio(ws)
            await twilio.start()
            speech = caller_audio(testdata)
            await twilio.speak(speech)

            heard = await asyncio.wait_for(transcripts.get(), WAIT)
            reference = (testdata / "asterisk/agent-pass.txt").read_text()
            assert wer(reference, heard) <= 0.15, heard

            reply = bytearray()
            while (frame := await twilio.receive())["event"] == "media":
                reply += base64.b64decode(frame["media"]["payload"])
            assert frame["event"] == "mark" and frame["mark"]["name"], frame

            # The caller talks over the reply: Twilio has not echoed the mark, so it is
            # still playing, and the bridge must tell Twilio to drop the queued audio.
            await twilio.speak(speech)
            assert (await twilio.receive()) == {"event": "clear", "streamSid": STREAM_SID}
            await twilio.send("stop", stop={"accountSid": "AC0", "callSid": "CA0"})
    finally:
        await runner.cleanup()

    assert len(reply) / 8_000 > 0.5
    spoken = resample(ulaw_decode(bytes(reply)), 8_000, 16_000)
    said = asr_base.transcribe(spoken, ASROptions(language="en")).text
    assert wer(f"You said: {heard}", said) <= 0.2, said


async def test_twiml_points_twilio_at_the_media_websocket():
    bridge = load_example("telephony/bridge.py")
    runner, port = await serve(bridge.create_app(bridge.BridgeConfig()))
    try:
        async with aiohttp.ClientSession() as http:
            response = await http.post(
                f"http://127.0.0.1:{port}/twiml", headers={"X-Forwarded-Host": "calls.example.com"}
            )
            body = await response.text()
    finally:
        await runner.cleanup()
    assert response.status == 200 and response.content_type == "text/xml"
    assert '<Connect><Stream url="wss://calls.example.com/media"/></Connect>' in body
