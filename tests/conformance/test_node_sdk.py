"""The OpenAI Node SDK (``openai`` 7.x on npm, pinned in node/package-lock.json) over TLS.

The SDK always builds ``wss:`` realtime URLs, so a real ``voxgate serve`` runs here over
TLS, trusted by Node through ``NODE_EXTRA_CA_CERTS`` only (:mod:`node_support`). The
scripts in node/ transcribe a real clip: GA realtime with both of the SDK's realtime
clients, the beta dialect, a browser-style WebSocket holding an ephemeral ``ek_`` client
secret in its subprotocols, and ``audio.transcriptions.create`` over https. Without that
CA, Node refuses the server.

Skipped only when ``node`` is not installed. The SDK declares Node 22 or later; on an older
Node (20 here) its native-WebSocket client needs ``--experimental-websocket`` (given).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from engines.audio import load_pcm, resample
from testkit.wer import wer
from tests.conformance.node_support import (
    NODE,
    SCRIPTS,
    TlsServer,
    require_packages,
    result,
    run_script,
    tls_voxgate,
)

if NODE is None:
    pytest.skip(
        "node is not installed: the Node SDK conformance tests need Node (20 or later)",
        allow_module_level=True,
    )

pytestmark = pytest.mark.model

README = Path(__file__).resolve().parents[2] / "README.md"
CLIP = "openai-whisper/jfk.flac"
UNTRUSTED = ("UNABLE_TO_VERIFY_LEAF_SIGNATURE", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY")
"""Node's error codes for a certificate whose issuer it does not trust (by OpenSSL version)."""


@dataclass(frozen=True)
class Live:
    server: TlsServer
    pcm: Path  # the clip as raw pcm16 mono 24 kHz
    reference: str

    @property
    def base_url(self) -> str:  # https://127.0.0.1:PORT/v1
        return self.server.base_url


@pytest.fixture(scope="module")
def live(tmp_path_factory, testdata) -> Iterator[Live]:
    """A ``voxgate serve`` with TLS from a fresh development pair; the clip for the scripts."""
    require_packages("openai", "ws")
    root = tmp_path_factory.mktemp("node-tls")
    pcm = root / "clip.pcm"
    pcm.write_bytes(resample(load_pcm(testdata / CLIP), 16_000, 24_000).astype(np.int16).tobytes())
    reference = (testdata / CLIP).with_suffix(".txt").read_text().strip()
    with tls_voxgate(root, "--responder", "say") as server:
        yield Live(server, pcm, reference)


def node(
    live: Live, script: str | Path, *args: str, trust: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``node/SCRIPT ARGS`` against the live server; ``trust``: set NODE_EXTRA_CA_CERTS."""
    return run_script(live.server, script, *args, pcm=live.pcm, trust=trust)


@pytest.mark.compat("openai (Node SDK)", "GA realtime over WebSocket")
@pytest.mark.compat("openai (Node SDK)", "beta realtime dialect")
@pytest.mark.compat("openai (Node SDK)", "TLS: wss and https with a private CA")
@pytest.mark.parametrize(
    ("variant", "dialect"), [("ga-websocket", "ga"), ("ga-ws", "ga"), ("beta", "beta")]
)
def test_the_sdk_realtime_clients_transcribe_over_wss(live, variant, dialect):
    out = result(node(live, "realtime.mjs", variant))
    assert out["url"].startswith(live.base_url.replace("https://", "wss://") + "/realtime?model=")
    assert out["dialect"] == dialect
    assert out["same_item"] is True
    assert wer(live.reference, out["transcript"]) <= 0.10, out["transcript"]


@pytest.mark.compat("openai (Node SDK)", "browser WebSocket with an ephemeral client secret")
@pytest.mark.compat("openai (Node SDK)", "realtime transcription session")
def test_a_browser_style_socket_with_an_ephemeral_secret(live):
    out = result(node(live, "browser_secret.mjs"))
    assert out["secret_prefix"] == "ek_"
    assert out["protocol"] == "realtime"  # never the key-bearing subprotocol
    assert out["session_type"] == "transcription"  # the session the secret was minted for
    assert wer(live.reference, out["transcript"]) <= 0.10, out["transcript"]


@pytest.mark.compat("openai (Node SDK)", "audio.transcriptions: json")
@pytest.mark.compat("openai (Node SDK)", "TLS: wss and https with a private CA")
def test_audio_transcriptions_create_over_https(live, testdata):
    out = result(node(live, "transcribe.mjs", str(testdata / CLIP)))
    assert wer(live.reference, out["text"]) <= 0.10, out["text"]


@pytest.mark.compat("openai (Node SDK)", "TLS: wss and https with a private CA")
def test_without_the_ca_node_refuses_the_server(live, testdata):
    done = node(live, "transcribe.mjs", str(testdata / CLIP), trust=False)
    assert done.returncode == 1
    assert any(code in done.stderr for code in UNTRUSTED), done.stderr


@pytest.mark.compat("openai (Node SDK)", "GA realtime over WebSocket")
def test_the_readme_snippet_works(live, tmp_path):
    snippets = re.findall(r"```js\n(.*?)```", README.read_text(), flags=re.DOTALL)
    (snippet,) = [s for s in snippets if "https://127.0.0.1:8000/v1" in s]  # the TLS section's
    for placeholder, value in (
        ("https://127.0.0.1:8000/v1", live.base_url),
        ("vg_…", live.server.key),
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
