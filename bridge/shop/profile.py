"""The shop's slow-changing facts the emails need: identity, languages, currencies, order states.

Read only when a poll found something to send (an idle poll never pays for it), once per cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Final

from bridge.config import Settings
from bridge.model.identity import ShopIdentity
from bridge.model.profile import ShopProfile, state_kinds
from bridge.shop.client import ShopClient

log = logging.getLogger(__name__)

CONFIGURATION_KEYS: Final = (
    "PS_SHOP_NAME",
    "PS_SHOP_EMAIL",
    "PS_SHOP_ADDR1",
    "PS_SHOP_ADDR2",
    "PS_SHOP_CODE",
    "PS_SHOP_CITY",
    "PS_SHOP_PHONE",
    "PS_SHOP_DOMAIN",
    "PS_SHOP_DOMAIN_SSL",
    "PS_SSL_ENABLED",
    "PS_LOGO",
    "PS_LOGO_MAIL",
    "PS_CONDITIONS_CMS_ID",
    "PS_TIMEZONE",
    "PS_LANG_DEFAULT",
    "PS_OS_DELIVERED",
    "BANK_WIRE_OWNER",
    "BANK_WIRE_DETAILS",
    "BANK_WIRE_ADDRESS",
    "CHEQUE_NAME",
    "CHEQUE_ADDRESS",
)


def load_profile(client: ShopClient, settings: Settings) -> ShopProfile:
    """Read the shop's identity and reference data (four requests)."""
    configuration = client.configuration(CONFIGURATION_KEYS)
    states = {state.id: state for state in client.order_states()}
    languages = {language.id: language for language in client.languages()}
    currencies = {currency.id: currency for currency in client.currencies()}
    delivered = configuration.get("PS_OS_DELIVERED")
    identity = identity_from(configuration, client, settings)
    return ShopProfile(
        identity=identity,
        states=states,
        languages=languages,
        currencies=currencies,
        state_kinds=state_kinds(
            states,
            delivered_state_id=int(delivered) if delivered and delivered.isdigit() else None,
            overrides=settings.status_emails,
        ),
        configuration=configuration,
        front_url=identity.base_url,
    )


def read_identity(client: ShopClient, settings: Settings) -> ShopIdentity:
    """Only the shop's identity (one request, and the time zone): what the test email shows before the
    first sync."""
    return identity_from(client.configuration(CONFIGURATION_KEYS), client, settings)


def identity_from(
    configuration: Mapping[str, str | None], client: ShopClient, settings: Settings
) -> ShopIdentity:
    """The shop's own values under the owner's sender and branding settings."""
    branding = settings.branding
    return ShopIdentity.from_shop_configuration(
        configuration,
        from_email=settings.mail_from.addr_spec,
        from_name=settings.mail_from.display_name,
        reply_to_email=settings.mail_reply_to.addr_spec if settings.mail_reply_to else "",
        reply_to_name=settings.mail_reply_to.display_name if settings.mail_reply_to else "",
        timezone=client.shop_timezone().key,
        default_language=settings.default_language,
        logo_url=branding.logo_url,
        accent_color=branding.accent_color,
        footer_text=branding.footer_text,
        legal=branding.legal,
    )
