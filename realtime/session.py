"""The sans-I/O realtime session: OpenAI Realtime semantics as a pure state machine.

No asyncio, threads, sockets or clocks here. Inputs are typed client events and engine
results (``receive_*``); outputs are two lists the caller drains after every input:

1. :meth:`Session.events_to_send` — GA server events for the client (the transport
   translates them for beta clients), then
2. :meth:`Session.commands` — work for engines (:mod:`realtime.commands`), which the runner
   executes off the event loop and whose results come back through ``receive_*``.

Time is the sample index of the session's input stream at 16 kHz (``audio_start_ms`` =
sample / 16). Ids come from the injected :class:`~realtime.ids.IdFactory`; the creation
time is a constructor argument.

Turn taking follows the reference (``../shared/reference/realtime-protocol.md`` §7–§10):

* ``server_vad`` / ``semantic_vad``: every appended chunk goes to VAD; a START edge opens a
  user turn (``speech_started`` with the future item id) and streams its audio to the
  transcriber, asking for partials every :data:`PARTIAL_EVERY_MS`; an END edge closes it
  (``speech_stopped``, ``input_audio_buffer.committed``, the user item) and finalizes.
* ``turn_detection: null``: audio accumulates until ``input_audio_buffer.commit``.
* Responses speak text from the configured responder — ``say`` (the latest assistant text
  the client created, or ``response.instructions``) or ``echo`` (the user's last
  transcript) — through the TTS engine, with the full item/content-part lifecycle.
  User speech during a response with ``interrupt_response`` cancels it (barge-in).
"""

from __future__ import annotations

import base64
import binascii
import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from engines.audio import PCMBuffer
from engines.base import (
    SAMPLE_RATE,
    AudioChunk,
    SpeechEdge,
    Transcript,
    TranscriptDelta,
    VADEvent,
    VADOptions,
)
from engines.resampling import StreamResampler, decode_input, native_rate
from protocol import (
    AssistantMessage,
    AudioPCM,
    AudioPCMA,
    AudioPCMU,
    AudioTagEvent,
    ClientEvent,
    ConversationItemCreate,
    ConversationItemDelete,
    ConversationItemRetrieve,
    ConversationItemTruncate,
    ErrorCode,
    ErrorDetail,
    ErrorType,
    InputAudio,
    InputAudioBufferAppend,
    InputAudioBufferClear,
    InputAudioBufferCommit,
    InvalidEvent,
    OutputAudio,
    OutputAudioBufferClear,
    OutputText,
    RealtimeSession,
    ResponseCancel,
    ResponseCreate,
    ResponseCreateParams,
    SemanticVad,
    ServerEvent,
    ServerVad,
    SessionUpdate,
    TranscriptAnnotation,
    TranscriptionSession,
    UserMessage,
    VoxgateTranscriptionOptions,
    merge_session,
)
from protocol import server_events as ev
from protocol.items import ContentPart
from realtime.commands import (
    CancelSynthesis,
    CancelTranscript,
    Command,
    ConfigureVAD,
    DetectSpeech,
    FeedTranscriber,
    FinalizeTranscript,
    RequestPartial,
    Synthesize,
)
from realtime.ids import IdFactory

if TYPE_CHECKING:
    from realtime.annotation import Annotation

log = logging.getLogger(__name__)

PARTIAL_EVERY_MS = 500
"""Ask for a partial transcript after this much new speech."""
MIN_COMMIT_MS = 100
"""``input_audio_buffer.commit`` needs at least this much audio (OpenAI's rule)."""
MAX_APPEND_BYTES = 15 * 1024 * 1024
"""Largest decoded ``input_audio_buffer.append`` payload (OpenAI's limit)."""
TURN_TAIL_MS = 200
"""Audio kept after the VAD's end of speech, so the last word is not clipped."""
RECENT_AUDIO_MS = 4_000
"""Input audio kept before the VAD's position (covers prefix padding and VAD lag)."""
SEMANTIC_VAD_SILENCE_MS = {"low": 1_500, "medium": 800, "auto": 800, "high": 400}
"""``semantic_vad`` eagerness → silence that ends a turn (voxgate has no semantic model:
eagerness maps to documented silence lengths; OpenAI's max timeouts are 8/4/2 s)."""
MAX_DELTA_MS = 100
"""Longest audio in one ``response.output_audio.delta``."""
SESSION_TTL_S = 3_600
"""``expires_at`` = creation + this (the maximum session length)."""

Responder = Literal["say", "echo"]

_SAMPLES_PER_MS = SAMPLE_RATE // 1000
_OUTPUT_BYTES_PER_MS = {"audio/pcm": 48, "audio/pcmu": 8, "audio/pcma": 8}


class TurnState(enum.Enum):
    """Whether the user is speaking (VAD modes)."""

    SILENT = "silent"
    SPEAKING = "speaking"


class ResponseState(enum.Enum):
    """Where a response stands."""

    WAITING = "waiting"  # for the user's transcript (echo responder)
    SPEAKING = "speaking"
    DONE = "done"


@dataclass
class _Turn:
    item_id: str
    start: int  # first sample of the turn (prefix padding applied)
    fed_upto: int  # audio up to here has gone to the transcriber
    partial_at: int  # sample at the last partial request


@dataclass
class _Response:
    id: str
    item_id: str | None
    modality: Literal["audio", "text"]
    output_format: str
    voice: str
    speed: float
    text: str = ""
    state: ResponseState = ResponseState.SPEAKING
    awaiting_item: str | None = None
    audio_bytes: int = 0
    metadata: dict[str, str] | None = None
    item_announced: bool = False
    out_of_band: bool = False
    spoken_items: list[str] = field(default_factory=list)


class Session:
    """One realtime session; see the module docstring for the contract.

    Args:
        config: The initial session (realtime or transcription), as the connection asked.
        ids: Id factory (inject :class:`~realtime.ids.SequentialIds` in tests).
        created_at: Unix time of creation (for ``expires_at``).
        responder: Where response text comes from: ``"say"`` or ``"echo"``.
        has_tts: Whether a speech engine is available (audio responses need one).

    After every ``receive_*`` call the caller must drain :meth:`events_to_send` to the
    client and execute :meth:`commands`, in that order.
    """

    def __init__(
        self,
        config: RealtimeSession | TranscriptionSession,
        *,
        ids: IdFactory,
        created_at: float,
        responder: Responder = "say",
        has_tts: bool = True,
    ) -> None:
        self._ids = ids
        self._item_audio: dict[str, tuple[int, str]] = {}  # assistant item → (ms, transcript)
        self._responder: Responder = responder
        self._has_tts = has_tts
        self.config: RealtimeSession | TranscriptionSession = config.model_copy(
            update={"id": ids("sess"), "expires_at": int(created_at) + SESSION_TTL_S}
        )
        self._events: list[ServerEvent] = []
        self._commands: list[Command] = []
        self._items: dict[str, object] = {}  # conversation order
        self._transcribing: dict[str, float] = {}  # item id → audio seconds
        self._last_user_item: str | None = None
        self._timeline = 0  # 16 kHz samples received since the session began
        self._recent = PCMBuffer()
        self._recent_start = 0  # timeline sample of self._recent[0]
        self._vad_upto = 0
        self._manual_start = 0  # start of uncommitted audio in manual mode
        self._turn: _Turn | None = None
        self._idle_from: int | None = None  # sample where idle_timeout_ms counting began
        self._response: _Response | None = None
        self._resampler = self._new_resampler()
        self._send(ev.SessionCreated(event_id=self._ids("event"), session=self.config))
        if isinstance(self.config, RealtimeSession):
            conversation = ev.Conversation(id=self._ids("conv"))
            self._send(
                ev.ConversationCreated(event_id=self._ids("event"), conversation=conversation)
            )
        self._commands.append(ConfigureVAD(self.vad_options))

    # --- outputs ---------------------------------------------------------------------------

    def events_to_send(self) -> list[ServerEvent]:
        """Drain the server events produced since the last call."""
        out, self._events = self._events, []
        return out

    def commands(self) -> list[Command]:
        """Drain the engine commands produced since the last call."""
        out, self._commands = self._commands, []
        return out

    @property
    def vad_options(self) -> VADOptions | None:
        """The VAD settings in force; None in manual mode."""
        td = self.config.audio.input.turn_detection
        if isinstance(td, ServerVad):
            return VADOptions(td.threshold, td.prefix_padding_ms, td.silence_duration_ms)
        if isinstance(td, SemanticVad):
            return VADOptions(0.5, 300, SEMANTIC_VAD_SILENCE_MS[td.eagerness])
        return None

    @property
    def extras(self) -> VoxgateTranscriptionOptions:
        """The session's opt-in transcription extras (all off unless the client set them)."""
        transcription = self.config.audio.input.transcription
        if transcription is not None and transcription.voxgate is not None:
            return transcription.voxgate
        return VoxgateTranscriptionOptions()

    @property
    def responding(self) -> bool:
        """True while a response is in progress (waiting for a transcript or speaking)."""
        return self._response is not None and self._response.state is not ResponseState.DONE

    @property
    def turn_state(self) -> TurnState:
        """SPEAKING between a VAD start and end."""
        return TurnState.SPEAKING if self._turn is not None else TurnState.SILENT

    # --- client events ---------------------------------------------------------------------

    def receive_client_event(self, event: ClientEvent) -> None:
        """Handle one parsed client event."""
        try:
            match event:
                case InputAudioBufferAppend():
                    self._append(event)
                case SessionUpdate():
                    self._update_session(event)
                case InputAudioBufferCommit():
                    self._commit()
                case InputAudioBufferClear():
                    self._clear()
                case ConversationItemCreate():
                    self._create_item(event)
                case ConversationItemRetrieve():
                    item = self._find_item(event.item_id)
                    self._send(ev.ConversationItemRetrieved(event_id=self._ids("event"), item=item))
                case ConversationItemDelete():
                    self._find_item(event.item_id)
                    del self._items[event.item_id]
                    self._send(
                        ev.ConversationItemDeleted(
                            event_id=self._ids("event"), item_id=event.item_id
                        )
                    )
                case ConversationItemTruncate():
                    self._truncate(event)
                case ResponseCreate():
                    self._create_response(event.response or ResponseCreateParams())
                case ResponseCancel():
                    self._cancel_response(event.response_id)
                case OutputAudioBufferClear():
                    # The SDK requires response_id: the latest response's ("" before any).
                    last = self._response.id if self._response is not None else ""
                    self._send(
                        ev.OutputAudioBufferCleared(event_id=self._ids("event"), response_id=last)
                    )
        except InvalidEvent as exc:
            self.receive_invalid_event(exc.with_event_id(event.event_id))

    def receive_invalid_event(self, error: InvalidEvent) -> None:
        """Report a client mistake as an ``error`` event; the session stays open."""
        self._error(error.message, code=error.code, param=error.param, event_id=error.event_id)

    # --- engine results --------------------------------------------------------------------

    def receive_vad_events(self, events: Sequence[VADEvent], upto: int) -> None:
        """VAD results for audio up to sample ``upto``."""
        if self.vad_options is None:  # VAD was switched off while this was in flight
            return
        for event in events:
            if event.edge is SpeechEdge.START and self._turn is None:
                self._speech_started(event.sample)
            elif event.edge is SpeechEdge.END and self._turn is not None:
                self._speech_stopped(event.sample, upto)
        self._vad_upto = max(self._vad_upto, upto)
        if self._turn is not None:
            self._feed_turn(upto)
        else:
            self._check_idle(upto)
        self._trim_recent()

    def _check_idle(self, upto: int) -> None:
        """``server_vad.idle_timeout_ms``: no speech for that long after a response played.

        Counted on the audio timeline (the client streams silence too), from the end of the
        last response's audio playback; fires ``input_audio_buffer.timeout_triggered``,
        commits the silent audio and asks for a response.
        """
        td = self.config.audio.input.turn_detection
        timeout_ms = td.idle_timeout_ms if isinstance(td, ServerVad) else None
        if timeout_ms is None or self._idle_from is None:
            return
        if upto - self._idle_from < timeout_ms * _SAMPLES_PER_MS:
            return
        start, self._idle_from = self._idle_from, None
        item_id = self._ids("item")
        self._send(
            ev.InputAudioBufferTimeoutTriggered(
                event_id=self._ids("event"),
                audio_start_ms=start // _SAMPLES_PER_MS,
                audio_end_ms=upto // _SAMPLES_PER_MS,
                item_id=item_id,
            )
        )
        self._commands.append(FeedTranscriber(item_id, self._audio(start, upto)))
        self._commit_item(item_id, (upto - start) / SAMPLE_RATE)
        self._create_response(ResponseCreateParams(), automatic=True)

    def receive_transcript_delta(self, item_id: str, delta: TranscriptDelta) -> None:
        """An append-only partial for a user item being transcribed."""
        if item_id in self._transcribing or (self._turn and self._turn.item_id == item_id):
            self._send(
                ev.InputAudioTranscriptionDelta(
                    event_id=self._ids("event"), item_id=item_id, delta=delta.text
                )
            )

    def receive_transcript(
        self, item_id: str, transcript: Transcript, annotation: Annotation | None = None
    ) -> None:
        """The final transcript of a user item, with its extras when the session asked for any.

        With an annotation (opt-in options in :attr:`extras`): a ``…transcription.segment``
        event carries the speaker (``speaker_segments``), ``voxgate.…audio_tag`` events the
        non-speech sounds (``audio_tag_events``), and the ``completed`` transcript has the
        tags and prosody marks inline (``non_speech_tags``) plus the ``voxgate`` annotation.
        """
        seconds = self._transcribing.pop(item_id, None)
        if seconds is None:
            return  # cleared or deleted meanwhile
        extras = self.extras
        text = transcript.text
        plain = text
        extension = None
        if annotation is not None:
            if extras.non_speech_tags and annotation.text is not None:
                text, plain = annotation.text, annotation.plain_text or ""
            for segment in annotation.segments if extras.speaker_segments else ():
                self._send(
                    ev.InputAudioTranscriptionSegment(
                        event_id=self._ids("event"),
                        item_id=item_id,
                        id=self._ids("seg"),
                        text=segment.text,
                        speaker=segment.speaker,
                        start=round(max(0.0, segment.start - transcript.start), 3),
                        end=round(max(0.0, segment.end - transcript.start), 3),
                    )
                )
            if extras.audio_tag_events:
                for tag in annotation.events:
                    self._send(
                        AudioTagEvent(
                            event_id=self._ids("event"),
                            item_id=item_id,
                            label=tag.label,
                            score=min(max(float(tag.score), 0.0), 1.0),
                            audio_start_ms=max(0, round(tag.start * 1000)),
                            audio_end_ms=max(0, round(tag.end * 1000)),
                        )
                    )
            if extras.speaker_segments or extras.non_speech_tags:
                extension = TranscriptAnnotation(
                    speaker=annotation.speaker if extras.speaker_segments else None,
                    plain_transcript=plain if extras.non_speech_tags else None,
                )
        usage = ev.TranscriptionDurationUsage(seconds=round(seconds, 3))
        self._send(
            ev.InputAudioTranscriptionCompleted(
                event_id=self._ids("event"),
                item_id=item_id,
                transcript=text,
                usage=usage,
                voxgate=extension,
            )
        )
        item = self._items.get(item_id)
        if isinstance(item, UserMessage):
            done = item.model_copy(
                update={"status": "completed", "content": [InputAudio(transcript=text)]}
            )
            self._items[item_id] = done
            self._send(
                ev.ConversationItemDone(
                    event_id=self._ids("event"), previous_item_id=self._previous(item_id), item=done
                )
            )
        response = self._response
        if response is not None and response.awaiting_item == item_id:
            response.awaiting_item = None
            self._speak(response, plain)

    def receive_transcription_failed(self, item_id: str, message: str) -> None:
        """Transcription of a user item failed (item-scoped; the session carries on)."""
        if self._transcribing.pop(item_id, None) is None:
            return
        error = ev.TranscriptionError(
            type=ErrorType.TRANSCRIPTION, code=ErrorCode.AUDIO_UNINTELLIGIBLE, message=message
        )
        self._send(
            ev.InputAudioTranscriptionFailed(
                event_id=self._ids("event"), item_id=item_id, error=error
            )
        )
        response = self._response
        if response is not None and response.awaiting_item == item_id:
            self._finish_response("failed", error="The transcript to echo could not be produced.")

    def receive_synthesized_audio(self, response_id: str, audio: bytes, *, final: bool) -> None:
        """Encoded output audio (in the response's format) for a response; ``final`` ends it."""
        response = self._response
        if (
            response is None
            or response.id != response_id
            or response.state is not ResponseState.SPEAKING
        ):
            return  # cancelled: late audio is dropped
        step = MAX_DELTA_MS * _OUTPUT_BYTES_PER_MS[response.output_format]
        for at in range(0, len(audio), step):  # small deltas: smooth playback, quick barge-in
            piece = audio[at : at + step]
            response.audio_bytes += len(piece)
            self._send(
                ev.ResponseOutputAudioDelta(
                    event_id=self._ids("event"),
                    response_id=response.id,
                    item_id=response.item_id or "",
                    output_index=0,
                    content_index=0,
                    delta=base64.b64encode(piece).decode("ascii"),
                )
            )
        if final:
            self._finish_response("completed")

    def receive_synthesis_failed(self, response_id: str, message: str) -> None:
        """The speech engine failed for a response."""
        response = self._response
        if (
            response is not None
            and response.id == response_id
            and response.state is ResponseState.SPEAKING
        ):  # a late failure for a finished or cancelled response changes nothing
            self._finish_response("failed", error=message)

    # --- input audio -----------------------------------------------------------------------

    def _append(self, event: InputAudioBufferAppend) -> None:
        try:
            data = base64.b64decode(event.audio, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidEvent(
                "Invalid 'audio': not valid base64.", code=ErrorCode.INVALID_VALUE, param="audio"
            ) from None
        if len(data) > MAX_APPEND_BYTES:
            raise InvalidEvent(
                f"Audio chunk of {len(data)} bytes exceeds the maximum of {MAX_APPEND_BYTES}.",
                code=ErrorCode.INVALID_VALUE,
                param="audio",
            )
        fmt = self.config.audio.input.format.type
        try:
            native = decode_input(data, fmt)
        except ValueError as exc:
            raise InvalidEvent(
                f"Invalid 'audio': {exc}", code=ErrorCode.INVALID_VALUE, param="audio"
            ) from None
        samples = self._resampler.process(native)
        if len(samples) == 0:
            return
        chunk = AudioChunk(samples, self._timeline)
        self._recent.append(samples)
        self._timeline = chunk.end
        if self.vad_options is not None:
            self._commands.append(DetectSpeech(chunk))

    def _new_resampler(self) -> StreamResampler:
        return StreamResampler(native_rate(self.config.audio.input.format.type), SAMPLE_RATE)

    def _audio(self, start: int, end: int) -> AudioChunk:
        """Input audio ``[start, end)`` on the timeline, clipped to what is still held."""
        start = max(start, self._recent_start)
        end = min(end, self._timeline)
        samples = self._recent.view(
            start - self._recent_start, max(start, end) - self._recent_start
        ).copy()
        return AudioChunk(samples, start)

    def _trim_recent(self) -> None:
        keep_from = self._vad_upto - RECENT_AUDIO_MS * _SAMPLES_PER_MS
        if self._turn is not None:
            keep_from = min(keep_from, self._turn.fed_upto)
        if self.vad_options is None:
            keep_from = min(keep_from, self._manual_start)
        drop = keep_from - self._recent_start
        if drop > len(self._recent) // 2 and drop > SAMPLE_RATE:  # amortise the copy
            kept = self._recent.view(drop).copy()
            self._recent.clear()
            self._recent.append(kept)
            self._recent_start += drop

    # --- turns -----------------------------------------------------------------------------

    def _speech_started(self, sample: int) -> None:
        item_id = self._ids("item")
        start = max(sample, self._recent_start)
        self._turn = _Turn(item_id, start, start, start)
        self._idle_from = None
        self._send(
            ev.InputAudioBufferSpeechStarted(
                event_id=self._ids("event"),
                audio_start_ms=start // _SAMPLES_PER_MS,
                item_id=item_id,
            )
        )
        td = self.config.audio.input.turn_detection
        response = self._response
        if (
            response is not None
            and response.state is not ResponseState.DONE
            and getattr(td, "interrupt_response", False)
        ):
            self._cancel(response, reason="turn_detected")

    def _feed_turn(self, upto: int) -> None:
        turn = self._turn
        assert turn is not None
        if upto > turn.fed_upto:
            self._commands.append(FeedTranscriber(turn.item_id, self._audio(turn.fed_upto, upto)))
            turn.fed_upto = upto
        if turn.fed_upto - turn.partial_at >= PARTIAL_EVERY_MS * _SAMPLES_PER_MS:
            turn.partial_at = turn.fed_upto
            self._commands.append(RequestPartial(turn.item_id))

    def _speech_stopped(self, sample: int, upto: int) -> None:
        turn = self._turn
        assert turn is not None
        end = min(
            max(sample + TURN_TAIL_MS * _SAMPLES_PER_MS, turn.fed_upto), max(upto, turn.fed_upto)
        )
        self._feed_turn(end)
        options = self.vad_options
        silence = options.silence_duration_ms if options else 0
        audio_end_ms = min(
            sample // _SAMPLES_PER_MS + silence, max(upto, sample) // _SAMPLES_PER_MS
        )
        self._send(
            ev.InputAudioBufferSpeechStopped(
                event_id=self._ids("event"), audio_end_ms=audio_end_ms, item_id=turn.item_id
            )
        )
        self._turn = None
        self._commit_item(turn.item_id, (turn.fed_upto - turn.start) / SAMPLE_RATE)
        td = self.config.audio.input.turn_detection
        if isinstance(self.config, RealtimeSession) and getattr(td, "create_response", False):
            self._create_response(ResponseCreateParams(), automatic=True)

    def _commit_item(self, item_id: str, seconds: float) -> None:
        """Announce a committed user audio item and start its final transcription."""
        previous = next(reversed(self._items), None)
        item = UserMessage(id=item_id, status="in_progress", content=[InputAudio(transcript=None)])
        self._items[item_id] = item
        self._last_user_item = item_id
        self._transcribing[item_id] = seconds
        self._send(
            ev.InputAudioBufferCommitted(
                event_id=self._ids("event"), previous_item_id=previous, item_id=item_id
            )
        )
        self._send(
            ev.ConversationItemAdded(
                event_id=self._ids("event"), previous_item_id=previous, item=item
            )
        )
        self._commands.append(FinalizeTranscript(item_id))

    def _commit(self) -> None:
        if self._turn is not None:  # manual commit during speech ends the turn now
            turn = self._turn
            self._feed_turn(self._timeline)
            self._turn = None
            self._commit_item(turn.item_id, (turn.fed_upto - turn.start) / SAMPLE_RATE)
            return
        start = self._manual_start if self.vad_options is None else self._timeline
        length_ms = (self._timeline - start) / _SAMPLES_PER_MS
        if length_ms < MIN_COMMIT_MS:
            raise InvalidEvent(
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"{MIN_COMMIT_MS}ms of audio, but buffer only has {length_ms:.2f}ms of audio.",
                code=ErrorCode.INPUT_AUDIO_BUFFER_COMMIT_EMPTY,
                param=None,
            )
        item_id = self._ids("item")
        self._commands.append(FeedTranscriber(item_id, self._audio(start, self._timeline)))
        self._manual_start = self._timeline
        self._commit_item(item_id, length_ms / 1000)

    def _clear(self) -> None:
        if self._turn is not None:
            self._commands.append(CancelTranscript(self._turn.item_id))
            self._turn = None
        self._manual_start = self._timeline
        self._send(ev.InputAudioBufferCleared(event_id=self._ids("event")))

    # --- session ---------------------------------------------------------------------------

    def _update_session(self, event: SessionUpdate) -> None:
        old_format = self.config.audio.input.format.type
        old_vad = self.vad_options
        current = self.config
        if event.session.type != current.type and self._pristine():
            # The first update may pick the session kind (e.g. a beta client sending
            # transcription_session.update on a connection opened with a model; §2.3).
            fresh_kind = (
                TranscriptionSession if event.session.type == "transcription" else RealtimeSession
            )
            current = fresh_kind(id=current.id, expires_at=current.expires_at)
        self.config = merge_session(current, event.session)
        if self.config.audio.input.format.type != old_format:
            self._resampler = self._new_resampler()
        if self.vad_options != old_vad:
            if self._turn is not None:  # the turn's detector is gone: keep its audio
                self._commands.append(CancelTranscript(self._turn.item_id))
                self._manual_start = self._turn.start
                self._turn = None
            elif self.vad_options is None:
                self._manual_start = self._timeline
            self._commands.append(ConfigureVAD(self.vad_options))
        self._send(ev.SessionUpdated(event_id=self._ids("event"), session=self.config))

    def _pristine(self) -> bool:
        """No audio, items or responses yet: the session kind may still change."""
        return self._timeline == 0 and not self._items and self._response is None

    # --- conversation items ----------------------------------------------------------------

    def _find_item(self, item_id: str) -> object:
        item = self._items.get(item_id)
        if item is None:
            raise InvalidEvent(
                f"Item with item_id '{item_id}' not found.",
                code=ErrorCode.INVALID_VALUE,
                param="item_id",
            )
        return item

    def _previous(self, item_id: str) -> str | None:
        keys = list(self._items)
        index = keys.index(item_id)
        return keys[index - 1] if index > 0 else None

    def _create_item(self, event: ConversationItemCreate) -> None:
        item = event.item
        item_id = item.id or self._ids("item")
        if item_id in self._items:
            raise InvalidEvent(
                f"Item with id '{item_id}' already exists.",
                code=ErrorCode.INVALID_VALUE,
                param="item.id",
            )
        previous = event.previous_item_id
        if previous not in (None, "root") and previous not in self._items:
            raise InvalidEvent(
                f"Previous item with id '{previous}' not found.",
                code=ErrorCode.INVALID_VALUE,
                param="previous_item_id",
            )
        stored = item.model_copy(update={"id": item_id, "status": "completed"})
        if previous is None:
            self._items[item_id] = stored
        else:
            entries = list(self._items.items())
            at = 0 if previous == "root" else [k for k, _ in entries].index(previous) + 1
            entries.insert(at, (item_id, stored))
            self._items = dict(entries)
        prev_id = self._previous(item_id)
        self._send(
            ev.ConversationItemAdded(
                event_id=self._ids("event"), previous_item_id=prev_id, item=stored
            )
        )
        self._send(
            ev.ConversationItemDone(
                event_id=self._ids("event"), previous_item_id=prev_id, item=stored
            )
        )

    def _truncate(self, event: ConversationItemTruncate) -> None:
        item = self._find_item(event.item_id)
        if not isinstance(item, AssistantMessage) or not any(
            isinstance(c, OutputAudio) for c in item.content
        ):
            raise InvalidEvent(
                "Only assistant messages with audio can be truncated.",
                code=ErrorCode.INVALID_VALUE,
                param="item_id",
            )
        response = self._response
        if (
            response is not None
            and response.item_id == item.id
            and response.state is not ResponseState.DONE
        ):
            self._cancel(response, reason="client_cancelled")
        produced_ms, transcript = self._item_audio.get(event.item_id, (0, ""))
        cut_ms = min(event.audio_end_ms, produced_ms)  # clamp instead of failing (§10)
        kept = transcript[: round(len(transcript) * cut_ms / produced_ms)] if produced_ms else ""
        self._items[event.item_id] = item.model_copy(
            update={"content": [OutputAudio(transcript=kept)]}
        )
        self._send(
            ev.ConversationItemTruncated(
                event_id=self._ids("event"),
                item_id=event.item_id,
                content_index=event.content_index,
                audio_end_ms=cut_ms,
            )
        )

    # --- responses -------------------------------------------------------------------------

    def _create_response(self, params: ResponseCreateParams, *, automatic: bool = False) -> None:
        if isinstance(self.config, TranscriptionSession):
            raise InvalidEvent(
                "Responses are not available in a transcription session.",
                code=ErrorCode.INVALID_VALUE,
                param="type",
            )
        active = self._response
        if active is not None and active.state is not ResponseState.DONE:
            if automatic:
                return
            raise InvalidEvent(
                f"Conversation already has an active response in progress: {active.id}. "
                "Wait until the response is finished before creating a new one.",
                code=ErrorCode.CONVERSATION_ALREADY_HAS_ACTIVE_RESPONSE,
            )
        config = self.config
        assert isinstance(config, RealtimeSession)
        modalities = params.output_modalities or config.output_modalities
        output = params.audio.output if params.audio and params.audio.output else None
        fmt = (output.format if output and output.format else config.audio.output.format).type
        voice = output.voice if output and output.voice else config.audio.output.voice
        modality: Literal["audio", "text"] = (
            "audio" if "audio" in modalities and self._has_tts else "text"
        )
        response = _Response(
            id=self._ids("resp"),
            item_id=None,
            modality=modality,
            output_format=fmt,
            voice=voice if isinstance(voice, str) else voice.id,
            speed=config.audio.output.speed,
            metadata=params.metadata,
            out_of_band=params.conversation == "none",
        )
        self._response = response
        self._send(
            ev.ResponseCreated(
                event_id=self._ids("event"), response=self._response_object(response, "in_progress")
            )
        )
        text = self._response_text(params)
        if text is None:  # echo: the transcript is still being made
            response.state = ResponseState.WAITING
            response.awaiting_item = self._last_user_item
            self._announce_item(response)
            return
        if not text.strip():
            self._finish_response("completed")
            return
        self._announce_item(response)
        self._speak(response, text)

    def _response_text(self, params: ResponseCreateParams) -> str | None:
        """What the responder says; None when it waits for a transcript in progress."""
        if self._responder == "echo":
            item_id = self._last_user_item
            if item_id is None:
                return ""
            if item_id in self._transcribing:
                return None
            item = self._items.get(item_id)
            if isinstance(item, UserMessage):
                return " ".join(
                    (c.transcript or "") if isinstance(c, InputAudio) else c.text
                    for c in item.content
                ).strip()
            return ""
        if params.instructions:
            return params.instructions
        for item in reversed(self._items.values()):
            if isinstance(item, AssistantMessage) and item.id not in self._item_audio:
                texts = [c.text for c in item.content if isinstance(c, OutputText)]
                texts += [c.transcript or "" for c in item.content if isinstance(c, OutputAudio)]
                return " ".join(t for t in texts if t).strip()
        return ""

    def _announce_item(self, response: _Response) -> None:
        response.item_id = self._ids("item")
        item = AssistantMessage(id=response.item_id, status="in_progress", content=[])
        self._send(
            ev.ResponseOutputItemAdded(
                event_id=self._ids("event"), response_id=response.id, output_index=0, item=item
            )
        )
        if not response.out_of_band:
            previous = next(reversed(self._items), None)
            self._items[response.item_id] = item
            self._send(
                ev.ConversationItemAdded(
                    event_id=self._ids("event"), previous_item_id=previous, item=item
                )
            )
        part = (
            ContentPart(type="audio", transcript="")
            if response.modality == "audio"
            else ContentPart(type="text", text="")
        )
        self._send(
            ev.ResponseContentPartAdded(
                event_id=self._ids("event"),
                response_id=response.id,
                item_id=response.item_id,
                output_index=0,
                content_index=0,
                part=part,
            )
        )
        response.item_announced = True

    def _speak(self, response: _Response, text: str) -> None:
        response.text = text
        response.state = ResponseState.SPEAKING
        ids = {
            "response_id": response.id,
            "item_id": response.item_id or "",
            "output_index": 0,
            "content_index": 0,
        }
        if response.modality == "text":
            self._send(ev.ResponseOutputTextDelta(event_id=self._ids("event"), delta=text, **ids))
            self._finish_response("completed")
            return
        if not text.strip():
            self._finish_response("completed")
            return
        self._send(
            ev.ResponseOutputAudioTranscriptDelta(event_id=self._ids("event"), delta=text, **ids)
        )
        self._commands.append(
            Synthesize(
                response.id,
                text,
                speed=response.speed,
                output_format=response.output_format,
                voice=response.voice,
            )
        )

    def _cancel_response(self, response_id: str | None) -> None:
        response = self._response
        if (
            response is None
            or response.state is ResponseState.DONE
            or response_id not in (None, response.id)
        ):
            raise InvalidEvent(
                "Cancellation failed: no active response found.",
                code=ErrorCode.RESPONSE_CANCEL_NOT_ACTIVE,
            )
        self._cancel(response, reason="client_cancelled")

    def _cancel(
        self, response: _Response, *, reason: Literal["turn_detected", "client_cancelled"]
    ) -> None:
        if response.state is ResponseState.SPEAKING and response.modality == "audio":
            self._commands.append(CancelSynthesis(response.id))
        self._finish_response("cancelled", reason=reason)

    def _finish_response(
        self,
        status: Literal["completed", "cancelled", "failed"],
        *,
        reason: Literal["turn_detected", "client_cancelled"] | None = None,
        error: str | None = None,
    ) -> None:
        response = self._response
        assert response is not None
        response.state = ResponseState.DONE
        response.awaiting_item = None  # a transcript arriving later must not revive it
        output = []
        if response.item_announced and response.item_id is not None:
            ids = {
                "response_id": response.id,
                "item_id": response.item_id,
                "output_index": 0,
                "content_index": 0,
            }
            item_status = "completed" if status == "completed" else "incomplete"
            if response.modality == "audio":
                self._send(ev.ResponseOutputAudioDone(event_id=self._ids("event"), **ids))
                self._send(
                    ev.ResponseOutputAudioTranscriptDone(
                        event_id=self._ids("event"), transcript=response.text, **ids
                    )
                )
                part = ContentPart(type="audio", transcript=response.text)
                content: list[OutputAudio | OutputText] = [OutputAudio(transcript=response.text)]
                produced_ms = response.audio_bytes // _OUTPUT_BYTES_PER_MS.get(
                    response.output_format, 48
                )
                self._item_audio[response.item_id] = (produced_ms, response.text)
            else:
                self._send(
                    ev.ResponseOutputTextDone(
                        event_id=self._ids("event"), text=response.text, **ids
                    )
                )
                part = ContentPart(type="text", text=response.text)
                content = [OutputText(text=response.text)]
                self._item_audio.setdefault(response.item_id, (0, response.text))
            self._send(ev.ResponseContentPartDone(event_id=self._ids("event"), part=part, **ids))
            item = AssistantMessage(id=response.item_id, status=item_status, content=content)
            self._send(
                ev.ResponseOutputItemDone(
                    event_id=self._ids("event"), response_id=response.id, output_index=0, item=item
                )
            )
            if not response.out_of_band and response.item_id in self._items:
                self._items[response.item_id] = item
                self._send(
                    ev.ConversationItemDone(
                        event_id=self._ids("event"),
                        previous_item_id=self._previous(response.item_id),
                        item=item,
                    )
                )
            output.append(item)
        details = None
        if status == "cancelled":
            details = ev.ResponseStatusDetails(type="cancelled", reason=reason)
        elif status == "failed":
            details = ev.ResponseStatusDetails(
                type="failed",
                error=ev.ResponseStatusError(
                    type="server_error", message=error or "Speech synthesis failed."
                ),
            )
        done = self._response_object(response, status, details=details, output=output)
        self._send(ev.ResponseDone(event_id=self._ids("event"), response=done))
        played_ms = response.audio_bytes // _OUTPUT_BYTES_PER_MS[response.output_format]
        self._idle_from = max(self._timeline, self._vad_upto) + played_ms * _SAMPLES_PER_MS

    def _response_object(
        self,
        response: _Response,
        status: Literal["in_progress", "completed", "cancelled", "failed"],
        *,
        details: ev.ResponseStatusDetails | None = None,
        output: list[AssistantMessage] | None = None,
    ) -> ev.Response:
        fmt = {"audio/pcm": AudioPCM, "audio/pcmu": AudioPCMU, "audio/pcma": AudioPCMA}[
            response.output_format
        ]()
        return ev.Response(
            id=response.id,
            status=status,
            status_details=details,
            output=list(output or []),
            conversation_id=None,
            output_modalities=[response.modality],
            audio=ev.ResponseAudio(output=ev.ResponseAudioOutput(format=fmt, voice=response.voice)),
            metadata=response.metadata,
            usage=None if status == "in_progress" else ev.Usage(),
        )

    # --- errors ----------------------------------------------------------------------------

    def _error(
        self,
        message: str,
        *,
        code: str | None,
        param: str | None = None,
        event_id: str | None = None,
        type_: str = ErrorType.INVALID_REQUEST,
    ) -> None:
        detail = ErrorDetail(type=type_, code=code, message=message, param=param, event_id=event_id)
        self._send(ev.ErrorEvent(event_id=self._ids("event"), error=detail))

    def report_server_error(self, event_id: str | None = None) -> None:
        """Tell the client something failed on our side, without internals."""
        self._error(
            "The server had an error while processing your request. Sorry about that!",
            code=None,
            event_id=event_id,
            type_=ErrorType.SERVER,
        )

    def _send(self, event: ServerEvent) -> None:
        self._events.append(event)
