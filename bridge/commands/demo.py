"""`bridge demo`: the whole story on the embedded demo shop, over a few simulated days.

Customers order, pay, and receive their parcels in the demo shop while the bridge syncs after each
step, exactly as `bridge sync` would against a real shop. Emails go to a folder (never to the
network) with an index.html to open in a browser.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from datetime import timedelta
from email.headerregistry import Address
from pathlib import Path

from bridge.app import demo_shop, open_bridge
from bridge.clock import ManualClock, SystemClock
from bridge.config import Settings
from bridge.simulator.actions import PostalAddress
from bridge.simulator.demo_shop import MUG, MUG_COBALT, PLATE, SHOP_DOMAIN, SHOP_EMAIL, SHOP_NAME, TEA, VASE
from bridge.state.outbox import Status, list_rows
from bridge.sync import sync_once

Say = Callable[[str], None]


def run_demo(settings: Settings, output: Path, say: Say) -> int:
    """Play the story; returns the number of emails written."""
    if output.exists():
        shutil.rmtree(output)
    emails = output / "emails"
    settings = dataclasses.replace(
        settings,
        mail_transport="file",
        mail_file_dir=emails,
        state_dir=output / "state",
        database_url=f"sqlite:///{output / 'state' / 'bridge.sqlite3'}",
        mail_from=Address(SHOP_NAME, addr_spec=SHOP_EMAIL),
        # Marketing mail on, as an owner turns it on; the demo's links point at the demo shop's domain.
        unsubscribe_url=settings.unsubscribe_url or f"https://{SHOP_DOMAIN}/bridge-unsubscribe",
    )
    clock = ManualClock(SystemClock().now().replace(microsecond=0))
    with demo_shop(clock) as demo, open_bridge(settings, clock, demo=demo) as bridge:
        shop = demo.shop

        def sync(title: str) -> None:
            summary = sync_once(
                bridge.client, bridge.store, bridge.transport, bridge.renderer, settings, clock
            )
            say(f"  {shop.now():%a %d %b %H:%M}  {title:<52} → {summary.line()}")

        say(
            f"Demo shop: {shop.state.config('PS_SHOP_NAME')} at {demo.server.url} (PrestaShop 8.1 webservice)"
        )
        sync("the bridge starts: first sync")

        shop.advance(timedelta(minutes=50))
        marek = shop.register_customer(
            "Marek",
            "Nowak",
            "marek.nowak@example.com",
            newsletter=True,
            address=PostalAddress("ul. Piotrkowska 120", "90-006", "Łódź", phone="+48 600 300 400"),
        )
        marek_cart = shop.create_cart(marek.customer_id, [(VASE, 1), (TEA, 2)], carrier_id=2)
        shop.advance(timedelta(hours=1, minutes=10))
        zofia = shop.register_customer(
            "Zofia",
            "Wiśniewska",
            "zofia.wisniewska@example.com",
            newsletter=True,
            address=PostalAddress("ul. Floriańska 3", "31-019", "Kraków", phone="+48 600 100 200"),
        )
        cart = shop.create_cart(zofia.customer_id, [(MUG, 2, MUG_COBALT), (PLATE, 4)], carrier_id=2)
        order_zofia = shop.place_order(cart, "ps_wirepayment")
        shop.advance(timedelta(minutes=7))
        emily = shop.register_customer(
            "Emily",
            "Clarke",
            "emily.clarke@example.co.uk",
            language="en",
            address=PostalAddress("14 Hanover Street", "EH2 2EQ", "Edinburgh", country="GB"),
        )
        cart = shop.create_cart(emily.customer_id, [(VASE, 1), (TEA, 1)], currency="EUR", carrier_id=4)
        order_emily = shop.place_order(cart, "przelewy24")
        shop.advance(timedelta(minutes=1))
        sync("Zofia pays by bank transfer, Emily by card; Marek's cart waits")

        shop.advance(timedelta(hours=3))
        shop.place_order(marek_cart, "przelewy24")
        shop.advance(timedelta(minutes=1))
        sync("Marek comes back and orders: no more reminders")

        shop.advance(timedelta(hours=20))
        shop.change_state(order_zofia, 2)
        shop.advance(timedelta(minutes=1))
        sync("Zofia's transfer arrives: payment accepted")

        shop.advance(timedelta(hours=3))
        shop.change_state(order_zofia, 3)
        shop.change_state(order_emily, 3)
        shop.set_tracking(order_emily, "RR123456785PL")
        shop.change_state(order_emily, 4)
        shop.advance(timedelta(minutes=1))
        sync("both orders packed, Emily's shipped with tracking")

        shop.advance(timedelta(hours=22))
        shop.change_state(order_zofia, 4)
        shop.advance(timedelta(minutes=1))
        sync("Zofia's parcel leaves without a tracking number")
        shop.advance(timedelta(minutes=40))
        shop.set_tracking(order_zofia, "620555444333222111000999")
        sync("…and the number is typed in later")

        shop.advance(timedelta(days=2))
        shop.change_state(order_zofia, 5)
        shop.change_state(order_emily, 5)
        shop.advance(timedelta(minutes=1))
        sync("both parcels delivered")
        sync("a sync with nothing new")

        shop.advance(timedelta(days=14, minutes=5))
        sync("two weeks later: review requests (Emily gave no consent)")

        rows = [row for row in list_rows(bridge.store, limit=500) if row.status is Status.SENT]
    say("")
    say(f"{len(rows)} emails written to {emails}/ — open {emails / 'index.html'} in a browser.")
    for row in sorted(rows, key=lambda r: (r.sent_at, r.id)):
        say(f"  {row.order_reference or '':<10} {row.language}  {row.kind:<20} → {row.recipient_email}")
    return len(rows)
