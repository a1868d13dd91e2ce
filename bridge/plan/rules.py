"""Which emails the changes call for: changes and facts in, decisions (send or skip, with a reason) out.

Pure: no I/O, no clock. Every decision carries the idempotency key naming the shop event it answers
(`order_confirmation:order:1042`, `status:history:5531`, …), so deciding twice enqueues once.

The rules, and why:
- a new order gets one order confirmation (PrestaShop's `order_conf`);
- each order_histories row gets the email of its new state, one per row even for a repeated state, as
  PrestaShop does; the state the order was placed in sends its email only when it carries something the
  confirmation does not (bank details, cheque address, backorder, payment error);
- a payment typed in the back office on an order that is not in a paid state gets a payment
  confirmation; a later "Payment accepted" for that order is then skipped (the customer already knows);
- a tracking number that arrives after the shipped email went out gets its own email; one that is
  there in time rides in the shipped email;
- with marketing mail on, an order marked delivered gets one review request REVIEW_REQUEST_DAYS later;
  one marked shipped gets it REVIEW_REQUEST_FALLBACK_DAYS after shipping unless delivery comes first (the
  same key: the delivery moves the queued request). It needs the customer's consent like any marketing
  mail. docs/shop-facts.md §7.4: "Processing in progress" already has the `delivery` flag, so the Delivered
  state (PS_OS_DELIVERED, or any state the owner maps to `delivered`) is what "delivered" means here;
- one refund, one email: the Refunded state's email is skipped when a credit slip's email was queued or
  sent for the order (bridge.plan.service says why the slip wins); a cancelled email says whether money
  was paid and how it comes back (bridge.plan.refunds);
- an order email whose shop event is older than MAX_EMAIL_AGE is held for the owner instead of sent
  (bridge.plan.age says why and how the event's time is found).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from bridge.model.profile import ShopProfile
from bridge.plan.addresses import customer_problem
from bridge.plan.age import HELD_PREFIX, hold_reason, late_reason
from bridge.plan.consent import consent_basis, no_consent_reason
from bridge.plan.contexts import (
    OrderFacts,
    bank_context,
    cheque_context,
    confirmation_context,
    customer_context,
    order_summary,
    payment_context,
    shipment_context,
    status_context,
)
from bridge.plan.detect import Change, NewOrder, PaymentAdded, StateChanged, TrackingChanged
from bridge.plan.refunds import cancelled_refund

# Initial-state emails worth sending next to the order confirmation.
INITIAL_STATE_KINDS = frozenset(
    {"awaiting_bank_wire", "awaiting_cheque", "backorder", "payment_error", "cancelled"}
)
# Orders placed in these states get no confirmation (PaymentModule::validateOrder does the same).
NO_CONFIRMATION_KINDS = frozenset({"payment_error", "cancelled"})


@dataclass(frozen=True)
class Decision:
    """Send `kind` to the order's customer, or record why not (`skip_reason`)."""

    key: str
    kind: str
    order_id: int
    order_reference: str
    skip_reason: str | None = None
    recipient_email: str = ""
    recipient_name: str | None = ""  # None: nobody to name (a skipped reminder of a vanished customer)
    language: str = ""
    context: Mapping[str, Any] = field(default_factory=dict)
    category: Literal["transactional", "marketing"] = "transactional"
    not_before: datetime | None = None  # None: at once
    consent: str | None = None  # marketing: the basis
    customer_id: int | None = None
    reschedule: bool = False  # already queued under this key: move it to `not_before`
    cart_id: int | None = None  # a cart reminder's cart
    expires_at: datetime | None = None  # not sent after this (a cart reminder's window)
    held: str | None = None  # why it waits for the owner's release (its event is older than MAX_EMAIL_AGE)

    @property
    def sends(self) -> bool:
        return self.skip_reason is None


@dataclass(frozen=True)
class RuleSettings:
    default_language: str = "pl"
    bank: Mapping[str, str] = field(
        default_factory=dict
    )  # BANK_* settings: owner, iban, bic, bank_name, address
    review_days: int = 0  # 0: no review requests (marketing mail off, or REVIEW_REQUEST_DAYS=0)
    review_fallback_days: int = 0
    marketing_consent: frozenset[str] = frozenset({"newsletter", "optin"})
    max_email_age: timedelta = timedelta(0)  # 0: no age guard (MAX_EMAIL_AGE=0, or a `sync --since`)
    refund_days: int = 14  # REFUND_DAYS: what the cancelled email promises
    refund_note: str = ""  # REFUND_NOTE


def decide(
    changes: Iterable[Change],
    *,
    facts: Mapping[int, OrderFacts],
    profile: ShopProfile,
    settings: RuleSettings,
    already_sent: Mapping[int, frozenset[str]],
    now: datetime | None = None,
) -> list[Decision]:
    """Decisions for `changes`, in their order. `already_sent` maps order ids to the kinds already
    queued, held or sent for them in earlier polls (skipped and cancelled emails excluded). With `now`,
    the age guard holds order emails whose event is older than `settings.max_email_age`."""
    sent: dict[int, set[str]] = {order_id: set(kinds) for order_id, kinds in already_sent.items()}
    shipped_with: dict[int, str] = {}  # tracking numbers already carried by a shipped email of this batch
    decisions: list[Decision] = []
    for change in changes:
        if (
            isinstance(change, TrackingChanged)
            and shipped_with.get(change.order_id) == change.tracking_number
        ):
            continue
        decision = _decide_one(change, facts, profile, settings, sent)
        if decision is None:
            continue
        if now is not None and decision.sends and decision.category == "transactional":
            held = hold_reason(
                change,
                facts,
                now=now,
                limit=settings.max_email_age,
                held_kinds=sent.get(decision.order_id, set()),
            )
            decision = _replace(decision, held=held) if held else decision
        decisions.append(decision)
        if isinstance(change, StateChanged) and decision.kind in ("delivered", "shipped"):
            review = _review_request(change, decision.kind, facts, profile, settings)
            if review is not None and review.sends and now is not None:
                late = late_reason(review.not_before, now=now, limit=settings.max_email_age)
                review = _replace(review, held=late) if late else review
            if review is not None:
                decisions.append(review)
        if decision.sends:
            sent.setdefault(decision.order_id, set()).add(decision.kind)
            if decision.key.startswith("status:"):
                sent[decision.order_id].add(f"status:{decision.kind}")
            if decision.held:
                sent[decision.order_id].add(f"{HELD_PREFIX}{decision.kind}")
            if decision.kind in ("shipped", "tracking_added"):
                shipped_with[decision.order_id] = decision.context["shipment"]["tracking_number"]
    return decisions


def _decide_one(
    change: Change,
    facts: Mapping[int, OrderFacts],
    profile: ShopProfile,
    settings: RuleSettings,
    sent: Mapping[int, set[str]],
) -> Decision | None:
    match change:
        case NewOrder():
            return _on_new_order(change, facts, profile, settings)
        case StateChanged():
            return _on_state_changed(change, facts, profile, settings, sent)
        case PaymentAdded():
            return _on_payment(change, facts, profile, settings, sent)
        case TrackingChanged():
            return _on_tracking(change, facts, profile, settings, sent)


def _on_new_order(
    change: NewOrder, facts: Mapping[int, OrderFacts], profile: ShopProfile, settings: RuleSettings
) -> Decision:
    order = change.order
    key = f"order_confirmation:order:{order.id}"
    placed_in = profile.kind_for_state(change.initial_state) if change.initial_state is not None else None
    if placed_in in NO_CONFIRMATION_KINDS:
        # As PrestaShop: an order placed straight into "payment error" or "cancelled" gets that state's
        # email, not the confirmation of an order that did not happen.
        why = f"the order was placed in a failed state ({placed_in}): no confirmation"
        return Decision(key, "order_confirmation", order.id, order.reference, skip_reason=why)
    return _for_order(key, "order_confirmation", facts.get(order.id), profile, settings, _confirmation)


def _on_state_changed(
    change: StateChanged,
    facts: Mapping[int, OrderFacts],
    profile: ShopProfile,
    settings: RuleSettings,
    sent: Mapping[int, set[str]],
) -> Decision:
    history = change.history
    key = f"status:history:{history.id}"
    kind = profile.kind_for_state(history.id_order_state)
    order_facts = facts.get(history.id_order)
    reference = order_facts.order.reference if order_facts else ""
    if kind is None:
        state = profile.states.get(history.id_order_state)
        name = state.name.get(None) if state else f"#{history.id_order_state}"
        why = f"the state '{name}' (id {history.id_order_state}) has no customer email"
        return Decision(key, "status", history.id_order, reference, skip_reason=why)
    if change.initial and kind not in INITIAL_STATE_KINDS:
        why = "covered by the order confirmation"
        return Decision(key, kind, history.id_order, reference, skip_reason=why)
    if kind == "payment_accepted" and "payment_accepted" in sent.get(history.id_order, set()):
        why = "the customer already got a payment confirmation"
        return Decision(key, kind, history.id_order, reference, skip_reason=why)
    if kind == "refunded" and "credit_slip" in sent.get(history.id_order, set()):
        why = "the credit slip's email told the customer about this refund"
        return Decision(key, kind, history.id_order, reference, skip_reason=why)
    return _for_order(key, kind, order_facts, profile, settings, _status)


def _on_payment(
    change: PaymentAdded,
    facts: Mapping[int, OrderFacts],
    profile: ShopProfile,
    settings: RuleSettings,
    sent: Mapping[int, set[str]],
) -> Decision | None:
    payment, order_id = change.payment, change.order_id
    key = f"payment:payment:{payment.id}"
    order_facts = facts.get(order_id)
    if order_facts is None:
        return None
    state = profile.states.get(order_facts.order.current_state)
    if state is not None and state.paid:
        # The move to a paid state made this payment (or will be confirmed by its own email).
        return None
    if "status:payment_accepted" in sent.get(order_id, set()):
        # Marked paid (with its own email) since this poll read the order: told once is enough.
        why = "the customer already got a payment confirmation"
        return Decision(key, "payment_accepted", order_id, order_facts.order.reference, skip_reason=why)

    def context(f: OrderFacts, p: ShopProfile, s: RuleSettings, k: str) -> dict[str, Any]:
        return {**status_context(f, p.front_url), "payment": _payment(f, p, payment.id)}

    return _for_order(key, "payment_accepted", order_facts, profile, settings, context)


def _on_tracking(
    change: TrackingChanged,
    facts: Mapping[int, OrderFacts],
    profile: ShopProfile,
    settings: RuleSettings,
    sent: Mapping[int, set[str]],
) -> Decision | None:
    order_facts = facts.get(change.order_id)
    if order_facts is None or profile.kind_for_state(order_facts.order.current_state) != "shipped":
        return None  # not shipped yet: the shipped email will carry the number
    if "shipped" not in sent.get(change.order_id, set()):
        return None
    key = f"tracking:order:{change.order_id}:{change.tracking_number}"
    return _for_order(key, "tracking_added", order_facts, profile, settings, _status)


def _payment(facts: OrderFacts, profile: ShopProfile, payment_id: int | None) -> dict[str, Any]:
    currencies = {currency.id: currency.iso_code for currency in profile.currencies.values()}
    chosen = next((p for p in facts.payments if p.id == payment_id), None)
    return payment_context(facts, chosen, currencies)


def _confirmation(
    facts: OrderFacts, profile: ShopProfile, settings: RuleSettings, kind: str
) -> dict[str, Any]:
    state = profile.states.get(facts.order.current_state)
    paid = bool(state and state.paid) or facts.order.total_paid_real >= facts.order.total_paid_tax_incl > 0
    return confirmation_context(facts, profile.front_url, paid=paid)


def _status(facts: OrderFacts, profile: ShopProfile, settings: RuleSettings, kind: str) -> dict[str, Any]:
    context = status_context(facts, profile.front_url)
    if kind == "awaiting_bank_wire":
        bank = bank_context(profile.configuration, settings.bank)
        if bank is None:
            raise _Skip(
                "no bank details: set BANK_ACCOUNT_OWNER and BANK_ACCOUNT_NUMBER "
                "(or fill in the shop's wire payment module)"
            )
        context["bank"] = bank
    elif kind == "awaiting_cheque":
        cheque = cheque_context(profile.configuration)
        if cheque is None:
            raise _Skip("no cheque payee: configure the cheque payment module (CHEQUE_NAME)")
        context["cheque"] = cheque
    elif kind == "payment_accepted":
        context["payment"] = _payment(facts, profile, None)
    elif kind in ("shipped", "tracking_added"):
        context["shipment"] = shipment_context(facts, profile.identity.name)
    elif kind == "refunded":
        context["refund"] = {"amount": None}
    elif kind == "cancelled":
        days, note = settings.refund_days, settings.refund_note
        context["refund"] = cancelled_refund(facts.order, facts.currency, days=days, note=note)
    return context


class _Skip(Exception):
    """A rule decided this email cannot be written; the message is the reason the owner reads."""


def _for_order(
    key: str,
    kind: str,
    facts: OrderFacts | None,
    profile: ShopProfile,
    settings: RuleSettings,
    build: Any,
) -> Decision:
    if facts is None:
        return Decision(key, kind, 0, "", skip_reason="the order could not be read from the shop")
    order = facts.order
    reason = _cannot_write(facts)
    if reason is None:
        try:
            context = build(facts, profile, settings, kind)
        except _Skip as skip:
            reason = str(skip)
    if reason is not None:
        return Decision(key, kind, order.id, order.reference, skip_reason=reason)
    customer = facts.customer
    assert customer is not None
    language = profile.language_iso(facts.language_id) or settings.default_language
    return Decision(
        key,
        kind,
        order.id,
        order.reference,
        recipient_email=customer.email.strip(),
        recipient_name=f"{customer.firstname} {customer.lastname}".strip(),
        language=language,
        context=context,
    )


def _cannot_write(facts: OrderFacts) -> str | None:
    """Why an email about this order cannot be sent, or None."""
    problem = customer_problem(facts.customer, facts.order.id_customer)
    if problem is not None:
        return problem
    if not facts.order.rows:
        return "the order has no products"
    if not facts.currency:
        return f"the order's currency (#{facts.order.id_currency}) is unknown to the shop"
    return None


REVIEW_KEY = "review_request:order:{order_id}"


def review_key(order_id: int) -> str:
    return REVIEW_KEY.format(order_id=order_id)


def _review_request(
    change: StateChanged,
    kind: str,
    facts: Mapping[int, OrderFacts],
    profile: ShopProfile,
    settings: RuleSettings,
) -> Decision | None:
    """The review request an order's delivery (or, failing that, its shipping) calls for."""
    days = settings.review_days if kind == "delivered" else settings.review_fallback_days
    if settings.review_days <= 0 or days <= 0:
        return None
    history = change.history
    order_facts = facts.get(history.id_order)
    if order_facts is None:
        return None
    when = history.date_add or order_facts.order.date_upd
    if when is None:
        return None
    key = review_key(history.id_order)
    order = order_facts.order
    base = Decision(
        key,
        "review_request",
        order.id,
        order.reference,
        category="marketing",
        not_before=when + timedelta(days=days),
        customer_id=order.id_customer or None,
        reschedule=kind == "delivered",
    )
    reason = _cannot_write(order_facts) or customer_problem(
        order_facts.customer, order.id_customer, marketing=True
    )
    customer = order_facts.customer
    if reason is not None:
        return _replace(base, skip_reason=reason)
    assert customer is not None
    basis = consent_basis(customer, settings.marketing_consent)
    if basis is None:
        return _replace(base, skip_reason=no_consent_reason(customer, settings.marketing_consent))
    return _replace(
        base,
        recipient_email=customer.email.strip(),
        recipient_name=f"{customer.firstname} {customer.lastname}".strip(),
        language=profile.language_iso(order_facts.language_id) or settings.default_language,
        context={
            "customer": customer_context(customer),
            "order": order_summary(order_facts, profile.front_url),
            "products": _review_products(order_facts, profile.front_url),
        },
        consent=basis,
    )


def _review_products(facts: OrderFacts, front_url: str) -> list[dict[str, str]]:
    """Each product of the order once, with its page and picture: what the customer is asked to review."""
    front = front_url.rstrip("/")
    products: list[dict[str, str]] = []
    seen: set[int] = set()
    for row in facts.order.rows:
        if row.product_id in seen:
            continue
        seen.add(row.product_id)
        url = (
            f"{front}/index.php?controller=product&id_product={row.product_id}"
            if front and row.product_id
            else ""
        )
        products.append({"name": row.name, "url": url, "image_url": facts.images.get(row.product_id, "")})
    return products


def _replace(decision: Decision, **changes: Any) -> Decision:
    return dataclasses.replace(decision, **changes)
