"""WebRTC calls end to end: a Python aiortc peer on loopback against a real server on port 0.

The client's ICE and the server's (``webrtc_ice_addresses=127.0.0.1``) stay on 127.0.0.1.
The client's microphone is a real recording played in real time; what the assistant says
comes back on the remote track and is transcribed by voxgate's own ASR. Signalling,
limits and teardown run with fake engines (connection logic only); the playout queue is
tested on its own, without a network.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import numpy as np
import pytest
from aiohttp import web
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from openai import AsyncOpenAI, BadRequestError

from engines.audio import load_pcm, resample
from engines.base import ASROptions, Engines
from engines.testing import ScriptedASR, ScriptedVAD, ToneTTS
from protocol import AudioPCM
from protocol import server_events as ev
from realtime.auth.middleware import CLIENT_SECRETS, KEYSTORE
from realtime.server.app import create_app
from realtime.server.metrics import METRICS
from realtime.server.settings import Settings
from realtime.session.ids import SequentialIds
from realtime.transports.webrtc.ice import IcePolicy
from realtime.transports.webrtc.media import AssistantTrack, mono_pcm
from realtime.transports.webrtc.playout import FRAME_SAMPLES, Cut, Playout, Started, Stopped
from realtime.transports.webrtc.signalling import CALLS
from realtime.transports.webrtc.tap import CallTap
from testkit.wer import wer
from tests.realtime import test_realtime_sdk as sdk

engines = sdk.engines  # the default engines, loaded once per module (fixture)

EVENT_TIMEOUT = 60
LOOPBACK = IcePolicy(addresses=("127.0.0.1",))
SAY = "The weather today is sunny and warm, with a light breeze from the west."
LONG = " ".join([SAY] * 6)
QUIET_RMS = 30.0
"""Decoded Opus frames of digital silence stay below this."""
MIC_DRAINED = "test.microphone_drained"
"""Marker the test client puts among its events once its microphone clip has played."""


# --- the server and the client ----------------------------------------------------------------


class Server:
    def __init__(self, url: str, key: str, app: web.Application) -> None:
        self.url, self.key, self.app = url, key, app

    def headers(self, key: str | None = None, **more: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}", **more}

    def sdk(self, key: str | None = None) -> AsyncOpenAI:
        return AsyncOpenAI(base_url=f"{self.url}/v1", api_key=key or self.key, max_retries=0)


@asynccontextmanager
async def serving(chosen: Engines, **settings: Any) -> AsyncIterator[Server]:
    options = Settings(data_dir=tempfile.mkdtemp(), webrtc_ice_addresses=["127.0.0.1"], **settings)
    app = create_app(options, engines=chosen)
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


@pytest.fixture
async def server(engines) -> AsyncIterator[Server]:
    async with serving(engines, responder="say") as running:
        yield running


def fakes() -> Engines:
    return Engines(vad=ScriptedVAD([]), asr=ScriptedASR(), tts=ToneTTS())


@pytest.fixture
async def fake_server() -> AsyncIterator[Server]:
    async with serving(fakes(), responder="say") as running:
        yield running


class Client:
    """An aiortc peer on loopback: a microphone fed from a playout, the events, the audio."""

    def __init__(self, *, audio: bool = True) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.mic = Playout()
        if audio:
            self.pc.addTrack(AssistantTrack(self.mic, self._on_mic))
        self.channel = self.pc.createDataChannel("oai-events")
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.channel.on("message", lambda m: self.events.put_nowait(json.loads(m)))
        self.frames: asyncio.Queue[np.ndarray] = asyncio.Queue()
        self._readers: list[asyncio.Task[None]] = []
        self.pc.on("track", self._on_track)

    async def offer(self) -> str:
        LOOPBACK.apply(self.pc)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, answer: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))

    def send(self, event: dict[str, Any]) -> None:
        self.channel.send(json.dumps(event))

    def speak(self, pcm48: np.ndarray) -> None:
        """Play ``pcm48`` (48 kHz) into the microphone; MIC_DRAINED follows once it played."""
        self.mic.add("mic", None, pcm48)
        self.mic.finish("mic")

    async def next_event(self, *types: str, seen: list[str] | None = None) -> dict[str, Any]:
        """The next event of one of ``types`` (every type received goes to ``seen``)."""
        while True:
            event = await asyncio.wait_for(self.events.get(), EVENT_TIMEOUT)
            if seen is not None:
                seen.append(event["type"])
            assert event["type"] != "error", event
            if event["type"] in types:
                return event

    def skip_audio(self) -> None:
        """Forget the audio received so far."""
        while not self.frames.empty():
            self.frames.get_nowait()

    async def sound(self, quiet_frames: int = 25) -> np.ndarray:
        """The next sound received (48 kHz): from its first loud frame to ``quiet_frames``
        silent frames in a row."""
        frame = await asyncio.wait_for(self.frames.get(), EVENT_TIMEOUT)
        while rms(frame) < QUIET_RMS:
            frame = await asyncio.wait_for(self.frames.get(), EVENT_TIMEOUT)
        heard, quiet = [frame], 0
        while quiet < quiet_frames:
            frame = await asyncio.wait_for(self.frames.get(), EVENT_TIMEOUT)
            heard.append(frame)
            quiet = quiet + 1 if rms(frame) < QUIET_RMS else 0
        return np.concatenate(heard)

    async def close(self) -> None:
        await self.pc.close()
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)

    def _on_mic(self, transitions: list[Started | Stopped]) -> None:
        if any(isinstance(t, Stopped) for t in transitions):
            self.events.put_nowait({"type": MIC_DRAINED})

    def _on_track(self, track: Any) -> None:
        self._readers.append(asyncio.ensure_future(self._read(track)))

    async def _read(self, track: Any) -> None:
        try:
            while True:
                self.frames.put_nowait(mono_pcm(await track.recv()))
        except MediaStreamError:
            return


async def call(server: Server, client: Client, *, path: str = "/v1/realtime/calls") -> str:
    """Place a call with a raw ``application/sdp`` offer; the call's path (Location)."""
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            server.url + path,
            data=await client.offer(),
            headers=server.headers(**{"Content-Type": "application/sdp"}),
        )
        assert response.status == 201, await response.text()
        assert response.content_type == "application/sdp"
        await client.accept(await response.text())
        return response.headers["Location"]


async def hang_up(server: Server, location: str) -> int:
    async with aiohttp.ClientSession() as http:
        response = await http.post(server.url + location + "/hangup", headers=server.headers())
        return response.status


def rms(pcm: np.ndarray) -> float:
    return float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) if len(pcm) else 0.0


def clip48(testdata, name: str, *, tail_s: float = 1.5) -> np.ndarray:
    """A recording at 48 kHz with trailing silence (so VAD sees the end of speech)."""
    audio = resample(load_pcm(testdata / name), 16_000, 48_000)
    return np.concatenate([audio, np.zeros(int(48_000 * tail_s), np.int16)])


VAD = {"type": "server_vad", "silence_duration_ms": 800, "create_response": False}


# --- media and events, real engines -----------------------------------------------------------


@pytest.mark.model
async def test_a_call_hears_the_microphone_and_speaks_on_the_track(server, engines, testdata):
    minted = await server.sdk().realtime.client_secrets.create()
    client = Client()
    try:
        answer = await server.sdk(minted.value).realtime.calls.create(
            sdp=await client.offer(), session={"type": "realtime", "instructions": "Be brief."}
        )
        location = answer.response.headers["location"]
        assert answer.response.status_code == 201 and location.startswith("/v1/realtime/calls/rtc_")
        await client.accept(answer.text)
        created = await client.next_event("session.created")
        assert created["session"]["instructions"] == "Be brief."  # the session part applied
        assert created["session"]["audio"]["output"]["format"]["type"] == "audio/pcm"
        client.send(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "audio": {
                        "input": {"transcription": {"model": "whisper-1"}, "turn_detection": VAD}
                    },
                },
            }
        )
        await client.next_event("session.updated")
        client.speak(clip48(testdata, "openai-whisper/jfk.flac"))
        seen: list[str] = []
        committed, finals, drained = [], {}, False
        while not (drained and committed and set(finals) >= set(committed)):
            event = await client.next_event(
                MIC_DRAINED,
                "input_audio_buffer.committed",
                "conversation.item.input_audio_transcription.completed",
                seen=seen,
            )
            if event["type"] == MIC_DRAINED:
                drained = True
            elif event["type"] == "input_audio_buffer.committed":
                committed.append(event["item_id"])
            else:
                finals[event["item_id"]] = event["transcript"]
        assert seen.index("input_audio_buffer.speech_started") < seen.index(
            "input_audio_buffer.speech_stopped"
        )
        reference = (testdata / "openai-whisper/jfk.txt").read_text()
        heard_text = " ".join(finals[item] for item in committed)
        assert wer(reference, heard_text) <= 0.10, heard_text

        client.skip_audio()
        client.send({"type": "response.create", "response": {"voxgate": {"say": SAY}}})
        order: list[str] = []
        started = await client.next_event("output_audio_buffer.started", seen=order)
        stopped = await client.next_event("output_audio_buffer.stopped", seen=order)
        spoken = await client.sound()
        assert started["response_id"] == stopped["response_id"]
        assert order.index("response.created") < order.index("output_audio_buffer.started")
        assert order.index("response.done") < order.index("output_audio_buffer.stopped")
        assert "response.output_audio.delta" not in order  # the audio went on the track
        assert "response.output_audio.done" in order
        assert rms(spoken) > 300
        said = engines.asr.transcribe(resample(spoken, 48_000, 16_000), ASROptions(language="en"))
        assert wer(SAY, said.text) <= 0.10, said.text
        assert await hang_up(server, location) == 200
        assert len(server.app[CALLS]) == 0
    finally:
        await client.close()


@pytest.mark.model
async def test_speech_during_a_response_clears_the_audio(server, testdata):
    client = Client()
    try:
        await call(server, client)
        await client.next_event("session.created")
        client.send(
            {
                "type": "session.update",
                "session": {"type": "realtime", "audio": {"input": {"turn_detection": VAD}}},
            }
        )
        await client.next_event("session.updated")
        client.send({"type": "response.create", "response": {"voxgate": {"say": LONG}}})
        started = await client.next_event("output_audio_buffer.started")
        client.speak(clip48(testdata, "openai-whisper/jfk.flac"))
        seen: list[str] = []
        cleared = await client.next_event("output_audio_buffer.cleared", seen=seen)
        assert "input_audio_buffer.speech_started" in seen  # the barge-in came first
        assert "output_audio_buffer.stopped" not in seen
        assert cleared["response_id"] == started["response_id"]
        await assert_goes_quiet(client)
    finally:
        await client.close()


@pytest.mark.model
async def test_the_clients_clear_cuts_the_audio_and_truncates_the_item(server):
    client = Client()
    try:
        await call(server, client)
        await client.next_event("session.created")
        client.send({"type": "response.create", "response": {"voxgate": {"say": LONG}}})
        added = await client.next_event("response.output_item.added")
        started = await client.next_event("output_audio_buffer.started")
        client.send({"type": "output_audio_buffer.clear", "event_id": "clear_1"})
        cleared = await client.next_event("output_audio_buffer.cleared")
        assert cleared["response_id"] == started["response_id"]
        truncated = await client.next_event("conversation.item.truncated")
        assert truncated["item_id"] == added["item"]["id"]
        assert 0 < truncated["audio_end_ms"] < 20_000  # what had played, not all of it
        await assert_goes_quiet(client)
    finally:
        await client.close()


async def assert_goes_quiet(client: Client) -> None:
    """After a clear, the received audio turns silent within a few frames and stays so."""
    client.skip_audio()
    frames = [await asyncio.wait_for(client.frames.get(), EVENT_TIMEOUT) for _ in range(60)]
    loud = [i for i, frame in enumerate(frames) if rms(frame) >= QUIET_RMS]
    # what was already in flight (network, jitter buffer) may still play, then nothing
    assert not loud or loud[-1] < 15, loud


# --- signalling ---------------------------------------------------------------------------------


async def error_of(response: aiohttp.ClientResponse, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    body = await response.json()
    assert set(body["error"]) >= {"message", "type", "code", "param"}
    return body["error"]


async def test_bad_signalling_gets_openai_style_errors(fake_server):
    server = fake_server
    sdp = {"Content-Type": "application/sdp"}
    no_audio = Client(audio=False)
    try:
        async with aiohttp.ClientSession() as http:
            url = server.url + "/v1/realtime/calls"
            empty = await error_of(
                await http.post(url, data="", headers=server.headers(**sdp)), 400
            )
            assert (empty["code"], empty["param"]) == ("invalid_offer", "sdp")
            garbage = await http.post(url, data="hello\x00world", headers=server.headers(**sdp))
            assert (await error_of(garbage, 400))["code"] == "invalid_offer"
            broken = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"
            unusable = await http.post(url, data=broken, headers=server.headers(**sdp))
            assert (await error_of(unusable, 400))["code"] == "invalid_offer"  # no ICE, no DTLS
            silent = await http.post(
                url, data=await no_audio.offer(), headers=server.headers(**sdp)
            )
            assert "no audio" in (await error_of(silent, 400))["message"]
            json_body = await http.post(url, json={"sdp": "v=0"}, headers=server.headers())
            assert (await error_of(json_body, 400))["code"] == "unsupported_content_type"
            beta_form = aiohttp.FormData({"sdp": "v=0"})
            beta = await http.post(
                server.url + "/v1/realtime", data=beta_form, headers=server.headers()
            )
            assert (await error_of(beta, 400))["code"] == "unsupported_content_type"
            unknown = await http.post(url + "/rtc_nosuchcall/hangup", headers=server.headers())
            assert (await error_of(unknown, 404))["code"] == "call_not_found"
            # a client secret works once, and not after it expired
            record = server.app[KEYSTORE].list()[0]
            stale, _ = server.app[CLIENT_SECRETS].mint(record, ttl_s=10, now=time.time() - 60)
            expired = await http.post(url, data="v=0", headers=server.headers(stale, **sdp))
            assert (await error_of(expired, 401))["code"] == "invalid_api_key"
            invalid = await http.post(
                url, data="v=0", headers=server.headers("ek_madeup12345", **sdp)
            )
            assert (await error_of(invalid, 401))["type"] == "authentication_error"
        assert len(server.app[CALLS]) == 0
        refused = server.app[METRICS].webrtc_calls.labels(outcome="refused")._value.get()
        assert refused == 6
        # the SDK's multipart form: a session the API would reject is a 400 naming it
        client = Client()
        try:
            with pytest.raises(BadRequestError) as caught:
                await server.sdk().realtime.calls.create(
                    sdp=await client.offer(),
                    session={"type": "realtime", "output_modalities": ["smell"]},
                )
            assert caught.value.status_code == 400
            assert caught.value.body["param"].startswith("session.")
        finally:
            await client.close()
    finally:
        await no_audio.close()


async def test_a_beta_call_speaks_beta_events(fake_server):
    client = Client()
    try:
        location = await call(
            fake_server, client, path="/v1/realtime?model=gpt-4o-realtime-preview"
        )
        created = await client.next_event("session.created")
        assert created["session"]["model"] == "gpt-4o-realtime-preview"
        assert "modalities" in created["session"]  # the beta (flat) session shape
        client.send({"type": "response.create", "response": {"instructions": "Hello there."}})
        await client.next_event("response.audio.done")  # beta's name of output_audio.done
        await client.next_event("output_audio_buffer.stopped")
        assert await hang_up(fake_server, location) == 200
    finally:
        await client.close()


async def test_calls_share_the_session_limits():
    first, second = Client(), Client()
    try:
        async with serving(fakes(), max_sessions_per_key=1) as server:
            location = await call(server, first)
            await first.next_event("session.created")
            async with aiohttp.ClientSession() as http:
                response = await http.post(
                    server.url + "/v1/realtime/calls",
                    data=await second.offer(),
                    headers=server.headers(**{"Content-Type": "application/sdp"}),
                )
                error = await error_of(response, 429)
                assert error["code"] == "session_limit_reached"
            assert await hang_up(server, location) == 200
            await call(server, second)  # the seat is free again
            await second.next_event("session.created")
    finally:
        await first.close()
        await second.close()


async def test_only_the_key_that_placed_a_call_hangs_it_up(fake_server):
    client = Client()
    try:
        location = await call(fake_server, client)
        await client.next_event("session.created")
        other = fake_server.app[KEYSTORE].create("other")[1]
        async with aiohttp.ClientSession() as http:
            url = fake_server.url + location + "/hangup"
            refused = await http.post(url, headers=fake_server.headers(other))
            assert (await error_of(refused, 404))["code"] == "call_not_found"
        assert len(fake_server.app[CALLS]) == 1  # still up
        assert await hang_up(fake_server, location) == 200
        assert len(fake_server.app[CALLS]) == 0
    finally:
        await client.close()


async def test_a_call_whose_ice_never_connects_ends_and_frees_its_seat(fake_server):
    registry = fake_server.app[CALLS]
    registry.connect_timeout_s = 0.5
    client = Client()
    try:
        async with aiohttp.ClientSession() as http:
            response = await http.post(
                fake_server.url + "/v1/realtime/calls",
                data=await client.offer(),  # the answer is never applied: no ICE
                headers=fake_server.headers(**{"Content-Type": "application/sdp"}),
            )
            assert response.status == 201
        call_id = response.headers["Location"].rsplit("/", 1)[1]
        task = registry.task(call_id)
        assert task is not None
        await asyncio.wait_for(asyncio.shield(task), 10)
        assert len(registry) == 0
        metric = fake_server.app[METRICS].webrtc_calls.labels(outcome="unconnected")
        assert metric._value.get() == 1
    finally:
        await client.close()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_calls_leave_no_task_or_socket_behind(fake_server):
    async def one_call(index: int) -> None:
        client = Client()
        try:
            location = await call(fake_server, client)
            await client.next_event("session.created")
            if index % 2:
                assert await hang_up(fake_server, location) == 200
        finally:
            await client.close()  # the other half: the client leaves
        task = fake_server.app[CALLS].task(location.rsplit("/", 1)[1])
        if task is not None:
            await asyncio.wait_for(asyncio.shield(task), 10)

    await one_call(0)  # first use loads what stays loaded (codecs, certificates)
    tasks, fds = len(asyncio.all_tasks()), open_fds()
    for index in range(10):
        await one_call(index)
    assert len(fake_server.app[CALLS]) == 0
    assert fake_server.app[METRICS].webrtc_calls.labels(outcome="answered")._value.get() == 11
    assert len(asyncio.all_tasks()) <= tasks
    assert open_fds() <= fds


# --- ICE policy ---------------------------------------------------------------------------------


async def test_port_range_and_public_address_shape_the_candidates():
    async with serving(
        fakes(), webrtc_port_min=41000, webrtc_port_max=41009, webrtc_public_address="192.0.2.7"
    ) as server:
        client = Client()
        try:
            async with aiohttp.ClientSession() as http:
                response = await http.post(
                    server.url + "/v1/realtime/calls",
                    data=await client.offer(),
                    headers=server.headers(**{"Content-Type": "application/sdp"}),
                )
                answer = await response.text()
            candidates = [
                line.split() for line in answer.splitlines() if line.startswith("a=candidate:")
            ]
            hosts = {(c[4], int(c[5])) for c in candidates if c[7] == "host"}
            public = {(c[4], int(c[5])) for c in candidates if c[7] == "srflx"}
            assert hosts and all(
                addr == "127.0.0.1" and 41000 <= port <= 41009 for addr, port in hosts
            )
            assert public == {("192.0.2.7", port) for _, port in hosts}
            await client.accept(answer)
            await client.next_event("session.created")  # still connects over loopback
        finally:
            await client.close()


# --- the playout queue (no network) -------------------------------------------------------------


def tone(samples: int, value: int = 1000) -> np.ndarray:
    return np.full(samples, value, np.int16)


def test_playout_starts_and_stops_each_response_around_its_audio():
    playout = Playout()
    silence, events = playout.pull()
    assert not silence.any() and events == []
    playout.add("resp_1", "item_1", tone(FRAME_SAMPLES + 100))
    frame, events = playout.pull()
    assert frame.all() and events == [Started("resp_1")]
    frame, events = playout.pull()  # the rest, then silence: not stopped, more may come
    assert frame[:100].all() and not frame[100:].any() and events == []
    playout.finish("resp_1")
    _, events = playout.pull()
    assert events == [Stopped("resp_1")] and playout.playing is None
    playout.add("resp_2", "item_2", tone(10))
    playout.finish("resp_2")
    _, events = playout.pull()
    assert events == [Started("resp_2"), Stopped("resp_2")]


def test_clearing_the_playout_silences_the_next_frame_and_reports_what_played():
    playout = Playout()
    playout.add("resp_1", "item_1", tone(48_000))
    for _ in range(5):
        playout.pull()
    assert playout.clear() == Cut("resp_1", "item_1", 100)  # 5 frames of 20 ms played
    frame, events = playout.pull()
    assert not frame.any() and events == [] and playout.queued_samples == 0
    assert playout.clear() is None  # nothing left to cut
    playout.add("resp_2", "item_2", tone(960))
    assert playout.clear("resp_1") is None  # another response's audio stays
    assert playout.clear("resp_2") == Cut("resp_2", "item_2", 0)  # queued, never played


# --- the call's view of the session's events (no network) ---------------------------------------


class TapHarness:
    """A :class:`CallTap` with its deferred work and fed events recorded."""

    def __init__(self) -> None:
        self.playout = Playout()
        self.fed: list[dict[str, Any]] = []
        self.deferred: list[Any] = []
        self.tap = CallTap(
            self.playout, ids=SequentialIds(), feed=self.fed.append, later=self.deferred.append
        )

    def run_deferred(self) -> None:
        while self.deferred:
            self.deferred.pop(0)()

    def response(self, status: str = "in_progress") -> ev.Response:
        audio = ev.ResponseAudio(output=ev.ResponseAudioOutput(format=AudioPCM(), voice="marin"))
        return ev.Response(id="resp_1", status=status, conversation_id="conv_1", audio=audio)

    def delta(self, ms: int) -> ev.ResponseOutputAudioDelta:
        pcm = np.full(24 * ms, 2000, np.int16).tobytes()
        return ev.ResponseOutputAudioDelta(
            event_id="e",
            response_id="resp_1",
            item_id="item_1",
            output_index=0,
            content_index=0,
            delta=base64.b64encode(pcm).decode(),
        )


def test_the_tap_plays_audio_instead_of_sending_it_and_barge_in_cuts_it():
    h = TapHarness()
    created = ev.ResponseCreated(event_id="e", response=h.response())
    assert h.tap(created) == [created]
    assert h.tap(h.delta(200)) == []  # onto the track, not the data channel
    assert h.playout.queued_samples > 8000  # 200 ms at 48 kHz, less what the resampler holds
    done = ev.ResponseDone(event_id="e", response=h.response("completed"))
    assert h.tap(done) == [done]
    h.playout.pull()  # 20 ms played
    speech = ev.InputAudioBufferSpeechStarted(event_id="e", audio_start_ms=0, item_id="item_2")
    sent = h.tap(speech)
    assert sent[0] is speech and isinstance(sent[1], ev.OutputAudioBufferCleared)
    assert sent[1].response_id == "resp_1" and h.playout.queued_samples == 0
    h.run_deferred()  # the response was over: only its item is truncated
    assert h.fed == [
        {
            "type": "conversation.item.truncate",
            "item_id": "item_1",
            "content_index": 0,
            "audio_end_ms": 20,
        }
    ]


def test_the_clients_clear_stops_the_response_before_its_item_is_truncated():
    h = TapHarness()
    h.tap(ev.ResponseCreated(event_id="e", response=h.response()))
    h.tap(h.delta(100))
    h.playout.pull()
    h.playout.pull()
    reply = ev.OutputAudioBufferCleared(event_id="e", response_id="resp_1")
    assert h.tap(reply) == [reply]  # the session's own reply goes out as it is
    assert h.tap(h.delta(100)) == [] and h.playout.queued_samples == 0  # muted from now on
    h.run_deferred()
    assert h.fed == [{"type": "response.cancel", "response_id": "resp_1"}]
    cancelled = ev.ResponseDone(event_id="e", response=h.response("cancelled"))
    assert h.tap(cancelled) == [cancelled]  # nothing left to clear twice
    h.run_deferred()
    assert h.fed[-1]["type"] == "conversation.item.truncate"
    assert h.fed[-1]["audio_end_ms"] == 40
