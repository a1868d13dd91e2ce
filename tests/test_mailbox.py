"""The mailbox over IMAP, against a real Dovecot on 127.0.0.1 (tests/imap_server.py): `bridge check`'s
login, and unknown sends settled from the Sent folder. The mailbox is compared file by file before and
after the bridge looked: nothing moved, no flag changed."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path

import pytest

from bridge.commands.explain import email_detail, get_email
from bridge.config import Settings, parse_address
from bridge.config.mailbox import Mailbox
from bridge.cycle import Cycle
from bridge.delivery.deliver import DeliveryResult, deliver_due
from bridge.mailbox import step
from bridge.mailbox.client import MailboxError, check_mailbox, open_mailbox
from bridge.secret import Secret
from bridge.state import mailbox as mailbox_state
from bridge.state import outbox
from bridge.state.outbox import Status
from tests.conftest import World, bridge_settings, text_of
from tests.imap_server import SENT, DovecotServer, dovecot_available, dovecot_server
from tests.test_deliver import SHOP, queue, row


@pytest.fixture
def imap(tmp_path: Path) -> Iterator[DovecotServer]:
    missing = dovecot_available()
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{missing}; CI installs it (.ci/run)")
        pytest.skip(missing)
    with dovecot_server(tmp_path / "imap") as server:
        yield server


@pytest.fixture
def mworld(world: World, imap: DovecotServer, tmp_path: Path) -> World:
    """The world of tests.conftest, its bridge reading the Dovecot mailbox, its SMTP server filing what it
    accepts into that mailbox's Sent folder (as Gmail does)."""
    settings = bridge_settings(
        world.settings.prestashop_url or "", world.smtp, tmp_path / "state", **imap.settings()
    )
    world.smtp.file_sent = imap.file_sent
    return dataclasses.replace(world, settings=settings)


def mailbox_of(world: World) -> Mailbox:
    assert world.settings.mailbox is not None
    return world.settings.mailbox


def cycle_delivery(world: World) -> DeliveryResult:
    """What the cycle's delivery step does: the mailbox first, then delivery with the policy it leaves."""
    step.look(world.store, world.settings, now=world.clock.now())
    return deliver_due(
        world.store,
        world.sender,
        world.renderer,
        world.clock,
        identity=SHOP,
        unknown_policy=step.unknown_policy(world.settings),
        rng=lambda: 0.5,
    )


def cut_off(world: World) -> int:
    """An email whose send was cut off after the server took it: the 250 never came."""
    row_id = queue(world)
    world.smtp.script.drop_after_data()
    assert cycle_delivery(world).unknown == 1
    assert row(world, row_id).status is Status.UNKNOWN
    return row_id


# --- settings and `bridge check` -------------------------------------------------------------------------


def test_gmail_turns_imap_on_with_the_smtp_login_and_other_servers_leave_it_off() -> None:
    gmail = Settings.from_mapping(
        {"SMTP_USERNAME": "zofia@gmail.com", "SMTP_PASSWORD": "qwer tyui opas dfgh", "MAIL_TRANSPORT": "smtp"}
    )
    assert gmail.mailbox is not None
    assert (gmail.mailbox.host, gmail.mailbox.port, gmail.mailbox.username) == (
        "imap.gmail.com",
        993,
        "zofia@gmail.com",
    )
    assert gmail.mailbox.password is gmail.smtp_password
    other = {"SMTP_HOST": "mail.sklep.pl", "SMTP_USERNAME": "z@sklep.pl", "SMTP_PASSWORD": "x" * 12}
    assert Settings.from_mapping({**other, "MAIL_TRANSPORT": "smtp"}).mailbox is None
    on = Settings.from_mapping(
        {**other, "MAIL_TRANSPORT": "smtp", "IMAP": "on", "IMAP_HOST": "imap.sklep.pl"}
    )
    assert on.mailbox is not None and (on.mailbox.host, on.mailbox.port) == ("imap.sklep.pl", 993)


def test_check_logs_in_and_finds_a_localised_sent_folder_by_its_flag(
    mworld: World, imap: DovecotServer
) -> None:
    before = imap.snapshot()
    line = check_mailbox(mailbox_of(mworld))
    assert f"Sent folder {SENT!r}" in line and "'INBOX'" in line
    assert imap.snapshot() == before


def test_a_refused_imap_login_says_which_settings_to_fix(mworld: World) -> None:
    wrong = dataclasses.replace(mailbox_of(mworld), password=Secret("not-the-password"))
    with pytest.raises(MailboxError, match="IMAP_USERNAME and IMAP_PASSWORD") as caught, open_mailbox(wrong):
        pass
    assert "not-the-password" not in str(caught.value)


# --- unknown sends ---------------------------------------------------------------------------------------


def test_an_unknown_send_found_in_sent_is_marked_sent_and_never_sent_again(
    mworld: World, imap: DovecotServer
) -> None:
    world = mworld
    row_id = cut_off(world)
    message_id = row(world, row_id).message_id
    assert len(world.mail()) == 1
    world.clock.advance(timedelta(minutes=1))
    cycle_delivery(world)  # before IMAP_SETTLE_AFTER (2m): not asked yet
    assert row(world, row_id).status is Status.UNKNOWN
    before = imap.snapshot()
    world.clock.advance(timedelta(minutes=2))
    cycle_delivery(world)
    settled = row(world, row_id)
    assert settled.status is Status.SENT
    assert settled.message_id == message_id
    assert len(world.mail()) == 1  # not sent again
    world.clock.advance(timedelta(hours=2))
    cycle_delivery(world)
    assert len(world.mail()) == 1
    assert imap.snapshot() == before  # read-only: the same files, the same flags
    story = "\n".join(email_detail(get_email(world.store, row_id), UTC, None))
    assert f"from the mailbox: found in the Sent folder {SENT!r}" in story


def test_an_unknown_send_missing_from_sent_is_sent_again_with_the_same_message_id_after_the_window(
    mworld: World, imap: DovecotServer
) -> None:
    world = mworld
    world.smtp.file_sent = None  # the server kept nothing: Gmail never accepted it
    row_id = cut_off(world)
    message_id = row(world, row_id).message_id
    world.clock.advance(timedelta(minutes=5))
    cycle_delivery(world)  # asked, not found, the window (30m) still open: it waits
    assert row(world, row_id).status is Status.UNKNOWN
    assert len(world.mail()) == 1
    world.clock.advance(timedelta(minutes=30))
    assert cycle_delivery(world).sent == 1
    resent = row(world, row_id)
    assert resent.status is Status.SENT
    assert [str(m["Message-ID"]) for m in world.mail()] == [message_id, message_id]
    assert "not in the Sent folder" in (resent.last_error or "")


def test_an_unreachable_mailbox_holds_unknown_sends_even_with_the_resend_policy(
    mworld: World, tmp_path: Path
) -> None:
    world = mworld
    settings = bridge_settings(
        world.settings.prestashop_url or "",
        world.smtp,
        tmp_path / "state",
        **{**DovecotServer.unreachable_settings(), "UNKNOWN_POLICY": "resend"},
    )
    world = dataclasses.replace(world, settings=settings)
    row_id = cut_off(world)
    world.clock.advance(timedelta(hours=3))
    looked = step.look(world.store, world.settings, now=world.clock.now())
    assert looked is not None and looked.error is not None and "cannot be reached" in looked.error
    cycle_delivery(world)
    assert row(world, row_id).status is Status.UNKNOWN  # held, as without IMAP
    assert len(world.mail()) == 1


def test_the_cycle_settles_before_it_delivers(mworld: World) -> None:
    world = mworld
    row_id = cut_off(world)
    world.clock.advance(timedelta(minutes=3))
    cycle = Cycle(world.client, world.store, world.sender, world.renderer, world.settings, world.clock)
    cycle.shop_confirmed = True  # this test is about delivery, not about whose store it is
    cycle.deliver()
    assert row(world, row_id).status is Status.SENT
    assert len(world.mail()) == 1


# --- bounces ---------------------------------------------------------------------------------------------

SAMPLES = Path(__file__).parent / "data" / "dsn"


def sent_email(world: World, to: str) -> tuple[int, str]:
    """An email delivered to `to`: its id and Message-ID."""
    row_id = queue(world, to)
    assert cycle_delivery(world).sent == 1
    return row_id, row(world, row_id).message_id


def dsn(sample: str, message_id: str, to: str) -> bytes:
    """A recorded DSN sample, about our email `message_id` sent to `to` (CRLF, as IMAP carries it)."""
    text = (SAMPLES / sample).read_text(encoding="utf-8")
    address = {
        "rfc3464_permanent.eml": "jan.kowalski@example.org",
        "gmail_failure.eml": "anna.nowak@example.com",
        "soft_delay.eml": "piotr@example.net",
    }[sample]
    text = text.replace("<ORIGINAL-MESSAGE-ID@sklep.example.pl>", message_id).replace(address, to)
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def look_at_inbox(world: World) -> step.Look:
    world.clock.advance(step.INBOX_EVERY)
    looked = step.look(world.store, world.settings, now=world.clock.now())
    assert looked is not None and looked.error is None and looked.bounces is not None
    return looked


def suppressed(world: World, address: str) -> str | None:
    with world.store.read() as conn:
        return outbox.is_suppressed(conn, address)


@pytest.mark.parametrize("sample", ["rfc3464_permanent.eml", "gmail_failure.eml"])
def test_a_permanent_bounce_suppresses_the_address_for_all_later_mail(
    mworld: World, imap: DovecotServer, sample: str
) -> None:
    world = mworld
    look_at_inbox(world)  # the first look only records where the Inbox stands
    row_id, message_id = sent_email(world, "klient@example.org")
    imap.append("INBOX", dsn(sample, message_id, "klient@example.org"))
    imap.append("INBOX", b"From: Jan <jan@example.org>\r\nSubject: hello\r\n\r\nA customer's own mail.\r\n")
    before = imap.snapshot()
    looked = look_at_inbox(world)
    assert looked.bounces is not None and (looked.bounces.permanent, looked.bounces.suppressed) == (1, 1)
    assert "5.1.1" in (suppressed(world, "Klient@Example.org") or "")
    assert imap.snapshot() == before  # nothing marked read, moved or deleted
    story = "\n".join(email_detail(get_email(world.store, row_id), UTC, None))
    assert "from the mailbox: bounced (5.1.1)" in story
    later = queue(world, "klient@example.org")  # an order email too: a bounce stops all mail
    cycle_delivery(world)
    assert row(world, later).status is Status.FAILED
    assert len(world.mail()) == 1
    look_at_inbox(world)  # read once: the same DSN is not counted again
    assert bounces_of(world) == 1


def bounces_of(world: World) -> int:
    summary = mailbox_state.bounce_summary(world.store, since=world.clock.now() - timedelta(days=1))
    return summary.permanent + summary.soft


def test_soft_bounces_suppress_only_after_the_limit(mworld: World, imap: DovecotServer) -> None:
    world = mworld
    look_at_inbox(world)
    for n in range(1, 4):  # BOUNCE_SOFT_LIMIT=3
        _, message_id = sent_email(world, "pelna@example.net")
        imap.append("INBOX", dsn("soft_delay.eml", message_id, "pelna@example.net"))
        look_at_inbox(world)
        assert (suppressed(world, "pelna@example.net") is None) is (n < 3), n
    assert "3 soft bounces" in (suppressed(world, "pelna@example.net") or "")


def test_a_bounce_naming_another_address_than_our_email_went_to_suppresses_no_one(
    mworld: World, imap: DovecotServer
) -> None:
    world = mworld
    look_at_inbox(world)
    _, message_id = sent_email(world, "klient@example.org")
    forged = dsn("rfc3464_permanent.eml", message_id, "klient@example.org").replace(
        b"Final-Recipient: rfc822; klient@example.org", b"Final-Recipient: rfc822; sasiad@example.org"
    )
    imap.append("INBOX", forged)
    look_at_inbox(world)
    assert suppressed(world, "sasiad@example.org") is None
    assert suppressed(world, "klient@example.org") is None


def test_the_owners_daily_summary_counts_the_addresses_suppressed_after_a_bounce(
    mworld: World, imap: DovecotServer
) -> None:
    owner = "wlascicielka@example.pl"
    settings = dataclasses.replace(
        mworld.settings,
        owner_email=(parse_address(owner),),
        owner_alerts=frozenset({"daily_summary"}),
        owner_summary_hour=11,
        owner_language="en",
    )
    world = dataclasses.replace(mworld, settings=settings)
    world.sync()  # the first run: 10:00 in Warsaw, before the summary's hour
    look_at_inbox(world)
    _, message_id = sent_email(world, "klient@example.org")
    imap.append("INBOX", dsn("rfc3464_permanent.eml", message_id, "klient@example.org"))
    look_at_inbox(world)
    assert suppressed(world, "klient@example.org") is not None
    world.clock.advance(timedelta(days=1, hours=1))  # 28 November, past 11:00 in Warsaw
    world.sync()
    [summary] = world.mail_to(owner)
    assert "Addresses that get no more mail after a bounce that day: 1" in text_of(summary)
