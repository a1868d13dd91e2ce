"""The birthday and win-back passes in the cycle (after the cart pass): read → plan (bridge.plan.automations)
→ queue, each at most once per shop-local day, from its hour on.

- Birthdays: one request for the customers born today (two on 28 February of a common year), whatever
  the size of the shop; a day is processed once, never caught up the next day.
- Win-back: per day due, the valid orders placed that day N days ago, then the later orders of their
  customers (a request per hundred customers), then those customers; each day queued in its own
  transaction with the day it processed.

The first pass of each records today as its baseline and mails nobody, like every first run (design §3.6);
turned off, a pass forgets its day, so turning it on again starts from a new baseline.

Both need marketing mail on (UNSUBSCRIBE_URL). A shop error is logged and retried next poll: the order
emails went through already, and a day is marked processed only with its emails.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bridge.config import Settings
from bridge.errors import ShopError
from bridge.model.profile import ShopProfile
from bridge.plan import automations as plan
from bridge.plan.rules import Decision
from bridge.shop import automations as shop
from bridge.shop.client import ShopClient
from bridge.shop.profile import load_profile
from bridge.state import automations as memory
from bridge.state.plans import Applied, queue
from bridge.state.store import Store

log = logging.getLogger(__name__)


def rules_of(settings: Settings) -> plan.AutomationRules:
    return plan.AutomationRules(
        default_language=settings.default_language,
        marketing_consent=settings.marketing_consent,
        birthday_discount=settings.birthday_discount,
        birthday_discount_days=settings.birthday_discount_days,
        winback_days=settings.winback_after_days,
        winback_discount=settings.winback_discount,
        winback_discount_days=settings.winback_discount_days,
    )


def after_poll(
    client: ShopClient, store: Store, settings: Settings, *, now: datetime, profile: ShopProfile | None
) -> int:
    """Both passes; how many emails they queued. A shop error is logged, never raised."""
    queued = 0
    for what, watch in (("birthday emails", birthdays), ("win-back emails", winbacks)):
        try:
            queued += watch(client, store, settings, now=now, profile=profile)
        except ShopError as error:
            log.warning("%s: this pass failed, the next poll tries again: %s", what, error)
    return queued


def birthdays(
    client: ShopClient, store: Store, settings: Settings, *, now: datetime, profile: ShopProfile | None
) -> int:
    """From BIRTHDAY_HOUR on, today's birthday greetings (once per day)."""
    with store.read() as conn:
        last = memory.last_day(conn, memory.BIRTHDAY_DAY)
    if not _watching(
        store, memory.BIRTHDAY_DAY, last, settings.birthday_emails and settings.marketing_enabled
    ):
        return 0
    zone = _zone(client, profile)
    if last is None:
        _baseline(store, memory.BIRTHDAY_DAY, now.astimezone(zone).date(), now=now)
        log.info("birthday emails: greetings start tomorrow (the first run sends nothing)")
        return 0
    day = plan.birthday_due(now.astimezone(zone), settings.birthday_hour, last)
    if day is None:
        return 0
    celebrants = [person for suffix in plan.birthday_suffixes(day) for person in shop.born_on(client, suffix)]
    profile = profile or load_profile(client, settings)
    with store.read() as conn:
        reach = memory.reach(conn, [person.customer for person in celebrants])
    day_ends = datetime.combine(day + timedelta(days=1), time(0), zone)
    decisions = plan.plan_birthdays(
        celebrants, day, profile, rules_of(settings), reach, now=now, day_ends=day_ends
    )
    applied = _queue(store, decisions, memory.BIRTHDAY_DAY, day, now=now, domain=profile.identity.domain)
    log.info(
        "birthdays %s: %d greeting(s) queued, %d skipped (see `bridge outbox`)",
        day.isoformat(),
        applied.queued,
        applied.skipped,
    )
    return applied.queued


def winbacks(
    client: ShopClient, store: Store, settings: Settings, *, now: datetime, profile: ShopProfile | None
) -> int:
    """The win-back days due since the last one processed (at most CATCH_UP_DAYS), each in turn."""
    with store.read() as conn:
        last = memory.last_day(conn, memory.WINBACK_DAY)
    if not _watching(
        store, memory.WINBACK_DAY, last, bool(settings.winback_after_days and settings.marketing_enabled)
    ):
        return 0
    zone = _zone(client, profile)
    local = now.astimezone(zone)
    if last is None:
        _baseline(store, memory.WINBACK_DAY, local.date(), now=now)
        log.info(
            "win-back: watching from tomorrow on; customers whose last order reached %d days before then"
            " get none",
            settings.winback_after_days,
        )
        return 0
    days, left_out = plan.winback_days_due(local, settings.winback_hour, last)
    if left_out:
        log.warning(
            "win-back: the bridge missed %d day(s) before the last %d; customers who reached the mark"
            " then get none",
            left_out,
            plan.CATCH_UP_DAYS,
        )
    queued = 0
    for day in days:
        profile = profile or load_profile(client, settings)
        queued += _winback_day(client, store, settings, day, zone, profile, now=now)
    return queued


def _winback_day(
    client: ShopClient,
    store: Store,
    settings: Settings,
    day: date,
    zone: ZoneInfo,
    profile: ShopProfile,
    *,
    now: datetime,
) -> int:
    """The customers whose last valid order was placed `day` − N days: their invitations, queued with
    the day they answer."""
    placed = day - timedelta(days=settings.winback_after_days)
    start = datetime.combine(placed, time(0), zone)
    end = datetime.combine(placed + timedelta(days=1), time(0), zone) - timedelta(seconds=1)
    window = shop.valid_orders_placed(client, start, end)
    ids = plan.customers_of(window)
    last_orders = plan.lapsed(window, shop.orders_since(client, ids, start) if ids else [])
    people = {c.id: c for c in shop.customers(client, last_orders)} if last_orders else {}
    with store.read() as conn:
        reach = memory.reach(conn, people.values(), winbacks=True)
    decisions = plan.plan_winbacks(last_orders, people, profile, rules_of(settings), reach, now=now)
    applied = _queue(store, decisions, memory.WINBACK_DAY, day, now=now, domain=profile.identity.domain)
    if decisions:
        log.info(
            "win-back %s (last orders of %s): %d queued, %d skipped",
            day.isoformat(),
            placed.isoformat(),
            applied.queued,
            applied.skipped,
        )
    return applied.queued


def _queue(
    store: Store, decisions: Sequence[Decision], name: str, day: date, *, now: datetime, domain: str
) -> Applied:
    """The emails and the day they answer, in one transaction: a crash before it processes the day again."""
    applied = Applied()
    with store.transaction() as conn:
        queue(conn, list(decisions), applied, now=now, domain=domain)
        memory.save_day(conn, name, day, now=now)
    return applied


def _watching(store: Store, name: str, last: date | None, enabled: bool) -> bool:
    """Whether the pass runs; turned off, it forgets its day, so turning it on again starts from a new
    baseline instead of catching up what happened meanwhile."""
    if not enabled and last is not None:
        with store.transaction() as conn:
            memory.forget_day(conn, name)
    return enabled


def _baseline(store: Store, name: str, today: date, *, now: datetime) -> None:
    """A pass's first run: today counts as processed, nothing is sent (design §3.6)."""
    with store.transaction() as conn:
        memory.save_day(conn, name, today, now=now)


def _zone(client: ShopClient, profile: ShopProfile | None) -> ZoneInfo:
    return ZoneInfo(profile.identity.timezone) if profile is not None else client.shop_timezone()
