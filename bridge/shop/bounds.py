"""The limits every answer from the shop is held to, and the owner's words when one is passed: an exchange
ends within PRESTASHOP_DEADLINE (`bridge.shop.deadline` cuts it), and a body is read a chunk at a time and
refused past PRESTASHOP_MAX_BODY, so no answer can hang the bridge or fill its memory.

Both overruns are ordinary ShopErrors and are not retried within the read (the same answer would come
again, and the retries would multiply the wait): the poll ends, the owner's alert counts it, and the next
poll tries again.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

import requests

from bridge.errors import ShopResponseError, ShopUnreachable
from bridge.shop.deadline import Deadline

CHUNK: Final = 64 * 1024  # bytes read from the socket at a time


def read_body(response: requests.Response, resource: str, limit: int, deadline: Deadline) -> None:
    """Read the whole body now, a chunk at a time, refusing it past `limit` bytes (a declared Content-Length
    past it is refused unread); `response.content` then holds it. Called on every answer, before requests
    looks at it (a redirect's body too, which requests would otherwise read whole)."""
    if deadline.expired:  # the headers were cut short: the exchange reports the overrun
        response._content = b""
        return
    head = response.request.method == "HEAD"  # its Content-Length is the size of a body not sent
    declared = "" if head else response.headers.get("Content-Length", "").strip()
    if declared.isdigit() and (len(declared) > 15 or int(declared) > limit):
        response.close()
        raise too_large(resource, limit, response.status_code)
    chunks: list[bytes] = []
    received = deadline.received = 0
    for chunk in response.iter_content(CHUNK):
        received = deadline.received = received + len(chunk)
        if received > limit:
            response.close()  # hangs up: the rest is never read
            raise too_large(resource, limit, response.status_code)
        chunks.append(chunk)
    response._content = b"".join(chunks)


def overdue(resource: str, deadline: float, received: int | None, root: str) -> ShopUnreachable:
    """The exchange outlasted PRESTASHOP_DEADLINE (a shop dripping its answer, or one far too slow)."""
    host = urlsplit(root).netloc
    where = "the headers of its answer had not all come"
    if received is not None:
        where = "the body of its answer had not all come"
        where += f" after {size_text(received)}" if received else ""
    return ShopUnreachable(
        f"{host} took longer than PRESTASHOP_DEADLINE ({deadline:g} s) to answer `{resource}` ({where}): the "
        "shop is overloaded or something in between stalls; raise PRESTASHOP_DEADLINE only if the shop is "
        "just slow",
        resource=resource,
    )


def too_large(resource: str, limit: int, status: int) -> ShopResponseError:
    """The answer is bigger than PRESTASHOP_MAX_BODY: it was not read further (memory stays bounded)."""
    return ShopResponseError(
        f"the shop's answer for `{resource}` (HTTP {status}) is larger than PRESTASHOP_MAX_BODY "
        f"({size_text(limit)}), so it was not read: real answers are far smaller; raise PRESTASHOP_MAX_BODY "
        "only if the shop really sends that much",
        resource=resource,
        status=status,
    )


def size_text(size: int) -> str:
    """`32 MiB`, `512 KiB`, `100 bytes`: a size as an owner reads it."""
    for unit, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if size >= unit:
            return f"{size / unit:.4g} {name}"
    return f"{size} bytes"
