"""``voxgate serve --workers N``: N server processes on one port, under a small parent.

Each worker is a full gateway (its own engines, inference threads, batch workers and
realtime sessions) started with :mod:`multiprocessing`'s ``spawn`` context and listening on
the same address with ``SO_REUSEPORT``, so the kernel spreads new connections across them.
The parent (:func:`supervise`) loads nothing itself. It:

* creates the first API key (once, before any worker starts) and reserves the port: it
  binds (without listening) a ``SO_REUSEPORT`` socket on the address, which also turns
  ``--port 0`` into one free port that every worker shares;
* waits until every worker listens (each reports over a pipe), then prints
  ``voxgate … listening on URL``; a worker that fails to start stops the whole server
  (exit 1);
* restarts a worker that dies unexpectedly (three workers in a row dying before they
  listen: the server stops, exit 1);
* on SIGTERM or SIGINT, sends SIGTERM to every worker (each drains: responses in progress
  get their grace period, then sessions close with 1012) and exits 0 once all have ended;
* on SIGHUP, reloads one worker at a time: start a new worker, wait until it listens,
  then SIGTERM one old worker and wait for it to end; repeat. If a new worker fails to
  start, the reload stops there and the remaining old workers keep serving.

With ``tls_cert``/``tls_key`` every worker loads the certificate itself when it starts, so
a SIGHUP reload also picks up a renewed certificate.

A worker exits by itself (SIGTERM to itself) when the parent disappears, even if the
parent was killed outright. With several workers, ``/health`` answers with an
``X-Voxgate-Worker: <pid>`` header naming the process that served it.

Each process has its own metrics (``/metrics`` shows the worker that answered) and its
own limits (``max_sessions`` applies per worker).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from realtime import __version__
from realtime.server.errors import ConfigurationError
from realtime.server.settings import Settings

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 600.0
"""A worker that does not listen within this long after it started is stopped."""
STOP_TIMEOUT_S = 60.0
"""A worker still running this long after SIGTERM is killed (it drains for 10 s at most)."""
MAX_START_FAILURES = 3
"""Workers in a row that die before they listen before the parent gives up."""


def supervise(settings: Settings, *, say: Callable[[str], None] = print) -> int:
    """Run ``settings.workers`` server processes until SIGTERM/SIGINT (blocking).

    Returns:
        The exit status: 0 after a signal, 1 when workers could not be kept running.

    Raises:
        ConfigurationError: the address cannot be bound (in use, or not local).
    """
    from realtime.auth.keys import KeyStore
    from realtime.server.app import ensure_first_key

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    ensure_first_key(KeyStore(settings.database_path), say)
    reservation = _reserve(settings.host, settings.port)
    try:
        port = reservation.getsockname()[1]
        settings = settings.model_copy(update={"port": port})
        return asyncio.run(_Supervisor(settings, say).run())
    finally:
        reservation.close()


def _reserve(host: str, port: int) -> socket.socket:
    """A bound, non-listening ``SO_REUSEPORT`` socket: holds the port for the workers.

    The kernel gives connections only to listening sockets, so this one never takes any.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc}") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    return sock


class _Worker:
    """One worker process and the futures that report on it (parent side, on the loop).

    ``ready`` resolves True once the worker listens, False if it ended first; ``exited``
    resolves with its exit code.
    """

    def __init__(self, context: Any, settings: Settings) -> None:
        loop = asyncio.get_running_loop()
        ready_r, ready_w = context.Pipe(duplex=False)
        life_r, life_w = context.Pipe(duplex=False)
        self.process = context.Process(
            target=_worker_main, args=(settings, ready_w, life_r), name="voxgate-worker"
        )
        self.process.start()
        ready_w.close()
        life_r.close()
        self._ready_pipe: Connection = ready_r
        self._lifeline: Connection = life_w  # closed when this parent goes: the worker stops
        self.ready: asyncio.Future[bool] = loop.create_future()
        self.exited: asyncio.Future[int] = loop.create_future()
        self.retiring = False
        self.pid = self.process.pid
        loop.add_reader(ready_r.fileno(), self._on_ready_pipe)
        loop.add_reader(self.process.sentinel, self._on_exit)

    def _on_ready_pipe(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._ready_pipe.recv()
            listening = True
        except (EOFError, OSError):  # it ended before it listened
            listening = False
        loop.remove_reader(self._ready_pipe.fileno())
        self._ready_pipe.close()
        if not self.ready.done():
            self.ready.set_result(listening)

    def _on_exit(self) -> None:
        asyncio.get_running_loop().remove_reader(self.process.sentinel)
        self.process.join()
        if not self._ready_pipe.closed:
            self._on_ready_pipe()
        self._lifeline.close()
        code = self.process.exitcode
        if not self.ready.done():
            self.ready.set_result(False)
        self.exited.set_result(code if code is not None else -1)

    def terminate(self) -> None:
        """Ask the worker to drain and stop (SIGTERM); idempotent."""
        if not self.exited.done():
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()

    async def stop(self) -> int:
        """SIGTERM, then wait for the exit (SIGKILL after :data:`STOP_TIMEOUT_S`)."""
        self.retiring = True
        self.terminate()
        try:
            return await asyncio.wait_for(asyncio.shield(self.exited), STOP_TIMEOUT_S)
        except TimeoutError:
            log.error("worker %d did not stop in %.0f s: killing it", self.pid, STOP_TIMEOUT_S)
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            return await self.exited


class _Supervisor:
    """The parent's event loop: start, watch, restart, reload and stop the workers."""

    def __init__(self, settings: Settings, say: Callable[[str], None]) -> None:
        self._settings = settings
        self._say = say
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._stop = asyncio.Event()
        self._reload = asyncio.Event()
        self._start_failures = 0

    def _spawn(self) -> _Worker:
        worker = _Worker(self._context, self._settings)
        self._workers.append(worker)
        log.info("worker %d starting", worker.pid)
        return worker

    async def _until_ready(self, worker: _Worker) -> bool:
        """Wait for ``worker.ready`` until stop is asked or :data:`READY_TIMEOUT_S`.

        Returns:
            True if ``ready`` resolved.
        """
        future = worker.ready
        stopping = asyncio.ensure_future(self._stop.wait())
        either: set[asyncio.Future[Any]] = {future, stopping}  # results of different types
        try:
            await asyncio.wait(either, timeout=READY_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        return future.done()

    async def _started(self, worker: _Worker) -> bool:
        """Wait until ``worker`` listens; False (and it is stopped) if it did not."""
        if await self._until_ready(worker) and worker.ready.result():
            self._start_failures = 0
            log.info("worker %d listening", worker.pid)
            return True
        if not self._stop.is_set():
            self._start_failures += 1
            log.error("worker %d did not start (exit code %s)", worker.pid, _code(worker))
        await worker.stop()
        self._workers.remove(worker)
        return False

    async def run(self) -> int:
        """Start the workers and supervise them until a signal; returns the exit status.

        The status is 1 when a worker failed to start, workers kept dying, or a worker
        ended with a non-zero code when stopped; else 0.
        """
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, self._reload.set)
        status = 0
        try:
            first = [self._spawn() for _ in range(self._settings.workers)]
            started = await asyncio.gather(*(self._started(w) for w in first))
            if not all(started) and not self._stop.is_set():
                log.error("a worker failed to start: stopping")
                status = 1
            elif not self._stop.is_set():
                self._announce()
                status = await self._watch()
        finally:
            codes = await asyncio.gather(*(w.stop() for w in self._workers))
            log.info("all workers stopped (exit codes %s)", ", ".join(map(str, codes)) or "-")
        if status == 0 and any(codes):
            log.error("a worker did not stop cleanly")
            status = 1
        return status

    def _announce(self) -> None:
        url = f"{self._settings.scheme}://{self._settings.host}:{self._settings.port}"
        pids = ", ".join(str(w.pid) for w in self._workers)
        self._say(
            f"voxgate {__version__} listening on {url}  (health: {url}/health; "
            f"{len(self._workers)} workers, pids {pids}; SIGHUP reloads them)"
        )
        sys.stdout.flush()

    async def _watch(self) -> int:
        """Restart workers that die and reload on SIGHUP, until stop; the exit status."""
        while not self._stop.is_set():
            for worker in [w for w in self._workers if w.exited.done() and not w.retiring]:
                self._workers.remove(worker)
                log.warning(
                    "worker %d exited unexpectedly (code %s): restarting",
                    worker.pid,
                    worker.exited.result(),
                )
            while len(self._workers) < self._settings.workers and not self._stop.is_set():
                if (
                    not await self._started(self._spawn())
                    and self._start_failures >= MAX_START_FAILURES
                ):
                    log.error("workers keep failing to start: stopping")
                    return 1
            if self._stop.is_set():
                break
            if self._reload.is_set():
                self._reload.clear()
                await self._rolling_reload()
                continue
            waits = [asyncio.ensure_future(e.wait()) for e in (self._stop, self._reload)]
            wakeups: set[asyncio.Future[Any]] = {*waits, *(w.exited for w in self._workers)}
            try:
                await asyncio.wait(wakeups, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in waits:
                    task.cancel()
        return 0

    async def _rolling_reload(self) -> None:
        """Replace each current worker: a new one listens before an old one stops."""
        log.info("reloading %d workers one at a time", len(self._workers))
        for old in list(self._workers):
            if self._stop.is_set():
                return
            if old.exited.done():  # died meanwhile: _watch restarts it
                continue
            if not await self._started(self._spawn()):
                log.error("reload stopped: a new worker failed to start; the others keep serving")
                return
            code = await old.stop()
            self._workers.remove(old)
            log.info("worker %d replaced (it exited with code %d)", old.pid, code)
        log.info("reload complete: workers %s", ", ".join(str(w.pid) for w in self._workers))


def _code(worker: _Worker) -> str:
    return str(worker.exited.result()) if worker.exited.done() else "none: still running"


def _worker_main(settings: Settings, ready: Connection, lifeline: Connection) -> None:
    """A worker process (``spawn`` target): serve until SIGTERM/SIGINT.

    Reports the URL on ``ready`` once listening; stops itself when ``lifeline`` reaches
    end-of-file (the parent is gone). Exits 2 on a configuration or model error.
    """
    from engines.errors import ModelNotFound
    from realtime.server.app import serve
    from realtime.server.errors import GatewayError
    from realtime.server.logs import configure

    configure(settings.log_level, settings.log_format)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # reloads are the parent's business
    signal.signal(signal.SIGTERM, _exit_now)  # until the server's own handlers take over
    threading.Thread(target=_exit_with_parent, args=(lifeline,), daemon=True).start()
    try:
        serve(settings, say=lambda text: log.info("%s", text), on_ready=ready.send)
    except (ModelNotFound, GatewayError) as exc:
        print(f"voxgate: error: {exc}", file=sys.stderr)
        sys.exit(2)


def _exit_now(signum: int, frame: object) -> None:
    """SIGTERM before the server handles it (while starting): exit cleanly, status 0."""
    raise SystemExit(0)


def _exit_with_parent(lifeline: Connection) -> None:
    """Block until the parent's end of ``lifeline`` closes, then stop this process."""
    with contextlib.suppress(EOFError, OSError):
        lifeline.recv()  # the parent never sends: this returns when it goes away
    os.kill(os.getpid(), signal.SIGTERM)
