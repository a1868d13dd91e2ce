"""Customer-service emails: which are sent (a refund's credit slip, the shop's reply to a message, the
acknowledgement of a new message), what the refund email says about the money's way back, and the reply
time the acknowledgement states. Every one is on by default: with PrestaShop's own mail off, nobody else
tells the customer.
"""

from __future__ import annotations

from typing import Final, TypedDict

from bridge.config.parse import Invalid, parse_int, parse_str
from bridge.config.reader import Reader, Setting

CREDIT_SLIP: Final = "credit_slip"
MESSAGE_REPLY: Final = "message_reply"
MESSAGE_RECEIVED: Final = "message_received"
SERVICE_NAMES: Final = (CREDIT_SLIP, MESSAGE_REPLY, MESSAGE_RECEIVED)


def parse_service_names(raw: str) -> frozenset[str]:
    names = {part.strip().lower() for part in parse_str(raw).split(",") if part.strip()}
    if names == {"none"}:
        return frozenset()
    unknown = sorted(names - set(SERVICE_NAMES))
    if unknown:
        raise Invalid(f"{', '.join(unknown)} is not a service email; choose from {', '.join(SERVICE_NAMES)}")
    return frozenset(names)


def parse_note(raw: str) -> str:
    text = " ".join(parse_str(raw).split())
    if len(text) > 500:
        raise Invalid("must be one sentence or two (at most 500 characters)")
    return text


SERVICE_EMAILS = Setting(
    "SERVICE_EMAILS",
    ",".join(SERVICE_NAMES),
    parse_service_names,
    "Which customer-service emails are sent: credit_slip, message_reply, message_received; none for none.",
)
REFUND_DAYS = Setting(
    "REFUND_DAYS",
    "14",
    parse_int(0, 365),
    "The refund email says the money arrives within this many days (0: no promise).",
)
REFUND_NOTE = Setting(
    "REFUND_NOTE",
    "",
    parse_note,
    "Your own sentence on how the money comes back, shown in refund emails instead of the bridge's"
    " (which follows the payment method). Empty: the bridge's.",
)
REPLY_TIME_HOURS = Setting(
    "REPLY_TIME_HOURS",
    "24",
    parse_int(0, 720),
    "The acknowledgement of a customer's message says you answer within this many hours (0: no promise).",
)


def parse_terms_pages(raw: str) -> tuple[tuple[str, int], ...]:
    """`terms:3,privacy:2`: what each page is, and its CMS id; "" (or none): no page is watched."""
    text = parse_str(raw).strip()
    if text.lower() in ("", "none"):
        return ()
    pages: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, _, page_id = part.partition(":")
        name = name.strip().lower()
        if not name.replace("_", "").isalnum() or not name.isascii() or len(name) > 30:
            raise Invalid(f"{part!r}: write each page as name:id, e.g. terms:3,privacy:2")
        if not page_id.strip().isdigit() or not 0 < int(page_id) < 10**9:
            raise Invalid(f"{part!r}: the CMS page id must be a number (Design > Pages in the back office)")
        if name in pages or int(page_id) in pages.values():
            raise Invalid(f"{part!r}: each name and each page once")
        pages[name] = int(page_id)
    return tuple(pages.items())


TERMS_PAGES = Setting(
    "TERMS_PAGES",
    "",
    parse_terms_pages,
    "The CMS pages that hold your terms, as name:id (e.g. terms:3,privacy:2,returns:7); when one's text"
    " changes, ADMIN_EMAIL is told and `bridge notify-terms` can notify the customers. Empty: not watched.",
)
SERVICE_MAIL_SETTINGS: Final = (SERVICE_EMAILS, REFUND_DAYS, REFUND_NOTE, REPLY_TIME_HOURS, TERMS_PAGES)


class ServiceMailFields(TypedDict):
    service_emails: frozenset[str]
    refund_days: int
    refund_note: str
    reply_time_hours: int
    terms_pages: tuple[tuple[str, int], ...]


def service_mail_fields(reader: Reader) -> ServiceMailFields:
    """Asked once there is no problem."""
    emails = reader.read(SERVICE_EMAILS)
    return ServiceMailFields(
        service_emails=frozenset(SERVICE_NAMES) if emails is None else emails,
        refund_days=reader.value(REFUND_DAYS),
        refund_note=reader.read(REFUND_NOTE) or "",
        reply_time_hours=reader.value(REPLY_TIME_HOURS),
        terms_pages=reader.read(TERMS_PAGES) or (),
    )
