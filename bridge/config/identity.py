"""Who the shop's mail says it comes from: the sender, where replies go, the name given in EHLO.

The sender defaults to the SMTP login when that is an address, and the EHLO name to the sender's domain,
so a Gmail shop sets neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.headerregistry import Address
from typing import Final, TypedDict

from bridge.config.parse import Invalid, parse_address, parse_helo_name
from bridge.config.reader import Reader, Setting
from bridge.config.sending import SMTP_USERNAME, Server

# Used only when no shop is configured and nothing else names a sender: a reserved domain (RFC 2606), so
# nothing sent with it can reach a real person's address.
DEMO_MAIL_FROM: Final = "Demo Shop <demo-shop@example.com>"

SMTP_HELO_NAME = Setting(
    "SMTP_HELO_NAME", "", parse_helo_name, "The name sent in EHLO. Empty: the domain of MAIL_FROM."
)
MAIL_FROM = Setting(
    "MAIL_FROM",
    "",
    parse_address,
    'The sender, optionally with a name: "Sklep Zofii <sklep@gmail.com>". Empty: SMTP_USERNAME.',
)
MAIL_REPLY_TO = Setting(
    "MAIL_REPLY_TO",
    "",
    parse_address,
    "Where customers' replies go. Empty: the shop's email (PS_SHOP_EMAIL).",
)


@dataclass(frozen=True)
class Sender:
    """The sender and EHLO name as settled; None only when a problem is filed."""

    mail_from: Address | None
    helo: str | None


class IdentityFields(TypedDict):
    mail_from: Address
    mail_reply_to: Address | None
    smtp_helo_name: str


def settle_sender(reader: Reader, server: Server, *, demo: bool) -> Sender:
    """MAIL_FROM or its default, checked against the Gmail account; then the EHLO name."""
    mail_from, helo = reader.read(MAIL_FROM), reader.read(SMTP_HELO_NAME)
    username = server.username
    if mail_from is None and MAIL_FROM.name not in reader.failed:
        mail_from = _mail_from_default(reader, username=username, demo=demo)
    if (
        mail_from is not None
        and server.gmail
        and server.transport == "smtp"
        and username
        and mail_from.addr_spec.lower() != username.lower()
    ):
        reader.warn(
            f"MAIL_FROM ({mail_from.addr_spec}) is not SMTP_USERNAME ({username}): Gmail replaces it"
            " with the account's address unless it is a verified 'Send mail as' alias"
        )
    if helo is None and mail_from is not None and SMTP_HELO_NAME.name not in reader.failed:
        helo = _helo_from(reader, mail_from)
    return Sender(mail_from=mail_from, helo=helo)


def identity_fields(reader: Reader, sender: Sender) -> IdentityFields:
    """Asked once there is no problem: then the sender is settled."""
    assert sender.mail_from is not None and sender.helo is not None
    return IdentityFields(
        mail_from=sender.mail_from,
        mail_reply_to=reader.read(MAIL_REPLY_TO),
        smtp_helo_name=sender.helo,
    )


def _mail_from_default(reader: Reader, *, username: str | None, demo: bool) -> Address | None:
    if username:
        try:
            return parse_address(username)
        except Invalid:
            if not demo:
                reader.problem(
                    MAIL_FROM.name, f"required, because SMTP_USERNAME ({username}) is not an address"
                )
                return None
    if demo:
        return parse_address(DEMO_MAIL_FROM)
    if SMTP_USERNAME.name not in reader.failed:
        reader.problem(MAIL_FROM.name, "required (or an SMTP_USERNAME that is an email address)")
    return None


def _helo_from(reader: Reader, mail_from: Address) -> str | None:
    try:
        return parse_helo_name(mail_from.domain.encode("idna").decode("ascii"))
    except (Invalid, UnicodeError):
        reader.problem(
            SMTP_HELO_NAME.name, f"required: MAIL_FROM's domain {mail_from.domain!r} is not a host name"
        )
        return None
