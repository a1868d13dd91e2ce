"""How the shop's emails look and whom they name as the seller: logo, accent colour, footer text, and the
legal footer (company, address, tax and registration numbers, links to the terms, returns and privacy).

Every value is optional: empty means the shop's own (the mail logo PS_LOGO_MAIL, the terms CMS page
PS_CONDITIONS_CMS_ID) or nothing. The poll hands them to the shop identity (`bridge.shop.profile`), so the
queued emails carry them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, TypedDict
from urllib.parse import urlsplit

from bridge.config.parse import Invalid, parse_str
from bridge.config.reader import Reader, Setting
from bridge.model.identity import DEFAULT_ACCENT, LEGAL_FIELDS, accent_problem


def parse_link(raw: str) -> str:
    """An http(s) address a customer can open; a query is fine (`index.php?id_cms=3&controller=cms`)."""
    parse_str(raw)
    parts = urlsplit(raw)
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname or " " in raw:
        raise Invalid("must be an address starting with https://, like https://shop.example.com/terms")
    if "@" in parts.netloc:
        raise Invalid("must not contain a user name or password before @", echo=False)
    return raw


def parse_accent(raw: str) -> str:
    """A #rgb/#rrggbb colour readable as a button under white text and as a link on the light boxes."""
    colour = parse_str(raw).lower()
    problem = accent_problem(colour)
    if problem:
        raise Invalid(problem.removeprefix(f"{colour!r} "), echo=problem.startswith(repr(colour)))
    return colour


def _text(limit: int) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        text = parse_str(raw)
        if len(text) > limit:
            raise Invalid(f"is {len(text)} characters long; keep it under {limit}", echo=False)
        return text

    return parse


LOGO_URL = Setting(
    "LOGO_URL",
    "",
    parse_link,
    "The logo at the top of every email (https://…, about 360×120 px or smaller). Empty: the shop's mail"
    " logo (Design > Theme & Logo > Mail logo), else its website logo.",
)
ACCENT_COLOR = Setting(
    "ACCENT_COLOR",
    DEFAULT_ACCENT,
    parse_accent,
    "The colour of buttons, links and the top stripe (#rrggbb). White text on it must stay readable"
    " (contrast 4.5:1): a light colour is refused.",
)
FOOTER_TEXT = Setting(
    "FOOTER_TEXT", "", _text(300), "One line of your own in every email's footer. Empty: none."
)
LEGAL_COMPANY = Setting(
    "LEGAL_COMPANY", "", _text(200), "The seller's registered name: 'Żółta Łódka sp. z o.o.'. Empty: none."
)
LEGAL_ADDRESS = Setting(
    "LEGAL_ADDRESS", "", _text(200), "The seller's registered address, one line. Empty: none."
)
LEGAL_TAX_ID = Setting("LEGAL_TAX_ID", "", _text(40), "The seller's tax number (NIP, VAT ID). Empty: none.")
LEGAL_REGISTRATION = Setting(
    "LEGAL_REGISTRATION",
    "",
    _text(200),
    "Registration numbers as they should read: 'KRS 0000123456, REGON 123456789'. Empty: none.",
)
LEGAL_TERMS_URL = Setting(
    "LEGAL_TERMS_URL",
    "",
    parse_link,
    "The shop's terms and conditions. Empty: the CMS page the shop uses as its terms (PS_CONDITIONS_CMS_ID).",
)
LEGAL_RETURNS_URL = Setting(
    "LEGAL_RETURNS_URL", "", parse_link, "The returns and complaints policy. Empty: no link."
)
LEGAL_PRIVACY_URL = Setting("LEGAL_PRIVACY_URL", "", parse_link, "The privacy policy. Empty: no link.")

# The shop's own configuration values behind the defaults.
BRANDING_KEYS: Final = ("PS_LOGO_MAIL", "PS_LOGO", "PS_CONDITIONS_CMS_ID")
BRANDING_SETTINGS: Final = (
    LOGO_URL,
    ACCENT_COLOR,
    FOOTER_TEXT,
    LEGAL_COMPANY,
    LEGAL_ADDRESS,
    LEGAL_TAX_ID,
    LEGAL_REGISTRATION,
    LEGAL_TERMS_URL,
    LEGAL_RETURNS_URL,
    LEGAL_PRIVACY_URL,
)
_LEGAL_ROWS: Final = dict(
    zip(
        LEGAL_FIELDS,
        (
            LEGAL_COMPANY,
            LEGAL_ADDRESS,
            LEGAL_TAX_ID,
            LEGAL_REGISTRATION,
            LEGAL_TERMS_URL,
            LEGAL_RETURNS_URL,
            LEGAL_PRIVACY_URL,
        ),
        strict=True,
    )
)


@dataclass(frozen=True)
class Branding:
    """The owner's branding and legal settings as given ("" = the shop's own, or none)."""

    logo_url: str = ""
    accent_color: str = DEFAULT_ACCENT
    footer_text: str = ""
    legal: dict[str, str] = field(default_factory=dict)  # LEGAL_FIELDS name → value, only those set

    def describe(self, shop: Mapping[str, str | None] | None = None) -> list[str]:
        """What `bridge check` shows: each choice, and which of the shop's own values fill the defaults
        (`shop`: its BRANDING_KEYS configuration values, when it was reached)."""
        given = shop or {}
        shop_logo = given.get("PS_LOGO_MAIL") or given.get("PS_LOGO") or ""
        logo = self.logo_url or (
            f"the shop's {'mail ' if given.get('PS_LOGO_MAIL') else ''}logo ({shop_logo})"
            if shop_logo
            else "the shop's mail logo (PS_LOGO_MAIL), else its logo (PS_LOGO)"
            if shop is None
            else "none: the shop's name (set LOGO_URL, or a mail logo in Design > Theme & Logo)"
        )
        lines = [f"logo: {logo}", f"accent colour: {self.accent_color}"]
        if self.footer_text:
            lines.append(f"footer text: {self.footer_text}")
        named = [row.name for key, row in _LEGAL_ROWS.items() if self.legal.get(key)]
        lines.append(f"legal footer: {', '.join(named) if named else 'not set (the LEGAL_* settings)'}")
        if not self.legal.get("terms_url"):
            page = (given.get("PS_CONDITIONS_CMS_ID") or "").strip()
            lines.append(
                f"terms link: the shop's terms page (CMS page {page})"
                if page.isdigit() and page != "0"
                else "terms link: none (set LEGAL_TERMS_URL)"
                if shop is not None
                else "terms link: the shop's terms page (PS_CONDITIONS_CMS_ID), when it has one"
            )
        return lines


class BrandingFields(TypedDict):
    logo_url: str
    accent_color: str
    footer_text: str
    legal_company: str
    legal_address: str
    legal_tax_id: str
    legal_registration: str
    legal_terms_url: str
    legal_returns_url: str
    legal_privacy_url: str


def branding_fields(reader: Reader) -> BrandingFields:
    """Asked once there is no problem: one flat field per setting, as every group has."""
    return BrandingFields(
        logo_url=reader.read(LOGO_URL) or "",
        accent_color=reader.value(ACCENT_COLOR),
        footer_text=reader.read(FOOTER_TEXT) or "",
        legal_company=reader.read(LEGAL_COMPANY) or "",
        legal_address=reader.read(LEGAL_ADDRESS) or "",
        legal_tax_id=reader.read(LEGAL_TAX_ID) or "",
        legal_registration=reader.read(LEGAL_REGISTRATION) or "",
        legal_terms_url=reader.read(LEGAL_TERMS_URL) or "",
        legal_returns_url=reader.read(LEGAL_RETURNS_URL) or "",
        legal_privacy_url=reader.read(LEGAL_PRIVACY_URL) or "",
    )


def branding_of(fields: Mapping[str, str]) -> Branding:
    """The settings' flat `BrandingFields` as one Branding (legal: only the fields set)."""
    legal = {key: value for key in LEGAL_FIELDS if (value := fields.get(f"legal_{key}", ""))}
    return Branding(
        logo_url=fields.get("logo_url", ""),
        accent_color=fields.get("accent_color", DEFAULT_ACCENT),
        footer_text=fields.get("footer_text", ""),
        legal=legal,
    )
