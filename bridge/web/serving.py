"""Serving the unsubscribe endpoint to the internet: waitress, with bounded threads, strict request framing
and a prompt stop.

Why waitress (Pylons' pure-Python WSGI server, maintained since 2012, no C extension to build):
- one thread reads every connection asynchronously and hands a request to a worker only once it has
  arrived whole, so a client that sends slowly (slowloris) holds a socket, never a thread;
- a fixed pool of worker threads, a limit on open connections, and an idle timeout that closes them;
- an HTTP/1.1 parser hardened against request smuggling: Content-Length must be ASCII digits, no bare CR
  or LF, strict chunk sizes (the 2.1.1 and 3.0.1 security releases).

Stricter than waitress alone, because a proxy in front may read a request differently than we do:
- a request carrying Transfer-Encoding (chunked or any other) is refused with 400: a one-click POST is
  26 bytes with a Content-Length, and a body framed two ways is how requests are smuggled;
- a Content-Length longer than 18 digits is refused (400) before waitress turns it into a number;
- waitress's own refusals (400, 413, 431, 501) carry the endpoint's security headers and a small page.
"""

from __future__ import annotations

import contextlib
import logging
import resource
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher

from bridge.web.pages import SECURITY_HEADERS, error_page

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication

log = logging.getLogger("bridge.web.unsubscribe")

IDENT: Final = "bridge-unsubscribe"  # the Server header: no server or Python version for the world to read
MAX_LENGTH_DIGITS: Final = 18  # a longer Content-Length is no real request (and int() may refuse it)
STOP_TIMEOUT: Final = 5  # seconds stop() waits for the reading thread, then for each worker's request


@dataclass(frozen=True)
class Limits:
    """How much of this machine the endpoint may take, whoever connects.

    Fixed rather than settings: one-click requests are few and tiny, each one short SQLite transaction
    (SQLite serialises writers, so more threads would only queue on its lock); what an attack exhausts
    (sockets, file descriptors) is bounded here, and a busier shop's web server absorbs the rest.
    """

    threads: int = 4  # workers answering whole requests; the process never has more for the endpoint
    connections: int = 500  # open connections; more wait in the kernel's queue until one closes
    idle_timeout: int = 20  # seconds a connection may stay silent (mid-request or kept alive), then closed
    cleanup_interval: int = 2  # seconds between looks for idle connections
    max_header_bytes: int = 16384  # request line and headers; a link's token is at most 512 characters
    max_buffered_body: int = 65536  # read whole, so the app's 413 arrives cleanly; larger gets waitress's 413


def connection_limit(wanted: int) -> int:
    """`wanted`, or half the file descriptors this process may open when that is less (macOS: 256).

    Running out of descriptors would make accept() fail over and over; the rest serve SQLite, SMTP and
    the shop's webservice.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(8, min(wanted, soft // 2))


class _StrictParser(HTTPRequestParser):
    """Waitress's parser, refusing what a proxy in front could frame differently."""

    def parse_header(self, header_plus: bytes) -> None:
        first_line, *lines = header_plus.split(b"\r\n")
        for line in lines:
            name, _, value = line.partition(b":")
            name = name.lower()
            if name == b"transfer-encoding":
                problem = "Transfer-Encoding is not accepted; send Content-Length"
            elif name == b"content-length" and len(value.strip(b" \t").lstrip(b"0")) > MAX_LENGTH_DIGITS:
                problem = "Content-Length is too long"
            else:
                continue  # waitress checks the rest, a malformed line included
            # Answered in the request's version (waitress learns it only further on).
            self.version = "1.1" if first_line.rstrip().endswith(b"HTTP/1.1") else "1.0"
            raise ParsingError(problem)
        super().parse_header(header_plus)


class _ErrorTask(ErrorTask):
    """Waitress's refusal of a malformed request, as the endpoint's own page with its headers."""

    def execute(self) -> None:
        error = cast(HTTPRequestParser, self.request).error
        try:
            status = HTTPStatus(error.code if error is not None else 400)
        except ValueError:
            status = HTTPStatus.BAD_REQUEST
        # Waitress's reason, without any header line it quotes (a header may hold a token).
        reason = (error.body if error is not None else "").split('"')[0].strip()
        log.debug("unsubscribe endpoint: refused a request: %d %s (%s)", status, status.phrase, reason)
        body = error_page(status)
        self.status = f"{status.value} {status.phrase}"
        self.response_headers = [
            *self.response_headers,
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Language", "en"),
            *SECURITY_HEADERS,
        ]
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class _Channel(HTTPChannel):
    parser_class = _StrictParser
    error_task_class = _ErrorTask


class _Server(TcpWSGIServer):
    channel_class = _Channel


class _Workers(ThreadedTaskDispatcher):
    """Waitress's worker pool, keeping its threads so a stop can wait for them to end."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.started: list[threading.Thread] = []

    def start_new_thread(self, target: Callable[[int], object], thread_no: int) -> None:
        thread = threading.Thread(
            target=target, name=f"{self.name}-{thread_no}", args=(thread_no,), daemon=True
        )
        self.started.append(thread)
        thread.start()


class _Trigger(Protocol):
    """Waitress's wake-up pipe: `thunk` runs in the thread that reads the connections."""

    def pull_trigger(self, thunk: Callable[[], object] | None = None) -> None: ...


class BackgroundServer:
    """A WSGI application served by waitress from a daemon thread until `stop()`.

    The socket is bound when the object is made (OSError when it cannot be); `start()` starts the worker
    threads and the thread that reads connections.
    """

    def __init__(self, app: WSGIApplication, host: str, port: int, limits: Limits, *, name: str) -> None:
        self.limits = limits
        self.name = name
        self._map: dict[int, Any] = {}  # waitress's socket map: the listener, its wake-up pipe, connections
        self._workers = _Workers(name)
        adjustments = Adjustments(
            host=host,
            port=port,
            threads=limits.threads,
            connection_limit=connection_limit(limits.connections),
            channel_timeout=limits.idle_timeout,
            cleanup_interval=limits.cleanup_interval,
            max_request_header_size=limits.max_header_bytes,
            max_request_body_size=limits.max_buffered_body,
            asyncore_use_poll=True,  # select() cannot watch descriptors numbered above 1023
            ident=IDENT,
            log_socket_errors=False,  # clients that hang up are not worth a traceback
        )
        try:
            self._server = _Server(app, map=self._map, dispatcher=self._workers, adj=adjustments)
        except BaseException:
            wasyncore.close_all(self._map, ignore_all=True)  # the wake-up pipe, made before the bind
            raise
        self.port = int(self._server.socket.getsockname()[1]) if self._server.socket else port
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._stopped or self._thread is not None:
                return
            self._workers.set_thread_count(self.limits.threads)  # only now: a failed bind starts none
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            self._server.run()  # until the socket map is empty
        except Exception:
            log.exception("unsubscribe endpoint: the server stopped unexpectedly")
            self._close_all()

    def stop(self, timeout: int = STOP_TIMEOUT) -> None:
        """Close the listener and every connection, then let the workers finish their request and end;
        each wait is bounded by `timeout`."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            thread = self._thread
        if thread is not None and thread.is_alive():
            try:
                cast(_Trigger, self._server.trigger).pull_trigger(self._close_all)
            except OSError:  # the loop closed its wake-up pipe on its way out: nothing left to wake
                self._close_all()
            thread.join(timeout)
            if thread.is_alive():
                log.warning("unsubscribe endpoint: the server thread did not stop within %ss", timeout)
        else:
            self._close_all()
        self._workers.set_thread_count(0)
        for worker in self._workers.started:
            worker.join(timeout)
        self._workers.shutdown(cancel_pending=True, timeout=timeout)  # returns at once when all ended

    def _close_all(self) -> None:
        """In the reading thread (or when it never ran): once the map is empty, its loop returns."""
        with contextlib.suppress(Exception):
            wasyncore.close_all(self._map, ignore_all=True)
