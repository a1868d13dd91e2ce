"""`bridge campaign send FILE [--yes]`: who a campaign reaches, who it leaves out and why, and (with `--yes`)
its emails queued.

One pass over the shop's customers, a batch at a time (bridge.shop.audience.BATCH): the batch is screened
(bridge.plan.campaigns: pure), the store says who unsubscribed, bounced or already has the campaign, the
orders of those still in the running are read when a filter needs them, and the batch is planned. Without
`--yes` that is all (a dry run: nothing is written). With `--yes` each batch's emails are queued in their
own transaction, with the pass's counts (bridge.state.campaigns): a crash between two batches, then a
re-run, queues every email once. Before anything is queued, `--yes` refuses what would go wrong later: a
file changed under a name already sent, marketing mail off, a personal code the key may not create, a
shared code the shop does not have; the dry run too refuses a state store that belongs to another shop.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final

from bridge.clock import Clock
from bridge.commands.campaign.load import CampaignError, load_campaign
from bridge.commands.check import PERSONAL_CODES_REFUSED
from bridge.commands.explain import printable
from bridge.config import Settings
from bridge.cycle.belongs import ForeignStoreError, store_warning
from bridge.cycle.terms import languages_of
from bridge.delivery.budget import Budget, Limits
from bridge.errors import ConfigError, ShopPermissionError
from bridge.model.records import Customer
from bridge.plan import campaigns as plan
from bridge.plan.campaign_file import Campaign
from bridge.shop import audience
from bridge.shop.client import ShopClient
from bridge.shop.profile import load_profile
from bridge.state import campaigns as state
from bridge.state.store import Store

FIRST: Final = 5  # recipients shown one by one


@dataclass
class Tally:
    """What the pass found (a dry run) or queued (`--yes`)."""

    languages: Counter[str] = field(default_factory=Counter)
    fallbacks: Counter[str] = field(default_factory=Counter)
    left_out: Counter[str] = field(default_factory=Counter)
    already: int = 0
    queued: int = 0
    first: list[str] = field(default_factory=list)
    taken: dict[str, int] = field(default_factory=dict)  # addresses this pass gave an email (dry run)
    # A dry run writes nothing, so it remembers each address it gave an email. With `--yes` each batch is
    # committed before the next is planned and the store says (state.memory, an indexed lookup): the pass
    # then holds no address, whatever the size of the shop (benchmarks/campaigns.py (a)).
    remembers: bool = True

    @property
    def recipients(self) -> int:
        return sum(self.languages.values())

    def add(self, batch: plan.BatchPlan) -> None:
        self.languages.update(batch.languages)
        self.fallbacks.update(batch.fallbacks)
        self.left_out.update(batch.left_out)
        self.already += batch.already
        if self.remembers:
            self.taken.update(batch.taken)
        for decision in batch.decisions[: FIRST - len(self.first)]:
            self.first.append(f"{printable(decision.recipient_email)} ({decision.language})")


@dataclass(frozen=True)
class Setup:
    """What the pass needs besides the file: the shop's languages and currency, the budget's view."""

    rules: plan.Rules
    record: state.Record | None
    ahead: int
    room_today: int
    per_day: int
    domain: str
    warnings: tuple[str, ...]


def send_campaign(
    client: ShopClient,
    store: Store,
    settings: Settings,
    clock: Clock,
    path: Path,
    *,
    yes: bool = False,
    after_batch: Callable[[int], None] | None = None,
) -> Iterator[str]:
    """The dry run's (or, with `yes`, the queueing's) lines for the terminal. `after_batch` is called with
    the emails queued so far after each batch's transaction (tests stop there)."""
    campaign = load_campaign(path)
    setup = prepare(client, store, settings, clock.now(), campaign, path, yes=yes)
    if yes:
        state.start_pass(
            store, campaign.name, campaign.content_hash, single_use=_single_use(campaign), now=clock.now()
        )
    tally = Tally(remembers=not yes)
    for batch in audience.customers(client):
        planned = _plan(client, store, campaign, setup.rules, batch, tally.taken)
        tally.add(planned)
        if yes:
            applied = state.queue_batch(
                store,
                campaign.name,
                planned.decisions,
                planned.left_out,
                now=clock.now(),
                domain=setup.domain,
            )
            tally.queued += applied.queued
            tally.already += len(planned.decisions) - applied.queued
            if after_batch is not None:
                after_batch(tally.queued)
    if yes:
        state.finish_pass(store, campaign.name, now=clock.now())
    yield from report(campaign, setup, tally, path, yes=yes)


def _single_use(campaign: Campaign) -> bool:
    return campaign.discount is not None and campaign.discount.single_use


def _plan(
    client: ShopClient,
    store: Store,
    campaign: Campaign,
    rules: plan.Rules,
    batch: list[Customer],
    taken: dict[str, int],
) -> plan.BatchPlan:
    """One batch: screened, looked up in the store, its orders read when a filter needs them, planned."""
    chosen = plan.candidates(batch, campaign, rules)
    with store.read() as conn:
        memory = state.memory(conn, campaign.name, [(c.id, c.email) for c in chosen])
    memory = dataclasses.replace(memory, taken={**taken, **memory.taken})
    last_orders: dict[int, datetime] = {}
    since = plan.order_window_start(campaign, rules.now)
    if since is not None:
        out = memory.unsubscribed | memory.suppressed
        asked = [c.id for c in chosen if c.email.strip().lower() not in out]
        last_orders = audience.last_valid_orders(client, asked, since)
    return plan.plan_batch(batch, campaign, rules, memory, last_orders)


def prepare(
    client: ShopClient,
    store: Store,
    settings: Settings,
    now: datetime,
    campaign: Campaign,
    path: Path,
    *,
    yes: bool,
) -> Setup:
    """Everything checked before the first customer is read; CampaignError / ConfigError when it cannot go
    (ForeignStoreError when the state store belongs to another shop: what it knows is that shop's)."""
    if yes and not settings.marketing_enabled:
        raise ConfigError(
            "UNSUBSCRIBE_URL is empty, so marketing mail is off and no campaign can go: set it"
            " (config.example.env says how)"
        )
    foreign = store_warning(client, settings)  # its unsubscribes and sends are another shop's
    if foreign is not None:
        raise ForeignStoreError(foreign)
    counted = set(settings.marketing_consent)
    if not set(campaign.consent_fields) <= counted:
        raise CampaignError(
            f'{path.name}: audience = "{campaign.audience}", but MARKETING_CONSENT counts only'
            f" {', '.join(sorted(counted))} as consent: choose another audience, or add"
            f" {', '.join(sorted(set(campaign.consent_fields) - counted))} to MARKETING_CONSENT"
        )
    profile = load_profile(client, settings)
    languages = languages_of(profile)
    _check_languages(campaign, path, set(languages.values()), settings.default_language)
    with store.read() as conn:
        try:
            record = state.check_unchanged(conn, campaign.name, campaign.content_hash)
        except state.ChangedCampaign:
            raise CampaignError(_changed(campaign, path)) from None
        ahead = state.waiting_ahead(conn)
    currency = audience.default_currency(client) if campaign.discount is not None else ""
    rules = plan.Rules(languages, settings.default_language, currency, profile.identity.zone, now)
    warnings = _code_checks(client, campaign, rules, path, yes=yes)
    limits = Limits.from_settings(settings)
    per_day = limits.cap("marketing")
    room_today = max(0, per_day - Budget(limits).usage(store, now).last_day)
    return Setup(rules, record, ahead, room_today, per_day, profile.identity.domain, tuple(warnings))


def _check_languages(campaign: Campaign, path: Path, shop: set[str], default: str) -> None:
    unknown = [iso for iso in campaign.languages if iso not in shop]
    if unknown:
        raise CampaignError(
            f"{path.name}: languages names {', '.join(unknown)}, which the shop does not have"
            f" (it has {', '.join(sorted(shop))})"
        )
    missing = plan.missing_sections(campaign, sorted(shop), default)
    if missing:
        raise CampaignError(
            f"{path.name}: customers reading {', '.join(missing)} would get no text: add a [{default}]"
            f" section (the shop's default language, for every language without its own) or"
            f" [{'], ['.join(missing)}]"
        )


def _changed(campaign: Campaign, path: Path) -> str:
    return (
        f'{path.name}: the campaign "{campaign.name}" was queued from another version of this file: to'
        f' send the changed text, give it a new name (name = "{campaign.name}-2"); to go on with the'
        " campaign as queued, restore the file"
    )


def _code_checks(
    client: ShopClient, campaign: Campaign, rules: plan.Rules, path: Path, *, yes: bool
) -> list[str]:
    """Personal codes: the key must be allowed to create them (`--yes`). A shared code: still valid, and
    in the shop. Returns warnings for the dry run; raises when `--yes` would queue emails that fail."""
    discount = campaign.discount
    if discount is None:
        return []
    if discount.single_use:
        if yes and not client.can_create_cart_rules():
            raise CampaignError(f"{path.name}: {PERSONAL_CODES_REFUSED}")
        return []
    shared = plan.shared_code(discount, rules)
    if shared["valid_until"] and datetime.fromisoformat(shared["valid_until"]) <= rules.now:
        raise CampaignError(f"{path.name}: [discount] valid_until has passed: write a later date")
    try:
        found = client.find_cart_rule(discount.code) is not None
    except ShopPermissionError:
        return [f"the shared code {discount.code} could not be looked up (the key may not read cart_rules)"]
    if found:
        return []
    missing = (
        f"the shop has no discount code {discount.code}: create it in Catalog → Discounts before the"
        " campaign goes"
    )
    if yes:
        raise CampaignError(f"{path.name}: {missing}")
    return [missing]


def report(campaign: Campaign, setup: Setup, tally: Tally, path: Path, *, yes: bool) -> Iterator[str]:
    yield f'Campaign "{campaign.name}": audience {campaign.audience}; {offer(campaign, setup.rules.currency)}'
    if setup.record is not None and setup.record.status == state.QUEUEING and yes:
        yield "  The last run stopped before its end: this one went on from there, with no duplicate."
    by_language = ", ".join(f"{iso}: {n}" for iso, n in sorted(tally.languages.items())) or "none"
    yield f"  Recipients: {tally.recipients} ({by_language})"
    default = setup.rules.default_language
    for iso, count in sorted(tally.fallbacks.items()):
        yield f"  No [{iso}] text: {count} customer(s) reading {iso} get the [{default}] text (the default)"
    left = ", ".join(
        f"{reason}: {tally.left_out[reason]}" for reason in plan.REASONS_ALL if tally.left_out[reason]
    )
    yield f"  Left out: {sum(tally.left_out.values())}" + (f" ({left})" if left else "")
    if tally.already:
        yield f"  Already queued or sent by an earlier run: {tally.already} (not sent again)"
    if tally.first:
        yield f"  First recipients: {', '.join(tally.first)}"
    for warning in setup.warnings:
        yield f"  Warning: {warning}"
    count = tally.queued if yes else tally.recipients
    days = plan.days_needed(count, setup.ahead, setup.room_today, setup.per_day)
    yield (
        f"  Sending: {setup.per_day} marketing emails a day at most (DAILY_SEND_LIMIT less the share kept"
        f" for order emails), {setup.ahead} email(s) waiting ahead: {days} day(s)"
    )
    if yes:
        yield f"Queued {tally.queued} email(s): `bridge campaign list` and `bridge status` show progress."
    else:
        yield f"Nothing was queued (a dry run): run `bridge campaign send {path} --yes` to queue it."


def offer(campaign: Campaign, currency: str) -> str:
    """What the campaign offers, in a few words."""
    discount = campaign.discount
    if discount is None:
        return "no discount code"
    off = f"{discount.percent}% off" if discount.percent is not None else f"{discount.amount} {currency} off"
    minimum = discount.minimum_amount
    extra = f", orders from {minimum} {currency}" if minimum is not None else ""
    extra += ", free shipping" if discount.free_shipping else ""
    if discount.single_use:
        return (
            f"a personal single-use code per email ({off}{extra}), valid {discount.valid_days} day(s) from"
            " its sending, created in the shop just before the email goes"
        )
    return f"the shared code {discount.code} ({off}{extra})"
