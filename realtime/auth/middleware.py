"""Request authentication: where a client may put its API key, and the aiohttp middleware.

Accepted, in order: ``Authorization: Bearer <key>``, raw ``Authorization: <key>`` (as the
Fluxions reference sends it), an ``api-key`` or ``X-API-Key`` header, an ``api-key`` or
``api_key`` query parameter, and — for browsers, which cannot set headers on a WebSocket —
the subprotocol ``openai-insecure-api-key.<key>``. On the realtime endpoint an ephemeral
client secret (``ek_…``, see :mod:`realtime.auth.client_secrets`) works in place of a key, once.
Keys are never logged.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from realtime.auth.client_secrets import PREFIX as CLIENT_SECRET_PREFIX
from realtime.auth.client_secrets import ClientSecret, ClientSecretStore
from realtime.auth.keys import ApiKey, KeyStore
from realtime.server.errors import json_error

PUBLIC_PATHS = frozenset({"/health", "/demo"})
"""Routes that need no key."""
PUBLIC_PREFIXES = ("/files/", "/demo/")
"""Signed-URL routes: the URL's signature is the credential (checked by the route); the
browser demo's page and its guarded session route (:mod:`realtime.server.demo`)."""
REALTIME_PATHS = frozenset({"/v1/realtime", "/realtime", "/v1/realtime/calls"})
"""Routes where an ephemeral client secret may stand in for a key (the WebSocket, and the
WebRTC call offers: ``POST /v1/realtime/calls`` and the beta ``POST /v1/realtime``)."""
KEY_SUBPROTOCOL = "openai-insecure-api-key."

KEYSTORE = web.AppKey("keystore", KeyStore)
CLIENT_SECRETS = web.AppKey("client_secrets", ClientSecretStore)
API_KEY = web.RequestKey("api_key", ApiKey)
"""request[API_KEY]: the authenticated key (for a client secret: the key that minted it)."""
CLIENT_SECRET = web.RequestKey("client_secret", ClientSecret)
"""request[CLIENT_SECRET]: the redeemed client secret, when one was used."""


def offered_subprotocols(request: web.Request) -> list[str]:
    """The WebSocket subprotocols the client offered, in order."""
    header = request.headers.get("Sec-WebSocket-Protocol", "")
    return [p.strip() for p in header.split(",") if p.strip()]


def presented_key(request: web.Request) -> str | None:
    """The key the client sent, from whichever accepted place holds it; None if absent."""
    header = request.headers.get("Authorization", "").strip()
    if header:
        scheme, _, rest = header.partition(" ")
        return rest.strip() if scheme.lower() == "bearer" and rest.strip() else header
    for name in ("api-key", "X-API-Key"):
        if value := request.headers.get(name, "").strip():
            return value
    for name in ("api-key", "api_key"):
        if value := request.query.get(name, "").strip():
            return value
    for protocol in offered_subprotocols(request):
        if protocol.startswith(KEY_SUBPROTOCOL) and len(protocol) > len(KEY_SUBPROTOCOL):
            return protocol[len(KEY_SUBPROTOCOL) :]
    return None


@web.middleware
async def auth_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Reject requests without a valid key (401, JSON body), except on public paths."""
    if (
        request.path in PUBLIC_PATHS
        or request.path.startswith(PUBLIC_PREFIXES)
        or request.method == "OPTIONS"
    ):
        return await handler(request)
    key = presented_key(request)
    if key is None:
        return json_error(
            401,
            "Missing API key: send it in the Authorization header.",
            code="missing_api_key",
            type_="authentication_error",
        )
    if key.startswith(CLIENT_SECRET_PREFIX):
        secret = None
        if request.path in REALTIME_PATHS:
            secret = request.app[CLIENT_SECRETS].redeem(key, now=time.time())
        if secret is None:
            return json_error(
                401,
                "Invalid or expired client secret.",
                code="invalid_api_key",
                type_="authentication_error",
            )
        request[API_KEY] = secret.api_key
        request[CLIENT_SECRET] = secret
        return await handler(request)
    record: ApiKey | None = await asyncio.to_thread(request.app[KEYSTORE].verify, key)
    if record is None:
        return json_error(
            401, "Invalid API key.", code="invalid_api_key", type_="authentication_error"
        )
    request[API_KEY] = record
    return await handler(request)
