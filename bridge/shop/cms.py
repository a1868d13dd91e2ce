"""Reads the CMS pages the terms watch names (`content_management_system`) and, for `bridge notify-terms`,
the customers a notice goes to, a batch at a time.

A CMS page has no date_upd in the webservice: the only way to see a change is to read its text. The watch
reads the few pages TERMS_PAGES names in one request. Multilingual fields come as a list of
`{"id": <id_lang>, "value": ...}`, or collapsed to one string when the shop has one language.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

from bridge.model.cms import CmsPage
from bridge.model.records import Customer
from bridge.shop.lookups import customer_batches
from bridge.shop.query import Query, equals
from bridge.shop.reader import ShopReader
from bridge.shop.threads import int_field

RESOURCE: Final = "content_management_system"
BATCH: Final = 500  # customers per request, and per transaction in `bridge notify-terms --yes`
_PAGE_FIELDS: Final = ("id", "active", "meta_title", "content", "link_rewrite")
_CUSTOMER_FIELDS: Final = ("id", "id_lang", "email", "firstname", "lastname", "active", "is_guest", "deleted")
_TOLD: Final = {"active": equals(1), "is_guest": equals(0), "deleted": equals(0)}


def pages(client: ShopReader, ids: Iterable[int], *, default_language: int) -> list[CmsPage]:
    """The pages with these ids (a page the shop no longer has is left out)."""
    rows = client.get_by_ids(RESOURCE, ids, query=Query(display=_PAGE_FIELDS))
    return [_page(row, default_language) for row in rows]


def _page(row: Mapping[str, Any], default_language: int) -> CmsPage:
    return CmsPage(
        id=int_field(row, "id", RESOURCE),
        active=bool(int_field(row, "active", RESOURCE)),
        titles=_texts(row.get("meta_title"), default_language),
        contents=_texts(row.get("content"), default_language),
        link_rewrites=_texts(row.get("link_rewrite"), default_language),
    )


def _texts(value: object, default_language: int) -> dict[int, str]:
    """A multilingual field by language id; a collapsed string is the default language's."""
    if isinstance(value, str):
        return {default_language: value}
    found: dict[int, str] = {}
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and str(item.get("id", "")).isdigit():
                text = item.get("value")
                found[int(item["id"])] = text if isinstance(text, str) else ""
    return found


def customers_told(client: ShopReader, *, after_id: int = 0) -> Iterator[list[Customer]]:
    """The active customers with an account (not guests, not deleted) past `after_id`, in id order, a
    batch of BATCH at a time: a 50,000-customer shop is never held in memory whole."""
    query = Query(display=_CUSTOMER_FIELDS, filters=_TOLD)
    return customer_batches(client, query, after_id=after_id, batch=BATCH)


def count_told(client: ShopReader) -> int:
    """How many customers a notice would reach (ids only)."""
    query = Query(display=("id",), filters=_TOLD)
    return len(client.rows_after("customers", query, 0, page=BATCH))
