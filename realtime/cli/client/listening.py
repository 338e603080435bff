"""``listen``: transcribe a live audio stream through a gateway, printing as it goes."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from realtime.cli.client.connection import (
    ClientError,
    connect,
    pcm_format,
    send_event,
    server_vad,
    stream_audio,
)
from realtime.cli.client.printer import TranscriptPrinter, show_transcript

SETTLE_S = 2.0
"""After the audio is sent and every turn is final: how long without events means done."""


async def listen(
    url: str,
    api_key: str | None,
    audio: AsyncIterator[bytes],
    printer: TranscriptPrinter,
    *,
    language: str | None = None,
    settle_s: float = SETTLE_S,
) -> list[str]:
    """Transcribe a live audio stream through a gateway, printing as it goes.

    Returns when ``audio`` is exhausted, every utterance has its final transcript and no
    event came for ``settle_s`` (server VAD may still be catching up when the last chunk
    is sent). For an endless source (a microphone) it runs until cancelled.

    Args:
        url: The gateway's base URL.
        api_key: The API key, or None.
        audio: 24 kHz pcm16 chunks (see :func:`file_source`, :func:`microphone_source`).
        printer: Receives partial and final transcripts.
        language: Force a language (ISO 639-1); default: the server detects it.
        settle_s: Quiet time that marks the end once all audio is sent.

    Returns:
        The final transcripts, in order.

    Raises:
        ClientError: connection or authentication failed, or the gateway closed early.
    """
    import websockets

    async with connect(url, api_key, transcription=True) as ws:
        session = _transcription_session(language)
        await send_event(ws, {"type": "session.update", "session": session})
        sender = asyncio.ensure_future(stream_audio(ws, audio))
        try:
            await _print_until_settled(ws, sender, printer, settle_s)
        except websockets.ConnectionClosed as exc:
            raise ClientError(f"the gateway closed the connection: {exc}") from exc
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
    return printer.finals


def _transcription_session(language: str | None) -> dict[str, Any]:
    """The ``session.update`` body: pcm16 in, server VAD, optionally a forced language."""
    transcription: dict[str, Any] = {"model": "whisper-1"}
    if language:
        transcription["language"] = language
    return {
        "type": "transcription",
        "audio": {
            "input": {
                "format": pcm_format(),
                "transcription": transcription,
                "turn_detection": server_vad(),
            }
        },
    }


@dataclass
class UserTurns:
    """Which user turns are open or awaiting their final transcript (``settled``: neither)."""

    open: set[str] = field(default_factory=set)
    committed: set[str] = field(default_factory=set)
    final: set[str] = field(default_factory=set)

    def track(self, event: dict[str, Any]) -> None:
        """Take in one server event (those not about user turns are ignored)."""
        kind = event["type"]
        if kind == "input_audio_buffer.speech_started":
            self.open.add(event["item_id"])
        elif kind == "input_audio_buffer.committed":
            self.open.discard(event["item_id"])
            self.committed.add(event["item_id"])
        elif kind in (
            "conversation.item.input_audio_transcription.completed",
            "conversation.item.input_audio_transcription.failed",
        ):
            self.final.add(event["item_id"])

    @property
    def settled(self) -> bool:
        """No turn is open and every committed one has its final transcript."""
        return not self.open and self.committed <= self.final


async def _print_until_settled(
    ws: Any, sender: asyncio.Future[None], printer: TranscriptPrinter, settle_s: float
) -> None:
    """Print events until ``sender`` is done, every turn is final and ``settle_s`` passed quiet.

    Raises:
        Exception: whatever ``sender`` raised while streaming the audio.
        websockets.ConnectionClosed: the gateway closed the connection.
    """
    turns = UserTurns()
    async for event in events_until_settled(ws, sender, lambda: turns.settled, settle_s):
        turns.track(event)
        show_transcript(event, printer)


async def events_until_settled(
    ws: Any, sender: asyncio.Future[None], settled: Callable[[], bool], settle_s: float
) -> AsyncIterator[dict[str, Any]]:
    """Yield server events until ``sender`` is done, ``settled()`` and ``settle_s`` passed quiet.

    Args:
        ws: The open connection.
        sender: The task streaming the input audio (an endless one: events until cancelled).
        settled: Whether nothing more is awaited (checked before each wait).
        settle_s: Quiet time that marks the end once the audio is sent and all is settled.

    Raises:
        Exception: whatever ``sender`` raised while streaming the audio.
        websockets.ConnectionClosed: the gateway closed the connection.
    """
    while True:
        timeout = settle_s if sender.done() and settled() else None
        receive = asyncio.ensure_future(ws.recv())
        waiting = {receive} if sender.done() else {receive, sender}
        done, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if sender in done and sender.exception() is not None:
            receive.cancel()
            raise sender.exception()  # type: ignore[misc]
        if receive not in done:
            receive.cancel()  # cancelling a websockets recv loses nothing
            if not done:  # quiet for settle_s with everything settled: finished
                return
            continue
        yield json.loads(receive.result())
