"""Abandoned-cart reminders planned on plain data (bridge.plan.carts): which step is due, late or expired,
which customers may be written to, what the reminder shows, and what an order stops.

The default reminder plan is the owner's default: 1 h, 24 h and 72 h after the cart's last change, each
allowed to go out at most 12 h late. The default cart was left two hours before NOW."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from bridge.model.cursors import CartCursors
from bridge.model.records import Cart, CartProduct
from bridge.plan import carts as plan
from bridge.plan.rules import Decision
from tests.builders import (
    BOWL,
    CUSTOMER_ID,
    EN,
    FRONT_URL,
    MUG,
    NOW,
    REMINDERS,
    ago,
    cart,
    cart_cursors,
    cart_product,
    cart_settings,
    catalogue,
    customer,
    due_facts,
    later,
    order,
    profile,
    reachable,
    series,
    without_consent,
)

LEFT = ago(hours=2)  # when the default cart was last changed


def at(hours: float) -> datetime:
    """`hours` after the default cart was left."""
    return LEFT + timedelta(hours=hours)


def started(*carts: Cart, now: datetime = NOW, steps_done: int = 0) -> plan.PassStart:
    """A pass over open series of `carts` (none of them changed since the last pass)."""
    open_series = {c.id: series(c, steps_done=steps_done) for c in carts}
    return plan.start_pass([], open_series, open_series, cart_cursors(), REMINDERS, now)


def chosen_for(
    *carts: Cart,
    settings: plan.CartSettings | None = None,
    memory: plan.Reachable | None = None,
    facts: plan.DueFacts | None = None,
    now: datetime = NOW,
    steps_done: int = 0,
) -> tuple[plan.CartPlan, list[Any]]:
    start = started(*carts, now=now, steps_done=steps_done)
    return plan.choose(
        start, facts or due_facts(*carts), memory or reachable(), settings or cart_settings(), now
    )


def reminded(
    *carts: Cart,
    settings: plan.CartSettings | None = None,
    memory: plan.Reachable | None = None,
    products: Mapping[int, Mapping[int, CartProduct]] | None = None,
    now: datetime = NOW,
    steps_done: int = 0,
) -> plan.CartPlan:
    """The whole pass for `carts`, from their verdicts to the reminders."""
    rules = settings or cart_settings()
    known = memory or reachable()
    result, chosen = chosen_for(*carts, settings=rules, memory=known, now=now, steps_done=steps_done)
    return plan.reminders(result, chosen, products or catalogue(), known, profile(), rules, now)


def only(emails: list[Decision]) -> Decision:
    assert len(emails) == 1, emails
    return emails[0]


# --- which step is due -----------------------------------------------------------------------------------


def test_no_reminder_before_the_first_delay() -> None:
    verdict = plan.evaluate(series(cart()), REMINDERS, at(0.5))
    assert (verdict.due, verdict.expired, verdict.finished) == (None, [], False)


def test_the_first_reminder_is_due_an_hour_after_the_cart_was_left() -> None:
    verdict = plan.evaluate(series(cart()), REMINDERS, at(1))
    assert (verdict.due, verdict.due_at, verdict.expires_at) == (1, at(1), at(13))


def test_a_reminder_may_not_go_out_after_the_next_one_is_due() -> None:
    tight = plan.Plan(delays=(timedelta(hours=1), timedelta(hours=3)), late_limit=timedelta(hours=12))
    assert plan.evaluate(series(cart()), tight, at(2)).expires_at == at(3)


def test_a_cart_reminder_that_missed_its_window_expires_instead_of_arriving_late() -> None:
    verdict = plan.evaluate(series(cart()), REMINDERS, at(14))
    assert (verdict.due, verdict.expired, verdict.steps_done) == (None, [(1, at(1))], 1)


def test_after_downtime_the_customer_gets_the_reminder_that_fits_the_carts_age() -> None:
    verdict = plan.evaluate(series(cart()), REMINDERS, at(25))
    assert (verdict.expired, verdict.due, verdict.expires_at) == ([(1, at(1))], 2, at(36))


def test_a_step_the_owner_turned_off_is_never_due() -> None:
    no_second = plan.Plan(
        delays=(timedelta(hours=1), None, timedelta(hours=72)), late_limit=timedelta(hours=12)
    )
    verdict = plan.evaluate(series(cart(), steps_done=1), no_second, at(30))
    assert (verdict.due, verdict.expired) == (None, [])
    assert plan.evaluate(series(cart(), steps_done=1), no_second, at(72)).due == 3


def test_a_series_whose_last_steps_all_expired_is_finished_with_them_recorded() -> None:
    verdict = plan.evaluate(series(cart(), steps_done=1), REMINDERS, at(200))
    assert (verdict.finished, verdict.expired, verdict.steps_done) == (True, [(2, at(24)), (3, at(72))], 3)
    assert plan.evaluate(series(cart(), steps_done=3), REMINDERS, at(100)) == plan.Verdict(finished=True)


# --- keys and links ------------------------------------------------------------------------------------


def test_a_reminder_is_keyed_by_its_cart_the_carts_state_and_its_step() -> None:
    assert plan.reminder_key(77, LEFT, 2) == f"cart_reminder:cart:77:at:{int(LEFT.timestamp())}:step:2"
    assert plan.reminder_key(77, LEFT, 2) != plan.reminder_key(77, at(3), 2)


def test_with_the_shops_cookie_key_the_button_restores_the_cart_as_prestashop_signs_it() -> None:
    token = hashlib.md5(b"cookiekey123recover_cart_77", usedforsecurity=False).hexdigest()
    assert plan.recovery_token("cookiekey123", 77) == token
    assert plan.cart_link(FRONT_URL, 77, "cookiekey123") == (
        f"{FRONT_URL}/index.php?controller=order&step=1&recover_cart=77&token_cart={token}",
        True,
    )


def test_without_the_cookie_key_the_button_opens_the_cart_page_and_signs_nobody_in() -> None:
    assert plan.cart_link(FRONT_URL + "/", 77, None) == (
        f"{FRONT_URL}/index.php?controller=cart&action=show",
        False,
    )


# --- the start of a pass -------------------------------------------------------------------------------


def test_a_new_cart_starts_a_series_at_its_last_change() -> None:
    left = cart(77)
    start = plan.start_pass([left], {}, {}, cart_cursors(), REMINDERS, NOW)
    assert start.restarted == {77: plan.Series(77, CUSTOMER_ID, LEFT, "open", 0)}
    assert start.verdicts[77].due == 1
    assert set(start.due) == {77}


def test_a_cart_changed_after_a_reminder_starts_its_series_again() -> None:
    stored = {77: series(cart(77, updated_at=ago(hours=30)), steps_done=1)}
    start = plan.start_pass([cart(77)], stored, stored, cart_cursors(), REMINDERS, NOW)
    assert start.series[77] == plan.Series(77, CUSTOMER_ID, LEFT, "open", 0)


def test_a_cart_read_again_in_the_overlap_keeps_its_series() -> None:
    stored = {77: series(cart(77), steps_done=1)}
    start = plan.start_pass([cart(77)], stored, stored, cart_cursors(), REMINDERS, NOW)
    assert start.restarted == {}
    assert start.series[77].steps_done == 1
    assert start.due == {}


def test_the_cart_cursor_moves_to_the_newest_change_read_but_never_past_now() -> None:
    start = plan.start_pass(
        [cart(77), cart(78, updated_at=ago(minutes=1))], {}, {}, cart_cursors(), REMINDERS, NOW
    )
    assert (start.cursors.changed_up_to, start.cursors.checked_at) == (ago(minutes=1), NOW)
    skewed = plan.start_pass([cart(79, updated_at=later(minutes=3))], {}, {}, cart_cursors(), REMINDERS, NOW)
    assert skewed.cursors.changed_up_to == NOW


def test_carts_are_read_again_ten_minutes_behind_the_cursor_but_never_before_the_baseline() -> None:
    cursors = cart_cursors(changed_up_to=ago(hours=1))
    assert plan.changed_since(cursors) == ago(hours=1, minutes=10)
    fresh_start = CartCursors(
        changed_up_to=ago(minutes=2), checked_at=ago(minutes=2), baseline_at=ago(minutes=5)
    )
    assert plan.changed_since(fresh_start) == ago(minutes=5)


def test_only_carts_of_known_customers_changed_since_the_baseline_are_watched() -> None:
    baseline = ago(hours=3).replace(microsecond=250_000)
    same_second = cart(80, updated_at=baseline.replace(microsecond=0))
    carts = [cart(77), cart(78, customer_id=0), cart(79, updated_at=ago(days=2)), same_second]
    assert [c.id for c in plan.worth_watching(carts, baseline)] == [77, 80]


# --- who gets a reminder ---------------------------------------------------------------------------------


def test_a_due_reminder_goes_to_a_customer_who_agreed_to_the_newsletter() -> None:
    result, chosen = chosen_for(cart(77))
    assert [(c.cart.id, c.step) for c in chosen] == [(77, 1)]
    assert chosen[0].basis.startswith("newsletter=1 since ")
    assert (result.skips, result.stops) == ([], {})


def test_no_consent_is_skipped_with_the_reason_and_the_series_stopped() -> None:
    result, chosen = chosen_for(cart(77), facts=due_facts(cart(77), customers=[without_consent()]))
    reason = "no marketing consent (newsletter=0, optin=0; MARKETING_CONSENT)"
    assert chosen == []
    assert [(d.key, d.skip_reason, d.consent) for d in result.skips] == [
        (plan.reminder_key(77, LEFT, 1), reason, "none")
    ]
    assert result.stops == {77: ("stopped", reason)}
    assert result.steps == {77: 1}


def test_first_to_all_sends_step_1_without_consent_and_records_the_basis() -> None:
    _, chosen = chosen_for(
        cart(77),
        settings=cart_settings(first_to_all=True),
        facts=due_facts(cart(77), customers=[without_consent()]),
    )
    assert [(c.step, c.basis) for c in chosen] == [(1, plan.FIRST_WITHOUT_CONSENT)]


def test_first_to_all_sends_no_second_reminder_without_consent() -> None:
    result, chosen = chosen_for(
        cart(77),
        settings=cart_settings(first_to_all=True),
        facts=due_facts(cart(77), customers=[without_consent()]),
        now=at(25),
        steps_done=1,
    )
    assert chosen == []
    assert 77 in result.stops


def test_a_customer_reminded_in_the_last_24_h_waits() -> None:
    result, chosen = chosen_for(cart(77), memory=reachable(last_reminder={CUSTOMER_ID: ago(hours=20)}))
    assert (chosen, result.postponed, result.stops, result.skips) == ([], 1, {}, [])


def test_a_customer_with_two_due_carts_gets_one_reminder_for_the_older_one() -> None:
    older, newer = cart(77, updated_at=ago(hours=3)), cart(78)
    result, chosen = chosen_for(older, newer, facts=due_facts(older, newer))
    assert [c.cart.id for c in chosen] == [77]
    assert result.postponed == 1


def test_a_cart_that_became_an_order_stops_its_series() -> None:
    placed = order(1042)
    result, chosen = chosen_for(cart(77), facts=due_facts(cart(77), ordered={77: placed}))
    assert chosen == []
    assert result.stops == {77: ("stopped", f"the cart became order {placed.reference}")}


def test_a_cart_deleted_in_the_shop_stops_its_series() -> None:
    result, _ = chosen_for(cart(77), facts=due_facts())
    assert result.stops[77] == ("stopped", "the cart no longer exists in the shop")


def test_an_emptied_cart_stops_its_series() -> None:
    emptied = cart(77, rows=[])
    result, _ = chosen_for(emptied, facts=due_facts(emptied))
    assert result.stops[77] == ("stopped", "the cart was emptied")


def test_a_cart_changed_since_it_was_listed_waits_for_its_new_series_instead_of_a_stale_reminder() -> None:
    listed = cart(77)
    changed_since = cart(77, updated_at=ago(minutes=5))
    result, chosen = chosen_for(listed, facts=due_facts(changed_since))
    assert chosen == []
    assert (result.postponed, result.stops) == (1, {})


def test_a_cart_emptied_after_it_was_listed_is_not_stopped_as_no_longer_sold() -> None:
    emptied_since = cart(77, updated_at=ago(minutes=5), rows=[])
    result, chosen = chosen_for(cart(77), facts=due_facts(emptied_since))
    assert (chosen, result.stops, result.postponed) == ([], {}, 1)


def test_a_customer_who_ordered_through_another_cart_gets_no_reminder() -> None:
    other = order(1042, placed_at=ago(minutes=30))
    result, _ = chosen_for(cart(77), facts=due_facts(cart(77), later_orders={CUSTOMER_ID: [other]}))
    assert result.stops[77] == (
        "stopped",
        f"the customer ordered through another cart (order {other.reference})",
    )


def test_an_order_placed_before_the_cart_was_left_does_not_stop_it() -> None:
    earlier = order(1042, placed_at=ago(days=3))
    _, chosen = chosen_for(cart(77), facts=due_facts(cart(77), later_orders={CUSTOMER_ID: [earlier]}))
    assert len(chosen) == 1


def test_a_deleted_customer_stops_the_series_with_a_reason() -> None:
    result, _ = chosen_for(cart(77), facts=due_facts(cart(77), customers=[customer(deleted=True)]))
    assert result.stops[77] == ("stopped", "customer #7 was deleted in the shop")


def test_a_disabled_account_gets_no_marketing_mail() -> None:
    result, _ = chosen_for(cart(77), facts=due_facts(cart(77), customers=[customer(active=False)]))
    assert result.stops[77] == ("stopped", "customer #7 is disabled in the shop")


def test_an_unsubscribed_address_stops_the_series_with_why() -> None:
    blocked = reachable(unsubscribed={"malgorzata.lecka@example.com": "unsubscribed on 2026-11-20"})
    result, _ = chosen_for(
        cart(77),
        facts=due_facts(cart(77), customers=[customer(email=" Malgorzata.Lecka@example.com")]),
        memory=blocked,
    )
    assert result.stops[77] == ("stopped", "unsubscribed on 2026-11-20")


def test_expired_steps_are_recorded_as_not_sent_never_sent_late() -> None:
    result, chosen = chosen_for(cart(77), now=at(25))
    assert [(d.key, d.skip_reason) for d in result.skips] == [
        (
            plan.reminder_key(77, LEFT, 1),
            f"expired: due at {at(1):%Y-%m-%d %H:%M} UTC, and the bridge could not send it in time",
        )
    ]
    assert [c.step for c in chosen] == [2]


def test_expired_skips_name_each_expired_step_of_each_series() -> None:
    start = started(cart(77), cart(78, customer_id=8), now=at(100))
    keys = [d.key for d in plan.expired_skips(start, at(100))]
    assert keys == [plan.reminder_key(c, LEFT, s) for c in (77, 78) for s in (1, 2, 3)]


# --- the reminder ------------------------------------------------------------------------------------------


def test_the_reminder_is_a_marketing_email_with_its_basis_and_window() -> None:
    result = reminded(cart(77))
    email = only(result.emails)
    assert (email.key, email.kind, email.category, email.cart_id, email.customer_id) == (
        plan.reminder_key(77, LEFT, 1),
        "cart_reminder",
        "marketing",
        77,
        CUSTOMER_ID,
    )
    assert (email.not_before, email.expires_at) == (NOW, at(13))
    assert email.consent is not None and email.consent.startswith("newsletter=1")
    assert (email.recipient_email, email.language) == ("malgorzata.lecka@example.com", "pl")
    assert result.steps == {77: 1}


def test_the_reminder_shows_the_carts_lines_and_total_as_the_shop_prices_them() -> None:
    context = only(reminded(cart(77)).emails).context
    assert [(i["name"], i["quantity"], i["total"]["amount"]) for i in context["cart"]["items"]] == [
        ("Kubek ręcznie toczony", 2, "138.00"),
        ("Miska na zupę „Złota Łąka”", 1, "89.00"),
    ]
    assert context["cart"]["total"] == {"amount": "227.00", "currency": "PLN"}
    assert context["cart"]["items"][0]["url"].endswith(f"id_product={MUG}&id_product_attribute=1")
    assert (context["step"], context["discount"]) == (1, None)


def test_product_names_follow_the_customers_language() -> None:
    english = customer(id_lang=EN)
    result, chosen = chosen_for(cart(77), facts=due_facts(cart(77), customers=[english]))
    plan.reminders(result, chosen, catalogue(), reachable(), profile(), cart_settings(), NOW)
    email = only(result.emails)
    assert email.language == "en"
    assert email.context["cart"]["items"][0]["name"] == "Hand-thrown mug"


def test_a_product_no_longer_sold_or_priced_is_left_out_of_the_reminder() -> None:
    for mug in (cart_product(MUG, active=False), cart_product(MUG, prices={2: Decimal("69.00")})):
        items = only(reminded(cart(77), products=catalogue(mug, cart_product(BOWL))).emails).context["cart"][
            "items"
        ]
        assert [i["name"] for i in items] == ["Miska na zupę „Złota Łąka”"]


def test_a_cart_of_products_no_longer_sold_stops_its_series() -> None:
    result = reminded(
        cart(77), products=catalogue(cart_product(MUG, active=False), cart_product(BOWL, active=False))
    )
    assert result.emails == []
    assert result.stops[77] == ("stopped", "none of the cart's products is still sold in the shop")


def test_a_cart_in_a_currency_the_shop_dropped_stops_its_series() -> None:
    result = reminded(cart(77, currency_id=9), products=catalogue(currency_id=9))
    assert result.emails == []
    assert 77 in result.stops


def test_product_images_use_the_shops_public_image_urls_when_turned_on() -> None:
    items = only(reminded(cart(77), settings=cart_settings(product_images="home_default")).emails).context[
        "cart"
    ]["items"]
    assert items[0]["image_url"] == f"{FRONT_URL}/img/p/1/0/10-home_default.jpg"


# --- discount codes -----------------------------------------------------------------------------------------


def test_a_shared_code_rides_from_the_discount_step_on() -> None:
    shared = cart_settings(discount="shared", shared_code="WRACAJ10", discount_step=2)
    assert only(reminded(cart(77), settings=shared).emails).context["discount"] is None
    second = only(reminded(cart(77), settings=shared, now=at(25), steps_done=1).emails)
    assert second.context["discount"] == {
        "code": "WRACAJ10",
        "percent": "",
        "amount": None,
        "valid_until": "",
    }


def test_a_missing_code_becomes_a_code_needed_effect_and_with_code_fills_it_in() -> None:
    unique = cart_settings(discount="unique", discount_step=1, discount_percent=Decimal("12.50"))
    result = reminded(cart(77), settings=unique)
    assert result.codes_needed == [plan.CodeNeeded(CUSTOMER_ID, 77, later(days=7))]
    email = only(result.emails)
    assert email.context["discount"] is None
    issued = plan.IssuedCode(CUSTOMER_ID, "ZL-7K3Q9", 55, 77, later(days=7))
    filled = plan.with_code(email, issued, Decimal("12.50"))
    assert filled.context["discount"] == {
        "code": "ZL-7K3Q9",
        "percent": "12.5",
        "amount": None,
        "valid_until": later(days=7).isoformat(),
    }
    assert email.context["discount"] is None  # the planned email is left as it was
    assert plan.with_code(email, None, Decimal(10)).context["discount"] is None  # creating it failed


def test_a_customers_existing_code_is_shown_again() -> None:
    issued = plan.IssuedCode(CUSTOMER_ID, "ZL-7K3Q9", 55, 70, later(days=3))
    unique = cart_settings(discount="unique", discount_step=1)
    result = reminded(cart(77), settings=unique, memory=reachable(codes=[issued]))
    assert result.codes_needed == []
    assert only(result.emails).context["discount"]["code"] == "ZL-7K3Q9"


def test_an_expired_single_use_code_is_not_replaced() -> None:
    expired = plan.IssuedCode(CUSTOMER_ID, "ZL-7K3Q9", 55, 70, ago(days=1))
    unique = cart_settings(discount="unique", discount_step=1)
    result = reminded(cart(77), settings=unique, memory=reachable(codes=[expired]))
    assert result.codes_needed == []
    assert only(result.emails).context["discount"] is None


# --- orders stop reminders ----------------------------------------------------------------------------------


def test_an_order_stops_its_carts_series_and_the_customers_older_carts() -> None:
    open_series = {
        77: series(cart(77)),
        70: series(cart(70, updated_at=ago(days=2))),
        79: series(cart(79, updated_at=later(hours=1))),  # changed after the order: a new purchase
        88: series(cart(88, customer_id=8)),
    }
    placed = order(1042, id_cart=77, placed_at=NOW)
    assert plan.stops_for_orders(open_series, [placed]) == {
        77: f"the cart became order {placed.reference}",
        70: f"the customer ordered through another cart (order {placed.reference})",
    }


def test_a_guest_checkout_stops_no_customers_reminders() -> None:
    open_series = {77: series(cart(77, customer_id=0))}
    assert plan.stops_for_orders(open_series, [order(1042, id_cart=77, customer_id=0)]) == {}


# --- as a whole -------------------------------------------------------------------------------------------


def test_planning_twice_gives_the_same_keys() -> None:
    carts = (cart(77), cart(78, customer_id=8, updated_at=ago(hours=26)))
    people = [customer(), customer(8)]

    def keys() -> list[tuple[str, str | None]]:
        result, chosen = chosen_for(*carts, facts=due_facts(*carts, customers=people))
        plan.reminders(result, chosen, catalogue(), reachable(), profile(), cart_settings(), NOW)
        return [(d.key, d.skip_reason) for d in [*result.skips, *result.emails]]

    assert keys() == keys()
    assert len(keys()) == 3  # 78: step 1 expired, step 2 due; 77: step 1 due
