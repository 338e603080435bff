"""Runs the Python conformance clients from the test process; they live in .venv-clients.

The clients (the OpenAI Agents SDK, LiveKit Agents, Pipecat) are installed in a virtual
environment of their own, ``.venv-clients`` (``make test-setup``, from
requirements/clients.txt), never in voxgate's. Each scenario is a script in clients/ run
there as a subprocess against a voxgate that the test runs in-process (with its scripted
LLM endpoint, when there is one), so the test's event loop keeps serving while it waits.
A script gets voxgate's address and key in ``VOXGATE_BASE_URL``/``VOXGATE_API_KEY``, and
none of the caller's ``OPENAI_*`` variables (no request can reach OpenAI); it prints one
JSON object, which :func:`run_client` returns. A script that fails, or outlasts
:data:`CLIENT_TIMEOUT_S`, fails the test with its stderr.

Without .venv-clients the tests fail (not skip) and say to run ``make test-setup``.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engines.audio import resample
from engines.base import ASROptions, Engines

ROOT = Path(__file__).resolve().parents[2]
CLIENTS_PYTHON = ROOT / ".venv-clients" / "bin" / "python"
SCRIPTS = Path(__file__).parent / "clients"
CLIENT_TIMEOUT_S = 120
STDERR_TAIL = 6000


def clients_python() -> Path:
    """The clients' interpreter; fails the test when their environment is missing."""
    if not CLIENTS_PYTHON.is_file():
        pytest.fail(
            f"the Python clients' virtual environment is missing ({CLIENTS_PYTHON}): "
            "run `make test-setup`"
        )
    return CLIENTS_PYTHON


async def run_client(script: str, *args: str, base_url: str, key: str) -> dict[str, Any]:
    """Run ``clients/SCRIPT ARGS`` against voxgate at ``base_url`` (``…/v1``); its result."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(VOXGATE_BASE_URL=base_url, VOXGATE_API_KEY=key, HF_HUB_OFFLINE="1")
    proc = await asyncio.create_subprocess_exec(
        str(clients_python()),
        str(SCRIPTS / script),
        *args,
        cwd=SCRIPTS,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(CLIENT_TIMEOUT_S):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"{script} did not finish within {CLIENT_TIMEOUT_S} s") from None
    stderr = err.decode(errors="replace")[-STDERR_TAIL:]
    assert proc.returncode == 0, f"{script} exited {proc.returncode}:\n{stderr}"
    lines = out.decode().strip().splitlines()
    assert lines, f"{script} printed no result:\n{stderr}"
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def write_pcm(path: Path, pcm: np.ndarray) -> Path:
    """``pcm`` (int16 samples) as a raw pcm16 file for a client script."""
    path.write_bytes(pcm.astype(np.int16).tobytes())
    return path


def read_pcm(path: Path) -> np.ndarray:
    return np.frombuffer(path.read_bytes(), np.int16)


def heard(engines: Engines, pcm: np.ndarray, rate: int) -> str:
    """What voxgate's ASR hears in int16 ``pcm`` at ``rate`` Hz."""
    return engines.asr.transcribe(resample(pcm, rate, 16_000), ASROptions(language="en")).text
