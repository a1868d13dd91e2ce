"""Reads a campaign's audience: every customer of the shop, a batch at a time, and the latest valid order
of the customers an order filter asks about, a batch of customers per request.

All customers are read (ids, language, address, names, consent fields, the account's flags), not only
those with consent: the dry run counts everyone left out, and why (bridge.plan.campaigns). Orders are
read for the customers still in the running only, as `filter[id_customer]=[1|2|…]` with the filters'
window and `valid=1`: never one request per customer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Final

from bridge.model.records import Customer
from bridge.shop.client import ShopClient
from bridge.shop.lookups import CONSENT_FIELDS, customer_batches
from bridge.shop.query import FAR_FUTURE, Query, between, equals
from bridge.shop.reader import ShopReader

BATCH: Final = 500  # customers per request, and per transaction in `bridge campaign send --yes`
_ORDER_FIELDS: Final = ("id", "id_customer", "date_add", "valid")


def customers(client: ShopReader, *, after_id: int = 0) -> Iterator[list[Customer]]:
    """Every customer past `after_id`, in id order, BATCH at a time: a 50,000-customer shop is never held in
    memory whole."""
    return customer_batches(client, Query(display=CONSENT_FIELDS), after_id=after_id, batch=BATCH)


def last_valid_orders(
    client: ShopClient, customer_ids: Iterable[int], since: datetime
) -> dict[int, datetime]:
    """Each customer's latest valid order placed at or after `since` (customers without one are absent)."""
    wanted = set(customer_ids)
    if not wanted:
        return {}
    query = Query(display=_ORDER_FIELDS, filters={"valid": equals(1), "date_add": between(since, FAR_FUTURE)})
    rows = client.get_by_ids("orders", sorted(wanted), query=query, field_name="id_customer")
    latest: dict[int, datetime] = {}
    for order in client.parse_orders(rows):
        if not order.valid or order.date_add is None or order.id_customer not in wanted:
            continue
        if order.id_customer not in latest or order.date_add > latest[order.id_customer]:
            latest[order.id_customer] = order.date_add
    return latest


def default_currency(client: ShopClient) -> str:
    """The ISO code of the shop's default currency (PS_CURRENCY_DEFAULT): what `amount` is in."""
    value = client.configuration(["PS_CURRENCY_DEFAULT"])["PS_CURRENCY_DEFAULT"] or ""
    currencies = {currency.id: currency for currency in client.currencies()}
    chosen = currencies.get(int(value)) if value.isdigit() else None
    if chosen is None and currencies:
        chosen = currencies[min(currencies)]
    return chosen.iso_code.upper() if chosen is not None else "EUR"
