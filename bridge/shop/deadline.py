"""A total deadline for one exchange with the shop: connecting, the TLS handshake, the headers and the whole
body, however slowly the other side drips them.

Why a watchdog: urllib3's timeouts (`Timeout(total=)` included) are set on the socket per read, so a server
that sends one byte every few seconds never trips them. Instead, every exchange runs under a `Deadline`
whose timer thread shuts the exchange's socket down when the deadline passes; the read blocked on it
returns at once (end of stream), requests raises one of its connection errors, and the transport sees
`Deadline.expired` and reports the overrun. Checking a monotonic clock between reads of a streamed body
would not do: the headers (and a TLS handshake) are read inside urllib3, one slow byte at a time.

The socket is found through urllib3 connection classes mounted on the session (`watched_adapter`): a
connection shows the deadline of the calling thread (a session belongs to one thread) its socket when it
connects and whenever it is reused for a request. During `connect()` a duplicate descriptor is watched,
because wrapping the socket in TLS detaches the original object while the handshake still reads from it.
A SOCKS proxy (`socks5://` in HTTPS_PROXY) is not watched; there, the per-read timeout is the only bound.

The watchdog is real time, like the socket timeouts it completes: it bounds what the network does, so the
bridge's injected clock has no say in it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType
from typing import Any, Final

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_in_flight: Final = threading.local()  # `.deadline`: the Deadline of the exchange this thread is running


class Deadline:
    """The end of one exchange (`with Deadline(seconds) as deadline:`); its socket is shut down then."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self.expired = False
        self.received: int | None = None  # bytes of the body read so far (None: no headers yet)
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._owned = False  # `_sock` is a duplicate descriptor this object must close
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def remaining(self) -> float:
        return max(0.0, self.ends - time.monotonic())

    def watch(self, sock: socket.socket, *, owned: bool = False) -> None:
        """Shut `sock` down when the deadline passes (at once if it has); `owned`: close it when replaced."""
        with self._lock:
            self._forget()
            self._sock, self._owned = sock, owned
            if self.expired:
                _shut(sock)

    def __enter__(self) -> Deadline:
        _in_flight.deadline = self
        self._timer.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._timer.cancel()
        _in_flight.deadline = None
        with self._lock:
            self._forget()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            if self._sock is not None:
                _shut(self._sock)

    def _forget(self) -> None:
        """Stop watching the current socket (the lock is held)."""
        if self._owned and self._sock is not None:
            self._sock.close()
        self._sock, self._owned = None, False


def current() -> Deadline | None:
    """The deadline of the exchange the calling thread is running, if any."""
    deadline: Deadline | None = getattr(_in_flight, "deadline", None)
    return deadline


def _shut(sock: socket.socket) -> None:
    """End the stream for whoever reads it. The plain socket's shutdown, also for a TLS socket: its own
    `shutdown` would drop the TLS state under the reading thread's feet."""
    with contextlib.suppress(OSError):  # already closed or never connected: nothing left to stop
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _WatchedHTTPConnection(HTTPConnection):
    """Shows the running exchange's deadline the socket it reads from."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        deadline = current()
        if deadline is not None:
            deadline.watch(sock.dup(), owned=True)  # the TLS handshake detaches `sock` itself
        return sock

    def connect(self) -> None:
        super().connect()
        self._show()

    def request(self, *args: Any, **kwargs: Any) -> None:
        self._show()  # a kept-alive connection is reused without connect()
        super().request(*args, **kwargs)

    def _show(self) -> None:
        deadline = current()
        if deadline is not None and self.sock is not None:
            deadline.watch(self.sock)


class _WatchedHTTPSConnection(_WatchedHTTPConnection, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS: Final = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class WatchedAdapter(HTTPAdapter):
    """requests' adapter, with connections a `Deadline` can cut (mount it for http:// and https://)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_WATCHED_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(_WATCHED_POOLS)
        return manager
