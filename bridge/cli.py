"""Command line: the one place errors become a one-line message and a sysexits exit code."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from bridge import __version__
from bridge.check import OPTIONAL_RESOURCES, REQUIRED_RESOURCES, ShopReport, check_shop
from bridge.clock import SystemClock
from bridge.config import Settings, load_settings
from bridge.errors import BridgeError
from bridge.logs import setup_logging
from bridge.rules import Decision

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
    commands.add_parser(
        "check", help="validate the settings, reach the shop, and say what the key can read"
    ).set_defaults(run=cmd_check)
    demo = commands.add_parser(
        "demo", help="play a few days of the embedded demo shop through the bridge (no configuration needed)"
    )
    demo.add_argument("--output", type=Path, default=Path("demo-output"), help="where the emails go")
    demo.set_defaults(run=cmd_demo)
    sync = commands.add_parser("sync", help="one cycle: poll the shop, queue the emails due, send them")
    sync.add_argument(
        "--since",
        type=parse_since,
        metavar="DATE",
        help="catch up on orders and status changes since DATE (the first run otherwise sends nothing)",
    )
    sync.set_defaults(run=cmd_sync)
    return parser


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


def print_warnings(warnings: list[str] | tuple[str, ...]) -> None:
    for warning in warnings:
        print(f"warning: {warning}")


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.app import open_shop

    print(f"Settings:   OK{' (no PRESTASHOP_URL: using the embedded demo shop)' if settings.demo else ''}")
    print_warnings(settings.warnings)
    with open_shop(settings) as client:
        report = check_shop(client)
    print_shop_report(report)
    print_warnings(report.warnings)
    print(
        "Result:     the bridge can read this shop" + (" (see the warnings above)" if report.warnings else "")
    )
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.demo import run_demo

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


def cmd_sync(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.app import open_bridge
    from bridge.sync import sync_once

    clock = SystemClock()
    with open_bridge(settings, clock) as bridge:
        since: datetime | None = args.since
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=bridge.client.shop_timezone())

        def announce(decisions: list[Decision]) -> None:
            sending = [d for d in decisions if d.sends]
            print(
                f"Catching up since {since:%Y-%m-%d %H:%M %Z}: {len(sending)} email(s) to queue, "
                f"{len(decisions) - len(sending)} skipped with a reason"
            )

        summary = sync_once(
            bridge.client,
            bridge.store,
            bridge.transport,
            bridge.renderer,
            settings,
            clock,
            since=since,
            confirm=announce if since is not None else None,
        )
    print(summary.line())
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Command = args.run
    try:
        settings = load_settings(args.env_file)
        setup_logging(settings.log_level, settings.secrets())
        return run(args, settings)
    except BridgeError as error:
        print(f"bridge: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
