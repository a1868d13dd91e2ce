"""Delivery: claim a due email, render it from its stored context, send it, record the outcome.

One email at a time, each outcome committed before the next claim (docs/design.md §3.4: per message, never
per batch). What each SMTP outcome does to the email and to the sender (docs/email-facts.md §5):

| outcome             | the email                               | the sender                               |
|---------------------|-----------------------------------------|------------------------------------------|
| sent                | sent                                    |                                          |
| transient           | retry later (backoff ±20 % jitter)      |                                          |
| quota               | back in the queue, attempt unspent      | paused (5.4.5: until room opens, ≥ 1 h)  |
| credentials         | back in the queue, attempt unspent      | paused SMTP_LOGIN_RETRY*; owner told     |
| recipient_permanent | failed                                  | address suppressed for later mail        |
| message_permanent   | failed                                  | owner told (logged as an error)          |
| unknown             | unknown (the owner's policy)            |                                          |

*A credentials pause keeps a fingerprint of the refused login: a run given other credentials (the owner
fixed SMTP_PASSWORD) logs in with them at once and, when that works, lifts the pause and sends.

Before each claim the budget (bridge.delivery.budget) is asked whether the next email may go: when the daily
budget or the per-minute pace is spent, delivery stops for this cycle and says until when; nothing is
claimed, so nothing spends an attempt. Transient failures are retried until the email expires
(`expires_at`), or, for an email without a deadline, up to MAX_ATTEMPTS (about two days).

Log lines name a recipient masked (`z***@example.com`), the server's replies too; the full address is
logged at DEBUG only.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.errors import MessageError
from typing import TYPE_CHECKING, Final, Literal

from bridge.clock import Clock
from bridge.config import Settings
from bridge.delivery.budget import Budget, Hold, budget_class, quota_resume_at
from bridge.delivery.codes import Attached, PersonalCodes, requested
from bridge.delivery.smtp import Outcome, SendResult, SmtpSender
from bridge.delivery.transports import Transport
from bridge.errors import ConfigError
from bridge.mail.render import Renderer, RenderError
from bridge.model.bridge_key import format_bridge_key
from bridge.model.headers import make_address, mask_addresses, mask_email
from bridge.model.identity import ShopIdentity
from bridge.state import cursors, outbox, sender
from bridge.state.mailbox import ensure_store_id
from bridge.state.sender import Pause, PauseKind
from bridge.state.store import Store, open_store, store_exists

if TYPE_CHECKING:
    from bridge.delivery.invoices import InvoiceAttacher
    from bridge.delivery.marketing import MarketingGate
    from bridge.web.unsubscribe import UnsubscribeLinks

log = logging.getLogger(__name__)

# Longer than the slowest possible send (SMTP DATA may take up to 10 minutes): a lease that ran out
# while the process still lives would wrongly turn a slow success into "unknown".
LEASE: Final = timedelta(minutes=15)
# Due rows looked up at once, then claimed one at a time: after a catch-up the outbox holds 100,000 rows, and
# finding the most urgent one scans it. A row queued meanwhile waits at most a page.
CLAIM_PAGE: Final = 100
MAX_ATTEMPTS: Final = 12  # with the schedule below: about two days of trying
# docs/email-facts.md §5.2: 1 m, 5 m, 15 m, 1 h, 3 h, then every 6 h; each ±20 % so that mail which failed
# together (a Gmail outage) does not come back in one burst.
RETRY_SCHEDULE: Final = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=3),
    timedelta(hours=6),
)
JITTER: Final = 0.2
QUOTA_PAUSE: Final = timedelta(hours=1)  # 421 repeated, 454 too many logins
CREDENTIALS_PAUSE: Final = timedelta(hours=1)  # the default of SMTP_LOGIN_RETRY

StopReason = Literal["pause", "daily", "marketing", "pace"]


@dataclass
class DeliveryResult:
    sent: int = 0
    retry: int = 0
    failed: int = 0
    unknown: int = 0
    deferred: int = 0  # claimed, then given back without spending an attempt (pause, marketing budget)
    paused: str | None = None  # why delivery stopped before the queue was empty, and until when
    stopped_by: StopReason | None = None
    resume_at: datetime | None = None  # when the next email may go

    def stop(self, why: StopReason, reason: str, until: datetime) -> None:
        self.stopped_by, self.paused, self.resume_at = why, reason, until


def owner_name() -> str:
    """Who holds a lease: host and process, so a stale lease can be traced to the process that died."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_is_dead(owner: str) -> bool:
    """True when a lease owner (`host:pid`) is a process of this machine that no longer runs.

    A recycled pid reads as alive: then the lease simply runs out, the safe direction.
    """
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def paused(store: Store, now: datetime) -> Pause | None:
    """The sender's pause, if one is in force at `now`."""
    pause = _pause_record(store)
    return pause if pause is not None and pause.until > now else None


def _pause_record(store: Store) -> Pause | None:
    with store.read() as conn:
        return sender.load_pause(conn)


def pause(
    store: Store,
    *,
    until: datetime,
    reason: str,
    now: datetime,
    kind: PauseKind | None = None,
    credentials: str | None = None,
) -> None:
    """Pause the whole sender until `until`; `kind` is kept with the reason so a login can lift it, and
    `credentials` (the refused login's fingerprint) so that a changed login is tried at once."""
    with store.transaction() as tx:
        sender.save_pause(tx, Pause(until, kind, reason, credentials), now=now)


def resume_after_login(store: Store, now: datetime) -> Pause | None:
    """A login just succeeded (`bridge check`, `bridge test-email`): lift a pause that a refused login or
    a TLS failure caused, and return it. Gmail's daily quota is not lifted: a login says nothing about it.
    """
    current = paused(store, now)
    if current is None or current.kind not in ("credentials", "login"):
        return None
    _clear_pause(store, now)
    log.info("sending resumes: the SMTP login works again")
    return current


def resume_after_login_in(settings: Settings, now: datetime) -> Pause | None:
    """`resume_after_login` on the configured state store, for the CLI (no store: no pause)."""
    with existing_store(settings) as store:
        return None if store is None else resume_after_login(store, now)


@contextmanager
def existing_store(settings: Settings) -> Iterator[Store | None]:
    """The configured state store, or None when it is an SQLite file that does not exist yet: commands
    that only look (`bridge check`, `bridge test-email`) do not create one."""
    if not store_exists(settings.database_url):
        yield None
        return
    with open_store(settings.database_url) as store:
        yield store


def _clear_pause(store: Store, now: datetime) -> None:
    with store.transaction() as tx:
        sender.clear_pause(tx, now=now)


def retry_delay(attempts: int, rng: Callable[[], float] = random.random) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt: the schedule's step, ±20 %."""
    if attempts < 1:
        raise ValueError("attempts counts the attempts made so far: at least 1")
    step = RETRY_SCHEDULE[min(attempts, len(RETRY_SCHEDULE)) - 1]
    return step * (1 - JITTER + 2 * JITTER * rng())


def stored_identity(store: Store) -> ShopIdentity | None:
    """The shop identity the last poll recorded (delivery renders without asking the shop)."""
    with store.read() as conn:
        values = cursors.load(conn).shop_identity
    if not values:
        return None
    return ShopIdentity(**{**values, "address_lines": tuple(values.get("address_lines", ()))})


def _hand_over(store: Store, row_id: int, owner: str, clock: Clock) -> None:
    outbox.mark_handed_over(store, row_id, owner=owner, now=clock.now())


def deliver_due(
    store: Store,
    transport: Transport,
    renderer: Renderer,
    clock: Clock,
    *,
    identity: ShopIdentity | None = None,
    unknown_policy: outbox.UnknownPolicy = "hold",
    owner: str | None = None,
    limit: int | None = None,
    budget: Budget | None = None,
    login_retry: timedelta = CREDENTIALS_PAUSE,
    rng: Callable[[], float] = random.random,
    should_stop: Callable[[], bool] | None = None,
    marketing: MarketingGate | None = None,
    invoices: InvoiceAttacher | None = None,
) -> DeliveryResult:
    """Send the due emails (up to `limit`, and as far as `budget` allows), one at a time, recording each
    outcome at once. Never waits: what cannot go now stays queued for the next cycle, and the result says
    why and until when (`paused`, `resume_at`). `budget=None` sends without limits (the file transport).
    `should_stop` is asked before each email (SIGTERM: the email in flight is finished and recorded)."""
    owner = owner or owner_name()
    now = clock.now()
    stale_pause = _settle_earlier_runs(store, unknown_policy, now)
    if stale_pause is not None and stale_pause.until > now:
        stale_pause = _try_new_credentials(store, transport, stale_pause, now, login_retry)
    if stale_pause is not None and stale_pause.until > now:
        result = DeliveryResult()
        result.stop("pause", str(stale_pause), stale_pause.until)
        return result
    run = _DeliveryRun(
        store=store,
        transport=transport,
        renderer=renderer,
        clock=clock,
        owner=owner,
        shop=identity or stored_identity(store),
        budget=budget,
        marketing=marketing,
        codes=PersonalCodes(store, marketing.client) if marketing is not None else None,
        login_retry=login_retry,
        rng=rng,
        stale_pause=stale_pause,
        credentials=transport.credentials if isinstance(transport, SmtpSender) else None,
        store_id=ensure_store_id(store, now=now),
        invoices=invoices,
    )
    while limit is None or _with_outcome(run.result) < limit:
        if should_stop is not None and should_stop():
            break
        if not run.next_email():
            break
    return run.result


def _settle_earlier_runs(store: Store, unknown_policy: outbox.UnknownPolicy, now: datetime) -> Pause | None:
    """Settle what an earlier run left (stale leases, unknown outcomes); return the last recorded pause."""
    for row_id in outbox.recover_stale(store, now=now, owner_is_dead=owner_is_dead):
        log.warning("outbox #%s: the bridge stopped while sending it; its outcome is unknown", row_id)
    outbox.resolve_unknown(store, unknown_policy, now=now)
    return _pause_record(store)


def _try_new_credentials(
    store: Store, transport: Transport, current: Pause, now: datetime, login_retry: timedelta
) -> Pause | None:
    """A credentials pause, and the transport logs in with other credentials than the refused ones (the
    owner fixed SMTP_PASSWORD): try them now. Returns the pause in force afterwards: None when the login
    worked (the pause is lifted, and this run sends), a new pause when the server refused again, the same
    one when the server could not be asked."""
    if current.kind != "credentials" or not isinstance(transport, SmtpSender):
        return current
    if current.credentials == transport.credentials:
        return current
    log.info("the SMTP credentials changed since sending paused: trying them now")
    refused = transport.login()
    if refused is None:
        _clear_pause(store, now)
        log.info("sending resumes: the new SMTP credentials work")
        return None
    if refused.outcome not in (Outcome.CREDENTIALS, Outcome.QUOTA):
        log.warning(
            "the new SMTP credentials could not be tried (%s); the next run tries again", refused.reply
        )
        return current
    return _record_pause(store, refused, now, login_retry, transport.credentials)


def _with_outcome(result: DeliveryResult) -> int:
    """The emails that reached an outcome: what `limit` counts (deferred ones do not)."""
    return result.sent + result.failed + result.retry + result.unknown


@dataclass
class _DeliveryRun:
    """One call of `deliver_due`: what each email of it shares, and the result so far."""

    store: Store
    transport: Transport
    renderer: Renderer
    clock: Clock
    owner: str
    shop: ShopIdentity | None
    budget: Budget | None
    marketing: MarketingGate | None
    codes: PersonalCodes | None  # personal discount codes, created just before their email goes
    login_retry: timedelta
    rng: Callable[[], float]
    stale_pause: Pause | None  # a pause that ran out: forgotten once mail goes again
    credentials: str | None = None  # the transport's login fingerprint, kept with a credentials pause
    store_id: str | None = None  # the X-Bridge-Key header's first half (bridge.model.bridge_key)
    invoices: InvoiceAttacher | None = None  # INVOICE_ATTACH=yes: the invoice PDF, fetched at send time
    result: DeliveryResult = field(default_factory=DeliveryResult)
    tried: set[int] = field(default_factory=set)
    page: list[int] = field(default_factory=list)  # due ids not claimed yet, most urgent first

    def next_email(self) -> bool:
        """Claim, check, send and record the next due email; False when delivery stops for this cycle."""
        now = self.clock.now()
        row = self._claim(now)
        if row is None:
            return False
        shop = self._shop_for(row, now)
        unsubscribe: UnsubscribeLinks | None = None
        if budget_class(row.category, row.kind) == "notice" and self._marketing_budget_spent(row, now):
            return False
        if row.category == "marketing":
            if self._marketing_budget_spent(row, now):
                return False
            unsubscribe = self._marketing_links(row, shop, now)
            if unsubscribe is None:  # cancelled or deferred, and recorded
                return True
            with_code = self._with_code(row, now)
            if with_code is None:  # waits for its personal code, or failed without one (recorded)
                return True
            row = with_code
        return self._send(row, shop, unsubscribe)

    def _claim(self, now: datetime) -> outbox.OutboxRow | None:
        """The next due row, leased to this run; None when nothing more goes this cycle."""
        # Transactional mail has the most room: if it may not go, nothing may, and nothing is claimed.
        hold = self.budget.hold(self.store, "transactional", now) if self.budget is not None else None
        if hold is not None:
            _stop_for(self.result, hold)
            return None
        row = self._claim_from_page(now)
        if row is None:
            return None
        if row.id in self.tried:  # retried so soon that it is due again: leave it to the next cycle
            self._defer(row, now, row.not_before, row.last_error or "")
            return None
        self.tried.add(row.id)
        return row

    def _claim_from_page(self, now: datetime) -> outbox.OutboxRow | None:
        """The next row of the page of due ids that is still due (a fresh page when it runs out)."""
        for _ in range(20):  # a page whose rows were all taken meanwhile: look again, a few times
            if not self.page:
                self.page = outbox.due_ids(self.store, now=now, limit=CLAIM_PAGE)
                if not self.page:
                    return None
            while self.page:
                row = outbox.claim(self.store, self.page.pop(0), now=now, owner=self.owner, lease=LEASE)
                if row is not None:
                    return row
        return None

    def _shop_for(self, row: outbox.OutboxRow, now: datetime) -> ShopIdentity:
        """The shop identity emails are rendered with; without one the row goes back and delivery stops."""
        if self.shop is None:
            self._defer(row, now, row.not_before, "shop identity unknown")
            raise ConfigError("the shop's identity is unknown: run `bridge sync` once to read it")
        return self.shop

    def _marketing_budget_spent(self, row: outbox.OutboxRow, now: datetime) -> bool:
        """True (the row given back, delivery stopped) when marketing's share of the budget is spent."""
        if self.budget is None:
            return False
        # The outbox claims transactional mail first, so none is due: only marketing is left.
        hold = self.budget.hold(self.store, budget_class(row.category, row.kind), now)
        if hold is None:
            return False
        self._defer(row, now, hold.until, hold.reason)
        self.result.deferred += 1
        _stop_for(self.result, hold)
        return True

    def _marketing_links(
        self, row: outbox.OutboxRow, shop: ShopIdentity, now: datetime
    ) -> UnsubscribeLinks | None:
        """The unsubscribe links of a marketing email that may go; None when the gate cancelled or deferred
        it (recorded)."""
        verdict = self.marketing.check(row, now) if self.marketing is not None else None
        if verdict is None or verdict.action == "cancel":
            why = (
                verdict.reason if verdict is not None else "marketing mail is off (UNSUBSCRIBE_URL is empty)"
            )
            outbox.mark_cancelled(self.store, row.id, owner=self.owner, now=now, reason=why)
            log.info("%s: not sent: %s", _label(row), mask_addresses(why))
            return None
        if verdict.action == "wait":
            self._defer(row, now, verdict.until or now + timedelta(minutes=5), verdict.reason)
            self.result.deferred += 1
            return None
        assert self.marketing is not None
        return self.marketing.links(row, shop.reply_to_email or shop.email)

    def _with_code(self, row: outbox.OutboxRow, now: datetime) -> outbox.OutboxRow | None:
        """The row with the personal code it offers (bridge.delivery.codes), after the gate said "send";
        None when it waits for the code or failed without one (recorded): it never goes without its code."""
        if requested(row) is None:
            return row
        attached = (
            self.codes.attach(row, now)
            if self.codes is not None  # None only without a gate, which cancelled the row already
            else Attached("wait", reason="no shop client to create its personal code")
        )
        if attached.action == "send" and attached.row is not None:
            return attached.row
        if attached.action == "wait":
            self._defer(row, now, attached.until or now + timedelta(minutes=5), attached.reason)
            self.result.deferred += 1
            return None
        outbox.mark_failed(self.store, row.id, owner=self.owner, now=now, error=attached.reason)
        log.error("%s: not sent: %s", _label(row), mask_addresses(attached.reason))
        self.result.failed += 1
        return None

    def _send(self, row: outbox.OutboxRow, shop: ShopIdentity, unsubscribe: UnsubscribeLinks | None) -> bool:
        """Send one row and record the outcome; False when the whole sender is now paused."""
        sent = _send_one(
            self.store,
            self.transport,
            self.renderer,
            shop,
            row,
            self.owner,
            self.clock,
            unsubscribe,
            self.store_id,
            self.invoices,
        )
        if sent is None:  # suppressed or not renderable: failed, and said why
            self.result.failed += 1
            return True
        now = self.clock.now()
        if sent.outcome in (Outcome.QUOTA, Outcome.CREDENTIALS):
            held = _pause_sender(self.store, row, sent, self.owner, now, self.login_retry, self.credentials)
            self.result.deferred += 1
            self.result.stop("pause", str(held), held.until)
            return False
        _record(self.store, row, sent, self.owner, now, self.result, self.rng)
        if sent.sent and self.stale_pause is not None:
            _clear_pause(self.store, self.clock.now())  # the pause ran out and mail goes again: forget it
            self.stale_pause = None
        return True

    def _defer(self, row: outbox.OutboxRow, now: datetime, not_before: datetime, reason: str) -> None:
        outbox.mark_deferred(
            self.store, row.id, owner=self.owner, now=now, not_before=not_before, reason=reason
        )


def _stop_for(result: DeliveryResult, hold: Hold) -> None:
    log.info("delivery waits: %s", hold.reason)
    result.stop(hold.limit, hold.reason, hold.until)


def _label(row: outbox.OutboxRow) -> str:
    return f"outbox #{row.id} {row.kind} for order {row.order_reference or row.order_id or '-'}"


def _send_one(
    store: Store,
    transport: Transport,
    renderer: Renderer,
    shop: ShopIdentity,
    row: outbox.OutboxRow,
    owner: str,
    clock: Clock,
    unsubscribe: UnsubscribeLinks | None = None,
    store_id: str | None = None,
    invoices: InvoiceAttacher | None = None,
) -> SendResult | None:
    """Render and send one claimed row; None when it failed before reaching the server (recorded). A
    transient result without a send: the invoice PDF it carries is worth waiting for (`invoices`)."""
    now = clock.now()
    with store.read() as conn:
        suppressed = outbox.is_suppressed(conn, row.recipient_email)
    if suppressed:
        outbox.mark_failed(store, row.id, owner=owner, now=now, error=f"address suppressed: {suppressed}")
        log.warning(
            "%s: not sent, %s is suppressed (%s)",
            _label(row),
            mask_email(row.recipient_email),
            mask_addresses(suppressed),
        )
        log.debug("%s: the suppressed address is %s", _label(row), row.recipient_email)
        return None
    try:
        rendered = renderer.render(
            row.kind,
            row.language,
            row.context,
            shop=shop,
            message_id=row.message_id,
            recipient=make_address(row.recipient_name or "", row.recipient_email),
            now=now,
            unsubscribe=unsubscribe,
            bridge_key=format_bridge_key(store_id, row.idempotency_key) if store_id else None,
        )
    except (RenderError, ValueError, IndexError, MessageError) as error:
        # A template or data problem of this one email: permanent, and the owner can read why.
        outbox.mark_failed(store, row.id, owner=owner, now=now, error=f"could not render: {error}")
        log.error("%s: could not render: %s", _label(row), mask_addresses(str(error)))
        return None
    waiting = invoices.attach(row, rendered.message) if invoices is not None else None
    if waiting is not None:  # retried like a transient failure, then sent without the PDF
        return waiting
    return transport.send(
        rendered.message,
        envelope_from=shop.from_email,
        recipients=[row.recipient_email],
        before_final_dot=functools.partial(_hand_over, store, row.id, owner, clock),
    )


def _record(
    store: Store,
    row: outbox.OutboxRow,
    sent: SendResult,
    owner: str,
    now: datetime,
    result: DeliveryResult,
    rng: Callable[[], float],
) -> None:
    """Record one outcome that leaves the sender running (quota and credentials pause it: `_pause_sender`)."""
    match sent.outcome:
        case Outcome.SENT:
            outbox.mark_sent(store, row.id, owner=owner, now=now, smtp_reply=sent.reply)
            log.info(
                "%s sent to %s, Message-ID %s", _label(row), mask_email(row.recipient_email), row.message_id
            )
            log.debug("%s sent to %s", _label(row), row.recipient_email)
            result.sent += 1
        case Outcome.TRANSIENT if row.expires_at is not None or row.attempts < MAX_ATTEMPTS:
            # With a deadline, retry until it passes (the outbox then cancels the email as expired).
            _record_retry(store, row, sent, owner, now, rng)
            result.retry += 1
        case Outcome.TRANSIENT:
            _record_given_up(store, row, sent, owner, now)
            result.failed += 1
        case Outcome.RECIPIENT_PERMANENT:
            _record_refused_recipient(store, row, sent, owner, now)
            result.failed += 1
        case Outcome.MESSAGE_PERMANENT:
            _mark_failed(store, row, sent, owner, now, _explained(sent))
            log.error("%s refused: %s (%s)", _label(row), *_masked(sent))
            result.failed += 1
        case Outcome.UNKNOWN:
            outbox.mark_unknown(
                store,
                row.id,
                owner=owner,
                now=now,
                error=_explained(sent),
                smtp_code=sent.code,
                smtp_reply=sent.reply,
            )
            log.warning("%s: %s", _label(row), _masked(sent)[0])
            result.unknown += 1


def _explained(sent: SendResult) -> str:
    """What the owner reads about an outcome: the explanation when there is one, else the server's reply."""
    return sent.explanation or sent.reply


def _masked(sent: SendResult) -> tuple[str, str]:
    """The explanation and the reply for a log line: a server's reply often quotes the recipient."""
    return mask_addresses(_explained(sent)), mask_addresses(sent.reply)


def _mark_failed(
    store: Store, row: outbox.OutboxRow, sent: SendResult, owner: str, now: datetime, error: str
) -> None:
    outbox.mark_failed(
        store, row.id, owner=owner, now=now, error=error, smtp_code=sent.code, smtp_reply=sent.reply
    )


def _record_retry(
    store: Store, row: outbox.OutboxRow, sent: SendResult, owner: str, now: datetime, rng: Callable[[], float]
) -> None:
    retry_at = now + retry_delay(row.attempts, rng)
    outbox.mark_retry(
        store,
        row.id,
        owner=owner,
        now=now,
        error=_explained(sent),
        not_before=retry_at,
        smtp_code=sent.code,
        smtp_reply=sent.reply,
    )
    log.warning(
        "%s: %s; retrying at %s UTC", _label(row), mask_addresses(sent.reply), f"{retry_at:%Y-%m-%d %H:%M}"
    )


def _record_given_up(
    store: Store, row: outbox.OutboxRow, sent: SendResult, owner: str, now: datetime
) -> None:
    error = f"gave up after {row.attempts} attempts: {_explained(sent)}"
    _mark_failed(store, row, sent, owner, now, error)
    log.error("%s: %s (%s)", _label(row), mask_addresses(error), mask_addresses(sent.reply))


def _record_refused_recipient(
    store: Store, row: outbox.OutboxRow, sent: SendResult, owner: str, now: datetime
) -> None:
    """The email failed, and its address is suppressed for later mail."""
    _mark_failed(store, row, sent, owner, now, _explained(sent))
    with store.transaction() as conn:
        outbox.suppress(conn, row.recipient_email, sent.reply, now=now)
    log.warning(
        "%s: %s refused permanently (%s); address suppressed",
        _label(row),
        mask_email(row.recipient_email),
        mask_addresses(sent.reply),
    )
    log.debug("%s: the suppressed address is %s", _label(row), row.recipient_email)


def _pause_sender(
    store: Store,
    row: outbox.OutboxRow,
    sent: SendResult,
    owner: str,
    now: datetime,
    login_retry: timedelta,
    credentials: str | None,
) -> Pause:
    """Quota or credentials: the whole sender pauses, and this email keeps its place (and its attempts)."""
    # Recorded first, so the refused attempt is not counted as a send when the pause is measured.
    outbox.mark_deferred(
        store,
        row.id,
        owner=owner,
        now=now,
        not_before=row.not_before,
        reason=f"{sent.reply} — {_explained(sent)}",
    )
    return _record_pause(store, sent, now, login_retry, credentials)


def _record_pause(
    store: Store, sent: SendResult, now: datetime, login_retry: timedelta, credentials: str | None
) -> Pause:
    """Pause the sender for a refusal; a credentials pause keeps the refused login's fingerprint and says
    what lifts it. The reason reads "<the server's reply> — <what it means, what to do>" (alerts split it)."""
    kind, until = _pause_length(store, sent, now, login_retry)
    explained = _explained(sent)
    if kind == "credentials":
        explained += f"; {lifted_by(until)}"
    else:
        credentials = None
    reason = f"{sent.reply} — {explained}"
    pause(store, until=until, reason=reason, now=now, kind=kind, credentials=credentials)
    log.error(
        "sending paused until %s UTC: %s (%s)",
        f"{until:%Y-%m-%d %H:%M}",
        mask_addresses(explained),
        mask_addresses(sent.reply),
    )
    return Pause(until, kind, reason, credentials)


def lifted_by(until: datetime) -> str:
    """What ends a credentials pause, for the log, `bridge status` and the owner's alert."""
    return (
        "sending resumes as soon as a new SMTP_PASSWORD (or SMTP_USERNAME) works (the next `bridge sync`, "
        "or `bridge run` once restarted, tries it at once), after a successful `bridge check`, or at "
        f"{until:%Y-%m-%d %H:%M} UTC"
    )


def _pause_length(
    store: Store, sent: SendResult, now: datetime, login_retry: timedelta
) -> tuple[PauseKind, datetime]:
    """What kind of pause an outcome calls for, and until when (docs/email-facts.md §5.1)."""
    if sent.outcome is Outcome.CREDENTIALS:
        return "credentials", now + login_retry
    if sent.enhanced_code == "5.4.5":
        return "quota", quota_resume_at(store, now)
    return ("login" if sent.stage == "auth" else "quota"), now + QUOTA_PAUSE
