"""Shared setup for the benchmarks: a realistic shop behind the simulator, the bridge wired as an owner
wires it, a naive webservice poller to compare against, an SMTP sink in its own process, and tables.

Benchmarks print figures; they never assert them. Every script takes `--small` (a CI-sized run that
finishes in seconds) and defaults to the full size.

Run as a script, this module is the SMTP sink: `python benchmarks/_common.py smtp-sink --mode starttls
--ca-file PATH` starts `tests.smtp_server.gmail_like_server` (STARTTLS + AUTH, Gmail's replies) or a plain
relay (`--mode plain`, no TLS, no AUTH) on 127.0.0.1 and prints `READY <port>`; each `COUNT` line read
from stdin is answered with the number of messages accepted; end of stdin stops it. A separate process,
so the server's parsing does not compete with the bridge for the GIL (a real Gmail is on another machine).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import resource
import ssl
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from bridge.clock import ManualClock  # noqa: E402
from bridge.config import Settings  # noqa: E402
from bridge.delivery.smtp import SmtpSender  # noqa: E402
from bridge.secret import Secret  # noqa: E402
from bridge.shop.client import ShopClient  # noqa: E402
from bridge.simulator import Simulator  # noqa: E402
from bridge.simulator.actions import CartItem, PostalAddress, Shop  # noqa: E402
from bridge.simulator.demo_shop import (  # noqa: E402
    BOWL,
    CANDLE,
    COASTERS,
    ESPRESSO,
    JUG,
    MUG,
    MUG_COBALT,
    MUG_HONEY,
    MUG_MOSS,
    PLATE,
    POT,
    POT_L,
    POT_M,
    POT_S,
    TEA,
    VASE,
    WORKSHOP,
    build_demo_shop,
)

SHOP_KEY: Final = "BENCHKEY0BENCHKEY0BENCHKEY0BENCH"
MAIL_FROM: Final = "Pracownia Ceramiki <sklep.przyklad@gmail.com>"
SMTP_USERNAME: Final = "sklep.przyklad@gmail.com"
SMTP_PASSWORD: Final = "abcdwxyzefghstuv"  # tests.smtp_server's default app password
START: Final = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


# --- command line and output ----------------------------------------------------------------------------


def parse_args(
    description: str, argv: Sequence[str] | None = None, *, scenarios: Sequence[str] = ()
) -> argparse.Namespace:
    """`--small`; with `scenarios`, also `--scenario NAME` (run one of them) and `--seed N`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--small", action="store_true", help="a CI-sized run that finishes in seconds")
    if scenarios:
        parser.add_argument("--scenario", choices=scenarios, help="run this scenario only")
        parser.add_argument("--seed", type=int, default=1, help="seeds every random choice (default 1)")
    return parser.parse_args(argv)


def machine_line() -> str:
    """Where the figures were measured: they mean little without it."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}, {cpus or '?'} CPU(s)"
    )


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A GitHub-flavoured Markdown table, so the output pastes into benchmarks/README.md as it is."""
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) + " |"

    print(f"\n### {title}\n")
    print(line(cells[0]))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        print(line(row))
    sys.stdout.flush()


def kib(n: float) -> str:
    return f"{n / 1024:,.1f} KiB"


def mib(n: float) -> str:
    return f"{n / 1024 / 1024:,.1f} MiB"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


# --- measuring ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Traffic:
    """What the shop served: requests and response body bytes (uncompressed, as the simulator sends them)."""

    requests: int
    bytes: int


def traffic_since(simulator: Simulator, start: int) -> Traffic:
    """The simulator's request log from index `start` on (it must record bodies for the byte count)."""
    records = simulator.requests[start:]
    return Traffic(len(records), sum(len(record.body) for record in records))


def sizes_of(what: str) -> Callable[[str], tuple[int, ...]]:
    """The `--sizes` argument type: `10000,50000` → (10000, 50000), the N a run measures (of `what`)."""

    def sizes(text: str) -> tuple[int, ...]:
        try:
            found = tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--sizes takes whole numbers separated by commas, not {text!r}"
            ) from None
        if not found or min(found) < 1:
            raise argparse.ArgumentTypeError(f"--sizes takes one or more numbers of {what}, each 1 or more")
        return found

    return sizes


def peak_rss_bytes() -> int:
    """This process's peak resident set size so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


# --- the bridge, wired as an owner wires it ------------------------------------------------------------


def bridge_settings(shop_url: str, state_dir: Path, **extra: str) -> Settings:
    """Settings from an environment-like mapping, as `bridge` reads them (MAIL_TRANSPORT=file unless told)."""
    values = {
        "PRESTASHOP_URL": shop_url,
        "PRESTASHOP_API_KEY": SHOP_KEY,
        "PRESTASHOP_RETRIES": "0",
        "MAIL_TRANSPORT": "file",
        "MAIL_FILE_DIR": str(state_dir / "mail"),
        "MAIL_FROM": MAIL_FROM,
        "STATE_DIR": str(state_dir),
        **extra,
    }
    return Settings.from_mapping(values)


def shop_client(url: str) -> ShopClient:
    return ShopClient(url, Secret(SHOP_KEY), retries=0, timeout=120)


@contextlib.contextmanager
def running_shop(shop: Shop, *, record_bodies: bool = True, delay: float = 0.0) -> Iterator[Simulator]:
    """The shop's webservice on 127.0.0.1 (PrestaShop 8.1 flavour), stopped afterwards. `delay`: seconds
    added to every answer, to model a real shop (PHP and MySQL take tens of milliseconds per request)."""
    simulator = Simulator(shop.state, flavour="8.1", api_key=SHOP_KEY)
    simulator.record_bodies = record_bodies
    simulator.response_delay = delay
    with simulator:
        yield simulator


def demo_shop() -> Shop:
    """The seeded demo shop (three weeks of history) on a clock that only moves when told."""
    return build_demo_shop(ManualClock(START))


# --- realistic customers and orders --------------------------------------------------------------------

FIRST_NAMES_PL: Final = (
    "Anna",
    "Katarzyna",
    "Małgorzata",
    "Agnieszka",
    "Piotr",
    "Krzysztof",
    "Paweł",
    "Łukasz",
)
LAST_NAMES_PL: Final = ("Nowak", "Kowalska", "Wiśniewski", "Wójcik", "Kamińska", "Lewandowski", "Zieliński")
FIRST_NAMES_EN: Final = ("Emily", "James", "Olivia", "Thomas", "Sophie", "Daniel")
LAST_NAMES_EN: Final = ("Clarke", "Smith", "Taylor", "Müller", "Dubois", "Novák")
CITIES: Final = (
    ("ul. Marszałkowska 10/4", "00-590", "Warszawa", "PL"),
    ("ul. Floriańska 3", "31-019", "Kraków", "PL"),
    ("ul. Długa 7/3", "80-827", "Gdańsk", "PL"),
    ("ul. Piotrkowska 120", "90-006", "Łódź", "PL"),
    ("ul. Rynek 5", "50-106", "Wrocław", "PL"),
    ("Kastanienallee 44", "10435", "Berlin", "DE"),
    ("12 rue des Lilas", "75019", "Paris", "FR"),
    ("Vinohradská 12", "120 00", "Praha", "CZ"),
)
BASKETS: Final[tuple[list[CartItem], ...]] = (
    [(MUG, 2, MUG_HONEY), (BOWL, 1)],
    [(VASE, 1), (CANDLE, 2)],
    [(ESPRESSO, 1), (TEA, 3)],
    [(POT, 1, POT_L), (POT, 2, POT_S), (COASTERS, 1)],
    [(PLATE, 6)],
    [(JUG, 1), (MUG, 2, MUG_COBALT)],
    [(MUG, 1, MUG_MOSS)],
    [(WORKSHOP, 1), (TEA, 1)],
    [(POT, 1, POT_M)],
)
# How a small Polish shop's customers pay: mostly an instant-transfer gateway, then bank wire, COD, cheque.
PAYMENTS: Final = ("przelewy24",) * 5 + ("ps_wirepayment",) * 3 + ("ps_cashondelivery", "ps_checkpayment")
CARRIERS: Final = (2, 2, 2, 4, 5, 1)


def add_customers(shop: Shop, count: int, *, seed: int = 7) -> list[int]:
    """`count` registered customers (a tenth guests, a sixth English-speaking), each with an address."""
    rng = random.Random(seed)
    ids: list[int] = []
    for index in range(count):
        english = index % 6 == 5
        first = rng.choice(FIRST_NAMES_EN if english else FIRST_NAMES_PL)
        last = rng.choice(LAST_NAMES_EN if english else LAST_NAMES_PL)
        street, postcode, city, country = rng.choice(CITIES[5:] if english else CITIES[:5])
        ref = shop.register_customer(
            first,
            last,
            f"klient.{index}@example.com",
            language="en" if english else "pl",
            guest=index % 10 == 9,
            newsletter=index % 3 == 0,
            address=PostalAddress(street, postcode, city, country=country, phone="+48 600 100 200"),
        )
        ids.append(ref.customer_id)
        if index % 25 == 0:
            shop.advance(1)
    return ids


def place_orders(
    shop: Shop, customers: Sequence[int], count: int, *, seed: int = 11, payments: Sequence[str] = PAYMENTS
) -> list[int]:
    """`count` checkouts through the Shop API (`validateOrder`), a few per second, by random customers,
    paid with one of `payments` (`("przelewy24",)`: every order paid at checkout, one email each)."""
    rng = random.Random(seed)
    english = {cid for cid in customers if shop.state.get("customers", cid)["id_lang"] == 1}
    orders: list[int] = []
    for index in range(count):
        customer = rng.choice(customers)
        cart = shop.create_cart(
            customer,
            rng.choice(BASKETS),
            currency="EUR" if customer in english else "PLN",
            carrier_id=rng.choice(CARRIERS),
        )
        orders.append(shop.place_order(cart, rng.choice(payments)))
        if index % 3 == 2:
            shop.advance(1)
    return orders


class FastSeeder:
    """Adds orders straight into the ShopState, for the 100 000-order memory runs.

    Each new order is a copy of one of a few dozen orders placed through the Shop API (so every field is what
    `validateOrder` writes), with its own id, reference, customer, addresses and date: the orders row with
    its order_rows association, its first order_histories row, its order_carriers row and, for orders
    paid at checkout, its order_payments row. Customers and addresses are copied the same way.
    """

    def __init__(self, shop: Shop, *, templates: int = 30, seed: int = 5) -> None:
        self.shop = shop
        self.state = shop.state
        self._rng = random.Random(seed)
        customers = add_customers(shop, 10, seed=seed)
        self.template_orders = place_orders(shop, customers, templates, seed=seed)
        self.template_customers = customers
        self._references = 0

    def _reference(self) -> str:
        """Unique nine-letter references, like `Order::generateReference()` (a prefix no template uses)."""
        self._references += 1
        n, letters = self._references, []
        for _ in range(8):
            n, digit = divmod(n, 26)
            letters.append(string.ascii_uppercase[digit])
        return "Z" + "".join(reversed(letters))

    def customers(self, count: int) -> list[tuple[int, int]]:
        """`count` customers with one address each; returns (customer id, address id) pairs."""
        state = self.state
        out: list[tuple[int, int]] = []
        with state.lock:
            for index in range(count):
                template = self.template_customers[index % len(self.template_customers)]
                row = state.get("customers", template)
                row.pop("id")
                row["email"] = f"klient.{state.next_id('customers')}@example.com"
                customer_id = state.insert("customers", row)
                address = state.get("addresses", self.shop.customer_address_id(template) or 0)
                address.pop("id")
                address["id_customer"] = customer_id
                out.append((customer_id, state.insert("addresses", address)))
        return out

    def orders(self, count: int, customers: Sequence[tuple[int, int]]) -> list[int]:
        """`count` orders by the given customers, a few per second of the shop's clock."""
        state = self.state
        templates = [self._template(order_id) for order_id in self.template_orders]
        ids: list[int] = []
        with state.lock:
            for index in range(count):
                order, history, carrier, payment = self._rng.choice(templates)
                customer_id, address_id = customers[index % len(customers)]
                now = self.shop.now()
                reference = self._reference()
                order_id = state.insert(
                    "orders",
                    {
                        **order,
                        "id_customer": customer_id,
                        "id_address_delivery": address_id,
                        "id_address_invoice": address_id,
                        "reference": reference,
                        "date_add": now,
                        "date_upd": now,
                    },
                )
                state.insert("order_histories", {**history, "id_order": order_id, "date_add": now})
                state.insert("order_carriers", {**carrier, "id_order": order_id, "date_add": now})
                if payment is not None:
                    state.insert("order_payments", {**payment, "order_reference": reference, "date_add": now})
                ids.append(order_id)
                if index % 5 == 4:
                    self.shop.advance(1)
        return ids

    def _template(
        self, order_id: int
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any] | None]:
        state = self.state
        order = state.get("orders", order_id)
        history = state.get("order_histories", state.ids_where("order_histories", "id_order", order_id)[0])
        carrier = self.shop.order_carrier(order_id)
        payments = self.shop.payments(order_id)
        for row in (order, history, carrier, *payments):
            row.pop("id")
        return order, history, carrier, (payments[0] if payments else None)


# --- the naive poller ----------------------------------------------------------------------------------


@dataclass
class NaivePoller:
    """How many connectors read the webservice: list every order id, then for each order not seen yet
    GET the order, then its customer, delivery address (and invoice address when it differs), currency
    and carrier, one object per request.

    `cache=True` is the kinder variant that remembers customers, addresses, currencies and carriers it
    already fetched during one poll. Either way it only notices *new* orders: it reads no state changes,
    payments or tracking numbers, which the bridge does in the same requests.
    """

    url: str
    cache: bool = False
    seen: set[int] = field(default_factory=set)
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.session.auth = (SHOP_KEY, "")

    def close(self) -> None:
        self.session.close()

    def _get(self, path: str, **params: str) -> Any:
        response = self.session.get(
            f"{self.url}/api/{path}", params={**params, "output_format": "JSON"}, timeout=60
        )
        response.raise_for_status()
        return response.json()

    def order_ids(self) -> list[int]:
        document = self._get("orders", display="[id]")
        return [int(row["id"]) for row in document["orders"]] if document else []

    def baseline(self) -> None:
        self.seen = set(self.order_ids())

    def poll(self) -> int:
        """One cycle; returns how many new orders it read in full."""
        fetched: dict[tuple[str, int], Any] = {}

        def one(resource: str, singular: str, object_id: int) -> Any:
            key = (resource, object_id)
            if self.cache and key in fetched:
                return fetched[key]
            fetched[key] = self._get(f"{resource}/{object_id}")[singular]
            return fetched[key]

        new = [order_id for order_id in self.order_ids() if order_id not in self.seen]
        for order_id in new:
            order = one("orders", "order", order_id)
            one("customers", "customer", int(order["id_customer"]))
            one("addresses", "address", int(order["id_address_delivery"]))
            if order.get("id_address_invoice") != order.get("id_address_delivery"):
                one("addresses", "address", int(order["id_address_invoice"]))
            one("currencies", "currency", int(order["id_currency"]))
            one("carriers", "carrier", int(order["id_carrier"]))
            self.seen.add(order_id)
        return len(new)


# --- the SMTP sink, in its own process -----------------------------------------------------------------


@dataclass
class SmtpSink:
    """A running sink process and how to reach it."""

    mode: str
    host: str
    port: int
    process: subprocess.Popen[str]
    ca_file: Path | None

    @property
    def description(self) -> str:
        if self.mode == "starttls":
            return "tests.smtp_server.gmail_like_server: STARTTLS (verified) + AUTH PLAIN, own process"
        return "tests.smtp_server.gmail_like_server(mode='plain'): no TLS, no AUTH, own process"

    def sender(self) -> SmtpSender:
        """The bridge's SMTP client, one connection reused for every message (as `bridge run` keeps it)."""
        if self.mode == "starttls":
            assert self.ca_file is not None
            context = ssl.create_default_context(cafile=str(self.ca_file))
            return SmtpSender(
                self.host,
                self.port,
                "starttls",
                SMTP_USERNAME,
                Secret(SMTP_PASSWORD),
                helo_name="zlota-laka.example",
                timeout=30,
                ssl_context=context,
            )
        return SmtpSender(
            self.host, self.port, "none", "", Secret(""), helo_name="zlota-laka.example", timeout=30
        )

    def count(self) -> int:
        """How many messages the sink accepted so far."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("COUNT\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())


@contextlib.contextmanager
def smtp_sink(mode: str = "starttls") -> Iterator[SmtpSink]:
    with tempfile.TemporaryDirectory(prefix="bridge-bench-smtp-") as tmp:
        ca_file = Path(tmp) / "ca.pem" if mode == "starttls" else None
        command = [sys.executable, str(Path(__file__).resolve()), "smtp-sink", "--mode", mode]
        if ca_file is not None:
            command += ["--ca-file", str(ca_file)]
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
        )
        try:
            assert process.stdout is not None
            ready = process.stdout.readline().split()
            if ready[:1] != ["READY"]:
                raise RuntimeError(f"the SMTP sink did not start: {ready!r}")
            yield SmtpSink(mode, "127.0.0.1", int(ready[1]), process, ca_file)
        finally:
            if process.stdin is not None:
                process.stdin.close()
            process.wait(timeout=30)
            if process.stdout is not None:
                process.stdout.close()


def _serve_sink(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="_common.py smtp-sink")
    parser.add_argument("--mode", choices=("starttls", "plain"), default="starttls")
    parser.add_argument("--ca-file")
    args = parser.parse_args(argv)
    from tests.smtp_server import gmail_like_server

    with gmail_like_server(mode=args.mode) as server:
        if args.ca_file:
            server.ca.cert_pem.write_to_path(args.ca_file)
        print(f"READY {server.port}", flush=True)
        for line in sys.stdin:
            if line.strip() == "COUNT":
                print(len(server.messages), flush=True)
    return 0


# --- the bridge as a process ---------------------------------------------------------------------------


def write_env_file(path: Path, values: Mapping[str, str]) -> Path:
    """The owner's env file (`bridge --env-file PATH`), private as the bridge expects it."""
    path.write_text("".join(f"{name}={value}\n" for name, value in values.items()), encoding="utf-8")
    path.chmod(0o600)
    return path


def bridge_process_env() -> dict[str, str]:
    """The environment of a `python -m bridge` child: this tree's `bridge` first on the path, and none of
    the bridge's settings (or systemd's) inherited, so the env file is the whole configuration."""
    from bridge.config import setting_names

    dropped = setting_names() | {"STATE_DIRECTORY", "CREDENTIALS_DIRECTORY", "JOURNAL_STREAM"}
    env = {name: value for name, value in os.environ.items() if name not in dropped}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return env


# --- misc ----------------------------------------------------------------------------------------------


def timed(function: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def decimal_str(value: Decimal | float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


ONE_MINUTE: Final = timedelta(minutes=1)


if __name__ == "__main__":
    if sys.argv[1:2] == ["smtp-sink"]:
        sys.exit(_serve_sink(sys.argv[2:]))
    sys.exit("usage: _common.py smtp-sink [--mode starttls|plain] [--ca-file PATH]")
