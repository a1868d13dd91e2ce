"""Abandoned-cart reminder rules: which reminder of a cart's series is due, late, or not yet.

Pure: the series as the store keeps it, the owner's delays and `now` in; a verdict out. The I/O around it
(reading carts, orders and customers, enqueuing) is `bridge.cart_watch`.

A series belongs to one state of one cart: it starts at the cart's `date_upd` (the shop moves it on every
change of the cart's contents), and reminder n is due `delays[n-1]` after it. A reminder that could not go
out by `late_limit` after its time, or by the time the next one is due, expires: after downtime the
customer gets the reminder that fits the cart's age, not a backlog.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

# At most one reminder per customer in this window, whatever the number of carts.
CUSTOMER_GAP: Final = timedelta(hours=24)


@dataclass(frozen=True)
class Series:
    """One cart's reminder series, as `cart_series` stores it."""

    cart_id: int
    customer_id: int
    cart_updated_at: datetime
    status: str  # "open", "stopped", "done"
    steps_done: int  # the number of the last step handled (sent, queued or expired); 0 at the start
    stop_reason: str | None = None


@dataclass(frozen=True)
class Plan:
    """The owner's reminder settings (CART_REMINDERS, CART_REMINDER_LATE_LIMIT)."""

    delays: Sequence[timedelta | None]  # per step; None: the step is turned off
    late_limit: timedelta

    def steps(self) -> list[tuple[int, timedelta]]:
        """(step number, delay) of the steps that are on, in order."""
        return [(number, delay) for number, delay in enumerate(self.delays, 1) if delay is not None]


@dataclass(frozen=True)
class Verdict:
    """What a series calls for now: steps that expired unsent, and the step due now (if any)."""

    expired: list[tuple[int, datetime]] = field(default_factory=list)  # (step, when it was due)
    due: int | None = None
    due_at: datetime | None = None
    expires_at: datetime | None = None  # the due step may not go out after this
    finished: bool = False  # no step left: the series is done

    @property
    def steps_done(self) -> int | None:
        """The series' new `steps_done` when some step expired, else None."""
        return self.expired[-1][0] if self.expired else None


def evaluate(series: Series, plan: Plan, now: datetime) -> Verdict:
    """The verdict for an open series at `now`."""
    steps = [(n, series.cart_updated_at + delay) for n, delay in plan.steps() if n > series.steps_done]
    expired: list[tuple[int, datetime]] = []
    for index, (number, due_at) in enumerate(steps):
        if now < due_at:
            return Verdict(expired=expired)
        deadline = due_at + plan.late_limit
        if index + 1 < len(steps):
            deadline = min(deadline, steps[index + 1][1])
        if now >= deadline:
            expired.append((number, due_at))
            continue
        return Verdict(expired=expired, due=number, due_at=due_at, expires_at=deadline)
    return Verdict(expired=expired, finished=True)


def reminder_key(cart_id: int, cart_updated_at: datetime, step: int) -> str:
    """The idempotency key of one reminder: the cart, the state of the cart it answers, the step."""
    return f"cart_reminder:cart:{cart_id}:at:{int(cart_updated_at.timestamp())}:step:{step}"


def recovery_token(cookie_key: str, cart_id: int) -> str:
    """PrestaShop's cart recovery token, as FrontController::recoverCart checks it: the MD5 of the cookie
    key, `recover_cart_` and the cart id. MD5 is PrestaShop's choice; the link it signs logs the customer
    in."""
    return hashlib.md5(f"{cookie_key}recover_cart_{cart_id}".encode(), usedforsecurity=False).hexdigest()


def cart_link(front_url: str, cart_id: int, cookie_key: str | None) -> tuple[str, bool]:
    """Where the reminder's button goes, and whether that link restores the session (signs in)."""
    base = front_url.rstrip("/") + "/"
    if cookie_key:
        token = recovery_token(cookie_key, cart_id)
        return f"{base}index.php?controller=order&step=1&recover_cart={cart_id}&token_cart={token}", True
    return f"{base}index.php?controller=cart&action=show", False
