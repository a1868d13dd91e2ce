"""Personal discount codes as the store keeps them: one per outbox row that asked for one.

A code is chosen and committed here *before* the shop is asked to create it (`choose`), and its cart rule id
is recorded once the shop answered (`confirm`). A row with no cart rule id is a code whose POST may or may
not have reached the shop: delivery looks it up by its text before it asks again, so a crash, a timeout or
a 500 after the shop saved it never makes a second rule.

What it holds, and for how long: the code, the customer id it is restricted to, its currency and validity.
Nothing else about the person. It lives as long as its email keeps its personal details: when the email is
purged (RETENTION_DAYS after it finished, or by `bridge forget`), `forget_emails` deletes it (the rule stays
in the shop, where the owner manages it). A permission refusal (the key may not POST cart_rules) is kept in
the cursors table, so every process waits on it and `bridge status` can say what to tick.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import delete, func, insert, select, update

from bridge.state.store import Tx, cursors, outbox, personal_codes, upsert

REFUSED: Final = "personal_codes.refused"  # the cursors row of the last permission refusal


@dataclass(frozen=True)
class StoredCode:
    outbox_id: int
    customer_id: int
    code: str
    currency: str
    cart_rule_id: int | None  # None: chosen, but the shop's answer to its POST is not known yet
    valid_until: datetime
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Refusal:
    """The shop refused to let the key create discount codes; personal codes wait until `until`."""

    reason: str
    until: datetime


def code_for(conn: Tx, outbox_id: int) -> StoredCode | None:
    row = conn.execute(select(personal_codes).where(personal_codes.c.outbox_id == outbox_id)).first()
    return None if row is None else StoredCode(**row._asdict())


def codes_for(conn: Tx, outbox_ids: Sequence[int]) -> dict[int, StoredCode]:
    """The codes of these rows (`bridge explain`), by outbox id."""
    found: dict[int, StoredCode] = {}
    for start in range(0, len(outbox_ids), 500):
        chunk = list(outbox_ids[start : start + 500])
        for row in conn.execute(select(personal_codes).where(personal_codes.c.outbox_id.in_(chunk))):
            found[row.outbox_id] = StoredCode(**row._asdict())
    return found


def choose(
    conn: Tx,
    *,
    outbox_id: int,
    customer_id: int,
    code: str,
    currency: str,
    valid_until: datetime,
    now: datetime,
) -> StoredCode:
    """Remember the code about to be POSTed for this row (its dates renewed if it was chosen before and the
    shop has not got it). Commit before the POST: it is what a later attempt looks up."""
    existing = code_for(conn, outbox_id)
    if existing is None:
        conn.execute(
            insert(personal_codes).values(
                outbox_id=outbox_id,
                customer_id=customer_id,
                code=code,
                currency=currency,
                cart_rule_id=None,
                valid_until=valid_until,
                created_at=now,
                updated_at=now,
            )
        )
    elif existing.cart_rule_id is None:
        conn.execute(
            update(personal_codes)
            .where(personal_codes.c.outbox_id == outbox_id, personal_codes.c.cart_rule_id.is_(None))
            .values(currency=currency, valid_until=valid_until, updated_at=now)
        )
    chosen = code_for(conn, outbox_id)
    assert chosen is not None
    return chosen


def confirm(conn: Tx, outbox_id: int, cart_rule_id: int, *, now: datetime) -> StoredCode:
    """The shop has the rule: record its id (the code is final from now on)."""
    conn.execute(
        update(personal_codes)
        .where(personal_codes.c.outbox_id == outbox_id)
        .values(cart_rule_id=cart_rule_id, updated_at=now)
    )
    confirmed = code_for(conn, outbox_id)
    assert confirmed is not None
    return confirmed


def forget_emails(conn: Tx, outbox_ids: Sequence[int]) -> int:
    """These emails lose their personal details (retention, `bridge forget`): their codes go too."""
    deleted = 0
    for start in range(0, len(outbox_ids), 500):
        chunk = list(outbox_ids[start : start + 500])
        deleted += conn.execute(delete(personal_codes).where(personal_codes.c.outbox_id.in_(chunk))).rowcount
    return deleted


def count_created(conn: Tx, key_prefix: str) -> int:
    """How many codes the shop holds for the emails whose idempotency key starts with `key_prefix` (a
    campaign's progress: "codes created")."""
    pattern = key_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    query = (
        select(func.count())
        .select_from(personal_codes.join(outbox, outbox.c.id == personal_codes.c.outbox_id))
        .where(
            personal_codes.c.cart_rule_id.is_not(None), outbox.c.idempotency_key.like(pattern, escape="\\")
        )
    )
    return int(conn.execute(query).scalar_one())


def load_refusal(conn: Tx) -> Refusal | None:
    raw = conn.execute(select(cursors.c.value).where(cursors.c.name == REFUSED)).scalar_one_or_none()
    if raw is None:
        return None
    try:
        loaded = json.loads(raw)
        return Refusal(str(loaded["reason"]), datetime.fromisoformat(loaded["until"]))
    except (ValueError, KeyError, TypeError):
        return None


def save_refusal(conn: Tx, refusal: Refusal, *, now: datetime) -> None:
    value = json.dumps({"reason": refusal.reason, "until": refusal.until.isoformat()})
    statement = upsert(conn, cursors).values(name=REFUSED, value=value, updated_at=now)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[cursors.c.name],
            set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
        )
    )


def clear_refusal(conn: Tx) -> None:
    conn.execute(delete(cursors).where(cursors.c.name == REFUSED))
