"""Typed records of what the bridge reads from the shop: plain values, every webservice quirk already
absorbed by `bridge.shop.parse`. What the bridge does not need (password hashes, reset tokens, card
numbers) has no field here; the cart's secure key is a `Secret`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final

from bridge.secret import Secret

ZERO: Final = Decimal(0)


# ----------------------------------------------------------------------------------------------------
# Multilingual values
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Multilingual:
    """A text per language id. `None` as a language id means "any language".

    PrestaShop sends a list `[{"id": 1, "value": "…"}, …]`, but collapses it to a plain string when only one
    language is selected (a single-language shop, or `language=N`). A collapsed string whose language the
    caller knows is stored under that id; otherwise it is stored under `None` and answers for every language.
    """

    values: tuple[tuple[int | None, str], ...] = ()

    @classmethod
    def of(cls, mapping: Mapping[int | None, str]) -> Multilingual:
        return cls(tuple(mapping.items()))

    def get(self, id_lang: int | None = None, default: str = "") -> str:
        """The text in `id_lang`, else the any-language text, else the first non-empty text, else `default`.

        Falling back to another language is deliberate: an email with an English product name is better
        than one with a blank where the name should be.
        """
        any_language: str | None = None
        for language, text in self.values:
            if language == id_lang and text:
                return text
            if language is None and text:
                any_language = text
        if any_language is not None:
            return any_language
        for _language, text in self.values:
            if text:
                return text
        return default

    def exact(self, id_lang: int) -> str | None:
        """The text stored for exactly this language (or for "any language"), without falling back."""
        for language, text in self.values:
            if language == id_lang or language is None:
                return text
        return None

    @property
    def languages(self) -> tuple[int | None, ...]:
        return tuple(language for language, _ in self.values)

    def __bool__(self) -> bool:
        return any(text for _, text in self.values)


# ----------------------------------------------------------------------------------------------------
# Records
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderRow:
    id: int
    product_id: int
    product_attribute_id: int
    quantity: int
    name: str  # frozen at order time, in the order's language, attributes appended
    reference: str
    unit_price_tax_incl: Decimal
    unit_price_tax_excl: Decimal
    product_price: Decimal  # unit price tax excluded before reductions
    id_customization: int


@dataclass(frozen=True, slots=True)
class Order:
    """An order. With `fields=` only some fields were requested; the others hold their zero value."""

    id: int
    reference: str
    id_customer: int
    id_cart: int
    id_lang: int
    id_currency: int
    id_carrier: int
    id_address_delivery: int
    id_address_invoice: int
    current_state: int
    module: str
    payment: str
    valid: bool
    date_add: datetime | None
    date_upd: datetime | None
    invoice_number: int
    invoice_date: datetime | None
    delivery_date: datetime | None
    shipping_number: str
    # A bearer credential: with the order id it opens the order-confirmation / guest pages. It stays a
    # Secret so a log line, a repr or the state store never shows it; only the link builder reveals it.
    secure_key: Secret
    total_paid: Decimal
    total_paid_tax_incl: Decimal
    total_paid_tax_excl: Decimal
    total_paid_real: Decimal
    total_products: Decimal
    total_products_wt: Decimal
    total_discounts: Decimal
    total_discounts_tax_incl: Decimal
    total_discounts_tax_excl: Decimal
    total_shipping: Decimal
    total_shipping_tax_incl: Decimal
    total_shipping_tax_excl: Decimal
    total_wrapping: Decimal
    total_wrapping_tax_incl: Decimal
    total_wrapping_tax_excl: Decimal
    carrier_tax_rate: Decimal
    conversion_rate: Decimal
    gift: bool
    gift_message: str
    rows: tuple[OrderRow, ...]


@dataclass(frozen=True, slots=True)
class OrderDetail:
    id: int
    id_order: int
    product_id: int
    product_attribute_id: int
    product_name: str
    product_reference: str
    product_quantity: int
    product_quantity_refunded: int
    product_quantity_return: int
    unit_price_tax_incl: Decimal
    unit_price_tax_excl: Decimal
    total_price_tax_incl: Decimal
    total_price_tax_excl: Decimal
    total_refunded_tax_incl: Decimal
    total_refunded_tax_excl: Decimal


@dataclass(frozen=True, slots=True)
class OrderHistory:
    id: int
    id_order: int
    id_order_state: int
    id_employee: int  # 0 = front office / payment module / webservice, >0 = a back-office employee
    date_add: datetime | None


@dataclass(frozen=True, slots=True)
class OrderState:
    id: int
    name: Multilingual
    template: Multilingual  # PrestaShop's own mail template name; empty = no mail
    send_email: bool
    paid: bool
    shipped: bool
    delivery: bool
    logable: bool
    invoice: bool
    deleted: bool
    hidden: bool
    unremovable: bool
    pdf_invoice: bool
    pdf_delivery: bool
    module_name: str
    color: str


@dataclass(frozen=True, slots=True)
class OrderPayment:
    id: int
    order_reference: str  # payments link to orders by reference, not by id
    amount: Decimal
    payment_method: str
    transaction_id: str
    id_currency: int
    conversion_rate: Decimal
    date_add: datetime | None  # typed by an employee in the back office: never a change cursor


@dataclass(frozen=True, slots=True)
class OrderCarrier:
    id: int
    id_order: int
    id_carrier: int
    tracking_number: str
    shipping_cost_tax_incl: Decimal
    shipping_cost_tax_excl: Decimal
    date_add: datetime | None


@dataclass(frozen=True, slots=True)
class CartRow:
    id_product: int
    id_product_attribute: int
    id_address_delivery: int
    id_customization: int
    quantity: int


@dataclass(frozen=True, slots=True)
class Cart:
    id: int
    id_customer: int  # 0 for an anonymous visitor: nobody to write to
    id_guest: int
    id_lang: int
    id_currency: int
    id_carrier: int
    id_address_delivery: int
    id_address_invoice: int
    date_add: datetime | None
    date_upd: datetime | None
    rows: tuple[CartRow, ...]


@dataclass(frozen=True, slots=True)
class CartProduct:
    """A product as a cart reminder shows it, priced by the shop for the cart's currency.

    `prices` maps a combination id (0 = the product without one, or its default combination) to the unit
    price tax included, computed by PrestaShop itself (`price[...]` virtual fields): only the combinations
    that were asked for. A combination the product no longer has is priced 0 by PrestaShop.
    """

    id: int
    name: Multilingual
    link_rewrite: Multilingual
    id_default_image: int
    active: bool
    prices: Mapping[int, Decimal]


@dataclass(frozen=True, slots=True)
class CartRuleSpec:
    """A discount code the bridge asks the shop to create (`POST cart_rules`).

    Every field is sent: the webservice stores a field left out of the body as 0, not as the class default
    (a rule posted without `quantity` could never be used). Datetimes must be timezone-aware; the client
    writes them in the shop's time zone. Exactly one of `reduction_percent` / `reduction_amount` is set
    (or neither, with `free_shipping`); an amount needs its `reduction_currency`.
    """

    code: str
    names: Mapping[int, str]  # language id -> name shown in the cart and on the invoice
    date_from: datetime
    date_to: datetime
    id_customer: int = 0  # 0 = anyone may use the code
    reduction_percent: Decimal | None = None
    reduction_amount: Decimal | None = None
    reduction_currency: int = 0
    reduction_tax: bool = True  # the amount includes tax
    free_shipping: bool = False
    quantity: int = 1  # uses left in total
    quantity_per_user: int = 1
    minimum_amount: Decimal | None = None
    minimum_amount_currency: int = 0
    minimum_amount_tax: bool = True
    minimum_amount_shipping: bool = False
    highlight: bool = False  # shown in the cart to customers who may use it
    partial_use: bool = False  # False: an amount larger than the order is lost, not kept as a new code
    active: bool = True
    priority: int = 1
    description: str = ""

    def __post_init__(self) -> None:
        problems = _cart_rule_problems(self)
        if problems:
            raise ValueError("invalid cart rule: " + "; ".join(problems))


def _cart_rule_problems(spec: CartRuleSpec) -> list[str]:
    problems: list[str] = []
    if not spec.code or len(spec.code) > 254 or re.search(r"[\s<>]", spec.code):
        problems.append("the code must be 1-254 characters without spaces or < >")
    if not spec.names or any(not name.strip() or len(name) > 254 for name in spec.names.values()):
        problems.append("every name must be 1-254 characters, in at least one language")
    if spec.date_from.tzinfo is None or spec.date_to.tzinfo is None:
        problems.append("date_from and date_to must be timezone-aware")
    elif spec.date_to <= spec.date_from:
        problems.append("date_to must come after date_from")
    reductions = [r for r in (spec.reduction_percent, spec.reduction_amount) if r is not None]
    if len(reductions) > 1 or (not reductions and not spec.free_shipping):
        problems.append("set exactly one of reduction_percent and reduction_amount (or free_shipping)")
    if spec.reduction_percent is not None and not ZERO < spec.reduction_percent <= 100:
        problems.append("reduction_percent must be above 0 and at most 100")
    if spec.reduction_amount is not None and (spec.reduction_amount <= 0 or spec.reduction_currency <= 0):
        problems.append("reduction_amount must be positive and name its reduction_currency")
    if spec.minimum_amount is not None and (spec.minimum_amount < 0 or spec.minimum_amount_currency <= 0):
        problems.append("minimum_amount must not be negative and must name its minimum_amount_currency")
    if spec.quantity < 1 or spec.quantity_per_user < 1 or spec.priority < 0 or spec.id_customer < 0:
        problems.append("quantity and quantity_per_user must be at least 1, priority and id_customer >= 0")
    return problems


@dataclass(frozen=True, slots=True)
class Customer:
    id: int
    id_lang: int
    email: str
    firstname: str
    lastname: str
    id_gender: int
    newsletter: bool
    newsletter_date_add: datetime | None  # when consent was given: evidence for marketing mail
    optin: bool
    is_guest: bool
    active: bool
    deleted: bool
    date_add: datetime | None
    date_upd: datetime | None


@dataclass(frozen=True, slots=True)
class Address:
    id: int
    id_customer: int
    id_country: int
    id_state: int
    alias: str
    company: str
    firstname: str
    lastname: str
    address1: str
    address2: str
    postcode: str
    city: str
    phone: str
    phone_mobile: str
    vat_number: str
    deleted: bool


@dataclass(frozen=True, slots=True)
class Country:
    id: int
    iso_code: str
    name: Multilingual
    active: bool


@dataclass(frozen=True, slots=True)
class Currency:
    id: int
    iso_code: str
    name: str  # the default language's name (a getter; a plain string even on multilingual shops)
    names: Multilingual
    symbol: Multilingual
    precision: int
    conversion_rate: Decimal
    active: bool
    deleted: bool


@dataclass(frozen=True, slots=True)
class Language:
    id: int
    name: str
    iso_code: str  # "pl"
    locale: str  # "pl-PL"
    language_code: str  # "pl-pl"
    active: bool
    date_format_lite: str
    date_format_full: str


@dataclass(frozen=True, slots=True)
class Carrier:
    id: int
    id_reference: int  # stable across edits; the id changes each time a carrier is edited
    name: str  # "0" means "use the shop name"
    url: str  # tracking URL, "@" is the tracking-number placeholder
    delay: Multilingual
    active: bool
    deleted: bool


@dataclass(frozen=True, slots=True)
class Product:
    id: int
    reference: str
    name: Multilingual
    link_rewrite: Multilingual
    price: Decimal  # base price, tax excluded
    id_default_image: int
    active: bool
    date_add: datetime | None
    date_upd: datetime | None
