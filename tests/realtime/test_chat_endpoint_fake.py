"""``testkit.chat_endpoint``: the scripted Chat Completions endpoint, driven by the real SDK."""

from __future__ import annotations

import json
import time
from contextlib import asynccontextmanager

import openai
import pytest

from testkit.chat_endpoint import (
    Endless,
    HttpError,
    MixedReply,
    ScriptedChatEndpoint,
    Stall,
    TextReply,
    ToolCallReply,
)

KEY = "sk-test"
MESSAGES = [
    {"role": "system", "content": "You are a helpful voice assistant."},
    {"role": "user", "content": "What is the weather like in Paris today?"},
]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather of a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["city"],
        },
    },
}
ARGUMENTS = '{"city": "Paris", "unit": "celsius"}'


def client_of(endpoint: ScriptedChatEndpoint, timeout: float = 5.0) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=endpoint.base_url, api_key=KEY, max_retries=0, timeout=timeout
    )


async def stream_chunks(client: openai.AsyncOpenAI, **extra) -> list:
    stream = await client.chat.completions.create(
        model="gpt-test", messages=MESSAGES, stream=True, **extra
    )
    return [chunk async for chunk in stream]


@asynccontextmanager
async def served(script, *, client_timeout: float = 5.0, **options):
    """The endpoint playing ``script``, and an SDK client of it."""
    async with (
        ScriptedChatEndpoint(script, **options) as endpoint,
        client_of(endpoint, client_timeout) as client,
    ):
        yield endpoint, client


async def helper_stream(client: openai.AsyncOpenAI) -> tuple[list, object]:
    """The events of the SDK's ``chat.completions.stream`` helper, and its final completion."""
    async with client.chat.completions.stream(
        model="gpt-test", messages=MESSAGES, tools=[WEATHER_TOOL]
    ) as stream:
        events = [event async for event in stream]
        return events, await stream.get_final_completion()


async def open_stream(client: openai.AsyncOpenAI):
    return await client.chat.completions.create(model="gpt-test", messages=MESSAGES, stream=True)


async def test_text_streams_in_pieces_like_openai_and_reports_usage():
    text = "It is sunny in Paris, about twenty degrees."
    async with served([TextReply(text)], api_key=KEY) as (endpoint, client):
        chunks = await stream_chunks(client, stream_options={"include_usage": True})

    first, *middle, last_choice, usage_chunk = chunks
    assert first.choices[0].delta.role == "assistant" and first.choices[0].delta.content == ""
    assert len(middle) == len(text.split())  # one word a chunk
    assert "".join(chunk.choices[0].delta.content for chunk in middle) == text
    assert all(chunk.choices[0].finish_reason is None for chunk in [first, *middle])
    assert last_choice.choices[0].finish_reason == "stop"
    assert last_choice.choices[0].delta.content is None
    assert usage_chunk.choices == [] and usage_chunk.usage is not None
    usage = usage_chunk.usage
    assert usage.prompt_tokens > 10 and usage.completion_tokens > 5
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert all(chunk.usage is None for chunk in chunks[:-1])
    assert {chunk.id for chunk in chunks} == {first.id} and first.id.startswith("chatcmpl-")
    assert {chunk.model for chunk in chunks} == {"gpt-test"}
    assert endpoint.requests[0]["messages"] == MESSAGES and endpoint.requests[0]["stream"] is True
    assert endpoint.unused_replies == 0


async def test_without_include_usage_no_usage_chunk_is_sent():
    async with served([TextReply("one two three four", chunk_words=2)]) as (_, client):
        chunks = await stream_chunks(client)
    assert [chunk.choices[0].delta.content for chunk in chunks] == [
        "",
        "one two",
        " three four",
        None,
    ]
    assert all(chunk.choices for chunk in chunks) and all(chunk.usage is None for chunk in chunks)


async def test_a_tool_call_reassembles_through_the_sdk_stream_helper():
    reply = ToolCallReply("get_weather", ARGUMENTS, call_id="call_weather1", chunk_chars=5)
    async with served([reply]) as (endpoint, client):
        events, completion = await helper_stream(client)

    argument_deltas = [e for e in events if e.type == "tool_calls.function.arguments.delta"]
    assert [len(e.arguments_delta) for e in argument_deltas] == [0] + [5] * 7 + [1]
    assert "".join(e.arguments_delta for e in argument_deltas) == ARGUMENTS
    done = [e for e in events if e.type == "tool_calls.function.arguments.done"]
    assert [(e.name, e.arguments) for e in done] == [("get_weather", ARGUMENTS)]
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls
    assert (call.id, call.type, call.function.name) == ("call_weather1", "function", "get_weather")
    assert json.loads(call.function.arguments) == {"city": "Paris", "unit": "celsius"}
    assert endpoint.requests[0]["tools"] == [WEATHER_TOOL]


async def test_tool_call_chunks_have_openais_shape():
    async with served([ToolCallReply("get_weather", ARGUMENTS)]) as (_, client):
        chunks = await stream_chunks(client, tools=[WEATHER_TOOL])

    first = chunks[0].choices[0].delta
    assert first.role == "assistant" and first.content is None
    (head,) = first.tool_calls
    assert head.index == 0 and head.type == "function" and head.id.startswith("call_")
    assert (head.function.name, head.function.arguments) == ("get_weather", "")
    fragments = [chunk.choices[0].delta.tool_calls[0] for chunk in chunks[1:-1]]
    assert len(fragments) > 1
    assert all(f.index == 0 and f.id is None and f.function.name is None for f in fragments)
    assert "".join(f.function.arguments for f in fragments) == ARGUMENTS
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_text_then_two_tool_calls_in_one_reply():
    reply = MixedReply(
        "Let me check.",
        [ToolCallReply("get_weather", ARGUMENTS), ToolCallReply("get_time", '{"tz": "CET"}')],
    )
    async with served([reply]) as (_, client):
        _, completion = await helper_stream(client)

    message = completion.choices[0].message
    assert message.content == "Let me check."
    assert [(c.function.name, c.function.arguments) for c in message.tool_calls] == [
        ("get_weather", ARGUMENTS),
        ("get_time", '{"tz": "CET"}'),
    ]
    assert len({c.id for c in message.tool_calls}) == 2
    assert completion.choices[0].finish_reason == "tool_calls"


async def test_non_streaming_requests_get_a_whole_completion():
    script = [TextReply("Sunny."), ToolCallReply("get_weather", ARGUMENTS, call_id="call_x")]
    async with served(script) as (_, client):
        text = await client.chat.completions.create(model="gpt-test", messages=MESSAGES)
        call = await client.chat.completions.create(model="gpt-test", messages=MESSAGES)

    assert text.choices[0].message.content == "Sunny."
    assert text.choices[0].finish_reason == "stop" and text.usage.completion_tokens > 0
    assert call.choices[0].finish_reason == "tool_calls" and call.choices[0].message.content is None
    (tool_call,) = call.choices[0].message.tool_calls
    assert (tool_call.id, tool_call.function.arguments) == ("call_x", ARGUMENTS)


async def test_a_callable_script_answers_from_the_request():
    def echo(body: dict) -> TextReply:
        return TextReply(f"You said: {body['messages'][-1]['content']}")

    async with served(echo) as (endpoint, client):
        for word in ("hello", "goodbye"):
            completion = await client.chat.completions.create(
                model="gpt-test", messages=[{"role": "user", "content": word}]
            )
            assert completion.choices[0].message.content == f"You said: {word}"
    assert endpoint.unused_replies is None and len(endpoint.requests) == 2


async def test_a_length_cut_reply_says_so():
    async with served([TextReply("Cut sho", finish_reason="length")]) as (_, client):
        chunks = await stream_chunks(client)
    assert chunks[-1].choices[0].finish_reason == "length"


async def test_a_stall_ends_when_the_client_times_out():
    async with served([Stall(first_token_delay_s=60)], client_timeout=0.3) as (endpoint, client):
        stream = await client.chat.completions.create(  # the headers come at once
            model="gpt-test", messages=MESSAGES, stream=True
        )
        with pytest.raises(openai.APITimeoutError):
            async for _ in stream:
                pass
        assert await endpoint.wait_disconnect(timeout=5) == 0


async def test_a_stall_then_answers():
    async with served([Stall(0.3, then=TextReply("Late."))]) as (endpoint, client):
        started = time.monotonic()
        chunks = await stream_chunks(client)
        waited = time.monotonic() - started
    assert waited >= 0.3
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks) == "Late."
    assert endpoint.disconnects == []


async def test_endless_streams_until_the_client_closes():
    async with served([TextReply("Hi."), Endless()]) as (endpoint, client):
        await stream_chunks(client)
        stream = await client.chat.completions.create(
            model="gpt-test", messages=MESSAGES, stream=True
        )
        tokens = []
        async for chunk in stream:
            tokens.append(chunk.choices[0].delta.content)
            if len(tokens) == 6:
                break
        await stream.close()
        assert await endpoint.wait_disconnect(timeout=5) == 1
    assert tokens == ["", " la", " la", " la", " la", " la"]
    assert endpoint.disconnects == [1]  # the finished first stream is no disconnect


async def test_closing_ends_long_responses_and_they_are_no_disconnects():
    endpoint = ScriptedChatEndpoint([Stall(60), Endless()])
    async with endpoint:
        client = client_of(endpoint)
        stalled = await open_stream(client)
        endless = await open_stream(client)
        first = await anext(aiter(endless))
        assert first.choices[0].delta.role == "assistant"
        started = time.monotonic()
    try:
        assert time.monotonic() - started < 1.5  # the stall is not waited out
        assert [chunk async for chunk in stalled] == []  # the stream just ends
        await endless.close()
    finally:
        await client.close()
    assert endpoint.disconnects == [] and len(endpoint.requests) == 2


async def test_http_errors_raise_the_sdks_typed_errors():
    script = [HttpError(429, "Rate limit reached."), HttpError(400, "Bad tools.", code="bad")]
    async with served(script) as (endpoint, client):
        with pytest.raises(openai.RateLimitError) as limited:
            await stream_chunks(client)
        with pytest.raises(openai.BadRequestError) as bad:
            await client.chat.completions.create(model="gpt-test", messages=MESSAGES)
        with pytest.raises(openai.InternalServerError, match="no scripted reply left"):
            await stream_chunks(client)
    assert limited.value.status_code == 429 and "Rate limit reached." in limited.value.message
    assert bad.value.body == {
        "message": "Bad tools.",
        "type": "invalid_request_error",
        "param": None,
        "code": "bad",
    }
    assert len(endpoint.requests) == 3


async def test_a_wrong_api_key_is_refused_and_not_recorded():
    async with ScriptedChatEndpoint([TextReply("secret")], api_key=KEY) as endpoint:
        client = openai.AsyncOpenAI(base_url=endpoint.base_url, api_key="sk-wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as refused:
            await stream_chunks(client)
        await client.close()
    assert refused.value.status_code == 401 and refused.value.code == "invalid_api_key"
    assert endpoint.requests == [] and endpoint.unused_replies == 1


async def test_models_lists_one_model_and_requests_can_be_awaited():
    async with served([TextReply("a"), TextReply("b")], model="m-1") as (endpoint, client):
        assert [model.id async for model in client.models.list()] == ["m-1"]
        with pytest.raises(TimeoutError, match="0 of 1 chat requests"):
            await endpoint.wait_requests(1, timeout=0.05)
        await stream_chunks(client)
        await stream_chunks(client)
        bodies = await endpoint.wait_requests(2, timeout=1)
    assert [body["model"] for body in bodies] == ["gpt-test", "gpt-test"]
