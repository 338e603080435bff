"""``voxgate listen`` and ``voxgate chat`` as a user runs them, against a real in-process gateway."""

from __future__ import annotations

import asyncio
import io
import os
import sys
import tempfile
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np
import pytest
from aiohttp import web

from engines.audio import resample
from engines.base import ASROptions
from realtime.auth.middleware import KEYSTORE
from realtime.cli.client import PCM_RATE, TranscriptPrinter
from realtime.inference.loading import load_engines
from realtime.server.app import create_app
from realtime.server.settings import Settings
from testkit.wer import wer

VOXGATE = [sys.executable, "-m", "realtime"]
RUN_TIMEOUT = 240  # seconds for one CLI run before the test fails


@dataclass
class Gateway:
    url: str
    key: str


@pytest.fixture(scope="module")
def engines():
    return load_engines(Settings())


@pytest.fixture
async def gateway(engines) -> AsyncIterator[Gateway]:
    app = create_app(Settings(data_dir=tempfile.mkdtemp()), engines=engines)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield Gateway(f"http://127.0.0.1:{port}", app[KEYSTORE].create("test")[1])
    finally:
        await runner.cleanup()


async def voxgate(*args: str, stdin: bytes = b"", cwd: str | None = None) -> tuple[int, str, str]:
    """Run the CLI in a subprocess (the gateway keeps serving on this loop meanwhile)."""
    env = {k: v for k, v in os.environ.items() if k != "VOXGATE_API_KEY"}
    process = await asyncio.create_subprocess_exec(
        *VOXGATE,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=cwd,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin), RUN_TIMEOUT)
    return process.returncode, out.decode(), err.decode()


def split_output(out: str) -> tuple[list[str], list[str]]:
    """(partial lines, final lines) of non-terminal ``voxgate listen`` output."""
    lines = out.splitlines()
    partials = [line for line in lines if line.startswith(TranscriptPrinter.PARTIAL_PREFIX)]
    return partials, [line for line in lines if line not in partials]


@pytest.mark.model
async def test_listen_fast_prints_the_final_sentence(gateway, testdata):
    jfk = testdata / "openai-whisper/jfk.flac"
    code, out, err = await voxgate(
        "listen", str(jfk), "--fast", "--url", gateway.url, "--api-key", gateway.key
    )
    assert code == 0, err
    _, finals = split_output(out)
    reference = (testdata / "openai-whisper/jfk.txt").read_text()
    assert wer(reference, " ".join(finals)) <= 0.10, out


@pytest.mark.model
async def test_listen_in_real_time_prints_partials_that_settle_into_finals(gateway, testdata):
    jfk = testdata / "openai-whisper/jfk.flac"
    code, out, err = await voxgate(
        "listen", str(jfk), "--url", gateway.url, "--api-key", gateway.key
    )
    assert code == 0, err
    partials, finals = split_output(out)
    assert len(partials) >= 2, out
    lines = out.splitlines()
    assert lines.index(partials[0]) < lines.index(finals[0])  # a partial shows before its final
    reference = (testdata / "openai-whisper/jfk.txt").read_text()
    assert wer(reference, " ".join(finals)) <= 0.10, out


@pytest.mark.model
async def test_chat_saves_each_spoken_line_as_wav(gateway, engines):
    text = "Good morning, the meeting starts at nine."
    with tempfile.TemporaryDirectory() as out_dir:
        code, _, err = await voxgate(
            "chat",
            "--out",
            out_dir,
            "--url",
            gateway.url,
            "--api-key",
            gateway.key,
            stdin=f"{text}\n\n".encode(),
        )
        assert code == 0, err
        assert sorted(os.listdir(out_dir)) == ["reply-001.wav"]  # the blank line is skipped
        with wave.open(os.path.join(out_dir, "reply-001.wav")) as wav:
            assert wav.getframerate() == PCM_RATE
            pcm = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
    heard = engines.asr.transcribe(resample(pcm, PCM_RATE, 16_000), ASROptions(language="en"))
    assert wer(text, heard.text) <= 0.15, heard.text


@pytest.mark.model
async def test_listen_reports_a_refused_key_on_stderr(gateway, testdata):
    jfk = testdata / "openai-whisper/jfk.flac"
    code, out, err = await voxgate(
        "listen", str(jfk), "--fast", "--url", gateway.url, "--api-key", "vg_wrong"
    )
    assert (code, out) == (1, "")
    assert err.startswith("voxgate: error: the gateway refused the API key (401)"), err
    assert len(err.splitlines()) == 1


async def test_listen_usage_errors_exit_2():
    code, _, err = await voxgate("listen", "/no/such/file.wav")
    assert code == 2 and "no such file" in err
    code, _, err = await voxgate("listen")
    assert code == 2 and "FILE" in err


def test_printer_rewrites_the_live_line_and_keeps_finals():
    out = io.StringIO()
    printer = TranscriptPrinter(out, live=True)
    printer.delta("a", " Hello")
    printer.delta("a", " there")
    printer.delta("b", " Next")
    printer.final("a", " Hello there.")
    printer.final("b", "")
    assert out.getvalue() == (
        "\r\x1b[KHello\r\x1b[KHello there\r\x1b[KNext"
        "\r\x1b[KHello there.\n\r\x1b[KNext"  # the final lands above; b's partial returns
        "\r\x1b[K"  # b ended empty: its partial is wiped
    )
    assert printer.finals == ["Hello there."]


def test_printer_without_a_terminal_prefixes_partials():
    out = io.StringIO()
    printer = TranscriptPrinter(out, live=False)
    printer.delta("a", " Hello")
    printer.delta("a", " there")
    printer.final("a", " Hello there.")
    assert out.getvalue().splitlines() == [
        "partial: Hello",
        "partial: Hello there",
        "Hello there.",
    ]
