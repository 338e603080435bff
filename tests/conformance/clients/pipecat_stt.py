"""Pipecat's OpenAI STT services pointed at voxgate: a recording transcribed.

Usage: ``pipecat_stt.py PCM [--realtime]`` (pcm16 mono 16 kHz, Silero's rate). As Pipecat's
examples have it, a ``VADProcessor(SileroVADAnalyzer())`` (the model ships in the wheel)
marks the speech, and the STT service after it gets the audio: ``OpenAISTTService``
(``base_url`` = voxgate's ``/v1``: each VAD segment posted to ``/v1/audio/transcriptions``),
or with ``--realtime`` ``OpenAIRealtimeSTTService`` (``base_url`` = voxgate's realtime
WebSocket; ``?intent=transcription``, local VAD: the service commits the buffer when the
VAD says the user stopped). The recording and a second of silence go in as 20 ms
``InputAudioRawFrame``s; runs until all of them have passed and each VAD segment has its
``TranscriptionFrame``. Reports the transcripts, the pipeline's errors and, realtime, the server events' types and those the openai SDK's types
reject: Pipecat's realtime STT reads plain JSON, and its own realtime event models are its
LLM service's (conversation sessions only), so the openai types it depends on judge here.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from common import api_key, base_url, openai_failures, read_pcm, realtime_url, run, tap_websockets
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    TranscriptionFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.pipeline.worker import PipelineParams
from pipecat.processors.audio.vad_processor import VADProcessor
from pipecat.services.openai.stt import OpenAIRealtimeSTTService, OpenAISTTService
from pipecat_run import Recorder, run_until

RATE = 16_000
FRAME_MS = 20
TAIL_S = 1.0


def audio_frames(pcm: bytes) -> list[InputAudioRawFrame]:
    pcm += bytes(int(RATE * TAIL_S) * 2)
    step = RATE * FRAME_MS // 1000 * 2
    return [
        InputAudioRawFrame(audio=pcm[at : at + step], sample_rate=RATE, num_channels=1)
        for at in range(0, len(pcm), step)
    ]


class Segments:
    """Counts what reaches the recorder: done when the audio is through, every segment heard."""

    def __init__(self, audio_frames: int) -> None:
        self.audio_left = audio_frames
        self.stops = 0
        self.texts: list[str] = []

    def until(self, frame: Frame) -> bool:
        if isinstance(frame, InputAudioRawFrame):
            self.audio_left -= 1
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            self.stops += 1
        elif isinstance(frame, TranscriptionFrame):
            self.texts.append(frame.text)
        return self.audio_left == 0 and 0 < self.stops <= len(self.texts)


async def main() -> dict[str, Any]:
    pcm, realtime = read_pcm(sys.argv[1]), "--realtime" in sys.argv[2:]
    messages: list[str] = []
    if realtime:
        tap_websockets(messages)
        stt: Any = OpenAIRealtimeSTTService(api_key=api_key(), base_url=realtime_url())
    else:
        stt = OpenAISTTService(api_key=api_key(), base_url=base_url())
    frames = audio_frames(pcm)
    segments = Segments(len(frames))
    recorder = Recorder(until=segments.until)
    errors = await run_until(
        [VADProcessor(vad_analyzer=SileroVADAnalyzer()), stt],
        recorder,
        frames,
        params=PipelineParams(audio_in_sample_rate=RATE),
    )
    result: dict[str, Any] = {"texts": segments.texts, "errors": errors}
    if realtime:
        result["server_events"] = list(dict.fromkeys(json.loads(m)["type"] for m in messages))
        result["validation_failures"] = openai_failures([json.loads(m) for m in messages])
    return result


if __name__ == "__main__":
    run(main)
