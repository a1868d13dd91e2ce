"""The shop adapter: reads a PrestaShop shop through its webservice (`/api/`) and returns typed records.

The only module that speaks HTTP to the shop. It owns what a real shop does to a client
(prestashop-webservice.md, FINDINGS.md): the URL form (rewritten `/api/…` or `webservice/dispatcher.php`),
Basic auth with the key as user name, `output_format=JSON`, the filter/sort/limit grammar and `date=1`,
the three shapes of an empty list, bounded retries of transient failures, and one error per situation, worded
for the shop owner. Parsing of each object is `bridge.shop.records`' job.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import ssl
import unicodedata
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Literal, TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
from tenacity import Retrying, nap, retry_if_exception_type, stop_after_attempt, wait_exponential

from bridge import __version__
from bridge.errors import (
    ShopAuthError,
    ShopDisabled,
    ShopError,
    ShopPermissionError,
    ShopRequestError,
    ShopResponseError,
    ShopServerError,
    ShopUnreachable,
)
from bridge.secret import Secret
from bridge.shop.records import (
    Address,
    Carrier,
    Cart,
    CartProduct,
    CartRuleSpec,
    Country,
    Currency,
    Customer,
    Language,
    Order,
    OrderCarrier,
    OrderDetail,
    OrderHistory,
    OrderPayment,
    OrderState,
    Product,
    parse_address,
    parse_carrier,
    parse_cart,
    parse_cart_product,
    parse_country,
    parse_currency,
    parse_customer,
    parse_language,
    parse_order,
    parse_order_carrier,
    parse_order_detail,
    parse_order_history,
    parse_order_payment,
    parse_order_state,
    parse_product,
)

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT: Final = f"prestashop-mail-bridge/{__version__}"
PAGE_SIZE: Final = 100
ID_CHUNK: Final = 100
# Keeps every URL far below the 8 KB many servers (Apache's LimitRequestLine) accept.
MAX_FILTER_CHARS: Final = 4000
# The whole query string of a priced product read (ids, display and `price[...]` parameters).
MAX_QUERY_CHARS: Final = 6000
FAR_FUTURE: Final = "9999-12-31 23:59:59"
_DATE_FIELDS: Final = frozenset({"date_add", "date_upd"})
_SNIPPET_CHARS: Final = 80

# Errors PrestaShop gives for a request it considers wrong (Appendix A): deterministic, never retried.
_REQUEST_CODES: Final = frozenset({23, 41, 78, 79, 80, 81, 86, 101, *range(27, 40)})
_AUTH_CODES: Final = frozenset({16, 17, 18, 20, 21})
_PHP_CODES: Final = frozenset(range(2, 16))

# What a cart reminder shows of a product (the `price[...]` aliases are added to it).
_CART_PRODUCT_FIELDS: Final = ("id", "name", "link_rewrite", "id_default_image", "active")
_CART_FIELDS_LIGHT: Final = ("id", "id_customer", "id_currency", "id_lang", "date_add", "date_upd")
_PLACED_ORDER_FIELDS: Final = ("id", "id_cart", "id_customer", "date_add")

# JSON node names that are not simply "resource" (list) and "resource minus s" (one object).
_LIST_KEYS: Final[Mapping[str, str]] = {"order_slip": "order_slips"}
_SINGLE_KEYS: Final[Mapping[str, str]] = {
    "addresses": "address",
    "carriers": "carrier",
    "carts": "cart",
    "cart_rules": "cart_rule",
    "configurations": "configuration",
    "countries": "country",
    "currencies": "currency",
    "customers": "customer",
    "customer_messages": "customer_message",
    "customer_threads": "customer_thread",
    "languages": "language",
    "order_carriers": "order_carrier",
    "order_details": "order_detail",
    "order_histories": "order_history",
    "order_invoices": "order_invoice",
    "order_payments": "order_payment",
    "order_slip": "order_slip",
    "order_states": "order_state",
    "orders": "order",
    "products": "product",
}

Form = Literal["api", "dispatcher"]
FilterValue = int | str | datetime
T = TypeVar("T")


# ----------------------------------------------------------------------------------------------------
# Query building
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Filter:
    """One `filter[field]=` value in PrestaShop's grammar (prestashop-webservice.md §3.2).

    Datetimes must be timezone-aware; the client writes them in the shop's local time.
    """

    op: Literal["equals", "one_of", "between", "greater", "less"]
    values: tuple[FilterValue, ...]


def equals(value: FilterValue) -> Filter:
    return Filter("equals", (value,))


def one_of(values: Iterable[FilterValue]) -> Filter:
    return Filter("one_of", tuple(values))


def between(low: FilterValue, high: FilterValue) -> Filter:
    """Inclusive at both ends (SQL BETWEEN), whatever the PrestaShop docs say."""
    return Filter("between", (low, high))


def greater_than(value: FilterValue) -> Filter:
    """Strictly greater: there is no `>=` in the grammar."""
    return Filter("greater", (value,))


def less_than(value: FilterValue) -> Filter:
    return Filter("less", (value,))


@dataclass(frozen=True, slots=True)
class Query:
    """What to ask a list endpoint: display, filters, sort and language. Paging is added by the client."""

    display: str | tuple[str, ...] = "full"
    filters: Mapping[str, Filter] = field(default_factory=dict)
    sort: tuple[str, ...] = ("id_ASC",)
    language: int | None = None


def _sanitize(text: str, limit: int = _SNIPPET_CHARS) -> str:
    """A short, printable, one-line excerpt of something the shop sent (for error messages)."""
    cleaned = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text)
    cleaned = re.sub(r"\s+", " ", cleaned).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


_PHP_NOTICE: Final = re.compile(rb"<b>(Warning|Notice|Deprecated|Fatal error|Parse error)</b>:")


def _strip_tags(text: str) -> str:
    return re.sub(r"<[^>]*>", " ", text)


def is_filterable(text: str) -> bool:
    """Whether `text` can be sent as a filter value: PrestaShop's grammar has no escape for `[]|,%`, and
    a control character would be mangled on the way. An order reference edited in the database can hold
    them; such a value cannot be looked up, only read with its row."""
    return not (
        any(ch in text for ch in "[]|,%") or any(unicodedata.category(ch).startswith("C") for ch in text)
    )


def _check_filter_text(text: str) -> str:
    if not is_filterable(text):
        raise ValueError(
            f"filter value {text!r} contains characters PrestaShop's filter grammar cannot carry"
        )
    return text


# ----------------------------------------------------------------------------------------------------
# Transport helpers
# ----------------------------------------------------------------------------------------------------


class _Transient(Exception):
    """A failure worth retrying; carries the error to raise when the retries run out."""

    def __init__(self, error: ShopError) -> None:
        super().__init__(str(error))
        self.error = error


def _is_webservice(response: requests.Response) -> bool:
    """Did PrestaShop's webservice (not a web server's or the shop front's page) give this answer?"""
    headers = response.headers
    return (
        "PSWS-Version" in headers
        or headers.get("X-Powered-By", "") == "PrestaShop Webservice"
        or "PrestaShop Webservice" in headers.get("WWW-Authenticate", "")
    )


def _ps_errors(response: requests.Response) -> list[tuple[int, str]]:
    """The `errors` PrestaShop put in a JSON or XML body, as (code, message); [] if there are none."""
    body = response.content.strip()
    if not body:
        return []
    found: list[tuple[int, str]] = []
    if body.startswith(b"{"):
        try:
            document = json.loads(body)
        except ValueError:
            return []
        errors = document.get("errors") if isinstance(document, dict) else None
        if isinstance(errors, list):
            for item in errors:
                if isinstance(item, dict):
                    try:
                        code = int(item.get("code", 0))
                    except (TypeError, ValueError):
                        code = 0
                    found.append((code, str(item.get("message", ""))))
        return found
    if body.startswith(b"<?xml") or body.startswith(b"<prestashop"):
        root = _parse_xml(body)
        if root is None:
            return []
        for error in root.iter("error"):
            try:
                code = int((error.findtext("code") or "0").strip())
            except ValueError:
                code = 0
            found.append((code, (error.findtext("message") or "").strip()))
    return found


def _parse_xml(body: bytes) -> ElementTree.Element | None:
    # The body comes from the shop the owner configured, and expat >= 2.4.1 (Python 3.11 bundles 2.5) refuses
    # entity-expansion bombs and never fetches external entities, so the stdlib parser is safe enough here.
    try:
        return ElementTree.fromstring(body)  # noqa: S314
    except ElementTree.ParseError:
        return None


def _root_causes(exc: BaseException) -> Iterator[BaseException]:
    """Walk the chain of a requests exception down to the socket/SSL error that caused it."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for attribute in ("reason", "__cause__", "__context__"):
            nested = getattr(current, attribute, None)
            if isinstance(nested, BaseException):
                stack.append(nested)
        stack.extend(arg for arg in current.args if isinstance(arg, BaseException))


# ----------------------------------------------------------------------------------------------------
# The client
# ----------------------------------------------------------------------------------------------------


class ShopClient:
    """A PrestaShop webservice client: reads, and the one write the bridge makes (a discount code, never
    retried). Reuses one HTTP session; close it (or use `with`)."""

    def __init__(
        self,
        base_url: str,
        api_key: Secret,
        *,
        timeout: float = 20.0,
        retries: int = 3,
        backoff: float = 1.0,
        sleep: Callable[[float], None] | None = None,
        verify: bool | str = True,
        user_agent: str = DEFAULT_USER_AGENT,
        timezone: ZoneInfo | str | None = None,
    ) -> None:
        """`base_url` is the shop's address (`https://example.com/shop`), or its `/api` or dispatcher URL.

        `timezone` overrides the shop's PS_TIMEZONE (which otherwise is read once, with one request).
        `verify=True` trusts the system CAs or REQUESTS_CA_BUNDLE; a path trusts that CA bundle.
        """
        if not isinstance(api_key, Secret):
            raise TypeError("api_key must be a bridge.secret.Secret")
        self._root, self._form = _split_base_url(base_url)
        self._timeout = timeout
        self._retries = max(0, retries)
        self._backoff = backoff
        self._sleep = sleep
        self._session = requests.Session()
        # Basic auth with the key as user name: the key never appears in a URL, so never in a log line.
        self._session.auth = (api_key.reveal(), "")
        self._verify = verify
        self._session.headers["User-Agent"] = user_agent
        self._session.headers["Accept"] = "application/json, text/xml;q=0.5"
        self._version: str | None = None
        self._timezone: ZoneInfo | None = None
        if timezone is not None:
            self._timezone = timezone if isinstance(timezone, ZoneInfo) else _zone(timezone)

    # -- lifecycle ---------------------------------------------------------------------------------

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> ShopClient:
        return self

    def copy(self) -> ShopClient:
        """Another client for the same shop and key, with its own HTTP session (a session is not shared
        between threads). What this one learned (URL form, time zone, version) is carried over."""
        auth = self._session.auth
        assert isinstance(auth, tuple)
        twin = ShopClient(
            self._root,
            Secret(str(auth[0])),
            timeout=self._timeout,
            retries=self._retries,
            backoff=self._backoff,
            sleep=self._sleep,
            verify=self._verify,
            user_agent=str(self._session.headers["User-Agent"]),
            timezone=self._timezone,
        )
        twin._form = self._form
        twin._version = self._version
        return twin

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ShopClient({self.base_url!r})"

    @property
    def base_url(self) -> str:
        """The shop's address as the bridge uses it (never with a key or credentials in it)."""
        return self._root

    @property
    def url_form(self) -> Form | None:
        """`api` (URL rewriting) or `dispatcher` once known; None before the first answer."""
        return self._form

    @property
    def version(self) -> str | None:
        """The PrestaShop version from the last `PSWS-Version` header seen (None before, or if never sent)."""
        return self._version

    # -- HTTP ---------------------------------------------------------------------------------------

    def _url(self, form: Form, path: str) -> tuple[str, list[tuple[str, str]]]:
        if form == "api":
            return f"{self._root}/api/{path}", []
        return f"{self._root}/webservice/dispatcher.php", [("url", path)]

    def _exchange(
        self,
        method: str,
        form: Form,
        path: str,
        params: Sequence[tuple[str, str]],
        resource: str,
        body: bytes | None = None,
    ) -> requests.Response:
        url, prefix = self._url(form, path)
        failure: ShopError | None = None
        transient = False
        try:
            # `verify` per request: requests lets REQUESTS_CA_BUNDLE override a session-level CA path.
            # A write is never redirected: requests would turn the POST into a GET and drop the body.
            response = self._session.request(
                method,
                url,
                params=[*prefix, *params],
                data=body,
                headers={"Content-Type": "text/xml; charset=utf-8"} if body is not None else None,
                timeout=self._timeout,
                verify=self._verify,
                allow_redirects=method in ("GET", "HEAD"),
            )
        except requests.RequestException as exc:
            failure, transient = self._transport_error(exc, resource)
        # Raised outside the `except` block so neither the requests exception (which holds the prepared
        # request and its Authorization header) nor its traceback is chained to the error.
        if failure is not None:
            raise (_Transient(failure) if transient else failure)
        version = response.headers.get("PSWS-Version")
        if version and version != "0":
            self._version = version
        log.debug("%s %s → %s", method, response.url.split("?")[0], response.status_code)
        return response

    def _attempt(
        self,
        method: str,
        path: str,
        params: Sequence[tuple[str, str]],
        resource: str,
        body: bytes | None = None,
    ) -> requests.Response:
        """One try: finds the URL form on first use (rewritten `/api/` first, then dispatcher.php)."""
        if self._form is not None:
            response = self._exchange(method, self._form, path, params, resource, body)
        else:
            response = self._exchange(method, "api", path, params, resource, body)
            if _is_webservice(response):
                self._form = "api"
            elif response.status_code < 500:
                # A web server's 404, or the shop front's page: no rewriting here, try the dispatcher.
                # (A bare 5xx is PHP dying inside the webservice, as real 8.x shops do: not a reason.)
                response.close()
                fallback = self._exchange(method, "dispatcher", path, params, resource, body)
                if _is_webservice(fallback):
                    self._form = "dispatcher"
                    response = fallback
                else:
                    fallback.close()
                    raise ShopResponseError(
                        f"no PrestaShop webservice answered at {self._root}/api/ (HTTP "
                        f"{response.status_code}) nor at {self._root}/webservice/dispatcher.php "
                        f"(HTTP {fallback.status_code}): check PRESTASHOP_URL and that the webservice "
                        "is enabled",
                        resource=resource,
                        status=response.status_code,
                    )
        self._raise_for_status(response, method, resource)
        return response

    def _request(
        self,
        path: str,
        params: Sequence[tuple[str, str]],
        resource: str,
        *,
        method: str = "GET",
        body: bytes | None = None,
    ) -> requests.Response:
        """One request, retried on transient failures only if it reads (GET/HEAD): a write runs once."""
        retrying = Retrying(
            stop=stop_after_attempt(self._retries + 1 if method in ("GET", "HEAD") else 1),
            wait=wait_exponential(multiplier=self._backoff, max=60),
            retry=retry_if_exception_type(_Transient),
            reraise=True,
            before_sleep=lambda state: log.info(
                "shop request for %s failed (%s); retry %d of %d",
                resource,
                state.outcome.exception() if state.outcome else "?",
                state.attempt_number,
                self._retries,
            ),
            sleep=self._sleep if self._sleep is not None else nap.sleep,
        )
        error: ShopError | None = None
        try:
            return retrying(self._attempt, method, path, params, resource, body)
        except _Transient as exhausted:
            error = exhausted.error
        assert error is not None
        raise error

    def _raise_for_status(self, response: requests.Response, method: str, resource: str) -> None:
        status = response.status_code
        if status < 300 or (status == 404 and _is_webservice(response)):
            return
        if 300 <= status < 400 and method not in ("GET", "HEAD"):
            target = _sanitize(response.headers.get("Location", "") or "another address", 120)
            raise ShopRequestError(
                f"the shop redirected the {method} on `{resource}` (HTTP {status}) to {target}: set "
                "PRESTASHOP_URL to the address the shop redirects to",
                resource=resource,
                status=status,
            )
        errors = _ps_errors(response)
        codes = {code for code, _ in errors}
        first = _sanitize(errors[0][1]) if errors else ""
        where = f"Advanced Parameters → Webservice → edit the key → tick {method} for `{resource}`"
        if status == 401 and 26 in codes:
            raise ShopPermissionError(
                f"the API key may not read `{resource}` (HTTP 401, code 26): in the back office open {where}",
                resource=resource,
                status=status,
            )
        if status == 401:
            if codes:
                shown = "/".join(str(code) for code in sorted(codes))
                detail = f"HTTP 401, code {shown}: {first}"
            else:
                detail = (
                    "HTTP 401 without a webservice answer: the key did not reach PrestaShop; if it is right, "
                    "the web server may be dropping the Authorization header"
                )
                final = urlsplit(response.url)
                if response.history and final.netloc != urlsplit(self._root).netloc:
                    # requests drops the Authorization header on a redirect to another host.
                    detail += f", or the redirect to {final.scheme}://{final.netloc} (use that address)"
            raise ShopAuthError(
                f"PrestaShop refused the API key ({detail}): check PRESTASHOP_API_KEY and that the key is "
                "enabled in Advanced Parameters → Webservice",
                resource=resource,
                status=status,
            )
        if status == 403 and 132 in codes:
            raise ShopPermissionError(
                "the API key is not allowed on this shop (HTTP 403, code 132): in Advanced Parameters → "
                "Webservice, edit the key and tick this shop under Shop association",
                resource=resource,
                status=status,
            )
        if status == 405 and (25 in codes or not response.content.strip()):
            raise ShopPermissionError(
                f"the API key may not use {method} on `{resource}` (HTTP 405): in the back office "
                f"open {where}",
                resource=resource,
                status=status,
            )
        if status == 503 and 22 in codes:
            raise ShopDisabled(
                "the shop's webservice is switched off (HTTP 503, code 22): enable it in Advanced Parameters "
                "→ Webservice → Enable PrestaShop's webservice",
                resource=resource,
                status=status,
            )
        if codes & _REQUEST_CODES:
            code = min(codes & _REQUEST_CODES)
            message = next(text for number, text in errors if number == code)
            raise ShopRequestError(
                f"the shop rejected the bridge's request for `{resource}` (HTTP {status}, code {code}: "
                f"{_sanitize(message)}); this is a bridge bug or an unsupported PrestaShop version",
                resource=resource,
                status=status,
            )
        if status >= 500:
            if codes and codes <= _PHP_CODES:
                detail = f"PHP error: {first}; see the shop's PHP error log"
            elif codes:
                detail = f"code {min(codes)}: {first}"
            else:
                detail = _sanitize(response.text) or "empty answer"
            raise _Transient(
                ShopServerError(
                    f"the shop failed while {'reading' if method in ('GET', 'HEAD') else 'writing'} "
                    f"`{resource}` (HTTP {status}, {detail})",
                    resource=resource,
                    status=status,
                )
            )
        if codes:
            raise ShopRequestError(
                f"the shop rejected the bridge's request for `{resource}` (HTTP {status}, code {min(codes)}: "
                f"{first})",
                resource=resource,
                status=status,
            )
        snippet = _sanitize(response.text)
        raise ShopResponseError(
            f"unexpected answer from the shop for `{resource}` (HTTP {status}): "
            f"{repr(snippet) if snippet else 'empty body'}",
            resource=resource,
            status=status,
        )

    def _transport_error(self, exc: requests.RequestException, resource: str) -> tuple[ShopError, bool]:
        """Turn a requests failure into the owner's words; the bool says whether a retry may help."""
        host = urlsplit(self._root).netloc
        causes = list(_root_causes(exc))
        if isinstance(exc, requests.exceptions.SSLError):
            reason = "TLS handshake failed"
            for cause in causes:
                if isinstance(cause, ssl.SSLCertVerificationError):
                    reason = f"certificate verify failed: {cause.verify_message}"
                    break
                if isinstance(cause, ssl.SSLError) and cause.reason:
                    reason = str(cause.reason)
            reason = _sanitize(reason, 120)
            return (
                ShopUnreachable(
                    f"the TLS certificate of {host} could not be verified ({reason}): if the shop uses its "
                    "own certificate authority, point REQUESTS_CA_BUNDLE at that CA's certificate file; do "
                    "not switch verification off",
                    resource=resource,
                ),
                False,
            )
        if isinstance(exc, requests.exceptions.Timeout):
            connect = isinstance(exc, requests.exceptions.ConnectTimeout)
            what = "connecting to" if connect else "waiting for an answer from"
            return (
                ShopUnreachable(
                    f"timed out after {self._timeout:g} s {what} {host}: the shop is down or overloaded",
                    resource=resource,
                ),
                True,
            )
        if any(type(c).__name__ == "NameResolutionError" or "gaierror" in type(c).__name__ for c in causes):
            name = urlsplit(self._root).hostname or host
            return (
                ShopUnreachable(
                    f"cannot resolve the host name {name!r} (DNS): check PRESTASHOP_URL and this "
                    "server's DNS",
                    resource=resource,
                ),
                True,
            )
        if any(isinstance(c, ConnectionRefusedError) for c in causes):
            return (
                ShopUnreachable(
                    f"{host} refused the connection: is PRESTASHOP_URL right (http/https, port) and is the "
                    "shop's web server running?",
                    resource=resource,
                ),
                True,
            )
        if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.ChunkedEncodingError):
            return (
                ShopUnreachable(
                    f"the connection to {host} failed ({type(causes[-1]).__name__}): the shop or the network "
                    "dropped it",
                    resource=resource,
                ),
                True,
            )
        return (
            ShopUnreachable(
                f"could not talk to {host} ({type(exc).__name__}): check PRESTASHOP_URL", resource=resource
            ),
            False,
        )

    # -- JSON -----------------------------------------------------------------------------------------

    def _get_json(self, resource: str, path: str, params: Sequence[tuple[str, str]]) -> Any:
        """A GET's JSON document (None for a webservice 404). An empty answer, a proxy's HTML error page
        or a JSON body cut short is a failure of that one exchange (a PHP worker killed mid-answer, a
        gateway timeout page served with 200), so the GET is tried again like a 5xx; a PHP notice or an
        XML answer is the shop's configuration, and is reported at once."""
        for attempt in range(self._retries + 1):
            response = self._request(path, [*params, ("output_format", "JSON")], resource)
            if response.status_code == 404:
                return None
            try:
                return self._decode_json(response, resource)
            except _Transient as failed:
                if attempt == self._retries:
                    raise failed.error from None
                log.info(
                    "shop answer for %s unreadable (%s); retry %d of %d",
                    resource,
                    failed,
                    attempt + 1,
                    self._retries,
                )
                (self._sleep if self._sleep is not None else nap.sleep)(min(60.0, self._backoff * 2**attempt))
        raise AssertionError("unreachable")

    def _decode_json(self, response: requests.Response, resource: str) -> Any:
        body = response.content
        stripped = body.strip()
        if not stripped:
            raise _Transient(
                ShopResponseError(
                    f"the shop sent an empty answer for `{resource}` (HTTP {response.status_code})",
                    resource=resource,
                    status=response.status_code,
                )
            )
        notice = _PHP_NOTICE.search(stripped[:2000])
        if notice is not None:
            # PHP printed a warning into the page before the JSON: display_errors (debug mode) is on.
            raise ShopResponseError(
                f"the shop printed a PHP {notice.group(1).decode()} before the JSON for `{resource}`, so the "
                f"answer cannot be read ({_sanitize(_strip_tags(response.text))!r}): switch off debug mode "
                "(Advanced Parameters → Performance → Debug mode) or display_errors",
                resource=resource,
                status=response.status_code,
            )
        if stripped[:1] == b"<":
            xml = stripped.startswith((b"<?xml", b"<prestashop"))
            kind = "an XML document" if xml else "an HTML page"
            error = ShopResponseError(
                f"the shop answered `{resource}` with {kind} instead of JSON (HTTP {response.status_code}): "
                f"{_sanitize(response.text)!r}",
                resource=resource,
                status=response.status_code,
            )
            if xml:
                raise error
            raise _Transient(error)
        try:
            return json.loads(body, parse_float=Decimal)
        except ValueError:
            text = response.content.decode("utf-8", errors="replace")
            raise _Transient(
                ShopResponseError(
                    f"the shop sent invalid or truncated JSON for `{resource}` (HTTP {response.status_code}, "
                    f"{len(body)} bytes): {_sanitize(text)!r}",
                    resource=resource,
                    status=response.status_code,
                )
            ) from None

    def _list_page(self, resource: str, params: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        document = self._get_json(resource, resource, params)
        # An empty list is `[]` in every version so far; `{}` and `{"orders": []}` are accepted too.
        if document in ([], {}, None):
            return []
        if isinstance(document, dict):
            key = _LIST_KEYS.get(resource, resource)
            rows = document.get(key)
            if rows is None:
                candidates = [v for k, v in document.items() if k != "errors" and isinstance(v, list)]
                rows = candidates[0] if len(candidates) == 1 else None
            if isinstance(rows, list) and all(isinstance(row, dict) for row in rows):
                return rows
        raise ShopResponseError(
            f"the shop sent an unexpected JSON shape for the `{resource}` list: "
            f"{_sanitize(json.dumps(document, default=str))!r}",
            resource=resource,
        )

    def _params(self, query: Query) -> list[tuple[str, str]]:
        params: list[tuple[str, str]] = []
        display = query.display if isinstance(query.display, str) else f"[{','.join(query.display)}]"
        params.append(("display", display))
        needs_date = False
        for name, value in query.filters.items():
            params.append((f"filter[{name}]", self._render_filter(value)))
            needs_date |= name in _DATE_FIELDS
        if query.sort:
            params.append(("sort", f"[{','.join(query.sort)}]"))
            needs_date |= any(item.rsplit("_", 1)[0] in _DATE_FIELDS for item in query.sort)
        if needs_date:
            # Without date=1 PrestaShop answers 500 (code 32 / 38) to any filter or sort on these fields.
            params.append(("date", "1"))
        if query.language is not None:
            params.append(("language", str(query.language)))
        return params

    def _render_value(self, value: FilterValue) -> str:
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError("filter datetimes must be timezone-aware")
            return value.astimezone(self.shop_timezone()).strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, int):
            return str(value)
        return _check_filter_text(value)

    def _render_filter(self, value: Filter) -> str:
        rendered = [self._render_value(item) for item in value.values]
        match value.op:
            case "equals":
                return f"[{rendered[0]}]"
            case "one_of":
                if not rendered or not rendered[0]:
                    raise ValueError("one_of needs at least one value, the first non-empty")
                return f"[{'|'.join(rendered)}]"
            case "between":
                return f"[{rendered[0]},{rendered[1]}]"
            case "greater":
                return f">[{rendered[0]}]"
            case "less":
                return f"<[{rendered[0]}]"

    # -- generic reads -----------------------------------------------------------------------------------

    def list_raw(self, resource: str, query: Query, *, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Every matching raw object, a page at a time (`limit=offset,count`) until a short page."""
        offset = 0
        yielded = 0
        while limit is None or yielded < limit:
            count = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - yielded)
            rows = self._list_page(resource, [*self._params(query), ("limit", f"{offset},{count}")])
            yield from rows
            yielded += len(rows)
            offset += len(rows)
            if len(rows) < count:
                return

    def _after_id(
        self, resource: str, query: Query, after_id: int, limit: int | None
    ) -> Iterator[dict[str, Any]]:
        """Rows with id > after_id in id order, paged by key (`filter[id]=>[last]`), immune to inserts."""
        last = after_id
        yielded = 0
        while limit is None or yielded < limit:
            count = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - yielded)
            page_query = Query(
                display=_with_fields(query.display, "id"),
                filters={**query.filters, "id": greater_than(last)},
                sort=("id_ASC",),
                language=query.language,
            )
            rows = self._list_page(resource, [*self._params(page_query), ("limit", f"0,{count}")])
            yield from rows
            yielded += len(rows)
            if len(rows) < count:
                return
            last = max(_raw_id(resource, row) for row in rows)

    def _changed_since(
        self,
        resource: str,
        query: Query,
        date_field: str,
        since: datetime,
        until: datetime | None,
        limit: int | None,
    ) -> Iterator[dict[str, Any]]:
        """Rows with since <= date_field (<= until), oldest first, paged by key on (date, id).

        Each page restarts at the last date seen (inclusive), skipping the rows of that second already read,
        so a row that changes while we page moves to the end instead of shifting an offset past another row.
        """
        lower = self._render_value(since)
        upper = self._render_value(until) if until is not None else FAR_FUTURE
        skip = 0
        seen: set[int] = set()
        yielded = 0
        while limit is None or yielded < limit:
            count = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - yielded)
            page_query = Query(
                display=_with_fields(query.display, "id", date_field),
                filters={**query.filters, date_field: Filter("between", (lower, upper))},
                sort=(f"{date_field}_ASC", "id_ASC"),
                language=query.language,
            )
            rows = self._list_page(resource, [*self._params(page_query), ("limit", f"{skip},{count}")])
            for row in rows:
                row_id = _raw_id(resource, row)
                if row_id not in seen:
                    seen.add(row_id)
                    yielded += 1
                    yield row
            if len(rows) < count:
                return
            last = str(rows[-1].get(date_field) or "")
            if last == lower:
                skip += len(rows)
            else:
                lower = last
                skip = sum(1 for row in rows if str(row.get(date_field) or "") == last)

    def get_by_ids(
        self,
        resource: str,
        ids: Iterable[int],
        *,
        chunk: int = ID_CHUNK,
        query: Query | None = None,
        field_name: str = "id",
    ) -> list[dict[str, Any]]:
        """Raw objects whose `field_name` is one of `ids`, batched as `filter[field]=[1|2|3]`: one request
        per `chunk` ids (smaller batches when the URL would grow past a few KB). Ids ≤ 0 are skipped."""
        wanted = sorted({int(i) for i in ids if int(i) > 0})
        base = query or Query()
        out: list[dict[str, Any]] = []
        for batch in _batches(wanted, chunk):
            batch_query = Query(
                display=base.display,
                filters={**base.filters, field_name: one_of(batch)},
                sort=base.sort,
                language=base.language,
            )
            out.extend(self._list_page(resource, self._params(batch_query)))
        return out

    def get_one(
        self, resource: str, object_id: int, *, display: str | None = None, language: int | None = None
    ) -> dict[str, Any] | None:
        """One raw object by id (`GET /api/{resource}/{id}`), None if the shop says 404.

        Without `display` the 8.x shop drops falsy fields (the parser restores them); with it the answer
        takes the plural list form, which is handled too.
        """
        params: list[tuple[str, str]] = []
        if display is not None:
            params.append(("display", display))
        if language is not None:
            params.append(("language", str(language)))
        document = self._get_json(resource, f"{resource}/{int(object_id)}", params)
        if document is None:
            return None
        if isinstance(document, dict):
            single = document.get(_SINGLE_KEYS.get(resource, resource.removesuffix("s")))
            if isinstance(single, dict):
                return single
            plural = document.get(_LIST_KEYS.get(resource, resource))
            if isinstance(plural, list) and len(plural) == 1 and isinstance(plural[0], dict):
                return plural[0]
            values = [v for k, v in document.items() if k != "errors"]
            if len(values) == 1 and isinstance(values[0], dict):
                return values[0]
        if document in ([], {}):
            return None
        raise ShopResponseError(
            f"the shop sent an unexpected JSON shape for {resource} {object_id}: "
            f"{_sanitize(json.dumps(document, default=str))!r}",
            resource=resource,
        )

    # -- shop settings ---------------------------------------------------------------------------------

    def configuration(self, names: Iterable[str]) -> dict[str, str | None]:
        """Values of configuration keys in one request; None for a key the shop does not have.

        Shop-specific values (multishop) are ignored in favour of the global one when both exist.
        """
        wanted = list(dict.fromkeys(names))
        result: dict[str, str | None] = dict.fromkeys(wanted)
        if not wanted:
            return result
        query = Query(display=("id", "name", "value", "id_shop", "id_shop_group"), sort=("id_ASC",))
        rows = self.get_by_ids_text("configurations", wanted, query=query, field_name="name")
        chosen: dict[str, tuple[bool, str | None]] = {}
        for row in rows:
            name = row.get("name")
            if not isinstance(name, str) or name not in result:
                continue
            value = row.get("value")
            is_global = not row.get("id_shop") and not row.get("id_shop_group")
            text = None if value is None else str(value)
            if name not in chosen or (is_global and not chosen[name][0]):
                chosen[name] = (is_global, text)
        for name, (_, text) in chosen.items():
            result[name] = text
        return result

    def get_by_ids_text(
        self, resource: str, values: Iterable[str], *, query: Query, field_name: str
    ) -> list[dict[str, Any]]:
        """Like `get_by_ids`, for text keys (configuration names, order references)."""
        wanted = [_check_filter_text(v) for v in dict.fromkeys(values) if v]
        out: list[dict[str, Any]] = []
        for batch in _batches(wanted, ID_CHUNK):
            batch_query = Query(
                display=query.display,
                filters={**query.filters, field_name: one_of(batch)},
                sort=query.sort,
                language=query.language,
            )
            out.extend(self._list_page(resource, self._params(batch_query)))
        return out

    def shop_timezone(self) -> ZoneInfo:
        """The shop's PS_TIMEZONE: the zone of every date the webservice sends. Read once, then cached."""
        if self._timezone is None:
            name = self.configuration(["PS_TIMEZONE"])["PS_TIMEZONE"]
            if not name:
                raise ShopResponseError(
                    "the shop has no PS_TIMEZONE setting, so its dates cannot be placed in time: set "
                    "SHOP_TIMEZONE",
                    resource="configurations",
                )
            self._timezone = _zone(name)
        return self._timezone

    def permissions(self) -> dict[str, set[str]]:
        """Which methods the key may use on which resource, read from the API root (XML, the only form
        that works on PHP 8: the JSON root crashes with HTTP 500)."""
        response = self._request("", [], "api")
        root = _parse_xml(response.content)
        api = root.find("api") if root is not None else None
        if api is None:
            raise ShopResponseError(
                f"the shop's API root is not the XML resource list: {_sanitize(response.text)!r}",
                resource="api",
                status=response.status_code,
            )
        granted: dict[str, set[str]] = {}
        for element in api:
            methods = {name.upper() for name, value in element.attrib.items() if value == "true"}
            methods &= {"GET", "PUT", "POST", "PATCH", "DELETE", "HEAD"}
            granted[element.tag] = methods
        return granted

    def ping(self) -> str | None:
        """Check the URL, the key and TLS with one request; returns the PrestaShop version if sent."""
        self.permissions()
        return self._version

    # -- typed reads ---------------------------------------------------------------------------------

    def _parse(
        self, rows: Iterable[Mapping[str, Any]], parser: Callable[..., T], language: int | None = None
    ) -> list[T]:
        tz = self.shop_timezone()
        return [parser(row, tz=tz, language=language) for row in rows]

    def _select(
        self,
        resource: str,
        query: Query,
        *,
        ids: Iterable[int] | None = None,
        after_id: int | None = None,
        changed_since: datetime | None = None,
        changed_until: datetime | None = None,
        limit: int | None = None,
        date_field: str = "date_upd",
    ) -> Iterable[dict[str, Any]]:
        chosen = [
            name
            for name, v in (("ids", ids), ("after_id", after_id), ("changed_since", changed_since))
            if v is not None
        ]
        if len(chosen) > 1:
            raise ValueError(f"choose one of ids, after_id, changed_since (got {', '.join(chosen)})")
        if changed_until is not None and changed_since is None:
            raise ValueError("changed_until needs changed_since")
        if ids is not None:
            return self.get_by_ids(resource, ids, query=query)
        if changed_since is not None:
            return self._changed_since(resource, query, date_field, changed_since, changed_until, limit)
        return self._after_id(resource, query, after_id or 0, limit)

    def orders(
        self,
        *,
        ids: Iterable[int] | None = None,
        after_id: int | None = None,
        changed_since: datetime | None = None,
        changed_until: datetime | None = None,
        cart_ids: Iterable[int] | None = None,
        references: Iterable[str] | None = None,
        fields: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[Order]:
        """Orders by id, after an id (new orders), changed in [since, until] (inclusive), by cart, or by
        reference (all orders of a multi-shipment checkout share one).

        With `fields`, only those fields are fetched; the others hold their zero value in the records.
        """
        query = Query(display=_display(fields))
        selectors = (ids, after_id, changed_since, cart_ids, references)
        if (cart_ids is not None or references is not None) and sum(v is not None for v in selectors) > 1:
            raise ValueError("cart_ids and references cannot be combined with another selector")
        if references is not None:
            rows: Iterable[dict[str, Any]] = self.get_by_ids_text(
                "orders",
                references,
                query=Query(display=_with_fields(query.display, "reference")),
                field_name="reference",
            )
        elif cart_ids is not None:
            rows = self.get_by_ids(
                "orders",
                cart_ids,
                query=Query(display=_with_fields(query.display, "id_cart")),
                field_name="id_cart",
            )
        else:
            rows = self._select(
                "orders",
                query,
                ids=ids,
                after_id=after_id,
                changed_since=changed_since,
                changed_until=changed_until,
                limit=limit,
            )
        return self._parse(rows, parse_order)

    def parse_orders(self, rows: Iterable[Mapping[str, Any]]) -> list[Order]:
        """Orders from raw rows read with `list_raw` / `get_by_ids` (dates in the shop's time zone)."""
        return self._parse(rows, parse_order)

    def order(self, order_id: int) -> Order | None:
        """One order by id (a single GET), None if it does not exist."""
        raw = self.get_one("orders", order_id)
        return None if raw is None else self._parse([raw], parse_order)[0]

    def order_histories(
        self,
        *,
        after_id: int | None = None,
        order_ids: Iterable[int] | None = None,
        limit: int | None = None,
    ) -> list[OrderHistory]:
        """State changes after an id (the cheapest change feed), or all of some orders'."""
        if order_ids is not None:
            if after_id is not None:
                raise ValueError("choose after_id or order_ids")
            rows: Iterable[dict[str, Any]] = self.get_by_ids(
                "order_histories", order_ids, field_name="id_order"
            )
        else:
            rows = self._after_id("order_histories", Query(), after_id or 0, limit)
        return self._parse(rows, parse_order_history)

    def order_states(self, *, language: int | None = None) -> list[OrderState]:
        query = Query(language=language)
        return self._parse(self.list_raw("order_states", query), parse_order_state, language)

    def order_payments(
        self,
        *,
        after_id: int | None = None,
        references: Iterable[str] | None = None,
        limit: int | None = None,
    ) -> list[OrderPayment]:
        """Payments after an id, or those of some order references (payments have no id_order)."""
        if references is not None:
            if after_id is not None:
                raise ValueError("choose after_id or references")
            rows: Iterable[dict[str, Any]] = self.get_by_ids_text(
                "order_payments", references, query=Query(), field_name="order_reference"
            )
        else:
            rows = self._after_id("order_payments", Query(), after_id or 0, limit)
        return self._parse(rows, parse_order_payment)

    def order_carriers(
        self, order_ids: Iterable[int], *, fields: Sequence[str] | None = None
    ) -> list[OrderCarrier]:
        """The carrier rows of some orders; with `fields`, only those (the others hold their zero value)."""
        query = Query(display=_display(fields))
        rows = self.get_by_ids("order_carriers", order_ids, field_name="id_order", query=query)
        return self._parse(rows, parse_order_carrier)

    def order_details(self, order_ids: Iterable[int]) -> list[OrderDetail]:
        rows = self.get_by_ids("order_details", order_ids, field_name="id_order")
        return self._parse(rows, parse_order_detail)

    def carts(
        self,
        *,
        ids: Iterable[int] | None = None,
        after_id: int | None = None,
        changed_since: datetime | None = None,
        changed_until: datetime | None = None,
        limit: int | None = None,
    ) -> list[Cart]:
        """Carts by id, after an id, or changed in [since, until] (the abandoned-cart window)."""
        rows = self._select(
            "carts",
            Query(),
            ids=ids,
            after_id=after_id,
            changed_since=changed_since,
            changed_until=changed_until,
            limit=limit,
        )
        return self._parse(rows, parse_cart)

    def customers(self, ids: Iterable[int]) -> list[Customer]:
        return self._parse(self.get_by_ids("customers", ids), parse_customer)

    def addresses(self, ids: Iterable[int]) -> list[Address]:
        return self._parse(self.get_by_ids("addresses", ids), parse_address)

    def countries(self, ids: Iterable[int], *, language: int | None = None) -> list[Country]:
        rows = self.get_by_ids("countries", ids, query=Query(language=language))
        return self._parse(rows, parse_country, language)

    def currencies(self) -> list[Currency]:
        return self._parse(self.list_raw("currencies", Query()), parse_currency)

    def languages(self) -> list[Language]:
        return self._parse(self.list_raw("languages", Query()), parse_language)

    def carriers(self, ids: Iterable[int], *, language: int | None = None) -> list[Carrier]:
        rows = self.get_by_ids("carriers", ids, query=Query(language=language))
        return self._parse(rows, parse_carrier, language)

    def products(
        self,
        *,
        ids: Iterable[int] | None = None,
        after_id: int | None = None,
        language: int | None = None,
        limit: int | None = None,
    ) -> list[Product]:
        """Products by id, or created after an id (the new-products feed)."""
        query = Query(language=language)
        rows = self._select("products", query, ids=ids, after_id=after_id, limit=limit)
        return self._parse(rows, parse_product, language)

    # -- carts and what they hold ------------------------------------------------------------------

    def carts_changed(self, since: datetime, until: datetime | None = None) -> list[Cart]:
        """Carts of known customers (`id_customer` > 0) whose `date_upd` is in [since, until], oldest change
        first (then by id), paged. Light records: ids, language, currency and dates; no rows."""
        query = Query(display=_CART_FIELDS_LIGHT, filters={"id_customer": greater_than(0)})
        rows = self._changed_since("carts", query, "date_upd", since, until, None)
        return self._parse(rows, parse_cart)

    def orders_placed_by(self, customer_ids: Iterable[int], since: datetime) -> list[Order]:
        """Orders these customers placed at or after `since` (a reminder stops once the customer ordered,
        from any cart). Only `id`, `id_cart`, `id_customer` and `date_add` are read; the rest of each record
        holds zero values. Batched as `filter[id_customer]=[1|2|...]`, in id order."""
        query = Query(
            display=_PLACED_ORDER_FIELDS,
            filters={"date_add": between(since, FAR_FUTURE)},
        )
        rows = self.get_by_ids("orders", customer_ids, query=query, field_name="id_customer")
        return sorted(self._parse(rows, parse_order), key=lambda order: order.id)

    def cart_products(self, lines: Iterable[tuple[int, int]], *, currency_id: int) -> dict[int, CartProduct]:
        """Products of cart lines `(product_id, combination_id)`, priced by the shop tax included in
        `currency_id`, by product id. Products the shop no longer has are absent.

        The prices are PrestaShop's own (`price[pN][...]` virtual fields, one alias per distinct combination
        id, 6 decimals), so tax rules and currency rates are the shop's. Up to 100 products per request,
        fewer when the aliases would make the URL too long.
        """
        wanted = sorted(
            {(int(product), max(0, int(attribute))) for product, attribute in lines if product > 0}
        )
        found: dict[int, CartProduct] = {}
        for batch in self._price_batches(wanted, currency_id):
            aliases = {f"p{attribute}": attribute for attribute in sorted({a for _, a in batch})}
            asked: dict[int, set[int]] = {}
            for product, attribute in batch:
                asked.setdefault(product, set()).add(attribute)
            params = self._priced_params(sorted(asked), aliases, currency_id)
            for row in self._list_page("products", params):
                product_id = _raw_id("products", row)
                fields = {alias: a for alias, a in aliases.items() if a in asked.get(product_id, set())}
                # No date is read here, so the shop's time zone (one more request) is not needed.
                record = parse_cart_product(row, tz=ZoneInfo("UTC"), price_fields=fields)
                earlier = found.get(product_id)
                if earlier is not None:
                    record = dataclasses.replace(record, prices={**earlier.prices, **record.prices})
                found[product_id] = record
        return found

    def _priced_params(
        self, product_ids: Sequence[int], aliases: Mapping[str, int], currency_id: int
    ) -> list[tuple[str, str]]:
        query = Query(display=(*_CART_PRODUCT_FIELDS, *aliases), filters={"id": one_of(product_ids)})
        params = self._params(query)
        for alias, attribute in aliases.items():
            # decimals is sent: its default is PS_PRICE_ROUND_MODE (2 on most shops), not 6.
            params.append((f"price[{alias}][use_tax]", "1"))
            params.append((f"price[{alias}][currency]", str(int(currency_id))))
            params.append((f"price[{alias}][decimals]", "6"))
            if attribute:
                params.append((f"price[{alias}][product_attribute]", str(attribute)))
        return params

    def _price_batches(
        self, lines: Sequence[tuple[int, int]], currency_id: int
    ) -> Iterator[list[tuple[int, int]]]:
        """Groups of lines whose priced read fits in one URL: at most ID_CHUNK products, MAX_QUERY_CHARS."""
        batch: list[tuple[int, int]] = []
        for line in lines:
            candidate = [*batch, line]
            products = sorted({product for product, _ in candidate})
            aliases = {f"p{a}": a for a in sorted({a for _, a in candidate})}
            size = len(urlencode(self._priced_params(products, aliases, currency_id)))
            if batch and (len(products) > ID_CHUNK or size > MAX_QUERY_CHARS):
                yield batch
                candidate = [line]
            batch = candidate
        if batch:
            yield batch

    # -- discount codes (the one write) ---------------------------------------------------------------

    def can_create_cart_rules(self) -> bool:
        """Whether the key may POST `cart_rules` (read from the API root, as `bridge check` reads it)."""
        return "POST" in self.permissions().get("cart_rules", set())

    def find_cart_rule(self, code: str) -> int | None:
        """The id of the cart rule with this exact code, if the shop has one (e.g. after a lost answer)."""
        query = Query(display=("id", "code"), filters={"code": equals(code)})
        rows = self._list_page("cart_rules", self._params(query))
        ids = [_raw_id("cart_rules", row) for row in rows if row.get("code") == code]
        return min(ids) if ids else None

    def create_cart_rule(self, spec: CartRuleSpec) -> int:
        """Create a discount code in the shop (`POST /api/cart_rules`, an XML body) and return its id.

        **Never retried**: when the shop fails (5xx) or does not answer in time, it may have created the code
        all the same, and a second POST would create a second one. `find_cart_rule(spec.code)` tells.

        Raises ShopPermissionError when the key may not POST cart_rules (the message says where to tick it),
        ShopAuthError / ShopDisabled as every read does, and ShopRequestError for everything else: the shop
        refused the rule (validation codes 41/84/85), failed, timed out or sent an unreadable answer.
        """
        if self._form is None:
            self.permissions()  # learn the URL form with a GET, so the POST is sent only once
        body = self._cart_rule_xml(spec)
        failure: ShopError | None = None
        try:
            response = self._request("cart_rules", [], "cart_rules", method="POST", body=body)
        except ShopError as error:
            failure = error
        # Raised outside the `except` block, like every read's errors: nothing of the exchange is chained.
        if failure is not None:
            raise _creation_error(failure)
        created = _created_id(response)
        if created is None:
            raise ShopRequestError(
                f"the shop answered the new discount code with HTTP {response.status_code} but no id "
                f"({_sanitize(response.text)!r}); the code may exist: look for {spec.code!r} under Catalog → "
                "Discounts",
                resource="cart_rules",
                status=response.status_code,
            )
        log.info("created cart rule #%s", created)
        return created

    def _cart_rule_xml(self, spec: CartRuleSpec) -> bytes:
        """The POST body: every field of the rule, since the webservice stores a left-out field as 0."""
        tz = self.shop_timezone()

        def flag(value: bool) -> str:
            return "1" if value else "0"

        def amount(value: Decimal | None) -> str:
            return "0" if value is None else f"{value:f}"

        fields: list[tuple[str, str]] = [
            ("id_customer", str(spec.id_customer)),
            ("date_from", spec.date_from.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")),
            ("date_to", spec.date_to.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")),
            ("description", spec.description),
            ("quantity", str(spec.quantity)),
            ("quantity_per_user", str(spec.quantity_per_user)),
            ("priority", str(spec.priority)),
            ("partial_use", flag(spec.partial_use)),
            ("code", spec.code),
            ("minimum_amount", amount(spec.minimum_amount)),
            ("minimum_amount_tax", flag(spec.minimum_amount_tax)),
            ("minimum_amount_currency", str(spec.minimum_amount_currency)),
            ("minimum_amount_shipping", flag(spec.minimum_amount_shipping)),
            ("country_restriction", "0"),
            ("carrier_restriction", "0"),
            ("group_restriction", "0"),
            ("cart_rule_restriction", "0"),
            ("product_restriction", "0"),
            ("shop_restriction", "0"),
            ("free_shipping", flag(spec.free_shipping)),
            ("reduction_percent", amount(spec.reduction_percent)),
            ("reduction_amount", amount(spec.reduction_amount)),
            ("reduction_tax", flag(spec.reduction_tax)),
            ("reduction_currency", str(spec.reduction_currency)),
            ("reduction_product", "0"),
            ("reduction_exclude_special", "0"),
            ("gift_product", "0"),
            ("gift_product_attribute", "0"),
            ("highlight", flag(spec.highlight)),
            ("active", flag(spec.active)),
        ]
        root = ElementTree.Element("prestashop")
        rule = ElementTree.SubElement(root, "cart_rule")
        for name, text in fields:
            ElementTree.SubElement(rule, name).text = text
        names = ElementTree.SubElement(rule, "name")
        for language_id, text in spec.names.items():
            ElementTree.SubElement(names, "language", id=str(int(language_id))).text = text
        document: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
        return document


# ----------------------------------------------------------------------------------------------------
# Module helpers
# ----------------------------------------------------------------------------------------------------


def _split_base_url(base_url: str) -> tuple[str, Form | None]:
    """The shop root (no credentials, query or trailing slash) and the URL form if the URL names one."""
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {_sanitize(parts.geturl())!r}")
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    path = parts.path.rstrip("/")
    form: Form | None = None
    if path.endswith("/webservice/dispatcher.php"):
        path, form = path.removesuffix("/webservice/dispatcher.php"), "dispatcher"
    elif path.endswith("/api"):
        path, form = path.removesuffix("/api"), "api"
    return urlunsplit((parts.scheme, netloc, path, "", "")), form


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ShopResponseError(
            f"the shop's time zone {_sanitize(name)!r} (PS_TIMEZONE) is not a known IANA zone",
            resource="configurations",
        ) from None


def _display(fields: Sequence[str] | None) -> str | tuple[str, ...]:
    if fields is None:
        return "full"
    return _with_fields(tuple(fields), "id")


def _with_fields(display: str | tuple[str, ...], *needed: str) -> str | tuple[str, ...]:
    """A display list that surely contains `needed` (paging needs the id and the date it pages on)."""
    if isinstance(display, str):
        return display
    return (*display, *(name for name in needed if name not in display))


def _raw_id(resource: str, row: Mapping[str, Any]) -> int:
    value = row.get("id")
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ShopResponseError(
            f"the shop sent a {resource} object without a valid id: {_sanitize(repr(value))}",
            resource=resource,
        ) from None


def _creation_error(failure: ShopError) -> ShopError:
    """What a failed `POST cart_rules` becomes for the caller (see `ShopClient.create_cart_rule`)."""
    if isinstance(failure, ShopPermissionError):
        return ShopPermissionError(
            f"the API key may not create discount codes (POST on `cart_rules`, HTTP {failure.status}): in "
            "the back office open Advanced Parameters → Webservice → edit the key → tick POST for "
            "`cart_rules`, or use a shared code instead of one per customer",
            resource="cart_rules",
            status=failure.status,
        )
    if isinstance(failure, ShopAuthError | ShopDisabled | ShopRequestError):
        return failure
    return ShopRequestError(
        "creating the discount code failed and was not retried, because the shop may have created it "
        f"anyway: {failure}",
        resource="cart_rules",
        status=failure.status,
    )


def _created_id(response: requests.Response) -> int | None:
    """The id in a POST's answer: `<prestashop><cart_rule><id>` (XML) or `{"cart_rule":{"id":N}}` (JSON)."""
    body = response.content.strip()
    value: object = None
    if body.startswith(b"{"):
        try:
            document = json.loads(body)
        except ValueError:
            return None
        single = document.get("cart_rule") if isinstance(document, dict) else None
        value = single.get("id") if isinstance(single, dict) else None
    else:
        root = _parse_xml(body)
        found = root.find("./cart_rule/id") if root is not None else None
        value = (found.text or "").strip() if found is not None else None
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    try:
        created = int(value)
    except ValueError:
        return None
    return created if created > 0 else None


def _batches(values: Sequence[T], chunk: int) -> Iterator[list[T]]:
    """Split into batches of at most `chunk` values whose `a|b|c` rendering stays under MAX_FILTER_CHARS."""
    batch: list[T] = []
    size = 0
    for value in values:
        # Each value is percent-encoded in the URL; `|` becomes `%7C` (3 characters).
        cost = len(str(value)) * 3 + 3
        if batch and (len(batch) >= max(1, chunk) or size + cost > MAX_FILTER_CHARS):
            yield batch
            batch, size = [], 0
        batch.append(value)
        size += cost
    if batch:
        yield batch
