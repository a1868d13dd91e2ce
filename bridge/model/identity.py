"""Who the shop's emails are from and what their layout shows: plain, validated values.

The layout's branding (logo, accent colour, footer text) and the seller's legal details (company, address,
tax and registration numbers, links to the terms, returns and privacy policies) travel with the identity:
the poll stores it with the queued emails, so delivery renders them without asking the shop.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bridge.errors import ConfigError
from bridge.model.headers import LANGUAGE_TAG, make_address

_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")

DEFAULT_ACCENT: Final = "#1967d2"
# The backgrounds the layout draws: the card and a box in light mode, the card and a box in dark mode.
LIGHT_BACKGROUNDS: Final = ("#ffffff", "#f4f4f5")
DARK_BACKGROUNDS: Final = ("#27272a", "#3f3f46")
MIN_CONTRAST: Final = 4.5  # WCAG 2 AA for body text


def _channels(colour: str) -> tuple[int, int, int]:
    digits = colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def _luminance(colour: str) -> float:
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in _channels(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2's contrast ratio of two #rgb/#rrggbb colours, from 1 to 21."""
    light, dark = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def accent_problem(colour: str) -> str | None:
    """Why `colour` cannot be the accent, or None: it must be #rgb/#rrggbb, and white button text on it
    and links in it on the light backgrounds must reach 4.5:1."""
    if not _COLOUR.fullmatch(colour):
        return f"{colour!r} is not a colour like #1967d2"
    worst = min(contrast_ratio(colour, background) for background in LIGHT_BACKGROUNDS)
    if worst < MIN_CONTRAST:
        return (
            f"{colour} is too light: white button text on it and links in it reach {worst:.1f}:1, "
            f"under {MIN_CONTRAST}:1; choose a darker colour"
        )
    return None


def dark_accent(colour: str) -> str:
    """The accent for links in dark mode: mixed with white until it reads on every dark background."""
    r, g, b = _channels(colour)
    for step in range(0, 21):
        t = step / 20
        mixed = "#{:02x}{:02x}{:02x}".format(*(round(c + (255 - c) * t) for c in (r, g, b)))
        if min(contrast_ratio(mixed, background) for background in DARK_BACKGROUNDS) >= MIN_CONTRAST:
            return mixed
    return "#ffffff"


LEGAL_FIELDS: Final = (
    "company",
    "address",
    "tax_id",
    "registration",
    "terms_url",
    "returns_url",
    "privacy_url",
)


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
    accent_color: str = DEFAULT_ACCENT
    base_url: str = ""
    timezone: str = "Europe/Warsaw"
    default_language: str = "pl"
    footer_text: str = ""  # the owner's own line in every footer (FOOTER_TEXT)
    # The seller as the law wants it named (LEGAL_*): "" leaves a line out.
    legal_company: str = ""
    legal_address: str = ""
    legal_tax_id: str = ""
    legal_registration: str = ""
    legal_terms_url: str = ""
    legal_returns_url: str = ""
    legal_privacy_url: str = ""
    zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not self.name.strip():
            problems.append("the shop name is empty")
        if not _COLOUR.fullmatch(self.accent_color):
            # It is written into a <style> block, where HTML escaping does not help.
            problems.append(f"accent colour {self.accent_color!r} is not #rgb or #rrggbb")
        urls = (
            ("logo URL", self.logo_url),
            ("shop URL", self.base_url),
            ("terms URL", self.legal_terms_url),
            ("returns policy URL", self.legal_returns_url),
            ("privacy policy URL", self.legal_privacy_url),
        )
        for label, url in urls:
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
        accent_color: str = DEFAULT_ACCENT,
        base_url: str = "",
        timezone: str = "",
        default_language: str = "pl",
        legal: Mapping[str, str] | None = None,
        footer_text: str = "",
    ) -> ShopIdentity:
        """The owner's settings where given, else the shop's own PS_* configuration values.

        `configuration` maps names to values as `configurations?filter[name]=[PS_SHOP_…]` returns them
        (PS_SHOP_NAME, PS_SHOP_EMAIL, PS_SHOP_ADDR1, PS_SHOP_ADDR2, PS_SHOP_CODE, PS_SHOP_CITY, PS_SHOP_PHONE,
        PS_SHOP_DOMAIN, PS_SHOP_DOMAIN_SSL, PS_SSL_ENABLED, PS_LOGO_MAIL, PS_LOGO, PS_TIMEZONE,
        PS_CONDITIONS_CMS_ID); absent keys are fine. The logo is the one the merchant chose for emails
        (PS_LOGO_MAIL), else the website's; `legal` holds the owner's LEGAL_* values by field name
        (`company`, `terms_url`…), and the terms default to the shop's terms CMS page.
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
        logo_file = value("PS_LOGO_MAIL") or value("PS_LOGO")
        logo = logo_url or (f"{shop_url}/img/{logo_file}" if shop_url and logo_file else "")
        given = dict(legal or {})
        terms_page = value("PS_CONDITIONS_CMS_ID")
        if not given.get("terms_url") and shop_url and terms_page.isdigit() and terms_page != "0":
            given["terms_url"] = f"{shop_url}/index.php?id_cms={terms_page}&controller=cms"
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
            footer_text=footer_text,
            **{f"legal_{key}": text for key, text in given.items() if key in LEGAL_FIELDS},
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
            "footer_text": self.footer_text,
            **{f"legal_{key}": getattr(self, f"legal_{key}") for key in LEGAL_FIELDS},
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
            "accent_dark": dark_accent(self.accent_color),
            "base_url": self.base_url,
            "footer_text": self.footer_text,
            "legal": {key: getattr(self, f"legal_{key}") for key in LEGAL_FIELDS},
        }
