"""Running a Pipecat pipeline until a frame of interest, for the pipecat scripts.

:class:`Recorder` is the last processor of a pipeline: it passes every frame on, keeps the
frames downstream, and resolves a future on the first frame ``until`` accepts.
:func:`run_until` runs the pipeline with a ``WorkerRunner`` (as Pipecat's examples do)
until then (bounded), or until the pipeline reports an error, and cancels it after.
:func:`event_failures` checks raw server messages against Pipecat's own realtime event
models (``pipecat.services.openai.realtime.events``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from pipecat.frames.frames import ErrorFrame, Frame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.openai.realtime import events
from pipecat.workers.runner import WorkerRunner

RESULT_TIMEOUT_S = 45
CLOSE_TIMEOUT_S = 15


class Recorder(FrameProcessor):
    """Passes every frame on; keeps those going downstream; ``done`` at the first wanted one."""

    def __init__(self, until: Callable[[Frame], bool]) -> None:
        super().__init__()
        self.frames: list[Frame] = []
        self._until = until
        self.done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction == FrameDirection.DOWNSTREAM:
            self.frames.append(frame)
            if self._until(frame) and not self.done.done():
                self.done.set_result(frame)
        await self.push_frame(frame, direction)


async def run_until(
    processors: Sequence[FrameProcessor],
    recorder: Recorder,
    frames: Sequence[Frame],
    *,
    after: Sequence[FrameProcessor] = (),
    params: PipelineParams | None = None,
) -> list[str]:
    """Run ``processors``, ``recorder``, ``after`` on ``frames`` until ``recorder.done``.

    Returns the errors the pipeline reported (the first one also fails ``recorder.done``).
    """
    pipeline = Pipeline([*processors, recorder, *after])
    worker = PipelineWorker(pipeline, params=params or PipelineParams(), idle_timeout_secs=None)
    errors: list[str] = []

    @worker.event_handler("on_pipeline_error")
    async def on_pipeline_error(worker: Any, frame: ErrorFrame) -> None:
        errors.append(str(frame.error))
        if not recorder.done.done():
            recorder.done.set_exception(AssertionError(f"pipecat reported: {frame.error}"))

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    running = asyncio.create_task(runner.run())
    await worker.queue_frames(list(frames))
    try:
        await asyncio.wait_for(recorder.done, RESULT_TIMEOUT_S)
    finally:
        await worker.cancel()
        await asyncio.wait_for(running, CLOSE_TIMEOUT_S)
    return errors


def event_failures(messages: Sequence[str]) -> tuple[list[str], list[str]]:
    """(messages Pipecat's event models reject, types it has no model for)."""
    failures, unmodelled = [], []
    for message in messages:
        try:
            if events.parse_server_event(message) is None:
                unmodelled.append(message[:80])
        except Exception as error:
            failures.append(str(error)[:2000])
    return failures, list(dict.fromkeys(unmodelled))
