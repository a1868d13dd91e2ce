"""SMTP delivery: one authenticated connection per run, and every reply classified for the outbox.

Gmail answers with a 3-digit code plus an enhanced status code (`550 5.4.5 …`); the tail of the text changes
without notice, so classification reads only the two codes and the reply's stage (docs/email-facts.md
§4, §5). `send()` never raises for anything the server or the network did: it returns a `SendResult` whose
`outcome` tells the outbox what to do, with the server's reply to store and an explanation for the owner.

The message goes out in steps (MAIL, RCPT, DATA, the body, the final dot) rather than through
`sendmail()`, because only then do we know whether a lost connection happened before the final dot (safe to
retry) or after it (the server may have accepted the mail: `unknown`, never blindly resent).

This module sends one message; its neighbours do the rest: `smtp_session` (connecting, TLS, login),
`smtp_replies` (classifying a reply), `smtp_failures` (explaining a failure with no reply) and
`smtp_types` (the results they share, re-exported here).

Not thread-safe: one `SmtpSender` per worker.
"""

from __future__ import annotations

import email.generator
import email.policy
import functools
import hashlib
import io
import logging
import re
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from types import TracebackType
from typing import Final, Self

from bridge.config.parse import is_loopback
from bridge.delivery.smtp_failures import NoReplyExplainer, no_ascii_domain, no_smtputf8
from bridge.delivery.smtp_replies import (
    APP_PASSWORDS_URL,
    REPEATED_421,
    UNLOCK_URL,
    Redactor,
    ReplyClassifier,
    decode_reply,
    enhanced_code,
)
from bridge.delivery.smtp_session import SmtpSession, quit_politely
from bridge.delivery.smtp_types import ClassifiedFailure, Endpoint, Outcome, Security, SendResult, Stage
from bridge.errors import ConfigError, DeliveryError
from bridge.mail.addresses import (
    BadDomain,
    NeedsSmtpUtf8,
    ascii_address,
    message_addresses,
    with_address_lines,
)
from bridge.model.headers import mask_addresses, mask_email
from bridge.secret import REDACTED, Secret

__all__ = [
    "APP_PASSWORDS_URL",
    "DEFAULT_DATA_TIMEOUT",
    "REPEATED_421",
    "UNLOCK_URL",
    "LoginReport",
    "Outcome",
    "Security",
    "SendResult",
    "SmtpSender",
    "Stage",
    "credentials_fingerprint",
]

log = logging.getLogger(__name__)

# RFC 5321 §4.5.3.2.6: wait up to 10 minutes for the reply to the final dot. Giving up earlier turns a
# slow "accepted" into an `unknown` outcome, which costs the owner a reconciliation.
DEFAULT_DATA_TIMEOUT: Final = 600.0


@dataclass(frozen=True)
class LoginReport:
    """What `login_check()` proved: the server is reachable, TLS verified and the login accepted."""

    host: str
    port: int
    security: Security
    tls_version: str | None
    username: str
    reply: str

    def __str__(self) -> str:
        tls = f" over {self.tls_version}" if self.tls_version else " without TLS"
        who = f" as {self.username}" if self.username else " (no login)"
        return f"SMTP {self.host}:{self.port}: connected{tls}{who}: {self.reply}"


class SmtpSender:
    """Sends mail over one verified, authenticated connection that is reused for a whole run."""

    def __init__(
        self,
        host: str,
        port: int,
        security: Security,
        username: str,
        password: Secret,
        *,
        helo_name: str,
        timeout: float,
        ssl_context: ssl.SSLContext | None = None,
        data_timeout: float = DEFAULT_DATA_TIMEOUT,
    ) -> None:
        _check_settings(host, security, helo_name)
        self.host = host
        self.port = port
        self.security: Security = security
        self.username = username
        self.helo_name = helo_name
        self.timeout = timeout
        self.data_timeout = max(data_timeout, timeout)
        self.credentials = credentials_fingerprint(username, password)
        endpoint = Endpoint(host, port, security, timeout)
        redact = Redactor(username, password).redact
        self._classifier = ReplyClassifier(redact)
        self._explainer = NoReplyExplainer(endpoint, redact)
        self._session = SmtpSession(
            endpoint,
            username,
            password,
            helo_name=helo_name,
            ssl_context=ssl_context,
            classifier=self._classifier,
            explainer=self._explainer,
        )

    def __repr__(self) -> str:
        return f"SmtpSender({self.host!r}, {self.port}, {self.security!r}, {self.username!r}, {REDACTED!r})"

    # -- public API ------------------------------------------------------------------------------------

    def send(
        self,
        message: EmailMessage,
        *,
        envelope_from: str,
        recipients: list[str],
        before_final_dot: Callable[[], object] | None = None,
    ) -> SendResult:
        """Send one message; every server or network failure comes back as a classified result.

        `before_final_dot` runs once the server has said "354 go ahead", just before the message and its
        final dot leave: the outbox records it so that a crash before it is known to have lost nothing.
        """
        if not recipients:
            raise ValueError("send() needs at least one recipient")
        try:
            result = self._send(message, envelope_from, recipients, before_final_dot)
        except ClassifiedFailure as failure:
            result = failure.result
        self._after(result)
        return result

    def login_check(self) -> LoginReport:
        """Connect, secure and log in without sending anything (`bridge check`).

        Raises DeliveryError with the owner-facing explanation; `permanent` for credential and TLS problems,
        which no retry will fix.
        """
        try:
            conn = self._session.open()
        except ClassifiedFailure as failure:
            result = failure.result
            said = f"server said: {result.reply}" if result.code is not None else result.reply.strip("()")
            raise DeliveryError(
                f"{result.explanation} ({said})", permanent=result.outcome is Outcome.CREDENTIALS
            ) from None
        try:
            tls_version = conn.sock.version() if isinstance(conn.sock, ssl.SSLSocket) else None
            reply = self._session.last_auth_reply or "no login configured"
            return LoginReport(self.host, self.port, self.security, tls_version, self.username, reply)
        finally:
            quit_politely(conn)

    def login(self) -> SendResult | None:
        """Log in now, on the connection the next sends will reuse; the server's refusal (or the failure to
        reach it) as a classified result, None when the login worked."""
        try:
            self._session.connection()
        except ClassifiedFailure as failure:
            self._after(failure.result)
            return failure.result
        return None

    def close(self) -> None:
        """Say QUIT politely and drop the connection; the next send opens a new one."""
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- one message -----------------------------------------------------------------------------------

    def _send(
        self,
        message: EmailMessage,
        envelope_from: str,
        recipients: list[str],
        before_final_dot: Callable[[], object] | None = None,
    ) -> SendResult:
        conn = self._session.connection()
        route = _route(message, envelope_from, recipients, smtputf8=conn.has_extn("smtputf8"))
        if isinstance(route, SendResult):
            return route
        data = _flatten(message, utf8=route.utf8)
        options = _mail_options(conn, data, international=route.utf8)
        refused = self._envelope(conn, route.sender, route.recipients, options)
        if refused is not None:
            return refused
        code, text = self._command("data", lambda: conn.docmd("data"))
        if code != 354:
            return self._refused(code, text, "data")
        body = _dot_stuffed(data)
        if before_final_dot is not None:
            before_final_dot()
        return self._transfer(conn, body)

    def _envelope(
        self, conn: smtplib.SMTP, envelope_from: str, recipients: list[str], options: list[str]
    ) -> SendResult | None:
        """MAIL FROM and one RCPT TO per recipient; the first refusal, or None when all were accepted."""
        code, text = self._command("mail", lambda: conn.mail(envelope_from, options))
        if code != 250:
            return self._refused(code, text, "mail")
        for recipient in recipients:
            code, text = self._command("rcpt", functools.partial(conn.rcpt, recipient))
            if code not in (250, 251):
                return self._refused(code, text, "rcpt")
        return None

    def _transfer(self, conn: smtplib.SMTP, body: bytes) -> SendResult:
        """Send the message and its final dot, then wait (up to `data_timeout`) for the server's verdict."""
        try:
            conn.send(body + b".\r\n")  # smtplib closes the socket itself when this fails
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            # sendall() did not hand every byte to the kernel, so the final dot never left: safe to retry.
            self._session.drop()
            raise ClassifiedFailure(self._explainer.network(error, "data")) from None
        try:
            if conn.sock is not None:
                conn.sock.settimeout(self.data_timeout)
            code, raw = conn.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            self._session.drop()
            return self._explainer.after_final_dot(error)
        if conn.sock is not None:
            conn.sock.settimeout(self.timeout)
        text = raw.decode("utf-8", "replace")
        if 200 <= code < 300:
            reply = self._classifier.format_reply(code, text)
            return SendResult(
                Outcome.SENT, reply, "the server accepted the message", "data", code, enhanced_code(text)
            )
        return self._refused(code, text, "data")

    def _command(self, stage: Stage, command: Callable[[], tuple[int, bytes]]) -> tuple[int, str]:
        """Run one command; a lost connection here is before the final dot, so the mail can be retried."""
        try:
            code, raw = command()
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            self._session.drop()
            raise ClassifiedFailure(self._explainer.network(error, stage)) from None
        return code, decode_reply(raw)

    def _refused(self, code: int, text: str, stage: Stage) -> SendResult:
        """A refusal mid-transaction: classify it, and leave the connection clean for the next mail."""
        result = self._classifier.classify(code, text, stage)
        conn = self._session.current
        if conn is None:
            return result
        if code == 421 or conn.sock is None:  # the server is closing the line
            self._session.drop()
            return result
        try:
            conn.rset()
        except (smtplib.SMTPException, OSError):
            self._session.drop()
        return result

    def _after(self, result: SendResult) -> None:
        if result.outcome is Outcome.SENT:
            self._classifier.message_sent()
        log.info(
            "smtp %s at %s: %s",
            result.outcome.value,
            result.stage,
            mask_addresses(result.reply),  # a reply may quote the recipient: full only in the store
            extra={"outcome": result.outcome.value},
        )
        if result.outcome in (Outcome.QUOTA, Outcome.CREDENTIALS):
            # The caller is going to pause the sender; an idle connection would only be cut by the server.
            self.close()


def credentials_fingerprint(username: str, password: Secret) -> str:
    """sha256 of the user name, NUL and the password: tells whether the login changed without keeping the
    password (the state store keeps it with a credentials pause)."""
    return hashlib.sha256(f"{username}\0{password.reveal()}".encode()).hexdigest()


def _check_settings(host: str, security: Security, helo_name: str) -> None:
    """Refuse at once a setting that would expose the password or have every mail refused."""
    if security not in ("starttls", "ssl", "none"):
        raise ConfigError(f"SMTP_SECURITY must be starttls, ssl or none, not {security!r}")
    # is_loopback() expects a host as settings normalise it: lower case, no trailing dot.
    if security == "none" and not is_loopback(host.lower().rstrip(".")):
        raise ConfigError(
            f"SMTP_SECURITY=none would send the password and every email unencrypted to {host}; "
            "it is only allowed for a relay on this machine (127.0.0.1, ::1 or localhost). "
            "Use starttls (port 587) or ssl (port 465)."
        )
    if not helo_name or any(ch.isspace() for ch in helo_name):
        raise ConfigError("SMTP_HELO_NAME must be a host name (the shop's domain), without spaces")


def _mail_options(conn: smtplib.SMTP, data: bytes, *, international: bool) -> list[str]:
    """The MAIL FROM parameters the server offers and this message needs."""
    options: list[str] = []
    if conn.has_extn("size"):
        options.append(f"SIZE={len(data)}")
    if international:
        options += ["SMTPUTF8", "BODY=8BITMIME"]
    elif not data.isascii() and conn.has_extn("8bitmime"):
        options.append("BODY=8BITMIME")
    return options


def _dot_stuffed(data: bytes) -> bytes:
    """The message as DATA carries it (RFC 5321 §4.5.2): leading dots doubled, ending in CRLF."""
    body = re.sub(rb"(?m)^\.", b"..", data)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body


@dataclass(frozen=True)
class _Route:
    """The envelope as this server can carry it, and whether the message goes as UTF-8 (SMTPUTF8)."""

    sender: str
    recipients: list[str]
    utf8: bool


def _route(
    message: EmailMessage, envelope_from: str, recipients: list[str], *, smtputf8: bool
) -> _Route | SendResult:
    """docs/design.md §5.5: with SMTPUTF8 every address goes as it is; without it a non-ASCII domain goes
    as IDNA and a non-ASCII local part (envelope or header) fails this one email, naming the address."""
    envelope = [envelope_from, *recipients]
    everything = [*envelope, *(address.addr_spec for address in message_addresses(message))]
    if smtputf8 and not all(address.isascii() for address in everything):
        return _Route(envelope_from, list(recipients), utf8=True)
    for address in everything:
        try:
            ascii_address(address)
        except NeedsSmtpUtf8:
            return no_smtputf8(mask_email(address))
        except BadDomain as error:
            return no_ascii_domain(mask_email(address), str(error))
    sender, *rest = (ascii_address(address) for address in envelope)
    return _Route(sender, rest, utf8=False)


def _flatten(message: EmailMessage, *, utf8: bool) -> bytes:
    """The bytes `send_message()` would send: CRLF line ends, no Bcc, addresses written by AddressLine
    (RFC 2047 names and IDNA domains, or UTF-8 headers when `utf8`)."""
    copied = with_address_lines(message)
    base = message.policy if isinstance(message.policy, email.policy.EmailPolicy) else email.policy.SMTP
    policy = base.clone(linesep="\r\n", utf8=utf8)
    with io.BytesIO() as buffer:
        email.generator.BytesGenerator(buffer, policy=policy).flatten(copied, linesep="\r\n")
        return buffer.getvalue()
