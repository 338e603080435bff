"""The batch HTTP surface without models: request validation, limits, auth, OpenAPI."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from engines.base import Engines
from engines.testing import ScriptedASR, ScriptedVAD, ToneTTS
from realtime.auth.middleware import KEYSTORE
from realtime.server.app import create_app
from realtime.server.app_keys import SETTINGS
from realtime.server.openapi import spec
from realtime.server.settings import Settings

LIMIT = 8192


@pytest.fixture
async def client(tmp_path):
    fakes = Engines(vad=ScriptedVAD([]), asr=ScriptedASR(), tts=ToneTTS())
    settings = Settings(data_dir=tmp_path, batch_workers=0, max_upload_bytes=LIMIT)
    app = create_app(settings, engines=fakes)
    async with TestClient(TestServer(app)) as c:
        yield c


@pytest.fixture
def key(client) -> str:
    return client.app[KEYSTORE].create("test")[1]


async def error_of(response, status: int) -> dict:
    assert response.status == status, await response.text()
    body = await response.json()
    assert set(body["error"]) == {"message", "type", "code", "param"}
    return body["error"]


async def test_submit_answers_at_once_with_the_reference_shape(client, key):
    response = await client.post(
        "/submit", data=b"RIFF....", headers={"Authorization": key}, params={"filename": "a.wav"}
    )
    assert response.status == 200
    body = await response.json()
    assert set(body) == {"id", "status", "created_at", "original_audio_url", "query_urls", "cached"}
    assert body["status"] == "submitted" and body["cached"] is False
    assert body["created_at"].endswith("Z") and len(body["created_at"]) == 24
    assert body["query_urls"]["get"].endswith(f"/transcriptions/{body['id']}")
    job = await (
        await client.get(f"/transcriptions/{body['id']}", headers={"Authorization": key})
    ).json()
    assert (job["status"], job["progress"], job["filename"], job["text"]) == (
        "submitted",
        0.0,
        "a.wav",
        None,
    )


async def test_empty_body_is_400(client, key):
    error = await error_of(await client.post("/submit", headers={"Authorization": key}), 400)
    assert "empty" in error["message"]


async def test_body_over_the_limit_is_413(client, key):
    headers = {"Authorization": key}
    await error_of(await client.post("/submit", data=b"x" * (LIMIT + 1), headers=headers), 413)

    async def chunked():  # no Content-Length: the limit is enforced while streaming
        for _ in range(LIMIT // 1024 + 2):
            yield b"y" * 1024

    await error_of(await client.post("/submit", data=chunked(), headers=headers), 413)
    ok = await client.post("/submit", data=b"z" * LIMIT, headers=headers)
    assert ok.status == 200
    assert not list((client.app[SETTINGS].data_dir / "audio" / "tmp").iterdir())  # no leftovers


async def test_multipart_without_a_file_field_is_400(client, key):
    from aiohttp import FormData

    form = FormData()
    form.add_field("other", b"data", filename="x.wav")
    error = await error_of(
        await client.post("/submit", data=form, headers={"Authorization": key}), 400
    )
    assert error["param"] == "file"


@pytest.mark.parametrize(
    ("path", "params", "param"),
    [
        ("/submit", {"non_speech": "maybe"}, "non_speech"),
        ("/submit", {"cache": "2"}, "cache"),
        ("/transcriptions", {"limit": "ten"}, "limit"),
        ("/transcriptions", {"limit": "0"}, "limit"),
        ("/transcriptions", {"offset": "-1"}, "offset"),
        ("/transcriptions/1", {"word_level_timestamps": "y3s"}, "word_level_timestamps"),
    ],
)
async def test_bad_parameters_are_400_naming_the_parameter(client, key, path, params, param):
    method = client.post if path == "/submit" else client.get
    response = await method(path, params=params, data=b"abc", headers={"Authorization": key})
    assert (await error_of(response, 400))["param"] == param


async def test_list_caps_the_limit_at_100_and_pages_newest_first(client, key):
    headers = {"Authorization": key}
    ids = [
        (await (await client.post("/submit", data=bytes([i]) * 10, headers=headers)).json())["id"]
        for i in range(3)
    ]
    body = await (
        await client.get("/transcriptions", params={"limit": "500"}, headers=headers)
    ).json()
    assert (body["total"], body["limit"], body["offset"]) == (3, 100, 0)
    assert [t["id"] for t in body["transcriptions"]] == ids[::-1]
    page = await (
        await client.get("/transcriptions", params={"limit": 1, "offset": 1}, headers=headers)
    ).json()
    assert [t["id"] for t in page["transcriptions"]] == [ids[1]]


@pytest.mark.parametrize("job_id", ["999999", "abc", "-1", "1" * 40])
async def test_unknown_ids_are_404(client, key, job_id):
    response = await client.get(f"/transcriptions/{job_id}", headers={"Authorization": key})
    assert (await error_of(response, 404))["code"] == "not_found"


@pytest.mark.parametrize(
    "path", ["/submit", "/transcriptions", "/transcriptions/1", "/openapi.json"]
)
async def test_everything_but_health_needs_a_key(client, path):
    method = client.post if path == "/submit" else client.get
    error = await error_of(await method(path), 401)
    assert error["type"] == "authentication_error"


async def test_signed_file_route_refuses_bad_signatures_without_a_key(client):
    response = await client.get("/files/jobs/1/audio", params={"expires": "9999999999"})
    assert (await error_of(response, 403))["code"] == "invalid_signature"


async def test_openapi_describes_every_rest_route(client, key):
    response = await client.get("/openapi.json", headers={"Authorization": key})
    assert response.status == 200
    document = await response.json()
    assert document == spec() and document["openapi"].startswith("3.1")
    routes = {
        (r.resource.canonical, r.method.lower())
        for r in client.app.router.routes()
        if r.method not in ("HEAD", "OPTIONS") and r.resource is not None
    }
    websocket = {("/v1/realtime", "get"), ("/realtime", "get")}
    pages = {("/demo", "get"), ("/demo/", "get"), ("/demo/{name}", "get")}  # HTML, not REST
    described = {
        (path, method) for path, operations in document["paths"].items() for method in operations
    }
    assert routes - websocket - pages == described


async def test_openai_transcription_validates_its_form(client, key):
    from aiohttp import FormData

    headers = {"Authorization": key}
    form = FormData()
    form.add_field("model", "whisper-1")
    error = await error_of(
        await client.post("/v1/audio/transcriptions", data=form, headers=headers), 400
    )
    assert error["param"] == "file"
    form = FormData()
    form.add_field("file", b"abc", filename="a.wav")
    form.add_field("response_format", "docx")
    error = await error_of(
        await client.post("/v1/audio/transcriptions", data=form, headers=headers), 400
    )
    assert error["param"] == "response_format"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "", "voice": "alloy"}, "input"),
        ({"input": "hi", "response_format": "ogg"}, "response_format"),
        ({"input": "hi", "voice": "nobody"}, "voice"),
        ({"input": "hi", "speed": "fast"}, "speed"),
        ({"input": "x" * 5000}, "input"),
    ],
)
async def test_openai_speech_validates_its_body(client, key, body, param):
    response = await client.post("/v1/audio/speech", json=body, headers={"Authorization": key})
    assert (await error_of(response, 400))["param"] == param


async def test_openai_speech_with_the_fake_engine_returns_wav(client, key):
    response = await client.post(
        "/v1/audio/speech",
        json={"input": "Hello there.", "voice": "alloy", "response_format": "wav"},
        headers={"Authorization": key},
    )
    assert response.status == 200 and response.content_type == "audio/wav"
    data = await response.read()
    assert data[:4] == b"RIFF" and len(data) > 44


@pytest.mark.parametrize(
    ("method", "path", "status"), [("get", "/submit", 405), ("get", "/nope", 404)]
)
async def test_routing_errors_are_json_too(client, key, method, path, status):
    response = await getattr(client, method)(path, headers={"Authorization": key})
    await error_of(response, status)
