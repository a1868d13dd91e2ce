"""The abandoned-cart pass: read the carts that changed and the due ones → plan (bridge.plan.carts) →
create the discount codes the plan asks for → apply in one transaction.

At most every CART_POLL_INTERVAL. The first pass records where the carts stand and reminds nobody: a cart
abandoned before the bridge was installed is history. Orders seen by the order poll stop the series of their
cart at once (bridge.state.plans); delivery checks the shop once more just before sending
(bridge.delivery.marketing). Every read is batched: a handful of requests however many carts are due.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bridge.config import Settings
from bridge.errors import ShopError, ShopPermissionError
from bridge.model.codes import random_code
from bridge.model.cursors import CartCursors, whole_second
from bridge.model.headers import mask_addresses, mask_email
from bridge.model.profile import ShopProfile
from bridge.model.records import Cart, CartProduct, CartRuleSpec, Order
from bridge.plan import carts as plan
from bridge.shop.client import ShopClient
from bridge.shop.profile import load_profile
from bridge.state import cursors, outbox
from bridge.state.carts import codes_of, load_series, open_series, put_code
from bridge.state.plans import apply_carts
from bridge.state.store import Store, Tx
from bridge.state.unsubscribes import unsubscribed

log = logging.getLogger(__name__)


@dataclass
class CartPass:
    """What one pass did, for logs, `bridge sync` and tests."""

    ran: bool = False
    baseline: bool = False
    carts_changed: int = 0
    queued: int = 0
    skipped: int = 0  # reminders recorded as not sent (expired, no consent, …)
    stopped: list[tuple[int, str]] = field(default_factory=list)  # (cart id, why)
    postponed: int = 0  # due, but the customer had a reminder in the last 24 h
    codes_created: int = 0


def cart_settings(settings: Settings) -> plan.CartSettings:
    """The owner's settings the cart rules read."""
    cookie_key = settings.shop_cookie_key.reveal() if settings.shop_cookie_key is not None else None
    return plan.CartSettings(
        plan=plan.Plan(delays=settings.cart_reminders, late_limit=settings.cart_reminder_late_limit),
        default_language=settings.default_language,
        marketing_consent=settings.marketing_consent,
        first_to_all=settings.cart_reminder_first_to_all,
        discount=settings.cart_discount,
        discount_step=settings.cart_discount_step,
        shared_code=settings.cart_discount_code,
        discount_percent=settings.cart_discount_percent,
        discount_valid_days=settings.cart_discount_valid_days,
        product_images=settings.product_images,
        cookie_key=cookie_key,
    )


def enabled(settings: Settings) -> bool:
    return settings.marketing_enabled and bool(cart_settings(settings).plan.steps())


def watch_carts(
    client: ShopClient,
    store: Store,
    settings: Settings,
    *,
    now: datetime,
    profile: ShopProfile | None = None,
    force: bool = False,
) -> CartPass:
    """One pass (see the module docstring); nothing when reminders are off or the last pass is recent."""
    result = CartPass()
    if not enabled(settings):
        return result
    with store.read() as conn:
        stored = cursors.load(conn).carts
    if stored.changed_up_to is None:
        # Whole seconds, like the shop's date_upd: a cart saved in this same second is after the baseline.
        second = whole_second(now)
        with store.transaction() as conn:
            cursors.save_carts(conn, CartCursors(second, second, second), now=now)
        log.info("cart reminders: watching carts from now on; carts left before now get none")
        result.ran = result.baseline = True
        return result
    if not force and stored.checked_at and stored.checked_at + settings.cart_poll_interval > now:
        return result
    result.ran = True
    rules = cart_settings(settings)
    assert stored.baseline_at is not None
    changed = plan.worth_watching(client.carts_changed(plan.changed_since(stored), now), stored.baseline_at)
    result.carts_changed = len(changed)
    with store.read() as conn:
        start = plan.start_pass(
            changed, load_series(conn, [c.id for c in changed]), open_series(conn), stored, rules.plan, now
        )
    cart_plan, profile = _plan_due(client, store, settings, start, profile, now=now, rules=rules)
    cart_plan = _with_codes(client, store, cart_plan, profile, rules, now=now, result=result)
    domain = profile.identity.domain if profile is not None else "invalid"
    with store.transaction() as conn:
        applied = apply_carts(conn, cart_plan, now=now, domain=domain)
    for cart_id, count in applied.cancelled.items():
        log.info("cart #%s changed: %d waiting reminder(s) cancelled", cart_id, count)
    for cart_id, why in applied.stopped:
        log.info("cart #%s: reminders stopped: %s", cart_id, why)
    result.queued, result.skipped, result.stopped = applied.queued, applied.skipped, applied.stopped
    result.postponed = cart_plan.postponed
    return result


def _plan_due(
    client: ShopClient,
    store: Store,
    settings: Settings,
    start: plan.PassStart,
    profile: ShopProfile | None,
    *,
    now: datetime,
    rules: plan.CartSettings,
) -> tuple[plan.CartPlan, ShopProfile | None]:
    """Read what the due carts' reminders need, and decide them."""
    due = start.due
    if not due:  # expired steps and finished series are still recorded
        nothing = plan.choose(start, plan.DueFacts({}, {}, {}, {}), plan.Reachable({}, {}, {}), rules, now)
        return nothing[0], profile
    profile = profile or load_profile(client, settings)
    facts = _due_facts(client, due)
    with store.read() as conn:
        reachable = _reachable(conn, facts, due.values())
    cart_plan, chosen = plan.choose(start, facts, reachable, rules, now)
    if chosen:
        products = _products(client, [c.cart for c in chosen])
        plan.reminders(cart_plan, chosen, products, reachable, profile, rules, now)
    return cart_plan, profile


def _due_facts(client: ShopClient, due: Mapping[int, plan.Series]) -> plan.DueFacts:
    carts = {cart.id: cart for cart in client.carts(ids=sorted(due))}
    ordered = {
        order.id_cart: order for order in client.orders(cart_ids=sorted(due), fields=plan.ORDER_FIELDS)
    }
    since = min(s.cart_updated_at for s in due.values())
    later: dict[int, list[Order]] = {}
    for order in client.orders_placed_by({s.customer_id for s in due.values()}, since):
        later.setdefault(order.id_customer, []).append(order)
    customers = {c.id: c for c in client.customers({s.customer_id for s in due.values()})}
    return plan.DueFacts(carts, ordered, later, customers)


def _reachable(conn: Tx, facts: plan.DueFacts, due: Iterable[plan.Series]) -> plan.Reachable:
    """Who may not be written to (unsubscribed, bounced), when each was last reminded, their codes."""
    blocked: dict[str, str] = {}
    last: dict[int, datetime] = {}
    for s in due:
        customer = facts.customers.get(s.customer_id)
        if customer is None:
            continue
        email = customer.email.strip()
        gone = unsubscribed(conn, email)
        bounced = outbox.is_suppressed(conn, email)
        shown = mask_email(email)  # the reason is logged and stored: the address is masked in it
        if gone is not None:
            blocked[email.lower()] = (
                f"{shown} unsubscribed from marketing mail ({gone.source}, {gone.created_at:%Y-%m-%d})"
            )
        elif bounced is not None:
            blocked[email.lower()] = f"{shown} is suppressed: {mask_addresses(bounced)}"
        when = outbox.last_marketing_to_customer(conn, customer.id, plan.KIND)
        if when is not None:
            last[customer.id] = when
    return plan.Reachable(blocked, last, codes_of(conn, facts.customers))


def _products(client: ShopClient, carts: Iterable[Cart]) -> dict[int, dict[int, CartProduct]]:
    """Each currency's products of these carts, with prices in that currency (one request per currency)."""
    lines: dict[int, set[tuple[int, int]]] = {}
    for cart in carts:
        for row in cart.rows:
            lines.setdefault(cart.id_currency, set()).add((row.id_product, row.id_product_attribute))
    return {
        currency_id: client.cart_products(sorted(pairs), currency_id=currency_id)
        for currency_id, pairs in lines.items()
    }


# --- the one effect: single-use discount codes -------------------------------------------------------------


def _with_codes(
    client: ShopClient,
    store: Store,
    cart_plan: plan.CartPlan,
    profile: ShopProfile | None,
    rules: plan.CartSettings,
    *,
    now: datetime,
    result: CartPass,
) -> plan.CartPlan:
    """Create the codes the plan asks for (each remembered at once: the shop holds it from then on), and
    put them into their reminders. A code that could not be created leaves its reminder without one."""
    if not cart_plan.codes_needed:
        return cart_plan
    assert profile is not None
    made: dict[int, plan.IssuedCode | None] = {}
    for needed in cart_plan.codes_needed:
        made[needed.customer_id] = _create_code(client, store, needed, profile, rules, now=now)
        result.codes_created += made[needed.customer_id] is not None
    cart_plan.emails = [
        plan.with_code(email, made[email.customer_id], rules.discount_percent)
        if email.customer_id in made
        else email
        for email in cart_plan.emails
    ]
    return cart_plan


def _create_code(
    client: ShopClient,
    store: Store,
    needed: plan.CodeNeeded,
    profile: ShopProfile,
    rules: plan.CartSettings,
    *,
    now: datetime,
) -> plan.IssuedCode | None:
    code = random_code(length=10)
    spec = CartRuleSpec(
        code=code,
        names={lang_id: _code_name(profile, lang_id) for lang_id in profile.languages},
        id_customer=needed.customer_id,
        reduction_percent=rules.discount_percent,
        date_from=now,
        date_to=needed.valid_until,
        description=f"Created by prestashop-email-bridge for cart #{needed.cart_id}",
    )
    try:
        rule_id = client.create_cart_rule(spec)
    except ShopPermissionError as error:
        log.warning("cart reminders: no discount code: %s", error)
        return None
    except ShopError as error:
        # Not retried here: the shop may have created the code before failing to answer. The next
        # reminder that needs one tries again; at worst the shop holds an unused single-use code.
        log.warning("cart reminders: creating a discount code failed: %s", error)
        return None
    issued = plan.IssuedCode(needed.customer_id, code, rule_id, needed.cart_id, needed.valid_until)
    with store.transaction() as conn:
        put_code(conn, issued, now=now)
    log.info("cart reminders: discount code #%s created for customer #%s", rule_id, needed.customer_id)
    return issued


def _code_name(profile: ShopProfile, lang_id: int) -> str:
    iso = profile.language_iso(lang_id) or ""
    return "Rabat na powrót do koszyka" if iso.startswith("pl") else "Your cart discount"
