"""The simulator's HTTP side: routing, authentication, errors, headers and faults, like a PrestaShop shop.

`Simulator` runs a threaded `http.server` on 127.0.0.1. Requests reach the webservice through
`/api/<resource>[/<id>]` (when URL rewriting is on, as with PrestaShop's .htaccess) or
`/webservice/dispatcher.php?url=<resource>/<id>` (always). Product images are public at
`/img/p/<digits>/<id>-<type>.jpg`, and the storefront's invoice PDF at `/index.php?controller=pdf-invoice`
(`bridge.simulator.storefront`).

Everything is read-only except `POST cart_rules` (`bridge.simulator.writes`); `products` answer the
`price[...]` virtual fields (`bridge.simulator.prices`). `response_delay` makes every answer as slow as a
real shop's.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import itertools
import json
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from bridge.simulator import faults as fault_pages
from bridge.simulator import storefront
from bridge.simulator.faults import FaultKind, FaultPlan
from bridge.simulator.output import (
    FLAVOURS,
    METHODS,
    Flavour,
    api_root_xml,
    created_json,
    created_xml,
    entity_json,
    entity_xml,
    errors_json,
    errors_xml,
    image_types_xml,
    list_json,
    list_xml,
    minimal_list_json,
    minimal_list_xml,
    php_json,
    product_images_xml,
    single_json,
    single_xml,
)
from bridge.simulator.prices import computed_prices
from bridge.simulator.query import (
    ParsedQuery,
    PhpFatal,
    WebserviceError,
    closest,
    parse_languages,
    parse_php_query,
    parse_query,
    select_ids,
)
from bridge.simulator.schema import ALL_RESOURCE_NAMES, RESOURCES, Resource
from bridge.simulator.state import ShopState
from bridge.simulator.writes import CART_RULES, post_cart_rules, xml_error
from bridge.web.server import StoppableHTTPServer

DEMO_API_KEY = "DEMOKEY0DEMOKEY0DEMOKEY0DEMOKEY0"
REALM = (
    'Basic realm="Welcome to PrestaShop Webservice, please enter the authentication key as the login. '
    'No password required."'
)
JSON_TYPE = "application/json"
XML_TYPE = "text/xml;charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
PHP_POWERED = "PHP/8.2.36"
COOKIE_NAME = "PrestaShop-25f57fa575b416702f0bb6ac806d61e0"
# A 1x1 grey baseline JPEG: enough for a mail client or a test to see a real image.
TINY_JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAP//////////////////////////////////////////////////////////////////"
    "////////////////////wgALCAABAAEBAREA/8QAFBABAAAAAAAAAAAAAAAAAAAAAP/aAAgBAQABPxA="
)
APACHE_404 = (
    b'<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n<title>404 Not Found</title>\n'
    b"</head><body>\n<h1>Not Found</h1>\n<p>The requested URL was not found on this server.</p>\n"
    b"</body></html>\n"
)
_REASONS = {
    200: "OK",
    201: "Created",
    304: "Not Modified",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@dataclass
class RequestRecord:
    """One request the simulator served (tests and benchmarks read these)."""

    method: str
    path: str  # path with query string, as sent
    status: int
    body: bytes
    resource: str | None = None
    fault: FaultKind | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _ApiKey:
    active: bool
    permissions: dict[str, frozenset[str]]


@dataclass
class _Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    version: str = "HTTP/1.1"
    resource: str | None = None
    close: bool = False


class Simulator:
    """A PrestaShop webservice on 127.0.0.1, backed by a `ShopState`."""

    def __init__(
        self,
        state: ShopState,
        *,
        flavour: str = "8.1",
        api_key: str = DEMO_API_KEY,
        base_path: str = "",
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        url_rewriting: bool = True,
    ) -> None:
        if flavour not in FLAVOURS:
            raise ValueError(f"unknown flavour {flavour!r}; known: {', '.join(FLAVOURS)}")
        self.state = state
        self.flavour = flavour
        self.webservice_enabled = True
        self.faults = FaultPlan()
        self.requests: list[RequestRecord] = []
        self.record_bodies = True  # benchmarks may switch this off to keep memory flat
        # Seconds every webservice answer waits, as a real shop's PHP takes its time (benchmarks only).
        # The wait is on `faults.release`, so stop() cuts it short.
        self.response_delay: float = 0.0
        self.base_path = base_path.rstrip("/")
        if self.base_path and not self.base_path.startswith("/"):
            self.base_path = "/" + self.base_path
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.url_rewriting = url_rewriting
        self.shop_name = "PrestaShop"
        # Resources a module adds, name -> description (the recorded shop has "klaviyo"); they hold nothing.
        self.module_resources: dict[str, str] = {}
        self._keys: dict[str, _ApiKey] = {}
        self._records_lock = threading.Lock()
        self._server: _Server | None = None
        self._cookie_counter = itertools.count(1)
        self.add_key(api_key)

    # -- configuration ------------------------------------------------------------------------------------

    @property
    def rules(self) -> Flavour:
        return FLAVOURS[self.flavour]

    def add_key(
        self,
        key: str,
        permissions: Mapping[str, Iterable[str]] | Literal["all"] = "all",
        *,
        active: bool = True,
    ) -> None:
        """Register a webservice key. `permissions`: resource -> methods, or "all"."""
        if permissions == "all":
            granted = {name: frozenset(METHODS) for name in self.resource_names()}
        else:
            granted = {name: frozenset(m.upper() for m in methods) for name, methods in permissions.items()}
        self._keys[key] = _ApiKey(active=active, permissions=granted)

    def resource_names(self) -> list[str]:
        names = [n for n in ALL_RESOURCE_NAMES if n not in self.rules.missing_resources]
        return sorted({*names, *self.module_resources})

    # -- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> Simulator:
        if self._server is not None:
            return self
        self.faults.release.clear()
        server = _Server((self.host, self.port), _Handler)
        server.simulator = self
        if self.ssl_context is not None:
            server.socket = self.ssl_context.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
        self.port = server.server_address[1]
        self._server = server
        server.serve_in_background("prestashop-simulator", poll_interval=0.05)
        return self

    def stop(self) -> None:
        server = self._server
        if server is None:
            return
        self.faults.release.set()
        server.stop()
        self._server = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The shop base URL an owner would type, e.g. http://127.0.0.1:40123 or …/shop."""
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self.host}:{self.port}{self.base_path}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def record(self, record: RequestRecord) -> None:
        if not self.record_bodies:
            record.body = b""
        with self._records_lock:
            self.requests.append(record)

    # -- request handling ---------------------------------------------------------------------------------

    def route(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> _Response | None:
        """Answer one HTTP request. None means: the path is not ours (Apache 404)."""
        split = urlsplit(target)
        path = unquote(split.path)
        query = split.query
        if self.base_path:
            if path != self.base_path and not path.startswith(self.base_path + "/"):
                return None
            path = path[len(self.base_path) :] or "/"
        if path.startswith("/img/p/"):
            return self._public_image(path)
        params = parse_php_query(query)
        if path == "/index.php" and storefront.handles(params):  # the invoice PDF (simulator.storefront)
            status, sent_headers, content = storefront.answer(self.state, params, self.base_path)
            return _Response(status, sent_headers, content, resource=str(params["controller"]))
        if path == "/webservice/dispatcher.php":
            url = params.pop("url", "")
            if not isinstance(url, str):
                url = ""
        elif self.url_rewriting and (path == "/api" or path.startswith("/api/")):
            url = path[len("/api/") :] if path.startswith("/api/") else ""
            params.pop("url", None)
        else:
            return None
        return self.webservice(method, url, params, headers, body)

    def webservice(
        self, method: str, url: str, params: dict[str, Any], headers: Mapping[str, str], body: bytes
    ) -> _Response:
        started = time.perf_counter()
        rules = self.rules
        lowered = {name.lower(): value for name, value in headers.items()}
        as_json = self._wants_json(lowered, params)
        segments = url.split("/")
        resource_name = segments[0]

        key = self._key_from(lowered, params)
        if key is None:
            return _Response(
                401,
                [
                    ("X-Powered-By", PHP_POWERED),
                    ("WWW-Authenticate", REALM),
                    *self._cookie(),
                    ("Content-type", HTML_TYPE),
                ],
                b"401 Unauthorized",
                resource=resource_name or None,
            )

        def error(status: int, errors: list[tuple[int, str]], *, auth: bool = False) -> _Response:
            payload = errors_json(errors) if as_json else errors_xml(errors)
            return self._ws_response(
                status,
                payload,
                as_json,
                started,
                auth_failure=auth,
                resource=resource_name or None,
                sha1=False,
            )

        if not self.webservice_enabled:
            message = (
                "The PrestaShop webservice is disabled. Please activate it in the PrestaShop Back Office"
            )
            return error(503, [(22, message)], auth=True)
        key = key.strip()
        if key == "":
            return error(401, [(17, "Authentication key is empty")], auth=True)
        if len(key) != 32:
            return error(401, [(18, "Invalid authentication key format")], auth=True)
        account = self._keys.get(key)
        if account is None or not account.active:
            return error(
                401,
                [
                    (20, "Authentification key is not active"),
                    (21, "No permission for this authentication key"),
                ],
                auth=True,
            )
        if not account.permissions:
            return error(401, [(21, "No permission for this authentication key")], auth=True)

        if method not in METHODS:
            return error(405, [(23, f"Method {method} is not valid")])
        if resource_name == "":
            return self._api_root(account, as_json, started)
        known = self.resource_names()
        if resource_name not in known:
            suggestion = closest(resource_name, known)
            message = (
                f'Resource of type "{resource_name}" does not exists. Did you mean: "{suggestion}"?'
                ' The full list is: "' + '", "'.join(known) + '"'
            )
            return error(400, [(27, message)])
        allowed = account.permissions.get(resource_name)
        if not allowed:
            return error(
                401, [(26, f'Resource of type "{resource_name}" is not allowed with this authentication key')]
            )
        if method not in allowed:
            message = f"Method {method} is not allowed for the resource {resource_name} with this authentication key"  # noqa: E501
            return error(405, [(25, message)])
        if method == "POST" and resource_name == "cart_rules":
            return self._create_cart_rules(params, body, as_json, started, error)
        if method != "GET" and method != "HEAD":
            # Other writes stop at PrestaShop's first check of the XML body.
            problem = None if method == "DELETE" else xml_error(body)
            if problem is not None:
                return error(500, [(127, problem)])
            unsupported = (
                f'The specific management class is not implemented for the "{resource_name}" entity.'
            )
            return error(501, [(124, unsupported)])

        if resource_name == "images":
            return self._images(segments[1:], as_json, started)
        schema = RESOURCES.get(resource_name)
        single_id: int | None = None
        if len(segments) > 1 and segments[1] != "":
            if not segments[1].isdigit():
                return self._empty(404, started, resource_name)
            single_id = int(segments[1])
        try:
            if schema is None:
                # A resource PrestaShop has but this simulator keeps no table for: an empty shop section.
                if single_id is not None:
                    return self._empty(404, started, resource_name)
                return self._ws_response(
                    200,
                    b"[]" if as_json else self._empty_list_xml(resource_name),
                    as_json,
                    started,
                    resource=resource_name,
                )
            parsed = parse_query(schema, params, self.state, rules, single=single_id is not None)
            payload = self._read(schema, parsed, single_id, as_json)
        except WebserviceError as problem:
            status, errors = problem.for_flavour(rules)
            return error(status, errors)
        except PhpFatal:
            return self._php_fatal(resource_name)
        if payload is None:
            return self._empty(404, started, resource_name)
        return self._ws_response(
            200,
            payload,
            as_json,
            started,
            resource=resource_name,
            local_sha1=lowered.get("local-content-sha1"),
        )

    # -- writing --------------------------------------------------------------------------------------------

    def _create_cart_rules(
        self,
        params: dict[str, Any],
        body: bytes,
        as_json: bool,
        started: float,
        error: Callable[[int, list[tuple[int, str]]], _Response],
    ) -> _Response:
        """`POST /api/cart_rules`: 201 and the new rule (see `bridge.simulator.writes`)."""
        try:
            languages = parse_languages(params, self.state, self.rules)
            created = post_cart_rules(self.state, body)
        except WebserviceError as problem:
            status, errors = problem.for_flavour(self.rules)
            return error(status, errors)
        if not created:
            # An empty <prestashop/>: nothing created, an empty document.
            payload = b"[]" if as_json else single_xml("")
        elif as_json:
            # The singular key is written once per object: the last one wins.
            payload = created_json(CART_RULES, created[-1], languages, self.rules)
        else:
            payload = created_xml(CART_RULES, created[-1], languages, self.api_url)
        return self._ws_response(201, payload, as_json, started, resource="cart_rules")

    # -- reading --------------------------------------------------------------------------------------------

    def _read(
        self, schema: Resource, parsed: ParsedQuery, single_id: int | None, as_json: bool
    ) -> bytes | None:
        state = self.state
        rules = self.rules
        api_url = self.api_url
        with state.lock:
            table = state.table(schema.name)
            if single_id is not None:
                if single_id not in table:
                    return None
                ids = [single_id]
            else:
                ids = select_ids(state, schema, parsed)
            if parsed.display is None:
                if as_json:
                    return minimal_list_json(schema, ids)
                return minimal_list_xml(schema, ids, api_url)
            rows = [self._with_getters(schema, table[row_id]) for row_id in ids]
            prices: list[dict[str, str]] = [{} for _ in rows]
            if schema.name == "products" and parsed.price is not None:
                prices = computed_prices(state, parsed.price, rows)
        display = parsed.display
        if as_json:
            entities = [
                entity_json(schema, row, display, parsed.languages, rules, virtual)
                for row, virtual in zip(rows, prices, strict=True)
            ]
            if single_id is not None and not parsed.display_given:
                return single_json(schema, entities[0], rules)
            return list_json(schema, entities)
        parts = [
            entity_xml(schema, row, display, parsed.languages, api_url, virtual)
            for row, virtual in zip(rows, prices, strict=True)
        ]
        if single_id is not None and not parsed.display_given:
            return single_xml(parts[0])
        return list_xml(schema, parts)

    def _with_getters(self, schema: Resource, row: dict[str, Any]) -> dict[str, Any]:
        if schema.name != "orders":
            return row
        carriers = self.state.ids_where("order_carriers", "id_order", row["id"])
        augmented = dict(row)
        if carriers:
            tracking = self.state.table("order_carriers")[carriers[0]]["tracking_number"]
            augmented["shipping_number"] = tracking or ""
        else:
            augmented["shipping_number"] = None
        return augmented

    def _api_root(self, account: _ApiKey, as_json: bool, started: float) -> _Response:
        if as_json:
            if self.rules.json_root_works:
                names = [n for n in self.resource_names() if account.permissions.get(n)]
                return self._ws_response(200, php_json(names), True, started)
            return self._php_fatal(None)
        payload = api_root_xml(
            self.shop_name, self.resource_names(), account.permissions, self.api_url, self.module_resources
        )
        return self._ws_response(200, payload, False, started, cookie=False)

    def _images(self, segments: list[str], as_json: bool, started: float) -> _Response:
        segments = [s for s in segments if s != ""]
        if not segments:
            if as_json:
                return self._ws_response(200, b"", True, started, resource="images", content_type="")
            return self._ws_response(200, image_types_xml(self.api_url), False, started, resource="images")
        if segments[0] != "products" or len(segments) < 2 or not segments[1].isdigit():
            return self._empty(404, started, "images")
        product_id = int(segments[1])
        with self.state.lock:
            product = self.state.table("products").get(product_id)
            image_ids = [
                int(item["id"]) for item in ((product or {}).get("associations") or {}).get("images", [])
            ]
        if product is None:
            return self._empty(404, started, "images")
        if len(segments) == 2:
            if as_json:
                # PHP 8.2 breaks this JSON output: a "" key, one warning per item, then code 61.
                items: list[dict[str, Any]] = [{"id": str(product_id)}, *({"id": i} for i in image_ids)]
                warning = (
                    '[PHP Warning #2] Undefined array key "objectsNodeName" '
                    "(/var/www/prestashop/classes/webservice/WebserviceOutputJSON.php, line 127)"
                )
                errors = [(3, warning)] * len(items) + [(61, "This image does not exist on disk")]
                payload = errors_json(errors, {"": items})
                return self._ws_response(
                    500, payload, True, started, resource="images", rendered_with_warnings=True
                )
            return self._ws_response(
                200,
                product_images_xml(product_id, image_ids, self.api_url),
                False,
                started,
                resource="images",
            )
        if not segments[2].isdigit() or int(segments[2]) not in image_ids:
            return self._empty(404, started, "images")
        return self._ws_response(
            200, TINY_JPEG, False, started, resource="images", content_type="image/jpeg", cookie=False
        )

    def _public_image(self, path: str) -> _Response | None:
        parts = path[len("/img/p/") :].split("/")
        name = parts[-1]
        digits = parts[:-1]
        if not name.endswith(".jpg"):
            return None
        image_id, _, _kind = name[: -len(".jpg")].partition("-")
        if not image_id.isdigit() or digits != list(image_id):
            return None
        return _Response(200, [("Content-Type", "image/jpeg")], TINY_JPEG)

    # -- response building ------------------------------------------------------------------------------

    def _ws_response(
        self,
        status: int,
        payload: bytes,
        as_json: bool,
        started: float,
        *,
        auth_failure: bool = False,
        resource: str | None = None,
        sha1: bool = True,
        cookie: bool = True,
        content_type: str | None = None,
        local_sha1: str | None = None,
        rendered_with_warnings: bool = False,
    ) -> _Response:
        rules = self.rules
        headers: list[tuple[str, str]] = []
        if auth_failure and status == 401:
            headers.append(("WWW-Authenticate", REALM))
        headers.append(("Access-Time", str(int(self.state.clock.now().timestamp()))))
        headers.append(("X-Powered-By", "PrestaShop Webservice"))
        headers.append(
            ("PSWS-Version", rules.psws_version_on_auth_error if auth_failure else rules.psws_version)
        )
        if content_type is None:
            content_type = JSON_TYPE if as_json else XML_TYPE
        headers.append(("Content-Type", content_type))
        headers.append(("Execution-Time", "0" if auth_failure else f"{time.perf_counter() - started:.3f}"))
        digest = hashlib.sha1(payload).hexdigest()  # noqa: S324 - PrestaShop's content hash, not security
        if sha1 and (status == 200 or rendered_with_warnings):
            headers.append(("Content-Sha1", digest))
        if cookie:
            headers.extend(self._cookie())
        if (
            status == 200
            and local_sha1 is not None
            and rules.honours_local_sha1
            and local_sha1.strip() == digest
        ):
            return _Response(304, headers, b"", resource=resource)
        return _Response(status, headers, payload, resource=resource)

    def _empty(self, status: int, started: float, resource: str | None) -> _Response:
        """404 "not found": no body, an emptied Content-Type."""
        return self._ws_response(status, b"", True, started, resource=resource, content_type="", sha1=False)

    def _empty_list_xml(self, resource: str) -> bytes:
        return minimal_list_xml(Resource(resource, resource, resource, ()), [], self.api_url)

    def _php_fatal(self, resource: str | None) -> _Response:
        headers = [("X-Powered-By", PHP_POWERED), *self._cookie(), ("Content-type", HTML_TYPE)]
        return _Response(500, headers, b"", version="HTTP/1.0", resource=resource, close=True)

    def _cookie(self) -> list[tuple[str, str]]:
        number = next(self._cookie_counter)
        value = "def50200" + hashlib.sha256(f"{self.port}:{number}".encode()).hexdigest()
        expires = format_datetime(self.state.clock.now() + timedelta(days=20), usegmt=True)
        return [
            (
                "Set-Cookie",
                f"{COOKIE_NAME}={value}; expires={expires}; Max-Age=1728000; path=/; HttpOnly; SameSite=Lax",
            )
        ]

    @staticmethod
    def _wants_json(lowered: Mapping[str, str], params: Mapping[str, Any]) -> bool:
        for source in (lowered.get("io-format"), lowered.get("output-format")):
            if source is not None:
                return source == "JSON"
        for name in ("output_format", "io_format"):
            if name in params:
                return bool(params[name] == "JSON")
        return False

    @staticmethod
    def _key_from(lowered: Mapping[str, str], params: Mapping[str, Any]) -> str | None:
        authorization = lowered.get("authorization", "")
        if authorization[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=False).decode(
                    "utf-8", "replace"
                )
            except (binascii.Error, ValueError):
                decoded = ""
            return decoded.split(":", 1)[0]
        ws_key = params.get("ws_key")
        if isinstance(ws_key, str):
            return ws_key
        return None

    # -- faults -------------------------------------------------------------------------------------------

    def apply_fault(self, kind: FaultKind, response: _Response) -> _Response | None:
        """Turn a normal answer into the fault's answer (None: close the connection without answering)."""
        close_headers = [("Connection", "close")]
        match kind:
            case "reset":
                return None
            case "timeout":
                self.faults.hold()
                return response
            case "500":
                return self._php_fatal(response.resource)
            case "502":
                return _Response(
                    502,
                    [("Server", "nginx"), ("Content-Type", "text/html")],
                    fault_pages.NGINX_502.encode(),
                    close=True,
                )
            case "503":
                return _Response(
                    503,
                    [("Server", "nginx"), ("Content-Type", "text/html")],
                    fault_pages.NGINX_503.encode(),
                    close=True,
                )
            case "maintenance":
                return _Response(
                    503,
                    [("Retry-After", "3600"), ("Content-Type", HTML_TYPE), *close_headers],
                    fault_pages.MAINTENANCE_PAGE.encode(),
                )
            case "html":
                return _Response(200, [("Content-Type", HTML_TYPE)], fault_pages.CACHE_PAGE.encode())
            case "truncated":
                body = response.body[: len(response.body) // 2]
                # The headers stay: a proxy cut the body after PrestaShop hashed all of it.
                return _Response(response.status, response.headers, body, resource=response.resource)
            case "auth_flap":
                started = time.perf_counter()
                errors = [
                    (20, "Authentification key is not active"),
                    (21, "No permission for this authentication key"),
                ]
                return self._ws_response(
                    401,
                    errors_json(errors),
                    True,
                    started,
                    auth_failure=True,
                    resource=response.resource,
                    sha1=False,
                )
            case "php_warning":
                warning = [(3, fault_pages.PHP_WARNING_MESSAGE)]
                is_json = any(n.lower() == "content-type" and v == JSON_TYPE for n, v in response.headers)
                if is_json:
                    content: Any = {}
                    if response.body and response.body != b"[]":
                        content = json.loads(response.body.decode("utf-8"))
                    payload = errors_json(warning, content if isinstance(content, dict) else {})
                else:
                    payload = errors_xml(warning)
                digest = hashlib.sha1(payload).hexdigest()  # noqa: S324 - PrestaShop's content hash
                headers = [(n, digest if n.lower() == "content-sha1" else v) for n, v in response.headers]
                return _Response(500, headers, payload, resource=response.resource)


class _Server(StoppableHTTPServer):
    simulator: Simulator

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a client that hangs up or fails the TLS handshake is not the simulator's problem."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        self.server.track(self.request)
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            try:
                self.request.do_handshake()
            except (OSError, ssl.SSLError):
                self.server.untrack(self.request)
                raise
            self.request.settimeout(None)
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.request)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and the demo read `Simulator.requests` instead."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        simulator = self.server.simulator
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {name: value for name, value in self.headers.items()}
        response = simulator.route(method, self.path, headers, body)
        if response is None:
            response = _Response(
                404,
                [("Content-Type", "text/html; charset=iso-8859-1")],
                APACHE_404,
            )
        fault: FaultKind | None = None
        if response.resource is not None or self._is_webservice(self.path):
            if simulator.response_delay > 0:
                simulator.faults.release.wait(simulator.response_delay)
            fault = simulator.faults.take(response.resource, self.path)
        if fault is not None:
            changed = simulator.apply_fault(fault, response)
            if changed is None:
                simulator.record(RequestRecord(method, self.path, 0, b"", response.resource, fault))
                self._reset()
                return
            response = changed
        simulator.record(
            RequestRecord(
                method, self.path, response.status, response.body, response.resource, fault, response.headers
            )
        )
        self._write(method, response)

    def _is_webservice(self, path: str) -> bool:
        simulator = self.server.simulator
        plain = urlsplit(path).path[len(simulator.base_path) :]
        return plain.startswith("/api") or plain.startswith("/webservice/")

    def _write(self, method: str, response: _Response) -> None:
        simulator = self.server.simulator
        reason = _REASONS.get(response.status, "Unknown")
        lines = [f"{response.version} {response.status} {reason}"]
        lines.append(f"Date: {format_datetime(simulator.state.clock.now(), usegmt=True)}")
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        lines.append(f"Content-Length: {len(response.body)}")
        close = response.close or response.version == "HTTP/1.0"
        if close and not any(name.lower() == "connection" for name, _ in response.headers):
            lines.append("Connection: close")
        if close or any(n.lower() == "connection" and v.lower() == "close" for n, v in response.headers):
            self.close_connection = True
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        payload = b"" if method == "HEAD" or response.status == 304 else response.body
        try:
            self.wfile.write(head + payload)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _reset(self) -> None:
        """Close with a TCP reset: the client sees "connection reset by peer" and no answer."""
        with contextlib.suppress(OSError):
            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
