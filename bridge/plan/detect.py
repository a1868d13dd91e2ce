"""What changed in the shop since the last poll: plain values in, a time-ordered list of changes out.

Pure: no I/O and no clock. The sync reads the shop and the state store, and passes both here.

Why these inputs (docs/shop-facts.md §5 and §6, what a real 8.1.2 shop moved):
- every state change adds an `order_histories` row: an id cursor over them sees each change once, in
  order, even several in one second (`date_upd` has one-second resolution and `>` is strict);
- a new order has an id above the orders cursor (and its first history row);
- a payment typed in the back office adds an `order_payments` row but no history row;
- a tracking number moves no timestamp anywhere: only `order_carriers.tracking_number` changes, so the
  sync re-reads the order carriers of the orders still on their way and passes them here.
Rows re-read from the overlap window behind each cursor come back as the same changes; the outbox's
idempotency keys drop them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bridge.model.memory import SeenOrder
from bridge.model.records import Order, OrderCarrier, OrderHistory, OrderPayment


@dataclass(frozen=True)
class NewOrder:
    order: Order
    initial_state: int | None = None  # the state it was placed in, when its first history row was read


@dataclass(frozen=True)
class StateChanged:
    history: OrderHistory
    initial: bool  # the state the order was placed in (its first history row)


@dataclass(frozen=True)
class TrackingChanged:
    order_id: int
    tracking_number: str
    previous: str  # "" when the order had none


@dataclass(frozen=True)
class PaymentAdded:
    payment: OrderPayment
    order_id: int


Change = NewOrder | StateChanged | TrackingChanged | PaymentAdded


def detect_changes(
    *,
    seen: Mapping[int, SeenOrder],
    new_orders: Iterable[Order],
    histories: Iterable[OrderHistory],
    first_history_ids: Mapping[int, int],
    payments: Iterable[OrderPayment],
    order_ids_by_reference: Mapping[str, Sequence[int]],
    carriers: Iterable[OrderCarrier],
    baseline_order_id: int,
) -> list[Change]:
    """Turn freshly read rows into changes, oldest first.

    `first_history_ids` maps an order id to the id of its first history row (its initial state).
    `baseline_order_id`: orders up to this id existed when the bridge started; they get no confirmation.
    """
    changes: list[tuple[tuple[datetime | None, int, int], Change]] = []
    histories = list(histories)
    initial_states = {
        h.id_order: h.id_order_state for h in histories if first_history_ids.get(h.id_order) == h.id
    }

    for order in new_orders:
        if order.id > baseline_order_id and order.id not in seen:
            # Sort key: (time, kind rank, id) so a confirmation precedes the order's first status.
            changes.append(((order.date_add, 0, order.id), NewOrder(order, initial_states.get(order.id))))

    for history in histories:
        initial = first_history_ids.get(history.id_order) == history.id
        changes.append(((history.date_add, 1, history.id), StateChanged(history, initial)))

    for payment in payments:
        # A payment names an order reference; a multi-shipment checkout gives several orders one
        # reference, and the payment belongs to all of them: report it for the first.
        order_ids = order_ids_by_reference.get(payment.order_reference, ())
        if order_ids:
            # Its date_add is typed by an employee and may lie in the past: order it as "noticed now".
            changes.append(((None, 2, payment.id), PaymentAdded(payment, min(order_ids))))

    for carrier in carriers:
        number = carrier.tracking_number.strip()
        known = seen.get(carrier.id_order)
        previous = (known.tracking_number or "") if known else ""
        if number and number != previous:
            changes.append(((None, 3, carrier.id), TrackingChanged(carrier.id_order, number, previous)))

    # Dates are shop-local instants; a missing date sorts with the latest (tracking numbers carry none,
    # and they are only ever noticed "now").
    latest = max((key[0] for key, _ in changes if key[0] is not None), default=None)
    return [
        change
        for _, change in sorted(
            changes, key=lambda item: (item[0][0] or latest or _EPOCH, item[0][1], item[0][2])
        )
    ]


_EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")
