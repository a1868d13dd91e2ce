"""`bridge run`: the two steps of the cycle (bridge.cycle) on an APScheduler 3.x schedule, in one process.

- `poll` reads the shop every POLL_INTERVAL (a first run at start) and enqueues what is due;
- `deliver` sends due emails one at a time, woken as soon as a poll queued some, and otherwise at the
  next `not_before` (a retry's backoff, a pause's end) or every POLL_INTERVAL at the latest.

They are separate jobs so a slow shop never delays mail and a long send never delays a poll; each runs
one instance at a time (`max_instances=1`), and missed runs (a suspended machine) coalesce into one.
The shop client belongs to `poll` and the SMTP connection to `deliver` (with its own shop client for the
last check of a cart reminder): no object is shared by threads except the store, whose transactions
serialise. The abandoned-cart pass rides on `poll` and runs every CART_POLL_INTERVAL. With marketing mail
on, the unsubscribe endpoint (UNSUBSCRIBE_LISTEN) runs for as long as the service does.

SIGTERM/SIGINT: the email in flight is finished and its outcome committed; no further email is claimed,
the jobs end, and `run()` returns (exit 0). A poll in flight is waited for: each of its requests is
bounded by PRESTASHOP_DEADLINE, and a kill there loses nothing (its transaction never committed).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Final

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler

from bridge import alerts
from bridge.app import Bridge
from bridge.clock import SystemClock
from bridge.config import format_duration
from bridge.cycle import Cycle, SyncSummary
from bridge.cycle.belongs import ForeignStoreError
from bridge.errors import BridgeError
from bridge.plan.rules import Decision
from bridge.state import outbox
from bridge.state.plans import cancel_marketing
from bridge.state.store import Tx
from bridge.web.unsubscribe import UnsubscribeServer

log = logging.getLogger(__name__)

POLL: Final = "poll"
DELIVER: Final = "deliver"
TICK: Final = 0.5  # how often the main thread looks at the stop flag (seconds)
MIN_WAIT: Final = timedelta(seconds=1)  # between delivery runs, so a past `resume_at` cannot spin
STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)


class Service:
    """The scheduler and its jobs. `run()` blocks until SIGTERM/SIGINT (or `stop_requested` is set)."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self.stop_requested = threading.Event()
        self.failure: BaseException | None = None
        self._delivering = threading.Lock()
        self.cycle = Cycle.of(bridge)
        self._idle = threading.Event()  # never set: the main thread's pause between looks at the flag
        interval = bridge.settings.poll_interval.total_seconds()
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=2)},
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
        )
        # APScheduler keeps real time whatever clock the bridge was given, so its instants come from
        # SystemClock; the bridge's clock only dates what the jobs do.
        start = SystemClock().now()
        self.scheduler.add_job(
            self._job(self.poll), "interval", seconds=interval, id=POLL, name=POLL, next_run_time=start
        )
        self.scheduler.add_job(
            self._job(self.deliver),
            "interval",
            seconds=interval,
            id=DELIVER,
            name=DELIVER,
            next_run_time=start,
        )

    def poll(self) -> None:
        """One poll of the shop; wakes delivery when it queued something (or an owner alert fell due)."""
        if self.stop_requested.is_set():
            return
        result = self.cycle.poll()
        if result.error is not None:
            log.error("poll failed: %s", result.error)
            if result.alert_due:
                self._wake_delivery(timedelta(0))  # the owner's alert: SMTP may work while the shop does not
            return
        queued = result.queued + (result.carts.queued if result.carts is not None else 0)
        if result.changes or queued or result.skipped:
            log.info("poll: %s change(s), %s queued, %s skipped", result.changes, queued, result.skipped)
        else:
            log.debug("poll: nothing new")
        # Committed before this check: a delivery already running will claim these rows itself.
        if queued and not self._delivering.locked():
            self._wake_delivery(timedelta(0))

    def deliver(self) -> None:
        """Send due emails until none is due, the budget or a pause says wait, or a stop is requested
        (the stop flag is looked at between emails)."""
        b = self.bridge
        resume_at: datetime | None = None
        if self.stop_requested.is_set():
            return
        with self._delivering:
            result = self.cycle.deliver(should_stop=self.stop_requested.is_set)
            if result.paused:
                log.debug("delivery waits: %s", result.paused)
                resume_at = result.resume_at
        if not self.stop_requested.is_set():
            now = b.clock.now()
            wait = resume_at - now if resume_at is not None else self._next_due(now)
            self._wake_delivery(max(wait, MIN_WAIT))

    def unsubscribe_server(self) -> UnsubscribeServer | None:
        """The endpoint UNSUBSCRIBE_URL forwards to, when marketing mail is on."""
        b = self.bridge
        if b.marketing is None:  # marketing mail is off
            return None
        identity = alerts.sender_identity(b.store, b.settings)
        host, port = b.settings.unsubscribe_listen
        return UnsubscribeServer(
            b.store,
            b.marketing.signer,  # the key that signed the links must check them
            b.clock,
            shop_name=identity.name if identity is not None else "",
            host=host,
            port=port,
            after_unsubscribe=_cancel_marketing,
        )

    def run(self) -> None:
        """Start the jobs and block until asked to stop; then let the jobs finish and return."""
        in_main = threading.current_thread() is threading.main_thread()
        previous = (
            {number: signal.signal(number, self._on_signal) for number in STOP_SIGNALS} if in_main else {}
        )
        try:
            settings = self.bridge.settings
            log.info(
                "running (pid %s): polling %s every %s, sending through %s",
                os.getpid(),
                settings.prestashop_url,
                format_duration(settings.poll_interval),
                f"{settings.smtp_host}:{settings.smtp_port}"
                if settings.mail_transport == "smtp"
                else "files",
            )
            endpoint = self.unsubscribe_server()
            if endpoint is not None:
                endpoint.start()
                log.info(
                    "unsubscribe endpoint listening on %s for %s", endpoint.url, settings.unsubscribe_url
                )
            try:
                self.scheduler.start()
                while not self.stop_requested.is_set():
                    self._idle.wait(TICK)
            finally:
                if endpoint is not None:
                    endpoint.stop()
        finally:
            if self.scheduler.running:
                self.scheduler.shutdown(wait=True)
            for number, handler in previous.items():
                signal.signal(number, handler)
        if self.failure is not None:
            raise self.failure
        log.info("stopped")

    def _on_signal(self, number: int, frame: FrameType | None) -> None:
        # Runs in the main thread between bytecodes: only set the flag (the main loop never waits on it).
        if self.stop_requested.is_set():
            log.info("%s: already stopping, finishing the email in flight", signal.Signals(number).name)
            return
        log.info("%s: stopping after the email in flight", signal.Signals(number).name)
        self.stop_requested.set()

    def _job(self, body: Callable[[], None]) -> Callable[[], None]:
        def job() -> None:
            try:
                body()
            except ForeignStoreError as error:  # another shop's store: nothing may run on it (exit 78)
                self.failure = error
                self.stop_requested.set()
            except BridgeError as error:  # the store or a setting: the owner's to fix; try again next run
                log.error("%s: %s", body.__name__, error)
            except BaseException as error:  # a bug: stop, and let the traceback reach the owner
                log.critical("%s failed unexpectedly; stopping", body.__name__, exc_info=True)
                self.failure = error
                self.stop_requested.set()

        return job

    def _next_due(self, now: datetime) -> timedelta:
        """How long until the next queued email falls due (a retry's backoff); the poll interval if none."""
        with self.bridge.store.read() as tx:
            first = outbox.next_due_at(tx)
        return self.bridge.settings.poll_interval if first is None else max(first - now, timedelta(0))

    def _wake_delivery(self, delay: timedelta) -> None:
        """Run `deliver` after `delay`, unless it is due sooner anyway."""
        when = SystemClock().now() + delay
        job = self.scheduler.get_job(DELIVER)
        if job is None or self.stop_requested.is_set():
            return
        if job.next_run_time is None or when < job.next_run_time:
            with contextlib.suppress(JobLookupError):  # the scheduler is shutting down
                job.modify(next_run_time=when)


def _cancel_marketing(tx: Tx, email: str, now: datetime) -> None:
    """An unsubscribe cancels the marketing mail still waiting for that address, in the same transaction."""
    cancel_marketing(tx, email, "not sent: the address unsubscribed", now=now)


def sync_recorded(
    bridge: Bridge, *, since: datetime | None = None, confirm: Callable[[list[Decision]], None] | None = None
) -> SyncSummary:
    """`bridge sync`: one cycle."""
    return Cycle.of(bridge).once(since=since, confirm=confirm)


def main(argv: list[str] | None = None) -> int:
    """`python -m bridge.service [--env-file F] run|sync [--wait]`: what `bridge run`/`bridge sync` do, for
    the end-to-end tests (and a system without the `bridge` script on its PATH)."""
    from bridge.app import open_bridge, require_shop
    from bridge.config import load_settings
    from bridge.lock import bridge_lock
    from bridge.logs import log_settings_warnings, setup_logging

    parser = argparse.ArgumentParser(prog="python -m bridge.service")
    parser.add_argument("--env-file", type=Path)
    parser.add_argument("command", choices=("run", "sync"))
    parser.add_argument("--wait", action="store_true")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.env_file)
        setup_logging(settings.log_level, settings.secrets())
        log_settings_warnings(settings.warnings)
        require_shop(settings)  # before the lock and the store: without a shop, nothing is written
        locked = bridge_lock(settings.state_dir, shop_url=settings.prestashop_url, wait=args.wait)
        with locked, open_bridge(settings, SystemClock()) as bridge:
            if args.command == "run":
                Service(bridge).run()
            else:
                print(sync_recorded(bridge).line())  # noqa: T201 - the command's one line of output
    except BridgeError as error:
        print(f"bridge: {error}", file=sys.stderr)  # noqa: T201
        return error.exit_code
    return 0


if __name__ == "__main__":
    # Run the module proper (`bridge.service`, its logger name included), not this `__main__` copy.
    from bridge.service import main as service_main

    sys.exit(service_main())
