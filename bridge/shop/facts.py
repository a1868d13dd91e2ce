"""Everything the emails of some orders need from the shop: customers, addresses, countries, carriers,
payments, tracking numbers, discount names and product images, in a few batched requests (never one GET per
order)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation

from bridge.errors import ShopPermissionError, ShopRequestError
from bridge.model.profile import ShopProfile
from bridge.model.records import Order, OrderCarrier, OrderPayment
from bridge.plan.contexts import OrderFacts, product_image_url
from bridge.shop.client import ShopClient
from bridge.shop.query import Query, is_filterable

log = logging.getLogger(__name__)


def _tracking_numbers(client: ShopClient, order_ids: Sequence[int]) -> dict[int, str]:
    if not order_ids:
        return {}
    carriers: list[OrderCarrier] = client.order_carriers(order_ids)
    numbers: dict[int, str] = {}
    for carrier in sorted(carriers, key=lambda c: c.id):
        numbers[carrier.id_order] = carrier.tracking_number.strip()  # the latest carrier row wins
    return numbers


def gather_facts(
    client: ShopClient,
    profile: ShopProfile,
    orders: Sequence[Order],
    tracking: Mapping[int, str] | None = None,
    *,
    image_type: str | None = None,
    payments_read: Mapping[str, Sequence[OrderPayment]] | None = None,
) -> dict[int, OrderFacts]:
    """Customers, addresses, countries, carriers, payments and tracking numbers of these orders: a few
    batched requests. `tracking`: numbers already read (the watch), the others are read here;
    `payments_read`: the whole payments of some references, already read (those are not read again)."""
    if not orders:
        return {}
    tracking = dict(tracking or {})
    tracking.update(_tracking_numbers(client, [o.id for o in orders if o.id not in tracking]))
    customers = {c.id: c for c in client.customers({o.id_customer for o in orders})}
    address_ids = {o.id_address_delivery for o in orders} | {o.id_address_invoice for o in orders}
    addresses = {a.id: a for a in client.addresses(address_ids)}
    countries = {c.id: c for c in client.countries({a.id_country for a in addresses.values()})}
    carriers = {c.id: c for c in client.carriers({o.id_carrier for o in orders})}
    known = payments_read or {}
    payments: dict[str, list[OrderPayment]] = {ref: list(rows) for ref, rows in known.items()}
    # A reference PrestaShop's filter cannot carry (edited in the database) has no payments to look up:
    # its emails show what the order itself says about the payment.
    unread = {o.reference for o in orders if is_filterable(o.reference) and o.reference not in known}
    for payment in client.order_payments(references=unread) if unread else []:
        payments.setdefault(payment.order_reference, []).append(payment)
    discounts = _discounts(client, [o for o in orders if o.total_discounts_tax_incl > 0])
    images = _images(client, profile, orders, image_type) if image_type else {}
    currencies = {c.id: c.iso_code for c in profile.currencies.values()}
    return {
        order.id: OrderFacts(
            order=order,
            customer=customers.get(order.id_customer),
            delivery_address=addresses.get(order.id_address_delivery),
            invoice_address=addresses.get(order.id_address_invoice),
            countries=countries,
            carrier=carriers.get(order.id_carrier),
            currency=currencies.get(order.id_currency, ""),
            language_id=order.id_lang,
            payments=tuple(payments.get(order.reference, ())),
            tracking_number=tracking.get(order.id, order.shipping_number.strip()),
            discounts=tuple(discounts.get(order.id, ())),
            images={row.product_id: images[row.product_id] for row in order.rows if row.product_id in images},
        )
        for order in orders
    }


def _images(
    client: ShopClient, profile: ShopProfile, orders: Sequence[Order], image_type: str
) -> dict[int, str]:
    """Each product's default image as a public URL; none when the key may not read products."""
    product_ids = {row.product_id for order in orders for row in order.rows if row.product_id}
    if not product_ids or not profile.front_url:
        return {}
    try:
        rows = client.get_by_ids("products", product_ids, query=Query(display=("id", "id_default_image")))
    except (ShopPermissionError, ShopRequestError) as error:
        log.debug("no product images (%s)", error)
        return {}
    images: dict[int, str] = {}
    for row in rows:
        try:
            product_id, id_image = int(row.get("id") or 0), int(row.get("id_default_image") or 0)
        except (TypeError, ValueError):
            continue
        if product_id and id_image > 0:
            images[product_id] = product_image_url(profile.front_url, id_image, image_type)
    return images


def _discounts(client: ShopClient, orders: Sequence[Order]) -> dict[int, list[tuple[str, Decimal]]]:
    """Cart rule names and amounts (`order_cart_rules`, PrestaShop 8.2+; older shops get one total line)."""
    if not orders:
        return {}
    try:
        rows = client.get_by_ids("order_cart_rules", [o.id for o in orders], field_name="id_order")
    except (ShopPermissionError, ShopRequestError) as error:
        log.debug("no discount names (%s): emails show the discount total", error)
        return {}
    found: dict[int, list[tuple[str, Decimal]]] = {}
    for row in rows:
        try:
            order_id = int(row.get("id_order") or 0)
            amount = Decimal(str(row.get("value") or "0"))
        except (ValueError, InvalidOperation):
            continue
        if str(row.get("deleted") or "0") != "1" and amount > 0:
            found.setdefault(order_id, []).append((str(row.get("name") or ""), amount))
    return found
