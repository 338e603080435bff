"""The OpenAI Agents SDK's realtime session, driven as its docs show, for the agents scripts.

A ``RealtimeRunner`` whose model config changes only the WebSocket URL and the API key
(everything else is the SDK's defaults), audio pushed with ``session.send_audio`` one
microphone-sized chunk at a time, and the session's events read until a condition holds.
:func:`summary` turns what the session saw into JSON: errors, the raw server events that
fail the openai types and their types, the tool events, the history, and the assistant audio (written to a
file as pcm16 24 kHz).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import aclosing
from typing import Any

from agents.realtime import RealtimeAgent, RealtimeRunner, RealtimeSession
from common import api_key, openai_failures, realtime_url, write_pcm

RATE = 24_000
CHUNK_MS = 40
STATE_EVENTS = frozenset({"agent_end", "history_added", "history_updated"})


async def converse(
    agent: RealtimeAgent, question: bytes, answered: Callable[[list[Any]], bool]
) -> list[Any]:
    """Say ``question`` (pcm16 24 kHz) to ``agent``; its session's events until then.

    Read until ``answered(seen)`` holds and the history holds the question's transcript
    (input transcription is asynchronous: it may complete after the response).
    """
    config = {"url": realtime_url() + "?model=gpt-realtime", "api_key": api_key()}
    session = await RealtimeRunner(agent).run(model_config=config)
    async with session:
        await say(session, question)
        return await events_until(session, lambda seen: answered(seen) and transcribed(seen))


async def say(session: RealtimeSession, payload: bytes) -> None:
    step = RATE * 2 * CHUNK_MS // 1000
    for at in range(0, len(payload), step):
        await session.send_audio(payload[at : at + step])


async def events_until(session: RealtimeSession, done: Callable[[list[Any]], bool]) -> list[Any]:
    seen: list[Any] = []
    async with aclosing(aiter(session)) as events:
        async for event in events:
            seen.append(event)
            if event.type in STATE_EVENTS and done(seen):
                return seen
    raise AssertionError(f"the session ended first: {[e.type for e in seen]}")


def history(events: Sequence[Any]) -> list[Any]:
    """The SDK's conversation history as its events last showed it."""
    items: list[Any] = []
    for event in events:
        if event.type == "history_updated":
            items = list(event.history)
        elif event.type == "history_added":
            items = [i for i in items if i.item_id != event.item.item_id] + [event.item]
    return items


def transcribed(events: Sequence[Any]) -> bool:
    """Whether every user message in the history has its transcript."""
    users = [i for i in history(events) if i.type == "message" and i.role == "user"]
    return bool(users) and all(i.content and i.content[0].transcript for i in users)


def item_summary(item: Any) -> dict[str, Any]:
    message = item.type == "message"
    return {
        "type": item.type,
        "role": getattr(item, "role", None),
        "status": getattr(item, "status", None),
        "name": getattr(item, "name", None),
        "output": getattr(item, "output", None),
        "transcript": item.content[0].transcript if message and item.content else None,
    }


def raw_server_events(events: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        e.data.data
        for e in events
        if e.type == "raw_model_event" and e.data.type == "raw_server_event"
    ]


def summary(events: Sequence[Any], audio_out: str) -> dict[str, Any]:
    """What the session saw, as JSON; the assistant's audio goes to ``audio_out``."""
    write_pcm(audio_out, b"".join(e.audio.data for e in events if e.type == "audio"))
    raw = raw_server_events(events)
    return {
        "errors": [str(e.error) for e in events if e.type == "error"],
        "validation_failures": openai_failures(raw),
        "server_events": list(dict.fromkeys(e.get("type") for e in raw)),
        "tool_events": [
            [e.type, e.tool.name, json.loads(e.arguments)]
            for e in events
            if e.type in ("tool_start", "tool_end")
        ],
        "history": [item_summary(i) for i in history(events)],
    }
