"""The unsubscribe endpoint's answers, as a WSGI application: one request in, one page out.

- GET and HEAD show what the button would do and never unsubscribe: link scanners, spam filters and mail
  previews fetch every URL in a message.
- POST unsubscribes when the body is a mail provider's one-click form (`List-Unsubscribe=One-Click`,
  RFC 8058, urlencoded or multipart) or the page's own button (`confirm=1`); no cookie, no second step.
- Any other method gets 405 with Allow; every answer carries the security headers of bridge.web.pages.
- A token names an address and unsubscribes it, so no log line shows one: the query's values are masked.

The server in front (bridge/web/serving.py) has already refused malformed framing (a bad Content-Length,
any Transfer-Encoding, oversized headers), so the app reads at most MAX_BODY bytes of a body it knows the
length of. What the app needs from the bridge (who a token names, the store) comes through `Endpoint`.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from email import policy as email_policy
from email.parser import BytesParser
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal, Protocol
from urllib.parse import parse_qs

from bridge.errors import StoreError
from bridge.model.headers import mask_email
from bridge.secret import REDACTED
from bridge.web.pages import SECURITY_HEADERS, choose_language, render

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

# The endpoint's own name: LOG_LEVEL=DEBUG shows one line per request under it.
log = logging.getLogger("bridge.web.unsubscribe")

MAX_BODY: Final = 4096  # a one-click POST is 26 bytes, the page's form 9
MAX_FIELDS: Final = 20  # query or form fields parsed; a real request has two
RETRY_AFTER: Final = "120"
ALLOWED_METHODS: Final = "GET, HEAD, POST"
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SHORT_WORD: Final = re.compile(r"[A-Za-z_-]{1,16}")  # a field name or a language, never a token


class Endpoint(Protocol):
    """What the app asks of the bridge (bridge.web.unsubscribe.UnsubscribeServer answers)."""

    shop_name: str

    def address(self, token: str) -> str | None:
        """The address a link's token names; None for a token this bridge did not sign."""

    def lookup(self, email: str) -> object | None:
        """The record when `email` is already unsubscribed, else None; StoreError if the store cannot say."""

    def record(self, email: str, source: Literal["one-click", "link"]) -> bool:
        """Unsubscribe `email` in its own transaction; StoreError when the store cannot."""


@dataclass(frozen=True)
class Page:
    """One answer: a status and which page of bridge.web.pages says it."""

    status: HTTPStatus
    name: str
    address: str = ""
    extra: tuple[str, ...] = ()
    button: bool = False
    headers: tuple[tuple[str, str], ...] = ()


class _BadBody(Exception):
    pass


class _BodyTooLarge(Exception):
    pass


class UnsubscribeApp:
    """The WSGI application behind UNSUBSCRIBE_URL."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        query = _fields(str(environ.get("QUERY_STRING", "")))
        page = self._guarded(method, query, environ)
        language = choose_language(_first(query, "l"), environ.get("HTTP_ACCEPT_LANGUAGE"))
        body = render(
            language,
            self.endpoint.shop_name,
            page.name,
            address=page.address,
            extra=page.extra,
            button=page.button,
        )
        headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(body))),  # for HEAD too: the length GET would send
            ("Content-Language", language),
            *SECURITY_HEADERS,
            *page.headers,
        ]
        start_response(f"{page.status.value} {page.status.phrase}", headers)
        log.debug("unsubscribe endpoint: %s %s %d", _printable(method)[:20], _target(environ), page.status)
        return [b"" if method == "HEAD" else body]

    def _guarded(self, method: str, query: dict[str, list[str]], environ: WSGIEnvironment) -> Page:
        """The route's page; a store that cannot answer is a 503 the provider retries, anything else a 500."""
        try:
            if method in ("GET", "HEAD"):
                return self._show(query)
            if method == "POST":
                return self._post(query, environ)
            return Page(HTTPStatus.METHOD_NOT_ALLOWED, "method", headers=(("Allow", ALLOWED_METHODS),))
        except StoreError as error:
            log.warning("unsubscribe endpoint: the state store is unavailable: %s", error)
            retry = (("Retry-After", RETRY_AFTER),)
            return Page(HTTPStatus.SERVICE_UNAVAILABLE, "unavailable", headers=retry)
        except Exception as error:
            # Only the type and the place: an exception's text may quote the address it was handling.
            where = traceback.extract_tb(error.__traceback__)[-1]
            log.error(
                "unsubscribe endpoint: %s at %s:%s while answering a %s",
                type(error).__name__,
                Path(where.filename).name,
                where.lineno,
                _printable(method),
            )
            return Page(HTTPStatus.INTERNAL_SERVER_ERROR, "error")

    def _email(self, query: dict[str, list[str]]) -> str | None:
        values = query.get("t", [])
        if len(set(values)) != 1:
            return None
        return self.endpoint.address(values[0])

    def _show(self, query: dict[str, list[str]]) -> Page:
        """GET/HEAD: say what the button would do; never unsubscribe."""
        email = self._email(query)
        if email is None:
            return Page(HTTPStatus.BAD_REQUEST, "bad")
        if self.endpoint.lookup(email) is not None:
            return Page(HTTPStatus.OK, "already", address=mask_email(email), extra=("orders",))
        return Page(HTTPStatus.OK, "confirm", address=mask_email(email), extra=("orders",), button=True)

    def _post(self, query: dict[str, list[str]], environ: WSGIEnvironment) -> Page:
        try:
            form = _form(environ)
        except _BodyTooLarge:
            return Page(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "too_large")
        except _BadBody:
            return Page(HTTPStatus.BAD_REQUEST, "bad")
        email = self._email(query)
        one_click = any(v.strip().lower() == "one-click" for v in form.get("List-Unsubscribe", []))
        confirmed = any(v.strip() == "1" for v in form.get("confirm", []))
        if email is None or not (one_click or confirmed):
            return Page(HTTPStatus.BAD_REQUEST, "bad")
        # RFC 8058: the one-click POST needs nothing else (no cookie, no second step).
        self.endpoint.record(email, "one-click" if one_click else "link")
        return Page(HTTPStatus.OK, "done", address=mask_email(email), extra=("orders",))


# --- request parts -------------------------------------------------------------------------------------


def _fields(text: str) -> dict[str, list[str]]:
    try:
        return parse_qs(text, max_num_fields=MAX_FIELDS)
    except ValueError:  # more fields than any real request has
        return {}


def _first(fields: dict[str, list[str]], name: str) -> str | None:
    values = fields.get(name)
    return values[0] if values else None


def _form(environ: WSGIEnvironment) -> dict[str, list[str]]:
    """The POSTed fields, urlencoded or multipart/form-data (RFC 8058 allows both), at most MAX_BODY."""
    length_text = str(environ.get("CONTENT_LENGTH") or "0")
    if not (length_text.isascii() and length_text.isdigit()):  # the server refused these already
        raise _BadBody
    if len(length_text) > 9 or int(length_text) > MAX_BODY:
        raise _BodyTooLarge
    body = environ["wsgi.input"].read(int(length_text))
    if not isinstance(body, bytes):
        raise _BadBody
    content_type = str(environ.get("CONTENT_TYPE", ""))
    try:
        if content_type.split(";")[0].strip().lower() == "multipart/form-data":
            return _multipart_fields(content_type, body)
        return parse_qs(body.decode("utf-8"), max_num_fields=MAX_FIELDS)
    except (ValueError, UnicodeDecodeError):
        raise _BadBody from None


def _multipart_fields(content_type: str, body: bytes) -> dict[str, list[str]]:
    """Fields of a small multipart/form-data body, parsed by the standard library's MIME parser."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=email_policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise ValueError("not a multipart body")
    fields: dict[str, list[str]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields.setdefault(name, []).append(payload.decode("utf-8"))
    return fields


# --- logs ----------------------------------------------------------------------------------------------


def _target(environ: WSGIEnvironment) -> str:
    """Path and query for the log, every query value but the language masked: `t=` names an address."""
    path = _printable(str(environ.get("PATH_INFO", "")))[:200]
    query = str(environ.get("QUERY_STRING", ""))
    if not query:
        return path
    shown = []
    for item in query.split("&")[:MAX_FIELDS]:
        name, equals, value = item.partition("=")
        if not equals or not _SHORT_WORD.fullmatch(name):
            shown.append(REDACTED)
        else:
            shown.append(f"{name}={value if name == 'l' and _SHORT_WORD.fullmatch(value) else REDACTED}")
    return f"{path}?{'&'.join(shown)}"


def _printable(text: str) -> str:
    """Control characters out of a log line (a request may carry any byte)."""
    return _CONTROL.sub("?", text)
