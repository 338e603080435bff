"""What the Node conformance tests share: Node itself, a TLS ``voxgate serve``, running a script.

The scripts in node/ (plain ES modules; ``make test-setup`` runs ``npm ci`` there) talk to a
real ``voxgate serve`` over https/wss: the SDKs build ``wss:`` URLs, so the server runs with
``--tls-cert``/``--tls-key`` from a development pair made by ``voxgate certs dev``'s code, and
Node trusts its CA through ``NODE_EXTRA_CA_CERTS`` only (no check is turned off).

:data:`NODE` is None where ``node`` is not installed (test modules skip then, and only then);
:func:`require_packages` fails a test whose npm packages are not installed. The SDKs declare
Node 22 or later; on an older Node (20 here) the global WebSocket needs
``--experimental-websocket`` (:func:`node_flags`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from realtime.cli.certs import DevCerts, write_dev_certs
from tests import serving

NODE = shutil.which("node")
SCRIPTS = Path(__file__).parent / "node"
SCRIPT_TIMEOUT_S = 120


def require_packages(*names: str) -> None:
    """Fail (not skip) when an npm package the scripts import is not in node/node_modules."""
    missing = [name for name in names if not (SCRIPTS / "node_modules" / name).is_dir()]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not installed: run `make test-setup` (npm ci in {SCRIPTS})"
        )


def node_flags() -> list[str]:
    """``--experimental-websocket`` where the global WebSocket is not on by default (< 22)."""
    assert NODE is not None
    version = subprocess.run([NODE, "--version"], capture_output=True, text=True, check=True).stdout
    major = int(version.strip().lstrip("v").split(".")[0])
    return ["--experimental-websocket"] if major < 22 else []


@dataclass(frozen=True)
class TlsServer:
    base_url: str  # https://127.0.0.1:PORT/v1
    key: str
    certs: DevCerts


@contextmanager
def tls_voxgate(
    root: Path, *flags: str, env: Mapping[str, str] | None = None
) -> Iterator[TlsServer]:
    """A ``voxgate serve FLAGS…`` over TLS (a fresh development pair under ``root``).

    ``env``: extra environment for the server (``VOXGATE_…`` settings); stopped on exit.
    """
    certs = write_dev_certs(root / "certs")
    tls = ("--tls-cert", str(certs.cert), "--tls-key", str(certs.key))
    proc = serving.start(root / "data", *tls, *flags, env=env)
    try:
        url, lines = serving.read_until_listening(proc)
        assert url.startswith("https://127.0.0.1:"), url
        key = serving.api_key(lines)
        assert key is not None
        yield TlsServer(f"{url}/v1", key, certs)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def run_script(
    server: TlsServer,
    script: str | Path,
    *args: str,
    pcm: Path | None = None,
    trust: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``node/SCRIPT ARGS`` against ``server``; ``pcm``: VOXGATE_PCM for the script.

    ``trust``: set NODE_EXTRA_CA_CERTS to the server's CA (else Node refuses it).
    """
    assert NODE is not None
    env = {k: v for k, v in os.environ.items() if k != "NODE_EXTRA_CA_CERTS"}
    env.update(VOXGATE_BASE_URL=server.base_url, VOXGATE_API_KEY=server.key)
    if pcm is not None:
        env["VOXGATE_PCM"] = str(pcm)
    if trust:
        env["NODE_EXTRA_CA_CERTS"] = str(server.certs.ca)
    return subprocess.run(
        [NODE, *node_flags(), str(script), *args],
        cwd=SCRIPTS,
        env=env,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_S,
    )


def result(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The JSON line a script printed; fails with its stderr when it exited non-zero."""
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out
