"""Per-key rate limits: a token bucket per API key, and the aiohttp middleware that applies it.

Each key has a bucket holding at most ``rate_limit_per_minute`` tokens, refilled at
``rate_limit_per_minute / 60`` tokens per second; every authenticated request (REST call or
realtime WebSocket upgrade) takes one. A full bucket allows a burst of the per-minute
figure at once; sustained traffic gets the per-minute rate. A request that finds the bucket
empty gets HTTP 429 with the JSON error body and an integer ``Retry-After`` (seconds until
a token is back).

What is limited: requests that carry a valid key or client secret (a client secret counts
against the key that minted it; browser-demo sessions against the ``demo`` key). What is
not: ``/health``, CORS preflights, the signed ``/files/…`` URLs and the demo's static files
(no key: the demo's ``POST /demo/session`` has its own per-address limit), and requests
refused with 401 (they never reach a handler). ``rate_limit_per_minute = 0`` turns the
limit off.

Memory is bounded: at most ``max_keys`` buckets are kept; when full, the least recently
used is forgotten (that key starts again with a full bucket, which only matters with more
than ``max_keys`` keys active at once).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from aiohttp import web

from realtime.auth.middleware import API_KEY
from realtime.server.app_keys import SETTINGS
from realtime.server.errors import json_error

MAX_KEYS = 10_000
"""Buckets kept at most (least recently used forgotten first)."""


class TokenBuckets:
    """One token bucket per key; thread-safe.

    Args:
        per_minute: Tokens per minute, and the bucket's capacity (the largest burst).
            Must be positive.
        max_keys: Most buckets kept.
        clock: Monotonic seconds (tests pass a fake clock).
    """

    def __init__(
        self,
        per_minute: int,
        *,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens per second
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str, *, now: float | None = None) -> float:
        """Take one token from ``key``'s bucket.

        Returns:
            0.0 when a token was taken; otherwise the seconds until one will be available
            (nothing is taken then).
        """
        when = self.clock() if now is None else now
        with self._lock:
            tokens, at = self._buckets.pop(key, (self.capacity, when))
            tokens = min(self.capacity, tokens + max(0.0, when - at) * self.rate)
            if tokens >= 1.0:
                tokens -= 1.0
                wait = 0.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens, when)  # most recently used last
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return wait


RATE_LIMITS = web.AppKey("rate_limits", TokenBuckets)
"""app[RATE_LIMITS]: the buckets; absent when ``rate_limit_per_minute`` is 0."""


def retry_after(wait_s: float) -> str:
    """The ``Retry-After`` value for a wait: whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(wait_s)))


@web.middleware
async def rate_limit_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Answer 429 (JSON, ``Retry-After``) when the request's key has no token left.

    Must run after the authentication middleware (it reads ``request[API_KEY]``); requests
    without a key pass untouched.
    """
    buckets = request.app.get(RATE_LIMITS)
    key = request.get(API_KEY)
    if buckets is None or key is None:
        return await handler(request)
    wait_s = buckets.take(key.id)
    if wait_s > 0:
        limit = request.app[SETTINGS].rate_limit_per_minute
        return json_error(
            429,
            f"Rate limit of {limit} requests per minute for this API key exceeded; "
            f"retry in {retry_after(wait_s)} s.",
            code="rate_limit_exceeded",
            type_="rate_limit_error",
            headers={"Retry-After": retry_after(wait_s)},
        )
    return await handler(request)


def setup(app: web.Application) -> None:
    """Create the buckets from ``app[SETTINGS]`` (none when the limit is 0).

    The middleware itself must be in the application's middleware list, after
    :func:`realtime.auth.middleware.auth_middleware`.
    """
    per_minute = app[SETTINGS].rate_limit_per_minute
    if per_minute > 0:
        app[RATE_LIMITS] = TokenBuckets(per_minute)
