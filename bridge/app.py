"""Builds the bridge's adapters from the settings, in one place (the composition root).

Every adapter is built from the settings and nothing else: there is no fallback to the embedded demo shop.
A command that reads the shop without a PRESTASHOP_URL stops before it writes anything (`require_shop`);
the demo shop runs only inside `bridge demo` and the tests, which point their settings at it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from bridge.clock import Clock
from bridge.config import Settings
from bridge.config.shop import no_shop_message
from bridge.delivery.invoices import InvoiceAttacher
from bridge.delivery.marketing import MarketingGate
from bridge.delivery.transports import Transport, build_transport
from bridge.errors import ConfigError
from bridge.mail.render import Renderer, get_renderer
from bridge.secret import Secret
from bridge.shop.client import ShopClient
from bridge.state.store import Store, open_store


def require_shop(settings: Settings) -> tuple[str, Secret]:
    """The configured shop's address and key; a ConfigError (exit 78) naming PRESTASHOP_URL without one.

    Commands that read the shop call it before they take a lock or open the store, so a missing setting
    leaves nothing behind (no state folder, no baseline of some other shop).
    """
    if settings.prestashop_url is None:
        raise ConfigError(no_shop_message(settings.env_file))
    if settings.prestashop_api_key is None:  # the settings refuse this; kept for settings built by hand
        raise ConfigError("PRESTASHOP_API_KEY: required when PRESTASHOP_URL is set")
    return settings.prestashop_url, settings.prestashop_api_key


def shop_client(settings: Settings) -> ShopClient:
    """A webservice client for the configured shop."""
    base_url, key = require_shop(settings)
    return ShopClient(
        base_url,
        key,
        timeout=settings.prestashop_timeout.total_seconds(),
        retries=settings.prestashop_retries,
        timezone=settings.shop_timezone,
        deadline=settings.prestashop_deadline.total_seconds(),
        max_body=settings.prestashop_max_body,
    )


@contextmanager
def open_shop(settings: Settings) -> Iterator[ShopClient]:
    """The configured shop's client, closed afterwards."""
    with shop_client(settings) as client:
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
    invoices: InvoiceAttacher | None = None  # None unless INVOICE_ATTACH=yes


@contextmanager
def open_bridge(settings: Settings, clock: Clock) -> Iterator[Bridge]:
    """Open the shop client, the state store and the mail transport; close them all afterwards.

    The shop is required first: without one, no store is created.
    """
    with ExitStack() as stack:
        client = stack.enter_context(open_shop(settings))
        store = stack.enter_context(open_store(settings.database_url))
        transport = build_transport(settings)
        stack.callback(transport.close)
        marketing = None
        if settings.marketing_enabled:
            # Its own client: delivery runs in another thread than the poll in `bridge run`.
            marketing = MarketingGate(settings, store, stack.enter_context(client.copy()))
        invoices = None
        if settings.invoice_attach:  # delivery's own client too: the PDF is fetched at send time
            invoices = InvoiceAttacher.from_settings(settings, stack.enter_context(client.copy()))
        renderer = get_renderer(settings.templates_dir)
        yield Bridge(settings, clock, client, store, transport, renderer, marketing, invoices)
