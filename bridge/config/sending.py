"""How mail leaves: the SMTP server and its login, or .eml files; the daily budget and the pace.

The server's settings are checked against each other (a port that does not speak the chosen security, a
login without a password, clear text to a remote server) and against Gmail's known limits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Final, Literal, TypedDict, cast

from bridge.config.parse import (
    is_loopback,
    parse_ca_file,
    parse_choice,
    parse_duration,
    parse_hostname,
    parse_int,
    parse_secret,
    parse_str,
)
from bridge.config.reader import Reader, Setting
from bridge.secret import Secret

SmtpSecurity = Literal["starttls", "ssl", "none"]
MailTransport = Literal["smtp", "file"]

GMAIL_HOSTS: Final = frozenset({"smtp.gmail.com", "smtp.googlemail.com"})

SMTP_HOST = Setting("SMTP_HOST", "smtp.gmail.com", parse_hostname, "The SMTP server.")
SMTP_PORT = Setting(
    "SMTP_PORT", "587", parse_int(1, 65535), "The SMTP port: 587 with starttls; 465 is the default with ssl."
)
SMTP_SECURITY = Setting(
    "SMTP_SECURITY",
    "starttls",
    parse_choice("starttls", "ssl", "none"),
    "starttls (port 587), ssl (implicit TLS, port 465) or none (only for a server on this machine).",
)
SMTP_USERNAME = Setting(
    "SMTP_USERNAME",
    "",
    parse_str,
    "The SMTP login; for Gmail the full address.",
    placeholder="your.shop@gmail.com",
)
SMTP_PASSWORD = Setting(
    "SMTP_PASSWORD",
    "",
    parse_secret,
    "The SMTP password; for Gmail a 16-letter app password (spaces are removed). Or SMTP_PASSWORD_FILE.",
    secret=True,
    placeholder="your 16-letter app password",
)
SMTP_TIMEOUT = Setting(
    "SMTP_TIMEOUT",
    "60s",
    parse_duration(timedelta(seconds=1), timedelta(seconds=600)),
    "How long one SMTP exchange may take.",
)
SMTP_CA_FILE = Setting(
    "SMTP_CA_FILE",
    "",
    parse_ca_file,
    "Extra CA certificates (PEM) trusted for the SMTP server, on top of the system's. Empty: the system's.",
)
SMTP_LOGIN_RETRY = Setting(
    "SMTP_LOGIN_RETRY",
    "1h",
    parse_duration(timedelta(minutes=5), timedelta(days=1)),
    "After the SMTP server refused the login (or TLS failed), how long sending pauses before one new try.",
)
MAIL_TRANSPORT = Setting(
    "MAIL_TRANSPORT",
    "smtp",
    parse_choice("smtp", "file"),
    "smtp sends; file writes .eml files into MAIL_FILE_DIR. Default smtp (file for the demo shop).",
)
DAILY_SEND_LIMIT = Setting(
    "DAILY_SEND_LIMIT",
    "400",
    parse_int(1, 10000),
    "Recipients per rolling 24 hours (consumer Gmail allows ~500, Workspace 2000).",
)
SEND_RATE_PER_MINUTE = Setting(
    "SEND_RATE_PER_MINUTE",
    "20",
    parse_int(1, 1000),
    "At most this many emails a minute; the rest wait for the next cycle.",
)
UNKNOWN_POLICY = Setting(
    "UNKNOWN_POLICY",
    "hold",
    parse_choice("hold", "resend"),
    "An email whose sending was cut off after the server may have accepted it: hold it for"
    " `bridge outbox retry`, or resend it with the same Message-ID.",
)


@dataclass(frozen=True)
class Server:
    """The SMTP server, its login and the transport, with their defaults applied."""

    host: str
    port: int
    security: SmtpSecurity
    username: str | None
    password: Secret | None
    transport: MailTransport

    @property
    def gmail(self) -> bool:
        return self.host in GMAIL_HOSTS


class SendingFields(TypedDict):
    smtp_host: str
    smtp_port: int
    smtp_security: SmtpSecurity
    smtp_username: str | None
    smtp_password: Secret | None
    smtp_timeout: timedelta
    smtp_ca_file: Path | None
    smtp_login_retry: timedelta
    mail_transport: MailTransport
    daily_send_limit: int
    send_rate_per_minute: int
    unknown_policy: Literal["hold", "resend"]


def settle_server(reader: Reader, *, demo: bool) -> Server:
    """The server with its defaults applied, its settings checked against each other."""
    host = reader.read(SMTP_HOST) or SMTP_HOST.default
    security = cast(SmtpSecurity, reader.read(SMTP_SECURITY) or "starttls")
    port = reader.read(SMTP_PORT)
    if SMTP_PORT.name not in reader.given and security == "ssl":
        port = 465
    port = port or int(SMTP_PORT.default)  # a refused port is replaced by the default
    password = reader.read(SMTP_PASSWORD)
    if password is not None:
        password = _app_password(reader, password, gmail=host in GMAIL_HOSTS)
        reader.secret_values.add(password.reveal())
    # No shop configured (PRESTASHOP_URL empty): no customer can be mailed; test mail goes to files.
    transport = reader.read(MAIL_TRANSPORT)
    if demo and MAIL_TRANSPORT.name not in reader.given:
        transport = "file"
    server = Server(
        host=host,
        port=port,
        security=security,
        username=reader.read(SMTP_USERNAME),
        password=password,
        transport=cast(MailTransport, transport or "smtp"),
    )
    if not {SMTP_HOST.name, SMTP_SECURITY.name} & reader.failed:
        _check_security(reader, server)
        if server.transport == "smtp":
            _check_credentials(reader, server)
    return server


def check_budget(reader: Reader, server: Server) -> None:
    daily_send_limit = reader.read(DAILY_SEND_LIMIT) or int(DAILY_SEND_LIMIT.default)
    if server.gmail and daily_send_limit > 2000:
        reader.warn(f"DAILY_SEND_LIMIT is {daily_send_limit}: no Gmail account may send more than 2000 a day")


def sending_fields(reader: Reader, server: Server) -> SendingFields:
    """Asked once there is no problem."""
    return SendingFields(
        smtp_host=server.host,
        smtp_port=server.port,
        smtp_security=server.security,
        smtp_username=server.username,
        smtp_password=server.password,
        smtp_timeout=reader.value(SMTP_TIMEOUT),
        smtp_ca_file=reader.read(SMTP_CA_FILE),
        smtp_login_retry=reader.value(SMTP_LOGIN_RETRY),
        mail_transport=server.transport,
        daily_send_limit=reader.value(DAILY_SEND_LIMIT),
        send_rate_per_minute=reader.value(SEND_RATE_PER_MINUTE),
        unknown_policy=cast(Literal["hold", "resend"], reader.value(UNKNOWN_POLICY)),
    )


_APP_PASSWORD: Final = re.compile(r"[a-z]{4} [a-z]{4} [a-z]{4} [a-z]{4}")


def _app_password(reader: Reader, password: Secret, *, gmail: bool) -> Secret:
    """Google shows app passwords as `abcd efgh ijkl mnop`; the spaces are not part of it."""
    value = password.reveal()
    if gmail or _APP_PASSWORD.fullmatch(value):
        value = re.sub(r"\s", "", value)
    if gmail and not re.fullmatch(r"[a-zA-Z]{16}", value):
        reader.warn(
            f"SMTP_PASSWORD has {len(value)} characters, but Gmail app passwords are 16 letters: Gmail"
            " refuses the account's own password (create one at https://myaccount.google.com/apppasswords)"
        )
    return Secret(value)


def _check_security(reader: Reader, server: Server) -> None:
    host, port, security = server.host, server.port, server.security
    if security == "none" and not is_loopback(host):
        reader.problem(
            SMTP_SECURITY.name,
            f"none is only allowed for a server on this machine (localhost), not {host}:"
            " the password and every email would travel in clear text",
        )
    # A port that failed to parse was replaced by the default: only a parsed port can mismatch.
    mismatch = (security == "starttls" and port == 465) or (security == "ssl" and port == 587)
    if mismatch and SMTP_PORT.name not in reader.failed:
        fix = "use SMTP_SECURITY=ssl with port 465, or starttls with 587"
        if server.gmail:
            reader.problem(SMTP_PORT.name, f"Gmail's port {port} does not speak {security}: {fix}")
        else:
            reader.warn(f"SMTP_PORT {port} usually does not speak {security}: {fix}")


def _check_credentials(reader: Reader, server: Server) -> None:
    """Sending needs a login, except to a local relay in the clear (tests, a local Postfix)."""
    if {SMTP_USERNAME.name, SMTP_PASSWORD.name} & reader.failed:
        return
    username, password = server.username, server.password
    if username and not password:
        reader.problem(SMTP_PASSWORD.name, "required when SMTP_USERNAME is set")
    elif password and not username:
        reader.problem(SMTP_USERNAME.name, "required when SMTP_PASSWORD is set")
    elif not username and not (server.security == "none" and is_loopback(server.host)):
        gmail = " (for Gmail: your address and an app password)" if server.gmail else ""
        reader.problem(SMTP_USERNAME.name, f"required with MAIL_TRANSPORT=smtp{gmail}")
        reader.problem(SMTP_PASSWORD.name, "required with MAIL_TRANSPORT=smtp")
