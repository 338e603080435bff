"""One request's run of the batch pipeline, for the ``/v1/audio/*`` transcription routes.

The pipeline (:func:`~realtime.batch.pipeline.transcribe_file`) runs on one worker thread
(``asyncio.to_thread``) that only waits: each heavy step is a BATCH job of the inference
scheduler. As each chunk is decoded its segments are handed to the event loop
(:meth:`PipelineRun.chunks`), for streamed responses. A run that is stopped (the client
left) ends at the pipeline's next checkpoint. Recordings without speech give an empty
transcript, as OpenAI's do.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from aiohttp import web

from engines.base import TokenLogprob, Transcript
from engines.errors import AudioDecodeError, AudioTooLong, EngineError
from realtime.batch.assembly import BatchSegment, BatchTranscript
from realtime.batch.pipeline import NoSpeech, PipelineOptions, transcribe_file
from realtime.batch.request_parsing import BadRequest
from realtime.inference.scheduler import Priority
from realtime.openai_audio.forms import bad_request
from realtime.server.app_keys import ENGINES, INFERENCE
from realtime.server.errors import json_error


@dataclass(frozen=True, slots=True)
class Finished:
    """A run's result.

    Attributes:
        transcript: The transcript (empty when the recording holds no speech).
        logprobs: Its tokens' log-probabilities, when asked for and the engine gives them.
    """

    transcript: BatchTranscript
    logprobs: tuple[TokenLogprob, ...] | None


class PipelineRun:
    """The pipeline over one uploaded file; see the module docstring.

    Args:
        request: The request (for the app's engines and scheduler).
        path: The uploaded file.
        options: Pipeline options.
        diarize: Find the speakers (with the app's embedder).
        report_chunks: Queue each chunk's segments for :meth:`chunks`.
    """

    def __init__(
        self,
        request: web.Request,
        path: str | os.PathLike[str],
        options: PipelineOptions,
        *,
        diarize: bool = False,
        report_chunks: bool = False,
    ) -> None:
        self._app = request.app
        self._path = path
        self._options = options
        self._diarize = diarize
        self._report = report_chunks
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[Sequence[BatchSegment]] = asyncio.Queue()
        self._stop = threading.Event()
        self._logprobs: list[TokenLogprob] | None = []
        self._task: asyncio.Future[BatchTranscript | None] | None = None

    def start(self) -> None:
        """Start the pipeline on its worker thread."""
        self._task = asyncio.ensure_future(asyncio.to_thread(self._work))

    def stop(self) -> None:
        """Ask the pipeline to stop at its next checkpoint (nothing waits for it)."""
        self._stop.set()

    async def chunks(self) -> AsyncIterator[Sequence[BatchSegment]]:
        """Each decoded chunk's segments, in order, until the run ends (however it ends)."""
        task = self._started()
        while True:
            getter = asyncio.ensure_future(self._queue.get())
            waited: set[asyncio.Future[Any]] = {getter, task}
            try:
                await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not getter.done():
                    getter.cancel()
            if getter.done() and not getter.cancelled():
                yield getter.result()
                continue
            while not self._queue.empty():  # queued before the thread ended
                yield self._queue.get_nowait()
            return

    async def result(self) -> Finished:
        """Wait for the end of the run.

        Raises:
            AudioDecodeError, EngineError: the pipeline's errors (:func:`error_response`).
        """
        transcript = await self._started()
        if transcript is None:
            language = self._options.language
            transcript = BatchTranscript(0.0, "", "", language, 0, ())
        logprobs = tuple(self._logprobs) if self._logprobs is not None else None
        return Finished(transcript, logprobs)

    def _started(self) -> asyncio.Future[BatchTranscript | None]:
        if self._task is None:
            raise RuntimeError("the run was not started")
        return self._task

    def _work(self) -> BatchTranscript | None:
        """The pipeline (worker thread); None when the recording holds no speech."""
        engines = self._app[ENGINES]
        steps = partial(self._app[INFERENCE].run, priority=Priority.BATCH)
        try:
            return transcribe_file(
                self._path,
                engines.vad,
                engines.asr,
                self._options,
                embedder=engines.embedder if self._diarize else None,
                label="file",
                should_stop=self._stop.is_set,
                run_step=steps,
                on_chunk=self._on_chunk,
            )
        except NoSpeech:
            return None

    def _on_chunk(self, segments: Sequence[BatchSegment], transcript: Transcript) -> None:
        """A chunk was decoded (worker thread)."""
        if self._logprobs is not None:
            if transcript.logprobs is None:
                self._logprobs = None
            else:
                self._logprobs.extend(transcript.logprobs)
        if self._report:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, segments)


def error_response(exc: BaseException) -> web.Response | None:
    """The JSON error for a pipeline failure or a bad request; None for anything else."""
    if isinstance(exc, BadRequest):
        return bad_request(exc)
    if isinstance(exc, AudioTooLong):
        return json_error(413, str(exc), code="audio_too_long", param="file")
    if isinstance(exc, AudioDecodeError):
        return json_error(400, str(exc), code="invalid_audio", param="file")
    if isinstance(exc, EngineError):
        return json_error(400, str(exc), code="transcription_failed")
    return None
