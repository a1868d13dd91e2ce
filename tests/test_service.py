"""`bridge run`: the service. Its wiring, a clean stop on SIGTERM that finishes the email in flight, and
the whole thing end to end as a real process against the simulator and a Gmail-like SMTP server.

The end-to-end tests start the bridge with `python -m bridge.service --env-file ENV run|sync` (what
`bridge run`/`bridge sync` do). They wait for the bridge's own log lines and for the SMTP server, never
for time to pass; the only durations asserted are the promises themselves (mail within one poll
interval, a stop within seconds).
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import requests

from bridge.app import Bridge
from bridge.clock import SystemClock
from bridge.commands.status import gather
from bridge.config import setting_names
from bridge.cycle.orders import poll_orders as poll
from bridge.delivery.smtp import SendResult
from bridge.logs import secret_forms
from bridge.secret import Secret
from bridge.service import DELIVER, POLL, Service
from bridge.simulator import Simulator
from bridge.simulator.actions import PostalAddress, Shop
from bridge.simulator.demo_shop import BOWL, MUG, MUG_HONEY
from bridge.state.outbox import OutboxRow, Status, list_rows
from bridge.state.store import open_store
from bridge.state.unsubscribes import unsubscribed
from bridge.web.unsubscribe import Signer, load_key
from tests.conftest import SHOP_KEY, World
from tests.smtp_server import DEFAULT_PASSWORD, DEFAULT_USERNAME, GmailLikeServer

ROOT = Path(__file__).resolve().parents[1]
WAIT = 30.0  # the longest any one wait may take before the test fails
POLL_SECONDS = 10  # POLL_INTERVAL's minimum: the end-to-end tests wait for real polls
STOP_SECONDS = 5.0  # "exit 0 within a few seconds" of SIGTERM
WARSAW = PostalAddress("ul. Marszałkowska 10/4", "00-590", "Warszawa", phone="+48 600 700 800")


def place_orders(shop: Shop, count: int, *, first: int = 1) -> dict[int, str]:
    """`count` customers each place one order paid by card at checkout: one confirmation each."""
    placed = {}
    for number in range(first, first + count):
        customer = shop.register_customer(
            "Jan", f"Nowak{number}", f"klient{number}@example.com", address=WARSAW
        )
        cart = shop.create_cart(customer.customer_id, [(MUG, 2, MUG_HONEY), (BOWL, 1)], carrier_id=2)
        placed[shop.place_order(cart, "przelewy24")] = f"klient{number}@example.com"
        shop.advance(7)
    return placed


def bridge_of(world: World, transport: Any = None) -> Bridge:
    return Bridge(
        world.settings, world.clock, world.client, world.store, transport or world.sender, world.renderer
    )


def queued_orders(world: World, count: int) -> None:
    """A baseline, then `count` orders polled into the outbox (nothing sent yet)."""
    assert world.sync().poll.baseline
    world.shop.advance(timedelta(minutes=1))
    place_orders(world.shop, count)
    world.shop.advance(30)
    assert poll(world.client, world.store, world.settings, now=world.clock.now()).queued == count


# --- in this process ------------------------------------------------------------------------------------


def test_the_scheduler_polls_and_delivers_once_at_start_then_every_poll_interval_one_at_a_time(
    world: World,
) -> None:
    service = Service(bridge_of(world))
    started = SystemClock().now()
    service.scheduler.start(paused=True)  # the job options are applied at start
    try:
        jobs = {job.id: job for job in service.scheduler.get_jobs()}
    finally:
        service.scheduler.shutdown()
    assert set(jobs) == {POLL, DELIVER}
    for job in jobs.values():
        assert job.trigger.interval == world.settings.poll_interval == timedelta(seconds=60)
        assert (job.max_instances, job.coalesce, job.misfire_grace_time) == (1, True, None)
        # The first run is at start, not a poll interval later.
        assert job.next_run_time <= started + timedelta(seconds=1)


class SignalledTransport:
    """The real SMTP sender, but SIGTERM reaches the bridge while its first email is being sent."""

    def __init__(self, sender: Any, service: Callable[[], Service]) -> None:
        self.sender = sender
        self.service = service
        self.sends = 0

    def send(self, message: EmailMessage, **kwargs: Any) -> SendResult:
        self.sends += 1
        if self.sends == 1:
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGTERM)
            # The handler has run (in the main thread) before this email goes on: it is the one in flight.
            assert self.service().stop_requested.wait(WAIT)
        result: SendResult = self.sender.send(message, **kwargs)
        return result

    def close(self) -> None:
        self.sender.close()


def test_sigterm_finishes_the_email_in_flight_records_it_and_claims_no_other(world: World) -> None:
    queued_orders(world, 3)
    services: list[Service] = []
    transport = SignalledTransport(world.sender, lambda: services[0])
    services.append(Service(bridge_of(world, transport)))

    services[0].run()  # returns: SIGTERM stops the service, no exception

    statuses = sorted(row.status for row in list_rows(world.store) if row.status is not Status.SKIPPED)
    assert statuses == [Status.QUEUED, Status.QUEUED, Status.SENT]
    assert transport.sends == 1 and len(world.mail()) == 1
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the owner's handlers are back


def test_a_bug_in_a_job_stops_the_service_with_its_traceback_instead_of_looping(world: World) -> None:
    queued_orders(world, 1)

    class Broken:
        def send(self, message: EmailMessage, **kwargs: Any) -> SendResult:
            raise RuntimeError("a bug in the transport")

        def close(self) -> None:
            pass

    with pytest.raises(RuntimeError, match="a bug in the transport"):
        Service(bridge_of(world, Broken())).run()


# --- end to end: the bridge as a process ----------------------------------------------------------------


class HoldingServer(GmailLikeServer):
    """The Gmail-like server, but after recording message number `hold_at` it keeps its 250 back until
    `release` is set: the bridge is then in the middle of sending that email."""

    def __init__(self) -> None:
        super().__init__(mode="starttls")
        self.hold_at: int | None = None
        self.holding = threading.Event()
        self.release = threading.Event()

    def _record(self, smtp: Any, envelope_from: str, recipients: tuple[str, ...], raw: bytes) -> int:
        number = super()._record(smtp, envelope_from, recipients, raw)
        if number == self.hold_at:
            self.holding.set()
            self.release.wait(WAIT)  # blocks the server's loop: this test's bridge is its only client
        return number

    def stop(self) -> None:
        self.release.set()
        super().stop()


@dataclass
class Process:
    """A bridge process; a thread reads its stderr (the log) line by line as it comes."""

    popen: subprocess.Popen[str]
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    log: list[str] = field(default_factory=list)
    stdout: str = ""

    def __post_init__(self) -> None:
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.popen.stderr is not None
        for line in self.popen.stderr:
            self.lines.put(line.rstrip("\n"))

    def expect(self, pattern: str, *, timeout: float = WAIT) -> str:
        """The next log line matching `pattern` (the lines before it are kept in `log`)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no log line matching {pattern!r} within {timeout:g} s:\n" + "\n".join(self.log))
            self.log.append(line)
            if re.search(pattern, line):
                return line

    def finish(self, *, timeout: float = WAIT) -> int:
        """Wait for the exit, then collect every log line and the output."""
        try:
            code = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            code = -9
        self.reader.join(WAIT)
        while not self.lines.empty():
            self.log.append(self.lines.get())
        assert self.popen.stdout is not None and self.popen.stderr is not None
        self.stdout = self.popen.stdout.read()
        self.popen.stdout.close()
        self.popen.stderr.close()
        return code

    def stop(self) -> tuple[int, float]:
        """SIGTERM; the exit code and how long the exit took."""
        start = time.monotonic()
        self.popen.send_signal(signal.SIGTERM)
        code = self.finish()
        return code, time.monotonic() - start


@dataclass
class Rig:
    tmp_path: Path
    shop: Shop
    shop_server: Simulator
    smtp: HoldingServer
    processes: list[Process] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state_dir = self.tmp_path / "state"
        self.env_file = self.tmp_path / "bridge.env"
        self.smtp.ca.cert_pem.write_to_path(str(self.tmp_path / "test-ca.pem"))
        values = {
            "PRESTASHOP_URL": self.shop_server.url,
            "PRESTASHOP_API_KEY": SHOP_KEY,
            "PRESTASHOP_RETRIES": "0",
            "SMTP_HOST": self.smtp.host,
            "SMTP_PORT": str(self.smtp.port),
            "SMTP_USERNAME": DEFAULT_USERNAME,
            "SMTP_PASSWORD": DEFAULT_PASSWORD,
            "SMTP_TIMEOUT": "20s",
            "MAIL_FROM": f"Sklep <{DEFAULT_USERNAME}>",
            "STATE_DIR": str(self.state_dir),
            "POLL_INTERVAL": f"{POLL_SECONDS}s",
            "LOG_LEVEL": "DEBUG",  # the most the bridge ever logs: every line is scanned for secrets
            # The process runs on the system clock, the simulated shop on the test's: to the age guard
            # (tests/test_age_guard.py) every order would look days old.
            "MAX_EMAIL_AGE": "0",
        }
        self.env_file.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
        self.env_file.chmod(0o600)

    def start(self, command: str, *options: str) -> Process:
        popen = subprocess.Popen(
            [sys.executable, "-m", "bridge", "--env-file", str(self.env_file), command, *options],
            cwd=self.tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        process = Process(popen)
        self.processes.append(process)
        return process

    def run(self, command: str, *options: str) -> Process:
        """A process that must end on its own, within WAIT."""
        process = self.start(command, *options)
        process.finish()
        return process

    def rows(self) -> list[OutboxRow]:
        with open_store(str(self.state_dir / "bridge.sqlite3")) as store:
            rows = list_rows(store, limit=1000)
        return sorted((row for row in rows if row.status is not Status.SKIPPED), key=lambda row: row.id)

    def received_ids(self) -> list[str]:
        return sorted(str(message.message["Message-ID"]) for message in self.smtp.messages)

    def every_log_line(self) -> list[str]:
        return [line for process in self.processes for line in process.log]


@pytest.fixture
def rig(tmp_path: Path, shop: Shop, shop_server: Simulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    # The env file is the whole configuration; the bridge trusts only the test CA, as it would Gmail's.
    for name in setting_names() | {
        "SSL_CERT_DIR",
        "STATE_DIRECTORY",
        "CREDENTIALS_DIRECTORY",
        "JOURNAL_STREAM",
    }:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "test-ca.pem"))
    smtp = HoldingServer()
    with smtp:
        rig = Rig(tmp_path, shop, shop_server, smtp)
        try:
            yield rig
        finally:
            smtp.release.set()
            for process in rig.processes:
                if process.popen.poll() is None:
                    process.popen.kill()
                if not process.popen.stdout or not process.popen.stdout.closed:
                    process.finish()


def baseline(rig: Rig) -> None:
    sync = rig.run("sync")
    assert sync.popen.returncode == 0, sync.log
    assert sync.stdout.startswith("first run: recorded where the shop stands")
    rig.shop.advance(timedelta(minutes=1))


def test_bridge_run_mails_orders_placed_over_time_within_one_poll_interval_and_stops_on_sigterm(
    rig: Rig,
) -> None:
    service = rig.start("run")
    service.expect(r"first run: baseline recorded")
    for number in (1, 2):
        rig.shop.advance(timedelta(minutes=5))
        [address] = place_orders(rig.shop, 1, first=number).values()
        placed = time.monotonic()
        service.expect(rf"sent to {re.escape(address)}", timeout=POLL_SECONDS + WAIT)
        # The next poll comes within one interval; reading the shop and sending take a moment more.
        assert time.monotonic() - placed < POLL_SECONDS + 5

    with open_store(str(rig.state_dir / "bridge.sqlite3")) as store:
        status = gather(store, settings_of(rig), now=status_now(store))
    assert status.last_poll_error is None and status.outbox["sent"] == 2

    code, took = service.stop()
    assert (code, took < STOP_SECONDS) == (0, True), service.log
    assert any("SIGTERM: stopping after the email in flight" in line for line in service.log)
    assert [line for line in service.log if "bridge.service" in line][-1].endswith(
        "INFO bridge.service: stopped"
    )
    assert rig.received_ids() == sorted(row.message_id for row in rig.rows())
    assert_no_secret_in(rig.every_log_line())


def test_sigterm_mid_delivery_loses_nothing_and_a_restart_sends_nothing_twice(rig: Rig) -> None:
    baseline(rig)
    place_orders(rig.shop, 4)
    rig.smtp.hold_at = 1  # the server has the first email, and keeps back its 250
    service = rig.start("run")
    assert rig.smtp.holding.wait(WAIT + POLL_SECONDS), service.log

    service.popen.send_signal(signal.SIGTERM)
    service.expect(r"SIGTERM: stopping after the email in flight")
    started = time.monotonic()
    rig.smtp.release.set()  # the 250 arrives: the email in flight is done
    code = service.finish()
    assert (code, time.monotonic() - started < STOP_SECONDS) == (0, True), service.log

    rows = rig.rows()
    assert [row.status for row in rows].count(Status.SENT) == 1
    assert [row.status for row in rows].count(Status.QUEUED) == 3  # not claimed, not lost: nothing else
    assert rig.received_ids() == [row.message_id for row in rows if row.status is Status.SENT]

    again = rig.start("run")
    for _ in range(3):
        again.expect(r"sent to klient\d@example\.com")
    assert again.stop()[0] == 0
    rows = rig.rows()
    assert {row.status for row in rows} == {Status.SENT} and len(rows) == 4
    assert rig.received_ids() == sorted(row.message_id for row in rows)  # every email once, none twice
    assert_no_secret_in(rig.every_log_line())


def test_a_sync_while_the_service_runs_says_why_and_sends_nothing(rig: Rig) -> None:
    service = rig.start("run")
    service.expect(r"first run: baseline recorded")
    refused = rig.run("sync")
    assert refused.popen.returncode == 75
    assert f"bridge: another bridge is running (pid {service.popen.pid};" in "\n".join(refused.log)
    assert service.stop()[0] == 0
    assert rig.smtp.messages == []


def test_two_syncs_at_once_one_proceeds_the_other_says_why_or_waits_and_nothing_is_sent_twice(
    rig: Rig,
) -> None:
    baseline(rig)
    place_orders(rig.shop, 1)
    rig.smtp.hold_at = 1
    first = rig.start("sync")
    assert rig.smtp.holding.wait(WAIT), first.log
    second = rig.run("sync")  # while the first is sending
    assert second.popen.returncode == 75
    assert f"bridge: another bridge is running (pid {first.popen.pid};" in "\n".join(second.log)

    waiting = rig.start("sync", "--wait")
    waiting.expect(rf"waiting for the other bridge \(pid {first.popen.pid}\) to finish")
    rig.smtp.release.set()
    assert first.finish() == 0 and "1 sent" in first.stdout
    assert waiting.finish() == 0 and "0 sent" in waiting.stdout  # it ran after, and found nothing to send
    assert len(rig.smtp.messages) == 1
    assert rig.received_ids() == [row.message_id for row in rig.rows()]


# --- helpers --------------------------------------------------------------------------------------------


def settings_of(rig: Rig) -> Any:
    from bridge.config import load_settings

    return load_settings(rig.env_file, environ={})


def status_now(store: Any) -> Any:
    return SystemClock().now()


def assert_no_secret_in(lines: list[str]) -> None:
    """Not the API key, not the SMTP password, in any spelling a log line could carry them."""
    assert lines, "no log lines to scan"
    forms = secret_forms(Secret(SHOP_KEY)) | secret_forms(Secret(DEFAULT_PASSWORD))
    leaked = [line for line in lines if any(form in line for form in forms)]
    assert leaked == []
    # One line per event: no traceback in a normal run (a continuation line starts with spaces).
    assert [line for line in lines if line.startswith(" ")] == []


def test_bridge_run_serves_the_unsubscribe_endpoint_while_it_runs(rig: Rig) -> None:
    with socket.socket() as probe:  # a free port for UNSUBSCRIBE_LISTEN
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with rig.env_file.open("a") as env:
        env.write(f"UNSUBSCRIBE_URL=https://sklep.example.pl/wypisz\nUNSUBSCRIBE_LISTEN=127.0.0.1:{port}\n")
    service = rig.start("run")
    service.expect(r"unsubscribe endpoint listening on http://127\.0\.0\.1:\d+")
    signer = Signer(load_key(rig.state_dir, None))  # the key `bridge run` created in STATE_DIR
    token = signer.token("zofia@example.com")
    answer = requests.post(
        f"http://127.0.0.1:{port}/wypisz?t={token}&l=pl",
        data="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=WAIT,
    )
    assert answer.status_code == 200
    service.expect(r"unsubscribed .*one-click")
    code, _took = service.stop()
    assert code == 0, service.log
    with open_store(str(rig.state_dir / "bridge.sqlite3")) as store, store.read() as conn:
        recorded = unsubscribed(conn, "zofia@example.com")
    assert recorded is not None and recorded.source == "one-click"
    with pytest.raises(requests.ConnectionError):  # the endpoint stopped with the service
        requests.get(f"http://127.0.0.1:{port}/wypisz?t={token}", timeout=WAIT)
