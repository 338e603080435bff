"""The Agents SDK: a spoken question, a spoken answer, both in the session's history.

Usage: ``agents_spoken_answer.py QUESTION_PCM AUDIO_OUT`` (pcm16 24 kHz in and out). A
``RealtimeAgent`` without tools hears the question; the script reads the session until the
agent's turn ends (and the question's transcript is in the history), and reports :func:`agents_session.summary`.
"""

from __future__ import annotations

import sys
from typing import Any

from agents.realtime import RealtimeAgent
from agents_session import converse, summary
from common import read_pcm, run


async def main() -> dict[str, Any]:
    question, audio_out = sys.argv[1:3]
    agent = RealtimeAgent(name="Assistant", instructions="You are a helpful assistant.")
    events = await converse(
        agent, read_pcm(question), lambda seen: any(e.type == "agent_end" for e in seen)
    )
    return summary(events, audio_out)


if __name__ == "__main__":
    run(main)
