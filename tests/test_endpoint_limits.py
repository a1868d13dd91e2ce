"""The unsubscribe endpoint facing the internet (issue 15), tested against the running server over real
sockets: slow clients hold sockets, not threads; request framing that a proxy in front could read
differently is refused; bodies have a size; a stop is prompt; and UNSUBSCRIBE_LISTEN stays on loopback
unless the owner says otherwise."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bridge.clock import ManualClock
from bridge.config.settings import Settings
from bridge.errors import ConfigError
from bridge.state.store import Store, open_store
from bridge.state.unsubscribes import list_unsubscribed
from bridge.web.serving import STOP_TIMEOUT, Limits, connection_limit
from bridge.web.unsubscribe import Signer, UnsubscribeServer, links
from tests.test_config import SHOP

KEY = bytes(range(32))
ADDRESS = "zofia.nowak@example.pl"
ONE_CLICK = b"List-Unsubscribe=One-Click"  # 26 bytes, what Gmail and Yahoo send
SLOW = 300
# The slow clients below must outlive any pause of a busy machine: only the timeout test shortens it.
PATIENT = Limits(idle_timeout=600)


@pytest.fixture
def signer() -> Signer:
    return Signer(KEY)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(str(tmp_path / "state" / "bridge.db")) as opened:
        yield opened


@pytest.fixture
def server(store: Store, signer: Signer, clock: ManualClock) -> Iterator[UnsubscribeServer]:
    with UnsubscribeServer(store, signer, clock, shop_name="Sklep Zosi", limits=PATIENT) as running:
        yield running


def target(server: UnsubscribeServer, signer: Signer) -> str:
    """The path and query of a real unsubscribe link, for a request line."""
    url = links(ADDRESS, base_url=server.url, mailto="s@example.pl", language="pl", signer=signer).url
    return url.split(f":{server.port}", 1)[1]


def recorded(store: Store) -> list[str]:
    with store.read() as conn:
        return [row.email for row in list_unsubscribed(conn)]


def exchange(server: UnsubscribeServer, request: bytes) -> bytes:
    """Send `request` on a fresh connection and read until the server closes it (every refusal does)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def post(server: UnsubscribeServer, signer: Signer, headers: bytes, body: bytes = ONE_CLICK) -> bytes:
    return exchange(
        server,
        b"POST " + target(server, signer).encode() + b" HTTP/1.1\r\nHost: sklep.example.pl\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n"
        + headers
        + b"\r\n"
        + body,
    )


def status(answer: bytes) -> bytes:
    return answer.split(b"\r\n", 1)[0]


def first_line(connection: socket.socket) -> bytes:
    answer = b""
    while b"\r\n" not in answer and (chunk := connection.recv(4096)):
        answer += chunk
    return status(answer)


def os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


# --- slow clients hold sockets, not threads ---------------------------------------------------------------

# Three ways to stall: in the request line, in the headers, in the body.
STALLS = (
    (b"GET /?t=1.", b"x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ", b"1\r\nConnection: close\r\n\r\n"),
    (
        b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 26\r\n\r\nList-Unsub",
        b"scribe=One-Click",
    ),
)


def test_three_hundred_slow_connections_take_no_thread_and_a_real_unsubscribe_still_works(
    store: Store, signer: Signer, clock: ManualClock
) -> None:
    assert connection_limit(PATIENT.connections) > SLOW + 2, "this machine lets a process open too few files"
    python_before, os_before = threading.active_count(), os_threads()
    bound = PATIENT.threads + 1  # the workers, and the one thread that reads every connection
    with UnsubscribeServer(store, signer, clock, shop_name="Sklep Zosi", limits=PATIENT) as server:
        slow: list[socket.socket] = []
        try:
            for number in range(SLOW):
                connection = socket.create_connection(("127.0.0.1", server.port), timeout=30)
                slow.append(connection)
                connection.sendall(STALLS[number % len(STALLS)][0])
            url = f"http://127.0.0.1:{server.port}{target(server, signer)}"
            page = requests.get(url, timeout=30)
            done = requests.post(url, data=ONE_CLICK, timeout=30)
            assert page.status_code == 200 and "Wypisz mnie" in page.text
            assert done.status_code == 200 and recorded(store) == [ADDRESS]

            # Measured while all 300 are open: a thread per connection would show here.
            assert threading.active_count() <= python_before + bound
            assert os_threads() <= os_before + bound

            # They were accepted (in order, before the two requests above) and held, not dropped: each
            # finishes its request now and is answered (400: none of them carries a valid link).
            for number, connection in enumerate(slow):
                connection.sendall(STALLS[number % len(STALLS)][1])
                assert first_line(connection) == b"HTTP/1.1 400 Bad Request", number
        finally:
            for connection in slow:
                connection.close()
    assert threading.active_count() == python_before, "the stop ended every thread the endpoint had"


def test_a_stop_is_prompt_with_slow_connections_open_and_closes_them(
    store: Store, signer: Signer, clock: ManualClock
) -> None:
    python_before = threading.active_count()
    server = UnsubscribeServer(store, signer, clock, shop_name="Sklep Zosi", limits=PATIENT).start()
    slow = [socket.create_connection(("127.0.0.1", server.port), timeout=30) for _ in range(50)]
    try:
        for connection in slow:
            connection.sendall(STALLS[1][0])
        requests.get(server.url, timeout=30)  # every connection before this one was accepted
        started = time.monotonic()
        server.stop()
        # Not waiting for the 600 s idle timeout, nor for a join to give up.
        assert time.monotonic() - started < STOP_TIMEOUT
        for connection in slow:
            assert connection.recv(64) == b"", "the server closed it"
    finally:
        for connection in slow:
            connection.close()
    assert threading.active_count() == python_before
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url, timeout=10)


def test_a_silent_connection_is_closed_after_the_idle_timeout(
    store: Store, signer: Signer, clock: ManualClock
) -> None:
    limits = Limits(idle_timeout=1, cleanup_interval=1)
    with (
        UnsubscribeServer(store, signer, clock, shop_name="", limits=limits) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=60) as connection,
    ):
        connection.sendall(STALLS[0][0])
        assert connection.recv(64) == b"", "closed by the server, with no answer to half a request line"
        assert requests.get(server.url, timeout=30).status_code == 400, "and the endpoint still answers"


# --- request framing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "length",
    [
        "２６".encode(),  # full-width digits: int() reads them as 26
        "٢٦".encode(),  # Arabic-Indic digits, the same
        b"+26",
        b"-1",
        b"2 6",
        b"26 26",
        b"0x1a",
        b"1a",
        b"26.0",
        b"",
        b"26, 26",
        b"26\r\nContent-Length: 26",  # two headers, as a proxy might keep the first and we the second
        b"9" * 40,  # digits a proxy might read as a huge number and int() may refuse
    ],
)
def test_a_content_length_that_is_not_plain_ascii_digits_gets_400_never_500(
    server: UnsubscribeServer, signer: Signer, store: Store, length: bytes
) -> None:
    answer = post(server, signer, b"Content-Length: " + length + b"\r\n")
    assert status(answer) == b"HTTP/1.1 400 Bad Request"
    assert b"Content-Security-Policy: default-src 'none'" in answer
    assert recorded(store) == [], "a lenient reading would have unsubscribed"
    assert status(post(server, signer, b"Content-Length: 26\r\n")) == b"HTTP/1.1 200 OK"


@pytest.mark.parametrize(
    "encoding",
    [
        b"Transfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: Chunked\r\n",
        b"Transfer-Encoding:\tchunked\r\n",
        b"Transfer-Encoding: gzip, chunked\r\n",
        b"Transfer-Encoding: identity\r\n",
        b"Transfer-Encoding: \r\n",
        b"Transfer-Encoding: chunked\r\nContent-Length: 26\r\n",
        b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
    ],
)
def test_a_request_body_framed_by_transfer_encoding_is_refused(
    server: UnsubscribeServer, signer: Signer, store: Store, encoding: bytes
) -> None:
    # The chunked body hides a second, complete one-click request: smuggled, it would unsubscribe.
    hidden = (
        b"POST " + target(server, signer).encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 26\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n\r\n" + ONE_CLICK
    )
    body = b"1a\r\n" + ONE_CLICK + b"\r\n0\r\n\r\n" + hidden
    answer = post(server, signer, encoding, body)
    assert status(answer) == b"HTTP/1.1 400 Bad Request"
    assert answer.count(b"HTTP/1.1 ") == 1, "one answer, then the connection closed: nothing smuggled"
    assert b"X-Frame-Options: DENY" in answer
    assert recorded(store) == []


def test_transfer_encoding_on_an_http_1_0_request_is_refused_too(
    server: UnsubscribeServer, signer: Signer, store: Store
) -> None:
    answer = exchange(
        server,
        b"POST " + target(server, signer).encode() + b" HTTP/1.0\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Length: 26\r\n\r\n" + ONE_CLICK,
    )
    assert status(answer) == b"HTTP/1.0 400 Bad Request"
    assert recorded(store) == []


def test_bodies_above_the_limit_get_413_and_headers_above_it_431(
    server: UnsubscribeServer, signer: Signer, store: Store
) -> None:
    padded = ONE_CLICK + b"&pad=" + b"x" * 5000
    answer = post(server, signer, f"Content-Length: {len(padded)}\r\n".encode(), padded)
    assert status(answer) == b"HTTP/1.1 413 Request Entity Too Large"
    assert "Żądanie było zbyt duże".encode() in answer, "the endpoint's own page, in the link's language"

    # Past what the server buffers at all: refused from the headers, before any of the body is read.
    huge = post(server, signer, b"Content-Length: 1000000\r\n", b"")
    assert status(huge) == b"HTTP/1.1 413 Request Entity Too Large"
    assert b"Cache-Control: no-store" in huge

    # Headers that reach the limit before they end; exactly that much is sent, so the server has read
    # everything when it answers (unread bytes at its close would reset the connection under the answer).
    head = b"GET " + target(server, signer).encode() + b" HTTP/1.1\r\nX-Padding: "
    crowded = exchange(server, head + b"x" * (PATIENT.max_header_bytes - len(head)))
    # (waitress answers in HTTP/1.0 here: it never read the request's version)
    assert status(crowded).endswith(b" 431 Request Header Fields Too Large")
    assert b"Referrer-Policy: no-referrer" in crowded
    assert recorded(store) == []


def test_the_endpoint_serves_on_ipv6_loopback(store: Store, signer: Signer, clock: ManualClock) -> None:
    with UnsubscribeServer(store, signer, clock, shop_name="", host="::1") as server:
        assert server.url == f"http://[::1]:{server.port}/"
        assert requests.get(server.url, timeout=30).status_code == 400  # no link's token: the "bad" page


# --- UNSUBSCRIBE_LISTEN stays on loopback unless the owner says otherwise ---------------------------------


@pytest.mark.parametrize(
    "listen", ["127.0.0.1:8787", "[::1]:8787", "localhost:8787", "127.0.0.2:9000", "[::ffff:127.0.0.1]:8787"]
)
def test_a_loopback_listen_address_is_fine(listen: str) -> None:
    assert Settings.from_mapping({**SHOP, "UNSUBSCRIBE_LISTEN": listen}).unsubscribe_exposed is False


@pytest.mark.parametrize(
    "listen", ["0.0.0.0:8787", "[::]:8787", "203.0.113.7:8787", "192.168.1.10:8787", "sklep.example.pl:8787"]
)
def test_a_listen_address_other_machines_reach_needs_unsubscribe_exposed(listen: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_mapping({**SHOP, "UNSUBSCRIBE_LISTEN": listen})
    [problem] = refused.value.problems
    assert problem.startswith("UNSUBSCRIBE_LISTEN: ") and "UNSUBSCRIBE_EXPOSED=yes" in problem
    assert "\n" not in problem

    exposed = Settings.from_mapping({**SHOP, "UNSUBSCRIBE_LISTEN": listen, "UNSUBSCRIBE_EXPOSED": "yes"})
    assert exposed.unsubscribe_exposed is True
    assert exposed.unsubscribe_listen[1] == 8787
