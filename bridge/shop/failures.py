"""Turns a failed exchange with the shop (HTTP status, PrestaShop error code, unreadable JSON, socket or TLS
failure) into one ShopError in the owner's words, so every read and write reports a problem the same way.

The first contact fails in ways an owner fixes in PRESTASHOP_URL, and each gets its own one line: a host
that does not resolve or refuses, https:// in front of a plain-http server, http:// that the shop
redirects to https://, a certificate that is not trusted (only then is REQUESTS_CA_BUNDLE the answer), and
an address where something other than PrestaShop's webservice answers.

JSON nested absurdly deep or holding numbers far beyond any price or id (`bridge.shop.jsonsafe`) is refused
like the other answers no real shop gives (`bridge.shop.bounds`), and not retried within the read.
"""

from __future__ import annotations

import re
import ssl
import unicodedata
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterator
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import requests

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
from bridge.shop import jsonsafe

SNIPPET_CHARS: Final = 80

# Errors PrestaShop gives for a request it considers wrong (Appendix A): deterministic, never retried.
_REQUEST_CODES: Final = frozenset({23, 41, 78, 79, 80, 81, 86, 101, *range(27, 40)})
_PHP_CODES: Final = frozenset(range(2, 16))
_PHP_NOTICE: Final = re.compile(rb"<b>(Warning|Notice|Deprecated|Fatal error|Parse error)</b>:")


class Transient(Exception):
    """A failure worth retrying; carries the error to raise when the retries run out."""

    def __init__(self, error: ShopError) -> None:
        super().__init__(str(error))
        self.error = error


def sanitize(text: str, limit: int = SNIPPET_CHARS) -> str:
    """A short, printable, one-line excerpt of something the shop sent (for error messages); only the
    start of a long text is looked at, so a huge answer costs no more than a short one."""
    text = text[: max(4 * limit, 2000)]
    cleaned = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text)
    cleaned = re.sub(r"\s+", " ", cleaned).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def _strip_tags(text: str) -> str:
    return re.sub(r"<[^>]*>", " ", text)


def is_webservice(response: requests.Response) -> bool:
    """Did PrestaShop's webservice (not a web server's or the shop front's page) give this answer?"""
    headers = response.headers
    return (
        "PSWS-Version" in headers
        or headers.get("X-Powered-By", "") == "PrestaShop Webservice"
        or "PrestaShop Webservice" in headers.get("WWW-Authenticate", "")
    )


def parse_xml(body: bytes) -> ElementTree.Element | None:
    # The body comes from the shop the owner configured, and expat >= 2.4.1 (Python 3.11 bundles 2.5) refuses
    # entity-expansion bombs and never fetches external entities, so the stdlib parser is safe enough here.
    try:
        return ElementTree.fromstring(body)  # noqa: S314
    except ElementTree.ParseError:
        return None


def _ps_errors(response: requests.Response) -> list[tuple[int, str]]:
    """The `errors` PrestaShop put in a JSON or XML body, as (code, message); [] if there are none."""
    body = response.content.strip()
    if not body:
        return []
    found: list[tuple[int, str]] = []
    if body.startswith(b"{"):
        try:
            document = jsonsafe.loads(body)
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
        root = parse_xml(body)
        if root is None:
            return []
        for error in root.iter("error"):
            try:
                code = int((error.findtext("code") or "0").strip())
            except ValueError:
                code = 0
            found.append((code, (error.findtext("message") or "").strip()))
    return found


# ----------------------------------------------------------------------------------------------------
# An HTTP answer that is not a success
# ----------------------------------------------------------------------------------------------------


def raise_for_status(response: requests.Response, method: str, resource: str, root: str) -> None:
    """Raise the owner's error for a failed answer (a `Transient` one for a 5xx); return on success."""
    status = response.status_code
    if status < 300 or (status == 404 and is_webservice(response)):
        return
    if 300 <= status < 400 and method not in ("GET", "HEAD"):
        target = sanitize(response.headers.get("Location", "") or "another address", 120)
        raise ShopRequestError(
            f"the shop redirected the {method} on `{resource}` (HTTP {status}) to {target}: set "
            "PRESTASHOP_URL to the address the shop redirects to",
            resource=resource,
            status=status,
        )
    errors = _ps_errors(response)
    refusal = _refusal(response, method, resource, root, errors)
    if refusal is not None:
        raise refusal
    raise _failure(response, method, resource, errors)


def _refusal(
    response: requests.Response, method: str, resource: str, root: str, errors: list[tuple[int, str]]
) -> ShopError | None:
    """The shop said no to the key, the method or the whole webservice: the owner has a setting to change."""
    status = response.status_code
    codes = {code for code, _ in errors}
    where = f"Advanced Parameters → Webservice → edit the key → tick {method} for `{resource}`"
    if status == 401 and 26 in codes:
        return ShopPermissionError(
            f"the API key may not read `{resource}` (HTTP 401, code 26): in the back office open {where}",
            resource=resource,
            status=status,
        )
    if status == 401:
        return _auth_error(response, resource, root, errors)
    if status == 403 and 132 in codes:
        return ShopPermissionError(
            "the API key is not allowed on this shop (HTTP 403, code 132): in Advanced Parameters → "
            "Webservice, edit the key and tick this shop under Shop association",
            resource=resource,
            status=status,
        )
    if status == 405 and (25 in codes or not response.content.strip()):
        return ShopPermissionError(
            f"the API key may not use {method} on `{resource}` (HTTP 405): in the back office open {where}",
            resource=resource,
            status=status,
        )
    if status == 503 and 22 in codes:
        return ShopDisabled(
            "the shop's webservice is switched off (HTTP 503, code 22): enable it in Advanced Parameters "
            "→ Webservice → Enable PrestaShop's webservice",
            resource=resource,
            status=status,
        )
    return None


def _auth_error(
    response: requests.Response, resource: str, root: str, errors: list[tuple[int, str]]
) -> ShopAuthError:
    codes = {code for code, _ in errors}
    if codes:
        shown = "/".join(str(code) for code in sorted(codes))
        detail = f"HTTP 401, code {shown}: {sanitize(errors[0][1])}"
    else:
        detail = (
            "HTTP 401 without a webservice answer: the key did not reach PrestaShop; if it is right, "
            "the web server may be dropping the Authorization header"
        )
        final = urlsplit(response.url)
        if response.history and final.netloc != urlsplit(root).netloc:
            # requests drops the Authorization header on a redirect to another host.
            detail += f", or the redirect to {final.scheme}://{final.netloc} (use that address)"
    return ShopAuthError(
        f"PrestaShop refused the API key ({detail}): check PRESTASHOP_API_KEY and that the key is "
        "enabled in Advanced Parameters → Webservice",
        resource=resource,
        status=response.status_code,
    )


def _failure(
    response: requests.Response, method: str, resource: str, errors: list[tuple[int, str]]
) -> ShopError | Transient:
    """A request the shop rejected, a server failure (worth a retry), or an answer that makes no sense."""
    status = response.status_code
    codes = {code for code, _ in errors}
    first = sanitize(errors[0][1]) if errors else ""
    if codes & _REQUEST_CODES:
        code = min(codes & _REQUEST_CODES)
        message = next(text for number, text in errors if number == code)
        return ShopRequestError(
            f"the shop rejected the bridge's request for `{resource}` (HTTP {status}, code {code}: "
            f"{sanitize(message)}); this is a bridge bug or an unsupported PrestaShop version",
            resource=resource,
            status=status,
        )
    if status >= 500:
        if codes and codes <= _PHP_CODES:
            detail = f"PHP error: {first}; see the shop's PHP error log"
        elif codes:
            detail = f"code {min(codes)}: {first}"
        else:
            detail = sanitize(response.text) or "empty answer"
        return Transient(
            ShopServerError(
                f"the shop failed while {'reading' if method in ('GET', 'HEAD') else 'writing'} "
                f"`{resource}` (HTTP {status}, {detail})",
                resource=resource,
                status=status,
            )
        )
    if codes:
        return ShopRequestError(
            f"the shop rejected the bridge's request for `{resource}` (HTTP {status}, code {min(codes)}: "
            f"{first})",
            resource=resource,
            status=status,
        )
    snippet = sanitize(response.text)
    return ShopResponseError(
        f"unexpected answer from the shop for `{resource}` (HTTP {status}): "
        f"{repr(snippet) if snippet else 'empty body'}",
        resource=resource,
        status=status,
    )


# ----------------------------------------------------------------------------------------------------
# An answer, but not from PrestaShop's webservice
# ----------------------------------------------------------------------------------------------------


def no_webservice(tried: list[tuple[str, int]], resource: str) -> ShopResponseError:
    """No URL form reached PrestaShop's webservice (a web server's 404, the shop front, another site)."""
    where = " nor at ".join(f"{url} (HTTP {status})" for url, status in tried)
    return ShopResponseError(
        f"no PrestaShop webservice at {where}: check PRESTASHOP_URL is the shop's address and the "
        "webservice is enabled (Advanced Parameters → Webservice)",
        resource=resource,
        status=tried[0][1] if tried else None,
    )


def https_redirect(root: str, url: str | None, resource: str) -> ShopResponseError | None:
    """PRESTASHOP_URL says http://, but the shop sent the bridge on to https://: the key has crossed the
    network unencrypted, and would on every request. Names the https address to use instead."""
    if urlsplit(root).scheme != "http" or not url:
        return None
    target = urlsplit(url)
    if target.scheme != "https":
        return None
    path = target.path
    for marker in ("/webservice/dispatcher.php", "/api/"):
        if marker in path:
            path = path[: path.index(marker)]
            break
    else:
        path = path.removesuffix("/api")
    address = urlunsplit(("https", target.netloc, path.rstrip("/"), "", ""))
    return ShopResponseError(
        f"PRESTASHOP_URL uses http://, but the shop redirects to https://: set PRESTASHOP_URL={address} "
        "(over http:// the API key crosses the network unencrypted)",
        resource=resource,
    )


# ----------------------------------------------------------------------------------------------------
# A success whose body is not the JSON it should be
# ----------------------------------------------------------------------------------------------------


def decode_json(response: requests.Response, resource: str) -> Any:
    """The answer's JSON (decimals as Decimal). An empty answer, an HTML page or JSON cut short is one
    exchange gone wrong (raised as `Transient`); a PHP notice or an XML answer is the shop's setup."""
    body = response.content
    stripped = body.strip()
    if not stripped:
        raise Transient(
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
            f"answer cannot be read ({sanitize(_strip_tags(response.text))!r}): switch off debug mode "
            "(Advanced Parameters → Performance → Debug mode) or display_errors",
            resource=resource,
            status=response.status_code,
        )
    if stripped[:1] == b"<":
        xml = stripped.startswith((b"<?xml", b"<prestashop"))
        kind = "an XML document" if xml else "an HTML page"
        error = ShopResponseError(
            f"the shop answered `{resource}` with {kind} instead of JSON (HTTP {response.status_code}): "
            f"{sanitize(response.text)!r}",
            resource=resource,
            status=response.status_code,
        )
        if xml:
            raise error
        raise Transient(error)
    try:
        return jsonsafe.loads(body)
    except jsonsafe.UnsafeJson as unsafe:
        refused: str = str(unsafe)
    except ValueError:
        text = body[:4000].decode("utf-8", errors="replace")
        raise Transient(
            ShopResponseError(
                f"the shop sent invalid or truncated JSON for `{resource}` (HTTP {response.status_code}, "
                f"{len(body)} bytes): {sanitize(text)!r}",
                resource=resource,
                status=response.status_code,
            )
        ) from None
    # Well-formed, so the same answer would come again: not retried (the next poll asks afresh).
    raise ShopResponseError(
        f"the shop sent JSON for `{resource}` that no PrestaShop sends ({refused}), so it was not read: "
        "the shop or something in front of it (a proxy, a module) is broken or hostile",
        resource=resource,
        status=response.status_code,
    )


# ----------------------------------------------------------------------------------------------------
# No HTTP answer at all
# ----------------------------------------------------------------------------------------------------


def connection_error(
    exc: requests.RequestException,
    resource: str,
    *,
    root: str,
    timeout: float,
    answers_plain_http: Callable[[], bool] = lambda: False,
) -> tuple[ShopError, bool]:
    """Turn a requests failure into the owner's words; the bool says whether a retry may help.
    `answers_plain_http` asks the server whether it speaks plain http (only called for a TLS failure that
    looks like it)."""
    host = urlsplit(root).netloc
    causes = list(_root_causes(exc))
    request = getattr(exc, "request", None)
    redirected = https_redirect(root, getattr(request, "url", None), resource)
    if redirected is not None:  # an http:// URL sent on to https://, which then failed
        return redirected, False
    if isinstance(exc, requests.exceptions.SSLError):
        return _tls_error(causes, root, resource, answers_plain_http), False
    if isinstance(exc, requests.exceptions.Timeout):
        connect = isinstance(exc, requests.exceptions.ConnectTimeout)
        what = "connecting to" if connect else "waiting for an answer from"
        return (
            ShopUnreachable(
                f"timed out after {timeout:g} s {what} {host}: the shop is down or overloaded",
                resource=resource,
            ),
            True,
        )
    if any(type(c).__name__ == "NameResolutionError" or "gaierror" in type(c).__name__ for c in causes):
        name = urlsplit(root).hostname or host
        return (
            ShopUnreachable(
                f"cannot resolve the host name {name!r} (DNS): check PRESTASHOP_URL and this server's DNS",
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


# OpenSSL's ways of saying that what came back is not TLS at all (OpenSSL 1.1/3.0, 3.2+, a server that
# hangs up on a ClientHello): the usual sign of https:// in front of a server that speaks plain http.
_NOT_TLS: Final = (
    "wrong version number",
    "record layer failure",
    "unexpected eof",
    "eof occurred in violation of protocol",
)
# X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH, X509_V_ERR_CERT_HAS_EXPIRED
_NAME_MISMATCH: Final = frozenset({62, 64})
_EXPIRED: Final = 10


def _tls_error(
    causes: list[BaseException], root: str, resource: str, answers_plain_http: Callable[[], bool]
) -> ShopUnreachable:
    """A TLS failure in the owner's words: http behind https://, a certificate problem, or another one."""
    parts = urlsplit(root)
    host = parts.netloc
    endpoint = f"{parts.hostname}:{parts.port or 443}"
    verify = next((c for c in causes if isinstance(c, ssl.SSLCertVerificationError)), None)
    if verify is not None:
        return _certificate_error(verify, host, resource)
    reasons = [c for c in causes if isinstance(c, ssl.SSLError)]
    reason = sanitize(str(reasons[-1].reason or reasons[-1]) if reasons else "TLS handshake failed", 120)
    said = " ".join(f"{c.reason or ''} {c}" for c in reasons).lower().replace("_", " ")
    if any(shape in said for shape in _NOT_TLS):
        if answers_plain_http():
            return ShopUnreachable(
                f"PRESTASHOP_URL uses https://, but the server at {endpoint} answers plain http: use "
                "http:// (or enable SSL on the shop)",
                resource=resource,
            )
        return ShopUnreachable(
            f"the server at {endpoint} does not answer TLS ({reason}): check that PRESTASHOP_URL has the "
            "shop's scheme and port (http:// or https://)",
            resource=resource,
        )
    return ShopUnreachable(
        f"the TLS handshake with {host} failed ({reason}): check that PRESTASHOP_URL has the shop's "
        "scheme and port, and that the shop's TLS setup accepts TLS 1.2 or newer",
        resource=resource,
    )


def _certificate_error(verify: ssl.SSLCertVerificationError, host: str, resource: str) -> ShopUnreachable:
    """The certificate itself: issued for another name, expired, or signed by a CA this server does not
    trust (then, and only then, REQUESTS_CA_BUNDLE helps)."""
    detail = sanitize(f"certificate verify failed: {verify.verify_message}", 120)
    if verify.verify_code in _NAME_MISMATCH:
        return ShopUnreachable(
            f"the TLS certificate of {host} is not valid for that name ({detail}): put the name the "
            "certificate was issued for in PRESTASHOP_URL, or fix the shop's certificate",
            resource=resource,
        )
    if verify.verify_code == _EXPIRED:
        return ShopUnreachable(
            f"the TLS certificate of {host} has expired ({detail}): renew it on the shop's server",
            resource=resource,
        )
    return ShopUnreachable(
        f"the TLS certificate of {host} could not be verified ({detail}): if the shop uses its "
        "own certificate authority, point REQUESTS_CA_BUNDLE at that CA's certificate file; do "
        "not switch verification off",
        resource=resource,
    )


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
