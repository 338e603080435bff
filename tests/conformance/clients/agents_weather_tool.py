"""The Agents SDK: a spoken weather question, a function tool run, a spoken answer.

Usage: ``agents_weather_tool.py QUESTION_PCM AUDIO_OUT`` (pcm16 24 kHz in and out). A
``RealtimeAgent`` with a ``@function_tool`` ``get_weather`` hears the question; the script
reads the session until the response after the tool's output has ended (and the question's
transcript is in the history), and reports
:func:`agents_session.summary` plus ``calls``: the cities the tool was called with.
"""

from __future__ import annotations

import sys
from typing import Any

from agents import function_tool
from agents.realtime import RealtimeAgent
from agents_session import converse, summary
from common import read_pcm, run

WEATHER = "21 degrees and sunny"


def answered_after_tool(seen: list[Any]) -> bool:
    """The response after the tool's output has ended."""
    tool_end = next((n for n, e in enumerate(seen) if e.type == "tool_end"), len(seen))
    return any(e.type == "agent_end" for e in seen[tool_end:])


async def main() -> dict[str, Any]:
    question, audio_out = sys.argv[1:3]
    calls: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The current weather in a city."""
        calls.append(city)
        return WEATHER

    agent = RealtimeAgent(
        name="Weather", instructions="You are a weather bot.", tools=[get_weather]
    )
    events = await converse(agent, read_pcm(question), answered_after_tool)
    return {**summary(events, audio_out), "calls": calls}


if __name__ == "__main__":
    run(main)
