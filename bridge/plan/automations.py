"""Which birthday and win-back emails are due: rows read and what the store says in, decisions out.

Pure: no I/O, no clock (`now` and the shop-local time are arguments). The rules, and why:

- **Birthday**: a customer whose `birthday` is today in the shop's time zone gets one greeting, keyed
  `birthday:<year>:customer:<id>` (once a year, whatever happens). Someone born on 29 February is greeted
  on 28 February in other years. The day is processed once, from BIRTHDAY_HOUR on; a day the bridge was
  down is not caught up the next day, and a greeting not sent by the end of its day expires: a late "happy
  birthday" with a code is worse than none. Like every first run, the day the setting is turned on is
  only the baseline (bridge.cycle.automations): greetings start the next day.
- **Win-back**: a customer whose last valid order was placed N days ago (WINBACK_AFTER_DAYS, whole
  shop-local days) and who has placed no order since (valid or not: a customer waiting to pay a bank wire
  came back already) gets one invitation, keyed by that order (`winback:customer:<id>:order:<id>`), so a
  customer who comes back and lapses again is invited again, never twice for one lapse. One more guard: no
  second win-back within N days of the last. The watch starts with a baseline (the day it was turned on is
  not processed: only customers who reach the mark after it count), and after downtime at most the last
  CATCH_UP_DAYS days are caught up.

Both are marketing: consent (MARKETING_CONSENT), a usable address, no unsubscribe and no suppression, or a
skip with the reason; the marketing gate checks consent again at send time. One email per address: each
guest checkout makes a new account, so one person may be several customers born on the same day or lapsed
on the same day; the registered account (else the newest guest) gets it, the others are skips naming why.
With a discount setting the email carries a `PersonalCodeRequest` (bridge.model.codes) that delivery turns
into a single-use code just before sending.
"""

from __future__ import annotations

from calendar import isleap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from bridge.model.automation_kinds import BIRTHDAY, WINBACK
from bridge.model.automations import Celebrant, Discount
from bridge.model.codes import PersonalCodeRequest
from bridge.model.profile import ShopProfile
from bridge.model.records import Customer, Order
from bridge.plan.addresses import customer_problem
from bridge.plan.consent import consent_basis, no_consent_reason
from bridge.plan.contexts import customer_context, instant
from bridge.plan.rules import Decision

CATCH_UP_DAYS: Final = 7  # win-back days caught up after downtime, at most
DUPLICATE: Final = "another account with the same address gets this email"
# A win-back not sent within this long is dropped: held up behind a full daily budget, it would reach the
# customer days after the lapse it answers. (Until then the marketing gate asks the shop whether the
# customer ordered since, and cancels it if so.)
WINBACK_EXPIRY: Final = timedelta(days=3)

# The code's readable prefix and the name the customer sees in the cart, per language (English otherwise).
_BIRTHDAY_CODE: Final = {"pl": ("URODZINY", "Prezent urodzinowy"), "en": ("BIRTHDAY", "Birthday gift")}
_WINBACK_CODE: Final = {"pl": ("WRACAJ", "Rabat na powrót"), "en": ("COMEBACK", "Welcome back discount")}


@dataclass(frozen=True)
class AutomationRules:
    """The owner's settings the rules read."""

    default_language: str = "pl"
    marketing_consent: frozenset[str] = frozenset({"newsletter", "optin"})
    birthday_discount: Discount | None = None
    birthday_discount_days: int = 14
    winback_days: int = 0  # WINBACK_AFTER_DAYS; 0: off
    winback_discount: Discount | None = None
    winback_discount_days: int = 14


@dataclass(frozen=True)
class Reach:
    """What the store says about the people of a pass."""

    blocked: Mapping[str, str] = field(default_factory=dict)  # address (lower case) → why not (unsubscribed…)
    last_winback: Mapping[int, datetime] = field(
        default_factory=dict
    )  # customer id → when the last was queued


# --- birthdays ------------------------------------------------------------------------------------------


def birthday_due(local_now: datetime, hour: int, last_day: date | None) -> date | None:
    """Today (shop-local), once BIRTHDAY_HOUR has come and today was not processed yet; else None. Only
    today: a day missed is not caught up."""
    today = local_now.date()
    if local_now.hour < hour or (last_day is not None and last_day >= today):
        return None
    return today


def birthday_suffixes(day: date) -> tuple[str, ...]:
    """What the shop's `birthday` field must end with to be greeted on `day`: 28 February of a common year
    also greets those born on 29 February."""
    suffixes = [f"-{day.month:02d}-{day.day:02d}"]
    if (day.month, day.day) == (2, 28) and not isleap(day.year):
        suffixes.append("-02-29")
    return tuple(suffixes)


def celebrates_on(birthday: date | None, day: date) -> bool:
    if birthday is None:
        return False
    if (birthday.month, birthday.day) == (2, 29) and not isleap(day.year):
        return (day.month, day.day) == (2, 28)
    return (birthday.month, birthday.day) == (day.month, day.day)


def birthday_key(day: date, customer_id: int) -> str:
    return f"{BIRTHDAY}:{day.year}:customer:{customer_id}"


def plan_birthdays(
    celebrants: Iterable[Celebrant],
    day: date,
    profile: ShopProfile,
    rules: AutomationRules,
    reach: Reach,
    *,
    now: datetime,
    day_ends: datetime,
) -> list[Decision]:
    """One greeting (or a skip with its reason) per customer born on `day`; an unknown birthday is no one's.
    A greeting not sent by `day_ends` (the next shop-local midnight) expires."""
    decisions: dict[int, Decision] = {}
    taken: set[str] = set()
    for person in sorted(celebrants, key=lambda p: _preferred(p.customer)):
        customer = person.customer
        if not celebrates_on(person.birthday, day) or customer.id in decisions:
            continue
        key = birthday_key(day, customer.id)
        language = _language(customer, profile, rules)
        why = _why_not(customer, rules, reach) or _taken(customer, taken)
        if why is not None:
            decisions[customer.id] = _skip(key, BIRTHDAY, customer, language, why)
            continue
        context: dict[str, Any] = {"customer": customer_context(customer)}
        if rules.birthday_discount is not None:
            prefix, name = _BIRTHDAY_CODE.get(language, _BIRTHDAY_CODE["en"])
            description = f"birthday {day.year}, customer #{customer.id} (prestashop-email-bridge)"
            context["personal_code"] = code_request(
                rules.birthday_discount, rules.birthday_discount_days, prefix, name, description
            )
        decisions[customer.id] = _email(key, BIRTHDAY, customer, language, context, rules, now, day_ends)
    return [decisions[customer_id] for customer_id in sorted(decisions)]


# --- win-back ---------------------------------------------------------------------------------------------


def winback_days_due(
    local_now: datetime, hour: int, last_day: date, *, limit: int = CATCH_UP_DAYS
) -> tuple[list[date], int]:
    """The days to process after `last_day` (today once WINBACK_HOUR has come), oldest first, at most the
    last `limit`; and how many older ones are left out."""
    upto = local_now.date() if local_now.hour >= hour else local_now.date() - timedelta(days=1)
    count = (upto - last_day).days
    if count <= 0:
        return [], 0
    kept = min(count, limit)
    return [upto - timedelta(days=back) for back in range(kept - 1, -1, -1)], count - kept


def lapsed(window: Iterable[Order], since: Iterable[Order]) -> dict[int, Order]:
    """Customer id → their last order of the window, for the customers who placed no order after it.
    `since` is every order of those customers from the window's start on (the window's own included)."""
    last: dict[int, Order] = {}
    for order in window:
        if order.id_customer > 0 and (order.id_customer not in last or order.id > last[order.id_customer].id):
            last[order.id_customer] = order
    for order in since:
        known = last.get(order.id_customer)
        if known is not None and order.id > known.id:
            del last[order.id_customer]
    return last


def winback_key(customer_id: int, order_id: int) -> str:
    return f"{WINBACK}:customer:{customer_id}:order:{order_id}"


def plan_winbacks(
    last_orders: Mapping[int, Order],
    customers: Mapping[int, Customer],
    profile: ShopProfile,
    rules: AutomationRules,
    reach: Reach,
    *,
    now: datetime,
) -> list[Decision]:
    """One invitation (or a skip with its reason) per lapsed customer (`lapsed`)."""
    decisions = []
    gap = timedelta(days=rules.winback_days)
    taken: set[str] = set()
    for customer_id, order in sorted(last_orders.items(), key=lambda item: _preferred_id(item[0], customers)):
        customer = customers.get(customer_id)
        key = winback_key(customer_id, order.id)
        language = _language(customer, profile, rules) if customer is not None else rules.default_language
        why = _why_not(customer, rules, reach, customer_id=customer_id)
        previous = reach.last_winback.get(customer_id)
        if why is None and previous is not None and previous > now - gap:
            why = f"a win-back went to this customer on {previous:%Y-%m-%d}, less than {gap.days} days ago"
        if why is None and customer is not None:
            why = _taken(customer, taken)
        if why is not None:
            decisions.append(
                _skip(key, WINBACK, customer, language, why, customer_id=customer_id, order=order)
            )
            continue
        assert customer is not None
        context: dict[str, Any] = {
            "customer": customer_context(customer),
            "last_order": {"date": instant(order.date_add)},
            "days": rules.winback_days,
        }
        if rules.winback_discount is not None:
            prefix, name = _WINBACK_CODE.get(language, _WINBACK_CODE["en"])
            description = (
                f"win-back, customer #{customer_id}, last order #{order.id} (prestashop-email-bridge)"
            )
            context["personal_code"] = code_request(
                rules.winback_discount, rules.winback_discount_days, prefix, name, description
            )
        email = _email(key, WINBACK, customer, language, context, rules, now, now + WINBACK_EXPIRY)
        decisions.append(_with_order(email, order))
    return sorted(decisions, key=lambda decision: decision.customer_id or 0)


# --- shared -------------------------------------------------------------------------------------------------


def code_request(
    discount: Discount, days: int, prefix: str, name: str, description: str
) -> PersonalCodeRequest:
    """What delivery creates in the shop just before the email goes (bridge.model.codes)."""
    amount = None if discount.amount is None else str(discount.amount.quantize(Decimal("0.01")))
    percent = None if discount.percent is None else format(discount.percent.normalize(), "f")
    return {
        "prefix": prefix,
        "percent": percent,
        "amount": amount,
        "valid_days": days,
        "minimum_amount": None,
        "free_shipping": False,
        "description": description,
        "name": name,
    }


def _preferred(customer: Customer) -> tuple[bool, int]:
    """Which of several accounts with one address gets its email: the registered one, else the newest
    guest (a guest checkout makes a new account each time; its latest has the latest language and name)."""
    return customer.is_guest, -customer.id


def _preferred_id(customer_id: int, customers: Mapping[int, Customer]) -> tuple[bool, int]:
    customer = customers.get(customer_id)
    return _preferred(customer) if customer is not None else (True, -customer_id)


def _taken(customer: Customer, taken: set[str]) -> str | None:
    """One email per address: the first account of `_preferred`'s order takes it, the others are told why."""
    address = customer.email.strip().lower()
    if address in taken:
        return DUPLICATE
    taken.add(address)
    return None


def _language(customer: Customer, profile: ShopProfile, rules: AutomationRules) -> str:
    return profile.language_iso(customer.id_lang) or rules.default_language


def _why_not(
    customer: Customer | None, rules: AutomationRules, reach: Reach, *, customer_id: int = 0
) -> str | None:
    """Why no marketing email may go to this customer (gone, disabled, no address, unsubscribed,
    suppressed, no consent), or None."""
    problem = customer_problem(customer, customer.id if customer else customer_id, marketing=True)
    if problem is not None or customer is None:
        return problem
    blocked = reach.blocked.get(customer.email.strip().lower())
    if blocked is not None:
        return blocked
    if consent_basis(customer, rules.marketing_consent) is None:
        return no_consent_reason(customer, rules.marketing_consent)
    return None


def _email(
    key: str,
    kind: str,
    customer: Customer,
    language: str,
    context: Mapping[str, Any],
    rules: AutomationRules,
    now: datetime,
    expires_at: datetime,
) -> Decision:
    return Decision(
        key=key,
        kind=kind,
        order_id=0,
        order_reference="",
        recipient_email=customer.email.strip(),
        recipient_name=f"{customer.firstname} {customer.lastname}".strip(),
        language=language,
        context=context,
        category="marketing",
        not_before=now,
        expires_at=expires_at,
        consent=consent_basis(customer, rules.marketing_consent),
        customer_id=customer.id,
    )


def _skip(
    key: str,
    kind: str,
    customer: Customer | None,
    language: str,
    why: str,
    *,
    customer_id: int = 0,
    order: Order | None = None,
) -> Decision:
    """The outbox row that says why the email was not sent (`bridge explain` shows it)."""
    skip = Decision(
        key=key,
        kind=kind,
        order_id=0,
        order_reference="",
        skip_reason=why,
        recipient_email=customer.email.strip() if customer is not None else "",
        recipient_name=f"{customer.firstname} {customer.lastname}".strip() if customer else None,
        language=language,
        category="marketing",
        customer_id=customer.id if customer is not None else (customer_id or None),
    )
    return _with_order(skip, order) if order is not None else skip


def _with_order(decision: Decision, order: Order) -> Decision:
    """A win-back names the order whose age it answers: `bridge explain order` shows it."""
    return replace(decision, order_id=order.id, order_reference=order.reference)


def customers_of(orders: Sequence[Order]) -> set[int]:
    return {order.id_customer for order in orders if order.id_customer > 0}
