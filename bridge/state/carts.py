"""The abandoned-cart series and the single-use discount codes the bridge created, as the store keeps them.

What they may keep, and for how long (bridge.state.retention): an ended series goes RETENTION_DAYS after it
ended; a code keeps its text only while it can be used (one code per customer, ever, needs only who and
until when); `bridge forget` deletes a customer's series and code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update

from bridge.plan.carts import IssuedCode, Series
from bridge.state.store import Store, cart_series, discount_codes, upsert


def series_of(store: Store, cart_id: int) -> Series | None:
    """The cart's series as stored (for `bridge explain`, delivery's last check and tests)."""
    with store.read() as conn:
        row = conn.execute(select(cart_series).where(cart_series.c.cart_id == cart_id)).first()
    return _series(row) if row is not None else None


def load_series(conn: Connection, cart_ids: Sequence[int]) -> dict[int, Series]:
    found: dict[int, Series] = {}
    for start in range(0, len(cart_ids), 500):  # stay far below any bound-parameter limit
        chunk = list(cart_ids[start : start + 500])
        for row in conn.execute(select(cart_series).where(cart_series.c.cart_id.in_(chunk))):
            found[row.cart_id] = _series(row)
    return found


def open_series(conn: Connection) -> dict[int, Series]:
    """The series still running: carts of the last days, few whatever the shop's size."""
    rows = conn.execute(select(cart_series).where(cart_series.c.status == "open"))
    return {row.cart_id: _series(row) for row in rows}


def put_series(conn: Connection, series: Series, *, now: datetime) -> None:
    statement = upsert(conn, cart_series).values(
        cart_id=series.cart_id,
        customer_id=series.customer_id,
        cart_updated_at=series.cart_updated_at,
        status=series.status,
        steps_done=series.steps_done,
        stop_reason=series.stop_reason,
        updated_at=now,
    )
    columns = ("customer_id", "cart_updated_at", "status", "steps_done", "stop_reason", "updated_at")
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[cart_series.c.cart_id],
            set_={name: statement.excluded[name] for name in columns},
        )
    )


def set_steps(conn: Connection, cart_id: int, steps_done: int, *, now: datetime) -> None:
    """Record the steps handled; never moves back (a concurrent pass may have gone further)."""
    conn.execute(
        update(cart_series)
        .where(cart_series.c.cart_id == cart_id, cart_series.c.steps_done < steps_done)
        .values(steps_done=steps_done, updated_at=now)
    )


def end_series(conn: Connection, cart_id: int, status: str, reason: str, *, now: datetime) -> bool:
    """Close an open series as `stopped` or `done`; False when it was not open any more."""
    result = conn.execute(
        update(cart_series)
        .where(cart_series.c.cart_id == cart_id, cart_series.c.status == "open")
        .values(status=status, stop_reason=reason, updated_at=now)
    )
    return result.rowcount > 0


def codes_of(conn: Connection, customer_ids: Iterable[int]) -> dict[int, IssuedCode]:
    """The codes already created for these customers (one per customer, ever)."""
    wanted = sorted(set(customer_ids))
    found: dict[int, IssuedCode] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for row in conn.execute(select(discount_codes).where(discount_codes.c.customer_id.in_(chunk))):
            found[row.customer_id] = IssuedCode(
                row.customer_id, row.code, row.cart_rule_id, row.cart_id, row.valid_until
            )
    return found


def put_code(conn: Connection, code: IssuedCode, *, now: datetime) -> None:
    """Remember a created code at once, in its own transaction: the shop holds it from now on."""
    conn.execute(
        upsert(conn, discount_codes)
        .values(
            customer_id=code.customer_id,
            code=code.code,
            cart_rule_id=code.cart_rule_id,
            cart_id=code.cart_id,
            valid_until=code.valid_until,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=[discount_codes.c.customer_id])
    )


def blank_expired_codes(conn: Connection, *, now: datetime) -> int:
    """Expired codes keep what "one code per customer, ever" needs (the customer, the shop's cart rule, the
    validity), not the code itself: nobody can use it any more. Returns how many were blanked."""
    result = conn.execute(
        update(discount_codes)
        .where(discount_codes.c.valid_until <= now, discount_codes.c.code != "")
        .values(code="")
    )
    return result.rowcount


def delete_ended_series(conn: Connection, *, ended_before: datetime) -> int:
    """Delete the series that ended (stopped or done) before `ended_before`. A cart shows up again only when
    it changes, and a changed cart starts a fresh series anyway; the outbox keeps the reminders' keys."""
    result = conn.execute(
        delete(cart_series).where(cart_series.c.status != "open", cart_series.c.updated_at < ended_before)
    )
    return result.rowcount


def forget_customers(conn: Connection, customer_ids: Iterable[int]) -> tuple[int, int]:
    """`bridge forget`: delete these customers' series and codes; (series, codes) deleted. The codes stay
    in the shop, where the owner may delete them."""
    wanted = sorted(set(customer_ids))
    if not wanted:
        return 0, 0
    series = conn.execute(delete(cart_series).where(cart_series.c.customer_id.in_(wanted))).rowcount
    codes = conn.execute(delete(discount_codes).where(discount_codes.c.customer_id.in_(wanted))).rowcount
    return series, codes


def _series(row: Any) -> Series:
    return Series(
        row.cart_id, row.customer_id, row.cart_updated_at, row.status, row.steps_done, row.stop_reason
    )
