"""The API key and the SMTP password never leave the settings: a whole run, then every trace of it searched.

The run goes through the command line as an owner drives it (`bridge.cli.main`, in this process, on a
clock the test moves), with LOG_LEVEL=DEBUG: the baseline, orders placed, a refused SMTP login (535) and
then a good one, a shipment with a tracking number, the shop answering 401 and then 500 (with an owner
alert about it), `status`, `explain`, `outbox list/show`, `check`, `test-email`, and a sync through the
file transport. The shop is the simulator on 127.0.0.1, the SMTP server a Gmail-like one with STARTTLS
and AUTH, the state store an SQLite file. Both secrets are random and distinctive, the password full of
characters that URL- and base64-encoding change.

Then every log line (as written, and as the bridge's code handed it to `logging` before redaction), every
command's output, every exception's text and traceback, the repr of every part holding a secret, every
byte of the state directory (the SQLite file and its -wal/-shm), every message the SMTP server received
and every .eml the file transport wrote are searched for both secrets: plain, URL-encoded, and base64
at any alignment (HTTP Basic `key:`, SMTP `AUTH PLAIN \\0user\\0password`).
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import stat
import string
import traceback
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from bridge.cli import main
from bridge.clock import ManualClock
from bridge.config import load_settings
from bridge.delivery.smtp import SmtpSender
from bridge.errors import BridgeError
from bridge.secret import Secret
from bridge.shop.client import ShopClient
from bridge.simulator import FaultKind, Simulator
from bridge.simulator.actions import PostalAddress, Shop
from bridge.simulator.demo_shop import BOWL, MUG, MUG_HONEY
from bridge.state.outbox import Status, list_rows
from bridge.state.store import open_store
from tests.smtp_server import BAD_CREDENTIALS, DEFAULT_USERNAME, GmailLikeServer

API_KEY = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(32))
# Characters that quote(), quote_plus() and base64 all spell differently; '#' and '=' test the .env parser.
SMTP_PASSWORD = f"{secrets.token_hex(5)}/+ &={secrets.token_hex(5)}%#{secrets.token_hex(3)}"
ADMIN = "wlasciciel@example.pl"
WARSAW = PostalAddress("ul. Marszałkowska 10/4", "00-590", "Warszawa", phone="+48 600 700 800")
# Loggers whose records are captured as the code wrote them, before the bridge's log filter redacts them.
SOURCES = ("bridge", "urllib3", "requests", "sqlalchemy", "alembic", "filelock", "apscheduler")


def spellings(value: str) -> set[str]:
    """Every form in which `value` could leak: as is, URL-encoded, and base64 inside any longer encoding.

    base64(prefix + value + suffix) always contains the part of base64(x + value) that depends on `value`
    alone, for x the prefix's length modulo 3: so three fragments catch HTTP Basic and AUTH PLAIN too.
    """
    raw = value.encode()
    found = {value, quote(value, safe=""), quote_plus(value), quote(value)}
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).decode()
        fragment = encoded[4 if shift else 0 : (shift + len(raw)) // 3 * 4]
        assert len(fragment) >= 16  # long enough never to match by chance
        found |= {fragment, fragment.replace("+", "-").replace("/", "_")}
    return found


FORMS = {name: spellings(value) for name, value in (("API key", API_KEY), ("SMTP password", SMTP_PASSWORD))}


def leaks(text: str | bytes) -> list[str]:
    """Which secret, in which form, `text` holds."""
    haystack = text if isinstance(text, str) else text.decode("utf-8", "surrogateescape")
    return [f"{name} as {form!r}" for name, forms in FORMS.items() for form in forms if form in haystack]


class Lines(logging.Handler):
    """Every record, formatted with its traceback, as a list of lines."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info))
        self.lines.append(text)


@pytest.fixture
def logs() -> Iterator[tuple[Lines, Lines]]:
    """(written, raw): what reaches the root logger's handlers, and what each library logged."""
    written, raw = Lines(), Lines()
    root = logging.getLogger()
    root.addHandler(written)
    for name in SOURCES:
        logging.getLogger(name).addHandler(raw)
    yield written, raw
    root.removeHandler(written)
    for name in SOURCES:
        logging.getLogger(name).removeHandler(raw)


@pytest.fixture
def secret_shop(shop: Shop) -> Iterator[Simulator]:
    with Simulator(shop.state, flavour="8.1", api_key=API_KEY) as server:
        yield server


class SnapshotServer(GmailLikeServer):
    """The Gmail-like server, which also copies every file of the bridge's state directory each time a
    message arrives: the bridge is then mid-delivery, its store open, its -wal and -shm files present."""

    def __init__(self, state_dir: Path) -> None:
        super().__init__(password=SMTP_PASSWORD)
        self.state_dir = state_dir
        self.snapshots: dict[str, bytes] = {}

    def _record(self, smtp: Any, envelope_from: str, recipients: tuple[str, ...], raw: bytes) -> int:
        for path in self.state_dir.rglob("*"):
            if path.is_file():
                self.snapshots[f"{path.name} at message {len(self.messages) + 1}"] = path.read_bytes()
        return super()._record(smtp, envelope_from, recipients, raw)


@pytest.fixture
def secret_smtp(tmp_path: Path) -> Iterator[SnapshotServer]:
    server = SnapshotServer(tmp_path / "state")
    with server:
        yield server


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("PRESTASHOP_", "SMTP_", "MAIL_", "SHOP_", "STATE_", "DATABASE_", "ADMIN_")):
            monkeypatch.delenv(name)
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    monkeypatch.chdir(tmp_path)


class Owner:
    """Runs `bridge --env-file ENV …` in this process at the shop's time, keeping every output."""

    def __init__(self, env: Path, clock: ManualClock, capsys: pytest.CaptureFixture[str]) -> None:
        self.env = env
        self.clock = clock
        self.capsys = capsys
        self.outputs: list[str] = []

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(["--env-file", str(self.env), *argv], clock=self.clock)
        out, err = self.capsys.readouterr()
        self.outputs += [out, err]
        return code, out, err


def write_env(path: Path, shop: Simulator, smtp: GmailLikeServer, tmp_path: Path, **extra: str) -> Path:
    bundle = tmp_path / "smtp-ca.pem"
    smtp.ca.cert_pem.write_to_path(str(bundle))
    values = {
        "PRESTASHOP_URL": shop.url,
        "PRESTASHOP_API_KEY": API_KEY,
        "PRESTASHOP_RETRIES": "0",
        "SMTP_HOST": smtp.host,
        "SMTP_PORT": str(smtp.port),
        "SMTP_USERNAME": DEFAULT_USERNAME,
        "SMTP_PASSWORD": SMTP_PASSWORD,
        "SMTP_CA_FILE": str(bundle),
        "MAIL_FROM": f"Sklep <{DEFAULT_USERNAME}>",
        "ADMIN_EMAIL": ADMIN,
        "ALERT_AFTER": "1m",
        "STATE_DIR": str(tmp_path / "state"),
        "LOG_LEVEL": "DEBUG",
        **extra,
    }
    path.write_text("".join(f"{name}='{value}'\n" for name, value in values.items()))
    path.chmod(0o600)
    return path


def place_order(shop: Shop, number: int, payment: str = "przelewy24") -> int:
    customer = shop.register_customer(
        "Zofia", f"Nowak{number}", f"klient{number}@example.com", address=WARSAW
    ).customer_id
    cart = shop.create_cart(customer, [(MUG, 2, MUG_HONEY), (BOWL, 1)], carrier_id=2)
    order_id = shop.place_order(cart, payment)
    shop.advance(30)
    return order_id


def exception_texts(error: BaseException) -> list[str]:
    return [str(error), repr(error), "".join(traceback.format_exception(error))]


def test_a_whole_run_leaves_neither_secret_in_logs_output_errors_state_or_emails(
    shop: Shop,
    secret_shop: Simulator,
    secret_smtp: SnapshotServer,
    clock: ManualClock,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    logs: tuple[Lines, Lines],
) -> None:
    written, raw = logs
    env = write_env(tmp_path / "bridge.env", secret_shop, secret_smtp, tmp_path)
    assert load_settings(env, environ={}).smtp_password == Secret(SMTP_PASSWORD)  # the .env says what we mean
    bridge = Owner(env, clock, capsys)
    exceptions: list[str] = []

    # The first run, then two orders; the first delivery meets a refused app password.
    assert bridge("sync")[0] == 0
    shop.advance(timedelta(minutes=1))
    paid = place_order(shop, 1)
    wire = place_order(shop, 2, "ps_wirepayment")
    secret_smtp.script.next_reply("AUTH", BAD_CREDENTIALS)
    code, out, _ = bridge("sync")
    assert code == 0 and "paused" in out
    assert secret_smtp.messages == []
    code, out, _ = bridge("status")
    assert code == 0 and "535" in out

    # An hour later the login works: everything goes, the owner's alert about the pause first.
    clock.advance(timedelta(minutes=61))
    assert bridge("sync")[0] == 0
    assert {str(m.message["To"]).rsplit("<")[-1].rstrip(">") for m in secret_smtp.messages} >= {
        "klient1@example.com",
        "klient2@example.com",
        ADMIN,
    }

    # Shipped, with a tracking number.
    shop.advance(timedelta(hours=3))
    shop.set_tracking(paid, "PX 7700/112233")
    shop.change_state(paid, 4)
    shop.advance(30)
    assert bridge("sync")[0] == 0

    # The shop refuses the key (401), and two minutes later fails (500): the owner is alerted.
    shop.advance(60)
    secret_shop.faults.next("auth_flap")
    code, _, err = bridge("sync")
    assert code == 77 and "PRESTASHOP_API_KEY" in err
    clock.advance(timedelta(minutes=2))
    secret_shop.faults.next("500")
    alerts_before = len([m for m in secret_smtp.messages if ADMIN in str(m.message["To"])])
    code, _, err = bridge("sync")
    assert code == 69 and "\nbridge: the shop failed" in err
    assert len([m for m in secret_smtp.messages if ADMIN in str(m.message["To"])]) == alerts_before + 1
    clock.advance(timedelta(minutes=1))
    assert bridge("sync")[0] == 0

    # What the owner looks at.
    for argv in (
        ("status",),
        ("status", "--json"),
        ("explain", "order", str(paid)),
        ("explain", "order", shop.order_ref(wire)),
        ("outbox", "list"),
        ("outbox", "list", "--status", "sent"),
        ("check",),
        ("test-email", "--to", ADMIN),
    ):
        code, out, err = bridge(*argv)
        assert code == 0, (argv, out, err)
    with open_store(str(tmp_path / "state" / "bridge.sqlite3")) as store:
        rows = list_rows(store, limit=1000)
    assert {row.status for row in rows} <= {Status.SENT, Status.SKIPPED}
    assert {"order_confirmation", "awaiting_bank_wire", "shipped", "owner_alert"} <= {
        row.kind for row in rows
    }
    for row in rows:
        assert bridge("outbox", "show", str(row.id))[0] == 0

    # The file transport: one more order written as an .eml instead of sent.
    eml_dir = tmp_path / "eml"
    bridge.env = write_env(
        tmp_path / "file.env",
        secret_shop,
        secret_smtp,
        tmp_path,
        MAIL_TRANSPORT="file",
        MAIL_FILE_DIR=str(eml_dir),
    )
    shop.advance(60)
    place_order(shop, 3)
    assert bridge("sync")[0] == 0
    written_files = sorted(eml_dir.glob("*"))
    assert [p for p in written_files if p.suffix == ".eml"]

    # Errors raised by the parts that hold the secrets, and the parts themselves.
    settings = load_settings(env, environ={})
    faults: tuple[FaultKind, ...] = ("auth_flap", "500", "reset")
    for fault in faults:
        with ShopClient(secret_shop.url, Secret(API_KEY), retries=0) as client:
            secret_shop.faults.next(fault)
            with pytest.raises(BridgeError) as raised:
                client.orders(after_id=0, fields=("id",))
            exceptions += exception_texts(raised.value)
            exceptions.append(repr(client))
    secret_smtp.script.next_reply("AUTH", BAD_CREDENTIALS)
    with SmtpSender(
        secret_smtp.host,
        secret_smtp.port,
        "starttls",
        DEFAULT_USERNAME,
        Secret(SMTP_PASSWORD),
        helo_name="bridge.test",
        timeout=5,
        ssl_context=secret_smtp.client_context(),
    ) as sender:
        with pytest.raises(BridgeError) as refused:
            sender.login_check()
        exceptions += exception_texts(refused.value)
        exceptions += [repr(sender), str(sender)]
    exceptions += [repr(settings), str(settings), repr(settings.secrets()), f"{settings.smtp_password}"]
    assert any("535" in text for text in exceptions)

    # Now search everything.
    assert len(written.lines) > 50 and any(line.startswith("DEBUG") for line in written.lines)
    assert len(raw.lines) > 50 and any(line.startswith("DEBUG urllib3") for line in raw.lines)
    assert secret_smtp.logins >= 3  # the password really was used, and refused once
    assert len(secret_smtp.messages) >= 6
    assert any(name.startswith("bridge.sqlite3-wal ") for name in secret_smtp.snapshots)
    found = {
        "log line (written)": [line for line in written.lines if leaks(line)],
        "log record (as the code logged it)": [line for line in raw.lines if leaks(line)],
        "command output": [text for text in bridge.outputs if leaks(text)],
        "exception or repr": [text for text in exceptions if leaks(text)],
        "SMTP message": [m.raw[:200] for m in secret_smtp.messages if leaks(m.raw)],
        "file transport": [str(p) for p in written_files if leaks(p.read_bytes())],
    }
    state_files = [p for p in (tmp_path / "state").rglob("*") if p.is_file()]
    assert tmp_path / "state" / "bridge.sqlite3" in state_files
    found["state directory"] = [f"{p}: {leaks(p.read_bytes())}" for p in state_files if leaks(p.read_bytes())]
    found["state directory mid-delivery"] = [
        f"{name}: {leaks(data)}" for name, data in secret_smtp.snapshots.items() if leaks(data)
    ]
    assert any(b"klient1@example.com" in p.read_bytes() for p in state_files)  # the bytes hold the run
    assert found == {name: [] for name in found}

    # The state store is private to the bridge's user.
    database = tmp_path / "state" / "bridge.sqlite3"
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    for sidecar in (database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")):
        if sidecar.exists():
            assert stat.S_IMODE(sidecar.stat().st_mode) & 0o077 == 0
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) & 0o077 == 0
