"""The HTTP surface: /health, authentication."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from engines.base import Engines
from engines.testing import ScriptedASR, ScriptedVAD, ToneTTS
from realtime import __version__
from realtime.server.app import create_app
from realtime.server.settings import Settings


@pytest.fixture
async def client(tmp_path):
    fakes = Engines(vad=ScriptedVAD([]), asr=ScriptedASR(), tts=ToneTTS())
    app = create_app(Settings(data_dir=tmp_path), engines=fakes)
    async with TestClient(TestServer(app)) as c:
        yield c


@pytest.fixture
def key(client) -> str:
    from realtime.auth.middleware import KEYSTORE

    return client.app[KEYSTORE].create("test")[1]


async def test_health_needs_no_key_and_matches_the_reference(client):
    response = await client.get("/health")
    assert response.status == 200
    assert await response.json() == {
        "status": "ok",
        "version": __version__,
        "model": "whisper-base",
    }


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "nope"}, {"api-key": "vg_x_y"}],
)
async def test_protected_routes_reject_without_a_valid_key(client, headers):
    response = await client.get("/transcriptions", headers=headers)
    assert response.status == 401
    body = await response.json()
    assert body["error"]["type"] == "authentication_error"
    assert body["error"]["code"] in {"missing_api_key", "invalid_api_key"}


@pytest.mark.parametrize("style", ["raw", "bearer", "header", "query"])
async def test_every_documented_key_placement_is_accepted(client, key, style):
    headers, params = {}, {}
    if style == "raw":
        headers["Authorization"] = key
    elif style == "bearer":
        headers["Authorization"] = f"Bearer {key}"
    elif style == "header":
        headers["api-key"] = key
    else:
        params["api-key"] = key
    response = await client.get("/no-such-route", headers=headers, params=params)
    assert response.status == 404  # past authentication
