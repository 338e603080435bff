"""A small client for a running gateway: stream audio in, print transcripts, speak text.

The logic behind ``voxgate listen`` and ``voxgate chat``. It speaks the GA realtime
protocol over a plain WebSocket (the ``websockets`` package), 24 kHz pcm16 in and out:

* :func:`listen` opens a transcription session (``?intent=transcription``, server VAD),
  streams audio chunks and hands every partial and final transcript to a
  :class:`TranscriptPrinter`.
* :func:`chat` opens a realtime session and, for each line of text, asks the server to speak
  it (``response.create`` with ``instructions``); each reply's audio goes to a callback.

Audio sources are async iterators of pcm16 bytes: :func:`file_source` (any format FFmpeg
reads, at real-time pace or as fast as possible) and :func:`microphone_source` (needs the
optional ``sounddevice`` package). Failures to connect or authenticate raise
:class:`ClientError` with a one-line message.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import sys
import wave
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from engines.base import PCM, SAMPLE_RATE
from engines.resampling import StreamResampler

DEFAULT_URL = "http://127.0.0.1:8000"
"""Where ``voxgate serve`` listens by default."""

PCM_RATE = 24_000
"""The sample rate of ``audio/pcm``, the format this client sends and receives."""

CHUNK_MS = 20
"""Audio per ``input_audio_buffer.append``."""

TRAILING_SILENCE_S = 1.0
"""Silence appended after a file, so server VAD sees its last utterance end."""

SETTLE_S = 2.0
"""After the audio is sent and every turn is final: how long without events means done."""

SILENCE_DURATION_MS = 800
"""Server VAD: the pause that ends an utterance."""

MIC_INSTALL_HINT = (
    "microphone input needs the optional sounddevice package: pip install sounddevice"
)


class ClientError(Exception):
    """The gateway could not be reached, refused us, or reported a fatal error."""


# --- audio sources --------------------------------------------------------------------------


def realtime_url(base_url: str, *, transcription: bool = False) -> str:
    """The WebSocket URL of a gateway's realtime endpoint.

    Args:
        base_url: The gateway's HTTP(S) base URL, e.g. ``http://127.0.0.1:8000`` (a
            ``ws://``/``wss://`` URL or one ending in ``/v1`` works too).
        transcription: Ask for a transcription-only session (``?intent=transcription``).

    Returns:
        ``ws(s)://host:port/v1/realtime`` with the query.
    """
    parts = urlsplit(base_url.rstrip("/"))
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path.removesuffix("/v1/realtime").removesuffix("/v1") + "/v1/realtime"
    query = "intent=transcription" if transcription else "model=voxgate"
    return urlunsplit((scheme, parts.netloc, path, query, ""))


def file_pcm(path: str | os.PathLike[str]) -> bytes:
    """Decode a media file to 24 kHz mono pcm16 (little-endian bytes).

    Raises:
        AudioDecodeError: the file is not readable audio.
    """
    from engines.audio import decode_file

    samples = decode_file(path).samples
    resampler = StreamResampler(SAMPLE_RATE, PCM_RATE)
    pcm = np.concatenate([resampler.process(samples), resampler.flush()])
    return pcm.astype("<i2").tobytes()


def chunked(pcm: bytes, chunk_ms: int = CHUNK_MS) -> Iterator[bytes]:
    """Split 24 kHz pcm16 bytes into chunks of ``chunk_ms`` (the last may be shorter)."""
    step = PCM_RATE * 2 * chunk_ms // 1000
    for at in range(0, len(pcm), step):
        yield pcm[at : at + step]


async def file_source(
    path: str | os.PathLike[str],
    *,
    speed: float | None = 1.0,
    chunk_ms: int = CHUNK_MS,
    trailing_silence_s: float = TRAILING_SILENCE_S,
) -> AsyncIterator[bytes]:
    """Yield a file as 24 kHz pcm16 chunks, followed by a little silence.

    Args:
        path: Any file FFmpeg decodes.
        speed: Pace relative to real time: 1.0 plays like a live microphone, 10.0 ten
            times faster (scheduled against the loop clock, so the pace does not drift);
            None sends as fast as the consumer takes the chunks.
        chunk_ms: Audio per chunk.
        trailing_silence_s: Silence after the file, so VAD sees the last utterance end.

    Raises:
        AudioDecodeError: the file is not readable audio (raised before the first chunk).
    """
    pcm = await asyncio.to_thread(file_pcm, path)
    pcm += bytes(int(PCM_RATE * trailing_silence_s) * 2)
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent_s = 0.0
    for chunk in chunked(pcm, chunk_ms):
        if speed:
            await asyncio.sleep(max(0.0, start + sent_s / speed - loop.time()))
        yield chunk
        sent_s += len(chunk) / (2 * PCM_RATE)


def require_sounddevice() -> Any:
    """The ``sounddevice`` module, or :class:`ClientError` naming the fix."""
    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # OSError: the package is there, PortAudio is not
        raise ClientError(MIC_INSTALL_HINT) from exc
    return sounddevice


async def microphone_source(
    chunk_ms: int = CHUNK_MS, max_queued: int = 100
) -> AsyncIterator[bytes]:
    """Yield the default microphone as 24 kHz pcm16 chunks until cancelled.

    Args:
        chunk_ms: Audio per chunk.
        max_queued: Chunks held while the consumer is slow; older ones are dropped beyond.

    Raises:
        ClientError: ``sounddevice`` is not installed or no input device opens.
    """
    sd = require_sounddevice()
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue(max_queued)

    def put(chunk: bytes) -> None:
        if queue.full():
            queue.get_nowait()  # keep the newest audio when the consumer falls behind
        queue.put_nowait(chunk)

    def callback(data: Any, frames: int, time: Any, status: Any) -> None:
        loop.call_soon_threadsafe(put, bytes(data))

    try:
        stream = sd.RawInputStream(
            samplerate=PCM_RATE,
            channels=1,
            dtype="int16",
            blocksize=PCM_RATE * chunk_ms // 1000,
            callback=callback,
        )
    except Exception as exc:  # PortAudioError and friends
        raise ClientError(f"cannot open the microphone: {exc}") from exc
    with stream:
        while True:
            yield await queue.get()


async def stdin_lines(prompt: str | None = None) -> AsyncIterator[str]:
    """Yield lines typed or piped on stdin until end of file.

    A daemon thread reads stdin, so a blocked read never keeps the process alive after
    Ctrl-C (``asyncio.to_thread`` would: the loop waits for its threads at shutdown).

    Args:
        prompt: Printed on stderr before each line (for a terminal); None prints nothing.
    """
    import threading

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str] = asyncio.Queue()
    wanted = threading.Semaphore(0)  # one line per request: nothing is read ahead

    def read() -> None:
        while wanted.acquire():
            line = sys.stdin.readline()
            loop.call_soon_threadsafe(queue.put_nowait, line)
            if not line:
                return

    threading.Thread(target=read, name="stdin", daemon=True).start()
    while True:
        if prompt:
            print(prompt, end="", file=sys.stderr, flush=True)
        wanted.release()
        line = await queue.get()
        if not line:
            return
        yield line.rstrip("\n")


# --- printing -------------------------------------------------------------------------------


class TranscriptPrinter:
    """Prints live partial transcripts that settle into final lines.

    On a terminal (``live``) the current partial rewrites one line in place and the final
    replaces it. Otherwise every partial is its own line prefixed with ``partial:`` and the
    final follows as a plain line, so logs and pipes stay readable.

    Not thread-safe: call from one task.

    Args:
        out: Where to print (default: ``sys.stdout``).
        live: Rewrite lines in place; default: whether ``out`` is a terminal.
    """

    PARTIAL_PREFIX = "partial: "

    def __init__(self, out: TextIO | None = None, *, live: bool | None = None) -> None:
        self.out = out or sys.stdout
        self.live = self.out.isatty() if live is None else live
        self.finals: list[str] = []
        self._partials: dict[str, str] = {}
        self._shown: str | None = None  # the item whose partial is on the live line

    def delta(self, item_id: str, text: str) -> None:
        """Extend an item's partial transcript by an append-only ``text`` delta."""
        partial = self._partials.get(item_id, "") + text
        self._partials[item_id] = partial
        if not text:
            return
        if self.live:
            self._rewrite(self._fit(partial.strip()))
            self._shown = item_id
        else:
            print(f"{self.PARTIAL_PREFIX}{partial.strip()}", file=self.out, flush=True)

    def final(self, item_id: str, text: str) -> None:
        """Print an item's final transcript on its own line (empty transcripts print nothing)."""
        self._partials.pop(item_id, None)
        text = text.strip()
        if text:
            self.finals.append(text)
        if text:
            self.line(text)
        else:
            self._forget(item_id)

    def line(self, text: str) -> None:
        """Print a whole line without disturbing a partial in progress (reprinted below it)."""
        if not self.live:
            print(text, file=self.out, flush=True)
            return
        self._rewrite(text + "\n")
        self._shown = None
        pending = next(reversed(self._partials.items()), None)
        if pending and pending[1].strip():
            self._rewrite(self._fit(pending[1].strip()))
            self._shown = pending[0]

    def _forget(self, item_id: str) -> None:
        if self.live and self._shown == item_id:
            self._rewrite("")
            self._shown = None

    def _rewrite(self, text: str) -> None:
        self.out.write(f"\r\x1b[K{text}")
        self.out.flush()

    @staticmethod
    def _fit(text: str) -> str:
        """The tail of ``text`` that fits one terminal line (a wrapped line cannot be rewritten)."""
        import shutil

        width = max(20, shutil.get_terminal_size().columns - 1)
        return text if len(text) <= width else "…" + text[-(width - 1) :]


# --- the protocol ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def connect(
    url: str, api_key: str | None, *, transcription: bool = False
) -> AsyncIterator[Any]:
    """Open a realtime WebSocket to a gateway.

    Args:
        url: The gateway's base URL (see :func:`realtime_url`).
        api_key: A ``vg_…`` key, sent as ``Authorization: Bearer``; None sends none.
        transcription: Open a transcription-only session.

    Yields:
        The open ``websockets`` connection, after ``session.created``.

    Raises:
        ClientError: unreachable gateway, refused key, or an unexpected first event.
    """
    import websockets

    ws_url = realtime_url(url, transcription=transcription)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        connection = await websockets.connect(ws_url, additional_headers=headers, max_size=None)
    except websockets.InvalidStatus as exc:
        status = exc.response.status_code
        if status == 401:
            hint = "set --api-key or VOXGATE_API_KEY" if not api_key else "check the key"
            raise ClientError(f"the gateway refused the API key (401): {hint}") from exc
        raise ClientError(f"the gateway refused the connection (HTTP {status})") from exc
    except (OSError, websockets.InvalidURI, websockets.InvalidHandshake) as exc:
        raise ClientError(f"cannot reach the gateway at {url}: {exc}") from exc
    async with connection:
        first = json.loads(await connection.recv())
        if first.get("type") != "session.created":
            raise ClientError(f"unexpected first event from the gateway: {first.get('type')}")
        yield connection


async def _send(ws: Any, event: dict[str, Any]) -> None:
    await ws.send(json.dumps(event))


async def _stream(ws: Any, audio: AsyncIterator[bytes]) -> None:
    """Append every chunk of ``audio`` to the input buffer."""
    async for chunk in audio:
        await _send(
            ws, {"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()}
        )


def _vad(*, create_response: bool | None = None) -> dict[str, Any]:
    vad: dict[str, Any] = {"type": "server_vad", "silence_duration_ms": SILENCE_DURATION_MS}
    if create_response is not None:
        vad["create_response"] = create_response
    return vad


@dataclass
class _Turns:
    """Which user turns are open or awaiting their final transcript."""

    open: set[str] = field(default_factory=set)
    committed: set[str] = field(default_factory=set)
    final: set[str] = field(default_factory=set)

    def track(self, event: dict[str, Any]) -> None:
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
        return not self.open and self.committed <= self.final


def _show_transcript(event: dict[str, Any], printer: TranscriptPrinter) -> None:
    """Route transcription events to the printer; report failures and errors on stderr."""
    kind = event["type"]
    if kind == "conversation.item.input_audio_transcription.delta":
        printer.delta(event["item_id"], event.get("delta") or "")
    elif kind == "conversation.item.input_audio_transcription.completed":
        printer.final(event["item_id"], event.get("transcript") or "")
    elif kind == "conversation.item.input_audio_transcription.failed":
        printer.final(event["item_id"], "")
        message = event.get("error", {}).get("message", "transcription failed")
        print(f"voxgate: warning: {message}", file=sys.stderr)
    elif kind == "error":
        print(f"voxgate: server error: {event['error'].get('message')}", file=sys.stderr)


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

    transcription: dict[str, Any] = {"model": "whisper-1"}
    if language:
        transcription["language"] = language
    session = {
        "type": "transcription",
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": PCM_RATE},
                "transcription": transcription,
                "turn_detection": _vad(),
            }
        },
    }
    turns = _Turns()
    async with connect(url, api_key, transcription=True) as ws:
        await _send(ws, {"type": "session.update", "session": session})
        sender = asyncio.ensure_future(_stream(ws, audio))
        try:
            while True:
                timeout = settle_s if sender.done() and turns.settled else None
                receive = asyncio.ensure_future(ws.recv())
                waiting = {receive} if sender.done() else {receive, sender}
                done, _ = await asyncio.wait(
                    waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                if sender in done and sender.exception() is not None:
                    receive.cancel()
                    raise sender.exception()  # type: ignore[misc]
                if receive not in done:
                    receive.cancel()  # cancelling a websockets recv loses nothing
                    if not done:  # quiet for settle_s with everything final: finished
                        break
                    continue
                event = json.loads(receive.result())
                turns.track(event)
                _show_transcript(event, printer)
        except websockets.ConnectionClosed as exc:
            raise ClientError(f"the gateway closed the connection: {exc}") from exc
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
    return printer.finals


@dataclass
class SpokenReply:
    """One reply the gateway spoke.

    Attributes:
        text: The text that was asked for.
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

    output: dict[str, Any] = {"format": {"type": "audio/pcm", "rate": PCM_RATE}}
    if voice:
        output["voice"] = voice
    session = {
        "type": "realtime",
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": PCM_RATE},
                "transcription": {"model": "whisper-1"},
                "turn_detection": _vad(create_response=False),
            },
            "output": output,
        },
    }
    replies: list[SpokenReply] = []
    async with connect(url, api_key) as ws:
        await _send(ws, {"type": "session.update", "session": session})
        done: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        audio = bytearray()
        transcript: list[str] = []

        async def receive() -> None:
            async for raw in ws:
                event = json.loads(raw)
                kind = event["type"]
                _show_transcript(event, printer)
                if kind == "response.output_audio.delta":
                    audio.extend(base64.b64decode(event["delta"]))
                elif kind == "response.output_audio_transcript.done":
                    transcript.append(event.get("transcript") or "")
                elif kind == "response.done":
                    done.put_nowait(event["response"])
            raise ClientError("the gateway closed the connection")

        async def speak() -> None:
            async for text in lines:
                if not text.strip():
                    continue
                audio.clear()
                transcript.clear()
                await _send(
                    ws, {"type": "response.create", "response": {"instructions": text.strip()}}
                )
                response = await done.get()
                reply = SpokenReply(
                    text.strip(), " ".join(transcript), bytes(audio), response["status"]
                )
                replies.append(reply)
                if asyncio.iscoroutine(result := on_reply(reply)):
                    await result

        try:
            async with asyncio.TaskGroup() as tasks:
                receiver = tasks.create_task(receive())
                mic = tasks.create_task(_stream(ws, microphone)) if microphone else None
                await speak()
                receiver.cancel()
                if mic is not None:
                    mic.cancel()
        except* (websockets.ConnectionClosed, ClientError) as group:
            first = group.exceptions[0]
            if isinstance(first, ClientError):
                raise first from None
            raise ClientError(f"the gateway closed the connection: {first}") from first
    return replies


# --- playing and saving ---------------------------------------------------------------------


def write_wav(path: Path, pcm: bytes, rate: int = PCM_RATE) -> Path:
    """Write mono pcm16 bytes to a WAV file; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return path


def output_device() -> Any | None:
    """The ``sounddevice`` module when an output device exists; None otherwise."""
    try:
        sd = require_sounddevice()
        sd.query_devices(kind="output")
    except Exception:  # no package, no PortAudio, or no device
        return None
    return sd


async def play(sd: Any, pcm: bytes, rate: int = PCM_RATE) -> None:
    """Play pcm16 bytes on the default output device and wait until they are done."""
    samples: PCM = np.frombuffer(pcm, "<i2")

    def blocking() -> None:
        sd.play(samples, rate)
        sd.wait()

    await asyncio.to_thread(blocking)
