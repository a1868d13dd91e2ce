"""The owner's business alerts in the cycle: read what they need beyond the customers' emails, plan them
(bridge.plan.owner), queue them.

New orders ride on the order pass: the pass hands over the new orders it found and their facts, this
module reads the checkout comments and which customers ordered before (three small batched requests, only
when there are new orders and OWNER_EMAIL wants them), and the plan is queued in the order pass's own
transaction, so the owner's alert commits with the customer's confirmation and the moved cursors.

Customers' messages have a watch of their own after the order and cart passes: an id cursor over
customer_messages, a baseline on its first poll, and the threads, names and order references used only for
new messages from customers. The messages and their threads are read once per poll for this watch and the
conversation pass (bridge.cycle.messages): with both on, an idle poll still makes one small request.

The daily summary reads the day's orders once a day, at OWNER_SUMMARY_HOUR in the shop's time zone. The
low-stock watch asks for the stock rows at or below the threshold (one request: ids and quantities) and reads
what they are only for the rows that just fell.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, time, timedelta
from decimal import Decimal
from functools import partial
from zoneinfo import ZoneInfo

from bridge.config import Settings
from bridge.cycle.messages import PollMessages
from bridge.delivery.deliver import paused
from bridge.errors import ShopError, ShopPermissionError
from bridge.model.cursors import IdCursor
from bridge.model.profile import ShopProfile
from bridge.model.threads import CustomerMessage
from bridge.plan import orders as orders_plan
from bridge.plan import owner as plan
from bridge.plan.contexts import OrderFacts
from bridge.plan.detect import Change, NewOrder
from bridge.plan.rules import Decision
from bridge.shop import positions
from bridge.shop.client import ShopClient
from bridge.shop.profile import load_profile
from bridge.shop.stock import last_quantities, low_stock, stock_levels, stock_products
from bridge.shop.threads import (
    customers_with_orders_before,
    messages_of_threads,
    orders_placed,
    threads_of_orders,
)
from bridge.state import owner as owner_state
from bridge.state.mailbox import bounce_suppressions
from bridge.state.plans import Applied, queue
from bridge.state.store import Store, Tx

log = logging.getLogger(__name__)


def owner_rules(settings: Settings, profile: ShopProfile) -> plan.OwnerRules:
    """The owner's settings as the planner reads them; the language defaults to the shop's own."""
    language = settings.owner_language
    if not language:
        default = profile.configuration.get("PS_LANG_DEFAULT") or ""
        language = (profile.language_iso(int(default)) if default.isdigit() else None) or ""
    return plan.OwnerRules(
        recipients=tuple(plan.Recipient(a.addr_spec, a.display_name) for a in settings.owner_email),
        alerts=settings.owner_alerts,
        language=language or settings.default_language,
        admin_url=settings.shop_admin_url,
    )


def order_alerts(
    client: ShopClient,
    settings: Settings,
    found: Sequence[Change],
    facts: Mapping[int, OrderFacts],
    profile: ShopProfile | None,
) -> list[Decision]:
    """The owner's alerts about the new orders among `found` (none while OWNER_EMAIL is empty)."""
    if profile is None or not settings.owner_email:
        return []
    rules = owner_rules(settings, profile)
    new = [facts[c.order.id] for c in found if isinstance(c, NewOrder) and c.order.id in facts]
    if not rules.wants(plan.NEW_ORDER) or not new:
        return []
    customers = {f.order.id: f.order.id_customer for f in new if f.order.id_customer > 0}
    repeat = customers_with_orders_before(client, customers) if customers else frozenset()
    comments = checkout_comments(client, [f.order.id for f in new])
    news = [
        plan.NewOrderNews(f, first_order=f.order.id not in repeat, message=comments.get(f.order.id, ""))
        for f in new
    ]
    return plan.plan_new_orders(news, profile, rules)


def checkout_comments(client: ShopClient, order_ids: Iterable[int]) -> dict[int, str]:
    """The comment each order's customer typed at checkout: validateOrder copies it into a thread of its own
    (no contact, the order's id) as the thread's first message from the customer. A key that may not read
    customer_threads or customer_messages (`bridge check` warns) gives none: the owner's copy must not stop
    the customers' emails."""
    try:
        opened = {t.id: t.id_order for t in threads_of_orders(client, order_ids) if t.id_contact == 0}
        messages = messages_of_threads(client, opened) if opened else []
    except ShopPermissionError as error:
        log.warning("owner alerts: no checkout comments: %s", error)
        return {}
    first: dict[int, CustomerMessage] = {}
    for message in messages:
        known = first.get(message.id_customer_thread)
        if message.id_employee == 0 and (known is None or message.id < known.id):
            first[message.id_customer_thread] = message
    return {opened[thread]: message.message for thread, message in first.items()}


def queue_alerts(
    conn: Tx, decisions: list[Decision], applied: Applied, *, now: datetime, domain: str
) -> None:
    """Queue the owner's alerts in the caller's transaction (a no-op for those already queued)."""
    if decisions:
        before = applied.queued
        queue(conn, decisions, applied, now=now, domain=domain)
        log.info("owner alerts: %d queued for OWNER_EMAIL", applied.queued - before)


def after_poll(
    client: ShopClient,
    store: Store,
    settings: Settings,
    *,
    now: datetime,
    profile: ShopProfile | None,
    messages: PollMessages | None = None,
) -> int:
    """The owner's alerts that do not ride on the order pass (customers' messages, low stock, the daily
    summary); how many were queued. `messages`: the poll's reads shared with the conversation pass.
    A shop error here is logged and left to the next poll: the customers' emails went through already."""
    shared = messages if messages is not None else PollMessages(client, store, settings)
    watches: tuple[Callable[..., int], ...] = (
        partial(watch_messages, messages=shared),
        watch_low_stock,
        daily_summary,
    )
    queued = 0
    for watch in watches:
        try:
            queued += watch(client, store, settings, now=now, profile=profile)
        except ShopError as error:
            log.warning("owner alerts: this pass failed, the next poll tries again: %s", error)
    return queued


def watch_messages(
    client: ShopClient,
    store: Store,
    settings: Settings,
    *,
    now: datetime,
    profile: ShopProfile | None,
    messages: PollMessages | None = None,
) -> int:
    """Take the messages written since the last poll and queue the owner's alerts about the customers'."""
    with store.read() as conn:
        cursor = owner_state.message_cursor(conn)
    if not (settings.owner_email and plan.CUSTOMER_MESSAGE in settings.owner_alerts):
        if cursor is not None:  # turned off: forget the position, so turning it on tells nothing old
            with store.transaction() as conn:
                owner_state.forget_message_cursor(conn)
        return 0
    if cursor is None:
        _message_baseline(client, store, now=now)
        return 0
    shared = messages if messages is not None else PollMessages(client, store, settings)
    new = shared.since(cursor)
    if not new:
        return 0
    moved = orders_plan.advance(cursor, [m.id for m in new])
    news = _message_news(shared, [m for m in new if m.from_customer])
    decisions: list[Decision] = []
    if news:
        profile = shared.profile(profile)
        decisions = plan.plan_messages(news, owner_rules(settings, profile))
    applied = Applied()
    with store.transaction() as conn:
        domain = profile.identity.domain if profile is not None else settings.mail_from.domain
        queue_alerts(conn, decisions, applied, now=now, domain=domain)
        owner_state.save_message_cursor(conn, moved, now=now)
    return applied.queued


def _message_baseline(client: ShopClient, store: Store, *, now: datetime) -> None:
    """The watch's first poll: where the shop's messages stand; none of them is news."""
    last = positions.last_id(client, "customer_messages")
    done = positions.ids_up_to(client, "customer_messages", last, orders_plan.OVERLAP_IDS)
    with store.transaction() as conn:
        owner_state.save_message_cursor(conn, IdCursor(last, frozenset(done)), now=now)
    log.info("owner alerts: customers' messages are watched from message #%s on", last)


def _message_news(shared: PollMessages, messages: Sequence[CustomerMessage]) -> list[plan.MessageNews]:
    """Each customer's message with its thread, the writer's account name and the order's reference."""
    if not messages:
        return []
    facts = shared.threads(messages)
    checkout = [t.id for t in facts.threads.values() if t.id_contact == 0 and t.id_order > 0]
    first = {
        thread: min(m.id for m in facts.messages[thread]) for thread in checkout if facts.messages[thread]
    }
    news = []
    for message in messages:
        thread = facts.threads.get(message.id_customer_thread)
        person = facts.people.get(thread.id_customer) if thread is not None else None
        news.append(
            plan.MessageNews(
                message,
                thread,
                first_name=person.firstname if person else "",
                last_name=person.lastname if person else "",
                order_reference=facts.references.get(thread.id_order, "") if thread else "",
                checkout_comment=thread is not None and first.get(thread.id) == message.id,
            )
        )
    return news


def daily_summary(
    client: ShopClient, store: Store, settings: Settings, *, now: datetime, profile: ShopProfile | None
) -> int:
    """At OWNER_SUMMARY_HOUR in the shop's time zone, queue the summary of the day before (once)."""
    if not (settings.owner_email and plan.DAILY_SUMMARY in settings.owner_alerts):
        return 0
    zone = ZoneInfo(profile.identity.timezone) if profile is not None else client.shop_timezone()
    with store.read() as conn:
        last = owner_state.summary_last_day(conn)
    day = plan.summary_due(now.astimezone(zone), settings.owner_summary_hour, last)
    if day is None:
        return 0
    start = datetime.combine(day, time(0), zone)
    end = datetime.combine(day + timedelta(days=1), time(0), zone)  # a DST day has 23 or 25 hours
    profile = profile or load_profile(client, settings)
    currencies = {c.id: c.iso_code for c in profile.currencies.values()}
    placed = orders_placed(client, start, end - timedelta(seconds=1))
    revenue: dict[str, Decimal] = {}
    for currency_id, total in placed:
        iso = currencies.get(currency_id, "")
        revenue[iso] = revenue.get(iso, Decimal(0)) + total
    with store.read() as conn:
        counts = owner_state.day_counts(conn, start, end)
    pause = paused(store, now)
    report = plan.DayReport(
        start,
        len(placed),
        revenue,
        counts.sent,
        counts.failed,
        counts.held,
        counts.unknown,
        pause.reason if pause is not None else "",
        bounce_suppressions(store, since=start, until=end),
    )
    decisions = plan.plan_summary(report, owner_rules(settings, profile))
    applied = Applied()
    with store.transaction() as conn:
        queue_alerts(conn, decisions, applied, now=now, domain=profile.identity.domain)
        owner_state.save_summary_day(conn, day, now=now)
    return applied.queued


# How long the shop's PS_LAST_QTIES is trusted before it is read again (an idle poll does not read it).
THRESHOLD_MAX_AGE = timedelta(days=1)
DEFAULT_THRESHOLD = 3  # PrestaShop's own default for PS_LAST_QTIES


def watch_low_stock(
    client: ShopClient, store: Store, settings: Settings, *, now: datetime, profile: ShopProfile | None
) -> int:
    """Read the stock rows at or below the threshold and tell the owner about those that just fell."""
    with store.read() as conn:
        watched = owner_state.low_stock_watched(conn)
    if not (settings.owner_email and plan.LOW_STOCK in settings.owner_alerts):
        if watched:  # turned off: turning it on again starts from where the stock stands then
            with store.transaction() as conn:
                owner_state.forget_low_stock(conn)
        return 0
    threshold = _threshold(client, store, settings, now=now)
    low = low_stock(client, threshold)
    with store.read() as conn:
        marks = owner_state.stock_marks(conn)
    fallen, risen = plan.stock_changes(low, [m.stock_id for m in marks.values() if m.low])
    if not fallen and not risen and watched:
        return 0
    levels = stock_levels(client, fallen) if fallen else []
    decisions: list[Decision] = []
    if watched and levels:
        profile = profile or load_profile(client, settings)
        rules = owner_rules(settings, profile)
        language = next(
            (i for i, lang in profile.languages.items() if lang.iso_code.lower() == rules.language), None
        )
        products = stock_products(client, {level.id_product for level in levels}, language=language)
        falls = [
            plan.StockFall(level, products.get(level.id_product), _falls(marks, level.id) + 1)
            for level in levels
        ]
        decisions = plan.plan_low_stock(falls, threshold, rules)
    told = {
        level.id: (
            level.id_product,
            level.id_product_attribute,
            level.quantity,
            _falls(marks, level.id) + watched,
        )
        for level in levels
    }
    applied = Applied()
    with store.transaction() as conn:
        domain = profile.identity.domain if profile is not None else settings.mail_from.domain
        queue_alerts(conn, decisions, applied, now=now, domain=domain)
        owner_state.save_stock_marks(conn, told, risen, now=now)
    if not watched:
        log.info(
            "owner alerts: low stock is watched from now on (%d product(s) at or below %d)",
            len(low),
            threshold,
        )
    return applied.queued


def _falls(marks: Mapping[int, owner_state.StockMark], stock_id: int) -> int:
    mark = marks.get(stock_id)
    return mark.falls if mark is not None else 0


def _threshold(client: ShopClient, store: Store, settings: Settings, *, now: datetime) -> int:
    """LOW_STOCK_THRESHOLD, else the shop's PS_LAST_QTIES (read at most once a day)."""
    if settings.low_stock_threshold is not None:
        return settings.low_stock_threshold
    with store.read() as conn:
        cached = owner_state.cached_threshold(conn, now=now, max_age=THRESHOLD_MAX_AGE)
    if cached is not None:
        return cached
    value = last_quantities(client)
    if value is None:
        value = DEFAULT_THRESHOLD
    with store.transaction() as conn:
        owner_state.save_threshold(conn, value, now=now)
    return value
