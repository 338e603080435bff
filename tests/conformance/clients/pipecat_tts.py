"""Pipecat's ``OpenAITTSService`` pointed at voxgate: a sentence spoken.

Usage: ``pipecat_tts.py TEXT AUDIO_OUT``. ``OpenAITTSService(api_key=…, base_url=…)`` with
its defaults (``gpt-4o-mini-tts``, voice ``alloy``, pcm at 24 kHz) gets a ``TTSSpeakFrame``;
runs until the service's ``TTSStoppedFrame``. Reports the audio frames' sample rates and
the pipeline's errors; the speech (pcm16) goes to AUDIO_OUT.
"""

from __future__ import annotations

import sys
from typing import Any

from common import api_key, base_url, run, write_pcm
from pipecat.frames.frames import TTSAudioRawFrame, TTSSpeakFrame, TTSStoppedFrame
from pipecat.pipeline.worker import PipelineParams
from pipecat.services.openai.tts import OpenAITTSService
from pipecat_run import Recorder, run_until

RATE = 24_000


async def main() -> dict[str, Any]:
    text, audio_out = sys.argv[1:3]
    tts = OpenAITTSService(api_key=api_key(), base_url=base_url())
    recorder = Recorder(until=lambda frame: isinstance(frame, TTSStoppedFrame))
    errors = await run_until(
        [tts], recorder, [TTSSpeakFrame(text)], params=PipelineParams(audio_out_sample_rate=RATE)
    )
    audio = [f for f in recorder.frames if isinstance(f, TTSAudioRawFrame)]
    write_pcm(audio_out, b"".join(f.audio for f in audio))
    return {"sample_rates": sorted({f.sample_rate for f in audio}), "errors": errors}


if __name__ == "__main__":
    run(main)
