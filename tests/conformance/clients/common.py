"""What every client script shares: where voxgate is, the result line, server-event checks.

The scripts run in .venv-clients (the clients' own environment, without voxgate) as
``.venv-clients/bin/python tests/conformance/clients/SCRIPT [ARGS]``. voxgate's address and
API key come from the environment: ``VOXGATE_BASE_URL`` (``http://127.0.0.1:PORT/v1``) and
``VOXGATE_API_KEY``. A script prints one JSON object on its last stdout line (:func:`report`)
and exits 0; anything that stops it (a timeout, an exception) exits non-zero with the
traceback on stderr. Audio travels through files: raw pcm16 mono at the rate each script
names.

Every server event a client receives is checked against that client's own types:
:func:`openai_failures` uses the openai SDK's ``RealtimeServerEvent`` union (what the Agents
SDK and LiveKit build on). Where a client hides its socket, :func:`tap_aiohttp` and
:func:`tap_websockets` record the JSON text frames it reads without changing them.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pydantic

RESULT_TIMEOUT_S = 90


def base_url() -> str:
    """voxgate's HTTP API base, ``http://127.0.0.1:PORT/v1``."""
    return os.environ["VOXGATE_BASE_URL"]


def api_key() -> str:
    return os.environ["VOXGATE_API_KEY"]


def realtime_url() -> str:
    """voxgate's realtime WebSocket endpoint, ``ws://127.0.0.1:PORT/v1/realtime``."""
    return base_url().replace("http", "ws", 1) + "/realtime"


def read_pcm(path: str) -> bytes:
    return Path(path).read_bytes()


def write_pcm(path: str, pcm: bytes) -> None:
    Path(path).write_bytes(pcm)


def report(result: dict[str, Any]) -> None:
    """The script's result: one JSON line on stdout."""
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def run(main: Callable[[], Awaitable[dict[str, Any]]]) -> None:
    """Run ``main`` within :data:`RESULT_TIMEOUT_S` and report what it returns."""

    async def bounded() -> dict[str, Any]:
        async with asyncio.timeout(RESULT_TIMEOUT_S):
            return await main()

    report(asyncio.run(bounded()))


def openai_failures(events: list[dict[str, Any]]) -> list[str]:
    """Events that do not validate as the openai SDK's ``RealtimeServerEvent``."""
    from openai.types.realtime import RealtimeServerEvent

    adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeServerEvent)
    failures = []
    for event in events:
        try:
            adapter.validate_python(event)
        except pydantic.ValidationError as error:
            failures.append(f"{event.get('type')}: {error}")
    return failures


def tap_aiohttp(into: list[dict[str, Any]]) -> None:
    """Record every JSON text frame any aiohttp client WebSocket receives, into ``into``."""
    import aiohttp

    receive = aiohttp.ClientWebSocketResponse.receive

    async def tapped(self: aiohttp.ClientWebSocketResponse, *args: Any, **kwargs: Any) -> Any:
        message = await receive(self, *args, **kwargs)
        if message.type == aiohttp.WSMsgType.TEXT:
            into.append(json.loads(message.data))
        return message

    aiohttp.ClientWebSocketResponse.receive = tapped


def tap_websockets(into: list[str]) -> None:
    """Record every text frame any ``websockets`` asyncio connection receives, into ``into``."""
    from websockets.asyncio.connection import Connection

    recv = Connection.recv

    async def tapped(self: Connection, *args: Any, **kwargs: Any) -> Any:
        message = await recv(self, *args, **kwargs)
        if isinstance(message, str):
            into.append(message)
        return message

    Connection.recv = tapped
