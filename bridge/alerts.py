"""Owner alerts: one email to ADMIN_EMAIL per incident, and the open incidents for `bridge status`.

Two incidents are watched:
- the shop unreachable: opened by the first failed poll after a successful one, closed by the next
  successful poll. The owner is emailed once it has lasted ALERT_AFTER: a shop restarting for a minute is
  not worth an email;
- sending paused (refused credentials, Gmail's quota, throttled logins): opened when a delivery run ends
  paused, closed when one ends unpaused. The owner is emailed at once: the pause itself already waits.
- a second sender (bridge.mailbox.senders): another bridge's emails in the account's Sent folder. Opened
  when the first is seen, closed by the owner's `bridge mailbox confirm-sender`; emailed at once
  (`alert:second_sender:<since>`), while marketing mail waits for the confirmation.

An incident is kept in the store's cursors (when it began), so `bridge run`, `bridge sync` and a restarted
bridge share it. Its alert is an outbox row whose idempotency key names the incident
(`alert:shop_unreachable:<since>`, `alert:sending_paused:<kind>:<since>`): queuing it again is a no-op, so
each incident mails the owner once, and a later incident (a later `since`) mails again.

The alert travels like any email, through the same SMTP server. It is queued ahead of the customers' mail
(priority -1; theirs is 0) and without a deadline, so a paused sender sends it first once sending works
again, and a quota pause keeps it queued (its attempt unspent) instead of dropping it. It is one email, and
the budget counts it as Gmail does. A sending incident ends when a delivery run *ends* unpaused, not when
one email got through: Gmail's rolling quota lets an email through now and then, and ending the incident
there would queue a new alert into every such gap, spending the customers' budget on alerts.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from bridge.config import Settings, format_duration
from bridge.delivery.deliver import DeliveryResult, paused, stored_identity
from bridge.delivery.identity import identity_for_test
from bridge.model.headers import mask_email
from bridge.model.identity import ShopIdentity
from bridge.model.kinds import OWNER_ALERT, get_kind
from bridge.state import cursors, outbox
from bridge.state.store import Store, Tx

log = logging.getLogger(__name__)

Problem = Literal["shop_unreachable", "sending_paused"]
SHOP_UNREACHABLE: Final = "shop_unreachable"
SENDING_PAUSED: Final = "sending_paused"
SECOND_SENDER: Final = "second_sender"
KIND: Final = OWNER_ALERT
PRIORITY: Final = get_kind(OWNER_ALERT).priority  # ahead of every customer email


@dataclass(frozen=True)
class Incident:
    """An open incident, as `bridge status` shows it."""

    problem: Problem
    since: datetime
    pause_kind: str  # "quota", "login", "credentials"; "" for the shop (or a pause of no known kind)
    alert_at: datetime  # when the owner's alert is (or was) due: ALERT_AFTER after `since` for the shop
    alert_id: int | None  # the alert's outbox row, once queued
    alert_status: str | None  # that row's status

    @property
    def key(self) -> str:
        return alert_key(self.problem, self.since, self.pause_kind)


def alert_key(problem: Problem, since: datetime, pause_kind: str = "") -> str:
    """The idempotency key of an incident's alert email: the incident's name."""
    if problem == SHOP_UNREACHABLE:
        return f"alert:{SHOP_UNREACHABLE}:{since.isoformat()}"
    return f"alert:{SENDING_PAUSED}:{pause_kind or 'pause'}:{since.isoformat()}"


def after_poll(store: Store, settings: Settings, *, now: datetime, error: str | None) -> bool:
    """Open, continue or close the shop incident after a poll that started at `now` (`error`: the poll's
    one-line failure, None when it succeeded). True when the incident's alert is queued and not sent yet:
    the caller may deliver it now, since the shop being down says nothing about SMTP."""
    domain = _message_id_domain(store, settings) if error is not None else ""
    with store.transaction() as tx:
        marks = cursors.load(tx).alerts
        since = marks.shop_since
        if error is None:
            if since is not None:
                cursors.save_alerts(tx, dataclasses.replace(marks, shop_since=None), now=now)
                log.info("the shop answers again; it could not be read for %s", format_duration(now - since))
            return False
        if since is None:
            since = now
            cursors.save_alerts(tx, dataclasses.replace(marks, shop_since=since), now=now)
            log.warning(
                "incident: the shop cannot be read (%s); %s",
                error,
                _who(settings, f"told if this lasts {format_duration(settings.alert_after)}"),
            )
        if now - since < settings.alert_after or settings.admin_email is None:
            return False
        key = alert_key(SHOP_UNREACHABLE, since)
        context = _context(tx, SHOP_UNREACHABLE, "", since, error, "")
        return _alert(tx, settings, key, context, now=now, domain=domain)


def after_delivery(store: Store, settings: Settings, *, now: datetime, result: DeliveryResult) -> None:
    """Open, continue or close the sending incident after a delivery run ended with `result`."""
    pause = paused(store, now) if result.stopped_by == "pause" else None
    domain = _message_id_domain(store, settings) if result.stopped_by == "pause" else ""
    with store.transaction() as tx:
        marks = cursors.load(tx).alerts
        since = marks.sending_since
        if result.stopped_by != "pause":
            if since is not None:
                closed = dataclasses.replace(marks, sending_since=None, sending_kind="")
                cursors.save_alerts(tx, closed, now=now)
                log.info("sending works again; it was paused for %s", format_duration(now - since))
            return
        reason = pause.reason if pause is not None else (result.paused or "")
        if since is None:
            since = now
            kind: str = pause.kind if pause is not None and pause.kind is not None else ""
            opened = dataclasses.replace(marks, sending_since=since, sending_kind=kind)
            cursors.save_alerts(tx, opened, now=now)
            log.warning(
                "incident: sending is paused (%s); %s",
                kind or "paused",
                _who(settings, "told first thing when sending works again"),
            )
        else:
            kind = marks.sending_kind
        if settings.admin_email is None:
            return
        # deliver.py writes a pause's reason as "<the server's reply> — <what it means, what to do>".
        error, _, advice = reason.partition(" — ")
        key = alert_key(SENDING_PAUSED, since, kind)
        context = _context(tx, SENDING_PAUSED, kind, since, error, advice)
        _alert(tx, settings, key, context, now=now, domain=domain)


def second_sender_key(since: datetime) -> str:
    """The idempotency key of a second sender incident's alert email."""
    return f"alert:{SECOND_SENDER}:{since.isoformat()}"


def second_sender(
    store: Store, settings: Settings, *, now: datetime, since: datetime, senders: Mapping[str, str]
) -> bool:
    """Alert the owner about another bridge sending as this account (`senders`: its store id → its
    Message-ID domain), once per incident. True while the alert waits to be sent."""
    if settings.admin_email is None:
        return False
    domain = _message_id_domain(store, settings)
    where = "; ".join(f"store {store_id}, Message-ID domain {at}" for store_id, at in sorted(senders.items()))
    error = f"the Sent folder has emails of another bridge sending as this account ({where})"
    advice = (
        "stop the other bridge (or point it at another account), then run `bridge mailbox confirm-sender`;"
        " marketing mail waits until then"
    )
    with store.transaction() as tx:
        context = _context(tx, SECOND_SENDER, "", since, error, advice)
        return _alert(tx, settings, second_sender_key(since), context, now=now, domain=domain)


def open_incidents(store: Store, settings: Settings) -> tuple[Incident, ...]:
    """The incidents open now, each with its alert email's outbox row if one was queued."""
    with store.read() as tx:
        marks = cursors.load(tx).alerts
        found: list[Incident] = []
        shop_since, sending_since = marks.shop_since, marks.sending_since
        if shop_since is not None:
            found.append(_incident(tx, SHOP_UNREACHABLE, shop_since, "", shop_since + settings.alert_after))
        if sending_since is not None:
            found.append(_incident(tx, SENDING_PAUSED, sending_since, marks.sending_kind, sending_since))
    return tuple(found)


def _incident(tx: Tx, problem: Problem, since: datetime, kind: str, alert_at: datetime) -> Incident:
    row = outbox.find(tx, alert_key(problem, since, kind))
    return Incident(
        problem, since, kind, alert_at, row.id if row is not None else None, row.status.value if row else None
    )


def _alert(
    tx: Tx, settings: Settings, key: str, context: dict[str, Any], *, now: datetime, domain: str
) -> bool:
    """Queue the incident's alert (a no-op once queued); True while it waits to be sent."""
    admin = settings.admin_email
    if admin is None:
        return False
    intent = outbox.EmailIntent(
        idempotency_key=key,
        kind=KIND,
        category="transactional",
        priority=PRIORITY,
        recipient_email=admin.addr_spec,
        recipient_name=admin.display_name or None,
        language=settings.default_language,
        context=context,
        not_before=now,
        expires_at=None,  # late is better than never: a pause must not expire the alert about it
    )
    if outbox.enqueue(tx, intent, now=now, message_id_domain=domain):
        log.info("owner alert queued for %s (%s)", mask_email(admin.addr_spec), key)
        log.debug("owner alert %s goes to %s", key, admin.addr_spec)
    row = outbox.find(tx, key)
    return row is not None and row.status in outbox.DUE


def _context(tx: Tx, problem: str, kind: str, since: datetime, error: str, advice: str) -> dict[str, Any]:
    """The owner_alert context (bridge.model.kinds.OwnerAlertContext)."""
    waiting = outbox.count_waiting(tx, other_than=KIND)
    return {
        "problem": problem,
        "pause_kind": kind,
        "date": since.isoformat(),
        "error": error.strip(),
        "advice": advice.strip() if advice.strip() != error.strip() else "",
        "waiting": waiting,
    }


def sender_identity(store: Store, settings: Settings) -> ShopIdentity:
    """Who signs an owner alert: the shop as the first run (and every poll that read it since) recorded
    it; with no state yet, the settings (MAIL_FROM, MAIL_REPLY_TO), as for `bridge test-email`."""
    return stored_identity(store) or identity_for_test(settings)


def _message_id_domain(store: Store, settings: Settings) -> str:
    return sender_identity(store, settings).domain if settings.admin_email is not None else ""


def _who(settings: Settings, when: str) -> str:
    if settings.admin_email is None:
        return "no ADMIN_EMAIL to tell: `bridge status` shows it"
    return f"ADMIN_EMAIL ({settings.admin_email.addr_spec}) is {when}"
