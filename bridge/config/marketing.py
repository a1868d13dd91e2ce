"""Marketing mail: abandoned-cart reminders (with their discount codes) and review requests.

None is sent without UNSUBSCRIBE_URL: every marketing email carries a working one-click unsubscribe link.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from decimal import Decimal
from email.headerregistry import Address
from typing import Final, Literal, TypedDict, cast

from bridge.config.parse import (
    parse_address,
    parse_bool,
    parse_choice,
    parse_consent_fields,
    parse_discount_code,
    parse_duration,
    parse_int,
    parse_listen,
    parse_percent,
    parse_public_url,
    parse_secret,
    parse_signing_secret,
    parse_step_delays,
)
from bridge.config.reader import Reader, Setting
from bridge.secret import Secret

UNSUBSCRIBE_URL = Setting(
    "UNSUBSCRIBE_URL",
    "",
    parse_public_url,
    "Marketing mail (cart reminders, review requests): the public https address your web server"
    " forwards to the bridge's unsubscribe endpoint. Empty: no marketing mail is sent at all.",
)
UNSUBSCRIBE_LISTEN = Setting(
    "UNSUBSCRIBE_LISTEN",
    "127.0.0.1:8787",
    parse_listen,
    "Where `bridge run` serves the unsubscribe endpoint (host:port) for your web server to forward to.",
)
UNSUBSCRIBE_EXPOSED = Setting(
    "UNSUBSCRIBE_EXPOSED",
    "no",
    parse_bool,
    "yes: UNSUBSCRIBE_LISTEN may be an address other machines reach (0.0.0.0, a LAN or public address);"
    " the endpoint then faces them itself. No: loopback only, behind your web server.",
)
UNSUBSCRIBE_SECRET = Setting(
    "UNSUBSCRIBE_SECRET",
    "",
    parse_signing_secret,
    "Signs unsubscribe links: 32 or more random characters. Empty: a random key kept in"
    " STATE_DIR/unsubscribe.key.",
    secret=True,
)
UNSUBSCRIBE_MAILTO = Setting(
    "UNSUBSCRIBE_MAILTO",
    "",
    parse_address,
    "The mailbox unsubscribe requests by email go to (List-Unsubscribe mailto). Empty: the shop's address.",
)
MARKETING_CONSENT = Setting(
    "MARKETING_CONSENT",
    "newsletter,optin",
    parse_consent_fields,
    "Which customer fields count as consent to marketing mail: newsletter, optin, or both.",
)
CART_REMINDERS = Setting(
    "CART_REMINDERS",
    "1h,24h,72h",
    parse_step_delays,
    "Abandoned-cart reminders: up to three delays after the cart's last change; off for a step or all.",
)
CART_REMINDER_LATE_LIMIT = Setting(
    "CART_REMINDER_LATE_LIMIT",
    "12h",
    parse_duration(timedelta(minutes=15), timedelta(days=7)),
    "How late a reminder may still go out (the bridge was down, sending was paused); later, it expires.",
)
CART_REMINDER_FIRST_TO_ALL = Setting(
    "CART_REMINDER_FIRST_TO_ALL",
    "false",
    parse_bool,
    "Send the first cart reminder also to customers who gave no marketing consent.",
)
CART_POLL_INTERVAL = Setting(
    "CART_POLL_INTERVAL",
    "5m",
    parse_duration(timedelta(minutes=1), timedelta(hours=6)),
    "How often carts are checked for reminders (less often than orders: a reminder is never urgent).",
)
SHOP_COOKIE_KEY = Setting(
    "SHOP_COOKIE_KEY",
    "",
    parse_secret,
    "The shop's _COOKIE_KEY_, for PrestaShop's own cart recovery links (they sign the customer in).",
    secret=True,
)
CART_DISCOUNT = Setting(
    "CART_DISCOUNT",
    "none",
    parse_choice("none", "shared", "unique"),
    "A discount code in cart reminders: none, one shared code, or a single-use code per customer.",
)
CART_DISCOUNT_CODE = Setting(
    "CART_DISCOUNT_CODE",
    "",
    parse_discount_code,
    "CART_DISCOUNT=shared: the code, created by you in Catalog → Discounts.",
)
CART_DISCOUNT_PERCENT = Setting(
    "CART_DISCOUNT_PERCENT",
    "10",
    parse_percent,
    "CART_DISCOUNT=unique: the discount the bridge's codes give, in percent.",
)
CART_DISCOUNT_VALID_DAYS = Setting(
    "CART_DISCOUNT_VALID_DAYS",
    "7",
    parse_int(1, 365),
    "CART_DISCOUNT=unique: how many days a created code stays valid.",
)
CART_DISCOUNT_STEP = Setting(
    "CART_DISCOUNT_STEP",
    "2",
    parse_int(1, 3),
    "The first reminder (1, 2 or 3) that carries the discount code.",
)
REVIEW_REQUEST_DAYS = Setting(
    "REVIEW_REQUEST_DAYS",
    "14",
    parse_int(0, 365),
    "Days after delivery to ask for a review; 0: no review requests.",
)
REVIEW_REQUEST_FALLBACK_DAYS = Setting(
    "REVIEW_REQUEST_FALLBACK_DAYS",
    "21",
    parse_int(0, 365),
    "Days after shipping to ask for a review when the order is never marked delivered; 0: wait for delivery.",
)
MARKETING_SETTINGS: Final = (
    UNSUBSCRIBE_URL,
    UNSUBSCRIBE_LISTEN,
    UNSUBSCRIBE_EXPOSED,
    UNSUBSCRIBE_SECRET,
    UNSUBSCRIBE_MAILTO,
    MARKETING_CONSENT,
    CART_REMINDERS,
    CART_REMINDER_LATE_LIMIT,
    CART_REMINDER_FIRST_TO_ALL,
    CART_POLL_INTERVAL,
    SHOP_COOKIE_KEY,
    CART_DISCOUNT,
    CART_DISCOUNT_CODE,
    CART_DISCOUNT_PERCENT,
    CART_DISCOUNT_VALID_DAYS,
    CART_DISCOUNT_STEP,
    REVIEW_REQUEST_DAYS,
    REVIEW_REQUEST_FALLBACK_DAYS,
)


class MarketingFields(TypedDict):
    unsubscribe_url: str  # "": marketing mail is off
    unsubscribe_listen: tuple[str, int]
    unsubscribe_exposed: bool
    unsubscribe_secret: Secret | None
    unsubscribe_mailto: Address | None
    marketing_consent: frozenset[str]
    cart_reminders: tuple[timedelta | None, ...]
    cart_reminder_late_limit: timedelta
    cart_reminder_first_to_all: bool
    cart_poll_interval: timedelta
    shop_cookie_key: Secret | None
    cart_discount: Literal["none", "shared", "unique"]
    cart_discount_code: str
    cart_discount_percent: Decimal
    cart_discount_valid_days: int
    cart_discount_step: int
    review_request_days: int
    review_request_fallback_days: int


def check_marketing(reader: Reader) -> None:
    """A shared discount needs the code the owner created in the shop; the unsubscribe endpoint listens
    on loopback unless the owner says it faces other machines."""
    _check_listen(reader)
    if (
        reader.read(CART_DISCOUNT) == "shared"
        and not reader.read(CART_DISCOUNT_CODE)
        and CART_DISCOUNT_CODE.name not in reader.failed
    ):
        reader.problem(CART_DISCOUNT_CODE.name, "required when CART_DISCOUNT=shared")


def _check_listen(reader: Reader) -> None:
    listen = reader.read(UNSUBSCRIBE_LISTEN)
    if listen is None or reader.read(UNSUBSCRIBE_EXPOSED) is not False or _is_loopback(listen[0]):
        return
    reader.problem(
        UNSUBSCRIBE_LISTEN.name,
        f"{listen[0]} is reachable from other machines; keep 127.0.0.1:8787 behind your web server, or set"
        " UNSUBSCRIBE_EXPOSED=yes if the endpoint is meant to face them directly",
    )


def _is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 (also IPv4-mapped) or localhost: a name other than that may resolve anywhere."""
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def marketing_fields(reader: Reader) -> MarketingFields:
    """Asked once there is no problem."""
    return MarketingFields(
        unsubscribe_url=reader.read(UNSUBSCRIBE_URL) or "",
        unsubscribe_listen=reader.value(UNSUBSCRIBE_LISTEN),
        unsubscribe_exposed=reader.value(UNSUBSCRIBE_EXPOSED),
        unsubscribe_secret=reader.read(UNSUBSCRIBE_SECRET),
        unsubscribe_mailto=reader.read(UNSUBSCRIBE_MAILTO),
        marketing_consent=reader.value(MARKETING_CONSENT),
        cart_reminders=reader.value(CART_REMINDERS),
        cart_reminder_late_limit=reader.value(CART_REMINDER_LATE_LIMIT),
        cart_reminder_first_to_all=reader.value(CART_REMINDER_FIRST_TO_ALL),
        cart_poll_interval=reader.value(CART_POLL_INTERVAL),
        shop_cookie_key=reader.read(SHOP_COOKIE_KEY),
        cart_discount=cast(Literal["none", "shared", "unique"], reader.value(CART_DISCOUNT)),
        cart_discount_code=reader.read(CART_DISCOUNT_CODE) or "",
        cart_discount_percent=reader.value(CART_DISCOUNT_PERCENT),
        cart_discount_valid_days=reader.value(CART_DISCOUNT_VALID_DAYS),
        cart_discount_step=reader.value(CART_DISCOUNT_STEP),
        review_request_days=reader.value(REVIEW_REQUEST_DAYS),
        review_request_fallback_days=reader.value(REVIEW_REQUEST_FALLBACK_DAYS),
    )
