"""The terms watch's rules on plain data: what counts as a change, the baseline, the notices' keys and who
gets one."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from bridge.model.cms import CmsPage
from bridge.model.kinds import TERMS_CHANGED
from bridge.model.records import Customer
from bridge.plan import terms

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
LANGS = {1: "en", 2: "pl"}
PAGE = CmsPage(
    3,
    True,
    titles={1: "Terms and conditions of use", 2: "Regulamin"},
    contents={1: "<p>Rule 1: be nice.</p>", 2: "<p>Zasada 1: bądź miły.</p>"},
)


def customer(customer_id: int, **changes: object) -> Customer:
    base = Customer(
        id=customer_id,
        id_lang=2,
        email=f"c{customer_id}@example.com",
        firstname="Ala",
        lastname="Nowak",
        id_gender=0,
        newsletter=False,
        newsletter_date_add=None,
        optin=False,
        is_guest=False,
        active=True,
        deleted=False,
        date_add=None,
        date_upd=None,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_markup_spacing_and_entities_are_not_a_change() -> None:
    original = "<p>Zasada 1: bądź miły &amp; uprzejmy.</p>"
    resaved = (
        '<div class="rte">\n  <p>Zasada&nbsp;1:   bądź <strong>miły</strong> &amp; uprzejmy.</p>\n</div>'
    )
    assert terms.text_hash(original) == terms.text_hash(resaved)
    assert terms.text_hash(original) != terms.text_hash("<p>Zasada 1: bądź miły.</p>")
    assert terms.normalise("<p>a &lt;b&gt; c</p>") == "a <b> c"  # escaped text stays text


def test_the_first_look_is_a_baseline_and_a_change_names_its_languages() -> None:
    hashes = terms.page_hashes(PAGE, LANGS)
    mark, changed = terms.compare(None, hashes, now=NOW)
    assert not changed and mark.change is None and set(mark.hashes) == {"en", "pl"}

    same, changed = terms.compare(mark, hashes, now=NOW)
    assert not changed and same == mark

    edited = dataclasses.replace(PAGE, contents={**PAGE.contents, 2: "<p>Zasada 1: zmieniona.</p>"})
    new_mark, changed = terms.compare(mark, terms.page_hashes(edited, LANGS), now=NOW)
    assert changed and new_mark.change is not None
    assert new_mark.change.languages == ("pl",)
    assert new_mark.change.hash == terms.change_hash(new_mark.hashes)

    # A second edit before the notices went: a new change, which still names the first's language.
    again = dataclasses.replace(edited, contents={**edited.contents, 1: "<p>Rule 1: changed.</p>"})
    later, changed = terms.compare(new_mark, terms.page_hashes(again, LANGS), now=NOW)
    assert changed and later.change is not None
    assert later.change.languages == ("en", "pl") and later.change.hash != new_mark.change.hash

    # Nothing changed since: the pending change stays.
    kept, changed = terms.compare(later, later.hashes, now=NOW)
    assert not changed and kept.change == later.change


def test_a_notice_per_account_holder_in_their_language_keyed_by_page_change_and_customer() -> None:
    rules = terms.NoticeRules(
        "https://sklep.example.pl/", "pl", terms.day_start(date(2026, 12, 21), ZoneInfo("Europe/Warsaw"))
    )
    people = [
        customer(1),
        customer(2, id_lang=1),
        customer(3, is_guest=True),
        customer(4, active=False),
        customer(5, deleted=True),
        customer(6, email="not-an-address"),
        customer(7, id_lang=9),  # a language the shop no longer has: the default
    ]
    decisions = terms.plan_notices(people, PAGE, "terms", "abc123", LANGS, rules)

    assert [d.customer_id for d in decisions] == [1, 2, 6, 7]
    by_id = {d.customer_id: d for d in decisions}
    assert by_id[1].key == "terms_changed:page:3:change:abc123:customer:1"
    assert (
        by_id[1].kind == TERMS_CHANGED and by_id[1].language == "pl" and by_id[1].category == "transactional"
    )
    assert by_id[1].context["page"] == {
        "name": "terms",
        "title": "Regulamin",
        "url": "https://sklep.example.pl/index.php?controller=cms&id_cms=3&id_lang=2",
    }
    assert by_id[1].context["date"] == "2026-12-21T00:00:00+01:00"
    assert by_id[2].language == "en" and by_id[2].context["page"]["title"] == "Terms and conditions of use"
    assert not by_id[6].sends and "no valid email address" in (by_id[6].skip_reason or "")
    assert by_id[7].language == "pl" and by_id[7].context["page"]["title"] == "Regulamin"
    assert terms.per_language(people, LANGS, "pl") == {"pl": 3, "en": 1}


def test_days_at_the_budget() -> None:
    assert terms.days_needed(0, 320) == 0
    assert terms.days_needed(320, 320) == 1
    assert terms.days_needed(50_000, 320) == 157
    assert terms.default_effective(date(2026, 12, 7)) == date(2026, 12, 21)
