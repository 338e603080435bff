"""Property-based API testing: requests generated from our own ``/openapi.json``.

Schemathesis reads the document the server serves and sends every operation a fixed,
derandomized set of valid and invalid requests (path, query, headers, bodies). Every
answer must be a non-5xx response that matches the document (status codes, content types,
JSON bodies). The engines are fakes: a request either is refused by validation or fails
while decoding random bytes before any model would run.
"""

from __future__ import annotations

import os
import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    positive_data_acceptance,
    unsupported_method,
)

from engines.base import Engines
from engines.testing import ScriptedASR, ScriptedVAD, ToneTTS
from realtime.auth.middleware import KEYSTORE
from realtime.server.app import create_app
from realtime.server.openapi import spec
from realtime.server.settings import Settings
from tests.realtime.batch_support import LiveServer

EXAMPLES = int(os.environ.get("VOXGATE_SCHEMATHESIS_EXAMPLES", "25"))
"""Generated requests per operation; set the variable higher for a deeper local run."""


@pytest.fixture(scope="module")
def live() -> tuple[str, str]:
    """The app on a loopback port (fake engines, one batch worker), and an API key."""
    fakes = Engines(vad=ScriptedVAD([]), asr=ScriptedASR(), tts=ToneTTS())
    options = Settings(
        data_dir=tempfile.mkdtemp(prefix="voxgate-schemathesis-"),
        batch_workers=1,
        max_upload_bytes=1_000_000,
        rate_limit_per_minute=0,  # thousands of requests in a minute: not what is tested here
    )
    app = create_app(options, engines=fakes)
    key = app[KEYSTORE].create("schemathesis")[1]
    with LiveServer(app) as server:
        yield server.url, key


schemathesis.serializer.alias("audio/*", "application/octet-stream")  # /submit's raw bodies
schemathesis.serializer.alias("application/sdp", "text/plain")  # WebRTC offers

CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {
            # unknown query parameters are ignored, as HTTP APIs do (not an error)
            "allow-extra-parameters": False,
            # the key is sent with every call; generated Authorization values would only
            # test the 401 path, which tests/realtime/test_security.py covers exhaustively
            "with-security-parameters": False,
        }
    }
)
schema = schemathesis.openapi.from_dict(spec(), config=CONFIG)
"""The document ``GET /openapi.json`` serves (checked by the first test), loaded in-process
so that pytest sees one test per operation."""


def test_the_tested_document_is_the_served_one(live) -> None:
    import requests

    url, key = live
    served = requests.get(f"{url}/openapi.json", headers={"Authorization": key}, timeout=30)
    assert served.status_code == 200 and served.json() == schema.raw_schema


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_within_its_documented_contract(case, live) -> None:
    """No 5xx, and every answer as documented; invalid requests are refused (4xx).

    Left out: ``positive_data_acceptance`` (a request valid by the schema must succeed),
    since a schema cannot say "decodable audio" or "a voice this engine has": such bodies
    are refused with a 400 that names the problem. For ``/demo/session`` also the checks of
    undeclared methods (``unsupported_method``, ``allow_header_conformance``): ``GET
    /demo/{name}`` (the demo's static files, not part of the REST document) matches that
    path too, so a GET gets its 404 and ``Allow`` lists GET. Likewise ``/v1/realtime``,
    whose ``GET`` is the realtime WebSocket (a plain GET is refused with 400).
    """
    url, key = live
    excluded = [positive_data_acceptance]
    if case.path in ("/demo/session", "/v1/realtime"):
        excluded += [unsupported_method, allow_header_conformance]
    case.call_and_validate(
        base_url=url, headers={"Authorization": key}, excluded_checks=excluded, timeout=70
    )
