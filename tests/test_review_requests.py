"""Review requests end to end (issue 7): N days after delivery, a fallback after shipping, one per order,
cancelled when the order is cancelled or refunded first. Real simulator, loopback SMTP, injected clock."""

from __future__ import annotations

from datetime import timedelta

from bridge.simulator.actions import Shop
from bridge.simulator.demo_shop import BOWL, MUG, MUG_HONEY
from bridge.state.outbox import OutboxRow, Status, list_rows
from tests.conftest import World, html_of, text_of
from tests.test_cart_reminders import customer, started

SHIPPED, DELIVERED, CANCELLED, REFUNDED = 4, 5, 6, 7


def DAYS(n: float) -> timedelta:
    return timedelta(days=n)


def paid_order(world: World, **settings: str) -> tuple[Shop, int]:
    shop = started(world, **settings).shop
    cart = shop.create_cart(customer(shop), [(MUG, 2, MUG_HONEY), (BOWL, 1)], carrier_id=2)
    order_id = shop.place_order(cart, "przelewy24")
    world.sync()
    return shop, order_id


def review_rows(world: World, *statuses: Status) -> list[OutboxRow]:
    rows = [row for row in list_rows(world.store, limit=1000) if row.kind == "review_request"]
    return [row for row in rows if not statuses or row.status in statuses]


def step(world: World, shop: Shop, delta: timedelta, state: int | None = None, order_id: int = 0) -> None:
    shop.advance(delta)
    if state is not None:
        shop.change_state(order_id, state)
    world.sync()


def test_a_delivered_order_is_asked_for_a_review_14_days_later_once_with_a_link_per_product(
    world: World,
) -> None:
    shop, order_id = paid_order(world)
    step(world, shop, DAYS(1), SHIPPED, order_id)
    step(world, shop, DAYS(2), DELIVERED, order_id)
    delivered_at = world.clock.now()
    step(world, shop, DAYS(14) - timedelta(hours=1))
    assert review_rows(world, Status.SENT) == []
    step(world, shop, timedelta(hours=2))
    [row] = review_rows(world, Status.SENT)
    assert row.not_before == delivered_at + DAYS(14)
    assert row.order_id == order_id and row.consent and row.consent.startswith("newsletter=1")
    [mail] = [m for m in world.mail() if m["List-Unsubscribe"]]
    html, text = html_of(mail), text_of(mail)
    for product_id in (MUG, BOWL):
        assert f"controller=product&amp;id_product={product_id}" in html
        assert f"controller=product&id_product={product_id}" in text
    step(world, shop, DAYS(30))
    assert len(review_rows(world)) == 1 and len([m for m in world.mail() if m["List-Unsubscribe"]]) == 1


def test_an_order_shipped_but_never_marked_delivered_is_asked_21_days_after_shipping(world: World) -> None:
    shop, order_id = paid_order(world)
    step(world, shop, DAYS(1), SHIPPED, order_id)
    shipped_at = world.clock.now()
    step(world, shop, DAYS(21) - timedelta(hours=1))
    assert review_rows(world, Status.SENT) == []
    step(world, shop, timedelta(hours=2))
    [row] = review_rows(world, Status.SENT)
    assert row.not_before == shipped_at + DAYS(21)


def test_a_delivery_after_shipping_moves_the_request_to_14_days_after_delivery(world: World) -> None:
    shop, order_id = paid_order(world)
    step(world, shop, DAYS(1), SHIPPED, order_id)
    step(
        world, shop, DAYS(10), DELIVERED, order_id
    )  # delivered late: 14 days from here, not 21 from shipping
    delivered_at = world.clock.now()
    step(world, shop, DAYS(11))  # 21 days after shipping
    assert review_rows(world, Status.SENT) == []
    step(world, shop, DAYS(3) + timedelta(hours=1))
    [row] = review_rows(world, Status.SENT)
    assert row.not_before == delivered_at + DAYS(14)


def test_an_order_cancelled_or_refunded_before_the_request_goes_gets_none(world: World) -> None:
    shop, cancelled = paid_order(world)
    cart = shop.create_cart(customer(shop, "jan@example.com"), [(BOWL, 1)], carrier_id=2)
    refunded = shop.place_order(cart, "przelewy24")
    world.sync()
    for order_id in (cancelled, refunded):
        shop.change_state(order_id, SHIPPED)
    step(world, shop, DAYS(1))
    for order_id in (cancelled, refunded):
        shop.change_state(order_id, DELIVERED)
    step(world, shop, DAYS(2))
    shop.change_state(cancelled, CANCELLED)
    shop.change_state(refunded, REFUNDED)
    step(world, shop, DAYS(5))
    step(world, shop, DAYS(20))
    rows = {row.order_id: row for row in review_rows(world)}
    assert rows[cancelled].status is Status.CANCELLED and "cancelled" in (rows[cancelled].skip_reason or "")
    assert rows[refunded].status is Status.CANCELLED and "refunded" in (rows[refunded].skip_reason or "")
    assert [m for m in world.mail() if m["List-Unsubscribe"]] == []


def test_a_customer_without_consent_gets_no_review_request_and_the_reason_is_recorded(world: World) -> None:
    shop = started(world).shop
    cart = shop.create_cart(customer(shop, newsletter=False), [(MUG, 1, MUG_HONEY)], carrier_id=2)
    order_id = shop.place_order(cart, "przelewy24")
    world.sync()
    step(world, shop, DAYS(1), DELIVERED, order_id)
    step(world, shop, DAYS(15))
    [row] = review_rows(world)
    assert row.status is Status.SKIPPED and "no marketing consent" in (row.skip_reason or "")


def test_review_requests_can_be_turned_off(world: World) -> None:
    shop, order_id = paid_order(world, REVIEW_REQUEST_DAYS="0")
    step(world, shop, DAYS(1), DELIVERED, order_id)
    step(world, shop, DAYS(30))
    assert review_rows(world) == []


def test_a_customer_who_unticks_the_newsletter_before_the_request_goes_gets_none(world: World) -> None:
    shop, order_id = paid_order(world)
    step(world, shop, DAYS(1), DELIVERED, order_id)
    [row] = review_rows(world, Status.QUEUED)
    shop.update_customer(row.customer_id or 0, newsletter=False)  # in "My account", a week later
    step(world, shop, DAYS(15))
    [row] = review_rows(world)
    assert row.status is Status.CANCELLED and "no marketing consent" in (row.skip_reason or "")
    assert [m for m in world.mail() if m["List-Unsubscribe"]] == []
