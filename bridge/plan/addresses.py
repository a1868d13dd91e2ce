"""Whether a customer (and their email address) can be written to, and if not, why, in words the owner
reads.

PrestaShop validates addresses at sign-up, but imports, old modules and the back office let anything into
`customers.email`. An address SMTP would refuse (or Python's header parser would choke on) is skipped with
a reason when the email is decided, rather than failing at delivery time (RFC 5321 §4.5.3.1: a local part
of at most 64 octets, a domain of at most 255, a path of at most 256).
"""

from __future__ import annotations

import re
from typing import Final

from bridge.model.records import Customer

MAX_LOCAL: Final = 64
MAX_ADDRESS: Final = 254
_FORBIDDEN_LOCAL: Final = re.compile(r'[\s()<>\[\]\\,;:"]')
_LABEL: Final = re.compile(r"(?!-)[^\W_](?:[\w-]{0,61}[^\W_])?(?<!-)", re.UNICODE)


def address_problem(email: str) -> str | None:
    """None for an address the bridge may send to; otherwise what is wrong with it."""
    address = email.strip()
    if not address:
        return "it is empty"
    if any(ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 or ch.isspace() for ch in address):
        return "it contains spaces or control characters"
    if address.count("@") != 1:
        return "it has no @" if "@" not in address else "it has more than one @"
    if len(address) > MAX_ADDRESS:
        return f"it is {len(address)} characters long (at most {MAX_ADDRESS})"
    local, domain = address.split("@")
    if not local or len(local) > MAX_LOCAL:
        return f"the part before the @ has {len(local)} characters (1 to {MAX_LOCAL})"
    if local.startswith(".") or local.endswith(".") or ".." in local or _FORBIDDEN_LOCAL.search(local):
        return "the part before the @ is not valid"
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        return f"{domain!r} is not a domain name"
    return None


def is_sendable(email: str) -> bool:
    return address_problem(email) is None


def customer_problem(customer: Customer | None, customer_id: int, *, marketing: bool = False) -> str | None:
    """Why no email can go to this customer (gone, deleted, no usable address), or None. Marketing mail
    also skips a disabled account; order emails still reach it (the order was placed)."""
    if customer is None:
        return f"customer #{customer_id} no longer exists in the shop"
    if customer.deleted:
        return f"customer #{customer.id} was deleted in the shop"
    if marketing and not customer.active:
        return f"customer #{customer.id} is disabled in the shop"
    problem = address_problem(customer.email)
    if problem is not None:
        return f"customer #{customer.id} has no valid email address ({problem})"
    return None
