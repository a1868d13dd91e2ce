"""Terms changed, end to end: the owner is told of a real change of a terms page (never of a re-saved one),
and only `bridge notify-terms --yes` tells the customers, paced within the daily budget and resumable.

Real parts throughout: the simulator's demo shop over HTTP (its default CMS pages), the Gmail-like SMTP
server, a SQLite store and a ManualClock shared by the shop and the bridge.
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pytest
import requests

from bridge.commands import terms as command
from bridge.commands.check import check_shop
from bridge.commands.status import gather
from bridge.config.parse import parse_address
from bridge.model.kinds import OWNER_TERMS_CHANGED, TERMS_CHANGED
from bridge.secret import Secret
from bridge.shop import cms
from bridge.shop.client import ShopClient
from bridge.simulator.server import Simulator
from bridge.state import outbox
from bridge.state.outbox import OutboxRow, Status, list_rows
from tests.conftest import SHOP_KEY, World, html_of, text_of

OWNER = "wlascicielka@example.com"
# The demo shop's customers with an account: active, not guests, not deleted (3 Polish, 1 English).
TOLD = {
    "malgorzata.lecka@example.com",
    "pawel.zolkiewski@example.com",
    "emily.clarke@example.com",
    "tomasz.wasik@example.com",
}
TERMS_PL = '<h1 class="page-heading">Regulamin</h1><h3>Zasada 1</h3><p>{}</p><h3>Zasada 2</h3><p>{}</p>'
LOREM = "Lorem ipsum dolor sit amet, consectetur adipiscing elit."


class Stop(Exception):
    """The queueing killed between two batches."""


@pytest.fixture
def watched(world: World) -> World:
    """ADMIN_EMAIL and TERMS_PAGES set, and the baseline taken (the pages' first look alerts nothing)."""
    settings = dataclasses.replace(
        world.settings,
        admin_email=parse_address(f"Właścicielka <{OWNER}>"),
        terms_pages=(("terms", 3), ("privacy", 2)),
    )
    world = dataclasses.replace(world, settings=settings)
    world.sync()
    assert rows(world, OWNER_TERMS_CHANGED) == []
    return world


def rows(world: World, *kinds: str) -> list[OutboxRow]:
    return [r for r in list_rows(world.store, limit=1000) if r.kind in kinds]


def notify(world: World, **options: object) -> list[str]:
    return list(command.notify_terms(world.client, world.store, world.settings, world.clock, **options))  # type: ignore[arg-type]


def notices_to(world: World) -> dict[str, list[object]]:
    """The terms notices each address received (by subject: the page's title)."""
    found: dict[str, list[object]] = {}
    for message in world.mail():
        subject = str(message["Subject"])
        if "Regulamin" in subject or "Terms and conditions" in subject:
            address = message["To"].addresses[0].addr_spec
            if address != OWNER:
                found.setdefault(address, []).append(message)
    return found


def change_terms(world: World) -> None:
    world.shop.edit_cms_page(3, {"pl": TERMS_PL.format(LOREM, "Zwrot w ciągu 30 dni.")})
    world.clock.advance(60)


def test_the_simulator_serves_cms_pages_with_multilingual_fields(shop_server: Simulator) -> None:
    http = requests.Session()
    http.auth = (SHOP_KEY, "")
    one = http.get(
        f"{shop_server.url}/api/content_management_system/3", params={"output_format": "JSON"}, timeout=10
    ).json()["content"]
    assert list(one)[:5] == ["id", "id_cms_category", "position", "indexation", "active"]
    assert {"id": "2", "value": "Regulamin"} in one["meta_title"] or {"id": 2, "value": "Regulamin"} in one[
        "meta_title"
    ]
    listed = http.get(
        f"{shop_server.url}/api/content_management_system", params={"output_format": "JSON"}, timeout=10
    ).json()["content_management_system"]
    assert [int(row["id"]) for row in listed] == [1, 2, 3, 4, 5]


def test_a_re_saved_page_is_no_change_and_a_real_change_alerts_the_owner_once(watched: World) -> None:
    world = watched
    # The editor re-saves the page: other markup and spacing, the same words.
    resaved = (
        '<div class="rte">\n<h1>Regulamin</h1>\n<h3>Zasada&nbsp;1</h3>  <p><em>{}</em></p>'
        "<h3>Zasada 2</h3><p>{}</p></div>"
    )
    world.shop.edit_cms_page(3, {"pl": resaved.format(LOREM, LOREM)})
    world.clock.advance(60)
    world.sync()
    assert rows(world, OWNER_TERMS_CHANGED) == [] and world.mail_to(OWNER) == []

    change_terms(world)
    world.sync()
    world.sync()  # the same change is not news twice

    [alert] = world.mail_to(OWNER)
    assert "Regulamin" in str(alert["Subject"])
    text = text_of(alert)
    assert "pl" in text and "bridge notify-terms --yes" in text
    assert "Klienci z kontem, do których trafiłoby powiadomienie: 4" in text
    assert "terms" in html_of(alert)
    assert rows(world, TERMS_CHANGED) == [] and notices_to(world) == {}
    status = gather(world.store, world.settings, now=world.clock.now())
    assert status.terms is not None and status.terms.pending == (("terms", ("pl",)),)


def test_notices_go_only_after_yes_each_customer_once_in_their_language(watched: World) -> None:
    world = watched
    change_terms(world)
    world.sync()

    preview = notify(world)
    assert rows(world, TERMS_CHANGED) == []
    assert "Customers with an account: 4 (en: 1, pl: 3)" in "\n".join(preview)
    assert "Nothing was queued (a dry run)" in preview[-1]

    today = world.clock.now().date()
    lines = notify(world, yes=True)
    assert "Queued 4 notice(s)" in "\n".join(lines)
    world.sync()

    told = notices_to(world)
    assert set(told) == TOLD and all(len(m) == 1 for m in told.values())
    polish, english = (
        world.mail_to(a)[-1] for a in ("malgorzata.lecka@example.com", "emily.clarke@example.com")
    )
    effective = today + timedelta(days=14)
    assert "Regulamin" in str(polish["Subject"]) and "Terms and conditions of use" in str(english["Subject"])
    assert f"{effective.day} grudnia" in text_of(polish) or f"{effective.day} stycznia" in text_of(polish)
    assert "id_cms=3" in text_of(polish) and "bo masz konto w sklepie" in text_of(polish)
    assert "because you have an account at" in text_of(english)
    assert polish["List-Unsubscribe"] is None  # a legal notice, not marketing

    assert notify(world, yes=True) == [
        "No terms page changed since its last notice: nothing to tell the customers."
    ]
    status = gather(world.store, world.settings, now=world.clock.now())
    assert status.terms is not None and status.terms.pending == ()
    [run] = status.terms.runs
    assert (run.queued, run.sent, run.left) == (4, 4, 0)
    assert "4 queued, 4 sent, 0 left" in "\n".join(status.lines())
    assert status.as_dict()["terms"]["notices"][0] == {
        "page": "terms",
        "cms_id": 3,
        "change": run.change,
        "started": run.started,
        "queued": 4,
        "sent": 4,
        "left": 0,
    }


def test_notices_keep_the_orders_share_of_the_budget_and_spread_over_days(watched: World) -> None:
    world = dataclasses.replace(watched, settings=dataclasses.replace(watched.settings, daily_send_limit=10))
    for number in range(8):
        world.shop.register_customer("Jan", f"Nowak{number}", f"nowak{number}@example.com")
    change_terms(world)
    world.sync()  # sends the owner's alert: 1 of the 10

    lines = notify(world, yes=True, effective=date(2027, 1, 15))
    assert "Queued 12 notice(s)" in "\n".join(lines) and "At 8 a day" in lines[-1]
    world.sync()
    notices = rows(world, TERMS_CHANGED)
    assert sum(r.status is Status.SENT for r in notices) == 7  # 8 may go in 24 hours, the alert was one
    assert all(r.status in (Status.SENT, Status.QUEUED) for r in notices)

    world.clock.advance(timedelta(hours=25))
    world.sync()
    notices = rows(world, TERMS_CHANGED)
    assert sum(r.status is Status.SENT for r in notices) == 12
    text = text_of(world.mail_to("nowak0@example.com")[0])
    assert "15 stycznia 2027" in text


def test_a_crash_between_batches_resumes_without_duplicates(
    watched: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = watched
    monkeypatch.setattr(cms, "BATCH", 2)
    change_terms(world)
    world.sync()
    with world.store.transaction() as conn:
        outbox.suppress(conn, "malgorzata.lecka@example.com", "550 5.1.1 no such user", now=world.clock.now())

    def crash(queued: int) -> None:
        raise Stop(queued)

    with pytest.raises(Stop):
        notify(world, yes=True, after_batch=crash)
    assert len(rows(world, TERMS_CHANGED)) == 2  # the first batch's transaction committed

    world.clock.advance(timedelta(days=2))  # the re-run comes later: the notices still state one date
    lines = notify(world, yes=True)
    assert "Queued 2 notice(s); 0 skipped with a reason (`bridge outbox`), 2 queued before" in "\n".join(
        lines
    )
    notices = rows(world, TERMS_CHANGED)
    assert len(notices) == len({r.idempotency_key for r in notices}) == 4
    [skipped] = [r for r in notices if r.status is Status.SKIPPED]
    assert "suppressed" in (skipped.skip_reason or "")
    world.sync()
    told = notices_to(world)
    assert set(told) == TOLD - {"malgorzata.lecka@example.com"} and all(len(m) == 1 for m in told.values())
    subjects = {str(m["Subject"]) for m in world.mail() if "zmiany w dokumencie" in str(m["Subject"])}
    assert len(subjects) == 1  # Paweł's (first run) and Tomasz's (the re-run) state the same date


def test_check_says_whether_the_key_reads_the_terms_pages(world: World, shop_server: Simulator) -> None:
    settings = dataclasses.replace(world.settings, terms_pages=(("terms", 3), ("returns", 42)))
    warnings = check_shop(world.client, settings).warnings
    assert any("TERMS_PAGES names returns:42, but the shop has no CMS page 42" in w for w in warnings)
    assert not any("may not read content_management_system" in w for w in warnings)

    no_cms = "NOCMSKEY0NOCMSKEY0NOCMSKEY0NOCMS"
    permissions = {
        name: ("GET",) for name in shop_server.resource_names() if name != "content_management_system"
    }
    shop_server.add_key(no_cms, permissions)
    with ShopClient(shop_server.url, Secret(no_cms), retries=0) as client:
        warnings = check_shop(client, settings).warnings
        assert any(
            "may not read content_management_system, needed for the terms watch" in w for w in warnings
        )
        assert not any("TERMS_PAGES" in w for w in check_shop(client, world.settings).warnings)
