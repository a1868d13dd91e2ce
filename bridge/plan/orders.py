"""The order pass, planned: rows read from the shop and what the bridge remembers in, one plan out.

Pure: no I/O, no clock (`now` is an argument). The cycle reads the shop and the store, calls these functions,
performs nothing on their behalf but the reads they ask for, and applies the plan in one transaction.

Why the cursors work as they do (docs/design.md §2.2): every append-only resource (order_histories, orders,
order_payments) is read from a little behind its cursor, because ids are handed out at INSERT and committed
a few milliseconds later; rows already processed in that overlap are remembered (`IdCursor.done`), so a row
that became visible late is news and one seen before is not. The outbox's idempotency keys are the second
guard: deciding twice enqueues once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Protocol, TypeVar

from bridge.model.cursors import IdCursor, OrderCursors, StateGroups
from bridge.model.kinds import CANCELLED, DELIVERED, REFUNDED, SHIPPED
from bridge.model.memory import SeenOrder
from bridge.model.profile import ShopProfile
from bridge.model.records import Order, OrderCarrier, OrderHistory, OrderPayment
from bridge.plan.contexts import OrderFacts
from bridge.plan.detect import Change, NewOrder, PaymentAdded, StateChanged, TrackingChanged, detect_changes
from bridge.plan.rules import Decision, RuleSettings, decide, review_key

# How far behind each id cursor every poll re-reads.
OVERLAP_IDS: Final = 20
# A catch-up reads, plans and applies at most this many new orders at a time (and at most twice as many state
# changes or payments), then lets them go: its memory does not grow with the orders caught up.
CATCH_UP_CHUNK: Final = 1000
# Orders whose carriers are re-read for a tracking number: those seen in the last two weeks.
TRACKING_WATCH: Final = timedelta(days=14)
FINAL_KINDS: Final = frozenset({DELIVERED, CANCELLED, REFUNDED})
# A cancelled or refunded order is no occasion to ask for a review.
ENDS_REVIEWS: Final = frozenset({CANCELLED, REFUNDED})


class _HasId(Protocol):
    @property
    def id(self) -> int: ...


Row = TypeVar("Row", bound=_HasId)


@dataclass(frozen=True)
class OrderRows:
    """What one poll read from the shop: the rows that moved, and every order they involve."""

    histories: Sequence[OrderHistory]
    payments: Sequence[OrderPayment]
    new_orders: Sequence[Order]
    carriers: Sequence[OrderCarrier]  # of the orders still waiting for a tracking number
    orders: Mapping[int, Order]  # new orders and the orders the other rows name


@dataclass(frozen=True)
class OrderMemory:
    """What the bridge remembers that this poll needs."""

    cursors: OrderCursors
    seen: Mapping[int, SeenOrder]  # the involved orders the bridge saw before
    already_sent: Mapping[int, frozenset[str]] = field(default_factory=dict)


@dataclass
class OrderPlan:
    """Everything one poll decided, to be applied in one transaction."""

    decisions: list[Decision]
    cancel_reviews: list[tuple[str, str]]  # (idempotency key, why)
    seen: list[SeenOrder]
    cursors: OrderCursors
    placed: list[Order]  # orders new to the bridge: they end their cart's reminders
    changes: int

    @property
    def to_send(self) -> list[Decision]:
        return [d for d in self.decisions if d.sends]


# --- reading: which rows are news, which orders are involved ------------------------------------------


def read_from(cursor: IdCursor) -> int:
    """The id to read after: a little behind the cursor (see the module docstring)."""
    return max(0, cursor.position - OVERLAP_IDS)


def fresh(rows: Iterable[Row], cursor: IdCursor) -> list[Row]:
    """Rows past the cursor, or in its overlap but not processed yet (visible late)."""
    return [row for row in rows if row.id > cursor.position or row.id not in cursor.done]


def unseen_in_overlap(listed: Iterable[int], cursor: IdCursor, baseline: int) -> list[int]:
    """Order ids behind the cursor (and after the baseline) that may have been committed late."""
    return [order_id for order_id in listed if baseline < order_id <= cursor.position]


def wanted_orders(listed: Iterable[int], cursor: IdCursor, late: Iterable[int]) -> list[int]:
    """The order ids to read in full: past the cursor, or late in the overlap."""
    behind = set(late)
    return [order_id for order_id in listed if order_id > cursor.position or order_id in behind]


def by_reference(orders: Iterable[Order], seen: Iterable[SeenOrder]) -> dict[str, list[int]]:
    """Order ids per reference (a multi-shipment checkout gives several orders one reference)."""
    found: dict[str, list[int]] = {}
    for order in orders:
        found.setdefault(order.reference, []).append(order.id)
    for known in seen:
        ids = found.setdefault(known.reference, [])
        if known.order_id not in ids:
            ids.append(known.order_id)
    return found


def involved(
    histories: Iterable[OrderHistory],
    payments: Iterable[OrderPayment],
    references: Mapping[str, Sequence[int]],
    carriers: Iterable[OrderCarrier],
) -> set[int]:
    """The orders whose rows moved: a state, a payment (through its reference), a tracking number."""
    return (
        {h.id_order for h in histories}
        | {oid for p in payments for oid in references.get(p.order_reference, ())}
        | {c.id_order for c in carriers if c.tracking_number.strip()}
    )


# --- chunks: a large catch-up read a bounded piece at a time ----------------------------------------------


def cut_histories(histories: Sequence[OrderHistory], upper: int | None) -> list[OrderHistory]:
    """The state changes up to the first one of an order past the chunk (`upper`: its last new order, None
    when no order is left after it): that one and those after belong to a later chunk."""
    if upper is None:
        return list(histories)
    for index, history in enumerate(histories):
        if history.id_order > upper:
            return list(histories[:index])
    return list(histories)


def orders_with_history(
    new_orders: Sequence[Order], histories: Sequence[OrderHistory], position: int
) -> list[Order]:
    """When the state changes were cut at their cap: only the new orders whose first state change was read
    (orders are placed before their first history row), so each is planned with the state it was placed in;
    late orders behind the cursor stay."""
    reached = max((h.id_order for h in histories if h.id_order > position), default=position)
    return [o for o in new_orders if o.id <= reached]


def cut_payments(payments: Sequence[OrderPayment], later: Iterable[str]) -> list[OrderPayment]:
    """The payments up to the first one of an order a later chunk reads (`later`: those orders' references):
    read now, it would make that order look seen before its confirmation."""
    future = set(later)
    for index, payment in enumerate(payments):
        if payment.order_reference in future:
            return list(payments[:index])
    return list(payments)


def payments_up_to_known(payments: Sequence[OrderPayment], known: Iterable[str]) -> list[OrderPayment]:
    """While more orders follow the chunk: the payments up to the last one of an order the chunk knows (its
    own, or one seen before). Those after it name orders the bridge does not know yet, almost always the next
    chunk's: they wait for it instead of being looked up by reference one by one now."""
    names = set(known)
    last = max((index for index, p in enumerate(payments) if p.order_reference in names), default=-1)
    return list(payments[: last + 1])


# --- planning ------------------------------------------------------------------------------------------


def changes(rows: OrderRows, memory: OrderMemory, references: Mapping[str, Sequence[int]]) -> list[Change]:
    """What happened, oldest first (detect.py says why each row means what it means)."""
    baseline = memory.cursors.baseline_order_id
    new_ids = {o.id for o in rows.new_orders if o.id > baseline and o.id not in memory.seen}
    first: dict[int, int] = {}
    for history in rows.histories:
        if history.id_order in new_ids:
            first[history.id_order] = min(first.get(history.id_order, history.id), history.id)
    return detect_changes(
        seen=memory.seen,
        new_orders=rows.new_orders,
        histories=rows.histories,
        first_history_ids=first,
        payments=rows.payments,
        order_ids_by_reference=references,
        carriers=rows.carriers,
        baseline_order_id=baseline,
    )


def needing_facts(found: Sequence[Change]) -> set[int]:
    """The orders whose emails may be written: only these are read in full (customers, addresses, …)."""
    ids: set[int] = set()
    for change in found:
        match change:
            case NewOrder(order=order):
                ids.add(order.id)
            case StateChanged(history=history):
                ids.add(history.id_order)
            case PaymentAdded(order_id=order_id) | TrackingChanged(order_id=order_id):
                ids.add(order_id)
    return ids


def plan_orders(
    rows: OrderRows,
    memory: OrderMemory,
    found: Sequence[Change],
    *,
    facts: Mapping[int, OrderFacts],
    profile: ShopProfile | None,
    settings: RuleSettings,
    now: datetime,
) -> OrderPlan:
    """The emails the changes call for, what to remember of the orders, and where the cursors move."""
    decisions: list[Decision] = []
    if found and profile is not None:
        decisions = decide(
            found,
            facts=facts,
            profile=profile,
            settings=settings,
            already_sent=memory.already_sent,
            now=now,
        )
    tracking = {c.id_order: c.tracking_number.strip() for c in rows.carriers}
    tracking.update((order_id, f.tracking_number) for order_id, f in facts.items())
    needing = needing_facts(found)
    placed = [
        o for o in rows.new_orders if o.id > memory.cursors.baseline_order_id and o.id not in memory.seen
    ]
    return OrderPlan(
        decisions=decisions,
        cancel_reviews=_reviews_to_cancel(found, profile),
        seen=_remembered(
            {oid: rows.orders[oid] for oid in sorted(needing) if oid in rows.orders},
            memory.seen,
            rows.histories,
            tracking,
            now,
        ),
        cursors=moved(memory.cursors, rows),
        placed=placed,
        changes=len(found),
    )


def moved(cursors: OrderCursors, rows: OrderRows) -> OrderCursors:
    """The cursors after these rows were processed."""
    return OrderCursors(
        baseline_at=cursors.baseline_at,
        baseline_order_id=cursors.baseline_order_id,
        histories=advance(cursors.histories, [h.id for h in rows.histories]),
        orders=advance(cursors.orders, [o.id for o in rows.new_orders]),
        payments=advance(cursors.payments, [p.id for p in rows.payments]),
    )


def advance(cursor: IdCursor, processed: Iterable[int]) -> IdCursor:
    """To the highest id processed, remembering which ids of the new overlap were processed."""
    done = set(processed)
    highest = max([cursor.position, *done])
    recent = frozenset(i for i in cursor.done | done if i > highest - OVERLAP_IDS)
    return IdCursor(highest, recent)


def baseline(
    positions: Mapping[str, int], windows: Mapping[str, Sequence[int]], now: datetime
) -> OrderCursors:
    """The first run: the shop's current positions become the cursors; nothing before them is news."""
    return OrderCursors(
        baseline_at=now,
        baseline_order_id=positions["orders"],
        histories=IdCursor(positions["order_histories"], frozenset(windows.get("order_histories", ()))),
        orders=IdCursor(positions["orders"], frozenset(windows.get("orders", ()))),
        payments=IdCursor(positions["order_payments"], frozenset(windows.get("order_payments", ()))),
    )


def state_groups(profile: ShopProfile) -> StateGroups:
    """Which states end the tracking watch (final), and which send the shipped email."""
    kinds = profile.state_kinds
    return StateGroups(
        final=frozenset(sid for sid, kind in kinds.items() if kind in FINAL_KINDS),
        shipped=frozenset(sid for sid, kind in kinds.items() if kind == SHIPPED),
    )


def _reviews_to_cancel(found: Sequence[Change], profile: ShopProfile | None) -> list[tuple[str, str]]:
    if profile is None:
        return []
    cancels: list[tuple[str, str]] = []
    for change in found:
        if isinstance(change, StateChanged):
            kind = profile.kind_for_state(change.history.id_order_state)
            if kind in ENDS_REVIEWS:
                why = f"not sent: the order was {kind} before the review request went out"
                cancels.append((review_key(change.history.id_order), why))
    return cancels


def _remembered(
    orders: Mapping[int, Order],
    seen: Mapping[int, SeenOrder],
    histories: Sequence[OrderHistory],
    tracking: Mapping[int, str],
    now: datetime,
) -> list[SeenOrder]:
    """What to remember of the orders something happened to (the overlap's older ones are not news)."""
    last_history: dict[int, int] = {}
    for history in histories:
        last_history[history.id_order] = max(last_history.get(history.id_order, 0), history.id)
    remembered = []
    for order in orders.values():
        known = seen.get(order.id)
        remembered.append(
            SeenOrder(
                order_id=order.id,
                reference=order.reference,
                current_state=order.current_state,
                last_history_id=last_history.get(order.id, known.last_history_id if known else None),
                tracking_number=tracking.get(order.id, known.tracking_number if known else None) or None,
                total_paid_real=order.total_paid_real,
                date_upd=order.date_upd or (known.date_upd if known else now),
            )
        )
    return remembered
