"""Typed reads of orders and what hangs off them (state history, payments, carriers, lines, states): the
feeds the sync cycle watches for changes, each read with the selector its feed needs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from bridge.model.records import Order, OrderCarrier, OrderDetail, OrderHistory, OrderPayment, OrderState
from bridge.shop.parse import (
    parse_order,
    parse_order_carrier,
    parse_order_detail,
    parse_order_history,
    parse_order_payment,
    parse_order_state,
)
from bridge.shop.query import Query, between, display_of, with_fields
from bridge.shop.reader import ShopReader


class OrderReads(ShopReader):
    """Orders, their history, payments, carriers and lines, and the order states."""

    def orders(
        self,
        *,
        ids: Iterable[int] | None = None,
        after_id: int | None = None,
        changed_since: datetime | None = None,
        changed_until: datetime | None = None,
        cart_ids: Iterable[int] | None = None,
        references: Iterable[str] | None = None,
        fields: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[Order]:
        """Orders by id, after an id (new orders), changed in [since, until] (inclusive), by cart, or by
        reference (all orders of a multi-shipment checkout share one).

        With `fields`, only those fields are fetched; the others hold their zero value in the records.
        """
        query = Query(display=display_of(fields))
        selectors = (ids, after_id, changed_since, cart_ids, references)
        if (cart_ids is not None or references is not None) and sum(v is not None for v in selectors) > 1:
            raise ValueError("cart_ids and references cannot be combined with another selector")
        if references is not None:
            rows: Iterable[dict[str, Any]] = self._pager.get_by_ids_text(
                "orders",
                references,
                query=Query(display=with_fields(query.display, "reference")),
                field_name="reference",
            )
        elif cart_ids is not None:
            rows = self._pager.get_by_ids(
                "orders",
                cart_ids,
                query=Query(display=with_fields(query.display, "id_cart")),
                field_name="id_cart",
            )
        else:
            rows = self._pager.select(
                "orders",
                query,
                ids=ids,
                after_id=after_id,
                changed_since=changed_since,
                changed_until=changed_until,
                limit=limit,
            )
        return self._parse(rows, parse_order)

    def order_ids_after(self, after_id: int, *, limit: int | None = None) -> list[int]:
        """The ids of the orders after an id, in order: what a poll lists before it reads any order in full
        (ids only, a wide page a request, so an idle poll and a large catch-up both cost few requests)."""
        rows = self.rows_after("orders", Query(display=("id",)), after_id, limit=limit)
        return [int(row["id"]) for row in rows]

    def parse_orders(self, rows: Iterable[Mapping[str, Any]]) -> list[Order]:
        """Orders from raw rows read with `list_raw` / `get_by_ids` (dates in the shop's time zone)."""
        return self._parse(rows, parse_order)

    def order(self, order_id: int) -> Order | None:
        """One order by id (a single GET), None if it does not exist."""
        raw = self._pager.get_one("orders", order_id)
        return None if raw is None else self._parse([raw], parse_order)[0]

    def order_histories(
        self,
        *,
        after_id: int | None = None,
        order_ids: Iterable[int] | None = None,
        limit: int | None = None,
    ) -> list[OrderHistory]:
        """State changes after an id (the cheapest change feed), or all of some orders'."""
        if order_ids is not None:
            if after_id is not None:
                raise ValueError("choose after_id or order_ids")
            rows: Iterable[dict[str, Any]] = self._pager.get_by_ids(
                "order_histories", order_ids, field_name="id_order"
            )
        else:
            rows = self.rows_after("order_histories", Query(), after_id or 0, limit=limit)
        return self._parse(rows, parse_order_history)

    def order_states(self, *, language: int | None = None) -> list[OrderState]:
        query = Query(language=language)
        return self._parse(self._pager.list_raw("order_states", query), parse_order_state, language)

    def order_payments(
        self,
        *,
        after_id: int | None = None,
        references: Iterable[str] | None = None,
        limit: int | None = None,
    ) -> list[OrderPayment]:
        """Payments after an id, or those of some order references (payments have no id_order)."""
        if references is not None:
            if after_id is not None:
                raise ValueError("choose after_id or references")
            rows: Iterable[dict[str, Any]] = self._pager.get_by_ids_text(
                "order_payments", references, query=Query(), field_name="order_reference"
            )
        else:
            rows = self.rows_after("order_payments", Query(), after_id or 0, limit=limit)
        return self._parse(rows, parse_order_payment)

    def order_carriers(
        self, order_ids: Iterable[int], *, fields: Sequence[str] | None = None
    ) -> list[OrderCarrier]:
        """The carrier rows of some orders; with `fields`, only those (the others hold their zero value)."""
        query = Query(display=display_of(fields))
        rows = self._pager.get_by_ids("order_carriers", order_ids, field_name="id_order", query=query)
        return self._parse(rows, parse_order_carrier)

    def order_carriers_between(
        self, low: int, high: int, *, fields: Sequence[str] | None = None
    ) -> list[OrderCarrier]:
        """The carrier rows of the orders with ids in [low, high]: a catch-up's run of new orders in a few
        wide pages, instead of one request per hundred order ids."""
        query = Query(display=display_of(fields), filters={"id_order": between(low, high)})
        return self._parse(self.rows_after("order_carriers", query, 0), parse_order_carrier)

    def order_details(self, order_ids: Iterable[int]) -> list[OrderDetail]:
        rows = self._pager.get_by_ids("order_details", order_ids, field_name="id_order")
        return self._parse(rows, parse_order_detail)
