"""Fault injection: engines that raise, clients that stall or vanish, SIGTERM, a full disk.

Each test injects one fault into a real gateway (real models on real audio wherever an
engine is involved) and checks the outcome a client or operator sees, plus what must not
leak: internals in error messages, tasks, threads, engine streams, scheduler work, files.
Every realtime server event a client receives is validated with the official SDK's types.
PostgreSQL restarts live in ``test_faults_postgres.py``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import json
import logging
import os
import re
import signal
import subprocess
import threading
import time
import tracemalloc
import types
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import requests
import websockets
from aiohttp import web
from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter

from engines.audio import load_pcm, resample
from engines.base import Engines
from engines.testing import ScriptedASR, ScriptedVAD, ToneTTS
from realtime.auth.middleware import KEYSTORE
from realtime.hosting import hosted as hosting
from realtime.hosting.host import HOST
from realtime.hosting.runner import SessionRunner
from realtime.inference.loading import load_engines
from realtime.server.app import create_app
from realtime.server.app_keys import INFERENCE
from realtime.server.settings import Settings
from testkit.wer import wer
from tests import serving
from tests.realtime.batch_support import reference_text, spoken_text, wait_for_job

GA_EVENTS = TypeAdapter(RealtimeServerEvent)
EVENT_TIMEOUT = 60.0
"""Seconds to wait for any one event before the test fails (a bound, not a measurement)."""

CLIP_A = "pocketsphinx/sense_and_sensibility_01_austen_64kb-0870.wav"
CLIP_B = "pocketsphinx/sense_and_sensibility_01_austen_64kb-0880.wav"
GAP_S = 1.5
"""Silence after each clip: longer than the sessions' silence_duration_ms, so VAD ends turns."""

INTERNALS = re.compile(r"injected|Traceback|RuntimeError|File \"|\.py\b", re.IGNORECASE)
"""What must never reach a client: our exception text, tracebacks, source paths."""


class InjectedFault(RuntimeError):
    """The exception the wrappers raise (its text must never reach a client)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"injected fault in {what} at /srv/voxgate/engines/secret.py")


# --- engine wrappers -------------------------------------------------------------------


class _Countdown:
    """Thread-safe call counter: :meth:`hit` is True exactly on the ``n``-th call."""

    def __init__(self, n: int) -> None:
        self._n = n
        self._calls = 0
        self._lock = threading.Lock()
        self.fired = False

    def hit(self) -> bool:
        with self._lock:
            self._calls += 1
            if self._calls == self._n:
                self.fired = True
                return True
            return False


class FaultyASR:
    """A real ASR engine whose streams' ``n``-th call of ``method`` (over all streams) raises.

    The failing call raises *instead of* reaching the real stream; every other call is the
    real model's.
    """

    def __init__(self, real: Any, method: str, n: int) -> None:
        self._real = real
        self.method = method
        self.countdown = _Countdown(n)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def open_stream(self, options: Any) -> Any:
        return _FaultyStream(self._real.open_stream(options), self.method, self.countdown)


class FaultyVAD:
    """A real VAD engine whose streams' ``n``-th ``feed`` call (over all streams) raises."""

    def __init__(self, real: Any, n: int) -> None:
        self._real = real
        self.countdown = _Countdown(n)
        self.opened = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def open_stream(self, options: Any) -> Any:
        self.opened += 1
        return _FaultyStream(self._real.open_stream(options), "feed", self.countdown)


class _FaultyStream:
    def __init__(self, real: Any, method: str, countdown: _Countdown) -> None:
        self._real = real
        self._method = method
        self._countdown = countdown

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._real, name)
        if name != self._method:
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._countdown.hit():
                raise InjectedFault(name)
            return attribute(*args, **kwargs)

        return call


class RecordingTTS:
    """A real TTS engine that records how each synthesis ended, and can fail one of them.

    Args:
        real: The engine.
        fail_after: Raise in the first synthesis after yielding this many chunks (None:
            never).
        loop: The test's event loop; :attr:`closed` is set on it once a synthesis
            generator was closed or exhausted (which happens on a pool thread).
    """

    def __init__(
        self, real: Any, loop: asyncio.AbstractEventLoop, *, fail_after: int | None = None
    ) -> None:
        self._real = real
        self._loop = loop
        self._fail_after = fail_after
        self.started = 0
        self.chunks = 0
        self.ended: list[str] = []  # "exhausted", "closed" or "failed", per synthesis
        self.closed = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def synthesize(self, text: str, **kwargs: Any) -> Iterator[Any]:
        self.started += 1
        fail_after = self._fail_after if self.started == 1 else None
        inner = self._real.synthesize(text, **kwargs)

        def chunks() -> Iterator[Any]:
            how = "closed"
            try:
                for count, chunk in enumerate(inner):
                    if fail_after is not None and count == fail_after:
                        how = "failed"
                        raise InjectedFault("synthesize")
                    self.chunks += 1
                    yield chunk
                how = "exhausted"
            finally:
                close = getattr(inner, "close", None)
                if close is not None:
                    close()
                self.ended.append(how)
                self._loop.call_soon_threadsafe(self.closed.set)

        return chunks()


# --- a gateway and a client ------------------------------------------------------------


@pytest.fixture(scope="module")
def real_engines() -> Engines:
    """The default engines (Silero VAD, faster-whisper, Piper), loaded once per module."""
    return load_engines(Settings())


@dataclass
class Gateway:
    """An in-process gateway on a real port."""

    app: web.Application
    http: str
    key: str

    @property
    def ws_url(self) -> str:
        return self.http.replace("http://", "ws://") + "/v1/realtime"

    def connect(self, query: str = "") -> Any:
        """A raw WebSocket client (``websockets``) with this gateway's key."""
        return websockets.connect(
            self.ws_url + query,
            additional_headers={"Authorization": f"Bearer {self.key}"},
            max_size=None,
        )


@contextlib.asynccontextmanager
async def gateway(engines: Engines, data_dir: Path, **settings: Any) -> AsyncIterator[Gateway]:
    """Serve ``create_app`` with ``engines`` on 127.0.0.1:0 until the block ends."""
    settings.setdefault("batch_workers", 0)
    app = create_app(Settings(data_dir=data_dir, **settings), engines=engines)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    key = app[KEYSTORE].create("faults")[1]
    try:
        yield Gateway(app, f"http://127.0.0.1:{port}", key)
    finally:
        await runner.cleanup()


class Client:
    """A realtime connection whose every received event is validated with the SDK's types."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.events: list[Any] = []
        self.raw: list[str] = []

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(event))

    async def next(self) -> Any:
        raw = await asyncio.wait_for(self.ws.recv(), EVENT_TIMEOUT)
        event = GA_EVENTS.validate_json(raw)
        self.raw.append(raw)
        self.events.append(event)
        return event

    async def until(self, predicate: Callable[[Any], bool]) -> Any:
        """Receive until an event matches ``predicate``; return it."""
        while not predicate(event := await self.next()):
            pass
        return event

    async def until_type(self, name: str) -> Any:
        return await self.until(lambda event: event.type == name)


def pcm24(testdata: Path, clip: str) -> bytes:
    """A clip as 24 kHz pcm16 followed by GAP_S of silence."""
    audio = resample(load_pcm(testdata / clip), 16_000, 24_000)
    return np.concatenate([audio, np.zeros(int(24_000 * GAP_S), np.int16)]).tobytes()


def ms_of(pcm24_bytes: bytes) -> int:
    return len(pcm24_bytes) // 48


TRANSCRIBE = {
    "type": "session.update",
    "session": {
        "type": "transcription",
        "audio": {
            "input": {
                "transcription": {"model": "whisper-1"},
                "turn_detection": {"type": "server_vad", "silence_duration_ms": 800},
            }
        },
    },
}


@dataclass
class Heard:
    """What a transcription session produced: per item, its start and its outcome."""

    starts: dict[str, int]  # item id → audio_start_ms
    committed: list[str]
    completed: dict[str, str]  # item id → transcript
    failed: dict[str, Any]  # item id → the failed event
    errors: list[Any]
    client: Client

    def text_after(self, ms: int) -> str:
        """The completed transcripts of the items that started at or after ``ms``."""
        return " ".join(
            self.completed[i]
            for i in self.committed
            if self.starts[i] >= ms and i in self.completed
        )


async def transcribe(gw: Gateway, payload: bytes) -> Heard:
    """Stream ``payload`` into a server-VAD transcription session as fast as it goes.

    Returns once the audio is sent, no turn is open and every committed item has its
    outcome (``completed`` or ``failed``).
    """
    async with gw.connect("?intent=transcription") as ws:
        client = Client(ws)
        await client.until_type("session.created")
        await client.send(TRANSCRIBE)
        await client.until_type("session.updated")

        async def send_audio() -> None:
            for at in range(0, len(payload), 9600):  # 200 ms appends
                chunk = base64.b64encode(payload[at : at + 9600]).decode()
                await client.send({"type": "input_audio_buffer.append", "audio": chunk})

        heard = Heard({}, [], {}, {}, [], client)
        sender = asyncio.create_task(send_audio())
        open_turns: set[str] = set()
        try:
            while not (
                sender.done()
                and not open_turns
                and heard.committed
                and all(i in heard.completed or i in heard.failed for i in heard.committed)
            ):
                event = await client.next()
                if event.type == "input_audio_buffer.speech_started":
                    open_turns.add(event.item_id)
                    heard.starts[event.item_id] = event.audio_start_ms
                elif event.type == "input_audio_buffer.committed":
                    open_turns.discard(event.item_id)
                    heard.committed.append(event.item_id)
                elif event.type == "conversation.item.input_audio_transcription.completed":
                    heard.completed[event.item_id] = event.transcript
                elif event.type == "conversation.item.input_audio_transcription.failed":
                    heard.failed[event.item_id] = event
                elif event.type == "error":
                    heard.errors.append(event)
            await sender
        finally:
            sender.cancel()
    return heard


def assert_no_internals(client: Client) -> None:
    for raw in client.raw:
        assert not INTERNALS.search(raw), raw


# --- 1. engines that raise -------------------------------------------------------------


@pytest.mark.model
@pytest.mark.parametrize(
    ("method", "n"),
    [("finalize", 1), ("feed", 2)],
    ids=["final-decode-raises", "feed-raises-mid-utterance"],
)
async def test_asr_fault_fails_only_its_item(real_engines, testdata, tmp_path, method, n):
    """The ASR stream raises during the first utterance: that item gets ``…failed`` with an
    error object and no internals; the next utterance is transcribed normally."""
    asr = FaultyASR(real_engines.asr, method, n)
    first, second = pcm24(testdata, CLIP_A), pcm24(testdata, CLIP_B)
    async with gateway(replace(real_engines, asr=asr), tmp_path) as gw:
        heard = await transcribe(gw, first + second)
    assert asr.countdown.fired
    first_item = heard.committed[0]
    assert list(heard.failed) == [first_item], (heard.failed, heard.completed)
    error = heard.failed[first_item].error
    assert error.type == "transcription_error" and error.message
    assert_no_internals(heard.client)
    assert not heard.errors
    reference = reference_text(testdata / CLIP_B.replace(".wav", ".txt"))
    after = heard.text_after(ms_of(first) - int(GAP_S * 1000) // 2)
    assert wer(reference, after) <= 0.25, after


@pytest.mark.model
async def test_asr_partial_that_raises_does_not_lose_the_utterance(
    real_engines, testdata, tmp_path
):
    """A partial decode that raises costs only partials: the item's final is complete."""
    asr = FaultyASR(real_engines.asr, "partial", 1)
    first = pcm24(testdata, CLIP_A)
    async with gateway(replace(real_engines, asr=asr), tmp_path) as gw:
        heard = await transcribe(gw, first)
    assert asr.countdown.fired
    assert not heard.failed and not heard.errors
    reference = reference_text(testdata / CLIP_A.replace(".wav", ".txt"))
    assert wer(reference, heard.text_after(0)) <= 0.25, heard.completed


@pytest.mark.model
async def test_vad_fault_is_reported_and_turn_detection_carries_on(
    real_engines, testdata, tmp_path
):
    """The VAD raises during the first utterance: one ``error`` (server_error, no
    internals); the VAD stream is reopened and the next utterance is detected and
    transcribed."""
    vad = FaultyVAD(real_engines.vad, 4)
    first, second = pcm24(testdata, CLIP_A), pcm24(testdata, CLIP_B)
    async with gateway(replace(real_engines, vad=vad), tmp_path) as gw:
        heard = await transcribe(gw, first + second)
    assert vad.countdown.fired
    assert [e.error.type for e in heard.errors] == ["server_error"]
    assert_no_internals(heard.client)
    reference = reference_text(testdata / CLIP_B.replace(".wav", ".txt"))
    after = heard.text_after(ms_of(first) - int(GAP_S * 1000) // 2)
    assert wer(reference, after) <= 0.25, (after, heard.completed)


SAY = "One small step for a man. One giant leap for mankind. That was the plan."


@pytest.mark.model
async def test_tts_fault_mid_response_fails_the_response_and_the_session_goes_on(
    real_engines, tmp_path
):
    """Speech synthesis raises after its first chunk: ``response.done`` with status failed
    and an error (no internals); the next response speaks in full."""
    tts = RecordingTTS(real_engines.tts, asyncio.get_running_loop(), fail_after=1)
    async with gateway(replace(real_engines, tts=tts), tmp_path) as gw, gw.connect() as ws:
        client = Client(ws)
        await client.until_type("session.created")
        await client.send({"type": "response.create", "response": {"instructions": SAY}})
        done = await client.until_type("response.done")
        audio_before = [e for e in client.events if e.type == "response.output_audio.delta"]
        assert done.response.status == "failed"
        assert done.response.status_details.error.type == "server_error"
        assert audio_before  # it failed mid-response, after audio had streamed
        assert tts.ended == ["failed"]
        mark = len(client.events)
        await client.send({"type": "response.create", "response": {"instructions": SAY}})
        done = await client.until_type("response.done")
        audio = [
            base64.b64decode(e.delta)
            for e in client.events[mark:]
            if e.type == "response.output_audio.delta"
        ]
        assert done.response.status == "completed"
        assert sum(map(len, audio)) > 2 * 24_000  # more than a second of speech
        assert_no_internals(client)
    assert tts.ended == ["failed", "exhausted"]


# --- 2. a client that stops reading ----------------------------------------------------


class _RecordingQueue(asyncio.Queue):  # type: ignore[type-arg]
    """An asyncio.Queue that records its deepest fill, in items and in characters."""

    instances: ClassVar[list[_RecordingQueue]] = []

    def __init__(self, maxsize: int = 0) -> None:
        super().__init__(maxsize)
        self.deepest = 0
        self.chars = 0
        self.most_chars = 0
        self.sizes: list[int] = []
        _RecordingQueue.instances.append(self)

    def put_nowait(self, item: Any) -> None:
        super().put_nowait(item)
        self.sizes.append(len(item or ""))
        self.chars += len(item or "")
        self.deepest = max(self.deepest, self.qsize())
        self.most_chars = max(self.most_chars, self.chars)

    def get_nowait(self) -> Any:
        item = super().get_nowait()
        self.chars -= len(item or "")
        return item


def _asyncio_with_recording_queue() -> types.ModuleType:
    """A stand-in for the ``asyncio`` module as realtime.hosting.hosted sees it."""
    proxy = types.ModuleType("asyncio")
    proxy.__dict__.update(vars(asyncio))
    proxy.Queue = _RecordingQueue  # type: ignore[attr-defined]
    return proxy


FAKES = Engines(vad=ScriptedVAD([]), asr=ScriptedASR(), tts=ToneTTS())
"""Fake engines: a stalled reader is pure connection logic."""


async def test_a_stalled_reader_is_closed_with_1008_and_its_queue_stays_bounded(
    tmp_path, monkeypatch
):
    """A client that stops reading while a long response streams: the server queues at most
    OUTBOUND_QUEUE events for it (never more, and memory stays near that bound), then
    closes with 1008."""
    monkeypatch.setattr(hosting, "asyncio", _asyncio_with_recording_queue())
    _RecordingQueue.instances.clear()
    loop = asyncio.get_running_loop()
    gave_up = asyncio.Event()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "does not read" in record.getMessage():
                loop.call_soon_threadsafe(gave_up.set)

    watch = Watch()
    logging.getLogger("realtime.hosting.hosted").addHandler(watch)
    tracemalloc.start()
    try:
        async with gateway(FAKES, tmp_path) as gw:
            host, port = gw.http.removeprefix("http://").split(":")
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(
                (
                    "GET /v1/realtime HTTP/1.1\r\n"
                    f"Host: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {gw.key}\r\n\r\n"
                ).encode()
            )
            assert b" 101 " in await reader.readuntil(b"\r\n\r\n")
            tracemalloc.reset_peak()
            before, _ = tracemalloc.get_traced_memory()
            text = " ".join(["Go."] * 4000)  # 8000 audio deltas (~50 MB) if nothing stopped it
            event = {"type": "response.create", "response": {"instructions": text}}
            writer.write(_masked_text_frame(json.dumps(event)))
            await writer.drain()
            await asyncio.wait_for(gave_up.wait(), 120)  # stalled: the server gave up on us
            _, peak = tracemalloc.get_traced_memory()
            received = await asyncio.wait_for(reader.read(), 60)  # drain until it hangs up
            writer.close()
    finally:
        tracemalloc.stop()
        logging.getLogger("realtime.hosting.hosted").removeHandler(watch)
    assert b"\x03\xf0client is not reading events" in received  # close frame, code 1008
    outbound = [q for q in _RecordingQueue.instances if q.maxsize == hosting.OUTBOUND_QUEUE]
    assert len(outbound) == 1
    queue = outbound[0]
    assert queue.deepest == hosting.OUTBOUND_QUEUE  # it filled up (never more: 1008 then)
    # memory follows the queue: at its worst the stalled session held the full queue plus
    # slack (socket buffers, the event being built), far less than the whole response
    bound = 2 * queue.most_chars + 8 * 2**20
    grew = peak - before
    assert grew < bound, (grew, bound, queue.most_chars)
    whole_response = 8000 * sorted(queue.sizes)[len(queue.sizes) // 2]  # 8000 deltas
    assert bound < whole_response, (bound, whole_response)  # so an unbounded queue fails


def _masked_text_frame(text: str) -> bytes:
    """One client→server WebSocket text frame (RFC 6455 §5.2: clients mask)."""
    import struct

    payload = text.encode()
    mask = os.urandom(4)
    if len(payload) < 126:
        header = b"\x81" + bytes([0x80 | len(payload)])
    elif len(payload) < 1 << 16:
        header = b"\x81\xfe" + struct.pack("!H", len(payload))
    else:
        header = b"\x81\xff" + struct.pack("!Q", len(payload))
    masked = np.frombuffer(payload, np.uint8) ^ np.resize(
        np.frombuffer(mask, np.uint8), len(payload)
    )
    return header + mask + masked.tobytes()


# --- 3. a client that disconnects mid-response ------------------------------------------


async def _settle(baseline: set[asyncio.Task[Any]], deadline_s: float) -> set[asyncio.Task[Any]]:
    """Wait (at most ``deadline_s``) until no task beyond ``baseline`` is left; return those
    still running."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
    me = asyncio.current_task()
    while True:
        extra = {t for t in asyncio.all_tasks() if t not in baseline and t is not me}
        left = deadline - loop.time()
        if not extra or left <= 0:
            return extra
        await asyncio.wait(extra, timeout=left, return_when=asyncio.FIRST_COMPLETED)


async def _join_new_threads(baseline: set[threading.Thread], deadline_s: float) -> list[str]:
    """Wait (at most ``deadline_s``) for threads started since ``baseline`` to end; return
    the names of those still alive. Joins from a plain thread, so the loop keeps running."""
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    extra = [t for t in threading.enumerate() if t not in baseline]

    def join() -> None:
        end = time.monotonic() + deadline_s
        for thread in extra:
            thread.join(max(0.0, end - time.monotonic()))
        loop.call_soon_threadsafe(done.set)

    joiner = threading.Thread(target=join, name="test-joiner")
    joiner.start()
    await done.wait()
    joiner.join()
    return [t.name for t in extra if t.is_alive()]


LONG_SPEECH = " ".join(
    f"This is sentence number {n} of a long answer that the client will not wait for."
    for n in range(1, 40)
)


@pytest.mark.model
@pytest.mark.parametrize("how", ["close", "abort"])
async def test_disconnect_mid_response_releases_everything(real_engines, tmp_path, how):
    """The client goes away (a close frame, or the TCP connection just dropped) while Piper
    audio streams: every task and thread of the session ends, the TTS generator is closed
    before it finished, and the scheduler holds no work of the session."""
    tts = RecordingTTS(real_engines.tts, asyncio.get_running_loop())
    async with gateway(replace(real_engines, tts=tts), tmp_path) as gw:
        # a first, complete session: lazily created threads and tasks exist from here on
        async with gw.connect() as ws:
            client = Client(ws)
            await client.send({"type": "response.create", "response": {"instructions": "Hi."}})
            assert (await client.until_type("response.done")).response.status == "completed"
        await asyncio.wait_for(tts.closed.wait(), EVENT_TIMEOUT)
        tts.closed.clear()
        tasks = set(asyncio.all_tasks())
        threads = set(threading.enumerate())
        pool = gw.app[INFERENCE]

        async with gw.connect() as ws:
            client = Client(ws)
            await client.until_type("session.created")
            await client.send(
                {"type": "response.create", "response": {"instructions": LONG_SPEECH}}
            )
            await client.until_type("response.output_audio.delta")  # speech is streaming
            runners = [r for r in transport_runners(gw.app) if r is not None]
            assert len(runners) == 1
            runner = runners[0]
            if how == "abort":
                ws.transport.abort()
            else:
                await ws.close()
        await asyncio.wait_for(tts.closed.wait(), EVENT_TIMEOUT)
        assert tts.ended[-1] == "closed"  # stopped between chunks, not run to the end
        left = await _settle(tasks, EVENT_TIMEOUT)
        assert not left, left
        assert await _join_new_threads(threads, EVENT_TIMEOUT) == []
        assert threading.active_count() == len(threads)
        assert runner._lane.closed and not runner._lane.running
        with pool._cond:
            assert not pool._queue  # nothing queued for the session (nor anyone else)
        assert not runner._output._speaking
        assert not transport_runners(gw.app)


def transport_runners(app: web.Application) -> list[SessionRunner | None]:
    """The runners of the app's open realtime connections."""
    return [connection.runner for connection in app[HOST].sessions.values()]


# --- 6. a full disk while an upload is stored -------------------------------------------


class _FullDisk:
    """Stands in for ``os`` in realtime.batch.files: the disk fills after ``room`` bytes.

    ``at="write"``: a write raises ENOSPC once ``room`` bytes were written (after writing
    what fits, like a real full disk); ``at="fsync"``: every write fits and fsync raises.
    """

    def __init__(self, room: int, at: str) -> None:
        self._room = room
        self._at = at
        self.hits = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def fdopen(self, fd: int, *args: Any, **kwargs: Any) -> Any:
        return _FillingFile(os.fdopen(fd, *args, **kwargs), self)

    def fsync(self, fd: int) -> None:
        if self._at == "fsync":
            self.hits += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        os.fsync(fd)

    def take(self, wanted: int) -> int:
        """How many of ``wanted`` bytes still fit."""
        if self._at != "write":
            return wanted
        fits = min(wanted, self._room)
        self._room -= fits
        return fits


class _FillingFile:
    def __init__(self, file: Any, disk: _FullDisk) -> None:
        self._file = file
        self._disk = disk

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)

    def write(self, data: bytes) -> int:
        fits = self._disk.take(len(data))
        self._file.write(data[:fits])
        if fits < len(data):
            self._disk.hits += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return fits


def _stored_files(data_dir: Path) -> list[Path]:
    """Regular files under the audio store (partial uploads included)."""
    audio = data_dir / "audio"
    return sorted(p for p in audio.rglob("*") if p.is_file()) if audio.exists() else []


async def _submit(gw: Gateway, body: bytes, name: str) -> tuple[int, dict[str, Any]]:
    import aiohttp

    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{gw.http}/submit",
            params={"filename": name},
            data=body,
            headers={"Authorization": gw.key},
        ) as response,
    ):
        return response.status, await response.json()


def _assert_insufficient_storage(status: int, body: dict[str, Any]) -> None:
    assert status == 507, body
    assert body["error"]["code"] == "insufficient_storage"
    assert body["error"]["type"] == "server_error"
    assert not INTERNALS.search(json.dumps(body)) and "Errno" not in body["error"]["message"]


async def _jobs(gw: Gateway) -> int:
    from realtime.batch.app_keys import JOB_STORE

    owner = next(iter(gw.app[KEYSTORE].list())).id
    total, _ = await asyncio.to_thread(gw.app[JOB_STORE].list, owner, limit=10, offset=0)
    return total


@pytest.mark.parametrize("at", ["write", "fsync"])
async def test_disk_full_while_storing_an_upload_is_507_and_leaves_nothing(
    testdata, tmp_path, monkeypatch, at
):
    """ENOSPC while the upload is written (or fsynced): HTTP 507 with the JSON error body,
    no job row, no partial file; once there is room the same upload is accepted."""
    from realtime.batch import files

    audio = (testdata / "openai-whisper/jfk.flac").read_bytes()  # 1.1 MB: two write batches
    disk = _FullDisk(room=300_000, at=at)
    async with gateway(FAKES, tmp_path) as gw:
        monkeypatch.setattr(files, "os", disk)
        status, body = await _submit(gw, audio, "jfk.flac")
        assert disk.hits == 1  # the fault struck
        _assert_insufficient_storage(status, body)
        assert await _jobs(gw) == 0
        assert _stored_files(tmp_path) == []
        monkeypatch.setattr(files, "os", os)
        status, body = await _submit(gw, audio, "jfk.flac")
        assert status == 200 and body["status"] == "submitted", body
        assert await _jobs(gw) == 1
        assert len(_stored_files(tmp_path)) == 1


@contextlib.contextmanager
def _small_filesystem(where: Path, size: str) -> Iterator[Path]:
    """A real tmpfs of ``size`` mounted at ``where`` (root only); skips when unavailable."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


async def test_a_real_full_filesystem_answers_507_and_frees_the_space(testdata, tmp_path):
    """The data directory on a real 1 MiB filesystem: a 6.5 MB upload gets 507 and leaves
    nothing behind, so a small upload right after it still fits."""
    with _small_filesystem(tmp_path / "disk", "1m") as data_dir:
        async with gateway(FAKES, data_dir) as gw:
            big = (testdata / "faster-whisper/physicsworks.wav").read_bytes()
            status, body = await _submit(gw, big, "physicsworks.wav")
            _assert_insufficient_storage(status, body)
            assert await _jobs(gw) == 0
            assert _stored_files(data_dir) == []
            small = (testdata / CLIP_B).read_bytes()
            status, body = await _submit(gw, small, "clip.wav")
            assert status == 200, body
            assert await _jobs(gw) == 1


# --- 4. SIGTERM ---------------------------------------------------------------------------


def _serve(data_dir: Path) -> tuple[subprocess.Popen[str], str, str]:
    """Start ``voxgate serve`` (tiny.en for every transcript, to keep the batch job short)
    on a free port; return the process, its URL and the API key it printed or ""."""
    proc = serving.start(data_dir, "--asr-final-model", "tiny.en")
    url, lines = serving.read_until_listening(proc)
    return proc, url, serving.api_key(lines) or ""


def _refused(url: str) -> bool:
    """True when the server no longer accepts on its port.

    Refused (the listening socket is closed), or reset (it closed while this connection
    waited in its accept queue: the kernel resets queued connections).
    """
    import socket

    host, port = url.removeprefix("http://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except (ConnectionRefusedError, ConnectionResetError):
        return True
    return False


@pytest.mark.model
async def test_sigterm_drains_responses_closes_1012_and_requeues_claimed_jobs(testdata, tmp_path):
    """SIGTERM while a batch job is processing and a response is speaking: the port stops
    accepting, the response finishes, the session closes with 1012, the process exits 0,
    and the job goes back to the queue unspent; the next ``serve`` completes it."""
    from realtime.batch.store import JobStatus
    from realtime.batch.store_sqlite import SQLiteJobStore

    proc, url, key = _serve(tmp_path)
    try:
        response = await asyncio.to_thread(
            requests.post,
            f"{url}/submit",
            headers={"Authorization": key},
            params={"filename": "physicsworks.wav"},
            data=(testdata / "faster-whisper/physicsworks.wav").read_bytes(),
            timeout=60,
        )
        assert response.status_code == 200, response.text
        job_id = response.json()["id"]
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + 120
        while not seen or seen[-1]["status"] == "submitted":  # held until it changes
            assert time.monotonic() < deadline, seen[-1:]
            reply = await asyncio.to_thread(
                requests.get,
                f"{url}/transcriptions/{job_id}",
                headers={"Authorization": key},
                params={"wait": 30},
                timeout=60,
            )
            seen.append(reply.json())
        assert seen[-1]["status"] == "processing", seen[-1]

        gw = Gateway(web.Application(), url, key)
        async with gw.connect() as ws:
            client = Client(ws)
            await client.until_type("session.created")
            speech = {"voxgate": {"say": SAY + " " + SAY}}  # seconds of speech: within grace
            await client.send({"type": "response.create", "response": speech})
            await client.until_type("response.output_audio.delta")  # a response in progress
            proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 60
            while not await asyncio.to_thread(_refused, url):  # until shutdown has begun
                assert time.monotonic() < deadline, "the port kept accepting after SIGTERM"
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    await client.next()
        assert ws.close_code == 1012, (ws.close_code, ws.close_reason)
        done = [e for e in client.events if e.type == "response.done"]
        deltas = sum(e.type == "response.output_audio.delta" for e in client.events)
        assert [d.response.status for d in done] == ["completed"], deltas  # grace period
        assert await asyncio.to_thread(proc.wait, 120) == 0
    finally:
        proc.kill()
        proc.wait()

    requeued = SQLiteJobStore(tmp_path / "voxgate.db").get(job_id, owner=None)
    assert requeued.status is JobStatus.SUBMITTED and requeued.attempts == 0, requeued

    proc, url, _ = _serve(tmp_path)
    try:
        result, _ = await asyncio.to_thread(wait_for_job, url, key, job_id, timeout=280)
        assert result["status"] == "completed", result.get("error_message")
        text = spoken_text(result["text"]).lower()
        for word in ("mechanical energy", "pendulum", "kilogram"):
            assert word in text, text[:500]
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 120) == 0
    finally:
        proc.kill()
        proc.wait()
    finished = SQLiteJobStore(tmp_path / "voxgate.db").get(job_id, owner=None)
    assert finished.attempts == 1  # the interrupted claim was given back, not spent
