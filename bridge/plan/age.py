"""The age guard: an order email whose shop event is older than MAX_EMAIL_AGE is held for the owner.

Pure: `now` is an argument. Defence in depth (docs/design.md §3.6): whatever makes old events look new to
the bridge — a state store baselined against another shop, a cursor moved by hand, a restored backup — the
customers of old orders are not mailed the story of them. A held email waits in the outbox until the owner
releases it (`bridge outbox release`). `bridge sync --since` is the owner asking for old events on purpose:
it plans with the guard off (and asks for confirmation instead).

When an event happened, as the shop recorded it:
- a new order: its `date_add`;
- a state change: its `order_histories` row's `date_add`;
- a payment typed in the back office: the later of the date the employee typed (which may lie in the
  past) and the order's `date_upd`, which the back-office "add payment" moves (docs/shop-facts.md §6);
- a tracking number: no timestamp moves (shop-facts §6); it is only emailed after the bridge's own
  shipped email of the order, so it is held exactly when that shipped email is.
A review request is scheduled from the delivery (or shipping) date; one that fell due longer than
MAX_EMAIL_AGE ago (an order delivered months before the bridge saw it) is held the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from bridge.model.kinds import SHIPPED
from bridge.plan.contexts import OrderFacts
from bridge.plan.detect import Change, NewOrder, PaymentAdded, StateChanged, TrackingChanged

# What `rules.decide` adds to an order's kinds for an email that is held (`held:shipped`).
HELD_PREFIX = "held:"


def event_time(change: Change, facts: Mapping[int, OrderFacts]) -> datetime | None:
    """When the shop event behind `change` happened; None when the shop does not say."""
    match change:
        case NewOrder(order=order):
            return order.date_add
        case StateChanged(history=history):
            return history.date_add
        case PaymentAdded(payment=payment, order_id=order_id):
            order_facts = facts.get(order_id)
            known = [payment.date_add, order_facts.order.date_upd if order_facts else None]
            return max((moment for moment in known if moment is not None), default=None)
        case TrackingChanged():
            return None


def hold_reason(
    change: Change,
    facts: Mapping[int, OrderFacts],
    *,
    now: datetime,
    limit: timedelta,
    held_kinds: frozenset[str] | set[str],
) -> str | None:
    """Why the email answering `change` is held, or None when it may go. `held_kinds` are the order's
    kinds already held (`held:<kind>`, from the outbox or earlier in this batch)."""
    if limit <= timedelta(0):
        return None
    if isinstance(change, TrackingChanged):
        if f"{HELD_PREFIX}{SHIPPED}" in held_kinds:
            return "the shipped email it follows is held too (a tracking number carries no date)"
        return None
    at = event_time(change, facts)
    if at is None:
        return None
    # At the shop's precision: its dates have whole seconds, so "exactly MAX_EMAIL_AGE old" stays exact.
    age = now.replace(microsecond=0) - at
    if age <= limit:
        return None
    return f"the event is {age_text(age)} old; older than MAX_EMAIL_AGE={limit_text(limit)}"


def late_reason(due: datetime | None, *, now: datetime, limit: timedelta) -> str | None:
    """Why a scheduled email (a review request) is held: it fell due longer than `limit` ago; or None."""
    if limit <= timedelta(0) or due is None:
        return None
    late = now.replace(microsecond=0) - due
    if late <= limit:
        return None
    return f"it fell due {age_text(late)} ago; later than MAX_EMAIL_AGE={limit_text(limit)}"


def age_text(age: timedelta) -> str:
    """`3 days`, `49 hours`, `90 minutes`: whole units, rounded down, in the unit an owner would say."""
    seconds = int(age.total_seconds())
    if seconds >= 3 * 86400:
        return _plural(seconds // 86400, "day")
    if seconds >= 2 * 3600:
        return _plural(seconds // 3600, "hour")
    return _plural(seconds // 60, "minute")


def limit_text(limit: timedelta) -> str:
    """The setting as an owner writes it: `48h`, `90m`, `45s`."""
    seconds = int(limit.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"
