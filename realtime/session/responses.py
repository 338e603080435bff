"""Responses: their lifecycle, and the responder seam that fills them.

A response is created (``response.create``, or automatically after a user turn), asks the
responder for a reply with a snapshot of the conversation (a ``GenerateReply`` command),
and turns the reply parts that come back into the GA output events: the assistant item and
its content part, text or audio-transcript deltas, and speech. Text is sent to the speech
engine sentence by sentence as it arrives. A response ends once: ``completed`` (all audio
produced), ``cancelled`` (client or barge-in; generation and speech stop) or ``failed``. A
reply that fails with a client error code (``empty_response``) fails a ``response.create``
with an ``invalid_request_error`` naming its event, but completes an automatic response.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from protocol import (
    AssistantMessage,
    ErrorCode,
    ErrorType,
    InputAudio,
    InvalidEvent,
    OutputAudio,
    OutputText,
    RealtimeSession,
    ResponseCreateParams,
    SessionConfig,
    TranscriptionSession,
    UserMessage,
)
from protocol import server_events as ev
from protocol.items import ContentPart, ConversationItem, ItemReference
from realtime.session.commands import (
    CancelReply,
    CancelSynthesis,
    GenerateReply,
    ReleaseReply,
    Synthesize,
)
from realtime.session.conversation import Conversation
from realtime.session.function_calls import FunctionCalls
from realtime.session.outbox import Outbox
from realtime.session.replies import (
    FunctionCallDelta,
    ReplyDone,
    ReplyFailed,
    ReplyPart,
    ReplyRequest,
    TextDelta,
)
from realtime.session.response_state import ResponseRecord, ResponseState

BLANK_SAY = "response.voxgate.say is blank: there is nothing to say."
"""Why a ``response.create`` whose ``voxgate.say`` is blank fails (``empty_response``)."""

MAX_DELTA_MS = 100
"""Longest audio in one ``response.output_audio.delta``."""

OUTPUT_BYTES_PER_MS = {"audio/pcm": 48, "audio/pcmu": 8, "audio/pcma": 8}
"""Bytes of output audio per millisecond, by format."""


Reason = Literal["turn_detected", "client_cancelled"]


@dataclass(frozen=True, slots=True)
class ResponseHooks:
    """What responses ask of the rest of the session.

    Attributes:
        config: The session configuration in force.
        transcript_pending: The final transcript of an item is still to come.
        latest_user_item: The latest committed user audio turn, if any.
        ended: A response ended after producing this many milliseconds of audio.
    """

    config: Callable[[], SessionConfig]
    transcript_pending: Callable[[str | None], bool]
    latest_user_item: Callable[[], str | None]
    ended: Callable[[int], None]


class Responses:
    """The session's responses (one active at a time).

    Args:
        outbox: Where events and commands go.
        conversation: The session's items.
        hooks: The rest of the session.
        has_tts: A speech engine is available (audio responses need one).
        wait_for_transcripts: The responder reads user transcripts: a response waits for
            the final transcript of the latest user turn before asking for a reply.
        quick_replies: An automatic response answers its turn's speculative text without
            waiting for the final transcript (see :meth:`speculate`).
    """

    def __init__(
        self,
        outbox: Outbox,
        conversation: Conversation,
        hooks: ResponseHooks,
        *,
        has_tts: bool,
        wait_for_transcripts: bool,
        quick_replies: bool = False,
    ) -> None:
        self._out = outbox
        self._conversation = conversation
        self._hooks = hooks
        self._has_tts = has_tts
        self._waits = wait_for_transcripts
        self._quick = quick_replies
        self._response: ResponseRecord | None = None
        self._calls = FunctionCalls(outbox, conversation)
        self._speculation: _Speculation | None = None
        self.conversation_id: str | None = None
        """The session's conversation (``response.conversation_id`` of in-band responses)."""

    @property
    def active(self) -> bool:
        """A response is in progress (waiting, generating or speaking)."""
        return self._response is not None and self._response.state is not ResponseState.DONE

    @property
    def latest_id(self) -> str:
        """The latest response's id ("" before any)."""
        return self._response.id if self._response is not None else ""

    @property
    def started(self) -> bool:
        """A response was ever created."""
        return self._response is not None

    # --- creation -----------------------------------------------------------------------------

    def create(
        self,
        params: ResponseCreateParams,
        *,
        automatic: bool = False,
        event_id: str | None = None,
    ) -> None:
        """Start a response (``event_id``: the client's ``response.create``, if any).

        Raises:
            InvalidEvent: a transcription session, or (not ``automatic``) a response is
                already active. An automatic response is skipped instead.
        """
        config = self._hooks.config()
        if isinstance(config, TranscriptionSession):
            raise InvalidEvent(
                "Responses are not available in a transcription session.",
                code=ErrorCode.INVALID_VALUE,
                param="type",
            )
        active = self._response
        if active is not None and active.state is not ResponseState.DONE:
            if automatic:
                self.drop_speculation()
                return
            raise InvalidEvent(
                f"Conversation already has an active response in progress: {active.id}. "
                "Wait until the response is finished before creating a new one.",
                code=ErrorCode.CONVERSATION_ALREADY_HAS_ACTIVE_RESPONSE,
            )
        response = self._new_response(config, params)
        response.automatic, response.event_id = automatic, event_id
        self._claim_speculation(response, automatic=automatic)
        self._response = response
        self._out.send(
            ev.ResponseCreated(
                event_id=self._out.event_id(),
                response=response.to_protocol("in_progress"),
            )
        )
        latest = self._hooks.latest_user_item()
        if _say_text(params) is None and self._waits and self._hooks.transcript_pending(latest):
            if self._quick and self._answer_held_turn(response):
                return
            response.state, response.awaiting_item = ResponseState.WAITING, latest
            return
        self._ask_responder(response)

    def _new_response(
        self, config: RealtimeSession, params: ResponseCreateParams
    ) -> ResponseRecord:
        modalities = params.output_modalities or config.output_modalities
        output = params.audio.output if params.audio and params.audio.output else None
        fmt = (output.format if output and output.format else config.audio.output.format).type
        voice = output.voice if output and output.voice else config.audio.output.voice
        return ResponseRecord(
            id=self._out.ids("resp"),
            params=params,
            modality="audio" if "audio" in modalities and self._has_tts else "text",
            output_format=fmt,
            voice=voice if isinstance(voice, str) else voice.id,
            speed=config.audio.output.speed,
            conversation_id=None if params.conversation == "none" else self.conversation_id,
        )

    def _ask_responder(self, response: ResponseRecord) -> None:
        response.state = ResponseState.GENERATING
        say = _say_text(response.params)
        if say is not None:  # voxgate.say: the text itself, no responder
            self.drop_speculation()
            if not say.strip():
                blank = ReplyFailed(BLANK_SAY, code=ErrorCode.EMPTY_RESPONSE)
                self.receive_reply_part(response.id, blank)
                return
            self.receive_reply_part(response.id, TextDelta(say))
            self.receive_reply_part(response.id, ReplyDone())
            return
        request = self._request(response)
        held, self._speculation = self._speculation, None
        if held is not None and held.request.response_id == response.id:
            if _same_context(held.request, request):
                self._out.command(ReleaseReply(response.id))  # the early reply holds
                return
            self._out.command(CancelReply(response.id))
        elif held is not None:
            self._out.command(CancelReply(held.request.response_id))
        self._out.command(GenerateReply(request))

    # --- speculative replies ---------------------------------------------------------------

    def speculate(self, item_id: str, text: str) -> None:
        """Start the automatic reply to the turn ``item_id`` early, from a speculative final.

        The reply is held (its parts kept by the runner) under the id the automatic
        response will take; it is released when that response asks for its reply and the
        final transcript and the conversation are what the reply was asked with, and
        cancelled otherwise (the speaker went on, the final differs, the turn gets no
        automatic response). Only for responders that read transcripts, with no response
        active.

        With quick replies, ``text`` is a quick guess and is final for the reply: the
        response releases the held reply as soon as it is created (the conversation
        otherwise unchanged) instead of waiting for the final transcript, and a response
        already waiting for this turn's transcript answers ``text`` at once.
        """
        config = self._hooks.config()
        if self._quick and self._answer_waiting_turn(item_id, text):
            return
        if not self._waits or self.active or not isinstance(config, RealtimeSession):
            return
        self.drop_speculation()
        response = self._new_response(config, ResponseCreateParams())
        turn = UserMessage(id=item_id, content=[InputAudio(transcript=text)])
        request = self._request(response, pending_turn=turn)
        self._speculation = _Speculation(item_id, request, text)
        speech = None
        if response.modality == "audio":
            speech = Synthesize(
                response.id,
                "",
                speed=response.speed,
                output_format=response.output_format,
                voice=response.voice,
                last=False,
            )
        self._out.command(GenerateReply(request, hold=True, speech=speech))

    def _answer_waiting_turn(self, item_id: str, text: str) -> bool:
        """Quick replies: a response waiting for ``item_id``'s transcript answers ``text`` now."""
        response = self._response
        if response is None or response.state is not ResponseState.WAITING:
            return False
        if response.awaiting_item != item_id:
            return False
        response.awaiting_item = None
        response.state = ResponseState.GENERATING
        self._out.command(GenerateReply(_with_turn(self._request(response), item_id, text)))
        return True

    def _answer_held_turn(self, response: ResponseRecord) -> bool:
        """Quick replies: the new automatic ``response`` answers its turn's held guess now.

        The held reply is released when the rest of the conversation is what it was asked
        with, else the guess is answered again with the conversation as it is. False when
        no early reply is held for ``response``.
        """
        held = self._speculation
        if held is None or held.request.response_id != response.id:
            return False
        self._speculation = None
        response.state = ResponseState.GENERATING
        now = _with_turn(self._request(response), held.item_id, held.text)
        if _same_context(held.request, now):
            self._out.command(ReleaseReply(response.id))
        else:
            self._out.command(CancelReply(response.id))
            self._out.command(GenerateReply(now))
        return True

    def drop_speculation(self) -> None:
        """Cancel the held early reply, if any."""
        held, self._speculation = self._speculation, None
        if held is not None:
            self._out.command(CancelReply(held.request.response_id))

    def drop_unclaimed_speculation(self) -> None:
        """Cancel the held early reply unless the current response took it."""
        held = self._speculation
        if held is not None and (
            self._response is None or self._response.id != held.request.response_id
        ):
            self.drop_speculation()

    def _claim_speculation(self, response: ResponseRecord, *, automatic: bool) -> None:
        """An automatic response to the turn an early reply answers takes that reply's id."""
        held = self._speculation
        if held is None:
            return
        if automatic and held.item_id == self._hooks.latest_user_item():
            response.id = held.request.response_id
        else:
            self.drop_speculation()

    def _request(
        self, response: ResponseRecord, *, pending_turn: UserMessage | None = None
    ) -> ReplyRequest:
        """The snapshot the responder answers from (``pending_turn``: a turn not yet committed)."""
        config = self._hooks.config()
        assert isinstance(config, RealtimeSession)
        params = response.params
        limit = config.max_output_tokens
        if params.max_output_tokens is not None:
            limit = params.max_output_tokens
        items = self._context(params)
        if pending_turn is not None:
            items = (*items, pending_turn)
        return ReplyRequest(
            response_id=response.id,
            instructions=config.instructions,
            extra_instructions=params.instructions,
            items=items,
            tools=tuple(params.tools if params.tools is not None else config.tools),
            tool_choice=params.tool_choice
            if params.tool_choice is not None
            else config.tool_choice,
            max_output_tokens=None if limit == "inf" else limit,
            modality=response.modality,
            latest_user_item_id=pending_turn.id if pending_turn else self._hooks.latest_user_item(),
            generated_item_ids=self._conversation.generated_ids,
        )

    def _context(self, params: ResponseCreateParams) -> tuple[ConversationItem, ...]:
        """The conversation, or an out-of-band response's own input (references resolved).

        User audio items carry their transcripts even when the client did not ask to see
        them (:meth:`~realtime.session.conversation.Conversation.for_responder`).
        """
        view = self._conversation.for_responder
        if params.conversation != "none" or params.input is None:
            return tuple(view(item) for item in self._conversation)
        items: list[ConversationItem] = []
        for entry in params.input:
            if isinstance(entry, ItemReference):
                found = self._conversation.get(entry.id)
                if found is not None:
                    items.append(view(found))
            else:
                items.append(entry)
        return tuple(items)

    # --- transcripts the response waits for ------------------------------------------------------

    def transcript_ready(self, item_id: str) -> None:
        """The final transcript of ``item_id`` arrived: a response waiting for it goes on."""
        response = self._response
        if response is not None and response.awaiting_item == item_id:
            response.awaiting_item = None
            self._ask_responder(response)

    def transcript_failed(self, item_id: str) -> None:
        """The transcript of ``item_id`` failed: a response waiting for it fails."""
        response = self._response
        if response is not None and response.awaiting_item == item_id:
            self._finish("failed", error="The transcript of the user's turn could not be produced.")

    # --- reply parts ---------------------------------------------------------------------------

    def receive_reply_part(self, response_id: str, part: ReplyPart) -> None:
        """One part of the reply for ``response_id`` (ignored once the response ended)."""
        response = self._response
        if response is None or response.id != response_id:
            return
        if response.state is not ResponseState.GENERATING:
            return
        match part:
            case TextDelta():
                self._add_text(response, part.text)
            case FunctionCallDelta():
                self._calls.add(response, part)
            case ReplyDone():
                response.usage = part.usage
                malformed = self._calls.malformed(response)
                if malformed is not None:
                    self._cancel_work(response, reply_ended=True)
                    self._finish("failed", error=malformed)
                    return
                self._calls.close_all(response, completed=True)
                self._reply_done(response)
            case ReplyFailed(code=ErrorCode.EMPTY_RESPONSE) if response.automatic:
                self._reply_done(response)  # a turn left nothing to say: no client mistake
            case ReplyFailed():
                self._cancel_work(response, reply_ended=True)
                self._finish("failed", error=part.message, code=part.code)

    def _add_text(self, response: ResponseRecord, text: str) -> None:
        if response.item_id is None:
            text = text.lstrip()  # nothing is announced for a reply that is only blank
            if not text:
                return
            self._announce_item(response)
        response.text += text
        ids = response.ids()
        if response.modality == "text":
            self._out.send(
                ev.ResponseOutputTextDelta(event_id=self._out.event_id(), delta=text, **ids)
            )
            return
        self._out.send(
            ev.ResponseOutputAudioTranscriptDelta(event_id=self._out.event_id(), delta=text, **ids)
        )
        for piece in response.pieces.add(text):
            self._synthesize(response, piece, last=False)

    def _reply_done(self, response: ResponseRecord) -> None:
        if response.item_id is None or response.modality == "text":
            self._finish("completed")
            return
        self._synthesize(response, response.pieces.rest(), last=True)
        response.state = ResponseState.SPEAKING

    def _synthesize(self, response: ResponseRecord, text: str, *, last: bool) -> None:
        response.synthesizing = True
        self._out.command(
            Synthesize(
                response.id,
                text,
                speed=response.speed,
                output_format=response.output_format,
                voice=response.voice,
                last=last,
            )
        )

    def _announce_item(self, response: ResponseRecord) -> None:
        response.item_id = self._out.ids("item")
        response.message_index = response.outputs
        response.outputs += 1
        item = AssistantMessage(id=response.item_id, status="in_progress", content=[])
        self._conversation.start_output(
            response.id, response.message_index, item, in_band=not response.out_of_band
        )
        part = (
            ContentPart(type="audio", transcript="")
            if response.modality == "audio"
            else ContentPart(type="text", text="")
        )
        self._out.send(
            ev.ResponseContentPartAdded(event_id=self._out.event_id(), part=part, **response.ids())
        )

    # --- audio -----------------------------------------------------------------------------

    def receive_audio(self, response_id: str, audio: bytes, *, final: bool) -> None:
        """Encoded output audio (in the response's format); ``final`` ends the response."""
        response = self._response
        if response is None or response.id != response_id:
            return
        if response.state not in (ResponseState.GENERATING, ResponseState.SPEAKING):
            return  # cancelled: late audio is dropped
        step = MAX_DELTA_MS * OUTPUT_BYTES_PER_MS[response.output_format]
        for at in range(0, len(audio), step):  # small deltas: smooth playback, quick barge-in
            piece = audio[at : at + step]
            response.audio_bytes += len(piece)
            self._out.send(
                ev.ResponseOutputAudioDelta(
                    event_id=self._out.event_id(),
                    delta=base64.b64encode(piece).decode("ascii"),
                    **response.ids(),
                )
            )
        if final:
            if response.state is ResponseState.GENERATING:
                self._out.command(CancelReply(response.id))
            self._finish("completed")

    def receive_synthesis_failed(self, response_id: str, message: str) -> None:
        """The speech engine failed for a response (late failures change nothing)."""
        response = self._response
        if response is None or response.id != response_id:
            return
        if response.state in (ResponseState.GENERATING, ResponseState.SPEAKING):
            if response.state is ResponseState.GENERATING:
                self._out.command(CancelReply(response.id))
            self._finish("failed", error=message)

    # --- cancellation ----------------------------------------------------------------------

    def cancel_by_client(self, response_id: str | None) -> None:
        """``response.cancel``.

        Raises:
            InvalidEvent: no active response (with that id).
        """
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
        self.cancel("client_cancelled")

    def cancel_for_item(self, item_id: str) -> None:
        """Cancel the active response if it is producing ``item_id`` (truncation)."""
        response = self._response
        if response is not None and response.item_id == item_id and self.active:
            self.cancel("client_cancelled")

    def cancel(self, reason: Reason) -> None:
        """Cancel the active response, if any: generation and speech stop."""
        response = self._response
        if response is None or response.state is ResponseState.DONE:
            return
        self._cancel_work(response)
        self._finish("cancelled", reason=reason)

    def _cancel_work(self, response: ResponseRecord, *, reply_ended: bool = False) -> None:
        if response.synthesizing:
            self._out.command(CancelSynthesis(response.id))
        if response.state is ResponseState.GENERATING and not reply_ended:
            self._out.command(CancelReply(response.id))

    # --- the end ---------------------------------------------------------------------------

    def _finish(
        self,
        status: Literal["completed", "cancelled", "failed"],
        *,
        reason: Reason | None = None,
        error: str | None = None,
        code: str | None = None,
    ) -> None:
        """End the active response (``code``: the client's request is at fault)."""
        response = self._response
        assert response is not None
        response.state = ResponseState.DONE
        response.awaiting_item = None  # a transcript arriving later must not revive it
        self.drop_speculation()  # a held reply this response never released
        self._calls.close_all(response, completed=status == "completed")
        output = self._outputs(response, status)
        details = None
        if status == "cancelled":
            details = ev.ResponseStatusDetails(type="cancelled", reason=reason)
        elif status == "failed":
            details = self._failure(response, error or "Speech synthesis failed.", code)
        done = response.to_protocol(status, details=details, output=output)
        self._out.send(ev.ResponseDone(event_id=self._out.event_id(), response=done))
        self._hooks.ended(response.audio_bytes // OUTPUT_BYTES_PER_MS[response.output_format])

    def _failure(
        self, response: ResponseRecord, message: str, code: str | None
    ) -> ev.ResponseStatusDetails:
        """Send the ``error`` of a failed response; its ``status_details``.

        A server error names no client event; a request at fault (``code``) names the
        ``response.create`` that asked for the response.
        """
        if code is None:
            type_, event_id = ErrorType.SERVER, None
        else:
            type_, event_id = ErrorType.INVALID_REQUEST, response.event_id
        self._out.error(message, code=code, event_id=event_id, type_=type_)
        error = ev.ResponseStatusError(type=type_, code=code, message=message)
        return ev.ResponseStatusDetails(type="failed", error=error)

    def _outputs(self, response: ResponseRecord, status: str) -> list[ConversationItem]:
        """The response's output items in order, closing its message item."""
        indexed: list[tuple[int, ConversationItem]] = [
            (call.output_index, self._calls.item(call, completed=status == "completed"))
            for call in response.calls
        ]
        if response.item_id is not None:
            indexed.append((response.message_index, self._close_item(response, status)))
        return [item for _, item in sorted(indexed, key=lambda pair: pair[0])]

    def _close_item(self, response: ResponseRecord, status: str) -> AssistantMessage:
        """Send the ``…done`` events of the response's message; return the finished item.

        A response that did not complete keeps, in an audio item, only the text that went
        to the speech engine (the unfinished sentence after it was never spoken).
        """
        assert response.item_id is not None
        unspoken = response.pieces.rest()
        if status != "completed" and response.modality == "audio" and unspoken:
            response.text = response.text[: len(response.text) - len(unspoken)].rstrip()
        ids = response.ids()
        content: list[OutputAudio | OutputText]
        if response.modality == "audio":
            self._out.send(ev.ResponseOutputAudioDone(event_id=self._out.event_id(), **ids))
            self._out.send(
                ev.ResponseOutputAudioTranscriptDone(
                    event_id=self._out.event_id(), transcript=response.text, **ids
                )
            )
            part = ContentPart(type="audio", transcript=response.text)
            content = [OutputAudio(transcript=response.text)]
            produced_ms = response.audio_bytes // OUTPUT_BYTES_PER_MS[response.output_format]
        else:
            self._out.send(
                ev.ResponseOutputTextDone(event_id=self._out.event_id(), text=response.text, **ids)
            )
            part = ContentPart(type="text", text=response.text)
            content = [OutputText(text=response.text)]
            produced_ms = 0
        self._conversation.record_generated(response.item_id, produced_ms, response.text)
        self._out.send(ev.ResponseContentPartDone(event_id=self._out.event_id(), part=part, **ids))
        item = AssistantMessage(
            id=response.item_id,
            status="completed" if status == "completed" else "incomplete",
            content=content,
        )
        self._conversation.finish_output(
            response.id, response.message_index, item, in_band=not response.out_of_band
        )
        return item


@dataclass(frozen=True, slots=True)
class _Speculation:
    """An early reply, held: the turn it answers and what it was asked with."""

    item_id: str
    request: ReplyRequest
    text: str


def _with_turn(request: ReplyRequest, item_id: str, text: str) -> ReplyRequest:
    """``request`` with the user turn ``item_id`` heard as ``text`` (its transcript pending)."""
    turn = UserMessage(id=item_id, content=[InputAudio(transcript=text)])
    items = tuple(turn if item.id == item_id else item for item in request.items)
    return replace(request, items=items)


def _same_context(early: ReplyRequest, now: ReplyRequest) -> bool:
    """Whether an early reply answers what the response would ask (ids and statuses aside)."""

    def key(request: ReplyRequest) -> tuple[object, ...]:
        items = tuple(item.model_dump(exclude={"id", "status"}) for item in request.items)
        return (
            request.instructions,
            request.extra_instructions,
            request.tools,
            request.tool_choice,
            request.temperature,
            request.max_output_tokens,
            request.modality,
            items,
        )

    return key(early) == key(now)


def _say_text(params: ResponseCreateParams) -> str | None:
    """The text a ``response.voxgate.say`` asks to speak verbatim, if any."""
    return params.voxgate.say if params.voxgate is not None else None
