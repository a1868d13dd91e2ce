"""What tells one shop from another through its webservice: its first order, which never changes, and the
domain and name settings, which survive a change of URL. `bridge.cycle.belongs` compares them with what a
state store recorded."""

from __future__ import annotations

from typing import Final

from bridge.model.cursors import ShopFingerprint
from bridge.shop.client import ShopClient
from bridge.shop.query import Query

SETTINGS: Final = ("PS_SHOP_DOMAIN", "PS_SHOP_DOMAIN_SSL", "PS_SHOP_NAME")
_FIRST_ORDER: Final = Query(display=("id", "reference", "date_add"), sort=("id_ASC",))


def first_order(client: ShopClient) -> tuple[str, str]:
    """The shop's first order: its reference and its `date_add` as the shop wrote it (wall-clock text, so
    no time zone is needed to read it); two empty strings when the shop has no order. One small request."""
    for row in client.list_raw("orders", _FIRST_ORDER, limit=1):
        return str(row.get("reference") or "").strip(), str(row.get("date_add") or "").strip()
    return "", ""


def shop_names(client: ShopClient) -> dict[str, str]:
    """The fingerprint's domain and name fields, from the shop's settings (one request)."""
    values = client.configuration(SETTINGS)
    return {
        "domain": (values.get("PS_SHOP_DOMAIN") or "").strip(),
        "domain_ssl": (values.get("PS_SHOP_DOMAIN_SSL") or "").strip(),
        "name": (values.get("PS_SHOP_NAME") or "").strip(),
    }


def read_fingerprint(client: ShopClient) -> ShopFingerprint:
    """The fingerprint of the shop `client` reads (two small requests)."""
    reference, added = first_order(client)
    return ShopFingerprint(
        url=client.base_url, first_order_reference=reference, first_order_added=added, **shop_names(client)
    )
