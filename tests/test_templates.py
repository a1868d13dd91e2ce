"""Every kind in every shipped language, rendered from its sample: what a customer and an owner would check.
Also `bridge templates lint`: clean on the shipped set, precise (file:line) on an owner's mistakes.
Marketing kinds are rendered with the sample unsubscribe links, as delivery renders them with real ones."""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from bridge.mail.lint import SAMPLE_SHOP, Problem, lint_templates, preview_email
from bridge.mail.render import RenderedEmail, render_email
from bridge.model.headers import make_address
from bridge.model.kinds import KINDS, SAMPLE_UNSUBSCRIBE, get_kind

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
MESSAGE_ID = "<order-1042.status-5531@zolta-lodka.pl>"
LANGUAGES = ("pl", "en")
# Transactional kinds about an order (not test_email, not owner_alert, not the review request): their
# subject and body name the order and its total.
ORDER_KINDS = sorted(
    name for name, kind in KINDS.items() if "order" in kind.required_keys and kind.category == "transactional"
)
TOTAL = {"pl": "1 234,56 zł", "en": "PLN 1,234.56"}  # Babel's CLDR output, no-break spaces shown as spaces

# What the customer must read in both parts (text, and the visible text of the HTML).
PHRASES: dict[tuple[str, str], list[str]] = {
    ("order_confirmation", "pl"): [
        "Dziękujemy za zamówienie",
        "6 produktów",
        "Kurtka przeciwdeszczowa (Rozmiar: M - Kolor: Granatowy)",
        "Kubek „Łódź” 330 ml",
        "Personalizacja: Dla Józefa",
        "2 szt. × 499,00 zł",
        "998,00 zł",
        "Rabat na start",
        "−10,00 zł",
        "14,99 zł",
        "Pakowanie na prezent",
        "21,61 zł",
        "w tym VAT 23%",
        "230,85 zł",
        "Razem netto",
        "1 003,71 zł",
        "Przelew bankowy (oczekuje na płatność)",
        "InPost Paczkomaty 24/7",
        "Adres dostawy",
        "ul. Świętokrzyska 12 m. 4",
        "Dane do faktury",
        "NIP: PL5260250274",
        "Proszę o dostawę po 16:00.",
        "27 listopada 2026 10:05",
        "Zobacz zamówienie na swoim koncie",
    ],
    ("order_confirmation", "en"): [
        "Thank you for your order",
        "6 items",
        "Kurtka przeciwdeszczowa (Rozmiar: M - Kolor: Granatowy)",
        "2 × PLN 499.00",
        "PLN 998.00",
        "Rabat na start",
        "−PLN 10.00",
        "Gift wrapping",
        "incl. VAT 23%",
        "PLN 230.85",
        "Total excl. tax",
        "PLN 1,003.71",
        "Przelew bankowy (awaiting payment)",
        "InPost Paczkomaty 24/7",
        "Delivery address",
        "Billing address",
        "VAT number: PL5260250274",
        "November 27, 2026, 10:05 AM",
        "View your order in your account",
    ],
    ("awaiting_bank_wire", "pl"): [
        "Wyślemy je, gdy tylko otrzymamy przelew",
        "PL61 1090 1014 0000 0712 1981 2874",
        "WBKPPLPP",
        "Santander Bank Polska",
        "Żółta Łódka sp. z o.o.",
        "Tytuł przelewu",
    ],
    ("awaiting_bank_wire", "en"): [
        "as soon as we receive your transfer",
        "PL61 1090 1014 0000 0712 1981 2874",
        "Santander Bank Polska",
        "Payment reference",
    ],
    ("awaiting_cheque", "pl"): [
        "Odbiorca czeku",
        "Żółta Łódka sp. z o.o.",
        "Skrytka pocztowa 12",
        "30-001 Kraków 1",
    ],
    ("awaiting_cheque", "en"): ["Payable to", "Żółta Łódka sp. z o.o.", "Skrytka pocztowa 12"],
    ("payment_accepted", "pl"): [
        "Otrzymaliśmy płatność za zamówienie XKBKNABJK",
        "Przelew bankowy",
        "Numer transakcji",
        "TR-2026-11-27-0042",
        "27 listopada 2026 14:45",
    ],
    ("payment_accepted", "en"): [
        "Your payment for order XKBKNABJK has been accepted",
        "Transaction ID",
        "TR-2026-11-27-0042",
        "November 27, 2026, 2:45 PM",
    ],
    ("processing", "pl"): ["Twoje zamówienie XKBKNABJK jest właśnie kompletowane"],
    ("processing", "en"): ["Your order XKBKNABJK is being prepared"],
    ("shipped", "pl"): [
        "Zamówienie XKBKNABJK zostało wysłane",
        "InPost Paczkomaty 24/7",
        "PL123456789",
        "Śledź przesyłkę",
    ],
    ("shipped", "en"): ["Your order XKBKNABJK has shipped", "PL123456789", "Track your parcel"],
    ("tracking_added", "pl"): ["ma już numer do śledzenia", "PL123456789", "Śledź przesyłkę"],
    ("tracking_added", "en"): ["Here is the tracking number", "PL123456789", "Track your parcel"],
    ("delivered", "pl"): ["Twoje zamówienie XKBKNABJK zostało dostarczone"],
    ("delivered", "en"): ["Your order XKBKNABJK has been delivered"],
    ("cancelled", "pl"): ["Twoje zamówienie XKBKNABJK zostało anulowane", "1 234,56 zł: tę kwotę zwrócimy"],
    ("cancelled", "en"): [
        "Your order XKBKNABJK has been cancelled",
        "PLN 1,234.56 from you: that amount comes",
    ],
    ("refunded", "pl"): ["Zwróciliśmy pieniądze za zamówienie XKBKNABJK w kwocie 1 234,56 zł"],
    ("refunded", "en"): ["We have refunded your order XKBKNABJK: PLN 1,234.56"],
    ("credit_slip", "pl"): [
        "Zwracamy Ci 174,96 zł za zamówienie XKBKNABJK",
        "Kubek „Łódź” 330 ml",
        "2 szt.",
        "99,98 zł",
        "Koszt dostawy",
        "14,99 zł",
        "Razem do zwrotu (z VAT)",
        "odeślemy przelewem",
        "w ciągu 14 dni",
    ],
    ("credit_slip", "en"): [
        "We are refunding PLN 174.96 for your order XKBKNABJK",
        "Skarpetki wełniane (Rozmiar: 39-42)",
        "Shipping",
        "Total refunded (tax included)",
        "by bank transfer",
        "within 14 days",
    ],
    ("message_reply", "pl"): [
        "Odpowiadamy na Twoją wiadomość #12 w sprawie zamówienia XKBKNABJK",
        "zmieniliśmy adres na <ul. Świętokrzyska 12>",
        "czy mogę zmienić adres dostawy?",
    ],
    ("message_reply", "en"): [
        "Here is our answer to your message #12 about order XKBKNABJK",
        "zmieniliśmy adres na <ul. Świętokrzyska 12>",
        "czy mogę zmienić adres dostawy?",
    ],
    ("message_received", "pl"): ["otrzymaliśmy Twoją wiadomość", "#12", "Odpowiemy w ciągu 24 godzin"],
    ("message_received", "en"): ["we received your message", "#12", "We will answer within 24 hours"],
    ("terms_changed", "pl"): [
        "Zaktualizowaliśmy dokument",
        "Regulamin",
        "21 grudnia 2026",
        "bo masz konto w sklepie",
    ],
    ("terms_changed", "en"): [
        "We have updated",
        "Regulamin",
        "December 21, 2026",
        "because you have an account at",
    ],
    ("owner_terms_changed", "pl"): ["zmienił się", "Regulamin", "pl, en", "1234", "notify-terms --yes"],
    ("owner_terms_changed", "en"): ["changed in", "Regulamin", "pl, en", "1234", "notify-terms --yes"],
    ("payment_error", "pl"): ["płatność za zamówienie XKBKNABJK nie powiodła się"],
    ("payment_error", "en"): ["the payment for your order XKBKNABJK did not go through"],
    ("backorder", "pl"): ["są chwilowo niedostępne w magazynie"],
    ("backorder", "en"): ["are temporarily out of stock"],
    ("test_email", "pl"): [
        "To jest wiadomość testowa",
        "Nie dotyczy żadnego zamówienia",
        "smtp.gmail.com",
        "587",
        "STARTTLS",
        "sklep.zolta.lodka@gmail.com",
        "27 listopada 2026 10:05",
        "zażółć gęślą jaźń",
    ],
    ("test_email", "en"): ["This is a test email", "It is not an order", "smtp.gmail.com", "587", "STARTTLS"],
    ("cart_reminder", "pl"): [
        "Wygląda na to, że zakupy w sklepie Żółta Łódka zostały przerwane",
        "W koszyku: 6 produktów",
        "Kurtka przeciwdeszczowa (Rozmiar: M - Kolor: Granatowy)",
        "2 szt. × 59,99 zł",
        "119,98 zł",
        "Wartość produktów",
        "768,95 zł",
        "Wróć do koszyka",
        "nie przekazuj tej wiadomości innym osobom",
        "Sklep Żółta Łódka wysyła tę wiadomość swoim klientom",
        "Wypisz się",
        "Ta wiadomość została wysłana na adres zofia@example.com",
    ],
    ("cart_reminder", "en"): [
        "It looks like your shopping at Żółta Łódka was interrupted",
        "In your cart: 6 items",
        "Kubek „Łódź” 330 ml",
        "2 × PLN 59.99",
        "PLN 768.95",
        "Return to your cart",
        "please do not forward this email",
        "Żółta Łódka sends this email to its customers",
        "Unsubscribe",
        "This email was sent to zofia@example.com",
    ],
    ("review_request", "pl"): [
        "zamówienie XKBKNABJK z 27 listopada 2026 dotarło do Ciebie",
        "kilka słów o zamówionych produktach",
        "Skarpetki wełniane (Rozmiar: 39-42)",
        "Napisz opinię",
        "czytamy wszystkie",
        "Wypisz się",
    ],
    ("review_request", "en"): [
        "your order XKBKNABJK of November 27, 2026 reached you",
        "what you think of the products",
        "Write a review",
        "we read every answer",
        "Unsubscribe",
    ],
    # The owner's own text (Polish in both samples' languages), the code box, why it came, the way out.
    ("campaign", "pl"): [
        "Cześć Zofia",
        "Użyj kodu BF2026-7KQ2M9XA do 4 grudnia 2026 11:05",
        "Twój kod rabatowy: 10% zniżki",
        "co najmniej 100,00 zł",
        "tylko dla Ciebie i można go użyć jeden raz",
        "włączoną zgodę na informacje o nowościach i promocjach",
        "Wypisz się",
    ],
    ("campaign", "en"): [
        "Cześć Zofia",
        "Użyj kodu BF2026-7KQ2M9XA do December 4, 2026, 11:05",
        "Your discount code: 10% off",
        "orders of PLN 100.00 or more",
        "The code is yours alone and works once",
        "you agreed to receive news and offers from",
        "Unsubscribe",
    ],
    # Birthday and win-back (issue 18): the wish or the invitation, the personal code's box, why it came.
    ("birthday", "pl"): [
        "Dzień dobry, Zofia!",
        "Dziś Twoje urodziny!",
        "życzy Ci wszystkiego, co najlepsze",
        "Twój kod rabatowy: 15% zniżki",
        "URODZINY-7KQ2M9XA",
        "Kod jest ważny do 11 grudnia 2026 10:00",
        "tylko dla Ciebie i można go użyć jeden raz",
        "jest zapisana data urodzin",
        "Wypisz się",
    ],
    ("birthday", "en"): [
        "Today is your birthday",
        "wishes you all the best",
        "Your discount code: 15% off",
        "URODZINY-7KQ2M9XA",
        "Valid until December 11, 2026, 10:00 AM",
        "The code is yours alone and can be used once",
        "has your date of birth",
        "Unsubscribe",
    ],
    ("winback", "pl"): [
        "Od Twojego ostatniego zamówienia z 29 sierpnia 2026 minęło już trochę czasu",
        "Twój kod rabatowy: 20,00 zł zniżki",
        "WRACAJ-4HN8R2PW",
        "co najmniej 100,00 zł",
        "Odpowiedz na tę wiadomość",
        "Wypisz się",
    ],
    ("winback", "en"): [
        "It has been a while since your last order on August 29, 2026",
        "Your discount code: PLN 20.00 off",
        "WRACAJ-4HN8R2PW",
        "orders of PLN 100.00 or more",
        "Just reply to this email",
        "Unsubscribe",
    ],
    # The new-product digest (issue 18): the products with their prices, why it came, the way out.
    ("new_products", "pl"): [
        "Od 23 listopada 2026 w sklepie",
        "pojawiły się 3 nowe produkty",
        "Dzbanek „Wrzos” 1 l",
        "149,00 zł",
        "Ceny zawierają VAT",
        "subskrybujesz newsletter sklepu",
        "Wypisz się",
    ],
    ("new_products", "en"): [
        "3 new products have arrived",
        "since November 23, 2026",
        "Dzbanek „Wrzos” 1 l",
        "PLN 149.00",
        "Prices include tax",
        "you subscribed to the newsletter of",
        "Unsubscribe",
    ],
    ("owner_alert", "pl"): [
        "Sklep nie odpowiada",
        "27 listopada 2026 10:05",
        "timed out after 20 s waiting for an answer from sklep.example.pl",
        "Otwórz sklep w przeglądarce",
        "bridge check",
        "Nic nie przepadnie",
    ],
    ("owner_alert", "en"): [
        "The shop is not answering",
        "November 27, 2026, 10:05 AM",
        "timed out after 20 s waiting for an answer from sklep.example.pl",
        "Open the shop in a browser",
        "bridge check",
        "Nothing is lost",
    ],
    ("owner_new_order", "pl"): [
        "Nowe zamówienie XKBKNABJK",
        "Zofia Żółkiewska (zofia@example.com)",
        "To pierwsze zamówienie tego klienta",
        "Przelew bankowy (jeszcze nieopłacone)",
        "2 szt. × 499,00 zł",
        "InPost Paczkomaty 24/7",
        "ul. Świętokrzyska 12 m. 4",
        "Proszę o dostawę po 16:00.",
        "odpowiedź trafi do klienta",
    ],
    ("owner_new_order", "en"): [
        "New order XKBKNABJK",
        "Zofia Żółkiewska (zofia@example.com)",
        "the customer's first order",
        "Przelew bankowy (not paid yet)",
        "InPost Paczkomaty 24/7",
        "ul. Świętokrzyska 12 m. 4",
        "Proszę o dostawę po 16:00.",
        "reply to this email",
    ],
    ("owner_new_orders", "pl"): [
        "Nowe zamówienia: 7",
        "XKBKNABJK",
        "Jan Nowak (jan.nowak@example.com)",
        "1 234,56 zł",
        "2 373,02 zł",
        "(jeszcze nieopłacone)",
    ],
    ("owner_new_orders", "en"): [
        "7 new orders",
        "MNBVCXZAQ",
        "Ewa Kamińska (ewa@example.com)",
        "(not paid yet)",
        "(paid)",
    ],
    ("owner_customer_message", "pl"): [
        "Wiadomość od klienta",
        "Zofia Żółkiewska (zofia@example.com)",
        "XKBKNABJK",
        "czy mogę zmienić adres dostawy",
        "odpowiedź trafi do klienta",
    ],
    ("owner_daily_summary", "pl"): [
        "Dzień w Twoim sklepie: 26 listopada 2026",
        "Złożone zamówienia",
        "3 456,78 zł",
        "order_confirmation",
        "wstrzymane ze względu na wiek",
        "wysyłka jest wstrzymana: 550 5.4.5",
        "po zwrocie (bounce) tego dnia most nie wysyła już niczego: 2",
    ],
    ("owner_daily_summary", "en"): [
        "The day in your shop: November 26, 2026",
        "Orders placed",
        "€120.00",
        "shipped",
        "held for their age",
        "1 email with an unknown outcome",
        "no more mail after a bounce that day: 2",
    ],
    ("owner_low_stock", "pl"): [
        "Kończące się produkty",
        "3 lub mniej sztuk",
        "Kubek „Łódź” 330 ml",
        "zostało: 2 szt.",
        "wariant nr 5",
        "zostało: -1 szt.",
    ],
    ("owner_low_stock", "en"): [
        "Low stock",
        "3 products have 3 or fewer items left",
        "Kurtka przeciwdeszczowa (combination #5)",
        "left: 0",
    ],
    ("owner_customer_message", "en"): [
        "A message from a customer",
        "Zofia Żółkiewska (zofia@example.com)",
        "XKBKNABJK",
        "czy mogę zmienić adres dostawy",
        "the reply goes to the customer",
    ],
}


BLOCKS = frozenset({"p", "br", "div", "td", "tr", "table", "h1", "h2"})


class _VisibleText(HTMLParser):
    """What a reader sees: text outside <head>, <style> and the hidden preheader."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.hidden: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("head", "style", "title") or ("class", "preheader") in attrs:
            self.hidden.append(tag)
        if tag in BLOCKS:
            self.chunks.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if self.hidden and self.hidden[-1] == tag:
            self.hidden.pop()
        if tag in BLOCKS:
            self.chunks.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.chunks.append(data)


def visible(html: str) -> str:
    parser = _VisibleText()
    parser.feed(html)
    parser.close()
    return flat("".join(parser.chunks))


def flat(text: str) -> str:
    """No-break spaces read as spaces; runs of whitespace as one space."""
    return re.sub(r"\s+", " ", text.replace("\xa0", " ").replace("\u202f", " "))


def render(kind: str, language: str, context: dict[str, Any] | None = None) -> RenderedEmail:
    return render_email(
        kind,
        language,
        get_kind(kind).sample() if context is None else context,
        shop=SAMPLE_SHOP,
        message_id=MESSAGE_ID,
        recipient=make_address("Zofia Żółkiewska", "zofia@example.com"),
        now=NOW,
        unsubscribe=SAMPLE_UNSUBSCRIBE if get_kind(kind).category == "marketing" else None,
    )


def parse(message: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(message.as_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


every_kind_and_language = pytest.mark.parametrize(
    ("kind", "language"), [(kind, language) for kind in KINDS for language in LANGUAGES]
)


# --- Every kind × language ------------------------------------------------------------------------


def test_every_kind_has_phrases_to_check_in_every_language() -> None:
    assert set(PHRASES) == {(kind, language) for kind in KINDS for language in LANGUAGES}


@every_kind_and_language
def test_both_parts_say_what_the_customer_needs(kind: str, language: str) -> None:
    rendered = render(kind, language)

    # Case-blind: the text part writes its headings in capitals ("ADRES DOSTAWY").
    text, html = flat(rendered.text).casefold(), visible(rendered.html).casefold()
    for phrase in PHRASES[(kind, language)]:
        assert phrase.casefold() in text, f"text part lacks {phrase!r}"
        assert phrase.casefold() in html, f"HTML part lacks {phrase!r}"


@pytest.mark.parametrize(("kind", "language"), [(k, lang) for k in ORDER_KINDS for lang in LANGUAGES])
def test_order_emails_name_the_order_and_its_total_in_the_customers_format(kind: str, language: str) -> None:
    rendered = render(kind, language)

    assert "XKBKNABJK" in rendered.subject
    for part in (flat(rendered.text), visible(rendered.html)):
        assert "XKBKNABJK" in part
        assert TOTAL[language] in part
    if language == "pl":
        assert "1\xa0234,56\xa0zł" in rendered.text  # no-break spaces: the amount never wraps


@every_kind_and_language
def test_no_template_code_or_script_reaches_the_customer(kind: str, language: str) -> None:
    for index in range(len(get_kind(kind).samples)):
        rendered = render(kind, language, get_kind(kind).sample(index))
        for part in (rendered.subject, rendered.text, rendered.html):
            assert "{{" not in part and "{%" not in part and "{#" not in part
        assert "<script" not in rendered.html.lower()
        assert "<link" not in rendered.html.lower()
        assert len(rendered.html.encode()) < 100_000  # Gmail clips above ~102 KB


@every_kind_and_language
def test_the_layout_has_preheader_header_and_footer(kind: str, language: str) -> None:
    rendered = render(kind, language)

    body = rendered.html.split("<body", 1)[1]
    assert re.match(r'[^>]*>\s*<div class="preheader" style="display:none;', body)
    assert 'class="container"' in rendered.html and 'width="600"' in rendered.html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in rendered.html
    assert f'<html lang="{language}">' in rendered.html
    for part in (flat(rendered.text), visible(rendered.html)):
        assert "Żółta Łódka" in part
        assert "ul. Długa 5" in part and "31-147 Kraków" in part
        assert "+48 12 345 67 89" in part
        assert "kontakt@zolta-lodka.pl" in part


@every_kind_and_language
def test_the_message_is_multipart_alternative_with_text_then_html(kind: str, language: str) -> None:
    rendered = render(kind, language)
    parsed = parse(rendered.message)

    assert parsed.get_content_type() == "multipart/alternative"
    parts = list(parsed.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    # The wire format has CRLF line ends; the content is otherwise exactly what was rendered.
    assert parts[0].get_content().replace("\r\n", "\n") == rendered.text
    assert parts[1].get_content().replace("\r\n", "\n") == rendered.html.replace("\r\n", "\n")


@every_kind_and_language
def test_the_headers_are_those_of_an_automated_email_from_the_shop(kind: str, language: str) -> None:
    rendered = render(kind, language)
    raw_head = rendered.message.as_bytes().split(b"\r\n\r\n", 1)[0]
    parsed = parse(rendered.message)

    assert parsed["Subject"] == rendered.subject
    assert parsedate_to_datetime(parsed["Date"]) == NOW
    assert parsed["Message-ID"] == MESSAGE_ID
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["Content-Language"] == language
    (reply_to,) = parsed["Reply-To"].addresses
    if get_kind(kind).reply_to:  # the owner's alert about a customer: a reply reaches the customer
        assert (reply_to.display_name, reply_to.addr_spec) == ("Zofia Żółkiewska", "zofia@example.com")
    else:
        assert (reply_to.display_name, reply_to.addr_spec) == ("Żółta Łódka", "kontakt@zolta-lodka.pl")
    (sender,) = parsed["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Sklep Żółta Łódka", "sklep.zolta.lodka@gmail.com")
    from_line = next(line for line in raw_head.split(b"\r\n") if line.startswith(b"From:"))
    assert b"=?utf-8?" in from_line  # RFC 2047: the Polish letters travel as an encoded word
    assert raw_head.isascii()
    (recipient,) = parsed["To"].addresses
    assert (recipient.display_name, recipient.addr_spec) == ("Zofia Żółkiewska", "zofia@example.com")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_language_without_templates_falls_back_to_the_default_for_every_kind(kind: str) -> None:
    rendered = render(kind, "de")

    assert (rendered.language_used, rendered.fell_back) == ("pl", True)


# --- Details per kind -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "polish", "english"),
    [
        (1, "1 produkt", "1 item"),
        (2, "2 produkty", "2 items"),
        (5, "5 produktów", "5 items"),
        (22, "22 produkty", "22 items"),
    ],
)
def test_the_item_count_uses_the_right_plural_form(quantity: int, polish: str, english: str) -> None:
    context = get_kind("order_confirmation").sample()
    context["items"] = [{**context["items"][1], "quantity": quantity}]

    for language, phrase in (("pl", polish), ("en", english)):
        rendered = render("order_confirmation", language, context)
        whole = re.compile(rf"\b{phrase}\b")  # "1 produkt" must not match "1 produkty"
        assert whole.search(flat(rendered.text))
        assert whole.search(visible(rendered.html))


def test_a_paid_guest_order_links_to_guest_tracking_and_shows_free_shipping() -> None:
    context = get_kind("order_confirmation").sample(1)

    pl, en = render("order_confirmation", "pl", context), render("order_confirmation", "en", context)

    guest_url = "https://sklep.example.pl/index.php?controller=guest-tracking&amp;order_reference=XKBKNABJK"
    assert f'href="{guest_url}"' in pl.html
    assert "Sprawdź status zamówienia" in pl.text and "Check your order status" in en.text
    assert "Dostawa: bezpłatna" in pl.text and "Shipping: free" in en.text
    assert "(opłacone)" in pl.text and "(paid)" in en.text
    assert "Czekamy na płatność" not in pl.html and "CZEKAMY NA PŁATNOŚĆ" not in pl.text
    assert "Pakowanie" not in pl.text and "Rabat" not in pl.text
    assert "21,00\xa0€" in pl.text and "€21.00" in en.text
    assert "<img" not in pl.html.split('class="content"', 1)[1].split('class="footer"', 1)[0]


def test_product_images_are_shown_when_the_shop_has_them() -> None:
    html = render("order_confirmation", "pl").html

    assert '<img src="https://sklep.example.pl/img/p/1/1-home_default.jpg" alt="" width="64"' in html


def test_shipped_links_the_tracking_page_in_both_parts() -> None:
    rendered = render("shipped", "pl")

    url = "https://inpost.pl/sledzenie-przesylek?number=PL123456789"
    assert f'<a class="button" href="{url}"' in rendered.html
    assert f"Śledź przesyłkę:\n{url}" in rendered.text


def test_shipped_without_a_tracking_number_offers_no_tracking_link() -> None:
    context = get_kind("shipped").sample(1)

    rendered = render("shipped", "pl", context)

    assert "Numer przesyłki" not in rendered.text and "Śledź przesyłkę" not in rendered.html
    assert "InPost Paczkomaty 24/7" in rendered.text


def test_payment_accepted_without_a_transaction_id_leaves_the_line_out() -> None:
    rendered = render("payment_accepted", "en", get_kind("payment_accepted").sample(1))

    assert "Transaction ID" not in rendered.text and "Transaction ID" not in rendered.html


def test_a_refund_of_unknown_amount_still_reads_well() -> None:
    rendered = render("refunded", "pl", get_kind("refunded").sample(1))

    assert "Zwróciliśmy pieniądze za zamówienie XKBKNABJK. Środki" in flat(rendered.text)


def test_the_test_email_says_which_security_was_used() -> None:
    context = get_kind("test_email").sample()
    context["smtp"] = {**context["smtp"], "port": 465, "security": "ssl"}

    rendered = render("test_email", "pl", context)

    assert "Port: 465" in rendered.text
    assert "Zabezpieczenie: SSL/TLS" in rendered.text
    assert rendered.subject == "Test wysyłki e-maili – Żółta Łódka"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_test_email_before_the_first_sync_says_what_is_missing(language: str) -> None:
    rendered = render("test_email", language, get_kind("test_email").sample(1))

    said = {
        "pl": ("nie udało się jeszcze odczytać", "Jeszcze nieustawione"),
        "en": ("could not be read from the shop yet", "Not set yet"),
    }[language]
    for part in (rendered.text, visible(rendered.html)):
        assert said[0] in flat(part) and "LEGAL_TAX_ID" in part
    assert "XKBKNABJK" not in rendered.text  # a test never looks like an order


# --- Lint and preview -----------------------------------------------------------------------------


def test_lint_passes_on_the_shipped_templates() -> None:
    assert lint_templates() == []


def test_lint_passes_on_an_empty_owner_folder(tmp_path: Path) -> None:
    assert lint_templates(tmp_path) == []


def test_lint_names_file_and_line_of_a_missing_variable(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "pl/shipped.html",
        '{% extends "pl/base.html" %}\n{% block content %}\n<p>Numer: {{ shipment.tracking_nubmer }}</p>\n'
        "{% endblock %}\n",
    )

    problems = lint_templates(tmp_path)

    assert len(problems) == 1
    assert (problems[0].file, problems[0].line) == (str(path), 3)
    assert "tracking_nubmer" in problems[0].message
    assert str(problems[0]).startswith(f"{path}:3: shipped (pl): UndefinedError")


def test_lint_names_file_and_line_of_a_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, "en/delivered.txt", "Hello,\n\n{% if order.reference %}\nDelivered.\n")

    problems = lint_templates(tmp_path)

    assert [(p.file, p.line) for p in problems] == [(str(path), 4)]
    assert "syntax error" in problems[0].message and "endif" in problems[0].message


def test_lint_reports_a_missing_translation(tmp_path: Path) -> None:
    write(tmp_path, "de/shipped.subject.txt", "Ihre Bestellung {{ order.reference }} ist unterwegs\n")

    problems = lint_templates(tmp_path)

    shipped = [p for p in problems if "shipped" in p.message]
    assert shipped == [
        Problem(
            str(tmp_path / "de" / "shipped.txt"),
            None,
            "missing translation: de has no shipped.txt, shipped.html",
        )
    ]
    assert len(problems) == len(KINDS)  # every other kind is missing all three German files


def test_lint_reports_a_missing_polish_plural_form(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "pl/order_confirmation.txt",
        '{% set n = items | sum(attribute="quantity") %}\n'
        'Zamówiono {{ n }} {{ n | plural(one="produkt", other="produktów") }}.\n',
    )

    problems = lint_templates(tmp_path)

    assert [(p.file, p.line) for p in problems] == [(str(path), 2)]
    assert "plural forms missing for pl: few, many" in problems[0].message


def test_lint_reports_a_broken_layout_at_its_source_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "pl/delivered.html",
        '{% extends "pl/base.html" %}\n{% block content %}\n<table role="presentation">\n<tr><td class="x">'
        "Dostarczone {{ order.reference }}</tr>\n</table>\n{% endblock %}\n",
    )

    problems = lint_templates(tmp_path)

    assert [(p.file, p.line) for p in problems] == [(str(path), 4)]
    assert "<td> is never closed (rendered line" in problems[0].message


def test_lint_refuses_scripts_in_an_owner_template(tmp_path: Path) -> None:
    write(
        tmp_path,
        "en/processing.html",
        '{% extends "en/base.html" %}{% block content %}<script>track()</script>{% endblock %}',
    )

    problems = lint_templates(tmp_path)

    assert any("<script> is not allowed in email" in p.message for p in problems)


def test_lint_reports_a_file_named_after_no_kind(tmp_path: Path) -> None:
    path = write(tmp_path, "pl/shiped.subject.txt", "Wysłaliśmy {{ order.reference }}\n")

    problems = lint_templates(tmp_path)

    assert [p.file for p in problems] == [str(path)]
    assert "no email kind is called 'shiped'" in problems[0].message


def test_preview_renders_the_sample_as_the_customer_would_get_it() -> None:
    rendered = preview_email("order_confirmation", "pl", now=NOW)

    assert rendered.subject == "Potwierdzenie zamówienia XKBKNABJK"
    assert rendered.message["Message-ID"] == "<preview.order_confirmation.pl@zolta-lodka.pl>"
