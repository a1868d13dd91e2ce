"""What a refund email and a cancellation email say about the money: how it comes back and when. Pure.

The way back follows the order's payment module: a bank wire goes back by transfer, an online payment
(card, fast transfer, wallet) the way it came; for cash on delivery, a cheque or a module the bridge does
not know, it says nothing it cannot know. The owner's REFUND_NOTE replaces the bridge's sentence, and
REFUND_DAYS is the promise of when (0: none).
"""

from __future__ import annotations

from typing import Any, Final

from bridge.model.records import Order
from bridge.plan.contexts import money

# Payment modules whose money goes back by bank transfer, and those where the bridge cannot tell how.
TRANSFER_MODULES: Final = frozenset({"ps_wirepayment", "bankwire"})
UNKNOWN_MODULES: Final = frozenset({"ps_checkpayment", "cheque", "ps_cashondelivery", "cashondelivery", ""})


def money_back(order: Order, *, days: int, note: str) -> dict[str, Any]:
    """The `MoneyBack` context of bridge.model.service_kinds."""
    module = order.module.strip().lower()
    if module in TRANSFER_MODULES:
        way = "transfer"
    elif module in UNKNOWN_MODULES:
        way = ""
    else:
        way = "same"
    return {"way": way, "method": order.payment.strip(), "days": days, "note": note}


def cancelled_refund(order: Order, currency: str, *, days: int, note: str) -> dict[str, Any]:
    """The cancelled email's `refund`: what was paid (None: nothing), and how it would come back."""
    paid = order.total_paid_real if order.total_paid_real > 0 else None
    return {
        "paid": money(paid, currency) if paid is not None else None,
        "money_back": money_back(order, days=days, note=note),
    }
