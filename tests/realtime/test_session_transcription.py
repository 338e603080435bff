"""Input transcription on and off, and logprobs: synchronous session tests, no models.

A realtime session transcribes for the client only when ``audio.input.transcription`` is
set; a responder that reads transcripts still gets them; logprobs come when ``include``
asks and the engine can give them, and are refused otherwise.
"""

from __future__ import annotations

import json

from engines.base import Engines, SpeechEdge, TokenLogprob, Transcript, TranscriptDelta, VADEvent
from engines.testing import ScriptedASR, ScriptedVAD
from protocol import (
    Dialect,
    RealtimeSession,
    TranscriptionSession,
    dump_server_event,
    parse_client_event,
)
from protocol import server_events as ev
from realtime.hosting.runner import capabilities
from realtime.responders.scripted import EchoResponder, SayResponder
from realtime.session import Capabilities, Session
from realtime.session.commands import (
    ASRCommand,
    FeedTranscriber,
    FinalizeTranscript,
    GenerateReply,
    RequestPartial,
    StartTranscript,
    Synthesize,
)
from realtime.session.ids import SequentialIds
from tests.realtime.session_support import TRANSCRIBED, append, drain, make, send, types

TRANSCRIPTION_EVENTS = "conversation.item.input_audio_transcription."
LOGPROBS = ["item.input_audio_transcription.logprobs"]


def asr(commands: list) -> list:
    return [c for c in commands if isinstance(c, ASRCommand)]


def shown(events: list) -> list[str]:
    """Transcription and voxgate transcription-extras events among ``events``."""
    return [t for t in types(events) if t.startswith((TRANSCRIPTION_EVENTS, "voxgate."))]


def turn(s: Session, start: int, end: int, upto: int) -> tuple[list, list, list, list]:
    """A VAD turn (samples) in a fresh session: (events, commands) at its start and end."""
    append(s, upto / 16_000 + 0.05)  # the audio the VAD reports on
    s.receive_vad_events([VADEvent(SpeechEdge.START, start, 0.9)], (start + end) // 2)
    started, start_commands = drain(s)
    s.receive_vad_events(
        [VADEvent(SpeechEdge.PAUSE, end, 0.1), VADEvent(SpeechEdge.END, end, 0.1)], upto
    )
    stopped, end_commands = drain(s)
    return started, start_commands, stopped, end_commands


def update(s: Session, session: dict, event_id: str | None = None) -> list:
    payload = {"type": "session.update", "session": {"type": "realtime", **session}}
    if event_id is not None:
        payload["event_id"] = event_id
    return send(s, payload)[0]


def transcription(value: dict | None) -> dict:
    return {"audio": {"input": {"transcription": value}}}


# --- transcription off ---------------------------------------------------------------------


def test_off_by_default_and_nobody_reads_the_text_so_no_asr_work_at_all():
    s = make(speculative_asr=True)
    assert RealtimeSession().audio.input.transcription is None and not s.transcribes
    started, start_commands, stopped, end_commands = turn(s, 0, 24_000, 40_000)
    assert types(started) == ["input_audio_buffer.speech_started"]
    assert asr(start_commands + end_commands) == []
    assert types(stopped) == [
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",  # at once: no transcript is coming
        "response.created",
        "response.done",
    ]
    done = stopped[3]
    assert done.item.id == started[0].item_id and done.item.status == "completed"
    assert done.item.content[0].type == "input_audio" and done.item.content[0].transcript is None
    assert json.loads(dump_server_event(done))["item"]["content"][0]["transcript"] is None
    # manual turns and clearing send no ASR commands either
    update(s, {"audio": {"input": {"turn_detection": None}}})
    _, commands = append(s, 0.5)
    events, commands = send(s, {"type": "input_audio_buffer.commit"})
    assert types(events) == [
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
    ]
    assert asr(commands) == []


def test_clearing_an_untranscribed_turn_cancels_nothing():
    s = make()
    append(s, 1.0)
    s.receive_vad_events([VADEvent(SpeechEdge.START, 0, 0.9)], 16_000)
    drain(s)
    events, commands = send(s, {"type": "input_audio_buffer.clear"})
    assert types(events) == ["input_audio_buffer.cleared"] and commands == []


def test_a_responder_that_reads_transcripts_gets_them_but_the_client_sees_none():
    s = make(responder="echo")
    started, start_commands, stopped, end_commands = turn(s, 0, 20_000, 36_000)
    item = started[0].item_id
    assert [type(c) for c in start_commands][:2] == [StartTranscript, FeedTranscriber]
    assert RequestPartial not in [type(c) for c in start_commands]  # nobody sees partials
    assert end_commands[-1] == FinalizeTranscript(item)
    s.receive_transcript_delta(item, TranscriptDelta("say"))  # live and committed: unsent
    assert drain(s)[0] == []
    assert types(stopped) == [
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        "response.created",  # waits for the transcript the responder reads
    ]
    assert stopped[3].item.content[0].transcript is None
    s.receive_transcript(item, Transcript("say it back", "en", 0.0, 1.2))
    events, commands = drain(s)
    assert shown(events) == [] and "conversation.item.done" not in types(events)
    assert [c.text for c in commands if isinstance(c, Synthesize)] == ["say it back"]
    retrieved, _ = send(s, {"type": "conversation.item.retrieve", "item_id": item})
    assert retrieved[0].item.content[0].transcript is None  # the client still sees none


def test_the_reply_request_carries_the_unshown_transcript():
    s = Session(
        RealtimeSession(),
        ids=SequentialIds(),
        created_at=0.0,
        capabilities=Capabilities(reads_transcripts=True),
    )
    drain(s)
    started, _, _, _ = turn(s, 0, 20_000, 36_000)
    item = started[0].item_id
    s.receive_transcript(item, Transcript("what time is it", "en", 0.0, 1.2))
    events, commands = drain(s)
    assert shown(events) == []
    (generate,) = [c for c in commands if isinstance(c, GenerateReply)]
    assert generate.request.latest_user_item_id == item
    (user,) = [i for i in generate.request.items if i.id == item]
    assert user.content[0].transcript == "what time is it"


def test_a_failed_internal_transcript_fails_the_response_without_a_transcription_event():
    s = make(responder="echo")
    started, _, _, _ = turn(s, 0, 20_000, 36_000)
    s.receive_transcription_failed(started[0].item_id, "The audio could not be transcribed.")
    events, _ = drain(s)
    assert shown(events) == [] and types(events) == ["error", "response.done"]
    assert events[1].response.status == "failed"
    assert events[0].error.message == events[1].response.status_details.error.message


# --- turning it on and off -------------------------------------------------------------------


def test_turning_transcription_on_applies_from_the_next_turn():
    s = make()
    append(s, 3.0)
    s.receive_vad_events([VADEvent(SpeechEdge.START, 0, 0.9)], 8_000)
    first = drain(s)[0][0].item_id
    events = update(s, transcription({"model": "gpt-4o-transcribe"}))
    assert types(events) == ["session.updated"] and s.transcribes
    s.receive_vad_events([VADEvent(SpeechEdge.END, 12_000, 0.1)], 20_000)
    events, commands = drain(s)  # the turn began untranscribed and stays so
    assert asr(commands) == [] and "conversation.item.done" in types(events)
    s.receive_vad_events([VADEvent(SpeechEdge.START, 24_000, 0.9)], 32_000)
    events, commands = drain(s)
    second = events[0].item_id
    assert second != first and [type(c) for c in asr(commands)][:2] == [
        StartTranscript,
        FeedTranscriber,
    ]
    s.receive_transcript_delta(second, TranscriptDelta("Hello"))
    assert types(drain(s)[0]) == [TRANSCRIPTION_EVENTS + "delta"]
    s.receive_vad_events([VADEvent(SpeechEdge.END, 40_000, 0.1)], 46_000)
    events, commands = drain(s)
    assert "conversation.item.done" not in types(events)  # it waits for the transcript
    assert commands[-1] == FinalizeTranscript(second)
    s.receive_transcript(second, Transcript("Hello there.", "en", 1.5, 2.5))
    events, _ = drain(s)
    assert types(events) == [TRANSCRIPTION_EVENTS + "completed", "conversation.item.done"]
    assert events[1].item.content[0].transcript == "Hello there."


def test_turning_it_off_mid_turn_still_shows_that_turn():
    s = make(TRANSCRIBED)
    append(s, 2.0)
    s.receive_vad_events([VADEvent(SpeechEdge.START, 0, 0.9)], 8_000)
    item = drain(s)[0][0].item_id
    update(s, transcription(None))
    assert not s.transcribes
    s.receive_vad_events([VADEvent(SpeechEdge.END, 12_000, 0.1)], 20_000)
    _, commands = drain(s)
    assert commands[-1] == FinalizeTranscript(item)
    s.receive_transcript(item, Transcript("Bye.", "en", 0.0, 0.8))
    assert shown(drain(s)[0]) == [TRANSCRIPTION_EVENTS + "completed"]


def test_a_transcription_session_always_transcribes():
    config = TranscriptionSession.model_validate(
        {"audio": {"input": {"transcription": None, "turn_detection": None}}}
    )
    s = make(config)
    append(s, 0.5)
    _, commands = send(s, {"type": "input_audio_buffer.commit"})
    assert [type(c) for c in commands] == [StartTranscript, FeedTranscriber, FinalizeTranscript]
    s.receive_transcript(commands[0].item_id, Transcript("hi", "en", 0.0, 0.5))
    assert shown(drain(s)[0]) == [TRANSCRIPTION_EVENTS + "completed"]


# --- logprobs --------------------------------------------------------------------------------

TOKENS = (
    TokenLogprob(" Hi", -0.05, (32, 72, 105)),
    TokenLogprob(" caf", -0.7, (32, 99, 97, 102)),
    TokenLogprob("\u00e9", -0.2, (195, 169)),
)


def completed_for(s: Session, transcript: Transcript) -> ev.InputAudioTranscriptionCompleted:
    """Commit half a second of audio manually and answer with ``transcript``."""
    append(s, 0.5)
    _, commands = send(s, {"type": "input_audio_buffer.commit"})
    s.receive_transcript(commands[0].item_id, transcript)
    events, _ = drain(s)
    assert isinstance(events[0], ev.InputAudioTranscriptionCompleted)
    return events[0]


def manual_transcribed(**capabilities: bool) -> Session:
    s = make(TRANSCRIBED, **capabilities)
    update(s, {"audio": {"input": {"turn_detection": None}}})
    return s


def test_logprobs_come_only_when_included():
    s = manual_transcribed(asr_logprobs=True)
    with_tokens = Transcript("Hi café", "en", 0.0, 0.5, logprobs=TOKENS)
    plain = completed_for(s, with_tokens)
    assert plain.logprobs is None
    assert json.loads(dump_server_event(plain))["logprobs"] is None
    events = update(s, {"include": LOGPROBS})
    assert types(events) == ["session.updated"] and events[0].session.include == LOGPROBS
    included = completed_for(s, with_tokens)
    assert included.transcript == "Hi café"
    assert json.loads(dump_server_event(included))["logprobs"] == [
        {"token": " Hi", "logprob": -0.05, "bytes": [32, 72, 105]},
        {"token": " caf", "logprob": -0.7, "bytes": [32, 99, 97, 102]},
        {"token": "\u00e9", "logprob": -0.2, "bytes": [195, 169]},
    ]
    # a transcript without logprobs sends what there is: none
    assert completed_for(s, Transcript("Hi", "en", 0.0, 0.5)).logprobs is None
    update(s, {"include": None})
    assert completed_for(s, with_tokens).logprobs is None


def test_logprobs_in_a_beta_transcription_session_update():
    s = make(TranscriptionSession(), asr_logprobs=True)
    beta = {
        "type": "transcription_session.update",
        "session": {"include": LOGPROBS, "turn_detection": None},
    }
    s.receive_client_event(parse_client_event(json.dumps(beta), Dialect.BETA))
    events, _ = drain(s)
    assert types(events) == ["session.updated"] and s.wants_logprobs
    assert completed_for(s, Transcript("Hi café", "en", 0, 1, logprobs=TOKENS)).logprobs == [
        ev.LogProb(token=t.token, logprob=t.logprob, bytes=list(t.bytes)) for t in TOKENS
    ]


def test_logprobs_are_refused_when_the_engine_cannot_give_them():
    s = manual_transcribed()  # asr_logprobs defaults to False
    events = update(s, {"include": LOGPROBS, "instructions": "Be brief."}, event_id="u1")
    assert types(events) == ["error"]
    error = events[0].error
    assert (error.type, error.code, error.param, error.event_id) == (
        "invalid_request_error",
        "invalid_value",
        "session.include",
        "u1",
    )
    assert "logprobs" in error.message
    assert s.config.include is None and s.config.instructions == ""  # nothing applied
    events = update(s, {"instructions": "Be brief."})  # the session carries on
    assert types(events) == ["session.updated"] and s.config.instructions == "Be brief."
    assert completed_for(s, Transcript("Hi", "en", 0, 1, logprobs=TOKENS)).logprobs is None


def test_an_initial_config_asking_for_logprobs_is_refused_after_creation():
    config = TRANSCRIBED.model_copy(update={"include": LOGPROBS})
    s = Session(config, ids=SequentialIds(), created_at=0.0)
    events = s.events_to_send()
    assert types(events) == ["session.created", "conversation.created", "error"]
    assert events[0].session.include is None and events[2].error.param == "session.include"
    accepted = Session(
        config, ids=SequentialIds(), created_at=0.0, capabilities=Capabilities(asr_logprobs=True)
    )
    assert types(accepted.events_to_send()) == ["session.created", "conversation.created"]
    assert accepted.wants_logprobs


def test_capabilities_read_the_engines_gives_logprobs():
    class LogprobASR(ScriptedASR):
        gives_logprobs = True

    vad = ScriptedVAD([])
    plain = capabilities(Engines(vad=vad, asr=ScriptedASR("hi"), tts=None), EchoResponder())
    assert not plain.asr_logprobs and plain.reads_transcripts
    able = capabilities(Engines(vad=vad, asr=LogprobASR("hi"), tts=None), SayResponder())
    assert able.asr_logprobs and not able.reads_transcripts
