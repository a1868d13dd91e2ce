"""Typed records of what the bridge reads from the shop, parsed from the webservice's JSON at the boundary.

PrestaShop's JSON is inconsistent across versions and even across requests (docs/shop-facts.md §4 and
§5): single GETs drop falsy fields, ints come as numbers or strings, booleans as "0"/"1",
money as strings, multilingual fields as a list or as a plain string, unset dates as "0000-00-00 00:00:00",
dates in the shop's local time without an offset. Every one of those quirks is absorbed here, so nothing
behind this module ever sees a raw dict. What the bridge does not need (password hashes, reset tokens, the
customer's and the cart's secure keys, card numbers) is never copied into a record.

A malformed object raises `ShopResponseError` naming the resource, the id and the field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from zoneinfo import ZoneInfo

from bridge.errors import ShopResponseError
from bridge.model.records import (
    ZERO,
    Address,
    Carrier,
    Cart,
    CartProduct,
    CartRow,
    CartRuleSpec,
    Country,
    Currency,
    Customer,
    Language,
    Multilingual,
    Order,
    OrderCarrier,
    OrderDetail,
    OrderHistory,
    OrderPayment,
    OrderRow,
    OrderState,
    Product,
)
from bridge.secret import Secret

_ZERO_DATES: Final = frozenset({"0000-00-00 00:00:00", "0000-00-00", ""})
_DATETIME_RE: Final = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?: (\d{2}):(\d{2}):(\d{2}))?$")


# ----------------------------------------------------------------------------------------------------
# Parsing
# ----------------------------------------------------------------------------------------------------


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


# No real amount reaches 10^16 (PrestaShop stores decimal(20,6)); beyond it, an answer is garbage.
MAX_AMOUNT_DIGITS = 15


class _Reader:
    """Reads one raw object, converting each field and naming resource, id and field in every error."""

    __slots__ = ("_language", "_raw", "_resource", "_tz", "id")

    def __init__(self, resource: str, raw: object, tz: ZoneInfo, language: int | None) -> None:
        self._resource = resource
        self._tz = tz
        self._language = language
        if not isinstance(raw, Mapping):
            raise ShopResponseError(
                f"the shop sent a malformed {resource} object: expected a JSON object, got {_describe(raw)}",
                resource=resource,
            )
        self._raw: Mapping[str, Any] = raw
        self.id = 0
        if "id" not in raw:
            raise ShopResponseError(f"the shop sent a {resource} object without an id", resource=resource)
        self.id = self.integer("id")
        if self.id <= 0:
            raise ShopResponseError(
                f"the shop sent a {resource} object with an invalid id {_describe(raw['id'])}",
                resource=resource,
            )

    def fail(self, field: str, problem: str) -> ShopResponseError:
        return ShopResponseError(
            f"the shop sent {self._resource} {self.id or '?'} with {problem} in field {field!r}",
            resource=self._resource,
        )

    def raw(self, field: str) -> object:
        return self._raw.get(field)

    def integer(self, field: str) -> int:
        value = self._raw.get(field)
        if value is None or value == "":
            return 0  # dropped by the 8.x single-object filter, or an `id_*` NULL rendered as ""
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, Decimal) and value == value.to_integral_value():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value.strip()):
            return int(value.strip())
        raise self.fail(field, f"a non-integer value {_describe(value)}")

    def flag(self, field: str) -> bool:
        value = self._raw.get(field)
        if value is None or value == "" or value is False or value == 0 or value == "0":
            return False
        if value is True or value == 1 or value == "1":
            return True
        raise self.fail(field, f"a non-boolean value {_describe(value)}")

    def text(self, field: str) -> str:
        value = self._raw.get(field)
        if value is None:
            return ""  # dropped, or SQL NULL (customers' company, website, note in lists)
        if isinstance(value, str):
            return value
        if isinstance(value, int | Decimal) and not isinstance(value, bool):
            return str(value)
        raise self.fail(field, f"a non-text value {_describe(value)}")

    def money(self, field: str) -> Decimal:
        value = self._raw.get(field)
        if value is None or value == "":
            return ZERO
        if isinstance(value, bool):
            raise self.fail(field, f"a non-numeric amount {_describe(value)}")
        if isinstance(value, int | Decimal):
            amount = Decimal(value)
        elif isinstance(value, float):
            amount = Decimal(repr(value))
        elif isinstance(value, str):
            try:
                amount = Decimal(value.strip())
            except InvalidOperation:
                raise self.fail(field, f"a non-numeric amount {_describe(value)}") from None
        else:
            raise self.fail(field, f"a non-numeric amount {_describe(value)}")
        if not amount.is_finite():
            raise self.fail(field, f"a non-numeric amount {_describe(value)}")
        if amount and (amount.adjusted() > MAX_AMOUNT_DIGITS or len(amount.as_tuple().digits) > 40):
            # `1E300` is a valid Decimal, but quantizing it for an email raises, and no shop sells it.
            raise self.fail(field, f"an absurd amount {_describe(value)}")
        return amount

    def stamp(self, field: str) -> datetime | None:
        """A shop-local `Y-m-d H:i:s` as an aware datetime in the shop's zone; zero dates become None.

        In the autumn hour that happens twice, fold=0 (the first occurrence, the earlier instant) is taken:
        the string does not say which one was meant, and erring early only widens a poller's overlap window
        instead of skipping rows. A time in the spring gap keeps fold=0 too (the offset before the change).
        """
        value = self._raw.get(field)
        if value is None or value in _ZERO_DATES:
            return None
        if not isinstance(value, str):
            raise self.fail(field, f"a date that is not a date: {_describe(value)}")
        match = _DATETIME_RE.match(value.strip())
        if match is None:
            raise self.fail(field, f"a date that is not a date: {_describe(value)}")
        year, month, day, hour, minute, second = (int(part) if part else 0 for part in match.groups())
        try:
            return datetime(year, month, day, hour, minute, second, tzinfo=self._tz, fold=0)
        except ValueError:
            raise self.fail(field, f"a date that is not a date: {_describe(value)}") from None

    def multilingual(self, field: str) -> Multilingual:
        value = self._raw.get(field)
        if value is None or value == "" or value == []:
            return Multilingual()
        if isinstance(value, str | int) and not isinstance(value, bool):
            return Multilingual(((self._language, str(value)),))
        if isinstance(value, list):
            pairs: list[tuple[int | None, str]] = []
            for item in value:
                if not isinstance(item, Mapping) or "id" not in item:
                    raise self.fail(field, f"a malformed language entry {_describe(item)}")
                language_id = item.get("id")
                text = item.get("value")
                if isinstance(language_id, str) and language_id.strip().isdigit():
                    language_id = int(language_id)
                if not isinstance(language_id, int) or isinstance(language_id, bool):
                    raise self.fail(field, f"a malformed language id {_describe(language_id)}")
                if text is None:
                    text = ""
                if not isinstance(text, str):
                    raise self.fail(field, f"a non-text translation {_describe(text)}")
                pairs.append((language_id, text))
            return Multilingual(tuple(pairs))
        raise self.fail(field, f"a malformed multilingual value {_describe(value)}")

    def association(self, name: str) -> list[Mapping[str, Any]]:
        """Rows of `associations[name]`; absent when empty (JSON drops empty associations)."""
        associations = self._raw.get("associations")
        if associations is None or associations == [] or associations == "":
            return []
        if not isinstance(associations, Mapping):
            raise self.fail("associations", f"a malformed value {_describe(associations)}")
        rows = associations.get(name)
        if rows is None or rows == "":
            return []
        if not isinstance(rows, list) or not all(isinstance(row, Mapping) for row in rows):
            raise self.fail(f"associations.{name}", f"a malformed value {_describe(rows)}")
        return rows

    def child(self, resource: str, raw: Mapping[str, Any]) -> _Reader:
        """A reader for an association row; its errors name the parent object."""
        reader = _Reader.__new__(_Reader)
        reader._resource = resource
        reader._tz = self._tz
        reader._language = self._language
        reader._raw = raw
        reader.id = self.id
        return reader


def _order(r: _Reader) -> Order:
    rows = []
    for raw_row in r.association("order_rows"):
        row = r.child("orders", raw_row)
        rows.append(
            OrderRow(
                id=row.integer("id"),
                product_id=row.integer("product_id"),
                product_attribute_id=row.integer("product_attribute_id"),
                quantity=row.integer("product_quantity"),
                name=row.text("product_name"),
                reference=row.text("product_reference"),
                unit_price_tax_incl=row.money("unit_price_tax_incl"),
                unit_price_tax_excl=row.money("unit_price_tax_excl"),
                product_price=row.money("product_price"),
                id_customization=row.integer("id_customization"),
            )
        )
    return Order(
        id=r.id,
        reference=r.text("reference"),
        id_customer=r.integer("id_customer"),
        id_cart=r.integer("id_cart"),
        id_lang=r.integer("id_lang"),
        id_currency=r.integer("id_currency"),
        id_carrier=r.integer("id_carrier"),
        id_address_delivery=r.integer("id_address_delivery"),
        id_address_invoice=r.integer("id_address_invoice"),
        current_state=r.integer("current_state"),
        module=r.text("module"),
        payment=r.text("payment"),
        valid=r.flag("valid"),
        date_add=r.stamp("date_add"),
        date_upd=r.stamp("date_upd"),
        invoice_number=r.integer("invoice_number"),
        invoice_date=r.stamp("invoice_date"),
        delivery_date=r.stamp("delivery_date"),
        shipping_number=r.text("shipping_number"),
        secure_key=Secret(r.text("secure_key")),
        total_paid=r.money("total_paid"),
        total_paid_tax_incl=r.money("total_paid_tax_incl"),
        total_paid_tax_excl=r.money("total_paid_tax_excl"),
        total_paid_real=r.money("total_paid_real"),
        total_products=r.money("total_products"),
        total_products_wt=r.money("total_products_wt"),
        total_discounts=r.money("total_discounts"),
        total_discounts_tax_incl=r.money("total_discounts_tax_incl"),
        total_discounts_tax_excl=r.money("total_discounts_tax_excl"),
        total_shipping=r.money("total_shipping"),
        total_shipping_tax_incl=r.money("total_shipping_tax_incl"),
        total_shipping_tax_excl=r.money("total_shipping_tax_excl"),
        total_wrapping=r.money("total_wrapping"),
        total_wrapping_tax_incl=r.money("total_wrapping_tax_incl"),
        total_wrapping_tax_excl=r.money("total_wrapping_tax_excl"),
        carrier_tax_rate=r.money("carrier_tax_rate"),
        conversion_rate=r.money("conversion_rate"),
        gift=r.flag("gift"),
        gift_message=r.text("gift_message"),
        rows=tuple(rows),
    )


def _order_detail(r: _Reader) -> OrderDetail:
    return OrderDetail(
        id=r.id,
        id_order=r.integer("id_order"),
        product_id=r.integer("product_id"),
        product_attribute_id=r.integer("product_attribute_id"),
        product_name=r.text("product_name"),
        product_reference=r.text("product_reference"),
        product_quantity=r.integer("product_quantity"),
        product_quantity_refunded=r.integer("product_quantity_refunded"),
        product_quantity_return=r.integer("product_quantity_return"),
        unit_price_tax_incl=r.money("unit_price_tax_incl"),
        unit_price_tax_excl=r.money("unit_price_tax_excl"),
        total_price_tax_incl=r.money("total_price_tax_incl"),
        total_price_tax_excl=r.money("total_price_tax_excl"),
        total_refunded_tax_incl=r.money("total_refunded_tax_incl"),
        total_refunded_tax_excl=r.money("total_refunded_tax_excl"),
    )


def _order_history(r: _Reader) -> OrderHistory:
    return OrderHistory(
        id=r.id,
        id_order=r.integer("id_order"),
        id_order_state=r.integer("id_order_state"),
        id_employee=r.integer("id_employee"),
        date_add=r.stamp("date_add"),
    )


def _order_state(r: _Reader) -> OrderState:
    return OrderState(
        id=r.id,
        name=r.multilingual("name"),
        template=r.multilingual("template"),
        send_email=r.flag("send_email"),
        paid=r.flag("paid"),
        shipped=r.flag("shipped"),
        delivery=r.flag("delivery"),
        logable=r.flag("logable"),
        invoice=r.flag("invoice"),
        deleted=r.flag("deleted"),
        hidden=r.flag("hidden"),
        unremovable=r.flag("unremovable"),
        pdf_invoice=r.flag("pdf_invoice"),
        pdf_delivery=r.flag("pdf_delivery"),
        module_name=r.text("module_name"),
        color=r.text("color"),
    )


def _order_payment(r: _Reader) -> OrderPayment:
    return OrderPayment(
        id=r.id,
        order_reference=r.text("order_reference"),
        amount=r.money("amount"),
        payment_method=r.text("payment_method"),
        transaction_id=r.text("transaction_id"),
        id_currency=r.integer("id_currency"),
        conversion_rate=r.money("conversion_rate"),
        date_add=r.stamp("date_add"),
    )


def _order_carrier(r: _Reader) -> OrderCarrier:
    return OrderCarrier(
        id=r.id,
        id_order=r.integer("id_order"),
        id_carrier=r.integer("id_carrier"),
        tracking_number=r.text("tracking_number"),
        shipping_cost_tax_incl=r.money("shipping_cost_tax_incl"),
        shipping_cost_tax_excl=r.money("shipping_cost_tax_excl"),
        date_add=r.stamp("date_add"),
    )


def _cart(r: _Reader) -> Cart:
    rows = []
    for raw_row in r.association("cart_rows"):
        row = r.child("carts", raw_row)
        rows.append(
            CartRow(
                id_product=row.integer("id_product"),
                id_product_attribute=row.integer("id_product_attribute"),
                id_address_delivery=row.integer("id_address_delivery"),
                id_customization=row.integer("id_customization"),
                quantity=row.integer("quantity"),
            )
        )
    return Cart(
        id=r.id,
        id_customer=r.integer("id_customer"),
        id_guest=r.integer("id_guest"),
        id_lang=r.integer("id_lang"),
        id_currency=r.integer("id_currency"),
        id_carrier=r.integer("id_carrier"),
        id_address_delivery=r.integer("id_address_delivery"),
        id_address_invoice=r.integer("id_address_invoice"),
        date_add=r.stamp("date_add"),
        date_upd=r.stamp("date_upd"),
        rows=tuple(rows),
    )


def _customer(r: _Reader) -> Customer:
    return Customer(
        id=r.id,
        id_lang=r.integer("id_lang"),
        email=r.text("email"),
        firstname=r.text("firstname"),
        lastname=r.text("lastname"),
        id_gender=r.integer("id_gender"),
        newsletter=r.flag("newsletter"),
        newsletter_date_add=r.stamp("newsletter_date_add"),
        optin=r.flag("optin"),
        is_guest=r.flag("is_guest"),
        active=r.flag("active"),
        deleted=r.flag("deleted"),
        date_add=r.stamp("date_add"),
        date_upd=r.stamp("date_upd"),
    )


def _address(r: _Reader) -> Address:
    return Address(
        id=r.id,
        id_customer=r.integer("id_customer"),
        id_country=r.integer("id_country"),
        id_state=r.integer("id_state"),
        alias=r.text("alias"),
        company=r.text("company"),
        firstname=r.text("firstname"),
        lastname=r.text("lastname"),
        address1=r.text("address1"),
        address2=r.text("address2"),
        postcode=r.text("postcode"),
        city=r.text("city"),
        phone=r.text("phone"),
        phone_mobile=r.text("phone_mobile"),
        vat_number=r.text("vat_number"),
        deleted=r.flag("deleted"),
    )


def _country(r: _Reader) -> Country:
    return Country(id=r.id, iso_code=r.text("iso_code"), name=r.multilingual("name"), active=r.flag("active"))


def _currency(r: _Reader) -> Currency:
    names = r.multilingual("names")
    return Currency(
        id=r.id,
        iso_code=r.text("iso_code"),
        name=r.text("name") or names.get(),
        names=names,
        symbol=r.multilingual("symbol"),
        precision=r.integer("precision"),
        conversion_rate=r.money("conversion_rate"),
        active=r.flag("active"),
        deleted=r.flag("deleted"),
    )


def _language(r: _Reader) -> Language:
    return Language(
        id=r.id,
        name=r.text("name"),
        iso_code=r.text("iso_code"),
        locale=r.text("locale"),
        language_code=r.text("language_code"),
        active=r.flag("active"),
        date_format_lite=r.text("date_format_lite"),
        date_format_full=r.text("date_format_full"),
    )


def _carrier(r: _Reader) -> Carrier:
    return Carrier(
        id=r.id,
        id_reference=r.integer("id_reference"),
        name=r.text("name"),
        url=r.text("url"),
        delay=r.multilingual("delay"),
        active=r.flag("active"),
        deleted=r.flag("deleted"),
    )


def _product(r: _Reader) -> Product:
    return Product(
        id=r.id,
        reference=r.text("reference"),
        name=r.multilingual("name"),
        link_rewrite=r.multilingual("link_rewrite"),
        price=r.money("price"),
        id_default_image=r.integer("id_default_image"),
        active=r.flag("active"),
        date_add=r.stamp("date_add"),
        date_upd=r.stamp("date_upd"),
    )


def _cart_product(r: _Reader, price_fields: Mapping[str, int]) -> CartProduct:
    return CartProduct(
        id=r.id,
        name=r.multilingual("name"),
        link_rewrite=r.multilingual("link_rewrite"),
        id_default_image=r.integer("id_default_image"),
        active=r.flag("active"),
        prices={
            attribute: r.money(alias) for alias, attribute in price_fields.items() if r.raw(alias) is not None
        },
    )


def parse_order(raw: object, *, tz: ZoneInfo, language: int | None = None) -> Order:
    """One raw `orders` object → `Order`; `language`: that of collapsed i18n strings."""
    return _order(_Reader("orders", raw, tz, language))


def parse_order_detail(raw: object, *, tz: ZoneInfo, language: int | None = None) -> OrderDetail:
    """One raw `order_details` object → `OrderDetail`; `language`: that of collapsed i18n strings."""
    return _order_detail(_Reader("order_details", raw, tz, language))


def parse_order_history(raw: object, *, tz: ZoneInfo, language: int | None = None) -> OrderHistory:
    """One raw `order_histories` object → `OrderHistory`; `language`: that of collapsed i18n strings."""
    return _order_history(_Reader("order_histories", raw, tz, language))


def parse_order_state(raw: object, *, tz: ZoneInfo, language: int | None = None) -> OrderState:
    """One raw `order_states` object → `OrderState`; `language`: that of collapsed i18n strings."""
    return _order_state(_Reader("order_states", raw, tz, language))


def parse_order_payment(raw: object, *, tz: ZoneInfo, language: int | None = None) -> OrderPayment:
    """One raw `order_payments` object → `OrderPayment`; `language`: that of collapsed i18n strings."""
    return _order_payment(_Reader("order_payments", raw, tz, language))


def parse_order_carrier(raw: object, *, tz: ZoneInfo, language: int | None = None) -> OrderCarrier:
    """One raw `order_carriers` object → `OrderCarrier`; `language`: that of collapsed i18n strings."""
    return _order_carrier(_Reader("order_carriers", raw, tz, language))


def parse_cart(raw: object, *, tz: ZoneInfo, language: int | None = None) -> Cart:
    """One raw `carts` object → `Cart`; `language`: that of collapsed i18n strings."""
    return _cart(_Reader("carts", raw, tz, language))


def parse_customer(raw: object, *, tz: ZoneInfo, language: int | None = None) -> Customer:
    """One raw `customers` object → `Customer`; `language`: that of collapsed i18n strings."""
    return _customer(_Reader("customers", raw, tz, language))


def parse_address(raw: object, *, tz: ZoneInfo, language: int | None = None) -> Address:
    """One raw `addresses` object → `Address`; `language`: that of collapsed i18n strings."""
    return _address(_Reader("addresses", raw, tz, language))


def parse_country(raw: object, *, tz: ZoneInfo, language: int | None = None) -> Country:
    """One raw `countries` object → `Country`; `language`: that of collapsed i18n strings."""
    return _country(_Reader("countries", raw, tz, language))


def parse_currency(raw: object, *, tz: ZoneInfo, language: int | None = None) -> Currency:
    """One raw `currencies` object → `Currency`; `language`: that of collapsed i18n strings."""
    return _currency(_Reader("currencies", raw, tz, language))


def parse_language(raw: object, *, tz: ZoneInfo, language: int | None = None) -> Language:
    """One raw `languages` object → `Language`; `language`: that of collapsed i18n strings."""
    return _language(_Reader("languages", raw, tz, language))


def parse_carrier(raw: object, *, tz: ZoneInfo, language: int | None = None) -> Carrier:
    """One raw `carriers` object → `Carrier`; `language`: that of collapsed i18n strings."""
    return _carrier(_Reader("carriers", raw, tz, language))


def parse_product(raw: object, *, tz: ZoneInfo, language: int | None = None) -> Product:
    """One raw `products` object → `Product`; `language`: that of collapsed i18n strings."""
    return _product(_Reader("products", raw, tz, language))


def parse_cart_product(
    raw: object, *, tz: ZoneInfo, language: int | None = None, price_fields: Mapping[str, int]
) -> CartProduct:
    """One raw `products` object read with price aliases → `CartProduct`.

    `price_fields` maps each price alias (the output key, lower case) to the combination id it priced.
    """
    return _cart_product(_Reader("products", raw, tz, language), price_fields)


PARSERS: Final[Mapping[str, Callable[..., object]]] = {
    "orders": parse_order,
    "order_details": parse_order_detail,
    "order_histories": parse_order_history,
    "order_states": parse_order_state,
    "order_payments": parse_order_payment,
    "order_carriers": parse_order_carrier,
    "carts": parse_cart,
    "customers": parse_customer,
    "addresses": parse_address,
    "countries": parse_country,
    "currencies": parse_currency,
    "languages": parse_language,
    "carriers": parse_carrier,
    "products": parse_product,
}


def parse_shop_datetime(value: str | None, tz: ZoneInfo) -> datetime | None:
    """Parse one shop-local date string the way record fields are (zero dates → None)."""
    return _Reader("value", {"id": 1, "value": value}, tz, None).stamp("value")


__all__: Sequence[str] = (
    "PARSERS",
    "Address",
    "Carrier",
    "Cart",
    "CartProduct",
    "CartRow",
    "CartRuleSpec",
    "Country",
    "Currency",
    "Customer",
    "Language",
    "Multilingual",
    "Order",
    "OrderCarrier",
    "OrderDetail",
    "OrderHistory",
    "OrderPayment",
    "OrderRow",
    "OrderState",
    "Product",
    "parse_address",
    "parse_carrier",
    "parse_cart",
    "parse_cart_product",
    "parse_country",
    "parse_currency",
    "parse_customer",
    "parse_language",
    "parse_order",
    "parse_order_carrier",
    "parse_order_detail",
    "parse_order_history",
    "parse_order_payment",
    "parse_order_state",
    "parse_product",
    "parse_shop_datetime",
)
