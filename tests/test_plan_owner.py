"""The owner's business alerts, planned on plain data: no server, no clock, no store."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from bridge.model.kinds import (
    KINDS,
    OWNER_CUSTOMER_MESSAGE,
    OWNER_DAILY_SUMMARY,
    OWNER_LOW_STOCK,
    OWNER_NEW_ORDER,
    OWNER_NEW_ORDERS,
    get_kind,
)
from bridge.model.stock import StockLevel, StockProduct
from bridge.model.threads import CustomerMessage, CustomerThread
from bridge.plan.owner import (
    CUSTOMER_MESSAGE,
    DAILY_SUMMARY,
    LOW_STOCK,
    NEW_ORDER,
    DayReport,
    MessageNews,
    NewOrderNews,
    OwnerRules,
    Recipient,
    StockFall,
    plan_low_stock,
    plan_messages,
    plan_new_orders,
    plan_summary,
    recipient_tag,
    stock_changes,
    summary_due,
)
from tests import builders as b

OWNER = Recipient("wlascicielka@example.com", "Właścicielka")
PARTNER = Recipient("wspolnik@example.com")


def rules(*recipients: Recipient, **changes: object) -> OwnerRules:
    fields: dict[str, object] = {
        "recipients": recipients or (OWNER,),
        "alerts": frozenset({NEW_ORDER}),
        "language": "pl",
    }
    fields.update(changes)
    return OwnerRules(**fields)  # type: ignore[arg-type]


def news(order_id: int, *, first: bool = True, message: str = "", **facts: object) -> NewOrderNews:
    return NewOrderNews(b.facts(b.order(order_id), **facts), first_order=first, message=message)


def test_one_alert_per_new_order_and_owner_address_keyed_by_the_order_and_a_hash_of_the_address() -> None:
    decisions = plan_new_orders([news(1042, message=" Po 16:00 ")], b.profile(), rules(OWNER, PARTNER))

    assert [(d.kind, d.recipient_email) for d in decisions] == [
        (OWNER_NEW_ORDER, OWNER.email),
        (OWNER_NEW_ORDER, PARTNER.email),
    ]
    first = decisions[0]
    assert first.key == f"owner:new_order:order:1042:to:{recipient_tag(OWNER.email)}"
    assert OWNER.email not in first.key
    assert first.order_id == 1042 and first.sends and first.held is None and first.language == "pl"
    context = first.context
    assert context["message"] == "Po 16:00" and context["first_order"] is True and context["guest"] is False
    assert context["customer"]["email"] == b.CUSTOMER_EMAIL and context["paid"] is False
    assert context["admin_url"] == ""
    assert set(context) == get_kind(OWNER_NEW_ORDER).required_keys


def test_the_back_office_link_names_the_order() -> None:
    [decision] = plan_new_orders([news(7)], b.profile(), rules(admin_url="https://s.example/admin-x7/"))
    assert decision.context["admin_url"] == (
        "https://s.example/admin-x7/index.php?controller=AdminOrders&id_order=7&vieworder=1"
    )


def test_an_order_paid_at_checkout_says_paid() -> None:
    paid = b.order(5, total_paid_real=Decimal("1000"))
    decisions = plan_new_orders([NewOrderNews(b.facts(paid), False, "")], b.profile(), rules())
    assert decisions[0].context["paid"] is True and decisions[0].context["first_order"] is False


def test_more_than_five_new_orders_make_one_digest_and_each_order_records_it() -> None:
    many = [news(order_id) for order_id in range(10, 16)]

    decisions = plan_new_orders(many, b.profile(), rules(OWNER, PARTNER))

    skips = [d for d in decisions if not d.sends]
    digests = [d for d in decisions if d.sends]
    assert [d.order_id for d in skips] == list(range(10, 16))
    assert all(d.kind == OWNER_NEW_ORDER and "digest of 6 new orders" in (d.skip_reason or "") for d in skips)
    assert [(d.kind, d.recipient_email) for d in digests] == [
        (OWNER_NEW_ORDERS, OWNER.email),
        (OWNER_NEW_ORDERS, PARTNER.email),
    ]
    context = digests[0].context
    assert context["count"] == 6 and [o["reference"] for o in context["orders"]] == [
        b.reference(i) for i in range(10, 16)
    ]
    total = sum((o.facts.order.total_paid_tax_incl for o in many), Decimal(0))
    assert context["totals"] == [{"amount": str(total.quantize(Decimal("0.01"))), "currency": "PLN"}]
    assert set(context) == KINDS[OWNER_NEW_ORDERS].required_keys


def test_five_new_orders_are_still_five_emails() -> None:
    decisions = plan_new_orders([news(i) for i in range(1, 6)], b.profile(), rules())
    assert [d.kind for d in decisions] == [OWNER_NEW_ORDER] * 5 and all(d.sends for d in decisions)


def test_nothing_without_an_owner_address_or_with_the_alert_off() -> None:
    one = [news(1)]
    assert plan_new_orders(one, b.profile(), OwnerRules((), frozenset({NEW_ORDER}), "pl")) == []
    assert plan_new_orders(one, b.profile(), rules(alerts=frozenset({"customer_message"}))) == []
    assert plan_new_orders([], b.profile(), rules()) == []


def test_an_order_whose_customer_could_not_be_read_is_recorded_not_sent() -> None:
    [decision] = plan_new_orders([news(3, customer=None)], b.profile(), rules())
    assert not decision.sends and "customer could not be read" in (decision.skip_reason or "")


def test_planning_twice_gives_the_same_decisions() -> None:
    batch = [news(i) for i in range(1, 9)]
    assert plan_new_orders(batch, b.profile(), rules()) == plan_new_orders(batch, b.profile(), rules())


def test_owner_business_kinds_go_after_the_customers_order_emails_and_before_marketing() -> None:
    for name in (OWNER_NEW_ORDER, OWNER_NEW_ORDERS):
        kind = get_kind(name)
        assert kind.category == "owner" and not kind.needs_consent and kind.budget_class == "transactional"
        assert get_kind("order_confirmation").priority < kind.priority < get_kind("cart_reminder").priority
    assert get_kind(OWNER_NEW_ORDER).reply_to == "customer" and get_kind(OWNER_NEW_ORDERS).reply_to is None


# --- customers' messages ----------------------------------------------------------------------------------


def message(
    message_id: int = 31, *, employee: int = 0, private: bool = False, text: str = "Czy mogę zmienić adres?"
) -> CustomerMessage:
    return CustomerMessage(message_id, 7, employee, text, private, b.ago(minutes=1))


THREAD = CustomerThread(id=7, id_order=1042, id_customer=b.CUSTOMER_ID, id_contact=2, email=b.CUSTOMER_EMAIL)


def about(msg: CustomerMessage, **changes: object) -> MessageNews:
    fields: dict[str, object] = {
        "thread": THREAD,
        "first_name": "Małgorzata",
        "last_name": "Łęcka",
        "order_reference": "XKBKNABJK",
    }
    fields.update(changes)
    return MessageNews(msg, **fields)  # type: ignore[arg-type]


def message_rules(**changes: object) -> OwnerRules:
    return rules(alerts=frozenset({NEW_ORDER, CUSTOMER_MESSAGE}), **changes)


def test_a_customers_message_is_one_alert_per_owner_address_with_the_customer_to_reply_to() -> None:
    decisions = plan_messages([about(message())], message_rules(recipients=(OWNER, PARTNER)))

    assert [(d.kind, d.recipient_email, d.order_id) for d in decisions] == [
        (OWNER_CUSTOMER_MESSAGE, OWNER.email, 1042),
        (OWNER_CUSTOMER_MESSAGE, PARTNER.email, 1042),
    ]
    assert decisions[0].key == f"owner:customer_message:message:31:to:{recipient_tag(OWNER.email)}"
    context = decisions[0].context
    assert context["customer"] == {
        "first_name": "Małgorzata",
        "last_name": "Łęcka",
        "email": b.CUSTOMER_EMAIL,
    }
    assert context["message"] == "Czy mogę zmienić adres?" and context["order_reference"] == "XKBKNABJK"
    assert set(context) == get_kind(OWNER_CUSTOMER_MESSAGE).required_keys


def test_staff_replies_internal_notes_and_empty_messages_are_not_news() -> None:
    news = [
        about(message(1, employee=3)),
        about(message(2, private=True)),
        about(message(3, text="  ")),
        about(message(4), thread=None),
    ]
    assert plan_messages(news, message_rules()) == []


def test_a_checkout_comment_is_told_by_the_order_alert_unless_that_alert_is_off() -> None:
    comment = about(message(), checkout_comment=True)
    assert plan_messages([comment], message_rules()) == []
    [told] = plan_messages([comment], rules(alerts=frozenset({CUSTOMER_MESSAGE})))
    assert told.kind == OWNER_CUSTOMER_MESSAGE


def test_the_back_office_link_names_the_thread_and_nothing_goes_with_the_alert_off() -> None:
    [decision] = plan_messages([about(message())], message_rules(admin_url="https://s.example/adm"))
    assert decision.context["admin_url"] == (
        "https://s.example/adm/index.php?controller=AdminCustomerThreads&id_customer_thread=7"
        "&viewcustomer_thread=1"
    )
    assert plan_messages([about(message())], rules()) == []


# --- the daily summary --------------------------------------------------------------------------------------

WARSAW = ZoneInfo("Europe/Warsaw")


def test_the_summary_is_due_once_its_hour_has_come_and_only_about_yesterday() -> None:
    morning = datetime(2026, 11, 27, 7, 59, tzinfo=WARSAW)
    assert summary_due(morning, 8, None) is None
    assert summary_due(morning.replace(hour=8, minute=0), 8, None) == date(2026, 11, 26)
    assert summary_due(morning.replace(hour=23), 8, date(2026, 11, 26)) is None  # told already
    assert summary_due(morning.replace(hour=9), 8, date(2026, 11, 20)) == date(2026, 11, 26)  # not the 21st
    assert summary_due(morning.replace(hour=0, minute=0), 0, date(2026, 11, 25)) == date(2026, 11, 26)


def report(**changes: object) -> DayReport:
    fields: dict[str, object] = {
        "day_start": datetime(2026, 11, 26, tzinfo=WARSAW),
        "orders": 3,
        "revenue": {"EUR": Decimal("20"), "PLN": Decimal("300.5")},
        "sent": {"shipped": 2, "order_confirmation": 3},
        "failed": {},
        "held": {"order_confirmation": 1},
        "unknown": 0,
        "paused": "",
    }
    fields.update(changes)
    return DayReport(**fields)  # type: ignore[arg-type]


def test_the_summary_tells_the_day_per_currency_and_per_kind_to_every_owner_address() -> None:
    decisions = plan_summary(report(), rules(OWNER, PARTNER, alerts=frozenset({DAILY_SUMMARY})))

    assert [(d.kind, d.recipient_email) for d in decisions] == [
        (OWNER_DAILY_SUMMARY, OWNER.email),
        (OWNER_DAILY_SUMMARY, PARTNER.email),
    ]
    assert decisions[0].key == f"owner:daily_summary:2026-11-26:to:{recipient_tag(OWNER.email)}"
    context = decisions[0].context
    assert context["date"] == "2026-11-26T00:00:00+01:00" and context["orders"] == 3
    assert context["revenue"] == [
        {"amount": "300.50", "currency": "PLN"},
        {"amount": "20.00", "currency": "EUR"},
    ]
    assert context["sent"] == [{"kind": "order_confirmation", "count": 3}, {"kind": "shipped", "count": 2}]
    assert context["held"] == [{"kind": "order_confirmation", "count": 1}] and context["failed"] == []
    assert set(context) == set(get_kind(OWNER_DAILY_SUMMARY).context_type.__annotations__)  # bounced too


def test_no_summary_unless_asked_for() -> None:
    assert plan_summary(report(), rules()) == []


# --- low stock ---------------------------------------------------------------------------------------------


def fall(
    stock_id: int, product: int, quantity: int, *, combination: int = 0, nth: int = 1, combos: bool = False
) -> StockFall:
    level = StockLevel(stock_id, product, combination, quantity)
    return StockFall(level, StockProduct(product, f"Produkt {product}", f"REF-{product}", combos), nth)


def test_rows_fall_when_they_are_low_and_not_told_and_rise_when_told_and_no_longer_low() -> None:
    assert stock_changes({1: 3, 2: 0, 5: 1}, [2, 4]) == ([1, 5], [4])
    assert stock_changes({}, []) == ([], [])


def test_the_falls_of_one_poll_share_one_alert_named_by_the_rows_and_their_fall() -> None:
    falls = [fall(7, 2, 3), fall(9, 1, 0, combination=4)]
    low_rules = rules(OWNER, PARTNER, alerts=frozenset({LOW_STOCK}), admin_url="https://s.example/adm")

    decisions = plan_low_stock(falls, 3, low_rules)

    assert [(d.kind, d.recipient_email) for d in decisions] == [
        (OWNER_LOW_STOCK, OWNER.email),
        (OWNER_LOW_STOCK, PARTNER.email),
    ]
    context = decisions[0].context
    assert context["threshold"] == 3 and [p["name"] for p in context["products"]] == [
        "Produkt 1",
        "Produkt 2",
    ]
    assert context["products"][0]["combination"] == 4 and context["products"][0]["quantity"] == 0
    assert context["products"][1]["admin_url"].endswith("controller=AdminProducts&id_product=2&updateproduct")
    assert set(context) == get_kind(OWNER_LOW_STOCK).required_keys
    # The next fall of the same rows is another alert; the same fall planned again is the same one.
    again = plan_low_stock([fall(7, 2, 3, nth=2), fall(9, 1, 0, combination=4)], 3, low_rules)
    assert again[0].key != decisions[0].key
    assert plan_low_stock(falls, 3, low_rules)[0].key == decisions[0].key


def test_the_sum_row_of_a_product_with_combinations_is_not_told() -> None:
    only_sum = [fall(1, 1, 2, combos=True)]
    assert plan_low_stock(only_sum, 3, rules(alerts=frozenset({LOW_STOCK}))) == []
    assert plan_low_stock([fall(1, 1, 2)], 3, rules()) == []  # the alert is off
