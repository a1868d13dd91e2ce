"""What the owner reads about the mailbox: `bridge status`'s line, and `bridge mailbox confirm-sender`."""

from __future__ import annotations

from datetime import datetime, timedelta

from bridge.alerts import second_sender_key
from bridge.config import Settings
from bridge.mailbox.bounces import ROLE
from bridge.state import mailbox as state
from bridge.state.outbox import Status, counts_by_status, find
from bridge.state.store import Store


def status_line(store: Store, settings: Settings, *, now: datetime) -> str:
    """IMAP off, or when the Inbox was last read, the last day's bounces and the unknown sends waiting;
    and a second sender waiting for the owner's confirmation (marketing mail paused)."""
    mailbox = settings.mailbox
    other = second_sender_line(store)
    if mailbox is None:
        return "not read (IMAP=off): a send cut off after the handover is held for you" + other
    cursor = state.load_cursor(store, ROLE)
    looked = "never read yet" if cursor is None else f"Inbox read {_ago(now - cursor.looked_at)} ago"
    day = state.bounce_summary(store, since=now - timedelta(days=1))
    unknown = counts_by_status(store)[Status.UNKNOWN]
    return (
        f"{mailbox.username} on {mailbox.host}, {looked}; last 24 h: {day.permanent} permanent and"
        f" {day.soft} soft bounce(s), {day.suppressed} address(es) suppressed; {unknown} unknown send(s)"
        " waiting for the Sent folder" + other
    )


def second_sender_line(store: Store) -> str:
    """ "" without a second sender; else the pause it causes, where it came from, and the owner's alert."""
    with store.read() as conn:
        other = state.second_sender(conn)
        alert = find(conn, second_sender_key(other.since)) if other is not None else None
    if other is None:
        return ""
    where = ", ".join(
        f"store {store_id} (Message-ID domain {at})" for store_id, at in sorted(other.senders.items())
    )
    told = (
        f"owner alert #{alert.id}: {alert.status.value}"
        if alert is not None
        else "no owner alert (ADMIN_EMAIL)"
    )
    return (
        f"; MARKETING PAUSED since {other.since:%Y-%m-%d %H:%M} UTC: another bridge sends as this account"
        f" ({where}); {told}; run `bridge mailbox confirm-sender` once it is stopped or meant to be"
    )


def confirm_sender(store: Store, *, now: datetime) -> str:
    """`bridge mailbox confirm-sender`: the owner knows about the second sender; marketing goes again."""
    confirmed = state.confirm_second_sender(store, now=now)
    if confirmed is None:
        return "No second sender is waiting for confirmation: marketing mail is not paused for one."
    stores = ", ".join(sorted(confirmed.senders))
    return (
        f"Confirmed: the emails of store {stores} in the Sent folder are no longer reported, and marketing"
        " mail goes again. Another bridge seen later is reported again."
    )


def _ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h"
