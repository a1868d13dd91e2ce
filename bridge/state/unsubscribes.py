"""The addresses that asked for no more marketing mail, each with how (`source`) and when.

Addresses are stored in one form (`normalise_email`), the form unsubscribe tokens sign and suppressions
use, so `Zofia@Example.pl ` and `zofia@example.pl` are one address. An address erased by `bridge forget`
stays here as its keyed hash (bridge.state.hashed): it is still unsubscribed, and every check below
recognises it. Checking that an address and a source are acceptable is the caller's job
(bridge.web.unsubscribe.unsubscribe); this module only keeps the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, select

from bridge.state.hashed import address_forms
from bridge.state.hashed import normalise_email as normalise_email
from bridge.state.store import unsubscribes, upsert


@dataclass(frozen=True)
class Unsubscribe:
    """One address that asked for no more marketing mail: how (`source`) and when."""

    email: str  # the address, or its keyed hash (`hmac-sha256:…`) once `bridge forget` erased it
    source: str
    created_at: datetime


def add(conn: Connection, email: str, source: str, *, now: datetime) -> bool:
    """Record the unsubscribe; True when it is new (the first request wins: its source and time stay, and
    an address kept only as a hash is not written back in full)."""
    if unsubscribed(conn, email) is not None:
        return False
    result = conn.execute(
        upsert(conn, unsubscribes)
        .values(email=normalise_email(email), source=source, created_at=now)
        .on_conflict_do_nothing(index_elements=[unsubscribes.c.email])
    )
    return result.rowcount == 1


def unsubscribed(conn: Connection, email: str) -> Unsubscribe | None:
    """How and when `email` unsubscribed (as it is, or as its keyed hash), or None when it never did (or
    resubscribed)."""
    row = conn.execute(
        select(unsubscribes)
        .where(unsubscribes.c.email.in_(address_forms(conn, email)))
        .order_by(unsubscribes.c.created_at)
        .limit(1)
    ).one_or_none()
    return None if row is None else Unsubscribe(row.email, row.source, row.created_at)


def resubscribe(conn: Connection, email: str) -> bool:
    """Forget an unsubscribe, hashed or not (the customer asked the owner); True when there was one."""
    forms = address_forms(conn, email)
    result = conn.execute(delete(unsubscribes).where(unsubscribes.c.email.in_(forms)))
    return result.rowcount > 0


def list_unsubscribed(conn: Connection) -> list[Unsubscribe]:
    """Every unsubscribed address, oldest first."""
    rows = conn.execute(select(unsubscribes).order_by(unsubscribes.c.created_at, unsubscribes.c.email))
    return [Unsubscribe(row.email, row.source, row.created_at) for row in rows]


def count_unsubscribed(conn: Connection) -> int:
    """How many addresses are unsubscribed, for `bridge status`."""
    return int(conn.execute(select(func.count()).select_from(unsubscribes)).scalar_one())
