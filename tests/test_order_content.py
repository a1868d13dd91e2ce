"""What an order's emails tell the customer beyond its status: where the invoice is, and what the parcel
holds, where it goes and when it should arrive."""

from __future__ import annotations

import copy
import dataclasses
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from bridge.mail.lint import SAMPLE_SHOP
from bridge.mail.render import RenderedEmail, render_email
from bridge.model.headers import make_address
from bridge.model.kinds import get_kind
from bridge.plan.contexts import order_summary, shipment_context
from tests.builders import FRONT_URL, facts, order

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
INVOICE = {
    "pl": "Faktura do zamówienia jest gotowa. Pobierzesz ją na",
    "en": "The invoice for your order is ready. You can download it from",
}


def render(kind: str, language: str, context: dict[str, Any]) -> RenderedEmail:
    return render_email(
        kind,
        language,
        context,
        shop=SAMPLE_SHOP,
        message_id="<content.1@zolta-lodka.pl>",
        recipient=make_address("", "zofia@example.com"),
        now=NOW,
    )


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\xa0", " "))


def test_the_context_says_when_the_order_has_an_invoice() -> None:
    placed = order(1042)
    invoiced = dataclasses.replace(placed, invoice_number=17)

    assert order_summary(facts(placed), FRONT_URL)["invoice"] is False
    assert order_summary(facts(invoiced), FRONT_URL)["invoice"] is True


@pytest.mark.parametrize("language", ["pl", "en"])
def test_a_confirmation_without_an_invoice_does_not_mention_one(language: str) -> None:
    rendered = render("order_confirmation", language, get_kind("order_confirmation").sample(0))

    assert INVOICE[language] not in flat(rendered.text) and INVOICE[language] not in flat(rendered.html)


@pytest.mark.parametrize(
    ("kind", "index", "page"),
    [
        ("order_confirmation", 1, "controller=guest-tracking"),  # a guest who paid at once
        ("payment_accepted", 0, "controller=order-detail"),  # the state that numbers the invoice
    ],
)
@pytest.mark.parametrize("language", ["pl", "en"])
def test_once_an_invoice_exists_the_email_links_where_to_download_it(
    kind: str, index: int, page: str, language: str
) -> None:
    context = get_kind(kind).sample(index)
    rendered = render(kind, language, context)
    url = context["order"]["url"]

    assert INVOICE[language] in flat(rendered.text) and url in rendered.text and page in url
    html = flat(rendered.html)
    assert INVOICE[language] in html and f'href="{url.replace("&", "&amp;")}"' in rendered.html


def test_an_invoice_flag_missing_from_an_older_context_is_no_invoice() -> None:
    context = get_kind("payment_accepted").sample(0)
    del context["order"]["invoice"]

    assert INVOICE["pl"] not in flat(render("payment_accepted", "pl", context).text)


SHIPPED = {
    "pl": ("ZAWARTOŚĆ PRZESYŁKI", "ADRES DOSTAWY", "Przewidywany czas dostawy: 1-2 dni robocze"),
    "en": ("IN THIS PARCEL", "DELIVERY ADDRESS", "Expected delivery: 1-2 dni robocze"),
}


@pytest.mark.parametrize("language", ["pl", "en"])
def test_the_shipped_email_lists_the_items_the_address_and_the_expected_delivery(language: str) -> None:
    rendered = render("shipped", language, get_kind("shipped").sample(0))
    inside, address, delay = SHIPPED[language]
    text, html = flat(rendered.text), flat(re.sub(r"<[^>]+>", "", rendered.html))

    assert inside in rendered.text and address in rendered.text and delay in text
    assert re.search(f"<h2[^>]*>{inside.capitalize()}</h2>", rendered.html)
    assert re.search(f"<h2[^>]*>{address.capitalize()}</h2>", rendered.html)
    for part in (text, html):
        assert "Kurtka przeciwdeszczowa (Rozmiar: M - Kolor: Granatowy)" in part
        assert "ul. Świętokrzyska 12 m. 4" in part and "00-916 Warszawa" in part
        assert "1-2 dni robocze" in part


@pytest.mark.parametrize("language", ["pl", "en"])
def test_a_shipped_email_stored_before_items_and_address_were_recorded_still_renders(language: str) -> None:
    context = copy.deepcopy(get_kind("shipped").sample(0))
    for key in ("delay", "items", "address"):
        del context["shipment"][key]

    rendered = render("shipped", language, context)

    assert SHIPPED[language][0] not in rendered.text and "PL123456789" in rendered.text


def test_the_shipment_context_carries_the_carriers_delay_in_the_orders_language() -> None:
    shipped = shipment_context(facts(order(1042)), "Złota Łąka")

    assert shipped["delay"] == "Paczkomat, 1-2 dni robocze"
    assert shipped["items"] and shipped["address"]["street"]
