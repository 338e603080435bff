"""A scripted OpenAI-compatible Chat Completions endpoint: the stand-in LLM of tests and benches.

:class:`ScriptedChatEndpoint` serves ``POST /v1/chat/completions`` and ``GET /v1/models`` on a
loopback port (aiohttp, on the caller's event loop) and answers the n-th well-formed request
with the n-th entry of its script (or with what a script callable returns for the request
body). Streams follow the OpenAI wire format chunk for chunk: a first delta with the
assistant role, content pieces, tool calls (the first piece of each call carries its index,
id, type, name and empty arguments; the following ones carry argument fragments), a last
choice chunk with ``finish_reason``, a usage chunk with ``choices: []`` when
``stream_options.include_usage`` is true, then ``data: [DONE]``. Token counts are rough
(about four characters a token).

Script entries: :class:`TextReply`, :class:`ToolCallReply`, :class:`MixedReply` (text then
several tool calls), :class:`Stall` (headers, then silence), :class:`HttpError` (an
OpenAI-style JSON error), :class:`Endless` (text until the client goes away), or a callable
taking the request body and returning one of these. A request past the end of the script,
or a script callable that raises, is answered 500 with a message that says so: a test bug
fails instead of hanging. Client disconnects before the end of a response are recorded and
awaitable (:meth:`ScriptedChatEndpoint.wait_disconnect`); nothing here sleeps to wait.

Clients should use ``max_retries=0``: the SDK's retries of 5xx and timeouts would consume
further script entries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import string
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, TypeAlias

from aiohttp import web

DEFAULT_MODEL = "scripted-model"
SYSTEM_FINGERPRINT = "fp_scripted0"
CHARS_PER_TOKEN = 4
SHUTDOWN_TIMEOUT_S = 2.0
MAX_BODY_BYTES = 64 * 1024 * 1024
_ALPHANUMERIC = string.ascii_letters + string.digits


@dataclass(frozen=True)
class TextReply:
    """An assistant text answer, streamed as content deltas of ``chunk_words`` words each.

    Attributes:
        text: The whole answer; the streamed pieces concatenate to it exactly.
        chunk_words: Words per content delta (a word keeps its leading whitespace).
        finish_reason: ``"stop"``, or ``"length"`` to play a reply cut by the token limit.
        chunk_interval_s: Pause before each content delta (0: as fast as the socket takes).
    """

    text: str
    chunk_words: int = 1
    finish_reason: Literal["stop", "length"] = "stop"
    chunk_interval_s: float = 0.0

    def __post_init__(self) -> None:
        _require(self.chunk_words >= 1, "chunk_words must be at least 1")
        _require(self.chunk_interval_s >= 0, "chunk_interval_s must not be negative")


@dataclass(frozen=True)
class ToolCallReply:
    """One function tool call; its arguments stream in pieces of ``chunk_chars`` characters.

    Attributes:
        name: The function's name.
        arguments: The arguments as the model would write them (normally a JSON object).
        call_id: The call's id; ``None`` draws one shaped like OpenAI's (``call_…``).
        chunk_chars: Characters per arguments fragment.
    """

    name: str
    arguments: str
    call_id: str | None = None
    chunk_chars: int = 8

    def __post_init__(self) -> None:
        _require(self.chunk_chars >= 1, "chunk_chars must be at least 1")


@dataclass(frozen=True)
class MixedReply:
    """Leading assistant text, then one or more tool calls (finish reason ``tool_calls``).

    With no tool calls it is a text reply with finish reason ``stop``.

    Attributes:
        text: Text streamed before the calls (may be empty).
        tool_calls: The calls, streamed one after the other with indices 0, 1, ….
        chunk_words: Words per content delta.
        chunk_interval_s: Pause before each content delta.
    """

    text: str = ""
    tool_calls: Sequence[ToolCallReply] = ()
    chunk_words: int = 1
    chunk_interval_s: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "tool_calls", tuple(self.tool_calls))
        _require(self.chunk_words >= 1, "chunk_words must be at least 1")
        _require(self.chunk_interval_s >= 0, "chunk_interval_s must not be negative")


Reply: TypeAlias = TextReply | ToolCallReply | MixedReply


@dataclass(frozen=True)
class Stall:
    """Response headers at once, then nothing for ``first_token_delay_s``, then ``then``.

    A non-streaming request gets nothing at all until the delay has passed. The stall ends
    as soon as the client disconnects (recorded) or the endpoint closes.
    """

    first_token_delay_s: float
    then: Reply = field(default_factory=lambda: TextReply(""))

    def __post_init__(self) -> None:
        _require(self.first_token_delay_s >= 0, "first_token_delay_s must not be negative")


@dataclass(frozen=True)
class HttpError:
    """An error status with an OpenAI-style body ``{"error": {message, type, param, code}}``.

    ``type`` follows the status (``invalid_request_error`` for 4xx, ``requests`` for 429,
    ``server_error`` for 5xx).
    """

    status: int
    message: str
    code: str | None = None

    def __post_init__(self) -> None:
        _require(400 <= self.status <= 599, "status must be a 4xx or 5xx code")


@dataclass(frozen=True)
class Endless:
    """Streams ``token`` every ``interval_s`` until the client disconnects (barge-in tests).

    Needs a streaming request; a non-streaming one is answered 400.
    """

    token: str = " la"
    interval_s: float = 0.02

    def __post_init__(self) -> None:
        _require(self.interval_s > 0, "interval_s must be positive")


Outcome: TypeAlias = TextReply | ToolCallReply | MixedReply | Stall | HttpError | Endless
Script: TypeAlias = Outcome | Callable[[dict[str, Any]], Outcome]


class ScriptedChatEndpoint:
    """An OpenAI-compatible Chat Completions server that plays a script; an async context manager.

    Args:
        replies: The script, one entry per well-formed request in arrival order; or one
            callable answering every request from its body (the script never runs out).
        api_key: When set, requests must carry ``Authorization: Bearer <api_key>``; others
            get 401 and are not recorded.
        model: The id ``GET /v1/models`` lists. Completions echo the request's model.

    Attributes:
        base_url: ``http://127.0.0.1:PORT/v1`` once entered (the SDK's ``base_url``).
        requests: The JSON bodies of the well-formed completion requests, in arrival order;
            the index of a body is the index of the script entry that answered it.
        disconnects: Indices of the requests whose client closed the connection before the
            response was complete, in the order they were seen.
    """

    def __init__(
        self,
        replies: Sequence[Script] | Callable[[dict[str, Any]], Outcome],
        *,
        api_key: str | None = None,
        model: str = DEFAULT_MODEL,
    ) -> None:
        self._script: list[Script] | Callable[[dict[str, Any]], Outcome] = (
            replies if callable(replies) else list(replies)
        )
        self._api_key = api_key
        self._model = model
        self.base_url = ""
        self.requests: list[dict[str, Any]] = []
        self.disconnects: list[int] = []
        self._disconnects_taken = 0
        self._changed = asyncio.Event()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None

    @property
    def unused_replies(self) -> int | None:
        """Script entries not yet played; ``None`` for a callable script."""
        if callable(self._script):
            return None
        return max(0, len(self._script) - len(self.requests))

    async def __aenter__(self) -> ScriptedChatEndpoint:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_post("/v1/chat/completions", self._chat_completions)
        app.router.add_get("/v1/models", self._models)
        runner = web.AppRunner(
            app, handler_cancellation=True, shutdown_timeout=SHUTDOWN_TIMEOUT_S, access_log=None
        )
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}/v1"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()  # stalls and endless streams end now, and are not disconnects
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_requests(
        self,
        n: int,
        timeout: float,  # noqa: ASYNC109 (the bound is part of the contract)
    ) -> list[dict[str, Any]]:
        """Wait until ``n`` requests have arrived; return the first ``n`` bodies.

        Raises:
            TimeoutError: Fewer than ``n`` arrived within ``timeout`` seconds.
        """
        await self._wait_until(
            lambda: len(self.requests) >= n,
            timeout,
            lambda: f"{len(self.requests)} of {n} chat requests arrived within {timeout} s",
        )
        return self.requests[:n]

    async def wait_disconnect(
        self,
        timeout: float,  # noqa: ASYNC109 (the bound is part of the contract)
        request_index: int | None = None,
    ) -> int:
        """Wait for a client to close a response before its end; return the request index.

        Without ``request_index``, returns the next disconnect not yet returned by an earlier
        call (in the order they happened); with it, waits for that request's disconnect.

        Raises:
            TimeoutError: No such disconnect within ``timeout`` seconds.
        """
        if request_index is not None:
            await self._wait_until(
                lambda: request_index in self.disconnects,
                timeout,
                lambda: (
                    f"request {request_index} was not disconnected within {timeout} s "
                    f"(disconnects: {self.disconnects}, requests: {len(self.requests)})"
                ),
            )
            return request_index
        await self._wait_until(
            lambda: len(self.disconnects) > self._disconnects_taken,
            timeout,
            lambda: (
                f"no new client disconnect within {timeout} s "
                f"(disconnects: {self.disconnects}, requests: {len(self.requests)})"
            ),
        )
        self._disconnects_taken += 1
        return self.disconnects[self._disconnects_taken - 1]

    async def _wait_until(
        self, done: Callable[[], bool], within_s: float, describe: Callable[[], str]
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while not done():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(describe())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # --- HTTP handlers ---------------------------------------------------------------------

    async def _models(self, request: web.Request) -> web.Response:
        if (denied := self._deny(request)) is not None:
            return denied
        model = {"id": self._model, "object": "model", "created": 0, "owned_by": "testkit"}
        return web.json_response({"object": "list", "data": [model]})

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._deny(request)) is not None:
            return denied
        body, problem = await _read_body(request)
        if problem is not None:
            return problem
        index = len(self.requests)
        self.requests.append(body)
        self._notify()
        outcome = self._next_outcome(index, body)
        exchange = _Exchange(request, body)
        try:
            return await self._answer(exchange, outcome)
        except _EndpointClosing:
            return exchange.response or _error_response(503, "the scripted endpoint closed")
        except (asyncio.CancelledError, ConnectionError):
            if not exchange.complete and not self._closing.is_set():
                self.disconnects.append(index)
                self._notify()
            raise

    def _deny(self, request: web.Request) -> web.Response | None:
        if self._api_key is None:
            return None
        authorization = request.headers.get("Authorization", "")
        if not authorization:
            return _error_response(
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        if authorization != f"Bearer {self._api_key}":
            return _error_response(401, "Incorrect API key provided.", code="invalid_api_key")
        return None

    def _next_outcome(self, index: int, body: dict[str, Any]) -> Outcome:
        if callable(self._script):
            entry: Script = self._script
        elif index < len(self._script):
            entry = self._script[index]
        else:
            return HttpError(
                500,
                f"ScriptedChatEndpoint: no scripted reply left for request #{index} "
                f"(the script has {len(self._script)} replies)",
                code="script_exhausted",
            )
        if not callable(entry):
            return entry
        try:
            return entry(body)
        except Exception as error:
            return HttpError(
                500,
                f"ScriptedChatEndpoint: the script callable for request #{index} raised {error!r}",
                code="script_error",
            )

    async def _answer(self, exchange: _Exchange, outcome: Outcome) -> web.StreamResponse:
        if isinstance(outcome, HttpError):
            return _error_response(outcome.status, outcome.message, code=outcome.code)
        if isinstance(outcome, Endless):
            if not exchange.streaming:
                return _error_response(400, "ScriptedChatEndpoint: Endless needs stream: true")
            await self._stream_endless(exchange, outcome)
            return exchange.finish()
        if isinstance(outcome, Stall):
            if exchange.streaming:
                await exchange.open_stream()
            await self._pause(outcome.first_token_delay_s)
            plan = _plan(outcome.then)
        else:
            plan = _plan(outcome)
        if not exchange.streaming:
            return exchange.finish(web.json_response(_completion_body(exchange, plan)))
        await exchange.open_stream()
        await self._stream_plan(exchange, plan)
        return exchange.finish()

    async def _stream_plan(self, exchange: _Exchange, plan: _Plan) -> None:
        first = True
        if plan.text_pieces is not None:
            await exchange.send_delta({"role": "assistant", "content": "", "refusal": None})
            first = False
            for piece in plan.text_pieces:
                await self._pause(plan.chunk_interval_s)
                await exchange.send_delta({"content": piece})
        for index, call in enumerate(plan.calls):
            head = {
                "index": index,
                "id": call.call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            if first:
                delta = {"role": "assistant", "content": None, "tool_calls": [head]}
                await exchange.send_delta({**delta, "refusal": None})
                first = False
            else:
                await exchange.send_delta({"tool_calls": [head]})
            for fragment in call.fragments:
                fragment_delta = {"index": index, "function": {"arguments": fragment}}
                await exchange.send_delta({"tool_calls": [fragment_delta]})
        await exchange.send_delta({}, finish_reason=plan.finish_reason)
        if exchange.include_usage:
            await exchange.send_chunk([], usage=_usage(exchange.body, plan.completion_tokens))
        await exchange.send_done()

    async def _stream_endless(self, exchange: _Exchange, endless: Endless) -> None:
        await exchange.open_stream()
        await exchange.send_delta({"role": "assistant", "content": "", "refusal": None})
        while True:
            await self._pause(endless.interval_s)
            await exchange.send_delta({"content": endless.token})

    async def _pause(self, seconds: float) -> None:
        """Wait ``seconds``, or raise :class:`_EndpointClosing` as soon as the endpoint closes."""
        if seconds <= 0:
            if self._closing.is_set():
                raise _EndpointClosing
            return
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
        except TimeoutError:
            return
        raise _EndpointClosing


class _EndpointClosing(Exception):
    """The endpoint is shutting down: a long response stops where it is."""


@dataclass
class _PlannedCall:
    call_id: str
    name: str
    arguments: str
    fragments: list[str]


@dataclass
class _Plan:
    """A reply resolved to what goes on the wire."""

    text: str | None  # None: a tool-call-only reply (message content null)
    text_pieces: list[str] | None
    calls: list[_PlannedCall]
    finish_reason: str
    chunk_interval_s: float

    @property
    def completion_tokens(self) -> int:
        tokens = _approx_tokens(self.text or "")
        for call in self.calls:
            tokens += _approx_tokens(call.name) + _approx_tokens(call.arguments) + 3
        return tokens


def _plan(reply: Reply) -> _Plan:
    if isinstance(reply, TextReply):
        words = _word_pieces(reply.text, reply.chunk_words)
        return _Plan(reply.text, words, [], reply.finish_reason, reply.chunk_interval_s)
    if isinstance(reply, ToolCallReply):
        return _Plan(None, None, [_plan_call(reply)], "tool_calls", 0.0)
    calls = [_plan_call(call) for call in reply.tool_calls]
    text = reply.text if reply.text or not calls else None
    pieces = None if text is None else _word_pieces(text, reply.chunk_words)
    finish_reason = "tool_calls" if calls else "stop"
    return _Plan(text, pieces, calls, finish_reason, reply.chunk_interval_s)


def _plan_call(call: ToolCallReply) -> _PlannedCall:
    call_id = call.call_id or "call_" + _random_id(24)
    size = call.chunk_chars
    fragments = [call.arguments[i : i + size] for i in range(0, len(call.arguments), size)]
    return _PlannedCall(call_id, call.name, call.arguments, fragments)


def _word_pieces(text: str, words_per_piece: int) -> list[str]:
    """Split ``text`` into pieces of ``words_per_piece`` words that concatenate to it."""
    words = list(_words(text))
    return ["".join(words[i : i + words_per_piece]) for i in range(0, len(words), words_per_piece)]


def _words(text: str) -> Iterator[str]:
    """Words with their leading whitespace, the way tokenizers attach it; trailing space last."""
    start = 0
    position = 0
    length = len(text)
    while position < length:
        while position < length and text[position].isspace():
            position += 1
        while position < length and not text[position].isspace():
            position += 1
        yield text[start:position]
        start = position


class _Exchange:
    """One completion request and its (streamed) response."""

    def __init__(self, request: web.Request, body: dict[str, Any]) -> None:
        self.request = request
        self.body = body
        self.streaming = body.get("stream") is True
        options = body.get("stream_options") or {}
        self.include_usage = bool(options.get("include_usage"))
        self.obfuscate = options.get("include_obfuscation", True) is not False
        self.completion_id = "chatcmpl-" + _random_id(29)
        self.created = int(time.time())
        self.model = str(body["model"])
        self.response: web.StreamResponse | None = None
        self.complete = False

    async def open_stream(self) -> None:
        if self.response is not None:
            return
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "x-request-id": "req_" + _random_id(32),
            }
        )
        await response.prepare(self.request)
        self.response = response

    async def send_delta(self, delta: dict[str, Any], finish_reason: str | None = None) -> None:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        await self.send_chunk([choice])

    async def send_chunk(
        self, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None
    ) -> None:
        chunk: dict[str, Any] = {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "service_tier": "default",
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": choices,
        }
        if self.include_usage:
            chunk["usage"] = usage
        if self.obfuscate:
            chunk["obfuscation"] = _random_id(random.randint(1, 12))
        await self._write(f"data: {json.dumps(chunk, separators=(',', ':'))}\n\n")

    async def send_done(self) -> None:
        await self._write("data: [DONE]\n\n")
        self.complete = True

    async def _write(self, text: str) -> None:
        assert self.response is not None, "open_stream() first"
        await self.response.write(text.encode())

    def finish(self, response: web.StreamResponse | None = None) -> web.StreamResponse:
        self.complete = True
        if response is not None:
            self.response = response
        assert self.response is not None
        return self.response


def _completion_body(exchange: _Exchange, plan: _Plan) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": plan.text,
        "refusal": None,
        "annotations": [],
    }
    if plan.calls:
        message["tool_calls"] = [
            {
                "id": call.call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in plan.calls
        ]
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": plan.finish_reason}
    return {
        "id": exchange.completion_id,
        "object": "chat.completion",
        "created": exchange.created,
        "model": exchange.model,
        "choices": [choice],
        "usage": _usage(exchange.body, plan.completion_tokens),
        "service_tier": "default",
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }


def _usage(body: dict[str, Any], completion_tokens: int) -> dict[str, Any]:
    prompt_tokens = _prompt_tokens(body)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _prompt_tokens(body: dict[str, Any]) -> int:
    """Rough prompt size: each message's text and tool calls, a few tokens of framing each."""
    tokens = 3
    for message in body.get("messages", []):
        tokens += 3 + _approx_tokens(_message_text(message))
    if body.get("tools"):
        tokens += _approx_tokens(json.dumps(body["tools"]))
    return tokens


def _message_text(message: Any) -> str:
    if not isinstance(message, dict):
        return ""
    parts: list[str] = [str(message.get("name") or "")]
    content = message.get("content")
    if isinstance(content, str):
        parts.append(content)
    elif isinstance(content, list):
        parts.extend(str(part.get("text", "")) for part in content if isinstance(part, dict))
    for call in message.get("tool_calls") or []:
        function = call.get("function", {}) if isinstance(call, dict) else {}
        parts += [str(function.get("name", "")), str(function.get("arguments", ""))]
    return "".join(parts)


def _approx_tokens(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)


async def _read_body(request: web.Request) -> tuple[dict[str, Any], web.Response | None]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}, _error_response(400, "We could not parse the JSON body of your request.")
    if not isinstance(body, dict):
        return {}, _error_response(400, "The request body must be a JSON object.")
    if not isinstance(body.get("model"), str) or not body["model"]:
        return {}, _error_response(400, "you must provide a model parameter", param="model")
    if not isinstance(body.get("messages"), list):
        return {}, _error_response(400, "Missing required parameter: 'messages'.", param="messages")
    return body, None


def _error_response(
    status: int, message: str, *, code: str | None = None, param: str | None = None
) -> web.Response:
    error = {"message": message, "type": _error_type(status), "param": param, "code": code}
    return web.json_response({"error": error}, status=status)


def _error_type(status: int) -> str:
    if status == 429:
        return "requests"
    return "server_error" if status >= 500 else "invalid_request_error"


def _random_id(length: int) -> str:
    return "".join(random.choices(_ALPHANUMERIC, k=length))


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)
