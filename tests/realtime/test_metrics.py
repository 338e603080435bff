"""``GET /metrics``: auth, a parseable exposition, and counters that move with real traffic.

A real server (default engines, real audio) driven by the official SDK for realtime and by
aiohttp for the batch API; the numbers are read back through ``/metrics`` itself.
"""

from __future__ import annotations

import base64
import tempfile
import time

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from realtime.auth.middleware import KEYSTORE
from realtime.server.app import create_app
from realtime.server.settings import Settings
from tests.realtime import test_realtime_sdk as sdk
from tests.realtime.test_realtime_sdk import VAD, pcm24, transcribe_stream

engines = sdk.engines  # the real engines, loaded once for the module (fixtures)
server = sdk.server

pytestmark = pytest.mark.model

DEADLINE_S = 60.0


async def scrape(url: str, key: str | None) -> tuple[int, str, str]:
    """``GET /metrics``: status, content type, body."""
    headers = {"Authorization": key} if key else {}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{url}/metrics", headers=headers) as response,
    ):
        return response.status, response.headers.get("Content-Type", ""), await response.text()


async def samples(url: str, key: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition: (name, sorted labels) → value."""
    status, _, body = await scrape(url, key)
    assert status == 200, body
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


async def until(url: str, key: str, check) -> dict:
    """Scrape until ``check(samples)`` holds (the server finishes a session after the client
    has closed it); fails after DEADLINE_S."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        found = await samples(url, key)
        if check(found):
            return found
        assert time.monotonic() < deadline, f"metrics never matched: {found}"


async def test_metrics_needs_a_key_and_parses(server):
    status, _, body = await scrape(server.url, None)
    assert status == 401, body
    status, content_type, body = await scrape(server.url, server.key)
    assert status == 200
    assert content_type.startswith("text/plain")
    names = {family.name for family in text_string_to_metric_families(body)}
    assert {
        "voxgate_realtime_sessions_active",
        "voxgate_audio_in_seconds",
        "voxgate_audio_out_seconds",
        "voxgate_transcription_latency_seconds",
        "voxgate_tts_latency_seconds",
        "voxgate_batch_queue_depth",
        "voxgate_batch_job_duration_seconds",
        "voxgate_batch_job_failures",
        "voxgate_errors",
    } <= names
    found = await samples(server.url, server.key)
    assert value(found, "voxgate_errors_total", api="http", code="401") == 1  # the first scrape


async def test_a_transcribed_session_moves_the_counters(server, testdata):
    payload = pcm24(testdata, "openai-whisper/jfk.flac").tobytes()
    async with server.client().realtime.connect(extra_query={"intent": "transcription"}) as conn:
        await conn.session.update(
            session={"type": "transcription", "audio": {"input": {"turn_detection": VAD}}}
        )
        during = await samples(server.url, server.key)
        assert value(during, "voxgate_realtime_sessions_active") == 1
        _, _, finals, _ = await transcribe_stream(conn, payload, bytes_per_chunk=9600, pace=0)
    after = await until(
        server.url, server.key, lambda f: value(f, "voxgate_realtime_sessions_active") == 0
    )
    # every appended byte counted: pcm16 at 24 kHz is 48,000 bytes a second
    assert value(after, "voxgate_audio_in_seconds_total") == pytest.approx(len(payload) / 48_000)
    assert finals
    assert value(after, "voxgate_transcription_latency_seconds_count") == len(finals)
    assert value(after, "voxgate_transcription_latency_seconds_sum") > 0
    assert value(after, "voxgate_audio_out_seconds_total") == 0  # nothing was spoken


async def test_a_spoken_response_counts_audio_out_and_tts_latency(server):
    sent = 0
    async with server.client().realtime.connect(model="gpt-realtime") as conn:
        await conn.response.create(response={"instructions": "Hello there, how are you?"})
        async for event in sdk.events(conn):
            if event.type == "response.output_audio.delta":
                sent += len(base64.b64decode(event.delta))
            elif event.type == "response.done":
                assert event.response.status == "completed"
                break
    assert sent > 0
    found = await until(
        server.url, server.key, lambda f: value(f, "voxgate_realtime_sessions_active") == 0
    )
    assert value(found, "voxgate_tts_latency_seconds_count") == 1
    assert value(found, "voxgate_audio_out_seconds_total") == pytest.approx(sent / 48_000)


async def test_client_mistakes_are_counted_by_error_code(server):
    async with server.client().realtime.connect(model="gpt-realtime") as conn:
        await conn.input_audio_buffer.commit()  # nothing appended: a client mistake
        await conn.input_audio_buffer.commit()
        errors = 0
        async for event in sdk.events(conn):
            if event.type == "error":
                assert event.error.code == "input_audio_buffer_commit_empty"
                errors += 1
                if errors == 2:
                    break
    found = await samples(server.url, server.key)
    code = "input_audio_buffer_commit_empty"
    assert value(found, "voxgate_errors_total", api="realtime", code=code) == 2


async def submit_and_wait(url: str, key: str, data: bytes) -> dict:
    headers = {"Authorization": key}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/submit", headers=headers, data=data) as response:
            assert response.status == 200, await response.text()
            job = await response.json()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            async with http.get(
                f"{url}/transcriptions/{job['id']}", headers=headers, params={"wait": "30"}
            ) as response:
                body = await response.json()
            if body["status"] in ("completed", "failed"):
                return body
    raise AssertionError(f"job {job['id']} did not finish")


async def test_batch_jobs_record_durations_and_failures(server, testdata):
    done = await submit_and_wait(
        server.url, server.key, (testdata / "openai-whisper/jfk.flac").read_bytes()
    )
    assert done["status"] == "completed", done
    failed = await submit_and_wait(
        server.url, server.key, (testdata / "aana/squirrel.wav").read_bytes()
    )  # ten seconds of digital silence: no speech fails the job
    assert failed["status"] == "failed", failed
    found = await samples(server.url, server.key)
    completed = value(found, "voxgate_batch_job_duration_seconds_count", status="completed")
    assert completed == 1
    assert value(found, "voxgate_batch_job_duration_seconds_count", status="failed") == 1
    assert value(found, "voxgate_batch_job_failures_total") == 1
    assert value(found, "voxgate_batch_queue_depth") == 0


async def test_queue_depth_is_read_from_the_store(engines, testdata):
    # no workers in this process: a submitted job waits in the queue
    settings = Settings(data_dir=tempfile.mkdtemp(), batch_workers=0)
    app = create_app(settings, engines=engines)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    key = app[KEYSTORE].create("test")[1]
    try:
        assert value(await samples(url, key), "voxgate_batch_queue_depth") == 0
        data = (testdata / "openai-whisper/jfk.flac").read_bytes()
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{url}/submit", headers={"Authorization": key}, data=data) as response,
        ):
            assert response.status == 200
        assert value(await samples(url, key), "voxgate_batch_queue_depth") == 1
    finally:
        await runner.cleanup()
