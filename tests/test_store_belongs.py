"""A state store belongs to one shop (issue 14): a store baselined against the demo shop, or any other shop,
is refused when pointed at a different shop (exit 78, nothing sent, the store untouched); the same shop
under another URL is followed; a store from before fingerprints gets one on its next poll.

Real parts: the webservice simulator over HTTP (two shops, or one shop behind two servers), the Gmail-like
SMTP server, SQLite files, the command line as an owner runs it.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest

from bridge.app import Bridge
from bridge.cli import main
from bridge.clock import ManualClock
from bridge.cycle import Cycle
from bridge.cycle.belongs import ForeignStoreError
from bridge.lock import bridge_lock
from bridge.model.cursors import ShopFingerprint, shop_address
from bridge.secret import Secret
from bridge.service import Service
from bridge.shop.client import ShopClient
from bridge.simulator import Simulator
from bridge.simulator.actions import PostalAddress, Shop
from bridge.simulator.demo_shop import BOWL, MUG, MUG_HONEY, build_demo_shop
from bridge.state import cursors
from bridge.state.outbox import Status, list_rows
from bridge.state.store import Store
from tests.conftest import SHOP_KEY, World, bridge_settings
from tests.smtp_server import DEFAULT_PASSWORD, DEFAULT_USERNAME, GmailLikeServer

WARSAW = PostalAddress("ul. Marszałkowska 10/4", "00-590", "Warszawa", phone="+48 600 700 800")
OTHER_NAME = "Sklep Drugi"
OTHER_DOMAIN = "drugi-sklep.example"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing from the machine's environment, and the shop locks in this test's own runtime folder."""
    for name in list(os.environ):
        if name.startswith(("PRESTASHOP_", "SMTP_", "MAIL_", "SHOP_", "STATE_", "DATABASE_")):
            monkeypatch.delenv(name)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def other_shop(clock: ManualClock) -> Shop:
    """Another shop: its own orders (three placed after its history), its own name and domain."""
    shop = build_demo_shop(clock, seed=7)
    shop.state.set_config("PS_SHOP_NAME", OTHER_NAME)
    shop.state.set_config("PS_SHOP_DOMAIN", OTHER_DOMAIN)
    shop.state.set_config("PS_SHOP_DOMAIN_SSL", OTHER_DOMAIN)
    for number in range(3):
        place_order(shop, number)
    return shop


@pytest.fixture
def other_server(other_shop: Shop) -> Iterator[Simulator]:
    with Simulator(other_shop.state, flavour="8.1", api_key=SHOP_KEY) as server:
        yield server


def place_order(shop: Shop, number: int) -> int:
    customer = shop.register_customer("Jan", f"Nowak{number}", f"jan{number}@example.com", address=WARSAW)
    cart = shop.create_cart(customer.customer_id, [(MUG, 2, MUG_HONEY), (BOWL, 1)], carrier_id=2)
    order_id = shop.place_order(cart, "przelewy24")
    shop.advance(30)
    return order_id


def write_env(path: Path, shop_url: str, smtp: GmailLikeServer, state: Path) -> Path:
    """The owner's .env: this shop, the Gmail-like server (its CA trusted), this state folder."""
    bundle = path.parent / "ca.pem"
    smtp.ca.cert_pem.write_to_path(str(bundle))
    path.write_text(
        f"PRESTASHOP_URL={shop_url}\nPRESTASHOP_API_KEY={SHOP_KEY}\nPRESTASHOP_RETRIES=0\n"
        f"SMTP_HOST={smtp.host}\nSMTP_PORT={smtp.port}\nSMTP_USERNAME={DEFAULT_USERNAME}\n"
        f"SMTP_PASSWORD={DEFAULT_PASSWORD}\nSMTP_CA_FILE={bundle}\nSTATE_DIR={state}\n"
    )
    path.chmod(0o600)
    return path


def dump(database: Path) -> list[str]:
    """Every row of the store, as SQL: equal dumps, an unchanged store."""
    with sqlite3.connect(database) as conn:
        return list(conn.iterdump())


def refusals(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The commands' one-line refusals (stderr also carries log lines)."""
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("bridge: ")]


def fingerprint(store: Store) -> ShopFingerprint | None:
    with store.read() as conn:
        return cursors.load(conn).fingerprint


# --- the rule, on plain data ----------------------------------------------------------------------------


def test_a_shop_address_ignores_the_scheme_the_webservice_suffix_and_www() -> None:
    same = {
        shop_address(url)
        for url in (
            "https://sklep.example/",
            "http://sklep.example",
            "https://www.Sklep.example/api/",
            "http://sklep.example:80/webservice/dispatcher.php",
            "https://sklep.example:443",
        )
    }
    assert same == {"sklep.example"}
    assert shop_address("https://sklep.example/pl/") == "sklep.example/pl"
    assert shop_address("http://127.0.0.1:8080/api") == "127.0.0.1:8080"


def test_the_first_order_decides_whatever_the_url_domain_or_name() -> None:
    url, domain = "https://sklep.example", "sklep.example"
    recorded = ShopFingerprint(url, domain, domain, "Sklep", "ABC", "2025-01-02 10:00:00")
    moved = ShopFingerprint("https://nowy.example", "nowy.example", "", "Nowy", "ABC", "2025-01-02 10:00:00")
    assert recorded.same_shop(moved)
    other = ShopFingerprint(url, domain, domain, "Sklep", "ABC", "2025-01-02 10:00:01")
    assert not recorded.same_shop(other)  # same URL and names, another first order: another shop
    assert not recorded.same_shop(ShopFingerprint(url, domain, domain, "Sklep"))  # it had orders; none here


def test_a_shop_recorded_without_orders_is_known_by_its_address_or_a_domain() -> None:
    recorded = ShopFingerprint("http://sklep.example", "sklep.example", "sklep.example", "Sklep")
    assert recorded.same_shop(ShopFingerprint("https://www.sklep.example/api", first_order_reference="A"))
    assert recorded.same_shop(ShopFingerprint("https://alias.example", "sklep.example", "alias.example"))
    assert not recorded.same_shop(ShopFingerprint("https://inny.example", "inny.example", "inny.example"))


# --- end to end -----------------------------------------------------------------------------------------


def test_a_store_baselined_against_the_demo_shop_is_refused_for_another_shop_and_nothing_is_sent(
    shop_server: Simulator,
    other_server: Simulator,
    smtp_server: GmailLikeServer,
    clock: ManualClock,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = tmp_path / "state"
    demo_env = write_env(tmp_path / "demo.env", shop_server.url, smtp_server, state)
    assert main(["--env-file", str(demo_env), "sync"], clock=clock) == 0  # the demo shop's baseline
    before = dump(state / "bridge.sqlite3")
    capsys.readouterr()

    real_env = write_env(tmp_path / ".env", other_server.url, smtp_server, state)
    assert main(["--env-file", str(real_env), "sync"], clock=clock) == 78
    assert main(["--env-file", str(real_env), "sync", "--since", "2026-11-01", "--yes"], clock=clock) == 78
    err = refusals(capsys)
    assert len(err) == 2 and err[0] == err[1]
    message = err[0]
    assert message.startswith(f"bridge: configuration: the state store {state / 'bridge.sqlite3'} belongs")
    assert "Pracownia Ceramiki Złota Łąka (zlota-laka.example; first order" in message
    assert f"at {shop_server.url}" in message
    assert f"PRESTASHOP_URL points at {OTHER_NAME} ({OTHER_DOMAIN}; first order" in message
    assert "point STATE_DIR at a new, empty place" in message
    assert smtp_server.messages == []  # the other shop's three orders were not taken for news
    assert dump(state / "bridge.sqlite3") == before


def test_a_store_of_another_shop_is_refused_by_bridge_run_before_its_waiting_email_goes(
    world: World, other_server: Simulator
) -> None:
    world.sync()  # the baseline of the world's shop
    place_order(world.shop, 1)
    assert Cycle(world.client, world.store, world.sender, world.renderer, world.settings, world.clock).poll()
    [waiting] = list_rows(world.store, status=Status.QUEUED)  # queued for the first shop, not sent yet
    settings = bridge_settings(other_server.url, world.smtp, world.settings.state_dir)
    with ShopClient(other_server.url, Secret(SHOP_KEY), retries=0) as client:
        service = Service(Bridge(settings, world.clock, client, world.store, world.sender, world.renderer))
        safety = threading.Timer(30, service.stop_requested.set)  # should the refusal never come
        safety.start()
        try:
            with pytest.raises(ForeignStoreError, match="belongs to another shop"):
                service.run()
        finally:
            safety.cancel()
    assert world.mail() == []
    assert [row.id for row in list_rows(world.store, status=Status.QUEUED)] == [waiting.id]
    assert list_rows(world.store, status=Status.SENT) == []


def test_the_same_shop_under_another_url_is_followed(
    world: World, smtp_server: GmailLikeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = world.settings.state_dir
    env = write_env(tmp_path / ".env", world.settings.prestashop_url or "", smtp_server, state)
    assert main(["--env-file", str(env), "sync"], clock=world.clock) == 0
    first = fingerprint(world.store)
    assert first is not None and first.has_first_order
    # The same shop behind another server and URL form: a new domain alias, `/api/` spelled out.
    with Simulator(world.shop.state, flavour="8.1", api_key=SHOP_KEY) as alias:
        order_id = place_order(world.shop, 1)
        env = write_env(tmp_path / ".env", f"{alias.url}/api/", smtp_server, state)
        assert main(["--env-file", str(env), "sync"], clock=world.clock) == 0
    assert "1 queued, 1 skipped; 1 sent" in capsys.readouterr().out.splitlines()[-1]
    [sent] = list_rows(world.store, status=Status.SENT)
    assert (sent.kind, sent.order_id) == ("order_confirmation", order_id)
    moved = fingerprint(world.store)
    assert moved is not None and moved.url == alias.url
    assert (moved.first_order_reference, moved.first_order_added) == (
        first.first_order_reference,
        first.first_order_added,
    )


def test_a_store_from_before_fingerprints_is_not_refused_and_gets_one_on_its_next_poll(
    world: World,
) -> None:
    world.sync()
    database = world.settings.state_dir / "bridge.sqlite3"
    with sqlite3.connect(database) as conn:
        conn.execute("DELETE FROM cursors WHERE name = 'shop.fingerprint'")
    assert fingerprint(world.store) is None
    place_order(world.shop, 1)
    assert world.sync().delivery.sent == 1
    recorded = fingerprint(world.store)
    assert recorded is not None and recorded.url == world.client.base_url
    assert recorded.name == "Pracownia Ceramiki Złota Łąka" and recorded.has_first_order


def test_the_shop_is_checked_once_per_process_with_one_small_request(
    world: World, shop_server: Simulator
) -> None:
    world.sync()
    cycle = Cycle(world.client, world.store, world.sender, world.renderer, world.settings, world.clock)
    polls = []
    for _ in range(3):
        before = len(shop_server.requests)
        cycle.poll()
        polls.append([r.path for r in shop_server.requests[before:]])
    first_orders = [[p for p in paths if "display=[id,reference,date_add]" in unquote(p)] for paths in polls]
    assert [len(found) for found in first_orders] == [1, 0, 0]
    assert len(polls[0]) == len(polls[1]) + 1 and len(polls[1]) == len(polls[2])  # else the idle poll


def test_two_state_folders_on_one_shop_the_second_bridge_is_refused_naming_the_first_folder(
    shop_server: Simulator,
    smtp_server: GmailLikeServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    env = write_env(tmp_path / "second.env", f"{shop_server.url}/api", smtp_server, second)
    holding, release = threading.Event(), threading.Event()

    def first_bridge() -> None:  # holds its locks as a running `bridge run` does
        with bridge_lock(first, shop_url=shop_server.url.replace("http://", "HTTP://")):
            holding.set()
            release.wait(30)

    running = threading.Thread(target=first_bridge)
    running.start()
    try:
        assert holding.wait(10)
        assert main(["--env-file", str(env), "sync"]) == 75
        assert main(["--env-file", str(env), "run"]) == 75
    finally:
        release.set()
        running.join(10)
    err = refusals(capsys)
    assert len(err) == 2
    assert f"with the state folder {first.resolve()}:" in err[0]
    assert "two state folders on one shop would send every email twice" in err[0]
    assert not (second / "bridge.sqlite3").exists()  # refused before its store was opened
    assert main(["--env-file", str(env), "sync"]) == 0  # the first one is gone: this one may run


def test_bridge_check_warns_that_the_store_belongs_to_another_shop_and_that_machines_cannot_be_seen(
    shop_server: Simulator,
    other_server: Simulator,
    smtp_server: GmailLikeServer,
    clock: ManualClock,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = tmp_path / "state"
    assert (
        main(
            ["--env-file", str(write_env(tmp_path / "demo.env", shop_server.url, smtp_server, state)), "sync"]
        )
        == 0
    )
    env = write_env(tmp_path / ".env", other_server.url, smtp_server, state)
    capsys.readouterr()
    assert main(["--env-file", str(env), "check"], clock=clock) == 0
    out = capsys.readouterr().out.splitlines()
    [warning] = [line for line in out if "belongs to another shop" in line]
    assert warning.startswith(f"warning: the state store {state / 'bridge.sqlite3'} belongs to another shop")
    assert any("on another machine cannot be seen through the webservice" in line for line in out)
    assert out[-1].endswith("(see the warnings above)")

    env = write_env(tmp_path / ".env", shop_server.url, smtp_server, state)
    assert main(["--env-file", str(env), "check"], clock=clock) == 0
    assert "belongs to another shop" not in capsys.readouterr().out
