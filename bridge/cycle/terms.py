"""The terms watch in the cycle: read the CMS pages TERMS_PAGES names, compare their texts' hashes
(bridge.plan.terms), remember them (bridge.state.terms) and alert the owner (ADMIN_EMAIL) of a change.

It runs after the conversation pass, once per poll, with one small request (the few pages by id). A first
look records a baseline and alerts nothing. When a page changed, the customers a notice would reach are
counted (ids only), then the new hashes and the owner's alert are written in one transaction: a crash
before it sees the change again next poll, after it the alert is queued once (its key names the change).
Nothing goes to customers here: only `bridge notify-terms --yes` queues their notices.

A shop error is logged and retried next poll: the order emails must not wait for it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from bridge.config import Settings
from bridge.errors import ShopError
from bridge.model.cms import CmsPage
from bridge.model.kinds import OWNER_TERMS_CHANGED, get_kind
from bridge.model.profile import ShopProfile
from bridge.plan import terms as plan
from bridge.shop import cms
from bridge.shop.client import ShopClient
from bridge.shop.profile import load_profile
from bridge.state import outbox
from bridge.state import terms as terms_state
from bridge.state.store import Store, Tx

log = logging.getLogger(__name__)


def languages_of(profile: ShopProfile) -> dict[int, str]:
    return {lang_id: language.iso_code.lower() for lang_id, language in profile.languages.items()}


def default_language_id(profile: ShopProfile, default: str) -> int:
    languages = languages_of(profile)
    return next((i for i, iso in languages.items() if iso == default), min(languages, default=1))


def read_pages(client: ShopClient, settings: Settings, profile: ShopProfile) -> dict[int, CmsPage]:
    ids = [page_id for _, page_id in settings.terms_pages]
    default_id = default_language_id(profile, settings.default_language)
    return {p.id: p for p in cms.pages(client, ids, default_language=default_id)}


def after_poll(
    client: ShopClient, store: Store, settings: Settings, *, now: datetime, profile: ShopProfile | None
) -> int:
    """The terms watch; how many owner alerts it queued. A shop error is logged, never raised."""
    if not settings.terms_pages:
        return 0
    try:
        return watch_terms(client, store, settings, now=now, profile=profile)
    except ShopError as error:
        log.warning("terms pages: this check failed, the next poll tries again: %s", error)
        return 0


def watch_terms(
    client: ShopClient, store: Store, settings: Settings, *, now: datetime, profile: ShopProfile | None
) -> int:
    profile = profile or load_profile(client, settings)
    languages = languages_of(profile)
    found = read_pages(client, settings, profile)
    with store.read() as conn:
        marks = terms_state.load_marks(conn, [page_id for _, page_id in settings.terms_pages])
    updates: dict[int, plan.PageMark] = {}
    changed: list[tuple[str, CmsPage, plan.Change]] = []
    for name, page_id in settings.terms_pages:
        page = found.get(page_id)
        if page is None:
            log.warning(
                "terms pages: TERMS_PAGES names page %s (%s), which the shop does not have", page_id, name
            )
            continue
        before = marks.get(page_id)
        mark, new = plan.compare(before, plan.page_hashes(page, languages), now=now)
        if before is None:
            log.info("terms pages: %s (page %s) watched from now on", name, page_id)
        if mark != before:
            updates[page_id] = mark
        if new and mark.change is not None:
            changed.append((name, page, mark.change))
    if not updates:
        return 0
    customers = cms.count_told(client) if changed else 0
    default_id = default_language_id(profile, settings.default_language)
    queued = 0
    with store.transaction() as conn:
        for page_id, mark in updates.items():
            terms_state.save_mark(conn, page_id, mark, now=now)
        for name, page, change in changed:
            log.info(
                "terms pages: %s (page %s) changed in %s; `bridge notify-terms` tells %d customer(s)",
                name,
                page.id,
                ", ".join(change.languages),
                customers,
            )
            context = _alert_context(name, page, change, customers, default_id)
            queued += _alert(
                conn, settings, page.id, change.hash, context, now=now, domain=profile.identity.domain
            )
    return queued


def alert_key(page_id: int, change: str) -> str:
    return f"alert:terms_changed:page:{page_id}:change:{change}"


def _alert_context(
    name: str, page: CmsPage, change: plan.Change, customers: int, default_id: int
) -> dict[str, Any]:
    """The owner_terms_changed context (bridge.model.service_kinds.OwnerTermsChangedContext)."""
    title = page.titles.get(default_id) or next(iter(page.titles.values()), "") or name
    return {
        "page": {"id": page.id, "name": name, "title": title, "languages": list(change.languages)},
        "date": change.seen_at.isoformat(),
        "customers": customers,
    }


def _alert(
    conn: Tx,
    settings: Settings,
    page_id: int,
    change: str,
    context: dict[str, Any],
    *,
    now: datetime,
    domain: str,
) -> int:
    """Queue the owner's alert about one change (a no-op once queued); 1 when it was queued now."""
    admin = settings.admin_email
    if admin is None:
        log.warning("terms pages: no ADMIN_EMAIL to tell; `bridge status` shows the change")
        return 0
    intent = outbox.EmailIntent(
        idempotency_key=alert_key(page_id, change),
        kind=OWNER_TERMS_CHANGED,
        category="transactional",
        priority=get_kind(OWNER_TERMS_CHANGED).priority,
        recipient_email=admin.addr_spec,
        recipient_name=admin.display_name or None,
        language=settings.default_language,
        context=context,
        not_before=now,
    )
    return 1 if outbox.enqueue(conn, intent, now=now, message_id_domain=domain) else 0
