"""The heart of the bridge, end to end: the demo shop changes, `sync` runs, the right emails arrive once.

Real parts only: the webservice simulator over HTTP, a Gmail-like SMTP server with STARTTLS and AUTH,
an SQLite file. Time moves only when a test moves it.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from bridge.simulator import Simulator
from bridge.simulator.actions import PostalAddress, Shop
from bridge.simulator.demo_shop import BOWL, MUG, MUG_HONEY, PLATE, VASE
from bridge.state.outbox import Status, list_rows
from tests.conftest import World, html_of, text_of

WARSAW = PostalAddress("ul. Marszałkowska 10/4", "00-590", "Warszawa", phone="+48 600 700 800")


def customer(
    shop: Shop,
    first: str = "Zofia",
    last: str = "Wiśniewska",
    email: str = "zofia@example.com",
    **kwargs: object,
) -> int:
    return shop.register_customer(first, last, email, address=WARSAW, **kwargs).customer_id  # type: ignore[arg-type]


def order(shop: Shop, customer_id: int, payment: str = "ps_wirepayment", **kwargs: object) -> int:
    cart = shop.create_cart(customer_id, [(MUG, 2, MUG_HONEY), (BOWL, 1)], carrier_id=2)
    return shop.place_order(cart, payment, **kwargs)  # type: ignore[arg-type]


def started(world: World) -> World:
    """The bridge's first run (the baseline), then a minute passes."""
    summary = world.sync()
    assert summary.poll.baseline
    world.shop.advance(60)
    return world


def test_first_sync_records_where_the_shop_stands_and_sends_nothing(world: World) -> None:
    summary = world.sync()
    assert summary.poll.baseline
    assert world.mail() == []
    again = world.sync()  # the shop's six historical orders are not news on the second run either
    assert (again.poll.queued, again.delivery.sent) == (0, 0)
    assert world.mail() == []


def test_an_order_placed_gets_exactly_one_confirmation(world: World) -> None:
    shop = started(world).shop
    order_id = order(shop, customer(shop), "przelewy24")  # paid by card at checkout
    reference = shop.order_ref(order_id)
    shop.advance(30)

    summary = world.sync()
    assert summary.delivery.sent == 1
    [mail] = world.mail_to("zofia@example.com")
    assert reference in str(mail["Subject"])
    text, html = text_of(mail), html_of(mail)
    for part in (text, html):
        assert "Kubek ręcznie toczony (Kolor: Miodowy)" in part
        assert "Miska na zupę" in part
        assert "ul. Marszałkowska 10/4" in part and "00-590" in part
        assert "Paczkomat 24/7" in part
    assert "227,00\xa0zł" in text  # 2 × 69 + 89, as PrestaShop showed it at checkout
    assert mail["Message-ID"] and mail["Reply-To"] and mail["Auto-Submitted"] == "auto-generated"

    shop.advance(60)
    assert world.sync().delivery.sent == 0
    assert len(world.mail()) == 1


def test_paid_shipped_delivered_send_one_email_each_in_order_with_a_working_tracking_link(
    world: World,
) -> None:
    shop = started(world).shop
    order_id = order(shop, customer(shop))
    shop.advance(5)
    world.sync()  # confirmation + bank details
    assert str(world.mail()[0]["Subject"]).startswith("Potwierdzenie zamówienia")

    for state in (2, 3):  # paid, then processing
        shop.advance(timedelta(hours=3))
        shop.change_state(order_id, state)
        world.sync()
    shop.advance(timedelta(hours=1))
    shop.set_tracking(order_id, "PX 7700/112233")
    shop.change_state(order_id, 4)
    world.sync()
    shop.advance(timedelta(days=2))
    shop.change_state(order_id, 5)
    world.sync()

    kinds = [row.kind for row in sorted(list_rows(world.store, status=Status.SENT), key=lambda r: r.id)]
    assert kinds == [
        "order_confirmation",
        "awaiting_bank_wire",
        "payment_accepted",
        "processing",
        "shipped",
        "delivered",
    ]
    shipped = world.mail()[4]
    assert "https://sledzenie.paczkomat.example/?numer=PX%207700%2F112233" in html_of(shipped)
    assert "PX 7700/112233" in text_of(shipped)


def test_three_state_changes_between_two_polls_send_three_emails_in_order(world: World) -> None:
    shop = started(world).shop
    order_id = order(shop, customer(shop))
    world.sync()
    before = len(world.mail())
    shop.advance(timedelta(hours=1))
    shop.change_state(order_id, 2)  # three changes in the same second, as a busy back office does
    shop.change_state(order_id, 3)
    shop.change_state(order_id, 4)
    world.sync()
    kinds = [row.kind for row in sorted(list_rows(world.store, status=Status.SENT), key=lambda r: r.id)]
    assert kinds[-3:] == ["payment_accepted", "processing", "shipped"]
    assert len(world.mail()) == before + 3


def test_the_same_state_twice_sends_one_email_per_history_row(world: World) -> None:
    shop = started(world).shop
    order_id = order(shop, customer(shop), "przelewy24")
    world.sync()
    shop.advance(60)
    shop.change_state(order_id, 3)
    world.sync()
    shop.advance(60)
    shop.change_state(order_id, 3)
    world.sync()
    processing = [row for row in list_rows(world.store, status=Status.SENT) if row.kind == "processing"]
    assert len(processing) == 2
    assert len({row.message_id for row in processing}) == 2


def test_a_tracking_number_typed_after_shipping_gets_its_own_email(world: World) -> None:
    shop = started(world).shop
    order_id = order(shop, customer(shop), "przelewy24")
    shop.change_state(order_id, 4)
    world.sync()
    shop.advance(timedelta(minutes=30))
    shop.set_tracking(order_id, "620555444333")  # moves no timestamp anywhere in PrestaShop
    summary = world.sync()
    assert summary.delivery.sent == 1
    [tracking] = [row for row in list_rows(world.store, status=Status.SENT) if row.kind == "tracking_added"]
    assert "620555444333" in text_of(world.mail()[-1])
    assert tracking.order_id == order_id
    shop.advance(60)
    assert world.sync().delivery.sent == 0


def test_a_tracking_number_typed_before_shipping_rides_in_the_shipped_email(world: World) -> None:
    shop = started(world).shop
    order_id = order(shop, customer(shop), "przelewy24")
    world.sync()
    shop.advance(60)
    shop.set_tracking(order_id, "RR123456785PL")
    world.sync()  # still processing: nothing to say yet
    shop.advance(60)
    shop.change_state(order_id, 4)
    world.sync()
    kinds = [row.kind for row in list_rows(world.store, status=Status.SENT)]
    assert "tracking_added" not in kinds
    assert "RR123456785PL" in text_of(world.mail()[-1])


def test_only_shipped_orders_without_a_number_have_their_carriers_re_read_when_idle(
    world: World, shop_server: Simulator
) -> None:
    shop = started(world).shop
    orders = [order(shop, customer(shop, email=f"k{n}@example.com"), "przelewy24") for n in range(5)]
    world.sync()  # five confirmations; none shipped yet

    def carrier_reads() -> list[str]:
        shop.advance(60)
        before = len(shop_server.requests)
        world.sync()
        return [r.path for r in shop_server.requests[before:] if r.path.startswith("/api/order_carriers")]

    assert carrier_reads() == []  # a number typed now would ride in the shipped email anyway
    shop.change_state(orders[0], 4)  # shipped without a number
    world.sync()
    [watch] = carrier_reads()
    assert f"filter%5Bid_order%5D=%5B{orders[0]}%5D" in watch or f"[{orders[0]}]" in watch
    shop.set_tracking(orders[0], "PX123")
    world.sync()
    assert [r.kind for r in list_rows(world.store, status=Status.SENT)].count("tracking_added") == 1
    assert carrier_reads() == []  # it has its number: nothing left to watch


def test_a_back_office_payment_is_confirmed_once(world: World) -> None:
    shop = started(world).shop
    order_id = order(shop, customer(shop), "ps_checkpayment")
    world.sync()
    shop.advance(timedelta(days=1))
    shop.add_payment(order_id, "227.00", "Czek", transaction_id="CHK-778899")  # no state change
    world.sync()
    payment_mail = world.mail()[-1]
    assert "CHK-778899" in text_of(payment_mail)
    shop.advance(timedelta(hours=1))
    shop.change_state(order_id, 2)  # the owner later also moves it to Payment accepted
    world.sync()
    confirmations = [row for row in list_rows(world.store) if row.kind == "payment_accepted"]
    assert [row.status for row in confirmations] == [Status.SKIPPED, Status.SENT]
    skipped = next(row for row in confirmations if row.status is Status.SKIPPED)
    assert skipped.skip_reason == "the customer already got a payment confirmation"


def test_orders_placed_in_the_same_second_each_get_their_confirmation(world: World) -> None:
    shop = started(world).shop
    people = [customer(shop, "Jan", f"Nowak{i}", f"jan{i}@example.com") for i in range(5)]
    orders = [order(shop, person, "przelewy24") for person in people]  # same shop second
    world.sync()
    confirmed = {
        row.order_id for row in list_rows(world.store, status=Status.SENT) if row.kind == "order_confirmation"
    }
    assert confirmed == set(orders)


def test_a_history_row_that_becomes_visible_late_is_not_lost(world: World) -> None:
    """Ids are handed out before commit: a row can appear after a higher id was read."""
    shop = started(world).shop
    first = order(shop, customer(shop), "przelewy24")
    second = order(shop, customer(shop, "Ewa", "Kowal", "ewa@example.com"), "przelewy24")
    world.sync()
    shop.advance(60)
    early = shop.change_state(first, 3)
    late_row = shop.state.get("order_histories", early)
    shop.state.delete("order_histories", early)  # not committed yet when the bridge reads
    shop.change_state(second, 3)
    world.sync()
    shop.state.insert("order_histories", {k: v for k, v in late_row.items() if k != "id"}, id=early)
    shop.advance(60)
    world.sync()
    processing = {
        row.order_id for row in list_rows(world.store, status=Status.SENT) if row.kind == "processing"
    }
    assert processing == {first, second}


def test_first_sync_on_a_shop_with_200_orders_sends_nothing_and_since_catches_up_exactly(
    world: World,
) -> None:
    world.settings = dataclasses.replace(world.settings, send_rate_per_minute=100)  # one cycle sends all 50
    shop = world.shop
    buyer = customer(shop)
    placed = []
    for _day in range(10):
        for _ in range(20):
            placed.append((shop.now(), order(shop, buyer, "przelewy24")))
            shop.advance(60)
        shop.advance(timedelta(days=1))
    assert world.sync().poll.baseline
    assert world.mail() == []

    cut = placed[150][0]
    after = [order_id for when, order_id in placed if when >= cut]
    summary = world.sync(since=cut.replace(tzinfo=shop.state.timezone))
    assert summary.poll.queued == len(after) == 50
    confirmed = [row.order_id for row in list_rows(world.store, status=Status.SENT, limit=500)]
    assert sorted(confirmed) == sorted(after)
    assert world.sync().poll.queued == 0


def test_a_deleted_customer_is_skipped_with_a_reason(world: World) -> None:
    shop = started(world).shop
    buyer = customer(shop)
    order_id = order(shop, buyer, "przelewy24")
    shop.delete_customer(buyer)
    world.sync()
    assert world.mail() == []
    [row] = [
        row for row in list_rows(world.store) if row.order_id == order_id and row.kind == "order_confirmation"
    ]
    assert row.status is Status.SKIPPED
    assert row.skip_reason == f"customer #{buyer} was deleted in the shop"


def test_an_order_without_products_is_skipped_with_a_reason(world: World) -> None:
    shop = started(world).shop
    order_id = order(shop, customer(shop), "przelewy24")
    shop.state.update("orders", order_id, associations={})  # the rows of a broken import
    world.sync()
    [row] = [
        row for row in list_rows(world.store) if row.order_id == order_id and row.kind == "order_confirmation"
    ]
    assert (row.status, row.skip_reason) == (Status.SKIPPED, "the order has no products")


def test_a_customer_name_full_of_html_and_line_breaks_cannot_inject_anything(world: World) -> None:
    shop = started(world).shop
    buyer = customer(
        shop, "<script>alert(1)</script>", "Kowalski\r\nBcc: victim@evil.example", "evil@example.com"
    )
    order(shop, buyer, "przelewy24")
    world.sync()
    [received] = world.smtp.messages
    assert received.recipients == ("evil@example.com",)
    head = received.raw.split(b"\r\n\r\n", 1)[0].lower()
    assert b"\r\nbcc:" not in head
    assert "<script>" not in html_of(received.message)
    assert "&lt;script&gt;" in html_of(received.message)
    assert "<script>alert(1)</script>" in text_of(received.message)


def test_an_unknown_order_state_from_a_module_sends_nothing_and_says_why(world: World) -> None:
    shop = started(world).shop
    order_id = order(shop, customer(shop), "przelewy24")
    world.sync()
    shop.advance(60)
    shop.change_state(order_id, 14)  # a payment module's own state: no template the bridge knows
    world.sync()
    skipped = [row for row in list_rows(world.store, status=Status.SKIPPED) if row.order_id == order_id]
    assert any("has no customer email" in (row.skip_reason or "") for row in skipped)


def test_the_owner_can_map_a_module_state_to_an_email(world: World) -> None:
    import dataclasses

    world.settings = dataclasses.replace(world.settings, status_emails={14: "payment_accepted"})
    shop = started(world).shop
    order_id = order(shop, customer(shop))
    world.sync()
    shop.advance(60)
    shop.change_state(order_id, 14)
    world.sync()
    newest = list_rows(world.store, status=Status.SENT)[0]
    assert (newest.kind, newest.order_id) == ("payment_accepted", order_id)


def test_emails_follow_the_order_language(world: World) -> None:
    shop = started(world).shop
    buyer = customer(shop, "Emily", "Clarke", "emily@example.co.uk", language="en")
    cart = shop.create_cart(buyer, [(VASE, 1), (PLATE, 2)], currency="EUR", carrier_id=4)
    shop.place_order(cart, "przelewy24")
    world.sync()
    [mail] = world.mail()
    assert str(mail["Subject"]).startswith("Order confirmation")
    assert "€" in text_of(mail)


def test_an_order_placed_in_payment_error_gets_the_error_email_and_no_confirmation(world: World) -> None:
    from bridge.simulator.actions import PaymentModule

    failing = PaymentModule("ps_card", {"pl": "Karta", "en": "Card"}, "PS_OS_ERROR")
    shop = started(world).shop
    buyer = customer(shop)
    cart = shop.create_cart(buyer, [(MUG, 1, MUG_HONEY)], carrier_id=2)
    order_id = shop.place_order(cart, failing)
    world.sync()
    rows = {row.kind: row for row in list_rows(world.store) if row.order_id == order_id}
    assert rows["payment_error"].status is Status.SENT
    assert rows["order_confirmation"].status is Status.SKIPPED
    assert "failed state" in (rows["order_confirmation"].skip_reason or "")
    assert len(world.mail()) == 1


def test_the_confirmation_shows_each_products_image_from_the_shops_public_url(world: World) -> None:
    shop = started(world).shop
    order(shop, customer(shop), "przelewy24")
    world.sync()
    html = html_of(world.mail()[0])
    assert 'src="https://zlota-laka.example/img/p/1/1-small_default.jpg"' in html  # the mug
    assert 'src="https://zlota-laka.example/img/p/2/2-small_default.jpg"' in html  # the bowl


def test_product_images_can_be_turned_off(world: World) -> None:
    world.settings = dataclasses.replace(world.settings, product_images="")
    shop = started(world).shop
    order(shop, customer(shop), "przelewy24")
    world.sync()
    assert "/img/p/" not in html_of(world.mail()[0])
