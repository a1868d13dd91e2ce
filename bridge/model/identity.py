"""Who the shop's emails are from and what their layout shows: plain, validated values."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bridge.errors import ConfigError
from bridge.model.headers import LANGUAGE_TAG, make_address

_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")


@dataclass(frozen=True)
class ShopIdentity:
    """Who the email is from and what its layout shows. Built once from settings (defaulting to PS_SHOP_*).

    `email` is the shop's contact address, shown in the footer and used as Reply-To unless `reply_to_email`
    (MAIL_REPLY_TO) is set. `from_email` is the authenticated Gmail address (or a verified alias),
    `from_name` its display name.
    """

    name: str
    email: str
    from_email: str
    from_name: str = ""  # defaults to `name`
    reply_to_email: str = ""  # defaults to `email`
    reply_to_name: str = ""  # defaults to `name`
    address_lines: tuple[str, ...] = ()
    phone: str = ""
    logo_url: str = ""
    accent_color: str = "#1a73e8"
    base_url: str = ""
    timezone: str = "Europe/Warsaw"
    default_language: str = "pl"
    zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not self.name.strip():
            problems.append("the shop name is empty")
        if not _COLOUR.fullmatch(self.accent_color):
            # It is written into a <style> block, where HTML escaping does not help.
            problems.append(f"accent colour {self.accent_color!r} is not #rgb or #rrggbb")
        for label, url in (("logo URL", self.logo_url), ("shop URL", self.base_url)):
            if url and urlsplit(url).scheme not in ("http", "https"):
                problems.append(f"{label} {url!r} is not an http(s) URL")
        addresses = [("shop email", self.email), ("from address", self.from_email)]
        if self.reply_to_email:
            addresses.append(("reply-to address", self.reply_to_email))
        for label, address in addresses:
            try:
                make_address("", address)
            except (ValueError, IndexError):
                problems.append(f"{label} {address!r} is not an email address")
        if not LANGUAGE_TAG.fullmatch(self.default_language):
            problems.append(f"default language {self.default_language!r} is not a language code")
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"timezone {self.timezone!r} is unknown")
            zone = ZoneInfo("UTC")
        if problems:
            raise ConfigError(problems)
        object.__setattr__(self, "zone", zone)

    @classmethod
    def from_shop_configuration(
        cls,
        configuration: Mapping[str, str | None],
        *,
        from_email: str,
        from_name: str = "",
        reply_to_email: str = "",
        reply_to_name: str = "",
        name: str = "",
        email: str = "",
        address_lines: tuple[str, ...] = (),
        phone: str = "",
        logo_url: str = "",
        accent_color: str = "#1a73e8",
        base_url: str = "",
        timezone: str = "",
        default_language: str = "pl",
    ) -> ShopIdentity:
        """The owner's settings where given, else the shop's own PS_* configuration values.

        `configuration` maps names to values as `configurations?filter[name]=[PS_SHOP_…]` returns them
        (PS_SHOP_NAME, PS_SHOP_EMAIL, PS_SHOP_ADDR1, PS_SHOP_ADDR2, PS_SHOP_CODE, PS_SHOP_CITY, PS_SHOP_PHONE,
        PS_SHOP_DOMAIN, PS_SHOP_DOMAIN_SSL, PS_SSL_ENABLED, PS_LOGO, PS_TIMEZONE); absent keys are fine.
        """

        def value(key: str) -> str:
            return (configuration.get(key) or "").strip()

        secure = value("PS_SSL_ENABLED") != "0"
        domain = value("PS_SHOP_DOMAIN_SSL" if secure else "PS_SHOP_DOMAIN") or value("PS_SHOP_DOMAIN")
        shop_url = base_url or (f"{'https' if secure else 'http'}://{domain}" if domain else "")
        city_line = " ".join(part for part in (value("PS_SHOP_CODE"), value("PS_SHOP_CITY")) if part)
        shop_address = tuple(
            line for line in (value("PS_SHOP_ADDR1"), value("PS_SHOP_ADDR2"), city_line) if line
        )
        logo = logo_url or (f"{shop_url}/img/{value('PS_LOGO')}" if shop_url and value("PS_LOGO") else "")
        return cls(
            name=name or value("PS_SHOP_NAME"),
            email=email or value("PS_SHOP_EMAIL"),
            from_email=from_email,
            from_name=from_name,
            reply_to_email=reply_to_email,
            reply_to_name=reply_to_name,
            address_lines=address_lines or shop_address,
            phone=phone or value("PS_SHOP_PHONE"),
            logo_url=logo,
            accent_color=accent_color,
            base_url=shop_url,
            timezone=timezone or value("PS_TIMEZONE") or "Europe/Warsaw",
            default_language=default_language,
        )

    @property
    def domain(self) -> str:
        """The shop's domain, for Message-IDs: the shop URL's host, else the contact address's domain."""
        host = urlsplit(self.base_url).hostname if self.base_url else None
        return host or self.email.rpartition("@")[2]

    def snapshot(self) -> dict[str, Any]:
        """The identity as plain values, kept in the store so delivery can render without the shop."""
        return {
            "name": self.name,
            "email": self.email,
            "from_email": self.from_email,
            "from_name": self.from_name,
            "reply_to_email": self.reply_to_email,
            "reply_to_name": self.reply_to_name,
            "address_lines": list(self.address_lines),
            "phone": self.phone,
            "logo_url": self.logo_url,
            "accent_color": self.accent_color,
            "base_url": self.base_url,
            "timezone": self.timezone,
            "default_language": self.default_language,
        }

    def to_template(self) -> dict[str, Any]:
        """The plain values templates see as `shop`."""
        return {
            "name": self.name,
            "email": self.email,
            "address_lines": list(self.address_lines),
            "phone": self.phone,
            "logo_url": self.logo_url,
            "accent_color": self.accent_color,
            "base_url": self.base_url,
        }
