"""The HTTP exchange with the shop's webservice (session, Basic auth, URL form, timeouts, bounded retries), in
one place so every read and write goes through the same retry policy and the key never reaches a URL.

Whatever the shop (or something pretending to be it) sends, an exchange is bounded: it ends within
`deadline` seconds in all (connect, headers and the whole body, however slowly they drip: see
`bridge.shop.deadline`), and its body is read in chunks and refused past `max_body` bytes, so memory stays
flat (`bridge.shop.bounds`). Neither overrun is retried: the same answer would come again, and the
retries would multiply the wait. The retries of one read (a 5xx, a dropped connection, a cut JSON answer)
start only while the read is younger than `deadline`, so one read ends within 2 × `deadline` plus one
backoff wait, and a poll that fails on the shop ends there (the next poll tries again).
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal
from urllib.parse import urlsplit, urlunsplit

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    nap,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)
from tenacity.stop import stop_base

from bridge import __version__
from bridge.errors import ShopError
from bridge.secret import Secret
from bridge.shop.bounds import overdue, read_body
from bridge.shop.deadline import Deadline, WatchedAdapter
from bridge.shop.failures import (
    Transient,
    connection_error,
    decode_json,
    https_redirect,
    is_webservice,
    no_webservice,
    raise_for_status,
    sanitize,
)

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT: Final = f"prestashop-mail-bridge/{__version__}"
DEFAULT_DEADLINE: Final = 60.0  # seconds for one whole exchange (PRESTASHOP_DEADLINE)
DEFAULT_MAX_BODY: Final = 32 * 1024 * 1024  # bytes of one answer (PRESTASHOP_MAX_BODY); real ones are < 64 KB

Form = Literal["api", "dispatcher"]


class ShopTransport:
    """Requests to one shop with one key over one HTTP session (a session is not shared between threads)."""

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
        deadline: float = DEFAULT_DEADLINE,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        """`timeout` bounds each wait for the shop (connecting, each read); `deadline` the whole exchange."""
        self._root, self._form = _split_base_url(base_url)
        self._timeout = timeout
        self._deadline = deadline
        self._max_body = max_body
        self._retries = max(0, retries)
        self._backoff = backoff
        self._sleep = sleep
        self._session = requests.Session()
        adapter = WatchedAdapter()  # connections a Deadline can cut (one adapter: one connection pool)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        # Basic auth with the key as user name: the key never appears in a URL, so never in a log line.
        self._session.auth = (api_key.reveal(), "")
        self._verify = verify
        self._session.headers["User-Agent"] = user_agent
        self._session.headers["Accept"] = "application/json, text/xml;q=0.5"
        self._version: str | None = None
        self._confirmed = False  # a webservice answered at `_form` (a form named in the URL is not proof)

    def copy(self) -> ShopTransport:
        """The same shop, key and options over a new session; the URL form and version learned are kept."""
        auth = self._session.auth
        assert isinstance(auth, tuple)
        twin = ShopTransport(
            self._root,
            Secret(str(auth[0])),
            timeout=self._timeout,
            retries=self._retries,
            backoff=self._backoff,
            sleep=self._sleep,
            verify=self._verify,
            user_agent=str(self._session.headers["User-Agent"]),
            deadline=self._deadline,
            max_body=self._max_body,
        )
        twin._form = self._form
        twin._version = self._version
        twin._confirmed = self._confirmed
        return twin

    def close(self) -> None:
        self._session.close()

    @property
    def root(self) -> str:
        """The shop's address, without credentials, query or trailing slash."""
        return self._root

    @property
    def form(self) -> Form | None:
        """`api` (URL rewriting) or `dispatcher` once known; None before the first answer."""
        return self._form

    @property
    def version(self) -> str | None:
        """The PrestaShop version from the last `PSWS-Version` header seen (None before, or if never sent)."""
        return self._version

    def request(
        self,
        path: str,
        params: Sequence[tuple[str, str]],
        resource: str,
        *,
        method: str = "GET",
        body: bytes | None = None,
        started: float | None = None,
    ) -> requests.Response:
        """One request, retried on transient failures only if it reads (GET/HEAD): a write runs once. No
        retry starts once the read is `deadline` old (counted from `started`, a `time.monotonic()`)."""
        attempts = stop_after_attempt(self._retries + 1 if method in ("GET", "HEAD") else 1)
        retrying = Retrying(
            stop=attempts | _Aged(time.monotonic() if started is None else started, self._deadline),
            wait=wait_exponential(multiplier=self._backoff, max=60),
            retry=retry_if_exception_type(Transient),
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
        except Transient as exhausted:
            error = exhausted.error
        assert error is not None
        raise error

    def get_json(self, resource: str, path: str, params: Sequence[tuple[str, str]]) -> Any:
        """A GET's JSON document (None for a webservice 404). An empty answer, a proxy's HTML error page
        or a JSON body cut short is a failure of that one exchange (a PHP worker killed mid-answer, a
        gateway timeout page served with 200), so the GET is tried again like a 5xx; a PHP notice or an
        XML answer is the shop's configuration, and is reported at once."""
        started = time.monotonic()
        for attempt in range(self._retries + 1):
            response = self.request(path, [*params, ("output_format", "JSON")], resource, started=started)
            if response.status_code == 404:
                return None
            try:
                return decode_json(response, resource)
            except Transient as failed:
                if attempt == self._retries or time.monotonic() - started >= self._deadline:
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

    def _url(self, form: Form, path: str) -> tuple[str, list[tuple[str, str]]]:
        if form == "api":
            return f"{self._root}/api/{path}", []
        return f"{self._root}/webservice/dispatcher.php", [("url", path)]

    def _attempt(
        self,
        method: str,
        path: str,
        params: Sequence[tuple[str, str]],
        resource: str,
        body: bytes | None = None,
    ) -> requests.Response:
        """One try: on first contact, finds where the webservice answers (see `_first_contact`)."""
        if self._confirmed and self._form is not None:
            response = self._exchange(method, self._form, path, params, resource, body)
        else:
            response = self._first_contact(method, path, params, resource, body)
        raise_for_status(response, method, resource, self._root)
        return response

    def _first_contact(
        self,
        method: str,
        path: str,
        params: Sequence[tuple[str, str]],
        resource: str,
        body: bytes | None,
    ) -> requests.Response:
        """The answer of the first URL form where PrestaShop's webservice answers: the form the URL names,
        else the rewritten `/api/` first, then dispatcher.php. A web server's 404 or a web page at every
        form means PRESTASHOP_URL is not the shop's address. (A bare 5xx is PHP dying inside the
        webservice, as real 8.x shops do: returned, to be retried, not taken as a wrong address.)"""
        forms: tuple[Form, ...] = (self._form,) if self._form is not None else ("api", "dispatcher")
        tried: list[tuple[str, int]] = []
        for form in forms:
            response = self._exchange(method, form, path, params, resource, body)
            if is_webservice(response):
                self._form, self._confirmed = form, True
                return response
            if response.status_code >= 500:
                return response
            tried.append((self._url(form, "")[0], response.status_code))
            response.close()
        raise no_webservice(tried, resource)

    def _exchange(
        self,
        method: str,
        form: Form,
        path: str,
        params: Sequence[tuple[str, str]],
        resource: str,
        body: bytes | None = None,
    ) -> requests.Response:
        """One HTTP exchange (redirects included) under one `Deadline`, its body read within `max_body`."""
        url, prefix = self._url(form, path)
        failure: ShopError | None = None
        transient = False
        per_read = min(self._timeout, self._deadline)
        with Deadline(self._deadline) as deadline:
            try:
                # `verify` per request: requests lets REQUESTS_CA_BUNDLE override a session-level CA path.
                # A write is never redirected: requests would turn the POST into a GET and drop the body.
                # The hook reads every answer's body (a redirect's too, which requests would otherwise
                # read whole) before requests looks at it.
                response = self._session.request(
                    method,
                    url,
                    params=[*prefix, *params],
                    data=body,
                    headers={"Content-Type": "text/xml; charset=utf-8"} if body is not None else None,
                    timeout=per_read,
                    verify=self._verify,
                    allow_redirects=method in ("GET", "HEAD"),
                    stream=True,
                    hooks={"response": lambda answer, *_, **__: self._bounded(answer, resource, deadline)},
                )
            except requests.RequestException as exc:
                if deadline.expired:
                    failure = overdue(resource, self._deadline, deadline.received, self._root)
                else:
                    failure, transient = connection_error(
                        exc,
                        resource,
                        root=self._root,
                        timeout=per_read,
                        answers_plain_http=lambda: answers_plain_http(self._root, self._timeout),
                    )
            else:
                if deadline.expired:  # headers cut short by the shutdown can look complete: not trusted
                    response.close()
                    failure = overdue(resource, self._deadline, deadline.received, self._root)
        # Raised outside the `except` block so neither the requests exception (which holds the prepared
        # request and its Authorization header) nor its traceback is chained to the error.
        if failure is not None:
            raise (Transient(failure) if transient else failure)
        upgraded = https_redirect(self._root, response.url, resource) if response.history else None
        if upgraded is not None:
            response.close()
            raise upgraded
        version = response.headers.get("PSWS-Version")
        if version and version != "0":
            self._version = version
        log.debug("%s %s → %s", method, response.url.split("?")[0], response.status_code)
        return response

    def _bounded(self, response: requests.Response, resource: str, deadline: Deadline) -> requests.Response:
        read_body(response, resource, self._max_body, deadline)
        return response


class _Aged(stop_base):
    """Stop retrying once the read began `limit` seconds ago (the first try always runs)."""

    def __init__(self, began: float, limit: float) -> None:
        self.began, self.limit = began, limit

    def __call__(self, retry_state: RetryCallState) -> bool:
        return time.monotonic() - self.began >= self.limit


def answers_plain_http(root: str, timeout: float) -> bool:
    """Does the server of an https:// root answer a plain-http request on the same port? Asked only after a
    TLS handshake failed the way it does when the other side speaks http, so the owner is told which."""
    parts = urlsplit(root)
    if parts.hostname is None:
        return False
    request = f"HEAD / HTTP/1.0\r\nHost: {parts.netloc}\r\n\r\n".encode("ascii", "replace")
    try:
        with socket.create_connection((parts.hostname, parts.port or 443), timeout=min(timeout, 5.0)) as conn:
            conn.sendall(request)
            answer = b""
            while len(answer) < 5:
                chunk = conn.recv(5 - len(answer))
                if not chunk:
                    break
                answer += chunk
    except OSError:
        return False
    return answer == b"HTTP/"


def _split_base_url(base_url: str) -> tuple[str, Form | None]:
    """The shop root (no credentials, query or trailing slash) and the URL form if the URL names one."""
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {sanitize(parts.geturl())!r}")
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
