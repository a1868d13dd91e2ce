"""`bridge test-email --to ADDRESS`: one real email through the configured server, to prove it works.

The email is the `test_email` kind: it says plainly that it is a test and not an order, names the server,
port and security used, and wears the shop's branding (its name, logo, accent colour, footer and legal
details) so the owner sees what customers will see. It works before the first sync: the identity is the
one the last sync stored, else read from the shop now, else made from the settings, and the email then
says the shop could not be read yet. It lists the branding and legal settings still unset.

It does not go through the outbox: nothing is queued, retried or counted, and a failure is explained at
once, in the owner's words (an app password to create, a port to open, an address to correct).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from bridge import __version__
from bridge.clock import Clock, SystemClock
from bridge.config import Invalid, Settings, parse_address
from bridge.config.branding import BRANDING_SETTINGS, Branding
from bridge.delivery.deliver import existing_store, stored_identity
from bridge.delivery.identity import identity_for_test
from bridge.delivery.smtp import Outcome, SendResult
from bridge.delivery.transports import Transport, build_transport
from bridge.errors import BridgeError, ConfigError, DeliveryError
from bridge.mail.render import Renderer, RenderError, get_renderer, new_message_id
from bridge.model.headers import make_address
from bridge.model.identity import LEGAL_FIELDS, ShopIdentity
from bridge.model.kinds import TEST_EMAIL

log = logging.getLogger(__name__)

KIND = TEST_EMAIL
SUBJECT_MARK = "[TEST]"
# The settings a missing identity value points the owner to (LOGO_URL, LEGAL_COMPANY, …).
_SETTING_OF: dict[str, str] = {row.attribute: row.name for row in BRANDING_SETTINGS}


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
            f"sent a test email to {self.to} via {self.via}\n"
            f"  subject:    {self.subject}\n  Message-ID: {self.message_id}\n  server:     {self.reply}"
        )


def with_branding(identity: ShopIdentity, branding: Branding) -> ShopIdentity:
    """The identity as the settings brand it now: the test shows today's logo, colour and footer, not
    those of the last sync. Unset values keep the shop's own (its mail logo, its terms page)."""
    legal: dict[str, Any] = {f"legal_{k}": v for k, v in branding.legal.items() if k in LEGAL_FIELDS}
    return dataclasses.replace(
        identity,
        logo_url=branding.logo_url or identity.logo_url,
        accent_color=branding.accent_color,
        footer_text=branding.footer_text,
        **legal,
    )


def load_identity_for_test(settings: Settings, *, read_shop: bool = True) -> ShopIdentity:
    """The identity the last sync stored; before the first sync, the shop's own (one request), else the
    settings' (when the shop cannot be reached: the email then says so). Branded as the settings say."""
    with existing_store(settings) as store:
        stored = stored_identity(store) if store is not None else None
    if stored is None and read_shop and settings.shop_configured:
        stored = _read_shop_identity(settings)
    return with_branding(identity_for_test(settings, stored), settings.branding)


def _read_shop_identity(settings: Settings) -> ShopIdentity | None:
    from bridge.app import open_shop
    from bridge.shop.profile import read_identity

    try:
        with open_shop(settings) as client:
            return read_identity(client, settings)
    except BridgeError as error:
        log.warning("the shop's name and logo could not be read for the test email: %s", error)
        return None


def missing_settings(identity: ShopIdentity) -> list[str]:
    """The branding and legal settings whose value the email lacks: what the owner may still set."""
    fields = ["logo_url", *(f"legal_{key}" for key in LEGAL_FIELDS)]
    return [_SETTING_OF[name] for name in fields if not getattr(identity, name)]


def email_context(settings: Settings, identity: ShopIdentity, now: datetime) -> dict[str, Any]:
    """What the test email shows: the connection, the version, and what the shop's branding lacks."""
    return {
        "smtp": {
            "host": settings.smtp_host,
            "port": settings.smtp_port,
            "security": settings.smtp_security,
            "username": settings.smtp_username or "",
        },
        "sent_at": now.isoformat(),
        "bridge_version": __version__,
        "shop_read": bool(identity.base_url),  # only the shop (read now or by a sync) gives its address
        "missing": missing_settings(identity),
    }


def render_test_email(
    to: str,
    *,
    identity: ShopIdentity,
    renderer: Renderer,
    now: datetime,
    language: str,
    context: dict[str, Any],
) -> EmailMessage:
    """The test email, addressed to `to`, its subject marked as a test."""
    message_id = new_message_id(identity, "test")
    try:
        rendered = renderer.render(
            KIND,
            language,
            context,
            shop=identity,
            message_id=message_id,
            recipient=make_address("", to),
            now=now,
        )
    except RenderError as error:
        raise ConfigError(f"the test_email template does not render: {error}") from None
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
    shop = identity or with_branding(identity_for_test(settings), settings.branding)
    now = (clock or SystemClock()).now()
    message = render_test_email(
        recipient,
        identity=shop,
        renderer=renderer or get_renderer(settings.templates_dir),
        now=now,
        language=settings.default_language,
        context=email_context(settings, shop, now),
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
