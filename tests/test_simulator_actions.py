"""Each shop action, checked through the HTTP webservice the bridge polls.

What an action must (and must not) move comes from the real shop (`tests/data/real-responses/timeline/`):
the bridge's change detection relies on exactly these movements.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests

from bridge.clock import ManualClock
from bridge.simulator import DEMO_API_KEY, Simulator
from bridge.simulator.actions import PostalAddress, Shop
from bridge.simulator.demo_shop import (
    BOWL,
    CANDLE,
    MUG,
    MUG_COBALT,
    PL,
    SHOP_NAME,
    VASE,
    build_demo_shop,
    build_demo_state,
)
from bridge.simulator.schema import RESOURCES

START = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)  # 10:00 in Warsaw


class Api:
    """GETs against the simulator, the way the bridge reads a shop."""

    def __init__(self, url: str, session: requests.Session) -> None:
        self.url = url.rstrip("/")
        self.session = session

    def get(self, path: str, **params: str) -> Any:
        response = self.session.get(
            f"{self.url}/api/{path}", params={"output_format": "JSON", **params}, timeout=10
        )
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
        return response.json() if response.text else None

    def rows(self, resource: str, **params: str) -> list[dict[str, Any]]:
        body = self.get(resource, display="full", sort="[id_ASC]", **params)
        if body == []:
            return []
        assert isinstance(body, dict)
        (rows,) = body.values()
        assert isinstance(rows, list)
        return rows

    def one(self, resource: str, id: int, **params: str) -> dict[str, Any]:
        body = self.get(f"{resource}/{id}", **params)
        (row,) = body.values()
        assert isinstance(row, dict)
        return row

    def everything(self) -> dict[str, list[dict[str, Any]]]:
        """Every row of every simulated resource, as the webservice shows it."""
        return {name: self.rows(name) for name in RESOURCES}


@pytest.fixture
def shop() -> Shop:
    return build_demo_shop(ManualClock(START))


@pytest.fixture
def api(shop: Shop) -> Iterator[Api]:
    with Simulator(shop.state, api_key=DEMO_API_KEY) as simulator, requests.Session() as session:
        session.auth = (DEMO_API_KEY, "")
        yield Api(simulator.url, session)


def stamp(shop: Shop) -> str:
    return shop.now().strftime("%Y-%m-%d %H:%M:%S")


def new_customer_cart(shop: Shop, *, language: str = "pl") -> int:
    customer = shop.register_customer(
        "Katarzyna",
        "Wójcik",
        f"katarzyna.{shop.state.next_id('customers')}@example.com",
        language=language,
        address=PostalAddress("ul. Marszałkowska 10/12", "00-590", "Warszawa"),
    )
    return shop.create_cart(customer.customer_id, [(MUG, 1, MUG_COBALT), (BOWL, 2)], carrier_id=2)


# -- customers and carts --------------------------------------------------------------------------------


def test_registration_creates_a_customer_with_consents_and_an_address(shop: Shop, api: Api) -> None:
    shop.advance(60)
    ref = shop.register_customer(
        "Łucja",
        "Żak",
        "lucja.zak@example.com",
        newsletter=True,
        address=PostalAddress("ul. Floriańska 3", "31-019", "Kraków"),
    )
    customer = api.rows("customers", **{"filter[id]": f"[{ref.customer_id}]"})[0]
    assert customer["firstname"] == "Łucja"
    assert (customer["id_lang"], customer["newsletter"], customer["optin"], customer["is_guest"]) == (
        PL,
        "1",
        "0",
        "0",
    )
    assert customer["date_add"] == customer["date_upd"] == customer["newsletter_date_add"] == stamp(shop)
    address = api.one("addresses", ref.address_id or 0)
    assert (address["id_customer"], address["city"], address["postcode"]) == (
        ref.customer_id,
        "Kraków",
        "31-019",
    )


def test_a_guest_account_is_in_the_guest_group(shop: Shop, api: Api) -> None:
    ref = shop.register_customer("Jan", "Nowak", "jan.nowak@example.com", guest=True)
    customer = api.one("customers", ref.customer_id)
    assert customer["is_guest"] == "1"
    assert customer["id_default_group"] == 2
    assert customer["associations"]["groups"] == [{"id": 2}]


def test_deleting_a_customer_keeps_the_row_marked_deleted(shop: Shop, api: Api) -> None:
    ref = shop.register_customer("Jan", "Nowak", "jan.nowak@example.com")
    shop.advance(30)
    shop.delete_customer(ref.customer_id)
    customer = api.rows("customers", **{"filter[id]": f"[{ref.customer_id}]"})[0]
    assert customer["deleted"] == "1"
    assert customer["date_upd"] == stamp(shop)


def test_an_anonymous_visitors_cart_has_no_customer(shop: Shop, api: Api) -> None:
    cart_id = shop.create_cart(None, [(VASE, 1)])
    anonymous = api.get("carts", display="[id,id_customer]", **{"filter[id_customer]": "[0]"})["carts"]
    assert {"id": cart_id, "id_customer": 0} in anonymous
    rows = api.one("carts", cart_id)["associations"]["cart_rows"]
    assert rows == [
        {
            "id_product": VASE,
            "id_product_attribute": 0,
            "id_address_delivery": 0,
            "id_customization": 0,
            "quantity": 1,
        }
    ]


def test_changing_a_carts_contents_moves_its_date_upd_but_not_date_add(shop: Shop, api: Api) -> None:
    cart_id = new_customer_cart(shop)
    created = stamp(shop)
    shop.advance(600)
    shop.set_cart_items(cart_id, [(CANDLE, 3)])
    cart = api.one("carts", cart_id)
    assert (cart["date_add"], cart["date_upd"]) == (created, stamp(shop))
    assert [(r["id_product"], r["quantity"]) for r in cart["associations"]["cart_rows"]] == [(CANDLE, 3)]


# -- checkout -------------------------------------------------------------------------------------------


def test_checkout_leaves_the_carts_date_upd_untouched(shop: Shop, api: Api) -> None:
    cart_id = new_customer_cart(shop)
    before = api.one("carts", cart_id)
    shop.advance(90)
    order_id = shop.place_order(cart_id)
    assert api.one("carts", cart_id) == before
    assert api.get("orders", display="[id]", **{"filter[id_cart]": f"[{cart_id}]"}) == {
        "orders": [{"id": order_id}]
    }


def test_checkout_creates_the_order_its_lines_carrier_and_first_history_row(shop: Shop, api: Api) -> None:
    cart_id = new_customer_cart(shop)
    shop.advance(5)
    order_id = shop.place_order(cart_id, "ps_wirepayment")
    order = api.rows("orders", **{"filter[id]": f"[{order_id}]"})[0]

    assert re.fullmatch(r"[A-Z]{9}", order["reference"])
    assert (order["current_state"], order["module"], order["valid"]) == (10, "ps_wirepayment", "0")
    assert order["date_add"] == order["date_upd"] == stamp(shop)
    assert (order["invoice_number"], order["invoice_date"]) == (0, "0000-00-00 00:00:00")
    assert order["total_paid_real"] == "0.000000"
    names = [row["product_name"] for row in order["associations"]["order_rows"]]
    assert names == ["Kubek ręcznie toczony (Kolor: Kobaltowy)", "Miska na zupę „Złota Łąka”"]

    total = Decimal(order["total_products_wt"]) + Decimal(order["total_shipping_tax_incl"])
    assert Decimal(order["total_paid_tax_incl"]) == Decimal(order["total_paid"]) == total
    assert Decimal(order["total_products_wt"]) == Decimal("69.00") + 2 * Decimal("89.00")
    assert Decimal(order["total_products"]) < Decimal(order["total_products_wt"])  # 23% VAT
    assert Decimal(order["total_shipping_tax_incl"]) == Decimal("13.99")

    details = api.rows("order_details", **{"filter[id_order]": f"[{order_id}]"})
    assert [(d["product_quantity"], d["total_price_tax_incl"]) for d in details] == [
        (1, "69.000000"),
        (2, "178.000000"),
    ]
    carrier = api.rows("order_carriers", **{"filter[id_order]": f"[{order_id}]"})
    assert [(c["id_carrier"], c["tracking_number"], c["date_add"]) for c in carrier] == [(2, "", stamp(shop))]
    history = api.rows("order_histories", **{"filter[id_order]": f"[{order_id}]"})
    assert [(h["id_order_state"], h["id_employee"], h["date_add"]) for h in history] == [(10, 0, stamp(shop))]
    assert api.get("order_payments", **{"filter[order_reference]": f"[{order['reference']}]"}) == []


def test_order_lines_keep_the_name_in_the_orders_language(shop: Shop, api: Api) -> None:
    cart_id = new_customer_cart(shop, language="en")
    order_id = shop.place_order(cart_id)
    shop.state.update("products", MUG, name={1: "Renamed mug", 2: "Kubek po zmianie"})
    names = [row["product_name"] for row in api.one("orders", order_id)["associations"]["order_rows"]]
    assert names == ["Hand-thrown mug (Colour: Cobalt)", "“Golden Meadow” soup bowl"]


def test_three_orders_placed_in_one_second_share_date_add(shop: Shop, api: Api) -> None:
    carts = [new_customer_cart(shop) for _ in range(3)]
    shop.advance(1)
    ids = [shop.place_order(cart_id) for cart_id in carts]
    rows = api.get(
        "orders",
        display="[id,date_add,reference]",
        date="1",
        **{"filter[date_add]": f"[{stamp(shop)},{stamp(shop)}]"},
        sort="[id_ASC]",
    )["orders"]
    assert [row["id"] for row in rows] == ids
    assert len({row["reference"] for row in rows}) == 3


def test_a_paid_checkout_records_the_payment_and_the_invoice_at_once(shop: Shop, api: Api) -> None:
    order_id = shop.place_order(new_customer_cart(shop), "przelewy24")
    order = api.one("orders", order_id)
    assert (order["current_state"], order["valid"]) == (2, "1")
    assert order["invoice_number"] > 0
    assert order["invoice_date"] == stamp(shop)
    assert order["total_paid_real"] == order["total_paid"]
    payments = api.rows("order_payments", **{"filter[order_reference]": f"[{order['reference']}]"})
    assert len(payments) == 1
    assert payments[0]["amount"] == order["total_paid"]
    assert payments[0]["transaction_id"].startswith("P24-")
    assert (
        api.rows("order_invoices", **{"filter[id_order]": f"[{order_id}]"})[0]["number"]
        == order["invoice_number"]
    )


def test_a_checkout_comment_becomes_an_open_thread_with_one_message(shop: Shop, api: Api) -> None:
    order_id = shop.place_order(new_customer_cart(shop), comment="Proszę dzwonić przed dostawą")
    (thread,) = api.rows("customer_threads", **{"filter[id_order]": f"[{order_id}]"})
    assert (thread["status"], thread["id_contact"]) == ("open", 0)
    (message,) = api.rows("customer_messages", **{"filter[id_customer_thread]": f"[{thread['id']}]"})
    assert (message["message"], message["id_employee"]) == ("Proszę dzwonić przed dostawą", 0)


def test_a_visitor_who_logs_in_gets_the_anonymous_cart_and_its_date_upd_moves(shop: Shop, api: Api) -> None:
    cart_id = shop.create_cart(None, [(VASE, 1)])
    shop.advance(120)
    customer = shop.register_customer(
        "Ewa", "Kos", "ewa.kos@example.com", address=PostalAddress("ul. Polna 1", "61-001", "Poznań")
    )
    shop.attach_cart(cart_id, customer.customer_id)
    cart = api.one("carts", cart_id)
    assert (cart["id_customer"], cart["id_address_delivery"], cart["date_upd"]) == (
        customer.customer_id,
        customer.address_id,
        stamp(shop),
    )
    assert shop.place_order(cart_id) > 0


def test_an_english_customer_paying_in_euro_gets_converted_prices_and_english_names(
    shop: Shop, api: Api
) -> None:
    customer = shop.register_customer(
        "Emma",
        "Stone",
        "emma.stone@example.com",
        language="en",
        address=PostalAddress("Hauptstraße 1", "10115", "Berlin", country="DE"),
    )
    cart_id = shop.create_cart(customer.customer_id, [(VASE, 1)], currency="EUR", carrier_id=2)
    order = api.one("orders", shop.place_order(cart_id, "ps_wirepayment"))
    assert (order["id_currency"], order["conversion_rate"], order["payment"]) == (
        2,
        "0.230000",
        "Wire payment",
    )
    assert Decimal(order["total_products_wt"]) == Decimal("36.57")  # 159.00 zł at 0.23
    assert Decimal(order["total_shipping_tax_incl"]) == Decimal("3.22")  # 13.99 zł at 0.23


def test_shipping_is_free_above_the_shops_threshold(shop: Shop, api: Api) -> None:
    customer = shop.register_customer(
        "Ewa", "Kos", "ewa.kos@example.com", address=PostalAddress("ul. Polna 1", "61-001", "Poznań")
    )
    cheap = shop.place_order(shop.create_cart(customer.customer_id, [(VASE, 2)], carrier_id=2))
    dear = shop.place_order(shop.create_cart(customer.customer_id, [(VASE, 3)], carrier_id=2))
    assert api.one("orders", cheap)["total_shipping"] == "13.990000"  # 318 zł, below PS_SHIPPING_FREE_PRICE
    assert api.one("orders", dear)["total_shipping"] == "0.000000"  # 477 zł


def test_checkout_refuses_a_cart_without_a_customer(shop: Shop) -> None:
    cart_id = shop.create_cart(None, [(VASE, 1)])
    with pytest.raises(ValueError, match="no customer"):
        shop.place_order(cart_id)


# -- back office: states, payments, tracking ------------------------------------------------------------


def test_moving_an_unpaid_order_to_payment_accepted_creates_exactly_one_payment(shop: Shop, api: Api) -> None:
    order_id = shop.place_order(new_customer_cart(shop), "ps_wirepayment")
    reference = shop.order_ref(order_id)
    shop.advance(120)
    history_id = shop.change_state(order_id, 2)

    payments = api.rows("order_payments", **{"filter[order_reference]": f"[{reference}]"})
    order = api.one("orders", order_id)
    assert len(payments) == 1
    assert payments[0]["amount"] == order["total_paid"] == order["total_paid_real"]
    assert payments[0]["date_add"] == order["date_upd"] == order["invoice_date"] == stamp(shop)
    assert (order["current_state"], order["valid"]) == (2, "1")
    history = api.one("order_histories", history_id)
    assert (history["id_order_state"], history["id_employee"], history["date_add"]) == (2, 1, stamp(shop))


def test_a_back_office_payment_moves_date_upd_but_adds_no_history_row(shop: Shop, api: Api) -> None:
    order_id = shop.place_order(new_customer_cart(shop), "ps_checkpayment")
    histories_before = api.rows("order_histories")
    shop.advance(300)
    total = shop.state.get("orders", order_id)["total_paid"]
    shop.add_payment(order_id, total, transaction_id="CHK-2026-0042")

    order = api.one("orders", order_id)
    assert order["date_upd"] == stamp(shop)
    assert order["current_state"] == 1  # still "Awaiting check payment"
    assert Decimal(order["total_paid_real"]) == total
    assert api.rows("order_histories") == histories_before


def test_payment_accepted_after_a_full_payment_creates_no_second_payment(shop: Shop, api: Api) -> None:
    order_id = shop.place_order(new_customer_cart(shop), "ps_checkpayment")
    shop.add_payment(order_id, shop.state.get("orders", order_id)["total_paid"])
    shop.advance(60)
    shop.change_state(order_id, 2)
    assert (
        len(api.rows("order_payments", **{"filter[order_reference]": f"[{shop.order_ref(order_id)}]"})) == 1
    )


def test_payment_accepted_after_a_partial_payment_records_the_rest(shop: Shop, api: Api) -> None:
    order_id = shop.place_order(new_customer_cart(shop), "ps_wirepayment")
    total = shop.state.get("orders", order_id)["total_paid"]
    shop.add_payment(order_id, Decimal("100.00"))
    shop.change_state(order_id, 2)
    payments = api.rows("order_payments", **{"filter[order_reference]": f"[{shop.order_ref(order_id)}]"})
    assert [Decimal(p["amount"]) for p in payments] == [Decimal("100.00"), total - Decimal("100.00")]


def test_the_payment_date_is_what_the_employee_typed(shop: Shop, api: Api) -> None:
    order_id = shop.place_order(new_customer_cart(shop), "ps_wirepayment")
    shop.advance(3600)
    typed = datetime(2026, 11, 20, 0, 0, 0)  # noqa: DTZ001 - shop-local, as the form sends it
    payment_id = shop.add_payment(order_id, "10.00", "Przelew bankowy", date=typed)
    assert api.one("order_payments", payment_id)["date_add"] == "2026-11-20 00:00:00"
    assert api.one("orders", order_id)["date_upd"] == stamp(shop)


def test_a_tracking_number_moves_no_timestamp_anywhere(shop: Shop, api: Api) -> None:
    order_id = shop.place_order(new_customer_cart(shop), "przelewy24")
    shop.change_state(order_id, 3)
    before = api.everything()
    shop.advance(60)
    shop.set_tracking(order_id, "PX7700112233PL")
    after = api.everything()

    changed = {name for name in RESOURCES if before[name] != after[name]}
    assert changed == {"order_carriers", "orders"}
    carrier_row = next(r for r in after["order_carriers"] if r["id_order"] == order_id)
    assert carrier_row["tracking_number"] == "PX7700112233PL"
    order_before = next(r for r in before["orders"] if r["id"] == order_id)
    order_after = next(r for r in after["orders"] if r["id"] == order_id)
    assert {k for k in order_after if order_after[k] != order_before[k]} == {"shipping_number"}
    assert order_after["shipping_number"] == "PX7700112233PL"
    assert shop.tracking_url(order_id) == "https://sledzenie.paczkomat.example/?numer=PX7700112233PL"


def test_delivery_date_moves_on_every_delivery_state_and_the_number_stays(shop: Shop, api: Api) -> None:
    order_id = shop.place_order(new_customer_cart(shop), "przelewy24")
    seen = []
    for state_id in (3, 4, 5):
        shop.advance(3600)
        shop.change_state(order_id, state_id)
        order = api.one("orders", order_id)
        seen.append((order["delivery_number"], order["delivery_date"]))
        assert order["delivery_date"] == order["date_upd"] == stamp(shop)
    assert len({number for number, _ in seen}) == 1
    assert len({date for _, date in seen}) == 3


def test_canceled_and_refunded_orders_stop_being_valid(shop: Shop, api: Api) -> None:
    paid = shop.place_order(new_customer_cart(shop), "przelewy24")
    unpaid = shop.place_order(new_customer_cart(shop), "ps_wirepayment")
    shop.change_state(paid, 7)
    shop.change_state(unpaid, 6)
    listed = {
        row["id"]: row
        for row in api.get("orders", display="[id,valid]", **{"filter[id]": f"[{paid}|{unpaid}]"})["orders"]
    }
    assert listed[paid]["valid"] == listed[unpaid]["valid"] == "0"
    assert "valid" not in api.one("orders", paid)  # falsy fields vanish from single objects
    assert api.one("orders", paid)["total_paid_real"] == api.one("orders", paid)["total_paid"]


def test_the_first_history_row_of_a_checkout_is_by_employee_zero_and_later_ones_by_the_employee(
    shop: Shop, api: Api
) -> None:
    order_id = shop.place_order(new_customer_cart(shop), "ps_cashondelivery")
    shop.change_state(order_id, 3, employee_id=2)
    history = api.rows("order_histories", **{"filter[id_order]": f"[{order_id}]"})
    assert [(h["id_order_state"], h["id_employee"]) for h in history] == [(13, 0), (3, 2)]


# -- returns, refunds, messages, products ---------------------------------------------------------------


def test_a_merchandise_return_changes_nothing_the_webservice_shows(shop: Shop, api: Api) -> None:
    order_id = shop.place_order(new_customer_cart(shop), "przelewy24")
    shop.change_state(order_id, 5)
    before = api.everything()
    shop.advance(60)
    detail = shop.order_details(order_id)[0]
    return_id = shop.request_return(order_id, [(detail["id"], 1)])
    shop.set_return_state(return_id, 2)
    shop.set_return_state(return_id, 5)
    assert api.everything() == before
    assert shop.state.private["order_returns"][return_id]["state"] == 5


def test_a_credit_slip_shows_up_without_moving_the_order(shop: Shop, api: Api) -> None:
    order_id = shop.place_order(new_customer_cart(shop), "przelewy24")
    shop.change_state(order_id, 5)
    order_before = api.one("orders", order_id)
    shop.advance(60)
    first, second = shop.order_details(order_id)
    slip_id = shop.issue_credit_slip(order_id, [(first["id"], 1)])

    assert api.one("orders", order_id) == order_before
    slip = api.one("order_slip", slip_id)
    assert (slip["id_order"], slip["amount"], slip["date_add"]) == (order_id, "69.000000", stamp(shop))
    assert slip["associations"]["order_slip_details"][0]["id_order_detail"] == first["id"]
    details = {d["id"]: d for d in api.rows("order_details", **{"filter[id_order]": f"[{order_id}]"})}
    assert (
        details[first["id"]]["product_quantity_return"],
        details[first["id"]]["total_refunded_tax_incl"],
    ) == (
        1,
        "69.000000",
    )
    assert details[second["id"]]["total_refunded_tax_incl"] == "0.000000"


def test_a_credit_slip_before_shipping_counts_the_goods_as_refunded_not_returned(
    shop: Shop, api: Api
) -> None:
    order_id = shop.place_order(new_customer_cart(shop), "przelewy24")
    first = shop.order_details(order_id)[0]
    shop.issue_credit_slip(order_id, [(first["id"], 1)], shipping=True)
    detail = api.one("order_details", first["id"])
    assert detail["product_quantity_refunded"] == 1
    assert "product_quantity_return" not in detail


def test_an_employee_reply_closes_the_thread_and_a_new_message_reopens_it(shop: Shop, api: Api) -> None:
    order_id = shop.place_order(new_customer_cart(shop), "przelewy24")
    shop.advance(60)
    thread_id, first = shop.customer_message("Kiedy wyślecie paczkę?", order_id=order_id)
    opened = api.one("customer_threads", thread_id)
    assert (opened["status"], opened["id_order"], opened["date_add"]) == ("open", order_id, stamp(shop))

    shop.advance(60)
    reply = shop.employee_reply(thread_id, "Jutro rano.")
    closed = api.one("customer_threads", thread_id)
    assert (closed["status"], closed["date_upd"]) == ("closed", stamp(shop))
    assert api.one("customer_messages", reply)["id_employee"] == 1
    assert api.one("customer_messages", first).get("id_employee", 0) == 0

    shop.advance(60)
    again, third = shop.customer_message("Dziękuję!", order_id=order_id)
    reopened = api.one("customer_threads", thread_id)
    assert again == thread_id
    assert (reopened["status"], reopened["date_upd"]) == ("open", stamp(shop))
    assert reopened["associations"]["customer_messages"] == [{"id": first}, {"id": reply}, {"id": third}]


def test_a_new_product_has_both_names_and_equal_dates(shop: Shop, api: Api) -> None:
    shop.advance(60)
    product_id = shop.add_product(
        {"en": "Ceramic espresso cup", "pl": "Ceramiczna filiżanka do espresso"}, "32.51", tax_rate=23
    )
    product = api.one("products", product_id)
    assert product["name"] == [
        {"id": 1, "value": "Ceramic espresso cup"},
        {"id": 2, "value": "Ceramiczna filiżanka do espresso"},
    ]
    assert {"id": 2, "value": "ceramiczna-filizanka-do-espresso"} in product["link_rewrite"]
    assert product["date_add"] == product["date_upd"] == stamp(shop)
    assert product["price"] == "32.510000"


def test_history_can_be_back_dated_for_an_abandoned_cart(shop: Shop, api: Api) -> None:
    customer = shop.register_customer("Ewa", "Kos", "ewa.kos@example.com")
    two_hours_ago = shop.now() - timedelta(hours=2)
    with shop.at(two_hours_ago):
        cart_id = shop.create_cart(customer.customer_id, [(VASE, 1)])
    cart = api.one("carts", cart_id)
    assert cart["date_upd"] == two_hours_ago.strftime("%Y-%m-%d %H:%M:%S")
    assert api.get("orders", **{"filter[id_cart]": f"[{cart_id}]"}) == []


# -- the demo shop --------------------------------------------------------------------------------------


def test_the_demo_shop_is_the_same_on_every_build() -> None:
    first = build_demo_state(ManualClock(START))
    second = build_demo_state(ManualClock(START))
    assert all(first.rows(name) == second.rows(name) for name in RESOURCES)


def test_the_demo_shop_never_mails_and_says_who_it_is(api: Api) -> None:
    names = "PS_SHOP_NAME|PS_MAIL_METHOD|PS_LANG_DEFAULT|PS_TIMEZONE|PS_CURRENCY_DEFAULT|PS_SHOP_DOMAIN"
    rows = api.get("configurations", display="[name,value]", **{"filter[name]": f"[{names}]"})[
        "configurations"
    ]
    values = {row["name"]: row["value"] for row in rows}
    assert values["PS_SHOP_NAME"] == SHOP_NAME
    assert values["PS_MAIL_METHOD"] == "3"
    assert (values["PS_LANG_DEFAULT"], values["PS_TIMEZONE"]) == ("2", "Europe/Warsaw")
    currency = api.one("currencies", int(values["PS_CURRENCY_DEFAULT"]), language="2")
    assert (currency["iso_code"], currency["symbol"]) == ("PLN", "zł")


def test_the_demo_shop_has_the_default_order_states_in_english_and_polish(api: Api) -> None:
    states = {row["id"]: row for row in api.rows("order_states", language="2")}
    assert states[2]["name"] == "Płatność zaakceptowana"
    assert (states[4]["template"], states[4]["shipped"], states[4]["delivery"]) == ("shipped", "1", "1")
    assert (states[5]["template"], states[5]["send_email"]) == ("", "0")
    assert (states[10]["module_name"], states[10]["template"]) == ("ps_wirepayment", "bankwire")
    english = {row["id"]: row["name"] for row in api.rows("order_states", language="1")}
    assert english[6] == "Canceled"
    assert all(states[i]["unremovable"] == "1" for i in range(1, 14))


def test_the_demo_shop_has_orders_in_many_states_and_carriers_with_tracking_urls(api: Api) -> None:
    states = {row["current_state"] for row in api.rows("orders")}
    assert {4, 5, 6, 10} <= states
    urls = [row["url"] for row in api.rows("carriers") if row["url"]]
    assert urls and all("@" in url for url in urls)
    customers = api.rows("customers")
    assert {c["id_lang"] for c in customers} == {1, 2}
    assert any(c["is_guest"] == "1" for c in customers)
    assert {c["newsletter"] for c in customers} == {"0", "1"}
