"""What the owner is told when there is no SMTP reply to classify: the network, TLS, a missing extension.

Each explanation names the setting that would fix it; the network's own words are kept in `reply`, with
the password removed.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable

from bridge.delivery.smtp_types import Endpoint, Outcome, SendResult, Stage


def no_auth_mechanism(offered: list[str]) -> SendResult:
    return SendResult(
        Outcome.CREDENTIALS,
        f"(AUTH mechanisms offered: {' '.join(offered)})",
        "the server offers neither PLAIN nor LOGIN authentication, which the bridge needs",
        "auth",
    )


def no_smtputf8(masked: str) -> SendResult:
    """An address with non-ASCII letters before the @ (`masked` as mask_email shows it), and a server that
    cannot carry it: this one email fails, no retry would change that."""
    return SendResult(
        Outcome.MESSAGE_PERMANENT,
        "(the server does not offer SMTPUTF8)",
        f"the address {masked} has non-ASCII letters before the @ and the SMTP server does not offer "
        "SMTPUTF8 to carry them; this email failed. Send through a server that offers it (Gmail does) or "
        "correct the address",
        "message",
    )


def no_ascii_domain(masked: str, detail: str) -> SendResult:
    """A non-ASCII domain that IDNA cannot write in ASCII, and a server without SMTPUTF8."""
    return SendResult(
        Outcome.MESSAGE_PERMANENT,
        "(the server does not offer SMTPUTF8)",
        f"the address {masked}: {detail}, and the SMTP server does not offer SMTPUTF8 to send it as it "
        "is; this email failed. Correct the address or send through a server that offers SMTPUTF8",
        "message",
    )


class NoReplyExplainer:
    """Turns a failure that came with no reply from `endpoint` into a classified `SendResult`."""

    def __init__(self, endpoint: Endpoint, redact: Callable[[str], str]) -> None:
        self._endpoint = endpoint
        self._redact = redact

    def lost(self, error: BaseException, stage: Stage) -> SendResult:
        """A TLS failure (pause and tell the owner) or the network (retry later)."""
        if isinstance(error, ssl.SSLCertVerificationError):
            return self.certificate(error)
        if isinstance(error, ssl.SSLError):
            return self.handshake(error)
        return self.network(error, stage)

    def network(self, error: BaseException, stage: Stage) -> SendResult:
        """Refused, unreachable, timed out or cut before the final dot: retry later."""
        endpoint = self._endpoint
        where = str(endpoint)
        detail = self._redact(str(error)) or type(error).__name__
        if isinstance(error, ConnectionRefusedError):
            explanation = (
                f"nothing accepts connections at {where}; check SMTP_HOST and SMTP_PORT. The bridge "
                "retries later"
            )
        elif isinstance(error, socket.gaierror):
            explanation = f"the SMTP host name {endpoint.host!r} cannot be resolved; check SMTP_HOST and DNS"
        elif isinstance(error, TimeoutError) or "timed out" in detail:
            explanation = (
                f"no answer from {where} within {endpoint.timeout:g} s. Many hosting providers and firewalls "
                "block outbound ports 25, 465 and 587: ask yours to open the port, or try the other "
                "port (587 with starttls, 465 with ssl)"
            )
            if stage == "connect" and endpoint.port == 465 and endpoint.security != "ssl":
                explanation += ". Port 465 expects SMTP_SECURITY=ssl"
        elif stage == "connect":
            explanation = f"could not open an SMTP session with {where} ({detail}); the bridge retries later"
        else:
            explanation = (
                f"the connection to {where} was lost before the message was complete; nothing was "
                "delivered and the email will be retried"
            )
        return SendResult(Outcome.TRANSIENT, f"({type(error).__name__}: {detail})", explanation, stage)

    def certificate(self, error: ssl.SSLCertVerificationError) -> SendResult:
        detail = self._redact(error.verify_message or str(error))
        return SendResult(
            Outcome.CREDENTIALS,
            f"(TLS certificate not trusted: {detail})",
            f"the certificate presented by {self._endpoint} could not be verified ({detail}). "
            "Either something between the bridge and the server intercepts TLS, SMTP_HOST names a different "
            "server than the certificate, or this machine lacks the CA certificates: install them "
            "(the ca-certificates package) or point SSL_CERT_FILE at a CA bundle. Every email stays pending",
            "tls",
        )

    def handshake(self, error: ssl.SSLError) -> SendResult:
        detail = self._redact(error.reason or str(error))
        hint = ""
        if self._endpoint.security == "ssl" and self._endpoint.port == 587:
            hint = " Port 587 expects SMTP_SECURITY=starttls."
        elif "WRONG_VERSION_NUMBER" in str(error):
            hint = " The server may not speak TLS on this port: check SMTP_PORT and SMTP_SECURITY."
        return SendResult(
            Outcome.CREDENTIALS,
            f"(TLS handshake failed: {detail})",
            f"the TLS handshake with {self._endpoint} failed ({detail}).{hint} Every email stays pending",
            "tls",
        )

    def starttls_not_offered(self) -> SendResult:
        return SendResult(
            Outcome.CREDENTIALS,
            "(STARTTLS not offered)",
            f"{self._endpoint} does not offer STARTTLS, so the password would "
            "travel unencrypted; check SMTP_PORT and SMTP_SECURITY (587 uses starttls, "
            "465 uses ssl)",
            "tls",
        )

    def auth_not_offered(self) -> SendResult:
        return SendResult(
            Outcome.CREDENTIALS,
            "(AUTH not offered)",
            f"{self._endpoint} does not offer a login on this connection; check SMTP_SECURITY "
            "(Gmail only offers it after STARTTLS) or leave SMTP_USERNAME empty for a relay "
            "that needs no login",
            "auth",
        )

    def after_final_dot(self, error: OSError) -> SendResult:
        """The whole message was handed over and no verdict came back: maybe delivered, never resent."""
        return SendResult(
            Outcome.UNKNOWN,
            f"(connection lost after the final dot: {self._redact(str(error)) or 'no reply'})",
            "the connection was lost after the whole message was handed over and before the server "
            "confirmed it: it may or may not have been delivered. It is not resent automatically; "
            "look for it in the Sent folder of the sending mailbox",
            "data",
        )
