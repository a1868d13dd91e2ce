"""The new-product digest's rules on plain data: when a digest is due, which products are new, what it says
in each language, the short description made plain text, and who gets it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bridge.model.kinds import get_kind
from bridge.model.new_products import LiveProduct, ProductNews
from bridge.model.news_kinds import NEW_PRODUCTS
from bridge.model.records import Multilingual
from bridge.plan import news
from tests.builders import EN, FRONT_URL, PL, customer, without_consent

WARSAW = ZoneInfo("Europe/Warsaw")
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # Monday, 10:00 in Warsaw
LANGS = {EN: "en", PL: "pl"}


def rules(**changes: Any) -> news.NewsRules:
    values: dict[str, Any] = {
        "period": "daily",
        "hour": 10,
        "weekday": 0,
        "limit": 12,
        "marketing_consent": frozenset({"newsletter", "optin"}),
        "default_language": "pl",
        "front_url": FRONT_URL,
        "image_type": "small_default",
        **changes,
    }
    return news.NewsRules(**values)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A time in the shop (November/December 2026, Warsaw)."""
    return datetime(2026, 11, 1, tzinfo=WARSAW) + timedelta(days=day - 1, hours=hour, minutes=minute)


def live(product_id: int, added: datetime | None, updated: datetime | None = None) -> LiveProduct:
    return LiveProduct(product_id, added, updated or added)


def details(product_id: int, **changes: Any) -> ProductNews:
    values: dict[str, Any] = {
        "id": product_id,
        "names": Multilingual.of({EN: f"Jug {product_id}", PL: f"Dzbanek {product_id}"}),
        "descriptions": Multilingual.of({EN: "<p>Hand-thrown</p>", PL: "<p>Toczony <b>ręcznie</b></p>"}),
        "id_default_image": product_id * 10,
        "price": Decimal("149.000000"),
        "date_add": NOW,
        **changes,
    }
    return ProductNews(**values)


def digest(count: int = 2, **rule_changes: Any) -> news.Digest:
    new = [live(i, NOW - timedelta(hours=i)) for i in range(1, count + 1)]
    made = news.build_digest(
        date(2026, 11, 30),
        new,
        {p.id: details(p.id) for p in new},
        LANGS,
        rules(**rule_changes),
        since=NOW - timedelta(days=1),
        currency="PLN",
        now=NOW,
    )
    assert made is not None
    return made


# --- when ---------------------------------------------------------------------------------------------------


def test_a_daily_digest_is_due_once_its_hour_has_come_in_the_shops_time_zone() -> None:
    assert news.digest_due(local(30, 9, 59), rules(), None) is None
    assert news.digest_due(local(30, 10), rules(), None) == date(2026, 11, 30)
    assert news.digest_due(local(30, 23, 59), rules(), date(2026, 11, 29)) == date(2026, 11, 30)
    # 09:30 UTC is 10:30 in Warsaw: due; the UTC hour (9) does not count.
    assert news.digest_due(datetime(2026, 11, 30, 9, 30, tzinfo=UTC).astimezone(WARSAW), rules(), None)


def test_a_digest_is_due_once_per_day_and_after_downtime_only_today() -> None:
    assert news.digest_due(local(30, 15), rules(), date(2026, 11, 30)) is None
    assert news.digest_due(local(30, 15), rules(), date(2026, 11, 2)) == date(2026, 11, 30)


def test_a_weekly_digest_is_due_on_its_weekday_only() -> None:
    monday = rules(period="weekly", weekday=0)
    assert news.digest_due(local(30, 10), monday, date(2026, 11, 23)) == date(2026, 11, 30)
    assert news.digest_due(local(29, 12), monday, date(2026, 11, 23)) is None  # Sunday
    friday = rules(period="weekly", weekday=4)
    assert news.digest_due(local(27, 10), friday, None) == date(2026, 11, 27)


def test_a_digest_expires_when_the_next_one_is_due() -> None:
    assert digest().expires_at == NOW + timedelta(days=1)
    assert digest(period="weekly").expires_at == NOW + timedelta(days=7)


# --- which products -----------------------------------------------------------------------------------------


def test_only_products_the_watch_does_not_know_are_new_newest_first() -> None:
    changed = [
        live(1, local(1, 9)),  # live at the baseline, edited since
        live(2, local(20, 9)),
        live(3, local(2, 9), local(25, 12)),  # an old draft switched on lately: new, dated by its creation
        live(4, local(25, 9)),
        live(4, local(25, 9)),  # read twice (the window's overlap)
        live(5, None, local(26, 8)),  # no creation date: its last save places it
    ]
    found = news.fresh(changed, known={1})
    assert [p.id for p in found] == [5, 4, 2, 3]


def test_the_digest_lists_the_newest_up_to_the_limit_and_counts_the_rest() -> None:
    made = digest(5, limit=3)
    assert [p["name"] for p in made.products["pl"]] == ["Dzbanek 1", "Dzbanek 2", "Dzbanek 3"]
    assert [p["name"] for p in made.products["en"]] == ["Jug 1", "Jug 2", "Jug 3"]
    assert made.more == 2
    assert made.urls["pl"] == f"{FRONT_URL}/index.php?controller=new-products&id_lang={PL}"


def test_each_product_has_its_picture_plain_description_price_and_page_in_the_language() -> None:
    [first, _] = digest().products["pl"]
    assert first == {
        "name": "Dzbanek 1",
        "description": "Toczony ręcznie",
        "price": {"amount": "149.00", "currency": "PLN"},
        "url": f"{FRONT_URL}/index.php?controller=product&id_product=1&id_lang={PL}",
        "image_url": f"{FRONT_URL}/img/p/1/0/10-small_default.jpg",
    }


def test_without_pictures_prices_or_the_shops_address_the_product_still_reads() -> None:
    product = details(7, price=None, id_default_image=0)
    shown = news.product_context(product, PL, rules(front_url="", image_type=""), "PLN")
    assert shown == {
        "name": "Dzbanek 7",
        "description": "Toczony ręcznie",
        "price": None,
        "url": "",
        "image_url": "",
    }
    assert news.product_context(details(7, price=Decimal(0)), PL, rules(), "PLN")["price"] is None
    assert news.product_context(details(7), PL, rules(), "")["price"] is None  # currency unknown
    assert news.product_context(details(7), PL, rules(image_type=""), "PLN")["image_url"] == ""


def test_a_product_gone_before_it_could_be_read_is_left_out_and_none_left_means_no_digest() -> None:
    new = [live(1, NOW), live(2, NOW - timedelta(hours=1))]
    made = news.build_digest(
        date(2026, 11, 30), new, {2: details(2)}, LANGS, rules(), since=NOW, currency="PLN", now=NOW
    )
    assert made is not None and [p["name"] for p in made.products["pl"]] == ["Dzbanek 2"]
    nothing = news.build_digest(
        date(2026, 11, 30), new, {}, LANGS, rules(), since=NOW, currency="PLN", now=NOW
    )
    assert nothing is None


# --- the shop's HTML as plain text --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>Kubek <strong>330&nbsp;ml</strong></p><p>Do zmywarki</p>", "Kubek 330 ml Do zmywarki"),
        ("Linia 1<br>Linia 2<br/>Linia 3", "Linia 1 Linia 2 Linia 3"),
        ("<ul><li>jeden</li><li>dwa</li></ul>", "jeden dwa"),
        ("<script>alert('x')</script>Tekst<style>p{color:red}</style>", "Tekst"),
        ("&lt;b&gt;nie tag&lt;/b&gt; &amp; &#x17C;ółw", "<b>nie tag</b> & żółw"),
        ("Bidi\u202eodwrócone\u202c i\x00 kontrolne", "Bidi odwrócone i kontrolne"),
        ("<p>Niedomknięty <b>tag", "Niedomknięty tag"),
        ("", ""),
    ],
)
def test_a_short_description_becomes_its_plain_words(html: str, text: str) -> None:
    assert news.plain_text(html) == text


def test_a_long_description_is_cut_at_a_word_with_an_ellipsis() -> None:
    cut = news.plain_text("słowo " * 100, limit=40)
    assert len(cut) <= 40 and cut.endswith("słowo…") and "  " not in cut
    assert news.plain_text("x" * 300, limit=50) == "x" * 49 + "…"


# --- to whom ------------------------------------------------------------------------------------------------


def test_the_newsletter_box_is_the_consent_and_marketing_consent_may_ask_for_more() -> None:
    assert (news.news_consent(customer(), {"newsletter", "optin"}) or "").startswith("newsletter=1 since")
    assert news.news_consent(without_consent(optin=True), {"newsletter", "optin"}) is None
    assert news.news_consent(customer(), {"optin"}) is None
    both = news.news_consent(customer(optin=True), {"optin"})
    assert both is not None and both.endswith("; optin=1")


def running(**rule_changes: Any) -> news.Running:
    return news.Running(digest(**rule_changes), after_customer=0)


def test_each_subscriber_gets_the_digest_in_their_language_keyed_by_day_and_customer() -> None:
    people = [customer(7), customer(8, id_lang=EN), customer(9, id_lang=99)]
    decisions = news.plan_batch(people, running(), rules(), LANGS, blocked={}, already=set(), now=NOW)
    assert [d.key for d in decisions] == [f"new_products:2026-11-30:customer:{i}" for i in (7, 8, 9)]
    assert [d.language for d in decisions] == ["pl", "en", "pl"]
    first = decisions[0]
    assert first.kind == NEW_PRODUCTS and first.category == "marketing" and first.sends
    assert first.customer_id == 7 and (first.consent or "").startswith("newsletter=1 since")
    assert first.expires_at == NOW + timedelta(days=1) and first.not_before == NOW
    assert set(first.context) == get_kind(NEW_PRODUCTS).required_keys
    assert first.context["date"] == (NOW - timedelta(days=1)).isoformat()
    assert first.context["products"][0]["name"] == "Dzbanek 1"
    assert decisions[1].context["products"][0]["name"] == "Jug 1"
    assert first.context["url"].endswith(f"id_lang={PL}") and decisions[1].context["url"].endswith(
        "id_lang=1"
    )


def test_a_language_added_after_the_digest_was_built_gets_the_default_languages_digest_whole() -> None:
    german = customer(9, id_lang=3)
    [decision] = news.plan_batch(
        [german], running(), rules(), {**LANGS, 3: "de"}, blocked={}, already=set(), now=NOW
    )
    assert decision.language == "pl" and decision.context["products"][0]["name"] == "Dzbanek 1"
    assert decision.context["url"].endswith(f"id_lang={PL}")


def test_who_cannot_be_written_to_is_recorded_as_skipped_with_the_reason() -> None:
    people = [
        customer(7, email="not-an-address"),
        customer(8, email="gone@example.com"),
        customer(9, active=False),
        without_consent(10, email="c10@example.com"),
        customer(11, email="twice@example.com"),
        customer(12, email=" Twice@Example.com "),
        customer(13, email="before@example.com"),
    ]
    decisions = news.plan_batch(
        people,
        running(),
        rules(),
        LANGS,
        blocked={"gone@example.com": "g***@example.com unsubscribed from marketing mail"},
        already={"before@example.com"},
        now=NOW,
    )
    why = {d.customer_id: d.skip_reason for d in decisions}
    assert "no valid email address" in (why[7] or "")
    assert "unsubscribed" in (why[8] or "")
    assert "disabled" in (why[9] or "")
    assert "new-product news needs both" in (why[10] or "")
    assert why[11] is None
    assert why[12] == why[13] == "another account with the same address gets this digest"
    assert all(d.consent == "none" for d in decisions if not d.sends)
