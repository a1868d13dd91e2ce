"""Which emails the changes call for (bridge.plan.rules.decide), checked on plain records: what the
customer gets, under which idempotency key, and the reason the owner reads when nothing goes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from bridge.model.profile import ShopProfile
from bridge.plan.contexts import OrderFacts
from bridge.plan.detect import Change, NewOrder, PaymentAdded, StateChanged, TrackingChanged
from bridge.plan.rules import Decision, RuleSettings, decide, review_key
from tests.builders import (
    AWAITING_CHEQUE,
    BACKORDER_PAID,
    BANK_WIRE,
    BOWL,
    CANCELLED,
    DELIVERED,
    EN,
    EUR,
    FRONT_URL,
    MUG,
    NEWSLETTER_SINCE,
    PAYMENT_ACCEPTED,
    PAYMENT_ERROR,
    PROCESSING,
    REFUNDED,
    SHIPPED,
    WAITING_FOR_PAYMENT,
    ago,
    customer,
    facts,
    facts_of,
    history,
    order,
    order_row,
    payment,
    profile,
    rule_settings,
    without_consent,
)

TRACKING = "620123456789012345678901"


def decided(
    *changes: Change,
    about: Mapping[int, OrderFacts] | None = None,
    shop: ShopProfile | None = None,
    settings: RuleSettings | None = None,
    already_sent: Mapping[int, frozenset[str]] | None = None,
) -> list[Decision]:
    """The decisions for `changes`; facts default to the default order's (#1042)."""
    return decide(
        changes,
        facts=facts_of(order()) if about is None else about,
        profile=shop or profile(),
        settings=settings or rule_settings(),
        already_sent=already_sent or {},
    )


def status(
    history_id: int, state: int, *, initial: bool = False, order_id: int = 1042, **at: Any
) -> StateChanged:
    return StateChanged(history(history_id, order_id, state, **at), initial=initial)


def only(decisions: list[Decision]) -> Decision:
    assert len(decisions) == 1, decisions
    return decisions[0]


# --- the order confirmation ---------------------------------------------------------------------------


def test_a_new_order_gets_one_confirmation_keyed_order_confirmation_order_id() -> None:
    placed = order(1042)
    confirmation = only(decided(NewOrder(placed, BANK_WIRE)))
    assert (confirmation.key, confirmation.kind, confirmation.sends) == (
        "order_confirmation:order:1042",
        "order_confirmation",
        True,
    )
    assert (confirmation.order_id, confirmation.order_reference) == (1042, placed.reference)
    assert confirmation.category == "transactional"


def test_the_confirmation_goes_to_the_customer_in_the_orders_language() -> None:
    placed = order(1042)
    spaced = facts(placed, customer=customer(email=" malgorzata.lecka@example.com "))
    confirmation = only(decided(NewOrder(placed), about={1042: spaced}))
    assert (confirmation.recipient_email, confirmation.recipient_name, confirmation.language) == (
        "malgorzata.lecka@example.com",
        "Małgorzata Łęcka",
        "pl",
    )


def test_an_english_order_gets_an_english_email_and_an_unknown_language_the_default() -> None:
    english, lost = order(1042, id_lang=EN), order(1043, id_lang=9)
    assert only(decided(NewOrder(english), about=facts_of(english))).language == "en"
    fallback = rule_settings(default_language="en")
    assert only(decided(NewOrder(lost), about=facts_of(lost), settings=fallback)).language == "en"


def test_the_confirmation_lists_the_products_and_totals_in_the_orders_currency() -> None:
    two = order(1042, rows=[order_row(1, MUG, quantity=2), order_row(2, BOWL)])
    context = only(decided(NewOrder(two), about=facts_of(two))).context
    assert [(i["name"], i["quantity"], i["total"]["amount"]) for i in context["items"]] == [
        ("Kubek ręcznie toczony", 2, "138.00"),
        ("Miska na zupę „Złota Łąka”", 1, "89.00"),
    ]
    assert context["totals"]["total"] == {"amount": "240.99", "currency": "PLN"}
    assert context["order"]["url"] == f"{FRONT_URL}/index.php?controller=order-detail&id_order=1042"


def test_a_bank_wire_order_is_confirmed_as_not_yet_paid_and_a_paid_one_as_paid() -> None:
    assert only(decided(NewOrder(order(1042, state=BANK_WIRE)))).context["paid"] is False
    paid = order(1042, state=PAYMENT_ACCEPTED)
    assert only(decided(NewOrder(paid), about=facts_of(paid))).context["paid"] is True


def test_an_order_placed_in_payment_error_gets_the_error_email_and_no_confirmation() -> None:
    failed = order(1042, state=PAYMENT_ERROR)
    result = decided(
        NewOrder(failed, PAYMENT_ERROR), status(5001, PAYMENT_ERROR, initial=True), about=facts_of(failed)
    )
    assert [(d.kind, d.sends) for d in result] == [("order_confirmation", False), ("payment_error", True)]
    assert result[0].skip_reason == "the order was placed in a failed state (payment_error): no confirmation"


def test_an_order_placed_cancelled_gets_no_confirmation() -> None:
    result = decided(NewOrder(order(1042, state=CANCELLED), CANCELLED))
    assert only(result).skip_reason == "the order was placed in a failed state (cancelled): no confirmation"


# --- who cannot be written to -------------------------------------------------------------------------


def test_a_deleted_customer_is_skipped_with_a_reason() -> None:
    placed = order(1042)
    gone = facts(placed, customer=customer(deleted=True))
    result = only(decided(NewOrder(placed), about={1042: gone}))
    assert (result.sends, result.skip_reason) == (False, "customer #7 was deleted in the shop")
    assert result.key == "order_confirmation:order:1042"


def test_a_customer_missing_from_the_shop_is_skipped_with_a_reason() -> None:
    placed = order(1042)
    result = only(decided(NewOrder(placed), about={1042: facts(placed, customer=None)}))
    assert result.skip_reason == "customer #7 no longer exists in the shop"


def test_an_address_smtp_would_refuse_is_skipped_before_it_is_queued() -> None:
    placed = order(1042)
    broken = facts(placed, customer=customer(email="małgorzata at example.com"))
    result = only(decided(NewOrder(placed), about={1042: broken}))
    assert (
        result.skip_reason
        == "customer #7 has no valid email address (it contains spaces or control characters)"
    )


def test_an_order_without_products_is_skipped_with_a_reason() -> None:
    empty = order(1042, rows=[])
    assert only(decided(NewOrder(empty), about=facts_of(empty))).skip_reason == "the order has no products"


def test_an_order_in_an_unknown_currency_is_skipped_with_a_reason() -> None:
    placed = order(1042, id_currency=9)
    result = only(decided(NewOrder(placed), about={1042: facts(placed, currency="")}))
    assert result.skip_reason == "the order's currency (#9) is unknown to the shop"


def test_an_order_the_shop_could_not_describe_is_skipped_with_a_reason() -> None:
    result = only(decided(NewOrder(order(1042)), about={}))
    assert result.skip_reason == "the order could not be read from the shop"


def test_html_in_a_customer_name_stays_data_in_the_context() -> None:
    placed = order(1042)
    hostile = customer(firstname='<script>alert("x")</script>', lastname="Łęcka & Syn")
    result = only(decided(NewOrder(placed), about={1042: facts(placed, customer=hostile)}))
    assert result.context["customer"]["first_name"] == '<script>alert("x")</script>'
    assert result.context["customer"]["last_name"] == "Łęcka & Syn"
    assert result.recipient_name == '<script>alert("x")</script> Łęcka & Syn'


# --- state changes ------------------------------------------------------------------------------------


def test_each_state_change_gets_its_states_email_keyed_by_its_history_row() -> None:
    result = only(decided(status(5001, PROCESSING)))
    assert (result.key, result.kind, result.sends) == ("status:history:5001", "processing", True)


def test_the_same_state_twice_sends_one_email_per_history_row() -> None:
    result = decided(status(5001, PROCESSING), status(5002, PROCESSING))
    assert [(d.key, d.sends) for d in result] == [
        ("status:history:5001", True),
        ("status:history:5002", True),
    ]


def test_a_state_without_a_template_sends_nothing_and_says_why() -> None:
    result = only(decided(status(5001, WAITING_FOR_PAYMENT)))
    assert (result.kind, result.skip_reason) == (
        "status",
        "the state 'Waiting for payment' (id 14) has no customer email",
    )


def test_a_state_unknown_to_the_profile_sends_nothing_and_says_why() -> None:
    result = only(decided(status(5001, 99)))
    assert result.skip_reason == "the state '#99' (id 99) has no customer email"


def test_the_owner_can_map_a_module_state_to_an_email() -> None:
    shop = profile(overrides={WAITING_FOR_PAYMENT: "awaiting_bank_wire"})
    result = only(decided(status(5001, WAITING_FOR_PAYMENT), shop=shop))
    assert (result.kind, result.sends) == ("awaiting_bank_wire", True)


def test_the_delivered_state_sends_delivered_although_prestashop_has_no_template_for_it() -> None:
    assert only(decided(status(5001, DELIVERED))).kind == "delivered"


def test_the_initial_state_is_covered_by_the_confirmation_unless_it_says_more() -> None:
    result = only(decided(status(5001, PAYMENT_ACCEPTED, initial=True)))
    assert (result.sends, result.skip_reason) == (False, "covered by the order confirmation")


def test_the_orders_initial_bank_wire_state_sends_its_instructions_next_to_the_confirmation() -> None:
    result = decided(NewOrder(order(1042), BANK_WIRE), status(5001, BANK_WIRE, initial=True))
    assert [(d.kind, d.sends) for d in result] == [("order_confirmation", True), ("awaiting_bank_wire", True)]
    assert result[1].context["bank"] == {
        "owner": "Pracownia Ceramiki Złota Łąka Zofia Nowak",
        "iban": "PL61 1090 1014 0000 0712 1981 2874",
        "bic": "",
        "bank_name": "",
        "address": "Santander Bank Polska, ul. Rynek 1, 59-700 Bolesławiec",
    }


def test_the_owners_bank_settings_win_over_the_wire_modules() -> None:
    bank = {"owner": "Zofia Nowak", "iban": "PL27 1140 2004 0000 3002 0135 5387", "bic": "BREXPLPWMBK"}
    context = only(decided(status(5001, BANK_WIRE), settings=rule_settings(bank=bank))).context
    assert (context["bank"]["owner"], context["bank"]["iban"], context["bank"]["bic"]) == (
        "Zofia Nowak",
        "PL27 1140 2004 0000 3002 0135 5387",
        "BREXPLPWMBK",
    )


def test_bank_wire_instructions_without_bank_details_are_skipped_with_what_to_set() -> None:
    result = only(decided(status(5001, BANK_WIRE), shop=profile(configuration={})))
    assert result.skip_reason is not None
    assert "BANK_ACCOUNT_OWNER" in result.skip_reason


def test_cheque_instructions_name_the_payee_and_its_address() -> None:
    context = only(decided(status(5001, AWAITING_CHEQUE, initial=True))).context
    assert context["cheque"] == {
        "payee": "Pracownia Ceramiki Złota Łąka",
        "address": ["ul. Garncarska 12", "59-700 Bolesławiec"],
    }


def test_cheque_instructions_without_a_payee_are_skipped_with_what_to_set() -> None:
    result = only(decided(status(5001, AWAITING_CHEQUE), shop=profile(configuration={})))
    assert result.skip_reason == "no cheque payee: configure the cheque payment module (CHEQUE_NAME)"


def test_a_backorder_at_checkout_is_announced_next_to_the_confirmation() -> None:
    assert only(decided(status(5001, BACKORDER_PAID, initial=True))).kind == "backorder"


def test_the_shipped_email_carries_the_carrier_and_a_working_tracking_link() -> None:
    shipped = order(1042, state=SHIPPED)
    result = only(decided(status(5001, SHIPPED), about={1042: facts(shipped, tracking_number=TRACKING)}))
    shipment = result.context["shipment"]
    assert {key: shipment[key] for key in ("carrier", "tracking_number", "tracking_url")} == {
        "carrier": "Paczkomat 24/7",
        "tracking_number": TRACKING,
        "tracking_url": f"https://sledzenie.paczkomat.example/?numer={TRACKING}",
    }
    # What the parcel holds, where it goes and when it should arrive (the carrier's delay).
    assert [item["name"] for item in shipment["items"]] == [row.name for row in shipped.rows]
    assert shipment["delay"] == "Paczkomat, 1-2 dni robocze"  # in the order's language
    assert shipment["address"]["city"] and shipment["address"]["country_code"]


def test_a_refund_email_shows_no_amount_it_cannot_know() -> None:
    assert only(decided(status(5001, REFUNDED))).context["refund"] == {"amount": None}


# --- payments -----------------------------------------------------------------------------------------


def test_a_back_office_payment_on_an_unpaid_order_gets_a_payment_confirmation() -> None:
    unpaid = order(1042, state=BANK_WIRE)
    paid = payment(301, unpaid, amount="82.99")
    result = only(decided(PaymentAdded(paid, 1042), about={1042: facts(unpaid, payments=[paid])}))
    assert (result.key, result.kind, result.sends) == ("payment:payment:301", "payment_accepted", True)
    assert result.context["payment"]["amount"] == {"amount": "82.99", "currency": "PLN"}
    assert result.context["payment"]["transaction_id"] == "PRZ/2026/11/0042"


def test_a_payment_in_another_currency_is_shown_in_that_currency() -> None:
    unpaid = order(1042)
    paid = payment(301, unpaid, amount="19.50", currency_id=EUR)
    result = only(decided(PaymentAdded(paid, 1042), about={1042: facts(unpaid, payments=[paid])}))
    assert result.context["payment"]["amount"] == {"amount": "19.50", "currency": "EUR"}


def test_a_payment_on_an_order_in_a_paid_state_gets_no_second_confirmation() -> None:
    paid_order = order(1042, state=PAYMENT_ACCEPTED)
    assert decided(PaymentAdded(payment(301, paid_order), 1042), about=facts_of(paid_order)) == []


def test_a_payment_for_an_order_the_shop_could_not_describe_is_left_alone() -> None:
    assert decided(PaymentAdded(payment(301), 1042), about={}) == []


def test_payment_accepted_after_a_confirmed_payment_is_skipped() -> None:
    unpaid = order(1042, state=BANK_WIRE)
    result = decided(
        PaymentAdded(payment(301, unpaid), 1042), status(5001, PAYMENT_ACCEPTED), about=facts_of(unpaid)
    )
    assert [(d.kind, d.sends) for d in result] == [("payment_accepted", True), ("payment_accepted", False)]
    assert result[1].skip_reason == "the customer already got a payment confirmation"


def test_payment_accepted_after_a_payment_confirmed_in_an_earlier_poll_is_skipped() -> None:
    result = only(
        decided(status(5001, PAYMENT_ACCEPTED), already_sent={1042: frozenset({"payment_accepted"})})
    )
    assert result.skip_reason == "the customer already got a payment confirmation"


def test_a_payment_typed_after_payment_accepted_was_announced_is_not_confirmed_again() -> None:
    read_before = order(1042, state=BANK_WIRE)  # the order as read before the state moved
    result = decided(
        status(5001, PAYMENT_ACCEPTED),
        PaymentAdded(payment(301, read_before), 1042),
        about=facts_of(read_before),
    )
    assert [(d.key, d.sends) for d in result] == [
        ("status:history:5001", True),
        ("payment:payment:301", False),
    ]


# --- tracking numbers ---------------------------------------------------------------------------------


def test_a_tracking_number_typed_after_the_shipped_email_gets_its_own_email() -> None:
    shipped = order(1042, state=SHIPPED)
    result = only(
        decided(
            TrackingChanged(1042, TRACKING, ""),
            about={1042: facts(shipped, tracking_number=TRACKING)},
            already_sent={1042: frozenset({"shipped"})},
        )
    )
    assert (result.key, result.kind) == (f"tracking:order:1042:{TRACKING}", "tracking_added")
    assert result.context["shipment"]["tracking_number"] == TRACKING


def test_a_tracking_number_that_rides_in_the_shipped_email_gets_no_email_of_its_own() -> None:
    shipped = order(1042, state=SHIPPED)
    result = decided(
        status(5001, SHIPPED),
        TrackingChanged(1042, TRACKING, ""),
        about={1042: facts(shipped, tracking_number=TRACKING)},
    )
    assert [d.kind for d in result] == ["shipped"]


def test_a_tracking_number_typed_before_shipping_waits_for_the_shipped_email() -> None:
    preparing = order(1042, state=PROCESSING)
    assert (
        decided(TrackingChanged(1042, TRACKING, ""), about={1042: facts(preparing, tracking_number=TRACKING)})
        == []
    )


def test_a_tracking_number_on_a_shipped_order_whose_shipped_email_never_went_waits() -> None:
    shipped = order(1042, state=SHIPPED)
    assert (
        decided(TrackingChanged(1042, TRACKING, ""), about={1042: facts(shipped, tracking_number=TRACKING)})
        == []
    )


# --- review requests ----------------------------------------------------------------------------------


def reviews(**changes: Any) -> RuleSettings:
    return rule_settings(review_days=14, review_fallback_days=21, **changes)


def test_a_delivered_order_gets_a_review_request_fourteen_days_later() -> None:
    delivered_at = ago(hours=3)
    result = decided(status(5001, DELIVERED, at=delivered_at), settings=reviews())
    assert [d.kind for d in result] == ["delivered", "review_request"]
    review = result[1]
    assert (review.key, review.category, review.reschedule) == (review_key(1042), "marketing", True)
    assert review.not_before == delivered_at + timedelta(days=14)
    assert review.consent == f"newsletter=1 since {NEWSLETTER_SINCE.isoformat()}"
    assert review.customer_id == 7


def test_a_shipped_order_gets_its_review_request_after_the_fallback_days() -> None:
    shipped_at = ago(hours=3)
    review = decided(status(5001, SHIPPED, at=shipped_at), settings=reviews())[1]
    assert (review.not_before, review.reschedule) == (shipped_at + timedelta(days=21), False)


def test_no_review_requests_when_the_owner_turned_them_off() -> None:
    assert [d.kind for d in decided(status(5001, DELIVERED))] == ["delivered"]


def test_without_fallback_days_a_shipped_order_waits_for_its_delivery_to_ask_for_a_review() -> None:
    result = decided(status(5001, SHIPPED), settings=rule_settings(review_days=14))
    assert [d.kind for d in result] == ["shipped"]


def test_a_review_request_without_consent_is_skipped_with_the_reason() -> None:
    placed = order(1042)
    result = decided(
        status(5001, DELIVERED), about={1042: facts(placed, customer=without_consent())}, settings=reviews()
    )
    assert [(d.kind, d.sends) for d in result] == [("delivered", True), ("review_request", False)]
    assert result[1].skip_reason == "no marketing consent (newsletter=0, optin=0; MARKETING_CONSENT)"


def test_a_partners_optin_counts_as_consent_when_the_owner_says_so() -> None:
    placed = order(1042)
    partner = facts(placed, customer=without_consent(optin=True))
    review = decided(status(5001, DELIVERED), about={1042: partner}, settings=reviews())[1]
    assert review.consent == "optin=1"
    strict = reviews(marketing_consent=frozenset({"newsletter"}))
    assert not decided(status(5001, DELIVERED), about={1042: partner}, settings=strict)[1].sends


def test_a_disabled_customer_gets_the_delivered_email_but_no_review_request() -> None:
    placed = order(1042)
    disabled = facts(placed, customer=customer(active=False))
    result = decided(status(5001, DELIVERED), about={1042: disabled}, settings=reviews())
    assert [(d.kind, d.sends) for d in result] == [("delivered", True), ("review_request", False)]
    assert result[1].skip_reason == "customer #7 is disabled in the shop"


def test_the_review_request_lists_each_product_once_with_its_page_and_image() -> None:
    two_mugs = order(1042, state=DELIVERED, rows=[order_row(1, MUG), order_row(2, MUG), order_row(3, BOWL)])
    images = {MUG: f"{FRONT_URL}/img/p/1/0/10-home_default.jpg"}
    review = decided(
        status(5001, DELIVERED), about={1042: facts(two_mugs, images=images)}, settings=reviews()
    )[1]
    assert review.context["products"] == [
        {
            "name": "Kubek ręcznie toczony",
            "url": f"{FRONT_URL}/index.php?controller=product&id_product={MUG}",
            "image_url": images[MUG],
        },
        {
            "name": "Miska na zupę „Złota Łąka”",
            "url": f"{FRONT_URL}/index.php?controller=product&id_product={BOWL}",
            "image_url": "",
        },
    ]


def test_a_history_row_without_a_date_times_the_review_from_the_orders_last_change() -> None:
    changed = order(1042, state=DELIVERED)
    undated = StateChanged(replace(history(5001, 1042, DELIVERED), date_add=None), initial=False)
    review = decided(undated, about=facts_of(changed), settings=reviews())[1]
    assert changed.date_upd is not None
    assert review.not_before == changed.date_upd + timedelta(days=14)


# --- as a whole ---------------------------------------------------------------------------------------


def test_deciding_twice_gives_the_same_keys_and_contexts() -> None:
    changes = (
        NewOrder(order(1042), BANK_WIRE),
        status(5001, BANK_WIRE, initial=True),
        status(5002, DELIVERED),
    )
    first = decided(*changes, settings=reviews())
    second = decided(*changes, settings=reviews())
    assert [(d.key, d.context, d.skip_reason) for d in first] == [
        (d.key, d.context, d.skip_reason) for d in second
    ]
