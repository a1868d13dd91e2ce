"""Reliability under fire: the bridge killed, the shop failing, Gmail refusing, bridges racing each other,
and every email still arrives once. Four scenarios, each a function that returns a result dataclass
(tests/test_reliability.py runs them at a small size and asserts on them); as a script it prints them.

1. crash_loop: the real CLI (`python -m bridge --env-file ENV sync`, a subprocess) catches up on 500 new
   orders (an already-baselined store) and is SIGKILLed 100 times, restarted after each kill, then left to
   finish. Each kill comes at a named point, drawn (seeded) from the whole cycle, where the process provably
   waits: the simulator holds its answer to one of the poll's requests (mid-poll, before its one commit),
   the SMTP server holds its reply to the n-th email's AUTH, NOOP, MAIL FROM or RCPT TO (an email claimed,
   nothing handed over), or its 250 after the n-th final dot (the server has the message: the one window
   SMTP cannot close). Nothing is timed on the wall clock, so a slow machine gets the same kills. Run under
   both UNKNOWN_POLICY values; with `--imap`, once with IMAP on instead: the SMTP server files each message
   it accepts in a Dovecot's Sent folder (tests/imap_server.py), as Gmail does, and the bridge settles every
   email cut off after its final dot from there (bridge.mailbox.settle).
2. shop_faults: 20 % of webservice requests fail (500, 502, 503, a timeout, an HTML page, a truncated JSON
   body, a 401 flap: the simulator's `FaultPlan.rate`) while 500 orders are placed, paid, shipped and
   delivered over 50 rounds, one poll and one delivery per round. After every poll, every order, state
   change and payment at or below the bridge's cursors must have its email decision in the outbox.
3. smtp_faults: 500 emails delivered by `deliver_due` (the bridge's clock moved through every pause and
   backoff, never slept) while the SMTP server answers MAIL FROM and the final dot with 421, 451 or
   550 5.4.5 or accepts the message and drops the line, and refuses logins with 454 4.7.0 or 535 5.7.8.
4. concurrency: two `bridge sync` and a `bridge run` started together, ten rounds with new orders between
   them; with one STATE_DIR (the lock lets one through, or with --wait one after the other), and with the
   lock bypassed (three STATE_DIRs, one DATABASE_URL), where only the outbox's row claims keep mail single.

Everything runs on 127.0.0.1: the shop simulator and the Gmail-like SMTP server (tests/smtp_server.py,
STARTTLS + AUTH, every message recorded) run in this process; the bridge runs in its own processes (1, 4)
or in this one (2, 3). benchmarks/README.md says how each figure is counted.

    python3 dev.py bench reliability [--small] [--scenario crash_loop|shop_faults|smtp_faults|concurrency]
                                     [--imap] [--seed N]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Final, Literal

from _common import (
    MAIL_FROM,
    SHOP_KEY,
    SMTP_PASSWORD,
    SMTP_USERNAME,
    add_customers,
    bridge_process_env,
    demo_shop,
    machine_line,
    parse_args,
    place_orders,
    print_table,
    write_env_file,
)
from sqlalchemy import func, select

from bridge.app import open_bridge
from bridge.clock import ManualClock, SystemClock
from bridge.config import Settings
from bridge.cycle import Cycle
from bridge.cycle.orders import poll_orders as poll
from bridge.delivery.budget import budget_for
from bridge.delivery.deliver import deliver_due, paused
from bridge.delivery.transports import smtp_transport
from bridge.errors import BridgeError
from bridge.mail.render import get_renderer
from bridge.mailbox.settle import settled_note
from bridge.shop.client import ShopClient
from bridge.simulator import Simulator
from bridge.simulator.actions import Shop
from bridge.simulator.faults import FaultKind
from bridge.state import cursors
from bridge.state import mailbox as mailbox_state
from bridge.state.outbox import DUE, OutboxRow, Status, UnknownPolicy, counts_by_status, get_row, list_rows
from bridge.state.store import Store, Tx, open_store, outbox_attempts
from bridge.state.store import outbox as outbox_table
from tests.imap_server import dovecot_available, dovecot_server
from tests.smtp_server import (
    ACCEPT_THEN_DROP,
    BAD_CREDENTIALS,
    DAILY_LIMIT,
    TEMPORARILY_REJECTED,
    TOO_MANY_LOGINS,
    TRY_AGAIN_LATER,
    Command,
    GmailLikeServer,
    HoldCommand,
    ReceivedMessage,
    gmail_like_server,
)

SCENARIOS: Final = ("crash_loop", "shop_faults", "smtp_faults", "concurrency")
WAIT: Final = 120.0  # the longest one bridge process (or one wait for its mail) may take: then it is hung
REFERENCE: Final = re.compile(r"\b[A-Z]{9}\b")  # PrestaShop's order references; every subject carries one
EVERY: Final = 10**9  # list_rows' limit when every row is wanted


# --- the bridge, configured as an owner configures it ----------------------------------------------------


def bridge_values(
    shop_url: str,
    state_dir: Path,
    smtp: GmailLikeServer | None = None,
    ca_file: Path | None = None,
    **extra: str,
) -> dict[str, str]:
    """An owner's settings, as env-file lines: the simulated shop, the Gmail-like server (STARTTLS + AUTH
    with its test CA trusted through SMTP_CA_FILE, or a plain local relay), and a daily budget and pace
    that never hold a catch-up back (what they do is tests/test_budget.py's business)."""
    values = {
        "PRESTASHOP_URL": shop_url,
        "PRESTASHOP_API_KEY": SHOP_KEY,
        "PRESTASHOP_RETRIES": "0",
        "MAIL_FROM": MAIL_FROM,
        "STATE_DIR": str(state_dir),
        "DAILY_SEND_LIMIT": "2000",
        "SEND_RATE_PER_MINUTE": "1000",
        # The processes run on the system clock, the simulated shop on the benchmark's: to the age guard
        # (tests/test_age_guard.py) every order would look days old.
        "MAX_EMAIL_AGE": "0",
    }
    if smtp is not None:
        values |= {"SMTP_HOST": smtp.host, "SMTP_PORT": str(smtp.port), "SMTP_TIMEOUT": "20s"}
        if smtp.mode == "plain":
            values["SMTP_SECURITY"] = "none"
        else:
            assert ca_file is not None, "a TLS server needs its CA trusted"
            values |= {
                "SMTP_SECURITY": "starttls",
                "SMTP_USERNAME": SMTP_USERNAME,
                "SMTP_PASSWORD": SMTP_PASSWORD,
                "SMTP_CA_FILE": str(ca_file),
            }
    return values | extra


def trust(smtp: GmailLikeServer, folder: Path) -> Path:
    """The server's test CA as a PEM file, for SMTP_CA_FILE."""
    path = folder / "smtp-ca.pem"
    smtp.ca.cert_pem.write_to_path(str(path))
    return path


def client_for(settings: Settings) -> ShopClient:
    """The shop client `bridge.app.shop_client` builds, except that the backoff between two retries is not
    slept: time here is a ManualClock, and the benchmark would otherwise wait seconds per fault."""
    assert settings.prestashop_url and settings.prestashop_api_key is not None
    return ShopClient(
        settings.prestashop_url,
        settings.prestashop_api_key,
        timeout=settings.prestashop_timeout.total_seconds(),
        retries=settings.prestashop_retries,
        timezone=settings.shop_timezone,
        sleep=lambda _seconds: None,
    )


def first_run(values: Mapping[str, str]) -> None:
    """What the owner's first `bridge sync` does, done in this process (seconds faster than a new one):
    record where the shop stands, send nothing."""
    settings = Settings.from_mapping(values)
    settings.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open_store(settings.database_url) as store, client_for(settings) as client:
        if not poll(client, store, settings, now=SystemClock().now()).baseline:
            raise RuntimeError(f"{settings.database_url} was not new: no baseline recorded")


@dataclass
class BridgeProcess:
    """One `python -m bridge` process; its output goes to files (a pipe nobody reads could block it)."""

    args: tuple[str, ...]
    popen: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    hung: bool = False

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        out = self.stdout.read_text(errors="replace") if self.stdout.exists() else ""
        err = self.stderr.read_text(errors="replace") if self.stderr.exists() else ""
        state = "hung, killed" if self.hung else f"exit {self.popen.returncode}"
        return (
            f"`bridge {' '.join(self.args)}` (pid {self.pid}): {state}\n"
            f"--- stdout\n{out[-2000:]}--- stderr\n{err[-4000:]}"
        )


class Bridges:
    """Starts bridge processes, and makes sure none outlives the scenario: `close()` kills and reaps
    whatever still runs (a `with` block does it even when the scenario fails)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.processes: list[BridgeProcess] = []
        self._env = bridge_process_env()

    def start(self, env_file: Path, *args: str) -> BridgeProcess:
        number = len(self.processes) + 1
        stdout, stderr = self.folder / f"{number:03d}.out", self.folder / f"{number:03d}.err"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            popen = subprocess.Popen(
                [sys.executable, "-m", "bridge", "--env-file", str(env_file), *args],
                cwd=self.folder,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
        process = BridgeProcess(tuple(args), popen, stdout, stderr)
        self.processes.append(process)
        return process

    def finish(self, process: BridgeProcess, timeout: float = WAIT) -> int:
        """Wait for the exit; a process still running after `timeout` is hung: killed, and marked so."""
        try:
            return process.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.hung = True
            process.popen.kill()
            return process.popen.wait()

    def close(self) -> None:
        for process in self.processes:
            if process.popen.poll() is None:
                process.popen.kill()
            process.popen.wait()

    def __enter__(self) -> Bridges:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Reference:
    """A bridge nobody disturbs, polling the same shop into its own store: what it decides is what the
    bridge under fire must decide too, and the emails it queues are the emails expected."""

    def __init__(self, shop_url: str, state_dir: Path, clock: ManualClock) -> None:
        self.settings = Settings.from_mapping(bridge_values(shop_url, state_dir, MAIL_TRANSPORT="file"))
        self.clock = clock
        self._stack = ExitStack()
        try:
            self.store = self._stack.enter_context(open_store(self.settings.database_url))
            self.client = self._stack.enter_context(client_for(self.settings))
        except BaseException:
            self._stack.close()
            raise

    def poll(self) -> None:
        poll(self.client, self.store, self.settings, now=self.clock.now())

    def decisions(self) -> dict[str, bool]:
        """Every email decided so far, by idempotency key: True for the ones that send."""
        return {row.idempotency_key: row.status is not Status.SKIPPED for row in all_rows(self.store)}

    def __enter__(self) -> Reference:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stack.close()


def all_rows(store: Store) -> list[OutboxRow]:
    return sorted(list_rows(store, limit=EVERY), key=lambda row: row.id)


def waiting(store: Store) -> int:
    """Emails queued, waiting for a retry, or claimed by a process that may have died."""
    counts = counts_by_status(store)
    return counts[Status.QUEUED] + counts[Status.RETRY] + counts[Status.SENDING]


def message_id_of(message: ReceivedMessage) -> str:
    return str(message.message["Message-ID"])


def subject_of(message: ReceivedMessage) -> str:
    return str(message.message["Subject"])


def reference_of(message: ReceivedMessage, known: Iterable[str]) -> str | None:
    """The order reference a message is about: the known reference its subject names."""
    wanted = set(known)
    return next((ref for ref in REFERENCE.findall(subject_of(message)) if ref in wanted), None)


# --- counting what the customers got ---------------------------------------------------------------------


@dataclass(frozen=True)
class Duplicate:
    """A Message-ID the SMTP server received more than once, and why it did."""

    message_id: str
    order_reference: str
    kind: str
    copies: int
    why: str
    explained: bool


@dataclass
class Tally:
    """What reached the SMTP server, against what a bridge nobody disturbed decides to send."""

    expected: int = 0  # emails the undisturbed bridge queues
    delivered: int = 0  # of those, how many reached the server (by their outbox row's Message-ID)
    lost: list[str] = field(default_factory=list)  # neither at the server nor held as `unknown`
    different_id_duplicates: int = 0  # one email (recipient + subject) under two Message-IDs
    duplicates: list[Duplicate] = field(default_factory=list)  # one Message-ID received more than once
    unknown: int = 0  # rows left `unknown` (UNKNOWN_POLICY=hold): held for the owner, not lost
    unknown_at_server: int = 0  # ... of which the server has the message
    strays: int = 0  # messages whose Message-ID no outbox row has
    decisions_differing: list[str] = field(default_factory=list)  # from the undisturbed bridge's

    @property
    def same_id_duplicates(self) -> int:
        return sum(duplicate.copies - 1 for duplicate in self.duplicates)

    @property
    def unexplained(self) -> list[Duplicate]:
        return [duplicate for duplicate in self.duplicates if not duplicate.explained]

    @property
    def broken(self) -> list[str]:
        """The figures that must be 0 and are not."""
        checks = {
            "lost": len(self.lost),
            "duplicates with different Message-IDs": self.different_id_duplicates,
            "unexplained same-Message-ID duplicates": len(self.unexplained),
            "messages no outbox row explains": self.strays,
            "decisions differing from the undisturbed bridge": len(self.decisions_differing),
        }
        return [f"{name}: {value}" for name, value in checks.items() if value]


Explain = Callable[[OutboxRow, int], tuple[str, bool]]


def tally(
    expected: Mapping[str, bool],
    rows: Sequence[OutboxRow],
    messages: Sequence[ReceivedMessage],
    explain: Explain,
) -> Tally:
    """Count lost and doubled emails. `expected`: the undisturbed bridge's decisions (key → sends);
    `rows`: the outbox under test; `messages`: what the SMTP server recorded; `explain(row, copies)`:
    why a Message-ID arrived `copies` times, and whether that is the one explained kind of duplicate.

    Different-ID duplicates are counted from the messages alone: two Message-IDs for one recipient and one
    subject (subjects name the order; no scenario repeats an order's state, so a subject is one email)."""
    result = Tally(expected=sum(expected.values()))
    by_key = {row.idempotency_key: row for row in rows}
    by_message_id = {row.message_id: row for row in rows}
    copies = Counter(message_id_of(message) for message in messages)
    for key, sends in sorted(expected.items()):
        row = by_key.get(key)
        if row is None:
            result.decisions_differing.append(f"{key}: never decided")
        elif (row.status is not Status.SKIPPED) != sends:
            did = "sends" if row.status is not Status.SKIPPED else f"skipped ({row.skip_reason})"
            result.decisions_differing.append(f"{key}: {did}, the undisturbed bridge did not")
    for key, row in by_key.items():
        if key not in expected and row.status is not Status.SKIPPED:
            result.decisions_differing.append(f"{key}: queued, the undisturbed bridge never decided it")
    for key in sorted(key for key, sends in expected.items() if sends):
        row = by_key.get(key)
        if row is not None and copies[row.message_id]:
            result.delivered += 1
        elif row is None or row.status is not Status.UNKNOWN:
            result.lost.append(f"{key} ({row.status if row else 'never queued'})")
    unknown = [row for row in rows if row.status is Status.UNKNOWN]
    result.unknown = len(unknown)
    result.unknown_at_server = sum(1 for row in unknown if copies[row.message_id])
    result.strays = sum(n for message_id, n in copies.items() if message_id not in by_message_id)
    subjects: dict[tuple[tuple[str, ...], str], set[str]] = {}
    for message in messages:
        subjects.setdefault((message.recipients, subject_of(message)), set()).add(message_id_of(message))
    result.different_id_duplicates = sum(len(ids) - 1 for ids in subjects.values())
    for message_id, n in sorted(copies.items()):
        if n < 2:
            continue
        row = by_message_id.get(message_id)
        if row is None:
            result.duplicates.append(Duplicate(message_id, "", "", n, "no outbox row has it", False))
            continue
        why, explained = explain(row, n)
        result.duplicates.append(
            Duplicate(message_id, row.order_reference or "", row.kind, n, why, explained)
        )
    return result


def unknown_attempts(store: Store, row: OutboxRow) -> int:
    """How many of a row's attempts ended `unknown`: each may have left one copy at the server."""
    detail = get_row(store, row.id)
    return sum(1 for attempt in detail.attempts if attempt.outcome == Status.UNKNOWN) if detail else 0


# --- 1. crash loop -------------------------------------------------------------------------------------

PointKind = Literal["shop", "claimed", "after_dot"]
# Each block of five runs draws its kill points' kinds from this deck, shuffled: every kind comes up early.
DECK: Final[tuple[PointKind, ...]] = ("shop", "shop", "claimed", "claimed", "after_dot")
POINT_KINDS: Final[dict[PointKind, str]] = {
    "shop": "reading the shop (the simulator holds a request)",
    "claimed": "an email claimed (the server holds AUTH, NOOP, MAIL or RCPT)",
    "after_dot": "after a final dot (the server has the message, holds the 250)",
}
# The requests every poll makes (one per cursor), and those a poll with new orders makes for their emails,
# before its one commit. Nothing a setting or a cache may spare: a point the process never reaches fails.
EVERY_POLL: Final = ("order_histories", "orders", "order_payments")
NEW_ORDERS: Final = ("customers", "addresses", "carriers")
SMTP_STEPS: Final[dict[HoldCommand, str]] = {
    "AUTH": "the reply to its login (AUTH)",
    "NOOP": "the reply to the NOOP that checks the connection",
    "MAIL": "the reply to MAIL FROM",
    "RCPT": "the reply to RCPT TO",
    "DATA": "the 250 after its final dot",
}
POINT_WAIT: Final = 60.0  # the longest a process may take to reach its kill point: then it never will
BEFORE: Final = "before its first email (start-up, reading the shop, queueing)"
CLAIMED: Final = "an email claimed, before its final dot"
AFTER_DOT: Final = "after an email's final dot, before the 250"
BETWEEN: Final = "between two emails, or after the last"
PHASES: Final = (BEFORE, CLAIMED, AFTER_DOT, BETWEEN)


@dataclass(frozen=True)
class KillPoint:
    """Where to kill one bridge process: blocked on the simulator's answer to its first request for
    `resource`, or on the SMTP server's reply to `command` for its `email`-th email."""

    kind: PointKind
    resource: str | None = None
    command: HoldCommand | None = None
    email: int = 0  # counted from 1 in each process

    @property
    def name(self) -> str:
        """The point without its email number: `shop: customers`, `SMTP: MAIL`."""
        return f"shop: {self.resource}" if self.command is None else f"SMTP: {self.command}"

    @property
    def phase(self) -> str:
        """What the store must show after a kill here (one of PHASES)."""
        return {"shop": BEFORE, "claimed": CLAIMED, "after_dot": AFTER_DOT}[self.kind]

    @property
    def replies_before(self) -> int:
        """Replies to `command` the process gets before the held one: every email but the first checks the
        connection with a NOOP (the first logs in instead)."""
        return self.email - 2 if self.command == "NOOP" else self.email - 1

    def __str__(self) -> str:
        if self.command is None:
            return f"waiting for the shop's answer to its `{self.resource}` request"
        return f"waiting, email #{self.email} claimed, for {SMTP_STEPS[self.command]}"


class KillPoints:
    """Where to kill the next process: each block of five draws the kinds of DECK in a shuffled order.

    A shop point is a request the process's poll certainly makes (EVERY_POLL, and NEW_ORDERS while the
    catch-up is not committed). An email is one of the next `top` (about twice the emails per kill, so the
    kills spread over the catch-up) and never one past the emails certainly still to go, so the point does
    come; with none to go, a shop point is drawn instead."""

    def __init__(self, rng: random.Random, top: int) -> None:
        self.rng = rng
        self.top = top
        self._deck: list[PointKind] = []

    def next(self, *, catching_up: bool, to_go: int) -> KillPoint:
        while True:
            if not self._deck:
                self._deck = list(DECK)
                self.rng.shuffle(self._deck)
            kind = self._deck.pop()
            if kind == "shop":
                return KillPoint(
                    kind, resource=self.rng.choice(EVERY_POLL + (NEW_ORDERS if catching_up else ()))
                )
            if to_go > 0:
                email = self.rng.randint(1, min(self.top, to_go))
                if kind == "after_dot":
                    return KillPoint(kind, command="DATA", email=email)
                steps: tuple[HoldCommand, ...] = ("AUTH" if email == 1 else "NOOP", "MAIL", "RCPT")
                return KillPoint(kind, command=self.rng.choice(steps), email=email)


class Holds:
    """Makes the simulator or the SMTP server hold the exchange a kill point names, tells when the process
    is blocked there, and lets go of everything once the process is dead."""

    def __init__(self, simulator: Simulator, smtp: GmailLikeServer) -> None:
        self.simulator = simulator
        self.smtp = smtp
        simulator.faults.timeout_hold = 2 * POINT_WAIT  # longer than any wait for it; let go after each kill
        self._reached: Callable[[], bool] = lambda: False

    def arm(self, point: KillPoint) -> None:
        faults, script, command = self.simulator.faults, self.smtp.script, point.command
        if command is None:
            held = len(faults.injected)
            faults.next("timeout", resource=point.resource)
            self._reached = lambda: len(faults.injected) > held
        else:
            kept = script.held(command)
            script.hold(command, after=point.replies_before)
            self._reached = lambda: script.held(command) > kept

    def reached(self) -> bool:
        return self._reached()

    def let_go(self) -> None:
        self.simulator.faults.clear()  # a hold the process never reached must not catch the next one
        self.simulator.faults.let_go()
        self.smtp.script.release()
        self._reached = lambda: False


@dataclass(frozen=True)
class Kill:
    number: int
    pid: int
    point: KillPoint
    phase: str  # what the store and the server show the process was doing (one of PHASES)
    row_id: int | None = None  # the email it was sending, if any
    server_had_it: bool = False  # ... and whether the server had recorded that email in this run


@dataclass
class CrashLoopResult:
    policy: UnknownPolicy
    orders: int
    kills_wanted: int
    processes: int = 0
    kills: list[Kill] = field(default_factory=list)
    finished: int = 0  # runs that ended on their own before their kill point came (a failure too)
    failures: list[str] = field(default_factory=list)  # runs that went any other way, with their output
    tally: Tally = field(default_factory=Tally)
    unexplained_unknown: list[int] = field(default_factory=list)  # unknown rows no kill after a dot explains
    seconds: float = 0.0
    imap: bool = False  # the bridge read a Dovecot's Sent folder, which the SMTP server filed into
    found: int = 0  # unknown emails the Sent folder settled as sent
    resent: int = 0  # unknown emails missing from the Sent folder, sent again (same Message-ID)
    second_sender: bool = False  # the bridge took its own Sent copies for another bridge's (a bug)

    @property
    def label(self) -> str:
        return f"UNKNOWN_POLICY={self.policy}" + (", IMAP on" if self.imap else "")

    def phases(self) -> Counter[str]:
        return Counter(kill.phase for kill in self.kills)

    def kinds(self) -> Counter[str]:
        return Counter(kill.point.kind for kill in self.kills)

    def points(self) -> Counter[str]:
        return Counter(kill.point.name for kill in self.kills)

    @property
    def broken(self) -> list[str]:
        name = f"crash loop ({self.label})"
        problems = [f"{name}: {problem}" for problem in self.tally.broken]
        if self.failures:
            problems.append(f"{name}: {len(self.failures)} run(s) failed")
        if len(self.kills) < self.kills_wanted:
            problems.append(f"{name}: {len(self.kills)} of {self.kills_wanted} kills came")
        if self.unexplained_unknown:
            problems.append(f"{name}: unexplained unknown rows {self.unexplained_unknown}")
        if self.policy == "hold" and self.tally.same_id_duplicates:
            what = "an email the server had filed in the Sent folder" if self.imap else "a held email"
            problems.append(f"{name}: {what} was sent again")
        if self.imap and self.tally.unknown:
            problems.append(
                f"{name}: {self.tally.unknown} email(s) left unknown: the Sent folder did not settle them"
            )
        if self.second_sender:
            problems.append(f"{name}: the bridge's own Sent copies raised a second-sender alarm")
        return problems


def crash_loop(
    *,
    orders: int = 500,
    kills: int = 100,
    policy: UnknownPolicy = "resend",
    seed: int = 1,
    imap: bool = False,
) -> CrashLoopResult:
    """`bridge sync` catching up on `orders` new orders, SIGKILLed `kills` times at seeded points, restarted
    each time, then left to finish. `imap`: the bridge reads a Dovecot's Sent folder, where the SMTP server
    files what it accepts (the Sent folder settles unknown sends, and `policy` is not applied)."""
    started = time.perf_counter()
    result = CrashLoopResult(policy, orders, kills, imap=imap)
    shop = demo_shop()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bridge-crash-loop-")))
        simulator = stack.enter_context(Simulator(shop.state, flavour="8.1", api_key=SHOP_KEY))
        simulator.record_bodies = False
        # Entered before the SMTP server, so closed after it: nothing is filed into a stopped Dovecot.
        dovecot = stack.enter_context(dovecot_server(tmp / "imap")) if imap else None
        smtp = stack.enter_context(gmail_like_server())
        mailbox: dict[str, str] = {}
        if dovecot is not None:
            smtp.file_sent = dovecot.file_sent  # as Gmail files what it accepts
            # Asked at once, and sent again 1 minute (the shortest window) after the cut-off when missing.
            mailbox = dovecot.settings() | {"IMAP_SETTLE_AFTER": "0s", "IMAP_SETTLE_WINDOW": "1m"}
        # Held answers are let go only after the kill: the bridge's own timeouts must not end a hold first.
        values = bridge_values(
            simulator.url,
            tmp / "state",
            smtp,
            trust(smtp, tmp),
            UNKNOWN_POLICY=policy,
            LOG_LEVEL="INFO",
            PRESTASHOP_TIMEOUT="300s",
            SMTP_TIMEOUT="600s",
            **mailbox,
        )
        env_file = write_env_file(tmp / "bridge.env", values)
        reference = stack.enter_context(Reference(simulator.url, tmp / "reference", shop.clock))
        bridges = stack.enter_context(Bridges(tmp / "runs"))  # closed first: no process outlives the servers

        first_run(values)
        reference.poll()
        shop.advance(60)
        customers = add_customers(shop, max(10, orders * 3 // 10), seed=seed)
        place_orders(shop, customers, orders, seed=seed)
        shop.advance(60)
        reference.poll()
        expected = reference.decisions()

        store = stack.enter_context(open_store(Settings.from_mapping(values).database_url))
        sending = sum(expected.values())
        points = KillPoints(random.Random(seed), max(2, round(2 * sending / kills)))
        kill_again_and_again(result, bridges, env_file, store, Holds(simulator, smtp), points, sending)

        for _ in range(5):  # then it is left to finish
            process = bridges.start(env_file, "sync")
            if bridges.finish(process) != 0:
                result.failures.append(process.output())
            elif not waiting(store):
                break
        if imap:
            settle_from_sent(result, bridges, env_file, store, Settings.from_mapping(values))

        def explain(row: OutboxRow, copies: int) -> tuple[str, bool]:
            after = [k for k in result.kills if k.row_id == row.id and k.phase == AFTER_DOT]
            numbers = ", ".join(f"#{k.number}" for k in after) or "none"
            again = "the Sent folder lacked it and the bridge" if imap else f"UNKNOWN_POLICY={policy}"
            why = (
                f"outbox #{row.id}: killed after its final dot {len(after)} time(s) (kill {numbers}); each "
                f"restart found it unknown and {again} sent it again, same Message-ID"
            )
            # With IMAP on the server filed every message it accepted: a copy means the lookup missed it.
            return why, policy == "resend" and not imap and copies - 1 <= len(after)

        rows = all_rows(store)
        result.tally = tally(expected, rows, smtp.messages, explain)
        after_dot = {kill.row_id for kill in result.kills if kill.phase == AFTER_DOT}
        result.unexplained_unknown = [
            row.id for row in rows if row.status is Status.UNKNOWN and row.id not in after_dot
        ]
        if imap:
            count_settled(result, store, rows)
        result.processes = len(bridges.processes)
    result.seconds = time.perf_counter() - started
    return result


def settle_from_sent(
    result: CrashLoopResult, bridges: Bridges, env_file: Path, store: Store, settings: Settings
) -> None:
    """Run `bridge sync` while an email is `unknown`: the last killed run's email turns `unknown` in the
    next run's delivery, after that run's mailbox step, so one more run settles it from the Sent folder.
    One the Sent folder lacks waits for IMAP_SETTLE_WINDOW: then the bridge runs in this process, on a
    ManualClock moved past the window (nothing sleeps), and sends it again."""
    for _ in range(3):
        if not list_rows(store, status=Status.UNKNOWN, limit=1):
            return
        process = bridges.start(env_file, "sync")
        if bridges.finish(process) != 0:
            result.failures.append(process.output())
    if list_rows(store, status=Status.UNKNOWN, limit=1) and settings.mailbox is not None:
        later = ManualClock(datetime.now(UTC) + settings.mailbox.settle_window + timedelta(seconds=1))
        with open_bridge(settings, later) as bridge:
            Cycle.of(bridge).deliver()


def count_settled(result: CrashLoopResult, store: Store, rows: Sequence[OutboxRow]) -> None:
    """How the Sent folder settled the emails cut off after their final dot: found there (sent, its
    settlement noted in the row), or missing (an attempt after the `unknown` one: sent again)."""
    for row in rows:
        candidate = row.attempts > 1 or settled_note(row.smtp_reply) is not None
        detail = get_row(store, row.id) if candidate else None
        outcomes = [attempt.outcome for attempt in detail.attempts] if detail is not None else []
        if Status.UNKNOWN not in outcomes:
            continue
        result.found += row.status is Status.SENT and settled_note(row.smtp_reply) is not None
        result.resent += outcomes.index(Status.UNKNOWN) < len(outcomes) - 1
    with store.read() as conn:
        result.second_sender = mailbox_state.second_sender(conn) is not None


def kill_again_and_again(
    result: CrashLoopResult,
    bridges: Bridges,
    env_file: Path,
    store: Store,
    holds: Holds,
    points: KillPoints,
    catch_up: int,
) -> None:
    """Start `bridge sync` and kill it at the next point, until every kill wanted came (or 3 runs failed).
    `catch_up`: the emails the catch-up's poll queues."""
    while len(result.kills) < result.kills_wanted and len(result.failures) < 3:
        catching_up = not list_rows(store, limit=1)  # the catch-up commits all its emails at once
        point = points.next(catching_up=catching_up, to_go=emails_to_go(store, result.policy, catch_up))
        before = Counter(message_id_of(message) for message in holds.smtp.messages)
        holds.arm(point)
        process = bridges.start(env_file, "sync")
        try:
            missed = kill_at(process, point, holds)
        finally:
            holds.let_go()
        if missed is not None:
            result.finished += process.popen.returncode == 0
            result.failures.append(f"{missed}\n{process.output()}")
            continue
        kill = inspect_kill(store, holds.smtp, before, len(result.kills) + 1, process.pid, point)
        result.kills.append(kill)
        if kill.phase != point.phase:
            result.failures.append(f"kill #{kill.number}, {point}: the store shows it {kill.phase}")


def kill_at(process: BridgeProcess, point: KillPoint, holds: Holds) -> str | None:
    """Wait until the process is blocked at `point` (short polls with a deadline: this waits for another
    process to get somewhere, not for time to pass), then SIGKILL and reap it. None when it was killed
    there, else why it was not."""
    deadline = time.monotonic() + POINT_WAIT
    while not holds.reached():
        if process.popen.poll() is not None:
            return f"`bridge sync` ended (exit {process.popen.returncode}) before it was {point}"
        if time.monotonic() > deadline:
            process.hung = True
            process.popen.kill()
            process.popen.wait()
            return f"`bridge sync` was not {point} within {POINT_WAIT:g} s"
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.popen.wait(timeout=0.01)
    process.popen.send_signal(signal.SIGKILL)
    process.popen.wait(timeout=WAIT)
    return None


def emails_to_go(store: Store, policy: UnknownPolicy, catch_up: int) -> int:
    """How many emails the next `bridge sync` sends at least: the catch-up's while nothing is queued yet;
    else the due ones, those a killed process had claimed and, under `resend`, those it had handed over
    (each becomes `unknown`, then is sent again)."""
    rows = list_rows(store, limit=EVERY)
    if not rows:
        return catch_up
    now = datetime.now(UTC)
    due = 0
    for row in rows:
        if row.status is Status.QUEUED:
            due += row.not_before <= now
        elif row.status is Status.SENDING:
            due += policy == "resend" or not handed_over(store, row)
        elif row.status is Status.UNKNOWN:
            due += policy == "resend"
    return due


def handed_over(store: Store, row: OutboxRow) -> bool:
    """Whether the row's attempt in flight has passed its final dot (the outbox marks it just before)."""
    detail = get_row(store, row.id)
    attempt = detail.attempts[-1] if detail is not None and detail.attempts else None
    return attempt is not None and attempt.outcome is None and attempt.handed_over_at is not None


def inspect_kill(
    store: Store, smtp: GmailLikeServer, before: Counter[str], number: int, pid: int, point: KillPoint
) -> Kill:
    """Where the killed process was, from what it left: a `sending` row it holds (claimed, or handed over
    when its attempt has `handed_over_at`), else whether it had sent anything in this run. A `sending` row
    of an earlier process (killed again before it could settle it) is not this one's."""
    received = Counter(message_id_of(message) for message in smtp.messages) - before
    sending = [
        row
        for row in list_rows(store, status=Status.SENDING, limit=EVERY)
        if (row.lease_owner or "").endswith(f":{pid}")
    ]
    if not sending:
        return Kill(number, pid, point, BETWEEN if received else BEFORE)
    [row] = sending  # a process sends one email at a time
    phase = AFTER_DOT if handed_over(store, row) else CLAIMED
    return Kill(number, pid, point, phase, row.id, received[row.message_id] > 0)


# --- 2. shop faults --------------------------------------------------------------------------------------

SHOP_FAULTS: Final[tuple[FaultKind, ...]] = ("500", "502", "503", "timeout", "html", "truncated", "auth_flap")


class OrderLives:
    """Moves the orders placed so far along, as a shop's staff does between two polls: bank wires arrive
    (→ "payment accepted", which adds the payment row), paid orders are prepared, shipped with the
    tracking number typed in the same minute, then delivered; cheques are entered as back-office payments
    (the order keeps its state). An order moves one step per round and never repeats a state, and no
    order gets both a back-office payment and a paid state: so a bridge that sees a change a few polls late
    decides the same emails as one that saw it at once."""

    def __init__(self, shop: Shop, rng: random.Random) -> None:
        self.shop = shop
        self.rng = rng
        self.states = {
            name: shop.state_id(f"PS_OS_{name}")
            for name in ("BANKWIRE", "CHEQUE", "PAYMENT", "PREPARATION", "SHIPPING", "DELIVERED")
        }
        self.paid_states = {row["id"] for row in shop.state.rows("order_states") if row["paid"]}
        self.stages: dict[str, list[int]] = {
            s: [] for s in ("wire", "cheque", "paid", "preparing", "shipped")
        }

    def add(self, order_ids: Iterable[int]) -> None:
        for order_id in order_ids:
            state = self.shop.state.get("orders", order_id)["current_state"]
            if state == self.states["BANKWIRE"]:
                self.stages["wire"].append(order_id)
            elif state == self.states["CHEQUE"]:
                self.stages["cheque"].append(order_id)
            elif state in self.paid_states:
                self.stages["paid"].append(order_id)

    def move_on(self) -> None:
        # The latest stage first, so that an order moved in this round is not moved again.
        steps: list[tuple[str, float, str | None, Callable[[int], None]]] = [
            ("shipped", 0.3, None, lambda o: self._to(o, "DELIVERED")),
            ("preparing", 0.5, "shipped", self._ship),
            ("paid", 0.4, "preparing", lambda o: self._to(o, "PREPARATION")),
            ("wire", 0.5, "paid", lambda o: self._to(o, "PAYMENT")),
            ("cheque", 0.3, None, self._cheque_entered),
        ]
        for stage, chance, following, step in steps:
            staying: list[int] = []
            for order_id in self.stages[stage]:
                if self.rng.random() < chance:
                    step(order_id)
                    if following is not None:
                        self.stages[following].append(order_id)
                else:
                    staying.append(order_id)
            self.stages[stage] = staying

    def _to(self, order_id: int, state: str) -> None:
        self.shop.change_state(order_id, self.states[state])

    def _ship(self, order_id: int) -> None:
        self.shop.set_tracking(order_id, f"PL{order_id:011d}")
        self._to(order_id, "SHIPPING")

    def _cheque_entered(self, order_id: int) -> None:
        self.shop.add_payment(order_id, self.shop.state.get("orders", order_id)["total_paid_tax_incl"])


@dataclass
class ShopFaultsResult:
    orders: int
    rounds: int
    rate: float
    polls: int = 0
    failed_polls: Counter[str] = field(default_factory=Counter)  # by the error the poll raised
    crashes: list[str] = field(default_factory=list)  # errors that are not a BridgeError: a bug
    requests: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    changes: Counter[str] = field(default_factory=Counter)  # what the shop did, by table
    cursor_checks: int = 0
    violations: list[str] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)
    seconds: float = 0.0

    @property
    def broken(self) -> list[str]:
        problems = [f"shop faults: {problem}" for problem in self.tally.broken]
        if self.violations:
            problems.append(f"shop faults: {len(self.violations)} cursor(s) past unprocessed data")
        if self.crashes:
            problems.append(
                f"shop faults: {len(self.crashes)} poll(s) raised something else than a BridgeError"
            )
        return problems


def shop_faults(*, orders: int = 500, rounds: int = 50, rate: float = 0.2, seed: int = 1) -> ShopFaultsResult:
    """`orders` orders placed and moved along over `rounds` rounds, one poll and one delivery each, while
    `rate` of the webservice requests fail; then the shop recovers and the bridge catches up."""
    started = time.perf_counter()
    result = ShopFaultsResult(orders, rounds, rate)
    shop = demo_shop()
    clock = shop.clock
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bridge-shop-faults-")))
        faulty = stack.enter_context(Simulator(shop.state, flavour="8.1", api_key=SHOP_KEY))
        clean = stack.enter_context(Simulator(shop.state, flavour="8.1", api_key=SHOP_KEY))
        faulty.record_bodies = clean.record_bodies = False
        smtp = stack.enter_context(gmail_like_server(mode="plain"))
        # A timeout holds the answer: the client gives up after 1 s (the shortest PRESTASHOP_TIMEOUT), then
        # retries as an owner's bridge does (PRESTASHOP_RETRIES' default, 3), its backoff not slept.
        values = bridge_values(
            faulty.url, tmp / "state", smtp, PRESTASHOP_TIMEOUT="1s", PRESTASHOP_RETRIES="3"
        )
        settings = Settings.from_mapping(values)
        store = stack.enter_context(open_store(settings.database_url))
        client = stack.enter_context(client_for(settings))
        sender = smtp_transport(settings)
        stack.callback(sender.close)
        reference = stack.enter_context(Reference(clean.url, tmp / "reference", clock))
        renderer = get_renderer(settings.templates_dir)
        budget = budget_for(settings)

        poll(client, store, settings, now=clock.now())  # the baselines, before any fault
        reference.poll()
        with store.read() as conn:
            baseline = positions(conn)
        before = {table: shop.state.count(table) for table in ("orders", "order_histories", "order_payments")}
        customers = add_customers(shop, max(10, orders * 3 // 10), seed=seed)
        lives = OrderLives(shop, random.Random(seed))
        faulty.faults.timeout_hold = 3 * settings.prestashop_timeout.total_seconds()
        faulty.faults.rate(rate, SHOP_FAULTS, seed=seed)

        def cycle() -> bool:
            result.polls += 1
            polled = False
            try:
                poll(client, store, settings, now=clock.now())
                polled = True
            except BridgeError as error:
                result.failed_polls[type(error).__name__] += 1
            except Exception as error:
                result.crashes.append(f"{type(error).__name__}: {error}")
            result.cursor_checks += 1
            result.violations += cursor_violations(store, shop, baseline)
            deliver_due(
                store,
                sender,
                renderer,
                clock,
                unknown_policy=settings.unknown_policy,
                budget=budget,
                login_retry=settings.smtp_login_retry,
            )
            return polled

        for number in range(rounds):
            clock.advance(60)
            count = orders * (number + 1) // rounds - orders * number // rounds
            lives.move_on()
            lives.add(place_orders(shop, customers, count, seed=seed * 1000 + number))
            clock.advance(30)
            cycle()
            reference.poll()
        faulty.faults.clear()  # the shop recovers; the next clean poll catches up
        for _ in range(3):
            clock.advance(60)
            if cycle() and not waiting(store):
                break

        result.requests = len(faulty.requests)
        result.faults = Counter(kind for kind, _ in faulty.faults.injected)
        result.changes = Counter({table: shop.state.count(table) - count for table, count in before.items()})
        result.tally = tally(reference.decisions(), all_rows(store), smtp.messages, no_duplicate_expected)
    result.seconds = time.perf_counter() - started
    return result


ORDERS, HISTORIES, PAYMENTS = "orders.id", "order_histories.id", "order_payments.id"


def positions(conn: Tx) -> dict[str, int]:
    """The bridge's order cursors, by the names the violations report."""
    o = cursors.load(conn).orders
    return {ORDERS: o.orders.position, HISTORIES: o.histories.position, PAYMENTS: o.payments.position}


def no_duplicate_expected(row: OutboxRow, copies: int) -> tuple[str, bool]:
    return f"outbox #{row.id} ({row.status}) arrived {copies} times with nothing to explain it", False


def cursor_violations(store: Store, shop: Shop, baseline: Mapping[str, int]) -> list[str]:
    """Shop rows at or below the bridge's cursors whose email decision is not in the outbox.

    An order needs its confirmation decision (`order_confirmation:order:ID`), a state change its status
    decision (`status:history:ID`), both sent or skipped with a reason. A payment needs its own decision
    (`payment:payment:ID`) unless its order is in a paid state: then the move to that state (a history row
    whose decision is recorded) is what the customer hears about, and the payment by design adds nothing.
    """
    with store.read() as conn:
        at = positions(conn)
        keys = set(conn.execute(select(outbox_table.c.idempotency_key)).scalars())
    state = shop.state
    paid_states = {row["id"] for row in state.rows("order_states") if row["paid"]}
    missing: list[str] = []
    order_ids: dict[str, int] = {}
    for order in state.rows("orders"):
        order_ids[order["reference"]] = order["id"]
        decided = f"order_confirmation:order:{order['id']}" in keys
        if baseline[ORDERS] < order["id"] <= at[ORDERS] and not decided:
            missing.append(f"{ORDERS} at {at[ORDERS]}: order #{order['id']} has no confirmation decision")
    paid_orders: set[int] = set()
    for history in state.rows("order_histories"):
        if baseline[HISTORIES] < history["id"] <= at[HISTORIES]:
            if f"status:history:{history['id']}" not in keys:
                missing.append(f"{HISTORIES} at {at[HISTORIES]}: history #{history['id']} has no decision")
            elif history["id_order_state"] in paid_states:
                paid_orders.add(history["id_order"])
    for payment in state.rows("order_payments"):
        if baseline[PAYMENTS] < payment["id"] <= at[PAYMENTS]:
            covered = order_ids.get(payment["order_reference"]) in paid_orders
            if f"payment:payment:{payment['id']}" not in keys and not covered:
                missing.append(f"{PAYMENTS} at {at[PAYMENTS]}: payment #{payment['id']} has no decision")
    return missing


# --- 3. SMTP faults --------------------------------------------------------------------------------------

SMTP_FAULTS: Final[Mapping[Command, Sequence[str]]] = {
    "MAIL": [TRY_AGAIN_LATER, TEMPORARILY_REJECTED, DAILY_LIMIT],
    "DATA": [TRY_AGAIN_LATER, TEMPORARILY_REJECTED, DAILY_LIMIT, ACCEPT_THEN_DROP],
    "AUTH": [TOO_MANY_LOGINS, BAD_CREDENTIALS],
}
# What the bridge must answer with a pause of the whole sender (never a failed email).
PAUSING: Final = ("5.4.5", "5.7.8", "454 4.7.0")


def fault_label(command: str, fault: str) -> str:
    if fault == ACCEPT_THEN_DROP:
        return "accepted, then the line dropped (no 250)"
    code = fault.splitlines()[-1][:9]
    where = {"DATA": "after the final dot", "MAIL": "at MAIL FROM", "AUTH": "at login"}.get(command, command)
    return f"{code} {where}"


@dataclass
class SmtpFaultsResult:
    emails: int
    rate: float
    policy: UnknownPolicy
    faults: Counter[str] = field(default_factory=Counter)
    cycles: int = 0  # deliver_due calls
    statuses: Counter[str] = field(default_factory=Counter)  # the outbox at the end
    attempts: Counter[str] = field(default_factory=Counter)  # every attempt, by its outcome
    pauses: Counter[str] = field(default_factory=Counter)  # the sender paused, by kind
    waits: Counter[str] = field(default_factory=Counter)  # the budget held delivery back, by limit
    pausing_refusals: int = 0  # attempts refused with 550 5.4.5, 535 5.7.8 or 454 4.7.0
    pausing_refusals_failed: int = 0  # ... that failed their email instead of pausing the sender
    simulated: timedelta = timedelta(0)
    tally: Tally = field(default_factory=Tally)
    seconds: float = 0.0

    @property
    def broken(self) -> list[str]:
        problems = [f"SMTP faults: {problem}" for problem in self.tally.broken]
        if self.pausing_refusals_failed:
            problems.append(
                f"SMTP faults: {self.pausing_refusals_failed} quota/login refusal(s) failed an email"
            )
        if self.statuses[Status.FAILED]:
            problems.append(f"SMTP faults: {self.statuses[Status.FAILED]} email(s) failed")
        return problems


def smtp_faults(
    *, emails: int = 500, rate: float = 0.1, policy: UnknownPolicy = "hold", seed: int = 1
) -> SmtpFaultsResult:
    """`emails` order confirmations delivered while the server injects a fault into `rate` of the MAIL
    FROMs, the final dots and the logins; the clock jumps to each pause's end and each retry's time."""
    started = time.perf_counter()
    result = SmtpFaultsResult(emails, rate, policy)
    shop = demo_shop()
    clock = shop.clock
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bridge-smtp-faults-")))
        simulator = stack.enter_context(Simulator(shop.state, flavour="8.1", api_key=SHOP_KEY))
        simulator.record_bodies = False
        smtp = stack.enter_context(gmail_like_server())
        values = bridge_values(simulator.url, tmp / "state", smtp, trust(smtp, tmp), UNKNOWN_POLICY=policy)
        settings = Settings.from_mapping(values)
        store = stack.enter_context(open_store(settings.database_url))
        client = stack.enter_context(client_for(settings))
        sender = smtp_transport(settings)
        stack.callback(sender.close)

        poll(client, store, settings, now=clock.now())  # baseline
        clock.advance(60)
        customers = add_customers(shop, max(10, emails * 3 // 10), seed=seed)
        place_orders(shop, customers, emails, seed=seed, payments=("przelewy24",))  # one email each
        clock.advance(60)
        poll(client, store, settings, now=clock.now())
        expected = {row.idempotency_key: row.status is not Status.SKIPPED for row in all_rows(store)}

        renderer = get_renderer(settings.templates_dir)
        budget = budget_for(settings)
        jitter = random.Random(seed)
        began = clock.now()
        smtp.script.at_random(rate, SMTP_FAULTS, seed=seed)
        for _ in range(50 * emails):
            result.cycles += 1
            delivered = deliver_due(
                store,
                sender,
                renderer,
                clock,
                unknown_policy=settings.unknown_policy,
                budget=budget,
                login_retry=settings.smtp_login_retry,
                rng=jitter.random,
            )
            if delivered.stopped_by == "pause":
                pause = paused(store, clock.now())
                result.pauses[(pause.kind if pause else None) or "other"] += 1
            elif delivered.stopped_by is not None:
                result.waits[delivered.stopped_by] += 1
            resume = delivered.resume_at or next_due(store)
            if resume is None:
                break
            clock.set(max(clock.now(), resume))
        smtp.script.at_random(0.0, {}, seed=0)
        result.simulated = clock.now() - began

        result.faults = Counter(fault_label(command, fault) for command, fault in smtp.script.injected)
        rows = all_rows(store)
        result.statuses = Counter(str(row.status) for row in rows if row.status is not Status.SKIPPED)
        with store.read() as conn:
            for outcome, error, reply in conn.execute(
                select(outbox_attempts.c.outcome, outbox_attempts.c.error, outbox_attempts.c.smtp_reply)
            ):
                result.attempts[outcome or "open"] += 1
                if any(code in f"{error or ''} {reply or ''}" for code in PAUSING):
                    result.pausing_refusals += 1
                    result.pausing_refusals_failed += outcome != Status.QUEUED

        def explain(row: OutboxRow, copies: int) -> tuple[str, bool]:
            dropped = unknown_attempts(store, row)
            why = (
                f"outbox #{row.id}: the line dropped after the server accepted it {dropped} time(s); "
                f"UNKNOWN_POLICY={policy} sent it again, same Message-ID"
            )
            return why, policy == "resend" and copies - 1 <= dropped

        result.tally = tally(expected, rows, smtp.messages, explain)
    result.seconds = time.perf_counter() - started
    return result


def next_due(store: Store) -> datetime | None:
    """When the next waiting email falls due (a retry's backoff), or None when none waits."""
    with store.read() as conn:
        first: datetime | None = conn.execute(
            select(func.min(outbox_table.c.not_before)).where(
                outbox_table.c.status.in_([s.value for s in DUE])
            )
        ).scalar()
    return first


# --- 4. concurrency --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Round:
    number: int
    wait: bool  # started with --wait
    orders: int
    exits: tuple[int, ...]  # sync, sync, run
    emails: int  # messages the server received in this round
    seconds: float


@dataclass
class ConcurrencyResult:
    lock: bool  # one STATE_DIR (the lock), or three STATE_DIRs sharing one DATABASE_URL
    rounds: list[Round] = field(default_factory=list)
    orders: int = 0
    messages: int = 0
    missing: list[str] = field(default_factory=list)
    same_id_doubles: int = 0
    different_id_doubles: int = 0
    strays: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def doubles(self) -> int:
        return self.same_id_doubles + self.different_id_doubles

    @property
    def broken(self) -> list[str]:
        label = "concurrency (one STATE_DIR)" if self.lock else "concurrency (lock bypassed)"
        checks = {
            "missing": len(self.missing),
            "double sends": self.doubles,
            "stray messages": self.strays,
            "failed processes": len(self.failures),
        }
        return [f"{label}: {name}: {value}" for name, value in checks.items() if value]


def concurrency(
    *,
    rounds: int = 10,
    orders_per_round: int = 20,
    lock: bool = True,
    wait: bool | None = None,
    seed: int = 1,
) -> ConcurrencyResult:
    """Two `bridge sync` and a `bridge run` started together, `rounds` times, new orders (each paid at
    checkout: one confirmation each) placed before each round; the run is stopped (SIGTERM) once the
    round's mail is in. All three start with --wait when `wait`, or (None) in even rounds."""
    started = time.perf_counter()
    result = ConcurrencyResult(lock)
    shop = demo_shop()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bridge-concurrency-")))
        simulator = stack.enter_context(Simulator(shop.state, flavour="8.1", api_key=SHOP_KEY))
        simulator.record_bodies = False
        smtp = stack.enter_context(gmail_like_server())
        ca_file = trust(smtp, tmp)
        bridges = stack.enter_context(Bridges(tmp / "runs"))
        values = bridge_values(simulator.url, tmp / "state", smtp, ca_file, POLL_INTERVAL="10s")
        shared = f"sqlite:///{tmp / 'shared.sqlite3'}"
        if lock:
            envs = [write_env_file(tmp / "bridge.env", values)] * 3
        else:
            envs = [
                write_env_file(
                    tmp / f"bridge-{name}.env",
                    bridge_values(
                        simulator.url,
                        tmp / f"state-{name}",
                        smtp,
                        ca_file,
                        DATABASE_URL=shared,
                        POLL_INTERVAL="10s",
                    ),
                )
                for name in "abc"
            ]
        first_run(values if lock else values | {"STATE_DIR": str(tmp / "state-a"), "DATABASE_URL": shared})
        customers = add_customers(shop, 30, seed=seed)
        placed: dict[str, str] = {}  # order reference → the customer's address
        for number in range(1, rounds + 1):
            shop.advance(60)
            ids = place_orders(
                shop, customers, orders_per_round, seed=seed * 1000 + number, payments=("przelewy24",)
            )
            references = {shop.order_ref(order_id) for order_id in ids}
            for order_id in ids:
                order = shop.state.get("orders", order_id)
                placed[order["reference"]] = shop.state.get("customers", order["id_customer"])["email"]
            began, received = time.perf_counter(), len(smtp.messages)
            waits = number % 2 == 0 if wait is None else wait
            options = ("--wait",) if waits else ()
            processes = [
                bridges.start(envs[0], "sync", *options),
                bridges.start(envs[1], "sync", *options),
                bridges.start(envs[2], "run", *options),
            ]
            wait_for_mail(smtp, references, processes)
            service = processes[2]
            if service.popen.poll() is None:
                service.popen.send_signal(signal.SIGTERM)
            exits = tuple(bridges.finish(process) for process in processes)
            allowed = ({0} if waits else {0, 75}, {0} if waits else {0, 75}, {0, -signal.SIGTERM, 75})
            for process, code, ok in zip(processes, exits, allowed, strict=True):
                if code not in ok or process.hung:
                    result.failures.append(process.output())
            result.rounds.append(
                Round(
                    number,
                    waits,
                    len(ids),
                    exits,
                    len(smtp.messages) - received,
                    time.perf_counter() - began,
                )
            )

        messages = smtp.messages
        result.orders, result.messages = len(placed), len(messages)
        by_reference: dict[str, list[ReceivedMessage]] = {}
        for message in messages:
            reference = reference_of(message, placed)
            if reference is None or message.recipients != (placed[reference],):
                result.strays += 1
            else:
                by_reference.setdefault(reference, []).append(message)
        result.missing = sorted(set(placed) - set(by_reference))
        for received_for_order in by_reference.values():
            message_ids = {message_id_of(message) for message in received_for_order}
            result.different_id_doubles += len(message_ids) - 1
            result.same_id_doubles += len(received_for_order) - len(message_ids)
    result.seconds = time.perf_counter() - started
    return result


def wait_for_mail(smtp: GmailLikeServer, references: set[str], processes: Sequence[BridgeProcess]) -> bool:
    """Until every reference has its email at the server, or every process has ended (polling with a
    deadline: this waits for other processes to get somewhere, not for time to pass)."""
    deadline = time.monotonic() + WAIT
    pause = threading.Event()
    while time.monotonic() < deadline:
        if references <= {reference_of(message, references) for message in smtp.messages}:
            return True
        if all(process.popen.poll() is not None for process in processes):
            return False
        pause.wait(0.05)
    return False


# --- printing ------------------------------------------------------------------------------------------


def count(value: float) -> str:
    return f"{value:,.0f}"


def seconds(value: float) -> str:
    return f"{value:,.1f} s"


def exit_label(code: int) -> str:
    return {0: "0", 75: "75 (busy)", -signal.SIGTERM: "SIGTERM", -signal.SIGKILL: "killed"}.get(
        code, str(code)
    )


def kills_by(
    figure: Callable[[CrashLoopResult], Counter[str]], name: str
) -> Callable[[CrashLoopResult], str]:
    """A column of the crash-loop table: how many kills `figure` counts under `name`."""
    return lambda result: count(figure(result)[name])


def print_crash_loop(results: Sequence[CrashLoopResult]) -> None:
    first = results[0]
    columns = [r.label for r in results]

    def row(name: str, values: Callable[[CrashLoopResult], object]) -> list[object]:
        return [name, *[values(r) for r in results]]

    rows = [
        row("bridge processes started (`python -m bridge sync`)", lambda r: count(r.processes)),
        row("SIGKILLs", lambda r: count(len(r.kills))),
        *[
            row(f"… kill point: {name}", kills_by(CrashLoopResult.kinds, kind))
            for kind, name in POINT_KINDS.items()
        ],
        *[row(f"… killed {phase}", kills_by(CrashLoopResult.phases, phase)) for phase in PHASES],
        row("runs that ended before their kill point came (must be 0)", lambda r: count(r.finished)),
        row("emails expected (what an undisturbed bridge queues)", lambda r: count(r.tally.expected)),
        row("emails delivered (their Message-ID reached the server)", lambda r: count(r.tally.delivered)),
        row("**lost** (must be 0)", lambda r: count(len(r.tally.lost))),
        row(
            "**duplicates with different Message-IDs** (must be 0)",
            lambda r: count(r.tally.different_id_duplicates),
        ),
        row("duplicates with the same Message-ID", lambda r: count(r.tally.same_id_duplicates)),
        row(
            "… explained: killed after the final dot, then resent",
            lambda r: count(sum(d.copies - 1 for d in r.tally.duplicates if d.explained)),
        ),
        row("`unknown` in the store (held for the owner)", lambda r: count(r.tally.unknown)),
        row("… of which the server has the message", lambda r: count(r.tally.unknown_at_server)),
        *(imap_rows(results) if any(r.imap for r in results) else []),
        row(
            "decisions differing from the undisturbed bridge (must be 0)",
            lambda r: count(len(r.tally.decisions_differing)),
        ),
        row("messages no outbox row explains (must be 0)", lambda r: count(r.tally.strays)),
        row("runs that failed (must be 0)", lambda r: count(len(r.failures))),
        row("wall time", lambda r: seconds(r.seconds)),
    ]
    print_table(
        f"crash loop: `bridge sync` catching up on {first.orders} orders, SIGKILLed {len(first.kills)} times",
        ["figure", *columns],
        rows,
    )
    for result in results:
        named = ", ".join(f"{name} {n}" for name, n in sorted(result.points().items()))
        print(f"\nkill points under {result.label}: {named}")
    for result in results:
        if result.tally.duplicates:
            print(f"\nsame-Message-ID duplicates under {result.label}, each explained:\n")
            for duplicate in result.tally.duplicates:
                mark = "" if duplicate.explained else "  **UNEXPLAINED**"
                print(
                    f"- {duplicate.message_id} ({duplicate.kind}, order {duplicate.order_reference}), "
                    f"{duplicate.copies} copies: {duplicate.why}{mark}"
                )
        for failure in result.failures[:3]:
            print(f"\nfailed run under {result.label}:\n{failure}")
    print(
        "\nA kill after the final dot leaves the one email SMTP cannot settle: the server may have it, and"
        " the bridge never heard the 250. On restart it becomes `unknown`. With UNKNOWN_POLICY=resend it is"
        " sent again under the same Message-ID (a recipient's Gmail shows one), so each such kill can add one"
        " same-ID copy; with `hold` (the default) it waits in `unknown` for the owner, who finds it in the"
        " Sent folder or retries it: no copy, and not lost."
    )
    if any(r.imap for r in results):
        print(
            "\nWith IMAP on the bridge looks for that email in the Sent folder itself (UNKNOWN_POLICY is not"
            " applied): found there, it is marked sent and never sent again; missing IMAP_SETTLE_WINDOW after"
            " the cut-off, it is sent again under its Message-ID. Nothing is left `unknown` for the owner."
        )
    sys.stdout.flush()


def imap_rows(results: Sequence[CrashLoopResult]) -> list[list[object]]:
    """The crash-loop table's rows about the Sent folder ("IMAP off" in a column without it)."""

    def row(name: str, value: Callable[[CrashLoopResult], int | bool]) -> list[object]:
        return [name, *[count(value(r)) if r.imap else "IMAP off" for r in results]]

    return [
        row("… settled from the Sent folder: found there, marked sent", lambda r: r.found),
        row("… settled from the Sent folder: missing, sent again (same Message-ID)", lambda r: r.resent),
        row("**`unknown` left held** (must be 0 with IMAP on)", lambda r: r.tally.unknown),
        row("second-sender alarms over its own Sent copies (must be 0)", lambda r: r.second_sender),
    ]


def print_shop_faults(result: ShopFaultsResult) -> None:
    print_table(
        f"shop faults: {result.rate:.0%} of webservice requests fail, {result.orders} orders over"
        f" {result.rounds} polls",
        ["fault", "injected"],
        [(kind, count(n)) for kind, n in sorted(result.faults.items())]
        + [("**all** (of requests)", f"{count(sum(result.faults.values()))} of {count(result.requests)}")],
    )
    failed = sum(result.failed_polls.values())
    why = ", ".join(f"{name} {n}" for name, n in result.failed_polls.most_common())
    t = result.tally
    print_table(
        "shop faults: what the bridge did",
        ["figure", "value"],
        [
            (
                "shop changes: new orders / state changes / payments",
                "{} / {} / {}".format(
                    *(count(result.changes[t]) for t in ("orders", "order_histories", "order_payments"))
                ),
            ),
            ("polls (one per round, then until a clean one)", count(result.polls)),
            ("polls that gave up (the next one tries again)", f"{count(failed)} ({why or 'none'})"),
            ("polls that raised something else (a bug; must be 0)", count(len(result.crashes))),
            ("cursor checks (after every poll)", count(result.cursor_checks)),
            ("**cursor past data it did not process** (must be 0)", count(len(result.violations))),
            ("emails expected (what a bridge on a healthy shop queues)", count(t.expected)),
            ("emails delivered", count(t.delivered)),
            ("**lost** (must be 0)", count(len(t.lost))),
            (
                "**duplicated** (same or different Message-ID; must be 0)",
                count(t.same_id_duplicates + t.different_id_duplicates),
            ),
            (
                "decisions differing from the healthy shop's bridge (must be 0)",
                count(len(t.decisions_differing)),
            ),
            ("wall time", seconds(result.seconds)),
        ],
    )
    for line in [*result.violations[:10], *result.crashes[:10], *t.lost[:10], *t.decisions_differing[:10]]:
        print(f"- {line}")


def print_smtp_faults(result: SmtpFaultsResult) -> None:
    print_table(
        f"SMTP faults: {result.emails} emails, a fault in {result.rate:.0%} of MAIL FROMs, final dots"
        " and logins",
        ["fault", "injected"],
        [(label, count(n)) for label, n in sorted(result.faults.items())]
        + [("**all**", count(sum(result.faults.values())))],
    )
    t = result.tally
    pauses = ", ".join(f"{kind} {n}" for kind, n in result.pauses.most_common()) or "none"
    waits = ", ".join(f"{kind} {n}" for kind, n in result.waits.most_common()) or "none"
    attempts = ", ".join(f"{outcome} {n}" for outcome, n in result.attempts.most_common())
    print_table(
        f"SMTP faults: what the bridge did (UNKNOWN_POLICY={result.policy})",
        ["figure", "value"],
        [
            ("emails queued", count(result.emails)),
            (
                "sent / failed / unknown / still waiting",
                "{} / {} / {} / {}".format(
                    *(count(result.statuses[s]) for s in (Status.SENT, Status.FAILED, Status.UNKNOWN)),
                    count(result.statuses[Status.QUEUED] + result.statuses[Status.RETRY]),
                ),
            ),
            ("attempts, by outcome (queued: given back by a pause, not spent)", attempts),
            ("sender paused (by kind)", f"{count(sum(result.pauses.values()))} ({pauses})"),
            ("budget waits", waits),
            ("refusals with 550 5.4.5 / 535 5.7.8 / 454 4.7.0", count(result.pausing_refusals)),
            (
                "**… that failed their email instead of pausing** (must be 0)",
                count(result.pausing_refusals_failed),
            ),
            ("deliver_due calls (the clock jumped to each pause's end, each retry)", count(result.cycles)),
            ("time the bridge lived through (ManualClock)", str(result.simulated).split(".")[0]),
            ("emails delivered (their Message-ID reached the server)", count(t.delivered)),
            ("**lost** (must be 0)", count(len(t.lost))),
            (
                "`unknown` (the line dropped after the dot) / of which at the server",
                f"{count(t.unknown)} / {count(t.unknown_at_server)}",
            ),
            (
                "duplicates: same Message-ID / **different Message-IDs** (must be 0)",
                f"{count(t.same_id_duplicates)} / {count(t.different_id_duplicates)}",
            ),
            ("wall time", seconds(result.seconds)),
        ],
    )
    for line in t.lost[:10]:
        print(f"- lost: {line}")


def print_concurrency(results: Sequence[ConcurrencyResult]) -> None:
    rows: list[list[object]] = []
    for result in results:
        where = "one STATE_DIR" if result.lock else "lock bypassed"
        for r in result.rounds:
            rows.append(
                [
                    where,
                    r.number,
                    "yes" if r.wait else "no",
                    r.orders,
                    *(exit_label(code) for code in r.exits),
                    r.emails,
                    seconds(r.seconds),
                ]
            )
    print_table(
        "concurrency: two `bridge sync` and a `bridge run` started together, each round",
        ["state", "round", "--wait", "new orders", "sync #1", "sync #2", "run", "emails", "time"],
        rows,
    )
    print_table(
        "concurrency: what the customers got",
        [
            "state",
            "rounds",
            "orders",
            "messages",
            "missing",
            "**double sends** (same / different ID)",
            "time",
        ],
        [
            [
                "one STATE_DIR (the lock)" if r.lock else "three STATE_DIRs, one DATABASE_URL (no lock)",
                len(r.rounds),
                r.orders,
                r.messages,
                len(r.missing),
                f"{r.doubles} ({r.same_id_doubles} / {r.different_id_doubles})",
                seconds(r.seconds),
            ]
            for r in results
        ],
    )
    for result in results:
        for failure in result.failures[:3]:
            print(f"\n{failure}")


# --- main ------------------------------------------------------------------------------------------------


def imap_flag(argv: Sequence[str]) -> tuple[bool, list[str]]:
    """`--imap` (the crash loop with IMAP on, this script's own flag), and the arguments left for the rest."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--imap", action="store_true")
    known, rest = parser.parse_known_args(argv)
    return bool(known.imap), rest


def main() -> int:
    imap, argv = imap_flag(sys.argv[1:])
    args = parse_args(__doc__ or "", argv, scenarios=SCENARIOS)
    if imap and (missing := dovecot_available()) is not None:
        print(f"reliability.py --imap: {missing}", file=sys.stderr)
        return 2
    # Under fire the bridge logs every refusal and retry; the tables are this script's output.
    logging.getLogger("bridge").setLevel(logging.CRITICAL)
    small, seed = args.small, args.seed
    print(f"# reliability ({'small' if small else 'full'} run, seed {seed}) — {machine_line()}")
    chosen = [args.scenario] if args.scenario else list(SCENARIOS)
    broken: list[str] = []
    if "crash_loop" in chosen:
        orders, kills = (60, 10) if small else (500, 100)
        if imap:  # with IMAP on the Sent folder decides: one loop, under the default policy
            loops = [crash_loop(orders=orders, kills=kills, policy="hold", seed=seed, imap=True)]
        else:
            loops = [crash_loop(orders=orders, kills=kills, policy=p, seed=seed) for p in ("resend", "hold")]
        print_crash_loop(loops)
        broken += [problem for loop in loops for problem in loop.broken]
    if "shop_faults" in chosen:
        faults = shop_faults(orders=60 if small else 500, rounds=6 if small else 50, seed=seed)
        print_shop_faults(faults)
        broken += faults.broken
    if "smtp_faults" in chosen:
        smtp = smtp_faults(emails=60 if small else 500, seed=seed)
        print_smtp_faults(smtp)
        broken += smtp.broken
    if "concurrency" in chosen:
        rounds, per_round = (3, 10) if small else (10, 20)
        races = [
            concurrency(rounds=rounds, orders_per_round=per_round, lock=lock, seed=seed)
            for lock in (True, False)
        ]
        print_concurrency(races)
        broken += [problem for race in races for problem in race.broken]
    if broken:
        print("\n**BROKEN PROMISES**\n")
        for problem in broken:
            print(f"- {problem}")
        return 1
    print("\nEvery promise held: nothing lost, nothing sent twice under two Message-IDs.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
