"""The server's own paths: metrics, health, realtime client secrets, the demo, this document."""

from __future__ import annotations

from typing import Any

from realtime.server.openapi.common import ERROR, errors, json_body


def metrics() -> dict[str, Any]:
    """``GET /metrics``."""
    return {
        "get": {
            "summary": "Prometheus metrics (text exposition format; needs a key).",
            "responses": {
                "200": {
                    "description": "Metrics",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                **errors(401, 429),
            },
        }
    }


def health() -> dict[str, Any]:
    """``GET /health``."""
    status = {
        "type": "object",
        "properties": {
            "status": {"type": "string"},
            "version": {"type": "string"},
            "model": {"type": "string"},
        },
    }
    return {
        "get": {
            "summary": "Liveness and version (no key needed).",
            "security": [],
            "responses": {"200": json_body(status, "OK")},
        }
    }


def client_secrets() -> dict[str, Any]:
    """``POST /v1/realtime/client_secrets``."""
    secret = {
        "type": "object",
        "properties": {
            "value": {"type": "string"},
            "expires_at": {"type": "integer"},
            "session": {"type": "object"},
        },
    }
    return {
        "post": {
            "summary": "Mint a single-use client secret for a browser's realtime session.",
            "requestBody": {
                "required": False,
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            "responses": {
                "200": json_body(secret, "The secret"),
                **errors(400, 401, 413, 429),
            },
        }
    }


def demo_session() -> dict[str, Any]:
    """``POST /demo/session``."""
    secret = {
        "type": "object",
        "properties": {"value": {"type": "string"}, "expires_at": {"type": "integer"}},
    }
    return {
        "post": {
            "summary": (
                "The browser demo's client secret (no key; only when VOXGATE_DEMO is "
                "local or public: same-origin, rate-limited, loopback-only when local)."
            ),
            "security": [],
            "responses": {
                "200": json_body(secret, "The secret"),
                "403": json_body(ERROR, "Not allowed from this client or origin"),
                **errors(429),
            },
        }
    }


def document() -> dict[str, Any]:
    """``GET /openapi.json``."""
    return {
        "get": {
            "summary": "This document.",
            "responses": {
                "200": json_body({"type": "object"}, "OpenAPI 3.1"),
                **errors(401, 429),
            },
        }
    }
