"""The shop client's cart-reminder reads and its one write (a discount code), against the simulator over
real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

import pytest

from bridge.clock import ManualClock
from bridge.errors import ShopPermissionError, ShopRequestError
from bridge.model.records import CartRuleSpec
from bridge.secret import Secret
from bridge.shop.client import ShopClient
from bridge.simulator import DEMO_API_KEY, Simulator
from bridge.simulator.actions import PostalAddress, Shop
from bridge.simulator.demo_shop import (
    BOWL,
    EN,
    MUG,
    MUG_COBALT,
    MUG_HONEY,
    PL,
    POT,
    POT_L,
    POT_M,
    TEA,
    build_demo_shop,
)

FLAVOURS = ("1.7.7", "8.1", "8.2")
EVERY_FLAVOUR = pytest.mark.parametrize("flavour", FLAVOURS, indirect=True)
START = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)  # 10:00 in Warsaw
LIMITED_KEY = "LIMITEDKEY0LIMITEDKEY0LIMITEDKEY"


@pytest.fixture
def flavour(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "8.1"))


@pytest.fixture
def shop() -> Shop:
    return build_demo_shop(ManualClock(START))


@pytest.fixture
def sim(shop: Shop, flavour: str) -> Iterator[Simulator]:
    with Simulator(shop.state, flavour=flavour) as simulator:
        yield simulator


@pytest.fixture
def client(sim: Simulator) -> Iterator[ShopClient]:
    with ShopClient(sim.url, Secret(DEMO_API_KEY), sleep=lambda _: None) as shop_client:
        yield shop_client


def queries(sim: Simulator, resource: str, method: str = "GET") -> list[dict[str, list[str]]]:
    return [
        parse_qs(urlsplit(r.path).query)
        for r in sim.requests
        if r.resource == resource and r.method == method
    ]


def customer(shop: Shop, email: str) -> int:
    ref = shop.register_customer(
        "Anna", "Nowak", email, address=PostalAddress("ul. Polna 3", "00-002", "Warszawa")
    )
    return ref.customer_id


def spec(**changes: object) -> CartRuleSpec:
    values: dict[str, object] = {
        "code": "WRACAJ-7Q2X",
        "names": {EN: "Your cart discount", PL: "Rabat na koszyk"},
        "id_customer": 0,
        "reduction_percent": Decimal("10"),
        "date_from": START,
        "date_to": START + timedelta(days=7),
        "description": "Created by the bridge for cart #12",
    }
    values.update(changes)
    return CartRuleSpec(**values)  # type: ignore[arg-type]


# -- carts ------------------------------------------------------------------------------------------------


def test_changed_carts_are_known_customers_carts_in_the_window_oldest_change_first(
    client: ShopClient, shop: Shop, sim: Simulator
) -> None:
    anna, piotr = customer(shop, "anna@example.com"), customer(shop, "piotr@example.com")
    shop.advance(timedelta(hours=1))
    first = shop.create_cart(anna, [(BOWL, 1)], carrier_id=2)
    second = shop.create_cart(piotr, [(TEA, 2)], currency="EUR", carrier_id=2)
    shop.create_cart(None, [(TEA, 1)])  # an anonymous visitor: nobody to write to
    shop.advance(timedelta(minutes=10))
    shop.set_cart_items(first, [(BOWL, 3)])  # moves to the end of the window
    shop.advance(timedelta(hours=2))
    shop.create_cart(anna, [(MUG, 1, MUG_COBALT)], carrier_id=2)  # after `until`

    since = START + timedelta(hours=1)
    carts = client.carts_changed(since, since + timedelta(minutes=30))

    assert [cart.id for cart in carts] == [second, first]
    assert [cart.id_customer for cart in carts] == [piotr, anna]
    assert carts[0].id_currency == 2
    assert carts[1].date_upd == datetime(2026, 11, 27, 10, 10, tzinfo=UTC)  # the same instant, shop-local
    assert all(cart.rows == () for cart in carts)  # a light read: rows come with `carts(ids=...)`
    (query,) = queries(sim, "carts")
    assert query["display"] == ["[id,id_customer,id_currency,id_lang,date_add,date_upd]"]
    assert query["filter[id_customer]"] == [">[0]"]
    assert query["date"] == ["1"]


def test_changed_carts_page_through_many_carts_changed_in_the_same_second(
    client: ShopClient, shop: Shop
) -> None:
    anna = customer(shop, "anna@example.com")
    created = [shop.create_cart(anna, [(TEA, 1)], carrier_id=2) for _ in range(150)]
    carts = client.carts_changed(START - timedelta(seconds=1))
    ours = [cart.id for cart in carts if cart.id in set(created)]
    assert ours == created  # each once, in id order within the second


@EVERY_FLAVOUR
def test_full_carts_carry_their_rows_and_an_emptied_cart_has_none(client: ShopClient, shop: Shop) -> None:
    anna = customer(shop, "anna@example.com")
    full = shop.create_cart(anna, [(MUG, 2, MUG_HONEY), (POT, 1, POT_L), (BOWL, 3)], carrier_id=2)
    emptied = shop.create_cart(anna, [(TEA, 1)], carrier_id=2)
    shop.empty_cart(emptied)
    carts = {cart.id: cart for cart in client.carts(ids=[full, emptied])}
    rows = [(row.id_product, row.id_product_attribute, row.quantity) for row in carts[full].rows]
    assert rows == [(MUG, MUG_HONEY, 2), (POT, POT_L, 1), (BOWL, 0, 3)]
    assert carts[emptied].rows == ()


def test_orders_placed_by_are_those_customers_orders_from_since_on(
    client: ShopClient, shop: Shop, sim: Simulator
) -> None:
    anna, piotr, ewa = (customer(shop, f"{name}@example.com") for name in ("anna", "piotr", "ewa"))
    before = shop.place_order(shop.create_cart(anna, [(BOWL, 1)], carrier_id=2))
    since = START + timedelta(minutes=5)
    shop.advance(timedelta(minutes=5))
    at_since = shop.place_order(shop.create_cart(anna, [(TEA, 1)], carrier_id=2))
    shop.advance(timedelta(minutes=1))
    piotr_cart = shop.create_cart(piotr, [(TEA, 1)], carrier_id=2)
    by_piotr = shop.place_order(piotr_cart)
    shop.place_order(shop.create_cart(ewa, [(TEA, 1)], carrier_id=2))  # not asked about

    orders = client.orders_placed_by([anna, piotr], since)

    assert [order.id for order in orders] == [at_since, by_piotr]
    assert before not in {order.id for order in orders}
    assert (orders[1].id_cart, orders[1].id_customer) == (piotr_cart, piotr)
    assert orders[0].date_add == since  # at `since` counts (an inclusive range, not `>`)
    (query,) = queries(sim, "orders")
    assert query["display"] == ["[id,id_cart,id_customer,date_add]"]
    assert query["filter[id_customer]"] == [f"[{anna}|{piotr}]"]
    assert query["filter[date_add]"] == ["[2026-11-27 10:05:00,9999-12-31 23:59:59]"]


def test_orders_placed_by_ask_about_a_hundred_customers_per_request(
    client: ShopClient, sim: Simulator
) -> None:
    assert client.orders_placed_by(range(1, 251), START) == []
    assert len(queries(sim, "orders")) == 3


# -- products priced by the shop --------------------------------------------------------------------------


@EVERY_FLAVOUR
def test_cart_products_are_priced_by_the_shop_with_tax_in_one_request(
    client: ShopClient, sim: Simulator
) -> None:
    lines = [(MUG, MUG_COBALT), (POT, POT_M), (POT, 0), (BOWL, 0), (9999, 0)]
    found = client.cart_products(lines, currency_id=1)

    assert sorted(found) == [MUG, BOWL, POT]  # product 9999 is gone from the shop: simply absent
    assert found[MUG].prices == {MUG_COBALT: Decimal("69.000000")}
    # M is 20 zł gross more, stored as 16.260163 net: the shop's own sum is 95.000001, and it is kept.
    assert found[POT].prices == {0: Decimal("75.000000"), POT_M: Decimal("95.000001")}
    assert found[BOWL].prices == {0: Decimal("89.000001")}  # 72.357724 net x 1.23
    assert found[MUG].name.get(PL) == "Kubek ręcznie toczony"
    assert found[MUG].name.get(EN) == "Hand-thrown mug"
    assert found[MUG].link_rewrite.get(PL) == "kubek-recznie-toczony"
    assert (found[MUG].id_default_image, found[MUG].active) == (MUG, True)
    (query,) = queries(sim, "products")
    assert query["price[p0][decimals]"] == ["6"]  # the shop would round to 2 otherwise
    assert query["price[p5][product_attribute]"] == [str(POT_M)]
    assert query["display"] == ["[id,name,link_rewrite,id_default_image,active,p0,p1,p5]"]


def test_cart_products_in_euro_are_converted_by_the_shop(client: ShopClient) -> None:
    found = client.cart_products([(MUG, MUG_COBALT), (TEA, 0)], currency_id=2)
    assert found[MUG].prices == {MUG_COBALT: Decimal("15.870000")}  # 69 zł x 0.23
    assert found[TEA].prices == {0: Decimal("6.670000")}  # 29 zł x 0.23, at 8 % VAT


def test_a_deactivated_product_still_comes_back_marked_inactive(client: ShopClient, shop: Shop) -> None:
    shop.state.update("products", BOWL, active=False)
    assert client.cart_products([(BOWL, 0)], currency_id=1)[BOWL].active is False


def test_many_combinations_are_priced_in_several_requests_with_short_urls(
    client: ShopClient, shop: Shop, sim: Simulator
) -> None:
    extra = [
        shop.add_combination(POT, {"pl": [("Kolor", f"K{n}")]}, price_impact=Decimal(n)) for n in range(1, 61)
    ]
    found = client.cart_products([(POT, combination) for combination in extra], currency_id=1)

    requests_made = [r for r in sim.requests if r.resource == "products"]
    assert len(requests_made) > 1
    assert all(len(r.path) < 7000 for r in requests_made)
    assert len(found[POT].prices) == 60
    # 75 zł gross, plus the impact (net) with 23 % VAT on it.
    assert found[POT].prices[extra[9]] == Decimal("87.300000")


# -- discount codes ---------------------------------------------------------------------------------------


@EVERY_FLAVOUR
def test_a_discount_code_is_created_with_one_xml_post_and_its_id_returned(
    client: ShopClient, shop: Shop, sim: Simulator
) -> None:
    rule_id = client.create_cart_rule(spec(id_customer=4))

    (post,) = [r for r in sim.requests if r.method == "POST"]
    assert post.status == 201
    assert post.body.startswith(b"<?xml")  # an XML exchange, as the webservice reads and answers writes
    created = ElementTree.fromstring(post.body).findtext("cart_rule/id")  # noqa: S314
    assert rule_id == int(str(created))
    rule = shop.state.get("cart_rules", rule_id)
    assert (rule["code"], rule["id_customer"], rule["reduction_percent"]) == ("WRACAJ-7Q2X", 4, Decimal("10"))
    assert (rule["quantity"], rule["quantity_per_user"], rule["active"], rule["highlight"]) == (
        1,
        1,
        True,
        False,
    )
    assert (rule["partial_use"], rule["priority"]) == (False, 1)
    assert rule["date_from"] == datetime(2026, 11, 27, 10, 0)  # noqa: DTZ001 - the shop's wall time
    assert rule["date_to"] == datetime(2026, 12, 4, 10, 0)  # noqa: DTZ001
    assert rule["name"] == {EN: "Your cart discount", PL: "Rabat na koszyk"}
    assert client.find_cart_rule("WRACAJ-7Q2X") == rule_id


def test_an_amount_code_carries_its_currency_and_tax_mode(client: ShopClient, shop: Shop) -> None:
    rule_id = client.create_cart_rule(
        spec(
            reduction_percent=None,
            reduction_amount=Decimal("20.50"),
            reduction_currency=2,
            reduction_tax=False,
        )
    )
    rule = shop.state.get("cart_rules", rule_id)
    assert (rule["reduction_amount"], rule["reduction_currency"], rule["reduction_tax"]) == (
        Decimal("20.50"),
        2,
        False,
    )


def test_a_created_code_takes_ten_percent_off_at_checkout(client: ShopClient, shop: Shop) -> None:
    anna = customer(shop, "anna@example.com")
    client.create_cart_rule(spec(code="ANNA10", id_customer=anna))
    order_id = shop.place_order(shop.create_cart(anna, [(BOWL, 2)], carrier_id=2), vouchers=["ANNA10"])
    assert shop.state.get("orders", order_id)["total_discounts"] == Decimal("17.80")


def test_a_key_without_post_on_cart_rules_is_told_where_to_tick_it(shop: Shop, sim: Simulator) -> None:
    sim.add_key(LIMITED_KEY, {"cart_rules": ["GET"], "carts": ["GET"]})
    with ShopClient(sim.url, Secret(LIMITED_KEY), timezone="Europe/Warsaw") as limited:
        assert limited.can_create_cart_rules() is False
        with pytest.raises(ShopPermissionError, match="tick POST for `cart_rules`") as refused:
            limited.create_cart_rule(spec())
    assert refused.value.status == 405
    assert shop.state.rows("cart_rules") == []


def test_a_full_key_may_create_cart_rules(client: ShopClient) -> None:
    assert client.can_create_cart_rules() is True


def test_a_rule_the_shop_refuses_is_a_request_error_with_the_shops_reason(client: ShopClient) -> None:
    # Polish is the shop's default language: a rule named only in English is refused (code 84).
    with pytest.raises(ShopRequestError, match="CartRule->name is empty") as refused:
        client.create_cart_rule(spec(names={EN: "Your cart discount"}))
    assert refused.value.status == 400


def test_a_post_the_shop_fails_is_not_retried_and_the_code_may_exist_all_the_same(
    client: ShopClient, sim: Simulator
) -> None:
    sim.faults.next("500", resource="cart_rules")
    with pytest.raises(ShopRequestError, match="not retried"):
        client.create_cart_rule(spec(code="LOST-ANSWER"))
    assert len([r for r in sim.requests if r.method == "POST"]) == 1
    assert client.find_cart_rule("LOST-ANSWER") is not None  # PHP died after saving


def test_a_post_that_times_out_is_not_retried(shop: Shop, sim: Simulator) -> None:
    sim.faults.timeout_hold = 30
    sim.faults.next("timeout", resource="cart_rules")
    with (
        ShopClient(sim.url, Secret(DEMO_API_KEY), timeout=0.5, sleep=lambda _: None) as impatient,
        pytest.raises(ShopRequestError, match="may have created it anyway"),
    ):
        impatient.create_cart_rule(spec())
    assert [kind for kind, _path in sim.faults.injected] == ["timeout"]
    assert len(shop.state.rows("cart_rules")) == 1  # created once, and not posted again
    sim.faults.release.set()  # what stop() does: the held answer goes out at once


def test_the_api_key_stays_out_of_the_post_and_its_errors(client: ShopClient, sim: Simulator) -> None:
    sim.faults.next("500", resource="cart_rules")
    with pytest.raises(ShopRequestError) as failed:
        client.create_cart_rule(spec())
    assert DEMO_API_KEY not in str(failed.value)
    assert failed.value.__cause__ is None and failed.value.__context__ is None
    assert all(DEMO_API_KEY not in r.path for r in sim.requests)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"code": "HAS SPACE"}, "code"),
        ({"names": {}}, "name"),
        ({"date_to": START}, "after date_from"),
        ({"date_from": datetime(2026, 11, 27, 10, 0)}, "timezone-aware"),  # noqa: DTZ001 - the point
        ({"reduction_percent": Decimal("0")}, "above 0"),
        ({"reduction_amount": Decimal("5")}, "exactly one"),
        ({"reduction_percent": None, "reduction_amount": Decimal("5")}, "reduction_currency"),
        ({"quantity": 0}, "at least 1"),
    ],
)
def test_a_cart_rule_the_shop_would_store_wrongly_is_refused_before_sending(
    changes: dict[str, object], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        spec(**changes)


def test_a_copied_client_reads_the_same_shop_with_its_own_session(client: ShopClient, sim: Simulator) -> None:
    client.languages()
    with client.copy() as twin:
        assert twin.base_url == client.base_url and twin.url_form == "api"
        assert [c.iso_code for c in twin.currencies()] == ["PLN", "EUR"]
        assert twin._transport._session is not client._transport._session
