"""The mailbox step of the cycle, run before delivery, in one IMAP session: settle the unknown sends from
the Sent folder (bridge.mailbox.settle), then read the Inbox's new bounces (bridge.mailbox.bounces) and the
Sent folder's new messages for a second sender (bridge.mailbox.senders), at most every INBOX_EVERY so that
a busy `bridge run` does not log in to Gmail every minute. While a second sender waits for the owner's
confirmation, the owner's alert about it is queued (once: bridge.alerts.second_sender), ahead of the
delivery that follows.

With IMAP off it does nothing, and UNKNOWN_POLICY alone decides about unknown sends; with IMAP on the Sent
folder decides, so the policy the delivery applies is `hold` (`unknown_policy`). A mailbox that cannot be
read is logged and tried again INBOX_EVERY later: unknown sends stay held, sending goes on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from bridge import alerts
from bridge.config import Settings
from bridge.mailbox import bounces as inbox
from bridge.mailbox import senders as sent
from bridge.mailbox.client import MailboxError, open_mailbox
from bridge.mailbox.settle import Opener, Settled, due_sends, settle_in
from bridge.state import mailbox as state
from bridge.state.outbox import UnknownPolicy
from bridge.state.store import Store

log = logging.getLogger(__name__)

INBOX_EVERY: Final = timedelta(minutes=5)
# After a failed login (IMAP not enabled in Gmail, a revoked password) this process waits as long before
# the next try: `bridge run` delivers every minute, and Gmail counts failed logins.
_failed_at: dict[tuple[str, int, str], datetime] = {}


@dataclass
class Look:
    """What one mailbox step did."""

    settled: Settled = field(default_factory=Settled)
    bounces: inbox.Bounces | None = None  # None: the Inbox was not due
    senders: sent.Senders | None = None  # None: the Sent folder was not read for senders
    error: str | None = None


def look(store: Store, settings: Settings, *, now: datetime, opener: Opener = open_mailbox) -> Look | None:
    """Settle and read what is due; None when IMAP is off. Never raises for the mailbox's sake: an
    unreadable mailbox leaves the unknown sends held and says why (`Look.error`)."""
    mailbox = settings.mailbox
    if mailbox is None:
        return None
    due = due_sends(store, mailbox, now=now)
    cursor = state.load_cursor(store, inbox.ROLE)
    inbox_due = cursor is None or now - cursor.looked_at >= INBOX_EVERY
    result = Look()
    failed = _failed_at.get((mailbox.host, mailbox.port, mailbox.username))
    if (not due and not inbox_due) or (failed is not None and now - failed < INBOX_EVERY):
        return result
    try:
        with opener(mailbox) as reader:
            result.settled = settle_in(store, reader, due, mailbox, now=now)
            if inbox_due:
                limit = mailbox.bounce_soft_limit
                result.bounces = inbox.read_bounces(store, reader, now=now, soft_limit=limit)
                result.senders = sent.read_senders(store, reader, now=now)
    except MailboxError as error:
        _failed_at[(mailbox.host, mailbox.port, mailbox.username)] = now
        result.error = result.settled.error = str(error)
        held = f"; {len(due)} unknown send(s) stay held" if due else ""
        log.warning("the mailbox cannot be read%s: %s", held, error)
    _alert_second_sender(store, settings, now)
    return result


def _alert_second_sender(store: Store, settings: Settings, now: datetime) -> None:
    """Queue the owner's alert while a second sender waits for confirmation (a no-op once queued)."""
    with store.read() as conn:
        incident = state.second_sender(conn)
    if incident is not None:
        alerts.second_sender(store, settings, now=now, since=incident.since, senders=incident.senders)


def unknown_policy(settings: Settings) -> UnknownPolicy:
    """What delivery does with unknown sends itself: with IMAP on, nothing (the mailbox settles them)."""
    return "hold" if settings.mailbox is not None else settings.unknown_policy
