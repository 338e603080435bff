"""Speculative finals, the responder seam and native audio: synchronous, no models."""

from __future__ import annotations

import json

import numpy as np

from engines.base import SpeechEdge, Transcript, VADEvent
from protocol import RealtimeSession, parse_client_event
from realtime.session import Capabilities, Session
from realtime.session.commands import (
    CancelReply,
    CancelSynthesis,
    ConfigureVAD,
    DetectSpeech,
    FeedTranscriber,
    FinalizeTranscript,
    GenerateReply,
    ReleaseReply,
    RequestPartial,
    SpeculateFinal,
    StartTranscript,
    Synthesize,
)
from realtime.session.ids import SequentialIds
from realtime.session.replies import ReplyDone, ReplyFailed, TextDelta, Usage

SPEECH, PAUSE, RESUME, END = SpeechEdge.START, SpeechEdge.PAUSE, SpeechEdge.RESUME, SpeechEdge.END


def make(**capabilities) -> Session:
    """A realtime session that asks for input transcription, drained."""
    s = Session(
        RealtimeSession.model_validate(
            {"audio": {"input": {"transcription": {"model": "whisper-1"}}}}
        ),
        ids=SequentialIds(),
        created_at=0.0,
        capabilities=Capabilities(**capabilities),
    )
    s.events_to_send()
    s.commands()
    return s


def send(s: Session, payload: dict) -> tuple[list, list]:
    s.receive_client_event(parse_client_event(json.dumps(payload)))
    return s.events_to_send(), s.commands()


def listen(s: Session, seconds: float) -> None:
    s.receive_audio(np.zeros(int(16_000 * seconds), np.int16), 16_000)
    s.events_to_send()
    s.commands()


def vad(s: Session, *edges: tuple[SpeechEdge, int], upto: int) -> tuple[list, list]:
    s.receive_vad_events([VADEvent(edge, sample, 0.5) for edge, sample in edges], upto)
    return s.events_to_send(), s.commands()


def of(kind, commands) -> list:
    return [c for c in commands if isinstance(c, kind)]


# --- speculative finals -------------------------------------------------------------------


def test_the_detector_reports_pauses_only_when_the_transcriber_can_speculate():
    plain = Session(RealtimeSession(), ids=SequentialIds(), created_at=0.0)
    assert plain.commands() == [ConfigureVAD(plain.vad_options)]
    assert plain.vad_options.pause_ms is None
    fast = Session(
        RealtimeSession(),
        ids=SequentialIds(),
        created_at=0.0,
        capabilities=Capabilities(speculative_asr=True),
    )
    (configure,) = fast.commands()
    assert configure.options.pause_ms == 120
    assert configure.options.silence_duration_ms == fast.vad_options.silence_duration_ms


def test_a_pause_speculates_after_its_feeds_and_the_final_reuses_it():
    s = make(speculative_asr=True)
    listen(s, 3.0)
    _, commands = vad(s, (SPEECH, 0), upto=16_000)
    (start,) = of(StartTranscript, commands)
    item = start.item_id
    _, commands = vad(s, (PAUSE, 17_000), upto=20_000)
    assert [type(c) for c in commands] == [FeedTranscriber, SpeculateFinal]
    assert commands[0].chunk.end == 20_000  # the decode covers the audio up to the pause
    assert commands[1] == SpeculateFinal(item, 1)
    _, commands = vad(s, upto=32_000)  # silence goes on: no partials while paused
    assert of(RequestPartial, commands) == [] and of(FeedTranscriber, commands)
    _, commands = vad(s, (END, 17_000), upto=40_000)
    assert of(FinalizeTranscript, commands) == [FinalizeTranscript(item, speculation=1)]


def test_speech_after_a_pause_voids_the_speculation():
    s = make(speculative_asr=True)
    listen(s, 4.0)
    vad(s, (SPEECH, 0), upto=16_000)
    _, commands = vad(s, (PAUSE, 17_000), upto=20_000)
    (first,) = of(SpeculateFinal, commands)
    _, commands = vad(s, (RESUME, 21_000), upto=30_000)  # the speaker went on
    assert of(RequestPartial, commands)  # partials resume
    _, commands = vad(s, (PAUSE, 33_000), upto=36_000)
    (second,) = of(SpeculateFinal, commands)
    assert (first.token, second.token) == (1, 2)
    _, commands = vad(s, (RESUME, 37_000), (END, 50_000), upto=60_000)
    (final,) = of(FinalizeTranscript, commands)
    assert final.speculation is None  # the resume came before the end: decode again


def test_a_pause_in_the_batch_that_ends_the_turn_speculates_nothing():
    s = make(speculative_asr=True)
    listen(s, 2.0)
    vad(s, (SPEECH, 0), upto=8_000)
    _, commands = vad(s, (PAUSE, 9_000), (END, 9_000), upto=30_000)
    assert of(SpeculateFinal, commands) == []
    (final,) = of(FinalizeTranscript, commands)
    assert final.speculation is None


def test_without_a_speculative_transcriber_pauses_are_ignored():
    s = make(speculative_asr=False)
    listen(s, 2.0)
    vad(s, (SPEECH, 0), upto=8_000)
    _, commands = vad(s, (PAUSE, 9_000), upto=20_000)
    assert of(SpeculateFinal, commands) == [] and of(RequestPartial, commands)


# --- the responder seam -------------------------------------------------------------------


def test_a_reply_request_carries_the_conversation_snapshot():
    s = make()
    send(
        s, {"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief."}}
    )
    tool = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}
    send(s, {"type": "conversation.item.create", "item": item})
    events, commands = send(
        s,
        {
            "type": "response.create",
            "response": {"tools": [tool], "tool_choice": "required", "max_output_tokens": 50},
        },
    )
    assert [e.type for e in events] == ["response.created"]
    (generate,) = commands
    request = generate.request
    assert request.response_id == events[0].response.id
    assert request.instructions == "Be brief." and request.extra_instructions is None
    assert [i.content[0].text for i in request.items] == ["Hi"]
    assert [t.name for t in request.tools] == ["get_weather"]
    assert request.tool_choice == "required" and request.max_output_tokens == 50


def test_streamed_text_is_spoken_sentence_by_sentence_and_usage_is_reported():
    s = make()
    _, (generate,) = send(s, {"type": "response.create"})
    rid = generate.request.response_id
    s.receive_reply_part(rid, TextDelta("Hello there."))
    events, commands = s.events_to_send(), s.commands()
    assert [e.type for e in events] == [
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
        "response.output_audio_transcript.delta",
    ]
    assert commands == []  # one piece so far: it may be the whole reply
    s.receive_reply_part(rid, TextDelta(" How are you? Fine"))
    events, commands = s.events_to_send(), s.commands()
    assert [e.delta for e in events] == [" How are you? Fine"]
    spoken = [(c.text, c.last) for c in of(Synthesize, commands)]
    assert spoken == [("Hello there.", False), ("How are you?", False)]  # streamed: by sentence
    s.receive_reply_part(rid, ReplyDone(Usage(input_tokens=12, output_tokens=5)))
    _, commands = s.events_to_send(), s.commands()
    assert [(c.text, c.last) for c in of(Synthesize, commands)] == [("Fine", True)]
    s.receive_synthesized_audio(rid, bytes(4_800), final=True)
    done = s.events_to_send()[-1]
    assert done.type == "response.done" and done.response.status == "completed"
    assert done.response.output[0].content[0].transcript == "Hello there. How are you? Fine"
    assert (done.response.usage.input_tokens, done.response.usage.output_tokens) == (12, 5)


def test_a_reply_given_in_one_piece_is_spoken_in_one_piece():
    s = make()
    _, (generate,) = send(s, {"type": "response.create"})
    rid = generate.request.response_id
    s.receive_reply_part(rid, TextDelta("One. Two. Three."))
    s.receive_reply_part(rid, ReplyDone())
    s.events_to_send()
    (synth,) = s.commands()
    assert (synth.text, synth.last) == ("One. Two. Three.", True)


def test_a_failed_reply_fails_the_response_and_stops_its_speech():
    s = make()
    _, (generate,) = send(s, {"type": "response.create"})
    rid = generate.request.response_id
    s.receive_reply_part(rid, TextDelta("First. "))
    s.receive_reply_part(rid, TextDelta("Second"))
    s.events_to_send()
    assert [c.text for c in of(Synthesize, s.commands())] == ["First."]
    s.receive_reply_part(rid, ReplyFailed("The language model is unavailable."))
    events, commands = s.events_to_send(), s.commands()
    assert commands == [CancelSynthesis(rid)]
    done = events[-1]
    assert done.response.status == "failed"
    assert done.response.status_details.error.message == "The language model is unavailable."
    s.receive_reply_part(rid, TextDelta("late"))  # parts after the end change nothing
    assert s.events_to_send() == [] and s.commands() == []


def test_barge_in_while_generating_closes_the_reply_and_the_speech():
    s = make()
    _, (generate,) = send(s, {"type": "response.create"})
    rid = generate.request.response_id
    s.receive_reply_part(rid, TextDelta("A long story."))
    s.receive_reply_part(rid, TextDelta(" It goes"))
    s.events_to_send(), s.commands()
    listen(s, 1.0)
    events, commands = vad(s, (SPEECH, 0), upto=8_000)
    assert CancelSynthesis(rid) in commands and CancelReply(rid) in commands
    done = events[-1]
    assert done.response.status == "cancelled"
    assert done.response.status_details.reason == "turn_detected"
    # only what went to the speech engine was heard: the unfinished sentence never was
    assert done.response.output[0].content[0].transcript == "A long story."


def test_a_blank_reply_completes_without_an_item():
    s = make()
    _, (generate,) = send(s, {"type": "response.create"})
    s.receive_reply_part(generate.request.response_id, TextDelta("  "))
    s.receive_reply_part(generate.request.response_id, ReplyDone())
    events = s.events_to_send()
    assert [e.type for e in events] == ["response.done"] and events[0].response.output == []
    assert s.commands() == []


# --- native audio -------------------------------------------------------------------------


def test_native_audio_is_resampled_onto_the_timeline_like_appended_audio():
    s = make()
    s.receive_audio(np.zeros(48_000, np.int16), 48_000)  # one second at 48 kHz
    (first,) = s.commands()
    assert isinstance(first, DetectSpeech) and first.chunk.start == 0
    assert abs(len(first.chunk.samples) - 16_000) < 400  # soxr holds a few ms back
    s.receive_audio(np.zeros(8_000, np.int16), 8_000)  # the rate may change (new resampler)
    (second,) = s.commands()
    assert second.chunk.start == first.chunk.end  # contiguous on the timeline
    assert s.events_to_send() == []


def test_a_streamed_reply_speaks_its_first_clause_before_the_sentence_ends():
    s = make()
    _, (generate,) = send(s, {"type": "response.create"})
    rid = generate.request.response_id
    for piece in ("Well,", " in Paris today,", " it is sunny", " and warm, mostly.", " Bye, now"):
        s.receive_reply_part(rid, TextDelta(piece))
    s.receive_reply_part(rid, ReplyDone())
    s.events_to_send()
    spoken = [(c.text, c.last) for c in of(Synthesize, s.commands())]
    # "Well," alone is too short to say apart; later clauses wait for their sentence
    assert spoken == [
        ("Well, in Paris today,", False),
        ("it is sunny and warm, mostly.", False),
        ("Bye, now", True),
    ]


# --- early replies from speculative finals -------------------------------------------------


def conversing(*, early_replies: bool = True, quick: bool = False) -> Session:
    """A conversation (server_vad answers each turn) with a transcript-reading responder."""
    s = Session(
        RealtimeSession(),
        ids=SequentialIds(),
        created_at=0.0,
        capabilities=Capabilities(
            speculative_asr=True,
            reads_transcripts=True,
            early_replies=early_replies,
            quick_replies=quick,
        ),
    )
    s.events_to_send()
    s.commands()
    listen(s, 4.0)
    return s


def paused_turn(s: Session) -> tuple[str, int]:
    """A turn whose speaker paused; its item and speculation token."""
    _, commands = vad(s, (SPEECH, 0), upto=16_000)
    (start,) = of(StartTranscript, commands)
    _, commands = vad(s, (PAUSE, 17_000), upto=20_000)
    (speculate,) = of(SpeculateFinal, commands)
    return start.item_id, speculate.token


def final(s: Session, item: str, text: str) -> tuple[list, list]:
    s.receive_transcript(item, Transcript(text, "en", 0.0, 1.0))
    return s.events_to_send(), s.commands()


def test_a_speculative_final_starts_the_reply_early_and_the_response_releases_it():
    s = conversing()
    item, token = paused_turn(s)
    s.receive_speculative_transcript(item, token, "What time is it?")
    assert s.events_to_send() == []  # nothing the client sees yet
    (early,) = of(GenerateReply, s.commands())
    assert early.hold and early.request.latest_user_item_id == item
    assert early.request.items[-1].content[0].transcript == "What time is it?"
    events, commands = vad(s, (END, 17_000), upto=30_000)
    created = next(e for e in events if e.type == "response.created")
    assert created.response.id == early.request.response_id
    assert of(FinalizeTranscript, commands) == [FinalizeTranscript(item, speculation=token)]
    _, commands = final(s, item, "What time is it?")
    assert commands == [ReleaseReply(early.request.response_id)]  # no second request
    s.receive_reply_part(created.response.id, TextDelta("Noon."))
    s.receive_reply_part(created.response.id, ReplyDone())
    events = s.events_to_send()
    assert any(e.type == "response.output_audio_transcript.delta" for e in events)


def test_a_different_final_asks_again_under_the_same_response():
    s = conversing()
    item, token = paused_turn(s)
    s.receive_speculative_transcript(item, token, "What time")
    (early,) = of(GenerateReply, s.commands())
    vad(s, (END, 17_000), upto=30_000)
    _, commands = final(s, item, "What time is it?")
    rid = early.request.response_id
    assert commands[0] == CancelReply(rid)
    (again,) = of(GenerateReply, commands)
    assert not again.hold and again.request.response_id == rid
    assert again.request.items[-1].content[0].transcript == "What time is it?"


def test_speech_after_the_pause_cancels_the_early_reply():
    s = conversing()
    item, token = paused_turn(s)
    s.receive_speculative_transcript(item, token, "What time")
    (early,) = of(GenerateReply, s.commands())
    _, commands = vad(s, (RESUME, 21_000), upto=24_000)
    assert CancelReply(early.request.response_id) in commands
    s.receive_speculative_transcript(item, token, "What time")  # late: the pause is over
    assert of(GenerateReply, s.commands()) == []


def test_no_early_reply_without_an_automatic_response():
    s = conversing()
    send(
        s,
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {
                    "input": {"turn_detection": {"type": "server_vad", "create_response": False}}
                },
            },
        },
    )
    item, token = paused_turn(s)
    s.receive_speculative_transcript(item, token, "Hello")
    assert of(GenerateReply, s.commands()) == []


def test_voxgate_say_speaks_the_text_verbatim_without_asking_the_responder():
    s = conversing()  # a transcript-reading responder (an LLM) behind the session
    events, commands = send(
        s, {"type": "response.create", "response": {"voxgate": {"say": "Your table is ready."}}}
    )
    assert of(GenerateReply, commands) == []
    spoken = [e.delta for e in events if e.type == "response.output_audio_transcript.delta"]
    assert spoken == ["Your table is ready."]
    assert [(c.text, c.last) for c in of(Synthesize, commands)] == [("Your table is ready.", True)]


def test_early_replies_can_be_switched_off():
    s = conversing(early_replies=False)
    item, token = paused_turn(s)
    s.receive_speculative_transcript(item, token, "Hello")
    assert of(GenerateReply, s.commands()) == []
    _, commands = vad(s, (END, 17_000), upto=30_000)
    assert of(FinalizeTranscript, commands) == [FinalizeTranscript(item, speculation=token)]


# --- quick replies: the reply answers the quick guess made in the pause ----------------------


def test_quick_replies_ask_for_a_guess_and_release_the_reply_when_the_turn_ends():
    s = conversing(quick=True)
    update = {"type": "realtime", "audio": {"input": {"transcription": {"model": "whisper-1"}}}}
    send(s, {"type": "session.update", "session": update})
    _, commands = vad(s, (SPEECH, 0), upto=16_000)
    (start,) = of(StartTranscript, commands)
    _, commands = vad(s, (PAUSE, 17_000), upto=20_000)
    (speculate,) = of(SpeculateFinal, commands)
    assert speculate.guess
    item, token = start.item_id, speculate.token
    s.receive_speculative_transcript(item, token, "what time is it", quick=True)
    (early,) = of(GenerateReply, s.commands())
    assert early.hold and early.request.items[-1].content[0].transcript == "what time is it"
    events, commands = vad(s, (END, 17_000), upto=30_000)
    created = next(e for e in events if e.type == "response.created")
    assert created.response.id == early.request.response_id
    assert ReleaseReply(early.request.response_id) in commands  # not waiting for the final
    assert of(FinalizeTranscript, commands) == [FinalizeTranscript(item, speculation=token)]
    events, commands = final(s, item, "What time is it?")
    assert of(GenerateReply, commands) == [] and of(CancelReply, commands) == []
    done = [e for e in events if e.type.endswith("input_audio_transcription.completed")]
    assert [e.transcript for e in done] == ["What time is it?"]  # the item keeps the final


def test_quick_replies_ignore_the_final_models_speculation():
    s = conversing(quick=True)
    item, token = paused_turn(s)
    s.receive_speculative_transcript(item, token, "What time is it?")  # not the guess
    assert of(GenerateReply, s.commands()) == []


def test_a_guess_that_arrives_after_the_turn_ended_is_answered_at_once():
    s = conversing(quick=True)
    item, token = paused_turn(s)
    events, commands = vad(s, (END, 17_000), upto=30_000)
    created = next(e for e in events if e.type == "response.created")
    assert of(GenerateReply, commands) == []  # waiting: no guess yet
    s.receive_speculative_transcript(item, token, "what time is it", quick=True)
    (reply,) = of(GenerateReply, s.commands())
    assert not reply.hold and reply.request.response_id == created.response.id
    assert reply.request.items[-1].content[0].transcript == "what time is it"
    _, commands = final(s, item, "What time is it?")
    assert of(GenerateReply, commands) == []  # answered once


def test_a_guess_of_a_resumed_turn_is_not_answered():
    s = conversing(quick=True)
    item, token = paused_turn(s)
    vad(s, (RESUME, 21_000), upto=24_000)
    s.receive_speculative_transcript(item, token, "what time", quick=True)
    assert of(GenerateReply, s.commands()) == []


def test_a_conversation_changed_since_the_guess_is_answered_again():
    s = conversing(quick=True)
    item, token = paused_turn(s)
    s.receive_speculative_transcript(item, token, "what time is it", quick=True)
    (early,) = of(GenerateReply, s.commands())
    send(
        s,
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "system",
                "content": [{"type": "input_text", "text": "Answer in French."}],
            },
        },
    )
    _, commands = vad(s, (END, 17_000), upto=30_000)
    rid = early.request.response_id
    assert CancelReply(rid) in commands
    (again,) = of(GenerateReply, commands)
    assert not again.hold and again.request.response_id == rid
    texts = [
        p.text for i in again.request.items for p in getattr(i, "content", []) if hasattr(p, "text")
    ]
    assert "Answer in French." in texts
    assert again.request.items[-1].content[0].transcript == "what time is it"


def test_no_guess_when_the_turn_gets_no_automatic_response():
    s = conversing(quick=True)
    vad_off = {"type": "server_vad", "create_response": False}
    send(
        s,
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"input": {"turn_detection": vad_off}}},
        },
    )
    _, commands = vad(s, (SPEECH, 0), upto=16_000)
    _, commands = vad(s, (PAUSE, 17_000), upto=20_000)
    (speculate,) = of(SpeculateFinal, commands)
    assert not speculate.guess  # a transcript-only turn: no guess, no delayed final
