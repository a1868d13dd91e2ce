"""The invoice PDF on the email at which an order's invoice appears (INVOICE_ATTACH=yes), at send time.

Which email: the one whose template tells the customer the invoice is ready (`parts.invoice_note`): the
order confirmation of an order invoiced at checkout, else the payment confirmation, once the order has an
invoice (`order.invoice` in the context stored at queue time: `invoice_number` > 0 then). That email gets
the PDF; no other does, so the customer gets it once.

The PDF is fetched just before the email is handed to the server (`bridge.shop.invoices`: the order's
secure key read with one request, the PDF from the storefront), after the email was rendered, so a PDF is
never fetched for an email that is not sent. It is attached as `invoice-<number>.pdf` (application/pdf).

When the storefront cannot give it:
- it may work later (down, maintenance mode, too slow): the email waits like one the SMTP server turned
  away for now (a transient outcome: retried about 1, 5 and 15 minutes later, same Message-ID, no budget
  spent), and on its INVOICE_TRIES-th attempt it goes without the PDF;
- it will not (invoices disabled, a web page instead of a PDF, larger than 10 MiB, a redirect to another
  host): the email goes at once without the PDF.
Either way one log line names what to fix, and the email still links to the order's page, where the
customer downloads the invoice. A receipt a quarter of an hour late is acceptable; one held for hours for
its attachment is not, and an email is never dropped or sent twice for its PDF.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Final

from bridge.config import Settings
from bridge.delivery.smtp import Outcome, SendResult
from bridge.errors import ShopError
from bridge.model.kinds import ORDER_CONFIRMATION, PAYMENT_ACCEPTED
from bridge.shop.bounds import size_text
from bridge.shop.client import ShopClient
from bridge.shop.invoices import InvoiceFetcher, InvoiceMissing, InvoicePdf
from bridge.state.outbox import OutboxRow

log = logging.getLogger(__name__)

# The kinds whose templates say the invoice is ready and link where to download it (parts.invoice_note).
INVOICE_KINDS: Final = frozenset({ORDER_CONFIRMATION, PAYMENT_ACCEPTED})
# The PDF is waited for on the first three attempts (deliver.RETRY_SCHEDULE: about 1, 5 and 15 minutes
# apart); the fourth attempt sends the email whatever the storefront says.
INVOICE_TRIES: Final = 4


def carries_invoice(row: OutboxRow) -> bool:
    """Is this the email at which the order's invoice appears (so the one that carries its PDF)?"""
    order = row.context.get("order")
    return (
        row.kind in INVOICE_KINDS
        and row.order_id is not None
        and isinstance(order, Mapping)
        and order.get("invoice") is True
    )


def attach_pdf(message: EmailMessage, pdf: InvoicePdf) -> None:
    """The PDF as an attachment; the message becomes multipart/mixed, its language stays on top."""
    language = message["Content-Language"]
    message.add_attachment(pdf.content, maintype="application", subtype="pdf", filename=pdf.filename)
    if language is not None:
        for part in message.iter_parts():
            del part["Content-Language"]
        message["Content-Language"] = language


class InvoiceAttacher:
    """Built once per process when INVOICE_ATTACH=yes (`bridge.app.open_bridge`); its client is delivery's
    own (delivery runs in another thread than the poll in `bridge run`)."""

    def __init__(self, fetcher: InvoiceFetcher) -> None:
        self.fetcher = fetcher

    @classmethod
    def from_settings(cls, settings: Settings, client: ShopClient) -> InvoiceAttacher:
        return cls(
            InvoiceFetcher(
                client,
                timeout=settings.prestashop_timeout.total_seconds(),
                deadline=settings.prestashop_deadline.total_seconds(),
            )
        )

    def attach(self, row: OutboxRow, message: EmailMessage) -> SendResult | None:
        """Attach the invoice PDF if this email carries it. None: send now (with the PDF, or without it
        and a logged line saying why); a transient SendResult: the email waits for the PDF, recorded like
        any transient outcome."""
        if not carries_invoice(row):
            return None
        assert row.order_id is not None
        found = self.fetcher.fetch(row.order_id)
        if isinstance(found, InvoicePdf):
            attach_pdf(message, found)
            log.info("%s: %s attached (%s)", _label(row), found.filename, size_text(len(found.content)))
            return None
        if found.transient and row.attempts < INVOICE_TRIES:
            return _waiting(found)
        log.warning(
            "%s: sending it without the invoice PDF (the email links to the order's page): %s",
            _label(row),
            found.reason,
        )
        return None


def _waiting(missing: InvoiceMissing) -> SendResult:
    """The outcome that makes delivery try again later, as after a transient SMTP failure."""
    return SendResult(
        Outcome.TRANSIENT,
        reply=f"invoice PDF not fetched: {missing.reason}",
        explanation=(
            f"the invoice PDF could not be fetched ({missing.reason}); the email waits for it, and attempt "
            f"{INVOICE_TRIES} sends it with or without the PDF"
        ),
        stage="message",
    )


def _label(row: OutboxRow) -> str:
    return f"outbox #{row.id} {row.kind} for order {row.order_reference or row.order_id}"


@dataclass(frozen=True)
class Probe:
    """What `bridge check` found: `ok` False means invoice emails would go without the PDF."""

    ok: bool
    text: str

    @property
    def line(self) -> str:
        """`bridge check`'s Invoices line (a failure is told as a warning)."""
        return self.text if self.ok else "not attached: see the warning"


def probe(settings: Settings, client: ShopClient) -> Probe:
    """Fetch the newest invoice's PDF once, as delivery would (nothing is kept): can the PDF be attached?"""
    fetcher = InvoiceAttacher.from_settings(settings, client).fetcher
    try:
        order_id = fetcher.latest_invoiced_order()
    except ShopError as error:
        return Probe(
            False, f"INVOICE_ATTACH=yes, but the orders with an invoice could not be listed: {error}"
        )
    if order_id is None:
        return Probe(
            True, "attached (INVOICE_ATTACH=yes); no order has an invoice yet, so no fetch was tried"
        )
    found = fetcher.fetch(order_id)
    if isinstance(found, InvoicePdf):
        size = size_text(len(found.content))
        return Probe(
            True, f"attached (INVOICE_ATTACH=yes): order {order_id}'s PDF came from {fetcher.host} ({size})"
        )
    then = "wait about 20 minutes, then go" if found.transient else "go"
    return Probe(
        False,
        f"INVOICE_ATTACH=yes, but order {order_id}'s invoice PDF could not be fetched: {found.reason}. "
        f"Until that changes, the emails that carry an invoice {then} without it",
    )
