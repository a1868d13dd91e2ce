"""Personal data has a lifetime: what the store removes from finished emails, when, and `bridge forget`.

The outbox is also the ledger that keeps every email from being sent twice, so a row is never deleted: its
personal details are. A purged row keeps its kind, idempotency key, times, status, Message-ID, order id and
reference, consent basis and the keyed hash of its address (bridge.state.hashed); its address, name and
context go, and the server's replies, errors and reasons lose any address they quoted. Its key still names
the shop event, so the rules never queue it again, and a purged row is never queued again by the owner.

Three purges (`outbox.purged` says which one a row had):
- "links": when a cart's reminder series ends (ordered, stopped, every step handled, expired, restarted),
  its finished reminders lose the recovery link (PrestaShop's link signs the customer in) and the discount
  code at once, in the transaction that ends the series or at the next poll for a reminder sent after that;
- "retention": RETENTION_DAYS after an email finished (sent, failed, skipped, cancelled or expired), its
  personal details go; so do cart series that ended that long ago and the text of expired discount codes.
  At most once an hour (`PURGE_EVERY`), in batches, from the cycle;
- "forget": `bridge forget ADDRESS` does it at once for everything about one address: its waiting emails
  are cancelled first, its unsubscribe and suppression stay as keyed hashes (so it stays refused), its cart
  series and discount codes go.

Emails still on their way (queued, retrying, held, unknown, being sent) are never purged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Connection, Table, delete, func, or_, select, update

from bridge.model.headers import ADDRESS_IN_TEXT
from bridge.model.kinds import CART_REMINDER
from bridge.plan.carts import reminder_key
from bridge.state import carts, codes
from bridge.state.hashed import ensure_key, hash_address, is_hashed, normalise_email
from bridge.state.outbox import CANCELLABLE, Status
from bridge.state.store import (
    Store,
    cart_series,
    outbox,
    outbox_attempts,
    privacy,
    suppressions,
    unsubscribes,
    upsert,
)

FINISHED: Final = (Status.SENT, Status.FAILED, Status.SKIPPED, Status.CANCELLED)
PURGE_EVERY: Final = timedelta(hours=1)
BATCH: Final = 500  # rows per transaction: a purge never holds the write lock for long
MAX_BATCHES: Final = 20  # per run; a larger backlog (the first purge of an old store) goes on next hour
ERASED: Final = "[address erased]"
LINKS, RETENTION, FORGET = "links", "retention", "forget"
FORGOTTEN: Final = "not sent: the address was erased (bridge forget)"
_FINISHED_VALUES: Final = [status.value for status in FINISHED]


@dataclass
class Purged:
    """What one purge removed, for its one log line."""

    emails: int = 0  # emails whose personal details went (RETENTION_DAYS)
    links: int = 0  # cart reminders whose recovery link and code went (their series ended)
    series: int = 0  # ended cart series deleted
    codes: int = 0  # expired discount codes blanked

    def __bool__(self) -> bool:
        return bool(self.emails or self.links or self.series or self.codes)


def purge(store: Store, *, now: datetime, retention: timedelta) -> Purged:
    """The cycle's purge: the links of ended series every time (one indexed query), the rest at most once
    an hour, in batches of BATCH rows per transaction. Nothing to do costs two reads, no write lock."""
    with store.read() as conn:
        ended = ended_links(conn)
        last = conn.execute(select(privacy.c.last_purge_at).where(privacy.c.id == 1)).scalar_one_or_none()
    done = Purged()
    if ended:
        with store.transaction() as conn:
            done.links = _strip_links(conn, ended, now)
    if last is None or last + PURGE_EVERY <= now:
        _purge_retention(store, done, now=now, retention=retention)
    if done:
        store.flush_wal()
    return done


def _purge_retention(store: Store, done: Purged, *, now: datetime, retention: timedelta) -> None:
    """Personal details of emails finished more than `retention` ago, ended series, expired codes; unless
    another bridge sharing the store started this hour's purge first."""
    with store.transaction() as conn:
        key = ensure_key(conn, now=now)
        claimed = conn.execute(
            update(privacy)
            .where(
                privacy.c.id == 1,
                or_(privacy.c.last_purge_at.is_(None), privacy.c.last_purge_at <= now - PURGE_EVERY),
            )
            .values(last_purge_at=now)
        )
        if claimed.rowcount != 1:
            return
    cutoff = now - retention
    batches = 0
    for purged, kind in _still_personal(store):
        while batches < MAX_BATCHES:
            batches += 1
            with store.transaction() as conn:
                ids = _finished_before(conn, purged, kind, cutoff)
                purge_details(conn, ids, key=key, now=now, how=RETENTION)
            done.emails += len(ids)
            if len(ids) < BATCH:
                break
    with store.transaction() as conn:
        done.series = carts.delete_ended_series(conn, ended_before=cutoff)
        done.codes = carts.blank_expired_codes(conn, now=now)


def _still_personal(store: Store) -> list[tuple[str | None, str]]:
    """(purged, kind) of the rows that still hold personal details: what each batch query is keyed by, so
    that it walks `ix_outbox_purge` (purged, kind, updated_at) rather than every sent email ever."""
    with store.read() as conn:
        kinds = conn.execute(select(outbox.c.kind).where(outbox.c.purged.is_(None)).distinct()).scalars()
        return [*((None, kind) for kind in sorted(kinds)), (LINKS, CART_REMINDER)]


def _finished_before(conn: Connection, purged: str | None, kind: str, cutoff: datetime) -> list[int]:
    """Up to BATCH ids of finished `kind` rows, last changed before `cutoff`, purged as `purged` so far."""
    state = outbox.c.purged.is_(None) if purged is None else outbox.c.purged == purged
    query = select(outbox.c.id).where(
        state, outbox.c.kind == kind, outbox.c.updated_at < cutoff, outbox.c.status.in_(_FINISHED_VALUES)
    )
    return list(conn.execute(query.limit(BATCH)).scalars())


# --- the recovery links of ended series ----------------------------------------------------------------


def purge_links(conn: Connection, cart_ids: Iterable[int], *, now: datetime) -> int:
    """These carts' series just ended: their finished reminders lose the recovery link and the code."""
    wanted = sorted(set(cart_ids))
    if not wanted:
        return 0
    rows = conn.execute(
        select(outbox.c.id, outbox.c.context).where(
            outbox.c.kind == CART_REMINDER,
            outbox.c.purged.is_(None),
            outbox.c.status.in_(_FINISHED_VALUES),
            outbox.c.cart_id.in_(wanted),
        )
    )
    return _strip_links(conn, [(row.id, row.context) for row in rows], now)


def ended_links(conn: Connection) -> list[tuple[int, str]]:
    """(id, context) of the finished reminders not yet stripped whose series is no longer the open one of
    their cart: a reminder that went out after its series was marked done, or one of a series that
    restarted."""
    rows = list(
        conn.execute(
            select(outbox.c.id, outbox.c.cart_id, outbox.c.idempotency_key, outbox.c.context).where(
                outbox.c.purged.is_(None),
                outbox.c.kind == CART_REMINDER,
                outbox.c.status.in_(_FINISHED_VALUES),
            )
        )
    )
    if not rows:
        return []
    cart_ids = sorted({row.cart_id for row in rows if row.cart_id is not None})
    running = {
        row.cart_id: _series_prefix(row.cart_id, row.cart_updated_at)
        for row in conn.execute(
            select(cart_series.c.cart_id, cart_series.c.cart_updated_at).where(
                cart_series.c.status == "open", cart_series.c.cart_id.in_(cart_ids)
            )
        )
    }
    return [
        (row.id, row.context)
        for row in rows
        if row.cart_id not in running or not row.idempotency_key.startswith(running[row.cart_id])
    ]


def _series_prefix(cart_id: int, cart_updated_at: datetime) -> str:
    """What the keys of one series' reminders start with (`…:step:` included)."""
    return reminder_key(cart_id, cart_updated_at, 0).removesuffix("0")


def _strip_links(conn: Connection, rows: Sequence[tuple[int, str]], now: datetime) -> int:
    """Take the recovery link and the code out of these finished reminders' contexts; how many changed."""
    stripped = 0
    for row_id, text in rows:
        context = json.loads(text)
        cart, discount = context.get("cart"), context.get("discount")
        if isinstance(cart, dict) and cart.get("restores_session"):
            context["cart"] = {**cart, "url": ""}
        if isinstance(discount, dict) and discount.get("code"):
            context["discount"] = {**discount, "code": ""}
        result = conn.execute(
            update(outbox)
            .where(outbox.c.id == row_id, outbox.c.purged.is_(None), outbox.c.status.in_(_FINISHED_VALUES))
            .values(context=_json(context), purged=LINKS, purged_at=now)
        )
        stripped += result.rowcount
    return stripped


# --- personal details ----------------------------------------------------------------------------------


def purge_details(conn: Connection, ids: Sequence[int], *, key: bytes, now: datetime, how: str) -> int:
    """Remove the personal details of these (finished) rows and scrub their attempt log; returns how many
    attempts were scrubbed."""
    if not ids:
        return 0
    columns = (outbox.c.id, outbox.c.recipient_email, outbox.c.last_error, outbox.c.smtp_reply)
    for row in list(conn.execute(select(*columns, outbox.c.skip_reason).where(outbox.c.id.in_(ids)))):
        address = row.recipient_email
        conn.execute(
            update(outbox)
            .where(outbox.c.id == row.id)
            .values(
                recipient_email=hash_address(key, address) if address else "",
                recipient_name=None,
                context="{}",
                customer_id=None,
                last_error=scrub(row.last_error, address),
                smtp_reply=scrub(row.smtp_reply, address),
                skip_reason=scrub(row.skip_reason, address),
                purged=how,
                purged_at=now,
            )
        )
    codes.forget_emails(conn, ids)  # their personal discount codes (the rules stay in the shop)
    return _scrub_attempts(conn, ids)


def _scrub_attempts(conn: Connection, ids: Sequence[int]) -> int:
    attempts = list(
        conn.execute(
            select(outbox_attempts.c.id, outbox_attempts.c.smtp_reply, outbox_attempts.c.error).where(
                outbox_attempts.c.outbox_id.in_(ids)
            )
        )
    )
    for attempt in attempts:
        if attempt.smtp_reply is None and attempt.error is None:
            continue
        conn.execute(
            update(outbox_attempts)
            .where(outbox_attempts.c.id == attempt.id)
            .values(smtp_reply=scrub(attempt.smtp_reply, None), error=scrub(attempt.error, None))
        )
    return len(attempts)


def scrub(text: str | None, address: str | None) -> str | None:
    """`text` without `address` (however it is spelt) nor anything else shaped like an address."""
    if text is None:
        return None
    if address and not is_hashed(address):
        text = re.sub(re.escape(address.strip()), ERASED, text, flags=re.IGNORECASE)
    return ADDRESS_IN_TEXT.sub(ERASED, text)


def _json(context: dict[str, Any]) -> str:
    return json.dumps(context, ensure_ascii=False, sort_keys=True, allow_nan=False)


# --- bridge forget -------------------------------------------------------------------------------------


@dataclass
class Erased:
    """What `bridge forget` erased (or, for a dry run, would erase)."""

    seen: bool = False  # the store held anything about the address, erased before or not
    emails: int = 0  # emails whose personal details went now
    earlier: int = 0  # emails purged before (only the hash of the address was left)
    cancelled: int = 0  # waiting emails cancelled: never sent now
    sending: int = 0  # being sent this very moment: left alone (run forget again afterwards)
    attempts: int = 0  # attempt log entries scrubbed
    unsubscribed: bool = False  # the unsubscribe is kept, as the keyed hash of the address
    suppressed: bool = False  # the suppression is kept, as the keyed hash of the address
    series: int = 0  # cart reminder series deleted
    codes: int = 0  # discount codes deleted from the store (they stay in the shop)


class _DryRun(Exception):
    def __init__(self, erased: Erased) -> None:
        super().__init__("dry run")
        self.erased = erased


def forget(store: Store, email: str, *, now: datetime, dry_run: bool = False) -> Erased:
    """Erase everything the store holds about `email` but the keyed hash that keeps it unsubscribed or
    suppressed. One transaction; a dry run performs it and rolls it back, so it counts exactly."""
    try:
        with store.transaction() as conn:
            erased = _forget(conn, email, now=now)
            if dry_run:
                raise _DryRun(erased)
    except _DryRun as rolled_back:
        return rolled_back.erased
    store.flush_wal()
    return erased


def _forget(conn: Connection, email: str, *, now: datetime) -> Erased:
    address = normalise_email(email)
    key = ensure_key(conn, now=now)
    forms = [address, hash_address(key, address)]
    rows = list(
        conn.execute(
            select(outbox.c.id, outbox.c.status, outbox.c.purged, outbox.c.customer_id).where(
                or_(
                    func.lower(outbox.c.recipient_email).in_(forms),
                    # Emails about the person to someone else: the owner's new-order and message alerts.
                    func.lower(outbox.c.context).contains(f'"{address}"', autoescape=True),
                )
            )
        )
    )
    erased = Erased()
    waiting = [row.id for row in rows if row.status in [status.value for status in CANCELLABLE]]
    if waiting:
        conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(waiting))
            .values(status=Status.CANCELLED.value, skip_reason=FORGOTTEN, lease_until=None, updated_at=now)
        )
    erased.cancelled = len(waiting)
    erased.sending = sum(row.status == Status.SENDING.value for row in rows)
    done = [row for row in rows if row.status != Status.SENDING.value]
    fresh = [row.id for row in done if row.purged not in (RETENTION, FORGET)]
    erased.emails, erased.earlier = len(fresh), len(done) - len(fresh)
    erased.attempts = purge_details(conn, fresh, key=key, now=now, how=FORGET)
    erased.unsubscribed = _keep_hashed(conn, unsubscribes, forms)
    erased.suppressed = _keep_hashed(conn, suppressions, forms)
    customers = {row.customer_id for row in rows if row.customer_id is not None}
    erased.series, erased.codes = carts.forget_customers(conn, customers)
    erased.seen = bool(rows) or erased.unsubscribed or erased.suppressed
    return erased


def _keep_hashed(conn: Connection, table: Table, forms: list[str]) -> bool:
    """Replace the address's entry in `unsubscribes` or `suppressions` by one under its keyed hash (same
    source or reason, scrubbed; same date); True when the address is in the table in either form."""
    address, hashed = forms
    plain = conn.execute(select(table).where(table.c.email == address)).one_or_none()
    if plain is not None:
        values = {name: value for name, value in plain._asdict().items() if name != "email"}
        if "reason" in values:
            values["reason"] = scrub(values["reason"], address) or ""
        conn.execute(
            upsert(conn, table)
            .values(email=hashed, **values)
            .on_conflict_do_nothing(index_elements=[table.c.email])
        )
        conn.execute(delete(table).where(table.c.email == address))
    return conn.execute(select(table.c.email).where(table.c.email == hashed)).first() is not None
