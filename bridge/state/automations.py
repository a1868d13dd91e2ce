"""What the birthday and win-back passes remember: the last shop-local day each processed, kept in the
generic `cursors` table (name → ISO date; no table of their own, so no migration), and what the outbox
knows about the people of a pass (unsubscribed or suppressed addresses, the last win-back per customer).

Each day doubles as its pass's baseline: without one the pass records today and mails nobody, and turning
the setting off forgets it, so turning it on again starts from that day instead of mailing every customer
who lapsed meanwhile (or greeting today's birthdays on the day it is turned on).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Final

from sqlalchemy import delete, select

from bridge.model.automation_kinds import WINBACK
from bridge.model.headers import mask_addresses, mask_email
from bridge.model.records import Customer
from bridge.plan.automations import Reach
from bridge.state import outbox
from bridge.state.store import Tx, cursors, upsert
from bridge.state.unsubscribes import unsubscribed

BIRTHDAY_DAY: Final = "automations.birthday.last_day"
WINBACK_DAY: Final = "automations.winback.last_day"


def last_day(conn: Tx, name: str) -> date | None:
    """The last day the pass named `name` processed (its baseline at first); None before that, or when
    unreadable (a fresh baseline is the safe answer: it mails nobody)."""
    raw = conn.execute(select(cursors.c.value).where(cursors.c.name == name)).scalar_one_or_none()
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def save_day(conn: Tx, name: str, day: date, *, now: datetime) -> None:
    statement = upsert(conn, cursors).values(name=name, value=day.isoformat(), updated_at=now)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[cursors.c.name],
            set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
        )
    )


def forget_day(conn: Tx, name: str) -> None:
    conn.execute(delete(cursors).where(cursors.c.name == name))


def reach(conn: Tx, people: Iterable[Customer], *, winbacks: bool = False) -> Reach:
    """Who of `people` may not be written to (unsubscribed, suppressed after a bounce), and, with
    `winbacks`, when each was last sent a win-back. Reasons are stored: addresses are masked in them."""
    blocked: dict[str, str] = {}
    last: dict[int, datetime] = {}
    for customer in people:
        email = customer.email.strip()
        gone = unsubscribed(conn, email) if email else None
        bounced = outbox.is_suppressed(conn, email) if email else None
        if gone is not None:
            blocked[email.lower()] = (
                f"{mask_email(email)} unsubscribed from marketing mail ({gone.source}, "
                f"{gone.created_at:%Y-%m-%d})"
            )
        elif bounced is not None:
            blocked[email.lower()] = f"{mask_email(email)} is suppressed: {mask_addresses(bounced)}"
        if winbacks:
            when = outbox.last_marketing_to_customer(conn, customer.id, WINBACK)
            if when is not None:
                last[customer.id] = when
    return Reach(blocked, last)
