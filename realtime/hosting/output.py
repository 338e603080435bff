"""The work of one session's responses: reply streams and speech, one task each.

:class:`ResponseWork` executes the session's ``GenerateReply``/``CancelReply`` and
``Synthesize``/``CancelSynthesis`` commands. A reply task iterates the responder's stream on
the loop and hands each part to the session; a speech task speaks a response's text pieces
in order, pulling each piece's lazy TTS generator one chunk per scheduler job, so
cancellation (barge-in, ``response.cancel``, disconnect) lands between chunks.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from typing import Any

from engines.base import TTSEngine
from engines.tts.output import synthesize_to
from realtime.inference.scheduler import InferenceScheduler
from realtime.responders.base import Responder
from realtime.session import Session
from realtime.session.commands import (
    CancelReply,
    CancelSynthesis,
    GenerateReply,
    ReleaseReply,
    Synthesize,
)
from realtime.session.replies import ReplyDone, ReplyFailed, ReplyPart, TextDelta
from realtime.session.speech_pieces import SpeechPieces

ResponseCommand = GenerateReply | ReleaseReply | CancelReply | Synthesize | CancelSynthesis

log = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, None], str], "asyncio.Task[None] | None"]
"""Starts a task in the session's task group (None once the session ended)."""


class ResponseWork:
    """Reply and speech tasks of one session, by response id.

    Args:
        session: The session the results go to.
        pool: The process's inference scheduler (TTS chunks are pulled on it).
        tts: The speech engine, if any.
        responder: Where replies come from.
        flush: Sends the session's events and dispatches its commands.
        spawn: Starts a task in the session's task group.
    """

    def __init__(
        self,
        session: Session,
        pool: InferenceScheduler,
        tts: TTSEngine | None,
        responder: Responder,
        *,
        flush: Callable[[], None],
        spawn: Spawn,
    ) -> None:
        self.session = session
        self._pool = pool
        self._tts = tts
        self._responder = responder
        self._flush = flush
        self._spawn = spawn
        self._replying: dict[str, asyncio.Task[None]] = {}
        self._held: dict[str, list[ReplyPart]] = {}  # held replies' parts, until released
        self._early: dict[str, _EarlySpeech] = {}  # held replies' first piece, spoken early
        self._held_audio: dict[str, list[bytes]] = {}  # its audio, until the session asks
        self._speaking: dict[str, asyncio.Task[None]] = {}
        self._speech_queues: dict[str, asyncio.Queue[Synthesize]] = {}
        self._unvoiced: set[str] = set()  # spoken replies whose first audio is still to come
        self._voiced = asyncio.Event()  # set while ``_unvoiced`` is empty
        self._voiced.set()

    async def voiced(self, within: float) -> None:
        """Return once every spoken reply in progress has its first audio, or after ``within`` s.

        The session's own speech-recognition work waits on it, so that an answer's first
        words are not slowed down by the turn's final transcript (which nobody waits for).
        """
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._voiced.wait(), within)

    def _expect_voice(self, response_id: str) -> None:
        self._unvoiced.add(response_id)
        self._voiced.clear()

    def _voice_settled(self, response_id: str) -> None:
        """``response_id`` has its first audio, or will have none."""
        self._unvoiced.discard(response_id)
        if not self._unvoiced:
            self._voiced.set()

    def dispatch(self, command: ResponseCommand) -> None:
        """Execute one response command."""
        match command:
            case GenerateReply():
                response_id = command.request.response_id
                if command.request.modality == "audio" and self._tts is not None:
                    self._expect_voice(response_id)
                if command.hold:
                    self._held[response_id] = []
                    if command.speech is not None and self._tts is not None:
                        self._early[response_id] = _EarlySpeech(command.speech)
                self._start(self._replying, "reply", response_id, self._reply(command))
            case ReleaseReply():
                self._release(command.response_id)
            case CancelReply():
                if self._held.pop(command.response_id, None) is not None:
                    self._stop_speech(command.response_id)  # its early speech, if any
                _cancel(self._replying.pop(command.response_id, None))
                self._voice_settled(command.response_id)
            case Synthesize():
                self._queue_speech(command)
            case CancelSynthesis():
                self._stop_speech(command.response_id)

    def cancel_all(self) -> None:
        """Cancel every reply and speech task (the session is ending)."""
        self._held.clear()
        self._early.clear()
        self._held_audio.clear()
        self._unvoiced.clear()
        self._voiced.set()
        for task in [*self._replying.values(), *self._speaking.values()]:
            task.cancel()

    def _start(
        self,
        tasks: dict[str, asyncio.Task[None]],
        kind: str,
        response_id: str,
        work: Coroutine[Any, Any, None],
    ) -> None:
        """Start ``work`` (a ``kind`` task of ``response_id``), tracked in ``tasks``."""
        task = self._spawn(work, f"{kind} {response_id}")
        if task is not None:
            tasks[response_id] = task

    # --- replies ---------------------------------------------------------------------------

    async def _reply(self, command: GenerateReply) -> None:
        """Hand the responder's parts to the session until the reply ends or is cancelled.

        A held reply's parts are kept until it is released (see :class:`ReleaseReply`).
        """
        response_id = command.request.response_id
        stream = self._responder.reply(command.request)
        try:
            async for part in stream:
                self._deliver(response_id, part)
                if isinstance(part, ReplyDone | ReplyFailed):
                    return
            self._deliver(response_id, ReplyDone())  # ended without saying
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the responder failed for %s", response_id)
            self._deliver(response_id, ReplyFailed("The response could not be generated."))
        finally:
            if self._replying.get(response_id) is asyncio.current_task():
                del self._replying[response_id]
            if response_id not in self._speech_queues:  # nothing to speak was cut
                self._voice_settled(response_id)
            close = getattr(stream, "aclose", None)  # async generators hold resources
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()
            self._flush()

    def _deliver(self, response_id: str, part: ReplyPart) -> None:
        held = self._held.get(response_id)
        if held is not None:
            held.append(part)
            if isinstance(part, TextDelta):
                self._speak_early(response_id, part.text)
            return
        self.session.receive_reply_part(response_id, part)
        self._flush()

    def _release(self, response_id: str) -> None:
        for part in self._held.pop(response_id, []):
            self.session.receive_reply_part(response_id, part)
        self._flush()

    # --- TTS -------------------------------------------------------------------------------

    def _speak_early(self, response_id: str, text: str) -> None:
        """Start speaking a held reply's first piece as soon as it is cut (audio kept)."""
        early = self._early.get(response_id)
        if early is None or early.piece is not None:
            return
        pieces = early.cutter.add(text)
        if pieces:
            early.piece = dataclasses.replace(early.template, text=pieces[0])
            self._held_audio[response_id] = []
            self._enqueue(early.piece)

    def _queue_speech(self, command: Synthesize) -> None:
        """Queue a text piece on its response's speech task (started by the first piece).

        The first piece the session asks for, when it is the piece a held reply already
        started speaking, is not spoken again: its audio so far goes to the session, and
        the rest follows as it is made.
        """
        early = self._early.pop(command.response_id, None)
        if early is not None and early.piece is not None:
            if early.piece == command:
                asyncio.get_running_loop().call_soon(self._release_audio, command.response_id)
                return
            self._stop_speech(command.response_id)  # the early piece was not what is asked
        self._enqueue(command)

    def _enqueue(self, command: Synthesize) -> None:
        """Put a piece on its response's speech queue (the first piece starts the task)."""
        queue = self._speech_queues.get(command.response_id)
        if queue is None:
            queue = self._speech_queues[command.response_id] = asyncio.Queue()
            self._start(self._speaking, "speech", command.response_id, self._speak(command, queue))
        queue.put_nowait(command)

    def _release_audio(self, response_id: str) -> None:
        for chunk in self._held_audio.pop(response_id, []):
            self.session.receive_synthesized_audio(response_id, chunk, final=False)
        self._flush()

    def _audio(self, response_id: str, chunk: bytes) -> None:
        """Hand a chunk of speech to the session, or keep it while its piece is early."""
        self._voice_settled(response_id)
        held = self._held_audio.get(response_id)
        if held is not None:
            held.append(chunk)
            return
        self.session.receive_synthesized_audio(response_id, chunk, final=False)
        self._flush()

    def _stop_speech(self, response_id: str) -> None:
        self._voice_settled(response_id)
        self._early.pop(response_id, None)
        self._held_audio.pop(response_id, None)
        self._speech_queues.pop(response_id, None)
        _cancel(self._speaking.pop(response_id, None))

    async def _speak(self, first: Synthesize, queue: asyncio.Queue[Synthesize]) -> None:
        """Speak a response's pieces in order; report the final audio after the last."""
        response_id = first.response_id
        try:
            while True:
                piece = await queue.get()
                if piece.text.strip():
                    await self._synthesize(piece)
                if piece.last:
                    break
            self.session.receive_synthesized_audio(response_id, b"", final=True)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("speech synthesis failed for %s", response_id)
            self._voice_settled(response_id)
            if self._held_audio.pop(response_id, None) is not None:  # early: the session
                self._early.pop(response_id, None)  # will ask for the piece and get a retry
            self.session.receive_synthesis_failed(response_id, "Speech synthesis failed.")
        finally:
            if self._speaking.get(response_id) is asyncio.current_task():
                del self._speaking[response_id]
                self._speech_queues.pop(response_id, None)
        self._flush()

    async def _synthesize(self, command: Synthesize) -> None:
        """Speak one piece, handing each encoded chunk to the session as it is made."""
        tts = self._tts
        if tts is None:
            raise RuntimeError("no speech engine is configured")
        voice = command.voice if command.voice in {v.id for v in tts.voices()} else None
        chunks = synthesize_to(
            tts, command.text, command.output_format, voice=voice, speed=command.speed
        )
        inflight: Future[Any] | None = None  # the pool's own future: cancelling us leaves it
        try:
            while True:
                inflight = self._pool.submit(next, chunks, None)
                chunk = await asyncio.wrap_future(inflight)
                inflight = None
                if chunk is None:
                    return
                self._audio(command.response_id, chunk)
        finally:  # close the generator on a pool thread, after any pull in flight
            if inflight is not None and not inflight.done():
                inflight.add_done_callback(lambda _: self._close_later(chunks))
            else:
                self._close_later(chunks)

    def _close_later(self, chunks: Iterator[bytes]) -> None:
        try:
            self._pool.submit(_close, chunks)
        except RuntimeError:  # the pool is shutting down: close here (nothing else runs it)
            _close(chunks)


class _EarlySpeech:
    """A held reply's early speech: how it will be spoken, and its first piece once cut."""

    def __init__(self, template: Synthesize) -> None:
        self.template = template
        self.cutter = SpeechPieces()
        self.piece: Synthesize | None = None


def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()


def _close(chunks: Iterator[bytes]) -> None:
    """Close a synthesis generator (stops the engine between chunks)."""
    with contextlib.suppress(ValueError, RuntimeError):  # already closed / executing
        chunks.close()  # type: ignore[attr-defined]
