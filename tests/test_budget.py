"""The sending budget, counted from a real state store: a rolling 24 hours, a per-minute pace, and the
share of the budget that only order emails may use."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.config import Settings
from bridge.delivery.budget import Budget, Limits, budget_for, quota_resume_at
from bridge.state import outbox
from bridge.state.store import Store, open_store

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
OWNER = "test:1"
_keys = itertools.count(1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'bridge.sqlite3'}") as opened:
        yield opened


def attempt(store: Store, when: datetime, outcome: str = "sent") -> int:
    """One email, claimed and finished at `when` the way delivery records it."""
    intent = outbox.EmailIntent(
        idempotency_key=f"test:{next(_keys)}",
        kind="processing",
        category="transactional",
        recipient_email="zofia@example.com",
        language="pl",
    )
    with store.transaction() as conn:
        outbox.enqueue(conn, intent, now=when, message_id_domain="sklep.example.pl")
    row = outbox.claim_next(store, now=when, owner=OWNER, lease=timedelta(minutes=15))
    assert row is not None
    if outcome in ("sent", "unknown"):
        outbox.mark_handed_over(store, row.id, owner=OWNER, now=when)
    match outcome:
        case "sent":
            outbox.mark_sent(store, row.id, owner=OWNER, now=when, smtp_reply="250 2.0.0 OK")
        case "unknown":
            outbox.mark_unknown(store, row.id, owner=OWNER, now=when, error="connection lost after the dot")
        case "failed":
            outbox.mark_failed(store, row.id, owner=OWNER, now=when, error="550 5.1.1 no such user")
    return row.id


def sends(store: Store, count: int, start: datetime, step: timedelta = timedelta(minutes=1)) -> None:
    for index in range(count):
        attempt(store, start + index * step)


def test_a_fresh_budget_object_sees_what_an_earlier_process_sent(store: Store) -> None:
    sends(store, 3, T0)
    usage = Budget(Limits(daily=10)).usage(store, T0 + timedelta(hours=1))
    assert (usage.last_day, usage.left) == (3, 7)
    assert "3 of 10 emails sent in the last 24 hours, 7 left" in str(usage)


def test_sends_older_than_24_hours_leave_the_window(store: Store) -> None:
    sends(store, 2, T0)
    budget = Budget(Limits(daily=10))
    assert budget.usage(store, T0 + timedelta(hours=24)).last_day == 1  # the 09:00 send has just left
    assert budget.usage(store, T0 + timedelta(hours=24, minutes=1)).last_day == 0


def test_an_unknown_outcome_counts_and_a_refused_email_does_not(store: Store) -> None:
    attempt(store, T0, "unknown")  # the server may have taken it: Gmail would count it
    attempt(store, T0, "failed")
    assert Budget().usage(store, T0).last_day == 1


def test_a_spent_budget_holds_order_mail_until_the_oldest_send_leaves_the_window(store: Store) -> None:
    sends(store, 5, T0)
    budget = Budget(Limits(daily=5, per_minute=100))
    now = T0 + timedelta(hours=3)

    hold = budget.hold(store, "transactional", now)
    assert hold is not None and hold.limit == "daily"
    assert hold.until == T0 + timedelta(hours=24)
    assert "DAILY_SEND_LIMIT=5" in hold.reason and "2026-11-28 09:00 UTC" in hold.reason
    assert budget.hold(store, "transactional", hold.until) is None


def test_marketing_stops_while_less_than_a_fifth_of_the_budget_is_left(store: Store) -> None:
    budget = Budget(Limits(daily=10, per_minute=100))  # 2 of 10 kept for order emails
    sends(store, 7, T0)
    now = T0 + timedelta(hours=1)
    assert budget.hold(store, "marketing", now) is None  # 3 left

    attempt(store, now)  # 8 sent, 2 left: only order emails now
    hold = budget.hold(store, "marketing", now)
    assert hold is not None and hold.limit == "marketing"
    assert "the last 2 are kept for order emails" in hold.reason
    assert hold.until == T0 + timedelta(hours=24)  # when the first send leaves, 7 of 10 are used
    assert budget.hold(store, "transactional", now) is None


def test_the_pace_allows_a_minutes_worth_then_continues_a_minute_after_the_first(store: Store) -> None:
    budget = Budget(Limits(daily=400, per_minute=20))
    sends(store, 20, T0, step=timedelta(seconds=1))
    now = T0 + timedelta(seconds=30)

    hold = budget.hold(store, "transactional", now)
    assert hold is not None and hold.limit == "pace"
    assert hold.until == T0 + timedelta(minutes=1)
    assert "SEND_RATE_PER_MINUTE=20" in hold.reason
    assert budget.hold(store, "transactional", T0 + timedelta(minutes=1)) is None


def test_after_gmails_quota_reply_the_sender_waits_for_the_oldest_send_to_leave(store: Store) -> None:
    sends(store, 3, T0)
    assert quota_resume_at(store, T0 + timedelta(hours=5)) == T0 + timedelta(hours=24)


def test_after_gmails_quota_reply_the_sender_waits_at_least_an_hour(store: Store) -> None:
    sends(store, 1, T0)
    late = T0 + timedelta(hours=23, minutes=50)
    assert quota_resume_at(store, late) == late + timedelta(hours=1)
    empty_window = T0 + timedelta(days=3)  # the owner's own mail filled Gmail's window: try hourly
    assert quota_resume_at(store, empty_window) == empty_window + timedelta(hours=1)


def test_the_budget_comes_from_the_settings_and_files_are_not_counted(tmp_path: Path) -> None:
    base = {
        "PRESTASHOP_URL": "https://sklep.example.pl",
        "PRESTASHOP_API_KEY": "K" * 32,
        "SMTP_USERNAME": "sklep@gmail.com",
        "SMTP_PASSWORD": "abcdefghijklmnop",
        "STATE_DIR": str(tmp_path),
    }
    smtp = budget_for(Settings.from_mapping(base))
    assert smtp is not None and smtp.limits == Limits(daily=400, per_minute=20)
    tuned = budget_for(
        Settings.from_mapping({**base, "DAILY_SEND_LIMIT": "1600", "SEND_RATE_PER_MINUTE": "30"})
    )
    assert tuned is not None and (tuned.limits.daily, tuned.limits.per_minute) == (1600, 30)
    assert budget_for(Settings.from_mapping({**base, "MAIL_TRANSPORT": "file"})) is None
