"""A campaign's audience, planned: a batch of customers and what the store knows of them in, the emails to
queue and the customers left out (each with a reason) out.

Pure: no I/O, no clock (`now` is in the rules). The rules, and why:

- a customer gets the campaign when their shop record shows the consent the campaign's audience asks for
  (`newsletter`, `optin`, or either), stored with the email as its basis; the marketing gate checks again
  just before the email goes (bridge.delivery.marketing);
- left out, each counted under its reason for the owner's dry run: a disabled or deleted account, an
  address no server would take, no consent, a language or order filter, an address that unsubscribed or
  bounced (suppressed), an address another customer of the same campaign already has (guest checkouts
  and a later account often share one: one email per address);
- guests (accounts made at a guest checkout) are customers like the others: one who ticked the newsletter
  box agreed as much as one with an account;
- `ordered_within_days` / `not_ordered_within_days` count valid orders only (paid or otherwise validated:
  the shop's `valid` flag), by the order's date;
- one email per customer and campaign (`campaign:<name>:<customer id>`): running the campaign again sends
  nothing to anyone already queued or sent to, and a crash between two batches resumes without a
  duplicate;
- the text is the customer's language, else the shop's default language (said in the dry run); the email
  is then in the text's language, so the shop's own words (footer, code box) match the owner's.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any, Final

from bridge.model.campaign_kinds import CAMPAIGN
from bridge.model.codes import PersonalCode, PersonalCodeRequest
from bridge.model.records import Customer
from bridge.plan.addresses import address_problem
from bridge.plan.campaign_file import Campaign, Discount, Text, default_prefix
from bridge.plan.consent import consent_basis, no_consent_reason
from bridge.plan.contexts import customer_context
from bridge.plan.rules import Decision

# Why a customer was left out, as the dry run names it (the keys of `BatchPlan.left_out`).
INACTIVE: Final = "disabled or deleted in the shop"
INVALID: Final = "invalid email address"
NO_CONSENT: Final = "no consent to marketing mail"
LANGUAGE: Final = "another language (languages filter)"
ORDERED: Final = "no valid order within ordered_within_days"
NOT_ORDERED: Final = "a valid order within not_ordered_within_days"
UNSUBSCRIBED: Final = "unsubscribed"
SUPPRESSED: Final = "bounced or suppressed"
DUPLICATE: Final = "same address as another customer"
REASONS: Final = (INACTIVE, INVALID, NO_CONSENT, LANGUAGE, ORDERED, NOT_ORDERED, UNSUBSCRIBED, SUPPRESSED)
REASONS_ALL: Final = (*REASONS, DUPLICATE)


AUDIENCE_KEY: Final = "audience"  # the consent fields the campaign asked for, kept with each email


def audience_lost(context: Mapping[str, Any], customer: Customer) -> str | None:
    """Why a queued campaign email may not go any more: the customer withdrew the consent its audience
    asked for (another box still ticked is not the consent they were chosen by); None while it holds."""
    fields = context.get(AUDIENCE_KEY)
    if not isinstance(fields, list) or consent_basis(customer, fields) is not None:
        return None
    return no_consent_reason(customer, fields) + f"; the campaign's audience is {' or '.join(fields)}"


def campaign_key(name: str, customer_id: int) -> str:
    return f"{CAMPAIGN}:{name}:{customer_id}"


def campaign_prefix(name: str) -> str:
    """The start of every key of the campaign's emails."""
    return f"{CAMPAIGN}:{name}:"


@dataclass(frozen=True)
class Rules:
    """What the campaign's emails depend on beyond the file: the shop's languages and currency, and now."""

    languages: Mapping[int, str]  # id_lang → ISO code
    default_language: str
    currency: str  # the shop's default currency (ISO), for amounts
    zone: tzinfo  # the shop's time zone: a shared code's last day ends at its midnight
    now: datetime


@dataclass(frozen=True)
class Memory:
    """What the store knows of a batch's customers (normalised addresses)."""

    unsubscribed: frozenset[str] = frozenset()
    suppressed: frozenset[str] = frozenset()
    queued_keys: frozenset[str] = frozenset()  # this campaign's keys already in the outbox
    taken: Mapping[str, int] = field(default_factory=dict)  # address → the customer it went (or goes) to


@dataclass
class BatchPlan:
    """One batch, planned: the emails to queue, who was left out and why, who had theirs already."""

    decisions: list[Decision] = field(default_factory=list)
    left_out: Counter[str] = field(default_factory=Counter)
    already: int = 0
    languages: Counter[str] = field(default_factory=Counter)  # recipients by the text's language
    fallbacks: Counter[str] = field(default_factory=Counter)  # customers' language → given the default's
    taken: dict[str, int] = field(default_factory=dict)  # the addresses this batch's emails go to


def language_of(customer: Customer, rules: Rules) -> str:
    return rules.languages.get(customer.id_lang, rules.default_language)


def screen(customer: Customer, campaign: Campaign, rules: Rules) -> str | None:
    """Why the customer is left out before the store or their orders are asked, or None."""
    if customer.deleted or not customer.active:
        return INACTIVE
    if address_problem(customer.email) is not None:
        return INVALID
    if consent_basis(customer, campaign.consent_fields) is None:
        return NO_CONSENT
    if campaign.languages and language_of(customer, rules) not in campaign.languages:
        return LANGUAGE
    return None


def candidates(customers: Iterable[Customer], campaign: Campaign, rules: Rules) -> list[Customer]:
    """The customers worth asking the store and the shop's orders about."""
    return [c for c in customers if screen(c, campaign, rules) is None]


def order_window_start(campaign: Campaign, now: datetime) -> datetime | None:
    """The oldest order date the filters look at (None: no order is read)."""
    days = [d for d in (campaign.ordered_within_days, campaign.not_ordered_within_days) if d is not None]
    return now - timedelta(days=max(days)) if days else None


def order_reason(last_order: datetime | None, campaign: Campaign, now: datetime) -> str | None:
    """`last_order`: the customer's latest valid order inside the window (None: none)."""
    within = campaign.ordered_within_days
    if within is not None and (last_order is None or last_order < now - timedelta(days=within)):
        return ORDERED
    without = campaign.not_ordered_within_days
    if without is not None and last_order is not None and last_order >= now - timedelta(days=without):
        return NOT_ORDERED
    return None


def plan_batch(
    customers: Sequence[Customer],
    campaign: Campaign,
    rules: Rules,
    memory: Memory,
    last_orders: Mapping[int, datetime],
) -> BatchPlan:
    """One email per customer the campaign reaches, and a reason for each one it does not."""
    plan = BatchPlan()
    taken = dict(memory.taken)
    for customer in customers:
        address = customer.email.strip().lower()
        reason = screen(customer, campaign, rules)
        if reason is None and address in memory.unsubscribed:
            reason = UNSUBSCRIBED
        elif reason is None and address in memory.suppressed:
            reason = SUPPRESSED
        elif reason is None and campaign.reads_orders:
            reason = order_reason(last_orders.get(customer.id), campaign, rules.now)
        key = campaign_key(campaign.name, customer.id)
        if reason is None and key in memory.queued_keys:
            plan.already += 1
            continue
        if reason is None and taken.get(address, customer.id) != customer.id:
            reason = DUPLICATE
        if reason is not None:
            plan.left_out[reason] += 1
            continue
        taken[address] = plan.taken[address] = customer.id
        plan.decisions.append(_decision(customer, campaign, rules, plan))
    return plan


def _decision(customer: Customer, campaign: Campaign, rules: Rules, plan: BatchPlan) -> Decision:
    read = language_of(customer, rules)
    language, text = campaign.text_for(read, rules.default_language)
    plan.languages[language] += 1
    if language != read:
        plan.fallbacks[read] += 1
    expires = None
    context: dict[str, Any] = {
        "customer": customer_context(customer),
        "campaign": {"name": campaign.name, "subject": text.subject, "body": text.body},
        AUDIENCE_KEY: list(campaign.consent_fields),
    }
    if campaign.discount is not None and campaign.discount.single_use:
        context["personal_code"] = code_request(campaign, campaign.discount, text)
    elif campaign.discount is not None:
        shared = shared_code(campaign.discount, rules)
        context["code"] = shared
        expires = datetime.fromisoformat(shared["valid_until"]) if shared["valid_until"] else None
    return Decision(
        campaign_key(campaign.name, customer.id),
        CAMPAIGN,
        0,
        "",
        recipient_email=customer.email,
        recipient_name=f"{customer.firstname} {customer.lastname}".strip(),
        language=language,
        context=context,
        category="marketing",
        not_before=rules.now,
        consent=consent_basis(customer, campaign.consent_fields),
        customer_id=customer.id,
        expires_at=expires,
    )


def _amount(value: Any) -> str | None:
    return None if value is None else f"{value:f}"


def code_request(campaign: Campaign, discount: Discount, text: Text) -> PersonalCodeRequest:
    """What the personal code created just before the email goes must be (bridge.model.codes)."""
    return {
        "prefix": discount.prefix or default_prefix(campaign.name),
        "percent": _amount(discount.percent),
        "amount": _amount(discount.amount),
        "valid_days": discount.valid_days or 1,
        "minimum_amount": _amount(discount.minimum_amount),
        "free_shipping": discount.free_shipping,
        "description": f"campaign {campaign.name}",
        "name": text.code_name or campaign.name,
    }


def shared_code(discount: Discount, rules: Rules) -> PersonalCode:
    """The shared code as the templates read a code; it stops at the end of its last day (shop time), or
    `valid_days` after queueing, or never (valid_until "")."""
    until = ""
    if discount.valid_until is not None:
        end = datetime.combine(discount.valid_until, time(23, 59, 59), tzinfo=rules.zone)
        until = end.astimezone(UTC).isoformat()
    elif discount.valid_days is not None:
        until = (rules.now + timedelta(days=discount.valid_days)).astimezone(UTC).isoformat()
    return {
        "code": discount.code,
        "percent": _amount(discount.percent),
        "amount": _amount(discount.amount),
        "currency": rules.currency,
        "minimum_amount": _amount(discount.minimum_amount),
        "free_shipping": discount.free_shipping,
        "valid_until": until,
    }


def missing_sections(campaign: Campaign, shop_languages: Iterable[str], default: str) -> list[str]:
    """The shop's languages whose customers would get no text (neither theirs nor the default's)."""
    if default in campaign.texts:
        return []
    wanted = campaign.languages or tuple(shop_languages)
    return [iso for iso in wanted if iso not in campaign.texts]


def days_needed(count: int, ahead: int, room_today: int, per_day: int) -> int:
    """Days until `count` campaign emails are sent, behind `ahead` emails claimed first, with
    `room_today` sends left in the marketing share now and `per_day` a day after (0: nothing to send)."""
    if count <= 0:
        return 0
    total = ahead + count
    if total <= room_today:
        return 1
    return 1 + math.ceil((total - max(0, room_today)) / max(1, per_day))
