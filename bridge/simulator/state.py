"""The simulated shop's database: one table per webservice resource, rows as canonical Python values.

Server threads read while shop actions write, so every access goes through `lock`. Rows keep their insertion
order, which is the "storage order" a real shop returns when no `sort` is given.
"""

from __future__ import annotations

import copy
import threading
import zoneinfo
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from bridge.clock import Clock
from bridge.simulator.schema import RESOURCES, Field, Resource

ZERO_DATETIME = "0000-00-00 00:00:00"
ZERO_DATE = "0000-00-00"


def default_value(field: Field) -> Any:
    """The value a new row gets when the caller does not give one (what PrestaShop's column default gives)."""
    if field.nullable and field.kind not in ("i18n",):
        return None
    match field.kind:
        case "id" | "int":
            return 0
        case "bool":
            return False
        case "money" | "decimal":
            return Decimal(0)
        case "date" | "birthday":
            return None
        case "i18n":
            return {}
        case _:
            return ""


def coerce_value(field: Field, value: Any, timezone: zoneinfo.ZoneInfo) -> Any:
    """Turn a convenient input (str, float, aware datetime...) into the canonical value for `field`.

    Canonical values: int; bool; Decimal; naive shop-local datetime or None; date or None; str or None
    (getters may also give False, as PHP does); dict[int, str] for i18n.
    """
    if value is None:
        return None if field.kind not in ("i18n",) else {}
    match field.kind:
        case "id" | "int":
            if isinstance(value, str) and value == "" and field.nullable:
                return None
            return int(value)
        case "bool":
            if isinstance(value, str):
                return value not in ("", "0")
            return bool(value)
        case "money" | "decimal":
            if isinstance(value, float):
                return Decimal(repr(value))
            return Decimal(value)
        case "date":
            if isinstance(value, str):
                if value in ("", ZERO_DATETIME):
                    return None
                return datetime.strptime(value, "%Y-%m-%d %H:%M:%S")  # noqa: DTZ007 - shop-local wall time
            if isinstance(value, datetime):
                if value.tzinfo is not None:
                    value = value.astimezone(timezone).replace(tzinfo=None)
                return value.replace(microsecond=0)
            raise TypeError(f"{field.name}: expected a datetime, got {type(value).__name__}")
        case "birthday":
            if isinstance(value, str):
                if value in ("", ZERO_DATE):
                    return None
                return date.fromisoformat(value)
            if isinstance(value, datetime):
                return value.date()
            if isinstance(value, date):
                return value
            raise TypeError(f"{field.name}: expected a date, got {type(value).__name__}")
        case "i18n":
            if isinstance(value, str):
                raise TypeError(f"{field.name}: multilingual values are dicts keyed by language id")
            return {int(lang): str(text) for lang, text in dict(value).items()}
        case _:
            if value is False:
                return False
            return str(value)


# Per resource name (dataclass hashing is too slow for the insert path of a 100 000-order seed).
_TEMPLATES: dict[str, dict[str, Any]] = {
    name: {field.name: default_value(field) for field in resource.fields}
    for name, resource in RESOURCES.items()
}
_FRESH_DICTS: dict[str, tuple[str, ...]] = {
    name: tuple(field.name for field in resource.fields if field.kind == "i18n")
    for name, resource in RESOURCES.items()
}
_ASSOCIATIONS: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Field]]] = {
    (name, association.name): (
        {field.name: default_value(field) for field in association.fields},
        {field.name: field for field in association.fields},
    )
    for name, resource in RESOURCES.items()
    for association in resource.associations
}
_FIELD_MAPS: dict[str, dict[str, Field]] = {
    name: {field.name: field for field in resource.fields} for name, resource in RESOURCES.items()
}


class ShopState:
    """The shop's database. Rows hold canonical Python values:
    id/int -> int; bool -> bool; money/decimal -> decimal.Decimal; date -> naive shop-local datetime or None
    (None renders as "0000-00-00 00:00:00"); birthday -> datetime.date | None; string -> str | None;
    i18n -> dict[int, str] keyed by language id; associations ->
    row["associations"] = {"order_rows": [{field: canonical value}, ...]}.
    """

    def __init__(self, clock: Clock, timezone: str = "Europe/Warsaw") -> None:
        self.clock = clock
        self.timezone = zoneinfo.ZoneInfo(timezone)
        self.lock = threading.RLock()
        self._tables: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in RESOURCES}
        self._max_id: dict[str, int] = dict.fromkeys(RESOURCES, 0)
        # (resource, field) -> value -> ids (dict as an ordered set); built on first use, kept up to date.
        self._indexes: dict[tuple[str, str], dict[Any, dict[int, None]]] = {}
        # Tables the webservice cannot see (merchandise returns...): name -> id -> row.
        self.private: dict[str, dict[int, dict[str, Any]]] = {}

    # -- time -------------------------------------------------------------------------------------------

    def now_local(self) -> datetime:
        """Naive shop-local wall time, truncated to the second (what PHP `date()` writes)."""
        return self.clock.now().astimezone(self.timezone).replace(tzinfo=None, microsecond=0)

    # -- writes -----------------------------------------------------------------------------------------

    def insert(self, resource: str, values: Mapping[str, Any], *, id: int | None = None) -> int:
        """Add a row; unspecified fields get schema defaults. Returns the id (max id + 1 when not given)."""
        schema = self._schema(resource)
        with self.lock:
            table = self._tables[resource]
            row_id = self._max_id[resource] + 1 if id is None else int(id)
            if row_id in table:
                raise ValueError(f"{resource} {row_id} already exists")
            row = dict(_TEMPLATES[resource])
            for name in _FRESH_DICTS[resource]:
                row[name] = {}
            row["id"] = row_id
            self._apply(schema, row, values)
            table[row_id] = row
            self._max_id[resource] = max(self._max_id[resource], row_id)
            for (res, name), index in self._indexes.items():
                if res == resource:
                    index.setdefault(row.get(name), {})[row_id] = None
            return row_id

    def update(self, resource: str, id: int, **values: Any) -> None:
        """Change fields of a row. Never touches `date_upd` by itself: the caller decides, like PrestaShop."""
        schema = self._schema(resource)
        with self.lock:
            row = self._tables[resource][id]
            before = {name: row.get(name) for (res, name) in self._indexes if res == resource}
            self._apply(schema, row, values)
            for (res, name), index in self._indexes.items():
                if res == resource and before[name] != row.get(name):
                    index.get(before[name], {}).pop(id, None)
                    index.setdefault(row.get(name), {})[id] = None

    def delete(self, resource: str, id: int) -> None:
        self._schema(resource)
        with self.lock:
            row = self._tables[resource].pop(id)
            for (res, name), index in self._indexes.items():
                if res == resource:
                    index.get(row.get(name), {}).pop(id, None)

    def _apply(self, schema: Resource, row: dict[str, Any], values: Mapping[str, Any]) -> None:
        for name, value in values.items():
            if name == "associations":
                row["associations"] = self._associations(schema, value)
                continue
            if name == "id":
                continue
            field = _FIELD_MAPS[schema.name].get(name)
            if field is None:
                raise KeyError(f"{schema.name} has no field {name!r}")
            row[name] = coerce_value(field, value, self.timezone)

    def _associations(
        self, schema: Resource, value: Mapping[str, Iterable[Mapping[str, Any]]]
    ) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for name, items in value.items():
            shape = _ASSOCIATIONS.get((schema.name, name))
            if shape is None:
                raise KeyError(f"{schema.name} has no association {name!r}")
            template, fields = shape
            rows: list[dict[str, Any]] = []
            for item in items:
                converted = dict(template)
                for field_name, raw in item.items():
                    field = fields.get(field_name)
                    if field is None:
                        raise KeyError(f"{schema.name}.{name} has no field {field_name!r}")
                    converted[field_name] = coerce_value(field, raw, self.timezone)
                rows.append(converted)
            out[name] = rows
        return out

    # -- reads ------------------------------------------------------------------------------------------

    def get(self, resource: str, id: int) -> dict[str, Any]:
        """A copy of one row; KeyError when it does not exist."""
        self._schema(resource)
        with self.lock:
            return copy.deepcopy(self._tables[resource][id])

    def find(self, resource: str, id: int) -> dict[str, Any] | None:
        self._schema(resource)
        with self.lock:
            row = self._tables[resource].get(id)
            return None if row is None else copy.deepcopy(row)

    def rows(self, resource: str) -> list[dict[str, Any]]:
        """Copies of every row, in storage order."""
        self._schema(resource)
        with self.lock:
            return [copy.deepcopy(row) for row in self._tables[resource].values()]

    def table(self, resource: str) -> dict[int, dict[str, Any]]:
        """The live table (id -> row), for the query engine. Hold `lock` while reading; never mutate."""
        self._schema(resource)
        return self._tables[resource]

    def ids_where(self, resource: str, field: str, value: Any) -> list[int]:
        """Ids of rows whose `field` equals `value`, in storage order, through a maintained index."""
        self._schema(resource)
        with self.lock:
            key = (resource, field)
            index = self._indexes.get(key)
            if index is None:
                index = {}
                for row_id, row in self._tables[resource].items():
                    index.setdefault(row.get(field), {})[row_id] = None
                self._indexes[key] = index
            return list(index.get(value, {}))

    def count(self, resource: str) -> int:
        self._schema(resource)
        with self.lock:
            return len(self._tables[resource])

    def next_id(self, resource: str) -> int:
        """The id the next `insert` without an explicit id will get."""
        self._schema(resource)
        with self.lock:
            return self._max_id[resource] + 1

    # -- configuration and languages --------------------------------------------------------------------

    def config(self, name: str) -> str | None:
        """A configuration value (shop-wide row), backed by the `configurations` resource."""
        with self.lock:
            for row_id in self.ids_where("configurations", "name", name):
                value = self._tables["configurations"][row_id]["value"]
                return None if value is None else str(value)
            return None

    def set_config(self, name: str, value: str | None) -> None:
        """Insert or update a configuration row; its dates move like `Configuration::updateValue`."""
        with self.lock:
            now = self.now_local()
            for row_id in self.ids_where("configurations", "name", name):
                self.update("configurations", row_id, value=value, date_upd=now)
                return
            self.insert("configurations", {"name": name, "value": value, "date_add": now, "date_upd": now})

    def active_language_ids(self) -> list[int]:
        """What `Language::getIDs()` gives: active languages, by id."""
        with self.lock:
            return sorted(row_id for row_id, row in self._tables["languages"].items() if row["active"])

    # -- helpers ----------------------------------------------------------------------------------------

    @staticmethod
    def _schema(resource: str) -> Resource:
        schema = RESOURCES.get(resource)
        if schema is None:
            raise KeyError(f"unknown resource {resource!r}")
        return schema
