"""One order's invoice PDF, fetched at send time from the shop's storefront (INVOICE_ATTACH=yes).

PrestaShop 8.1.2's webservice has no invoice PDF. The storefront's PdfInvoiceController serves it at
`index.php?controller=pdf-invoice&id_order=N&secure_key=KEY` to whoever holds the order's secure key, a
guest's order or a registered customer's alike; without a session and without a key it redirects to the
login page, and a refusal is a 200 text page in PrestaShop's words ("The invoice was not found.", "No
invoice is available.", "Invoices are disabled in this shop.": docs/shop-facts.md "Invoices").

The key is read with one webservice request for that order (GET on orders, which the bridge has anyway),
held as a `Secret` for the one fetch and then dropped: it never reaches the store, a log line or an error
message (docs/design.md §2.6). The URL that carries it is never logged: urllib3's DEBUG line that names
each request's URL gets the key replaced (`guard_library_logs`).

The fetch is bounded like every exchange with the shop (`bridge.shop.deadline`, `bridge.shop.bounds`): it
ends within PRESTASHOP_DEADLINE, redirects included, and a body past MAX_PDF (10 MiB) is refused unread.
It goes to the PRESTASHOP_URL host only: a redirect to another host is not followed, since the key would
go with it. What comes back must be a PDF (`%PDF-` and a PDF or download content type), or it is refused.

A failure is an `InvoiceMissing` whose `reason` names what to change; `transient` says whether the same
request may work later (the storefront down, in maintenance mode, too slow).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urljoin, urlsplit

import requests

from bridge.errors import ShopError, ShopPermissionError, ShopRequestError, ShopResponseError
from bridge.secret import Secret
from bridge.shop.bounds import read_body, size_text
from bridge.shop.client import ShopClient
from bridge.shop.deadline import Deadline, WatchedAdapter
from bridge.shop.failures import sanitize
from bridge.shop.query import Query, greater_than
from bridge.shop.transport import DEFAULT_DEADLINE, DEFAULT_USER_AGENT

log = logging.getLogger(__name__)

MAX_PDF: Final = 10 * 1024 * 1024  # bytes: a real invoice is 20-200 KB; Gmail refuses mail over 25 MB
MAX_REDIRECTS: Final = 3
RESOURCE: Final = "invoice PDF"
# TCPDF's download output (PrestaShop's PDF renderer) may name the type a browser download would.
PDF_TYPES: Final = frozenset(
    {
        "application/pdf",
        "application/x-pdf",
        "application/octet-stream",
        "application/force-download",
        "application/download",
    }
)
_KEY_IN_TEXT: Final = re.compile(r"(secure_key\W{1,4})[^&\s\"'#<>]*", re.IGNORECASE)
_KEY_SHAPE: Final = re.compile(r"[0-9A-Za-z]{8,64}")  # PrestaShop writes md5(uniqid()): 32 hex digits
# PdfInvoiceController's refusals (die() with a 200 text page), and what the owner can do about each.
_REFUSALS: Final = {
    "Invoices are disabled in this shop.": (
        "enable invoices in the back office (Orders → Invoices) or set INVOICE_ATTACH=no"
    ),
    "The invoice was not found.": (
        "the storefront did not accept the order's secure key (a module that changes secure keys?); "
        "set INVOICE_ATTACH=no if every order answers this"
    ),
    "No invoice is available.": "the order's status does not allow an invoice (Orders → Statuses)",
}
_MAINTENANCE: Final = (
    "the shop is in maintenance mode; if that lasts, add the bridge's IP address to the maintenance IPs "
    "(Shop Parameters → General → Maintenance)"
)
_DOWN: Final = "the storefront is down or failing (its error log says why)"


@dataclass(frozen=True)
class InvoicePdf:
    """The PDF the storefront served for an order's invoice."""

    order_id: int
    number: int  # the order's invoice_number
    content: bytes = field(repr=False)

    @property
    def filename(self) -> str:
        return f"invoice-{self.number}.pdf"


@dataclass(frozen=True)
class InvoiceMissing:
    """Why the PDF was not fetched: one line naming what to change (never the key, nor a URL with it)."""

    reason: str
    transient: bool  # the same request may work later (down, maintenance, a timeout)


def hide_secure_keys(text: str) -> str:
    """`secure_key=6067e…` (in a URL, JSON or a message) with the key replaced by `***`."""
    return _KEY_IN_TEXT.sub(r"\1***", text)


class _HideSecureKeys(logging.Filter):
    """On urllib3's logger, whose DEBUG line names each request's URL, query string included."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "secure_key" in message.lower():
            record.msg, record.args = hide_secure_keys(message), None
        return True


def guard_library_logs() -> None:
    """Make sure no library logs a storefront URL with the key in it (idempotent)."""
    for name in ("urllib3.connectionpool", "urllib3.connection"):
        logger = logging.getLogger(name)
        if not any(isinstance(existing, _HideSecureKeys) for existing in logger.filters):
            logger.addFilter(_HideSecureKeys())


class InvoiceFetcher:
    """Fetches invoice PDFs of one shop: the key through `client`, the PDF from the storefront at the
    same address. One fetch at a time (the client's session belongs to one thread)."""

    def __init__(
        self,
        client: ShopClient,
        *,
        timeout: float = 20.0,
        deadline: float = DEFAULT_DEADLINE,
        max_bytes: int = MAX_PDF,
        verify: bool | str = True,
    ) -> None:
        self.client = client
        self._root = client.base_url
        self._timeout = min(timeout, deadline)
        self._deadline = deadline
        self._max_bytes = max_bytes
        self._verify = verify
        guard_library_logs()

    @property
    def host(self) -> str:
        return urlsplit(self._root).netloc

    def fetch(self, order_id: int) -> InvoicePdf | InvoiceMissing:
        """The invoice PDF of `order_id` as the storefront serves it, or why not."""
        found = self._secure_key(order_id)
        if isinstance(found, InvoiceMissing):
            return found
        key, number = found
        if number <= 0:
            return InvoiceMissing(f"order {order_id} has no invoice in the shop (invoice_number 0)", False)
        return self._download(order_id, number, key)

    def latest_invoiced_order(self) -> int | None:
        """The newest order that has an invoice (for `bridge check`), None when no order has one."""
        query = Query(display=("id",), filters={"invoice_number": greater_than(0)}, sort=("id_DESC",))
        rows = list(self.client.list_raw("orders", query, limit=1))
        return int(rows[0]["id"]) if rows else None

    def _secure_key(self, order_id: int) -> tuple[Secret, int] | InvoiceMissing:
        """The order's secure key and invoice number, read now with one request (the whole order: its key
        then sits far past the start of the answer, where an error message may quote it)."""
        try:
            order = self.client.order(order_id)
        except ShopError as error:
            permanent = isinstance(error, ShopPermissionError | ShopRequestError)
            why = hide_secure_keys(str(error))
            return InvoiceMissing(f"the order's secure key could not be read: {why}", not permanent)
        if order is None:
            return InvoiceMissing(f"order {order_id} is no longer in the shop", False)
        key = order.secure_key
        if not _KEY_SHAPE.fullmatch(key.reveal()):
            return InvoiceMissing(f"the webservice shows no usable secure_key for order {order_id}", False)
        return key, order.invoice_number

    def _download(self, order_id: int, number: int, key: Secret) -> InvoicePdf | InvoiceMissing:
        """One bounded fetch from the storefront, redirects on the same host included."""
        params = {"controller": "pdf-invoice", "id_order": str(order_id), "secure_key": key.reveal()}
        answer: requests.Response | InvoiceMissing
        with requests.Session() as session, Deadline(self._deadline) as deadline:
            adapter = WatchedAdapter()
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers.update({"User-Agent": DEFAULT_USER_AGENT, "Accept": "application/pdf"})
            try:
                answer = self._follow(session, f"{self._root}/index.php", params, deadline)
            except ShopResponseError:  # read_body refused it: larger than MAX_PDF
                answer = InvoiceMissing(
                    f"the storefront's invoice PDF of order {order_id} is larger than "
                    f"{size_text(self._max_bytes)}: not attached (the order's page still offers it)",
                    False,
                )
            except requests.RequestException as error:
                answer = self._unreachable(error, deadline)
        return answer if isinstance(answer, InvoiceMissing) else judge(answer, order_id, number)

    def _follow(
        self, session: requests.Session, url: str, params: dict[str, str] | None, deadline: Deadline
    ) -> requests.Response | InvoiceMissing:
        """GET, following at most MAX_REDIRECTS redirects that stay on the PRESTASHOP_URL host."""
        for _ in range(MAX_REDIRECTS + 1):
            response = session.get(
                url,
                params=params,
                timeout=self._timeout,
                verify=self._verify,
                allow_redirects=False,
                stream=True,
                hooks={"response": lambda answer, *_, **__: self._bounded(answer, deadline)},
            )
            if deadline.expired:
                raise requests.ConnectionError("the deadline passed")
            if not response.is_redirect:
                return response
            target = urljoin(response.url, response.headers.get("Location", ""))
            refused = self._refused_redirect(target)
            if refused is not None:
                return refused
            url, params = target, None
        return InvoiceMissing(f"the storefront redirected more than {MAX_REDIRECTS} times", False)

    def _refused_redirect(self, target: str) -> InvoiceMissing | None:
        """A redirect the key must not follow, or one that means the key was not taken; None: follow."""
        parts, root = urlsplit(target), urlsplit(self._root)
        if "controller=authentication" in parts.query:
            return InvoiceMissing(
                "the storefront asked the bridge to sign in instead of taking the order's secure key "
                "(a module that requires a login for invoices?): set INVOICE_ATTACH=no",
                False,
            )
        downgrade = root.scheme == "https" and parts.scheme != "https"
        if parts.hostname != root.hostname or parts.scheme not in ("http", "https") or downgrade:
            elsewhere = f"{parts.scheme}://{parts.netloc}" if parts.netloc else "another address"
            return InvoiceMissing(
                f"the storefront redirects invoice requests to {elsewhere}, which the order's secure key "
                "is not sent to: set PRESTASHOP_URL to the address the shop itself uses",
                False,
            )
        return None

    def _bounded(self, response: requests.Response, deadline: Deadline) -> requests.Response:
        read_body(response, RESOURCE, self._max_bytes, deadline)
        return response

    def _unreachable(self, error: Exception, deadline: Deadline) -> InvoiceMissing:
        """No answer from the storefront: worth another try later. The text never quotes the URL (requests'
        own message does, key and all): only the root cause's name and words."""
        if deadline.expired:
            what = f"did not answer within PRESTASHOP_DEADLINE ({self._deadline:g} s)"
        else:
            what = f"could not be reached ({root_cause(error)})"
        return InvoiceMissing(f"the storefront at {self.host} {what}", True)


def judge(response: requests.Response, order_id: int, number: int) -> InvoicePdf | InvoiceMissing:
    """The storefront's final answer: the PDF, or why it is not one (in the owner's words)."""
    status = response.status_code
    if status >= 500 or status == 429:
        advice = _MAINTENANCE if status == 503 and response.headers.get("Retry-After") else _DOWN
        return InvoiceMissing(f"the storefront answered HTTP {status}: {advice}", True)
    if status == 404:
        return InvoiceMissing(
            "the storefront has no index.php at the PRESTASHOP_URL address: INVOICE_ATTACH needs the shop's "
            "front office at that address",
            False,
        )
    if status != 200:
        return InvoiceMissing(
            f"the storefront refused the invoice request (HTTP {status}): a firewall or password in front "
            "of the shop? Let the bridge through, or set INVOICE_ATTACH=no",
            False,
        )
    body = response.content
    kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if kind in PDF_TYPES and body.startswith(b"%PDF-"):
        return InvoicePdf(order_id, number, body)
    return InvoiceMissing(_not_a_pdf(kind, body), False)


def _not_a_pdf(kind: str, body: bytes) -> str:
    """What the storefront said instead of the PDF: PrestaShop's own refusal, or some other page."""
    text = sanitize(re.sub(r"<[^>]*>", " ", body[:4000].decode("utf-8", errors="replace")))
    for refusal, advice in _REFUSALS.items():
        if refusal in text:
            return f"the storefront answered {refusal!r} instead of the PDF: {advice}"
    shown = kind or "no content type"
    return (
        f"the storefront's answer is not a PDF ({shown}: {hide_secure_keys(text)!r}); a cache or bot "
        "check in front of the shop? Let the bridge's address through, or set INVOICE_ATTACH=no"
    )


def root_cause(error: BaseException) -> str:
    """What went wrong at the bottom of a requests error (`Connection refused`, `ConnectionResetError`),
    found through urllib3's `reason` and the exception chain: never the message that names the URL."""
    seen: BaseException = error
    for _ in range(12):
        following = getattr(seen, "reason", None) or seen.__cause__ or seen.__context__
        if not isinstance(following, BaseException):
            following = next((arg for arg in seen.args if isinstance(arg, BaseException)), None)
        if following is None:
            break
        seen = following
    if isinstance(seen, OSError) and seen.strerror:
        return seen.strerror
    return type(seen).__name__
