"""The runner's scheduling rules with fake engines: partials coalesce, finals never drop."""

from __future__ import annotations

import asyncio
import base64
import json

import numpy as np

from engines.base import AudioChunk, Engines
from engines.testing import ScriptedASR, ScriptedVAD, ToneTTS
from protocol import TranscriptionSession
from protocol.codec import Dialect
from realtime.hosting.runner import SessionRunner
from realtime.inference.scheduler import InferenceScheduler
from realtime.session import Session
from realtime.session.commands import FeedTranscriber, FinalizeTranscript, RequestPartial
from realtime.session.ids import SequentialIds


class CountingASR(ScriptedASR):
    """ScriptedASR whose streams count partial and finalize calls."""

    def __init__(self) -> None:
        super().__init__("one two three")
        self.partials = 0

    def open_stream(self, options):
        stream = super().open_stream(options)
        original = stream.partial

        def partial():
            self.partials += 1
            return original()

        stream.partial = partial
        return stream


async def test_partials_coalesce_and_finals_are_never_dropped():
    asr = CountingASR()
    engines = Engines(vad=ScriptedVAD([]), asr=asr, tts=ToneTTS())
    session = Session(TranscriptionSession(), ids=SequentialIds(), created_at=0.0)
    sent = []
    completed = asyncio.Event()

    def emit(event):
        sent.append(event)
        if event.type == "conversation.item.input_audio_transcription.completed":
            completed.set()

    with InferenceScheduler(2) as pool:
        runner = SessionRunner(session, engines, pool, dialect=Dialect.GA, emit=emit)
        task = asyncio.create_task(runner.run())
        await asyncio.sleep(0)  # let run() start its workers
        chunk = AudioChunk(np.zeros(1600, np.int16), 0)
        # a burst queued at once: five partial requests for one item, then its final
        for command in (
            [FeedTranscriber("item_1", chunk)]
            + [RequestPartial("item_1")] * 5
            + [FinalizeTranscript("item_1")]
        ):
            runner._dispatch(command)
        session._transcripts.start("item_1", shown=True)  # as if the session had started
        session._transcripts.commit("item_1", 0.1)  # and committed the item
        await asyncio.wait_for(completed.wait(), 10)
        runner.stop()
        await asyncio.wait_for(task, 10)
    assert asr.partials == 0  # every partial was superseded by the queued final
    assert asr.finalized == 1
    assert [e.transcript for e in sent if e.type.endswith(".completed")] == ["one two three"]


async def test_transcription_language_applies_from_the_next_turn():
    opened = []

    class RecordingASR(ScriptedASR):
        def open_stream(self, options):
            opened.append(options.language)
            return super().open_stream(options)

    engines = Engines(vad=ScriptedVAD([]), asr=RecordingASR(), tts=ToneTTS())
    session = Session(TranscriptionSession(), ids=SequentialIds(), created_at=0.0)
    completed = asyncio.Event()

    def emit(event):
        if event.type.endswith(".completed"):
            completed.set()

    with InferenceScheduler(2) as pool:
        runner = SessionRunner(session, engines, pool, dialect=Dialect.GA, emit=emit)
        task = asyncio.create_task(runner.run())
        await asyncio.sleep(0)
        runner.receive_text(
            '{"type": "session.update", "session": {"type": "transcription", "audio": {"input": '
            '{"turn_detection": null, "transcription": {"model": "whisper-1", "language": "de"}}}}}'
        )
        audio = base64.b64encode(bytes(24_000)).decode()  # 0.5 s of pcm16 at 24 kHz
        runner.receive_text(json.dumps({"type": "input_audio_buffer.append", "audio": audio}))
        runner.receive_text('{"type": "input_audio_buffer.commit"}')  # the next turn
        await asyncio.wait_for(completed.wait(), 10)
        runner.stop()
        await asyncio.wait_for(task, 10)
    assert opened[-1] == "de"
