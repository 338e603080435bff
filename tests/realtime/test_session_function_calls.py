"""Function calls in responses: items, argument events, and what the next reply sees."""

from __future__ import annotations

import json

from protocol import FunctionCall, FunctionCallOutput, RealtimeSession, parse_client_event
from realtime.session import Capabilities, Session
from realtime.session.commands import CancelReply, GenerateReply, Synthesize
from realtime.session.ids import SequentialIds
from realtime.session.replies import FunctionCallDelta, ReplyDone, TextDelta


def make(**config) -> Session:
    s = Session(
        RealtimeSession.model_validate(config),
        ids=SequentialIds(),
        created_at=0.0,
        capabilities=Capabilities(),
    )
    s.events_to_send()
    s.commands()
    return s


def send(s: Session, payload: dict) -> tuple[list, list]:
    s.receive_client_event(parse_client_event(json.dumps(payload)))
    return s.events_to_send(), s.commands()


def start(s: Session, **response) -> str:
    _, commands = send(s, {"type": "response.create", "response": response})
    (generate,) = [c for c in commands if isinstance(c, GenerateReply)]
    return generate.request.response_id


def call(s: Session, rid: str, call_id: str, name: str, *pieces: str) -> None:
    """Stream a function call in ``pieces`` of its arguments."""
    for piece in pieces:
        s.receive_reply_part(rid, FunctionCallDelta(call_id, name, piece))


def test_a_function_call_streams_its_arguments_and_ends_the_response():
    s = make(output_modalities=["text"])
    rid = start(s)
    call(s, rid, "call_1", "get_weather", '{"city": ', '"Paris"}')
    s.receive_reply_part(rid, ReplyDone())
    events = s.events_to_send()
    assert [e.type for e in events] == [
        "response.output_item.added",
        "conversation.item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
    ]
    added, done = events[0].item, events[5].item
    assert isinstance(added, FunctionCall) and added.status == "in_progress"
    assert (done.call_id, done.name, done.arguments) == (
        "call_1",
        "get_weather",
        '{"city": "Paris"}',
    )
    assert done.status == "completed" and events[4].arguments == done.arguments
    assert {e.item_id for e in events[2:5]} == {added.id}
    response = events[-1].response
    assert response.status == "completed" and response.output == [done]
    assert response.conversation_id and response.conversation_id.startswith("conv")


def test_text_then_calls_get_their_own_output_indexes_and_the_answer_continues_the_turn():
    s = make(output_modalities=["text"])
    rid = start(s)
    s.receive_reply_part(rid, TextDelta("Let me check."))
    call(s, rid, "call_1", "get_weather", '{"city": "Paris"}')
    call(s, rid, "call_2", "get_time", "{}")
    s.receive_reply_part(rid, ReplyDone())
    events = s.events_to_send()
    added = [
        (e.output_index, e.item.type) for e in events if e.type == "response.output_item.added"
    ]
    assert added == [(0, "message"), (1, "function_call"), (2, "function_call")]
    output = events[-1].response.output
    assert [i.type for i in output] == ["message", "function_call", "function_call"]
    # the client runs the function and asks for the rest of the turn
    item = {"type": "function_call_output", "call_id": "call_1", "output": '{"temp_c": 21}'}
    send(s, {"type": "conversation.item.create", "item": item})
    _, commands = send(s, {"type": "response.create"})
    (generate,) = [c for c in commands if isinstance(c, GenerateReply)]
    kinds = [type(i) for i in generate.request.items]
    assert kinds[1:] == [FunctionCall, FunctionCall, FunctionCallOutput]
    assert generate.request.items[1].arguments == '{"city": "Paris"}'


def test_malformed_arguments_fail_the_response_with_an_error_and_the_session_goes_on():
    s = make(output_modalities=["text"])
    rid = start(s)
    call(s, rid, "call_1", "get_weather", '{"city": "Par')
    s.receive_reply_part(rid, ReplyDone())
    events = s.events_to_send()
    error = next(e for e in events if e.type == "error")
    assert "malformed JSON arguments for 'get_weather'" in error.error.message
    done = events[-1].response
    assert done.status == "failed" and done.status_details.error.message == error.error.message
    assert done.output[0].status == "incomplete"
    rid = start(s)
    s.receive_reply_part(rid, TextDelta("Sorry, again?"))
    s.receive_reply_part(rid, ReplyDone())
    assert s.events_to_send()[-1].response.status == "completed"


def test_arguments_that_are_not_an_object_are_malformed_too():
    s = make(output_modalities=["text"])
    rid = start(s)
    call(s, rid, "call_1", "get_weather", '["Paris"]')
    s.receive_reply_part(rid, ReplyDone())
    done = s.events_to_send()[-1].response
    assert done.status == "failed" and "not a JSON object" in done.status_details.error.message


def test_cancelling_during_a_call_closes_it_incomplete():
    s = make()
    rid = start(s)
    s.receive_reply_part(rid, TextDelta("Checking. "))
    s.receive_reply_part(rid, TextDelta("One moment"))
    call(s, rid, "call_1", "get_weather", '{"ci')
    s.events_to_send(), s.commands()
    events, commands = send(s, {"type": "response.cancel"})
    assert CancelReply(rid) in commands
    types = [e.type for e in events]
    assert types.index("response.function_call_arguments.done") < types.index("response.done")
    done = events[-1].response
    assert done.status == "cancelled"
    assert [(i.type, i.status) for i in done.output] == [
        ("message", "incomplete"),
        ("function_call", "incomplete"),
    ]
    assert done.output[0].content[0].transcript == "Checking."


def test_an_out_of_band_call_stays_out_of_the_conversation():
    s = make(output_modalities=["text"])
    rid = start(s, conversation="none", input=[])
    call(s, rid, "call_1", "classify", '{"label": "greeting"}')
    s.receive_reply_part(rid, ReplyDone())
    events = s.events_to_send()
    assert not [e for e in events if e.type.startswith("conversation.")]
    assert events[-1].response.conversation_id is None
    assert events[-1].response.output[0].arguments == '{"label": "greeting"}'


def test_audio_after_a_call_is_still_spoken():
    s = make()
    rid = start(s)
    s.receive_reply_part(rid, TextDelta("Checking the weather."))
    call(s, rid, "call_1", "get_weather", '{"city": "Paris"}')
    s.receive_reply_part(rid, ReplyDone())
    s.events_to_send()
    synth = [c for c in s.commands() if isinstance(c, Synthesize)]
    assert [(c.text, c.last) for c in synth] == [("Checking the weather.", True)]
    s.receive_synthesized_audio(rid, bytes(4_800), final=True)
    done = s.events_to_send()[-1].response
    assert done.status == "completed" and [i.type for i in done.output] == [
        "message",
        "function_call",
    ]
