"""`bridge status`'s view of the new-product digest (NEW_PRODUCTS), read from the store alone: when it goes,
since when the catalogue is watched, and how far the last digest got."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from bridge.config import Settings
from bridge.config.news import WEEKDAYS
from bridge.state import news as news_state
from bridge.state.outbox import Status
from bridge.state.store import Store


@dataclass(frozen=True)
class NewsStatus:
    """The digest's settings, the watch's state and the last digest's emails by outbox status."""

    period: str  # off, daily, weekly
    hour: int
    weekday: int
    watching_since: datetime | None  # None: not watching (off, or the first poll has not run yet)
    last_day: date | None  # the last day a digest was due (sent, or nothing was new)
    announced: int  # products announced by digests so far
    last_counts: dict[str, int]  # the last digest's emails by outbox status (empty: nothing was new)
    queueing: bool  # the last digest's emails are still being queued, a batch per poll

    def when(self) -> str:
        at = f"{self.hour:02d}:00 (shop time)"
        return f"weekly on {WEEKDAYS[self.weekday]} at {at}" if self.period == "weekly" else f"daily at {at}"

    def line(self) -> str:
        if self.period == "off":
            return "off (NEW_PRODUCTS)"
        if self.watching_since is None:
            return f"{self.when()}; the catalogue is watched from the next poll on"
        text = f"{self.when()}; watching since {self.watching_since.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        if self.last_day is not None:
            text += f"; last digest {self.last_day}: " + (self._counts() or "nothing was new")
        return text + f"; {self.announced} product(s) announced"

    def _counts(self) -> str:
        sent = self.last_counts.get(Status.SENT.value, 0)
        waiting = sum(n for s, n in self.last_counts.items() if s in news_state.WAITING)
        skipped = self.last_counts.get(Status.SKIPPED.value, 0)
        other = sum(self.last_counts.values()) - sent - waiting - skipped
        if not self.last_counts:
            return ""
        shown = f"{sent} sent, {waiting} waiting, {skipped} skipped, {other} cancelled or failed"
        return shown + (" (still being queued)" if self.queueing else "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "hour": self.hour,
            "weekday": WEEKDAYS[self.weekday],
            "watching_since": self.watching_since.isoformat() if self.watching_since else None,
            "last_day": self.last_day.isoformat() if self.last_day else None,
            "announced": self.announced,
            "last_digest": dict(self.last_counts),
            "queueing": self.queueing,
        }


def news_status(store: Store, settings: Settings) -> NewsStatus | None:
    """None when the digest is off and nothing of it is remembered."""
    with store.read() as conn:
        mark = news_state.load_mark(conn)
        _, announced = news_state.count_known(conn)
        day = mark.last_day if mark is not None else None
        counts = news_state.digest_counts(conn, day) if day is not None else {}
    if settings.new_products == "off" and mark is None:
        return None
    return NewsStatus(
        period=settings.new_products,
        hour=settings.new_products_hour,
        weekday=settings.new_products_weekday,
        watching_since=mark.baseline_at if mark is not None else None,
        last_day=day,
        announced=announced,
        last_counts=counts,
        queueing=mark is not None and mark.running is not None,
    )
