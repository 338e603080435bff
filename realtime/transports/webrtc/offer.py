"""A call's signalling request: the SDP offer, and the session the call starts with.

:func:`read_offer` reads ``POST /v1/realtime/calls`` (``Content-Type: application/sdp``, or
``multipart/form-data`` with an ``sdp`` part and an optional ``session`` JSON part) and the
beta ``POST /v1/realtime`` (``application/sdp`` only), and checks the offer: SDP text of a
bounded size with at least one audio section. :func:`initial_session` combines the client
secret's session (if the caller redeemed one), the ``session`` part and the query into the
configuration the call's session starts with; a realtime session's output is forced to
``audio/pcm`` (the call's track is fed from it). Every refusal is an :class:`OfferRefused`
carrying the OpenAI-style error to answer with (4xx).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from aiortc import sdp as aiortc_sdp

from protocol import (
    AudioPCM,
    InvalidEvent,
    RealtimeSession,
    TranscriptionSession,
    merge_session,
    parse_session_config,
)
from protocol.codec import Dialect
from realtime.server.errors import json_error

MAX_SDP_BYTES = 128 * 1024
"""Largest SDP offer accepted (a browser's is a few kilobytes)."""
MAX_SESSION_BYTES = 1024 * 1024
"""Largest ``session`` part accepted (instructions and tools included)."""

SessionConfig = RealtimeSession | TranscriptionSession


class OfferRefused(Exception):
    """The signalling request cannot be answered; :meth:`response` is the 4xx to send."""

    def __init__(self, status: int, message: str, *, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param

    def response(self) -> web.Response:
        """The OpenAI-style JSON error answer."""
        return json_error(self.status, self.message, code=self.code, param=self.param)


@dataclass(frozen=True, slots=True)
class Offer:
    """What the client sent: the SDP offer and its ``session`` object (None: absent)."""

    sdp: str
    session: object | None = None


async def read_offer(request: web.Request, *, multipart: bool) -> Offer:
    """Read and check a signalling request's body (``multipart``: the form is accepted).

    Raises:
        OfferRefused: Wrong content type, a part over its size limit, empty or unparsable
            SDP, an offer without audio, or a ``session`` part that is not JSON.
    """
    content_type = request.content_type
    if content_type == "application/sdp":
        offer = Offer(await _read_capped(request.content, MAX_SDP_BYTES, "sdp"))
    elif content_type == "multipart/form-data" and multipart:
        offer = await _read_form(request)
    else:
        accepted = "application/sdp or multipart/form-data" if multipart else "application/sdp"
        raise OfferRefused(
            400,
            f"Unsupported Content-Type {content_type!r}: send the SDP offer as {accepted}.",
            code="unsupported_content_type",
        )
    check_sdp(offer.sdp)
    return offer


def check_sdp(text: str) -> None:
    """Refuse an empty, unparsable or audio-less offer (before aiortc sees it).

    Raises:
        OfferRefused: 400 with ``param`` ``sdp``.
    """
    if not text.strip():
        raise OfferRefused(400, "The SDP offer is empty.", code="invalid_offer", param="sdp")
    try:
        description = aiortc_sdp.SessionDescription.parse(text)
    except Exception:  # aiortc's parser fails with assorted errors on malformed lines
        description = None
    if description is None or not text.lstrip().startswith("v="):
        raise OfferRefused(
            400, "The SDP offer is not valid SDP.", code="invalid_offer", param="sdp"
        )
    if not any(media.kind == "audio" for media in description.media):
        raise OfferRefused(
            400,
            "The SDP offer has no audio section: add a microphone track or an audio "
            "transceiver before creating the offer.",
            code="invalid_offer",
            param="sdp",
        )


def initial_session(
    secret_session: dict[str, Any] | None,
    offered: object | None,
    dialect: Dialect,
    *,
    model: str | None = None,
) -> SessionConfig:
    """The session a call starts with.

    Args:
        secret_session: The redeemed client secret's session (None or empty: no secret).
        offered: The request's ``session`` object (None: absent), applied over the
            secret's as a ``session.update`` would be.
        dialect: How to read the objects (beta sessions are flat).
        model: The ``model`` query parameter (used when no session names one).

    Raises:
        OfferRefused: An invalid session (400, ``param`` under ``session``).
    """
    try:
        base = parse_session_config(secret_session, dialect) if secret_session else None
        update = parse_session_config(offered, dialect) if offered is not None else None
        if base is not None and update is not None:
            config: SessionConfig = merge_session(base, update)
        else:
            config = update or base or RealtimeSession(model=model)
    except InvalidEvent as exc:
        param = f"session.{exc.param}" if exc.param else "session"
        raise OfferRefused(400, exc.message, code=exc.code or "invalid_value", param=param) from exc
    if isinstance(config, RealtimeSession):
        output = config.audio.output.model_copy(update={"format": AudioPCM()})
        config = config.model_copy(
            update={"audio": config.audio.model_copy(update={"output": output})}
        )
    return config


async def _read_form(request: web.Request) -> Offer:
    """The ``sdp`` and ``session`` parts of a multipart form (other parts are ignored)."""
    sdp_text: str | None = None
    session: object | None = None
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "sdp":
                sdp_text = await _read_capped(part, MAX_SDP_BYTES, "sdp")
            elif part.name == "session":
                session = _json_session(await _read_capped(part, MAX_SESSION_BYTES, "session"))
    except (HttpProcessingError, ValueError, AssertionError) as exc:  # a malformed form
        raise OfferRefused(400, "The multipart form is malformed.", code="invalid_form") from exc
    if sdp_text is None:
        raise OfferRefused(
            400, "The form has no 'sdp' part with the SDP offer.", code="invalid_offer", param="sdp"
        )
    return Offer(sdp_text, session)


def _json_session(text: str) -> object:
    try:
        session = json.loads(text)
    except ValueError:
        session = None
    if not isinstance(session, dict):
        raise OfferRefused(
            400, "The 'session' part must be a JSON object.", code="invalid_json", param="session"
        )
    return session


async def _read_capped(source: Any, limit: int, name: str) -> str:
    """Read a body or part (``read_chunk``/``readany``) of at most ``limit`` bytes as text."""
    data = bytearray()
    read = source.read_chunk if isinstance(source, BodyPartReader) else source.readany
    while chunk := await read():
        data += chunk
        if len(data) > limit:
            raise OfferRefused(
                413, f"The '{name}' is larger than {limit} bytes.", code="too_large", param=name
            )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OfferRefused(
            400, f"The '{name}' is not UTF-8 text.", code="invalid_value", param=name
        ) from exc
