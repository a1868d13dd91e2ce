"""What the bridge remembers of the shop, as plain values: the planner reads it, the state store keeps it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class SeenOrder:
    """What the bridge last saw of one order; `first_seen_at`/`updated_at` are filled in by the store."""

    order_id: int
    reference: str
    current_state: int
    last_history_id: int | None
    tracking_number: str | None
    total_paid_real: Decimal
    date_upd: datetime
    first_seen_at: datetime | None = None
    updated_at: datetime | None = None
