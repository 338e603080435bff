"""The inference scheduler's policy with fake jobs, and four real sessions sharing it.

Policy tests pause the scheduler, queue jobs, resume it and read the order in which the
jobs started (``record_starts``); jobs that must stay running wait on an event.
"""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from realtime.inference.scheduler import Dropped, InferenceScheduler, Priority

URGENT, PARTIAL, BATCH = Priority.URGENT, Priority.PARTIAL, Priority.BATCH
LIMIT_S = 30  # bound on every wait: a hang fails the test instead of stalling the run


def noop() -> None:
    return None


def dropped(future: Future[Any]) -> str | None:
    """The reason a finished job was dropped (None: it ran)."""
    error = future.exception(LIMIT_S)
    return error.reason if isinstance(error, Dropped) else None


class Gate:
    """A job that blocks until opened, and tells when it started."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.opened = threading.Event()

    def __call__(self) -> str:
        self.started.set()
        assert self.opened.wait(LIMIT_S)
        return "gate"


def drain(scheduler: InferenceScheduler, futures: list[Future[Any]]) -> None:
    scheduler.resume()
    for future in futures:
        future.exception(LIMIT_S)  # finished, one way or the other


def test_urgent_before_partial_before_batch_oldest_first():
    with InferenceScheduler(1, record_starts=True) as scheduler:
        scheduler.pause()
        jobs = [
            scheduler.schedule(noop, priority=BATCH, lane=scheduler.lane("b1", serial=False)),
            scheduler.lane("p").submit(noop, priority=PARTIAL, latest=True),
            scheduler.schedule(noop, priority=URGENT, lane=scheduler.lane("u1")),
            scheduler.schedule(noop, priority=URGENT, lane=scheduler.lane("u2")),
        ]
        drain(scheduler, jobs)
    assert scheduler.starts == [(URGENT, "u1"), (URGENT, "u2"), (PARTIAL, "p"), (BATCH, "b1")]


def test_the_feeds_before_a_final_run_at_its_priority():
    order: list[str] = []
    with InferenceScheduler(1, record_starts=True) as scheduler:
        scheduler.pause()
        other = scheduler.lane("other").submit(
            lambda: order.append("other partial"), priority=PARTIAL, latest=True
        )
        mine = scheduler.lane("mine")
        feed = mine.submit(lambda: order.append("feed"), priority=PARTIAL)
        final = mine.submit(lambda: order.append("final"), priority=URGENT)
        drain(scheduler, [other, feed, final])
    assert order == ["feed", "final", "other partial"]
    assert scheduler.starts[0] == (URGENT, "mine")  # the feed inherited the final's class


def test_a_serial_lane_runs_one_job_at_a_time_in_order():
    gate = Gate()
    with InferenceScheduler(2) as scheduler:
        lane = scheduler.lane("s")
        first = lane.submit(gate, priority=URGENT)
        second = lane.submit(noop, priority=URGENT)
        assert gate.started.wait(LIMIT_S)
        other = scheduler.submit(lambda: "free thread")  # the second thread is free...
        assert other.result(LIMIT_S) == "free thread"
        assert not second.done() and not second.running()  # ...but the lane waits its turn
        gate.opened.set()
        assert (first.result(LIMIT_S), second.result(LIMIT_S)) == ("gate", None)


def test_latest_wins_and_the_final_drops_the_queued_partial():
    with InferenceScheduler(2) as scheduler:  # two threads: no load for the cadence rule
        scheduler.pause()
        kept = scheduler.lane("other").submit(lambda: "other", priority=PARTIAL, latest=True)
        lane = scheduler.lane("s")
        first = lane.submit(lambda: "p1", priority=PARTIAL, latest=True)
        second = lane.submit(lambda: "p2", priority=PARTIAL, latest=True)
        assert dropped(first) == "superseded"
        third = lane.submit(lambda: "p3", priority=PARTIAL, latest=True)
        assert dropped(second) == "superseded"
        final = lane.submit(lambda: "final", priority=URGENT)
        assert dropped(third) == "superseded"
        drain(scheduler, [final, kept])
        assert (final.result(), kept.result()) == ("final", "other")  # other lanes keep theirs


def test_cadence_spaces_partials_out_under_load_but_never_finals():
    with InferenceScheduler(1) as scheduler:
        lane = scheduler.lane("s")
        assert dropped(lane.submit(noop, priority=PARTIAL, latest=True)) is None  # idle: runs
        scheduler.pause()
        load = [scheduler.lane(f"f{i}").submit(noop, priority=URGENT) for i in range(2)]
        # two finals wait per thread: one partial request in three is taken
        requests = [lane.submit(noop, priority=PARTIAL, latest=True) for _ in range(3)]
        assert [r.done() and dropped(r) for r in requests[:2]] == ["skipped", "skipped"]
        assert not requests[2].done()  # queued
        final = lane.submit(noop, priority=URGENT)  # finals are never skipped
        assert dropped(requests[2]) == "superseded"
        drain(scheduler, [*load, final])
        assert dropped(final) is None


def test_a_speculative_final_is_never_skipped_but_still_replaced():
    with InferenceScheduler(1) as scheduler:
        lane = scheduler.lane("s")
        scheduler.pause()
        load = [scheduler.lane(f"f{i}").submit(noop, priority=URGENT) for i in range(2)]
        partial = lane.submit(noop, priority=PARTIAL, latest=True)
        assert partial.done() and dropped(partial) == "skipped"  # loaded: partials thin out
        speculation = lane.submit(noop, priority=PARTIAL, latest=True, cadence=False)
        assert not speculation.done()  # queued despite the load
        final = lane.submit(noop, priority=URGENT)  # the final joins before it started
        assert dropped(speculation) == "superseded"
        drain(scheduler, [*load, final])
        assert dropped(final) is None


def test_partials_and_batch_progress_under_steady_final_load():
    share = 4
    started: list[Priority] = []
    all_done = threading.Event()
    with InferenceScheduler(1, share=share) as scheduler:
        remaining = [30]

        def final() -> None:
            started.append(URGENT)
            remaining[0] -= 1
            if remaining[0]:  # a steady stream: another final is always waiting
                scheduler.submit(final)
            else:
                all_done.set()

        scheduler.pause()
        partial = scheduler.lane("p").submit(
            lambda: started.append(PARTIAL), priority=PARTIAL, latest=True
        )
        batch = scheduler.schedule(
            lambda: started.append(BATCH), priority=BATCH, lane=scheduler.lane(serial=False)
        )
        scheduler.submit(final)
        drain(scheduler, [partial, batch])
        assert all_done.wait(LIMIT_S)
    assert started.count(URGENT) == 30
    assert started.index(PARTIAL) <= share + 1 and started.index(BATCH) <= share + 1


def test_batch_never_takes_the_last_thread():
    gate = Gate()
    with InferenceScheduler(2) as scheduler:
        job = scheduler.lane("job", serial=False)
        first = scheduler.schedule(gate, priority=BATCH, lane=job)
        assert gate.started.wait(LIMIT_S)
        second = scheduler.schedule(noop, priority=BATCH, lane=job)
        final = scheduler.lane("s").submit(lambda: "final", priority=URGENT)
        assert final.result(LIMIT_S) == "final"
        assert not second.running() and not second.done()  # capped at threads - 1
        gate.opened.set()
        assert (first.result(LIMIT_S), second.result(LIMIT_S)) == ("gate", None)


def test_cancel_drops_queued_work_and_discards_the_result_in_flight():
    gate = Gate()
    with InferenceScheduler(1) as scheduler:
        lane = scheduler.lane("s")
        running = lane.submit(gate, priority=PARTIAL, latest=True, tag="item_1")
        assert gate.started.wait(LIMIT_S)
        queued = lane.submit(noop, priority=PARTIAL, tag="item_1")
        other_item = lane.submit(lambda: "kept", priority=PARTIAL, tag="item_2")
        lane.cancel("item_1")  # the session cleared its buffer
        assert dropped(queued) == "cancelled"
        gate.opened.set()
        assert dropped(running) == "cancelled"  # it finished, but nobody gets its result
        assert other_item.result(LIMIT_S) == "kept"
        assert lane.submit(lambda: "after", priority=URGENT).result(LIMIT_S) == "after"
        lane.close()  # the session disconnected
        assert dropped(lane.submit(noop, priority=URGENT)) == "cancelled"


def test_exceptions_reach_the_submitter_and_the_threads_go_on():
    def fail() -> None:
        raise ValueError("bad audio")

    with InferenceScheduler(1) as scheduler:
        with pytest.raises(ValueError, match="bad audio"):
            scheduler.run(fail, priority=BATCH)
        assert isinstance(scheduler.submit(fail).exception(LIMIT_S), ValueError)
        assert scheduler.run(lambda: 42, priority=URGENT) == 42


def test_shutdown_drops_queued_jobs_joins_threads_and_refuses_work():
    gate = Gate()
    scheduler = InferenceScheduler(2)
    running = scheduler.submit(gate)
    assert gate.started.wait(LIMIT_S)
    scheduler.pause()
    queued = scheduler.submit(noop)
    done = threading.Thread(target=scheduler.shutdown, kwargs={"cancel_futures": True})
    done.start()
    assert dropped(queued) == "shutdown"
    gate.opened.set()
    done.join(LIMIT_S)
    assert running.result(LIMIT_S) == "gate"
    assert not any(worker.is_alive() for worker in scheduler._workers)
    with pytest.raises(RuntimeError):
        scheduler.submit(noop)


async def test_it_is_an_executor_for_the_event_loop():
    with InferenceScheduler(1) as scheduler:
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(scheduler, sum, [1, 2, 3]) == 6


# --- four real sessions share the scheduler ------------------------------------------------

CLIPS = {
    "openai-whisper/jfk.flac": "openai-whisper/jfk.txt",
    "pocketsphinx/sense_and_sensibility_01_austen_64kb-0870.wav": (
        "pocketsphinx/sense_and_sensibility_01_austen_64kb-0870.txt"
    ),
    "deepspeech/new-home-in-the-stars-16k.wav": "deepspeech/new-home-in-the-stars-16k.txt",
    "pocketsphinx/sense_and_sensibility_01_austen_64kb-0890.wav": (
        "pocketsphinx/sense_and_sensibility_01_austen_64kb-0890.txt"
    ),
}
SILENCE_MS = 1000  # server VAD: a pause this long ends a turn
TAIL_S = 2.0  # silence after each clip, so the VAD ends the last turn


@pytest.mark.model
async def test_four_sessions_stream_real_clips_through_one_scheduler(
    testdata: Path, asr_base: Any, model_cache_dir: Path
):
    import base64

    from engines.asr.incremental import StreamingWhisper
    from engines.audio import load_pcm, resample
    from engines.base import Engines
    from engines.vad.silero import SileroVAD
    from protocol import TranscriptionSession
    from protocol.codec import Dialect
    from realtime.hosting.runner import SessionRunner
    from realtime.server.settings import Settings
    from realtime.session import Session
    from realtime.session.ids import SequentialIds
    from testkit.wer import wer

    engines = Engines(
        vad=SileroVAD.load(Settings().vad_model, model_cache_dir),
        # base for partials too: tiny.en's committed partials can misspell a word the final
        # then keeps (the streaming adapter's contract), which is not what this test is about
        asr=StreamingWhisper(asr_base, asr_base),
    )
    update = {
        "type": "session.update",
        "session": {
            "type": "transcription",
            "audio": {
                "input": {
                    "transcription": {"model": "whisper-1", "language": "en"},
                    "turn_detection": {"type": "server_vad", "silence_duration_ms": SILENCE_MS},
                }
            },
        },
    }

    async def stream(scheduler: InferenceScheduler, clip: str) -> tuple[str, int]:
        """One session: append the clip at once, return its finals' text and delta count."""
        speech = resample(load_pcm(testdata / clip), 16_000, 24_000)
        pcm = np.concatenate([speech, np.zeros(int(24_000 * TAIL_S), np.int16)])
        speech_ms = len(speech) * 1000 // 24_000
        events: list[Any] = []
        finished = asyncio.Event()

        def emit(event: Any) -> None:
            events.append(event)
            if event.type == "error":
                finished.set()  # fail below, with the event
            if not event.type.endswith("transcription.completed"):
                return  # (a final ends the wait, after its item's commit)
            kinds = [e.type for e in events]
            committed = kinds.count("input_audio_buffer.committed")
            completed = kinds.count("conversation.item.input_audio_transcription.completed")
            reached_end = any(
                e.type == "input_audio_buffer.speech_stopped" and e.audio_end_ms >= speech_ms - 1500
                for e in events
            )
            if reached_end and committed == completed:
                finished.set()

        session = Session(TranscriptionSession(), ids=SequentialIds(), created_at=0.0)
        runner = SessionRunner(session, engines, scheduler, dialect=Dialect.GA, emit=emit)
        task = asyncio.create_task(runner.run())
        runner.receive_text(json.dumps(update))
        for index, start in enumerate(range(0, len(pcm), 960)):  # 40 ms appends
            audio = base64.b64encode(pcm[start : start + 960].tobytes()).decode()
            runner.receive_text(json.dumps({"type": "input_audio_buffer.append", "audio": audio}))
            if index % 5 == 4:  # paced by the scheduler itself: a round trip per 200 ms
                await asyncio.wrap_future(scheduler.schedule(noop, priority=PARTIAL))
        await asyncio.wait_for(finished.wait(), 300)
        runner.stop()
        await asyncio.wait_for(task, LIMIT_S)
        assert not [e for e in events if e.type == "error"], clip
        text = " ".join(
            e.transcript
            for e in events
            if e.type == "conversation.item.input_audio_transcription.completed"
        )
        deltas = sum(e.type.endswith("transcription.delta") for e in events)
        return text, deltas

    with InferenceScheduler(2) as scheduler:
        results = await asyncio.gather(*(stream(scheduler, clip) for clip in CLIPS))
    for (clip, reference), (text, _deltas) in zip(CLIPS.items(), results, strict=True):
        expected = (testdata / reference).read_text()
        assert wer(expected, text) <= 0.15, (clip, text)
