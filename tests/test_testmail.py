"""`bridge test-email --to ADDRESS`: a test email through the configured server, in the shop's branding, and
for each way it can fail, an explanation the owner can act on."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.commands.testmail import (
    EmailTestReport,
    load_identity_for_test,
    send_test_email,
)
from bridge.config import Settings
from bridge.delivery.deliver import stored_identity
from bridge.delivery.identity import identity_for_test
from bridge.errors import ConfigError, DeliveryError
from bridge.simulator.demo_shop import SHOP_NAME
from tests.conftest import World, bridge_settings, html_of, text_of
from tests.smtp_server import DEFAULT_USERNAME, SIZE_EXCEEDED, GmailLikeServer, gmail_like_server
from tests.test_sync import customer, order

OWNER = "wlasciciel@example.pl"


@pytest.fixture
def smtp_server() -> Iterator[GmailLikeServer]:
    with gmail_like_server() as server:
        yield server


def settings_for(server: GmailLikeServer, tmp_path: Path, **extra: str) -> Settings:
    """The owner's settings for `server`, trusting its CA the way an owner would: SMTP_CA_FILE."""
    bundle = tmp_path / "relay-ca.pem"
    server.ca.cert_pem.write_to_path(str(bundle))
    values = {
        "SMTP_CA_FILE": str(bundle),
        "SMTP_HELO_NAME": "sklep.example.pl",
        "MAIL_REPLY_TO": "Obsługa <kontakt@sklep.example.pl>",
        **extra,
    }
    return bridge_settings("https://sklep.example.pl", server, tmp_path / "state", **values)


def test_the_test_email_says_it_is_a_test_and_how_it_was_sent(
    smtp_server: GmailLikeServer, tmp_path: Path
) -> None:
    report = send_test_email(settings_for(smtp_server, tmp_path), OWNER)

    [received] = smtp_server.messages
    mail = received.message
    assert received.envelope_from == DEFAULT_USERNAME
    assert received.recipients == (OWNER,)
    assert str(mail["Subject"]) == "[TEST] Test wysyłki e-maili – Sklep"
    assert mail["From"].addresses[0].addr_spec == DEFAULT_USERNAME  # the account itself: Gmail keeps it
    assert mail["Reply-To"].addresses[0].addr_spec == "kontakt@sklep.example.pl"
    assert mail["To"].addresses[0].addr_spec == OWNER
    text, html = text_of(mail), html_of(mail)
    for part in (text, html):
        assert "to jest wiadomość testowa" in part.lower()
        assert "Nie dotyczy żadnego zamówienia" in part
        assert smtp_server.host in part and str(smtp_server.port) in part and "STARTTLS" in part
        assert "zażółć gęślą jaźń" in part
        assert "XKBKNABJK" not in part and "Kurtka" not in part  # never a sample order
    assert 'style="' in html  # CSS inlined, as customers get it
    assert "{{" not in text + html

    assert isinstance(report, EmailTestReport)
    assert report.reply.startswith("250 2.0.0 OK") and report.reply.endswith("- gsmtp")
    assert report.message_id == mail["Message-ID"]
    assert f"{smtp_server.host}:{smtp_server.port} (starttls) as {DEFAULT_USERNAME}" in str(report)
    [session] = smtp_server.sessions
    assert session.verbs == ["EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", "RCPT", "DATA", "QUIT"]
    assert session.commands[0] == "EHLO sklep.example.pl"
    assert session.tls


def test_before_the_first_sync_the_test_email_reads_the_shops_name_and_logo(world: World) -> None:
    identity = load_identity_for_test(world.settings)
    send_test_email(world.settings, OWNER, identity=identity, transport=world.sender, clock=world.clock)

    mail = world.mail_to(OWNER)[-1]
    text, html = text_of(mail), html_of(mail)
    assert SHOP_NAME in str(mail["Subject"]) and SHOP_NAME in text
    assert f'src="{identity.base_url}/img/logo-mail-zlota-laka.png"' in html  # the mail logo, not PS_LOGO
    assert "Dane sklepu jeszcze nieodczytane" not in text
    assert world.sync().poll.baseline  # reading the shop for the test changed nothing the sync keeps


def test_when_the_shop_cannot_be_read_the_test_email_says_so_and_lists_the_missing_settings(
    smtp_server: GmailLikeServer, tmp_path: Path
) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: the shop is unreachable
    settings = bridge_settings(
        f"http://127.0.0.1:{port}",
        smtp_server,
        tmp_path / "state",
        SMTP_CA_FILE=_ca_bundle(smtp_server, tmp_path),
        MAIL_FROM="Sklep Zofii <" + DEFAULT_USERNAME + ">",
        LEGAL_COMPANY="Zofia Nowak Sklep Zofii",
    )

    identity = load_identity_for_test(settings)
    send_test_email(settings, OWNER, identity=identity)

    text = text_of(smtp_server.messages[-1].message)
    assert "Sklep Zofii" in text
    assert "nazwy, logo i adresu sklepu nie udało się jeszcze odczytać" in text
    assert "LOGO_URL, LEGAL_ADDRESS, LEGAL_TAX_ID, LEGAL_REGISTRATION, LEGAL_TERMS_URL" in text
    assert "Sprzedawca: Zofia Nowak Sklep Zofii" in text  # the legal footer, as customers get it


def test_the_test_email_wears_todays_branding_over_the_last_syncs(tmp_path: Path) -> None:
    from bridge.commands.testmail import with_branding
    from bridge.model.identity import ShopIdentity

    settings = Settings.from_mapping(
        {
            "MAIL_TRANSPORT": "file",
            "STATE_DIR": str(tmp_path),
            "ACCENT_COLOR": "#8a1538",
            "LEGAL_TAX_ID": "6762461659",
        }
    )
    stored = ShopIdentity(
        name="Żółta Łódka",
        email="kontakt@zolta.example.pl",
        from_email="stary@gmail.com",
        logo_url="https://zolta.example.pl/img/logo_mail.png",
        legal_company="Żółta Łódka sp. z o.o.",
    )

    branded = with_branding(stored, settings.branding)

    assert branded.accent_color == "#8a1538" and branded.legal_tax_id == "6762461659"
    assert branded.logo_url == stored.logo_url and branded.legal_company == "Żółta Łódka sp. z o.o."


def _ca_bundle(server: GmailLikeServer, tmp_path: Path) -> str:
    bundle = tmp_path / "relay-ca.pem"
    server.ca.cert_pem.write_to_path(str(bundle))
    return str(bundle)


def test_an_account_password_instead_of_an_app_password_says_how_to_create_one(
    smtp_server: GmailLikeServer, tmp_path: Path
) -> None:
    smtp_server.script.next_reply(
        "AUTH",
        "534-5.7.9 Application-specific password required. For more information, go to\n"
        "534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor",
    )
    with pytest.raises(DeliveryError) as raised:
        send_test_email(settings_for(smtp_server, tmp_path), OWNER)

    said = str(raised.value)
    assert said.startswith("the test email was not sent: Gmail wants an app password: turn on 2-Step")
    assert "https://myaccount.google.com/apppasswords" in said
    assert "server said: 534 5.7.9 Application-specific password required." in said
    assert "pending" not in said and "paused" not in said  # nothing was queued
    assert raised.value.permanent
    assert smtp_server.messages == []


def test_a_revoked_app_password_says_google_revokes_them_when_the_password_changes(
    smtp_server: GmailLikeServer, tmp_path: Path
) -> None:
    settings = settings_for(smtp_server, tmp_path, SMTP_PASSWORD="revokedrevokedre")
    with pytest.raises(DeliveryError) as raised:
        send_test_email(settings, OWNER)

    said = str(raised.value)
    assert "the app password was refused or revoked" in said
    assert "Google revokes them when the account password changes" in said
    assert "server said: 535 5.7.8 Username and Password not accepted." in said
    assert "revokedrevokedre" not in said


def test_an_address_gmail_does_not_know_is_named(smtp_server: GmailLikeServer, tmp_path: Path) -> None:
    smtp_server.script.next_reply(
        "RCPT", "550 5.1.1 The email account that you tried to reach does not exist."
    )
    with pytest.raises(DeliveryError) as raised:
        send_test_email(settings_for(smtp_server, tmp_path), "literowka@example.pl")

    assert "the server refused the address literowka@example.pl: check it for typos" in str(raised.value)
    assert "550 5.1.1" in str(raised.value)


def test_a_message_too_big_is_explained(smtp_server: GmailLikeServer, tmp_path: Path) -> None:
    smtp_server.script.next_reply("MAIL", SIZE_EXCEEDED)
    with pytest.raises(DeliveryError) as raised:
        send_test_email(settings_for(smtp_server, tmp_path), OWNER)

    assert "too big for the server (Gmail takes 25 MB" in str(raised.value)
    assert "552 5.2.3" in str(raised.value)


def test_a_connection_lost_after_the_message_says_it_may_still_arrive(
    smtp_server: GmailLikeServer, tmp_path: Path
) -> None:
    smtp_server.script.drop_after_data()
    with pytest.raises(DeliveryError) as raised:
        send_test_email(settings_for(smtp_server, tmp_path), OWNER)

    assert "it may still arrive" in str(raised.value)
    assert "Sent folder" in str(raised.value)
    assert len(smtp_server.messages) == 1


def test_a_server_whose_certificate_is_not_trusted_gets_the_certificate_advice(
    smtp_server: GmailLikeServer, tmp_path: Path
) -> None:
    settings = bridge_settings("https://sklep.example.pl", smtp_server, tmp_path / "state")  # no CA file
    with pytest.raises(DeliveryError) as raised:
        send_test_email(settings, OWNER)

    assert "could not be verified" in str(raised.value)
    assert "SSL_CERT_FILE" in str(raised.value)
    assert smtp_server.logins == 0


def test_a_closed_port_names_the_settings_to_check_and_may_be_tried_again(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings.from_mapping(
        {
            "PRESTASHOP_URL": "https://sklep.example.pl",
            "PRESTASHOP_API_KEY": "K" * 32,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(port),
            "SMTP_USERNAME": DEFAULT_USERNAME,
            "SMTP_PASSWORD": "abcdwxyzefghstuv",
            "STATE_DIR": str(tmp_path),
        }
    )
    with pytest.raises(DeliveryError) as raised:
        send_test_email(settings, OWNER)

    assert "check SMTP_HOST and SMTP_PORT" in str(raised.value)
    assert "retries later" not in str(raised.value)
    assert not raised.value.permanent


def test_an_address_that_is_not_one_is_refused_before_connecting(
    smtp_server: GmailLikeServer, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as raised:
        send_test_email(settings_for(smtp_server, tmp_path), "not an address")

    assert "--to: must be one email address" in str(raised.value)
    assert smtp_server.connections == 0


def test_with_mail_transport_file_the_test_email_is_written_not_sent(tmp_path: Path) -> None:
    settings = Settings.from_mapping({"MAIL_TRANSPORT": "file", "STATE_DIR": str(tmp_path)})
    report = send_test_email(settings, OWNER)

    [written] = sorted((tmp_path / "outbox-eml").glob("*.eml"))
    assert b"[TEST]" in written.read_bytes()
    assert "nothing left this machine" in str(report)


def test_the_test_email_is_signed_with_the_shop_identity_and_the_current_sender(tmp_path: Path) -> None:
    from bridge.model.identity import ShopIdentity

    settings = Settings.from_mapping(
        {
            "PRESTASHOP_URL": "https://sklep.example.pl",
            "PRESTASHOP_API_KEY": "K" * 32,
            "SMTP_USERNAME": "nowy.sklep@gmail.com",
            "SMTP_PASSWORD": "abcdwxyzefghstuv",
            "STATE_DIR": str(tmp_path),
        }
    )
    stored = ShopIdentity(name="Żółta Łódka", email="kontakt@zolta.example.pl", from_email="stary@gmail.com")
    identity = identity_for_test(settings, stored)
    assert (identity.name, identity.email) == ("Żółta Łódka", "kontakt@zolta.example.pl")
    assert identity.from_email == "nowy.sklep@gmail.com"
    fallback = identity_for_test(settings)
    assert fallback.from_email == fallback.email == "nowy.sklep@gmail.com"


def test_after_a_sync_the_test_email_carries_the_shops_own_name_and_contact(world: World) -> None:
    assert world.sync().poll.baseline
    shop = world.shop
    order(shop, customer(shop), "przelewy24")
    shop.advance(60)
    assert world.sync().delivery.sent == 1  # the shop's identity is now in the state store
    stored = stored_identity(world.store)
    assert stored is not None

    identity = load_identity_for_test(world.settings)
    assert (identity.name, identity.email) == (stored.name, stored.email)
    send_test_email(world.settings, OWNER, identity=identity, transport=world.sender, clock=world.clock)

    test_mail = world.mail_to(OWNER)[-1]
    assert str(test_mail["Subject"]).startswith("[TEST]")
    assert stored.name in text_of(test_mail)
    assert test_mail["Reply-To"].addresses[0].addr_spec == stored.email


def test_without_a_state_store_the_identity_comes_from_the_settings_and_no_store_is_made(
    tmp_path: Path,
) -> None:
    settings = Settings.from_mapping(
        {"MAIL_TRANSPORT": "file", "STATE_DIR": str(tmp_path / "state"), "MAIL_FROM": "Sklep <s@example.pl>"}
    )
    identity = load_identity_for_test(settings)
    assert (identity.name, identity.from_email) == ("Sklep", "s@example.pl")
    assert not (tmp_path / "state").exists()
