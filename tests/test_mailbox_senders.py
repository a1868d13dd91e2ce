"""A second sender, against a real Dovecot on 127.0.0.1 (tests/imap_server.py): every email carries
`X-Bridge-Key: <store id> <idempotency key>`; another bridge's email in the Sent folder alerts the owner and
pauses marketing mail until `bridge mailbox confirm-sender`; our own emails (this store's id, or a key and
Message-ID this store made) do not. The mailbox is compared file by file before and after the bridge looked.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bridge import alerts
from bridge.cli import main
from bridge.config import parse_address
from bridge.delivery.marketing import MarketingGate
from bridge.mailbox import step
from bridge.mailbox.report import status_line
from bridge.mailbox.senders import message_id_domain
from bridge.model.bridge_key import HEADER, format_bridge_key, parse_bridge_key
from bridge.state import mailbox as mailbox_state
from bridge.state.outbox import OutboxRow, Status, list_rows
from tests import test_mailbox
from tests.conftest import DEFAULT_PASSWORD, DEFAULT_USERNAME, SHOP_KEY, World
from tests.imap_server import SENT, DovecotServer
from tests.test_deliver import queue, row
from tests.test_mailbox import cycle_delivery

imap, mworld = test_mailbox.imap, test_mailbox.mworld  # the fixtures: a Dovecot, a world reading it

OTHER = "0123456789abcdef"  # another bridge's store id
OWNER = "wlascicielka@example.pl"


def with_owner(world: World) -> World:
    settings = dataclasses.replace(
        world.settings,
        admin_email=parse_address(f"Właścicielka <{OWNER}>"),
        unsubscribe_url="https://sklep.example.pl/wypisz",  # marketing on: the gate has a say
    )
    return dataclasses.replace(world, settings=settings)


def look_at_sent(world: World) -> step.Look:
    world.clock.advance(step.INBOX_EVERY)
    looked = step.look(world.store, world.settings, now=world.clock.now())
    assert looked is not None and looked.error is None and looked.senders is not None
    return looked


def store_id(world: World) -> str:
    with world.store.read() as conn:
        found = mailbox_state.load_store_id(conn)
    assert found is not None
    return found


def sent_copy(key_header: str, message_id: str) -> bytes:
    """An email as another bridge's SMTP session leaves it in the Sent folder (CRLF, as IMAP carries it)."""
    return (
        "From: Sklep <sklep.przyklad@gmail.com>\r\nTo: klient@example.org\r\n"
        f"Subject: Potwierdzenie zamówienia\r\nMessage-ID: {message_id}\r\n{HEADER}: {key_header}\r\n"
        "\r\nDziękujemy za zamówienie.\r\n"
    ).encode()


def owner_alerts(world: World) -> list[OutboxRow]:
    return [r for r in list_rows(world.store, limit=1000) if r.kind == alerts.KIND]


def marketing_verdict(world: World) -> str:
    promotion = queue(world, "promo@example.com", category="marketing")
    verdict = MarketingGate(world.settings, world.store, None).check(row(world, promotion), world.clock.now())
    return f"{verdict.action}: {verdict.reason}"


def test_the_header_round_trips_and_refuses_what_is_not_ours() -> None:
    value = format_bridge_key(OTHER, "alert:sending_paused:quota:2026-12-07T10:00:00+00:00")
    assert parse_bridge_key(value) == (OTHER, "alert:sending_paused:quota:2026-12-07T10:00:00+00:00")
    assert parse_bridge_key(format_bridge_key(OTHER, "a key\r\nBcc: x")) == (OTHER, "a key\r\nBcc: x")
    assert "\n" not in format_bridge_key(OTHER, "a key\r\nBcc: x")
    for foreign in ("", "hello", f"{OTHER}", f"{OTHER[:-1]} key", f"{OTHER} a b"):
        assert parse_bridge_key(foreign) is None, foreign
    with pytest.raises(ValueError):
        format_bridge_key("not-an-id", "key")
    assert message_id_domain("<a.1@Inny-Sklep.example>") == "inny-sklep.example"
    assert message_id_domain("<a.1@x\u202e>") == "x"


def test_every_email_carries_its_store_id_and_key_and_our_own_sent_copies_are_not_a_second_sender(
    mworld: World, imap: DovecotServer
) -> None:
    world = with_owner(mworld)
    look_at_sent(world)  # the first look only records where the Sent folder stands
    row_id = queue(world)
    assert cycle_delivery(world).sent == 1  # the server files its copy into the Sent folder
    [sent] = world.mail()
    assert parse_bridge_key(str(sent[HEADER])) == (store_id(world), row(world, row_id).idempotency_key)
    before = imap.snapshot()
    looked = look_at_sent(world)
    assert looked.senders is not None and (looked.senders.ours, looked.senders.foreign) == (1, {})
    assert imap.snapshot() == before  # read-only: the same files, the same flags
    with world.store.read() as conn:
        assert mailbox_state.second_sender(conn) is None
    assert owner_alerts(world) == []
    assert marketing_verdict(world).startswith("send")


def test_an_earlier_life_of_this_store_is_not_foreign(mworld: World, imap: DovecotServer) -> None:
    """A header naming another store id, but a key and Message-ID this store made, is ours (a store id
    made again, say): only an email this store never made is another sender's."""
    world = with_owner(mworld)
    look_at_sent(world)
    row_id = queue(world)
    made = row(world, row_id)
    imap.append(SENT, sent_copy(format_bridge_key(OTHER, made.idempotency_key), made.message_id))
    looked = look_at_sent(world)
    assert looked.senders is not None and (looked.senders.ours, looked.senders.foreign) == (1, {})
    assert owner_alerts(world) == []


def test_a_foreign_key_in_sent_alerts_the_owner_and_pauses_marketing_until_confirmed(
    mworld: World, imap: DovecotServer, tmp_path: Path
) -> None:
    world = with_owner(mworld)
    look_at_sent(world)
    queue(world)  # our own order_confirmation:… key exists; the other bridge made the same one
    other_key = format_bridge_key(OTHER, "order_confirmation:order:1042")
    imap.append(SENT, sent_copy(other_key, "<abc.1@inny-sklep.example>"))
    imap.append(
        SENT, b"From: Zofia <sklep.przyklad@gmail.com>\r\nSubject: hej\r\n\r\nThe owner's own mail.\r\n"
    )
    before = imap.snapshot()
    looked = look_at_sent(world)
    assert looked.senders is not None and looked.senders.foreign == {OTHER: "inny-sklep.example"}
    assert imap.snapshot() == before  # nothing marked read, moved or deleted

    [alert] = owner_alerts(world)
    assert alert.recipient_email == OWNER and alert.context["problem"] == "second_sender"
    assert f"store {OTHER}, Message-ID domain inny-sklep.example" in alert.context["error"]
    assert marketing_verdict(world).startswith("wait: a second sender")
    assert "MARKETING PAUSED" in status_line(world.store, world.settings, now=world.clock.now())

    cycle_delivery(world)  # the alert goes first (priority -1)
    [told] = world.mail_to(OWNER)
    subject = {
        "pl": "inny mostek e-mail wysyła z tego konta",
        "en": "another mail bridge sends as this account",
    }
    assert subject[world.settings.default_language] in str(told["Subject"])
    look_at_sent(world)  # the incident is open: no second alert
    assert len(owner_alerts(world)) == 1

    env = tmp_path / "bridge.env"
    env.write_text(
        f"PRESTASHOP_URL={world.settings.prestashop_url}\nPRESTASHOP_API_KEY={SHOP_KEY}\n"
        f"SMTP_USERNAME={DEFAULT_USERNAME}\nSMTP_PASSWORD={DEFAULT_PASSWORD}\n"
        f"STATE_DIR={world.settings.state_dir}\nMAIL_TRANSPORT=file\n"
    )
    env.chmod(0o600)
    assert main(["--env-file", str(env), "mailbox", "confirm-sender"], clock=world.clock) == 0
    assert marketing_verdict(world).startswith("send")
    assert "MARKETING PAUSED" not in status_line(world.store, world.settings, now=world.clock.now())

    imap.append(SENT, sent_copy(other_key, "<abc.2@inny-sklep.example>"))  # confirmed: not again
    assert look_at_sent(world).senders == step.sent.Senders(ours=0, foreign={})
    imap.append(SENT, sent_copy(format_bridge_key("fedcba9876543210", "x:1"), "<c.1@trzeci.example>"))
    assert look_at_sent(world).senders == step.sent.Senders(
        ours=0, foreign={"fedcba9876543210": "trzeci.example"}
    )
    assert len(owner_alerts(world)) == 2  # a new sender, a new incident
    first = min(owner_alerts(world), key=lambda alert: alert.id)
    assert row(world, first.id).status is Status.SENT
