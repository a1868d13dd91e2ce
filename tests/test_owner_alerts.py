"""The owner's business alerts (OWNER_EMAIL): a new order, a digest on catch-up, and nothing at all while
OWNER_EMAIL is empty or for what the shop held before the first run.

Real parts throughout: the simulator's demo shop over HTTP, the Gmail-like SMTP server, a SQLite store and a
ManualClock.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from email.message import EmailMessage

from bridge.commands.explain import find_order, order_story_lines
from bridge.config import parse_address
from bridge.model.kinds import OWNER_NEW_ORDER, OWNER_NEW_ORDERS
from bridge.simulator import Simulator
from bridge.simulator.actions import PostalAddress, Shop
from bridge.simulator.demo_shop import BOWL, MUG, MUG_COBALT, MUG_HONEY, MUG_MOSS, PLATE
from bridge.simulator.stock import set_stock
from bridge.state.outbox import OutboxRow, Status, list_rows
from tests.conftest import World, html_of, text_of

OWNER = "wlascicielka@example.com"
PARTNER = "wspolnik@example.com"
PLATE_NAME = "Dinner plate 27 cm"
WARSAW = PostalAddress("ul. Marszałkowska 10/4", "00-590", "Warszawa", phone="+48 600 700 800")


def with_owner(world: World, *addresses: str, **changes: object) -> World:
    """The world with OWNER_EMAIL set (and any other owner setting), as an owner configures it."""
    owners = tuple(parse_address(a) for a in (addresses or (f"Właścicielka <{OWNER}>",)))
    settings = dataclasses.replace(world.settings, owner_email=owners, **changes)  # type: ignore[arg-type]
    return dataclasses.replace(world, settings=settings)


def order(shop: Shop, number: int, *, comment: str | None = None, guest: bool = False) -> int:
    customer = shop.register_customer(
        "Jan", f"Nowak{number}", f"klient{number}@example.com", address=WARSAW, guest=guest
    )
    cart = shop.create_cart(customer.customer_id, [(MUG, 2, MUG_HONEY), (BOWL, 1)], carrier_id=2)
    order_id = shop.place_order(cart, "ps_wirepayment", comment=comment)
    shop.advance(7)
    return order_id


def owner_rows(world: World) -> list[OutboxRow]:
    return [row for row in list_rows(world.store, limit=1000) if row.kind.startswith("owner_")]


def to_owner(world: World, address: str = OWNER) -> list[EmailMessage]:
    return [m for m in world.mail() if address in str(m["To"])]


def test_a_new_order_tells_the_owner_in_the_same_cycle_with_reply_to_the_customer(world: World) -> None:
    world = with_owner(world, shop_admin_url="https://sklep.example.pl/admin-x7k2")
    world.sync()  # the baseline: history is not news
    order_id = order(world.shop, 1, comment="Proszę zapakować na prezent.")

    summary = world.sync()

    [alert] = to_owner(world)
    reference = world.shop.order_ref(order_id)
    assert str(alert["Subject"]).startswith(f"Nowe zamówienie {reference} — ")
    assert str(alert["Subject"]).endswith("\xa0zł")  # CLDR: a no-break space before the symbol
    assert str(alert["Reply-To"]) == "Jan Nowak1 <klient1@example.com>"
    text = text_of(alert)
    for phrase in (
        "Jan Nowak1 (klient1@example.com)",
        "To pierwsze zamówienie tego klienta",
        "(jeszcze nieopłacone)",
        "2 szt. ×",
        "ul. Marszałkowska 10/4",
        "Proszę zapakować na prezent.",
        f"admin-x7k2/index.php?controller=AdminOrders&id_order={order_id}&vieworder=1",
    ):
        assert phrase in text, phrase
    assert "Proszę zapakować na prezent." in html_of(alert)
    # The customer's emails (confirmation, bank details) went out in the same cycle, ahead of the owner's.
    customer = [m for m in world.mail() if "klient1@example.com" in str(m["To"])]
    assert customer and all(world.mail().index(m) < world.mail().index(alert) for m in customer)
    assert summary.delivery.failed == 0

    # `bridge explain order` tells the owner's side too.
    story = order_story_lines(find_order(world.store, reference), world.clock.now().tzinfo, lambda r: "pl")
    assert any(OWNER_NEW_ORDER in line and "sent" in line for line in story)


def test_a_repeat_guest_order_says_so_and_every_owner_address_gets_its_copy(world: World) -> None:
    world = with_owner(world, OWNER, f"Wspólnik <{PARTNER}>")
    world.sync()
    first = world.shop.register_customer("Anna", "Gość", "gosc@example.com", address=WARSAW, guest=True)
    for _ in range(2):
        cart = world.shop.create_cart(first.customer_id, [(BOWL, 1)], carrier_id=2)
        world.shop.place_order(cart, "ps_wirepayment")
        world.shop.advance(7)
        world.sync()

    mine, partners = to_owner(world), to_owner(world, PARTNER)
    assert len(mine) == 2 and len(partners) == 2
    assert "gość" in text_of(mine[0]).lower() and "pierwsze zamówienie" in text_of(mine[0])
    assert "zamawiał już wcześniej" in text_of(mine[1])
    assert "controller=AdminOrders" not in text_of(mine[1])  # no SHOP_ADMIN_URL, no link


def test_a_catch_up_of_many_orders_is_one_digest(world: World) -> None:
    world = with_owner(world, owner_language="en")
    world.sync()
    ids = [order(world.shop, n) for n in range(1, 8)]

    world.sync()

    [digest] = to_owner(world)
    assert str(digest["Subject"]).startswith("7 new orders")
    assert "Reply-To" in digest and "klient" not in str(digest["Reply-To"])
    text = text_of(digest)
    assert all(world.shop.order_ref(i) in text for i in ids)
    assert "klient7@example.com" in text
    rows = owner_rows(world)
    assert [r.kind for r in rows if r.status is Status.SENT] == [OWNER_NEW_ORDERS]
    skipped = {r.order_id for r in rows if r.status is Status.SKIPPED and r.kind == OWNER_NEW_ORDER}
    assert skipped == set(ids)  # each order's story names the digest
    assert {str(m["To"]).split("<")[-1] for m in world.mail() if "klient" in str(m["To"])} == {
        f"klient{n}@example.com>" for n in range(1, 8)
    }  # the customers each got theirs


def test_nothing_for_the_owner_while_owner_email_is_empty(world: World) -> None:
    world.sync()
    order(world.shop, 1, comment="Halo?")

    world.sync()

    assert owner_rows(world) == []
    assert world.mail() and all("klient1@example.com" in str(m["To"]) for m in world.mail())


def test_orders_from_before_the_first_run_never_reach_the_owner(world: World) -> None:
    world = with_owner(world)
    order(world.shop, 1)  # placed before the bridge's first run: history

    world.sync()
    world.sync()

    assert owner_rows(world) == [] and world.mail() == []


def test_new_order_alerts_can_be_turned_off(world: World) -> None:
    world = with_owner(world, owner_alerts=frozenset({"customer_message"}))
    world.sync()
    order(world.shop, 1)

    world.sync()

    assert owner_rows(world) == [] and all("klient1@example.com" in str(m["To"]) for m in world.mail())


# --- customers' messages ---------------------------------------------------------------------------------


def internal_note(shop: Shop, thread_id: int, text: str) -> None:
    """A back-office note on a thread (private=1): only the staff sees it."""
    shop.state.insert(
        "customer_messages",
        {
            "id_employee": 1,
            "id_customer_thread": thread_id,
            "ip_address": "2130706433",
            "message": text,
            "file_name": "",
            "user_agent": "",
            "private": True,
            "date_add": shop.now(),
            "date_upd": shop.now(),
            "read": False,
        },
    )


def test_a_customers_message_tells_the_owner_with_reply_to_the_customer(world: World) -> None:
    world = with_owner(world, shop_admin_url="https://sklep.example.pl/admin-x7k2")
    order_id = order(world.shop, 1)  # before the first run
    world.sync()  # the baseline: messages written before it are not news
    world.shop.customer_message("Stara wiadomość?", order_id=order_id)  # after the baseline: news
    thread_id, _ = world.shop.customer_message("Czy mogę zmienić adres dostawy?", order_id=order_id)
    world.shop.advance(5)

    world.sync()

    alerts = to_owner(world)
    assert len(alerts) == 2
    alert = alerts[1]
    reference = world.shop.order_ref(order_id)
    assert str(alert["Subject"]) == f"Wiadomość od klienta: Jan Nowak1, zamówienie {reference}"
    assert str(alert["Reply-To"]) == "Jan Nowak1 <klient1@example.com>"
    text = text_of(alert)
    assert "Czy mogę zmienić adres dostawy?" in text
    assert f"id_customer_thread={thread_id}&viewcustomer_thread=1" in text
    # explain order shows it with the order's other emails.
    story = order_story_lines(find_order(world.store, reference), world.clock.now().tzinfo, lambda r: "pl")
    assert sum("owner_customer_message" in line for line in story) == 2


def test_the_staffs_replies_notes_and_old_messages_are_not_news(world: World) -> None:
    world = with_owner(world, owner_language="en")
    thread_id, _ = world.shop.customer_message("Before the bridge", email="pytanie@example.com")
    world.sync()
    world.shop.employee_reply(thread_id, "Dzień dobry, tak.")
    internal_note(world.shop, thread_id, "klient marudzi")
    world.shop.advance(5)
    world.sync()
    assert owner_rows(world) == []

    world.shop.customer_message("Do you ship to Germany?", email="pytanie@example.com")
    world.sync()
    [alert] = to_owner(world)
    assert str(alert["Subject"]) == "Message from pytanie@example.com"
    assert str(alert["Reply-To"]) == "pytanie@example.com"
    assert "Do you ship to Germany?" in text_of(alert) and "(no account)" in text_of(alert)
    world.sync()
    assert len(to_owner(world)) == 1  # told once


def test_a_checkout_comment_is_told_once_in_the_order_alert(world: World) -> None:
    world = with_owner(world)
    world.sync()
    order(world.shop, 1, comment="Proszę o fakturę.")
    world.sync()
    world.sync()

    [alert] = to_owner(world)
    assert "Proszę o fakturę." in text_of(alert) and str(alert["Subject"]).startswith("Nowe zamówienie")


def test_with_new_order_alerts_off_a_checkout_comment_is_a_message(world: World) -> None:
    world = with_owner(world, owner_alerts=frozenset({"customer_message"}))
    world.sync()
    order(world.shop, 1, comment="Proszę o fakturę.")
    world.sync()

    [alert] = to_owner(world)
    assert str(alert["Subject"]).startswith("Wiadomość od klienta: Jan Nowak1, zamówienie")


def test_no_message_reads_and_no_alerts_while_owner_email_is_empty(world: World) -> None:
    world.sync()
    world.shop.customer_message("Halo?", email="pytanie@example.com")
    world.sync()
    assert owner_rows(world) == []
    # Only the customer's acknowledgement (a customer-service email, bridge.plan.service) went out.
    assert [m["To"].addresses[0].addr_spec for m in world.mail()] == ["pytanie@example.com"]


def test_turning_message_alerts_off_and_on_again_tells_nothing_written_meanwhile(world: World) -> None:
    owner = with_owner(world)
    owner.sync()
    off = with_owner(world, owner_alerts=frozenset({"new_order"}))
    off.shop.customer_message("Napisane, gdy alert był wyłączony", email="pytanie@example.com")
    off.sync()
    owner.sync()  # on again: a fresh baseline
    owner.sync()
    assert owner_rows(owner) == []


# --- the daily summary ------------------------------------------------------------------------------------


def test_the_daily_summary_comes_once_at_its_hour_in_the_shops_time_zone(world: World) -> None:
    world = with_owner(
        world, owner_alerts=frozenset({"daily_summary"}), owner_summary_hour=11, owner_language="en"
    )
    world.sync()  # 09:00 UTC is 10:00 in Warsaw, the shop's time zone: before the hour
    world.clock.advance(timedelta(minutes=59))
    world.sync()
    assert owner_rows(world) == []

    world.clock.advance(timedelta(minutes=1))  # 11:00 in Warsaw (10:00 UTC)
    world.sync()
    [summary] = to_owner(world)
    assert str(summary["Subject"]).endswith("on November 26, 2026: 1 order")  # the demo shop's order
    assert "Nothing: no email waits for you and sending works." in text_of(summary)

    order(world.shop, 1)  # today, 27 November: the customer's emails go, the owner waits for tomorrow
    world.sync()
    world.clock.advance(timedelta(hours=2))
    world.sync()
    assert len(to_owner(world)) == 1

    world.clock.advance(timedelta(hours=21, minutes=50))  # 28 November, 10:50 in Warsaw
    world.sync()
    assert len(to_owner(world)) == 1
    world.clock.advance(timedelta(minutes=15))
    world.sync()
    world.sync()
    _, second = to_owner(world)
    assert str(second["Subject"]).endswith("on November 27, 2026: 1 order")
    text = text_of(second)
    assert "order_confirmation: 1" in text and "awaiting_bank_wire: 1" in text
    assert "PLN" in text and "owner_daily_summary: 1" in text  # yesterday's summary was sent yesterday


def test_after_downtime_only_yesterday_is_summarised(world: World) -> None:
    world = with_owner(world, owner_alerts=frozenset({"daily_summary"}))
    world.sync()  # 10:00 in Warsaw, past the default hour (8): the summary of 26 November
    world.clock.advance(timedelta(days=4))
    world.sync()
    world.sync()
    assert [str(m["Subject"]).split(", ")[-1].split(":")[0] for m in to_owner(world)] == [
        "26 listopada 2026",
        "30 listopada 2026",
    ]


# --- low stock --------------------------------------------------------------------------------------------


def test_low_stock_is_told_once_per_fall_at_the_shops_own_threshold(world: World) -> None:
    world = with_owner(world, owner_alerts=frozenset({"low_stock"}), owner_language="en")
    set_stock(world.shop.state, BOWL, 2)  # low before the bridge's first run: not news
    set_stock(world.shop.state, PLATE, 5)
    world.sync()
    world.sync()
    assert owner_rows(world) == []

    customer = world.shop.register_customer("Ewa", "Lis", "ewa@example.com", address=WARSAW)
    cart = world.shop.create_cart(customer.customer_id, [(PLATE, 2)], carrier_id=2)
    world.shop.place_order(cart, "przelewy24")  # 5 - 2 = 3: PS_LAST_QTIES (3) is reached
    world.sync()
    [alert] = to_owner(world)
    assert str(alert["Subject"]) == f"Low stock: {PLATE_NAME}"
    assert "left: 3" in text_of(alert) and "Reply-To" in alert

    set_stock(world.shop.state, PLATE, 1)  # lower still: the same fall
    world.sync()
    set_stock(world.shop.state, PLATE, 10)  # restocked: above the threshold again
    world.sync()
    assert len(to_owner(world)) == 1
    set_stock(world.shop.state, PLATE, 0)  # a new fall
    world.sync()
    world.sync()
    assert len(to_owner(world)) == 2 and "left: 0" in text_of(to_owner(world)[1])


def test_a_combination_is_told_by_itself_not_through_its_products_sum(world: World) -> None:
    world = with_owner(world, owner_alerts=frozenset({"low_stock"}), low_stock_threshold=5)
    world.sync()
    set_stock(world.shop.state, MUG, 3, attribute_id=MUG_HONEY)
    set_stock(world.shop.state, MUG, 1, attribute_id=MUG_COBALT)
    set_stock(world.shop.state, MUG, 0, attribute_id=MUG_MOSS)  # the mug's own row (the sum, 4) falls too

    world.sync()

    [alert] = to_owner(world)
    text = text_of(alert)
    assert text.count("wariant nr") == 3 and f"wariant nr {MUG_HONEY}" in text
    assert "zostało: 3 szt." in text and "zostało: 4 szt." not in text  # no line for the sum
    assert "5 lub mniej sztuk" in text


def test_no_stock_reads_while_the_low_stock_alert_is_off(world: World, shop_server: Simulator) -> None:
    world = with_owner(world)  # the default alerts: no low_stock
    world.sync()
    set_stock(world.shop.state, PLATE, 0)
    world.sync()
    assert owner_rows(world) == []
    assert not [r for r in shop_server.requests if "stock_availables" in r.path]
