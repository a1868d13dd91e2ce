"""Reads raw rows a page or a batch at a time (limit/offset, key paging, `filter[id]=[1|2|3]` batches), so no
read of any size asks the shop for too much at once or sends a URL too long for its web server.

Every full page must move the read on: a page that brings no row not read before (offset paging), or whose
key does not pass the previous page's (key paging), stops the read with a ShopResponseError. A shop, or a
cache in front of it, that ignores `limit` or the filter would otherwise be read forever.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, TypeVar

from bridge.errors import ShopResponseError
from bridge.shop.failures import sanitize
from bridge.shop.query import (
    FAR_FUTURE,
    Filter,
    Query,
    Zone,
    check_filter_text,
    greater_than,
    one_of,
    query_params,
    render_value,
    with_fields,
)
from bridge.shop.transport import ShopTransport

PAGE_SIZE: Final = 100
ID_CHUNK: Final = 100
# Keeps every URL far below the 8 KB many servers (Apache's LimitRequestLine) accept.
MAX_FILTER_CHARS: Final = 4000

# JSON node names that are not simply "resource" (list) and "resource minus s" (one object).
_LIST_KEYS: Final[Mapping[str, str]] = {"order_slip": "order_slips"}
_SINGLE_KEYS: Final[Mapping[str, str]] = {
    "addresses": "address",
    "carriers": "carrier",
    "carts": "cart",
    "cart_rules": "cart_rule",
    "configurations": "configuration",
    "countries": "country",
    "currencies": "currency",
    "customers": "customer",
    "customer_messages": "customer_message",
    "customer_threads": "customer_thread",
    "languages": "language",
    "order_carriers": "order_carrier",
    "order_details": "order_detail",
    "order_histories": "order_history",
    "order_invoices": "order_invoice",
    "order_payments": "order_payment",
    "order_slip": "order_slip",
    "order_states": "order_state",
    "orders": "order",
    "products": "product",
}

T = TypeVar("T")


class Pager:
    """Raw rows of one shop: whole lists, rows after an id or changed since a date, batches, one object.

    `zone` gives the shop's time zone, in which datetime filters are written; it is asked only when needed.
    """

    def __init__(self, transport: ShopTransport, zone: Zone) -> None:
        self._transport = transport
        self._zone = zone

    def params(self, query: Query) -> list[tuple[str, str]]:
        return query_params(query, self._zone)

    def list_page(self, resource: str, params: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        """One list request's rows, whichever of the shapes of an empty list the shop sends."""
        document = self._transport.get_json(resource, resource, params)
        # An empty list is `[]` in every version so far; `{}` and `{"orders": []}` are accepted too.
        if document in ([], {}, None):
            return []
        if isinstance(document, dict):
            key = _LIST_KEYS.get(resource, resource)
            rows = document.get(key)
            if rows is None:
                candidates = [v for k, v in document.items() if k != "errors" and isinstance(v, list)]
                rows = candidates[0] if len(candidates) == 1 else None
            if isinstance(rows, list) and all(isinstance(row, dict) for row in rows):
                return rows
        raise ShopResponseError(
            f"the shop sent an unexpected JSON shape for the `{resource}` list: "
            f"{sanitize(json.dumps(document, default=str))!r}",
            resource=resource,
        )

    def list_raw(self, resource: str, query: Query, *, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Every matching raw object, a page at a time (`limit=offset,count`) until a short page."""
        offset = 0
        yielded = 0
        seen: set[str] = set()
        while limit is None or yielded < limit:
            count = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - yielded)
            rows = self.list_page(resource, [*self.params(query), ("limit", f"{offset},{count}")])
            keys = {_row_key(row) for row in rows}
            if len(rows) >= count and keys <= seen:
                raise stuck(resource, f"the page at offset {offset} repeats rows already read")
            seen |= keys
            yield from rows
            yielded += len(rows)
            offset += len(rows)
            if len(rows) < count:
                return

    def select(
        self,
        resource: str,
        query: Query,
        *,
        ids: Iterable[int] | None = None,
        after_id: int | None = None,
        changed_since: datetime | None = None,
        changed_until: datetime | None = None,
        limit: int | None = None,
        date_field: str = "date_upd",
    ) -> Iterable[dict[str, Any]]:
        """Rows by id, after an id, or changed in [since, until]: the one selector a typed read was given."""
        chosen = [
            name
            for name, v in (("ids", ids), ("after_id", after_id), ("changed_since", changed_since))
            if v is not None
        ]
        if len(chosen) > 1:
            raise ValueError(f"choose one of ids, after_id, changed_since (got {', '.join(chosen)})")
        if changed_until is not None and changed_since is None:
            raise ValueError("changed_until needs changed_since")
        if ids is not None:
            return self.get_by_ids(resource, ids, query=query)
        if changed_since is not None:
            return self.changed_since(resource, query, date_field, changed_since, changed_until, limit)
        return self.after_id(resource, query, after_id or 0, limit)

    def after_id(
        self, resource: str, query: Query, after_id: int, limit: int | None
    ) -> Iterator[dict[str, Any]]:
        """Rows with id > after_id in id order, paged by key (`filter[id]=>[last]`), immune to inserts."""
        last = after_id
        yielded = 0
        while limit is None or yielded < limit:
            count = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - yielded)
            page_query = Query(
                display=with_fields(query.display, "id"),
                filters={**query.filters, "id": greater_than(last)},
                sort=("id_ASC",),
                language=query.language,
            )
            rows = self.list_page(resource, [*self.params(page_query), ("limit", f"0,{count}")])
            if len(rows) < count:
                yield from rows
                return
            reached = max(raw_id(resource, row) for row in rows)
            if reached <= last:
                raise stuck(resource, f"the page after id {last} ends at id {reached}")
            yield from rows
            yielded += len(rows)
            last = reached

    def changed_since(
        self,
        resource: str,
        query: Query,
        date_field: str,
        since: datetime,
        until: datetime | None,
        limit: int | None,
    ) -> Iterator[dict[str, Any]]:
        """Rows with since <= date_field (<= until), oldest first, paged by key on (date, id).

        Each page restarts at the last date seen (inclusive), skipping the rows of that second already read,
        so a row that changes while we page moves to the end instead of shifting an offset past another row.
        """
        lower = render_value(since, self._zone)
        upper = render_value(until, self._zone) if until is not None else FAR_FUTURE
        skip = 0
        seen: set[int] = set()
        yielded = 0
        end: tuple[str, int] | None = None  # the (date, id) the previous full page ended at
        while limit is None or yielded < limit:
            count = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - yielded)
            page_query = Query(
                display=with_fields(query.display, "id", date_field),
                filters={**query.filters, date_field: Filter("between", (lower, upper))},
                sort=(f"{date_field}_ASC", "id_ASC"),
                language=query.language,
            )
            rows = self.list_page(resource, [*self.params(page_query), ("limit", f"{skip},{count}")])
            for row in rows:
                row_id = raw_id(resource, row)
                if row_id not in seen:
                    seen.add(row_id)
                    yielded += 1
                    yield row
            if len(rows) < count:
                return
            last = str(rows[-1].get(date_field) or "")
            reached = (last, raw_id(resource, rows[-1]))
            if end is not None and reached <= end:
                detail = f"the page from {lower} ends at {last} #{reached[1]}, not past the one before"
                raise stuck(resource, detail)
            end = reached
            if last == lower:
                skip += len(rows)
            else:
                lower = last
                skip = sum(1 for row in rows if str(row.get(date_field) or "") == last)

    def get_by_ids(
        self,
        resource: str,
        ids: Iterable[int],
        *,
        chunk: int = ID_CHUNK,
        query: Query | None = None,
        field_name: str = "id",
    ) -> list[dict[str, Any]]:
        """Raw objects whose `field_name` is one of `ids`, batched as `filter[field]=[1|2|3]`: one request
        per `chunk` ids (smaller batches when the URL would grow past a few KB). Ids ≤ 0 are skipped."""
        wanted = sorted({int(i) for i in ids if int(i) > 0})
        base = query or Query()
        out: list[dict[str, Any]] = []
        for batch in _batches(wanted, chunk):
            batch_query = Query(
                display=base.display,
                filters={**base.filters, field_name: one_of(batch)},
                sort=base.sort,
                language=base.language,
            )
            out.extend(self.list_page(resource, self.params(batch_query)))
        return out

    def get_by_ids_text(
        self, resource: str, values: Iterable[str], *, query: Query, field_name: str
    ) -> list[dict[str, Any]]:
        """Like `get_by_ids`, for text keys (configuration names, order references)."""
        wanted = [check_filter_text(v) for v in dict.fromkeys(values) if v]
        out: list[dict[str, Any]] = []
        for batch in _batches(wanted, ID_CHUNK):
            batch_query = Query(
                display=query.display,
                filters={**query.filters, field_name: one_of(batch)},
                sort=query.sort,
                language=query.language,
            )
            out.extend(self.list_page(resource, self.params(batch_query)))
        return out

    def get_one(
        self, resource: str, object_id: int, *, display: str | None = None, language: int | None = None
    ) -> dict[str, Any] | None:
        """One raw object by id (`GET /api/{resource}/{id}`), None if the shop says 404.

        Without `display` the 8.x shop drops falsy fields (the parser restores them); with it the answer
        takes the plural list form, which is handled too.
        """
        params: list[tuple[str, str]] = []
        if display is not None:
            params.append(("display", display))
        if language is not None:
            params.append(("language", str(language)))
        document = self._transport.get_json(resource, f"{resource}/{int(object_id)}", params)
        if document is None:
            return None
        if isinstance(document, dict):
            single = document.get(_SINGLE_KEYS.get(resource, resource.removesuffix("s")))
            if isinstance(single, dict):
                return single
            plural = document.get(_LIST_KEYS.get(resource, resource))
            if isinstance(plural, list) and len(plural) == 1 and isinstance(plural[0], dict):
                return plural[0]
            values = [v for k, v in document.items() if k != "errors"]
            if len(values) == 1 and isinstance(values[0], dict):
                return values[0]
        if document in ([], {}):
            return None
        raise ShopResponseError(
            f"the shop sent an unexpected JSON shape for {resource} {object_id}: "
            f"{sanitize(json.dumps(document, default=str))!r}",
            resource=resource,
        )


def raw_id(resource: str, row: Mapping[str, Any]) -> int:
    """A raw row's id; a row without a usable one is an answer the bridge cannot page or match."""
    value = row.get("id")
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ShopResponseError(
            f"the shop sent a {resource} object without a valid id: {sanitize(repr(value))}",
            resource=resource,
        ) from None


def stuck(resource: str, detail: str) -> ShopResponseError:
    """A paged read that does not move on: stopped, not retried (the same pages would come again)."""
    return ShopResponseError(
        f"the shop's `{resource}` list does not move on from page to page ({detail}): the shop, or a "
        "cache in front of it, ignores the webservice's paging, so the read was stopped",
        resource=resource,
    )


def _row_key(row: Mapping[str, Any]) -> str:
    """What tells rows apart: the id, or for a row without one, the whole row."""
    value = row.get("id")
    return f"id:{value}" if value is not None else json.dumps(row, sort_keys=True, default=str)


def _batches(values: Sequence[T], chunk: int) -> Iterator[list[T]]:
    """Split into batches of at most `chunk` values whose `a|b|c` rendering stays under MAX_FILTER_CHARS."""
    batch: list[T] = []
    size = 0
    for value in values:
        # Each value is percent-encoded in the URL; `|` becomes `%7C` (3 characters).
        cost = len(str(value)) * 3 + 3
        if batch and (len(batch) >= max(1, chunk) or size + cost > MAX_FILTER_CHARS):
            yield batch
            batch, size = [], 0
        batch.append(value)
        size += cost
    if batch:
        yield batch
