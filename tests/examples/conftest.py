"""Fixtures for the examples' tests: a real in-process gateway and a way to import examples.

The examples are scripts, not a package, so tests load them by path (:func:`load_example`).
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from aiohttp import web

from realtime.auth.middleware import KEYSTORE
from realtime.inference.loading import load_engines
from realtime.server.app import create_app
from realtime.server.settings import Settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_example(relative: str) -> ModuleType:
    """Import ``examples/<relative>`` as a module (once per test run)."""
    name = "example_" + relative.removesuffix(".py").replace("/", "_")
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, EXAMPLES / relative)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


async def serve(app: web.Application) -> tuple[web.AppRunner, int]:
    """Start ``app`` on a free loopback port; returns the runner (to clean up) and the port."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]


@dataclass
class Gateway:
    url: str
    key: str


@pytest.fixture(scope="session")
def engines():
    return load_engines(Settings())


@pytest.fixture
async def gateway(engines) -> AsyncIterator[Gateway]:
    """A real voxgate (say responder) on a loopback port, with one API key."""
    app = create_app(Settings(data_dir=tempfile.mkdtemp()), engines=engines)
    runner, port = await serve(app)
    try:
        yield Gateway(f"http://127.0.0.1:{port}", app[KEYSTORE].create("test")[1])
    finally:
        await runner.cleanup()
