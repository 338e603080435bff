"""The browser microphone demo: ``/demo`` (a static page) and ``POST /demo/session``.

The page (``examples/browser/``: HTML, JS and two AudioWorklets, no build step) streams the
microphone to ``/v1/realtime`` and plays voxgate's speech back; in its Converse mode it turns
on ``create_response`` (and sets instructions) with ``session.update``, so each turn is
answered by the responder. A browser must never hold an API key, so the page asks this
module for an ephemeral client secret (``ek_…``, single use, ``client_secret_ttl_s``
lifetime) minted for :data:`DEMO_SESSION`, and connects with the subprotocol
``openai-insecure-api-key.ek_…``.

``POST /demo/session`` is unauthenticated by design: it is the demo's only credential. Its
guards, by the ``demo`` setting (``VOXGATE_DEMO``):

* ``local`` (default): only loopback clients (``request.remote``) that addressed the
  server by a loopback name (``Host``: ``localhost``, ``127.x``, ``[::1]``) — the second
  check defeats DNS rebinding from a web page the user has open. Trade-off: behind a
  reverse proxy on the same host every client looks local; use ``off`` there, or put the
  proxy's own authentication in front of ``/demo``.
* ``public``: any client. Anyone who can reach the server can then open realtime sessions
  (as the built-in ``demo`` key, so ``max_sessions_per_key`` caps them all together).
  Browsers allow the microphone only on secure origins: serve it over HTTPS.
* ``off``: no ``/demo`` routes at all.

In every mode a browser request must come from the page's own origin (``Origin`` equal to
``Host``), and each client address may mint at most :data:`SESSIONS_PER_WINDOW` secrets
per :data:`RATE_WINDOW_S` seconds (429 with ``Retry-After`` above it).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections import deque
from pathlib import Path
from typing import Any

from aiohttp import web
from yarl import URL

from realtime.auth.keys import ApiKey
from realtime.auth.middleware import CLIENT_SECRETS
from realtime.server.app_keys import SETTINGS
from realtime.server.errors import json_error

log = logging.getLogger(__name__)

DEMO_DIR = Path(__file__).resolve().parents[2] / "examples" / "browser"
"""The page's files: ``examples/browser`` of the source tree voxgate runs from."""

DEMO_KEY = ApiKey(id="demo", name="browser demo", created_at=0.0, revoked_at=None)
"""The key demo sessions act as (not stored; real key ids are 8 hex digits)."""

SESSIONS_PER_WINDOW = 10
RATE_WINDOW_S = 60.0

DEMO_SESSION: dict[str, Any] = {
    "type": "realtime",
    "output_modalities": ["audio"],
    "audio": {
        "input": {
            "format": {"type": "audio/pcm", "rate": 24000},
            "transcription": {
                "model": "whisper-1",
                "voxgate": {"non_speech_tags": True, "speaker_segments": True},
            },
            "turn_detection": {
                "type": "server_vad",
                "silence_duration_ms": 800,  # dictation: a breath is not the end of a turn
                "create_response": False,  # Transcribe mode; Converse turns it on
                "interrupt_response": True,  # speaking over playback cancels it (barge-in)
            },
        },
        "output": {"format": {"type": "audio/pcm", "rate": 24000}},
    },
}
"""The session a demo secret opens: transcripts with speakers and tags, speech on request."""

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "microphone=(self)",
    "Cache-Control": "no-cache",
}


class RateLimiter:
    """At most ``limit`` events per ``window_s`` seconds per client (sliding window).

    Time is a parameter (``now``). Memory is bounded: at most ``max_clients`` addresses are
    tracked; when full, the least recently seen ones are forgotten.
    """

    def __init__(self, limit: int, window_s: float, *, max_clients: int = 10_000) -> None:
        self._limit = limit
        self._window = window_s
        self._max_clients = max_clients
        self._hits: dict[str, deque[float]] = {}

    def acquire(self, client: str, *, now: float) -> float:
        """Record one event for ``client``; 0.0 if allowed, else the seconds until it would be."""
        hits = self._hits.pop(client, None) or deque()
        while hits and hits[0] <= now - self._window:
            hits.popleft()
        self._hits[client] = hits  # re-inserted: dict order is least recently seen first
        if len(hits) >= self._limit:
            return hits[0] + self._window - now
        hits.append(now)
        while len(self._hits) > self._max_clients:
            del self._hits[next(iter(self._hits))]
        return 0.0


RATE_LIMITER = web.AppKey("demo_rate_limiter", RateLimiter)


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` (and ``*.localhost``) and loopback IP literals."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _same_origin(request: web.Request) -> bool:
    """True when the request has no ``Origin`` (not a browser) or it names this host."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    try:
        authority = URL(origin).authority
    except ValueError:
        return False
    return authority.lower() == request.host.lower()


async def demo_page(request: web.Request) -> web.StreamResponse:
    """``GET /demo/`` and ``GET /demo/{name}``: the page's files (``.html``/``.js``/``.css``)."""
    name = request.match_info.get("name") or "index.html"
    suffix = Path(name).suffix
    path = DEMO_DIR / name
    plain = name == Path(name).name and "\\" not in name and not name.startswith(".")
    if not plain or suffix not in CONTENT_TYPES or not path.is_file():  # nothing outside
        raise web.HTTPNotFound(text="no such demo file")
    return web.FileResponse(
        path, headers={"Content-Type": CONTENT_TYPES[suffix], **SECURITY_HEADERS}
    )


async def demo_redirect(request: web.Request) -> web.StreamResponse:
    """``GET /demo``: redirect to ``/demo/`` so the page's relative URLs resolve under it."""
    raise web.HTTPFound("/demo/")


async def demo_session(request: web.Request) -> web.Response:
    """``POST /demo/session``: mint a client secret for :data:`DEMO_SESSION`.

    Answer: ``{"value": "ek_…", "expires_at": <unix seconds>}``. Errors: 403 (not a
    loopback client in ``local`` mode, or a cross-origin request), 429 (rate limit, with
    ``Retry-After``).
    """
    settings = request.app[SETTINGS]
    if settings.demo == "local" and not (
        is_loopback_host(request.remote) and is_loopback_host(request.url.host)
    ):
        return json_error(
            403,
            "The demo hands out sessions only to this machine (open it at "
            "http://localhost:<port>/demo); set VOXGATE_DEMO=public to open it to others.",
            code="demo_not_local",
            type_="permission_error",
        )
    if not _same_origin(request):
        return json_error(
            403, "Cross-origin request refused.", code="cross_origin", type_="permission_error"
        )
    now = time.time()
    wait_s = request.app[RATE_LIMITER].acquire(request.remote or "?", now=now)
    if wait_s > 0:
        return json_error(
            429,
            "Too many demo sessions; retry later.",
            code="rate_limit_exceeded",
            headers={"Retry-After": str(math.ceil(wait_s))},
        )
    value, secret = request.app[CLIENT_SECRETS].mint(
        DEMO_KEY, ttl_s=settings.client_secret_ttl_s, now=now, session=DEMO_SESSION
    )
    return web.json_response(
        {"value": value, "expires_at": int(secret.expires_at)},
        headers={"Cache-Control": "no-store"},
    )


def add_demo_routes(app: web.Application) -> None:
    """Register the demo's routes on ``app`` unless the ``demo`` setting is ``off``."""
    settings = app[SETTINGS]
    if settings.demo == "off":
        return
    if not (DEMO_DIR / "index.html").is_file():
        log.warning("demo files not found at %s: /demo is disabled", DEMO_DIR)
        return
    app[RATE_LIMITER] = RateLimiter(SESSIONS_PER_WINDOW, RATE_WINDOW_S)
    app.router.add_get("/demo", demo_redirect)
    app.router.add_get("/demo/", demo_page)
    app.router.add_post("/demo/session", demo_session)
    app.router.add_get("/demo/{name}", demo_page)
