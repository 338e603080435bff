"""Load drivers shared by ``bench/load.py`` and ``tests/realtime/test_load.py``.

Everything runs on the caller's event loop against a voxgate served in this process on the
loopback interface (:func:`serve`), over real sockets.

* :func:`realtime_load`: rounds of concurrent realtime sessions. Each session
  (:func:`realtime_session`) connects with the official ``openai`` SDK (GA dialect), sends
  ``session.update`` (``server_vad`` without automatic responses, input transcription in
  English), waits for ``session.updated``, appends its :class:`Script` (real clips as pcm16
  24 kHz with silent gaps, then a silent tail) in ``chunk_ms`` chunks paced by the wall
  clock (real time), waits (bounded) until the server's VAD has closed the turn at the end
  of the audio and every turn has its final transcript, then closes with 1000 and checks
  the server answered 1000 too.
* :func:`batch_burst`: ``n`` concurrent ``POST /submit`` (``cache=false``: every job is
  really decoded) of real files, then long-polls ``GET /transcriptions/{id}?wait=30`` until
  each job completes or fails (bounded).
* :class:`Baseline`: tasks and threads of the process; :meth:`Baseline.settle` joins the
  threads and awaits the tasks born since the snapshot (bounded), then counts again.
* :func:`fill_default_executor`: the loop's default executor with all its threads started,
  so that its lazily started threads do not read as growth.

Anything that goes wrong is an entry of the ``errors`` list of the result (never raised),
so a run reports every failure of every session and job. Needs the dev extras (``openai``,
``jiwer``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from aiohttp import web
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK

from engines.audio import load_pcm, resample
from engines.base import SAMPLE_RATE, Engines
from realtime.auth.middleware import KEYSTORE
from realtime.server.app import create_app
from realtime.server.settings import Settings
from testkit.wer import wer

IN_RATE = 24_000  # pcm16 24 kHz, the Realtime API's default input format
BYTES_PER_MS = IN_RATE * 2 // 1000
SILENCE_MS = 500  # server_vad silence_duration_ms
GAP_S = 0.8  # silence between two clips of a script: longer than SILENCE_MS, a new turn
TAIL_S = 1.5  # silence after a script, so the VAD ends its last turn
END_SLACK_MS = 1500  # the last speech_stopped may come this much before the audio's end
CONNECT_TIMEOUT_S = 60.0
CLOSE_TIMEOUT_S = 30.0
KERNEL_THREAD_POLL_S = 0.02  # see Baseline.settle

# Human-transcribed clips (MANIFEST.md of the test data), with their reference texts.
CLIPS = (
    "openai-whisper/jfk.flac",
    "pocketsphinx/sense_and_sensibility_01_austen_64kb-0870.wav",
    "pocketsphinx/sense_and_sensibility_01_austen_64kb-0880.wav",
    "pocketsphinx/sense_and_sensibility_01_austen_64kb-0890.wav",
    "deepspeech/LDC93S1.wav",
    "deepspeech/new-home-in-the-stars-16k.wav",
    "pyroomacoustics/cmu_arctic_us_aew_a0001.wav",
    "pyroomacoustics/cmu_arctic_us_axb_a0004.wav",
)
SHORT_CLIPS = CLIPS[2:]  # 2.8–5.3 s each


# --- server ---------------------------------------------------------------------------------


@dataclass
class Server:
    """A voxgate served in this process.

    Attributes:
        url: ``http://127.0.0.1:PORT``.
        key: An API key it accepts.
        app: The application.
    """

    url: str
    key: str
    app: web.Application

    def client(self) -> Any:
        """A new ``openai.AsyncOpenAI`` for this server (no retries); close it after use."""
        from openai import AsyncOpenAI

        return AsyncOpenAI(
            base_url=f"{self.url}/v1",
            websocket_base_url=self.url.replace("http", "ws", 1) + "/v1",
            api_key=self.key,
            max_retries=0,
        )


@asynccontextmanager
async def serve(engines: Engines, **settings: Any) -> AsyncIterator[Server]:
    """Run voxgate on 127.0.0.1, a free port; data in a temporary folder, removed after.

    Args:
        engines: Loaded engines (not loaded again).
        **settings: :class:`~realtime.server.settings.Settings` fields (``data_dir`` is set here).
    """
    data = tempfile.mkdtemp(prefix="voxgate-load-")
    app = create_app(Settings(data_dir=Path(data), **settings), engines=engines)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        key = app[KEYSTORE].create("load")[1]
        yield Server(f"http://127.0.0.1:{port}", key, app)
    finally:
        await runner.cleanup()
        shutil.rmtree(data, ignore_errors=True)


# --- audio ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    """A test recording with its reference transcript.

    Attributes:
        name: The file's path relative to the test data folder.
        data: The file's bytes, as a batch client uploads them.
        pcm: The audio as mono int16 at 16 kHz.
        reference: The human reference transcript (``NAME.txt`` beside the audio).
    """

    name: str
    data: bytes
    pcm: np.ndarray
    reference: str

    @property
    def duration(self) -> float:
        """Seconds of audio."""
        return len(self.pcm) / SAMPLE_RATE


def load_clips(testdata: Path, names: Iterable[str] = CLIPS) -> list[Clip]:
    """Read clips and their ``.txt`` references from the test data folder."""
    clips = []
    for name in names:
        path = testdata / name
        reference = path.with_suffix(".txt").read_text().strip()
        clips.append(Clip(name, path.read_bytes(), load_pcm(path), reference))
    return clips


@dataclass(frozen=True)
class Script:
    """What one realtime session says: clips joined by silent gaps, then a silent tail.

    Attributes:
        names: The clips, in order.
        payload: pcm16 mono 24 kHz, gaps and tail included.
        speech_s: Seconds from the start to the end of the last clip (without the tail).
        reference: The clips' references joined by spaces.
    """

    names: tuple[str, ...]
    payload: bytes
    speech_s: float
    reference: str


def build_scripts(clips: Sequence[Clip], target_s: float) -> list[Script]:
    """One script per clip: starting there, following clips while it nears ``target_s``.

    A clip (and the gap before it) is added while the total gets closer to ``target_s``,
    so scripts last about ``target_s`` (a single clip longer than it stays whole).
    """
    scripts = []
    gap = np.zeros(int(GAP_S * IN_RATE), np.int16)
    for start in range(len(clips)):
        chosen = [clips[start]]
        total = clips[start].duration
        for k in range(1, len(clips)):
            nxt = clips[(start + k) % len(clips)]
            if abs(total + GAP_S + nxt.duration - target_s) >= abs(total - target_s):
                break
            chosen.append(nxt)
            total += GAP_S + nxt.duration
        parts: list[np.ndarray] = []
        for i, clip in enumerate(chosen):
            if i:
                parts.append(gap)
            parts.append(resample(clip.pcm, SAMPLE_RATE, IN_RATE))
        speech = np.concatenate(parts)
        tail = np.zeros(int(TAIL_S * IN_RATE), np.int16)
        scripts.append(
            Script(
                tuple(c.name for c in chosen),
                np.concatenate([speech, tail]).tobytes(),
                len(speech) / IN_RATE,
                " ".join(c.reference for c in chosen),
            )
        )
    return scripts


# --- realtime -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TurnOutcome:
    """One turn of a session, as the server's events described it.

    Attributes:
        audio_start_ms: ``speech_started.audio_start_ms`` (session-cumulative; None: not seen).
        audio_end_ms: ``speech_stopped.audio_end_ms`` (includes the VAD's silence; None: not seen).
        transcript: The ``…transcription.completed`` transcript (None: no final).
        final_s: ``speech_stopped`` → ``completed`` arrival (None: either is missing).
    """

    audio_start_ms: int | None
    audio_end_ms: int | None
    transcript: str | None
    final_s: float | None


@dataclass
class SessionOutcome:
    """What one realtime session saw.

    Attributes:
        script: The audio it sent.
        connect_s: Connect started → ``session.created`` arrived (None: never).
        finals_s: Per turn, ``speech_stopped`` → ``…transcription.completed`` arrival.
        transcripts: The completed transcripts, in turn order.
        turns: Every turn, in the order speech started (item order).
        sender_late_s: Per chunk, how late it was sent against the real-time schedule.
        errors: Everything that went wrong (error events, failed or missing transcripts,
            an unexpected close, exceptions).
    """

    script: Script
    connect_s: float | None = None
    finals_s: list[float] = field(default_factory=list)
    transcripts: list[str] = field(default_factory=list)
    turns: list[TurnOutcome] = field(default_factory=list)
    sender_late_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The session's completed transcripts joined by spaces."""
        return " ".join(t.strip() for t in self.transcripts if t.strip())


@dataclass
class _Turn:
    audio_start_ms: int | None = None
    stopped: float | None = None
    audio_end_ms: int | None = None
    committed: bool = False
    done: float | None = None
    transcript: str = ""


class _Events:
    """Reads every server event of one connection, time-stamps it, keeps what we measure."""

    def __init__(self) -> None:
        self.created: float | None = None
        self.updated = False
        self.turns: dict[str, _Turn] = {}
        self.errors: list[str] = []
        self.closed: ConnectionClosed | None = None
        self.changed = asyncio.Event()

    async def receive(self, conn: Any) -> None:
        """Read until the connection closes; the close exception is kept in ``closed``."""
        try:
            while True:
                raw = await conn.recv_bytes()
                self.handle(json.loads(raw), time.perf_counter())
                self.changed.set()
        except ConnectionClosed as exc:
            self.closed = exc
            self.changed.set()

    def handle(self, event: dict[str, Any], now: float) -> None:
        kind = event["type"]
        item = event.get("item_id", "")
        if kind == "session.created":
            self.created = now
        elif kind == "session.updated":
            self.updated = True
        elif kind == "input_audio_buffer.speech_started":
            self.turns.setdefault(item, _Turn()).audio_start_ms = event.get("audio_start_ms")
        elif kind == "input_audio_buffer.speech_stopped":
            turn = self.turns.setdefault(item, _Turn())
            turn.stopped, turn.audio_end_ms = now, event.get("audio_end_ms")
        elif kind == "input_audio_buffer.committed":
            self.turns.setdefault(item, _Turn()).committed = True
        elif kind == "conversation.item.input_audio_transcription.completed":
            turn = self.turns.setdefault(item, _Turn())
            turn.done, turn.transcript = now, event.get("transcript") or ""
        elif kind == "conversation.item.input_audio_transcription.failed":
            self.turns.setdefault(item, _Turn()).done = now
            self.errors.append(f"transcription failed: {event.get('error')}")
        elif kind == "error":
            error = event.get("error") or {}
            self.errors.append(f"error event {error.get('code')}: {error.get('message')}")

    def finished(self, speech_ms: float) -> bool:
        """The turn at the end of the audio stopped, and every turn has its final."""
        reached_end = any(
            t.audio_end_ms is not None and t.audio_end_ms >= speech_ms - END_SLACK_MS
            for t in self.turns.values()
        )
        return reached_end and all(t.committed and t.done is not None for t in self.turns.values())

    async def wait(self, predicate: Callable[[], bool], within: float) -> bool:
        """Await ``predicate`` (re-checked on each event) for at most ``within`` seconds.

        Returns False on timeout or when the connection closed first.
        """
        deadline = time.perf_counter() + within
        while not predicate():
            if self.closed is not None:
                return False
            left = deadline - time.perf_counter()
            if left <= 0:
                return False
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)
        return True


def session_update(silence_ms: int = SILENCE_MS) -> dict[str, Any]:
    """The GA ``session.update`` body: server VAD without responses, English transcription."""
    return {
        "type": "realtime",
        "audio": {
            "input": {
                "transcription": {"model": "whisper-1", "language": "en"},
                "turn_detection": {
                    "type": "server_vad",
                    "silence_duration_ms": silence_ms,
                    "create_response": False,
                },
            }
        },
    }


async def send_paced(conn: Any, payload: bytes, chunk_ms: int) -> list[float]:
    """Append ``payload`` in real time; return each chunk's lateness (s).

    Chunk *k* is sent at ``start + (k + 1) · chunk_ms``, when its last sample would have
    been spoken.
    """
    step = BYTES_PER_MS * chunk_ms
    start = time.perf_counter()
    late = []
    for k, offset in enumerate(range(0, len(payload), step)):
        due = start + (k + 1) * chunk_ms / 1000
        if (delay := due - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        audio = base64.b64encode(payload[offset : offset + step]).decode()
        await conn.input_audio_buffer.append(audio=audio)
        late.append(max(0.0, time.perf_counter() - due))
    return late


async def realtime_session(
    server: Server,
    script: Script,
    *,
    chunk_ms: int = 100,
    settle_s: float = 120.0,
    start_delay: float = 0.0,
) -> SessionOutcome:
    """One session through the official SDK (see the module docstring); never raises.

    Args:
        server: The voxgate to talk to.
        script: The audio to send.
        chunk_ms: Milliseconds of audio per ``input_audio_buffer.append``, sent in real time.
        settle_s: Longest wait, after the last chunk, for the final transcripts.
        start_delay: Seconds to wait before connecting.
    """
    outcome = SessionOutcome(script)
    await asyncio.sleep(start_delay)
    client = server.client()
    events = _Events()
    closing = False  # True once this client sent its close frame
    try:
        start = time.perf_counter()
        async with client.realtime.connect(model="gpt-realtime") as conn:
            receiver = asyncio.create_task(events.receive(conn))
            try:
                await _converse(conn, events, outcome, start, chunk_ms, settle_s)
                if events.closed is None:
                    closing = True
                    await conn.close()  # code 1000
                    await asyncio.wait_for(asyncio.shield(receiver), CLOSE_TIMEOUT_S)
            finally:
                receiver.cancel()
                await asyncio.gather(receiver, return_exceptions=True)
    except Exception as exc:  # reported, so one session's failure does not hide the others'
        outcome.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        await client.close()
    outcome.errors[:0] = events.errors
    if events.closed is not None:
        code = events.closed.rcvd.code if events.closed.rcvd else None
        if not closing:
            outcome.errors.append(f"the server closed the connection first (code {code})")
        elif not isinstance(events.closed, ConnectionClosedOK):
            outcome.errors.append(f"connection closed with code {code}")
    if not outcome.text and not outcome.errors:
        outcome.errors.append(f"no transcript for {'+'.join(script.names)}")
    return outcome


async def _converse(
    conn: Any,
    events: _Events,
    outcome: SessionOutcome,
    start: float,
    chunk_ms: int,
    settle_s: float,
) -> None:
    """Configure, stream the script, await the finals; fill ``outcome``."""
    script = outcome.script
    if not await events.wait(lambda: events.created is not None, CONNECT_TIMEOUT_S):
        outcome.errors.append("no session.created")
        return
    assert events.created is not None
    outcome.connect_s = events.created - start
    await conn.session.update(session=session_update())
    if not await events.wait(lambda: events.updated, CONNECT_TIMEOUT_S):
        outcome.errors.append("no session.updated")
        return
    outcome.sender_late_s = await send_paced(conn, script.payload, chunk_ms)
    speech_ms = script.speech_s * 1000
    if not await events.wait(lambda: events.finished(speech_ms), settle_s):
        outcome.errors.append(
            f"the transcripts of {'+'.join(script.names)} were not all final "
            f"{settle_s:g} s after the audio ended"
        )
    for turn in events.turns.values():
        final_s = None
        if turn.stopped is not None and turn.done is not None:
            final_s = turn.done - turn.stopped
            outcome.finals_s.append(final_s)
        if turn.done is not None:
            outcome.transcripts.append(turn.transcript)
        transcript = turn.transcript if turn.done is not None else None
        outcome.turns.append(
            TurnOutcome(turn.audio_start_ms, turn.audio_end_ms, transcript, final_s)
        )


@dataclass
class RealtimeRun:
    """Every session of :func:`realtime_load`, pooled.

    Attributes:
        outcomes: One per session and round.
        wall_s: Seconds from the first connect to the last session's end.
    """

    outcomes: list[SessionOutcome] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def errors(self) -> list[str]:
        """Every session's errors."""
        return [e for o in self.outcomes for e in o.errors]

    @property
    def connect_s(self) -> list[float]:
        """``SessionOutcome.connect_s`` of every session that connected."""
        return [o.connect_s for o in self.outcomes if o.connect_s is not None]

    @property
    def finals_s(self) -> list[float]:
        """``SessionOutcome.finals_s`` of every session, pooled."""
        return [v for o in self.outcomes for v in o.finals_s]

    @property
    def sender_late_s(self) -> list[float]:
        """``SessionOutcome.sender_late_s`` of every session, pooled."""
        return [v for o in self.outcomes for v in o.sender_late_s]


async def realtime_load(
    server: Server,
    scripts: Sequence[Script],
    sessions: int,
    rounds: int = 1,
    *,
    chunk_ms: int = 100,
    spread_s: float = 1.0,
    settle_s: float = 120.0,
) -> RealtimeRun:
    """``rounds`` times, ``sessions`` sessions at once; a round starts when the last ended.

    Session ``i`` of round ``r`` plays ``scripts[(i + r) % len(scripts)]`` and connects
    ``spread_s · i / sessions`` seconds into the round (all are open together).
    """
    run = RealtimeRun()
    start = time.perf_counter()
    for r in range(rounds):
        outcomes = await asyncio.gather(
            *(
                realtime_session(
                    server,
                    scripts[(i + r) % len(scripts)],
                    chunk_ms=chunk_ms,
                    settle_s=settle_s,
                    start_delay=spread_s * i / sessions,
                )
                for i in range(sessions)
            )
        )
        run.outcomes += outcomes
    run.wall_s = time.perf_counter() - start
    return run


# --- batch ----------------------------------------------------------------------------------


@dataclass
class JobOutcome:
    """One batch job of :func:`batch_burst`.

    Attributes:
        clip: The uploaded clip.
        submit_s: ``POST /submit`` sent → its response read (None: no response).
        completed_s: ``POST /submit`` sent → the ``completed`` job read (None: never).
        text: The job's transcript (its segments' words, no speaker labels).
        errors: What went wrong (non-2xx, a failed job, an empty transcript, a timeout).
    """

    clip: Clip
    submit_s: float | None = None
    completed_s: float | None = None
    text: str = ""
    errors: list[str] = field(default_factory=list)


@dataclass
class BatchRun:
    """Every job of :func:`batch_burst`.

    Attributes:
        jobs: One per submit.
        wall_s: Seconds from the burst to the last job's end.
    """

    jobs: list[JobOutcome] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def errors(self) -> list[str]:
        """Every job's errors."""
        return [e for j in self.jobs for e in j.errors]

    @property
    def submit_s(self) -> list[float]:
        """``JobOutcome.submit_s`` of every job that got a response."""
        return [j.submit_s for j in self.jobs if j.submit_s is not None]

    @property
    def completed_s(self) -> list[float]:
        """``JobOutcome.completed_s`` of every job that completed."""
        return [j.completed_s for j in self.jobs if j.completed_s is not None]


def job_words(job: dict[str, Any]) -> str:
    """A completed job's words: its segments' texts (``text`` has ``SPEAKER_N:`` labels)."""
    segments = job.get("segments") or []
    return " ".join(str(seg.get("text") or "").strip() for seg in segments).strip()


async def _one_job(
    http: aiohttp.ClientSession, server: Server, clip: Clip, deadline: float
) -> JobOutcome:
    outcome = JobOutcome(clip)
    headers = {"Authorization": server.key}
    params = {"cache": "false", "filename": Path(clip.name).name}
    try:
        start = time.perf_counter()
        async with http.post(
            f"{server.url}/submit", data=clip.data, params=params, headers=headers
        ) as r:
            body = await r.json(content_type=None)
            outcome.submit_s = time.perf_counter() - start
            if r.status // 100 != 2:
                outcome.errors.append(f"/submit answered {r.status}: {body}")
                return outcome
        url = f"{server.url}/transcriptions/{body['id']}"
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                outcome.errors.append(f"job {body['id']} ({clip.name}) not done in time")
                return outcome
            wait = str(max(1, min(30, int(left))))
            async with http.get(url, params={"wait": wait}, headers=headers) as r:
                job = await r.json(content_type=None)
                if r.status // 100 != 2:
                    outcome.errors.append(f"GET {url} answered {r.status}: {job}")
                    return outcome
            if job["status"] == "completed":
                outcome.completed_s = time.perf_counter() - start
                outcome.text = job_words(job)
                if not outcome.text:
                    outcome.errors.append(f"job {job['id']} ({clip.name}): empty transcript")
                return outcome
            if job["status"] not in ("submitted", "processing"):
                outcome.errors.append(
                    f"job {job['id']} ({clip.name}): {job['status']} {job.get('error_message')}"
                )
                return outcome
    except Exception as exc:  # reported, so one job's failure does not hide the others'
        outcome.errors.append(f"{type(exc).__name__}: {exc}")
    return outcome


async def batch_burst(
    server: Server, clips: Sequence[Clip], n: int, *, within_s: float
) -> BatchRun:
    """Submit ``n`` jobs at once (clip ``i % len(clips)``), await all (``within_s`` bound).

    The client opens a connection per request (no pool limit), so the server sees the
    whole burst, and closes them all before returning.
    """
    run = BatchRun()
    deadline = time.perf_counter() + within_s
    start = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        run.jobs = list(
            await asyncio.gather(
                *(_one_job(http, server, clips[i % len(clips)], deadline) for i in range(n))
            )
        )
    run.wall_s = time.perf_counter() - start
    return run


# --- tasks and threads ----------------------------------------------------------------------


def os_threads() -> int:
    """The process's threads as the kernel counts them (native pools included)."""
    try:
        return sum(1 for _ in Path("/proc/self/task").iterdir())
    except OSError:
        return threading.active_count()


@dataclass(frozen=True)
class Counts:
    """Tasks and threads at one moment.

    Attributes:
        tasks: Unfinished asyncio tasks of the running loop, the caller's excluded.
        threads: Python threads alive.
        os_threads: Kernel threads of the process.
    """

    tasks: int
    threads: int
    os_threads: int


class Baseline:
    """The tasks and threads of the process at construction (call it on the event loop).

    Compare after a load run with :meth:`settle`. Take it after a warm-up, once the
    warm-up's own tasks ended (:meth:`settle_tasks` of a snapshot taken before it): pools
    that start their threads on first use (the batch worker's, the loop's default executor:
    see :func:`fill_default_executor`) must already have them.
    """

    def __init__(self) -> None:
        me = asyncio.current_task()
        self._tasks = {t for t in asyncio.all_tasks() if t is not me}
        self._threads = set(threading.enumerate())
        self.counts = Counts(len(self._tasks), len(self._threads), os_threads())

    def new_tasks(self) -> set[asyncio.Task[Any]]:
        """Unfinished tasks that were not there at the snapshot (the caller's excluded)."""
        me = asyncio.current_task()
        return {t for t in asyncio.all_tasks() if t is not me and t not in self._tasks}

    def new_threads(self) -> list[threading.Thread]:
        """Live Python threads that were not there at the snapshot."""
        return [t for t in threading.enumerate() if t not in self._threads]

    async def settle_tasks(self, within_s: float = 30.0) -> tuple[int, list[str]]:
        """Await a moment when no task born since the snapshot is alive (``within_s`` bound).

        Short-lived tasks come and go while a server idles (on Python 3.11 each
        ``asyncio.wait_for``, such as the batch worker's idle poll, runs its awaitable as a
        task), so this awaits the new tasks until none is left, not until none is born; a
        task that never ends keeps it waiting until the bound. Returns the number of tasks
        alive at that moment (the caller's excluded) and a description of each new task
        still alive at the bound.
        """
        deadline = time.perf_counter() + within_s
        while (tasks := self.new_tasks()) and (left := deadline - time.perf_counter()) > 0:
            await asyncio.wait(tasks, timeout=left)
        me = asyncio.current_task()
        count = sum(t is not me for t in asyncio.all_tasks())
        return count, [f"task {t.get_name()}: {t.get_coro()!r}" for t in self.new_tasks()]

    async def settle(self, within_s: float = 30.0) -> tuple[Counts, list[str]]:
        """Join the threads and await the tasks born since the snapshot, then count.

        Waits at most ``within_s`` seconds in all (for the kernel's thread count too, which
        lags a joined thread briefly). Returns the counts (tasks as :meth:`settle_tasks`
        counts them) and a description of each task or Python thread still alive that was
        not there at the snapshot.
        """
        deadline = time.perf_counter() + within_s
        if threads := self.new_threads():
            await asyncio.to_thread(_join_all, threads, deadline)
        # A joined thread leaves /proc/self/task a moment later and nothing signals it, so
        # this condition is polled (only while it does not hold yet, up to the deadline).
        while os_threads() > self.counts.os_threads and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(KERNEL_THREAD_POLL_S)
        tasks, leftovers = await self.settle_tasks(max(0.0, deadline - time.perf_counter()))
        counts = Counts(tasks, threading.active_count(), os_threads())
        leftovers += [f"thread {t.name}" for t in self.new_threads()]
        return counts, leftovers


def _join_all(threads: list[threading.Thread], deadline: float) -> None:
    for thread in threads:
        thread.join(max(0.0, deadline - time.perf_counter()))


async def fill_default_executor(workers: int | None = None) -> int:
    """Give the running loop a default executor with all its threads started; return how many.

    ``asyncio.to_thread`` and ``run_in_executor(None, …)`` start the executor's threads one
    by one as concurrent calls first need them, and keep them, so a load run would grow the
    thread count once and for all. Starting every thread before the baseline makes growth
    mean a leak. Call it before anything uses the default executor.
    """
    loop = asyncio.get_running_loop()
    workers = workers or min(32, (os.cpu_count() or 1) + 4)  # ThreadPoolExecutor's default
    executor = ThreadPoolExecutor(workers, thread_name_prefix="asyncio-default")
    loop.set_default_executor(executor)
    barrier = threading.Barrier(workers)
    await asyncio.gather(*(loop.run_in_executor(None, barrier.wait, 60) for _ in range(workers)))
    return workers


# --- summaries ------------------------------------------------------------------------------


def corpus_wer(pairs: Iterable[tuple[str, str]]) -> float:
    """Word error rate of (reference, hypothesis) pairs pooled (the tests' normalisation)."""
    pairs = list(pairs)
    if not pairs:
        return float("nan")
    refs, hyps = zip(*pairs, strict=True)
    return wer(list(refs), list(hyps))


def realtime_pairs(run: RealtimeRun) -> list[tuple[str, str]]:
    """(reference, transcript) of every session."""
    return [(o.script.reference, o.text) for o in run.outcomes]


def batch_pairs(run: BatchRun) -> list[tuple[str, str]]:
    """(reference, transcript) of every completed job."""
    return [(j.clip.reference, j.text) for j in run.jobs if j.completed_s is not None]
