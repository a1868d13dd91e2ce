"""What the owner's business alerts remember: where the customer-message watch stands, which day the last
daily summary told, the outbox's counts the summary shows, and which stock rows were told low (the
`owner_low_stock` table, 0007: each fall is told once).

Kept in the generic `cursors` table (name → value). The message watch's cursor is an id cursor like the
order pass's (a position and the ids of its overlap already processed); without one, the watch records a
baseline and tells nothing (history is not news), and turning the alert off forgets it, so turning it on
again starts from where the shop stands then instead of mailing every message written meanwhile.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

from sqlalchemy import ColumnElement, delete, func, select, update

from bridge.model.cursors import IdCursor
from bridge.state.store import Tx, cursors, outbox, owner_low_stock, upsert

MESSAGES: Final = "owner.customer_messages"


def message_cursor(conn: Tx) -> IdCursor | None:
    """The message watch's position; None before its baseline (or after the alert was turned off)."""
    raw = conn.execute(select(cursors.c.value).where(cursors.c.name == MESSAGES)).scalar_one_or_none()
    if raw is None:
        return None
    try:
        loaded = json.loads(raw)
        return IdCursor(int(loaded["position"]), frozenset(int(i) for i in loaded.get("done", [])))
    except (ValueError, KeyError, TypeError):
        return None  # unreadable: a fresh baseline is the safe answer (nothing old is told)


def save_message_cursor(conn: Tx, cursor: IdCursor, *, now: datetime) -> None:
    _put(conn, MESSAGES, json.dumps({"position": cursor.position, "done": sorted(cursor.done)}), now)


def forget_message_cursor(conn: Tx) -> None:
    conn.execute(delete(cursors).where(cursors.c.name == MESSAGES))


SUMMARY_DAY: Final = "owner.summary.last_day"


@dataclass(frozen=True)
class DayCounts:
    """What the outbox says about one day, and what waits for the owner now, per kind."""

    sent: dict[str, int]
    failed: dict[str, int]
    held: dict[str, int]
    unknown: int


def summary_last_day(conn: Tx) -> date | None:
    """The day the last daily summary was about; None before the first."""
    raw = conn.execute(select(cursors.c.value).where(cursors.c.name == SUMMARY_DAY)).scalar_one_or_none()
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def save_summary_day(conn: Tx, day: date, *, now: datetime) -> None:
    _put(conn, SUMMARY_DAY, day.isoformat(), now)


def day_counts(conn: Tx, start: datetime, end: datetime) -> DayCounts:
    """Emails sent and failed in [start, end), per kind; emails held and unknown now."""
    sent = _per_kind(conn, outbox.c.status == "sent", outbox.c.sent_at >= start, outbox.c.sent_at < end)
    failed = _per_kind(
        conn, outbox.c.status == "failed", outbox.c.updated_at >= start, outbox.c.updated_at < end
    )
    held = _per_kind(conn, outbox.c.status == "held")
    unknown = conn.execute(select(func.count()).where(outbox.c.status == "unknown")).scalar_one()
    return DayCounts(sent, failed, held, int(unknown))


def _per_kind(conn: Tx, *where: ColumnElement[bool]) -> dict[str, int]:
    query = select(outbox.c.kind, func.count()).where(*where).group_by(outbox.c.kind).order_by(outbox.c.kind)
    return {str(kind): int(count) for kind, count in conn.execute(query)}


# --- low stock ----------------------------------------------------------------------------------------------

LOW_STOCK_SINCE: Final = "owner.low_stock.since"
LOW_STOCK_THRESHOLD: Final = "owner.low_stock.threshold"


@dataclass(frozen=True)
class StockMark:
    stock_id: int
    low: bool  # told low, and not risen above the threshold since
    falls: int  # falls told so far


def low_stock_watched(conn: Tx) -> bool:
    """Whether the low-stock watch has its baseline (the rows low when it started were not news)."""
    query = select(cursors.c.value).where(cursors.c.name == LOW_STOCK_SINCE)
    return conn.execute(query).scalar_one_or_none() is not None


def stock_marks(conn: Tx) -> dict[int, StockMark]:
    rows = conn.execute(select(owner_low_stock.c.stock_id, owner_low_stock.c.low, owner_low_stock.c.falls))
    return {int(s): StockMark(int(s), bool(low), int(falls)) for s, low, falls in rows}


def save_stock_marks(
    conn: Tx, fallen: Mapping[int, tuple[int, int, int, int]], risen: Iterable[int], *, now: datetime
) -> None:
    """`fallen`: stock id → (product, combination, quantity, falls told); `risen`: ids above again.
    The first call (the baseline) also records that the watch started."""
    for stock_id, (product, combination, quantity, falls) in fallen.items():
        values = {
            "id_product": product,
            "id_product_attribute": combination,
            "quantity": quantity,
            "low": 1,
            "falls": falls,
            "updated_at": now,
        }
        statement = upsert(conn, owner_low_stock).values(stock_id=stock_id, **values)
        conn.execute(
            statement.on_conflict_do_update(index_elements=[owner_low_stock.c.stock_id], set_=values)
        )
    for stock_id in risen:
        conn.execute(
            update(owner_low_stock)
            .where(owner_low_stock.c.stock_id == stock_id)
            .values(low=0, updated_at=now)
        )
    _put(conn, LOW_STOCK_SINCE, now.isoformat(), now)


def forget_low_stock(conn: Tx) -> None:
    """The alert was turned off: turning it on again starts from a new baseline."""
    conn.execute(delete(owner_low_stock))
    conn.execute(delete(cursors).where(cursors.c.name.in_((LOW_STOCK_SINCE, LOW_STOCK_THRESHOLD))))


def cached_threshold(conn: Tx, *, now: datetime, max_age: timedelta) -> int | None:
    """The shop's PS_LAST_QTIES as read less than `max_age` ago; None when it must be read again."""
    raw = conn.execute(
        select(cursors.c.value).where(cursors.c.name == LOW_STOCK_THRESHOLD)
    ).scalar_one_or_none()
    try:
        loaded = json.loads(raw) if raw else None
        if loaded and now - datetime.fromisoformat(loaded["at"]) < max_age:
            return int(loaded["value"])
    except (ValueError, KeyError, TypeError):
        pass
    return None


def save_threshold(conn: Tx, value: int, *, now: datetime) -> None:
    _put(conn, LOW_STOCK_THRESHOLD, json.dumps({"value": value, "at": now.isoformat()}), now)


def _put(conn: Tx, name: str, value: str, now: datetime) -> None:
    statement = upsert(conn, cursors).values(name=name, value=value, updated_at=now)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[cursors.c.name],
            set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
        )
    )
