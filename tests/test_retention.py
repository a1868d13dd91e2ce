"""Personal data has a lifetime (issue 15): a finished email keeps its record, not its details, after
RETENTION_DAYS; a cart reminder's recovery link goes when its series ends; waiting emails are never purged;
log lines at INFO show addresses masked.

Real parts: the webservice simulator, the Gmail-like SMTP server, SQLite files, the injected clock.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.logs import QUIET_LIBRARIES, setup_logging
from bridge.state import retention
from bridge.state.carts import series_of
from bridge.state.outbox import (
    EmailIntent,
    Status,
    claim_next,
    enqueue,
    get_row,
    hold,
    list_rows,
    mark_retry,
    mark_sent,
    mark_unknown,
    skip,
)
from bridge.state.store import Store, open_store
from tests.conftest import World
from tests.test_cart_reminders import H, at, left_cart, reminders
from tests.test_cart_reminders import customer as cart_customer
from tests.test_cart_reminders import started as marketing_started
from tests.test_sync import customer, order, started
from tests.test_unsubscribe_flow import owner_env

ZOFIA = "zofia@example.com"
DAYS_90 = timedelta(days=90)


def stored_bytes(store: Store) -> bytes:
    """Everything the state store's files hold on disk, once the write-ahead log is folded in."""
    store.flush_wal()
    assert store.path is not None
    wal = store.path.with_name(store.path.name + "-wal")
    return store.path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def raw_recipient(store: Store, row_id: int) -> str:
    with store.read() as conn:
        value = conn.exec_driver_sql("SELECT recipient_email FROM outbox WHERE id = ?", (row_id,)).scalar()
    return str(value)


def confirmation(world: World, order_id: int) -> int:
    [row] = [r for r in list_rows(world.store, order_id=order_id) if r.kind == "order_confirmation"]
    return row.id


# --- RETENTION_DAYS --------------------------------------------------------------------------------------


def test_after_retention_days_a_sent_email_keeps_its_record_only_and_is_never_sent_twice(
    world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    shop = started(world).shop
    placed_at = shop.now()
    order_id = order(shop, customer(shop), "przelewy24")
    reference = shop.order_ref(order_id)
    shop.advance(30)
    world.sync()
    row_id = confirmation(world, order_id)
    before = get_row(world.store, row_id)
    assert before is not None and before.row.status is Status.SENT and before.row.recipient_email == ZOFIA
    assert len(world.mail_to(ZOFIA)) == 1

    shop.advance(DAYS_90 - timedelta(hours=1))
    world.sync()
    kept = get_row(world.store, row_id)
    assert kept is not None and kept.row.purged is None and kept.row.context == before.row.context

    shop.advance(timedelta(hours=2))
    world.sync()
    after = get_row(world.store, row_id)
    assert after is not None
    row = after.row
    assert (row.purged, row.recipient_email, row.recipient_name, dict(row.context)) == (
        "retention",
        "",
        None,
        {},
    )
    assert row.customer_id is None and row.purged_at == world.clock.now()
    # The ledger stays: what the event was, what happened, when, and under which Message-ID.
    for name in ("idempotency_key", "kind", "status", "message_id", "order_id", "created_at", "sent_at"):
        assert getattr(row, name) == getattr(before.row, name), name
    assert row.order_reference == reference
    assert len(after.attempts) == len(before.attempts) == 1
    # The address is a keyed hash: not the address, and not its plain (dictionary-reversible) SHA-256.
    hashed = raw_recipient(world.store, row_id)
    assert hashed.startswith("hmac-sha256:") and hashlib.sha256(ZOFIA.encode()).hexdigest() not in hashed
    disk = stored_bytes(world.store)
    assert ZOFIA.encode() not in disk and "Wiśniewska".encode() not in disk

    # The owner still finds it by the address, and reads why it says so little.
    capsys.readouterr()
    env = owner_env(world, tmp_path)
    assert main(["--env-file", str(env), "explain", "address", ZOFIA], clock=world.clock) == 0
    story = capsys.readouterr().out
    assert f"#{row_id}  order_confirmation: sent" in story
    assert "details purged after 90 days" in story and "Wiśniewska" not in story

    # A catch-up over the order's day decides its confirmation again: the key is remembered, nothing goes.
    summary = world.sync(since=placed_at.replace(tzinfo=shop.state.timezone))
    assert summary.poll.queued == 0 and summary.delivery.sent == 0
    assert len(world.mail_to(ZOFIA)) == 1


def test_the_purge_runs_at_most_once_an_hour(world: World) -> None:
    shop = started(world).shop
    order_id = order(shop, customer(shop), "przelewy24")
    shop.advance(30)
    world.sync()
    shop.advance(DAYS_90 - timedelta(minutes=30))
    world.sync()  # the first purge of this process: nothing old enough yet
    shop.advance(timedelta(minutes=45))
    world.sync()  # old enough now, but the last purge was 45 minutes ago
    row = get_row(world.store, confirmation(world, order_id))
    assert row is not None and row.row.purged is None
    shop.advance(timedelta(minutes=20))
    world.sync()
    row = get_row(world.store, confirmation(world, order_id))
    assert row is not None and row.row.purged == "retention"


def intent(key: str, email: str = ZOFIA) -> EmailIntent:
    return EmailIntent(
        idempotency_key=key,
        kind="order_confirmation",
        category="transactional",
        recipient_email=email,
        recipient_name="Zofia Wiśniewska",
        language="pl",
        context={"customer": {"firstname": "Zofia"}},
        order_id=1,
    )


def test_emails_still_waiting_are_never_purged_however_old(tmp_path: Path) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    lease = timedelta(minutes=15)
    with open_store(str(tmp_path / "bridge.db")) as store:
        with store.transaction() as conn:
            for key in ("sent", "retry", "unknown"):
                enqueue(conn, intent(key), now=now, message_id_domain="shop.example")
            skip(conn, intent("skipped"), "no consent", now=now)
        for outcome in ("sent", "retry", "unknown"):
            claimed = claim_next(store, now=now, owner="me", lease=lease)
            assert claimed is not None and claimed.idempotency_key == outcome
            if outcome == "sent":
                mark_sent(store, claimed.id, owner="me", now=now, smtp_reply="250 2.0.0 OK")
            elif outcome == "retry":
                later = now + timedelta(days=1000)
                mark_retry(store, claimed.id, owner="me", now=now, error="451", not_before=later)
            else:
                mark_unknown(store, claimed.id, owner="me", now=now, error="connection lost after DATA")
        with store.transaction() as conn:
            enqueue(conn, intent("queued"), now=now, message_id_domain="shop.example")
            hold(conn, intent("held"), "the order is 3 days old", now=now, message_id_domain="shop.example")

        done = retention.purge(store, now=now + timedelta(days=400), retention=DAYS_90)

        assert done.emails == 2
        rows = {row.idempotency_key: row for row in list_rows(store, limit=100)}
        assert {key for key, row in rows.items() if row.purged} == {"sent", "skipped"}
        for key in ("queued", "retry", "unknown", "held"):
            row = rows[key]
            assert row.recipient_email == ZOFIA and row.recipient_name == "Zofia Wiśniewska", key
            assert row.context["customer"]["firstname"] == "Zofia", key
        # An email found by its address still, through the keyed hash.
        assert {row.idempotency_key for row in list_rows(store, recipient_email="Zofia@Example.com ")} == set(
            rows
        )


def test_a_large_backlog_is_purged_in_bounded_batches_an_hour_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "BATCH", 2)
    monkeypatch.setattr(retention, "MAX_BATCHES", 2)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with open_store(str(tmp_path / "bridge.db")) as store:
        with store.transaction() as conn:
            for number in range(5):
                skip(conn, intent(f"skipped:{number}"), "no consent", now=now)
        later = now + timedelta(days=100)
        assert retention.purge(store, now=later, retention=DAYS_90).emails == 4
        assert retention.purge(store, now=later + timedelta(minutes=59), retention=DAYS_90).emails == 0
        assert retention.purge(store, now=later + timedelta(hours=1), retention=DAYS_90).emails == 1
        assert all(row.purged == "retention" for row in list_rows(store, limit=10))


# --- recovery links end with their series ----------------------------------------------------------------


def test_the_recovery_link_leaves_the_store_as_soon_as_the_cart_becomes_an_order(world: World) -> None:
    shop = marketing_started(world, SHOP_COOKIE_KEY="k" * 56).shop
    cart = left_cart(shop, cart_customer(shop))
    left = world.clock.now()
    at(world, left, H(1.1))
    [sent] = reminders(world, Status.SENT)
    assert "token_cart=" in sent.context["cart"]["url"]

    shop.advance(H(1))
    shop.place_order(cart, "przelewy24")
    at(world, left, H(2.5))

    series = series_of(world.store, cart)
    assert series is not None and series.status == "stopped"
    [row] = reminders(world, Status.SENT)
    assert row.purged == "links" and row.context["cart"]["url"] == ""
    # Only the link went: the rest waits for RETENTION_DAYS like any email.
    assert row.context["step"] == 1 and row.recipient_email == ZOFIA
    assert b"token_cart=" not in stored_bytes(world.store)


def test_a_reminder_sent_after_its_series_was_done_loses_its_link_at_the_next_poll(world: World) -> None:
    shop = marketing_started(world, SHOP_COOKIE_KEY="k" * 56, CART_REMINDERS="1h").shop
    cart = left_cart(shop, cart_customer(shop))
    left = world.clock.now()
    world.smtp.script.next_reply("DATA", "451 4.3.0 Mail server temporarily rejected message.")
    at(world, left, H(1.1))  # the only reminder is queued; Gmail says "later"
    [waiting] = reminders(world, Status.RETRY)
    at(world, left, H(1.1) + timedelta(minutes=6))  # the series is done; its reminder goes out after that
    series = series_of(world.store, cart)
    assert series is not None and series.status == "done"
    [sent] = reminders(world, Status.SENT)
    assert sent.id == waiting.id and "token_cart=" in sent.context["cart"]["url"]

    at(world, left, H(1.1) + timedelta(minutes=7))
    [row] = reminders(world, Status.SENT)
    assert row.purged == "links" and row.context["cart"]["url"] == ""


# --- masked log lines ------------------------------------------------------------------------------------


@pytest.fixture
def log_buffer() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    yield buffer
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.NOTSET)


def test_info_lines_show_customer_addresses_masked_and_debug_lines_in_full(
    world: World, log_buffer: io.StringIO
) -> None:
    setup_logging("INFO", [], stream=log_buffer)
    shop = started(world).shop
    gone = "jan.kowalski@example.org"
    order(shop, customer(shop, "Jan", "Kowalski", gone), "przelewy24")
    order(shop, customer(shop), "przelewy24")
    shop.advance(30)
    # The first recipient's mailbox does not exist, and the server quotes the address in its refusal.
    world.smtp.script.next_reply("RCPT", f"550 5.1.1 <{gone}>: Recipient address rejected: no such user")
    summary = world.sync()
    assert (summary.delivery.sent, summary.delivery.failed) == (1, 1)
    info = log_buffer.getvalue()
    assert "sent to z***@example.com" in info and "j***@example.org refused permanently" in info
    assert ZOFIA not in info and gone not in info

    debug = io.StringIO()
    setup_logging("DEBUG", [], stream=debug)
    order(shop, customer(shop, "Ewa", "Nowak", "ewa.nowak@example.net"), "przelewy24")
    shop.advance(30)
    world.sync()
    assert "ewa.nowak@example.net" in debug.getvalue() and "e***@example.net" in debug.getvalue()
