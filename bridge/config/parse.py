"""The typed value parsers: a stripped, non-empty raw value in, a typed value out, or `Invalid`.

Each parser knows one kind of value (a duration, an address, a URL…) and words its complaint to follow
`NAME: `, so the setting it came from is named by the reader (`bridge.config.reader`), not here.
"""

from __future__ import annotations

import ipaddress
import math
import re
import ssl
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from email.errors import NonASCIILocalPartDefect
from email.headerregistry import Address, HeaderRegistry
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, available_timezones

from bridge.model.kinds import status_kinds
from bridge.secret import Secret

# webservice_account.key is VARCHAR(32); PrestaShop refuses a key of any other length (401, code 18).
PRESTASHOP_KEY_LENGTH: Final = 32


class Invalid(ValueError):
    """A parser's complaint, worded to follow `NAME: `. `echo=False` keeps the raw value out of it."""

    def __init__(self, message: str, *, echo: bool = True, hint: str = "") -> None:
        super().__init__(message)
        self.echo = echo
        self.hint = hint  # said after the quoted value: "…, got 'x'; did you mean …?"


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
    """One address, optionally with a display name: `Sklep Zofii <sklep@gmail.com>`.

    A local part with non-ASCII letters (`żółw@example.pl`) is an address (RFC 6531): Python calls it a
    defect, the bridge sends it with SMTPUTF8."""
    parse_str(raw)  # a line break here would be a header injection
    refusal = Invalid('must be one email address, like shop@example.com or "Shop name <shop@example.com>"')
    try:
        header = _HEADERS("to", raw)
    except (IndexError, ValueError):  # Python 3.11's parser crashes on `jan@`
        raise refusal from None
    addresses: tuple[Address, ...] = header.addresses  # type: ignore[attr-defined]
    defects = [defect for defect in header.defects if not isinstance(defect, NonASCIILocalPartDefect)]
    if defects or len(addresses) != 1 or not addresses[0].username or not addresses[0].domain:
        raise refusal
    return addresses[0]


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


STATUS_EMAIL_KINDS: Final = status_kinds()  # the kinds an order state can send (their declarations say)


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


def is_loopback(host: str) -> bool:
    """A server on this machine: clear text to it never crosses a network."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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


# A secret the bridge signs with or derives keys from must resist an offline guess by anyone holding one
# signed link: 32 or more characters, 10 or more of them different, and 128 bits by the estimate below.
SIGNING_SECRET_LENGTH: Final = 32
SIGNING_SECRET_DISTINCT: Final = 10
SIGNING_SECRET_BITS: Final = 128
MAKE_A_SECRET: Final = 'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'
_CHARACTER_CLASSES: Final = (
    (re.compile(r"[0-9]"), 10),
    (re.compile(r"[a-z]"), 26),
    (re.compile(r"[A-Z]"), 26),
    (re.compile(r"[\x20-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e]"), 33),  # ASCII punctuation and space
    (re.compile(r"[^\x00-\x7f]"), 100),  # anything else, generously
)


def estimated_bits(value: str) -> float:
    """A simple, explainable strength estimate: the length times log2 of the size of the character classes
    the value uses (digits 10, lower-case 26, upper-case 26, other ASCII 33, anything else 100). It trusts
    the owner's randomness; the distinct-character rule catches `aaaa…` and `abab…`."""
    pool = sum(size for pattern, size in _CHARACTER_CLASSES if pattern.search(value))
    return len(value) * math.log2(pool) if pool > 1 else 0.0


def parse_signing_secret(raw: str) -> Secret:
    """A secret that signs links or derives keys (UNSUBSCRIBE_SECRET); never quoted, not even its length."""
    secret = parse_secret(raw)
    value = secret.reveal()
    if (
        len(value) < SIGNING_SECRET_LENGTH
        or len(set(value)) < SIGNING_SECRET_DISTINCT
        or estimated_bits(value) < SIGNING_SECRET_BITS
    ):
        raise Invalid(
            f"is too weak to sign with: use {SIGNING_SECRET_LENGTH} or more random characters, at least "
            f"{SIGNING_SECRET_DISTINCT} of them different (about {SIGNING_SECRET_BITS} bits); make one with "
            f"`{MAKE_A_SECRET}`",
            echo=False,
        )
    return secret


def parse_api_key(raw: str) -> Secret:
    key = parse_secret(raw.strip()).reveal()
    if len(key) != PRESTASHOP_KEY_LENGTH:
        raise Invalid(
            f"PrestaShop keys are {PRESTASHOP_KEY_LENGTH} characters, this one has {len(key)}"
            " (copy it again from Advanced Parameters → Webservice)",
            echo=False,
        )
    return Secret(key)
