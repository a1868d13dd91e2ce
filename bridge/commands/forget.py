"""`bridge forget ADDRESS`: erase what the state store holds about one person, and say what was erased.

A customer's request to be forgotten (GDPR art. 17) reaches the owner, who runs this once. Every email to
the address keeps only its record (so none is ever sent twice) and the keyed hash of the address; waiting
emails are cancelled; the customer's cart reminder series and discount codes go. An unsubscribe or a
suppression is the one thing kept, as the keyed hash: the address must stay refused, and the hash
recognises it without holding it (bridge.state.retention).

Only the state store is touched, never the shop: the customer's account, orders and discount codes live
there, and the owner erases them there. A later order from the same customer is a new order: the bridge
writes to them about it, as it should.
"""

from __future__ import annotations

from datetime import datetime

from bridge.commands.explain import printable
from bridge.errors import ConfigError
from bridge.state.retention import Erased, forget
from bridge.state.store import Store
from bridge.state.unsubscribes import normalise_email


def checked_address(given: str) -> str:
    """The address to forget, normalised; ConfigError for anything that is not one."""
    address = normalise_email(given)
    local, _, domain = address.rpartition("@")
    if not local or "." not in domain or any(ch.isspace() for ch in address):
        raise ConfigError(f"not an email address: {printable(given)!r}; give the customer's address")
    return address


def forget_lines(store: Store, given: str, *, now: datetime, dry_run: bool = False) -> list[str]:
    """Erase (or, for a dry run, only count) what the store holds about the address; the lines to print."""
    address = checked_address(given)
    erased = forget(store, address, now=now, dry_run=dry_run)
    shown = printable(address)
    if not erased.seen:
        return [f"The state store holds nothing about {shown}: there is nothing to erase."]
    head = (
        f"Would erase what the state store holds about {shown} (--dry-run: nothing was changed):"
        if dry_run
        else f"Erased what the state store held about {shown}:"
    )
    lines = [head, *_counts(erased)]
    lines.append(
        "Kept: each email's record (kind, order, dates, status, Message-ID), so none is sent twice. The shop"
        " still has the customer's account and orders: erase them there. A new order from this customer is"
        " a new email, and the bridge sends it."
    )
    return lines


def _counts(erased: Erased) -> list[str]:
    """One line per kind of data."""
    lines = [
        f"  emails: {erased.emails} (address, name, content and the server's replies removed)",
        f"  waiting emails cancelled: {erased.cancelled} (they will not be sent)",
        f"  attempt log entries scrubbed: {erased.attempts}",
    ]
    if erased.earlier:
        lines.append(f"  emails erased earlier: {erased.earlier} (only a keyed hash of the address was left)")
    if erased.sending:
        lines.append(
            f"  emails being sent this very moment: {erased.sending} (left as they are: run"
            " `bridge forget` again once they are sent)"
        )
    lines.append(
        "  unsubscribe: kept as a keyed hash of the address, so it stays unsubscribed from marketing mail"
        if erased.unsubscribed
        else "  unsubscribe: none"
    )
    lines.append(
        "  suppression: kept as a keyed hash of the address, so mail to it stays blocked"
        if erased.suppressed
        else "  suppression: none"
    )
    lines.append(f"  cart reminder series: {erased.series}")
    lines.append(f"  discount codes: {erased.codes} (a code stays in the shop: Catalog → Discounts)")
    return lines
