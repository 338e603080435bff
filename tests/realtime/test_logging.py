"""Structured logs: session and job ids on each line, JSON output, keys never logged."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import aiohttp
import pytest
from aiohttp import web

from realtime.auth.middleware import KEYSTORE
from realtime.inference.scheduler import InferenceScheduler, Priority
from realtime.server import logs
from realtime.server.app import create_app
from realtime.server.settings import Settings
from tests.realtime import test_realtime_sdk as sdk
from tests.realtime.test_metrics import submit_and_wait

engines = sdk.engines  # the real engines, loaded once for the module (fixtures)
server = sdk.server


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Everything logged (debug and up) while the test runs, as JSON lines."""
    buffer = io.StringIO()
    handler = logs.make_handler("json", buffer)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


# --- formatting, without a server -----------------------------------------------------------


def test_json_lines_carry_the_ids_bound_around_them(captured):
    log = logging.getLogger("voxgate.test")
    log.info("outside")
    with logs.bound(session_id="sess_abc"):
        log.info("in %s", "session")
        with logs.bound(job_id=7):
            log.warning("in both")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    outside, in_session, in_both, failed = lines(captured)
    assert outside["message"] == "outside" and "session_id" not in outside
    assert "job_id" not in outside and "exc_info" not in outside
    assert in_session["session_id"] == "sess_abc" and in_session["message"] == "in session"
    assert in_session["level"] == "INFO" and in_session["logger"] == "voxgate.test"
    assert in_both["session_id"] == "sess_abc" and in_both["job_id"] == 7
    assert "ValueError: boom" in failed["exc_info"] and "session_id" not in failed
    assert failed["ts"].endswith("+00:00")


def test_inference_threads_log_with_their_submitters_ids(captured):
    log = logging.getLogger("voxgate.test")
    with InferenceScheduler(1) as scheduler:
        with logs.bound(session_id="sess_one"):
            first = scheduler.submit(log.info, "decoding for one")
            thread = scheduler.submit(lambda: threading.current_thread().name)
        with logs.bound(job_id=42):
            job = scheduler.schedule(lambda: log.info("a job step"), priority=Priority.BATCH)
        plain = scheduler.submit(log.info, "nobody's")
        for future in (first, job, plain):
            future.result(timeout=10)
        assert thread.result(timeout=10) != threading.current_thread().name
    by_message = {entry["message"]: entry for entry in lines(captured)}
    assert by_message["decoding for one"]["session_id"] == "sess_one"
    assert "job_id" not in by_message["decoding for one"]
    assert by_message["a job step"]["job_id"] == 42
    assert "session_id" not in by_message["a job step"]
    assert "session_id" not in by_message["nobody's"] and "job_id" not in by_message["nobody's"]


def test_text_lines_name_the_context_and_secrets_are_redacted():
    buffer = io.StringIO()
    handler = logs.make_handler("text", buffer)
    record = logging.LogRecord(
        "voxgate.test", logging.INFO, __file__, 1, "key %s secret %s", None, None
    )
    record.args = ("vg_0123abcd_Zm9vYmFyYmF6LXF1eF9xdXV4", "ek_c2VjcmV0LXZhbHVlLTEyMzQ1")
    with logs.bound(session_id="sess_x", job_id=3):
        handler.handle(record)
    line = buffer.getvalue()
    assert "[session=sess_x job=3]" in line
    assert "vg_0123abcd_[redacted]" in line and "ek_[redacted]" in line
    assert "Zm9vYmFy" not in line and "c2VjcmV0" not in line


def test_configure_installs_one_handler_at_the_level():
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    buffer = io.StringIO()
    try:
        logs.configure("warning", "json", stream=buffer)
        logs.configure("warning", "json", stream=buffer)  # again: still one handler
        logging.getLogger("voxgate.test").info("hidden")
        logging.getLogger("voxgate.test").warning("shown")
        assert len(root.handlers) == 1
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)
        root.setLevel(level)
    assert [entry["message"] for entry in lines(buffer)] == ["shown"]


# --- a live server with real engines --------------------------------------------------------


@pytest.mark.model
async def test_session_log_lines_carry_the_session_id(server, captured):
    async with server.client().realtime.connect(model="gpt-realtime") as conn:
        async for event in sdk.events(conn):
            assert event.type == "session.created"
            session_id = event.session.id
            break
    # the start is logged before session.created is sent
    started = [e for e in lines(captured) if e["message"].startswith("realtime session started")]
    assert [e.get("session_id") for e in started] == [session_id]
    assert session_id.startswith("sess_")


@pytest.mark.model
async def test_a_key_never_appears_in_the_logs(engines, captured, testdata, tmp_path):
    # the access log (off in `voxgate serve`, on here) shows query strings: the worst case
    app = create_app(Settings(data_dir=tmp_path), engines=engines)
    runner = web.AppRunner(app)  # aiohttp's default access log
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    key = app[KEYSTORE].create("test")[1]
    live = sdk.Server(url, key, app)
    try:
        async with aiohttp.ClientSession() as http:
            for headers, params in (
                ({"Authorization": key}, {}),
                ({"Authorization": f"Bearer {key}"}, {}),
                ({}, {"api-key": key}),
                ({"X-API-Key": key}, {}),
            ):
                async with http.get(
                    f"{url}/transcriptions", headers=headers, params=params
                ) as response:
                    assert response.status == 200
        job = await submit_and_wait(url, key, (testdata / "openai-whisper/jfk.flac").read_bytes())
        assert job["status"] == "completed"
        async with live.client().realtime.connect(model="gpt-realtime") as conn:
            async for event in sdk.events(conn):
                assert event.type == "session.created"
                break
    finally:
        await runner.cleanup()
    output = captured.getvalue()
    entries = lines(captured)
    assert any("/transcriptions" in e["message"] for e in entries)  # the access log ran
    assert any("api-key=vg_" in e["message"] for e in entries)  # … with the query's key id
    assert any(e.get("job_id") == job["id"] for e in entries)  # the job's lines are tagged
    secret = key.split("_", 2)[2]
    assert key not in output and secret not in output
