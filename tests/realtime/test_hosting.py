"""Session hosting without a transport: admission, close reasons, shutdown (a fake channel)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from engines.base import Engines
from engines.testing import ScriptedASR, ScriptedVAD, ToneTTS
from protocol import RealtimeSession
from protocol.codec import Dialect
from realtime.hosting.channel import CloseReason, Closing, Refused
from realtime.hosting.host import SessionHost
from realtime.hosting.hosted import HostedSession
from realtime.inference.scheduler import InferenceScheduler
from realtime.server.metrics import Metrics
from realtime.server.settings import Settings

FAKES = Engines(vad=ScriptedVAD([]), asr=ScriptedASR(), tts=ToneTTS())
TIMEOUT_S = 10


class FakeChannel:
    """An in-memory channel: the test plays the client through ``inbound`` and ``sent``."""

    def __init__(self) -> None:
        self.inbound: asyncio.Queue[str | None] = asyncio.Queue()  # None: the client leaves
        self.sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.closed: list[Closing] = []

    async def receive(self, session: HostedSession) -> None:
        while (text := await self.inbound.get()) is not None:
            session.receive_text(text)

    async def send(self, text: str) -> None:
        await self.sent.put(json.loads(text))

    async def close(self, closing: Closing) -> None:
        self.closed.append(closing)

    async def until(self, event_type: str) -> dict[str, Any]:
        while (event := await asyncio.wait_for(self.sent.get(), TIMEOUT_S))["type"] != event_type:
            pass
        return event


@pytest.fixture
def host(tmp_path):
    with InferenceScheduler(2) as pool:
        settings = Settings(data_dir=tmp_path, max_sessions=2, max_sessions_per_key=1)
        yield SessionHost(settings, Metrics(), lambda: (FAKES, pool, None))


def test_admission_refuses_past_the_limits_and_frees_the_seat(host):
    with host.admit("k1"):
        with pytest.raises(Refused) as refused, host.admit("k1"):
            pass
        assert refused.value.closing.reason is CloseReason.OVERLOADED
        with host.admit("k2"), pytest.raises(Refused), host.admit("k3"):  # max_sessions=2
            pass
    with host.admit("k1"):  # the seat came back
        pass


async def test_a_session_runs_over_any_channel_until_the_client_leaves(host):
    channel = FakeChannel()
    with host.admit("k"):
        serving = asyncio.create_task(host.serve("conn", channel, RealtimeSession(), Dialect.GA))
        await channel.until("session.created")
        assert list(host.sessions) == ["conn"]
        await channel.inbound.put(json.dumps({"type": "input_audio_buffer.clear"}))
        await channel.until("input_audio_buffer.cleared")
        await channel.inbound.put(None)
        closing = await asyncio.wait_for(serving, TIMEOUT_S)
    assert closing == Closing(CloseReason.NORMAL) and channel.closed == [closing]
    assert not host.sessions


async def test_close_all_has_each_session_close_itself_with_restart(host):
    channel = FakeChannel()
    with host.admit("k"):
        serving = asyncio.create_task(host.serve("conn", channel, RealtimeSession(), Dialect.GA))
        await channel.until("session.created")
        await asyncio.wait_for(host.close_all(), TIMEOUT_S)
        assert serving.done()
    assert channel.closed == [Closing(CloseReason.RESTART, "server restarting")]
