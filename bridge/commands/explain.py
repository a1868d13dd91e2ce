"""What the owner reads: the outbox and one order's emails, told from the state store alone.

`bridge outbox …` and `bridge explain order …` never ask the shop, so they work while the shop is down.
This module finds what to tell (an order by id or reference, the baseline, a refusal's reason) and words it;
`bridge.cli` prints the lines. Everything that came from the shop or an SMTP server (names, addresses,
replies) passes `printable()` first: a customer name must not be able to move the owner's cursor or fake
a line in their terminal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Final

from bridge.errors import BridgeError
from bridge.mail.render import Renderer, RenderError
from bridge.mailbox.settle import settled_note
from bridge.model.memory import SeenOrder
from bridge.state import codes, cursors, outbox, reports
from bridge.state.orders import get_seen_orders
from bridge.state.outbox import Attempt, OutboxDetail, OutboxRow, Status
from bridge.state.store import Store
from bridge.state.unsubscribes import normalise_email, unsubscribed

# C0 and C1 controls (ESC starts a terminal sequence), DEL, and the Unicode line separators.
_UNPRINTABLE: Final = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SMTP_CODE: Final = re.compile(r"[245][0-9][0-9](?:[ -][245]\.[0-9]{1,3}\.[0-9]{1,3})?")
NONE: Final = "-"
ORDER_EMAILS_LIMIT: Final = 10_000  # one order never has this many; a bound for a corrupted store
REASON_WIDTH: Final = 70
RECIPIENT_WIDTH: Final = 32

# Which template language an email is written in (see `template_language`); None for a skipped one.
LanguageOf = Callable[[OutboxRow], str | None]


class NotFoundError(BridgeError):
    """The email or order the owner named is not in the state store (sysexits EX_NOINPUT, 66)."""

    exit_code = 66


class RefusedError(BridgeError):
    """The email is in a state the action does not apply to (sysexits EX_DATAERR, 65)."""

    exit_code = 65


# --- words and times ------------------------------------------------------------------------------------


def printable(text: str | None) -> str:
    """Shop data made safe for a terminal: every control character shown as an escape, on one line."""
    if not text:
        return ""
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def zone_name(zone: tzinfo) -> str:
    """`Europe/Warsaw` for a named zone, else what the clock calls it (`CET`, `UTC+01:00`)."""
    key = getattr(zone, "key", None)
    return str(key) if key else str(zone)


def when(instant: datetime | None, zone: tzinfo) -> str:
    """`2026-11-27 10:00:30 CET`: seconds, because two emails of one order are often a second apart."""
    return f"{instant.astimezone(zone):%Y-%m-%d %H:%M:%S %Z}" if instant is not None else NONE


def short_when(instant: datetime | None, zone: tzinfo) -> str:
    return f"{instant.astimezone(zone):%Y-%m-%d %H:%M}" if instant is not None else ""


def attempts_text(count: int) -> str:
    return f"{count} attempt" if count == 1 else f"{count} attempts"


def recipient_text(row: OutboxRow) -> str:
    if not row.recipient_email:
        return NONE
    email = printable(row.recipient_email)
    name = printable(row.recipient_name)
    return f"{name} <{email}>" if name else email


def purge_note(row: OutboxRow, zone: tzinfo) -> str | None:
    """What the store no longer holds of an email, and since when (bridge.state.retention); None: all."""
    at = when(row.purged_at, zone)
    if row.purged == "retention" and row.purged_at is not None:
        days = (row.purged_at - row.updated_at).days
        return f"details purged after {days} days ({at}, RETENTION_DAYS): only this record is left"
    if row.purged == "forget":
        return f"details erased at the customer's request ({at}, `bridge forget`): only this record is left"
    if row.purged == "links":
        return f"recovery link and discount code removed ({at}): the cart's reminder series ended"
    return None


def order_label(row: OutboxRow) -> str:
    if row.order_reference:
        return printable(row.order_reference)
    return f"#{row.order_id}" if row.order_id is not None else NONE


def reason_of(row: OutboxRow) -> str:
    """The one reason the owner wants next to a row: why it was skipped or cancelled, else what failed,
    led by the server's code (`550 5.1.1: …`) when the error is our explanation of its reply."""
    if row.status in (Status.SKIPPED, Status.CANCELLED, Status.HELD) and row.skip_reason:
        return printable(row.skip_reason)
    if row.status is Status.SENT:
        return ""
    error = printable(row.last_error or row.skip_reason)
    code = _SMTP_CODE.match(row.smtp_reply or "")
    if code and error and code.group() not in error:
        error = f"{code.group()}: {error}"
    if error and row.status in (Status.QUEUED, Status.RETRY):
        return f"last try: {error}"
    return error


def status_text(row: OutboxRow, zone: tzinfo) -> str:
    """The status in a sentence fragment, with the time that matters for it."""
    match row.status:
        case Status.SENT:
            return f"sent {when(row.sent_at, zone)}"
        case Status.QUEUED:
            return f"waiting to be sent (not before {when(row.not_before, zone)})"
        case Status.RETRY:
            return f"will be tried again at {when(row.not_before, zone)}"
        case Status.SENDING:
            return f"being sent now (lease until {when(row.lease_until, zone)})"
        case Status.FAILED:
            return "failed: it will not be sent unless you retry it"
        case Status.UNKNOWN:
            return "unknown: the server may or may not have accepted it"
        case Status.SKIPPED:
            return "not sent: the bridge decided not to write it"
        case Status.CANCELLED:
            return "cancelled"
        case Status.HELD:
            return "held: not sent until you release it"


def template_language(renderer: Renderer, row: OutboxRow, default_language: str) -> str | None:
    """Which template language this email is (or was) written in, and whether it fell back.

    Worked out from the templates installed now, as `Renderer.render` chooses them; None for a skipped
    email, which was never written.
    """
    if row.status is Status.SKIPPED:
        return None
    verb = {
        Status.SENT: "sent in",
        Status.FAILED: "would be written in",
        Status.CANCELLED: "would be written in",
    }.get(row.status, "will be sent in")
    requested = printable(row.language) or "no language"
    try:
        used, fell_back = renderer.choose_language(row.kind, row.language, default_language)
    except RenderError:
        return f"{requested}: no template for {row.kind} in {requested}, {default_language} or en"
    if not fell_back:
        return used if used == row.language else f"{used} (the order's language is {requested})"
    why = "DEFAULT_LANGUAGE" if used == default_language.lower() else "English, the last resort"
    return f"language {requested} has no template: {verb} {used} ({why})"


# --- outbox list ----------------------------------------------------------------------------------------

_COLUMNS: Final = ("ID", "STATUS", "KIND", "ORDER", "RECIPIENT", "CREATED", "SENT", "TRIES", "REASON")


def outbox_table(rows: Sequence[OutboxRow], zone: tzinfo) -> list[str]:
    """One line per email under a header; the reason column is last and shortened, never padded."""
    cells = [
        (
            str(row.id),
            row.status.value,
            row.kind,
            order_label(row),
            shorten(printable(row.recipient_email) or NONE, RECIPIENT_WIDTH),
            short_when(row.created_at, zone),
            short_when(row.sent_at, zone),
            str(row.attempts),
            shorten(reason_of(row), REASON_WIDTH),
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [_COLUMNS, *cells]) for i in range(len(_COLUMNS))]
    right = {0, 7}  # numbers line up on the right

    def line(values: Sequence[str]) -> str:
        out = [
            value.rjust(widths[i]) if i in right else value.ljust(widths[i])
            for i, value in enumerate(values[:-1])
        ]
        return "  ".join([*out, values[-1]]).rstrip()

    return [line(_COLUMNS), *(line(values) for values in cells)]


# --- outbox show ----------------------------------------------------------------------------------------


def attempt_lines(number: int, attempt: Attempt, zone: tzinfo, indent: str = "  ") -> list[str]:
    """One attempt of the log: when, whether the message reached the server, and what the server said."""
    if attempt.handed_over_at is not None:
        handed = f"yes, at {when(attempt.handed_over_at, zone)}"
    elif attempt.outcome is None:
        handed = "not yet"
    else:
        handed = "no (nothing of the message reached the server)"
    code = f" ({attempt.smtp_code})" if attempt.smtp_code is not None else ""
    pad = indent + " " * len(f"{number}. ")
    return [
        f"{indent}{number}. started   {when(attempt.started_at, zone)}",
        f"{pad}finished  {when(attempt.finished_at, zone) if attempt.finished_at else 'still in progress'}",
        f"{pad}handed over to the server: {handed}",
        f"{pad}outcome   {attempt.outcome or 'none yet'}",
        f"{pad}SMTP      {printable(attempt.smtp_reply) or NONE}{code}",
        f"{pad}error     {printable(attempt.error) or NONE}",
    ]


def email_detail(detail: OutboxDetail, zone: tzinfo, language: str | None) -> list[str]:
    """Everything the state store knows about one email, attempt log included."""
    row = detail.row
    order = f"order {order_label(row)}" + (
        f" (#{row.order_id})" if row.order_reference and row.order_id is not None else ""
    )
    fields = [
        ("Key", printable(row.idempotency_key)),
        ("Kind", f"{row.kind} ({row.category}, priority {row.priority})"),
        ("Order", order.removeprefix("order ") if row.order_id is not None or row.order_reference else NONE),
        ("Status", status_text(row, zone)),
        ("Recipient", recipient_text(row)),
        ("Language", language if language is not None else (printable(row.language) or NONE)),
        ("Message-ID", _message_id(row)),
        ("Created", when(row.created_at, zone)),
        ("Not before", when(row.not_before, zone)),
        ("Expires", when(row.expires_at, zone) if row.expires_at else "never"),
        ("Sent", when(row.sent_at, zone)),
        ("Attempts", str(row.attempts)),
        ("Skip reason", printable(row.skip_reason) or NONE),
        ("Last error", printable(row.last_error) or NONE),
        ("SMTP reply", printable(row.smtp_reply) or NONE),
    ]
    if row.lease_owner or row.lease_until:
        fields.append(("Lease", f"{printable(row.lease_owner)} until {when(row.lease_until, zone)}"))
    fields.append(("Updated", when(row.updated_at, zone)))
    width = max(len(label) for label, _ in fields) + 1
    lines = [
        f"Email #{row.id}: {row.kind} for {order if row.order_id or row.order_reference else 'no order'}"
    ]
    lines += [f"  {(label + ':').ljust(width)} {value}" for label, value in fields]
    if detail.attempts:
        lines.append("Attempt log:")
        for number, attempt in enumerate(detail.attempts, start=1):
            lines += attempt_lines(number, attempt, zone)
    elif row.status is Status.SKIPPED:
        lines.append("Attempt log: none (a skipped email is never sent)")
    else:
        lines.append("Attempt log: no attempt yet")
    return lines


def personal_code_line(store: Store, row: OutboxRow, zone: tzinfo) -> str | None:
    """The personal discount code made for a marketing email (bridge.delivery.codes), if it asked for one."""
    with store.read() as tx:
        stored = codes.code_for(tx, row.id)
    if stored is None:
        return None
    if stored.cart_rule_id is None:
        return (
            f"{printable(stored.code)}, chosen {when(stored.created_at, zone)}; the shop's answer to creating"
            " it is not known yet: the next attempt looks it up before creating it"
        )
    return (
        f"{printable(stored.code)}, cart rule #{stored.cart_rule_id} in the shop, for customer"
        f" #{stored.customer_id} only, valid until {when(stored.valid_until, zone)}"
    )


def _message_id(row: OutboxRow) -> str:
    if row.status is Status.SKIPPED:
        return f"{printable(row.message_id)} (reserved; no message ever carried it)"
    return printable(row.message_id)


# --- retry and cancel -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryOutcome:
    row: OutboxRow
    unsuppressed: str | None  # why the recipient had been suppressed, if retrying lifted it


def retry_email(store: Store, row_id: int, *, now: datetime, zone: tzinfo) -> RetryOutcome:
    """`bridge outbox retry`: queue a failed, unknown or cancelled email again, same Message-ID.

    A permanent refusal (550 5.1.1) also suppressed the address; the owner retrying it says the address
    works now, so the suppression is lifted too, or the retry would fail again at once without a try.
    Raises NotFoundError or RefusedError (with the reason in the owner's words).
    """
    detail = get_email(store, row_id)
    row = detail.row
    if row.status not in outbox.RETRYABLE_BY_OWNER:
        raise RefusedError(retry_refusal(row, zone))
    with store.read() as conn:
        reason = outbox.is_suppressed(conn, row.recipient_email) if row.recipient_email else None
    if not outbox.retry(store, row_id, now=now):
        raise RefusedError(retry_refusal(get_email(store, row_id).row, zone))  # it moved meanwhile
    if reason is not None:
        with store.transaction() as conn:
            outbox.unsuppress(conn, row.recipient_email)
    return RetryOutcome(get_email(store, row_id).row, reason)


def retry_refusal(row: OutboxRow, zone: tzinfo) -> str:
    name = f"email #{row.id}"
    if row.purged is not None and row.status in outbox.RETRYABLE_BY_OWNER:
        return f"{name} cannot be sent again: {purge_note(row, zone)}"
    match row.status:
        case Status.SENT:
            reply = f" (the server answered: {printable(row.smtp_reply)})" if row.smtp_reply else ""
            return (
                f"{name} was already sent on {when(row.sent_at, zone)}{reply}: it is not sent twice; "
                f"if the customer cannot find it, ask them to look in spam"
            )
        case Status.SKIPPED:
            return (
                f"{name} was never written: the bridge skipped it because {printable(row.skip_reason)}; "
                f"there is nothing to send again"
            )
        case Status.SENDING:
            return f"{name} is being sent right now (lease until {when(row.lease_until, zone)})"
        case Status.QUEUED | Status.RETRY:
            return f"{name} is already waiting to be sent: {status_text(row, zone)}"
        case Status.HELD:
            why = printable(row.skip_reason)
            return f"{name} is held ({why}): send it with `bridge outbox release {row.id}`"
    return f"{name} is {row.status.value}: only failed, unknown or cancelled emails can be retried"


def cancel_email(store: Store, row_id: int, *, now: datetime, zone: tzinfo) -> OutboxRow:
    """`bridge outbox cancel`: a queued, retrying or unknown email will not be sent."""
    row = get_email(store, row_id).row
    if row.status not in outbox.CANCELLABLE:
        raise RefusedError(cancel_refusal(row, zone))
    if not outbox.cancel(store, row_id, now=now):
        raise RefusedError(cancel_refusal(get_email(store, row_id).row, zone))
    return get_email(store, row_id).row


def cancel_refusal(row: OutboxRow, zone: tzinfo) -> str:
    name = f"email #{row.id}"
    match row.status:
        case Status.SENT:
            return f"{name} was already sent on {when(row.sent_at, zone)}: it cannot be cancelled"
        case Status.SKIPPED:
            return f"{name} was never sent: the bridge skipped it because {printable(row.skip_reason)}"
        case Status.CANCELLED:
            return f"{name} is already cancelled ({printable(row.skip_reason) or 'no reason recorded'})"
        case Status.FAILED:
            return f"{name} already failed ({printable(row.last_error)}): it will not be sent"
        case Status.SENDING:
            return (
                f"{name} is being sent right now (lease until {when(row.lease_until, zone)}): "
                f"it can be cancelled if it ends up waiting for a retry"
            )
    return f"{name} is {row.status.value}: only queued, retrying, unknown or held emails can be cancelled"


def release_emails(store: Store, row_ids: Sequence[int] | None, *, now: datetime) -> list[OutboxRow]:
    """`bridge outbox release`: held emails (these, or every held one for None) become due now, same
    Message-ID. Raises NotFoundError or RefusedError for a named email that is missing or not held,
    before anything is released."""
    if row_ids is not None:
        for row_id in row_ids:
            row = get_email(store, row_id).row
            if row.status is not Status.HELD:
                raise RefusedError(release_refusal(row))
    released = outbox.release(store, row_ids, now=now)
    return [get_email(store, row_id).row for row_id in released]


def release_refusal(row: OutboxRow) -> str:
    name = f"email #{row.id}"
    if row.status is Status.SENT:
        return f"{name} was already sent: only held emails can be released"
    if row.status in (Status.QUEUED, Status.RETRY, Status.SENDING):
        return f"{name} is not held: it is already on its way ({row.status.value})"
    if row.status in outbox.RETRYABLE_BY_OWNER:
        return f"{name} is {row.status.value}, not held: `bridge outbox retry {row.id}` queues it again"
    return f"{name} is {row.status.value}, not held: only held emails can be released"


def held_line(row: OutboxRow) -> str:
    """Why an email is held, and the command that sends it."""
    why = printable(row.skip_reason) or "held for you"
    return f"{why}; release with: bridge outbox release {row.id}"


def get_email(store: Store, row_id: int) -> OutboxDetail:
    """The email and its attempt log, or NotFoundError in the owner's words."""
    detail = outbox.get_row(store, row_id)
    if detail is None:
        raise NotFoundError(f"there is no email #{row_id} in the outbox (see `bridge outbox list`)")
    return detail


# --- explain order --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderStory:
    """What the state store knows of one order (or of every order sharing one reference)."""

    asked: str  # as the owner typed it, without a leading '#'
    by_id: bool  # True when `asked` was taken as an order id
    order_ids: tuple[int, ...]
    references: tuple[str, ...]
    seen: tuple[SeenOrder, ...]
    emails: tuple[OutboxDetail, ...]  # oldest first
    baseline_order_id: int | None  # orders up to this id were in the shop before the first run
    baseline_at: datetime | None

    @property
    def found(self) -> bool:
        return bool(self.order_ids)


def find_order(store: Store, asked: str) -> OrderStory:
    """The order `asked` names: an id (`42`, `#42`) or a reference (`NIKDKIOIE`, any case).

    A PrestaShop reference is shared by the orders one checkout was split into (one per carrier), so a
    reference may name several orders. Digits that are no known order id are tried as a reference too.
    """
    text = asked.strip().lstrip("#").strip()
    by_id = text.isdigit()
    with store.read() as tx:
        baseline = cursors.load(tx).orders
        ids: set[int] = set()
        if by_id and reports.order_known(tx, int(text)):
            ids.add(int(text))
        if not ids and text:
            ids = reports.orders_with_reference(tx, text.upper())
            by_id = by_id and not ids
        seen = get_seen_orders(tx, ids)
    emails = [
        detail
        for order_id in sorted(ids)
        for row in outbox.list_rows(store, order_id=order_id, limit=ORDER_EMAILS_LIMIT)
        if (detail := outbox.get_row(store, row.id)) is not None
    ]
    emails.sort(key=lambda detail: (detail.row.created_at, detail.row.id))
    references = {s.reference for s in seen.values()} | {
        d.row.order_reference for d in emails if d.row.order_reference
    }
    return OrderStory(
        asked=text,
        by_id=by_id,
        order_ids=tuple(sorted(ids)),
        references=tuple(sorted(references)),
        seen=tuple(seen[i] for i in sorted(seen)),
        emails=tuple(emails),
        baseline_order_id=baseline.baseline_order_id if baseline.baseline_at is not None else None,
        baseline_at=baseline.baseline_at,
    )


def order_story_lines(story: OrderStory, zone: tzinfo, language_of: LanguageOf) -> list[str]:
    """`bridge explain order`: every email the bridge sent, queued or skipped for the order, oldest first.

    `language_of(row)` says which template language the email is written in (see `template_language`).
    """
    if not story.found:
        return _never_seen(story, zone)
    lines = [_order_heading(story, zone)]
    lines += _baseline_note(story, zone)
    if not story.emails:
        lines.append(
            "The bridge sent, queued and skipped no email for it: nothing it saw happen to the order calls"
            " for one."
        )
        return lines
    count = len(story.emails)
    lines.append(f"{count} email{'s' if count != 1 else ''}, oldest first (times in {zone_name(zone)}):")
    several = len(story.order_ids) > 1
    for detail in story.emails:
        lines.append("")
        lines += _email_story(detail, zone, language_of(detail.row), show_order=several)
    return lines


def _order_heading(story: OrderStory, zone: tzinfo) -> str:
    references = ", ".join(printable(r) for r in story.references)
    ids = ", ".join(f"#{i}" for i in story.order_ids)
    if len(story.order_ids) > 1:
        heading = f"Orders {ids} (reference {references}: one checkout split into several orders)"
    else:
        heading = f"Order {references} ({ids})" if references else f"Order {ids}"
    firsts = [s.first_seen_at for s in story.seen if s.first_seen_at is not None]
    if firsts:
        heading += f", first seen by the bridge {when(min(firsts), zone)}"
    return heading


def _baseline_note(story: OrderStory, zone: tzinfo) -> list[str]:
    base = story.baseline_order_id
    old = [i for i in story.order_ids if base is not None and i <= base]
    if not old:
        return []
    which = "It was" if len(old) == len(story.order_ids) else f"Order {', '.join(f'#{i}' for i in old)} was"
    return [
        f"{which} already in the shop when the bridge started ({_baseline_text(story, zone)}): orders placed"
        " before the first run get no order confirmation; only what happened to it afterwards sends email."
    ]


def _baseline_text(story: OrderStory, zone: tzinfo) -> str:
    parts = []
    if story.baseline_at is not None:
        parts.append(f"first run {when(story.baseline_at, zone)}")
    if story.baseline_order_id is not None:
        parts.append(f"orders up to #{story.baseline_order_id}")
    return ", ".join(parts) or "first run"


def _never_seen(story: OrderStory, zone: tzinfo) -> list[str]:
    what = f"order #{story.asked}" if story.by_id else f"an order with reference {printable(story.asked)}"
    lines = [f"The bridge has never seen {what}: it sent, queued and skipped no email for it."]
    if story.baseline_at is None:
        lines.append(
            "The bridge has not run yet with this state store: its first run records where the shop stands"
            " and sends nothing; orders placed before that get no order confirmation."
        )
    elif story.by_id and story.baseline_order_id is not None and int(story.asked) <= story.baseline_order_id:
        lines.append(
            f"It was already in the shop when the bridge started ({_baseline_text(story, zone)}): orders"
            " placed before the first run get no order confirmation, and nothing has happened to it since"
            " that calls for an email."
        )
    else:
        lines.append(
            f"Orders placed before the bridge's first run ({_baseline_text(story, zone)}) get no order"
            " confirmation. A newer order is picked up by the next `bridge sync`; check the id or reference"
            " in the back office."
        )
    return lines


def _email_story(detail: OutboxDetail, zone: tzinfo, language: str | None, *, show_order: bool) -> list[str]:
    row = detail.row
    pad = "      "
    lines = [f"  #{row.id}  {row.kind}: {status_text(row, zone)}"]
    facts: list[tuple[str, str]] = [
        ("decided", f"{when(row.created_at, zone)} ({printable(row.idempotency_key)})")
    ]
    if show_order:
        facts.append(("order", f"#{row.order_id}"))
    purged = purge_note(row, zone)
    if purged is not None:
        facts.append(("purged", purged))
    if row.status is Status.SKIPPED:
        facts.append(("why not", printable(row.skip_reason) or "no reason recorded"))
        return lines + _facts(facts, pad)
    facts.append(("to", recipient_text(row)))
    facts.append(("Message-ID", printable(row.message_id)))
    if language is not None:
        facts.append(("template", language))
    for number, attempt in enumerate(detail.attempts, start=1):
        outcome = attempt.outcome or "in progress"
        said = printable(attempt.smtp_reply or attempt.error)
        facts.append(
            (
                f"attempt {number}",
                f"{when(attempt.started_at, zone)} → {outcome}" + (f": {said}" if said else ""),
            )
        )
    # The Sent folder's verdict on a cut-off send, or a bounce (bridge.mailbox).
    settled = settled_note(row.smtp_reply) or settled_note(row.last_error)
    if settled is not None:
        facts.append(("mailbox", printable(settled)))
    if row.status is Status.CANCELLED:
        facts.append(("why not", printable(row.skip_reason) or "no reason recorded"))
    elif row.status is Status.HELD:
        facts.append(("why held", held_line(row)))
    elif row.status is not Status.SENT and row.last_error:
        facts.append(("last error", printable(row.last_error)))
    if row.status is Status.SENT and row.smtp_reply and not detail.attempts:
        facts.append(("SMTP reply", printable(row.smtp_reply)))
    return lines + _facts(facts, pad)


def _facts(facts: Iterable[tuple[str, str]], pad: str) -> list[str]:
    listed = list(facts)
    width = max(len(label) for label, _ in listed)
    return [f"{pad}{label.ljust(width)}  {value}" for label, value in listed]


# --- marketing: a cart's reminders, an address's mail ------------------------------------------------------


def cart_story_lines(store: Store, cart_id: int, zone: tzinfo, language_of: LanguageOf) -> list[str]:
    """`bridge explain cart ID`: the cart's reminder series and every reminder sent, waiting or skipped."""
    from bridge.state.carts import series_of

    series = series_of(store, cart_id)
    rows = sorted(outbox.list_rows(store, cart_id=cart_id, limit=ORDER_EMAILS_LIMIT), key=lambda r: r.id)
    if series is None and not rows:
        return [
            f"The bridge has no reminder series for cart #{cart_id}: it never saw the cart change while"
            " cart reminders were on (anonymous carts and carts left before the first run get none)."
        ]
    lines = [f"Cart #{cart_id}"]
    if series is not None:
        state = {"open": "reminders continue", "done": "every reminder was handled", "stopped": "stopped"}
        lines.append(
            f"  customer #{series.customer_id}, last changed {when(series.cart_updated_at, zone)};"
            f" {series.steps_done} reminder(s) handled; {state.get(series.status, series.status)}"
            + (
                f": {printable(series.stop_reason)}"
                if series.status == "stopped" and series.stop_reason
                else ""
            )
        )
    lines.append(f"{len(rows)} reminder(s), oldest first (times in {zone_name(zone)}):")
    return lines + _stories_with_consent(store, rows, zone, language_of)


def address_story_lines(store: Store, email: str, zone: tzinfo, language_of: LanguageOf) -> list[str]:
    """`bridge explain address EMAIL`: whether marketing mail may go to it, and every email to it."""
    address = normalise_email(email)
    with store.read() as tx:
        gone = unsubscribed(tx, address)
        bounced = outbox.is_suppressed(tx, address)
    rows = sorted(
        outbox.list_rows(store, recipient_email=address, limit=ORDER_EMAILS_LIMIT), key=lambda r: r.id
    )
    lines = [f"Emails to {printable(address)}"]
    if gone is not None:
        lines.append(
            f"  unsubscribed from marketing mail {when(gone.created_at, zone)} ({gone.source}):"
            " cart reminders and review requests are not sent; order emails still are"
        )
    else:
        lines.append("  not unsubscribed: marketing mail goes when the customer's consent allows it")
    if bounced is not None:
        lines.append(f"  suppressed after a permanent refusal: {printable(bounced)}")
    lines.append(f"{len(rows)} email(s), oldest first (times in {zone_name(zone)}):")
    return lines + _stories_with_consent(store, rows, zone, language_of)


def _stories_with_consent(
    store: Store, rows: Sequence[OutboxRow], zone: tzinfo, language_of: LanguageOf
) -> list[str]:
    """Each email's story, and for marketing mail that went (or waits) the consent it rests on."""
    lines: list[str] = []
    for row in rows:
        detail = outbox.get_row(store, row.id)
        if detail is None:
            continue
        lines.append("")
        lines += _email_story(detail, zone, language_of(row), show_order=row.order_id is not None)
        if row.consent and row.status is not Status.SKIPPED:
            lines.append(f"      consent  {printable(row.consent)}")
        if (code := personal_code_line(store, row, zone)) is not None:
            lines.append(f"      code     {code}")
    return lines


def thread_story_lines(store: Store, thread_id: int, zone: tzinfo, language_of: LanguageOf) -> list[str]:
    """`bridge explain thread ID`: every reply and acknowledgement of one customer conversation, sent,
    waiting or skipped (an internal note is a skip that says so)."""
    from bridge.state import service

    details = [d for d in (outbox.get_row(store, i) for i in service.thread_email_ids(store, thread_id)) if d]
    if not details:
        position = service.message_watch_position(store)
        where = (
            "the bridge has not watched customers' messages yet (its first poll records where they stand)"
            if position is None
            else f"the watch of customers' messages has read up to message #{position}; messages written"
            " before the bridge's first run are history, later ones are read at the next poll"
        )
        return [f"The bridge has no email for conversation #{thread_id}: {where}."]
    count = len(details)
    lines = [f"Conversation #{thread_id}: {count} email(s), oldest first (times in {zone_name(zone)}):"]
    for detail in details:
        row = detail.row
        lines.append("")
        lines += _email_story(detail, zone, language_of(row), show_order=row.order_id is not None)
    return lines
