"""Helpers for the batch tests: PostgreSQL access, jobs through the HTTP API."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator

import pytest

PG_URL = os.environ.get("VOXGATE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
"""The PostgreSQL the store suite runs against (``.ci/run`` starts the local cluster)."""


def require_postgres() -> str:
    """PG_URL when the server answers; else fail under CI, skip on a developer machine."""
    import psycopg

    try:
        psycopg.connect(PG_URL, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL is not reachable at {PG_URL}: {str(exc).strip()[:200]}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message + " (set CI=1 to make this a failure)")
    return PG_URL


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema, unique to this run and test, dropped (with its tables) afterwards."""
    import psycopg

    url = require_postgres()
    name = f"voxgate_test_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def schema_url(schema: str) -> str:
    """PG_URL with the schema first on the search path (for subprocesses and settings)."""
    separator = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{separator}options=-csearch_path%3D{schema}"


class LiveServer:
    """An app served on a real port by a background thread (for blocking clients).

    ``requests`` and the synchronous openai SDK block, so the server cannot share their
    thread's event loop: it gets its own loop in its own thread.
    """

    def __init__(self, app) -> None:
        self.app = app
        self.url = ""
        self._loop = None
        self._thread = None

    def __enter__(self) -> LiveServer:
        import asyncio
        import threading

        from aiohttp import web

        started = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()
        self._loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            runner = web.AppRunner(self.app, access_log=None)
            try:
                loop.run_until_complete(runner.setup())
                site = web.TCPSite(runner, "127.0.0.1", 0)
                loop.run_until_complete(site.start())
                port = site._server.sockets[0].getsockname()[1]
                self.url = f"http://127.0.0.1:{port}"
            except BaseException as exc:
                failure.append(exc)
                return
            finally:
                started.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="live-server", daemon=True)
        self._thread.start()
        started.wait(120)
        if failure:
            raise failure[0]
        assert self.url, "server did not start"
        return self

    def __exit__(self, *exc_info) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(120)


def wait_for_job(url: str, key: str, job_id: int, *, timeout: float = 300.0, **params):
    """Poll ``GET /transcriptions/{id}`` (the API's own model) until the job settles.

    Returns:
        The final body and every body seen, in order.
    """
    import time

    import requests

    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = requests.get(
            f"{url}/transcriptions/{job_id}",
            headers={"Authorization": key},
            params={**params, "wait": 30},  # held until the job changes (extension)
            timeout=60,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        seen.append(body)
        if body["status"] in ("completed", "failed"):
            return body, seen
    raise AssertionError(f"job {job_id} did not settle in {timeout} s: {seen[-1:]}")


def reference_text(path) -> str:
    """A ground-truth transcript without its ``#`` header lines."""
    lines = path.read_text().splitlines()
    return " ".join(line for line in lines if not line.startswith("#")).strip()


def spoken_text(fluxions_text: str) -> str:
    """The words of a Fluxions ``text``: speaker labels and tags removed."""
    import re

    words = re.sub(r"^SPEAKER_\d+: ", "", fluxions_text, flags=re.MULTILINE)
    words = re.sub(r"\[[a-z]+\]", " ", words)
    return " ".join(words.split())
