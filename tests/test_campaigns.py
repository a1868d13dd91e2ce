"""Campaigns end to end (issue 18): `bridge campaign send|preview|list` against the demo shop behind the
webservice simulator (cart rules created as PrestaShop 8.1 creates them), the Gmail-like SMTP server, a
SQLite store and a ManualClock shared by the shop and the bridge.

The demo shop's customers: Małgorzata (pl) and Emily (en) agreed to the newsletter; Paweł, Tomasz and the
guest Jadwiga did not; the GDPR module's placeholder account is disabled. Each test adds the customers it
needs.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from bridge.commands.campaign.load import CampaignError
from bridge.commands.campaign.preview import send_preview
from bridge.commands.campaign.progress import campaign_lines
from bridge.commands.campaign.send import send_campaign
from bridge.commands.check import PERSONAL_CODES_REFUSED, check_shop
from bridge.commands.status import gather
from bridge.cycle.belongs import ForeignStoreError
from bridge.errors import ConfigError
from bridge.model.campaign_kinds import CAMPAIGN
from bridge.model.cursors import ShopFingerprint
from bridge.model.records import CartRuleSpec
from bridge.secret import Secret
from bridge.shop.client import ShopClient
from bridge.simulator import Simulator
from bridge.simulator.demo_shop import BOWL, MUG, MUG_HONEY
from bridge.state import cursors, outbox, unsubscribes
from bridge.state.outbox import OutboxRow, Status, list_rows
from tests.conftest import World, html_of, text_of
from tests.test_cart_reminders import WARSAW, marketing

MALGORZATA, EMILY = "malgorzata.lecka@example.com", "emily.clarke@example.com"
OWNER = "wlascicielka@example.com"
PERSONAL = '''
name = "black-friday-2026"
audience = "newsletter"
[discount]
percent = 10
valid_days = 7
single_use = true
minimum_amount = 100
[pl]
subject = "Prezent dla Ciebie, {{ firstname }}"
code_name = "Black Friday"
body = """Cześć {{ firstname }} {{ lastname }}, użyj kodu {{ code }} do {{ valid_until }}."""
[en]
subject = "A gift for you, {{ firstname }}"
body = """Hello {{ firstname }}, use {{ code }} before {{ valid_until }}."""
'''
NEWS = '''
name = "nowa-kolekcja"
audience = "newsletter"
[pl]
subject = "Nowa kolekcja"
body = """## Zimowa kolekcja

Cześć {{ firstname }} {{ lastname }}! **Zajrzyj** do [sklepu]({{ shop_url }})."""
'''


@pytest.fixture
def marketed(world: World) -> World:
    """Marketing mail on (UNSUBSCRIBE_URL), the bridge's first run done (nothing before it is news)."""
    marketing(world)
    world.sync()
    world.shop.advance(60)
    return world


def write(tmp_path: Path, source: str, name: str = "campaign.toml") -> Path:
    path = tmp_path / name
    path.write_text(source, encoding="utf-8")
    return path


def send(world: World, path: Path, **options: object) -> list[str]:
    return list(send_campaign(world.client, world.store, world.settings, world.clock, path, **options))  # type: ignore[arg-type]


def rows(world: World) -> list[OutboxRow]:
    return sorted((r for r in list_rows(world.store, limit=5000) if r.kind == CAMPAIGN), key=lambda r: r.id)


def campaign_mail(world: World) -> dict[str, list[str]]:
    """The campaign emails each address received, by subject."""
    found: dict[str, list[str]] = {}
    for message in world.mail():
        subject = str(message["Subject"])
        if "Prezent" in subject or "gift" in subject or "kolekcja" in subject:
            found.setdefault(message["To"].addresses[0].addr_spec, []).append(subject)
    return found


def add(world: World, first: str, email: str, **options: object) -> int:
    ref = world.shop.register_customer(first, "Nowak", email, address=WARSAW, **options)  # type: ignore[arg-type]
    return ref.customer_id


def audience(world: World) -> dict[str, int]:
    """Customers left out for each reason, and the one who gets it (anna), besides the demo shop's own."""
    ids = {"anna": add(world, "Anna", "anna@example.com", newsletter=True)}
    add(world, "Bartek", "bartek@example.com", optin=True)  # optin only: not a newsletter audience
    for first in ("celina", "dawid"):
        ids[first] = add(world, first.title(), f"{first}@example.com", newsletter=True)
    add(world, "Ewa", "ewa@@example.com", newsletter=True)  # an address no server takes
    world.shop.delete_customer(add(world, "Filip", "filip@example.com", newsletter=True))
    add(world, "Anna", "Anna@Example.com", newsletter=True, guest=True)  # her guest checkout: one address
    with world.store.transaction() as conn:
        unsubscribes.add(conn, "celina@example.com", "one-click", now=world.clock.now())
        outbox.suppress(conn, "dawid@example.com", "550 5.1.1 no such user", now=world.clock.now())
    return ids


def test_the_dry_run_counts_every_language_and_reason_and_queues_nothing(
    marketed: World, tmp_path: Path
) -> None:
    audience(marketed)
    lines = send(marketed, write(tmp_path, PERSONAL))
    assert lines[0].startswith(
        'Campaign "black-friday-2026": audience newsletter; a personal single-use code'
    )
    assert "(10% off, orders from 100 PLN)" in lines[0]
    assert lines[1:5] == [
        "  Recipients: 3 (en: 1, pl: 2)",
        "  Left out: 10 (disabled or deleted in the shop: 2, invalid email address: 1, no consent to"
        " marketing mail: 4, unsubscribed: 1, bounced or suppressed: 1, same address as another customer: 1)",
        f"  First recipients: {MALGORZATA} (pl), {EMILY} (en), anna@example.com (pl)",
        "  Sending: 320 marketing emails a day at most (DAILY_SEND_LIMIT less the share kept for order"
        " emails), 0 email(s) waiting ahead: 1 day(s)",
    ]
    assert lines[-1].startswith("Nothing was queued (a dry run): run `bridge campaign send")
    assert rows(marketed) == []
    assert next(iter(campaign_lines(marketed.store))).startswith("No campaign yet")

    polish_only = send(marketed, write(tmp_path, NEWS))
    assert "  Recipients: 3 (pl: 3)" in polish_only
    assert "  No [en] text: 1 customer(s) reading en get the [pl] text (the default)" in polish_only


def test_one_email_and_one_code_per_consenting_customer_restricted_to_them(
    marketed: World, tmp_path: Path
) -> None:
    ids = audience(marketed)
    path = write(tmp_path, PERSONAL)
    lines = send(marketed, path, yes=True)
    assert "Queued 3 email(s)" in lines[-1]
    queued = rows(marketed)
    assert [r.idempotency_key for r in queued][-1] == f"campaign:black-friday-2026:{ids['anna']}"
    assert {(r.category, r.priority, r.status) for r in queued} == {("marketing", 7, Status.QUEUED)}
    assert all((r.consent or "").startswith("newsletter=1 since ") for r in queued)
    # Anna unsubscribes before her email goes: no email, and no code made for her.
    with marketed.store.transaction() as conn:
        unsubscribes.add(conn, "anna@example.com", "one-click", now=marketed.clock.now())

    marketed.sync()
    received = campaign_mail(marketed)
    assert received == {
        MALGORZATA: ["Prezent dla Ciebie, Małgorzata"],
        EMILY: ["A gift for you, Emily"],
    }
    rules = marketed.shop.state.rows("cart_rules")
    assert len(rules) == 2
    for address in (MALGORZATA, EMILY):
        [message] = marketed.mail_to(address)
        assert message["List-Unsubscribe"] is not None and message["List-Unsubscribe-Post"]
        [rule] = [r for r in rules if r["code"] in text_of(message)]
        customer = next(c for c in marketed.shop.state.rows("customers") if c["email"] == address)
        assert rule["id_customer"] == customer["id"]
        assert (rule["quantity"], rule["quantity_per_user"]) == (1, 1)
        assert rule["reduction_percent"] == Decimal(10) and rule["code"].startswith("BF2026-")
        assert rule["code"] in html_of(message)
    assert "Cześć Małgorzata Łęcka, użyj kodu BF2026-" in text_of(marketed.mail_to(MALGORZATA)[0])
    [anna] = [r for r in rows(marketed) if r.recipient_email == "anna@example.com"]
    assert anna.status is Status.CANCELLED and "unsubscribed" in (anna.skip_reason or "")

    again = send(marketed, path, yes=True)
    assert "  Already queued or sent by an earlier run: 2 (not sent again)" in again
    assert "Queued 0 email(s)" in again[-1]
    marketed.clock.advance(timedelta(hours=1))
    marketed.sync()
    assert campaign_mail(marketed) == received and len(marketed.shop.state.rows("cart_rules")) == 2
    [line, *_] = campaign_lines(marketed.store)
    assert (
        line == "black-friday-2026: 3 queued (2 sent, 0 waiting, 1 cancelled), 11 left out, 2 code(s) created"
    )


def test_withdrawing_the_consent_the_audience_asked_for_cancels_the_email_though_another_box_is_ticked(
    marketed: World, tmp_path: Path
) -> None:
    ola = add(marketed, "Ola", "ola@example.com", newsletter=True, optin=True)
    send(marketed, write(tmp_path, NEWS), yes=True)  # audience = "newsletter"
    marketed.shop.update_customer(ola, newsletter=False)  # partners' offers (optin) still ticked
    marketed.sync()
    assert marketed.mail_to("ola@example.com") == []
    [row] = [r for r in rows(marketed) if r.recipient_email == "ola@example.com"]
    assert row.status is Status.CANCELLED
    assert "newsletter=0" in (row.skip_reason or "") and "audience is newsletter" in (row.skip_reason or "")
    assert len(marketed.mail_to(MALGORZATA)) == 1  # the others' went


def test_a_newer_account_saying_no_outranks_an_old_guest_checkouts_yes_for_the_same_address(
    marketed: World, tmp_path: Path
) -> None:
    guest = add(marketed, "Ola", "ola@example.com", newsletter=True, guest=True)  # ticked the box at checkout
    account = add(marketed, "Ola", "Ola@Example.com")  # months later, an account: the box left unticked
    lines = send(marketed, write(tmp_path, NEWS), yes=True)
    assert [r.customer_id for r in rows(marketed) if r.recipient_email == "ola@example.com"] == [guest]
    assert any("Queued" in line for line in lines)
    marketed.sync()

    assert marketed.mail_to("ola@example.com") == []
    [row] = [r for r in rows(marketed) if r.customer_id == guest]
    assert row.status is Status.CANCELLED
    assert f"the newest account with this address (customer #{account})" in (row.skip_reason or "")
    assert len(marketed.mail_to(MALGORZATA)) == 1  # one read by address per email, the others went


def test_a_changed_file_under_the_same_name_is_refused_until_renamed(marketed: World, tmp_path: Path) -> None:
    path = write(tmp_path, PERSONAL)
    send(marketed, path, yes=True)
    write(tmp_path, PERSONAL.replace("A gift for you", "A present for you"))
    for yes in (False, True):
        with pytest.raises(CampaignError) as refused:
            send(marketed, path, yes=yes)
        assert 'the campaign "black-friday-2026" was queued from another version of this file' in str(
            refused.value
        )
        assert 'give it a new name (name = "black-friday-2026-2")' in str(refused.value)
    # Comments and spacing are no change; a new name is a new campaign.
    write(tmp_path, "# reviewed\n" + PERSONAL.replace('audience = "newsletter"', 'audience  =  "newsletter"'))
    assert "Already queued or sent by an earlier run: 2" in "\n".join(send(marketed, path))
    renamed = PERSONAL.replace("A gift for you", "A present for you").replace("2026", "2026-2", 1)
    assert "Queued 2 email(s)" in send(marketed, write(tmp_path, renamed), yes=True)[-1]


def test_html_in_a_customers_name_is_escaped_and_never_markdown(marketed: World, tmp_path: Path) -> None:
    marketed.shop.register_customer("<b>Ala</b>", "**Nowak**", "ala@example.com", newsletter=True)
    send(marketed, write(tmp_path, NEWS), yes=True)
    marketed.sync()
    [message] = marketed.mail_to("ala@example.com")
    html = html_of(message)
    assert "Cześć &lt;b&gt;Ala&lt;/b&gt; **Nowak**!" in html and "<b>Ala" not in html
    assert "<strong>Zajrzyj</strong>" in html and "<h2" in html  # the owner's Markdown is Markdown
    assert "Cześć <b>Ala</b> **Nowak**! **Zajrzyj**" in text_of(message)


def test_line_breaks_in_the_owners_subject_or_a_customers_name_add_no_header(
    marketed: World, tmp_path: Path
) -> None:
    marketed.shop.register_customer(
        "Ala\r\nBcc: evil@example.com", "Nowak", "ala@example.com", newsletter=True
    )
    source = NEWS.replace('subject = "Nowa kolekcja"', 'subject = "Hej {{ firstname }}\\nX-Evil: 1"')
    send(marketed, write(tmp_path, source), yes=True)
    marketed.sync()
    [message] = marketed.mail_to("ala@example.com")
    assert message["Subject"] == "Hej Ala Bcc: evil@example.com X-Evil: 1"
    assert message["Bcc"] is None and message["X-Evil"] is None
    assert [list(m.recipients) for m in marketed.smtp.messages if "ala@" in str(m.message["To"])] == [
        ["ala@example.com"]
    ]


def test_the_campaign_goes_behind_order_mail_and_spreads_over_days(marketed: World, tmp_path: Path) -> None:
    world = dataclasses.replace(
        marketed, settings=dataclasses.replace(marketed.settings, daily_send_limit=10)
    )
    for number in range(12):
        add(world, f"Jan{number}", f"jan{number}@example.com", newsletter=True)
    path = write(tmp_path, NEWS)
    assert "0 email(s) waiting ahead: 2 day(s)" in send(world, path)[-2]  # 14 at 8 a day
    send(world, path, yes=True)
    customer = add(world, "Zofia", "zofia@example.com")
    world.shop.place_order(world.shop.create_cart(customer, [(MUG, 1, MUG_HONEY), (BOWL, 1)], carrier_id=2))
    world.shop.advance(60)
    world.clock.advance(60)

    world.sync()
    # The order's two emails (confirmation, bank details) go first, then the campaign, up to 8 in 24 hours.
    order_mail = [m for m in world.mail() if "zofia@example.com" in str(m["To"])]
    assert len(order_mail) == 2 and world.mail()[:2] == order_mail
    sent = [r for r in rows(world) if r.status is Status.SENT]
    assert len(sent) == 6 and len(rows(world)) == 14
    status = gather(world.store, world.settings, now=world.clock.now())
    assert "Campaigns:   nowa-kolekcja: 14 queued (6 sent, 8 waiting), 4 left out" in status.lines()
    assert status.as_dict()["campaigns"][0]["waiting"] == 8

    world.clock.advance(timedelta(hours=25))
    world.sync()
    assert all(r.status is Status.SENT for r in rows(world))
    assert all(len(subjects) == 1 for subjects in campaign_mail(world).values())
    assert gather(world.store, world.settings, now=world.clock.now()).campaigns is None  # none active


def test_order_filters_count_valid_orders_only(marketed: World, tmp_path: Path) -> None:
    add(marketed, "Nowa", "nowa@example.com", newsletter=True)  # never ordered
    # Emily ordered 9 days ago; Małgorzata 21 days ago (her order of 4 days ago was cancelled).
    source = NEWS.replace("[pl]", "ordered_within_days = 30\nnot_ordered_within_days = 7\n[pl]")
    lines = send(marketed, write(tmp_path, source))
    assert "  Recipients: 2 (pl: 2)" in lines
    [left] = [line for line in lines if line.startswith("  Left out")]
    assert "no valid order within ordered_within_days: 1" in left
    source = NEWS.replace("[pl]", "ordered_within_days = 30\nnot_ordered_within_days = 10\n[pl]")
    lines = send(marketed, write(tmp_path, source))
    [left] = [line for line in lines if line.startswith("  Left out")]
    assert "  Recipients: 1 (pl: 1)" in lines and "a valid order within not_ordered_within_days: 1" in left


def test_the_preview_is_marked_and_creates_no_code(marketed: World, tmp_path: Path) -> None:
    path = write(tmp_path, PERSONAL)
    report = send_preview(
        marketed.client,
        marketed.settings,
        path,
        OWNER,
        language=None,
        clock=marketed.clock,
        transport=marketed.sender,
    )
    assert f'sent a preview of the campaign "black-friday-2026" ([pl]) to {OWNER}' in report
    send_preview(
        marketed.client,
        marketed.settings,
        path,
        OWNER,
        language="en",
        clock=marketed.clock,
        transport=marketed.sender,
    )
    polish, english = marketed.mail_to(OWNER)
    assert str(polish["Subject"]) == "[PODGLĄD] Prezent dla Ciebie, Zofia"
    assert str(english["Subject"]) == "[PREVIEW] A gift for you, Emily"
    assert "PODGLĄD KAMPANII „black-friday-2026”" in text_of(polish)
    assert "Podgląd kampanii „black-friday-2026”" in html_of(polish)
    assert "Cześć Zofia Żółkiewska, użyj kodu BF2026-XXXXXXXX do" in text_of(polish)
    assert "kod nie działa w sklepie" in html_of(polish) and polish["List-Unsubscribe"] is not None
    assert marketed.shop.state.rows("cart_rules") == [] and rows(marketed) == []
    with pytest.raises(CampaignError, match="--lang de: the file has no \\[de\\] section"):
        send_preview(marketed.client, marketed.settings, path, OWNER, language="de", clock=marketed.clock)


def test_personal_codes_need_a_key_that_may_create_them(
    marketed: World, shop_server: Simulator, tmp_path: Path
) -> None:
    assert (
        "personal codes (campaigns, birthday, win-back): the key may create them"
        in check_shop(marketed.client, marketed.settings).marketing
    )
    read_only = "READONLY0READONLY0READONLY0READO"
    shop_server.add_key(read_only, {name: ("GET",) for name in shop_server.resource_names()})
    with ShopClient(shop_server.url, Secret(read_only), retries=0) as client:
        assert PERSONAL_CODES_REFUSED in check_shop(client, marketed.settings).marketing
        world = dataclasses.replace(marketed, client=client)
        assert "Recipients: 2" in "\n".join(send(world, write(tmp_path, PERSONAL)))  # a dry run shows it
        with pytest.raises(CampaignError) as refused:
            send(world, write(tmp_path, PERSONAL), yes=True)
    assert str(refused.value) == f"campaign.toml: {PERSONAL_CODES_REFUSED}"
    assert rows(marketed) == []


def test_a_shared_code_must_exist_in_the_shop_and_is_shown_as_it_is(marketed: World, tmp_path: Path) -> None:
    source = PERSONAL.replace("single_use = true", 'single_use = false\ncode = "ZIMA2026"')
    path = write(tmp_path, source)
    assert any("the shop has no discount code ZIMA2026" in line for line in send(marketed, path))
    with pytest.raises(CampaignError, match="create it in Catalog → Discounts"):
        send(marketed, path, yes=True)
    now = marketed.clock.now()
    marketed.client.create_cart_rule(
        CartRuleSpec(
            code="ZIMA2026",
            names={1: "Zima", 2: "Zima"},
            date_from=now,
            date_to=now + timedelta(days=30),
            quantity=1000,
            reduction_percent=Decimal(10),
        )
    )
    send(marketed, path, yes=True)
    marketed.sync()
    assert "użyj kodu ZIMA2026 do 4 grudnia 2026" in text_of(marketed.mail_to(MALGORZATA)[0])
    assert len(marketed.shop.state.rows("cart_rules")) == 1  # the bridge made none


def test_without_marketing_mail_nothing_can_be_queued(world: World, tmp_path: Path) -> None:
    world.sync()
    path = write(tmp_path, NEWS)
    assert "Recipients: 2 (pl: 2)" in "\n".join(send(world, path))
    with pytest.raises(ConfigError, match="UNSUBSCRIBE_URL is empty, so marketing mail is off"):
        send(world, path, yes=True)
    marketing(world, MARKETING_CONSENT="newsletter")
    with pytest.raises(
        CampaignError, match='audience = "optin", but MARKETING_CONSENT counts only newsletter'
    ):
        send(world, write(tmp_path, NEWS.replace('"newsletter"', '"optin"')))


def test_a_state_store_of_another_shop_is_refused_dry_run_included(marketed: World, tmp_path: Path) -> None:
    other = ShopFingerprint(
        "https://inny.example", "inny.example", "inny.example", "Inny", "XYZ", "2020-01-01 10:00:00"
    )
    with marketed.store.transaction() as conn:
        cursors.save_fingerprint(conn, other, now=marketed.clock.now())
    for yes in (False, True):
        with pytest.raises(ForeignStoreError, match="belongs to another shop"):
            send(marketed, write(tmp_path, NEWS), yes=yes)
    assert rows(marketed) == []
