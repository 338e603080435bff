"""The batch transcription paths (Fluxions-compatible): submit, list, fetch, the audio."""

from __future__ import annotations

from typing import Any

from realtime.server.openapi.common import BINARY, INT, NUM, STR, errors, json_body, query

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

TRANSCRIPTION = {
    "type": "object",
    "required": ["id", "status", "created_at", "updated_at", "filename", "cached"],
    "properties": {
        "id": {"type": "integer"},
        "status": _STATUS,
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "filename": {"type": "string"},
        "audio_duration": NUM,
        "audio_format": {**STR, "description": "Detected codec (mp3, opus, pcm_s16le, …)."},
        "processing_time": NUM,
        "language": STR,
        "non_speech": {"type": "boolean"},
        "num_chunks": INT,
        "num_segments": INT,
        "num_speakers": INT,
        "text": {**STR, "description": "SPEAKER_N: lines, one per speaker turn."},
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

_LIST_ENTRY = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "status": _STATUS,
        "created_at": {"type": "string", "format": "date-time"},
        "filename": {"type": "string"},
        "audio_duration": NUM,
        "audio_format": STR,
        "processing_time": NUM,
        "num_speakers": INT,
        "num_segments": INT,
        "original_audio_url": {"type": "string"},
        "language": STR,
    },
}

_LIST = {
    "type": "object",
    "required": ["total", "limit", "offset", "transcriptions"],
    "properties": {
        "total": {"type": "integer"},
        "limit": {"type": "integer"},
        "offset": {"type": "integer"},
        "transcriptions": {"type": "array", "items": _LIST_ENTRY},
    },
}

_JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "integer"}}


def submit() -> dict[str, Any]:
    """``POST /submit``."""
    return {
        "post": {
            "summary": "Submit audio for transcription; answers at once with a job id.",
            "parameters": [
                query(
                    "non_speech",
                    {"type": "boolean", "default": False},
                    "Include non-speech sounds.",
                ),
                query(
                    "filename",
                    {"type": "string", "default": "audio"},
                    "Name for the uploaded file.",
                ),
                query(
                    "cache",
                    {"type": "boolean", "default": True},
                    "Use cached results for identical files.",
                ),
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/octet-stream": {"schema": BINARY},
                    "audio/*": {"schema": BINARY},
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {"file": BINARY},
                            "required": ["file"],
                        }
                    },
                },
            },
            "responses": {
                "200": json_body(_SUBMITTED, "Job created (or answered from the cache)"),
                **errors(400, 401, 413, 429),
            },
        }
    }


def transcriptions() -> dict[str, Any]:
    """``GET /transcriptions``."""
    return {
        "get": {
            "summary": "List this key's transcriptions, newest first.",
            "parameters": [
                query(
                    "limit",
                    {"type": "integer", "default": 50, "minimum": 1},
                    "Results per page (larger values are capped at 100).",
                ),
                query(
                    "offset",
                    {"type": "integer", "default": 0, "minimum": 0, "maximum": 1_000_000_000},
                    "Pagination offset.",
                ),
            ],
            "responses": {"200": json_body(_LIST, "A page"), **errors(400, 401, 429)},
        }
    }


def transcription() -> dict[str, Any]:
    """``GET /transcriptions/{job_id}``."""
    return {
        "get": {
            "summary": "A transcription's status and results.",
            "parameters": [
                _JOB_ID,
                query(
                    "word_level_timestamps",
                    {"type": "boolean", "default": False},
                    "Include words in segments.",
                ),
                query(
                    "wait",
                    {"type": "number", "minimum": 0, "default": 0},
                    "Extension: hold the request up to this many seconds (capped at 60) "
                    "until the job changes (status or progress) or it ends (instead of "
                    "polling).",
                ),
            ],
            "responses": {
                "200": json_body({"$ref": "#/components/schemas/Transcription"}, "The job"),
                **errors(400, 401, 404, 429),
            },
        }
    }


def job_audio() -> dict[str, Any]:
    """``GET /files/jobs/{job_id}/audio``."""
    return {
        "get": {
            "summary": "A job's original audio, by signed URL (no key needed).",
            "security": [],
            "parameters": [
                _JOB_ID,
                {"name": "expires", "in": "query", "required": True, "schema": {"type": "integer"}},
                {
                    "name": "signature",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "string"},
                },
            ],
            "responses": {
                "200": {"description": "The audio", "content": {"*/*": {"schema": BINARY}}},
                **errors(403, 404),
            },
        }
    }
