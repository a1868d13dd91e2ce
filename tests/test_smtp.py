"""SMTP delivery against a real Gmail-like server on 127.0.0.1: every reply class, connection reuse,
reconnects, TLS, and the password kept out of everything an owner or an engineer can read."""

from __future__ import annotations

import base64
import logging
import socket
import ssl
from collections.abc import Iterator
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path
from typing import Final

import pytest
import trustme

from bridge.commands.check import check_smtp, smtp_findings
from bridge.config import Settings
from bridge.delivery.smtp import LoginReport, Outcome, Security, SendResult, SmtpSender
from bridge.delivery.transports import smtp_ssl_context
from bridge.errors import ConfigError, DeliveryError
from bridge.secret import Secret
from tests.smtp_server import IDLE_TIMEOUT, Command, GmailLikeServer, gmail_like_server

HELO = "sklep.example.pl"
CUSTOMER = "jan.kowalski@example.org"


@pytest.fixture
def smtp_server() -> Iterator[GmailLikeServer]:
    with gmail_like_server() as server:
        yield server


SERVER_CA: Final = "server CA"


def make_sender(
    server: GmailLikeServer,
    *,
    security: Security | None = None,
    username: str | None = None,
    password: Secret | None = None,
    ssl_context: ssl.SSLContext | str | None = SERVER_CA,
) -> SmtpSender:
    """A sender configured for `server`, trusting its test CA unless told otherwise."""
    return SmtpSender(
        server.host,
        server.port,
        security or ("ssl" if server.mode == "ssl" else "starttls"),
        server.username if username is None else username,
        Secret(server.password) if password is None else password,
        helo_name=HELO,
        timeout=5.0,
        ssl_context=server.client_context() if isinstance(ssl_context, str) else ssl_context,
    )


def order_mail(number: int = 1042, *, to: str = CUSTOMER, name: str = "Jan Kowalski") -> EmailMessage:
    message = EmailMessage()
    message["From"] = Address("Sklep Przykładowy", addr_spec="sklep.przyklad@gmail.com")
    # An internationalised local part cannot go through Address(); the header parser accepts it.
    message["To"] = Address(name, addr_spec=to) if to.isascii() else to
    message["Reply-To"] = Address("Obsługa klienta", addr_spec="kontakt@example.pl")
    message["Subject"] = f"Zamówienie #{number} zostało wysłane"
    message["Message-ID"] = f"<order-{number}-shipped@example.pl>"
    message.set_content(f"Dzień dobry, zamówienie #{number} jest w drodze. Dziękujemy!")
    return message


def send(sender: SmtpSender, number: int = 1042, *, to: str = CUSTOMER) -> SendResult:
    return sender.send(order_mail(number, to=to), envelope_from="sklep.przyklad@gmail.com", recipients=[to])


# -- the happy path --------------------------------------------------------------------------------------


def test_twenty_emails_use_one_starttls_connection_and_one_login(smtp_server: GmailLikeServer) -> None:
    with make_sender(smtp_server) as sender:
        results = [send(sender, number) for number in range(1, 21)]

    assert all(result.outcome is Outcome.SENT for result in results)
    assert results[0].reply.startswith("250 2.0.0 OK")
    assert results[0].reply.endswith("- gsmtp")
    assert smtp_server.connections == 1
    assert smtp_server.logins == 1
    assert len(smtp_server.messages) == 20
    verbs = smtp_server.sessions[0].verbs
    assert verbs[:4] == ["EHLO", "STARTTLS", "EHLO", "AUTH"]
    assert verbs.count("NOOP") == 19  # every reuse is checked first
    assert verbs[-1] == "QUIT"
    assert smtp_server.sessions[0].commands[0] == f"EHLO {HELO}"
    assert smtp_server.sessions[0].tls


def test_polish_names_and_subject_arrive_intact_without_smtputf8(smtp_server: GmailLikeServer) -> None:
    with make_sender(smtp_server) as sender:
        message = order_mail(7, name="Łukasz Wójcik")
        result = sender.send(message, envelope_from="sklep.przyklad@gmail.com", recipients=[CUSTOMER])

    assert result.sent
    received = smtp_server.messages[0]
    headers = received.raw.split(b"\r\n\r\n", 1)[0]
    assert headers.isascii()  # RFC 2047 encoded words, no raw UTF-8 in the header block
    assert b"=?utf-8?" in headers
    assert received.message["From"].addresses[0].display_name == "Sklep Przykładowy"
    assert received.message["To"].addresses[0].display_name == "Łukasz Wójcik"
    assert received.message["Subject"] == "Zamówienie #7 zostało wysłane"
    assert "Dziękujemy" in received.message.get_content()
    mail_command = next(c for c in smtp_server.sessions[0].commands if c.startswith("MAIL"))
    assert "SMTPUTF8" not in mail_command
    assert received.envelope_from == "sklep.przyklad@gmail.com"
    assert received.recipients == (CUSTOMER,)


def test_a_non_ascii_address_is_sent_with_smtputf8(smtp_server: GmailLikeServer) -> None:
    with make_sender(smtp_server) as sender:
        result = send(sender, to="józef@example.pl")

    assert result.sent
    mail_command = next(c for c in smtp_server.sessions[0].commands if c.startswith("MAIL"))
    assert "SMTPUTF8" in mail_command
    assert smtp_server.messages[0].recipients == ("józef@example.pl",)


def test_bcc_is_never_sent_to_the_server(smtp_server: GmailLikeServer) -> None:
    message = order_mail()
    message["Bcc"] = "archiwum@example.pl"
    with make_sender(smtp_server) as sender:
        assert sender.send(message, envelope_from="sklep.przyklad@gmail.com", recipients=[CUSTOMER]).sent

    assert b"archiwum" not in smtp_server.messages[0].raw


def test_implicit_tls_on_a_465_style_port_sends() -> None:
    with gmail_like_server(mode="ssl") as server, make_sender(server, security="ssl") as sender:
        assert send(sender).sent
        assert send(sender, 1043).sent

    assert server.connections == 1
    assert server.sessions[0].tls
    assert "STARTTLS" not in server.sessions[0].verbs
    assert len(server.messages) == 2


def test_a_local_relay_without_tls_or_login_works_with_security_none() -> None:
    with (
        gmail_like_server(mode="plain") as server,
        make_sender(server, security="none", username="", password=Secret(""), ssl_context=None) as sender,
    ):
        assert send(sender).sent

    assert "AUTH" not in server.sessions[0].verbs
    assert not server.sessions[0].tls


def test_security_none_is_refused_for_a_remote_host() -> None:
    with pytest.raises(ConfigError, match=r"only allowed for a relay on this machine"):
        SmtpSender(
            "smtp.gmail.com", 25, "none", "shop@gmail.com", Secret("x" * 16), helo_name=HELO, timeout=5
        )


# -- reconnecting ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("farewell", [None, IDLE_TIMEOUT], ids=["silent-close", "421-then-close"])
def test_a_connection_the_server_closed_while_idle_is_reopened(
    smtp_server: GmailLikeServer, farewell: str | None
) -> None:
    with make_sender(smtp_server) as sender:
        assert send(sender, 1).sent
        assert smtp_server.drop_connections(farewell) == 1
        second = send(sender, 2)

    assert second.sent
    assert smtp_server.connections == 2
    assert smtp_server.logins == 2
    assert [m.message["Message-ID"] for m in smtp_server.messages] == [
        "<order-1-shipped@example.pl>",
        "<order-2-shipped@example.pl>",
    ]


def test_a_refused_recipient_leaves_the_connection_usable(smtp_server: GmailLikeServer) -> None:
    smtp_server.script.next_reply(
        "RCPT", "550 5.1.1 The email account that you tried to reach does not exist."
    )
    with make_sender(smtp_server) as sender:
        assert send(sender, 1).outcome is Outcome.RECIPIENT_PERMANENT
        assert send(sender, 2).sent

    assert smtp_server.connections == 1
    assert "RSET" in smtp_server.sessions[0].verbs
    assert [m.message["Message-ID"] for m in smtp_server.messages] == ["<order-2-shipped@example.pl>"]


# -- every reply class -----------------------------------------------------------------------------------

DAILY_LIMIT = (
    "550 5.4.5 Daily user sending limit exceeded. For more information, go to\n"
    "550 5.4.5  https://support.google.com/a/answer/166852"
)

REPLY_CLASSES = [
    # (command, scripted reply, outcome, code, enhanced code, words the owner must read)
    ("DATA", DAILY_LIMIT, Outcome.QUOTA, 550, "5.4.5", "daily sending limit"),
    ("MAIL", DAILY_LIMIT, Outcome.QUOTA, 550, "5.4.5", "daily sending limit"),
    (
        "AUTH",
        "454 4.7.0 Too many login attempts, please try again later.",
        Outcome.QUOTA,
        454,
        "4.7.0",
        "too many login attempts",
    ),
    (
        "DATA",
        "451 4.3.0 Mail server temporarily rejected message.",
        Outcome.TRANSIENT,
        451,
        "4.3.0",
        "retried later",
    ),
    (
        "MAIL",
        "421 4.7.0 Try again later, closing connection.",
        Outcome.TRANSIENT,
        421,
        "4.7.0",
        "retried later",
    ),
    (
        "CONNECT",
        "421 4.7.0 Try again later, closing connection.",
        Outcome.TRANSIENT,
        421,
        "4.7.0",
        "retried later",
    ),
    (
        "EHLO",
        "421 4.7.0 Try again later, closing connection. (EHLO)",
        Outcome.TRANSIENT,
        421,
        "4.7.0",
        "check SMTP_HELO_NAME",
    ),
    (
        "RCPT",
        "550 5.1.1 The email account that you tried to reach does not exist.",
        Outcome.RECIPIENT_PERMANENT,
        550,
        "5.1.1",
        "will not be written to again",
    ),
    (
        "RCPT",
        "553 5.1.2 We weren't able to find the recipient domain. Please check for any spelling errors.",
        Outcome.RECIPIENT_PERMANENT,
        553,
        "5.1.2",
        "does not exist or is not valid",
    ),
    (
        "RCPT",
        "553 5.1.3 The recipient address <jan@@example> is not a valid RFC-5321 address.",
        Outcome.RECIPIENT_PERMANENT,
        553,
        "5.1.3",
        "does not exist or is not valid",
    ),
    (
        "MAIL",
        "552 5.2.3 Your message exceeded Google's message size limits.",
        Outcome.MESSAGE_PERMANENT,
        552,
        "5.2.3",
        "too big",
    ),
    (
        "DATA",
        "550 5.7.1 Our system has detected that this message is likely unsolicited mail.",
        Outcome.MESSAGE_PERMANENT,
        550,
        "5.7.1",
        "check the template",
    ),
    (
        "DATA",
        "554 5.6.0 Message contained unexpected data.",
        Outcome.MESSAGE_PERMANENT,
        554,
        "5.6.0",
        "refused this message for good",
    ),
    (
        "AUTH",
        "534 5.7.9 Application-specific password required. For more information, go to\n"
        "534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor",
        Outcome.CREDENTIALS,
        534,
        "5.7.9",
        "Gmail wants an app password: turn on 2-Step Verification and create one at "
        "https://myaccount.google.com/apppasswords",
    ),
    (
        "AUTH",
        "534 5.7.14 <https://accounts.google.com/signin/continue?...> Please log in with your web browser "
        "and then try again.",
        Outcome.CREDENTIALS,
        534,
        "5.7.14",
        "sign in to this account in a web browser",
    ),
]


@pytest.mark.parametrize(
    ("command", "reply", "outcome", "code", "enhanced", "explained"),
    REPLY_CLASSES,
    ids=[f"{row[0]}-{row[3]}-{row[4]}" for row in REPLY_CLASSES],
)
def test_each_gmail_reply_is_classified_and_explained(
    smtp_server: GmailLikeServer,
    command: Command,
    reply: str,
    outcome: Outcome,
    code: int,
    enhanced: str,
    explained: str,
) -> None:
    smtp_server.script.next_reply(command, reply)
    with make_sender(smtp_server) as sender:
        result = send(sender)

    assert result.outcome is outcome
    assert (result.code, result.enhanced_code) == (code, enhanced)
    first_line_text = reply.split("\n")[0][4:]
    assert result.reply.startswith(f"{code} {first_line_text}")
    assert result.reply.endswith("- gsmtp")
    assert "\n" not in result.reply
    assert explained.lower() in result.explanation.lower()
    assert smtp_server.messages == []
    assert smtp_server.script.pending() == {}


def test_gmails_real_bad_credentials_reply_pauses_with_the_app_password_advice(
    smtp_server: GmailLikeServer,
) -> None:
    with make_sender(smtp_server, password=Secret("wrongwrongwrongw")) as sender:
        result = send(sender)

    assert result.outcome is Outcome.CREDENTIALS
    assert result.stage == "auth"
    assert result.reply.startswith(
        "535 5.7.8 Username and Password not accepted. For more information, go to "
        "https://support.google.com/mail/?p=BadCredentials"
    )
    assert "the app password was refused or revoked" in result.explanation
    assert "https://myaccount.google.com/apppasswords" in result.explanation
    assert smtp_server.auth_attempts == 1  # one mechanism tried, not every one offered
    assert smtp_server.messages == []


def test_a_second_421_in_a_row_pauses_the_sender(smtp_server: GmailLikeServer) -> None:
    closing = "421 4.7.0 Try again later, closing connection."
    smtp_server.script.next_reply("MAIL", closing)
    smtp_server.script.next_reply("MAIL", closing)
    with make_sender(smtp_server) as sender:
        first, second, third = send(sender, 1), send(sender, 2), send(sender, 3)
        smtp_server.script.next_reply("MAIL", closing)
        after_success = send(sender, 4)

    assert first.outcome is Outcome.TRANSIENT
    assert second.outcome is Outcome.QUOTA
    assert "throttling this account" in second.explanation
    assert third.sent
    assert after_success.outcome is Outcome.TRANSIENT
    assert smtp_server.connections == 3  # Gmail closes the line after each 421; the 3rd stays open


def test_quota_closes_the_connection_politely(smtp_server: GmailLikeServer) -> None:
    smtp_server.script.next_reply("DATA", DAILY_LIMIT)
    with make_sender(smtp_server) as sender:
        assert send(sender).outcome is Outcome.QUOTA
        assert smtp_server.sessions[0].verbs[-1] == "QUIT"


def test_plaintext_mail_to_a_starttls_server_is_a_configuration_problem(
    smtp_server: GmailLikeServer,
) -> None:
    sender = make_sender(smtp_server, security="none", username="", password=Secret(""), ssl_context=None)
    with sender:
        result = send(sender)

    assert result.outcome is Outcome.CREDENTIALS
    assert (result.code, result.enhanced_code) == (530, "5.7.0")
    assert result.reply.startswith("530 5.7.0 Must issue a STARTTLS command first.")
    assert "SMTP_SECURITY" in result.explanation


def test_mail_without_a_login_is_a_configuration_problem(smtp_server: GmailLikeServer) -> None:
    with make_sender(smtp_server, username="", password=Secret("")) as sender:
        result = send(sender)

    assert result.outcome is Outcome.CREDENTIALS
    assert result.reply.startswith("530 5.7.0 Authentication Required.")
    assert "SMTP_USERNAME" in result.explanation


def test_starttls_demanded_from_a_server_that_does_not_offer_it_is_refused() -> None:
    with (
        gmail_like_server(mode="plain") as server,
        make_sender(server, username="", password=Secret("")) as s,
    ):
        result = send(s)

    assert result.outcome is Outcome.CREDENTIALS
    assert "does not offer STARTTLS" in result.explanation
    assert "MAIL" not in server.sessions[0].verbs


def test_a_message_over_the_size_limit_is_refused_at_mail_from() -> None:
    with gmail_like_server(size_limit=300) as server, make_sender(server) as sender:
        big = order_mail()
        big.set_content("Dzień dobry! " * 100)
        result = sender.send(big, envelope_from="sklep.przyklad@gmail.com", recipients=[CUSTOMER])

    assert result.outcome is Outcome.MESSAGE_PERMANENT
    assert (result.stage, result.code, result.enhanced_code) == ("mail", 552, "5.2.3")
    assert "too big" in result.explanation
    assert server.messages == []


# -- lost connections --------------------------------------------------------------------------------------


def test_a_connection_lost_after_the_final_dot_is_unknown_though_the_server_kept_the_mail(
    smtp_server: GmailLikeServer,
) -> None:
    smtp_server.script.drop_after_data()
    with make_sender(smtp_server) as sender:
        result = send(sender, 1)
        retried_next = send(sender, 2)

    assert result.outcome is Outcome.UNKNOWN
    assert result.stage == "data"
    assert "may or may not have been delivered" in result.explanation
    assert [m.message["Message-ID"] for m in smtp_server.messages] == [
        "<order-1-shipped@example.pl>",
        "<order-2-shipped@example.pl>",
    ]
    assert retried_next.sent  # the sender reconnects for the next mail


def test_a_connection_lost_before_the_final_dot_is_transient(smtp_server: GmailLikeServer) -> None:
    smtp_server.script.hang_up_on("RCPT")
    with make_sender(smtp_server) as sender:
        result = send(sender, 1)
        again = send(sender, 1)

    assert result.outcome is Outcome.TRANSIENT
    assert result.stage == "rcpt"
    assert "nothing was delivered" in result.explanation
    assert again.sent
    assert len(smtp_server.messages) == 1


def test_a_refused_connection_is_transient_and_names_the_setting_to_check() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sender = SmtpSender("127.0.0.1", port, "starttls", "u", Secret("p" * 16), helo_name=HELO, timeout=5)
    with sender:
        result = send(sender)

    assert result.outcome is Outcome.TRANSIENT
    assert result.stage == "connect"
    assert "SMTP_PORT" in result.explanation


def test_a_server_that_never_greets_times_out_with_the_blocked_port_advice() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel completes the handshake; nobody ever says 220
        sender = SmtpSender(
            "127.0.0.1",
            silent.getsockname()[1],
            "starttls",
            "u",
            Secret("p" * 16),
            helo_name=HELO,
            timeout=0.2,
        )
        with sender:
            result = send(sender)

    assert result.outcome is Outcome.TRANSIENT
    assert "block outbound ports 25, 465 and 587" in result.explanation


# -- certificates ----------------------------------------------------------------------------------------


def test_a_certificate_from_an_untrusted_ca_pauses_with_the_certificate_advice(
    smtp_server: GmailLikeServer,
) -> None:
    stranger = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    trustme.CA().configure_trust(stranger)  # trusts some CA, not the one that signed the server's cert
    with make_sender(smtp_server, ssl_context=stranger) as sender:
        result = send(sender)

    assert result.outcome is Outcome.CREDENTIALS
    assert result.stage == "tls"
    assert "certificate" in result.explanation
    assert "SSL_CERT_FILE" in result.explanation
    assert smtp_server.logins == 0
    assert "AUTH" not in smtp_server.sessions[0].verbs


def test_implicit_tls_with_an_untrusted_certificate_is_refused_too() -> None:
    stranger = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    trustme.CA().configure_trust(stranger)
    with (
        gmail_like_server(mode="ssl") as server,
        make_sender(server, security="ssl", ssl_context=stranger) as s,
    ):
        result = send(s)

    assert result.outcome is Outcome.CREDENTIALS
    assert "SSL_CERT_FILE" in result.explanation


def test_the_default_context_trusts_the_ca_named_by_ssl_cert_file(
    smtp_server: GmailLikeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "ca.pem"
    smtp_server.ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    with make_sender(smtp_server, ssl_context=None) as sender:
        assert send(sender).sent


def test_implicit_tls_against_a_starttls_port_says_the_port_does_not_speak_tls(
    smtp_server: GmailLikeServer,
) -> None:
    with make_sender(smtp_server, security="ssl") as sender:
        result = send(sender)

    assert result.outcome is Outcome.CREDENTIALS
    assert "check SMTP_PORT and SMTP_SECURITY" in result.explanation


# -- bridge check ----------------------------------------------------------------------------------------


def test_login_check_logs_in_without_sending(smtp_server: GmailLikeServer) -> None:
    report = make_sender(smtp_server).login_check()

    assert isinstance(report, LoginReport)
    assert report.tls_version is not None and report.tls_version.startswith("TLS")
    assert report.reply.startswith("235 2.7.0")
    assert "as sklep.przyklad@gmail.com" in str(report)
    assert smtp_server.sessions[0].verbs == ["EHLO", "STARTTLS", "EHLO", "AUTH", "QUIT"]
    assert smtp_server.messages == []


def test_login_check_with_a_revoked_app_password_raises_a_permanent_error(
    smtp_server: GmailLikeServer,
) -> None:
    with pytest.raises(DeliveryError) as raised:
        make_sender(smtp_server, password=Secret("revokedrevokedre")).login_check()

    assert raised.value.permanent
    assert "https://myaccount.google.com/apppasswords" in str(raised.value)
    assert "535 5.7.8" in str(raised.value)


def test_login_check_when_gmail_refuses_logins_for_a_while_is_not_permanent(
    smtp_server: GmailLikeServer,
) -> None:
    smtp_server.script.next_reply("AUTH", "454 4.7.0 Too many login attempts, please try again later.")
    with pytest.raises(DeliveryError) as raised:
        make_sender(smtp_server).login_check()

    assert not raised.value.permanent
    assert "454 4.7.0" in str(raised.value)


def test_login_check_against_a_closed_port_is_not_permanent() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sender = SmtpSender("127.0.0.1", port, "starttls", "u", Secret("p" * 16), helo_name=HELO, timeout=5)
    with pytest.raises(DeliveryError) as raised:
        sender.login_check()

    assert not raised.value.permanent
    assert "SMTP_PORT" in str(raised.value)


# -- secrets ---------------------------------------------------------------------------------------------


def test_the_password_never_reaches_results_errors_or_logs(
    smtp_server: GmailLikeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    password = smtp_server.password
    wrong = "wrongpasswordxyz"
    texts: list[str] = []

    good = make_sender(smtp_server)
    texts += [repr(good), str(good)]
    with good:
        smtp_server.script.drop_after_data()
        smtp_server.script.next_reply("AUTH", "535 5.7.8 Username and Password not accepted.")
        for result in (send(good, 1), send(good, 2), send(good, 3)):
            texts += [repr(result), result.reply, result.explanation]
    with make_sender(smtp_server, password=Secret(wrong)) as bad:
        result = send(bad)
        texts += [repr(result), result.reply, result.explanation]
        with pytest.raises(DeliveryError) as raised:
            bad.login_check()
        texts += [str(raised.value), repr(raised.value)]
    texts += [record.getMessage() for record in caplog.records]

    assert any("smtp" in record.name for record in caplog.records)
    for secret in (password, wrong):
        forms = [
            secret,
            base64.b64encode(secret.encode()).decode(),
            base64.b64encode(f"\0{smtp_server.username}\0{secret}".encode()).decode(),
        ]
        leaks = [text for text in texts for form in forms if form in text]
        assert leaks == []


# -- bridge check, from the owner's settings -------------------------------------------------------------


def owner_settings(server: GmailLikeServer, tmp_path: Path, **extra: str) -> Settings:
    """Settings as an owner writes them for `server`, its CA trusted through SMTP_CA_FILE."""
    bundle = tmp_path / "relay-ca.pem"
    server.ca.cert_pem.write_to_path(str(bundle))
    return Settings.from_mapping(
        {
            "PRESTASHOP_URL": "https://sklep.example.pl",
            "PRESTASHOP_API_KEY": "K" * 32,
            "SMTP_HOST": server.host,
            "SMTP_PORT": str(server.port),
            "SMTP_USERNAME": server.username,
            "SMTP_PASSWORD": server.password,
            "SMTP_HELO_NAME": HELO,
            "SMTP_CA_FILE": str(bundle),
            "STATE_DIR": str(tmp_path / "state"),
            **extra,
        }
    )


def test_bridge_check_logs_in_to_the_configured_server_without_sending(
    smtp_server: GmailLikeServer, tmp_path: Path
) -> None:
    report = check_smtp(owner_settings(smtp_server, tmp_path))

    assert report.login is not None
    assert str(report).startswith(f"SMTP {smtp_server.host}:{smtp_server.port}: connected over TLS")
    assert f"as {smtp_server.username}: 235 2.7.0" in str(report)
    assert report.warnings == []
    [session] = smtp_server.sessions
    assert session.verbs == ["EHLO", "STARTTLS", "EHLO", "AUTH", "QUIT"]
    assert session.commands[0] == f"EHLO {HELO}"
    assert smtp_server.messages == []


def test_bridge_check_with_a_revoked_app_password_says_to_create_a_new_one(
    smtp_server: GmailLikeServer, tmp_path: Path
) -> None:
    settings = owner_settings(smtp_server, tmp_path, SMTP_PASSWORD="revokedrevokedre")
    with pytest.raises(DeliveryError) as raised:
        check_smtp(settings)

    assert raised.value.permanent
    assert "the app password was refused or revoked" in str(raised.value)
    assert "https://myaccount.google.com/apppasswords" in str(raised.value)
    assert "535 5.7.8 Username and Password not accepted." in str(raised.value)
    assert smtp_server.auth_attempts == 1


def test_bridge_check_does_not_connect_when_mail_goes_to_files(
    smtp_server: GmailLikeServer, tmp_path: Path
) -> None:
    report = check_smtp(owner_settings(smtp_server, tmp_path, MAIL_TRANSPORT="file"))

    assert report.login is None
    assert "MAIL_TRANSPORT=file" in str(report)
    assert smtp_server.connections == 0


def test_a_daily_limit_above_what_a_personal_gmail_account_allows_is_warned_about(tmp_path: Path) -> None:
    base = {
        "PRESTASHOP_URL": "https://sklep.example.pl",
        "PRESTASHOP_API_KEY": "K" * 32,
        "SMTP_USERNAME": "sklep@gmail.com",
        "SMTP_PASSWORD": "abcdwxyzefghstuv",
        "STATE_DIR": str(tmp_path),
    }
    assert smtp_findings(Settings.from_mapping(base)) == []
    [finding] = smtp_findings(Settings.from_mapping({**base, "DAILY_SEND_LIMIT": "1500"}))
    assert "a personal Gmail account may send to about 500 recipients a day" in finding.text
    workspace = {**base, "SMTP_USERNAME": "sklep@zolta-lodka.pl", "DAILY_SEND_LIMIT": "1500"}
    assert smtp_findings(Settings.from_mapping(workspace)) == []


def test_smtp_ca_file_adds_to_the_system_cas_and_a_file_that_is_not_one_is_refused_at_once(
    tmp_path: Path,
) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("this is not a certificate\n")
    with pytest.raises(ConfigError) as raised:
        Settings.from_mapping({"SMTP_CA_FILE": str(not_pem), "STATE_DIR": str(tmp_path)})
    assert "SMTP_CA_FILE: is not a PEM file of CA certificates" in str(raised.value)

    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(not_pem))
    context = smtp_ssl_context(not_pem)
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert len(context.get_ca_certs()) == len(ssl.create_default_context().get_ca_certs()) + 1  # added
