"""What polling costs the shop: the bridge against a naive poller, on the same simulated shop, same run.

(a) one idle poll cycle (nothing happened in the shop): requests and response bytes;
(b) catching up 1 000 new orders from 300 customers: requests, bytes and wall time;
(c) order placed → its confirmation accepted by SMTP, in service mode (`Cycle.once` cycles against an SMTP
    server on 127.0.0.1, one connection kept open as `bridge run` keeps it).

    python3 dev.py bench poll_cost [--small]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from _common import (
    NaivePoller,
    Traffic,
    add_customers,
    bridge_settings,
    demo_shop,
    kib,
    machine_line,
    mib,
    ms,
    percentile,
    place_orders,
    print_table,
    running_shop,
    shop_client,
    smtp_sink,
    timed,
    traffic_since,
)

from bridge.config import Settings
from bridge.cycle import Cycle, owner, service
from bridge.cycle.messages import PollMessages
from bridge.cycle.orders import poll_orders as poll
from bridge.mail.render import get_renderer
from bridge.shop.client import ShopClient
from bridge.simulator import Simulator
from bridge.simulator.actions import Shop
from bridge.simulator.demo_shop import BOWL, MUG, MUG_HONEY
from bridge.simulator.stock import set_stock
from bridge.state.store import Store, open_store

LOW_ROWS = 200  # (d): products at or below the low-stock threshold in the last row


def idle_row(name: str, traffic: Traffic) -> tuple[str, int, str, str]:
    """An idle cycle's cost, and what it adds up to in a day of `bridge run` at the default interval."""
    cycles = 24 * 60
    per_day = f"{traffic.requests * cycles:,} requests, {mib(traffic.bytes * cycles)}"
    return (name, traffic.requests, kib(traffic.bytes), per_day)


def measure_polls(orders: int, customers: int, delay: float = 0.0) -> None:
    shop = demo_shop()
    with (
        running_shop(shop, delay=delay) as simulator,
        tempfile.TemporaryDirectory(prefix="bridge-bench-") as tmp,
    ):
        settings = bridge_settings(simulator.url, Path(tmp))
        naive = NaivePoller(simulator.url)
        cached = NaivePoller(simulator.url, cache=True)
        with open_store(settings.database_url) as store, shop_client(simulator.url) as client:
            clock = shop.clock

            def bridge_poll() -> tuple[Traffic, float, int]:
                start, started = len(simulator.requests), time.perf_counter()
                result = poll(client, store, settings, now=clock.now())
                return traffic_since(simulator, start), time.perf_counter() - started, result.queued

            def naive_poll(poller: NaivePoller) -> tuple[Traffic, float, int]:
                start, started = len(simulator.requests), time.perf_counter()
                found = poller.poll()
                return traffic_since(simulator, start), time.perf_counter() - started, found

            # Baselines: the bridge records where the shop stands; the naive pollers remember every id.
            poll(client, store, settings, now=clock.now())
            naive.baseline()
            cached.baseline()
            clock.advance(60)
            bridge_poll()  # the first cycle also reads PS_TIMEZONE once; a running service has it cached
            clock.advance(60)
            idle_before = [bridge_poll(), naive_poll(naive), naive_poll(cached)]
            shop_orders_before = shop.state.count("orders")

            clock.advance(60)
            people, seeded = timed(add_customers, shop, customers)
            placed, seeded2 = timed(place_orders, shop, people, orders)
            clock.advance(60)
            catch_up = [bridge_poll(), naive_poll(naive), naive_poll(cached)]
            print(
                f"\nseeded {len(people)} customers and {len(placed)} orders through the Shop API in "
                f"{seeded + seeded2:.1f} s; the bridge queued {catch_up[0][2]} emails for them "
                "(a confirmation each, plus bank-wire / cheque instructions)"
            )

            clock.advance(60)
            idle_after = [bridge_poll(), naive_poll(naive), naive_poll(cached)]
            clock.advance(timedelta(days=15))
            idle_later = bridge_poll()
        naive.close()
        cached.close()

    names = ("bridge", "naive poller", "naive poller + per-poll cache")
    idle_headers = ("poller", "requests", "response bytes", "per day at POLL_INTERVAL=60s")
    print_table(
        f"(a) one idle poll cycle (nothing changed), shop with {shop_orders_before} orders",
        idle_headers,
        [idle_row(name, t) for name, (t, _, _) in zip(names, idle_before, strict=True)],
    )
    print_table(
        f"(b) catching up {orders} new orders from {customers} new customers (one poll)",
        ("poller", "requests", "response bytes", "wall time", "requests per order"),
        [
            (name, t.requests, kib(t.bytes), f"{seconds:.2f} s", f"{t.requests / orders:.2f}")
            for name, (t, seconds, _) in zip(names, catch_up, strict=True)
        ],
    )
    watched = idle_after[0][0]
    print_table(
        f"(a') one idle poll cycle right after the catch-up, shop with {shop.state.count('orders')} orders",
        idle_headers,
        [
            *[idle_row(name, t) for name, (t, _, _) in zip(names, idle_after, strict=True)],
            idle_row("bridge, 15 days later (tracking watch expired)", idle_later[0]),
        ],
    )
    print(
        "\nbytes are response bodies as the simulator sends them (uncompressed JSON). Each bridge cycle"
        " re-reads the 20 rows behind each cursor (its overlap window: order ids only, order_histories"
        " and order_payments in full), and the tracking numbers of every order seen in the last 14 days"
        f" that was shipped without one ({max(0, watched.requests - 3)} request(s) of up to 100 orders"
        " here: the catch-up's orders are not shipped yet). The naive poller lists every order id in the"
        " shop each cycle (about 10 bytes per order) and notices nothing but new orders: no state"
        " changes, payments or tracking numbers."
    )


def measure_owner_idle(delay: float = 0.0) -> None:
    """(d) what the owner's alerts (OWNER_EMAIL) add to an idle poll: the order pass, the owner's watch and
    the conversation pass."""
    shop = demo_shop()
    rows = []
    with (
        running_shop(shop, delay=delay) as simulator,
        tempfile.TemporaryDirectory(prefix="bridge-bench-") as tmp,
        shop_client(simulator.url) as client,
    ):
        for alerts in ("", "new_order", "new_order,customer_message", "new_order,customer_message,low_stock"):
            extra = {"OWNER_EMAIL": "owner@example.com", "OWNER_ALERTS": alerts} if alerts else {}
            settings = bridge_settings(simulator.url, Path(tmp) / (alerts or "off"), **extra)
            with open_store(settings.database_url) as store:
                for _ in range(2):  # the baselines, then a warm cycle (PS_TIMEZONE read once)
                    owner_idle_poll(simulator, client, store, settings, shop)
                name = f"OWNER_ALERTS={alerts}" if alerts else "no OWNER_EMAIL"
                rows.append(idle_row(name, owner_idle_poll(simulator, client, store, settings, shop)))
        for number in range(LOW_ROWS):  # a shop with many products sold out: every idle poll lists them
            product = shop.add_product({"pl": f"Produkt {number}", "en": f"Product {number}"}, 10)
            set_stock(shop.state, product, 0)
        with open_store(settings.database_url) as store:
            owner_idle_poll(simulator, client, store, settings, shop)  # they fall: told once
            idle = owner_idle_poll(simulator, client, store, settings, shop)
            rows.append(idle_row(f"… the same, {LOW_ROWS} more products sold out", idle))
    print_table(
        "(d) one idle poll cycle with the owner's alerts (order pass + the owner's watch + conversations)",
        ("settings", "requests", "response bytes", "per day at POLL_INTERVAL=60s"),
        rows,
    )
    print(
        "\nnew_order rides on the order pass and reads nothing when no order is new; customer_message adds"
        " nothing: the owner's watch shares the conversation pass's one read of the messages past the lower"
        " of their cursors (and the 20 behind it); low_stock adds one request (the"
        " ids and quantities of the stock rows at or below the threshold: it grows with the rows that are"
        " low, not with the catalogue; the shop's PS_LAST_QTIES is read once a day)."
    )


def owner_idle_poll(
    simulator: Simulator, client: ShopClient, store: Store, settings: Settings, shop: Shop
) -> Traffic:
    """One poll a minute after the last: the order pass, then the owner's watch and the conversation pass
    (always on), sharing one read of customer_messages as `Cycle.poll` does."""
    shop.clock.advance(60)
    start = len(simulator.requests)
    result = poll(client, store, settings, now=shop.clock.now())
    shared = PollMessages(client, store, settings)
    for after in (owner.after_poll, service.after_poll):
        after(client, store, settings, now=shop.clock.now(), profile=result.profile, messages=shared)
    return traffic_since(simulator, start)


def measure_latency(cycles: int, delay: float = 0.0) -> None:
    shop = demo_shop()
    with (
        running_shop(shop, record_bodies=False, delay=delay) as simulator,
        tempfile.TemporaryDirectory(prefix="bridge-bench-") as tmp,
        smtp_sink("starttls") as sink,
    ):
        settings = bridge_settings(simulator.url, Path(tmp))
        people = add_customers(shop, 20)
        with (
            open_store(settings.database_url) as store,
            shop_client(simulator.url) as client,
            sink.sender() as sender,
        ):
            renderer = get_renderer(settings.templates_dir)
            clock = shop.clock

            def cycle() -> tuple[float, int]:
                started = time.perf_counter()
                summary = Cycle(client, store, sender, renderer, settings, clock).once()
                return time.perf_counter() - started, summary.delivery.sent

            cycle()  # the baseline
            clock.advance(60)
            cycle()  # warm: timezone read, SMTP connection and login, templates compiled
            idle: list[float] = []
            busy: list[float] = []
            for index in range(cycles):
                clock.advance(60)
                idle.append(cycle()[0])
                clock.advance(60)
                cart = shop.create_cart(
                    people[index % len(people)], [(MUG, 2, MUG_HONEY), (BOWL, 1)], carrier_id=2
                )
                shop.place_order(cart, "przelewy24")  # paid at checkout: one email, the confirmation
                seconds, sent = cycle()
                if sent != 1:
                    raise RuntimeError(f"expected one confirmation in the cycle, the bridge sent {sent}")
                busy.append(seconds)
        accepted = sink.count()
    interval = settings.poll_interval.total_seconds()
    print_table(
        f"(c) order placed → confirmation accepted by SMTP, service mode ({cycles} orders, one at a time)",
        ("cycle", "median", "p90", "max"),
        [
            (
                "cycle that finds the new order (poll + render + SMTP 250)",
                ms(statistics.median(busy)),
                ms(percentile(busy, 0.9)),
                ms(max(busy)),
            ),
            (
                "idle cycle (nothing new), for comparison",
                ms(statistics.median(idle)),
                ms(percentile(idle, 0.9)),
                ms(max(idle)),
            ),
        ],
    )
    print(
        f"\nSMTP: {sink.description}; {accepted} messages accepted. `bridge run` starts a cycle every"
        f" POLL_INTERVAL ({interval:.0f} s by default), so an order waits for the next cycle first: the"
        f" customer gets the confirmation {ms(statistics.median(busy))} + up to {interval:.0f} s after"
        f" checkout (about {interval / 2:.0f} s + {ms(statistics.median(busy))} on average)."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", action="store_true", help="a CI-sized run that finishes in seconds")
    parser.add_argument(
        "--delay",
        type=float,
        action="append",
        metavar="MS",
        help="milliseconds the shop takes per request (repeatable; default: 0 and 50 in a full run, 0 small)",
    )
    args = parser.parse_args()
    orders, customers, cycles = (100, 30, 5) if args.small else (1000, 300, 30)
    delays = args.delay if args.delay is not None else ([0.0] if args.small else [0.0, 50.0])
    print(f"# poll_cost ({'small' if args.small else 'full'} run) — {machine_line()}")
    for delay in delays:
        what = (
            "no delay: the simulator answers as fast as it can"
            if not delay
            else (f"{delay:g} ms added to every answer, as a real shop's PHP and MySQL take")
        )
        print(f"\n## shop answering with {what}")
        measure_polls(orders, customers, delay / 1000)
        measure_owner_idle(delay / 1000)
        measure_latency(cycles, delay / 1000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
