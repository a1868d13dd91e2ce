"""Reads for the birthday and win-back emails, each asked so that its cost follows the day's news, never the
size of the shop:

- the customers born on a day: the webservice's LIKE filter on `birthday` (`filter[birthday]=%[-12-07]`,
  which PrestaShop writes as `birthday LIKE '%-12-07'`), never every customer;
- the valid orders placed in one shop-local day, then the later orders of those customers (one batched
  request per hundred customers: `bridge.shop.carts.CartReads.orders_placed_by`);
- customers by id.

Only the fields the emails and the consent check need are asked for (`display=[…]`): never a password hash,
a secure key or a reset token.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any, Final

from bridge.model.automations import Celebrant
from bridge.model.records import Customer, Order
from bridge.shop.client import ShopClient
from bridge.shop.parse import parse_customer
from bridge.shop.query import Query, between, ends_with, equals

CUSTOMER_FIELDS: Final = (
    "id",
    "id_lang",
    "email",
    "firstname",
    "lastname",
    "id_gender",
    "newsletter",
    "newsletter_date_add",
    "optin",
    "is_guest",
    "active",
    "deleted",
    "date_add",
    "date_upd",
)
ORDER_FIELDS: Final = ("id", "id_customer", "reference", "date_add", "valid")


def born_on(client: ShopClient, month_day: str) -> list[Celebrant]:
    """The customers whose birthday ends with `month_day` (`-12-07`), whatever the year."""
    query = Query(display=(*CUSTOMER_FIELDS, "birthday"), filters={"birthday": ends_with(month_day)})
    zone = client.shop_timezone()
    return [
        Celebrant(parse_customer(row, tz=zone), birthday_of(row))
        for row in client.list_raw("customers", query)
    ]


def customers(client: ShopClient, ids: Iterable[int]) -> list[Customer]:
    """Customers by id, batched (`filter[id]=[1|2|3]`)."""
    zone = client.shop_timezone()
    rows = client.get_by_ids("customers", ids, query=Query(display=CUSTOMER_FIELDS))
    return [parse_customer(row, tz=zone) for row in rows]


def valid_orders_placed(client: ShopClient, start: datetime, end: datetime) -> list[Order]:
    """The valid (paid) orders placed in [start, end], both whole seconds; only ORDER_FIELDS are read."""
    query = Query(display=ORDER_FIELDS, filters={"date_add": between(start, end), "valid": equals(1)})
    return client.parse_orders(client.list_raw("orders", query))


def orders_since(client: ShopClient, customer_ids: Iterable[int], since: datetime) -> list[Order]:
    """Every order these customers placed at or after `since`, valid or not, in id order."""
    return client.orders_placed_by(customer_ids, since)


def birthday_of(row: Mapping[str, Any]) -> date | None:
    """The `birthday` field as a date; None for PrestaShop's `0000-00-00` (not given) or anything else that
    is not a date."""
    raw = row.get("birthday")
    if not isinstance(raw, str):
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        return None
