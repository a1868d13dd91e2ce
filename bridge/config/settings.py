"""The settings table and `Settings`: every group parsed from one mapping, checked, then frozen.

`SETTINGS` lists every row in the order of `config.example.env`; problems are listed in that order too,
then the problems of the checks across settings. Each group (shop, sending, identity, state, service,
emails, marketing) lives in its own module with its rows, its checks and the fields it gives `Settings`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from email.headerregistry import Address
from pathlib import Path
from typing import Final, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from bridge.config.automations import AUTOMATION_SETTINGS, automation_fields, check_automations
from bridge.config.branding import BRANDING_SETTINGS, Branding, BrandingFields, branding_fields, branding_of
from bridge.config.emails import (
    BANK_ACCOUNT_NUMBER,
    BANK_ACCOUNT_OWNER,
    BANK_ADDRESS,
    BANK_BIC,
    BANK_NAME,
    DEFAULT_LANGUAGE,
    MAX_EMAIL_AGE,
    PRODUCT_IMAGES,
    STATUS_EMAILS,
    TEMPLATES_DIR,
    emails_fields,
)
from bridge.config.identity import MAIL_FROM, MAIL_REPLY_TO, SMTP_HELO_NAME, identity_fields, settle_sender
from bridge.config.invoices import INVOICE_SETTINGS, invoice_fields
from bridge.config.mailbox import MAILBOX_SETTINGS, Mailbox, mailbox_of, settle_mailbox
from bridge.config.marketing import MARKETING_SETTINGS, check_marketing, marketing_fields
from bridge.config.news import NEWS_SETTINGS, check_news, news_fields
from bridge.config.owner import OWNER_SETTINGS, owner_fields
from bridge.config.reader import Reader, Setting, masked
from bridge.config.sending import (
    DAILY_SEND_LIMIT,
    GMAIL_HOSTS,
    MAIL_TRANSPORT,
    SEND_RATE_PER_MINUTE,
    SMTP_CA_FILE,
    SMTP_HOST,
    SMTP_LOGIN_RETRY,
    SMTP_PASSWORD,
    SMTP_PORT,
    SMTP_SECURITY,
    SMTP_TIMEOUT,
    SMTP_USERNAME,
    UNKNOWN_POLICY,
    MailTransport,
    SmtpSecurity,
    check_budget,
    sending_fields,
    settle_server,
)
from bridge.config.service import ADMIN_EMAIL, ALERT_AFTER, LOG_LEVEL, POLL_INTERVAL, service_fields
from bridge.config.service_mail import SERVICE_MAIL_SETTINGS, service_mail_fields
from bridge.config.shop import (
    PRESTASHOP_API_KEY,
    PRESTASHOP_DEADLINE,
    PRESTASHOP_MAX_BODY,
    PRESTASHOP_RETRIES,
    PRESTASHOP_TIMEOUT,
    PRESTASHOP_URL,
    SHOP_TIMEZONE,
    check_shop,
    no_shop,
    shop_fields,
)
from bridge.config.state import DATABASE_URL, MAIL_FILE_DIR, RETENTION_DAYS, STATE_DIR, state_fields
from bridge.errors import ConfigError
from bridge.model.automations import Discount
from bridge.model.identity import DEFAULT_ACCENT
from bridge.secret import Secret

SETTINGS: Final[tuple[Setting[object], ...]] = (
    PRESTASHOP_URL,
    PRESTASHOP_API_KEY,
    PRESTASHOP_TIMEOUT,
    PRESTASHOP_RETRIES,
    PRESTASHOP_DEADLINE,
    PRESTASHOP_MAX_BODY,
    SHOP_TIMEZONE,
    SMTP_HOST,
    SMTP_PORT,
    SMTP_SECURITY,
    SMTP_USERNAME,
    SMTP_PASSWORD,
    SMTP_TIMEOUT,
    SMTP_HELO_NAME,
    SMTP_CA_FILE,
    SMTP_LOGIN_RETRY,
    *MAILBOX_SETTINGS,
    MAIL_TRANSPORT,
    MAIL_FILE_DIR,
    MAIL_FROM,
    MAIL_REPLY_TO,
    ADMIN_EMAIL,
    ALERT_AFTER,
    PRODUCT_IMAGES,
    STATE_DIR,
    DATABASE_URL,
    RETENTION_DAYS,
    POLL_INTERVAL,
    LOG_LEVEL,
    DEFAULT_LANGUAGE,
    TEMPLATES_DIR,
    DAILY_SEND_LIMIT,
    SEND_RATE_PER_MINUTE,
    STATUS_EMAILS,
    UNKNOWN_POLICY,
    MAX_EMAIL_AGE,
    BANK_ACCOUNT_OWNER,
    BANK_ACCOUNT_NUMBER,
    BANK_NAME,
    BANK_BIC,
    BANK_ADDRESS,
    *INVOICE_SETTINGS,
    *BRANDING_SETTINGS,
    *MARKETING_SETTINGS,
    *NEWS_SETTINGS,
    *OWNER_SETTINGS,
    *SERVICE_MAIL_SETTINGS,
    *AUTOMATION_SETTINGS,
)


def setting_names() -> frozenset[str]:
    """Every key the bridge reads from the environment, including the `_FILE` forms of secrets."""
    return frozenset([row.name for row in SETTINGS] + [row.file_name for row in SETTINGS if row.secret])


@dataclass(frozen=True, kw_only=True, repr=False)
class Settings:
    """Everything the bridge is configured with; built by `load_settings` (or `from_mapping` in tests)."""

    prestashop_url: str | None  # None: no shop configured (`bridge.app.require_shop` refuses)
    prestashop_api_key: Secret | None
    prestashop_timeout: timedelta
    prestashop_retries: int
    shop_timezone: ZoneInfo | None
    smtp_host: str
    smtp_port: int
    smtp_security: SmtpSecurity
    smtp_username: str | None
    smtp_password: Secret | None
    smtp_timeout: timedelta
    smtp_helo_name: str
    mail_transport: MailTransport
    mail_file_dir: Path
    mail_from: Address
    mail_reply_to: Address | None
    admin_email: Address | None
    state_dir: Path
    database_url: str
    poll_interval: timedelta
    log_level: str
    default_language: str
    templates_dir: Path | None
    daily_send_limit: int
    send_rate_per_minute: int = 20
    prestashop_deadline: timedelta = timedelta(seconds=60)  # one whole exchange with the shop
    prestashop_max_body: int = 32 << 20  # bytes of one answer from the shop
    smtp_ca_file: Path | None = None
    smtp_login_retry: timedelta = timedelta(hours=1)
    status_emails: dict[int, str | None] = dataclasses.field(default_factory=dict)
    max_email_age: timedelta = timedelta(hours=48)  # 0: order emails are never held for their age
    unknown_policy: Literal["hold", "resend"] = "hold"
    retention_days: int = 90  # a finished email's personal details are purged after this many days
    alert_after: timedelta = timedelta(minutes=15)
    product_images: str = "small_default"  # "" = no product images
    bank_account_owner: str = ""
    bank_account_number: str = ""
    bank_name: str = ""
    bank_bic: str = ""
    bank_address: str = ""
    invoice_attach: bool = False  # INVOICE_ATTACH: the invoice PDF on the email at which it appears
    # Branding and the legal footer ("" = the shop's own, or none); `branding` gathers them.
    logo_url: str = ""
    accent_color: str = DEFAULT_ACCENT
    footer_text: str = ""
    legal_company: str = ""
    legal_address: str = ""
    legal_tax_id: str = ""
    legal_registration: str = ""
    legal_terms_url: str = ""
    legal_returns_url: str = ""
    legal_privacy_url: str = ""
    unsubscribe_url: str = ""  # "": marketing mail is off
    unsubscribe_listen: tuple[str, int] = ("127.0.0.1", 8787)
    unsubscribe_exposed: bool = False  # True: UNSUBSCRIBE_LISTEN may face other machines
    unsubscribe_secret: Secret | None = None
    unsubscribe_mailto: Address | None = None
    marketing_consent: frozenset[str] = frozenset({"newsletter", "optin"})
    cart_reminders: tuple[timedelta | None, ...] = tuple(timedelta(hours=h) for h in (1, 24, 72))
    cart_reminder_late_limit: timedelta = timedelta(hours=12)
    cart_reminder_first_to_all: bool = False
    cart_poll_interval: timedelta = timedelta(minutes=5)
    shop_cookie_key: Secret | None = None
    cart_discount: Literal["none", "shared", "unique"] = "none"
    cart_discount_code: str = ""
    cart_discount_percent: Decimal = Decimal(10)
    cart_discount_valid_days: int = 7
    cart_discount_step: int = 2
    review_request_days: int = 14
    review_request_fallback_days: int = 21
    # The new-product digest (bridge.config.news): off by default.
    new_products: Literal["off", "daily", "weekly"] = "off"
    new_products_hour: int = 10  # in the shop's time zone
    new_products_weekday: int = 0  # NEW_PRODUCTS=weekly: 0 = Monday
    new_products_limit: int = 12  # products listed in one email
    owner_email: tuple[Address, ...] = ()  # empty: no business alerts (bridge.config.owner)
    owner_alerts: frozenset[str] = frozenset({"new_order", "customer_message"})
    owner_language: str = ""  # "": the shop's default language
    shop_admin_url: str = ""
    owner_summary_hour: int = 8  # the daily summary's hour, in the shop's time zone
    low_stock_threshold: int | None = None  # None: the shop's PS_LAST_QTIES
    # Customer-service emails (bridge.config.service_mail)
    service_emails: frozenset[str] = frozenset({"credit_slip", "message_reply", "message_received"})
    refund_days: int = 14  # the refund email's promise; 0: none
    refund_note: str = ""  # the owner's sentence on how money comes back; "": the bridge's
    reply_time_hours: int = 24  # the acknowledgement's stated reply time; 0: none
    terms_pages: tuple[tuple[str, int], ...] = ()  # TERMS_PAGES: (name, CMS id) watched for changes
    # Birthday and win-back emails (bridge.config.automations): off by default.
    birthday_emails: bool = False
    birthday_hour: int = 9  # in the shop's time zone
    birthday_discount: Discount | None = None  # None: no personal code
    birthday_discount_days: int = 14
    winback_after_days: int = 0  # 0: no win-back emails
    winback_hour: int = 10  # in the shop's time zone
    winback_discount: Discount | None = None
    winback_discount_days: int = 14
    # The mailbox over IMAP (bridge.config.mailbox), defaults applied: see `mailbox`.
    imap: bool = False
    imap_host: tuple[str, int] | None = None
    imap_username: str | None = None
    imap_password: Secret | None = None
    imap_ca_file: Path | None = None
    imap_settle_after: timedelta = timedelta(minutes=2)
    imap_settle_window: timedelta = timedelta(minutes=30)
    bounce_soft_limit: int = 3  # soft bounces (4.x.x) that suppress an address
    warnings: tuple[str, ...] = ()
    env_file: Path | None = None  # the .env file `load_settings` looked for (absolute), for messages

    @property
    def shop_configured(self) -> bool:
        return self.prestashop_url is not None

    @property
    def marketing_enabled(self) -> bool:
        """Marketing mail needs a working unsubscribe link: without UNSUBSCRIBE_URL none is sent."""
        return bool(self.unsubscribe_url)

    @property
    def branding(self) -> Branding:
        """The logo, colour, footer text and legal footer the emails carry."""
        return branding_of({name: getattr(self, name) for name in BrandingFields.__annotations__})

    @property
    def mailbox(self) -> Mailbox | None:
        """The mailbox the bridge reads (Sent, bounces); None when IMAP is off."""
        return mailbox_of(
            {
                "imap": self.imap,
                "imap_host": self.imap_host,
                "imap_username": self.imap_username,
                "imap_password": self.imap_password,
                "imap_ca_file": self.imap_ca_file,
                "imap_settle_after": self.imap_settle_after,
                "imap_settle_window": self.imap_settle_window,
                "bounce_soft_limit": self.bounce_soft_limit,
            }
        )

    @property
    def smtp_is_gmail(self) -> bool:
        return self.smtp_host in GMAIL_HOSTS

    def secrets(self) -> tuple[Secret, ...]:
        """Every secret value in these settings, for the log filter (`bridge.logs.setup_logging`)."""
        found = [self.prestashop_api_key, self.smtp_password, self.unsubscribe_secret, self.shop_cookie_key]
        if self.imap_password is not None and self.imap_password is not self.smtp_password:
            found.append(self.imap_password)  # by default the very same secret as SMTP's
        password = urlsplit(self.database_url).password
        if password:
            found.append(Secret(password))
        return tuple(secret for secret in found if secret)

    def __repr__(self) -> str:
        shown = []
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            text = masked(value) if item.name == "database_url" else value
            shown.append(f"{item.name}={text!r}")
        return f"Settings({', '.join(shown)})"

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, str]) -> Settings:
        """Parse every setting from an environment-like mapping; one ConfigError lists every problem."""
        reader = Reader(mapping)
        for row in SETTINGS:
            reader.read(row)  # each row once, in table order: its problems are listed in a stable order
        # Then the checks across settings, in the order their problems and warnings are listed.
        check_marketing(reader)
        check_news(reader)
        check_automations(reader)
        check_shop(reader)
        demo = no_shop(reader)  # no shop: mail defaults that reach no one (files, a placeholder sender)
        server = settle_server(reader, demo=demo)
        sender = settle_sender(reader, server, demo=demo)
        check_budget(reader, server)
        mailbox = settle_mailbox(reader, server)
        if reader.problems:
            raise ConfigError([reader.scrub(problem) for problem in reader.problems])
        # Nothing was refused: every row with a default has its value, and the sender is settled.
        return cls(
            **shop_fields(reader),
            **sending_fields(reader, server),
            **identity_fields(reader, sender),
            **state_fields(reader),
            **service_fields(reader),
            **emails_fields(reader),
            **invoice_fields(reader),
            **branding_fields(reader),
            **marketing_fields(reader),
            **news_fields(reader),
            **owner_fields(reader),
            **service_mail_fields(reader),
            **automation_fields(reader),
            **mailbox,
            warnings=tuple(reader.scrub(warning) for warning in reader.warnings),
        )
