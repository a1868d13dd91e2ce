"""One cycle, the only composition of the bridge's work: `bridge sync`, `bridge run`, the owner alerts and
the demo all go through it.

- poll: the credit-slip pass (bridge.cycle.service: before the order pass, so one refund gets one email),
  the order pass and the cart pass (each: read → plan → perform effects → apply), the new-product
  digest (bridge.cycle.news: NEW_PRODUCTS, once a day or a week, marketing mail on), the birthday and
  win-back passes (bridge.cycle.automations: once a day each, marketing mail on), the owner's watch
  of customers' messages (bridge.cycle.owner; new orders ride on the order pass), the customers'
  conversations (replies and acknowledgements, bridge.cycle.service; the two share one read of the new
  messages and their threads, bridge.cycle.messages), the terms watch (TERMS_PAGES:
  the owner told of a changed page, bridge.cycle.terms), then the poll's
  time and outcome recorded and the shop incident opened or closed, then the purge of personal data past
  its lifetime (bridge.state.retention: at most hourly, from the store alone). The first poll of a process
  first checks that the state store belongs to this shop (bridge.cycle.belongs): another shop's store is
  refused before anything is written or sent;
- deliver: the mailbox step (bridge.mailbox.step, IMAP on: unknown sends settled from the Sent folder,
  bounces read from the Inbox), then claim → render → send → record, one email at a time, then the
  sending incident opened or closed.

A shop error ends the poll, never the cycle: it is recorded, counted for the owner's alert, and retried
next time. SMTP may work while the shop does not, so an alert that falls due is delivered at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bridge import alerts
from bridge.app import Bridge
from bridge.clock import Clock
from bridge.config import Settings
from bridge.cycle import automations, news, owner, service, terms
from bridge.cycle.belongs import ForeignStoreError, confirm_shop, may_deliver_unconfirmed
from bridge.cycle.carts import CartPass, enabled, watch_carts
from bridge.cycle.messages import PollMessages
from bridge.cycle.orders import poll_orders
from bridge.delivery.budget import budget_for
from bridge.delivery.deliver import DeliveryResult, deliver_due
from bridge.delivery.invoices import InvoiceAttacher
from bridge.delivery.marketing import MarketingGate
from bridge.delivery.transports import Transport
from bridge.errors import BridgeError, ShopError, StoreError
from bridge.mail.render import Renderer
from bridge.mailbox import step as mailbox
from bridge.model.cursors import PollRecord
from bridge.model.profile import ShopProfile
from bridge.plan.rules import Decision
from bridge.shop.client import ShopClient
from bridge.state import cursors, retention
from bridge.state.store import Store

log = logging.getLogger(__name__)


@dataclass
class PollResult:
    """What one poll did (orders and carts), or the error that ended it."""

    baseline: bool = False
    changes: int = 0
    queued: int = 0
    skipped: int = 0
    held: int = 0  # older than MAX_EMAIL_AGE: waiting for `bridge outbox release`
    decisions: list[Decision] = field(default_factory=list)
    carts: CartPass | None = None  # the abandoned-cart pass that followed, if one ran
    error: BridgeError | None = None
    alert_due: bool = False  # the owner's alert about the shop waits to be delivered


@dataclass
class SyncSummary:
    """What one cycle did: the one line `bridge sync` prints."""

    poll: PollResult
    delivery: DeliveryResult

    def line(self) -> str:
        if self.poll.baseline:
            head = "first run: recorded where the shop stands, nothing to send"
        else:
            head = (
                f"{self.poll.changes} change(s) seen, {self.poll.queued} queued, {self.poll.skipped} skipped"
            )
            if self.poll.held:
                head += f", {self.poll.held} held (older than MAX_EMAIL_AGE: see `bridge status`)"
        carts = self.poll.carts
        if carts is not None and carts.queued:
            head += f", {carts.queued} cart reminder(s) queued"
        d = self.delivery
        tail = f"; {d.sent} sent, {d.retry} to retry, {d.failed} failed"
        if d.unknown:
            tail += f", {d.unknown} unknown"
        if d.paused:
            tail += f"; {d.paused}"
        return head + tail


class Cycle:
    """The poll step and the delivery step over one shop, one store and one transport."""

    def __init__(
        self,
        client: ShopClient,
        store: Store,
        transport: Transport,
        renderer: Renderer,
        settings: Settings,
        clock: Clock,
        *,
        marketing: MarketingGate | None = None,
        invoices: InvoiceAttacher | None = None,
    ) -> None:
        self.client, self.store, self.transport, self.renderer = client, store, transport, renderer
        self.settings, self.clock = settings, clock
        if marketing is None and settings.marketing_enabled:
            marketing = MarketingGate(settings, store, client)
        self.marketing = marketing
        if invoices is None and settings.invoice_attach:
            invoices = InvoiceAttacher.from_settings(settings, client)
        self.invoices = invoices  # INVOICE_ATTACH=yes: the invoice PDF, fetched at send time
        self.budget = budget_for(settings)  # one budget for the cycle's life: its pace spans runs
        self.shop_confirmed = False  # the store was found to belong to this shop (once per process)

    @classmethod
    def of(cls, bridge: Bridge) -> Cycle:
        """The cycle over an opened bridge (its marketing gate and invoice fetcher have shop clients of
        their own)."""
        b = bridge
        return cls(
            b.client,
            b.store,
            b.transport,
            b.renderer,
            b.settings,
            b.clock,
            marketing=b.marketing,
            invoices=b.invoices,
        )

    def poll(
        self, *, since: datetime | None = None, confirm: Callable[[list[Decision]], None] | None = None
    ) -> PollResult:
        """Read the shop and queue what is due; a failure is recorded and returned, never raised, except
        ForeignStoreError: another shop's store is left as it is."""
        started = self.clock.now()
        try:
            if not self.shop_confirmed:
                confirm_shop(self.client, self.store, self.settings, now=started)
                self.shop_confirmed = True
            service.before_orders(self.client, self.store, self.settings, now=started)
            orders = poll_orders(
                self.client, self.store, self.settings, now=started, since=since, confirm=confirm
            )
        except ForeignStoreError:
            raise
        except BridgeError as error:
            self._record(started, str(error))
            due = alerts.after_poll(self.store, self.settings, now=started, error=str(error))
            self._purge()
            return PollResult(error=error, alert_due=due)
        self._record(started, None)
        alerts.after_poll(self.store, self.settings, now=started, error=None)
        result = PollResult(
            baseline=orders.baseline,
            changes=orders.changes,
            queued=orders.queued,
            skipped=orders.skipped,
            held=orders.held,
            decisions=orders.decisions,
        )
        result.carts = self._carts(orders.profile)
        news.after_poll(self.client, self.store, self.settings, now=self.clock.now(), profile=orders.profile)
        automations.after_poll(
            self.client, self.store, self.settings, now=self.clock.now(), profile=orders.profile
        )
        shared = PollMessages(self.client, self.store, self.settings)  # one read for the two passes
        for after in (owner.after_poll, service.after_poll):
            after(
                self.client,
                self.store,
                self.settings,
                now=self.clock.now(),
                profile=orders.profile,
                messages=shared,
            )
        terms.after_poll(self.client, self.store, self.settings, now=self.clock.now(), profile=orders.profile)
        self._purge()
        return result

    def deliver(self, *, should_stop: Callable[[], bool] | None = None) -> DeliveryResult:
        """Send what is due, as far as the budget and any pause allow (nothing while a store polled through
        another address waits for the first poll to confirm it belongs to this shop)."""
        if not self.shop_confirmed and not may_deliver_unconfirmed(self.store, self.client.base_url):
            return DeliveryResult(paused="waiting for the first poll to confirm the store is this shop's")
        mailbox.look(self.store, self.settings, now=self.clock.now())  # settles unknown sends (IMAP on)
        result = deliver_due(
            self.store,
            self.transport,
            self.renderer,
            self.clock,
            identity=alerts.sender_identity(self.store, self.settings),
            unknown_policy=mailbox.unknown_policy(self.settings),
            budget=self.budget,
            login_retry=self.settings.smtp_login_retry,
            should_stop=should_stop,
            marketing=self.marketing,
            invoices=self.invoices,
        )
        alerts.after_delivery(self.store, self.settings, now=self.clock.now(), result=result)
        return result

    def once(
        self, *, since: datetime | None = None, confirm: Callable[[list[Decision]], None] | None = None
    ) -> SyncSummary:
        """`bridge sync`: poll, then deliver. A failed poll still delivers the owner's alert, then raises."""
        polled = self.poll(since=since, confirm=confirm)
        if polled.error is not None:
            if polled.alert_due:
                self._deliver_alert()
            raise polled.error
        return SyncSummary(polled, self.deliver())

    def _record(self, started: datetime, error: str | None) -> None:
        """The poll's time and outcome, for `bridge status`."""
        record = PollRecord(last_at=started, last_ok_at=None if error else started, last_error=error or "")
        with self.store.transaction() as conn:
            cursors.save_poll(conn, record, now=started)

    def _carts(self, profile: ShopProfile | None) -> CartPass | None:
        """The abandoned-cart pass; a shop error there is logged and left to the next pass, never allowed to
        hold up order emails (the order poll reports the shop's health)."""
        if not enabled(self.settings):
            return None
        try:
            carts = watch_carts(self.client, self.store, self.settings, now=self.clock.now(), profile=profile)
        except ShopError as error:
            log.warning("cart reminders: this pass failed, the next one tries again: %s", error)
            return None
        if carts.queued:
            log.info("carts: %s reminder(s) queued", carts.queued)
        return carts

    def _purge(self) -> None:
        """Personal data past its lifetime leaves the store (only a store confirmed to be this shop's). A
        store error here is logged and left to the next poll: the poll itself went through."""
        if not self.shop_confirmed:
            return
        keep = timedelta(days=self.settings.retention_days)
        try:
            done = retention.purge(self.store, now=self.clock.now(), retention=keep)
        except StoreError as error:
            log.warning("privacy: purging old personal data failed, the next poll tries again: %s", error)
            return
        if done:
            log.info(
                "privacy: purged the personal details of %d email(s) finished over %d day(s) ago,"
                " the recovery links of %d cart reminder(s) whose series ended, %d ended cart series"
                " and %d expired discount code(s)",
                done.emails,
                self.settings.retention_days,
                done.links,
                done.series,
                done.codes,
            )

    def _deliver_alert(self) -> None:
        """The shop is down but SMTP may work: the owner's alert goes first. A failure here is logged,
        never raised: the poll's error is the one the command reports."""
        try:
            self.deliver()
        except BridgeError as error:
            log.error("the owner alert could not be sent: %s", error)
