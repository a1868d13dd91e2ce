"""Parses and runs webservice list queries: `display`, `filter[...]`, `sort`, `limit`, `language`, `date`.

The grammar and the error codes follow `WebserviceRequest::manageFilters()` and
`SQLUtils::getSQLRetrieveFilter()`; comparisons follow what MySQL does with the generated SQL (numbers compare
as numbers, strings case-insensitively, dates as shop-local wall time, `NULL` never matches). Rows are read in
place under the state lock and only the requested page is rendered: 100 000 rows stay cheap to page through.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from bridge.simulator.output import Display, Flavour, LanguageSelection, text_value
from bridge.simulator.schema import Field, Resource
from bridge.simulator.state import ShopState

Row = Mapping[str, Any]
Predicate = Callable[[Row], bool]

_PHP_WARNING_LINES = (1333, 1334, 1335, 1336)
_PHP_WARNING = (
    "[PHP Warning #2] Trying to access array offset on value of type bool "
    "(/var/www/prestashop/classes/webservice/WebserviceRequest.php, line {line})"
)


class WebserviceError(Exception):
    """An error document (`{"errors":[...]}`) with its HTTP status.

    `php_warnings`: raised inside `manageFilters()`, where PHP 8 then emits four warnings; the webservice
    error handler appends them (code 3) and turns the status into 500.
    """

    def __init__(self, status: int, errors: Sequence[tuple[int, str]], *, php_warnings: bool = False) -> None:
        super().__init__(errors[0][1] if errors else str(status))
        self.status = status
        self.errors = list(errors)
        self.php_warnings = php_warnings

    def for_flavour(self, flavour: Flavour) -> tuple[int, list[tuple[int, str]]]:
        if self.php_warnings and flavour.php_warnings:
            warnings = [(3, _PHP_WARNING.format(line=line)) for line in _PHP_WARNING_LINES]
            return 500, [*self.errors, *warnings]
        return self.status, self.errors


class PhpFatal(Exception):
    """PHP died (SQL error, TypeError): HTTP/1.0 500 with an empty text/html body."""


# -- query string -----------------------------------------------------------------------------------------

_KEY = re.compile(r"^([^\[]+)((?:\[[^\]]*\])*)$")


def parse_php_query(query: str) -> dict[str, Any]:
    """`parse_str()`: `filter[id]=5` becomes {"filter": {"id": "5"}}; the last duplicate wins."""
    out: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        match = _KEY.match(key)
        if not match or not match.group(2):
            out[key] = value
            continue
        parts = [match.group(1), *re.findall(r"\[([^\]]*)\]", match.group(2))]
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return out


def php_intval(text: str) -> int:
    """PHP's `(int)` cast of a string: leading whitespace, sign and digits; anything else gives 0."""
    match = re.match(r"\s*([+-]?\d+)", text)
    return int(match.group(1)) if match else 0


def php_empty(value: Any) -> bool:
    return value in (None, "", "0") or value == {} or value == []


def levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def closest(word: str, candidates: Sequence[str]) -> str:
    """`WebserviceRequest::getClosest()`: ties go to the later candidate (`<=`)."""
    best = ""
    shortest = -1
    for candidate in candidates:
        distance = levenshtein(word, candidate)
        if distance == 0:
            return candidate
        if distance <= shortest or shortest < 0:
            best, shortest = candidate, distance
    return best


# -- the parsed request -----------------------------------------------------------------------------------


@dataclass
class Filter:
    field: Field
    predicate: Predicate
    ids: list[int] | None = None  # exact id set, when the filter is an id lookup
    index_values: list[int] | None = None  # equality on an int column: answer through the state's index
    id_test: Callable[[int], bool] | None = None  # a test on the id alone: no row is read


@dataclass
class ParsedQuery:
    display: Display | None  # None: the minimal list (ids only)
    display_given: bool  # `display` present: JSON uses the plural list form even for one object
    languages: LanguageSelection
    filters: list[Filter] = field(default_factory=list)
    sort: list[tuple[Field, bool]] = field(default_factory=list)  # (field, descending)
    limit: tuple[int, int | None] | None = None  # (offset, count); count None = no limit
    price: Any = None  # the raw `price[alias][param]` parameter (see `bridge.simulator.prices`)


def visible_fields(resource: Resource, flavour: Flavour) -> tuple[Field, ...]:
    return tuple(f for f in resource.fields if (resource.name, f.name) not in flavour.hidden_fields)


def parse_languages(params: Mapping[str, Any], state: ShopState, flavour: Flavour) -> LanguageSelection:
    """`filterLanguage()`: `1`, `[1|2]`, `[1,2]`; unknown ids dropped; nothing left is error 81."""
    raw = params.get("language")
    if raw is None:
        return LanguageSelection(tuple(state.active_language_ids()), ids_as_strings=not flavour.native_ints)
    if not isinstance(raw, str):
        raise WebserviceError(400, [(79, "language value is wrong")])
    wanted: list[str]
    as_strings = True
    if re.fullmatch(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", raw):
        wanted = [raw]
    elif raw.startswith("[") and raw.endswith("]"):
        inner = raw[1:-1]
        if ("|" in raw) != ("," in raw):
            if "|" in inner:
                wanted = inner.split("|")
            else:
                bounds = inner.split(",")
                if len(bounds) != 2:
                    raise WebserviceError(400, [(78, "The value of the parameter language has a bad range")])
                low, high = php_intval(bounds[0]), php_intval(bounds[1])
                wanted = [str(i) for i in range(low, high + 1)]
                as_strings = False
        else:
            match = re.search(r"\[(\d)+\]", raw)
            wanted = [match.group(1)] if match else []
    else:
        raise WebserviceError(400, [(79, "language value is wrong")])
    if any(not re.fullmatch(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)", item) for item in wanted[1:]):
        raise WebserviceError(400, [(80, "Language ID must be numeric")])
    with state.lock:
        known = state.table("languages")
        ids = tuple(int(float(item)) for item in wanted if _is_number(item) and int(float(item)) in known)
    if not ids:
        raise WebserviceError(400, [(81, "language is not available")])
    return LanguageSelection(ids, ids_as_strings=as_strings or not flavour.native_ints)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_query(
    resource: Resource,
    params: Mapping[str, Any],
    state: ShopState,
    flavour: Flavour,
    *,
    single: bool,
) -> ParsedQuery:
    languages = parse_languages(params, state, flavour)
    fields = visible_fields(resource, flavour)
    by_name = {f.name: f for f in fields}
    available = [f.name for f in fields if f.kind != "i18n"]
    i18n_available = [f.name for f in fields if f.kind == "i18n"]
    if not php_empty(params.get("date")):
        for name in ("date_add", "date_upd"):
            if name not in available:
                available.append(name)
    else:
        available = [name for name in available if name not in ("date_add", "date_upd")]

    price = params.get("price")
    aliases = tuple(price) if isinstance(price, Mapping) else ()
    parsed = ParsedQuery(display=None, display_given="display" in params, languages=languages, price=price)

    filters = params.get("filter")
    if isinstance(filters, dict):
        for name, value in filters.items():
            if name in ("sort", "limit"):
                continue
            if name not in available:
                if isinstance(value, str) and value != "" and name in i18n_available:
                    parsed.filters.append(_compile_filter(by_name[name], value, languages))
                    continue
                suggestion = closest(name, available)
                message = (
                    f'This filter does not exist. Did you mean: "{suggestion}"? The full list is: "'
                    + '", "'.join(available)
                    + '"'
                )
                raise WebserviceError(400, [(32, message)], php_warnings=True)
            if value == "":
                raise WebserviceError(400, [(33, f'The filter "{name}" is malformed.')], php_warnings=True)
            target = by_name.get(name)
            if target is None:
                raise PhpFatal(f"unknown column {name}")  # date=1 on a table without that column
            if target.getter or not target.filterable:
                message = (
                    f'The field "{name}" is dynamic. It is not possible to filter GET query with this field.'
                )
                raise WebserviceError(400, [(34, message)], php_warnings=True)
            if not isinstance(value, str):
                raise PhpFatal("array filter value")
            parsed.filters.append(_compile_filter(target, value, languages))

    display = params.get("display")
    all_names = ", ".join(f.name for f in fields)
    if display is None:
        parsed.display = _full_display(resource, fields, aliases) if single else None
    elif display == "full":
        parsed.display = _full_display(resource, fields, aliases)
    else:
        match = re.match(r"^\[(.*)\]$", display, re.S) if isinstance(display, str) else None
        if not match:
            message = (
                "The 'display' syntax is wrong. You can set 'full' or '[field_1,field_2,field_3,...]'. "
                f"These are available: {all_names}"
            )
            raise WebserviceError(400, [(36, message)], php_warnings=True)
        parsed.display = _parse_display(resource, fields, match.group(1), all_names, aliases)

    sort = params.get("sort")
    if sort is not None:
        if not isinstance(sort, str):
            raise PhpFatal("array sort")
        match = re.match(r"^\[(.*)\]$", sort, re.S)
        items = match.group(1).split(",") if match else [sort]
        for item in items:
            position = item.rfind("_")
            direction = item[position + 1 :].upper() if position >= 0 else ""
            name = item[:position]
            if position < 0 or direction not in ("ASC", "DESC"):
                message = (
                    'The "sort" value has to be formed as this example: "field_ASC" or '
                    "'[field_1_DESC,field_2_ASC,field_3_ASC,...]' (\"field\" has to be an available field)"
                )
                raise WebserviceError(400, [(37, message)], php_warnings=True)
            if name not in available and name not in i18n_available:
                message = (
                    "Unable to filter by this field. However, these are available: "
                    + ", ".join(available)
                    + ", for i18n fields:"
                    + ", ".join(i18n_available)
                )
                raise WebserviceError(400, [(38, message)], php_warnings=True)
            target = by_name.get(name)
            if target is None:
                raise PhpFatal(f"unknown column {name}")
            parsed.sort.append((target, direction == "DESC"))

    limit = params.get("limit")
    if limit is not None:
        if not isinstance(limit, str):
            raise PhpFatal("array limit")
        parts = limit.split(",")
        if len(parts) > 2:
            message = 'The "limit" value has to be formed as this example: "5,25" or "10"'
            raise WebserviceError(400, [(39, message)], php_warnings=True)
        numbers = [php_intval(part) for part in parts]
        if any(number < 0 for number in numbers):
            raise PhpFatal("negative LIMIT is an SQL syntax error")
        parsed.limit = (0, numbers[0]) if len(numbers) == 1 else (numbers[0], numbers[1])
    return parsed


def _full_display(resource: Resource, fields: tuple[Field, ...], aliases: tuple[str, ...] = ()) -> Display:
    return Display(fields, {association.name: None for association in resource.associations}, aliases)


def _split_display(text: str) -> list[str]:
    """Split `a,b,assoc[x,y]` on the commas outside brackets."""
    items: list[str] = []
    depth = 0
    current = ""
    for char in text:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    items.append(current)
    return items


def _parse_display(
    resource: Resource, fields: tuple[Field, ...], inner: str, all_names: str, aliases: tuple[str, ...] = ()
) -> Display:
    """`display=[...]`: known fields, associations with sub-fields, and `price[...]` aliases (exact case)."""
    wanted: set[str] = set()
    associations: dict[str, tuple[str, ...] | None] = {}
    known_associations = {a.name: a for a in resource.associations}
    names = {f.name for f in fields}
    for item in _split_display(inner):
        match = re.fullmatch(r"([^\[]+)\[(.*)\]", item)
        if match and match.group(1) in known_associations:
            association = known_associations[match.group(1)]
            subfields = tuple(s for s in match.group(2).split(",") if s)
            for sub in subfields:
                if sub not in {f.name for f in association.fields}:
                    message = (
                        f'Unable to display this field "{sub}". However, these are available: {all_names}'
                    )
                    raise WebserviceError(400, [(35, message)], php_warnings=True)
            associations[association.name] = subfields or None
            continue
        if item not in names and item not in aliases:
            message = f'Unable to display this field "{item}". However, these are available: {all_names}'
            raise WebserviceError(400, [(35, message)], php_warnings=True)
        wanted.add(item)
    virtual = tuple(alias for alias in aliases if alias in wanted)
    return Display(tuple(f for f in fields if f.name in wanted), associations, virtual)


# -- filters ----------------------------------------------------------------------------------------------

_NUMBER = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_RANGE = re.compile(r"^([\d.:\-\s]+),([\d.:\-\s]+)$")
_DATE_LITERAL = re.compile(
    r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2}))?(?:\.\d+)?)?\s*$"
)


def mysql_number(text: str) -> Decimal:
    """How MySQL reads a string compared with a number column: its numeric prefix, or 0."""
    match = _NUMBER.match(text)
    if not match:
        return Decimal(0)
    try:
        return Decimal(match.group(0).strip())
    except InvalidOperation:
        return Decimal(0)


def mysql_datetime(text: str) -> str | None:
    """A date literal as `Y-m-d H:i:s` (a date alone is midnight); None when MySQL could not read it."""
    match = _DATE_LITERAL.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second = (int(part) if part else 0 for part in match.groups())
    return f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}"


def _like_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    for char in pattern:
        if char == "%":
            out += ".*"
        elif char == "_":
            out += "."
        else:
            out += re.escape(char)
    return re.compile(out, re.IGNORECASE | re.DOTALL)


def _php_sort_pair(a: str, b: str) -> tuple[str, str]:
    if _is_number(a) and _is_number(b):
        return (a, b) if float(a) <= float(b) else (b, a)
    return (a, b) if a <= b else (b, a)


_ZERO_DATE = datetime(1, 1, 1)  # noqa: DTZ001 - shop-local like every stored date; MySQL's 0000-00-00 00:00:00 sorts before every real date


class _Column:
    """Reads one column of a row as MySQL would compare it (None is SQL NULL)."""

    def __init__(self, target: Field, languages: LanguageSelection) -> None:
        self.field = target
        self.name = target.name
        self.languages = languages
        self.multilingual = target.kind == "i18n"
        self.numeric = target.kind in ("id", "int", "bool", "money", "decimal")
        self.is_date = target.kind in ("date", "birthday")

    def value(self, row: Row) -> Any:
        """The comparable value of a non-multilingual column."""
        raw = row.get(self.name)
        if self.numeric:
            return raw
        if self.is_date:
            if raw is None:
                return _ZERO_DATE
            if not isinstance(raw, datetime):
                return datetime(raw.year, raw.month, raw.day)  # noqa: DTZ001 - a birthday at midnight
            return raw
        return _fold(raw) if isinstance(raw, str) else None

    def values(self, row: Row) -> list[Any]:
        """Every comparable value: one per selected language for i18n fields, else one."""
        if self.multilingual:
            texts: Mapping[int, str] = row.get(self.name) or {}
            return [_fold(texts.get(lang, "")) for lang in self.languages.ids]
        return [self.value(row)]

    def literal(self, text: str) -> Any:
        """The filter text converted for comparison with this column (None: matches nothing)."""
        if self.numeric:
            return mysql_number(text)
        if self.is_date:
            normalised = mysql_datetime(text)
            if normalised is None:
                return None
            if normalised.startswith("0000-"):
                return _ZERO_DATE
            try:
                return datetime.strptime(normalised, "%Y-%m-%d %H:%M:%S")  # noqa: DTZ007 - shop-local text
            except ValueError:
                return None
        return _fold(text)

    def text(self, row: Row) -> list[str]:
        raw = row.get(self.name)
        if self.multilingual:
            texts: Mapping[int, str] = raw or {}
            return [texts.get(lang, "") for lang in self.languages.ids]
        text = text_value(self.field, raw)
        return [] if text is None else [text]


def _matcher(column: _Column, test: Callable[[Any], bool]) -> Predicate:
    """A row predicate: `test` gets each non-NULL comparable value of the column."""
    if column.multilingual:
        return lambda row: any(test(v) for v in column.values(row))
    name = column.name
    if column.numeric:

        def numeric(row: Row) -> bool:
            current = row.get(name)
            return current is not None and test(current)

        return numeric
    if column.field.kind == "date":
        return lambda row: test(row.get(name) or _ZERO_DATE)
    value = column.value

    def predicate(row: Row) -> bool:
        current = value(row)
        return current is not None and test(current)

    return predicate


def _fold(text: str) -> str:
    return text.rstrip(" ").casefold()


def _compile_filter(target: Field, value: str, languages: LanguageSelection) -> Filter:
    column = _Column(target, languages)
    match = re.match(r"^(.*)\[(.*)\](.*)$", value, re.S)
    if not match:
        return _equality(column, [value])
    before, inner, after = match.groups()
    if before == "%" or after == "%":
        regex = _like_regex(before + inner + after)
        return Filter(target, lambda row: any(regex.fullmatch(t) for t in column.text(row)))
    if before == "" and after == "":
        if inner.find("|") > 0:
            return _equality(column, inner.split("|"))
        bounds = _RANGE.match(inner)
        if bounds:
            low_text, high_text = _php_sort_pair(bounds.group(1), bounds.group(2))
            low, high = column.literal(low_text), column.literal(high_text)
            if low is None or high is None:
                return Filter(target, lambda row: False)
            result = Filter(target, _matcher(column, lambda v: low <= v <= high))
            if target.name == "id":
                lo, hi = int(low.to_integral_value()), int(high.to_integral_value())
                if hi - lo <= 10_000:
                    result.ids = [i for i in range(max(lo, 0), hi + 1) if low <= i <= high]
            return result
        return _equality(column, [inner])
    if before in (">", "<"):
        literal = column.literal(inner)
        if literal is None:
            return Filter(target, lambda row: False)
        if before == ">":
            result = Filter(target, _matcher(column, lambda v: v > literal))
            result.id_test = lambda v: v > literal
        else:
            result = Filter(target, _matcher(column, lambda v: v < literal))
            result.id_test = lambda v: v < literal
        if target.name != "id":
            result.id_test = None
        return result
    if before == "!":
        literals = [column.literal(text) for text in inner.split("|")]
        if any(literal is None for literal in literals):
            return Filter(target, lambda row: False)
        return Filter(target, _matcher(column, lambda v: all(v != literal for literal in literals)))
    return Filter(target, lambda row: True)  # an unknown operator adds no SQL condition at all


def _equality(column: _Column, texts: list[str]) -> Filter:
    literals = [literal for literal in (column.literal(text) for text in texts) if literal is not None]
    if len(literals) == 1:
        only = literals[0]
        result = Filter(column.field, _matcher(column, lambda v: v == only))
    else:
        result = Filter(column.field, _matcher(column, lambda v: any(v == literal for literal in literals)))
    if column.numeric and column.field.kind in ("id", "int"):
        whole = sorted({int(literal) for literal in literals if literal == int(literal)})
        if column.field.name == "id":
            result.ids = whole
        else:
            result.index_values = whole
    return result


# -- running ----------------------------------------------------------------------------------------------


def select_ids(state: ShopState, resource: Resource, parsed: ParsedQuery) -> list[int]:
    """The ids of the page the query asks for, in answer order. Call with `state.lock` held.

    Id lookups go through the table's dict, equality on an int column through the state's index; everything
    else is one pass over the table. Only ids are sorted and sliced, never row copies.
    """
    table = state.table(resource.name)
    candidates: list[int]
    lookups = [f.ids for f in parsed.filters if f.ids is not None]
    indexed = [f for f in parsed.filters if f.index_values is not None]
    if lookups:
        candidates = [row_id for row_id in min(lookups, key=len) if row_id in table]
    elif indexed:
        chosen = indexed[0]
        assert chosen.index_values is not None
        if len(chosen.index_values) == 1:
            candidates = state.ids_where(resource.name, chosen.field.name, chosen.index_values[0])
        else:
            found: set[int] = set()
            for value in chosen.index_values:
                found.update(state.ids_where(resource.name, chosen.field.name, value))
            candidates = sorted(found)
    else:
        candidates = list(table)
    for id_filter in [f for f in parsed.filters if f.id_test is not None]:
        test = id_filter.id_test
        assert test is not None
        candidates = [row_id for row_id in candidates if test(row_id)]
    predicates = [f.predicate for f in parsed.filters if f.id_test is None and f.ids is None]
    if len(predicates) == 1:
        only = predicates[0]
        candidates = [row_id for row_id in candidates if only(table[row_id])]
    elif predicates:
        candidates = [row_id for row_id in candidates if all(p(table[row_id]) for p in predicates)]
    for target, descending in reversed(parsed.sort):
        if target.name == "id":
            candidates.sort(reverse=descending)
            continue
        column = _Column(target, parsed.languages)

        def key(row_id: int, column: _Column = column) -> tuple[int, Any]:
            return _sort_key(column, table[row_id])

        candidates.sort(key=key, reverse=descending)
    if parsed.limit is not None:
        offset, count = parsed.limit
        return candidates[offset : None if count is None else offset + count]
    return candidates


def _sort_key(column: _Column, row: Row) -> tuple[int, Any]:
    """MySQL order: NULL first, then values (strings case-insensitively, i18n by the first language)."""
    value = column.values(row)[0] if column.multilingual else column.value(row)
    if value is None:
        return (0, 0)
    return (1, value)
