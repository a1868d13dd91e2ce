"""The owner's watch and the conversation pass share one poll's reads of customer_messages
(bridge.cycle.messages): one request per idle poll with both on, the threads of a new message read once,
each pass given what is past its own cursor, and a failed read lost by neither pass.

Counted from the simulator's own request log; real parts throughout (the demo shop over HTTP, the Gmail-like
SMTP server, a SQLite store, a ManualClock).
"""

from __future__ import annotations

import dataclasses
from collections import Counter

from bridge.config import parse_address
from bridge.cycle.messages import PollMessages
from bridge.model.cursors import IdCursor
from bridge.model.kinds import MESSAGE_RECEIVED
from bridge.plan.orders import OVERLAP_IDS
from bridge.simulator import Simulator
from bridge.state import owner as owner_state
from bridge.state import service as service_state
from bridge.state.outbox import list_rows
from tests.conftest import World

OWNER = "wlascicielka@example.com"
CUSTOMER = "pytanie@example.com"


def with_owner(world: World) -> World:
    """OWNER_EMAIL set, with the default alerts (new_order, customer_message)."""
    settings = dataclasses.replace(world.settings, owner_email=(parse_address(OWNER),))
    assert "customer_message" in settings.owner_alerts
    return dataclasses.replace(world, settings=settings)


def reads(server: Simulator, start: int) -> Counter[str | None]:
    """The webservice requests since `start`, by resource."""
    return Counter(r.resource for r in server.requests[start:])


def told(world: World) -> tuple[int, int]:
    """(alerts to the owner, acknowledgements to the customer) sent so far."""
    owner = [m for m in world.mail() if OWNER in str(m["To"])]
    return len(owner), len(world.mail_to(CUSTOMER))


def test_an_idle_poll_reads_the_messages_once_and_a_new_one_reaches_both(
    world: World, shop_server: Simulator
) -> None:
    world = with_owner(world)
    world.sync()  # the baselines of both passes
    world.sync()

    start = len(shop_server.requests)
    world.sync()
    idle = reads(shop_server, start)
    assert idle["customer_messages"] == 1 and idle["customer_threads"] == 0

    world.shop.customer_message("Czy wysyłacie do Niemiec?", email=CUSTOMER)
    world.shop.advance(5)
    start = len(shop_server.requests)
    world.sync()

    assert told(world) == (1, 1)  # the owner told, the customer acknowledged
    busy = reads(shop_server, start)
    # The messages past the cursors and the thread's messages; the thread and (for the link back) its token.
    assert busy["customer_messages"] == 2 and busy["customer_threads"] == 2
    assert busy["configurations"] == 1  # the shop profile, read once for both passes

    start = len(shop_server.requests)
    world.sync()
    assert reads(shop_server, start)["customer_messages"] == 1
    assert told(world) == (1, 1)  # neither told twice


def test_a_failed_message_read_loses_neither_pass_its_message(world: World, shop_server: Simulator) -> None:
    world = with_owner(world)
    world.sync()
    world.shop.customer_message("Halo?", email=CUSTOMER)
    world.shop.advance(5)
    shop_server.faults.next("500", resource="customer_messages")
    start = len(shop_server.requests)

    world.sync()

    assert told(world) == (0, 0)
    assert reads(shop_server, start)["customer_messages"] == 1  # the failure is not asked again this poll
    world.sync()
    assert told(world) == (1, 1)


def test_a_failure_in_one_pass_leaves_the_other_its_message(world: World, shop_server: Simulator) -> None:
    world = with_owner(world)
    world.sync()
    world.shop.customer_message("Halo?", email=CUSTOMER)
    world.shop.advance(5)
    # The thread is read for both passes; the token, the conversation pass's own read, fails.
    shop_server.faults.next("500", resource="customer_threads", after=1)

    world.sync()

    assert told(world) == (1, 0)  # the owner's watch went on
    world.sync()
    assert told(world) == (1, 1)  # the acknowledgement a poll later, the owner not told twice
    assert [r.status.value for r in list_rows(world.store, limit=100) if r.kind == MESSAGE_RECEIVED] == [
        "sent"
    ]


def test_each_pass_gets_what_is_past_its_own_cursor(world: World, shop_server: Simulator) -> None:
    """Cursors far apart (a pass that failed for a while): one read from the lower, and the other pass is
    not handed the old messages between the two (they are behind its overlap, not in its `done`)."""
    ids = [world.shop.customer_message(f"Pytanie {n}", email=f"k{n}@example.com")[1] for n in range(60)]
    behind, ahead = ids[OVERLAP_IDS + 5], ids[-3]  # the shop's older messages are behind both overlaps
    cursors = {
        "service": IdCursor(behind, frozenset(i for i in ids if behind - OVERLAP_IDS < i <= behind)),
        "owner": IdCursor(ahead, frozenset(i for i in ids if ahead - OVERLAP_IDS < i <= ahead)),
    }
    with world.store.transaction() as conn:
        service_state.save_cursor(conn, service_state.MESSAGES, cursors["service"], now=world.clock.now())
        owner_state.save_message_cursor(conn, cursors["owner"], now=world.clock.now())
    shared = PollMessages(world.client, world.store, world.settings)
    start = len(shop_server.requests)

    owner_new = shared.since(cursors["owner"])
    service_new = shared.since(cursors["service"])

    assert [m.id for m in owner_new] == ids[-2:]
    assert [m.id for m in service_new] == ids[OVERLAP_IDS + 6 :]
    facts = shared.threads(owner_new)
    assert set(facts.threads) == {m.id_customer_thread for m in owner_new}
    assert set(shared.threads(service_new).threads) == {m.id_customer_thread for m in service_new}
    counted = reads(shop_server, start)
    assert counted["customer_messages"] == 2  # the messages past the lower cursor, then their threads'
    assert counted["customer_threads"] == 1  # every thread a pass has yet to process, in one go
