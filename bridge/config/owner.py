"""The shop owner's business alerts: who hears about the shop's orders and messages, and in which language.

PrestaShop's mail alerts module (ps_emailalerts) told the merchant about every new order and message; with
the shop's mail() gone, the bridge does. ADMIN_EMAIL (bridge.config.service) is about the bridge itself;
OWNER_EMAIL is about the shop's business, and may name several people.
"""

from __future__ import annotations

import re
from email.headerregistry import Address
from typing import Final, TypedDict

from bridge.config.parse import Invalid, parse_address, parse_int, parse_str, parse_url
from bridge.config.reader import Reader, Setting

NEW_ORDER: Final = "new_order"
CUSTOMER_MESSAGE: Final = "customer_message"
DAILY_SUMMARY: Final = "daily_summary"
LOW_STOCK: Final = "low_stock"
ALERT_NAMES: Final = (NEW_ORDER, CUSTOMER_MESSAGE, LOW_STOCK, DAILY_SUMMARY)
DEFAULT_ALERTS: Final = (NEW_ORDER, CUSTOMER_MESSAGE)
_LANGUAGE_TAG: Final = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{2,8})?")


def parse_addresses(raw: str) -> tuple[Address, ...]:
    """One address or several, comma-separated: `Zofia <zofia@example.pl>, biuro@example.pl`."""
    found: list[Address] = []
    for part in raw.split(","):
        if not part.strip():
            continue
        try:
            address = parse_address(part.strip())
        except Invalid:
            raise Invalid(
                "must be email addresses separated by commas, like zofia@example.pl, biuro@example.pl"
            ) from None
        if all(known.addr_spec.lower() != address.addr_spec.lower() for known in found):
            found.append(address)
    return tuple(found)


def parse_alert_names(raw: str) -> frozenset[str]:
    names = {part.strip().lower() for part in parse_str(raw).split(",") if part.strip()}
    unknown = sorted(names - set(ALERT_NAMES))
    if unknown:
        raise Invalid(f"{', '.join(unknown)} is not an alert; choose from {', '.join(ALERT_NAMES)}")
    return frozenset(names)


def parse_language(raw: str) -> str:
    tag = parse_str(raw).strip().lower().replace("_", "-")
    if not _LANGUAGE_TAG.fullmatch(tag):
        raise Invalid("must be a language code like pl or en")
    return tag


OWNER_EMAIL = Setting(
    "OWNER_EMAIL",
    "",
    parse_addresses,
    "Who hears about the shop's business (new orders, customers' messages): one address or several,"
    " comma-separated. Empty: no such alerts.",
)
OWNER_ALERTS = Setting(
    "OWNER_ALERTS",
    ",".join(DEFAULT_ALERTS),
    parse_alert_names,
    "Which alerts OWNER_EMAIL gets: new_order, customer_message, low_stock, daily_summary.",
)
OWNER_LANGUAGE = Setting(
    "OWNER_LANGUAGE",
    "",
    parse_language,
    "The language of OWNER_EMAIL's alerts (pl, en). Empty: the shop's default language.",
)
SHOP_ADMIN_URL = Setting(
    "SHOP_ADMIN_URL",
    "",
    parse_url,
    "The shop's back office address (https://shop.example.com/admin-x7k2): the alerts link to the order."
    " Empty: no links (the address is kept secret unless you give it).",
)
OWNER_SUMMARY_HOUR = Setting(
    "OWNER_SUMMARY_HOUR",
    "8",
    parse_int(0, 23),
    "The hour (0-23, the shop's time zone) the daily summary about the day before goes out (daily_summary).",
)
LOW_STOCK_THRESHOLD = Setting(
    "LOW_STOCK_THRESHOLD",
    "",
    parse_int(0, 1_000_000),
    "The low-stock alert fires when a product's quantity falls to this or below. Empty: the shop's own"
    " PS_LAST_QTIES.",
)
OWNER_SETTINGS: Final = (
    OWNER_EMAIL,
    OWNER_ALERTS,
    OWNER_LANGUAGE,
    SHOP_ADMIN_URL,
    OWNER_SUMMARY_HOUR,
    LOW_STOCK_THRESHOLD,
)


class OwnerFields(TypedDict):
    owner_email: tuple[Address, ...]
    owner_alerts: frozenset[str]
    owner_language: str
    shop_admin_url: str
    owner_summary_hour: int
    low_stock_threshold: int | None


def owner_fields(reader: Reader) -> OwnerFields:
    """Asked once there is no problem."""
    return OwnerFields(
        owner_email=reader.read(OWNER_EMAIL) or (),
        owner_alerts=reader.value(OWNER_ALERTS),
        owner_language=reader.read(OWNER_LANGUAGE) or "",
        shop_admin_url=reader.read(SHOP_ADMIN_URL) or "",
        owner_summary_hour=reader.value(OWNER_SUMMARY_HOUR),
        low_stock_threshold=reader.read(LOW_STOCK_THRESHOLD),
    )
