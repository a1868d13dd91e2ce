"""The kinds' samples have the shape the bridge really stores.

The sample customer, order, address and order lines are written once (bridge.model.samples) and every kind's
samples are built from them. Here each is compared with what the planner writes for a real order: a sample
that lacks a key (the owner's new-order alert once had an address without `country_code`, its order no
`country`) lets a template that needs the key pass the lint and the previews, then fail on a real email.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from bridge.model import samples
from bridge.model.kinds import KINDS
from bridge.plan.contexts import confirmation_context
from tests.builders import FRONT_URL, facts, order

# What the planner writes for a real order; every shared piece of a sample must have exactly these keys.
REAL = confirmation_context(facts(order()), FRONT_URL, paid=False)
SHAPES: dict[str, frozenset[str]] = {
    "customer": frozenset(REAL["customer"]),
    "order": frozenset(REAL["order"]),
    "delivery_address": frozenset(REAL["delivery_address"]),
    "invoice_address": frozenset(REAL["invoice_address"]),
    "address": frozenset(REAL["delivery_address"]),  # a shipment's (ShippedContext), not the bank's text
    "items": frozenset(REAL["items"][0]),  # order lines; a cart's items are checked below
}
EVERY_SAMPLE = [(name, index) for name, kind in KINDS.items() for index in range(len(kind.samples))]


def shared_pieces(value: Any, path: str = "") -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """(where, which shape, the dict) for every dict a sample holds under one of SHAPES' keys."""
    if isinstance(value, Mapping):
        for key, inner in value.items():
            where = f"{path}.{key}" if path else str(key)
            pieces = inner if isinstance(inner, list) else [inner]
            for piece in pieces:
                if key in SHAPES and isinstance(piece, Mapping):
                    yield where, str(key), piece
            yield from shared_pieces(inner, where)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from shared_pieces(inner, f"{path}[{index}]")


def test_the_shared_pieces_have_the_planners_keys() -> None:
    assert set(samples.CUSTOMER) == SHAPES["customer"]
    assert set(samples.ORDER) == set(samples.GUEST_ORDER) == SHAPES["order"]
    assert set(samples.ADDRESS) == SHAPES["delivery_address"]
    for line in (samples.JACKET_LINE, samples.MUG_LINE, samples.SOCKS_LINE):
        assert set(line) == SHAPES["items"]


@pytest.mark.parametrize(("kind", "index"), EVERY_SAMPLE)
def test_every_samples_customer_order_and_addresses_have_the_planners_keys(kind: str, index: int) -> None:
    context = KINDS[kind].sample(index)
    if kind == "cart_reminder":  # a cart's items are CartItems, not order lines
        context = {key: value for key, value in context.items() if key != "cart"}
    wrong = {
        where: sorted(set(piece) ^ SHAPES[shape])
        for where, shape, piece in shared_pieces(context)
        if set(piece) != SHAPES[shape]
    }
    assert not wrong, f"{kind} sample {index}: keys missing or unknown: {wrong}"


def test_the_check_sees_the_pieces_of_an_order_email() -> None:
    """The walk reaches what it checks: a shipment's address and lines, both addresses, customer, order."""
    found = {where for where, _, _ in shared_pieces(KINDS["shipped"].sample(0))}
    assert found == {"customer", "order", "shipment.items", "shipment.address"}
    found = {where for where, _, _ in shared_pieces(KINDS["order_confirmation"].sample(0))}
    assert found == {"customer", "order", "items", "delivery_address", "invoice_address"}


def test_the_check_fails_on_an_address_without_its_country_code() -> None:
    context = KINDS["owner_new_order"].sample(0)
    del context["delivery_address"]["country_code"]
    assert [where for where, shape, piece in shared_pieces(context) if set(piece) != SHAPES[shape]] == [
        "delivery_address"
    ]
