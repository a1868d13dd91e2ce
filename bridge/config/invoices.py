"""The invoice PDF on the order email at which the invoice appears (INVOICE_ATTACH).

Off by default: attaching it needs what the bridge otherwise never does. The webservice has no PDF, so the
bridge reads the order's secure key (the one secret that opens the order's invoice to anyone holding it)
and fetches the PDF from the shop's storefront, both at send time and never kept (docs/shop-facts.md
"Invoices", docs/design.md §2.6). Without it the email still links to the order's page, where the
customer downloads the invoice.
"""

from __future__ import annotations

from typing import Final, TypedDict

from bridge.config.parse import parse_bool
from bridge.config.reader import Reader, Setting

INVOICE_ATTACH = Setting(
    "INVOICE_ATTACH",
    "no",
    parse_bool,
    "yes: the order email at which an invoice appears carries the invoice PDF, fetched at send time from"
    " the shop's storefront at the PRESTASHOP_URL address with the order's secure key. No: the email links"
    " to the order's page, where the customer downloads it.",
)
INVOICE_SETTINGS: Final = (INVOICE_ATTACH,)


class InvoiceFields(TypedDict):
    invoice_attach: bool


def invoice_fields(reader: Reader) -> InvoiceFields:
    """Asked once there is no problem."""
    return InvoiceFields(invoice_attach=reader.value(INVOICE_ATTACH))
