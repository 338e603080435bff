"""LiveKit's ``openai.STT`` pointed at voxgate: a recording transcribed, batch or realtime.

Usage: ``livekit_stt.py PCM RATE [--realtime]`` (pcm16 mono at RATE Hz). Built as the
plugin's docs show, ``openai.STT(base_url=…, api_key=…)`` with its default model. Batch:
``stt.recognize()`` of the whole recording (``/v1/audio/transcriptions``). ``--realtime``
(``use_realtime=True``): the recording and a second of silence pushed into ``stt.stream()``
(a ``?intent=transcription`` WebSocket with server VAD), read until the first final
transcript; every JSON frame the plugin's socket receives is checked against the openai
types. Reports the final transcript's text (and, realtime, the raw events' types and
validation failures).
"""

from __future__ import annotations

import sys
from typing import Any

from common import api_key, base_url, openai_failures, read_pcm, run, tap_aiohttp
from livekit import rtc
from livekit.agents import stt, utils
from livekit.plugins import openai

FRAME_MS = 20
TAIL_S = 1.0


def frames(pcm: bytes, rate: int) -> list[rtc.AudioFrame]:
    """``pcm`` as 20 ms frames, as a microphone track delivers them."""
    step = rate * FRAME_MS // 1000
    samples = len(pcm) // 2
    return [
        rtc.AudioFrame(pcm[at * 2 : (at + step) * 2], rate, 1, min(step, samples - at))
        for at in range(0, samples, step)
    ]


async def batch(pcm: bytes, rate: int) -> dict[str, Any]:
    recognizer = openai.STT(base_url=base_url(), api_key=api_key())
    try:
        event = await recognizer.recognize(frames(pcm, rate))
    finally:
        await recognizer.aclose()
    assert event.type == stt.SpeechEventType.FINAL_TRANSCRIPT, event.type
    return {"text": event.alternatives[0].text}


async def realtime(pcm: bytes, rate: int) -> dict[str, Any]:
    server_events: list[dict[str, Any]] = []
    tap_aiohttp(server_events)
    async with utils.http_context.open():
        recognizer = openai.STT(base_url=base_url(), api_key=api_key(), use_realtime=True)
        stream = recognizer.stream()
        for frame in frames(pcm + bytes(int(rate * TAIL_S) * 2), rate):
            stream.push_frame(frame)
        text = None
        async for event in stream:
            if event.type == stt.SpeechEventType.FINAL_TRANSCRIPT:
                text = event.alternatives[0].text
                break
        stream.end_input()
        await stream.aclose()
        await recognizer.aclose()
    return {
        "text": text,
        "validation_failures": openai_failures(server_events),
        "server_events": list(dict.fromkeys(e.get("type") for e in server_events)),
    }


async def main() -> dict[str, Any]:
    pcm, rate = read_pcm(sys.argv[1]), int(sys.argv[2])
    if "--realtime" in sys.argv[3:]:
        return await realtime(pcm, rate)
    return await batch(pcm, rate)


if __name__ == "__main__":
    run(main)
