"""`bridge forget ADDRESS` (issue 15): everything the store holds about one person goes, but the keyed hash
that keeps the address unsubscribed or suppressed; what waited is cancelled; the command says what it
erased, or that it never saw the address.

Real parts: the webservice simulator, the Gmail-like SMTP server, an SQLite file, the injected clock; the
command runs through `bridge.cli.main` with the owner's env file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.cli import main
from bridge.cycle import Cycle
from bridge.delivery.marketing import MarketingGate
from bridge.model.kinds import OWNER_NEW_ORDER
from bridge.state import outbox
from bridge.state.carts import series_of
from bridge.state.outbox import Status, list_rows
from bridge.state.unsubscribes import list_unsubscribed, unsubscribed
from tests.conftest import World
from tests.test_cart_reminders import ZOFIA, H, at, customer, left_cart, reminders, started
from tests.test_owner_alerts import order as owner_order
from tests.test_owner_alerts import with_owner
from tests.test_retention import stored_bytes
from tests.test_sync import customer as shop_customer
from tests.test_sync import order
from tests.test_unsubscribe_flow import owner_env

JAN = "jan.kowalski@example.org"


def bridge(world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path, *argv: str) -> tuple[int, str]:
    """`bridge --env-file … ARGV` at the world's time: (exit code, what it printed)."""
    capsys.readouterr()
    code = main(["--env-file", str(owner_env(world, tmp_path)), *argv], clock=world.clock)
    return code, capsys.readouterr().out


def zofia_everywhere(world: World) -> tuple[int, int]:
    """Zofia ordered (confirmation sent), left another cart (a reminder sent), unsubscribed, and her
    address bounced once; Jan ordered too. Returns (Zofia's customer id, her cart)."""
    shop = started(world).shop
    zofia = customer(shop)
    order(shop, zofia, "przelewy24")
    order(shop, shop_customer(shop, "Jan", "Kowalski", JAN), "przelewy24")
    shop.advance(30)
    world.sync()
    cart = left_cart(shop, zofia)
    at(world, world.clock.now(), H(1.1))
    assert len(reminders(world, Status.SENT)) == 1
    now = world.clock.now()
    with world.store.transaction() as conn:
        outbox.suppress(conn, ZOFIA, f"550 5.1.1 <{ZOFIA}>: no such user", now=now)
    return zofia, cart


def test_forget_erases_an_address_everywhere_and_says_what_it_erased(
    world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _, cart = zofia_everywhere(world)
    assert bridge(world, capsys, tmp_path, "suppress", ZOFIA)[0] == 0
    assert ZOFIA.encode() in stored_bytes(world.store)

    code, out = bridge(world, capsys, tmp_path, "forget", " Zofia@Example.com")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"Erased what the state store held about {ZOFIA}:"
    assert "  emails: 2 (address, name, content and the server's replies removed)" in lines
    assert "  waiting emails cancelled: 0 (they will not be sent)" in lines
    assert "  attempt log entries scrubbed: 2" in lines
    assert any(line.startswith("  unsubscribe: kept as a keyed hash") for line in lines)
    assert any(line.startswith("  suppression: kept as a keyed hash") for line in lines)
    assert "  cart reminder series: 2" in lines  # the cart she left, and the one she ordered with
    assert any(line.startswith("  discount codes: 0") for line in lines)

    disk = stored_bytes(world.store)
    for personal in (ZOFIA, "Wiśniewska", "Zofia"):
        assert personal.encode() not in disk, personal
    assert JAN.encode() in disk and b"Kowalski" in disk  # nobody else's data moves
    assert series_of(world.store, cart) is None
    for row in list_rows(world.store, recipient_email=ZOFIA):
        assert (row.purged, row.recipient_email, dict(row.context)) == ("forget", "", {})

    code, story = bridge(world, capsys, tmp_path, "explain", "address", ZOFIA)
    assert code == 0
    assert story.count("details erased at the customer's request") == 2
    assert "unsubscribed from marketing mail" in story and "suppressed after a permanent refusal" in story

    code, again = bridge(world, capsys, tmp_path, "forget", ZOFIA)
    assert code == 0 and "  emails erased earlier: 2 (only a keyed hash of the address was left)" in again


def test_a_forgotten_address_stays_unsubscribed_and_suppressed(
    world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    zofia, _ = zofia_everywhere(world)
    assert bridge(world, capsys, tmp_path, "suppress", ZOFIA)[0] == 0
    assert bridge(world, capsys, tmp_path, "forget", ZOFIA)[0] == 0
    with world.store.read() as conn:
        [entry] = list_unsubscribed(conn)
        assert entry.email.startswith("hmac-sha256:") and unsubscribed(conn, ZOFIA.upper()) is not None
        assert outbox.is_suppressed(conn, ZOFIA) is not None

    # A later cart: no reminder, and the reason names the address masked only.
    shop = world.shop
    shop.advance(H(30))
    cart = left_cart(shop, zofia)
    left = world.clock.now()
    at(world, left, H(1.1))
    at(world, left, H(30))
    assert [r for r in reminders(world, Status.SENT) if r.cart_id == cart] == []
    series = series_of(world.store, cart)
    assert series is not None and series.status == "stopped"
    assert series.stop_reason is not None and "z***@example.com unsubscribed" in series.stop_reason

    # The last check before a marketing email goes recognises the hash too.
    with world.store.transaction() as conn:
        review = outbox.EmailIntent(
            idempotency_key="review_request:order:999",
            kind="review_request",
            category="marketing",
            recipient_email=ZOFIA,
            language="pl",
            consent="newsletter=1",
            customer_id=zofia,
        )
        outbox.enqueue(conn, review, now=world.clock.now(), message_id_domain="shop.example")
    with world.store.read() as conn:
        row = outbox.find(conn, "review_request:order:999")
    assert row is not None
    verdict = MarketingGate(world.settings, world.store, world.client).check(row, world.clock.now())
    assert verdict.action == "cancel" and "unsubscribed" in verdict.reason

    # A new order is a new email, but the bounce suppression still keeps it from the dead mailbox.
    sent_before = len(world.mail_to(ZOFIA))
    order_id = order(shop, zofia, "przelewy24")
    shop.advance(30)
    world.sync()
    [row] = [r for r in list_rows(world.store, order_id=order_id) if r.kind == "order_confirmation"]
    assert row.status is Status.FAILED and "address suppressed" in (row.last_error or "")
    assert len(world.mail_to(ZOFIA)) == sent_before


def test_an_email_waiting_for_the_address_is_cancelled_and_never_sent(
    world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    shop = started(world).shop
    order_id = order(shop, customer(shop), "przelewy24")
    shop.advance(30)
    cycle = Cycle(world.client, world.store, world.sender, world.renderer, world.settings, world.clock)
    assert cycle.poll().queued == 1  # queued; delivery has not run yet

    code, out = bridge(world, capsys, tmp_path, "forget", ZOFIA)
    assert code == 0 and "  waiting emails cancelled: 1 (they will not be sent)" in out.splitlines()
    summary = world.sync()
    assert summary.delivery.sent == 0 and world.mail_to(ZOFIA) == []
    [row] = [r for r in list_rows(world.store, order_id=order_id) if r.kind == "order_confirmation"]
    assert row.status is Status.CANCELLED and row.purged == "forget"
    assert row.skip_reason == "not sent: the address was erased (bridge forget)"
    # Nothing is left to send: the owner cannot queue it again either.
    assert main(["--env-file", str(owner_env(world, tmp_path)), "outbox", "retry", str(row.id)]) == 65
    assert "cannot be sent again: details erased at the customer's request" in capsys.readouterr().err


def test_a_dry_run_counts_without_changing_anything(
    world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    zofia_everywhere(world)
    assert bridge(world, capsys, tmp_path, "suppress", ZOFIA)[0] == 0
    before = {row.id: row for row in list_rows(world.store, limit=1000)}

    code, out = bridge(world, capsys, tmp_path, "forget", ZOFIA, "--dry-run")
    assert code == 0
    assert out.startswith(f"Would erase what the state store holds about {ZOFIA} (--dry-run: nothing was")
    assert "  emails: 2 (address, name, content and the server's replies removed)" in out.splitlines()
    assert {row.id: row for row in list_rows(world.store, limit=1000)} == before
    with world.store.read() as conn:
        assert [entry.email for entry in list_unsubscribed(conn)] == [ZOFIA]


def test_an_address_the_store_never_saw_is_said_so(
    world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    zofia_everywhere(world)
    code, out = bridge(world, capsys, tmp_path, "forget", "nobody@example.net")
    assert (code, out) == (
        0,
        "The state store holds nothing about nobody@example.net: there is nothing to erase.\n",
    )
    assert main(["--env-file", str(owner_env(world, tmp_path)), "forget", "not an address"]) == 78


def test_the_owners_alerts_about_the_person_are_erased_too(
    world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A new-order alert to the owner carries the customer's name and address: an erasure covers it."""
    world = with_owner(world)
    world.sync()  # the baseline
    owner_order(world.shop, 7)
    world.sync()
    [alert] = [row for row in list_rows(world.store) if row.kind == OWNER_NEW_ORDER]
    assert alert.status == Status.SENT and "klient7@example.com" in str(dict(alert.context))

    code, out = bridge(world, capsys, tmp_path, "forget", "klient7@example.com")

    assert code == 0 and "  emails: 3 (address, name, content and the server's replies removed)" in out
    [alert] = [row for row in list_rows(world.store) if row.kind == OWNER_NEW_ORDER]
    assert (alert.purged, dict(alert.context)) == ("forget", {})
    disk = stored_bytes(world.store)
    assert b"klient7@example.com" not in disk and b"Nowak7" not in disk
