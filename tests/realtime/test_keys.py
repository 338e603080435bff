"""API keys: hashed at rest, verified in constant time, revocable."""

from __future__ import annotations

from realtime.auth.keys import KeyStore


def test_create_verify_revoke(tmp_path):
    store = KeyStore(tmp_path / "db.sqlite")
    assert not store.has_active()
    record, plaintext = store.create("ci")
    assert plaintext.startswith(f"vg_{record.id}_") and len(plaintext) > 40
    assert store.has_active()
    assert store.verify(plaintext) == record
    assert store.verify(plaintext + "x") is None
    assert store.verify(plaintext[:-1]) is None
    assert store.revoke(record.id)
    assert store.verify(plaintext) is None
    assert not store.revoke(record.id)  # already revoked
    assert not store.has_active()
    assert [k.id for k in store.list()] == [record.id]
    assert store.list()[0].revoked_at is not None


def test_plaintext_never_stored(tmp_path):
    db = tmp_path / "db.sqlite"
    store = KeyStore(db)
    _, plaintext = store.create()
    secret = plaintext.split("_", 2)[2]  # vg_<id>_<secret>; the secret may contain "_"
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert secret.encode() not in stored


def test_malformed_keys_are_rejected(tmp_path):
    store = KeyStore(tmp_path / "db.sqlite")
    store.create()
    for junk in ["", "vg_", "vg_1234", "sk-abc", "vg_zzzzzzzz_", "\udcff", "x" * 10_000]:
        assert store.verify(junk) is None


def test_two_stores_share_the_database(tmp_path):
    a, b = KeyStore(tmp_path / "db.sqlite"), KeyStore(tmp_path / "db.sqlite")
    record, plaintext = a.create()
    assert b.verify(plaintext) == record
    b.revoke(plaintext)  # revoking by the full key works too
    assert a.verify(plaintext) is None
