"""The shop client against the PrestaShop simulator over real HTTP on 127.0.0.1: queries, paging, records."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

import pytest

from bridge.clock import ManualClock
from bridge.secret import Secret
from bridge.shop.client import ShopClient
from bridge.shop.query import Filter, Query, between, equals, greater_than, less_than, one_of
from bridge.simulator import DEMO_API_KEY, ShopState, Simulator
from bridge.simulator.demo_shop import build_demo_state

FLAVOURS = ("1.7.7", "8.1", "8.2")
WARSAW = ZoneInfo("Europe/Warsaw")
START = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@pytest.fixture
def demo_state() -> ShopState:
    return build_demo_state(ManualClock(START))


# Tests marked EVERY_FLAVOUR run against 1.7.7 (all strings, nothing dropped), 8.1 (native ints, falsy fields
# dropped from single GETs) and 8.2 (strings again); the others do not depend on typing and use 8.1.
EVERY_FLAVOUR = pytest.mark.parametrize("flavour", FLAVOURS, indirect=True)


@pytest.fixture
def flavour(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "8.1"))


@pytest.fixture
def sim(demo_state: ShopState, flavour: str) -> Iterator[Simulator]:
    with Simulator(demo_state, flavour=flavour) as simulator:
        yield simulator


@pytest.fixture
def client(sim: Simulator) -> Iterator[ShopClient]:
    with ShopClient(sim.url, Secret(DEMO_API_KEY), sleep=lambda _: None) as shop:
        yield shop


def queries(sim: Simulator, resource: str) -> list[dict[str, list[str]]]:
    """The decoded query strings of the requests the shop served for `resource`."""
    return [parse_qs(urlsplit(r.path).query) for r in sim.requests if r.resource == resource]


def add_orders(state: ShopState, count: int, *, date_upd: datetime | None = None) -> list[int]:
    stamp = date_upd or state.now_local()
    return [
        state.insert(
            "orders",
            {
                "reference": f"BULK{n:05d}",
                "id_customer": 1,
                "current_state": 2,
                "date_add": stamp,
                "date_upd": stamp,
            },
        )
        for n in range(count)
    ]


# -- orders and the records they become ------------------------------------------------------------


@EVERY_FLAVOUR
def test_orders_come_back_as_records_in_id_order(client: ShopClient, demo_state: ShopState) -> None:
    orders = client.orders()
    assert [o.id for o in orders] == sorted(demo_state.table("orders"))
    first = orders[0]
    row = demo_state.get("orders", first.id)
    assert first.reference == row["reference"]
    assert first.total_paid == row["total_paid"]
    assert first.date_add == row["date_add"].replace(tzinfo=WARSAW)
    assert len(first.rows) == len(row["associations"]["order_rows"])
    assert first.secure_key.reveal() == row["secure_key"]


@EVERY_FLAVOUR
def test_a_single_order_get_gives_the_same_record_as_the_list(client: ShopClient) -> None:
    # 8.x drops falsy fields from single GETs; the record must not notice.
    for order in client.orders():
        assert client.order(order.id) == order


@EVERY_FLAVOUR
def test_an_unknown_order_id_is_none(client: ShopClient) -> None:
    assert client.order(987654) is None


@EVERY_FLAVOUR
def test_orders_by_id_are_one_request(client: ShopClient, sim: Simulator) -> None:
    orders = client.orders(ids=[3, 1, 3, 2])
    assert [o.id for o in orders] == [1, 2, 3]
    sent = queries(sim, "orders")
    assert len(sent) == 1
    assert sent[0]["filter[id]"] == ["[1|2|3]"]
    assert sent[0]["display"] == ["full"]


@EVERY_FLAVOUR
def test_new_orders_after_an_id_use_a_strict_id_filter(client: ShopClient, sim: Simulator) -> None:
    orders = client.orders(after_id=3, limit=2)
    assert [o.id for o in orders] == [4, 5]
    (sent,) = queries(sim, "orders")
    assert sent["filter[id]"] == [">[3]"] and sent["sort"] == ["[id_ASC]"] and sent["limit"] == ["0,2"]


@EVERY_FLAVOUR
def test_a_poll_past_the_last_order_is_an_empty_list(client: ShopClient) -> None:
    assert client.orders(after_id=10**6) == []


@EVERY_FLAVOUR
def test_paging_reads_every_order_exactly_once(
    client: ShopClient, sim: Simulator, demo_state: ShopState
) -> None:
    add_orders(demo_state, 250)
    ids = [o.id for o in client.orders(after_id=0)]
    assert ids == sorted(demo_state.table("orders"))
    assert len(queries(sim, "orders")) == 3  # 100 + 100 + 56: a short page ends the listing


@EVERY_FLAVOUR
def test_only_the_fields_asked_for_are_fetched(client: ShopClient, sim: Simulator) -> None:
    orders = client.orders(after_id=0, fields=["current_state", "date_upd"])
    assert all(o.current_state > 0 and o.date_upd is not None and o.reference == "" for o in orders)
    assert queries(sim, "orders")[0]["display"] == ["[current_state,date_upd,id]"]


@EVERY_FLAVOUR
def test_changed_since_is_inclusive_and_sends_date_1(
    client: ShopClient, sim: Simulator, demo_state: ShopState
) -> None:
    latest = max(row["date_upd"] for row in demo_state.rows("orders"))
    since = latest.replace(tzinfo=WARSAW)
    changed = client.orders(changed_since=since)
    assert changed and all(o.date_upd == since for o in changed)
    sent = queries(sim, "orders")[0]
    assert sent["date"] == ["1"]
    assert sent["sort"] == ["[date_upd_ASC,id_ASC]"]
    assert sent["filter[date_upd]"] == [f"[{latest:%Y-%m-%d %H:%M:%S},9999-12-31 23:59:59]"]


def test_changed_since_converts_any_timezone_to_shop_time(client: ShopClient, sim: Simulator) -> None:
    client.orders(changed_since=datetime(2026, 11, 27, 8, 0, tzinfo=UTC))
    assert queries(sim, "orders")[0]["filter[date_upd]"][0].startswith("[2026-11-27 09:00:00,")


def test_changed_since_pages_through_many_orders_sharing_one_second(
    client: ShopClient, sim: Simulator, demo_state: ShopState
) -> None:
    stamp = demo_state.now_local()
    added = add_orders(demo_state, 230, date_upd=stamp)
    changed = client.orders(changed_since=stamp.replace(tzinfo=WARSAW))
    assert [o.id for o in changed] == added
    assert len(queries(sim, "orders")) == 3


def test_changed_since_keeps_going_when_the_date_moves_between_pages(
    client: ShopClient, sim: Simulator, demo_state: ShopState
) -> None:
    base = demo_state.now_local()
    added = [
        demo_state.insert("orders", {"reference": f"T{n:04d}", "date_upd": base + timedelta(seconds=n // 70)})
        for n in range(210)
    ]
    changed = client.orders(changed_since=base.replace(tzinfo=WARSAW))
    assert sorted(o.id for o in changed) == added
    assert len({o.id for o in changed}) == len(changed)


def test_changed_until_bounds_the_window(client: ShopClient, demo_state: ShopState) -> None:
    stamps = sorted(row["date_upd"] for row in demo_state.rows("orders"))
    low, high = stamps[1].replace(tzinfo=WARSAW), stamps[-2].replace(tzinfo=WARSAW)
    changed = client.orders(changed_since=low, changed_until=high)
    expected = sorted(
        (row["date_upd"], row["id"])
        for row in demo_state.rows("orders")
        if stamps[1] <= row["date_upd"] <= stamps[-2]
    )
    assert [o.id for o in changed] == [row_id for _, row_id in expected]


def test_orders_of_carts_tell_ordered_carts_from_abandoned_ones(
    client: ShopClient, demo_state: ShopState
) -> None:
    cart_ids = sorted(demo_state.table("carts"))
    ordered = {row["id_cart"] for row in demo_state.rows("orders")}
    found = client.orders(cart_ids=cart_ids)
    assert {o.id_cart for o in found} == ordered & set(cart_ids)


def test_selectors_cannot_be_combined(client: ShopClient) -> None:
    with pytest.raises(ValueError, match="choose one"):
        client.orders(ids=[1], after_id=3)


# -- batching ---------------------------------------------------------------------------------------


@EVERY_FLAVOUR
def test_three_hundred_customers_by_id_take_at_most_four_requests(
    client: ShopClient, sim: Simulator, demo_state: ShopState
) -> None:
    ids = [
        demo_state.insert("customers", {"email": f"c{n}@example.com", "firstname": f"C{n}", "id_lang": 2})
        for n in range(300)
    ]
    customers = client.customers(ids)
    assert [c.id for c in customers] == ids
    assert customers[-1].email == "c299@example.com"
    assert len(queries(sim, "customers")) <= 4


def test_huge_id_batches_keep_urls_short(client: ShopClient, sim: Simulator) -> None:
    client.customers(range(10**11, 10**11 + 1500))
    paths = [r.path for r in sim.requests if r.resource == "customers"]
    assert len(paths) > 1
    assert max(len(p) for p in paths) < 8000


@EVERY_FLAVOUR
def test_related_rows_are_fetched_by_order_ids(client: ShopClient, demo_state: ShopState) -> None:
    order_ids = sorted(demo_state.table("orders"))
    carriers = client.order_carriers(order_ids)
    assert {c.id_order for c in carriers} == set(order_ids)
    details = client.order_details(order_ids[:2])
    assert {d.id_order for d in details} == set(order_ids[:2])
    histories = client.order_histories(order_ids=[order_ids[0]])
    assert histories and all(h.id_order == order_ids[0] for h in histories)


@EVERY_FLAVOUR
def test_payments_are_found_by_order_reference(client: ShopClient, demo_state: ShopState) -> None:
    paid = [row for row in demo_state.rows("order_payments")]
    reference = paid[0]["order_reference"]
    payments = client.order_payments(references=[reference])
    assert payments and {p.order_reference for p in payments} == {reference}
    assert sum(p.amount for p in payments) == sum(
        row["amount"] for row in paid if row["order_reference"] == reference
    )


@EVERY_FLAVOUR
def test_the_change_feeds_by_id_return_rows_after_the_cursor(
    client: ShopClient, demo_state: ShopState
) -> None:
    histories = client.order_histories(after_id=3)
    assert [h.id for h in histories] == sorted(i for i in demo_state.table("order_histories") if i > 3)
    payments = client.order_payments(after_id=1)
    assert [p.id for p in payments] == sorted(i for i in demo_state.table("order_payments") if i > 1)


@EVERY_FLAVOUR
def test_carts_changed_in_a_window(client: ShopClient, demo_state: ShopState) -> None:
    stamps = sorted(row["date_upd"] for row in demo_state.rows("carts"))
    carts = client.carts(
        changed_since=stamps[0].replace(tzinfo=WARSAW), changed_until=stamps[-1].replace(tzinfo=WARSAW)
    )
    assert sorted(c.id for c in carts) == sorted(demo_state.table("carts"))
    assert any(c.rows for c in carts)


@EVERY_FLAVOUR
def test_reference_data_reads(client: ShopClient, demo_state: ShopState) -> None:
    assert {lang.iso_code for lang in client.languages()} == {"en", "pl"}
    assert {c.iso_code for c in client.currencies()} == {
        row["iso_code"] for row in demo_state.rows("currencies")
    }
    poland = client.countries([14])[0]
    assert (poland.iso_code, poland.name.get(2)) == ("PL", "Polska")
    carriers = client.carriers(sorted(demo_state.table("carriers")))
    assert any("@" in c.url for c in carriers)
    products = client.products(after_id=0)
    assert [p.id for p in products] == sorted(demo_state.table("products"))
    assert all(isinstance(p.price, Decimal) for p in products)
    addresses = client.addresses(sorted(demo_state.table("addresses")))
    assert len(addresses) == demo_state.count("addresses")


# -- languages -------------------------------------------------------------------------------------------


@EVERY_FLAVOUR
def test_order_state_names_are_multilingual(client: ShopClient) -> None:
    accepted = next(s for s in client.order_states() if s.id == 2)
    assert accepted.name.get(2) == "Płatność zaakceptowana"
    assert accepted.name.get(1) == "Payment accepted"
    assert accepted.paid and accepted.logable and not accepted.shipped


@EVERY_FLAVOUR
def test_a_language_parameter_collapses_names_into_that_language(client: ShopClient, sim: Simulator) -> None:
    accepted = next(s for s in client.order_states(language=2) if s.id == 2)
    assert accepted.name.values == ((2, "Płatność zaakceptowana"),)
    assert queries(sim, "order_states")[0]["language"] == ["2"]


@EVERY_FLAVOUR
def test_a_single_language_shop_gives_names_for_any_language(
    client: ShopClient, demo_state: ShopState
) -> None:
    demo_state.update("languages", 1, active=False)
    accepted = next(s for s in client.order_states() if s.id == 2)
    assert accepted.name.values == ((None, "Płatność zaakceptowana"),)
    assert accepted.name.get(1) == "Płatność zaakceptowana"


# -- shop settings, version, permissions -------------------------------------------------------------------


@EVERY_FLAVOUR
def test_configuration_reads_several_keys_in_one_request(client: ShopClient, sim: Simulator) -> None:
    values = client.configuration(["PS_SHOP_NAME", "PS_TIMEZONE", "PS_NO_SUCH_KEY"])
    assert values == {
        "PS_SHOP_NAME": "Pracownia Ceramiki Złota Łąka",
        "PS_TIMEZONE": "Europe/Warsaw",
        "PS_NO_SUCH_KEY": None,
    }
    assert len(queries(sim, "configurations")) == 1


def test_the_shop_timezone_is_read_once(client: ShopClient, sim: Simulator) -> None:
    client.orders(ids=[1])
    client.customers([1])
    assert client.shop_timezone() == WARSAW
    assert len(queries(sim, "configurations")) == 1


@EVERY_FLAVOUR
def test_dates_follow_the_shops_own_timezone(demo_state: ShopState, flavour: str) -> None:
    demo_state.set_config("PS_TIMEZONE", "America/New_York")
    with (
        Simulator(demo_state, flavour=flavour) as sim,
        ShopClient(sim.url, Secret(DEMO_API_KEY)) as client,
    ):
        order = client.orders(ids=[1])[0]
    stored = demo_state.get("orders", 1)["date_add"]
    assert order.date_add == stored.replace(tzinfo=ZoneInfo("America/New_York"))
    assert order.date_add is not None and order.date_add.utcoffset() == timedelta(hours=-5)


def test_an_owner_given_timezone_saves_the_lookup(demo_state: ShopState) -> None:
    with (
        Simulator(demo_state) as sim,
        ShopClient(sim.url, Secret(DEMO_API_KEY), timezone="Europe/Warsaw") as client,
    ):
        client.orders(ids=[1])
        assert queries(sim, "configurations") == []


@EVERY_FLAVOUR
def test_the_version_comes_from_the_psws_header(client: ShopClient, sim: Simulator) -> None:
    assert client.version is None
    client.orders(ids=[1])
    assert client.version == sim.rules.psws_version


@EVERY_FLAVOUR
def test_ping_checks_the_key_and_returns_the_version(client: ShopClient, sim: Simulator) -> None:
    assert client.ping() == sim.rules.psws_version


@EVERY_FLAVOUR
def test_permissions_list_what_the_key_may_do(demo_state: ShopState, flavour: str) -> None:
    limited = "LIMITEDKEY000000000000000000000A"
    with Simulator(demo_state, flavour=flavour) as sim:
        sim.add_key(limited, {"orders": ["GET"], "customers": ["GET", "HEAD"]})
        with ShopClient(sim.url, Secret(limited)) as client:
            assert client.permissions() == {"orders": {"GET"}, "customers": {"GET", "HEAD"}}
        with ShopClient(sim.url, Secret(DEMO_API_KEY)) as client:
            everything = client.permissions()
    assert everything["orders"] == {"GET", "PUT", "POST", "PATCH", "DELETE", "HEAD"}
    assert "order_states" in everything


# -- URL forms -------------------------------------------------------------------------------------


@pytest.mark.parametrize("rewriting", [True, False])
def test_a_shop_in_a_subfolder_is_found_with_or_without_url_rewriting(
    demo_state: ShopState, rewriting: bool
) -> None:
    with Simulator(demo_state, base_path="/sklep", url_rewriting=rewriting) as sim:
        with ShopClient(sim.url, Secret(DEMO_API_KEY), timezone="Europe/Warsaw") as client:
            assert [o.id for o in client.orders(ids=[1, 2])] == [1, 2]
            assert client.url_form == ("api" if rewriting else "dispatcher")
            client.orders(ids=[3])
        paths = [urlsplit(r.path).path for r in sim.requests]
    if rewriting:
        assert paths == ["/sklep/api/orders", "/sklep/api/orders"]
    else:
        # One probe of /api/ on first use, then straight to the dispatcher.
        assert paths == [
            "/sklep/api/orders",
            "/sklep/webservice/dispatcher.php",
            "/sklep/webservice/dispatcher.php",
        ]


@pytest.mark.parametrize(
    ("suffix", "form"), [("/api", "api"), ("/api/", "api"), ("/webservice/dispatcher.php", "dispatcher")]
)
def test_a_base_url_naming_the_api_is_understood(demo_state: ShopState, suffix: str, form: str) -> None:
    with Simulator(demo_state, base_path="/shop", url_rewriting=form == "api") as sim:
        with ShopClient(sim.url + suffix, Secret(DEMO_API_KEY), timezone="Europe/Warsaw") as client:
            assert client.url_form == form
            assert client.base_url == sim.url
            assert len(client.orders(ids=[1])) == 1
        assert len(sim.requests) == 1


def test_a_base_url_with_a_query_or_credentials_is_cleaned(demo_state: ShopState) -> None:
    with Simulator(demo_state) as sim:
        dirty = sim.url.replace("http://", "http://user:pw@") + "/?ws_key=" + DEMO_API_KEY
        with ShopClient(dirty, Secret(DEMO_API_KEY)) as client:
            assert client.base_url == sim.url
            assert "pw" not in repr(client)


# -- what goes over the wire ----------------------------------------------------------------------------


def test_the_key_travels_only_in_the_authorization_header(client: ShopClient, sim: Simulator) -> None:
    client.orders(ids=[1])
    client.permissions()
    assert sim.requests
    # The shop accepted every request, and no URL carried the key: it went in the Authorization header.
    assert all(record.status == 200 for record in sim.requests)
    for record in sim.requests:
        assert DEMO_API_KEY not in unquote(record.path)
        assert "ws_key" not in record.path
    assert DEMO_API_KEY not in repr(client)


def test_every_json_request_asks_for_json_in_exact_case(client: ShopClient, sim: Simulator) -> None:
    client.orders(ids=[1])
    client.order(1)
    for sent in queries(sim, "orders"):
        assert sent["output_format"] == ["JSON"]


def test_date_filters_and_sorts_always_carry_date_1(client: ShopClient, sim: Simulator) -> None:
    client.orders(changed_since=datetime(2026, 1, 1, tzinfo=UTC), limit=1)
    client.carts(changed_since=datetime(2026, 1, 1, tzinfo=UTC), limit=1)
    client.orders(after_id=0, limit=1)
    sent = [parse_qs(urlsplit(r.path).query) for r in sim.requests if r.resource in ("orders", "carts")]
    for query in sent:
        uses_dates = any("date_" in key for key in query) or "date_" in "".join(query.get("sort", []))
        assert ("date" in query) == uses_dates


# -- the generic reads behind the typed ones -----------------------------------------------------------------


@EVERY_FLAVOUR
def test_a_single_get_with_display_takes_the_plural_form_and_is_still_read(
    client: ShopClient, sim: Simulator
) -> None:
    raw = client.get_one("orders", 1, display="full")
    assert raw is not None and raw["id"] == 1
    (record,) = [r for r in sim.requests if r.resource == "orders"]
    assert record.body.startswith(b'{"orders":[')  # the shape the client had to accept


def test_the_filter_grammar_reaches_the_shop(client: ShopClient) -> None:
    def ids(**filters: Filter) -> list[int]:
        return [row["id"] for row in client.list_raw("orders", Query(display=("id",), filters=filters))]

    assert ids(id=between(2, 4)) == [2, 3, 4]
    assert ids(id=less_than(3)) == [1, 2]
    assert ids(id=greater_than(4)) == [5, 6]
    assert ids(id=equals(5)) == [5]
    assert ids(id=one_of([6, 1])) == [1, 6]


def test_list_raw_pages_until_a_short_page_and_honours_a_limit(
    client: ShopClient, sim: Simulator, demo_state: ShopState
) -> None:
    add_orders(demo_state, 200)
    rows = list(client.list_raw("orders", Query(display=("id",))))
    assert len(rows) == demo_state.count("orders")
    assert [q["limit"] for q in queries(sim, "orders")] == [["0,100"], ["100,100"], ["200,100"]]
    assert len(list(client.list_raw("orders", Query(display=("id",)), limit=150))) == 150


def test_filter_values_that_would_break_the_grammar_are_refused(client: ShopClient) -> None:
    with pytest.raises(ValueError, match="filter grammar"):
        client.order_payments(references=["ABC|DEF"])
    with pytest.raises(ValueError, match="timezone-aware"):
        client.orders(changed_since=datetime(2026, 1, 1))  # noqa: DTZ001 - the mistake under test


def test_orders_are_found_by_reference(client: ShopClient, demo_state: ShopState) -> None:
    row = demo_state.get("orders", 2)
    found = client.orders(references=[row["reference"], "NOSUCHREF"])
    assert [o.id for o in found] == [2]
    raw = client.get_by_ids_text("orders", [row["reference"]], query=Query(), field_name="reference")
    assert client.parse_orders(raw) == found
