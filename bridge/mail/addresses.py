"""How an address header is written, and what an address needs to travel (docs/design.md §5.5).

Python 3.11.7's header folder drops the quotes around a display name with specials when it folds the line
(`To: Anna Bcc: victim@evil.example, Jan … <jan@…>` then reads as two recipients), and under a UTF-8
policy it does so for non-ASCII names too; it writes a non-ASCII local part as an RFC 2047 encoded word,
which no server understands. `AddressLine` writes address headers itself, right for either policy:

- ASCII (the message goes without SMTPUTF8): a name with non-ASCII letters as RFC 2047 encoded words
  (base64, at most 75 characters each), an ASCII name as plain words or one quoted string, a non-ASCII
  domain as IDNA (punycode). A non-ASCII local part has no ASCII form: writing it raises `NeedsSmtpUtf8`.
- UTF-8 (RFC 6532, with SMTPUTF8): names and addresses as they are, quoted where RFC 5322 wants it.

A line is folded only between encoded words or before `<address>`, never inside a quoted string.
"""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Iterable, Sequence
from email.headerregistry import Address, AddressHeader, BaseHeader, Group
from email.message import EmailMessage
from email.policy import SMTP, Policy
from typing import Any, Final

import idna

from bridge.model.headers import clean_header_text

ADDRESS_HEADERS: Final = ("From", "Sender", "Reply-To", "To", "Cc")
# RFC 5322 atext, less `=` and `?` (a word made of those could read as an encoded word), plus any
# non-ASCII letter (RFC 6532 allows them in UTF-8 headers; an ASCII header never gets this far with one).
_WORD: Final = re.compile(r"(?:[A-Za-z0-9!#$%&'*+/^_`{|}~-]|[^\x00-\x7f])+")
# 45 bytes are 60 base64 characters: with `=?utf-8?b?` and `?=`, an encoded word of 72 (RFC 2047: 75).
_ENCODED_CHUNK: Final = 45


class NeedsSmtpUtf8(ValueError):
    """A local part with non-ASCII letters: it can only travel with SMTPUTF8, in a UTF-8 header."""

    def __init__(self, addr_spec: str) -> None:
        super().__init__("an address with non-ASCII letters before the @ needs SMTPUTF8")
        self.addr_spec = addr_spec


class BadDomain(ValueError):
    """A non-ASCII domain that IDNA cannot write in ASCII."""


def ascii_domain(domain: str) -> str:
    """`żółw.pl` → `xn--w-uga1v8h.pl` (IDNA 2008 with the UTS 46 mapping, as browsers and mail servers
    do); an ASCII domain is returned as it is."""
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as error:
        raise BadDomain(f"the domain cannot be written in ASCII (IDNA: {error})") from None


def ascii_address(addr_spec: str) -> str:
    """The address with its domain in ASCII; NeedsSmtpUtf8 for a non-ASCII local part."""
    local, _, domain = addr_spec.rpartition("@")
    if not local.isascii():
        raise NeedsSmtpUtf8(addr_spec)
    return f"{local}@{ascii_domain(domain)}"


def _encoded_words(text: str) -> list[str]:
    """RFC 2047 `=?utf-8?b?…?=` words, each short enough for a line, cut after a space where there is one.

    A reader drops the folding between two encoded words (RFC 2047 §6.2), so each space of the name travels
    inside a word; cutting after one means a reader that keeps the folding (Python's) only doubles it.
    """
    chunks: list[str] = []
    current = ""
    for char in text:
        while current and len((current + char).encode()) > _ENCODED_CHUNK:
            cut = current.rfind(" ") + 1 or len(current)
            chunks.append(current[:cut])
            current = current[cut:]
        current += char
    chunks.append(current)
    return [f"=?utf-8?b?{base64.b64encode(chunk.encode()).decode('ascii')}?=" for chunk in chunks]


def _phrase(name: str, *, utf8: bool) -> list[str]:
    """A display name as header tokens: plain words, one quoted string, or encoded words."""
    if not utf8 and not name.isascii():
        return _encoded_words(name)
    if all(_WORD.fullmatch(word) for word in name.split(" ")):
        return [name]
    return ['"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"']


def mailbox_tokens(address: Address, *, utf8: bool) -> list[str]:
    """`address` as the tokens of a header: the name's, then `<local@domain>` (or the bare address)."""
    if utf8:
        spec = address.addr_spec
    else:
        if not address.username.isascii():
            raise NeedsSmtpUtf8(address.addr_spec)
        spec = Address(username=address.username, domain=ascii_domain(address.domain)).addr_spec
    name = clean_header_text(address.display_name)
    return [*_phrase(name, utf8=utf8), f"<{spec}>"] if name else [spec]


class AddressLine(AddressHeader, BaseHeader):  # type: ignore[misc]  # the mix the header registry makes
    """An address header that folds itself safely (see the module docstring)."""

    def fold(self, *, policy: Policy) -> str:
        utf8 = bool(getattr(policy, "utf8", False))
        limit = policy.max_line_length or 78
        tokens: list[str] = []
        for index, address in enumerate(self.addresses):
            mailbox = mailbox_tokens(address, utf8=utf8)
            if index < len(self.addresses) - 1:
                mailbox[-1] += ","
            tokens += mailbox
        lines = [f"{self.name}: {tokens[0]}" if tokens else f"{self.name}:"]
        for token in tokens[1:]:
            if len(lines[-1]) + 1 + len(token) <= limit:
                lines[-1] += " " + token
            else:
                lines.append(" " + token)
        return policy.linesep.join(lines) + policy.linesep


def address_header(name: str, addresses: Address | Sequence[Address]) -> AddressLine:
    """A header object for `message[name] = …`."""
    value: Any = [addresses] if isinstance(addresses, Address) else list(addresses)
    return AddressLine(name, value)


def message_addresses(message: EmailMessage) -> list[Address]:
    """Every address in the message's address headers (From, Sender, Reply-To, To, Cc)."""
    found: list[Address] = []
    for name in ADDRESS_HEADERS:
        for header in message.get_all(name) or ():
            found += getattr(header, "addresses", ())
    return found


def needs_utf8(message: EmailMessage) -> bool:
    """True when an address in the headers has no ASCII form (a non-ASCII local part, or a domain IDNA
    cannot write): only UTF-8 headers, and SMTPUTF8, can carry it."""
    for address in message_addresses(message):
        try:
            ascii_address(address.addr_spec)
        except ValueError:
            return True
    return False


def with_address_lines(message: EmailMessage) -> EmailMessage:
    """A shallow copy whose address headers are `AddressLine`s, in the same order, and without Bcc:
    however the message was built, it is written as this module writes addresses."""
    copied = copy.copy(message)
    items = [(name, value) for name, value in copied.items() if name.lower() not in ("bcc", "resent-bcc")]
    for name in {name for name, _ in copied.items()}:
        del copied[name]  # rebinds the copy's header list: the original keeps its own
    for name, value in items:
        copied[name] = _as_line(name, value)
    return copied


def _as_line(name: str, value: object) -> object:
    groups: Iterable[Group] = getattr(value, "groups", ())
    if name.title() not in ADDRESS_HEADERS or isinstance(value, AddressLine) or not groups:
        return value
    if any(group.display_name is not None for group in groups):
        return value  # a named group (`undisclosed-recipients:;`) is left to the standard folder
    return address_header(name, [address for group in groups for address in group.addresses])


def file_bytes(message: EmailMessage) -> bytes:
    """The message as an .eml file holds it: CRLF lines, ASCII headers unless an address needs UTF-8."""
    return with_address_lines(message).as_bytes(policy=SMTP.clone(utf8=needs_utf8(message)))
