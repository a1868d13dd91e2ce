"""Who signs an email when the shop has not said yet: the settings' sender, over the identity the last poll
stored. The test email and the owner's alerts use it; customer mail always has the shop's own identity."""

from __future__ import annotations

import dataclasses

from bridge.config import Settings
from bridge.model.identity import ShopIdentity


def identity_for_test(settings: Settings, stored: ShopIdentity | None = None) -> ShopIdentity:
    """The identity the test email is signed with: the shop's (as the last sync read it) when known, with
    From and Reply-To as the settings say now, since those are what the test is about."""
    sender = settings.mail_from
    reply_to = settings.mail_reply_to
    if stored is not None:
        return dataclasses.replace(
            stored,
            from_email=sender.addr_spec,
            from_name=sender.display_name,
            reply_to_email=reply_to.addr_spec if reply_to else stored.reply_to_email,
            reply_to_name=reply_to.display_name if reply_to else stored.reply_to_name,
        )
    contact = reply_to or sender
    return ShopIdentity(
        name=sender.display_name or sender.domain,
        email=contact.addr_spec,
        from_email=sender.addr_spec,
        from_name=sender.display_name,
        reply_to_name=contact.display_name,
        default_language=settings.default_language,
        timezone=settings.shop_timezone.key if settings.shop_timezone else "Europe/Warsaw",
    )
