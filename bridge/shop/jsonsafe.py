"""JSON from the shop, parsed so that no answer can crash or stall the bridge: nesting deeper than any
webservice answer, and numbers far beyond any price, quantity or id, are refused with a `ValueError`
(`UnsafeJson`) instead of a `RecursionError` or minutes of CPU.

Why these limits: the deepest answer recorded from a real shop nests 6 levels (a cart with its rows), its
longest number has under 20 digits, and PHP writes a float with at most 17 significant digits and a small
exponent. A number is kept as it was written (`Decimal` for a fraction or an exponent, `int` otherwise), so
`1E4000000` would pass json.loads and then take minutes in `int()`; it is refused here, before anything
converts it. `NaN` and `Infinity`, which json.loads accepts but JSON does not have, are refused too.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Final

MAX_DEPTH: Final = 64  # arrays and objects inside each other
MAX_DIGITS: Final = 40  # digits in one number (before any exponent)
MAX_EXPONENT: Final = 40  # |n| in a number's eN


class UnsafeJson(ValueError):
    """JSON the bridge refuses to read; the message says why, in a few words."""


def loads(data: bytes | str) -> Any:
    """The document, with `Decimal` for every number with a fraction or exponent; raises `UnsafeJson` for
    excessive nesting or an absurd number, `json.JSONDecodeError` (a ValueError) for what is not JSON."""
    try:
        document = json.loads(data, parse_int=_integer, parse_float=_decimal, parse_constant=_constant)
    except RecursionError:
        # Python's parser recurses once per level and gives up near the interpreter's recursion limit.
        raise UnsafeJson(f"nested deeper than {MAX_DEPTH} levels") from None
    _check_depth(document)
    return document


def _check_depth(document: Any) -> None:
    """Walk the document without recursion, refusing it past MAX_DEPTH levels."""
    stack: list[tuple[dict[str, Any] | list[Any], int]] = (
        [(document, 1)] if isinstance(document, dict | list) else []
    )
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        if depth > MAX_DEPTH:
            raise UnsafeJson(f"nested deeper than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def _integer(text: str) -> int:
    if len(text) - text.startswith("-") > MAX_DIGITS:
        raise UnsafeJson(f"a number with more than {MAX_DIGITS} digits ({_excerpt(text)})")
    return int(text)


def _decimal(text: str) -> Decimal:
    mantissa, _, exponent = text.lower().partition("e")
    if len(mantissa) - mantissa.count("-") - mantissa.count(".") > MAX_DIGITS:
        raise UnsafeJson(f"a number with more than {MAX_DIGITS} digits ({_excerpt(text)})")
    digits = exponent.lstrip("+-")
    if exponent and (len(digits) > len(str(MAX_EXPONENT)) or int(digits) > MAX_EXPONENT):
        raise UnsafeJson(f"a number with an exponent beyond ±{MAX_EXPONENT} ({_excerpt(text)})")
    return Decimal(text)


def _constant(text: str) -> Any:
    raise UnsafeJson(f"{text}, which is not a JSON number")


def _excerpt(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:20]}…"
