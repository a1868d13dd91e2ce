"""Locale-aware money, dates and plural forms for email templates, all through Babel (CLDR data).

The outbox stores plain JSON, so money arrives as `{"amount": "1234.56", "currency": "PLN"}` and instants as
ISO 8601 strings with an offset. These helpers turn them into what a customer reads (`1 234,56 zł`,
`27 listopada 2026, 10:05`) in the shop's timezone; `render.py` exposes them as Jinja filters.

The locale is the customer's language and country together (`locale_for`): an English email to a British
address reads `PLN 1,234.56` and `27 November 2026`, one to an American address `November 27, 2026`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from babel import Locale, UnknownLocaleError, localedata
from babel.dates import format_date, format_time
from babel.languages import get_official_languages
from babel.numbers import format_currency

PLURAL_CATEGORIES = ("zero", "one", "two", "few", "many", "other")


class FormattingError(ValueError):
    """A context value cannot be formatted (not money, not an ISO instant, a plural form missing)."""


def parse_locale(code: str) -> Locale:
    """`pl`, `pl-PL`, `pl_PL` or `en-GB` → a Babel Locale; unknown codes raise FormattingError."""
    try:
        return Locale.parse(code.replace("-", "_"))
    except (UnknownLocaleError, ValueError) as error:
        raise FormattingError(f"unknown locale {code!r}") from error


def locale_for(language: str, country: str = "") -> Locale:
    """The customer's language as written in the customer's country (`en` + `GB` → en_GB, `de` + `AT` →
    de_AT) when it is a language of that country and CLDR has the pairing; else the language as given
    (`en-US`, `pl`): an English-speaking customer in Poland reads plain English, not CLDR's en_PL.
    `country` is an ISO 3166 alpha-2 code, or ""."""
    code = language.strip().replace("-", "_")
    primary = code.split("_")[0].lower()
    region = country.strip().upper()
    if (
        primary
        and len(region) == 2
        and region.isalpha()
        and primary in get_official_languages(region, regional=True, de_facto=True)
        and localedata.exists(f"{primary}_{region}")
    ):
        return parse_locale(f"{primary}_{region}")
    return parse_locale(code)


# CLDR's currencySpacing, which Babel does not apply: a currency code that touches a digit gets a no-break
# space (`PLN1,234.56` → `PLN 1,234.56`); symbols (`£1,234.56`, `$5`) stay as they are.
_CODE_BEFORE = re.compile(r"^([-−]?)([A-Z]{3})(?=[\d])")
_CODE_AFTER = re.compile(r"(?<=[\d])([A-Z]{3})$")


def _currency_spacing(text: str) -> str:
    return _CODE_AFTER.sub("\xa0\\1", _CODE_BEFORE.sub("\\1\\2\xa0", text))


def to_decimal(value: object) -> Decimal:
    """Money amounts travel as strings so no float rounding ever reaches a customer."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise FormattingError(f"an amount must be a decimal string, got {value!r}")
    try:
        amount = Decimal(value)
    except InvalidOperation as error:
        raise FormattingError(f"an amount must be a decimal string, got {value!r}") from error
    if not amount.is_finite():
        raise FormattingError(f"an amount must be finite, got {value!r}")
    return amount


def format_money(money: Mapping[str, Any], locale: Locale | str) -> str:
    """`{"amount": "1234.56", "currency": "PLN"}` → `1 234,56 zł` (pl) or `PLN 1,234.56` (en).

    Babel rounds to the currency's own number of digits (0 for JPY, 2 for PLN).
    """
    if not isinstance(money, Mapping) or "amount" not in money or "currency" not in money:
        raise FormattingError(f"money must be {{'amount': '…', 'currency': 'PLN'}}, got {money!r}")
    currency = money["currency"]
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise FormattingError(f"a currency must be an ISO 4217 code, got {currency!r}")
    return _currency_spacing(format_currency(to_decimal(money["amount"]), currency.upper(), locale=locale))


def parse_instant(value: object) -> datetime:
    """An ISO 8601 string with an offset → an aware datetime (naive strings are refused: whose noon?)."""
    if isinstance(value, datetime):
        instant = value
    elif isinstance(value, str):
        try:
            instant = datetime.fromisoformat(value)
        except ValueError as error:
            raise FormattingError(f"not an ISO 8601 date and time: {value!r}") from error
    else:
        raise FormattingError(f"not an ISO 8601 date and time: {value!r}")
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise FormattingError(f"a date and time needs an offset, got {value!r}")
    return instant


def format_local_date(value: object, zone: tzinfo, locale: Locale | str) -> str:
    """`2026-11-27T09:05:00+00:00` → `27 listopada 2026` (pl) / `November 27, 2026` (en), shop's day."""
    return format_date(parse_instant(value).astimezone(zone), "long", locale=locale)


def format_local_datetime(value: object, zone: tzinfo, locale: Locale | str) -> str:
    """A long date and a short time in the shop's timezone: `27 listopada 2026 10:05`.

    Babel's own "long" datetime adds seconds and a zone name, which reads like a log line in an email.
    """
    loc = parse_locale(locale) if isinstance(locale, str) else locale
    instant = parse_instant(value).astimezone(zone)
    date_part = format_date(instant, "long", locale=loc)
    time_part = format_time(instant, "short", tzinfo=zone, locale=loc)
    pattern = str(loc.datetime_formats["long"])
    return pattern.replace("'", "").replace("{1}", date_part).replace("{0}", time_part)


def plural_category(count: object, locale: Locale | str) -> str:
    """The CLDR plural category (`one`, `few`, `many`, `other`) of `count` in `locale`."""
    loc = parse_locale(locale) if isinstance(locale, str) else locale
    if isinstance(count, bool) or not isinstance(count, int | float | Decimal | str):
        raise FormattingError(f"a count must be a number, got {count!r}")
    number = to_decimal(count) if isinstance(count, str) else count
    return str(loc.plural_form(number))


def choose_plural(count: object, forms: Mapping[str, str], locale: Locale | str) -> str:
    """Pick the word form for `count`; every category the language needs must be given.

    Polish needs `one` (1 produkt), `few` (2 produkty), `many` (5 produktów) and `other` (1,5 produktu);
    English needs `one` and `other`. A missing form is a missing translation, so it fails loudly (and lint
    reports it) instead of printing a wrong word.
    """
    loc = parse_locale(locale) if isinstance(locale, str) else locale
    unknown = set(forms) - set(PLURAL_CATEGORIES)
    if unknown:
        raise FormattingError(f"unknown plural categories {sorted(unknown)}; use {PLURAL_CATEGORIES}")
    needed = set(loc.plural_form.tags) | {"other"}
    missing = sorted(needed - set(forms), key=PLURAL_CATEGORIES.index)
    if missing:
        raise FormattingError(
            f"plural forms missing for {loc}: {', '.join(missing)} (given: {', '.join(sorted(forms))})"
        )
    return forms[plural_category(count, loc)]
