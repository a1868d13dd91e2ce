"""SMTP delivery: one authenticated connection per run, and every reply classified for the outbox.

Gmail answers with a 3-digit code plus an enhanced status code (`550 5.4.5 …`); the tail of the text changes
without notice, so classification reads only the two codes and the stage the reply came at (email-delivery.md
§1.4, §1.6). `send()` never raises for anything the server or the network did: it returns a `SendResult` whose
`outcome` tells the outbox what to do, with the server's reply to store and an explanation for the owner.

The message goes out in steps (MAIL, RCPT, DATA, the body, the final dot) rather than through
`sendmail()`, because only then do we know whether a lost connection happened before the final dot (safe to
retry) or after it (the server may have accepted the mail: `unknown`, never blindly resent).

Not thread-safe: one `SmtpSender` per worker.
"""

from __future__ import annotations

import base64
import copy
import email.generator
import email.policy
import enum
import functools
import io
import ipaddress
import logging
import re
import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from types import TracebackType
from typing import Final, Literal, Self

from bridge.errors import ConfigError, DeliveryError
from bridge.secret import REDACTED, Secret

log = logging.getLogger(__name__)

Security = Literal["starttls", "ssl", "none"]
Stage = Literal["connect", "tls", "ehlo", "auth", "noop", "mail", "rcpt", "data", "message"]

APP_PASSWORDS_URL: Final = "https://myaccount.google.com/apppasswords"
UNLOCK_URL: Final = "https://accounts.google.com/DisplayUnlockCaptcha"

# RFC 5321 §4.5.3.2.6: wait up to 10 minutes for the reply to the final dot. Giving up earlier turns a
# slow "accepted" into an `unknown` outcome, which costs the owner a reconciliation.
DEFAULT_DATA_TIMEOUT: Final = 600.0

# How many 421 replies in a row (with no mail sent in between) mean Gmail is throttling the account rather
# than having a bad moment: from then on a 421 pauses the whole sender.
REPEATED_421: Final = 2

_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")


class Outcome(enum.StrEnum):
    """What one delivery attempt means for the outbox (email-delivery.md §1.6)."""

    SENT = "sent"  # the server took responsibility for the mail
    TRANSIENT = "transient"  # retry this mail later with backoff
    QUOTA = "quota"  # pause the whole sender; do not spend this mail's attempts
    CREDENTIALS = "credentials"  # pause the sender, keep every mail pending, tell the owner
    RECIPIENT_PERMANENT = "recipient_permanent"  # failed; suppress the address
    MESSAGE_PERMANENT = "message_permanent"  # failed; tell the owner (content, size, policy)
    UNKNOWN = "unknown"  # the connection died after the final dot: maybe delivered, maybe not


@dataclass(frozen=True)
class SendResult:
    """One attempt's outcome. `reply` is the server's reply on one line (or what the network did)."""

    outcome: Outcome
    reply: str
    explanation: str
    stage: Stage
    code: int | None = None
    enhanced_code: str | None = None

    @property
    def sent(self) -> bool:
        return self.outcome is Outcome.SENT


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


class _Failure(Exception):
    """Carries a classified result out of the connection steps; never leaves this module."""

    def __init__(self, result: SendResult) -> None:
        super().__init__(result.reply)
        self.result = result


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
        if security not in ("starttls", "ssl", "none"):
            raise ConfigError(f"SMTP_SECURITY must be starttls, ssl or none, not {security!r}")
        if security == "none" and not _is_loopback(host):
            raise ConfigError(
                f"SMTP_SECURITY=none would send the password and every email unencrypted to {host}; "
                "it is only allowed for a relay on this machine (127.0.0.1, ::1 or localhost). "
                "Use starttls (port 587) or ssl (port 465)."
            )
        if not helo_name or any(ch.isspace() for ch in helo_name):
            raise ConfigError("SMTP_HELO_NAME must be a host name (the shop's domain), without spaces")
        self.host = host
        self.port = port
        self.security: Security = security
        self.username = username
        self._password = password
        self.helo_name = helo_name
        self.timeout = timeout
        self.data_timeout = max(data_timeout, timeout)
        self._ssl_context = ssl_context
        self._conn: smtplib.SMTP | None = None
        self._consecutive_421 = 0
        self._last_auth_reply = ""

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
        except _Failure as failure:
            result = failure.result
        self._after(result)
        return result

    def login_check(self) -> LoginReport:
        """Connect, secure and log in without sending anything (`bridge check`).

        Raises DeliveryError with the owner-facing explanation; `permanent` for credential and TLS problems,
        which no retry will fix.
        """
        try:
            conn = self._open()
        except _Failure as failure:
            result = failure.result
            said = f"server said: {result.reply}" if result.code is not None else result.reply.strip("()")
            raise DeliveryError(
                f"{result.explanation} ({said})", permanent=result.outcome is Outcome.CREDENTIALS
            ) from None
        try:
            tls_version = conn.sock.version() if isinstance(conn.sock, ssl.SSLSocket) else None
            reply = self._last_auth_reply or "no login configured"
            return LoginReport(self.host, self.port, self.security, tls_version, self.username, reply)
        finally:
            _quit(conn)

    def close(self) -> None:
        """Say QUIT politely and drop the connection; the next send opens a new one."""
        conn, self._conn = self._conn, None
        if conn is not None:
            _quit(conn)

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
        international = not all(address.isascii() for address in (envelope_from, *recipients))
        data = _flatten(message, international=international)
        conn = self._connection()
        if international and not conn.has_extn("smtputf8"):
            return SendResult(
                Outcome.MESSAGE_PERMANENT,
                "(the server does not offer SMTPUTF8)",
                "an address has non-ASCII characters and the SMTP server cannot carry them (no SMTPUTF8); "
                "the address must be corrected or the mail sent through another server",
                "message",
            )
        options: list[str] = []
        if conn.has_extn("size"):
            options.append(f"SIZE={len(data)}")
        if international:
            options += ["SMTPUTF8", "BODY=8BITMIME"]
        elif not data.isascii() and conn.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")

        code, text = self._command("mail", lambda: conn.mail(envelope_from, options))
        if code != 250:
            return self._refused(code, text, "mail")
        for recipient in recipients:
            code, text = self._command("rcpt", functools.partial(conn.rcpt, recipient))
            if code not in (250, 251):
                return self._refused(code, text, "rcpt")

        code, text = self._command("data", lambda: conn.docmd("data"))
        if code != 354:
            return self._refused(code, text, "data")
        body = re.sub(rb"(?m)^\.", b"..", data)
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        if before_final_dot is not None:
            before_final_dot()
        try:
            conn.send(body + b".\r\n")  # smtplib closes the socket itself when this fails
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            # sendall() did not hand every byte to the kernel, so the final dot never left: safe to retry.
            self._drop()
            raise _Failure(self._network(error, "data")) from None
        try:
            if conn.sock is not None:
                conn.sock.settimeout(self.data_timeout)
            code, raw = conn.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            self._drop()
            return SendResult(
                Outcome.UNKNOWN,
                f"(connection lost after the final dot: {self._redact(str(error)) or 'no reply'})",
                "the connection was lost after the whole message was handed over and before the server "
                "confirmed it: it may or may not have been delivered. It is not resent automatically; "
                "look for it in the Sent folder of the sending mailbox",
                "data",
            )
        if conn.sock is not None:
            conn.sock.settimeout(self.timeout)
        text = raw.decode("utf-8", "replace")
        if 200 <= code < 300:
            return SendResult(
                Outcome.SENT,
                self._format_reply(code, text),
                "the server accepted the message",
                "data",
                code,
                _enhanced(text),
            )
        return self._refused(code, text, "data")

    def _refused(self, code: int, text: str, stage: Stage) -> SendResult:
        """A refusal mid-transaction: classify it, and leave the connection clean for the next mail."""
        result = self._classify(code, text, stage)
        conn = self._conn
        if conn is None:
            return result
        if code == 421 or conn.sock is None:  # the server is closing the line
            self._drop()
            return result
        try:
            conn.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()
        return result

    def _after(self, result: SendResult) -> None:
        if result.outcome is Outcome.SENT:
            self._consecutive_421 = 0
        log.info(
            "smtp %s at %s: %s",
            result.outcome.value,
            result.stage,
            result.reply,
            extra={"outcome": result.outcome.value},
        )
        if result.outcome in (Outcome.QUOTA, Outcome.CREDENTIALS):
            # The caller is going to pause the sender; an idle connection would only be cut by the server.
            self.close()

    # -- connection ------------------------------------------------------------------------------------

    def _connection(self) -> smtplib.SMTP:
        """The run's connection: reused after a NOOP proves it alive, reopened when the server closed it."""
        conn = self._conn
        if conn is not None:
            try:
                code, _ = conn.noop()
            except (smtplib.SMTPException, OSError):
                code = -1
            if code == 250:
                return conn
            log.info("smtp connection to %s:%s was closed by the server; reconnecting", self.host, self.port)
            self._drop()
        self._conn = self._open()
        return self._conn

    def _open(self) -> smtplib.SMTP:
        """Connect, EHLO, STARTTLS (verified), EHLO again, log in; a failure raises _Failure, classified."""
        try:
            conn = self._connect()
        except smtplib.SMTPConnectError as error:  # a greeting other than 220 (smtplib closed the socket)
            raise _Failure(self._classify(error.smtp_code, _text(error.smtp_error), "connect")) from None
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            raise _Failure(self._lost(error, "connect")) from None
        try:
            self._ehlo(conn)
            if self.security == "starttls":
                if not conn.has_extn("starttls"):
                    raise _Failure(
                        SendResult(
                            Outcome.CREDENTIALS,
                            "(STARTTLS not offered)",
                            f"{self.host}:{self.port} does not offer STARTTLS, so the password would "
                            "travel unencrypted; check SMTP_PORT and SMTP_SECURITY (587 uses starttls, "
                            "465 uses ssl)",
                            "tls",
                        )
                    )
                # Raises SMTPResponseException for a refusal; re-EHLOs itself (RFC 3207 forgets the old one).
                conn.starttls(context=self._context())
                self._ehlo(conn)
            if self.username:
                self._login(conn)
            log.info(
                "smtp connected to %s:%s (%s)%s",
                self.host,
                self.port,
                self.security,
                f" as {self.username}" if self.username else "",
            )
            return conn
        except _Failure:
            conn.close()
            raise
        except smtplib.SMTPResponseException as error:
            conn.close()
            raise _Failure(self._classify(error.smtp_code, _text(error.smtp_error), "tls")) from None
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            conn.close()
            raise _Failure(self._lost(error, "connect")) from None
        except BaseException:
            conn.close()
            raise

    def _connect(self) -> smtplib.SMTP:
        """Open the socket and read the greeting; smtplib closes the socket itself when this raises."""
        if self.security == "ssl":
            return smtplib.SMTP_SSL(
                self.host,
                self.port,
                local_hostname=self.helo_name,
                timeout=self.timeout,
                context=self._context(),
            )
        return smtplib.SMTP(self.host, self.port, local_hostname=self.helo_name, timeout=self.timeout)

    def _lost(self, error: BaseException, stage: Stage) -> SendResult:
        """No reply to classify: a TLS failure (pause and tell the owner) or the network (retry later)."""
        if isinstance(error, ssl.SSLCertVerificationError):
            return self._certificate_failure(error)
        if isinstance(error, ssl.SSLError):
            return self._tls_failure(error)
        return self._network(error, stage)

    def _ehlo(self, conn: smtplib.SMTP) -> None:
        code, raw = conn.ehlo()
        if code in (500, 502):  # an old server that does not know EHLO
            code, raw = conn.helo()
        if code != 250:
            raise _Failure(self._classify(code, _text(raw), "ehlo"))

    def _login(self, conn: smtplib.SMTP) -> None:
        """One AUTH attempt with one mechanism: smtplib's login() would retry with every mechanism offered,
        doubling the attempts Gmail counts towards `454 4.7.0 Too many login attempts`."""
        if not conn.has_extn("auth"):
            raise _Failure(
                SendResult(
                    Outcome.CREDENTIALS,
                    "(AUTH not offered)",
                    f"{self.host}:{self.port} does not offer a login on this connection; check SMTP_SECURITY "
                    "(Gmail only offers it after STARTTLS) or leave SMTP_USERNAME empty for a relay "
                    "that needs no login",
                    "auth",
                )
            )
        offered = conn.esmtp_features["auth"].upper().split()
        conn.user, conn.password = self.username, self._password.reveal()
        try:
            if "PLAIN" in offered:
                code, raw = conn.auth("PLAIN", conn.auth_plain)
            elif "LOGIN" in offered:
                code, raw = conn.auth("LOGIN", conn.auth_login, initial_response_ok=False)
            else:
                raise _Failure(
                    SendResult(
                        Outcome.CREDENTIALS,
                        f"(AUTH mechanisms offered: {' '.join(offered)})",
                        "the server offers neither PLAIN nor LOGIN authentication, which the bridge needs",
                        "auth",
                    )
                )
        except smtplib.SMTPAuthenticationError as error:
            raise _Failure(self._classify(error.smtp_code, _text(error.smtp_error), "auth")) from None
        finally:
            conn.password = ""
        self._last_auth_reply = self._format_reply(code, _text(raw))

    def _command(self, stage: Stage, command: Callable[[], tuple[int, bytes]]) -> tuple[int, str]:
        """Run one command; a lost connection here is before the final dot, so the mail can be retried."""
        try:
            code, raw = command()
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            self._drop()
            raise _Failure(self._network(error, stage)) from None
        return code, _text(raw)

    def _drop(self) -> None:
        """Forget a connection that is broken or closing, without a QUIT."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _context(self) -> ssl.SSLContext:
        if self._ssl_context is not None:
            return self._ssl_context
        # Verifies the chain and the host name; honours SSL_CERT_FILE / SSL_CERT_DIR.
        context = ssl.create_default_context()
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._ssl_context = context
        return context

    # -- classification --------------------------------------------------------------------------------

    def _classify(self, code: int, text: str, stage: Stage) -> SendResult:
        """Map a reply to an outcome by its code, its enhanced code and the stage it came at (§1.6)."""
        enhanced = _enhanced(text)
        reply = self._format_reply(code, text)
        if code == 421:
            self._consecutive_421 += 1
            if self._consecutive_421 >= REPEATED_421:
                return self._result(
                    Outcome.QUOTA,
                    reply,
                    stage,
                    code,
                    enhanced,
                    f"the server closed the connection with 421 {self._consecutive_421} times in a row: "
                    "it is throttling this account. Sending is paused for a while; nothing is lost",
                )
            explanation = "the server is busy and closed the connection (421); the mail will be retried later"
            if stage == "ehlo":
                explanation += (
                    ". Gmail does this to a HELO name that is not a real host name: check SMTP_HELO_NAME"
                )
            return self._result(Outcome.TRANSIENT, reply, stage, code, enhanced, explanation)
        permanent = code >= 500 if enhanced is None else enhanced.startswith("5")
        transient_by_code = 400 <= code < 500 or (enhanced is not None and enhanced.startswith("4"))
        if enhanced == "5.4.5":
            return self._result(
                Outcome.QUOTA,
                reply,
                stage,
                code,
                enhanced,
                "Gmail's daily sending limit for this account is used up (550 5.4.5). Sending is paused and "
                "resumes as the rolling 24-hour window frees up; no email is lost. Mail the owner sends by "
                "hand from the same account counts towards the same limit",
            )
        if code == 454 and stage == "auth":
            return self._result(
                Outcome.QUOTA,
                reply,
                stage,
                code,
                enhanced,
                "Gmail refuses logins for a while (454 4.7.0 too many login attempts). Sending is paused; "
                "check that no other program keeps logging in with this account",
            )
        if stage == "auth" and (permanent or code >= 500):
            return self._result(
                Outcome.CREDENTIALS, reply, stage, code, enhanced, _credentials_explanation(code, enhanced)
            )
        if code == 530 or (permanent and stage in ("tls", "ehlo", "connect")):
            explanation = (
                _credentials_explanation(code, enhanced)
                if code == 530
                else f"the server refused the connection setup at {stage} ({code}); check SMTP_HOST, "
                "SMTP_PORT, SMTP_SECURITY and SMTP_HELO_NAME"
            )
            return self._result(Outcome.CREDENTIALS, reply, stage, code, enhanced, explanation)
        if transient_by_code and not permanent:
            return self._result(
                Outcome.TRANSIENT,
                reply,
                stage,
                code,
                enhanced,
                f"the server refused the mail for now ({code}); it will be retried later",
            )
        # Permanent from here on.
        if stage == "mail" and enhanced is not None and enhanced.startswith("5.1."):
            return self._result(
                Outcome.CREDENTIALS,
                reply,
                stage,
                code,
                enhanced,
                "the server refused the sender address; check SMTP_FROM: with Gmail it must be the "
                "account's own address or a verified 'Send mail as' alias. Every email stays pending",
            )
        if enhanced in ("5.2.3", "5.3.4") or (code == 552 and stage == "mail"):
            return self._result(
                Outcome.MESSAGE_PERMANENT,
                reply,
                stage,
                code,
                enhanced,
                "the message is too big for the server (Gmail takes 25 MB including attachments); "
                "it was not sent. Make attachments smaller or link to them",
            )
        if enhanced is not None and enhanced.startswith("5.7.") and stage != "rcpt":
            return self._result(
                Outcome.MESSAGE_PERMANENT,
                reply,
                stage,
                code,
                enhanced,
                "the server refused this message's content or an attachment as against its policy "
                f"({code} {enhanced}); it was not sent. Check the template it was made from",
            )
        if stage == "rcpt" and (enhanced is None or enhanced.startswith(("5.1.", "5.2.", "5.5."))):
            return self._result(
                Outcome.RECIPIENT_PERMANENT,
                reply,
                stage,
                code,
                enhanced,
                "the recipient's address does not exist or is not valid; the email failed and the address "
                "will not be written to again",
            )
        return self._result(
            Outcome.MESSAGE_PERMANENT,
            reply,
            stage,
            code,
            enhanced,
            f"the server refused this message for good ({code}{' ' + enhanced if enhanced else ''}); "
            "it was not sent",
        )

    def _result(
        self,
        outcome: Outcome,
        reply: str,
        stage: Stage,
        code: int,
        enhanced: str | None,
        explanation: str,
    ) -> SendResult:
        return SendResult(outcome, reply, explanation, stage, code, enhanced)

    def _network(self, error: BaseException, stage: Stage) -> SendResult:
        """No reply at all: refused, unreachable, timed out or cut before the final dot — retry later."""
        where = f"{self.host}:{self.port}"
        detail = self._redact(str(error)) or type(error).__name__
        if isinstance(error, ConnectionRefusedError):
            explanation = (
                f"nothing accepts connections at {where}; check SMTP_HOST and SMTP_PORT. The bridge "
                "retries later"
            )
        elif isinstance(error, socket.gaierror):
            explanation = f"the SMTP host name {self.host!r} cannot be resolved; check SMTP_HOST and DNS"
        elif isinstance(error, TimeoutError) or "timed out" in detail:
            explanation = (
                f"no answer from {where} within {self.timeout:g} s. Many hosting providers and firewalls "
                "block outbound ports 25, 465 and 587: ask yours to open the port, or try the other "
                "port (587 with starttls, 465 with ssl)"
            )
            if stage == "connect" and self.port == 465 and self.security != "ssl":
                explanation += ". Port 465 expects SMTP_SECURITY=ssl"
        elif stage == "connect":
            explanation = f"could not open an SMTP session with {where} ({detail}); the bridge retries later"
        else:
            explanation = (
                f"the connection to {where} was lost before the message was complete; nothing was "
                "delivered and the email will be retried"
            )
        return SendResult(Outcome.TRANSIENT, f"({type(error).__name__}: {detail})", explanation, stage)

    def _certificate_failure(self, error: ssl.SSLCertVerificationError) -> SendResult:
        detail = self._redact(error.verify_message or str(error))
        return SendResult(
            Outcome.CREDENTIALS,
            f"(TLS certificate not trusted: {detail})",
            f"the certificate presented by {self.host}:{self.port} could not be verified ({detail}). "
            "Either something between the bridge and the server intercepts TLS, SMTP_HOST names a different "
            "server than the certificate, or this machine lacks the CA certificates: install them "
            "(the ca-certificates package) or point SSL_CERT_FILE at a CA bundle. Every email stays pending",
            "tls",
        )

    def _tls_failure(self, error: ssl.SSLError) -> SendResult:
        detail = self._redact(error.reason or str(error))
        hint = ""
        if self.security == "ssl" and self.port == 587:
            hint = " Port 587 expects SMTP_SECURITY=starttls."
        elif "WRONG_VERSION_NUMBER" in str(error):
            hint = " The server may not speak TLS on this port: check SMTP_PORT and SMTP_SECURITY."
        return SendResult(
            Outcome.CREDENTIALS,
            f"(TLS handshake failed: {detail})",
            f"the TLS handshake with {self.host}:{self.port} failed ({detail}).{hint} Every email stays "
            "pending",
            "tls",
        )

    def _format_reply(self, code: int, text: str) -> str:
        """`550 5.4.5 Daily … go to https://… - gsmtp`: one line, the enhanced code not repeated."""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        enhanced = _enhanced(text)
        if enhanced is not None:
            lines = [lines[0]] + [_ENHANCED.sub("", line, count=1).strip() for line in lines[1:]]
        return self._redact(" ".join([str(code), *lines]))

    def _redact(self, text: str) -> str:
        secret = self._password.reveal()
        if not secret:
            return text
        forms = {secret, base64.b64encode(secret.encode()).decode()}
        plain = f"\0{self.username}\0{secret}".encode()
        forms.add(base64.b64encode(plain).decode())
        for form in forms:
            text = text.replace(form, REDACTED)
        return text


def _credentials_explanation(code: int, enhanced: str | None) -> str:
    match (code, enhanced):
        case (534, "5.7.9"):
            return (
                "Gmail wants an app password: turn on 2-Step Verification and create one at "
                f"{APP_PASSWORDS_URL}, then put it in SMTP_PASSWORD. Sending is paused; every email stays "
                "pending"
            )
        case (535, "5.7.8"):
            return (
                "the app password was refused or revoked (Google revokes them when the account password "
                f"changes): create a new one at {APP_PASSWORDS_URL} and put it in SMTP_PASSWORD. Sending is "
                "paused; every email stays pending"
            )
        case (534, "5.7.14"):
            return (
                "Google blocked the sign-in as suspicious: sign in to this account in a web browser, confirm "
                f"it was you (or unlock it at {UNLOCK_URL}). Sending resumes by itself once Google lets the "
                "bridge in; every email stays pending"
            )
        case (530, _):
            return (
                "the server wants STARTTLS and a login before it accepts mail; check SMTP_SECURITY "
                "(starttls on port 587, ssl on 465) and that SMTP_USERNAME and SMTP_PASSWORD are set. Every "
                "email stays pending"
            )
        case _:
            return (
                f"the SMTP server refused the login ({code}{' ' + enhanced if enhanced else ''}); check "
                "SMTP_USERNAME and SMTP_PASSWORD. Sending is paused; every email stays pending"
            )


def _enhanced(text: str) -> str | None:
    match = _ENHANCED.match(text.strip())
    return None if match is None else ".".join(match.groups())


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw


def _quit(conn: smtplib.SMTP) -> None:
    try:
        conn.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        conn.close()


def _flatten(message: EmailMessage, *, international: bool) -> bytes:
    """The bytes `send_message()` would send: CRLF line ends, RFC 2047 headers, no Bcc."""
    copied = copy.copy(message)
    del copied["Bcc"]
    del copied["Resent-Bcc"]
    base = message.policy if isinstance(message.policy, email.policy.EmailPolicy) else email.policy.SMTP
    policy = base.clone(linesep="\r\n", utf8=international)
    with io.BytesIO() as buffer:
        email.generator.BytesGenerator(buffer, policy=policy).flatten(copied, linesep="\r\n")
        return buffer.getvalue()


def _is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
