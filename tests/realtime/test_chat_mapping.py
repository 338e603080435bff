"""The llm responder's pure parts: reply requests as chat bodies, chunks as reply parts."""

from __future__ import annotations

from protocol import (
    AssistantMessage,
    FunctionCall,
    FunctionCallOutput,
    InputAudio,
    InputText,
    OutputAudio,
    SystemMessage,
    UserMessage,
)
from protocol.session import FunctionTool, ToolChoiceFunction
from realtime.responders.chat_request import SPOKEN_DEFAULT, chat_body
from realtime.responders.chat_stream import ChunkReader, MalformedChunk
from realtime.session.replies import (
    FunctionCallDelta,
    ReplyFailed,
    ReplyRequest,
    TextDelta,
    Usage,
)

WEATHER = FunctionTool(
    name="get_weather",
    description="Weather in a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)


def request(*items, **fields) -> ReplyRequest:
    return ReplyRequest(response_id="resp_1", items=tuple(items), **fields)


def test_the_conversation_becomes_messages_in_order():
    body = chat_body(
        request(
            SystemMessage(content=[InputText(text="Speak French.")]),
            UserMessage(content=[InputAudio(transcript="What's the weather in Paris?")]),
            AssistantMessage(content=[OutputAudio(transcript="Let me check.")]),
            FunctionCall(call_id="call_1", name="get_weather", arguments='{"city": "Paris"}'),
            FunctionCallOutput(call_id="call_1", output='{"temp_c": 21}'),
            UserMessage(content=[InputText(text="And"), InputAudio(transcript=" in Rome? ")]),
            instructions="Be brief.",
            tools=(WEATHER,),
            temperature=0.6,
            max_output_tokens=200,
        ),
        "gpt-x",
    )
    assert body["model"] == "gpt-x" and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": "Speak French."},
        {"role": "user", "content": "What's the weather in Paris?"},
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 21}'},
        {"role": "user", "content": "And in Rome?"},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather in a city.",
                "parameters": WEATHER.parameters,
            },
        }
    ]
    assert body["tool_choice"] == "auto"
    assert (body["temperature"], body["max_tokens"]) == (0.6, 200)


def test_response_instructions_replace_the_session_instructions_for_that_response():
    body = chat_body(
        request(
            UserMessage(content=[InputText(text="Hi")]),
            instructions="You are a helpful assistant.",
            extra_instructions="You are a helpful assistant.\nGreet the user.",
        ),
        None,
    )
    assert "model" not in body  # the backend fills it in
    assert body["messages"] == [
        {"role": "system", "content": "You are a helpful assistant.\nGreet the user."},
        {"role": "user", "content": "Hi"},
    ]


def test_turns_without_words_and_defaults():
    body = chat_body(
        request(
            UserMessage(content=[InputAudio(transcript=None)]),
            UserMessage(content=[InputAudio(transcript="  ")]),
            tools=(WEATHER,),
            tool_choice="none",
        ),
        "m",
    )
    assert body["messages"] == [{"role": "system", "content": SPOKEN_DEFAULT}]
    assert "tools" not in body and "max_tokens" not in body and "temperature" not in body


def test_consecutive_calls_share_one_assistant_message_and_orphan_outputs_stay_readable():
    body = chat_body(
        request(
            FunctionCall(call_id="a", name="get_weather", arguments="{}"),
            FunctionCall(call_id="b", name="get_weather", arguments="{}"),
            FunctionCallOutput(call_id="a", output="sunny"),
            FunctionCallOutput(call_id="b", output="rain"),
            FunctionCallOutput(call_id="gone", output="42"),
            tool_choice=ToolChoiceFunction(name="get_weather"),
            tools=(WEATHER,),
        ),
        "m",
    )
    messages = body["messages"][1:]
    assert [m["role"] for m in messages] == ["assistant", "tool", "tool", "system"]
    assert [c["id"] for c in messages[0]["tool_calls"]] == ["a", "b"]
    assert messages[0]["content"] is None
    assert "42" in messages[3]["content"]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


def chunk(delta=None, finish=None, **extra) -> dict:
    return {"choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}], **extra}


def test_chunks_become_text_call_and_usage_parts():
    reader = ChunkReader(frozenset({"get_weather"}))
    stream = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Checking"}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_9",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": ' "Oslo"}'}}]}),
        chunk(finish="tool_calls"),
        {"choices": [], "usage": {"prompt_tokens": 30, "completion_tokens": 9}},
    ]
    parts = [part for c in stream for part in reader.read(c)]
    assert parts == [
        TextDelta("Checking"),
        FunctionCallDelta("call_9", "get_weather", ""),
        FunctionCallDelta("call_9", "get_weather", '{"city":'),
        FunctionCallDelta("call_9", "get_weather", ' "Oslo"}'),
    ]
    assert reader.usage == Usage(30, 9) and reader.finish_reason == "tool_calls"
    assert not reader.failed


def test_an_unknown_function_a_refusal_and_a_malformed_chunk_fail_clearly():
    reader = ChunkReader(frozenset({"get_weather"}))
    call = {"index": 0, "id": "c", "function": {"name": "rm_rf", "arguments": ""}}
    (part,) = reader.read(chunk({"tool_calls": [call]}))
    assert isinstance(part, ReplyFailed) and "unknown function 'rm_rf'" in part.message
    assert reader.failed
    refusing = ChunkReader(frozenset())
    (part,) = refusing.read(chunk({"refusal": "I can't help with that."}))
    assert isinstance(part, ReplyFailed) and "refused" in part.message
    try:
        list(ChunkReader(frozenset()).read({"object": "chat.completion.chunk"}))
    except MalformedChunk as exc:
        assert "without choices" in str(exc)
    else:
        raise AssertionError("a chunk without choices was accepted")


def test_a_call_without_an_id_gets_one():
    reader = ChunkReader(frozenset({"get_weather"}))
    first = {"index": 0, "function": {"name": "get_weather", "arguments": "{}"}}
    (part,) = reader.read(chunk({"tool_calls": [first]}))
    assert isinstance(part, FunctionCallDelta) and part.call_id.startswith("call_")


def test_a_long_conversation_keeps_the_system_prompt_and_the_latest_messages():
    from realtime.responders.chat_backends import recent_messages

    system = {"role": "system", "content": "Be brief."}
    turns = [
        {"role": ("user", "assistant")[i % 2], "content": f"turn {i:03d} " * 10} for i in range(50)
    ]
    kept = recent_messages([system, *turns], budget_chars=1_000)
    assert kept[0] == system and kept[-1] == turns[-1]
    assert 2 < len(kept) <= 12 and sum(len(m["content"]) for m in kept) <= 1_000
    calls = [
        {"role": "assistant", "content": None, "tool_calls": [{"id": "a"}]},
        {"role": "tool", "tool_call_id": "a", "content": "x" * 500},
        {"role": "user", "content": "and?"},
    ]
    assert recent_messages([system, *calls], budget_chars=520) == [
        system,
        calls[2],
    ]  # the tool result fits, its call does not
