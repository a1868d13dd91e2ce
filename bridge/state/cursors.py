"""Where the bridge stands, stored: the positions it has read the shop up to, and its incident marks.

The `cursors` table stores them as named text values; this module is the only one that knows those names
and their encodings (except the mailbox's few rows, which bridge.state.mailbox owns: the store's id and the
second sender's marks). Everything else reads and writes the typed groups of `bridge.model.cursors`, so a
position is an `int` and an instant a `datetime` everywhere outside this file.

Reading is one query for every group (`load`); writing a group writes only the values that changed, in the
caller's transaction, so a plan's cursor moves commit together with the emails they produced.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, select

from bridge.model.cursors import (
    AlertMarks,
    CartCursors,
    Cursors,
    IdCursor,
    OrderCursors,
    PollRecord,
    ShopFingerprint,
    StateGroups,
)
from bridge.state.store import cursors, upsert

# The stored names. Changing one needs a migration of the `cursors` rows.
_HISTORIES: Final = "order_histories.id"
_ORDERS: Final = "orders.id"
_PAYMENTS: Final = "order_payments.id"
_WINDOW: Final = ".window"
_BASELINE_ORDER: Final = "orders.baseline_id"
_BASELINE_AT: Final = "baseline_at"
_FINAL_STATES: Final = "order_states.final"
_SHIPPED_STATES: Final = "order_states.shipped"
_SHOP_IDENTITY: Final = "shop.identity"
_SHOP_FINGERPRINT: Final = "shop.fingerprint"
_CARTS_CHANGED: Final = "carts.date_upd"
_CARTS_CHECKED: Final = "carts.checked_at"
_CARTS_BASELINE: Final = "carts.baseline_at"
_POLL_AT: Final = "poll.last_at"
_POLL_OK_AT: Final = "poll.last_ok_at"
_POLL_ERROR: Final = "poll.last_error"
_ALERT_SHOP: Final = "alert.shop.since"
_ALERT_SENDING: Final = "alert.sending.since"
_ALERT_SENDING_KIND: Final = "alert.sending.kind"


def load(conn: Connection) -> Cursors:
    """Every position and mark, in one query."""
    raw = {row.name: row.value for row in conn.execute(select(cursors.c.name, cursors.c.value))}
    return Cursors(
        orders=_order_cursors(raw),
        states=StateGroups(
            final=_ids(raw.get(_FINAL_STATES)),
            shipped=_ids(raw[_SHIPPED_STATES]) if _SHIPPED_STATES in raw else None,
        ),
        carts=CartCursors(
            changed_up_to=_instant(raw.get(_CARTS_CHANGED)),
            checked_at=_instant(raw.get(_CARTS_CHECKED)),
            baseline_at=_instant(raw.get(_CARTS_BASELINE)) or _instant(raw.get(_CARTS_CHANGED)),
        ),
        poll=PollRecord(
            last_at=_instant(raw.get(_POLL_AT)),
            last_ok_at=_instant(raw.get(_POLL_OK_AT)),
            last_error=raw.get(_POLL_ERROR) or "",
        ),
        alerts=AlertMarks(
            shop_since=_instant(raw.get(_ALERT_SHOP)),
            sending_since=_instant(raw.get(_ALERT_SENDING)),
            sending_kind=raw.get(_ALERT_SENDING_KIND) or "",
        ),
        shop_identity=_json(raw.get(_SHOP_IDENTITY)),
        fingerprint=_fingerprint(raw.get(_SHOP_FINGERPRINT)),
    )


def save_orders(conn: Connection, before: OrderCursors, after: OrderCursors, *, now: datetime) -> None:
    """The order poll's moves (only the values that changed)."""
    values: dict[str, str] = {}
    for name, old, new in (
        (_HISTORIES, before.histories, after.histories),
        (_ORDERS, before.orders, after.orders),
        (_PAYMENTS, before.payments, after.payments),
    ):
        if new.position != old.position or before.baseline_at is None:
            values[name] = str(new.position)
        if new.done != old.done or before.baseline_at is None:
            values[name + _WINDOW] = ",".join(map(str, sorted(new.done)))
    if after.baseline_order_id != before.baseline_order_id or before.baseline_at is None:
        values[_BASELINE_ORDER] = str(after.baseline_order_id)
    if after.baseline_at is not None and after.baseline_at != before.baseline_at:
        values[_BASELINE_AT] = after.baseline_at.isoformat()
    _put(conn, values, now)


def save_states(conn: Connection, states: StateGroups, identity: Mapping[str, Any], *, now: datetime) -> None:
    """What the last profile read said: state groups, and the identity emails are signed with."""
    values = {
        _FINAL_STATES: ",".join(map(str, sorted(states.final))),
        _SHOP_IDENTITY: json.dumps(dict(identity)),
    }
    if states.shipped is not None:
        values[_SHIPPED_STATES] = ",".join(map(str, sorted(states.shipped)))
    _put(conn, values, now)


def save_fingerprint(conn: Connection, fingerprint: ShopFingerprint, *, now: datetime) -> None:
    """Which shop this store belongs to (`bridge.cycle.belongs` records and checks it)."""
    _put(conn, {_SHOP_FINGERPRINT: json.dumps(asdict(fingerprint), ensure_ascii=False)}, now)


def save_carts(conn: Connection, carts: CartCursors, *, now: datetime) -> None:
    values = {
        _CARTS_CHANGED: _text(carts.changed_up_to),
        _CARTS_CHECKED: _text(carts.checked_at),
        _CARTS_BASELINE: _text(carts.baseline_at),
    }
    _put(conn, {name: value for name, value in values.items() if value}, now)


def save_poll(conn: Connection, poll: PollRecord, *, now: datetime) -> None:
    values = {_POLL_AT: _text(poll.last_at), _POLL_ERROR: poll.last_error}
    if poll.last_ok_at is not None:
        values[_POLL_OK_AT] = _text(poll.last_ok_at)
    _put(conn, values, now)


def save_alerts(conn: Connection, marks: AlertMarks, *, now: datetime) -> None:
    values = {
        _ALERT_SHOP: _text(marks.shop_since),
        _ALERT_SENDING: _text(marks.sending_since),
        _ALERT_SENDING_KIND: marks.sending_kind,
    }
    _put(conn, values, now)


@dataclass(frozen=True)
class PositionMoves:
    """When each order poll position last moved (something new arrived); None while never recorded."""

    histories: datetime | None = None
    orders: datetime | None = None
    payments: datetime | None = None


def position_moves(conn: Connection) -> PositionMoves:
    """For `bridge status`: a position's row is rewritten only when it moves (`save_orders`), so the time
    it was last written is when the position last moved."""
    names = (_HISTORIES, _ORDERS, _PAYMENTS)
    query = select(cursors.c.name, cursors.c.updated_at).where(cursors.c.name.in_(names))
    updated = {row.name: row.updated_at for row in conn.execute(query)}
    return PositionMoves(*(updated.get(name) for name in names))


# --- encoding --------------------------------------------------------------------------------------------


def _order_cursors(raw: Mapping[str, str]) -> OrderCursors:
    def id_cursor(name: str) -> IdCursor:
        return IdCursor(int(raw.get(name) or 0), _ids(raw.get(name + _WINDOW)))

    return OrderCursors(
        baseline_at=_instant(raw.get(_BASELINE_AT)),
        baseline_order_id=int(raw.get(_BASELINE_ORDER) or 0),
        histories=id_cursor(_HISTORIES),
        orders=id_cursor(_ORDERS),
        payments=id_cursor(_PAYMENTS),
    )


def _ids(value: str | None) -> frozenset[int]:
    return frozenset(int(v) for v in (value or "").split(",") if v)


def _instant(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _text(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def _json(value: str | None) -> Mapping[str, Any] | None:
    if not value:
        return None
    loaded = json.loads(value)
    return loaded if isinstance(loaded, dict) else None


def _fingerprint(value: str | None) -> ShopFingerprint | None:
    """The stored fingerprint; keys this version does not know are ignored, missing ones take defaults."""
    loaded = _json(value)
    if loaded is None or not isinstance(loaded.get("url"), str):
        return None
    known = {f.name for f in fields(ShopFingerprint)}
    return ShopFingerprint(**{k: str(v) for k, v in loaded.items() if k in known})


def _put(conn: Connection, values: Mapping[str, str], now: datetime) -> None:
    for name, value in values.items():
        statement = upsert(conn, cursors).values(name=name, value=value, updated_at=now)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=[cursors.c.name],
                set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
            )
        )
