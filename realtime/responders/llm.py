"""The ``llm`` responder: each response is a streamed chat completion.

The reply request becomes a Chat Completions body (:mod:`~realtime.responders.chat_request`),
a :class:`~realtime.responders.chat_backends.ChatBackend` streams it, and the chunks become
reply parts (:mod:`~realtime.responders.chat_stream`). Spoken replies lose markdown marks,
which speech engines would read out or stumble on. Closing the reply stream (barge-in,
``response.cancel``) closes the completion. Every failure ends the reply with one
``ReplyFailed`` whose message is safe to show the client.

Why these choices: docs/decisions/conversations.md
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator

from realtime.responders.chat_backends import ChatBackend, ChatUnavailable
from realtime.responders.chat_request import chat_body
from realtime.responders.chat_stream import ChunkReader, MalformedChunk
from realtime.session.replies import ReplyDone, ReplyFailed, ReplyPart, ReplyRequest, TextDelta

log = logging.getLogger(__name__)

_MARKDOWN = re.compile(r"[*_#`]+")


class LLMResponder:
    """Answers with a language model, calling the client's function tools.

    Args:
        chat: Where completions run (shared by every session of the app).
    """

    reads_transcripts = True

    def __init__(self, chat: ChatBackend) -> None:
        self._chat = chat

    async def reply(self, request: ReplyRequest) -> AsyncIterator[ReplyPart]:
        """Stream the model's answer to ``request`` (see :class:`~realtime.responders.Responder`)."""
        reader = ChunkReader(frozenset(tool.name for tool in request.tools))
        spoken = request.modality == "audio"
        try:
            body = chat_body(request, self._chat.model)
            async with contextlib.aclosing(self._chat.stream(body)) as chunks:
                async for chunk in chunks:
                    for part in reader.read(chunk):
                        yield _for_speech(part) if spoken else part
                        if reader.failed:
                            return
        except ChatUnavailable as exc:
            log.warning("response %s: %s", request.response_id, exc)
            yield ReplyFailed(str(exc))
            return
        except MalformedChunk as exc:
            log.warning("response %s: the language model sent %s", request.response_id, exc)
            yield ReplyFailed(f"The language model sent {exc}.")
            return
        yield ReplyDone(reader.usage)


def _for_speech(part: ReplyPart) -> ReplyPart:
    if isinstance(part, TextDelta):
        return TextDelta(_MARKDOWN.sub("", part.text))
    return part
