"""Plain data of the birthday and win-back automations: what their personal code offers (a setting), and a
customer as the birthday pass reads them (bridge.shop.automations) for the planner (bridge.plan.automations).
The win-back pass reads plain `Order` records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from bridge.model.records import Customer


@dataclass(frozen=True)
class Discount:
    """A personal code's value: exactly one of `percent` ("10" off the products) or `amount` (in the shop's
    default currency, tax included)."""

    percent: Decimal | None = None
    amount: Decimal | None = None

    def __post_init__(self) -> None:
        if (self.percent is None) == (self.amount is None):
            raise ValueError("a discount is a percentage or an amount, exactly one of them")

    def __str__(self) -> str:
        """As the owner writes it in `.env`: `10%` or `20`."""
        if self.percent is not None:
            return f"{format(self.percent.normalize(), 'f')}%"
        assert self.amount is not None
        return format(self.amount.normalize(), "f")


@dataclass(frozen=True)
class Celebrant:
    """A customer whose birthday field matched the day's filter; `birthday` None when the shop says
    0000-00-00 (unknown) or sends something that is not a date."""

    customer: Customer
    birthday: date | None
