"""Peak memory of the bridge catching up N new orders in one poll, and how it grows with N.

For each N a fresh shop process is seeded with N orders (from 0.3·N customers) straight into its
ShopState and serves them on 127.0.0.1; then a fresh bridge process runs one catch-up poll
(`bridge.cycle.orders.poll_orders(since=…)`, what `bridge sync --since` does) against it and reports its
peak RSS (`resource.getrusage(...).ru_maxrss`). The shop runs in its own process, so its rows are not counted.

    python3 dev.py bench memory [--small]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

from _common import (
    START,
    FastSeeder,
    bridge_settings,
    demo_shop,
    machine_line,
    mib,
    peak_rss_bytes,
    print_table,
    running_shop,
    shop_client,
    sizes_of,
)

from bridge.plan.orders import CATCH_UP_CHUNK

FULL_SIZES = (10_000, 30_000, 100_000)
SMALL_SIZES = (1_000, 3_000)
HERE = Path(__file__).resolve()


def serve(orders: int) -> int:
    """The shop process: seed `orders` orders, serve them, stop when stdin closes."""
    shop = demo_shop()
    started = time.perf_counter()
    seeder = FastSeeder(shop)
    customers = seeder.customers(max(1, orders * 3 // 10))
    since = shop.clock.advance(60)  # the template orders and the customers came before: not news
    seeder.orders(orders, customers)
    seeded = time.perf_counter() - started
    with running_shop(shop, record_bodies=False) as simulator:
        print(
            json.dumps({"url": simulator.url, "since": since.isoformat(), "seed_seconds": seeded}), flush=True
        )
        sys.stdin.read()
    return 0


def catch_up(url: str, since: str) -> int:
    """The bridge process: one catch-up poll; prints its peak RSS before and after."""
    from datetime import datetime

    from bridge.cycle.orders import poll_orders as poll
    from bridge.state.store import open_store

    with tempfile.TemporaryDirectory(prefix="bridge-bench-") as tmp:
        settings = bridge_settings(url, Path(tmp))
        with open_store(settings.database_url) as store, shop_client(url) as client:
            client.shop_timezone()
            ready = peak_rss_bytes()
            started = time.perf_counter()
            result = poll(
                client, store, settings, now=START + timedelta(days=1), since=datetime.fromisoformat(since)
            )
            seconds = time.perf_counter() - started
            peak = peak_rss_bytes()
        database = Path(settings.database_url.removeprefix("sqlite:///")).stat().st_size
    report = {
        "ready": ready,
        "peak": peak,
        "seconds": seconds,
        "changes": result.changes,
        "queued": result.queued,
        "skipped": result.skipped,
        "database": database,
    }
    print(json.dumps(report), flush=True)
    return 0


def measure(orders: int) -> dict[str, Any]:
    """One N: a shop process, a bridge process, their figures."""
    shop = subprocess.Popen(
        [sys.executable, str(HERE), "--serve", str(orders)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert shop.stdout is not None
        served = json.loads(shop.stdout.readline())
        bridge = subprocess.run(
            [sys.executable, str(HERE), "--catch-up", served["url"], served["since"]],
            capture_output=True,
            text=True,
            check=False,
        )
        if bridge.returncode != 0:
            raise RuntimeError(f"the bridge process failed:\n{bridge.stderr}")
        figures: dict[str, Any] = json.loads(bridge.stdout.strip().splitlines()[-1])
        figures["seed_seconds"] = served["seed_seconds"]
        return figures
    finally:
        if shop.stdin is not None:
            shop.stdin.close()
        shop.wait(timeout=60)
        if shop.stdout is not None:
            shop.stdout.close()


def main() -> int:
    if sys.argv[1:2] == ["--serve"]:
        return serve(int(sys.argv[2]))
    if sys.argv[1:2] == ["--catch-up"]:
        return catch_up(sys.argv[2], sys.argv[3])
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", action="store_true", help="N = 1 000 and 3 000 (CI-sized)")
    parser.add_argument(
        "--sizes",
        type=sizes_of("orders"),
        metavar="N,N,...",
        help="the N to measure (default 10 000, 30 000, 100 000)",
    )
    parser.add_argument(
        "--parallel",
        action="store_true",
        help="measure every N at once (peak RSS is per process, unaffected; poll times are not comparable)",
    )
    args = parser.parse_args()
    sizes = args.sizes or (SMALL_SIZES if args.small else FULL_SIZES)
    mode = "sizes " + ", ".join(f"{n:,}" for n in sizes) if args.sizes else "small" if args.small else "full"
    print(f"# memory ({mode} run{', sizes in parallel' if args.parallel else ''}) — {machine_line()}")
    found: dict[int, dict[str, Any]] = {}

    def measured(n: int) -> None:
        found[n] = measure(n)
        print(f"N={n:,}: {json.dumps(found[n])}", flush=True)  # a long run's partial results survive

    if args.parallel:
        with ThreadPoolExecutor(max_workers=len(sizes)) as pool:
            list(pool.map(measured, sizes))
    else:
        for n in sizes:
            measured(n)
    results = {n: found[n] for n in sizes}
    rows = []
    previous: tuple[int, int] | None = None
    for n, figures in results.items():
        growth = "" if previous is None else f"{(figures['peak'] - previous[1]) / (n - previous[0]):,.0f}"
        rows.append(
            (
                f"{n:,}",
                mib(figures["ready"]),
                mib(figures["peak"]),
                mib(figures["peak"] - figures["ready"]),
                f"{(figures['peak'] - figures['ready']) / n:,.0f}",
                growth,
                f"{figures['seconds']:.1f} s",
                f"{figures['seconds'] / n * 1000:.2f} ms",
                f"{figures['queued']:,} / {figures['skipped']:,}",
                mib(figures["database"]),
            )
        )
        previous = (n, figures["peak"])
    print_table(
        "peak RSS of one bridge process catching up N new orders in one poll (chunks of "
        f"{CATCH_UP_CHUNK:,} orders)",
        (
            "N orders",
            "RSS before the poll",
            "peak RSS",
            "poll's share",
            "bytes per order",
            "marginal bytes per order",
            "poll time",
            "time per order",
            "emails queued / skipped",
            "state.sqlite3",
        ),
        rows,
    )
    print(
        "\n'poll's share' = peak RSS minus the RSS of the same process just before the poll (imports, open"
        " store, client); 'marginal bytes per order' = growth of the peak between this N and the previous"
        " one, divided by the extra orders: flat means memory grows linearly with the size of a catch-up,"
        " about 0 that it does not grow with it."
        " The shop (simulator) runs in its own process and is not counted."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
