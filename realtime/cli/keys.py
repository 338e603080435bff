"""``voxgate keys create|list|revoke``: manage the API keys in the data directory."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from realtime.cli.console import EXIT_FAILURE, print_error
from realtime.cli.options import settings_from


def _keystore(args: argparse.Namespace) -> Any:
    from realtime.auth.keys import KeyStore

    return KeyStore(settings_from(args).database_path)


def cmd_keys_create(args: argparse.Namespace) -> int:
    """Create a key and print it once (the secret on stdout, a note on stderr)."""
    record, plaintext = _keystore(args).create(args.name)
    print(plaintext)
    print(f"created key {record.id} ({record.name}); it is shown only now", file=sys.stderr)
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    """List keys (ids and names, never secrets), as a table or as JSON."""
    import datetime as dt

    keys = _keystore(args).list()
    if args.json:
        print(json.dumps([_key_json(k) for k in keys], indent=2))
        return 0
    for k in keys:
        created = dt.datetime.fromtimestamp(k.created_at).isoformat(timespec="seconds")
        print(f"{k.id}  {'active ' if k.active else 'revoked'}  {created}  {k.name}")
    return 0


def _key_json(key: Any) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    """Revoke a key; exit 1 when no active key matches."""
    if not _keystore(args).revoke(args.key_id):
        print_error(f"no active key {args.key_id!r}")
        return EXIT_FAILURE
    print(f"revoked {args.key_id}")
    return 0
