"""Pipecat's ``OpenAIRealtimeLLMService`` answers the user message in its context.

Usage: ``pipecat_realtime_llm.py INSTRUCTIONS QUESTION AUDIO_OUT``. Driven the way
Pipecat's realtime examples do it: a system instruction in the service settings, an
``LLMContext`` behind an ``LLMContextAggregatorPair``, and an ``LLMRunFrame`` to start the
conversation; with no transport, a recorder after the service keeps what it pushes
downstream. Pipecat sends the context as a user message, then ``response.create``. Runs
until the assistant aggregator's turn stops; reports that turn's text, the spoken text
(``TTSTextFrame``), the audio's sample rates, the pipeline's errors and every server
message Pipecat's own event models reject; the speech (pcm16) goes to AUDIO_OUT.
"""

from __future__ import annotations

import sys
from typing import Any

from common import api_key, realtime_url, run, tap_websockets, write_pcm
from pipecat.frames.frames import LLMRunFrame, TTSAudioRawFrame, TTSTextFrame
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService
from pipecat_run import Recorder, event_failures, run_until


async def main() -> dict[str, Any]:
    instructions, question, audio_out = sys.argv[1:4]
    messages: list[str] = []
    tap_websockets(messages)
    llm = OpenAIRealtimeLLMService(
        api_key=api_key(),
        base_url=realtime_url(),  # the service appends ?model=… itself
        settings=OpenAIRealtimeLLMService.Settings(system_instruction=instructions),
    )
    context = LLMContext([{"role": "user", "content": question}])
    user_aggregator, assistant_aggregator = LLMContextAggregatorPair(context)
    recorder = Recorder(until=lambda frame: False)

    @assistant_aggregator.event_handler("on_assistant_turn_stopped")
    async def on_assistant_turn_stopped(aggregator: Any, message: Any) -> None:
        if not recorder.done.done():
            recorder.done.set_result(message.content)

    # the recorder sits between the service and the assistant aggregator, as a transport would
    errors = await run_until(
        [user_aggregator, llm], recorder, [LLMRunFrame()], after=[assistant_aggregator]
    )
    said = recorder.done.result()
    audio = [f for f in recorder.frames if isinstance(f, TTSAudioRawFrame)]
    write_pcm(audio_out, b"".join(f.audio for f in audio))
    failures, unmodelled = event_failures(messages)
    return {
        "said": said,
        "spoken": [f.text for f in recorder.frames if isinstance(f, TTSTextFrame)],
        "sample_rates": sorted({f.sample_rate for f in audio}),
        "errors": errors,
        "validation_failures": failures,
        "unmodelled": unmodelled,
        "server_events": len(messages),
    }


if __name__ == "__main__":
    run(main)
