"""Customer-service emails, planned: credit slips and customers' conversations in, decisions out.

Pure: no I/O, no clock (`now` is an argument). The rules, and why:

- each new credit slip gets one email (`credit_slip:slip:<id>`): the amount refunded (products and
  shipping, tax included, in the order's currency), the lines and quantities, and how and when the money
  comes back (bridge.plan.refunds);
- one refund, one email. A Refunded state and a credit slip often describe the same refund (the merchant
  makes the slip, then marks the order Refunded, seconds apart), so whichever of the two the bridge queues
  first for an order wins: the Refunded state's email is skipped when a slip email is queued or sent for
  the order (bridge.plan.rules), and a slip is skipped when the order's Refunded email is. The slip pass
  runs before the order pass, so when both are seen in one poll the slip (which has the amounts) wins.
  A skipped email never counts: with credit_slip turned off, the Refunded email still goes;
- a new message from the staff (id_employee > 0) gets one reply email to the thread's address: the answer,
  the customer's last message before it quoted, the order's reference, and a link back into the
  conversation (the contact page with the thread's id and token, as PrestaShop's own reply_msg email);
  an internal note (private) is never sent, and is recorded as skipped so `bridge explain` can say so;
- a customer's message gets an acknowledgement (PrestaShop's contact_form email) unless: it is the
  checkout comment that opened an order's thread (the order confirmation shows it), the shop started the
  conversation, or the customer's own previous message in the thread came less than ACK_QUIET before it
  (anti-flood: one acknowledgement for a burst);
- an event older than MAX_EMAIL_AGE is held for the owner, like an order email;
- every key names the thread as well as the message (`message_reply:thread:12:message:40`), so
  `bridge explain thread 12` finds them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import urlencode

from bridge.model.kinds import CREDIT_SLIP, MESSAGE_RECEIVED, MESSAGE_REPLY, REFUNDED
from bridge.model.profile import ShopProfile
from bridge.model.slips import CreditSlip
from bridge.model.threads import CustomerMessage, CustomerThread
from bridge.plan.addresses import address_problem, customer_problem
from bridge.plan.age import age_text, limit_text
from bridge.plan.contexts import OrderFacts, customer_context, instant, money, order_summary
from bridge.plan.refunds import money_back
from bridge.plan.rules import Decision

# A customer's message less than this after their previous one in the same thread gets no acknowledgement.
ACK_QUIET: Final = timedelta(minutes=10)


@dataclass(frozen=True)
class ServiceRules:
    """The owner's settings these rules read (SERVICE_EMAILS, REFUND_*, REPLY_TIME_HOURS, MAX_EMAIL_AGE)."""

    emails: frozenset[str]
    default_language: str = "pl"
    refund_days: int = 14
    refund_note: str = ""
    reply_hours: int = 24
    max_email_age: timedelta = timedelta(0)  # 0: nothing is held for its age


@dataclass(frozen=True)
class Conversation:
    """A thread with every message of it (oldest first) and what the emails show beyond them."""

    thread: CustomerThread
    messages: tuple[CustomerMessage, ...]
    first_name: str = ""  # of the customer's account; "" for someone without one
    last_name: str = ""
    order_reference: str = ""
    token: str = ""  # the thread's token, for the link back into it; "" when unknown


def slip_key(slip_id: int) -> str:
    return f"credit_slip:slip:{slip_id}"


def message_key(kind: str, thread_id: int, message_id: int) -> str:
    return f"{kind}:thread:{thread_id}:message:{message_id}"


def plan_slips(
    slips: Sequence[CreditSlip],
    facts: Mapping[int, OrderFacts],
    profile: ShopProfile,
    rules: ServiceRules,
    already_sent: Mapping[int, frozenset[str]],
    *,
    now: datetime,
) -> list[Decision]:
    """One email per credit slip, or a skip saying why not."""
    decisions = []
    sent = {order_id: set(kinds) for order_id, kinds in already_sent.items()}
    for slip in sorted(slips, key=lambda s: s.id):
        decision = _slip_decision(
            slip, facts.get(slip.id_order), profile, rules, sent.get(slip.id_order, set())
        )
        if decision.sends:
            decision = _held(decision, slip.date_add, now=now, limit=rules.max_email_age)
            sent.setdefault(slip.id_order, set()).add(CREDIT_SLIP)
        decisions.append(decision)
    return decisions


def _slip_decision(
    slip: CreditSlip, facts: OrderFacts | None, profile: ShopProfile, rules: ServiceRules, sent: set[str]
) -> Decision:
    key = slip_key(slip.id)
    reference = facts.order.reference if facts is not None else ""
    why = None
    if CREDIT_SLIP not in rules.emails:
        why = "SERVICE_EMAILS leaves credit_slip out"
    elif facts is None:
        why = f"order #{slip.id_order} of the credit slip could not be read from the shop"
    elif REFUNDED in sent:
        why = "the customer was told about this refund by the order's Refunded email"
    elif (problem := customer_problem(facts.customer, facts.order.id_customer)) is not None:
        why = problem
    elif not facts.currency:
        why = f"the order's currency (#{facts.order.id_currency}) is unknown to the shop"
    if why is not None or facts is None or facts.customer is None:
        return Decision(key, CREDIT_SLIP, slip.id_order, reference, skip_reason=why or "no customer")
    customer = facts.customer
    return Decision(
        key,
        CREDIT_SLIP,
        slip.id_order,
        reference,
        recipient_email=customer.email.strip(),
        recipient_name=f"{customer.firstname} {customer.lastname}".strip(),
        language=profile.language_iso(facts.language_id) or rules.default_language,
        context=slip_context(slip, facts, profile, rules),
        customer_id=customer.id,
    )


def slip_context(
    slip: CreditSlip, facts: OrderFacts, profile: ShopProfile, rules: ServiceRules
) -> dict[str, Any]:
    """The credit_slip context (bridge.model.service_kinds.CreditSlipContext)."""
    assert facts.customer is not None
    names = {row.id: row.name for row in facts.order.rows}
    currency = facts.currency
    lines = [
        {
            "name": names.get(d.id_order_detail, f"#{d.id_order_detail}"),
            "quantity": d.quantity,
            "amount": money(d.amount_tax_incl, currency),
        }
        for d in slip.details
        if d.quantity > 0 or d.amount_tax_incl > 0
    ]
    shipping = slip.total_shipping_tax_incl
    return {
        "customer": customer_context(facts.customer),
        "order": order_summary(facts, profile.front_url),
        "slip": {
            "number": slip.id,
            "date": instant(slip.date_add),
            "lines": lines,
            "products": money(slip.total_products_tax_incl, currency),
            "shipping": money(shipping, currency) if shipping > 0 else None,
            "total": money(slip.total, currency),
        },
        "money_back": money_back(facts.order, days=rules.refund_days, note=rules.refund_note),
    }


def contact_url(front_url: str, thread_id: int = 0, token: str = "") -> str:
    """The shop's contact page; with the thread's id and token it opens that conversation (PrestaShop's
    reply_msg link: AdminCustomerThreadsController, read by the contactform module)."""
    base = front_url.rstrip("/")
    if not base:
        return ""
    if thread_id and token:
        return f"{base}/index.php?" + urlencode(
            {"controller": "contact", "id_customer_thread": thread_id, "token": token}
        )
    return f"{base}/index.php?controller=contact"


def plan_messages(
    new: Sequence[CustomerMessage],
    conversations: Mapping[int, Conversation],
    profile: ShopProfile,
    rules: ServiceRules,
    *,
    now: datetime,
) -> list[Decision]:
    """A reply email per new staff answer, an acknowledgement per new customer message that opens an
    exchange; a skip, with its reason, for everything else."""
    decisions = []
    for message in sorted(new, key=lambda m: m.id):
        conversation = conversations.get(message.id_customer_thread)
        decision = _message_decision(message, conversation, profile, rules)
        if decision is None:
            continue
        if decision.sends:
            decision = _held(decision, message.date_add, now=now, limit=rules.max_email_age)
        decisions.append(decision)
    return decisions


def _message_decision(
    message: CustomerMessage, conversation: Conversation | None, profile: ShopProfile, rules: ServiceRules
) -> Decision | None:
    kind = MESSAGE_REPLY if message.id_employee > 0 else MESSAGE_RECEIVED
    thread_id = message.id_customer_thread
    key = message_key(kind, thread_id, message.id)
    order_id = conversation.thread.id_order if conversation is not None else 0
    reference = conversation.order_reference if conversation is not None else ""

    def skip(why: str) -> Decision:
        return Decision(key, kind, order_id, reference, skip_reason=why)

    if message.private:
        return skip("an internal note of the staff (private): never sent to the customer")
    if kind not in rules.emails:
        return skip(f"SERVICE_EMAILS leaves {kind} out")
    if conversation is None:
        return skip(f"thread #{thread_id} could not be read from the shop")
    why = (
        _reply_problem(message, conversation)
        if kind == MESSAGE_REPLY
        else _ack_problem(message, conversation)
    )
    if why is None and (problem := address_problem(conversation.thread.email)) is not None:
        why = f"the conversation has no valid email address ({problem})"
    if why is not None:
        return skip(why)
    context = _message_context(kind, message, conversation, profile, rules)
    thread = conversation.thread
    return Decision(
        key,
        kind,
        order_id,
        reference,
        recipient_email=thread.email.strip(),
        recipient_name=f"{conversation.first_name} {conversation.last_name}".strip(),
        language=profile.language_iso(thread.id_lang) or rules.default_language,
        context=context,
        customer_id=thread.id_customer or None,
    )


def _reply_problem(message: CustomerMessage, conversation: Conversation) -> str | None:
    if not message.message.strip():
        return "the answer is empty"
    return None


def _ack_problem(message: CustomerMessage, conversation: Conversation) -> str | None:
    """Why this customer message gets no acknowledgement, or None."""
    shown = [m for m in conversation.messages if not m.private]
    first = shown[0] if shown else None
    if first is not None and first.id_employee > 0:
        return "the shop started this conversation: nothing to acknowledge"
    if first is not None and first.id == message.id and conversation.thread.id_contact == 0:
        return "a checkout comment: the order confirmation shows it"
    before = [m for m in shown if m.id < message.id]
    if before and before[-1].from_customer and _within(before[-1].date_add, message.date_add, ACK_QUIET):
        return (
            f"the customer's previous message in this conversation came less than "
            f"{age_text(ACK_QUIET)} before: one acknowledgement for a burst"
        )
    return None


def _within(earlier: datetime | None, later: datetime | None, span: timedelta) -> bool:
    if earlier is None or later is None:
        return True  # no dates: treat it as a burst (never two acknowledgements for one exchange)
    return later - earlier < span


def _message_context(
    kind: str, message: CustomerMessage, conversation: Conversation, profile: ShopProfile, rules: ServiceRules
) -> dict[str, Any]:
    thread = conversation.thread
    customer = {
        "first_name": conversation.first_name,
        "last_name": conversation.last_name,
        "email": thread.email.strip(),
    }
    shared = {
        "customer": customer,
        "conversation": {
            "reference": f"#{thread.id}",
            "order_reference": conversation.order_reference,
            "url": contact_url(profile.front_url, thread.id, conversation.token),
        },
    }
    said = {"text": message.message.strip(), "date": instant(message.date_add)}
    if kind == MESSAGE_RECEIVED:
        return {**shared, "message": said, "reply_hours": rules.reply_hours}
    asked = [m for m in conversation.messages if m.id < message.id and m.from_customer]
    quoted = {"text": asked[-1].message.strip(), "date": instant(asked[-1].date_add)} if asked else None
    return {**shared, "reply": said, "quoted": quoted}


def _held(decision: Decision, when: datetime | None, *, now: datetime, limit: timedelta) -> Decision:
    """Held for the owner when the event is older than MAX_EMAIL_AGE (the age guard's defence in depth)."""
    if limit <= timedelta(0) or when is None:
        return decision
    age = now.replace(microsecond=0) - when
    if age <= limit:
        return decision
    why = f"the event is {age_text(age)} old; older than MAX_EMAIL_AGE={limit_text(limit)}"
    return dataclasses.replace(decision, held=why)
