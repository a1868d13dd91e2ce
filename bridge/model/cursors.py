"""Where the bridge stands, as typed values: the positions it has read the shop up to (the planner moves
them), and the marks its incidents left. `bridge.state.cursors` stores them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class IdCursor:
    """An append-only resource read up to `position`; `done` holds the ids in the overlap just behind it that
    were processed (ids are not committed in order, so the overlap is read again every poll)."""

    position: int = 0
    done: frozenset[int] = frozenset()


@dataclass(frozen=True)
class OrderCursors:
    """The order poll's positions. `baseline_at` is None until the first run recorded where the shop stood."""

    baseline_at: datetime | None = None
    baseline_order_id: int = 0
    histories: IdCursor = IdCursor()
    orders: IdCursor = IdCursor()
    payments: IdCursor = IdCursor()


@dataclass(frozen=True)
class StateGroups:
    """Order states remembered from the last profile read: after a final state an order's tracking number is
    no longer watched; `shipped` is None until a profile was read."""

    final: frozenset[int] = frozenset()
    shipped: frozenset[int] | None = None


@dataclass(frozen=True)
class CartCursors:
    """The cart watch's positions: carts changed up to `changed_up_to` were read; `checked_at` is the last
    pass; carts last changed before `baseline_at` are history. All None before the first pass."""

    changed_up_to: datetime | None = None
    checked_at: datetime | None = None
    baseline_at: datetime | None = None


@dataclass(frozen=True)
class PollRecord:
    """The last poll's time and outcome, for `bridge status`."""

    last_at: datetime | None = None
    last_ok_at: datetime | None = None
    last_error: str = ""


@dataclass(frozen=True)
class AlertMarks:
    """Since when an incident the owner is told about has lasted (None: no incident open)."""

    shop_since: datetime | None = None
    sending_since: datetime | None = None
    sending_kind: str = ""


@dataclass(frozen=True)
class Cursors:
    """Every group at once, as `load` reads it."""

    orders: OrderCursors = OrderCursors()
    states: StateGroups = StateGroups()
    carts: CartCursors = CartCursors()
    poll: PollRecord = PollRecord()
    alerts: AlertMarks = AlertMarks()
    shop_identity: Mapping[str, Any] | None = field(default=None, compare=False)
