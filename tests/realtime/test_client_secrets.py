"""Ephemeral client secrets: single use, expiring, bounded."""

from __future__ import annotations

import pytest

from realtime.auth.client_secrets import ClientSecretStore
from realtime.auth.keys import ApiKey

KEY = ApiKey("abcd1234", "test", 0.0, None)


def test_redeem_once_before_expiry():
    store = ClientSecretStore()
    value, secret = store.mint(KEY, ttl_s=60, now=1000.0, session={"type": "transcription"})
    assert value.startswith("ek_") and len(value) > 40
    assert secret.expires_at == 1060.0
    redeemed = store.redeem(value, now=1059.0)
    assert redeemed is not None and redeemed.api_key == KEY
    assert redeemed.session == {"type": "transcription"}
    assert store.redeem(value, now=1059.0) is None  # single use


def test_expired_and_unknown_secrets_fail():
    store = ClientSecretStore()
    value, _ = store.mint(KEY, ttl_s=60, now=0.0)
    assert store.redeem(value, now=60.0) is None
    assert store.redeem("ek_unknown", now=0.0) is None
    assert store.redeem("vg_notasecret", now=0.0) is None
    assert len(store) == 0  # expired entries are purged


def test_ttl_bounds():
    store = ClientSecretStore()
    for ttl in (0, 5, 7201):
        with pytest.raises(ValueError, match="between 10 and 7200"):
            store.mint(KEY, ttl_s=ttl, now=0.0)


def test_store_is_bounded():
    store = ClientSecretStore(max_outstanding=3)
    values = [store.mint(KEY, ttl_s=100 + i, now=0.0)[0] for i in range(5)]
    assert len(store) == 3
    assert store.redeem(values[0], now=1.0) is None  # closest to expiry were dropped
    assert store.redeem(values[4], now=1.0) is not None
