"""Shop text near an email header: control and bidi characters out, long names cut, addresses built
from their parts. Python 3.11 writes a decoded newline verbatim (CVE-2024-6923), so nothing from the shop
reaches a header without passing here."""

from __future__ import annotations

import re
from email.headerregistry import Address
from typing import Final

# C0 and C1 controls, DEL, and the Unicode line/paragraph separators: none belongs in a header.
HEADER_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Bidi embeddings, overrides and isolates: invisible, and they reorder what follows them, so a name could
# make "Total 100" read "001 latoT" or flip a reference. Right-to-left letters need none of them.
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
# Python's header folding is quadratic in the length of non-ASCII display names (10 000 characters took
# minutes on 3.11.7): no real name or subject is this long, so longer ones are cut with an ellipsis.
DISPLAY_NAME_LIMIT: Final = 100
LANGUAGE_TAG = re.compile(r"[a-z]{2,3}(?:[-_][a-zA-Z0-9]{2,8})*")


def clean_header_text(value: str) -> str:
    """Make shop data safe for a header: no control characters, no RFC 2047 encoded-word opener.

    Controls become spaces (so `Anna\\r\\nBcc: x` reads `Anna Bcc: x`, inert), bidi controls vanish. `=?`
    becomes `= ?` because the stdlib decodes encoded words in header values and, before 3.11.10, writes a
    decoded newline verbatim.
    """
    text = HEADER_UNSAFE.sub(" ", BIDI_CONTROLS.sub("", value))
    while "=?" in text:
        text = text.replace("=?", "= ?")
    return re.sub(" {2,}", " ", text).strip()


def shorten(text: str, limit: int) -> str:
    """`text`, or its first `limit - 1` characters and an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def make_address(display_name: str, addr_spec: str) -> Address:
    """An Address whose display name is cleaned (and cut to DISPLAY_NAME_LIMIT); an address with control
    characters is refused."""
    if HEADER_UNSAFE.search(addr_spec) or BIDI_CONTROLS.search(addr_spec) or "=?" in addr_spec:
        raise ValueError(f"refusing an email address with control characters: {addr_spec!r}")
    name = shorten(clean_header_text(display_name), DISPLAY_NAME_LIMIT)
    spec = addr_spec.strip()
    local, at, domain = spec.rpartition("@")
    if at and not local.isascii():
        # RFC 6531: a UTF-8 local part travels as it is (with SMTPUTF8); parsing it as an addr-spec would
        # flag it as a defect, so it is built from its parts.
        return Address(display_name=name, username=local, domain=domain)
    return Address(display_name=name, addr_spec=spec)


# Anything shaped like an address in free text (an SMTP reply, an error, a reason): no spaces, one @.
ADDRESS_IN_TEXT: Final = re.compile(r"[^\s<>()\[\],;:\"'@]+@[^\s<>()\[\],;:\"'@]+\.[^\s<>()\[\],;:\"'@]+")


def mask_email(email: str) -> str:
    """`z***@example.com`: enough for the customer (and a log reader) to recognise, not to harvest.

    Log lines at INFO and above show addresses this way; the full address goes to DEBUG only."""
    local, at, domain = email.rpartition("@")
    if not at:
        return email[:1] + "***"
    return f"{local[:1]}***@{domain}"


def mask_addresses(text: str) -> str:
    """`text` with every address in it masked: SMTP replies and errors often quote the recipient."""
    return ADDRESS_IN_TEXT.sub(lambda match: mask_email(match.group()), text)
