"""Faults the simulator can inject, so tests see what a real shop behind nginx/Apache sometimes does.

Queue faults for the next requests with `next()`, or inject them at a seeded random rate with `rate()`.
`timeout` holds the answer on an Event (released by `Simulator.stop()`, or by `let_go()` for a test that
killed the client and goes on with the same simulator), never with a sleep.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args

FaultKind = Literal[
    "500", "502", "503", "php_warning", "timeout", "html", "truncated", "auth_flap", "maintenance", "reset"
]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)


@dataclass
class _Queued:
    kind: FaultKind
    remaining: int
    resource: str | None
    passing: int = 0  # matching requests still let through before the fault starts


class FaultPlan:
    """Which requests get a fault instead of (or on top of) the normal answer."""

    def __init__(self) -> None:
        self.timeout_hold: float = 5.0  # seconds a "timeout" fault holds the answer, at most
        self.release = threading.Event()  # set on stop: held answers are let go at once
        self.injected: list[tuple[FaultKind, str]] = []  # (kind, request path), in order
        self._lock = threading.Lock()
        self._queue: list[_Queued] = []
        self._probability = 0.0
        self._kinds: tuple[FaultKind, ...] = ()
        self._rng = random.Random(0)

    def next(
        self, kind: FaultKind, count: int = 1, resource: str | None = None, *, after: int = 0
    ) -> FaultPlan:
        """Give the next `count` requests (for `resource`, or any) the fault `kind`, once `after` of them
        went through untouched (a point in the middle of a paged read)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._queue.append(_Queued(kind, count, resource, after))
        return self

    def rate(self, probability: float, kinds: Iterable[FaultKind], seed: int) -> FaultPlan:
        """Inject one of `kinds` into each request with `probability`, reproducibly for a given `seed`."""
        chosen = tuple(kinds)
        for kind in chosen:
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {kind!r}")
        if not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        if probability > 0 and not chosen:
            raise ValueError("rate() needs at least one fault kind")
        with self._lock:
            self._probability = probability
            self._kinds = chosen
            self._rng = random.Random(seed)
        return self

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._probability = 0.0
            self._kinds = ()

    def take(self, resource: str | None, path: str) -> FaultKind | None:
        """The fault for this request, if any (called once per webservice request)."""
        with self._lock:
            for queued in self._queue:
                if queued.resource is None or queued.resource == resource:
                    if queued.passing > 0:
                        queued.passing -= 1
                        return None
                    queued.remaining -= 1
                    if queued.remaining == 0:
                        self._queue.remove(queued)
                    self.injected.append((queued.kind, path))
                    return queued.kind
            if self._probability > 0 and self._rng.random() < self._probability:
                kind = self._rng.choice(self._kinds)
                self.injected.append((kind, path))
                return kind
        return None

    def hold(self) -> None:
        """Keep a "timeout" answer back until the client has given up (bounded; released on stop)."""
        self.release.wait(self.timeout_hold)

    def let_go(self) -> None:
        """Send every answer held so far now; later "timeout" faults hold afresh (stop() lets all go)."""
        with self._lock:
            held, self.release = self.release, threading.Event()
        held.set()


NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n"
    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
NGINX_503 = (
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n"
    "</html>\r\n"
)
MAINTENANCE_PAGE = (
    '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Maintenance</title>\n</head>\n'
    '<body>\n<section id="main">\n<h1>We\'ll be back soon.</h1>\n'
    "<p>We are currently updating our shop and will be back really soon.<br>Thanks for your patience.</p>\n"
    "</section>\n</body>\n</html>\n"
)
CACHE_PAGE = (
    '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n<title>Just a moment...</title>\n</head>\n'
    "<body>\n<h1>Checking your browser before accessing the shop.</h1>\n"
    "<p>This process is automatic. Your browser will redirect to your requested content shortly.</p>\n"
    "</body>\n</html>\n"
)
PHP_WARNING_MESSAGE = (
    '[PHP Warning #2] Undefined array key "id_order" '
    "(/var/www/prestashop/classes/webservice/WebserviceOutputBuilder.php, line 727)"
)
