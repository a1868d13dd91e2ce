"""The owner's digest of a catch-up while its chunks are applied (bridge.plan.digest), kept in the `cursors`
table under one name of its own, written in each chunk's transaction: a crash between two chunks leaves it
with exactly the orders the committed chunks told, and the next poll goes on with it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Final

from sqlalchemy import Connection, delete, select

from bridge.plan.digest import DigestSoFar
from bridge.state.store import cursors, upsert

_PENDING: Final = "owner.digest.pending"


def pending_digest(conn: Connection) -> DigestSoFar | None:
    """The digest a catch-up is still writing, or None."""
    value = conn.execute(select(cursors.c.value).where(cursors.c.name == _PENDING)).scalar()
    return None if value is None else DigestSoFar.from_json(json.loads(value))


def save_digest(conn: Connection, digest: DigestSoFar, *, now: datetime) -> None:
    statement = upsert(conn, cursors).values(
        name=_PENDING, value=json.dumps(digest.to_json()), updated_at=now
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[cursors.c.name], set_={"value": statement.excluded.value, "updated_at": now}
        )
    )


def clear_digest(conn: Connection) -> None:
    """The digest was queued: nothing is being written any more."""
    conn.execute(delete(cursors).where(cursors.c.name == _PENDING))
