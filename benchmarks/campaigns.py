"""What the marketing features (issue 18) cost the shop, the CPU and the memory, at N newsletter subscribers.

(a) `bridge campaign send FILE` (the dry run), `--yes` (the queueing) and a re-run of `--yes` (nothing left
    to queue) to N subscribers: shop requests, response bytes, wall time, peak RSS, rows queued;
(b) delivering a campaign with personal single-use codes: shop requests per email (the marketing gate's
    GETs, the POST of the cart rule) and wall time per email, to files and to the SMTP sink;
(c) the new-product digest to N subscribers: the passes that queue it (one per poll, BATCHES_PER_POLL
    batches each), their requests, bytes, time and peak RSS;
(d) one idle poll cycle with NEW_PRODUCTS=daily, BIRTHDAY_EMAILS=on, WINBACK_AFTER_DAYS=90 against all
    three off: outside the passes' hours, and at them.

The shop (the simulator, seeded with the demo shop plus N subscribers registered through the Shop API)
runs in this process; each measured step of (a), (b) and (c) runs in a fresh **bridge process**
(`_bridge_steps.py`), which reports its wall time and peak RSS, as memory.py's do. The shop's requests
are counted from the simulator's log between the bridge process's READY and its report.

    python3 dev.py bench campaigns [--small] [--sizes 1000,10000]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import _bridge_steps
from _bridge_steps import settings_for
from _common import (
    FIRST_NAMES_EN,
    FIRST_NAMES_PL,
    LAST_NAMES_EN,
    LAST_NAMES_PL,
    Traffic,
    demo_shop,
    kib,
    machine_line,
    mib,
    ms,
    print_table,
    running_shop,
    shop_client,
    sizes_of,
    smtp_sink,
)

from bridge.simulator import Simulator
from bridge.simulator.actions import Shop

STEPS: Final = Path(_bridge_steps.__file__).resolve()  # the bridge process's side

FULL_SIZES: Final = (1_000, 10_000, 50_000)
SMALL_SIZES: Final = (200,)
FULL_CODES: Final = 500  # (b): campaign emails delivered, each with its personal code
SMALL_CODES: Final = 50
AUTOMATIONS_ON: Final = {"NEW_PRODUCTS": "daily", "BIRTHDAY_EMAILS": "on", "WINBACK_AFTER_DAYS": "90"}
DEMO_SUBSCRIBERS: Final = 2  # the demo shop's own newsletter subscribers (Małgorzata and Emily)
NEW_PRODUCTS: Final = 5  # products the merchant puts on sale before the digest (c)
CAMPAIGN: Final = '''
name = "zimowa-wyprzedaz"
audience = "newsletter"
[discount]
percent = 15
valid_days = 7
single_use = true
minimum_amount = 100
[pl]
subject = "Zimowa wyprzedaż: {{ discount }} dla Ciebie, {{ firstname }}"
code_name = "Zimowa wyprzedaż"
body = """Cześć {{ firstname }},

na zimę mamy dla Ciebie **{{ discount }}** zniżki na zamówienie za co najmniej {{ minimum_amount }}.
Twój kod {{ code }} jest ważny do {{ valid_until }}.

[Zajrzyj do sklepu]({{ shop_url }})"""
[en]
subject = "Winter sale: {{ discount }} off for you, {{ firstname }}"
code_name = "Winter sale"
body = """Hello {{ firstname }},

**{{ discount }}** off an order of {{ minimum_amount }} or more. Your code {{ code }} is valid until
{{ valid_until }}.

[Visit the shop]({{ shop_url }})"""
'''


# --- the shop -------------------------------------------------------------------------------------------


def add_subscribers(shop: Shop, count: int, *, seed: int = 3, birthdays: bool = False) -> None:
    """`count` customers who ticked the newsletter box (a sixth reading English, a tenth guests), registered
    through the Shop API a few a second; with `birthdays`, each with a birthday spread over the year."""
    rng = random.Random(seed)
    for index in range(count):
        english = index % 6 == 5
        birthday = date(1960 + rng.randrange(45), 1, 1) + timedelta(days=rng.randrange(365))
        shop.register_customer(
            rng.choice(FIRST_NAMES_EN if english else FIRST_NAMES_PL),
            rng.choice(LAST_NAMES_EN if english else LAST_NAMES_PL),
            f"subskrybent.{index}@example.com",
            language="en" if english else "pl",
            guest=index % 10 == 9,
            newsletter=True,
            birthday=birthday if birthdays else None,
        )
        if index % 25 == 24:
            shop.advance(1)


def new_products(shop: Shop, count: int) -> None:
    """The merchant puts `count` products on sale, each with a picture."""
    for number in range(count):
        product = shop.add_product(
            {"pl": f"Kubek Zima {number}", "en": f"Winter mug {number}"},
            "65.04",
            short_descriptions={"pl": "<p>Kamionka, 350 ml</p>", "en": "<p>Stoneware, 350 ml</p>"},
        )
        shop.state.update("products", product, id_default_image=product)


def first_run(shop: Shop, url: str, state_dir: Path, **extra: str) -> None:
    """The bridge's first cycle on this store (every watch baselined, the shop confirmed), as a bridge that
    has been running has had: in this process, not measured."""
    from bridge.cycle import Cycle
    from bridge.delivery.transports import build_transport
    from bridge.mail.render import get_renderer
    from bridge.state.store import open_store

    settings = settings_for(url, state_dir, **extra)
    with open_store(settings.database_url) as store, shop_client(url) as client:
        transport = build_transport(settings)
        cycle = Cycle(client, store, transport, get_renderer(settings.templates_dir), settings, shop.clock)
        cycle.poll()


# --- a measured step in a bridge process ----------------------------------------------------------------


@dataclass
class Step:
    """What one measured step cost: the shop's side counted here, the bridge's reported by its process."""

    traffic: Traffic
    calls: Counter[str]  # "GET customers" → requests
    report: dict[str, Any]

    @property
    def seconds(self) -> float:
        return float(self.report["seconds"])


def run_child(simulator: Simulator, phase: str, spec: Mapping[str, Any]) -> Step:
    """Start a bridge process for `phase`, count the shop's requests between its READY and its report."""
    process = subprocess.Popen(
        [sys.executable, str(STEPS), phase, json.dumps(dict(spec))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        if process.stdout.readline().strip() != "READY":
            raise RuntimeError(f"the bridge process for {phase} did not start")
        start = len(simulator.requests)
        process.stdin.write("GO\n")
        process.stdin.flush()
        line = process.stdout.readline()
        if process.wait(timeout=600) != 0 or not line:
            raise RuntimeError(f"the bridge process for {phase} failed (exit {process.returncode})")
    finally:
        process.stdin.close()
        process.stdout.close()
    return Step(*_served(simulator, start), json.loads(line))


def _served(simulator: Simulator, start: int) -> tuple[Traffic, Counter[str]]:
    """The requests from `start` on, by method and resource; their bodies are let go once counted."""
    records = simulator.requests[start:]
    calls = Counter(f"{r.method} {r.resource or r.path.split('?')[0]}" for r in records)
    size = sum(len(r.body) for r in records)
    for record in records:
        record.body = b""
    return Traffic(len(records), size), calls


# --- (a) and (c): one N --------------------------------------------------------------------------------


@dataclass
class SizeResult:
    n: int
    seed_seconds: float
    campaign: dict[str, Step] = field(default_factory=dict)
    digest: Step | None = None


def measure_size(n: int) -> SizeResult:
    shop = demo_shop()
    seeded = time.perf_counter()
    add_subscribers(shop, n)
    result = SizeResult(n, time.perf_counter() - seeded)
    with running_shop(shop) as simulator, tempfile.TemporaryDirectory(prefix="bridge-bench-") as tmp:
        url, root = simulator.url, Path(tmp)
        file = root / "zimowa-wyprzedaz.toml"
        file.write_text(CAMPAIGN, encoding="utf-8")
        first_run(shop, url, root / "campaign")
        base = {"url": url, "state_dir": str(root / "campaign"), "file": str(file)}
        for name, yes in (("dry run", False), ("--yes", True), ("--yes again", True)):
            spec = {**base, "now": shop.clock.now().isoformat(), "yes": yes}
            result.campaign[name] = run_child(simulator, "campaign", spec)
            shop.advance(60)
        result.digest = measure_digest(shop, simulator, root / "news")
    subscribers = n + DEMO_SUBSCRIBERS
    check(result.campaign["--yes"].report["queued"] == subscribers, f"--yes queued {n:,} + 2 emails")
    check(result.campaign["--yes again"].report["queued"] == 0, "the re-run queued nothing")
    check(result.digest.report["queued"] == subscribers, f"the digest went to {n:,} + 2 subscribers")
    return result


def check(held: bool, promise: str) -> None:
    """The run measured what it says (not a figure: a benchmark that measured nothing must not pass)."""
    if not held:
        raise RuntimeError(f"the benchmark did not do what it measures: expected that {promise}")


def measure_digest(shop: Shop, simulator: Simulator, state_dir: Path) -> Step:
    """(c): the watch baselined today, NEW_PRODUCTS products put on sale, the digest queued tomorrow from
    NEW_PRODUCTS_HOUR (10:00 in the shop)."""
    env = {"NEW_PRODUCTS": "daily"}
    first_run(shop, simulator.url, state_dir, **env)
    shop.advance(60)
    new_products(shop, NEW_PRODUCTS)
    zone = ZoneInfo("Europe/Warsaw")
    tomorrow = shop.clock.now().astimezone(zone).date() + timedelta(days=1)
    shop.clock.set(datetime.combine(tomorrow, datetime.min.time().replace(hour=10), zone))
    spec = {
        "url": simulator.url,
        "state_dir": str(state_dir),
        "now": shop.clock.now().isoformat(),
        "env": env,
    }
    return run_child(simulator, "digest", spec)


# --- (b) delivering personal codes ---------------------------------------------------------------------


def measure_codes(rows: int) -> dict[str, Step]:
    """A personal-code campaign queued for `rows` subscribers, then delivered to files and, from a second
    store, to the SMTP sink (STARTTLS + AUTH, its own process)."""
    shop = demo_shop()
    add_subscribers(shop, rows, seed=5)
    steps: dict[str, Step] = {}
    with (
        running_shop(shop) as simulator,
        tempfile.TemporaryDirectory(prefix="bridge-bench-") as tmp,
        smtp_sink("starttls") as sink,
    ):
        root = Path(tmp)
        file = root / "zimowa-wyprzedaz.toml"
        file.write_text(CAMPAIGN, encoding="utf-8")
        assert sink.ca_file is not None
        smtp = {
            "MAIL_TRANSPORT": "smtp",
            "SMTP_HOST": sink.host,
            "SMTP_PORT": str(sink.port),
            "SMTP_SECURITY": "starttls",
            "SMTP_USERNAME": "sklep.przyklad@gmail.com",
            "SMTP_PASSWORD": "abcdwxyzefghstuv",
            "SMTP_CA_FILE": str(sink.ca_file),
            "DAILY_SEND_LIMIT": "2000",
            "SEND_RATE_PER_MINUTE": "1000",
        }
        for name, env in (("MAIL_TRANSPORT=file", {}), ("SMTP sink (STARTTLS + AUTH)", smtp)):
            state_dir = root / name.split()[0].replace("=", "-")
            first_run(shop, simulator.url, state_dir, **env)
            base = {"url": simulator.url, "state_dir": str(state_dir), "env": env}
            queue = {**base, "file": str(file), "yes": True, "now": shop.clock.now().isoformat()}
            run_child(simulator, "campaign", queue)
            steps[name] = run_child(simulator, "deliver", {**base, "now": shop.clock.now().isoformat()})
            sent = (steps[name].report["sent"], steps[name].report["failed"])
            check(sent == (rows + DEMO_SUBSCRIBERS, 0), f"{name} sent {rows} + 2 emails, none failed")
            shop.advance(60)
    return steps


# --- (d) idle polls ------------------------------------------------------------------------------------


IDLE_MOMENTS: Final = (
    ("07:30, outside every pass's hour", 7, 30),
    ("09:00, BIRTHDAY_HOUR (first poll of the hour)", 9, 0),
    ("09:01, the poll after", 9, 1),
    ("10:00, NEW_PRODUCTS_HOUR and WINBACK_HOUR", 10, 0),
    ("10:01, the poll after", 10, 1),
)


def measure_idle(customers: int) -> list[tuple[str, Traffic, Traffic]]:
    """(d): the same shop polled by two bridges, one with the three passes on and one with them off; each
    moment of the next day (shop time) gets one full `Cycle.poll` per bridge. Nothing new in the shop."""
    from bridge.cycle import Cycle
    from bridge.delivery.transports import build_transport
    from bridge.mail.render import get_renderer
    from bridge.state.store import open_store

    shop = demo_shop()
    add_subscribers(shop, customers, seed=9, birthdays=True)
    zone = ZoneInfo("Europe/Warsaw")
    rows = []
    with running_shop(shop) as simulator, tempfile.TemporaryDirectory(prefix="bridge-bench-") as tmp:
        cycles = []
        for name, env in (("off", {}), ("on", AUTOMATIONS_ON)):
            settings = settings_for(simulator.url, Path(tmp) / name, **env)
            store = open_store(settings.database_url)
            client = shop_client(simulator.url)
            renderer = get_renderer(settings.templates_dir)
            cycle = Cycle(client, store, build_transport(settings), renderer, settings, shop.clock)
            cycle.poll()  # the baselines
            cycles.append((cycle, store, client))
        tomorrow = shop.clock.now().astimezone(zone).date() + timedelta(days=1)
        for label, hour, minute in IDLE_MOMENTS:
            shop.clock.set(
                datetime.combine(tomorrow, datetime.min.time().replace(hour=hour, minute=minute), zone)
            )
            traffic = []
            for cycle, _, _ in cycles:
                start = len(simulator.requests)
                cycle.poll()
                traffic.append(_served(simulator, start)[0])
            rows.append((label, traffic[0], traffic[1]))
        for _, store, client in cycles:
            store.close()
            client.close()
    return rows


# --- output --------------------------------------------------------------------------------------------


def print_campaigns(results: list[SizeResult]) -> None:
    table = []
    for r in results:
        for name, step in r.campaign.items():
            table.append(
                (
                    f"{r.n:,}",
                    name,
                    step.traffic.requests,
                    kib(step.traffic.bytes),
                    f"{step.seconds:.2f} s",
                    f"{step.seconds / r.n * 1000:.2f} ms",
                    mib(step.report["peak"]),
                    mib(step.report["peak"] - step.report["ready"]),
                    f"{step.report['recipients']:,}",
                    f"{step.report['queued']:,}",
                )
            )
    print_table(
        "(a) `bridge campaign send` to N newsletter subscribers (a personal code each)",
        (
            "N",
            "run",
            "shop requests",
            "response bytes",
            "wall time",
            "per subscriber",
            "peak RSS",
            "peak − RSS before",
            "recipients",
            "rows queued",
        ),
        table,
    )
    calls = results[-1].campaign["--yes"].calls
    print(
        f"\nrequests of `--yes` at N={results[-1].n:,}: "
        + ", ".join(f"{name} {count}" for name, count in sorted(calls.items()))
        + ". Each bridge process is fresh (imports, store and client opened before 'RSS before')."
    )


def print_codes(steps: dict[str, Step]) -> None:
    table = []
    for name, step in steps.items():
        sent = max(1, int(step.report["sent"]))
        gets = sum(n for call, n in step.calls.items() if call.startswith("GET "))
        posts = step.calls.get("POST cart_rules", 0)
        table.append(
            (
                name,
                f"{step.report['sent']:,} / {step.report['failed']:,}",
                step.traffic.requests,
                f"{gets / sent:.2f}",
                f"{posts / sent:.2f}",
                kib(step.traffic.bytes / sent),
                f"{step.seconds:.1f} s",
                ms(step.seconds / sent),
                mib(step.report["peak"]),
            )
        )
    print_table(
        "(b) delivering a campaign with a personal single-use code per email",
        (
            "transport",
            "sent / failed",
            "shop requests",
            "GETs per email",
            "POST cart_rules per email",
            "response bytes per email",
            "wall time",
            "per email",
            "peak RSS",
        ),
        table,
    )
    calls = next(iter(steps.values())).calls
    print("\nrequests (file): " + ", ".join(f"{name} {count}" for name, count in sorted(calls.items())))


def print_digests(results: list[SizeResult]) -> None:
    table = []
    for r in results:
        step = r.digest
        assert step is not None
        table.append(
            (
                f"{r.n:,}",
                step.report["passes"],
                step.traffic.requests,
                kib(step.traffic.bytes),
                f"{step.seconds:.2f} s",
                f"{step.report['slowest']:.2f} s",
                f"{step.seconds / r.n * 1000:.2f} ms",
                mib(step.report["peak"]),
                mib(step.report["peak"] - step.report["ready"]),
                f"{step.report['queued']:,} / {step.report['skipped']:,}",
            )
        )
    print_table(
        f"(c) the new-product digest ({NEW_PRODUCTS} new products) queued for N subscribers",
        (
            "N",
            "passes (polls)",
            "shop requests",
            "response bytes",
            "wall time",
            "slowest pass",
            "per subscriber",
            "peak RSS",
            "peak − RSS before",
            "queued / skipped",
        ),
        table,
    )


def print_idle(rows: list[tuple[str, Traffic, Traffic]], customers: int) -> None:
    print_table(
        f"(d) one poll cycle, nothing new in the shop ({customers:,} customers with birthdays)",
        ("moment (shop time)", "all three off: requests", "bytes", "on: requests", "bytes", "added"),
        [
            (label, off.requests, kib(off.bytes), on.requests, kib(on.bytes), on.requests - off.requests)
            for label, off, on in rows
        ],
    )
    idle_off, idle_on = rows[0][1].requests, rows[0][2].requests
    extra = sum(on.requests - off.requests for _, off, on in rows[1:] if on.requests != off.requests)
    print(
        f"\nper day at POLL_INTERVAL=60s: {idle_off * 1440:,} requests with the three off, "
        f"{idle_on * 1440 + extra:,} with them on (NEW_PRODUCTS=daily, BIRTHDAY_EMAILS=on,"
        " WINBACK_AFTER_DAYS=90; each pass reads the shop once a day, at its hour)."
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", action="store_true", help="N = 200, 50 emails with codes (CI-sized)")
    parser.add_argument(
        "--sizes", type=sizes_of("subscribers"), metavar="N,N,...", help="the N of (a) and (c)"
    )
    args = parser.parse_args()
    sizes = args.sizes or (SMALL_SIZES if args.small else FULL_SIZES)
    codes = SMALL_CODES if args.small else FULL_CODES
    shown = ", ".join(f"{n:,}" for n in sizes)
    print(f"# campaigns ({'small' if args.small else 'full'} run, N = {shown}) — {machine_line()}")
    results = []
    for n in sizes:
        results.append(measure_size(n))
        print(f"N={n:,}: seeded in {results[-1].seed_seconds:.1f} s, measured", flush=True)
    print_campaigns(results)
    print_codes(measure_codes(codes))
    print_digests(results)
    idle_customers = 200 if args.small else 2_000
    print_idle(measure_idle(idle_customers), idle_customers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
