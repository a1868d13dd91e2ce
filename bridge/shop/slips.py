"""Reads credit slips (`order_slip`, a singular resource name) past an id cursor, with their lines.

A slip moves no order timestamp and adds no history row (docs/shop-facts.md §6): its own id is the only
thing that says a refund happened. An idle watch costs one small request.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from bridge.errors import ShopResponseError
from bridge.model.slips import CreditSlip, SlipDetail
from bridge.shop.parse import parse_shop_datetime
from bridge.shop.query import Query, greater_than
from bridge.shop.reader import ShopReader
from bridge.shop.threads import int_field, text_field

RESOURCE: Final = "order_slip"


def slips_after(client: ShopReader, after_id: int) -> list[CreditSlip]:
    """Credit slips with an id past `after_id`, oldest first, with their lines (`display=full`: the
    lines are an association)."""
    query = Query(display="full", filters={"id": greater_than(after_id)})
    return [_slip(client, row) for row in client.list_raw(RESOURCE, query)]


def _slip(client: ShopReader, row: Mapping[str, Any]) -> CreditSlip:
    associations = row.get("associations")
    raw_details = associations.get("order_slip_details", []) if isinstance(associations, dict) else []
    details = tuple(
        SlipDetail(
            id_order_detail=int_field(d, "id_order_detail", RESOURCE),
            quantity=int_field(d, "product_quantity", RESOURCE),
            amount_tax_incl=_money(d, "amount_tax_incl"),
        )
        for d in raw_details
        if isinstance(d, dict)
    )
    return CreditSlip(
        id=int_field(row, "id", RESOURCE),
        id_order=int_field(row, "id_order", RESOURCE),
        id_customer=int_field(row, "id_customer", RESOURCE),
        total_products_tax_incl=_money(row, "total_products_tax_incl"),
        total_shipping_tax_incl=_money(row, "total_shipping_tax_incl"),
        date_add=parse_shop_datetime(text_field(row, "date_add") or None, client.shop_timezone()),
        details=details,
    )


def _money(row: Mapping[str, Any], field: str) -> Decimal:
    text = text_field(row, field).strip() or "0"
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ShopResponseError(f"{RESOURCE} #{row.get('id')}: {field} is not a number") from None
    if not value.is_finite() or abs(value) > Decimal(10) ** 15:
        raise ShopResponseError(f"{RESOURCE} #{row.get('id')}: {field} is out of range")
    return value
