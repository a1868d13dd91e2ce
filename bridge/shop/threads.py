"""Reads for the owner's alerts and the conversation pass: customer service threads and messages, and which
customers ordered before. The owner's watch and the conversation pass share one poll's reads of the new
messages and their threads (bridge.cycle.messages).

Every read is batched through the pager (`filter[field]=[1|2|3]`) and asks only for the fields it needs
(`display=[…]`): never a message's IP address or user agent, and a thread's token only where the one link
that needs it is written (`thread_tokens`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from bridge.errors import ShopResponseError
from bridge.model.threads import CustomerMessage, CustomerThread
from bridge.shop.parse import parse_shop_datetime
from bridge.shop.query import Query, between, greater_than
from bridge.shop.reader import ShopReader

THREAD_FIELDS: Final = ("id", "id_order", "id_customer", "id_contact", "email", "id_lang")
MESSAGE_FIELDS: Final = ("id", "id_customer_thread", "id_employee", "message", "private", "date_add")


def threads_of_orders(client: ShopReader, order_ids: Iterable[int]) -> list[CustomerThread]:
    """The customer threads about these orders (a checkout comment opens one)."""
    query = Query(display=THREAD_FIELDS)
    rows = client.get_by_ids("customer_threads", order_ids, query=query, field_name="id_order")
    return [_thread(row) for row in rows]


def threads(client: ShopReader, thread_ids: Iterable[int]) -> list[CustomerThread]:
    rows = client.get_by_ids("customer_threads", thread_ids, query=Query(display=THREAD_FIELDS))
    return [_thread(row) for row in rows]


def thread_tokens(client: ShopReader, thread_ids: Iterable[int]) -> dict[int, str]:
    """Each thread's token, for the one link that needs it: the customer's way back into the conversation
    (PrestaShop's own reply email links the contact page with it). Never kept on a CustomerThread."""
    rows = client.get_by_ids("customer_threads", thread_ids, query=Query(display=("id", "token")))
    return {int_field(row, "id", "customer_threads"): text_field(row, "token") for row in rows}


def messages_of_threads(client: ShopReader, thread_ids: Iterable[int]) -> list[CustomerMessage]:
    query = Query(display=MESSAGE_FIELDS)
    rows = client.get_by_ids("customer_messages", thread_ids, query=query, field_name="id_customer_thread")
    return [_message(client, row) for row in rows]


def messages_after(client: ShopReader, after_id: int) -> list[CustomerMessage]:
    """Messages with an id past `after_id`, oldest first (an idle poll: one small request)."""
    query = Query(display=MESSAGE_FIELDS, filters={"id": greater_than(after_id)})
    return [_message(client, row) for row in client.list_raw("customer_messages", query)]


def order_references(client: ShopReader, order_ids: Iterable[int]) -> dict[int, str]:
    query = Query(display=("id", "reference"))
    rows = client.get_by_ids("orders", order_ids, query=query)
    return {int_field(row, "id", "orders"): text_field(row, "reference") for row in rows}


def orders_placed(client: ShopReader, start: datetime, end: datetime) -> list[tuple[int, Decimal]]:
    """(currency id, total paid tax incl.) of every order placed in [start, end] (both whole seconds)."""
    query = Query(
        display=("id", "id_currency", "total_paid_tax_incl"), filters={"date_add": between(start, end)}
    )
    found = []
    for row in client.list_raw("orders", query):
        try:
            total = Decimal(text_field(row, "total_paid_tax_incl") or "0")
        except InvalidOperation:
            raise ShopResponseError(f"orders #{row.get('id')}: total_paid_tax_incl is not a number") from None
        found.append((int_field(row, "id_currency", "orders"), total))
    return found


def customers_with_orders_before(client: ShopReader, orders: Mapping[int, int]) -> frozenset[int]:
    """Of `orders` (order id → customer id), the orders whose customer had placed an earlier order."""
    query = Query(display=("id", "id_customer"))
    rows = client.get_by_ids("orders", set(orders.values()), query=query, field_name="id_customer")
    first: dict[int, int] = {}
    for row in rows:
        customer, order_id = int_field(row, "id_customer", "orders"), int_field(row, "id", "orders")
        first[customer] = min(first.get(customer, order_id), order_id)
    return frozenset(oid for oid, customer in orders.items() if first.get(customer, oid) < oid)


def _thread(row: Mapping[str, Any]) -> CustomerThread:
    return CustomerThread(
        id=int_field(row, "id", "customer_threads"),
        id_order=int_field(row, "id_order", "customer_threads"),
        id_customer=int_field(row, "id_customer", "customer_threads"),
        id_contact=int_field(row, "id_contact", "customer_threads"),
        email=text_field(row, "email"),
        id_lang=int_field(row, "id_lang", "customer_threads"),
    )


def _message(client: ShopReader, row: Mapping[str, Any]) -> CustomerMessage:
    return CustomerMessage(
        id=int_field(row, "id", "customer_messages"),
        id_customer_thread=int_field(row, "id_customer_thread", "customer_messages"),
        id_employee=int_field(row, "id_employee", "customer_messages"),
        message=text_field(row, "message"),
        private=int_field(row, "private", "customer_messages") != 0,
        date_add=parse_shop_datetime(text_field(row, "date_add") or None, client.shop_timezone()),
    )


def int_field(row: Mapping[str, Any], field: str, resource: str) -> int:
    """A webservice int: a number or a digit string; a falsy field may be dropped (0)."""
    value = row.get(field, 0)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    text = str(value).strip() if value is not None else ""
    if text in ("", "false"):
        return 0
    if text == "true":
        return 1
    if not text.lstrip("-").isdigit() or len(text) > 20:
        raise ShopResponseError(f"{resource} #{row.get('id')}: {field} is not a whole number")
    return int(text)


def text_field(row: Mapping[str, Any], field: str) -> str:
    value = row.get(field)
    return "" if value is None or isinstance(value, (dict, list)) else str(value)
