"""Cron, for hosts without systemd or root: `bridge cron-line` prints the exact line, and the command in that
line, started twice at once as cron would start an overlapping run, never sends an email twice.

The line is run as cron runs it: the five time fields dropped, `\\%` turned back into `%`, the rest handed
to /bin/sh, in processes of their own (the bridge's console script of this installation). The shop is the
simulator and the mail server the Gmail-like one, on 127.0.0.1; what the server received is counted.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.commands.cron import ROTATE_BYTES, bridge_argv, command_of, cron_line, schedule
from bridge.config import setting_names
from bridge.simulator import Simulator
from bridge.simulator.actions import PostalAddress, Shop
from bridge.simulator.demo_shop import BOWL, MUG, MUG_HONEY
from tests.conftest import SHOP_KEY
from tests.smtp_server import DEFAULT_PASSWORD, DEFAULT_USERNAME, GmailLikeServer

WAIT = 60.0  # seconds a process may take to reach a point: generous, a loaded machine is not a failure
WARSAW = PostalAddress("ul. Marszałkowska 10/4", "00-590", "Warszawa", phone="+48 600 700 800")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in [*setting_names(), "SSL_CERT_FILE", "SSL_CERT_DIR"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def owner_env(folder: Path, shop: Simulator, smtp: GmailLikeServer) -> Path:
    """The owner's `.env` in their home folder, as `bridge init` would leave it (STATE_DIR absolute)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = folder / "test-ca.pem"
    smtp.ca.cert_pem.write_to_path(str(ca))
    values = {
        "PRESTASHOP_URL": shop.url,
        "PRESTASHOP_API_KEY": SHOP_KEY,
        "PRESTASHOP_RETRIES": "0",
        "SMTP_HOST": smtp.host,
        "SMTP_PORT": str(smtp.port),
        "SMTP_USERNAME": DEFAULT_USERNAME,
        "SMTP_PASSWORD": DEFAULT_PASSWORD,
        "SMTP_CA_FILE": str(ca),
        "SMTP_TIMEOUT": "30s",
        "STATE_DIR": str(folder / "state"),
        "SEND_RATE_PER_MINUTE": "1000",
        # The processes run on the system clock, the simulated shop on the test's: every order would look
        # days old to the age guard (tests/test_age_guard.py covers it).
        "MAX_EMAIL_AGE": "0",
    }
    env = folder / ".env"
    env.write_text("".join(f"{name}={value}\n" for name, value in values.items()), encoding="utf-8")
    env.chmod(0o600)
    return env


def printed_line(env: Path, *args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["--env-file", str(env), "cron-line", *args]) == 0
    [line] = out.getvalue().splitlines()
    return line


STARTED: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def no_process_left() -> Iterator[None]:
    yield
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            process.kill()
        process.wait(timeout=WAIT)


def start(line: str, folder: Path) -> subprocess.Popen[bytes]:
    """The line's command as cron starts it: /bin/sh, an almost empty environment, another folder."""
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(folder), "LANG": "C.UTF-8"}
    process = subprocess.Popen(["/bin/sh", "-c", command_of(line)], cwd="/", env=environment)
    STARTED.append(process)
    return process


def wait_for(condition: Callable[[], bool], what: str, *processes: subprocess.Popen[bytes]) -> None:
    """Short polls with a deadline: waiting for another process to reach a point, not for time to pass."""
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not {what} within {WAIT:g} s")
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.01)


def place_orders(shop: Shop, count: int) -> set[str]:
    """`count` customers each place one order paid at checkout: one order confirmation each."""
    addresses = set()
    for number in range(1, count + 1):
        address = f"klient{number}@example.com"
        customer = shop.register_customer("Jan", f"Nowak{number}", address, address=WARSAW)
        cart = shop.create_cart(customer.customer_id, [(MUG, 2, MUG_HONEY), (BOWL, 1)], carrier_id=2)
        shop.place_order(cart, "przelewy24")
        addresses.add(address)
        shop.advance(7)
    return addresses


@pytest.fixture
def started(
    shop: Shop, shop_server: Simulator, smtp_server: GmailLikeServer, tmp_path: Path
) -> Iterator[Path]:
    """The owner's `.env`; the first sync (which only records where the shop stands) done."""
    env = owner_env(tmp_path / "home" / "shop-bridge", shop_server, smtp_server)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["--env-file", str(env), "sync"]) == 0
    shop.advance(timedelta(minutes=1))
    yield env


# --- the line -------------------------------------------------------------------------------------------


def test_cron_line_names_this_bridge_the_env_file_and_the_log_absolutely(
    shop_server: Simulator, smtp_server: GmailLikeServer, tmp_path: Path
) -> None:
    env = owner_env(tmp_path / "my shop%bridge", shop_server, smtp_server)
    line = printed_line(env)
    assert line == cron_line(env)
    assert line.startswith("*/5 * * * * cd ")
    assert str(bridge_argv()[0]).startswith("/") and os.access(bridge_argv()[0], os.X_OK)
    assert "\\%" in line and "%b" not in line.replace("\\%", ""), "cron turns a bare % into a newline"
    command = command_of(line)
    assert f"--env-file '{env}' sync >> '{env.parent / 'bridge.log'}' 2>&1" in command
    assert "flock" not in line, "the bridge locks itself"
    assert printed_line(env, "--every", "1").startswith("* * * * * cd ")
    assert schedule(15) == "*/15 * * * *"


def test_cron_line_without_an_env_file_says_to_run_init(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cron-line"]) == 78
    assert "`bridge init` writes it" in capsys.readouterr().err


# --- the line, run as cron runs it ----------------------------------------------------------------------


def test_two_overlapping_runs_of_the_cron_line_send_every_email_once(
    started: Path, shop: Shop, smtp_server: GmailLikeServer
) -> None:
    addresses = place_orders(shop, 4)
    line = printed_line(started)
    # The first run is held once the server has its first message (it owes the 250), holding the lock:
    # the second starts right then, as cron starts a run while the previous one is still busy.
    smtp_server.script.hold("DATA")
    first = start(line, started.parent)
    wait_for(lambda: smtp_server.script.held("DATA") == 1, "sending its first email", first)
    second = start(line, started.parent)
    try:
        assert second.wait(timeout=WAIT) == 75  # the bridge's own status: another bridge holds the lock
    finally:
        smtp_server.script.release()
    assert first.wait(timeout=WAIT) == 0
    # Then both at the same instant, twice more: whoever gets the lock sends what is due, if anything.
    for _ in range(2):
        together = [start(line, started.parent), start(line, started.parent)]
        codes = sorted(process.wait(timeout=WAIT) for process in together)
        assert codes in ([0, 0], [0, 75])

    received = smtp_server.messages
    assert sorted(address for m in received for address in m.recipients) == sorted(addresses)
    assert set(Counter(str(m.message["Message-ID"]) for m in received).values()) == {1}
    log = (started.parent / "bridge.log").read_text(encoding="utf-8")
    assert "another bridge is running" in log, "the overlapping run was refused by the lock"
    assert "4 sent" in log


def test_the_log_rotates_past_a_megabyte_keeping_one_older_file(started: Path) -> None:
    log = started.parent / "bridge.log"
    log.write_text("old line\n" * (ROTATE_BYTES // 9 + 1), encoding="utf-8")
    run = start(printed_line(started), started.parent)
    assert run.wait(timeout=WAIT) == 0
    assert (started.parent / "bridge.log.1").read_text(encoding="utf-8").startswith("old line\n")
    fresh = log.read_text(encoding="utf-8")
    assert "old line" not in fresh and "0 queued" in fresh
    run = start(printed_line(started), started.parent)  # under the limit: appended, not rotated
    assert run.wait(timeout=WAIT) == 0
    assert log.read_text(encoding="utf-8").startswith(fresh)
