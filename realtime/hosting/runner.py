"""The imperative shell around one :class:`~realtime.session.Session`.

A :class:`SessionRunner` executes the session's commands and feeds the results back,
handing the session's events to the transport. Engine work runs on the process's
:class:`~realtime.inference.scheduler.InferenceScheduler`, never on the event loop:

* one VAD worker task: chunks queued since the last call are scored in one URGENT job;
* one ASR worker task turns ASR commands into jobs of the session's serial
  :class:`~realtime.inference.scheduler.Lane` at once, without waiting for them: feeds and
  resets at PARTIAL priority, partial requests and speculative finals as ``latest``
  PARTIAL jobs (replaced by a newer one, dropped by the final), a speculation's quick
  guess (``SpeculateFinal.guess``) as an URGENT job before it, the final (with the
  annotation of its utterance when the session opted in to transcription extras:
  :func:`~realtime.inference.annotation.annotate_utterance`) as one URGENT job, which the
  feeds before it inherit;
* one ASR results task applies partial deltas and finals in submission order;
* one task per response for its reply: the responder's stream is iterated on the loop and
  each part handed to the session; cancelling the response closes the stream;
* one task per response for speech: each text piece's lazy TTS generator is pulled one
  chunk per URGENT job, so cancellation (barge-in, ``response.cancel``, disconnect) lands
  between chunks.

Every decision about turns (when to ask for partials, when to speculate, which options an
utterance is decoded with) is the session's; the runner only schedules. Clearing the
buffer cancels the item's queued ASR jobs (a partial in flight finishes and is discarded);
when :meth:`SessionRunner.run` ends the lane is closed the same way. All tasks belong to
one :class:`asyncio.TaskGroup` per connection. Engine and responder failures are logged
with their traceback and reported to the client without internals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from engines.base import (
    PCM,
    ASROptions,
    ASRStream,
    Engines,
    SpeculativeASRStream,
    Transcript,
    VADOptions,
    VADStream,
)
from engines.diarization.online import OnlineSpeakerTracker
from protocol import ClientEvent, InvalidEvent, ServerEvent, parse_client_event
from protocol.codec import Dialect
from realtime.hosting.output import ResponseWork
from realtime.inference.annotation import Annotation, annotate_utterance
from realtime.inference.scheduler import Dropped, InferenceScheduler, Priority
from realtime.responders import Responder
from realtime.responders.scripted import SayResponder
from realtime.session import Capabilities, Session
from realtime.session.commands import (
    ASRCommand,
    CancelReply,
    CancelSynthesis,
    CancelTranscript,
    Command,
    ConfigureVAD,
    DetectSpeech,
    FeedTranscriber,
    FinalizeTranscript,
    GenerateReply,
    ReleaseReply,
    RequestPartial,
    SpeculateFinal,
    StartTranscript,
    Synthesize,
)

log = logging.getLogger(__name__)

REPLY_FIRST_S = 2.5
"""Longest a quick-reply turn's final-model work waits for the reply's first audio."""

_VADCommand = ConfigureVAD | DetectSpeech


def capabilities(
    engines: Engines,
    responder: Responder,
    *,
    early_replies: bool = True,
    quick_replies: bool = False,
) -> Capabilities:
    """What a session hosted with ``engines`` and ``responder`` can offer.

    ``asr_logprobs`` comes from the ASR engine's optional ``gives_logprobs`` attribute
    (absent: False); ``early_replies`` is the ``llm_early_replies`` setting,
    ``quick_replies`` whether ``llm_reply_transcript`` is ``quick``.
    """
    return Capabilities(
        tts=engines.tts is not None,
        tagger=engines.tagger is not None,
        embedder=engines.embedder is not None,
        speculative_asr=isinstance(engines.asr.open_stream(ASROptions()), SpeculativeASRStream),
        reads_transcripts=responder.reads_transcripts,
        asr_logprobs=bool(getattr(engines.asr, "gives_logprobs", False)),
        early_replies=early_replies,
        quick_replies=quick_replies,
    )


class SessionRunner:
    """Drives one session.

    Args:
        session: The sans-I/O session.
        engines: Shared engines (streams are opened here, per session).
        pool: The process's inference scheduler (the session gets a lane of it).
        dialect: The connection's dialect (for parsing client events).
        emit: Called on the event loop with each server event, in order.
        observe: Called on the event loop with each parsed client event (metrics).
        responder: Where replies come from (default: ``say``).
    """

    def __init__(
        self,
        session: Session,
        engines: Engines,
        pool: InferenceScheduler,
        *,
        dialect: Dialect,
        emit: Callable[[ServerEvent], None],
        observe: Callable[[ClientEvent], None] | None = None,
        responder: Responder | None = None,
    ) -> None:
        self.session = session
        self._engines = engines
        self._pool = pool
        self._dialect = dialect
        self._emit = emit
        self._observe = observe
        self._vad_queue: asyncio.Queue[_VADCommand] = asyncio.Queue()
        self._asr_queue: asyncio.Queue[ASRCommand] = asyncio.Queue()
        self._lane = pool.lane("session")
        self._results: asyncio.Queue[tuple[ASRCommand | _Guess, Future[Any]]] = asyncio.Queue()
        self._guessed: set[str] = set()  # items whose final work waits for the quick reply
        self._guess_applied = asyncio.Event()  # set while no guess is in flight
        self._guess_applied.set()
        self._vad: VADStream | None = None
        self._asr_opened_with = ASROptions()
        self._asr: ASRStream = engines.asr.open_stream(self._asr_opened_with)
        self._output = ResponseWork(
            session,
            pool,
            engines.tts,
            responder if responder is not None else SayResponder(),
            flush=self.flush,
            spawn=self._spawn,
        )
        self._annotating = StartTranscript("", ASROptions())  # what the utterance wants
        self._utterance: list[PCM] = []  # the current item's audio, kept only for extras
        self._lost: set[str] = set()  # items a feed failed for (touched by lane jobs only)
        self._tracker: OnlineSpeakerTracker | None = None
        self._group: asyncio.TaskGroup | None = None
        self._stopped = asyncio.Event()
        self._idle = asyncio.Event()  # set while no response is in progress
        self._idle.set()

    # --- lifecycle -------------------------------------------------------------------------

    async def run(self) -> None:
        """Run the workers until :meth:`stop`; cancels every task it started on the way out."""
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                workers = [
                    group.create_task(self._vad_worker(), name="vad"),
                    group.create_task(self._asr_worker(), name="asr"),
                    group.create_task(self._asr_results(), name="asr results"),
                ]
                self.flush()  # session.created and the initial VAD configuration
                await self._stopped.wait()
                for task in workers:
                    task.cancel()
                self._output.cancel_all()
        finally:
            self._group = None
            self._lane.close()  # drop queued ASR work, discard what is in flight

    def stop(self) -> None:
        """Ask :meth:`run` to finish (idempotent; safe from any task on the loop)."""
        self._stopped.set()

    async def drain(self, *, grace_s: float) -> None:
        """Wait (at most ``grace_s`` seconds) until no response is in progress."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), grace_s)

    # --- input from the transport ------------------------------------------------------------

    def receive_text(self, data: str) -> None:
        """One text frame from the client."""
        try:
            event = parse_client_event(data, self._dialect)
        except InvalidEvent as exc:
            self.session.receive_invalid_event(exc)
        else:
            self.session.receive_client_event(event)
            if self._observe is not None:
                self._observe(event)
        self.flush()

    def receive_audio(self, pcm: PCM, rate: int) -> None:
        """Input audio carried natively by the transport (mono int16 at ``rate`` Hz)."""
        self.session.receive_audio(pcm, rate)
        self.flush()

    def flush(self) -> None:
        """Send the session's events, then dispatch its commands (the session's contract)."""
        for event in self.session.events_to_send():
            self._emit(event)
        for command in self.session.commands():
            self._dispatch(command)
        if self.session.responding:
            self._idle.clear()
        else:
            self._idle.set()

    def _dispatch(self, command: Command) -> None:
        match command:
            case ConfigureVAD() | DetectSpeech():
                self._vad_queue.put_nowait(command)
            case (
                StartTranscript()
                | FeedTranscriber()
                | RequestPartial()
                | SpeculateFinal()
                | FinalizeTranscript()
                | CancelTranscript()
            ):
                self._asr_queue.put_nowait(command)
            case (
                GenerateReply() | ReleaseReply() | CancelReply() | Synthesize() | CancelSynthesis()
            ):
                self._output.dispatch(command)

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None] | None:
        """Run ``work`` in the session's task group (None, closed, once the session ended)."""
        if self._group is None:
            work.close()
            return None
        return self._group.create_task(work, name=name)

    async def _in_pool(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    # --- VAD -------------------------------------------------------------------------------

    async def _vad_worker(self) -> None:
        while True:
            batch = [await self._vad_queue.get()]
            while not self._vad_queue.empty():
                batch.append(self._vad_queue.get_nowait())
            for command in batch:
                if isinstance(command, ConfigureVAD):
                    self._vad = self._open_vad(command.options)
            chunks = [c.chunk for c in batch if isinstance(c, DetectSpeech)]
            stream = self._vad
            if stream is None or not chunks:
                continue
            try:
                events = await self._in_pool(_feed_all, stream, chunks)
            except Exception:
                log.exception("VAD failed; reopening the stream")
                # turn detection goes on from the next chunk
                self._vad = self._open_vad(self.session.detector_options())
                self.session.report_server_error()
                self.flush()
                continue
            self.session.receive_vad_events(events, chunks[-1].end)
            self.flush()

    def _open_vad(self, options: VADOptions | None) -> VADStream | None:
        """A VAD stream for ``options`` (None: VAD off)."""
        return None if options is None else self._engines.vad.open_stream(options)

    # --- ASR -------------------------------------------------------------------------------

    def _submit(
        self,
        fn: Callable[[], Any],
        priority: Priority,
        item_id: str,
        *,
        latest: bool = False,
        cadence: bool = True,
    ) -> Future[Any]:
        return self._lane.submit(fn, priority=priority, latest=latest, cadence=cadence, tag=item_id)

    async def _asr_worker(self) -> None:
        """Turn ASR commands into lane jobs at once (never waiting for one to run).

        The scheduler orders them (the lane is serial), lets a final pull the feeds before
        it, and replaces or skips partials; :meth:`_asr_results` applies the results.
        """
        while True:
            pending = [await self._asr_queue.get()]
            while not self._asr_queue.empty():
                pending.append(self._asr_queue.get_nowait())
            for index, command in enumerate(pending):
                later = pending[index + 1 :]
                if isinstance(command, SpeculateFinal) and command.guess:
                    self._guess(command, later)
                if command.item_id in self._guessed and isinstance(
                    command, SpeculateFinal | FinalizeTranscript
                ):
                    await self._reply_voiced()
                self._schedule_asr(command, later)

    def _guess(self, command: SpeculateFinal, later: list[ASRCommand]) -> None:
        """Submit a pause's quick guess (URGENT: a reply waits for it)."""
        self._guessed.add(command.item_id)
        if _paused_again(command, later) or not isinstance(self._asr, SpeculativeASRStream):
            return
        self._guess_applied.clear()
        future = self._submit(self._asr.guess, Priority.URGENT, command.item_id)
        self._results.put_nowait((_Guess(command.item_id, command.token), future))

    async def _reply_voiced(self) -> None:
        """Wait (at most :data:`REPLY_FIRST_S`) until the guess is applied and the reply speaks.

        With quick replies the turn's final-model decode is not needed for the answer, so
        it waits for the answer's first audio instead of competing with it for the CPU.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + REPLY_FIRST_S
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._guess_applied.wait(), REPLY_FIRST_S)
        await self._output.voiced(max(0.0, deadline - loop.time()))

    def _schedule_asr(self, command: ASRCommand, later: list[ASRCommand]) -> None:
        """Submit the lane job for one ASR command (``later``: the commands queued after it)."""
        item_id = command.item_id
        match command:
            case StartTranscript():
                self._start_utterance(command)
            case FeedTranscriber():
                if self._annotating.tags or self._annotating.speakers:
                    self._utterance.append(command.chunk.samples)
                feed = partial(_feed, self._asr, command.chunk, self._lost, item_id)
                self._track(self._submit(feed, Priority.PARTIAL, item_id))
            case RequestPartial():
                if not _superseded(command, later):
                    future = self._submit(self._asr.partial, Priority.PARTIAL, item_id, latest=True)
                    self._results.put_nowait((command, future))
            case SpeculateFinal():
                if isinstance(self._asr, SpeculativeASRStream) and not _superseded(command, later):
                    speculate = partial(self._asr.speculate, command.token)
                    future = self._submit(
                        speculate, Priority.PARTIAL, item_id, latest=True, cadence=False
                    )
                    self._results.put_nowait((command, future))
            case FinalizeTranscript():
                self._guessed.discard(item_id)
                job = partial(
                    self._finalize,
                    self._asr,
                    self._extras_job(),
                    self._lost,
                    item_id,
                    command.speculation,
                )
                self._results.put_nowait((command, self._submit(job, Priority.URGENT, item_id)))
            case CancelTranscript():
                self._guessed.discard(item_id)
                # drop the item's queued feeds and partial; discard a partial in flight
                self._lane.cancel(item_id)
                self._track(self._submit(self._asr.reset, Priority.PARTIAL, item_id))
                self._utterance = []

    def _start_utterance(self, command: StartTranscript) -> None:
        """A new utterance: its options apply from here (reopen the stream if they changed)."""
        if command.options != self._asr_opened_with:
            self._asr_opened_with = command.options
            self._asr = self._engines.asr.open_stream(command.options)
        self._annotating = command
        self._utterance = []

    def _track(self, future: Future[Any]) -> None:
        """Log a failure of a job whose result nobody awaits (feeds, resets)."""
        future.add_done_callback(_log_failure)

    def _extras_job(self) -> Callable[[Transcript], Annotation | None]:
        """The annotation step of the utterance just finalised, bound now (on the loop)."""
        audio, self._utterance = self._utterance, []
        tagging = self._annotating.tags and self._engines.tagger is not None
        tracking = self._annotating.speakers and self._engines.embedder is not None
        if not (tagging or tracking) or not audio:
            return lambda _transcript: None
        if tracking and self._tracker is None:
            assert self._engines.embedder is not None
            self._tracker = OnlineSpeakerTracker(self._engines.embedder)
        tagger = self._engines.tagger if tagging else None
        tracker = self._tracker if tracking else None

        def annotate(transcript: Transcript) -> Annotation | None:
            try:
                return annotate_utterance(
                    np.concatenate(audio),
                    transcript,
                    tagger=tagger,
                    tracker=tracker,
                )
            except Exception:
                log.exception("annotating the utterance failed; sending the plain transcript")
                return None

        return annotate

    @staticmethod
    def _finalize(
        stream: ASRStream,
        annotate: Callable[[Transcript], Annotation | None],
        lost: set[str],
        item_id: str,
        speculation: int | None = None,
    ) -> tuple[Transcript, Annotation | None]:
        """The final transcript and its extras (one URGENT job on a worker thread).

        Raises (so the item is reported failed) when a feed of the item raised: its audio
        is incomplete, and a truncated transcript must not pass for the whole utterance.
        """
        try:
            if item_id in lost:
                lost.discard(item_id)
                raise RuntimeError(f"audio of {item_id} was lost: a feed failed")
            if speculation is not None and isinstance(stream, SpeculativeASRStream):
                transcript = stream.finalize(speculation=speculation)
            else:
                transcript = stream.finalize()
        except Exception:
            with contextlib.suppress(Exception):
                stream.reset()
            raise
        return transcript, annotate(transcript)

    async def _asr_results(self) -> None:
        """Apply partial and final results in submission order (the lane's order)."""
        while True:
            command, future = await self._results.get()
            try:
                await self._apply_result(command, future)
            finally:
                if isinstance(command, _Guess):
                    self._guess_applied.set()

    async def _apply_result(self, command: ASRCommand | _Guess, future: Future[Any]) -> None:
        """Apply one partial, speculation, guess or final result (or its failure)."""
        item_id = command.item_id
        try:
            result = await asyncio.wrap_future(future)
        except Dropped:
            return
        except Exception:
            if isinstance(command, RequestPartial | SpeculateFinal | _Guess):
                log.exception("partial transcription failed for %s", item_id)
                return
            log.exception("transcription failed for %s", item_id)
            self.session.receive_transcription_failed(
                item_id, "The audio could not be transcribed."
            )
        else:
            if isinstance(command, RequestPartial):
                for delta in result:
                    self.session.receive_transcript_delta(item_id, delta)
            elif isinstance(command, SpeculateFinal | _Guess):
                if result is not None:
                    self.session.receive_speculative_transcript(
                        item_id, command.token, result, quick=isinstance(command, _Guess)
                    )
            else:
                transcript, annotation = result
                self.session.receive_transcript(item_id, transcript, annotation)
        self.flush()


@dataclass(frozen=True, slots=True)
class _Guess:
    """The quick guess a :class:`SpeculateFinal` asked for first (its result's tag)."""

    item_id: str
    token: int


def _paused_again(command: SpeculateFinal, later: list[ASRCommand]) -> bool:
    """A later pause of the same utterance makes this pause's guess pointless."""
    return any(isinstance(c, SpeculateFinal) and c.item_id == command.item_id for c in later)


def _superseded(command: RequestPartial | SpeculateFinal, later: list[ASRCommand]) -> bool:
    """A later command of the same kind, or the final, makes this one pointless (latest-wins)."""
    blockers = (type(command), FinalizeTranscript)
    return any(isinstance(c, blockers) and c.item_id == command.item_id for c in later)


def _log_failure(future: Future[Any]) -> None:
    if future.cancelled():
        return
    error = future.exception()
    if error is not None and not isinstance(error, Dropped):
        log.error("inference job failed", exc_info=error)


def _feed(stream: ASRStream, chunk: Any, lost: set[str], item_id: str) -> None:
    """Feed one chunk of an item; on failure mark the item lost (its final then fails)."""
    try:
        stream.feed(chunk)
    except Exception:
        lost.add(item_id)
        raise


def _feed_all(stream: VADStream, chunks: list[Any]) -> list[Any]:
    """Feed chunks to a VAD stream in order; all edges found (runs on a pool thread)."""
    events = []
    for chunk in chunks:
        events.extend(stream.feed(chunk))
    return events
