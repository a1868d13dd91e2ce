"""The simulator answers every recorded request the way the real PrestaShop 8.1.2 shop did.

Each file in `tests/data/real-responses/` (outside `timeline/`) is replayed as recorded (method, path,
headers) against a simulator seeded with the objects the recordings show. The answer must have the same
status, content type, JSON shape (keys in order, value types, `[]` for empty), error codes and messages, the
same values (so filters, sort, paging and rendering are proven), and for XML the same element tree.
"""

from __future__ import annotations

import hashlib
import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

import pytest

from bridge.simulator import Simulator
from tests import corpus

# Recorded files the conformance replay does not cover, with the reason. Kept as small as possible.
EXCLUDED: dict[str, str] = {}

# Facts of the real shop the simulator does not reproduce: (file, JSON path) -> why.
KNOWN_VALUE_DIFFERENCES: dict[tuple[str, str], str] = {
    ("languages/display-full.json", "$.languages[0].active"): (
        "the real shop renders language 1's flags as ints (a cached object) and language 2's as strings; "
        "the simulator renders every bool the same way"
    ),
    ("languages/display-full.json", "$.languages[0].is_rtl"): "same as languages[0].active",
}

# Answers whose rows are compared as a set, because their order was the query plan's, not a fact of the data.
UNORDERED: dict[str, str] = {
    "carts/filter-abandoned-window.json": (
        "without `sort`, MySQL answered this date-window filter through an index on date_upd (rows in date "
        "order); the simulator answers an unsorted filter in storage order"
    ),
}


@pytest.fixture(scope="module")
def shops() -> Iterator[dict[str, Simulator]]:
    """One running simulator per recorded moment (the static corpus, pre-setup, and two later minutes)."""
    running: dict[str, Simulator] = {}
    try:
        for moment in sorted({corpus.load(rel).moment for rel in corpus.corpus_files()}):
            simulator = corpus.configure(Simulator(corpus.build_state(moment), flavour="8.1"))
            running[moment] = simulator.start()
        yield running
    finally:
        for simulator in running.values():
            simulator.stop()


def _replay(simulator: Simulator, recording: corpus.Recording) -> tuple[int, dict[str, str], bytes]:
    request = recording.request
    headers = {name: value for name, value in request["headers"].items() if name.lower() != "host"}
    connection = http.client.HTTPConnection(simulator.host, simulator.port, timeout=10)
    try:
        connection.request(
            request["method"],
            simulator.base_path + request["path"],
            body=request.get("body"),
            headers=headers,
        )
        response = connection.getresponse()
        body = response.read()
        return response.status, {name.lower(): value for name, value in response.getheaders()}, body
    finally:
        connection.close()


def _content_type(value: str | None) -> str:
    return (value or "").replace(" ", "").lower()


def _recorded_content_type(recording: corpus.Recording) -> str:
    for name, value in recording.response["headers"]:
        if name.lower() == "content-type":
            return _content_type(value)
    return ""


def _compare_json(
    expected: Any, actual: Any, path: str, rel: str, unordered_lists: bool, problems: list[str]
) -> None:
    if (rel, path) in KNOWN_VALUE_DIFFERENCES:
        return
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            problems.append(f"{path}: expected an object, got {type(actual).__name__}")
            return
        if list(expected) != list(actual):
            problems.append(f"{path}: keys differ\n  expected {list(expected)}\n  actual   {list(actual)}")
            return
        for key in expected:
            _compare_json(expected[key], actual[key], f"{path}.{key}", rel, unordered_lists, problems)
        return
    if isinstance(expected, list):
        if not isinstance(actual, list):
            problems.append(f"{path}: expected a list, got {type(actual).__name__}")
            return
        if len(expected) != len(actual):
            problems.append(f"{path}: {len(expected)} items expected, {len(actual)} given")
            return
        pairs = list(zip(expected, actual, strict=True))
        if (
            unordered_lists
            and path.count("[") == 0
            and all(isinstance(e, dict) and "id" in e for e in expected)
        ):
            pairs = list(
                zip(
                    sorted(expected, key=lambda e: e["id"]),
                    sorted(actual, key=lambda a: int(a.get("id", 0)) if isinstance(a, dict) else 0),
                    strict=True,
                )
            )
        for index, (left, right) in enumerate(pairs):
            _compare_json(left, right, f"{path}[{index}]", rel, unordered_lists, problems)
        return
    if type(expected) is not type(actual):
        problems.append(
            f"{path}: expected {type(expected).__name__} {expected!r}, got {type(actual).__name__} {actual!r}"
        )
    elif expected != actual:
        problems.append(f"{path}: expected {expected!r}, got {actual!r}")


def _xml_tree(text: str, base: str) -> Any:
    def walk(element: ElementTree.Element) -> Any:
        attributes = {name: value.replace(base, "BASE") for name, value in element.attrib.items()}
        return (element.tag, attributes, (element.text or "").strip(), [walk(child) for child in element])

    return walk(ElementTree.fromstring(text))  # noqa: S314 - our own server's answer and a stored recording


def _xml_difference(expected: Any, actual: Any, path: str = "") -> str | None:
    tag, attributes, text, children = expected
    here = f"{path}/{tag}"
    if actual[0] != tag:
        return f"{here}: element {actual[0]!r} instead"
    if actual[1] != attributes:
        return f"{here}: attributes {actual[1]} instead of {attributes}"
    if actual[2] != text:
        return f"{here}: text {actual[2]!r} instead of {text!r}"
    if len(actual[3]) != len(children):
        names = [child[0] for child in actual[3]]
        return f"{here}: children {names} instead of {[child[0] for child in children]}"
    for index, (left, right) in enumerate(zip(children, actual[3], strict=True)):
        found = _xml_difference(left, right, f"{here}[{index}]")
        if found:
            return found
    return None


def _unordered(recording: corpus.Recording) -> bool:
    return recording.rel in UNORDERED


@pytest.mark.parametrize("rel", [rel for rel in corpus.corpus_files() if rel not in EXCLUDED])
def test_simulator_answers_like_the_recorded_shop(rel: str, shops: dict[str, Simulator]) -> None:
    recording = corpus.load(rel)
    simulator = shops[recording.moment]
    status, headers, body = _replay(simulator, recording)
    expected = recording.response

    assert status == expected["status"], body[:500]
    assert _content_type(headers.get("content-type")) == _recorded_content_type(recording)
    recorded_headers = {name.lower(): value for name, value in expected["headers"]}
    for name in ("psws-version", "x-powered-by", "www-authenticate"):
        assert headers.get(name) == recorded_headers.get(name), name
    assert ("content-sha1" in headers) == ("content-sha1" in recorded_headers)
    if "content-sha1" in headers and recording.request["method"] == "GET":
        assert headers["content-sha1"] == hashlib.sha1(body).hexdigest()  # noqa: S324 - PrestaShop's checksum

    if expected.get("body_omitted"):
        assert body, "a binary answer needs a body"
        return
    recorded_body: str = expected["body"]
    if expected.get("body_json") is not None:
        problems: list[str] = []
        _compare_json(expected["body_json"], json.loads(body), "$", rel, _unordered(recording), problems)
        assert not problems, "\n".join(problems[:20])
        return
    if recorded_body.startswith("<?xml"):
        recorded_base = corpus.RECORDED_BASE
        expected_tree = _xml_tree(recorded_body.replace(recorded_base, simulator.url), simulator.url)
        difference = _xml_difference(expected_tree, _xml_tree(body.decode(), simulator.url))
        assert difference is None, difference
        return
    assert body.decode() == recorded_body


def test_every_recorded_file_is_covered_or_excluded_with_a_reason() -> None:
    files = set(corpus.corpus_files())
    covered = {rel for rel in files if rel not in EXCLUDED}
    assert covered | set(EXCLUDED) == files
    assert set(EXCLUDED) <= files, "an exclusion names a file that is not in the corpus"
    assert all(reason.strip() for reason in EXCLUDED.values())
    assert len(files) == 167, "the corpus README lists 167 files outside timeline/"


def test_each_known_difference_names_a_value_the_recording_really_has() -> None:
    for (rel, path), reason in KNOWN_VALUE_DIFFERENCES.items():
        value: Any = corpus.load(rel).response["body_json"]
        for part in path.removeprefix("$.").replace("[", ".").replace("]", "").split("."):
            value = value[int(part)] if part.isdigit() else value[part]
        assert isinstance(value, int), reason


def test_the_seed_holds_what_the_recordings_show() -> None:
    state = corpus.build_state()
    assert state.count("orders") == 10
    assert state.get("orders", 6)["reference"] == "LBIZIMDOX"
    assert state.config("PS_TIMEZONE") == "Europe/Warsaw"
    assert state.active_language_ids() == [1, 2]
    assert corpus.build_state(corpus.PRE_SETUP).active_language_ids() == [1]
    assert urlsplit(corpus.RECORDED_BASE).port == 8080
