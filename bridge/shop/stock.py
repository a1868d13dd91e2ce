"""Reads for the owner's low-stock alert: stock_availables at or below a threshold, then (only for the rows
that just fell) what they are.

A stock row has no date_upd: nothing says "this changed", so each poll asks for the rows at or below the
threshold (`filter[quantity]=<[threshold + 1]`, ids and quantities only). Its cost grows with the number of
rows that are low, not with the catalogue.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from bridge.model.stock import StockLevel, StockProduct
from bridge.shop.query import Query, less_than
from bridge.shop.reader import ShopReader
from bridge.shop.threads import int_field, text_field

STOCK_FIELDS: Final = ("id", "id_product", "id_product_attribute", "quantity")


def low_stock(client: ShopReader, threshold: int) -> dict[int, int]:
    """Stock row id → quantity, for every row at or below `threshold`."""
    query = Query(display=("id", "quantity"), filters={"quantity": less_than(threshold + 1)})
    rows = client.list_raw("stock_availables", query)
    return {
        int_field(row, "id", "stock_availables"): int_field(row, "quantity", "stock_availables")
        for row in rows
    }


def stock_levels(client: ShopReader, ids: Iterable[int]) -> list[StockLevel]:
    rows = client.get_by_ids("stock_availables", ids, query=Query(display=STOCK_FIELDS))
    return [
        StockLevel(
            id=int_field(row, "id", "stock_availables"),
            id_product=int_field(row, "id_product", "stock_availables"),
            id_product_attribute=int_field(row, "id_product_attribute", "stock_availables"),
            quantity=int_field(row, "quantity", "stock_availables"),
        )
        for row in rows
    ]


def stock_products(
    client: ShopReader, ids: Iterable[int], *, language: int | None
) -> dict[int, StockProduct]:
    """The products' names (in `language`), references, and whether they have combinations."""
    query = Query(display=("id", "name", "reference", "cache_default_attribute"), language=language)
    found = {}
    for row in client.get_by_ids("products", ids, query=query):
        product_id = int_field(row, "id", "products")
        found[product_id] = StockProduct(
            id=product_id,
            name=_name(row.get("name"), language),
            reference=text_field(row, "reference"),
            has_combinations=int_field(row, "cache_default_attribute", "products") > 0,
        )
    return found


def last_quantities(client: ShopReader) -> int | None:
    """PS_LAST_QTIES: below it the shop shows "last items in stock"; None when unset or not a number."""
    value = (client.configuration(["PS_LAST_QTIES"]).get("PS_LAST_QTIES") or "").strip()
    return int(value) if value.isdigit() else None


def _name(value: Any, language: int | None) -> str:
    """A multilingual field: a plain string (one language asked for, or one installed) or a list."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = {
            str(item.get("id")): str(item.get("value") or "") for item in value if isinstance(item, Mapping)
        }
        return texts.get(str(language), "") or next((t for t in texts.values() if t), "")
    return ""
