"""The voxgate command line, run as a user would: a real process, real models."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import threading
import time
import wave
from asyncio.subprocess import DEVNULL, PIPE

import pytest

from engines.audio import decode_file
from testkit.wer import wer

VOXGATE = [sys.executable, "-m", "realtime"]


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*VOXGATE, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.model
def test_transcribe_prints_the_sentence(testdata):
    result = run("transcribe", str(testdata / "openai-whisper/jfk.flac"))
    assert result.returncode == 0, result.stderr
    reference = (testdata / "openai-whisper/jfk.txt").read_text()
    assert wer(reference, result.stdout) <= 0.05, result.stdout


@pytest.mark.model
def test_transcribe_json_has_segments_and_words(testdata):
    result = run(
        "transcribe",
        "--json",
        "--asr-final-model",
        "tiny.en",
        str(testdata / "whisper.cpp/jfk.mp3"),
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["language"] == "en" and out["duration"] == pytest.approx(11.0, abs=0.2)
    words = [w for s in out["segments"] for w in s["words"]]
    assert len(words) >= 20 and words[0]["word"].lower() == "and"


@pytest.mark.model
def test_transcribe_with_speakers_and_non_speech_tags(testdata):
    result = run(
        "transcribe", "--speakers", "--non-speech", str(testdata / "mfa/mfa_laughter.flac")
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("SPEAKER_0: ") and "[laugh]" in result.stdout, result.stdout
    assert "SPEAKER_1" not in result.stdout  # one speaker
    bad = run("transcribe", "--num-speakers", "0", str(testdata / "mfa/mfa_laughter.flac"))
    assert bad.returncode == 2 and "--num-speakers" in bad.stderr


def test_transcribe_undecodable_file_is_one_line(tmp_path):
    junk = tmp_path / "notes.wav"
    junk.write_text("this is not audio")
    result = run("transcribe", "--asr-final-model", "tiny.en", str(junk))
    assert result.returncode == 1
    assert result.stderr.strip().startswith("voxgate: error: notes.wav: not decodable audio")
    assert "Traceback" not in result.stderr


def test_missing_model_is_one_line_naming_the_fix(tmp_path):
    result = run("transcribe", "--asr-final-model", str(tmp_path / "whisper-large"), "x.wav")
    assert result.returncode == 2
    result = run(
        "say", "hello", "-o", str(tmp_path / "x.wav"), "--tts-voice", str(tmp_path / "v.onnx")
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not exist" in lines[0], result.stderr


@pytest.mark.model
@pytest.mark.parametrize("engine", ["piper", "hibari"])
def test_say_writes_a_playable_wav(tmp_path, engine):
    out = tmp_path / "hello.wav"
    result = run("say", "Hello there.", "-o", str(out), "--tts-engine", engine)
    assert result.returncode == 0, result.stderr
    with wave.open(str(out)) as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        assert w.getframerate() == {"piper": 22_050, "hibari": 24_000}[engine]
        assert 0.4 < w.getnframes() / w.getframerate() < 3.0
    decoded = decode_file(out)  # FFmpeg reads it too
    assert decoded.codec == "pcm_s16le" and decoded.samples.std() > 500
    assert not list(tmp_path.glob(".*partial"))


@pytest.mark.model
def test_models_reports_every_pack_ready():
    result = run("models", "--check", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = json.loads(result.stdout)
    assert {r["name"] for r in rows} == {
        "tiny.en",
        "base",
        "silero-vad-v6",
        "piper-joe",
        "hibari-heart",
        "yamnet",
        "dvector",
        "smollm2",
    }
    assert all(r["state"] == "ready" and r["bytes"] > 1_000_000 for r in rows), rows


@pytest.mark.model
def test_models_rebuilds_a_deleted_join(tmp_path):
    env = {"VOXGATE_MODEL_CACHE_DIR": str(tmp_path)}
    first = run("models", env=env)
    assert first.returncode == 0, first.stderr
    joined = tmp_path / "whisper-base-1.0.0" / "model.bin"
    assert joined.stat().st_size == 145_217_532
    joined.unlink()
    check = run("models", "--check", env=env)
    assert check.returncode == 1 and "needs preparing" in check.stdout
    again = run("models", env=env)
    assert again.returncode == 0 and joined.stat().st_size == 145_217_532


def test_keys_create_list_revoke(tmp_path):
    data = ["--data-dir", str(tmp_path)]
    created = run("keys", "create", "--name", "laptop", *data)
    assert created.returncode == 0
    key = created.stdout.strip()
    key_id = key.split("_")[1]
    listed = run("keys", "list", "--json", *data)
    assert [(k["id"], k["name"], k["revoked_at"]) for k in json.loads(listed.stdout)] == [
        (key_id, "laptop", None)
    ]
    assert key not in listed.stdout
    assert run("keys", "revoke", key_id, *data).returncode == 0
    again = run("keys", "revoke", key_id, *data)
    assert again.returncode == 1 and "no active key" in again.stderr


def test_usage_errors_exit_2():
    assert run().returncode == 2
    assert run("serve", "--port", "nope").returncode == 2
    assert run("--version").stdout.startswith("voxgate ")


# --- voxgate talk: a spoken conversation with a served voxgate --------------------------------


@pytest.fixture(scope="module")
def engines():
    from realtime.inference.loading import load_engines
    from realtime.server.settings import Settings

    return load_engines(Settings())


TALK_TIMEOUT_S = 240


async def run_async(*args: str) -> tuple[int, str, str]:
    """Run the CLI in a subprocess while this loop keeps serving (gateway, scripted LLM)."""
    env = {k: v for k, v in os.environ.items() if k != "VOXGATE_API_KEY"}
    process = await asyncio.create_subprocess_exec(
        *VOXGATE, *args, stdout=PIPE, stderr=PIPE, stdin=DEVNULL, env=env
    )
    out, err = await asyncio.wait_for(process.communicate(), TALK_TIMEOUT_S)
    return process.returncode or 0, out.decode(), err.decode()


@pytest.mark.model
async def test_talk_answers_a_spoken_question_aloud(engines, testdata, tmp_path):
    from testkit.chat_endpoint import ScriptedChatEndpoint, TextReply
    from testkit.loadgen import serve

    async with (
        # a callable answers every request: early (speculative) replies ask too
        ScriptedChatEndpoint(lambda body: TextReply("Hello from the test.")) as endpoint,
        serve(engines, llm_base_url=endpoint.base_url) as server,
    ):
        code, out, err = await run_async(
            "talk",
            str(testdata / "openai-whisper/jfk.flac"),
            "--fast",
            "--out",
            str(tmp_path),
            "--silence-ms",
            "1200",  # jfk.flac pauses up to ~1 s: one turn
            "--instructions",
            "Answer in one sentence.",
            "--url",
            server.url,
            "--api-key",
            server.key,
        )
    assert code == 0, err
    lines = out.splitlines()
    you = [line for line in lines if line.startswith("you: ")]
    assert len(you) == 1 and "country" in you[0], out
    assert "voxgate: Hello from the test." in lines, out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reply-001.wav"]
    with wave.open(str(tmp_path / "reply-001.wav")) as wav:
        assert wav.getframerate() == 24_000 and wav.getnframes() > 12_000  # > 0.5 s
    request = endpoint.requests[-1]  # the one that was spoken (earlier ones were early replies)
    assert request["messages"][0] == {"role": "system", "content": "Answer in one sentence."}
    assert "country" in request["messages"][-1]["content"]


@pytest.mark.model
async def test_talk_reports_a_failed_answer_in_one_line(engines, testdata, tmp_path):
    from testkit.chat_endpoint import HttpError, ScriptedChatEndpoint
    from testkit.loadgen import serve

    async with (
        ScriptedChatEndpoint(lambda body: HttpError(500, "The model crashed.")) as endpoint,
        serve(engines, llm_base_url=endpoint.base_url) as server,
    ):
        code, _, err = await run_async(
            "talk",
            str(testdata / "deepspeech/LDC93S1.wav"),
            "--fast",
            "--out",
            str(tmp_path),
            "--url",
            server.url,
            "--api-key",
            server.key,
        )
    assert code == 1 and not list(tmp_path.iterdir())
    (line,) = err.splitlines()
    assert line.startswith("voxgate: error: the response failed:") and "The model crashed." in line


def test_playback_queue_reports_what_played_when_barged_in():
    from realtime.cli.client import PlaybackQueue

    emptied = []
    queue = PlaybackQueue(on_empty=lambda: emptied.append(True))
    queue.feed("item_a", bytes(48 * 300))  # 300 ms
    queue.feed("item_b", bytes(48 * 100))
    assert len(queue.pull(48 * 120)) == 48 * 120
    assert queue.stop() == [("item_a", 120), ("item_b", 0)]
    assert not queue.busy and queue.pull(4) == bytes(4)
    queue.feed("item_c", b"\x01\x02" * 10)
    assert queue.pull(24) == b"\x01\x02" * 10 + bytes(4) and emptied == [True]


class _DeviceClock:
    """A stand-in for ``sounddevice`` (no sound card here): an output stream whose thread
    pulls 20 ms blocks from the callback at real-time pace, as PortAudio does; ``sounding``
    is set once a block carried audio."""

    def __init__(self) -> None:
        self.sounding = threading.Event()

    def RawOutputStream(self, samplerate: int, channels: int, dtype: str, callback):
        return _ClockedStream(samplerate, callback, self.sounding)


class _ClockedStream:
    latency = 0.05

    def __init__(self, rate: int, callback, sounding: threading.Event) -> None:
        self.rate, self.callback, self.sounding = rate, callback, sounding
        self.closed = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()

    def close(self) -> None:
        self.closed.set()

    def _run(self) -> None:
        frames, blocks = self.rate // 50, 0
        start = time.monotonic()
        while not self.closed.wait(max(0.0, start + blocks * 0.02 - time.monotonic())):
            block = bytearray(2 * frames)
            self.callback(block, frames, None, None)
            if any(block):
                self.sounding.set()
            blocks += 1


async def _question_then_interruption(first, second, device: _DeviceClock):
    """A user at a microphone: asks, stays silent until the answer plays, then speaks over it."""
    from realtime.cli import client

    async for chunk in client.file_source(first, trailing_silence_s=0):
        yield chunk
    silence = bytes(2 * client.PCM_RATE * client.CHUNK_MS // 1000)
    chunks_after_sound = 25  # let 0.5 s of the answer play first
    for _ in range(3000):  # at most a minute
        chunks_after_sound -= device.sounding.is_set()
        if chunks_after_sound == 0:
            break
        yield silence
        await asyncio.sleep(client.CHUNK_MS / 1000)  # a microphone's pace
    async for chunk in client.file_source(second, trailing_silence_s=2.0):
        yield chunk


@pytest.mark.model
async def test_talk_barge_in_keeps_only_the_heard_part_of_the_answer(engines, testdata):
    from realtime.cli import client
    from testkit.chat_endpoint import ScriptedChatEndpoint, TextReply
    from testkit.loadgen import serve

    long_answer = (
        "This is a rather long answer that goes on for a while, so that the user has plenty "
        "of time to interrupt it before it ends. It keeps talking about nothing at all."
    )
    device = _DeviceClock()
    user = _question_then_interruption(
        testdata / "deepspeech/LDC93S1.wav",
        testdata / "pyroomacoustics/cmu_arctic_us_aew_a0001.wav",
        device,
    )
    out = io.StringIO()

    def answer(body: dict) -> TextReply:
        """The long answer to the question; "Sure." once the conversation has an answer."""
        said = any(m["role"] == "assistant" for m in body["messages"])
        return TextReply("Sure." if said else long_answer)

    async with (
        ScriptedChatEndpoint(lambda body: answer(body)) as endpoint,
        serve(engines, llm_base_url=endpoint.base_url) as server,
    ):
        replies = await client.talk(
            server.url, server.key, user, client.ConversationPrinter(out), device=device
        )
    # the first answer was cut while it played: still being made (cancelled) or already made
    # whole (completed: synthesis outran playback on a busy machine), it was truncated
    assert len(replies) == 2 and replies[1].status == "completed", out.getvalue()
    assert replies[0].status in ("cancelled", "completed"), out.getvalue()
    assert "[interrupted after " in out.getvalue()
    heard = [m["content"] for m in endpoint.requests[-1]["messages"] if m["role"] == "assistant"]
    assert len(heard) == 1 and long_answer.startswith(heard[0]), heard
    assert 0 < len(heard[0]) < len(long_answer) / 2  # cut about a second into the answer
