"""Crash tests: `bridge sync` as a real process, killed with SIGKILL at chosen points, then restarted.

The promise under test (docs/design.md §3 "Nothing lost, nothing twice"): whatever moment the process dies at,
after a restart every email is delivered, none twice with different Message-IDs, and the one email SMTP
cannot settle (the server had the whole message, the bridge died before hearing the 250) is `unknown`,
not silently resent.

Real parts only: the demo shop behind the webservice simulator and a Gmail-like SMTP server (STARTTLS,
AUTH, a test CA the subprocess trusts through SSL_CERT_FILE) run in this process on 127.0.0.1; the bridge
runs as `python -m bridge --env-file ENV sync` with its SQLite state in tmp_path. Every run that is
killed, and the first restart after a kill, is such a process; the baseline and the "nothing more on the
next run" checks run the same command in this process, a second faster each.

No kill is timed on the wall clock. Each one waits (polling with a deadline) until the subprocess is
blocked at a known point, then sends SIGKILL:
- before anything was handed over: the SMTP server keeps back its reply to MAIL FROM;
- after the final dot: the server records the message, then keeps back its 250;
- during the poll: the simulator holds its answer to the `customers` request (its "timeout" fault), which
  the poll makes after reading the new orders and before its one enqueue transaction.
The Gmail-like server can script replies, hang up, or drop the line after DATA, but cannot keep a reply
back until released; `HoldingGmailServer` below adds that.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest

from bridge.cli import main
from bridge.config import setting_names
from bridge.simulator import Simulator
from bridge.simulator.actions import PostalAddress, Shop
from bridge.simulator.demo_shop import BOWL, MUG, MUG_HONEY
from bridge.state import cursors
from bridge.state.outbox import (
    STALE_BEFORE_DATA,
    STALE_LEASE,
    OutboxDetail,
    OutboxRow,
    Status,
    get_row,
    list_rows,
    retry,
)
from bridge.state.store import open_store
from tests.conftest import SHOP_KEY
from tests.smtp_server import DEFAULT_PASSWORD, DEFAULT_USERNAME, GmailLikeServer, ReceivedMessage

WAIT = 20.0  # seconds any one wait may take before the test fails (a run normally takes about one)
HoldCommand = Literal["MAIL", "DATA"]
Policy = Literal["hold", "resend"]
WARSAW = PostalAddress("ul. Marszałkowska 10/4", "00-590", "Warszawa", phone="+48 600 700 800")


# --- an SMTP server that can keep a reply back until released --------------------------------------------


class Holds:
    """Which SMTP replies the server keeps back. Armed from the test's thread, consumed by the server's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: dict[str, int] = {}  # command -> how many replies still go out before one is held
        self._waiting: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._held: list[str] = []

    def arm(self, command: HoldCommand, *, after: int = 0) -> None:
        """Let `after` replies to `command` through, then keep the next one back (once)."""
        with self._lock:
            self._armed[command] = after

    def disarm(self) -> None:
        with self._lock:
            self._armed.clear()

    def held(self, command: HoldCommand) -> int:
        """How many replies to `command` have been kept back so far."""
        with self._lock:
            return self._held.count(command)

    def held_more_than(self, command: HoldCommand, count: int) -> bool:
        return self.held(command) > count

    def release_all(self) -> None:
        with self._lock:
            waiting, self._waiting = self._waiting, []
        for loop, event in waiting:
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)

    def wrap(
        self, command: HoldCommand, hook: Callable[..., Awaitable[Any]]
    ) -> Callable[..., Awaitable[Any]]:
        async def held_hook(*args: Any) -> Any:
            if command == "DATA":
                reply = await hook(*args)  # the message is recorded: the server has it
                if self._take(command):
                    await self._hold(command)  # ... and the 250 never leaves
                return reply
            if self._take(command):
                await self._hold(command)
            return await hook(*args)

        return held_hook

    def _take(self, command: str) -> bool:
        with self._lock:
            left = self._armed.get(command)
            if left is None:
                return False
            if left > 0:
                self._armed[command] = left - 1
                return False
            del self._armed[command]
            return True

    async def _hold(self, command: str) -> None:
        event = asyncio.Event()
        with self._lock:
            self._waiting.append((asyncio.get_running_loop(), event))
            self._held.append(command)
        await event.wait()  # cancelled by aiosmtpd when the client's connection is lost


class HoldingGmailServer(GmailLikeServer):
    """The Gmail-like server, plus `holds`: a reply to MAIL, or the 250 after the final dot, kept back.

    The hook is wrapped in `_register`, which the server calls for every new connection before it reads
    a command. (A `script.hold(command)` in tests/smtp_server.py would make this subclass unnecessary.)
    """

    def __init__(self) -> None:
        super().__init__(mode="starttls")
        self.holds = Holds()

    def _register(self, smtp: Any) -> Any:
        hooks = smtp._handle_hooks
        for command in ("MAIL", "DATA"):
            hooks[command] = self.holds.wrap(command, hooks[command])
        return super()._register(smtp)

    def stop(self) -> None:
        self.holds.release_all()
        super().stop()


@pytest.fixture
def holding_smtp() -> Iterator[HoldingGmailServer]:
    server = HoldingGmailServer()
    with server:
        yield server


# --- the bridge as a process ----------------------------------------------------------------------------


@dataclass
class Run:
    """One `bridge sync` process and where its output goes."""

    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        out = self.stdout.read_text(errors="replace") if self.stdout.exists() else ""
        err = self.stderr.read_text(errors="replace") if self.stderr.exists() else ""
        return f"exit {self.process.returncode}\n--- stdout\n{out}--- stderr\n{err}"


@dataclass
class Rig:
    """Writes the owner's env file, starts `bridge sync` subprocesses, kills them, reads the state store."""

    tmp_path: Path
    shop: Shop
    shop_server: Simulator
    smtp: HoldingGmailServer
    runs: list[Run] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state_dir = self.tmp_path / "state"
        self.database = str(self.state_dir / "bridge.sqlite3")
        self.ca_file = self.tmp_path / "test-ca.pem"
        self.smtp.ca.cert_pem.write_to_path(str(self.ca_file))
        self.env_file = self.tmp_path / "bridge.env"
        self.write_env()

    def write_env(self, **extra: str) -> None:
        values = {
            "PRESTASHOP_URL": self.shop_server.url,
            "PRESTASHOP_API_KEY": SHOP_KEY,
            "PRESTASHOP_RETRIES": "0",
            "SMTP_HOST": self.smtp.host,
            "SMTP_PORT": str(self.smtp.port),
            "SMTP_SECURITY": "starttls",
            "SMTP_USERNAME": DEFAULT_USERNAME,
            "SMTP_PASSWORD": DEFAULT_PASSWORD,
            "SMTP_TIMEOUT": "15s",
            "MAIL_FROM": f"Sklep <{DEFAULT_USERNAME}>",
            "STATE_DIR": str(self.state_dir),
            "SEND_RATE_PER_MINUTE": "1000",  # the loop sends 30+ emails within seconds: no pacing here
            # The process runs on the system clock, the simulated shop on the test's: to the age guard
            # (tests/test_age_guard.py) every order would look days old.
            "MAX_EMAIL_AGE": "0",
            **extra,
        }
        self.env_file.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
        self.env_file.chmod(0o600)

    def start(self) -> Run:
        number = len(self.runs) + 1
        stdout, stderr = self.tmp_path / f"run{number}.out", self.tmp_path / f"run{number}.err"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "bridge", "--env-file", str(self.env_file), "sync"],
                cwd=self.tmp_path,
                env=dict(os.environ),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
        run = Run(process, stdout, stderr)
        self.runs.append(run)
        return run

    def sync_here(self) -> str:
        """`bridge sync` in this process (1 s faster than a new one): for the runs nobody kills."""
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            assert main(["--env-file", str(self.env_file), "sync"]) == 0
        return printed.getvalue()

    def sync(self) -> str:
        """One `bridge sync` process that must finish on its own; returns what it printed."""
        run = self.start()
        try:
            run.process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`bridge sync` did not finish within {WAIT:g} s\n{self.stop(run)}")
        assert run.process.returncode == 0, run.output()
        return run.stdout.read_text()

    def wait_until(
        self, run: Run, condition: Callable[[], bool], what: str, *, may_end: bool = False
    ) -> bool:
        """Poll until `condition()` holds (True) or, if `may_end`, the process ended first (False).

        Short polls with a deadline: this waits for another process to reach a point, not for time to pass.
        """
        deadline = time.monotonic() + WAIT
        while not condition():
            if run.process.poll() is not None:
                if may_end:
                    return False
                pytest.fail(f"`bridge sync` ended before it was {what}\n{run.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"`bridge sync` was not {what} within {WAIT:g} s\n{self.stop(run)}")
            with contextlib.suppress(subprocess.TimeoutExpired):
                run.process.wait(timeout=0.01)
        return True

    def kill(self, run: Run) -> None:
        """SIGKILL, then reap: a zombie still answers kill(pid, 0), so it would look alive to the restart."""
        os.kill(run.pid, signal.SIGKILL)
        run.process.wait(timeout=WAIT)
        assert run.process.returncode == -signal.SIGKILL, run.output()

    def kill_when(self, run: Run, blocked: Callable[[], bool], where: str) -> None:
        self.wait_until(run, blocked, f"blocked {where}")
        self.kill(run)

    def stop(self, run: Run) -> str:
        if run.process.poll() is None:
            run.process.kill()
        run.process.wait(timeout=WAIT)
        return run.output()

    def close(self) -> None:
        for run in self.runs:
            self.stop(run)

    # -- what the owner and the customers see ---------------------------------------------------------

    def rows(self, *, skipped: bool = False) -> list[OutboxRow]:
        """The outbox, oldest first; the emails a rule decided not to send only when `skipped`."""
        with open_store(self.database) as store:
            rows = sorted(list_rows(store, limit=1000), key=lambda row: row.id)
        return [row for row in rows if skipped or row.status is not Status.SKIPPED]

    def detail(self, row_id: int) -> OutboxDetail:
        with open_store(self.database) as store:
            detail = get_row(store, row_id)
        assert detail is not None
        return detail

    def order_cursor(self) -> int:
        with open_store(self.database) as store, store.read() as conn:
            return cursors.load(conn).orders.orders.position

    def received_ids(self) -> list[str]:
        return [str(message.message["Message-ID"]) for message in self.smtp.messages]


@pytest.fixture
def rig(
    tmp_path: Path,
    shop: Shop,
    shop_server: Simulator,
    holding_smtp: HoldingGmailServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Rig]:
    # Settings in the environment would win over the env file. Trust only the test CA, in this process
    # and in the bridge's: it verifies the server's certificate as it would verify Gmail's.
    for name in setting_names() | {"SSL_CERT_DIR"}:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "test-ca.pem"))
    rig = Rig(tmp_path, shop, shop_server, holding_smtp)
    try:
        yield rig
    finally:
        rig.close()


def place_orders(shop: Shop, count: int, *, first: int = 1) -> dict[int, str]:
    """`count` customers each place one order paid by card at checkout (one confirmation each)."""
    placed = {}
    for number in range(first, first + count):
        customer = shop.register_customer(
            "Jan", f"Nowak{number}", f"klient{number}@example.com", address=WARSAW
        )
        cart = shop.create_cart(customer.customer_id, [(MUG, 2, MUG_HONEY), (BOWL, 1)], carrier_id=2)
        order_id = shop.place_order(cart, "przelewy24")
        placed[order_id] = f"klient{number}@example.com"
        shop.advance(7)
    return placed


def started(rig: Rig) -> Rig:
    """The bridge's first run records the baseline and sends nothing; then a minute passes in the shop."""
    assert rig.sync_here().startswith("first run: recorded where the shop stands")
    rig.shop.advance(timedelta(minutes=1))
    return rig


def the_one_row(rig: Rig) -> OutboxRow:
    [row] = rig.rows()
    return row


def by_message_id(messages: list[ReceivedMessage]) -> Counter[str]:
    return Counter(str(message.message["Message-ID"]) for message in messages)


# --- one crash at each point ----------------------------------------------------------------------------


def test_killed_before_the_message_was_handed_over_it_is_sent_once_after_restart_with_its_message_id(
    rig: Rig,
) -> None:
    [(order_id, address)] = place_orders(started(rig).shop, 1).items()
    rig.smtp.holds.arm("MAIL")  # claimed, connected, logged in: MAIL FROM is never answered
    run = rig.start()
    rig.kill_when(run, lambda: rig.smtp.holds.held("MAIL") == 1, "waiting for the reply to MAIL FROM")

    row = the_one_row(rig)  # what the crash left on disk
    assert (row.status, row.order_id, row.attempts) == (Status.SENDING, order_id, 1)
    assert row.lease_owner is not None and row.lease_owner.endswith(f":{run.pid}")
    [attempt] = rig.detail(row.id).attempts
    assert (attempt.outcome, attempt.handed_over_at) == (None, None)
    assert rig.smtp.messages == []

    # The restart does not wait out the 15-minute lease: the owner's process is gone, nothing was handed
    # over, so the email is simply queued again and sent.
    assert rig.sync().endswith("; 1 sent, 0 to retry, 0 failed\n")
    [received] = rig.smtp.messages
    assert received.recipients == (address,)
    assert received.message["Message-ID"] == row.message_id
    after = the_one_row(rig)
    assert (after.status, after.message_id, after.attempts) == (Status.SENT, row.message_id, 2)
    first, second = rig.detail(row.id).attempts
    assert (first.outcome, first.error) == (Status.QUEUED, STALE_BEFORE_DATA)
    assert second.outcome == Status.SENT and second.handed_over_at is not None

    rig.shop.advance(60)
    assert rig.sync_here().endswith("0 queued, 0 skipped; 0 sent, 0 to retry, 0 failed\n")
    assert len(rig.smtp.messages) == 1


def kill_after_the_final_dot(rig: Rig) -> tuple[OutboxRow, str]:
    """One new order; the bridge is killed once the server has the message and owes it a 250."""
    [(order_id, address)] = place_orders(started(rig).shop, 1).items()
    rig.smtp.holds.arm("DATA")
    run = rig.start()
    rig.kill_when(run, lambda: rig.smtp.holds.held("DATA") == 1, "waiting for the 250 after the final dot")
    row = the_one_row(rig)
    assert (row.status, row.order_id) == (Status.SENDING, order_id)
    [attempt] = rig.detail(row.id).attempts
    assert attempt.outcome is None and attempt.handed_over_at is not None  # recorded before the dot left
    [received] = rig.smtp.messages  # the server has it: the customer will get it
    assert received.message["Message-ID"] == row.message_id
    return row, address


def test_killed_after_the_final_dot_the_email_is_unknown_and_not_silently_resent(rig: Rig) -> None:
    row, _ = kill_after_the_final_dot(rig)

    out = rig.sync()  # UNKNOWN_POLICY=hold, the default
    assert out.endswith("; 0 sent, 0 to retry, 0 failed\n")
    assert "unknown state after an interrupted send" in rig.runs[-1].stderr.read_text()
    after = the_one_row(rig)
    assert (after.status, after.last_error, after.message_id) == (Status.UNKNOWN, STALE_LEASE, row.message_id)
    assert rig.detail(row.id).attempts[-1].outcome == Status.UNKNOWN
    assert len(rig.smtp.messages) == 1

    rig.shop.advance(60)
    rig.sync_here()  # and not on any later run either: it waits for the owner
    assert the_one_row(rig).status is Status.UNKNOWN
    assert len(rig.smtp.messages) == 1

    with open_store(rig.database) as store:  # the owner looked in the Sent folder and found nothing
        assert retry(store, row.id, now=datetime.now(UTC))
    assert rig.sync_here().endswith("; 1 sent, 0 to retry, 0 failed\n")
    assert by_message_id(rig.smtp.messages) == {row.message_id: 2}


def test_with_the_resend_policy_the_unknown_email_is_resent_with_the_same_message_id(rig: Rig) -> None:
    rig.write_env(UNKNOWN_POLICY="resend")
    row, address = kill_after_the_final_dot(rig)

    assert rig.sync().endswith("; 1 sent, 0 to retry, 0 failed\n")
    assert by_message_id(rig.smtp.messages) == {row.message_id: 2}  # the explained duplicate: same ID
    assert all(message.recipients == (address,) for message in rig.smtp.messages)
    after = the_one_row(rig)
    assert (after.status, after.attempts) == (Status.SENT, 2)
    assert [a.outcome for a in rig.detail(row.id).attempts] == [Status.UNKNOWN, Status.SENT]

    rig.shop.advance(60)
    rig.sync_here()
    assert len(rig.smtp.messages) == 2


def test_killed_while_reading_the_shop_the_restart_sees_the_same_orders_and_sends_each_once(rig: Rig) -> None:
    placed = place_orders(started(rig).shop, 3)
    cursor_before = rig.order_cursor()
    faults = rig.shop_server.faults
    faults.timeout_hold = 2 * WAIT  # released at once when the simulator stops
    faults.next("timeout", resource="customers")  # asked after the orders were read, before the commit
    run = rig.start()
    rig.kill_when(
        run, lambda: any("/customers" in path for _, path in faults.injected), "reading the shop's customers"
    )

    # Nothing was enqueued, and the cursor did not move past the new orders.
    assert rig.rows(skipped=True) == []
    assert rig.order_cursor() == cursor_before
    assert rig.smtp.messages == []

    # Skipped: each order's "payment accepted", which its confirmation covers (paid at checkout).
    assert rig.sync().endswith("3 queued, 3 skipped; 3 sent, 0 to retry, 0 failed\n")
    rows = rig.rows()
    assert Counter(row.order_id for row in rows) == Counter(placed.keys())
    assert {row.status for row in rows} == {Status.SENT}
    assert sorted(rig.received_ids()) == sorted(row.message_id for row in rows)
    assert sorted(m.recipients[0] for m in rig.smtp.messages) == sorted(placed.values())

    rig.shop.advance(60)
    assert rig.sync_here().endswith("0 queued, 0 skipped; 0 sent, 0 to retry, 0 failed\n")
    assert len(rig.smtp.messages) == 3


# --- killed again and again ------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["resend", "hold"])
def test_thirty_orders_survive_a_bridge_killed_again_and_again(rig: Rig, policy: Policy) -> None:
    rig.write_env(UNKNOWN_POLICY=policy)
    shop = started(rig).shop
    placed = place_orders(shop, 15)

    faults = rig.shop_server.faults
    faults.timeout_hold = 2 * WAIT
    faults.next("timeout", resource="customers")
    run = rig.start()
    rig.kill_when(run, lambda: len(faults.injected) == 1, "reading the shop")
    assert rig.rows(skipped=True) == []
    placed |= place_orders(shop, 15, first=16)  # more orders arrive while the bridge is down

    # Then, in turn: killed waiting for the 250 after the 7th message, and before the 6th MAIL FROM.
    points: list[tuple[HoldCommand, int]] = [("DATA", 6), ("MAIL", 5)]
    kills: Counter[str] = Counter()
    for attempt in range(20):
        command, after = points[attempt % len(points)]
        held_before = rig.smtp.holds.held(command)
        rig.smtp.holds.arm(command, after=after)
        run = rig.start()
        held = rig.wait_until(
            run,
            functools.partial(rig.smtp.holds.held_more_than, command, held_before),
            f"held at {command}",
            may_end=True,
        )
        rig.smtp.holds.disarm()
        if held:
            rig.kill(run)
            kills[command] += 1
            continue
        assert run.process.returncode == 0, run.output()
        if not [row for row in rig.rows() if row.status in (Status.QUEUED, Status.RETRY, Status.SENDING)]:
            break
    else:
        pytest.fail(f"the outbox was not drained after 20 runs: {Counter(r.status for r in rig.rows())}")

    emails = rig.rows()
    assert Counter(row.order_id for row in emails) == Counter(
        placed.keys()
    )  # one each: none lost, none twice
    rows = {row.order_id or 0: row for row in emails}
    assert {row.kind for row in rows.values()} == {"order_confirmation"}
    # What the customers got: every one their confirmation, under the one Message-ID of its outbox row.
    ids_by_recipient: dict[str, set[str]] = {}
    for message in rig.smtp.messages:
        [recipient] = message.recipients
        ids_by_recipient.setdefault(recipient, set()).add(str(message.message["Message-ID"]))
    assert ids_by_recipient == {address: {rows[order_id].message_id} for order_id, address in placed.items()}
    different_id_duplicates = sum(len(ids) - 1 for ids in ids_by_recipient.values())
    same_id_duplicates = len(rig.smtp.messages) - len(placed)
    assert different_id_duplicates == 0
    statuses = Counter(row.status for row in rows.values())
    assert kills["DATA"] >= 2 and kills["MAIL"] >= 2
    if policy == "resend":  # each email the server had when the bridge died was sent again, same ID
        assert same_id_duplicates == kills["DATA"]
        assert statuses == {Status.SENT: 30}
    else:  # each one waits, unknown, for the owner: no duplicate at all
        assert same_id_duplicates == 0
        assert statuses == {Status.SENT: 30 - kills["DATA"], Status.UNKNOWN: kills["DATA"]}
    print(
        f"\n{policy}: {len(rig.runs)} bridge processes, killed once mid-poll, {kills['DATA']}x after the "
        f"final dot, {kills['MAIL']}x before it; {len(rig.smtp.messages)} messages for {len(placed)} "
        f"orders: {same_id_duplicates} same-Message-ID duplicate(s), {different_id_duplicates} with "
        "different Message-IDs"
    )
