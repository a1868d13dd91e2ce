"""A read-only IMAP client of the sending account's mailbox.

Read-only by construction: folders are opened with EXAMINE (`select_folder(readonly=True)`), messages are
read with BODY.PEEK (no \\Seen flag is set), and nothing here stores a flag, copies, moves, expunges or
deletes. Folders are found by their RFC 6154 special-use flag, never by name, so a Polish Gmail account's
`[Gmail]/Wysłane` works as well as `[Gmail]/Sent Mail`.

IMAPClient (imapclient on PyPI) rather than imaplib: it parses FETCH and LIST answers (flags, literals,
modified UTF-7 folder names), quotes SEARCH criteria, and speaks EXAMINE; with imaplib each of those
would be grammar of our own to get wrong.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from typing import Final

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from bridge.config.mailbox import Mailbox
from bridge.errors import BridgeError

TIMEOUT: Final = timedelta(seconds=30)
SENT_FLAG: Final = b"\\Sent"
INBOX: Final = "INBOX"
FETCH_BATCH: Final = 200  # UIDs per FETCH: a large first look is read in bounded answers
MAX_MESSAGE: Final = 256 * 1024  # a bounce's report and the original's headers come first


class MailboxError(BridgeError):
    """The mailbox could not be read; the message says what to change."""

    exit_code = 75  # EX_TEMPFAIL


@dataclass(frozen=True)
class FolderState:
    """A folder as EXAMINE shows it: UIDs are only comparable within one UIDVALIDITY."""

    name: str
    uidvalidity: int
    uidnext: int


@dataclass(frozen=True)
class Headers:
    """The headers the bridge reads of one message (BODY.PEEK of named fields only)."""

    uid: int
    message_id: str
    fields: dict[str, str]
    internal_date: datetime | None


def ssl_context(mailbox: Mailbox) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if mailbox.ca_file is not None:
        context.load_verify_locations(cafile=str(mailbox.ca_file))
    return context


class MailboxReader:
    """One logged-in IMAP session; use `open_mailbox()`."""

    def __init__(self, imap: IMAPClient, mailbox: Mailbox) -> None:
        self.imap, self.mailbox = imap, mailbox
        self._folders: list[tuple[tuple[bytes, ...], str]] | None = None

    def folders(self) -> list[tuple[tuple[bytes, ...], str]]:
        if self._folders is None:
            self._folders = [(tuple(flags), name) for flags, _, name in self.imap.list_folders()]
        return self._folders

    def sent_folder(self) -> str:
        """The folder flagged \\Sent (RFC 6154); MailboxError when the server flags none."""
        for flags, name in self.folders():
            if SENT_FLAG in flags:
                return name
        raise MailboxError(
            f"the mailbox {self.mailbox.username} on {self.mailbox.host} has no folder flagged \\Sent"
            " (RFC 6154): use Gmail, or set IMAP=off"
        )

    def examine(self, folder: str) -> FolderState:
        """Open `folder` read-only (EXAMINE)."""
        answer = self.imap.select_folder(folder, readonly=True)
        return FolderState(folder, int(answer[b"UIDVALIDITY"]), int(answer.get(b"UIDNEXT", 0)))

    def find_message_id(self, message_id: str) -> list[int]:
        """UIDs of the examined folder's messages whose Message-ID header is `message_id`."""
        found = self.imap.search(["HEADER", "Message-ID", message_id])
        return sorted(int(uid) for uid in found)

    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above `last_uid` in the examined folder (`N:*` always names the newest: filtered)."""
        return sorted(int(uid) for uid in self.imap.search(["UID", f"{last_uid + 1}:*"]) if uid > last_uid)

    def headers(self, uids: Sequence[int], names: Sequence[str]) -> list[Headers]:
        """Only the named header fields of `uids` (BODY.PEEK: nothing is marked read)."""
        wanted = " ".join(name.upper() for name in names)
        section = f"BODY.PEEK[HEADER.FIELDS ({wanted})]"
        found: list[Headers] = []
        for start in range(0, len(uids), FETCH_BATCH):
            answer = self.imap.fetch(list(uids[start : start + FETCH_BATCH]), [section, "INTERNALDATE"])
            for uid, data in sorted(answer.items()):
                found.append(_headers(int(uid), data))
        return found

    def message(self, uid: int, *, limit: int = MAX_MESSAGE) -> bytes:
        """The first `limit` bytes of one message (BODY.PEEK[]: nothing is marked read): a bounce's body."""
        answer = self.imap.fetch([uid], [f"BODY.PEEK[]<0.{limit}>"])
        data = answer.get(uid, {})
        raw = next((value for key, value in data.items() if key.startswith(b"BODY[]")), b"")
        return raw if isinstance(raw, bytes) else b""


def _headers(uid: int, data: dict[bytes, object]) -> Headers:
    raw = next((value for key, value in data.items() if key.startswith(b"BODY[HEADER")), b"")
    parsed = BytesHeaderParser(policy=default_policy).parsebytes(raw if isinstance(raw, bytes) else b"")
    fields = {name.lower(): str(value).strip() for name, value in parsed.items()}
    when = data.get(b"INTERNALDATE")
    internal = when.astimezone(UTC) if isinstance(when, datetime) and when.tzinfo else None
    return Headers(uid, fields.get("message-id", ""), fields, internal)


@contextmanager
def open_mailbox(mailbox: Mailbox, *, timeout: timedelta = TIMEOUT) -> Iterator[MailboxReader]:
    """Connect over implicit TLS and log in; MailboxError (one line, no password) when that fails."""
    where = f"{mailbox.host}:{mailbox.port}"
    try:
        imap = IMAPClient(
            mailbox.host,
            mailbox.port,
            ssl=True,
            ssl_context=ssl_context(mailbox),
            timeout=timeout.total_seconds(),
        )
    except ssl.SSLError as error:
        raise MailboxError(
            f"IMAP {where}: TLS failed ({error.reason}); check IMAP_HOST and IMAP_CA_FILE"
        ) from None
    except (OSError, IMAPClientError) as error:
        raise MailboxError(f"IMAP {where} cannot be reached ({_reason(error)}); check IMAP_HOST") from None
    try:
        try:
            imap.login(mailbox.username, mailbox.password.reveal())
        except LoginError:
            raise MailboxError(
                f"IMAP {where} refused the login of {mailbox.username}: check IMAP_USERNAME and"
                " IMAP_PASSWORD (Gmail: an app password, and IMAP enabled in Gmail's settings)"
            ) from None
        yield MailboxReader(imap, mailbox)
    except (OSError, IMAPClientError) as error:
        raise MailboxError(f"IMAP {where}: the session failed ({_reason(error)})") from None
    finally:
        _close(imap)


def _reason(error: BaseException) -> str:
    if isinstance(error, socket.timeout):
        return "timed out"
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:200]


def _close(imap: IMAPClient) -> None:
    try:
        imap.logout()
    except (OSError, IMAPClientError):
        with suppress(OSError):
            imap.shutdown()


def check_mailbox(mailbox: Mailbox | None) -> str:
    """`bridge check`: log in and name the folders the bridge reads; MailboxError when it cannot."""
    if mailbox is None:
        return "Mailbox:    not read (IMAP=off): a send cut off after the handover is held for you"
    with open_mailbox(mailbox) as reader:
        sent = reader.sent_folder()
        reader.examine(sent)
        reader.examine(INBOX)
    return (
        f"Mailbox:    logged in to {mailbox.host}:{mailbox.port} as {mailbox.username}; reads, without"
        f" changing anything, the Sent folder {sent!r} (flagged \\Sent) and the Inbox {INBOX!r}"
    )
