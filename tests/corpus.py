"""The recorded exchanges of a real PrestaShop 8.1.2 shop, and a ShopState seeded with the same data.

The recordings are `tests/data/real-responses/` (its README lists every file and what it shows).
Every object found in a recorded response body becomes a row (union by resource and id). The shop changed a
little while it was recorded (a thread reopened, checkout comments arrived), so a state is built "as of" a
moment: the static corpus (recorded within one minute) is the base, and later recordings overlay it.
`pre-setup/` was recorded before the second language existed: its state has English only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bridge.clock import ManualClock
from bridge.simulator import Simulator
from bridge.simulator.schema import RESOURCES, Field, Resource
from bridge.simulator.state import ShopState, coerce_value

# Recorded from a real shop and kept in the repository, so the tests that replay them always run.
CORPUS_DIR = Path(__file__).resolve().parent / "data" / "real-responses"

FULL_KEY = "ABCDEFGHIJKLMNOPQRSTUVWXYZ123456"
ORDERS_ONLY_KEY = "GETORDERSONLY0000000000000000001"
INACTIVE_KEY = "INACTIVEKEY000000000000000000001"
RECORDED_BASE = "http://127.0.0.1:8080"
STATIC = "static"
PRE_SETUP = "pre-setup"

_BY_SINGULAR = {r.singular: r for r in RESOURCES.values()}
_BY_PLURAL = {r.plural: r for r in RESOURCES.values()}


@dataclass(frozen=True)
class Recording:
    """One recorded request and the shop's exact answer."""

    rel: str  # path relative to the corpus directory, e.g. "orders/list.json"
    request: Mapping[str, Any]
    response: Mapping[str, Any]
    recorded_at: str

    @property
    def moment(self) -> str:
        """Which state this recording needs: "pre-setup", "static", or the later minute it was taken."""
        if self.rel.startswith("pre-setup/"):
            return PRE_SETUP
        minute = self.recorded_at[:16]
        return STATIC if minute <= "2026-11-27 04:51" else minute

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.request["path"]).query, keep_blank_values=True)


def corpus_files() -> list[str]:
    """Every recorded request file outside `timeline/` (the timeline has its own tests)."""
    return sorted(
        str(path.relative_to(CORPUS_DIR))
        for path in CORPUS_DIR.rglob("*.json")
        if path.relative_to(CORPUS_DIR).parts[0] != "timeline"
    )


@cache
def load(rel: str) -> Recording:
    data = json.loads((CORPUS_DIR / rel).read_text(encoding="utf-8"))
    return Recording(rel, data["request"], data["response"], data.get("recorded_at_utc", ""))


def recordings() -> Iterator[Recording]:
    for rel in corpus_files():
        yield load(rel)


# -- from JSON bodies back to rows ------------------------------------------------------------------------


@dataclass
class _Observation:
    resource: Resource
    obj: Mapping[str, Any]
    complete: bool  # every field shown (display=full lists): absent keys mean nothing
    single: bool  # single-object JSON: absent fields were falsy (array_filter)
    language: int | None  # the one language i18n strings are in, when they collapsed


def _observations(recording: Recording, default_language: int | None) -> Iterator[_Observation]:
    body = recording.response.get("body_json")
    if recording.response.get("status") != 200 or not isinstance(body, dict):
        return
    query = recording.query
    languages = query.get("language", [])
    language = int(languages[0]) if languages and languages[0].isdigit() else default_language
    full = query.get("display", [""])[0] == "full"
    for key, value in body.items():
        if isinstance(value, dict) and key in _BY_SINGULAR:
            resource = _BY_SINGULAR[key]
            yield _Observation(resource, value, complete=False, single=True, language=language)
        elif isinstance(value, list) and key in _BY_PLURAL:
            resource = _BY_PLURAL[key]
            for item in value:
                if isinstance(item, dict):
                    yield _Observation(resource, item, complete=full, single=False, language=language)


def _canonical(field: Field, value: Any, language: int | None, state: ShopState) -> Any:
    if field.kind == "i18n":
        if isinstance(value, list):
            return {int(item["id"]): item["value"] for item in value}
        assert language is not None, f"{field.name}: a collapsed multilingual value needs its language"
        return {language: value}
    if field.kind in ("int", "id") and value == "":
        return None
    return coerce_value(field, value, state.timezone)


class _Merger:
    """Collects field values per (resource, id); exact observations beat "was falsy" guesses."""

    def __init__(self, state: ShopState) -> None:
        self.state = state
        self.values: dict[tuple[str, int], dict[str, tuple[int, Any]]] = {}
        self.associations: dict[tuple[str, int], tuple[int, dict[str, list[dict[str, Any]]]]] = {}

    def add(self, observation: _Observation, *, overlay: bool) -> None:
        resource = observation.resource
        obj = observation.obj
        key = (resource.name, int(obj["id"]))
        fields = self.values.setdefault(key, {})
        rank_exact = 3 if overlay else 2
        for field in resource.fields:
            if field.name == "id" or field.getter:
                continue
            if field.name in obj:
                value = _canonical(field, obj[field.name], observation.language, self.state)
                previous = fields.get(field.name)
                if field.kind == "i18n" and previous is not None and previous[0] >= 1:
                    merged = dict(previous[1])
                    merged.update(value)
                    fields[field.name] = (max(previous[0], rank_exact), merged)
                elif previous is None or previous[0] <= rank_exact:
                    fields[field.name] = (rank_exact, value)
            elif (observation.single or observation.complete) and field.name not in fields:
                fields[field.name] = (0, None)  # falsy: the schema default stands
        if observation.single or observation.complete:
            found = obj.get("associations") or {}
            rank = 3 if overlay else 2
            previous_assoc = self.associations.get(key)
            if previous_assoc is None or previous_assoc[0] <= rank:
                self.associations[key] = (rank, {name: list(rows) for name, rows in found.items()})


def _storage_order() -> dict[str, list[int]]:
    """Per resource, the order of the longest unfiltered, unsorted list: the shop's storage order."""
    best: dict[str, list[int]] = {}
    for recording in recordings():
        body = recording.response.get("body_json")
        query = recording.query
        if (
            not isinstance(body, dict)
            or "filter" in str(query)
            or "sort" in query
            or recording.moment != STATIC
        ):
            continue
        for key, value in body.items():
            if isinstance(value, list) and key in _BY_PLURAL:
                ids = [int(item["id"]) for item in value if isinstance(item, dict)]
                name = _BY_PLURAL[key].name
                if len(ids) > len(best.get(name, [])):
                    best[name] = ids
    return best


def _recorded_clock(moment: str) -> ManualClock:
    instants = [r.recorded_at for r in recordings() if r.moment == moment and r.recorded_at]
    latest = max(instants) if instants else "2026-11-27 04:51:32"
    return ManualClock(datetime.strptime(latest, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC))


def build_state(moment: str = STATIC) -> ShopState:
    """A ShopState holding every object the recordings show, as of `moment` (see `Recording.moment`)."""
    state = ShopState(_recorded_clock(moment), timezone="Europe/Warsaw")
    merger = _Merger(state)
    for recording in recordings():
        if recording.moment == STATIC:
            for observation in _observations(recording, default_language=None):
                merger.add(observation, overlay=False)
    overlays = sorted(
        (r for r in recordings() if r.moment == moment and moment != STATIC), key=lambda r: r.recorded_at
    )
    for recording in overlays:
        default = 1 if moment == PRE_SETUP else None
        for observation in _observations(recording, default_language=default):
            merger.add(observation, overlay=True)

    order = _storage_order()
    by_resource: dict[str, list[int]] = {}
    for resource_name, row_id in merger.values:
        by_resource.setdefault(resource_name, []).append(row_id)
    for resource_name, ids in by_resource.items():
        known = order.get(resource_name, [])
        rest = sorted(set(ids) - set(known))
        if resource_name == "configurations":
            # The shop answered configuration queries in name order (its index on `name`).
            rest = sorted(rest, key=lambda i: str(merger.values[(resource_name, i)]["name"][1]))
        for row_id in [i for i in known if i in set(ids)] + rest:
            values = {
                name: value for name, (rank, value) in merger.values[(resource_name, row_id)].items() if rank
            }
            associations = merger.associations.get((resource_name, row_id))
            if associations:
                values["associations"] = associations[1]
            state.insert(resource_name, values, id=row_id)

    if moment == PRE_SETUP:
        state.delete("languages", 2)  # recorded before Polish was added
    return state


def configure(simulator: Simulator) -> Simulator:
    """The recorded shop's keys and its one module resource."""
    simulator.module_resources = {"klaviyo": "Klaviyo custom endpoints"}
    simulator.add_key(FULL_KEY)
    simulator.add_key(ORDERS_ONLY_KEY, {"orders": ["GET"]})
    simulator.add_key(INACTIVE_KEY, active=False)
    return simulator
