"""The addresses that asked for no more marketing mail, each with how (`source`) and when.

Addresses are stored in one form (`normalise_email`), the form unsubscribe tokens sign and suppressions
use, so `Zofia@Example.pl ` and `zofia@example.pl` are one address. Checking that an address and a source
are acceptable is the caller's job (bridge.web.unsubscribe.unsubscribe); this module only keeps the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, select

from bridge.state.store import unsubscribes, upsert


@dataclass(frozen=True)
class Unsubscribe:
    """One address that asked for no more marketing mail: how (`source`) and when."""

    email: str
    source: str
    created_at: datetime


def normalise_email(email: str) -> str:
    """The form every address is stored and signed in (the outbox's suppressions use the same)."""
    return email.strip().lower()


def add(conn: Connection, email: str, source: str, *, now: datetime) -> bool:
    """Record the unsubscribe; True when it is new (the first request wins: its source and time stay)."""
    result = conn.execute(
        upsert(conn, unsubscribes)
        .values(email=normalise_email(email), source=source, created_at=now)
        .on_conflict_do_nothing(index_elements=[unsubscribes.c.email])
    )
    return result.rowcount == 1


def unsubscribed(conn: Connection, email: str) -> Unsubscribe | None:
    """How and when `email` unsubscribed, or None when it never did (or resubscribed)."""
    row = conn.execute(
        select(unsubscribes).where(unsubscribes.c.email == normalise_email(email))
    ).one_or_none()
    return None if row is None else Unsubscribe(row.email, row.source, row.created_at)


def resubscribe(conn: Connection, email: str) -> bool:
    """Forget an unsubscribe (the customer asked the owner); True when there was one."""
    result = conn.execute(delete(unsubscribes).where(unsubscribes.c.email == normalise_email(email)))
    return result.rowcount > 0


def list_unsubscribed(conn: Connection) -> list[Unsubscribe]:
    """Every unsubscribed address, oldest first."""
    rows = conn.execute(select(unsubscribes).order_by(unsubscribes.c.created_at, unsubscribes.c.email))
    return [Unsubscribe(row.email, row.source, row.created_at) for row in rows]


def count_unsubscribed(conn: Connection) -> int:
    """How many addresses are unsubscribed, for `bridge status`."""
    return int(conn.execute(select(func.count()).select_from(unsubscribes)).scalar_one())
