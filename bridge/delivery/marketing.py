"""The last word on a marketing email just before it is sent, and the unsubscribe links it carries.

A cart reminder or a review request was decided minutes or days ago; by the time it is claimed the
customer may have unsubscribed, ordered, or the owner may have turned marketing mail off. Delivery asks
`MarketingGate.check` and cancels (with the reason, for `bridge explain`) or waits (the shop did not
answer: better a reminder a few minutes late than one for a cart that just became an order; another bridge
sends as this account and the owner has not confirmed it yet: bridge.mailbox.senders).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from bridge.config import Settings
from bridge.errors import ShopError
from bridge.model.automation_kinds import WINBACK
from bridge.model.campaign_kinds import CAMPAIGN
from bridge.model.records import Customer
from bridge.plan import campaigns, news
from bridge.plan import carts as cart_rules
from bridge.plan.consent import consent_basis, no_consent_reason
from bridge.shop.client import ShopClient
from bridge.state import outbox
from bridge.state.carts import series_of
from bridge.state.mailbox import second_sender
from bridge.state.plans import stop_for_orders
from bridge.state.store import Store
from bridge.state.unsubscribes import unsubscribed
from bridge.web.unsubscribe import Signer, UnsubscribeLinks, links, load_key

log = logging.getLogger(__name__)

SHOP_RETRY: Final = timedelta(minutes=5)


@dataclass(frozen=True)
class Verdict:
    action: Literal["send", "cancel", "wait"]
    reason: str = ""
    until: datetime | None = None


SEND: Final = Verdict("send")


class MarketingGate:
    """Built once per process from the settings (`bridge.app.open_bridge`)."""

    def __init__(
        self, settings: Settings, store: Store, client: ShopClient | None, *, signer: Signer | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self.client = client
        self.signer = signer or Signer(load_key(settings.state_dir, settings.unsubscribe_secret))

    def links(self, row: outbox.OutboxRow, shop_email: str) -> UnsubscribeLinks:
        mailto = (
            self.settings.unsubscribe_mailto.addr_spec if self.settings.unsubscribe_mailto else shop_email
        )
        return links(
            row.recipient_email,
            base_url=self.settings.unsubscribe_url,
            mailto=mailto,
            language=row.language or self.settings.default_language,
            signer=self.signer,
        )

    def check(self, row: outbox.OutboxRow, now: datetime) -> Verdict:
        if not self.settings.marketing_enabled:
            return Verdict("cancel", "marketing mail is off (UNSUBSCRIBE_URL is empty)")
        with self.store.read() as tx:
            gone = unsubscribed(tx, row.recipient_email)
            other = second_sender(tx)
        if other is not None:  # another bridge sends as this account: bridge.mailbox.senders
            why = "a second sender is in the Sent folder: marketing waits for `bridge mailbox confirm-sender`"
            return Verdict("wait", why, now + SHOP_RETRY)
        if gone is not None:
            return Verdict("cancel", f"the address unsubscribed ({gone.source}, {gone.created_at:%Y-%m-%d})")
        if row.customer_id is not None:
            verdict = self._consent_still_given(row, now)
            if verdict is not SEND:
                return verdict
        if row.kind == cart_rules.KIND and row.cart_id is not None:
            return self._cart_still_abandoned(row, now)
        if row.kind == WINBACK and row.customer_id is not None:
            return self._still_away(row, now)
        return SEND

    def _consent_still_given(self, row: outbox.OutboxRow, now: datetime) -> Verdict:
        """Consent read when the email was decided may be gone by now (a review request waits two weeks):
        the customer may have unticked the newsletter box, or been deleted. The newest account with the
        same address speaks for the person too: a "no" given in a new account outranks an old guest
        checkout's "yes"."""
        if self.client is None:
            return Verdict(
                "wait", "the shop must be asked whether the customer still consents", now + SHOP_RETRY
            )
        try:
            # One read in the common case: the accounts with the email's address, its customer among them
            # (read by id only when the customer's address changed in the shop since).
            same_address = self.client.customers_with_email(row.recipient_email)
            found = [c for c in same_address if c.id == row.customer_id] or self.client.customers(
                [row.customer_id or 0]
            )
            customer = found[0] if found and not found[0].deleted else None
        except ShopError as error:
            return Verdict(
                "wait", f"waiting for the shop to confirm the customer's consent: {error}", now + SHOP_RETRY
            )
        if customer is None:
            return Verdict("cancel", f"not sent: customer #{row.customer_id} no longer exists in the shop")
        if row.consent == cart_rules.FIRST_WITHOUT_CONSENT:
            return SEND  # the owner chose to send the first reminder without consent
        why = self._no_consent(row, customer)
        newest = max((c for c in same_address if not c.deleted), key=lambda c: c.id, default=customer)
        if why is None and newest.id > customer.id and (later := self._no_consent(row, newest)) is not None:
            why = f"the newest account with this address (customer #{newest.id}): {later}"
        return SEND if why is None else Verdict("cancel", f"not sent: {why}")

    def _no_consent(self, row: outbox.OutboxRow, customer: Customer) -> str | None:
        """Why this account's consent does not cover the email, or None."""
        if consent_basis(customer, self.settings.marketing_consent) is None:
            return no_consent_reason(customer, self.settings.marketing_consent)
        if row.kind == CAMPAIGN:
            return campaigns.audience_lost(row.context, customer)
        if row.kind == news.KIND and news.news_consent(customer, self.settings.marketing_consent) is None:
            return news.no_news_consent_reason(customer, self.settings.marketing_consent)
        return None

    def _still_away(self, row: outbox.OutboxRow, now: datetime) -> Verdict:
        """A win-back waits up to a few days in the queue: a customer who ordered meanwhile is back."""
        last = _last_order_at(row)
        if last is None:
            return SEND
        if self.client is None:
            return Verdict(
                "wait", "the shop must be asked whether the customer ordered again", now + SHOP_RETRY
            )
        try:
            since = [
                o for o in self.client.orders_placed_by([row.customer_id or 0], last) if o.id != row.order_id
            ]
        except ShopError as error:
            return Verdict(
                "wait", f"waiting for the shop to say whether the customer ordered: {error}", now + SHOP_RETRY
            )
        if since:
            return Verdict("cancel", f"not sent: the customer ordered again (order #{since[0].id})")
        return SEND

    def _cart_still_abandoned(self, row: outbox.OutboxRow, now: datetime) -> Verdict:
        series = series_of(self.store, row.cart_id or 0)
        if series is None:
            return Verdict("cancel", "the cart's reminder series is unknown")
        if series.status == "stopped":
            return Verdict("cancel", f"not sent: {series.stop_reason}")
        if self.client is None:
            return Verdict("wait", "the shop must be asked whether the cart was ordered", now + SHOP_RETRY)
        try:
            ordered = self.client.orders(cart_ids=[series.cart_id], fields=cart_rules.ORDER_FIELDS)
            later = [
                order
                for order in self.client.orders_placed_by([series.customer_id], series.cart_updated_at)
                if order.date_add is not None and order.date_add >= series.cart_updated_at
            ]
        except ShopError as error:
            log.info("outbox #%s: cart reminder waits, the shop did not answer: %s", row.id, error)
            return Verdict(
                "wait", f"waiting for the shop to say whether the cart was ordered: {error}", now + SHOP_RETRY
            )
        found = ordered or later
        if not found:
            return SEND
        with self.store.transaction() as conn:
            stopped = stop_for_orders(conn, found, now=now)
        reason = (
            stopped[0][1] if stopped else f"the customer ordered (order {found[0].reference or found[0].id})"
        )
        return Verdict("cancel", f"not sent: {reason}")


def _last_order_at(row: outbox.OutboxRow) -> datetime | None:
    """When the win-back's lapsed order was placed (its context, written by bridge.plan.automations)."""
    last_order = row.context.get("last_order")
    text = last_order.get("date") if isinstance(last_order, dict) else None
    try:
        return datetime.fromisoformat(text) if isinstance(text, str) and text else None
    except ValueError:
        return None
