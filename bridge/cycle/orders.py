"""The order pass: read what moved in the shop → plan (bridge.plan.orders) → apply in one transaction.

The shop is read with GET only, in batches; an idle poll costs one small request per cursor. The first run
records where the shop stands and sends nothing; `since` catches up on purpose, from a date. A large
catch-up goes a chunk at a time (docs/design.md §2.4.1): each chunk read, planned and applied in its own
transaction and let go before the next, so memory does not grow with the orders caught up, and a crash
between chunks resumes after the last one applied. The owner's digest of such a catch-up is one for all
its chunks (bridge.plan.digest).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

from bridge.config import Settings
from bridge.cycle import owner
from bridge.model.cursors import IdCursor, OrderCursors, StateGroups, whole_second
from bridge.model.memory import SeenOrder
from bridge.model.profile import ShopProfile
from bridge.model.records import Order, OrderPayment
from bridge.plan import orders as plan
from bridge.plan import owner as owner_plan
from bridge.plan.contexts import OrderFacts
from bridge.plan.detect import Change, NewOrder
from bridge.plan.digest import DigestSoFar, add_to_digest, digest_decisions
from bridge.plan.rules import Decision, RuleSettings
from bridge.shop import positions
from bridge.shop.client import ShopClient
from bridge.shop.facts import gather_facts
from bridge.shop.profile import load_profile
from bridge.shop.query import is_filterable
from bridge.state import cursors, outbox
from bridge.state.digest import clear_digest, pending_digest, save_digest
from bridge.state.orders import get_seen_orders, seen_orders_awaiting_tracking
from bridge.state.plans import apply_orders
from bridge.state.store import Store, Tx

log = logging.getLogger(__name__)

# What a tracking watch needs of an order carrier: an idle poll should stay small.
CARRIER_FIELDS = ("id", "id_order", "tracking_number")
# The new orders a chunk reads at most (bridge.plan.orders.CATCH_UP_CHUNK); tests cut a few orders into
# chunks by making it small.
CHUNK = plan.CATCH_UP_CHUNK
# More new orders than this in a chunk: their tracking numbers are read by id range.
MANY_ORDERS: Final = 100


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
        refund_days=settings.refund_days,
        refund_note=settings.refund_note,
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
    """Read the shop once and queue the emails its changes call for, a chunk at a time (see `_chunks`).
    `confirm` sees the decisions before any is committed (`bridge sync --since` prints what it is about to
    queue): a catch-up of several chunks is then read and planned once for it, then again to be applied."""
    with store.read() as conn:
        stored = cursors.load(conn)
    start = stored.orders
    if since is not None:
        start = _cursors_since(client, start, since, now=now)
    elif start.baseline_at is None:
        _record_baseline(client, store, settings, now=now)
        return OrderPass(baseline=True)
    pass_ = _Pass(client, store, settings, stored.orders, stored.states, now=now, catch_up=since is not None)
    if confirm is not None:
        first = pass_.read(start, watch=True)
        if not first.more:  # one chunk, the usual case: planned once, confirmed, applied
            confirm(first.plan(settings, now).decisions)
            return pass_.run(start, first)
        confirm(pass_.preview(start, first))
    return pass_.run(start)


@dataclass
class _Chunk:
    """What one chunk applied."""

    plan: plan.OrderPlan
    queued: int
    skipped: int
    held: int
    digest: DigestSoFar | None  # the owner's digest so far, when the pass writes one


class _Pass:
    """One order pass: chunks read, planned and applied one after the other, each in its own transaction, so
    a crash between two leaves the cursors after the last one applied and the next poll goes on from there."""

    def __init__(
        self,
        client: ShopClient,
        store: Store,
        settings: Settings,
        stored: OrderCursors,
        states: StateGroups,
        *,
        now: datetime,
        catch_up: bool,
    ) -> None:
        self.client, self.store, self.settings, self.now = client, store, settings, now
        self.stored, self.states, self.catch_up = stored, states, catch_up
        self.profile: ShopProfile | None = None  # read once, for the first chunk that changed something

    def read(self, start: OrderCursors, *, watch: bool) -> _Reading:
        reading = _read_all(
            self.client,
            self.store,
            self.settings,
            start,
            self.states,
            now=self.now,
            watch=watch,
            profile=self.profile,
        )
        reading.catch_up = self.catch_up
        self.profile = reading.profile or self.profile
        return reading

    def run(self, start: OrderCursors, first: _Reading | None = None) -> OrderPass:
        """Every chunk, from `start` (`first`: the first chunk, already read). A pass of several chunks (or
        one that goes on with a digest a crash interrupted) tells the owner its new orders in one digest."""
        result = OrderPass()
        before, reading = self.stored, first or self.read(start, watch=True)
        with self.store.read() as conn:
            digest = pending_digest(conn)
        if digest is None and reading.more and self.settings.owner_email:
            digest = DigestSoFar()
        while True:
            chunk = self.apply(reading, before, digest)
            digest = chunk.digest
            result.changes += chunk.plan.changes
            result.queued += chunk.queued
            result.skipped += chunk.skipped
            result.held += chunk.held
            room = CHUNK - len(result.decisions)  # what the summary keeps: bounded
            result.decisions += chunk.plan.decisions[: max(0, room)]
            if not reading.more:
                break
            before = start = chunk.plan.cursors
            del chunk
            reading = self.read(start, watch=False)
        result.profile = self.profile
        return result

    def preview(self, start: OrderCursors, first: _Reading) -> list[Decision]:
        """Every chunk read and planned, nothing applied: the decisions, without their contexts (the summary
        needs kinds, orders and recipients; what is applied is planned again)."""
        decisions: dict[str, Decision] = {}
        reading = first
        while True:
            order_plan = reading.plan(self.settings, self.now)
            # Nothing is remembered between these chunks, so an order in the overlap behind a chunk is
            # planned again: under the same key, which the outbox would queue once.
            for decision in order_plan.decisions:
                decisions.setdefault(decision.key, replace(decision, context={}))
            if not reading.more:
                return list(decisions.values())
            reading = self.read(order_plan.cursors, watch=False)

    def apply(self, reading: _Reading, before: OrderCursors, digest: DigestSoFar | None) -> _Chunk:
        """Plan one chunk and apply it in one transaction (with the owner's alerts it calls for; with a
        digest, its orders are added to it, and the last chunk queues it)."""
        settings, now, profile = self.settings, self.now, reading.profile
        order_plan = reading.plan(settings, now)
        if digest is None:
            owner_decisions = owner.order_alerts(self.client, settings, reading.found, reading.facts, profile)
        else:
            digest, owner_decisions = self._told(reading, digest)
        with self.store.transaction() as conn:
            # Another bridge sharing this database may have committed emails for these orders since they
            # were read: then plan again against what is committed now (planning is pure, so that is cheap).
            committed = outbox.kinds_sent_for_orders(conn, reading.needing) if profile is not None else {}
            if profile is not None and committed != reading.memory.already_sent:
                order_plan = reading.plan(settings, now, committed)
            domain = profile.identity.domain if profile is not None else settings.mail_from.domain
            applied = apply_orders(
                conn, order_plan, before, now=now, domain=domain, stop_carts=settings.marketing_enabled
            )
            if digest is not None and not reading.more:
                owner_decisions += self._digest(digest)
                clear_digest(conn)
            elif digest is not None:
                save_digest(conn, digest, now=now)
            owner.queue_alerts(conn, owner_decisions, applied, now=now, domain=domain)
            if profile is not None:
                cursors.save_states(conn, plan.state_groups(profile), profile.identity.snapshot(), now=now)
        _log(order_plan.decisions)
        return _Chunk(order_plan, applied.queued, applied.skipped, applied.held, digest)

    def _told(self, reading: _Reading, digest: DigestSoFar) -> tuple[DigestSoFar, list[Decision]]:
        """This chunk's new orders added to the digest (it lists no checkout comment nor first order, so
        nothing more is read for it), and each order's skip naming it."""
        if reading.profile is None or not self.settings.owner_email:
            return digest, []
        rules = owner.owner_rules(self.settings, reading.profile)
        if not rules.wants(owner_plan.NEW_ORDER):
            return digest, []
        news = [
            owner_plan.NewOrderNews(reading.facts[c.order.id], first_order=False, message="")
            for c in reading.found
            if isinstance(c, NewOrder) and c.order.id in reading.facts
        ]
        return add_to_digest(digest, news, reading.profile, rules)

    def _digest(self, digest: DigestSoFar) -> list[Decision]:
        """The digest itself, once the last chunk is applied."""
        if not digest.count or not self.settings.owner_email:
            return []
        self.profile = self.profile or load_profile(self.client, self.settings)
        return digest_decisions(digest, owner.owner_rules(self.settings, self.profile))


@dataclass
class _Reading:
    """Everything one chunk read from the shop and the store, ready to be planned (again, if need be)."""

    rows: plan.OrderRows
    memory: plan.OrderMemory
    found: list[Change]
    needing: set[int]
    more: bool = False  # the shop has more to read after this chunk
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
    watch: bool,
    profile: ShopProfile | None,
) -> _Reading:
    """What moved (a chunk of it), what it changed, and (only when something did) the facts the changed
    orders' emails need and the kinds already sent for them."""
    rows, memory, more = _read(client, store, start, states, now=now, watch=watch)
    found = plan.changes(rows, memory, plan.by_reference(rows.orders.values(), memory.seen.values()))
    reading = _Reading(rows, memory, found, plan.needing_facts(found), more=more, profile=profile)
    if not found:
        return reading
    reading.profile = profile = profile or load_profile(client, settings)
    wanted = [rows.orders[oid] for oid in sorted(reading.needing) if oid in rows.orders]
    known = {c.id_order: c.tracking_number.strip() for c in rows.carriers}
    known.update(_new_tracking_numbers(client, rows.new_orders, start.orders.position))
    reading.facts = gather_facts(
        client,
        profile,
        wanted,
        known,
        image_type=settings.product_images,
        payments_read=_payments_read(rows, start.orders.position),
    )
    with store.read() as conn:
        reading.memory = replace(memory, already_sent=outbox.kinds_sent_for_orders(conn, reading.needing))
    return reading


def _new_tracking_numbers(client: ShopClient, new_orders: Sequence[Order], position: int) -> dict[int, str]:
    """The tracking numbers of a run of new orders, read by id range in a few wide pages (a hundred orders
    or fewer are read by id with the other facts, which costs the same)."""
    ids = {o.id for o in new_orders if o.id > position}
    if len(ids) <= MANY_ORDERS:
        return {}
    numbers: dict[int, str] = {}
    for carrier in sorted(
        client.order_carriers_between(min(ids), max(ids), fields=CARRIER_FIELDS), key=lambda c: c.id
    ):
        if carrier.id_order in ids:
            numbers[carrier.id_order] = carrier.tracking_number.strip()  # the latest carrier row wins
    return numbers


def _payments_read(rows: plan.OrderRows, position: int) -> dict[str, list[OrderPayment]]:
    """The references of new orders whose payments this poll read whole: what the payments feed brought adds
    up to what the orders say was paid (nothing paid, no payment). Their payments need no second read."""
    feed: dict[str, list[OrderPayment]] = {}
    for payment in rows.payments:
        feed.setdefault(payment.order_reference, []).append(payment)
    paid: dict[str, Decimal] = {}
    for order in rows.orders.values():
        paid[order.reference] = paid.get(order.reference, Decimal(0)) + order.total_paid_real
    new = {o.reference for o in rows.new_orders if o.id > position}
    return {
        ref: feed.get(ref, [])
        for ref in new
        if sum((p.amount for p in feed.get(ref, [])), Decimal(0)) == paid.get(ref)
    }


def _read(
    client: ShopClient, store: Store, start: OrderCursors, states: StateGroups, *, now: datetime, watch: bool
) -> tuple[plan.OrderRows, plan.OrderMemory, bool]:
    """What moved, a chunk at most (one small request each when nothing did), every order it involves, and
    whether more is left to read. `watch`: re-read the carriers of the orders waiting for a tracking number
    (the first chunk of a pass does; the orders of a catch-up's later chunks are new, not waiting)."""
    new_orders, upper = _new_orders(client, store, start)
    feed_limit = 2 * CHUNK + plan.OVERLAP_IDS  # at most twice as many state changes and payments
    read_histories = client.order_histories(after_id=plan.read_from(start.histories), limit=feed_limit)
    fresh_histories = plan.fresh(read_histories, start.histories)
    histories = plan.cut_histories(fresh_histories, upper)
    more = upper is not None
    if len(read_histories) == feed_limit and len(histories) == len(fresh_histories):
        # Cut at their cap, not at a later order: keep the orders whose first state change was read.
        kept = plan.orders_with_history(new_orders, histories, start.orders.position)
        more, upper = True, max((o.id for o in kept), default=start.orders.position)
        later = {o.reference for o in new_orders if o.id > upper}
        new_orders = kept
    else:
        later = set()
    read_payments = client.order_payments(after_id=plan.read_from(start.payments), limit=feed_limit)
    payments = plan.fresh(read_payments, start.payments)
    more = more or len(read_payments) == feed_limit
    looked_up = {o.id for o in new_orders} | {h.id_order for h in histories}
    with store.read() as conn:
        watched = _awaiting_tracking(conn, states, now) if watch else {}
        seen = dict(watched)
        seen.update(get_seen_orders(conn, looked_up))
    carriers = client.order_carriers(watched, fields=CARRIER_FIELDS) if watched else []
    orders = {order.id: order for order in new_orders}
    references = plan.by_reference(new_orders, seen.values())
    if upper is not None:
        payments = plan.payments_up_to_known(payments, set(references) - later)
    unknown = {p.order_reference for p in payments} - set(references) - later
    found = client.orders(references={r for r in unknown if is_filterable(r)}) if unknown else []
    if upper is not None:
        later |= {o.reference for o in found if o.id > upper and o.id not in seen}
    payments = plan.cut_payments(payments, later)
    for order in found:
        if order.reference not in later:
            orders.setdefault(order.id, order)
            references.setdefault(order.reference, []).append(order.id)
    missing = sorted(plan.involved(histories, payments, references, carriers) - set(orders))
    if missing:
        orders.update((order.id, order) for order in client.orders(ids=missing))
    _remember_more(store, seen, set(orders) - looked_up - set(watched))
    rows = plan.OrderRows(histories, payments, new_orders, carriers, orders)
    return rows, plan.OrderMemory(start, seen), more


def _awaiting_tracking(conn: Tx, states: StateGroups, now: datetime) -> dict[int, SeenOrder]:
    """The orders whose carriers are re-read for a tracking number (design §2.3)."""
    since = now - plan.TRACKING_WATCH
    return seen_orders_awaiting_tracking(
        conn, since=since, final_states=states.final, shipped_states=states.shipped
    )


def _new_orders(client: ShopClient, store: Store, start: OrderCursors) -> tuple[list[Order], int | None]:
    """Orders above the cursor (a chunk at most), plus any late-committed one in the overlap behind it, read
    in full; the overlap itself is listed by id only, so an idle poll costs a few hundred bytes. The id of
    the chunk's last order when more follow, else None."""
    # The overlap behind the cursor, the chunk, and one more to know whether more follow.
    listed = client.order_ids_after(plan.read_from(start.orders), limit=plan.OVERLAP_IDS + CHUNK + 1)
    ahead = [oid for oid in listed if oid > start.orders.position]
    upper = ahead[CHUNK - 1] if len(ahead) > CHUNK else None
    listed = [oid for oid in listed if upper is None or oid <= upper]
    behind = plan.unseen_in_overlap(listed, start.orders, start.baseline_order_id)
    with store.read() as conn:
        known = get_seen_orders(conn, behind)
    wanted = plan.wanted_orders(listed, start.orders, [oid for oid in behind if oid not in known])
    return (client.orders(ids=wanted) if wanted else []), upper


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
