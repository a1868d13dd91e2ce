"""The birthday and win-back rules on plain data (bridge.plan.automations): no shop, no store, no clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from bridge.model.automations import Celebrant, Discount
from bridge.model.kinds import get_kind
from bridge.model.records import Customer
from bridge.plan import automations as plan
from bridge.plan.automations import AutomationRules, Reach
from bridge.plan.rules import Decision
from tests.builders import EN, NOW, customer, order, profile, without_consent

WARSAW = ZoneInfo("Europe/Warsaw")
TODAY = date(2026, 11, 27)
DAY_ENDS = datetime(2026, 11, 28, tzinfo=WARSAW)
REGISTERED = customer()


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=WARSAW)


def born(customer_id: int = 7, birthday: date | None = date(1990, 11, 27), **changes: object) -> Celebrant:
    return Celebrant(customer(customer_id, **changes), birthday)


def greet(
    *people: Celebrant, rules: AutomationRules | None = None, reach: Reach | None = None
) -> list[Decision]:
    return plan.plan_birthdays(
        people, TODAY, profile(), rules or AutomationRules(), reach or Reach(), now=NOW, day_ends=DAY_ENDS
    )


# --- when a birthday day is processed --------------------------------------------------------------------


def test_the_birthday_day_comes_at_the_hour_once() -> None:
    assert plan.birthday_due(local(TODAY, 8, 59), 9, None) is None
    assert plan.birthday_due(local(TODAY, 9), 9, None) == TODAY
    assert plan.birthday_due(local(TODAY, 23, 59), 9, date(2026, 11, 26)) == TODAY  # late the same day
    assert plan.birthday_due(local(TODAY, 10), 9, TODAY) is None  # processed already


def test_a_missed_birthday_day_is_never_caught_up() -> None:
    # Down on the 25th and the 26th: the 27th is processed, never the days before it.
    assert plan.birthday_due(local(TODAY, 9), 9, date(2026, 11, 24)) == TODAY


@pytest.mark.parametrize(
    ("day", "suffixes"),
    [
        (date(2026, 12, 7), ("-12-07",)),
        (date(2027, 2, 28), ("-02-28", "-02-29")),  # a common year: 29 February is greeted today
        (date(2028, 2, 28), ("-02-28",)),  # a leap year: they wait a day
        (date(2028, 2, 29), ("-02-29",)),
    ],
)
def test_the_birthday_filter_asks_for_the_day_and_29_february_in_common_years(
    day: date, suffixes: tuple[str, ...]
) -> None:
    assert plan.birthday_suffixes(day) == suffixes


def test_29_february_is_celebrated_on_28_february_in_common_years_only() -> None:
    leapling = date(2004, 2, 29)
    assert plan.celebrates_on(leapling, date(2027, 2, 28))
    assert not plan.celebrates_on(leapling, date(2028, 2, 28))
    assert plan.celebrates_on(leapling, date(2028, 2, 29))
    assert not plan.celebrates_on(date(1990, 2, 28), date(2028, 2, 29))
    assert not plan.celebrates_on(None, TODAY)


# --- birthday decisions ---------------------------------------------------------------------------------


def test_a_consenting_customer_gets_one_greeting_keyed_by_year_expiring_at_midnight() -> None:
    [decision] = greet(born())
    assert decision.sends and decision.kind == "birthday" and decision.category == "marketing"
    assert decision.key == "birthday:2026:customer:7"
    assert decision.expires_at == DAY_ENDS and decision.not_before == NOW
    assert decision.consent and decision.consent.startswith("newsletter=1")
    assert decision.customer_id == 7 and decision.language == "pl"
    assert decision.recipient_email == "malgorzata.lecka@example.com"
    assert dict(decision.context) == {
        "customer": {
            "first_name": "Małgorzata",
            "last_name": "Łęcka",
            "email": "malgorzata.lecka@example.com",
        }
    }
    assert set(decision.context) >= get_kind("birthday").required_keys


def test_the_same_customer_read_twice_is_greeted_once_and_others_are_ignored() -> None:
    decisions = greet(
        born(),
        born(),
        born(8, date(1990, 11, 28)),  # another day: the filter's answer is checked again
        born(9, None),  # 0000-00-00: unknown
    )
    assert [d.key for d in decisions] == ["birthday:2026:customer:7"]


def test_without_consent_unsubscribed_or_deleted_the_greeting_is_a_skip_with_its_reason() -> None:
    decisions = greet(
        Celebrant(without_consent(7), date(1990, 11, 27)),
        born(8),
        born(9, deleted=True),
        born(10, active=False),
        reach=Reach(blocked={"klient8@example.com": "k***@example.com unsubscribed from marketing mail"}),
    )
    reasons = {d.customer_id: d.skip_reason or "" for d in decisions}
    assert all(not d.sends for d in decisions)
    assert "no marketing consent" in reasons[7]
    assert "unsubscribed" in reasons[8]
    assert "deleted" in reasons[9]
    assert "disabled" in reasons[10]


def test_a_birthday_discount_puts_a_personal_code_request_in_the_language_of_the_customer() -> None:
    rules = AutomationRules(birthday_discount=Discount(percent=Decimal(15)), birthday_discount_days=10)
    polish, english = greet(born(), born(8, id_lang=EN), rules=rules)
    assert polish.context["personal_code"] == {
        "prefix": "URODZINY",
        "percent": "15",
        "amount": None,
        "valid_days": 10,
        "minimum_amount": None,
        "free_shipping": False,
        "description": "birthday 2026, customer #7 (prestashop-email-bridge)",
        "name": "Prezent urodzinowy",
    }
    assert english.language == "en"
    assert (english.context["personal_code"]["prefix"], english.context["personal_code"]["name"]) == (
        "BIRTHDAY",
        "Birthday gift",
    )


def test_an_amount_discount_is_written_with_two_decimals() -> None:
    rules = AutomationRules(birthday_discount=Discount(amount=Decimal(20)))
    [decision] = greet(born(), rules=rules)
    request = decision.context["personal_code"]
    assert (request["percent"], request["amount"]) == (None, "20.00")


# --- win-back days --------------------------------------------------------------------------------------


def test_winback_days_are_those_after_the_last_up_to_today_once_the_hour_came() -> None:
    assert plan.winback_days_due(local(TODAY, 9), 10, date(2026, 11, 26)) == ([], 0)
    assert plan.winback_days_due(local(TODAY, 10), 10, date(2026, 11, 26)) == ([TODAY], 0)
    assert plan.winback_days_due(local(TODAY, 9), 10, date(2026, 11, 24)) == (
        [date(2026, 11, 25), date(2026, 11, 26)],
        0,
    )
    assert plan.winback_days_due(local(TODAY, 12), 10, TODAY) == ([], 0)


def test_a_long_downtime_catches_up_the_last_seven_days_only() -> None:
    days, left_out = plan.winback_days_due(local(TODAY, 12), 10, date(2026, 11, 7))
    assert days == [TODAY - timedelta(days=back) for back in range(6, -1, -1)]
    assert left_out == 13


def test_a_customer_who_ordered_after_the_window_order_is_not_lapsed() -> None:
    came_back = order(1, customer_id=7)
    last_of_two = order(3, customer_id=8)
    window = [came_back, order(2, customer_id=8), last_of_two, order(4, customer_id=0)]
    since = [*window, order(9, customer_id=7)]  # any order, valid or not
    assert plan.lapsed(window, since) == {8: last_of_two}


# --- win-back decisions ---------------------------------------------------------------------------------


def winback(
    *, who: Customer | None = REGISTERED, rules: AutomationRules | None = None, reach: Reach | None = None
) -> list[Decision]:
    """The plan for customer 7, whose last order (#1042) was placed on 29 August."""
    placed = datetime(2026, 8, 29, 18, 42, tzinfo=UTC)
    last = {7: order(1042, customer_id=7, placed_at=placed)}
    found = {7: who} if who is not None else {}
    return plan.plan_winbacks(
        last, found, profile(), rules or AutomationRules(winback_days=90), reach or Reach(), now=NOW
    )


def test_a_lapsed_consenting_customer_is_invited_back_once_per_last_order() -> None:
    [decision] = winback()
    assert decision.sends and decision.kind == "winback"
    assert decision.key == "winback:customer:7:order:1042"
    assert decision.order_id == 1042 and decision.customer_id == 7
    assert decision.expires_at == NOW + plan.WINBACK_EXPIRY
    assert decision.context["last_order"] == {"date": "2026-08-29T18:42:00+00:00"}
    assert decision.context["days"] == 90
    assert "personal_code" not in decision.context


def test_no_second_winback_within_n_days_of_the_last() -> None:
    [skip] = winback(reach=Reach(last_winback={7: NOW - timedelta(days=30)}))
    assert not skip.sends and "less than 90 days ago" in (skip.skip_reason or "")
    [again] = winback(reach=Reach(last_winback={7: NOW - timedelta(days=91)}))
    assert again.sends


def test_a_winback_without_consent_or_customer_is_a_skip() -> None:
    [no_consent] = winback(who=without_consent())
    assert "no marketing consent" in (no_consent.skip_reason or "")
    [gone] = winback(who=None)
    assert "no longer exists" in (gone.skip_reason or "") and gone.customer_id == 7


def test_a_winback_discount_asks_for_a_code() -> None:
    rules = AutomationRules(winback_days=90, winback_discount=Discount(amount=Decimal("20.5")))
    [decision] = winback(rules=rules)
    request = decision.context["personal_code"]
    assert (request["prefix"], request["amount"], request["name"]) == ("WRACAJ", "20.50", "Rabat na powrót")


def test_accounts_sharing_an_address_get_one_greeting_and_one_invitation_the_registered_ones() -> None:
    guest = born(3, email="Zofia@example.com", is_guest=True)
    newer_guest = born(5, email="zofia@example.com ", is_guest=True)
    account = born(8, email="zofia@example.com")
    refused = born(9, email="zofia@example.com", newsletter=False)  # no consent: takes nothing
    decisions = greet(guest, newer_guest, account, refused)
    assert [(d.customer_id, d.sends) for d in decisions] == [(3, False), (5, False), (8, True), (9, False)]
    assert decisions[0].skip_reason == decisions[1].skip_reason == plan.DUPLICATE
    only_guests = greet(guest, newer_guest)
    assert [(d.customer_id, d.sends) for d in only_guests] == [(3, False), (5, True)]

    rules = AutomationRules(winback_days=90)
    people = {c.customer.id: c.customer for c in (guest, newer_guest, account)}
    lapsed = {i: order(100 + i, customer_id=i) for i in people}
    invited = plan.plan_winbacks(lapsed, people, profile(), rules, Reach(), now=NOW)
    assert [(d.customer_id, d.sends) for d in invited] == [(3, False), (5, False), (8, True)]
    assert invited[0].skip_reason == plan.DUPLICATE
