"""A hostile or broken shop cannot stop the bridge (issue 15): JSON nested absurdly deep, numbers that take
minutes to convert, answers dripped a byte at a time, answers of hundreds of megabytes and lists that
ignore paging each end the read with one ShopError, within PRESTASHOP_DEADLINE and in bounded memory.
`bridge sync` exits with a one-line message; `bridge run`'s poll keeps running and the owner is alerted
after ALERT_AFTER.

Real parts throughout: the simulator behind `tests/hostile_server.py` (a proxy that turns hostile for one
resource), the real `bridge` process, the Gmail-like SMTP server, SQLite and a ManualClock for the service.
The only real-time waits are the deadline itself (2 s for a process, 1 s in this one); assertions on
time are generous bounds that a hang would break, never measurements of speed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from bridge import alerts
from bridge.app import Bridge, shop_client
from bridge.clock import ManualClock
from bridge.config import Settings, parse_address
from bridge.delivery.smtp import SmtpSender
from bridge.errors import ConfigError, ShopError, ShopResponseError, ShopUnreachable
from bridge.mail.render import get_renderer
from bridge.secret import Secret
from bridge.service import Service
from bridge.shop import jsonsafe
from bridge.shop.client import ShopClient
from bridge.simulator import Simulator
from bridge.simulator.actions import Shop
from bridge.state.outbox import Status, list_rows
from bridge.state.store import open_store
from tests.conftest import SHOP_KEY, World, bridge_settings
from tests.hostile_server import HUGE, Behaviour, HostileShop
from tests.smtp_server import DEFAULT_PASSWORD, DEFAULT_USERNAME, GmailLikeServer

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "tests" / "data" / "real-responses"
WAIT = 60.0  # a bridge process still running after this is hung: killed, and the test fails
MIB = 1 << 20
OWNER = "wlascicielka@example.com"

# --- the JSON guard, on plain data --------------------------------------------------------------------


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_json_nested_up_to_the_limit_is_read_and_one_level_deeper_is_refused() -> None:
    assert jsonsafe.MAX_DEPTH == 64
    document = jsonsafe.loads(nested(64))
    for _ in range(63):
        document = document[0]
    assert document == []
    assert jsonsafe.loads('{"a":' * 63 + "1" + "}" * 63) is not None
    for text in (nested(65), '{"a":' * 64 + "[]" + "}" * 64):
        with pytest.raises(jsonsafe.UnsafeJson, match="nested deeper than 64 levels"):
            jsonsafe.loads(text)


@pytest.mark.parametrize("depth", [500, 5_000, 1_000_000])
def test_json_nested_past_the_interpreters_recursion_limit_is_refused_not_a_recursion_error(
    depth: int,
) -> None:
    with pytest.raises(jsonsafe.UnsafeJson, match="nested deeper than 64 levels"):
        jsonsafe.loads(nested(depth).encode())


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('{"id": 1E4000000}', "exponent beyond ±40 (1E4000000)"),
        ("[1e-41]", "exponent beyond ±40"),
        ("[2.5E+00000000000000000000000000041]", "exponent beyond ±40"),
        ("[" + "9" * 41 + "]", "more than 40 digits"),
        ("[-" + "9" * 5000 + "]", "more than 40 digits"),
        ("[0." + "0" * 40 + "1]", "more than 40 digits"),
        ("[NaN]", "NaN, which is not a JSON number"),
        ('{"total": -Infinity}', "-Infinity, which is not a JSON number"),
    ],
)
def test_absurd_numbers_are_refused_before_anything_converts_them(text: str, why: str) -> None:
    with pytest.raises(jsonsafe.UnsafeJson) as caught:
        jsonsafe.loads(text)
    assert why in str(caught.value) and "\n" not in str(caught.value)
    assert isinstance(caught.value, ValueError)  # the `except ValueError` around any JSON parse catches it


def test_numbers_a_shop_may_send_are_kept_as_written() -> None:
    assert jsonsafe.loads('[12, -7, "12.300000", 12.3, 1.0E-7, 1E40, 0.30000000000000004]') == [
        12,
        -7,
        "12.300000",
        Decimal("12.3"),
        Decimal("1.0E-7"),
        Decimal("1E40"),
        Decimal("0.30000000000000004"),
    ]
    assert jsonsafe.loads("9" * 40) == int("9" * 40)


def recorded_json_bodies() -> list[tuple[str, str]]:
    found = []
    for path in sorted(REAL.rglob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        response = record.get("response") if isinstance(record, dict) else None
        if response and response.get("body_is_json"):
            found.append((str(path.relative_to(REAL)), response["body"]))
    return found


def typed(value: Any) -> Any:
    """The value with every type spelled out, so 1 and Decimal('1') and True differ."""
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [typed(item) for item in value]
    return (type(value).__name__, value)


def test_every_answer_recorded_from_a_real_shop_parses_exactly_as_before() -> None:
    bodies = recorded_json_bodies()
    assert len(bodies) > 250
    for name, body in bodies:
        expected = json.loads(body, parse_float=Decimal)
        assert typed(jsonsafe.loads(body.encode())) == typed(expected), name


# --- the settings ---------------------------------------------------------------------------------------

SHOP = {
    "PRESTASHOP_URL": "https://sklep.example.pl",
    "PRESTASHOP_API_KEY": "APIKEY-0123456789-abcdefghijklmn",
    "SMTP_USERNAME": "zofia@gmail.com",
    "SMTP_PASSWORD": "qwer tyui opas dfgh",
}


def test_the_deadline_is_three_timeouts_unless_set_and_answers_stop_at_32_mib() -> None:
    default = Settings.from_mapping(SHOP)
    assert default.prestashop_deadline == timedelta(seconds=60) and default.prestashop_max_body == 32 * MIB
    slower = Settings.from_mapping({**SHOP, "PRESTASHOP_TIMEOUT": "45s"})
    assert slower.prestashop_deadline == timedelta(seconds=135)
    chosen = Settings.from_mapping({**SHOP, "PRESTASHOP_DEADLINE": "2m", "PRESTASHOP_MAX_BODY": "512M"})
    assert chosen.prestashop_deadline == timedelta(minutes=2) and chosen.prestashop_max_body == 512 * MIB
    for written, size in (
        ("1048576", MIB),
        ("1M", MIB),
        ("1 MiB", MIB),
        ("2048k", 2 * MIB),
        ("1G", 1024 * MIB),
    ):
        assert Settings.from_mapping({**SHOP, "PRESTASHOP_MAX_BODY": written}).prestashop_max_body == size


def test_a_body_limit_or_deadline_out_of_range_is_refused_naming_the_setting() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping({**SHOP, "PRESTASHOP_MAX_BODY": "512K", "PRESTASHOP_DEADLINE": "2h"})
    assert caught.value.problems == [
        "PRESTASHOP_DEADLINE: must be a duration between 1s and 1h (seconds, or a number with s, m, h or d: "
        "90s, 15m, 24h, 1d), got '2h'",
        "PRESTASHOP_MAX_BODY: must be a size between 1M and 1G (bytes, or a number with K, M or G: 512K, "
        "32M, 1G), got '512K'",
    ]


# --- the shop client, in this process ---------------------------------------------------------------------


class Sleeps(list[float]):
    """The injected sleeper: records the backoff instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def hostile(shop_server: Simulator) -> Iterator[HostileShop]:
    with HostileShop(shop_server.url) as proxy:
        yield proxy


def impatient(url: str, **options: Any) -> ShopClient:
    """A client with the default three retries, a 1 s deadline and a 1 MiB body limit."""
    return ShopClient(
        url,
        Secret(SHOP_KEY),
        timezone="Europe/Warsaw",
        sleep=options.pop("sleep", Sleeps()),
        deadline=1.0,
        max_body=MIB,
        **options,
    )


def assert_one_clean_line(error: BaseException) -> None:
    """One line, and no requests exception (which holds the Authorization header) chained to it."""
    assert "\n" not in str(error) and SHOP_KEY not in str(error)
    link: BaseException | None = error
    while link is not None:
        assert not isinstance(link, requests.RequestException | RecursionError)
        link = link.__cause__ or link.__context__


EVERY_CASE: list[tuple[Behaviour, type[ShopError], str]] = [
    ("deep", ShopResponseError, "no PrestaShop sends (nested deeper than 64 levels)"),
    ("exponent", ShopResponseError, "no PrestaShop sends (a number with an exponent beyond ±40 (1E4000000))"),
    ("digits", ShopResponseError, "no PrestaShop sends (a number with more than 40 digits"),
    ("drip_headers", ShopUnreachable, "(the headers of its answer had not all come)"),
    ("drip_body", ShopUnreachable, "(the body of its answer had not all come)"),
    ("huge_body", ShopResponseError, "is larger than PRESTASHOP_MAX_BODY (1 MiB), so it was not read"),
    ("huge_declared", ShopResponseError, "is larger than PRESTASHOP_MAX_BODY (1 MiB), so it was not read"),
    # requests reads a redirect's body whole before it follows; the bridge reads it first, within the limit.
    ("huge_redirect", ShopResponseError, "(HTTP 302) is larger than PRESTASHOP_MAX_BODY (1 MiB)"),
    ("repeat_page", ShopResponseError, "the page at offset 100 repeats rows already read"),
]


@pytest.mark.parametrize(("behaviour", "kind", "said"), EVERY_CASE)
def test_each_hostile_answer_is_one_shop_error_and_the_same_answer_is_not_asked_for_again(
    hostile: HostileShop, behaviour: Behaviour, kind: type[ShopError], said: str
) -> None:
    hostile.trap("order_states", behaviour)
    sleeps = Sleeps()
    started = time.monotonic()
    with impatient(hostile.url, sleep=sleeps) as client, pytest.raises(ShopError) as caught:
        client.order_states()
    assert time.monotonic() - started < WAIT  # the drips go on for two minutes unless cut
    assert type(caught.value) is kind and said in str(caught.value)
    assert caught.value.resource == "order_states"
    assert_one_clean_line(caught.value)
    served = 2 if behaviour == "repeat_page" else 1  # a page, then the same page again
    assert hostile.served == [("order_states", behaviour)] * served and sleeps == []


def test_an_overrun_names_the_deadline_and_what_to_change(hostile: HostileShop) -> None:
    hostile.trap("order_states", "drip_body")
    with impatient(hostile.url) as client, pytest.raises(ShopUnreachable) as caught:
        client.order_states()
    assert str(caught.value).startswith(f"{hostile.url.removeprefix('http://')} took longer than ")
    assert "PRESTASHOP_DEADLINE (1 s) to answer `order_states`" in str(caught.value)
    assert "raise PRESTASHOP_DEADLINE only if the shop is just slow" in str(caught.value)


def test_the_bridge_hangs_up_on_a_huge_answer_instead_of_reading_it(hostile: HostileShop) -> None:
    huge: tuple[Behaviour, ...] = ("huge_body", "huge_declared", "huge_redirect")
    for behaviour in huge:
        hostile.trap("order_states", behaviour)
        with impatient(hostile.url) as client, pytest.raises(ShopResponseError):
            client.order_states()
    # What went out before the bridge hung up is the limit plus the sockets' buffers, not 200 MB.
    for _, sent in wait_for(lambda: hostile.hangups if len(hostile.hangups) == len(huge) else None):
        assert sent < 32 * MIB < HUGE


def wait_for(found: Any) -> Any:
    """`found()` once it is truthy (the hostile server notices a hang-up on its next write)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        threading.Event().wait(0.05)
    pytest.fail("the hostile server never saw the bridge hang up")


def test_key_paging_that_does_not_move_on_is_stopped(hostile: HostileShop) -> None:
    hostile.trap("order_histories", "repeat_page")
    with impatient(hostile.url) as client, pytest.raises(ShopResponseError) as caught:
        client.order_histories(after_id=0)
    assert str(caught.value) == (
        "the shop's `order_histories` list does not move on from page to page (the page after id 500 ends "
        "at id 500): the shop, or a cache in front of it, ignores the webservice's paging, so the read was "
        "stopped"
    )
    hostile.trap("carts", "repeat_page")
    with impatient(hostile.url) as client, pytest.raises(ShopResponseError) as caught:
        client.carts_changed(datetime(2026, 1, 1, tzinfo=UTC))
    assert "the shop's `carts` list does not move on from page to page (the page from " in str(caught.value)
    assert "#100, not past the one before)" in str(caught.value)


def test_the_retries_of_one_read_stop_once_the_read_is_a_deadline_old(shop_server: Simulator) -> None:
    # Each try waits out its 0.4 s read timeout on an answer the shop holds back; ten retries are allowed.
    shop_server.faults.timeout_hold = 30.0
    shop_server.faults.next("timeout", count=20, resource="order_states")
    sleeps = Sleeps()
    with (
        impatient(shop_server.url, retries=10, timeout=0.4, sleep=sleeps) as client,
        pytest.raises(ShopUnreachable, match=r"timed out after 0\.4 s"),
    ):
        client.order_states()
    tries = sum(1 for kind, _ in shop_server.faults.injected if kind == "timeout")
    # Each try lasts at least its 0.4 s read timeout, and tries start only in the read's first second.
    assert tries <= 3 and len(sleeps) == tries - 1


def test_an_honest_shop_reads_as_before_through_the_watched_connections(hostile: HostileShop) -> None:
    with impatient(hostile.url) as client:
        states = client.order_states()
        histories = client.order_histories(after_id=0)
        again = client.copy()
        assert again.order_states() == states
        again.close()
    assert states and histories and hostile.served == []


# --- `bridge sync` as a process ---------------------------------------------------------------------------


@dataclass
class Finished:
    code: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss: int  # bytes: the process's own high-water mark


# `python -m bridge ARGS` that writes its own memory high-water mark (VmHWM) to a file as it exits. Not the
# child's ru_maxrss: Linux folds the parent's memory at the moment of exec into it, so a child of a large
# pytest process would be charged for pytest.
MEASURED_BRIDGE = """
import atexit, re, runpy, sys
from pathlib import Path
report = Path(sys.argv.pop(1))
def record() -> None:
    status = Path("/proc/self/status").read_text()
    report.write_text(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1))
atexit.register(record)
sys.argv[0] = "bridge"
runpy.run_module("bridge", run_name="__main__", alter_sys=True)
"""


def run_sync(env_file: Path) -> Finished:
    """`bridge sync` in a process of its own; killed (and the test failed) if it runs past WAIT."""
    out, err = env_file.with_suffix(".out"), env_file.with_suffix(".err")
    peak = env_file.with_suffix(".peak")
    started = time.monotonic()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", MEASURED_BRIDGE, str(peak), "--env-file", str(env_file), "sync"],
            cwd=env_file.parent,
            env={**clean_environment(), "PYTHONPATH": str(ROOT)},
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
        )
        killer = threading.Timer(WAIT, process.kill)
        killer.start()
        try:
            process.wait()
        finally:
            killer.cancel()
    seconds = time.monotonic() - started
    assert process.returncode != -9, f"bridge sync was still running after {WAIT:g} s"
    return Finished(
        process.returncode, out.read_text(), err.read_text(), seconds, int(peak.read_text()) * 1024
    )


def clean_environment() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PRESTASHOP_", "SMTP_", "MAIL_", "SHOP_", "STATE_", "DATABASE_", "ALERT_"))
    }


def env_for(tmp_path: Path, shop_url: str) -> Path:
    env_file = tmp_path / "bridge.env"
    env_file.write_text(
        f"PRESTASHOP_URL={shop_url}\nPRESTASHOP_API_KEY={SHOP_KEY}\nPRESTASHOP_DEADLINE=2s\n"
        f"PRESTASHOP_MAX_BODY=1M\nSTATE_DIR={tmp_path / 'state'}\nMAIL_TRANSPORT=file\n"
        "MAIL_FROM=Sklep <sklep@example.com>\n"
    )
    env_file.chmod(0o600)
    return env_file


@pytest.mark.parametrize(
    ("behaviour", "code", "said"),
    [
        ("deep", 76, "no PrestaShop sends (nested deeper than 64 levels)"),
        ("exponent", 76, "no PrestaShop sends (a number with an exponent beyond ±40 (1E4000000))"),
        ("drip_headers", 69, "took longer than PRESTASHOP_DEADLINE (2 s) to answer `order_states`"),
        ("drip_body", 69, "took longer than PRESTASHOP_DEADLINE (2 s) to answer `order_states`"),
        ("huge_body", 76, "is larger than PRESTASHOP_MAX_BODY (1 MiB), so it was not read"),
        ("repeat_page", 76, "list does not move on from page to page"),
    ],
)
def test_bridge_sync_against_a_hostile_shop_ends_with_one_line_and_no_traceback(
    hostile: HostileShop, tmp_path: Path, behaviour: Behaviour, code: int, said: str
) -> None:
    # The first run reads the order states (for the shop's profile): that is where the shop turns hostile.
    hostile.trap("order_states", behaviour)
    finished = run_sync(env_for(tmp_path, hostile.url))

    assert finished.code == code, finished.stderr
    assert "Traceback" not in finished.stderr and finished.stdout == ""
    last = finished.stderr.strip().splitlines()[-1]
    assert last.startswith("bridge: ") and said in last
    assert finished.seconds < WAIT  # a drip left alone would go on for two minutes
    if behaviour.startswith("drip"):
        # Cut by the deadline, not by the three retries a failed read is allowed.
        assert hostile.served == [("order_states", behaviour)]
    if behaviour == "huge_body":
        # 200 MB were on offer; the process stayed the size of a bridge that read nothing big.
        assert finished.peak_rss < 150 * MIB < HUGE
        [(_, sent)] = wait_for(lambda: hostile.hangups)
        assert sent < 32 * MIB


# --- `bridge run`'s poll, in this process -------------------------------------------------------------------


@pytest.fixture
def hostile_world(
    shop: Shop, hostile: HostileShop, smtp_server: GmailLikeServer, clock: ManualClock, tmp_path: Path
) -> Iterator[World]:
    """The conftest world with ADMIN_EMAIL, reading the shop through the hostile proxy (a 1 s deadline)."""
    settings = bridge_settings(
        hostile.url, smtp_server, tmp_path / "state", PRESTASHOP_DEADLINE="1s", PRESTASHOP_MAX_BODY="1M"
    )
    settings = dataclasses.replace(settings, admin_email=parse_address(f"Właścicielka <{OWNER}>"))
    with (
        open_store(settings.database_url) as store,
        shop_client(settings) as client,
        SmtpSender(
            smtp_server.host,
            smtp_server.port,
            "starttls",
            DEFAULT_USERNAME,
            Secret(DEFAULT_PASSWORD),
            helo_name="bridge.test",
            timeout=5,
            ssl_context=smtp_server.client_context(),
        ) as sender,
    ):
        yield World(shop, clock, settings, store, client, sender, smtp_server, get_renderer())


ROTATION: tuple[Behaviour, ...] = (
    "deep",
    "exponent",
    "huge_body",
    "drip_headers",
    "repeat_page",
    "digits",
    "huge_redirect",
    "drip_body",
)


def test_bridge_run_keeps_polling_a_hostile_shop_and_alerts_the_owner_after_alert_after(
    hostile_world: World, hostile: HostileShop, caplog: pytest.LogCaptureFixture
) -> None:
    world = hostile_world
    b = world
    service = Service(Bridge(b.settings, b.clock, b.client, b.store, b.sender, b.renderer))
    service.poll()  # the baseline, through the proxy while it is honest
    caplog.set_level(logging.ERROR, logger="bridge.service")

    # Every poll reads the state changes after its cursor: that read meets a different attack each minute.
    for minute in range(16):
        hostile.trap("order_histories", ROTATION[minute % len(ROTATION)])
        world.clock.advance(timedelta(minutes=1))
        service.poll()
        assert service.failure is None and not service.stop_requested.is_set()

    failures = [r.getMessage() for r in caplog.records if r.getMessage().startswith("poll failed: ")]
    assert len(failures) == 16 and all("\n" not in line and "Traceback" not in line for line in failures)
    assert {behaviour for _, behaviour in hostile.served} == set(ROTATION)
    [alert] = [row for row in list_rows(world.store, limit=1000) if row.kind == alerts.KIND]
    assert alert.status is Status.QUEUED and alert.recipient_email == OWNER
    service.deliver()
    [mail] = world.mail()
    assert mail["To"].addresses[0].addr_spec == OWNER

    hostile.trap("order_histories", None)  # the shop is itself again: the incident closes
    world.clock.advance(timedelta(minutes=1))
    service.poll()
    assert alerts.open_incidents(world.store, world.settings) == ()
