"""Who a reply reaches: the shop, or (for the owner's alerts about a customer) that customer.

An owner's alert about a new order or a customer's message is answered to the customer: the kind names the
context key of the person (`Kind.reply_to`), and that person's address becomes the Reply-To. An address that
cannot be written safely (shop data is written by strangers) leaves the shop's own Reply-To.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, Final

from bridge.model.headers import make_address
from bridge.model.identity import ShopIdentity
from bridge.model.kinds import Kind

# One address, nothing around it: a shop field with a comma or spaces is not an address to reply to.
_PLAIN_ADDRESS: Final = re.compile(r"[^\s@<>(),;:\"\[\]\\]+@[^\s@<>(),;:\"\[\]\\]+\.[^\s@<>(),;:\"\[\]\\]+")


def replying_to(kind: Kind, context: Mapping[str, Any], shop: ShopIdentity) -> ShopIdentity:
    """`shop` with its Reply-To replaced by the person the kind's `reply_to` key names, when there is one."""
    person = context.get(kind.reply_to) if kind.reply_to else None
    if not isinstance(person, Mapping):
        return shop
    address = str(person.get("email") or "").strip()
    if not _PLAIN_ADDRESS.fullmatch(address):
        return shop
    name = " ".join(str(person.get(key) or "").strip() for key in ("first_name", "last_name")).strip()
    try:
        checked = make_address(name, address)
    except ValueError:
        return shop
    # Without a name, a blank one: the header shows the address alone (an empty name would be the shop's).
    return dataclasses.replace(shop, reply_to_email=address, reply_to_name=checked.display_name or " ")
