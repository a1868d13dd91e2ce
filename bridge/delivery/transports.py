"""Where rendered emails go: an SMTP server, or a folder of .eml files for dry runs and the demo.

Both answer with `bridge.delivery.smtp.SendResult`, so delivery treats them alike.
"""

from __future__ import annotations

import html
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import HeaderParser
from pathlib import Path
from typing import Protocol

from bridge.config import Settings
from bridge.delivery.smtp import Outcome, SendResult, SmtpSender
from bridge.errors import ConfigError
from bridge.files import make_private_dir, write_private
from bridge.mail.addresses import file_bytes
from bridge.secret import Secret


class Transport(Protocol):
    def send(
        self,
        message: EmailMessage,
        *,
        envelope_from: str,
        recipients: list[str],
        before_final_dot: Callable[[], object] | None = None,
    ) -> SendResult: ...

    def close(self) -> None: ...


def smtp_transport(settings: Settings) -> SmtpSender:
    """The configured SMTP server: verified TLS, an explicit HELO name, timeouts, one reused connection."""
    return SmtpSender(
        settings.smtp_host,
        settings.smtp_port,
        settings.smtp_security,
        settings.smtp_username or "",
        settings.smtp_password or Secret(""),
        helo_name=settings.smtp_helo_name,
        timeout=settings.smtp_timeout.total_seconds(),
        ssl_context=smtp_ssl_context(settings.smtp_ca_file),
    )


def smtp_ssl_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """A verifying client context (chain and host name, TLS 1.2 or newer).

    The system's CAs (or SSL_CERT_FILE / SSL_CERT_DIR from the real environment), plus SMTP_CA_FILE when set:
    added, not instead, so a relay's private CA does not make every public certificate untrusted.
    """
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (ssl.SSLError, OSError) as error:
            raise ConfigError(
                f"SMTP_CA_FILE: cannot load {ca_file} as PEM CA certificates ({error})"
            ) from None
    return context


@dataclass
class FileTransport:
    """Writes each message as `<n>-<subject>.eml` (with its HTML part beside it as `.html`) and keeps an
    `index.html` listing them, all 0600 in a 0700 folder: they hold customers' names and orders.

    Nothing leaves the machine: the demo and dry runs use it, and it never claims to have "sent" anything
    (the reply says where the file is). Headers are ASCII unless an address needs UTF-8 (RFC 6532).

    The index's rows are kept between messages: each message adds its own row, and the folder's files are
    read again only when some appeared that this transport did not write (another run). Reading every
    file's headers for each message made writing N emails cost N² reads (benchmarks/campaigns.py (b)).
    """

    folder: Path
    _rows: dict[str, str] = field(default_factory=dict, init=False, repr=False)  # file name → index row

    def send(
        self,
        message: EmailMessage,
        *,
        envelope_from: str,
        recipients: list[str],
        before_final_dot: Callable[[], object] | None = None,
    ) -> SendResult:
        make_private_dir(self.folder)
        if before_final_dot is not None:
            before_final_dot()
        number = len(list(self.folder.glob("*.eml"))) + 1
        slug = re.sub(r"[^A-Za-z0-9]+", "-", str(message.get("Subject", "")))[:40].strip("-").lower()
        path = self.folder / f"{number:04d}-{slug or 'message'}.eml"
        write_private(path, file_bytes(message))
        html_part = message.get_body(("html",))
        if html_part is not None:
            write_private(path.with_suffix(".html"), html_part.get_content())
        self._write_index(path, number)
        return SendResult(Outcome.SENT, f"written to {path}", "", "message")

    def close(self) -> None:
        return None

    def _write_index(self, written: Path, count: int) -> None:
        """`index.html` with a row per .eml file; `written` is the newest, the folder's `count`-th."""
        if len(self._rows) == count - 1:
            self._rows[written.name] = _index_row(written)
        else:  # the first message, or files from another run: read them all (`written` included)
            self._rows = {path.name: _index_row(path) for path in self.folder.glob("*.eml")}
        rows = [self._rows[name] for name in sorted(self._rows)]
        page = (
            "<!doctype html><meta charset=utf-8><title>Emails written by the bridge</title>"
            "<style>body{font:15px system-ui,sans-serif;margin:2em}"
            "td{padding:4px 10px;border-bottom:1px solid #ddd}"
            "</style><h1>Emails written by the bridge</h1><table><tr><th>Date</th><th>To</th><th>Subject</th>"
            "<th></th></tr>" + "".join(rows) + "</table>"
        )
        write_private(self.folder / "index.html", page)


def _index_row(path: Path) -> str:
    """One message's row in `index.html`: date, recipient, subject (linked to its HTML part), the file."""
    parsed = _read_headers(path)
    preview = path.with_suffix(".html")
    subject = html.escape(str(parsed.get("Subject", "")))
    if preview.exists():
        subject = f'<a href="{html.escape(preview.name)}">{subject}</a>'
    return (
        "<tr>"
        f"<td>{html.escape(str(parsed.get('Date', '')))}</td>"
        f"<td>{html.escape(str(parsed.get('To', '')))}</td>"
        f"<td>{subject}</td>"
        f'<td><a href="{html.escape(path.name)}">.eml</a></td>'
        "</tr>"
    )


def _read_headers(path: Path) -> EmailMessage:
    """The header block of an .eml file, read as UTF-8 (RFC 6532) so both kinds of header read right."""
    head = re.split(rb"\r?\n\r?\n", path.read_bytes(), maxsplit=1)[0]
    parsed = HeaderParser(policy=policy.default).parsestr(head.decode("utf-8", "replace") + "\n\n")
    assert isinstance(parsed, EmailMessage)
    return parsed


def build_transport(settings: Settings) -> Transport:
    if settings.mail_transport == "file":
        return FileTransport(settings.mail_file_dir)
    return smtp_transport(settings)
