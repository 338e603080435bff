"""Cross-origin resource sharing (CORS): off unless ``cors_origins`` names origins.

With ``cors_origins`` empty (the default) voxgate sends no CORS headers at all, so a web
page on another origin cannot read its responses (browsers enforce that; other clients are
unaffected and authenticate with a key as always).

With origins listed:

* a preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) from an
  allowed origin is answered here, before authentication: ``204`` with
  ``Access-Control-Allow-Origin`` (the origin echoed, or ``*`` when ``*`` is configured),
  ``Access-Control-Allow-Methods``, ``Access-Control-Allow-Headers`` (``Authorization``,
  ``Content-Type``, ``OpenAI-Beta`` and the other key headers) and
  ``Access-Control-Max-Age``;
* every other response to an allowed origin (errors included) carries
  ``Access-Control-Allow-Origin``, ``Access-Control-Expose-Headers`` and ``Vary: Origin``;
* requests from other origins get no CORS headers (a preflight from one falls through to
  the router: 405).

No credentials mode: voxgate uses no cookies, so ``Access-Control-Allow-Credentials`` is
never sent. WebSocket upgrades are not subject to CORS in browsers and get no headers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web

from realtime.server.app_keys import SETTINGS

ALLOW_METHODS = "GET, POST, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type, OpenAI-Beta, api-key, X-API-Key"
EXPOSE_HEADERS = "Retry-After, Content-Disposition, Location"  # Location: a WebRTC call's URL
MAX_AGE_S = 600


def allowed_origin(request: web.Request) -> str | None:
    """The ``Access-Control-Allow-Origin`` value for this request, or None (no CORS).

    None when CORS is off, the request has no ``Origin``, or its origin is not listed.
    """
    origins = request.app[SETTINGS].cors_origins
    origin = request.headers.get(hdrs.ORIGIN)
    if not origins or origin is None:
        return None
    if "*" in origins:
        return "*"
    return origin if origin.rstrip("/").lower() in origins else None


def is_preflight(request: web.Request) -> bool:
    """True for a CORS preflight: ``OPTIONS`` with ``Access-Control-Request-Method``."""
    return (
        request.method == hdrs.METH_OPTIONS
        and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers
    )


@web.middleware
async def cors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Answer preflights from allowed origins (204); other requests go on unchanged.

    Must come before authentication in the middleware list (preflights carry no key).
    The headers on ordinary responses are added by :func:`add_cors_headers`.
    """
    origin = allowed_origin(request)
    if origin is not None and is_preflight(request):
        headers = {
            hdrs.ACCESS_CONTROL_ALLOW_ORIGIN: origin,
            hdrs.ACCESS_CONTROL_ALLOW_METHODS: ALLOW_METHODS,
            hdrs.ACCESS_CONTROL_ALLOW_HEADERS: ALLOW_HEADERS,
            hdrs.ACCESS_CONTROL_MAX_AGE: str(MAX_AGE_S),
        }
        if origin != "*":
            headers[hdrs.VARY] = "Origin"
        return web.Response(status=204, headers=headers)
    return await handler(request)


async def add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: CORS headers on every response to an allowed origin.

    Runs for every response, however produced (errors and streamed files included), just
    before its headers are sent. With specific origins configured, every response also
    says ``Vary: Origin`` so shared caches keep the answers apart.
    """
    origins = request.app[SETTINGS].cors_origins
    if not origins or isinstance(response, web.WebSocketResponse):
        return
    if hdrs.ACCESS_CONTROL_ALLOW_ORIGIN in response.headers:  # a preflight answer
        return
    if "*" not in origins:
        vary = response.headers.get(hdrs.VARY)
        if vary is None:
            response.headers[hdrs.VARY] = "Origin"
        elif "origin" not in vary.lower():
            response.headers[hdrs.VARY] = f"{vary}, Origin"
    origin = allowed_origin(request)
    if origin is not None:
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
        response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = EXPOSE_HEADERS


def setup(app: web.Application) -> None:
    """Register :func:`add_cors_headers` (the middleware goes in the middleware list)."""
    app.on_response_prepare.append(add_cors_headers)
