"""Owner alerts: a shop that stays unreachable, or a paused sender, gets the owner (ADMIN_EMAIL) one email
per incident through the same SMTP server, and `bridge status` shows the incident while it lasts.

Real parts throughout: the simulator's shop (its fault plan drops every connection while it is "down"), the
Gmail-like SMTP server with scripted replies, a SQLite store, and a ManualClock moved minute by minute.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import timedelta
from email.message import EmailMessage

import pytest

from bridge import alerts
from bridge.app import Bridge
from bridge.commands.status import StatusReport, gather
from bridge.config import parse_address
from bridge.errors import ShopError
from bridge.service import Service, sync_recorded
from bridge.simulator import Simulator
from bridge.simulator.actions import PostalAddress, Shop
from bridge.simulator.demo_shop import BOWL, MUG, MUG_HONEY
from bridge.state.outbox import OutboxRow, Status, list_rows
from tests.conftest import World, text_of
from tests.smtp_server import BAD_CREDENTIALS

OWNER = "wlascicielka@example.com"
QUOTA = (
    "550-5.4.5 Daily user sending limit exceeded. For more information on Gmail\n"
    "550 5.4.5  sending limits go to https://support.google.com/a/answer/166852"
)
WARSAW = PostalAddress("ul. Marszałkowska 10/4", "00-590", "Warszawa", phone="+48 600 700 800")
MINUTE = timedelta(minutes=1)


def with_owner(world: World) -> World:
    """The world with ADMIN_EMAIL set, as an owner who wants alerts configures it."""
    settings = dataclasses.replace(world.settings, admin_email=parse_address(f"Właścicielka <{OWNER}>"))
    return dataclasses.replace(world, settings=settings)


def bridge_of(world: World) -> Bridge:
    return Bridge(world.settings, world.clock, world.client, world.store, world.sender, world.renderer)


def place_orders(shop: Shop, count: int) -> None:
    """`count` customers each place one order paid by card: one confirmation each."""
    for number in range(1, count + 1):
        customer = shop.register_customer(
            "Jan", f"Nowak{number}", f"klient{number}@example.com", address=WARSAW
        )
        cart = shop.create_cart(customer.customer_id, [(MUG, 2, MUG_HONEY), (BOWL, 1)], carrier_id=2)
        shop.place_order(cart, "przelewy24")
        shop.advance(7)


def owner_alerts(world: World) -> list[OutboxRow]:
    return [row for row in list_rows(world.store, limit=1000) if row.kind == alerts.KIND]


def report(world: World) -> StatusReport:
    return gather(world.store, world.settings, now=world.clock.now())


def failing_sync(world: World) -> None:
    """A minute later, one `bridge sync` against the shop that is down."""
    world.clock.advance(MINUTE)
    with pytest.raises(ShopError):
        sync_recorded(bridge_of(world))


def shop_down(server: Simulator) -> None:
    """Every request to the shop gets its connection dropped without an answer."""
    server.faults.rate(1.0, ["reset"], seed=0)


def recipients(messages: list[EmailMessage]) -> list[str]:
    return [message["To"].addresses[0].addr_spec for message in messages]


@pytest.fixture
def owned(world: World) -> World:
    """A bridge with ADMIN_EMAIL set that has taken its baseline of the shop (and its identity)."""
    owned = with_owner(world)
    assert sync_recorded(bridge_of(owned)).poll.baseline
    return owned


# --- the shop unreachable ---------------------------------------------------------------------------------


def test_a_shop_down_for_fifteen_minutes_mails_the_owner_once_and_a_later_outage_mails_again(
    owned: World, shop_server: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    world = owned
    shop_down(shop_server)
    caplog.set_level(logging.INFO, logger="bridge.alerts")

    failing_sync(world)  # the first failure after the last success: the incident begins
    began = world.clock.now()
    for _ in range(14):
        failing_sync(world)
    assert world.clock.now() - began == timedelta(minutes=14)
    assert owner_alerts(world) == [] and world.mail() == []

    failing_sync(world)  # 15 minutes: ALERT_AFTER's default

    [alert] = owner_alerts(world)
    assert alert.status is Status.SENT and alert.recipient_email == OWNER
    assert alert.idempotency_key == f"alert:shop_unreachable:{began.isoformat()}"
    [mail] = world.mail()
    assert recipients([mail]) == [OWNER]
    # Signed with the shop's name, which the first run recorded before any order arrived.
    assert mail["Subject"] == "Pracownia Ceramiki Złota Łąka: mostek e-mail nie ma dostępu do sklepu"
    assert mail["Auto-Submitted"] == "auto-generated"
    text = " ".join(text_of(mail).split())
    assert "Od 27 listopada 2026 10:01 mostek e-mail nie może odczytać danych sklepu" in text
    assert "dropped it" in text  # the bridge's own explanation of the failure
    assert "Otwórz sklep w przeglądarce" in text and "Nic nie przepadnie" in text
    assert "XKBKNABJK" not in text and "Zamówienie" not in text  # no order block: this is not customer mail

    for _ in range(10):
        failing_sync(world)
    assert len(owner_alerts(world)) == 1 and len(world.mail()) == 1
    status = report(world)
    [incident] = status.incidents
    assert (incident.problem, incident.since, incident.alert_id) == ("shop_unreachable", began, alert.id)
    assert any(p.startswith("the shop cannot be read since") for p in status.problems)

    shop_server.faults.clear()
    world.clock.advance(MINUTE)
    sync_recorded(bridge_of(world))
    assert alerts.open_incidents(world.store, world.settings) == ()
    assert report(world).incidents == () and report(world).problems == ()

    world.clock.advance(timedelta(hours=3))
    shop_down(shop_server)
    for _ in range(16):
        failing_sync(world)
    first, second = sorted(owner_alerts(world), key=lambda row: row.id)
    assert second.idempotency_key != first.idempotency_key and second.status is Status.SENT
    assert recipients(world.mail()) == [OWNER, OWNER]
    started = [r for r in caplog.records if r.levelno == logging.WARNING and "incident:" in r.getMessage()]
    assert len(started) == 2  # one warning per incident, not one per failed poll
    assert OWNER in started[0].getMessage() and "15m" in started[0].getMessage()


def test_a_short_outage_ends_quietly_and_the_next_one_starts_counting_afresh(
    owned: World, shop_server: Simulator
) -> None:
    world = owned
    shop_down(shop_server)
    for _ in range(10):
        failing_sync(world)
    shop_server.faults.clear()
    world.clock.advance(MINUTE)
    sync_recorded(bridge_of(world))

    shop_down(shop_server)
    for _ in range(10):  # 20 failed polls in all, but never 15 minutes in a row
        failing_sync(world)

    assert owner_alerts(world) == [] and world.mail() == []


# --- sending paused ---------------------------------------------------------------------------------------


def test_a_refused_app_password_queues_one_alert_that_goes_first_once_the_login_works(owned: World) -> None:
    world = owned
    world.shop.advance(MINUTE)
    place_orders(world.shop, 3)
    world.clock.advance(MINUTE)
    world.smtp.script.next_reply("AUTH", BAD_CREDENTIALS)  # the first login is refused, later ones accepted

    refused = sync_recorded(bridge_of(world))

    assert (refused.poll.queued, refused.delivery.sent, refused.delivery.stopped_by) == (3, 0, "pause")
    [alert] = owner_alerts(world)
    assert alert.status is Status.QUEUED and alert.priority < 0 and alert.recipient_email == OWNER
    assert alert.idempotency_key.startswith("alert:sending_paused:credentials:")
    assert alert.context["waiting"] == 3 and "535 5.7.8" in alert.context["error"]
    assert "SMTP_PASSWORD" in alert.context["advice"]
    status = report(world)
    [incident] = status.incidents
    assert (incident.problem, incident.pause_kind, incident.alert_id) == (
        "sending_paused",
        "credentials",
        alert.id,
    )
    assert f"owner alert #{alert.id} to {OWNER}: queued" in "\n".join(status.lines())

    world.clock.advance(timedelta(minutes=30))  # still within SMTP_LOGIN_RETRY: nothing is tried
    sync_recorded(bridge_of(world))
    assert world.mail() == [] and world.smtp.auth_attempts == 1 and len(owner_alerts(world)) == 1

    world.clock.advance(timedelta(minutes=31))
    resumed = sync_recorded(bridge_of(world))

    assert resumed.delivery.sent == 4
    assert recipients(world.mail()) == [
        OWNER,
        "klient1@example.com",
        "klient2@example.com",
        "klient3@example.com",
    ]
    alert_mail = world.mail()[0]
    assert alert_mail["Subject"] == "Pracownia Ceramiki Złota Łąka: wysyłka e-maili była wstrzymana"
    text = " ".join(text_of(alert_mail).split())
    assert "535 5.7.8" in text and "SMTP_PASSWORD" in text and "bridge check" in text
    assert "W chwili wstrzymania w kolejce czekały 3 e-maile do klientów" in text
    assert [row.status for row in owner_alerts(world)] == [Status.SENT]
    assert report(world).incidents == ()


def test_a_quota_pause_keeps_the_alert_until_gmail_takes_mail_and_a_gap_in_the_quota_carries_one_alert(
    owned: World,
) -> None:
    world = owned
    world.shop.advance(MINUTE)
    place_orders(world.shop, 2)
    world.clock.advance(MINUTE)
    world.smtp.script.next_reply("DATA", QUOTA)
    hit = sync_recorded(bridge_of(world)).delivery
    assert hit.stopped_by == "pause" and hit.resume_at is not None
    [alert] = owner_alerts(world)
    assert alert.idempotency_key.startswith("alert:sending_paused:quota:")

    # When the pause ends Gmail still refuses, the alert first: it stays queued, its attempt unspent.
    world.clock.set(hit.resume_at)
    world.smtp.script.next_reply("DATA", QUOTA)
    again = sync_recorded(bridge_of(world)).delivery
    assert again.stopped_by == "pause" and again.resume_at is not None
    [alert] = owner_alerts(world)
    assert (alert.status, alert.attempts) == (Status.QUEUED, 0)

    # Then the rolling window lets one email through and refuses the next: still the same incident.
    world.clock.set(again.resume_at)
    world.smtp.script.next_reply("DATA", "250 2.0.0 OK  1764230001")
    world.smtp.script.next_reply("DATA", QUOTA)
    gap = sync_recorded(bridge_of(world)).delivery
    assert (gap.sent, gap.stopped_by) == (1, "pause") and gap.resume_at is not None
    assert [row.status for row in owner_alerts(world)] == [Status.SENT]  # the gap carried the alert
    [incident] = report(world).incidents
    assert incident.alert_id == alert.id  # and no second alert waits for the next gap

    world.clock.set(gap.resume_at)
    assert sync_recorded(bridge_of(world)).delivery.sent == 2
    assert recipients(world.mail()) == ["klient1@example.com", "klient2@example.com"]
    assert len(owner_alerts(world)) == 1 and report(world).incidents == ()


# --- no ADMIN_EMAIL ---------------------------------------------------------------------------------------


def test_without_admin_email_nothing_is_mailed_but_status_shows_every_incident(
    world: World, shop_server: Simulator
) -> None:
    assert world.settings.admin_email is None
    assert sync_recorded(bridge_of(world)).poll.baseline
    world.shop.advance(MINUTE)
    place_orders(world.shop, 1)
    world.clock.advance(MINUTE)
    world.smtp.script.next_reply("AUTH", BAD_CREDENTIALS)
    sync_recorded(bridge_of(world))
    shop_down(shop_server)
    failing_sync(world)
    began = world.clock.now()
    for _ in range(20):
        failing_sync(world)

    assert owner_alerts(world) == [] and world.mail() == []
    status = report(world)
    assert [i.problem for i in status.incidents] == ["shop_unreachable", "sending_paused"]
    text = "\n".join(status.lines())
    assert (
        f"Incidents:   the shop cannot be read since {began:%Y-%m-%d %H:%M:%S} UTC (20 min); "
        "no alert email (ADMIN_EMAIL is empty)"
    ) in text
    assert "sending is paused (credentials) since" in text
    assert sum("(ADMIN_EMAIL is empty)" in p for p in status.problems) == 2
    data = json.loads(json.dumps(status.as_dict()))
    shop, sending = data["incidents"]
    assert (shop["problem"], shop["since"], shop["age_seconds"]) == (
        "shop_unreachable",
        began.isoformat(),
        1200,
    )
    assert shop["alert"] == {
        "to": None,
        "due_at": (began + timedelta(minutes=15)).isoformat(),
        "outbox_id": None,
        "status": None,
    }
    assert (sending["problem"], sending["pause_kind"]) == ("sending_paused", "credentials")


# --- `bridge run` -----------------------------------------------------------------------------------------


def test_bridge_run_alerts_from_its_poll_job_and_sends_through_its_delivery_job(
    world: World, shop_server: Simulator
) -> None:
    world = with_owner(world)
    service = Service(bridge_of(world))  # its jobs are called directly: the scheduler never starts
    service.poll()  # the baseline
    shop_down(shop_server)
    for _ in range(16):
        world.clock.advance(MINUTE)
        service.poll()
    [alert] = owner_alerts(world)
    assert alert.status is Status.QUEUED

    service.deliver()

    assert recipients(world.mail()) == [OWNER]
    shop_server.faults.clear()
    world.clock.advance(MINUTE)
    service.poll()
    assert report(world).incidents == ()

    world.shop.advance(MINUTE)
    place_orders(world.shop, 1)
    world.sender.close()  # the next delivery logs in afresh, and that login is refused
    world.smtp.script.next_reply("AUTH", BAD_CREDENTIALS)
    service.poll()
    service.deliver()
    [_, paused] = sorted(owner_alerts(world), key=lambda row: row.id)
    assert paused.idempotency_key.startswith("alert:sending_paused:credentials:")
    assert paused.status is Status.QUEUED and len(world.mail()) == 1
