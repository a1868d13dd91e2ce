"""Template contexts built from shop records: the JSON the outbox stores and the templates read.

Pure. The shapes are the contract in `bridge.model.kinds`; everything is converted to plain values here, so a
queued email renders the same after a restart, and nothing the emails do not show is stored (no secure
keys, no password hashes).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import quote, urlencode

from bridge.model.records import Address, Carrier, Country, Customer, Order, OrderPayment

CENT = Decimal("0.01")


@dataclass(frozen=True)
class OrderFacts:
    """Everything about one order that its emails may show, gathered by the sync in batches."""

    order: Order
    customer: Customer | None
    delivery_address: Address | None
    invoice_address: Address | None
    countries: Mapping[int, Country]
    carrier: Carrier | None
    currency: str  # ISO 4217, "" when the order's currency is unknown
    language_id: int
    payments: Sequence[OrderPayment]
    tracking_number: str
    discounts: Sequence[tuple[str, Decimal]]  # (cart rule name, amount tax incl)
    images: Mapping[int, str] = field(default_factory=dict)  # product id → public image URL


def product_image_url(front_url: str, id_image: int, image_type: str) -> str:
    """PrestaShop's public image URL (no key needed): /img/p/1/2/12-small_default.jpg for image 12."""
    folders = "/".join(str(id_image))
    return f"{front_url.rstrip('/')}/img/p/{folders}/{id_image}-{image_type}.jpg"


def money(amount: Decimal, currency: str) -> dict[str, str]:
    return {"amount": str(amount.quantize(CENT, rounding=ROUND_HALF_UP)), "currency": currency}


def instant(*candidates: datetime | None) -> str:
    """The first known instant as ISO 8601; "" when none is known (a `0000-00-00` date in the shop): the
    templates then leave the date out rather than show 1 January 1970."""
    for value in candidates:
        if value is not None:
            return value.isoformat()
    return ""


def customer_context(customer: Customer) -> dict[str, str]:
    return {"first_name": customer.firstname, "last_name": customer.lastname, "email": customer.email}


def address_context(
    address: Address | None, countries: Mapping[int, Country], language_id: int
) -> dict[str, Any]:
    if address is None:
        return {
            "first_name": "",
            "last_name": "",
            "company": "",
            "vat_number": "",
            "street": [],
            "postal_code": "",
            "city": "",
            "state": "",
            "country": "",
            "phone": "",
            "country_code": "",
        }
    country = countries.get(address.id_country)
    return {
        "first_name": address.firstname,
        "last_name": address.lastname,
        "company": address.company,
        "vat_number": address.vat_number,
        "street": [line for line in (address.address1, address.address2) if line.strip()],
        "postal_code": address.postcode,
        "city": address.city,
        "state": "",
        "country": country.name.get(language_id) if country else "",
        "phone": address.phone or address.phone_mobile,
        "country_code": country.iso_code.upper() if country else "",
    }


def order_url(front_url: str, order: Order, customer: Customer) -> tuple[str, bool]:
    """The order in the customer's account, or the guest tracking page (reference + email) for guests."""
    base = front_url.rstrip("/")
    if customer.is_guest:
        query = urlencode(
            {"controller": "guest-tracking", "order_reference": order.reference, "email": customer.email}
        )
        return f"{base}/index.php?{query}", True
    return f"{base}/index.php?controller=order-detail&id_order={order.id}", False


def order_summary(facts: OrderFacts, front_url: str) -> dict[str, Any]:
    order = facts.order
    assert facts.customer is not None
    url, guest = order_url(front_url, order, facts.customer)
    return {
        "reference": order.reference,
        "date": instant(order.date_add, order.date_upd),
        "url": url,
        "guest": guest,
        "total": money(order.total_paid_tax_incl, facts.currency),
        "payment_method": order.payment,
        "country": delivery_country(facts),
        # An invoice exists (PrestaShop numbers it on entering an invoice state): the order's page, which
        # `url` opens (the account's order details, or guest tracking), offers its PDF.
        "invoice": order.invoice_number > 0,
    }


def delivery_country(facts: OrderFacts) -> str:
    """The ISO code of the country the order goes to (else is billed to), "" when unknown."""
    for address in (facts.delivery_address, facts.invoice_address):
        country = facts.countries.get(address.id_country) if address is not None else None
        if country is not None and country.iso_code:
            return country.iso_code.upper()
    return ""


def status_context(facts: OrderFacts, front_url: str) -> dict[str, Any]:
    assert facts.customer is not None
    return {"customer": customer_context(facts.customer), "order": order_summary(facts, front_url)}


def tax_lines(order: Order, currency: str) -> list[dict[str, Any]]:
    """Tax included in the total, one line per rate, derived from the rows' prices with and without tax.

    The webservice does not expose order_detail_tax amounts on the order; the rates are recovered from
    each row's unit prices and rounded to a tenth of a percent (23 %, 8 %, 5 %).
    """
    by_rate: dict[Decimal, Decimal] = defaultdict(Decimal)
    for row in order.rows:
        if row.unit_price_tax_excl > 0 and row.unit_price_tax_incl > row.unit_price_tax_excl:
            rate = ((row.unit_price_tax_incl / row.unit_price_tax_excl - 1) * 100).quantize(Decimal("0.1"))
            by_rate[rate] += (row.unit_price_tax_incl - row.unit_price_tax_excl) * row.quantity
    shipping_tax = order.total_shipping_tax_incl - order.total_shipping_tax_excl
    if shipping_tax > 0 and order.carrier_tax_rate > 0:
        by_rate[order.carrier_tax_rate.quantize(Decimal("0.1"))] += shipping_tax
    return [
        {"label": f"VAT {rate.normalize():f}%", "amount": money(amount, currency)}
        for rate, amount in sorted(by_rate.items(), reverse=True)
        if amount > 0
    ]


def confirmation_context(facts: OrderFacts, front_url: str, *, paid: bool) -> dict[str, Any]:
    order = facts.order
    currency = facts.currency
    assert facts.customer is not None
    discounts = [{"name": name, "amount": money(amount, currency)} for name, amount in facts.discounts]
    if not discounts and order.total_discounts_tax_incl > 0:
        discounts = [{"name": "", "amount": money(order.total_discounts_tax_incl, currency)}]
    return {
        "customer": customer_context(facts.customer),
        "order": order_summary(facts, front_url),
        "items": order_lines(facts),
        "discounts": discounts,
        "totals": {
            "products": money(order.total_products_wt, currency),
            "discounts": money(order.total_discounts_tax_incl, currency)
            if order.total_discounts_tax_incl > 0
            else None,
            "shipping": money(order.total_shipping_tax_incl, currency),
            "wrapping": money(order.total_wrapping_tax_incl, currency)
            if order.total_wrapping_tax_incl > 0
            else None,
            "taxes": tax_lines(order, currency),
            "total_tax_excl": money(order.total_paid_tax_excl, currency),
            "total": money(order.total_paid_tax_incl, currency),
        },
        "paid": paid,
        "carrier": carrier_name(facts.carrier),
        "delivery_address": address_context(facts.delivery_address, facts.countries, facts.language_id),
        "invoice_address": address_context(facts.invoice_address, facts.countries, facts.language_id),
        "message": "",
    }


def order_lines(facts: OrderFacts) -> list[dict[str, Any]]:
    """The order's products as its emails list them (tax included)."""
    return [
        {
            "name": row.name,
            "reference": row.reference,
            "customization": "",
            "quantity": row.quantity,
            "unit_price": money(row.unit_price_tax_incl, facts.currency),
            "total": money(row.unit_price_tax_incl * row.quantity, facts.currency),
            "image_url": facts.images.get(row.product_id, ""),
        }
        for row in facts.order.rows
    ]


def carrier_name(carrier: Carrier | None, shop_name: str = "") -> str:
    if carrier is None:
        return ""
    return shop_name if carrier.name == "0" else carrier.name  # "0" means "use the shop's name"


def tracking_url(carrier: Carrier | None, number: str) -> str:
    """The carrier's URL with `@` replaced by the tracking number (PrestaShop's own convention)."""
    if carrier is None or not carrier.url or not number or "@" not in carrier.url:
        return ""
    return carrier.url.replace("@", quote(number, safe=""))


def shipment_context(facts: OrderFacts, shop_name: str) -> dict[str, Any]:
    """The parcel: carrier, tracking, the carrier's delivery time, what it holds and where it goes."""
    delay = facts.carrier.delay.get(facts.language_id) if facts.carrier is not None else ""
    return {
        "carrier": carrier_name(facts.carrier, shop_name),
        "tracking_number": facts.tracking_number,
        "tracking_url": tracking_url(facts.carrier, facts.tracking_number),
        "delay": (delay or "").strip(),
        "items": order_lines(facts),
        "address": address_context(facts.delivery_address, facts.countries, facts.language_id),
    }


def payment_context(
    facts: OrderFacts, payment: OrderPayment | None, currencies: Mapping[int, str]
) -> dict[str, Any]:
    """The payment to confirm: the given one, else the order's latest, else what the order says."""
    chosen = payment or (max(facts.payments, key=lambda p: p.id) if facts.payments else None)
    if chosen is None:
        return {
            "method": facts.order.payment,
            "amount": money(facts.order.total_paid_tax_incl, facts.currency),
            "transaction_id": "",
            "date": instant(facts.order.date_upd),
        }
    return {
        "method": chosen.payment_method or facts.order.payment,
        "amount": money(chosen.amount, currencies.get(chosen.id_currency, facts.currency)),
        "transaction_id": chosen.transaction_id,
        "date": instant(chosen.date_add, facts.order.date_upd),
    }


def bank_context(
    configuration: Mapping[str, str | None], overrides: Mapping[str, str]
) -> dict[str, str] | None:
    """Bank details: the owner's BANK_* settings, else the wire-payment module's own configuration."""
    details = (overrides.get("iban") or configuration.get("BANK_WIRE_DETAILS") or "").strip()
    owner = (overrides.get("owner") or configuration.get("BANK_WIRE_OWNER") or "").strip()
    if not details or not owner:
        return None
    return {
        "owner": owner,
        "iban": details,
        "bic": overrides.get("bic", ""),
        "bank_name": overrides.get("bank_name", ""),
        "address": (overrides.get("address") or configuration.get("BANK_WIRE_ADDRESS") or "").strip(),
    }


def cheque_context(configuration: Mapping[str, str | None]) -> dict[str, Any] | None:
    payee = (configuration.get("CHEQUE_NAME") or "").strip()
    if not payee:
        return None
    lines = [
        line.strip() for line in (configuration.get("CHEQUE_ADDRESS") or "").splitlines() if line.strip()
    ]
    return {"payee": payee, "address": lines}
