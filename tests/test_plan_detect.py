"""What counts as a change (bridge.plan.detect) on plain rows: the cases the order pass tests leave out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bridge.model.memory import SeenOrder
from bridge.model.records import OrderCarrier, OrderHistory, OrderPayment
from bridge.plan.detect import Change, PaymentAdded, StateChanged, TrackingChanged, detect_changes
from tests.builders import PAYMENT_ACCEPTED, SHIPPED, ago, history, order, order_carrier, payment, seen


def detected(
    *,
    known: Sequence[SeenOrder] = (),
    histories: Sequence[OrderHistory] = (),
    payments: Sequence[OrderPayment] = (),
    references: Mapping[str, Sequence[int]] | None = None,
    carriers: Sequence[OrderCarrier] = (),
) -> list[Change]:
    return detect_changes(
        seen={s.order_id: s for s in known},
        new_orders=[],
        histories=histories,
        first_history_ids={},
        payments=payments,
        order_ids_by_reference=references or {},
        carriers=carriers,
        baseline_order_id=1000,
    )


def test_a_payment_for_a_multi_shipment_checkout_is_reported_once_for_its_first_order() -> None:
    first = order(1042)
    paid = payment(301, first)
    found = detected(payments=[paid], references={first.reference: [1043, 1042]})
    assert found == [PaymentAdded(paid, 1042)]


def test_a_payment_naming_no_order_the_bridge_can_find_is_left_out() -> None:
    assert detected(payments=[payment(301)], references={}) == []


def test_only_a_tracking_number_the_bridge_has_not_seen_is_news() -> None:
    shipped = order(1042, state=SHIPPED)
    known = seen(shipped, tracking="620123456789")
    found = detected(
        known=[known],
        carriers=[
            order_carrier(1042, "620123456789"),
            order_carrier(1043, "   "),
            order_carrier(1044, "PX-99"),
        ],
    )
    assert found == [TrackingChanged(1044, "PX-99", "")]
    corrected = detected(known=[known], carriers=[order_carrier(1042, "620123456780")])
    assert corrected == [TrackingChanged(1042, "620123456780", "620123456789")]


def test_a_payment_whose_typed_date_lies_in_the_past_comes_after_the_states_read_with_it() -> None:
    first = order(1042)
    paid = payment(301, first)  # dated yesterday by the employee who typed it
    state = history(5001, 1042, PAYMENT_ACCEPTED, at=ago(minutes=2))
    found = detected(histories=[state], payments=[paid], references={first.reference: [1042]})
    assert found == [StateChanged(state, initial=False), PaymentAdded(paid, 1042)]
