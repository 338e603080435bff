"""Where the ``llm`` responder's chat completions run: a remote endpoint or the embedded model.

Both speak OpenAI Chat Completions: a request body in, ``chat.completion.chunk`` dicts out.
:class:`EndpointChat` calls any OpenAI-compatible endpoint through the ``openai`` SDK;
:class:`LocalChat` runs the in-process model (an ``engines.base.ChatModel``) on its own
threads. A stream that is closed early (``aclose``: barge-in, ``response.cancel``) ends its
request: the HTTP stream is closed, the local generation stops at its next token. Failures
raise :class:`ChatUnavailable` with a message safe to show a client (never the API key).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncGenerator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, cast
from urllib.parse import urlsplit

from engines.base import ChatModel

Body = dict[str, Any]
Chunk = dict[str, Any]


class ChatUnavailable(Exception):
    """The chat completion failed; the message is safe to show a client."""


class ChatBackend(Protocol):
    """Runs streamed chat completions (a body without ``max_tokens`` gets the backend's).

    Attributes:
        model: The model name request bodies carry (None: the backend fills it in).
    """

    model: str | None

    def stream(self, body: Body) -> AsyncGenerator[Chunk, None]:
        """Stream the chunks of one chat completion (``aclose`` ends the request).

        Raises:
            ChatUnavailable: the request failed, or no chunk came within the first-token
                timeout.
        """
        ...

    async def aclose(self) -> None:
        """Release the backend's connections or threads."""
        ...


class EndpointChat:
    """An OpenAI-compatible Chat Completions endpoint (vLLM, llama.cpp, Ollama, OpenAI …).

    Args:
        base_url: The API root, e.g. ``http://127.0.0.1:8000/v1``.
        model: The model to ask for; None: the first one the endpoint lists.
        api_key: Sent as a bearer token; never logged or shown.
        connect_timeout_s: Longest wait to connect.
        first_token_timeout_s: Longest wait from the request to its first chunk.
        max_tokens: A reply's token limit when the request sets none (None: no limit).
    """

    def __init__(
        self,
        base_url: str,
        model: str | None,
        api_key: str | None = None,
        *,
        connect_timeout_s: float = 5.0,
        first_token_timeout_s: float = 10.0,
        max_tokens: int | None = None,
    ) -> None:
        import openai

        self.model = model
        self._max_tokens = max_tokens
        self._host = urlsplit(base_url).hostname or base_url
        self._key = api_key
        self._first_token_s = first_token_timeout_s
        self._client = openai.AsyncOpenAI(
            base_url=base_url,
            api_key=api_key or "none",
            timeout=openai.Timeout(None, connect=connect_timeout_s),
            max_retries=0,  # a voice turn cannot wait for retries
        )

    async def stream(self, body: Body) -> AsyncGenerator[Chunk, None]:
        """Stream one completion's chunks as dicts (see :class:`ChatBackend`)."""
        import openai
        from openai import AsyncStream
        from openai.types.chat import ChatCompletionChunk

        params = {key: value for key, value in body.items() if key != "stream"}
        if self._max_tokens is not None:
            params.setdefault("max_tokens", self._max_tokens)
        response: AsyncStream[ChatCompletionChunk] | None = None
        try:
            try:
                async with asyncio.timeout(self._first_token_s):
                    params["model"] = params.get("model") or await self._model()
                    response = cast(
                        AsyncStream[ChatCompletionChunk],
                        await self._client.chat.completions.create(**params, stream=True),
                    )
                    first = await anext(response, None)
            except TimeoutError:
                raise ChatUnavailable(self._timed_out()) from None
            if first is not None:
                yield first.model_dump(exclude_none=True)
            async for chunk in response:
                yield chunk.model_dump(exclude_none=True)
        except openai.APIError as exc:
            raise ChatUnavailable(self._explain(exc)) from None
        finally:
            if response is not None:
                with contextlib.suppress(Exception):
                    await response.close()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.close()

    async def _model(self) -> str:
        """The configured model, else the first one the endpoint lists (asked once)."""
        if self.model is None:
            listed = [model.id async for model in self._client.models.list()]
            if not listed:
                raise ChatUnavailable(f"The language model at {self._host} lists no model.")
            self.model = listed[0]
        return self.model

    def _timed_out(self) -> str:
        return (
            f"The language model at {self._host} did not start answering within "
            f"{self._first_token_s:g} s."
        )

    def _explain(self, exc: Exception) -> str:
        import openai

        if isinstance(exc, openai.APITimeoutError):
            return f"The language model at {self._host} timed out."
        if isinstance(exc, openai.APIConnectionError):
            return f"The language model at {self._host} could not be reached."
        if isinstance(exc, openai.APIStatusError):
            detail = _redact(_status_message(exc), self._key)
            return f"The language model at {self._host} answered HTTP {exc.status_code}: {detail}"
        return f"The language model at {self._host} failed: {_redact(str(exc), self._key)}"


def _status_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
    return str(getattr(exc, "message", "") or "no details")[:300]


def _redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "[redacted]") if secret else text


_DONE = object()


class LocalChat:
    """The in-process model, run on threads of its own.

    Args:
        engine: The loaded model.
        first_token_timeout_s: Longest wait from the request to its first chunk.
        workers: Completions at once (the model's parallel slots).
        max_tokens: A reply's token limit when the request sets none (None: no limit).
        context_tokens: What one conversation may hold, prompt and reply: older messages
            are left out of a longer request (the system prompt is always kept).
    """

    def __init__(
        self,
        engine: ChatModel,
        *,
        first_token_timeout_s: float = 10.0,
        workers: int = 4,
        max_tokens: int | None = None,
        context_tokens: int = 4096,
    ) -> None:
        self.model: str | None = engine.name
        self._max_tokens = max_tokens
        self._context_tokens = context_tokens
        self._engine = engine
        self._first_token_s = first_token_timeout_s
        self._threads = ThreadPoolExecutor(workers, thread_name_prefix="llm")

    async def stream(self, body: Body) -> AsyncGenerator[Chunk, None]:
        """Stream one completion's chunks (see :class:`ChatBackend`)."""
        if self._max_tokens is not None and "max_tokens" not in body:
            body = {**body, "max_tokens": self._max_tokens}
        reply_tokens = min(int(body.get("max_tokens") or 512), self._context_tokens // 2)
        budget = (self._context_tokens - reply_tokens) * _CHARS_PER_TOKEN
        body = {**body, "messages": recent_messages(body.get("messages") or [], budget)}
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()

        def on_chunk(chunk: Chunk) -> bool:
            loop.call_soon_threadsafe(queue.put_nowait, chunk)
            return stop.is_set()

        def run() -> None:
            try:
                self._engine.complete(body, on_chunk)
            except Exception as exc:  # shown to the client below
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)

        done = loop.run_in_executor(self._threads, run)
        try:
            first = True
            while True:
                if first:
                    try:
                        async with asyncio.timeout(self._first_token_s):
                            item = await queue.get()
                    except TimeoutError:
                        raise ChatUnavailable(self._timed_out()) from None
                    first = False
                else:
                    item = await queue.get()
                if item is _DONE:
                    return
                if isinstance(item, Exception):
                    raise ChatUnavailable(f"The embedded language model failed: {item}")
                yield item
        finally:
            stop.set()  # the generation stops at its next token
            done.add_done_callback(_retrieve)

    async def aclose(self) -> None:
        """Stop the threads (running completions finish first)."""
        await asyncio.to_thread(self._threads.shutdown, wait=True, cancel_futures=True)

    def _timed_out(self) -> str:
        return (
            f"The embedded language model did not start answering within {self._first_token_s:g} s."
        )


_CHARS_PER_TOKEN = 3
"""A cautious characters-per-token figure for English (tokenizers average about four)."""


def recent_messages(messages: list[dict[str, Any]], budget_chars: int) -> list[dict[str, Any]]:
    """The system prompt and as many of the latest messages as fit in ``budget_chars``.

    A kept conversation never starts with a ``tool`` message (its call was left out).
    """
    head = [m for m in messages[:1] if m.get("role") == "system"]
    rest = messages[len(head) :]
    used = sum(_chars(m) for m in head)
    kept: list[dict[str, Any]] = []
    for message in reversed(rest):
        used += _chars(message)
        if used > budget_chars and kept:
            break
        kept.append(message)
    kept.reverse()
    while kept and kept[0].get("role") == "tool":
        kept.pop(0)
    return head + kept


def _chars(message: dict[str, Any]) -> int:
    return len(str(message.get("content") or "")) + len(str(message.get("tool_calls") or ""))


def _retrieve(future: asyncio.Future[None]) -> None:
    """Consume a finished completion's outcome (its errors were reported on the stream)."""
    if not future.cancelled():
        future.exception()
