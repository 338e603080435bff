"""Shared by the server benchmarks: an in-process voxgate, clips, one paced realtime session.

The in-process server and the clip list are :mod:`testkit.loadgen`'s, shared with the tests.

A session (:func:`run_session`) connects with the official ``openai`` SDK, turns on
``server_vad`` (no automatic responses) and, clip after clip, appends pcm16 24 kHz audio in
``chunk_ms`` chunks paced by the wall clock: chunk *k* is sent at ``start + (k + 1) ·
chunk_ms``, the moment its last sample would have been spoken. After each clip (and its
trailing silence) it waits until every committed turn has its final transcript, then, if
asked, sends ``response.create`` with instructions, waits for the first audio delta and
cancels the rest. Every server event is time-stamped on arrival (``time.perf_counter``).

Per turn (item) it measures:

(a) ``input_audio_buffer.speech_stopped`` → ``conversation.item.input_audio_transcription.completed``;
(b) ``input_audio_buffer.speech_started`` → the turn's first ``…transcription.delta``;
(c) per word: the time the chunk holding the word's end was sent → arrival of the delta that
    completes the word. Word ends come from a one-shot Whisper pass (the server's final
    model, word timestamps) over the clip before the run; the words of the deltas are matched
    to those words in order (``difflib``, normalised text), unmatched words are left out;
(d) ``response.create`` sent → first ``response.output_audio.delta``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

import numpy as np

from bench import report
from engines.audio import load_pcm, resample
from engines.base import SAMPLE_RATE, ASROptions, Engines
from testkit import loadgen
from testkit.paths import TESTDATA

IN_RATE = 24_000
BYTES_PER_MS = IN_RATE * 2 // 1000
TAIL_S = 1.5  # silence after each clip: server_vad needs it to see the end of speech
SILENCE_MS = 500  # server_vad silence_duration_ms (the API's documented default)
SETTLE_TIMEOUT_S = 60.0  # longest wait for a clip's final transcripts after its audio
RESPONSE_TIMEOUT_S = 30.0
RESPONSE_TEXT = "Sure, I can help with that. Your order will arrive on Tuesday afternoon."

# Human-transcribed clips of up to 15 s (MANIFEST.md of the test data): the load test's.
CLIPS = (*loadgen.CLIPS, "mfa/mfa_breaths.flac")
WARMUP_CLIP = "pyroomacoustics/cmu_arctic_us_axb_a0004.wav"


# --- clips ----------------------------------------------------------------------------------


def norm(word: str) -> str:
    """A word for matching: lower case, letters, digits and apostrophes only."""
    return re.sub(r"[^a-z0-9']", "", word.lower())


@dataclass(frozen=True)
class Clip:
    """A recording ready to stream, with its word end times.

    Attributes:
        name: The file's stem.
        payload: pcm16 24 kHz mono, :data:`TAIL_S` of silence appended.
        duration: Seconds of the recording (without the tail).
        words: (normalised word, end in s) from a one-shot Whisper pass.
    """

    name: str
    payload: bytes
    duration: float
    words: tuple[tuple[str, float], ...]


def load_clip(relative: str, engines: Engines) -> Clip:
    """Read a test clip, find its word end times with the final ASR model."""
    pcm = load_pcm(TESTDATA / relative)
    transcript = engines.asr.transcribe(pcm, ASROptions(language="en", word_timestamps=True))
    words = tuple((norm(w.text), w.end) for w in transcript.words if norm(w.text))
    audio = np.concatenate([resample(pcm, SAMPLE_RATE, IN_RATE), np.zeros(int(IN_RATE * TAIL_S), np.int16)])  # fmt: skip
    return Clip(Path(relative).stem, audio.tobytes(), len(pcm) / SAMPLE_RATE, words)


def load_clips(names: Iterable[str], engines: Engines) -> list[Clip]:
    names = list(names)
    report.progress(f"reading {len(names)} clips; word end times from a Whisper pass")
    return [load_clip(name, engines) for name in names]


# --- server ---------------------------------------------------------------------------------


# The in-process server is the load test's (one definition for benches and tests).
Server = loadgen.Server
serve = loadgen.serve


# --- the process ----------------------------------------------------------------------------


def memory_mib() -> tuple[float, float]:
    """This process's resident memory now and at its peak (VmRSS, VmHWM), MiB."""
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return found.get("VmRSS", float("nan")), found.get("VmHWM", float("nan"))


def cpu_seconds() -> float:
    """CPU seconds used by this process so far (all threads, user + system)."""
    times = os.times()
    return times.user + times.system


class MemorySampler:
    """Samples VmRSS every ``every`` s while active; ``peak`` is the largest seen."""

    def __init__(self, every: float = 0.2) -> None:
        self.every = every
        self.peak = memory_mib()[0]
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, memory_mib()[0])
            await asyncio.sleep(self.every)

    async def __aenter__(self) -> MemorySampler:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self.peak = max(self.peak, memory_mib()[0])


# --- one session ----------------------------------------------------------------------------


@dataclass
class SessionResult:
    """What one session measured (seconds), pooled over its clips."""

    final: list[float] = field(default_factory=list)
    first_partial: list[float] = field(default_factory=list)
    word_lags: list[float] = field(default_factory=list)
    response: list[float] = field(default_factory=list)
    sender_late: list[float] = field(default_factory=list)
    turns: int = 0
    missing_finals: int = 0
    clips_without_turns: int = 0
    words_ref: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: SessionResult) -> None:
        for name in ("final", "first_partial", "word_lags", "response", "sender_late", "errors"):
            getattr(self, name).extend(getattr(other, name))
        self.turns += other.turns
        self.missing_finals += other.missing_finals
        self.clips_without_turns += other.clips_without_turns
        self.words_ref += other.words_ref


@dataclass
class _Turn:
    started: float
    stopped: float | None = None
    committed: bool = False
    done: float | None = None  # completed (or failed) arrival
    deltas: list[tuple[float, str]] = field(default_factory=list)


class _Tracker:
    """Reads every server event, time-stamps it and keeps per-turn state."""

    def __init__(self) -> None:
        self.turns: dict[str, _Turn] = {}
        self.errors: list[str] = []
        self.first_audio: float | None = None
        self.response_done = False
        self.changed = asyncio.Event()

    async def receive(self, conn: Any) -> None:
        while True:
            raw = await conn.recv_bytes()
            now = time.perf_counter()
            self.handle(json.loads(raw), now)
            self.changed.set()

    def handle(self, event: dict[str, Any], now: float) -> None:
        kind = event["type"]
        item = event.get("item_id", "")
        if kind == "input_audio_buffer.speech_started":
            self.turns[item] = _Turn(now)
        elif kind == "input_audio_buffer.speech_stopped" and item in self.turns:
            self.turns[item].stopped = now
        elif kind == "input_audio_buffer.committed" and item in self.turns:
            self.turns[item].committed = True
        elif kind == "conversation.item.input_audio_transcription.delta" and item in self.turns:
            self.turns[item].deltas.append((now, event.get("delta") or ""))
        elif kind in (
            "conversation.item.input_audio_transcription.completed",
            "conversation.item.input_audio_transcription.failed",
        ) and item in self.turns:  # fmt: skip
            self.turns[item].done = now
            if kind.endswith("failed"):
                self.errors.append(f"transcription failed: {event.get('error')}")
        elif kind == "response.output_audio.delta" and self.first_audio is None:
            self.first_audio = now
        elif kind == "response.done":
            self.response_done = True
        elif kind == "error":
            error = event.get("error") or {}
            if error.get("code") != "response_cancel_not_active":
                self.errors.append(f"{error.get('code')}: {error.get('message')}")

    @property
    def settled(self) -> bool:
        return all(t.committed and t.done is not None for t in self.turns.values())

    async def wait(self, predicate: Callable[[], bool], within: float) -> bool:
        deadline = time.perf_counter() + within
        while not predicate():
            left = deadline - time.perf_counter()
            if left <= 0:
                return False
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                return predicate()
        return True


async def send_paced(conn: Any, payload: bytes, chunk_ms: int) -> tuple[list[float], list[float]]:
    """Append ``payload`` at real-time pace; return each chunk's send time and lateness (s)."""
    step = BYTES_PER_MS * chunk_ms
    start = time.perf_counter()
    sent, late = [], []
    for k, offset in enumerate(range(0, len(payload), step)):
        due = start + (k + 1) * chunk_ms / 1000
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        audio = base64.b64encode(payload[offset : offset + step]).decode()
        await conn.input_audio_buffer.append(audio=audio)
        now = time.perf_counter()
        sent.append(now)
        late.append(max(0.0, now - due))
    return sent, late


def word_lags(clip: Clip, turns: list[_Turn], sent: list[float], chunk_ms: int) -> list[float]:
    """Lag of each delta word matched to a word of the clip: arrival − send of its end."""
    text, times = [], []
    for turn in turns:
        for at, delta in turn.deltas:
            text.append(delta)
            times.extend([at] * len(delta))
        text.append(" ")
        times.append(0.0)
    joined = "".join(text)
    hyp = [
        (norm(m.group()), times[m.end() - 1]) for m in re.finditer(r"\S+", joined) if norm(m.group())
    ]  # fmt: skip
    ref = clip.words
    matcher = SequenceMatcher(None, [w for w, _ in ref], [w for w, _ in hyp], autojunk=False)
    lags = []
    for a, b, size in matcher.get_matching_blocks():
        for j in range(size):
            k = min(int(ref[a + j][1] * 1000 // chunk_ms), len(sent) - 1)
            lags.append(hyp[b + j][1] - sent[k])
    return lags


def _vad(silence_ms: int) -> dict[str, Any]:
    return {"type": "server_vad", "silence_duration_ms": silence_ms, "create_response": False}


async def run_session(
    server: Server,
    clips: list[Clip],
    *,
    chunk_ms: int = 40,
    silence_ms: int = SILENCE_MS,
    response_text: str | None = None,
    start_delay: float = 0.0,
) -> SessionResult:
    """One realtime session through the official SDK; see the module docstring."""
    result = SessionResult()
    await asyncio.sleep(start_delay)
    client = server.client()
    try:
        async with client.realtime.connect(model="gpt-realtime") as conn:
            tracker = _Tracker()
            receiver = asyncio.create_task(tracker.receive(conn))
            try:
                await conn.session.update(
                    session={
                        "type": "realtime",
                        "audio": {
                            "input": {
                                "transcription": {"model": "whisper-1"},
                                "turn_detection": _vad(silence_ms),
                            }
                        },
                    }
                )
                for clip in clips:
                    await _one_clip(conn, tracker, clip, chunk_ms, response_text, result)
                    if receiver.done():  # the connection broke
                        receiver.result()
            finally:
                receiver.cancel()
                await asyncio.gather(receiver, return_exceptions=True)
            result.errors += tracker.errors
    finally:
        await client.close()
    return result


async def _one_clip(
    conn: Any,
    tracker: _Tracker,
    clip: Clip,
    chunk_ms: int,
    response_text: str | None,
    result: SessionResult,
) -> None:
    before = set(tracker.turns)
    sent, late = await send_paced(conn, clip.payload, chunk_ms)
    result.sender_late += late
    await tracker.wait(lambda: tracker.settled, SETTLE_TIMEOUT_S)
    turns = [t for item, t in tracker.turns.items() if item not in before]
    result.turns += len(turns)
    result.clips_without_turns += not turns
    result.words_ref += len(clip.words)
    for turn in turns:
        if turn.done is None or turn.stopped is None:
            result.missing_finals += 1
        else:
            result.final.append(turn.done - turn.stopped)
        if turn.deltas:
            result.first_partial.append(turn.deltas[0][0] - turn.started)
    result.word_lags += word_lags(clip, turns, sent, chunk_ms)
    for item in [i for i in tracker.turns if i not in before]:  # late events are ignored
        del tracker.turns[item]
    if response_text:
        tracker.first_audio, tracker.response_done = None, False
        start = time.perf_counter()
        await conn.response.create(response={"instructions": response_text})
        if await tracker.wait(lambda: tracker.first_audio is not None, RESPONSE_TIMEOUT_S):
            assert tracker.first_audio is not None
            result.response.append(tracker.first_audio - start)
            await conn.response.cancel()
        else:
            result.errors.append("no response audio")
        await tracker.wait(lambda: tracker.response_done, RESPONSE_TIMEOUT_S)


# --- reporting ------------------------------------------------------------------------------

Result = report.Result


def ms(values: Iterable[float]) -> list[float]:
    return [v * 1e3 for v in values]


def latency_rows(section: str, item: str, r: SessionResult) -> list[report.Result]:
    """The rows of (a)–(d) and the counts, for one pooled result."""
    rows = [
        Result(section, item, "(a) speech_stopped → final (ms)", ms(r.final), "turns"),
        Result(section, item, "(b) speech_started → 1st partial (ms)", ms(r.first_partial), "turns"),
        Result(section, item, "(c) word end sent → its partial (ms)", ms(r.word_lags), "words"),
    ]  # fmt: skip
    if r.response:
        rows.append(
            Result(section, item, "(d) response.create → 1st audio (ms)", ms(r.response), "responses")
        )  # fmt: skip
    rows += [
        Result(section, item, "sender lateness (ms)", ms(r.sender_late), "chunks"),
        Result(section, item, "turns", [float(r.turns)], "count"),
        Result(section, item, "turns without a final", [float(r.missing_finals)], "count"),
        Result(
            section,
            item,
            "clip words carried by partials (%)",
            [100 * len(r.word_lags) / max(r.words_ref, 1)],
            "count",
        ),
    ]
    return rows


def check(label: str, value: float, target: float, unit: str = "ms") -> str:
    """One line: a figure against its target."""
    ok = "meets" if value <= target else "MISSES"
    unit = f" {unit}" if unit else ""
    return f"{label} {report.fmt(value)}{unit} {ok} target ≤ {target:g}{unit}"


def target_lines(r: SessionResult) -> list[str]:
    """The issue's single-session targets against a pooled result."""
    lines = [
        check("(a) p50", report.percentile(ms(r.final), 50), 500),
        check("(a) p95", report.percentile(ms(r.final), 95), 1000),
        check("(c) p50", report.percentile(ms(r.word_lags), 50), 1500),
    ]
    if r.response:
        lines.append(check("(d) p50", report.percentile(ms(r.response), 50), 250))
    return lines
