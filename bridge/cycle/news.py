"""The new-product digest in the cycle (NEW_PRODUCTS): after the cart pass, at most once a period, read the
live products that changed since the last digest → keep the new ones (bridge.plan.news) → queue a digest to
each newsletter subscriber, a batch at a time.

- The watch's first poll records every live product as known (ids only, 500 a request) and sends nothing:
  what was on sale before the bridge looked is not news.
- On a poll when nothing is due the pass costs nothing (no request). When a digest is due, one small request
  lists the live products changed since the last one (ids and dates); only when some are new are the
  listed products read (two requests per 100) and the subscribers paged (500 a request).
- Starting a digest commits, in one transaction, the products it announces, the day it is for and what it
  says; then each batch of subscribers is queued in a transaction with the position reached, at most
  BATCHES_PER_POLL batches per poll, so a big newsletter never holds up the order emails and a crash
  between two batches resumes after the last one queued (the keys keep every digest single).
- NEW_PRODUCTS=off (or marketing mail off) forgets the watch: turned on again, it starts from a fresh
  baseline.

A shop error is logged and the pass is retried next poll, like the cart pass's.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from bridge.config import Settings
from bridge.cycle.terms import languages_of
from bridge.delivery.budget import Limits
from bridge.errors import ShopError
from bridge.model.cursors import whole_second
from bridge.model.headers import mask_addresses, mask_email
from bridge.model.new_products import LiveProduct
from bridge.model.profile import ShopProfile
from bridge.model.records import Customer
from bridge.plan import news as plan
from bridge.shop import new_products as shop
from bridge.shop.client import ShopClient
from bridge.shop.profile import load_profile
from bridge.state import news as news_state
from bridge.state import outbox
from bridge.state.blocked import blocked
from bridge.state.store import Store, Tx

log = logging.getLogger(__name__)

BATCHES_PER_POLL: Final = 20  # at most 10,000 subscribers queued per poll; the next poll goes on


@dataclass
class NewsPass:
    """What one pass did, for logs and tests."""

    baseline: bool = False
    day: date | None = None  # the digest it started or went on with
    products: int = 0  # new products the digest it started announces (listed or counted)
    queued: int = 0
    skipped: int = 0
    finished: bool = False  # every subscriber's digest is queued


def enabled(settings: Settings) -> bool:
    return settings.new_products != "off" and settings.marketing_enabled


def news_rules(settings: Settings, front_url: str) -> plan.NewsRules:
    return plan.NewsRules(
        period="weekly" if settings.new_products == "weekly" else "daily",
        hour=settings.new_products_hour,
        weekday=settings.new_products_weekday,
        limit=settings.new_products_limit,
        marketing_consent=settings.marketing_consent,
        default_language=settings.default_language,
        front_url=front_url,
        image_type=settings.product_images,
    )


def after_poll(
    client: ShopClient, store: Store, settings: Settings, *, now: datetime, profile: ShopProfile | None
) -> NewsPass | None:
    """The pass (None when the digest is off); a shop error is logged, never raised."""
    if not enabled(settings):
        with store.read() as conn:
            remembered = news_state.watching(conn)
        if remembered:  # an idle poll with the digest off writes nothing
            with store.transaction() as conn:
                news_state.forget(conn)
            log.info("new products: the digest is off; the watch is forgotten (a fresh start when on)")
        return None
    try:
        return watch_news(client, store, settings, now=now, profile=profile)
    except ShopError as error:
        log.warning("new products: this pass failed, the next poll tries again: %s", error)
        return None


def watch_news(
    client: ShopClient, store: Store, settings: Settings, *, now: datetime, profile: ShopProfile | None
) -> NewsPass:
    """One pass: the baseline, or a due digest started, or a digest's queueing continued."""
    result = NewsPass()
    with store.read() as conn:
        mark = news_state.load_mark(conn)
    if mark is None:
        _baseline(client, store, now=now)
        result.baseline = True
        return result
    if mark.running is None:
        zone = profile.identity.zone if profile is not None else client.shop_timezone()
        day = plan.digest_due(now.astimezone(zone), news_rules(settings, ""), mark.last_day)
        if day is None:
            return result
        profile = profile or load_profile(client, settings)
        mark = _start(client, store, settings, mark, day, profile, now=now, result=result)
        if mark.running is None:
            return result
    profile = profile or load_profile(client, settings)
    _queue(client, store, settings, mark, profile, now=now, result=result)
    return result


def _baseline(client: ShopClient, store: Store, *, now: datetime) -> None:
    """The watch's first look: every product on sale now is known, none of it is news."""
    live = shop.live_product_ids(client)
    second = whole_second(now)
    with store.transaction() as conn:
        news_state.remember(conn, live, day=None, now=now)
        news_state.save_mark(conn, plan.NewsMark(baseline_at=second, since=second), now=now)
    log.info("new products: watching from now on; the %d product(s) on sale now are not news", len(live))


def _start(
    client: ShopClient,
    store: Store,
    settings: Settings,
    mark: plan.NewsMark,
    day: date,
    profile: ShopProfile,
    *,
    now: datetime,
    result: NewsPass,
) -> plan.NewsMark:
    """Find the new products and, when there are any, the digest that tells them; remember both."""
    until = whole_second(now)
    changed = shop.changed_live_products(client, mark.since - plan.WINDOW_OVERLAP, until)
    with store.read() as conn:
        new = plan.fresh(changed, news_state.known(conn, [p.id for p in changed]))
    rules = news_rules(settings, profile.front_url)
    digest = _digest(client, profile, rules, day, new, since=mark.since, now=now) if new else None
    moved = plan.NewsMark(mark.baseline_at, until, day, plan.Running(digest, 0) if digest else None)
    with store.transaction() as conn:
        news_state.remember(conn, [p.id for p in new], day=day, now=now)
        news_state.save_mark(conn, moved, now=now)
    result.day, result.products = day, len(new)
    if digest is None:
        log.info("new products: nothing new since %s: no digest for %s", f"{mark.since:%Y-%m-%d %H:%M}", day)
    else:
        log.info("new products: %d new product(s); the digest of %s goes to the subscribers", len(new), day)
    return moved


def _digest(
    client: ShopClient,
    profile: ShopProfile,
    rules: plan.NewsRules,
    day: date,
    new: Sequence[LiveProduct],
    *,
    since: datetime,
    now: datetime,
) -> plan.Digest | None:
    """What the digest says: the listed products read (names, descriptions, pictures, prices)."""
    currency_id, shows_prices = shop.shop_prices(client)
    currency = profile.currencies.get(currency_id)
    details = shop.product_news(
        client, [p.id for p in new[: rules.limit]], currency_id=currency_id, prices=shows_prices
    )
    iso = currency.iso_code if currency is not None else ""
    languages = languages_of(profile)
    return plan.build_digest(day, new, details, languages, rules, since=since, currency=iso, now=now)


def _queue(
    client: ShopClient,
    store: Store,
    settings: Settings,
    mark: plan.NewsMark,
    profile: ShopProfile,
    *,
    now: datetime,
    result: NewsPass,
) -> None:
    """Queue the running digest for the next batches of subscribers (each batch one transaction)."""
    assert mark.running is not None
    running = mark.running
    rules = news_rules(settings, profile.front_url)
    languages = languages_of(profile)
    optin = "newsletter" not in settings.marketing_consent
    result.day = running.digest.day
    for _ in range(BATCHES_PER_POLL):
        batch = shop.subscribers(client, after_id=running.after_customer, optin=optin)
        done = len(batch) < shop.BATCH
        running = plan.Running(running.digest, max((c.id for c in batch), default=running.after_customer))
        mark = dataclasses.replace(mark, running=None if done else running)
        with store.transaction() as conn:
            addresses = [c.email.strip().lower() for c in batch]
            already = news_state.addresses_in_digest(conn, running.digest.day, addresses)
            decisions = plan.plan_batch(
                batch, running, rules, languages, blocked=_blocked(conn, batch), already=already, now=now
            )
            applied = news_state.queue_digests(conn, decisions, mark, now=now, domain=profile.identity.domain)
        result.queued += applied.queued
        result.skipped += applied.skipped
        if done:
            result.finished = True
            _finished(store, settings, running.digest.day)
            return


def _blocked(conn: Tx, customers: Sequence[Customer]) -> dict[str, str]:
    """The addresses that may not be written to (unsubscribed, bounced), with the reason (masked); the
    store is asked once per batch, never once per subscriber."""
    found = blocked(conn, [customer.email for customer in customers])
    reasons: dict[str, str] = {}
    for customer in customers:
        email = customer.email.strip()
        gone = found.unsubscribed.get(email.lower())
        bounced = found.suppressed.get(email.lower())
        shown = mask_email(email)
        if gone is not None:
            reasons[email.lower()] = (
                f"{shown} unsubscribed from marketing mail ({gone.source}, {gone.created_at:%Y-%m-%d})"
            )
        elif bounced is not None:
            reasons[email.lower()] = f"{shown} is suppressed: {mask_addresses(bounced)}"
    return reasons


def _finished(store: Store, settings: Settings, day: date) -> None:
    """Log the digest's count, and say so when the budget cannot send it before the next one is due."""
    with store.read() as conn:
        counts = news_state.digest_counts(conn, day)
    skipped = counts.get(outbox.Status.SKIPPED.value, 0)
    total = sum(counts.values()) - skipped
    log.info("new products: the digest of %s is queued for %d subscriber(s), %d skipped", day, total, skipped)
    days = 7 if settings.new_products == "weekly" else 1
    room = Limits.from_settings(settings).cap("marketing") * days
    if total > room:
        log.warning(
            "new products: %d digests, but the daily budget leaves room for about %d marketing emails before"
            " the next digest: the rest expire; consider NEW_PRODUCTS=weekly or a higher DAILY_SEND_LIMIT",
            total,
            room,
        )
