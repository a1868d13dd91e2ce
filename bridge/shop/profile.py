"""The shop's slow-changing facts the emails need: identity, languages, currencies, order states.

Read only when a poll found something to send (an idle poll never pays for it), once per cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from bridge.config import STATUS_EMAIL_KINDS, Settings
from bridge.errors import ConfigError
from bridge.mail.render import ShopIdentity
from bridge.shop.client import ShopClient
from bridge.shop.records import Currency, Language, OrderState

log = logging.getLogger(__name__)

# PrestaShop's own mail template name → the bridge's email kind (../shared/docs/prestashop-webservice.md
# §6.1). A state whose template is not here sends nothing unless the owner maps it (STATUS_EMAILS).
TEMPLATE_KINDS: Final[Mapping[str, str | None]] = {
    "bankwire": "awaiting_bank_wire",
    "cheque": "awaiting_cheque",
    "payment": "payment_accepted",
    "preparation": "processing",
    "shipped": "shipped",
    "order_canceled": "cancelled",
    "refund": "refunded",
    "payment_error": "payment_error",
    "outofstock": "backorder",
    "cashondelivery": None,  # "awaiting COD validation": the order confirmation says it all
}
STATUS_KINDS: Final = frozenset(STATUS_EMAIL_KINDS)
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
    "PS_TIMEZONE",
    "PS_LANG_DEFAULT",
    "PS_OS_DELIVERED",
    "BANK_WIRE_OWNER",
    "BANK_WIRE_DETAILS",
    "BANK_WIRE_ADDRESS",
    "CHEQUE_NAME",
    "CHEQUE_ADDRESS",
)


@dataclass(frozen=True)
class ShopProfile:
    identity: ShopIdentity
    states: Mapping[int, OrderState]
    languages: Mapping[int, Language]
    currencies: Mapping[int, Currency]
    state_kinds: Mapping[int, str | None]
    configuration: Mapping[str, str | None] = field(default_factory=dict)
    front_url: str = ""  # the shop's storefront, for links in emails

    def language_iso(self, id_lang: int) -> str | None:
        language = self.languages.get(id_lang)
        return language.iso_code.lower() if language else None

    def kind_for_state(self, state_id: int) -> str | None:
        return self.state_kinds.get(state_id)


def state_kinds(
    states: Mapping[int, OrderState], *, delivered_state_id: int | None, overrides: Mapping[int, str | None]
) -> dict[int, str | None]:
    """Which email each order state sends: the owner's STATUS_EMAILS first, then the shop's own template.

    Delivered has no template in PrestaShop (it sends no mail), but customers expect to hear that their
    parcel arrived: the state PS_OS_DELIVERED points at sends `delivered`.
    """
    kinds: dict[int, str | None] = {}
    for state_id, state in states.items():
        template = state.template.get(None).strip()
        kind = TEMPLATE_KINDS.get(template)
        if kind is None and state_id == delivered_state_id:
            kind = "delivered"
        kinds[state_id] = kind
    for state_id, kind in overrides.items():
        if kind is not None and kind not in STATUS_KINDS:
            raise ConfigError(
                f"STATUS_EMAILS: {kind!r} is not an email kind ({', '.join(sorted(STATUS_KINDS))})"
            )
        kinds[state_id] = kind
    return kinds


def load_profile(client: ShopClient, settings: Settings) -> ShopProfile:
    """Read the shop's identity and reference data (four requests)."""
    configuration = client.configuration(CONFIGURATION_KEYS)
    states = {state.id: state for state in client.order_states()}
    languages = {language.id: language for language in client.languages()}
    currencies = {currency.id: currency for currency in client.currencies()}
    delivered = configuration.get("PS_OS_DELIVERED")
    identity = ShopIdentity.from_shop_configuration(
        configuration,
        from_email=settings.mail_from.addr_spec,
        from_name=settings.mail_from.display_name,
        reply_to_email=settings.mail_reply_to.addr_spec if settings.mail_reply_to else "",
        reply_to_name=settings.mail_reply_to.display_name if settings.mail_reply_to else "",
        timezone=client.shop_timezone().key,
        default_language=settings.default_language,
    )
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
