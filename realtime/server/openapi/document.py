"""The OpenAPI 3.1 document, assembled from the paths of each area, and its route."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from realtime import __version__
from realtime.server.openapi import audio, batch, service, webrtc
from realtime.server.openapi.common import ERROR_SCHEMA, SECURITY_SCHEMES

_DESCRIPTION = (
    "Batch transcription (Fluxions-compatible), OpenAI-compatible audio endpoints, WebRTC "
    "signalling. The realtime WebSocket (/v1/realtime) and the events of WebRTC calls are "
    "described by the OpenAI Realtime event schema, not here."
)


def spec() -> dict[str, Any]:
    """The OpenAPI document: one entry under ``paths`` per registered REST route."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "voxgate", "version": __version__, "description": _DESCRIPTION},
        "security": [{"apiKey": []}],
        "components": {
            "securitySchemes": SECURITY_SCHEMES,
            "schemas": {"Error": ERROR_SCHEMA, "Transcription": batch.TRANSCRIPTION},
        },
        "paths": {
            "/metrics": service.metrics(),
            "/health": service.health(),
            "/submit": batch.submit(),
            "/transcriptions": batch.transcriptions(),
            "/transcriptions/{job_id}": batch.transcription(),
            "/files/jobs/{job_id}/audio": batch.job_audio(),
            "/v1/audio/transcriptions": audio.transcriptions(),
            "/v1/audio/translations": audio.translations(),
            "/v1/audio/speech": audio.speech(),
            "/v1/realtime/client_secrets": service.client_secrets(),
            "/v1/realtime/calls": webrtc.calls(),
            "/v1/realtime/calls/{call_id}/hangup": webrtc.hangup(),
            "/v1/realtime": webrtc.beta_call(),
            "/demo/session": service.demo_session(),
            "/openapi.json": service.document(),
        },
    }


async def openapi_json(request: web.Request) -> web.Response:
    """``GET /openapi.json``."""
    return web.json_response(spec())


def setup(app: web.Application) -> None:
    """Register ``GET /openapi.json``."""
    app.router.add_get("/openapi.json", openapi_json)
