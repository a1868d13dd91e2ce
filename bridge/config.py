"""Settings: read once from the environment and `.env`, validated as a whole, then frozen.

Every setting is one row of `SETTINGS` (name, default, parser, help). `config.example.env` documents the
same rows and `tests/test_config.py` keeps the two in step. Parsing collects every problem before it
raises, so an owner fixes a bad `.env` in one round instead of one error per restart.

An empty value means "not set" everywhere: the default applies. That is what `KEY=` in `.env` and
`Environment=KEY=` in a systemd unit both mean to a shop owner.
"""

from __future__ import annotations

import dataclasses
import difflib
import io
import ipaddress
import os
import re
import ssl
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from email.headerregistry import Address, HeaderRegistry
from pathlib import Path
from typing import Any, Final, Generic, Literal, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, available_timezones

from dotenv.parser import parse_stream

from bridge.errors import ConfigError
from bridge.secret import Secret

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

SmtpSecurity = Literal["starttls", "ssl", "none"]
MailTransport = Literal["smtp", "file"]

GMAIL_HOSTS: Final = frozenset({"smtp.gmail.com", "smtp.googlemail.com"})
# Used only for the demo shop when nothing else names a sender: a reserved domain (RFC 2606) so a demo
# can never mail a real person's address.
DEMO_MAIL_FROM: Final = "Demo Shop <demo-shop@example.com>"
# webservice_account.key is VARCHAR(32); PrestaShop refuses a key of any other length (401, code 18).
PRESTASHOP_KEY_LENGTH: Final = 32


class Invalid(ValueError):
    """A parser's complaint, worded to follow `NAME: `. `echo=False` keeps the raw value out of it."""

    def __init__(self, message: str, *, echo: bool = True, hint: str = "") -> None:
        super().__init__(message)
        self.echo = echo
        self.hint = hint  # said after the quoted value: "…, got 'x'; did you mean …?"


# --- typed parsers: the stripped, non-empty raw value in, a typed value out, or Invalid ---------------


def parse_str(raw: str) -> str:
    if any(ord(char) < 32 or ord(char) == 127 for char in raw):
        raise Invalid("must not contain control characters or line breaks")
    return raw


def parse_int(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        if not re.fullmatch(r"[+-]?[0-9]+", raw) or not low <= int(raw) <= high:
            raise Invalid(f"must be a whole number between {low} and {high}")
        return int(raw)

    return parse


_TRUE: Final = frozenset({"yes", "true", "1", "on"})
_FALSE: Final = frozenset({"no", "false", "0", "off"})


def parse_bool(raw: str) -> bool:
    word = raw.lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise Invalid("must be yes or no (true/false and 1/0 work too)")


_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def format_duration(value: timedelta) -> str:
    """The inverse of the duration parser: 5400 s is `1h30m`, so messages use the owner's notation."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in sorted(_UNITS.items(), key=lambda item: -item[1]):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def parse_duration(low: timedelta, high: timedelta) -> Callable[[str], timedelta]:
    """Plain seconds (`60`) or number+unit pieces (`90s`, `15m`, `24h`, `1d`, `1h30m`)."""

    def parse(raw: str) -> timedelta:
        text = raw.lower()
        if re.fullmatch(r"[0-9]+", text):
            value = timedelta(seconds=int(text))
        elif re.fullmatch(r"(?:[0-9]+[smhd])+", text):
            pieces = re.findall(r"([0-9]+)([smhd])", text)
            value = timedelta(seconds=sum(int(number) * _UNITS[unit] for number, unit in pieces))
        else:
            value = None
        if value is None or not low <= value <= high:
            raise Invalid(
                f"must be a duration between {format_duration(low)} and {format_duration(high)}"
                " (seconds, or a number with s, m, h or d: 90s, 15m, 24h, 1d)"
            )
        return value

    return parse


def parse_choice(*choices: str) -> Callable[[str], str]:
    """Case-insensitive; returns the spelling listed in `choices`."""

    def parse(raw: str) -> str:
        for choice in choices:
            if raw.lower() == choice.lower():
                return choice
        raise Invalid(f"must be one of {', '.join(choices)}")

    return parse


_HEADERS: Final = HeaderRegistry()


def parse_address(raw: str) -> Address:
    """One address, optionally with a display name: `Sklep Zofii <sklep@gmail.com>`."""
    parse_str(raw)  # a line break here would be a header injection
    header = _HEADERS("to", raw)
    addresses = header.addresses  # type: ignore[attr-defined]
    if header.defects or len(addresses) != 1 or not addresses[0].username or not addresses[0].domain:
        raise Invalid('must be one email address, like shop@example.com or "Shop name <shop@example.com>"')
    return cast(Address, addresses[0])


def parse_url(raw: str) -> str:
    """An http(s) base URL without credentials, query or fragment; no trailing slash."""
    parse_str(raw)
    parts = urlsplit(raw)
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        raise Invalid("must be an address starting with https:// (or http://), like https://shop.example.com")
    if "@" in parts.netloc:
        raise Invalid("must not contain a user name or key before @", echo=False)
    if parts.query or parts.fragment or raw.endswith(("?", "#")):
        raise Invalid("must not contain ?… or #… (the key goes in its own setting)", echo=False)
    try:
        parts.port  # noqa: B018 - urlsplit checks the port lazily
    except ValueError:
        raise Invalid("has an invalid port number") from None
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), "", ""))


def parse_shop_url(raw: str) -> str:
    """The shop's base address; a pasted `…/api` or `…/api/` is accepted and removed (the client adds it)."""
    url = parse_url(raw)
    return url.removesuffix("/api")


_HOST_LABEL: Final = r"(?!-)[a-z0-9-]{1,63}(?<!-)"


def parse_hostname(raw: str) -> str:
    host = raw.lower().rstrip(".")
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        if not re.fullmatch(rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*", host) or len(host) > 253:
            raise Invalid("must be a host name like smtp.gmail.com or an IP address") from None
    return host


def parse_helo_name(raw: str) -> str:
    """A host name, or an address literal (`[192.0.2.1]`) as RFC 5321 allows in EHLO."""
    if raw.startswith("[") and raw.endswith("]"):
        try:
            ipaddress.ip_address(raw[1:-1].removeprefix("IPv6:"))
        except ValueError:
            raise Invalid(
                "must be a host name (the shop's domain) or an address literal like [192.0.2.1]"
            ) from None
        return raw
    try:
        ipaddress.ip_address(raw)
    except ValueError:
        return parse_hostname(raw)
    raise Invalid("must be a host name; write an IP address as a literal, like [192.0.2.1]")


def parse_timezone(raw: str) -> ZoneInfo:
    try:
        return ZoneInfo(raw)
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError; path-like names raise ValueError
        pass
    known = {name.lower(): name for name in available_timezones()}
    hint = f"did you mean {known[raw.lower()]}?" if raw.lower() in known else ""
    raise Invalid("must be a time zone name like Europe/Warsaw", hint=hint)


def parse_path(raw: str) -> Path:
    parse_str(raw)
    return Path(raw).expanduser()


def parse_directory(raw: str) -> Path:
    """A path that may not exist yet (the bridge creates it), but is not a file."""
    path = parse_path(raw)
    if path.exists() and not path.is_dir():
        raise Invalid("must be a directory, but it is a file")
    return path


def parse_existing_directory(raw: str) -> Path:
    path = parse_path(raw)
    if not path.is_dir():
        raise Invalid("must be an existing directory")
    return path


def parse_ca_file(raw: str) -> Path:
    """A PEM file of CA certificates that OpenSSL can load (checked now, not at the first send)."""
    path = parse_path(raw)
    if not path.is_file():
        raise Invalid("must be an existing file of PEM CA certificates")
    try:
        ssl.create_default_context().load_verify_locations(cafile=str(path))
    except (ssl.SSLError, OSError, ValueError):
        raise Invalid("is not a PEM file of CA certificates that OpenSSL can read") from None
    return path


def parse_database_url(raw: str) -> str:
    parse_str(raw)
    if not re.fullmatch(r"[a-z][a-z0-9+.-]*://.*", raw, flags=re.IGNORECASE):
        # Not quoted when it may hold a password that the masking of `://user:password@` cannot find.
        raise Invalid("must be a database URL like sqlite:///state/bridge.sqlite3", echo="@" not in raw)
    return raw


STATUS_EMAIL_KINDS: Final = (
    "awaiting_bank_wire",
    "awaiting_cheque",
    "payment_accepted",
    "processing",
    "shipped",
    "delivered",
    "cancelled",
    "refunded",
    "payment_error",
    "backorder",
)


def parse_status_emails(raw: str) -> dict[int, str | None]:
    """`12=shipped, 15=none`: state id → email kind, or `none` for no email."""
    mapping: dict[int, str | None] = {}
    for item in raw.replace(";", ",").split(","):
        if not item.strip():
            continue
        state, sep, kind = item.partition("=")
        state, kind = state.strip(), kind.strip().lower()
        if not sep or not state.isdigit():
            raise Invalid(f"each item must be STATE_ID=KIND, got {item.strip()!r}")
        if kind not in (*STATUS_EMAIL_KINDS, "none"):
            raise Invalid(f"{kind!r} is not one of {', '.join(STATUS_EMAIL_KINDS)} or none")
        mapping[int(state)] = None if kind == "none" else kind
    return mapping


def parse_image_type(raw: str) -> str:
    """An image type name as in Design → Image Settings (`small_default`), or `none`."""
    value = raw.strip()
    if value.lower() == "none":
        return ""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", value):
        raise Invalid(f"must be an image type name such as small_default, or none, got {raw!r}")
    return value


def parse_public_url(raw: str) -> str:
    """A public https URL (http only for this machine, for tests and demos); a query is kept."""
    parse_str(raw)
    parts = urlsplit(raw)
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        raise Invalid("must be an address starting with https://, like https://shop.example.com/unsubscribe")
    if parts.scheme.lower() == "http" and not is_loopback(parts.hostname):
        raise Invalid("must use https:// (mail providers refuse one-click unsubscribe links over http)")
    if "@" in parts.netloc or parts.fragment or any(ch.isspace() or ch in '<>"' for ch in raw):
        raise Invalid('must be a plain URL without a user name, #fragment, spaces or <>"')
    return raw


def parse_listen(raw: str) -> tuple[str, int]:
    """`host:port` (`[::1]:8787` for IPv6)."""
    host, _, port = raw.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise Invalid("must be host:port, like 127.0.0.1:8787")
    return host, int(port)


def parse_step_delays(raw: str) -> tuple[timedelta | None, ...]:
    """Up to three increasing delays after the cart's last change (`1h,24h,72h`); `off` for a step or for
    all of them."""
    text = raw.strip().lower()
    if text in {"off", "none", "no", "0"}:
        return ()
    parse = parse_duration(timedelta(minutes=15), timedelta(days=30))
    delays: list[timedelta | None] = []
    for piece in (p.strip() for p in text.split(",")):
        delays.append(None if piece == "off" else parse(piece))
    if len(delays) > 3:
        raise Invalid("at most three reminders (like 1h,24h,72h)")
    given = [d for d in delays if d is not None]
    if given != sorted(set(given)):
        raise Invalid("each reminder must come later than the one before (like 1h,24h,72h)")
    return tuple(delays)


def parse_consent_fields(raw: str) -> frozenset[str]:
    """Which customer fields count as consent to marketing mail: newsletter, optin, or both."""
    fields = frozenset(p.strip().lower() for p in raw.split(",") if p.strip())
    if not fields or not fields <= {"newsletter", "optin"}:
        raise Invalid("must be newsletter, optin, or newsletter,optin")
    return fields


def parse_percent(raw: str) -> Decimal:
    try:
        value = Decimal(raw.strip().rstrip("%"))
    except InvalidOperation:
        value = Decimal(-1)
    if not (Decimal(0) < value <= Decimal(100)) or value != value.quantize(Decimal("0.01")):
        raise Invalid("must be a percentage between 0.01 and 100, like 10")
    return value


def parse_discount_code(raw: str) -> str:
    code = raw.strip()
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,254}", code):
        raise Invalid("must be a discount code of letters, digits, _ and - (as in Catalog → Discounts)")
    return code


def parse_secret(raw: str) -> Secret:
    if any(ord(char) < 32 or ord(char) == 127 for char in raw):
        raise Invalid("must not contain control characters or line breaks", echo=False)
    return Secret(raw)


def parse_api_key(raw: str) -> Secret:
    key = parse_secret(raw.strip()).reveal()
    if len(key) != PRESTASHOP_KEY_LENGTH:
        raise Invalid(
            f"PrestaShop keys are {PRESTASHOP_KEY_LENGTH} characters, this one has {len(key)}"
            " (copy it again from Advanced Parameters → Webservice)",
            echo=False,
        )
    return Secret(key)


# --- the table ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting(Generic[T_co]):
    """One row of the table. `default` is written as in `.env`; "" means unset or derived (see help)."""

    name: str
    default: str
    parse: Callable[[str], T_co]
    help: str
    secret: bool = False
    # The value config.example.env shows uncommented: the owner must replace it, so seeing it is a problem.
    placeholder: str | None = None

    @property
    def attribute(self) -> str:
        return self.name.lower()

    @property
    def file_name(self) -> str:
        """For secrets: NAME_FILE, a path to a file holding the value (systemd LoadCredential=)."""
        return f"{self.name}_FILE"


def _seconds(count: int) -> timedelta:
    return timedelta(seconds=count)


PRESTASHOP_URL = Setting(
    "PRESTASHOP_URL",
    "",
    parse_shop_url,
    "The shop's address, like https://shop.example.com. Empty: the embedded demo shop.",
    placeholder="https://your-shop.example.com",
)
PRESTASHOP_API_KEY = Setting(
    "PRESTASHOP_API_KEY",
    "",
    parse_api_key,
    "The 32-character webservice key (Advanced Parameters → Webservice, GET only)."
    " Or PRESTASHOP_API_KEY_FILE.",
    secret=True,
    placeholder="PASTE-THE-32-CHARACTER-WEBSERVICE-KEY",
)
PRESTASHOP_TIMEOUT = Setting(
    "PRESTASHOP_TIMEOUT", "20s", parse_duration(_seconds(1), _seconds(300)), "How long one request may take."
)
PRESTASHOP_RETRIES = Setting(
    "PRESTASHOP_RETRIES", "3", parse_int(0, 10), "Retries of a failed read before the poll gives up."
)
SHOP_TIMEZONE = Setting(
    "SHOP_TIMEZONE",
    "",
    parse_timezone,
    "The shop's time zone (IANA name, like Europe/Warsaw). Empty: read PS_TIMEZONE from the shop.",
)
SMTP_HOST = Setting("SMTP_HOST", "smtp.gmail.com", parse_hostname, "The SMTP server.")
SMTP_PORT = Setting(
    "SMTP_PORT", "587", parse_int(1, 65535), "The SMTP port: 587 with starttls; 465 is the default with ssl."
)
SMTP_SECURITY = Setting(
    "SMTP_SECURITY",
    "starttls",
    parse_choice("starttls", "ssl", "none"),
    "starttls (port 587), ssl (implicit TLS, port 465) or none (only for a server on this machine).",
)
SMTP_USERNAME = Setting(
    "SMTP_USERNAME",
    "",
    parse_str,
    "The SMTP login; for Gmail the full address.",
    placeholder="your.shop@gmail.com",
)
SMTP_PASSWORD = Setting(
    "SMTP_PASSWORD",
    "",
    parse_secret,
    "The SMTP password; for Gmail a 16-letter app password (spaces are removed). Or SMTP_PASSWORD_FILE.",
    secret=True,
    placeholder="your 16-letter app password",
)
SMTP_TIMEOUT = Setting(
    "SMTP_TIMEOUT", "60s", parse_duration(_seconds(1), _seconds(600)), "How long one SMTP exchange may take."
)
SMTP_HELO_NAME = Setting(
    "SMTP_HELO_NAME", "", parse_helo_name, "The name sent in EHLO. Empty: the domain of MAIL_FROM."
)
SMTP_CA_FILE = Setting(
    "SMTP_CA_FILE",
    "",
    parse_ca_file,
    "Extra CA certificates (PEM) trusted for the SMTP server, on top of the system's. Empty: the system's.",
)
SMTP_LOGIN_RETRY = Setting(
    "SMTP_LOGIN_RETRY",
    "1h",
    parse_duration(timedelta(minutes=5), timedelta(days=1)),
    "After the SMTP server refused the login (or TLS failed), how long sending pauses before one new try.",
)
MAIL_TRANSPORT = Setting(
    "MAIL_TRANSPORT",
    "smtp",
    parse_choice("smtp", "file"),
    "smtp sends; file writes .eml files into MAIL_FILE_DIR. Default smtp (file for the demo shop).",
)
MAIL_FILE_DIR = Setting(
    "MAIL_FILE_DIR", "", parse_directory, "Where MAIL_TRANSPORT=file writes. Empty: STATE_DIR/outbox-eml."
)
MAIL_FROM = Setting(
    "MAIL_FROM",
    "",
    parse_address,
    'The sender, optionally with a name: "Sklep Zofii <sklep@gmail.com>". Empty: SMTP_USERNAME.',
)
MAIL_REPLY_TO = Setting(
    "MAIL_REPLY_TO",
    "",
    parse_address,
    "Where customers' replies go. Empty: the shop's email (PS_SHOP_EMAIL).",
)
ADMIN_EMAIL = Setting(
    "ADMIN_EMAIL",
    "",
    parse_address,
    "Who gets the owner's alerts (sending paused, the shop unreachable). Empty: nobody; `bridge status`"
    " still shows them.",
)
ALERT_AFTER = Setting(
    "ALERT_AFTER",
    "15m",
    parse_duration(timedelta(minutes=1), timedelta(days=1)),
    "How long the shop may stay unreachable before ADMIN_EMAIL is told (a sending pause is told at once).",
)
PRODUCT_IMAGES = Setting(
    "PRODUCT_IMAGES",
    "small_default",
    parse_image_type,
    "The shop's image type shown next to each product in order emails (small_default, home_default, …);"
    " `none` for no images.",
)
STATE_DIR = Setting(
    "STATE_DIR",
    "./state",
    parse_directory,
    "Where the bridge keeps its state. Default: $STATE_DIRECTORY under systemd, else ./state.",
)
DATABASE_URL = Setting(
    "DATABASE_URL", "", parse_database_url, "The state store. Empty: sqlite:///<STATE_DIR>/bridge.sqlite3."
)
POLL_INTERVAL = Setting(
    "POLL_INTERVAL", "60s", parse_duration(_seconds(10), _seconds(86400)), "How often `bridge run` polls."
)
LOG_LEVEL = Setting(
    "LOG_LEVEL", "INFO", parse_choice("DEBUG", "INFO", "WARNING", "ERROR"), "How much the bridge logs."
)
DEFAULT_LANGUAGE = Setting(
    "DEFAULT_LANGUAGE", "pl", parse_choice("en", "pl"), "Template language when the customer's has none."
)
TEMPLATES_DIR = Setting(
    "TEMPLATES_DIR",
    "",
    parse_existing_directory,
    "Your own templates, searched before the shipped ones. Empty: only the shipped templates.",
)
DAILY_SEND_LIMIT = Setting(
    "DAILY_SEND_LIMIT",
    "400",
    parse_int(1, 10000),
    "Recipients per rolling 24 hours (consumer Gmail allows ~500, Workspace 2000).",
)
SEND_RATE_PER_MINUTE = Setting(
    "SEND_RATE_PER_MINUTE",
    "20",
    parse_int(1, 1000),
    "At most this many emails a minute; the rest wait for the next cycle.",
)

STATUS_EMAILS = Setting(
    "STATUS_EMAILS",
    "",
    parse_status_emails,
    "Which email an order state sends, by state id: `12=shipped,15=none`. Empty: follow the shop's states.",
)
UNKNOWN_POLICY = Setting(
    "UNKNOWN_POLICY",
    "hold",
    parse_choice("hold", "resend"),
    "An email whose sending was cut off after the server may have accepted it: hold it for"
    " `bridge outbox retry`, or resend it with the same Message-ID.",
)
BANK_ACCOUNT_OWNER = Setting(
    "BANK_ACCOUNT_OWNER",
    "",
    parse_str,
    "Bank transfer emails: the account owner. Empty: the wire payment module's.",
)
BANK_ACCOUNT_NUMBER = Setting(
    "BANK_ACCOUNT_NUMBER",
    "",
    parse_str,
    "Bank transfer emails: the account number (IBAN). Empty: the module's.",
)
BANK_NAME = Setting("BANK_NAME", "", parse_str, "Bank transfer emails: the bank's name.")
BANK_BIC = Setting(
    "BANK_BIC", "", parse_str, "Bank transfer emails: the BIC/SWIFT code, for foreign transfers."
)
BANK_ADDRESS = Setting(
    "BANK_ADDRESS", "", parse_str, "Bank transfer emails: the bank's or owner's address. Empty: the module's."
)
BANK_SETTINGS: Final = (BANK_ACCOUNT_OWNER, BANK_ACCOUNT_NUMBER, BANK_NAME, BANK_BIC, BANK_ADDRESS)

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
UNSUBSCRIBE_SECRET = Setting(
    "UNSUBSCRIBE_SECRET",
    "",
    parse_secret,
    "Signs unsubscribe links. Empty: a random key kept in STATE_DIR/unsubscribe.key.",
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

SETTINGS: Final[tuple[Setting[object], ...]] = (
    PRESTASHOP_URL,
    PRESTASHOP_API_KEY,
    PRESTASHOP_TIMEOUT,
    PRESTASHOP_RETRIES,
    SHOP_TIMEZONE,
    SMTP_HOST,
    SMTP_PORT,
    SMTP_SECURITY,
    SMTP_USERNAME,
    SMTP_PASSWORD,
    SMTP_TIMEOUT,
    SMTP_HELO_NAME,
    SMTP_CA_FILE,
    SMTP_LOGIN_RETRY,
    MAIL_TRANSPORT,
    MAIL_FILE_DIR,
    MAIL_FROM,
    MAIL_REPLY_TO,
    ADMIN_EMAIL,
    ALERT_AFTER,
    PRODUCT_IMAGES,
    STATE_DIR,
    DATABASE_URL,
    POLL_INTERVAL,
    LOG_LEVEL,
    DEFAULT_LANGUAGE,
    TEMPLATES_DIR,
    DAILY_SEND_LIMIT,
    SEND_RATE_PER_MINUTE,
    STATUS_EMAILS,
    UNKNOWN_POLICY,
    BANK_ACCOUNT_OWNER,
    BANK_ACCOUNT_NUMBER,
    BANK_NAME,
    BANK_BIC,
    BANK_ADDRESS,
    *MARKETING_SETTINGS,
)


def setting_names() -> frozenset[str]:
    """Every key the bridge reads from the environment, including the `_FILE` forms of secrets."""
    return frozenset([row.name for row in SETTINGS] + [row.file_name for row in SETTINGS if row.secret])


# --- reading the mapping -----------------------------------------------------------------------------


def _masked(raw: str) -> str:
    """A raw value as quoted in a problem: any `user:password@` part of a URL is replaced."""
    return re.sub(r"://[^/@\s]*@", "://***@", raw)


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _Reader:
    """Reads rows from the merged mapping and collects problems instead of raising at the first one."""

    def __init__(self, mapping: Mapping[str, str]) -> None:
        self.mapping = mapping
        self.problems: list[str] = []
        self.given: set[str] = set()  # names set to a non-empty value (directly or via _FILE)
        self.failed: set[str] = set()  # names whose value was unusable: skip checks that depend on them
        self.secret_values: set[str] = set()  # scrubbed from every message, whatever setting quotes them

    def raw(self, name: str) -> str:
        return (self.mapping.get(name) or "").strip()

    def problem(self, name: str, message: str) -> None:
        self.problems.append(f"{name}: {message}")
        self.failed.add(name.removesuffix("_FILE"))  # a bad NAME_FILE makes NAME unusable too

    def scrub(self, text: str) -> str:
        """A secret pasted into the wrong setting (a password as SMTP_USERNAME) is still not shown."""
        for value in sorted(self.secret_values, key=len, reverse=True):
            if len(value) >= 4:  # shorter ones would blank out ordinary words
                text = text.replace(value, "***")
        return text

    def read(self, row: Setting[T]) -> T | None:
        raw = self._secret_raw(row) if row.secret else self.raw(row.name)
        if raw is None:
            return None
        if raw:
            self.given.add(row.name)
        elif row.default:
            raw = row.default
        else:
            return None
        if row.placeholder is not None and raw == row.placeholder:
            self.problem(row.name, "still the example value from config.example.env; put your own here")
            return None
        try:
            return row.parse(raw)
        except Invalid as invalid:
            shown = f", got {_masked(raw)!r}" if invalid.echo and not row.secret else ""
            hint = f"; {invalid.hint}" if invalid.hint else ""
            self.problem(row.name, f"{invalid}{shown}{hint}")
            return None

    def _secret_raw(self, row: Setting[T]) -> str | None:
        """NAME, or the content of the file NAME_FILE points to; None when that failed (problem filed)."""
        direct = (self.mapping.get(row.name) or "").strip()
        pointer = self.raw(row.file_name)
        if direct and pointer:
            self.problem(row.name, f"set either {row.name} or {row.file_name}, not both")
            return None
        if not pointer:
            self.secret_values.add(direct)
            return direct
        path = Path(pointer).expanduser()
        credentials = self.raw("CREDENTIALS_DIRECTORY")
        # systemd's LoadCredential=NAME:… puts the file in $CREDENTIALS_DIRECTORY; a bare name means that.
        if credentials and "/" not in pointer and os.sep not in pointer:
            path = Path(credentials) / pointer
        try:
            content = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            hint = "" if credentials or path.is_absolute() else " ($CREDENTIALS_DIRECTORY is not set)"
            self.problem(row.file_name, f"{path} does not exist{hint}")
            return None
        except UnicodeDecodeError:
            self.problem(row.file_name, f"{path} is not UTF-8 text")
            return None
        except OSError as error:
            self.problem(row.file_name, f"cannot read {path}: {error.strerror or error}")
            return None
        value = content.rstrip("\r\n")
        self.secret_values.add(value)
        if not value.strip():
            self.problem(row.file_name, f"{path} is empty")
            return None
        return value


# --- the settings ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, repr=False)
class Settings:
    """Everything the bridge is configured with; built by `load_settings` (or `from_mapping` in tests)."""

    demo: bool  # True when PRESTASHOP_URL is empty: the embedded demo shop
    prestashop_url: str | None
    prestashop_api_key: Secret | None
    prestashop_timeout: timedelta
    prestashop_retries: int
    shop_timezone: ZoneInfo | None
    smtp_host: str
    smtp_port: int
    smtp_security: SmtpSecurity
    smtp_username: str | None
    smtp_password: Secret | None
    smtp_timeout: timedelta
    smtp_helo_name: str
    mail_transport: MailTransport
    mail_file_dir: Path
    mail_from: Address
    mail_reply_to: Address | None
    admin_email: Address | None
    state_dir: Path
    database_url: str
    poll_interval: timedelta
    log_level: str
    default_language: str
    templates_dir: Path | None
    daily_send_limit: int
    send_rate_per_minute: int = 20
    smtp_ca_file: Path | None = None
    smtp_login_retry: timedelta = timedelta(hours=1)
    status_emails: dict[int, str | None] = dataclasses.field(default_factory=dict)
    unknown_policy: Literal["hold", "resend"] = "hold"
    alert_after: timedelta = timedelta(minutes=15)
    product_images: str = "small_default"  # "" = no product images
    bank_account_owner: str = ""
    bank_account_number: str = ""
    bank_name: str = ""
    bank_bic: str = ""
    bank_address: str = ""
    unsubscribe_url: str = ""  # "": marketing mail is off
    unsubscribe_listen: tuple[str, int] = ("127.0.0.1", 8787)
    unsubscribe_secret: Secret | None = None
    unsubscribe_mailto: Address | None = None
    marketing_consent: frozenset[str] = frozenset({"newsletter", "optin"})
    cart_reminders: tuple[timedelta | None, ...] = tuple(timedelta(hours=h) for h in (1, 24, 72))
    cart_reminder_late_limit: timedelta = timedelta(hours=12)
    cart_reminder_first_to_all: bool = False
    cart_poll_interval: timedelta = timedelta(minutes=5)
    shop_cookie_key: Secret | None = None
    cart_discount: Literal["none", "shared", "unique"] = "none"
    cart_discount_code: str = ""
    cart_discount_percent: Decimal = Decimal(10)
    cart_discount_valid_days: int = 7
    cart_discount_step: int = 2
    review_request_days: int = 14
    review_request_fallback_days: int = 21
    warnings: tuple[str, ...] = ()

    @property
    def marketing_enabled(self) -> bool:
        """Marketing mail needs a working unsubscribe link: without UNSUBSCRIBE_URL none is sent."""
        return bool(self.unsubscribe_url)

    @property
    def smtp_is_gmail(self) -> bool:
        return self.smtp_host in GMAIL_HOSTS

    def secrets(self) -> tuple[Secret, ...]:
        """Every secret value in these settings, for the log filter (`bridge.logs.setup_logging`)."""
        found = [self.prestashop_api_key, self.smtp_password, self.unsubscribe_secret, self.shop_cookie_key]
        password = urlsplit(self.database_url).password
        if password:
            found.append(Secret(password))
        return tuple(secret for secret in found if secret)

    def __repr__(self) -> str:
        shown = []
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            text = _masked(value) if item.name == "database_url" else value
            shown.append(f"{item.name}={text!r}")
        return f"Settings({', '.join(shown)})"

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, str]) -> Settings:
        """Parse every setting from an environment-like mapping; one ConfigError lists every problem."""
        reader = _Reader(mapping)
        warnings: list[str] = []
        # Each row once, in table order, so problems are listed in a stable, readable order.
        prestashop_url = reader.read(PRESTASHOP_URL)
        api_key = reader.read(PRESTASHOP_API_KEY)
        prestashop_timeout = reader.read(PRESTASHOP_TIMEOUT)
        prestashop_retries = reader.read(PRESTASHOP_RETRIES)
        shop_timezone = reader.read(SHOP_TIMEZONE)
        smtp_host = reader.read(SMTP_HOST)
        smtp_port = reader.read(SMTP_PORT)
        security = cast(SmtpSecurity | None, reader.read(SMTP_SECURITY))
        username = reader.read(SMTP_USERNAME)
        password = reader.read(SMTP_PASSWORD)
        smtp_timeout = reader.read(SMTP_TIMEOUT)
        helo = reader.read(SMTP_HELO_NAME)
        smtp_ca_file = reader.read(SMTP_CA_FILE)
        smtp_login_retry = reader.read(SMTP_LOGIN_RETRY)
        transport = cast(MailTransport | None, reader.read(MAIL_TRANSPORT))
        mail_file_dir = reader.read(MAIL_FILE_DIR)
        mail_from = reader.read(MAIL_FROM)
        mail_reply_to = reader.read(MAIL_REPLY_TO)
        admin_email = reader.read(ADMIN_EMAIL)
        alert_after = reader.read(ALERT_AFTER)
        product_images = reader.read(PRODUCT_IMAGES)
        state_dir = reader.read(STATE_DIR)
        database_url = reader.read(DATABASE_URL)
        poll_interval = reader.read(POLL_INTERVAL)
        log_level = reader.read(LOG_LEVEL)
        default_language = reader.read(DEFAULT_LANGUAGE)
        templates_dir = reader.read(TEMPLATES_DIR)
        daily_send_limit = reader.read(DAILY_SEND_LIMIT)
        send_rate_per_minute = reader.read(SEND_RATE_PER_MINUTE)
        status_emails = reader.read(STATUS_EMAILS)
        unknown_policy = reader.read(UNKNOWN_POLICY)
        bank: dict[str, Any] = {row.attribute: reader.read(row) or "" for row in BANK_SETTINGS}
        marketing: dict[str, Any] = {row.attribute: reader.read(row) for row in MARKETING_SETTINGS}
        if (
            marketing["cart_discount"] == "shared"
            and not marketing["cart_discount_code"]
            and CART_DISCOUNT_CODE.name not in reader.failed
        ):
            reader.problem(CART_DISCOUNT_CODE.name, "required when CART_DISCOUNT=shared")

        # The shop.
        demo = PRESTASHOP_URL.name not in reader.given
        if not demo and api_key is None and PRESTASHOP_API_KEY.name not in reader.failed:
            reader.problem(PRESTASHOP_API_KEY.name, "required when PRESTASHOP_URL is set")
        if demo and api_key is not None:
            warnings.append("PRESTASHOP_API_KEY is set but PRESTASHOP_URL is empty: using the demo shop")
        if (
            prestashop_url is not None
            and prestashop_url.startswith("http://")
            and not is_loopback(urlsplit(prestashop_url).hostname or "")
        ):
            warnings.append(
                "PRESTASHOP_URL uses http://: the API key and customers' data travel in clear text;"
                " use https:// if the shop has a certificate"
            )

        # SMTP.
        smtp_host = smtp_host or SMTP_HOST.default
        security = security or "starttls"
        if SMTP_PORT.name not in reader.given and security == "ssl":
            smtp_port = 465
        smtp_port = smtp_port or int(SMTP_PORT.default)
        gmail = smtp_host in GMAIL_HOSTS
        if password is not None:
            password = _app_password(password, gmail=gmail, warnings=warnings)
            reader.secret_values.add(password.reveal())
        # The demo shop's customers are invented: unless told otherwise, its mail goes to files.
        if demo and MAIL_TRANSPORT.name not in reader.given:
            transport = "file"
        transport = transport or "smtp"
        if not {SMTP_HOST.name, SMTP_SECURITY.name} & reader.failed:
            _check_smtp(reader, warnings, host=smtp_host, port=smtp_port, security=security)
            if transport == "smtp":
                _check_credentials(
                    reader, host=smtp_host, security=security, username=username, password=password
                )

        # The sender.
        if mail_from is None and MAIL_FROM.name not in reader.failed:
            mail_from = _mail_from_default(reader, username=username, demo=demo)
        if (
            mail_from is not None
            and gmail
            and transport == "smtp"
            and username
            and mail_from.addr_spec.lower() != username.lower()
        ):
            warnings.append(
                f"MAIL_FROM ({mail_from.addr_spec}) is not SMTP_USERNAME ({username}): Gmail replaces it"
                " with the account's address unless it is a verified 'Send mail as' alias"
            )
        if helo is None and mail_from is not None and SMTP_HELO_NAME.name not in reader.failed:
            helo = _helo_from(reader, mail_from)

        # Where state lives.
        if STATE_DIR.name not in reader.given:
            # systemd's StateDirectory= sets this (a colon-separated list when several are configured).
            systemd_state = reader.raw("STATE_DIRECTORY").split(":")[0]
            state_dir = Path(systemd_state) if systemd_state else state_dir
        state_dir = state_dir or Path(STATE_DIR.default)
        mail_file_dir = mail_file_dir or state_dir / "outbox-eml"
        database_url = database_url or f"sqlite:///{state_dir / 'bridge.sqlite3'}"

        daily_send_limit = daily_send_limit or int(DAILY_SEND_LIMIT.default)
        if gmail and daily_send_limit > 2000:
            warnings.append(
                f"DAILY_SEND_LIMIT is {daily_send_limit}: no Gmail account may send more than 2000 a day"
            )

        if reader.problems:
            raise ConfigError([reader.scrub(problem) for problem in reader.problems])
        # Rows with a default never come back None once there is no problem; mail_from/helo are derived.
        assert prestashop_timeout and prestashop_retries is not None and smtp_timeout and poll_interval
        assert mail_from is not None and helo is not None and log_level and default_language
        return cls(
            demo=demo,
            prestashop_url=prestashop_url,
            prestashop_api_key=api_key,
            prestashop_timeout=prestashop_timeout,
            prestashop_retries=prestashop_retries,
            shop_timezone=shop_timezone,
            smtp_host=smtp_host,
            smtp_port=smtp_port,
            smtp_security=security,
            smtp_username=username,
            smtp_password=password,
            smtp_timeout=smtp_timeout,
            smtp_helo_name=helo,
            mail_transport=transport,
            mail_file_dir=mail_file_dir,
            mail_from=mail_from,
            mail_reply_to=mail_reply_to,
            admin_email=admin_email,
            state_dir=state_dir,
            database_url=database_url,
            poll_interval=poll_interval,
            log_level=log_level,
            default_language=default_language,
            templates_dir=templates_dir,
            daily_send_limit=daily_send_limit,
            send_rate_per_minute=send_rate_per_minute or int(SEND_RATE_PER_MINUTE.default),
            smtp_ca_file=smtp_ca_file,
            smtp_login_retry=smtp_login_retry or timedelta(hours=1),
            status_emails=status_emails or {},
            unknown_policy=cast(Literal["hold", "resend"], unknown_policy or "hold"),
            alert_after=alert_after or timedelta(minutes=15),
            product_images="small_default" if product_images is None else product_images,
            **bank,
            **{name: value for name, value in marketing.items() if value is not None},
            warnings=tuple(reader.scrub(warning) for warning in warnings),
        )


_APP_PASSWORD: Final = re.compile(r"[a-z]{4} [a-z]{4} [a-z]{4} [a-z]{4}")


def _app_password(password: Secret, *, gmail: bool, warnings: list[str]) -> Secret:
    """Google shows app passwords as `abcd efgh ijkl mnop`; the spaces are not part of it."""
    value = password.reveal()
    if gmail or _APP_PASSWORD.fullmatch(value):
        value = re.sub(r"\s", "", value)
    if gmail and not re.fullmatch(r"[a-zA-Z]{16}", value):
        warnings.append(
            f"SMTP_PASSWORD has {len(value)} characters, but Gmail app passwords are 16 letters: Gmail"
            " refuses the account's own password (create one at https://myaccount.google.com/apppasswords)"
        )
    return Secret(value)


def _check_smtp(reader: _Reader, warnings: list[str], *, host: str, port: int, security: str) -> None:
    if security == "none" and not is_loopback(host):
        reader.problem(
            SMTP_SECURITY.name,
            f"none is only allowed for a server on this machine (localhost), not {host}:"
            " the password and every email would travel in clear text",
        )
    # A port that failed to parse was replaced by the default: only a parsed port can mismatch.
    mismatch = (security == "starttls" and port == 465) or (security == "ssl" and port == 587)
    if mismatch and SMTP_PORT.name not in reader.failed:
        fix = "use SMTP_SECURITY=ssl with port 465, or starttls with 587"
        if host in GMAIL_HOSTS:
            reader.problem(SMTP_PORT.name, f"Gmail's port {port} does not speak {security}: {fix}")
        else:
            warnings.append(f"SMTP_PORT {port} usually does not speak {security}: {fix}")


def _check_credentials(
    reader: _Reader, *, host: str, security: str, username: str | None, password: Secret | None
) -> None:
    """Sending needs a login, except to a local relay in the clear (tests, a local Postfix)."""
    failed = {SMTP_USERNAME.name, SMTP_PASSWORD.name} & reader.failed
    if failed:
        return
    if username and not password:
        reader.problem(SMTP_PASSWORD.name, "required when SMTP_USERNAME is set")
    elif password and not username:
        reader.problem(SMTP_USERNAME.name, "required when SMTP_PASSWORD is set")
    elif not username and not (security == "none" and is_loopback(host)):
        gmail = " (for Gmail: your address and an app password)" if host in GMAIL_HOSTS else ""
        reader.problem(SMTP_USERNAME.name, f"required with MAIL_TRANSPORT=smtp{gmail}")
        reader.problem(SMTP_PASSWORD.name, "required with MAIL_TRANSPORT=smtp")


def _mail_from_default(reader: _Reader, *, username: str | None, demo: bool) -> Address | None:
    if username:
        try:
            return parse_address(username)
        except Invalid:
            if not demo:
                reader.problem(
                    MAIL_FROM.name, f"required, because SMTP_USERNAME ({username}) is not an address"
                )
                return None
    if demo:
        return parse_address(DEMO_MAIL_FROM)
    if SMTP_USERNAME.name not in reader.failed:
        reader.problem(MAIL_FROM.name, "required (or an SMTP_USERNAME that is an email address)")
    return None


def _helo_from(reader: _Reader, mail_from: Address) -> str | None:
    try:
        return parse_helo_name(mail_from.domain.encode("idna").decode("ascii"))
    except (Invalid, UnicodeError):
        reader.problem(
            SMTP_HELO_NAME.name, f"required: MAIL_FROM's domain {mail_from.domain!r} is not a host name"
        )
        return None


# --- loading -----------------------------------------------------------------------------------------


def read_env_file(path: Path) -> tuple[dict[str, str], list[str]]:
    """The bindings of a `.env` file and a problem per line that python-dotenv could not parse.

    Values are taken literally (no `${VAR}` expansion): a password may contain `$`.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read it: {error.strerror or error}") from None
    values: dict[str, str] = {}
    problems: list[str] = []
    for binding in parse_stream(io.StringIO(text)):
        original = binding.original
        line = original.line + len(original.string) - len(original.string.lstrip("\r\n"))
        if binding.error:
            # The line itself is not quoted: it may hold a secret.
            problems.append(f"{path} line {line}: not a NAME=value line (check its quotes)")
        elif binding.key is not None:
            values[binding.key] = binding.value or ""
    return values, problems


def _unknown_keys(path: Path, keys: list[str]) -> list[str]:
    known = setting_names()
    notes = []
    for key in keys:
        if key not in known:
            guess = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {guess[0]}?" if guess else ""
            notes.append(f"{key} (in {path}): not a setting of the bridge{hint}")
    return notes


def _permission_note(path: Path, values: Mapping[str, str]) -> list[str]:
    secrets = {row.name for row in SETTINGS if row.secret}
    if not secrets & {key for key, value in values.items() if value}:
        return []
    try:
        mode = path.stat().st_mode
    except OSError:
        return []
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        return [f"{path} holds secrets and other users can read it: chmod 600 {path}"]
    return []


def load_settings(env_file: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the environment plus `.env` (or `env_file`); real environment variables win.

    `os.environ` is only read, never changed. `env_file` (`--env-file`) must exist; `.env` in the current
    directory is optional.
    """
    environ = os.environ if environ is None else environ
    if env_file is not None and not env_file.is_file():
        what = "is not a file" if env_file.exists() else "does not exist"
        raise ConfigError(f"--env-file: {env_file} {what}")
    path = env_file if env_file is not None else Path(".env")
    file_values: dict[str, str] = {}
    problems: list[str] = []
    notes: list[str] = []
    if path.is_file():
        file_values, problems = read_env_file(path)
        notes = _unknown_keys(path, list(file_values)) + _permission_note(path, file_values)
    merged = {**file_values, **environ}
    try:
        settings = Settings.from_mapping(merged)
    except ConfigError as error:
        raise ConfigError([*problems, *error.problems, *notes]) from None
    if problems:
        raise ConfigError([*problems, *notes])
    return dataclasses.replace(settings, warnings=(*settings.warnings, *notes))
