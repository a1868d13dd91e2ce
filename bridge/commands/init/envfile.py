"""The `.env` the wizard writes: every value it set with a comment above it, written whole or not at all.

The file is written to a temporary file in the same folder (0600 from its creation), read back and
validated as settings, and only then renamed over the target with `os.replace`: an interrupted wizard, a
full disk or a bug leaves either the old file or the new one, never half of one, and no temporary file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Final

from bridge.commands.init.texts import Language
from bridge.config import load_settings, read_env_file
from bridge.config.settings import Settings
from bridge.errors import ConfigError

FILE_MODE: Final = 0o600
# What each value is, in the owner's language; every value the wizard writes has one.
COMMENTS: Final[Mapping[str, tuple[str, str]]] = {
    "PRESTASHOP_URL": (
        "The shop's address; the bridge reads it through the webservice (/api).",
        "Adres sklepu; most czyta go przez webservice (/api).",
    ),
    "PRESTASHOP_API_KEY": (
        "The webservice key (Advanced Parameters → Webservice): GET only.",
        "Klucz webservice (Zaawansowane → Webservice): tylko GET.",
    ),
    "SMTP_HOST": ("The SMTP server that sends the emails.", "Serwer SMTP, który wysyła e-maile."),
    "SMTP_PORT": ("Its port: 587 with starttls, 465 with ssl.", "Jego port: 587 ze starttls, 465 z ssl."),
    "SMTP_SECURITY": (
        "How the connection is encrypted (certificates are always verified).",
        "Sposób szyfrowania połączenia (certyfikaty są zawsze weryfikowane).",
    ),
    "SMTP_CA_FILE": (
        "Extra CA certificates trusted for the SMTP server, on top of the system's.",
        "Dodatkowe certyfikaty CA zaufane dla serwera SMTP, obok systemowych.",
    ),
    "SMTP_USERNAME": ("The SMTP login: the full address.", "Login SMTP: pełny adres e-mail."),
    "SMTP_PASSWORD": (
        "The SMTP password; for Gmail an app password (https://myaccount.google.com/apppasswords).",
        "Hasło SMTP; dla Gmaila hasło aplikacji (https://myaccount.google.com/apppasswords).",
    ),
    "MAIL_FROM": (
        "The sender customers see: the shop's name and the account's address.",
        "Nadawca widoczny dla klientów: nazwa sklepu i adres konta.",
    ),
    "ADMIN_EMAIL": (
        "Where the bridge writes to you when sending pauses or the shop stays unreachable; empty: no alerts.",
        "Tu most pisze do Ciebie, gdy wysyłka stanie albo sklep długo nie odpowiada; puste: bez powiadomień.",
    ),
    "DEFAULT_LANGUAGE": (
        "The emails' language when a customer's language has no template: the shop's default.",
        "Język e-maili, gdy język klienta nie ma szablonu: domyślny język sklepu.",
    ),
    "STATE_DIR": (
        "What the bridge has seen and sent (one folder per shop; keep it).",
        "Co most widział i wysłał (jeden folder na sklep; nie usuwaj go).",
    ),
}
HEADER: Final = (
    "PrestaShop mail bridge: settings written by `bridge init` on {when}.\n"
    "Every other setting keeps its default; config.example.env lists and explains them all.\n"
    "This file holds passwords: keep it readable only by you (chmod 600).",
    "Most pocztowy PrestaShop: ustawienia zapisane przez `bridge init` {when}.\n"
    "Pozostałe ustawienia mają wartości domyślne; wszystkie opisuje config.example.env.\n"
    "Ten plik zawiera hasła: tylko Ty możesz go czytać (chmod 600).",
)
# Unquoted, python-dotenv ends a value at a line break and drops a comment after whitespace + `#`.
_NEEDS_QUOTES: Final = re.compile(r"[\r\n]|\s#")


def quote(value: str) -> str:
    """The value as python-dotenv reads it back exactly: bare whenever it can be (so that `docker run
    --env-file`, which takes values literally, reads the same), else in single quotes (inside which only
    `\\` and `'` are escaped)."""
    bare = value == value.strip() and not _NEEDS_QUOTES.search(value) and value[:1] not in ("'", '"')
    if bare:
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def render(values: Mapping[str, str], language: Language, when: datetime) -> str:
    """The file's text: a header, then each value under its comment, in the order of `values`."""
    index = 1 if language == "pl" else 0
    header = HEADER[index].format(when=when.strftime("%Y-%m-%d %H:%M"))
    lines = [f"# {line}" for line in header.splitlines()]
    for name, value in values.items():
        lines += ["", f"# {COMMENTS[name][index]}", f"{name}={quote(value)}"]
    return "\n".join(lines) + "\n"


def write_env(target: Path, values: Mapping[str, str], language: Language, when: datetime) -> Settings:
    """Write `values` to `target` atomically with mode 0600; return the settings read back from it.

    Raises ConfigError (nothing written) when the folder cannot take the file or the file would not
    read back as the same, valid settings.
    """
    partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        except OSError as error:
            raise ConfigError(f"cannot write {target}: {error.strerror or error}") from None
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(render(values, language, when))
            out.flush()
            os.fsync(out.fileno())
        read_back, problems = read_env_file(partial)
        if problems or read_back != dict(values):
            raise ConfigError(f"{target}: the values would not read back as written; nothing was saved")
        settings = load_settings(partial, environ={})
        os.replace(partial, target)
        settings = dataclasses.replace(settings, env_file=target.absolute())
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return settings
