"""Early replies in the runner: a held reply's first piece is spoken before it is asked for.

Pure scheduling logic: a scripted responder and the ToneTTS fake (which logs what it
renders) behind the real :class:`~realtime.hosting.output.ResponseWork`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from engines.testing import ToneTTS
from realtime.hosting.output import ResponseWork
from realtime.inference.scheduler import InferenceScheduler
from realtime.session.commands import (
    CancelReply,
    GenerateReply,
    ReleaseReply,
    Synthesize,
)
from realtime.session.replies import ReplyDone, ReplyPart, ReplyRequest, TextDelta

TEMPLATE = Synthesize("resp_1", "", output_format="audio/pcm", last=False)
FIRST = "Well, in Paris today,"


class Scripted:
    """A responder streaming fixed parts."""

    reads_transcripts = True

    def __init__(self, parts: list[ReplyPart]) -> None:
        self.parts = parts

    async def reply(self, request: ReplyRequest) -> AsyncIterator[ReplyPart]:
        for part in self.parts:
            yield part


class Recorder:
    """Stands for the session: what the runner hands it."""

    def __init__(self) -> None:
        self.parts: list[ReplyPart] = []
        self.audio: list[bytes] = []
        self.got_audio = asyncio.Event()
        self.done = asyncio.Event()

    def receive_reply_part(self, response_id: str, part: ReplyPart) -> None:
        self.parts.append(part)
        if isinstance(part, ReplyDone):
            self.done.set()

    def receive_synthesized_audio(self, response_id: str, audio: bytes, *, final: bool) -> None:
        if audio:
            self.audio.append(audio)
            self.got_audio.set()

    def receive_synthesis_failed(self, response_id: str, message: str) -> None:
        raise AssertionError(message)


PARTS = [TextDelta("Well, in Paris "), TextDelta("today, it is"), TextDelta(" sunny."), ReplyDone()]


async def held_work(pool, tts, group) -> tuple[ResponseWork, Recorder]:
    session = Recorder()
    work = ResponseWork(
        session,  # type: ignore[arg-type]
        pool,
        tts,
        Scripted(PARTS),
        flush=lambda: None,
        spawn=lambda coroutine, name: group.create_task(coroutine, name=name),
    )
    work.dispatch(GenerateReply(ReplyRequest("resp_1"), hold=True, speech=TEMPLATE))
    return work, session


class AnnouncingTTS(ToneTTS):
    """ToneTTS that also reports each rendered sentence to the event loop."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.get_running_loop()
        self.announced: asyncio.Queue[str] = asyncio.Queue()

    def render_sentence(self, unit, speed):
        pcm = super().render_sentence(unit, speed)
        self.loop.call_soon_threadsafe(self.announced.put_nowait, unit)
        return pcm


async def wait_for_render(tts: AnnouncingTTS, text: str) -> None:
    async with asyncio.timeout(10):
        while await tts.announced.get() != text:
            pass


async def test_the_first_piece_is_spoken_early_and_its_audio_waits_for_the_session():
    tts = AnnouncingTTS()
    with InferenceScheduler(2) as pool:
        async with asyncio.TaskGroup() as group:
            work, session = await held_work(pool, tts, group)
            await wait_for_render(tts, FIRST)
            assert session.parts == [] and session.audio == []  # held: nothing seen yet
            work.dispatch(ReleaseReply("resp_1"))
            assert [type(p) for p in session.parts] == [TextDelta] * 3 + [ReplyDone]
            # the session asks for the piece the runner guessed: no second rendering
            work.dispatch(Synthesize("resp_1", FIRST, output_format="audio/pcm", last=False))
            async with asyncio.timeout(10):
                await session.got_audio.wait()
            work.dispatch(Synthesize("resp_1", "it is sunny.", output_format="audio/pcm"))
            await wait_for_render(tts, "it is sunny.")
    assert tts.rendered.count(FIRST) == 1
    assert session.audio


async def test_a_different_first_piece_is_spoken_anew_and_a_cancel_drops_the_early_audio():
    tts = AnnouncingTTS()
    with InferenceScheduler(2) as pool:
        async with asyncio.TaskGroup() as group:
            work, session = await held_work(pool, tts, group)
            await wait_for_render(tts, FIRST)
            work.dispatch(ReleaseReply("resp_1"))
            work.dispatch(Synthesize("resp_1", "Something else.", output_format="audio/pcm"))
            await wait_for_render(tts, "Something else.")
            async with asyncio.timeout(10):
                await session.got_audio.wait()
            second, second_session = await held_work(pool, tts, group)
            await wait_for_render(tts, FIRST)
            second.dispatch(CancelReply("resp_1"))
    assert second_session.audio == [] and second_session.parts == []
