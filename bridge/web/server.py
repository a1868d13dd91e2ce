"""A threaded HTTP server on this machine that stops at once, for the webservice simulator (the
unsubscribe endpoint, which faces the internet, is served by waitress: bridge/web/serving.py).

`ThreadingHTTPServer.shutdown()` stops accepting, but a handler thread blocked on a kept-alive connection
waits for its read timeout. Handlers register their connection (`track`) so `close_connections()` can
wake them, and `join_handlers()` waits for them with a bound.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StoppableHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._connections: set[socket.socket] = set()
        self._handlers: set[threading.Thread] = set()
        self._tracking = threading.Lock()
        self._thread: threading.Thread | None = None
        super().__init__(address, handler)

    def serve_in_background(self, name: str, *, poll_interval: float) -> None:
        """Answer requests in a daemon thread until `stop()`."""
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": poll_interval}, name=name, daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, close the socket, wake and wait for the handlers (each wait bounded)."""
        self.shutdown()
        self.server_close()
        self.close_connections()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.join_handlers(timeout)

    def track(self, connection: socket.socket) -> None:
        with self._tracking:
            self._connections.add(connection)
            self._handlers.add(threading.current_thread())

    def untrack(self, connection: socket.socket) -> None:
        with self._tracking:
            self._connections.discard(connection)
            self._handlers.discard(threading.current_thread())

    def close_connections(self) -> None:
        """Wake handlers waiting on a kept-alive connection, so a stop does not wait for their timeout."""
        with self._tracking:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def join_handlers(self, timeout: float) -> None:
        with self._tracking:
            handlers = list(self._handlers)
        for handler in handlers:
            handler.join(timeout)
