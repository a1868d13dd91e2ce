"""The new-product digest end to end (issue 18): the demo shop's merchant adds and switches on products,
`sync` runs as the clock moves through the shop's days, and the loopback Gmail-like server shows who got
which digest. Real parts only: the webservice simulator over HTTP, SMTP with STARTTLS and AUTH, an SQLite
file, the injected clock.

The clock starts on Friday 27 November 2026, 09:00 UTC: 10:00 in the shop (Europe/Warsaw, UTC+1).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage

import pytest

from bridge.commands.news import news_status
from bridge.cycle import news as news_pass
from bridge.shop import new_products as news_reads
from bridge.simulator import Simulator
from bridge.simulator.actions import Language, Shop, net_from_gross
from bridge.simulator.demo_shop import MUG, WORKSHOP
from bridge.state import news as news_state
from bridge.state import unsubscribes
from bridge.state.outbox import OutboxRow, Status, list_rows
from tests.conftest import World, html_of, text_of
from tests.test_cart_reminders import customer, marketing

MALGORZATA = "malgorzata.lecka@example.com"  # Polish, subscribed to the newsletter
EMILY = "emily.clarke@example.com"  # English, newsletter and partners' offers
PAWEL = "pawel.zolkiewski@example.com"  # no consent at all
SUBSCRIBERS = (MALGORZATA, EMILY)
FRIDAY = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)  # 10:00 in Warsaw


def started(world: World, **extra: str) -> World:
    """Marketing on, new-product news on (daily at 10:00 unless `extra` says otherwise), the first run
    (every watch baselined), then a minute passes."""
    marketing(world, NEW_PRODUCTS=extra.pop("NEW_PRODUCTS", "daily"), **extra)
    assert world.sync().poll.baseline
    world.shop.advance(60)
    return world


def at(world: World, when: datetime) -> None:
    """Move the clock to `when` (UTC) and run one sync there."""
    world.shop.advance(when - world.clock.now())
    world.sync()


def product(
    shop: Shop,
    name: str,
    gross: str = "123.00",
    *,
    active: bool = True,
    visibility: str = "both",
    short: Mapping[Language, str] | None = None,
) -> int:
    """A product the merchant creates now: Polish and English names, a price with 23 % VAT, a photo."""
    product_id = shop.add_product(
        {"pl": name, "en": f"{name} (EN)"},
        net_from_gross(gross, 23),
        tax_rate=23,
        active=active,
        visibility=visibility,
        short_descriptions=short or {"pl": f"<p>Opis: {name}</p>", "en": f"<p>About {name}</p>"},
    )
    shop.state.update("products", product_id, id_default_image=product_id)
    return product_id


def digests(world: World, *statuses: Status) -> list[OutboxRow]:
    rows = [row for row in list_rows(world.store, limit=1000) if row.kind == "new_products"]
    return sorted((r for r in rows if not statuses or r.status in statuses), key=lambda r: r.id)


def digest_mail(world: World, to: str | None = None) -> list[EmailMessage]:
    """The digests the SMTP server received (each carries its idempotency key in X-Bridge-Key)."""
    found = [m for m in world.mail() if "new_products:" in str(m["X-Bridge-Key"] or "")]
    return [m for m in found if to is None or to in str(m["To"])]


def plain(message: EmailMessage) -> str:
    """The text part with plain spaces (Polish money has a no-break space before `zł`) and plain lines."""
    return text_of(message).replace("\xa0", " ").replace("\r\n", "\n")


# --- what a digest lists ------------------------------------------------------------------------------------


def test_the_digest_lists_exactly_the_products_that_went_on_sale_with_picture_price_and_link(
    world: World,
) -> None:
    shop = started(world).shop
    jug = product(
        shop, "Dzbanek Wrzos", "149.00", short={"pl": "<p>Kamionka <b>szkliwiona</b> &amp; lśniąca</p>"}
    )
    catalog_only = product(shop, "Talerz Len", "89.00", visibility="catalog")
    product(shop, "Szkic", "10.00", active=False)  # a draft, not on sale
    product(shop, "Ukryty", "10.00", visibility="none")
    product(shop, "Tylko w wyszukiwarce", "10.00", visibility="search")
    shop.edit_product(MUG, price=Decimal("60"))  # on sale before the bridge looked: not news
    at(world, FRIDAY + timedelta(days=1))  # Saturday 10:00 in the shop

    assert {m["To"].addresses[0].addr_spec for m in digest_mail(world)} == set(SUBSCRIBERS)
    [polish] = digest_mail(world, MALGORZATA)
    text, html = plain(polish), html_of(polish)
    assert polish["Subject"] == "2 nowe produkty w sklepie Pracownia Ceramiki Złota Łąka"
    assert "Dzbanek Wrzos: 149,00 zł" in text and "Talerz Len: 89,00 zł" in text
    assert "Kamionka szkliwiona & lśniąca" in text and "<b>" not in text
    for unwanted in ("Szkic", "Ukryty", "Tylko w wyszukiwarce", "Kubek"):
        assert unwanted not in text
    assert f"controller=product&id_product={jug}&id_lang=2" in text
    assert f"controller=product&amp;id_product={catalog_only}&amp;id_lang=2" in html
    assert f"/img/p/{'/'.join(str(jug))}/{jug}-small_default.jpg" in html
    assert "controller=new-products&id_lang=2" in text
    [english] = digest_mail(world, EMILY)
    assert "Dzbanek Wrzos (EN): PLN 149.00" in plain(english)
    assert "About Talerz Len" in plain(english)


def test_a_hostile_product_name_and_description_are_text_and_a_huge_one_is_cut(world: World) -> None:
    shop = started(world).shop
    description = (
        "<script>alert(1)</script><style>p{}</style><a href='javascript:alert(2)'>Klik</a> " + "Ż" * 5000
    )
    product(shop, "<img src=x onerror=alert(3)>{{ 7*7 }}", short={"pl": description})
    at(world, FRIDAY + timedelta(days=1))
    [polish] = digest_mail(world, MALGORZATA)
    text, html = plain(polish), html_of(polish)
    assert "&lt;img src=x onerror=alert(3)&gt;{{ 7*7 }}" in html and "49" not in html
    assert "<img src=x" not in html and "<script" not in html and "javascript:" not in html
    assert "alert(1)" not in text and "alert(2)" not in text and "Klik" in text
    [line] = [line for line in text.splitlines() if "Klik" in line]
    assert len(line.strip()) <= 200 and line.rstrip().endswith("…")


def test_a_digest_says_how_many_more_products_there_are_beyond_its_limit(world: World) -> None:
    shop = started(world, NEW_PRODUCTS_LIMIT="2").shop
    for name in ("Pierwszy", "Drugi", "Trzeci"):
        product(shop, name)
        shop.advance(60)
    at(world, FRIDAY + timedelta(days=1))
    [polish] = digest_mail(world, MALGORZATA)
    text = plain(polish)
    assert "Trzeci" in text and "Drugi" in text and "Pierwszy" not in text  # the newest first
    assert "jeszcze 1 nowy produkt znajdziesz na naszej stronie nowości" in text
    assert "pojawiły się 3 nowe produkty" in text


def test_nothing_new_sends_nothing_and_an_edit_of_a_product_on_sale_is_not_news(world: World) -> None:
    shop = started(world).shop
    shop.edit_product(MUG, texts={"description_short": {"pl": "Nowy opis", "en": "New text"}})
    for day in range(1, 4):
        at(world, FRIDAY + timedelta(days=day))
    assert digests(world) == [] and digest_mail(world) == []


def test_the_first_digest_after_the_baseline_never_lists_the_catalogue(world: World) -> None:
    shop = world.shop
    for product_id in range(1, 12):  # the whole demo catalogue saved just before the bridge's first run
        shop.edit_product(product_id)
    started(world)
    new = product(shop, "Nowość")
    at(world, FRIDAY + timedelta(days=1))
    [polish] = digest_mail(world, MALGORZATA)
    assert "pojawił się nowy produkt" in plain(polish) and "Nowość" in plain(polish)
    with world.store.read() as conn:
        assert news_state.count_known(conn) == (11, 1)
        assert news_state.known(conn, [new]) == {new}


# --- when ---------------------------------------------------------------------------------------------------


def test_a_daily_digest_goes_at_its_hour_in_the_shops_time_zone_once_a_day(world: World) -> None:
    shop = started(world, NEW_PRODUCTS_HOUR="11").shop
    product(shop, "Wazon")
    at(world, FRIDAY + timedelta(minutes=59))  # 10:59 in Warsaw, 09:59 UTC
    assert digest_mail(world) == []
    at(world, FRIDAY + timedelta(hours=1))  # 11:00 in Warsaw: 10:00 UTC, before 11 anywhere else
    assert len(digest_mail(world)) == 2
    product(shop, "Misa")
    at(world, FRIDAY + timedelta(hours=5))  # later the same day: the day's digest went already
    assert len(digest_mail(world)) == 2
    at(world, FRIDAY + timedelta(days=1, hours=1))  # Saturday 11:00: Misa
    assert len(digest_mail(world)) == 4
    assert "Misa" in plain(digest_mail(world, MALGORZATA)[-1])


def test_a_weekly_digest_goes_on_its_weekday_only(world: World) -> None:
    shop = started(world, NEW_PRODUCTS="weekly", NEW_PRODUCTS_WEEKDAY="monday").shop
    product(shop, "Czajnik")
    for day in (1, 2):  # Saturday, Sunday
        at(world, FRIDAY + timedelta(days=day))
    assert digest_mail(world) == []
    at(world, FRIDAY + timedelta(days=3, minutes=-1))  # Monday 09:59 in Warsaw
    assert digest_mail(world) == []
    at(world, FRIDAY + timedelta(days=3))  # Monday 10:00
    [polish] = digest_mail(world, MALGORZATA)
    assert polish["Subject"] == "Nowość w sklepie Pracownia Ceramiki Złota Łąka: Czajnik"
    assert "Nowości tygodnia" in html_of(polish)
    for day in (4, 5, 6, 7, 8, 9):
        product(shop, f"Kubek {day}")
        at(world, FRIDAY + timedelta(days=day))
    assert len(digest_mail(world, MALGORZATA)) == 1
    at(world, FRIDAY + timedelta(days=10))  # the next Monday: the six of the week in one digest
    last = plain(digest_mail(world, MALGORZATA)[-1])
    assert "pojawiło się 6 nowych produktów" in last


def test_a_bridge_down_for_a_week_sends_one_digest_not_seven(world: World) -> None:
    shop = started(world).shop
    for day in range(1, 8):
        with shop.at(FRIDAY + timedelta(days=day, hours=-5)):
            product(shop, f"Produkt {day}")
    at(world, FRIDAY + timedelta(days=7, hours=1))
    [polish] = digest_mail(world, MALGORZATA)
    assert "pojawiło się 7 nowych produktów" in plain(polish)
    assert len({row.idempotency_key.split(":")[1] for row in digests(world)}) == 1
    status = news_status(world.store, world.settings)
    assert status is not None
    assert status.line() == (
        "daily at 10:00 (shop time); watching since 2026-11-27 09:00 UTC; last digest 2026-12-04: 2 sent,"
        " 0 waiting, 0 skipped, 0 cancelled or failed; 7 product(s) announced"
    )


def test_a_digest_is_queued_once_per_day_whatever_the_restarts(world: World) -> None:
    shop = started(world).shop
    product(shop, "Dzbanek")
    at(world, FRIDAY + timedelta(days=1))
    for minutes in (1, 2, 30):  # each sync is a new Cycle over the same store: a restarted bridge
        at(world, FRIDAY + timedelta(days=1, minutes=minutes))
    assert len(digests(world)) == 2 and len(digest_mail(world)) == 2


# --- to whom ------------------------------------------------------------------------------------------------


def test_only_newsletter_subscribers_get_it_and_an_unsubscribed_address_is_skipped_with_a_reason(
    world: World,
) -> None:
    shop = started(world).shop
    customer(shop, "optin.only@example.com", newsletter=False, optin=True)
    customer(shop, "zofia@example.com")  # newsletter
    with world.store.transaction() as conn:
        unsubscribes.add(conn, "zofia@example.com", "link", now=world.clock.now())
    product(shop, "Dzbanek")
    at(world, FRIDAY + timedelta(days=1))
    assert {m["To"].addresses[0].addr_spec for m in digest_mail(world)} == set(SUBSCRIBERS)
    rows = {row.recipient_email: row for row in digests(world)}
    assert PAWEL not in rows and "optin.only@example.com" not in rows
    assert rows["zofia@example.com"].status is Status.SKIPPED
    assert "unsubscribed" in (rows["zofia@example.com"].skip_reason or "")
    assert (rows[MALGORZATA].consent or "").startswith("newsletter=1 since")
    [polish] = digest_mail(world, MALGORZATA)
    assert polish["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "<https://" in str(polish["List-Unsubscribe"]) or "<http://" in str(polish["List-Unsubscribe"])
    assert "Wypisz się" in html_of(polish) and "/unsubscribe?" in html_of(polish)


def test_marketing_consent_without_the_newsletter_asks_for_both(world: World) -> None:
    shop = started(world, MARKETING_CONSENT="optin").shop
    product(shop, "Dzbanek")
    at(world, FRIDAY + timedelta(days=1))
    [row] = digests(world)
    assert row.recipient_email == EMILY
    assert (row.consent or "").startswith("newsletter=1 since") and (row.consent or "").endswith("; optin=1")


def test_a_subscriber_who_leaves_the_newsletter_before_the_send_gets_nothing(world: World) -> None:
    shop = started(world, SEND_RATE_PER_MINUTE="2").shop
    for address in ("a@example.com", "b@example.com", "c@example.com"):
        customer(shop, address)  # five subscribers: two digests go this minute, three wait
    product(shop, "Dzbanek")
    at(world, FRIDAY + timedelta(days=1))
    waiting = digests(world, Status.QUEUED)
    assert waiting, "the budget should have left some digests waiting"
    shop.update_customer(waiting[0].customer_id or 0, newsletter=False, optin=True)
    shop.advance(timedelta(hours=23))
    world.sync()
    [row] = [r for r in digests(world) if r.id == waiting[0].id]
    assert row.status is Status.CANCELLED and "new-product news needs both" in (row.skip_reason or "")


def test_one_digest_per_address_when_a_guest_has_two_accounts(world: World) -> None:
    shop = started(world).shop
    customer(shop, "gosc@example.com", guest=True)
    customer(shop, "GOSC@example.com", guest=True)
    product(shop, "Dzbanek")
    at(world, FRIDAY + timedelta(days=1))
    assert len(digest_mail(world, "gosc@example.com")) + len(digest_mail(world, "GOSC@example.com")) == 1
    skipped = [row for row in digests(world, Status.SKIPPED)]
    assert len(skipped) == 1 and "same address" in (skipped[0].skip_reason or "")


# --- a product switched on later, the watch switched off ----------------------------------------------------


def test_a_product_switched_on_later_is_announced_once(world: World) -> None:
    shop = world.shop
    shop.edit_product(WORKSHOP, active=False)  # off before the bridge's first run
    started(world)
    draft = product(shop, "Zestaw prezentowy", active=False)
    at(world, FRIDAY + timedelta(days=1))
    assert digest_mail(world) == []
    shop.advance(timedelta(hours=3))
    shop.edit_product(draft, active=True)
    shop.edit_product(WORKSHOP, active=True)
    at(world, FRIDAY + timedelta(days=2))
    [polish] = digest_mail(world, MALGORZATA)
    assert "Zestaw prezentowy" in plain(polish) and "Warsztaty" in plain(polish)
    shop.edit_product(draft, active=False)
    shop.advance(60)
    shop.edit_product(draft, active=True)  # off and on again: not news a second time
    at(world, FRIDAY + timedelta(days=3))
    assert len(digest_mail(world, MALGORZATA)) == 1


def test_turning_the_digest_off_forgets_the_watch_and_on_again_starts_afresh(world: World) -> None:
    shop = started(world).shop
    marketing(world, NEW_PRODUCTS="off")
    at(world, FRIDAY + timedelta(hours=2))
    with world.store.read() as conn:
        assert news_state.load_mark(conn) is None and news_state.count_known(conn) == (0, 0)
    product(shop, "W czasie przerwy")
    at(world, FRIDAY + timedelta(days=1))
    marketing(world, NEW_PRODUCTS="daily")
    at(world, FRIDAY + timedelta(days=1, hours=1))  # the fresh baseline
    at(world, FRIDAY + timedelta(days=2))
    assert digest_mail(world) == []


# --- resilience ---------------------------------------------------------------------------------------------


def test_a_big_newsletter_is_queued_a_batch_per_transaction_and_resumed_by_the_next_poll(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(news_reads, "BATCH", 2)
    monkeypatch.setattr(news_pass, "BATCHES_PER_POLL", 1)
    shop = started(world).shop
    for address in ("a@example.com", "b@example.com", "c@example.com"):
        customer(shop, address)
    product(shop, "Dzbanek")
    at(world, FRIDAY + timedelta(days=1))
    assert len(digests(world)) == 2  # one batch this poll; the watch remembers where it stopped
    with world.store.read() as conn:
        mark = news_state.load_mark(conn)
    assert mark is not None and mark.running is not None
    for minutes in (1, 2, 3):
        at(world, FRIDAY + timedelta(days=1, minutes=minutes))
    keys = [row.idempotency_key for row in digests(world)]
    assert len(keys) == len(set(keys)) == 5
    assert len(digest_mail(world)) == 5


def test_a_shop_error_leaves_the_digest_for_the_next_poll(
    world: World, shop_server: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    shop = started(world).shop
    product(shop, "Dzbanek")
    world.shop.advance(FRIDAY + timedelta(days=1) - world.clock.now())
    shop_server.faults.next("500", resource="products")
    world.sync()  # the order pass went through; the digest's read failed and is logged
    assert digests(world) == []
    assert "new products: this pass failed, the next poll tries again" in caplog.text
    at(world, FRIDAY + timedelta(days=1, minutes=1))
    assert len(digest_mail(world)) == 2
