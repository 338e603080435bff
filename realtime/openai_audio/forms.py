"""The multipart forms of ``/v1/audio/transcriptions`` and ``/v1/audio/translations``.

:func:`read_form` streams the ``file`` part to a temporary upload (at most
``max_upload_bytes``) and keeps the other parts as text fields, each read with a bound
(:data:`FIELD_LIMIT`; :data:`LARGE_FIELDS` get more), so no part is held in memory whole
before its size is checked. Repeated names keep every value, in order (the SDK sends lists
as ``name[]`` parts). The helpers below read one field and raise :class:`BadRequest`,
naming it, when its value is not one OpenAI accepts.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from realtime.batch.app_keys import AUDIO_STORAGE
from realtime.batch.files import Upload, UploadTooLarge
from realtime.batch.request_parsing import BadRequest
from realtime.server.app_keys import SETTINGS
from realtime.server.errors import json_error

FIELD_LIMIT = 65_536
"""Most bytes of one text field."""

LARGE_FIELDS = {"known_speaker_references[]": 4 * 1024 * 1024}
"""Fields that may be longer (data URLs of audio clips), with their limits."""

_TRUE, _FALSE = frozenset({"true", "1"}), frozenset({"false", "0", ""})


@dataclass(slots=True)
class AudioForm:
    """A read form.

    Attributes:
        fields: Each text field's values, in the order sent.
        upload: The ``file`` part (the caller discards it), or None when there was none.
    """

    fields: dict[str, list[str]]
    upload: Upload | None

    def first(self, name: str) -> str | None:
        """The first value of ``name``; None when absent or empty."""
        values = self.fields.get(name)
        return (values[0] or None) if values else None

    def values(self, name: str) -> list[str]:
        """Every value of a list field, sent as ``name[]`` or as ``name``."""
        return self.fields.get(f"{name}[]", []) + self.fields.get(name, [])

    def choice(self, name: str, choices: frozenset[str], default: str) -> str:
        """The value of ``name``, one of ``choices`` (``default`` when absent)."""
        value = self.first(name) or default
        if value not in choices:
            raise BadRequest(f"{name} must be one of {', '.join(sorted(choices))}", param=name)
        return value

    def boolean(self, name: str) -> bool:
        """A ``true``/``false`` field (also ``1``/``0``); absent is false."""
        value = (self.first(name) or "").lower()
        if value not in _TRUE | _FALSE:
            raise BadRequest(f"{name} must be true or false", param=name)
        return value in _TRUE

    def temperature(self) -> float:
        """``temperature`` in [0, 1] (accepted and ignored: decoding is deterministic)."""
        value = self.first("temperature")
        try:
            number = float(value) if value is not None else 0.0
        except ValueError:
            number = math.nan
        if not 0.0 <= number <= 1.0:  # NaN too
            raise BadRequest("temperature must be a number between 0 and 1", param="temperature")
        return number


async def read_form(request: web.Request) -> AudioForm:
    """Read a multipart form: text fields, and the ``file`` part streamed to a temp file.

    Raises:
        BadRequest: not multipart, malformed, a field too long, or over the upload limit
            (413). The upload, if any was started, is discarded.
    """
    if request.content_type != "multipart/form-data":
        raise BadRequest("send multipart/form-data with a 'file' field", param="file")
    limit = request.app[SETTINGS].max_upload_bytes
    if request.content_length is not None and request.content_length > limit:
        raise BadRequest(f"Upload larger than the limit of {limit} bytes.", status=413)
    form = AudioForm({}, None)
    try:
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            if part.name == "file" and form.upload is None:
                form.upload = await asyncio.to_thread(request.app[AUDIO_STORAGE].upload, limit)
                while chunk := await part.read_chunk(1 << 20):
                    await asyncio.to_thread(form.upload.write, chunk)
            else:
                value = await _read_field(part, LARGE_FIELDS.get(part.name, FIELD_LIMIT))
                form.fields.setdefault(part.name, []).append(value)
    except UploadTooLarge:
        raise BadRequest(f"Upload larger than the limit of {limit} bytes.", status=413) from None
    except (HttpProcessingError, ValueError):  # a part header aiohttp refuses (NUL, …)
        await _discard(form)
        raise BadRequest("Malformed multipart body.", param="file") from None
    except BaseException:
        await _discard(form)
        raise
    return form


async def _read_field(part: BodyPartReader, limit: int) -> str:
    """A text part's value, read at most ``limit`` bytes at a time (BadRequest past it)."""
    data = bytearray()
    while chunk := await part.read_chunk(min(limit + 1, 1 << 16)):
        data += chunk
        if len(data) > limit:
            raise BadRequest(f"form field {part.name!r} is too long", param=part.name)
    return bytes(part.decode(bytes(data))).decode("utf-8", "replace")


async def _discard(form: AudioForm) -> None:
    if form.upload is not None:
        await asyncio.to_thread(form.upload.discard)


class FormError(BadRequest):
    """A :class:`BadRequest` with an error ``code``."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message, param=param)
        self.code = code


def bad_request(exc: BadRequest) -> web.Response:
    """The JSON error for ``exc``."""
    return json_error(exc.status, str(exc), param=exc.param, code=getattr(exc, "code", None))


FormHandler = Callable[[AudioForm, Upload], Awaitable[web.StreamResponse]]


async def serve_form(request: web.Request, answer: FormHandler) -> web.StreamResponse:
    """Read the form, check its ``file``, ``answer`` it, then discard the upload.

    A :class:`BadRequest` from reading or from ``answer`` is its JSON error.
    """
    try:
        form = await read_form(request)
    except BadRequest as exc:
        return bad_request(exc)
    try:
        if form.upload is None:
            return json_error(400, "missing the 'file' field", param="file")
        if form.upload.size == 0:
            return json_error(400, "the uploaded file is empty", param="file")
        return await answer(form, form.upload)
    except BadRequest as exc:
        return bad_request(exc)
    finally:
        await _discard(form)
