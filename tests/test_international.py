"""International addresses and display names with specials, read from the bytes that crossed the wire.

A real SMTP server on 127.0.0.1 (tests/smtp_server.py) offers SMTPUTF8 as Gmail does, or does not (as a
Postfix with `smtputf8_enable = no`, which refuses what it cannot carry). The rule (docs/design.md §5.5):
with SMTPUTF8 every address goes as it is; without it a non-ASCII domain goes as IDNA (punycode) and a
non-ASCII local part fails that one email with a one-line reason naming the address masked. Display
names with quotes, commas, @, <> or Polish letters always read back as exactly one address with that name.
"""

from __future__ import annotations

import dataclasses
import email
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email import policy
from email.errors import NonASCIILocalPartDefect
from email.header import decode_header, make_header
from email.message import EmailMessage
from pathlib import Path
from typing import Final

import idna
import pytest

from bridge.config.parse import Invalid, parse_address
from bridge.delivery.smtp import Outcome, SendResult, SmtpSender
from bridge.delivery.transports import FileTransport
from bridge.mail.lint import SAMPLE_SHOP
from bridge.mail.render import render_email
from bridge.model.headers import make_address
from bridge.model.identity import ShopIdentity
from bridge.model.kinds import get_kind
from bridge.secret import Secret
from tests.smtp_server import GmailLikeServer, ReceivedMessage, gmail_like_server

NOW: Final = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
UTF8_LOCAL: Final = "żółw@example.pl"
IDN: Final = "zofia@żółw.pl"
IDN_ASCII: Final = "zofia@" + idna.encode("żółw.pl", uts46=True).decode()
SPECIALS_NAME: Final = 'Zofia "Żółw" Nowak, <biuro@evil.example>; (dział)'
NAMES: Final = (
    SPECIALS_NAME,
    'Anna "the boss" Nowak',
    "Nowak, Jan",
    "a@b.pl",
    "<victim@evil.example>",
    "Kowalski, Jan (biuro)",
    "Sklep Sp. z o.o.",
    "Ą; B: C",
    '"',
    "\\",
    "O'Brien",
    "Łukasz Wójcik",
    "Anna Bcc: victim@evil.example, Jan Kowalski Sp. z o.o. ltd, a very long company name",
    "Zażółć gęślą jaźń, „sklep” @ <Łódź> " * 3,
    "Bob " * 25,
)


@pytest.fixture
def gmail() -> Iterator[GmailLikeServer]:
    with gmail_like_server() as server:
        yield server


@pytest.fixture
def ascii_only() -> Iterator[GmailLikeServer]:
    with gmail_like_server(smtputf8=False) as server:
        yield server


def rendered(name: str, address: str, shop: ShopIdentity = SAMPLE_SHOP) -> EmailMessage:
    """A real email as delivery renders it (the shipped templates)."""
    return render_email(
        "processing",
        "pl",
        get_kind("processing").sample(),
        shop=shop,
        message_id="<intl.1@zolta-lodka.pl>",
        recipient=make_address(name, address),
        now=NOW,
    ).message


def send(server: GmailLikeServer, *messages: tuple[EmailMessage, str, str]) -> list[SendResult]:
    """(message, envelope from, recipient) each, over one STARTTLS connection."""
    with SmtpSender(
        server.host,
        server.port,
        "starttls",
        server.username,
        Secret(server.password),
        helo_name="sklep.example.pl",
        timeout=5.0,
        ssl_context=server.client_context(),
    ) as sender:
        return [sender.send(m, envelope_from=sender_, recipients=[to]) for m, sender_, to in messages]


def wire(server: GmailLikeServer, verb: bytes) -> list[bytes]:
    return [line for session in server.sessions for line in session.wire if line.startswith(verb)]


def head_of(received: ReceivedMessage) -> bytes:
    return received.raw.split(b"\r\n\r\n", 1)[0]


def reread(raw: bytes) -> EmailMessage:
    """The message as an RFC 6532 reader sees it (UTF-8 headers, or ASCII ones)."""
    parsed = email.message_from_string(raw.decode("utf-8"), policy=policy.SMTPUTF8)
    assert isinstance(parsed, EmailMessage)
    return parsed


def client_name(head: bytes, header: str) -> str:
    """The display name as a mail client decodes it (RFC 2047 §6.2: folding between encoded words is
    dropped; Python's reader keeps it as a space, so it is not used here)."""
    unfolded = re.sub(rb"\r\n[ \t]", b" ", head).decode("utf-8")
    [line] = [line for line in unfolded.split("\r\n") if line.lower().startswith(header.lower() + ":")]
    phrase = line.split(":", 1)[1].strip().rpartition(" <")[0]
    if phrase.startswith("=?"):
        return str(make_header(decode_header(phrase)))
    if phrase.startswith('"'):
        return re.sub(r"\\(.)", r"\1", phrase[1:-1])
    return phrase


def assert_one_address(received: ReceivedMessage, header: str, name: str, addr_spec: str) -> None:
    parsed = reread(received.raw)[header]
    assert [a.addr_spec for a in parsed.addresses] == [addr_spec]
    assert [d for d in parsed.defects if not isinstance(d, NonASCIILocalPartDefect)] == []
    assert client_name(head_of(received), header) == name
    assert max(len(line) for line in received.raw.split(b"\r\n")) <= 998
    assert all(len(word) <= 75 for word in re.findall(rb"=\?[^?]+\?[bBqQ]\?[^?]*\?=", head_of(received)))


# --- SMTPUTF8 offered -----------------------------------------------------------------------------------


def test_a_utf8_local_part_goes_as_it_is_with_smtputf8(gmail: GmailLikeServer) -> None:
    [result] = send(gmail, (rendered(SPECIALS_NAME, UTF8_LOCAL), SAMPLE_SHOP.from_email, UTF8_LOCAL))

    assert result.sent, result
    [mail] = wire(gmail, b"MAIL")
    assert mail.startswith(f"MAIL FROM:<{SAMPLE_SHOP.from_email}> ".encode())
    assert b"SMTPUTF8" in mail.split()
    assert wire(gmail, b"RCPT") == [f"RCPT TO:<{UTF8_LOCAL}>".encode()]
    [received] = gmail.messages
    assert received.recipients == (UTF8_LOCAL,)
    quoted = SPECIALS_NAME.replace('"', '\\"')
    unfolded = re.sub(rb"\r\n[ \t]", b" ", head_of(received))
    assert f'\r\nTo: "{quoted}" <{UTF8_LOCAL}>\r\n'.encode() in unfolded  # raw UTF-8 (RFC 6532), quoted
    assert_one_address(received, "To", SPECIALS_NAME, UTF8_LOCAL)


def test_a_utf8_sender_address_goes_with_smtputf8(gmail: GmailLikeServer) -> None:
    shop = dataclasses.replace(SAMPLE_SHOP, from_email="sklep-żółw@example.pl")

    [result] = send(
        gmail, (rendered("Jan Kowalski", "jan@example.pl", shop), shop.from_email, "jan@example.pl")
    )

    assert result.sent, result
    [mail] = wire(gmail, b"MAIL")
    assert mail.startswith("MAIL FROM:<sklep-żółw@example.pl> ".encode()) and b"SMTPUTF8" in mail.split()
    assert_one_address(gmail.messages[0], "From", SAMPLE_SHOP.from_name, "sklep-żółw@example.pl")


def test_an_idn_domain_goes_as_it_is_with_smtputf8(gmail: GmailLikeServer) -> None:
    [result] = send(gmail, (rendered("Zofia Żółw", IDN), SAMPLE_SHOP.from_email, IDN))

    assert result.sent, result
    assert wire(gmail, b"RCPT") == [f"RCPT TO:<{IDN}>".encode()]
    assert b"SMTPUTF8" in wire(gmail, b"MAIL")[0].split()
    assert_one_address(gmail.messages[0], "To", "Zofia Żółw", IDN)


# --- SMTPUTF8 not offered -------------------------------------------------------------------------------


def test_without_smtputf8_a_utf8_local_part_fails_that_email_alone(ascii_only: GmailLikeServer) -> None:
    results = send(
        ascii_only,
        (rendered("Zofia", UTF8_LOCAL), SAMPLE_SHOP.from_email, UTF8_LOCAL),
        (rendered("Jan", "jan@example.pl"), SAMPLE_SHOP.from_email, "jan@example.pl"),
    )

    failed, next_one = results
    assert failed.outcome is Outcome.MESSAGE_PERMANENT  # failed for good: no retry, no pause
    assert "ż***@example.pl" in failed.explanation and "SMTPUTF8" in failed.explanation
    assert "żółw" not in failed.explanation and "\n" not in failed.explanation
    assert next_one.sent  # the connection and the next email are not affected
    assert wire(ascii_only, b"RCPT") == [b"RCPT TO:<jan@example.pl>"]  # the failed one never reached MAIL
    assert all(b"SMTPUTF8" not in line for line in wire(ascii_only, b"MAIL"))


def test_without_smtputf8_a_utf8_reply_to_fails_with_its_address_masked(ascii_only: GmailLikeServer) -> None:
    shop = dataclasses.replace(SAMPLE_SHOP, reply_to_email="biuro-żółw@example.pl")

    [result] = send(ascii_only, (rendered("Jan", "jan@example.pl", shop), shop.from_email, "jan@example.pl"))

    assert result.outcome is Outcome.MESSAGE_PERMANENT
    assert "b***@example.pl" in result.explanation
    assert ascii_only.messages == []


def test_without_smtputf8_an_idn_domain_goes_as_punycode(ascii_only: GmailLikeServer) -> None:
    shop = dataclasses.replace(SAMPLE_SHOP, from_email="sklep@żółta-łódka.pl")
    from_ascii = "sklep@" + idna.encode("żółta-łódka.pl", uts46=True).decode()

    [result] = send(ascii_only, (rendered("Zofia Żółw, biuro", IDN, shop), shop.from_email, IDN))

    assert result.sent, result
    [mail] = wire(ascii_only, b"MAIL")
    assert mail.startswith(f"MAIL FROM:<{from_ascii}> ".encode()) and b"SMTPUTF8" not in mail
    assert wire(ascii_only, b"RCPT") == [f"RCPT TO:<{IDN_ASCII}>".encode()]
    [received] = ascii_only.messages
    assert head_of(received).isascii()
    assert_one_address(received, "To", "Zofia Żółw, biuro", IDN_ASCII)
    assert_one_address(received, "From", SAMPLE_SHOP.from_name, from_ascii)


def test_without_smtputf8_a_domain_idna_cannot_write_fails_with_its_address_masked(
    ascii_only: GmailLikeServer,
) -> None:
    address = "zofia@☃.pl"  # a snowman: allowed by SMTPUTF8, not by IDNA 2008

    [result] = send(ascii_only, (rendered("Zofia", address), SAMPLE_SHOP.from_email, address))

    assert result.outcome is Outcome.MESSAGE_PERMANENT
    assert result.explanation.startswith("the address z***@☃.pl: the domain cannot be written in ASCII")
    assert "\n" not in result.explanation and wire(ascii_only, b"MAIL") == []


# --- display names --------------------------------------------------------------------------------------


@pytest.mark.parametrize("smtputf8", [True, False], ids=["smtputf8", "ascii"])
@pytest.mark.parametrize("name", NAMES, ids=[f"name{i}" for i in range(len(NAMES))])
def test_a_display_name_with_specials_reads_back_as_one_address_with_that_name(
    name: str, smtputf8: bool, gmail: GmailLikeServer, ascii_only: GmailLikeServer
) -> None:
    server = gmail if smtputf8 else ascii_only
    address = IDN if smtputf8 else "jan@example.pl"  # an IDN recipient is what makes Gmail's path UTF-8
    message = rendered(name, address)
    shown = message["To"].addresses[0].display_name  # cleaned and cut to 100 characters by make_address

    [result] = send(server, (message, SAMPLE_SHOP.from_email, address))

    assert result.sent, result
    [received] = server.messages
    assert head_of(received).isascii() is not smtputf8
    assert_one_address(received, "To", shown, address)
    assert shown.rstrip("…").strip() in name


# --- the file transport and the settings -----------------------------------------------------------------


def test_the_file_transport_writes_international_addresses(tmp_path: Path) -> None:
    transport = FileTransport(tmp_path / "emails")

    for address in (UTF8_LOCAL, IDN):
        result = transport.send(rendered(SPECIALS_NAME, address), envelope_from="x@example.pl", recipients=[])
        assert result.sent

    first, second = sorted((tmp_path / "emails").glob("*.eml"))
    assert f"<{UTF8_LOCAL}>".encode() in first.read_bytes()  # RFC 6532: the only way to write it
    assert head_of_file(second).isascii() and f"<{IDN_ASCII}>".encode() in second.read_bytes()
    for path, address in ((first, UTF8_LOCAL), (second, IDN_ASCII)):
        parsed = reread(path.read_bytes())
        assert [a.addr_spec for a in parsed["To"].addresses] == [address]
        assert path.with_suffix(".html").read_text(encoding="utf-8").startswith("<!")
    index = (tmp_path / "emails" / "index.html").read_text(encoding="utf-8")
    assert UTF8_LOCAL in index and IDN_ASCII in index and "Żółw" in index


def head_of_file(path: Path) -> bytes:
    return path.read_bytes().split(b"\r\n\r\n", 1)[0]


def test_settings_take_an_address_with_a_utf8_local_part() -> None:
    address = parse_address("Sklep Żółw <sklep-żółw@example.pl>")

    assert (address.display_name, address.username, address.domain) == (
        "Sklep Żółw",
        "sklep-żółw",
        "example.pl",
    )
    for broken in ("żółw@", "a@b@c.pl", "Sklep <żółw@example.pl>, x@example.pl"):
        with pytest.raises(Invalid):
            parse_address(broken)
