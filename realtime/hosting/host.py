"""The app's realtime sessions, whatever carries them: admission, registry, shutdown.

One :class:`SessionHost` per app (``app[HOST]``). A transport adapter asks it for a seat
(:meth:`SessionHost.admit`, which refuses past ``settings.max_sessions`` or
``settings.max_sessions_per_key``), then has it run a session over the adapter's
:class:`~realtime.hosting.channel.Channel` (:meth:`SessionHost.serve`). On shutdown the host
lets responses in progress finish (up to SHUTDOWN_GRACE_S), then closes every session
(RESTART). :func:`open_session` is the one place a session and its runner are built.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Mapping
from functools import partial

from aiohttp import web

from engines.base import Engines
from protocol import RealtimeSession, ServerEvent, TranscriptionSession
from protocol.codec import Dialect
from realtime.hosting.channel import CLOSE_TIMEOUT_S, Channel, CloseReason, Closing, Refused
from realtime.hosting.chat import CHAT, chat_lifespan
from realtime.hosting.hosted import HostedSession, Tap
from realtime.hosting.runner import SessionRunner, capabilities
from realtime.inference.scheduler import InferenceScheduler
from realtime.responders import create_responder
from realtime.responders.chat_backends import ChatBackend
from realtime.server.app_keys import ENGINES, INFERENCE, SETTINGS
from realtime.server.logs import SESSION_ID
from realtime.server.metrics import METRICS, Metrics, SessionObserver
from realtime.server.settings import Settings
from realtime.session import Session
from realtime.session.ids import random_ids

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_S = 10.0
"""On shutdown, responses in progress get this long to finish before sessions close."""
RESTARTING = Closing(CloseReason.RESTART, "server restarting")
OVERLOADED = Closing(CloseReason.OVERLOADED, "too many sessions; retry later")

SessionConfig = RealtimeSession | TranscriptionSession


def open_session(
    config: SessionConfig,
    emit: Callable[[ServerEvent], None],
    *,
    settings: Settings,
    engines: Engines,
    pool: InferenceScheduler,
    dialect: Dialect,
    observer: SessionObserver,
    chat: ChatBackend | None = None,
) -> SessionRunner:
    """Build a session starting with ``config`` and the runner that drives it.

    ``chat`` is the app's language model (the ``llm`` responder's), if any.
    """
    responder = create_responder(settings.responder, chat)
    session = Session(
        config,
        ids=random_ids,
        created_at=time.time(),
        capabilities=capabilities(
            engines,
            responder,
            early_replies=settings.llm_early_replies,
            quick_replies=settings.llm_reply_transcript == "quick",
        ),
    )
    return SessionRunner(
        session,
        engines,
        pool,
        dialect=dialect,
        emit=emit,
        observe=lambda event: observer.client_event(event, session.config.audio.input.format.type),
        responder=responder,
    )


class SessionHost:
    """Admits, runs and shuts down the app's realtime sessions.

    Args:
        settings: Session limits and the responder.
        metrics: The app's metrics (active sessions, per-session observers).
        resources: The engines, the inference scheduler and the chat backend (None: no
            language model), once the app loaded them.
    """

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        resources: Callable[[], tuple[Engines, InferenceScheduler, ChatBackend | None]],
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._resources = resources
        self._sessions: dict[Hashable, HostedSession] = {}
        self._seats = 0
        self._seats_per_key: Counter[str] = Counter()

    @property
    def sessions(self) -> Mapping[Hashable, HostedSession]:
        """The running sessions, by the transport connection that carries each one."""
        return self._sessions

    @contextlib.contextmanager
    def admit(self, key_id: str) -> Iterator[None]:
        """Hold a seat for one session of ``key_id`` while the block runs.

        Raises:
            Refused: Too many sessions, in all or for the key (OVERLOADED).
        """
        settings = self._settings
        if (
            self._seats >= settings.max_sessions
            or self._seats_per_key[key_id] >= settings.max_sessions_per_key
        ):
            raise Refused(OVERLOADED)
        self._seats += 1
        self._seats_per_key[key_id] += 1
        try:
            yield
        finally:
            self._seats -= 1
            self._seats_per_key[key_id] -= 1

    async def serve(
        self,
        connection: Hashable,
        channel: Channel,
        config: SessionConfig,
        dialect: Dialect,
        *,
        tap: Tap | None = None,
    ) -> Closing:
        """Run one session over ``channel`` until it closes (call it inside :meth:`admit`).

        Args:
            connection: The transport's connection object (the registry's key).
            channel: The transport's side of the session.
            config: The session the client starts with.
            dialect: The protocol dialect the client speaks.
            tap: The transport's hook on the session's events (see :data:`Tap`).

        Returns:
            Why the session ended (the channel is closed by then).
        """
        observer = self._metrics.session_observer()
        engines, pool, chat = self._resources()
        start = partial(
            open_session,
            config,
            settings=self._settings,
            engines=engines,
            pool=pool,
            dialect=dialect,
            observer=observer,
            chat=chat,
        )
        hosted = HostedSession(
            channel,
            start,
            dialect=dialect,
            observer=observer,
            max_seconds=self._settings.max_session_seconds,
            tap=tap,
        )
        token = SESSION_ID.set(hosted.runner.session.config.id)  # on every log line
        self._sessions[connection] = hosted
        self._metrics.active_sessions.inc()
        try:
            log.info("realtime session started (%s, %s dialect)", config.type, dialect.value)
            closing = await hosted.run()
            log.info("realtime session ended (%s)", closing.reason.value)
            return closing
        finally:
            self._metrics.active_sessions.dec()
            self._sessions.pop(connection, None)
            hosted.ended.set()
            SESSION_ID.reset(token)

    async def close_all(self) -> None:
        """Drain responses in progress, then have each session close itself (RESTART).

        Each session closes its channel from its own task, so the transport can complete
        its close handshake while the client is still sending. Returns when every session
        ended (at most CLOSE_TIMEOUT_S after the drain).
        """
        open_now = list(self._sessions.values())
        await _drain(open_now)
        for hosted in open_now:
            hosted.close(RESTARTING.reason, RESTARTING.message)
        waits = [asyncio.ensure_future(hosted.ended.wait()) for hosted in open_now]
        if waits:
            _, late = await asyncio.wait(waits, timeout=CLOSE_TIMEOUT_S + 1.0)
            for wait in late:
                wait.cancel()

    async def close_now(self) -> None:
        """Drain responses in progress, then close each channel from here (RESTART)."""
        open_now = list(self._sessions.values())
        await _drain(open_now)
        for hosted in open_now:
            with contextlib.suppress(Exception):
                await hosted.channel.close(RESTARTING)


async def _drain(sessions: list[HostedSession]) -> None:
    """Wait (SHUTDOWN_GRACE_S at most) for the responses in progress to finish."""
    await asyncio.gather(*(s.runner.drain(grace_s=SHUTDOWN_GRACE_S) for s in sessions))


HOST = web.AppKey("session_host", SessionHost)


def setup(app: web.Application) -> None:
    """Give ``app`` its :class:`SessionHost` (``app[HOST]``) and its shutdown hook."""
    app[HOST] = SessionHost(
        app[SETTINGS], app[METRICS], lambda: (app[ENGINES], app[INFERENCE], app.get(CHAT))
    )
    app.cleanup_ctx.append(chat_lifespan)  # after the inference lifespan loaded the engines
    app.on_shutdown.append(_close_on_shutdown)


async def close_all(app: web.Application) -> None:
    """Stop every realtime session of ``app``: drain responses, then close each (RESTART).

    Call it after the listening sockets stop and before ``AppRunner.cleanup()``: from
    there on aiohttp discards whatever clients send (``RequestHandler.close``), so client
    events during the drain would be lost and no close handshake could complete.
    Responses in progress get up to SHUTDOWN_GRACE_S to finish; RESTART (WebSocket 1012)
    tells clients they may reconnect. Each session closes its own connection and reads on
    until the client's goodbye: a WebSocket closed from here while the session's reader
    waits would make aiohttp drop the connection at once, and a client still streaming
    audio then sees a reset (1006) instead of 1012. Returns when every session ended (at
    most CLOSE_TIMEOUT_S after the drain).
    """
    await app[HOST].close_all()


async def _close_on_shutdown(app: web.Application) -> None:
    """``on_shutdown``: close the sessions :func:`close_all` did not (RESTART).

    That is an app stopped with ``AppRunner.cleanup()`` alone. aiohttp already discards
    client input here, so after the drain each connection is closed at once, without
    waiting for a reply.
    """
    await app[HOST].close_now()
