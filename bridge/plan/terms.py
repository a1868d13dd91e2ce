"""Terms changed, planned: the pages named by TERMS_PAGES in, what changed and the customers' notices out.

Pure: no I/O, no clock (`now` is an argument). The rules, and why:

- a page's text is compared per language as a hash of its *normalised* text: tags stripped, entities
  unescaped, whitespace collapsed (`normalise`). An editor that re-saves a page rewrites its markup and
  spacing; only a change of the words is a change of the terms;
- the first look at a page records its hashes and reports nothing (a baseline, like every watch's);
- a change is named by the hash of the page's new texts (`Change.hash`), so the owner's alert and the
  notices name the change they answer. A second edit before the notices went makes a new change (and
  a new alert), whose languages include the first's;
- a notice goes to every active customer with an account (not a guest, not deleted), in their language,
  once per change (`terms_changed:page:3:change:<hash>:customer:<id>`): a crash in the middle of the
  queueing and a re-run resume without duplicates. It is a legal notice, not marketing: no consent and no
  unsubscribe link, but it says why it was sent. It goes last in the daily budget (NOTICE_PRIORITY).
"""

from __future__ import annotations

import hashlib
import html
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Final
from urllib.parse import urlencode

from bridge.model.cms import CmsPage
from bridge.model.kinds import TERMS_CHANGED
from bridge.model.records import Customer
from bridge.plan.addresses import customer_problem
from bridge.plan.contexts import customer_context
from bridge.plan.rules import Decision

NOTICE_DAYS: Final = 14  # the default notice period before new terms apply (the EU norm for a change)
_TAG: Final = re.compile(r"<[^>]*>")


def normalise(text: str) -> str:
    """The words of a page's HTML: tags stripped, entities unescaped, whitespace collapsed, Unicode NFC."""
    stripped = _TAG.sub(" ", text)
    return " ".join(unicodedata.normalize("NFC", html.unescape(stripped)).split())


def text_hash(text: str) -> str:
    return hashlib.sha256(normalise(text).encode()).hexdigest()


@dataclass(frozen=True)
class Change:
    """A change of a page's text the owner was (or is to be) told about."""

    hash: str  # names the change: the page's new texts, all languages
    languages: tuple[str, ...]  # ISO codes of the languages whose text changed
    seen_at: datetime


@dataclass(frozen=True)
class PageMark:
    """What the store remembers of a watched page: each language's text hash, and the change not yet
    notified (None when none, or once `bridge notify-terms --yes` queued its notices)."""

    hashes: Mapping[str, str]
    change: Change | None = None


def page_hashes(page: CmsPage, languages: Mapping[int, str]) -> dict[str, str]:
    """The page's text hash per language ISO code (languages the shop no longer has are left out)."""
    return {languages[lang]: text_hash(text) for lang, text in page.contents.items() if lang in languages}


def change_hash(hashes: Mapping[str, str]) -> str:
    joined = "|".join(f"{iso}={value}" for iso, value in sorted(hashes.items()))
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


def compare(mark: PageMark | None, hashes: Mapping[str, str], *, now: datetime) -> tuple[PageMark, bool]:
    """The page's new mark, and whether it holds a change the owner has not been told about."""
    if mark is None:
        return PageMark(dict(hashes)), False  # the baseline: nothing before it is news
    changed = {iso for iso, value in hashes.items() if iso in mark.hashes and mark.hashes[iso] != value}
    if not changed:
        return PageMark(dict(hashes), mark.change), False
    earlier = set(mark.change.languages) if mark.change is not None else set()
    change = Change(change_hash(hashes), tuple(sorted(changed | earlier)), now)
    return PageMark(dict(hashes), change), True


@dataclass(frozen=True)
class NoticeRules:
    """What a notice says beyond the page: the shop's front URL, its default language, and the start of
    the day (in the shop's time zone) from which the new text applies."""

    front_url: str
    default_language: str
    effective: datetime


def notice_key(page_id: int, change: str, customer_id: int) -> str:
    return f"{TERMS_CHANGED}:page:{page_id}:change:{change}:customer:{customer_id}"


def notice_prefix(page_id: int, change: str) -> str:
    return f"{TERMS_CHANGED}:page:{page_id}:change:{change}:customer:"


def default_effective(today: date) -> date:
    return today + timedelta(days=NOTICE_DAYS)


def day_start(day: date, zone: tzinfo) -> datetime:
    """Midnight of `day` in the shop's time zone: what the notice's date means."""
    return datetime.combine(day, time(0), tzinfo=zone)


def told(customer: Customer) -> bool:
    """Whether a notice is for this customer: an active account, not a guest, not deleted."""
    return customer.active and not customer.is_guest and not customer.deleted


def page_url(front_url: str, page_id: int, id_lang: int) -> str:
    base = front_url.rstrip("/")
    if not base:
        return ""
    return f"{base}/index.php?" + urlencode({"controller": "cms", "id_cms": page_id, "id_lang": id_lang})


def plan_notices(
    customers: Iterable[Customer],
    page: CmsPage,
    name: str,
    change: str,
    languages: Mapping[int, str],
    rules: NoticeRules,
) -> list[Decision]:
    """One notice per customer told (in their language), or a skip naming why not."""
    decisions = []
    default_id = next((i for i, iso in languages.items() if iso == rules.default_language), 0)
    for customer in customers:
        if not told(customer):
            continue
        key = notice_key(page.id, change, customer.id)
        problem = customer_problem(customer, customer.id)
        if problem is not None:
            decisions.append(
                Decision(key, TERMS_CHANGED, 0, "", skip_reason=problem, customer_id=customer.id)
            )
            continue
        lang_id = customer.id_lang if customer.id_lang in languages else default_id
        title = page.titles.get(lang_id) or page.titles.get(default_id) or name
        context = {
            "customer": customer_context(customer),
            "page": {"name": name, "title": title, "url": page_url(rules.front_url, page.id, lang_id)},
            "date": rules.effective.isoformat(),
        }
        decisions.append(
            Decision(
                key,
                TERMS_CHANGED,
                0,
                "",
                recipient_email=customer.email,
                recipient_name=f"{customer.firstname} {customer.lastname}".strip(),
                language=languages.get(lang_id, rules.default_language),
                context=context,
                customer_id=customer.id,
            )
        )
    return decisions


def days_needed(count: int, per_day: int) -> int:
    """How many days `count` notices take at `per_day` (0 when nothing is to go)."""
    if count <= 0:
        return 0
    return math.ceil(count / max(1, per_day))


def per_language(customers: Sequence[Customer], languages: Mapping[int, str], default: str) -> dict[str, int]:
    """How many of the customers told read each language."""
    counts: dict[str, int] = {}
    for customer in customers:
        if told(customer):
            iso = languages.get(customer.id_lang, default)
            counts[iso] = counts.get(iso, 0) + 1
    return counts
