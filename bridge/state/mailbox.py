"""What the mailbox (bridge.mailbox) reads from and writes to the store: unknown sends settled, the cursor
of each folder read (UIDVALIDITY + last UID), and bounces (each recipient line once, the address as its
keyed hash) with the suppressions they lead to; the store's own id (the `X-Bridge-Key` header of every
email: bridge.model.bridge_key) and the second senders seen in the Sent folder, kept in the `cursors`
table under the names below.

Settling an unknown send changes only an `unknown` row, in one short transaction each, and says how in the
row itself (bridge.mailbox.settle.SETTLED): found in the Sent folder → `sent` (sent_at: when the Sent
copy was filed; the SMTP reply field says where it was found); not found within the window → `queued`
again, due now, same Message-ID (the last error says why). A row the owner retried, cancelled or that a
purge emptied meanwhile is left alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import Connection, delete, func, select, update

from bridge.model.bridge_key import new_store_id
from bridge.state.hashed import ensure_key, hash_address, load_key, normalise_email
from bridge.state.outbox import Status, is_suppressed, suppress, unsuppress
from bridge.state.store import (
    Store,
    cursors,
    mailbox_bounces,
    mailbox_folders,
    outbox,
    suppressions,
    upsert,
)

# The `cursors` rows this module owns (bridge.state.cursors owns the others).
STORE_ID_NAME: Final = "store.id"
SENDER_SINCE: Final = "mailbox.sender.since"  # when an unconfirmed second sender was first seen
SENDER_SEEN: Final = "mailbox.sender.seen"  # JSON {store id: Message-ID domain}, not confirmed yet
SENDER_ACCEPTED: Final = "mailbox.sender.accepted"  # store ids the owner confirmed, comma-separated


@dataclass(frozen=True)
class UnknownSend:
    """An email whose send was cut off after the handover: only what settling it needs."""

    id: int
    message_id: str
    since: datetime  # when it became unknown


def unknown_sends(store: Store) -> list[UnknownSend]:
    """Every `unknown` row, oldest first."""
    query = (
        select(outbox.c.id, outbox.c.message_id, outbox.c.updated_at)
        .where(outbox.c.status == Status.UNKNOWN.value)
        .order_by(outbox.c.updated_at, outbox.c.id)
    )
    with store.read() as conn:
        return [UnknownSend(row.id, row.message_id, row.updated_at) for row in conn.execute(query)]


def settle_as_sent(store: Store, row_id: int, *, now: datetime, sent_at: datetime, note: str) -> bool:
    """The Sent folder has it: the email went. False when the row is no longer unknown."""
    with store.transaction() as conn:
        result = conn.execute(
            update(outbox)
            .where(outbox.c.id == row_id, outbox.c.status == Status.UNKNOWN.value)
            .values(
                status=Status.SENT.value,
                sent_at=sent_at,
                smtp_reply=note,
                lease_owner=None,
                lease_until=None,
                updated_at=now,
            )
        )
        return result.rowcount == 1


def settle_for_resend(store: Store, row_id: int, *, now: datetime, note: str) -> bool:
    """The Sent folder does not have it: queue it again, due now, with the same Message-ID. False when the
    row is no longer unknown, or was purged (what it would say is gone)."""
    with store.transaction() as conn:
        result = conn.execute(
            update(outbox)
            .where(outbox.c.id == row_id, outbox.c.status == Status.UNKNOWN.value, outbox.c.purged.is_(None))
            .values(
                status=Status.QUEUED.value,
                not_before=now,
                last_error=note,
                lease_owner=None,
                lease_until=None,
                updated_at=now,
            )
        )
        return result.rowcount == 1


# --- folder cursors and bounces --------------------------------------------------------------------------


@dataclass(frozen=True)
class FolderCursor:
    """Where a folder was last read: UIDs above `last_uid` are new, while UIDVALIDITY stays the same."""

    uidvalidity: int
    last_uid: int
    looked_at: datetime


@dataclass(frozen=True)
class BounceRecord:
    """One recipient's line of a bounce, matched to our email (`outbox_id`), as `record_bounce` takes it."""

    uidvalidity: int
    uid: int
    outbox_id: int
    address: str
    status: str
    permanent: bool
    reason: str
    received_at: datetime


@dataclass(frozen=True)
class BounceSummary:
    """Bounces read since a time, for `bridge status` and the owner's summary."""

    permanent: int
    soft: int
    suppressed: int  # addresses suppressed by a bounce in that time


def load_cursor(store: Store, role: str) -> FolderCursor | None:
    with store.read() as conn:
        row = conn.execute(select(mailbox_folders).where(mailbox_folders.c.role == role)).one_or_none()
    return None if row is None else FolderCursor(row.uidvalidity, row.last_uid, row.looked_at)


def save_cursor(store: Store, role: str, *, uidvalidity: int, last_uid: int, now: datetime) -> None:
    with store.transaction() as conn:
        conn.execute(
            upsert(conn, mailbox_folders)
            .values(role=role, uidvalidity=uidvalidity, last_uid=last_uid, looked_at=now)
            .on_conflict_do_update(
                index_elements=[mailbox_folders.c.role],
                set_={"uidvalidity": uidvalidity, "last_uid": last_uid, "looked_at": now},
            )
        )


def emails_by_message_id(store: Store, message_ids: Iterable[str]) -> list[int]:
    """Our emails (outbox ids) carrying one of `message_ids`, in the order given."""
    wanted = list(dict.fromkeys(message_ids))
    if not wanted:
        return []
    with store.read() as conn:
        found = dict(
            conn.execute(
                select(outbox.c.message_id, outbox.c.id).where(outbox.c.message_id.in_(wanted))
            ).all()
        )
    return [found[message_id] for message_id in wanted if message_id in found]


def record_bounce(
    store: Store, bounce: BounceRecord, *, soft_limit: int, note: str, now: datetime
) -> str | None:
    """Record one bounce line once and suppress its address when it is permanent, or when it is the
    `soft_limit`-th soft one. Only the address our email went to counts (a DSN naming another is
    ignored: whoever received our Message-ID could otherwise silence a stranger). Returns the
    suppression's reason when this line suppressed the address, else None."""
    with store.transaction() as conn:
        recipient = conn.execute(
            select(outbox.c.recipient_email).where(outbox.c.id == bounce.outbox_id)
        ).scalar()
        key = ensure_key(conn, now=now)
        digest = hash_address(key, bounce.address)
        if recipient is None or normalise_email(recipient) not in (normalise_email(bounce.address), digest):
            return None
        inserted = conn.execute(
            upsert(conn, mailbox_bounces)
            .values(
                uidvalidity=bounce.uidvalidity,
                uid=bounce.uid,
                outbox_id=bounce.outbox_id,
                address_hash=digest,
                status=bounce.status,
                permanent=int(bounce.permanent),
                reason=bounce.reason,
                received_at=bounce.received_at,
            )
            .on_conflict_do_nothing(
                index_elements=[
                    mailbox_bounces.c.uidvalidity,
                    mailbox_bounces.c.uid,
                    mailbox_bounces.c.address_hash,
                ]
            )
        )
        if inserted.rowcount != 1:
            return None  # read before (the cursor was not saved): counted once
        conn.execute(
            update(outbox).where(outbox.c.id == bounce.outbox_id).values(last_error=note, updated_at=now)
        )
        return _suppress_after(conn, bounce, digest, soft_limit, now)


def _suppress_after(
    conn: Connection, bounce: BounceRecord, digest: str, soft_limit: int, now: datetime
) -> str | None:
    if is_suppressed(conn, bounce.address) is not None:
        return None
    if bounce.permanent:
        reason = f"bounced ({bounce.status}): {bounce.reason}"
    else:
        soft = conn.execute(
            select(func.count())
            .select_from(mailbox_bounces)
            .where(mailbox_bounces.c.address_hash == digest, mailbox_bounces.c.permanent == 0)
        ).scalar_one()
        if soft < soft_limit:
            return None
        reason = f"{soft} soft bounces, the last ({bounce.status}): {bounce.reason}"
    suppress(conn, bounce.address, reason, now=now)
    return reason


def bounce_summary(store: Store, *, since: datetime) -> BounceSummary:
    """The bounces read since `since`, and the addresses suppressed by one."""
    recent = mailbox_bounces.c.received_at >= since
    with store.read() as conn:
        counts: dict[int, int] = dict(
            conn.execute(
                select(mailbox_bounces.c.permanent, func.count())
                .where(recent)
                .group_by(mailbox_bounces.c.permanent)
            ).all()
        )
        suppressed = conn.execute(
            select(func.count())
            .select_from(suppressions)
            .where(suppressions.c.created_at >= since, suppressions.c.reason.like("%bounce%"))
        ).scalar_one()
    return BounceSummary(permanent=counts.get(1, 0), soft=counts.get(0, 0), suppressed=int(suppressed))


def lift_suppression(conn: Connection, email: str) -> str | None:
    """`bridge unsuppress`: the address's suppression (a bounce's, or a refusal's) and its bounce count
    go; returns the reason it was suppressed for, None when it was not."""
    reason = is_suppressed(conn, email)
    unsuppress(conn, email)
    key = load_key(conn)
    if key is not None:
        conn.execute(
            delete(mailbox_bounces).where(mailbox_bounces.c.address_hash == hash_address(key, email))
        )
    return reason


def bounce_suppressions(store: Store, *, since: datetime, until: datetime) -> int:
    """The addresses suppressed after a bounce in [since, until): the owner's daily summary."""
    with store.read() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(suppressions)
                .where(
                    suppressions.c.created_at >= since,
                    suppressions.c.created_at < until,
                    suppressions.c.reason.like("%bounce%"),
                )
            ).scalar_one()
        )


# --- the store's id and second senders -------------------------------------------------------------------


@dataclass(frozen=True)
class SecondSender:
    """Another bridge seen sending as this account, not confirmed by the owner yet: marketing waits."""

    since: datetime
    senders: Mapping[str, str]  # its store id → the domain of its Message-ID


def _values(conn: Connection, *names: str) -> dict[str, str]:
    query = select(cursors.c.name, cursors.c.value).where(cursors.c.name.in_(names))
    return {row.name: row.value for row in conn.execute(query)}


def _put(conn: Connection, values: Mapping[str, str], now: datetime) -> None:
    for name, value in values.items():
        statement = upsert(conn, cursors).values(name=name, value=value, updated_at=now)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=[cursors.c.name], set_={"value": value, "updated_at": now}
            )
        )


def load_store_id(conn: Connection) -> str | None:
    return _values(conn, STORE_ID_NAME).get(STORE_ID_NAME) or None


def ensure_store_id(store: Store, *, now: datetime) -> str:
    """The store's id, made now if it has none (two bridges on one store racing end up with one)."""
    with store.read() as conn:
        found = load_store_id(conn)
    if found is not None:
        return found
    with store.transaction() as conn:
        statement = upsert(conn, cursors).values(name=STORE_ID_NAME, value=new_store_id(), updated_at=now)
        conn.execute(statement.on_conflict_do_nothing(index_elements=[cursors.c.name]))
        made = load_store_id(conn)
    assert made is not None
    return made


def is_own_email(conn: Connection, idempotency_key: str, message_id: str) -> bool:
    """This store made an email with this key and this Message-ID (its header may name an older id)."""
    query = select(outbox.c.id).where(
        outbox.c.idempotency_key == idempotency_key, outbox.c.message_id == message_id
    )
    return conn.execute(query).first() is not None


def second_sender(conn: Connection) -> SecondSender | None:
    """The second sender waiting for the owner's confirmation; None when there is none."""
    raw = _values(conn, SENDER_SINCE, SENDER_SEEN)
    if not raw.get(SENDER_SINCE):
        return None
    seen = json.loads(raw.get(SENDER_SEEN) or "{}")
    return SecondSender(datetime.fromisoformat(raw[SENDER_SINCE]), dict(seen))


def accepted_senders(conn: Connection) -> frozenset[str]:
    """The store ids of other bridges the owner confirmed: their mail is not reported again."""
    return frozenset(filter(None, _values(conn, SENDER_ACCEPTED).get(SENDER_ACCEPTED, "").split(",")))


def record_second_sender(store: Store, store_id: str, domain: str, *, now: datetime) -> SecondSender:
    """Note another bridge's store id (opening the incident if none is open); the incident after it."""
    with store.transaction() as conn:
        current = second_sender(conn)
        since = current.since if current is not None else now
        senders = {**(current.senders if current is not None else {}), store_id: domain}
        _put(conn, {SENDER_SINCE: since.isoformat(), SENDER_SEEN: json.dumps(senders)}, now)
    return SecondSender(since, senders)


def confirm_second_sender(store: Store, *, now: datetime) -> SecondSender | None:
    """`bridge mailbox confirm-sender`: the owner knows; the senders seen are accepted and marketing mail
    goes again. Returns what was confirmed, None when nothing waited."""
    with store.transaction() as conn:
        current = second_sender(conn)
        if current is None:
            return None
        accepted = sorted(accepted_senders(conn) | set(current.senders))
        _put(conn, {SENDER_SINCE: "", SENDER_SEEN: "{}", SENDER_ACCEPTED: ",".join(accepted)}, now)
    return current
