"""LiveKit's OpenAI ``RealtimeModel``: a greeting generated from the session's chat context.

Usage: ``livekit_generate_reply.py INSTRUCTIONS USER_TEXT REPLY_INSTRUCTIONS AUDIO_OUT``. The
model is built as the plugin's docs show (``openai.realtime.RealtimeModel(base_url=…)``, the
HTTP base URL it turns into ``ws://…/v1/realtime``) and its session is driven directly,
without a LiveKit room, the way ``AgentSession`` drives it: session instructions, a chat
context with the user's message, then ``generate_reply(instructions=…)``; the generation's
text and audio streams are read to the end. Reports the error events, the raw server events
(``openai_server_event_received``) that fail the openai types and their types, the text
pieces, each message's modalities, the frames' sample rates and the session's chat context
after; the audio (pcm16 at the frames' rate) goes to AUDIO_OUT.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from common import api_key, base_url, openai_failures, run, write_pcm
from livekit.agents import llm
from livekit.plugins import openai

STEP_TIMEOUT_S = 20
REPLY_TIMEOUT_S = 45


async def read_generation(generation: llm.GenerationCreatedEvent) -> dict[str, Any]:
    """Every message of ``generation``, read to the end of its text and audio streams."""
    text: list[str] = []
    frames: list[Any] = []
    modalities: list[list[str]] = []

    async def read_text(message: llm.MessageGeneration) -> None:
        async for piece in message.text_stream:
            text.append(str(piece))

    async def read_audio(message: llm.MessageGeneration) -> None:
        async for frame in message.audio_stream:
            frames.append(frame)

    async for message in generation.message_stream:
        await asyncio.gather(read_text(message), read_audio(message))
        modalities.append(list(await message.modalities))
    return {"text": text, "frames": frames, "modalities": modalities}


async def main() -> dict[str, Any]:
    instructions, user_text, reply_instructions, audio_out = sys.argv[1:5]
    errors: list[str] = []
    server_events: list[dict[str, Any]] = []
    model = openai.realtime.RealtimeModel(base_url=base_url(), api_key=api_key())
    session = model.session()
    session.on("error", lambda error: errors.append(repr(error)))
    session.on("openai_server_event_received", server_events.append)
    try:
        await session.update_instructions(instructions)
        chat_ctx = llm.ChatContext.empty()
        chat_ctx.add_message(role="user", content=user_text)
        await asyncio.wait_for(session.update_chat_ctx(chat_ctx), STEP_TIMEOUT_S)
        generation = await asyncio.wait_for(
            session.generate_reply(instructions=reply_instructions), STEP_TIMEOUT_S
        )
        reply = await asyncio.wait_for(read_generation(generation), REPLY_TIMEOUT_S)
        said = [[m.role, m.text_content] for m in session.chat_ctx.copy().messages()]
    finally:
        await asyncio.wait_for(session.aclose(), STEP_TIMEOUT_S)
        await model.aclose()
    write_pcm(audio_out, b"".join(bytes(f.data) for f in reply["frames"]))
    return {
        "errors": errors,
        "validation_failures": openai_failures(server_events),
        "server_events": list(dict.fromkeys(e.get("type") for e in server_events)),
        "text": reply["text"],
        "modalities": reply["modalities"],
        "sample_rates": sorted({f.sample_rate for f in reply["frames"]}),
        "chat_ctx": said,
    }


if __name__ == "__main__":
    run(main)
