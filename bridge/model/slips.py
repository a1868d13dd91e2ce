"""Credit slips as the bridge reads them: one per refund (partial or full) the merchant made for an order,
with the order lines it refunded. Plain values; money as Decimal, the slip's time timezone-aware."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class SlipDetail:
    id_order_detail: int  # the order line (orders' order_rows id)
    quantity: int
    amount_tax_incl: Decimal


@dataclass(frozen=True, slots=True)
class CreditSlip:
    id: int
    id_order: int
    id_customer: int
    total_products_tax_incl: Decimal
    total_shipping_tax_incl: Decimal
    date_add: datetime | None
    details: tuple[SlipDetail, ...]

    @property
    def total(self) -> Decimal:
        """What the customer gets back: products and shipping, tax included."""
        return self.total_products_tax_incl + self.total_shipping_tax_incl
