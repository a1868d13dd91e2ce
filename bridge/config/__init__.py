"""Settings: read once from the environment and `.env`, validated as a whole, then frozen.

Every setting is one row of `SETTINGS` (name, default, parser, help). `config.example.env` documents the
same rows and `tests/test_config.py` keeps the two in step. Parsing collects every problem before it
raises, so an owner fixes a bad `.env` in one round instead of one error per restart.

An empty value means "not set" everywhere: the default applies. That is what `KEY=` in `.env` and
`Environment=KEY=` in a systemd unit both mean to a shop owner.

The modules: `parse` (typed value parsers), `reader` (a row of the table, and the reader that collects
problems), one module per group of settings (`shop`, `sending`, `identity`, `state`, `service`, `emails`,
`marketing`: its rows, its checks across settings, its fields of `Settings`), `settings` (the table and
`Settings`) and `load` (the environment plus `.env`).
"""

from bridge.config.identity import DEMO_MAIL_FROM
from bridge.config.load import load_settings, read_env_file
from bridge.config.parse import (
    STATUS_EMAIL_KINDS,
    Invalid,
    format_duration,
    parse_address,
    parse_bool,
    parse_duration,
)
from bridge.config.reader import Setting
from bridge.config.sending import GMAIL_HOSTS, MailTransport, SmtpSecurity
from bridge.config.settings import SETTINGS, Settings, setting_names

__all__ = [
    "DEMO_MAIL_FROM",
    "GMAIL_HOSTS",
    "SETTINGS",
    "STATUS_EMAIL_KINDS",
    "Invalid",
    "MailTransport",
    "Setting",
    "Settings",
    "SmtpSecurity",
    "format_duration",
    "load_settings",
    "parse_address",
    "parse_bool",
    "parse_duration",
    "read_env_file",
    "setting_names",
]
