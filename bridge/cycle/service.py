"""The customer-service passes in the cycle: read → plan (bridge.plan.service) → apply, each with an id
cursor of its own (bridge.state.service).

- Credit slips run *before* the order pass: when a slip and the Refunded state of the same order arrive in
  one poll, the slip's email (which has the amounts) is queued first and the Refunded email is skipped
  (one refund, one email: bridge.plan.service).
- Conversations run after the cart pass and the owner's watch: an id cursor over customer_messages; the
  threads, their messages, the names and order references are read only for new messages, and once per
  poll for this pass and the owner's watch (bridge.cycle.messages); the threads' tokens are this pass's own.

A first poll records where the shop stands and sends nothing. A shop error in either pass is logged and
retried next poll: the order emails must not wait for it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from bridge.config import Settings
from bridge.cycle.messages import PollMessages
from bridge.errors import ShopError
from bridge.model.cursors import IdCursor
from bridge.model.kinds import CREDIT_SLIP
from bridge.model.profile import ShopProfile
from bridge.model.threads import CustomerMessage
from bridge.plan import orders as orders_plan
from bridge.plan import service as plan
from bridge.plan.rules import Decision
from bridge.shop import positions
from bridge.shop.client import ShopClient
from bridge.shop.facts import gather_facts
from bridge.shop.profile import load_profile
from bridge.shop.slips import RESOURCE as SLIPS_RESOURCE
from bridge.shop.slips import slips_after
from bridge.shop.threads import thread_tokens
from bridge.state import outbox
from bridge.state import service as service_state
from bridge.state.plans import Applied, queue
from bridge.state.store import Store

log = logging.getLogger(__name__)


def service_rules(settings: Settings) -> plan.ServiceRules:
    return plan.ServiceRules(
        emails=settings.service_emails,
        default_language=settings.default_language,
        refund_days=settings.refund_days,
        refund_note=settings.refund_note,
        reply_hours=settings.reply_time_hours,
        max_email_age=settings.max_email_age,
    )


def before_orders(client: ShopClient, store: Store, settings: Settings, *, now: datetime) -> int:
    """The credit-slip pass; how many emails it queued. A shop error is logged, never raised."""
    try:
        return watch_slips(client, store, settings, now=now)
    except ShopError as error:
        log.warning("credit slips: this pass failed, the next poll tries again: %s", error)
        return 0


def after_poll(
    client: ShopClient,
    store: Store,
    settings: Settings,
    *,
    now: datetime,
    profile: ShopProfile | None,
    messages: PollMessages | None = None,
) -> int:
    """The conversation pass; how many emails it queued. `messages`: the poll's reads shared with the
    owner's watch. A shop error is logged, never raised."""
    try:
        return watch_conversations(client, store, settings, now=now, profile=profile, messages=messages)
    except ShopError as error:
        log.warning("customer messages: this pass failed, the next poll tries again: %s", error)
        return 0


def watch_slips(client: ShopClient, store: Store, settings: Settings, *, now: datetime) -> int:
    """Read the credit slips made since the last poll and queue their emails (or record why not)."""
    with store.read() as conn:
        cursor = service_state.load_cursor(conn, service_state.SLIPS)
    if cursor is None:
        _baseline(client, store, SLIPS_RESOURCE, service_state.SLIPS, now=now)
        return 0
    new = orders_plan.fresh(slips_after(client, orders_plan.read_from(cursor)), cursor)
    if not new:
        return 0
    profile = load_profile(client, settings)
    order_ids = sorted({s.id_order for s in new})
    orders = client.orders(ids=order_ids) if CREDIT_SLIP in settings.service_emails else []
    facts = gather_facts(client, profile, orders)
    moved = orders_plan.advance(cursor, [s.id for s in new])
    rules = service_rules(settings)
    applied = Applied()
    with store.transaction() as conn:
        # Planned inside the transaction: what the order pass queued for these orders is the rule's input.
        sent = outbox.kinds_sent_for_orders(conn, order_ids)
        decisions = plan.plan_slips(new, facts, profile, rules, sent, now=now)
        queue(conn, decisions, applied, now=now, domain=profile.identity.domain)
        service_state.save_cursor(conn, service_state.SLIPS, moved, now=now)
    _log("credit slips", decisions)
    return applied.queued


def watch_conversations(
    client: ShopClient,
    store: Store,
    settings: Settings,
    *,
    now: datetime,
    profile: ShopProfile | None,
    messages: PollMessages | None = None,
) -> int:
    """Take the messages written since the last poll; queue replies and acknowledgements."""
    with store.read() as conn:
        cursor = service_state.load_cursor(conn, service_state.MESSAGES)
    if cursor is None:
        _baseline(client, store, "customer_messages", service_state.MESSAGES, now=now)
        return 0
    shared = messages if messages is not None else PollMessages(client, store, settings)
    new = shared.since(cursor)
    if not new:
        return 0
    moved = orders_plan.advance(cursor, [m.id for m in new])
    profile = shared.profile(profile)
    conversations = _conversations(client, shared, new)
    decisions = plan.plan_messages(new, conversations, profile, service_rules(settings), now=now)
    applied = Applied()
    with store.transaction() as conn:
        queue(conn, decisions, applied, now=now, domain=profile.identity.domain)
        service_state.save_cursor(conn, service_state.MESSAGES, moved, now=now)
    _log("customer messages", decisions)
    return applied.queued


def _conversations(
    client: ShopClient, shared: PollMessages, new: Sequence[CustomerMessage]
) -> dict[int, plan.Conversation]:
    """The threads of the new messages, each with all its messages, the account's name, the order's
    reference (read once per poll with the owner's watch) and, for the link back, its token."""
    facts = shared.threads(new)
    if not facts.threads:
        return {}
    tokens = thread_tokens(client, facts.threads)
    conversations = {}
    for thread in facts.threads.values():
        person = facts.people.get(thread.id_customer)
        conversations[thread.id] = plan.Conversation(
            thread,
            facts.messages.get(thread.id, ()),
            first_name=person.firstname if person else "",
            last_name=person.lastname if person else "",
            order_reference=facts.references.get(thread.id_order, ""),
            token=tokens.get(thread.id, ""),
        )
    return conversations


def _baseline(client: ShopClient, store: Store, resource: str, name: str, *, now: datetime) -> None:
    """A watch's first poll: where the shop stands; nothing before it is news."""
    last = positions.last_id(client, resource)
    done = positions.ids_up_to(client, resource, last, orders_plan.OVERLAP_IDS)
    with store.transaction() as conn:
        service_state.save_cursor(conn, name, IdCursor(last, frozenset(done)), now=now)
    log.info("customer service: %s watched from #%s on", resource, last)


def _log(what: str, decisions: Sequence[Decision]) -> None:
    for decision in decisions:
        if decision.sends:
            log.info("%s: %s queued (%s)", what, decision.kind, decision.key)
        else:
            log.info("%s: %s skipped (%s): %s", what, decision.kind, decision.key, decision.skip_reason)
