"""A voice agent on voxgate, written with the official ``openai`` SDK.

It listens (voxgate's server VAD cuts the speech into utterances and transcribes them),
decides what to answer, and has voxgate speak the answer verbatim (``response.create`` with
voxgate's ``{"voxgate": {"say": answer}}``, whatever voxgate's own responder). The answer
comes from :func:`rule_reply` (a few plain Python rules), or, when ``AGENT_LLM_BASE_URL`` is
set, from any OpenAI-compatible chat-completions endpoint (:class:`ChatReply`). (voxgate can
also answer by itself: its ``llm`` responder; this example keeps the logic on its side.)

Run it against a local voxgate (``voxgate serve`` prints an API key on first run)::

    export VOXGATE_URL=http://127.0.0.1:8000 VOXGATE_API_KEY=vg_...
    python examples/agent/agent.py --input question.wav   # a file plays the microphone
    python examples/agent/agent.py                        # the microphone (sounddevice)

Replies play on the speakers when ``sounddevice`` finds an output device, otherwise they
are saved as WAV files in ``--out``. Talking over a reply interrupts it (barge-in).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import os
import re
import sys
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from openai import AsyncOpenAI

RATE = 24_000  # audio/pcm: 24 kHz mono 16-bit, both ways
CHUNK_MS = 20
SETTLE_S = 2.0  # file input: quiet time after the last reply that ends the demo

Decide = Callable[[str], Awaitable[str | None]]
"""Turns what the user said into what the agent says (None: stay silent)."""


# --- deciding what to say -------------------------------------------------------------------

RULES: list[tuple[str, Callable[[str], str]]] = [
    (r"\b(hello|hi|hey)\b", lambda _: "Hello! I am a voxgate demo agent. Ask me the time."),
    (r"\btime\b", lambda _: f"It is {dt.datetime.now():%H:%M}."),
    (r"\b(date|day)\b", lambda _: f"Today is {dt.date.today():%A, %B %d}."),
    (r"\bpassword\b", lambda _: "I will never ask for your password. Please keep it secret."),
    (r"\b(bye|goodbye)\b", lambda _: "Goodbye, and thanks for calling."),
]
"""(regular expression, answer) pairs, tried in order on the lower-cased transcript."""


async def rule_reply(transcript: str) -> str | None:
    """Answer with the first matching rule, or repeat what was heard."""
    text = transcript.strip()
    if not text:
        return None
    for pattern, answer in RULES:
        if re.search(pattern, text.lower()):
            return answer(text)
    return f"You said: {text}"


class ChatReply:
    """Answers with an OpenAI-compatible chat-completions endpoint, keeping the history.

    Args:
        base_url: The endpoint's base URL, e.g. ``http://127.0.0.1:11434/v1`` (Ollama).
        model: The chat model name.
        api_key: The endpoint's key, if it needs one.
    """

    SYSTEM = "You are a friendly voice assistant. Answer in one or two short spoken sentences."

    def __init__(self, base_url: str, model: str, api_key: str | None = None) -> None:
        self.llm = AsyncOpenAI(base_url=base_url, api_key=api_key or "unused")
        self.model = model
        self.history: list[dict[str, str]] = [{"role": "system", "content": self.SYSTEM}]

    async def __call__(self, transcript: str) -> str | None:
        if not transcript.strip():
            return None
        self.history.append({"role": "user", "content": transcript})
        completion = await self.llm.chat.completions.create(
            model=self.model,
            messages=self.history,  # type: ignore[arg-type]
        )
        answer = (completion.choices[0].message.content or "").strip()
        self.history.append({"role": "assistant", "content": answer})
        return answer or None


# --- audio in and out -----------------------------------------------------------------------


async def file_audio(path: str, *, realtime: bool = True) -> AsyncIterator[bytes]:
    """A file as 24 kHz pcm16 chunks at microphone pace, then 1 s of silence.

    Decodes and resamples with PyAV (installed with voxgate), so any format FFmpeg reads works.
    """
    import av

    def decode() -> np.ndarray:
        with av.open(path) as container:
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
            frames = [f for packet in container.decode(stream) for f in resampler.resample(packet)]
            frames += resampler.resample(None)
        return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.int16)

    pcm = np.concatenate([await asyncio.to_thread(decode), np.zeros(RATE, np.int16)])
    step = RATE * CHUNK_MS // 1000
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i, at in enumerate(range(0, len(pcm), step)):
        if realtime:
            await asyncio.sleep(max(0.0, start + i * CHUNK_MS / 1000 - loop.time()))
        yield pcm[at : at + step].tobytes()


async def microphone_audio() -> AsyncIterator[bytes]:
    """The default microphone as 24 kHz pcm16 chunks (needs ``pip install sounddevice``)."""
    import sounddevice as sd  # type: ignore[import-not-found]

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=100)

    def callback(data: Any, frames: int, time: Any, status: Any) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, bytes(data))

    blocksize = RATE * CHUNK_MS // 1000
    with sd.RawInputStream(
        samplerate=RATE, channels=1, dtype="int16", blocksize=blocksize, callback=callback
    ):
        while True:
            yield await queue.get()


def speaker_or_folder(out_dir: Path | None) -> Callable[[bytes, int], Awaitable[None]]:
    """Where replies go: the speakers if ``sounddevice`` has an output, else WAV files."""
    sd = None
    if out_dir is None:
        try:
            import sounddevice as sd  # type: ignore[import-not-found]

            sd.query_devices(kind="output")
        except Exception:  # not installed, no PortAudio, or no output device
            sd = None
    folder = out_dir or Path("agent-replies")

    async def deliver(pcm: bytes, turn: int) -> None:
        if sd is not None:
            samples = np.frombuffer(pcm, np.int16)
            await asyncio.to_thread(lambda: (sd.play(samples, RATE), sd.wait()))
            return
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"reply-{turn:03d}.wav"
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(RATE)
            wav.writeframes(pcm)
        print(f"  (saved {path})", file=sys.stderr)

    return deliver


# --- the agent ------------------------------------------------------------------------------


@dataclass
class Turn:
    """One exchange.

    Attributes:
        heard: What the user said (the final transcript).
        said: What the agent answered.
        audio: The spoken answer, 24 kHz pcm16 (cut short if interrupted).
        status: ``response.done`` status: ``completed`` or ``cancelled`` (barge-in).
    """

    heard: str
    said: str
    audio: bytes = b""
    status: str = ""


async def run_agent(
    voxgate: AsyncOpenAI,
    audio: AsyncIterator[bytes],
    *,
    decide: Decide = rule_reply,
    deliver: Callable[[bytes, int], Awaitable[None]] | None = None,
    max_turns: int | None = None,
) -> list[Turn]:
    """Listen to ``audio``, answer every utterance, and return the exchanges.

    Ends after ``max_turns`` replies, or once ``audio`` is exhausted and every utterance
    has been answered (no event for :data:`SETTLE_S`); a live microphone runs until
    cancelled (Ctrl-C). ``decide`` is awaited in the event loop: while it thinks, server
    events wait in the socket, and the microphone keeps streaming.

    Args:
        voxgate: An ``AsyncOpenAI`` client whose ``base_url`` is voxgate's ``…/v1``.
        audio: 24 kHz pcm16 chunks: :func:`file_audio` or :func:`microphone_audio`.
        decide: Picks the answer to a transcript.
        deliver: Plays or saves each reply's audio (``pcm, turn number``).
        max_turns: Stop after this many replies.
    """
    turns: list[Turn] = []
    async with voxgate.realtime.connect(model="voxgate") as conn:
        await conn.session.update(
            session={
                "type": "realtime",
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcm", "rate": RATE},
                        "transcription": {"model": "whisper-1"},
                        # we answer once the transcript is final; speech interrupts a reply
                        "turn_detection": {
                            "type": "server_vad",
                            "silence_duration_ms": 600,
                            "create_response": False,
                            "interrupt_response": True,
                        },
                    },
                    "output": {"format": {"type": "audio/pcm", "rate": RATE}},
                },
            }
        )

        async def stream() -> None:
            async for chunk in audio:
                await conn.input_audio_buffer.append(audio=base64.b64encode(chunk).decode())

        sender = asyncio.create_task(stream())
        listening = False  # the user is mid-utterance
        transcribing: set[str] = set()  # utterances waiting for their final transcript
        pending: list[Turn] = []  # answers asked for and not yet done
        speech = bytearray()
        try:
            while max_turns is None or len(turns) < max_turns:
                idle = sender.done() and not (listening or transcribing or pending)
                try:
                    event = await asyncio.wait_for(conn.recv(), SETTLE_S if idle else None)
                except TimeoutError:
                    break  # the file is over and everything is answered
                if event.type == "input_audio_buffer.speech_started":
                    listening = True
                elif event.type == "input_audio_buffer.committed":
                    listening = False
                    transcribing.add(event.item_id)
                elif event.type == "conversation.item.input_audio_transcription.failed":
                    transcribing.discard(event.item_id)
                elif event.type == "conversation.item.input_audio_transcription.completed":
                    transcribing.discard(event.item_id)
                    print(f"you:   {event.transcript}")
                    answer = await decide(event.transcript)
                    if answer:
                        pending.append(Turn(heard=event.transcript, said=answer))
                        await conn.response.create(response={"voxgate": {"say": answer}})
                elif event.type == "response.output_audio.delta":
                    speech += base64.b64decode(event.delta)
                elif event.type == "response.done" and pending:
                    turn = pending.pop(0)
                    turn.audio, turn.status = bytes(speech), event.response.status or ""
                    speech.clear()
                    turns.append(turn)
                    note = "" if turn.status == "completed" else f" ({turn.status})"
                    print(f"agent: {turn.said}{note}")
                    if deliver is not None and turn.audio:
                        await deliver(turn.audio, len(turns))
                elif event.type == "error":
                    print(f"voxgate error: {event.error.message}", file=sys.stderr)
        finally:
            sender.cancel()
    return turns


def main() -> int:
    """Run the agent from the command line."""
    parser = argparse.ArgumentParser(description="A voice agent on voxgate.")
    parser.add_argument("--input", help="an audio file to use as the microphone")
    parser.add_argument("--fast", action="store_true", help="send --input without pacing")
    parser.add_argument("--out", type=Path, help="save replies as WAV files here")
    parser.add_argument("--turns", type=int, help="stop after this many replies")
    parser.add_argument(
        "--url", default=os.environ.get("VOXGATE_URL", "http://127.0.0.1:8000"), help="voxgate"
    )
    parser.add_argument("--api-key", default=os.environ.get("VOXGATE_API_KEY"))
    args = parser.parse_args()
    if not args.api_key:
        parser.error("set VOXGATE_API_KEY or --api-key (voxgate serve prints one)")
    if args.input:
        audio = file_audio(args.input, realtime=not args.fast)
    else:
        try:
            import sounddevice  # type: ignore[import-not-found]  # noqa: F401
        except (ImportError, OSError):
            parser.error("no --input and no microphone: pip install sounddevice")
        audio = microphone_audio()
    decide: Decide = rule_reply
    if llm_url := os.environ.get("AGENT_LLM_BASE_URL"):
        model = os.environ.get("AGENT_LLM_MODEL", "gpt-4o-mini")
        decide = ChatReply(llm_url, model, os.environ.get("AGENT_LLM_API_KEY"))
    voxgate = AsyncOpenAI(base_url=f"{args.url.rstrip('/')}/v1", api_key=args.api_key)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends a microphone session
        asyncio.run(
            run_agent(
                voxgate,
                audio,
                decide=decide,
                deliver=speaker_or_folder(args.out),
                max_turns=args.turns,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
