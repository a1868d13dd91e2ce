"""Typed reads of what orders and carts point at (customers, addresses, countries, carriers, products) and
the shop's short lists (languages, currencies), looked up by id in batches so a context costs few requests."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Final

from bridge.model.records import Address, Carrier, Country, Currency, Customer, Language, Product
from bridge.shop.parse import (
    parse_address,
    parse_carrier,
    parse_country,
    parse_currency,
    parse_customer,
    parse_language,
    parse_product,
)
from bridge.shop.query import Query, equals, is_filterable
from bridge.shop.reader import ShopReader

# What marketing reads of a customer: who they are, their language, their consent and whether the account
# may be written to (campaigns' audience, the new-product digest's subscribers).
CONSENT_FIELDS: Final = (
    "id",
    "id_lang",
    "email",
    "firstname",
    "lastname",
    "newsletter",
    "newsletter_date_add",
    "optin",
    "active",
    "is_guest",
    "deleted",
)


def customer_batches(
    client: ShopReader, query: Query, *, after_id: int = 0, batch: int
) -> Iterator[list[Customer]]:
    """The customers `query` matches past `after_id`, in id order, `batch` at a time (one request each): a
    50,000-customer shop is never held in memory whole."""
    last = after_id
    zone = client.shop_timezone()
    while True:
        rows = client.rows_after("customers", query, last, limit=batch, page=batch)
        if not rows:
            return
        found = [parse_customer(row, tz=zone) for row in rows]
        yield found
        last = max(c.id for c in found)
        if len(rows) < batch:
            return


class LookupReads(ShopReader):
    """Customers, addresses, countries, carriers and products by id; the languages and currencies."""

    def customers(self, ids: Iterable[int]) -> list[Customer]:
        return self._parse(self._pager.get_by_ids("customers", ids), parse_customer)

    def customers_with_email(self, email: str) -> list[Customer]:
        """Every account with this address: a guest checkout and a later account often share one, and the
        newest one's consent is the person's latest word. Empty when the address cannot be a filter value
        (the grammar has no escape for `[]|,%`)."""
        address = email.strip()
        if not address or not is_filterable(address):
            return []
        rows = list(self._pager.list_raw("customers", Query(filters={"email": equals(address)}), limit=50))
        found = self._parse(rows, parse_customer)
        return [c for c in found if c.email.strip().casefold() == address.casefold()]

    def addresses(self, ids: Iterable[int]) -> list[Address]:
        return self._parse(self._pager.get_by_ids("addresses", ids), parse_address)

    def countries(self, ids: Iterable[int], *, language: int | None = None) -> list[Country]:
        rows = self._pager.get_by_ids("countries", ids, query=Query(language=language))
        return self._parse(rows, parse_country, language)

    def currencies(self) -> list[Currency]:
        return self._parse(self._pager.list_raw("currencies", Query()), parse_currency)

    def languages(self) -> list[Language]:
        return self._parse(self._pager.list_raw("languages", Query()), parse_language)

    def carriers(self, ids: Iterable[int], *, language: int | None = None) -> list[Carrier]:
        rows = self._pager.get_by_ids("carriers", ids, query=Query(language=language))
        return self._parse(rows, parse_carrier, language)

    def products(
        self,
        *,
        ids: Iterable[int] | None = None,
        after_id: int | None = None,
        language: int | None = None,
        limit: int | None = None,
    ) -> list[Product]:
        """Products by id, or created after an id (the new-products feed)."""
        query = Query(language=language)
        rows = self._pager.select("products", query, ids=ids, after_id=after_id, limit=limit)
        return self._parse(rows, parse_product, language)
