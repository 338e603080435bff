"""llama.cpp in-process (xllamacpp): OpenAI Chat Completions bodies in, streamed chunks out.

One :class:`EmbeddedChat` owns one ``xllamacpp.Server``: llama.cpp's own server engine, with
``parallel`` slots (each holding one conversation's KV cache of ``context_tokens``) decoded
together, continuous batching, on one pool of ``threads``.

Threads: :meth:`EmbeddedChat.complete` may run on several threads at once, no lock of ours.
xllamacpp runs each call's request handler on the calling thread with the GIL released,
exactly as llama.cpp's HTTP worker threads run it: the handler posts tasks to the engine's
thread-safe queue and waits on its result queue. A call beyond ``parallel`` waits for a free
slot. ``on_chunk`` runs on the calling thread, with the GIL.

Prompt cache: a request goes to the slot whose cached tokens share the longest prefix with
its prompt (the same conversation, or the same system prompt), and only the rest is
evaluated; states of slots taken over by other conversations move to a host-RAM cache of
``prompt_cache_mib``.

The listener: ``xllamacpp.Server`` always opens llama.cpp's HTTP listener as well. Here it
binds a Unix socket inside a private (0700) temporary directory, which is deleted as soon
as the server is up: nothing can connect any more, nothing is left on disk, and every route
but ``/health`` would need a random API key that never leaves this object anyway.

Callback contract (xllamacpp's ``handle_chat_completions(dict, callback)``): the callback
gets each SSE ``data:`` line parsed to a dict; an HTTP-error body (``{"error": {...}}``)
and a mid-stream error arrive the same way. A truthy return stops reading, and dropping the
response cancels the task in llama.cpp, which frees its slot. An exception raised in the
callback is swallowed by xllamacpp (the stream just stops), so :class:`_Relay` keeps it and
re-raises it after. A malformed request raises ``ValueError`` before any chunk.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import xllamacpp

from engines.errors import LLMError, ModelNotFound

ChunkCallback = Callable[[dict[str, Any]], bool]
"""``on_chunk(chunk) -> stop``: receives each ``chat.completion.chunk`` dict in order."""

_QUANT_SUFFIX = re.compile(r"[.-](?:I?Q\d\w*|B?F16|F32)$", re.IGNORECASE)
_SOCKET_NAME = "llm.sock"  # llama.cpp binds a Unix socket when the host name ends in .sock

# One one-token reply before load returns. It proves the model chats, and it guarantees
# that llama.cpp's task loop is running: the loop sets its "running" flag as it starts, so
# a terminate() (what dropping the Server does) that comes before that is lost, and the
# Server's destructor then waits for the loop forever.
_WARM_UP = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}


class EmbeddedChat:
    """A GGUF chat model served by llama.cpp inside this process.

    Build with :meth:`load`; call :meth:`complete` from worker threads (never from an event
    loop: it blocks for the whole generation); :meth:`close` when done.

    Attributes:
        name: Display name of the model, e.g. ``"SmolLM2-135M-Instruct"``; also the
            ``model`` field of every chunk.
    """

    name: str

    def __init__(self, server: xllamacpp.Server, name: str) -> None:
        self.name = name
        self._server: xllamacpp.Server | None = server
        self._lock = threading.Condition()
        self._active = 0
        self._closing = threading.Event()

    @classmethod
    def load(
        cls,
        gguf: Path,
        *,
        threads: int = 2,
        context_tokens: int = 4096,
        parallel: int = 4,
        prompt_cache_mib: int = 256,
        name: str | None = None,
    ) -> EmbeddedChat:
        """Load a GGUF chat model (its chat template comes from the file) and warm it up.

        Args:
            gguf: The model file (:func:`engines.models.resolve` with ``Kind.LLM``).
            threads: CPU threads for prompt evaluation and generation, shared by all slots.
                They meet at OpenMP barriers that spin while waiting, so on cores that
                other busy work shares, fewer threads (or ``OMP_WAIT_POLICY=passive`` in
                the environment before start-up) can be much faster.
            context_tokens: Tokens one conversation may hold, prompt plus reply; a longer
                request fails with ``error_type="exceed_context_size_error"``.
            parallel: Conversations generated at once; each reserves its own
                ``context_tokens`` of KV cache. Further calls wait for a free slot.
            prompt_cache_mib: Host RAM for the KV states of conversations whose slot
                another conversation took (0: none).
            name: Display name; default: the file name without ``.gguf`` and a trailing
                quantization tag (``.Q4_1``).

        Raises:
            ModelNotFound: ``gguf`` is not a file.
            LLMError: llama.cpp could not load it (not a GGUF chat model, out of memory).
            ValueError: a count below 1 (``prompt_cache_mib`` below 0).
        """
        if min(threads, context_tokens, parallel) < 1 or prompt_cache_mib < 0:
            raise ValueError("threads, context_tokens, parallel ≥ 1 and prompt_cache_mib ≥ 0")
        if not gguf.is_file():
            raise ModelNotFound(f"llm model {gguf} does not exist: fix the setting")
        name = name or _QUANT_SUFFIX.sub("", gguf.name.removesuffix(".gguf"))
        params = xllamacpp.CommonParams()
        params.model.path = str(gguf)
        params.model_alias = [name]  # chunks name the model, not the server's file path
        params.n_parallel = parallel
        params.n_ctx = context_tokens * parallel  # split evenly between the slots
        params.kv_unified = False
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.cache_prompt = True
        params.cache_ram_mib = prompt_cache_mib
        params.verbosity = 1  # errors only (its default prints every request)
        socket_dir = Path(tempfile.mkdtemp(prefix="voxgate-llm-"))  # mode 0700
        try:
            _lock_down_listener(params, socket_dir / _SOCKET_NAME)
            server = xllamacpp.Server(params)
        except Exception as exc:
            raise LLMError(f"llama.cpp cannot load {gguf} (it logs why on stderr)") from exc
        finally:
            shutil.rmtree(socket_dir, ignore_errors=True)  # the bound listener stays unreachable
        chat = cls(server, name)
        try:
            chat.complete(_WARM_UP, lambda chunk: False)
        except LLMError:
            chat.close()
            raise
        return chat

    def complete(self, body: Mapping[str, Any], on_chunk: ChunkCallback) -> None:
        """Run one chat completion on the calling thread, streaming its chunks to ``on_chunk``.

        Args:
            body: An OpenAI ``chat.completions`` request: ``messages`` and optionally
                ``temperature``, ``max_tokens``, ``stop``, ``tools``…; ``model`` is
                ignored. Streaming is forced on, with a final usage chunk.
            on_chunk: Called in order with each ``chat.completion.chunk`` dict: the first
                has ``choices[0].delta.role`` (content None), then ``delta.content`` text,
                then one with ``choices[0].finish_reason`` (``"stop"``, ``"length"``…), last
                one with empty ``choices`` and ``usage`` (``prompt_tokens``,
                ``completion_tokens``, ``total_tokens``). Returning True stops the
                generation at once (its slot is freed); the call then returns normally.

        Raises:
            LLMError: the request is malformed or too long for the context, the runtime
                failed, or the model is closed; its message is safe to show a client.
            Exception: whatever ``on_chunk`` raised, unchanged (generation stopped).
        """
        request = {**body, "stream": True, "stream_options": {"include_usage": True}}
        request.setdefault("cache_prompt", True)
        relay = _Relay(on_chunk, self._closing)
        server = self._enter()
        try:
            server.handle_chat_completions(request, relay)
        except (ValueError, TypeError) as exc:  # request shape (llama.cpp), or not JSON
            raise LLMError(_one_line(exc), error_type="invalid_request_error") from None
        except Exception as exc:
            raise LLMError(f"llama.cpp failed: {_one_line(exc)}") from None
        finally:
            self._leave()
        relay.raise_outcome()

    def close(self) -> None:
        """Stop calls in flight (at their next chunk), wait for them, free the model.

        Idempotent. A :meth:`complete` after it raises :class:`LLMError`. Never call it
        from ``on_chunk``: it would wait for its own call.
        """
        with self._lock:
            self._closing.set()
            self._lock.wait_for(lambda: self._active == 0)
            server, self._server = self._server, None
        del server  # the last reference: llama.cpp stops its loop and frees the model

    def __enter__(self) -> EmbeddedChat:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _enter(self) -> xllamacpp.Server:
        with self._lock:
            if self._server is None or self._closing.is_set():
                raise LLMError(f"the {self.name} model is closed")
            self._active += 1
            return self._server

    def _leave(self) -> None:
        with self._lock:
            self._active -= 1
            self._lock.notify_all()


class _Relay:
    """The callback handed to xllamacpp: forwards chunks, catches errors it would swallow."""

    def __init__(self, on_chunk: ChunkCallback, closing: threading.Event) -> None:
        self._on_chunk = on_chunk
        self._closing = closing
        self._failure: BaseException | None = None
        self._stopped = False
        self._finished = False

    def __call__(self, chunk: dict[str, Any]) -> bool:
        error = chunk.get("error")
        if error is not None:
            self._failure = _error_from_body(error)
            return True
        if self._closing.is_set():
            self._failure = LLMError("the model was closed during the reply")
            return True
        self._finished = "usage" in chunk
        try:
            self._stopped = bool(self._on_chunk(chunk))
        except BaseException as exc:
            self._failure = exc
            return True
        return self._stopped

    def raise_outcome(self) -> None:
        """Raise what ended the stream, unless it finished or ``on_chunk`` stopped it."""
        if self._failure is not None:
            raise self._failure
        if not (self._finished or self._stopped):
            raise LLMError("llama.cpp ended the reply early (an unreadable chunk)")


def _lock_down_listener(params: xllamacpp.CommonParams, socket: Path) -> None:
    """Bind llama.cpp's HTTP listener to ``socket`` (a Unix socket), behind a random API key."""
    params.hostnames = [str(socket)]
    params.api_keys = [secrets.token_urlsafe(32)]
    params.n_threads_http = 1
    params.ui = False
    params.endpoint_slots = False
    params.endpoint_metrics = False
    params.endpoint_props = False


def _error_from_body(error: Any) -> LLMError:
    """The :class:`LLMError` of an error body: ``{"code", "message", "type"}``."""
    if not isinstance(error, dict):
        return LLMError(f"llama.cpp failed: {_one_line(error)}")
    message = _one_line(error.get("message") or "llama.cpp failed")
    error_type = str(error.get("type") or "server_error")
    return LLMError(message, error_type=error_type, retryable=error.get("code") == 503)


def _one_line(text: object) -> str:
    return " ".join(str(text).split())
