"""The wizard's steps, each checked at once with `bridge check`'s own checks.

Each step has a check that takes the values gathered so far and raises the same BridgeError, with the same
one-line message, that `bridge check` or `bridge test-email` would; the interactive form shows that line and
asks the step again (the answers given stay as defaults), the non-interactive form stops on it.

Only the values the wizard gathered are used (plus PRESTASHOP_RETRIES=0: the owner is there to retry);
nothing is read from another `.env`, so an old file cannot change what is checked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from email.headerregistry import Address
from typing import Final

from bridge.app import open_shop
from bridge.commands.check import REQUIRED_RESOURCES, ShopReport, SmtpReport, check_shop, check_smtp
from bridge.commands.init.prompts import Asker, Retry
from bridge.commands.init.texts import APP_PASSWORDS_URL, SECURITY_URL, text
from bridge.commands.testmail import EmailTestReport, send_test_email
from bridge.config import GMAIL_HOSTS, Settings
from bridge.cycle.belongs import store_warning
from bridge.delivery.identity import identity_for_test
from bridge.errors import BridgeError, StoreError
from bridge.shop.client import ShopClient

# Set before the SMTP account is known: the shop's check needs a sender to build settings, sends nothing.
STAND_IN_SENDER: Final = "bridge-init@example.com"
TEMPLATE_LANGUAGES: Final = ("pl", "en")
GMAIL_DEFAULT: Final = "smtp.gmail.com"


def settings_for(values: Mapping[str, str], **extra: str) -> Settings:
    """Settings from the wizard's values alone; ConfigError names each setting that is wrong."""
    return Settings.from_mapping({**values, "PRESTASHOP_RETRIES": "0", **extra})


# --- step 1: the shop -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShopFacts:
    """What `bridge check` says about the shop, and what the wizard's defaults come from."""

    report: ShopReport
    name: str | None
    default_language: str | None  # `pl` or `en` when that is the shop's default language
    foreign_store: str | None  # the state folder belongs to another shop (check's warning)


def read_shop(values: Mapping[str, str]) -> ShopFacts:
    """`bridge check`'s shop checks (reachability, the key's permissions, PrestaShop's own mail), then the
    shop's name and default language. Raises ConfigError / ShopError as `bridge check` does."""
    settings = settings_for(values, MAIL_TRANSPORT="file", MAIL_FROM=STAND_IN_SENDER)
    with open_shop(settings) as client:
        report = check_shop(client, settings)
        foreign = _store_warning(client, settings)
        config = client.configuration(["PS_SHOP_NAME", "PS_LANG_DEFAULT"])
        languages = {str(language.id): language.iso_code.lower() for language in client.languages()}
    default = languages.get(config.get("PS_LANG_DEFAULT") or "")
    name = (config.get("PS_SHOP_NAME") or "").strip() or None
    return ShopFacts(report, name, default if default in TEMPLATE_LANGUAGES else None, foreign)


def _store_warning(client: ShopClient, settings: Settings) -> str | None:
    """`bridge check`'s warning about a state store of another shop; None when the folder cannot be read
    (the wizard run as another user than the bridge, as in a container): it is a warning, not a step."""
    try:
        return store_warning(client, settings)
    except (OSError, StoreError):
        return None


def shop_step(ask: Asker, values: MutableMapping[str, str]) -> ShopFacts:
    """Ask the shop's address and key until `bridge check`'s shop checks pass."""
    ask.say("shop_heading")
    first = True
    while True:
        url = ask.line("shop_url", default=values.get("PRESTASHOP_URL"))
        if first:
            ask.say("key_help")
            first = False
        key = ask.secret("shop_key", previous=values.get("PRESTASHOP_API_KEY"))
        values.update(PRESTASHOP_URL=url, PRESTASHOP_API_KEY=key)
        ask.say("checking_shop")
        try:
            facts = read_shop(values)
        except BridgeError as error:
            refused(ask, error)
            continue
        show_shop(ask, facts)
        return facts


def show_shop(ask: Asker, facts: ShopFacts) -> None:
    report = facts.report
    version = report.version or text(ask.language, "version_unknown")
    ask.say("shop_ok", url=report.base_url, version=version, zone=report.timezone)
    ask.say("shop_languages", languages=", ".join(report.languages), currencies=", ".join(report.currencies))
    ask.say("shop_reads", count=len(REQUIRED_RESOURCES))
    if report.own_mail:
        ask.say("shop_mail", line=report.own_mail)
    for warning in [*report.warnings, *([facts.foreign_store] if facts.foreign_store else [])]:
        ask.say("warning", text=warning)


# --- step 2: the account that sends ---------------------------------------------------------------------


def parse_server(answer: str) -> tuple[str, str, str]:
    """`host` or `host:port` → (host, port, security): 465 is implicit TLS, anything else STARTTLS."""
    host, _, port = answer.strip().partition(":")
    if not port:
        port = "587"
    if (
        not host
        or not re.fullmatch(r"[A-Za-z0-9.-]+", host)
        or not port.isdigit()
        or not 0 < int(port) < 65536
    ):
        raise Retry(text("en", "bad_server"))
    return host.lower(), port, "ssl" if port == "465" else "starttls"


def sender(shop_name: str | None, username: str) -> str | None:
    """`Shop name <account@gmail.com>`: the name customers see, on the account's own address."""
    if "@" not in username:
        return None
    name = re.sub(r"[\x00-\x1f\x7f\"\\]", "", shop_name or "").strip()
    return str(Address(display_name=name, addr_spec=username)) if name else username


def check_account(values: Mapping[str, str]) -> tuple[Settings, SmtpReport]:
    """`bridge check`'s SMTP check: connect, verify TLS and log in, sending nothing."""
    settings = settings_for(values)
    return settings, check_smtp(settings)


def smtp_step(ask: Asker, values: MutableMapping[str, str], shop_name: str | None) -> Settings:
    """Ask the sending account until the server accepts its login; the settings that logged in."""
    ask.say("smtp_heading")
    told_gmail = False
    while True:
        username = ask.line("smtp_username", default=values.get("SMTP_USERNAME"))
        server = ask.line("smtp_server", default=server_text(values), check=lambda a: parse_server_in(ask, a))
        host, port, security = parse_server(server)
        gmail = host in GMAIL_HOSTS
        if gmail and not told_gmail:
            ask.say("gmail_steps", security=SECURITY_URL, apppasswords=APP_PASSWORDS_URL)
            told_gmail = True
        password = ask.secret(
            "gmail_password" if gmail else "smtp_password", previous=values.get("SMTP_PASSWORD")
        )
        values.update(SMTP_HOST=host, SMTP_PORT=port, SMTP_SECURITY=security)
        values.update(SMTP_USERNAME=username, SMTP_PASSWORD=password)
        values.pop("MAIL_FROM", None)
        if (address := sender(shop_name, username)) is not None:
            values["MAIL_FROM"] = address
        ask.say("checking_smtp", server=f"{host}:{port}")
        try:
            settings, report = check_account(values)
        except BridgeError as error:
            refused(ask, error)
            continue
        ask.say("smtp_ok", report=report)
        for warning in [*settings.warnings, *report.warnings]:
            ask.say("warning", text=warning)
        return settings


def parse_server_in(ask: Asker, answer: str) -> None:
    """parse_server, its refusal in the owner's language."""
    try:
        parse_server(answer)
    except Retry:
        raise Retry(text(ask.language, "bad_server")) from None


def server_text(values: Mapping[str, str]) -> str:
    host = values.get("SMTP_HOST", GMAIL_DEFAULT)
    port = values.get("SMTP_PORT", "587")
    return host if port == "587" else f"{host}:{port}"


# --- step 3: the test email -----------------------------------------------------------------------------


def send_test(settings: Settings, to: str) -> EmailTestReport:
    """`bridge test-email`'s own email (the shop's name and branding, never an order), through the account
    that just logged in."""
    return send_test_email(settings, to, identity=identity_for_test(settings))


def test_email_step(ask: Asker, values: MutableMapping[str, str], settings: Settings) -> EmailTestReport:
    """Ask where the test email goes until the server takes it; that address gets the owner's alerts."""
    ask.say("test_heading")
    while True:
        to = ask.line("test_to", default=values.get("ADMIN_EMAIL") or values.get("SMTP_USERNAME"))
        ask.say("sending_test")
        try:
            report = send_test(settings, to)
        except BridgeError as error:
            refused(ask, error)
            continue
        values["ADMIN_EMAIL"] = report.to
        ask.say("test_sent", to=report.to)
        return report


def refused(ask: Asker, error: BridgeError) -> None:
    """The check's own one-line message (as `bridge check` prints it), then an invitation to correct it."""
    ask.say("problem", message=str(error))
    ask.say("again")
