"""Questions the owner's reports ask of the store across tables: which orders a number or a reference
names (`bridge explain order`), how many cart reminder series are open (`bridge status`).

Read-only, and never used to decide what to send: the rules and delivery ask bridge.state.outbox and
bridge.state.orders.
"""

from __future__ import annotations

from sqlalchemy import Connection, exists, func, or_, select

from bridge.state.store import cart_series, orders_seen, outbox


def order_known(conn: Connection, order_id: int) -> bool:
    """Whether the bridge saw the order, or holds an email for it."""
    seen = select(orders_seen.c.order_id).where(orders_seen.c.order_id == order_id)
    emailed = select(outbox.c.id).where(outbox.c.order_id == order_id)
    return bool(conn.execute(select(or_(exists(seen), exists(emailed)))).scalar())


def orders_with_reference(conn: Connection, reference: str) -> set[int]:
    """The ids of the orders seen, or emailed about, under `reference` (as stored: upper case). One
    checkout split into several orders (one per carrier) shares one reference."""
    seen = conn.execute(select(orders_seen.c.order_id).where(orders_seen.c.reference == reference))
    emailed = conn.execute(select(outbox.c.order_id).where(outbox.c.order_reference == reference))
    return set(seen.scalars()) | {order_id for order_id in emailed.scalars() if order_id is not None}


def count_open_cart_series(conn: Connection) -> int:
    """How many abandoned carts are in a reminder series that continues."""
    query = select(func.count()).select_from(cart_series).where(cart_series.c.status == "open")
    return int(conn.execute(query).scalar_one())
