"""Gateway errors and their HTTP rendering.

Tree (engine errors live in :mod:`engines.errors`)::

    GatewayError
    └── ConfigurationError      settings or models unusable at startup (one line, exit 2)

HTTP errors are JSON in the OpenAI shape:
``{"error": {"message": ..., "type": ..., "code": ..., "param": null}}``.
"""

from __future__ import annotations

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
