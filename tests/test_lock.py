"""One bridge at a time: the lock `bridge run` and `bridge sync` share per state folder, the lock per shop
that keeps two state folders off one shop, and why the emails stay single even without them (the outbox's
row claims)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from bridge.cycle.orders import poll_orders as poll
from bridge.delivery.deliver import deliver_due
from bridge.delivery.smtp import SmtpSender
from bridge.errors import LockError
from bridge.lock import (
    LOCK_NAME,
    PID_NAME,
    RUNTIME_NAME,
    BridgeLock,
    ShopLock,
    bridge_lock,
    holder,
    runtime_dir,
)
from bridge.secret import Secret
from bridge.simulator.actions import PostalAddress, Shop
from bridge.simulator.demo_shop import BOWL, MUG, MUG_HONEY
from bridge.state.outbox import Status, list_rows
from tests.conftest import World
from tests.smtp_server import DEFAULT_PASSWORD, DEFAULT_USERNAME

WARSAW = PostalAddress("ul. Marszałkowska 10/4", "00-590", "Warszawa", phone="+48 600 700 800")


def test_a_second_bridge_is_refused_with_the_pid_of_the_first(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with bridge_lock(state):
        with pytest.raises(LockError) as refused:
            BridgeLock(state).acquire()
        assert str(refused.value).startswith(f"another bridge is running (pid {os.getpid()};")
        assert "--wait" in str(refused.value)
        assert refused.value.exit_code == 75
    # Released: the next one proceeds, and the pid file went with the lock.
    with bridge_lock(state) as lock:
        assert lock.held
    assert not (state / PID_NAME).exists()


def test_the_lock_lives_next_to_the_state_store_and_is_private(tmp_path: Path) -> None:
    state = tmp_path / "new" / "state"
    with bridge_lock(state):
        assert (state / LOCK_NAME).exists()
        assert (state / PID_NAME).read_text().strip() == str(os.getpid())
        assert (state / PID_NAME).stat().st_mode & 0o777 == 0o600
        assert state.stat().st_mode & 0o777 == 0o700


def test_wait_blocks_until_the_other_bridge_is_done(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = BridgeLock(state)
    first.acquire()
    told: list[str] = []
    blocked, acquired = threading.Event(), threading.Event()

    def tell(message: str) -> None:
        told.append(message)
        blocked.set()

    def second() -> None:
        with bridge_lock(state, wait=True, on_wait=tell):
            acquired.set()

    waiter = threading.Thread(target=second)
    waiter.start()
    try:
        assert blocked.wait(10)  # it found the lock taken and said whom it waits for...
        assert not acquired.is_set()  # ...and cannot have it while the first holds it
    finally:
        first.release()
    waiter.join(10)
    assert acquired.is_set()
    assert told == [f"waiting for the other bridge (pid {os.getpid()}) to finish"]


def test_a_lock_held_by_another_process_names_that_process_and_dies_with_it(tmp_path: Path) -> None:
    state = tmp_path / "state"
    holding = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from bridge.lock import BridgeLock;"
            f"lock = BridgeLock(Path({str(state)!r})); lock.acquire();"
            "print('held', flush=True); sys.stdin.read()",
        ],
        cwd=Path(__file__).resolve().parents[1],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holding.stdout is not None and holding.stdout.readline() == "held\n"
        assert holder(state) == holding.pid
        with pytest.raises(LockError, match=rf"another bridge is running \(pid {holding.pid};"):
            BridgeLock(state).acquire()
    finally:
        holding.kill()  # no release, no cleanup: the kernel drops the lock with the process
        holding.wait(10)
        assert holding.stdin is not None and holding.stdout is not None
        holding.stdin.close()
        holding.stdout.close()
    assert holder(state) is None  # the pid file is left behind, but its process is gone
    with bridge_lock(state):
        assert holder(state) == os.getpid()


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """This test's own runtime folder ($XDG_RUNTIME_DIR), where the shop locks go."""
    folder = tmp_path / "run-user"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    return folder / RUNTIME_NAME


def test_a_second_state_folder_on_the_same_shop_is_refused_naming_the_first(
    runtime: Path, tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    with bridge_lock(first, shop_url="https://sklep.example/api/"):
        # Another URL form of the same shop: the same lock.
        with pytest.raises(LockError) as refused, bridge_lock(second, shop_url="http://www.sklep.example"):
            pass
        assert str(refused.value) == (
            f"another bridge (pid {os.getpid()}) is working on the shop sklep.example with the state folder"
            f" {first.resolve()}: two state folders on one shop would send every email twice; stop that"
            " bridge, or use its state folder (STATE_DIR)"
        )
        assert refused.value.exit_code == 75
        with bridge_lock(second):
            pass  # the refused bridge gave its folder's lock back
        with bridge_lock(second, shop_url="https://inny-sklep.example"):
            pass  # another shop: no conflict
        [holder_file] = runtime.glob("shop-*.holder")
        assert holder_file.read_text() == f"{os.getpid()}\n{first.resolve()}\n"
        assert holder_file.stat().st_mode & 0o777 == 0o600
        assert runtime.stat().st_mode & 0o777 == 0o700
    with bridge_lock(second, shop_url="https://sklep.example"):
        pass  # the first is gone
    assert list(runtime.glob("shop-*.holder")) == []


def test_wait_also_waits_for_the_bridge_on_the_same_shop(runtime: Path, tmp_path: Path) -> None:
    first = ShopLock("https://sklep.example", tmp_path / "first")
    first.acquire()
    told: list[str] = []
    blocked, acquired = threading.Event(), threading.Event()

    def tell(message: str) -> None:
        told.append(message)
        blocked.set()

    def second() -> None:
        with bridge_lock(tmp_path / "second", shop_url="https://sklep.example", wait=True, on_wait=tell):
            acquired.set()

    waiter = threading.Thread(target=second)
    waiter.start()
    try:
        assert blocked.wait(10)
        assert not acquired.is_set()
    finally:
        first.release()
    waiter.join(10)
    assert acquired.is_set()
    assert told == [
        f"waiting for the other bridge on sklep.example (pid {os.getpid()}, state folder"
        f" {(tmp_path / 'first').resolve()}) to finish"
    ]


def test_a_shop_lock_held_by_another_process_names_its_state_folder_and_dies_with_it(
    runtime: Path, tmp_path: Path
) -> None:
    state = tmp_path / "other-state"
    holding = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from bridge.lock import ShopLock;"
            f"lock = ShopLock('https://sklep.example', Path({str(state)!r})); lock.acquire();"
            "print('held', flush=True); sys.stdin.read()",
        ],
        cwd=Path(__file__).resolve().parents[1],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holding.stdout is not None and holding.stdout.readline() == "held\n"
        with pytest.raises(LockError, match=rf"\(pid {holding.pid}\) .* state folder {state.resolve()}:"):
            ShopLock("https://sklep.example/", tmp_path / "mine").acquire()
    finally:
        holding.kill()
        holding.wait(10)
        assert holding.stdin is not None and holding.stdout is not None
        holding.stdin.close()
        holding.stdout.close()
    with bridge_lock(tmp_path / "mine", shop_url="https://sklep.example"):
        pass


def test_without_a_runtime_folder_the_shop_locks_go_to_a_private_folder_of_the_user(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    expected = tmp_path / f"{RUNTIME_NAME}-{os.getuid()}"
    assert runtime_dir() == expected
    assert expected.stat().st_mode & 0o777 == 0o700
    expected.chmod(0o755)  # made too open by hand: closed again
    assert runtime_dir() == expected and expected.stat().st_mode & 0o777 == 0o700
    expected.rmdir()
    (tmp_path / "elsewhere").mkdir()
    expected.symlink_to(tmp_path / "elsewhere")  # planted by someone: not this user's folder
    with pytest.raises(LockError, match="is not this user's folder"):
        runtime_dir()


def place_orders(shop: Shop, count: int) -> None:
    for number in range(count):
        customer = shop.register_customer(
            "Jan", f"Nowak{number}", f"klient{number}@example.com", address=WARSAW
        )
        cart = shop.create_cart(customer.customer_id, [(MUG, 2, MUG_HONEY), (BOWL, 1)], carrier_id=2)
        shop.place_order(cart, "przelewy24")
        shop.advance(7)


def test_even_without_the_lock_two_bridges_delivering_at_once_send_each_email_once(world: World) -> None:
    assert world.sync().poll.baseline
    world.shop.advance(timedelta(minutes=1))
    place_orders(world.shop, 8)
    world.shop.advance(30)
    queued = poll(world.client, world.store, world.settings, now=world.clock.now()).queued
    assert queued == 8

    def bridge(owner: str) -> None:
        with SmtpSender(
            world.smtp.host,
            world.smtp.port,
            "starttls",
            DEFAULT_USERNAME,
            Secret(DEFAULT_PASSWORD),
            helo_name="bridge.test",
            timeout=5,
            ssl_context=world.smtp.client_context(),
        ) as sender:
            deliver_due(world.store, sender, world.renderer, world.clock, owner=owner)

    both = [threading.Thread(target=bridge, args=(f"other-host-{n}:{n}",)) for n in (1, 2)]
    for thread in both:
        thread.start()
    for thread in both:
        thread.join(60)

    rows = [row for row in list_rows(world.store, limit=100) if row.status is not Status.SKIPPED]
    received = [str(mail["Message-ID"]) for mail in world.mail()]
    assert len(rows) == queued and all(row.status is Status.SENT for row in rows)
    assert sorted(received) == sorted(row.message_id for row in rows)  # each once, none twice
