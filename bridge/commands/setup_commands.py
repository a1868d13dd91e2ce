"""The command line of `bridge init` and `bridge cron-line`: their arguments and what they run.

Kept out of `bridge/cli.py` (which registers them with one call) and light to import: the wizard and the
checks it runs are imported only when the command runs.

`init` is a standalone command: it runs before any settings exist (it writes them), so `bridge.cli.main`
calls it without loading a `.env`, whose problems are what an owner may be running it to fix.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bridge.config import Settings

INIT_EPILOG = """\
Without --from-env it asks in a terminal. --from-env takes PRESTASHOP_URL, PRESTASHOP_API_KEY, SMTP_HOST,
SMTP_PORT, SMTP_SECURITY, SMTP_USERNAME, SMTP_PASSWORD (and MAIL_FROM, ADMIN_EMAIL, DEFAULT_LANGUAGE,
STATE_DIR, SMTP_CA_FILE if set) from the environment, runs the same checks, and stops at the first refusal
with its exit code. The global --env-file PATH names the file to write (default ./.env).
"""


def add_setup_wizard_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`init` (the setup wizard) and `cron-line` (the crontab line for hosts without systemd)."""
    init = commands.add_parser(
        "init",
        help="set the bridge up: asks for the shop and the email account, tests each, writes .env",
        epilog=INIT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    init.add_argument("--lang", choices=("pl", "en"), help="the wizard's language (default: the system's)")
    init.add_argument(
        "--from-env", action="store_true", help="ask nothing: take the values from the environment (scripts)"
    )
    init.add_argument("--test-email", metavar="ADDRESS", help="with --from-env: send the test email here")
    init.add_argument("--yes", action="store_true", help="with --from-env: replace an existing file")
    init.add_argument(
        "--install-service",
        action="store_true",
        help="with --from-env, as root on a systemd machine: install and start bridge.service",
    )
    init.add_argument(
        "--smtp-ca-file",
        metavar="PEM",
        help="extra CA certificates for an SMTP relay with its own authority (written as SMTP_CA_FILE;"
        " certificates are always verified)",
    )
    init.set_defaults(standalone=cmd_init, run=None)
    cron = commands.add_parser(
        "cron-line",
        help="print the crontab line that runs `bridge sync` for this installation (no systemd or root"
        " needed): `(crontab -l; bridge cron-line) | crontab -`",
    )
    cron.add_argument(
        "--every", type=int, default=5, metavar="MINUTES", help="how often, 1 to 59 minutes (default 5)"
    )
    cron.set_defaults(run=cmd_cron_line, needs_shop=True)


def cmd_init(args: argparse.Namespace) -> int:
    from bridge.commands.init import InitOptions, run_init
    from bridge.commands.init.prompts import ConsoleTerminal
    from bridge.commands.init.texts import system_language, text
    from bridge.logs import setup_logging

    setup_logging("WARNING", ())  # the wizard speaks for itself; the bridge's INFO lines would bury it
    language = args.lang or system_language()
    if not args.from_env and not sys.stdin.isatty():
        print(f"bridge: {text(language, 'no_terminal')}", file=sys.stderr)  # noqa: T201 - the CLI's own
        return 64  # EX_USAGE
    target = (args.env_file if args.env_file is not None else Path(".env")).absolute()
    options = InitOptions(
        target=target,
        language=language,
        from_env=args.from_env,
        test_email=args.test_email,
        replace=args.yes,
        install_service=args.install_service,
        smtp_ca_file=args.smtp_ca_file,
    )
    return run_init(options, ConsoleTerminal(), environ=os.environ)


def cmd_cron_line(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.commands.cron import cron_line
    from bridge.errors import ConfigError

    env_file = settings.env_file
    if env_file is None or not env_file.is_file():
        missing = env_file or Path(".env")
        raise ConfigError(f"there is no {missing}: run `bridge init` first, or give --env-file PATH")
    try:
        line = cron_line(env_file, every_minutes=args.every)
    except ValueError as error:
        raise ConfigError(f"--every: {error}") from None
    print(line)  # noqa: T201 - the CLI's own output
    return 0
