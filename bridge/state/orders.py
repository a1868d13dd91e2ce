"""The orders the bridge has seen: what it last knew of each, and which still wait for a tracking number."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, or_, select

from bridge.model.memory import SeenOrder
from bridge.state.store import orders_seen, upsert


def get_seen_orders(conn: Connection, ids: Iterable[int]) -> dict[int, SeenOrder]:
    """The orders among `ids` the bridge has seen before (missing ids are simply absent)."""
    wanted = sorted(set(ids))
    found: dict[int, SeenOrder] = {}
    for start in range(0, len(wanted), 500):  # stay far below any bound-parameter limit
        chunk = wanted[start : start + 500]
        for row in conn.execute(select(orders_seen).where(orders_seen.c.order_id.in_(chunk))):
            found[row.order_id] = SeenOrder(
                order_id=row.order_id,
                reference=row.reference,
                current_state=row.current_state,
                last_history_id=row.last_history_id,
                tracking_number=row.tracking_number,
                total_paid_real=Decimal(row.total_paid_real),
                date_upd=row.date_upd,
                first_seen_at=row.first_seen_at,
                updated_at=row.updated_at,
            )
    return found


def put_seen_order(conn: Connection, order: SeenOrder, *, now: datetime) -> None:
    """Insert or update one order; `first_seen_at` is set once, on first sight."""
    put_seen_orders(conn, [order], now=now)


def put_seen_orders(conn: Connection, orders: Iterable[SeenOrder], *, now: datetime) -> None:
    """Insert or update many orders with one statement per 500 (a catch-up's chunk), not one per order;
    `first_seen_at` is set once, on first sight."""
    rows = [
        {
            "order_id": order.order_id,
            "reference": order.reference,
            "current_state": order.current_state,
            "last_history_id": order.last_history_id,
            "tracking_number": order.tracking_number,
            "total_paid_real": str(order.total_paid_real),
            "date_upd": order.date_upd,
            "updated_at": now,
            "first_seen_at": now,
        }
        for order in orders
    ]
    if not rows:
        return
    statement = upsert(conn, orders_seen)
    changed = {
        name: statement.excluded[name] for name in rows[0] if name not in ("order_id", "first_seen_at")
    }
    statement = statement.on_conflict_do_update(index_elements=[orders_seen.c.order_id], set_=changed)
    for start in range(0, len(rows), 500):
        conn.execute(statement, rows[start : start + 500])


def seen_orders_awaiting_tracking(
    conn: Connection,
    *,
    since: datetime,
    final_states: Iterable[int],
    shipped_states: Iterable[int] | None = None,
) -> dict[int, SeenOrder]:
    """Orders first seen after `since`, still without a tracking number, in a shipped state (or, before
    the shipped states are known, in any state but a final one).

    A tracking number moves no timestamp in PrestaShop, so these are the orders whose carriers each poll
    re-reads (in batches of a hundred). Only a shipped order needs it: a number typed in earlier rides in
    the shipped email, which reads the carrier when it is written.
    """
    query = select(orders_seen.c.order_id).where(
        orders_seen.c.first_seen_at >= since,
        or_(orders_seen.c.tracking_number.is_(None), orders_seen.c.tracking_number == ""),
    )
    if shipped_states is not None:
        query = query.where(orders_seen.c.current_state.in_(sorted(set(shipped_states))))
    else:
        finished = sorted(set(final_states))
        if finished:
            query = query.where(orders_seen.c.current_state.not_in(finished))
    return get_seen_orders(conn, [row.order_id for row in conn.execute(query)])
