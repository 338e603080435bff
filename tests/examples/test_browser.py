"""The browser demo end to end: headless Chromium, a fake microphone, a real voxgate.

Chromium (Debian's ``/usr/bin/chromium``, installed by ``make test``) plays JFK's inaugural
sentence as its microphone; the page at ``/demo`` gets a client secret from the server,
streams the mic through its AudioWorklet to ``/v1/realtime`` and must show the sentence as
a final transcript. In Converse mode a scripted chat endpoint stands in for the language
model, and the page must show and play its answers. Screenshots are kept in
``test-artifacts/browser-demo.png`` and ``test-artifacts/browser-converse.png``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp import ClientSession, web

from engines.audio import load_pcm, resample
from realtime.hosting.host import close_all
from realtime.inference.loading import load_engines
from realtime.server.app import create_app
from realtime.server.demo import SESSIONS_PER_WINDOW
from realtime.server.settings import Settings
from testkit.chat_endpoint import HttpError, ScriptedChatEndpoint, TextReply
from testkit.loadgen import serve
from testkit.paths import REPO
from testkit.wer import wer

pytestmark = pytest.mark.model

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
JFK = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
WAIT_MS = 120_000  # generous: CI shares two cores with other work; a hang still fails


@pytest.fixture(scope="module")
def engines():
    return load_engines(Settings())


@pytest.fixture
async def served(engines) -> AsyncIterator[tuple[str, web.Application]]:
    """A real voxgate (default settings: demo on, for loopback clients) on a free port."""
    app = create_app(Settings(data_dir=tempfile.mkdtemp()), engines=engines)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        await runner.cleanup()


@pytest.fixture
def server(served) -> str:
    """The base URL of :func:`served`."""
    return served[0]


SPEECH = (
    "Good evening. This is voxgate reading a long announcement, so that there is plenty of "
    "time to interrupt it. Please speak whenever you like; I will stop talking and listen, "
    "and the page will tell the server exactly how much of this sentence you heard."
)


def fake_microphone(testdata: Path, path: Path, *, lead_s: float) -> Path:
    """jfk.flac as the WAV Chromium's fake capture device reads: 16-bit mono 48 kHz.

    ``lead_s`` of silence precede the speech; two seconds follow it, so the server's VAD
    closes the turn.
    """
    audio = resample(load_pcm(testdata / "openai-whisper" / "jfk.flac"), 16_000, 48_000)
    lead, tail = np.zeros(int(48_000 * lead_s), np.int16), np.zeros(96_000, np.int16)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(48_000)
        out.writeframes(np.concatenate([lead, audio, tail]).astype("<i2").tobytes())
    return path


@contextlib.asynccontextmanager
async def demo_page(
    url: str, microphone: Path, *, before_start: Callable[[Any], Awaitable[None]] | None = None
) -> AsyncIterator[tuple[Any, list[str]]]:
    """Headless Chromium on ``url``/demo with ``microphone`` as its (non-looping) mic.

    ``before_start`` sets the page up (mode, instructions) before "Start microphone" is
    pressed. Yields the page and a list that collects page errors and console
    errors/warnings.
    """
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    playwright = pytest.importorskip("playwright.async_api", reason="make test installs it")
    problems: list[str] = []
    async with playwright.async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM),  # never Playwright's own download
            args=[
                "--use-fake-ui-for-media-stream",  # grant the microphone without a prompt
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={microphone}%noloop",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        try:
            page = await browser.new_page()
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            page.on(
                "console",
                lambda msg: (
                    problems.append(f"console {msg.type}: {msg.text}")
                    if msg.type in ("error", "warning")
                    else None
                ),
            )
            response = await page.goto(f"{url}/demo")
            assert response is not None and response.ok
            assert await page.title() == "voxgate — microphone demo"
            if before_start is not None:
                await before_start(page)
            await page.click("#start")
            await page.wait_for_selector('body[data-state="listening"]', timeout=WAIT_MS)
            yield page, problems
        finally:
            await browser.close()


async def test_demo_page_transcribes_the_microphone(server, testdata, tmp_path):
    microphone = fake_microphone(testdata, tmp_path / "jfk.wav", lead_s=0.5)
    async with demo_page(server, microphone) as (page, problems):
        # JFK's sentence arrives as one turn or several: wait for its last word to be final
        await page.wait_for_function(
            """() => {
                const finals = [...document.querySelectorAll("#transcript .turn.user.final")];
                const text = finals.map((t) => t.textContent).join(" ").toLowerCase();
                return /country\\W*$/.test(text) && text.split(/\\s+/).length >= 15;
            }""",
            timeout=WAIT_MS,
        )
        finals = await page.locator("#transcript .turn.user.final .text").all_inner_texts()
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "browser-demo.png"), full_page=True)
        state = await page.get_attribute("body", "data-state")

    transcript = " ".join(finals)
    assert wer(JFK, transcript) <= 0.15, (transcript, problems)
    assert state == "listening", problems
    assert not [p for p in problems if "error" in p], problems


async def test_speaking_over_playback_interrupts_and_truncates(server, testdata, tmp_path):
    # the mic is silent for 4 s while voxgate reads SPEECH (~15 s), then JFK talks over it
    microphone = fake_microphone(testdata, tmp_path / "late-jfk.wav", lead_s=4.0)
    async with demo_page(server, microphone) as (page, problems):
        await page.fill("#say-text", SPEECH)
        await page.click("#say-button")
        await page.wait_for_selector('body[data-speaking="true"]', timeout=WAIT_MS)
        # barge-in: speech_started stops playback; the page truncates to what it played and
        # the server confirms with conversation.item.truncated
        assistant = page.locator("#transcript .turn.assistant[data-heard-ms]")
        await assistant.wait_for(timeout=WAIT_MS)
        heard_ms = int(await assistant.get_attribute("data-heard-ms") or -1)
        audio_ms = int(await assistant.get_attribute("data-audio-ms") or -1)
        await page.wait_for_selector('body[data-speaking="false"]', timeout=WAIT_MS)
        await page.screenshot(path=str(tmp_path / "barge-in.png"))

    assert 0 < heard_ms < audio_ms, (heard_ms, audio_ms, problems)
    assert not [p for p in problems if "error" in p], problems


ANSWER = "Hello from the test."
INSTRUCTIONS = "You are the browser test's assistant. Answer in one sentence."
REFUSED = "the test refuses typed questions"


def scripted_llm(body: dict[str, Any]) -> TextReply | HttpError:
    """Every spoken turn gets :data:`ANSWER`; the typed question is refused."""
    last = body["messages"][-1]
    if last["role"] == "user" and "typed question" in last["content"]:
        return HttpError(400, REFUSED)
    return TextReply(ANSWER)


async def choose_converse(page: Any) -> None:
    await page.check('input[name="mode"][value="converse"]')
    await page.fill("#instructions", INSTRUCTIONS)


async def test_converse_mode_answers_each_turn_aloud(engines, testdata, tmp_path):
    # JFK's sentence ends in two seconds of silence, so his last turn's answer plays to the end
    microphone = fake_microphone(testdata, tmp_path / "jfk.wav", lead_s=0.5)
    async with (
        ScriptedChatEndpoint(scripted_llm) as llm,
        serve(engines, llm_base_url=llm.base_url) as voxgate,
        demo_page(voxgate.url, microphone, before_start=choose_converse) as (page, problems),
    ):
        await page.wait_for_function(
            """() => {
                const turns = [...document.querySelectorAll("#transcript .turn")];
                const said = turns.filter((t) => t.matches(".user.final"))
                    .map((t) => t.querySelector(".text").textContent).join(" ").toLowerCase();
                const last = turns.at(-1);
                return /country\\W*$/.test(said)
                    && last?.matches(".assistant.final:not(.interrupted)")
                    && Number(last.dataset.playedMs) > 0
                    && last.dataset.playedMs === last.dataset.audioMs;
            }""",
            timeout=WAIT_MS,
        )
        finals = await page.locator("#transcript .turn.user.final .text").all_inner_texts()
        answer = page.locator("#transcript .turn").last
        answer_text = await answer.locator(".text").inner_text()
        audio_ms = int(await answer.get_attribute("data-audio-ms") or -1)
        played_samples = int(await page.get_attribute("body", "data-played-samples") or -1)
        session_mode = await page.get_attribute("body", "data-session-mode")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "browser-converse.png"), full_page=True)

        # a typed message is a user turn too; a failed answer says why in the log
        await page.fill("#say-text", "A typed question for the model?")
        await page.click("#say-button")
        failure = page.locator("#transcript .turn.notice.failed")
        await failure.wait_for(timeout=WAIT_MS)
        failure_text = await failure.inner_text()
        typed = await page.locator("#transcript .turn.user.typed .text").all_inner_texts()

    transcript = " ".join(finals)
    assert session_mode == "converse", problems
    assert wer(JFK, transcript) <= 0.2, (transcript, problems)
    assert answer_text.strip() == ANSWER, (answer_text, problems)
    # the page counts all it rendered: at least the answer (to the ms rounding)
    assert audio_ms > 500 and played_samples >= (audio_ms - 1) * 24, (audio_ms, played_samples)
    spoken = llm.requests[:-1]
    assert spoken and all(
        r["messages"][0] == {"role": "system", "content": INSTRUCTIONS} for r in spoken
    )
    heard = " ".join(m["content"] for m in spoken[-1]["messages"] if m["role"] == "user")
    assert "country" in heard.lower(), heard
    assert typed == ["A typed question for the model?"]
    assert REFUSED in failure_text, failure_text
    assert not [p for p in problems if "error" in p], problems


async def test_page_reconnects_after_the_server_drops_it(served, testdata, tmp_path):
    url, app = served
    microphone = fake_microphone(testdata, tmp_path / "jfk.wav", lead_s=0.5)
    async with demo_page(url, microphone) as (page, problems):
        await close_all(app)  # what a restarting server does: close 1012 "server restarting"
        await page.wait_for_selector('body[data-state="reconnecting"]', timeout=WAIT_MS)
        status = await page.text_content("#status")
        # a fresh client secret and a new session, with the microphone still streaming
        await page.wait_for_selector('body[data-state="listening"]', timeout=WAIT_MS)
        await page.wait_for_selector("#transcript .turn.user.final", timeout=WAIT_MS)

    assert "1012" in (status or ""), status
    assert not [p for p in problems if "error" in p], problems


async def test_demo_session_mints_a_single_use_secret_with_guards(server):
    async with ClientSession() as http:
        async with http.get(f"{server}/demo", allow_redirects=False) as response:
            assert response.status == 302
            assert response.headers["Location"] == "/demo/"
        async with http.get(f"{server}/demo/playback-worklet.js") as response:
            assert response.status == 200
            assert response.content_type == "text/javascript"
            assert "connect-src 'self'" in response.headers["Content-Security-Policy"]
        async with http.get(f"{server}/demo/..%2Fbrowser%2Findex.html") as response:
            assert response.status == 404  # an existing file, but outside by path

        # cross-origin pages may not mint secrets, nor may a rebound DNS name
        cross = {"Origin": "http://evil.example"}
        async with http.post(f"{server}/demo/session", headers=cross) as response:
            assert response.status == 403
        rebound = {"Host": "evil.example:80", "Origin": "http://evil.example:80"}
        async with http.post(f"{server}/demo/session", headers=rebound) as response:
            assert response.status == 403
            assert (await response.json())["error"]["code"] == "demo_not_local"

        async with http.post(f"{server}/demo/session", headers={"Origin": server}) as response:
            assert response.status == 200
            secret = (await response.json())["value"]
        assert secret.startswith("ek_")
        ws_url = server.replace("http", "ws") + "/v1/realtime"
        protocols = ("realtime", f"openai-insecure-api-key.{secret}")
        async with http.ws_connect(ws_url, protocols=protocols) as ws:
            created = json.loads((await ws.receive(timeout=30)).data)
        assert created["type"] == "session.created"
        transcription = created["session"]["audio"]["input"]["transcription"]
        assert transcription["voxgate"]["speaker_segments"] is True
        assert created["session"]["audio"]["input"]["turn_detection"]["create_response"] is False
        async with http.get(ws_url, headers={"Sec-WebSocket-Protocol": protocols[1]}) as again:
            assert again.status == 401  # single use

        # the rate limit: one secret was minted above
        statuses = []
        for _ in range(SESSIONS_PER_WINDOW):
            async with http.post(f"{server}/demo/session") as response:
                statuses.append(response.status)
                retry_after = response.headers.get("Retry-After")
        assert statuses == [200] * (SESSIONS_PER_WINDOW - 1) + [429]
        assert retry_after is not None and int(retry_after) >= 1


async def test_demo_off_serves_nothing(engines):
    app = create_app(Settings(data_dir=tempfile.mkdtemp(), demo="off"), engines=engines)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        async with ClientSession() as http:
            async with http.post(f"http://127.0.0.1:{port}/demo/session") as response:
                assert response.status in (401, 404)
            async with http.get(f"http://127.0.0.1:{port}/demo/") as response:
                assert response.status in (401, 404)
    finally:
        await runner.cleanup()
