"""LiveKit's ``openai.TTS`` pointed at voxgate: a sentence spoken.

Usage: ``livekit_tts.py TEXT AUDIO_OUT``. Built as the plugin's docs show,
``openai.TTS(base_url=…, api_key=…)`` with its defaults (``gpt-4o-mini-tts``, voice ``ash``,
mp3 over ``stream_format: "sse"``); ``tts.synthesize(text)`` is read to the end. Reports the
frames' sample rates and channel counts; the decoded audio (pcm16) goes to AUDIO_OUT.
"""

from __future__ import annotations

import sys
from typing import Any

from common import api_key, base_url, run, write_pcm
from livekit.agents import utils
from livekit.plugins import openai


async def main() -> dict[str, Any]:
    text, audio_out = sys.argv[1:3]
    frames = []
    async with utils.http_context.open():
        tts = openai.TTS(base_url=base_url(), api_key=api_key())
        async with tts.synthesize(text) as stream:
            async for audio in stream:
                frames.append(audio.frame)
        await tts.aclose()
    write_pcm(audio_out, b"".join(bytes(f.data) for f in frames))
    return {
        "sample_rates": sorted({f.sample_rate for f in frames}),
        "channels": sorted({f.num_channels for f in frames}),
    }


if __name__ == "__main__":
    run(main)
