"""The sending account's mailbox, read over IMAP: the Sent folder settles emails whose send was cut off.

Gmail keeps a copy of every message its SMTP server accepts in the account's Sent folder, reachable over
IMAP with the same app password. So with Gmail the defaults need nothing new: IMAP is on, the server is
imap.gmail.com:993 (implicit TLS) and the login is SMTP's. Any other SMTP server: IMAP is off unless the
owner turns it on and names the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Final, TypedDict

from bridge.config.parse import (
    Invalid,
    parse_ca_file,
    parse_choice,
    parse_duration,
    parse_hostname,
    parse_int,
    parse_secret,
    parse_str,
)
from bridge.config.reader import Reader, Setting
from bridge.config.sending import SMTP_CA_FILE, Server
from bridge.secret import Secret

GMAIL_IMAP: Final = ("imap.gmail.com", 993)
IMAPS_PORT: Final = 993


def parse_host_port(raw: str) -> tuple[str, int]:
    """`imap.example.com` (port 993) or `imap.example.com:993`: IMAP over implicit TLS."""
    host, _, port = raw.partition(":")
    port = port or str(IMAPS_PORT)
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise Invalid("must be host:port, like imap.gmail.com:993")
    return parse_hostname(host), int(port)


IMAP = Setting(
    "IMAP",
    "",
    parse_choice("on", "off"),
    "Read the sending account's mailbox over IMAP (read-only): the Sent folder settles emails whose send"
    " was cut off. Empty: on for Gmail, off for other servers.",
)
IMAP_HOST = Setting(
    "IMAP_HOST",
    "",
    parse_host_port,
    "The IMAP server as host:port (implicit TLS). Empty: imap.gmail.com:993 for Gmail.",
)
IMAP_USERNAME = Setting(
    "IMAP_USERNAME", "", parse_str, "The IMAP login. Empty: SMTP_USERNAME (Gmail: the same account)."
)
IMAP_PASSWORD = Setting(
    "IMAP_PASSWORD",
    "",
    parse_secret,
    "The IMAP password. Empty: SMTP_PASSWORD (Gmail: the same app password). Or IMAP_PASSWORD_FILE.",
    secret=True,
)
IMAP_CA_FILE = Setting(
    "IMAP_CA_FILE",
    "",
    parse_ca_file,
    "Extra CA certificates (PEM) trusted for the IMAP server. Empty: SMTP_CA_FILE's, or the system's.",
)
IMAP_SETTLE_AFTER = Setting(
    "IMAP_SETTLE_AFTER",
    "2m",
    parse_duration(timedelta(seconds=0), timedelta(hours=1)),
    "How long after a cut-off send the Sent folder is first asked (Gmail files its copy within seconds).",
)
IMAP_SETTLE_WINDOW = Setting(
    "IMAP_SETTLE_WINDOW",
    "30m",
    parse_duration(timedelta(minutes=1), timedelta(days=2)),
    "A cut-off send not in the Sent folder this long after it is sent again, with the same Message-ID.",
)
BOUNCE_SOFT_LIMIT = Setting(
    "BOUNCE_SOFT_LIMIT",
    "3",
    parse_int(1, 100),
    "An address whose mail bounced softly (4.x.x: mailbox full, …) this many times gets no more mail.",
)
MAILBOX_SETTINGS: Final = (
    IMAP,
    IMAP_HOST,
    IMAP_USERNAME,
    IMAP_PASSWORD,
    IMAP_CA_FILE,
    IMAP_SETTLE_AFTER,
    IMAP_SETTLE_WINDOW,
    BOUNCE_SOFT_LIMIT,
)


@dataclass(frozen=True, repr=False)
class Mailbox:
    """Where and how the bridge reads the mailbox (`Settings.mailbox`; None: IMAP is off)."""

    host: str
    port: int
    username: str
    password: Secret
    ca_file: Path | None = None
    settle_after: timedelta = timedelta(minutes=2)
    settle_window: timedelta = timedelta(minutes=30)
    bounce_soft_limit: int = 3

    def __repr__(self) -> str:
        return f"Mailbox({self.username}@{self.host}:{self.port})"


class MailboxFields(TypedDict):
    imap: bool
    imap_host: tuple[str, int] | None
    imap_username: str | None
    imap_password: Secret | None
    imap_ca_file: Path | None
    imap_settle_after: timedelta
    imap_settle_window: timedelta
    bounce_soft_limit: int


def settle_mailbox(reader: Reader, server: Server) -> MailboxFields:
    """The mailbox settings with their defaults applied from the SMTP server (`imap` False: IMAP is off)."""
    for row in MAILBOX_SETTINGS:
        reader.read(row)  # each row parsed once, its problems filed in table order
    after = reader.read(IMAP_SETTLE_AFTER)
    fields = MailboxFields(
        imap=False,
        imap_host=None,
        imap_username=None,
        imap_password=None,
        imap_ca_file=reader.read(IMAP_CA_FILE) or reader.read(SMTP_CA_FILE),
        imap_settle_after=timedelta(minutes=2) if after is None else after,  # `or`: 0s would be 2m
        imap_settle_window=reader.read(IMAP_SETTLE_WINDOW) or timedelta(minutes=30),
        bounce_soft_limit=reader.read(BOUNCE_SOFT_LIMIT) or 3,
    )
    switch = reader.read(IMAP)
    on = switch == "on" if switch else server.gmail and server.transport == "smtp"
    if not on or IMAP.name in reader.failed:
        return fields
    host = reader.read(IMAP_HOST) or (GMAIL_IMAP if server.gmail else None)
    if host is None:
        if IMAP_HOST.name not in reader.failed:
            reader.problem(IMAP_HOST.name, "required with IMAP=on (for Gmail: imap.gmail.com:993)")
        return fields
    username = reader.read(IMAP_USERNAME) or server.username
    password = reader.read(IMAP_PASSWORD) or server.password
    if not username or password is None:
        # By default IMAP borrows SMTP's login, whose absence SMTP's own check reports.
        refused = {IMAP_USERNAME.name, IMAP_PASSWORD.name, "SMTP_USERNAME", "SMTP_PASSWORD"} & reader.failed
        if switch == "on" and not refused:
            reader.problem(IMAP_USERNAME.name, "IMAP=on needs a login: set IMAP_USERNAME and IMAP_PASSWORD")
        return fields
    return {**fields, "imap": True, "imap_host": host, "imap_username": username, "imap_password": password}


def mailbox_of(fields: MailboxFields) -> Mailbox | None:
    """The mailbox these settings read; None when IMAP is off."""
    host, username, password = fields["imap_host"], fields["imap_username"], fields["imap_password"]
    if not fields["imap"] or host is None or not username or password is None:
        return None
    return Mailbox(
        host=host[0],
        port=host[1],
        username=username,
        password=password,
        ca_file=fields["imap_ca_file"],
        settle_after=fields["imap_settle_after"],
        settle_window=fields["imap_settle_window"],
        bounce_soft_limit=fields["bounce_soft_limit"],
    )
