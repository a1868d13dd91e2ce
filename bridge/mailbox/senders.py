"""A second sender: another bridge sending as this account, seen in the Sent folder.

Every email of the outbox carries `X-Bridge-Key: <store id> <idempotency key>` (bridge.model.bridge_key).
Two bridges polling one shop would each send every customer email, so the Sent folder's new messages are
read (their X-Bridge-Key and Message-ID headers only, BODY.PEEK, since the folder's cursor) and a message
carrying our header is:

- ours when its store id is this store's, or when this store made an email with that idempotency key and
  that Message-ID (an earlier life of this store, under an older id);
- accepted when the owner confirmed its store id before (`bridge mailbox confirm-sender`);
- else foreign: the owner is alerted (ADMIN_EMAIL, once per incident: bridge.alerts.second_sender) with
  where it came from (the Message-ID's domain and the other store's id), and marketing mail waits until the
  owner confirms (bridge.delivery.marketing asks `bridge.state.mailbox.second_sender`).

A message without the header (the owner's own mail, a test email) says nothing. The first look, or a look
after UIDVALIDITY changed, only records where the folder stands.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from bridge.mailbox.client import MailboxReader
from bridge.model.bridge_key import HEADER, parse_bridge_key
from bridge.state import mailbox as state
from bridge.state.store import Store

log = logging.getLogger(__name__)

ROLE: Final = "sent"
LOOKED_AT: Final = (HEADER, "Message-ID")
_NOT_DOMAIN: Final = re.compile(r"[^a-z0-9.-]")  # what another sender wrote reaches a log and an email


@dataclass
class Senders:
    """What one look at the Sent folder found."""

    ours: int = 0
    foreign: dict[str, str] = field(default_factory=dict)  # store id → Message-ID domain, not accepted


def read_senders(store: Store, reader: MailboxReader, *, now: datetime) -> Senders:
    """Read the Sent folder's new messages (see the module doc), record a foreign one, move the cursor."""
    found = Senders()
    folder = reader.examine(reader.sent_folder())
    cursor = state.load_cursor(store, ROLE)
    if cursor is None or cursor.uidvalidity != folder.uidvalidity:
        last = max(folder.uidnext - 1, 0)
        state.save_cursor(store, ROLE, uidvalidity=folder.uidvalidity, last_uid=last, now=now)
        return found
    uids = reader.uids_after(cursor.last_uid)
    own_id = state.ensure_store_id(store, now=now)
    with store.read() as conn:
        accepted = state.accepted_senders(conn)
        for headers in reader.headers(uids, LOOKED_AT) if uids else []:
            parsed = parse_bridge_key(headers.fields.get(HEADER.lower(), ""))
            if parsed is None:
                continue
            store_id, key = parsed
            if store_id == own_id or state.is_own_email(conn, key, headers.message_id):
                found.ours += 1
            elif store_id not in accepted:
                found.foreign[store_id] = message_id_domain(headers.message_id)
    for store_id, domain in found.foreign.items():
        state.record_second_sender(store, store_id, domain, now=now)
        log.warning(
            "a second sender: the Sent folder has an email of another bridge (store %s, Message-ID domain"
            " %s); marketing mail waits until `bridge mailbox confirm-sender`",
            store_id,
            domain,
        )
    state.save_cursor(
        store, ROLE, uidvalidity=folder.uidvalidity, last_uid=max([cursor.last_uid, *uids]), now=now
    )
    return found


def message_id_domain(message_id: str) -> str:
    """`<…@sklep.example.pl>` → `sklep.example.pl` ("?" when the header has no domain)."""
    domain = message_id.strip().strip("<>").rpartition("@")[2].lower()
    return _NOT_DOMAIN.sub("", domain)[:100] or "?"
