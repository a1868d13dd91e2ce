"""`bridge sync --since DATE`: what a catch-up would queue, shown before anything is queued, and the
owner's yes.

A catch-up mails customers about events of the past on purpose, so the age guard does not hold its emails
(bridge.plan.age); this question takes its place. The order pass calls the confirmation with its decisions
before its transaction (bridge.cycle.orders): raising `CatchUpStopped` there ends the cycle with nothing
queued, nothing sent and every cursor where it was. `--yes` answers for the owner (a script, a timer);
`--dry-run` only shows. Without a terminal to ask and without `--yes`, nothing is queued.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from bridge.commands.explain import printable
from bridge.plan.rules import Decision
from bridge.web.unsubscribe import mask_email

FIRST_LINES: Final = 10  # emails listed one by one; the rest are counted
EX_USAGE: Final = 64  # no terminal to ask and no --yes
DECLINED: Final = 1  # the owner answered no


class CatchUpStopped(Exception):
    """The catch-up queued nothing: a dry run, a "no", or no terminal to ask. Deliberately not a
    BridgeError: the poll did not fail, so no poll error is recorded and no owner alert counts it."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def masked(address: str) -> str:
    """`j***@example.com`, made safe for the terminal: the owner recognises a customer, cannot copy them."""
    return printable(mask_email(address.strip())) if address else "-"


def preview_lines(decisions: Sequence[Decision], since: datetime) -> list[str]:
    """How many emails of each kind the catch-up queues, and the first of them one per line."""
    sending = [d for d in decisions if d.sends]
    lines = [
        f"Catching up since {since:%Y-%m-%d %H:%M %Z}: {len(sending)} email(s) to queue, "
        f"{len(decisions) - len(sending)} skipped with a reason"
    ]
    if not sending:
        return lines
    counts = Counter(d.kind for d in sending)
    width = max(len(kind) for kind in counts)
    lines.append("By kind:")
    lines += [f"  {kind.ljust(width)}  {count}" for kind, count in sorted(counts.items())]
    lines.append("First emails (order, kind, recipient):")
    reference_width = max(len(printable(d.order_reference) or f"#{d.order_id}") for d in sending)
    for decision in sending[:FIRST_LINES]:
        order = printable(decision.order_reference) or f"#{decision.order_id}"
        lines.append(
            f"  {order.ljust(reference_width)}  {decision.kind.ljust(width)}  "
            f"{masked(decision.recipient_email)}"
        )
    if len(sending) > FIRST_LINES:
        lines.append(f"  … and {len(sending) - FIRST_LINES} more")
    return lines


def ask_terminal(question: str) -> str | None:
    """The owner's answer, or None when nobody is at a terminal to give one (a timer, a pipe)."""
    if not sys.stdin.isatty():
        return None
    try:
        return input(question)
    except EOFError:
        return ""


@dataclass
class CatchUpConfirmation:
    """The `confirm` callback of a catch-up: shows the decisions, then lets them through or stops."""

    since: datetime
    yes: bool = False
    dry_run: bool = False
    show: Callable[[str], None] = print
    ask: Callable[[str], str | None] = ask_terminal

    def __call__(self, decisions: list[Decision]) -> None:
        for line in preview_lines(decisions, self.since):
            self.show(line)
        count = sum(1 for d in decisions if d.sends)
        if self.dry_run:
            raise CatchUpStopped("dry run: nothing was queued or sent, no cursor moved", 0)
        if self.yes or count == 0:
            return
        answer = self.ask(f"Queue and send these {count} emails? [y/N] ")
        if answer is None:
            raise CatchUpStopped(
                "nothing was queued or sent: there is no terminal to ask for confirmation;"
                " add --yes to queue and send these emails",
                EX_USAGE,
            )
        if answer.strip().lower() not in ("y", "yes"):
            raise CatchUpStopped("nothing was queued or sent, no cursor moved (you answered no)", DECLINED)
