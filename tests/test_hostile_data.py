"""Hostile data in the shop, end to end: the simulated shop holds it, the bridge polls it over HTTP, queues,
renders and hands the email to a Gmail-like SMTP server on 127.0.0.1, and the owner reads the outbox.

A shop's database can hold anything: a customer types markup or line breaks into a form, a module writes a
broken order, an employee deletes a customer, an import leaves zero dates. Each case puts one such value
where the shop would keep it (through a shop action, or straight into its tables where no action writes
it), then runs the bridge's real poll and delivery and checks what an owner would check: nothing crashed,
and the email either went out exactly once with the value inert (escaped in HTML, plain in text, no header
added, one recipient, the subject intact), or was not sent and the outbox and `bridge explain` say why.

The template-level matrix (every payload in every field of every kind) is tests/test_hostile_templates.py;
this file proves the same promises through the whole pipeline, from the shop's tables to the wire.
"""

from __future__ import annotations

import email
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bridge.cli import main
from bridge.commands import explain
from bridge.delivery.smtp import SmtpSender
from bridge.mail.render import SUBJECT_LIMIT
from bridge.model.headers import DISPLAY_NAME_LIMIT
from bridge.secret import Secret
from bridge.shop.client import ShopClient
from bridge.simulator import Simulator
from bridge.simulator.actions import PaymentModule, PostalAddress, Shop
from bridge.simulator.demo_shop import BOWL, MUG, MUG_HONEY
from bridge.state.outbox import OutboxRow, Status, list_rows
from bridge.state.store import open_store
from tests.conftest import SHOP_KEY, World, bridge_settings
from tests.smtp_server import DEFAULT_PASSWORD, DEFAULT_USERNAME, ReceivedMessage, gmail_like_server

EMAIL = "zofia@example.com"
WARSAW = PostalAddress("ul. Marszałkowska 10/4", "00-590", "Warszawa", phone="+48 600 700 800")

SCRIPT = '<script>alert("pwned")</script>'
IMG = "<img src=x onerror=alert(1)>"
IFRAME = '<iframe src="javascript:alert(1)"></iframe>'
BREAKOUT = '</td></tr></table><marquee>x</marquee><form action="https://evil.example/"><input name=q>'
CRLF_BCC = "Anna\r\nBcc: victim@evil.example"
CRLF_BODY = "Kowalska\r\nX-Evil: 1\r\n\r\n<b>body</b>"
# "\r\nBcc: victim@evil.example", as an RFC 2047 encoded word: quoted-printable, then base64.
ENCODED_Q = "=?utf-8?q?=0D=0ABcc:_victim@evil.example?="
ENCODED_B = "=?UTF-8?B?DQpCY2M6IHZpY3RpbUBldmlsLmV4YW1wbGU=?="
RTL = "\u202eKCABDNUFER\u202c שלום \u2067مرحبا\u2069"
RTL_SHOWN = "KCABDNUFER שלום مرحبا"
LONG = "Ż" * 10_000
EMOJI = "Zofia 🎉👍🏽"
JINJA = "{{ 7*7 }} {% for x in range(3) %}X{% endfor %} {{ shop.__class__ }}"

# The headers the bridge writes, each once; shop data must never add one (a Bcc, a Cc, an X-Evil).
HEADERS = Counter(
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
        "X-Bridge-Key",  # the store's id and the email's idempotency key (a second sender is spotted by it)
    ]
)
# Every tag the shipped templates write (<tbody> comes from the CSS inliner's HTML5 parser).
TEMPLATE_TAGS = frozenset(
    {"a", "body", "br", "div", "h1", "h2", "head", "html", "img", "meta", "p", "span", "strong", "style"}
    | {"table", "tbody", "td", "title", "tr"}
)
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
SUBJECTS = {
    "order_confirmation": "Potwierdzenie zamówienia {}",
    "awaiting_bank_wire": "Zamówienie {}: czekamy na przelew",
    "payment_accepted": "Otrzymaliśmy płatność za zamówienie {}",
    "shipped": "Zamówienie {} zostało wysłane",
}


# --- the shop ----------------------------------------------------------------------------------------


def buyer(
    shop: Shop,
    *,
    first: str = "Zofia",
    last: str = "Wiśniewska",
    email: str = EMAIL,
    address: PostalAddress = WARSAW,
) -> int:
    return shop.register_customer(first, last, email, address=address).customer_id


def place(
    shop: Shop,
    customer_id: int,
    payment: str | PaymentModule = "przelewy24",
    *,
    items: list[tuple[int, int] | tuple[int, int, int]] | None = None,
    carrier_id: int = 2,
    comment: str | None = None,
    discount: str | None = None,
) -> int:
    """Checkout of a mug and a bowl (227,00 zł), paid by card unless told otherwise."""
    cart = shop.create_cart(customer_id, items or [(MUG, 2, MUG_HONEY), (BOWL, 1)], carrier_id=carrier_id)
    order_id = shop.place_order(cart, payment, comment=comment, discount=discount)
    shop.advance(30)
    return order_id


def product(shop: Shop, name: str, price: str = "10.00") -> int:
    return shop.add_product({"pl": name, "en": name}, price, reference="ZL-TEST")


def ordered_by(world: World, *, first: str = "Zofia", last: str = "Wiśniewska", email: str = EMAIL) -> int:
    """An order of a customer registered with these names and email address."""
    return place(world.shop, buyer(world.shop, first=first, last=last, email=email))


def with_address(world: World, **fields: str) -> int:
    address = PostalAddress(
        fields.pop("address1", WARSAW.address1),
        fields.pop("postcode", WARSAW.postcode),
        fields.pop("city", WARSAW.city),
        phone=fields.pop("phone", WARSAW.phone),
        **fields,
    )
    return place(world.shop, buyer(world.shop, address=address))


def with_product(world: World, name: str) -> int:
    return place(world.shop, buyer(world.shop), items=[(product(world.shop, name), 1)])


def with_order_fields(world: World, **values: object) -> int:
    """An order whose row in the shop's `orders` table holds these values (no shop action writes them)."""
    order_id = place(world.shop, buyer(world.shop))
    world.shop.state.update("orders", order_id, **values)
    return order_id


def with_config(world: World, **values: str) -> int:
    for name, value in values.items():
        world.shop.state.set_config(name, value)
    return place(world.shop, buyer(world.shop))


def after(change: Callable[[Shop], object]) -> Callable[[World], int]:
    """Change the shop's tables (`change`), then place an ordinary order."""

    def arrange(world: World) -> int:
        change(world.shop)
        return place(world.shop, buyer(world.shop))

    return arrange


def then(change: Callable[[World, int], object]) -> Callable[[World], int]:
    """Place an ordinary order, then change the shop's tables (`change(world, order_id)`)."""

    def arrange(world: World) -> int:
        order_id = place(world.shop, buyer(world.shop))
        change(world, order_id)
        return order_id

    return arrange


def wire_order_with_bank_owner(world: World, owner: str) -> int:
    world.shop.state.set_config("BANK_WIRE_OWNER", owner)
    return place(world.shop, buyer(world.shop), "ps_wirepayment")


def customer_of(world: World, order_id: int) -> int:
    return int(world.shop.state.get("orders", order_id)["id_customer"])


def address_of(world: World, order_id: int) -> int:
    return int(world.shop.state.get("orders", order_id)["id_address_delivery"])


def shipped_with_tracking(world: World, number: str, *, carrier_url: str | None = None) -> int:
    """Confirmed in an earlier poll, then shipped with this tracking number."""
    shop = world.shop
    order_id = place(shop, buyer(shop))
    if carrier_url is not None:
        shop.state.update("carriers", 2, url=carrier_url)
    world.sync()
    shop.advance(timedelta(hours=2))
    shop.set_tracking(order_id, number)
    shop.change_state(order_id, 4)
    shop.advance(30)
    return order_id


def cheque_paid_in_back_office(world: World, transaction_id: str) -> int:
    shop = world.shop
    order_id = place(shop, buyer(shop), "ps_checkpayment")
    world.sync()
    shop.advance(timedelta(days=1))
    shop.add_payment(order_id, "227.00", "Czek", transaction_id=transaction_id)
    shop.advance(30)
    return order_id


def with_discount_named(world: World, name: str) -> int:
    order_id = place(world.shop, buyer(world.shop), discount="10.00")
    world.shop.state.insert(
        "order_cart_rules",
        {"id_order": order_id, "id_cart_rule": 1, "name": name, "value": "10.00", "value_tax_excl": "8.13"},
    )
    return order_id


def without_rows(world: World, rows: object) -> int:
    order_id = place(world.shop, buyer(world.shop))
    world.shop.state.update("orders", order_id, associations={} if rows is None else {"order_rows": rows})
    return order_id


def customer_deleted(world: World) -> int:
    order_id = place(world.shop, buyer(world.shop))
    world.shop.delete_customer(customer_of(world, order_id))
    return order_id


def customer_gone(world: World) -> int:
    order_id = place(world.shop, buyer(world.shop))
    world.shop.state.delete("customers", customer_of(world, order_id))
    return order_id


def address_deleted(world: World) -> int:
    order_id = place(world.shop, buyer(world.shop))
    world.shop.state.update("addresses", address_of(world, order_id), deleted=True)
    return order_id


def address_gone(world: World) -> int:
    order_id = place(world.shop, buyer(world.shop))
    world.shop.state.delete("addresses", address_of(world, order_id))
    return order_id


def totals(world: World, amount: str) -> int:
    order_id = place(world.shop, buyer(world.shop))
    world.shop.state.update(
        "orders",
        order_id,
        total_paid=amount,
        total_paid_tax_incl=amount,
        total_paid_tax_excl=amount,
        total_products_wt=amount,
        total_products=amount,
        total_shipping=0,
        total_shipping_tax_incl=0,
        total_shipping_tax_excl=0,
    )
    return order_id


def free_order(world: World) -> int:
    """A free product collected at the workshop: every total is zero, as the shop computed it."""
    shop = world.shop
    return place(shop, buyer(shop), items=[(product(shop, "Próbka szkliwa", "0"), 1)], carrier_id=1)


def payment_with_zero_date(world: World) -> int:
    order_id = cheque_paid_in_back_office(world, "CHK-1")
    [payment] = [p for p in world.shop.payments(order_id) if p["transaction_id"] == "CHK-1"]
    world.shop.state.update("order_payments", payment["id"], date_add=None)
    return order_id


# --- what the owner checks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """The email went out once, to `to`, with each of `shown` readable (as text) in both parts."""

    shown: tuple[str, ...] = ()
    to: str = EMAIL
    kind: str = "order_confirmation"
    absent: tuple[str, ...] = ()  # what must not appear anywhere in the message (decoded)


@dataclass(frozen=True)
class Refused:
    """Nothing went out for the order, and its row says why (`reason`, as `bridge explain` shows it)."""

    reason: str
    kind: str = "order_confirmation"


@dataclass(frozen=True)
class Case:
    id: str
    arrange: Callable[[World], int]  # makes the order happen; returns its id
    expect: Sent | Refused


CASES: list[Case] = [
    # Markup and script in every text field a template shows.
    Case("script_in_first_name", lambda w: ordered_by(w, first=SCRIPT), Sent((SCRIPT,))),
    Case("img_onerror_in_last_name", lambda w: ordered_by(w, last=IMG), Sent((IMG,))),
    Case("script_in_company", lambda w: with_address(w, company=SCRIPT), Sent((SCRIPT,))),
    Case("iframe_in_address_line_1", lambda w: with_address(w, address1=IFRAME), Sent((IFRAME,))),
    Case("table_breakout_in_address_line_2", lambda w: with_address(w, address2=BREAKOUT), Sent((BREAKOUT,))),
    Case("script_in_city", lambda w: with_address(w, city=SCRIPT), Sent((SCRIPT,))),
    Case("markup_in_postcode", lambda w: with_address(w, postcode="<b>00-590</b>"), Sent(("<b>00-590</b>",))),
    Case("img_onerror_in_phone", lambda w: with_address(w, phone=IMG), Sent((IMG,))),
    Case("script_in_vat_number", lambda w: with_address(w, vat_number=SCRIPT), Sent((SCRIPT,))),
    Case(
        "script_in_country_name",
        after(lambda shop: shop.state.update("countries", 14, name={1: SCRIPT, 2: SCRIPT})),
        Sent((SCRIPT,)),
    ),
    Case("script_in_product_name", lambda w: with_product(w, SCRIPT), Sent((SCRIPT,))),
    Case("table_breakout_in_product_name", lambda w: with_product(w, BREAKOUT), Sent((BREAKOUT,))),
    Case(
        "html_entities_in_a_name_are_not_decoded",
        lambda w: ordered_by(w, first="&lt;script&gt;&amp;"),
        Sent(("&lt;script&gt;&amp;",)),
    ),
    Case(
        "script_in_carrier_name",
        after(lambda shop: shop.state.update("carriers", 2, name=SCRIPT)),
        Sent((SCRIPT,)),
    ),
    Case(
        "script_in_payment_method",
        lambda w: place(w.shop, buyer(w.shop), PaymentModule("evil", {"pl": SCRIPT}, "PS_OS_PAYMENT")),
        Sent((SCRIPT,)),
    ),
    Case(
        "script_in_checkout_message",
        lambda w: place(w.shop, buyer(w.shop), comment=SCRIPT),
        Sent(),  # the bridge does not show checkout messages: the value cannot be live anywhere
    ),
    Case("script_in_discount_name", lambda w: with_discount_named(w, SCRIPT), Sent((SCRIPT,))),
    Case("script_in_shop_name", lambda w: with_config(w, PS_SHOP_NAME=SCRIPT), Sent((SCRIPT,))),
    Case(
        "markup_in_shop_address_and_phone",
        lambda w: with_config(w, PS_SHOP_ADDR1=IFRAME, PS_SHOP_PHONE=IMG),
        Sent((IFRAME, IMG)),
    ),
    Case(
        "script_in_bank_wire_owner",
        lambda w: wire_order_with_bank_owner(w, SCRIPT),
        Sent((SCRIPT,), kind="awaiting_bank_wire"),
    ),
    Case(
        "script_in_payment_transaction_id",
        lambda w: cheque_paid_in_back_office(w, SCRIPT),
        Sent((SCRIPT,), kind="payment_accepted"),
    ),
    Case(
        "script_in_tracking_number",
        lambda w: shipped_with_tracking(w, f'PX1"{SCRIPT}'),
        Sent((f'PX1"{SCRIPT}',), kind="shipped"),
    ),
    Case(
        "javascript_tracking_url_of_a_carrier_is_no_link",
        lambda w: shipped_with_tracking(w, "PX77", carrier_url="javascript:alert(document.cookie)//@"),
        Sent(("PX77",), kind="shipped", absent=("javascript:",)),
    ),
    # Line breaks and RFC 2047 encoded words in names, the order reference (the subject) and products.
    Case(
        "crlf_bcc_in_first_name",
        lambda w: ordered_by(w, first=CRLF_BCC),
        Sent(("Bcc: victim@evil.example Wiśniewska",)),
    ),
    Case("crlf_headers_and_body_in_last_name", lambda w: ordered_by(w, last=CRLF_BODY), Sent()),
    Case("encoded_word_q_in_last_name", lambda w: ordered_by(w, last=ENCODED_Q), Sent((ENCODED_Q,))),
    Case("encoded_word_b_in_first_name", lambda w: ordered_by(w, first=ENCODED_B), Sent((ENCODED_B,))),
    Case("crlf_bcc_in_order_reference", lambda w: with_order_fields(w, reference=CRLF_BCC), Sent()),
    Case("encoded_word_in_order_reference", lambda w: with_order_fields(w, reference=ENCODED_Q), Sent()),
    Case(
        "comma_brackets_and_percent_in_order_reference",
        lambda w: with_order_fields(w, reference="ZAM,2026/[7]|50%"),
        Sent(("ZAM,2026/[7]|50%",)),
    ),
    Case(
        "crlf_and_encoded_word_in_product_name",
        lambda w: with_product(w, f"Kubek{CRLF_BCC} {ENCODED_B}"),
        Sent((ENCODED_B,)),
    ),
    Case("crlf_bcc_in_shop_name", lambda w: with_config(w, PS_SHOP_NAME=f"Sklep{CRLF_BCC}"), Sent()),
    Case(
        "unicode_line_separators_in_name",
        lambda w: ordered_by(w, first="Zofia\u2028Bcc: victim@evil.example\u2029"),
        Sent(),
    ),
    # Addresses the bridge must not hand to the server.
    Case(
        "crlf_bcc_in_email_address",
        lambda w: ordered_by(w, email="zofia@example.com\r\nBcc: victim@evil.example"),
        Refused("has no valid email address"),
    ),
    Case(
        "encoded_word_in_email_address",
        lambda w: ordered_by(w, email="=?utf-8?q?victim=40evil.example?=@example.com"),
        Refused("email address"),
    ),
    Case(
        "address_without_at",
        lambda w: ordered_by(w, email="zofia.example.com"),
        Refused("has no valid email address"),
    ),
    Case(
        "address_with_a_space",
        lambda w: ordered_by(w, email="zofia k@example.com"),
        Refused("has no valid email address"),
    ),
    Case(
        "address_with_trailing_dot",
        lambda w: ordered_by(w, email="zofia@example.com."),
        Refused("email address"),
    ),
    Case(
        "address_with_two_at_signs",
        lambda w: ordered_by(w, email="zofia@evil@example.com"),
        Refused("email address"),
    ),
    Case(
        "address_of_400_characters",
        lambda w: ordered_by(w, email="z" * 388 + "@example.com"),
        Refused("email address"),
    ),
    Case("empty_address", lambda w: ordered_by(w, email=""), Refused("has no valid email address")),
    Case(
        "nul_in_address",
        lambda w: ordered_by(w, email="zofia\x00@example.com"),
        Refused("has no valid email address"),
    ),
    # Internationalised addresses: Gmail offers SMTPUTF8, so they go out as they are.
    Case("idn_domain_address", lambda w: ordered_by(w, email="zofia@żółw.pl"), Sent(to="zofia@żółw.pl")),
    Case(
        "non_ascii_local_part",
        lambda w: ordered_by(w, email="józef@example.com"),
        Sent(to="józef@example.com"),
    ),
    # Ten thousand characters.
    Case("ten_thousand_characters_in_first_name", lambda w: ordered_by(w, first=LONG), Sent((LONG,))),
    Case("ten_thousand_characters_in_product_name", lambda w: with_product(w, LONG), Sent((LONG,))),
    Case("ten_thousand_characters_in_address_line", lambda w: with_address(w, address1=LONG), Sent((LONG,))),
    Case(
        "ten_thousand_characters_in_order_reference", lambda w: with_order_fields(w, reference=LONG), Sent()
    ),
    # Money.
    Case("zero_totals", free_order, Sent(("0,00\xa0zł",))),
    Case("negative_totals", lambda w: totals(w, "-50.00"), Sent(("-50,00\xa0zł",))),
    # Broken orders and missing rows.
    Case("order_without_rows", lambda w: without_rows(w, None), Refused("the order has no products")),
    Case("order_with_an_empty_row_list", lambda w: without_rows(w, []), Refused("the order has no products")),
    Case("deleted_customer", customer_deleted, Refused("was deleted in the shop")),
    Case("customer_row_missing", customer_gone, Refused("no longer exists in the shop")),
    Case("deleted_address", address_deleted, Sent((WARSAW.address1,))),
    Case("address_row_missing", address_gone, Sent(absent=(WARSAW.address1,))),
    Case(
        "carrier_row_missing",
        then(lambda w, _: w.shop.state.delete("carriers", 2)),
        Sent(absent=("Paczkomat",)),
    ),
    Case(
        "country_row_missing",
        then(lambda w, _: w.shop.state.delete("countries", 14)),
        Sent((WARSAW.address1,), absent=("Polska",)),
    ),
    Case("unknown_language_id", lambda w: with_order_fields(w, id_lang=99), Sent(("Dzień dobry, Zofia!",))),
    Case(
        "unknown_currency_id",
        lambda w: with_order_fields(w, id_currency=99),
        Refused("the order's currency (#99) is unknown to the shop"),
    ),
    # Zero dates: an unknown date is not 1 January 1970.
    Case("zero_order_date", lambda w: with_order_fields(w, date_add=None), Sent(absent=("1970",))),
    Case("zero_payment_date", payment_with_zero_date, Sent(kind="payment_accepted", absent=("1970",))),
    # Scripts, controls and characters that are not markup.
    Case("rtl_name_with_bidi_overrides", lambda w: ordered_by(w, first=RTL), Sent((RTL_SHOWN,))),
    Case("nul_bytes_in_name", lambda w: ordered_by(w, first="Zo\x00fia", last="\x00"), Sent(("Zo fia",))),
    Case(
        "terminal_escapes_in_product_name",
        lambda w: with_product(w, "Kubek\x1b[2J\x1b]0;pwned\x07\x9b"),
        Sent(("Kubek [2J ]0;pwned",)),
    ),
    Case(
        "emoji_in_name_and_product",
        lambda w: place(w.shop, buyer(w.shop, first=EMOJI), items=[(product(w.shop, EMOJI), 1)]),
        Sent((f"Dzień dobry, {EMOJI}!", f"{EMOJI} Wiśniewska")),
    ),
    Case("jinja_expression_in_product_name", lambda w: with_product(w, JINJA), Sent((JINJA,))),
    Case("jinja_expression_in_first_name", lambda w: ordered_by(w, first=JINJA), Sent((JINJA,))),
]


# --- checking ------------------------------------------------------------------------------------------


class Parsed(HTMLParser):
    """The tags of an HTML part, and the text a reader sees (text nodes and alt texts)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        alt = dict(attrs).get("alt")
        if alt:
            self.text.append(alt)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def readable(value: str) -> str:
    """`value` as the email shows it: control characters as spaces, bidi controls gone."""
    return CONTROLS.sub(" ", BIDI_CONTROLS.sub("", value))


def body_parts(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


def the_row(world: World, order_id: int, kind: str) -> OutboxRow:
    rows = [row for row in list_rows(world.store, order_id=order_id) if row.kind == kind]
    assert len(rows) == 1, [(row.kind, row.status, row.skip_reason, row.last_error) for row in rows]
    return rows[0]


def received_for(world: World, row: OutboxRow) -> list[ReceivedMessage]:
    return [m for m in world.smtp.messages if str(m.message["Message-ID"]) == row.message_id]


def explain_lines(world: World, order_id: int) -> str:
    story = explain.find_order(world.store, str(order_id))
    return "\n".join(explain.order_story_lines(story, UTC, lambda row: None))


def assert_inert_email(world: World, order_id: int, expect: Sent) -> None:
    row = the_row(world, order_id, expect.kind)
    assert row.status is Status.SENT, (row.status, row.skip_reason, row.last_error)
    [received] = received_for(world, row)

    # Exactly one recipient on the envelope and in the To header.
    assert received.recipients == (expect.to,)
    head, _, _ = received.raw.partition(b"\r\n\r\n")
    assert b"\r" not in received.raw.replace(b"\r\n", b"")
    assert b"\n" not in received.raw.replace(b"\r\n", b"")
    assert max(len(line) for line in received.raw.split(b"\r\n")) <= 998
    names = [line.split(b":", 1)[0].decode() for line in head.split(b"\r\n") if line[:1] not in (b" ", b"\t")]
    assert Counter(names) == HEADERS
    # An SMTPUTF8 message carries its headers as UTF-8 (RFC 6532); the rest is ASCII.
    parsed = email.message_from_string(received.raw.decode("utf-8"), policy=policy.SMTPUTF8)
    assert isinstance(parsed, EmailMessage)
    assert [a.addr_spec for a in parsed["To"].addresses] == [expect.to]
    # Python reads the encoded words of a long display name back with spaces between them.
    assert len(re.sub(r"\s", "", parsed["To"].addresses[0].display_name)) <= DISPLAY_NAME_LIMIT
    assert [a.addr_spec for a in parsed["From"].addresses] == [world.settings.mail_from.addr_spec]
    if not expect.to.isascii():  # said so to the server, which offers it as Gmail does
        mails = [c for session in world.smtp.sessions for c in session.commands if c.startswith("MAIL")]
        assert mails and all("SMTPUTF8" in command.split() for command in mails)
    assert len(parsed["Reply-To"].addresses) == 1
    for header in ("From", "To", "Reply-To", "Subject"):
        value = str(parsed[header])
        assert not CONTROLS.search(value) and "\r" not in value and "\n" not in value
        assert not BIDI_CONTROLS.search(value)

    # The subject is the template's, with the order reference (cleaned, and cut if very long).
    subject = str(parsed["Subject"])
    assert len(subject) <= SUBJECT_LIMIT
    reference = str(world.shop.state.get("orders", order_id)["reference"])
    wanted = SUBJECTS[expect.kind].format(" ".join(readable(reference).replace("=?", "= ?").split()))
    assert subject == (wanted if len(wanted) <= SUBJECT_LIMIT else wanted[: SUBJECT_LIMIT - 1] + "…")

    # Shop data is text: no tag, attribute or link of its own in the HTML part.
    text, html = body_parts(parsed)
    page = Parsed(html)
    for tag, attrs in page.tags:
        assert tag in TEMPLATE_TAGS, f"shop data made a <{tag}>"
        assert not [name for name in attrs if name.startswith("on")], f"<{tag}> got an event handler"
        if tag == "img":
            assert (attrs.get("src") or "").startswith("https://")
        if tag == "a":
            assert (attrs.get("href") or "").startswith(("https://", "mailto:"))
    assert "<script" not in html.lower()
    for part in (text, html):
        assert not CONTROLS.search(part.replace("\t", " ")) and not BIDI_CONTROLS.search(part)
    shown_html = "\n".join(page.text)
    for value in expect.shown:
        assert readable(value) in text
        assert readable(value) in shown_html
    whole = "\n".join([str(parsed[name]) for name in ("From", "To", "Reply-To", "Subject")] + [text, html])
    for value in expect.absent:
        assert value not in whole


def assert_refused_with_reason(world: World, order_id: int, expect: Refused) -> None:
    row = the_row(world, order_id, expect.kind)
    assert row.status in (Status.SKIPPED, Status.FAILED), (row.status, row.skip_reason, row.last_error)
    assert received_for(world, row) == []
    reason = explain.reason_of(row)
    assert expect.reason in reason
    assert reason in explain_lines(world, order_id)
    if row.status is Status.SKIPPED:
        assert row.attempts == 0


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_shop_data_is_sent_inert_or_refused_with_a_reason(world: World, case: Case) -> None:
    world.sync()  # the baseline: where the shop stood before the hostile data arrived
    world.shop.advance(60)
    order_id = case.arrange(world)

    world.sync()

    if isinstance(case.expect, Sent):
        assert_inert_email(world, order_id, case.expect)
    else:
        assert_refused_with_reason(world, order_id, case.expect)
    # Nothing is left to retry: the next poll neither crashes nor sends anything more.
    before = len(world.smtp.messages)
    world.shop.advance(60)
    again = world.sync()
    assert (again.delivery.sent, again.delivery.retry, again.delivery.failed) == (0, 0, 0)
    assert len(world.smtp.messages) == before


def test_there_are_at_least_forty_distinct_hostile_cases() -> None:
    assert len({case.id for case in CASES}) == len(CASES) >= 40


# --- what the owner reads in a terminal ------------------------------------------------------------------


def test_the_owner_reads_hostile_names_and_reasons_as_inert_text_in_the_terminal(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in list(os.environ):
        if name.startswith(("PRESTASHOP_", "SMTP_", "MAIL_", "SHOP_", "STATE_", "DATABASE_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    env = tmp_path / "bridge.env"
    env.write_text(
        f"PRESTASHOP_URL={world.settings.prestashop_url}\nPRESTASHOP_API_KEY={SHOP_KEY}\n"
        f"SMTP_HOST={world.smtp.host}\nSMTP_PORT={world.smtp.port}\nSMTP_USERNAME={DEFAULT_USERNAME}\n"
        f"SMTP_PASSWORD={DEFAULT_PASSWORD}\nSTATE_DIR={world.settings.state_dir}\n"
    )
    env.chmod(0o600)
    world.sync()
    world.shop.advance(60)
    sent = ordered_by(world, first="\x1b[2J\x1b[31mZofia", last="Nowak\r\nbridge: all emails sent")
    refused = ordered_by(world, first="Jan", email="jan\x1b[8m@example.com")
    world.sync()
    [row] = [r for r in list_rows(world.store, order_id=sent) if r.kind == "order_confirmation"]

    outputs = {}
    for argv in (
        ("outbox", "list"),
        ("outbox", "show", str(row.id)),
        ("explain", "order", str(sent)),
        ("explain", "order", str(refused)),
    ):
        code = main(["--env-file", str(env), *argv], clock=world.clock)
        out, _ = capsys.readouterr()
        assert code == 0
        assert not CONTROLS.search(out) and "\r" not in out  # no escape sequence reaches the terminal
        assert not [line for line in out.splitlines() if line.startswith("bridge: all emails sent")]
        outputs[argv] = out
    shown = "\\x1b[2J\\x1b[31mZofia Nowak\\r\\nbridge: all emails sent <zofia@example.com>"
    assert shown in outputs[("outbox", "show", str(row.id))]
    assert shown in outputs[("explain", "order", str(sent))]
    assert "has no valid email address" in outputs[("explain", "order", str(refused))]
    assert "has no valid email address" in outputs[("outbox", "list")]


# --- the shop's clock in another timezone --------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "shown"),
    [("America/New_York", "27 listopada 2026 21:00"), ("Asia/Tokyo", "28 listopada 2026 11:00")],
    ids=["new_york", "tokyo"],
)
def test_the_order_date_is_the_shops_local_date_whatever_its_timezone(
    world: World, zone: str, shown: str
) -> None:
    world.shop.state.timezone = ZoneInfo(zone)  # the shop's clock: its MySQL and PHP run in this zone
    world.shop.state.set_config("PS_TIMEZONE", zone)
    world.sync()
    world.clock.advance(datetime(2026, 11, 28, 2, 0, tzinfo=UTC) - world.clock.now())
    order_id = place(world.shop, buyer(world.shop))  # 02:00 UTC: the 27th in New York, the 28th in Tokyo

    world.sync()

    row = the_row(world, order_id, "order_confirmation")
    [received] = received_for(world, row)
    text, html = body_parts(received.message)
    assert f"Data zamówienia: {shown}" in text
    assert shown in "\n".join(Parsed(html).text)


# --- internationalised addresses and a server without SMTPUTF8 -------------------------------------------


@pytest.fixture
def relay_world(shop: Shop, shop_server: Simulator, tmp_path: Path) -> Iterator[World]:
    """The world, but mail goes to a local relay (no TLS, no login) that does not offer SMTPUTF8."""
    with gmail_like_server(mode="plain") as relay:
        settings = bridge_settings(shop_server.url, relay, tmp_path / "state")
        with (
            open_store(settings.database_url) as store,
            ShopClient(shop_server.url, Secret(SHOP_KEY), retries=0) as client,
            SmtpSender(
                relay.host, relay.port, "none", "", Secret(""), helo_name="bridge.test", timeout=5
            ) as sender,
        ):
            yield World(shop, shop.clock, settings, store, client, sender, relay)


# An IDN domain goes as punycode to such a server instead (tests/test_international.py).
@pytest.mark.parametrize("address", ["józef@example.com"], ids=["utf8_local"])
def test_an_internationalised_address_fails_with_a_reason_when_the_server_has_no_smtputf8(
    relay_world: World, address: str
) -> None:
    world = relay_world
    world.sync()
    world.shop.advance(60)
    order_id = place(world.shop, buyer(world.shop, email=address))
    # The relay's EHLO: 8BITMIME, but no SMTPUTF8 (a Postfix with smtputf8_enable = no answers so).
    world.smtp.script.next_reply(
        "EHLO", "250 relay.example\n250 SIZE 35882577\n250 8BITMIME\n250 ENHANCEDSTATUSCODES"
    )

    world.sync()

    row = the_row(world, order_id, "order_confirmation")
    assert row.status is Status.FAILED
    assert world.smtp.messages == []
    reason = explain.reason_of(row)
    assert "non-ASCII" in reason and "SMTPUTF8" in reason
    assert reason in explain_lines(world, order_id)
    assert [s.verbs for s in world.smtp.sessions] == [["EHLO"]]  # no MAIL, RCPT or DATA was tried
