"""INVOICE_ATTACH: the invoice PDF on the email at which the order's invoice appears, end to end.

Real parts: the simulator's webservice and its storefront route (PrestaShop's PdfInvoiceController), the
Gmail-like SMTP server, an SQLite file; time moves only when a test moves it. The PDF is fetched at send
time with the order's secure key, which must reach neither the store nor a log line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from bridge.commands.check import check_shop
from bridge.cycle import Cycle
from bridge.delivery.invoices import INVOICE_TRIES, InvoiceAttacher
from bridge.secret import Secret
from bridge.shop.client import ShopClient
from bridge.shop.invoices import InvoiceFetcher, InvoiceMissing, InvoicePdf
from bridge.simulator import Simulator
from bridge.simulator.actions import Shop
from bridge.state.outbox import Status, list_rows
from tests.conftest import SHOP_KEY, World
from tests.hostile_server import HUGE, HostileShop
from tests.test_hostile_shop import wait_for
from tests.test_sync import customer, order, started

PAID_AT_ONCE = "przelewy24"  # the gateway validates the order paid: PrestaShop numbers the invoice then
WIRE = "ps_wirepayment"


@pytest.fixture
def invoicing(world: World) -> World:
    world.settings = dataclasses.replace(world.settings, invoice_attach=True)
    return world


def pdfs(message: EmailMessage) -> list[tuple[str | None, str, bytes]]:
    """The attachments: file name, content type, bytes."""
    return [
        (part.get_filename(), part.get_content_type(), part.get_content())
        for part in message.iter_attachments()
    ]


def served(simulator: Simulator) -> list[bytes]:
    """What the storefront's invoice route answered, in order (PDFs and refusals alike)."""
    return [record.body for record in simulator.requests if record.resource == "pdf-invoice"]


def invoice_number(shop: Shop, order_id: int) -> int:
    return int(shop.state.get("orders", order_id)["invoice_number"])


def test_an_order_invoiced_at_checkout_carries_its_pdf_in_the_confirmation_only(
    invoicing: World, shop_server: Simulator
) -> None:
    world = started(invoicing)
    shop = world.shop
    order_id = order(shop, customer(shop), PAID_AT_ONCE)
    shop.advance(30)

    assert world.sync().delivery.sent == 1
    [confirmation] = world.mail()
    [pdf] = served(shop_server)
    number = invoice_number(shop, order_id)
    assert number > 0 and pdf.startswith(b"%PDF-")
    assert pdfs(confirmation) == [(f"invoice-{number}.pdf", "application/pdf", pdf)]
    assert confirmation.get_body(("plain",)) is not None and confirmation["Content-Language"] == "pl"

    for state in (3, 4, 5):  # processing, shipped, delivered: the invoice is no news any more
        shop.advance(timedelta(hours=2))
        shop.change_state(order_id, state)
        world.sync()
    assert len(world.mail()) == 4
    assert [len(pdfs(mail)) for mail in world.mail()] == [1, 0, 0, 0]
    assert len(served(shop_server)) == 1


def test_a_bank_wire_order_gets_the_pdf_with_its_payment_confirmation(
    invoicing: World, shop_server: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    world = started(invoicing)
    shop = world.shop
    order_id = order(shop, customer(shop), WIRE)
    with caplog.at_level(logging.INFO):
        world.sync()  # the confirmation and the bank details: no invoice yet, nothing fetched
    assert [len(pdfs(mail)) for mail in world.mail()] == [0, 0]
    assert served(shop_server) == []
    assert "invoice PDF" not in caplog.text  # not even looked for: no warning about a missing one

    shop.advance(timedelta(hours=3))
    shop.change_state(order_id, 2)  # payment accepted: PrestaShop numbers the invoice
    world.sync()

    paid = world.mail()[-1]
    assert "płatność" in str(paid["Subject"])
    assert pdfs(paid) == [
        (f"invoice-{invoice_number(shop, order_id)}.pdf", "application/pdf", served(shop_server)[0])
    ]


def test_a_guests_order_gets_its_pdf_too(invoicing: World, shop_server: Simulator) -> None:
    world = started(invoicing)
    shop = world.shop
    guest = customer(shop, "Emily", "Clark", "emily@example.com", guest=True, language="en")
    order_id = order(shop, guest, PAID_AT_ONCE)
    world.sync()

    [mail] = world.mail_to("emily@example.com")
    assert pdfs(mail) == [
        (f"invoice-{invoice_number(shop, order_id)}.pdf", "application/pdf", served(shop_server)[0])
    ]


def test_with_invoice_attach_off_nothing_is_fetched(world: World, shop_server: Simulator) -> None:
    assert not world.settings.invoice_attach  # the default
    world = started(world)
    shop = world.shop
    order_id = order(shop, customer(shop), PAID_AT_ONCE)
    world.sync()

    [mail] = world.mail()
    assert pdfs(mail) == []
    assert served(shop_server) == []
    single_order = f"/api/orders/{order_id}?"
    assert not [r for r in shop_server.requests if r.path.startswith(single_order)]


def test_the_secure_key_is_read_with_one_request_for_the_order(
    invoicing: World, shop_server: Simulator
) -> None:
    world = started(invoicing)
    shop = world.shop
    order_id = order(shop, customer(shop), PAID_AT_ONCE)
    world.sync()
    single_order = f"/api/orders/{order_id}?"
    assert len([r for r in shop_server.requests if r.path.startswith(single_order)]) == 1


def test_a_storefront_in_maintenance_defers_the_email_then_sends_it_without_the_pdf_once(
    invoicing: World, shop_server: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    world = started(invoicing)
    shop = world.shop
    shop.state.set_config("PS_SHOP_ENABLE", "0")  # maintenance mode: the storefront answers 503
    order(shop, customer(shop), PAID_AT_ONCE)

    first = world.sync()
    assert (first.delivery.sent, first.delivery.retry) == (0, 1)
    [row] = [r for r in list_rows(world.store) if r.kind == "order_confirmation"]
    assert row.status == Status.RETRY and "maintenance mode" in (row.last_error or "")

    for wait in (2, 7, 20):  # past each retry (about 1, 5 and 15 minutes, ±20 %)
        assert world.mail() == []
        shop.advance(timedelta(minutes=wait))
        world.sync()
    [mail] = world.mail()
    assert pdfs(mail) == []
    assert len(served(shop_server)) == INVOICE_TRIES
    [row] = [r for r in list_rows(world.store) if r.kind == "order_confirmation"]
    assert row.status == Status.SENT
    assert "sending it without the invoice PDF" in caplog.text and "maintenance IPs" in caplog.text

    shop.advance(timedelta(hours=6))
    world.sync()
    assert len(world.mail()) == 1  # never a second copy


def test_a_storefront_back_after_a_wait_gets_the_pdf_attached(
    invoicing: World, shop_server: Simulator
) -> None:
    world = started(invoicing)
    shop = world.shop
    shop_server.faults.next("503", resource="pdf-invoice")
    order_id = order(shop, customer(shop), PAID_AT_ONCE)
    assert world.sync().delivery.retry == 1
    shop.advance(timedelta(minutes=2))
    assert world.sync().delivery.sent == 1

    [mail] = world.mail()
    assert pdfs(mail) == [
        (f"invoice-{invoice_number(shop, order_id)}.pdf", "application/pdf", served(shop_server)[-1])
    ]


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        ("html", "not a PDF"),  # a cache or bot-check page served with 200
        ("invoices_off", "enable invoices"),  # PrestaShop's own refusal, a 200 text page
    ],
)
def test_an_answer_that_is_not_a_pdf_is_refused_and_the_email_goes_at_once_without_it(
    invoicing: World, shop_server: Simulator, caplog: pytest.LogCaptureFixture, setup: str, words: str
) -> None:
    world = started(invoicing)
    shop = world.shop
    if setup == "html":
        shop_server.faults.next("html", resource="pdf-invoice")
    else:
        shop.state.set_config("PS_INVOICE", "0")
    order(shop, customer(shop), PAID_AT_ONCE)

    assert world.sync().delivery.sent == 1
    [mail] = world.mail()
    assert pdfs(mail) == []
    assert words in caplog.text and "sending it without the invoice PDF" in caplog.text


def test_a_pdf_over_the_size_limit_is_refused_and_the_email_goes_without_it(
    invoicing: World, shop_server: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    world = started(invoicing)
    shop = world.shop
    order(shop, customer(shop), PAID_AT_ONCE)
    fetcher = InvoiceFetcher(world.client, max_bytes=200)  # the simulator's PDFs are about 700 bytes
    cycle = Cycle(
        world.client,
        world.store,
        world.sender,
        world.renderer,
        world.settings,
        world.clock,
        invoices=InvoiceAttacher(fetcher),
    )
    assert cycle.once().delivery.sent == 1
    [mail] = world.mail()
    assert pdfs(mail) == []
    assert "larger than 200 bytes" in caplog.text


@pytest.mark.parametrize("trap", ["huge_declared", "huge_body"])
def test_a_huge_answer_is_not_read_past_the_limit(world: World, shop_server: Simulator, trap: Any) -> None:
    shop = world.shop
    order_id = order(shop, customer(shop), PAID_AT_ONCE)
    with (
        HostileShop(shop_server.url) as hostile,
        ShopClient(hostile.url, Secret(SHOP_KEY), retries=0) as client,
    ):
        hostile.trap("", trap)  # every path outside /api/: the storefront
        found = InvoiceFetcher(client).fetch(order_id)
        assert isinstance(found, InvoiceMissing) and not found.transient
        assert "larger than 10 MiB" in found.reason
        # What went out before the bridge hung up is the limit plus the sockets' buffers, not 200 MB.
        [(_, sent)] = wait_for(lambda: hostile.hangups)
    assert sent < 32 * 1024 * 1024 < HUGE


def test_the_secure_key_reaches_neither_the_store_nor_the_logs(
    invoicing: World, shop_server: Simulator, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    world = started(invoicing)
    shop = world.shop
    shop_server.faults.next("reset", resource="pdf-invoice")  # a failure whose message names the URL
    first = order(shop, customer(shop), PAID_AT_ONCE)
    world.sync()
    shop.advance(timedelta(minutes=2))
    shop_server.faults.next("maintenance", resource="pdf-invoice")
    world.sync()
    shop.advance(timedelta(minutes=7))
    world.sync()
    second = order(shop, customer(shop, "Jan", "Nowak", "jan@example.com"), PAID_AT_ONCE)
    world.sync()
    assert [len(pdfs(mail)) for mail in world.mail()] == [1, 1]

    keys = [shop.state.get("orders", order_id)["secure_key"] for order_id in (first, second)]
    stored = b"".join(path.read_bytes() for path in (tmp_path / "state").rglob("*") if path.is_file())
    for key in keys:
        assert key.encode() not in stored
        assert key not in caplog.text
    assert "secure_key=***" in caplog.text  # urllib3's DEBUG line named the URL, with the key hidden
    assert "the storefront at 127.0.0.1" in caplog.text and "could not be reached" in caplog.text


class _Redirecting(BaseHTTPRequestHandler):
    """A shop whose storefront redirects `index.php` once (to `target`, or to itself with `&hop=1`), and
    passes everything else (and the second hop) to the simulator."""

    upstream: tuple[str, int]
    target: str
    seen: list[str]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.seen.append(self.path)
        if self.path.startswith("/index.php") and "hop=1" not in self.path:
            location = self.target or f"{self.path}&hop=1"
            self.send_response(301)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        connection = http.client.HTTPConnection(*self.upstream, timeout=10)
        try:
            headers = {name: value for name, value in self.headers.items() if name.lower() != "host"}
            connection.request("GET", self.path, headers=headers)
            answer = connection.getresponse()
            body = answer.read()
        finally:
            connection.close()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextlib.contextmanager
def redirecting(upstream: str, target: str = "") -> Iterator[tuple[str, list[str]]]:
    parts = urlsplit(upstream)
    seen: list[str] = []
    handler = type(
        "Handler", (_Redirecting,), {"upstream": (parts.hostname, parts.port), "target": target, "seen": seen}
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_a_redirect_on_the_same_host_is_followed(world: World, shop_server: Simulator) -> None:
    shop = world.shop
    order_id = order(shop, customer(shop), PAID_AT_ONCE)
    with redirecting(shop_server.url) as (url, seen), ShopClient(url, Secret(SHOP_KEY), retries=0) as client:
        found = InvoiceFetcher(client).fetch(order_id)
    assert isinstance(found, InvoicePdf) and found.content == served(shop_server)[0]
    assert [path for path in seen if path.startswith("/index.php")][-1].endswith("&hop=1")


def test_a_redirect_to_another_host_is_not_followed_with_the_key(
    world: World, shop_server: Simulator
) -> None:
    shop = world.shop
    order_id = order(shop, customer(shop), PAID_AT_ONCE)
    with redirecting(shop_server.url) as (elsewhere, elsewhere_seen):
        other = elsewhere.replace("127.0.0.1", "localhost") + "/index.php?controller=pdf-invoice&stolen=1"
        with (
            redirecting(shop_server.url, other) as (url, _),
            ShopClient(url, Secret(SHOP_KEY), retries=0) as client,
        ):
            found = InvoiceFetcher(client).fetch(order_id)
    assert isinstance(found, InvoiceMissing) and not found.transient
    assert "redirects invoice requests to http://localhost:" in found.reason
    assert elsewhere_seen == []  # the other host never got the request, nor the key


def test_the_storefront_route_answers_like_prestashop(world: World, shop_server: Simulator) -> None:
    shop = world.shop
    paid = order(shop, customer(shop), PAID_AT_ONCE)
    unpaid = order(shop, customer(shop, "Jan", "Nowak", "jan@example.com"), WIRE)
    key = shop.state.get("orders", paid)["secure_key"]
    url = f"{shop_server.url}/index.php"

    def get(**params: object) -> requests.Response:
        return requests.get(
            url, params={"controller": "pdf-invoice", **params}, allow_redirects=False, timeout=10
        )

    login = get(id_order=paid)
    assert login.status_code == 302 and "controller=authentication" in login.headers["Location"]
    assert get(id_order=paid, secure_key="0" * 32).text == "The invoice was not found."
    assert get(id_order=unpaid, secure_key=shop.state.get("orders", unpaid)["secure_key"]).text == (
        "No invoice is available."
    )
    pdf = get(id_order=paid, secure_key=key)
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-1.4") and pdf.content.rstrip().endswith(b"%%EOF")
    assert f"#FA{invoice_number(shop, paid):06d}.pdf" in pdf.headers["Content-Disposition"]
    shop.state.set_config("PS_SHOP_ENABLE", "0")
    maintenance = get(id_order=paid, secure_key=key)
    assert maintenance.status_code == 503 and maintenance.headers["Retry-After"] == "3600"


def test_check_fetches_an_invoice_when_invoice_attach_is_on(invoicing: World, shop_server: Simulator) -> None:
    shop = invoicing.shop
    order(shop, customer(shop), PAID_AT_ONCE)
    report = check_shop(invoicing.client, invoicing.settings)
    assert report.invoices.startswith("attached (INVOICE_ATTACH=yes): order ")
    assert not [w for w in report.warnings if "INVOICE_ATTACH" in w]

    shop.state.set_config("PS_SHOP_ENABLE", "0")
    report = check_shop(invoicing.client, invoicing.settings)
    assert report.invoices == "not attached: see the warning"
    [warning] = [w for w in report.warnings if "INVOICE_ATTACH" in w]
    assert "maintenance mode" in warning and "wait about 20 minutes" in warning

    off = dataclasses.replace(invoicing.settings, invoice_attach=False)
    before = len(served(shop_server))
    assert check_shop(invoicing.client, off).invoices == ""
    assert len(served(shop_server)) == before
