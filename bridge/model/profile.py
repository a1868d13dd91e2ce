"""The shop's slow-changing facts the emails need, as plain values: identity, languages, currencies,
and which email each order state sends."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from bridge.errors import ConfigError
from bridge.model.identity import ShopIdentity
from bridge.model.kinds import DELIVERED, status_kinds, template_kinds
from bridge.model.records import Currency, Language, OrderState

# PrestaShop's own mail template → the bridge's kind (docs/shop-facts.md). A state whose template is not
# there sends nothing unless the owner maps it (STATUS_EMAILS).
TEMPLATE_KINDS: Final[Mapping[str, str | None]] = template_kinds()
STATUS_KINDS: Final = frozenset(status_kinds())


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
            kind = DELIVERED
        kinds[state_id] = kind
    for state_id, kind in overrides.items():
        if kind is not None and kind not in STATUS_KINDS:
            raise ConfigError(
                f"STATUS_EMAILS: {kind!r} is not an email kind ({', '.join(sorted(STATUS_KINDS))})"
            )
        kinds[state_id] = kind
    return kinds
