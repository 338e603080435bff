"""Fuzzing the sans-I/O session: random interleavings of client events and engine results.

A hypothesis :class:`RuleBasedStateMachine` drives one :class:`Session` with random
sequences of:

* client events, valid and invalid, parsed from JSON text as the transport does:
  ``session.update`` with random fields (both session kinds, all three input formats, VAD
  on/off/semantic, extras), ``input_audio_buffer.append`` with real, odd-length, garbage
  and non-base64 audio, ``commit``, ``clear``, ``conversation.item.*`` with known, unknown
  and duplicate ids, ``response.create``/``cancel``, ``output_audio_buffer.clear``, junk;
* VAD edges at plausible sample positions for audio the session asked to scan;
* transcript deltas, finals (with and without annotations) and failures, for current and
  stale item ids;
* synthesized audio chunks, finals and failures, for current and stale response ids.

Invariants after every step: no exception; every server event validates against the
openai SDK's ``RealtimeServerEvent`` (``voxgate.`` extensions: against our model) and
serialises for beta clients too; an ``error`` answers only a client event and carries its
``event_id`` (``empty_response``: a ``response.create``'s, perhaps later); commands are of the known types and scan the input timeline in order;
each response has one ``response.created``, then its output, then one ``response.done``. At
the end, the session is still usable: manual append + commit yields
``input_audio_buffer.committed``.

The default profile is a fixed, derandomized budget for ``make test``. The long run::

    VOXGATE_FUZZ=long .venv/bin/pytest tests/realtime/test_fuzz_session.py -p no:cacheprovider

(random seeds, thousands of runs, failures saved in ``.hypothesis/``).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule
from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter

from engines.base import AudioTag, SpeechEdge, Transcript, TranscriptDelta, VADEvent
from protocol import (
    EXTENSION_PREFIX,
    Dialect,
    InvalidEvent,
    RealtimeSession,
    TranscriptionSession,
    dump_server_event,
    parse_client_event,
)
from realtime.inference.annotation import Annotation, SpeakerSegment
from realtime.session import Session
from realtime.session.commands import (
    CancelReply,
    CancelSynthesis,
    CancelTranscript,
    ConfigureVAD,
    DetectSpeech,
    FeedTranscriber,
    FinalizeTranscript,
    RequestPartial,
    SpeculateFinal,
    StartTranscript,
    Synthesize,
)
from realtime.session.ids import SequentialIds
from tests.fuzzing import LONG, fuzz_settings
from tests.realtime.session_support import InlineReplies

pytestmark = pytest.mark.timeout(300)

SDK = TypeAdapter(RealtimeServerEvent)
COMMANDS = (
    ConfigureVAD,
    DetectSpeech,
    StartTranscript,
    FeedTranscriber,
    RequestPartial,
    SpeculateFinal,
    FinalizeTranscript,
    CancelTranscript,
    Synthesize,
    CancelSynthesis,
    CancelReply,  # a reply answered after its response was cancelled in the same step
)
BYTES_PER_SECOND = {"audio/pcm": 48_000, "audio/pcmu": 8_000, "audio/pcma": 8_000}

# --- strategies ------------------------------------------------------------------------

EVENT_IDS = st.none() | st.sampled_from(["evt_1", "", "é" * 10]) | st.text(max_size=8)
FORMATS = st.sampled_from(
    [{"type": "audio/pcm", "rate": 24000}, {"type": "audio/pcmu"}, {"type": "audio/pcma"}]
)
SERVER_VAD = st.fixed_dictionaries(
    {"type": st.just("server_vad")},
    optional={
        "threshold": st.floats(0, 1),
        "prefix_padding_ms": st.integers(0, 2_000),
        "silence_duration_ms": st.integers(0, 3_000),
        "idle_timeout_ms": st.none() | st.integers(0, 10_000),
        "create_response": st.booleans(),
        "interrupt_response": st.booleans(),
    },
)
SEMANTIC_VAD = st.fixed_dictionaries(
    {"type": st.just("semantic_vad")},
    optional={
        "eagerness": st.sampled_from(["low", "medium", "high", "auto"]),
        "create_response": st.booleans(),
        "interrupt_response": st.booleans(),
    },
)
TRANSCRIPTION = st.none() | st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["whisper-1", "gpt-4o-transcribe", "local"]),
        "language": st.none() | st.just("en"),
        "voxgate": st.fixed_dictionaries(
            {},
            optional={
                "non_speech_tags": st.booleans(),
                "speaker_segments": st.booleans(),
                "audio_tag_events": st.booleans(),
            },
        ),
    },
)
AUDIO_INPUT = st.fixed_dictionaries(
    {},
    optional={
        "format": FORMATS,
        "turn_detection": st.none() | SERVER_VAD | SEMANTIC_VAD,
        "transcription": TRANSCRIPTION,
        "noise_reduction": st.none() | st.just({"type": "near_field"}),
    },
)
AUDIO_OUTPUT = st.fixed_dictionaries(
    {},
    optional={
        "format": FORMATS,
        "voice": st.sampled_from(["marin", "alloy", "nobody"]) | st.just({"id": "voice_1"}),
        "speed": st.floats(0.25, 1.5),
    },
)
SESSION_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "instructions": st.text(max_size=20),
        "output_modalities": st.sampled_from([["audio"], ["text"]]),
        "audio": st.fixed_dictionaries({}, optional={"input": AUDIO_INPUT, "output": AUDIO_OUTPUT}),
        "include": st.none() | st.just(["item.input_audio_transcription.logprobs"]),
    },
)
JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)
CONTENT = {
    "user": [{"type": "input_text", "text": "Hi"}, {"type": "input_audio", "transcript": "yo"}],
    "system": [{"type": "input_text", "text": "Be brief."}],
    "assistant": [
        {"type": "output_text", "text": "Say this."},
        {"type": "output_audio", "transcript": "Heard this."},
    ],
}


def _audio_bytes(fmt: str, length: int, kind: str, seed: int) -> bytes:
    """``length`` bytes of input audio: a loud tone, noise, silence or raw garbage."""
    rng = np.random.default_rng(seed)
    if kind == "garbage" or fmt != "audio/pcm":
        return rng.integers(0, 256, length, dtype=np.uint8).tobytes()
    n = length // 2
    if kind == "tone":
        pcm = np.sin(np.arange(n) / 5) * 8_000
    elif kind == "noise":
        pcm = rng.normal(0, 4_000, n)
    else:
        pcm = np.zeros(n)
    return pcm.astype("<i2").tobytes() + (b"\x01" if length % 2 else b"")


TIMES = st.floats(-5, 1e5, allow_nan=False)


def _annotation(data: st.DataObject) -> Annotation:
    """Transcript extras as the annotator makes them, with odd times and scores."""
    segment = st.builds(
        SpeakerSegment, st.sampled_from(["0", "1"]), TIMES, TIMES, st.text(max_size=5)
    )
    tag = st.builds(AudioTag, st.sampled_from(["laugh", "music"]), st.floats(-1, 2), TIMES, TIMES)
    return Annotation(
        text=data.draw(st.none() | st.text(max_size=10)),
        plain_text=data.draw(st.none() | st.text(max_size=10)),
        speaker=data.draw(st.none() | st.sampled_from(["0", "1"])),
        segments=tuple(data.draw(st.lists(segment, max_size=2))),
        events=tuple(data.draw(st.lists(tag, max_size=2))),
        speech_start=0.0,
        speech_end=1.0,
    )


# --- the machine -----------------------------------------------------------------------


class SessionMachine(RuleBasedStateMachine):
    """One session; every rule feeds it one input and checks what comes out."""

    session: Session

    @initialize(
        kind=st.sampled_from(["realtime", "transcription"]),
        responder=st.sampled_from(["say", "echo"]),
        has_tts=st.booleans(),
        speculative=st.booleans(),
    )
    def start(self, kind: str, responder: Any, has_tts: bool, speculative: bool = False) -> None:
        """Open a session of a random kind, responder and TTS availability."""
        config = RealtimeSession() if kind == "realtime" else TranscriptionSession()
        self.items: set[str] = set()
        self.transcribing: set[str] = set()  # items fed to the transcriber, not yet final
        self.pending: list[Any] = []  # commands a runner would still answer
        self.lifecycle: dict[str, str] = {}  # response id → "created" / "done"
        self.responses: set[str] = set()
        self.create_ids: set[str | None] = set()  # event_ids of the response.create sent
        self.scanned = 0  # end of the input audio the session asked the VAD to scan
        self.vad_upto = 0  # how far VAD results have been reported
        self.session = InlineReplies(
            config,
            ids=SequentialIds(),
            created_at=1_000.0,
            responder=responder,
            has_tts=has_tts,
            speculative_asr=speculative,
        )
        self._drain()

    # --- invariants ----------------------------------------------------------------------

    def _drain(self, *, client: bool = False, event_id: str | None = None) -> list[Any]:
        """Check and record every event and command produced since the last drain."""
        events = self.session.events_to_send()
        for event in events:
            wire = dump_server_event(event, Dialect.GA)
            assert wire is not None
            if event.type.startswith(EXTENSION_PREFIX):
                type(event).model_validate_json(wire)
            else:
                SDK.validate_json(wire)
            beta = dump_server_event(event, Dialect.BETA)
            assert beta is None or isinstance(json.loads(beta)["type"], str)
            if event.type == "error" and event.error.type == "server_error":
                # a failed response's error: no client event to answer, a message to show
                assert event.error.message and event.error.event_id is None
            elif event.type == "error" and event.error.code == "empty_response":
                # a response.create left nothing to say (perhaps once its transcript came)
                assert event.error.message and event.error.event_id in self.create_ids
            elif event.type == "error":
                assert client, f"error without a client event: {event.error}"
                assert event.error.message and event.error.event_id == event_id
            self._record(event)
        for command in self.session.commands():
            assert isinstance(command, COMMANDS), command
            if isinstance(command, DetectSpeech | RequestPartial | FinalizeTranscript | Synthesize):
                self.pending.append(command)
            if isinstance(command, DetectSpeech):
                chunk = command.chunk
                # In order, never overlapping (manual-mode audio is not scanned: gaps are fine).
                assert chunk.start >= self.scanned and chunk.samples.dtype == np.int16
                assert chunk.samples.ndim == 1 and len(chunk.samples) > 0
                self.scanned = chunk.end
            elif isinstance(command, FeedTranscriber):
                chunk = command.chunk
                assert chunk.start >= 0 and chunk.samples.dtype == np.int16
                assert chunk.samples.ndim == 1
                self.items.add(command.item_id)
                self.transcribing.add(command.item_id)
            elif isinstance(command, FinalizeTranscript | CancelTranscript):
                self.items.add(command.item_id)
            elif isinstance(command, SpeculateFinal):  # only for the turn being heard
                assert command.item_id in self.items, command
            elif isinstance(command, Synthesize):
                assert command.output_format in BYTES_PER_SECOND
                self.responses.add(command.response_id)
        return events

    def _record(self, event: Any) -> None:
        for name in ("item_id", "previous_item_id"):
            value = getattr(event, name, None)
            if isinstance(value, str):
                self.items.add(value)
        item = getattr(event, "item", None)
        if item is not None and item.id:
            self.items.add(item.id)
        response = getattr(event, "response", None)
        if response is not None:
            self.responses.add(response.id)
        # Each response: one response.created, then its output events, then one response.done.
        if event.type == "response.created":
            assert response.id not in self.lifecycle, f"{response.id} created twice"
            self.lifecycle[response.id] = "created"
        elif event.type == "response.done":
            assert self.lifecycle.get(response.id) == "created", f"{response.id} done twice"
            self.lifecycle[response.id] = "done"
        elif event.type.startswith("response."):
            state = self.lifecycle.get(event.response_id)
            assert state == "created", f"{event.type} for a response that is {state}"

    def _client(self, payload: Any) -> list[Any]:
        """Send one client message as the transport does: parse, then hand to the session."""
        text = payload if isinstance(payload, str) else json.dumps(payload)
        try:
            event = parse_client_event(text)
        except InvalidEvent as exc:
            self.session.receive_invalid_event(exc)
            return self._drain(client=True, event_id=exc.event_id)
        self.session.receive_client_event(event)
        return self._drain(client=True, event_id=event.event_id)

    def _item_id(self, data: st.DataObject) -> str:
        """An item being transcribed (most often), any item seen, or one never seen."""
        known = sorted(self.items)
        pending = sorted(self.transcribing)
        return data.draw(
            (st.sampled_from(pending) if pending else st.nothing())
            | (st.sampled_from(known) if known else st.nothing())
            | st.sampled_from(["item_stale", "", "root"])
        )

    def _response_id(self, data: st.DataObject) -> str:
        """The latest response (most often), an older one, or one that never existed."""
        known = sorted(self.responses)  # SequentialIds sort in creation order
        latest = st.just(known[-1]) if known else st.nothing()
        older = st.sampled_from(known) if known else st.nothing()
        return data.draw(latest | latest | older | st.just("resp_stale"))

    @staticmethod
    def _with_id(payload: dict[str, Any], event_id: str | None) -> dict[str, Any]:
        return payload if event_id is None else {**payload, "event_id": event_id}

    # --- client events -------------------------------------------------------------------

    @rule(
        fields=SESSION_FIELDS,
        kind=st.sampled_from(["current", "realtime", "transcription", None]),
        event_id=EVENT_IDS,
    )
    def session_update(
        self, fields: dict[str, Any], kind: str | None, event_id: str | None
    ) -> None:
        """``session.update`` with random fields (sometimes the other kind, or no ``type``)."""
        session = dict(fields)
        if kind == "current":
            session["type"] = self.session.config.type
        elif kind is not None:
            session["type"] = kind
        self._client(self._with_id({"type": "session.update", "session": session}, event_id))

    @rule(
        length=st.integers(0, 12_000).map(lambda n: 2 * n)
        | st.integers(0, 24_000)
        | st.sampled_from([1, 3, 4_799, 48_001]),
        kind=st.sampled_from(["tone", "noise", "silence", "garbage"]),
        seed=st.integers(0, 2**16),
        event_id=EVENT_IDS,
    )
    def append(self, length: int, kind: str, seed: int, event_id: str | None) -> None:
        """Append audio of random length (odd lengths too) in the session's input format."""
        fmt = self.session.config.audio.input.format.type
        audio = base64.b64encode(_audio_bytes(fmt, length, kind, seed)).decode()
        self._client(self._with_id({"type": "input_audio_buffer.append", "audio": audio}, event_id))

    @rule(
        audio=st.text(max_size=12) | st.sampled_from(["A", "AA=", "====", "AAA\n", "*"]) | JUNK,
        event_id=EVENT_IDS,
    )
    def append_garbage(self, audio: Any, event_id: str | None) -> None:
        """Append text that is not base64 (or not a string at all)."""
        self._client(self._with_id({"type": "input_audio_buffer.append", "audio": audio}, event_id))

    @rule(
        kind=st.sampled_from(
            [
                "input_audio_buffer.commit",
                "input_audio_buffer.clear",
                "output_audio_buffer.clear",
                "response.cancel",
            ]
        ),
        event_id=EVENT_IDS,
    )
    def simple(self, kind: str, event_id: str | None) -> None:
        """An event without parameters."""
        self._client(self._with_id({"type": kind}, event_id))

    @rule(data=st.data(), event_id=EVENT_IDS)
    def cancel_by_id(self, data: st.DataObject, event_id: str | None) -> None:
        """``response.cancel`` naming a current or stale response."""
        payload = {"type": "response.cancel", "response_id": self._response_id(data)}
        self._client(self._with_id(payload, event_id))

    @rule(
        data=st.data(),
        role=st.sampled_from(["user", "system", "assistant", "function_call_output"]),
        event_id=EVENT_IDS,
    )
    def create_item(self, data: st.DataObject, role: str, event_id: str | None) -> None:
        """``conversation.item.create`` with fresh, known or odd ids and positions."""
        if role == "function_call_output":
            item: dict[str, Any] = {"type": role, "call_id": "call_1", "output": "42"}
        else:
            parts = data.draw(st.lists(st.sampled_from(CONTENT[role]), max_size=2))
            item = {"type": "message", "role": role, "content": parts}
        if data.draw(st.booleans()):
            item["id"] = data.draw(
                st.sampled_from(["item_mine", "x"]) | st.builds(self._item_id, st.just(data))
            )
        payload: dict[str, Any] = {"type": "conversation.item.create", "item": item}
        if data.draw(st.booleans()):
            payload["previous_item_id"] = data.draw(
                st.none() | st.builds(self._item_id, st.just(data))
            )
        self._client(self._with_id(payload, event_id))

    @rule(
        data=st.data(),
        kind=st.sampled_from(["retrieve", "delete", "truncate"]),
        event_id=EVENT_IDS,
    )
    def item_by_id(self, data: st.DataObject, kind: str, event_id: str | None) -> None:
        """``conversation.item.retrieve/delete/truncate`` on known and unknown ids."""
        payload: dict[str, Any] = {
            "type": f"conversation.item.{kind}",
            "item_id": self._item_id(data),
        }
        if kind == "truncate":
            payload["content_index"] = data.draw(st.integers(-1, 3))
            payload["audio_end_ms"] = data.draw(st.integers(-1, 10_000) | st.just(2**62))
        self._client(self._with_id(payload, event_id))

    @rule(
        params=st.none()
        | st.fixed_dictionaries(
            {},
            optional={
                "instructions": st.text(max_size=12) | st.just("Hello there."),
                "output_modalities": st.sampled_from([["audio"], ["text"], []]),
                "conversation": st.sampled_from(["auto", "none"]),
                "metadata": st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=3),
                "audio": st.fixed_dictionaries(
                    {"output": st.fixed_dictionaries({}, optional={"format": FORMATS})}
                ),
                "max_output_tokens": st.integers(0, 5_000) | st.just("inf"),
            },
        ),
        event_id=EVENT_IDS,
    )
    def response_create(self, params: dict[str, Any] | None, event_id: str | None) -> None:
        """``response.create`` with random per-response overrides."""
        payload: dict[str, Any] = {"type": "response.create"}
        if params is not None:
            payload["response"] = params
        self.create_ids.add(event_id)
        self._client(self._with_id(payload, event_id))

    @rule(payload=JUNK | st.text(max_size=30))
    def junk(self, payload: Any) -> None:
        """A message that is not an event at all."""
        self._client(payload if isinstance(payload, str) else json.dumps(payload))

    # --- engine results ------------------------------------------------------------------

    @precondition(lambda self: self.pending)
    @rule(data=st.data())
    def runner(self, data: st.DataObject) -> None:
        """Answer some pending commands plausibly, as the runner and real engines would."""
        for _ in range(data.draw(st.integers(1, len(self.pending)))):
            if not self.pending:
                break
            command = self.pending.pop(data.draw(st.integers(0, len(self.pending) - 1)))
            self._answer(command, data)
            self._drain()

    def _answer(self, command: Any, data: st.DataObject) -> None:
        if isinstance(command, DetectSpeech):
            chunk = command.chunk
            if chunk.end <= self.vad_upto:
                return  # the VAD reports in order; an older chunk was covered
            samples = sorted(data.draw(st.lists(st.integers(chunk.start, chunk.end), max_size=2)))
            starts = not self.session.speaking
            events = []
            for sample in samples:
                events.append(VADEvent(SpeechEdge.START if starts else SpeechEdge.END, sample, 0.5))
                starts = not starts
            self.session.receive_vad_events(events, chunk.end)
            self.vad_upto = chunk.end
        elif isinstance(command, RequestPartial):
            delta = TranscriptDelta(data.draw(st.text(max_size=8)))
            self.session.receive_transcript_delta(command.item_id, delta)
        elif isinstance(command, FinalizeTranscript):
            if data.draw(st.integers(0, 9)) == 0:
                self.session.receive_transcription_failed(command.item_id, "unintelligible")
            else:
                text = data.draw(st.sampled_from(["Hello there.", ""]) | st.text(max_size=12))
                annotation = _annotation(data) if data.draw(st.booleans()) else None
                transcript = Transcript(text, "en", 0.0, 1.0)
                self.session.receive_transcript(command.item_id, transcript, annotation)
            self.transcribing.discard(command.item_id)
        else:
            step = 2 if command.output_format == "audio/pcm" else 1
            length = data.draw(st.integers(0, 6_000)) * step
            final = data.draw(st.booleans())
            self.session.receive_synthesized_audio(command.response_id, bytes(length), final=final)
            if not final:
                self.pending.append(command)  # more audio to come

    @rule(data=st.data())
    def vad(self, data: st.DataObject) -> None:
        """VAD edges for scanned audio, in order, at plausible positions."""
        upto = data.draw(st.integers(self.vad_upto, max(self.vad_upto, self.scanned)))
        samples = sorted(data.draw(st.lists(st.integers(0, upto), max_size=3)))
        edges = data.draw(
            st.lists(st.sampled_from(SpeechEdge), min_size=len(samples), max_size=len(samples))
        )
        events = [VADEvent(e, s, 0.5) for e, s in zip(edges, samples, strict=True)]
        self.session.receive_vad_events(events, upto)
        self.vad_upto = upto
        self._drain()

    @rule(data=st.data(), text=st.text(max_size=10))
    def transcript_delta(self, data: st.DataObject, text: str) -> None:
        """A partial transcript for a current or stale item."""
        self.session.receive_transcript_delta(self._item_id(data), TranscriptDelta(text))
        self._drain()

    @rule(data=st.data(), text=st.text(max_size=20), annotated=st.booleans())
    def transcript(self, data: st.DataObject, text: str, annotated: bool) -> None:
        """A final transcript (optionally with speakers and sound tags) for any item."""
        annotation = _annotation(data) if annotated else None
        start = data.draw(TIMES)
        transcript = Transcript(text, "en", start, start + 1.0)
        item_id = self._item_id(data)
        self.session.receive_transcript(item_id, transcript, annotation)
        self.transcribing.discard(item_id)
        self._drain()

    @rule(data=st.data(), message=st.text(min_size=1, max_size=20))
    def transcription_failed(self, data: st.DataObject, message: str) -> None:
        """Transcription failed for a current or stale item."""
        item_id = self._item_id(data)
        self.session.receive_transcription_failed(item_id, message)
        self.transcribing.discard(item_id)
        self._drain()

    @rule(data=st.data(), length=st.integers(0, 20_000), final=st.booleans())
    def synthesized(self, data: st.DataObject, length: int, final: bool) -> None:
        """TTS audio (any length, odd too) for a current or stale response."""
        audio = bytes(range(256)) * (length // 256) + bytes(length % 256)
        self.session.receive_synthesized_audio(self._response_id(data), audio, final=final)
        self._drain()

    @rule(data=st.data(), message=st.text(min_size=1, max_size=20))
    def synthesis_failed(self, data: st.DataObject, message: str) -> None:
        """The speech engine failed for a current or stale response."""
        self.session.receive_synthesis_failed(self._response_id(data), message)
        self._drain()

    # --- the session stays usable ----------------------------------------------------------

    def teardown(self) -> None:
        """Whatever happened, a manual append + commit still commits a user item."""
        if not hasattr(self, "session"):
            return
        update = {
            "type": "session.update",
            "session": {
                "type": self.session.config.type,
                "audio": {"input": {"format": FORMATS_PCM, "turn_detection": None}},
            },
        }
        assert [e.type for e in self._client(update)] == ["session.updated"]
        audio = base64.b64encode(_audio_bytes("audio/pcm", 24_000, "tone", 0)).decode()
        assert self._client({"type": "input_audio_buffer.append", "audio": audio}) == []
        events = self._client({"type": "input_audio_buffer.commit", "event_id": "evt_last"})
        assert [e.type for e in events][:2] == [
            "input_audio_buffer.committed",
            "conversation.item.added",
        ]


FORMATS_PCM = {"type": "audio/pcm", "rate": 24000}

SessionMachine.TestCase.settings = fuzz_settings(100, 2_000, stateful_step_count=60 if LONG else 40)
test_session_machine = SessionMachine.TestCase


# --- regressions found by the machine (each crashed or broke the lifecycle before its fix) --


def _machine(responder: Any = "say", *, manual: bool = False) -> SessionMachine:
    machine = SessionMachine()
    machine.start(kind="realtime", responder=responder, has_tts=True)
    if manual:
        manual = {"turn_detection": None, "transcription": {"model": "whisper-1"}}
        machine.session_update(fields={"audio": {"input": manual}}, kind="current", event_id=None)
    return machine


def test_output_audio_buffer_clear_names_a_response() -> None:
    """``output_audio_buffer.clear`` raised (``response_id`` missing) on every call."""
    machine = _machine()
    machine.simple(kind="output_audio_buffer.clear", event_id="evt_1")
    machine.response_create(params={"instructions": "Hello there."}, event_id=None)
    events = machine._client({"type": "output_audio_buffer.clear"})
    assert [e.type for e in events] == ["output_audio_buffer.cleared"]
    assert events[0].response_id == max(machine.responses)
    machine.teardown()


def test_late_synthesis_failure_does_not_finish_a_response_twice() -> None:
    """A TTS failure after the final audio sent a second ``response.done``."""
    machine = _machine()
    machine.response_create(params={"instructions": "Hello there."}, event_id=None)
    (synth,) = [c for c in machine.pending if isinstance(c, Synthesize)]
    machine.session.receive_synthesized_audio(synth.response_id, bytes(4_800), final=True)
    assert machine._drain()[-1].type == "response.done"
    machine.session.receive_synthesis_failed(synth.response_id, "late")
    assert machine._drain() == []
    machine.teardown()


@pytest.mark.parametrize("outcome", ["transcript", "failure"])
def test_transcript_after_cancel_does_not_revive_an_echo_response(outcome: str) -> None:
    """A cancelled echo response waiting for a transcript spoke (or failed) when it came."""
    machine = _machine("echo", manual=True)
    machine.append(length=24_000, kind="tone", seed=0, event_id=None)
    machine.simple(kind="input_audio_buffer.commit", event_id=None)
    machine.response_create(params=None, event_id=None)  # waits for the transcript
    machine.simple(kind="response.cancel", event_id="evt_cancel")
    (final,) = [c for c in machine.pending if isinstance(c, FinalizeTranscript)]
    if outcome == "transcript":
        transcript = Transcript("Hello there.", "en", 0.0, 1.0)
        machine.session.receive_transcript(final.item_id, transcript)
    else:
        machine.session.receive_transcription_failed(final.item_id, "unintelligible")
    events = machine._drain()
    assert events and not [e.type for e in events if e.type.startswith("response.")]
    assert not any(isinstance(c, Synthesize) for c in machine.pending)
    machine.teardown()


def test_an_empty_echo_answers_its_response_create_once_the_transcript_came() -> None:
    """An echo response waiting for an empty transcript fails, naming its response.create."""
    machine = _machine("echo", manual=True)
    machine.append(length=24_000, kind="tone", seed=0, event_id=None)
    machine.simple(kind="input_audio_buffer.commit", event_id=None)
    machine.response_create(params=None, event_id="evt_echo")  # waits for the transcript
    (final,) = [c for c in machine.pending if isinstance(c, FinalizeTranscript)]
    machine.session.receive_transcript(final.item_id, Transcript("", "en", 0.0, 1.0))
    events = machine._drain()  # not a client drain: the invariant allows this error
    assert [e.type for e in events if e.type in ("error", "response.done")] == [
        "error",
        "response.done",
    ]
    machine.teardown()
