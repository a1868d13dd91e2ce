"""Builds the bridge's adapters from the settings, in one place (the composition root).

The demo shop lives here too: with no PRESTASHOP_URL, `open_shop` starts the embedded simulator on
127.0.0.1 and points the client at it, so every command works on a fresh machine with no configuration.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from bridge.clock import Clock, ManualClock, SystemClock
from bridge.config import Settings
from bridge.delivery.marketing import MarketingGate
from bridge.delivery.transports import Transport, build_transport
from bridge.errors import ConfigError
from bridge.mail.render import Renderer, get_renderer
from bridge.secret import Secret
from bridge.shop.client import ShopClient
from bridge.simulator import DEMO_API_KEY, Simulator
from bridge.simulator.actions import Shop
from bridge.simulator.demo_shop import build_demo_shop
from bridge.state.store import Store, open_store

log = logging.getLogger(__name__)


@dataclass
class DemoShop:
    """The embedded demo shop: its actions (to make things happen) and the server that answers for it."""

    shop: Shop
    server: Simulator


@contextmanager
def demo_shop(clock: ManualClock | None = None) -> Iterator[DemoShop]:
    """Start the embedded demo shop on a free port of 127.0.0.1 for as long as the block runs."""
    shop = build_demo_shop(clock if clock is not None else ManualClock(SystemClock().now()))
    server = Simulator(shop.state, flavour="8.1", api_key=DEMO_API_KEY)
    # The demo key is set up the way the README tells owners to: GET (and HEAD) only.
    server.add_key(DEMO_API_KEY, {name: ("GET", "HEAD") for name in server.resource_names()})
    with server:
        log.debug("demo shop running at %s", server.url)
        yield DemoShop(shop=shop, server=server)


def shop_client(settings: Settings, *, url: str | None = None, api_key: Secret | None = None) -> ShopClient:
    """A webservice client configured from the settings (or for the demo shop at `url`)."""
    base_url = url or settings.prestashop_url
    key = api_key or settings.prestashop_api_key
    if not base_url or key is None:
        raise ConfigError("PRESTASHOP_URL and PRESTASHOP_API_KEY are needed to reach a shop")
    return ShopClient(
        base_url,
        key,
        timeout=settings.prestashop_timeout.total_seconds(),
        retries=settings.prestashop_retries,
        timezone=settings.shop_timezone,
    )


@contextmanager
def open_shop(settings: Settings, *, demo: DemoShop | None = None) -> Iterator[ShopClient]:
    """The configured shop's client; in demo mode, a client for the embedded demo shop."""
    if not settings.demo:
        with shop_client(settings) as client:
            yield client
        return
    if demo is not None:
        with shop_client(settings, url=demo.server.url, api_key=Secret(DEMO_API_KEY)) as client:
            yield client
        return
    with (
        demo_shop() as running,
        shop_client(settings, url=running.server.url, api_key=Secret(DEMO_API_KEY)) as client,
    ):
        yield client


@dataclass
class Bridge:
    """Everything one sync cycle needs, opened from the settings."""

    settings: Settings
    clock: Clock
    client: ShopClient
    store: Store
    transport: Transport
    renderer: Renderer
    marketing: MarketingGate | None = None  # None while marketing mail is off (no UNSUBSCRIBE_URL)


@contextmanager
def open_bridge(settings: Settings, clock: Clock, *, demo: DemoShop | None = None) -> Iterator[Bridge]:
    """Open the state store, the shop client and the mail transport; close them all afterwards."""
    with ExitStack() as stack:
        store = stack.enter_context(open_store(settings.database_url))
        client = stack.enter_context(open_shop(settings, demo=demo))
        transport = build_transport(settings)
        stack.callback(transport.close)
        marketing = None
        if settings.marketing_enabled:
            # Its own client: delivery runs in another thread than the poll in `bridge run`.
            marketing = MarketingGate(settings, store, stack.enter_context(client.copy()))
        yield Bridge(
            settings, clock, client, store, transport, get_renderer(settings.templates_dir), marketing
        )
