"""A personal single-use discount code asked for by a marketing email, and the code it became.

A campaign, birthday or win-back email that offers a personal code carries a `PersonalCodeRequest` in its
outbox context (`context["personal_code"]`). The code is created in the shop only just before the email is
sent (bridge.delivery.codes), never when the email is queued: a campaign stopped half-way leaves no unused
codes. Delivery then renders the email with `context["code"]`, a `PersonalCode`. Both are plain JSON so they
live in the outbox row's context.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Final, TypedDict

CODE_ALPHABET: Final = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: customers type these
MAX_PREFIX: Final = 20


class PersonalCodeRequest(TypedDict):
    """What the code must be; amounts are decimal strings, exactly one of `percent`/`amount` is set."""

    prefix: str  # readable start of the code, e.g. "BF" -> "BF-7KQ2M9XA" (letters/digits, upper case)
    percent: str | None  # "10"
    amount: str | None  # "20.00", in the shop's default currency (tax included)
    valid_days: int  # counted from the moment the email is sent
    minimum_amount: str | None  # the order total (tax included) the code needs, or None
    free_shipping: bool
    description: str  # shown to the merchant in Catalog → Discounts, e.g. "campaign black-friday-2026"
    name: str  # shown to the customer in the cart and on the invoice (in the email's language)


class PersonalCode(TypedDict):
    """The code created for one email, as its templates read it (`code.code`, `code.valid_until`)."""

    code: str
    percent: str | None
    amount: str | None
    currency: str  # ISO code of `amount`/`minimum_amount`, e.g. "PLN"
    minimum_amount: str | None
    free_shipping: bool
    valid_until: str  # ISO 8601, UTC: formatted in the customer's language by the templates


def random_code(prefix: str = "", *, length: int = 8, choice: Callable[[str], str] = secrets.choice) -> str:
    """A code a customer can type: the prefix's letters and digits (upper case, at most 20) and a hyphen, then
    `length` random characters of CODE_ALPHABET ("BF-7KQ2M9XA"; "7KQ2M9XAPL" without a prefix)."""
    readable = re.sub(r"[^A-Z0-9]", "", prefix.upper())[:MAX_PREFIX]
    tail = "".join(choice(CODE_ALPHABET) for _ in range(length))
    return f"{readable}-{tail}" if readable else tail
