"""`bridge status`: what the bridge has been doing, read from the state store alone (no shop, no SMTP).

When the shop was last polled and whether it answered, where each cursor stands, the outbox by status,
the mail sent in the last 24 h against DAILY_SEND_LIMIT, whether sending is paused and why, the open
incidents the owner is alerted about (bridge.alerts), and the last errors. `as_dict()` is the `--json` form
for monitoring; `problems` lists what needs the owner.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from bridge.alerts import SHOP_UNREACHABLE, Incident, open_incidents
from bridge.commands.campaign import CampaignsStatus, campaigns_status
from bridge.commands.news import NewsStatus, news_status
from bridge.commands.terms import TermsStatus, terms_status
from bridge.config import Settings
from bridge.delivery.budget import Budget, Limits
from bridge.delivery.codes import refusal_line
from bridge.delivery.deliver import paused
from bridge.mailbox.report import status_line
from bridge.model.cursors import OrderCursors
from bridge.model.kinds import REVIEW_REQUEST
from bridge.state import cursors, outbox, reports
from bridge.state.cursors import PositionMoves
from bridge.state.outbox import OutboxRow, Status, counts_by_status
from bridge.state.store import Store
from bridge.state.unsubscribes import count_unsubscribed

ERROR_STATUSES: Final = (Status.FAILED, Status.RETRY, Status.UNKNOWN)
# A poll this many intervals old means the service is not polling (stopped, hung, or the shop is down).
STALE_POLLS: Final = 3


@dataclass(frozen=True)
class Resource:
    name: str
    cursor: str | None  # the last id processed
    moved_at: datetime | None  # when the cursor last advanced (something new arrived)


@dataclass(frozen=True)
class RecentError:
    outbox_id: int
    status: str
    kind: str
    order: str | None
    recipient: str
    error: str
    at: datetime


@dataclass(frozen=True)
class Marketing:
    """Cart reminders and review requests, as far as the store knows them."""

    carts_checked_at: datetime | None
    open_series: int
    unsubscribed: int
    review_requests_waiting: int


@dataclass(frozen=True)
class StatusReport:
    now: datetime
    running_pid: int | None
    poll_interval: timedelta
    baseline_at: datetime | None
    last_poll_at: datetime | None
    last_ok_poll_at: datetime | None
    last_poll_error: str | None
    resources: tuple[Resource, ...]
    outbox: dict[str, int]
    sent_24h: int
    daily_limit: int
    paused_until: datetime | None
    pause_reason: str | None
    errors: tuple[RecentError, ...]
    incidents: tuple[Incident, ...] = field(default=())
    alerts_to: str | None = None  # ADMIN_EMAIL's address; None: incidents are not emailed
    problems: tuple[str, ...] = field(default=())
    marketing: Marketing | None = None  # None: marketing mail is off (no UNSUBSCRIBE_URL)
    mailbox: str | None = None  # the mailbox over IMAP: bounces, unknown sends (bridge.mailbox.report)
    terms: TermsStatus | None = None  # TERMS_PAGES and the notices' progress (bridge.commands.terms)
    campaigns: CampaignsStatus | None = None  # the campaigns still going (bridge.commands.campaign)
    news: NewsStatus | None = None  # the new-product digest (bridge.commands.news)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON values: ISO 8601 times (UTC) and ages in whole seconds."""
        return {
            "now": _iso(self.now),
            "running": self.running_pid is not None,
            "pid": self.running_pid,
            "poll_interval_seconds": int(self.poll_interval.total_seconds()),
            "baseline_at": _iso(self.baseline_at),
            "last_poll": self._last_poll_dict(),
            "resources": {r.name: self._resource_dict(r) for r in self.resources},
            "outbox": dict(self.outbox),
            "sent_last_24h": self.sent_24h,
            "daily_send_limit": self.daily_limit,
            "paused": self.paused_until is not None,
            "paused_until": _iso(self.paused_until),
            "pause_reason": self.pause_reason,
            "incidents": [self._incident_dict(i) for i in self.incidents],
            "last_errors": [_error_dict(e) for e in self.errors],
            "problems": list(self.problems),
            "marketing": None if self.marketing is None else _marketing_dict(self.marketing),
            "mailbox": self.mailbox,
            "terms": None if self.terms is None else self.terms.as_dict(),
            "campaigns": [] if self.campaigns is None else self.campaigns.as_dict(),
            "new_products": None if self.news is None else self.news.as_dict(),
        }

    def _last_poll_dict(self) -> dict[str, Any]:
        return {
            "at": _iso(self.last_poll_at),
            "age_seconds": self._age(self.last_poll_at),
            "ok": self.last_poll_at is not None and not self.last_poll_error,
            "error": self.last_poll_error,
            "last_ok_at": _iso(self.last_ok_poll_at),
        }

    def _resource_dict(self, r: Resource) -> dict[str, Any]:
        """A resource's cursor; every resource is read by the same poll, so they share its time."""
        return {
            "cursor": r.cursor,
            "polled_at": _iso(self.last_poll_at),
            "polled_age_seconds": self._age(self.last_poll_at),
            "moved_at": _iso(r.moved_at),
        }

    def _incident_dict(self, i: Incident) -> dict[str, Any]:
        return {
            "problem": i.problem,
            "since": _iso(i.since),
            "age_seconds": self._age(i.since),
            "pause_kind": i.pause_kind or None,
            "alert": {
                "to": self.alerts_to,
                "due_at": _iso(i.alert_at),
                "outbox_id": i.alert_id,
                "status": i.alert_status,
            },
        }

    def lines(self) -> list[str]:
        """The text `bridge status` prints."""
        out = [
            "Bridge:      "
            + (f"running (pid {self.running_pid})" if self.running_pid else "no bridge process running now")
        ]
        if self.last_poll_at is None:
            out.append("Last poll:   never")
        else:
            state = f"failed: {self.last_poll_error}" if self.last_poll_error else "OK"
            out.append(f"Last poll:   {self._when(self.last_poll_at)}, {state}")
            if self.last_poll_error and self.last_ok_poll_at:
                out.append(f"Last OK:     {self._when(self.last_ok_poll_at)}")
        if self.baseline_at is not None:
            out.append(f"Baseline:    {_show(self.baseline_at)} (orders before it are not news)")
        for index, r in enumerate(self.resources):
            head = "Cursors:     " if index == 0 else " " * 13
            moved = f", last moved {self._when(r.moved_at)}" if r.moved_at else ""
            out.append(f"{head}{r.name:<16} #{r.cursor or '-'}{moved}")
        counts = ", ".join(f"{count} {status}" for status, count in self.outbox.items())
        out.append(f"Outbox:      {counts}")
        out.append(f"Sent (24 h): {self.sent_24h} of {self.daily_limit} (DAILY_SEND_LIMIT)")
        if self.paused_until is not None:
            out.append(f"Sending:     PAUSED until {_show(self.paused_until)}: {self.pause_reason}")
        else:
            out.append("Sending:     active")
        if self.marketing is None:
            out.append("Marketing:   off (UNSUBSCRIBE_URL is empty: no cart reminders, no review requests)")
        else:
            m = self.marketing
            out.append(
                f"Marketing:   carts checked {self._when(m.carts_checked_at)}; {m.open_series} cart(s) in a"
                f" reminder series; {m.review_requests_waiting} review request(s) waiting;"
                f" {m.unsubscribed} address(es) unsubscribed"
            )
        if self.mailbox is not None:
            out.append(f"Mailbox:     {self.mailbox}")
        if self.terms is not None:
            out += [("Terms:       " if i == 0 else " " * 13) + t for i, t in enumerate(self.terms.lines())]
        if self.campaigns is not None:
            lines = self.campaigns.lines()
            out += [("Campaigns:   " if i == 0 else " " * 13) + c for i, c in enumerate(lines)]
        if self.news is not None:
            out.append(f"News:        {self.news.line()}")
        for index, incident in enumerate(self.incidents):
            head = "Incidents:   " if index == 0 else " " * 13
            out.append(f"{head}{self.incident_line(incident)}")
        if self.errors:
            out.append("Last errors:")
            for e in self.errors:
                order = f" order {e.order}" if e.order else ""
                what = f"{e.kind}{order} to {e.recipient}"
                out.append(f"  #{e.outbox_id} {e.status:<7} {_show(e.at)} {what}: {e.error}")
        for problem in self.problems:
            out.append(f"problem: {problem}")
        return out

    def incident_line(self, incident: Incident) -> str:
        """What happened, since when, and where the owner's alert email stands."""
        what = "the shop cannot be read" if incident.problem == SHOP_UNREACHABLE else "sending is paused"
        kind = f" ({incident.pause_kind})" if incident.pause_kind else ""
        since = f"since {_show(incident.since)} ({duration(max(self.now - incident.since, timedelta(0)))})"
        return f"{what}{kind} {since}; {self._alert_state(incident)}"

    def _alert_state(self, incident: Incident) -> str:
        if incident.alert_id is not None:
            state = {"sent": "sent", "queued": "queued", "retry": "queued, retrying"}.get(
                incident.alert_status or "", incident.alert_status or ""
            )
            return f"owner alert #{incident.alert_id} to {self.alerts_to or 'the owner'}: {state}"
        if self.alerts_to is None:
            return "no alert email (ADMIN_EMAIL is empty)"
        if incident.alert_at > self.now:
            return f"{self.alerts_to} is emailed if it lasts until {_show(incident.alert_at)}"
        return f"an alert to {self.alerts_to} is queued at the next poll or delivery"

    def _age(self, moment: datetime | None) -> int | None:
        return None if moment is None else max(0, int((self.now - moment).total_seconds()))

    def _when(self, moment: datetime | None) -> str:
        if moment is None:
            return "never"
        return f"{_show(moment)} ({ago(self.now - moment)})"


def _error_dict(e: RecentError) -> dict[str, Any]:
    return {
        "outbox_id": e.outbox_id,
        "status": e.status,
        "kind": e.kind,
        "order": e.order,
        "recipient": e.recipient,
        "error": e.error,
        "at": _iso(e.at),
    }


def _marketing_dict(m: Marketing) -> dict[str, Any]:
    return {
        "carts_checked_at": _iso(m.carts_checked_at),
        "open_cart_series": m.open_series,
        "unsubscribed": m.unsubscribed,
        "review_requests_waiting": m.review_requests_waiting,
    }


def gather(
    store: Store, settings: Settings, *, now: datetime, running_pid: int | None = None, errors: int = 5
) -> StatusReport:
    """Read the status report from the store. `running_pid` comes from `bridge.lock.holder`."""
    with store.read() as tx:
        stands = cursors.load(tx)
        moves = cursors.position_moves(tx)
        failing = outbox.latest_changed(tx, ERROR_STATUSES, limit=errors)
    counts = {status.value: count for status, count in counts_by_status(store).items()}
    incidents = open_incidents(store, settings)
    pause = paused(store, now)
    # Counted as delivery counts it (bridge.delivery.budget): from the attempt log, unknown hand-overs
    # included.
    usage = Budget(Limits.from_settings(settings)).usage(store, now)
    poll = stands.poll
    report = StatusReport(
        now=now,
        running_pid=running_pid,
        poll_interval=settings.poll_interval,
        baseline_at=stands.orders.baseline_at,
        last_poll_at=poll.last_at,
        last_ok_poll_at=poll.last_ok_at,
        last_poll_error=poll.last_error or None,
        resources=_resources(stands.orders, moves),
        outbox=counts,
        sent_24h=usage.last_day,
        daily_limit=usage.limits.daily,
        paused_until=pause.until if pause else None,
        pause_reason=pause.reason if pause else None,
        errors=tuple(_recent_error(row) for row in failing),
        incidents=incidents,
        alerts_to=settings.admin_email.addr_spec if settings.admin_email is not None else None,
        marketing=_marketing(store, stands.carts.checked_at) if settings.marketing_enabled else None,
        mailbox=status_line(store, settings, now=now),
        terms=terms_status(store, settings),
        campaigns=campaigns_status(store),
        news=news_status(store, settings),
    )
    refused = refusal_line(store, now)  # personal discount codes the key may not create
    return dataclasses.replace(report, problems=(*_problems(report), *([refused] if refused else [])))


def _resources(orders: OrderCursors, moves: PositionMoves) -> tuple[Resource, ...]:
    """Each resource a poll reads, with its position (None while never recorded) and when it moved."""
    stands = (
        ("orders", orders.orders, moves.orders),
        ("order_histories", orders.histories, moves.histories),
        ("order_payments", orders.payments, moves.payments),
    )
    return tuple(
        Resource(name, str(cursor.position) if moved_at is not None else None, moved_at)
        for name, cursor, moved_at in stands
    )


def _recent_error(row: OutboxRow) -> RecentError:
    return RecentError(
        outbox_id=row.id,
        status=row.status.value,
        kind=row.kind,
        order=row.order_reference or (str(row.order_id) if row.order_id else None),
        recipient=row.recipient_email,
        error=_reason(row.last_error, row.smtp_reply),
        at=row.updated_at,
    )


def _marketing(store: Store, checked_at: datetime | None) -> Marketing:
    with store.read() as tx:
        series = reports.count_open_cart_series(tx)
        gone = count_unsubscribed(tx)
        reviews = outbox.count_waiting(tx, kind=REVIEW_REQUEST)
    return Marketing(checked_at, series, gone, reviews)


def _problems(report: StatusReport) -> list[str]:
    found = []
    if report.last_poll_error:
        found.append(f"the last poll failed: {report.last_poll_error}")
    stale = report.poll_interval * STALE_POLLS
    last_ok = report.last_ok_poll_at
    if report.running_pid is not None and (last_ok is None or report.now - last_ok > stale):
        found.append(
            f"no successful poll for {duration(report.now - last_ok)}"
            if last_ok
            else "no successful poll yet"
        )
    if report.paused_until is not None:
        found.append(f"sending is paused until {_show(report.paused_until)}: {report.pause_reason}")
    if report.sent_24h >= report.daily_limit:
        found.append(f"the daily send limit is reached ({report.sent_24h} of {report.daily_limit})")
    found.extend(report.incident_line(incident) for incident in report.incidents)
    unknown = report.outbox.get(Status.UNKNOWN.value, 0)
    if unknown:
        found.append(f"{unknown} email(s) in an unknown state: check them with `bridge outbox`")
    held = report.outbox.get(Status.HELD.value, 0)
    if held:
        found.append(
            f"{held} order email(s) held, their event older than MAX_EMAIL_AGE: see `bridge outbox list"
            " --status held`, send them with `bridge outbox release --held`"
        )
    return found


def _reason(error: str | None, reply: str | None) -> str:
    """The explanation and the server's own words: the owner reads one, support asks for the other."""
    if reply and reply not in (error or ""):
        return f"{error} ({reply})" if error else reply
    return error or ""


def duration(delta: timedelta) -> str:
    """`42 s`, `12 min`, `3 h`, `2 d`: what an owner reads at a glance."""
    seconds = int(delta.total_seconds())
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def ago(delta: timedelta) -> str:
    if delta < timedelta(0):
        return "in the future: check the clock"
    return f"{duration(delta)} ago"


def _show(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
