"""The imperative shell around one :class:`~realtime.session.Session`.

A :class:`SessionRunner` owns the session's engine streams and executes the session's
commands on the process's :class:`~realtime.scheduler.InferenceScheduler` (never on the
event loop), feeding results back into the session and handing its events to the transport:

* one VAD worker task: chunks queued since the last call are scored in one URGENT job;
* one ASR worker task turns ASR commands into jobs of the session's serial
  :class:`~realtime.scheduler.Lane` at once, without waiting for them: feeds and resets at
  PARTIAL priority, partial requests as ``latest`` PARTIAL jobs (replaced by a newer one,
  dropped by the final, skipped under load), the final (and, when the session opted in to
  transcription extras, the annotation of its utterance:
  :func:`~realtime.annotation.annotate_utterance`: YAMNet events, prosody marks, the
  session's online speaker tracker) as one URGENT job, which the feeds before it inherit.
  A partial is asked for only when audio arrived since the last one. A failing annotation
  is logged and the plain transcript is delivered;
* speculative finals: the VAD stream also reports a PAUSE once the speaker has been silent
  for :data:`SPECULATE_AFTER_MS` (and RESUME if they go on). On a PAUSE the ASR stream
  decodes its final ahead of time (a ``latest`` PARTIAL job, dropped when the final joins
  the lane before it started, never skipped by adaptive cadence: skipping it would save no
  work, the final would do it; no partials are asked for during the pause); if the
  turn then ends with no RESUME, the final reuses that decode, so it arrives about a
  silence duration sooner. Streams without ``speculate`` are finalised as before;
* one ASR results task applies partial deltas and finals in submission order;
* one task per response for TTS: the lazy generator is pulled one chunk per URGENT job, so
  cancellation (``CancelSynthesis``, barge-in, disconnect) lands between chunks.

Clearing the buffer cancels the item's queued ASR jobs (a partial in flight finishes and
is discarded); when :meth:`SessionRunner.run` ends the lane is closed the same way.
All tasks belong to one :class:`asyncio.TaskGroup` per connection (:meth:`run`).
Engine failures are logged with their traceback and reported to the client without
internals (``…transcription.failed`` for an item, ``response.done`` failed for speech).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterator
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
    SpeechEdge,
    Transcript,
    VADEvent,
    VADOptions,
    VADStream,
)
from engines.diarization.online import OnlineSpeakerTracker
from engines.tts.output import synthesize_to
from protocol import (
    ClientEvent,
    InvalidEvent,
    ServerEvent,
    TranscriptionSession,
    parse_client_event,
)
from protocol.codec import Dialect
from realtime.annotation import Annotation, annotate_utterance
from realtime.commands import (
    CancelSynthesis,
    CancelTranscript,
    CloseConnection,
    Command,
    ConfigureVAD,
    DetectSpeech,
    FeedTranscriber,
    FinalizeTranscript,
    RequestPartial,
    Synthesize,
)
from realtime.scheduler import Dropped, InferenceScheduler, Priority
from realtime.session import Session

log = logging.getLogger(__name__)

SPECULATE_AFTER_MS = 120
"""Silence inside speech after which the final is decoded ahead of time (VAD PAUSE).

Short enough to leave most of a 500 ms ``silence_duration_ms`` for the decode; long enough
that the gaps between words (mostly under 100 ms) rarely start one for nothing."""


@dataclass(frozen=True, slots=True)
class _SpeechHint:
    """A VAD PAUSE or RESUME, passed from the VAD worker to the ASR worker."""

    edge: SpeechEdge


_ASRCommand = FeedTranscriber | RequestPartial | FinalizeTranscript | CancelTranscript | _SpeechHint
_VADCommand = ConfigureVAD | DetectSpeech


class SessionRunner:
    """Drives one session.

    Args:
        session: The sans-I/O session.
        engines: Shared engines (streams are opened here, per session).
        pool: The process's inference scheduler (the session gets a lane of it).
        dialect: The connection's dialect (for parsing client events).
        emit: Called on the event loop with each server event, in order.
        close: Called on the event loop to close the connection (code, reason).
        observe: Called on the event loop with each parsed client event (metrics).
    """

    def __init__(
        self,
        session: Session,
        engines: Engines,
        pool: InferenceScheduler,
        *,
        dialect: Dialect,
        emit: Callable[[ServerEvent], None],
        close: Callable[[int, str], None],
        observe: Callable[[ClientEvent], None] | None = None,
    ) -> None:
        self.session = session
        self._engines = engines
        self._pool = pool
        self._dialect = dialect
        self._emit = emit
        self._close = close
        self._observe = observe
        self._vad_queue: asyncio.Queue[_VADCommand] = asyncio.Queue()
        self._asr_queue: asyncio.Queue[_ASRCommand] = asyncio.Queue()
        self._lane = pool.lane("session")
        self._results: asyncio.Queue[tuple[_ASRCommand, Future[Any]]] = asyncio.Queue()
        self._vad: VADStream | None = None
        self._asr_opened_with = self._asr_options()
        self._asr: ASRStream = engines.asr.open_stream(self._asr_opened_with)
        self._speaking: dict[str, asyncio.Task[None]] = {}
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
                for task in [*workers, *self._speaking.values()]:
                    task.cancel()
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
            case FeedTranscriber() | RequestPartial() | FinalizeTranscript() | CancelTranscript():
                self._asr_queue.put_nowait(command)
            case Synthesize():
                if self._group is not None:
                    task = self._group.create_task(
                        self._synthesize(command), name=f"tts {command.response_id}"
                    )
                    self._speaking[command.response_id] = task
            case CancelSynthesis():
                task = self._speaking.pop(command.response_id, None)
                if task is not None:
                    task.cancel()
            case CloseConnection():
                self._close(command.code, command.reason)

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
                self._vad = self._open_vad(self.session.vad_options)
                self.session.report_server_error()
                self.flush()
                continue
            hints = _hints(events)
            if any(h.edge is SpeechEdge.RESUME for h in hints):  # before a final can use it
                self._asr_queue.put_nowait(_SpeechHint(SpeechEdge.RESUME))
            self.session.receive_vad_events(events, chunks[-1].end)
            self.flush()
            if hints and hints[-1].edge is SpeechEdge.PAUSE:  # after the feeds it decodes
                self._asr_queue.put_nowait(hints[-1])

    def _open_vad(self, options: VADOptions | None) -> VADStream | None:
        """A VAD stream for ``options`` (None: VAD off), reporting pauses when speculating."""
        if options is None:
            return None
        if self._speculating():
            options = dataclasses.replace(options, pause_ms=SPECULATE_AFTER_MS)
        return self._engines.vad.open_stream(options)

    def _speculating(self) -> bool:
        """The ASR stream can decode its final ahead of time."""
        return isinstance(self._asr, SpeculativeASRStream)

    # --- ASR -------------------------------------------------------------------------------

    def _asr_options(self) -> ASROptions:
        config = self.session.config
        transcription = config.audio.input.transcription
        language = transcription.language if transcription and transcription.language else None
        prompt = transcription.prompt if transcription and transcription.prompt else None
        verbatim = self._tagging()  # fillers and Whisper's own annotations, for the tagger
        if isinstance(config, TranscriptionSession) or transcription is not None:
            return ASROptions(language=language, prompt=prompt, verbatim=verbatim)
        return ASROptions(verbatim=verbatim)

    def _tagging(self) -> bool:
        """Non-speech events are wanted and a tagger is loaded."""
        extras = self.session.extras
        wanted = extras.non_speech_tags or extras.audio_tag_events
        return wanted and self._engines.tagger is not None

    def _tracking(self) -> bool:
        """Speaker labels are wanted and an embedder is loaded."""
        return self.session.extras.speaker_segments and self._engines.embedder is not None

    def _reopen_asr_if_changed(self) -> None:
        options = self._asr_options()
        if options != self._asr_opened_with:
            self._asr_opened_with = options
            self._asr = self._engines.asr.open_stream(options)

    def _submit(
        self, fn: Callable[[], Any], priority: Priority, item_id: str, *, latest: bool = False
    ) -> Future[Any]:
        return self._lane.submit(fn, priority=priority, latest=latest, tag=item_id)

    async def _asr_worker(self) -> None:
        """Turn ASR commands into lane jobs at once (never waiting for one to run).

        The scheduler orders them (the lane is serial), lets a final pull the feeds before
        it, and replaces or skips partials; :meth:`_asr_results` applies the results.
        """
        current: str | None = None  # the item the stream is hearing
        fresh = False  # audio was fed since the last partial decode was asked for
        paused: int | None = None  # the speculation token of the pause the speaker is in
        tokens = 0
        while True:
            pending = [await self._asr_queue.get()]
            while not self._asr_queue.empty():
                pending.append(self._asr_queue.get_nowait())
            for index, command in enumerate(pending):
                later = pending[index + 1 :]
                if isinstance(command, _SpeechHint):
                    if current is None:  # the turn ended first: nothing to speculate on
                        continue
                    if command.edge is SpeechEdge.RESUME:
                        paused = None
                    elif self._speculating():
                        tokens += 1
                        paused = tokens
                        speculate = partial(self._asr.speculate, tokens)  # type: ignore[attr-defined]
                        future = self._lane.submit(
                            speculate,
                            priority=Priority.PARTIAL,
                            latest=True,
                            cadence=False,
                            tag=current,
                        )
                        self._track(future)
                    continue
                item_id = command.item_id
                if isinstance(command, FeedTranscriber):
                    if current not in (None, item_id):  # an unfinished turn was abandoned
                        self._track(self._submit(self._asr.reset, Priority.PARTIAL, item_id))
                    if current != item_id:
                        self._reopen_asr_if_changed()  # language/prompt apply from the next turn
                        self._utterance = []
                        paused = None
                    current = item_id
                    if self._tagging() or self._tracking():
                        self._utterance.append(command.chunk.samples)
                    feed = partial(_feed, self._asr, command.chunk, self._lost, item_id)
                    self._track(self._submit(feed, Priority.PARTIAL, item_id))
                    fresh = True
                elif isinstance(command, RequestPartial):
                    superseded = any(
                        isinstance(c, RequestPartial | FinalizeTranscript) and c.item_id == item_id
                        for c in later
                    )
                    if not superseded and item_id == current and fresh and paused is None:
                        future = self._submit(
                            self._asr.partial, Priority.PARTIAL, item_id, latest=True
                        )
                        fresh = _skipped(future)  # a skipped request decoded nothing
                        self._results.put_nowait((command, future))
                elif isinstance(command, FinalizeTranscript):
                    job = partial(
                        self._finalize, self._asr, self._extras_job(), self._lost, item_id, paused
                    )
                    self._results.put_nowait((command, self._submit(job, Priority.URGENT, item_id)))
                    current, fresh, paused = None, False, None
                elif isinstance(command, CancelTranscript) and item_id == current:
                    # drop the item's queued feeds and partial; discard a partial in flight
                    self._lane.cancel(item_id)
                    self._track(self._submit(self._asr.reset, Priority.PARTIAL, item_id))
                    self._utterance = []
                    current, fresh, paused = None, False, None

    def _track(self, future: Future[Any]) -> None:
        """Log a failure of a job whose result nobody awaits (feeds, resets)."""
        future.add_done_callback(_log_failure)

    def _extras_job(self) -> Callable[[Transcript], Annotation | None]:
        """The annotation step of the utterance just finalised, bound now (on the loop)."""
        audio, self._utterance = self._utterance, []
        tagging, tracking = self._tagging(), self._tracking()
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
                    tagger=tagger,  # type: ignore[arg-type]
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
            item_id = command.item_id
            try:
                result = await asyncio.wrap_future(future)
            except Dropped:
                continue
            except Exception:
                if isinstance(command, RequestPartial):
                    log.exception("partial transcription failed for %s", item_id)
                    continue
                log.exception("transcription failed for %s", item_id)
                self.session.receive_transcription_failed(
                    item_id, "The audio could not be transcribed."
                )
            else:
                if isinstance(command, RequestPartial):
                    for delta in result:
                        self.session.receive_transcript_delta(item_id, delta)
                else:
                    transcript, annotation = result
                    self.session.receive_transcript(item_id, transcript, annotation)
            self.flush()

    # --- TTS -------------------------------------------------------------------------------

    async def _synthesize(self, command: Synthesize) -> None:
        tts = self._engines.tts
        chunks: Iterator[bytes] | None = None
        inflight: Future[Any] | None = None  # the pool's own future: cancelling us leaves it
        try:
            if tts is None:
                raise RuntimeError("no speech engine is configured")
            voice = command.voice if command.voice in {v.id for v in tts.voices()} else None
            chunks = synthesize_to(
                tts, command.text, command.output_format, voice=voice, speed=command.speed
            )
            while True:
                inflight = self._pool.submit(next, chunks, None)
                chunk = await asyncio.wrap_future(inflight)
                inflight = None
                if chunk is None:
                    break
                self.session.receive_synthesized_audio(command.response_id, chunk, final=False)
                self.flush()
            self.session.receive_synthesized_audio(command.response_id, b"", final=True)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("speech synthesis failed for %s", command.response_id)
            self.session.receive_synthesis_failed(command.response_id, "Speech synthesis failed.")
        finally:
            self._speaking.pop(command.response_id, None)
            if chunks is not None:  # close the generator on a pool thread, after any pull in flight
                if inflight is not None and not inflight.done():
                    inflight.add_done_callback(lambda _: self._close_later(chunks))
                else:
                    self._close_later(chunks)
        self.flush()

    def _close_later(self, chunks: Iterator[bytes]) -> None:
        try:
            self._pool.submit(_close, chunks)
        except RuntimeError:  # the pool is shutting down: close here (nothing else runs it)
            _close(chunks)


def _skipped(future: Future[Any]) -> bool:
    """The scheduler skipped this partial request at once (adaptive cadence)."""
    if not future.done() or future.cancelled():
        return False
    error = future.exception()
    return isinstance(error, Dropped) and error.reason == "skipped"


def _log_failure(future: Future[Any]) -> None:
    if future.cancelled():
        return
    error = future.exception()
    if error is not None and not isinstance(error, Dropped):
        log.error("inference job failed", exc_info=error)


def _close(chunks: Iterator[bytes]) -> None:
    """Close a synthesis generator (stops the engine between chunks)."""
    with contextlib.suppress(ValueError, RuntimeError):  # already closed / executing
        chunks.close()  # type: ignore[attr-defined]


def _feed(stream: ASRStream, chunk: Any, lost: set[str], item_id: str) -> None:
    """Feed one chunk of an item; on failure mark the item lost (its final then fails)."""
    try:
        stream.feed(chunk)
    except Exception:
        lost.add(item_id)
        raise


def _hints(events: list[VADEvent]) -> list[_SpeechHint]:
    """The PAUSE/RESUME hints among VAD events, in order."""
    hints = (SpeechEdge.PAUSE, SpeechEdge.RESUME)
    return [_SpeechHint(e.edge) for e in events if e.edge in hints]


def _feed_all(stream: VADStream, chunks: list[Any]) -> list[Any]:
    """Feed chunks to a VAD stream in order; all edges found (runs on a pool thread)."""
    events = []
    for chunk in chunks:
        events.extend(stream.feed(chunk))
    return events
