"""Reliability under fire, at a CI size: the scenarios of benchmarks/reliability.py, each run small, and the
promises asserted (the full-size figures are the benchmark's business).

- killed again and again (SIGKILL, the real CLI as a subprocess), each time at a named point where it
  provably waits (never after a wall-clock delay, so a slow machine gets the same kills): nothing lost,
  never one email under two Message-IDs; with UNKNOWN_POLICY=resend a copy is sent twice only when a kill
  came after its final dot, and with `hold` it waits as `unknown` instead;
- a shop whose webservice fails a fifth of the time: no cursor ever passes a row whose email was not
  decided, and the customers get what a bridge on a healthy shop sends, once;
- an SMTP server that refuses, throttles and drops the line: nothing lost, quota and login refusals pause
  the sender and never fail an email;
- bridges started together, with and without the lock between them: no double sends; and two polls that
  overlap (possible only without the lock) must not confirm one payment twice under two keys.

Real parts only: the simulator and the Gmail-like SMTP server on 127.0.0.1, SQLite files in a temporary
directory, the bridge as `python -m bridge` processes configured by an env file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import reliability  # noqa: E402
from reliability import AFTER_DOT, BEFORE, CLAIMED  # noqa: E402

from bridge.cycle.orders import poll_orders as poll  # noqa: E402
from bridge.plan.rules import Decision  # noqa: E402
from bridge.simulator.actions import PostalAddress  # noqa: E402
from bridge.simulator.demo_shop import BOWL, MUG, MUG_HONEY  # noqa: E402
from bridge.state.outbox import Status, list_rows  # noqa: E402
from tests.conftest import World  # noqa: E402

WARSAW = PostalAddress("ul. Marszałkowska 10/4", "00-590", "Warszawa", phone="+48 600 700 800")


def test_a_bridge_killed_at_seeded_points_loses_nothing_and_resends_only_what_the_server_may_have() -> None:
    result = reliability.crash_loop(orders=40, kills=5, policy="resend", seed=2)

    assert result.failures == []  # each run reached its kill point, and the store agrees it died there
    assert len(result.kills) == 5 and result.finished == 0
    phases = result.phases()
    assert phases[AFTER_DOT] >= 1 and phases[CLAIMED] >= 1  # the two windows that matter were hit
    assert phases[BEFORE] >= 1  # ... and the poll
    tally = result.tally
    assert tally.expected > 40  # a confirmation each, and bank-wire / cheque instructions
    assert tally.lost == []
    assert tally.delivered == tally.expected
    assert tally.different_id_duplicates == 0
    assert (tally.strays, tally.decisions_differing) == (0, [])
    # Each kill after the final dot with the message at the server left one copy too many, same ID; none else.
    server_had_it = sum(1 for kill in result.kills if kill.phase == AFTER_DOT and kill.server_had_it)
    assert server_had_it <= tally.same_id_duplicates <= phases[AFTER_DOT]
    assert tally.unexplained == []
    assert tally.unknown == 0  # resend: every unknown email went out again


def test_with_the_hold_policy_an_email_cut_off_after_its_final_dot_waits_as_unknown_and_is_never_resent() -> (
    None
):
    result = reliability.crash_loop(orders=40, kills=5, policy="hold", seed=3)

    assert result.failures == []
    assert len(result.kills) == 5 and result.finished == 0
    tally = result.tally
    assert result.phases()[AFTER_DOT] >= 1
    assert tally.lost == []  # an unknown email is held for the owner, not lost
    assert tally.different_id_duplicates == 0 and tally.same_id_duplicates == 0
    assert tally.unknown == result.phases()[AFTER_DOT]  # one per kill after a final dot, each explained
    assert result.unexplained_unknown == []
    assert tally.delivered + tally.unknown - tally.unknown_at_server == tally.expected
    assert (tally.strays, tally.decisions_differing) == (0, [])


def test_a_failing_shop_never_moves_a_cursor_past_an_undecided_email_and_nothing_is_lost_or_doubled() -> None:
    result = reliability.shop_faults(orders=30, rounds=4, rate=0.2, seed=5)

    assert sum(result.faults.values()) > 0 and result.failed_polls  # the faults did make polls give up
    assert result.crashes == []  # every failure was a BridgeError the owner can read
    assert result.cursor_checks == result.polls >= 5
    assert result.violations == []
    tally = result.tally
    assert tally.expected > 30
    assert tally.lost == [] and tally.delivered == tally.expected
    assert tally.different_id_duplicates == 0 and tally.same_id_duplicates == 0
    assert tally.decisions_differing == []


def test_smtp_refusals_and_dropped_lines_lose_nothing_and_quota_or_login_refusals_pause_not_fail() -> None:
    result = reliability.smtp_faults(emails=40, rate=0.2, seed=6)

    assert sum(result.faults.values()) > 0
    assert result.pausing_refusals >= 1 and result.pausing_refusals_failed == 0
    assert sum(result.pauses.values()) >= result.pausing_refusals  # each paused the whole sender
    assert result.statuses[Status.FAILED] == 0
    assert result.statuses[Status.SENT] + result.statuses[Status.UNKNOWN] == 40
    tally = result.tally
    assert tally.lost == []
    assert tally.unknown == tally.unknown_at_server  # a dropped line after the dot: the server had it
    assert tally.different_id_duplicates == 0 and tally.same_id_duplicates == 0


@pytest.mark.parametrize(
    ("lock", "wait"),
    [(True, True), (False, False)],
    ids=["one-state-dir-with-wait", "lock-bypassed"],
)
def test_two_syncs_and_a_service_started_together_send_each_email_once(lock: bool, wait: bool) -> None:
    result = reliability.concurrency(rounds=1, orders_per_round=6, lock=lock, wait=wait, seed=7)

    assert result.failures == []
    assert result.orders == 6
    assert result.missing == []
    assert result.doubles == 0 and result.strays == 0
    assert result.messages == 6


def test_two_polls_that_overlap_without_the_lock_confirm_a_cheque_payment_once(world: World) -> None:
    """Two bridges without a lock between them (three STATE_DIRs, one DATABASE_URL, as in the concurrency
    scenario) poll at once: one has read the back-office payment of a cheque order but not yet committed,
    when the employee marks the order paid and the other polls. Each decides "payment accepted" under
    its own key (`payment:payment:ID` and `status:history:ID`), since neither sees the other's decision:
    the customer is told twice. One bridge polling twice in a row skips the second ("already got a payment
    confirmation"). The row claims keep each row single, not each event: lock.py's "with or without the
    lock" holds for sending, not for deciding."""
    shop = world.shop
    assert world.sync().poll.baseline
    shop.advance(60)
    customer = shop.register_customer("Jan", "Nowak", "jan@example.com", address=WARSAW)
    cart = shop.create_cart(customer.customer_id, [(MUG, 2, MUG_HONEY), (BOWL, 1)], carrier_id=2)
    order_id = shop.place_order(cart, "ps_checkpayment")
    shop.advance(60)
    poll(world.client, world.store, world.settings, now=world.clock.now())  # confirmation, cheque details
    shop.advance(60)
    shop.add_payment(order_id, shop.state.get("orders", order_id)["total_paid_tax_incl"])  # the cheque came
    shop.advance(60)

    def the_other_bridge_polls(decisions: list[Decision]) -> None:
        # Called after the first poll decided (payment:payment:ID) and before it commits.
        assert [d.key for d in decisions if d.sends] == [
            f"payment:payment:{shop.payments(order_id)[0]['id']}"
        ]
        shop.change_state(order_id, shop.state_id("PS_OS_PAYMENT"))  # the employee marks the order paid
        shop.advance(1)
        poll(world.client, world.store, world.settings, now=world.clock.now())

    poll(world.client, world.store, world.settings, now=world.clock.now(), confirm=the_other_bridge_polls)

    told = [
        row.idempotency_key
        for row in list_rows(world.store, order_id=order_id)
        if row.kind == "payment_accepted" and row.status is not Status.SKIPPED
    ]
    assert len(told) == 1, f"one payment, confirmed {len(told)} times: {told}"
