"""Command line: the one place errors become a one-line message and a sysexits exit code.

Exit codes (sysexits): 0 done; 1 the owner declined a `sync --since` catch-up (nothing queued); 64
EX_USAGE the command needs more (a catch-up with no terminal to ask and no --yes, `outbox release` with
neither IDs nor --held); 65 EX_DATAERR the templates have problems, or the email is in a state
the action does not apply to (retry a sent email); 66 EX_NOINPUT the email or order named is not in the
state store; 69/73/75/76/77/78 as `bridge.errors` says; the README's table lists each with what to do.
The owner's commands (`outbox`, `explain`, `forget`, `templates`) read only the state store and the
templates, so they work while the shop is down. The commands that read the shop are marked `needs_shop`:
without a PRESTASHOP_URL they stop (78) before writing anything.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from datetime import datetime, tzinfo
from pathlib import Path

from bridge import __version__
from bridge.clock import Clock, SystemClock
from bridge.commands.campaign import add_campaign_command
from bridge.commands.check import OPTIONAL_RESOURCES, REQUIRED_RESOURCES, ShopReport, check_shop, check_smtp
from bridge.commands.setup_commands import add_setup_wizard_commands
from bridge.commands.terms import add_terms_command
from bridge.config import Settings, load_settings
from bridge.delivery.deliver import resume_after_login_in
from bridge.errors import BridgeError, ConfigError
from bridge.logs import log_settings_warnings, setup_logging
from bridge.state.outbox import OutboxRow, Status
from bridge.state.store import Store

log = logging.getLogger("bridge")

Command = Callable[[argparse.Namespace, Settings], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bridge",
        description="Sends a PrestaShop shop's customer emails through Gmail SMTP (or any SMTP server).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--env-file", type=Path, metavar="PATH", help="read settings from PATH instead of ./.env"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_setup_commands(commands)
    add_cycle_commands(commands)
    add_operation_commands(commands)
    add_preview_commands(commands)
    add_outbox_commands(commands)
    add_explain_commands(commands)
    add_suppress_commands(commands)
    add_mailbox_commands(commands)
    add_forget_command(commands)
    add_terms_command(commands)
    add_campaign_command(commands)
    add_template_commands(commands)
    add_setup_wizard_commands(commands)
    return parser


def add_setup_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`check` and `demo`: what an owner runs first."""
    commands.add_parser(
        "check", help="validate the settings, reach the shop, and say what the key can read"
    ).set_defaults(run=cmd_check, needs_shop=True, prints_warnings=True)
    demo = commands.add_parser(
        "demo",
        help="play a few days of the embedded demo shop through the bridge (no configuration needed;"
        " the configured shop and state store are never touched)",
    )
    demo.add_argument(
        "--output",
        type=Path,
        default=Path("demo-output"),
        metavar="DIR",
        help="where the emails go: a new or empty folder, or an earlier demo's (default demo-output)",
    )
    demo.set_defaults(run=cmd_demo)


def add_cycle_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`sync` (one cycle) and `run` (the service)."""
    sync = commands.add_parser("sync", help="one cycle: poll the shop, queue the emails due, send them")
    sync.add_argument(
        "--since",
        type=parse_since,
        metavar="DATE",
        help="catch up on orders and status changes since DATE (the first run otherwise sends nothing):"
        " shows what it would queue and asks before queuing",
    )
    sync.add_argument(
        "--yes", action="store_true", help="with --since: queue and send without asking (for scripts)"
    )
    sync.add_argument(
        "--dry-run", action="store_true", help="with --since: show what would be queued; queue nothing"
    )
    sync.add_argument("--wait", action="store_true", help=WAIT_HELP)
    sync.set_defaults(run=cmd_sync, needs_shop=True)
    run = commands.add_parser(
        "run",
        help="the service: poll the shop every POLL_INTERVAL and send each email as soon as it is due"
        " (SIGTERM or Ctrl-C stops it after the email in flight)",
    )
    run.add_argument("--wait", action="store_true", help=WAIT_HELP)
    run.set_defaults(run=cmd_run, needs_shop=True)


def add_operation_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`status` and `systemd-unit`: watching and installing the service."""
    status = commands.add_parser(
        "status",
        help="when the shop was last polled, the cursors, the outbox, the daily budget, pauses, errors",
    )
    status.add_argument("--json", action="store_true", help="one JSON object, for monitoring")
    status.set_defaults(run=cmd_status)
    unit = commands.add_parser("systemd-unit", help="print a systemd unit for this installation")
    unit.add_argument(
        "unit",
        nargs="?",
        default="bridge.service",
        choices=("bridge.service", "bridge-sync.service", "bridge-sync.timer"),
        help="bridge.service (the default: `bridge run`), or bridge-sync.service and bridge-sync.timer"
        " (`bridge sync` every 5 minutes instead)",
    )
    unit.set_defaults(run=cmd_systemd_unit)


def add_preview_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`preview` and `test-email`: see the emails before customers do."""
    preview = commands.add_parser(
        "preview",
        help="render one email with a real order of the shop and print it (nothing is sent;"
        " --output DIR writes .html and .eml files)",
    )
    preview.add_argument(
        "kind", nargs="?", metavar="KIND", help="order_confirmation, shipped, … (omit with --all)"
    )
    preview.add_argument("--order", required=True, metavar="ID", help="the order's id or reference")
    preview.add_argument(
        "--lang",
        metavar="CODE",
        help="template language (default: the order's; with --all: every shop language)",
    )
    preview.add_argument(
        "--all", dest="all_kinds", action="store_true", help="every kind that applies to the order"
    )
    preview.add_argument(
        "--output", type=Path, metavar="DIR", help="write .html and .eml files into DIR instead of printing"
    )
    preview.set_defaults(run=cmd_preview, needs_shop=True)
    test_email = commands.add_parser(
        "test-email", help="send a sample order confirmation through the configured SMTP server"
    )
    test_email.add_argument(
        "--to", required=True, metavar="ADDRESS", help="where to send it (your own address)"
    )
    test_email.set_defaults(run=cmd_test_email, prints_warnings=True)


def add_outbox_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    outbox = commands.add_parser("outbox", help="list, show, retry or cancel the emails in the outbox")
    actions = outbox.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="the newest emails, one line each")
    listing.add_argument("--status", choices=[status.value for status in Status], help="only this status")
    listing.add_argument("--order", metavar="ID", help="only this order's emails (its id or reference)")
    listing.add_argument(
        "--limit", type=positive_int, default=50, metavar="N", help="at most N emails (default 50)"
    )
    listing.set_defaults(run=cmd_outbox_list)
    show = actions.add_parser("show", help="everything about one email, its attempt log included")
    show.add_argument("id", type=email_id, metavar="ID")
    show.set_defaults(run=cmd_outbox_show)
    retry = actions.add_parser(
        "retry", help="queue a failed, unknown or cancelled email again (same Message-ID)"
    )
    retry.add_argument("id", type=email_id, metavar="ID")
    retry.set_defaults(run=cmd_outbox_retry)
    cancel = actions.add_parser(
        "cancel", help="make sure a queued, retrying, unknown or held email is not sent"
    )
    cancel.add_argument("id", type=email_id, metavar="ID")
    cancel.set_defaults(run=cmd_outbox_cancel)
    release = actions.add_parser(
        "release", help="send held emails (older than MAX_EMAIL_AGE): these IDs, or --held for all"
    )
    release.add_argument("ids", type=email_id, nargs="*", metavar="ID")
    release.add_argument("--held", action="store_true", help="every held email")
    release.set_defaults(run=cmd_outbox_release)


def add_suppress_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    suppress = commands.add_parser(
        "suppress",
        help="stop marketing mail to an address (an unsubscribe request that reached you by email)",
    )
    suppress.add_argument(
        "address",
        nargs="?",
        metavar="ADDRESS",
        help="the customer's email address, or the subject of their unsubscribe email ('unsubscribe 1.…')",
    )
    suppress.add_argument("--list", action="store_true", help="list every unsubscribed address")
    suppress.set_defaults(run=cmd_suppress)
    unsuppress = commands.add_parser(
        "unsuppress",
        help="allow marketing mail to an address again (the customer asked you), or any mail after a bounce",
    )
    unsuppress.add_argument("address", metavar="ADDRESS")
    unsuppress.set_defaults(run=cmd_unsuppress)


def add_mailbox_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    mailbox = commands.add_parser("mailbox", help="the sending account's mailbox (IMAP)")
    actions = mailbox.add_subparsers(dest="action", required=True, metavar="ACTION")
    confirm = actions.add_parser(
        "confirm-sender",
        help="the other bridge seen in the Sent folder is stopped (or meant to be): marketing goes again",
    )
    confirm.set_defaults(run=cmd_mailbox_confirm_sender)


def add_forget_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    forget = commands.add_parser(
        "forget",
        help="erase what the state store holds about one person (a GDPR erasure request); an unsubscribe"
        " or suppression stays, as a keyed hash, so the address stays refused",
    )
    forget.add_argument("address", metavar="ADDRESS", help="the customer's email address")
    forget.add_argument("--dry-run", action="store_true", help="show what would be erased; change nothing")
    forget.set_defaults(run=cmd_forget)


def add_explain_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    explain = commands.add_parser("explain", help="why the bridge sent, or did not send, each email")
    subjects = explain.add_subparsers(dest="subject", required=True, metavar="WHAT")
    order = subjects.add_parser("order", help="every email of one order: sent, pending or skipped, and why")
    order.add_argument("order", metavar="ID", help="the order's id (42) or reference (NIKDKIOIE)")
    order.set_defaults(run=cmd_explain_order)
    cart = subjects.add_parser("cart", help="a cart's reminders: sent, waiting or skipped, and why")
    cart.add_argument("cart", type=email_id, metavar="ID", help="the cart's id")
    cart.set_defaults(run=cmd_explain_cart)
    address = subjects.add_parser(
        "address", help="every email to an address, and whether it unsubscribed from marketing mail"
    )
    address.add_argument("address", metavar="EMAIL")
    address.set_defaults(run=cmd_explain_address)
    thread = subjects.add_parser(
        "thread", help="a customer conversation's replies and acknowledgements: sent or skipped, and why"
    )
    thread.add_argument("thread", type=thread_id, metavar="ID", help="the conversation's id (#12 in emails)")
    thread.set_defaults(run=cmd_explain_thread)


def add_template_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    templates = commands.add_parser("templates", help="check or preview the email templates")
    actions = templates.add_subparsers(dest="action", required=True, metavar="ACTION")
    lint = actions.add_parser("lint", help="render every kind in every language and report each problem")
    lint.add_argument(
        "--dir", type=Path, metavar="PATH", help="your templates folder (default: the TEMPLATES_DIR setting)"
    )
    lint.set_defaults(run=cmd_templates_lint)
    preview = actions.add_parser("preview", help="render one kind with sample data: HTML to a file")
    preview.add_argument("kind", metavar="KIND", help="an email kind, e.g. order_confirmation")
    preview.add_argument(
        "--language", metavar="LANG", help="template language (default: the DEFAULT_LANGUAGE setting)"
    )
    preview.add_argument(
        "--sample", type=int, default=0, metavar="N", help="which sample of the kind (0 is the main one)"
    )
    preview.add_argument(
        "--output", type=Path, metavar="FILE.html", help="also write the HTML part into FILE.html"
    )
    preview.set_defaults(run=cmd_templates_preview)


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return int(text)


def email_id(text: str) -> int:
    """`12` or `#12`, as `bridge outbox list` shows it."""
    digits = text.strip().removeprefix("#")
    if not digits.isdigit():
        raise argparse.ArgumentTypeError(f"not an email id: {text!r} (the number in the ID column)")
    return int(digits)


def thread_id(text: str) -> int:
    """`12` or `#12`, as the customer-service emails show a conversation."""
    digits = text.strip().removeprefix("#")
    if not digits.isdigit():
        raise argparse.ArgumentTypeError(f"not a conversation id: {text!r} (the number after # in emails)")
    return int(digits)


def print_shop_report(report: ShopReport) -> None:
    print(f"Shop:       {report.base_url} (PrestaShop {report.version or 'version not sent'})")
    print(f"URL form:   {'/api/ (URL rewriting)' if report.url_form == 'api' else 'dispatcher.php'}")
    print(f"Timezone:   {report.timezone}")
    print(f"Languages:  {', '.join(report.languages) or 'none active'}")
    print(f"Currencies: {', '.join(report.currencies) or 'none active'}")
    needed = [name for name in REQUIRED_RESOURCES if name in report.readable]
    optional = [name for name in OPTIONAL_RESOURCES if name in report.readable]
    print(
        f"Key reads:  the {len(needed)} resources the bridge needs"
        + (f", and {', '.join(optional)}" if optional else "")
    )
    if report.own_mail:
        print(f"Shop mail:  {report.own_mail}")
    if report.marketing:
        print(f"Marketing:  {report.marketing}")
    for line in report.branding:
        print(f"Branding:   {line}")
    if report.invoices:
        print(f"Invoices:   {report.invoices}")


def print_warnings(warnings: list[str] | tuple[str, ...]) -> None:
    for warning in warnings:
        print(f"warning: {warning}")


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.app import open_shop
    from bridge.commands.check import Finding
    from bridge.cycle.belongs import store_warning
    from bridge.mailbox.client import check_mailbox

    print("Settings:   OK")
    print_warnings(settings.warnings)
    with open_shop(settings) as client:
        report = check_shop(client, settings)
        foreign = store_warning(client, settings)  # another shop's state store: sync and run refuse it
    if foreign is not None:
        report.findings.append(Finding("warning", foreign))
    print_shop_report(report)
    print(
        "One bridge: per shop. A second one on this machine is refused; one on another machine cannot be"
        " seen through the webservice and would send every email a second time."
    )
    print_warnings(report.warnings)
    smtp = check_smtp(settings)  # logs in without sending; DeliveryError (exit 75) explains a refusal
    print(smtp)
    print_warnings(smtp.warnings)
    if smtp.login is not None:
        lifted = resume_after_login_in(settings, SystemClock().now())
        if lifted is not None:
            print(f"Sending:    resumes now; it was paused after: {lifted.reason}")
    print(check_mailbox(settings.mailbox))  # logs in read-only; MailboxError (exit 75) says what to fix
    mail_side = " and log in to its SMTP server" if smtp.login is not None else ""
    warned = report.warnings or smtp.warnings
    print(
        f"Result:     the bridge can read this shop{mail_side}"
        + (" (see the warnings above)" if warned else "")
    )
    return 0


def cmd_test_email(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.commands.testmail import load_identity_for_test, send_test_email

    print_warnings(settings.warnings)
    clock = SystemClock()
    report = send_test_email(settings, args.to, identity=load_identity_for_test(settings), clock=clock)
    print(report)
    if settings.mail_transport == "smtp":
        lifted = resume_after_login_in(settings, clock.now())
        if lifted is not None:
            print(f"Sending resumes now; it was paused after: {lifted.reason}")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.commands.demo import run_demo

    if settings.log_level == "INFO":
        logging.getLogger().setLevel(logging.WARNING)  # the story is the output; LOG_LEVEL=DEBUG shows more
    run_demo(settings, args.output, print)
    return 0


def parse_since(text: str) -> datetime:
    """A date (midnight) or a date and time, in the shop's time zone when no offset is given."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a date: {text!r} (use 2026-11-20 or 2026-11-20T08:00)"
        ) from None
    return value


WAIT_HELP = "if another bridge is running, wait for it to finish instead of exiting with 75"


def cmd_sync(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.app import open_bridge
    from bridge.commands.catchup import CatchUpConfirmation, CatchUpStopped
    from bridge.lock import bridge_lock
    from bridge.service import sync_recorded

    if (args.yes or args.dry_run) and args.since is None:
        print("bridge sync: --yes and --dry-run go with --since DATE", file=sys.stderr)
        return 64  # EX_USAGE
    clock: Clock = args.clock
    locked = bridge_lock(settings.state_dir, shop_url=settings.prestashop_url, wait=args.wait)
    with locked, open_bridge(settings, clock) as bridge:
        since: datetime | None = args.since
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=bridge.client.shop_timezone())
        confirm = None
        if since is not None:  # a catch-up mails old events: shown first, queued only once confirmed
            confirm = CatchUpConfirmation(since, yes=args.yes, dry_run=args.dry_run)
        try:
            summary = sync_recorded(bridge, since=since, confirm=confirm)
        except CatchUpStopped as stopped:
            if stopped.exit_code == 0:
                print(stopped)
            else:
                print(f"bridge: {stopped}", file=sys.stderr)
            return stopped.exit_code
    print(summary.line())
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.app import open_bridge
    from bridge.lock import bridge_lock
    from bridge.service import Service

    locked = bridge_lock(settings.state_dir, shop_url=settings.prestashop_url, wait=args.wait)
    with locked, open_bridge(settings, args.clock) as bridge:
        Service(bridge).run()  # returns after SIGTERM/SIGINT, once the email in flight is recorded
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from bridge.commands.status import gather
    from bridge.delivery.deliver import existing_store
    from bridge.lock import holder

    quiet_logs(settings)
    with existing_store(settings) as store:  # a status check creates nothing
        if store is None:
            return print_no_store(settings, as_json=args.json)
        report = gather(store, settings, now=args.clock.now(), running_pid=holder(settings.state_dir))
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        for line in report.lines():
            print(line)
    return 0


def print_no_store(settings: Settings, *, as_json: bool) -> int:
    """`bridge status` before the first sync: say so, and create nothing."""
    import json

    if as_json:
        print(json.dumps({"state_store": settings.database_url, "exists": False}, indent=2))
    else:
        print(f"No state store yet ({settings.database_url}): the bridge has not run with these settings.")
        print("The first `bridge sync` records where the shop stands and creates it.")
    return 0


def cmd_preview(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.app import open_shop
    from bridge.commands.preview import preview_text, render_previews, write_preview

    if (args.kind is None) != args.all_kinds:
        print("bridge preview: name one KIND, or use --all", file=sys.stderr)
        return 64  # EX_USAGE
    with open_shop(settings) as client:
        previews = render_previews(
            client, settings, args.kind, args.order, language=args.lang, all_kinds=args.all_kinds
        )
    for preview in previews:
        if args.output is None:
            print(preview_text(preview))
        else:
            print(*write_preview(args.output, preview), sep="\n")
    if args.output is None and previews:
        print("(nothing written: --output DIR writes each email as .html and .eml files)")
    return 0


def cmd_systemd_unit(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.commands.systemd import unit_text

    print(unit_text(args.unit), end="")
    return 0


# --- the owner's commands: the state store only ----------------------------------------------------------


def quiet_logs(settings: Settings) -> None:
    """The owner's commands print their answer; INFO lines about opening the store would bury it."""
    if settings.log_level == "INFO":
        logging.getLogger().setLevel(logging.WARNING)


def display_zone(settings: Settings, store: Store, clock: Clock) -> tzinfo:
    """SHOP_TIMEZONE, else the shop's PS_TIMEZONE as the last sync recorded it, else this machine's."""
    from bridge.delivery.deliver import stored_identity

    if settings.shop_timezone is not None:
        return settings.shop_timezone
    try:
        identity = stored_identity(store)
    except (BridgeError, TypeError, ValueError):  # a snapshot written by another version: not worth failing
        identity = None
    if identity is not None:
        return identity.zone
    local = clock.now().astimezone().tzinfo
    assert local is not None
    return local


def open_state(settings: Settings) -> Store:
    from bridge.state.store import open_store

    quiet_logs(settings)
    return open_store(settings.database_url)


def cmd_outbox_list(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.commands import explain
    from bridge.state import outbox

    with open_state(settings) as store:
        zone = display_zone(settings, store, args.clock)
        if args.order is None:
            rows = outbox.list_rows(store, status=args.status, limit=args.limit)
            story = None
        else:
            story = explain.find_order(store, args.order)
            rows = sorted(
                (
                    detail.row
                    for detail in story.emails
                    if args.status is None or detail.row.status == args.status
                ),
                key=lambda row: row.id,
                reverse=True,
            )[: args.limit]
        ran = _has_run(store)
    if not rows:
        what = f"{args.status} emails" if args.status else "emails"
        where = f" for order {args.order}" if args.order is not None else " in the outbox"
        print(f"No {what}{where}.")
        if story is not None and not story.found:
            print(
                f"The bridge has never seen order {args.order}:"
                f" `bridge explain order {args.order}` says more."
            )
        elif not ran:
            print(f"The bridge has not run yet with this state store ({store.location}): run `bridge sync`.")
        return 0
    for line in explain.outbox_table(rows, zone):
        print(line)
    more = f"; --limit {args.limit * 2} shows more" if len(rows) == args.limit else ""
    print(f"{len(rows)} email(s), newest first; times in {explain.zone_name(zone)}{more}")
    return 0


def _has_run(store: Store) -> bool:
    from bridge.state import cursors

    with store.read() as tx:
        return cursors.load(tx).orders.baseline_at is not None


def cmd_outbox_show(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.commands import explain
    from bridge.mail.render import get_renderer

    with open_state(settings) as store:
        zone = display_zone(settings, store, args.clock)
        detail = explain.get_email(store, args.id)
        code = explain.personal_code_line(store, detail.row, zone)
    language = explain.template_language(
        get_renderer(settings.templates_dir), detail.row, settings.default_language
    )
    for line in explain.email_detail(detail, zone, language):
        print(line)
    if code is not None:
        print(f"Personal code: {code}")
    return 0


def cmd_outbox_retry(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.commands import explain

    clock: Clock = args.clock
    with open_state(settings) as store:
        zone = display_zone(settings, store, clock)
        result = explain.retry_email(store, args.id, now=clock.now(), zone=zone)
    row = result.row
    print(f"Email #{row.id} ({row.kind} for order {explain.order_label(row)}) is queued again.")
    print(
        f"It keeps its Message-ID {explain.printable(row.message_id)}: should an earlier attempt have"
        " reached the customer after all, mail programs that group by Message-ID (Gmail does) show it once."
    )
    if result.unsuppressed is not None:
        print(
            f"{explain.printable(row.recipient_email)} was blocked after a permanent refusal"
            f" ({explain.printable(result.unsuppressed)}); the bridge will try that address again."
        )
    print("The next sync sends it (`bridge sync`, or the bridge running as a service).")
    return 0


def cmd_outbox_cancel(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.commands import explain

    clock: Clock = args.clock
    with open_state(settings) as store:
        zone = display_zone(settings, store, clock)
        row = explain.cancel_email(store, args.id, now=clock.now(), zone=zone)
    print(
        f"Email #{row.id} ({row.kind} for order {explain.order_label(row)}) is cancelled:"
        " it will not be sent."
    )
    print(f"`bridge outbox retry {row.id}` queues it again.")
    return 0


def cmd_outbox_release(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.commands import explain

    if bool(args.ids) == args.held:
        print("bridge outbox release: name the held emails' IDs, or use --held for all", file=sys.stderr)
        return 64  # EX_USAGE
    clock: Clock = args.clock
    with open_state(settings) as store:
        rows = explain.release_emails(store, None if args.held else args.ids, now=clock.now())
    if not rows:
        print("No email is held.")
        return 0
    for row in rows:
        print(f"Email #{row.id} ({row.kind} for order {explain.order_label(row)}) is released: due now.")
    print("The next sync sends them (`bridge sync`, or the bridge running as a service).")
    return 0


def cmd_suppress(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.state import unsubscribes
    from bridge.state.plans import cancel_marketing
    from bridge.web import unsubscribe

    clock: Clock = args.clock
    if args.list:
        with open_state(settings) as store, store.read() as conn:
            rows = unsubscribes.list_unsubscribed(conn)
        for row in rows:
            print(f"{row.created_at:%Y-%m-%d %H:%M} UTC  {row.source:<9}  {row.email}")
        print(f"{len(rows)} address(es) get no marketing mail.")
        return 0
    if not args.address:
        raise ConfigError("give the address to suppress (or --list)")
    given: str = args.address.strip()
    token = None if "@" in given and " " not in given else unsubscribe.token_from_mailto_subject(given)
    source: unsubscribe.Source = "cli"
    email = given
    if token is not None:
        signer = unsubscribe.Signer(unsubscribe.load_key(settings.state_dir, settings.unsubscribe_secret))
        try:
            email = signer.verify(token)
        except unsubscribe.InvalidToken:
            raise ConfigError(
                "that unsubscribe subject was not signed by this bridge (or lost characters on the way):"
                " suppress the sender's address instead"
            ) from None
        source = "mailto"
    local, _, domain = email.rpartition("@")
    if not local or "." not in domain or any(ch.isspace() for ch in email):
        raise ConfigError(f"not an email address: {email!r}")
    now = clock.now()
    with open_state(settings) as store, store.transaction() as conn:
        new = unsubscribe.unsubscribe(conn, email, source, now=now)
        cancelled = cancel_marketing(conn, email, "not sent: the address unsubscribed", now=now)
    what = "now gets" if new else "already got"
    print(f"{unsubscribes.normalise_email(email)} {what} no marketing mail (order emails still go).")
    if cancelled:
        print(f"{len(cancelled)} waiting marketing email(s) cancelled.")
    return 0


def cmd_unsuppress(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.state import unsubscribes
    from bridge.state.mailbox import lift_suppression

    with open_state(settings) as store, store.transaction() as conn:
        found = unsubscribes.resubscribe(conn, args.address)
        bounced = lift_suppression(conn, args.address)  # a bounce's (or a refusal's) suppression
    email = unsubscribes.normalise_email(args.address)
    if bounced is not None:
        print(f"{email} gets mail again; it was suppressed: {bounced}")
    if not found:
        if bounced is not None:
            return 0
        print(f"{email} had not unsubscribed.")
        return 0
    print(f"{email} may get marketing mail again (if the shop records their consent).")
    return 0


def cmd_mailbox_confirm_sender(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.mailbox.report import confirm_sender

    with open_state(settings) as store:
        print(confirm_sender(store, now=args.clock.now()))
    return 0


def cmd_forget(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.commands.forget import checked_address, forget_lines

    checked_address(args.address)  # before a store is opened (or created)
    clock: Clock = args.clock
    with open_state(settings) as store:
        lines = forget_lines(store, args.address, now=clock.now(), dry_run=args.dry_run)
    for line in lines:
        print(line)
    return 0


def cmd_explain_order(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.commands import explain
    from bridge.mail.render import get_renderer

    renderer = get_renderer(settings.templates_dir)
    with open_state(settings) as store:
        zone = display_zone(settings, store, args.clock)
        story = explain.find_order(store, args.order)

    def language_of(row: OutboxRow) -> str | None:
        return explain.template_language(renderer, row, settings.default_language)

    for line in explain.order_story_lines(story, zone, language_of):
        print(line)
    return 0 if story.found else explain.NotFoundError.exit_code


def cmd_explain_cart(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.commands import explain

    return print_story(
        args,
        settings,
        lambda store, zone, language_of: explain.cart_story_lines(store, args.cart, zone, language_of),
    )


def cmd_explain_address(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.commands import explain

    return print_story(
        args,
        settings,
        lambda store, zone, language_of: explain.address_story_lines(store, args.address, zone, language_of),
    )


def cmd_explain_thread(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.commands import explain

    return print_story(
        args,
        settings,
        lambda store, zone, language_of: explain.thread_story_lines(store, args.thread, zone, language_of),
    )


def print_story(
    args: argparse.Namespace,
    settings: Settings,
    story: Callable[[Store, tzinfo, Callable[[OutboxRow], str | None]], list[str]],
) -> int:
    """Print an `explain` story told from the state store, with each email's template language."""
    from bridge.commands import explain
    from bridge.mail.render import get_renderer

    renderer = get_renderer(settings.templates_dir)
    with open_state(settings) as store:
        zone = display_zone(settings, store, args.clock)
        lines = story(
            store, zone, lambda row: explain.template_language(renderer, row, settings.default_language)
        )
    for line in lines:
        print(line)
    return 0


def cmd_templates_lint(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.mail.lint import lint_templates, template_languages
    from bridge.mail.render import RenderError
    from bridge.model.kinds import KINDS

    folder: Path | None = args.dir if args.dir is not None else settings.templates_dir
    problems = lint_templates(folder)
    for problem in problems:
        print(problem)
    where = f"{folder} over the shipped templates" if folder is not None else "the shipped templates"
    if problems:
        print(f"{len(problems)} problem(s) in {where}")
        return RenderError.exit_code
    languages = template_languages(folder)
    print(f"{len(KINDS)} kinds × {len(languages)} languages rendered, no problems ({where})")
    return 0


def cmd_templates_preview(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.files import write_private
    from bridge.mail.lint import preview_email
    from bridge.mail.render import RenderError
    from bridge.model.kinds import KINDS

    kind = KINDS.get(args.kind)
    if kind is None:
        raise RenderError(f"no email kind is called {args.kind!r} (known: {', '.join(sorted(KINDS))})")
    if not 0 <= args.sample < len(kind.samples):
        raise RenderError(f"{kind.name} has samples 0 to {len(kind.samples) - 1}, not {args.sample}")
    language: str = args.language or settings.default_language
    clock: Clock = args.clock
    rendered = preview_email(
        kind.name, language, now=clock.now(), templates_dir=settings.templates_dir, sample=args.sample
    )
    output: Path | None = args.output
    if output is not None:
        try:
            write_private(output, rendered.html)
        except OSError as error:
            raise RenderError(f"cannot write {output}: {error.strerror or error}") from None
    if rendered.fell_back:
        print(f"note: {language} has no {kind.name} template: rendered in {rendered.language_used}")
    print(f"Subject: {rendered.subject}")
    print()
    print(rendered.text, end="" if rendered.text.endswith("\n") else "\n")
    print()
    if output is None:
        print("(HTML part not written: --output FILE.html writes it, to open in a browser)")
    else:
        print(f"HTML part written to {output} (open it in a browser)")
    return 0


def main(argv: list[str] | None = None, *, clock: Clock | None = None) -> int:
    """Run one command; `clock` lets tests run the owner's commands at the time of their ManualClock."""
    args = build_parser().parse_args(argv)
    args.clock = clock or SystemClock()
    run: Command = args.run
    try:
        if getattr(args, "standalone", None) is not None:  # `init` writes the settings the others read
            return int(args.standalone(args))
        settings = load_settings(args.env_file)
        setup_logging(settings.log_level, settings.secrets())
        if not getattr(args, "prints_warnings", False):
            log_settings_warnings(settings.warnings)
        if getattr(args, "needs_shop", False):
            from bridge.app import require_shop

            require_shop(settings)  # before any lock or store: without a shop, nothing is written
        return run(args, settings)
    except BridgeError as error:
        print(f"bridge: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
