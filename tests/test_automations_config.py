"""The birthday and win-back settings (bridge.config.automations): defaults off, discounts parsed, one-line
problems that name the setting, and a warning when marketing mail is off."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bridge.config import Settings
from bridge.errors import ConfigError
from bridge.model.automations import Discount

MARKETING = {"UNSUBSCRIBE_URL": "https://sklep.example.pl/wypisz"}


def test_both_are_off_by_default() -> None:
    settings = Settings.from_mapping({})
    assert (settings.birthday_emails, settings.winback_after_days) == (False, 0)
    assert (settings.birthday_hour, settings.winback_hour) == (9, 10)
    assert settings.birthday_discount is None and settings.winback_discount is None
    assert settings.birthday_discount_days == settings.winback_discount_days == 14


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("10%", Discount(percent=Decimal(10))),
        ("7,5 %", Discount(percent=Decimal("7.5"))),
        ("100%", Discount(percent=Decimal(100))),
        ("20", Discount(amount=Decimal(20))),
        ("19.99", Discount(amount=Decimal("19.99"))),
    ],
)
def test_a_discount_is_a_percentage_or_an_amount(raw: str, expected: Discount) -> None:
    settings = Settings.from_mapping({**MARKETING, "BIRTHDAY_DISCOUNT": raw, "WINBACK_DISCOUNT": raw})
    assert settings.birthday_discount == settings.winback_discount == expected


@pytest.mark.parametrize("raw", ["0", "0%", "150%", "20 zł", "-5", "10.999", "dziesięć"])
def test_a_discount_that_is_neither_is_refused_in_one_line(raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping({"WINBACK_DISCOUNT": raw})
    [problem] = caught.value.problems
    assert problem.startswith("WINBACK_DISCOUNT: must be a percentage") and "\n" not in problem


def test_hours_and_days_have_bounds() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping(
            {"BIRTHDAY_HOUR": "24", "WINBACK_AFTER_DAYS": "-1", "BIRTHDAY_DISCOUNT_DAYS": "0"}
        )
    assert [p.split(":")[0] for p in caught.value.problems] == [
        "BIRTHDAY_HOUR",
        "BIRTHDAY_DISCOUNT_DAYS",
        "WINBACK_AFTER_DAYS",
    ]


def test_turned_on_without_marketing_mail_they_warn_that_nothing_is_sent() -> None:
    quiet = Settings.from_mapping({"BIRTHDAY_EMAILS": "on", "WINBACK_AFTER_DAYS": "90"})
    assert quiet.warnings == (
        "BIRTHDAY_EMAILS and WINBACK_AFTER_DAYS: marketing mail is off, so none is sent; set UNSUBSCRIBE_URL"
        " to turn it on",
    )
    assert Settings.from_mapping({**MARKETING, "BIRTHDAY_EMAILS": "on"}).warnings == ()
