"""Ephemeral client secrets (``ek_…``): short-lived, single-use stand-ins for an API key.

A server holding a real key mints one with ``POST /v1/realtime/client_secrets`` and hands
it to a browser, which connects to ``/v1/realtime`` with it (the subprotocol
``openai-insecure-api-key.ek_…``). The browser never sees the API key.

Secrets live in process memory, hashed; each one opens at most one realtime session and
expires after its TTL (default ``client_secret_ttl_s`` = 60 s). The store is bounded: when
full, the secrets closest to expiry are dropped first. Time is a parameter (``now``).
"""

from __future__ import annotations

import heapq
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from realtime.auth.keys import ApiKey, secret_digest

PREFIX = "ek_"
MIN_TTL_S = 10
MAX_TTL_S = 7200


@dataclass(frozen=True, slots=True)
class ClientSecret:
    """A minted secret (its plaintext is returned once, by :meth:`ClientSecretStore.mint`).

    Attributes:
        api_key: The key that minted it; the session it opens acts as that key.
        expires_at: Unix time after which it no longer works.
        session: Session configuration to apply when it is redeemed (as the client sent it).
    """

    api_key: ApiKey
    expires_at: float
    session: dict[str, Any] = field(default_factory=dict)


class ClientSecretStore:
    """In-memory, bounded, thread-safe store of unredeemed client secrets."""

    def __init__(self, *, max_outstanding: int = 10_000) -> None:
        self._max = max_outstanding
        self._secrets: dict[str, ClientSecret] = {}
        self._expiry: list[tuple[float, str]] = []  # heap of (expires_at, digest)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._secrets)

    def mint(
        self, api_key: ApiKey, *, ttl_s: float, now: float, session: dict[str, Any] | None = None
    ) -> tuple[str, ClientSecret]:
        """Create a secret for ``api_key`` valid for ``ttl_s`` seconds from ``now``.

        Raises:
            ValueError: ``ttl_s`` outside [MIN_TTL_S, MAX_TTL_S].
        """
        if not MIN_TTL_S <= ttl_s <= MAX_TTL_S:
            raise ValueError(f"expires_after.seconds must be between {MIN_TTL_S} and {MAX_TTL_S}")
        value = PREFIX + secrets.token_urlsafe(32)
        secret = ClientSecret(api_key, now + ttl_s, dict(session or {}))
        digest = secret_digest(value)
        with self._lock:
            self._purge(now)
            while len(self._secrets) >= self._max:
                _, oldest = heapq.heappop(self._expiry)
                self._secrets.pop(oldest, None)
            self._secrets[digest] = secret
            heapq.heappush(self._expiry, (secret.expires_at, digest))
        return value, secret

    def redeem(self, value: str, *, now: float) -> ClientSecret | None:
        """Consume a secret: the first redemption before expiry succeeds, later ones fail."""
        if not value.startswith(PREFIX):
            return None
        with self._lock:
            self._purge(now)
            secret = self._secrets.pop(secret_digest(value), None)
        if secret is None or secret.expires_at <= now:
            return None
        return secret

    def _purge(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            _, digest = heapq.heappop(self._expiry)
            self._secrets.pop(digest, None)
