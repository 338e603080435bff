"""``stream=true`` transcriptions: server-sent events, as OpenAI's for gpt-4o-transcribe.

Events (each ``data: <json>``): ``transcript.text.delta`` (``delta``) for each segment as
soon as its chunk is decoded (up to 30 s of speech per decode), then
``transcript.text.done`` (``text``; ``logprobs`` when asked for). The deltas joined are the
done event's text. With ``response_format=diarized_json`` the speakers are known only at
the end, so every event comes then: per segment a delta (with ``segment_id``) and a
``transcript.text.segment`` event (``id``, ``start``, ``end``, ``text``, ``speaker``).

Errors: whatever fails before the first event is an ordinary JSON 4xx (the response has
not started: an undecodable file, too long, …). A failure after it ends the stream with
``{"type": "error", "error": {...}}`` (the SDK raises ``APIError``); the detail is logged,
not sent. A client that hangs up stops the pipeline at its next checkpoint.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from realtime.openai_audio.renderings import diarized_segments, logprob_list
from realtime.openai_audio.runs import Finished, PipelineRun, error_response

log = logging.getLogger(__name__)

STREAM_FORMATS = frozenset({"json", "text", "diarized_json"})
"""The response formats a streamed transcription may ask for."""

Labeller = Callable[[Finished], Awaitable[Mapping[str, str]]]
"""Speaker labels of a finished diarized run (``"0"`` → ``"A"`` or a known name)."""


class _Events:
    """The event stream of one response: deltas so far, and the closing events."""

    def __init__(self, response: web.StreamResponse, *, logprobs: bool) -> None:
        self._response = response
        self._logprobs = logprobs
        self.text = ""

    async def send(self, payload: dict[str, Any]) -> None:
        await self._response.write(f"data: {json.dumps(payload)}\n\n".encode())

    async def delta(self, text: str, **extra: Any) -> None:
        """A delta that appends ``text`` (after a space, unless it is the first)."""
        if not text:
            return
        delta = f" {text}" if self.text else text
        self.text += delta
        await self.send({"type": "transcript.text.delta", "delta": delta, **extra})

    async def done(self, finished: Finished) -> None:
        """The rest of the text (if the deltas fell short of it), then the done event."""
        text = finished.transcript.plain_text
        if text.startswith(self.text) and len(text) > len(self.text):
            rest = text[len(self.text) :]
            self.text = text
            await self.send({"type": "transcript.text.delta", "delta": rest})
        done: dict[str, Any] = {"type": "transcript.text.done", "text": text}
        if self._logprobs:
            done["logprobs"] = logprob_list(finished.logprobs)
        await self.send(done)

    async def error(self) -> None:
        error = {
            "type": "server_error",
            "code": "transcription_failed",
            "message": "the transcription failed",
            "param": None,
        }
        await self.send({"type": "error", "error": error})


async def _open(request: web.Request, *, logprobs: bool) -> tuple[web.StreamResponse, _Events]:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    return response, _Events(response, logprobs=logprobs)


async def stream_transcript(
    request: web.Request, run: PipelineRun, *, logprobs: bool
) -> web.StreamResponse:
    """Stream a run's segments as deltas while it decodes; see the module docstring."""
    run.start()
    chunks = run.chunks()
    first = await anext(chunks, None)
    if first is None:  # over before any chunk: a failure is still an ordinary error
        try:
            finished = await run.result()
        except Exception as exc:
            answer = error_response(exc)
            if answer is None:
                raise
            return answer
    response, events = await _open(request, logprobs=logprobs)
    try:
        if first is not None:
            for seg in first:
                await events.delta(seg.text)
            async for segments in chunks:
                for seg in segments:
                    await events.delta(seg.text)
            finished = await run.result()
        await events.done(finished)
    except ConnectionError:  # the client hung up: nothing to tell it
        run.stop()
        return response
    except Exception:
        log.exception("transcription failed after the stream started")
        run.stop()
        await events.error()
    await response.write_eof()
    return response


async def stream_diarized(
    request: web.Request, run: PipelineRun, labeller: Labeller
) -> web.StreamResponse:
    """A diarized run's events, all sent once it is finished (speakers are known then)."""
    run.start()
    try:
        finished = await run.result()
        speakers = await labeller(finished)
    except Exception as exc:
        answer = error_response(exc)
        if answer is None:
            raise
        return answer
    response, events = await _open(request, logprobs=False)
    try:
        for segment in diarized_segments(finished.transcript, speakers):
            await events.delta(segment["text"], segment_id=segment["id"])
            await events.send(segment)
        await events.done(finished)
    except ConnectionError:
        return response
    await response.write_eof()
    return response
