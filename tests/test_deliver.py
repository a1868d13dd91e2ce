"""Delivery against the Gmail-like server: each class of reply does the right thing to the email and to
the sender, the daily budget and the pace hold mail back without losing it, and nothing ever sleeps."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import timedelta
from pathlib import Path

import pytest

from bridge.delivery.budget import Budget, Limits
from bridge.delivery.deliver import (
    DeliveryResult,
    deliver_due,
    paused,
    resume_after_login,
    resume_after_login_in,
    retry_delay,
)
from bridge.delivery.marketing import MarketingGate
from bridge.model.identity import ShopIdentity
from bridge.model.kinds import get_kind
from bridge.state import outbox
from bridge.state.outbox import Category, Status
from tests.conftest import World
from tests.smtp_server import BAD_CREDENTIALS, DEFAULT_USERNAME, SIZE_EXCEEDED

QUOTA = (
    "550-5.4.5 Daily user sending limit exceeded. For more information on Gmail\n"
    "550 5.4.5  sending limits go to https://support.google.com/a/answer/166852"
)
NO_SUCH_USER = (
    "550-5.1.1 The email account that you tried to reach does not exist. Please try\n"
    "550 5.1.1  double-checking the recipient's email address for typos."
)
APP_PASSWORD_REQUIRED = (
    "534-5.7.9 Application-specific password required. For more information, go to\n"
    "534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor"
)
_keys = itertools.count(1)


def queue(
    world: World, to: str = "zofia@example.com", *, category: Category = "transactional", priority: int = 0
) -> int:
    """An order confirmation (sample data) in the outbox, as the poll would queue it; returns its id."""
    key = f"test:{next(_keys)}"
    intent = outbox.EmailIntent(
        idempotency_key=key,
        kind="order_confirmation",
        category=category,
        priority=priority,
        recipient_email=to,
        recipient_name="Zofia Wiśniewska",
        language="pl",
        context=get_kind("order_confirmation").sample(),
        consent="newsletter=1" if category == "marketing" else None,
    )
    with world.store.transaction() as conn:
        assert outbox.enqueue(conn, intent, now=world.clock.now(), message_id_domain="sklep.example.pl")
    [row] = [row for row in outbox.list_rows(world.store, limit=1000) if row.idempotency_key == key]
    return row.id


SHOP = ShopIdentity(
    name="Sklep Przykładowy",
    email="kontakt@sklep.example.pl",
    from_email=DEFAULT_USERNAME,
    from_name="Sklep Przykładowy",
    base_url="https://sklep.example.pl",
)


def deliver(world: World, budget: Budget | None = None, **options: object) -> DeliveryResult:
    return deliver_due(
        world.store,
        world.sender,
        world.renderer,
        world.clock,
        identity=SHOP,
        budget=budget,
        rng=lambda: 0.5,
        **options,  # type: ignore[arg-type]
    )


def row(world: World, row_id: int) -> outbox.OutboxRow:
    detail = outbox.get_row(world.store, row_id)
    assert detail is not None
    return detail.row


@pytest.fixture
def ready(world: World) -> World:
    """The bridge, its state store and a Gmail-like server that has not seen a connection yet."""
    assert world.smtp.connections == 0
    return world


# -- the budget and the pace -----------------------------------------------------------------------------


def test_the_pace_sends_a_minutes_worth_per_cycle_and_the_next_cycle_continues(ready: World) -> None:
    world = ready
    ids = [queue(world, f"klient{n}@example.com") for n in range(25)]
    budget = Budget(Limits(daily=400, per_minute=20))

    first = deliver(world, budget)
    assert (first.sent, first.stopped_by) == (20, "pace")
    assert first.resume_at == world.clock.now() + timedelta(minutes=1)
    assert "SEND_RATE_PER_MINUTE=20" in (first.paused or "")

    assert deliver(world, budget).sent == 0  # the same minute: nothing more, nothing claimed
    world.clock.advance(timedelta(seconds=59))
    assert deliver(world, budget).sent == 0
    world.clock.advance(timedelta(seconds=1))
    last = deliver(world, budget)
    assert (last.sent, last.stopped_by) == (5, None)

    assert len(world.mail()) == 25
    assert {row(world, i).status for i in ids} == {Status.SENT}
    assert {row(world, i).attempts for i in ids} == {1}  # waiting for the pace spent no attempt
    assert world.smtp.connections == 1 and world.smtp.logins == 1  # one connection for all three cycles


def test_a_spent_budget_sends_order_mail_first_when_room_opens_and_marketing_waits(ready: World) -> None:
    world = ready
    budget = Budget(Limits(daily=5, per_minute=100))  # 1 of 5 kept for order emails: marketing stops at 4
    start = world.clock.now()
    for n in range(5):  # one a minute, so they leave the window one a minute a day later
        queue(world, f"wczoraj{n}@example.com")
        assert deliver(world, budget).sent == 1
        world.clock.advance(timedelta(minutes=1))

    world.clock.set(start + timedelta(hours=2))
    promotion = queue(world, "promo@example.com", category="marketing", priority=0)  # queued first
    confirmation = queue(world, "zamowienie@example.com")
    spent = deliver(world, budget)
    assert (spent.sent, spent.stopped_by) == (0, "daily")
    assert spent.resume_at == start + timedelta(hours=24)
    assert "DAILY_SEND_LIMIT=5" in (spent.paused or "")
    assert row(world, promotion).attempts == row(world, confirmation).attempts == 0

    world.clock.set(start + timedelta(hours=24))  # the first send leaves: room for one
    opened = deliver(world, budget)
    assert opened.sent == 1
    assert row(world, confirmation).status is Status.SENT
    assert row(world, promotion).status is Status.QUEUED

    world.clock.set(start + timedelta(hours=24, minutes=1))  # room for one more, but only 1 of 5 left
    held = deliver(world, budget)
    assert (held.sent, held.deferred, held.stopped_by) == (0, 1, "marketing")
    assert "kept for order emails" in (held.paused or "")
    assert row(world, promotion).status is Status.QUEUED
    assert row(world, promotion).attempts == 0
    assert held.resume_at == start + timedelta(hours=24, minutes=2)

    world.clock.set(start + timedelta(hours=24, minutes=2))  # 3 in the window: marketing may go
    marketing_on = dataclasses.replace(world.settings, unsubscribe_url="https://sklep.example.pl/wypisz")
    gate = MarketingGate(marketing_on, world.store, None)
    assert deliver(world, budget, marketing=gate).sent == 1
    assert row(world, promotion).status is Status.SENT
    assert world.mail()[-1]["To"].addresses[0].addr_spec == "promo@example.com"


def test_marketing_mail_is_cancelled_with_a_reason_when_marketing_is_off(ready: World) -> None:
    world = ready
    promotion = queue(world, "promo@example.com", category="marketing")
    assert deliver(world).sent == 0
    assert row(world, promotion).status is Status.CANCELLED
    assert "UNSUBSCRIBE_URL" in (row(world, promotion).skip_reason or "")
    assert world.mail() == []


# -- quota and credentials: pause the sender, spend nothing ----------------------------------------------


def test_gmails_daily_limit_pauses_everything_without_spending_attempts_then_resumes(ready: World) -> None:
    world = ready
    start = world.clock.now()
    queue(world, "wczoraj@example.com")
    assert deliver(world).sent == 1  # counted in the window: Gmail's limit frees a day after it
    world.clock.advance(timedelta(hours=2))
    ids = [queue(world, f"klient{n}@example.com") for n in range(3)]
    world.smtp.script.next_reply("DATA", QUOTA)

    hit = deliver(world)
    assert (hit.sent, hit.deferred, hit.stopped_by) == (0, 1, "pause")
    assert hit.resume_at == start + timedelta(hours=24)
    assert "550 5.4.5" in (hit.paused or "") and "daily sending limit" in (hit.paused or "")
    state = paused(world.store, world.clock.now())
    assert state is not None and (state.kind, state.until) == ("quota", start + timedelta(hours=24))
    for row_id in ids:
        assert (row(world, row_id).status, row(world, row_id).attempts) == (Status.QUEUED, 0)
    assert "550 5.4.5 Daily user sending limit exceeded" in (row(world, ids[0]).last_error or "")

    world.clock.advance(timedelta(hours=12))
    assert deliver(world).sent == 0  # still paused: no connection, no attempt
    assert resume_after_login(world.store, world.clock.now()) is None  # a login does not lift a quota
    world.clock.set(start + timedelta(hours=24))
    resumed = deliver(world)
    assert resumed.sent == 3
    assert [row(world, i).attempts for i in ids] == [1, 1, 1]
    assert paused(world.store, world.clock.now()) is None


def test_a_revoked_app_password_keeps_every_email_pending_and_says_what_to_do(ready: World) -> None:
    world = ready
    ids = [queue(world, f"klient{n}@example.com") for n in range(3)]
    world.smtp.script.next_reply("AUTH", BAD_CREDENTIALS)

    refused = deliver(world, login_retry=timedelta(minutes=30))
    assert (refused.sent, refused.stopped_by) == (0, "pause")
    assert refused.resume_at == world.clock.now() + timedelta(minutes=30)
    said = refused.paused or ""
    assert "535 5.7.8" in said
    assert "the app password was refused or revoked" in said
    assert "https://myaccount.google.com/apppasswords" in said
    for row_id in ids:
        assert (row(world, row_id).status, row(world, row_id).attempts) == (Status.QUEUED, 0)
    detail = outbox.get_row(world.store, ids[0])
    assert detail is not None and "535 5.7.8" in (detail.attempts[-1].error or "")

    world.clock.advance(timedelta(minutes=29))
    assert deliver(world).sent == 0
    assert world.smtp.auth_attempts == 1  # no login storm while paused
    world.clock.advance(timedelta(minutes=1))
    assert deliver(world).sent == 3  # one new try after the wait; the password works again


def test_a_successful_login_lifts_a_credentials_pause_at_once(ready: World) -> None:
    world = ready
    queue(world)
    world.smtp.script.next_reply("AUTH", APP_PASSWORD_REQUIRED)
    refused = deliver(world)
    assert "Gmail wants an app password" in (refused.paused or "")
    assert "2-Step Verification" in (refused.paused or "")

    lifted = resume_after_login(world.store, world.clock.now())  # `bridge check` logged in fine
    assert lifted is not None and lifted.kind == "credentials"
    assert deliver(world).sent == 1


def test_the_cli_lifts_a_login_pause_in_the_configured_store_and_creates_no_store(
    ready: World, tmp_path: Path
) -> None:
    world = ready
    queue(world)
    world.smtp.script.next_reply("AUTH", BAD_CREDENTIALS)
    assert deliver(world).stopped_by == "pause"

    lifted = resume_after_login_in(world.settings, world.clock.now())
    assert lifted is not None and "535 5.7.8" in lifted.reason
    assert paused(world.store, world.clock.now()) is None

    elsewhere = dataclasses.replace(world.settings, database_url=f"sqlite:///{tmp_path / 'none' / 'b.db'}")
    assert resume_after_login_in(elsewhere, world.clock.now()) is None
    assert not (tmp_path / "none").exists()


def test_a_second_421_in_a_row_pauses_the_sender_for_an_hour(ready: World) -> None:
    world = ready
    queue(world)
    world.smtp.script.next_reply("MAIL", "421 4.7.0 Try again later, closing connection. (MAIL)")
    world.smtp.script.next_reply("MAIL", "421 4.7.0 Try again later, closing connection. (MAIL)")
    first = deliver(world)
    assert (first.retry, first.stopped_by) == (1, None)
    world.clock.advance(timedelta(minutes=5))
    second = deliver(world)
    assert (second.deferred, second.stopped_by) == (1, "pause")
    assert second.resume_at == world.clock.now() + timedelta(hours=1)


# -- the email's own fate --------------------------------------------------------------------------------


def test_a_transient_refusal_is_retried_with_backoff_and_then_sent(ready: World) -> None:
    world = ready
    row_id = queue(world)
    world.smtp.script.next_reply("DATA", "451 4.3.0 Mail server temporarily rejected message.")
    result = deliver(world)
    assert result.retry == 1
    retrying = row(world, row_id)
    assert retrying.status is Status.RETRY
    assert retrying.not_before == world.clock.now() + timedelta(minutes=1)  # rng 0.5: the schedule itself
    assert (retrying.smtp_reply or "").startswith("451 4.3.0 Mail server temporarily rejected message.")

    assert deliver(world).sent == 0  # not due yet
    world.clock.advance(timedelta(minutes=1))
    assert deliver(world).sent == 1
    assert row(world, row_id).attempts == 2


def test_retries_back_off_one_five_fifteen_minutes_and_so_on_with_a_fifth_of_jitter() -> None:
    assert [retry_delay(n, lambda: 0.5) for n in (1, 2, 3, 4, 5, 6, 12)] == [
        timedelta(minutes=1),
        timedelta(minutes=5),
        timedelta(minutes=15),
        timedelta(hours=1),
        timedelta(hours=3),
        timedelta(hours=6),
        timedelta(hours=6),
    ]
    assert retry_delay(3, lambda: 0.0) == timedelta(minutes=12)
    assert retry_delay(3, lambda: 1.0) == timedelta(minutes=18)


def test_a_transient_failure_is_retried_until_the_email_expires(ready: World) -> None:
    world = ready
    intent = outbox.EmailIntent(
        idempotency_key="test:expiring",
        kind="order_confirmation",
        category="transactional",
        recipient_email="zofia@example.com",
        language="pl",
        context=get_kind("order_confirmation").sample(),
        expires_at=world.clock.now() + timedelta(minutes=30),
    )
    with world.store.transaction() as conn:
        outbox.enqueue(conn, intent, now=world.clock.now(), message_id_domain="sklep.example.pl")
    for _ in range(4):
        world.smtp.script.next_reply("RCPT", "450 4.2.1 The user you are trying to contact is busy.")
    for step in (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(minutes=10)):
        assert deliver(world).retry == 1  # at 0, 1, 6 and 21 minutes: the next would be after the deadline
        world.clock.advance(step)
    assert deliver(world).retry == 0
    [expired] = outbox.list_rows(world.store, status=Status.CANCELLED)
    assert expired.skip_reason == "expired"
    assert expired.attempts == 4
    assert (expired.smtp_reply or "").startswith("450 4.2.1")
    assert world.mail() == []


def test_a_nonexistent_address_fails_and_is_never_written_to_again(ready: World) -> None:
    world = ready
    first = queue(world, "nie.ma@example.com")
    world.smtp.script.next_reply("RCPT", NO_SUCH_USER)
    assert deliver(world).failed == 1
    failed = row(world, first)
    assert failed.status is Status.FAILED
    assert (failed.smtp_reply or "").startswith("550 5.1.1 The email account that you tried to reach")

    later = queue(world, "Nie.Ma@example.com")
    assert deliver(world).failed == 1
    assert "address suppressed: 550 5.1.1" in (row(world, later).last_error or "")
    assert world.smtp.sessions[0].verbs.count("RCPT") == 1  # the second email never reached the server


def test_a_message_too_big_for_gmail_fails_and_says_so(ready: World) -> None:
    world = ready
    row_id = queue(world)
    world.smtp.script.next_reply("MAIL", SIZE_EXCEEDED)
    assert deliver(world).failed == 1
    failed = row(world, row_id)
    assert failed.status is Status.FAILED
    assert (failed.smtp_reply or "").startswith(
        "552 5.2.3 Your message exceeded Google's message size limits"
    )
    assert "too big" in (failed.last_error or "")
    assert outbox.list_rows(world.store, status=Status.QUEUED) == []


def test_a_content_refusal_fails_the_email_and_the_next_one_still_goes(ready: World) -> None:
    world = ready
    refused, fine = queue(world), queue(world, "ewa@example.com")
    world.smtp.script.next_reply(
        "DATA", "550 5.7.1 Our system has detected that this message is likely unsolicited."
    )
    result = deliver(world)
    assert (result.failed, result.sent) == (1, 1)
    assert row(world, refused).status is Status.FAILED
    assert "against its policy" in (row(world, refused).last_error or "")
    assert row(world, fine).status is Status.SENT


def test_a_connection_lost_after_the_final_dot_leaves_the_email_unknown_and_unsent_again(
    ready: World,
) -> None:
    world = ready
    row_id = queue(world)
    world.smtp.script.drop_after_data()
    result = deliver(world)
    assert result.unknown == 1
    unknown = row(world, row_id)
    assert unknown.status is Status.UNKNOWN
    assert "connection lost after the final dot" in (unknown.smtp_reply or "")
    assert len(world.mail()) == 1  # the server had it all along
    world.clock.advance(timedelta(hours=1))
    assert deliver(world).sent == 0
    assert len(world.mail()) == 1


def test_every_outcome_keeps_the_servers_reply(ready: World) -> None:
    world = ready
    sent = queue(world)
    assert deliver(world).sent == 1
    assert (row(world, sent).smtp_reply or "").startswith("250 2.0.0 OK")
    assert (row(world, sent).smtp_reply or "").endswith("- gsmtp")


def test_gmail_refusing_from_the_fourth_of_ten_emails_pauses_with_three_sent_and_seven_waiting(
    ready: World,
) -> None:
    world = ready
    ids = [queue(world, f"klient{n}@example.com") for n in range(10)]
    assert deliver(world, limit=3).sent == 3
    for _ in range(7):  # from the 4th email on, Gmail answers 550 5.4.5 to every message
        world.smtp.script.next_reply("DATA", QUOTA)
    hit = deliver(world)
    assert (hit.sent, hit.failed, hit.stopped_by) == (0, 0, "pause")
    statuses = [row(world, i).status for i in ids]
    assert statuses.count(Status.SENT) == 3 and statuses.count(Status.QUEUED) == 7
    assert all(row(world, i).attempts == 0 for i in ids[3:])  # the pause spent none of their attempts
    world.clock.advance(timedelta(hours=12))
    assert deliver(world).sent == 0  # still inside the window: the bridge does not even connect

    world.clock.advance(timedelta(hours=12, minutes=1))  # the rolling window has moved on
    while world.smtp.script.take("DATA"):  # and Gmail accepts mail again
        pass
    resumed = deliver(world)
    assert (resumed.sent, resumed.failed) == (7, 0)
    recipients = [m.recipients[0] for m in world.smtp.messages]
    assert sorted(recipients) == sorted(f"klient{n}@example.com" for n in range(10))  # each exactly once


def test_a_quota_refusal_with_no_earlier_send_of_ours_pauses_for_an_hour(ready: World) -> None:
    """The owner's own mail filled Gmail's window: the refused attempt itself is no send to wait for."""
    world = ready
    queue(world)
    world.smtp.script.next_reply("DATA", QUOTA)
    hit = deliver(world)
    assert (hit.sent, hit.stopped_by) == (0, "pause")
    assert hit.resume_at == world.clock.now() + timedelta(hours=1)
