"""The outbox: every email queued once, claimed by one sender, recorded at once, never lost after a crash."""

from __future__ import annotations

import multiprocessing
import random
import re
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bridge.clock import ManualClock
from bridge.model.cursors import IdCursor, OrderCursors
from bridge.state import cursors
from bridge.state.outbox import (
    EmailIntent,
    Status,
    backoff,
    cancel,
    claim_next,
    counts_by_status,
    enqueue,
    get_row,
    list_rows,
    mark_failed,
    mark_handed_over,
    mark_retry,
    mark_sent,
    mark_unknown,
    recover_stale,
    resolve_unknown,
    retry,
    skip,
)
from bridge.state.store import Store, open_store

DOMAIN = "shop.example"
LEASE = timedelta(minutes=5)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "bridge.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    with open_store(str(db_path)) as opened:
        yield opened


def intent(key: str = "order_confirmation:order:1042", **changes: Any) -> EmailIntent:
    values: dict[str, Any] = {
        "idempotency_key": key,
        "kind": "order_confirmation",
        "category": "transactional",
        "priority": 0,
        "recipient_email": "ann@example.com",
        "recipient_name": "Ann Kowalska",
        "language": "pl",
        "context": {"reference": "XKBKNABJK", "total": "129.90 zł", "items": [{"name": "Kubek", "qty": 2}]},
        "order_id": 1042,
        "order_reference": "XKBKNABJK",
    }
    values.update(changes)
    if values["category"] == "marketing":
        values.setdefault("consent", "newsletter=1")
    return EmailIntent(**values)


def put(store: Store, clock: ManualClock, *intents: EmailIntent) -> list[bool]:
    with store.transaction() as conn:
        return [enqueue(conn, each, now=clock.now(), message_id_domain=DOMAIN) for each in intents]


def claim(store: Store, clock: ManualClock, owner: str = "sender-1") -> Any:
    return claim_next(store, now=clock.now(), owner=owner, lease=LEASE)


# --- enqueue ----------------------------------------------------------------------------------------------


def test_enqueuing_the_same_event_twice_keeps_one_email(store: Store, clock: ManualClock) -> None:
    assert put(store, clock, intent()) == [True]
    clock.advance(60)
    assert put(store, clock, intent(context={"reference": "CHANGED"})) == [False]
    rows = list_rows(store)
    assert len(rows) == 1
    assert rows[0].status == Status.QUEUED
    assert rows[0].context["reference"] == "XKBKNABJK"
    assert rows[0].created_at == rows[0].not_before == clock.now() - timedelta(seconds=60)


def test_each_email_gets_its_own_message_id_fixed_at_enqueue(store: Store, clock: ManualClock) -> None:
    put(store, clock, intent("a"), intent("b"))
    ids = [row.message_id for row in list_rows(store)]
    assert all(re.fullmatch(r"<[0-9a-f]{32}@shop\.example>", message_id) for message_id in ids)
    assert len(set(ids)) == 2


def test_a_context_that_is_not_plain_json_is_refused_before_any_transaction() -> None:
    from decimal import Decimal

    with pytest.raises(ValueError, match="plain JSON"):
        intent(context={"total": Decimal("129.90")})
    with pytest.raises(ValueError, match="plain JSON"):
        intent(context={"total": float("nan")})
    with pytest.raises(ValueError, match="timezone-aware"):
        intent(not_before=datetime(2026, 11, 27, 9, 0))  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="category"):
        intent(category="newsletter")


def test_an_intent_cannot_be_changed_after_it_is_made() -> None:
    source = {"reference": "XKBKNABJK"}
    made = intent(context=source)
    source["reference"] = "CHANGED"
    assert made.context["reference"] == "XKBKNABJK"
    with pytest.raises(TypeError):
        made.context["reference"] = "CHANGED"  # type: ignore[index]


def test_a_skipped_email_says_why_and_takes_its_key(store: Store, clock: ManualClock) -> None:
    review = intent("review_request:order:7", kind="review_request", category="marketing", order_id=7)
    with store.transaction() as conn:
        assert skip(conn, review, "no marketing consent", now=clock.now())
        assert not skip(conn, review, "no marketing consent", now=clock.now())
        assert not enqueue(conn, review, now=clock.now(), message_id_domain=DOMAIN)
    put(store, clock, intent())
    with store.transaction() as conn:  # skipping an email already queued changes nothing
        assert not skip(conn, intent(), "changed my mind", now=clock.now())
    (skipped,) = list_rows(store, order_id=7)
    assert (skipped.status, skipped.skip_reason) == (Status.SKIPPED, "no marketing consent")
    assert claim(store, clock).idempotency_key == "order_confirmation:order:1042"
    assert claim(store, clock) is None


def test_a_cursor_and_the_emails_it_produced_roll_back_together(store: Store, clock: ManualClock) -> None:
    moved = OrderCursors(baseline_at=clock.now(), histories=IdCursor(5531))
    with pytest.raises(RuntimeError, match="crash before commit"), store.transaction() as conn:
        cursors.save_orders(conn, OrderCursors(), moved, now=clock.now())
        enqueue(conn, intent(), now=clock.now(), message_id_domain=DOMAIN)
        raise RuntimeError("crash before commit")
    with store.read() as conn:
        assert cursors.load(conn).orders == OrderCursors()
    assert list_rows(store) == []
    # The next poll sees the same change and enqueues it, exactly once.
    with store.transaction() as conn:
        cursors.save_orders(conn, OrderCursors(), moved, now=clock.now())
        assert enqueue(conn, intent(), now=clock.now(), message_id_domain=DOMAIN)
    assert counts_by_status(store)[Status.QUEUED] == 1


# --- claiming ---------------------------------------------------------------------------------------------


def test_transactional_mail_goes_before_marketing_then_by_priority_and_age(
    store: Store, clock: ManualClock
) -> None:
    now = clock.now()
    put(
        store,
        clock,
        intent("cart_reminder:cart:88:step:1", category="marketing", priority=0),
        intent("status:history:2", priority=9),
        intent("status:history:3", priority=1, not_before=now - timedelta(minutes=1)),
        intent("payment:order_payment:4", priority=1, not_before=now - timedelta(minutes=5)),
    )
    order = []
    while (row := claim(store, clock)) is not None:
        order.append(row.idempotency_key)
    assert order == [
        "payment:order_payment:4",
        "status:history:3",
        "status:history:2",
        "cart_reminder:cart:88:step:1",
    ]


def test_an_email_is_not_claimed_before_its_time(store: Store, clock: ManualClock) -> None:
    put(store, clock, intent(not_before=clock.now() + timedelta(hours=3)))
    assert claim(store, clock) is None
    clock.advance(timedelta(hours=3))
    row = claim(store, clock)
    assert row is not None
    assert (row.status, row.attempts, row.lease_owner) == (Status.SENDING, 1, "sender-1")
    assert row.lease_until == clock.now() + LEASE


def test_a_claimed_email_is_not_claimed_again(store: Store, clock: ManualClock) -> None:
    put(store, clock, intent())
    assert claim(store, clock, "sender-1") is not None
    assert claim(store, clock, "sender-2") is None


def test_an_expired_email_is_cancelled_instead_of_sent_late(store: Store, clock: ManualClock) -> None:
    put(
        store,
        clock,
        intent(
            "cart_reminder:cart:88:step:1", category="marketing", expires_at=clock.now() + timedelta(hours=24)
        ),
        intent("order_confirmation:order:1042"),
    )
    clock.advance(timedelta(days=3))  # the bridge was down for three days
    row = claim(store, clock)
    assert row is not None
    assert row.idempotency_key == "order_confirmation:order:1042"
    assert claim(store, clock) is None
    (expired,) = list_rows(store, status=Status.CANCELLED)
    assert (expired.idempotency_key, expired.skip_reason) == ("cart_reminder:cart:88:step:1", "expired")
    assert expired.attempts == 0


# --- recording outcomes -----------------------------------------------------------------------------------


def test_a_sent_email_records_the_reply_and_its_attempt(store: Store, clock: ManualClock) -> None:
    put(store, clock, intent())
    row = claim(store, clock)
    clock.advance(2)
    assert mark_sent(store, row.id, owner="sender-1", now=clock.now(), smtp_reply="250 2.0.0 OK 17 gsmtp")
    detail = get_row(store, row.id)
    assert detail is not None
    assert detail.row.status == Status.SENT
    assert detail.row.sent_at == clock.now()
    assert detail.row.smtp_reply == "250 2.0.0 OK 17 gsmtp"
    assert detail.row.lease_owner is None
    (attempt,) = detail.attempts
    assert (attempt.outcome, attempt.started_at, attempt.finished_at) == ("sent", row.updated_at, clock.now())


def test_only_the_lease_owner_can_record_an_outcome(store: Store, clock: ManualClock) -> None:
    put(store, clock, intent())
    row = claim(store, clock, "sender-1")
    assert not mark_sent(store, row.id, owner="sender-2", now=clock.now())
    assert not mark_failed(store, row.id, owner="sender-2", now=clock.now(), error="550")
    detail = get_row(store, row.id)
    assert detail is not None
    assert detail.row.status == Status.SENDING
    assert [attempt.outcome for attempt in detail.attempts] == [None]
    assert mark_sent(store, row.id, owner="sender-1", now=clock.now())
    assert not mark_sent(store, row.id, owner="sender-1", now=clock.now())  # recorded once


def test_a_transient_failure_waits_for_its_backoff_then_sends_the_same_message(
    store: Store, clock: ManualClock
) -> None:
    put(store, clock, intent())
    first = claim(store, clock)
    wait = backoff(first.attempts, rng=lambda: 0.5)
    assert wait == timedelta(seconds=30)
    assert mark_retry(
        store,
        first.id,
        owner="sender-1",
        now=clock.now(),
        error="SMTPServerDisconnected: Connection unexpectedly closed",
        not_before=clock.now() + wait,
        smtp_code=421,
        smtp_reply="4.7.0 Try again later, closing connection.",
    )
    assert claim(store, clock) is None
    clock.advance(wait)
    second = claim(store, clock)
    assert (second.id, second.message_id, second.attempts) == (first.id, first.message_id, 2)
    assert second.last_error == "SMTPServerDisconnected: Connection unexpectedly closed"


def test_backoff_grows_with_full_jitter_up_to_the_cap() -> None:
    almost_one = 0.999999
    assert backoff(1, rng=lambda: 0.0) == timedelta(0)
    assert timedelta(seconds=59) < backoff(1, rng=lambda: almost_one) < timedelta(seconds=60)
    assert timedelta(seconds=479) < backoff(4, rng=lambda: almost_one) < timedelta(seconds=480)
    assert backoff(30, rng=lambda: almost_one) < timedelta(hours=6)
    assert backoff(10_000, rng=lambda: almost_one) > timedelta(hours=5, minutes=59)
    seeded = random.Random(7)
    waits = {backoff(3, rng=seeded.random) for _ in range(50)}
    assert len(waits) == 50
    assert all(timedelta(0) <= wait < timedelta(minutes=4) for wait in waits)
    with pytest.raises(ValueError, match="at least 1"):
        backoff(0)


def test_a_permanent_failure_stays_failed_until_the_owner_retries(store: Store, clock: ManualClock) -> None:
    put(store, clock, intent())
    row = claim(store, clock)
    assert mark_failed(
        store,
        row.id,
        owner="sender-1",
        now=clock.now(),
        error="the recipient's address does not exist",
        smtp_code=550,
        smtp_reply="5.1.1 The email account that you tried to reach does not exist.",
    )
    clock.advance(timedelta(days=1))
    assert claim(store, clock) is None
    assert retry(store, row.id, now=clock.now())
    again = claim(store, clock)
    assert (again.id, again.message_id, again.attempts) == (row.id, row.message_id, 2)


# --- crashes ----------------------------------------------------------------------------------------------


def test_a_crash_after_the_message_was_handed_over_leaves_the_email_unknown_and_held(
    store: Store, clock: ManualClock
) -> None:
    put(store, clock, intent())
    abandoned = claim(store, clock, "sender-that-died")
    assert mark_handed_over(store, abandoned.id, owner="sender-that-died", now=clock.now())
    clock.advance(LEASE - timedelta(seconds=1))
    assert recover_stale(store, now=clock.now()) == []  # still within its lease: maybe just slow
    clock.advance(timedelta(seconds=1))
    assert recover_stale(store, now=clock.now()) == [abandoned.id]
    assert resolve_unknown(store, "hold", now=clock.now()) == []
    clock.advance(timedelta(hours=1))
    assert claim(store, clock, "sender-after-restart") is None
    detail = get_row(store, abandoned.id)
    assert detail is not None
    assert detail.row.status == Status.UNKNOWN
    assert "may or may not have accepted" in (detail.row.last_error or "")
    assert [attempt.outcome for attempt in detail.attempts] == ["unknown"]
    # The process that died cannot come back and overwrite what recovery decided.
    assert not mark_sent(store, abandoned.id, owner="sender-that-died", now=clock.now())
    # The owner looked (e.g. in Gmail's Sent folder) and asks for it again: same Message-ID.
    assert retry(store, abandoned.id, now=clock.now())
    assert claim(store, clock, "sender-after-restart").message_id == abandoned.message_id


def test_a_crash_before_the_message_was_handed_over_queues_it_again_with_the_same_message_id(
    store: Store, clock: ManualClock
) -> None:
    put(store, clock, intent())
    abandoned = claim(store, clock, "sender-that-died")  # died while connecting, before any DATA
    clock.advance(LEASE)
    assert recover_stale(store, now=clock.now()) == []  # nothing is unknown: the server never had it
    again = claim(store, clock, "sender-after-restart")
    assert again is not None
    assert (again.id, again.message_id) == (abandoned.id, abandoned.message_id)
    assert mark_sent(store, again.id, owner="sender-after-restart", now=clock.now())
    detail = get_row(store, abandoned.id)
    assert detail is not None
    assert [attempt.outcome for attempt in detail.attempts] == ["queued", "sent"]


def test_a_row_whose_owner_died_is_settled_without_waiting_for_its_lease(
    store: Store, clock: ManualClock
) -> None:
    put(store, clock, intent())
    put(store, clock, intent(key="order_confirmation:order:2"))
    first = claim(store, clock, "host:111")
    assert mark_handed_over(store, first.id, owner="host:111", now=clock.now())
    second = claim(store, clock, "host:222")
    alive = {"host:222"}
    assert recover_stale(store, now=clock.now(), owner_is_dead=lambda owner: owner not in alive) == [first.id]
    assert get_row(store, first.id).row.status is Status.UNKNOWN  # type: ignore[union-attr]
    assert get_row(store, second.id).row.status is Status.SENDING  # type: ignore[union-attr]


def test_only_the_sender_holding_the_lease_can_mark_a_hand_over(store: Store, clock: ManualClock) -> None:
    put(store, clock, intent())
    row = claim(store, clock, "sender-a")
    assert not mark_handed_over(store, row.id, owner="sender-b", now=clock.now())
    assert mark_handed_over(store, row.id, owner="sender-a", now=clock.now())


def test_the_resend_policy_requeues_an_unknown_email_with_the_same_message_id(
    store: Store, clock: ManualClock
) -> None:
    put(store, clock, intent())
    abandoned = claim(store, clock, "sender-that-died")
    assert mark_handed_over(store, abandoned.id, owner="sender-that-died", now=clock.now())
    clock.advance(LEASE)
    assert recover_stale(store, now=clock.now()) == [abandoned.id]
    assert resolve_unknown(store, "resend", now=clock.now()) == [abandoned.id]
    resent = claim(store, clock, "sender-after-restart")
    assert (resent.id, resent.message_id, resent.attempts) == (abandoned.id, abandoned.message_id, 2)
    assert mark_sent(store, resent.id, owner="sender-after-restart", now=clock.now())
    detail = get_row(store, abandoned.id)
    assert detail is not None
    assert [attempt.outcome for attempt in detail.attempts] == ["unknown", "sent"]


def test_an_ambiguous_reply_is_recorded_as_unknown_by_the_sender(store: Store, clock: ManualClock) -> None:
    put(store, clock, intent())
    row = claim(store, clock)
    assert mark_unknown(
        store, row.id, owner="sender-1", now=clock.now(), error="connection lost after the final dot"
    )
    assert resolve_unknown(store, "hold", now=clock.now()) == []
    assert list_rows(store, status="unknown")[0].lease_owner == "sender-1"  # who was sending, for the record
    with pytest.raises(ValueError, match="unknown_policy"):
        resolve_unknown(store, "drop", now=clock.now())  # type: ignore[arg-type]


def test_the_attempt_log_records_outcomes_without_secrets(
    store: Store, clock: ManualClock, db_path: Path
) -> None:
    auth_line = "AUTH PLAIN AGJyaWRnZUBleGFtcGxlLmNvbQBhYmNkZWZnaGlqa2xtbm9w"  # \0user\0app password
    put(store, clock, intent())
    first = claim(store, clock)
    mark_retry(
        store,
        first.id,
        owner="sender-1",
        now=clock.now(),
        error=f"SMTPServerDisconnected after send: '{auth_line}\\r\\n'",
        not_before=clock.now(),
    )
    second = claim(store, clock)
    mark_failed(
        store,
        second.id,
        owner="sender-1",
        now=clock.now(),
        error="recipient refused",
        smtp_code=550,
        smtp_reply="5.1.1 The email account that you tried to reach does not exist.\r\nX-Injected: yes",
    )
    detail = get_row(store, first.id)
    assert detail is not None
    assert [(a.outcome, a.smtp_code) for a in detail.attempts] == [("retry", None), ("failed", 550)]
    assert detail.attempts[0].error == "SMTPServerDisconnected after send: 'AUTH PLAIN ***\\r\\n'"
    assert "\r" not in (detail.attempts[1].smtp_reply or "")
    store.close()
    assert b"AGJyaWRnZUBleGFtcGxl" not in db_path.read_bytes()


# --- the owner's commands ---------------------------------------------------------------------------------


def test_the_owner_can_cancel_waiting_mail_but_not_mail_already_sent(
    store: Store, clock: ManualClock
) -> None:
    put(store, clock, intent("a"), intent("b"))
    first = claim(store, clock)
    mark_sent(store, first.id, owner="sender-1", now=clock.now())
    waiting = next(row for row in list_rows(store) if row.status == Status.QUEUED)
    assert cancel(store, waiting.id, now=clock.now())
    assert not cancel(store, first.id, now=clock.now())
    assert not cancel(store, 999, now=clock.now())
    assert not retry(store, first.id, now=clock.now())  # a sent email is never sent again by retry
    assert not retry(store, 999, now=clock.now())
    assert list_rows(store, status=Status.CANCELLED)[0].skip_reason == "cancelled by the owner"
    assert claim(store, clock) is None


def test_retrying_an_expired_email_lifts_its_deadline(store: Store, clock: ManualClock) -> None:
    put(store, clock, intent(expires_at=clock.now() + timedelta(hours=1)))
    clock.advance(timedelta(hours=2))
    assert claim(store, clock) is None
    (expired,) = list_rows(store, status=Status.CANCELLED)
    assert retry(store, expired.id, now=clock.now())
    row = claim(store, clock)
    assert (row.id, row.expires_at, row.skip_reason) == (expired.id, None, None)


def test_counts_and_listings_show_what_the_outbox_holds(store: Store, clock: ManualClock) -> None:
    put(store, clock, intent("a", order_id=1), intent("b", order_id=2), intent("c", order_id=2))
    with store.transaction() as conn:
        skip(conn, intent("d", order_id=2), "no consent", now=clock.now())
    row = claim(store, clock)
    mark_sent(store, row.id, owner="sender-1", now=clock.now())
    counts = counts_by_status(store)
    assert counts[Status.SENT] == 1
    assert counts[Status.QUEUED] == 2
    assert counts[Status.SKIPPED] == 1
    assert counts[Status.FAILED] == 0
    assert set(counts) == set(Status)
    assert [r.idempotency_key for r in list_rows(store, order_id=2)] == ["d", "c", "b"]
    assert [r.idempotency_key for r in list_rows(store, order_id=2, limit=1)] == ["d"]
    assert get_row(store, 999) is None


# --- concurrency ------------------------------------------------------------------------------------------


def _claim_everything(path: str, owner: str, now: datetime, start: Any, results: Any) -> None:
    """One sender process: claim and record until nothing is due (runs in a child process)."""
    store = open_store(path)
    claimed = []
    try:
        start.wait()
        while (row := claim_next(store, now=now, owner=owner, lease=LEASE)) is not None:
            assert mark_sent(store, row.id, owner=owner, now=now, smtp_reply="250 2.0.0 OK")
            claimed.append(row.id)
    finally:
        store.close()
        results.put(claimed)


def _enqueue_many(store: Store, clock: ManualClock, count: int) -> set[int]:
    put(store, clock, *(intent(f"status:history:{n}", priority=n % 10) for n in range(count)))
    return {row.id for row in list_rows(store, limit=count)}


def test_four_processes_claiming_at_once_send_every_email_exactly_once(
    store: Store, clock: ManualClock, db_path: Path
) -> None:
    expected = _enqueue_many(store, clock, 200)
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(4)
    results = context.Queue()
    workers = [
        context.Process(
            target=_claim_everything, args=(str(db_path), f"sender-{n}", clock.now(), start, results)
        )
        for n in range(4)
    ]
    for worker in workers:
        worker.start()
    try:
        claimed = [results.get(timeout=120) for _ in workers]
    finally:
        for worker in workers:
            worker.join(timeout=60)
        results.close()
        results.join_thread()
    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
    every_claim = [row_id for batch in claimed for row_id in batch]
    assert len(every_claim) == 200
    assert set(every_claim) == expected
    assert counts_by_status(store)[Status.SENT] == 200
    assert {row.attempts for row in list_rows(store, limit=200)} == {1}


def test_four_threads_sharing_one_store_never_claim_the_same_email(store: Store, clock: ManualClock) -> None:
    expected = _enqueue_many(store, clock, 200)
    claimed: list[list[int]] = [[] for _ in range(4)]
    start = threading.Barrier(4)

    def work(n: int) -> None:
        start.wait()
        while (row := claim(store, clock, f"thread-{n}")) is not None:
            claimed[n].append(row.id)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    every_claim = [row_id for batch in claimed for row_id in batch]
    assert sorted(every_claim) == sorted(expected)
    assert counts_by_status(store)[Status.SENDING] == 200
