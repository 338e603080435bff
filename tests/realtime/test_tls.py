"""TLS: the settings' checks, ``voxgate certs dev``, and the Python SDK over https and wss.

The live tests run a real ``voxgate serve --tls-cert … --tls-key …`` with a development
pair from ``voxgate certs dev``'s code; the ``openai`` SDK trusts its CA through
``SSL_CERT_FILE`` only (httpx for REST, websockets for realtime).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import ssl
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from cryptography import x509
from openai import AsyncOpenAI
from pydantic import ValidationError

from engines.audio import load_pcm, resample
from realtime.cli.certs import DevCerts, write_dev_certs
from realtime.cli.main import main
from realtime.server.errors import ConfigurationError
from realtime.server.settings import Settings
from realtime.server.tls import server_context
from testkit.wer import wer
from tests import serving

CLIP = "openai-whisper/jfk.flac"
EVENT_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> DevCerts:
    return write_dev_certs(tmp_path_factory.mktemp("tls") / "certs")


# --- settings -------------------------------------------------------------------------------


def test_tls_needs_a_certificate_and_its_key(certs, monkeypatch):
    with pytest.raises(ValidationError, match="tls_cert is set but tls_key is not: set tls_key"):
        Settings(tls_cert=certs.cert)
    monkeypatch.setenv("VOXGATE_TLS_KEY", str(certs.key))
    with pytest.raises(ValidationError, match=r"--tls-cert or VOXGATE_TLS_CERT\), or neither"):
        Settings()
    settings = Settings(tls_cert=certs.cert)
    assert settings.tls and settings.scheme == "https"
    monkeypatch.delenv("VOXGATE_TLS_KEY")
    assert Settings().scheme == "http" and server_context(Settings()) is None


def test_unreadable_tls_files_are_named(certs, tmp_path):
    for path, why in ((tmp_path / "missing.pem", "No such file"), (tmp_path, "Is a directory")):
        with pytest.raises(
            ValidationError, match=f"cannot read {re.escape(str(path))}: {why}.*voxgate certs dev"
        ):
            Settings(tls_cert=path, tls_key=certs.key)


def test_files_that_are_not_a_matching_pem_pair_are_one_clear_error(certs):
    with pytest.raises(ConfigurationError, match="not a PEM certificate and a PEM private key"):
        server_context(Settings(tls_cert=certs.key, tls_key=certs.cert))
    with pytest.raises(ConfigurationError, match="the key does not belong to the certificate"):
        server_context(Settings(tls_cert=certs.cert, tls_key=certs.ca_key))
    context = server_context(Settings(tls_cert=certs.cert, tls_key=certs.key))
    assert context is not None and context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_serve_stops_with_one_line_before_loading_models(certs, tmp_path):
    done = subprocess.run(
        [
            *(sys.executable, "-m", "realtime", "serve", "--data-dir", str(tmp_path)),
            *("--tls-cert", str(certs.cert), "--tls-key", str(certs.ca_key)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("voxgate: error: cannot serve TLS with ")
    assert "voxgate certs dev" in done.stderr
    assert not done.stdout  # no key was created: nothing started


# --- voxgate certs dev --------------------------------------------------------------------------


def names_of(cert: x509.Certificate) -> set[str]:
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(name.value) for name in sans}


def test_certs_dev_writes_a_ca_and_a_server_certificate(tmp_path, capsys):
    where = tmp_path / "certs"
    assert main(["certs", "dev", "--dir", str(where), "--name", "voxgate.test"]) == 0
    out = capsys.readouterr().out
    ca_pem = (where / "ca.pem").read_bytes()
    ca = x509.load_pem_x509_certificate(ca_pem)
    server = x509.load_pem_x509_certificate((where / "cert.pem").read_bytes())
    server.verify_directly_issued_by(ca)
    assert names_of(server) == {"localhost", "127.0.0.1", "::1", "voxgate.test"}
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for key in ("ca-key.pem", "key.pem"):
        assert stat.S_IMODE((where / key).stat().st_mode) == 0o600, key
    assert stat.S_IMODE(where.stat().st_mode) == 0o700
    for told in (
        f"--tls-cert {where / 'cert.pem'} --tls-key {where / 'key.pem'}",
        f"NODE_EXTRA_CA_CERTS={where / 'ca.pem'}",
        f"SSL_CERT_FILE={where / 'ca.pem'}",
        "Browsers: import",
        "A new CA",
    ):
        assert told in out, told
    # again: the CA is kept (clients keep trusting it), the server certificate is new
    old_server = (where / "cert.pem").read_bytes()
    assert main(["certs", "dev", "--dir", str(where)]) == 0
    assert "is kept" in capsys.readouterr().out
    assert (where / "ca.pem").read_bytes() == ca_pem
    assert (where / "cert.pem").read_bytes() != old_server
    renewed = x509.load_pem_x509_certificate((where / "cert.pem").read_bytes())
    renewed.verify_directly_issued_by(ca)
    assert names_of(renewed) == {"localhost", "127.0.0.1", "::1"}


# --- a live server over TLS ---------------------------------------------------------------------


@dataclass(frozen=True)
class Live:
    url: str  # https://127.0.0.1:PORT
    key: str
    certs: DevCerts
    log: Path  # the server's stderr


@pytest.fixture(scope="module")
def live(certs, tmp_path_factory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("tls-serve")
    log = root / "stderr.log"
    with log.open("w") as stderr:
        proc = serving.start(
            root / "data",
            "--tls-cert",
            str(certs.cert),
            "--tls-key",
            str(certs.key),
            "--responder",
            "say",
            stderr=stderr.fileno(),
        )
    try:
        url, lines = serving.read_until_listening(proc)
        key = serving.api_key(lines)
        assert key is not None
        yield Live(url, key, certs, log)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.model
def test_https_only_for_clients_that_trust_the_ca(live):
    assert live.url.startswith("https://127.0.0.1:")
    with pytest.raises(urllib.error.URLError) as refused:
        urllib.request.urlopen(f"{live.url}/health", timeout=10)
    assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)
    trusting = ssl.create_default_context(cafile=live.certs.ca)
    with urllib.request.urlopen(f"{live.url}/health", timeout=10, context=trusting) as answer:
        assert json.load(answer)["status"] == "ok"
    log = live.log.read_text()
    assert "TLS on: names localhost, 127.0.0.1, ::1, expires " in log
    assert "PRIVATE KEY" not in log and live.certs.key.read_text().splitlines()[1] not in log


@pytest.mark.model
async def test_the_python_sdk_over_wss_and_https_with_ssl_cert_file(live, testdata, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(live.certs.ca))
    reference = (testdata / CLIP).with_suffix(".txt").read_text().strip()
    pcm = resample(load_pcm(testdata / CLIP), 16_000, 24_000).astype(np.int16).tobytes()
    client = AsyncOpenAI(base_url=f"{live.url}/v1", api_key=live.key, max_retries=0)
    async with client, client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(
            session={
                "type": "realtime",
                "audio": {
                    "input": {
                        "transcription": {"model": "whisper-1", "language": "en"},
                        "turn_detection": None,
                    }
                },
            }
        )
        for at in range(0, len(pcm), 1920):
            await conn.input_audio_buffer.append(
                audio=base64.b64encode(pcm[at : at + 1920]).decode()
            )
        await conn.input_audio_buffer.commit()
        async with asyncio.timeout(EVENT_TIMEOUT_S):
            async for event in conn:
                assert event.type != "error", event
                if event.type == "conversation.item.input_audio_transcription.completed":
                    break
        assert wer(reference, event.transcript) <= 0.10, event.transcript
        with (testdata / CLIP).open("rb") as audio:
            batch = await client.audio.transcriptions.create(file=audio, model="whisper-1")
        assert wer(reference, batch.text) <= 0.10, batch.text
