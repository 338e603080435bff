"""A sans-I/O session whose replies come at once from a scripted responder, and helpers.

The runner iterates the responder's stream asynchronously; these tests answer each
``GenerateReply`` synchronously with the same ``say``/``echo`` text, so a test sees what a
client sees without an event loop. :func:`make`, :func:`send`, :func:`append` and
:func:`drain` drive one like a client, checking every event against the official SDK.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter

from protocol import EXTENSION_PREFIX, RealtimeSession, dump_server_event, parse_client_event
from realtime.responders.scripted import echo_parts, say_parts
from realtime.session import Capabilities, Session
from realtime.session.commands import Command, GenerateReply
from realtime.session.ids import SequentialIds

REPLIES = {"say": say_parts, "echo": echo_parts}
SDK = TypeAdapter(RealtimeServerEvent)
TRANSCRIBED = RealtimeSession.model_validate(
    {"audio": {"input": {"transcription": {"model": "whisper-1"}}}}
)
"""A realtime session that asks for input transcription (off by default)."""


class InlineReplies(Session):
    """A :class:`Session` answering its own ``GenerateReply`` commands as ``responder`` would.

    Args:
        config: The initial session.
        responder: ``"say"`` or ``"echo"``.
        has_tts: A speech engine is available.
        **kwargs: ``ids``, ``created_at`` and other :class:`Capabilities` fields.
    """

    def __init__(
        self, config: Any, *, responder: str = "say", has_tts: bool = True, **kwargs: Any
    ) -> None:
        self._reply_to = REPLIES[responder]
        self._held: list[Command] = []
        ids, created_at = kwargs.pop("ids"), kwargs.pop("created_at")
        capabilities = Capabilities(tts=has_tts, reads_transcripts=responder == "echo", **kwargs)
        super().__init__(config, ids=ids, created_at=created_at, capabilities=capabilities)

    def _answer_replies(self) -> None:
        while True:
            replies = []
            for command in super().commands():
                if isinstance(command, GenerateReply):
                    replies.append(command.request)
                else:
                    self._held.append(command)
            if not replies:
                return
            for request in replies:
                for part in self._reply_to(request):
                    self.receive_reply_part(request.response_id, part)

    def events_to_send(self) -> list:
        self._answer_replies()
        return super().events_to_send()

    def commands(self) -> list[Command]:
        self._answer_replies()
        out, self._held = self._held, []
        return out


def make(config: Any = None, **kwargs: Any) -> InlineReplies:
    """A drained :class:`InlineReplies` (default: a default realtime session, ``say``)."""
    s = InlineReplies(
        config or RealtimeSession(), ids=SequentialIds(), created_at=1_000.0, **kwargs
    )
    drain(s)
    return s


def drain(s: Session) -> tuple[list, list]:
    """The session's events and commands; every event is checked valid for the SDK."""
    events = s.events_to_send()
    for event in events:  # every event is valid for the official SDK (ours: for our model)
        wire = dump_server_event(event)
        assert wire is not None  # every event exists in the GA dialect
        if event.type.startswith(EXTENSION_PREFIX):
            type(event).model_validate_json(wire)
        else:
            SDK.validate_json(wire)
    return events, s.commands()


def types(events: list) -> list[str]:
    """The events' types."""
    return [e.type for e in events]


def send(s: Session, payload: dict) -> tuple[list, list]:
    """Send one client event (GA JSON); what came out (see :func:`drain`)."""
    s.receive_client_event(parse_client_event(json.dumps(payload)))
    return drain(s)


def append(s: Session, seconds: float, rate: int = 24_000) -> tuple[list, list]:
    """Append ``seconds`` of a pcm16 tone at ``rate``; what came out."""
    pcm = (np.sin(np.arange(int(rate * seconds)) / 5) * 3000).astype("<i2").tobytes()
    return send(s, {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()})
