"""`bridge campaign preview FILE --to ADDRESS`: one sample of the campaign, as a customer would get it, to the
owner's own address.

Marked as a preview in the subject (`[PODGLĄD]` / `[PREVIEW]`) and at the top of the body; a sample
customer's name; a personal code's place taken by a sample code that exists nowhere (no cart rule is
created: the shop is only read); a shared code shown as it is. It goes through the configured transport
(SMTP, or files) but not through the outbox: nothing is queued, retried or counted, as with
`bridge test-email`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from bridge.clock import Clock
from bridge.commands.campaign.load import CampaignError, load_campaign
from bridge.commands.testmail import PERMANENT, explain_failure, load_identity_for_test
from bridge.config import Invalid, Settings, parse_address
from bridge.cycle.terms import languages_of
from bridge.delivery.transports import Transport, build_transport
from bridge.errors import ConfigError, DeliveryError
from bridge.mail.render import RenderedEmail, RenderError, UnsubscribeLinks, get_renderer, new_message_id
from bridge.model.campaign_kinds import CAMPAIGN
from bridge.model.codes import PersonalCode, PersonalCodeRequest
from bridge.model.headers import make_address
from bridge.model.identity import ShopIdentity
from bridge.model.kinds import SAMPLE_UNSUBSCRIBE
from bridge.plan import campaigns as plan
from bridge.plan.campaign_file import Campaign, default_prefix
from bridge.shop import audience
from bridge.shop.client import ShopClient
from bridge.shop.profile import load_profile
from bridge.web.unsubscribe import Signer, links, load_key

# The sample customer of each language's preview (any other language: the English one).
SAMPLE_NAMES: Final = {"pl": ("Zofia", "Żółkiewska"), "en": ("Emily", "Clarke")}


def send_preview(
    client: ShopClient,
    settings: Settings,
    path: Path,
    to: str,
    *,
    language: str | None,
    clock: Clock,
    transport: Transport | None = None,
) -> str:
    """Render the campaign's `language` section (default: the shop's default language's) for a sample
    customer and send it to `to` through `transport` (default: the configured one, closed afterwards);
    the report's lines. DeliveryError when the server refuses it."""
    campaign = load_campaign(path)
    try:
        recipient = parse_address(to).addr_spec
    except Invalid as invalid:
        raise ConfigError(f"--to: {invalid}, got {to!r}") from None
    iso = _language(campaign, path, language, settings.default_language)
    now = clock.now()
    profile = load_profile(client, settings)
    currency = audience.default_currency(client) if campaign.discount is not None else ""
    rules = plan.Rules(languages_of(profile), settings.default_language, currency, profile.identity.zone, now)
    identity = load_identity_for_test(settings)
    context = preview_context(campaign, iso, recipient, rules)
    rendered = _render(settings, path, identity, context, iso, now=now)
    active = build_transport(settings) if transport is None else transport
    try:
        result = active.send(rendered.message, envelope_from=identity.from_email, recipients=[recipient])
    finally:
        if transport is None:
            active.close()
    if not result.sent:
        why = explain_failure(result, recipient).replace("the test email", "the preview", 1)
        raise DeliveryError(why, permanent=result.outcome in PERMANENT)
    return (
        f'sent a preview of the campaign "{campaign.name}" ([{iso}]) to {recipient}\n'
        f"  subject:    {rendered.subject}\n  server:     {result.reply}"
    )


def _render(
    settings: Settings,
    path: Path,
    identity: ShopIdentity,
    context: dict[str, Any],
    iso: str,
    *,
    now: datetime,
) -> RenderedEmail:
    """The preview as delivery would render it, with the preview address's own unsubscribe links."""
    recipient = str(context["customer"]["email"])
    try:
        return get_renderer(settings.templates_dir).render(
            CAMPAIGN,
            iso,
            context,
            shop=identity,
            message_id=new_message_id(identity, "preview"),
            recipient=make_address("", recipient),
            now=now,
            unsubscribe=_links(settings, recipient, iso, identity.email),
        )
    except RenderError as error:
        raise CampaignError(f"{path.name}: the campaign does not render: {error}") from None


def _language(campaign: Campaign, path: Path, asked: str | None, default: str) -> str:
    if asked is not None:
        if asked not in campaign.texts:
            raise CampaignError(
                f"{path.name}: --lang {asked}: the file has no [{asked}] section (it has"
                f" {', '.join(campaign.texts)})"
            )
        return asked
    return default if default in campaign.texts else next(iter(campaign.texts))


def preview_context(campaign: Campaign, iso: str, to: str, rules: plan.Rules) -> dict[str, Any]:
    """What a customer's email would hold, for a sample customer at `to`, with a sample personal code."""
    first, last = SAMPLE_NAMES.get(iso, SAMPLE_NAMES["en"])
    text = campaign.texts[iso]
    context: dict[str, Any] = {
        "customer": {"first_name": first, "last_name": last, "email": to},
        "campaign": {"name": campaign.name, "subject": text.subject, "body": text.body},
        "preview": True,
    }
    discount = campaign.discount
    if discount is not None and discount.single_use:
        request = plan.code_request(campaign, discount, text)
        until = (rules.now + timedelta(days=request["valid_days"])).astimezone(UTC)
        context["personal_code"] = request
        context["code"] = sample_code(
            request["prefix"] or default_prefix(campaign.name), request, rules, until
        )
    elif discount is not None:
        context["code"] = plan.shared_code(discount, rules)
    return context


def sample_code(
    prefix: str, request: PersonalCodeRequest, rules: plan.Rules, until: datetime
) -> PersonalCode:
    """A code shaped like the ones delivery creates (`BF2026-` and 8 characters), which exists nowhere."""
    return {
        "code": f"{prefix}-XXXXXXXX",
        "percent": request["percent"],
        "amount": request["amount"],
        "currency": rules.currency,
        "minimum_amount": request["minimum_amount"],
        "free_shipping": request["free_shipping"],
        "valid_until": until.isoformat(),
    }


def _links(settings: Settings, recipient: str, language: str, shop_email: str) -> UnsubscribeLinks:
    """The preview address's own unsubscribe links when marketing mail is on (as delivery makes them:
    bridge.delivery.marketing); else the samples'."""
    if not settings.marketing_enabled:
        return SAMPLE_UNSUBSCRIBE
    mailto = settings.unsubscribe_mailto.addr_spec if settings.unsubscribe_mailto else shop_email
    signer = Signer(load_key(settings.state_dir, settings.unsubscribe_secret))
    return links(
        recipient, base_url=settings.unsubscribe_url, mailto=mailto, language=language, signer=signer
    )
