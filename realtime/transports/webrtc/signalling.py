"""WebRTC signalling routes, and the app's registry of calls.

* ``POST /v1/realtime/calls`` (GA): the SDP offer as ``application/sdp``, or a multipart
  form with ``sdp`` and ``session`` parts (what ``client.realtime.calls.create`` sends) →
  ``201`` with the SDP answer (``application/sdp``) and ``Location:
  /v1/realtime/calls/{call_id}``. Events on the call's data channel are GA.
* ``POST /v1/realtime?model=…`` (beta): the offer as ``application/sdp`` → the same answer;
  events are beta. (``GET`` on that path is the WebSocket.)
* ``POST /v1/realtime/calls/{call_id}/hangup`` → ``200`` once the call ended; ``404`` for a
  call that is unknown, over, or placed with another key.

A call needs an API key, or an ephemeral client secret whose session it starts with (the
auth middleware redeems it). It holds a session seat like a WebSocket (``429`` when the
limits are reached) and runs one hosted session on a background task of the
:class:`CallRegistry`, which ends every call on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web
from aiortc import RTCPeerConnection

from protocol.codec import Dialect
from realtime.auth.middleware import API_KEY, CLIENT_SECRET
from realtime.hosting.channel import CLOSE_TIMEOUT_S, CloseReason, Closing, Refused
from realtime.hosting.host import HOST
from realtime.server.app_keys import SETTINGS
from realtime.server.errors import json_error
from realtime.server.metrics import METRICS
from realtime.session.ids import random_ids
from realtime.transports.webrtc.call import Call
from realtime.transports.webrtc.ice import IcePolicy
from realtime.transports.webrtc.offer import (
    Offer,
    OfferRefused,
    SessionConfig,
    initial_session,
    read_offer,
)

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 30.0
"""How long a call's ICE may take to connect after the answer before the call ends."""
ABANDONED = Closing(CloseReason.NORMAL, "signalling did not complete")


class CallRegistry:
    """The app's calls by id, each served on a task this registry owns.

    Attributes:
        connect_timeout_s: How long ICE may take to connect (CONNECT_TIMEOUT_S).
    """

    def __init__(self, connect_timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        self.connect_timeout_s = connect_timeout_s
        self._calls: dict[str, Call] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def __len__(self) -> int:
        return len(self._calls)

    def find(self, call_id: str, key_id: str) -> Call | None:
        """The running call ``call_id`` if ``key_id`` placed it, else None."""
        call = self._calls.get(call_id)
        return call if call is not None and call.key_id == key_id else None

    def start(
        self,
        app: web.Application,
        call: Call,
        seat: contextlib.ExitStack,
        config: SessionConfig,
        dialect: Dialect,
    ) -> None:
        """Serve ``call``'s session on a task; the task releases ``seat`` when it ends."""
        self._calls[call.id] = call
        task = asyncio.get_running_loop().create_task(
            self._serve(app, call, seat, config, dialect), name=f"call {call.id}"
        )
        self._tasks[call.id] = task

    def task(self, call_id: str) -> asyncio.Task[None] | None:
        """The task serving call ``call_id`` (None once it ended); await it shielded."""
        return self._tasks.get(call_id)

    async def hang_up(self, call: Call) -> None:
        """End ``call`` and wait (a little longer than CLOSE_TIMEOUT_S at most) until it has."""
        call.hang_up()
        task = self._tasks.get(call.id)
        if task is not None:
            await asyncio.wait({task}, timeout=CLOSE_TIMEOUT_S + 1.0)

    async def close_all(self, _app: web.Application | None = None) -> None:
        """End every call and wait for its task (shutdown; the host closed the sessions)."""
        for call in list(self._calls.values()):
            call.hang_up()
        tasks = list(self._tasks.values())
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT_S + 1.0)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=CLOSE_TIMEOUT_S)

    async def _serve(
        self,
        app: web.Application,
        call: Call,
        seat: contextlib.ExitStack,
        config: SessionConfig,
        dialect: Dialect,
    ) -> None:
        try:
            with seat:
                await app[HOST].serve(call, call, config, dialect, tap=call.tap)
        except Exception:
            log.exception("WebRTC call %s failed", call.id)
        finally:
            await call.close(ABANDONED)
            if not call.connected.is_set():
                app[METRICS].webrtc_calls.labels(outcome="unconnected").inc()
            self._calls.pop(call.id, None)
            self._tasks.pop(call.id, None)


CALLS = web.AppKey("webrtc_calls", CallRegistry)


async def create_call(request: web.Request) -> web.StreamResponse:
    """``POST /v1/realtime/calls``: answer a GA call."""
    return await _answer(request, Dialect.GA, multipart=True)


async def create_beta_call(request: web.Request) -> web.StreamResponse:
    """``POST /v1/realtime``: answer a beta call (``application/sdp`` only)."""
    return await _answer(request, Dialect.BETA, multipart=False)


async def hang_up(request: web.Request) -> web.StreamResponse:
    """``POST /v1/realtime/calls/{call_id}/hangup``: end the call; 200 once it ended."""
    registry = request.app[CALLS]
    call = registry.find(request.match_info["call_id"], request[API_KEY].id)
    if call is None:
        return json_error(404, "No such call.", code="call_not_found", param="call_id")
    await registry.hang_up(call)
    return web.Response(status=200)


async def _answer(request: web.Request, dialect: Dialect, *, multipart: bool) -> web.StreamResponse:
    metrics = request.app[METRICS].webrtc_calls
    try:
        offer = await read_offer(request, multipart=multipart)
        secret = request.get(CLIENT_SECRET)
        config = initial_session(
            secret.session if secret is not None else None,
            offer.session,
            dialect,
            model=request.query.get("model"),
        )
        seat = contextlib.ExitStack()
        seat.enter_context(request.app[HOST].admit(request[API_KEY].id))
    except OfferRefused as refused:
        metrics.labels(outcome="refused").inc()
        return refused.response()
    except Refused as refused:
        metrics.labels(outcome="refused").inc()
        return json_error(
            429, refused.closing.message, code="session_limit_reached", type_="rate_limit_error"
        )
    with seat:
        call, answer = await _negotiate(request, offer)
        if call is None:
            metrics.labels(outcome="refused").inc()
            return json_error(400, answer, code="invalid_offer", param="sdp")
        request.app[CALLS].start(request.app, call, seat.pop_all(), config, dialect)
    metrics.labels(outcome="answered").inc()
    log.info("WebRTC call %s answered (%s dialect)", call.id, dialect.value)
    return web.Response(
        status=201,
        text=answer,
        content_type="application/sdp",
        headers={"Location": f"/v1/realtime/calls/{call.id}"},
    )


async def _negotiate(request: web.Request, offer: Offer) -> tuple[Call | None, str]:
    """A call answering ``offer`` and its SDP answer, or (None, why aiortc refused it)."""
    registry = request.app[CALLS]
    ice = IcePolicy.from_settings(request.app[SETTINGS])
    pc = RTCPeerConnection(ice.configuration())
    call = Call(
        random_ids("rtc"), request[API_KEY].id, pc, connect_timeout_s=registry.connect_timeout_s
    )
    try:
        return call, await call.answer(offer.sdp, ice)
    except asyncio.CancelledError:
        await call.close(ABANDONED)
        raise
    except Exception as exc:
        log.info("WebRTC offer refused: %s", exc)
        await call.close(ABANDONED)
        return (
            None,
            "The SDP offer could not be negotiated: it needs ICE credentials, a DTLS fingerprint and an audio codec we share (Opus, PCMU or PCMA).",
        )


def setup(app: web.Application) -> None:
    """Register the signalling routes and the call registry (after the session host).

    aioice logs every connectivity check (with the peers' addresses) at INFO: unless the
    deployment set its level, it logs warnings only.
    """
    ice_log = logging.getLogger("aioice")
    if ice_log.level == logging.NOTSET:
        ice_log.setLevel(logging.WARNING)
    app[CALLS] = CallRegistry()
    app.on_shutdown.append(app[CALLS].close_all)
    app.router.add_post("/v1/realtime/calls", create_call)
    app.router.add_post("/v1/realtime/calls/{call_id}/hangup", hang_up)
    app.router.add_post("/v1/realtime", create_beta_call)
