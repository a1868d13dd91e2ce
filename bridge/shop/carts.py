"""Typed reads for cart reminders: carts changed in a window, whether their customers ordered since, and the
products of their lines priced by the shop itself, so a reminder shows what the shop would charge."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Final
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from bridge.model.records import Cart, CartProduct, Order
from bridge.shop.paging import ID_CHUNK, raw_id
from bridge.shop.parse import parse_cart, parse_cart_product, parse_order
from bridge.shop.query import FAR_FUTURE, Query, between, greater_than, one_of
from bridge.shop.reader import ShopReader

# The whole query string of a priced product read (ids, display and `price[...]` parameters).
MAX_QUERY_CHARS: Final = 6000

# What a cart reminder shows of a product (the `price[...]` aliases are added to it).
_CART_PRODUCT_FIELDS: Final = ("id", "name", "link_rewrite", "id_default_image", "active")
_CART_FIELDS_LIGHT: Final = ("id", "id_customer", "id_currency", "id_lang", "date_add", "date_upd")
_PLACED_ORDER_FIELDS: Final = ("id", "id_cart", "id_customer", "date_add")


class CartReads(ShopReader):
    """Carts, the orders that end a reminder series, and cart lines' products with the shop's prices."""

    def carts(
        self,
        *,
        ids: Iterable[int] | None = None,
        after_id: int | None = None,
        changed_since: datetime | None = None,
        changed_until: datetime | None = None,
        limit: int | None = None,
    ) -> list[Cart]:
        """Carts by id, after an id, or changed in [since, until] (the abandoned-cart window)."""
        rows = self._pager.select(
            "carts",
            Query(),
            ids=ids,
            after_id=after_id,
            changed_since=changed_since,
            changed_until=changed_until,
            limit=limit,
        )
        return self._parse(rows, parse_cart)

    def carts_changed(self, since: datetime, until: datetime | None = None) -> list[Cart]:
        """Carts of known customers (`id_customer` > 0) whose `date_upd` is in [since, until], oldest change
        first (then by id), paged. Light records: ids, language, currency and dates; no rows."""
        query = Query(display=_CART_FIELDS_LIGHT, filters={"id_customer": greater_than(0)})
        rows = self._pager.changed_since("carts", query, "date_upd", since, until, None)
        return self._parse(rows, parse_cart)

    def orders_placed_by(self, customer_ids: Iterable[int], since: datetime) -> list[Order]:
        """Orders these customers placed at or after `since` (a reminder stops once the customer ordered,
        from any cart). Only `id`, `id_cart`, `id_customer` and `date_add` are read; the rest of each record
        holds zero values. Batched as `filter[id_customer]=[1|2|...]`, in id order."""
        query = Query(
            display=_PLACED_ORDER_FIELDS,
            filters={"date_add": between(since, FAR_FUTURE)},
        )
        rows = self._pager.get_by_ids("orders", customer_ids, query=query, field_name="id_customer")
        return sorted(self._parse(rows, parse_order), key=lambda order: order.id)

    def cart_products(self, lines: Iterable[tuple[int, int]], *, currency_id: int) -> dict[int, CartProduct]:
        """Products of cart lines `(product_id, combination_id)`, priced by the shop tax included in
        `currency_id`, by product id. Products the shop no longer has are absent.

        The prices are PrestaShop's own (`price[pN][...]` virtual fields, one alias per distinct combination
        id, 6 decimals), so tax rules and currency rates are the shop's. Up to 100 products per request,
        fewer when the aliases would make the URL too long.
        """
        wanted = sorted(
            {(int(product), max(0, int(attribute))) for product, attribute in lines if product > 0}
        )
        found: dict[int, CartProduct] = {}
        for batch in self._price_batches(wanted, currency_id):
            aliases = {f"p{attribute}": attribute for attribute in sorted({a for _, a in batch})}
            asked: dict[int, set[int]] = {}
            for product, attribute in batch:
                asked.setdefault(product, set()).add(attribute)
            params = self._priced_params(sorted(asked), aliases, currency_id)
            for row in self._pager.list_page("products", params):
                product_id = raw_id("products", row)
                fields = {alias: a for alias, a in aliases.items() if a in asked.get(product_id, set())}
                # No date is read here, so the shop's time zone (one more request) is not needed.
                record = parse_cart_product(row, tz=ZoneInfo("UTC"), price_fields=fields)
                earlier = found.get(product_id)
                if earlier is not None:
                    record = dataclasses.replace(record, prices={**earlier.prices, **record.prices})
                found[product_id] = record
        return found

    def _priced_params(
        self, product_ids: Sequence[int], aliases: Mapping[str, int], currency_id: int
    ) -> list[tuple[str, str]]:
        query = Query(display=(*_CART_PRODUCT_FIELDS, *aliases), filters={"id": one_of(product_ids)})
        params = self._pager.params(query)
        for alias, attribute in aliases.items():
            # decimals is sent: its default is PS_PRICE_ROUND_MODE (2 on most shops), not 6.
            params.append((f"price[{alias}][use_tax]", "1"))
            params.append((f"price[{alias}][currency]", str(int(currency_id))))
            params.append((f"price[{alias}][decimals]", "6"))
            if attribute:
                params.append((f"price[{alias}][product_attribute]", str(attribute)))
        return params

    def _price_batches(
        self, lines: Sequence[tuple[int, int]], currency_id: int
    ) -> Iterator[list[tuple[int, int]]]:
        """Groups of lines whose priced read fits in one URL: at most ID_CHUNK products, MAX_QUERY_CHARS."""
        batch: list[tuple[int, int]] = []
        for line in lines:
            candidate = [*batch, line]
            products = sorted({product for product, _ in candidate})
            aliases = {f"p{a}": a for a in sorted({a for _, a in candidate})}
            size = len(urlencode(self._priced_params(products, aliases, currency_id)))
            if batch and (len(products) > ID_CHUNK or size > MAX_QUERY_CHARS):
                yield batch
                candidate = [line]
            batch = candidate
        if batch:
            yield batch
