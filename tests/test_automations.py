"""Birthday and win-back emails end to end (issue 18 "Automations"): the demo shop behind the real
simulator, `sync` as the clock moves, the loopback Gmail-like server showing what reached whom.

The shop's time zone is Europe/Warsaw (UTC+1 in winter): the hours below are the shop's, and the tests move
the clock to just before and just after them.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest

from bridge.simulator import Simulator
from bridge.simulator.actions import Shop
from bridge.simulator.demo_shop import BOWL, MUG, MUG_HONEY
from bridge.state import automations as memory
from bridge.state.outbox import OutboxRow, Status, list_rows
from tests.conftest import World, html_of, text_of
from tests.smtp_server import TRY_AGAIN_LATER
from tests.test_cart_reminders import customer, marketing

SHOP_ZONE = ZoneInfo("Europe/Warsaw")
ZOFIA = "zofia@example.com"
BORN = date(1990, 11, 28)  # the day after the tests' first day (27 November 2026)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHOP_ZONE)


def sync_at(world: World, when: datetime) -> None:
    """Move the clock to `when` and run one sync there."""
    world.shop.advance(when - world.clock.now())
    world.sync()


def rows(world: World, kind: str, *statuses: Status, of: int | None = None) -> list[OutboxRow]:
    """The outbox rows of `kind` (of one customer), oldest first. The demo shop's own customers have orders
    of their own: a win-back test names its customer."""
    found = [row for row in list_rows(world.store, limit=5000) if row.kind == kind]
    found = [row for row in found if of is None or row.customer_id == of]
    return sorted((row for row in found if not statuses or row.status in statuses), key=lambda row: row.id)


def mails(world: World, kind: str, to: str | None = None) -> list[EmailMessage]:
    """The emails of `kind` the SMTP server got (their X-Bridge-Key names the idempotency key)."""
    return [
        m
        for m in world.mail()
        if f" {kind}:" in str(m["X-Bridge-Key"] or "") and (to is None or to in str(m["To"]))
    ]


def born_customer(shop: Shop, email: str, birthday: date | None, **kwargs: object) -> int:
    return customer(shop, email, birthday=birthday, **kwargs)


# --- birthdays ------------------------------------------------------------------------------------------


def test_a_birthday_is_greeted_once_on_the_day_from_the_hour_in_the_shops_time_zone_and_again_next_year(
    world: World,
) -> None:
    marketing(world, BIRTHDAY_EMAILS="on", BIRTHDAY_HOUR="9")
    zofia = born_customer(world.shop, "zofia@example.com", BORN)
    jan = born_customer(world.shop, "jan@example.com", None)  # 0000-00-00: no birthday known
    ewa = born_customer(world.shop, "ewa@example.com", date(1985, 11, 27))
    born_customer(world.shop, "olivia@example.com", BORN.replace(year=1999), language="en")
    world.sync()  # 27 November, 10:00 in Warsaw: the first run only notes the day
    assert rows(world, "birthday") == []
    sync_at(world, local(date(2026, 11, 27), 23, 59))
    assert rows(world, "birthday", of=ewa) == []  # her birthday is today: the first run's day sends nothing

    day = BORN.replace(year=2026)
    sync_at(world, local(day, 8, 59))  # 07:59 UTC, 08:59 in the shop: not yet
    assert rows(world, "birthday", of=zofia) == []
    sync_at(world, local(day, 9))  # 08:00 UTC, 09:00 in the shop: the hour
    [row] = rows(world, "birthday", of=zofia)
    assert row.idempotency_key == f"birthday:2026:customer:{zofia}" and row.status is Status.SENT
    assert row.customer_id == zofia and (row.consent or "").startswith("newsletter=1")
    assert row.expires_at == local(day + timedelta(days=1), 0)
    [mail] = mails(world, "birthday", ZOFIA)
    assert mail["Subject"] == "Wszystkiego najlepszego z okazji urodzin, Zofia"
    assert mail["List-Unsubscribe"] and mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Dziś Twoje urodziny!" in text_of(mail) and "Dziś Twoje urodziny!" in html_of(mail)
    assert "kod rabatowy" not in text_of(mail).lower()  # no BIRTHDAY_DISCOUNT: no code promised
    [olivia] = mails(world, "birthday", "olivia@example.com")  # in her language
    assert olivia["Subject"] == "Happy birthday, Zofia"

    for hours in (1, 14, 24):  # later that day, the next day
        sync_at(world, local(day, 9) + timedelta(hours=hours))
    assert len(mails(world, "birthday", ZOFIA)) == 1

    sync_at(world, local(day.replace(year=2027), 9, 30))
    keys = {r.idempotency_key for r in rows(world, "birthday", Status.SENT)}  # last year's row is purged
    assert {f"birthday:2026:customer:{zofia}", f"birthday:2027:customer:{zofia}"} <= keys
    assert len(mails(world, "birthday", ZOFIA)) == 2
    assert rows(world, "birthday", of=jan) == []


def test_someone_born_on_29_february_is_greeted_on_28_february_in_a_common_year(world: World) -> None:
    marketing(world, BIRTHDAY_EMAILS="on")
    leapling = born_customer(world.shop, "zofia@example.com", date(2004, 2, 29))
    world.sync()
    sync_at(world, local(date(2027, 2, 27), 12))
    assert rows(world, "birthday", of=leapling) == []
    sync_at(world, local(date(2027, 2, 28), 9))
    [row] = rows(world, "birthday", Status.SENT, of=leapling)
    assert row.idempotency_key == f"birthday:2027:customer:{leapling}"
    sync_at(world, local(date(2027, 3, 1), 9))
    assert len(rows(world, "birthday", of=leapling)) == 1


def test_a_birthday_the_bridge_was_down_for_is_not_greeted_a_day_late(world: World) -> None:
    marketing(world, BIRTHDAY_EMAILS="on")
    zofia = born_customer(world.shop, "zofia@example.com", BORN)
    world.sync()  # the 27th
    sync_at(world, local(BORN.replace(year=2026) + timedelta(days=1), 9, 30))  # back on the 29th
    assert rows(world, "birthday", of=zofia) == [] and mails(world, "birthday", ZOFIA) == []


def test_a_birthday_without_consent_sends_nothing_and_says_why(world: World) -> None:
    marketing(world, BIRTHDAY_EMAILS="on")
    refused = born_customer(world.shop, "zofia@example.com", BORN, newsletter=False)
    world.sync()
    sync_at(world, local(BORN.replace(year=2026), 10))
    [row] = rows(world, "birthday", of=refused)
    assert row.status is Status.SKIPPED
    assert "no marketing consent" in (row.skip_reason or "")
    assert mails(world, "birthday", ZOFIA) == []


def test_birthdays_are_off_by_default(world: World) -> None:
    marketing(world)
    born_customer(world.shop, "zofia@example.com", BORN)
    world.sync()
    sync_at(world, local(BORN.replace(year=2026), 10))
    assert rows(world, "birthday") == []


def test_a_birthday_code_is_created_at_send_time_for_that_customer_only(world: World) -> None:
    marketing(world, BIRTHDAY_EMAILS="on", BIRTHDAY_DISCOUNT="15%", BIRTHDAY_DISCOUNT_DAYS="10")
    zofia = born_customer(world.shop, "zofia@example.com", BORN)
    world.sync()
    sync_at(world, local(BORN.replace(year=2026), 9))
    [row] = rows(world, "birthday", Status.SENT, of=zofia)
    assert row.context["personal_code"]["percent"] == "15"
    assert row.context["personal_code"]["valid_days"] == 10
    [mail] = mails(world, "birthday", ZOFIA)
    [rule] = [r for r in world.shop.state.rows("cart_rules") if r["id_customer"] == zofia]
    assert rule["code"].startswith("URODZINY") and rule["code"] in text_of(mail)
    assert rule["quantity"] == 1 and rule["quantity_per_user"] == 1
    assert mail["Subject"] == "Wszystkiego najlepszego, Zofia – mamy dla Ciebie prezent"
    assert "15% zniżki" in text_of(mail)


# --- win-back -------------------------------------------------------------------------------------------

N = 12  # WINBACK_AFTER_DAYS in these tests: short, so a test syncs a few weeks of days, not months


def bought(shop: Shop, customer_id: int) -> int:
    """A paid order (Przelewy24 validates it at once)."""
    cart = shop.create_cart(customer_id, [(MUG, 1, MUG_HONEY), (BOWL, 1)], carrier_id=2)
    return shop.place_order(cart, "przelewy24")


def daily(world: World, first: date, last: date, hour: int = 11) -> None:
    """One sync a day, at `hour` in the shop, from `first` to `last`."""
    day = first
    while day <= last:
        sync_at(world, local(day, hour))
        day += timedelta(days=1)


def test_a_winback_goes_exactly_n_days_after_the_last_order_once(world: World) -> None:
    marketing(world, WINBACK_AFTER_DAYS=str(N), WINBACK_HOUR="10")
    world.sync()  # 27 November, 10:00: the watch's baseline
    world.shop.advance(timedelta(minutes=5))
    zofia = customer(world.shop, "zofia@example.com")
    order_id = bought(world.shop, zofia)
    placed = date(2026, 11, 27)
    daily(world, placed + timedelta(days=1), placed + timedelta(days=N - 1))
    sync_at(world, local(placed + timedelta(days=N), 9, 59))
    assert rows(world, "winback", of=zofia) == []
    sync_at(world, local(placed + timedelta(days=N), 10))
    [row] = rows(world, "winback", Status.SENT, of=zofia)
    assert row.idempotency_key == f"winback:customer:{zofia}:order:{order_id}"
    assert row.order_id == order_id and (row.consent or "").startswith("newsletter=1")
    [mail] = mails(world, "winback", "zofia@example.com")
    assert mail["Subject"] == "Dawno Cię u nas nie było, Zofia"
    assert "Od Twojego ostatniego zamówienia z 27 listopada 2026" in text_of(mail)
    assert mail["List-Unsubscribe"]
    daily(world, placed + timedelta(days=N + 1), placed + timedelta(days=2 * N + 5))
    assert (
        len(rows(world, "winback", of=zofia)) == 1 and len(mails(world, "winback", "zofia@example.com")) == 1
    )


def test_a_customer_who_ordered_since_gets_none_until_the_new_order_is_n_days_old(world: World) -> None:
    marketing(world, WINBACK_AFTER_DAYS=str(N))
    world.sync()
    world.shop.advance(timedelta(minutes=5))
    zofia = customer(world.shop, "zofia@example.com")
    bought(world.shop, zofia)
    first = date(2026, 11, 27)
    daily(world, first + timedelta(days=1), first + timedelta(days=7))
    again = bought(world.shop, zofia)  # 4 December: she came back
    daily(world, first + timedelta(days=8), first + timedelta(days=N + 7 - 1))
    assert rows(world, "winback", of=zofia) == []  # 27 December passed: she ordered since
    sync_at(world, local(first + timedelta(days=N + 7), 11))
    [row] = rows(world, "winback", Status.SENT, of=zofia)
    assert row.idempotency_key == f"winback:customer:{zofia}:order:{again}"


def test_customers_past_the_mark_when_the_watch_starts_get_none_those_who_reach_it_later_do(
    world: World,
) -> None:
    start = world.clock.now()
    history = customer(world.shop, "dawna@example.com")
    with world.shop.at(start - timedelta(days=N + 3)):
        bought(world.shop, history)  # lapsed before the bridge watched: history
    recent = customer(world.shop, "zofia@example.com")
    with world.shop.at(start - timedelta(days=N - 2)):
        bought(world.shop, recent)  # reaches the mark in two days
    marketing(world, WINBACK_AFTER_DAYS=str(N))
    world.sync()  # first contact: the baseline
    daily(world, date(2026, 11, 28), date(2026, 11, 28) + timedelta(days=N))
    assert rows(world, "winback", of=history) == []
    [row] = rows(world, "winback", Status.SENT, of=recent)
    assert row.not_before.date() == date(2026, 11, 29)
    assert mails(world, "winback", "dawna@example.com") == []
    assert len(mails(world, "winback", "zofia@example.com")) == 1


def test_a_winback_is_skipped_without_consent_and_turning_it_off_forgets_the_baseline(world: World) -> None:
    marketing(world, WINBACK_AFTER_DAYS=str(N))
    world.sync()
    world.shop.advance(timedelta(minutes=5))
    refused = customer(world.shop, "zofia@example.com", newsletter=False)
    bought(world.shop, refused)
    daily(world, date(2026, 11, 28), date(2026, 11, 27) + timedelta(days=N))
    [row] = rows(world, "winback", of=refused)
    assert row.status is Status.SKIPPED and "no marketing consent" in (row.skip_reason or "")
    assert mails(world, "winback", "zofia@example.com") == []

    marketing(world, WINBACK_AFTER_DAYS="0")
    world.sync()
    with world.store.read() as conn:
        assert memory.last_day(conn, memory.WINBACK_DAY) is None  # on again: a new baseline, no backlog


def test_a_downtime_of_a_few_days_is_caught_up(world: World) -> None:
    marketing(world, WINBACK_AFTER_DAYS=str(N))
    world.sync()
    world.shop.advance(timedelta(minutes=5))
    zofia = customer(world.shop, "zofia@example.com")
    bought(world.shop, zofia)
    mark = date(2026, 11, 27) + timedelta(days=N)
    daily(world, date(2026, 11, 28), mark - timedelta(days=3))
    sync_at(world, local(mark + timedelta(days=2), 11))  # away for four days: the mark's day is caught up
    [row] = rows(world, "winback", Status.SENT, of=zofia)
    assert row.not_before.date() == mark + timedelta(days=2)


def test_a_shop_error_in_a_pass_is_logged_and_the_day_is_tried_again_next_poll(
    world: World, shop_server: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    marketing(world, BIRTHDAY_EMAILS="on")
    zofia = born_customer(world.shop, "zofia@example.com", BORN)
    world.sync()
    shop_server.faults.next("500", resource="customers")
    sync_at(world, local(BORN.replace(year=2026), 9))
    assert rows(world, "birthday", of=zofia) == []
    assert "birthday emails: this pass failed, the next poll tries again" in caplog.text
    sync_at(world, local(BORN.replace(year=2026), 9, 1))
    assert [row.status for row in rows(world, "birthday", of=zofia)] == [Status.SENT]


def test_a_winback_waiting_in_the_queue_is_not_sent_once_the_customer_ordered_again(world: World) -> None:
    marketing(world, WINBACK_AFTER_DAYS=str(N))
    world.sync()
    world.shop.advance(timedelta(minutes=5))
    zofia = customer(world.shop, "zofia@example.com")
    bought(world.shop, zofia)
    placed = date(2026, 11, 27)
    daily(world, placed + timedelta(days=1), placed + timedelta(days=N - 1))
    world.smtp.script.next_reply("MAIL", TRY_AGAIN_LATER)  # Gmail refuses for now: the win-back waits
    sync_at(world, local(placed + timedelta(days=N), 11))
    [waiting] = rows(world, "winback", of=zofia)
    assert waiting.status is Status.RETRY
    again = bought(world.shop, zofia)  # she comes back before the retry
    sync_at(world, local(placed + timedelta(days=N), 12))
    [row] = rows(world, "winback", of=zofia)
    assert row.status is Status.CANCELLED, row
    assert mails(world, "winback", "zofia@example.com") == []
    assert row.skip_reason == f"not sent: the customer ordered again (order #{again})"
