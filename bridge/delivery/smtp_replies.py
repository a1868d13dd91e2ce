"""Reading an SMTP reply: its enhanced status code, its one-line form for the outbox, and its outcome.

Gmail answers with a 3-digit code plus an enhanced status code (`550 5.4.5 …`) and changes the text after
them without notice, so the outcome comes from the two codes and the reply's stage alone
(docs/email-facts.md §4): an ordered table of rules, the first that applies wins.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from bridge.delivery.smtp_types import Outcome, SendResult, Stage
from bridge.secret import REDACTED, Secret

APP_PASSWORDS_URL: Final = "https://myaccount.google.com/apppasswords"
UNLOCK_URL: Final = "https://accounts.google.com/DisplayUnlockCaptcha"

# How many 421 replies in a row (with no mail sent in between) mean Gmail is throttling the account rather
# than having a bad moment: from then on a 421 pauses the whole sender.
REPEATED_421: Final = 2

_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")


def enhanced_code(text: str) -> str | None:
    """The enhanced status code (`5.4.5`) a reply's text starts with, if any."""
    match = _ENHANCED.match(text.strip())
    return None if match is None else ".".join(match.groups())


def decode_reply(raw: bytes | str) -> str:
    """smtplib hands a reply's text over as bytes or as str, depending on the call."""
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw


def _one_line(code: int, text: str) -> str:
    """`550 5.4.5 Daily … go to https://… - gsmtp`: one line, the enhanced code not repeated."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if enhanced_code(text) is not None:
        lines = [lines[0]] + [_ENHANCED.sub("", line, count=1).strip() for line in lines[1:]]
    return " ".join([str(code), *lines])


class Redactor:
    """Removes the password from text a server or the network produced, in every form AUTH sends it."""

    def __init__(self, username: str, password: Secret) -> None:
        self._username = username
        self._password = password

    def redact(self, text: str) -> str:
        secret = self._password.reveal()
        if not secret:
            return text
        forms = {secret, base64.b64encode(secret.encode()).decode()}
        plain = f"\0{self._username}\0{secret}".encode()
        forms.add(base64.b64encode(plain).decode())
        for form in forms:
            text = text.replace(form, REDACTED)
        return text


@dataclass(frozen=True)
class _Reply:
    """A reply as the rules read it: its two codes and the stage it came at."""

    code: int
    enhanced: str | None
    stage: Stage

    @property
    def permanent(self) -> bool:
        """The enhanced code, when there is one, outranks the reply code."""
        return self.code >= 500 if self.enhanced is None else self.enhanced.startswith("5")

    @property
    def transient(self) -> bool:
        return 400 <= self.code < 500 or self.enhanced_in("4")

    def enhanced_in(self, *classes: str) -> bool:
        return self.enhanced is not None and self.enhanced.startswith(classes)

    @property
    def codes(self) -> str:
        """`535 5.7.8`, or `550` alone when the reply had no enhanced code."""
        return f"{self.code}{' ' + self.enhanced if self.enhanced else ''}"


def _credentials_explanation(reply: _Reply) -> str:
    match (reply.code, reply.enhanced):
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
                f"the SMTP server refused the login ({reply.codes}); check "
                "SMTP_USERNAME and SMTP_PASSWORD. Sending is paused; every email stays pending"
            )


@dataclass(frozen=True)
class _Rule:
    """When `applies`, the reply means `outcome`; `explanation` is a function of the reply, or a template
    filled with its `code`, `enhanced`, `codes` and `stage`."""

    applies: Callable[[_Reply], bool]
    outcome: Outcome
    explanation: str | Callable[[_Reply], str]

    def explain(self, reply: _Reply) -> str:
        if callable(self.explanation):
            return self.explanation(reply)
        fields = {"code": reply.code, "enhanced": reply.enhanced, "codes": reply.codes, "stage": reply.stage}
        return self.explanation.format(**fields)


# Every reply but 421 (which needs the replies before it): the first rule that applies decides.
_RULES: Final[tuple[_Rule, ...]] = (
    _Rule(
        lambda reply: reply.enhanced == "5.4.5",
        Outcome.QUOTA,
        "Gmail's daily sending limit for this account is used up (550 5.4.5). Sending is paused and "
        "resumes as the rolling 24-hour window frees up; no email is lost. Mail the owner sends by "
        "hand from the same account counts towards the same limit",
    ),
    _Rule(
        lambda reply: reply.code == 454 and reply.stage == "auth",
        Outcome.QUOTA,
        "Gmail refuses logins for a while (454 4.7.0 too many login attempts). Sending is paused; "
        "check that no other program keeps logging in with this account",
    ),
    _Rule(
        lambda reply: reply.stage == "auth" and (reply.permanent or reply.code >= 500),
        Outcome.CREDENTIALS,
        _credentials_explanation,
    ),
    _Rule(lambda reply: reply.code == 530, Outcome.CREDENTIALS, _credentials_explanation),
    _Rule(
        lambda reply: reply.permanent and reply.stage in ("tls", "ehlo", "connect"),
        Outcome.CREDENTIALS,
        "the server refused the connection setup at {stage} ({code}); check SMTP_HOST, "
        "SMTP_PORT, SMTP_SECURITY and SMTP_HELO_NAME",
    ),
    _Rule(
        lambda reply: reply.transient and not reply.permanent,
        Outcome.TRANSIENT,
        "the server refused the mail for now ({code}); it will be retried later",
    ),
    # Permanent from here on.
    _Rule(
        lambda reply: reply.stage == "mail" and reply.enhanced_in("5.1."),
        Outcome.CREDENTIALS,
        "the server refused the sender address; check SMTP_FROM: with Gmail it must be the "
        "account's own address or a verified 'Send mail as' alias. Every email stays pending",
    ),
    _Rule(
        lambda reply: reply.enhanced in ("5.2.3", "5.3.4") or (reply.code == 552 and reply.stage == "mail"),
        Outcome.MESSAGE_PERMANENT,
        "the message is too big for the server (Gmail takes 25 MB including attachments); "
        "it was not sent. Make attachments smaller or link to them",
    ),
    _Rule(
        lambda reply: reply.enhanced_in("5.7.") and reply.stage != "rcpt",
        Outcome.MESSAGE_PERMANENT,
        "the server refused this message's content or an attachment as against its policy "
        "({code} {enhanced}); it was not sent. Check the template it was made from",
    ),
    _Rule(
        lambda reply: (
            reply.stage == "rcpt" and (reply.enhanced is None or reply.enhanced_in("5.1.", "5.2.", "5.5."))
        ),
        Outcome.RECIPIENT_PERMANENT,
        "the recipient's address does not exist or is not valid; the email failed and the address "
        "will not be written to again",
    ),
    _Rule(
        lambda reply: True,
        Outcome.MESSAGE_PERMANENT,
        "the server refused this message for good ({codes}); it was not sent",
    ),
)


class ReplyClassifier:
    """Maps a server's reply to a `SendResult`; keeps count of 421s in a row, the one rule with history."""

    def __init__(self, redact: Callable[[str], str]) -> None:
        self._redact = redact
        self._consecutive_421 = 0

    def message_sent(self) -> None:
        """A mail went through: the 421s before it were a bad moment, not throttling."""
        self._consecutive_421 = 0

    def format_reply(self, code: int, text: str) -> str:
        """The reply on one line, as the outbox stores it, without the password."""
        return self._redact(_one_line(code, text))

    def classify(self, code: int, text: str, stage: Stage) -> SendResult:
        """Map a reply to an outcome by its two codes and the stage it came at (docs/email-facts.md §4)."""
        enhanced = enhanced_code(text)
        reply = self.format_reply(code, text)
        if code == 421:
            outcome, explanation = self._closing(stage)
        else:
            parsed = _Reply(code, enhanced, stage)
            rule = next(rule for rule in _RULES if rule.applies(parsed))
            outcome, explanation = rule.outcome, rule.explain(parsed)
        return SendResult(outcome, reply, explanation, stage, code, enhanced)

    def _closing(self, stage: Stage) -> tuple[Outcome, str]:
        """421, the server closing the line: once is a bad moment, `REPEATED_421` in a row is throttling."""
        self._consecutive_421 += 1
        if self._consecutive_421 >= REPEATED_421:
            return Outcome.QUOTA, (
                f"the server closed the connection with 421 {self._consecutive_421} times in a row: "
                "it is throttling this account. Sending is paused for a while; nothing is lost"
            )
        explanation = "the server is busy and closed the connection (421); the mail will be retried later"
        if stage == "ehlo":
            explanation += (
                ". Gmail does this to a HELO name that is not a real host name: check SMTP_HELO_NAME"
            )
        return Outcome.TRANSIENT, explanation
