"""Settle unknown sends from the Sent folder: did Gmail accept the message whose answer never came?

SMTP cannot tell (the connection dropped after the final dot, or the bridge died there); Gmail can: it
files a copy of every message it accepts in the account's Sent folder, with our Message-ID. So, for each
`unknown` email once IMAP_SETTLE_AFTER has passed since its send:

- its Message-ID is in the Sent folder → sent (never sent again);
- it is not, and IMAP_SETTLE_WINDOW has passed → queued again with the same Message-ID (at-least-once; a
  recipient's Gmail shows two copies with one Message-ID as one);
- it is not yet → asked again at the next cycle;
- the mailbox cannot be read → nothing changes: the email stays held (`unknown`) for the owner, as with
  UNKNOWN_POLICY=hold, and the next cycle asks again.

Each settlement is written into the row with the SETTLED prefix, which `bridge explain` shows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from bridge.config import format_duration
from bridge.config.mailbox import Mailbox
from bridge.mailbox.client import MailboxError, MailboxReader, open_mailbox
from bridge.state import mailbox as state
from bridge.state.store import Store

log = logging.getLogger(__name__)

SETTLED: Final = "from the mailbox: "  # how the mailbox settled an email, in its row
Opener = Callable[[Mailbox], AbstractContextManager[MailboxReader]]


@dataclass
class Settled:
    """What one look at the Sent folder did."""

    found: int = 0
    resent: int = 0
    waiting: int = 0
    error: str | None = None  # the mailbox could not be read: every unknown email stays held


def due_sends(store: Store, mailbox: Mailbox, *, now: datetime) -> list[state.UnknownSend]:
    """The unknown sends to look up now: IMAP_SETTLE_AFTER has passed since each was cut off."""
    return [send for send in state.unknown_sends(store) if now - send.since >= mailbox.settle_after]


def settle_unknown(
    store: Store, mailbox: Mailbox, *, now: datetime, opener: Opener = open_mailbox
) -> Settled:
    """Look up the unknown sends that are due in the Sent folder and settle them (see the module doc)."""
    due = due_sends(store, mailbox, now=now)
    if not due:
        return Settled()
    try:
        with opener(mailbox) as reader:
            return settle_in(store, reader, due, mailbox, now=now)
    except MailboxError as error:
        log.warning("%d unknown send(s) stay held: the mailbox cannot be read: %s", len(due), error)
        return Settled(error=str(error))


def settle_in(
    store: Store, reader: MailboxReader, due: list[state.UnknownSend], mailbox: Mailbox, *, now: datetime
) -> Settled:
    """Settle `due` through an open session (MailboxError goes to the caller: they stay held)."""
    result = Settled()
    if due:
        folder = reader.sent_folder()
        reader.examine(folder)
        for send in due:
            _settle_one(store, reader, folder, send, mailbox, now, result)
    return result


def _settle_one(
    store: Store,
    reader: MailboxReader,
    folder: str,
    send: state.UnknownSend,
    mailbox: Mailbox,
    now: datetime,
    result: Settled,
) -> None:
    copy = _sent_copy(reader, send.message_id)
    if copy is not None:
        uid, filed = copy
        note = f"{SETTLED}found in the Sent folder {folder!r} (UID {uid}): the server accepted it"
        if state.settle_as_sent(store, send.id, now=now, sent_at=filed or send.since, note=note):
            log.info("outbox #%s: found in the Sent folder, Message-ID %s: sent", send.id, send.message_id)
            result.found += 1
        return
    if now - send.since < mailbox.settle_window:
        result.waiting += 1
        return
    window = format_duration(mailbox.settle_window)
    note = f"{SETTLED}not in the Sent folder {folder!r} {window} after the send: sent again, same Message-ID"
    if state.settle_for_resend(store, send.id, now=now, note=note):
        log.warning("outbox #%s: not in the Sent folder after %s: sent again", send.id, window)
        result.resent += 1


def _sent_copy(reader: MailboxReader, message_id: str) -> tuple[int, datetime | None] | None:
    """The UID and filing time of the Sent copy with exactly this Message-ID (IMAP's SEARCH HEADER
    matches substrings: the header is read back and compared)."""
    uids = reader.find_message_id(message_id)
    for headers in reader.headers(uids, ["Message-ID"]) if uids else []:
        if headers.message_id.strip() == message_id:
            return headers.uid, headers.internal_date
    return None


def settled_note(text: str | None) -> str | None:
    """How the mailbox settled an email, from its SMTP reply or last error; None when it did not."""
    if text and text.startswith(SETTLED):
        return text.removeprefix(SETTLED)
    return None
