"""PrestaShop's list grammar (display, filters, sort, language) and how it is written as URL parameters, kept
apart from HTTP so every read asks its questions the same way and the grammar's limits are stated once."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal
from zoneinfo import ZoneInfo

FAR_FUTURE: Final = "9999-12-31 23:59:59"
_DATE_FIELDS: Final = frozenset({"date_add", "date_upd"})

FilterValue = int | str | datetime
Zone = Callable[[], ZoneInfo]


@dataclass(frozen=True, slots=True)
class Filter:
    """One `filter[field]=` value in PrestaShop's grammar (docs/shop-facts.md §3.2).

    Datetimes must be timezone-aware; the client writes them in the shop's local time.
    """

    op: Literal["equals", "one_of", "between", "greater", "less", "ends_with"]
    values: tuple[FilterValue, ...]


def equals(value: FilterValue) -> Filter:
    return Filter("equals", (value,))


def one_of(values: Iterable[FilterValue]) -> Filter:
    return Filter("one_of", tuple(values))


def between(low: FilterValue, high: FilterValue) -> Filter:
    """Inclusive at both ends (SQL BETWEEN), whatever the PrestaShop docs say."""
    return Filter("between", (low, high))


def greater_than(value: FilterValue) -> Filter:
    """Strictly greater: there is no `>=` in the grammar."""
    return Filter("greater", (value,))


def less_than(value: FilterValue) -> Filter:
    return Filter("less", (value,))


def ends_with(text: str) -> Filter:
    """SQL `LIKE '%text'`: PrestaShop turns a `%` outside the brackets into a LIKE pattern (`%[-12-07]`: every
    birthday on 7 December). `_` inside is LIKE's one-character wildcard."""
    return Filter("ends_with", (text,))


@dataclass(frozen=True, slots=True)
class Query:
    """What to ask a list endpoint: display, filters, sort and language. Paging is added by the client."""

    display: str | tuple[str, ...] = "full"
    filters: Mapping[str, Filter] = field(default_factory=dict)
    sort: tuple[str, ...] = ("id_ASC",)
    language: int | None = None


def is_filterable(text: str) -> bool:
    """Whether `text` can be sent as a filter value: PrestaShop's grammar has no escape for `[]|,%`, and
    a control character would be mangled on the way. An order reference edited in the database can hold
    them; such a value cannot be looked up, only read with its row."""
    return not (
        any(ch in text for ch in "[]|,%") or any(unicodedata.category(ch).startswith("C") for ch in text)
    )


def check_filter_text(text: str) -> str:
    if not is_filterable(text):
        raise ValueError(
            f"filter value {text!r} contains characters PrestaShop's filter grammar cannot carry"
        )
    return text


def display_of(fields: Sequence[str] | None) -> str | tuple[str, ...]:
    """The display for a read of only `fields` (with the id, which every record needs), or all of them."""
    if fields is None:
        return "full"
    return with_fields(tuple(fields), "id")


def with_fields(display: str | tuple[str, ...], *needed: str) -> str | tuple[str, ...]:
    """A display list that surely contains `needed` (paging needs the id and the date it pages on)."""
    if isinstance(display, str):
        return display
    return (*display, *(name for name in needed if name not in display))


# ----------------------------------------------------------------------------------------------------
# Writing a query as URL parameters
# ----------------------------------------------------------------------------------------------------


def query_params(query: Query, zone: Zone) -> list[tuple[str, str]]:
    """The query's URL parameters; `zone` (the shop's time zone) is asked only if a datetime is sent."""
    params: list[tuple[str, str]] = []
    display = query.display if isinstance(query.display, str) else f"[{','.join(query.display)}]"
    params.append(("display", display))
    needs_date = False
    for name, value in query.filters.items():
        params.append((f"filter[{name}]", _render_filter(value, zone)))
        needs_date |= name in _DATE_FIELDS
    if query.sort:
        params.append(("sort", f"[{','.join(query.sort)}]"))
        needs_date |= any(item.rsplit("_", 1)[0] in _DATE_FIELDS for item in query.sort)
    if needs_date:
        # Without date=1 PrestaShop answers 500 (code 32 / 38) to any filter or sort on these fields.
        params.append(("date", "1"))
    if query.language is not None:
        params.append(("language", str(query.language)))
    return params


def render_value(value: FilterValue, zone: Zone) -> str:
    """One filter value as the shop reads it: a datetime in the shop's local time, a bool as 0/1."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("filter datetimes must be timezone-aware")
        return value.astimezone(zone()).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return check_filter_text(value)


def _render_filter(value: Filter, zone: Zone) -> str:
    rendered = [render_value(item, zone) for item in value.values]
    match value.op:
        case "equals":
            return f"[{rendered[0]}]"
        case "one_of":
            if not rendered or not rendered[0]:
                raise ValueError("one_of needs at least one value, the first non-empty")
            return f"[{'|'.join(rendered)}]"
        case "between":
            return f"[{rendered[0]},{rendered[1]}]"
        case "greater":
            return f">[{rendered[0]}]"
        case "less":
            return f"<[{rendered[0]}]"
        case "ends_with":
            return f"%[{rendered[0]}]"
