"""Gateway errors and their HTTP rendering.

Tree (engine errors live in :mod:`engines.errors`)::

    GatewayError
    └── ConfigurationError      settings or models unusable at startup (one line, exit 2)

HTTP errors are JSON in the OpenAI shape:
``{"error": {"message": ..., "type": ..., "code": ..., "param": null}}``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web


class GatewayError(Exception):
    """Base of voxgate's own errors."""


class ConfigurationError(GatewayError):
    """Settings or models are unusable; the message says what to change."""


def json_error(
    status: int,
    message: str,
    *,
    code: str | None = None,
    type_: str = "invalid_request_error",
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """A JSON error response in the OpenAI error shape."""
    body = {"error": {"message": message, "type": type_, "code": code, "param": param}}
    return web.json_response(body, status=status, headers=headers)


@web.middleware
async def json_errors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Render aiohttp's own 4xx errors (unknown route, wrong method, body too large) as JSON."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.status >= 500:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status)
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return json_error(exc.status, exc.reason, code=code, headers=headers)
