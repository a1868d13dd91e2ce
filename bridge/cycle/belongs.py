"""A state store belongs to one shop: its cursors say where *that* shop stood, and resuming from them
against another shop would mail that shop's customers their old orders (issue 14: a store baselined against
the demo shop, then pointed at the real one, sent 30 old confirmations).

The first poll records the shop's fingerprint (`bridge.model.cursors.ShopFingerprint`); every process
checks it once, before its first poll plans, at the cost of one small request (the shop's first order).
The rule (`ShopFingerprint.same_shop`, docs/design.md §3.9): the first order decides, so a new URL for the
same shop is followed, and another shop is refused with exit 78 before anything is written or sent. A
store from before fingerprints has none: its next poll records one.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from bridge.config import Settings
from bridge.delivery.deliver import existing_store
from bridge.errors import ConfigError
from bridge.model.cursors import ShopFingerprint, shop_address
from bridge.shop.client import ShopClient
from bridge.shop.fingerprint import first_order, read_fingerprint, shop_names
from bridge.state import cursors
from bridge.state.store import Store

log = logging.getLogger(__name__)


class ForeignStoreError(ConfigError):
    """The state store was baselined against another shop: nothing may run on it (exit 78)."""


def confirm_shop(client: ShopClient, store: Store, settings: Settings, *, now: datetime) -> None:
    """Check that `store` belongs to the shop `client` reads, or record that it does when it records no
    shop yet. Raises ForeignStoreError (nothing written) for another shop's store, ShopError when the shop
    cannot be read."""
    with store.read() as conn:
        recorded = cursors.load(conn).fingerprint
    if recorded is None:
        _record(store, read_fingerprint(client), now=now)
        return
    reference, added = first_order(client)
    seen = replace(recorded, url=client.base_url, first_order_reference=reference, first_order_added=added)
    if seen == recorded:
        return  # the usual case: the same first order through the same URL
    current = replace(seen, **shop_names(client))
    if not recorded.same_shop(current):
        raise ForeignStoreError(refusal(recorded, current, store, settings))
    if current.address != recorded.address:
        log.info("same shop under a new address: %s (was %s)", current.url, recorded.url)
    _record(store, current, now=now)


def may_deliver_unconfirmed(store: Store, url: str) -> bool:
    """Before this process confirmed the shop: whether the store's emails may go out anyway. They may when
    the store records no shop, or this same address (a shop that is down must not hold up the owner's
    alert); not when it was polled through another address, which the first poll will judge."""
    with store.read() as conn:
        recorded = cursors.load(conn).fingerprint
    return recorded is None or recorded.address == shop_address(url)


def store_warning(client: ShopClient, settings: Settings) -> str | None:
    """For `bridge check`: one line when the configured state store belongs to another shop (None when it
    is this shop's, records no shop yet, or does not exist). Reads the shop, writes nothing."""
    with existing_store(settings) as store:
        if store is None:
            return None
        with store.read() as conn:
            recorded = cursors.load(conn).fingerprint
        if recorded is None:
            return None
        current = read_fingerprint(client)
        return None if recorded.same_shop(current) else refusal(recorded, current, store, settings)


def refusal(recorded: ShopFingerprint, current: ShopFingerprint, store: Store, settings: Settings) -> str:
    """The one line that says whose store it is, which shop is configured, and how to start afresh."""
    default_store = f"sqlite:///{settings.state_dir / 'bridge.sqlite3'}"
    fresh = "STATE_DIR" if settings.database_url == default_store else "DATABASE_URL"
    return (
        f"the state store {store.location} belongs to another shop: it was baselined against"
        f" {recorded.describe()}, and PRESTASHOP_URL points at {current.describe()}; to start a fresh"
        f" baseline for this shop (it sends nothing), point {fresh} at a new, empty place"
    )


def _record(store: Store, fingerprint: ShopFingerprint, *, now: datetime) -> None:
    with store.transaction() as conn:
        cursors.save_fingerprint(conn, fingerprint, now=now)
    log.debug("this state store belongs to %s", fingerprint.describe())
