"""The customer-service planner on plain data: credit slips, one email per refund, replies, acknowledgements
and internal notes. No servers, no clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from bridge.model.kinds import CREDIT_SLIP, MESSAGE_RECEIVED, MESSAGE_REPLY, REFUNDED
from bridge.model.slips import CreditSlip, SlipDetail
from bridge.model.threads import CustomerMessage, CustomerThread
from bridge.plan.detect import StateChanged
from bridge.plan.refunds import cancelled_refund, money_back
from bridge.plan.rules import decide
from bridge.plan.service import (
    ACK_QUIET,
    Conversation,
    ServiceRules,
    contact_url,
    plan_messages,
    plan_slips,
)
from tests import builders as b

RULES = ServiceRules(
    emails=frozenset({CREDIT_SLIP, MESSAGE_REPLY, MESSAGE_RECEIVED}), max_email_age=timedelta(hours=48)
)
ORDER = b.order(1042, rows=(b.order_row(10420, b.MUG, quantity=2), b.order_row(10421, b.VASE)))


def slip(slip_id: int = 5, *, shipping: str = "13.99", at: datetime | None = None) -> CreditSlip:
    return CreditSlip(
        id=slip_id,
        id_order=1042,
        id_customer=b.CUSTOMER_ID,
        total_products_tax_incl=Decimal("49.00"),
        total_shipping_tax_incl=Decimal(shipping),
        date_add=at or b.ago(minutes=2),
        details=(SlipDetail(10420, 1, Decimal("49.00")),),
    )


def slips(*made: CreditSlip, sent: frozenset[str] = frozenset(), rules: ServiceRules = RULES) -> list:
    facts = b.facts_of(ORDER)
    return plan_slips(made, facts, b.profile(), rules, {1042: sent} if sent else {}, now=b.NOW)


def test_a_slip_is_one_email_with_amounts_lines_and_the_way_back() -> None:
    [decision] = slips(slip())

    assert decision.sends and decision.key == "credit_slip:slip:5" and decision.kind == CREDIT_SLIP
    assert decision.recipient_email and decision.language == "pl" and decision.order_id == 1042
    context = decision.context
    assert context["slip"]["total"] == {"amount": "62.99", "currency": "PLN"}
    assert context["slip"]["shipping"] == {"amount": "13.99", "currency": "PLN"}
    assert context["slip"]["lines"] == [
        {"name": ORDER.rows[0].name, "quantity": 1, "amount": {"amount": "49.00", "currency": "PLN"}}
    ]
    assert context["money_back"] == {"way": "transfer", "method": "Przelew bankowy", "days": 14, "note": ""}


def test_no_shipping_refunded_is_none_and_two_slips_are_two_emails() -> None:
    decisions = slips(slip(5, shipping="0"), slip(6))
    assert [d.key for d in decisions if d.sends] == ["credit_slip:slip:5", "credit_slip:slip:6"]
    assert decisions[0].context["slip"]["shipping"] is None


def test_a_slip_after_the_refunded_email_is_skipped_and_a_skipped_one_does_not_count() -> None:
    [told] = slips(slip(), sent=frozenset({REFUNDED}))
    assert not told.sends and "Refunded email" in (told.skip_reason or "")
    [off] = slips(slip(), rules=ServiceRules(emails=frozenset()))
    assert not off.sends and "SERVICE_EMAILS" in (off.skip_reason or "")


def test_the_refunded_state_is_skipped_when_a_slip_email_was_queued() -> None:
    change = StateChanged(b.history(9001, 1042, b.REFUNDED), initial=False)
    facts = b.facts_of(ORDER)
    common = {"facts": facts, "profile": b.profile(), "settings": b.rule_settings()}

    [skipped] = decide([change], already_sent={1042: frozenset({CREDIT_SLIP})}, **common)
    [sent] = decide([change], already_sent={}, **common)

    assert not skipped.sends and "credit slip" in (skipped.skip_reason or "")
    assert sent.sends and sent.kind == REFUNDED


def test_an_old_slip_is_held_for_the_owner() -> None:
    [decision] = slips(slip(at=b.ago(days=5)))
    assert decision.held and "MAX_EMAIL_AGE" in decision.held


def test_the_way_back_follows_the_payment_module_and_the_owners_note_wins() -> None:
    card = b.order(1, module="stripe_official", payment="Karta")
    cod = b.order(2, module="ps_cashondelivery", payment="Za pobraniem")
    assert money_back(card, days=0, note="")["way"] == "same"
    assert money_back(cod, days=14, note="")["way"] == ""
    assert money_back(cod, days=14, note="Oddamy przelewem.")["note"] == "Oddamy przelewem."
    assert cancelled_refund(b.order(3), "PLN", days=14, note="")["paid"] is None
    paid = b.order(4, total_paid_real=Decimal("62.99"))
    assert cancelled_refund(paid, "PLN", days=14, note="")["paid"] == {"amount": "62.99", "currency": "PLN"}


# --- conversations ---------------------------------------------------------------------------------------


def message(
    message_id: int, *, employee: int = 0, private: bool = False, at: datetime | None = None, text: str = ""
) -> CustomerMessage:
    return CustomerMessage(
        message_id, 12, employee, text or f"wiadomość {message_id}", private, at or b.ago(minutes=1)
    )


THREAD_TOKEN = "tok12"


def conversation(*messages: CustomerMessage, contact: int = 2) -> Conversation:
    thread = CustomerThread(12, 1042, b.CUSTOMER_ID, contact, "zofia@example.com", id_lang=b.EN)
    return Conversation(thread, messages, "Zofia", "Nowak", order_reference="XKBKNABJK", token=THREAD_TOKEN)


def planned(new: list[CustomerMessage], talk: Conversation) -> list:
    return plan_messages(new, {12: talk}, b.profile(), RULES, now=b.NOW)


def test_a_staff_answer_quotes_the_last_customer_message_and_links_back_in_the_threads_language() -> None:
    asked, note = message(1, at=b.ago(hours=2), text="Czy\nmożna?"), message(2, employee=1, private=True)
    answer = message(3, employee=1, text="Tak.")

    decisions = planned([note, answer], conversation(asked, note, answer))

    skipped, sent = decisions
    assert not skipped.sends and "internal note" in (skipped.skip_reason or "") and not skipped.context
    assert sent.key == "message_reply:thread:12:message:3" and sent.language == "en"
    assert sent.recipient_email == "zofia@example.com" and sent.recipient_name == "Zofia Nowak"
    assert sent.context["reply"]["text"] == "Tak."
    assert sent.context["quoted"]["text"] == "Czy\nmożna?"
    assert sent.context["conversation"] == {
        "reference": "#12",
        "order_reference": "XKBKNABJK",
        "url": f"{b.FRONT_URL}/index.php?controller=contact&id_customer_thread=12&token=tok12",
    }


def test_acknowledgements_open_an_exchange_not_a_burst() -> None:
    first, burst = message(1, at=b.ago(minutes=9)), message(2, at=b.ago(minutes=8))
    later = message(3, at=b.ago(minutes=8) + ACK_QUIET)

    decisions = planned([first, burst, later], conversation(first, burst, later))

    assert [d.sends for d in decisions] == [True, False, True]
    assert (
        decisions[0].context["message"]["text"] == "wiadomość 1" and decisions[0].context["reply_hours"] == 24
    )
    assert "burst" in (decisions[1].skip_reason or "")


def test_no_acknowledgement_for_a_checkout_comment_or_a_conversation_the_shop_started() -> None:
    comment = message(1)
    [checkout] = planned([comment], conversation(comment, contact=0))
    assert not checkout.sends and "checkout comment" in (checkout.skip_reason or "")

    opened, answer = message(1, employee=1, at=b.ago(hours=1)), message(2)
    _, reply = planned([opened, answer], conversation(opened, answer))
    assert not reply.sends and "shop started" in (reply.skip_reason or "")


def test_contact_links_without_a_token_or_a_storefront() -> None:
    assert contact_url("https://s.example/", 12, "") == "https://s.example/index.php?controller=contact"
    assert contact_url("", 12, "tok") == ""
