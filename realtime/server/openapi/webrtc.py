"""The WebRTC signalling paths: call offers (GA and beta) and hang-up."""

from __future__ import annotations

from typing import Any

from realtime.server.openapi.common import errors

_SDP = {"application/sdp": {"schema": {"type": "string"}}}
_ANSWER = {
    "description": (
        "The SDP answer; Location: /v1/realtime/calls/{call_id}. The realtime events then "
        "flow on the client's oai-events data channel, the assistant's audio on the answer's "
        "audio track."
    ),
    "headers": {"Location": {"schema": {"type": "string"}}},
    "content": _SDP,
}


def calls() -> dict[str, Any]:
    """``POST /v1/realtime/calls``."""
    form = {
        "type": "object",
        "required": ["sdp"],
        "properties": {
            "sdp": {"type": "string", "description": "The SDP offer."},
            "session": {"type": "object", "description": "The session to start with (GA)."},
        },
    }
    return {
        "post": {
            "summary": "Start a realtime session over WebRTC (an API key or a client secret).",
            "requestBody": {
                "required": True,
                "content": {**_SDP, "multipart/form-data": {"schema": form}},
            },
            "responses": {"201": _ANSWER, **errors(400, 401, 413, 429)},
        }
    }


def beta_call() -> dict[str, Any]:
    """``POST /v1/realtime`` (``GET`` is the realtime WebSocket)."""
    return {
        "post": {
            "summary": "Start a beta-dialect realtime session over WebRTC (the SDP offer).",
            "requestBody": {"required": True, "content": _SDP},
            "responses": {"201": _ANSWER, **errors(400, 401, 413, 429)},
        }
    }


def hangup() -> dict[str, Any]:
    """``POST /v1/realtime/calls/{call_id}/hangup``."""
    call_id = {"name": "call_id", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "post": {
            "summary": "End a WebRTC call placed with this key (answers once it ended).",
            "parameters": [call_id],
            "responses": {"200": {"description": "The call ended"}, **errors(401, 404, 429)},
        }
    }
