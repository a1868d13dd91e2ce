"""The campaign planner on plain data (bridge.plan.campaigns): who a campaign reaches, who it leaves out and
why, what each email carries, and how many days the budget needs. No server, no store, no clock."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from bridge.model.campaign_kinds import CAMPAIGN, CAMPAIGN_PRIORITY
from bridge.model.kinds import KINDS
from bridge.model.records import Customer
from bridge.plan import campaigns as plan
from bridge.plan.campaign_file import Campaign, Discount, Text, default_prefix

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
WARSAW = ZoneInfo("Europe/Warsaw")
RULES = plan.Rules({1: "en", 2: "pl"}, "pl", "PLN", WARSAW, NOW)
PL = Text("Prezent, {{ firstname }}", "Cześć {{ firstname }}!", "Prezent")
EN = Text("A gift, {{ firstname }}", "Hello {{ firstname }}!", "")
PERSONAL = Discount(Decimal(10), None, True, "", 7, None, Decimal(100), False, "")
SHARED = Discount(None, Decimal(20), False, "ZIMA", None, date(2026, 12, 31), None, True, "")


def campaign(**changes: object) -> Campaign:
    base = Campaign("black-friday-2026", "newsletter", None, None, (), None, {"pl": PL, "en": EN}, "hash")
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def customer(customer_id: int, email: str = "", **changes: object) -> Customer:
    base = Customer(
        id=customer_id,
        id_lang=2,
        email=email or f"c{customer_id}@example.com",
        firstname="Zofia",
        lastname="Nowak",
        id_gender=0,
        newsletter=True,
        newsletter_date_add=datetime(2026, 5, 1, 10, 0, tzinfo=UTC),
        optin=False,
        is_guest=False,
        active=True,
        deleted=False,
        date_add=None,
        date_upd=None,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def batch(customers: list[Customer], memory: plan.Memory | None = None, **changes: object) -> plan.BatchPlan:
    return plan.plan_batch(customers, campaign(**changes), RULES, memory or plan.Memory(), {})


def test_the_kind_is_marketing_behind_cart_reminders_and_before_notices() -> None:
    kind = KINDS[CAMPAIGN]
    assert kind.category == "marketing" and kind.needs_consent
    assert kind.priority == CAMPAIGN_PRIORITY == 7
    assert KINDS["cart_reminder"].priority < kind.priority < KINDS["terms_changed"].priority


def test_each_customer_left_out_has_one_reason() -> None:
    customers = [
        customer(1),
        customer(2, active=False),
        customer(3, deleted=True),
        customer(4, "not an address"),
        customer(5, newsletter=False, optin=True),
        customer(6, "Gone@Example.com"),
        customer(7, "bounced@example.com"),
    ]
    memory = plan.Memory(
        unsubscribed=frozenset({"gone@example.com"}), suppressed=frozenset({"bounced@example.com"})
    )
    planned = batch(customers, memory)
    assert [d.customer_id for d in planned.decisions] == [1]
    assert planned.left_out == {
        plan.INACTIVE: 2,
        plan.INVALID: 1,
        plan.NO_CONSENT: 1,
        plan.UNSUBSCRIBED: 1,
        plan.SUPPRESSED: 1,
    }


def test_the_audience_decides_which_consent_counts_and_the_basis_is_stored() -> None:
    optin_only = customer(1, newsletter=False, newsletter_date_add=None, optin=True)
    both = customer(2, optin=True)
    assert [d.customer_id for d in batch([optin_only, both]).decisions] == [2]
    planned = batch([optin_only, both], audience="newsletter_or_optin")
    assert [d.consent for d in planned.decisions] == [
        "optin=1",
        "newsletter=1 since 2026-05-01T10:00:00+00:00",
    ]
    assert [d.customer_id for d in batch([optin_only, both], audience="optin").decisions] == [1, 2]


def test_guests_who_agreed_are_included_but_one_address_gets_one_email() -> None:
    account = customer(1, "Zofia@example.com")
    guest = customer(2, "zofia@example.com ", is_guest=True)
    other_guest = customer(3, is_guest=True)
    planned = batch([account, guest, other_guest])
    assert [d.customer_id for d in planned.decisions] == [1, 3]
    assert planned.left_out == {plan.DUPLICATE: 1}
    # An address already given to another customer by an earlier batch (or run) counts the same.
    later = batch([guest], plan.Memory(taken={"zofia@example.com": 1}))
    assert later.decisions == [] and later.left_out == {plan.DUPLICATE: 1}


def test_a_rerun_skips_the_customers_already_queued_without_calling_them_left_out() -> None:
    key = plan.campaign_key("black-friday-2026", 1)
    assert key == "campaign:black-friday-2026:1"
    planned = batch(
        [customer(1), customer(2)], plan.Memory(queued_keys=frozenset({key}), taken={"c1@example.com": 1})
    )
    assert [d.customer_id for d in planned.decisions] == [2]
    assert planned.already == 1 and not planned.left_out


def test_the_language_filter_and_the_default_languages_text() -> None:
    polish, english, german = customer(1), customer(2, id_lang=1), customer(3, id_lang=9)
    planned = batch([polish, english, german], texts={"pl": PL})
    assert [d.language for d in planned.decisions] == ["pl", "pl", "pl"]
    assert planned.languages == {"pl": 3} and planned.fallbacks == {"en": 1}  # id 9: the default itself
    filtered = batch([polish, english], languages=("en",))
    assert [(d.customer_id, d.language) for d in filtered.decisions] == [(2, "en")]
    assert filtered.left_out == {plan.LANGUAGE: 1}
    assert filtered.decisions[0].context["campaign"] == {
        "name": "black-friday-2026",
        "subject": EN.subject,
        "body": EN.body,
    }


@pytest.mark.parametrize(
    ("last_order", "reason"),
    [
        (None, plan.ORDERED),
        (NOW - timedelta(days=400), plan.ORDERED),  # older than the window
        (NOW - timedelta(days=90), None),
        (NOW - timedelta(days=59), plan.NOT_ORDERED),
        (NOW - timedelta(days=1), plan.NOT_ORDERED),
    ],
)
def test_the_order_filters(last_order: datetime | None, reason: str | None) -> None:
    filters = campaign(ordered_within_days=365, not_ordered_within_days=60)
    assert plan.order_window_start(filters, NOW) == NOW - timedelta(days=365)
    assert plan.order_reason(last_order, filters, NOW) == reason
    orders = {} if last_order is None else {1: last_order}
    planned = plan.plan_batch([customer(1)], filters, RULES, plan.Memory(), orders)
    assert planned.left_out == ({reason: 1} if reason else {})
    assert plan.order_window_start(campaign(), NOW) is None


def test_each_email_is_a_marketing_row_with_its_consent_and_its_customer() -> None:
    [decision] = batch([customer(42, firstname="Zofia", lastname="Żółkiewska")]).decisions
    assert decision.key == "campaign:black-friday-2026:42" and decision.kind == CAMPAIGN
    assert decision.category == "marketing" and decision.customer_id == 42
    assert decision.recipient_name == "Zofia Żółkiewska" and decision.not_before == NOW
    assert decision.context["customer"] == {
        "first_name": "Zofia",
        "last_name": "Żółkiewska",
        "email": "c42@example.com",
    }
    assert "personal_code" not in decision.context and "code" not in decision.context


def test_a_personal_code_is_requested_not_created() -> None:
    [decision] = batch([customer(1)], discount=PERSONAL).decisions
    assert decision.context["personal_code"] == {
        "prefix": "BF2026",
        "percent": "10",
        "amount": None,
        "valid_days": 7,
        "minimum_amount": "100",
        "free_shipping": False,
        "description": "campaign black-friday-2026",
        "name": "Prezent",
    }
    assert "code" not in decision.context and decision.expires_at is None
    english = batch([customer(1, id_lang=1)], discount=dataclasses.replace(PERSONAL, prefix="BF"))
    assert english.decisions[0].context["personal_code"]["name"] == "black-friday-2026"
    assert english.decisions[0].context["personal_code"]["prefix"] == "BF"


def test_a_shared_code_is_in_the_context_and_the_email_expires_with_it() -> None:
    [decision] = batch([customer(1)], discount=SHARED).decisions
    assert decision.context["code"] == {
        "code": "ZIMA",
        "percent": None,
        "amount": "20",
        "currency": "PLN",
        "minimum_amount": None,
        "free_shipping": True,
        "valid_until": "2026-12-31T22:59:59+00:00",  # the end of its last day in Warsaw
    }
    assert decision.expires_at == datetime(2026, 12, 31, 22, 59, 59, tzinfo=UTC)
    by_days = plan.shared_code(dataclasses.replace(SHARED, valid_until=None, valid_days=3), RULES)
    assert by_days["valid_until"] == "2026-11-30T09:00:00+00:00"
    no_end = plan.shared_code(dataclasses.replace(SHARED, valid_until=None), RULES)
    assert no_end["valid_until"] == ""


@pytest.mark.parametrize(
    ("name", "prefix"),
    [("black-friday-2026", "BF2026"), ("Zima_2027 promo", "Z2027P"), ("---", "CODE"), ("a" * 64, "A")],
)
def test_the_default_prefix_is_readable(name: str, prefix: str) -> None:
    assert default_prefix(name) == prefix


def test_a_missing_section_matters_only_without_the_default_languages() -> None:
    assert plan.missing_sections(campaign(), ["pl", "en", "de"], "pl") == []
    only_en = campaign(texts={"en": EN})
    assert plan.missing_sections(only_en, ["pl", "en"], "pl") == ["pl"]
    assert plan.missing_sections(dataclasses.replace(only_en, languages=("en",)), ["pl", "en"], "pl") == []


@pytest.mark.parametrize(
    ("count", "ahead", "room", "per_day", "days"),
    [
        (0, 5, 100, 320, 0),
        (10, 0, 100, 320, 1),
        (90, 10, 100, 320, 1),
        (91, 10, 100, 320, 2),
        (5000, 0, 320, 320, 16),
        (5000, 0, 0, 320, 17),  # today's share is spent: the first day sends nothing
    ],
)
def test_the_days_a_campaign_takes(count: int, ahead: int, room: int, per_day: int, days: int) -> None:
    assert plan.days_needed(count, ahead, room, per_day) == days


def test_each_email_keeps_its_audience_and_withdrawing_that_consent_stops_it() -> None:
    [decision] = batch([customer(1, optin=True)]).decisions
    assert decision.context["audience"] == ["newsletter"]
    assert plan.audience_lost(decision.context, customer(1, optin=True)) is None
    lost = plan.audience_lost(decision.context, customer(1, newsletter=False, optin=True))
    assert lost is not None and "newsletter=0" in lost and "audience is newsletter" in lost
    [either] = batch([customer(1, optin=True)], audience="newsletter_or_optin").decisions
    assert plan.audience_lost(either.context, customer(1, newsletter=False, optin=True)) is None
    assert plan.audience_lost({}, customer(1, newsletter=False)) is None  # not a campaign's context
