"""A large catch-up is read, planned and applied in chunks (bridge.cycle.orders): the same emails as in one
piece, one commit per chunk, one owner's digest for the whole catch-up, and a bridge killed between or
inside chunks loses nothing and doubles nothing.

The chunk is made small (`bridge.cycle.orders.CHUNK`) so that a dozen orders make several chunks. The
killed bridge is a real `bridge sync` process (tests/test_crash.py's rig), started through a two-line
launcher that sets the chunk before `bridge.cli.main` runs; each kill waits until the process is blocked at
a named point (the simulator holds its answer to a request), never after a wall-clock delay.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from bridge.clock import ManualClock
from bridge.commands.catchup import CatchUpStopped
from bridge.config import parse_address
from bridge.cycle import orders as order_pass
from bridge.cycle.orders import poll_orders
from bridge.model.kinds import OWNER_NEW_ORDER, OWNER_NEW_ORDERS
from bridge.plan.orders import cut_histories, cut_payments, orders_with_history, payments_up_to_known
from bridge.plan.rules import Decision
from bridge.shop.client import ShopClient
from bridge.simulator import Simulator
from bridge.simulator.actions import Shop
from bridge.simulator.demo_shop import BOWL, MUG, MUG_HONEY
from bridge.state.outbox import Status, claim, claim_next, due_ids, insert_many, list_rows
from bridge.state.store import open_store
from tests.builders import history, order, payment
from tests.conftest import World, text_of
from tests.test_crash import WARSAW, Rig, Run, holding_smtp, place_orders, rig, started  # noqa: F401
from tests.test_outbox import intent

OWNER = "wlascicielka@example.com"
PAYMENTS = ("ps_wirepayment", "przelewy24", "ps_checkpayment")
CATEGORIES = ("transactional", "marketing")


def orders_of(shop: Shop, count: int, *, first: int = 1) -> dict[int, str]:
    """`count` customers each place one order, paid in turn by wire, at checkout and by cheque."""
    placed = {}
    for number in range(first, first + count):
        customer = shop.register_customer(
            "Jan", f"Nowak{number}", f"klient{number}@example.com", address=WARSAW
        )
        cart = shop.create_cart(customer.customer_id, [(MUG, 2, MUG_HONEY), (BOWL, 1)], carrier_id=2)
        placed[shop.place_order(cart, PAYMENTS[number % len(PAYMENTS)])] = f"klient{number}@example.com"
        shop.advance(7)
    return placed


def outcome(store_url: str) -> set[tuple[str, str, str, str]]:
    """Each row's key, status, recipient and context: the payments the feed brought are those the shop gives
    by reference."""
    with open_store(store_url) as store:
        return {
            (
                r.idempotency_key,
                r.status.value,
                r.recipient_email,
                json.dumps(dict(r.context), sort_keys=True),
            )
            for r in list_rows(store, limit=1000)
        }


# --- the same emails, a chunk at a time ----------------------------------------------------------------


def test_a_catch_up_in_chunks_queues_what_one_piece_would(
    world: World, shop_server: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = dataclasses.replace(world.settings, database_url=f"sqlite:///{tmp_path / 'whole.sqlite3'}")
    now = world.clock.now
    with open_store(whole.database_url) as other:
        for store, settings in ((world.store, world.settings), (other, whole)):
            poll_orders(world.client, store, settings, now=now())  # the baselines, at the same moment
        world.shop.advance(60)
        placed = sorted(orders_of(world.shop, 11))
        for order_id in (placed[2], placed[8]):  # bank wires arrive for two of them later on
            world.shop.change_state(order_id, world.shop.state_id("PS_OS_PAYMENT"))
            world.shop.advance(7)
        world.shop.advance(60)

        with monkeypatch.context() as patched:  # in one piece, every payment read again by reference
            patched.setattr(order_pass, "_payments_read", lambda rows, position: {})
            in_one = poll_orders(world.client, other, whole, now=now())
        monkeypatch.setattr(order_pass, "CHUNK", 3)
        in_chunks = poll_orders(world.client, world.store, world.settings, now=now())

    assert (in_chunks.queued, in_chunks.skipped, in_chunks.changes) == (
        in_one.queued,
        in_one.skipped,
        in_one.changes,
    )
    assert outcome(world.settings.database_url) == outcome(whole.database_url)
    assert in_chunks.queued >= 11
    # Nothing left behind: the next poll finds nothing new.
    world.shop.advance(60)
    assert poll_orders(world.client, world.store, world.settings, now=now()).changes == 0


def test_each_chunk_is_read_with_few_requests_and_the_profile_once(
    world: World, shop_server: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    poll_orders(world.client, world.store, world.settings, now=world.clock.now())
    world.shop.advance(60)
    orders_of(world.shop, 9)
    monkeypatch.setattr(order_pass, "CHUNK", 3)
    start = len(shop_server.requests)

    poll_orders(world.client, world.store, world.settings, now=world.clock.now())

    paths = [r.path for r in shop_server.requests[start:]]
    assert sum("/order_states" in p for p in paths) == 1  # the shop's profile: read once, not per chunk
    assert sum("/order_histories" in p for p in paths) == 3  # three chunks of three


# --- the owner's one digest ----------------------------------------------------------------------------


def test_a_catch_up_in_chunks_gives_the_owner_one_digest_of_every_order(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    owners = (parse_address(f"Właścicielka <{OWNER}>"),)
    world = dataclasses.replace(world, settings=dataclasses.replace(world.settings, owner_email=owners))
    world.sync()
    placed = orders_of(world.shop, 8)
    monkeypatch.setattr(order_pass, "CHUNK", 3)

    world.sync()

    [digest] = [m for m in world.mail() if OWNER in str(m["To"])]
    assert str(digest["Subject"]).startswith("8 ")
    text = text_of(digest)
    assert all(world.shop.order_ref(order_id) in text for order_id in placed)
    rows = [r for r in list_rows(world.store, limit=1000) if r.kind.startswith("owner_")]
    assert [r.kind for r in rows if r.status is Status.SENT] == [OWNER_NEW_ORDERS]
    skipped = {r.order_id for r in rows if r.status is Status.SKIPPED and r.kind == OWNER_NEW_ORDER}
    assert skipped == set(placed)


# --- the cuts, on plain data ---------------------------------------------------------------------------


def test_a_chunk_keeps_the_state_changes_and_payments_before_the_first_order_it_leaves_for_later() -> None:
    histories = [history(i, o) for i, o in ((1, 7), (2, 10), (3, 8), (4, 11), (5, 10))]
    assert [h.id for h in cut_histories(histories, upper=10)] == [1, 2, 3]
    assert [h.id for h in cut_histories(histories, upper=None)] == [1, 2, 3, 4, 5]
    payments = [dataclasses.replace(payment(i), order_reference=r) for i, r in ((1, "A"), (2, "B"), (3, "A"))]
    assert [p.id for p in cut_payments(payments, {"B"})] == [1]
    # Payments after the last one of an order the chunk knows wait for the next chunk, not a lookup now.
    assert [p.id for p in payments_up_to_known(payments, {"B"})] == [1, 2]
    assert payments_up_to_known(payments, set()) == []
    news = [order(i) for i in (9, 10, 11, 12)]
    # State changes cut at their cap reached order 10's first one: orders 11 and 12 wait for the next chunk.
    assert [o.id for o in orders_with_history(news, histories[:3], position=8)] == [9, 10]


# --- killed between and inside chunks --------------------------------------------------------------------

LAUNCHER = """import sys
import bridge.cycle.orders
bridge.cycle.orders.CHUNK = int(sys.argv[1])
from bridge.cli import main
sys.exit(main(sys.argv[2:]))
"""


class ChunkedRig(Rig):
    """tests/test_crash.py's rig, its `bridge sync` processes cutting catch-ups into chunks of 4 orders."""

    def start(self) -> Run:
        launcher = self.tmp_path / "chunked_bridge.py"
        launcher.write_text(LAUNCHER)
        number = len(self.runs) + 1
        stdout, stderr = self.tmp_path / f"run{number}.out", self.tmp_path / f"run{number}.err"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, str(launcher), "4", "--env-file", str(self.env_file), "sync"],
                cwd=Path(__file__).resolve().parents[1],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
        run = Run(process, stdout, stderr)
        self.runs.append(run)
        return run


@pytest.fixture
def chunked(rig: Rig) -> ChunkedRig:  # noqa: F811 (the fixture imported above)
    chunked = ChunkedRig(rig.tmp_path, rig.shop, rig.shop_server, rig.smtp)
    chunked.runs = rig.runs  # closed with the rig
    return chunked


def kill_in_second_chunk(chunked: ChunkedRig, resource: str) -> None:
    """Hold the first chunk at its customers, then let it commit and kill the bridge at the next request
    for `resource`: `orders` is the first request of the second chunk (between chunks), `customers` the
    middle of the second chunk (read, not applied)."""
    faults = chunked.shop_server.faults
    faults.timeout_hold = 120
    faults.next("timeout", resource="customers")
    run = chunked.start()
    chunked.wait_until(run, lambda: len(faults.injected) == 1, "blocked reading the first chunk's customers")
    faults.next("timeout", resource=resource)
    faults.let_go()
    chunked.kill_when(run, lambda: len(faults.injected) == 2, f"blocked at the second chunk's {resource}")


@pytest.mark.parametrize("resource", ["orders", "customers"])
def test_a_bridge_killed_between_or_inside_chunks_loses_nothing_and_doubles_nothing(
    chunked: ChunkedRig, resource: str
) -> None:
    shop = started(chunked).shop
    placed = place_orders(shop, 10)
    kill_in_second_chunk(chunked, resource)

    # The first chunk is applied (its four confirmations queued, the cursor after them), nothing else.
    first = sorted(placed)[:4]
    rows = chunked.rows()
    assert sorted(row.order_id for row in rows) == first
    assert {row.status for row in rows} == {Status.QUEUED}
    assert chunked.order_cursor() == first[-1]
    assert chunked.smtp.messages == []

    chunked.sync()
    shop.advance(timedelta(minutes=1))
    chunked.sync()

    emails = chunked.rows()
    assert Counter(row.order_id for row in emails) == Counter(placed.keys())  # each once, none lost
    assert {row.status for row in emails} == {Status.SENT}
    assert sorted(m.recipients[0] for m in chunked.smtp.messages) == sorted(placed.values())
    assert sorted(str(m.message["Message-ID"]) for m in chunked.smtp.messages) == sorted(
        row.message_id for row in emails
    )


def test_a_catch_up_killed_between_chunks_still_gives_the_owner_one_digest_of_every_order(
    chunked: ChunkedRig,
) -> None:
    chunked.write_env(OWNER_EMAIL=f"Właścicielka <{OWNER}>")
    shop = started(chunked).shop
    placed = place_orders(shop, 10)
    kill_in_second_chunk(chunked, "orders")

    chunked.sync()

    to_owner = [m for m in chunked.smtp.messages if OWNER in m.recipients]
    assert len(to_owner) == 1
    text = text_of(to_owner[0].message)
    assert str(to_owner[0].message["Subject"]).startswith("10 ")
    assert all(shop.order_ref(order_id) in text for order_id in placed)
    assert len([m for m in chunked.smtp.messages if OWNER not in m.recipients]) == 10


def test_the_client_reads_carriers_of_an_order_id_range(world: World, shop_server: Simulator) -> None:
    world.sync()
    placed = sorted(orders_of(world.shop, 3))
    client: ShopClient = world.client
    carriers = client.order_carriers_between(
        placed[0], placed[-1], fields=("id", "id_order", "tracking_number")
    )
    assert sorted(c.id_order for c in carriers) == placed
    assert client.order_ids_after(placed[0] - 1, limit=2) == placed[:2]


def test_a_catch_up_in_chunks_is_confirmed_once_for_all_of_them_and_a_no_queues_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    poll_orders(world.client, world.store, world.settings, now=world.clock.now())
    world.shop.advance(60)
    since = world.clock.now()
    orders_of(world.shop, 8)
    world.shop.advance(60)
    monkeypatch.setattr(order_pass, "CHUNK", 3)
    shown: list[list[Decision]] = []
    now = world.clock.now()

    def refuse(decisions: list[Decision]) -> None:
        shown.append(decisions)
        raise CatchUpStopped("no", 1)

    with pytest.raises(CatchUpStopped):
        poll_orders(
            world.client, world.store, world.settings, now=world.clock.now(), since=since, confirm=refuse
        )
    assert len(shown) == 1 and len([d for d in shown[0] if d.kind == "order_confirmation"]) == 8
    assert list_rows(world.store, limit=1000) == []

    result = poll_orders(
        world.client, world.store, world.settings, now=now, since=since, confirm=shown.append
    )
    assert len(shown) == 2 and result.queued == len([d for d in shown[1] if d.sends])
    assert len([r for r in list_rows(world.store, limit=1000) if r.kind == "order_confirmation"]) == 8


# --- the outbox at catch-up scale ----------------------------------------------------------------------


def test_a_chunk_of_emails_is_inserted_at_once_and_delivery_claims_a_page_of_them_in_order(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    now = clock.now()
    with open_store(str(tmp_path / "bridge.db")) as store:
        rows = [
            (
                intent(f"k:{n}", order_id=n, category="marketing" if n % 2 else "transactional"),
                Status.QUEUED,
                None,
            )
            for n in range(1, 251)
        ]
        with store.transaction() as conn:
            assert len(insert_many(conn, rows[:100], now=now, message_id_domain="example.com")) == 100
            # Keys already in the outbox are left as they are: planning twice queues once.
            assert len(insert_many(conn, rows, now=now, message_id_domain="example.com")) == 150

        page = due_ids(store, now=now, limit=100)
        assert len(page) == 100 and page == sorted(page)  # transactional first (even ids), oldest first
        assert all(n % 2 == 0 for n in page[:100])
        taken = claim_next(store, now=now, owner="another", lease=timedelta(minutes=5))
        assert taken is not None and taken.id == page[0]
        # The row another worker took meanwhile is skipped, the rest are claimed in the page's order.
        claimed = [claim(store, row_id, now=now, owner="me", lease=timedelta(minutes=5)) for row_id in page]
        assert claimed[0] is None and [row.id for row in claimed[1:] if row] == page[1:]
