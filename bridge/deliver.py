"""Delivery: claim a due email, render it from its stored context, send it, record the outcome.

One email at a time, each outcome committed before the next claim (design.md: per message, never per
batch). What each SMTP outcome does to the email and to the sender (email-delivery.md §1.6):

| outcome             | the email                          | the sender                          |
|---------------------|------------------------------------|-------------------------------------|
| sent                | sent                               |                                     |
| transient           | retry later (backoff with jitter)  |                                     |
| quota               | back in the queue, attempt unspent | paused for an hour                  |
| credentials         | back in the queue, attempt unspent | paused until the owner fixes it     |
| recipient_permanent | failed                             | address suppressed for later mail   |
| message_permanent   | failed                             |                                     |
| unknown             | unknown (the owner's policy)       |                                     |
"""

from __future__ import annotations

import functools
import json
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select

from bridge import outbox
from bridge.clock import Clock
from bridge.errors import ConfigError
from bridge.render import Renderer, RenderError, ShopIdentity, make_address
from bridge.smtp import Outcome
from bridge.store import Store, get_cursor, sender_state, upsert
from bridge.transports import Transport

log = logging.getLogger(__name__)

# Longer than the slowest possible send (SMTP DATA may take up to 10 minutes): a lease that ran out
# while the process still lives would wrongly turn a slow success into "unknown".
LEASE: Final = timedelta(minutes=15)
MAX_ATTEMPTS: Final = 12  # with backoff capped at 6 h: about two days of trying
QUOTA_PAUSE: Final = timedelta(hours=1)
CREDENTIALS_PAUSE: Final = timedelta(hours=6)
SHOP_IDENTITY: Final = "shop.identity"


@dataclass
class DeliveryResult:
    sent: int = 0
    retry: int = 0
    failed: int = 0
    unknown: int = 0
    deferred: int = 0
    paused: str | None = None  # why sending is paused, if it is


def owner_name() -> str:
    """Who holds a lease: host and process, so a stale lease can be traced to the process that died."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_is_dead(owner: str) -> bool:
    """True when a lease owner (`host:pid`) is a process of this machine that no longer runs.

    A recycled pid reads as alive: then the lease simply runs out, the safe direction.
    """
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def paused(store: Store, now: datetime) -> tuple[datetime, str] | None:
    with store.read() as conn:
        row = conn.execute(select(sender_state).where(sender_state.c.id == 1)).first()
    if row is None or row.paused_until is None or row.paused_until <= now:
        return None
    return row.paused_until, row.pause_reason or ""


def pause(store: Store, *, until: datetime | None, reason: str, now: datetime) -> None:
    with store.transaction() as conn:
        statement = upsert(conn, sender_state).values(
            id=1, paused_until=until, pause_reason=reason, updated_at=now
        )
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=[sender_state.c.id],
                set_={"paused_until": until, "pause_reason": reason, "updated_at": now},
            )
        )


def stored_identity(store: Store) -> ShopIdentity | None:
    """The shop identity the last poll recorded (delivery renders without asking the shop)."""
    with store.read() as conn:
        raw = get_cursor(conn, SHOP_IDENTITY)
    if not raw:
        return None
    values: Mapping[str, Any] = json.loads(raw)
    return ShopIdentity(**{**values, "address_lines": tuple(values.get("address_lines", ()))})


def _hand_over(store: Store, row_id: int, owner: str, clock: Clock) -> None:
    outbox.mark_handed_over(store, row_id, owner=owner, now=clock.now())


def deliver_due(
    store: Store,
    transport: Transport,
    renderer: Renderer,
    clock: Clock,
    *,
    identity: ShopIdentity | None = None,
    unknown_policy: outbox.UnknownPolicy = "hold",
    owner: str | None = None,
    limit: int | None = None,
) -> DeliveryResult:
    """Send every due email (up to `limit`), one at a time, recording each outcome at once."""
    owner = owner or owner_name()
    result = DeliveryResult()
    now = clock.now()
    for row_id in outbox.recover_stale(store, now=now, owner_is_dead=owner_is_dead):
        log.warning("outbox #%s: the bridge stopped while sending it; its outcome is unknown", row_id)
    outbox.resolve_unknown(store, unknown_policy, now=now)
    pause_state = paused(store, now)
    if pause_state is not None:
        result.paused = f"sending paused until {pause_state[0]:%Y-%m-%d %H:%M} UTC: {pause_state[1]}"
        return result
    shop = identity or stored_identity(store)
    while limit is None or result.sent + result.failed + result.retry + result.unknown < limit:
        now = clock.now()
        row = outbox.claim_next(store, now=now, owner=owner, lease=LEASE)
        if row is None:
            break
        if shop is None:
            raise ConfigError("the shop's identity is unknown: run `bridge sync` once to read it")
        label = f"outbox #{row.id} {row.kind} for order {row.order_reference or row.order_id or '-'}"
        with store.read() as conn:
            suppressed = outbox.is_suppressed(conn, row.recipient_email)
        if suppressed:
            outbox.mark_failed(store, row.id, owner=owner, now=now, error=f"address suppressed: {suppressed}")
            result.failed += 1
            continue
        try:
            rendered = renderer.render(
                row.kind,
                row.language,
                row.context,
                shop=shop,
                message_id=row.message_id,
                recipient=make_address(row.recipient_name or "", row.recipient_email),
                now=now,
            )
        except (RenderError, ValueError, IndexError) as error:
            # A template or data problem of this one email: permanent, and the owner can read why.
            outbox.mark_failed(store, row.id, owner=owner, now=now, error=f"could not render: {error}")
            log.error("%s: could not render: %s", label, error)
            result.failed += 1
            continue
        sent = transport.send(
            rendered.message,
            envelope_from=shop.from_email,
            recipients=[row.recipient_email],
            before_final_dot=functools.partial(_hand_over, store, row.id, owner, clock),
        )
        now = clock.now()
        match sent.outcome:
            case Outcome.SENT:
                outbox.mark_sent(store, row.id, owner=owner, now=now, smtp_reply=sent.reply)
                log.info("%s sent to %s, Message-ID %s", label, row.recipient_email, row.message_id)
                result.sent += 1
            case Outcome.TRANSIENT if row.attempts < MAX_ATTEMPTS:
                retry_at = now + outbox.backoff(row.attempts)
                outbox.mark_retry(
                    store,
                    row.id,
                    owner=owner,
                    now=now,
                    error=sent.explanation or sent.reply,
                    not_before=retry_at,
                    smtp_code=sent.code,
                    smtp_reply=sent.reply,
                )
                log.warning("%s: %s; retrying at %s", label, sent.reply, f"{retry_at:%H:%M}")
                result.retry += 1
            case Outcome.TRANSIENT:
                outbox.mark_failed(
                    store,
                    row.id,
                    owner=owner,
                    now=now,
                    error=f"gave up after {row.attempts} attempts: {sent.reply}",
                    smtp_code=sent.code,
                    smtp_reply=sent.reply,
                )
                result.failed += 1
            case Outcome.QUOTA | Outcome.CREDENTIALS:
                wait = QUOTA_PAUSE if sent.outcome is Outcome.QUOTA else CREDENTIALS_PAUSE
                reason = sent.explanation or sent.reply
                outbox.mark_deferred(
                    store, row.id, owner=owner, now=now, not_before=now + wait, reason=reason
                )
                pause(store, until=now + wait, reason=f"{sent.reply} — {reason}", now=now)
                log.error("sending paused for %s: %s (%s)", wait, reason, sent.reply)
                result.deferred += 1
                result.paused = reason
                break
            case Outcome.RECIPIENT_PERMANENT:
                outbox.mark_failed(
                    store,
                    row.id,
                    owner=owner,
                    now=now,
                    error=sent.explanation or sent.reply,
                    smtp_code=sent.code,
                    smtp_reply=sent.reply,
                )
                with store.transaction() as conn:
                    outbox.suppress(conn, row.recipient_email, sent.reply, now=now)
                log.warning(
                    "%s: %s refused permanently (%s); address suppressed",
                    label,
                    row.recipient_email,
                    sent.reply,
                )
                result.failed += 1
            case Outcome.MESSAGE_PERMANENT:
                outbox.mark_failed(
                    store,
                    row.id,
                    owner=owner,
                    now=now,
                    error=sent.explanation or sent.reply,
                    smtp_code=sent.code,
                    smtp_reply=sent.reply,
                )
                log.error("%s refused: %s", label, sent.reply)
                result.failed += 1
            case Outcome.UNKNOWN:
                outbox.mark_unknown(
                    store,
                    row.id,
                    owner=owner,
                    now=now,
                    error=sent.explanation or sent.reply,
                    smtp_code=sent.code,
                    smtp_reply=sent.reply,
                )
                log.warning("%s: %s", label, sent.explanation or sent.reply)
                result.unknown += 1
    return result
