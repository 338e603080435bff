"""The sans-I/O realtime session: OpenAI Realtime semantics as a pure state machine.

No asyncio, threads, sockets or clocks here. Inputs are typed client events, native audio
and engine and responder results (``receive_*``); outputs are two lists the caller drains
after every input:

1. :meth:`Session.events_to_send` — GA server events for the client (the transport
   translates them for beta clients), then
2. :meth:`Session.commands` — work for engines and the responder
   (:mod:`realtime.session.commands`), which the runner executes off the event loop and
   whose results come back through ``receive_*``.

Time is the sample index of the session's input stream at 16 kHz (``audio_start_ms`` =
sample / 16). Ids come from the injected :class:`~realtime.session.ids.IdFactory`; the
creation time is a constructor argument.

The session composes one part per concern: :mod:`~realtime.session.audio_input` (decoding
and resampling), :mod:`~realtime.session.turns` (turn taking, partial cadence, speculative
finals), :mod:`~realtime.session.transcription` (user transcripts and their extras),
:mod:`~realtime.session.conversation` (items) and :mod:`~realtime.session.responses` (the
response lifecycle and the responder seam). Turn taking follows the reference
(``../shared/reference/realtime-protocol.md`` §7–§10).

Input transcription (on in a transcription session; in a realtime session only when
``audio.input.transcription`` is set) is described in :mod:`~realtime.session.transcription`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engines.base import PCM, ASROptions, Transcript, TranscriptDelta, VADEvent, VADOptions
from protocol import (
    ClientEvent,
    ConversationItemCreate,
    ConversationItemDelete,
    ConversationItemRetrieve,
    ConversationItemTruncate,
    ErrorCode,
    ErrorType,
    InputAudioBufferAppend,
    InputAudioBufferClear,
    InputAudioBufferCommit,
    InvalidEvent,
    OutputAudioBufferClear,
    RealtimeSession,
    ResponseCancel,
    ResponseCreate,
    ResponseCreateParams,
    SemanticVad,
    ServerEvent,
    ServerVad,
    SessionUpdate,
    TranscriptionSession,
    VoxgateTranscriptionOptions,
    merge_session,
)
from protocol import server_events as ev
from realtime.session.audio_input import InputTimeline, decode_append
from realtime.session.commands import (
    Command,
    ConfigureVAD,
    DetectSpeech,
    FinalizeTranscript,
    StartTranscript,
)
from realtime.session.conversation import Conversation
from realtime.session.ids import IdFactory
from realtime.session.outbox import Outbox
from realtime.session.replies import ReplyPart
from realtime.session.responses import ResponseHooks, Responses
from realtime.session.transcription import Transcriptions
from realtime.session.turns import Transcribing, TurnCallbacks, Turns

if TYPE_CHECKING:
    from realtime.inference.annotation import Annotation

SEMANTIC_VAD_SILENCE_MS = {"low": 1_500, "medium": 800, "auto": 800, "high": 400}
"""``semantic_vad`` eagerness → silence that ends a turn (voxgate has no semantic model:
eagerness maps to documented silence lengths; OpenAI's max timeouts are 8/4/2 s)."""
SESSION_TTL_S = 3_600
"""``expires_at`` = creation + this (the maximum session length)."""
LOGPROBS = "item.input_audio_transcription.logprobs"
"""The ``include`` entry that asks for transcription logprobs."""


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the host offers the session: loaded engines and the responder's needs.

    Attributes:
        tts: A speech engine is loaded (audio responses need one).
        tagger: A sound-event tagger is loaded (non-speech extras need one).
        embedder: A speaker embedder is loaded (speaker labels need one).
        speculative_asr: The transcriber can decode finals ahead of time.
        reads_transcripts: The responder reads user transcripts, so a response waits for
            the latest turn's final transcript before asking for a reply (user turns are
            transcribed even when the client did not ask for transcription).
        asr_logprobs: The transcriber gives token logprobs with its finals (``include``
            may ask for them).
        early_replies: Automatic replies may start on a speculative final, held until
            the turn's response exists (see ``receive_speculative_transcript``).
        quick_replies: With ``early_replies``: an automatic reply answers a quick guess
            at the turn (the partial model's, made when the speaker pauses) and is spoken
            as soon as the turn ends, without waiting for the final transcript (which
            still becomes the item's). Without: it answers the final model's transcript.
    """

    tts: bool = True
    tagger: bool = False
    embedder: bool = False
    speculative_asr: bool = False
    reads_transcripts: bool = False
    asr_logprobs: bool = False
    early_replies: bool = True
    quick_replies: bool = False


class Session:
    """One realtime session; see the module docstring for the contract.

    Args:
        config: The initial session (realtime or transcription), as the connection asked.
        ids: Id factory (inject :class:`~realtime.session.ids.SequentialIds` in tests).
        created_at: Unix time of creation (for ``expires_at``).
        capabilities: What the host offers (engines, responder needs).

    After every ``receive_*`` call the caller must drain :meth:`events_to_send` to the
    client and execute :meth:`commands`, in that order.

    A ``config`` asking for logprobs the transcriber cannot give starts without them, and an
    ``error`` (``param`` ``session.include``) follows the creation events.
    """

    def __init__(
        self,
        config: RealtimeSession | TranscriptionSession,
        *,
        ids: IdFactory,
        created_at: float,
        capabilities: Capabilities = Capabilities(),
    ) -> None:
        self._out = Outbox(ids)
        self._can = capabilities
        refused = self._refused_include(config)
        server_owned = {"id": ids("sess"), "expires_at": int(created_at) + SESSION_TTL_S}
        if refused is not None:
            server_owned["include"] = None
        self.config: RealtimeSession | TranscriptionSession = config.model_copy(update=server_owned)
        self._input = InputTimeline()
        self._conversation = Conversation(self._out)
        self._transcripts = Transcriptions(
            self._out, self._conversation, lambda: self.extras, lambda: self.wants_logprobs
        )
        self._latest_user_item: str | None = None
        self._latest_speculation: int | None = None  # token the latest item was committed with
        self._turns = Turns(
            self._out,
            self._input,
            TurnCallbacks(
                start_transcript=self._start_transcript,
                commit=self._commit_item,
                speech_started=self._barge_in,
                turn_ended=self._respond_after_turn,
                server_vad=self._server_vad,
                speculation_void=lambda: self._responses.drop_speculation(),
            ),
            speculative=capabilities.speculative_asr,
            guesses=self._answers_guesses,
        )
        self._responses = Responses(
            self._out,
            self._conversation,
            ResponseHooks(
                config=lambda: self.config,
                transcript_pending=self._transcripts.pending,
                latest_user_item=lambda: self._latest_user_item,
                ended=self._turns.response_played,
            ),
            has_tts=capabilities.tts,
            wait_for_transcripts=capabilities.reads_transcripts,
            quick_replies=capabilities.early_replies and capabilities.quick_replies,
        )
        self._out.send(ev.SessionCreated(event_id=self._out.event_id(), session=self.config))
        if isinstance(self.config, RealtimeSession):
            conversation = ev.Conversation(id=ids("conv"))
            self._responses.conversation_id = conversation.id
            self._out.send(
                ev.ConversationCreated(event_id=self._out.event_id(), conversation=conversation)
            )
        if refused is not None:
            self.receive_invalid_event(refused)
        self._turns.set_vad(self.vad_options)
        self._out.command(ConfigureVAD(self._turns.detector_options()))

    # --- outputs ---------------------------------------------------------------------------

    def events_to_send(self) -> list[ServerEvent]:
        """Drain the server events produced since the last call."""
        return self._out.drain_events()

    def commands(self) -> list[Command]:
        """Drain the engine commands produced since the last call."""
        return self._out.drain_commands()

    @property
    def vad_options(self) -> VADOptions | None:
        """The VAD settings the configuration asks for; None in manual mode."""
        td = self.config.audio.input.turn_detection
        if isinstance(td, ServerVad):
            return VADOptions(td.threshold, td.prefix_padding_ms, td.silence_duration_ms)
        if isinstance(td, SemanticVad):
            return VADOptions(0.5, 300, SEMANTIC_VAD_SILENCE_MS[td.eagerness])
        return None

    def detector_options(self) -> VADOptions | None:
        """What the VAD stream runs with (:attr:`vad_options`, plus pauses when speculating)."""
        return self._turns.detector_options()

    @property
    def transcribes(self) -> bool:
        """The client gets input transcription (its events) for the next user turn.

        Always in a transcription session; in a realtime session when
        ``audio.input.transcription`` is set (null, the default, means off).
        """
        return (
            isinstance(self.config, TranscriptionSession)
            or self.config.audio.input.transcription is not None
        )

    @property
    def wants_logprobs(self) -> bool:
        """``include`` asks for the token logprobs of input transcriptions."""
        return LOGPROBS in (self.config.include or ())

    @property
    def extras(self) -> VoxgateTranscriptionOptions:
        """The session's opt-in transcription extras (all off unless the client set them)."""
        transcription = self.config.audio.input.transcription
        if transcription is not None and transcription.voxgate is not None:
            return transcription.voxgate
        return VoxgateTranscriptionOptions()

    @property
    def responding(self) -> bool:
        """True while a response is in progress (waiting, generating or speaking)."""
        return self._responses.active

    @property
    def speaking(self) -> bool:
        """True between a VAD start and end (the user is speaking)."""
        return self._turns.speaking

    # --- client events and audio -----------------------------------------------------------

    def receive_client_event(self, event: ClientEvent) -> None:
        """Handle one parsed client event; a mistake becomes an ``error`` with its event_id.

        A ``session.update`` that cannot apply changes nothing (all or nothing), e.g. one
        asking for logprobs the transcriber cannot give (``param`` ``session.include``).
        """
        try:
            self._handle(event)
        except InvalidEvent as exc:
            self.receive_invalid_event(exc.with_event_id(event.event_id))

    def _handle(self, event: ClientEvent) -> None:
        match event:
            case InputAudioBufferAppend():
                pcm, rate = decode_append(event.audio, self.config.audio.input.format.type)
                self.receive_audio(pcm, rate)
            case SessionUpdate():
                self._update_session(event)
            case InputAudioBufferCommit():
                self._turns.commit()
            case InputAudioBufferClear():
                self._turns.clear()
            case ConversationItemCreate():
                self._conversation.create(event)
            case ConversationItemRetrieve():
                self._conversation.retrieve(event.item_id)
            case ConversationItemDelete():
                self._conversation.delete(event.item_id)
            case ConversationItemTruncate():
                self._conversation.truncatable(event.item_id)
                self._responses.cancel_for_item(event.item_id)
                self._conversation.truncate(event)
            case ResponseCreate():
                params = event.response or ResponseCreateParams()
                self._responses.create(params, event_id=event.event_id)
            case ResponseCancel():
                self._responses.cancel_by_client(event.response_id)
            case OutputAudioBufferClear():
                # The SDK requires response_id: the latest response's ("" before any).
                self._out.send(
                    ev.OutputAudioBufferCleared(
                        event_id=self._out.event_id(), response_id=self._responses.latest_id
                    )
                )

    def receive_audio(self, pcm: PCM, rate: int) -> None:
        """Input audio from the client (mono int16 at ``rate`` Hz), already decoded.

        Transports that carry media natively (WebRTC) call this directly; the WebSocket
        path reaches it through ``input_audio_buffer.append``.
        """
        chunk = self._input.receive(pcm, rate)
        if chunk is not None and self._turns.vad is not None:
            self._out.command(DetectSpeech(chunk))

    def receive_invalid_event(self, error: InvalidEvent) -> None:
        """Report a client mistake as an ``error`` event; the session stays open."""
        self._out.error(error.message, code=error.code, param=error.param, event_id=error.event_id)

    def report_server_error(self, event_id: str | None = None) -> None:
        """Tell the client something failed on our side, without internals."""
        self._out.error(
            "The server had an error while processing your request. Sorry about that!",
            code=None,
            event_id=event_id,
            type_=ErrorType.SERVER,
        )

    # --- engine and responder results --------------------------------------------------------

    def receive_vad_events(self, events: Sequence[VADEvent], upto: int) -> None:
        """VAD results for audio up to sample ``upto``."""
        self._turns.receive_vad_events(events, upto)

    def receive_transcript_delta(self, item_id: str, delta: TranscriptDelta) -> None:
        """An append-only partial for a user item being transcribed."""
        live = item_id == self._turns.current_item
        self._transcripts.receive_delta(item_id, delta, live=live)

    def receive_transcript(
        self, item_id: str, transcript: Transcript, annotation: Annotation | None = None
    ) -> None:
        """The final transcript of a user item, with its extras when the session asked for any.

        See :meth:`~realtime.session.transcription.Transcriptions.receive_final`.
        """
        if self._transcripts.receive_final(item_id, transcript, annotation):
            self._responses.transcript_ready(item_id)

    def _answers_guesses(self) -> bool:
        """A turn ending now would get a quick reply (so its pause is worth a guess)."""
        can = self._can
        if not (can.early_replies and can.quick_replies and can.reads_transcripts):
            return False
        td = self.config.audio.input.turn_detection
        return isinstance(self.config, RealtimeSession) and getattr(td, "create_response", False)

    def receive_speculative_transcript(
        self, item_id: str, token: int, text: str, *, quick: bool = False
    ) -> None:
        """A speculative final's text (the speaker paused): an automatic reply may start early.

        ``quick``: the text is the partial model's quick guess (``SpeculateFinal.guess``),
        not the final model's decode. Only the kind the session answers from
        (:attr:`Capabilities.quick_replies`) counts. Ignored unless the speaker stayed
        silent since that pause (the turn may have ended since, in that silence) and the
        turn gets an automatic response. See
        :meth:`~realtime.session.responses.Responses.speculate`.
        """
        if not self._can.early_replies or quick != self._can.quick_replies:
            return
        committed = (self._latest_user_item, self._latest_speculation) == (item_id, token)
        if self._turns.speculation_of(item_id) != token and not committed:
            return
        td = self.config.audio.input.turn_detection
        if isinstance(self.config, RealtimeSession) and getattr(td, "create_response", False):
            self._responses.speculate(item_id, text)

    def receive_transcription_failed(self, item_id: str, message: str) -> None:
        """Transcription of a user item failed (item-scoped; the session carries on)."""
        if self._transcripts.receive_failure(item_id, message):
            self._responses.transcript_failed(item_id)

    def receive_reply_part(self, response_id: str, part: ReplyPart) -> None:
        """One part of the responder's reply for ``response_id``, in order."""
        self._responses.receive_reply_part(response_id, part)

    def receive_synthesized_audio(self, response_id: str, audio: bytes, *, final: bool) -> None:
        """Encoded output audio (in the response's format) for a response; ``final`` ends it."""
        self._responses.receive_audio(response_id, audio, final=final)

    def receive_synthesis_failed(self, response_id: str, message: str) -> None:
        """The speech engine failed for a response."""
        self._responses.receive_synthesis_failed(response_id, message)

    # --- wiring between the parts ------------------------------------------------------------

    def _start_transcript(self, item_id: str) -> Transcribing:
        """Start transcribing utterance ``item_id`` as far as anyone needs its text."""
        shown = self.transcribes
        if not (shown or self._can.reads_transcripts):
            return Transcribing.NO
        self._transcripts.start(item_id, shown=shown)
        extras = self.extras
        tags = (extras.non_speech_tags or extras.audio_tag_events) and self._can.tagger
        speakers = extras.speaker_segments and self._can.embedder
        options = self._asr_options(verbatim=tags)  # fillers and annotations, for the tagger
        self._out.command(StartTranscript(item_id, options, tags=tags, speakers=speakers))
        return Transcribing.LIVE if shown else Transcribing.FINAL

    def _asr_options(self, *, verbatim: bool) -> ASROptions:
        """Recognition options from the configuration (language and prompt when set)."""
        transcription = self.config.audio.input.transcription
        if isinstance(self.config, TranscriptionSession) or transcription is not None:
            language = transcription.language if transcription and transcription.language else None
            prompt = transcription.prompt if transcription and transcription.prompt else None
            return ASROptions(language=language, prompt=prompt, verbatim=verbatim)
        return ASROptions(verbatim=verbatim)

    def _commit_item(self, item_id: str, seconds: float, speculation: int | None) -> None:
        """Announce a committed user audio item and start its final transcription, if any.

        An item whose transcript the client will not see is done at once (transcript null).
        """
        previous = self._conversation.last_id()
        self._latest_user_item, self._latest_speculation = item_id, speculation
        pending = self._transcripts.commit(item_id, seconds)
        self._out.send(
            ev.InputAudioBufferCommitted(
                event_id=self._out.event_id(), previous_item_id=previous, item_id=item_id
            )
        )
        self._conversation.add_user_audio(item_id)
        if pending is None or not pending.shown:
            self._conversation.complete_transcript(item_id, None)
        if pending is not None:
            self._out.command(FinalizeTranscript(item_id, speculation))

    def _barge_in(self) -> None:
        td = self.config.audio.input.turn_detection
        if self._responses.active and getattr(td, "interrupt_response", False):
            self._responses.cancel("turn_detected")

    def _respond_after_turn(self, timed_out: bool) -> None:
        td = self.config.audio.input.turn_detection
        wanted = timed_out or getattr(td, "create_response", False)
        if isinstance(self.config, RealtimeSession) and wanted:
            self._responses.create(ResponseCreateParams(), automatic=True)
        self._responses.drop_unclaimed_speculation()

    def _server_vad(self) -> ServerVad | None:
        td = self.config.audio.input.turn_detection
        return td if isinstance(td, ServerVad) else None

    # --- session ---------------------------------------------------------------------------

    def _update_session(self, event: SessionUpdate) -> None:
        """``session.update``: merge the update into the configuration and announce it.

        An update that cannot apply changes nothing (all or nothing): the ``error`` names
        the first problem. That includes asking for logprobs
        (``include: ["item.input_audio_transcription.logprobs"]``) when the transcriber
        cannot give them (``param`` ``session.include``). Transcription settings apply
        from the next user turn.

        Raises:
            InvalidEvent: The update cannot apply.
        """
        old_format = self.config.audio.input.format.type
        current = self.config
        if event.session.type != current.type and self._pristine():
            # The first update may pick the session kind (e.g. a beta client sending
            # transcription_session.update on a connection opened with a model; §2.3).
            fresh_kind = (
                TranscriptionSession if event.session.type == "transcription" else RealtimeSession
            )
            current = fresh_kind(id=current.id, expires_at=current.expires_at)
        merged = merge_session(current, event.session)
        refused = self._refused_include(merged)
        if refused is not None:
            raise refused
        self.config = merged
        if self.config.audio.input.format.type != old_format:
            self._input.reset_resampler()
        if self._turns.set_vad(self.vad_options):
            self._out.command(ConfigureVAD(self._turns.detector_options()))
        self._out.send(ev.SessionUpdated(event_id=self._out.event_id(), session=self.config))

    def _pristine(self) -> bool:
        """No audio, items or responses yet: the session kind may still change."""
        return self._turns.pristine and not self._conversation and not self._responses.started

    def _refused_include(
        self, config: RealtimeSession | TranscriptionSession
    ) -> InvalidEvent | None:
        """Why ``config``'s ``include`` cannot be served (logprobs without an engine for them)."""
        if LOGPROBS not in (config.include or ()) or self._can.asr_logprobs:
            return None
        return InvalidEvent(
            f"Invalid value in 'session.include': '{LOGPROBS}' is not supported: the "
            "transcription engine does not provide logprobs.",
            code=ErrorCode.INVALID_VALUE,
            param="session.include",
        )
