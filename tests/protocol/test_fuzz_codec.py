"""Fuzzing the client-event parser: any message is a typed event or an ``InvalidEvent``.

Two targets, both dialects:

* arbitrary JSON values (and arbitrary text / bytes) fed to :func:`parse_client_event`;
* *mutated* valid client events: a corpus of every GA and beta client event type (shapes
  from ``shared/reference/realtime-protocol.md`` §4–§9) with keys dropped or renamed,
  values swapped for wrong types, huge strings and numbers, ``NaN``/``Infinity`` literals,
  junk nesting, wrong ``type``, unicode, deep nesting, and text-level damage (truncation,
  invalid UTF-8, stray bytes).

Invariant: the parser returns a GA event (which re-serialises and re-parses to itself) or
raises :class:`InvalidEvent` with a bounded message, a known code, the client's
``event_id`` whenever the input was a JSON object carrying a valid one, and an ``error``
event the openai SDK accepts. No other exception; inputs are bounded, so no hang.

The default profile is a fixed, derandomized budget for ``make test``. The long run::

    VOXGATE_FUZZ=long .venv/bin/pytest tests/protocol/test_fuzz_codec.py -p no:cacheprovider

(random seeds, thousands of examples each, failures saved in ``.hypothesis/``).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter

from protocol import (
    CLIENT_EVENT_TYPES,
    Dialect,
    ErrorCode,
    InvalidEvent,
    RealtimeSession,
    dump_client_event,
    dump_server_event,
    merge_session,
    parse_client_event,
    parse_session_config,
)
from protocol._base import MAX_EVENT_ID_LENGTH
from protocol.codec import MAX_NESTING_DEPTH
from protocol.server_events import ErrorEvent, SessionUpdated
from tests.fuzzing import fuzz_settings

pytestmark = pytest.mark.timeout(120)

FUZZ = fuzz_settings(200, 4_000)

SDK = TypeAdapter(RealtimeServerEvent)
DIALECTS = st.sampled_from([Dialect.GA, Dialect.BETA])
CODES = frozenset(ErrorCode)

# --- corpus: every client event type, GA and beta shapes ---------------------------------

GA_SESSION = {
    "type": "realtime",
    "instructions": "Be brief.",
    "output_modalities": ["audio"],
    "audio": {
        "input": {
            "format": {"type": "audio/pcm", "rate": 24000},
            "transcription": {
                "model": "gpt-4o-transcribe",
                "language": "en",
                "prompt": "",
                "voxgate": {"speaker_segments": True, "non_speech_tags": True},
            },
            "noise_reduction": {"type": "near_field"},
            "turn_detection": {
                "type": "server_vad",
                "threshold": 0.5,
                "prefix_padding_ms": 300,
                "silence_duration_ms": 200,
                "idle_timeout_ms": 5000,
                "create_response": True,
                "interrupt_response": True,
            },
        },
        "output": {"format": {"type": "audio/pcmu"}, "voice": "marin", "speed": 1.1},
    },
    "tools": [
        {
            "type": "function",
            "name": "lookup",
            "description": "Look it up.",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        }
    ],
    "tool_choice": {"type": "function", "name": "lookup"},
    "max_output_tokens": 512,
    "tracing": {"workflow_name": "w", "group_id": "g", "metadata": {"k": [1, 2.5, None]}},
    "truncation": {"type": "retention_ratio", "retention_ratio": 0.5},
    "include": ["item.input_audio_transcription.logprobs"],
    "prompt": {"id": "pmpt_1", "version": "2", "variables": {"name": "Ada"}},
}
GA_TRANSCRIPTION = {
    "type": "transcription",
    "audio": {
        "input": {
            "format": {"type": "audio/pcma"},
            "transcription": {"model": "gpt-4o-transcribe", "language": "en", "prompt": ""},
            "turn_detection": {"type": "semantic_vad", "eagerness": "high"},
            "noise_reduction": {"type": "far_field"},
        }
    },
    "include": ["item.input_audio_transcription.logprobs"],
}
BETA_SESSION = {
    "modalities": ["text", "audio"],
    "instructions": "Be brief.",
    "voice": "alloy",
    "speed": 1.0,
    "input_audio_format": "pcm16",
    "output_audio_format": "g711_ulaw",
    "input_audio_transcription": {"model": "whisper-1", "language": "en"},
    "input_audio_noise_reduction": {"type": "near_field"},
    "turn_detection": {"threshold": 0.6, "prefix_padding_ms": 300, "silence_duration_ms": 500},
    "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
    "tool_choice": "auto",
    "temperature": 0.8,
    "max_response_output_tokens": "inf",
}
BETA_TRANSCRIPTION = {
    "input_audio_format": "g711_alaw",
    "input_audio_transcription": {"model": "gpt-4o-transcribe", "prompt": "", "language": ""},
    "turn_detection": {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
    },
    "input_audio_noise_reduction": {"type": "near_field"},
    "include": ["item.input_audio_transcription.logprobs"],
}
ITEMS = [
    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
    {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_audio", "audio": "AAAA", "transcript": "hi"}],
    },
    {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "Be"}]},
    {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "Say this."}],
    },
    {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": '{"q": 1}'},
    {"type": "function_call_output", "call_id": "call_1", "output": "42"},
]
BETA_ITEMS = [
    {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
    {"type": "message", "role": "assistant", "content": [{"type": "text", "text": "Hello"}]},
    {"type": "message", "role": "assistant", "content": [{"type": "audio", "transcript": "Hi"}]},
]
RESPONSE = {
    "conversation": "none",
    "instructions": "Read this aloud.",
    "output_modalities": ["audio"],
    "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "cedar"}},
    "metadata": {"purpose": "greeting"},
    "input": [{"type": "item_reference", "id": "item_1"}, ITEMS[0]],
    "max_output_tokens": 200,
    "tools": [{"type": "function", "name": "f"}],
    "tool_choice": "required",
}
BETA_RESPONSE = {
    "modalities": ["text"],
    "instructions": "Hi",
    "voice": "verse",
    "output_audio_format": "g711_alaw",
    "temperature": 0.7,
    "max_response_output_tokens": 100,
    "conversation": "auto",
    "metadata": {"a": "b"},
    "input": BETA_ITEMS[:1],
}

CORPUS: list[dict[str, Any]] = [
    {"type": "session.update", "event_id": "evt_1", "session": GA_SESSION},
    {"type": "session.update", "session": GA_TRANSCRIPTION},
    {"type": "session.update", "session": {"type": "realtime", "audio": {"input": {}}}},
    {"type": "session.update", "event_id": "evt_b", "session": BETA_SESSION},
    {"type": "transcription_session.update", "event_id": "evt_t", "session": BETA_TRANSCRIPTION},
    {"type": "input_audio_buffer.append", "event_id": "evt_2", "audio": "AAAAAA=="},
    {"type": "input_audio_buffer.commit", "event_id": "evt_3"},
    {"type": "input_audio_buffer.clear"},
    {"type": "output_audio_buffer.clear", "event_id": "evt_4"},
    *(
        {"type": "conversation.item.create", "event_id": f"evt_i{i}", "item": item}
        for i, item in enumerate(ITEMS + BETA_ITEMS)
    ),
    {
        "type": "conversation.item.create",
        "previous_item_id": "root",
        "item": {**ITEMS[0], "id": "item_x", "status": "completed"},
    },
    {"type": "conversation.item.retrieve", "event_id": "evt_5", "item_id": "item_1"},
    {"type": "conversation.item.delete", "item_id": "item_1"},
    {
        "type": "conversation.item.truncate",
        "event_id": "evt_6",
        "item_id": "item_2",
        "content_index": 0,
        "audio_end_ms": 1500,
    },
    {"type": "response.create"},
    {"type": "response.create", "event_id": "evt_7", "response": RESPONSE},
    {"type": "response.create", "event_id": "evt_8", "response": BETA_RESPONSE},
    {"type": "response.cancel", "event_id": "evt_9", "response_id": "resp_1"},
    {"type": "response.cancel"},
]

# --- strategies ------------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
"""Any JSON value (floats may be NaN/±inf: ``json.dumps`` writes them as bare literals)."""

KNOWN_TYPES = sorted(CLIENT_EVENT_TYPES | {"transcription_session.update"})
KEYS = sorted({"type", "event_id", "session", "audio", "item", "item_id", "response", "role"})

JUNK = st.one_of(
    JSON_VALUES,
    st.sampled_from(KNOWN_TYPES),
    st.sampled_from(["pcm16", "g711_ulaw", "audio/pcmu", "server_vad", "inf", "auto", "root"]),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), -0.0, 1e308, 2**64, -1, 0]),
    st.integers(min_value=1, max_value=20_000).map(lambda n: "x" * n),  # huge string
    st.integers(min_value=1, max_value=600).map(lambda n: "é" * n),  # just over 512 chars
    st.integers(min_value=2**63 - 2, max_value=2**64 + 2),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=30),  # surrogates excluded
    st.text(alphabet=st.characters(exclude_categories=()), max_size=10),  # lone surrogates
    st.sampled_from(["\ud800", "a\udfffb", "\ud83d\ude00", "\x00", "\u2028"]),
    st.integers(min_value=1, max_value=200).map(lambda d: _nest(d)),  # deep nesting
    st.integers(min_value=1, max_value=5_000).map(lambda d: f"{DEEP}{d}"),  # deeper: as text
)


def _nest(depth: int) -> object:
    value: object = 0
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


DEEP = "\x00deep:"
"""Marks a string that :func:`_dumps` replaces with nesting this deep, written as text (a
Python structure that deep would exhaust the test's own stack before the parser's)."""
_DEEP_JSON = re.compile(r'"\\u0000deep:(\d+)"')


def _deep_text(depth: int) -> str:
    return '{"a":[' * (depth // 2) + "0" + "]}" * (depth // 2)


def _paths(node: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Every path into a JSON tree (the root is ``()``), down to a depth of 12."""
    out = [prefix]
    if len(prefix) >= 12:
        return out
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


def _parent(root: object, path: tuple[object, ...]) -> Any:
    node: Any = root
    for part in path[:-1]:
        node = node[part]
    return node


@st.composite
def mutated_events(draw: st.DrawFn) -> Any:
    """A corpus event after one to four structural mutations."""
    event: Any = copy.deepcopy(draw(st.sampled_from(CORPUS)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = _paths(event)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "drop", "rename", "add", "wrap", "type"]))
        if action == "type" and isinstance(event, dict):
            event["type"] = draw(JUNK | st.sampled_from(KNOWN_TYPES))
            continue
        if not path:  # the root itself
            if action in ("replace", "wrap"):
                event = draw(JUNK) if action == "replace" else [event]
            continue
        parent, last = _parent(event, path), path[-1]
        if action == "replace":
            parent[last] = draw(JUNK)
        elif action == "drop":
            del parent[last]
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(st.sampled_from(KEYS) | st.text(max_size=12))] = parent.pop(last)
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(KEYS) | st.text(max_size=12))] = draw(JUNK)
        elif action == "add" and isinstance(parent, list):
            parent.insert(draw(st.integers(0, len(parent))), draw(JUNK))
        elif action == "wrap":
            parent[last] = draw(st.sampled_from([[parent[last]], {"value": parent[last]}]))
    return event


def _dumps(value: object) -> str:
    """JSON text with NaN / Infinity as bare literals and :data:`DEEP` markers expanded."""
    text = json.dumps(value, allow_nan=True)
    return _DEEP_JSON.sub(lambda m: _deep_text(int(m.group(1))), text)


@st.composite
def damaged_text(draw: st.DrawFn) -> str | bytes:
    """A corpus event as text, then damaged below the JSON level."""
    text = _dumps(draw(st.sampled_from(CORPUS) | mutated_events()))
    action = draw(st.sampled_from(["truncate", "bytes", "insert", "bom", "utf16", "overlong"]))
    if action == "truncate":
        return text[: draw(st.integers(0, len(text)))]
    data = text.encode("utf-8", "surrogatepass")
    at = draw(st.integers(0, len(data)))
    if action == "bytes":
        return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    if action == "insert":
        return text[:at] + draw(st.text(max_size=5)) + text[at:]
    if action == "bom":
        return b"\xef\xbb\xbf" + data
    if action == "utf16":
        return text.encode("utf-16", "surrogatepass")
    return data[:at] + b"\xc0\xaf" + data[at:]  # an overlong (invalid) UTF-8 sequence


# --- the invariant ---------------------------------------------------------------------


def _expected_event_id(data: str | bytes) -> str | None:
    """The client's ``event_id`` as an independent, lenient reader sees it."""
    try:
        payload = json.loads(data, parse_constant=lambda name: float(name))
    except (ValueError, RecursionError):
        return None
    event_id = payload.get("event_id") if isinstance(payload, dict) else None
    if isinstance(event_id, str) and len(event_id) <= MAX_EVENT_ID_LENGTH:
        try:
            event_id.encode("utf-8")  # an id that cannot be sent back is not echoed
        except UnicodeEncodeError:
            return None
        return event_id
    return None


def check(data: str | bytes, dialect: Dialect) -> None:
    """Parse ``data`` and assert the parser's contract (see the module docstring)."""
    try:
        event = parse_client_event(data, dialect)
    except InvalidEvent as exc:
        assert isinstance(exc.message, str) and exc.message.strip()
        # Messages quote the client's input (as OpenAI's do), so a newline may appear; they
        # stay bounded however large the input was.
        assert len(exc.message) <= 2_048, exc.message[:200]
        assert exc.code in CODES
        assert exc.param is None or (isinstance(exc.param, str) and len(exc.param) <= 2_048)
        if exc.code != ErrorCode.INVALID_JSON:
            assert exc.event_id == _expected_event_id(data)
        else:
            assert exc.event_id is None
        wire = dump_server_event(ErrorEvent(event_id="event_1", error=exc.detail()), dialect)
        assert wire is not None
        SDK.validate_json(wire)
        return
    assert event.type in CLIENT_EVENT_TYPES
    again = parse_client_event(dump_client_event(event), Dialect.GA)
    assert again == event


# Regressions found by this fuzzer: a lone surrogate escape (``"\\ud800"``) anywhere in
# an event (a value, a key, the ``type``, the ``event_id``) was accepted, then crashed the
# reply's serialisation (``session.updated``, or the ``error`` quoting it).
SURROGATES = [
    '{"type":"session.update","session":{"type":"realtime","instructions":"\\ud800"}}',
    '{"type":"\\udfff","event_id":"evt_1"}',
    '{"type":"input_audio_buffer.commit","event_id":"\\ud800"}',
    '{"type":"response.create","response":{"metadata":{"\\ud800":"x"}}}',
]


# Regression found by this fuzzer: nesting a few hundred levels deep inside a free-form
# field (``tools[].parameters``) parsed, then ``session.updated`` failed to serialise.
DEEP_TOOL = {
    "type": "session.update",
    "event_id": "evt_1",
    "session": {"type": "realtime", "tools": [{"name": "f", "parameters": {"x": f"{DEEP}300"}}]},
}


@FUZZ
@given(value=JSON_VALUES, dialect=DIALECTS)
def test_any_json_value(value: object, dialect: Dialect) -> None:
    """Any JSON value (including NaN/Infinity literals) is an event or an InvalidEvent."""
    check(_dumps(value), dialect)


@FUZZ
@given(data=st.text(max_size=200) | st.binary(max_size=200), dialect=DIALECTS)
def test_any_text_or_bytes(data: str | bytes, dialect: Dialect) -> None:
    """Arbitrary text frames and binary frames never escape as another exception."""
    check(data, dialect)


@FUZZ
@given(event=mutated_events(), dialect=DIALECTS)
@example(event=json.loads(SURROGATES[0]), dialect=Dialect.GA)
@example(event=json.loads(SURROGATES[1]), dialect=Dialect.BETA)
@example(event=json.loads(SURROGATES[2]), dialect=Dialect.GA)
@example(event=json.loads(SURROGATES[3]), dialect=Dialect.BETA)
@example(event=DEEP_TOOL, dialect=Dialect.GA)
def test_mutated_client_events(event: object, dialect: Dialect) -> None:
    """Structurally mutated valid events: dropped/renamed keys, wrong types, junk values."""
    check(_dumps(event), dialect)


@pytest.mark.parametrize("data", SURROGATES)
def test_lone_surrogates_are_refused_with_the_event_id(data: str) -> None:
    """Regression: unencodable text is an ``invalid_value`` error, correlated when possible."""
    with pytest.raises(InvalidEvent) as info:
        parse_client_event(data)
    assert info.value.code == ErrorCode.INVALID_VALUE
    assert info.value.event_id == ("evt_1" if "evt_1" in data else None)
    check(data, Dialect.GA)


@pytest.mark.parametrize("depth", [MAX_NESTING_DEPTH - 10, MAX_NESTING_DEPTH + 2, 300, 5_000])
def test_deep_nesting_is_refused_before_it_breaks_replies(depth: int) -> None:
    """Regression: whatever parses can be echoed in ``session.updated``; deeper is an error."""
    data = _dumps(
        {
            **DEEP_TOOL,
            "session": {
                **DEEP_TOOL["session"],
                "tools": [{"name": "f", "parameters": {"x": f"{DEEP}{depth}"}}],
            },
        }
    )
    try:
        event = parse_client_event(data)
    except InvalidEvent as exc:
        assert depth > MAX_NESTING_DEPTH
        if exc.code == ErrorCode.INVALID_VALUE:  # beyond json's own limit: invalid_json
            assert exc.event_id == "evt_1" and exc.param == "session"
        else:
            assert exc.code == ErrorCode.INVALID_JSON and depth > 900
    else:
        assert depth <= MAX_NESTING_DEPTH
        session = merge_session(RealtimeSession(), event.session)
        for dialect in Dialect:
            dump_server_event(SessionUpdated(event_id="event_1", session=session), dialect)
    check(data, Dialect.GA)


@FUZZ
@given(session=mutated_events().map(lambda e: e.get("session") if isinstance(e, dict) else e))
@example(session={"type": "realtime", "instructions": "\ud800"})
def test_parse_session_config(session: object) -> None:
    """Client-secret sessions (mutated ``session`` objects) validate or raise InvalidEvent."""
    for dialect in Dialect:
        try:
            config = parse_session_config(session, dialect)
        except InvalidEvent as exc:
            assert exc.message.strip() and exc.code in CODES
            ErrorEvent(event_id="event_1", error=exc.detail()).model_dump_json()
        else:
            config.model_dump_json()


@FUZZ
@given(data=damaged_text(), dialect=DIALECTS)
def test_damaged_client_event_text(data: str | bytes, dialect: Dialect) -> None:
    """Truncated text, invalid UTF-8, stray bytes, BOMs and UTF-16 frames."""
    check(data, dialect)


@pytest.mark.parametrize("dialect", list(Dialect))
@pytest.mark.parametrize("event", CORPUS, ids=lambda e: str(e.get("type")))
def test_corpus_is_valid(event: dict[str, Any], dialect: Dialect) -> None:
    """The seeds themselves parse (in both dialects), so mutations start from valid events."""
    parsed = parse_client_event(_dumps(event), dialect)
    assert parsed.type in CLIENT_EVENT_TYPES
    check(_dumps(event), dialect)
