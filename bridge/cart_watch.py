"""Abandoned carts: read what changed in the shop's carts, keep one reminder series per cart, and queue
the reminders that are due (the rules themselves are `bridge.plan.carts`).

One pass, at most every CART_POLL_INTERVAL:
1. carts of known customers whose `date_upd` moved since the cursor (one small request when none did);
   a changed cart starts a fresh series and its waiting reminders are cancelled;
2. for each open series whose next reminder is due: is the cart still there and unchanged, not ordered,
   has the customer ordered through another cart since, may the customer be written to (active, not
   deleted, a valid address, consent, not unsubscribed, no reminder in the last 24 h)? All batched: a
   handful of requests however many carts are due;
3. the reminders, the series and the cursor are written in one transaction.

The first pass records where the carts stand and reminds nobody: a cart abandoned before the bridge was
installed is history. Orders seen by the order poll stop the series of their cart and of their customer's
older carts at once (`stop_for_orders`); delivery checks the shop once more just before sending
(`bridge.delivery.marketing`).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import Connection, select, update

from bridge.config import Settings
from bridge.errors import ShopError, ShopPermissionError
from bridge.plan.addresses import customer_problem
from bridge.plan.carts import CUSTOMER_GAP, Plan, Series, Verdict, cart_link, evaluate, reminder_key
from bridge.plan.consent import consent_basis, no_consent_reason
from bridge.plan.contexts import customer_context, instant, money, product_image_url
from bridge.shop.client import ShopClient
from bridge.shop.profile import ShopProfile, load_profile
from bridge.shop.records import Cart, CartProduct, CartRuleSpec, Customer, Order
from bridge.state import outbox
from bridge.state.store import Store, cart_series, discount_codes, get_cursors, set_cursor, upsert
from bridge.web.unsubscribe import unsubscribed

log = logging.getLogger(__name__)

CURSOR: Final = "carts.date_upd"
CHECKED_AT: Final = "carts.checked_at"
BASELINE: Final = "carts.baseline_at"  # carts last changed before this are history: never reminded
# Carts are re-read this far behind the cursor: two carts can share a second, and a cart saved in the
# second the cursor was taken may commit after the read.
OVERLAP: Final = timedelta(minutes=10)
KIND: Final = "cart_reminder"
# The basis recorded for a first reminder the owner chose to send without consent.
FIRST_WITHOUT_CONSENT: Final = "first cart reminder without consent (CART_REMINDER_FIRST_TO_ALL=true)"
CODE_ALPHABET: Final = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: customers type these


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


def plan_for(settings: Settings) -> Plan:
    return Plan(delays=settings.cart_reminders, late_limit=settings.cart_reminder_late_limit)


def enabled(settings: Settings) -> bool:
    return settings.marketing_enabled and bool(plan_for(settings).steps())


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
        cursors = get_cursors(conn)
    if CURSOR not in cursors:
        with store.transaction() as conn:
            set_cursor(conn, CURSOR, now.isoformat(), now=now)
            set_cursor(conn, CHECKED_AT, now.isoformat(), now=now)
            set_cursor(conn, BASELINE, now.isoformat(), now=now)
        log.info("cart reminders: watching carts from now on; carts left before now get none")
        result.ran = result.baseline = True
        return result
    checked = cursors.get(CHECKED_AT)
    if not force and checked and datetime.fromisoformat(checked) + settings.cart_poll_interval > now:
        return result
    result.ran = True
    cursor = datetime.fromisoformat(cursors[CURSOR])
    baseline = datetime.fromisoformat(cursors.get(BASELINE) or cursors[CURSOR])

    since = max(cursor - OVERLAP, baseline)
    changed = [
        c
        for c in client.carts_changed(since, now)
        if c.id_customer > 0 and c.date_upd is not None and c.date_upd >= baseline
    ]
    result.carts_changed = len(changed)
    with store.read() as conn:
        series = _load_series(conn, [c.id for c in changed])
        open_series = _open_series(conn)
    restarted: dict[int, Series] = {}
    for cart in changed:
        assert cart.date_upd is not None
        known = series.get(cart.id)
        if known is None or known.cart_updated_at != cart.date_upd:
            restarted[cart.id] = Series(cart.id, cart.id_customer, cart.date_upd, "open", 0)
    open_series.update(restarted)

    plan = plan_for(settings)
    verdicts = {cart_id: evaluate(s, plan, now) for cart_id, s in open_series.items()}
    due = {cart_id: s for cart_id, s in open_series.items() if verdicts[cart_id].due is not None}
    writes = _Writes(now=now)
    if due:
        profile = profile or load_profile(client, settings)
        _decide_due(client, store, settings, profile, due, verdicts, writes, result, now=now)

    newest = max([cursor, *(c.date_upd for c in changed if c.date_upd is not None)])
    with store.transaction() as conn:
        for cart_id, fresh in restarted.items():
            cancelled = outbox.cancel_waiting(
                conn, "the cart changed: its reminders start again", now=now, kind=KIND, cart_id=cart_id
            )
            if cancelled:
                log.info("cart #%s changed: %d waiting reminder(s) cancelled", cart_id, len(cancelled))
            _put_series(conn, fresh, now=now)
        for cart_id, verdict in verdicts.items():
            s = open_series[cart_id]
            for step, due_at in verdict.expired:
                intent = _placeholder(s, step, now)
                why = f"expired: due at {due_at:%Y-%m-%d %H:%M} UTC, and the bridge could not send it in time"
                result.skipped += outbox.skip(conn, intent, why, now=now)
            if verdict.steps_done is not None:
                _set_steps(conn, cart_id, verdict.steps_done, now=now)
            if verdict.finished and cart_id not in writes.stopped:
                _stop(conn, cart_id, "done", "every reminder of the series was handled", now=now)
        writes.apply(conn, result)
        set_cursor(conn, CURSOR, min(newest, now).isoformat(), now=now)
        set_cursor(conn, CHECKED_AT, now.isoformat(), now=now)
    for cart_id, why in result.stopped:
        log.info("cart #%s: reminders stopped: %s", cart_id, why)
    return result


# --- deciding the due reminders ---------------------------------------------------------------------------


@dataclass
class _Writes:
    """Everything a pass decided, written in its one transaction."""

    now: datetime
    domain: str = "invalid"  # the shop's, for the Message-IDs of queued reminders
    intents: list[outbox.EmailIntent] = field(default_factory=list)
    skips: list[tuple[outbox.EmailIntent, str]] = field(default_factory=list)
    steps: dict[int, int] = field(default_factory=dict)  # cart id → steps_done
    stopped: dict[int, tuple[str, str]] = field(default_factory=dict)  # cart id → (status, reason)

    def stop(self, cart_id: int, reason: str, status: str = "stopped") -> None:
        self.stopped[cart_id] = (status, reason)

    def apply(self, conn: Connection, result: CartPass) -> None:
        for intent in self.intents:
            result.queued += outbox.enqueue(conn, intent, now=self.now, message_id_domain=self.domain)
        for intent, why in self.skips:
            result.skipped += outbox.skip(conn, intent, why, now=self.now)
        for cart_id, steps in self.steps.items():
            _set_steps(conn, cart_id, steps, now=self.now)
        for cart_id, (status, reason) in self.stopped.items():
            _stop(conn, cart_id, status, reason, now=self.now)
            if status == "stopped":
                outbox.cancel_waiting(conn, f"not sent: {reason}", now=self.now, kind=KIND, cart_id=cart_id)
                result.stopped.append((cart_id, reason))


def _decide_due(
    client: ShopClient,
    store: Store,
    settings: Settings,
    profile: ShopProfile,
    due: Mapping[int, Series],
    verdicts: Mapping[int, Verdict],
    writes: _Writes,
    result: CartPass,
    *,
    now: datetime,
) -> None:
    carts = {cart.id: cart for cart in client.carts(ids=sorted(due))}
    ordered = {order.id_cart: order for order in client.orders(cart_ids=sorted(due), fields=ORDER_FIELDS)}
    since = min(s.cart_updated_at for s in due.values())
    later_orders: dict[int, list[Order]] = {}
    for order in client.orders_placed_by({s.customer_id for s in due.values()}, since):
        later_orders.setdefault(order.id_customer, []).append(order)
    customers = {c.id: c for c in client.customers({s.customer_id for s in due.values()})}

    chosen: dict[int, tuple[Series, Cart, Customer, str, int]] = {}  # cart id → what its reminder needs
    written_to: set[int] = set()  # customers who get a reminder in this pass
    with store.read() as conn:
        for cart_id, s in sorted(due.items(), key=lambda item: item[1].cart_updated_at):
            step = verdicts[cart_id].due
            assert step is not None
            cart = carts.get(cart_id)
            why = _why_not(s, cart, ordered.get(cart_id), later_orders.get(s.customer_id, []))
            if why is not None:
                writes.stop(cart_id, why)
                continue
            assert cart is not None
            customer = customers.get(s.customer_id)
            why = _cannot_write(customer, s.customer_id, conn)
            if why is not None:
                writes.stop(cart_id, why)
                continue
            assert customer is not None
            basis = consent_basis(customer, settings.marketing_consent)
            if basis is None and step == 1 and settings.cart_reminder_first_to_all:
                basis = FIRST_WITHOUT_CONSENT
            if basis is None:
                reason = no_consent_reason(customer, settings.marketing_consent)
                writes.skips.append((_placeholder(s, step, now, customer), reason))
                writes.steps[cart_id] = step
                if not settings.cart_reminder_first_to_all or step > 1:
                    writes.stop(cart_id, reason)
                continue
            last = outbox.last_marketing_to_customer(conn, customer.id, KIND)
            if customer.id in written_to or (last is not None and last > now - CUSTOMER_GAP):
                result.postponed += 1  # it may still go within its window; else it expires
                continue
            written_to.add(customer.id)
            chosen[cart_id] = (s, cart, customer, basis, step)
    if not chosen:
        return
    writes.domain = profile.identity.domain
    products = _products(client, [cart for _, cart, _, _, _ in chosen.values()])
    for cart_id, (s, cart, customer, basis, step) in chosen.items():
        verdict = verdicts[cart_id]
        context = _context(settings, profile, cart, customer, step, products.get(cart.id_currency, {}))
        if context is None:
            writes.stop(cart_id, "none of the cart's products is still sold in the shop")
            continue
        if settings.cart_discount != "none" and step >= settings.cart_discount_step:
            context["discount"] = _discount(client, store, settings, profile, cart, customer, now, result)
        language = profile.language_iso(customer.id_lang) or profile.language_iso(cart.id_lang)
        writes.intents.append(
            outbox.EmailIntent(
                idempotency_key=reminder_key(cart_id, s.cart_updated_at, step),
                kind=KIND,
                category="marketing",
                priority=5,
                recipient_email=customer.email.strip(),
                recipient_name=f"{customer.firstname} {customer.lastname}".strip(),
                language=language or settings.default_language,
                context=context,
                not_before=now,
                expires_at=verdict.expires_at,
                consent=basis,
                customer_id=customer.id,
                cart_id=cart_id,
            )
        )
        writes.steps[cart_id] = step


ORDER_FIELDS: Final = ("id", "id_cart", "id_customer", "reference", "date_add")


def _why_not(s: Series, cart: Cart | None, order: Order | None, later: Sequence[Order]) -> str | None:
    """Why this cart's series ends before its next reminder, or None."""
    if cart is None:
        return "the cart no longer exists in the shop"
    if order is not None:
        return f"the cart became order {order.reference or order.id}"
    if cart.date_upd is not None and cart.date_upd != s.cart_updated_at:
        return None  # changed since it was listed: the next pass restarts its series
    if not cart.rows:
        return "the cart was emptied"
    for other in later:
        if other.date_add is not None and other.date_add >= s.cart_updated_at:
            return f"the customer ordered through another cart (order {other.reference or other.id})"
    return None


def _cannot_write(customer: Customer | None, customer_id: int, conn: Connection) -> str | None:
    problem = customer_problem(customer, customer_id, marketing=True)
    if problem is not None or customer is None:
        return problem
    email = customer.email.strip()
    gone = unsubscribed(conn, email)
    if gone is not None:
        return f"{email} unsubscribed from marketing mail ({gone.source}, {gone.created_at:%Y-%m-%d})"
    bounced = outbox.is_suppressed(conn, email)
    if bounced is not None:
        return f"{email} is suppressed: {bounced}"
    return None


def _placeholder(s: Series, step: int, now: datetime, customer: Customer | None = None) -> outbox.EmailIntent:
    """The outbox row that says why a reminder was not sent (`bridge explain` shows it)."""
    return outbox.EmailIntent(
        idempotency_key=reminder_key(s.cart_id, s.cart_updated_at, step),
        kind=KIND,
        category="marketing",
        recipient_email=customer.email.strip() if customer is not None else "",
        recipient_name=f"{customer.firstname} {customer.lastname}".strip() if customer else None,
        language="",
        consent="none",
        customer_id=s.customer_id,
        cart_id=s.cart_id,
        not_before=now,
    )


# --- contents -------------------------------------------------------------------------------------------


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


def _context(
    settings: Settings,
    profile: ShopProfile,
    cart: Cart,
    customer: Customer,
    step: int,
    products: Mapping[int, CartProduct],
) -> dict[str, Any] | None:
    currency = profile.currencies.get(cart.id_currency)
    iso = currency.iso_code if currency is not None else ""
    language_id = customer.id_lang or cart.id_lang
    front = profile.front_url
    items: list[dict[str, Any]] = []
    total = Decimal(0)
    for row in cart.rows:
        product = products.get(row.id_product)
        if product is None or not product.active or not iso:
            continue
        price = product.prices.get(row.id_product_attribute)
        if price is None:
            continue
        line_total = price * row.quantity
        total += line_total
        image = ""
        if settings.product_images and product.id_default_image and front:
            image = product_image_url(front, product.id_default_image, settings.product_images)
        items.append(
            {
                "name": product.name.get(language_id),
                "quantity": row.quantity,
                "unit_price": money(price, iso),
                "total": money(line_total, iso),
                "url": _product_url(front, product.id, row.id_product_attribute),
                "image_url": image,
            }
        )
    if not items:
        return None
    cookie_key = settings.shop_cookie_key.reveal() if settings.shop_cookie_key is not None else None
    url, restores = cart_link(front, cart.id, cookie_key)
    return {
        "customer": customer_context(customer),
        "step": step,
        "cart": {"items": items, "total": money(total, iso), "url": url, "restores_session": restores},
        "discount": None,
    }


def _product_url(front: str, product_id: int, attribute_id: int) -> str:
    if not front:
        return ""
    url = f"{front.rstrip('/')}/index.php?controller=product&id_product={product_id}"
    return url + (f"&id_product_attribute={attribute_id}" if attribute_id else "")


# --- discount codes -------------------------------------------------------------------------------------


def _discount(
    client: ShopClient,
    store: Store,
    settings: Settings,
    profile: ShopProfile,
    cart: Cart,
    customer: Customer,
    now: datetime,
    result: CartPass,
) -> dict[str, Any] | None:
    """The code this reminder carries: the shared one, or this customer's single-use code (created once,
    through the webservice, the moment it is first needed)."""
    if settings.cart_discount == "shared":
        return {"code": settings.cart_discount_code, "percent": "", "amount": None, "valid_until": ""}
    with store.read() as conn:
        existing = conn.execute(
            select(discount_codes).where(discount_codes.c.customer_id == customer.id)
        ).first()
    if existing is not None:
        if existing.valid_until <= now:
            return None  # one code per customer, ever: an expired one is not replaced
        return _code_context(existing.code, settings.cart_discount_percent, existing.valid_until)
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))
    valid_until = now + timedelta(days=settings.cart_discount_valid_days)
    names = {lang_id: _code_name(profile, lang_id) for lang_id in profile.languages}
    spec = CartRuleSpec(
        code=code,
        names=names,
        id_customer=customer.id,
        reduction_percent=settings.cart_discount_percent,
        date_from=now,
        date_to=valid_until,
        description=f"Created by prestashop-email-bridge for cart #{cart.id}",
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
    with store.transaction() as conn:
        conn.execute(
            upsert(conn, discount_codes)
            .values(
                customer_id=customer.id,
                code=code,
                cart_rule_id=rule_id,
                cart_id=cart.id,
                valid_until=valid_until,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=[discount_codes.c.customer_id])
        )
    result.codes_created += 1
    log.info("cart reminders: discount code #%s created for customer #%s", rule_id, customer.id)
    return _code_context(code, settings.cart_discount_percent, valid_until)


def _code_name(profile: ShopProfile, lang_id: int) -> str:
    iso = profile.language_iso(lang_id) or ""
    return "Rabat na powrót do koszyka" if iso.startswith("pl") else "Your cart discount"


def _code_context(code: str, percent: Decimal, valid_until: datetime) -> dict[str, Any]:
    return {
        "code": code,
        "percent": format(percent.normalize(), "f"),
        "amount": None,
        "valid_until": instant(valid_until),
    }


# --- orders stop series ---------------------------------------------------------------------------------


def stop_for_orders(conn: Connection, orders: Iterable[Order], *, now: datetime) -> list[tuple[int, str]]:
    """An order stops the reminders of its cart and of its customer's carts left before it (called in the
    order poll's transaction, so no reminder for an ordered cart is even claimed). The open series are
    few (carts of the last days): they are read once, whatever the number of orders."""
    placed = [order for order in orders if order.id_customer > 0]
    if not placed:
        return []
    open_by_customer: dict[int, list[Any]] = {}
    for row in conn.execute(
        select(cart_series.c.cart_id, cart_series.c.customer_id, cart_series.c.cart_updated_at).where(
            cart_series.c.status == "open"
        )
    ):
        open_by_customer.setdefault(row.customer_id, []).append(row)
    stopped: list[tuple[int, str]] = []
    done: set[int] = set()
    for order in placed:
        for row in open_by_customer.get(order.id_customer, []):
            if row.cart_id in done:
                continue
            if row.cart_id == order.id_cart:
                why = f"the cart became order {order.reference or order.id}"
            elif order.date_add is not None and order.date_add >= row.cart_updated_at:
                why = f"the customer ordered through another cart (order {order.reference or order.id})"
            else:
                continue
            _stop(conn, row.cart_id, "stopped", why, now=now)
            outbox.cancel_waiting(conn, f"not sent: {why}", now=now, kind=KIND, cart_id=row.cart_id)
            stopped.append((row.cart_id, why))
            done.add(row.cart_id)
    return stopped


def stop_for_address(conn: Connection, email: str, reason: str, *, now: datetime) -> list[int]:
    """An unsubscribe cancels every waiting marketing email to the address."""
    cancelled: list[int] = []
    for kind in (KIND, "review_request"):
        cancelled += outbox.cancel_waiting(conn, reason, now=now, kind=kind, recipient_email=email)
    return cancelled


# --- the series table -------------------------------------------------------------------------------------


def _series(row: Any) -> Series:
    return Series(
        row.cart_id, row.customer_id, row.cart_updated_at, row.status, row.steps_done, row.stop_reason
    )


def _load_series(conn: Connection, cart_ids: Sequence[int]) -> dict[int, Series]:
    found: dict[int, Series] = {}
    for start in range(0, len(cart_ids), 500):
        chunk = list(cart_ids[start : start + 500])
        for row in conn.execute(select(cart_series).where(cart_series.c.cart_id.in_(chunk))):
            found[row.cart_id] = _series(row)
    return found


def _open_series(conn: Connection) -> dict[int, Series]:
    rows = conn.execute(select(cart_series).where(cart_series.c.status == "open"))
    return {row.cart_id: _series(row) for row in rows}


def series_of(store: Store, cart_id: int) -> Series | None:
    """The cart's series as stored (for `bridge explain`, delivery's last check and tests)."""
    with store.read() as conn:
        row = conn.execute(select(cart_series).where(cart_series.c.cart_id == cart_id)).first()
    return _series(row) if row is not None else None


def _put_series(conn: Connection, s: Series, *, now: datetime) -> None:
    statement = upsert(conn, cart_series).values(
        cart_id=s.cart_id,
        customer_id=s.customer_id,
        cart_updated_at=s.cart_updated_at,
        status=s.status,
        steps_done=s.steps_done,
        stop_reason=s.stop_reason,
        updated_at=now,
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[cart_series.c.cart_id],
            set_={
                "customer_id": statement.excluded.customer_id,
                "cart_updated_at": statement.excluded.cart_updated_at,
                "status": statement.excluded.status,
                "steps_done": statement.excluded.steps_done,
                "stop_reason": statement.excluded.stop_reason,
                "updated_at": statement.excluded.updated_at,
            },
        )
    )


def _set_steps(conn: Connection, cart_id: int, steps_done: int, *, now: datetime) -> None:
    conn.execute(
        update(cart_series)
        .where(cart_series.c.cart_id == cart_id, cart_series.c.steps_done < steps_done)
        .values(steps_done=steps_done, updated_at=now)
    )


def _stop(conn: Connection, cart_id: int, status: str, reason: str, *, now: datetime) -> None:
    conn.execute(
        update(cart_series)
        .where(cart_series.c.cart_id == cart_id, cart_series.c.status == "open")
        .values(status=status, stop_reason=reason, updated_at=now)
    )
