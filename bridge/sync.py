"""One sync cycle: read the shop → detect changes → decide emails → enqueue them → deliver what is due.

`bridge sync` runs it once; `bridge run` runs it on a schedule. The invariants (../shared/docs/design.md):
- the shop is read with GET only, in batches, and an idle poll costs one small request per cursor;
- advancing the cursors and enqueuing the emails they produced happen in ONE transaction, so a crash
  before the commit means the next poll sees the same changes again, and after it the emails are durable;
- each cursor re-reads a small overlap behind itself (ids are not committed in order under concurrent
  checkouts) and the outbox's idempotency keys drop what was already enqueued;
- the first run records where the shop stands and sends nothing; `since` catches up on purpose.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from sqlalchemy import Connection

from bridge import cart_watch
from bridge.clock import Clock
from bridge.config import Settings
from bridge.delivery.budget import budget_for
from bridge.delivery.deliver import SHOP_IDENTITY, DeliveryResult, deliver_due
from bridge.delivery.marketing import MarketingGate
from bridge.delivery.transports import Transport
from bridge.errors import ShopError, ShopPermissionError, ShopRequestError
from bridge.mail.render import Renderer
from bridge.plan.contexts import OrderFacts, product_image_url
from bridge.plan.detect import Change, NewOrder, PaymentAdded, StateChanged, TrackingChanged, detect_changes
from bridge.plan.rules import Decision, RuleSettings, decide, review_key
from bridge.shop.client import FAR_FUTURE, Query, ShopClient, between, is_filterable
from bridge.shop.profile import ShopProfile, load_profile
from bridge.shop.records import Order, OrderCarrier, OrderHistory, OrderPayment
from bridge.state import outbox
from bridge.state.store import (
    SeenOrder,
    Store,
    get_cursors,
    get_seen_orders,
    put_seen_order,
    seen_orders_awaiting_tracking,
    set_cursor,
)

log = logging.getLogger(__name__)

# Cursor names in the state store.
HISTORIES: Final = "order_histories.id"
ORDERS: Final = "orders.id"
PAYMENTS: Final = "order_payments.id"
BASELINE_ORDER: Final = "orders.baseline_id"
BASELINE_AT: Final = "baseline_at"
FINAL_STATES: Final = "order_states.final"
SHIPPED_STATES: Final = "order_states.shipped"

# How far behind each id cursor every poll re-reads. Ids are handed out at INSERT and committed a few
# milliseconds later; a row can become visible after a higher id only in that window.
OVERLAP_IDS: Final = 20
# Orders whose carriers are re-read for a tracking number: those seen in the last two weeks.
TRACKING_WATCH: Final = timedelta(days=14)
FINAL_KINDS: Final = frozenset({"delivered", "cancelled", "refunded"})
# What a tracking watch needs of an order carrier: an idle poll should stay small.
CARRIER_FIELDS: Final = ("id", "id_order", "tracking_number")


@dataclass
class PollResult:
    baseline: bool = False
    changes: int = 0
    queued: int = 0
    skipped: int = 0
    decisions: list[Decision] = field(default_factory=list)
    carts: cart_watch.CartPass | None = None  # the abandoned-cart pass that followed, if one ran


def poll(
    client: ShopClient,
    store: Store,
    settings: Settings,
    *,
    now: datetime,
    since: datetime | None = None,
    confirm: Callable[[list[Decision]], None] | None = None,
) -> PollResult:
    """Read the shop once and enqueue the emails its changes call for.

    `confirm` is called with the decisions before they are committed (`bridge sync --since` prints how many
    emails it is about to queue).
    """
    with store.read() as conn:
        cursors = get_cursors(conn)
    if since is not None:
        cursors = _cursors_since(client, store, cursors, since, now=now)
    elif BASELINE_AT not in cursors:
        _record_baseline(client, store, settings, now=now)
        return PollResult(baseline=True)

    history_cursor = int(cursors[HISTORIES])
    order_cursor = int(cursors[ORDERS])
    payment_cursor = int(cursors[PAYMENTS])
    history_window = _window(cursors, HISTORIES)
    payment_window = _window(cursors, PAYMENTS)
    baseline_order_id = int(cursors[BASELINE_ORDER])
    final_states = [int(v) for v in cursors.get(FINAL_STATES, "").split(",") if v]
    shipped_states = (
        [int(v) for v in cursors[SHIPPED_STATES].split(",") if v] if SHIPPED_STATES in cursors else None
    )

    # 1. Read what moved (one small request each when nothing did).
    read_histories = client.order_histories(after_id=max(0, history_cursor - OVERLAP_IDS))
    new_orders = _new_orders(client, store, order_cursor, baseline_order_id)
    read_payments = client.order_payments(after_id=max(0, payment_cursor - OVERLAP_IDS))
    # Rows behind a cursor were processed already, unless they were not visible then (a gap).
    histories = [h for h in read_histories if h.id > history_cursor or h.id not in history_window]
    payments = [p for p in read_payments if p.id > payment_cursor or p.id not in payment_window]
    with store.read() as conn:
        watched = seen_orders_awaiting_tracking(
            conn, since=now - TRACKING_WATCH, final_states=final_states, shipped_states=shipped_states
        )
    watched_carriers = client.order_carriers(watched, fields=CARRIER_FIELDS) if watched else []

    # 2. Which orders are involved, and everything their emails need.
    orders = {order.id: order for order in new_orders}
    references = {payment.order_reference for payment in payments}
    seen = dict(watched)
    with store.read() as conn:
        seen.update(get_seen_orders(conn, {o.id for o in new_orders} | {h.id_order for h in histories}))
    looked_up = set(seen) | {o.id for o in new_orders} | {h.id_order for h in histories}
    by_reference = _order_ids_by_reference([*orders.values()], seen.values())
    unknown_references = {r for r in references - set(by_reference) if is_filterable(r)}
    if unknown_references:
        for order in client.orders(references=unknown_references):
            orders.setdefault(order.id, order)
            by_reference.setdefault(order.reference, []).append(order.id)
    involved = (
        {h.id_order for h in histories}
        | {oid for ref in references for oid in by_reference.get(ref, ())}
        | {c.id_order for c in watched_carriers if c.tracking_number.strip()}
    )
    missing = sorted(involved - set(orders))
    if missing:
        orders.update((order.id, order) for order in client.orders(ids=missing))
    if set(orders) - looked_up:  # orders found through a payment's reference or a tracking number
        with store.read() as conn:
            seen.update(get_seen_orders(conn, set(orders) - looked_up))

    new_order_ids = {o.id for o in new_orders if o.id > baseline_order_id and o.id not in seen}
    first_history_ids = _first_history_ids(histories, new_order_ids)
    changes = detect_changes(
        seen=seen,
        new_orders=new_orders,
        histories=histories,
        first_history_ids=first_history_ids,
        payments=payments,
        order_ids_by_reference=by_reference,
        carriers=watched_carriers,
        baseline_order_id=baseline_order_id,
    )
    # Changes whose order carries nothing new for its emails need no facts at all: an idle poll stops here.
    decisions: list[Decision] = []
    already: dict[int, frozenset[str]] = {}
    profile: ShopProfile | None = None
    tracking = {c.id_order: c.tracking_number.strip() for c in watched_carriers}
    needing = _orders_needing_facts(changes)
    if changes:
        profile = load_profile(client, settings)
        facts_orders = [orders[oid] for oid in sorted(needing) if oid in orders]
        facts = gather_facts(client, profile, facts_orders, tracking, image_type=settings.product_images)
        tracking.update((order_id, f.tracking_number) for order_id, f in facts.items())
        with store.read() as conn:
            already = outbox.kinds_sent_for_orders(conn, needing)
        decisions = decide(
            changes, facts=facts, profile=profile, settings=rule_settings(settings), already_sent=already
        )

    if confirm is not None:
        confirm(decisions)

    # 3. One transaction: enqueue, remember what we saw, advance the cursors.
    result = PollResult(changes=len(changes), decisions=decisions)
    with store.transaction() as conn:
        if profile is not None:
            # Another bridge sharing this database may have committed emails for these orders since they
            # were read: then decide again against what is committed now (the rules are pure). Usually
            # nothing moved, and the decisions (a catch-up's largest objects) are kept as they are.
            committed = outbox.kinds_sent_for_orders(conn, needing)
            if committed != already:
                result.decisions = decisions = []
                decisions = decide(
                    changes,
                    facts=facts,
                    profile=profile,
                    settings=rule_settings(settings),
                    already_sent=committed,
                )
                result.decisions = decisions
        domain = _message_id_domain(profile, settings)
        for decision in decisions:
            intent = _intent(decision, now)
            if decision.sends:
                queued = outbox.enqueue(conn, intent, now=now, message_id_domain=domain)
                result.queued += queued
                if not queued and decision.reschedule and decision.not_before is not None:
                    outbox.reschedule(conn, decision.key, decision.not_before, now=now)
            else:
                result.skipped += outbox.skip(conn, intent, decision.skip_reason or "", now=now)
                log.info(
                    "order %s: %s not sent: %s",
                    decision.order_reference or decision.order_id,
                    decision.kind,
                    decision.skip_reason,
                )
        if profile is not None:
            _cancel_review_requests(conn, changes, profile, now=now)
        if settings.marketing_enabled:
            cart_watch.stop_for_orders(conn, [o for o in new_orders if o.id in new_order_ids], now=now)
        # Only orders something happened to: the overlap re-reads older ones, which are not news.
        involved_orders = {oid: orders[oid] for oid in needing if oid in orders}
        _remember_orders(conn, involved_orders, seen, histories, tracking, now=now)
        _advance(conn, HISTORIES, history_cursor, history_window, [h.id for h in histories], now)
        _advance(conn, ORDERS, order_cursor, set(), [o.id for o in new_orders], now)
        _advance(conn, PAYMENTS, payment_cursor, payment_window, [p.id for p in payments], now)
        if since is not None:
            set_cursor(conn, BASELINE_ORDER, str(baseline_order_id), now=now)
            set_cursor(conn, BASELINE_AT, cursors.get(BASELINE_AT) or now.isoformat(), now=now)
        if profile is not None:
            _remember_profile(conn, profile, now=now)
    return result


# --- baseline and catching up ---------------------------------------------------------------------------


def _last_id(client: ShopClient, resource: str) -> int:
    rows = list(client.list_raw(resource, Query(display=("id",), sort=("id_DESC",)), limit=1))
    return int(rows[0]["id"]) if rows else 0


def _first_id_since(client: ShopClient, resource: str, since: datetime) -> int | None:
    query = Query(display=("id",), filters={"date_add": between(since, FAR_FUTURE)}, sort=("id_ASC",))
    rows = list(client.list_raw(resource, query, limit=1))
    return int(rows[0]["id"]) if rows else None


def _ids_up_to(client: ShopClient, resource: str, position: int) -> list[int]:
    """The ids in the overlap window just behind `position`: history already, not news."""
    if position <= 0:
        return []
    query = Query(display=("id",), filters={"id": between(max(1, position - OVERLAP_IDS + 1), position)})
    return [int(row["id"]) for row in client.list_raw(resource, query)]


def _record_baseline(client: ShopClient, store: Store, settings: Settings, *, now: datetime) -> None:
    """The first run: remember where the shop stands, send nothing (history is not news).

    The shop's identity is recorded too, so an owner alert or a test email can be written before the
    first order arrives."""
    profile = load_profile(client, settings)
    positions = {
        HISTORIES: _last_id(client, "order_histories"),
        ORDERS: _last_id(client, "orders"),
        PAYMENTS: _last_id(client, "order_payments"),
    }
    windows = {
        HISTORIES: _ids_up_to(client, "order_histories", positions[HISTORIES]),
        PAYMENTS: _ids_up_to(client, "order_payments", positions[PAYMENTS]),
    }
    with store.transaction() as conn:
        for name, value in positions.items():
            set_cursor(conn, name, str(value), now=now)
        for name, ids in windows.items():
            set_cursor(conn, f"{name}.window", ",".join(map(str, ids)), now=now)
        set_cursor(conn, BASELINE_ORDER, str(positions[ORDERS]), now=now)
        set_cursor(conn, BASELINE_AT, now.isoformat(), now=now)
        _remember_profile(conn, profile, now=now)
    log.info(
        "first run: baseline recorded (orders up to #%s, histories up to #%s); nothing sent",
        positions[ORDERS],
        positions[HISTORIES],
    )


def _cursors_since(
    client: ShopClient, store: Store, cursors: Mapping[str, str], since: datetime, *, now: datetime
) -> dict[str, str]:
    """Cursors placed just before the first rows dated `since` or later (never ahead of where they were)."""
    chosen = dict(cursors)
    for name, resource in ((HISTORIES, "order_histories"), (ORDERS, "orders"), (PAYMENTS, "order_payments")):
        first = _first_id_since(client, resource, since)
        position = (first - 1) if first is not None else _last_id(client, resource)
        if name in cursors:
            position = min(position, int(cursors[name]))
        chosen[name] = str(position)
        # Everything up to the new position is before `since`: not news, even in the overlap.
        chosen[f"{name}.window"] = ",".join(map(str, _ids_up_to(client, resource, position)))
    chosen[BASELINE_ORDER] = chosen[ORDERS]
    return chosen


# --- gathering facts ------------------------------------------------------------------------------------


def _new_orders(client: ShopClient, store: Store, cursor: int, baseline: int) -> list[Order]:
    """Orders above the cursor, plus any late-committed one in the overlap behind it, read in full;
    the overlap itself is listed by id only, so an idle poll costs a few hundred bytes."""
    listed = [order.id for order in client.orders(after_id=max(0, cursor - OVERLAP_IDS), fields=("id",))]
    behind = [order_id for order_id in listed if baseline < order_id <= cursor]
    with store.read() as conn:
        seen = get_seen_orders(conn, behind)
    wanted = [
        order_id for order_id in listed if order_id > cursor or (order_id in behind and order_id not in seen)
    ]
    return client.orders(ids=wanted) if wanted else []


def _first_history_ids(histories: Iterable[OrderHistory], order_ids: set[int]) -> dict[int, int]:
    first: dict[int, int] = {}
    for history in histories:
        if history.id_order in order_ids:
            first[history.id_order] = min(first.get(history.id_order, history.id), history.id)
    return first


def _order_ids_by_reference(orders: Iterable[Order], seen: Iterable[SeenOrder]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for order in orders:
        found.setdefault(order.reference, []).append(order.id)
    for known in seen:
        ids = found.setdefault(known.reference, [])
        if known.order_id not in ids:
            ids.append(known.order_id)
    return found


def _orders_needing_facts(changes: Sequence[Change]) -> set[int]:
    ids: set[int] = set()
    for change in changes:
        match change:
            case NewOrder(order=order):
                ids.add(order.id)
            case StateChanged(history=history):
                ids.add(history.id_order)
            case PaymentAdded(order_id=order_id) | TrackingChanged(order_id=order_id):
                ids.add(order_id)
    return ids


def _tracking_numbers(client: ShopClient, order_ids: Sequence[int]) -> dict[int, str]:
    if not order_ids:
        return {}
    carriers: list[OrderCarrier] = client.order_carriers(order_ids)
    numbers: dict[int, str] = {}
    for carrier in sorted(carriers, key=lambda c: c.id):
        numbers[carrier.id_order] = carrier.tracking_number.strip()  # the latest carrier row wins
    return numbers


def gather_facts(
    client: ShopClient,
    profile: ShopProfile,
    orders: Sequence[Order],
    tracking: Mapping[int, str] | None = None,
    *,
    image_type: str | None = None,
) -> dict[int, OrderFacts]:
    """Customers, addresses, countries, carriers, payments and tracking numbers of these orders: a few
    batched requests. `tracking`: numbers already read (the watch), the others are read here."""
    if not orders:
        return {}
    tracking = dict(tracking or {})
    tracking.update(_tracking_numbers(client, [o.id for o in orders if o.id not in tracking]))
    customers = {c.id: c for c in client.customers({o.id_customer for o in orders})}
    address_ids = {o.id_address_delivery for o in orders} | {o.id_address_invoice for o in orders}
    addresses = {a.id: a for a in client.addresses(address_ids)}
    countries = {c.id: c for c in client.countries({a.id_country for a in addresses.values()})}
    carriers = {c.id: c for c in client.carriers({o.id_carrier for o in orders})}
    payments: dict[str, list[OrderPayment]] = {}
    # A reference PrestaShop's filter cannot carry (edited in the database) has no payments to look up:
    # its emails show what the order itself says about the payment.
    for payment in client.order_payments(
        references={o.reference for o in orders if is_filterable(o.reference)}
    ):
        payments.setdefault(payment.order_reference, []).append(payment)
    discounts = _discounts(client, [o for o in orders if o.total_discounts_tax_incl > 0])
    images = _images(client, profile, orders, image_type) if image_type else {}
    currencies = {c.id: c.iso_code for c in profile.currencies.values()}
    return {
        order.id: OrderFacts(
            order=order,
            customer=customers.get(order.id_customer),
            delivery_address=addresses.get(order.id_address_delivery),
            invoice_address=addresses.get(order.id_address_invoice),
            countries=countries,
            carrier=carriers.get(order.id_carrier),
            currency=currencies.get(order.id_currency, ""),
            language_id=order.id_lang,
            payments=tuple(payments.get(order.reference, ())),
            tracking_number=tracking.get(order.id, order.shipping_number.strip()),
            discounts=tuple(discounts.get(order.id, ())),
            images={row.product_id: images[row.product_id] for row in order.rows if row.product_id in images},
        )
        for order in orders
    }


def _images(
    client: ShopClient, profile: ShopProfile, orders: Sequence[Order], image_type: str
) -> dict[int, str]:
    """Each product's default image as a public URL; none when the key may not read products."""
    product_ids = {row.product_id for order in orders for row in order.rows if row.product_id}
    if not product_ids or not profile.front_url:
        return {}
    try:
        rows = client.get_by_ids("products", product_ids, query=Query(display=("id", "id_default_image")))
    except (ShopPermissionError, ShopRequestError) as error:
        log.debug("no product images (%s)", error)
        return {}
    images: dict[int, str] = {}
    for row in rows:
        try:
            product_id, id_image = int(row.get("id") or 0), int(row.get("id_default_image") or 0)
        except (TypeError, ValueError):
            continue
        if product_id and id_image > 0:
            images[product_id] = product_image_url(profile.front_url, id_image, image_type)
    return images


def _discounts(client: ShopClient, orders: Sequence[Order]) -> dict[int, list[tuple[str, Decimal]]]:
    """Cart rule names and amounts (`order_cart_rules`, PrestaShop 8.2+; older shops get one total line)."""
    if not orders:
        return {}
    try:
        rows = client.get_by_ids("order_cart_rules", [o.id for o in orders], field_name="id_order")
    except (ShopPermissionError, ShopRequestError) as error:
        log.debug("no discount names (%s): emails show the discount total", error)
        return {}
    found: dict[int, list[tuple[str, Decimal]]] = {}
    for row in rows:
        try:
            order_id = int(row.get("id_order") or 0)
            amount = Decimal(str(row.get("value") or "0"))
        except (ValueError, InvalidOperation):
            continue
        if str(row.get("deleted") or "0") != "1" and amount > 0:
            found.setdefault(order_id, []).append((str(row.get("name") or ""), amount))
    return found


# --- recording --------------------------------------------------------------------------------------------


def rule_settings(settings: Settings) -> RuleSettings:
    """The owner's settings the rules read."""
    bank = {
        "owner": settings.bank_account_owner,
        "iban": settings.bank_account_number,
        "bic": settings.bank_bic,
        "bank_name": settings.bank_name,
        "address": settings.bank_address,
    }
    marketing = settings.marketing_enabled
    return RuleSettings(
        default_language=settings.default_language,
        bank={k: v for k, v in bank.items() if v},
        review_days=settings.review_request_days if marketing else 0,
        review_fallback_days=settings.review_request_fallback_days if marketing else 0,
        marketing_consent=settings.marketing_consent,
    )


def _intent(decision: Decision, now: datetime) -> outbox.EmailIntent:
    marketing = decision.category == "marketing"
    return outbox.EmailIntent(
        idempotency_key=decision.key,
        kind=decision.kind,
        category=decision.category,
        priority=5 if marketing else 0,
        recipient_email=decision.recipient_email,
        recipient_name=decision.recipient_name,
        language=decision.language,
        context=dict(decision.context),
        not_before=decision.not_before or now,
        expires_at=None,
        order_id=decision.order_id or None,
        order_reference=decision.order_reference or None,
        consent=(decision.consent or "none") if marketing else None,
        customer_id=decision.customer_id,
    )


def _cancel_review_requests(
    conn: Connection, changes: Sequence[Change], profile: ShopProfile, *, now: datetime
) -> None:
    """A cancelled or refunded order is no occasion to ask for a review."""
    for change in changes:
        if isinstance(change, StateChanged):
            kind = profile.kind_for_state(change.history.id_order_state)
            if kind in ("cancelled", "refunded"):
                outbox.cancel_waiting(
                    conn,
                    f"not sent: the order was {kind} before the review request went out",
                    now=now,
                    kind="review_request",
                    idempotency_key=review_key(change.history.id_order),
                )


def _message_id_domain(profile: ShopProfile | None, settings: Settings) -> str:
    if profile is not None:
        return profile.identity.domain
    return settings.mail_from.domain


def _remember_orders(
    conn: Connection,
    orders: Mapping[int, Order],
    seen: Mapping[int, SeenOrder],
    histories: Sequence[OrderHistory],
    tracking: Mapping[int, str],
    *,
    now: datetime,
) -> None:
    last_history: dict[int, int] = {}
    for history in histories:
        last_history[history.id_order] = max(last_history.get(history.id_order, 0), history.id)
    for order in orders.values():
        known = seen.get(order.id)
        put_seen_order(
            conn,
            SeenOrder(
                order_id=order.id,
                reference=order.reference,
                current_state=order.current_state,
                last_history_id=last_history.get(order.id, known.last_history_id if known else None),
                tracking_number=tracking.get(order.id, known.tracking_number if known else None) or None,
                total_paid_real=order.total_paid_real,
                date_upd=order.date_upd or (known.date_upd if known else now),
            ),
            now=now,
        )


def _remember_profile(conn: Connection, profile: ShopProfile, *, now: datetime) -> None:
    """What later polls and deliveries need without asking the shop: the identity emails are signed
    with, and the states after which an order's tracking number is no longer watched."""
    final = sorted(sid for sid, kind in profile.state_kinds.items() if kind in FINAL_KINDS)
    set_cursor(conn, FINAL_STATES, ",".join(map(str, final)), now=now)
    shipped = sorted(sid for sid, kind in profile.state_kinds.items() if kind == "shipped")
    set_cursor(conn, SHIPPED_STATES, ",".join(map(str, shipped)), now=now)
    set_cursor(conn, SHOP_IDENTITY, json.dumps(identity_snapshot(profile)), now=now)


def _window(cursors: Mapping[str, str], name: str) -> set[int]:
    """The ids just behind cursor `name` that were processed (the overlap re-reads them every poll)."""
    return {int(v) for v in cursors.get(f"{name}.window", "").split(",") if v}


def _advance(
    conn: Connection, name: str, current: int, window: set[int], processed: Sequence[int], now: datetime
) -> None:
    """Move the cursor to the highest id processed, and remember which ids of the overlap were processed."""
    highest = max([current, *processed])
    if highest > current:
        set_cursor(conn, name, str(highest), now=now)
    recent = sorted(i for i in window | set(processed) if i > highest - OVERLAP_IDS)
    if set(recent) != window:
        set_cursor(conn, f"{name}.window", ",".join(map(str, recent)), now=now)


def identity_snapshot(profile: ShopProfile) -> dict[str, Any]:
    """The shop identity as plain values, kept in the store so delivery can render without the shop."""
    identity = profile.identity
    return {
        "name": identity.name,
        "email": identity.email,
        "from_email": identity.from_email,
        "from_name": identity.from_name,
        "reply_to_email": identity.reply_to_email,
        "reply_to_name": identity.reply_to_name,
        "address_lines": list(identity.address_lines),
        "phone": identity.phone,
        "logo_url": identity.logo_url,
        "accent_color": identity.accent_color,
        "base_url": identity.base_url,
        "timezone": identity.timezone,
        "default_language": identity.default_language,
    }


@dataclass
class SyncSummary:
    """What one cycle did: the one line `bridge sync` prints."""

    poll: PollResult
    delivery: DeliveryResult

    def line(self) -> str:
        if self.poll.baseline:
            head = "first run: recorded where the shop stands, nothing to send"
        else:
            head = (
                f"{self.poll.changes} change(s) seen, {self.poll.queued} queued, {self.poll.skipped} skipped"
            )
        carts = self.poll.carts
        if carts is not None and carts.queued:
            head += f", {carts.queued} cart reminder(s) queued"
        d = self.delivery
        tail = f"; {d.sent} sent, {d.retry} to retry, {d.failed} failed"
        if d.unknown:
            tail += f", {d.unknown} unknown"
        if d.paused:
            tail += f"; {d.paused}"
        return head + tail


def sync_once(
    client: ShopClient,
    store: Store,
    transport: Transport,
    renderer: Renderer,
    settings: Settings,
    clock: Clock,
    *,
    since: datetime | None = None,
    confirm: Callable[[list[Decision]], None] | None = None,
    marketing: MarketingGate | None = None,
) -> SyncSummary:
    """One cycle: poll the shop and enqueue, then deliver what is due. `bridge run` calls it on a schedule."""
    polled = poll(client, store, settings, now=clock.now(), since=since, confirm=confirm)
    polled.carts = watch_carts_safely(client, store, settings, now=clock.now())
    if marketing is None and settings.marketing_enabled:
        marketing = MarketingGate(settings, store, client)
    delivered = deliver_due(
        store,
        transport,
        renderer,
        clock,
        unknown_policy=settings.unknown_policy,
        budget=budget_for(settings),
        login_retry=settings.smtp_login_retry,
        marketing=marketing,
    )
    return SyncSummary(polled, delivered)


def watch_carts_safely(
    client: ShopClient, store: Store, settings: Settings, *, now: datetime
) -> cart_watch.CartPass | None:
    """The abandoned-cart pass; a shop error there is logged and left to the next pass, never allowed to
    hold up order emails (the order poll reports the shop's health)."""
    if not cart_watch.enabled(settings):
        return None
    try:
        return cart_watch.watch_carts(client, store, settings, now=now)
    except ShopError as error:
        log.warning("cart reminders: this pass failed, the next one tries again: %s", error)
        return None
