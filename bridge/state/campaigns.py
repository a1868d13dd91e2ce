"""What the store keeps of campaigns (`bridge campaign send FILE --yes`), and their emails' progress.

A campaign is a row of `campaigns` (migration 0011) named by the campaign: the hash of its file's
normalised content (a changed file under the same name is refused: `ChangedCampaign`), whether a pass is
under way (`queueing`) or finished (`queued`), and how many customers the last pass left out, by reason.
Its emails are outbox rows keyed `campaign:<name>:<customer id>`, queued a batch per transaction together
with the pass's counts: a crash between two batches keeps the batches before it, and the re-run adds no
duplicate (the keys are unique). Who was left out is never stored, only how many.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import Column, RowMapping, func, insert, select, update

from bridge.model.campaign_kinds import CAMPAIGN_PRIORITY
from bridge.plan.campaigns import Memory, campaign_prefix
from bridge.plan.rules import Decision
from bridge.state import outbox as outbox_rows
from bridge.state.codes import count_created
from bridge.state.hashed import hash_address, load_key, normalise_email
from bridge.state.plans import Applied, queue
from bridge.state.store import Store, Tx, campaigns, outbox, suppressions, unsubscribes

QUEUEING: Final = "queueing"
QUEUED: Final = "queued"
_CHUNK: Final = 500  # values per IN (…): far below any bound-parameter limit


class ChangedCampaign(Exception):
    """The file changed since the campaign was first queued under this name."""


@dataclass(frozen=True)
class Record:
    """A campaign as the store remembers it."""

    name: str
    content_hash: str
    status: str
    single_use: bool
    left_out: dict[str, int]
    passes: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


def load(conn: Tx, name: str) -> Record | None:
    row = conn.execute(select(campaigns).where(campaigns.c.name == name)).one_or_none()
    return None if row is None else _record(row._mapping)


def _record(row: RowMapping) -> Record:
    try:
        loaded = json.loads(str(row["left_out"]))
    except ValueError:
        loaded = {}
    counts = {str(k): int(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}
    finished = row["finished_at"]
    created, updated = row["created_at"], row["updated_at"]
    assert isinstance(created, datetime) and isinstance(updated, datetime)
    return Record(
        str(row["name"]),
        str(row["content_hash"]),
        str(row["status"]),
        bool(row["single_use"]),
        counts,
        int(str(row["passes"])),
        created,
        updated,
        finished if isinstance(finished, datetime) else None,
    )


def check_unchanged(conn: Tx, name: str, content_hash: str) -> Record | None:
    """The campaign's record, or None for a new name; ChangedCampaign when the file changed since."""
    record = load(conn, name)
    if record is not None and record.content_hash != content_hash:
        raise ChangedCampaign(name)
    return record


def start_pass(store: Store, name: str, content_hash: str, *, single_use: bool, now: datetime) -> None:
    """A pass over the customers begins: the campaign is remembered (first time) and its counts restart."""
    with store.transaction() as conn:
        record = check_unchanged(conn, name, content_hash)
        if record is None:
            values = {"name": name, "content_hash": content_hash, "single_use": int(single_use)}
            conn.execute(
                insert(campaigns).values(
                    **values, status=QUEUEING, left_out="{}", passes=1, created_at=now, updated_at=now
                )
            )
            return
        conn.execute(
            update(campaigns)
            .where(campaigns.c.name == name)
            .values(status=QUEUEING, left_out="{}", passes=campaigns.c.passes + 1, updated_at=now)
        )


def queue_batch(
    store: Store,
    name: str,
    decisions: Sequence[Decision],
    left_out: Mapping[str, int],
    *,
    now: datetime,
    domain: str,
) -> Applied:
    """One batch's emails and its left-out counts, in one transaction."""
    applied = Applied()
    with store.transaction() as conn:
        queue(conn, list(decisions), applied, now=now, domain=domain)
        record = load(conn, name)
        counts = Counter(record.left_out if record else {})
        counts.update(left_out)
        conn.execute(
            update(campaigns)
            .where(campaigns.c.name == name)
            .values(left_out=json.dumps(dict(sorted(counts.items()))), updated_at=now)
        )
    return applied


def finish_pass(store: Store, name: str, *, now: datetime) -> None:
    with store.transaction() as conn:
        conn.execute(
            update(campaigns)
            .where(campaigns.c.name == name)
            .values(status=QUEUED, finished_at=now, updated_at=now)
        )


# --- what the store knows of a batch of customers ----------------------------------------------------------


def memory(conn: Tx, name: str, customers: Iterable[tuple[int, str]]) -> Memory:
    """Of these (customer id, address) pairs: the addresses unsubscribed or suppressed (as they are, or
    as the keyed hash `bridge forget` left), this campaign's keys already queued, and which customer each
    address already has this campaign's email for."""
    pairs = [(customer_id, normalise_email(email)) for customer_id, email in customers]
    key = load_key(conn)
    forms: dict[str, str] = {}
    for _, address in pairs:
        forms[address] = address
        if key is not None:
            forms[hash_address(key, address)] = address
    gone = {forms[v] for v in _values_in(conn, unsubscribes.c.email, forms)}
    bounced = {forms[v] for v in _values_in(conn, suppressions.c.email, forms)}
    prefix = campaign_prefix(name)
    keys = [f"{prefix}{customer_id}" for customer_id, _ in pairs]
    queued = set(_values_in(conn, outbox.c.idempotency_key, keys))
    taken: dict[str, int] = {}
    for chunk in _chunks(list(forms)):
        query = select(outbox.c.recipient_email, outbox.c.idempotency_key).where(
            outbox.c.idempotency_key.startswith(prefix, autoescape=True),
            outbox.c.recipient_email.in_(chunk),
        )
        for email, row_key in conn.execute(query):
            owner = row_key[len(prefix) :]
            if owner.isdigit():
                taken.setdefault(forms.get(email, normalise_email(email)), int(owner))
    return Memory(frozenset(gone), frozenset(bounced), frozenset(queued), taken)


def _values_in(conn: Tx, column: Column[str], values: Iterable[str]) -> list[str]:
    found: list[str] = []
    for chunk in _chunks(list(values)):
        found.extend(str(v) for v in conn.execute(select(column).where(column.in_(chunk))).scalars())
    return found


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def waiting_ahead(conn: Tx) -> int:
    """Emails waiting that delivery claims before (or with) a campaign's: its own included."""
    return int(
        conn.execute(
            select(func.count()).where(
                outbox.c.status.in_([s.value for s in outbox_rows.DUE]),
                outbox.c.priority <= CAMPAIGN_PRIORITY,
            )
        ).scalar_one()
    )


# --- progress, for `bridge campaign list` and `bridge status` ----------------------------------------------


@dataclass(frozen=True)
class Progress:
    """A campaign and how far its emails went."""

    record: Record
    counts: dict[str, int]  # outbox status → emails of the campaign
    codes: int  # personal codes created in the shop for its emails

    @property
    def queued(self) -> int:
        """Every email the campaign queued, whatever became of it."""
        return sum(self.counts.values())

    @property
    def sent(self) -> int:
        return self.counts.get(outbox_rows.Status.SENT.value, 0)

    @property
    def waiting(self) -> int:
        waiting = {s.value for s in outbox_rows.DUE} | {outbox_rows.Status.SENDING.value}
        return sum(n for status, n in self.counts.items() if status in waiting)

    @property
    def cancelled(self) -> int:
        return self.counts.get(outbox_rows.Status.CANCELLED.value, 0)

    @property
    def failed(self) -> int:
        return sum(
            self.counts.get(s.value, 0) for s in (outbox_rows.Status.FAILED, outbox_rows.Status.UNKNOWN)
        )

    @property
    def left_out(self) -> int:
        return sum(self.record.left_out.values())


def progress(store: Store, *, active_only: bool = False) -> list[Progress]:
    """Every campaign, newest first, with its emails counted by status (`active_only`: those with emails
    still waiting, or a pass cut short)."""
    found = []
    with store.read() as conn:
        records = [_record(r._mapping) for r in conn.execute(select(campaigns))]
        for record in sorted(records, key=lambda r: r.created_at, reverse=True):
            query = (
                select(outbox.c.status, func.count())
                .where(outbox.c.idempotency_key.startswith(campaign_prefix(record.name), autoescape=True))
                .group_by(outbox.c.status)
            )
            counts = {str(status): int(n) for status, n in conn.execute(query)}
            item = Progress(record, counts, _codes(conn, record) if record.single_use else 0)
            if not active_only or item.waiting or record.status == QUEUEING:
                found.append(item)
    return found


def _codes(conn: Tx, record: Record) -> int:
    """The personal codes created in the shop for the campaign's emails (bridge.state.codes keeps them)."""
    return count_created(conn, campaign_prefix(record.name))
