"""The owner's business alerts, planned: what the shop did in, the emails to OWNER_EMAIL out.

Pure: no I/O, no clock. The decisions are `bridge.plan.rules.Decision`s like the customers' (the outbox
row's category is "transactional", the kind's category "owner"), so they are queued, explained and
delivered like any email; the kind's priority puts them after the customers' order emails.

The rules, and why:
- only what happened after the bridge's first run counts (the order pass's baseline decides which orders are
  new): installing the bridge on a shop with 2,000 orders must not mail the owner 2,000 "new order" emails;
- the owner's alerts are never held by the age guard nor by consent rules: the owner asked for them;
- each new order gets one email per owner address, Reply-To the customer (the kind says so);
- more than DIGEST_AFTER new orders in one poll (a catch-up after downtime, a `sync --since`) get one
  digest listing them all instead; each order then records a skip naming the digest, so `bridge explain
  order` still tells the owner's side of the story;
- each new message a customer writes (the contact form, or a reply in an order's thread) gets one email
  per owner address, Reply-To the customer; the staff's replies (id_employee > 0) and internal notes
  (private) are not news, and a checkout comment is told in its order's alert instead;
- a product (or combination) whose available quantity falls to the threshold or below is told once per
  fall: not again until it has risen above it (the watch's first poll records what is low already, and
  tells nothing); the falls of one poll share one email;
- the daily summary tells the day before, once its hour (OWNER_SUMMARY_HOUR, the shop's time zone) has
  come; after downtime only yesterday is told, not every day missed;
- every key names the event and the recipient (a hash of the address, never the address itself), so
  planning twice queues once and a second owner address gets its own copy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from bridge.model.kinds import (
    OWNER_CUSTOMER_MESSAGE,
    OWNER_DAILY_SUMMARY,
    OWNER_LOW_STOCK,
    OWNER_NEW_ORDER,
    OWNER_NEW_ORDERS,
)
from bridge.model.profile import ShopProfile
from bridge.model.stock import StockLevel, StockProduct
from bridge.model.threads import CustomerMessage, CustomerThread
from bridge.plan.contexts import CENT, OrderFacts, confirmation_context, instant, money
from bridge.plan.rules import Decision

NEW_ORDER: Final = "new_order"
CUSTOMER_MESSAGE: Final = "customer_message"
DAILY_SUMMARY: Final = "daily_summary"
LOW_STOCK: Final = "low_stock"
# More new orders than this in one poll are told in one digest.
DIGEST_AFTER: Final = 5


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str = ""


@dataclass(frozen=True)
class OwnerRules:
    """The owner's settings the alerts read (OWNER_EMAIL, OWNER_ALERTS, OWNER_LANGUAGE, SHOP_ADMIN_URL)."""

    recipients: tuple[Recipient, ...]
    alerts: frozenset[str]
    language: str
    admin_url: str = ""  # the back office, "" when the owner gave none
    digest_after: int = DIGEST_AFTER

    def wants(self, alert: str) -> bool:
        return bool(self.recipients) and alert in self.alerts


@dataclass(frozen=True)
class NewOrderNews:
    """A new order, with what the owner's alert tells beyond the customer's confirmation."""

    facts: OrderFacts
    first_order: bool  # the customer had no earlier order
    message: str  # the checkout comment, "" when none


def recipient_tag(email: str) -> str:
    """A short hash naming an owner address in an idempotency key (keys outlive the retention purge)."""
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()[:12]


def to_owners(
    name: str,
    kind: str,
    context: Mapping[str, Any],
    rules: OwnerRules,
    *,
    order_id: int = 0,
    reference: str = "",
) -> list[Decision]:
    """One decision per OWNER_EMAIL address for the alert `name` (its key names the address by its tag)."""
    return [
        Decision(
            f"{name}:to:{recipient_tag(to.email)}",
            kind,
            order_id,
            reference,
            recipient_email=to.email,
            recipient_name=to.name,
            language=rules.language,
            context=context,
        )
        for to in rules.recipients
    ]


def order_admin_url(admin_url: str, order_id: int) -> str:
    if not admin_url:
        return ""
    return f"{admin_url.rstrip('/')}/index.php?controller=AdminOrders&id_order={order_id}&vieworder=1"


def plan_new_orders(news: Sequence[NewOrderNews], profile: ShopProfile, rules: OwnerRules) -> list[Decision]:
    """One alert per new order and owner address, or one digest per address when there are many."""
    if not rules.wants(NEW_ORDER) or not news:
        return []
    readable = [n for n in news if n.facts.customer is not None]
    decisions = [
        Decision(
            f"owner:new_order:order:{n.facts.order.id}",
            OWNER_NEW_ORDER,
            n.facts.order.id,
            n.facts.order.reference,
            skip_reason="the order's customer could not be read from the shop",
        )
        for n in news
        if n.facts.customer is None
    ]
    if len(readable) > rules.digest_after:
        return decisions + _digest(readable, profile, rules)
    for item in readable:
        context = new_order_context(item, profile, rules.admin_url)
        order = item.facts.order
        decisions += to_owners(
            f"owner:new_order:order:{order.id}",
            OWNER_NEW_ORDER,
            context,
            rules,
            order_id=order.id,
            reference=order.reference,
        )
    return decisions


def new_order_context(news: NewOrderNews, profile: ShopProfile, admin_url: str) -> dict[str, Any]:
    """The owner_new_order context (bridge.model.owner_kinds.OwnerNewOrderContext)."""
    facts = news.facts
    assert facts.customer is not None
    confirmation = confirmation_context(facts, profile.front_url, paid=is_paid(facts, profile))
    return {
        "customer": confirmation["customer"],
        "guest": facts.customer.is_guest,
        "first_order": news.first_order,
        "order": confirmation["order"],
        "items": confirmation["items"],
        "discounts": confirmation["discounts"],
        "totals": confirmation["totals"],
        "paid": confirmation["paid"],
        "carrier": confirmation["carrier"],
        "delivery_address": confirmation["delivery_address"],
        "message": news.message.strip(),
        "admin_url": order_admin_url(admin_url, facts.order.id),
    }


def is_paid(facts: OrderFacts, profile: ShopProfile) -> bool:
    """As the customer's confirmation says it: a paid state, or the whole total already received."""
    state = profile.states.get(facts.order.current_state)
    order = facts.order
    return bool(state and state.paid) or order.total_paid_real >= order.total_paid_tax_incl > 0


def _digest(news: Sequence[NewOrderNews], profile: ShopProfile, rules: OwnerRules) -> list[Decision]:
    ids = sorted(n.facts.order.id for n in news)
    name = f"owner:new_orders:orders:{ids[0]}-{ids[-1]}:{len(ids)}"
    context = {
        "count": len(news),
        "orders": [brief(n, profile, rules.admin_url) for n in sorted(news, key=lambda n: n.facts.order.id)],
        "totals": _totals(news),
    }
    why = f"told in one digest of {len(news)} new orders to the owner ({name})"
    skips = [
        Decision(
            f"owner:new_order:order:{n.facts.order.id}",
            OWNER_NEW_ORDER,
            n.facts.order.id,
            n.facts.order.reference,
            skip_reason=why,
        )
        for n in sorted(news, key=lambda n: n.facts.order.id)
    ]
    return skips + to_owners(name, OWNER_NEW_ORDERS, context, rules)


def brief(news: NewOrderNews, profile: ShopProfile, admin_url: str) -> dict[str, Any]:
    facts, order = news.facts, news.facts.order
    assert facts.customer is not None
    return {
        "reference": order.reference,
        "date": instant(order.date_add, order.date_upd),
        "customer_name": f"{facts.customer.firstname} {facts.customer.lastname}".strip(),
        "customer_email": facts.customer.email,
        "total": money(order.total_paid_tax_incl, facts.currency),
        "paid": is_paid(facts, profile),
        "payment_method": order.payment,
        "admin_url": order_admin_url(admin_url, order.id),
    }


def _totals(news: Sequence[NewOrderNews]) -> list[dict[str, str]]:
    """The sum per currency, largest first (the currencies of one shop are seldom many)."""
    sums: dict[str, Decimal] = {}
    for item in news:
        currency = item.facts.currency
        sums[currency] = sums.get(currency, Decimal(0)) + item.facts.order.total_paid_tax_incl.quantize(CENT)
    return [money(amount, currency) for currency, amount in sorted(sums.items(), key=lambda kv: -kv[1])]


# --- customers' messages ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageNews:
    """A message read from the shop, with its thread and who wrote it."""

    message: CustomerMessage
    thread: CustomerThread | None  # None: the thread could not be read
    first_name: str = ""  # the customer account's, "" without one
    last_name: str = ""
    order_reference: str = ""  # "" when the thread is about no order
    checkout_comment: bool = False  # the first message of the thread validateOrder opened for an order


def thread_admin_url(admin_url: str, thread_id: int) -> str:
    if not admin_url:
        return ""
    query = f"controller=AdminCustomerThreads&id_customer_thread={thread_id}&viewcustomer_thread=1"
    return f"{admin_url.rstrip('/')}/index.php?{query}"


def plan_messages(news: Sequence[MessageNews], rules: OwnerRules) -> list[Decision]:
    """One alert per customer's message and owner address. The staff's replies and internal notes are no
    news to the owner; a checkout comment is already in the new-order alert (while that alert is on)."""
    if not rules.wants(CUSTOMER_MESSAGE):
        return []
    decisions: list[Decision] = []
    for item in news:
        message, thread = item.message, item.thread
        if not message.from_customer or thread is None or not message.message.strip():
            continue
        if item.checkout_comment and rules.wants(NEW_ORDER):
            continue
        context = {
            "customer": {"first_name": item.first_name, "last_name": item.last_name, "email": thread.email},
            "order_reference": item.order_reference,
            "admin_url": thread_admin_url(rules.admin_url, thread.id),
            "message": message.message.strip(),
            "date": instant(message.date_add),
        }
        decisions += to_owners(
            f"owner:customer_message:message:{message.id}",
            OWNER_CUSTOMER_MESSAGE,
            context,
            rules,
            order_id=thread.id_order,
            reference=item.order_reference,
        )
    return decisions


# --- the daily summary --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayReport:
    """One day in the shop and in the bridge, and what waits for the owner now."""

    day_start: datetime  # shop-local midnight the day began
    orders: int
    revenue: Mapping[str, Decimal]  # currency → the orders' totals
    sent: Mapping[str, int]  # kind → emails sent that day
    failed: Mapping[str, int]
    held: Mapping[str, int]  # now
    unknown: int  # now
    paused: str  # why sending is paused now, "" when it is not
    bounced: int = 0  # addresses suppressed after a bounce that day


def summary_due(local_now: datetime, hour: int, last_day: date | None) -> date | None:
    """The day a summary is due about (the day before `local_now`, once its hour has come), or None.

    After downtime only yesterday is told: a summary of a day long gone is no news."""
    if local_now.hour < hour:
        return None
    yesterday = local_now.date() - timedelta(days=1)
    if last_day is not None and last_day >= yesterday:
        return None
    return yesterday


def plan_summary(report: DayReport, rules: OwnerRules) -> list[Decision]:
    """One summary per owner address, keyed by the day it tells."""
    if not rules.wants(DAILY_SUMMARY):
        return []
    context = {
        "date": report.day_start.isoformat(),
        "orders": report.orders,
        "revenue": [
            money(amount, currency)
            for currency, amount in sorted(report.revenue.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        "sent": _kind_counts(report.sent),
        "failed": _kind_counts(report.failed),
        "held": _kind_counts(report.held),
        "unknown": report.unknown,
        "paused": report.paused,
        "bounced": report.bounced,
    }
    day = report.day_start.date().isoformat()
    return to_owners(f"owner:daily_summary:{day}", OWNER_DAILY_SUMMARY, context, rules)


def _kind_counts(counts: Mapping[str, int]) -> list[dict[str, Any]]:
    return [{"kind": kind, "count": count} for kind, count in sorted(counts.items()) if count]


# --- low stock ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StockFall:
    """A stock row that fell to the threshold or below since the last poll."""

    level: StockLevel
    product: StockProduct | None  # None: the product could not be read
    fall: int  # which fall of this row it is (1, 2, …): it names the alert


def stock_changes(low_now: Mapping[int, int], told_low: Iterable[int]) -> tuple[list[int], list[int]]:
    """(rows that fell: low now, not told; rows that rose: told low, above the threshold now)."""
    told = set(told_low)
    return sorted(set(low_now) - told), sorted(told - set(low_now))


def product_admin_url(admin_url: str, product_id: int) -> str:
    if not admin_url:
        return ""
    return f"{admin_url.rstrip('/')}/index.php?controller=AdminProducts&id_product={product_id}&updateproduct"


def plan_low_stock(falls: Sequence[StockFall], threshold: int, rules: OwnerRules) -> list[Decision]:
    """One alert per owner address listing every product that fell in this poll. The product row of a
    product with combinations is their sum: its combinations are told instead."""
    if not rules.wants(LOW_STOCK):
        return []
    told = [
        f
        for f in sorted(falls, key=lambda f: (f.level.id_product, f.level.id_product_attribute))
        if not (f.level.id_product_attribute == 0 and f.product is not None and f.product.has_combinations)
    ]
    if not told:
        return []
    context = {
        "threshold": threshold,
        "products": [
            {
                "name": f.product.name if f.product and f.product.name else f"#{f.level.id_product}",
                "reference": f.product.reference if f.product else "",
                "combination": f.level.id_product_attribute,
                "quantity": f.level.quantity,
                "admin_url": product_admin_url(rules.admin_url, f.level.id_product),
            }
            for f in told
        ],
    }
    falls_named = ",".join(f"{f.level.id}.{f.fall}" for f in sorted(told, key=lambda f: f.level.id))
    name = hashlib.sha256(falls_named.encode("ascii")).hexdigest()[:16]
    return to_owners(f"owner:low_stock:{name}", OWNER_LOW_STOCK, context, rules)
