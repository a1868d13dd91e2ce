"""`bridge test-email --to ADDRESS`: one real email through the configured server, to prove it works.

The email is the order confirmation, rendered from its sample data with the shop's own identity and
templates, subject marked "[TEST]". Not the `test_email` kind: what the owner needs to see is what a customer
will get (the biggest template, the layout, the inlined CSS, Polish letters, money in the shop's locale, and
where Gmail files it), and an order confirmation that arrives is the proof that order confirmations arrive.
The connection facts the `test_email` kind would show are in the command's own output instead.

It does not go through the outbox: nothing is queued, retried or counted, and a failure is explained at
once, in the owner's words (an app password to create, a port to open, an address to correct).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

from bridge.clock import Clock, SystemClock
from bridge.config import Invalid, Settings, parse_address
from bridge.delivery.deliver import existing_store, stored_identity
from bridge.delivery.identity import identity_for_test
from bridge.delivery.smtp import Outcome, SendResult
from bridge.delivery.transports import Transport, build_transport
from bridge.errors import ConfigError, DeliveryError
from bridge.mail.render import Renderer, RenderError, get_renderer, new_message_id
from bridge.model.headers import make_address
from bridge.model.identity import ShopIdentity
from bridge.model.kinds import ORDER_CONFIRMATION, get_kind

KIND = ORDER_CONFIRMATION
SUBJECT_MARK = "[TEST]"


@dataclass(frozen=True)
class EmailTestReport:
    """What the test email proved."""

    to: str
    subject: str
    message_id: str
    via: str  # "smtp.gmail.com:587 (starttls) as shop@gmail.com", or the folder for MAIL_TRANSPORT=file
    reply: str  # the server's reply to the message

    def __str__(self) -> str:
        return (
            f"sent a test order confirmation to {self.to} via {self.via}\n"
            f"  subject:    {self.subject}\n  Message-ID: {self.message_id}\n  server:     {self.reply}"
        )


def load_identity_for_test(settings: Settings) -> ShopIdentity:
    """`identity_for_test` with the identity the last sync stored, when there is a state store."""
    with existing_store(settings) as store:
        stored = stored_identity(store) if store is not None else None
    return identity_for_test(settings, stored)


def render_test_email(
    to: str, *, identity: ShopIdentity, renderer: Renderer, now: datetime, language: str
) -> EmailMessage:
    """The sample order confirmation, addressed to `to`, its subject marked as a test."""
    message_id = new_message_id(identity, "test")
    try:
        rendered = renderer.render(
            KIND,
            language,
            get_kind(KIND).sample(),
            shop=identity,
            message_id=message_id,
            recipient=make_address("", to),
            now=now,
        )
    except RenderError as error:
        raise ConfigError(f"the order confirmation template does not render: {error}") from None
    message = rendered.message
    message.replace_header("Subject", f"{SUBJECT_MARK} {rendered.subject}")
    return message


def send_test_email(
    settings: Settings,
    to: str,
    *,
    identity: ShopIdentity | None = None,
    transport: Transport | None = None,
    renderer: Renderer | None = None,
    clock: Clock | None = None,
) -> EmailTestReport:
    """Send the test email to `to` through `transport` (default: the configured one, closed afterwards).

    Raises ConfigError for an unusable address or template, and DeliveryError with the explanation and the
    server's reply when the server does not take the message; `permanent` when retrying the same command
    will not help (a refused login, a refused address, a message too big).
    """
    try:
        recipient = parse_address(to).addr_spec
    except Invalid as invalid:
        raise ConfigError(f"--to: {invalid}, got {to!r}") from None
    shop = identity or identity_for_test(settings)
    now = (clock or SystemClock()).now()
    message = render_test_email(
        recipient,
        identity=shop,
        renderer=renderer or get_renderer(settings.templates_dir),
        now=now,
        language=settings.default_language,
    )
    own_transport = transport is None
    active = build_transport(settings) if transport is None else transport
    try:
        result = active.send(message, envelope_from=shop.from_email, recipients=[recipient])
    finally:
        if own_transport:
            active.close()
    if not result.sent:
        raise DeliveryError(explain_failure(result, recipient), permanent=result.outcome in PERMANENT)
    return EmailTestReport(
        to=recipient,
        subject=str(message["Subject"]),
        message_id=str(message["Message-ID"]),
        via=_via(settings),
        reply=result.reply,
    )


# Outcomes that sending the test again would not change.
PERMANENT = frozenset(
    {Outcome.CREDENTIALS, Outcome.RECIPIENT_PERMANENT, Outcome.MESSAGE_PERMANENT, Outcome.QUOTA}
)


def explain_failure(result: SendResult, to: str) -> str:
    """One paragraph for the owner: what went wrong, what to do, and the server's own words."""
    said = f"server said: {result.reply}" if result.code is not None else result.reply.strip("()")
    match result.outcome:
        case Outcome.RECIPIENT_PERMANENT:
            what = f"the server refused the address {to}: check it for typos, or try another address"
        case Outcome.UNKNOWN:
            what = (
                "the connection was lost just after the message was handed over: it may still arrive. "
                f"Look in the inbox of {to} and in the Sent folder of the sending account before trying again"
            )
        case _:
            what = _without_queue_talk(result.explanation)
    return f"the test email was not sent: {what} ({said})"


# What the explanations say about the outbox (written for delivery); a test email is not in the outbox.
_QUEUE_TALK = re.compile(
    r"(?:[.;] |^)(?:Sending is paused[^.]*|Sending resumes by itself[^.]*"
    r"|[Ee]very email stays pending"
    r"|[Tt]he bridge retries later|it will be retried later|the mail will be retried later"
    r"|nothing was delivered and the email will be retried)(?=\.|$)"
)


def _without_queue_talk(explanation: str) -> str:
    return _QUEUE_TALK.sub("", explanation).strip()


def _via(settings: Settings) -> str:
    if settings.mail_transport == "file":
        return f"files in {settings.mail_file_dir} (MAIL_TRANSPORT=file: nothing left this machine)"
    who = f" as {settings.smtp_username}" if settings.smtp_username else ""
    return f"{settings.smtp_host}:{settings.smtp_port} ({settings.smtp_security}){who}"
