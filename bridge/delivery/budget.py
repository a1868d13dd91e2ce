"""How many emails may go now: a rolling 24-hour budget, a per-minute pace, and a share kept for orders.

Gmail counts what an account sent in the last 24 hours (a rolling window, not a calendar day), shared by
every program using the account and by the owner's own mail (docs/email-facts.md §3). The bridge keeps
below it with DAILY_SEND_LIMIT (default 400, well under a personal account's ~500; Workspace allows 2000,
500 while on trial) and spaces its mail with SEND_RATE_PER_MINUTE (default 20: Google publishes no
per-minute number, and 20-30 a minute over one connection is what stays clear of its throttling).

Both are counted from the attempt log in the state store (bridge.state.attempts), never from a counter in
memory, so `bridge run`, `bridge sync` and a restarted bridge share one budget. A send counts when the
server accepted it, and also when the message was handed over but its outcome is unknown (the server may
have taken it: Gmail would count it). Refusals do not count. One recipient per message, so messages are
recipients.

Transactional mail (orders, payments, shipping) may use the whole budget. Marketing mail may only use it
while at least MARKETING_RESERVE (20 %) of it is left: with the default 400, marketing stops at 320 sent in
the last 24 hours and the last 80 are kept for order emails. When room opens again, transactional mail
goes first because the outbox always claims it first. Legal notices to every customer (`terms_changed`,
`bridge notify-terms`) are claimed last among transactional mail (NOTICE_PRIORITY) and count like marketing
here: they stop at the same share, so thousands of them spread over days and never take the order emails'
room (`notices_per_day`).

Nothing here sleeps: `hold()` says whether the next email may go and, if not, when it may; delivery stops
for this cycle and the next cycle continues.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from bridge.config import Settings
from bridge.model.kinds import KINDS, NOTICE_PRIORITY
from bridge.state.attempts import send_times
from bridge.state.outbox import Category
from bridge.state.store import Store

DAY: Final = timedelta(hours=24)
MINUTE: Final = timedelta(minutes=1)
MARKETING_RESERVE: Final = 0.2  # the share of the daily budget only transactional mail may use
DEFAULT_DAILY_LIMIT: Final = 400
DEFAULT_PER_MINUTE: Final = 20
# After Gmail's own "daily limit exceeded", never try again sooner than this: each try is refused anyway.
QUOTA_PAUSE_MIN: Final = timedelta(hours=1)

LimitName = Literal["daily", "marketing", "pace"]  # "marketing": the share kept for orders is reached
BudgetClass = Literal["transactional", "marketing", "notice"]  # a notice counts like marketing


@dataclass(frozen=True)
class Limits:
    """The budget's numbers: emails per rolling 24 hours, per minute, and the share kept for orders."""

    daily: int = DEFAULT_DAILY_LIMIT
    per_minute: int = DEFAULT_PER_MINUTE
    marketing_reserve: float = MARKETING_RESERVE

    def __post_init__(self) -> None:
        if self.daily < 1 or self.per_minute < 1:
            raise ValueError("the daily limit and the pace must be at least 1")
        if not 0 <= self.marketing_reserve <= 1:
            raise ValueError("marketing_reserve is a share between 0 and 1")

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(daily=settings.daily_send_limit, per_minute=settings.send_rate_per_minute)

    @property
    def reserved(self) -> int:
        """How many of the daily budget only transactional mail may use."""
        return math.ceil(self.daily * self.marketing_reserve)

    def cap(self, category: BudgetClass) -> int:
        return self.daily if category == "transactional" else self.daily - self.reserved


@dataclass(frozen=True)
class Hold:
    """The next email of a category may not go before `until`; `reason` says why, for the owner."""

    limit: LimitName
    until: datetime
    reason: str


@dataclass(frozen=True)
class Usage:
    """What the log says about the last 24 hours, for `bridge status` and messages."""

    now: datetime
    limits: Limits
    last_day: int
    last_minute: int

    @property
    def left(self) -> int:
        return max(0, self.limits.daily - self.last_day)

    def __str__(self) -> str:
        return (
            f"{self.last_day} of {self.limits.daily} emails sent in the last 24 hours, {self.left} left; "
            f"{self.last_minute} in the last minute (at most {self.limits.per_minute})"
        )


class Budget:
    """Decides, from the state store, whether the next email may go now."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()

    def __repr__(self) -> str:
        return f"Budget({self.limits!r})"

    def usage(self, store: Store, now: datetime) -> Usage:
        with store.read() as conn:
            times = send_times(conn, now - DAY)
        return Usage(now, self.limits, len(times), sum(1 for at in times if at > now - MINUTE))

    def hold(self, store: Store, category: BudgetClass, now: datetime) -> Hold | None:
        """None when an email of `category` may go now; otherwise why not, and until when."""
        with store.read() as conn:
            times = send_times(conn, now - DAY)
        return self.decide(times, category, now)

    def decide(self, times: list[datetime], category: BudgetClass, now: datetime) -> Hold | None:
        """The decision itself, on the send times of the last 24 hours (oldest first)."""
        limits = self.limits
        day = [at for at in times if at > now - DAY]
        cap = limits.cap(category)
        if len(day) >= limits.daily or (category != "transactional" and len(day) >= cap):
            # Room opens when enough of the oldest sends have left the window.
            until = day[len(day) - cap] + DAY if 0 < cap <= len(day) else now + DAY
            at = f"{until:%Y-%m-%d %H:%M} UTC"
            if len(day) >= limits.daily:
                return Hold(
                    "daily",
                    until,
                    f"the daily sending budget is used up: {len(day)} emails in the last 24 hours "
                    f"(DAILY_SEND_LIMIT={limits.daily}); sending continues at {at}, order emails first",
                )
            waiting = "marketing emails" if category == "marketing" else "legal notices"
            return Hold(
                "marketing",
                until,
                f"{waiting} wait: {len(day)} of {limits.daily} emails sent in the last 24 hours, and "
                f"the last {limits.reserved} are kept for order emails; they continue at {at}",
            )
        minute = [at for at in day if at > now - MINUTE]
        if len(minute) >= limits.per_minute:
            until = minute[len(minute) - limits.per_minute] + MINUTE
            return Hold(
                "pace",
                until,
                f"{len(minute)} emails in the last minute (SEND_RATE_PER_MINUTE={limits.per_minute}); "
                f"the rest continue at {until:%H:%M:%S} UTC",
            )
        return None


def budget_class(category: Category, kind: str) -> BudgetClass:
    """How the budget counts an outbox row: a legal notice (NOTICE_PRIORITY) keeps the orders' share."""
    if category == "marketing":
        return "marketing"
    return "notice" if kind in KINDS and KINDS[kind].priority >= NOTICE_PRIORITY else "transactional"


def notices_per_day(limits: Limits) -> int:
    """How many legal notices a day may take: the budget less the share kept for order emails."""
    return limits.cap("notice")


def quota_resume_at(store: Store, now: datetime) -> datetime:
    """When to try again after Gmail said its daily limit is exceeded (550 5.4.5).

    Gmail's window is full, so room opens when the oldest send it counts leaves the window: the oldest of
    ours in the last 24 hours, plus 24 hours. Never sooner than an hour; with no send of ours in the window
    (the owner's own mail filled it), an hour, then again every hour.
    """
    with store.read() as conn:
        times = send_times(conn, now - DAY)
    earliest = now + QUOTA_PAUSE_MIN
    return max(earliest, times[0] + DAY) if times else earliest


def budget_for(settings: Settings) -> Budget | None:
    """The budget delivery applies: None when mail goes to files (MAIL_TRANSPORT=file), which no
    provider counts."""
    if settings.mail_transport != "smtp":
        return None
    return Budget(Limits.from_settings(settings))
