"""Delivery status notifications (bounces), parsed: pure, bytes in, a `Bounce` (or None) out.

Two forms arrive in a Gmail Inbox:

- RFC 3464: `multipart/report; report-type=delivery-status`, whose `message/delivery-status` part lists
  each recipient (`Final-Recipient`, `Action: failed|delayed`, `Status: 5.1.1`, `Diagnostic-Code`), and
  whose `message/rfc822` or `text/rfc822-headers` part holds the original headers, our Message-ID among
  them. Gmail's own "Delivery Status Notification (Failure)" from mailer-daemon@googlemail.com is this
  form too, and also names the original in `In-Reply-To`/`References` and the address in
  `X-Failed-Recipients`.
- A plain-text notice from mailer-daemon (older Gmail, some relays): the address in
  `X-Failed-Recipients`, the status code only in the text, the original in `In-Reply-To`/`References`.

A permanent failure has a 5.x.x status; a 4.x.x (or `Action: delayed`) is soft. Anything else (an
out-of-office reply, a customer's answer) is not a bounce: None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from email.policy import compat32
from typing import Final

_STATUS: Final = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_MESSAGE_ID: Final = re.compile(r"<[^<>\s]+@[^<>\s]+>")
_DAEMONS: Final = ("mailer-daemon@", "postmaster@")
MAX_REASON: Final = 300


@dataclass(frozen=True)
class Failure:
    """One recipient's line of a DSN."""

    address: str
    status: str  # "5.1.1"
    reason: str  # the Diagnostic-Code, or the notice's own words

    @property
    def permanent(self) -> bool:
        return self.status.startswith("5.")


@dataclass(frozen=True)
class Bounce:
    """A DSN: which of our messages it is about (any of `message_ids`), and who failed how."""

    message_ids: tuple[str, ...]
    failures: tuple[Failure, ...]


def parse_dsn(raw: bytes) -> Bounce | None:
    """The bounce `raw` reports, or None when it is not a delivery status notification (or names no
    recipient with a 4.x.x or 5.x.x status)."""
    message = message_from_bytes(raw, policy=compat32)
    report = _is_report(message)
    if not report and not _from_daemon(message):
        return None
    failures = _report_failures(message) if report else ()
    if not failures:
        failures = _notice_failures(message)
    if not failures:
        return None
    return Bounce(_original_ids(message), failures)


def _is_report(message: Message) -> bool:
    return (
        message.get_content_type() == "multipart/report"
        and str(message.get_param("report-type") or "").lower() == "delivery-status"
    )


def _from_daemon(message: Message) -> bool:
    sender = str(message.get("From", "")).lower()
    return any(daemon in sender for daemon in _DAEMONS)


def _report_failures(message: Message) -> tuple[Failure, ...]:
    """The recipients of the `message/delivery-status` part that failed or were delayed."""
    found: list[Failure] = []
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        for block in _status_blocks(part):
            action = block.get("action", "").lower()
            status = _STATUS.search(block.get("status", ""))
            address = _address(block.get("final-recipient") or block.get("original-recipient") or "")
            if status is None or not address or action not in ("failed", "delayed"):
                continue
            reason = block.get("diagnostic-code", "").partition(";")[2].strip() or block["status"]
            found.append(Failure(address, status.group(0), _short(reason)))
    return tuple(found)


def _status_blocks(part: Message) -> list[dict[str, str]]:
    """The per-message and per-recipient field blocks of a delivery-status part, lower-cased names."""
    payload = part.get_payload()
    if isinstance(payload, list):  # the email package parses each block as a header-only message
        return [
            {k.lower(): _unfold(str(v)) for k, v in block.items()}
            for block in payload
            if isinstance(block, Message)
        ]
    text = payload if isinstance(payload, str) else ""
    blocks: list[dict[str, str]] = []
    for chunk in re.split(r"\r?\n\s*\r?\n", text):
        fields = message_from_bytes(chunk.strip().encode("utf-8", "replace"), policy=compat32)
        blocks.append({k.lower(): _unfold(str(v)) for k, v in fields.items()})
    return blocks


def _notice_failures(message: Message) -> tuple[Failure, ...]:
    """A plain notice: X-Failed-Recipients, and the first status code its text gives."""
    addresses = [_address(a) for a in str(message.get("X-Failed-Recipients", "")).split(",")]
    addresses = [a for a in addresses if a]
    text = _text_of(message)
    status = _STATUS.search(text)
    if not addresses or status is None:
        return ()
    line = next((ln.strip() for ln in text.splitlines() if status.group(0) in ln), status.group(0))
    return tuple(Failure(address, status.group(0), _short(line)) for address in addresses)


def _original_ids(message: Message) -> tuple[str, ...]:
    """Our Message-ID as the DSN carries it: the original's headers, X-Original-Message-ID, In-Reply-To,
    References (in that order, each once)."""
    found: list[str] = []
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            inner = part.get_payload()
            for original in inner if isinstance(inner, list) else []:
                if isinstance(original, Message):
                    found += _MESSAGE_ID.findall(str(original.get("Message-ID", "")))
        elif kind == "text/rfc822-headers":
            headers = message_from_bytes(_bytes_of(part), policy=compat32)
            found += _MESSAGE_ID.findall(str(headers.get("Message-ID", "")))
        elif kind == "message/delivery-status":
            for block in _status_blocks(part):
                found += _MESSAGE_ID.findall(block.get("x-original-message-id", ""))
    for name in ("In-Reply-To", "References"):
        found += _MESSAGE_ID.findall(str(message.get(name, "")))
    return tuple(dict.fromkeys(found))


def _text_of(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return _bytes_of(part).decode(part.get_content_charset() or "utf-8", "replace")
    return ""


def _bytes_of(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    return raw.encode("utf-8", "replace") if isinstance(raw, str) else b""


def _address(field: str) -> str:
    """`rfc822; jan@example.org` or `<jan@example.org>` → `jan@example.org` (lower-cased)."""
    value = field.partition(";")[2] if ";" in field else field
    value = value.strip().strip("<>").strip().lower()
    return value if "@" in value and " " not in value else ""


def _unfold(value: str) -> str:
    return re.sub(r"\s*\r?\n\s+", " ", value).strip()


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"
