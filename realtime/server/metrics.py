"""Prometheus metrics: one registry per app, the metric objects, and ``GET /metrics``.

Every app owns a :class:`Metrics` (``app[METRICS]``) with its own
:class:`~prometheus_client.CollectorRegistry`, so several apps in one process (tests)
never collide. Instrumentation stays thin: the session host hands each realtime session a
:class:`SessionObserver` that watches the events going in and out; the batch workers call
:meth:`Metrics.job_finished`; :func:`metrics_middleware` counts HTTP error responses.

Metrics (all prefixed ``voxgate_``):

* ``realtime_sessions_active`` (gauge): open realtime sessions.
* ``audio_in_seconds_total`` / ``audio_out_seconds_total`` (counters): input audio appended
  by realtime clients; speech audio sent to them.
* ``transcription_latency_seconds`` (histogram): a user item committed (VAD end of speech
  or ``input_audio_buffer.commit``) → its ``…transcription.completed`` sent.
* ``tts_latency_seconds`` (histogram): ``response.created`` → the response's first audio
  delta sent.
* ``batch_queue_depth`` (gauge): batch jobs waiting to be claimed, read from the job
  store at scrape time (the whole queue, whichever process submitted them).
* ``batch_job_duration_seconds`` (histogram, label ``status``: completed | failed) and
  ``batch_job_failures_total`` (counter): jobs this process's workers finished.
* ``errors_total`` (counter, labels ``api`` and ``code``): ``api="realtime"`` counts
  ``error`` events and failed transcriptions sent to clients by their OpenAI ``code``
  (the error ``type`` when there is no code); ``api="http"`` counts REST error responses
  by HTTP status.
* ``webrtc_calls_total`` (counter, label ``outcome``): WebRTC call offers ``answered``,
  ``refused`` (a 4xx) or ``unconnected`` (answered, ICE never connected).

``GET /metrics`` needs an API key, like every route but ``/health``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from protocol import ClientEvent, InputAudioBufferAppend, ServerEvent
from protocol import server_events as ev

_LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
_JOB_BUCKETS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
_BYTES_PER_SECOND = {"audio/pcm": 48_000, "audio/pcmu": 8_000, "audio/pcma": 8_000}
"""Wire formats of the realtime API: pcm16 at 24 kHz; G.711 at 8 kHz, one byte a sample."""


class Metrics:
    """The app's registry and metric objects (see the module docstring for the list).

    Args:
        queue_depth: Returns the number of batch jobs waiting, or None when there is no
            job store; blocking (it queries the database), so it runs off the event loop
            at each scrape.
    """

    def __init__(self, queue_depth: Callable[[], int | None] | None = None) -> None:
        self.registry = CollectorRegistry()
        self._queue_depth = queue_depth
        r = self.registry
        self.active_sessions = Gauge(
            "voxgate_realtime_sessions_active", "Open realtime sessions.", registry=r
        )
        self.audio_in = Counter(
            "voxgate_audio_in_seconds",
            "Input audio appended by realtime clients, in seconds.",
            registry=r,
        )
        self.audio_out = Counter(
            "voxgate_audio_out_seconds",
            "Speech audio sent to realtime clients, in seconds.",
            registry=r,
        )
        self.transcription_latency = Histogram(
            "voxgate_transcription_latency_seconds",
            "User item committed (end of speech or commit) to its final transcript sent.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.tts_latency = Histogram(
            "voxgate_tts_latency_seconds",
            "response.created to the response's first audio delta sent.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "voxgate_batch_queue_depth", "Batch jobs waiting to be claimed.", registry=r
        )
        self.job_duration = Histogram(
            "voxgate_batch_job_duration_seconds",
            "Claim to end of the batch jobs this process's workers finished.",
            labelnames=("status",),
            buckets=_JOB_BUCKETS,
            registry=r,
        )
        self.job_failures = Counter(
            "voxgate_batch_job_failures", "Batch jobs that failed.", registry=r
        )
        self.webrtc_calls = Counter(
            "voxgate_webrtc_calls",
            "WebRTC call offers by outcome: answered, refused (4xx), unconnected (no ICE).",
            labelnames=("outcome",),
            registry=r,
        )
        self.errors = Counter(
            "voxgate_errors",
            "Errors sent to clients: realtime by OpenAI error code, REST by HTTP status.",
            labelnames=("api", "code"),
            registry=r,
        )

    def session_observer(self) -> SessionObserver:
        """A fresh observer for one realtime session (see :class:`SessionObserver`)."""
        return SessionObserver(self)

    def job_finished(self, seconds: float, *, failed: bool) -> None:
        """Record a batch job this process ended (completed or failed; not released)."""
        self.job_duration.labels(status="failed" if failed else "completed").observe(seconds)
        if failed:
            self.job_failures.inc()

    def http_error(self, status: int) -> None:
        """Count a REST error response."""
        self.errors.labels(api="http", code=str(status)).inc()

    async def render(self) -> bytes:
        """The exposition text, with the queue depth read now (off the event loop)."""
        if self._queue_depth is not None:
            depth = await asyncio.to_thread(self._queue_depth)
            if depth is not None:
                self.queue_depth.set(depth)
        return generate_latest(self.registry)


class SessionObserver:
    """Turns one realtime session's traffic into metric updates.

    Call :meth:`client_event` with each parsed client event and :meth:`server_event` with
    each server event as it is handed to the transport, both on the event loop (not
    thread-safe). Latencies are measured with ``clock`` (monotonic seconds).
    """

    def __init__(self, metrics: Metrics, clock: Callable[[], float] = time.monotonic) -> None:
        self._metrics = metrics
        self._clock = clock
        self._committed: dict[str, float] = {}  # item id → when it was committed
        self._awaiting_audio: dict[str, float] = {}  # response id → when it was created
        self._rates: dict[str, int] = {}  # response id → bytes a second of its audio

    def client_event(self, event: ClientEvent, input_format: str) -> None:
        """A client event the session received; ``input_format`` is the session's."""
        if isinstance(event, InputAudioBufferAppend):
            rate = _BYTES_PER_SECOND.get(input_format, 48_000)
            self._metrics.audio_in.inc(_decoded_size(event.audio) / rate)

    def server_event(self, event: ServerEvent) -> None:
        """A server event about to be sent to the client."""
        metrics = self._metrics
        match event:
            case ev.InputAudioBufferCommitted():
                self._committed[event.item_id] = self._clock()
            case ev.InputAudioTranscriptionCompleted():
                started = self._committed.pop(event.item_id, None)
                if started is not None:
                    metrics.transcription_latency.observe(self._clock() - started)
            case ev.ConversationItemDone() if event.item.id is not None:
                # after ``completed``; at the commit itself when the client gets no transcript
                self._committed.pop(event.item.id, None)
            case ev.ConversationItemDeleted():
                self._committed.pop(event.item_id, None)
            case ev.InputAudioTranscriptionFailed():
                self._committed.pop(event.item_id, None)
                metrics.errors.labels(
                    api="realtime", code=event.error.code or event.error.type
                ).inc()
            case ev.ResponseCreated():
                audio = event.response.audio
                fmt = audio.output.format.type if audio and audio.output else "audio/pcm"
                self._rates[event.response.id] = _BYTES_PER_SECOND.get(fmt, 48_000)
                self._awaiting_audio[event.response.id] = self._clock()
            case ev.ResponseOutputAudioDelta():
                created = self._awaiting_audio.pop(event.response_id, None)
                if created is not None:
                    metrics.tts_latency.observe(self._clock() - created)
                rate = self._rates.get(event.response_id, 48_000)
                metrics.audio_out.inc(_decoded_size(event.delta) / rate)
            case ev.ResponseDone():
                self._awaiting_audio.pop(event.response.id, None)
                self._rates.pop(event.response.id, None)
            case ev.ErrorEvent():
                error = event.error
                metrics.errors.labels(api="realtime", code=error.code or error.type).inc()
            case _:
                pass


def _decoded_size(b64: str) -> int:
    """Bytes that a base64 string decodes to (without decoding it)."""
    padding = len(b64) - len(b64.rstrip("="))
    return max(len(b64) // 4 * 3 - padding, 0)


METRICS = web.AppKey("metrics", Metrics)


async def metrics_endpoint(request: web.Request) -> web.Response:
    """``GET /metrics``: the Prometheus text exposition of this process's metrics."""
    body = await request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


@web.middleware
async def metrics_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Count REST error responses (status 400 and above) by status; outermost middleware."""
    metrics = request.app[METRICS]
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400:
            metrics.http_error(exc.status)
        raise
    except Exception:
        metrics.http_error(500)
        raise
    if response.status >= 400:
        metrics.http_error(response.status)
    return response


def setup(app: web.Application, *, queue_depth: Callable[[], int | None] | None = None) -> None:
    """Create the app's :class:`Metrics` and register ``GET /metrics``.

    Add :func:`metrics_middleware` to the app's middlewares (first) to count REST errors.
    """
    app[METRICS] = Metrics(queue_depth)
    app.router.add_get("/metrics", metrics_endpoint)
