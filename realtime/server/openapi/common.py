"""Building blocks shared by the OpenAPI paths: nullable types, error answers, parameters."""

from __future__ import annotations

from typing import Any

ERROR = {"$ref": "#/components/schemas/Error"}
NUM = {"type": ["number", "null"]}
INT = {"type": ["integer", "null"]}
STR = {"type": ["string", "null"]}
BINARY = {"type": "string", "format": "binary"}

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "code": STR,
                "param": STR,
            },
        }
    },
}

SECURITY_SCHEMES = {
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "The key itself, or 'Bearer <key>'.",
    }
}

_ERROR_TEXT = {
    400: "Invalid request",
    401: "Missing or invalid API key",
    403: "Invalid or expired signature",
    404: "Not found (or another key's)",
    413: "Body over the size limit (or audio over max_audio_seconds)",
    429: "Too many requests for this API key (see Retry-After)",
    503: "No speech engine configured",
}


def json_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """A response whose ``application/json`` body follows ``schema``."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def errors(*codes: int) -> dict[str, Any]:
    """Status code → error response for each of ``codes`` (400, 401, 403, 404, 413, 429, 503)."""
    return {str(c): json_body(ERROR, _ERROR_TEXT[c]) for c in codes}


def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    """An optional query parameter; ``name=`` (empty) means its default."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
        "allowEmptyValue": True,
    }
