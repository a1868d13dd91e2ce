"""What the recorded corpus cannot show: other versions, URL layouts, HTTPS, faults, caching, paging."""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
import trustme

from bridge.clock import ManualClock
from bridge.simulator import DEMO_API_KEY, ShopState, Simulator

AUTH = (DEMO_API_KEY, "")


def small_shop(orders: int = 3) -> ShopState:
    """Two languages, a few order states and `orders` orders; order 2 has a tracking number."""
    state = ShopState(ManualClock(datetime(2026, 11, 27, 9, 0, tzinfo=UTC)))
    state.insert("languages", {"name": "English", "iso_code": "en", "active": True})
    state.insert("languages", {"name": "Polski", "iso_code": "pl", "active": True})
    state.insert(
        "order_states",
        {"paid": True, "send_email": True, "name": {1: "Payment accepted", 2: "Płatność zaakceptowana"}},
    )
    state.set_config("PS_SHOP_NAME", "Sklep")
    start = state.now_local()
    for number in range(1, orders + 1):
        moment = start + timedelta(seconds=number)
        order_id = state.insert(
            "orders",
            {
                "reference": f"REF{number:06d}",
                "id_customer": 3,
                "current_state": 1,
                "total_paid": Decimal("57.14"),
                "date_add": moment,
                "date_upd": moment,
                "associations": {"order_rows": [{"id": number, "product_id": 1, "product_quantity": 2}]},
            },
        )
        state.insert(
            "order_carriers", {"id_order": order_id, "tracking_number": "PL123" if number == 2 else ""}
        )
    return state


@pytest.fixture
def shop() -> Iterator[Simulator]:
    with Simulator(small_shop()) as simulator:
        yield simulator


def get(simulator: Simulator, path: str, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("auth", AUTH)
    timeout = kwargs.pop("timeout", 10)
    return requests.get(f"{simulator.url}{path}", timeout=timeout, **kwargs)


# -- the state --------------------------------------------------------------------------------------------


def test_a_new_row_gets_schema_defaults_and_unknown_fields_are_refused() -> None:
    state = small_shop(orders=0)
    order_id = state.insert("orders", {"reference": "ABCDEFGHI", "total_paid": "12.5"})
    order = state.get("orders", order_id)
    assert (order["valid"], order["invoice_number"], order["invoice_date"]) == (False, 0, None)
    assert order["total_paid"] == Decimal("12.5")
    with pytest.raises(KeyError):
        state.insert("orders", {"no_such_field": 1})
    state.update("orders", order_id, current_state=2)
    assert state.get("orders", order_id)["date_upd"] is None, "update() never moves date_upd by itself"
    assert state.find("orders", 999) is None
    state.private.setdefault("order_returns", {})[1] = {"id_order": order_id}
    assert state.ids_where("orders", "current_state", 2) == [order_id]


def test_configuration_lives_in_the_configurations_resource() -> None:
    state = small_shop(orders=0)
    state.set_config("PS_TIMEZONE", "Europe/Warsaw")
    state.set_config("PS_TIMEZONE", "Europe/Paris")
    assert state.config("PS_TIMEZONE") == "Europe/Paris"
    assert [row["value"] for row in state.rows("configurations") if row["name"] == "PS_TIMEZONE"] == [
        "Europe/Paris"
    ]
    assert state.config("PS_NOTHING") is None
    state.update("languages", 2, active=False)
    assert state.active_language_ids() == [1]


# -- flavours -----------------------------------------------------------------------------------------------


def test_flavour_81_sends_int_columns_as_numbers_and_drops_falsy_fields_of_a_single_order(
    shop: Simulator,
) -> None:
    order = get(shop, "/api/orders/1?output_format=JSON").json()["order"]
    assert order["id_customer"] == 3
    assert order["total_paid"] == "57.140000"
    assert "valid" not in order and "note" not in order and "shipping_number" not in order
    assert order["total_paid_real"] == "0.000000", '"0.000000" is not falsy for PHP'
    assert order["associations"]["order_rows"][0]["product_id"] == 1
    names = get(shop, "/api/order_states/1?output_format=JSON").json()["order_state"]["name"]
    assert names == [{"id": 1, "value": "Payment accepted"}, {"id": 2, "value": "Płatność zaakceptowana"}]
    response = get(shop, "/api/orders/1?output_format=JSON")
    assert response.headers["PSWS-Version"] == "8.1.2"


def test_flavour_82_sends_every_scalar_as_a_string_except_the_id() -> None:
    with Simulator(small_shop(), flavour="8.2") as shop:
        order = get(shop, "/api/orders/2?output_format=JSON").json()["order"]
        assert order["id"] == 2
        assert order["id_customer"] == "3"
        assert order["shipping_number"] == "PL123"
        assert "valid" not in order
        assert order["associations"]["order_rows"][0]["id"] == "2"
        names = get(shop, "/api/order_states/1?output_format=JSON").json()["order_state"]["name"]
        assert names[0] == {"id": "1", "value": "Payment accepted"}
        response = get(shop, "/api/orders/1?output_format=JSON")
        assert response.headers["PSWS-Version"] == "8.2.0"
        refused = get(shop, "/api/orders?output_format=JSON", auth=("Z" * 32, ""))
        assert refused.headers["PSWS-Version"] == "0"


def test_flavour_177_keeps_falsy_fields_has_no_note_and_lists_resource_names_at_the_root() -> None:
    with Simulator(small_shop(), flavour="1.7.7") as shop:
        order = get(shop, "/api/orders/1?output_format=JSON").json()["order"]
        assert order["valid"] == "0"
        assert order["invoice_number"] == "0"
        assert order["id_customer"] == "3"
        assert order["shipping_number"] == ""
        assert "note" not in order
        payment_fields = get(shop, "/api/order_payments?display=full&output_format=JSON")
        assert payment_fields.text == "[]"
        refused = get(shop, "/api/orders?output_format=JSON", auth=("Z" * 32, ""))
        assert refused.status_code == 401
        assert refused.headers["PSWS-Version"] == "1.7.7.8"
        root = get(shop, "/api/?output_format=JSON").json()
        assert "orders" in root and "order_cart_rules" not in root
        unknown_filter = get(shop, "/api/orders?filter[nosuchfield]=[1]&output_format=JSON")
        assert unknown_filter.status_code == 400, "PHP 7 raised no warnings: the plain 400 stands"
        assert [error["code"] for error in unknown_filter.json()["errors"]] == [32]
        first = get(shop, "/api/orders/1?output_format=JSON")
        again = get(
            shop,
            "/api/orders/1?output_format=JSON",
            headers={"Local-Content-Sha1": first.headers["Content-Sha1"]},
        )
        assert again.status_code == 200, "1.7.7 never answers 304"


def test_a_matching_local_content_sha1_gets_304_without_a_body(shop: Simulator) -> None:
    first = get(shop, "/api/orders?display=full&output_format=JSON")
    assert first.headers["Content-Sha1"] == hashlib.sha1(first.content).hexdigest()  # noqa: S324
    again = get(
        shop,
        "/api/orders?display=full&output_format=JSON",
        headers={"Local-Content-Sha1": first.headers["Content-Sha1"]},
    )
    assert again.status_code == 304
    assert again.content == b""
    stale = get(shop, "/api/orders?display=full&output_format=JSON", headers={"Local-Content-Sha1": "0" * 40})
    assert stale.status_code == 200


# -- URL layouts and transport ----------------------------------------------------------------------------


def test_a_shop_in_a_subfolder_answers_through_the_dispatcher_and_the_rewritten_url() -> None:
    with Simulator(small_shop(), base_path="/shop") as shop:
        assert shop.url.endswith("/shop")
        direct = get(shop, "/webservice/dispatcher.php?url=orders/2&output_format=JSON")
        rewritten = get(shop, "/api/orders/2?output_format=JSON")
        assert direct.status_code == 200
        assert direct.json() == rewritten.json()
        outside = requests.get(f"http://{shop.host}:{shop.port}/api/orders", auth=AUTH, timeout=10)
        assert outside.status_code == 404


def test_without_url_rewriting_only_the_dispatcher_answers() -> None:
    with Simulator(small_shop(), url_rewriting=False) as shop:
        missing = get(shop, "/api/orders?output_format=JSON")
        assert missing.status_code == 404
        assert "text/html" in missing.headers["Content-Type"]
        listed = get(shop, "/webservice/dispatcher.php?url=orders&output_format=JSON")
        assert listed.json() == {"orders": [{"id": 1}, {"id": 2}, {"id": 3}]}


def test_the_simulator_serves_https_with_a_certificate_from_a_test_ca(tmp_path: Any) -> None:
    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    with Simulator(small_shop(), ssl_context=context) as shop:
        assert shop.url.startswith("https://")
        response = get(shop, "/api/orders?output_format=JSON", verify=str(bundle))
        assert response.json()["orders"][0] == {"id": 1}
        with pytest.raises(requests.exceptions.SSLError):
            get(shop, "/api/orders?output_format=JSON")


def test_the_public_product_image_needs_no_key(shop: Simulator) -> None:
    image = requests.get(f"{shop.url}/img/p/1/2/12-home_default.jpg", timeout=10)
    assert image.status_code == 200
    assert image.headers["Content-Type"] == "image/jpeg"
    assert image.content.startswith(b"\xff\xd8")
    wrong_folder = requests.get(f"{shop.url}/img/p/1/12-home_default.jpg", timeout=10)
    assert wrong_folder.status_code == 404


# -- switches and keys --------------------------------------------------------------------------------------


def test_a_disabled_webservice_answers_503_code_22(shop: Simulator) -> None:
    shop.webservice_enabled = False
    response = get(shop, "/api/orders?output_format=JSON")
    assert response.status_code == 503
    assert response.json()["errors"][0]["code"] == 22


def test_key_format_errors_are_17_and_18_and_permissions_are_per_method(shop: Simulator) -> None:
    assert get(shop, "/api/orders?ws_key=&output_format=JSON", auth=None).json()["errors"][0]["code"] == 17
    assert get(shop, "/api/orders?output_format=JSON", auth=("short", "")).json()["errors"][0]["code"] == 18
    shop.add_key("READER00000000000000000000000001", {"orders": ["GET"], "order_states": ["GET", "HEAD"]})
    reader = ("READER00000000000000000000000001", "")
    assert get(shop, "/api/orders?output_format=JSON", auth=reader).status_code == 200
    head = requests.head(f"{shop.url}/api/orders?output_format=JSON", auth=reader, timeout=10)
    assert head.status_code == 405
    assert requests.head(f"{shop.url}/api/order_states", auth=reader, timeout=10).status_code == 200
    forbidden = get(shop, "/api/customers?output_format=JSON", auth=reader)
    assert (forbidden.status_code, forbidden.json()["errors"][0]["code"]) == (401, 26)


def test_output_format_needs_exactly_json_and_headers_win_over_parameters(shop: Simulator) -> None:
    assert get(shop, "/api/orders?output_format=json").text.startswith("<?xml")
    assert get(shop, "/api/orders?output_format=JSON", headers={"Io-Format": "XML"}).text.startswith("<?xml")
    assert get(shop, "/api/orders", headers={"Io-Format": "JSON"}).json()["orders"][0] == {"id": 1}


# -- queries at scale ---------------------------------------------------------------------------------------


def test_paging_through_a_thousand_orders_returns_each_once_in_order() -> None:
    with Simulator(small_shop(orders=1000)) as shop, requests.Session() as session:
        session.auth = AUTH
        seen: list[int] = []
        offset = 0
        while True:
            page = session.get(
                f"{shop.url}/api/orders?display=[id,reference]&sort=[id_ASC]&limit={offset},100&output_format=JSON",
                timeout=10,
            ).json()
            if page == []:
                break
            seen.extend(item["id"] for item in page["orders"])
            offset += 100
        assert seen == list(range(1, 1001))
        assert len(shop.requests) == 11


def test_a_batch_of_a_hundred_ids_comes_back_in_one_answer() -> None:
    with Simulator(small_shop(orders=300)) as shop:
        wanted = "|".join(str(number) for number in range(1, 201, 2))
        orders = get(shop, f"/api/orders?display=[id]&filter[id]=[{wanted}]&output_format=JSON").json()[
            "orders"
        ]
        assert [item["id"] for item in orders] == list(range(1, 201, 2))


def test_filters_combine_and_dates_need_date_1(shop: Simulator) -> None:
    cursor = "2026-11-27 10:00:01"  # shop-local: 09:00:01 UTC in Warsaw
    since = get(
        shop, f"/api/orders?display=[id]&filter[date_upd]=>[{cursor}]&date=1&output_format=JSON"
    ).json()
    assert since == {"orders": [{"id": 2}, {"id": 3}]}
    both = get(
        shop, "/api/orders?display=[id]&filter[id]=[1,3]&filter[reference]=%25[000002]&output_format=JSON"
    )
    assert both.json() == {"orders": [{"id": 2}]}
    refused = get(shop, f"/api/orders?filter[date_upd]=>[{cursor}]&output_format=JSON")
    assert refused.status_code == 500
    assert [error["code"] for error in refused.json()["errors"]] == [32, 3, 3, 3, 3]
    dynamic = get(shop, "/api/orders?filter[shipping_number]=[PL123]&output_format=JSON")
    assert dynamic.json()["errors"][0]["code"] == 34


# -- faults -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "content_type"),
    [
        ("500", 500, "text/html; charset=utf-8"),
        ("502", 502, "text/html"),
        ("503", 503, "text/html"),
        ("maintenance", 503, "text/html; charset=utf-8"),
        ("html", 200, "text/html; charset=utf-8"),
        ("auth_flap", 401, "application/json"),
    ],
)
def test_a_queued_fault_answers_once_then_the_shop_is_normal_again(
    shop: Simulator, kind: Any, status: int, content_type: str
) -> None:
    shop.faults.next(kind)
    faulty = get(shop, "/api/orders?output_format=JSON")
    assert (faulty.status_code, faulty.headers["Content-Type"]) == (status, content_type)
    assert get(shop, "/api/orders?output_format=JSON").status_code == 200
    assert shop.requests[-2].fault == kind


def test_a_php_warning_fault_appends_code_3_to_the_normal_content(shop: Simulator) -> None:
    shop.faults.next("php_warning", resource="orders")
    answer = get(shop, "/api/orders?display=[id]&output_format=JSON")
    assert answer.status_code == 500
    body = answer.json()
    assert body["orders"] == [{"id": 1}, {"id": 2}, {"id": 3}]
    assert body["errors"][0]["code"] == 3


def test_a_truncated_answer_keeps_its_status_and_type_but_is_not_json(shop: Simulator) -> None:
    shop.faults.next("truncated")
    answer = get(shop, "/api/orders?display=full&output_format=JSON")
    assert (answer.status_code, answer.headers["Content-Type"]) == (200, "application/json")
    with pytest.raises(ValueError):
        answer.json()


def test_a_reset_fault_closes_the_connection_without_an_answer(shop: Simulator) -> None:
    shop.faults.next("reset")
    with pytest.raises(requests.exceptions.ConnectionError):
        get(shop, "/api/orders?output_format=JSON")
    assert get(shop, "/api/orders?output_format=JSON").status_code == 200


def test_a_timeout_fault_holds_the_answer_until_the_client_gives_up(shop: Simulator) -> None:
    shop.faults.timeout_hold = 30
    shop.faults.next("timeout")
    with pytest.raises(requests.exceptions.ReadTimeout):
        get(shop, "/api/orders?output_format=JSON", timeout=0.3)
    shop.faults.release.set()  # what stop() does: the held handler finishes at once


def test_faults_match_only_their_resource(shop: Simulator) -> None:
    shop.faults.next("502", resource="order_histories")
    assert get(shop, "/api/orders?output_format=JSON").status_code == 200
    assert get(shop, "/api/order_histories?output_format=JSON").status_code == 502


def test_random_faults_are_reproducible_for_a_seed_and_clear_stops_them() -> None:
    def run() -> list[int]:
        with Simulator(small_shop()) as shop:
            shop.faults.rate(0.5, ["502", "503"], seed=7)
            statuses = [get(shop, "/api/orders?output_format=JSON").status_code for _ in range(12)]
            shop.faults.clear()
            assert get(shop, "/api/orders?output_format=JSON").status_code == 200
            return statuses

    first = run()
    assert first == run()
    assert {502, 200} <= set(first) or {503, 200} <= set(first)
