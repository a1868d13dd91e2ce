"""`bridge init`: set the bridge up in the owner's language, testing each step as it goes.

    1. the shop: its address and webservice key, checked as `bridge check` checks them
    2. the account that sends (Gmail by default, with the app-password steps): logged in to at once
    3. a test email to the owner's address (which then gets the bridge's alerts)
    4. the `.env`: every value commented, mode 0600, written whole at the very end (`envfile`)

then the one command that runs the bridge where it was started (`running`): the container command inside
the bridge's image, the systemd service (installed with the owner's consent, as root), or the cron line.

A refused step shows `bridge check`'s own one-line message and asks that step again, with the answers given
as defaults. Ctrl-C at any question leaves nothing behind; an existing `.env` is replaced only after a yes
(or `--yes`). `--from-env` is the same run without questions, for scripts: the values come from the
environment and the first refusal stops it with its exit code.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from bridge.clock import SystemClock
from bridge.commands.init import steps
from bridge.commands.init.envfile import write_env
from bridge.commands.init.prompts import Asker, Terminal
from bridge.commands.init.running import (
    Host,
    Runner,
    Way,
    container_command,
    cron_lines,
    install_service,
    run_command,
    state_dir_for,
)
from bridge.commands.init.texts import Language
from bridge.config import read_env_file
from bridge.errors import BridgeError, ConfigError

# What the wizard writes, in this order (the file reads top to bottom like the steps).
WRITTEN: Final = (
    "PRESTASHOP_URL",
    "PRESTASHOP_API_KEY",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_SECURITY",
    "SMTP_CA_FILE",
    "SMTP_USERNAME",
    "SMTP_PASSWORD",
    "MAIL_FROM",
    "ADMIN_EMAIL",
    "DEFAULT_LANGUAGE",
    "STATE_DIR",
)
# Offered as defaults when an existing `.env` is replaced (never its secrets).
REMEMBERED: Final = ("PRESTASHOP_URL", "SMTP_HOST", "SMTP_PORT", "SMTP_USERNAME", "ADMIN_EMAIL")


@dataclass(frozen=True)
class InitOptions:
    target: Path  # the `.env` to write
    language: Language
    from_env: bool = False  # no questions: the values come from the environment
    test_email: str | None = None  # --test-email: where the test email goes (with --from-env)
    replace: bool = False  # --yes: replace an existing file without asking
    install_service: bool = False  # --install-service: consent to the systemd service (with --from-env)
    smtp_ca_file: str | None = None  # --smtp-ca-file, else SMTP_CA_FILE from the environment


def run_init(
    options: InitOptions,
    terminal: Terminal,
    *,
    environ: Mapping[str, str],
    host: Host | None = None,
    run: Runner = run_command,
) -> int:
    """The whole wizard; 0 when the `.env` is written, 1 when the owner kept an existing one."""
    ask = Asker(terminal, options.language)
    host = host or Host.detect(environ)
    written = False
    try:
        if options.from_env:
            values, way = _without_questions(options, ask, environ, host)
        else:
            ask.say("intro")
            existed = options.target.exists()
            if existed and not ask.yes("exists", path=options.target):
                ask.say("kept", path=options.target)
                return 1
            values, way = _with_questions(options, ask, environ, host)
            # A file that appeared meanwhile is not replaced without a yes either.
            if not existed and options.target.exists() and not ask.yes("exists", path=options.target):
                ask.say("kept", path=options.target)
                return 1
        ask.say("write_heading")
        write_env(options.target, _ordered(values), options.language, SystemClock().now().astimezone())
        written = True
        ask.say("written", path=options.target)
        ask.say("first_run")
        _how_it_runs(ask, way, options.target, host, run)
    except KeyboardInterrupt:
        if not written:
            terminal.say()
            ask.say("stopped")
        raise
    return 0


def _with_questions(
    options: InitOptions, ask: Asker, environ: Mapping[str, str], host: Host
) -> tuple[dict[str, str], Way]:
    values = _remembered(options.target)
    ca_file = options.smtp_ca_file or environ.get("SMTP_CA_FILE")
    if ca_file:
        values["SMTP_CA_FILE"] = ca_file
    way = _way(host, consent=False)
    _set_state_dir(values, way, options.target, environ)
    facts = steps.shop_step(ask, values)
    if facts.default_language:
        values["DEFAULT_LANGUAGE"] = facts.default_language
    settings = steps.smtp_step(ask, values, facts.name)
    steps.test_email_step(ask, values, settings)
    if host.can_install_service and ask.yes("run_systemd_ask"):
        way = "systemd"
        _set_state_dir(values, way, options.target, environ)
    return values, way


def _without_questions(
    options: InitOptions, ask: Asker, environ: Mapping[str, str], host: Host
) -> tuple[dict[str, str], Way]:
    """The same checks, values from the environment; the first refusal is raised (its exit code)."""
    if options.target.exists() and not options.replace:
        raise ConfigError(f"{options.target} exists: pass --yes to replace it, or --env-file another path")
    values = {name: environ[name].strip() for name in WRITTEN if environ.get(name, "").strip()}
    if options.smtp_ca_file:
        values["SMTP_CA_FILE"] = options.smtp_ca_file
    way = _way(host, consent=options.install_service)
    _set_state_dir(values, way, options.target, environ)
    ask.say("checking_shop")
    facts = steps.read_shop(values)
    steps.show_shop(ask, facts)
    if facts.default_language and "DEFAULT_LANGUAGE" not in values:
        values["DEFAULT_LANGUAGE"] = facts.default_language
    if "MAIL_FROM" not in values and (address := steps.sender(facts.name, values.get("SMTP_USERNAME", ""))):
        values["MAIL_FROM"] = address
    ask.say("checking_smtp", server=f"{values.get('SMTP_HOST', steps.GMAIL_DEFAULT)}")
    settings, report = steps.check_account(values)
    ask.say("smtp_ok", report=report)
    if options.test_email is not None:
        ask.say("sending_test")
        sent = steps.send_test(settings, options.test_email)
        values.setdefault("ADMIN_EMAIL", sent.to)
        ask.say("test_sent", to=sent.to)
    return values, way


def _way(host: Host, *, consent: bool) -> Way:
    if host.image is not None:
        return "container"
    return "systemd" if consent and host.can_install_service else "cron"


def _set_state_dir(
    values: MutableMapping[str, str], way: Way, target: Path, environ: Mapping[str, str]
) -> None:
    """STATE_DIR as the way of running needs it; not written when the environment sets it (it wins)."""
    state = state_dir_for(way, target)
    if state is None or environ.get("STATE_DIR"):
        values.pop("STATE_DIR", None)
    else:
        values["STATE_DIR"] = state


def _remembered(target: Path) -> dict[str, str]:
    """The replaced file's non-secret values, as defaults; nothing when it cannot be read."""
    if not target.is_file():
        return {}
    try:
        old, _problems = read_env_file(target)
    except BridgeError:
        return {}
    return {name: old[name] for name in REMEMBERED if old.get(name)}


def _ordered(values: Mapping[str, str]) -> dict[str, str]:
    return {name: values[name] for name in WRITTEN if values.get(name)}


def _how_it_runs(ask: Asker, way: Way, target: Path, host: Host, run: Runner) -> None:
    ask.say("run_heading")
    if way == "container":
        ask.say("run_container")
        ask.say("step", text=container_command(host.image or "prestashop-mail-bridge"))
    elif way == "systemd":
        for step in install_service(target, run=run):
            ask.say("step", text=step)
        ask.say("run_systemd_done")
        ask.say("step", text="journalctl -u bridge -f")
    else:
        line, log = cron_lines(target)
        if host.systemd:
            ask.say("run_systemd_later")
        ask.say("run_cron")
        ask.terminal.say(line)
        ask.say("run_cron_note", log=log)


__all__ = ["Host", "InitOptions", "run_init"]
