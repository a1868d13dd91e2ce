"""Which of many addresses may not get marketing mail, asked a batch at a time: the ones that unsubscribed
and the ones suppressed after a permanent bounce, found as they are or as the keyed hash `bridge forget`
left (bridge.state.hashed).

`bridge.state.unsubscribes.unsubscribed` and `bridge.state.outbox.is_suppressed` answer for one address,
in two statements each (the hash key, then the row). The new-product digest asks about 500 subscribers at
a time: one statement per table and 250 addresses instead, so a 50,000-subscriber digest makes about 400
statements, not 200,000 (benchmarks/campaigns.py (c)). The answers are the same: the oldest row of an
address's forms.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Connection, select

from bridge.state.hashed import hash_address, load_key, normalise_email
from bridge.state.store import suppressions, unsubscribes
from bridge.state.unsubscribes import Unsubscribe

_CHUNK: Final = 250  # addresses per statement: with their hashes, 500 values in the IN (…)


@dataclass(frozen=True)
class Blocked:
    """Of the addresses asked about, by their normalised form: how and when each one that unsubscribed did,
    and why each suppressed one is."""

    unsubscribed: dict[str, Unsubscribe]
    suppressed: dict[str, str]


def blocked(conn: Connection, emails: Iterable[str]) -> Blocked:
    """The unsubscribes and suppressions of these addresses (absent: neither)."""
    key = load_key(conn)
    gone: dict[str, Unsubscribe] = {}
    bounced: dict[str, str] = {}
    for chunk in _chunks(sorted({normalise_email(e) for e in emails})):
        forms = {address: address for address in chunk}
        if key is not None:
            forms.update({hash_address(key, address): address for address in chunk})
        found = select(unsubscribes).where(unsubscribes.c.email.in_(list(forms)))
        for row in conn.execute(found.order_by(unsubscribes.c.created_at)):
            gone.setdefault(forms[row.email], Unsubscribe(row.email, row.source, row.created_at))
        reasons = select(suppressions.c.email, suppressions.c.reason).where(
            suppressions.c.email.in_(list(forms))
        )
        for email, reason in conn.execute(reasons.order_by(suppressions.c.created_at)):
            bounced.setdefault(forms[email], reason)
    return Blocked(gone, bounced)


def _chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]
