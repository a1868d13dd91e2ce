"""Money, dates and plural forms the way a Polish or English customer expects to read them (Babel/CLDR)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from bridge.mail.formatting import (
    FormattingError,
    choose_plural,
    format_local_date,
    format_local_datetime,
    format_money,
)

WARSAW = ZoneInfo("Europe/Warsaw")
NBSP = "\xa0"  # CLDR separates thousands and the currency with no-break spaces in Polish
NNBSP = "\u202f"  # and puts a narrow no-break space before AM/PM in English


def pln(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "PLN"}


def test_polish_money_groups_thousands_and_ends_with_zloty() -> None:
    assert format_money(pln("1234.56"), "pl") == f"1{NBSP}234,56{NBSP}zł"


def test_english_money_puts_the_currency_first() -> None:
    assert format_money({"amount": "1234.56", "currency": "EUR"}, "en") == "€1,234.56"
    assert format_money(pln("1234.56"), "en") == "PLN\xa01,234.56"  # CLDR's currency spacing


def test_euro_in_polish_keeps_polish_separators() -> None:
    assert format_money({"amount": "1234.56", "currency": "EUR"}, "pl") == f"1{NBSP}234,56{NBSP}€"


def test_prestashop_six_decimal_amounts_are_shown_with_the_currencys_digits() -> None:
    assert format_money(pln("57.140000"), "pl") == f"57,14{NBSP}zł"
    assert format_money({"amount": "1234", "currency": "JPY"}, "en") == "¥1,234"


def test_money_must_be_a_decimal_string_with_an_iso_currency() -> None:
    with pytest.raises(FormattingError, match="decimal string"):
        format_money({"amount": 12.3, "currency": "PLN"}, "pl")
    with pytest.raises(FormattingError, match="decimal string"):
        format_money(pln("dwanaście"), "pl")
    with pytest.raises(FormattingError, match="ISO 4217"):
        format_money({"amount": "12.30", "currency": "zł"}, "pl")
    with pytest.raises(FormattingError, match="money must be"):
        format_money({"amount": "12.30"}, "pl")


def test_dates_are_shown_in_the_shops_timezone_not_utc() -> None:
    late_evening_utc = "2026-11-27T23:30:00+00:00"  # already the 28th in Warsaw
    assert format_local_date(late_evening_utc, WARSAW, "pl") == "28 listopada 2026"
    assert format_local_datetime(late_evening_utc, WARSAW, "pl") == "28 listopada 2026 00:30"
    assert format_local_datetime(late_evening_utc, WARSAW, "en") == f"November 28, 2026, 12:30{NNBSP}AM"


def test_summer_time_is_applied() -> None:
    assert format_local_datetime("2026-07-01T10:00:00+00:00", WARSAW, "pl") == "1 lipca 2026 12:00"


def test_british_english_orders_the_day_first() -> None:
    assert format_local_date("2026-11-27T09:05:00+00:00", WARSAW, "en_GB") == "27 November 2026"


def test_a_date_without_an_offset_is_refused() -> None:
    with pytest.raises(FormattingError, match="offset"):
        format_local_date("2026-11-27 09:05:00", WARSAW, "pl")
    with pytest.raises(FormattingError, match="ISO 8601"):
        format_local_date("27.11.2026", WARSAW, "pl")


POLISH_PRODUCTS = {"one": "produkt", "few": "produkty", "many": "produktów", "other": "produktu"}


@pytest.mark.parametrize(
    ("count", "word"),
    [
        (1, "produkt"),
        (2, "produkty"),
        (4, "produkty"),
        (5, "produktów"),
        (12, "produktów"),
        (22, "produkty"),
        (25, "produktów"),
        (112, "produktów"),
        (0, "produktów"),
    ],
)
def test_polish_plural_forms_follow_cldr(count: int, word: str) -> None:
    assert choose_plural(count, POLISH_PRODUCTS, "pl") == word


def test_english_needs_only_one_and_other() -> None:
    forms = {"one": "item", "other": "items"}
    assert [choose_plural(n, forms, "en") for n in (1, 2, 5)] == ["item", "items", "items"]


def test_a_missing_polish_plural_form_is_a_missing_translation() -> None:
    with pytest.raises(FormattingError, match="plural forms missing for pl: few, many"):
        choose_plural(5, {"one": "produkt", "other": "produkty"}, "pl")


def test_an_unknown_plural_category_is_refused() -> None:
    with pytest.raises(FormattingError, match="unknown plural categories"):
        choose_plural(5, {**POLISH_PRODUCTS, "several": "kilka"}, "pl")
