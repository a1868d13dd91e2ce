"""Records parse what a real PrestaShop 8.1.2 shop sent (real-responses/) and every typing quirk around it."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bridge.errors import ShopResponseError
from bridge.model.records import Multilingual
from bridge.shop.parse import (
    parse_address,
    parse_carrier,
    parse_cart,
    parse_country,
    parse_currency,
    parse_customer,
    parse_language,
    parse_order,
    parse_order_carrier,
    parse_order_detail,
    parse_order_history,
    parse_order_payment,
    parse_order_state,
    parse_product,
    parse_shop_datetime,
)

REAL = Path(__file__).resolve().parent / "data" / "real-responses"
WARSAW = ZoneInfo("Europe/Warsaw")


def body(name: str) -> Any:
    """The JSON body a real shop sent, parsed the way the client parses it (floats as Decimal)."""
    recorded = json.loads((REAL / name).read_text(encoding="utf-8"))
    return json.loads(recorded["response"]["body"], parse_float=Decimal)


def stringified(value: Any) -> Any:
    """The same document as 1.7.7 / 8.2 / 9.x render it: every scalar except the entity `id` a string."""
    if isinstance(value, dict):
        return {k: (v if k == "id" and isinstance(v, int) else stringified(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [stringified(item) for item in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | Decimal):
        return str(value)
    return value


FLAVOURS = {"8.1-native-ints": lambda v: v, "1.7.7/8.2-strings": stringified}


def order_from_list(order_id: int) -> dict[str, Any]:
    return next(o for o in body("orders/display-full.json")["orders"] if o["id"] == order_id)


# -- orders --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_single_order_with_dropped_falsy_fields_equals_the_list_form(flavour: str) -> None:
    convert = FLAVOURS[flavour]
    single = parse_order(convert(body("orders/single-6.json")["order"]), tz=WARSAW)
    listed = parse_order(convert(order_from_list(6)), tz=WARSAW)
    assert single == listed
    assert single.current_state == 5 and single.id_lang == 2 and single.valid is True


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_missing_falsy_fields_default_to_zero_values(flavour: str) -> None:
    order = parse_order(FLAVOURS[flavour](body("orders/single-7.json")["order"]), tz=WARSAW)
    # single-7 has no valid, invoice_number, shipping_number, gift, gift_message: dropped because falsy.
    assert order.valid is False
    assert order.invoice_number == 0
    assert order.shipping_number == ""
    assert order.gift is False and order.gift_message == ""


def test_order_amounts_are_exact_decimals() -> None:
    order = parse_order(body("orders/single-7.json")["order"], tz=WARSAW)
    assert order.total_paid == Decimal("63.09")
    assert order.total_paid_real == Decimal("64.09")  # paid more than due: two BO payments
    assert order.total_paid_tax_excl == Decimal("59.52")
    assert order.carrier_tax_rate == Decimal("6.000")
    assert order.rows[0].unit_price_tax_incl == Decimal("30.4432")
    assert sum(row.unit_price_tax_excl * row.quantity for row in order.rows) == order.total_products


def test_order_rows_keep_name_reference_and_quantities() -> None:
    order = parse_order(body("orders/single-6.json")["order"], tz=WARSAW)
    assert [(row.id, row.product_id, row.product_attribute_id, row.quantity) for row in order.rows] == [
        (8, 1, 1, 2),
        (9, 6, 0, 1),
    ]
    assert order.rows[1].name == "Kubek „The best is yet to come”"
    assert order.rows[0].reference == "demo_1"


def test_unset_invoice_and_delivery_dates_become_none() -> None:
    order = parse_order(body("orders/single-7.json")["order"], tz=WARSAW)
    assert order.invoice_date is None
    assert order.delivery_date is None


def test_shop_local_dates_become_aware_instants_in_the_shop_timezone() -> None:
    # docs/shop-facts.md §5.1: at 04:46:21 UTC the Warsaw shop wrote "2026-11-27 05:46:21".
    order = parse_order(body("orders/single-6.json")["order"], tz=WARSAW)
    assert order.date_add is not None and order.date_add.tzinfo is WARSAW
    assert order.date_add.astimezone(UTC) == datetime(2026, 11, 27, 4, 46, 21, tzinfo=UTC)


def test_order_secure_key_is_kept_only_as_a_secret() -> None:
    raw = body("orders/single-6.json")["order"]
    order = parse_order(raw, tz=WARSAW)
    assert order.secure_key.reveal() == raw["secure_key"]
    assert raw["secure_key"] not in repr(order)
    assert raw["secure_key"] not in str(order)


def test_unknown_fields_added_by_modules_are_ignored() -> None:
    raw = dict(body("orders/single-6.json")["order"], ref_id="X-1", klaviyo_sync={"a": 1})
    assert parse_order(raw, tz=WARSAW) == parse_order(body("orders/single-6.json")["order"], tz=WARSAW)


def test_an_order_without_associations_has_no_rows() -> None:
    raw = body("orders/single-6.json")["order"]
    del raw["associations"]
    assert parse_order(raw, tz=WARSAW).rows == ()


def test_a_field_subset_gives_a_partial_order() -> None:
    raw = body("orders/display-id-state-date_upd.json")["orders"][0]
    order = parse_order(raw, tz=WARSAW)
    assert order.current_state == raw["current_state"]
    assert order.date_upd is not None and order.date_add is None and order.rows == ()


def test_a_module_null_in_an_id_field_is_read_as_zero() -> None:
    raw = dict(body("orders/single-6.json")["order"], id_carrier="", id_address_invoice=None)
    order = parse_order(raw, tz=WARSAW)
    assert order.id_carrier == 0 and order.id_address_invoice == 0


# -- malformed objects -------------------------------------------------------------------------------------


def test_an_object_without_id_is_rejected_naming_the_resource() -> None:
    raw = body("orders/single-6.json")["order"]
    del raw["id"]
    with pytest.raises(ShopResponseError, match="orders object without an id") as caught:
        parse_order(raw, tz=WARSAW)
    assert caught.value.resource == "orders"


def test_a_date_that_is_not_a_date_is_rejected_naming_id_and_field() -> None:
    raw = dict(body("orders/single-6.json")["order"], date_upd="yesterday")
    with pytest.raises(ShopResponseError, match=r"orders 6 .*'date_upd'"):
        parse_order(raw, tz=WARSAW)


def test_an_impossible_calendar_date_is_rejected() -> None:
    raw = dict(body("orders/single-6.json")["order"], date_add="2026-02-30 10:00:00")
    with pytest.raises(ShopResponseError, match=r"orders 6 .*'date_add'"):
        parse_order(raw, tz=WARSAW)


@pytest.mark.parametrize("amount", ["12,50", "abc", "NaN", "Infinity", True, [1]])
def test_a_non_numeric_amount_is_rejected_naming_id_and_field(amount: object) -> None:
    raw = dict(body("orders/single-6.json")["order"], total_paid=amount)
    with pytest.raises(ShopResponseError, match=r"orders 6 .*'total_paid'"):
        parse_order(raw, tz=WARSAW)


@pytest.mark.parametrize("amount", ["1E300", "1e16", "-99999999999999999", "1." + "1" * 60])
def test_an_absurd_amount_is_rejected_before_an_email_formats_it(amount: str) -> None:
    """A hostile shop's `1E300` parses as a Decimal but would make the email's formatting raise."""
    raw = dict(body("orders/single-6.json")["order"], total_paid=amount)
    with pytest.raises(ShopResponseError, match=r"orders 6 .*absurd amount.*'total_paid'"):
        parse_order(raw, tz=WARSAW)


@pytest.mark.parametrize("amount", ["0.000000", "999999999999999.999999", "-12.5", "1E-8"])
def test_large_small_and_negative_real_amounts_still_parse(amount: str) -> None:
    raw = dict(body("orders/single-6.json")["order"], total_paid=amount)
    assert parse_order(raw, tz=WARSAW).total_paid == Decimal(amount)


def test_a_non_integer_id_field_is_rejected() -> None:
    raw = dict(body("orders/single-6.json")["order"], id_customer="3a")
    with pytest.raises(ShopResponseError, match=r"orders 6 .*'id_customer'"):
        parse_order(raw, tz=WARSAW)


def test_a_boolean_that_is_neither_0_nor_1_is_rejected() -> None:
    raw = dict(body("customers/single-3-pl.json")["customer"], newsletter="yes")
    with pytest.raises(ShopResponseError, match=r"customers 3 .*'newsletter'"):
        parse_customer(raw, tz=WARSAW)


def test_a_malformed_order_row_names_the_order() -> None:
    raw = body("orders/single-6.json")["order"]
    raw["associations"]["order_rows"][0]["unit_price_tax_incl"] = "n/a"
    with pytest.raises(ShopResponseError, match=r"orders 6 .*'unit_price_tax_incl'"):
        parse_order(raw, tz=WARSAW)


def test_something_that_is_not_an_object_is_rejected() -> None:
    with pytest.raises(ShopResponseError, match="malformed customers object"):
        parse_customer(["id", 3], tz=WARSAW)


@pytest.mark.parametrize("bad_id", [0, -1, "x", None])
def test_an_invalid_id_is_rejected(bad_id: object) -> None:
    with pytest.raises(ShopResponseError, match="customers"):
        parse_customer({"id": bad_id, "email": "a@example.com"}, tz=WARSAW)


# -- dates and daylight saving time ------------------------------------------------------------------------


def test_the_ambiguous_autumn_hour_takes_the_first_occurrence() -> None:
    # 2026-10-25 02:30 happens twice in Warsaw; fold=0 is the earlier one (still CEST, UTC+2).
    stamp = parse_shop_datetime("2026-10-25 02:30:00", WARSAW)
    assert stamp is not None and stamp.fold == 0
    assert stamp.astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_a_time_in_the_spring_gap_does_not_crash() -> None:
    stamp = parse_shop_datetime("2026-03-29 02:30:00", WARSAW)
    assert stamp is not None
    assert stamp.astimezone(UTC) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize("zero", ["0000-00-00 00:00:00", "0000-00-00", "", None])
def test_zero_dates_are_none(zero: str | None) -> None:
    assert parse_shop_datetime(zero, WARSAW) is None


def test_a_date_only_value_is_midnight_shop_time() -> None:
    assert parse_shop_datetime("2026-11-28", WARSAW) == datetime(2026, 11, 28, tzinfo=WARSAW)


# -- multilingual fields ------------------------------------------------------------------------------------


def test_multilingual_list_with_int_ids_gives_each_language() -> None:
    states = [parse_order_state(s, tz=WARSAW) for s in body("order_states/display-full.json")["order_states"]]
    accepted = next(s for s in states if s.id == 2)
    assert accepted.name.get(1) == "Payment accepted"
    assert accepted.name.get(2) == "Płatność zaakceptowana"
    assert accepted.template.get(2) == "payment"


def test_multilingual_list_with_string_ids_gives_the_same_state() -> None:
    # language=[1|2] turns the ids inside the lists into strings (docs/shop-facts.md §4.4).
    with_strings = body("order_states/display-full-language-1-or-2.json")["order_states"]
    with_ints = body("order_states/display-full.json")["order_states"]
    assert [parse_order_state(s, tz=WARSAW) for s in with_strings] == [
        parse_order_state(s, tz=WARSAW) for s in with_ints
    ]


def test_a_string_collapsed_by_language_parameter_belongs_to_that_language() -> None:
    raw = body("order_states/display-full-language-2.json")["order_states"]
    accepted = next(parse_order_state(s, tz=WARSAW, language=2) for s in raw if s["id"] == 2)
    assert accepted.name.values == ((2, "Płatność zaakceptowana"),)
    assert accepted.name.exact(1) is None


def test_a_string_from_a_single_language_shop_answers_for_any_language() -> None:
    raw = body("pre-setup/order_states-display-full-one-language.json")["order_states"]
    accepted = next(parse_order_state(s, tz=WARSAW) for s in raw if s["id"] == 2)
    assert accepted.name.get(1) == accepted.name.get(2) == "Payment accepted"
    assert accepted.name.exact(7) == "Payment accepted"


def test_a_single_language_product_has_plain_string_names() -> None:
    product = parse_product(body("pre-setup/products-1-one-language.json")["product"], tz=WARSAW)
    assert product.name.get(2) == "Hummingbird printed t-shirt"
    assert product.link_rewrite.get() == "hummingbird-printed-t-shirt"


def test_an_empty_translation_falls_back_to_another_language() -> None:
    name = Multilingual(((1, "Delivered"), (2, "")))
    assert name.get(2) == "Delivered"
    assert name.exact(2) == ""
    assert not Multilingual(((1, ""), (2, "")))
    assert Multilingual().get(1, default="?") == "?"


def test_an_empty_template_is_an_empty_multilingual() -> None:
    states = body("order_states/display-full.json")["order_states"]
    delivered = next(parse_order_state(s, tz=WARSAW) for s in states if s["id"] == 5)
    assert not delivered.template
    assert delivered.send_email is False


def test_a_multilingual_field_dropped_from_a_single_get_is_empty() -> None:
    state = parse_order_state({"id": 5, "name": [{"id": 1, "value": "Delivered"}]}, tz=WARSAW)
    assert not state.template and state.name.get(1) == "Delivered"


@pytest.mark.parametrize("value", [[], "", None])
def test_an_empty_multilingual_value_of_any_shape_is_empty(value: object) -> None:
    assert not parse_country({"id": 1, "name": value}, tz=WARSAW).name


def test_a_null_translation_is_an_empty_string() -> None:
    country = parse_country(
        {"id": 1, "name": [{"id": 1, "value": None}, {"id": "2", "value": "Polska"}]}, tz=WARSAW
    )
    assert country.name.values == ((1, ""), (2, "Polska"))


def test_a_malformed_multilingual_value_is_rejected() -> None:
    with pytest.raises(ShopResponseError, match=r"countries 14 .*'name'"):
        parse_country({"id": 14, "name": {"1": "Poland"}}, tz=WARSAW)
    with pytest.raises(ShopResponseError, match=r"countries 14 .*'name'"):
        parse_country({"id": 14, "name": [{"id": "en", "value": "Poland"}]}, tz=WARSAW)


# -- order states, histories, payments, carriers, details --------------------------------------------------


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_order_state_flags_are_booleans(flavour: str) -> None:
    raw = FLAVOURS[flavour](body("order_states/display-full.json")["order_states"])
    shipped = next(parse_order_state(s, tz=WARSAW) for s in raw if s["id"] == 4)
    assert (shipped.paid, shipped.shipped, shipped.delivery, shipped.logable, shipped.invoice) == (
        True,
        True,
        True,
        True,
        True,
    )
    assert (shipped.deleted, shipped.hidden) == (False, False)
    assert shipped.color == "#01B887"


def test_a_single_order_state_keeps_module_name_and_defaults_dropped_flags() -> None:
    state = parse_order_state(body("order_states/single-10.json")["order_state"], tz=WARSAW)
    assert state.module_name == "ps_wirepayment"
    assert state.send_email is True and state.paid is False and state.logable is False


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_order_histories_parse_in_every_flavour(flavour: str) -> None:
    rows = FLAVOURS[flavour](body("order_histories/display-full.json")["order_histories"])
    histories = [parse_order_history(r, tz=WARSAW) for r in rows]
    six = [(h.id, h.id_order_state, h.id_employee) for h in histories if h.id_order == 6]
    assert six == [(9, 10, 0), (12, 2, 1), (13, 3, 1), (14, 4, 1), (15, 5, 1)]


def test_a_single_history_row_with_employee_zero_dropped_reads_as_zero() -> None:
    history = parse_order_history(
        {"id": 9, "id_order_state": 10, "id_order": 6, "date_add": "2026-11-27 05:46:21"}, tz=WARSAW
    )
    assert history.id_employee == 0


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_order_payments_link_by_reference_and_ignore_card_data(flavour: str) -> None:
    rows = FLAVOURS[flavour](body("order_payments/display-full.json")["order_payments"])
    payments = [parse_order_payment(r, tz=WARSAW) for r in rows]
    check = next(p for p in payments if p.id == 4)
    assert (check.order_reference, check.amount, check.transaction_id) == (
        "KVADVAKJJ",
        Decimal("63.09"),
        "CHK-778899",
    )
    assert not hasattr(check, "card_number")


def test_order_carrier_gives_the_tracking_number() -> None:
    carrier = parse_order_carrier(body("order_carriers/single-6.json")["order_carrier"], tz=WARSAW)
    assert (carrier.id_order, carrier.id_carrier, carrier.tracking_number) == (6, 2, "PL123456789")
    assert carrier.shipping_cost_tax_incl == Decimal(7)


def test_order_detail_shows_refunds() -> None:
    detail = parse_order_detail(body("order_details/single-8.json")["order_detail"], tz=WARSAW)
    assert detail.product_quantity_return == 1 and detail.product_quantity_refunded == 0
    assert detail.total_refunded_tax_incl == Decimal("19.12")


# -- carts, customers, addresses ---------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_cart_rows_parse_in_every_flavour(flavour: str) -> None:
    cart = parse_cart(FLAVOURS[flavour](body("carts/single-11.json")["cart"]), tz=WARSAW)
    assert cart.id_customer == 3 and cart.id_lang == 2
    assert [(r.id_product, r.id_product_attribute, r.quantity) for r in cart.rows] == [(2, 9, 1), (16, 28, 1)]
    assert not hasattr(cart, "secure_key")


def test_an_anonymous_cart_has_customer_zero() -> None:
    cart = parse_cart(body("carts/single-10-anonymous.json")["cart"], tz=WARSAW)
    assert cart.id_customer == 0 and cart.id_address_delivery == 0 and cart.id_guest == 7


def test_an_empty_cart_without_associations_has_no_rows() -> None:
    raw = body("carts/single-11.json")["cart"]
    raw.pop("associations")
    assert parse_cart(raw, tz=WARSAW).rows == ()
    assert parse_cart(dict(raw, associations=[]), tz=WARSAW).rows == ()


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_single_customer_with_dropped_flags_reads_them_as_false(flavour: str) -> None:
    customer = parse_customer(FLAVOURS[flavour](body("customers/single-3-pl.json")["customer"]), tz=WARSAW)
    assert (customer.id_lang, customer.newsletter, customer.optin, customer.is_guest) == (
        2,
        True,
        False,
        False,
    )
    assert (customer.active, customer.deleted, customer.id_gender) == (True, False, 0)
    assert customer.email == "jan.kowalski@example.com"
    assert customer.newsletter_date_add == datetime(2026, 11, 27, 5, 46, 7, tzinfo=WARSAW)


def test_a_customer_record_never_holds_the_password_hash_or_keys() -> None:
    raw = next(c for c in body("customers/display-full.json")["customers"] if c["id"] == 2)
    customer = parse_customer(raw, tz=WARSAW)
    text = repr(customer)
    for secret_field in ("passwd", "secure_key", "reset_password_token"):
        assert not hasattr(customer, secret_field)
    assert raw["passwd"] not in text and raw["secure_key"] not in text


def test_customers_with_null_company_and_note_in_lists_parse() -> None:
    customers = [parse_customer(c, tz=WARSAW) for c in body("customers/display-full.json")["customers"]]
    assert [c.id for c in customers][:3] == [1, 2, 3]


def test_a_guest_customer_is_marked() -> None:
    assert parse_customer(body("customers/single-4-guest.json")["customer"], tz=WARSAW).is_guest is True


def test_a_single_address_with_dropped_empty_fields_reads_them_as_empty() -> None:
    address = parse_address(body("addresses/single-8.json")["address"], tz=WARSAW)
    assert (address.city, address.postcode, address.address1) == ("Kraków", "31-042", "ul. Floriańska 3")
    assert (address.company, address.address2, address.vat_number, address.id_state) == ("", "", "", 0)
    assert address.deleted is False


def test_a_null_company_is_an_empty_string() -> None:
    raw = dict(body("addresses/filter-id_customer-3.json")["addresses"][0], company=None)
    address = parse_address(raw, tz=WARSAW)
    assert address.company == "" and address.address1 == "ul. Marszałkowska 10/12"


# -- countries, currencies, languages, carriers, products ---------------------------------------------


def test_country_name_is_multilingual() -> None:
    country = parse_country(body("countries/single-14-poland.json")["country"], tz=WARSAW)
    assert (country.iso_code, country.name.get(2), country.name.get(1), country.active) == (
        "PL",
        "Polska",
        "Poland",
        True,
    )


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_currency_has_both_a_name_and_multilingual_names(flavour: str) -> None:
    raw = FLAVOURS[flavour](body("currencies/display-full.json")["currencies"][0])
    currency = parse_currency(raw, tz=WARSAW)
    assert (currency.iso_code, currency.name, currency.names.get(2), currency.symbol.get(1)) == (
        "USD",
        "US Dollar",
        "US Dollar",
        "$",
    )
    assert (currency.precision, currency.conversion_rate, currency.active, currency.deleted) == (
        2,
        Decimal(1),
        True,
        False,
    )


def test_a_currency_without_the_name_getter_uses_its_names() -> None:
    raw = copy.deepcopy(body("currencies/single-1.json")["currency"])
    raw.pop("name")
    assert parse_currency(raw, tz=WARSAW).name == "US Dollar"


def test_languages_mixing_number_and_string_flags_parse_alike() -> None:
    languages = [parse_language(raw, tz=WARSAW) for raw in body("languages/display-full.json")["languages"]]
    assert [(lang.iso_code, lang.locale, lang.active) for lang in languages] == [
        ("en", "en-US", True),
        ("pl", "pl-PL", True),
    ]
    assert languages[1].date_format_lite == "d.m.Y"


def test_carrier_keeps_tracking_url_and_delay() -> None:
    carrier = parse_carrier(body("carriers/single-2.json")["carrier"], tz=WARSAW)
    assert carrier.url == "https://tracktrace.example-post.pl/track?number=@"
    assert carrier.delay.get(2) == "Delivery next day!"
    assert (carrier.active, carrier.deleted, carrier.id_reference) == (True, False, 2)


def test_product_name_link_and_image() -> None:
    product = parse_product(body("products/single-1.json")["product"], tz=WARSAW)
    assert product.name.get(2) == "Koszulka z nadrukiem kolibra"
    assert product.link_rewrite.get(1) == "hummingbird-printed-t-shirt"
    assert (product.price, product.id_default_image, product.active) == (Decimal("23.9"), 1, True)


def test_a_new_product_without_image_has_image_zero() -> None:
    assert parse_product(body("products/single-21-new.json")["product"], tz=WARSAW).id_default_image == 0


def test_a_product_collapsed_by_language_two_is_polish() -> None:
    product = parse_product(body("products/single-1-language-2.json")["product"], tz=WARSAW, language=2)
    assert product.name.values == ((2, "Koszulka z nadrukiem kolibra"),)
