"""Stock as the owner's low-stock alert reads it: plain values."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StockLevel:
    """One stock_availables row: a product (id_product_attribute 0) or one of its combinations."""

    id: int
    id_product: int
    id_product_attribute: int
    quantity: int


@dataclass(frozen=True, slots=True)
class StockProduct:
    """What the alert names a product by."""

    id: int
    name: str  # in the owner's language
    reference: str
    has_combinations: bool  # its own stock row is the sum of its combinations' rows
