"""Reads for the new-product digest: which live products changed in a window, what a digest shows of the new
ones, the shop's default currency, and the newsletter's subscribers a batch at a time.

A product has no "went on sale at" date: `date_add` is when it was created (perhaps as an inactive draft),
and `date_upd` moves with every save, the one that switched it on included. So the digest's read asks for
the live products (`active`, `visibility` both/catalog) whose `date_upd` fell since the last digest, ids and
dates only (one small request a day when little changed); the planner sorts out which of them are new. What
a digest shows is read only for the products it lists (two requests per 100), never one per product.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from bridge.model.new_products import LIVE_VISIBILITY, LiveProduct, ProductNews
from bridge.model.records import Customer, Multilingual
from bridge.shop.client import ShopClient
from bridge.shop.lookups import CONSENT_FIELDS
from bridge.shop.parse import parse_customer, parse_product
from bridge.shop.query import Query, between, equals, one_of
from bridge.shop.threads import int_field

RESOURCE: Final = "products"
BATCH: Final = 500  # subscribers per request, and per transaction when their digests are queued
_LIVE: Final = {"active": equals(1), "visibility": one_of(LIVE_VISIBILITY)}
_STAMP_FIELDS: Final = ("id", "date_add", "date_upd")
_DETAIL_FIELDS: Final = ("id", "name", "description_short", "id_default_image", "show_price", "date_add")
_CURRENCY_KEYS: Final = ("PS_CURRENCY_DEFAULT", "PS_CATALOG_MODE", "PS_CATALOG_MODE_WITH_PRICES")


def live_product_ids(client: ShopClient) -> list[int]:
    """Every live product's id, 500 a request: the watch's baseline (what was on sale already)."""
    rows = client.rows_after(RESOURCE, Query(display=("id",), filters=_LIVE), 0)
    return [int_field(row, "id", RESOURCE) for row in rows]


def changed_live_products(client: ShopClient, since: datetime, until: datetime) -> list[LiveProduct]:
    """The live products whose `date_upd` is in [since, until] (whole seconds, shop time), in id order."""
    query = Query(display=_STAMP_FIELDS, filters={**_LIVE, "date_upd": between(since, until)})
    zone = client.shop_timezone()
    found = []
    for row in client.rows_after(RESOURCE, query, 0):
        product = parse_product(row, tz=zone)
        found.append(LiveProduct(product.id, product.date_add, product.date_upd))
    return found


def shop_prices(client: ShopClient) -> tuple[int, bool]:
    """The shop's default currency, and whether it shows prices (not in catalogue mode without them)."""
    values = client.configuration(_CURRENCY_KEYS)
    currency = (values.get("PS_CURRENCY_DEFAULT") or "").strip()
    catalogue = (values.get("PS_CATALOG_MODE") or "").strip() == "1"
    with_prices = (values.get("PS_CATALOG_MODE_WITH_PRICES") or "").strip() == "1"
    return (int(currency) if currency.isdigit() else 0), not catalogue or with_prices


def product_news(
    client: ShopClient, ids: Iterable[int], *, currency_id: int, prices: bool
) -> dict[int, ProductNews]:
    """What the digest shows of these products, by id: names and short descriptions in every language, the
    cover image, and the price tax included in `currency_id` as the shop computes it (None when the shop
    or the product hides prices, or the currency is unknown). A product the shop no longer has is absent."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = client.get_by_ids(RESOURCE, wanted, query=Query(display=_DETAIL_FIELDS))
    priced = client.cart_products([(i, 0) for i in wanted], currency_id=currency_id) if prices else {}
    zone = client.shop_timezone()
    found = {}
    for row in rows:
        product = parse_product(row, tz=zone)
        price = priced[product.id].prices.get(0) if product.id in priced else None
        shown = prices and currency_id > 0 and int_field(row, "show_price", RESOURCE) == 1
        found[product.id] = ProductNews(
            id=product.id,
            names=product.name,
            descriptions=_multilingual(row, "description_short", zone),
            id_default_image=product.id_default_image,
            price=price if shown else None,
            date_add=product.date_add,
        )
    return found


def _multilingual(row: Mapping[str, Any], field: str, zone: ZoneInfo) -> Multilingual:
    """One more multilingual field of a product row, through the one parser that knows their shapes."""
    return parse_product({"id": row.get("id"), "name": row.get(field)}, tz=zone).name


def subscribers(client: ShopClient, *, after_id: int, optin: bool) -> list[Customer]:
    """The next BATCH customers past `after_id` (id order) who subscribed to the newsletter and whose
    account is active and not deleted; with `optin`, only those who also ticked the partners' offers
    (MARKETING_CONSENT without `newsletter`). Guests who subscribed at checkout count: they asked for it."""
    filters = {"newsletter": equals(1), "active": equals(1), "deleted": equals(0)}
    if optin:
        filters["optin"] = equals(1)
    query = Query(display=CONSENT_FIELDS, filters=filters)
    rows = client.rows_after("customers", query, after_id, limit=BATCH, page=BATCH)
    zone = client.shop_timezone()
    return [parse_customer(row, tz=zone) for row in rows]
