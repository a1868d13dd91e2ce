"""What the customer-service passes remember: where the credit-slip watch and the conversation watch stand.

Kept in the generic `cursors` table (name → value) as id cursors like the order pass's (a position and the
ids of its overlap already processed). Without one, a watch records a baseline and sends nothing: refunds
and messages from before the bridge's first run are history, not news.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Final

from sqlalchemy import or_, select

from bridge.model.cursors import IdCursor
from bridge.model.kinds import MESSAGE_RECEIVED, MESSAGE_REPLY
from bridge.state.store import Store, Tx, cursors, outbox, upsert

SLIPS: Final = "service.order_slip"
MESSAGES: Final = "service.customer_messages"


def load_cursor(conn: Tx, name: str) -> IdCursor | None:
    """A watch's position; None before its baseline (or when unreadable: a fresh baseline is the safe
    answer, it sends nothing old)."""
    raw = conn.execute(select(cursors.c.value).where(cursors.c.name == name)).scalar_one_or_none()
    if raw is None:
        return None
    try:
        loaded = json.loads(raw)
        return IdCursor(int(loaded["position"]), frozenset(int(i) for i in loaded.get("done", [])))
    except (ValueError, KeyError, TypeError):
        return None


def save_cursor(conn: Tx, name: str, cursor: IdCursor, *, now: datetime) -> None:
    value = json.dumps({"position": cursor.position, "done": sorted(cursor.done)})
    statement = upsert(conn, cursors).values(name=name, value=value, updated_at=now)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[cursors.c.name],
            set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
        )
    )


def thread_email_ids(store: Store, thread_id: int) -> list[int]:
    """The outbox rows (ids, oldest first) of one conversation: replies and acknowledgements, sent or
    skipped. Their keys name the thread (`message_reply:thread:12:message:40`)."""
    patterns = [f"{kind}:thread:{thread_id}:message:%" for kind in (MESSAGE_REPLY, MESSAGE_RECEIVED)]
    query = (
        select(outbox.c.id)
        .where(or_(*(outbox.c.idempotency_key.like(p) for p in patterns)))
        .order_by(outbox.c.id)
    )
    with store.read() as conn:
        return [int(row_id) for row_id in conn.execute(query).scalars()]


def message_watch_position(store: Store) -> int | None:
    """The last message id the conversation watch has read past; None before its first poll."""
    with store.read() as conn:
        cursor = load_cursor(conn, MESSAGES)
    return cursor.position if cursor is not None else None
