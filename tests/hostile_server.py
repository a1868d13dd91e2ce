"""A deliberately hostile shop: an HTTP proxy on 127.0.0.1 in front of the simulator that answers the
requests for a chosen resource the way a broken or malicious shop (or something in front of it) would,
and passes every other request through unchanged, so the bridge gets as far as that resource.

Behaviours (`HostileShop.trap(resource, behaviour)`):

- `deep`: JSON nested 100,000 levels deep;
- `exponent`: a row whose id is `1E4000000` (valid JSON; `int()` of it takes minutes);
- `digits`: a row whose id has 5,000 digits;
- `drip_headers`: the status line, then one byte of a header every DRIP seconds, never ending;
- `drip_body`: complete headers, then one byte of the body every DRIP seconds;
- `huge_body`: 200 MB of JSON-looking rows, streamed without a Content-Length;
- `huge_declared`: the same, announced with its Content-Length;
- `huge_redirect`: a redirect (to the same address) whose body is the same 200 MB;
- `repeat_page`: a full page of rows (as many as `limit` asks for), the same page whatever the paging.

The drips wait on the server's stop event, never on a sleep, and stop at once when the client hangs up
or the server stops. `hangups` records, per trapped answer, how many bytes went out before the client hung
up (the bridge stopped reading); `served` records which trapped answers were given.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

Behaviour = Literal[
    "deep",
    "exponent",
    "digits",
    "drip_headers",
    "drip_body",
    "huge_body",
    "huge_declared",
    "huge_redirect",
    "repeat_page",
]
DRIP = 0.1  # seconds between two dripped bytes: far below any per-read timeout the tests set
DRIP_FOR = 1200  # drips at most (two minutes): far past any deadline the tests set
HUGE = 200 * 1024 * 1024  # bytes of a huge body
ROW = b'{"id":1,"name":"' + b"x" * 1000 + b'"},'
WEBSERVICE_HEADERS = (("PSWS-Version", "8.1.2"), ("Content-Type", "application/json;charset=utf-8"))


class HostileShop:
    """The proxy; `with HostileShop(simulator.url) as shop:` and point PRESTASHOP_URL at `shop.url`."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.traps: dict[str, Behaviour] = {}
        self.served: list[tuple[str, Behaviour]] = []
        self.hangups: list[tuple[Behaviour, int]] = []
        self.stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def trap(self, resource: str, behaviour: Behaviour | None) -> None:
        """Answer `resource` with `behaviour` from now on (None: honestly again)."""
        if behaviour is None:
            self.traps.pop(resource, None)
        else:
            self.traps[resource] = behaviour

    def __enter__(self) -> HostileShop:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes | None) -> _Answer:
        """The simulator's answer to the same request."""
        connection = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return _Answer(response.status, response.getheaders(), response.read())
        finally:
            connection.close()


class _Answer:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body


def _handler(shop: HostileShop) -> type[BaseHTTPRequestHandler]:
    class Handler(_HostileHandler):
        pass

    Handler.shop = shop
    return Handler


class _HostileHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    shop: HostileShop

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the tests read the bridge's log
        pass

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def do_HEAD(self) -> None:
        self._answer("HEAD")

    def _answer(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        path = urlsplit(self.path).path
        resource = path.removeprefix("/api/").split("/")[0] if path.startswith("/api/") else ""
        behaviour = self.shop.traps.get(resource)
        if behaviour is None:
            self._pass_through(method, body)
            return
        self.shop.served.append((resource, behaviour))
        self.close_connection = True
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the bridge hung up
            self._hostile(behaviour, resource, method, body)

    def _pass_through(self, method: str, body: bytes | None) -> None:
        headers = {name: value for name, value in self.headers.items() if name.lower() != "host"}
        answer = self.shop.forward(method, self.path, headers, body)
        self.send_response(answer.status)
        for name, value in answer.headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(answer.body)

    def _hostile(self, behaviour: Behaviour, resource: str, method: str, body: bytes | None) -> None:
        if behaviour == "drip_headers":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nPSWS-Version: 8.1.2\r\nX-Drip: ")
            self._drip(behaviour, b"x")
        elif behaviour == "drip_body":
            self._head(100_000)
            self.wfile.write(b'{"' + resource.encode() + b'":[')
            self._drip(behaviour, b" ")
        elif behaviour in ("huge_body", "huge_declared", "huge_redirect"):
            status = 302 if behaviour == "huge_redirect" else 200
            self._head(HUGE if behaviour == "huge_declared" else None, status, location=self.path)
            self._stream_huge(behaviour, resource)
        else:
            document = self._document(behaviour, resource, method, body)
            self._head(len(document))
            self.wfile.write(document)

    def _document(self, behaviour: Behaviour, resource: str, method: str, body: bytes | None) -> bytes:
        name = resource.encode()
        if behaviour == "deep":
            return b'{"' + name + b'":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        if behaviour == "exponent":
            return b'{"' + name + b'":[{"id":1E4000000}]}'
        if behaviour == "digits":
            return b'{"' + name + b'":[{"id":' + b"9" * 5000 + b"}]}"
        # repeat_page: the first honest row, numbered 1..count, whatever page was asked for.
        count = int(dict(parse_qsl(urlsplit(self.path).query)).get("limit", "0,100").split(",")[-1])
        headers = {name: value for name, value in self.headers.items() if name.lower() != "host"}
        honest = json.loads(self.shop.forward(method, self.path, headers, body).body or b"[]")
        rows = honest.get(resource, []) if isinstance(honest, dict) else []
        first = rows[0] if rows else {}
        page = [{**first, "id": number} for number in range(1, count + 1)]
        return json.dumps({resource: page}).encode()

    def _head(self, length: int | None, status: int = 200, location: str = "") -> None:
        self.send_response(status)
        for name, value in WEBSERVICE_HEADERS:
            self.send_header(name, value)
        if status == 302:
            self.send_header("Location", location)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.send_header("Connection", "close")
        self.end_headers()

    def _drip(self, behaviour: Behaviour, byte: bytes) -> None:
        sent = 0
        try:
            for _ in range(DRIP_FOR):
                self.wfile.write(byte)
                self.wfile.flush()
                sent += 1
                if self.shop.stopping.wait(DRIP):
                    return
        except (BrokenPipeError, ConnectionResetError):
            self.shop.hangups.append((behaviour, sent))

    def _stream_huge(self, behaviour: Behaviour, resource: str) -> None:
        chunk = ROW * 64
        sent = 0
        try:
            self.wfile.write(b'{"' + resource.encode() + b'":[')
            while sent < HUGE and not self.shop.stopping.is_set():
                self.wfile.write(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            self.shop.hangups.append((behaviour, sent))
