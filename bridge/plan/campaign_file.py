"""A campaign file (TOML), read and checked: what the owner wrote, or every problem with it, one line each.

Pure: the file's text in, a `Campaign` out (no I/O, no clock). The shape (docs/campaign.example.toml):

    name = "black-friday-2026"      # the campaign's identity: letters, digits, - and _
    audience = "newsletter"         # newsletter | optin | newsletter_or_optin
    ordered_within_days = 365       # optional filters
    not_ordered_within_days = 60
    languages = ["pl"]
    [discount]                      # optional
    percent = 10                    # or amount = 20 (the shop's default currency, tax included)
    valid_days = 7                  # a personal code works this many days from its email's sending
    single_use = true               # a code per customer; false: the shared `code = "BF2026"`
    minimum_amount = 100            # optional; also: free_shipping = true, prefix = "BF" (personal codes),
                                    # valid_until = 2026-12-01 (a shared code's last day)
    [pl]
    subject = "Prezent dla Ciebie"
    body = "Markdown with {{ firstname }}, {{ code }}, …"   # bridge.mail.owner_text.VARIABLES
    code_name = "Prezent"           # optional: the code's name in the cart and on the invoice

The content hash is taken over the parsed values (sorted keys), so comments, spacing and the order of
keys may change; anything the customers would see or the audience would be chosen by may not, under the
same name (bridge.state.campaigns refuses it).
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Final

AUDIENCES: Final[dict[str, tuple[str, ...]]] = {
    "newsletter": ("newsletter",),
    "optin": ("optin",),
    "newsletter_or_optin": ("newsletter", "optin"),
}
NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
LANGUAGE: Final = re.compile(r"[a-z]{2}(?:-[a-z]{2})?")
PREFIX: Final = re.compile(r"[A-Z0-9]{1,12}")
SHARED_CODE: Final = re.compile(r"[A-Za-z0-9_-]{1,254}")
MAX_DAYS: Final = 3650
# An amount past this is a typo (20000 for 20.00), and the shop would refuse each code as it is created.
MAX_AMOUNT: Final = Decimal(100_000)
_TOP: Final = frozenset({"name", "audience", "ordered_within_days", "not_ordered_within_days", "languages"})
_DISCOUNT: Final = frozenset(
    {"percent", "amount", "valid_days", "valid_until", "single_use", "code", "minimum_amount"}
    | {"free_shipping", "prefix"}
)
_TEXT: Final = frozenset({"subject", "body", "code_name"})
EXAMPLE_NAME: Final = 'name = "black-friday-2026"'


class CampaignFileError(ValueError):
    """The file has problems; `problems` has each as one line naming the field and what to write."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Discount:
    percent: Decimal | None
    amount: Decimal | None
    single_use: bool
    code: str  # the shared code; "" for a code per customer
    valid_days: int | None  # a personal code: from its email's sending; a shared one: from queueing
    valid_until: date | None  # a shared code's last day (in the shop's time zone)
    minimum_amount: Decimal | None
    free_shipping: bool
    prefix: str  # a personal code's readable start


@dataclass(frozen=True)
class Text:
    subject: str
    body: str
    code_name: str  # "" when not given: the campaign's name


@dataclass(frozen=True)
class Campaign:
    name: str
    audience: str
    ordered_within_days: int | None
    not_ordered_within_days: int | None
    languages: tuple[str, ...]  # () for every language
    discount: Discount | None
    texts: Mapping[str, Text]  # by language ISO code, as the file orders them
    content_hash: str

    @property
    def consent_fields(self) -> tuple[str, ...]:
        return AUDIENCES[self.audience]

    @property
    def reads_orders(self) -> bool:
        return self.ordered_within_days is not None or self.not_ordered_within_days is not None

    def text_for(self, language: str, default: str) -> tuple[str, Text]:
        """The language a customer reading `language` gets, and its text: their own, else the default
        language's, else the file's first (a language the shop no longer lists)."""
        for candidate in (language, default):
            if candidate in self.texts:
                return candidate, self.texts[candidate]
        first = next(iter(self.texts))
        return first, self.texts[first]


def parse_campaign(source: str) -> Campaign:
    """The campaign the file describes; CampaignFileError lists every problem found."""
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as error:
        raise CampaignFileError([f"the file is not valid TOML: {error}"]) from None
    problems: list[str] = []
    texts = {key: value for key, value in data.items() if key not in _TOP and key != "discount"}
    name = _name(data.get("name"), problems)
    audience = _audience(data.get("audience"), problems)
    ordered = _days(data, "ordered_within_days", problems)
    not_ordered = _days(data, "not_ordered_within_days", problems)
    if ordered is not None and not_ordered is not None and ordered <= not_ordered:
        problems.append(
            f"ordered_within_days ({ordered}) must be more than not_ordered_within_days ({not_ordered}):"
            " no customer ordered within the first without ordering within the second"
        )
    languages = _languages(data.get("languages"), problems)
    discount = _discount(data.get("discount"), problems) if "discount" in data else None
    parsed_texts = _texts(texts, problems)
    if problems:
        raise CampaignFileError(problems)
    return Campaign(
        name, audience, ordered, not_ordered, languages, discount, parsed_texts, content_hash(data)
    )


def content_hash(data: Mapping[str, Any]) -> str:
    """sha256 of the parsed values (sorted keys): comments, spacing and key order do not count."""
    normalised = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def _name(value: object, problems: list[str]) -> str:
    if isinstance(value, str) and NAME.fullmatch(value):
        return value
    shown = "missing" if value is None else f"{value!r} is not a name"
    problems.append(
        f"name: {shown}; write {EXAMPLE_NAME} (letters, digits, - and _, at most 64: it names the"
        " campaign for good)"
    )
    return ""


def _audience(value: object, problems: list[str]) -> str:
    if isinstance(value, str) and value in AUDIENCES:
        return value
    shown = "missing" if value is None else f"{value!r} is not an audience"
    problems.append(f"audience: {shown}; write audience = " + " or ".join(f'"{a}"' for a in AUDIENCES))
    return "newsletter"


def _days(data: Mapping[str, Any], key: str, problems: list[str]) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
        problems.append(f"{key} = {value!r}: write a whole number of days from 1 to {MAX_DAYS}, e.g. 60")
        return None
    return value


def _languages(value: object, problems: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list) and value and all(isinstance(v, str) and LANGUAGE.fullmatch(v) for v in value):
        return tuple(dict.fromkeys(value))
    problems.append(f'languages = {value!r}: write a list of language codes, e.g. languages = ["pl", "en"]')
    return ()


def _texts(sections: Mapping[str, Any], problems: list[str]) -> dict[str, Text]:
    found: dict[str, Text] = {}
    for key, value in sections.items():
        if not LANGUAGE.fullmatch(key) or not isinstance(value, dict):
            problems.append(
                f"unknown key {key!r}: the file has {', '.join(sorted(_TOP))}, a [discount] section and"
                " one section per language, e.g. [pl]"
            )
            continue
        found[key] = _text(key, value, problems)
    if not found:
        problems.append('no language section: add [pl] (or [en], …) with subject = "…" and body = """…"""')
    return found


def _text(iso: str, value: Mapping[str, Any], problems: list[str]) -> Text:
    for key in sorted(set(value) - _TEXT):
        problems.append(f"[{iso}] {key}: unknown key; a language section has subject, body and code_name")
    texts: dict[str, str] = {}
    for key, limit in (("subject", 200), ("body", 100_000), ("code_name", 254)):
        text = value.get(key, "")
        if not isinstance(text, str) or len(text) > limit or (key != "code_name" and not text.strip()):
            problems.append(f"[{iso}] {key}: write it as text (at most {limit} characters)")
            text = ""
        texts[key] = text
    return Text(texts["subject"], texts["body"], texts["code_name"].strip())


def _discount(value: object, problems: list[str]) -> Discount | None:
    if not isinstance(value, dict):
        problems.append("discount: write it as a section, [discount], with percent or amount")
        return None
    start = len(problems)
    for key in sorted(set(value) - _DISCOUNT):
        problems.append(f"[discount] {key}: unknown key; it has {', '.join(sorted(_DISCOUNT))}")
    percent = _decimal(value, "percent", problems, high=Decimal(100))
    amount = _decimal(value, "amount", problems, high=MAX_AMOUNT)
    if percent is not None and amount is not None:
        problems.append("[discount]: write percent or amount, not both")
    elif percent is None and amount is None and len(problems) == start:
        problems.append("[discount]: write percent = 10 (a percentage) or amount = 20 (an amount off)")
    single_use, code = _whose_code(value, problems)
    valid_days = _valid_days(value, single_use, problems)
    valid_until = value.get("valid_until")
    if valid_until is not None and (single_use or type(valid_until) is not date):
        problems.append(
            "[discount] valid_until: only a shared code has a last day, written as a date: valid_until ="
            " 2026-12-01 (personal codes use valid_days)"
        )
        valid_until = None
    prefix = value.get("prefix", "")
    if not isinstance(prefix, str) or (prefix and not PREFIX.fullmatch(prefix)):
        problems.append('[discount] prefix: write 1-12 capital letters or digits, e.g. prefix = "BF"')
        prefix = ""
    free = value.get("free_shipping", False)
    if not isinstance(free, bool):
        problems.append(f"[discount] free_shipping = {free!r}: write true or false")
        free = False
    minimum = _decimal(value, "minimum_amount", problems, high=MAX_AMOUNT, zero=True)
    return Discount(percent, amount, single_use, code, valid_days, valid_until, minimum, free, prefix)


def _whose_code(value: Mapping[str, Any], problems: list[str]) -> tuple[bool, str]:
    """(single_use, the shared code): a code per customer, or the owner's one code, never both."""
    code = value.get("code", "")
    single_use = value.get("single_use", not code)
    if not isinstance(single_use, bool):
        problems.append(f"[discount] single_use = {single_use!r}: write true or false")
        single_use = True
    if not isinstance(code, str) or (code and not SHARED_CODE.fullmatch(code)):
        problems.append("[discount] code: write the shared code as text of letters, digits, - and _")
        code = ""
    if not single_use and not code:
        problems.append(
            '[discount] single_use = false needs the shared code: write code = "BF2026" (create it in'
            " Catalog → Discounts first), or single_use = true for a code per customer"
        )
    if single_use and code:
        problems.append(
            "[discount] code is a shared code: write single_use = false, or remove code for a code per"
            " customer"
        )
    return single_use, code


def _valid_days(value: Mapping[str, Any], single_use: bool, problems: list[str]) -> int | None:
    days = value.get("valid_days")
    if days is None:
        if single_use:
            problems.append("[discount] valid_days: missing; write how many days a code works, e.g. 7")
        return None
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365:
        problems.append(f"[discount] valid_days = {days!r}: write a whole number of days from 1 to 365")
        return None
    return days


def _decimal(
    value: Mapping[str, Any],
    key: str,
    problems: list[str],
    *,
    high: Decimal | None = None,
    zero: bool = False,
) -> Decimal | None:
    raw = value.get(key)
    if raw is None:
        return None
    try:
        number = None if isinstance(raw, bool) else Decimal(str(raw))
    except InvalidOperation:
        number = None
    exponent = number.as_tuple().exponent if number is not None else 0
    low_ok = number is not None and number.is_finite() and (number >= 0 if zero else number > 0)
    too_fine = not isinstance(exponent, int) or exponent < -2
    if number is None or not low_ok or (high is not None and number > high) or too_fine:
        limit = f" up to {high}" if high is not None else ""
        low = "of 0 or more" if zero else "above 0"
        problems.append(f"[discount] {key} = {raw!r}: write a number {low}{limit}, at most two decimals")
        return None
    return number


def default_prefix(name: str) -> str:
    """A personal code's readable start from the campaign's name: `black-friday-2026` → `BF2026`."""
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", name) if p]
    prefix = "".join(p if p.isdigit() else p[0] for p in parts).upper()[:12]
    return prefix or "CODE"
