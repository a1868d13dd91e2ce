"""Abandoned-cart reminder rules: which reminder of a cart's series is due, late, or not yet.

Pure: the series as the store keeps it, the carts, orders and customers the cycle read, the owner's settings
and `now` in; verdicts and a plan out. The cycle does the reading, creates the discount codes a plan asks
for, and applies the plan in one transaction.

A series belongs to one state of one cart: it starts at the cart's `date_upd` (the shop moves it on every
change of the cart's contents), and reminder n is due `delays[n-1]` after it. A reminder that could not go
out by `late_limit` after its time, or by the time the next one is due, expires: after downtime the
customer gets the reminder that fits the cart's age, not a backlog.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final, Literal

from bridge.model.cursors import CartCursors, whole_second
from bridge.model.kinds import CART_REMINDER
from bridge.model.profile import ShopProfile
from bridge.model.records import Cart, CartProduct, CartRow, Customer, Order
from bridge.plan.addresses import customer_problem
from bridge.plan.consent import consent_basis, no_consent_reason
from bridge.plan.contexts import customer_context, instant, money, product_image_url
from bridge.plan.rules import Decision

# At most one reminder per customer in this window, whatever the number of carts.
CUSTOMER_GAP: Final = timedelta(hours=24)
# Carts are re-read this far behind the cursor: two carts can share a second, and a cart saved in the
# second the cursor was taken may commit after the read.
OVERLAP: Final = timedelta(minutes=10)
KIND: Final = CART_REMINDER
# What the cart rules need of an order.
ORDER_FIELDS: Final = ("id", "id_cart", "id_customer", "reference", "date_add")
# The basis recorded for a first reminder the owner chose to send without consent.
FIRST_WITHOUT_CONSENT: Final = "first cart reminder without consent (CART_REMINDER_FIRST_TO_ALL=true)"


@dataclass(frozen=True)
class Series:
    """One cart's reminder series, as `cart_series` stores it."""

    cart_id: int
    customer_id: int
    cart_updated_at: datetime
    status: str  # "open", "stopped", "done"
    steps_done: int  # the number of the last step handled (sent, queued or expired); 0 at the start
    stop_reason: str | None = None


@dataclass(frozen=True)
class Plan:
    """The owner's reminder settings (CART_REMINDERS, CART_REMINDER_LATE_LIMIT)."""

    delays: Sequence[timedelta | None]  # per step; None: the step is turned off
    late_limit: timedelta

    def steps(self) -> list[tuple[int, timedelta]]:
        """(step number, delay) of the steps that are on, in order."""
        return [(number, delay) for number, delay in enumerate(self.delays, 1) if delay is not None]


@dataclass(frozen=True)
class Verdict:
    """What a series calls for now: steps that expired unsent, and the step due now (if any)."""

    expired: list[tuple[int, datetime]] = field(default_factory=list)  # (step, when it was due)
    due: int | None = None
    due_at: datetime | None = None
    expires_at: datetime | None = None  # the due step may not go out after this
    finished: bool = False  # no step left: the series is done

    @property
    def steps_done(self) -> int | None:
        """The series' new `steps_done` when some step expired, else None."""
        return self.expired[-1][0] if self.expired else None


def evaluate(series: Series, plan: Plan, now: datetime) -> Verdict:
    """The verdict for an open series at `now`."""
    steps = [(n, series.cart_updated_at + delay) for n, delay in plan.steps() if n > series.steps_done]
    expired: list[tuple[int, datetime]] = []
    for index, (number, due_at) in enumerate(steps):
        if now < due_at:
            return Verdict(expired=expired)
        deadline = due_at + plan.late_limit
        if index + 1 < len(steps):
            deadline = min(deadline, steps[index + 1][1])
        if now >= deadline:
            expired.append((number, due_at))
            continue
        return Verdict(expired=expired, due=number, due_at=due_at, expires_at=deadline)
    return Verdict(expired=expired, finished=True)


def reminder_key(cart_id: int, cart_updated_at: datetime, step: int) -> str:
    """The idempotency key of one reminder: the cart, the state of the cart it answers, the step."""
    return f"cart_reminder:cart:{cart_id}:at:{int(cart_updated_at.timestamp())}:step:{step}"


def recovery_token(cookie_key: str, cart_id: int) -> str:
    """PrestaShop's cart recovery token, as FrontController::recoverCart checks it: the MD5 of the cookie
    key, `recover_cart_` and the cart id. MD5 is PrestaShop's choice; the link it signs logs the customer
    in."""
    return hashlib.md5(f"{cookie_key}recover_cart_{cart_id}".encode(), usedforsecurity=False).hexdigest()


def cart_link(front_url: str, cart_id: int, cookie_key: str | None) -> tuple[str, bool]:
    """Where the reminder's button goes, and whether that link restores the session (signs in)."""
    base = front_url.rstrip("/") + "/"
    if cookie_key:
        token = recovery_token(cookie_key, cart_id)
        return f"{base}index.php?controller=order&step=1&recover_cart={cart_id}&token_cart={token}", True
    return f"{base}index.php?controller=cart&action=show", False


# --- one pass, planned --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CartSettings:
    """The owner's settings a cart pass reads."""

    plan: Plan
    default_language: str = "pl"
    marketing_consent: frozenset[str] = frozenset({"newsletter", "optin"})
    first_to_all: bool = False
    discount: Literal["none", "shared", "unique"] = "none"
    discount_step: int = 2
    shared_code: str = ""
    discount_percent: Decimal = Decimal(10)
    discount_valid_days: int = 7
    product_images: str = ""
    cookie_key: str | None = None  # reveals the recovery link that signs the customer in


@dataclass(frozen=True)
class IssuedCode:
    """A customer's single-use code: created once, through the webservice, when a reminder first needs it."""

    customer_id: int
    code: str
    cart_rule_id: int
    cart_id: int
    valid_until: datetime


@dataclass(frozen=True)
class CodeNeeded:
    """An effect the cycle performs before applying the plan: create this customer's code in the shop."""

    customer_id: int
    cart_id: int
    valid_until: datetime


@dataclass
class PassStart:
    """The first half of a pass: which series (re)start, what each open series calls for, which are due."""

    restarted: dict[int, Series]
    series: dict[int, Series]
    verdicts: dict[int, Verdict]
    cursors: CartCursors

    @property
    def due(self) -> dict[int, Series]:
        return {cart_id: s for cart_id, s in self.series.items() if self.verdicts[cart_id].due is not None}


@dataclass(frozen=True)
class DueFacts:
    """What the shop says of the due carts and their customers."""

    carts: Mapping[int, Cart]
    ordered: Mapping[int, Order]  # cart id → the order it became
    later_orders: Mapping[int, Sequence[Order]]  # customer id → orders placed since the oldest due cart
    customers: Mapping[int, Customer]


@dataclass(frozen=True)
class Reachable:
    """What the bridge remembers of the due customers."""

    unsubscribed: Mapping[str, str]  # address → why it may not be written to (unsubscribed, bounced)
    last_reminder: Mapping[int, datetime]  # customer id → when their latest reminder was queued
    codes: Mapping[int, IssuedCode]  # customer id → their code


@dataclass
class CartPlan:
    """Everything one pass decided, applied in one transaction."""

    start: PassStart
    emails: list[Decision] = field(default_factory=list)
    skips: list[Decision] = field(default_factory=list)
    steps: dict[int, int] = field(default_factory=dict)  # cart id → steps_done
    stops: dict[int, tuple[str, str]] = field(default_factory=dict)  # cart id → (status, reason)
    codes_needed: list[CodeNeeded] = field(default_factory=list)
    postponed: int = 0
    carts_changed: int = 0

    def stop(self, cart_id: int, reason: str, status: str = "stopped") -> None:
        self.stops[cart_id] = (status, reason)


@dataclass(frozen=True)
class _Chosen:
    series: Series
    cart: Cart
    customer: Customer
    basis: str
    step: int


def start_pass(
    changed: Sequence[Cart],
    stored: Mapping[int, Series],
    open_series: Mapping[int, Series],
    cursors: CartCursors,
    plan: Plan,
    now: datetime,
) -> PassStart:
    """A changed cart starts a fresh series; every open series gets its verdict at `now`."""
    restarted: dict[int, Series] = {}
    for cart in changed:
        assert cart.date_upd is not None
        known = stored.get(cart.id)
        if known is None or known.cart_updated_at != cart.date_upd:
            restarted[cart.id] = Series(cart.id, cart.id_customer, cart.date_upd, "open", 0)
    series = {**open_series, **restarted}
    verdicts = {cart_id: evaluate(s, plan, now) for cart_id, s in series.items()}
    second = whole_second(now)  # the cursor is compared with the shop's date_upd: whole seconds
    changed_up_to = cursors.changed_up_to or second
    newest = max([changed_up_to, *(c.date_upd for c in changed if c.date_upd is not None)])
    moved = CartCursors(changed_up_to=min(newest, second), checked_at=now, baseline_at=cursors.baseline_at)
    return PassStart(restarted, series, verdicts, moved)


def changed_since(cursors: CartCursors) -> datetime:
    """Where to read changed carts from: a little behind the cursor, never before the baseline."""
    assert cursors.changed_up_to is not None and cursors.baseline_at is not None
    return max(cursors.changed_up_to - OVERLAP, cursors.baseline_at)


def worth_watching(carts: Sequence[Cart], baseline_at: datetime) -> list[Cart]:
    """Carts of known customers changed since the baseline (compared at the shop's whole seconds: the
    baseline is stored cut to the second, and one stored before that was is cut here)."""
    floor = whole_second(baseline_at)
    return [c for c in carts if c.id_customer > 0 and c.date_upd is not None and c.date_upd >= floor]


def choose(
    start: PassStart, facts: DueFacts, memory: Reachable, settings: CartSettings, now: datetime
) -> tuple[CartPlan, list[_Chosen]]:
    """Which due reminders go: the rest stop their series, are skipped with a reason, or wait."""
    plan = CartPlan(start=start, skips=expired_skips(start, now))
    chosen: list[_Chosen] = []
    written_to: set[int] = set()  # customers who get a reminder in this pass
    for cart_id, s in sorted(start.due.items(), key=lambda item: item[1].cart_updated_at):
        step = start.verdicts[cart_id].due
        assert step is not None
        cart = facts.carts.get(cart_id)
        customer = facts.customers.get(s.customer_id)
        why = _why_not(s, cart, facts.ordered.get(cart_id), facts.later_orders.get(s.customer_id, ()))
        if why is None and cart is not None and cart.date_upd != s.cart_updated_at:
            plan.postponed += 1  # changed since it was listed: the next pass restarts its series
            continue
        why = why or _cannot_write(customer, s.customer_id, memory)
        if why is not None:
            plan.stop(cart_id, why)
            continue
        assert cart is not None and customer is not None
        basis = consent_basis(customer, settings.marketing_consent)
        if basis is None and step == 1 and settings.first_to_all:
            basis = FIRST_WITHOUT_CONSENT
        if basis is None:
            reason = no_consent_reason(customer, settings.marketing_consent)
            plan.skips.append(placeholder(s, step, now, customer, reason))
            plan.steps[cart_id] = step
            if not settings.first_to_all or step > 1:
                plan.stop(cart_id, reason)
            continue
        last = memory.last_reminder.get(customer.id)
        if customer.id in written_to or (last is not None and last > now - CUSTOMER_GAP):
            plan.postponed += 1  # it may still go within its window; else it expires
            continue
        written_to.add(customer.id)
        chosen.append(_Chosen(s, cart, customer, basis, step))
    return plan, chosen


def reminders(
    plan: CartPlan,
    chosen: Sequence[_Chosen],
    products: Mapping[int, Mapping[int, CartProduct]],
    memory: Reachable,
    profile: ShopProfile,
    settings: CartSettings,
    now: datetime,
) -> CartPlan:
    """The reminders of the chosen carts; a single-use code that does not exist yet is asked for as an
    effect (its email's `discount` is filled in by `with_code` once the cycle created it)."""
    for c in chosen:
        context = _context(
            settings, profile, c.cart, c.customer, c.step, products.get(c.cart.id_currency, {})
        )
        if context is None:
            plan.stop(c.cart.id, "none of the cart's products is still sold in the shop")
            continue
        if settings.discount != "none" and c.step >= settings.discount_step:
            context["discount"] = _discount(plan, c, memory, settings, now)
        language = profile.language_iso(c.customer.id_lang) or profile.language_iso(c.cart.id_lang)
        plan.emails.append(
            Decision(
                key=reminder_key(c.cart.id, c.series.cart_updated_at, c.step),
                kind=KIND,
                order_id=0,
                order_reference="",
                recipient_email=c.customer.email.strip(),
                recipient_name=f"{c.customer.firstname} {c.customer.lastname}".strip(),
                language=language or settings.default_language,
                context=context,
                category="marketing",
                not_before=now,
                expires_at=plan.start.verdicts[c.cart.id].expires_at,
                consent=c.basis,
                customer_id=c.customer.id,
                cart_id=c.cart.id,
            )
        )
        plan.steps[c.cart.id] = c.step
    return plan


def with_code(email: Decision, code: IssuedCode | None, percent: Decimal) -> Decision:
    """The reminder with the customer's code (None: creating it failed, the reminder goes without one)."""
    context = dict(email.context)
    context["discount"] = code_context(code.code, percent, code.valid_until) if code is not None else None
    return dataclasses.replace(email, context=context)


def stops_for_orders(open_series: Mapping[int, Series], orders: Sequence[Order]) -> dict[int, str]:
    """An order stops the reminders of its cart and of its customer's carts left before it."""
    by_customer: dict[int, list[Series]] = {}
    for s in open_series.values():
        by_customer.setdefault(s.customer_id, []).append(s)
    stops: dict[int, str] = {}
    for order in orders:
        if order.id_customer <= 0:
            continue
        for s in by_customer.get(order.id_customer, []):
            if s.cart_id in stops:
                continue
            if s.cart_id == order.id_cart:
                stops[s.cart_id] = f"the cart became order {order.reference or order.id}"
            elif order.date_add is not None and order.date_add >= s.cart_updated_at:
                stops[s.cart_id] = (
                    f"the customer ordered through another cart (order {order.reference or order.id})"
                )
    return stops


def placeholder(s: Series, step: int, now: datetime, customer: Customer | None, reason: str) -> Decision:
    """The outbox row that says why a reminder was not sent (`bridge explain` shows it)."""
    return Decision(
        key=reminder_key(s.cart_id, s.cart_updated_at, step),
        kind=KIND,
        order_id=0,
        order_reference="",
        skip_reason=reason,
        recipient_email=customer.email.strip() if customer is not None else "",
        recipient_name=f"{customer.firstname} {customer.lastname}".strip() if customer else None,
        category="marketing",
        not_before=now,
        consent="none",
        customer_id=s.customer_id,
        cart_id=s.cart_id,
    )


def expired_skips(start: PassStart, now: datetime) -> list[Decision]:
    """The steps that could not go out in time: recorded as not sent, never sent late."""
    skips = []
    for cart_id, verdict in start.verdicts.items():
        for step, due_at in verdict.expired:
            why = f"expired: due at {due_at:%Y-%m-%d %H:%M} UTC, and the bridge could not send it in time"
            skips.append(placeholder(start.series[cart_id], step, now, None, why))
    return skips


def code_context(code: str, percent: Decimal, valid_until: datetime) -> dict[str, Any]:
    return {
        "code": code,
        "percent": format(percent.normalize(), "f"),
        "amount": None,
        "valid_until": instant(valid_until),
    }


def _why_not(s: Series, cart: Cart | None, order: Order | None, later: Sequence[Order]) -> str | None:
    """Why this cart's series ends before its next reminder, or None."""
    if cart is None:
        return "the cart no longer exists in the shop"
    if order is not None:
        return f"the cart became order {order.reference or order.id}"
    if cart.date_upd != s.cart_updated_at:
        return None  # changed since it was listed: not ended, the next pass restarts its series
    if not cart.rows:
        return "the cart was emptied"
    for other in later:
        if other.date_add is not None and other.date_add >= s.cart_updated_at:
            return f"the customer ordered through another cart (order {other.reference or other.id})"
    return None


def _cannot_write(customer: Customer | None, customer_id: int, memory: Reachable) -> str | None:
    problem = customer_problem(customer, customer_id, marketing=True)
    if problem is not None or customer is None:
        return problem
    return memory.unsubscribed.get(customer.email.strip().lower())


def _discount(
    plan: CartPlan, c: _Chosen, memory: Reachable, settings: CartSettings, now: datetime
) -> dict[str, Any] | None:
    """The code this reminder carries: the shared one, this customer's existing code, or (asked for as an
    effect) a new one. One code per customer, ever: an expired one is not replaced."""
    if settings.discount == "shared":
        return {"code": settings.shared_code, "percent": "", "amount": None, "valid_until": ""}
    existing = memory.codes.get(c.customer.id)
    if existing is not None:
        if existing.valid_until <= now:
            return None
        return code_context(existing.code, settings.discount_percent, existing.valid_until)
    valid_until = now + timedelta(days=settings.discount_valid_days)
    plan.codes_needed.append(CodeNeeded(c.customer.id, c.cart.id, valid_until))
    return None


def _context(
    settings: CartSettings,
    profile: ShopProfile,
    cart: Cart,
    customer: Customer,
    step: int,
    products: Mapping[int, CartProduct],
) -> dict[str, Any] | None:
    currency = profile.currencies.get(cart.id_currency)
    iso = currency.iso_code if currency is not None else ""
    if not iso:
        return None
    priced = [_item(settings, profile.front_url, cart, customer, row, products, iso) for row in cart.rows]
    lines = [item for item, _ in filter(None, priced)]
    if not lines:
        return None
    total = sum((line_total for _, line_total in filter(None, priced)), Decimal(0))
    url, restores = cart_link(profile.front_url, cart.id, settings.cookie_key)
    return {
        "customer": customer_context(customer),
        "step": step,
        "cart": {"items": lines, "total": money(total, iso), "url": url, "restores_session": restores},
        "discount": None,
    }


def _item(
    settings: CartSettings,
    front: str,
    cart: Cart,
    customer: Customer,
    row: CartRow,
    products: Mapping[int, CartProduct],
    iso: str,
) -> tuple[dict[str, Any], Decimal] | None:
    """One line of the reminder, and its exact total (rounded only once, for the cart's total)."""
    product = products.get(row.id_product)
    if product is None or not product.active:
        return None
    price = product.prices.get(row.id_product_attribute)
    if price is None:
        return None
    image = ""
    if settings.product_images and product.id_default_image and front:
        image = product_image_url(front, product.id_default_image, settings.product_images)
    line_total = price * row.quantity
    item = {
        "name": product.name.get(customer.id_lang or cart.id_lang),
        "quantity": row.quantity,
        "unit_price": money(price, iso),
        "total": money(line_total, iso),
        "url": _product_url(front, product.id, row.id_product_attribute),
        "image_url": image,
    }
    return item, line_total


def _product_url(front: str, product_id: int, attribute_id: int) -> str:
    if not front:
        return ""
    url = f"{front.rstrip('/')}/index.php?controller=product&id_product={product_id}"
    return url + (f"&id_product_attribute={attribute_id}" if attribute_id else "")
