"""Emails per second: rendered (Jinja2 → CSS inlined → MIME), and rendered + sent to an SMTP server on
127.0.0.1 over one reused connection (the SMTP server runs in its own process).

Every kind's sample contexts (bridge.model.kinds) in Polish and English, in turn.

    python3 dev.py bench throughput [--small]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from _common import machine_line, parse_args, print_table, smtp_sink

from bridge.mail.render import get_renderer, new_message_id, render_email
from bridge.model.headers import make_address
from bridge.model.identity import ShopIdentity
from bridge.model.kinds import KINDS

SHOP = ShopIdentity(
    name="Pracownia Ceramiki Złota Łąka",
    email="sklep@zlota-laka.example",
    from_email="sklep.przyklad@gmail.com",
    address_lines=("ul. Garncarska 12", "59-700 Bolesławiec"),
    phone="+48 75 612 34 56",
    logo_url="https://zlota-laka.example/img/logo.png",
    base_url="https://zlota-laka.example",
)
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
Job = tuple[str, str, dict[str, Any]]


def jobs() -> list[Job]:
    """(kind, language, context) for every transactional kind, sample and language."""
    return [
        (kind.name, language, kind.sample(index))
        for kind in KINDS.values()
        if kind.category == "transactional"
        for index in range(len(kind.samples))
        for language in ("pl", "en")
    ]


def render(job: Job) -> EmailMessage:
    kind, language, context = job
    return render_email(
        kind,
        language,
        context,
        shop=SHOP,
        message_id=new_message_id(SHOP),
        recipient=make_address("Zofia Wiśniewska", "zofia@example.com"),
        now=NOW,
    ).message


def rate(count: int, work: Callable[[int], object]) -> tuple[float, float]:
    """(emails per second, milliseconds per email) of `work(i)` for i in range(count)."""
    started = time.perf_counter()
    for index in range(count):
        work(index)
    elapsed = time.perf_counter() - started
    return count / elapsed, elapsed / count * 1000


def main() -> int:
    args = parse_args(__doc__ or "")
    rendered, sent = (60, 30) if args.small else (2000, 1000)
    print(f"# throughput ({'small' if args.small else 'full'} run) — {machine_line()}")
    work = jobs()
    get_renderer(None)
    for job in work:  # compile every template once: a running bridge has them compiled
        render(job)

    rows: list[tuple[str, str, str, str]] = []
    per_second, each = rate(rendered, lambda i: render(work[i % len(work)]))
    rows.append(("render only", f"{rendered}", f"{per_second:,.0f}", f"{each:.2f}"))
    descriptions: list[str] = []
    ratio = ""
    for mode in ("starttls", "plain"):
        with smtp_sink(mode) as sink:
            with sink.sender() as sender:
                sender.send(render(work[0]), envelope_from=SHOP.from_email, recipients=["zofia@example.com"])

                def render_and_send(index: int, sender: Any = sender) -> None:
                    result = sender.send(
                        render(work[index % len(work)]),
                        envelope_from=SHOP.from_email,
                        recipients=["zofia@example.com"],
                    )
                    if not result.sent:
                        raise RuntimeError(f"the SMTP sink refused a message: {result.reply}")

                per_second, each = rate(sent, render_and_send)
                label = "STARTTLS + AUTH" if mode == "starttls" else "plain, no AUTH"
                rows.append((f"render + send ({label})", f"{sent}", f"{per_second:,.0f}", f"{each:.2f}"))
                if mode == "starttls":
                    ready = [render(work[i % len(work)]) for i in range(sent)]

                    def send_only(index: int, sender: Any = sender, ready: Any = ready) -> None:
                        sender.send(
                            ready[index], envelope_from=SHOP.from_email, recipients=["zofia@example.com"]
                        )

                    reused, each = rate(sent, send_only)
                    rows.append(
                        (f"send only, pre-rendered ({label})", f"{sent}", f"{reused:,.0f}", f"{each:.2f}")
                    )

                    def send_on_a_new_connection(index: int, sink: Any = sink, ready: Any = ready) -> None:
                        with sink.sender() as fresh:  # connect, EHLO, STARTTLS, EHLO, AUTH, send, QUIT
                            result = fresh.send(
                                ready[index], envelope_from=SHOP.from_email, recipients=["zofia@example.com"]
                            )
                        if not result.sent:
                            raise RuntimeError(f"the SMTP sink refused a message: {result.reply}")

                    fresh_rate, each = rate(sent, send_on_a_new_connection)
                    rows.append(
                        (
                            f"send only, a new connection per email ({label})",
                            f"{sent}",
                            f"{fresh_rate:,.0f}",
                            f"{each:.2f}",
                        )
                    )
                    speedup = reused / fresh_rate
                    ratio = f"one reused connection sends {speedup:.1f}× as fast as a connection per email"
            accepted = sink.count()
            descriptions.append(f"{mode}: {sink.description}; {accepted} messages accepted")

    print_table(
        f"emails per second ({len(work)} kind × sample × language combinations, in turn)",
        ("what", "emails", "emails/s", "ms per email"),
        rows,
    )
    if ratio:
        print(f"\n{ratio} (and Gmail throttles accounts that log in too often: 454 4.7.0).")
    print("\nSMTP servers (127.0.0.1, one connection reused, a NOOP before each message to prove it alive):")
    for line in descriptions:
        print(f"- {line}")
    print(
        "A real Gmail adds a network round trip per SMTP command (NOOP, MAIL, RCPT, DATA, the final dot)"
        " and caps sending at 500 (consumer) or 2 000 (Workspace) messages a day: the bridge is never"
        " the bottleneck."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
