"""What every family of shop reads stands on: the transport, its pager and the shop-wide facts they all need
(the time zone every date is in, configuration values, the key's permissions), each read once from here."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bridge.errors import ShopResponseError
from bridge.shop.failures import parse_xml, sanitize
from bridge.shop.paging import ID_CHUNK, Pager, raw_id, stuck
from bridge.shop.query import Query, greater_than, with_fields
from bridge.shop.transport import ShopTransport

T = TypeVar("T")

# Rows of a few small fields (ids, state changes, payments, tracking numbers) come this many a request: a page
# is tens of KB, and a catch-up of 1,000 orders costs a few requests per feed instead of ten.
WIDE_PAGE: Final = 500


class ShopReader:
    """Generic reads of one shop, its time zone (read once, then cached) and its settings."""

    def __init__(self, transport: ShopTransport, timezone: ZoneInfo | None) -> None:
        """`timezone` overrides the shop's PS_TIMEZONE (which otherwise is read once, with one request)."""
        self._transport = transport
        self._pager = Pager(transport, self.shop_timezone)
        self._timezone = timezone

    # -- generic reads -----------------------------------------------------------------------------------

    def list_raw(self, resource: str, query: Query, *, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Every matching raw object, a page at a time (`limit=offset,count`) until a short page."""
        return self._pager.list_raw(resource, query, limit=limit)

    def rows_after(
        self, resource: str, query: Query, after_id: int, *, limit: int | None = None, page: int = WIDE_PAGE
    ) -> list[dict[str, Any]]:
        """At most `limit` rows with id > after_id, in id order, `page` rows a request, paged by key
        (`filter[id]=>[last]`, immune to inserts); a full page that does not pass the last stops the read."""
        out: list[dict[str, Any]] = []
        last = after_id
        while limit is None or len(out) < limit:
            count = page if limit is None else min(page, limit - len(out))
            page_query = Query(
                display=with_fields(query.display, "id"),
                filters={**query.filters, "id": greater_than(last)},
                sort=("id_ASC",),
                language=query.language,
            )
            rows = self._pager.list_page(resource, [*self._pager.params(page_query), ("limit", f"0,{count}")])
            out.extend(rows)
            if len(rows) < count:
                break
            reached = max(raw_id(resource, row) for row in rows)
            if reached <= last:
                raise stuck(resource, f"the page after id {last} ends at id {reached}")
            last = reached
        return out

    def get_by_ids(
        self,
        resource: str,
        ids: Iterable[int],
        *,
        chunk: int = ID_CHUNK,
        query: Query | None = None,
        field_name: str = "id",
    ) -> list[dict[str, Any]]:
        """Raw objects whose `field_name` is one of `ids`, batched as `filter[field]=[1|2|3]`."""
        return self._pager.get_by_ids(resource, ids, chunk=chunk, query=query, field_name=field_name)

    def get_by_ids_text(
        self, resource: str, values: Iterable[str], *, query: Query, field_name: str
    ) -> list[dict[str, Any]]:
        """Like `get_by_ids`, for text keys (configuration names, order references)."""
        return self._pager.get_by_ids_text(resource, values, query=query, field_name=field_name)

    def get_one(
        self, resource: str, object_id: int, *, display: str | None = None, language: int | None = None
    ) -> dict[str, Any] | None:
        """One raw object by id (`GET /api/{resource}/{id}`), None if the shop says 404."""
        return self._pager.get_one(resource, object_id, display=display, language=language)

    # -- shop settings ---------------------------------------------------------------------------------

    def configuration(self, names: Iterable[str]) -> dict[str, str | None]:
        """Values of configuration keys in one request; None for a key the shop does not have.

        Shop-specific values (multishop) are ignored in favour of the global one when both exist.
        """
        wanted = list(dict.fromkeys(names))
        result: dict[str, str | None] = dict.fromkeys(wanted)
        if not wanted:
            return result
        query = Query(display=("id", "name", "value", "id_shop", "id_shop_group"), sort=("id_ASC",))
        rows = self._pager.get_by_ids_text("configurations", wanted, query=query, field_name="name")
        chosen: dict[str, tuple[bool, str | None]] = {}
        for row in rows:
            name = row.get("name")
            if not isinstance(name, str) or name not in result:
                continue
            value = row.get("value")
            is_global = not row.get("id_shop") and not row.get("id_shop_group")
            text = None if value is None else str(value)
            if name not in chosen or (is_global and not chosen[name][0]):
                chosen[name] = (is_global, text)
        for name, (_, text) in chosen.items():
            result[name] = text
        return result

    def shop_timezone(self) -> ZoneInfo:
        """The shop's PS_TIMEZONE: the zone of every date the webservice sends. Read once, then cached."""
        if self._timezone is None:
            name = self.configuration(["PS_TIMEZONE"])["PS_TIMEZONE"]
            if not name:
                raise ShopResponseError(
                    "the shop has no PS_TIMEZONE setting, so its dates cannot be placed in time: set "
                    "SHOP_TIMEZONE",
                    resource="configurations",
                )
            self._timezone = zone_named(name)
        return self._timezone

    def permissions(self) -> dict[str, set[str]]:
        """Which methods the key may use on which resource, read from the API root (XML, the only form
        that works on PHP 8: the JSON root crashes with HTTP 500)."""
        response = self._transport.request("", [], "api")
        root = parse_xml(response.content)
        api = root.find("api") if root is not None else None
        if api is None:
            raise ShopResponseError(
                f"the shop's API root is not the XML resource list: {sanitize(response.text)!r}",
                resource="api",
                status=response.status_code,
            )
        granted: dict[str, set[str]] = {}
        for element in api:
            methods = {name.upper() for name, value in element.attrib.items() if value == "true"}
            methods &= {"GET", "PUT", "POST", "PATCH", "DELETE", "HEAD"}
            granted[element.tag] = methods
        return granted

    def ping(self) -> str | None:
        """Check the URL, the key and TLS with one request; returns the PrestaShop version if sent."""
        self.permissions()
        return self._transport.version

    def _parse(
        self, rows: Iterable[Mapping[str, Any]], parser: Callable[..., T], language: int | None = None
    ) -> list[T]:
        tz = self.shop_timezone()
        return [parser(row, tz=tz, language=language) for row in rows]


def zone_named(name: str) -> ZoneInfo:
    """The IANA zone the shop (or SHOP_TIMEZONE) names; an unknown name is the shop's answer gone wrong."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ShopResponseError(
            f"the shop's time zone {sanitize(name)!r} (PS_TIMEZONE) is not a known IANA zone",
            resource="configurations",
        ) from None
