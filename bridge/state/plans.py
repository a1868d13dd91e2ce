"""Applying a plan in the caller's one transaction: the emails it queues, the skips it records, what it
remembers and where its cursors move.

One transaction is the outbox's core promise (docs/design.md): a crash before the commit means the next poll
sees the same changes again; after it, the emails are durable and the cursors past them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection

from bridge.model.cursors import OrderCursors
from bridge.model.kinds import REVIEW_REQUEST, get_kind, marketing_kinds
from bridge.model.records import Order
from bridge.plan.carts import KIND as CART_REMINDER
from bridge.plan.carts import CartPlan, stops_for_orders
from bridge.plan.orders import OrderPlan
from bridge.plan.rules import Decision
from bridge.state import carts, cursors, outbox, retention
from bridge.state.orders import put_seen_orders


@dataclass
class Applied:
    """What a plan's application changed, for logs and the one line `bridge sync` prints."""

    queued: int = 0
    skipped: int = 0
    held: int = 0  # queued held for the owner: older than MAX_EMAIL_AGE
    stopped: list[tuple[int, str]] = field(default_factory=list)  # (cart id, why)
    cancelled: dict[int, int] = field(default_factory=dict)  # cart id → reminders cancelled by its restart


def intent_of(decision: Decision, now: datetime) -> outbox.EmailIntent:
    """The outbox row a planned email becomes."""
    marketing = decision.category == "marketing"
    return outbox.EmailIntent(
        idempotency_key=decision.key,
        kind=decision.kind,
        category=decision.category,
        priority=get_kind(decision.kind).priority if decision.sends else 0,  # a skip may name no kind
        recipient_email=decision.recipient_email,
        recipient_name=decision.recipient_name,
        language=decision.language,
        context=dict(decision.context),
        not_before=decision.not_before or now,
        expires_at=decision.expires_at,
        order_id=decision.order_id or None,
        order_reference=decision.order_reference or None,
        consent=(decision.consent or "none") if marketing else None,
        customer_id=decision.customer_id,
        cart_id=decision.cart_id,
    )


def queue(
    conn: Connection, decisions: list[Decision], applied: Applied, *, now: datetime, domain: str
) -> None:
    """Queue what is sent, hold what waits for the owner, record what is not (and why): a few statements
    for the lot (a catch-up's chunk queues a thousand emails), not one per email."""
    rows: list[tuple[outbox.EmailIntent, outbox.Status, str | None]] = []
    for decision in decisions:
        intent = intent_of(decision, now)
        if decision.held:
            rows.append((intent, outbox.Status.HELD, decision.held))
        elif decision.sends:
            rows.append((intent, outbox.Status.QUEUED, None))
        else:
            rows.append((intent, outbox.Status.SKIPPED, decision.skip_reason or ""))
    inserted = outbox.insert_many(conn, rows, now=now, message_id_domain=domain)
    for decision in decisions:
        if decision.key not in inserted:
            if (
                decision.sends
                and not decision.held
                and decision.reschedule
                and decision.not_before is not None
            ):
                outbox.reschedule(conn, decision.key, decision.not_before, now=now)
            continue
        inserted.discard(decision.key)  # a key decided twice counts once, as the first decision
        if decision.held:
            applied.held += 1
        elif decision.sends:
            applied.queued += 1
        else:
            applied.skipped += 1


def apply_orders(
    conn: Connection,
    plan: OrderPlan,
    before: OrderCursors,
    *,
    now: datetime,
    domain: str,
    stop_carts: bool,
) -> Applied:
    """The order poll's plan: emails, review requests an order's end cancels, the cart reminders its
    orders end, the orders remembered, the cursors moved."""
    applied = Applied()
    queue(conn, plan.decisions, applied, now=now, domain=domain)
    for key, why in plan.cancel_reviews:
        outbox.cancel_waiting(conn, why, now=now, kind=REVIEW_REQUEST, idempotency_key=key)
    if stop_carts and plan.placed:
        stop_series(conn, stops_for_orders(carts.open_series(conn), plan.placed), applied, now=now)
    put_seen_orders(conn, plan.seen, now=now)
    cursors.save_orders(conn, before, plan.cursors, now=now)
    return applied


def apply_carts(conn: Connection, plan: CartPlan, *, now: datetime, domain: str) -> Applied:
    """The cart pass's plan: restarted series (their waiting reminders cancelled), reminders and skips,
    steps handled, series ended, the cursor moved."""
    applied = Applied()
    for cart_id, fresh in plan.start.restarted.items():
        why = "the cart changed: its reminders start again"
        cancelled = outbox.cancel_waiting(conn, why, now=now, kind=CART_REMINDER, cart_id=cart_id)
        if cancelled:
            applied.cancelled[cart_id] = len(cancelled)
        carts.put_series(conn, fresh, now=now)
    retention.purge_links(conn, plan.start.restarted, now=now)  # the series before the change ended
    queue(conn, [*plan.skips, *plan.emails], applied, now=now, domain=domain)
    for cart_id, verdict in plan.start.verdicts.items():
        if verdict.steps_done is not None:
            carts.set_steps(conn, cart_id, verdict.steps_done, now=now)
    for cart_id, steps in plan.steps.items():
        carts.set_steps(conn, cart_id, steps, now=now)
    _finish(conn, plan, now=now)
    stopped = {cart_id: why for cart_id, (status, why) in plan.stops.items() if status == "stopped"}
    stop_series(conn, stopped, applied, now=now)
    cursors.save_carts(conn, plan.start.cursors, now=now)
    return applied


def stop_series(conn: Connection, stops: dict[int, str], applied: Applied, *, now: datetime) -> None:
    """End these series, cancel their waiting reminders, and take the recovery links (they sign the
    customer in) and codes out of the reminders already finished."""
    for cart_id, why in stops.items():
        carts.end_series(conn, cart_id, "stopped", why, now=now)
        outbox.cancel_waiting(conn, f"not sent: {why}", now=now, kind=CART_REMINDER, cart_id=cart_id)
        applied.stopped.append((cart_id, why))
    retention.purge_links(conn, stops, now=now)


def stop_for_orders(conn: Connection, orders: list[Order], *, now: datetime) -> list[tuple[int, str]]:
    """Orders found at the last check before a reminder: they end their carts' series at once."""
    applied = Applied()
    stop_series(conn, stops_for_orders(carts.open_series(conn), orders), applied, now=now)
    return applied.stopped


def cancel_marketing(conn: Connection, email: str, reason: str, *, now: datetime) -> list[int]:
    """An unsubscribe cancels every waiting marketing email to the address, in its transaction."""
    cancelled: list[int] = []
    for kind in marketing_kinds():
        cancelled += outbox.cancel_waiting(conn, reason, now=now, kind=kind, recipient_email=email)
    return cancelled


def _finish(conn: Connection, plan: CartPlan, *, now: datetime) -> None:
    """Series with no step left are done (unless this pass stopped them), as are those it marked done; their
    finished reminders lose the recovery link and the code (one still waiting loses it once it is sent)."""
    ended: list[int] = []
    for cart_id, verdict in plan.start.verdicts.items():
        if verdict.finished and cart_id not in plan.stops:
            carts.end_series(conn, cart_id, "done", "every reminder of the series was handled", now=now)
            ended.append(cart_id)
    for cart_id, (status, why) in plan.stops.items():
        if status != "stopped":
            carts.end_series(conn, cart_id, status, why, now=now)
            ended.append(cart_id)
    retention.purge_links(conn, ended, now=now)
