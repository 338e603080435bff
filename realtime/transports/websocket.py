"""The realtime WebSocket endpoint: an aiohttp adapter over the :mod:`realtime.hosting` host.

``GET /v1/realtime`` (also ``/realtime``) upgrades to a WebSocket that speaks the OpenAI
Realtime protocol: GA by default, beta when the client sends ``OpenAI-Beta: realtime=v1``
or offers the ``openai-beta.realtime-v1`` subprotocol. Query: ``model`` (echoed),
``intent=transcription`` (a transcription-only session). Authentication happened in the
middleware (API key, or a client secret whose session settings apply here).

When the client offers subprotocols the handshake answers ``Sec-WebSocket-Protocol:
realtime`` — never the key-bearing ``openai-insecure-api-key.…`` entry.

Close codes: 1000 normal; 1008 policy (a client that does not read its events, a bad
initial session); 1009 frame too big; 1011 internal error; 1012 server restart (shutdown);
1013 overloaded (session limits); 1001 the maximum session length was reached.
"""

from __future__ import annotations

import asyncio

from aiohttp import WSCloseCode, WSMsgType, web

from protocol import InvalidEvent, RealtimeSession, TranscriptionSession, parse_session_config
from protocol.codec import Dialect
from realtime.auth.middleware import API_KEY, CLIENT_SECRET, offered_subprotocols
from realtime.hosting.channel import CLOSE_TIMEOUT_S, CloseReason, Closing, Refused, SessionInput
from realtime.hosting.host import HOST

SUBPROTOCOL = "realtime"
MAX_FRAME_BYTES = 24 * 1024 * 1024  # a 15 MiB audio append, base64, in its JSON envelope
MAX_REASON_BYTES = 120  # a close frame's payload is at most 125 bytes, the code included

CLOSE_CODES: dict[CloseReason, int] = {
    CloseReason.NORMAL: WSCloseCode.OK,
    CloseReason.POLICY: WSCloseCode.POLICY_VIOLATION,
    CloseReason.TOO_BIG: WSCloseCode.MESSAGE_TOO_BIG,
    CloseReason.INTERNAL_ERROR: WSCloseCode.INTERNAL_ERROR,
    CloseReason.RESTART: WSCloseCode.SERVICE_RESTART,
    CloseReason.OVERLOADED: WSCloseCode.TRY_AGAIN_LATER,
    CloseReason.EXPIRED: WSCloseCode.GOING_AWAY,
}
"""Each close reason's WebSocket close code."""


class WebSocketChannel:
    """One session's WebSocket (the :class:`~realtime.hosting.channel.Channel` it needs)."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws

    async def receive(self, session: SessionInput) -> None:
        """Hand each text frame to ``session`` until the client closes (1009: too big)."""
        async for message in self.ws:
            if message.type is WSMsgType.TEXT:
                session.receive_text(message.data)
            elif message.type is WSMsgType.BINARY:
                session.reject(
                    InvalidEvent("Binary frames are not supported: send JSON text events.")
                )
            # aiohttp hands over buffered frames without suspending: a client that sends
            # faster than we read would otherwise hold the event loop (every session's).
            await asyncio.sleep(0)
        if self.ws.exception() is not None:  # e.g. a frame over the size limit
            session.close(CloseReason.TOO_BIG, "frame too large")

    async def send(self, text: str) -> None:
        """Send one text frame (ConnectionError once the client is gone)."""
        await self.ws.send_str(text)

    async def close(self, closing: Closing) -> None:
        """Close with the reason's code, then read on until the client's close frame."""
        if not self.ws.closed:
            await self.ws.close(
                code=CLOSE_CODES[closing.reason],
                message=closing.message.encode()[:MAX_REASON_BYTES],
            )


async def realtime_endpoint(request: web.Request) -> web.StreamResponse:
    """Upgrade to a realtime WebSocket and run one session until either side closes."""
    offered = offered_subprotocols(request)
    dialect = Dialect.from_handshake(request.headers.get("OpenAI-Beta"), offered)
    ws = web.WebSocketResponse(
        protocols=(SUBPROTOCOL,) if SUBPROTOCOL in offered else (),
        max_msg_size=MAX_FRAME_BYTES,
        heartbeat=30,
        timeout=CLOSE_TIMEOUT_S,
    )
    await ws.prepare(request)
    channel = WebSocketChannel(ws)
    host = request.app[HOST]
    try:
        with host.admit(request[API_KEY].id):
            await host.serve(ws, channel, _initial_config(request), dialect)
    except Refused as refused:
        await channel.close(refused.closing)
    return ws


def _initial_config(request: web.Request) -> RealtimeSession | TranscriptionSession:
    """The session a connection starts with: the client secret's settings, else the query.

    Raises:
        Refused: The client secret's session is invalid (POLICY).
    """
    secret = request.get(CLIENT_SECRET)
    if secret is not None and secret.session:
        try:
            return parse_session_config(secret.session)
        except InvalidEvent as exc:
            raise Refused(Closing(CloseReason.POLICY, exc.message)) from exc
    if request.query.get("intent") == "transcription":
        return TranscriptionSession()
    return RealtimeSession(model=request.query.get("model"))


def setup(app: web.Application) -> None:
    """Register the realtime WebSocket routes on ``app`` (its host is set up first)."""
    for path in ("/v1/realtime", "/realtime"):
        app.router.add_get(path, realtime_endpoint)
