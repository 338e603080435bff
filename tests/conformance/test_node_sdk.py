"""The OpenAI Node SDK (``openai`` 7.x on npm, pinned in node/package-lock.json) over TLS.

The SDK always builds ``wss:`` realtime URLs, so a real ``voxgate serve`` runs here with
``--tls-cert``/``--tls-key`` from a development pair made by ``voxgate certs dev``'s code,
and Node trusts its CA through ``NODE_EXTRA_CA_CERTS`` only (no check is turned off). The
scripts in node/ (plain ES modules; ``make test-setup`` runs ``npm ci`` there) transcribe a
real clip: GA realtime with both of the SDK's realtime clients, the beta dialect, a
browser-style WebSocket holding an ephemeral ``ek_`` client secret in its subprotocols, and
``audio.transcriptions.create`` over https. Without that CA, Node refuses the server.

Skipped only when ``node`` is not installed. The SDK declares Node 22 or later; on an older
Node (20 here) its native-WebSocket client needs ``--experimental-websocket``, given below.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from engines.audio import load_pcm, resample
from realtime.cli.certs import DevCerts, write_dev_certs
from testkit.wer import wer
from tests import serving

NODE = shutil.which("node")
if NODE is None:
    pytest.skip(
        "node is not installed: the Node SDK conformance tests need Node (20 or later)",
        allow_module_level=True,
    )

pytestmark = pytest.mark.model

SCRIPTS = Path(__file__).parent / "node"
README = Path(__file__).resolve().parents[2] / "README.md"
CLIP = "openai-whisper/jfk.flac"
SCRIPT_TIMEOUT_S = 120
UNTRUSTED = ("UNABLE_TO_VERIFY_LEAF_SIGNATURE", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY")
"""Node's error codes for a certificate whose issuer it does not trust (by OpenSSL version)."""


def node_flags() -> list[str]:
    """``--experimental-websocket`` where the global WebSocket is not on by default (< 22)."""
    assert NODE is not None
    version = subprocess.run([NODE, "--version"], capture_output=True, text=True, check=True).stdout
    major = int(version.strip().lstrip("v").split(".")[0])
    return ["--experimental-websocket"] if major < 22 else []


@dataclass(frozen=True)
class Live:
    base_url: str  # https://127.0.0.1:PORT/v1
    key: str
    certs: DevCerts
    pcm: Path  # the clip as raw pcm16 mono 24 kHz
    reference: str


@pytest.fixture(scope="module")
def live(tmp_path_factory, testdata) -> Iterator[Live]:
    """A ``voxgate serve`` with TLS from a fresh development pair; the clip for the scripts."""
    if not (SCRIPTS / "node_modules" / "openai").is_dir():
        pytest.fail(f"the Node SDK is not installed: run `make test-setup` (npm ci in {SCRIPTS})")
    root = tmp_path_factory.mktemp("node-tls")
    certs = write_dev_certs(root / "certs")
    pcm = root / "clip.pcm"
    pcm.write_bytes(resample(load_pcm(testdata / CLIP), 16_000, 24_000).astype(np.int16).tobytes())
    proc = serving.start(
        root / "data",
        "--tls-cert",
        str(certs.cert),
        "--tls-key",
        str(certs.key),
        "--responder",
        "say",
    )
    try:
        url, lines = serving.read_until_listening(proc)
        assert url.startswith("https://127.0.0.1:"), url
        key = serving.api_key(lines)
        assert key is not None
        reference = (testdata / CLIP).with_suffix(".txt").read_text().strip()
        yield Live(f"{url}/v1", key, certs, pcm, reference)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def node(
    live: Live, script: str, *args: str, trust: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``node/SCRIPT ARGS`` against the live server; ``trust``: set NODE_EXTRA_CA_CERTS."""
    assert NODE is not None
    env = {k: v for k, v in os.environ.items() if k != "NODE_EXTRA_CA_CERTS"}
    env.update(VOXGATE_BASE_URL=live.base_url, VOXGATE_API_KEY=live.key, VOXGATE_PCM=str(live.pcm))
    if trust:
        env["NODE_EXTRA_CA_CERTS"] = str(live.certs.ca)
    return subprocess.run(
        [NODE, *node_flags(), script, *args],
        cwd=SCRIPTS,
        env=env,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_S,
    )


def result(done: subprocess.CompletedProcess[str]) -> dict:
    """The JSON line a script printed; fails with its stderr when it exited non-zero."""
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("variant", "dialect"), [("ga-websocket", "ga"), ("ga-ws", "ga"), ("beta", "beta")]
)
def test_the_sdk_realtime_clients_transcribe_over_wss(live, variant, dialect):
    out = result(node(live, "realtime.mjs", variant))
    assert out["url"].startswith(live.base_url.replace("https://", "wss://") + "/realtime?model=")
    assert out["dialect"] == dialect
    assert out["same_item"] is True
    assert wer(live.reference, out["transcript"]) <= 0.10, out["transcript"]


def test_a_browser_style_socket_with_an_ephemeral_secret(live):
    out = result(node(live, "browser_secret.mjs"))
    assert out["secret_prefix"] == "ek_"
    assert out["protocol"] == "realtime"  # never the key-bearing subprotocol
    assert out["session_type"] == "transcription"  # the session the secret was minted for
    assert wer(live.reference, out["transcript"]) <= 0.10, out["transcript"]


def test_audio_transcriptions_create_over_https(live, testdata):
    out = result(node(live, "transcribe.mjs", str(testdata / CLIP)))
    assert wer(live.reference, out["text"]) <= 0.10, out["text"]


def test_without_the_ca_node_refuses_the_server(live, testdata):
    done = node(live, "transcribe.mjs", str(testdata / CLIP), trust=False)
    assert done.returncode == 1
    assert any(code in done.stderr for code in UNTRUSTED), done.stderr


def test_the_readme_snippet_works(live, tmp_path):
    (snippet,) = re.findall(r"```js\n(.*?)```", README.read_text(), flags=re.DOTALL)
    for placeholder, value in (
        ("https://127.0.0.1:8000/v1", live.base_url),
        ("vg_…", live.key),
        ("speech.pcm", str(live.pcm)),
    ):
        assert placeholder in snippet, placeholder
        snippet = snippet.replace(placeholder, value)
    script = tmp_path / "snippet.mjs"
    script.write_text(snippet)
    (tmp_path / "node_modules").symlink_to(SCRIPTS / "node_modules")
    done = node(live, script)
    assert done.returncode == 0 and not done.stderr, done.stderr
    assert wer(live.reference, done.stdout) <= 0.10, done.stdout
