"""Addresses the store keeps only as a keyed hash, once it must forget them but still recognise them.

A purged email (RETENTION_DAYS, `bridge forget`) keeps the hash of its address, so `bridge explain address`
still finds it; a forgotten address that unsubscribed or bounced keeps a hashed unsubscribe or suppression,
so it stays refused. The hash is HMAC-SHA256 under a random key kept in the store (`privacy.hash_key`,
made at the first purge): a plain SHA-256 of an address is reversed by hashing a list of addresses, a keyed
one only by someone who holds the store, and they hold the address of every email still in it anyway.

Addresses are hashed in the one form every table stores them in (`normalise_email`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Final

from sqlalchemy import Connection, select

from bridge.state.store import privacy, upsert

# What a hashed address looks like where a plain one would be: no `@`, so never mistaken for one.
HASH_PREFIX: Final = "hmac-sha256:"


def normalise_email(email: str) -> str:
    """The form every address is stored, signed and hashed in: `Zofia@Example.pl ` is `zofia@example.pl`."""
    return email.strip().lower()


def is_hashed(value: str) -> bool:
    return value.startswith(HASH_PREFIX)


def load_key(conn: Connection) -> bytes | None:
    """The store's hash key; None before the first purge (no hashed address can exist yet)."""
    value = conn.execute(select(privacy.c.hash_key).where(privacy.c.id == 1)).scalar_one_or_none()
    return bytes.fromhex(value) if value else None


def ensure_key(conn: Connection, *, now: datetime) -> bytes:
    """The store's hash key, made now if it has none (two bridges racing end up with the same one)."""
    conn.execute(
        upsert(conn, privacy)
        .values(id=1, hash_key=secrets.token_hex(32), created_at=now)
        .on_conflict_do_nothing(index_elements=[privacy.c.id])
    )
    key = load_key(conn)
    assert key is not None
    return key


def hash_address(key: bytes, email: str) -> str:
    """`hmac-sha256:<hex>` of the normalised address; a value that is already a hash is returned as it is."""
    if is_hashed(email):
        return email
    digest = hmac.new(key, normalise_email(email).encode("utf-8"), hashlib.sha256).hexdigest()
    return HASH_PREFIX + digest


def address_forms(conn: Connection, email: str) -> list[str]:
    """Every form `email` may be stored in: as it is (normalised), and hashed once the store has a key."""
    address = normalise_email(email)
    key = load_key(conn)
    return [address] if key is None else [address, hash_address(key, address)]
