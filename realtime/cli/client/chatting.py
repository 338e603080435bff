"""``chat``: have a gateway speak lines of text, optionally transcribing a microphone too."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from realtime.cli.client.connection import (
    PCM_RATE,
    ClientError,
    connect,
    pcm_format,
    send_event,
    server_vad,
    stream_audio,
)
from realtime.cli.client.printer import TranscriptPrinter, show_transcript


@dataclass
class SpokenReply:
    """One reply the gateway spoke.

    Attributes:
        text: The text that was asked for (``chat``), or the user's turn it answers (``talk``).
        transcript: The audio transcript the server reported.
        audio: 24 kHz pcm16 bytes.
        status: ``response.done`` status (``completed``, ``cancelled``, ``failed``).
    """

    text: str
    transcript: str
    audio: bytes
    status: str

    @property
    def duration(self) -> float:
        """Length of the audio in seconds."""
        return len(self.audio) / (2 * PCM_RATE)


async def chat(
    url: str,
    api_key: str | None,
    lines: AsyncIterator[str],
    on_reply: Callable[[SpokenReply], Any],
    printer: TranscriptPrinter,
    *,
    microphone: AsyncIterator[bytes] | None = None,
    voice: str | None = None,
) -> list[SpokenReply]:
    """Have the gateway speak each line of text; optionally transcribe a microphone too.

    Lines are spoken one at a time: each waits for the previous ``response.done``. Empty
    lines are skipped. ``on_reply`` runs after each reply (it may be a coroutine function,
    awaited before the next line, e.g. to play the audio).

    Args:
        url: The gateway's base URL.
        api_key: The API key, or None.
        lines: The text to speak.
        on_reply: Receives each :class:`SpokenReply`.
        printer: Receives transcripts of what the microphone hears.
        microphone: 24 kHz pcm16 chunks to transcribe meanwhile (server VAD); None: no input.
        voice: A voice name for the server; default: the server's.

    Returns:
        Every reply, in order.

    Raises:
        ClientError: connection or authentication failed, or the gateway closed early.
    """
    import websockets

    async with connect(url, api_key) as ws:
        await send_event(ws, {"type": "session.update", "session": _realtime_session(voice)})
        reply = _ReplyCollector()
        try:
            async with asyncio.TaskGroup() as tasks:
                receiver = tasks.create_task(_receive(ws, reply, printer))
                mic = tasks.create_task(stream_audio(ws, microphone)) if microphone else None
                replies = await _speak(ws, lines, reply, on_reply)
                receiver.cancel()
                if mic is not None:
                    mic.cancel()
        except* (websockets.ConnectionClosed, ClientError) as group:
            first = group.exceptions[0]
            if isinstance(first, ClientError):
                raise first from None
            raise ClientError(f"the gateway closed the connection: {first}") from first
    return replies


def _realtime_session(voice: str | None) -> dict[str, Any]:
    """The ``session.update`` body: pcm16 both ways, server VAD without automatic replies."""
    output: dict[str, Any] = {"format": pcm_format()}
    if voice:
        output["voice"] = voice
    return {
        "type": "realtime",
        "audio": {
            "input": {
                "format": pcm_format(),
                "transcription": {"model": "whisper-1"},
                "turn_detection": server_vad(create_response=False),
            },
            "output": output,
        },
    }


class _ReplyCollector:
    """Gathers the audio and transcript of the reply in progress; queues each finished one."""

    def __init__(self) -> None:
        self.audio = bytearray()
        self.transcript: list[str] = []
        self.done: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def clear(self) -> None:
        """Forget the previous reply's audio and transcript."""
        self.audio.clear()
        self.transcript.clear()

    def handle(self, event: dict[str, Any]) -> None:
        """Take in one server event (those not about the reply are ignored)."""
        kind = event["type"]
        if kind == "response.output_audio.delta":
            self.audio.extend(base64.b64decode(event["delta"]))
        elif kind == "response.output_audio_transcript.done":
            self.transcript.append(event.get("transcript") or "")
        elif kind == "response.done":
            self.done.put_nowait(event["response"])

    def spoken(self, text: str, status: str) -> SpokenReply:
        """The reply collected so far, as asked for with ``text``."""
        return SpokenReply(text, " ".join(self.transcript), bytes(self.audio), status)


async def _receive(ws: Any, reply: _ReplyCollector, printer: TranscriptPrinter) -> None:
    """Route every server event to the printer and the collector until the socket closes.

    Raises:
        ClientError: the gateway closed the connection.
    """
    async for raw in ws:
        event = json.loads(raw)
        show_transcript(event, printer)
        reply.handle(event)
    raise ClientError("the gateway closed the connection")


async def _speak(
    ws: Any,
    lines: AsyncIterator[str],
    reply: _ReplyCollector,
    on_reply: Callable[[SpokenReply], Any],
) -> list[SpokenReply]:
    """Ask for each non-empty line to be spoken, one ``response.done`` at a time."""
    replies: list[SpokenReply] = []
    async for text in lines:
        if not text.strip():
            continue
        reply.clear()
        await send_event(
            ws, {"type": "response.create", "response": {"voxgate": {"say": text.strip()}}}
        )
        response = await reply.done.get()
        spoken = reply.spoken(text.strip(), response["status"])
        replies.append(spoken)
        if asyncio.iscoroutine(result := on_reply(spoken)):
            await result
    return replies
