"""The sender's pause: the one `sender_state` row that holds back every email (Gmail's quota, a login).

Delivery decides when to pause and when to lift it (bridge.delivery.deliver); this module keeps the pause
across processes. The pause's kind is stored in front of its reason (`quota: 550 5.4.5 …`), so a later
successful login can lift a login pause and leave a quota pause alone. A credentials pause also keeps the
fingerprint of the login that was refused (a hash, never the password), so a run given other credentials
knows to try them at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from sqlalchemy import Connection, select, update

from bridge.state.store import sender_state, upsert

PauseKind = Literal["quota", "login", "credentials"]
PAUSE_KINDS: Final[tuple[PauseKind, ...]] = ("quota", "login", "credentials")


@dataclass(frozen=True)
class Pause:
    """The sender is paused until `until`: Gmail's quota, or a refused login (`kind` None: not known).
    `credentials` fingerprints the login refused, for a credentials pause (None: not recorded)."""

    until: datetime
    kind: PauseKind | None
    reason: str
    credentials: str | None = None

    def __str__(self) -> str:
        return f"sending paused until {self.until:%Y-%m-%d %H:%M} UTC: {self.reason}"


def load_pause(conn: Connection) -> Pause | None:
    """The pause last recorded, whether or not it has run out (None: none recorded, or lifted)."""
    row = conn.execute(select(sender_state).where(sender_state.c.id == 1)).first()
    if row is None or row.paused_until is None:
        return None
    tag, _, text = (row.pause_reason or "").partition(": ")
    for kind in PAUSE_KINDS:
        if tag == kind:
            return Pause(row.paused_until, kind, text, row.pause_credentials)
    return Pause(row.paused_until, None, row.pause_reason or "", row.pause_credentials)


def save_pause(conn: Connection, pause: Pause, *, now: datetime) -> None:
    """Pause the whole sender (replacing any earlier pause)."""
    values = {
        "paused_until": pause.until,
        "pause_reason": f"{pause.kind}: {pause.reason}" if pause.kind is not None else pause.reason,
        "pause_credentials": pause.credentials,
        "updated_at": now,
    }
    statement = upsert(conn, sender_state).values(id=1, **values)
    conn.execute(statement.on_conflict_do_update(index_elements=[sender_state.c.id], set_=values))


def clear_pause(conn: Connection, *, now: datetime) -> None:
    """Forget the pause: it ran out and mail goes again, or a login lifted it."""
    conn.execute(
        update(sender_state)
        .where(sender_state.c.id == 1)
        .values(paused_until=None, pause_reason=None, pause_credentials=None, updated_at=now)
    )
