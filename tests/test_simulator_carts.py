"""The simulator's side of cart reminders and discount codes: computed product prices, `POST cart_rules`,
cart actions, vouchers at checkout and a shop's response time.

What PrestaShop does here was read in its code (`WebserviceRequest::specificPriceCalculation`,
`Product::priceCalculation`, `WebserviceOutputBuilder::renderEntity`, `saveEntityFromXml`, `CartRule`,
`ObjectModel::validateField`); the real 8.1.2 shop that was recorded had no cart rules and was never asked
for prices, so these tests pin the simulator to that reading.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from xml.etree import ElementTree

import pytest
import requests

from bridge.clock import ManualClock
from bridge.simulator import DEMO_API_KEY, Simulator
from bridge.simulator.actions import PostalAddress, Shop
from bridge.simulator.demo_shop import BOWL, EN, MUG, MUG_COBALT, PL, POT, POT_M, TEA, build_demo_shop

START = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)  # 10:00 in Warsaw
LIMITED_KEY = "LIMITEDKEY0LIMITEDKEY0LIMITEDKEY"
RULE = """<?xml version="1.0" encoding="UTF-8"?>
<prestashop xmlns:xlink="http://www.w3.org/1999/xlink">
<cart_rule>
  <id_customer>{customer}</id_customer>
  <date_from>2026-11-27 10:00:00</date_from>
  <date_to>2026-12-27 10:00:00</date_to>
  <description>Reminder code</description>
  <quantity>1</quantity>
  <quantity_per_user>1</quantity_per_user>
  <priority>1</priority>
  <partial_use>0</partial_use>
  <code>{code}</code>
  <minimum_amount>0</minimum_amount>
  <minimum_amount_tax>1</minimum_amount_tax>
  <minimum_amount_currency>1</minimum_amount_currency>
  <minimum_amount_shipping>0</minimum_amount_shipping>
  <free_shipping>0</free_shipping>
  <reduction_percent>{percent}</reduction_percent>
  <reduction_amount>0</reduction_amount>
  <reduction_tax>1</reduction_tax>
  <reduction_currency>0</reduction_currency>
  <highlight>0</highlight>
  <active>1</active>
  <name><language id="1">Your cart discount</language><language id="2">Rabat na koszyk</language></name>
</cart_rule>
</prestashop>
"""


def rule_xml(code: str = "WRACAJ10", *, percent: str = "10", customer: int = 0) -> bytes:
    return RULE.format(code=code, percent=percent, customer=customer).encode()


@pytest.fixture
def shop() -> Shop:
    return build_demo_shop(ManualClock(START))


@pytest.fixture
def sim(shop: Shop) -> Iterator[Simulator]:
    with Simulator(shop.state, flavour="8.1") as simulator:
        yield simulator


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        http.auth = (DEMO_API_KEY, "")
        yield http


def get(http: requests.Session, sim: Simulator, path: str, **params: str) -> requests.Response:
    return http.get(f"{sim.url}/api/{path}", params=params, timeout=10)


def post(http: requests.Session, sim: Simulator, body: bytes, **params: str) -> requests.Response:
    return http.post(f"{sim.url}/api/cart_rules", params=params, data=body, timeout=10)


def products(http: requests.Session, sim: Simulator, **params: str) -> list[dict[str, Any]]:
    answer = get(http, sim, "products", output_format="JSON", **params)
    assert answer.status_code == 200, answer.text
    rows = answer.json()["products"]
    assert isinstance(rows, list)
    return rows


def new_customer(shop: Shop, email: str = "anna@example.com") -> int:
    ref = shop.register_customer(
        "Anna", "Kowalska", email, address=PostalAddress("ul. Długa 5", "00-001", "Warszawa")
    )
    return ref.customer_id


# -- computed prices (`price[alias][param]`) -------------------------------------------------------------


def test_a_price_alias_is_the_products_price_with_tax_in_the_shops_currency(
    session: requests.Session, sim: Simulator
) -> None:
    (mug,) = products(
        session, sim, display="[id,p0]", **{"filter[id]": f"[{MUG}]", "price[p0][use_tax]": "1"}
    )
    # 69.00 zł gross, stored as 56.097561 net at 23 % VAT.
    assert mug == {"id": MUG, "p0": "69.000000"}


def test_without_tax_and_in_euro_the_shop_converts_and_leaves_tax_out(
    session: requests.Session, sim: Simulator
) -> None:
    (mug,) = products(
        session,
        sim,
        display="[id,net,eur]",
        **{
            "filter[id]": f"[{MUG}]",
            "price[net][use_tax]": "0",
            "price[net][decimals]": "6",
            "price[eur][currency]": "2",
            "price[eur][decimals]": "6",
        },
    )
    assert mug["net"] == "56.097561"
    assert mug["eur"] == "15.870000"  # 56.097561 x 0.23 EUR/PLN x 1.23


def test_a_combination_adds_its_price_impact_and_a_foreign_one_prices_nothing(
    session: requests.Session, sim: Simulator
) -> None:
    rows = products(
        session,
        sim,
        display="[id,p0,pm]",
        **{
            "filter[id]": f"[{MUG}|{POT}]",
            "sort": "[id_ASC]",
            "price[p0][use_tax]": "1",
            "price[pm][product_attribute]": str(POT_M),
        },
    )
    mug, pot = rows
    assert pot["p0"] == "75.000000"  # the default combination (S) has no impact
    assert pot["pm"] == "95.000000"  # M costs 20 zł more
    assert mug["pm"] == "0.000000"  # not one of the mug's combinations: PrestaShop computes null


def test_decimals_default_to_the_rounding_mode_not_to_six(session: requests.Session, sim: Simulator) -> None:
    (mug,) = products(
        session, sim, display="[id,p0]", **{"filter[id]": f"[{MUG}]", "price[p0][use_tax]": "0"}
    )
    # PS_PRICE_ROUND_MODE (2 on a fresh install) is the default number of decimals: 56.097561 -> 56.10.
    assert mug["p0"] == "56.100000"


def test_an_unknown_currency_prices_everything_at_zero(session: requests.Session, sim: Simulator) -> None:
    (mug,) = products(
        session, sim, display="[id,p0]", **{"filter[id]": f"[{MUG}]", "price[p0][currency]": "99"}
    )
    assert mug["p0"] == "0.000000"


def test_display_full_puts_every_alias_after_the_last_field_and_before_the_associations(
    session: requests.Session, sim: Simulator
) -> None:
    (mug,) = products(
        session,
        sim,
        display="full",
        **{"filter[id]": f"[{MUG}]", "price[B][use_tax]": "1", "price[a][use_tax]": "0"},
    )
    keys = list(mug)
    assert keys[-3:] == ["b", "a", "associations"]  # query order, lower-cased, before the associations
    assert keys[-4] == "available_later"  # the last stored field


def test_display_lists_show_only_the_aliases_they_name_by_their_exact_spelling(
    session: requests.Session, sim: Simulator
) -> None:
    params = {"filter[id]": f"[{MUG}]", "price[Gross][use_tax]": "1", "price[other][use_tax]": "0"}
    (mug,) = products(session, sim, display="[name,Gross,id]", language=str(PL), **params)
    assert mug == {"id": MUG, "name": "Kubek ręcznie toczony", "gross": "69.000000"}
    wrong_case = get(session, sim, "products", output_format="JSON", display="[id,gross]", **params)
    assert wrong_case.status_code == 500  # 400 code 35 plus PHP 8's warnings
    assert wrong_case.json()["errors"][0]["code"] == 35


def test_an_alias_spelled_like_a_field_replaces_that_field_in_place(
    session: requests.Session, sim: Simulator
) -> None:
    (mug,) = products(
        session,
        sim,
        display="[id,price,reference]",
        **{"filter[id]": f"[{MUG}]", "price[price][use_tax]": "1"},
    )
    assert list(mug) == ["id", "reference", "price"]  # the field's own place, not after the others
    assert mug["price"] == "69.000000"  # instead of the stored 56.097561


def test_a_single_get_shows_the_aliases_and_the_minimal_list_does_not(
    session: requests.Session, sim: Simulator
) -> None:
    single = get(
        session, sim, f"products/{MUG}", output_format="JSON", **{"price[p9][product_attribute]": "9999"}
    )
    product = single.json()["product"]
    assert product["p9"] == "0.000000"  # a non-empty string: 8.x's array_filter keeps it
    minimal = get(session, sim, "products", output_format="JSON", **{"price[p0][use_tax]": "1"})
    assert all(set(row) == {"id"} for row in minimal.json()["products"])


def test_prices_appear_in_xml_after_the_fields_and_before_the_associations(
    session: requests.Session, sim: Simulator
) -> None:
    answer = get(
        session, sim, "products", display="full", **{"filter[id]": f"[{MUG}]", "price[p0][use_tax]": "1"}
    )
    assert answer.headers["Content-Type"].startswith("text/xml")
    product = ElementTree.fromstring(answer.content).find("products/product")  # noqa: S314
    assert product is not None
    tags = [child.tag for child in product]
    assert tags[-2:] == ["p0", "associations"]
    assert product.findtext("p0") == "69.000000"


def test_a_bad_alias_name_is_400_code_128_and_a_price_that_is_no_array_kills_php(
    session: requests.Session, sim: Simulator
) -> None:
    bad = get(session, sim, "products", output_format="JSON", display="full", **{"price[a b][use_tax]": "1"})
    assert (bad.status_code, bad.json()) == (
        400,
        {"errors": [{"code": 128, "message": "Name for the virtual field is not allow"}]},
    )
    fatal = get(session, sim, "products", output_format="JSON", display="full", price="1")
    assert (fatal.status_code, fatal.content) == (500, b"")
    # Nothing is rendered, so nothing is computed: no error at all.
    empty = get(
        session, sim, "products", output_format="JSON", display="full", price="1", **{"filter[id]": "[999]"}
    )
    assert (empty.status_code, empty.content) == (200, b"[]")


def test_a_price_alias_cannot_be_filtered_on(session: requests.Session, sim: Simulator) -> None:
    answer = get(
        session, sim, "products", output_format="JSON", **{"price[p0][use_tax]": "1", "filter[p0]": "[69]"}
    )
    assert answer.json()["errors"][0]["code"] == 32


# -- POST cart_rules --------------------------------------------------------------------------------------


def test_a_posted_cart_rule_is_created_with_201_and_echoed_as_php_holds_it(
    session: requests.Session, sim: Simulator
) -> None:
    answer = post(session, sim, rule_xml(), output_format="JSON")
    assert answer.status_code == 201
    assert answer.headers["Content-Type"] == "application/json"
    rule = answer.json()["cart_rule"]
    assert rule["id"] == 1
    # The texts of the body, not the stored values ("10", not "10.00"); falsy ones dropped by 8.x.
    assert rule["reduction_percent"] == "10"
    assert rule["code"] == "WRACAJ10"
    assert rule["reduction_currency"] == 1  # add() put the default currency in for the 0 it was given
    assert rule["date_add"] == rule["date_upd"] == "2026-11-27 10:00:00"
    assert "partial_use" not in rule and "id_customer" not in rule
    assert rule["name"] == [{"id": EN, "value": "Your cart discount"}, {"id": PL, "value": "Rabat na koszyk"}]


def test_a_created_cart_rule_is_read_back_as_the_database_stores_it(
    session: requests.Session, sim: Simulator
) -> None:
    created = post(session, sim, rule_xml(customer=3)).content
    rule_id = ElementTree.fromstring(created).findtext("cart_rule/id")  # noqa: S314
    stored = get(session, sim, f"cart_rules/{rule_id}", output_format="JSON", display="full").json()
    (rule,) = stored["cart_rules"]
    assert rule["reduction_percent"] == "10.00"
    assert rule["reduction_amount"] == "0.000000"
    assert (rule["id_customer"], rule["quantity"], rule["active"]) == (3, 1, "1")
    assert rule["date_from"] == "2026-11-27 10:00:00"
    by_code = get(session, sim, "cart_rules", output_format="JSON", **{"filter[code]": "[wracaj10]"})
    assert by_code.json() == {"cart_rules": [{"id": int(str(rule_id))}]}  # MySQL compares case-blind


def test_the_xml_answer_lists_every_field_with_what_the_body_left_out_empty(
    session: requests.Session, sim: Simulator
) -> None:
    body = (
        b"<prestashop><cart_rule><date_from>2026-11-27</date_from><date_to>2026-12-27</date_to>"
        b'<code>X1</code><name><language id="2">Rabat</language></name></cart_rule></prestashop>'
    )
    answer = post(session, sim, body)
    assert answer.status_code == 201
    assert answer.headers["Content-Type"] == "text/xml;charset=utf-8"
    rule = ElementTree.fromstring(answer.content).find("cart_rule")  # noqa: S314
    assert rule is not None
    assert rule.findtext("quantity") == ""
    assert rule.findtext("date_from") == "2026-11-27"
    names = {item.get("id"): item.text or "" for item in rule.iterfind("name/language")}
    assert names == {"1": "", "2": "Rabat"}


def test_fields_left_out_of_the_body_are_stored_as_zero_so_the_rule_cannot_be_used(
    session: requests.Session, sim: Simulator, shop: Shop
) -> None:
    body = (
        b"<prestashop><cart_rule><date_from>2026-11-27 10:00:00</date_from>"
        b"<date_to>2026-12-27 10:00:00</date_to>"
        b'<code>BARE</code><reduction_percent>5</reduction_percent><name><language id="2">Rabat</language>'
        b"</name></cart_rule></prestashop>"
    )
    assert post(session, sim, body).status_code == 201
    (rule,) = shop.state.rows("cart_rules")
    assert (rule["quantity"], rule["quantity_per_user"], rule["active"], rule["priority"]) == (0, 0, False, 0)
    assert rule["name"] == {EN: "Rabat", PL: "Rabat"}  # the default language's name fills the others


def test_posting_sets_the_cart_rule_feature_flag(
    session: requests.Session, sim: Simulator, shop: Shop
) -> None:
    assert shop.state.config("PS_CART_RULE_FEATURE_ACTIVE") is None
    post(session, sim, rule_xml())
    assert shop.state.config("PS_CART_RULE_FEATURE_ACTIVE") == "1"


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        (b"", 500, 127, "XML error : String could not be parsed as XML\nXML length : 0\nOriginal XML : "),
        (b"<prestashop><cart_rule><id>4</id></cart_rule></prestashop>", 400, 91, "id is forbidden"),
        (b"<prestashop><cart_rule><date_to>2026-12-27</date_to></cart_rule></prestashop>", 400, 41, ""),
        (
            b"<prestashop><cart_rule><date_from>2026-11-27</date_from><date_to>2026-12-27</date_to>"
            b"<name>Rabat</name></cart_rule></prestashop>",
            400,
            84,
            'Validation error: "Property CartRule->name is empty."',
        ),
        (
            b"<prestashop><cart_rule><date_from>2026-11-27</date_from><date_to>2026-12-27</date_to>"
            b'<name><language id="1">Only English</language></name></cart_rule></prestashop>',
            400,
            84,
            "CartRule->name is empty",
        ),
        (
            rule_xml(percent="150"),
            400,
            85,
            'Validation error: "Property CartRule->reduction_percent is not valid"',
        ),
        (
            rule_xml().replace(b"<quantity>1</quantity>", b"<quantity>-1</quantity>"),
            400,
            85,
            "Property CartRule->quantity is not valid",
        ),
        (
            rule_xml().replace(b"2026-11-27 10:00:00", b"tomorrow"),
            400,
            85,
            "Property CartRule->date_from is not valid",
        ),
        (
            rule_xml(code="X" * 255),
            400,
            85,
            "The length of property CartRule->code is currently 255 chars. "
            "It must be between 0 and 254 chars.",
        ),
    ],
)
def test_a_bad_cart_rule_gets_prestashops_error(
    session: requests.Session, sim: Simulator, shop: Shop, body: bytes, status: int, code: int, message: str
) -> None:
    answer = post(session, sim, body, output_format="JSON")
    assert answer.status_code == status
    (error,) = answer.json()["errors"]
    assert error["code"] == code
    assert message in error["message"]
    if code == 41:
        assert error["message"] == 'parameter "date_from" required'
    assert shop.state.rows("cart_rules") == []


def test_a_description_with_a_script_is_refused_as_unclean_html(
    session: requests.Session, sim: Simulator
) -> None:
    body = rule_xml().replace(b"Reminder code", b"&lt;script&gt;alert(1)&lt;/script&gt;")
    answer = post(session, sim, body, output_format="JSON")
    assert (
        answer.json()["errors"][0]["message"]
        == 'Validation error: "Property CartRule->description is not valid"'
    )


def test_a_later_bad_rule_in_one_body_leaves_the_earlier_ones_created(
    session: requests.Session, sim: Simulator, shop: Shop
) -> None:
    good = rule_xml("FIRST").split(b"<cart_rule>")[1].split(b"</cart_rule>")[0]
    body = (
        b"<prestashop><cart_rule>"
        + good
        + b"</cart_rule><cart_rule><code>NO-DATES</code></cart_rule></prestashop>"
    )
    answer = post(session, sim, body, output_format="JSON")
    assert answer.status_code == 400
    assert [rule["code"] for rule in shop.state.rows("cart_rules")] == ["FIRST"]


def test_a_key_without_post_on_cart_rules_gets_405_code_25(sim: Simulator, shop: Shop) -> None:
    sim.add_key(LIMITED_KEY, {"cart_rules": ["GET"], "products": ["GET"]})
    answer = requests.post(
        f"{sim.url}/api/cart_rules?output_format=JSON", data=rule_xml(), auth=(LIMITED_KEY, ""), timeout=10
    )
    assert answer.status_code == 405
    assert answer.json()["errors"] == [
        {
            "code": 25,
            "message": "Method POST is not allowed for the resource cart_rules with this authentication key",
        }
    ]
    assert shop.state.rows("cart_rules") == []


def test_other_resources_still_refuse_writes(session: requests.Session, sim: Simulator) -> None:
    answer = session.post(f"{sim.url}/api/orders?output_format=JSON", data=rule_xml(), timeout=10)
    assert (answer.status_code, answer.json()["errors"][0]["code"]) == (501, 124)
    put = session.put(f"{sim.url}/api/cart_rules/1?output_format=JSON", data=rule_xml(), timeout=10)
    assert (put.status_code, put.json()["errors"][0]["code"]) == (501, 124)


# -- cart actions and vouchers ----------------------------------------------------------------------------


def test_emptying_a_cart_removes_its_rows_and_moves_date_upd(
    session: requests.Session, sim: Simulator, shop: Shop
) -> None:
    cart_id = shop.create_cart(new_customer(shop), [(MUG, 1, MUG_COBALT), (BOWL, 2)], carrier_id=2)
    shop.advance(timedelta(minutes=5))
    shop.empty_cart(cart_id)
    cart = get(session, sim, f"carts/{cart_id}", output_format="JSON").json()["cart"]
    assert "associations" not in cart
    assert cart["date_upd"] == "2026-11-27 10:05:00"
    assert cart["date_add"] == "2026-11-27 10:00:00"
    xml = get(session, sim, f"carts/{cart_id}").text
    assert '<cart_rows nodeType="cart_row" virtualEntity="true"/>' in xml


def test_changing_the_items_moves_date_upd_and_checkout_does_not(
    session: requests.Session, sim: Simulator, shop: Shop
) -> None:
    cart_id = shop.create_cart(new_customer(shop), [(MUG, 1, MUG_COBALT)], carrier_id=2)
    shop.advance(timedelta(minutes=3))
    shop.set_cart_items(cart_id, [(TEA, 4)])
    shop.advance(timedelta(minutes=3))
    shop.place_order(cart_id)
    cart = get(session, sim, f"carts/{cart_id}", output_format="JSON").json()["cart"]
    assert cart["date_upd"] == "2026-11-27 10:03:00"
    assert cart["associations"]["cart_rows"] == [
        {
            "id_product": TEA,
            "id_product_attribute": 0,
            "id_address_delivery": cart["id_address_delivery"],
            "id_customization": 0,
            "quantity": 4,
        }
    ]


def test_a_posted_code_used_at_checkout_discounts_the_order_and_is_used_up(
    session: requests.Session, sim: Simulator, shop: Shop
) -> None:
    customer = new_customer(shop)
    post(session, sim, rule_xml(customer=customer))
    cart_id = shop.create_cart(customer, [(BOWL, 2)], carrier_id=2)
    shop.advance(timedelta(minutes=1))
    order_id = shop.place_order(cart_id, vouchers=["wracaj10"])
    order = shop.state.get("orders", order_id)
    assert order["total_products_wt"] == Decimal("178.00")
    assert order["total_discounts_tax_incl"] == Decimal("17.80")
    assert order["total_paid_tax_incl"] == order["total_products_wt"] + order["total_shipping"] - Decimal(
        "17.80"
    )
    (usage,) = get(session, sim, "order_cart_rules", output_format="JSON", display="full").json()[
        "order_cart_rules"
    ]
    assert (usage["id_order"], usage["id_cart_rule"], usage["name"], usage["value"]) == (
        order_id,
        1,
        "Rabat na koszyk",
        "17.800000",
    )
    rule = get(session, sim, "cart_rules/1", output_format="JSON", display="full").json()["cart_rules"][0]
    assert rule["quantity"] == 0
    assert rule["date_upd"] == "2026-11-27 10:01:00"
    assert shop.state.get("carts", cart_id)["date_upd"] == shop.state.get("carts", cart_id)["date_add"]
    again = shop.create_cart(customer, [(BOWL, 1)], carrier_id=2)
    with pytest.raises(ValueError, match="already been used"):
        shop.place_order(again, vouchers=["WRACAJ10"])


def test_a_code_is_refused_to_another_customer_after_it_expires_and_when_unknown(
    session: requests.Session, sim: Simulator, shop: Shop
) -> None:
    owner = new_customer(shop, "owner@example.com")
    other = new_customer(shop, "other@example.com")
    post(session, sim, rule_xml("MINE", customer=owner))
    cart_id = shop.create_cart(other, [(BOWL, 1)], carrier_id=2)
    with pytest.raises(ValueError, match="cannot use this voucher"):
        shop.place_order(cart_id, vouchers=["MINE"])
    with pytest.raises(ValueError, match="does not exist"):
        shop.place_order(cart_id, vouchers=["NOPE"])
    shop.advance(timedelta(days=31))
    late = shop.create_cart(owner, [(BOWL, 1)], carrier_id=2)
    with pytest.raises(ValueError, match="expired"):
        shop.place_order(late, vouchers=["MINE"])


# -- a real shop's response time --------------------------------------------------------------------------


def test_a_response_delay_holds_every_webservice_answer(session: requests.Session, sim: Simulator) -> None:
    sim.response_delay = 0.3
    started = time.perf_counter()
    answer = get(session, sim, "orders", output_format="JSON")
    assert answer.status_code == 200
    assert time.perf_counter() - started >= 0.3


def test_stopping_the_shop_cuts_a_long_response_delay_short(shop: Shop) -> None:
    with Simulator(shop.state) as simulator, ThreadPoolExecutor(max_workers=1) as pool:
        simulator.response_delay = 60
        url = f"{simulator.url}/api/orders?output_format=JSON"
        finished = threading.Event()

        def slow_request() -> float:
            started = time.perf_counter()
            # The stop may close the connection instead of answering.
            with contextlib.suppress(requests.RequestException):
                requests.get(url, auth=(DEMO_API_KEY, ""), timeout=120).close()
            finished.set()
            return time.perf_counter() - started

        waiting = pool.submit(slow_request)
        # A second request that gives up proves answers are being held (and that the first one is too).
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.get(url, auth=(DEMO_API_KEY, ""), timeout=0.5)
        assert not finished.is_set()
        simulator.stop()
        assert waiting.result(timeout=10) < 10
