"""Abandoned-cart reminders end to end: the demo shop's customers leave carts, `sync` runs as time moves,
and the loopback Gmail-like server shows what reached whom (issue 7).

Real parts only: the webservice simulator over HTTP, SMTP with STARTTLS and AUTH, an SQLite file, the
injected clock. Each test moves the clock to just before and just after the moments that matter.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.message import EmailMessage

from bridge.cycle import carts as cart_watch
from bridge.simulator import Simulator
from bridge.simulator.actions import PostalAddress, Shop
from bridge.simulator.demo_shop import BOWL, MUG, MUG_HONEY, PLATE, VASE
from bridge.state.carts import series_of
from bridge.state.outbox import OutboxRow, Status, list_rows
from tests.conftest import World, bridge_settings, html_of, text_of

WARSAW = PostalAddress("ul. Marszałkowska 10/4", "00-590", "Warszawa", phone="+48 600 700 800")
UNSUBSCRIBE_URL = "http://127.0.0.1:8787/unsubscribe"
ZOFIA = "zofia@example.com"


def marketing(world: World, **extra: str) -> World:
    """The owner turned marketing mail on (UNSUBSCRIBE_URL) with these settings."""
    world.settings = bridge_settings(
        world.settings.prestashop_url or "",
        world.smtp,
        world.settings.state_dir,
        UNSUBSCRIBE_URL=UNSUBSCRIBE_URL,
        **extra,
    )
    return world


def started(world: World, **extra: str) -> World:
    """Marketing on, the bridge's first run (orders and carts baselined), then a minute passes."""
    marketing(world, **extra)
    summary = world.sync()
    assert summary.poll.baseline
    world.shop.advance(60)
    return world


def customer(shop: Shop, email: str = ZOFIA, *, newsletter: bool = True, **kwargs: object) -> int:
    ref = shop.register_customer(
        "Zofia", "Wiśniewska", email, address=WARSAW, newsletter=newsletter, **kwargs
    )  # type: ignore[arg-type]
    return ref.customer_id


def left_cart(shop: Shop, customer_id: int) -> int:
    return shop.create_cart(customer_id, [(MUG, 2, MUG_HONEY), (BOWL, 1)], carrier_id=2)


def at(world: World, start: datetime, offset: timedelta) -> None:
    """Move the clock to `start + offset` and run one sync there."""
    world.shop.advance(start + offset - world.clock.now())
    world.sync()


def reminders(world: World, *statuses: Status) -> list[OutboxRow]:
    rows = [row for row in list_rows(world.store, limit=1000) if row.kind == "cart_reminder"]
    rows = [row for row in rows if not statuses or row.status in statuses]
    return sorted(rows, key=lambda row: row.id)


def reminder_mail(world: World, to: str = ZOFIA) -> list[EmailMessage]:
    return [m for m in world.mail_to(to) if m["List-Unsubscribe"] and "koszyk" in html_of(m).lower()]


def H(hours: float) -> timedelta:
    return timedelta(hours=hours)


# --- the series and its timings ---------------------------------------------------------------------


def test_a_left_cart_gets_three_reminders_at_1h_24h_and_72h_and_nothing_more(world: World) -> None:
    shop = started(world).shop
    cart = left_cart(shop, customer(shop))
    left = world.clock.now()

    at(world, left, timedelta(minutes=55))
    assert reminders(world) == []
    at(world, left, H(1) + timedelta(minutes=5))
    assert [r.context["step"] for r in reminders(world, Status.SENT)] == [1]
    at(world, left, H(23) + timedelta(minutes=55))
    assert len(reminders(world, Status.SENT)) == 1
    # Due at 24 h, but the first went at 1 h 05: at most one reminder in 24 hours, so it waits till 25 h 05.
    at(world, left, H(24) + timedelta(minutes=5))
    assert len(reminders(world, Status.SENT)) == 1
    at(world, left, H(25) + timedelta(minutes=10))
    at(world, left, H(71) + timedelta(minutes=55))
    assert [r.context["step"] for r in reminders(world, Status.SENT)] == [1, 2]
    at(world, left, H(72) + timedelta(minutes=5))
    at(world, left, H(200))
    sent = reminders(world, Status.SENT)
    assert [r.context["step"] for r in sent] == [1, 2, 3]
    assert {r.cart_id for r in sent} == {cart}
    assert len(reminder_mail(world)) == 3
    series = series_of(world.store, cart)
    assert series is not None and series.status == "done"


def test_a_reminder_shows_the_carts_products_with_prices_and_a_way_back(world: World) -> None:
    shop = started(world).shop
    cart = left_cart(shop, customer(shop))
    at(world, world.clock.now(), H(1.1))
    [mail] = reminder_mail(world)
    text, html = text_of(mail), html_of(mail)
    for part in (text, html):
        assert "Kubek ręcznie toczony" in part and "Miska na zupę" in part
    assert "227,00\xa0zł" in text  # 2 × 69 + 89, tax included, as the shop shows it
    assert "controller=cart" in html  # no SHOP_COOKIE_KEY: the cart page, the customer signs in as usual
    [row] = reminders(world, Status.SENT)
    assert row.cart_id == cart and row.consent is not None and row.consent.startswith("newsletter=1")


def test_with_the_cookie_key_the_button_is_prestashops_own_recovery_link(world: World) -> None:
    shop = started(world, SHOP_COOKIE_KEY="k" * 56).shop
    cart = left_cart(shop, customer(shop))
    at(world, world.clock.now(), H(1.1))
    [row] = reminders(world, Status.SENT)
    assert f"recover_cart={cart}&token_cart=" in row.context["cart"]["url"]
    assert row.context["cart"]["restores_session"] is True


def test_each_reminder_step_can_be_turned_off(world: World) -> None:
    shop = started(world, CART_REMINDERS="1h,off,72h").shop
    left_cart(shop, customer(shop))
    left = world.clock.now()
    for hours in (1.1, 24.1, 48, 72.1, 100):
        at(world, left, H(hours))
    assert [r.context["step"] for r in reminders(world, Status.SENT)] == [1, 3]


def test_reminders_off_means_carts_are_not_even_read(world: World, shop_server: Simulator) -> None:
    shop = started(world, CART_REMINDERS="off").shop
    left_cart(shop, customer(shop))
    at(world, world.clock.now(), H(2))
    assert reminders(world) == []
    assert [r.path for r in shop_server.requests if r.path.startswith("/api/carts")] == []


# --- what stops a series ---------------------------------------------------------------------


def test_an_order_through_the_same_cart_stops_the_series(world: World) -> None:
    shop = started(world).shop
    cart = left_cart(shop, customer(shop))
    left = world.clock.now()
    at(world, left, H(1.1))
    shop.advance(H(2))
    shop.place_order(cart, "przelewy24")
    for hours in (24.1, 72.1):
        at(world, left, H(hours))
    assert [r.context["step"] for r in reminders(world, Status.SENT)] == [1]
    series = series_of(world.store, cart)
    assert series is not None and series.status == "stopped"
    assert series.stop_reason is not None and "became order" in series.stop_reason


def test_an_order_through_another_cart_stops_the_series(world: World) -> None:
    shop = started(world).shop
    zofia = customer(shop)
    cart = left_cart(shop, zofia)
    left = world.clock.now()
    at(world, left, H(1.1))
    shop.advance(H(3))
    other = shop.create_cart(zofia, [(VASE, 1)], carrier_id=2)
    shop.place_order(other, "przelewy24")
    for hours in (24.1, 72.1):
        at(world, left, H(hours))
    assert [r.context["step"] for r in reminders(world, Status.SENT)] == [1]
    series = series_of(world.store, cart)
    assert series is not None and series.stop_reason is not None
    assert "another cart" in series.stop_reason


def test_an_emptied_cart_gets_no_more_reminders(world: World) -> None:
    shop = started(world).shop
    cart = left_cart(shop, customer(shop))
    left = world.clock.now()
    at(world, left, H(1.1))
    shop.advance(H(1))
    shop.empty_cart(cart)
    for hours in (3.5, 24.1, 27, 72.1, 80):
        at(world, left, H(hours))
    assert [r.context["step"] for r in reminders(world, Status.SENT)] == [1]
    series = series_of(world.store, cart)
    assert series is not None and series.stop_reason == "the cart was emptied"


def test_a_changed_cart_starts_a_fresh_series_with_its_new_contents(world: World) -> None:
    shop = started(world).shop
    cart = left_cart(shop, customer(shop))
    left = world.clock.now()
    at(world, left, H(1.1))
    shop.advance(H(30))  # past the 24 h per-customer gap
    shop.set_cart_items(cart, [(PLATE, 3)])
    changed = world.clock.now()
    at(world, changed, H(1.1))
    sent = reminders(world, Status.SENT)
    assert [r.context["step"] for r in sent] == [1, 1]
    assert sent[0].idempotency_key != sent[1].idempotency_key
    assert [item["quantity"] for item in sent[1].context["cart"]["items"]] == [3]
    # The old series' step 2 (due at 24 h after the first state) went out before the change? No: it was
    # due at left + 24 h = 23 h before the change; it was sent then or expired, never after the change.
    assert all(r.created_at <= changed or r.context["step"] == 1 for r in sent)


def test_a_customer_gets_at_most_one_reminder_in_24_hours_whatever_the_number_of_carts(world: World) -> None:
    shop = started(world).shop
    zofia = customer(shop)
    left_cart(shop, zofia)
    shop.advance(H(0.5))
    shop.create_cart(zofia, [(VASE, 1)], carrier_id=2)
    start = world.clock.now()
    for hours in (1.1, 2, 6, 12, 20):
        at(world, start, H(hours))
    assert len(reminders(world, Status.SENT)) == 1


def test_a_reminder_that_could_not_go_in_its_window_expires_instead_of_arriving_late(world: World) -> None:
    shop = started(world).shop
    cart = left_cart(shop, customer(shop))
    left = world.clock.now()
    at(world, left, H(0.5))
    # The bridge is down from here until 20 hours after the cart was left (CART_REMINDER_LATE_LIMIT 12h).
    at(world, left, H(20))
    assert reminders(world, Status.SENT) == []
    [expired] = reminders(world, Status.SKIPPED)
    assert expired.context == {} and "expired" in (expired.skip_reason or "")
    at(world, left, H(24.1))
    assert [r.context["step"] for r in reminders(world, Status.SENT)] == [2]
    assert series_of(world.store, cart) is not None


# --- consent ---------------------------------------------------------------------


def test_without_consent_no_reminder_is_sent_and_the_reason_is_recorded(world: World) -> None:
    shop = started(world).shop
    cart = left_cart(shop, customer(shop, newsletter=False))
    left = world.clock.now()
    for hours in (1.1, 24.1, 72.1):
        at(world, left, H(hours))
    assert reminders(world, Status.SENT) == [] and reminder_mail(world) == []
    [skipped] = reminders(world, Status.SKIPPED)
    assert "no marketing consent" in (skipped.skip_reason or "")
    series = series_of(world.store, cart)
    assert series is not None and series.status == "stopped"


def test_partner_offers_consent_counts_when_the_owner_says_so(world: World) -> None:
    shop = started(world, MARKETING_CONSENT="optin").shop
    left_cart(shop, customer(shop, newsletter=False, optin=True))
    at(world, world.clock.now(), H(1.1))
    [row] = reminders(world, Status.SENT)
    assert row.consent == "optin=1"


def test_the_owner_may_send_the_first_reminder_to_everyone_but_not_the_later_ones(world: World) -> None:
    shop = started(world, CART_REMINDER_FIRST_TO_ALL="true").shop
    left_cart(shop, customer(shop, newsletter=False))
    left = world.clock.now()
    for hours in (1.1, 24.1, 72.1):
        at(world, left, H(hours))
    [sent] = reminders(world, Status.SENT)
    assert sent.context["step"] == 1 and "CART_REMINDER_FIRST_TO_ALL" in (sent.consent or "")
    assert ["no marketing consent" in (r.skip_reason or "") for r in reminders(world, Status.SKIPPED)] == [
        True
    ]


def test_a_deleted_or_disabled_customer_gets_no_reminder(world: World) -> None:
    shop = started(world).shop
    gone = customer(shop, "gone@example.com")
    off = customer(shop, "off@example.com")
    carts = [left_cart(shop, gone), left_cart(shop, off)]
    shop.delete_customer(gone)
    shop.update_customer(off, active=False)
    at(world, world.clock.now(), H(1.1))
    assert reminders(world, Status.SENT) == []
    reasons = [series_of(world.store, cart).stop_reason for cart in carts]  # type: ignore[union-attr]
    assert "deleted" in (reasons[0] or "") and "disabled" in (reasons[1] or "")


# --- discount codes ---------------------------------------------------------------------


def discount_world(world: World) -> World:
    # The test key has every permission: the owner ticked POST on cart_rules.
    return started(world, CART_DISCOUNT="unique", CART_DISCOUNT_STEP="2", CART_DISCOUNT_PERCENT="10")


def cart_rules(shop: Shop) -> list[dict[str, object]]:
    return list(shop.state.rows("cart_rules"))


def test_a_single_use_code_is_created_once_per_customer_and_carried_from_the_second_reminder(
    world: World,
) -> None:
    shop = discount_world(world).shop
    zofia = customer(shop)
    cart = left_cart(shop, zofia)
    left = world.clock.now()
    before = len(cart_rules(shop))
    for hours in (1.1, 25.2, 72.1):
        at(world, left, H(hours))
    sent = reminders(world, Status.SENT)
    assert [r.context["step"] for r in sent] == [1, 2, 3]
    assert sent[0].context["discount"] is None
    code = sent[1].context["discount"]["code"]
    assert sent[2].context["discount"]["code"] == code
    created = cart_rules(shop)[before:]
    assert len(created) == 1 and created[0]["code"] == code and int(created[0]["id_customer"]) == zofia  # type: ignore[call-overload]
    assert code in text_of(reminder_mail(world)[1])
    # A later cart of the same customer reuses the code rather than creating another.
    shop.advance(H(24))
    left_cart(shop, zofia)
    again = world.clock.now()
    for hours in (1.1, 25.2):
        at(world, again, H(hours))
    assert len(cart_rules(shop)) == before + 1
    assert cart is not None


def test_no_code_is_created_for_a_cart_that_became_an_order(world: World) -> None:
    shop = discount_world(world).shop
    cart = left_cart(shop, customer(shop))
    left = world.clock.now()
    before = len(cart_rules(shop))
    at(world, left, H(1.1))
    shop.advance(H(5))
    shop.place_order(cart, "przelewy24")
    at(world, left, H(24.1))
    assert len(cart_rules(shop)) == before
    assert [r.context["step"] for r in reminders(world, Status.SENT)] == [1]


# --- the last check before sending ---------------------------------------------------------------------


def test_a_reminder_queued_before_the_cart_was_ordered_is_cancelled_just_before_sending(world: World) -> None:
    shop = started(world).shop
    cart = left_cart(shop, customer(shop))
    shop.advance(H(1.1))
    now = world.clock.now()
    result = cart_watch.watch_carts(world.client, world.store, world.settings, now=now, force=True)
    assert result.queued == 1
    shop.place_order(cart, "przelewy24")  # between the queueing and the sending
    world.sync()
    [row] = reminders(world)
    assert row.status is Status.CANCELLED and "became order" in (row.skip_reason or "")
    assert reminder_mail(world) == []


# --- marketing headers ---------------------------------------------------------------------


def test_a_reminder_carries_one_click_unsubscribe_headers_and_a_visible_link(world: World) -> None:
    shop = started(world).shop
    left_cart(shop, customer(shop))
    at(world, world.clock.now(), H(1.1))
    [mail] = reminder_mail(world)
    header = str(mail["List-Unsubscribe"])
    assert header.startswith(f"<{UNSUBSCRIBE_URL}?t=") and "<mailto:" in header
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = header.split(">")[0].lstrip("<")
    assert link.replace("&", "&amp;") in html_of(mail) or link in html_of(mail)
    assert link in text_of(mail)


def test_without_an_unsubscribe_url_no_marketing_mail_is_sent_at_all(world: World) -> None:
    summary = world.sync()  # marketing stays off: UNSUBSCRIBE_URL is empty
    assert summary.poll.baseline
    shop = world.shop
    left_cart(shop, customer(shop))
    at(world, world.clock.now(), H(2))
    assert reminders(world) == []


def test_a_cart_left_minutes_before_the_first_run_is_history_and_gets_no_reminder(world: World) -> None:
    marketing(world)
    shop = world.shop
    cart = left_cart(shop, customer(shop))
    shop.advance(timedelta(minutes=5))
    assert world.sync().poll.baseline
    left = world.clock.now()
    for hours in (1.1, 25.2, 72.1):
        at(world, left, H(hours))
    assert reminders(world) == []
    assert series_of(world.store, cart) is None
