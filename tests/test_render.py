"""The renderer's promises: shop data is data (escaped, inert in headers, never template code), templates are
found owner-first, languages fall back visibly, and the message is a well-formed multipart/alternative."""

from __future__ import annotations

import email
import json
import re
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from bridge.errors import ConfigError
from bridge.mail.lint import SAMPLE_SHOP
from bridge.mail.render import RenderedEmail, RenderError, new_message_id, render_email, subject_header
from bridge.model.headers import clean_header_text, make_address
from bridge.model.identity import ShopIdentity
from bridge.model.kinds import get_kind

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
MESSAGE_ID = "<order-1042.status-5531@zolta-lodka.pl>"
EVIL_NAME = "<script>alert(1)</script>\r\nBcc: x@evil"
NBSP = "\xa0"


def render(
    kind: str,
    language: str = "pl",
    context: dict[str, Any] | None = None,
    *,
    shop: ShopIdentity = SAMPLE_SHOP,
    templates_dir: Path | None = None,
    recipient_name: str = "Zofia Żółkiewska",
) -> RenderedEmail:
    return render_email(
        kind,
        language,
        get_kind(kind).sample() if context is None else context,
        shop=shop,
        message_id=MESSAGE_ID,
        recipient=make_address(recipient_name, "zofia@example.com"),
        now=NOW,
        templates_dir=templates_dir,
    )


def header_block(message: EmailMessage) -> bytes:
    return message.as_bytes().split(b"\r\n\r\n", 1)[0]


def header_names(message: EmailMessage) -> list[str]:
    lines = header_block(message).split(b"\r\n")
    return [line.split(b":", 1)[0].decode() for line in lines if line[:1] not in (b" ", b"\t")]


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- Shop data is data ----------------------------------------------------------------------------


def test_a_customer_name_with_html_is_escaped_in_html_and_literal_in_text() -> None:
    context = get_kind("shipped").sample()
    context["customer"]["first_name"] = EVIL_NAME

    rendered = render("shipped", context=context)

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert "<script" not in rendered.html
    assert "Dzień dobry, <script>alert(1)</script>" in rendered.text


def test_a_header_injection_in_the_name_and_reference_never_becomes_a_header() -> None:
    context = get_kind("shipped").sample()
    context["customer"]["first_name"] = EVIL_NAME
    # An RFC 2047 encoded newline: Python 3.11.7 decodes it and writes a real "Bcc:" line (CVE-2024-6923).
    context["order"]["reference"] = "XKB =?UTF-8?Q?=0A?=Bcc: injected@evil\r\nX-Evil: 1"

    rendered = render("shipped", context=context, recipient_name=EVIL_NAME + " =?UTF-8?Q?=0A?=Cc: y@evil")

    names = header_names(rendered.message)
    assert sorted(names) == sorted(
        [
            "From",
            "To",
            "Reply-To",
            "Subject",
            "Date",
            "Message-ID",
            "Auto-Submitted",
            "X-Auto-Response-Suppress",
            "MIME-Version",
            "Content-Type",
            "Content-Language",
        ]
    )
    head = header_block(rendered.message)
    assert not re.search(rb"(^|\r\n)(Bcc|Cc|X-Evil):", head, re.IGNORECASE)
    assert b"\n" not in head.replace(b"\r\n", b"") and b"\r" not in head.replace(b"\r\n", b"")
    parsed = email.message_from_bytes(rendered.message.as_bytes(), policy=policy.default)
    assert parsed["Bcc"] is None and parsed["Cc"] is None
    assert [a.addr_spec for a in parsed["To"].addresses] == ["zofia@example.com"]
    assert "\n" not in str(parsed["Subject"]) and "\r" not in str(parsed["Subject"])
    assert "Bcc: injected@evil" in str(parsed["Subject"])  # shown as harmless text, not dropped silently


def test_clean_header_text_removes_every_control_character_and_encoded_word_opener() -> None:
    assert clean_header_text("Anna\r\nBcc: x@evil") == "Anna Bcc: x@evil"
    assert clean_header_text("a\x00b\x1bc\x7fd\x85e\u2028f\tg") == "a b c d e f g"
    assert clean_header_text("Hi =?UTF-8?Q?=0A?=x") == "Hi = ?UTF-8?Q?=0A?=x"
    assert clean_header_text("=\x00?") == "= ?"
    assert clean_header_text("  Zażółć   gęślą  ") == "Zażółć gęślą"


def test_an_email_address_with_a_newline_is_refused() -> None:
    with pytest.raises(ValueError, match="control characters"):
        make_address("Jan", "jan@example.com\r\nBcc: x@evil")


def test_shop_data_that_looks_like_a_template_is_printed_not_evaluated() -> None:
    context = get_kind("processing").sample()
    context["customer"]["first_name"] = "{{ shop.email }}{% for x in range(3) %}"

    rendered = render("processing", context=context)

    assert "Dzień dobry, {{ shop.email }}{% for x in range(3) %}!" in rendered.text
    assert "{{ shop.email }}{% for x in range(3) %}" in rendered.html


def test_a_javascript_tracking_url_never_becomes_a_link() -> None:
    context = get_kind("shipped").sample()
    context["shipment"]["tracking_url"] = "javascript:alert(document.cookie)"

    rendered = render("shipped", context=context)

    assert "javascript:" not in rendered.html
    assert "javascript:" not in rendered.text
    assert "Śledź przesyłkę" not in rendered.text


# --- Strictness and the sandbox -------------------------------------------------------------------


def test_a_misspelt_variable_in_an_owner_template_fails_naming_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "pl/shipped.txt", "Dzień dobry!\n\nNumer: {{ order.refrence }}\n")

    with pytest.raises(RenderError) as failure:
        render("shipped", templates_dir=tmp_path)

    assert failure.value.file == str(path)
    assert failure.value.line == 3
    assert "refrence" in str(failure.value)
    assert str(failure.value).startswith(f"{path}:3: ")


def test_the_sandbox_keeps_owner_templates_away_from_python_internals(tmp_path: Path) -> None:
    write(tmp_path, "pl/processing.subject.txt", "{{ order.__class__.__mro__ }}\n")

    with pytest.raises(RenderError, match="unsafe"):
        render("processing", templates_dir=tmp_path)


def test_a_context_missing_a_key_is_refused_before_rendering() -> None:
    context = get_kind("shipped").sample()
    del context["shipment"]

    with pytest.raises(RenderError, match="lacks shipment"):
        render("shipped", context=context)


def test_a_context_may_not_override_the_shop() -> None:
    context = {**get_kind("processing").sample(), "shop": {"name": "Fałszywy sklep"}}

    with pytest.raises(RenderError, match="must not set shop"):
        render("processing", context=context)


def test_a_naive_now_is_a_bug() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        render_email(
            "processing",
            "pl",
            get_kind("processing").sample(),
            shop=SAMPLE_SHOP,
            message_id=MESSAGE_ID,
            recipient=make_address("Zofia", "zofia@example.com"),
            now=datetime(2026, 11, 27, 9, 0),  # noqa: DTZ001 - the point of the test
        )


# --- Languages ------------------------------------------------------------------------------------


def test_a_language_without_templates_falls_back_to_the_owners_default_and_says_so() -> None:
    rendered = render("shipped", "de")

    assert rendered.language_used == "pl"
    assert rendered.fell_back is True
    assert rendered.subject == "Zamówienie XKBKNABJK zostało wysłane"
    assert rendered.message["Content-Language"] == "pl"


def test_english_is_the_last_resort_when_the_default_has_no_templates() -> None:
    shop = ShopIdentity(
        name="Gelbes Boot", email="kontakt@example.de", from_email="boot@example.de", default_language="de"
    )

    rendered = render("processing", "fr", shop=shop)

    assert (rendered.language_used, rendered.fell_back) == ("en", True)


def test_the_orders_language_is_used_without_fallback() -> None:
    rendered = render("shipped", "en")

    assert (rendered.language_used, rendered.fell_back) == ("en", False)
    assert rendered.subject == "Your order XKBKNABJK has shipped"


def test_a_regional_locale_picks_the_language_and_formats_for_the_region() -> None:
    rendered = render("processing", "en-GB")

    assert (rendered.language_used, rendered.fell_back) == ("en", False)
    assert "Order date: 27 November 2026, 10:05" in rendered.text  # day first, 24 h: en_GB, in Warsaw time


def test_a_polish_locale_code_with_region_uses_polish_templates() -> None:
    rendered = render("processing", "pl-PL")

    assert (rendered.language_used, rendered.fell_back) == ("pl", False)


# --- Owner's templates folder ---------------------------------------------------------------------


def test_an_owner_file_overrides_only_that_file(tmp_path: Path) -> None:
    write(tmp_path, "pl/shipped.subject.txt", "Paczka {{ order.reference }} już jedzie do Ciebie!\n")

    rendered = render("shipped", templates_dir=tmp_path)

    assert rendered.subject == "Paczka XKBKNABJK już jedzie do Ciebie!"
    assert "Śledź przesyłkę" in rendered.text  # the shipped text part
    assert "Twoje zamówienie jest w drodze" in rendered.html  # the shipped HTML part
    assert render("shipped", "en", templates_dir=tmp_path).subject == "Your order XKBKNABJK has shipped"


def test_an_owner_can_override_the_shared_layout(tmp_path: Path) -> None:
    shipped_layout = (Path(__file__).resolve().parents[1] / "templates" / "layout.txt").read_text(
        encoding="utf-8"
    )
    write(tmp_path, "layout.txt", shipped_layout + "\nObserwuj nas na Instagramie!\n")

    rendered = render("delivered", templates_dir=tmp_path)

    assert rendered.text.rstrip().endswith("Obserwuj nas na Instagramie!")
    assert "Instagram" not in rendered.html


def test_an_owner_can_add_a_language(tmp_path: Path) -> None:
    write(tmp_path, "de/processing.subject.txt", "Wir bereiten Ihre Bestellung {{ order.reference }} vor\n")
    write(
        tmp_path, "de/processing.txt", "Betrag: {{ order.total | money }}\nDatum: {{ order.date | date }}\n"
    )
    write(
        tmp_path,
        "de/processing.html",
        '{% extends "en/base.html" %}{% block content %}<p>{{ order.total | money }}</p>{% endblock %}',
    )

    rendered = render("processing", "de", templates_dir=tmp_path)

    assert (rendered.language_used, rendered.fell_back) == ("de", False)
    assert f"Betrag: 1.234,56{NBSP}PLN" in rendered.text  # German CLDR: the ISO code after the amount
    assert "Datum: 27. November 2026" in rendered.text


# --- The HTML and the message ---------------------------------------------------------------------


def test_css_is_inlined_and_phone_and_dark_mode_rules_stay_in_a_style_block() -> None:
    html = render("order_confirmation").html

    assert re.search(r'<td class="content" style="[^"]*font-family: Arial', html)
    style_blocks = re.findall(r"<style>(.*?)</style>", html, re.DOTALL)
    assert len(style_blocks) == 1
    assert "@media only screen and (max-width: 620px)" in style_blocks[0]
    assert "@media (prefers-color-scheme: dark)" in style_blocks[0]
    assert ".content {" not in style_blocks[0]  # plain rules were inlined, not left behind
    assert 'width="600"' in html and "max-width: 600px" in html
    assert "<link" not in html and "<script" not in html


def test_the_accent_colour_and_logo_come_from_the_shop_settings() -> None:
    shop = ShopIdentity(
        name="Niebieski Sklep",
        email="kontakt@niebieski.pl",
        from_email="niebieski@gmail.com",
        accent_color="#123abc",
        logo_url="https://niebieski.pl/logo.png",
        base_url="https://niebieski.pl",
    )

    html = render("delivered", shop=shop).html

    assert "border-top: 4px solid #123abc" in html
    assert '<img src="https://niebieski.pl/logo.png" alt="Niebieski Sklep"' in html


def test_without_a_logo_the_shop_name_heads_the_email() -> None:
    shop = ShopIdentity(name="Sklep Bez Logo", email="kontakt@bezlogo.pl", from_email="bezlogo@gmail.com")

    html = render("delivered", shop=shop).html

    assert '<span class="shop-name"' in html and "<img" not in html


def test_a_shop_identity_with_a_css_breaking_colour_or_bad_urls_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as failure:
        ShopIdentity(
            name="Sklep",
            email="kontakt@sklep.pl",
            from_email="sklep@gmail.com",
            accent_color="red;}</style><script>",
            logo_url="javascript:alert(1)",
            timezone="Europe/Atlantyda",
        )
    assert "accent colour" in str(failure.value)
    assert "logo URL" in str(failure.value)
    assert "timezone" in str(failure.value)


def test_message_ids_are_unique_and_on_the_shops_domain() -> None:
    first = new_message_id(SAMPLE_SHOP, "status:history:5531")
    second = new_message_id(SAMPLE_SHOP, "status:history:5531")

    assert first != second
    assert first.endswith("@zolta-lodka.pl>") and "status-history-5531" in first


def test_a_malformed_message_id_is_refused() -> None:
    with pytest.raises(RenderError, match="not a Message-ID"):
        render_email(
            "processing",
            "pl",
            get_kind("processing").sample(),
            shop=SAMPLE_SHOP,
            message_id="<a@b>\r\nBcc: x@evil",
            recipient=make_address("Zofia", "zofia@example.com"),
            now=NOW,
        )


def test_the_polish_subject_survives_encoding_and_parsing() -> None:
    rendered = render("payment_accepted")

    raw = rendered.message.as_bytes()
    assert "Otrzymaliśmy".encode() not in raw.split(b"\r\n\r\n", 1)[0]  # encoded, not raw 8-bit
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == "Otrzymaliśmy płatność za zamówienie XKBKNABJK"


@pytest.mark.parametrize("length", range(60, 100))
def test_an_ascii_subject_of_any_length_reads_back_exactly_with_its_first_words_on_the_subject_line(
    length: int,
) -> None:
    words = "Happy birthday Emily here is a little gift from all of us at the shop for you today and more"
    subject = (words * 2)[:length].strip()
    message = EmailMessage(policy=policy.SMTP)
    message["Subject"] = subject_header(subject)
    message.set_content("x")

    head = message.as_bytes().split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert head[0].startswith(b"Subject: Happy birthday")  # never `Subject:` alone, the text a line lower
    assert all(len(line) <= 78 for line in head)
    assert email.message_from_bytes(message.as_bytes(), policy=policy.default)["Subject"] == subject


# --- The shop's identity from its configuration -----------------------------------------------------------


def shop_configuration() -> dict[str, str]:
    """The values a real PrestaShop 8.1.2 shop returned (tests/data/real-responses/configurations)."""
    real = Path(__file__).resolve().parent / "data" / "real-responses"
    values: dict[str, str] = {}
    for name in ("filter-name-begins-with.json", "PS_SHOP_DOMAIN-and-mail.json", "PS_TIMEZONE.json"):
        body = json.loads((real / "configurations" / name).read_text(encoding="utf-8"))["response"]["body"]
        values.update({row["name"]: row["value"] for row in json.loads(body)["configurations"]})
    return values


def test_the_footer_defaults_to_the_shops_own_configuration() -> None:
    shop = ShopIdentity.from_shop_configuration(shop_configuration(), from_email="sklep@gmail.com")

    assert (shop.name, shop.email, shop.timezone) == ("PrestaShop", "admin@example.com", "Europe/Warsaw")
    assert shop.base_url == "http://127.0.0.1:8080"  # PS_SSL_ENABLED is 0 on that shop
    rendered = render("delivered", shop=shop)
    assert "PrestaShop" in rendered.text and "admin@example.com" in rendered.text


def test_the_owners_settings_win_over_the_shops_configuration() -> None:
    configuration = {
        **shop_configuration(),
        "PS_SSL_ENABLED": "1",
        "PS_SHOP_DOMAIN_SSL": "sklep.example.pl",
        "PS_SHOP_ADDR1": "ul. Długa 5",
        "PS_SHOP_CODE": "31-147",
        "PS_SHOP_CITY": "Kraków",
        "PS_LOGO": "logo-1.png",
    }

    shop = ShopIdentity.from_shop_configuration(
        configuration, from_email="sklep@gmail.com", name="Żółta Łódka", phone="+48 12 345 67 89"
    )

    assert shop.name == "Żółta Łódka" and shop.email == "admin@example.com"
    assert shop.address_lines == ("ul. Długa 5", "31-147 Kraków")
    assert shop.logo_url == "https://sklep.example.pl/img/logo-1.png"
    assert shop.domain == "sklep.example.pl"


def test_a_separate_reply_to_address_is_used_when_the_owner_sets_one() -> None:
    shop = ShopIdentity(
        name="Żółta Łódka",
        email="kontakt@zolta-lodka.pl",
        from_email="sklep.zolta.lodka@gmail.com",
        reply_to_email="obsluga@zolta-lodka.pl",
        reply_to_name="Obsługa klienta",
    )

    parsed = email.message_from_bytes(
        render("delivered", shop=shop).message.as_bytes(), policy=policy.default
    )

    (reply_to,) = parsed["Reply-To"].addresses
    assert (reply_to.display_name, reply_to.addr_spec) == ("Obsługa klienta", "obsluga@zolta-lodka.pl")


def test_a_context_read_back_from_the_outbox_renders_the_same() -> None:
    sample = get_kind("order_confirmation").sample()
    stored = MappingProxyType(json.loads(json.dumps(sample, ensure_ascii=False)))

    assert (
        render("order_confirmation", context=dict(sample)).text
        == render_email(
            "order_confirmation",
            "pl",
            stored,
            shop=SAMPLE_SHOP,
            message_id=MESSAGE_ID,
            recipient=make_address("Zofia Żółkiewska", "zofia@example.com"),
            now=NOW,
        ).text
    )
