"""The aiohttp application: routes, middleware, lifespan, and the server runner.

``create_app(settings)`` builds the app; :func:`serve` runs it on uvloop (over TLS with
``tls_cert``/``tls_key``, see :mod:`realtime.server.tls`) until SIGINT or
SIGTERM. Heavy engines load once, in the app's lifespan, never per request.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import ssl
import sys
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path

from aiohttp import web

from engines.base import Engines
from realtime import __version__, openai_audio
from realtime.auth import routes as auth_routes
from realtime.auth.client_secrets import ClientSecretStore
from realtime.auth.keys import KeyStore
from realtime.auth.middleware import CLIENT_SECRETS, KEYSTORE, auth_middleware
from realtime.batch import api as batch_api
from realtime.batch.app_keys import JOB_STORE
from realtime.batch.store import JobStore
from realtime.hosting import host as session_host
from realtime.inference.scheduler import InferenceScheduler
from realtime.server import cors, metrics, openapi, ratelimit
from realtime.server.app_keys import ENGINES, INFERENCE, SETTINGS
from realtime.server.demo import add_demo_routes
from realtime.server.errors import json_errors_middleware
from realtime.server.settings import Settings
from realtime.server.tls import describe, server_context
from realtime.transports import webrtc, websocket

log = logging.getLogger(__name__)


def model_label(settings: Settings) -> str:
    """The listening model's name as /health reports it (the final/batch ASR model)."""
    return f"whisper-{Path(settings.asr_final_model).name}"


async def health(request: web.Request) -> web.Response:
    """``GET /health``: liveness and version, no auth (Fluxions reference shape)."""
    settings = request.app[SETTINGS]
    # with several server processes, say which one answered (rolling reloads, debugging)
    headers = {"X-Voxgate-Worker": str(os.getpid())} if settings.workers > 1 else None
    return web.json_response(
        {"status": "ok", "version": __version__, "model": model_label(settings)},
        headers=headers,
    )


def _queue_depth(app: web.Application) -> int | None:
    """Batch jobs waiting in the app's job store (blocking), or None before it opens."""
    store = app.get(JOB_STORE)
    return None if store is None else store.queue_depth()


def create_app(
    settings: Settings,
    *,
    keystore: KeyStore | None = None,
    engines: Engines | None = None,
    job_store: JobStore | None = None,
) -> web.Application:
    """Build the application.

    Args:
        settings: The configuration.
        keystore: API keys; by default the ``api_keys`` table in ``settings.database_path``.
        engines: Preloaded engines (tests inject fakes); by default the lifespan loads them
            from settings, once, off the event loop, before the server accepts connections.
        job_store: The batch job queue; by default the one ``settings.database_url`` names
            (SQLite in the data directory when unset).
    """
    app = web.Application(
        # CORS first (preflights carry no key); the rate limit after auth (it needs the key)
        middlewares=[
            metrics.metrics_middleware,  # outermost: counts every error response
            cors.cors_middleware,
            json_errors_middleware,
            auth_middleware,
            ratelimit.rate_limit_middleware,
        ],
        client_max_size=settings.max_upload_bytes,
    )
    app[SETTINGS] = settings
    app[KEYSTORE] = keystore or KeyStore(settings.database_path)
    if engines is not None:
        app[ENGINES] = engines
    app[CLIENT_SECRETS] = ClientSecretStore()
    metrics.setup(app, queue_depth=partial(_queue_depth, app))
    cors.setup(app)
    ratelimit.setup(app)
    app.cleanup_ctx.append(_inference_lifespan)
    app.router.add_get("/health", health)
    session_host.setup(app)  # before the transports: they run their sessions on it
    websocket.setup(app)
    webrtc.setup(app)
    auth_routes.setup(app)
    batch_api.setup(app, store=job_store)  # after the inference lifespan: workers need engines
    openai_audio.setup(app)
    openapi.setup(app)
    add_demo_routes(app)
    return app


async def _inference_lifespan(app: web.Application) -> AsyncIterator[None]:
    """Own the inference scheduler and the engines for the app's lifetime.

    On the way out (after the batch workers stopped) queued work is dropped and the
    scheduler's threads are joined once the jobs they run end.
    """
    settings = app[SETTINGS]
    pool = InferenceScheduler(settings.inference_workers)
    app[INFERENCE] = pool
    loaded = ENGINES not in app
    try:
        if loaded:
            from realtime.inference.loading import load_engines

            loop = asyncio.get_running_loop()
            load = partial(load_engines, settings, conversation=True)
            app[ENGINES] = await loop.run_in_executor(pool, load)
            log.info("engines loaded: %s", ", ".join(_describe(app[ENGINES])))
        yield
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        llm = app[ENGINES].llm if loaded and ENGINES in app else None
        close = getattr(llm, "close", None)
        if close is not None:
            close()


def _describe(engines: Engines) -> list[str]:
    optional = (engines.tts, engines.embedder, engines.tagger)
    infos = [engines.vad.info, engines.asr.info, *(e.info for e in optional if e is not None)]
    described = [f"{info.name}:{info.model}" for info in infos]
    return described + ([f"llm:{engines.llm.name}"] if engines.llm is not None else [])


def ensure_first_key(keystore: KeyStore, say: Callable[[str], None]) -> None:
    """Create and show a key when none is active, so a first run works with no extra step."""
    if keystore.has_active():
        return
    record, plaintext = keystore.create("default")
    say(
        f"Created API key {record.id} (shown only now; store it): {plaintext}\n"
        "  Manage keys with: voxgate keys create|list|revoke"
    )


async def _run(
    app: web.Application,
    settings: Settings,
    ready: Callable[[str], None],
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # before loading: a stop then is orderly too
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site: web.TCPSite | None = None
    try:
        if not stop.is_set():
            # workers > 1: sibling processes listen on the same port (SO_REUSEPORT)
            reuse_port = True if settings.workers > 1 else None
            site = web.TCPSite(
                runner,
                settings.host,
                settings.port,
                reuse_port=reuse_port,
                ssl_context=ssl_context,
            )
            await site.start()
            # the bound port when asked for 0
            ready(f"{settings.scheme}://{settings.host}:{site.port}")
            await stop.wait()
        log.info("shutting down")
        if site is not None:
            await site.stop()  # no new connections; open ones still send and receive
            await session_host.close_all(app)  # drain responses, close sessions with 1012
    finally:
        await runner.cleanup()


def serve(
    settings: Settings,
    *,
    say: Callable[[str], None] = print,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Run the gateway until SIGINT/SIGTERM (blocking). Uses uvloop where available.

    Args:
        settings: The configuration (``workers > 1``: the port is shared, SO_REUSEPORT;
            ``tls_cert``/``tls_key``: HTTPS and WSS on the port).
        say: Prints the first-run key and the "listening on" line.
        on_ready: Called with the base URL once the server accepts connections.

    Raises:
        ConfigurationError: the TLS certificate or key cannot be used.
    """
    ssl_context = server_context(settings)
    if settings.tls_cert is not None:
        log.info("TLS on: %s (certificate %s)", describe(settings.tls_cert), settings.tls_cert)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    keystore = KeyStore(settings.database_path)
    ensure_first_key(keystore, say)
    app = create_app(settings, keystore=keystore)

    def ready(url: str) -> None:
        say(f"voxgate {__version__} listening on {url}  (health: {url}/health)")
        sys.stdout.flush()
        if on_ready is not None:
            on_ready(url)

    loop_factory = None
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:  # not on Linux: the default loop is fine
        pass
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        try:
            runner.run(_run(app, settings, ready, ssl_context))
        except KeyboardInterrupt:  # Ctrl-C: the task was cancelled and cleaned up; exit 0
            log.info("stopped")
