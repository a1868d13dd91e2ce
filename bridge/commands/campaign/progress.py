"""How far each campaign went, from the store alone: `bridge campaign list`, and `bridge status`'s lines for
the campaigns still going (emails waiting, or a `--yes` run that stopped before its end)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from bridge.state import campaigns as state
from bridge.state.store import Store

NO_CAMPAIGN: Final = "No campaign yet: `bridge campaign send FILE` shows what one would do."


def progress_line(item: state.Progress) -> str:
    """`black-friday: 120 queued (100 sent, 15 waiting, 3 cancelled, 2 failed), 400 left out, 100 codes`"""
    record = item.record
    parts = [f"{item.sent} sent", f"{item.waiting} waiting"]
    parts += [f"{n} {what}" for n, what in ((item.cancelled, "cancelled"), (item.failed, "failed")) if n]
    line = f"{record.name}: {item.queued} queued ({', '.join(parts)}), {item.left_out} left out"
    if record.single_use:
        line += f", {item.codes} code(s) created"
    if record.status == state.QUEUEING:
        line += "; the last `send --yes` stopped before its end: run it again to queue the rest"
    return line


def campaign_lines(store: Store) -> Iterator[str]:
    """`bridge campaign list`: every campaign, newest first."""
    found = state.progress(store)
    if not found:
        yield NO_CAMPAIGN
        return
    for item in found:
        record = item.record
        finished = f"{record.finished_at:%Y-%m-%d %H:%M} UTC" if record.finished_at else "never finished"
        yield progress_line(item)
        yield f"  first queued {record.created_at:%Y-%m-%d %H:%M} UTC; last run {finished}"
        if item.left_out:
            reasons = ", ".join(f"{why}: {n}" for why, n in sorted(record.left_out.items()) if n)
            yield f"  left out: {reasons}"


@dataclass(frozen=True)
class CampaignsStatus:
    """`bridge status`'s view: the campaigns still going."""

    active: tuple[state.Progress, ...]

    def lines(self) -> list[str]:
        return [progress_line(item) for item in self.active]

    def as_dict(self) -> list[dict[str, Any]]:
        return [
            {
                "name": item.record.name,
                "queued": item.queued,
                "sent": item.sent,
                "waiting": item.waiting,
                "cancelled": item.cancelled,
                "failed": item.failed,
                "left_out": item.left_out,
                "codes_created": item.codes,
                "finished": item.record.status == state.QUEUED,
            }
            for item in self.active
        ]


def campaigns_status(store: Store) -> CampaignsStatus | None:
    """None when no campaign is going."""
    active = tuple(state.progress(store, active_only=True))
    return CampaignsStatus(active) if active else None
