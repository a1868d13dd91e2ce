"""Marketing kinds (cart reminders, review requests): a way out in the headers and in the body, or no email.

What Gmail's bulk-sender rules and RFC 8058 ask (one-click List-Unsubscribe with an https URL, a visible
unsubscribe link), checked on the bytes that would go to the SMTP server; then what the customer reads.
"""

from __future__ import annotations

import email
import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from bridge.mail.lint import SAMPLE_SHOP
from bridge.mail.render import RenderedEmail, RenderError, render_email, shipped_templates_dir
from bridge.model.headers import make_address
from bridge.model.kinds import KINDS, SAMPLE_UNSUBSCRIBE, get_kind

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
MESSAGE_ID = "<cart-731.step-1@zolta-lodka.pl>"
MARKETING = sorted(name for name, kind in KINDS.items() if kind.category == "marketing")
LANGUAGES = ("pl", "en")
TOKEN = "MTA0Mi56b2ZpYUBleGFtcGxlLmNvbQ.q3Vx8TtN0yq1b8kH"


@dataclass(frozen=True)
class Links:
    """Shaped like bridge.web.unsubscribe's links: the renderer needs only `url` and `mailto`."""

    url: str = f"https://sklep.example.pl/unsubscribe?t={TOKEN}&l=pl"
    mailto: str = f"mailto:sklep@example.pl?subject=unsubscribe%20{TOKEN}"

    def header_value(self) -> str:
        return f"<{self.url}>, <{self.mailto}>"


def render(
    kind: str,
    language: str = "pl",
    context: dict[str, Any] | None = None,
    *,
    unsubscribe: Any = SAMPLE_UNSUBSCRIBE,
    templates_dir: Path | None = None,
) -> RenderedEmail:
    return render_email(
        kind,
        language,
        get_kind(kind).sample() if context is None else context,
        shop=SAMPLE_SHOP,
        message_id=MESSAGE_ID,
        recipient=make_address("Zofia Żółkiewska", "zofia@example.com"),
        now=NOW,
        unsubscribe=unsubscribe,
        templates_dir=templates_dir,
    )


def raw_head(rendered: RenderedEmail) -> bytes:
    return rendered.message.as_bytes().split(b"\r\n\r\n", 1)[0]


def parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def unfolded(head: bytes, name: bytes) -> list[bytes]:
    """The header's lines joined as a mail client joins them (RFC 5322 §2.2.3: remove each CRLF)."""
    lines = head.replace(b"\r\n ", b" ").replace(b"\r\n\t", b"\t").split(b"\r\n")
    return [line for line in lines if line.lower().startswith(name.lower() + b":")]


class Anchors(HTMLParser):
    """Every <a>: its href (unescaped, as a browser follows it) and its visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []
        self._open: list[tuple[str, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._open.append((dict(attrs).get("href") or "", []))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open:
            href, text = self._open.pop()
            self.links.append((href, re.sub(r"\s+", " ", "".join(text)).strip()))

    def handle_data(self, data: str) -> None:
        for _href, text in self._open:
            text.append(data)


def anchors(html: str) -> list[tuple[str, str]]:
    parser = Anchors()
    parser.feed(html)
    parser.close()
    return parser.links


def flat(text: str) -> str:
    """Entities decoded, no-break spaces as spaces, runs of whitespace as one space."""
    return re.sub(r"\s+", " ", html.unescape(text).replace("\xa0", " ").replace("\u202f", " "))


every_marketing_kind = pytest.mark.parametrize(
    ("kind", "language"), [(kind, language) for kind in MARKETING for language in LANGUAGES]
)


# --- No way out, no email -------------------------------------------------------------------------


def test_the_two_first_marketing_kinds_are_registered_as_marketing() -> None:
    assert {"cart_reminder", "review_request"} <= set(MARKETING)  # issue 18 declares more beside them


@every_marketing_kind
def test_a_marketing_email_without_unsubscribe_links_is_refused(kind: str, language: str) -> None:
    with pytest.raises(RenderError, match="marketing email needs an unsubscribe link"):
        render(kind, language, unsubscribe=None)


@pytest.mark.parametrize(
    ("url", "mailto", "complaint"),
    [
        (f"https://sklep.example.pl/u?t={TOKEN}\r\nBcc: victim@evil.example", "", "spaces, controls"),
        ("https://sklep.example.pl/u?t=a b", "", "spaces, controls"),
        ("https://sklep.example.pl/u?t=a>, <https://evil.example/", "", "brackets"),
        ("https://sklep.example.pl/wypisz-się?t=a", "", "non-ASCII"),
        ("http://sklep.example.pl/u?t=a", "", "needs https"),
        ("javascript:alert(1)", "", "needs https"),
        ("https:///u?t=a", "", "needs https"),
        ("https://[sklep.example.pl/u?t=a", "", "needs https"),
        ("https://sklep.example.pl/u?t=" + "a" * 1000, "", "over 900"),
        ("https://sklep.example.pl/u?t=a", "mailto:sklep@example.pl\nBcc: victim@evil.example", "controls"),
        ("https://sklep.example.pl/u?t=a", "sklep@example.pl", "not a mailto"),
        ("https://sklep.example.pl/u?t=a", "mailto:?subject=unsubscribe", "not a mailto"),
    ],
)
def test_links_that_would_break_the_header_are_refused_not_repaired(
    url: str, mailto: str, complaint: str
) -> None:
    with pytest.raises(RenderError, match=complaint):
        render("cart_reminder", unsubscribe=Links(url=url, mailto=mailto))


def test_the_context_may_not_bring_its_own_unsubscribe_url() -> None:
    context = {**get_kind("cart_reminder").sample(), "unsubscribe_url": "https://evil.example/"}

    with pytest.raises(RenderError, match="must not set unsubscribe_url"):
        render("cart_reminder", context=context)


def test_an_owner_layout_without_the_unsubscribe_line_cannot_send_marketing(tmp_path: Path) -> None:
    for name in ("layout.html", "layout.txt"):
        shipped = (shipped_templates_dir() / name).read_text(encoding="utf-8")
        # The owner's older copy: everything from `{% if unsubscribe_url %}` to its `{% endif %}` is gone.
        older = re.sub(r"\{% if unsubscribe_url %\}.*?\{% endif %\}\n", "", shipped, flags=re.DOTALL)
        assert older != shipped
        (tmp_path / name).write_text(older, encoding="utf-8")

    with pytest.raises(RenderError, match="shows no unsubscribe link") as failure:
        render("review_request", templates_dir=tmp_path)

    assert failure.value.file is not None and failure.value.file.endswith("review_request.txt")
    assert "XKBKNABJK" in render("shipped", templates_dir=tmp_path).subject  # order emails still go


# --- The headers ----------------------------------------------------------------------------------


@every_marketing_kind
def test_the_one_click_unsubscribe_headers_are_exact(kind: str, language: str) -> None:
    rendered = render(kind, language, unsubscribe=Links())
    head = raw_head(rendered)
    parsed = parse(rendered.message.as_bytes())

    assert unfolded(head, b"List-Unsubscribe") == [b"List-Unsubscribe: " + Links().header_value().encode()]
    assert unfolded(head, b"List-Unsubscribe-Post") == [b"List-Unsubscribe-Post: List-Unsubscribe=One-Click"]
    assert parsed["List-Unsubscribe"] == Links().header_value()
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert b"=?" not in b"\r\n".join(unfolded(head, b"List-Unsubscribe"))


@every_marketing_kind
def test_the_body_links_to_the_same_url_as_the_header(kind: str, language: str) -> None:
    rendered = render(kind, language, unsubscribe=Links())
    parsed = parse(rendered.message.as_bytes())
    text, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert text is not None and html is not None

    header_url = re.fullmatch(r"<([^<>]+)>, <mailto:[^<>]+>", str(parsed["List-Unsubscribe"]))
    assert header_url is not None
    assert header_url[1] == Links().url
    footer = [(href, label) for href, label in anchors(str(html.get_content())) if href == header_url[1]]
    assert footer == [(Links().url, "Wypisz się" if language == "pl" else "Unsubscribe")]
    assert f"\n{Links().url}\n" in str(text.get_content()).replace("\r\n", "\n")
    assert "&amp;l=pl" in str(html.get_content())  # the & of the query is escaped in the href, as HTML wants


def test_a_300_character_url_is_folded_between_the_uris_never_inside_one() -> None:
    # Python 3.11 folds a long unstructured header into RFC 2047 encoded words, which no mail client
    # decodes in List-Unsubscribe: the link would be lost.
    links = Links(url="https://sklep.example.pl/unsubscribe?l=pl&t=" + "x" * 256)
    assert len(links.url) == 300

    rendered = render("cart_reminder", unsubscribe=links)

    for raw in (
        rendered.message.as_bytes(),
        rendered.message.as_bytes(policy=policy.SMTP.clone(utf8=True)),  # the SMTPUTF8 path
    ):
        head = raw.split(b"\r\n\r\n", 1)[0]
        start = head.index(b"List-Unsubscribe: ")
        block = head[start : head.index(b"\r\nList-Unsubscribe-Post:")]
        assert block == f"List-Unsubscribe: <{links.url}>,\r\n <{links.mailto}>".encode()
        assert b"=?" not in block
        assert max(len(line) for line in head.split(b"\r\n")) <= 998  # RFC 5322 §2.1.1
        assert unfolded(head, b"List-Unsubscribe") == [b"List-Unsubscribe: " + links.header_value().encode()]
        assert parse(raw)["List-Unsubscribe"] == links.header_value()


def test_short_links_stay_on_one_line() -> None:
    links = Links(url="https://s.pl/u?t=a", mailto="mailto:s@s.pl?subject=u")

    head = raw_head(render("review_request", unsubscribe=links))

    assert b"\r\nList-Unsubscribe: <https://s.pl/u?t=a>, <mailto:s@s.pl?subject=u>\r\n" in head


def test_without_a_mailto_the_header_carries_the_https_url_alone() -> None:
    links = Links(mailto="")

    parsed = parse(render("cart_reminder", unsubscribe=links).message.as_bytes())

    assert parsed["List-Unsubscribe"] == f"<{links.url}>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_loopback_http_url_is_accepted_for_a_demo_on_one_machine() -> None:
    links = Links(url="http://127.0.0.1:8787/unsubscribe?t=a&l=pl")

    parsed = parse(render("cart_reminder", unsubscribe=links).message.as_bytes())

    assert str(parsed["List-Unsubscribe"]).startswith("<http://127.0.0.1:8787/unsubscribe?t=a&l=pl>, ")


@pytest.mark.parametrize("kind", ["order_confirmation", "shipped", "test_email", "owner_alert"])
def test_transactional_email_gets_no_unsubscribe_header_or_line_even_when_given_links(kind: str) -> None:
    with_links = render(kind, unsubscribe=Links())
    without = render(kind, unsubscribe=None)

    parsed = parse(with_links.message.as_bytes())
    assert parsed["List-Unsubscribe"] is None and parsed["List-Unsubscribe-Post"] is None
    assert b"unsubscribe" not in with_links.message.as_bytes().lower()
    assert "Wypisz" not in with_links.text and "Wypisz" not in with_links.html
    assert (with_links.text, with_links.html) == (without.text, without.html)


# --- What the customer reads: cart reminders ------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "polish", "english"),
    [
        (1, "Coś zostało w Twoim koszyku", "You left something in your cart"),
        (2, "Twój koszyk w sklepie Żółta Łódka wciąż czeka", "Your cart at Żółta Łódka is still waiting"),
        (3, "Ostatnie przypomnienie o Twoim koszyku", "A last reminder about your cart"),
    ],
)
def test_each_reminder_step_has_its_own_subject(step: int, polish: str, english: str) -> None:
    context = get_kind("cart_reminder").sample()
    context["step"] = step

    assert render("cart_reminder", "pl", context).subject == polish
    assert render("cart_reminder", "en", context).subject == english


def test_the_last_reminder_says_it_is_the_last() -> None:
    context = get_kind("cart_reminder").sample(1)

    pl, en = render("cart_reminder", "pl", context), render("cart_reminder", "en", context)

    assert "To ostatnia wiadomość, jaką wyślemy w sprawie tego koszyka." in flat(pl.text)
    assert "This is the last email we will send you about this cart." in flat(en.text)
    assert "przerwane" not in pl.text  # not the first step's words


@pytest.mark.parametrize("kind", MARKETING)
def test_subjects_are_short_and_do_not_shout(kind: str) -> None:
    for index in range(len(get_kind(kind).samples)):
        for step in (1, 2, 3):
            context = get_kind(kind).sample(index)
            if kind == "cart_reminder":
                context["step"] = step
            for language in LANGUAGES:
                subject = render(kind, language, context).subject
                # An order reference or a discount code is written as the shop wrote it; the preview's
                # mark goes only to the owner.
                code = (context.get("code") or {}).get("code") or "XKBKNABJK"
                shown = re.sub(r"^\[(PODGLĄD|PREVIEW)\] ", "", subject) if context.get("preview") else subject
                currency = (context.get("code") or {}).get("currency") or "PLN"  # "PLN 20.00" in English
                words = shown.replace("XKBKNABJK", "").replace(code, "").replace(currency, "").split()
                assert len(subject) <= 60, subject
                assert not [w for w in words if len(w) > 2 and w.isupper()], subject
                assert "!" not in subject and not re.search(r"free|gratis|darmo", subject, re.IGNORECASE)


def test_a_recovery_link_brings_the_cart_back_and_warns_against_forwarding() -> None:
    context = get_kind("cart_reminder").sample()

    rendered = render("cart_reminder", "pl", context)

    buttons = [(href, label) for href, label in anchors(rendered.html) if label == "Wróć do koszyka"]
    assert buttons == [(context["cart"]["url"], "Wróć do koszyka")]
    assert f"Wróć do koszyka:\n{context['cart']['url']}\n" in rendered.text
    assert "loguje Cię do konta" in rendered.text and "nie przekazuj tej wiadomości" in rendered.html
    assert "zalogowanie" not in rendered.text


def test_a_plain_cart_link_tells_the_customer_which_address_to_sign_in_with() -> None:
    context = get_kind("cart_reminder").sample(1)

    pl, en = render("cart_reminder", "pl", context), render("cart_reminder", "en", context)

    cart_page = "https://sklep.example.pl/index.php?controller=cart&action=show"
    assert (cart_page, "Przejdź do koszyka") in anchors(pl.html)
    assert (cart_page, "Go to your cart") in anchors(en.html)
    assert "Jeśli sklep poprosi o zalogowanie, użyj adresu zofia@example.com." in pl.text
    assert "If the shop asks you to sign in, use zofia@example.com." in en.text
    assert "przekazuj" not in pl.text


def test_each_product_shows_its_picture_name_quantity_and_price_and_links_its_page() -> None:
    rendered = render("cart_reminder", "pl")
    html, text = flat(rendered.html), flat(rendered.text)

    jacket = "https://sklep.example.pl/kurtki/1-kurtka-przeciwdeszczowa.html"
    assert (jacket, "Kurtka przeciwdeszczowa (Rozmiar: M - Kolor: Granatowy)") in anchors(rendered.html)
    assert '<img src="https://sklep.example.pl/img/p/2/2-home_default.jpg" alt="" width="64"' in html
    assert "3 szt. × 49,99 zł" in html and "149,97 zł" in html
    assert "* Skarpetki wełniane (Rozmiar: 39-42) 3 szt. × 49,99 zł = 149,97 zł" in text


def test_a_product_without_page_or_picture_is_listed_without_a_link() -> None:
    rendered = render("cart_reminder", "en", get_kind("cart_reminder").sample(1))

    assert "Karta podarunkowa 50 zł" in rendered.html
    assert not [href for href, label in anchors(rendered.html) if "Karta podarunkowa" in label]


@pytest.mark.parametrize(
    ("quantity", "polish", "english"),
    [
        (1, "1 produkt", "1 item"),
        (2, "2 produkty", "2 items"),
        (5, "5 produktów", "5 items"),
        (22, "22 produkty", "22 items"),
    ],
)
def test_the_cart_counts_its_products_with_the_right_plural(quantity: int, polish: str, english: str) -> None:
    context = get_kind("cart_reminder").sample(2)
    context["cart"]["items"][0]["quantity"] = quantity

    pl, en = render("cart_reminder", "pl", context), render("cart_reminder", "en", context)

    assert re.search(rf"W koszyku: {polish}\b", flat(pl.html))
    assert re.search(rf"In your cart: {english}\b", flat(en.html))
    assert re.search(rf"W KOSZYKU: {polish}\b", pl.text)


def test_a_percentage_code_is_in_a_copyable_box_with_its_validity_in_the_customers_locale() -> None:
    context = get_kind("cart_reminder").sample(1)

    pl = render("cart_reminder", "pl", context)
    en = render("cart_reminder", "en", context)
    gb = render_email(
        "cart_reminder",
        "en-GB",
        context,
        shop=SAMPLE_SHOP,
        message_id=MESSAGE_ID,
        recipient=make_address("Zofia", "zofia@example.com"),
        now=NOW,
        unsubscribe=SAMPLE_UNSUBSCRIBE,
    )

    assert re.search(
        r'<td class="code" style="font-family: Consolas, Menlo, monospace;[^"]*user-select: all;', pl.html
    )
    assert re.search(r'<td class="code" [^>]*><span class="keep"[^>]*>WRACAJ-7KQ2M</span></td>', pl.html)
    assert "Twój kod rabatowy: 10% zniżki" in flat(pl.html)
    assert "\n    WRACAJ-7KQ2M\n" in pl.text  # on a line of its own, to copy
    assert "Kod jest ważny do 4 grudnia 2026 23:59." in flat(pl.text)  # 22:59 UTC, in the shop's Warsaw
    assert "Your discount code: 10% off" in flat(en.html)
    assert "Valid until December 4, 2026, 11:59 PM." in flat(en.text)
    assert "Valid until 4 December 2026, 23:59." in flat(gb.text)


def test_an_amount_code_without_an_end_date_says_neither_percent_nor_until() -> None:
    context = get_kind("cart_reminder").sample(2)

    pl, en = render("cart_reminder", "pl", context), render("cart_reminder", "en", context)

    assert "Twój kod rabatowy: 20,00 zł zniżki" in flat(pl.html)
    assert "TWÓJ KOD RABATOWY: 20,00 zł zniżki" in flat(pl.text)
    assert "Your discount code: PLN 20.00 off" in flat(en.html)
    assert "ważny do" not in pl.text and "Valid until" not in en.html


def test_a_fractional_percentage_is_written_as_the_language_writes_it() -> None:
    context = get_kind("cart_reminder").sample(1)
    context["discount"]["percent"] = "7.500000"

    assert "7,5% zniżki" in render("cart_reminder", "pl", context).text
    assert "7.5% off" in render("cart_reminder", "en", context).text


def test_without_a_discount_there_is_no_code_box() -> None:
    rendered = render("cart_reminder", "pl")

    assert 'class="code"' not in rendered.html and "kod rabatowy" not in rendered.text.lower()


def test_a_reminder_without_a_first_name_greets_without_one() -> None:
    rendered = render("cart_reminder", "pl", get_kind("cart_reminder").sample(2))

    assert rendered.text.startswith("Dzień dobry!\n")


def test_product_names_and_codes_from_the_shop_are_escaped() -> None:
    context = get_kind("cart_reminder").sample(1)
    context["cart"]["items"][0]["name"] = '<img src=x onerror=alert(1)>Kurtka "M"'
    context["discount"]["code"] = "<b>KOD</b>"

    rendered = render("cart_reminder", "pl", context)

    assert "&lt;img src=x onerror=alert(1)&gt;Kurtka" in rendered.html
    assert "&lt;b&gt;KOD&lt;/b&gt;" in rendered.html
    assert "<b>" not in rendered.html and "<img src=x" not in rendered.html
    assert "<b>KOD</b>" in rendered.text  # the text part shows what the shop wrote


# --- What the customer reads: review requests -----------------------------------------------------


def test_a_review_request_has_one_write_a_review_link_per_product() -> None:
    context = get_kind("review_request").sample()

    pl, en = render("review_request", "pl", context), render("review_request", "en", context)

    urls = [product["url"] for product in context["products"]]
    assert [href for href, label in anchors(pl.html) if label == "Napisz opinię"] == urls
    assert [href for href, label in anchors(en.html) if label == "Write a review"] == urls
    for url in urls:
        assert f"Napisz opinię: {url}\n" in pl.text
    assert pl.subject == "Jak oceniasz zamówienie XKBKNABJK?"
    assert en.subject == "How was your order XKBKNABJK?"


def test_a_review_request_for_one_product_without_a_page_asks_for_a_reply_instead() -> None:
    rendered = render("review_request", "pl", get_kind("review_request").sample(1))

    assert "Napisz opinię" not in rendered.text and "Napisz opinię" not in rendered.html
    assert "kilka słów o zamówionym produkcie?" in flat(rendered.text)  # one product: singular
    assert "Możesz też odpowiedzieć na tę wiadomość" in rendered.text
    assert "<img" not in rendered.html.split('class="content"', 1)[1].split('class="footer"', 1)[0]


# --- The footer -----------------------------------------------------------------------------------


@every_marketing_kind
def test_the_footer_says_why_the_customer_gets_it_and_that_order_emails_continue(
    kind: str, language: str
) -> None:
    rendered = render(kind, language)

    reason, continues, sent_to = {
        "pl": (
            "Sklep Żółta Łódka wysyła tę wiadomość swoim klientom",
            "Wiadomości o Twoich zamówieniach nadal będą przychodzić",
            "Ta wiadomość została wysłana na adres zofia@example.com",
        ),
        "en": (
            "Żółta Łódka sends this email to its customers",
            "Emails about your orders will still reach you",
            "This email was sent to zofia@example.com",
        ),
    }[language]
    footer = flat(rendered.html.split('class="footer"', 1)[1])
    assert reason in footer and continues in footer and sent_to in footer
    text_footer = flat(rendered.text.split("\n--\n", 1)[1])
    assert reason in text_footer and sent_to in text_footer
    assert "dotyczy Twojego zamówienia" not in rendered.text  # not the order emails' footer note
    assert "about your order at" not in rendered.text
