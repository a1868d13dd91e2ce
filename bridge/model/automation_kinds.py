"""The birthday and win-back emails (issue 18 "Automations"): their names, contexts and samples. Declared in
`bridge.model.kinds` (KINDS); kept here so that module stays readable.

Both are marketing: consent when queued and again at send time, the one-click unsubscribe from the shared
layout. Either may offer a personal single-use code: the pass that queues the email puts a
`PersonalCodeRequest` under `personal_code` (bridge.model.codes), delivery creates the code in the shop just
before sending and renders the email with `code`; without a discount setting neither key is there, and the
templates say nothing about a code.

No `from __future__ import annotations` here: Python 3.11 reads `NotRequired` only from evaluated
annotations, and `Kind.required_keys` (what the renderer insists on) comes from them.
"""

from typing import TYPE_CHECKING, Final, NotRequired, TypedDict

from bridge.model.codes import PersonalCode, PersonalCodeRequest
from bridge.model.samples import CUSTOMER, CUSTOMER_NO_FIRST_NAME

if TYPE_CHECKING:  # kinds.py declares these and imports this module
    from bridge.model.kinds import Customer

BIRTHDAY: Final = "birthday"
WINBACK: Final = "winback"
# In the daily budget (lower first): after the customers' order emails and with the cart reminders; a
# win-back can wait a day longer than a birthday greeting can.
BIRTHDAY_PRIORITY: Final = 5
WINBACK_PRIORITY: Final = 6


class BirthdayContext(TypedDict):
    """Marketing: the customer's birthday today (BIRTHDAY_EMAILS), in the shop's time zone."""

    customer: "Customer"
    personal_code: NotRequired[PersonalCodeRequest]  # for delivery (BIRTHDAY_DISCOUNT); templates ignore it
    code: NotRequired[PersonalCode]  # the code delivery created just before sending; absent: no code


class LastOrder(TypedDict):
    date: str  # ISO instant the customer's last order was placed, "" when the shop did not say


class WinbackContext(TypedDict):
    """Marketing: the customer's last order is WINBACK_AFTER_DAYS old and nothing was ordered since."""

    customer: "Customer"
    last_order: LastOrder
    days: int  # WINBACK_AFTER_DAYS when the email was queued
    personal_code: NotRequired[PersonalCodeRequest]  # for delivery (WINBACK_DISCOUNT); templates ignore it
    code: NotRequired[PersonalCode]  # the code delivery created just before sending; absent: no code


# --- Samples (the shared building blocks: bridge.model.samples) ----------------------------------------

_BIRTHDAY_REQUEST: PersonalCodeRequest = {
    "prefix": "URODZINY",
    "percent": "15",
    "amount": None,
    "valid_days": 14,
    "minimum_amount": None,
    "free_shipping": False,
    "description": "birthday 2026, customer #42",
    "name": "Prezent urodzinowy",
}

BIRTHDAY_SAMPLE: BirthdayContext = {
    "customer": CUSTOMER,
    "personal_code": _BIRTHDAY_REQUEST,
    "code": {
        "code": "URODZINY-7KQ2M9XA",
        "percent": "15",
        "amount": None,
        "currency": "PLN",
        "minimum_amount": None,
        "free_shipping": False,
        "valid_until": "2026-12-11T09:00:00+00:00",
    },
}
# BIRTHDAY_DISCOUNT empty: a greeting alone.
BIRTHDAY_NO_CODE: BirthdayContext = {"customer": CUSTOMER_NO_FIRST_NAME}

WINBACK_SAMPLE: WinbackContext = {
    "customer": CUSTOMER,
    "last_order": {"date": "2026-08-29T18:42:00+00:00"},
    "days": 90,
    "personal_code": {
        **_BIRTHDAY_REQUEST,
        "prefix": "WRACAJ",
        "percent": None,
        "amount": "20.00",
        "minimum_amount": "100.00",
        "description": "win-back, customer #42, last order #1042",
        "name": "Rabat na powrót",
    },
    "code": {
        "code": "WRACAJ-4HN8R2PW",
        "percent": None,
        "amount": "20.00",
        "currency": "PLN",
        "minimum_amount": "100.00",
        "free_shipping": False,
        "valid_until": "2026-12-11T09:00:00+00:00",
    },
}
# WINBACK_DISCOUNT empty, a shop that did not date the order: the invitation alone.
WINBACK_NO_CODE: WinbackContext = {"customer": CUSTOMER, "last_order": {"date": ""}, "days": 90}
