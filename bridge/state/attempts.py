"""What the attempt log says was sent: the sends the sending budget counts (bridge.delivery.budget).

The budget is counted from the log in the store, never from a counter in memory, so `bridge run`,
`bridge sync` and a restarted bridge share one budget. A send counts when the server accepted it, and also
when the message was handed over but its outcome is unknown or not yet recorded (the server may have taken
it: Gmail would count it). Refusals do not count.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, or_, select, union_all

from bridge.state.store import outbox_attempts


def send_times(conn: Connection, since: datetime) -> list[datetime]:
    """When each counted send after `since` happened, oldest first."""
    accepted = select(outbox_attempts.c.finished_at.label("at")).where(
        outbox_attempts.c.outcome == "sent", outbox_attempts.c.finished_at > since
    )
    maybe = select(outbox_attempts.c.handed_over_at.label("at")).where(
        or_(outbox_attempts.c.outcome.is_(None), outbox_attempts.c.outcome == "unknown"),
        outbox_attempts.c.handed_over_at > since,
    )
    both = union_all(accepted, maybe).subquery()
    return sorted(at for at in conn.execute(select(both.c.at)).scalars() if at is not None)
