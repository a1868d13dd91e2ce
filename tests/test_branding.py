"""The shop's branding and the seller's legal footer: settings in, every kind of email out.

A shop's emails wear its own logo (the mail logo it chose in the back office), its accent colour and its
footer line; every email names the seller as the law wants (company, address, tax and registration
numbers) and links the terms, returns and privacy policies; marketing emails say why they came.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

from bridge.config import Settings
from bridge.errors import ConfigError
from bridge.mail.lint import SAMPLE_SHOP
from bridge.mail.render import RenderedEmail, get_renderer, render_email
from bridge.model.headers import make_address
from bridge.model.identity import ShopIdentity, accent_problem, contrast_ratio, dark_accent
from bridge.model.kinds import KINDS, SAMPLE_UNSUBSCRIBE, get_kind

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
BASE = {"PRESTASHOP_URL": "", "SMTP_USERNAME": "sklep@gmail.com", "SMTP_PASSWORD": "abcd efgh ijkl mnop"}


class _Visible(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hrefs: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "title", "head"):
            self._hidden += 1
        if tag == "a":
            self.hrefs.extend(value or "" for name, value in attrs if name == "href")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "title", "head"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible(html: str) -> tuple[str, list[str]]:
    parser = _Visible()
    parser.feed(html)
    return re.sub(r"\s+", " ", " ".join(parser.parts)), parser.hrefs


def render(kind: str, language: str, shop: ShopIdentity = SAMPLE_SHOP, index: int = 0) -> RenderedEmail:
    return render_email(
        kind,
        language,
        get_kind(kind).sample(index),
        shop=shop,
        message_id="<branding.1@zolta-lodka.pl>",
        recipient=make_address("Zofia", "zofia@example.com"),
        now=NOW,
        unsubscribe=SAMPLE_UNSUBSCRIBE,
    )


LEGAL_WORDS = {
    "pl": ("Sprzedawca", "NIP: 6762461659", "Regulamin", "Zwroty i reklamacje", "Polityka prywatności"),
    "en": ("Seller", "Tax ID: 6762461659", "Terms and conditions", "Returns policy", "Privacy policy"),
}


# Every kind with shipped templates (a kind another change is still adding has none yet to render).
RENDERABLE = sorted(kind for kind in KINDS if get_renderer().has_kind(kind, "pl"))


def test_every_kind_but_those_being_added_can_be_rendered() -> None:
    assert len(RENDERABLE) >= 20


@pytest.mark.parametrize("language", ["pl", "en"])
@pytest.mark.parametrize("kind", RENDERABLE)
def test_every_kind_names_the_seller_and_links_its_policies(kind: str, language: str) -> None:
    rendered = render(kind, language)
    text, hrefs = visible(rendered.html)

    for part in (rendered.text, text):
        assert "Żółta Łódka sp. z o.o., ul. Długa 5, 31-147 Kraków" in part
        assert "KRS 0000123456, REGON 123456789" in part
        assert "Sklep stacjonarny: ul. Długa 5, pon.–pt. 10–18." in part  # FOOTER_TEXT
        for word in LEGAL_WORDS[language]:
            assert word in part
    for url in (SAMPLE_SHOP.legal_terms_url, SAMPLE_SHOP.legal_returns_url, SAMPLE_SHOP.legal_privacy_url):
        assert url in hrefs and url in rendered.text


def test_a_shop_without_legal_settings_shows_no_empty_legal_lines() -> None:
    bare = ShopIdentity(name="Żółta Łódka", email="kontakt@zolta-lodka.pl", from_email="sklep@gmail.com")
    rendered = render("shipped", "pl", bare)
    text, _ = visible(rendered.html)

    for part in (rendered.text, text):
        assert "Sprzedawca" not in part and "NIP" not in part and "Regulamin" not in part


@pytest.mark.parametrize(
    ("kind", "language", "reason"),
    [
        ("cart_reminder", "pl", "bo w Twoim koszyku w sklepie Żółta Łódka zostały produkty"),
        ("cart_reminder", "en", "because you left products in your cart at Żółta Łódka"),
        (
            "review_request",
            "pl",
            "bo robisz zakupy w sklepie Żółta Łódka i masz włączoną zgodę na nasze e-maile",
        ),
        ("review_request", "en", "because you ordered from Żółta Łódka and agreed to receive emails"),
    ],
)
def test_marketing_emails_say_why_the_customer_gets_them(kind: str, language: str, reason: str) -> None:
    rendered = render(kind, language)

    assert reason in rendered.text and reason in visible(rendered.html)[0]


def test_the_accent_colour_reaches_buttons_links_and_the_stripe() -> None:
    shop = dataclasses.replace(SAMPLE_SHOP, accent_color="#8a1538")
    html = render("shipped", "en", shop).html

    assert "background-color: #8a1538" in html and "border-top: 4px solid #8a1538" in html
    assert "#1967d2" not in html


def test_the_mail_logo_wins_over_the_website_logo_and_the_setting_over_both() -> None:
    configuration = {
        "PS_SHOP_NAME": "Żółta Łódka",
        "PS_SHOP_EMAIL": "kontakt@zolta-lodka.pl",
        "PS_SHOP_DOMAIN_SSL": "zolta-lodka.pl",
        "PS_LOGO": "logo.png",
        "PS_LOGO_MAIL": "logo_mail.png",
    }

    shop = ShopIdentity.from_shop_configuration(configuration, from_email="sklep@gmail.com")
    website_only = ShopIdentity.from_shop_configuration(
        {**configuration, "PS_LOGO_MAIL": ""}, from_email="sklep@gmail.com"
    )
    chosen = ShopIdentity.from_shop_configuration(
        configuration, from_email="sklep@gmail.com", logo_url="https://cdn.example.pl/l.png"
    )

    assert shop.logo_url == "https://zolta-lodka.pl/img/logo_mail.png"
    assert website_only.logo_url == "https://zolta-lodka.pl/img/logo.png"
    assert chosen.logo_url == "https://cdn.example.pl/l.png"


def test_the_terms_link_defaults_to_the_shops_terms_page() -> None:
    configuration = {
        "PS_SHOP_NAME": "Żółta Łódka",
        "PS_SHOP_EMAIL": "kontakt@zolta-lodka.pl",
        "PS_SHOP_DOMAIN_SSL": "zolta-lodka.pl",
        "PS_CONDITIONS_CMS_ID": "3",
    }

    shop = ShopIdentity.from_shop_configuration(configuration, from_email="sklep@gmail.com")
    given = ShopIdentity.from_shop_configuration(
        configuration, from_email="sklep@gmail.com", legal={"terms_url": "https://zolta-lodka.pl/t"}
    )

    assert shop.legal_terms_url == "https://zolta-lodka.pl/index.php?id_cms=3&controller=cms"
    assert given.legal_terms_url == "https://zolta-lodka.pl/t"


def test_the_identity_survives_the_store_with_its_branding() -> None:
    snapshot = SAMPLE_SHOP.snapshot()
    again = ShopIdentity(**{**snapshot, "address_lines": tuple(snapshot["address_lines"])})

    assert again == SAMPLE_SHOP


def test_an_identity_stored_before_branding_existed_still_loads() -> None:
    old = {
        "name": "Żółta Łódka",
        "email": "kontakt@zolta-lodka.pl",
        "from_email": "sklep@gmail.com",
        "accent_color": "#1a73e8",
    }

    assert ShopIdentity(**old).legal_company == ""


def test_branding_settings_are_read_and_shown() -> None:
    settings = Settings.from_mapping(
        {
            **BASE,
            "LOGO_URL": "https://cdn.example.pl/logo.png",
            "ACCENT_COLOR": "#0B7A75",
            "FOOTER_TEXT": "Zapraszamy też do sklepu stacjonarnego.",
            "LEGAL_COMPANY": "Żółta Łódka sp. z o.o.",
            "LEGAL_TAX_ID": "6762461659",
            "LEGAL_PRIVACY_URL": "https://zolta-lodka.pl/index.php?id_cms=8&controller=cms",
        }
    )
    branding = settings.branding

    assert branding.logo_url == "https://cdn.example.pl/logo.png"
    assert branding.accent_color == "#0b7a75"
    assert branding.legal == {
        "company": "Żółta Łódka sp. z o.o.",
        "tax_id": "6762461659",
        "privacy_url": "https://zolta-lodka.pl/index.php?id_cms=8&controller=cms",
    }
    assert "legal footer: LEGAL_COMPANY, LEGAL_TAX_ID, LEGAL_PRIVACY_URL" in branding.describe()


def test_the_defaults_need_no_branding_settings() -> None:
    branding = Settings.from_mapping(BASE).branding

    assert (branding.logo_url, branding.accent_color, branding.legal) == ("", "#1967d2", {})


@pytest.mark.parametrize(
    ("colour", "says"),
    [
        ("#ffd700", "too light"),  # gold: white text on it is unreadable
        ("#1a73e8", "too light"),  # Google blue: 4.1:1 as a link on the light box
        ("blue", "is not a colour"),
        ("#12345", "is not a colour"),
    ],
)
def test_an_unreadable_accent_colour_is_refused(colour: str, says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_mapping({**BASE, "ACCENT_COLOR": colour})

    assert "ACCENT_COLOR: " in str(raised.value) and says in str(raised.value)


def test_legal_links_must_be_web_addresses() -> None:
    with pytest.raises(ConfigError, match="LEGAL_TERMS_URL: must be an address starting with https://"):
        Settings.from_mapping({**BASE, "LEGAL_TERMS_URL": "javascript:alert(1)"})


@pytest.mark.parametrize("colour", ["#1967d2", "#0b7a75", "#8a1538", "#000000", "#2e7d32"])
def test_the_dark_mode_link_colour_reads_on_every_dark_background(colour: str) -> None:
    assert accent_problem(colour) is None
    light = dark_accent(colour)

    assert contrast_ratio(light, "#27272a") >= 4.5 and contrast_ratio(light, "#3f3f46") >= 4.5


def test_check_says_which_logo_and_terms_page_the_emails_will_use() -> None:
    branding = Settings.from_mapping(BASE).branding

    lines = branding.describe(
        {"PS_LOGO_MAIL": "logo_mail.png", "PS_LOGO": "logo.png", "PS_CONDITIONS_CMS_ID": "3"}
    )
    bare = branding.describe({"PS_LOGO_MAIL": None, "PS_LOGO": None, "PS_CONDITIONS_CMS_ID": "0"})

    assert lines[0] == "logo: the shop's mail logo (logo_mail.png)"
    assert "terms link: the shop's terms page (CMS page 3)" in lines
    assert bare[0].startswith("logo: none: the shop's name (set LOGO_URL")
    assert "terms link: none (set LEGAL_TERMS_URL)" in bare
