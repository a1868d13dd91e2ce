"""The order pass, planned on plain data: which rows are news, what is decided, where the cursors move.

No shop and no store: the rows a poll would read are built in memory (tests/builders.py)."""

from __future__ import annotations

from collections.abc import Mapping

from bridge.model.cursors import IdCursor, OrderCursors
from bridge.plan import orders as plan
from bridge.plan.contexts import OrderFacts
from bridge.plan.detect import Change, NewOrder, PaymentAdded, StateChanged, TrackingChanged
from tests.builders import (
    BANK_WIRE,
    CANCELLED,
    DELIVERED,
    NOW,
    PAYMENT_ACCEPTED,
    PROCESSING,
    REFUNDED,
    SHIPPED,
    cursors,
    facts_of,
    history,
    memory,
    order,
    order_carrier,
    payment,
    poll,
    profile,
    rule_settings,
    seen,
)


def planned(
    rows: plan.OrderRows,
    remembered: plan.OrderMemory,
    *,
    facts: Mapping[int, OrderFacts] | None = None,
    **settings: int,
) -> tuple[plan.OrderPlan, list[Change]]:
    """Plan one poll as the cycle does: changes first, then the plan; facts default to every order read."""
    references = plan.by_reference(rows.orders.values(), remembered.seen.values())
    found = plan.changes(rows, remembered, references)
    result = plan.plan_orders(
        rows,
        remembered,
        found,
        facts=facts_of(*rows.orders.values()) if facts is None else facts,
        profile=profile(),
        settings=rule_settings(**settings),
        now=NOW,
    )
    return result, found


# --- which rows are news --------------------------------------------------------------------------------


def test_each_poll_reads_again_from_twenty_ids_behind_the_cursor_but_not_below_the_first_id() -> None:
    assert plan.read_from(IdCursor(5000)) == 5000 - plan.OVERLAP_IDS
    assert plan.read_from(IdCursor(7)) == 0


def test_a_history_row_already_in_the_cursors_done_window_is_not_news() -> None:
    cursor = IdCursor(5000, frozenset({4990, 5000}))
    assert plan.fresh([history(4990)], cursor) == []


def test_a_row_committed_late_inside_the_overlap_is_news_and_so_is_a_row_past_the_cursor() -> None:
    late, new = history(4995), history(5001)
    assert plan.fresh([history(4990), late, new], IdCursor(5000, frozenset({4990, 5000}))) == [late, new]


def test_only_orders_between_the_baseline_and_the_cursor_are_checked_for_late_commits() -> None:
    listed = [995, 1021, 1040, 1041, 1042]
    assert plan.unseen_in_overlap(listed, IdCursor(1041), baseline=1020) == [1021, 1040, 1041]


def test_orders_past_the_cursor_and_late_ones_behind_it_are_read_in_full() -> None:
    listed = [1030, 1035, 1042, 1043]
    assert plan.wanted_orders(listed, IdCursor(1041), late=[1035]) == [1035, 1042, 1043]


def test_a_multi_shipment_checkout_maps_one_reference_to_all_its_orders() -> None:
    first = order(1042)
    second = order(1043, reference=first.reference)
    earlier = order(1044, reference=first.reference)
    found = plan.by_reference([first, second], [seen(earlier), seen(first)])
    assert found == {first.reference: [1042, 1043, 1044]}


def test_orders_are_involved_by_a_state_a_payment_or_a_typed_tracking_number() -> None:
    paid_for = order(1050)
    references = {paid_for.reference: [1050]}
    found = plan.involved(
        [history(5001, 1042)],
        [payment(301, paid_for)],
        references,
        [order_carrier(1060, "620123456789"), order_carrier(1070, "  ")],
    )
    assert found == {1042, 1050, 1060}


# --- what happened ---------------------------------------------------------------------------------------


def test_a_new_order_is_reported_with_the_state_it_was_placed_in() -> None:
    placed = order(1042)
    rows = poll(
        new_orders=[placed], histories=[history(5002, 1042, PAYMENT_ACCEPTED), history(5001, 1042, BANK_WIRE)]
    )
    found = plan.changes(rows, memory(), {})
    assert found[0] == NewOrder(placed, initial_state=BANK_WIRE)
    assert [c.initial for c in found[1:] if isinstance(c, StateChanged)] == [True, False]


def test_orders_up_to_the_baseline_get_no_confirmation() -> None:
    old = order(1000)
    found = plan.changes(poll(new_orders=[old]), memory(), {})
    assert found == []


def test_an_order_seen_in_an_earlier_poll_is_not_new_again() -> None:
    known = order(1042)
    found = plan.changes(poll(new_orders=[known]), memory(seen(known)), {})
    assert found == []


def test_the_orders_read_in_full_are_those_a_change_names() -> None:
    placed, paid_for, shipped = order(1042), order(1050), order(1060, state=SHIPPED)
    found: list[Change] = [
        NewOrder(placed),
        StateChanged(history(5001, 1043), initial=False),
        PaymentAdded(payment(301, paid_for), 1050),
        TrackingChanged(shipped.id, "620123456789", ""),
    ]
    assert plan.needing_facts(found) == {1042, 1043, 1050, 1060}


# --- the plan ----------------------------------------------------------------------------------------------


def test_a_new_order_gets_one_confirmation_keyed_by_its_id() -> None:
    result, _ = planned(poll(new_orders=[order(1042, state=PAYMENT_ACCEPTED)]), memory())
    assert [(d.key, d.kind) for d in result.to_send] == [
        ("order_confirmation:order:1042", "order_confirmation")
    ]


def test_the_orders_initial_bank_wire_state_sends_its_instructions_next_to_the_confirmation() -> None:
    placed = order(1042, state=BANK_WIRE)
    result, _ = planned(poll(new_orders=[placed], histories=[history(5001, 1042, BANK_WIRE)]), memory())
    assert [d.key for d in result.to_send] == ["order_confirmation:order:1042", "status:history:5001"]
    assert result.to_send[1].kind == "awaiting_bank_wire"
    assert result.to_send[1].context["bank"]["iban"] == "PL61 1090 1014 0000 0712 1981 2874"


def test_the_initial_payment_accepted_state_is_covered_by_the_confirmation() -> None:
    placed = order(1042, state=PAYMENT_ACCEPTED)
    result, _ = planned(
        poll(new_orders=[placed], histories=[history(5001, 1042, PAYMENT_ACCEPTED)]), memory()
    )
    assert [d.key for d in result.to_send] == ["order_confirmation:order:1042"]
    skipped = [d for d in result.decisions if not d.sends]
    assert [(d.key, d.skip_reason) for d in skipped] == [
        ("status:history:5001", "covered by the order confirmation")
    ]


def test_a_cancelled_order_cancels_its_pending_review_request() -> None:
    known = order(1042, state=CANCELLED)
    result, _ = planned(poll(histories=[history(5001, 1042, CANCELLED)], others=[known]), memory(seen(known)))
    assert result.cancel_reviews == [
        ("review_request:order:1042", "not sent: the order was cancelled before the review request went out")
    ]


def test_a_shipped_order_keeps_its_review_request() -> None:
    known = order(1042, state=SHIPPED)
    result, _ = planned(poll(histories=[history(5001, 1042, SHIPPED)], others=[known]), memory(seen(known)))
    assert result.cancel_reviews == []


def test_without_a_shop_profile_nothing_is_decided_but_the_cursors_still_move() -> None:
    rows = poll(new_orders=[order(1042)], histories=[history(5001, 1042, BANK_WIRE)])
    remembered = memory()
    found = plan.changes(rows, remembered, {})
    result = plan.plan_orders(
        rows, remembered, found, facts={}, profile=None, settings=rule_settings(), now=NOW
    )
    assert (result.decisions, result.cancel_reviews) == ([], [])
    assert result.cursors.histories.position == 5001
    assert result.cursors.orders.position == 1042
    assert result.changes == 2


def test_an_order_new_to_the_bridge_is_listed_as_placed_so_its_cart_reminders_end() -> None:
    placed, known = order(1042), order(1043)
    result, _ = planned(poll(new_orders=[placed, known]), memory(seen(known)))
    assert [o.id for o in result.placed] == [1042]


def test_the_plan_remembers_each_orders_state_last_history_row_and_tracking_number() -> None:
    shipped = order(1042, state=SHIPPED)
    rows = poll(
        histories=[history(5001, 1042, PROCESSING), history(5002, 1042, SHIPPED)],
        carriers=[order_carrier(1042, " 620123456789 ")],
        others=[shipped],
    )
    before = memory(seen(order(1042, state=PAYMENT_ACCEPTED), last_history_id=4990))
    result, _ = planned(rows, before, facts=facts_of(shipped, tracking_number="620123456789"))
    (remembered,) = result.seen
    assert (remembered.current_state, remembered.last_history_id, remembered.tracking_number) == (
        SHIPPED,
        5002,
        "620123456789",
    )


def test_a_payment_alone_keeps_the_last_history_row_the_bridge_knew() -> None:
    known = order(1042, state=SHIPPED)
    result, _ = planned(
        poll(payments=[payment(301, known)], others=[known]), memory(seen(known, last_history_id=4990))
    )
    (remembered,) = result.seen
    assert remembered.last_history_id == 4990


def test_an_order_the_shop_could_not_describe_keeps_its_known_tracking_number() -> None:
    known = order(1042, state=SHIPPED)
    result, _ = planned(
        poll(histories=[history(5001, 1042, SHIPPED)], others=[known]),
        memory(seen(known, last_history_id=4990, tracking="620123456789")),
        facts={},
    )
    (remembered,) = result.seen
    assert (remembered.last_history_id, remembered.tracking_number) == (5001, "620123456789")
    assert [d.skip_reason for d in result.decisions] == ["the order could not be read from the shop"]


def test_an_order_without_a_date_is_remembered_as_seen_now() -> None:
    undated = order(1042, date_upd=None)
    result, _ = planned(poll(new_orders=[undated]), memory())
    assert result.seen[0].date_upd == NOW


def test_planning_twice_gives_the_same_keys() -> None:
    placed = order(1042, state=BANK_WIRE)
    rows = poll(
        new_orders=[placed], histories=[history(5001, 1042, BANK_WIRE)], payments=[payment(301, placed)]
    )
    first, _ = planned(rows, memory())
    second, _ = planned(rows, memory())
    assert [d.key for d in first.decisions] == [d.key for d in second.decisions]
    assert [d.context for d in first.decisions] == [d.context for d in second.decisions]
    assert first.cursors == second.cursors


def test_re_reading_the_overlap_after_the_plan_was_applied_finds_nothing_new() -> None:
    placed = order(1042)
    rows = poll(new_orders=[placed], histories=[history(5001, 1042, BANK_WIRE)])
    first, _ = planned(rows, memory())
    after = memory(*first.seen, at=first.cursors)
    again = poll(
        new_orders=plan.fresh(rows.new_orders, first.cursors.orders),
        histories=plan.fresh(rows.histories, first.cursors.histories),
    )
    second, found = planned(again, after)
    assert found == []
    assert second.decisions == []


# --- cursors -----------------------------------------------------------------------------------------------


def test_advance_moves_to_the_highest_id_and_keeps_only_the_overlap_window() -> None:
    moved = plan.advance(IdCursor(5000, frozenset({4985, 4990, 5000})), [5010, 5005])
    assert moved == IdCursor(5010, frozenset({5000, 5005, 5010}))


def test_a_late_row_behind_the_cursor_is_remembered_without_moving_the_cursor_back() -> None:
    moved = plan.advance(IdCursor(5000, frozenset({5000})), [4995])
    assert moved == IdCursor(5000, frozenset({4995, 5000}))


def test_a_poll_with_nothing_new_leaves_the_cursor_where_it_was() -> None:
    cursor = IdCursor(5000, frozenset({4999, 5000}))
    assert plan.advance(cursor, []) == cursor


def test_each_cursor_moves_with_its_own_rows_and_the_baseline_stays() -> None:
    start = cursors()
    placed = order(1042)
    moved = plan.moved(
        start, poll(new_orders=[placed], histories=[history(5003, 1042)], payments=[payment(302, placed)])
    )
    assert (moved.orders.position, moved.histories.position, moved.payments.position) == (1042, 5003, 302)
    assert (moved.baseline_at, moved.baseline_order_id) == (start.baseline_at, start.baseline_order_id)


def test_the_first_run_makes_the_shops_current_positions_the_baseline() -> None:
    positions = {"orders": 1000, "order_histories": 4980, "order_payments": 290}
    windows = {"order_histories": [4979, 4980], "order_payments": [290]}
    assert plan.baseline(positions, windows, NOW) == OrderCursors(
        baseline_at=NOW,
        baseline_order_id=1000,
        histories=IdCursor(4980, frozenset({4979, 4980})),
        orders=IdCursor(1000, frozenset()),
        payments=IdCursor(290, frozenset({290})),
    )


def test_delivered_cancelled_and_refunded_end_the_tracking_watch_and_shipped_is_known() -> None:
    groups = plan.state_groups(profile())
    assert groups.final == frozenset({DELIVERED, CANCELLED, REFUNDED})
    assert groups.shipped == frozenset({SHIPPED})
