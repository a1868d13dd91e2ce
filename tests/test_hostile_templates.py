"""Hostile shop data in every field of every kind, in every language: the email stays an email.

Every free-text value a shop can hand the bridge (customer, address and company names, product names and
customisations, carrier, payment method, bank details, discount names, the order reference that makes the
subject) and the shop's own name, address and phone are set to one payload at a time: markup, CR/LF header
injection, RFC 2047 encoded-word injection, a 10 000-character word, right-to-left text with bidi controls,
emoji. Marketing kinds (a cart's products and discount code, the products to review) get the same, with
the sample unsubscribe links. The assertions read the raw bytes that would go to the SMTP server, then
parse them back.
"""

from __future__ import annotations

import copy
import email
import re
from collections import Counter
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from html.parser import HTMLParser
from typing import Any

import pytest

from bridge.mail.lint import SAMPLE_SHOP
from bridge.mail.render import SUBJECT_LIMIT, RenderedEmail, render_email
from bridge.model.bridge_key import format_bridge_key
from bridge.model.headers import DISPLAY_NAME_LIMIT, make_address
from bridge.model.identity import ShopIdentity
from bridge.model.kinds import KINDS, SAMPLE_UNSUBSCRIBE, get_kind

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
LANGUAGES = ("pl", "en")
RECIPIENT = "zofia@example.com"
LONG = "Ż" * 10_000
PAYLOADS: dict[str, str] = {
    "script": '<script>alert("x")</script>',
    "img_onerror": "<img src=x onerror=alert(1)>",
    "crlf": "Anna\r\nBcc: victim@evil.example\r\nX-Evil: 1\r\n\r\n<b>body</b>",
    # "\r\nBcc: victim@evil.example" twice: quoted-printable, then base64.
    "encoded_word": "=?UTF-8?Q?=0D=0ABcc:_victim@evil.example?= "
    "=?utf-8?b?DQpCY2M6IHZpY3RpbUBldmlsLmV4YW1wbGU=?=",
    "long": LONG,
    "rtl": "\u202eKCABDNUFER\u202c שלום עולם مرحبا \u2067بالعالم\u2069",
    "emoji": "🎉 Zofia 👍🏽 ❤️ 🇵🇱 📦",
}
# Values that are not free text: the renderer formats or filters them (money, ISO dates, http(s) URLs).
NOT_TEXT = frozenset(
    {"amount", "currency", "date", "sent_at", "email", "security", "url", "image_url", "tracking_url"}
    | {"percent", "valid_until"}
    | {"minimum_amount"}  # a discount code's minimum order (bridge.model.codes), a decimal string
)
EXPECTED_HEADERS = Counter(
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
        "X-Bridge-Key",  # delivery gives every outbox email its store id and idempotency key
    ]
)
MARKETING_HEADERS = EXPECTED_HEADERS + Counter(["List-Unsubscribe", "List-Unsubscribe-Post"])
# Every tag the shipped templates write (and <tbody>, which the CSS inliner's HTML5 parser adds); data must
# never add another (a <b>, a <script>, an <iframe>).
TEMPLATE_TAGS = frozenset(
    {"a", "body", "br", "div", "h1", "h2", "head", "html", "img", "meta", "p", "span", "strong", "style"}
    | {"table", "tbody", "td", "title", "tr"}
    | {"ul", "li"}  # the owner's daily summary lists what waits for them
)
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
CASES = [(name, kind, language) for name in PAYLOADS for kind in KINDS for language in LANGUAGES]


def hostile(value: Any, payload: str, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: hostile(v, payload, k) for k, v in value.items()}
    if isinstance(value, list):
        return [hostile(v, payload, key) for v in value]
    if isinstance(value, str) and key not in NOT_TEXT:
        return payload
    return value


def hostile_shop(payload: str) -> ShopIdentity:
    return ShopIdentity(
        name=payload,
        email=SAMPLE_SHOP.email,
        from_email=SAMPLE_SHOP.from_email,
        from_name=payload,
        reply_to_name=payload,
        address_lines=(payload, payload),
        phone=payload,
        logo_url=SAMPLE_SHOP.logo_url,
        accent_color=SAMPLE_SHOP.accent_color,
        base_url=SAMPLE_SHOP.base_url,
    )


def render_hostile(kind: str, language: str, payload: str) -> RenderedEmail:
    return render_email(
        kind,
        language,
        hostile(copy.deepcopy(get_kind(kind).sample()), payload),
        shop=hostile_shop(payload),
        message_id="<hostile.1@zolta-lodka.pl>",
        recipient=make_address(payload, RECIPIENT),
        now=NOW,
        unsubscribe=SAMPLE_UNSUBSCRIBE,  # marketing kinds need it; transactional ones ignore it
        bridge_key=format_bridge_key("0123456789abcdef", f"{kind}:order:1042"),
    )


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags_of(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(html)
    parser.close()
    return parser.tags


def parts(raw: bytes) -> tuple[EmailMessage, str, str]:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    text, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert text is not None and html is not None
    return parsed, str(text.get_content()), str(html.get_content())


@pytest.mark.parametrize(("payload", "kind", "language"), CASES)
def test_hostile_data_leaves_exactly_our_headers_and_no_live_markup(
    payload: str, kind: str, language: str
) -> None:
    rendered = render_hostile(kind, language, PAYLOADS[payload])

    raw = rendered.message.as_bytes()  # what the SMTP server would receive
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"\r" not in raw.replace(b"\r\n", b"") and b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998  # RFC 5322 §2.1.1
    names = [line.split(b":", 1)[0].decode() for line in head.split(b"\r\n") if line[:1] not in (b" ", b"\t")]
    marketing = get_kind(kind).category == "marketing"
    assert Counter(names) == (MARKETING_HEADERS if marketing else EXPECTED_HEADERS)
    assert not re.search(rb"^(bcc|cc|x-evil)\s*:", head, re.IGNORECASE | re.MULTILINE)

    parsed, text, html = parts(raw)
    assert [a.addr_spec for a in parsed["To"].addresses] == [RECIPIENT]
    assert [a.addr_spec for a in parsed["From"].addresses] == [SAMPLE_SHOP.from_email]
    # The owner's alerts about a customer reply to that customer (whose address the payload never reaches).
    person = get_kind(kind).reply_to
    replies_to = get_kind(kind).sample()[person]["email"] if person else SAMPLE_SHOP.email
    assert [a.addr_spec for a in parsed["Reply-To"].addresses] == [replies_to]
    for header in ("From", "To", "Reply-To", "Subject"):
        value = str(parsed[header])
        assert "\r" not in value and "\n" not in value
        assert not BIDI_CONTROLS.search(value)
    assert "Bcc: victim" not in parsed["To"].addresses[0].addr_spec
    if marketing:  # the shop's data never reaches the unsubscribe headers
        assert parsed["List-Unsubscribe"] == f"<{SAMPLE_UNSUBSCRIBE.url}>, <{SAMPLE_UNSUBSCRIBE.mailto}>"
        assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    for tag, attrs in tags_of(html):
        assert tag in TEMPLATE_TAGS, f"data made a <{tag}>"
        assert not [name for name in attrs if name.startswith("on")], f"<{tag}> got an event handler"
        if tag == "img":
            assert (attrs.get("src") or "").startswith("https://")
    assert "<script" not in html.lower() and "<img src=x" not in html
    assert "\x00" not in text and not BIDI_CONTROLS.search(text) and not BIDI_CONTROLS.search(html)
    assert body  # something after the headers: the parts are there


@pytest.mark.parametrize(("kind", "language"), [(k, lang) for k in KINDS for lang in LANGUAGES])
def test_markup_from_the_shop_is_shown_as_text_in_both_parts(kind: str, language: str) -> None:
    rendered = render_hostile(kind, language, PAYLOADS["script"] + PAYLOADS["img_onerror"])

    _parsed, text, html = parts(rendered.message.as_bytes())
    # The shop's name is in every footer: the payload is there, escaped in HTML and literal in text.
    assert "&lt;script&gt;alert(" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert '<script>alert("x")</script><img src=x onerror=alert(1)>' in text


def test_an_encoded_word_in_the_reference_stays_inert_text_in_the_subject() -> None:
    context = get_kind("shipped").sample()
    context["order"]["reference"] = PAYLOADS["encoded_word"]

    rendered = render_email(
        "shipped",
        "pl",
        context,
        shop=SAMPLE_SHOP,
        message_id="<hostile.2@zolta-lodka.pl>",
        recipient=make_address(PAYLOADS["encoded_word"], RECIPIENT),
        now=NOW,
    )

    parsed, _text, _html = parts(rendered.message.as_bytes())
    subject = str(parsed["Subject"])
    assert "= ?UTF-8?Q?=0D=0ABcc:_victim@evil.example?=" in subject  # shown, never decoded
    assert parsed["Bcc"] is None
    assert str(parsed["To"].addresses[0].display_name).startswith("= ?UTF-8?Q?")


def test_a_ten_thousand_character_name_is_cut_in_headers_and_whole_in_the_body() -> None:
    context = get_kind("order_confirmation").sample()
    context["items"][0]["name"] = LONG
    context["order"]["reference"] = LONG
    shop = hostile_shop(LONG)

    rendered = render_email(
        "order_confirmation",
        "pl",
        context,
        shop=shop,
        message_id="<hostile.3@zolta-lodka.pl>",
        recipient=make_address(LONG, RECIPIENT),
        now=NOW,
    )

    parsed, text, html = parts(rendered.message.as_bytes())
    for header in ("From", "To", "Reply-To"):
        # Python reads the encoded words of a long name back with spaces between them.
        name = parsed[header].addresses[0].display_name.replace(" ", "")
        assert len(name) == DISPLAY_NAME_LIMIT and name.endswith("…")
    assert len(str(parsed["Subject"])) == SUBJECT_LIMIT and str(parsed["Subject"]).endswith("…")
    assert LONG in text and LONG in html  # the customer still reads the whole product name


def test_a_long_name_with_a_comma_and_a_colon_stays_one_recipient() -> None:
    # Python 3.11.7 folds this header without the display name's quotes, which reads as two addresses.
    name = "Anna Bcc: victim@evil.example, Jan Kowalski Sp. z o.o. ltd, a very long company name"
    context = get_kind("processing").sample()

    rendered = render_email(
        "processing",
        "pl",
        context,
        shop=hostile_shop(name),
        message_id="<hostile.6@zolta-lodka.pl>",
        recipient=make_address(name, RECIPIENT),
        now=NOW,
    )

    parsed, _text, _html = parts(rendered.message.as_bytes())
    assert [a.addr_spec for a in parsed["To"].addresses] == [RECIPIENT]
    assert [a.addr_spec for a in parsed["From"].addresses] == [SAMPLE_SHOP.from_email]
    assert [a.addr_spec for a in parsed["Reply-To"].addresses] == [SAMPLE_SHOP.email]
    assert "Jan Kowalski Sp. z o.o. ltd" in parsed["To"].addresses[0].display_name  # the name, minus specials


def test_a_short_name_with_specials_keeps_them() -> None:
    rendered = render_email(
        "processing",
        "pl",
        get_kind("processing").sample(),
        shop=SAMPLE_SHOP,
        message_id="<hostile.7@zolta-lodka.pl>",
        recipient=make_address("Kowalski, Jan (biuro)", RECIPIENT),
        now=NOW,
    )

    parsed, _text, _html = parts(rendered.message.as_bytes())
    assert parsed["To"].addresses[0].display_name == "Kowalski, Jan (biuro)"


def test_long_words_wrap_inside_the_layout_instead_of_widening_it() -> None:
    context = get_kind("order_confirmation").sample()
    context["items"][0]["name"] = LONG

    rendered = render_email(
        "order_confirmation",
        "en",
        context,
        shop=SAMPLE_SHOP,
        message_id="<hostile.4@zolta-lodka.pl>",
        recipient=make_address("Zofia", RECIPIENT),
        now=NOW,
    )

    cells = [attrs for tag, attrs in tags_of(rendered.html) if tag == "td"]
    sections = [a for a in cells if set((a.get("class") or "").split()) & {"header", "content", "footer"}]
    assert len(sections) == 3
    for attrs in sections:  # inlined, so clients that drop <style> keep it; inherited by every cell inside
        style = (attrs.get("style") or "").replace(" ", "")
        assert "overflow-wrap:anywhere" in style and "word-break:break-word" in style


def test_bidi_controls_cannot_reorder_what_the_customer_reads_but_rtl_letters_stay() -> None:
    rendered = render_hostile("payment_accepted", "pl", PAYLOADS["rtl"])

    parsed, text, html = parts(rendered.message.as_bytes())
    for part in (str(parsed["Subject"]), text, html):
        assert not BIDI_CONTROLS.search(part)
        assert "KCABDNUFER שלום עולם مرحبا بالعالم" in part


def test_emoji_survive_headers_and_both_parts() -> None:
    rendered = render_hostile("shipped", "en", PAYLOADS["emoji"])

    parsed, text, html = parts(rendered.message.as_bytes())
    assert PAYLOADS["emoji"] in str(parsed["Subject"])
    assert parsed["To"].addresses[0].display_name == PAYLOADS["emoji"]
    assert PAYLOADS["emoji"] in text and PAYLOADS["emoji"] in html


def test_control_characters_from_the_shop_never_reach_the_body() -> None:
    context = get_kind("processing").sample()
    context["customer"]["first_name"] = "Zo\x00fia\x1b[31m\x07\x85"
    context["order"]["payment_method"] = "Przelew\tbankowy"

    rendered = render_email(
        "processing",
        "pl",
        context,
        shop=SAMPLE_SHOP,
        message_id="<hostile.5@zolta-lodka.pl>",
        recipient=make_address("Zofia", RECIPIENT),
        now=NOW,
    )

    _parsed, text, html = parts(rendered.message.as_bytes())
    for part in (text, html):
        assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", part)
        assert "Zo fia [31m" in part
    assert "Przelew\tbankowy" in text  # a tab is text, not a control sequence
