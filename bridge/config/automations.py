"""Birthday and win-back emails (issue 18 "Automations"): each off by default, each marketing mail.

Both go only while marketing mail is on (UNSUBSCRIBE_URL) and only to customers whose consent counts
(MARKETING_CONSENT). A discount setting makes the email carry a personal single-use code, created in the
shop just before the email is sent (the webservice key then needs POST on cart_rules).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Final, TypedDict

from bridge.config.marketing import UNSUBSCRIBE_URL
from bridge.config.parse import Invalid, parse_bool, parse_int
from bridge.config.reader import Reader, Setting
from bridge.model.automations import Discount

_DISCOUNT: Final = re.compile(r"(?P<number>[0-9]+(?:[.,][0-9]{1,2})?)\s*(?P<percent>%?)")
MAX_AMOUNT: Final = Decimal(100_000)


def parse_discount(raw: str) -> Discount:
    """`10%` (off the products) or `20` (an amount in the shop's default currency, tax included)."""
    match = _DISCOUNT.fullmatch(raw.strip())
    try:
        value = Decimal(match["number"].replace(",", ".")) if match else Decimal(0)
    except InvalidOperation:
        value = Decimal(0)
    if match and match["percent"]:
        if not Decimal(0) < value <= Decimal(100):
            raise Invalid("must be a percentage between 0.01% and 100%, like 10%")
        return Discount(percent=value)
    if not Decimal(0) < value <= MAX_AMOUNT:
        raise Invalid(
            "must be a percentage like 10% or an amount like 20 (in the shop's default currency), or empty"
        )
    return Discount(amount=value)


BIRTHDAY_EMAILS = Setting(
    "BIRTHDAY_EMAILS",
    "off",
    parse_bool,
    "on: a greeting on each consenting customer's birthday (the shop's `birthday` field), once a year.",
)
BIRTHDAY_HOUR = Setting(
    "BIRTHDAY_HOUR",
    "9",
    parse_int(0, 23),
    "The hour (0-23, the shop's time zone) from which birthday greetings go out that day.",
)
BIRTHDAY_DISCOUNT = Setting(
    "BIRTHDAY_DISCOUNT",
    "",
    parse_discount,
    "A personal single-use code in the birthday email: 10% off, or an amount like 20. Empty: no code.",
)
BIRTHDAY_DISCOUNT_DAYS = Setting(
    "BIRTHDAY_DISCOUNT_DAYS",
    "14",
    parse_int(1, 365),
    "How many days a birthday code stays valid, counted from the moment the email is sent.",
)
WINBACK_AFTER_DAYS = Setting(
    "WINBACK_AFTER_DAYS",
    "0",
    parse_int(0, 3650),
    "Win-back: invite back a consenting customer whose last order is this many days old. 0: off.",
)
WINBACK_HOUR = Setting(
    "WINBACK_HOUR",
    "10",
    parse_int(0, 23),
    "The hour (0-23, the shop's time zone) from which the day's win-back emails go out.",
)
WINBACK_DISCOUNT = Setting(
    "WINBACK_DISCOUNT",
    "",
    parse_discount,
    "A personal single-use code in the win-back email: 10% off, or an amount like 20. Empty: no code.",
)
WINBACK_DISCOUNT_DAYS = Setting(
    "WINBACK_DISCOUNT_DAYS",
    "14",
    parse_int(1, 365),
    "How many days a win-back code stays valid, counted from the moment the email is sent.",
)
AUTOMATION_SETTINGS: Final = (
    BIRTHDAY_EMAILS,
    BIRTHDAY_HOUR,
    BIRTHDAY_DISCOUNT,
    BIRTHDAY_DISCOUNT_DAYS,
    WINBACK_AFTER_DAYS,
    WINBACK_HOUR,
    WINBACK_DISCOUNT,
    WINBACK_DISCOUNT_DAYS,
)


class AutomationFields(TypedDict):
    birthday_emails: bool
    birthday_hour: int
    birthday_discount: Discount | None
    birthday_discount_days: int
    winback_after_days: int
    winback_hour: int
    winback_discount: Discount | None
    winback_discount_days: int


def check_automations(reader: Reader) -> None:
    """An automation turned on while marketing mail is off sends nothing: say so (a warning, not a problem:
    the owner may be setting things up in steps)."""
    if reader.read(UNSUBSCRIBE_URL):
        return
    wanted = [
        name
        for name, on in (
            (BIRTHDAY_EMAILS.name, reader.read(BIRTHDAY_EMAILS)),
            (WINBACK_AFTER_DAYS.name, bool(reader.read(WINBACK_AFTER_DAYS))),
        )
        if on
    ]
    if wanted:
        names = " and ".join(wanted)
        reader.warn(f"{names}: marketing mail is off, so none is sent; set UNSUBSCRIBE_URL to turn it on")


def automation_fields(reader: Reader) -> AutomationFields:
    """Asked once there is no problem."""
    return AutomationFields(
        birthday_emails=reader.value(BIRTHDAY_EMAILS),
        birthday_hour=reader.value(BIRTHDAY_HOUR),
        birthday_discount=reader.read(BIRTHDAY_DISCOUNT),
        birthday_discount_days=reader.value(BIRTHDAY_DISCOUNT_DAYS),
        winback_after_days=reader.value(WINBACK_AFTER_DAYS),
        winback_hour=reader.value(WINBACK_HOUR),
        winback_discount=reader.read(WINBACK_DISCOUNT),
        winback_discount_days=reader.value(WINBACK_DISCOUNT_DAYS),
    )
