"""The new-product digest, planned: the live products that changed, what the store remembers and `now` in;
when a digest is due, which products are new, what it says and to whom out.

Pure: no I/O, no clock. The rules, and why:

- a product is new when it is live (active, visibility both or catalog) and was not live when the watch
  began nor announced since. The watch's first look records every live product as known (a baseline, like
  every watch's): the first digest lists what went on sale after it, never the whole catalogue;
- "went on sale" has no date of its own: a product created as an inactive draft and switched on a week
  later has an old `date_add`. Switching it on saves it, which moves `date_upd`, so each digest reads the
  live products whose `date_upd` fell since the last digest and keeps those not known yet. An edit of a
  product on sale for months moves `date_upd` too, but that product is known: it is not news. A product is
  announced once, ever: switched off and on again, it is not news a second time;
- a digest is due once per period, at NEW_PRODUCTS_HOUR in the shop's time zone: every day (daily), or on
  NEW_PRODUCTS_WEEKDAY (weekly). It goes any time later that day; a day missed whole (the bridge was down)
  is not sent late: the next digest lists everything since the last one, so a week of downtime gives one
  digest, not seven. A digest with nothing new is not sent at all (its period still counts as done);
- it lists the newest NEW_PRODUCTS_LIMIT products (by `date_add`), says how many more there are and links
  the shop's new-products page; each product in the customer's language, its short description as plain
  text (the shop's HTML stripped, cut to a few lines), its price tax included in the shop's default
  currency as the shop computes it;
- it goes to newsletter subscribers only (`newsletter` = 1, what the issue asked for), and when
  MARKETING_CONSENT does not count the newsletter box, only to those who also ticked what it counts: the
  stricter of the two. One digest per address, keyed by the digest's day and the customer
  (`new_products:2026-11-30:customer:42`), so a crash and a re-run queue each one once. An address that
  unsubscribed or bounced, or is not an address, is recorded as skipped with the reason;
- a digest not sent before the next one is due expires: the next one is the news.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from typing import Any, Final, Literal
from urllib.parse import urlencode

from bridge.model.new_products import LiveProduct, ProductNews
from bridge.model.news_kinds import NEW_PRODUCTS
from bridge.model.records import Customer
from bridge.plan.addresses import customer_problem
from bridge.plan.consent import consent_basis, no_consent_reason
from bridge.plan.contexts import customer_context, instant, money, product_image_url
from bridge.plan.rules import Decision

KIND: Final = NEW_PRODUCTS
DESCRIPTION_CHARS: Final = 200  # a short description longer than this is cut at a word
# Each digest's read starts this long before the last one ended: a shop whose clock runs behind the bridge's
# stamps a product switched on just after the last read with a time before it. The known products keep the
# overlap from announcing anything twice.
WINDOW_OVERLAP: Final = timedelta(minutes=15)
Period = Literal["daily", "weekly"]


@dataclass(frozen=True)
class NewsRules:
    """The owner's settings the digest reads, and the shop's facts its links need."""

    period: Period
    hour: int  # NEW_PRODUCTS_HOUR, the shop's time zone
    weekday: int  # NEW_PRODUCTS_WEEKDAY (weekly): 0 = Monday
    limit: int  # NEW_PRODUCTS_LIMIT
    marketing_consent: frozenset[str]
    default_language: str
    front_url: str  # the storefront, "" when unknown: no links
    image_type: str  # PRODUCT_IMAGES, "" for no pictures

    @property
    def length(self) -> timedelta:
        """One period: how long a digest may wait to be sent before the next one makes it stale."""
        return timedelta(days=7 if self.period == "weekly" else 1)


@dataclass(frozen=True)
class Digest:
    """One digest: the day it is for, the window it covers, and what it says in each language."""

    day: date
    since: datetime  # the window's start: the last digest, or the baseline
    products: Mapping[str, list[dict[str, Any]]]  # language ISO code → the NewProduct contexts
    more: int  # new products beyond those listed
    urls: Mapping[str, str]  # language ISO code → the shop's new-products page
    expires_at: datetime  # not sent after this: the next digest is due


@dataclass(frozen=True)
class Running:
    """A digest whose emails are being queued, a batch of subscribers at a time (resumed after a crash)."""

    digest: Digest
    after_customer: int  # the last subscriber id queued for


@dataclass(frozen=True)
class NewsMark:
    """What the store remembers of the watch: when it began, where the next digest's window starts, the
    last day a digest was due (sent or empty), and the digest still being queued, if any."""

    baseline_at: datetime
    since: datetime
    last_day: date | None = None
    running: Running | None = None


def digest_key(day: date, customer_id: int) -> str:
    return f"{digest_prefix(day)}{customer_id}"


def digest_prefix(day: date) -> str:
    return f"{KIND}:{day.isoformat()}:customer:"


# --- when ---------------------------------------------------------------------------------------------------


def digest_due(local_now: datetime, rules: NewsRules, last_day: date | None) -> date | None:
    """The day a digest is due for (today in the shop's time zone, once its hour has come, on the weekday
    of a weekly digest), or None: not yet, not today, or done already."""
    today = local_now.date()
    if local_now.hour < rules.hour or (last_day is not None and last_day >= today):
        return None
    if rules.period == "weekly" and today.weekday() != rules.weekday:
        return None
    return today


# --- what ---------------------------------------------------------------------------------------------------


def fresh(changed: Iterable[LiveProduct], known: Iterable[int]) -> list[LiveProduct]:
    """The live products not known yet (neither live at the baseline nor announced), newest first."""
    seen = set(known)
    new = {p.id: p for p in changed if p.id not in seen}
    return sorted(new.values(), key=_newest_first)


def _newest_first(product: LiveProduct) -> tuple[float, int]:
    when = product.date_add or product.date_upd
    return (-when.timestamp() if when is not None else 0.0, -product.id)


def build_digest(
    day: date,
    new: Sequence[LiveProduct],
    details: Mapping[int, ProductNews],
    languages: Mapping[int, str],
    rules: NewsRules,
    *,
    since: datetime,
    currency: str,
    now: datetime,
) -> Digest | None:
    """The digest of `new` (newest first): the first `limit` listed in every shop language, the rest
    counted. None when none of the listed products could be read (gone meanwhile): nothing to tell."""
    listed = [details[p.id] for p in new[: rules.limit] if p.id in details]
    if not listed:
        return None
    products = {
        iso: [product_context(p, lang_id, rules, currency) for p in listed]
        for lang_id, iso in languages.items()
    }
    urls = {iso: new_products_url(rules.front_url, lang_id) for lang_id, iso in languages.items()}
    more = max(0, len(new) - rules.limit)
    return Digest(day, since, products, more, urls, now + rules.length)


def product_context(product: ProductNews, lang_id: int, rules: NewsRules, currency: str) -> dict[str, Any]:
    """One product as the digest shows it in one language (bridge.model.news_kinds.NewProduct)."""
    image = ""
    if rules.image_type and product.id_default_image > 0 and rules.front_url:
        image = product_image_url(rules.front_url, product.id_default_image, rules.image_type)
    price = product.price if product.price is not None and product.price > 0 else None
    return {
        "name": product.names.get(lang_id) or f"#{product.id}",
        "description": plain_text(product.descriptions.get(lang_id)),
        "price": money(price, currency) if price is not None and currency else None,
        "url": product_url(rules.front_url, product.id, lang_id),
        "image_url": image,
    }


def product_url(front: str, product_id: int, lang_id: int) -> str:
    """The product's page in the customer's language (PrestaShop redirects to its friendly URL)."""
    return _front_link(front, {"controller": "product", "id_product": product_id, "id_lang": lang_id})


def new_products_url(front: str, lang_id: int) -> str:
    """PrestaShop's own page of new products, in the customer's language."""
    return _front_link(front, {"controller": "new-products", "id_lang": lang_id})


def _front_link(front: str, query: Mapping[str, object]) -> str:
    base = front.rstrip("/")
    return f"{base}/index.php?{urlencode(query)}" if base else ""


# --- the shop's HTML as plain text --------------------------------------------------------------------------

_BREAKS: Final = frozenset(
    {"br", "p", "div", "li", "ul", "ol", "tr", "td", "h1", "h2", "h3", "h4", "h5", "h6"}
)
_HIDDEN: Final = frozenset({"script", "style", "template", "noscript", "head", "title"})


class _Words(HTMLParser):
    """Collects the text a browser would show: entities decoded, scripts and styles dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag in _BREAKS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BREAKS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def plain_text(html: str, limit: int = DESCRIPTION_CHARS) -> str:
    """The words of a short description: tags, scripts and styles gone, entities decoded, control and
    direction characters removed, whitespace collapsed, cut at a word before `limit` characters."""
    parser = _Words()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    kept = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    words = " ".join(unicodedata.normalize("NFC", kept).split())
    if len(words) <= limit:
        return words
    cut = words[: limit - 1]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:–-") + "…"


# --- to whom ------------------------------------------------------------------------------------------------


def news_consent(customer: Customer, marketing_consent: Iterable[str]) -> str | None:
    """The consent a digest rests on: the newsletter box, and what MARKETING_CONSENT counts when it does
    not count that box (the stricter of the two); None without it."""
    fields = set(marketing_consent)
    newsletter = consent_basis(customer, {"newsletter"})
    if newsletter is None:
        return None
    if "newsletter" in fields:
        return newsletter
    other = consent_basis(customer, fields)
    return None if other is None else f"{newsletter}; {other}"


def no_news_consent_reason(customer: Customer, marketing_consent: Iterable[str]) -> str:
    return no_consent_reason(customer, {"newsletter", *marketing_consent}) + "; new-product news needs both"


def plan_batch(
    customers: Sequence[Customer],
    running: Running,
    rules: NewsRules,
    languages: Mapping[int, str],
    *,
    blocked: Mapping[str, str],
    already: Iterable[str],
    now: datetime,
) -> list[Decision]:
    """A digest (or a skip naming why not) for each subscriber of one batch. `blocked`: lower-cased
    addresses that may not be written to, with the reason; `already`: lower-cased addresses this digest
    was decided for already (another account with the same address: one digest per address)."""
    digest = running.digest
    taken = set(already)
    decisions = []
    for customer in customers:
        address = customer.email.strip().lower()
        basis = news_consent(customer, rules.marketing_consent)
        why = _why_not(customer, basis, blocked.get(address), address in taken, rules)
        taken.add(address)
        if why is not None:
            decisions.append(_skip(digest.day, customer, why, now))
            continue
        iso = languages.get(customer.id_lang, rules.default_language)
        decisions.append(_digest_email(digest, customer, iso, basis or "", rules, now))
    return decisions


def _why_not(
    customer: Customer, basis: str | None, blocked: str | None, duplicate: bool, rules: NewsRules
) -> str | None:
    problem = customer_problem(customer, customer.id, marketing=True)
    if problem is not None:
        return problem
    if basis is None:
        return no_news_consent_reason(customer, rules.marketing_consent)
    if blocked is not None:
        return blocked
    if duplicate:
        return "another account with the same address gets this digest"
    return None


def _digest_email(
    digest: Digest, customer: Customer, iso: str, basis: str, rules: NewsRules, now: datetime
) -> Decision:
    if iso not in digest.products:  # a language the shop added after the digest was built: the default's
        iso = (
            rules.default_language
            if rules.default_language in digest.products
            else next(iter(digest.products))
        )
    products = digest.products[iso]  # the email speaks the language its products are named in
    context = {
        "customer": customer_context(customer),
        "period": rules.period,
        "date": instant(digest.since),
        "products": products,
        "more": digest.more,
        "url": digest.urls.get(iso, ""),
    }
    return Decision(
        key=digest_key(digest.day, customer.id),
        kind=KIND,
        order_id=0,
        order_reference="",
        recipient_email=customer.email.strip(),
        recipient_name=f"{customer.firstname} {customer.lastname}".strip(),
        language=iso,
        context=context,
        category="marketing",
        not_before=now,
        expires_at=digest.expires_at,
        consent=basis,
        customer_id=customer.id,
    )


def _skip(day: date, customer: Customer, reason: str, now: datetime) -> Decision:
    return Decision(
        key=digest_key(day, customer.id),
        kind=KIND,
        order_id=0,
        order_reference="",
        skip_reason=reason,
        recipient_email=customer.email.strip(),
        recipient_name=f"{customer.firstname} {customer.lastname}".strip(),
        category="marketing",
        not_before=now,
        consent="none",
        customer_id=customer.id,
    )
