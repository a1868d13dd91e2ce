"""`bridge check`: can the bridge read this shop, send through its SMTP server, and will customers get each
email exactly once?

Everything here only reads. The result is a list of findings the CLI prints; problems that stop the
bridge from working are raised as BridgeErrors (so they get the right exit code), the rest are warnings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from bridge.config import Settings, format_duration
from bridge.config.branding import BRANDING_KEYS
from bridge.delivery.invoices import probe as probe_invoices
from bridge.delivery.smtp import LoginReport
from bridge.delivery.transports import smtp_transport
from bridge.errors import ShopPermissionError
from bridge.model.profile import state_kinds
from bridge.model.records import Currency, Language, OrderState
from bridge.shop.client import ShopClient
from bridge.shop.cms import RESOURCE as CMS
from bridge.shop.query import Query

# What the bridge reads, and why (the owner sees the reason when a permission is missing).
REQUIRED_RESOURCES: Final[Mapping[str, str]] = {
    "orders": "new orders and their totals",
    "order_histories": "order status changes",
    "order_states": "what each status means",
    "order_payments": "payment confirmations",
    "order_carriers": "tracking numbers",
    "customers": "who to write to, in which language",
    "addresses": "delivery and invoice addresses",
    "countries": "country names in addresses",
    "currencies": "prices in the order's currency",
    "languages": "the customer's language",
    "carriers": "carrier names and tracking links",
    "configurations": "the shop's name, email and timezone",
}
OPTIONAL_RESOURCES: Final[Mapping[str, str]] = {
    "products": "product links and images in emails",
    "carts": "abandoned-cart reminders",
    "order_slip": "refund emails",
    "customer_threads": "the owner's alerts (OWNER_EMAIL): checkout comments and customers' messages",
    "customer_messages": "the owner's alerts (OWNER_EMAIL): checkout comments and customers' messages",
    "stock_availables": "the owner's low-stock alert (low_stock in OWNER_ALERTS)",
}
# A key that may write these can re-send PrestaShop's own mails: a PUT on an order makes PrestaShop
# send its status mail again (PrestaShop issue #20623), a POST on order_histories changes the state.
WRITE_SENSITIVE: Final = ("orders", "order_histories")
WRITE_METHODS: Final = frozenset({"PUT", "POST", "PATCH", "DELETE"})
# Personal single-use codes (campaigns, birthday, win-back) are cart rules the bridge creates: `bridge check`
# says whether the key allows it, and `bridge campaign send --yes` refuses with this line when it does not.
PERSONAL_CODES_REFUSED: Final = (
    "personal codes need a key that may create discount codes: Advanced Parameters → Webservice → edit the"
    " key → tick POST for cart_rules (the only write the bridge makes), or use a shared code"
)
# PS_MAIL_METHOD (PrestaShop's MailOption): how the shop sends its own emails; 3 is "Never send emails".
MAIL_METHODS: Final[Mapping[str, str]] = {
    "1": "sendmail or PHP mail()",
    "2": "its own SMTP settings",
    "3": "Never send emails",
}
NEVER_SEND: Final = "3"

WHERE_TO_TICK = "Advanced Parameters → Webservice → edit the key → tick GET for"


@dataclass(frozen=True)
class Finding:
    level: Literal["info", "warning"]
    text: str


@dataclass
class ShopReport:
    """What `bridge check` learned about the shop."""

    base_url: str
    version: str | None
    url_form: str | None
    timezone: str
    languages: list[str] = field(default_factory=list)
    currencies: list[str] = field(default_factory=list)
    readable: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    marketing: str = ""  # one line on cart reminders and review requests, when the settings were given
    own_mail: str = ""  # one line: which customer emails PrestaShop sends itself, which the bridge sends
    branding: list[str] = field(default_factory=list)  # logo, colour, legal footer (bridge.config.branding)
    invoices: str = ""  # INVOICE_ATTACH=yes: whether an invoice PDF could be fetched

    @property
    def warnings(self) -> list[str]:
        return [f.text for f in self.findings if f.level == "warning"]


def check_shop(client: ShopClient, settings: Settings | None = None) -> ShopReport:
    """Reach the shop, read what the bridge needs, and say what would stop or surprise it.

    Raises ShopAuthError / ShopPermissionError / ShopUnreachable / … for what stops the bridge.
    """
    permissions = client.permissions()
    _require_reading(permissions)
    findings = _permission_findings(permissions)

    marketing = ""
    if settings is not None:
        marketing, extra = _marketing(settings, permissions)
        findings += extra + _terms_findings(client, settings, permissions)

    timezone = client.shop_timezone()
    languages = client.languages()
    currencies = client.currencies()
    config = client.configuration(
        ["PS_LANG_DEFAULT", "PS_CURRENCY_DEFAULT", "PS_MAIL_METHOD", "PS_OS_DELIVERED", *BRANDING_KEYS]
    )
    mail = _own_mail(client, config, settings.status_emails if settings is not None else {})
    findings += mail.findings
    invoices = probe_invoices(settings, client) if settings is not None and settings.invoice_attach else None
    if invoices is not None and not invoices.ok:
        findings.append(Finding("warning", invoices.text))

    return ShopReport(
        marketing=marketing,
        own_mail=mail.line,
        invoices=invoices.line if invoices is not None else "",
        branding=settings.branding.describe(config) if settings is not None else [],
        base_url=client.base_url,
        version=client.version,
        url_form=client.url_form,
        timezone=timezone.key,
        languages=_language_lines(languages, config["PS_LANG_DEFAULT"]),
        currencies=_currency_lines(currencies, config["PS_CURRENCY_DEFAULT"]),
        readable=sorted(name for name, methods in permissions.items() if "GET" in methods),
        findings=findings,
    )


def _require_reading(permissions: Mapping[str, set[str]]) -> None:
    """Raise ShopPermissionError, naming each box to tick, when the key cannot read what the bridge needs."""
    missing = [name for name in REQUIRED_RESOURCES if "GET" not in permissions.get(name, set())]
    if missing:
        reasons = "; ".join(f"{name} ({REQUIRED_RESOURCES[name]})" for name in missing)
        raise ShopPermissionError(
            f"the API key may not read {len(missing)} resource(s) the bridge needs: {reasons}. "
            f"In the back office: {WHERE_TO_TICK} {', '.join(missing)}",
            resource=missing[0],
        )


def _permission_findings(permissions: Mapping[str, set[str]]) -> list[Finding]:
    """Optional resources the key may not read, and writes it should not be allowed."""
    findings: list[Finding] = []
    for name, why in OPTIONAL_RESOURCES.items():
        if "GET" not in permissions.get(name, set()):
            findings.append(
                Finding("warning", f"the key may not read {name}, needed for {why}: {WHERE_TO_TICK} {name}")
            )
    for name in WRITE_SENSITIVE:
        writes = sorted(permissions.get(name, set()) & WRITE_METHODS)
        if writes:
            findings.append(
                Finding(
                    "warning",
                    f"the key may also {'/'.join(writes)} {name}: the bridge only reads, and a write to an "
                    "order makes PrestaShop send its own status mail again. Untick everything but GET.",
                )
            )
    return findings


def _terms_findings(
    client: ShopClient, settings: Settings, permissions: Mapping[str, set[str]]
) -> list[Finding]:
    """With TERMS_PAGES set: the key must read content_management_system, and each page must exist."""
    if not settings.terms_pages:
        return []
    if "GET" not in permissions.get(CMS, set()):
        why = f"the key may not read {CMS}, needed for the terms watch (TERMS_PAGES)"
        return [Finding("warning", f"{why}: {WHERE_TO_TICK} {CMS}")]
    rows = client.get_by_ids(CMS, [i for _, i in settings.terms_pages], query=Query(display=("id",)))
    found = {int(row.get("id", 0)) for row in rows}
    return [
        Finding("warning", f"TERMS_PAGES names {name}:{page_id}, but the shop has no CMS page {page_id}")
        for name, page_id in settings.terms_pages
        if page_id not in found
    ]


@dataclass(frozen=True)
class OwnMail:
    """Who sends which customer email: PrestaShop itself, the bridge, or both (then customers get two)."""

    line: str
    findings: list[Finding]


def _own_mail(
    client: ShopClient, config: Mapping[str, str | None], overrides: Mapping[int, str | None]
) -> OwnMail:
    """Read PS_MAIL_METHOD and the statuses. Whatever the statuses say, PaymentModule::validateOrder sends
    PrestaShop's order confirmation (`order_conf`) unless the shop never sends mail (PS_MAIL_METHOD=3), so
    with any other method the order confirmation is a duplicate even when every status is unticked."""
    method = config.get("PS_MAIL_METHOD") or "1"
    delivered = config.get("PS_OS_DELIVERED") or ""
    states = [state for state in client.order_states() if not state.deleted]
    kinds = state_kinds(
        {state.id: state for state in states},
        delivered_state_id=int(delivered) if delivered.isdigit() else None,
        overrides=overrides,
    )
    covered = [state for state in states if kinds.get(state.id)]
    bridge = f"the bridge sends the order confirmation and the emails of {_states(covered)}"
    if method == NEVER_SEND:
        line = (
            f"PrestaShop sends none itself (Never send emails); {bridge}; PrestaShop's password-reset, "
            "account, contact-form and other emails are not sent (the guide lists them)"
        )
        return OwnMail(line, [])
    # A status sends PrestaShop's email when its box is ticked and it names a template.
    ticked = [state for state in states if state.send_email and state.template.get(None).strip()]
    twice = [state for state in ticked if kinds.get(state.id)]
    alone = [state for state in ticked if not kinds.get(state.id)]
    line = "PrestaShop sends its own too: the order confirmation always"
    if ticked:
        line += f", and the emails of {_states(ticked)}"
    if alone:
        line += f"; only PrestaShop sends those of {_states(alone)}"
    also = f", and two emails for {_states(twice)} ('Send an email to the customer' ticked)" if twice else ""
    how = MAIL_METHODS.get(method, "unknown")
    warning = (
        f"the shop still sends its own emails (PS_MAIL_METHOD={method}: {how}): PrestaShop sends its order "
        "confirmation whatever the statuses say, so when that mail works customers get two order "
        f"confirmations{also}. Choose Advanced Parameters → E-mail → 'Never send emails' (the guide lists "
        "what that also stops)"
    )
    return OwnMail(f"{line}; {bridge}", [Finding("warning", warning)])


def _states(states: list[OrderState]) -> str:
    """`3 statuses (Shipped, Delivered, Canceled)`, the names cut after six."""
    if not states:
        return "no status"
    names = ", ".join(state.name.get(None) for state in states[:6])
    more = f" and {len(states) - 6} more" if len(states) > 6 else ""
    return f"{len(states)} status{'es' if len(states) > 1 else ''} ({names}{more})"


def _language_lines(languages: list[Language], default_id: str | None) -> list[str]:
    return [
        f"{lang.iso_code} ({lang.name}{', default' if str(lang.id) == default_id else ''})"
        for lang in languages
        if lang.active
    ]


def _currency_lines(currencies: list[Currency], default_id: str | None) -> list[str]:
    return [
        f"{cur.iso_code}{' (default)' if str(cur.id) == default_id else ''}"
        for cur in currencies
        if cur.active and not cur.deleted
    ]


# A personal Gmail account may send to about 500 recipients a day (docs/email-facts.md §3.1).
CONSUMER_GMAIL_DOMAINS: Final = ("gmail.com", "googlemail.com")
CONSUMER_GMAIL_DAILY: Final = 500


@dataclass
class SmtpReport:
    """What `bridge check` learned about the SMTP server: `login` is None when mail goes to files."""

    login: LoginReport | None
    findings: list[Finding] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        return [f.text for f in self.findings if f.level == "warning"]

    def __str__(self) -> str:
        return str(self.login) if self.login is not None else "SMTP: not used (MAIL_TRANSPORT=file)"


def check_smtp(settings: Settings) -> SmtpReport:
    """Connect, verify TLS and log in to the configured SMTP server without sending anything.

    Raises DeliveryError with the owner-facing explanation (`permanent` for refused credentials and TLS
    problems). A MAIL_FROM that Gmail would rewrite is already among `settings.warnings`.
    """
    if settings.mail_transport != "smtp":
        return SmtpReport(
            None, [Finding("info", "MAIL_TRANSPORT=file: emails are written to files, not sent")]
        )
    login = smtp_transport(settings).login_check()
    findings = smtp_findings(settings)
    if login.tls_version is None:
        findings.append(Finding("info", "the connection to the SMTP server is not encrypted (a local relay)"))
    return SmtpReport(login, findings)


def smtp_findings(settings: Settings) -> list[Finding]:
    """What the settings alone say about sending (no connection needed)."""
    findings: list[Finding] = []
    username = (settings.smtp_username or "").lower()
    if (
        settings.smtp_is_gmail
        and username.endswith(tuple(f"@{domain}" for domain in CONSUMER_GMAIL_DOMAINS))
        and settings.daily_send_limit > CONSUMER_GMAIL_DAILY
    ):
        findings.append(
            Finding(
                "warning",
                f"DAILY_SEND_LIMIT is {settings.daily_send_limit}, but a personal Gmail account may send to "
                f"about {CONSUMER_GMAIL_DAILY} recipients a day; above that Gmail stops the account for "
                "up to 24 hours. Keep it at 400 or lower",
            )
        )
    return findings


def _marketing(settings: Settings, permissions: Mapping[str, set[str]]) -> tuple[str, list[Finding]]:
    """What the owner's marketing settings will do with this key, and what stands in their way."""
    if not settings.marketing_enabled:
        return "off (set UNSUBSCRIBE_URL for cart reminders and review requests)", []
    findings: list[Finding] = []
    steps = [format_duration(d) for d in settings.cart_reminders if d is not None]
    parts = [f"cart reminders after {', '.join(steps)}" if steps else "no cart reminders"]
    if settings.review_request_days:
        parts.append(f"review requests {settings.review_request_days} days after delivery")
    if settings.birthday_emails:
        parts.append(f"birthday greetings from {settings.birthday_hour}:00")
    if settings.winback_after_days:
        parts.append(f"win-back {settings.winback_after_days} days after a customer's last order")
    creates = "POST" in permissions.get("cart_rules", set())
    parts.append(
        "personal codes (campaigns, birthday, win-back): "
        + ("the key may create them" if creates else PERSONAL_CODES_REFUSED)
    )
    host, port = settings.unsubscribe_listen
    line = (
        "; ".join(parts)
        + f"; unsubscribe at {settings.unsubscribe_url}, which must reach `bridge run` on {host}:{port}"
        " (a bridge-sync timer alone serves no endpoint)"
    )
    if settings.cart_discount == "unique" and "POST" not in permissions.get("cart_rules", set()):
        findings.append(
            Finding(
                "warning",
                "CART_DISCOUNT=unique, but the key may not create discount codes: Advanced Parameters →"
                " Webservice → edit the key → tick POST for cart_rules (the only write the bridge makes),"
                " or reminders go without a code",
            )
        )
    return line, findings
