"""Bounces: read the Inbox's new messages since the last look, keep the delivery status notifications
about our emails, and suppress the addresses that failed for good.

Only the headers of new messages are read (From, Content-Type); a message that looks like a DSN
(multipart/report, or from a mailer-daemon or postmaster) is read whole, BODY.PEEK, up to 256 KB. It is
matched to our email by Message-ID (bridge.mailbox.dsn); a DSN about no email of ours is left alone.
A permanent failure (5.x.x) suppresses the address for all later mail, transactional included, with the
DSN's reason; a soft one (4.x.x) is counted, and the BOUNCE_SOFT_LIMIT-th suppresses. The first look, or
a look after the folder's UIDVALIDITY changed, only records where the Inbox stands.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from bridge.mailbox.client import INBOX, Headers, MailboxReader
from bridge.mailbox.dsn import Bounce, parse_dsn
from bridge.mailbox.settle import SETTLED
from bridge.model.headers import mask_addresses, mask_email
from bridge.state import mailbox as state
from bridge.state.store import Store

log = logging.getLogger(__name__)

ROLE: Final = "inbox"
LOOKED_AT: Final = ("From", "Content-Type")


@dataclass
class Bounces:
    """What one look at the Inbox found."""

    permanent: int = 0
    soft: int = 0
    suppressed: int = 0


def read_bounces(store: Store, reader: MailboxReader, *, now: datetime, soft_limit: int) -> Bounces:
    """Read the Inbox since the last look (see the module doc) and move its cursor."""
    found = Bounces()
    folder = reader.examine(INBOX)
    cursor = state.load_cursor(store, ROLE)
    if cursor is None or cursor.uidvalidity != folder.uidvalidity:
        last = max(folder.uidnext - 1, 0)
        state.save_cursor(store, ROLE, uidvalidity=folder.uidvalidity, last_uid=last, now=now)
        return found
    uids = reader.uids_after(cursor.last_uid)
    for headers in reader.headers(uids, LOOKED_AT) if uids else []:
        if _looks_like_a_dsn(headers):
            bounce = parse_dsn(reader.message(headers.uid))
            if bounce is not None:
                _apply(store, bounce, headers, folder.uidvalidity, now, soft_limit, found)
    last_uid = max([cursor.last_uid, *uids])
    state.save_cursor(store, ROLE, uidvalidity=folder.uidvalidity, last_uid=last_uid, now=now)
    return found


def _looks_like_a_dsn(headers: Headers) -> bool:
    kind = headers.fields.get("content-type", "").lower()
    sender = headers.fields.get("from", "").lower()
    return "multipart/report" in kind or "mailer-daemon@" in sender or "postmaster@" in sender


def _apply(
    store: Store,
    bounce: Bounce,
    headers: Headers,
    uidvalidity: int,
    now: datetime,
    soft_limit: int,
    found: Bounces,
) -> None:
    emails = state.emails_by_message_id(store, bounce.message_ids)
    if not emails:
        return  # about a message that is not ours (the owner's own mail)
    for failure in bounce.failures:
        kind = "bounced" if failure.permanent else "soft bounce"
        record = state.BounceRecord(
            uidvalidity=uidvalidity,
            uid=headers.uid,
            outbox_id=emails[0],
            address=failure.address,
            status=failure.status,
            permanent=failure.permanent,
            reason=failure.reason,
            received_at=headers.internal_date or now,
        )
        note = f"{SETTLED}{kind} ({failure.status}): {failure.reason}"
        reason = state.record_bounce(store, record, soft_limit=soft_limit, note=note, now=now)
        if failure.permanent:
            found.permanent += 1
        else:
            found.soft += 1
        if reason is not None:
            found.suppressed += 1
            log.warning(
                "outbox #%s: %s %s (%s); the address is suppressed for all later mail",
                emails[0],
                mask_email(failure.address),
                kind,
                mask_addresses(failure.reason),
            )
