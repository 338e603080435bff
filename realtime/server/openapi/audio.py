"""The OpenAI-compatible audio paths: ``/v1/audio/{transcriptions,translations,speech}``."""

from __future__ import annotations

from typing import Any

from realtime.server.openapi.common import BINARY, errors

_TEMPERATURE = {
    "type": "number",
    "minimum": 0,
    "maximum": 1,
    "description": "Accepted and ignored (decoding is deterministic).",
}
_CHUNKING = {
    "type": "string",
    "enum": ["auto", "server_vad"],
    "description": "Accepted and ignored: the audio is always cut at VAD silences.",
}

_TRANSCRIPTION_REQUEST = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": BINARY,
        "model": {
            "type": "string",
            "description": "Accepted and ignored, except that whisper-1 ignores stream.",
        },
        "language": {"type": "string"},
        "prompt": {"type": "string"},
        "response_format": {
            "type": "string",
            "enum": ["json", "text", "srt", "vtt", "verbose_json", "diarized_json"],
        },
        "timestamp_granularities[]": {
            "type": "array",
            "items": {"type": "string", "enum": ["word", "segment"]},
        },
        "stream": {
            "type": "boolean",
            "description": "Server-sent events (json, text and diarized_json only).",
        },
        "include[]": {
            "type": "array",
            "items": {"type": "string", "enum": ["logprobs"]},
            "description": "logprobs: the tokens' log-probabilities (response_format json).",
        },
        "temperature": _TEMPERATURE,
        "chunking_strategy": _CHUNKING,
        "chunking_strategy[type]": _CHUNKING,
        "known_speaker_names[]": {
            "type": "array",
            "maxItems": 4,
            "items": {"type": "string"},
            "description": "diarized_json: a name per known_speaker_references[] entry.",
        },
        "known_speaker_references[]": {
            "type": "array",
            "maxItems": 4,
            "items": {"type": "string"},
            "description": "diarized_json: data URLs of 2-10 s clips of each known speaker.",
        },
    },
}

_TRANSLATION_REQUEST = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": BINARY,
        "model": {"type": "string", "description": "Accepted and ignored."},
        "prompt": {"type": "string"},
        "response_format": {
            "type": "string",
            "enum": ["json", "text", "srt", "vtt", "verbose_json"],
        },
        "temperature": _TEMPERATURE,
    },
}

_TRANSCRIPTION_EVENT = {
    "description": "One server-sent event of stream=true: its data is JSON, "
    "transcript.text.delta, transcript.text.segment (diarized_json), transcript.text.done "
    "or error.",
    "type": "object",
    "required": ["data"],
    "properties": {"data": {"type": "string", "contentMediaType": "application/json"}},
}

_TEXT_RESPONSES = {
    "application/json": {"schema": {"type": "object"}},
    "text/plain": {"schema": {"type": "string"}},
    "text/vtt": {"schema": {"type": "string"}},
}

_VOICE = {
    "description": "A voice name (OpenAI's names select the default voice), or {id: name}; "
    "null: the default voice.",
    "anyOf": [
        {"type": "string"},
        {"type": "null"},
        {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}},
    ],
}

_SPEECH_REQUEST = {
    "type": "object",
    "required": ["input"],
    "properties": {
        "model": {"description": "Accepted and ignored (any value)."},
        "input": {"type": "string", "minLength": 1, "maxLength": 4096, "pattern": "\\S"},
        "voice": _VOICE,
        "response_format": {
            "type": ["string", "null"],
            "enum": ["mp3", "wav", "pcm", "flac", "opus", "aac", None],
            "default": "mp3",
            "description": "null: mp3.",
        },
        "speed": {"type": "number", "default": 1.0, "minimum": 0.25, "maximum": 4.0},
        "stream_format": {
            "type": ["string", "null"],
            "enum": ["audio", "sse", None],
            "default": "audio",
            "description": "audio: the file's bytes, streamed as they are made (a wav's "
            "sizes then read 0xFFFFFFFF, unknown); sse: speech.audio.delta events (base64), "
            "then speech.audio.done. null: audio, except that a wav is sent whole, with its "
            "true sizes.",
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


def transcriptions() -> dict[str, Any]:
    """``POST /v1/audio/transcriptions``."""
    return {
        "post": {
            "summary": "OpenAI-compatible synchronous transcription.",
            "requestBody": {
                "required": True,
                "content": {"multipart/form-data": {"schema": _TRANSCRIPTION_REQUEST}},
            },
            "responses": {
                "200": {
                    "description": "The transcription (JSON or text by response_format), or "
                    "server-sent events with stream=true",
                    "content": {
                        **_TEXT_RESPONSES,
                        "text/event-stream": {"schema": _TRANSCRIPTION_EVENT},
                    },
                },
                **errors(400, 401, 413, 429),
            },
        }
    }


def translations() -> dict[str, Any]:
    """``POST /v1/audio/translations``."""
    return {
        "post": {
            "summary": "OpenAI-compatible translation into English (multilingual models).",
            "requestBody": {
                "required": True,
                "content": {"multipart/form-data": {"schema": _TRANSLATION_REQUEST}},
            },
            "responses": {
                "200": {
                    "description": "The English text (JSON or text by response_format)",
                    "content": _TEXT_RESPONSES,
                },
                **errors(400, 401, 413, 429),
            },
        }
    }


def speech() -> dict[str, Any]:
    """``POST /v1/audio/speech``."""
    return {
        "post": {
            "summary": "OpenAI-compatible speech synthesis.",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _SPEECH_REQUEST}},
            },
            "responses": {
                "200": {
                    "description": "Audio, streamed (chunked) as it is synthesised",
                    "content": {
                        "audio/*": {"schema": BINARY},
                        "text/event-stream": {"schema": _SPEECH_EVENT},
                    },
                },
                **errors(400, 401, 413, 429, 503),
            },
        }
    }
