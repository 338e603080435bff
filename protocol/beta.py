"""The beta dialect, as one explicit translation table in each direction.

Everything voxgate does internally is GA-shaped. The beta dialect (``OpenAI-Beta:
realtime=v1``) exists only at the edge:

* **In** (:func:`client_event_to_ga`): a beta client event, as a JSON object, becomes the
  GA JSON object that :data:`~protocol.client_events.ClientEvent` validates. Only four
  event types differ (:data:`CLIENT_TRANSLATORS`): ``session.update`` (flat session →
  nested), ``transcription_session.update`` (→ ``session.update`` with
  ``type: "transcription"``), ``conversation.item.create`` and ``response.create``
  (content part names and flat response parameters). Message text is read by role, as
  leniently as OpenAI: ``text``, ``input_text`` or ``output_text`` becomes the role's GA
  text part, and items are echoed so normalised (assistant ``output_text``, beta ``text``;
  user and system ``input_text``).
* **Out** (:func:`server_event_to_beta`): a dumped GA server event becomes its beta name
  and shape (:data:`SERVER_TRANSLATORS`), or ``None`` where beta has no such event.

The session fields map through :data:`SESSION_FIELDS` in both directions; beta
``modalities`` ``["text", "audio"]`` (either order, or ``["audio"]``) is GA
``output_modalities`` ``["audio"]`` and is echoed as ``["text", "audio"]``. The GA dialect
is lenient too (reference §2.3, §15.3): a ``session.update`` whose session has no
``type`` but beta-only keys, ``transcription_session.update`` (briefly GA in SDK 1.107.0),
and beta content-part names are accepted there as well. Each translator is a no-op on
input that is already GA-shaped, and none of them raises on malformed input: what they do
not recognise is passed through for the models to reject with a precise error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Literal

from protocol.errors import ErrorCode, InvalidEvent

__all__ = [
    "AUDIO_FORMATS",
    "BETA_CLIENT_EVENT_TYPES",
    "CLIENT_TRANSLATORS",
    "SERVER_TRANSLATORS",
    "SESSION_FIELDS",
    "client_event_to_ga",
    "server_event_to_beta",
    "session_from_beta",
    "session_to_beta",
]

JSON = dict[str, Any]
log = logging.getLogger(__name__)

# --- shared vocabulary ------------------------------------------------------------------

AUDIO_FORMATS: dict[str, JSON] = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}
"""Beta audio format names and their GA objects."""
_FORMAT_NAMES = {fmt["type"]: name for name, fmt in AUDIO_FORMATS.items()}

_ASSISTANT_PARTS_OUT = {"output_text": "text", "output_audio": "audio"}
_ASSISTANT_PARTS_IN = {"text": "output_text", "audio": "output_audio", "input_text": "output_text"}
"""Assistant content part names read as GA's: beta's, and ``input_text`` (Pipecat sends it;
OpenAI accepts it)."""
_INPUT_PARTS_IN = {"text": "input_text", "output_text": "input_text"}
"""User and system content part names read as GA's ``input_text``."""
_ROLE_TEXT = {"assistant": "output_text", "user": "input_text", "system": "input_text"}
"""The text part name GA gives each role; the other dialect-free text name is lenience."""

SESSION_FIELDS: dict[str, tuple[str, ...]] = {
    "modalities": ("output_modalities",),
    "instructions": ("instructions",),
    "voice": ("audio", "output", "voice"),
    "speed": ("audio", "output", "speed"),
    "input_audio_format": ("audio", "input", "format"),
    "output_audio_format": ("audio", "output", "format"),
    "input_audio_transcription": ("audio", "input", "transcription"),
    "input_audio_noise_reduction": ("audio", "input", "noise_reduction"),
    "turn_detection": ("audio", "input", "turn_detection"),
    "tools": ("tools",),
    "tool_choice": ("tool_choice",),
    "max_response_output_tokens": ("max_output_tokens",),
    "tracing": ("tracing",),
    "include": ("include",),
    "model": ("model",),
}
"""Beta flat session key → GA path. Beta ``temperature`` and ``client_secret`` have no GA
field and are dropped on the way in; other keys pass through unchanged."""

_BETA_ONLY_SESSION_KEYS = frozenset(
    key for key, path in SESSION_FIELDS.items() if path != (key,)
) | {"temperature", "client_secret"}
_DROPPED_SESSION_KEYS = frozenset({"temperature", "client_secret"})

_TRANSCRIPTION_SESSION_KEYS = frozenset(
    {
        "input_audio_format",
        "input_audio_transcription",
        "input_audio_noise_reduction",
        "turn_detection",
        "include",
    }
)
"""Beta ``transcription_session.update`` keys that have a GA transcription-session field."""


def _format_in(value: object, param: str) -> object:
    if isinstance(value, str):
        try:
            return dict(AUDIO_FORMATS[value])
        except KeyError:
            supported = ", ".join(f"'{name}'" for name in AUDIO_FORMATS)
            raise InvalidEvent(
                f"Invalid value: '{value[:64]}'. Supported values are: {supported}.",
                code=ErrorCode.INVALID_VALUE,
                param=param,
            ) from None
    return value  # a GA object (lenient) or garbage for the model to reject


def _modalities_in(value: object) -> object:
    if isinstance(value, list) and all(isinstance(m, str) for m in value):
        # GA "audio" means audio plus its transcript, i.e. beta ["text", "audio"].
        return ["audio"] if "audio" in value else value
    return value


def _modalities_out(value: object) -> object:
    """GA ``["audio"]`` (audio and its transcript) is beta's ``["text", "audio"]``."""
    return ["text", "audio"] if value == ["audio"] else value


def _turn_detection_in(value: object) -> object:
    if isinstance(value, Mapping) and "type" not in value:
        return {"type": "server_vad", **value}  # beta's type is optional; server_vad default
    return value


_SESSION_CONVERTERS_IN: dict[str, Callable[[object, str], object]] = {
    "input_audio_format": _format_in,
    "output_audio_format": _format_in,
    "modalities": lambda v, _p: _modalities_in(v),
    "turn_detection": lambda v, _p: _turn_detection_in(v),
}


def _is_flat_session(session: Mapping[str, Any], *, assume_beta: bool) -> bool:
    if "type" in session or "audio" in session:
        return False
    return assume_beta or not _BETA_ONLY_SESSION_KEYS.isdisjoint(session)


def session_from_beta(
    flat: Mapping[str, Any], kind: Literal["realtime", "transcription"], *, param: str
) -> JSON:
    """Turn a flat beta session (partial) into a GA session object (partial).

    Args:
        flat: The beta ``session`` object as sent.
        kind: ``"realtime"`` for ``session.update``, ``"transcription"`` for
            ``transcription_session.update``.
        param: Path of ``flat`` in the event, for error messages.

    Returns:
        A GA session dict holding exactly the fields that ``flat`` sets.

    Raises:
        InvalidEvent: A beta audio format name is unknown.
    """
    ga: JSON = {"type": kind}
    for key, value in flat.items():
        if key in _DROPPED_SESSION_KEYS:
            continue
        if kind == "transcription" and key not in _TRANSCRIPTION_SESSION_KEYS:
            continue  # modalities etc.: no GA transcription-session field
        convert = _SESSION_CONVERTERS_IN.get(key)
        new_value = convert(value, f"{param}.{key}") if convert else value
        path = SESSION_FIELDS.get(key, (key,))
        node = ga
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = new_value
    return ga


def _items_in(items: object) -> object:
    return [_item_in(i) for i in items] if isinstance(items, list) else items


def _item_in(item: object) -> object:
    if not isinstance(item, Mapping):
        return item
    out = dict(item)
    if "type" not in out and "role" in out:
        out["type"] = "message"
    content = out.get("content")
    role = out.get("role")
    if out.get("type") == "message" and isinstance(content, list):
        renames = _ASSISTANT_PARTS_IN if role == "assistant" else _INPUT_PARTS_IN
        out["content"] = [_rename_part(part, renames) for part in content]
        _log_foreign_text_parts(role, content)
    return out


def _log_foreign_text_parts(role: object, content: list[Any]) -> None:
    """Debug-log a GA text part name used on the other role's message (read as text)."""
    own = _ROLE_TEXT.get(role) if isinstance(role, str) else None
    if own is None:
        return
    foreign = "input_text" if own == "output_text" else "output_text"
    for part in content:
        if isinstance(part, Mapping) and part.get("type") == foreign:
            log.debug("a %s message's %s content part is read as %s", role, foreign, own)


def _rename_part(part: object, renames: Mapping[str, str]) -> object:
    if isinstance(part, Mapping):
        kind = part.get("type")
        if isinstance(kind, str) and kind in renames:
            return {**part, "type": renames[kind]}
    return part


# --- client events: beta → GA ------------------------------------------------------------


def _session_update_in(event: JSON, assume_beta: bool) -> JSON:
    session = event.get("session")
    if isinstance(session, Mapping) and _is_flat_session(session, assume_beta=assume_beta):
        return {**event, "session": session_from_beta(session, "realtime", param="session")}
    return event


def _transcription_session_update_in(event: JSON, assume_beta: bool) -> JSON:
    session = event.get("session")
    if isinstance(session, Mapping) and _is_flat_session(session, assume_beta=True):
        session = session_from_beta(session, "transcription", param="session")
    elif isinstance(session, Mapping) and "type" not in session:
        session = {"type": "transcription", **session}  # GA-shaped (SDK 1.107.0)
    return {**event, "type": "session.update", "session": session}


def _item_create_in(event: JSON, assume_beta: bool) -> JSON:
    if "item" in event:
        return {**event, "item": _item_in(event["item"])}
    return event


def _response_create_in(event: JSON, assume_beta: bool) -> JSON:
    params = event.get("response")
    if not isinstance(params, Mapping):
        return event
    out: JSON = {}
    audio_out: JSON = {}
    for key, value in params.items():
        if key == "modalities":
            out["output_modalities"] = _modalities_in(value)
        elif key == "voice":
            audio_out["voice"] = value
        elif key == "output_audio_format":
            audio_out["format"] = _format_in(value, "response.output_audio_format")
        elif key == "max_response_output_tokens":
            out["max_output_tokens"] = value
        elif key == "temperature":
            continue
        elif key == "input":
            out["input"] = _items_in(value)
        else:
            out[key] = value
    if audio_out:
        audio = out.get("audio")
        if isinstance(audio, Mapping) and isinstance(audio.get("output"), Mapping):
            out["audio"] = {**audio, "output": {**audio["output"], **audio_out}}
        elif audio is None:
            out["audio"] = {"output": audio_out}
    return {**event, "response": out}


CLIENT_TRANSLATORS: dict[str, Callable[[JSON, bool], JSON]] = {
    "session.update": _session_update_in,
    "transcription_session.update": _transcription_session_update_in,
    "conversation.item.create": _item_create_in,
    "response.create": _response_create_in,
}
"""Client event type → translator(event, assume_beta) to the GA JSON object. Types not
listed have the same name and shape in both dialects."""

BETA_CLIENT_EVENT_TYPES = frozenset({"transcription_session.update"})
"""Client event types that exist only in beta (accepted in both dialects)."""


def client_event_to_ga(event: JSON, *, beta: bool) -> JSON:
    """Translate one client event (a JSON object with a string ``type``) to GA shape.

    Args:
        event: The decoded client event.
        beta: The connection speaks the beta dialect: a ``session.update`` whose session
            has no ``type`` is read as a flat beta session. In GA only a session with
            beta-only keys is (the rest get OpenAI's "missing session.type" error).

    Returns:
        The GA JSON object (``event`` itself when nothing needed translating).

    Raises:
        InvalidEvent: A beta value has no GA equivalent (unknown audio format name); its
            ``event_id`` is ``None``.
    """
    translate = CLIENT_TRANSLATORS.get(event["type"])
    return translate(event, beta) if translate else event


# --- server events: GA → beta ------------------------------------------------------------


def _get(data: Mapping[str, Any], path: tuple[str, ...]) -> tuple[bool, object]:
    node: object = data
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _format_out(value: object) -> object:
    if isinstance(value, Mapping):
        return _FORMAT_NAMES.get(str(value.get("type")), value)
    return value


def _voice_out(value: object) -> object:
    return value["id"] if isinstance(value, Mapping) and "id" in value else value


def _turn_detection_out(value: object, *, transcription: bool) -> object:
    if not isinstance(value, Mapping):
        return value
    keys: tuple[str, ...]
    if transcription:  # beta transcription sessions know only these four
        keys = ("type", "threshold", "prefix_padding_ms", "silence_duration_ms")
    else:  # idle_timeout_ms is GA-only
        keys = (
            "type",
            "threshold",
            "prefix_padding_ms",
            "silence_duration_ms",
            "eagerness",
            "create_response",
            "interrupt_response",
        )
    return {k: value[k] for k in keys if k in value}


_SESSION_CONVERTERS_OUT: dict[str, Callable[[object], object]] = {
    "modalities": _modalities_out,
    "input_audio_format": _format_out,
    "output_audio_format": _format_out,
    "voice": _voice_out,
    "turn_detection": lambda v: _turn_detection_out(v, transcription=False),
}

_BETA_TRANSCRIPTION_OUT_KEYS = (
    "modalities",
    "turn_detection",
    "input_audio_format",
    "input_audio_transcription",
)


def session_to_beta(session: Mapping[str, Any]) -> JSON:
    """Flatten a dumped GA session to the beta shape (reference §6.1, PY beta ``session.py``).

    A realtime session becomes the flat ``realtime.session`` object. A transcription
    session becomes exactly the beta SDK's ``TranscriptionSession`` (no ``id`` or
    ``object``): ``modalities``, ``turn_detection`` (type, threshold, padding, silence
    only), ``input_audio_format``, ``input_audio_transcription`` and an empty
    ``client_secret`` object (the SDK requires one; a WebSocket session has no secret).

    Args:
        session: ``model_dump(mode="json")`` of a GA session.

    Returns:
        The beta session object.
    """
    if session.get("type") == "transcription":
        flat: JSON = {}
        for key in _BETA_TRANSCRIPTION_OUT_KEYS:
            if key == "modalities":
                flat[key] = ["audio", "text"]
                continue
            found, value = _get(session, ("audio", "input", *SESSION_FIELDS[key][2:]))
            if found:
                if key == "turn_detection":
                    value = _turn_detection_out(value, transcription=True)
                elif key == "input_audio_format":
                    value = _format_out(value)
                flat[key] = value
        # The beta SDK types require this REST-only object; on a WebSocket there is no secret.
        flat["client_secret"] = {"value": "", "expires_at": session.get("expires_at") or 0}
        return flat
    flat = {
        "id": session.get("id"),
        "object": session.get("object"),
        "expires_at": session.get("expires_at"),
    }
    for key, path in SESSION_FIELDS.items():
        if key == "include":
            continue  # GA-only in realtime sessions
        found, value = _get(session, path)
        if found:
            convert = _SESSION_CONVERTERS_OUT.get(key)
            flat[key] = convert(value) if convert else value
    flat["temperature"] = 0.8  # beta-only; voxgate has no sampling temperature
    return flat


def _item_out(item: object) -> object:
    if not isinstance(item, Mapping):
        return item
    content = item.get("content")
    if item.get("role") == "assistant" and isinstance(content, list):
        return {**item, "content": [_rename_part(p, _ASSISTANT_PARTS_OUT) for p in content]}
    return item


def _usage_out(usage: object) -> object:
    if not isinstance(usage, Mapping):
        return usage
    details = usage.get("input_token_details")
    if isinstance(details, Mapping):
        keep = ("text_tokens", "audio_tokens", "cached_tokens")
        return {**usage, "input_token_details": {k: details[k] for k in keep if k in details}}
    return usage


def _response_out(response: Mapping[str, Any]) -> JSON:
    out: JSON = {}
    for key, value in response.items():
        if key == "output_modalities":
            out["modalities"] = _modalities_out(value)
        elif key == "output" and isinstance(value, list):
            out["output"] = [_item_out(i) for i in value]
        elif key == "audio":
            found, fmt = _get(response, ("audio", "output", "format"))
            if found:
                out["output_audio_format"] = _format_out(fmt)
            found, voice = _get(response, ("audio", "output", "voice"))
            if found:
                out["voice"] = _voice_out(voice)
        elif key == "usage":
            out["usage"] = _usage_out(value)
        else:
            out[key] = value
    return out


def _with_item(event: JSON) -> JSON:
    return {**event, "item": _item_out(event["item"])}


def _with_response(event: JSON) -> JSON:
    return {**event, "response": _response_out(event["response"])}


def _session_event(event: JSON) -> JSON:
    session = event["session"]
    if session.get("type") == "transcription":
        name = event["type"].replace("session.", "transcription_session.", 1)
        return {**event, "type": name, "session": session_to_beta(session)}
    return {**event, "session": session_to_beta(session)}


def _rename(name: str, reshape: Callable[[JSON], JSON] | None = None) -> Callable[[JSON], JSON]:
    def translate(event: JSON) -> JSON:
        event = reshape(event) if reshape else event
        return {**event, "type": name}

    return translate


def _drop(event: JSON) -> None:
    return None


def _without(field: str) -> Callable[[JSON], JSON]:
    def translate(event: JSON) -> JSON:
        return {k: v for k, v in event.items() if k != field}

    return translate


SERVER_TRANSLATORS: dict[str, Callable[[JSON], JSON | None]] = {
    "session.created": _session_event,
    "session.updated": _session_event,
    "conversation.item.added": _rename("conversation.item.created", _with_item),
    "conversation.item.created": _with_item,
    "conversation.item.retrieved": _with_item,
    "conversation.item.done": _drop,
    "input_audio_buffer.timeout_triggered": _drop,
    "response.created": _with_response,
    "response.done": _with_response,
    "response.output_item.added": _with_item,
    "response.output_item.done": _with_item,
    "response.output_audio.delta": _rename("response.audio.delta"),
    "response.output_audio.done": _rename("response.audio.done"),
    "response.output_audio_transcript.delta": _rename("response.audio_transcript.delta"),
    "response.output_audio_transcript.done": _rename("response.audio_transcript.done"),
    "response.output_text.delta": _rename("response.text.delta"),
    "response.output_text.done": _rename("response.text.done"),
    "response.function_call_arguments.done": _without("name"),
}
"""GA server event type → translator of its dumped JSON object to beta (``None``: beta has
no such event, send nothing). Types not listed are identical in both dialects. A
transcription session's ``session.*`` becomes ``transcription_session.*``."""


def server_event_to_beta(event: JSON) -> JSON | None:
    """Translate one dumped GA server event to the beta dialect.

    Args:
        event: ``model_dump(mode="json")`` of a server event.

    Returns:
        The beta JSON object, or ``None`` when beta clients must not receive this event
        (``conversation.item.done``, ``input_audio_buffer.timeout_triggered``).
    """
    translate = SERVER_TRANSLATORS.get(event["type"])
    return translate(event) if translate else event
