"""The realtime WebSocket endpoint: aiohttp ⇄ :class:`~realtime.runner.SessionRunner`.

``GET /v1/realtime`` (also ``/realtime``) upgrades to a WebSocket that speaks the OpenAI
Realtime protocol: GA by default, beta when the client sends ``OpenAI-Beta: realtime=v1``
or offers the ``openai-beta.realtime-v1`` subprotocol. Query: ``model`` (echoed),
``intent=transcription`` (a transcription-only session). Authentication happened in the
middleware (API key, or a client secret whose session settings apply here).

When the client offers subprotocols the handshake answers ``Sec-WebSocket-Protocol:
realtime`` — never the key-bearing ``openai-insecure-api-key.…`` entry.

Close codes: 1000 normal; 1008 policy (a client that does not read its events); 1009 frame
too big; 1011 internal error; 1012 server restart (shutdown); 1013 overloaded (session
limits); 1001 the maximum session length was reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import WSCloseCode, WSMsgType, web

from protocol import (
    InvalidEvent,
    RealtimeSession,
    ServerEvent,
    TranscriptionSession,
    dump_server_event,
    parse_session_config,
)
from protocol.codec import Dialect
from realtime.app_keys import ENGINES, INFERENCE, SETTINGS
from realtime.auth import API_KEY, CLIENT_SECRET, CLIENT_SECRETS, offered_subprotocols
from realtime.errors import json_error
from realtime.ids import random_ids
from realtime.logs import SESSION_ID
from realtime.metrics import METRICS
from realtime.runner import SessionRunner
from realtime.session import Session

log = logging.getLogger(__name__)

SUBPROTOCOL = "realtime"
MAX_FRAME_BYTES = 24 * 1024 * 1024  # a 15 MiB audio append, base64, in its JSON envelope
OUTBOUND_QUEUE = 2_000
"""Server events waiting for a slow client before it is disconnected (1008)."""

SHUTDOWN_GRACE_S = 10.0
"""On shutdown, responses in progress get this long to finish before sessions close (1012)."""
CLOSE_TIMEOUT_S = 5.0
"""How long a closing socket waits for the client's close frame before dropping it."""


@dataclass(eq=False)
class Connection:
    """An open realtime socket, as shutdown sees it.

    Attributes:
        runner: The session's runner (None until the session starts).
        close: Ends the session with a close code and reason; the session's own task then
            closes the socket with the full close handshake. None until the session starts.
        ended: Set when the endpoint has finished with the socket.
    """

    runner: SessionRunner | None = None
    close: Callable[[int, str], None] | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)


CONNECTIONS = web.AppKey("realtime_connections", weakref.WeakKeyDictionary)
"""Open realtime sockets → their :class:`Connection`."""
ACTIVE_PER_KEY = web.AppKey("realtime_sessions_per_key", Counter)


async def realtime_endpoint(request: web.Request) -> web.StreamResponse:
    """Upgrade to a realtime WebSocket and run one session until either side closes."""
    settings = request.app[SETTINGS]
    offered = offered_subprotocols(request)
    dialect = Dialect.from_handshake(request.headers.get("OpenAI-Beta"), offered)
    ws = web.WebSocketResponse(
        protocols=(SUBPROTOCOL,) if SUBPROTOCOL in offered else (),
        max_msg_size=MAX_FRAME_BYTES,
        heartbeat=30,
        timeout=CLOSE_TIMEOUT_S,
    )
    await ws.prepare(request)

    key_id = request[API_KEY].id
    per_key = request.app[ACTIVE_PER_KEY]
    connections = request.app[CONNECTIONS]
    if (
        len(connections) >= settings.max_sessions
        or per_key[key_id] >= settings.max_sessions_per_key
    ):
        await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too many sessions; retry later")
        return ws

    try:
        config = _initial_config(request)
    except InvalidEvent as exc:
        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=exc.message.encode()[:120])
        return ws

    connection = connections[ws] = Connection()
    per_key[key_id] += 1
    active = request.app[METRICS].active_sessions
    active.inc()
    try:
        await _serve(request, ws, config, dialect)
    finally:
        active.dec()
        per_key[key_id] -= 1
        connections.pop(ws, None)
        connection.ended.set()
    return ws


def _initial_config(request: web.Request) -> RealtimeSession | TranscriptionSession:
    """The session a connection starts with: the client secret's settings, else the query."""
    secret = request.get(CLIENT_SECRET)
    if secret is not None and secret.session:
        return parse_session_config(secret.session)
    if request.query.get("intent") == "transcription":
        return TranscriptionSession()
    return RealtimeSession(model=request.query.get("model"))


async def _serve(
    request: web.Request,
    ws: web.WebSocketResponse,
    config: RealtimeSession | TranscriptionSession,
    dialect: Dialect,
) -> None:
    settings = request.app[SETTINGS]
    engines = request.app[ENGINES]
    outbound: asyncio.Queue[str | None] = asyncio.Queue(OUTBOUND_QUEUE)
    closing: list[tuple[int, str]] = []
    observer = request.app[METRICS].session_observer()

    def close(code: int, reason: str) -> None:
        if not closing:
            closing.append((code, reason))
            runner.stop()

    def emit(event: ServerEvent) -> None:
        text = dump_server_event(event, dialect)
        if text is None:
            return
        observer.server_event(event)
        try:
            outbound.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("closing a realtime session whose client does not read its events")
            close(WSCloseCode.POLICY_VIOLATION, "client is not reading events")

    session = Session(
        config,
        ids=random_ids,
        created_at=time.time(),
        responder=settings.responder,
        has_tts=engines.tts is not None,
    )
    session_token = SESSION_ID.set(session.config.id)  # on every log line of the session
    log.info("realtime session started (%s, %s dialect)", config.type, dialect.value)
    runner = SessionRunner(
        session,
        engines,
        request.app[INFERENCE],
        dialect=dialect,
        emit=emit,
        close=close,
        observe=lambda event: observer.client_event(event, session.config.audio.input.format.type),
    )
    connection = request.app[CONNECTIONS][ws]  # so shutdown can drain and close the session
    connection.runner, connection.close = runner, close

    async def write() -> None:
        try:
            while (text := await outbound.get()) is not None:
                await ws.send_str(text)
        except ConnectionError:  # the client went away; the reader ends the session
            close(WSCloseCode.OK, "")

    async def read() -> None:
        async for message in ws:
            if message.type is WSMsgType.TEXT:
                runner.receive_text(message.data)
            elif message.type is WSMsgType.BINARY:
                runner.session.receive_invalid_event(
                    InvalidEvent("Binary frames are not supported: send JSON text events.")
                )
                runner.flush()
            # aiohttp hands over buffered frames without suspending: a client that sends
            # faster than we read would otherwise hold the event loop (every session's).
            await asyncio.sleep(0)
        if ws.exception() is not None and not closing:  # e.g. a frame over the size limit
            close(WSCloseCode.MESSAGE_TOO_BIG, "frame too large")
        close(WSCloseCode.OK, "")

    async def expire() -> None:
        await asyncio.sleep(settings.max_session_seconds)
        close(
            WSCloseCode.GOING_AWAY,
            f"Your session hit the maximum duration of {settings.max_session_seconds} seconds.",
        )

    try:
        async with asyncio.TaskGroup() as group:
            writer = group.create_task(write())
            reader = group.create_task(read())
            timer = group.create_task(expire())
            await runner.run()
            reader.cancel()
            timer.cancel()
            with contextlib.suppress(asyncio.QueueFull):
                outbound.put_nowait(None)  # let the writer drain what is queued
            if closing and closing[0][0] != WSCloseCode.OK:
                writer.cancel()
    except* Exception:
        log.exception("realtime session failed")
        closing[:] = [(WSCloseCode.INTERNAL_ERROR, "internal error")]
    code, reason = closing[0] if closing else (WSCloseCode.OK, "")
    try:
        if not ws.closed:
            await ws.close(code=code, message=reason.encode()[:120])
        log.info("realtime session ended (close code %d)", code)
    finally:
        SESSION_ID.reset(session_token)


async def create_client_secret(request: web.Request) -> web.Response:
    """``POST /v1/realtime/client_secrets``: mint a short-lived ``ek_…`` secret.

    Body (optional JSON): ``{"expires_after": {"anchor": "created_at", "seconds": N},
    "session": {...}}``. Answer: ``{"value", "expires_at", "session"}`` with the session the
    secret's connection will start with (defaults filled in).
    """
    settings = request.app[SETTINGS]
    body: dict = {}
    if request.can_read_body:
        try:
            body = await request.json()
        except ValueError:
            return json_error(400, "The body must be JSON.", code="invalid_json")
        if not isinstance(body, dict):
            return json_error(400, "The body must be a JSON object.", code="invalid_value")
    seconds = (body.get("expires_after") or {}).get("seconds", settings.client_secret_ttl_s)
    session_json = body.get("session") or {"type": "realtime"}
    try:
        config = parse_session_config(session_json)
    except InvalidEvent as exc:
        return json_error(
            400,
            exc.message,
            code=exc.code,
            param=f"session.{exc.param}" if exc.param else "session",
        )
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        return json_error(
            400,
            "expires_after.seconds must be an integer.",
            code="invalid_value",
            param="expires_after.seconds",
        )
    try:
        value, secret = request.app[CLIENT_SECRETS].mint(
            request[API_KEY], ttl_s=seconds, now=time.time(), session=session_json
        )
    except ValueError as exc:
        return json_error(400, str(exc), code="invalid_value", param="expires_after.seconds")
    return web.json_response(
        {
            "value": value,
            "expires_at": int(secret.expires_at),
            "session": config.model_dump(mode="json"),
        }
    )


async def close_all(app: web.Application) -> None:
    """Stop every realtime session: drain responses, then close each socket with 1012.

    Call it after the listening sockets stop and before ``AppRunner.cleanup()``: from
    there on aiohttp discards whatever clients send (``RequestHandler.close``), so client
    events during the drain would be lost and no close handshake could complete.
    Responses in progress get up to SHUTDOWN_GRACE_S to finish; 1012 (service restart)
    tells clients they may reconnect. Each session closes its own socket and reads on
    until the client's close frame: closing it from here while the session's reader waits
    would make aiohttp drop the connection at once, and a client still streaming audio
    then sees a reset (1006) instead of 1012. Returns when every socket is closed (at most
    CLOSE_TIMEOUT_S after the drain).
    """
    open_now = list(app[CONNECTIONS].items())
    await _drain(open_now)
    for ws, connection in open_now:
        if connection.close is not None:
            connection.close(WSCloseCode.SERVICE_RESTART, "server restarting")
        else:  # the session has not started: nothing else uses the socket
            with contextlib.suppress(Exception):
                await ws.close(code=WSCloseCode.SERVICE_RESTART, message=b"server restarting")
    waits = [asyncio.ensure_future(c.ended.wait()) for _, c in open_now]
    if waits:
        _, late = await asyncio.wait(waits, timeout=CLOSE_TIMEOUT_S + 1.0)
        for wait in late:
            wait.cancel()


async def _close_on_shutdown(app: web.Application) -> None:
    """``on_shutdown``: close the sessions :func:`close_all` did not (1012).

    That is an app stopped with ``AppRunner.cleanup()`` alone. aiohttp already discards
    client input here, so after the drain each socket is closed at once, without waiting
    for a reply.
    """
    open_now = list(app[CONNECTIONS].items())
    await _drain(open_now)
    for ws, _ in open_now:
        with contextlib.suppress(Exception):
            await ws.close(code=WSCloseCode.SERVICE_RESTART, message=b"server restarting")


async def _drain(connections: list[tuple[web.WebSocketResponse, Connection]]) -> None:
    """Wait (SHUTDOWN_GRACE_S at most) for the responses in progress to finish."""
    runners = [c.runner for _, c in connections if c.runner is not None]
    await asyncio.gather(*(runner.drain(grace_s=SHUTDOWN_GRACE_S) for runner in runners))


def setup(app: web.Application) -> None:
    """Register the realtime routes and shutdown hook on ``app``."""
    app[CONNECTIONS] = weakref.WeakKeyDictionary()
    app[ACTIVE_PER_KEY] = Counter()
    for path in ("/v1/realtime", "/realtime"):
        app.router.add_get(path, realtime_endpoint)
    app.router.add_post("/v1/realtime/client_secrets", create_client_secret)
    app.on_shutdown.append(_close_on_shutdown)
