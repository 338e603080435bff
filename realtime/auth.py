"""Request authentication: where a client may put its API key, and the aiohttp middleware.

Accepted, in order: ``Authorization: Bearer <key>``, raw ``Authorization: <key>`` (as the
Fluxions reference sends it), an ``api-key`` header, an ``api-key`` query parameter.
Keys are never logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from realtime.errors import json_error
from realtime.keys import ApiKey, KeyStore

PUBLIC_PATHS = frozenset({"/health"})
"""Routes that need no key."""

KEYSTORE = web.AppKey("keystore", KeyStore)
API_KEY = web.RequestKey("api_key", ApiKey)
"""request[API_KEY]: the authenticated key."""


def presented_key(request: web.Request) -> str | None:
    """The key the client sent, from whichever accepted place holds it; None if absent."""
    header = request.headers.get("Authorization", "").strip()
    if header:
        scheme, _, rest = header.partition(" ")
        return rest.strip() if scheme.lower() == "bearer" and rest.strip() else header
    return request.headers.get("api-key") or request.query.get("api-key") or None


@web.middleware
async def auth_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Reject requests without a valid key (401, JSON body), except on public paths."""
    if request.path in PUBLIC_PATHS or request.method == "OPTIONS":
        return await handler(request)
    key = presented_key(request)
    if key is None:
        return json_error(
            401,
            "Missing API key: send it in the Authorization header.",
            code="missing_api_key",
            type_="authentication_error",
        )
    record: ApiKey | None = await asyncio.to_thread(request.app[KEYSTORE].verify, key)
    if record is None:
        return json_error(
            401, "Invalid API key.", code="invalid_api_key", type_="authentication_error"
        )
    request[API_KEY] = record
    return await handler(request)
