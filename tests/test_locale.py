"""Money, dates and addresses as the customer's language AND country write them.

A Polish customer reads `1 234,56 zł`; an English-speaking customer in Britain `PLN 1,234.56` and
`27 November 2026`; one in the United States `November 27, 2026`; an English-speaking customer in Poland
plain English. Addresses follow the country's order: Polish (and most of Europe) `00-916 Warszawa`,
British `London` then `SW1A 1AA` on its own line, American `Springfield, IL 62704`.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from bridge.mail.formatting import format_local_date, format_money, locale_for
from bridge.mail.lint import SAMPLE_SHOP
from bridge.mail.postal import postal_lines
from bridge.mail.render import RenderedEmail, render_email
from bridge.model.headers import make_address
from bridge.model.kinds import get_kind

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
PLN = {"amount": "1234.56", "currency": "PLN"}
WHEN = "2026-11-27T09:05:00+00:00"


@pytest.mark.parametrize(
    ("language", "country", "money", "day"),
    [
        ("pl", "PL", "1\xa0234,56\xa0zł", "27 listopada 2026"),
        ("pl", "", "1\xa0234,56\xa0zł", "27 listopada 2026"),
        ("en", "GB", "PLN\xa01,234.56", "27 November 2026"),
        ("en-us", "GB", "PLN\xa01,234.56", "27 November 2026"),  # the address wins over the shop language
        ("en", "US", "PLN\xa01,234.56", "November 27, 2026"),
        ("en-US", "", "PLN\xa01,234.56", "November 27, 2026"),
        ("en", "PL", "PLN\xa01,234.56", "November 27, 2026"),  # English is not a language of Poland
        ("de", "AT", "PLN\xa01.234,56", "27. November 2026"),
    ],
)
def test_money_and_dates_follow_the_language_in_the_country(
    language: str, country: str, money: str, day: str
) -> None:
    locale = locale_for(language, country)

    assert format_money(PLN, locale) == money
    assert format_local_date(WHEN, UTC, locale) == day


def test_a_pound_price_for_a_british_customer_uses_the_symbol() -> None:
    assert format_money({"amount": "1234.56", "currency": "GBP"}, locale_for("en", "GB")) == "£1,234.56"


def test_a_country_code_that_is_not_one_is_ignored() -> None:
    assert str(locale_for("en", "XX")) == "en" and str(locale_for("pl", "1")) == "pl"


def render(kind: str, language: str, context: dict[str, Any]) -> RenderedEmail:
    return render_email(
        kind,
        language,
        context,
        shop=SAMPLE_SHOP,
        message_id="<locale.1@zolta-lodka.pl>",
        recipient=make_address("", "jane@example.co.uk"),
        now=NOW,
    )


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\xa0", " "))


def british(context: dict[str, Any]) -> dict[str, Any]:
    moved = copy.deepcopy(context)
    moved["order"]["country"] = "GB"
    for key in ("delivery_address", "invoice_address"):
        if key in moved:
            moved[key].update(
                street=["10 Downing Street"],
                postal_code="SW1A 2AA",
                city="London",
                country="United Kingdom",
                country_code="GB",
            )
    return moved


def test_an_english_confirmation_to_britain_reads_british() -> None:
    rendered = render("order_confirmation", "en", british(get_kind("order_confirmation").sample()))
    text = flat(rendered.text)

    assert "PLN 1,234.56 in total" in text
    assert "27 November 2026" in text
    assert "10 Downing Street London SW1A 2AA United Kingdom" in text  # city, then the postcode
    assert rendered.text.count("London\nSW1A 2AA\n") == 2  # delivery and billing


def test_an_english_status_email_to_the_united_states_reads_american() -> None:
    context = get_kind("shipped").sample()
    context["order"]["country"] = "US"

    text = flat(render("shipped", "en", context).text)

    assert "November 27, 2026" in text and "PLN 1,234.56" in text


def test_a_polish_confirmation_keeps_polish_formats() -> None:
    text = flat(render("order_confirmation", "pl", get_kind("order_confirmation").sample()).text)

    assert "1 234,56 zł" in text and "27 listopada 2026" in text
    assert "ul. Świętokrzyska 12 m. 4 00-916 Warszawa Polska" in text


def test_a_context_stored_before_countries_were_recorded_still_renders_by_language() -> None:
    context = get_kind("order_confirmation").sample()
    del context["order"]["country"]
    for key in ("delivery_address", "invoice_address"):
        del context[key]["country_code"]

    text = flat(render("order_confirmation", "en", context).text)

    assert "PLN 1,234.56 in total" in text and "00-916 Warszawa" in text  # Polish order: the fallback


@pytest.mark.parametrize(
    ("country", "postal_code", "city", "state", "lines"),
    [
        ("PL", "00-916", "Warszawa", "", ["00-916 Warszawa"]),
        ("DE", "10115", "Berlin", "", ["10115 Berlin"]),
        ("GB", "SW1A 2AA", "London", "", ["London", "SW1A 2AA"]),
        ("US", "62704", "Springfield", "IL", ["Springfield, IL 62704"]),
        ("US", "62704", "Springfield", "", ["Springfield, 62704"]),
        ("IT", "00184", "Roma", "RM", ["00184 Roma RM"]),
        ("LV", "LV-1050", "Rīga", "", ["Rīga, LV-1050"]),
        ("BR", "01000-000", "São Paulo", "SP", ["01000-000 São Paulo", "SP"]),  # not in the table: Polish
    ],
)
def test_addresses_are_written_in_their_countrys_order(
    country: str, postal_code: str, city: str, state: str, lines: list[str]
) -> None:
    address = {
        "street": ["Street 1", ""],
        "postal_code": postal_code,
        "city": city,
        "state": state,
        "country": "Country",
        "country_code": country,
    }

    assert postal_lines(address) == ["Street 1", *lines, "Country"]


def test_postal_codes_and_references_are_kept_whole_in_html() -> None:
    html = render("order_confirmation", "en", british(get_kind("order_confirmation").sample())).html

    assert re.search(r'<span class="keep"[^>]*>SW1A 2AA</span>', html)
    assert re.search(r'<span class="keep"[^>]*>XKBKNABJK</span>', html)
