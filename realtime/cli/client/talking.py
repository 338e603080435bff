"""``talk``: a spoken conversation with a gateway: the user's audio in, spoken answers out.

The session answers every user turn by itself (server VAD, ``create_response: true``) and
transcribes it, so the user's words print beside the assistant's. Answers play as their
audio arrives (:class:`~realtime.cli.client.playback.StreamingPlayer`) or go whole to a
callback. When the user starts speaking while an answer plays (barge-in), playback stops at
once and ``conversation.item.truncate`` tells the server how much was heard, as OpenAI's own
clients do, so the conversation keeps only that.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from realtime.cli.client.chatting import SpokenReply
from realtime.cli.client.connection import (
    SILENCE_DURATION_MS,
    ClientError,
    connect,
    pcm_format,
    send_event,
    server_vad,
    stream_audio,
)
from realtime.cli.client.listening import SETTLE_S, UserTurns, events_until_settled
from realtime.cli.client.playback import StreamingPlayer
from realtime.cli.client.printer import ConversationPrinter


async def talk(
    url: str,
    api_key: str | None,
    audio: AsyncIterator[bytes],
    printer: ConversationPrinter,
    *,
    device: Any | None = None,
    on_reply: Callable[[SpokenReply], Any] | None = None,
    instructions: str | None = None,
    voice: str | None = None,
    silence_ms: int = SILENCE_DURATION_MS,
    fail_fast: bool = True,
    settle_s: float = SETTLE_S,
) -> list[SpokenReply]:
    """Hold a spoken conversation: stream the user's audio, print and play the answers.

    Returns when ``audio`` is exhausted, every turn is transcribed and answered, no event
    came for ``settle_s`` and the answers have played. For an endless source (a microphone)
    it runs until cancelled.

    Args:
        url: The gateway's base URL.
        api_key: The API key, or None.
        audio: 24 kHz pcm16 chunks (see :func:`file_source`, :func:`microphone_source`).
        printer: Receives the user's transcripts and the assistant's as it streams.
        device: The ``sounddevice`` module to play answers as they arrive (and cut them on
            barge-in); None plays nothing.
        on_reply: Receives each finished answer that has audio (an answer cut before it
            spoke has none); it may be a coroutine function, awaited.
        instructions: The session's instructions (the system prompt); None: the server's.
        voice: A voice name for the server; default: the server's.
        silence_ms: The pause that ends a user turn.
        fail_fast: A failed response raises, and so does audio in which the gateway heard
            no speech (for a file); False reports failures on stderr and goes on.
        settle_s: Quiet time that marks the end once all audio is sent and answered.

    Returns:
        The answers, in order (failed ones left out).

    Raises:
        ClientError: connection or authentication failed, the gateway closed early, or
            (``fail_fast``) a response failed or no speech was heard.
    """
    import websockets

    async with connect(url, api_key) as ws:
        session = talk_session(instructions, voice, silence_ms)
        await send_event(ws, {"type": "session.update", "session": session})
        with contextlib.ExitStack() as stack:
            player = stack.enter_context(StreamingPlayer(device)) if device is not None else None
            state = _Conversation(ws, printer, player, on_reply, fail_fast)
            sender = asyncio.ensure_future(stream_audio(ws, audio))
            try:
                async for event in events_until_settled(ws, sender, state.settled, settle_s):
                    await state.handle(event)
                if fail_fast and not state.turns.committed:
                    raise ClientError("the gateway heard no speech")
                if player is not None:
                    await player.drain()
            except websockets.ConnectionClosed as exc:
                raise ClientError(f"the gateway closed the connection: {exc}") from exc
            finally:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sender
    return state.replies


def talk_session(
    instructions: str | None, voice: str | None, silence_ms: int = SILENCE_DURATION_MS
) -> dict[str, Any]:
    """The ``session.update`` body: pcm16 both ways, transcribed turns, each one answered."""
    output: dict[str, Any] = {"format": pcm_format()}
    if voice:
        output["voice"] = voice
    turn_detection = server_vad(create_response=True, silence_ms=silence_ms)
    turn_detection["interrupt_response"] = True
    session: dict[str, Any] = {
        "type": "realtime",
        "audio": {
            "input": {
                "format": pcm_format(),
                "transcription": {"model": "whisper-1"},
                "turn_detection": turn_detection,
            },
            "output": output,
        },
    }
    if instructions:
        session["instructions"] = instructions
    return session


@dataclass
class _Answer:
    """A response in progress: what it answers, its audio and transcript so far."""

    heard: str
    audio: bytearray = field(default_factory=bytearray)
    transcript: list[str] = field(default_factory=list)


class _Conversation:
    """Takes in the server's events: prints, plays, cuts on barge-in, collects the answers."""

    def __init__(
        self,
        ws: Any,
        printer: ConversationPrinter,
        player: StreamingPlayer | None,
        on_reply: Callable[[SpokenReply], Any] | None,
        fail_fast: bool,
    ) -> None:
        self.ws = ws
        self.printer = printer
        self.player = player
        self.on_reply = on_reply
        self.fail_fast = fail_fast
        self.turns = UserTurns()
        self.replies: list[SpokenReply] = []
        self._answering: dict[str, _Answer] = {}  # by response id
        self._heard = ""  # the latest user turn's transcript
        self._cut: set[str] = set()  # assistant items cut on barge-in: late audio is dropped

    def settled(self) -> bool:
        """Whether no user turn is open or untranscribed and no response is in progress."""
        return self.turns.settled and not self._answering

    async def handle(self, event: dict[str, Any]) -> None:
        """Take in one server event.

        Raises:
            ClientError: (``fail_fast``) the response this event ends failed.
        """
        self.turns.track(event)
        kind = event["type"]
        if kind == "input_audio_buffer.speech_started":
            await self._barge_in()
        elif kind.startswith("conversation.item.input_audio_transcription."):
            self._user_transcript(kind.rsplit(".", 1)[1], event)
        elif kind == "response.created":
            self._answering[event["response"]["id"]] = _Answer(self._heard)
        elif kind == "response.output_audio.delta":
            self._audio(event)
        elif kind == "response.output_audio_transcript.delta":
            self.printer.assistant_delta(event["item_id"], event.get("delta") or "")
            if answer := self._answering.get(event["response_id"]):
                answer.transcript.append(event.get("delta") or "")
        elif kind == "response.output_audio_transcript.done":
            self.printer.assistant_done(event["item_id"])
        elif kind == "response.done":
            await self._finish(event["response"])
        elif kind == "error":
            self._error(event["error"])

    def _user_transcript(self, stage: str, event: dict[str, Any]) -> None:
        if stage == "delta":
            self.printer.user_delta(event["item_id"], event.get("delta") or "")
        elif stage == "completed":
            self._heard = (event.get("transcript") or "").strip()
            self.printer.user_final(event["item_id"], self._heard)
        elif stage == "failed":
            self.printer.user_final(event["item_id"], "")
            message = (event.get("error") or {}).get("message", "transcription failed")
            print(f"voxgate: warning: {message}", file=sys.stderr)

    def _audio(self, event: dict[str, Any]) -> None:
        pcm = base64.b64decode(event["delta"])
        if answer := self._answering.get(event["response_id"]):
            answer.audio.extend(pcm)
        if self.player is not None and event["item_id"] not in self._cut:
            self.player.feed(event["item_id"], pcm)

    async def _barge_in(self) -> None:
        """The user speaks: stop what plays and tell the server how much of it was heard."""
        if self.player is None or not self.player.playing:
            return
        cut = self.player.stop()
        for item_id, heard_ms in cut:
            self._cut.add(item_id)
            await send_event(
                self.ws,
                {
                    "type": "conversation.item.truncate",
                    "item_id": item_id,
                    "content_index": 0,
                    "audio_end_ms": heard_ms,
                },
            )
        if cut:
            self.printer.interrupted(cut[0][1] / 1000)

    async def _finish(self, response: dict[str, Any]) -> None:
        answer = self._answering.pop(response["id"], None) or _Answer(self._heard)
        for item in response.get("output") or []:
            self.printer.assistant_done(item.get("id", ""))
        status = response["status"]
        if status == "failed":
            error = (response.get("status_details") or {}).get("error") or {}
            message = f"the response failed: {error.get('message') or 'no reason given'}"
            if self.fail_fast:
                raise ClientError(message)
            print(f"voxgate: warning: {message}", file=sys.stderr)
            return
        transcript = "".join(answer.transcript).strip()
        reply = SpokenReply(answer.heard, transcript, bytes(answer.audio), status)
        self.replies.append(reply)
        if self.on_reply is None or not reply.audio:
            return
        if asyncio.iscoroutine(result := self.on_reply(reply)):
            await result

    def _error(self, error: dict[str, Any]) -> None:
        """Report a server error, except a response's failure: its ``response.done`` does."""
        if self._answering and error.get("type") == "server_error":
            return
        print(f"voxgate: server error: {error.get('message')}", file=sys.stderr)
