"""The client-secret REST route: ``POST /v1/realtime/client_secrets``."""

from __future__ import annotations

import time

from aiohttp import web

from protocol import InvalidEvent, parse_session_config
from realtime.auth.middleware import API_KEY, CLIENT_SECRETS
from realtime.server.app_keys import SETTINGS
from realtime.server.errors import json_error


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


def setup(app: web.Application) -> None:
    """Register the client-secret route on ``app``."""
    app.router.add_post("/v1/realtime/client_secrets", create_client_secret)
