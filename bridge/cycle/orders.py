"""The order pass: read what moved in the shop → plan (bridge.plan.orders) → apply in one transaction.

The shop is read with GET only, in batches; an idle poll costs one small request per cursor. The first run
records where the shop stands and sends nothing; `since` catches up on purpose, from a date.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bridge.config import Settings
from bridge.cycle import owner
from bridge.model.cursors import IdCursor, OrderCursors, StateGroups, whole_second
from bridge.model.memory import SeenOrder
from bridge.model.profile import ShopProfile
from bridge.model.records import Order
from bridge.plan import orders as plan
from bridge.plan.contexts import OrderFacts
from bridge.plan.detect import Change
from bridge.plan.rules import Decision, RuleSettings
from bridge.shop import positions
from bridge.shop.client import ShopClient
from bridge.shop.facts import gather_facts
from bridge.shop.profile import load_profile
from bridge.shop.query import is_filterable
from bridge.state import cursors, outbox
from bridge.state.orders import get_seen_orders, seen_orders_awaiting_tracking
from bridge.state.plans import apply_orders
from bridge.state.store import Store

log = logging.getLogger(__name__)

# What a tracking watch needs of an order carrier: an idle poll should stay small.
CARRIER_FIELDS = ("id", "id_order", "tracking_number")


@dataclass
class OrderPass:
    """What one order poll did."""

    baseline: bool = False
    changes: int = 0
    queued: int = 0
    skipped: int = 0
    held: int = 0  # older than MAX_EMAIL_AGE: queued for the owner's release
    decisions: list[Decision] = field(default_factory=list)
    profile: ShopProfile | None = None  # read when something changed: the cart pass reuses it


def rule_settings(settings: Settings, *, catch_up: bool = False) -> RuleSettings:
    """The owner's settings the order rules read. A catch-up (`sync --since`) asked for old events on
    purpose: the age guard is off for it."""
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
        max_email_age=timedelta(0) if catch_up else settings.max_email_age,
    )


def poll_orders(
    client: ShopClient,
    store: Store,
    settings: Settings,
    *,
    now: datetime,
    since: datetime | None = None,
    confirm: Callable[[list[Decision]], None] | None = None,
) -> OrderPass:
    """Read the shop once and queue the emails its changes call for. `confirm` sees the decisions before
    they are committed (`bridge sync --since` prints what it is about to queue)."""
    with store.read() as conn:
        stored = cursors.load(conn)
    start = stored.orders
    if since is not None:
        start = _cursors_since(client, start, since, now=now)
    elif start.baseline_at is None:
        _record_baseline(client, store, settings, now=now)
        return OrderPass(baseline=True)

    reading = _read_all(client, store, settings, start, stored.states, now=now)
    reading.catch_up = since is not None
    order_plan = reading.plan(settings, now)
    if confirm is not None:
        confirm(order_plan.decisions)
    profile = reading.profile
    owner_decisions = owner.order_alerts(client, settings, reading.found, reading.facts, profile)
    with store.transaction() as conn:
        # Another bridge sharing this database may have committed emails for these orders since they were
        # read: then plan again against what is committed now (planning is pure, so that is cheap).
        committed = outbox.kinds_sent_for_orders(conn, reading.needing) if profile is not None else {}
        if profile is not None and committed != reading.memory.already_sent:
            order_plan = reading.plan(settings, now, committed)
        domain = profile.identity.domain if profile is not None else settings.mail_from.domain
        applied = apply_orders(
            conn, order_plan, stored.orders, now=now, domain=domain, stop_carts=settings.marketing_enabled
        )
        owner.queue_alerts(conn, owner_decisions, applied, now=now, domain=domain)
        if profile is not None:
            cursors.save_states(conn, plan.state_groups(profile), profile.identity.snapshot(), now=now)
    _log(order_plan.decisions)
    return OrderPass(
        changes=order_plan.changes,
        queued=applied.queued,
        skipped=applied.skipped,
        held=applied.held,
        decisions=order_plan.decisions,
        profile=profile,
    )


@dataclass
class _Reading:
    """Everything one poll read from the shop and the store, ready to be planned (again, if need be)."""

    rows: plan.OrderRows
    memory: plan.OrderMemory
    found: list[Change]
    needing: set[int]
    profile: ShopProfile | None = None
    facts: dict[int, OrderFacts] = field(default_factory=dict)
    catch_up: bool = False  # `sync --since`: no age guard

    def plan(
        self, settings: Settings, now: datetime, already: Mapping[int, frozenset[str]] | None = None
    ) -> plan.OrderPlan:
        memory = self.memory if already is None else replace(self.memory, already_sent=already)
        return plan.plan_orders(
            self.rows,
            memory,
            self.found,
            facts=self.facts,
            profile=self.profile,
            settings=rule_settings(settings, catch_up=self.catch_up),
            now=now,
        )


def _read_all(
    client: ShopClient,
    store: Store,
    settings: Settings,
    start: OrderCursors,
    states: StateGroups,
    *,
    now: datetime,
) -> _Reading:
    """What moved, what it changed, and (only when something did) the facts the changed orders' emails
    need and the kinds already sent for them."""
    rows, memory = _read(client, store, start, states, now=now)
    found = plan.changes(rows, memory, plan.by_reference(rows.orders.values(), memory.seen.values()))
    reading = _Reading(rows, memory, found, plan.needing_facts(found))
    if not found:
        return reading
    reading.profile = profile = load_profile(client, settings)
    wanted = [rows.orders[oid] for oid in sorted(reading.needing) if oid in rows.orders]
    known = {c.id_order: c.tracking_number.strip() for c in rows.carriers}
    reading.facts = gather_facts(client, profile, wanted, known, image_type=settings.product_images)
    with store.read() as conn:
        reading.memory = replace(memory, already_sent=outbox.kinds_sent_for_orders(conn, reading.needing))
    return reading


def _read(
    client: ShopClient, store: Store, start: OrderCursors, states: StateGroups, *, now: datetime
) -> tuple[plan.OrderRows, plan.OrderMemory]:
    """What moved (one small request each when nothing did), and every order it involves."""
    histories = plan.fresh(client.order_histories(after_id=plan.read_from(start.histories)), start.histories)
    new_orders = _new_orders(client, store, start)
    payments = plan.fresh(client.order_payments(after_id=plan.read_from(start.payments)), start.payments)
    looked_up = {o.id for o in new_orders} | {h.id_order for h in histories}
    with store.read() as conn:
        watched = seen_orders_awaiting_tracking(
            conn, since=now - plan.TRACKING_WATCH, final_states=states.final, shipped_states=states.shipped
        )
        seen = dict(watched)
        seen.update(get_seen_orders(conn, looked_up))
    carriers = client.order_carriers(watched, fields=CARRIER_FIELDS) if watched else []
    orders = {order.id: order for order in new_orders}
    references = plan.by_reference(new_orders, seen.values())
    unknown = {p.order_reference for p in payments} - set(references)
    for order in client.orders(references={r for r in unknown if is_filterable(r)}) if unknown else []:
        orders.setdefault(order.id, order)
        references.setdefault(order.reference, []).append(order.id)
    missing = sorted(plan.involved(histories, payments, references, carriers) - set(orders))
    if missing:
        orders.update((order.id, order) for order in client.orders(ids=missing))
    _remember_more(store, seen, set(orders) - looked_up - set(watched))
    rows = plan.OrderRows(histories, payments, new_orders, carriers, orders)
    return rows, plan.OrderMemory(start, seen)


def _new_orders(client: ShopClient, store: Store, start: OrderCursors) -> list[Order]:
    """Orders above the cursor, plus any late-committed one in the overlap behind it, read in full; the
    overlap itself is listed by id only, so an idle poll costs a few hundred bytes."""
    listed = [o.id for o in client.orders(after_id=plan.read_from(start.orders), fields=("id",))]
    behind = plan.unseen_in_overlap(listed, start.orders, start.baseline_order_id)
    with store.read() as conn:
        known = get_seen_orders(conn, behind)
    wanted = plan.wanted_orders(listed, start.orders, [oid for oid in behind if oid not in known])
    return client.orders(ids=wanted) if wanted else []


def _remember_more(store: Store, seen: dict[int, SeenOrder], found: set[int]) -> None:
    """Orders found through a payment's reference or a tracking number (not looked up yet): what the
    bridge knew of them."""
    if found:
        with store.read() as conn:
            seen.update(get_seen_orders(conn, found))


def _record_baseline(client: ShopClient, store: Store, settings: Settings, *, now: datetime) -> None:
    """The first run: remember where the shop stands, send nothing (history is not news). The shop's
    identity is recorded too, so an owner alert or a test email can be written before the first order
    (which shop the store belongs to was recorded just before, by `bridge.cycle.belongs`)."""
    profile = load_profile(client, settings)
    found = {name: positions.last_id(client, name) for name in positions.RESOURCES}
    windows = {
        name: positions.ids_up_to(client, name, found[name], plan.OVERLAP_IDS)
        for name in ("order_histories", "order_payments")
    }
    with store.transaction() as conn:
        baseline = plan.baseline(found, windows, whole_second(now))  # at the shop's precision
        cursors.save_orders(conn, OrderCursors(), baseline, now=now)
        cursors.save_states(conn, plan.state_groups(profile), profile.identity.snapshot(), now=now)
    log.info(
        "first run: baseline recorded (orders up to #%s, histories up to #%s); nothing sent",
        found["orders"],
        found["order_histories"],
    )


def _cursors_since(
    client: ShopClient, start: OrderCursors, since: datetime, *, now: datetime
) -> OrderCursors:
    """Cursors placed just before the first rows dated `since` or later (never ahead of where they were)."""
    placed: dict[str, IdCursor] = {}
    for name, current in (
        ("order_histories", start.histories),
        ("orders", start.orders),
        ("order_payments", start.payments),
    ):
        first = positions.first_id_since(client, name, since)
        position = (first - 1) if first is not None else positions.last_id(client, name)
        if start.baseline_at is not None:
            position = min(position, current.position)
        # Everything up to the new position is before `since`: not news, even in the overlap.
        done = positions.ids_up_to(client, name, position, plan.OVERLAP_IDS)
        placed[name] = IdCursor(position, frozenset(done))
    return OrderCursors(
        baseline_at=start.baseline_at or whole_second(now),
        baseline_order_id=placed["orders"].position,
        histories=placed["order_histories"],
        orders=placed["orders"],
        payments=placed["order_payments"],
    )


def _log(decisions: Iterable[Decision]) -> None:
    for decision in decisions:
        if decision.held:
            log.warning(
                "order %s: %s held, not sent: %s; `bridge outbox release --held` sends it",
                decision.order_reference or decision.order_id,
                decision.kind,
                decision.held,
            )
        elif not decision.sends:
            log.info(
                "order %s: %s not sent: %s",
                decision.order_reference or decision.order_id,
                decision.kind,
                decision.skip_reason,
            )
