"""What the new-product digest remembers: the products it knows (the `news_products` table, 0012) and where
the watch stands (`news.digest` in the generic `cursors` table: when it began, where the next digest's window
starts, the last day a digest was due, and the digest still being queued with what it says).

No personal data: product ids, days and the digest's product texts. The digests themselves are outbox
rows keyed by day and customer (bridge.plan.news), queued a batch of subscribers per transaction together
with the position reached, so a crash between batches resumes where it stopped and queues no duplicate.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import delete, func, select

from bridge.plan.news import Digest, NewsMark, Running, digest_prefix
from bridge.plan.rules import Decision
from bridge.state.outbox import DUE, Status
from bridge.state.plans import Applied, queue
from bridge.state.store import Tx, cursors, news_products, outbox, upsert

MARK: Final = "news.digest"
_CHUNK: Final = 500  # ids per statement: far below any bound-parameter limit


# --- where the watch stands ---------------------------------------------------------------------------------


def load_mark(conn: Tx) -> NewsMark | None:
    """The watch's state; None before its baseline (or when unreadable: a fresh baseline announces nothing
    old, the safe answer)."""
    raw = conn.execute(select(cursors.c.value).where(cursors.c.name == MARK)).scalar_one_or_none()
    if raw is None:
        return None
    try:
        loaded = json.loads(raw)
        running = loaded.get("running")
        return NewsMark(
            baseline_at=datetime.fromisoformat(loaded["baseline_at"]),
            since=datetime.fromisoformat(loaded["since"]),
            last_day=date.fromisoformat(loaded["last_day"]) if loaded.get("last_day") else None,
            running=_running(running) if running else None,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _running(value: Mapping[str, Any]) -> Running:
    digest = value["digest"]
    return Running(
        Digest(
            day=date.fromisoformat(digest["day"]),
            since=datetime.fromisoformat(digest["since"]),
            products={str(iso): list(items) for iso, items in digest["products"].items()},
            more=int(digest["more"]),
            urls={str(iso): str(url) for iso, url in digest["urls"].items()},
            expires_at=datetime.fromisoformat(digest["expires_at"]),
        ),
        after_customer=int(value["after_customer"]),
    )


def save_mark(conn: Tx, mark: NewsMark, *, now: datetime) -> None:
    value: dict[str, Any] = {
        "baseline_at": mark.baseline_at.isoformat(),
        "since": mark.since.isoformat(),
        "last_day": mark.last_day.isoformat() if mark.last_day else None,
        "running": None,
    }
    if mark.running is not None:
        digest = mark.running.digest
        value["running"] = {
            "digest": {
                "day": digest.day.isoformat(),
                "since": digest.since.isoformat(),
                "products": dict(digest.products),
                "more": digest.more,
                "urls": dict(digest.urls),
                "expires_at": digest.expires_at.isoformat(),
            },
            "after_customer": mark.running.after_customer,
        }
    statement = upsert(conn, cursors).values(
        name=MARK, value=json.dumps(value, ensure_ascii=False), updated_at=now
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[cursors.c.name],
            set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
        )
    )


def watching(conn: Tx) -> bool:
    """Whether the watch remembers anything: its state, or products (both go in one transaction)."""
    if conn.execute(select(cursors.c.name).where(cursors.c.name == MARK)).first() is not None:
        return True
    return conn.execute(select(news_products.c.id_product).limit(1)).first() is not None


def forget(conn: Tx) -> bool:
    """NEW_PRODUCTS was turned off: forget the watch, so turning it on again starts from a fresh baseline
    (what went on sale meanwhile is not announced). The digests sent stay in the outbox. True if there was
    anything to forget."""
    gone = conn.execute(delete(cursors).where(cursors.c.name == MARK)).rowcount
    gone += conn.execute(delete(news_products)).rowcount
    return gone > 0


# --- the products the watch knows ---------------------------------------------------------------------------


def known(conn: Tx, product_ids: Iterable[int]) -> set[int]:
    """Which of these products the watch knows (live at its baseline, or announced since)."""
    wanted = sorted(set(product_ids))
    found: set[int] = set()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        query = select(news_products.c.id_product).where(news_products.c.id_product.in_(chunk))
        found.update(int(i) for i in conn.execute(query).scalars())
    return found


def remember(conn: Tx, product_ids: Iterable[int], *, day: date | None, now: datetime) -> None:
    """Record products as known: live at the baseline (`day` None) or announced by the digest of `day`.
    A product known already keeps its first record."""
    rows = [
        {"id_product": i, "digest": day.isoformat() if day else None, "seen_at": now}
        for i in sorted(set(product_ids))
    ]
    statement = upsert(conn, news_products).on_conflict_do_nothing(
        index_elements=[news_products.c.id_product]
    )
    for start in range(0, len(rows), _CHUNK):
        conn.execute(statement, rows[start : start + _CHUNK])


def count_known(conn: Tx) -> tuple[int, int]:
    """(products live when the watch began, products announced since), for `bridge status`."""
    query = select(news_products.c.digest.is_(None), func.count()).group_by(news_products.c.digest.is_(None))
    counts = {bool(baseline): int(n) for baseline, n in conn.execute(query)}
    return counts.get(True, 0), counts.get(False, 0)


# --- the digests in the outbox ------------------------------------------------------------------------------


def _of_digest(day: date) -> Any:
    """The outbox rows of one digest: their keys share a prefix (a range the unique index answers)."""
    prefix = digest_prefix(day)
    return outbox.c.idempotency_key.between(prefix, prefix + "\uffff")


def addresses_in_digest(conn: Tx, day: date, addresses: Iterable[str]) -> set[str]:
    """Which of these lower-cased addresses the digest of `day` was decided for already (one per address:
    a guest who ordered twice may have two accounts)."""
    wanted = sorted(set(addresses))
    found: set[str] = set()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        address = func.lower(func.trim(outbox.c.recipient_email))
        query = select(address).where(_of_digest(day), address.in_(chunk))
        found.update(str(a) for a in conn.execute(query).scalars())
    return found


def queue_digests(
    conn: Tx, decisions: Sequence[Decision], mark: NewsMark, *, now: datetime, domain: str
) -> Applied:
    """One batch of digests (and skips) queued, and the watch's new position, in the caller's transaction."""
    applied = Applied()
    queue(conn, list(decisions), applied, now=now, domain=domain)
    save_mark(conn, mark, now=now)
    return applied


def digest_counts(conn: Tx, day: date) -> dict[str, int]:
    """The digest of `day` by outbox status (sent, queued, skipped, cancelled…), for `bridge status`."""
    query = select(outbox.c.status, func.count()).where(_of_digest(day)).group_by(outbox.c.status)
    return {str(status): int(n) for status, n in conn.execute(query)}


WAITING: Final = frozenset({*(s.value for s in DUE), Status.SENDING.value})
