"""The owner's one digest of a catch-up read in chunks: each chunk's new orders are added to a digest still
being written, and the digest is queued once, after the last chunk.

Pure: no I/O, no clock. Why (docs/design.md §6.4): a catch-up of 100,000 orders is read and applied a chunk
at a time so that its memory stays bounded, but the owner must get one email for it, not one per chunk. The
digest so far is plain data the store keeps between chunks (in each chunk's transaction), so a crash between
two chunks loses nothing: the next poll goes on with the same digest. It stays bounded too: the orders are
counted and summed, and the first DIGEST_LISTED are listed (the back office has the rest).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Final

from bridge.model.kinds import OWNER_NEW_ORDER, OWNER_NEW_ORDERS
from bridge.model.profile import ShopProfile
from bridge.plan.contexts import CENT, money
from bridge.plan.owner import NewOrderNews, OwnerRules, brief, to_owners
from bridge.plan.rules import Decision

# The orders a digest lists one by one; it counts and sums all of them.
DIGEST_LISTED: Final = 200


@dataclass(frozen=True)
class DigestSoFar:
    """A catch-up's digest while its chunks are applied."""

    first_id: int = 0  # the lowest order id told, 0 before any
    last_id: int = 0
    count: int = 0
    totals: Mapping[str, Decimal] = field(default_factory=dict)  # currency → sum
    orders: tuple[dict[str, Any], ...] = ()  # the briefs listed, oldest first

    @property
    def name(self) -> str:
        return f"owner:new_orders:orders:{self.first_id}-{self.last_id}:{self.count}"

    def to_json(self) -> dict[str, Any]:
        totals = {currency: str(amount) for currency, amount in self.totals.items()}
        return {**self.__dict__, "totals": totals, "orders": list(self.orders)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DigestSoFar:
        return cls(
            first_id=int(data["first_id"]),
            last_id=int(data["last_id"]),
            count=int(data["count"]),
            totals={currency: Decimal(amount) for currency, amount in data["totals"].items()},
            orders=tuple(data["orders"]),
        )


def add_to_digest(
    so_far: DigestSoFar, news: Sequence[NewOrderNews], profile: ShopProfile, rules: OwnerRules
) -> tuple[DigestSoFar, list[Decision]]:
    """The digest with this chunk's new orders added, and each order's skip naming it (so `bridge explain
    order` tells the owner's side). An order whose customer could not be read is skipped with that reason."""
    decisions: list[Decision] = []
    readable = sorted((n for n in news if n.facts.customer is not None), key=lambda n: n.facts.order.id)
    for item in news:
        if item.facts.customer is None:
            order = item.facts.order
            why = "the order's customer could not be read from the shop"
            decisions.append(
                Decision(_key(order.id), OWNER_NEW_ORDER, order.id, order.reference, skip_reason=why)
            )
    if not readable:
        return so_far, decisions
    ids = [n.facts.order.id for n in readable]
    totals = dict(so_far.totals)
    for item in readable:
        amount = item.facts.order.total_paid_tax_incl.quantize(CENT)
        totals[item.facts.currency] = totals.get(item.facts.currency, Decimal(0)) + amount
    room = max(0, DIGEST_LISTED - len(so_far.orders))
    grown = replace(
        so_far,
        first_id=so_far.first_id or ids[0],
        last_id=max(so_far.last_id, ids[-1]),
        count=so_far.count + len(readable),
        totals=totals,
        orders=so_far.orders + tuple(brief(n, profile, rules.admin_url) for n in readable[:room]),
    )
    why = f"told in one digest of a catch-up's new orders to the owner ({grown.name.rsplit('-', 1)[0]}-…)"
    decisions += [
        Decision(
            _key(n.facts.order.id),
            OWNER_NEW_ORDER,
            n.facts.order.id,
            n.facts.order.reference,
            skip_reason=why,
        )
        for n in readable
    ]
    return grown, decisions


def digest_decisions(so_far: DigestSoFar, rules: OwnerRules) -> list[Decision]:
    """The digest, one per owner address, once the catch-up's last chunk is applied (none if it told
    nothing)."""
    if not so_far.count or not rules.wants("new_order"):
        return []
    totals = sorted(so_far.totals.items(), key=lambda kv: -kv[1])
    context = {
        "count": so_far.count,
        "orders": list(so_far.orders),
        "totals": [money(amount, currency) for currency, amount in totals],
    }
    return to_owners(so_far.name, OWNER_NEW_ORDERS, context, rules)


def _key(order_id: int) -> str:
    return f"owner:new_order:order:{order_id}"
