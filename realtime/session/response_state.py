"""A response's state, and its rendering as the protocol's ``response`` object."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal, TypedDict

from protocol import AudioPCM, AudioPCMA, AudioPCMU, ResponseCreateParams
from protocol import server_events as ev
from protocol.items import ConversationItem
from realtime.session.replies import Usage
from realtime.session.speech_pieces import SpeechPieces


class ResponseState(enum.Enum):
    """Where a response stands."""

    WAITING = "waiting"  # for a transcript the responder reads
    GENERATING = "generating"  # the responder is producing parts
    SPEAKING = "speaking"  # the reply is complete; its last audio is being produced
    DONE = "done"


class OutputIds(TypedDict):
    """The ids every output event of a response carries."""

    response_id: str
    item_id: str
    output_index: int
    content_index: int


@dataclass
class CallRecord:
    """A function call a response is producing.

    Attributes:
        item_id: The ``function_call`` item.
        call_id: The id the client answers with (``function_call_output.call_id``).
        name: The function's name.
        output_index: The item's place in the response's output.
        arguments: The JSON arguments so far.
        done: The call's ``…done`` events were sent.
    """

    item_id: str
    call_id: str
    name: str
    output_index: int
    arguments: str = ""
    done: bool = False


@dataclass
class ResponseRecord:
    """One response as the session tracks it.

    Attributes:
        id: The response id.
        params: What ``response.create`` asked for (defaults for automatic responses).
        modality: ``"audio"`` or ``"text"`` (audio needs a speech engine).
        output_format: Wire format of the output audio.
        voice: Voice name.
        speed: Speaking-rate multiplier.
        state: Where the response stands.
        item_id: The assistant message item, once the first text arrived.
        message_index: The message item's place in the response's output.
        calls: Function calls, in output order.
        outputs: Output items announced so far (the next one's ``output_index``).
        text: The text so far.
        pieces: The text not yet sent to the speech engine, cut into pieces to speak.
        synthesizing: Some text was sent to the speech engine.
        awaiting_item: The user item whose transcript the response waits for.
        audio_bytes: Output audio produced so far.
        usage: Token counts reported by the responder.
        conversation_id: The conversation the response adds to (None: out of band).
        automatic: The session created it (a user turn ended), not a ``response.create``.
        event_id: The ``event_id`` of the ``response.create`` that asked for it, if any.
    """

    id: str
    params: ResponseCreateParams
    modality: Literal["audio", "text"]
    output_format: str
    voice: str
    speed: float
    state: ResponseState = ResponseState.GENERATING
    item_id: str | None = None
    message_index: int = 0
    calls: list[CallRecord] = field(default_factory=list)
    outputs: int = 0
    text: str = ""
    pieces: SpeechPieces = field(default_factory=SpeechPieces)
    synthesizing: bool = False
    awaiting_item: str | None = None
    audio_bytes: int = 0
    usage: Usage | None = None
    conversation_id: str | None = None
    automatic: bool = False
    event_id: str | None = None

    @property
    def out_of_band(self) -> bool:
        """The response is outside the default conversation (``conversation: "none"``)."""
        return self.params.conversation == "none"

    def ids(self) -> OutputIds:
        """The ids for the output events of this response's message (content index 0)."""
        return {
            "response_id": self.id,
            "item_id": self.item_id or "",
            "output_index": self.message_index,
            "content_index": 0,
        }

    def to_protocol(
        self,
        status: Literal["in_progress", "completed", "cancelled", "failed"],
        *,
        details: ev.ResponseStatusDetails | None = None,
        output: list[ConversationItem] | None = None,
    ) -> ev.Response:
        """This response as the protocol's ``response`` object."""
        fmt = {"audio/pcm": AudioPCM, "audio/pcmu": AudioPCMU, "audio/pcma": AudioPCMA}[
            self.output_format
        ]()
        return ev.Response(
            id=self.id,
            status=status,
            status_details=details,
            output=list(output or []),
            conversation_id=self.conversation_id,
            output_modalities=[self.modality],
            audio=ev.ResponseAudio(output=ev.ResponseAudioOutput(format=fmt, voice=self.voice)),
            metadata=self.params.metadata,
            usage=None if status == "in_progress" else _usage(self.usage),
        )


def _usage(usage: Usage | None) -> ev.Usage:
    if usage is None:
        return ev.Usage()
    return ev.Usage(
        total_tokens=usage.input_tokens + usage.output_tokens,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
    )
