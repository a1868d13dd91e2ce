"""The shop's settings: which PrestaShop to read, with which key, how patiently.

Without PRESTASHOP_URL the settings still load (the owner's commands that read only the state store or the
templates, and `bridge demo`, need no shop), but every command that reads a shop refuses to start
(`bridge.app.require_shop`): there is no silent fallback to the embedded demo shop, whose baseline would
otherwise be trusted against the real shop later.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Final, TypedDict
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from bridge.config.parse import (
    Invalid,
    is_loopback,
    parse_api_key,
    parse_duration,
    parse_int,
    parse_shop_url,
    parse_timezone,
)
from bridge.config.reader import Reader, Setting
from bridge.secret import Secret

PRESTASHOP_URL = Setting(
    "PRESTASHOP_URL",
    "",
    parse_shop_url,
    "The shop's address, like https://shop.example.com. Required by every command that reads the shop.",
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
    "PRESTASHOP_TIMEOUT",
    "20s",
    parse_duration(timedelta(seconds=1), timedelta(seconds=300)),
    "How long the bridge waits for the shop at each step (connecting, each read of the answer).",
)
PRESTASHOP_RETRIES = Setting(
    "PRESTASHOP_RETRIES", "3", parse_int(0, 10), "Retries of a failed read before the poll gives up."
)
PRESTASHOP_DEADLINE = Setting(
    "PRESTASHOP_DEADLINE",
    "",
    parse_duration(timedelta(seconds=1), timedelta(hours=1)),
    "How long one exchange with the shop may take in all (connecting, headers, the whole answer),"
    " however slowly it comes. Empty: three times PRESTASHOP_TIMEOUT.",
)

_SIZE_UNITS: Final = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_size(low: int, high: int) -> Callable[[str], int]:
    """Bytes (`1048576`), or a number with K, M or G (`512K`, `32M`, `1G`; KiB, MiB and GiB are meant)."""

    def parse(raw: str) -> int:
        match = re.fullmatch(r"([0-9]{1,13}) ?(?:([kmg])(?:i?b)?|b)?", raw.lower())
        value = int(match[1]) * _SIZE_UNITS[match[2] or ""] if match else None
        if value is None or not low <= value <= high:
            raise Invalid(
                f"must be a size between {low >> 20}M and {high >> 30}G (bytes, or a number with K, M or"
                " G: 512K, 32M, 1G)"
            )
        return value

    return parse


PRESTASHOP_MAX_BODY = Setting(
    "PRESTASHOP_MAX_BODY",
    "32M",
    parse_size(1 << 20, 1 << 30),
    "The largest answer the bridge reads from the shop; a larger one is refused unread.",
)
SHOP_TIMEZONE = Setting(
    "SHOP_TIMEZONE",
    "",
    parse_timezone,
    "The shop's time zone (IANA name, like Europe/Warsaw). Empty: read PS_TIMEZONE from the shop.",
)


class ShopFields(TypedDict):
    prestashop_url: str | None
    prestashop_api_key: Secret | None
    prestashop_timeout: timedelta
    prestashop_retries: int
    prestashop_deadline: timedelta
    prestashop_max_body: int
    shop_timezone: ZoneInfo | None


def no_shop(reader: Reader) -> bool:
    """No PRESTASHOP_URL: no command will reach a customer, so mail settings keep harmless defaults."""
    return PRESTASHOP_URL.name not in reader.given


def no_shop_message(env_file: Path | None) -> str:
    """The one line a command that needs the shop prints when none is configured."""
    demo = "`bridge demo` needs no shop"
    if env_file is None:
        return (
            f"PRESTASHOP_URL is not set: set it to your shop's address, like https://shop.example.com; {demo}"
        )
    if not env_file.is_file():
        return (
            f"PRESTASHOP_URL is not set, and there is no {env_file}: `bridge init` writes it (or copy"
            f" config.example.env there and set PRESTASHOP_URL to your shop's address, or use --env-file"
            f" PATH); {demo}"
        )
    return (
        f"PRESTASHOP_URL is not set in {env_file}: set it to your shop's address, like"
        f" https://shop.example.com; {demo}"
    )


def check_shop(reader: Reader) -> None:
    """A real shop needs its key; a key without a shop, or a key sent in clear text, is worth a warning."""
    url, api_key, missing = reader.read(PRESTASHOP_URL), reader.read(PRESTASHOP_API_KEY), no_shop(reader)
    if not missing and api_key is None and PRESTASHOP_API_KEY.name not in reader.failed:
        reader.problem(PRESTASHOP_API_KEY.name, "required when PRESTASHOP_URL is set")
    if missing and api_key is not None:
        reader.warn("PRESTASHOP_API_KEY is set but PRESTASHOP_URL is empty: set PRESTASHOP_URL too")
    if url is not None and url.startswith("http://") and not is_loopback(urlsplit(url).hostname or ""):
        reader.warn(
            "PRESTASHOP_URL uses http://: the API key and customers' data travel in clear text;"
            " use https:// if the shop has a certificate"
        )


def shop_fields(reader: Reader) -> ShopFields:
    """Asked once there is no problem."""
    timeout = reader.value(PRESTASHOP_TIMEOUT)
    return ShopFields(
        prestashop_url=reader.read(PRESTASHOP_URL),
        prestashop_api_key=reader.read(PRESTASHOP_API_KEY),
        prestashop_timeout=timeout,
        prestashop_retries=reader.value(PRESTASHOP_RETRIES),
        prestashop_deadline=reader.read(PRESTASHOP_DEADLINE) or 3 * timeout,
        prestashop_max_body=reader.value(PRESTASHOP_MAX_BODY),
        shop_timezone=reader.read(SHOP_TIMEZONE),
    )
