"""The age guard (bridge.plan.age through rules.decide), on plain records: an order email whose shop event
is older than MAX_EMAIL_AGE is held for the owner, one exactly that old is not, and 0 turns it off."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from bridge.plan.age import age_text, limit_text
from bridge.plan.contexts import OrderFacts
from bridge.plan.detect import Change, NewOrder, PaymentAdded, StateChanged, TrackingChanged
from bridge.plan.rules import Decision, decide
from tests.builders import (
    BANK_WIRE,
    DELIVERED,
    NOW,
    PAYMENT_ACCEPTED,
    SHIPPED,
    ago,
    facts,
    facts_of,
    history,
    order,
    payment,
    profile,
    rule_settings,
)

LIMIT = timedelta(hours=48)
TRACKING = "620123456789012345678901"


def decided(
    *changes: Change,
    about: Mapping[int, OrderFacts] | None = None,
    limit: timedelta = LIMIT,
    already_sent: Mapping[int, frozenset[str]] | None = None,
    now: datetime = NOW,
) -> list[Decision]:
    return decide(
        changes,
        facts=facts_of(order()) if about is None else about,
        profile=profile(),
        settings=rule_settings(max_email_age=limit),
        already_sent=already_sent or {},
        now=now,
    )


def placed(**age: float) -> tuple[NewOrder, dict[int, OrderFacts]]:
    old = order(1042, placed_at=ago(**age))
    return NewOrder(old, BANK_WIRE), facts_of(old)


def test_an_order_exactly_max_email_age_old_is_sent() -> None:
    change, about = placed(hours=48)
    [confirmation] = decided(change, about=about)
    assert confirmation.sends and confirmation.held is None


def test_an_order_a_minute_older_than_max_email_age_is_held_and_says_how_old() -> None:
    change, about = placed(hours=48, minutes=1)
    [confirmation] = decided(change, about=about)
    assert confirmation.sends  # it is written, with its recipient and context, and waits for the owner
    assert confirmation.recipient_email
    assert confirmation.held == "the event is 48 hours old; older than MAX_EMAIL_AGE=48h"


def test_the_age_is_measured_at_the_shops_precision_of_whole_seconds() -> None:
    change, about = placed(hours=48)
    [confirmation] = decided(change, about=about, now=NOW + timedelta(microseconds=999_999))
    assert confirmation.held is None


def test_max_email_age_zero_holds_nothing() -> None:
    change, about = placed(days=400)
    [confirmation] = decided(change, about=about, limit=timedelta(0))
    assert confirmation.held is None


def test_without_a_clock_the_rules_hold_nothing() -> None:
    """`bridge preview` asks the rules what an order's emails look like, not whether they may go now."""
    change, about = placed(days=30)
    [confirmation] = decide(
        [change], facts=about, profile=profile(), settings=rule_settings(max_email_age=LIMIT), already_sent={}
    )
    assert confirmation.held is None


def test_an_old_status_change_is_held_and_a_fresh_one_of_the_same_order_is_not() -> None:
    old, fresh = history(5001, state=SHIPPED, at=ago(days=3)), history(5002, state=SHIPPED, at=ago(hours=1))
    shipped = order(1042, state=SHIPPED, placed_at=ago(days=10))
    held, sent = decided(
        StateChanged(old, initial=False),
        StateChanged(fresh, initial=False),
        about={1042: facts(shipped, tracking_number=TRACKING)},
    )
    assert held.held == "the event is 3 days old; older than MAX_EMAIL_AGE=48h"
    assert sent.held is None


def test_a_payment_typed_today_with_an_old_date_is_not_held() -> None:
    """The employee types the payment's date; the back office's "add payment" moves the order's date_upd."""
    unpaid = order(1042, state=BANK_WIRE, placed_at=ago(days=10), date_upd=ago(minutes=2))
    typed = replace(payment(301, unpaid), date_add=ago(days=6))
    [confirmation] = decided(PaymentAdded(typed, 1042), about={1042: facts(unpaid, payments=[typed])})
    assert confirmation.kind == "payment_accepted" and confirmation.held is None


def test_an_old_payment_on_an_old_order_is_held() -> None:
    unpaid = order(1042, state=BANK_WIRE, placed_at=ago(days=10), date_upd=ago(days=6))
    typed = replace(payment(301, unpaid), date_add=ago(days=6))
    [confirmation] = decided(PaymentAdded(typed, 1042), about={1042: facts(unpaid, payments=[typed])})
    assert confirmation.held == "the event is 6 days old; older than MAX_EMAIL_AGE=48h"


def test_a_tracking_number_is_held_exactly_when_the_shipped_email_it_follows_is() -> None:
    shipped = order(1042, state=SHIPPED, placed_at=ago(days=10))
    about = {1042: facts(shipped, tracking_number=TRACKING)}
    change = TrackingChanged(1042, TRACKING, "")
    [held] = decided(change, about=about, already_sent={1042: frozenset({"shipped", "held:shipped"})})
    assert held.kind == "tracking_added"
    assert held.held is not None and "shipped email it follows is held" in held.held
    [sent] = decided(change, about=about, already_sent={1042: frozenset({"shipped"})})
    assert sent.held is None


def test_a_skipped_email_is_skipped_not_held() -> None:
    old = order(1042, placed_at=ago(days=5), rows=())
    [confirmation] = decided(NewOrder(old, BANK_WIRE), about=facts_of(old))
    assert confirmation.skip_reason == "the order has no products"
    assert confirmation.held is None


def test_a_held_payment_confirmation_still_counts_as_told() -> None:
    """Releasing it later must not make the customer read "payment accepted" twice."""
    unpaid = order(1042, state=BANK_WIRE, placed_at=ago(days=10), date_upd=ago(days=6))
    typed = replace(payment(301, unpaid), date_add=ago(days=6))
    accepted = history(5001, state=PAYMENT_ACCEPTED, at=ago(minutes=1))
    held, skipped = decided(
        PaymentAdded(typed, 1042), StateChanged(accepted, initial=False), about=facts_of(unpaid)
    )
    assert held.held is not None
    assert skipped.skip_reason == "the customer already got a payment confirmation"


def test_a_review_request_long_overdue_is_held_and_one_due_later_waits_as_usual() -> None:
    """Delivered months before the bridge saw it: its review request would go at once, a surprise."""
    settings = rule_settings(max_email_age=LIMIT, review_days=14, review_fallback_days=21)
    delivered = order(1042, state=DELIVERED, placed_at=ago(days=200))

    def decide_delivery(at: datetime) -> list[Decision]:
        change = StateChanged(history(5001, state=DELIVERED, at=at), initial=False)
        return decide(
            [change],
            facts=facts_of(delivered),
            profile=profile(),
            settings=settings,
            already_sent={},
            now=NOW,
        )

    email, review = decide_delivery(ago(days=180))
    assert email.held is not None
    assert review.kind == "review_request"
    assert review.held == "it fell due 166 days ago; later than MAX_EMAIL_AGE=48h"
    email, review = decide_delivery(ago(days=3))  # the bridge was stopped three days: the review waits
    assert email.held is not None
    assert review.held is None and review.not_before == ago(days=3) + timedelta(days=14)


def test_ages_and_limits_read_as_an_owner_would_say_them() -> None:
    assert [age_text(timedelta(minutes=m)) for m in (1, 90, 48 * 60 + 1, 72 * 60)] == [
        "1 minute",
        "90 minutes",
        "48 hours",
        "3 days",
    ]
    assert [limit_text(timedelta(seconds=s)) for s in (172800, 5400, 45)] == ["48h", "90m", "45s"]
