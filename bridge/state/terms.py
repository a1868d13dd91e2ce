"""What the terms watch remembers, and the notices `bridge notify-terms --yes` queues.

Kept in the generic `cursors` table (name → JSON), no table of its own:
- `terms.page.<id>`: each language's text hash, and the change not yet notified (bridge.plan.terms);
- `terms.runs`: the changes whose notices were queued (page, change, name, when), for `bridge status`.

The notices themselves are outbox rows keyed by page, change and customer: queued a batch per
transaction, so a crash between two batches loses nothing and a re-run adds no duplicate.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import func, select

from bridge.plan.rules import Decision
from bridge.plan.terms import Change, PageMark, notice_prefix
from bridge.state import outbox as outbox_rows
from bridge.state.plans import Applied, queue
from bridge.state.store import Store, Tx, cursors, outbox, upsert

PREFIX: Final = "terms.page."
RUNS: Final = "terms.runs"


def load_marks(conn: Tx, page_ids: Sequence[int]) -> dict[int, PageMark]:
    """The marks of these pages; a page never seen (or unreadable) has none: a fresh baseline."""
    names = [f"{PREFIX}{i}" for i in page_ids]
    rows = conn.execute(select(cursors.c.name, cursors.c.value).where(cursors.c.name.in_(names)))
    marks: dict[int, PageMark] = {}
    for name, raw in rows:
        mark = _mark(raw)
        if mark is not None:
            marks[int(name[len(PREFIX) :])] = mark
    return marks


def _mark(raw: str) -> PageMark | None:
    try:
        loaded = json.loads(raw)
        change = loaded.get("change")
        return PageMark(
            {str(k): str(v) for k, v in loaded["hashes"].items()},
            None
            if change is None
            else Change(
                str(change["hash"]),
                tuple(str(c) for c in change["languages"]),
                datetime.fromisoformat(change["seen_at"]),
            ),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def save_mark(conn: Tx, page_id: int, mark: PageMark, *, now: datetime) -> None:
    change = mark.change
    value: dict[str, Any] = {"hashes": dict(sorted(mark.hashes.items())), "change": None}
    if change is not None:
        value["change"] = {
            "hash": change.hash,
            "languages": list(change.languages),
            "seen_at": change.seen_at.isoformat(),
        }
    _put(conn, f"{PREFIX}{page_id}", json.dumps(value), now=now)


def _put(conn: Tx, name: str, value: str, *, now: datetime) -> None:
    statement = upsert(conn, cursors).values(name=name, value=value, updated_at=now)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[cursors.c.name],
            set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
        )
    )


def queue_batch(store: Store, decisions: Sequence[Decision], *, now: datetime, domain: str) -> Applied:
    """One batch of notices in one transaction; a suppressed address (a bounce) is recorded as skipped."""
    applied = Applied()
    with store.transaction() as conn:
        checked = [_unless_suppressed(conn, d) for d in decisions]
        queue(conn, checked, applied, now=now, domain=domain)
    return applied


def _unless_suppressed(conn: Tx, decision: Decision) -> Decision:
    if not decision.sends:
        return decision
    reason = outbox_rows.is_suppressed(conn, decision.recipient_email)
    if reason is None:
        return decision
    return Decision(
        decision.key,
        decision.kind,
        0,
        "",
        skip_reason=f"the address is suppressed: {reason}",
        customer_id=decision.customer_id,
    )


@dataclass(frozen=True)
class Run:
    """A change whose notices were queued, and how far they went."""

    page_id: int
    name: str
    change: str
    started: str  # ISO instant the first batch was queued
    counts: dict[str, int]  # outbox status → notices

    @property
    def left(self) -> int:
        return sum(n for status, n in self.counts.items() if status in _WAITING)

    @property
    def sent(self) -> int:
        return self.counts.get(outbox_rows.Status.SENT.value, 0)

    @property
    def queued(self) -> int:
        return sum(self.counts.values())


_WAITING: Final = frozenset(s.value for s in outbox_rows.DUE) | {outbox_rows.Status.SENDING.value}


def start_run(store: Store, page_id: int, name: str, change: str, effective: str, *, now: datetime) -> str:
    """Remember that this change's notices are being queued, and the date they state; a re-run after a
    crash keeps the first run's date (so every notice of a change says the same), which it returns."""
    with store.transaction() as conn:
        runs = _runs(conn)
        for run in runs:
            if run["page"] == page_id and run["change"] == change:
                return str(run.get("effective") or effective)
        record = {"page": page_id, "name": name, "change": change, "started": now.isoformat()}
        runs.append({**record, "effective": effective})
        _put(conn, RUNS, json.dumps(runs), now=now)
    return effective


def finish_run(store: Store, page_id: int, change: str, *, now: datetime) -> None:
    """Every notice of the page's change is queued: the change is no longer pending (unless the poll saw
    a newer one meanwhile, which stays pending)."""
    with store.transaction() as conn:
        mark = load_marks(conn, [page_id]).get(page_id)
        if mark is not None and mark.change is not None and mark.change.hash == change:
            save_mark(conn, page_id, PageMark(mark.hashes, None), now=now)


def _runs(conn: Tx) -> list[dict[str, Any]]:
    raw = conn.execute(select(cursors.c.value).where(cursors.c.name == RUNS)).scalar_one_or_none()
    try:
        loaded = json.loads(raw) if raw else []
    except ValueError:
        return []
    return [r for r in loaded if isinstance(r, dict)] if isinstance(loaded, list) else []


def runs(store: Store) -> list[Run]:
    """Every change whose notices were queued, with its notices counted by status (for `bridge status`)."""
    found = []
    with store.read() as conn:
        for run in _runs(conn):
            pattern = notice_prefix(int(run["page"]), str(run["change"])) + "%"
            query = (
                select(outbox.c.status, func.count())
                .where(outbox.c.idempotency_key.like(pattern))
                .group_by(outbox.c.status)
            )
            counts = {str(status): int(n) for status, n in conn.execute(query)}
            found.append(
                Run(int(run["page"]), str(run["name"]), str(run["change"]), str(run["started"]), counts)
            )
    return found
