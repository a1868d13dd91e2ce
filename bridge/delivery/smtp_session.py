"""The run's one SMTP connection: opened with TLS verified and logged in, proved alive before reuse, dropped
when broken. Every failure to open it comes out as a `ClassifiedFailure`.
"""

from __future__ import annotations

import logging
import smtplib
import ssl

from bridge.delivery.smtp_failures import NoReplyExplainer, no_auth_mechanism
from bridge.delivery.smtp_replies import ReplyClassifier, decode_reply
from bridge.delivery.smtp_types import ClassifiedFailure, Endpoint, Stage
from bridge.secret import Secret

# The SMTP modules log under one name, so an owner's log filter sees them as one source.
log = logging.getLogger("bridge.delivery.smtp")


class SmtpSession:
    """Opens, keeps and drops the connection a sender reuses for a whole run."""

    def __init__(
        self,
        endpoint: Endpoint,
        username: str,
        password: Secret,
        *,
        helo_name: str,
        ssl_context: ssl.SSLContext | None,
        classifier: ReplyClassifier,
        explainer: NoReplyExplainer,
    ) -> None:
        self._endpoint = endpoint
        self._username = username
        self._password = password
        self._helo_name = helo_name
        self._ssl_context = ssl_context
        self._classifier = classifier
        self._explainer = explainer
        self._conn: smtplib.SMTP | None = None
        self.last_auth_reply = ""

    @property
    def current(self) -> smtplib.SMTP | None:
        """The open connection, if any, without proving it alive."""
        return self._conn

    def connection(self) -> smtplib.SMTP:
        """The run's connection: reused after a NOOP proves it alive, reopened when the server closed it."""
        conn = self._conn
        if conn is not None:
            try:
                code, _ = conn.noop()
            except (smtplib.SMTPException, OSError):
                code = -1
            if code == 250:
                return conn
            log.info(
                "smtp connection to %s:%s was closed by the server; reconnecting",
                self._endpoint.host,
                self._endpoint.port,
            )
            self.drop()
        self._conn = self.open()
        return self._conn

    def open(self) -> smtplib.SMTP:
        """A new connection, not kept: connect, EHLO, STARTTLS (verified), EHLO again, log in."""
        try:
            conn = self._connect()
        except smtplib.SMTPConnectError as error:  # a greeting other than 220 (smtplib closed the socket)
            raise self._refusal(error, "connect") from None
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            raise ClassifiedFailure(self._explainer.lost(error, "connect")) from None
        try:
            self._handshake(conn)
        except ClassifiedFailure:
            conn.close()
            raise
        except smtplib.SMTPResponseException as error:
            conn.close()
            raise self._refusal(error, "tls") from None
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            conn.close()
            raise ClassifiedFailure(self._explainer.lost(error, "connect")) from None
        except BaseException:
            conn.close()
            raise
        return conn

    def drop(self) -> None:
        """Forget a connection that is broken or closing, without a QUIT."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Say QUIT politely and drop the connection; the next `connection()` opens a new one."""
        conn, self._conn = self._conn, None
        if conn is not None:
            quit_politely(conn)

    def _connect(self) -> smtplib.SMTP:
        """Open the socket and read the greeting; smtplib closes the socket itself when this raises."""
        host, port, timeout = self._endpoint.host, self._endpoint.port, self._endpoint.timeout
        if self._endpoint.security == "ssl":
            return smtplib.SMTP_SSL(
                host, port, local_hostname=self._helo_name, timeout=timeout, context=self._context()
            )
        return smtplib.SMTP(host, port, local_hostname=self._helo_name, timeout=timeout)

    def _handshake(self, conn: smtplib.SMTP) -> None:
        """Everything between the greeting and the first mail: EHLO, STARTTLS when configured, the login."""
        self._ehlo(conn)
        if self._endpoint.security == "starttls":
            if not conn.has_extn("starttls"):
                raise ClassifiedFailure(self._explainer.starttls_not_offered())
            # Raises SMTPResponseException for a refusal; re-EHLOs itself (RFC 3207 forgets the old one).
            conn.starttls(context=self._context())
            self._ehlo(conn)
        if self._username:
            self._login(conn)
        log.info(
            "smtp connected to %s:%s (%s)%s",
            self._endpoint.host,
            self._endpoint.port,
            self._endpoint.security,
            f" as {self._username}" if self._username else "",
        )

    def _ehlo(self, conn: smtplib.SMTP) -> None:
        code, raw = conn.ehlo()
        if code in (500, 502):  # an old server that does not know EHLO
            code, raw = conn.helo()
        if code != 250:
            raise ClassifiedFailure(self._classifier.classify(code, decode_reply(raw), "ehlo"))

    def _login(self, conn: smtplib.SMTP) -> None:
        """One AUTH attempt with one mechanism: smtplib's login() would retry with every mechanism offered,
        doubling the attempts Gmail counts towards `454 4.7.0 Too many login attempts`."""
        if not conn.has_extn("auth"):
            raise ClassifiedFailure(self._explainer.auth_not_offered())
        offered = conn.esmtp_features["auth"].upper().split()
        conn.user, conn.password = self._username, self._password.reveal()
        try:
            if "PLAIN" in offered:
                code, raw = conn.auth("PLAIN", conn.auth_plain)
            elif "LOGIN" in offered:
                code, raw = conn.auth("LOGIN", conn.auth_login, initial_response_ok=False)
            else:
                raise ClassifiedFailure(no_auth_mechanism(offered))
        except smtplib.SMTPAuthenticationError as error:
            raise self._refusal(error, "auth") from None
        finally:
            conn.password = ""
        self.last_auth_reply = self._classifier.format_reply(code, decode_reply(raw))

    def _refusal(self, error: smtplib.SMTPResponseException, stage: Stage) -> ClassifiedFailure:
        """A reply smtplib raised instead of returning, classified like any other."""
        return ClassifiedFailure(
            self._classifier.classify(error.smtp_code, decode_reply(error.smtp_error), stage)
        )

    def _context(self) -> ssl.SSLContext:
        if self._ssl_context is not None:
            return self._ssl_context
        # Verifies the chain and the host name; honours SSL_CERT_FILE / SSL_CERT_DIR.
        context = ssl.create_default_context()
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._ssl_context = context
        return context


def quit_politely(conn: smtplib.SMTP) -> None:
    """QUIT, ignoring a server that is already gone, and always close the socket."""
    try:
        conn.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        conn.close()
