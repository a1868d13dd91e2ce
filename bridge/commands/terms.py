"""`bridge notify-terms`: tell every customer with an account that a terms page changed.

The poll's terms watch (bridge.cycle.terms) told the owner which page changed; this command is the owner's
decision to notify. By default a dry run: the page(s), how many customers in each language, the first
recipients (masked), and how many days the notices take at the daily budget's share for them. `--yes`
queues them: a batch of customers (bridge.shop.cms.BATCH) per transaction, each notice keyed by page,
change and customer, so a crash in the middle and a re-run resume without a duplicate. The notices go last
in the daily budget (bridge.delivery.budget), spread over as many days as needed; `bridge status` shows
how far they are.

`--effective YYYY-MM-DD` is the date the new text applies from, stated in the notice; by default 14 days
from today (the notice period EU consumer law expects for a change of terms).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final

from bridge.clock import Clock
from bridge.commands.catchup import masked
from bridge.config import Settings
from bridge.cycle.terms import languages_of, read_pages
from bridge.delivery.budget import Limits, notices_per_day
from bridge.errors import ConfigError
from bridge.model.cms import CmsPage
from bridge.model.profile import ShopProfile
from bridge.plan import terms as plan
from bridge.shop import cms
from bridge.shop.client import ShopClient
from bridge.shop.profile import load_profile
from bridge.state import terms as terms_state
from bridge.state.store import Store

FIRST: Final = 5  # recipients shown one by one in the preview


@dataclass
class Pending:
    """One page's change waiting for its notices."""

    name: str
    page: CmsPage
    mark: plan.PageMark
    change: plan.Change


@dataclass
class Tally:
    """What a pass over the customers found (a preview) or queued (`--yes`)."""

    languages: dict[str, int] = field(default_factory=dict)
    first: list[str] = field(default_factory=list)
    queued: int = 0
    skipped: int = 0
    already: int = 0  # notices of this change queued before (a re-run after a crash)

    @property
    def total(self) -> int:
        return sum(self.languages.values())


def parse_effective(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: write --effective YYYY-MM-DD") from None


def add_terms_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    notify = commands.add_parser(
        "notify-terms",
        help="after a terms page changed: show (with --yes: queue) a notice to every customer with an"
        " account",
    )
    notify.add_argument("--yes", action="store_true", help="queue the notices (without it: a dry run)")
    notify.add_argument(
        "--effective",
        type=parse_effective,
        metavar="YYYY-MM-DD",
        help=f"the date the new text applies from (default: {plan.NOTICE_DAYS} days from today)",
    )
    notify.add_argument("--page", action="append", metavar="NAME", help="only this page of TERMS_PAGES")
    notify.set_defaults(run=cmd_notify_terms, needs_shop=True)


def cmd_notify_terms(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.app import open_shop
    from bridge.cli import open_state

    with open_shop(settings) as client, open_state(settings) as store:
        for line in notify_terms(
            client, store, settings, args.clock, yes=args.yes, effective=args.effective, only=args.page
        ):
            print(line)  # noqa: T201 - the command's own output
    return 0


def notify_terms(
    client: ShopClient,
    store: Store,
    settings: Settings,
    clock: Clock,
    *,
    yes: bool = False,
    effective: date | None = None,
    only: list[str] | None = None,
    after_batch: Callable[[int], None] | None = None,
) -> Iterator[str]:
    """The preview (or, with `yes`, the queueing) as lines for the terminal. `after_batch` is called with
    the number of notices queued so far after each batch's transaction (tests stop there)."""
    if not settings.terms_pages:
        raise ConfigError(
            "TERMS_PAGES is empty: name the CMS pages of your terms, e.g. TERMS_PAGES=terms:3,privacy:2"
        )
    profile = load_profile(client, settings)
    today = clock.now().astimezone(profile.identity.zone).date()
    if effective is not None and effective < today:
        raise ConfigError(f"--effective {effective} is in the past: give today or a later date")
    default = effective or plan.default_effective(today)
    pending = _pending(client, store, settings, profile, only)
    if not pending:
        yield "No terms page changed since its last notice: nothing to tell the customers."
        return
    per_day = notices_per_day(Limits.from_settings(settings))
    for item in pending:
        stated = default
        if yes:  # a re-run after a crash states the first run's date, unless --effective says otherwise
            first = terms_state.start_run(
                store, item.page.id, item.name, item.change.hash, default.isoformat(), now=clock.now()
            )
            stated = effective or date.fromisoformat(first)
        start = plan.day_start(stated, profile.identity.zone)
        rules = plan.NoticeRules(profile.front_url, settings.default_language, start)
        tally = _tally(
            client, store, settings, profile, item, rules, yes=yes, after_batch=after_batch, now=clock.now
        )
        yield from _report(item, tally, stated, per_day, yes=yes)
        if yes:
            terms_state.finish_run(store, item.page.id, item.change.hash, now=clock.now())
    if not yes:
        yield "Nothing was queued (a dry run): run `bridge notify-terms --yes` to queue the notices."


def _pending(
    client: ShopClient, store: Store, settings: Settings, profile: ShopProfile, only: list[str] | None
) -> list[Pending]:
    names = dict(settings.terms_pages)
    unknown = sorted(set(only or ()) - set(names))
    if unknown:
        raise ConfigError(f"--page {', '.join(unknown)}: not in TERMS_PAGES ({', '.join(names)})")
    with store.read() as conn:
        marks = terms_state.load_marks(conn, list(names.values()))
    pages = read_pages(client, settings, profile)
    found = []
    for name, page_id in settings.terms_pages:
        mark = marks.get(page_id)
        if mark is None or mark.change is None or (only and name not in only) or page_id not in pages:
            continue
        found.append(Pending(name, pages[page_id], mark, mark.change))
    return found


def _tally(
    client: ShopClient,
    store: Store,
    settings: Settings,
    profile: ShopProfile,
    item: Pending,
    rules: plan.NoticeRules,
    *,
    yes: bool,
    after_batch: Callable[[int], None] | None,
    now: Callable[[], datetime],
) -> Tally:
    """One pass over the customers, a batch at a time: counted, and with `yes` queued."""
    languages = languages_of(profile)
    tally = Tally()
    for batch in cms.customers_told(client):
        for iso, count in plan.per_language(batch, languages, settings.default_language).items():
            tally.languages[iso] = tally.languages.get(iso, 0) + count
        decisions = plan.plan_notices(batch, item.page, item.name, item.change.hash, languages, rules)
        tally.first += [masked(d.recipient_email) for d in decisions if d.sends][: FIRST - len(tally.first)]
        if not yes:
            continue
        applied = terms_state.queue_batch(store, decisions, now=now(), domain=profile.identity.domain)
        tally.queued += applied.queued
        tally.skipped += applied.skipped
        tally.already += len(decisions) - applied.queued - applied.skipped
        if after_batch is not None:
            after_batch(tally.queued)
    return tally


def _report(item: Pending, tally: Tally, effective: date, per_day: int, *, yes: bool) -> Iterator[str]:
    langs = ", ".join(item.change.languages) or "-"
    yield (
        f"Page {item.name} (CMS page {item.page.id}) changed in {langs};"
        f" the new text applies from {effective}."
    )
    by_language = ", ".join(f"{iso}: {n}" for iso, n in sorted(tally.languages.items())) or "none"
    yield f"  Customers with an account: {tally.total} ({by_language})"
    if tally.first:
        yield f"  First recipients: {', '.join(tally.first)}"
    if yes:
        yield (
            f"  Queued {tally.queued} notice(s); {tally.skipped} skipped with a reason (`bridge outbox`),"
            f" {tally.already} queued before"
        )
    days = plan.days_needed(tally.queued if yes else tally.total, per_day)
    yield f"  At {per_day} a day (the daily budget less the share kept for order emails): {days} day(s)"


@dataclass(frozen=True)
class TermsStatus:
    """`bridge status`'s view of the terms watch: the pages, changes waiting, the notices' progress."""

    pages: tuple[tuple[str, int], ...]
    pending: tuple[tuple[str, tuple[str, ...]], ...]  # (name, languages) of changes not yet notified
    runs: tuple[terms_state.Run, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "pages": {name: page_id for name, page_id in self.pages},
            "changed": [{"page": name, "languages": list(langs)} for name, langs in self.pending],
            "notices": [
                {
                    "page": r.name,
                    "cms_id": r.page_id,
                    "change": r.change,
                    "started": r.started,
                    "queued": r.queued,
                    "sent": r.sent,
                    "left": r.left,
                }
                for r in self.runs
            ],
        }

    def lines(self) -> list[str]:
        watched = (
            ", ".join(f"{name}:{page_id}" for name, page_id in self.pages) or "none (TERMS_PAGES is empty)"
        )
        out = [f"watching {watched}"]
        out += [
            f"{name} changed ({', '.join(langs)}): run `bridge notify-terms` to tell the customers"
            for name, langs in self.pending
        ]
        out += [
            f"notices for {r.name} (change {r.change[:8]}, from {r.started[:16]}): {r.queued} queued,"
            f" {r.sent} sent, {r.left} left"
            for r in self.runs
        ]
        return out


def terms_status(store: Store, settings: Settings) -> TermsStatus | None:
    """None when no page is watched and no notice was ever queued."""
    runs = tuple(terms_state.runs(store))
    if not settings.terms_pages and not runs:
        return None
    with store.read() as conn:
        marks = terms_state.load_marks(conn, [page_id for _, page_id in settings.terms_pages])
    pending = tuple(
        (name, change.languages)
        for name, page_id in settings.terms_pages
        if (change := getattr(marks.get(page_id), "change", None)) is not None
    )
    return TermsStatus(settings.terms_pages, pending, runs)
