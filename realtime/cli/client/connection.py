"""The realtime WebSocket to a gateway: its URL, opening it, and sending events and audio."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

DEFAULT_URL = "http://127.0.0.1:8000"
"""Where ``voxgate serve`` listens by default."""

PCM_RATE = 24_000
"""The sample rate of ``audio/pcm``, the format this client sends and receives."""

SILENCE_DURATION_MS = 800
"""Server VAD: the pause that ends an utterance."""


class ClientError(Exception):
    """The gateway could not be reached, refused us, or reported a fatal error."""


def realtime_url(base_url: str, *, transcription: bool = False) -> str:
    """The WebSocket URL of a gateway's realtime endpoint.

    Args:
        base_url: The gateway's HTTP(S) base URL, e.g. ``http://127.0.0.1:8000`` (a
            ``ws://``/``wss://`` URL or one ending in ``/v1`` works too).
        transcription: Ask for a transcription-only session (``?intent=transcription``).

    Returns:
        ``ws(s)://host:port/v1/realtime`` with the query.
    """
    parts = urlsplit(base_url.rstrip("/"))
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path.removesuffix("/v1/realtime").removesuffix("/v1") + "/v1/realtime"
    query = "intent=transcription" if transcription else "model=voxgate"
    return urlunsplit((scheme, parts.netloc, path, query, ""))


@contextlib.asynccontextmanager
async def connect(
    url: str, api_key: str | None, *, transcription: bool = False
) -> AsyncIterator[Any]:
    """Open a realtime WebSocket to a gateway.

    Args:
        url: The gateway's base URL (see :func:`realtime_url`).
        api_key: A ``vg_…`` key, sent as ``Authorization: Bearer``; None sends none.
        transcription: Open a transcription-only session.

    Yields:
        The open ``websockets`` connection, after ``session.created``.

    Raises:
        ClientError: unreachable gateway, refused key, or an unexpected first event.
    """
    import websockets

    ws_url = realtime_url(url, transcription=transcription)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        connection = await websockets.connect(ws_url, additional_headers=headers, max_size=None)
    except websockets.InvalidStatus as exc:
        status = exc.response.status_code
        if status == 401:
            hint = "set --api-key or VOXGATE_API_KEY" if not api_key else "check the key"
            raise ClientError(f"the gateway refused the API key (401): {hint}") from exc
        raise ClientError(f"the gateway refused the connection (HTTP {status})") from exc
    except (OSError, websockets.InvalidURI, websockets.InvalidHandshake) as exc:
        raise ClientError(f"cannot reach the gateway at {url}: {exc}") from exc
    async with connection:
        first = json.loads(await connection.recv())
        if first.get("type") != "session.created":
            raise ClientError(f"unexpected first event from the gateway: {first.get('type')}")
        yield connection


async def send_event(ws: Any, event: dict[str, Any]) -> None:
    """Send one client event as JSON."""
    await ws.send(json.dumps(event))


async def stream_audio(ws: Any, audio: AsyncIterator[bytes]) -> None:
    """Append every chunk of ``audio`` to the input buffer."""
    async for chunk in audio:
        await send_event(
            ws, {"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()}
        )


def server_vad(
    *, create_response: bool | None = None, silence_ms: int = SILENCE_DURATION_MS
) -> dict[str, Any]:
    """The ``turn_detection`` this client asks for; ``create_response`` only when given.

    Args:
        create_response: Whether the server answers each turn; None leaves its default.
        silence_ms: The pause that ends a turn.
    """
    vad: dict[str, Any] = {"type": "server_vad", "silence_duration_ms": silence_ms}
    if create_response is not None:
        vad["create_response"] = create_response
    return vad


def pcm_format() -> dict[str, Any]:
    """The ``audio/pcm`` format at :data:`PCM_RATE`, for input and output alike."""
    return {"type": "audio/pcm", "rate": PCM_RATE}
