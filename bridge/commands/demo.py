"""`bridge demo`: the whole story on the embedded demo shop, over a few simulated days.

Customers order, pay, and receive their parcels in the demo shop while the bridge syncs after each
step, exactly as `bridge sync` would against a real shop. Emails go to a folder (never to the
network) with an index.html to open in a browser.

Whatever `.env` says, the demo reads only the embedded shop, keeps its state in a temporary folder that is
deleted afterwards, and writes its emails as files: the configured shop and state store are never touched
(only TEMPLATES_DIR and LOG_LEVEL are taken from the owner's settings, so the story shows their
templates). The output folder is marked as the demo's own; a later demo clears only a marked folder's
`emails/` and refuses any other folder that is not empty.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from bridge.app import Bridge, open_bridge
from bridge.clock import ManualClock, SystemClock
from bridge.commands.campaign.send import send_campaign
from bridge.commands.terms import notify_terms
from bridge.config import Settings
from bridge.cycle import Cycle
from bridge.errors import BridgeError
from bridge.files import make_private_dir, write_private
from bridge.simulator import DEMO_API_KEY, Simulator
from bridge.simulator.actions import PostalAddress, Shop, net_from_gross
from bridge.simulator.demo_shop import (
    MUG,
    MUG_COBALT,
    NEW_TERMS,
    PLATE,
    SHOP_DOMAIN,
    SHOP_EMAIL,
    SHOP_NAME,
    TEA,
    VASE,
    build_demo_shop,
)
from bridge.simulator.stock import set_stock
from bridge.state.outbox import OutboxRow, Status, list_rows

Say = Callable[[str], None]
Sync = Callable[[str], None]  # one `bridge sync`, told under a title

# Written into every folder the demo writes to: only a folder holding it is ever cleared by a later demo.
MARKER: Final = ".bridge-demo"
WINBACK_DAYS: Final = 30  # the demo shop's Emily (Berlin) last ordered 9 days before the story starts
# The owner's campaign (the shape of docs/campaign.example.toml): a personal code for each subscriber.
CAMPAIGN: Final = """\
name = "spring-sale"
audience = "newsletter"

[discount]
percent = 10
valid_days = 7
single_use = true

[pl]
subject = "Wiosenna wyprzedaż: 10% dla Ciebie"
code_name = "Wiosenna wyprzedaż"
body = '''
Cześć {{ firstname }},

w pracowni przybyło nowych naczyń. Przez tydzień masz na nie **{{ discount }}** zniżki:
wpisz kod {{ code }} w koszyku (ważny do {{ valid_until }}).

[Zajrzyj do sklepu]({{ shop_url }})
'''

[en]
subject = "Spring sale: 10% for you"
code_name = "Spring sale"
body = '''
Hello {{ firstname }},

new pieces have come out of the kiln. For a week you get **{{ discount }}** off them:
enter the code {{ code }} in your cart (valid until {{ valid_until }}).

[Visit the shop]({{ shop_url }})
'''
"""
MARKER_TEXT: Final = "Written by `bridge demo`. A later `bridge demo --output` here replaces emails/.\n"


class DemoOutputError(BridgeError):
    """The output folder cannot be used: it holds someone else's files, or is not a folder."""

    exit_code = 73  # EX_CANTCREAT


@dataclasses.dataclass
class DemoShop:
    """The embedded demo shop: its actions (to make things happen) and the server that answers for it."""

    shop: Shop
    server: Simulator


@contextmanager
def demo_shop(clock: ManualClock) -> Iterator[DemoShop]:
    """Start the embedded demo shop on a free port of 127.0.0.1 for as long as the block runs."""
    shop = build_demo_shop(clock)
    server = Simulator(shop.state, flavour="8.1", api_key=DEMO_API_KEY)
    # The demo key is set up the way the README tells owners to: GET (and HEAD) only, plus POST on
    # cart_rules, which an owner ticks to let the bridge create personal discount codes.
    permissions: dict[str, tuple[str, ...]] = {name: ("GET", "HEAD") for name in server.resource_names()}
    permissions["cart_rules"] = ("GET", "HEAD", "POST")
    server.add_key(DEMO_API_KEY, permissions)
    with server:
        yield DemoShop(shop=shop, server=server)


@dataclasses.dataclass(frozen=True)
class _Orders:
    """The two orders the story follows from checkout to the review request."""

    zofia: int
    emily: int


def run_demo(settings: Settings, output: Path, say: Say) -> int:
    """Play the story; returns the number of emails written."""
    emails = prepare_output(output)
    clock = ManualClock(SystemClock().now().replace(microsecond=0))
    with (
        tempfile.TemporaryDirectory(prefix="bridge-demo-state-") as state,
        demo_shop(clock) as demo,
        open_bridge(demo_settings(settings, demo.server.url, Path(state), emails), clock) as bridge,
    ):
        shop = demo.shop
        start = shop.now()
        cycle = Cycle.of(bridge)

        def sync(title: str) -> None:
            summary = cycle.once()
            say(f"  {shop.now():%a %d %b %H:%M}  {title:<52} → {summary.line()}")

        say(
            f"Demo shop: {shop.state.config('PS_SHOP_NAME')} at {demo.server.url} (PrestaShop 8.1 webservice)"
        )
        sync("the bridge starts: first sync")
        orders = _first_day(shop, sync)
        _orders_travel(shop, sync, orders)
        _parcels_arrive(shop, sync, orders)
        _terms_change(shop, sync, bridge)
        _three_weeks_later(shop, sync, bridge, start=start, say=say)
        rows = [row for row in list_rows(bridge.store, limit=500) if row.status is Status.SENT]
    _tell_emails_written(say, emails, rows)
    return len(rows)


def prepare_output(output: Path) -> Path:
    """Mark `output` as the demo's and return its empty `emails/` folder.

    A new or empty folder is taken; a folder a previous demo marked has its `emails/` cleared; any other
    folder is refused, and nothing in it is touched.
    """
    if output.exists() and not output.is_dir():
        raise DemoOutputError(f"--output {output} is not a folder: name a new or empty folder")
    marked = (output / MARKER).is_file()
    if output.is_dir() and not marked and any(output.iterdir()):
        raise DemoOutputError(
            f"--output {output} is not empty and was not written by `bridge demo`:"
            " name a new or empty folder (nothing in it was changed)"
        )
    emails = output / "emails"
    if emails.is_symlink() or (emails.exists() and not emails.is_dir()):
        raise DemoOutputError(f"--output {output}: {emails} is not a folder the demo wrote; remove it first")
    try:
        make_private_dir(output)  # the emails written into it name (made-up) customers, as real ones would
        write_private(output / MARKER, MARKER_TEXT)
        if emails.is_dir():
            shutil.rmtree(emails)  # the previous demo's emails: the marker says it wrote them
    except OSError as error:
        raise DemoOutputError(f"--output {output}: {error.strerror or error}") from None
    return emails


def demo_settings(owner: Settings, shop_url: str, state_dir: Path, emails: Path) -> Settings:
    """Settings for the demo shop at `shop_url`: nothing of the owner's but TEMPLATES_DIR and LOG_LEVEL.

    The owner's shop, key, state store, SMTP server and marketing choices never reach the demo, so the
    story is the same on every machine and cannot touch anything real.
    """
    mapping = {
        "PRESTASHOP_URL": shop_url,
        "PRESTASHOP_API_KEY": DEMO_API_KEY,
        "STATE_DIR": str(state_dir),
        "MAIL_TRANSPORT": "file",
        "MAIL_FILE_DIR": str(emails),
        "MAIL_FROM": f"{SHOP_NAME} <{SHOP_EMAIL}>",
        # Marketing mail on, as an owner turns it on; the links point at the demo shop's domain.
        "UNSUBSCRIBE_URL": f"https://{SHOP_DOMAIN}/bridge-unsubscribe",
        # The owner hears about new orders, customers' messages and low stock, as PrestaShop's mail alerts
        # told them (the daily summary is left out: its day depends on when the demo starts).
        "OWNER_EMAIL": f"Właścicielka <wlascicielka@{SHOP_DOMAIN}>",
        "OWNER_ALERTS": "new_order,customer_message,low_stock",
        # The bridge's own alerts, and the terms watch: a changed page is told to the owner first.
        "ADMIN_EMAIL": f"Właścicielka <wlascicielka@{SHOP_DOMAIN}>",
        "TERMS_PAGES": "terms:3",
        # Branding as an owner sets it: a terracotta accent and the legal footer (the logo is the demo shop's
        # mail logo, PS_LOGO_MAIL, on its made-up domain: a client shows its alt text, the shop's name).
        "ACCENT_COLOR": "#9a3412",
        "FOOTER_TEXT": "Pracownia jest otwarta od wtorku do soboty, 10–18.",
        "LEGAL_COMPANY": "Pracownia Ceramiki Złota Łąka Zofia Nowak",
        "LEGAL_ADDRESS": "ul. Garncarska 12, 59-700 Bolesławiec",
        "LEGAL_TAX_ID": "6120000000",
        "LEGAL_REGISTRATION": "CEIDG, REGON 021234567",
        "LEGAL_PRIVACY_URL": f"https://{SHOP_DOMAIN}/content/8-polityka-prywatnosci",
        # The invoice PDF rides on the email at which the invoice appears (the demo storefront serves it).
        "INVOICE_ATTACH": "yes",
        # Marketing beyond cart reminders: the new-product digest, birthdays with a personal code, and a
        # win-back 30 days after a customer's last order (the demo's last chapter shows all three).
        "NEW_PRODUCTS": "daily",
        "BIRTHDAY_EMAILS": "on",
        "BIRTHDAY_DISCOUNT": "15%",
        "WINBACK_AFTER_DAYS": str(WINBACK_DAYS),
        "WINBACK_DISCOUNT": "20",
        "LOG_LEVEL": owner.log_level,
        "TEMPLATES_DIR": str(owner.templates_dir or ""),
    }
    return Settings.from_mapping(mapping)


def _first_day(shop: Shop, sync: Sync) -> _Orders:
    """Marek fills a cart and leaves it; Zofia and Emily order; Marek comes back and orders too. Only four
    vases are left: Emily's takes the stock to the shop's "last items" number, and the owner is told."""
    set_stock(shop.state, VASE, 4)
    shop.advance(timedelta(minutes=50))
    marek_cart = _marek_fills_a_cart(shop)
    shop.advance(timedelta(hours=1, minutes=10))
    zofia = _zofia_orders(shop)
    shop.advance(timedelta(minutes=7))
    emily = _emily_orders(shop)
    shop.advance(timedelta(minutes=1))
    sync("Zofia pays by bank transfer, Emily by card; Marek's cart waits")

    shop.advance(timedelta(hours=3))
    shop.place_order(marek_cart, "przelewy24")
    shop.advance(timedelta(minutes=1))
    sync("Marek comes back and orders: no more reminders")
    return _Orders(zofia=zofia, emily=emily)


def _marek_fills_a_cart(shop: Shop) -> int:
    marek = shop.register_customer(
        "Marek",
        "Nowak",
        "marek.nowak@example.com",
        newsletter=True,
        address=PostalAddress("ul. Piotrkowska 120", "90-006", "Łódź", phone="+48 600 300 400"),
    )
    return shop.create_cart(marek.customer_id, [(VASE, 1), (TEA, 2)], carrier_id=2)


def _zofia_orders(shop: Shop) -> int:
    zofia = shop.register_customer(
        "Zofia",
        "Wiśniewska",
        "zofia.wisniewska@example.com",
        newsletter=True,
        address=PostalAddress("ul. Floriańska 3", "31-019", "Kraków", phone="+48 600 100 200"),
    )
    cart = shop.create_cart(zofia.customer_id, [(MUG, 2, MUG_COBALT), (PLATE, 4)], carrier_id=2)
    return shop.place_order(cart, "ps_wirepayment")


def _emily_orders(shop: Shop) -> int:
    emily = shop.register_customer(
        "Emily",
        "Clarke",
        "emily.clarke@example.co.uk",
        language="en",
        address=PostalAddress("14 Hanover Street", "EH2 2EQ", "Edinburgh", country="GB"),
    )
    cart = shop.create_cart(emily.customer_id, [(VASE, 1), (TEA, 1)], currency="EUR", carrier_id=4)
    return shop.place_order(cart, "przelewy24")


def _orders_travel(shop: Shop, sync: Sync, orders: _Orders) -> None:
    """Zofia's transfer arrives, both orders are packed and shipped; one tracking number comes late."""
    shop.advance(timedelta(hours=20))
    shop.change_state(orders.zofia, 2)
    shop.advance(timedelta(minutes=1))
    sync("Zofia's transfer arrives: payment accepted")

    shop.advance(timedelta(hours=1))
    shop.customer_message("Dzień dobry, czy paczka wyjdzie jeszcze dziś? Zofia", order_id=orders.zofia)
    shop.advance(timedelta(minutes=1))
    sync("Zofia asks when her parcel leaves: the owner is told, she is answered")
    shop.advance(timedelta(minutes=30))
    thread = int(shop.state.rows("customer_threads")[-1]["id"])
    shop.employee_reply(thread, "Dzień dobry, tak — paczka wyjdzie dziś po południu.\nPozdrawiamy!")
    shop.advance(timedelta(minutes=1))
    sync("the shop answers Zofia: the reply reaches her")

    shop.advance(timedelta(hours=3))
    shop.change_state(orders.zofia, 3)
    shop.change_state(orders.emily, 3)
    shop.set_tracking(orders.emily, "RR123456785PL")
    shop.change_state(orders.emily, 4)
    shop.advance(timedelta(minutes=1))
    sync("both orders packed, Emily's shipped with tracking")

    shop.advance(timedelta(hours=22))
    shop.change_state(orders.zofia, 4)
    shop.advance(timedelta(minutes=1))
    sync("Zofia's parcel leaves without a tracking number")
    shop.advance(timedelta(minutes=40))
    shop.set_tracking(orders.zofia, "620555444333222111000999")
    sync("…and the number is typed in later")


def _parcels_arrive(shop: Shop, sync: Sync, orders: _Orders) -> None:
    """Both parcels are delivered; two weeks later the review requests go (where consent was given)."""
    shop.advance(timedelta(days=2))
    shop.change_state(orders.zofia, 5)
    shop.change_state(orders.emily, 5)
    shop.advance(timedelta(minutes=1))
    sync("both parcels delivered")
    shop.advance(timedelta(hours=5))
    first_line = shop.order_details(orders.zofia)[0]
    shop.issue_credit_slip(orders.zofia, [(int(first_line["id"]), 1)])
    shop.advance(timedelta(minutes=1))
    sync("one of Zofia's items is refunded: a credit slip")
    sync("a sync with nothing new")

    shop.advance(timedelta(days=7))
    sync("a quiet week")
    shop.advance(timedelta(days=7, minutes=5))
    sync("two weeks later: review requests (Emily gave no consent)")


def _terms_change(shop: Shop, sync: Sync, bridge: Bridge) -> None:
    """The shop's terms change: the owner is told, then (as `bridge notify-terms --yes`) every account."""
    shop.advance(timedelta(days=1))
    shop.edit_cms_page(3, NEW_TERMS)
    shop.advance(timedelta(minutes=1))
    sync("the shop's terms change: the owner is told")
    list(notify_terms(bridge.client, bridge.store, bridge.settings, bridge.clock, yes=True))
    sync("`bridge notify-terms --yes`: every account holder is told")


def _three_weeks_later(shop: Shop, sync: Sync, bridge: Bridge, *, start: datetime, say: Say) -> None:
    """A new product goes on sale (the day's digest tells the subscribers) and the owner sends a campaign
    with a personal code each; the next morning, three weeks after the start, brings a birthday and a
    win-back. Fixed shop-local hours, so the story is the same whatever time the demo starts."""
    morning = datetime.combine(start.date() + timedelta(days=21), time(10, 5))
    zone = ZoneInfo(str(shop.state.config("PS_TIMEZONE")))
    evening = (morning - timedelta(hours=19)).replace(tzinfo=zone)
    shop.advance(evening - bridge.clock.now())
    product = shop.add_product(
        {"pl": "Dzbanek „Poranek”", "en": "“Morning” jug"},
        net_from_gross("149.00", 23),
        tax_rate=23,
        reference="DZB-POR",
        short_descriptions={
            "pl": "Ręcznie toczony dzbanek na 1 litr, szkliwo w kolorze porannej mgły.",
            "en": "A hand-thrown one-litre jug in a morning-mist glaze.",
        },
    )
    shop.state.update("products", product, id_default_image=product)
    shop.advance(timedelta(minutes=1))
    sync("a new jug goes on sale: the day's new-product digest")
    campaign = Path(bridge.settings.state_dir) / "spring-sale.toml"
    write_private(campaign, CAMPAIGN)
    lines = list(
        send_campaign(bridge.client, bridge.store, bridge.settings, bridge.clock, campaign, yes=True)
    )
    for line in lines[:3]:
        say(f"      {line}")
    sync("`bridge campaign send spring-sale.toml --yes`")
    shop.advance(morning.replace(tzinfo=zone) - bridge.clock.now())
    sync("next morning: a birthday, and a win-back with a code")


def _tell_emails_written(say: Say, emails: Path, rows: list[OutboxRow]) -> None:
    say("")
    say(f"{len(rows)} emails written to {emails}/ — open {emails / 'index.html'} in a browser.")
    width = max((len(row.kind) for row in rows), default=0)
    for row in sorted(rows, key=lambda r: (r.sent_at, r.id)):
        say(f"  {row.order_reference or '':<10} {row.language}  {row.kind:<{width}} → {row.recipient_email}")
