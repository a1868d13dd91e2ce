"""Replays the shop actions recorded on a real PrestaShop 8.1.2 shop and checks the same things move.

`tests/data/real-responses/timeline/` holds, per step, the webservice snapshots taken before and after one
action (orders, order_histories and the resources the action touches). The simulated shop performs the same
action through `bridge.simulator.actions.Shop`, the same requests are made against the simulator, and both
pairs of snapshots are reduced to a description of the movement (which order moved its date_upd, which new
history rows appeared, which fields of which rows changed) that must be equal. Absolute ids, references and
dates differ between the two shops; the movements may not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from bridge.clock import ManualClock
from bridge.simulator import DEMO_API_KEY, Simulator
from bridge.simulator.actions import PostalAddress, Shop
from bridge.simulator.demo_shop import CANDLE, MUG, MUG_COBALT, MUG_HONEY, build_demo_shop

TIMELINE = Path(__file__).resolve().parent / "data" / "real-responses" / "timeline"
ORDERS_PATH = "/api/orders?display=[id,current_state,date_upd]&sort=[id_ASC]&output_format=JSON"
HISTORIES_PATH = "/api/order_histories?display=full&output_format=JSON"


def recorded_steps() -> list[str]:
    return sorted(p.name for p in TIMELINE.iterdir() if p.is_dir())


# -- reducing two snapshots to "what moved" -------------------------------------------------------------


@dataclass
class Roles:
    """Which order ids play which part (A: the order taken through its life, B: the second one)."""

    orders: dict[int, str] = field(default_factory=dict)

    def of(self, order_id: int) -> str:
        return self.orders.get(order_id, "other")


def rows_by_id(body: Any) -> dict[int, dict[str, Any]]:
    if body in ([], None):
        return {}
    (rows,) = body.values()
    return {int(row["id"]): row for row in rows}


def order_movement(
    before_orders: Any, after_orders: Any, before_histories: Any, after_histories: Any, roles: Roles
) -> dict[str, Any]:
    """The columns of timeline/README.md: new orders, date_upd moves, state changes, new history rows."""
    before, after = rows_by_id(before_orders), rows_by_id(after_orders)
    new_orders = sorted(roles.of(i) for i in after.keys() - before.keys())
    moved = sorted(
        roles.of(i) for i in before.keys() & after.keys() if before[i]["date_upd"] != after[i]["date_upd"]
    )
    states = {
        roles.of(i): (before[i]["current_state"], after[i]["current_state"])
        for i in before.keys() & after.keys()
        if before[i]["current_state"] != after[i]["current_state"]
    }
    old_histories, new_histories = rows_by_id(before_histories), rows_by_id(after_histories)
    histories = [
        {
            "order": roles.of(int(h["id_order"])),
            "state": int(h["id_order_state"]),
            "employee": int(h["id_employee"]),
            # The history row and the order's date_upd are written in the same second.
            "same_second_as_order": h["date_add"] == after[int(h["id_order"])]["date_upd"],
        }
        for i, h in sorted(new_histories.items())
        if i not in old_histories
    ]
    return {
        "new_orders": new_orders,
        "date_upd_moved": moved,
        "current_state": states,
        "new_histories": histories,
    }


def resource_movement(before: tuple[int, Any], after: tuple[int, Any]) -> Any:
    """How one extra snapshot changed: new rows, and the set of changed keys of each common row."""
    (status_before, body_before), (status_after, body_after) = before, after
    if status_before != 200 or status_after != 200:
        return {"status": (status_before, status_after), "unchanged": body_before == body_after}
    if body_before in ([], None) or isinstance(next(iter(body_before.values())), list):
        if not all(
            "id" in row for body in (body_before, body_after) if body for row in next(iter(body.values()))
        ):
            return {"unchanged": body_before == body_after}  # rows without ids, e.g. configurations by name
        old, new = rows_by_id(body_before), rows_by_id(body_after)
        newest = max(old, default=0)
        return {
            "new_rows": len([i for i in new if i > newest]),
            "changed": sorted(
                sorted(changed_keys(old[i], new[i])) for i in old.keys() & new.keys() if old[i] != new[i]
            ),
        }
    (one_before,) = body_before.values()
    (one_after,) = body_after.values()
    return {"changed": sorted(changed_keys(one_before, one_after))}


def changed_keys(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    """Keys whose value changed, appeared (falsy before, so absent) or disappeared."""
    return {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}


# -- the recorded side ----------------------------------------------------------------------------------


def load(path: Path) -> tuple[int, Any]:
    record = json.loads(path.read_text(encoding="utf-8"))
    response = record["response"]
    return response["status"], response["body_json"]


def recorded_roles() -> Roles:
    objects = json.loads((TIMELINE / "summary.json").read_text(encoding="utf-8"))["state"]
    return Roles({objects["orderA"]: "A", objects["orderB"]: "B"})


def extra_names(step: str) -> list[str]:
    names = {p.name[len("before-") : -len(".json")] for p in (TIMELINE / step).glob("before-*.json")}
    return sorted(names - {"orders", "order_histories"})


def recorded_path(step: str, name: str) -> str:
    return str(
        json.loads((TIMELINE / step / f"before-{name}.json").read_text(encoding="utf-8"))["request"]["path"]
    )


# -- the simulated side ---------------------------------------------------------------------------------


@dataclass
class Replay:
    """The simulated shop going through the recorded steps, with its own before/after snapshots."""

    shop: Shop
    session: requests.Session
    url: str
    objects: dict[str, Any] = field(default_factory=dict)
    snapshots: dict[str, dict[str, tuple[tuple[int, Any], tuple[int, Any]]]] = field(default_factory=dict)

    def fetch(self, path: str) -> tuple[int, Any]:
        response = self.session.get(self.url.rstrip("/") + path, timeout=10)
        return response.status_code, (response.json() if response.text else None)

    def translate(self, path: str) -> str:
        """A recorded request path with the real shop's ids and references replaced by the simulator's."""
        recorded = json.loads((TIMELINE / "summary.json").read_text(encoding="utf-8"))["state"]
        ids = {recorded["orderA"]: self.objects.get("orderA"), recorded["orderB"]: self.objects.get("orderB")}
        path = re.sub(r"orders/(\d+)", lambda m: f"orders/{ids[int(m[1])]}", path)
        path = re.sub(r"filter\[id_order\]=\[(\d+)\]", lambda m: f"filter[id_order]=[{ids[int(m[1])]}]", path)
        for key in ("refA", "refB"):
            if key in self.objects:
                path = path.replace(recorded[key], self.objects[key])
        return path

    def run(self, step: str, action: Callable[[Replay], None]) -> None:
        paths = {"orders": ORDERS_PATH, "order_histories": HISTORIES_PATH}
        before = {name: self.fetch(path) for name, path in paths.items()}
        extra_paths = {name: self.translate(recorded_path(step, name)) for name in extra_names(step)}
        before.update({name: self.fetch(path) for name, path in extra_paths.items()})
        # The recorder waited >= 2.2 s between the before-snapshot and the action.
        self.shop.advance(3)
        action(self)
        paths.update(extra_paths)
        self.snapshots[step] = {name: (before[name], self.fetch(path)) for name, path in paths.items()}

    def roles(self) -> Roles:
        return Roles({self.objects["orderA"]: "A", self.objects["orderB"]: "B"})


def step_customer(r: Replay) -> None:
    ref = r.shop.register_customer(
        "Katarzyna",
        "Wójcik",
        "katarzyna.wojcik@example.com",
        newsletter=True,
        address=PostalAddress("ul. Marszałkowska 10/12", "00-590", "Warszawa"),
    )
    r.objects["cust"] = ref.customer_id


def step_cart(r: Replay) -> None:
    r.objects["cartA"] = r.shop.create_cart(
        r.objects["cust"], [(MUG, 1, MUG_COBALT), (CANDLE, 2)], carrier_id=2
    )


def step_order_wire(r: Replay) -> None:
    r.objects["orderA"] = r.shop.place_order(r.objects["cartA"], "ps_wirepayment")
    r.objects["refA"] = r.shop.order_ref(r.objects["orderA"])
    r.objects["odA"] = r.shop.order_details(r.objects["orderA"])[0]["id"]


def step_order_check(r: Replay) -> None:
    cart = r.shop.create_cart(r.objects["cust"], [(MUG, 1, MUG_HONEY)], carrier_id=2)
    r.objects["orderB"] = r.shop.place_order(cart, "ps_checkpayment")
    r.objects["refB"] = r.shop.order_ref(r.objects["orderB"])


def state_of(role: str, state_id: int) -> Callable[[Replay], None]:
    def change(r: Replay) -> None:
        r.shop.change_state(r.objects[f"order{role}"], state_id)

    return change


def step_tracking(r: Replay) -> None:
    r.shop.set_tracking(r.objects["orderA"], "PX7700112233PL")


def step_payment(r: Replay) -> None:
    order = r.shop.state.get("orders", r.objects["orderB"])
    r.shop.add_payment(r.objects["orderB"], order["total_paid"], transaction_id="CHK-2026-0042")


def step_return_request(r: Replay) -> None:
    r.objects["retA"] = r.shop.request_return(r.objects["orderA"], [(r.objects["odA"], 1)])


def return_state(state: int) -> Callable[[Replay], None]:
    def change(r: Replay) -> None:
        r.shop.set_return_state(r.objects["retA"], state)

    return change


def step_slip(r: Replay) -> None:
    r.shop.issue_credit_slip(r.objects["orderA"], [(r.objects["odA"], 1)])


def step_message(r: Replay) -> None:
    thread, _ = r.shop.customer_message(
        "Dzień dobry, kiedy otrzymam zwrot pieniędzy?", order_id=r.objects["orderA"]
    )
    r.objects["thread"] = thread


def step_reply(r: Replay) -> None:
    r.shop.employee_reply(r.objects["thread"], "Dzień dobry, zwrot został zlecony dzisiaj.")


def step_product(r: Replay) -> None:
    r.objects["prod"] = r.shop.add_product(
        {"en": "Ceramic espresso cup", "pl": "Ceramiczna filiżanka do espresso"}, "32.51"
    )


def step_abandoned_cart(r: Replay) -> None:
    # The recorded cart was back-dated in the database to look 120 minutes old.
    with r.shop.at(r.shop.now() - timedelta(minutes=120)):
        r.objects["cartAb"] = r.shop.create_cart(r.objects["cust"], [(CANDLE, 1)], carrier_id=2)


def nothing(r: Replay) -> None:
    """The clock step: the recorder only compared clocks."""


STEPS: dict[str, Callable[[Replay], None]] = {
    "00-clock": nothing,
    "01-customer": step_customer,
    "02-cart": step_cart,
    "03-order-wire": step_order_wire,
    "04-order-check": step_order_check,
    "05-state-payment-accepted": state_of("A", 2),
    "06-state-processing": state_of("A", 3),
    "07-tracking": step_tracking,
    "08-state-shipped": state_of("A", 4),
    "09-payment": step_payment,
    "10-state-B-payment-accepted": state_of("B", 2),
    "11-state-delivered": state_of("A", 5),
    "12-return-request": step_return_request,
    "13-return-state-2": return_state(2),
    "14-return-state-5": return_state(5),
    "15-slip": step_slip,
    "16-state-refunded": state_of("A", 7),
    "17-message-customer": step_message,
    "18-message-reply": step_reply,
    "19-state-B-canceled": state_of("B", 6),
    "20-product": step_product,
    "21-abandoned-cart": step_abandoned_cart,
}


@pytest.fixture(scope="module")
def replay() -> Iterator[Replay]:
    # 04:50:10 UTC is where the recorded timeline started (05:50 in Warsaw).
    shop = build_demo_shop(ManualClock(datetime(2026, 11, 27, 4, 50, 10, tzinfo=UTC)))
    with Simulator(shop.state, api_key=DEMO_API_KEY) as simulator, requests.Session() as session:
        session.auth = (DEMO_API_KEY, "")
        run = Replay(shop, session, simulator.url)
        for step, action in STEPS.items():
            run.run(step, action)
        yield run


# -- the tests ------------------------------------------------------------------------------------------


def test_every_recorded_step_is_replayed() -> None:
    summary = json.loads((TIMELINE / "summary.json").read_text(encoding="utf-8"))
    assert recorded_steps() == [s["step"] for s in summary["steps"]] == list(STEPS)


@pytest.mark.parametrize("step", recorded_steps())
def test_the_simulator_moves_what_the_real_shop_moved(step: str, replay: Replay) -> None:
    folder = TIMELINE / step
    real = order_movement(
        load(folder / "before-orders.json")[1],
        load(folder / "after-orders.json")[1],
        load(folder / "before-order_histories.json")[1],
        load(folder / "after-order_histories.json")[1],
        recorded_roles(),
    )
    snapshots = replay.snapshots[step]
    simulated = order_movement(
        snapshots["orders"][0][1],
        snapshots["orders"][1][1],
        snapshots["order_histories"][0][1],
        snapshots["order_histories"][1][1],
        replay.roles(),
    )
    assert simulated == real

    for name in extra_names(step):
        expected = resource_movement(
            load(folder / f"before-{name}.json"), load(folder / f"after-{name}.json")
        )
        assert resource_movement(*snapshots[name]) == expected, name


def test_the_abandoned_cart_looks_two_hours_old(replay: Replay) -> None:
    status, cart = replay.fetch(f"/api/carts/{replay.objects['cartAb']}?output_format=JSON")
    assert status == 200
    touched = datetime.strptime(cart["cart"]["date_upd"], "%Y-%m-%d %H:%M:%S")  # noqa: DTZ007 - shop-local
    assert replay.shop.now() - touched == timedelta(minutes=120)


def test_the_shop_writes_warsaw_wall_time(replay: Replay) -> None:
    status, body = replay.fetch(
        "/api/configurations?display=[name,value]&filter[name]=[PS_TIMEZONE]&output_format=JSON"
    )
    assert (status, body) == (200, {"configurations": [{"value": "Europe/Warsaw", "name": "PS_TIMEZONE"}]})
    utc_now = replay.shop.clock.now()
    assert replay.shop.now() == utc_now.astimezone(replay.shop.state.timezone).replace(
        tzinfo=None, microsecond=0
    )
    assert replay.shop.now() - utc_now.replace(tzinfo=None, microsecond=0) == timedelta(hours=1)
