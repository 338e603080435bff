"""A sans-I/O session whose replies come at once from a scripted responder.

The runner iterates the responder's stream asynchronously; these tests answer each
``GenerateReply`` synchronously with the same ``say``/``echo`` text, so a test sees what a
client sees without an event loop.
"""

from __future__ import annotations

from typing import Any

from realtime.responders.scripted import echo_text, say_text, scripted_parts
from realtime.session import Capabilities, Session
from realtime.session.commands import Command, GenerateReply

TEXTS = {"say": say_text, "echo": echo_text}


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
        self._text_for = TEXTS[responder]
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
                for part in scripted_parts(self._text_for(request)):
                    self.receive_reply_part(request.response_id, part)

    def events_to_send(self) -> list:
        self._answer_replies()
        return super().events_to_send()

    def commands(self) -> list[Command]:
        self._answer_replies()
        out, self._held = self._held, []
        return out
