"""Logging for a service: one line per event on stderr, with every secret replaced by `***` first.

Under systemd (`JOURNAL_STREAM` set) lines carry no timestamp, because journald adds its own, and start
with a `<N>` syslog priority so `journalctl -p warning` works. Elsewhere each line starts with an ISO
timestamp. Libraries speak only from WARNING up (their INFO lines are for LOG_LEVEL=DEBUG), so a normal
run shows the bridge's own lines.

Customers' addresses are personal data: a line at INFO or above names one masked (`z***@example.com`,
`bridge.model.headers.mask_email`, SMTP replies through `mask_addresses`), and the full address goes to a
DEBUG line beside it, for the owner who needs it and turned DEBUG on.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Final, TextIO
from urllib.parse import quote

from bridge.secret import REDACTED, Secret

LEVELS: Final = {
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
}
_HANDLER_NAME: Final = "bridge"
# sd-daemon(3) priorities; journald strips the prefix and files the line at that priority.
_JOURNAL_PRIORITY: Final = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3}
# Libraries whose INFO lines are not the owner's news, shown only with LOG_LEVEL=DEBUG: Alembic's migration
# lines on a store's first open, APScheduler's two lines per job run (once a minute, forever), and
# aiosmtpd's lines per connection (the tests' SMTP server).
QUIET_LIBRARIES: Final = ("alembic", "apscheduler", "mail.log")
_CONTROL: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Shorter base64 fragments would match ordinary words in log lines.
_MIN_FRAGMENT: Final = 8


def _escape_control(text: str) -> str:
    """Shop data (a customer's name) must not be able to start a forged log line."""
    return _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


def _base64_fragments(value: bytes) -> set[str]:
    """The part of base64(prefix + value + suffix) that depends only on `value`, for each alignment.

    This catches the secret inside an encoding that adds unknown bytes around it, e.g. HTTP Basic
    `base64(key + ":")` or SMTP `AUTH PLAIN` `base64("\\0user\\0password")`.
    """
    fragments = set()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + value).decode("ascii")
        start = 4 if shift else 0  # the first group mixes prefix bytes in
        end = (shift + len(value)) // 3 * 4  # the last partial group mixes suffix bytes in
        fragment = encoded[start:end]
        if len(fragment) >= _MIN_FRAGMENT:
            fragments.add(fragment)
    return fragments


def secret_forms(secret: Secret) -> set[str]:
    """Every spelling of a secret that may reach a log line."""
    value = secret.reveal()
    if not value:
        return set()
    raw = value.encode("utf-8")
    forms = {value, quote(value, safe="")}
    for whole in (raw, raw + b":", b":" + raw):  # as is, and as HTTP Basic user or password
        forms.add(base64.b64encode(whole).decode("ascii"))
    for fragment in _base64_fragments(raw):
        forms.add(fragment)
        forms.add(fragment.replace("+", "-").replace("/", "_"))  # the URL-safe alphabet
    return forms


class RedactSecrets(logging.Filter):
    """Replaces secrets in a record's message, arguments, exception and stack text, in place.

    It runs on the first handler, so every later handler (and every formatter) sees the redacted record.
    """

    def __init__(self, secrets: Iterable[Secret]) -> None:
        super().__init__()
        forms = set().union(*(secret_forms(secret) for secret in secrets))
        # Longest first: the alternation must prefer a whole Basic header value over its fragment.
        ordered = sorted(forms, key=lambda form: (-len(form), form))
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def redact(self, text: str) -> str:
        return self._pattern.sub(REDACTED, text) if self._pattern else text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._pattern is None:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging would print msg and args raw in handleError
            message = f"{record.msg!r} (logged with unformattable arguments {record.args!r})"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        # The exception object itself still holds the secret; the redacted text is all handlers need.
        record.exc_info = None
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class LineFormatter(logging.Formatter):
    """`[timestamp ]LEVEL logger: message`, with any traceback indented on the lines after it."""

    def __init__(self, *, journal: bool) -> None:
        super().__init__()
        self._journal = journal

    def format(self, record: logging.LogRecord) -> str:
        line = f"{record.levelname} {record.name}: {_escape_control(record.getMessage())}"
        if not self._journal:
            moment = datetime.fromtimestamp(record.created, tz=UTC).astimezone()
            line = f"{moment.isoformat(timespec='milliseconds')} {line}"
        lines = [line]
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        for text in (record.exc_text, record.stack_info):
            if text:
                lines.extend(f"  {part}" for part in text.splitlines())
        if self._journal:
            priority = _JOURNAL_PRIORITY.get(record.levelno, 2 if record.levelno > logging.ERROR else 7)
            lines = [f"<{priority}>{part}" for part in lines]
        return "\n".join(lines)


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever `sys.stderr` is when a record arrives, not when logging was set up: a test
    harness (or a daemoniser) may swap stderr afterwards."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def setup_logging(level: str, secrets: Iterable[Secret], *, stream: TextIO | None = None) -> None:
    """Send the root logger to stderr (or `stream`), redacting `secrets`. Calling it again replaces it."""
    try:
        numeric = LEVELS[level.upper()]
    except KeyError:
        raise ValueError(f"unknown log level {level!r}; use one of {', '.join(LEVELS)}") from None
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == _HANDLER_NAME:
            root.removeHandler(old)
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(RedactSecrets(secrets))
    handler.setFormatter(LineFormatter(journal=bool(os.environ.get("JOURNAL_STREAM"))))
    # First in line, so handlers added earlier (a test harness, a library) also get redacted records.
    root.handlers.insert(0, handler)
    root.setLevel(numeric)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.NOTSET if numeric <= logging.DEBUG else logging.WARNING)


def log_settings_warnings(warnings: Iterable[str]) -> None:
    """The warnings found while reading the settings, logged by every command as it starts.

    `bridge check` prints them; a service started by systemd or a timer has no one reading its output,
    so the journal must show them too.
    """
    for warning in warnings:
        logging.getLogger("bridge.config").warning("%s", warning)
