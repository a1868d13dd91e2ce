"""The outbox: a durable queue of customer emails, each sent effectively once, even across crashes.

Delivery semantics
------------------
* Enqueue: `enqueue()` runs inside the caller's transaction, the same one that advances the shop cursor
  (docs/design.md §3). The unique idempotency key makes a second enqueue of the same
  shop event a no-op. The Message-ID is fixed here; every retry sends the same one.
* Claim: `claim_next()` moves ONE due row `queued`/`retry` → `sending` with a lease (owner + lease_until),
  by a conditional UPDATE whose row count decides ownership, so two processes never claim the same row.
  It also opens the row's attempt in `outbox_attempts` and commits before anything is sent, so a crash
  mid-send leaves evidence. Rows past `expires_at` are cancelled (reason "expired") instead of being
  sent late.
* Record: `mark_sent/mark_retry/mark_failed/mark_unknown()` each commit at once, per message, and only
  while the caller still owns the lease (otherwise they change nothing and return False).
* A stale `sending` row (lease expired, no outcome recorded) means the process died between claiming and
  recording: the SMTP server may or may not have accepted the mail, and SMTP cannot tell us which.
  `recover_stale()` turns such rows into `unknown`: never silently resent, never dropped. The owner's
  `unknown_policy` then decides (`resolve_unknown()`): `hold` keeps them for review (`bridge outbox
  retry ID`), `resend` requeues them with the SAME Message-ID (at-least-once; Gmail recipients
  de-duplicate identical Message-IDs). With Gmail, looking the Message-ID up in the Sent folder over
  IMAP can settle them first.

Statuses: queued → sending → sent | retry (→ sending …) | failed | unknown; skipped (never queued: a rule
decided not to send, `skip_reason` says why); cancelled (expired, or by the owner); held (an order email
whose shop event is older than MAX_EMAIL_AGE, `skip_reason` says how old: never claimed, it waits for the
owner's `release()`, which queues it due now, or `cancel()`).

Personal data has a lifetime (bridge.state.retention): a finished row is purged after RETENTION_DAYS or by
`bridge forget` (its address kept only as a keyed hash, which callers see as an empty `recipient_email`),
and a purged row is never queued again.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Literal

from sqlalchemy import Connection, Row, and_, case, delete, func, insert, or_, select, update

from bridge.plan.age import HELD_PREFIX
from bridge.state.hashed import address_forms, is_hashed, normalise_email
from bridge.state.store import Store, outbox, outbox_attempts, suppressions, upsert

log = logging.getLogger(__name__)

Category = Literal["transactional", "marketing"]
UnknownPolicy = Literal["hold", "resend"]


class Status(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    HELD = "held"


DUE = (Status.QUEUED, Status.RETRY)
RETRYABLE_BY_OWNER = (Status.FAILED, Status.UNKNOWN, Status.CANCELLED)
CANCELLABLE = (Status.QUEUED, Status.RETRY, Status.UNKNOWN, Status.HELD)
# Emails that are (or may be) on their way to the customer: the rules count them as told.
LIVE = (Status.QUEUED, Status.SENDING, Status.SENT, Status.RETRY, Status.UNKNOWN, Status.HELD)
EXPIRED = "expired"
STALE_LEASE = "the bridge stopped while sending: the server may or may not have accepted it"
STALE_BEFORE_DATA = "the bridge stopped before the message was handed to the server: queued again"
MAX_TEXT = 2000  # attempt log and errors: enough for any SMTP reply, bounded for a runaway transcript


def _aware(value: datetime | None, name: str) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class EmailIntent:
    """One email a rule decided on, named by the shop event it answers (`idempotency_key`).

    Invalid intents are programming errors and raise ValueError here, before any transaction: a
    context that is not plain JSON, a naive datetime, an unknown category.
    """

    idempotency_key: str
    kind: str
    category: Category
    recipient_email: str
    language: str
    recipient_name: str | None = None
    priority: int = 5  # 0 = most urgent
    context: Mapping[str, Any] = field(default_factory=dict, hash=False)
    not_before: datetime | None = None  # None: as soon as possible
    expires_at: datetime | None = None  # time-sensitive mail is cancelled rather than sent late
    order_id: int | None = None
    order_reference: str | None = None
    consent: str | None = None  # marketing: the consent it rests on ("newsletter=1 since …")
    customer_id: int | None = None
    cart_id: int | None = None

    def __post_init__(self) -> None:
        if not self.idempotency_key or not self.kind:
            raise ValueError("an email intent needs an idempotency_key and a kind")
        if self.category not in ("transactional", "marketing"):
            raise ValueError(f"category must be 'transactional' or 'marketing', got {self.category!r}")
        if self.category == "marketing" and not self.consent:
            raise ValueError("a marketing email must record the consent it rests on")
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise ValueError(f"priority must be an int, got {self.priority!r}")
        _aware(self.not_before, "not_before")
        _aware(self.expires_at, "expires_at")
        # Freeze a JSON round-trip of the context: what the row will hold is what the intent shows.
        object.__setattr__(self, "context", MappingProxyType(json.loads(_context_json(self.context))))

    def context_json(self) -> str:
        return _context_json(self.context)


def _context_json(context: Mapping[str, Any]) -> str:
    try:
        return json.dumps(dict(context), ensure_ascii=False, sort_keys=True, allow_nan=False, default=_refuse)
    except (TypeError, ValueError) as error:
        raise ValueError(f"email context must be plain JSON values: {error}") from None


def _refuse(value: object) -> Any:
    # A MappingProxyType (a context taken from another intent) is plain data; anything else is not.
    if isinstance(value, MappingProxyType):
        return dict(value)
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON-serialisable")


@dataclass(frozen=True)
class OutboxRow:
    """One outbox row, as callers see it."""

    id: int
    idempotency_key: str
    kind: str
    category: Category
    priority: int
    status: Status
    recipient_email: str
    recipient_name: str | None
    language: str
    context: Mapping[str, Any] = field(hash=False)
    message_id: str
    order_id: int | None
    order_reference: str | None
    created_at: datetime
    not_before: datetime
    expires_at: datetime | None
    attempts: int
    lease_owner: str | None
    lease_until: datetime | None
    sent_at: datetime | None
    last_error: str | None
    smtp_reply: str | None
    skip_reason: str | None
    updated_at: datetime
    consent: str | None = None
    customer_id: int | None = None
    cart_id: int | None = None
    purged: str | None = None  # None, "links", "retention" or "forget" (bridge.state.retention)
    purged_at: datetime | None = None


@dataclass(frozen=True)
class Attempt:
    """One delivery attempt; `outcome` is None while it is in flight."""

    id: int
    outbox_id: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    smtp_code: int | None
    smtp_reply: str | None
    error: str | None
    handed_over_at: datetime | None = None  # the message left for the server (its final dot was sent)


@dataclass(frozen=True)
class OutboxDetail:
    row: OutboxRow
    attempts: tuple[Attempt, ...]


# --- enqueue side (inside the caller's transaction) ------------------------------------------------------


def enqueue(conn: Connection, intent: EmailIntent, *, now: datetime, message_id_domain: str) -> bool:
    """Queue `intent`; False (and nothing changed) if its idempotency key is already in the outbox."""
    return _insert(conn, intent, now=now, message_id_domain=message_id_domain, status=Status.QUEUED)


def skip(
    conn: Connection, intent: EmailIntent, reason: str, *, now: datetime, message_id_domain: str = "invalid"
) -> bool:
    """Record that `intent` will not be sent and why, so `bridge explain` can say so. Idempotent.

    The key is then taken: a later `enqueue` of the same event is a no-op. The row still gets a unique
    Message-ID (the column is never empty); by default under the reserved `.invalid` domain, since no
    message ever carried it.
    """
    return _insert(
        conn, intent, now=now, message_id_domain=message_id_domain, status=Status.SKIPPED, skip_reason=reason
    )


def hold(
    conn: Connection, intent: EmailIntent, reason: str, *, now: datetime, message_id_domain: str
) -> bool:
    """Queue `intent` held for the owner (`reason`: how old its event is): delivery never claims it until
    `release()`. Idempotent like `enqueue`; its Message-ID is fixed now, as for any queued email."""
    return _insert(
        conn, intent, now=now, message_id_domain=message_id_domain, status=Status.HELD, skip_reason=reason
    )


def new_message_id(domain: str) -> str:
    """`<random@domain>`: 128 random bits, so no two rows (or two shops) ever share one."""
    if not domain or re.search(r"[\s<>@()\[\]\\,;:\"]", domain):
        raise ValueError(f"message_id_domain must be a bare domain name, got {domain!r}")
    return f"<{secrets.token_hex(16)}@{domain}>"


def _insert(
    conn: Connection,
    intent: EmailIntent,
    *,
    now: datetime,
    message_id_domain: str,
    status: Status,
    skip_reason: str | None = None,
) -> bool:
    statement = upsert(conn, outbox).values(**_values(intent, now, message_id_domain, status, skip_reason))
    result = conn.execute(statement.on_conflict_do_nothing(index_elements=[outbox.c.idempotency_key]))
    return result.rowcount == 1


def insert_many(
    conn: Connection,
    rows: Iterable[tuple[EmailIntent, Status, str | None]],
    *,
    now: datetime,
    message_id_domain: str,
) -> set[str]:
    """Insert many rows (intent, status, reason) with a few statements (a catch-up's chunk: one per 500
    rows, not one per row); the keys inserted. Keys already in the outbox are left as they are."""
    wanted = list(rows)
    keys = [intent.idempotency_key for intent, _, _ in wanted]
    taken: set[str] = set()
    for start in range(0, len(keys), 500):  # stay far below any bound-parameter limit
        chunk = keys[start : start + 500]
        found = conn.execute(select(outbox.c.idempotency_key).where(outbox.c.idempotency_key.in_(chunk)))
        taken.update(found.scalars())
    values: dict[str, dict[str, Any]] = {}
    for intent, status, reason in wanted:
        if intent.idempotency_key not in taken:
            domain = message_id_domain if status is not Status.SKIPPED else "invalid"
            values.setdefault(intent.idempotency_key, _values(intent, now, domain, status, reason))
    statement = upsert(conn, outbox).on_conflict_do_nothing(index_elements=[outbox.c.idempotency_key])
    batch = list(values.values())
    for start in range(0, len(batch), 500):
        conn.execute(statement, batch[start : start + 500])
    return set(values)


def _values(
    intent: EmailIntent, now: datetime, message_id_domain: str, status: Status, skip_reason: str | None
) -> dict[str, Any]:
    """An outbox row's columns for `intent`."""
    return {
        "idempotency_key": intent.idempotency_key,
        "kind": intent.kind,
        "category": intent.category,
        "priority": intent.priority,
        "status": status.value,
        "recipient_email": intent.recipient_email,
        "recipient_name": intent.recipient_name,
        "language": intent.language,
        "context": intent.context_json(),
        "message_id": new_message_id(message_id_domain),
        "order_id": intent.order_id,
        "order_reference": intent.order_reference,
        "created_at": now,
        "not_before": intent.not_before or now,
        "expires_at": intent.expires_at,
        "attempts": 0,
        "skip_reason": skip_reason,
        "updated_at": now,
        "consent": intent.consent,
        "customer_id": intent.customer_id,
        "cart_id": intent.cart_id,
    }


# --- delivery side (each call is its own committed transaction) -----------------------------------------


def expire_overdue(store: Store, *, now: datetime) -> list[int]:
    """Cancel waiting rows whose `expires_at` has passed (reason "expired"); return their ids."""
    with store.transaction() as conn:
        return _expire(conn, now)


def _expire(conn: Connection, now: datetime) -> list[int]:
    overdue = and_(outbox.c.status.in_(DUE), outbox.c.expires_at.is_not(None), outbox.c.expires_at <= now)
    ids = list(conn.execute(select(outbox.c.id).where(overdue)).scalars())
    expired = []
    for row_id in ids:
        result = conn.execute(
            update(outbox)
            .where(outbox.c.id == row_id, overdue)
            .values(status=Status.CANCELLED.value, skip_reason=EXPIRED, updated_at=now)
        )
        if result.rowcount == 1:
            expired.append(row_id)
    if expired:
        log.info("outbox: %d email(s) expired before they could be sent: %s", len(expired), expired)
    return expired


def claim_next(store: Store, *, now: datetime, owner: str, lease: timedelta) -> OutboxRow | None:
    """Claim the most urgent due row for `owner` until `now + lease`, or None if nothing is due.

    Order: transactional before marketing, then priority (0 first), then not_before, then id.
    """
    if lease <= timedelta(0):
        raise ValueError("the lease must be positive")
    with store.transaction() as conn:
        _expire(conn, now)
        # On SQLite, BEGIN IMMEDIATE already serialises claimers; on PostgreSQL another worker may win
        # the row between SELECT and UPDATE, and the row count tells us to try the next candidate.
        for _ in range(20):
            row_id = conn.execute(select(outbox.c.id).where(_due(now)).order_by(*_URGENCY).limit(1)).scalar()
            if row_id is None:
                return None
            row = _claim_row(conn, row_id, now, owner, lease)
            if row is not None:
                return row
    return None


def due_ids(store: Store, *, now: datetime, limit: int) -> list[int]:
    """The ids of the `limit` most urgent due rows, in claim order (expired rows cancelled first): one scan
    of the outbox for a page of claims. After a large catch-up it holds 100,000 rows, and a scan takes
    seconds; `claim_next` scans once per email."""
    with store.transaction() as conn:
        _expire(conn, now)
        return list(
            conn.execute(select(outbox.c.id).where(_due(now)).order_by(*_URGENCY).limit(limit)).scalars()
        )


def claim(store: Store, row_id: int, *, now: datetime, owner: str, lease: timedelta) -> OutboxRow | None:
    """Claim this row (from `due_ids`) for `owner` until `now + lease`, if it is still due; None if it is
    not any more (sent, cancelled, expired, or another worker's)."""
    if lease <= timedelta(0):
        raise ValueError("the lease must be positive")
    with store.transaction() as conn:
        return _claim_row(conn, row_id, now, owner, lease)


def _due(now: datetime) -> Any:
    return and_(
        outbox.c.status.in_(DUE),
        outbox.c.not_before <= now,
        or_(outbox.c.expires_at.is_(None), outbox.c.expires_at > now),
    )


_URGENCY = (
    case((outbox.c.category == "transactional", 0), else_=1),
    outbox.c.priority,
    outbox.c.not_before,
    outbox.c.id,
)


def _claim_row(
    conn: Connection, row_id: int, now: datetime, owner: str, lease: timedelta
) -> OutboxRow | None:
    """The conditional update that leases one due row, and its attempt opened; None if it is not due."""
    claimed = conn.execute(
        update(outbox)
        .where(outbox.c.id == row_id, _due(now))
        .values(
            status=Status.SENDING.value,
            lease_owner=owner,
            lease_until=now + lease,
            attempts=outbox.c.attempts + 1,
            updated_at=now,
        )
    )
    if claimed.rowcount != 1:
        return None
    conn.execute(insert(outbox_attempts).values(outbox_id=row_id, started_at=now))
    return _row(_fetch(conn, row_id))


def mark_sent(store: Store, row_id: int, *, owner: str, now: datetime, smtp_reply: str | None = None) -> bool:
    """The server accepted the message."""
    return _finish(
        store, row_id, owner, now, Status.SENT, {"sent_at": now, "smtp_reply": _clean(smtp_reply)}, smtp_reply
    )


def mark_retry(
    store: Store,
    row_id: int,
    *,
    owner: str,
    now: datetime,
    error: str,
    not_before: datetime,
    smtp_code: int | None = None,
    smtp_reply: str | None = None,
) -> bool:
    """A transient failure: try again at `not_before` (see `backoff`)."""
    _aware(not_before, "not_before")
    changes = {"not_before": not_before, "last_error": _clean(error), "smtp_reply": _clean(smtp_reply)}
    return _finish(store, row_id, owner, now, Status.RETRY, changes, smtp_reply, smtp_code, error)


def mark_failed(
    store: Store,
    row_id: int,
    *,
    owner: str,
    now: datetime,
    error: str,
    smtp_code: int | None = None,
    smtp_reply: str | None = None,
) -> bool:
    """A permanent failure (e.g. 5xx for the recipient): never retried unless the owner asks."""
    changes = {"last_error": _clean(error), "smtp_reply": _clean(smtp_reply)}
    return _finish(store, row_id, owner, now, Status.FAILED, changes, smtp_reply, smtp_code, error)


def mark_unknown(
    store: Store,
    row_id: int,
    *,
    owner: str,
    now: datetime,
    error: str,
    smtp_code: int | None = None,
    smtp_reply: str | None = None,
) -> bool:
    """The outcome cannot be known (connection lost after DATA): the unknown policy decides later."""
    changes = {"last_error": _clean(error), "smtp_reply": _clean(smtp_reply)}
    return _finish(
        store, row_id, owner, now, Status.UNKNOWN, changes, smtp_reply, smtp_code, error, keep_owner=True
    )


def _finish(
    store: Store,
    row_id: int,
    owner: str,
    now: datetime,
    status: Status,
    changes: dict[str, Any],
    smtp_reply: str | None,
    smtp_code: int | None = None,
    error: str | None = None,
    *,
    keep_owner: bool = False,
) -> bool:
    with store.transaction() as conn:
        result = conn.execute(
            update(outbox)
            .where(
                outbox.c.id == row_id, outbox.c.status == Status.SENDING.value, outbox.c.lease_owner == owner
            )
            .values(
                status=status.value,
                lease_until=None,
                lease_owner=owner if keep_owner else None,
                updated_at=now,
                **changes,
            )
        )
        if result.rowcount != 1:
            log.warning(
                "outbox row %s: %s no longer holds its lease; outcome %s not recorded", row_id, owner, status
            )
            return False
        _close_attempt(
            conn, row_id, now, outcome=status, smtp_code=smtp_code, smtp_reply=smtp_reply, error=error
        )
        return True


def _close_attempt(
    conn: Connection,
    row_id: int,
    now: datetime,
    *,
    outcome: Status,
    smtp_code: int | None = None,
    smtp_reply: str | None = None,
    error: str | None = None,
) -> None:
    values = {
        "finished_at": now,
        "outcome": outcome.value,
        "smtp_code": smtp_code,
        "smtp_reply": _clean(smtp_reply),
        "error": _clean(error),
    }
    open_attempt = conn.execute(
        select(func.max(outbox_attempts.c.id)).where(
            outbox_attempts.c.outbox_id == row_id, outbox_attempts.c.outcome.is_(None)
        )
    ).scalar()
    if open_attempt is None:  # claimed by a bridge that did not log attempts: still leave a trace
        conn.execute(insert(outbox_attempts).values(outbox_id=row_id, started_at=now, **values))
    else:
        conn.execute(update(outbox_attempts).where(outbox_attempts.c.id == open_attempt).values(**values))


def backoff(
    attempts: int,
    *,
    base: timedelta = timedelta(seconds=60),
    cap: timedelta = timedelta(hours=6),
    rng: Callable[[], float] = random.random,
) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt: uniform in [0, min(cap, base·2ⁿ⁻¹)).

    Full jitter spreads the retries of many messages that failed together (a Gmail outage) instead of
    sending them back in one burst.
    """
    if attempts < 1:
        raise ValueError("attempts counts the attempts made so far: at least 1")
    ceiling = min(cap.total_seconds(), base.total_seconds() * math.pow(2, min(attempts - 1, 60)))
    return timedelta(seconds=ceiling * rng())


def mark_handed_over(store: Store, row_id: int, *, owner: str, now: datetime) -> bool:
    """Record that the message is about to leave for good (just before SMTP's final dot).

    Until this mark, a crash provably lost nothing and the email is simply queued again; after it, the
    server may have the message and a crash leaves the email `unknown`.
    """
    with store.transaction() as conn:
        owned = conn.execute(
            select(outbox.c.id).where(
                outbox.c.id == row_id, outbox.c.status == Status.SENDING.value, outbox.c.lease_owner == owner
            )
        ).scalar()
        if owned is None:
            return False
        attempt = conn.execute(
            select(func.max(outbox_attempts.c.id)).where(
                outbox_attempts.c.outbox_id == row_id, outbox_attempts.c.outcome.is_(None)
            )
        ).scalar()
        if attempt is None:
            return False
        conn.execute(
            update(outbox_attempts).where(outbox_attempts.c.id == attempt).values(handed_over_at=now)
        )
        return True


def recover_stale(
    store: Store, *, now: datetime, owner_is_dead: Callable[[str], bool] | None = None
) -> list[int]:
    """Settle `sending` rows whose lease expired, or whose owner is known to be dead (their process died
    mid-send; `owner_is_dead` lets a restarted bridge settle them at once instead of waiting out the lease).

    If the message had not been handed over (no final dot sent), the server never had it: the row is
    queued again. Otherwise it becomes `unknown`: never silently resent, never dropped. Returns the ids
    that became unknown.
    """
    sending = outbox.c.status == Status.SENDING.value
    with store.read() as conn:
        columns = (outbox.c.id, outbox.c.lease_owner, outbox.c.lease_until)
        candidates = conn.execute(select(*columns).where(sending))
        dead = [
            row.id
            for row in candidates
            if (row.lease_until is not None and row.lease_until <= now)
            or (owner_is_dead is not None and row.lease_owner and owner_is_dead(row.lease_owner))
        ]
    if not dead:
        return []
    stale = and_(sending, outbox.c.id.in_(dead))
    recovered: list[int] = []
    requeued: list[int] = []
    with store.transaction() as conn:
        for row_id in list(conn.execute(select(outbox.c.id).where(stale)).scalars()):
            handed_over = conn.execute(
                select(func.count())
                .select_from(outbox_attempts)
                .where(
                    outbox_attempts.c.outbox_id == row_id,
                    outbox_attempts.c.outcome.is_(None),
                    outbox_attempts.c.handed_over_at.is_not(None),
                )
            ).scalar()
            status, error = (
                (Status.UNKNOWN, STALE_LEASE) if handed_over else (Status.QUEUED, STALE_BEFORE_DATA)
            )
            result = conn.execute(
                update(outbox)
                .where(outbox.c.id == row_id, stale)
                .values(
                    status=status.value, last_error=error, updated_at=now, lease_owner=None, lease_until=None
                )
            )
            if result.rowcount == 1:
                _close_attempt(conn, row_id, now, outcome=status, error=error)
                (recovered if handed_over else requeued).append(row_id)
    if requeued:
        log.warning(
            "outbox: %d email(s) interrupted before sending, queued again: %s", len(requeued), requeued
        )
    if recovered:
        log.warning(
            "outbox: %d email(s) in an unknown state after an interrupted send: %s", len(recovered), recovered
        )
    return recovered


def resolve_unknown(store: Store, policy: UnknownPolicy, *, now: datetime) -> list[int]:
    """Apply the owner's policy to `unknown` rows; return the ids requeued.

    `hold` leaves them for the owner (`retry`); `resend` requeues them with the same Message-ID.
    """
    if policy == "hold":
        return []
    if policy != "resend":
        raise ValueError(f"unknown_policy must be 'hold' or 'resend', got {policy!r}")
    with store.transaction() as conn:
        ids = list(conn.execute(select(outbox.c.id).where(outbox.c.status == Status.UNKNOWN.value)).scalars())
        return [row_id for row_id in ids if _requeue(conn, row_id, now, (Status.UNKNOWN,))]


def _requeue(conn: Connection, row_id: int, now: datetime, allowed: tuple[Status, ...]) -> bool:
    """Queue a row again, unless it was purged: what it would say is gone."""
    result = conn.execute(
        update(outbox)
        .where(outbox.c.id == row_id, outbox.c.status.in_(allowed), outbox.c.purged.is_(None))
        .values(
            status=Status.QUEUED.value,
            not_before=now,
            lease_owner=None,
            lease_until=None,
            skip_reason=None,
            updated_at=now,
        )
    )
    return result.rowcount == 1


# --- the owner's commands -------------------------------------------------------------------------------


def list_rows(
    store: Store,
    *,
    status: Status | str | None = None,
    order_id: int | None = None,
    cart_id: int | None = None,
    recipient_email: str | None = None,
    limit: int = 50,
) -> list[OutboxRow]:
    """The newest rows first, optionally only one status's, one order's, one cart's or one address's."""
    query = select(outbox).order_by(outbox.c.id.desc()).limit(limit)
    if status is not None:
        query = query.where(outbox.c.status == Status(status).value)
    if order_id is not None:
        query = query.where(outbox.c.order_id == order_id)
    if cart_id is not None:
        query = query.where(outbox.c.cart_id == cart_id)
    with store.read() as conn:
        if recipient_email is not None:  # as written, or as the keyed hash a purge left
            forms = address_forms(conn, recipient_email)
            query = query.where(func.lower(outbox.c.recipient_email).in_(forms))
        return [_row(row) for row in conn.execute(query)]


def get_row(store: Store, row_id: int) -> OutboxDetail | None:
    with store.read() as conn:
        row = conn.execute(select(outbox).where(outbox.c.id == row_id)).one_or_none()
        if row is None:
            return None
        attempts = conn.execute(
            select(outbox_attempts)
            .where(outbox_attempts.c.outbox_id == row_id)
            .order_by(outbox_attempts.c.id)
        )
        return OutboxDetail(_row(row), tuple(Attempt(**attempt._asdict()) for attempt in attempts))


def retry(store: Store, row_id: int, *, now: datetime) -> bool:
    """`bridge outbox retry ID`: a failed, unknown or cancelled row goes back to the queue.

    Same Message-ID, attempts kept. An expired deadline is lifted: the owner asked for this mail.
    Returns False if the row does not exist or is in another status.
    """
    with store.transaction() as conn:
        if not _requeue(conn, row_id, now, RETRYABLE_BY_OWNER):
            return False
        conn.execute(
            update(outbox).where(outbox.c.id == row_id, outbox.c.expires_at <= now).values(expires_at=None)
        )
        return True


def release(store: Store, row_ids: Iterable[int] | None, *, now: datetime) -> list[int]:
    """`bridge outbox release`: held rows (these ids, or every held row for None) become due now.

    Same Message-ID; the hold's reason is cleared. Returns the ids released (a row in another status is
    left as it is)."""
    held = outbox.c.status == Status.HELD.value
    with store.transaction() as conn:
        query = select(outbox.c.id).where(held).order_by(outbox.c.id)
        if row_ids is not None:
            query = query.where(outbox.c.id.in_(list(row_ids)))
        ids = list(conn.execute(query).scalars())
        return [row_id for row_id in ids if _requeue(conn, row_id, now, (Status.HELD,))]


def cancel(store: Store, row_id: int, *, now: datetime, reason: str = "cancelled by the owner") -> bool:
    """`bridge outbox cancel ID`: a queued, retrying, unknown or held row will not be sent. False
    otherwise."""
    with store.transaction() as conn:
        result = conn.execute(
            update(outbox)
            .where(outbox.c.id == row_id, outbox.c.status.in_(CANCELLABLE))
            .values(status=Status.CANCELLED.value, skip_reason=reason, lease_until=None, updated_at=now)
        )
        return result.rowcount == 1


def find(conn: Connection, idempotency_key: str) -> OutboxRow | None:
    """The row an event's key names, or None when it was never queued nor skipped."""
    row = conn.execute(select(outbox).where(outbox.c.idempotency_key == idempotency_key)).one_or_none()
    return None if row is None else _row(row)


def count_waiting(conn: Connection, *, kind: str | None = None, other_than: str | None = None) -> int:
    """How many rows wait to be sent (queued or retrying): only of `kind`, or of every kind but
    `other_than`."""
    query = select(func.count()).select_from(outbox).where(outbox.c.status.in_(DUE))
    if kind is not None:
        query = query.where(outbox.c.kind == kind)
    if other_than is not None:
        query = query.where(outbox.c.kind != other_than)
    return int(conn.execute(query).scalar_one())


def next_due_at(conn: Connection) -> datetime | None:
    """When the earliest waiting row falls due (it may be due already); None when nothing waits."""
    first: datetime | None = conn.execute(
        select(func.min(outbox.c.not_before)).where(outbox.c.status.in_(DUE))
    ).scalar()
    return first


def latest_changed(conn: Connection, statuses: Iterable[Status], *, limit: int) -> list[OutboxRow]:
    """The rows in one of `statuses` that changed last, newest first (`bridge status`'s last errors)."""
    query = (
        select(outbox)
        .where(outbox.c.status.in_([Status(status).value for status in statuses]))
        .order_by(outbox.c.updated_at.desc(), outbox.c.id.desc())
        .limit(limit)
    )
    return [_row(row) for row in conn.execute(query)]


def counts_by_status(store: Store) -> dict[Status, int]:
    """Every status with its count (zeros included), for `bridge status`."""
    counts = dict.fromkeys(Status, 0)
    with store.read() as conn:
        for status, count in conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status)):
            counts[Status(status)] = count
    return counts


# --- helpers --------------------------------------------------------------------------------------------

_AUTH = re.compile(r"(\bAUTH\s+(?:PLAIN|LOGIN|XOAUTH2|CRAM-MD5)\b)[ \t]+[A-Za-z0-9+/=]+", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _clean(text: str | None) -> str | None:
    """Bounded, printable text for the log; an AUTH argument quoted in a transcript is blanked."""
    if text is None:
        return None
    text = _AUTH.sub(r"\1 ***", text)
    text = _CONTROL.sub(" ", text)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _fetch(conn: Connection, row_id: int) -> Row[Any]:
    return conn.execute(select(outbox).where(outbox.c.id == row_id)).one()


def _row(row: Row[Any]) -> OutboxRow:
    values = row._asdict()
    values["status"] = Status(values["status"])
    values["context"] = MappingProxyType(json.loads(values["context"]))
    if is_hashed(values["recipient_email"]):  # purged: the hash is for finding the row, not an address
        values["recipient_email"] = ""
    return OutboxRow(**values)


def kinds_sent_for_orders(conn: Connection, order_ids: Iterable[int]) -> dict[int, frozenset[str]]:
    """For each order, the kinds already queued, held, being sent or sent (not skipped, cancelled or
    failed): the rules use it so a payment confirmed once is not confirmed again by a later status email. A
    kind sent for a status change is listed a second time as `status:<kind>`, a held one as `held:<kind>`
    (see `rules.decide`)."""
    wanted = sorted(set(order_ids))
    found: dict[int, set[str]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = conn.execute(
            select(outbox.c.order_id, outbox.c.kind, outbox.c.idempotency_key, outbox.c.status).where(
                outbox.c.order_id.in_(chunk), outbox.c.status.in_([s.value for s in LIVE])
            )
        )
        for row in rows:
            kinds = found.setdefault(row.order_id, set())
            kinds.add(row.kind)
            if row.idempotency_key.startswith("status:"):
                kinds.add(f"status:{row.kind}")
            if row.status == Status.HELD.value:
                kinds.add(f"{HELD_PREFIX}{row.kind}")
    return {order_id: frozenset(kinds) for order_id, kinds in found.items()}


def mark_deferred(
    store: Store, row_id: int, *, owner: str, now: datetime, not_before: datetime, reason: str
) -> bool:
    """Give the row back without spending an attempt: the sender as a whole is paused (quota, refused
    credentials), which says nothing about this email."""
    _aware(not_before, "not_before")
    changes = {"not_before": not_before, "last_error": _clean(reason), "attempts": outbox.c.attempts - 1}
    return _finish(store, row_id, owner, now, Status.QUEUED, changes, None, None, reason)


def mark_cancelled(store: Store, row_id: int, *, owner: str, now: datetime, reason: str) -> bool:
    """A claimed row turned out not to be wanted any more (the customer unsubscribed, the cart was
    ordered): cancelled with the reason, and its attempt spent nothing."""
    changes = {"skip_reason": _clean(reason), "attempts": outbox.c.attempts - 1}
    return _finish(store, row_id, owner, now, Status.CANCELLED, changes, None, None, reason)


def is_suppressed(conn: Connection, email: str) -> str | None:
    """Why mail to `email` is suppressed (a permanent bounce), or None. A suppression `bridge forget` kept
    as the address's keyed hash counts too."""
    return conn.execute(
        select(suppressions.c.reason)
        .where(suppressions.c.email.in_(address_forms(conn, email)))
        .order_by(suppressions.c.created_at)
        .limit(1)
    ).scalar_one_or_none()


def suppress(conn: Connection, email: str, reason: str, *, now: datetime) -> None:
    """Suppress `email` for later mail (a suppression kept only as a hash is not written back in full)."""
    if is_suppressed(conn, email) is not None:
        return
    conn.execute(
        upsert(conn, suppressions)
        .values(email=normalise_email(email), reason=_clean(reason) or "", created_at=now)
        .on_conflict_do_nothing(index_elements=[suppressions.c.email])
    )


def unsuppress(conn: Connection, email: str) -> None:
    """The owner asked to write to this address again (`bridge outbox retry`), hashed entry included."""
    conn.execute(delete(suppressions).where(suppressions.c.email.in_(address_forms(conn, email))))


# --- marketing: series that stop, requests that move ----------------------------------------------------


def cancel_waiting(
    conn: Connection,
    reason: str,
    *,
    now: datetime,
    kind: str,
    idempotency_key: str | None = None,
    cart_id: int | None = None,
    customer_id: int | None = None,
    order_id: int | None = None,
    recipient_email: str | None = None,
) -> list[int]:
    """Cancel the waiting (queued or retrying) rows of `kind` that match every given filter, with
    `reason`; return their ids. Rows being sent, sent or unknown are left alone: they are history."""
    where = [outbox.c.kind == kind, outbox.c.status.in_(DUE)]
    if idempotency_key is not None:
        where.append(outbox.c.idempotency_key == idempotency_key)
    if cart_id is not None:
        where.append(outbox.c.cart_id == cart_id)
    if customer_id is not None:
        where.append(outbox.c.customer_id == customer_id)
    if order_id is not None:
        where.append(outbox.c.order_id == order_id)
    if recipient_email is not None:
        where.append(func.lower(outbox.c.recipient_email) == recipient_email.strip().lower())
    ids = list(conn.execute(select(outbox.c.id).where(*where)).scalars())
    if ids:
        conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(ids), outbox.c.status.in_(DUE))
            .values(status=Status.CANCELLED.value, skip_reason=_clean(reason), updated_at=now)
        )
    return ids


def reschedule(conn: Connection, idempotency_key: str, not_before: datetime, *, now: datetime) -> bool:
    """Move a queued row to `not_before` (a review request that now waits for delivery, not shipping)."""
    _aware(not_before, "not_before")
    result = conn.execute(
        update(outbox)
        .where(outbox.c.idempotency_key == idempotency_key, outbox.c.status == Status.QUEUED.value)
        .values(not_before=not_before, updated_at=now)
    )
    return result.rowcount == 1


def last_marketing_to_customer(conn: Connection, customer_id: int, kind: str) -> datetime | None:
    """When the customer's latest `kind` email was queued (any status but skipped and cancelled): the
    per-customer cap counts what is on its way as well as what went out."""
    live = [Status.QUEUED, Status.RETRY, Status.SENDING, Status.SENT, Status.UNKNOWN, Status.FAILED]
    return conn.execute(
        select(func.max(outbox.c.created_at)).where(
            outbox.c.customer_id == customer_id,
            outbox.c.kind == kind,
            outbox.c.status.in_([s.value for s in live]),
        )
    ).scalar_one_or_none()
