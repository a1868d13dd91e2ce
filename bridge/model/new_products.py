"""What the new-product digest reads of the shop's catalogue, as plain values (bridge.shop.new_products reads
them, bridge.plan.news decides with them).

A product is *live* when customers can find it in the shop: `active` = 1 and `visibility` `both` or
`catalog` (`search` hides it from the catalogue, `none` from everything).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final

from bridge.model.records import Multilingual

LIVE_VISIBILITY: Final = ("both", "catalog")


@dataclass(frozen=True, slots=True)
class LiveProduct:
    """A live product whose `date_upd` fell in the window read: its id and dates, nothing else."""

    id: int
    date_add: datetime | None
    date_upd: datetime | None


@dataclass(frozen=True, slots=True)
class ProductNews:
    """What a digest shows of one product: names and short descriptions per language (the description is
    the shop's HTML, made plain text by the planner), the cover image, and the price tax included in the
    shop's default currency (None when the shop hides it: catalogue mode, or the product's `show_price`)."""

    id: int
    names: Multilingual
    descriptions: Multilingual
    id_default_image: int
    price: Decimal | None
    date_add: datetime | None
