"""Stock in the simulated shop: `stock_availables` rows as PrestaShop 8.1.2 keeps them.

One row per product (id_product_attribute 0) and per combination. For a product with combinations, the
product's row holds the sum of its combinations' rows (`StockAvailable::synchronize`). Setting a quantity
in the back office and a checkout (`validateOrder` → `StockAvailable::updateQuantity`) change them; no
timestamp moves anywhere (the row has no date_upd), which is why the bridge reads quantities, not changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bridge.simulator.state import ShopState


def set_stock(state: ShopState, product_id: int, quantity: int, *, attribute_id: int = 0) -> int:
    """The back office's "quantity" field of a product or a combination; returns the stock row's id."""
    with state.lock:
        row_id = _row(state, product_id, attribute_id)
        state.update("stock_availables", row_id, quantity=int(quantity))
        if attribute_id:
            _sum_combinations(state, product_id)
        return row_id


def take_ordered(state: ShopState, lines: Iterable[tuple[int, int, int]]) -> None:
    """validateOrder: each (product, combination, quantity) ordered leaves the stock (it may go negative)."""
    with state.lock:
        for product_id, attribute_id, quantity in lines:
            row_id = _row(state, product_id, attribute_id)
            current = int(state.get("stock_availables", row_id)["quantity"])
            state.update("stock_availables", row_id, quantity=current - int(quantity))
            if attribute_id:
                _sum_combinations(state, product_id)


def stock_of(state: ShopState, product_id: int, attribute_id: int = 0) -> int:
    with state.lock:
        return int(state.get("stock_availables", _row(state, product_id, attribute_id))["quantity"])


def _row(state: ShopState, product_id: int, attribute_id: int) -> int:
    """The stock row of (product, combination), created (quantity 0) the first time it is needed."""
    for row_id in state.ids_where("stock_availables", "id_product", product_id):
        if int(state.get("stock_availables", row_id)["id_product_attribute"]) == attribute_id:
            return row_id
    row_id = state.insert(
        "stock_availables",
        {
            "id_product": product_id,
            "id_product_attribute": attribute_id,
            "id_shop": 1,
            "id_shop_group": 0,
            "quantity": 0,
            "depends_on_stock": False,
            "out_of_stock": 2,  # "use the default behaviour" (PS_ORDER_OUT_OF_STOCK)
            "location": "",
        },
    )
    product = state.get("products", product_id)
    associations: dict[str, Any] = dict(product.get("associations", {}))
    linked = [*associations.get("stock_availables", []), {"id": row_id, "id_product_attribute": attribute_id}]
    associations["stock_availables"] = sorted(linked, key=lambda item: int(item["id_product_attribute"]))
    state.update("products", product_id, associations=associations)
    return row_id


def _sum_combinations(state: ShopState, product_id: int) -> None:
    rows = [
        state.get("stock_availables", i)
        for i in state.ids_where("stock_availables", "id_product", product_id)
    ]
    total = sum(int(r["quantity"]) for r in rows if int(r["id_product_attribute"]))
    state.update("stock_availables", _row(state, product_id, 0), quantity=total)
    state.update("products", product_id, quantity=total)
