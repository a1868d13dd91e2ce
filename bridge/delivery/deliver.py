"""Delivery: claim a due email, render it from its stored context, send it, record the outcome.

One email at a time, each outcome committed before the next claim (design.md: per message, never per
batch). What each SMTP outcome does to the email and to the sender (email-delivery.md §1.6):

| outcome             | the email                               | the sender                               |
|---------------------|-----------------------------------------|------------------------------------------|
| sent                | sent                                    |                                          |
| transient           | retry later (backoff ±20 % jitter)      |                                          |
| quota               | back in the queue, attempt unspent      | paused (5.4.5: until room opens, ≥ 1 h)  |
| credentials         | back in the queue, attempt unspent      | paused SMTP_LOGIN_RETRY; owner told      |
| recipient_permanent | failed                                  | address suppressed for later mail        |
| message_permanent   | failed                                  | owner told (logged as an error)          |
| unknown             | unknown (the owner's policy)            |                                          |

Before each claim the budget (bridge.delivery.budget) is asked whether the next email may go: when the daily
budget or the per-minute pace is spent, delivery stops for this cycle and says until when; nothing is
claimed, so nothing spends an attempt. Transient failures are retried until the email expires
(`expires_at`), or, for an email without a deadline, up to MAX_ATTEMPTS (about two days).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import random
import socket
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.errors import MessageError
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from sqlalchemy import select, update
from sqlalchemy.engine import make_url

from bridge.clock import Clock
from bridge.config import Settings
from bridge.delivery.budget import Budget, Hold, quota_resume_at
from bridge.delivery.smtp import Outcome, SendResult
from bridge.delivery.transports import Transport
from bridge.errors import ConfigError
from bridge.mail.render import Renderer, RenderError, ShopIdentity, make_address
from bridge.state import outbox
from bridge.state.store import Store, get_cursor, open_store, sender_state, upsert

if TYPE_CHECKING:
    from bridge.delivery.marketing import MarketingGate
    from bridge.web.unsubscribe import UnsubscribeLinks

log = logging.getLogger(__name__)

# Longer than the slowest possible send (SMTP DATA may take up to 10 minutes): a lease that ran out
# while the process still lives would wrongly turn a slow success into "unknown".
LEASE: Final = timedelta(minutes=15)
MAX_ATTEMPTS: Final = 12  # with the schedule below: about two days of trying
# email-delivery.md §1.6: 1 m, 5 m, 15 m, 1 h, 3 h, then every 6 h; each ±20 % so that mail which failed
# together (a Gmail outage) does not come back in one burst.
RETRY_SCHEDULE: Final = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=3),
    timedelta(hours=6),
)
JITTER: Final = 0.2
QUOTA_PAUSE: Final = timedelta(hours=1)  # 421 repeated, 454 too many logins
CREDENTIALS_PAUSE: Final = timedelta(hours=1)  # the default of SMTP_LOGIN_RETRY
SHOP_IDENTITY: Final = "shop.identity"

PauseKind = Literal["quota", "login", "credentials"]
PAUSE_KINDS: Final[tuple[PauseKind, ...]] = ("quota", "login", "credentials")
StopReason = Literal["pause", "daily", "marketing", "pace"]


@dataclass
class DeliveryResult:
    sent: int = 0
    retry: int = 0
    failed: int = 0
    unknown: int = 0
    deferred: int = 0  # claimed, then given back without spending an attempt (pause, marketing budget)
    paused: str | None = None  # why delivery stopped before the queue was empty, and until when
    stopped_by: StopReason | None = None
    resume_at: datetime | None = None  # when the next email may go

    def stop(self, why: StopReason, reason: str, until: datetime) -> None:
        self.stopped_by, self.paused, self.resume_at = why, reason, until


@dataclass(frozen=True)
class Pause:
    """The sender is paused until `until` (`sender_state`): Gmail's quota, or a refused login."""

    until: datetime
    kind: PauseKind | None
    reason: str

    def __str__(self) -> str:
        return f"sending paused until {self.until:%Y-%m-%d %H:%M} UTC: {self.reason}"


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


def paused(store: Store, now: datetime) -> Pause | None:
    """The sender's pause, if one is in force at `now`."""
    pause = _pause_record(store)
    return pause if pause is not None and pause.until > now else None


def _pause_record(store: Store) -> Pause | None:
    with store.read() as conn:
        row = conn.execute(select(sender_state).where(sender_state.c.id == 1)).first()
    if row is None or row.paused_until is None:
        return None
    tag, _, text = (row.pause_reason or "").partition(": ")
    if tag in PAUSE_KINDS:
        return Pause(row.paused_until, tag, text)
    return Pause(row.paused_until, None, row.pause_reason or "")


def pause(
    store: Store, *, until: datetime | None, reason: str, now: datetime, kind: PauseKind | None = None
) -> None:
    """Pause the whole sender until `until`; `kind` is kept with the reason so a login can lift it."""
    stored = f"{kind}: {reason}" if kind is not None else reason
    with store.transaction() as conn:
        statement = upsert(conn, sender_state).values(
            id=1, paused_until=until, pause_reason=stored, updated_at=now
        )
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=[sender_state.c.id],
                set_={"paused_until": until, "pause_reason": stored, "updated_at": now},
            )
        )


def resume_after_login(store: Store, now: datetime) -> Pause | None:
    """A login just succeeded (`bridge check`, `bridge test-email`): lift a pause that a refused login or
    a TLS failure caused, and return it. Gmail's daily quota is not lifted: a login says nothing about it.
    """
    current = paused(store, now)
    if current is None or current.kind not in ("credentials", "login"):
        return None
    _clear_pause(store, now)
    log.info("sending resumes: the SMTP login works again")
    return current


def resume_after_login_in(settings: Settings, now: datetime) -> Pause | None:
    """`resume_after_login` on the configured state store, for the CLI (no store: no pause)."""
    with existing_store(settings) as store:
        return None if store is None else resume_after_login(store, now)


@contextmanager
def existing_store(settings: Settings) -> Iterator[Store | None]:
    """The configured state store, or None when it is an SQLite file that does not exist yet: commands
    that only look (`bridge check`, `bridge test-email`) do not create one."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).expanduser().exists()):
        yield None
        return
    with open_store(settings.database_url) as store:
        yield store


def _clear_pause(store: Store, now: datetime) -> None:
    with store.transaction() as conn:
        conn.execute(
            update(sender_state)
            .where(sender_state.c.id == 1)
            .values(paused_until=None, pause_reason=None, updated_at=now)
        )


def retry_delay(attempts: int, rng: Callable[[], float] = random.random) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt: the schedule's step, ±20 %."""
    if attempts < 1:
        raise ValueError("attempts counts the attempts made so far: at least 1")
    step = RETRY_SCHEDULE[min(attempts, len(RETRY_SCHEDULE)) - 1]
    return step * (1 - JITTER + 2 * JITTER * rng())


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
    budget: Budget | None = None,
    login_retry: timedelta = CREDENTIALS_PAUSE,
    rng: Callable[[], float] = random.random,
    should_stop: Callable[[], bool] | None = None,
    marketing: MarketingGate | None = None,
) -> DeliveryResult:
    """Send the due emails (up to `limit`, and as far as `budget` allows), one at a time, recording each
    outcome at once. Never waits: what cannot go now stays queued for the next cycle, and the result says
    why and until when (`paused`, `resume_at`). `budget=None` sends without limits (the file transport).
    `should_stop` is asked before each email (SIGTERM: the email in flight is finished and recorded)."""
    owner = owner or owner_name()
    result = DeliveryResult()
    now = clock.now()
    for row_id in outbox.recover_stale(store, now=now, owner_is_dead=owner_is_dead):
        log.warning("outbox #%s: the bridge stopped while sending it; its outcome is unknown", row_id)
    outbox.resolve_unknown(store, unknown_policy, now=now)
    stale_pause = _pause_record(store)
    if stale_pause is not None and stale_pause.until > now:
        result.stop("pause", str(stale_pause), stale_pause.until)
        return result
    shop = identity or stored_identity(store)
    tried: set[int] = set()
    while limit is None or result.sent + result.failed + result.retry + result.unknown < limit:
        if should_stop is not None and should_stop():
            break
        now = clock.now()
        # Transactional mail has the most room: if it may not go, nothing may, and nothing is claimed.
        hold = budget.hold(store, "transactional", now) if budget is not None else None
        if hold is not None:
            _stop_for(result, hold)
            break
        row = outbox.claim_next(store, now=now, owner=owner, lease=LEASE)
        if row is None:
            break
        if row.id in tried:  # retried so soon that it is due again: leave it to the next cycle
            outbox.mark_deferred(
                store, row.id, owner=owner, now=now, not_before=row.not_before, reason=row.last_error or ""
            )
            break
        tried.add(row.id)
        if shop is None:
            outbox.mark_deferred(
                store, row.id, owner=owner, now=now, not_before=row.not_before, reason="shop identity unknown"
            )
            raise ConfigError("the shop's identity is unknown: run `bridge sync` once to read it")
        if budget is not None and row.category == "marketing":
            # The outbox claims transactional mail first, so none is due: only marketing is left.
            hold = budget.hold(store, "marketing", now)
            if hold is not None:
                outbox.mark_deferred(
                    store, row.id, owner=owner, now=now, not_before=hold.until, reason=hold.reason
                )
                result.deferred += 1
                _stop_for(result, hold)
                break
        unsubscribe: UnsubscribeLinks | None = None
        if row.category == "marketing":
            verdict = marketing.check(row, now) if marketing is not None else None
            if verdict is None or verdict.action == "cancel":
                why = (
                    verdict.reason
                    if verdict is not None
                    else "marketing mail is off (UNSUBSCRIBE_URL is empty)"
                )
                outbox.mark_cancelled(store, row.id, owner=owner, now=now, reason=why)
                log.info("%s: not sent: %s", _label(row), why)
                continue
            if verdict.action == "wait":
                until = verdict.until or now + timedelta(minutes=5)
                outbox.mark_deferred(
                    store, row.id, owner=owner, now=now, not_before=until, reason=verdict.reason
                )
                result.deferred += 1
                continue
            assert marketing is not None
            unsubscribe = marketing.links(row, shop.reply_to_email or shop.email)
        sent = _send_one(store, transport, renderer, shop, row, owner, clock, unsubscribe)
        if sent is None:  # suppressed or not renderable: failed, and said why
            result.failed += 1
            continue
        if not _record(store, row, sent, owner, clock.now(), result, login_retry, rng):
            break
        if sent.sent and stale_pause is not None:
            _clear_pause(store, clock.now())  # the pause ran out and mail goes again: forget it
            stale_pause = None
    return result


def _stop_for(result: DeliveryResult, hold: Hold) -> None:
    log.info("delivery waits: %s", hold.reason)
    result.stop(hold.limit, hold.reason, hold.until)


def _label(row: outbox.OutboxRow) -> str:
    return f"outbox #{row.id} {row.kind} for order {row.order_reference or row.order_id or '-'}"


def _send_one(
    store: Store,
    transport: Transport,
    renderer: Renderer,
    shop: ShopIdentity,
    row: outbox.OutboxRow,
    owner: str,
    clock: Clock,
    unsubscribe: UnsubscribeLinks | None = None,
) -> SendResult | None:
    """Render and send one claimed row; None when it failed before reaching the server (recorded)."""
    now = clock.now()
    with store.read() as conn:
        suppressed = outbox.is_suppressed(conn, row.recipient_email)
    if suppressed:
        outbox.mark_failed(store, row.id, owner=owner, now=now, error=f"address suppressed: {suppressed}")
        log.warning("%s: not sent, %s is suppressed (%s)", _label(row), row.recipient_email, suppressed)
        return None
    try:
        rendered = renderer.render(
            row.kind,
            row.language,
            row.context,
            shop=shop,
            message_id=row.message_id,
            recipient=make_address(row.recipient_name or "", row.recipient_email),
            now=now,
            unsubscribe=unsubscribe,
        )
    except (RenderError, ValueError, IndexError, MessageError) as error:
        # A template or data problem of this one email: permanent, and the owner can read why.
        outbox.mark_failed(store, row.id, owner=owner, now=now, error=f"could not render: {error}")
        log.error("%s: could not render: %s", _label(row), error)
        return None
    return transport.send(
        rendered.message,
        envelope_from=shop.from_email,
        recipients=[row.recipient_email],
        before_final_dot=functools.partial(_hand_over, store, row.id, owner, clock),
    )


def _record(
    store: Store,
    row: outbox.OutboxRow,
    sent: SendResult,
    owner: str,
    now: datetime,
    result: DeliveryResult,
    login_retry: timedelta,
    rng: Callable[[], float],
) -> bool:
    """Record one outcome; False when the whole sender is now paused (stop this cycle)."""
    label = _label(row)
    explained = sent.explanation or sent.reply
    match sent.outcome:
        case Outcome.SENT:
            outbox.mark_sent(store, row.id, owner=owner, now=now, smtp_reply=sent.reply)
            log.info("%s sent to %s, Message-ID %s", label, row.recipient_email, row.message_id)
            result.sent += 1
        case Outcome.TRANSIENT if row.expires_at is not None or row.attempts < MAX_ATTEMPTS:
            # With a deadline, retry until it passes (the outbox then cancels the email as expired).
            retry_at = now + retry_delay(row.attempts, rng)
            outbox.mark_retry(
                store,
                row.id,
                owner=owner,
                now=now,
                error=explained,
                not_before=retry_at,
                smtp_code=sent.code,
                smtp_reply=sent.reply,
            )
            log.warning("%s: %s; retrying at %s UTC", label, sent.reply, f"{retry_at:%Y-%m-%d %H:%M}")
            result.retry += 1
        case Outcome.TRANSIENT:
            error = f"gave up after {row.attempts} attempts: {explained}"
            outbox.mark_failed(
                store, row.id, owner=owner, now=now, error=error, smtp_code=sent.code, smtp_reply=sent.reply
            )
            log.error("%s: %s (%s)", label, error, sent.reply)
            result.failed += 1
        case Outcome.QUOTA | Outcome.CREDENTIALS:
            kind: PauseKind
            reason = f"{sent.reply} — {explained}"
            # The sender's pause holds every email back; this one keeps its place (and its attempts).
            # Recorded first, so the refused attempt is not counted as a send when the pause is measured.
            outbox.mark_deferred(
                store, row.id, owner=owner, now=now, not_before=row.not_before, reason=reason
            )
            if sent.outcome is Outcome.CREDENTIALS:
                kind, until = "credentials", now + login_retry
            elif sent.enhanced_code == "5.4.5":
                kind, until = "quota", quota_resume_at(store, now)
            else:
                kind, until = ("login" if sent.stage == "auth" else "quota"), now + QUOTA_PAUSE
            pause(store, until=until, reason=reason, now=now, kind=kind)
            log.error(
                "sending paused until %s UTC: %s (%s)", f"{until:%Y-%m-%d %H:%M}", explained, sent.reply
            )
            result.deferred += 1
            result.stop("pause", str(Pause(until, kind, reason)), until)
            return False
        case Outcome.RECIPIENT_PERMANENT:
            outbox.mark_failed(
                store,
                row.id,
                owner=owner,
                now=now,
                error=explained,
                smtp_code=sent.code,
                smtp_reply=sent.reply,
            )
            with store.transaction() as conn:
                outbox.suppress(conn, row.recipient_email, sent.reply, now=now)
            log.warning(
                "%s: %s refused permanently (%s); address suppressed", label, row.recipient_email, sent.reply
            )
            result.failed += 1
        case Outcome.MESSAGE_PERMANENT:
            outbox.mark_failed(
                store,
                row.id,
                owner=owner,
                now=now,
                error=explained,
                smtp_code=sent.code,
                smtp_reply=sent.reply,
            )
            log.error("%s refused: %s (%s)", label, explained, sent.reply)
            result.failed += 1
        case Outcome.UNKNOWN:
            outbox.mark_unknown(
                store,
                row.id,
                owner=owner,
                now=now,
                error=explained,
                smtp_code=sent.code,
                smtp_reply=sent.reply,
            )
            log.warning("%s: %s", label, explained)
            result.unknown += 1
    return True
