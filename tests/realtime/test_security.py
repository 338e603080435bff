"""Security promises (README "Security"): each bad input or abuse and what voxgate answers.

Connection logic and request validation run with fake engines (no model is involved: the
requests are refused, or fail while decoding, before any engine runs). The decompression
bomb is real audio made here with PyAV and decoded by the real decoder.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import logging
import re
import sqlite3
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
import websockets
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient, TestServer

from engines.audio import decode_file
from engines.base import Engines
from engines.errors import AudioTooLong
from engines.testing import ScriptedASR, ScriptedVAD, ToneTTS
from realtime.auth.keys import KeyStore
from realtime.auth.middleware import CLIENT_SECRETS, KEYSTORE
from realtime.batch.app_keys import JOB_STORE, URL_SIGNER
from realtime.batch.files import audio_path
from realtime.batch.responses import audio_scope
from realtime.batch.store import Job
from realtime.server import app as app_module
from realtime.server.app import create_app
from realtime.server.ratelimit import RATE_LIMITS, TokenBuckets
from realtime.server.settings import Settings
from testkit import loadgen

LIMIT = 64 * 1024
"""max_upload_bytes of the test apps."""


def fakes() -> Engines:
    return Engines(vad=ScriptedVAD([]), asr=ScriptedASR(), tts=ToneTTS())


@contextlib.asynccontextmanager
async def serving(app: web.Application):
    async with TestClient(TestServer(app)) as client:
        yield client


DEFAULTS = {"batch_workers": 0, "max_upload_bytes": LIMIT}
"""Settings of the test apps, besides their data directory."""


def make_app(data_dir: Path, **settings) -> web.Application:
    return create_app(Settings(data_dir=data_dir, **{**DEFAULTS, **settings}), engines=fakes())


@pytest.fixture
async def client(tmp_path):
    async with serving(make_app(tmp_path / "data")) as c:
        yield c


@pytest.fixture
def key(client) -> str:
    return client.app[KEYSTORE].create("test")[1]


async def error_of(response, status: int) -> dict:
    assert response.status == status, await response.text()
    body = await response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "code", "param"}
    return body["error"]


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- authentication on every route ------------------------------------------------------------

NEEDS_NO_KEY = {
    ("GET", "/health"): 200,
    ("GET", "/demo"): 302,  # the demo's static page (redirect to /demo/)
    ("GET", "/demo/"): 200,
    ("GET", "/demo/{name}"): 200,
}
"""Routes open without a key, and what they answer."""
OWN_CREDENTIAL = {
    ("GET", "/files/jobs/{job_id}/audio"): 403,  # the signed URL is the credential
    ("POST", "/demo/session"): 403,  # loopback + same-origin guard (a rebound Host here)
}
"""Routes that take another credential instead of a key; refused without it."""
EXAMPLE = {"{job_id}": "1", "{name}": "index.html", "{call_id}": "rtc_1"}


def concrete(path: str) -> str:
    for placeholder, value in EXAMPLE.items():
        path = path.replace(placeholder, value)
    assert "{" not in path, f"no example value for a parameter of {path}: extend EXAMPLE"
    return path


async def test_every_route_but_health_and_the_demo_page_needs_a_key(client):
    """Walks the router, so a route added later cannot slip through unauthenticated."""
    routes = {
        (r.method, r.resource.canonical)
        for r in client.app.router.routes()
        if r.resource is not None and r.method not in ("HEAD", "OPTIONS")
    }
    assert len(routes) >= 10 and ("GET", "/v1/realtime") in routes
    assert set(NEEDS_NO_KEY) | set(OWN_CREDENTIAL) <= routes
    for method, path in sorted(routes):
        url = concrete(path)
        headers = {"Host": "evil.example"} if path == "/demo/session" else {}
        response = await client.request(method, url, headers=headers, allow_redirects=False)
        expected = NEEDS_NO_KEY.get((method, path)) or OWN_CREDENTIAL.get((method, path)) or 401
        assert response.status == expected, (method, path, await response.text())
        if expected == 401:
            error = await error_of(response, 401)
            assert (error["type"], error["code"]) == ("authentication_error", "missing_api_key")
            bad = await client.request(
                method, url, headers={"Authorization": "Bearer vg_0000abcd_wrong"}
            )
            assert (await error_of(bad, 401))["code"] == "invalid_api_key"


# --- keys: hashed, constant-time, never logged ------------------------------------------------


def test_keys_are_stored_only_as_sha256(tmp_path):
    store = KeyStore(tmp_path / "keys.db")
    record, plaintext = store.create("ci")
    assert store.verify(plaintext) == record
    with sqlite3.connect(tmp_path / "keys.db") as db:
        (stored,) = db.execute("SELECT hash FROM api_keys WHERE id = ?", (record.id,)).fetchone()
    assert stored == hashlib.sha256(plaintext.encode()).hexdigest() != plaintext
    secret_part = plaintext.split("_", 2)[2].encode()
    for file in tmp_path.iterdir():  # the database and its WAL: no trace of the secret
        assert secret_part not in file.read_bytes(), file.name


def test_every_verification_is_one_constant_time_comparison(tmp_path, monkeypatch):
    """Valid, wrong, unknown and malformed keys all cost one hmac.compare_digest call."""
    import realtime.auth.keys

    store = KeyStore(tmp_path / "keys.db")
    record, plaintext = store.create("ci")
    calls: list[tuple[str, str]] = []
    real = realtime.auth.keys.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(realtime.auth.keys.hmac, "compare_digest", spy)
    presented = [plaintext, plaintext[:-1] + "x", f"vg_{'0' * 8}_nope", "garbage", ""]
    results = [store.verify(p) for p in presented]
    assert results == [record, None, None, None, None]
    assert len(calls) == len(presented)
    assert all(len(a) == len(b) == 64 for a, b in calls)  # equal-length digests, always


async def test_keys_and_client_secrets_never_reach_the_logs(tmp_path, caplog, capsys):
    """The production server (``app._run``), DEBUG logging, keys in every accepted place."""
    caplog.set_level(logging.DEBUG)
    settings = Settings(data_dir=tmp_path, batch_workers=0, host="127.0.0.1", port=0)
    app = create_app(settings, engines=fakes())
    plaintext = app[KEYSTORE].create("logged?")[1]
    wrong = "vg_deadbeef_" + "w" * 43
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(app_module._run(app, settings, ready.set_result))
    try:
        base = await asyncio.wait_for(ready, 60)
        import aiohttp

        async with aiohttp.ClientSession() as http:
            for headers, params in [
                ({"Authorization": f"Bearer {plaintext}"}, {}),
                ({"Authorization": plaintext}, {}),
                ({"X-API-Key": plaintext}, {}),
                ({}, {"api-key": plaintext}),
                ({"Authorization": wrong}, {}),
            ]:
                async with http.get(f"{base}/transcriptions", headers=headers, params=params) as r:
                    assert r.status in (200, 401)
            async with http.post(
                f"{base}/v1/realtime/client_secrets", headers={"Authorization": plaintext}
            ) as r:
                secret = (await r.json())["value"]
        ws_url = base.replace("http", "ws") + "/v1/realtime"
        protocols = ["realtime", f"openai-insecure-api-key.{secret}"]
        async with websockets.connect(ws_url, subprotocols=protocols) as ws:  # type: ignore[arg-type]
            assert json.loads(await ws.recv())["type"] == "session.created"
            await ws.send("{not json")
            await ws.send(
                json.dumps({"type": "response.create", "response": {"instructions": "Hi."}})
            )
            while json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] != "response.done":
                pass
    finally:
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server
    captured = capsys.readouterr()
    # the test's own WebSocket client logs its handshake at DEBUG, secret included: proof
    # that a server record holding a key would be caught here too
    client_side = [r for r in caplog.records if r.name.startswith("websockets.client")]
    assert any(secret in r.getMessage() for r in client_side)
    records = [r for r in caplog.records if r not in client_side]
    logged = captured.out + captured.err
    logged += "".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in records)
    for value in (plaintext, plaintext.split("_", 2)[2], wrong, secret):
        assert value not in logged


# --- client secrets -----------------------------------------------------------------------------


async def test_a_client_secret_opens_one_session_then_401_and_expired_ones_401(tmp_path):
    async with loadgen.serve(fakes(), **DEFAULTS) as server:
        app, http_url = server.app, server.url
        url = http_url.replace("http", "ws", 1) + "/v1/realtime"
        plaintext = server.key
        record = app[KEYSTORE].verify(plaintext)
        import aiohttp

        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{http_url}/v1/realtime/client_secrets",
                headers={"Authorization": plaintext},
                json={"expires_after": {"anchor": "created_at", "seconds": 10}},
            ) as r,
        ):
            body = await r.json()
        secret = body["value"]
        assert secret.startswith("ek_") and body["expires_at"] <= time.time() + 11
        protocols = ["realtime", f"openai-insecure-api-key.{secret}"]
        async with websockets.connect(url, subprotocols=protocols) as ws:  # type: ignore[arg-type]
            assert json.loads(await ws.recv())["type"] == "session.created"
            assert ws.subprotocol == "realtime"  # the key-bearing entry is never echoed
        with pytest.raises(websockets.InvalidStatus) as again:
            async with websockets.connect(url, subprotocols=protocols):  # type: ignore[arg-type]
                pass
        assert again.value.response.status_code == 401

        expired, _ = app[CLIENT_SECRETS].mint(record, ttl_s=10, now=time.time() - 3600)
        stale = ["realtime", f"openai-insecure-api-key.{expired}"]
        with pytest.raises(websockets.InvalidStatus) as late:
            async with websockets.connect(url, subprotocols=stale):  # type: ignore[arg-type]
                pass
        assert late.value.response.status_code == 401

        fresh, _ = app[CLIENT_SECRETS].mint(record, ttl_s=60, now=time.time())
        with pytest.raises(websockets.InvalidStatus) as rest:  # secrets are realtime-only
            async with websockets.connect(
                http_url.replace("http", "ws", 1) + "/transcriptions",
                additional_headers={"Authorization": f"Bearer {fresh}"},
            ):
                pass
        assert rest.value.response.status_code == 401


# --- signed audio URLs ----------------------------------------------------------------------------


async def submit(client, key: str, data: bytes, **params) -> dict:
    response = await client.post(
        "/submit", data=data, params=params, headers={"Authorization": key}
    )
    assert response.status == 200, await response.text()
    return await response.json()


def path_and_query(url: str) -> str:
    return "/" + url.split("/", 3)[3]


async def test_signed_audio_urls_expire_and_cannot_be_forged_or_reused(client, key):
    other = client.app[KEYSTORE].create("other")[1]
    mine = await submit(client, key, b"RIFF-mine" * 10, filename="mine.wav")
    theirs = await submit(client, other, b"RIFF-theirs" * 10, filename="theirs.wav")
    url = path_and_query(mine["original_audio_url"])
    fetched = await client.get(url)  # no key: the URL is the credential
    assert fetched.status == 200 and await fetched.read() == b"RIFF-mine" * 10
    assert "filename*=UTF-8''mine.wav" in fetched.headers["Content-Disposition"]

    expires = re.search(r"expires=(\d+)", url)[1]
    signature = re.search(r"signature=([0-9a-f]+)", url)[1]
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    forged = [
        url.replace(f"signature={signature}", f"signature={flipped}"),  # tampered signature
        url.replace(f"expires={expires}", f"expires={int(expires) + 3600}"),  # longer life
        url.replace(f"/jobs/{mine['id']}/", f"/jobs/{theirs['id']}/"),  # another key's job
        url.split("?")[0],  # no signature
        url.replace(f"signature={signature}", "signature=" + "é" * 64),  # not hex
        url.replace(f"expires={expires}", "expires=²"),  # a digit int() refuses
        f"/files/jobs/²/audio?expires={expires}&signature={signature}",
    ]
    for bad in forged:
        error = await error_of(await client.get(bad), 403)
        assert error["code"] == "invalid_signature", bad

    signer = client.app[URL_SIGNER]
    jobs = {j["id"]: j for j in (mine, theirs)}
    job_mine: Job = client.app[JOB_STORE].get(mine["id"], owner=None)
    job_theirs: Job = client.app[JOB_STORE].get(theirs["id"], owner=None)
    assert set(jobs) == {job_mine.id, job_theirs.id}
    now = time.time()
    expired = signer.sign(
        "", audio_path(job_mine.id), now=now - 7200, ttl_s=3600, scope=audio_scope(job_mine)
    )
    assert (await error_of(await client.get(expired), 403))["code"] == "invalid_signature"
    # a signature made for key A's job (its owner and audio) never opens key B's job, even
    # at the same path (as if job ids had been reused by a new database)
    crossed = signer.sign(
        "", audio_path(job_theirs.id), now=now, ttl_s=3600, scope=audio_scope(job_mine)
    )
    assert (await client.get(crossed)).status == 403
    right = signer.sign(
        "", audio_path(job_theirs.id), now=now, ttl_s=3600, scope=audio_scope(job_theirs)
    )
    assert await (await client.get(right)).read() == b"RIFF-theirs" * 10


# --- paths and file names --------------------------------------------------------------------------


def multipart_with_raw_filename(filename: bytes, content: bytes) -> tuple[bytes, str]:
    boundary = "voxgateboundary"
    body = (
        f"--{boundary}\r\n".encode()
        + b'Content-Disposition: form-data; name="file"; filename="'
        + filename
        + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def files_under(root: Path) -> Iterator[str]:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield path.relative_to(root).as_posix()


STORED = re.compile(r"(voxgate\.db(-wal|-shm)?|url-signing\.key|audio/[0-9a-f]{2}/[0-9a-f]{64})")


async def test_file_names_and_ids_never_escape_the_data_directory(tmp_path):
    data = tmp_path / "data"
    async with serving(make_app(data)) as client:
        key = client.app[KEYSTORE].create("t")[1]
        auth = {"Authorization": key}
        cases = {
            "../../etc/passwd": "passwd",
            "/etc/passwd": "passwd",
            "..\\..\\windows\\win.ini": "win.ini",
            "..": "audio",
            "a\x00b.wav": "ab.wav",
        }
        accepted = len(cases)
        for i, (name, shown) in enumerate(cases.items()):
            job = await submit(client, key, b"audio%d" % i, filename=name)
            body = await (await client.get(f"/transcriptions/{job['id']}", headers=auth)).json()
            assert body["filename"] == shown
        for i, raw in enumerate([b"../../../tmp/x.wav", b"/etc/passwd", b"nul\x00.wav"]):
            payload, content_type = multipart_with_raw_filename(raw, b"part%d" % i)
            response = await client.post(
                "/submit", data=payload, headers={**auth, "Content-Type": content_type}
            )
            if response.status == 200:  # or refused as malformed: either way, nothing written
                accepted += 1
                job_id = (await response.json())["id"]
                listed = await client.get(f"/transcriptions/{job_id}", headers=auth)
                name = (await listed.json())["filename"]
                assert "/" not in name and "\x00" not in name and name not in ("", "..")
            else:
                await error_of(response, 400)
            payload, content_type = multipart_with_raw_filename(raw, b"transcribe%d" % i)
            response = await client.post(
                "/v1/audio/transcriptions",
                data=payload,
                headers={**auth, "Content-Type": content_type},
            )
            await error_of(response, 400)  # not audio, or a malformed part: never a 500
        for path in [
            "/transcriptions/..%2F..%2Fetc%2Fpasswd",
            "/transcriptions/1%00",
            "/transcriptions/%2Fetc%2Fpasswd",
        ]:
            assert (await client.get(path, headers=auth)).status == 404, path
        for path in [
            "/files/jobs/..%2F..%2Fetc%2Fpasswd/audio?expires=9999999999&signature=00",
            "/files/jobs/1%00/audio?expires=9999999999&signature=00",
        ]:
            assert (await client.get(path)).status in (403, 404), path
        for path in ["/demo/..%2F..%2F..%2Fetc%2Fpasswd", "/demo/%2Fetc%2Fpasswd", "/demo/.env"]:
            response = await client.get(path)
            assert response.status == 404, path
            assert "root:" not in await response.text()
    assert [p.name for p in tmp_path.iterdir()] == ["data"]  # nothing written beside it
    unexpected = [p for p in files_under(data) if not STORED.fullmatch(p)]
    assert unexpected == []
    assert len([p for p in files_under(data) if p.startswith("audio/")]) == accepted >= 7


# --- per-key rate limits ------------------------------------------------------------------------


def test_token_buckets_burst_refill_and_stay_bounded():
    clock = FakeClock()
    buckets = TokenBuckets(3, max_keys=2, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]  # a burst of 3
    assert buckets.take("a") == pytest.approx(20.0)  # 3/min: one token every 20 s
    clock.now += 10
    assert buckets.take("a") == pytest.approx(10.0)
    clock.now += 10
    assert buckets.take("a") == 0.0
    clock.now += 3600  # a long idle refills to the burst, never beyond
    assert [buckets.take("a") for _ in range(4)][-1] > 0
    for name in ("b", "c", "d"):
        buckets.take(name)
    assert len(buckets) == 2  # memory bounded: least recently used forgotten
    with pytest.raises(ValueError):
        TokenBuckets(0)


async def test_rate_limit_answers_429_with_retry_after_and_recovers(tmp_path):
    app = make_app(tmp_path, rate_limit_per_minute=3)
    clock = FakeClock()
    app[RATE_LIMITS] = TokenBuckets(3, clock=clock)
    async with serving(app) as client:
        key = app[KEYSTORE].create("busy")[1]
        other = app[KEYSTORE].create("quiet")[1]
        auth = {"Authorization": key}
        statuses = [(await client.get("/transcriptions", headers=auth)).status for _ in range(3)]
        assert statuses == [200, 200, 200]
        limited = await client.get("/transcriptions", headers=auth)
        error = await error_of(limited, 429)
        assert (error["code"], error["type"]) == ("rate_limit_exceeded", "rate_limit_error")
        assert "3 requests per minute" in error["message"]
        assert limited.headers["Retry-After"] == "20"
        # every kind of request with that key is limited: REST, uploads, WebSocket upgrades
        assert (await client.post("/submit", data=b"x", headers=auth)).status == 429
        upgrade = await client.get("/v1/realtime", headers={**auth, "Upgrade": "websocket"})
        assert upgrade.status == 429
        # other keys, /health and unauthenticated requests are not counted against it
        assert (await client.get("/transcriptions", headers={"Authorization": other})).status == 200
        assert [(await client.get("/health")).status for _ in range(10)] == [200] * 10
        assert (await client.get("/transcriptions")).status == 401
        clock.now += 19
        assert (await client.get("/transcriptions", headers=auth)).headers["Retry-After"] == "1"
        clock.now += 1
        assert (await client.get("/transcriptions", headers=auth)).status == 200


async def test_rate_limit_zero_means_off(tmp_path):
    app = make_app(tmp_path, rate_limit_per_minute=0)
    assert RATE_LIMITS not in app
    async with serving(app) as client:
        auth = {"Authorization": app[KEYSTORE].create("t")[1]}
        statuses = {(await client.get("/transcriptions", headers=auth)).status for _ in range(30)}
        assert statuses == {200}


# --- request size limits ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "data", "content_type"),
    [
        ("/v1/audio/speech", b'{"input": "' + b"a" * LIMIT + b'"}', "application/json"),
        ("/v1/realtime/client_secrets", b'{"x": "' + b"a" * LIMIT + b'"}', "application/json"),
        ("/submit", b"a" * (LIMIT + 1), "application/octet-stream"),
    ],
)
async def test_bodies_over_the_limit_are_413(client, key, path, data, content_type):
    headers = {"Authorization": key, "Content-Type": content_type}
    error = await error_of(await client.post(path, data=data, headers=headers), 413)
    assert error["message"]


async def test_malformed_json_event_is_an_error_event_and_the_session_goes_on(tmp_path):
    async with loadgen.serve(fakes(), **DEFAULTS) as server:
        key = server.key
        async with websockets.connect(
            server.url.replace("http", "ws", 1) + "/v1/realtime",
            additional_headers={"Authorization": f"Bearer {key}"},
        ) as ws:
            await ws.recv()
            await ws.send('{"type": "session.update", "event_id": "evt_bad", "session": 7}')
            await ws.send("][ not json")
            errors = []
            while len(errors) < 2:
                event = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if event["type"] == "error":
                    errors.append(event["error"])
            assert errors[0]["event_id"] == "evt_bad"
            assert errors[1]["type"] == "invalid_request_error"
            await ws.send(json.dumps({"type": "input_audio_buffer.clear"}))
            while json.loads(await ws.recv())["type"] != "input_audio_buffer.cleared":
                pass


# --- CORS ---------------------------------------------------------------------------------------

PAGE = "https://app.example.com"
PREFLIGHT = {
    "Origin": PAGE,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type",
}


async def test_cors_is_off_by_default(client, key):
    preflight = await client.options("/transcriptions", headers=PREFLIGHT)
    assert preflight.status == 405
    assert "Access-Control-Allow-Origin" not in preflight.headers
    for path in ["/health", "/transcriptions"]:
        response = await client.get(path, headers={"Origin": PAGE, "Authorization": key})
        assert response.status == 200
        assert not [h for h in response.headers if h.lower().startswith("access-control-")]


async def test_cors_allows_the_configured_origins_only(tmp_path):
    app = make_app(tmp_path, cors_origins=f"{PAGE},http://localhost:3000")
    async with serving(app) as client:
        key = app[KEYSTORE].create("t")[1]
        preflight = await client.options("/v1/audio/transcriptions", headers=PREFLIGHT)
        assert preflight.status == 204
        assert preflight.headers["Access-Control-Allow-Origin"] == PAGE
        assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
        allowed = {
            h.strip().lower() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")
        }
        assert {"authorization", "content-type", "openai-beta"} <= allowed
        assert "Access-Control-Allow-Credentials" not in preflight.headers

        ok = await client.get("/transcriptions", headers={"Origin": PAGE, "Authorization": key})
        assert ok.status == 200 and ok.headers["Access-Control-Allow-Origin"] == PAGE
        assert "Origin" in ok.headers["Vary"]
        denied = await client.get("/transcriptions", headers={"Origin": PAGE})
        assert denied.status == 401  # errors are readable by the page too
        assert denied.headers["Access-Control-Allow-Origin"] == PAGE

        evil = {**PREFLIGHT, "Origin": "https://evil.example"}
        assert (
            "Access-Control-Allow-Origin"
            not in (await client.options("/submit", headers=evil)).headers
        )
        other = await client.get("/health", headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in other.headers


async def test_cors_star_is_an_explicit_opt_in(tmp_path):
    app = make_app(tmp_path, cors_origins='["*"]')
    async with serving(app) as client:
        response = await client.get("/health", headers={"Origin": "https://anyone.example"})
        assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_cors_origins_parse_from_the_environment(monkeypatch):
    monkeypatch.setenv("VOXGATE_CORS_ORIGINS", "https://a.example, http://localhost:3000/")
    assert Settings().cors_origins == ["https://a.example", "http://localhost:3000"]
    monkeypatch.setenv("VOXGATE_CORS_ORIGINS", '["https://b.example"]')
    assert Settings().cors_origins == ["https://b.example"]
    monkeypatch.setenv("VOXGATE_CORS_ORIGINS", "")
    assert Settings().cors_origins == []
    for bad in ["https://a.example/path", "ftp://a.example", "a.example"]:
        monkeypatch.setenv("VOXGATE_CORS_ORIGINS", bad)
        with pytest.raises(ValueError, match="not an origin"):
            Settings()


# --- decompression bombs --------------------------------------------------------------------------

BOMB_RATE = 8000


@pytest.fixture(scope="module")
def silence_bomb() -> bytes:
    """Three hours of digital silence as FLAC: about 2 MB that decode to 345 MB."""
    buffer = io.BytesIO()
    block = np.zeros((1, BOMB_RATE * 10), np.int16)
    with av.open(buffer, "w", format="flac") as container:
        stream = container.add_stream("flac", rate=BOMB_RATE)
        stream.layout = "mono"  # type: ignore[union-attr]
        for i in range(3 * 3600 // 10):
            frame = av.AudioFrame.from_ndarray(block, format="s16", layout="mono")
            frame.sample_rate = BOMB_RATE
            frame.pts = i * len(block[0])
            for packet in stream.encode(frame):  # type: ignore[union-attr]
                container.mux(packet)
        for packet in stream.encode(None):  # type: ignore[union-attr]
            container.mux(packet)
    return buffer.getvalue()


def test_decoding_stops_at_the_length_limit(silence_bomb):
    assert len(silence_bomb) < 4_000_000
    tracemalloc.start()
    try:
        with pytest.raises(AudioTooLong, match="limit of 60 s") as caught:
            decode_file(silence_bomb, max_seconds=60)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.limit_s == 60
    # the whole recording would be 3 h x 16 kHz x 2 bytes = 345 MB; a minute is 1.9 MB
    assert peak < 40_000_000, peak
    short = decode_file(silence_bomb[: len(silence_bomb) // 200], max_seconds=None)
    assert 0 < short.duration < 3 * 3600  # without a limit the same decoder reads it


async def test_a_bomb_is_refused_by_both_transcription_routes(tmp_path, silence_bomb):
    settings = {"max_upload_bytes": 8_000_000, "max_audio_seconds": 60, "batch_workers": 1}
    app = create_app(Settings(data_dir=tmp_path, **settings), engines=fakes())
    async with serving(app) as client:
        auth = {"Authorization": app[KEYSTORE].create("t")[1]}
        form = FormData()
        form.add_field("file", silence_bomb, filename="silence.flac")
        response = await client.post("/v1/audio/transcriptions", data=form, headers=auth)
        error = await error_of(response, 413)
        assert error["code"] == "audio_too_long" and "limit of 60 s" in error["message"]

        job = await submit(client, auth["Authorization"], silence_bomb, filename="silence.flac")
        for _ in range(20):
            body = await (
                await client.get(f"/transcriptions/{job['id']}?wait=30", headers=auth)
            ).json()
            if body["status"] in ("completed", "failed"):
                break
        assert body["status"] == "failed"
        assert "limit of 60 s" in body["error_message"]


# --- the README's promise table -----------------------------------------------------------------


def test_every_row_of_the_readme_security_table_names_existing_tests():
    tests_dir = Path(__file__).resolve().parents[1]
    readme = (tests_dir.parent / "README.md").read_text()
    table = readme.split("| Bad input or abuse | What voxgate does | Test |", 1)[1]
    rows = [line for line in table.split("\n\n", 1)[0].splitlines()[2:] if line.startswith("|")]
    assert len(rows) >= 20
    for row in rows:
        cited = re.findall(r"`([\w/]+\.py)::(\w+)`", row.rsplit("|", 2)[1])
        assert cited, f"a row without a test: {row}"
        for path, name in cited:
            source = (tests_dir / path).read_text()
            assert re.search(rf"^(async )?def {name}\(", source, re.MULTILINE), (path, name)
