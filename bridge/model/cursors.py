"""Where the bridge stands, as typed values: which shop it stands in, the positions it has read that shop
up to (the planner moves them), and the marks its incidents left. `bridge.state.cursors` stores them.

Shop times have whole seconds (`date_add`, `date_upd`): a bridge-side instant that is compared with them
(a baseline, a cursor) is cut to the second with `whole_second` before it is stored, so a row written in
the same second as the baseline counts as after it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit


def whole_second(moment: datetime) -> datetime:
    """`moment` at the shop's precision: the second it falls in."""
    return moment.replace(microsecond=0)


def shop_address(url: str) -> str:
    """The part of a shop's URL that names the shop: host (lower case, without `www.`), port if not the
    scheme's default, and path, without the scheme, the webservice suffix or a trailing slash. The same
    shop reached over http or https, with or without `/api`, has one address."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").removeprefix("www.")
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None and (parts.scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    path = parts.path.rstrip("/")
    for suffix in ("/webservice/dispatcher.php", "/api"):
        path = path.removesuffix(suffix)
    return host + path.rstrip("/")


@dataclass(frozen=True)
class ShopFingerprint:
    """Which shop a state store's positions belong to: recorded with the first poll, checked once per
    process before the next poll plans (docs/design.md §3.9).

    `url` is the webservice address the store was polled through; `domain`, `domain_ssl` and `name` are
    PS_SHOP_DOMAIN, PS_SHOP_DOMAIN_SSL and PS_SHOP_NAME. The first order (its reference, and its `date_add`
    as the shop's own wall-clock text, which no time zone setting changes) is the anchor: the first order
    of a shop never changes, whatever URL it is reached by. Empty when the shop had no order yet.
    """

    url: str
    domain: str = ""
    domain_ssl: str = ""
    name: str = ""
    first_order_reference: str = ""
    first_order_added: str = ""

    @property
    def address(self) -> str:
        return shop_address(self.url)

    @property
    def domains(self) -> frozenset[str]:
        return frozenset(d.strip().lower() for d in (self.domain, self.domain_ssl) if d.strip())

    @property
    def has_first_order(self) -> bool:
        return bool(self.first_order_reference or self.first_order_added)

    def same_shop(self, current: ShopFingerprint) -> bool:
        """Whether the shop read now (`current`) is the one this fingerprint was recorded from.

        With a first order on record, it alone decides: the same reference and date is the same shop
        (under any URL, domain or name); anything else is another shop. A store recorded before the shop
        had an order trusts the same address, or a domain in common.
        """
        if self.has_first_order:
            return (self.first_order_reference, self.first_order_added) == (
                current.first_order_reference,
                current.first_order_added,
            )
        return self.address == current.address or bool(self.domains & current.domains)

    def describe(self) -> str:
        """One owner-readable phrase: its name, domain and first order, and the URL it was read at."""
        facts = [", ".join(sorted(self.domains))] if self.domains else []
        if self.has_first_order:
            facts.append(f"first order {self.first_order_reference} of {self.first_order_added}")
        else:
            facts.append("no order yet")
        return f"{self.name or 'the shop'} ({'; '.join(facts)}) at {self.url}"


@dataclass(frozen=True)
class IdCursor:
    """An append-only resource read up to `position`; `done` holds the ids in the overlap just behind it that
    were processed (ids are not committed in order, so the overlap is read again every poll)."""

    position: int = 0
    done: frozenset[int] = frozenset()


@dataclass(frozen=True)
class OrderCursors:
    """The order poll's positions. `baseline_at` is None until the first run recorded where the shop stood."""

    baseline_at: datetime | None = None
    baseline_order_id: int = 0
    histories: IdCursor = IdCursor()
    orders: IdCursor = IdCursor()
    payments: IdCursor = IdCursor()


@dataclass(frozen=True)
class StateGroups:
    """Order states remembered from the last profile read: after a final state an order's tracking number is
    no longer watched; `shipped` is None until a profile was read."""

    final: frozenset[int] = frozenset()
    shipped: frozenset[int] | None = None


@dataclass(frozen=True)
class CartCursors:
    """The cart watch's positions: carts changed up to `changed_up_to` were read; `checked_at` is the last
    pass; carts last changed before `baseline_at` are history. All None before the first pass."""

    changed_up_to: datetime | None = None
    checked_at: datetime | None = None
    baseline_at: datetime | None = None


@dataclass(frozen=True)
class PollRecord:
    """The last poll's time and outcome, for `bridge status`."""

    last_at: datetime | None = None
    last_ok_at: datetime | None = None
    last_error: str = ""


@dataclass(frozen=True)
class AlertMarks:
    """Since when an incident the owner is told about has lasted (None: no incident open)."""

    shop_since: datetime | None = None
    sending_since: datetime | None = None
    sending_kind: str = ""


@dataclass(frozen=True)
class Cursors:
    """Every group at once, as `load` reads it."""

    orders: OrderCursors = OrderCursors()
    states: StateGroups = StateGroups()
    carts: CartCursors = CartCursors()
    poll: PollRecord = PollRecord()
    alerts: AlertMarks = AlertMarks()
    shop_identity: Mapping[str, Any] | None = field(default=None, compare=False)
    fingerprint: ShopFingerprint | None = None  # None until the first poll recorded which shop it is
