"""What the order emails say: their language and templates, product images, which order state sends which
email, how old an order event may be before its email waits for the owner, and the bank details of
bank-transfer emails."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TypedDict

from bridge.config.parse import (
    parse_choice,
    parse_duration,
    parse_existing_directory,
    parse_image_type,
    parse_status_emails,
    parse_str,
)
from bridge.config.reader import Reader, Setting

PRODUCT_IMAGES = Setting(
    "PRODUCT_IMAGES",
    "small_default",
    parse_image_type,
    "The shop's image type shown next to each product in order emails (small_default, home_default, …);"
    " `none` for no images.",
)
DEFAULT_LANGUAGE = Setting(
    "DEFAULT_LANGUAGE", "pl", parse_choice("en", "pl"), "Template language when the customer's has none."
)
TEMPLATES_DIR = Setting(
    "TEMPLATES_DIR",
    "",
    parse_existing_directory,
    "Your own templates, searched before the shipped ones. Empty: only the shipped templates.",
)
STATUS_EMAILS = Setting(
    "STATUS_EMAILS",
    "",
    parse_status_emails,
    "Which email an order state sends, by state id: `12=shipped,15=none`. Empty: follow the shop's states.",
)
MAX_EMAIL_AGE = Setting(
    "MAX_EMAIL_AGE",
    "48h",
    parse_duration(timedelta(0), timedelta(days=365)),
    "An order email whose shop event (the order, its status change, its payment) is older than this is"
    " held, not sent: `bridge status` lists it, `bridge outbox release` sends it. 0: no age limit.",
)
BANK_ACCOUNT_OWNER = Setting(
    "BANK_ACCOUNT_OWNER",
    "",
    parse_str,
    "Bank transfer emails: the account owner. Empty: the wire payment module's.",
)
BANK_ACCOUNT_NUMBER = Setting(
    "BANK_ACCOUNT_NUMBER",
    "",
    parse_str,
    "Bank transfer emails: the account number (IBAN). Empty: the module's.",
)
BANK_NAME = Setting("BANK_NAME", "", parse_str, "Bank transfer emails: the bank's name.")
BANK_BIC = Setting(
    "BANK_BIC", "", parse_str, "Bank transfer emails: the BIC/SWIFT code, for foreign transfers."
)
BANK_ADDRESS = Setting(
    "BANK_ADDRESS", "", parse_str, "Bank transfer emails: the bank's or owner's address. Empty: the module's."
)


class EmailsFields(TypedDict):
    product_images: str  # "" = no product images
    default_language: str
    templates_dir: Path | None
    status_emails: dict[int, str | None]
    max_email_age: timedelta  # 0: off
    bank_account_owner: str
    bank_account_number: str
    bank_name: str
    bank_bic: str
    bank_address: str


def emails_fields(reader: Reader) -> EmailsFields:
    """Asked once there is no problem."""
    return EmailsFields(
        product_images=reader.value(PRODUCT_IMAGES),
        default_language=reader.value(DEFAULT_LANGUAGE),
        templates_dir=reader.read(TEMPLATES_DIR),
        status_emails=reader.read(STATUS_EMAILS) or {},
        max_email_age=reader.value(MAX_EMAIL_AGE),
        bank_account_owner=reader.read(BANK_ACCOUNT_OWNER) or "",
        bank_account_number=reader.read(BANK_ACCOUNT_NUMBER) or "",
        bank_name=reader.read(BANK_NAME) or "",
        bank_bic=reader.read(BANK_BIC) or "",
        bank_address=reader.read(BANK_ADDRESS) or "",
    )
