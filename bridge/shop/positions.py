"""Where the shop's append-only resources stand: the last id, the first id since a date, the ids just
behind a position. The first run and `bridge sync --since` place the cursors with these."""

from __future__ import annotations

from datetime import datetime

from bridge.shop.client import ShopClient
from bridge.shop.query import FAR_FUTURE, Query, between

RESOURCES = ("order_histories", "orders", "order_payments")


def last_id(client: ShopClient, resource: str) -> int:
    rows = list(client.list_raw(resource, Query(display=("id",), sort=("id_DESC",)), limit=1))
    return int(rows[0]["id"]) if rows else 0


def first_id_since(client: ShopClient, resource: str, since: datetime) -> int | None:
    query = Query(display=("id",), filters={"date_add": between(since, FAR_FUTURE)}, sort=("id_ASC",))
    rows = list(client.list_raw(resource, query, limit=1))
    return int(rows[0]["id"]) if rows else None


def ids_up_to(client: ShopClient, resource: str, position: int, overlap: int) -> list[int]:
    """The ids in the `overlap` just behind `position`: history already, not news."""
    if position <= 0:
        return []
    query = Query(display=("id",), filters={"id": between(max(1, position - overlap + 1), position)})
    return [int(row["id"]) for row in client.list_raw(resource, query)]
