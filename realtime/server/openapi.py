"""``GET /openapi.json``: an OpenAPI 3.1 description of every REST endpoint.

Written by hand next to the routes it describes; a test checks that every registered HTTP
route (other than the realtime WebSocket) appears here, and nothing else.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from realtime import __version__

_ERROR = {"$ref": "#/components/schemas/Error"}
_NUM = {"type": ["number", "null"]}
_INT = {"type": ["integer", "null"]}
_STR = {"type": ["string", "null"]}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Invalid request",
        401: "Missing or invalid API key",
        403: "Invalid or expired signature",
        404: "Not found (or another key's)",
        413: "Body over the size limit (or audio over max_audio_seconds)",
        429: "Too many requests for this API key (see Retry-After)",
        503: "No speech engine configured",
    }
    return {str(c): _json(_ERROR, text[c]) for c in codes}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
        "allowEmptyValue": True,  # name= (empty) means the default
    }


_SEGMENT = {
    "type": "object",
    "required": ["speaker", "text", "start", "end", "segment_idx"],
    "properties": {
        "speaker": {"type": "string", "description": "Speaker id: '0', '1', …"},
        "text": {"type": "string", "description": "Words, without non-speech tags."},
        "start": {"type": "number"},
        "end": {"type": "number"},
        "segment_idx": {"type": "integer", "description": "Index within the speaker turn."},
        "words": {
            "type": "array",
            "description": "With word_level_timestamps=true.",
            "items": {
                "type": "object",
                "properties": {
                    "word": {"type": "string"},
                    "start": {"type": "number"},
                    "end": {"type": "number"},
                },
            },
        },
    },
}

_STATUS = {"type": "string", "enum": ["submitted", "processing", "completed", "failed"]}

_TRANSCRIPTION = {
    "type": "object",
    "required": ["id", "status", "created_at", "updated_at", "filename", "cached"],
    "properties": {
        "id": {"type": "integer"},
        "status": _STATUS,
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "filename": {"type": "string"},
        "audio_duration": _NUM,
        "audio_format": {**_STR, "description": "Detected codec (mp3, opus, pcm_s16le, …)."},
        "processing_time": _NUM,
        "language": _STR,
        "non_speech": {"type": "boolean"},
        "num_chunks": _INT,
        "num_segments": _INT,
        "num_speakers": _INT,
        "text": {**_STR, "description": "SPEAKER_N: lines, one per speaker turn."},
        "segments": {"type": ["array", "null"], "items": _SEGMENT},
        "audio_url": {"type": "string", "description": "Signed, expiring URL of the audio."},
        "cached": {"type": "boolean"},
        "progress": {
            "type": "number",
            "description": "Extension: fraction done, 0 to 1 (1 once completed).",
        },
        "error_message": {"type": "string", "description": "Failed jobs only."},
    },
}

_SUBMITTED = {
    "type": "object",
    "required": ["id", "status", "created_at", "original_audio_url", "query_urls", "cached"],
    "properties": {
        "id": {"type": "integer"},
        "status": {
            "type": "string",
            "enum": ["submitted", "completed"],
            "description": "completed (with cached: true) when the cache answered.",
        },
        "created_at": {"type": "string", "format": "date-time"},
        "original_audio_url": {"type": "string"},
        "query_urls": {
            "type": "object",
            "properties": {"get": {"type": "string"}, "status": {"type": "string"}},
        },
        "cached": {"type": "boolean"},
    },
}

_LIST = {
    "type": "object",
    "required": ["total", "limit", "offset", "transcriptions"],
    "properties": {
        "total": {"type": "integer"},
        "limit": {"type": "integer"},
        "offset": {"type": "integer"},
        "transcriptions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "status": _STATUS,
                    "created_at": {"type": "string", "format": "date-time"},
                    "filename": {"type": "string"},
                    "audio_duration": _NUM,
                    "audio_format": _STR,
                    "processing_time": _NUM,
                    "num_speakers": _INT,
                    "num_segments": _INT,
                    "original_audio_url": {"type": "string"},
                    "language": _STR,
                },
            },
        },
    },
}

_SPEECH_EVENT_DATA = {
    "oneOf": [
        {
            "type": "object",
            "required": ["type", "audio"],
            "properties": {
                "type": {"const": "speech.audio.delta"},
                "audio": {"type": "string", "description": "Base64 bytes of the file."},
            },
        },
        {
            "type": "object",
            "required": ["type", "usage"],
            "properties": {"type": {"const": "speech.audio.done"}, "usage": {"type": "object"}},
        },
        {
            "type": "object",
            "required": ["type", "error"],
            "properties": {"type": {"const": "error"}, "error": {"type": "object"}},
        },
    ],
}
_SPEECH_EVENT = {
    "description": "One server-sent event of stream_format sse: its data is JSON.",
    "type": "object",
    "required": ["data"],
    "properties": {
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": _SPEECH_EVENT_DATA,
        }
    },
}
_BINARY = {"type": "string", "format": "binary"}


def spec() -> dict[str, Any]:
    """The OpenAPI document."""
    job_id = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "voxgate",
            "version": __version__,
            "description": "Batch transcription (Fluxions-compatible), OpenAI-compatible "
            "audio endpoints. The realtime WebSocket (/v1/realtime) is described by the "
            "OpenAI Realtime event schema, not here.",
        },
        "security": [{"apiKey": []}],
        "components": {
            "securitySchemes": {
                "apiKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "The key itself, or 'Bearer <key>'.",
                }
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {
                                "message": {"type": "string"},
                                "type": {"type": "string"},
                                "code": _STR,
                                "param": _STR,
                            },
                        }
                    },
                },
                "Transcription": _TRANSCRIPTION,
            },
        },
        "paths": {
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics (text exposition format; needs a key).",
                    "responses": {
                        "200": {
                            "description": "Metrics",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        **_errors(401, 429),
                    },
                }
            },
            "/health": {
                "get": {
                    "summary": "Liveness and version (no key needed).",
                    "security": [],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "status": {"type": "string"},
                                    "version": {"type": "string"},
                                    "model": {"type": "string"},
                                },
                            },
                            "OK",
                        )
                    },
                }
            },
            "/submit": {
                "post": {
                    "summary": "Submit audio for transcription; answers at once with a job id.",
                    "parameters": [
                        _query(
                            "non_speech",
                            {"type": "boolean", "default": False},
                            "Include non-speech sounds.",
                        ),
                        _query(
                            "filename",
                            {"type": "string", "default": "audio"},
                            "Name for the uploaded file.",
                        ),
                        _query(
                            "cache",
                            {"type": "boolean", "default": True},
                            "Use cached results for identical files.",
                        ),
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/octet-stream": {"schema": _BINARY},
                            "audio/*": {"schema": _BINARY},
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"file": _BINARY},
                                    "required": ["file"],
                                }
                            },
                        },
                    },
                    "responses": {
                        "200": _json(_SUBMITTED, "Job created (or answered from the cache)"),
                        **_errors(400, 401, 413, 429),
                    },
                }
            },
            "/transcriptions": {
                "get": {
                    "summary": "List this key's transcriptions, newest first.",
                    "parameters": [
                        _query(
                            "limit",
                            {"type": "integer", "default": 50, "minimum": 1},
                            "Results per page (larger values are capped at 100).",
                        ),
                        _query(
                            "offset",
                            {
                                "type": "integer",
                                "default": 0,
                                "minimum": 0,
                                "maximum": 1_000_000_000,
                            },
                            "Pagination offset.",
                        ),
                    ],
                    "responses": {"200": _json(_LIST, "A page"), **_errors(400, 401, 429)},
                }
            },
            "/transcriptions/{job_id}": {
                "get": {
                    "summary": "A transcription's status and results.",
                    "parameters": [
                        job_id,
                        _query(
                            "word_level_timestamps",
                            {"type": "boolean", "default": False},
                            "Include words in segments.",
                        ),
                        _query(
                            "wait",
                            {"type": "number", "minimum": 0, "default": 0},
                            "Extension: hold the request up to this many seconds (capped at 60) "
                            "until the job changes (status or progress) or it ends (instead of "
                            "polling).",
                        ),
                    ],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Transcription"}, "The job"),
                        **_errors(400, 401, 404, 429),
                    },
                }
            },
            "/files/jobs/{job_id}/audio": {
                "get": {
                    "summary": "A job's original audio, by signed URL (no key needed).",
                    "security": [],
                    "parameters": [
                        job_id,
                        {
                            "name": "expires",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "integer"},
                        },
                        {
                            "name": "signature",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "The audio",
                            "content": {"*/*": {"schema": _BINARY}},
                        },
                        **_errors(403, 404),
                    },
                }
            },
            "/v1/audio/transcriptions": {
                "post": {
                    "summary": "OpenAI-compatible synchronous transcription.",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["file"],
                                    "properties": {
                                        "file": _BINARY,
                                        "model": {"type": "string"},
                                        "language": {"type": "string"},
                                        "prompt": {"type": "string"},
                                        "response_format": {
                                            "type": "string",
                                            "enum": ["json", "text", "srt", "vtt", "verbose_json"],
                                        },
                                        "timestamp_granularities[]": {
                                            "type": "array",
                                            "items": {
                                                "type": "string",
                                                "enum": ["word", "segment"],
                                            },
                                        },
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "The transcription (JSON or text by response_format)",
                            "content": {
                                "application/json": {"schema": {"type": "object"}},
                                "text/plain": {"schema": {"type": "string"}},
                                "text/vtt": {"schema": {"type": "string"}},
                            },
                        },
                        **_errors(400, 401, 413, 429),
                    },
                }
            },
            "/v1/audio/speech": {
                "post": {
                    "summary": "OpenAI-compatible speech synthesis.",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["input"],
                                    "properties": {
                                        "model": {
                                            "description": "Accepted and ignored (any value)."
                                        },
                                        "input": {
                                            "type": "string",
                                            "minLength": 1,
                                            "maxLength": 4096,
                                            "pattern": "\\S",
                                        },
                                        "voice": {
                                            "description": "A voice name (OpenAI's names "
                                            "select the default voice), or {id: name}; "
                                            "null: the default voice.",
                                            "anyOf": [
                                                {"type": "string"},
                                                {"type": "null"},
                                                {
                                                    "type": "object",
                                                    "required": ["id"],
                                                    "properties": {"id": {"type": "string"}},
                                                },
                                            ],
                                        },
                                        "response_format": {
                                            "type": ["string", "null"],
                                            "enum": [
                                                "mp3",
                                                "wav",
                                                "pcm",
                                                "flac",
                                                "opus",
                                                "aac",
                                                None,
                                            ],
                                            "default": "mp3",
                                            "description": "null: mp3.",
                                        },
                                        "speed": {
                                            "type": "number",
                                            "default": 1.0,
                                            "minimum": 0.25,
                                            "maximum": 4.0,
                                        },
                                        "stream_format": {
                                            "type": ["string", "null"],
                                            "enum": ["audio", "sse", None],
                                            "default": "audio",
                                            "description": "audio: the file's bytes, "
                                            "streamed as they are made; sse: "
                                            "speech.audio.delta events (base64), then "
                                            "speech.audio.done. null: audio.",
                                        },
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "Audio, streamed (chunked) as it is synthesised",
                            "content": {
                                "audio/*": {"schema": _BINARY},
                                "text/event-stream": {"schema": _SPEECH_EVENT},
                            },
                        },
                        **_errors(400, 401, 413, 429, 503),
                    },
                }
            },
            "/v1/realtime/client_secrets": {
                "post": {
                    "summary": "Mint a single-use client secret for a browser's realtime session.",
                    "requestBody": {
                        "required": False,
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "value": {"type": "string"},
                                    "expires_at": {"type": "integer"},
                                    "session": {"type": "object"},
                                },
                            },
                            "The secret",
                        ),
                        **_errors(400, 401, 413, 429),
                    },
                }
            },
            "/demo/session": {
                "post": {
                    "summary": (
                        "The browser demo's client secret (no key; only when VOXGATE_DEMO is "
                        "local or public: same-origin, rate-limited, loopback-only when local)."
                    ),
                    "security": [],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "value": {"type": "string"},
                                    "expires_at": {"type": "integer"},
                                },
                            },
                            "The secret",
                        ),
                        "403": _json(_ERROR, "Not allowed from this client or origin"),
                        **_errors(429),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document.",
                    "responses": {
                        "200": _json({"type": "object"}, "OpenAPI 3.1"),
                        **_errors(401, 429),
                    },
                }
            },
        },
    }


async def openapi_json(request: web.Request) -> web.Response:
    """``GET /openapi.json``."""
    return web.json_response(spec())


def setup(app: web.Application) -> None:
    """Register ``GET /openapi.json``."""
    app.router.add_get("/openapi.json", openapi_json)
