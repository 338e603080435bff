"""Voice-to-voice latency of spoken conversations with the embedded language model.

Run from the repository root::

    .venv/bin/python -m bench.conversation_latency                 # appends to RESULTS.md
    .venv/bin/python -m bench.conversation_latency --quick         # two turns, not recorded
    .venv/bin/python -m bench.conversation_latency --concurrent 0  # one session only

voxgate runs in this process with the default engines and the embedded LLM (``llm``
responder). A session streams the clips of ``bench/common_realtime.py`` in turn, each at
real-time pace with :data:`~bench.common_realtime.TAIL_S` of silence after it, under
``server_vad`` with automatic responses, and waits until every turn of the clip has its
``response.done`` before the next clip. A warm-up session (one clip) runs first, unmeasured;
then one session alone, then ``--concurrent`` sessions at once (session *i* starts its clip
list at clip *i*). Method and the choice of speech end: docs/realtime-latency.md.

**Speech end** of a turn: the wall-clock time at which the chunk holding the turn's last
speech sample was sent. The last speech sample is the VAD's: ``audio_end_ms`` of the turn's
``input_audio_buffer.speech_stopped`` minus ``silence_duration_ms``, on the session's audio
timeline (all audio appended so far); each chunk's send time is recorded on that timeline.

Measured per turn whose response produced audio (pooled; issue 16's targets):

* voice-to-voice: speech end → first ``response.output_audio.delta``: one session p50 ≤
  600 ms and p95 ≤ 1.2 s; four sessions at once p95 ≤ 2 s;
* breakdown: speech end → ``speech_stopped`` (the VAD's silence wait), ``speech_stopped`` →
  ``response.created``, ``response.created`` → first ``response.output_audio_transcript.delta``,
  that → first audio delta; the answer's ``usage.output_tokens`` (completed answers);
* counts: turns, turns without response audio, errors (events, failures, timeouts).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import dataclasses
import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench import common_realtime as rt
from bench import report
from bench.report import Result, progress
from engines.audio import load_pcm, resample
from engines.base import SAMPLE_RATE, Engines
from engines.llm.llamacpp import EmbeddedChat
from realtime.inference.loading import EMBEDDED_LLM, load_engines, load_llm
from realtime.server.settings import Settings
from testkit.paths import TESTDATA

TITLE = "conversation latency"
"""Heading of this script's sections in RESULTS.md."""

QUICK_CLIPS = ("deepspeech/LDC93S1.wav", "pyroomacoustics/cmu_arctic_us_aew_a0001.wav")
CONNECT_TIMEOUT_S = 30.0  # longest wait for session.updated
TURN_TIMEOUT_S = 90.0  # longest wait, after a clip's audio, for its turns' response.done


# --- clips and the send clock ---------------------------------------------------------------


def load_clip(relative: str) -> rt.Clip:
    """A test clip as pcm16 24 kHz with the trailing silence (no word times needed here)."""
    pcm = load_pcm(TESTDATA / relative)
    silence = np.zeros(int(rt.IN_RATE * rt.TAIL_S), np.int16)
    audio = np.concatenate([resample(pcm, SAMPLE_RATE, rt.IN_RATE), silence])
    return rt.Clip(Path(relative).stem, audio.tobytes(), len(pcm) / SAMPLE_RATE, ())


class SendClock:
    """When each appended chunk was sent, indexed by where it ends on the session's audio timeline."""

    def __init__(self) -> None:
        self.ends_ms: list[float] = []
        self.sent: list[float] = []

    @property
    def end_ms(self) -> float:
        """Milliseconds of audio appended so far in the session."""
        return self.ends_ms[-1] if self.ends_ms else 0.0

    def add(self, payload_bytes: int, sent: Sequence[float], chunk_ms: int) -> None:
        """Record one :func:`~bench.common_realtime.send_paced` call's chunks."""
        offset, step = self.end_ms, rt.BYTES_PER_MS * chunk_ms
        for k, at in enumerate(sent):
            self.ends_ms.append(offset + min((k + 1) * step, payload_bytes) / rt.BYTES_PER_MS)
            self.sent.append(at)

    def sent_at(self, audio_ms: float) -> float:
        """Send time of the chunk holding the sample just before ``audio_ms``."""
        index = bisect.bisect_left(self.ends_ms, audio_ms)
        return self.sent[min(index, len(self.sent) - 1)]


# --- one conversation's events --------------------------------------------------------------


@dataclass
class Turn:
    """A user turn as the client saw it (arrival times, ``time.perf_counter``)."""

    started: float
    stopped: float | None = None
    speech_end_ms: float | None = None  # the VAD's last speech sample, session audio timeline
    response: str | None = None  # id of the response that answers it


@dataclass
class Answer:
    """A response as the client saw it (arrival times)."""

    created: float
    first_text: float | None = None
    first_audio: float | None = None
    done: float | None = None
    status: str = ""
    output_tokens: int | None = None


class Conversation:
    """Reads a session's server events, time-stamps them and links responses to turns.

    A ``response.created`` answers the latest ended turn that has no response yet (only the
    VAD creates responses here).
    """

    def __init__(self, silence_ms: int) -> None:
        self.silence_ms = silence_ms
        self.updated = False
        self.closed = False
        self.turns: dict[str, Turn] = {}
        self.answers: dict[str, Answer] = {}
        self.errors: list[str] = []
        self.changed = asyncio.Event()

    async def receive(self, conn: Any) -> None:
        try:
            while True:
                raw = await conn.recv_bytes()
                self.handle(json.loads(raw), time.perf_counter())
                self.changed.set()
        finally:
            self.closed = True
            self.changed.set()

    def handle(self, event: dict[str, Any], now: float) -> None:
        kind = event["type"]
        if kind == "session.updated":
            self.updated = True
        elif kind == "input_audio_buffer.speech_started":
            self.turns[event["item_id"]] = Turn(now)
        elif kind == "input_audio_buffer.speech_stopped" and event["item_id"] in self.turns:
            turn = self.turns[event["item_id"]]
            turn.stopped, turn.speech_end_ms = now, event["audio_end_ms"] - self.silence_ms
        elif kind == "response.created":
            self._created(event["response"]["id"], now)
        elif kind == "response.output_audio_transcript.delta":
            answer = self.answers.get(event["response_id"])
            if answer is not None and answer.first_text is None:
                answer.first_text = now
        elif kind == "response.output_audio.delta":
            answer = self.answers.get(event["response_id"])
            if answer is not None and answer.first_audio is None:
                answer.first_audio = now
        elif kind == "response.done":
            self._done(event["response"], now)
        elif kind == "error":
            error = event.get("error") or {}
            self.errors.append(f"error event {error.get('code')}: {error.get('message')}")

    def _created(self, response_id: str, now: float) -> None:
        self.answers[response_id] = Answer(now)
        waiting = [t for t in self.turns.values() if t.stopped is not None and t.response is None]
        if waiting:
            waiting[-1].response = response_id
        else:
            self.errors.append(f"response {response_id} answers no user turn")

    def _done(self, response: dict[str, Any], now: float) -> None:
        answer = self.answers.get(response["id"])
        if answer is None:
            return
        answer.done, answer.status = now, response.get("status") or ""
        answer.output_tokens = (response.get("usage") or {}).get("output_tokens")
        if answer.status == "failed":
            details = (response.get("status_details") or {}).get("error") or {}
            self.errors.append(f"response failed: {details.get('message')}")

    def answered(self, turn: Turn) -> bool:
        """Whether ``turn`` ended and its response (if it has one yet) is done."""
        answer = self.answers.get(turn.response or "")
        return turn.stopped is not None and (answer is None or answer.done is not None)

    async def wait(self, predicate: Callable[[], bool], within: float) -> bool:
        """Await ``predicate`` (re-checked on each event) for at most ``within`` s."""
        deadline = time.perf_counter() + within
        while not predicate():
            left = deadline - time.perf_counter()
            if left <= 0 or self.closed:
                return False
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                return predicate()
        return True


# --- one session ----------------------------------------------------------------------------


@dataclass
class Measured:
    """Per-turn figures (seconds; tokens) and counts, pooled over turns and sessions."""

    voice_to_voice: list[float] = field(default_factory=list)
    vad_wait: list[float] = field(default_factory=list)
    to_created: list[float] = field(default_factory=list)
    to_text: list[float] = field(default_factory=list)
    text_to_audio: list[float] = field(default_factory=list)
    tokens: list[float] = field(default_factory=list)
    clip_tail: list[float] = field(default_factory=list)  # clip end − the VAD's speech end
    sender_late: list[float] = field(default_factory=list)
    turns: int = 0
    without_audio: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: Measured) -> None:
        for f in dataclasses.fields(self):
            mine = getattr(self, f.name)
            setattr(self, f.name, mine + getattr(other, f.name))


def _session_update(silence_ms: int) -> dict[str, Any]:
    vad = {
        "type": "server_vad",
        "silence_duration_ms": silence_ms,
        "create_response": True,
        "interrupt_response": True,
    }
    return {"type": "realtime", "audio": {"input": {"turn_detection": vad}}}


async def converse(
    server: rt.Server, clips: list[rt.Clip], *, chunk_ms: int, silence_ms: int
) -> Measured:
    """One session through the official SDK, clip after clip; see the module docstring.

    Never raises for what goes wrong in the session: it is an entry of ``errors``.
    """
    result = Measured()
    client = server.client()
    try:
        async with client.realtime.connect(model="gpt-realtime") as conn:
            talk = Conversation(silence_ms)
            receiver = asyncio.create_task(talk.receive(conn))
            try:
                await conn.session.update(session=_session_update(silence_ms))
                if not await talk.wait(lambda: talk.updated, CONNECT_TIMEOUT_S):
                    raise RuntimeError("no session.updated")
                clock = SendClock()
                for clip in clips:
                    await _one_clip(conn, talk, clock, clip, chunk_ms, result)
                    if receiver.done():  # the connection broke
                        receiver.result()
            finally:
                receiver.cancel()
                await asyncio.gather(receiver, return_exceptions=True)
                result.errors += talk.errors
    except Exception as exc:  # reported, so one session's failure does not hide the others'
        result.errors.append(f"session failed: {type(exc).__name__}: {exc}")
    finally:
        await client.close()
    return result


async def _one_clip(
    conn: Any, talk: Conversation, clock: SendClock, clip: rt.Clip, chunk_ms: int, result: Measured
) -> None:
    before = set(talk.turns)
    clip_end_ms = clock.end_ms + clip.duration * 1000
    sent, late = await rt.send_paced(conn, clip.payload, chunk_ms)
    clock.add(len(clip.payload), sent, chunk_ms)
    result.sender_late += late

    def new_turns() -> list[Turn]:
        return [t for item, t in talk.turns.items() if item not in before]

    def finished() -> bool:
        turns = new_turns()
        return bool(turns) and turns[-1].response is not None and all(map(talk.answered, turns))

    if not await talk.wait(finished, TURN_TIMEOUT_S):
        result.errors.append(f"{clip.name}: turns not answered within {TURN_TIMEOUT_S:g} s")
    turns = new_turns()
    for turn in turns:
        _measure_turn(turn, talk, clock, result)
    ends = [t.speech_end_ms for t in turns if t.speech_end_ms is not None]
    if ends:
        result.clip_tail.append((clip_end_ms - max(ends)) / 1000)
    for item in [i for i in talk.turns if i not in before]:
        answer_id = talk.turns.pop(item).response
        talk.answers.pop(answer_id or "", None)


def _measure_turn(turn: Turn, talk: Conversation, clock: SendClock, result: Measured) -> None:
    result.turns += 1
    answer = talk.answers.get(turn.response or "")
    if answer is None or answer.first_audio is None or turn.stopped is None:
        result.without_audio += 1
        return
    assert turn.speech_end_ms is not None
    speech_end = clock.sent_at(turn.speech_end_ms)
    result.voice_to_voice.append(answer.first_audio - speech_end)
    result.vad_wait.append(turn.stopped - speech_end)
    result.to_created.append(answer.created - turn.stopped)
    if answer.first_text is not None:
        result.to_text.append(answer.first_text - answer.created)
        result.text_to_audio.append(answer.first_audio - answer.first_text)
    if answer.status == "completed" and answer.output_tokens is not None:
        result.tokens.append(answer.output_tokens)


async def conversations(
    server: rt.Server, clips: list[rt.Clip], sessions: int, *, chunk_ms: int, silence_ms: int
) -> Measured:
    """``sessions`` sessions at once; session *i* starts at clip *i* (mod the list)."""
    orders = [clips[i % len(clips) :] + clips[: i % len(clips)] for i in range(sessions)]
    runs = [converse(server, order, chunk_ms=chunk_ms, silence_ms=silence_ms) for order in orders]
    pooled = Measured()
    for measured in await asyncio.gather(*runs):
        pooled.add(measured)
    return pooled


# --- reporting ------------------------------------------------------------------------------


def rows(item: str, m: Measured) -> list[Result]:
    """The table rows of one phase."""
    ms = rt.ms
    measured = [
        ("voice-to-voice: speech end → 1st audio (ms)", ms(m.voice_to_voice), "turns"),
        ("speech end → speech_stopped (ms)", ms(m.vad_wait), "turns"),
        ("speech_stopped → response.created (ms)", ms(m.to_created), "turns"),
        ("response.created → 1st transcript delta (ms)", ms(m.to_text), "turns"),
        ("1st transcript delta → 1st audio (ms)", ms(m.text_to_audio), "turns"),
        ("answer length (output tokens)", m.tokens, "answers"),
        ("clip end − VAD speech end (ms)", ms(m.clip_tail), "clips"),
        ("sender lateness (ms)", ms(m.sender_late), "chunks"),
        ("turns", [float(m.turns)], "count"),
        ("turns without response audio", [float(m.without_audio)], "count"),
        ("errors", [float(len(m.errors))], "count"),
    ]
    return [Result("conversation", item, metric, values, over) for metric, values, over in measured]


def p(values: Iterable[float], q: float) -> float:
    return report.percentile(rt.ms(values), q)


def target_lines(single: Measured, concurrent: Measured | None, sessions: int) -> list[str]:
    """Issue 16's targets against the pooled results."""
    lines = [
        rt.check("1 session: voice-to-voice p50", p(single.voice_to_voice, 50), 600),
        rt.check("1 session: voice-to-voice p95", p(single.voice_to_voice, 95), 1200),
    ]
    if concurrent is not None:
        label = f"{sessions} sessions: voice-to-voice p95"
        lines.append(rt.check(label, p(concurrent.voice_to_voice, 95), 2000))
    return lines


def error_lines(label: str, m: Measured) -> list[str]:
    return [f"{label} errors ({len(m.errors)}): {m.errors[:5]}"] if m.errors else []


# --- the run --------------------------------------------------------------------------------


async def run_phases(
    engines: Engines, args: argparse.Namespace
) -> tuple[list[rt.Clip], Measured, Measured | None]:
    """Warm-up, one session, then ``--concurrent`` sessions at once (not with ``--quick``)."""
    clips = [load_clip(name) for name in (QUICK_CLIPS if args.quick else rt.CLIPS)]
    sessions = 0 if args.quick else args.concurrent
    options = {"chunk_ms": args.chunk_ms, "silence_ms": args.silence_ms}
    async with rt.serve(engines, responder="llm") as server:
        progress("warm-up session")
        warm = await converse(server, [load_clip(rt.WARMUP_CLIP)], **options)
        if warm.errors or not warm.voice_to_voice:
            progress(f"the warm-up session went wrong: {warm.errors[:3]}")
        audio_s = sum(c.duration + rt.TAIL_S for c in clips)
        progress(f"one session: {len(clips)} turns, {audio_s:.0f} s of audio")
        single = await conversations(server, clips, 1, **options)
        concurrent = None
        if sessions > 0:
            progress(f"{sessions} sessions at once, {len(clips)} turns each")
            concurrent = await conversations(server, clips, sessions, **options)
    return clips, single, concurrent


async def measure(args: argparse.Namespace) -> tuple[list[Result], list[str]]:
    settings = Settings()
    progress("loading the default engines and the embedded language model")
    llm = load_llm(settings)
    try:
        engines = dataclasses.replace(load_engines(settings), llm=llm)
        clips, single, concurrent = await run_phases(engines, args)
    finally:
        if isinstance(llm, EmbeddedChat):
            llm.close()
    sessions = args.concurrent
    results = rows(f"1 session, {len(clips)} clips", single)
    if concurrent is not None:
        results += rows(f"{sessions} sessions × {len(clips)} clips", concurrent)
    notes = [
        f"{args.chunk_ms} ms chunks of pcm16 24 kHz at real-time pace, {rt.TAIL_S:g} s silence "
        f"after each clip; server_vad {args.silence_ms} ms silence, automatic responses; "
        f"clips: {', '.join(c.name for c in clips)}",
        f"llm responder, embedded {settings.llm_model or EMBEDDED_LLM} (llama.cpp, "
        f"{settings.llm_threads} threads, {settings.llm_parallel} slots), default instructions",
        "speech end = send time of the chunk holding the VAD's last speech sample "
        "(speech_stopped audio_end_ms − silence_duration_ms)",
        *target_lines(single, concurrent, sessions),
        *error_lines("1 session", single),
        *(error_lines(f"{sessions} sessions", concurrent) if concurrent is not None else []),
    ]
    return results, notes


def main() -> None:
    """Measure, print the table, append it to RESULTS.md unless told not to."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="two turns, one session (implies --no-record)"
    )
    parser.add_argument("--no-record", action="store_true", help="do not append RESULTS.md")
    parser.add_argument(
        "--concurrent", type=int, default=4, help="sessions at once in the second phase (0: none)"
    )
    parser.add_argument("--chunk-ms", type=int, choices=(20, 40), default=40)
    parser.add_argument(
        "--silence-ms", type=int, default=rt.SILENCE_MS, help="server_vad silence_duration_ms"
    )
    args = parser.parse_args()
    if args.concurrent < 0:
        parser.error("--concurrent must be 0 or more")
    load_start = os.getloadavg()
    results, notes = asyncio.run(measure(args))
    report.publish(
        results, notes, load_start, title=TITLE, record_it=not (args.quick or args.no_record)
    )


if __name__ == "__main__":
    main()
