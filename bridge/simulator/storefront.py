"""The storefront's invoice PDF, answered like PrestaShop 8.1.2's PdfInvoiceController.

`index.php?controller=pdf-invoice&id_order=N&secure_key=KEY` (what `PdfInvoiceControllerCore::postProcess`
checks, in its order):
- the shop in maintenance mode (PS_SHOP_ENABLE=0): 503 with Retry-After and the maintenance page, as
  `FrontController::displayMaintenancePage` answers every visitor whose IP is not allowed;
- no session and no (or an empty) secure_key: 302 to the login page (`controller=authentication`);
- invoices off (PS_INVOICE=0): "Invoices are disabled in this shop."; an unknown order or a key that is
  not the order's: "The invoice was not found."; an order whose state gives no invoice and which has no
  invoice number: "No invoice is available." Each is PHP's die(): a 200 text/html page;
- else 200 application/pdf, as TCPDF's download output: `Content-Disposition: attachment` named after the
  invoice prefix and number (`#FA000017.pdf`), a page per invoice of the order.
The key is accepted for a guest's order and for a registered customer's alike: the simulator has no
customer sessions, so the key is the only way in, as it is for the bridge.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any, Final

from bridge.simulator import faults
from bridge.simulator.state import ShopState

HTML: Final = "text/html; charset=utf-8"
Answer = tuple[int, list[tuple[str, str]], bytes]


def handles(params: Mapping[str, Any]) -> bool:
    """The storefront controllers the simulator answers."""
    return params.get("controller") in ("pdf-invoice", "authentication")


def answer(state: ShopState, params: Mapping[str, Any], base_path: str) -> Answer:
    """The storefront's answer to `index.php` with these query parameters."""
    if state.config("PS_SHOP_ENABLE") == "0":
        page = faults.MAINTENANCE_PAGE.encode()
        return 503, [("Retry-After", "3600"), ("Content-Type", HTML)], page
    if params.get("controller") == "authentication":
        return 200, [("Content-Type", HTML)], b"<!doctype html>\n<title>Log in to your account</title>\n"
    key = params.get("secure_key")
    if not isinstance(key, str) or not key:
        login = f"{base_path}/index.php?controller=authentication&back=pdf-invoice"
        return 302, [("Location", login), ("Content-Type", HTML)], b""
    with state.lock:
        return _invoice(state, params.get("id_order"), key)


def _invoice(state: ShopState, raw_id: object, key: str) -> Answer:
    if state.config("PS_INVOICE") != "1":
        return _die("Invoices are disabled in this shop.")
    order = state.find("orders", int(raw_id)) if isinstance(raw_id, str) and raw_id.isdigit() else None
    if order is None or order.get("secure_key") != key:
        return _die("The invoice was not found.")
    order_state = state.find("order_states", int(order["current_state"] or 0))
    invoices = [
        state.get("order_invoices", i) for i in state.ids_where("order_invoices", "id_order", order["id"])
    ]
    if not (order_state is not None and order_state.get("invoice")) and not order["invoice_number"]:
        return _die("No invoice is available.")
    if not invoices:  # an invoice state whose invoice was never created: nothing to render
        return _die("No invoice is available.")
    prefix = state.config("PS_INVOICE_PREFIX") or "#FA"
    first = f"{prefix}{int(invoices[0]['number']):06d}.pdf"
    pages = [_page_lines(state, order, invoice, prefix) for invoice in invoices]
    headers = [
        ("Content-Description", "File Transfer"),
        ("Cache-Control", "private, must-revalidate, post-check=0, pre-check=0, max-age=1"),
        ("Content-Type", "application/pdf"),
        ("Content-Disposition", f'attachment; filename="{first}"'),
        ("Content-Transfer-Encoding", "binary"),
    ]
    return 200, headers, pdf_document(pages)


def _die(message: str) -> Answer:
    return 200, [("Content-Type", HTML)], message.encode()


def _page_lines(
    state: ShopState, order: Mapping[str, Any], invoice: Mapping[str, Any], prefix: str
) -> list[str]:
    date = invoice.get("date_add")
    return [
        state.config("PS_SHOP_NAME") or "PrestaShop",
        f"Invoice {prefix}{int(invoice['number']):06d}",
        f"Order {order['reference']}",
        f"Date {date:%Y-%m-%d}" if date is not None else "",
        f"Total {invoice['total_paid_tax_incl']}",
    ]


def pdf_document(pages: list[list[str]]) -> bytes:
    """A small valid PDF (1.4, Helvetica), a page per list of lines; text outside ASCII is transliterated."""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    kids = []
    font = 3
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for lines in pages:
        text = (
            b"BT /F1 12 Tf 56 780 Td 16 TL "
            + b" ".join(b"(%s) '" % _pdf_text(line) for line in lines)
            + b" ET"
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text))
        contents = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 %d 0 R >> >> "
            b"/Contents %d 0 R >>" % (font, contents)
        )
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % kid for kid in kids),
        len(kids),
    )
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _pdf_text(line: str) -> bytes:
    """A line as a PDF string literal's content: ASCII, with its delimiters escaped."""
    ascii_text = unicodedata.normalize("NFKD", line.replace("ł", "l").replace("Ł", "L"))
    plain = ascii_text.encode("ascii", "ignore")
    return plain.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
