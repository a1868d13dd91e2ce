"""The `X-Bridge-Key` header every email of the outbox carries: which store made it, and its idempotency key.

    X-Bridge-Key: 3f9c2a71d04be815 order_confirmation:order:1042

The store id is a random id kept in the store (bridge.state.mailbox.ensure_store_id); the key names the
shop event (an order, a cart, a thread id, an instant), never a person. Reading the Sent folder, the bridge
tells its own emails from those of another bridge sending as the same account (bridge.mailbox.senders):
two bridges polling one shop would each send every customer email.

The key is percent-encoded to one header-safe token, so the value never needs folding or encoded words.
"""

from __future__ import annotations

import re
import secrets
from typing import Final
from urllib.parse import quote, unquote

HEADER: Final = "X-Bridge-Key"
STORE_ID: Final = re.compile(r"[0-9a-f]{16}")
_SAFE: Final = ":._+-"  # an idempotency key's own punctuation (`alert:…:2026-12-07T10:00:00+00:00`)
KEY_LIMIT: Final = 600  # encoded; the header stays one line well under RFC 5322's 998 octets
_VALUE: Final = re.compile(r"([0-9a-f]{16}) ([A-Za-z0-9%:._+-]{1,600})")


def new_store_id() -> str:
    """A fresh store id: 64 random bits, as 16 hex digits."""
    return secrets.token_hex(8)


def format_bridge_key(store_id: str, idempotency_key: str) -> str:
    """The header's value; ValueError for a store id that is not one (a bug, never data)."""
    if not STORE_ID.fullmatch(store_id):
        raise ValueError(f"not a store id: {store_id!r}")
    key = quote(idempotency_key, safe=_SAFE)
    if not 0 < len(key) <= KEY_LIMIT:
        raise ValueError(f"an idempotency key of {len(key)} characters does not fit the {HEADER} header")
    return f"{store_id} {key}"


def parse_bridge_key(value: str) -> tuple[str, str] | None:
    """`(store id, idempotency key)` of a header's value; None when it is not one of ours."""
    found = _VALUE.fullmatch(" ".join(value.split()))
    return None if found is None else (found.group(1), unquote(found.group(2)))
