"""`bridge status`: what an owner (or a monitoring check) reads to know the bridge is doing its job."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest

from bridge.app import Bridge
from bridge.commands.status import StatusReport, ago, gather
from bridge.errors import ShopAuthError
from bridge.lock import bridge_lock, holder
from bridge.secret import Secret
from bridge.service import sync_recorded
from bridge.shop.client import ShopClient
from bridge.simulator.actions import PostalAddress, Shop
from bridge.simulator.demo_shop import BOWL, MUG, MUG_HONEY
from bridge.state import cursors
from tests.conftest import World

WARSAW = PostalAddress("ul. Marszałkowska 10/4", "00-590", "Warszawa", phone="+48 600 700 800")


def bridge_of(world: World, client: ShopClient | None = None) -> Bridge:
    return Bridge(
        world.settings, world.clock, client or world.client, world.store, world.sender, world.renderer
    )


def place_order(shop: Shop, number: int) -> int:
    customer = shop.register_customer("Jan", f"Nowak{number}", f"klient{number}@example.com", address=WARSAW)
    cart = shop.create_cart(customer.customer_id, [(MUG, 2, MUG_HONEY), (BOWL, 1)], carrier_id=2)
    order_id = shop.place_order(cart, "przelewy24")
    shop.advance(7)
    return order_id


def synced(world: World) -> World:
    """A baseline, a minute, one order placed, and the sync that mails it."""
    assert sync_recorded(bridge_of(world)).poll.baseline
    world.clock.advance(timedelta(minutes=1))
    world.shop.advance(timedelta(minutes=1))
    place_order(world.shop, 1)
    world.clock.advance(timedelta(seconds=30))
    assert sync_recorded(bridge_of(world)).delivery.sent == 1
    return world


def report(world: World, **kwargs: object) -> StatusReport:
    return gather(world.store, world.settings, now=world.clock.now(), **kwargs)  # type: ignore[arg-type]


def test_status_says_when_the_shop_was_polled_where_the_cursors_stand_and_what_was_sent(world: World) -> None:
    synced(world)
    polled_at = world.clock.now()
    world.clock.advance(timedelta(seconds=42))
    status = report(world)

    assert status.last_poll_at == polled_at and status.last_poll_error is None
    with world.store.read() as conn:
        order_cursor = str(cursors.load(conn).orders.orders.position)
    orders = {r.name: r for r in status.resources}["orders"]
    assert orders.cursor == order_cursor and orders.moved_at == polled_at
    assert status.outbox["sent"] == 1 and status.outbox["queued"] == 0
    assert (status.sent_24h, status.daily_limit) == (1, 400)
    assert status.paused_until is None and status.errors == () and status.problems == ()

    text = "\n".join(status.lines())
    assert f"Last poll:   {polled_at:%Y-%m-%d %H:%M:%S} UTC (42 s ago), OK" in text
    assert f"orders           #{order_cursor}" in text
    assert "Sent (24 h): 1 of 400 (DAILY_SEND_LIMIT)" in text
    assert "Sending:     active" in text
    assert "Bridge:      no bridge process running now" in text


def test_the_json_form_is_plain_json_with_ages_in_seconds_for_monitoring(world: World) -> None:
    synced(world)
    world.clock.advance(timedelta(minutes=3))
    data = json.loads(json.dumps(report(world).as_dict()))
    assert data["last_poll"]["ok"] is True and data["last_poll"]["age_seconds"] == 180
    assert data["resources"]["orders"]["polled_age_seconds"] == 180
    assert data["outbox"]["sent"] == 1 and data["sent_last_24h"] == 1 and data["daily_send_limit"] == 400
    assert data["paused"] is False and data["last_errors"] == [] and data["problems"] == []
    assert data["running"] is False and data["pid"] is None


def test_a_failed_poll_is_shown_in_the_owners_words_next_to_the_last_good_one(world: World) -> None:
    synced(world)
    good = world.clock.now()
    world.clock.advance(timedelta(minutes=1))
    url = world.settings.prestashop_url or ""
    with ShopClient(url, Secret("X" * 32), retries=0) as refused, pytest.raises(ShopAuthError) as error:
        sync_recorded(bridge_of(world, refused))
    status = report(world)
    assert status.last_poll_at == world.clock.now() and status.last_ok_poll_at == good
    assert status.last_poll_error == str(error.value)
    assert "PRESTASHOP_API_KEY" in (status.last_poll_error or "")
    text = "\n".join(status.lines())
    assert f"Last poll:   {world.clock.now():%Y-%m-%d %H:%M:%S} UTC (0 s ago), failed: " in text
    assert f"Last OK:     {good:%Y-%m-%d %H:%M:%S} UTC (1 min ago)" in text
    assert status.problems[0].startswith("the last poll failed: ")


def test_a_paused_sender_and_a_refused_address_are_shown_with_their_reasons(world: World) -> None:
    assert sync_recorded(bridge_of(world)).poll.baseline
    world.shop.advance(timedelta(minutes=1))
    place_order(world.shop, 1)
    place_order(world.shop, 2)
    world.smtp.script.next_reply(
        "RCPT", "550 5.1.1 The email account that you tried to reach does not exist."
    )
    world.smtp.script.next_reply("DATA", "550 5.4.5 Daily user sending limit exceeded.")
    sync_recorded(bridge_of(world))

    status = report(world)
    assert status.paused_until is not None and status.paused_until > world.clock.now()
    assert status.outbox["failed"] == 1
    [failed] = status.errors
    assert failed.status == "failed" and "5.1.1" in failed.error and failed.recipient.endswith("@example.com")
    text = "\n".join(status.lines())
    assert f"Sending:     PAUSED until {status.paused_until:%Y-%m-%d %H:%M:%S} UTC: " in text
    assert f"  #{failed.outbox_id} failed " in text
    assert any(problem.startswith("sending is paused until") for problem in status.problems)


def test_a_running_bridge_is_named_by_its_pid_and_a_silent_one_is_a_problem(world: World) -> None:
    synced(world)
    with bridge_lock(world.settings.state_dir):
        assert report(world, running_pid=holder(world.settings.state_dir)).running_pid == os.getpid()
        world.clock.advance(world.settings.poll_interval * 3 + timedelta(seconds=1))
        status = report(world, running_pid=holder(world.settings.state_dir))
    assert f"Bridge:      running (pid {os.getpid()})" in status.lines()
    assert status.problems == ("no successful poll for 3 min",)
    assert holder(world.settings.state_dir) is None


def test_ages_read_at_a_glance() -> None:
    assert ago(timedelta(seconds=42)) == "42 s ago"
    assert ago(timedelta(minutes=12, seconds=59)) == "12 min ago"
    assert ago(timedelta(hours=3, minutes=5)) == "3 h ago"
    assert ago(timedelta(days=2, hours=23)) == "2 d ago"
    assert ago(timedelta(seconds=-5)) == "in the future: check the clock"


def test_status_shows_whether_marketing_mail_is_on_and_what_it_is_doing(world: World) -> None:
    from tests.test_cart_reminders import H, at, customer, left_cart, marketing

    assert any(line.startswith("Marketing:   off") for line in report(synced(world)).lines())
    assert report(world).as_dict()["marketing"] is None

    marketing(world)  # the owner sets UNSUBSCRIBE_URL: carts are watched from the next sync on
    world.sync()
    shop = world.shop
    shop.advance(H(0.1))
    left_cart(shop, customer(shop))
    at(world, world.clock.now(), H(0.2))
    status = report(world)
    [line] = [line for line in status.lines() if line.startswith("Marketing:")]
    assert "1 cart(s) in a reminder series" in line and "0 address(es) unsubscribed" in line
    assert status.as_dict()["marketing"]["open_cart_series"] == 1
