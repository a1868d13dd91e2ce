"""A real SMTP server on 127.0.0.1 that answers the way smtp.gmail.com does, for the tests.

Gmail's replies are copied from docs/email-facts.md §1 and §4: the EHLO capabilities before and after
STARTTLS, `530 5.7.0 Must issue a STARTTLS command first.`, `530-5.7.0 Authentication Required`, the
two-line `535-5.7.8` for a refused app password, `250 2.0.0 OK … - gsmtp`, and the session id plus
`- gsmtp` at the end of every reply (so a client that matches on the tail breaks here as it would there).

    with gmail_like_server() as server:                 # STARTTLS on a free port, trustme certificate
        sender = SmtpSender(server.host, server.port, "starttls", server.username,
                            Secret(server.password), helo_name="shop.test", timeout=5,
                            ssl_context=server.client_context())
        server.script.next_reply("DATA", "550 5.4.5 Daily user sending limit exceeded.")
        server.script.drop_after_data()                 # accepted and recorded, then the line goes dead
        ...
        server.messages, server.sessions, server.connections, server.logins

`script.hang_up_on(command)` closes the line without any reply instead.

`gmail_like_server(smtputf8=False)` is a server that does not offer SMTPUTF8 (RFC 6531), as a Postfix with
`smtputf8_enable = no`: it refuses the SMTPUTF8 parameter, a non-ASCII address in MAIL or RCPT and a message
whose header block is not ASCII. Every command line is kept as the bytes that arrived (`SessionLog.wire`,
AUTH without its argument) and every message as its raw bytes, so tests read what went over the wire.
Scripted replies are consumed once each, in order, per command: CONNECT (instead of the greeting), EHLO,
STARTTLS, AUTH (after the credentials arrive, as Gmail answers), MAIL, RCPT, DATA (after the final dot),
NOOP. Any 421 reply closes the connection after it is sent, as Gmail does.

Faults at a seeded random rate, for the reliability benchmark (scripted replies still come first):

        server.script.at_random(0.1, {"MAIL": [TRY_AGAIN_LATER, DAILY_LIMIT],
                                      "DATA": [TEMPORARILY_REJECTED, ACCEPT_THEN_DROP],
                                      "AUTH": [TOO_MANY_LOGINS, BAD_CREDENTIALS]}, seed=3)
        server.script.injected                          # [(command, fault), …] in the order injected

Replies kept back, for crash tests: the client then waits at a known point until it is killed.

        server.script.hold("DATA", after=2)             # the 3rd message is recorded, its 250 kept back
        ...                                             # poll server.script.held("DATA") until it is 1
        server.script.release()                         # (stop() releases too)

AUTH, NOOP, MAIL and RCPT replies can be kept back the same way (AUTH: the reply to the AUTH command).

`server.file_sent = imap.file_sent` (tests/imap_server.py) files each accepted message into a Dovecot
account's Sent folder before the 250, as Gmail does.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import itertools
import random
import socket
import ssl
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, AnyStr, Final, Literal, cast

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

Mode = Literal["starttls", "ssl", "plain"]
Command = Literal["CONNECT", "EHLO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "NOOP"]
COMMANDS: Final = ("CONNECT", "EHLO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "NOOP")
HoldCommand = Literal["AUTH", "NOOP", "MAIL", "RCPT", "DATA"]
HOLD_COMMANDS: Final = ("AUTH", "NOOP", "MAIL", "RCPT", "DATA")

GMAIL_SIZE_LIMIT: Final = 35882577
GMAIL_HOSTNAME: Final = "smtp.gmail.com"
DEFAULT_USERNAME: Final = "sklep.przyklad@gmail.com"
DEFAULT_PASSWORD: Final = "abcdwxyzefghstuv"  # the 16 letters of a Google app password

MUST_STARTTLS: Final = "530 5.7.0 Must issue a STARTTLS command first."
AUTH_REQUIRED: Final = (
    "530-5.7.0 Authentication Required. For more information, go to\n"
    "530 5.7.0  https://support.google.com/mail/?p=WantAuthError"
)
BAD_CREDENTIALS: Final = (
    "535-5.7.8 Username and Password not accepted. For more information, go to\n"
    "535 5.7.8  https://support.google.com/mail/?p=BadCredentials"
)
SIZE_EXCEEDED: Final = (
    "552-5.2.3 Your message exceeded Google's message size limits. Please visit\n"
    "552 5.2.3  https://support.google.com/mail/?p=MaxSizeError to view our size guidelines."
)
HANG_UP: Final = "\0hang up"
ACCEPT_THEN_DROP: Final = "\0accept then drop"  # DATA only: record the message, close without the 250
# Gmail's temporary refusals and its limits, as `Script.at_random` faults.
TRY_AGAIN_LATER: Final = "421 4.7.0 Try again later, closing connection."
TEMPORARILY_REJECTED: Final = "451 4.3.0 Mail server temporarily rejected message."
TOO_MANY_LOGINS: Final = "454 4.7.0 Too many login attempts, please try again later."
DAILY_LIMIT: Final = (
    "550-5.4.5 Daily user sending limit exceeded. For more information on Gmail\n"
    "550 5.4.5  sending limits go to https://support.google.com/a/answer/166852"
)
IDLE_TIMEOUT: Final = "421 4.4.2 smtp.gmail.com Error: timeout exceeded"


def wire_reply(reply: str, session_id: str) -> str:
    """Turn `550 5.4.5 text\\n550 5.4.5  more` into Gmail's wire form: `550-…` continuation lines and
    the session id with `- gsmtp` on the last line."""
    lines = [line.rstrip("\r") for line in reply.split("\n") if line.strip()]
    if not lines or any(len(line) < 3 or not line[:3].isdigit() for line in lines):
        raise ValueError(f"not an SMTP reply: {reply!r}")
    out = []
    for index, line in enumerate(lines):
        rest = line[4:] if len(line) > 3 else ""
        separator = " " if index == len(lines) - 1 else "-"
        out.append(f"{line[:3]}{separator}{rest}")
    if not out[-1].endswith("gsmtp"):
        out[-1] += f" {session_id} - gsmtp"
    return "\r\n".join(out)


@dataclass(frozen=True)
class ReceivedMessage:
    """One message the server accepted (a 250 after the final dot was due, even if it never arrived)."""

    envelope_from: str
    recipients: tuple[str, ...]
    raw: bytes
    message: EmailMessage
    session_id: str  # which connection carried it (SessionLog.session_id)


@dataclass
class SessionLog:
    """What one connection did. AUTH is logged without its argument: credentials never enter the log."""

    peer: tuple[str, int]
    session_id: str
    commands: list[str] = field(default_factory=list)
    wire: list[bytes] = field(default_factory=list)  # the same lines as the bytes that arrived
    tls: bool = False
    auth_attempts: int = 0
    logins: int = 0
    closed: bool = False

    @property
    def verbs(self) -> list[str]:
        return [command.split(" ", 1)[0] for command in self.commands]


class Script:
    """Replies queued by a test; the server thread consumes them, so every access holds the lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._replies: dict[str, deque[str]] = {command: deque() for command in COMMANDS}
        self._drops = 0
        self._random: dict[str, tuple[str, ...]] = {}
        self._probability = 0.0
        self._rng = random.Random(0)
        self.injected: list[tuple[str, str]] = []  # (command, fault) of every random fault, in order
        self._holds: dict[str, int] = {}  # command -> replies still let out before one is kept back
        self._kept: list[str] = []  # the command of every reply kept back so far
        self._waiting: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def next_reply(self, command: Command, reply: str) -> None:
        """Answer the next `command` with `reply` (`"550 5.1.1 text"`; `\\n` separates reply lines)."""
        if command not in COMMANDS:
            raise ValueError(f"cannot script {command!r}; one of {', '.join(COMMANDS)}")
        wire_reply(reply, "x")  # validate now, in the test's thread
        with self._lock:
            self._replies[command].append(reply)

    def hang_up_on(self, command: Command) -> None:
        """Close the connection without a reply when `command` next arrives (for DATA: after the final
        dot, and the message is NOT recorded)."""
        if command not in COMMANDS:
            raise ValueError(f"cannot script {command!r}; one of {', '.join(COMMANDS)}")
        with self._lock:
            self._replies[command].append(HANG_UP)

    def drop_after_data(self, times: int = 1) -> None:
        """Accept (and record) the next message, then close the connection before the 250 is sent."""
        with self._lock:
            self._drops += times

    def at_random(self, probability: float, faults: Mapping[Command, Sequence[str]], *, seed: int) -> None:
        """From now on, answer each listed command with one of its `faults` with `probability`, chosen
        reproducibly for `seed`. A fault is a reply (`"451 4.3.0 text"`), HANG_UP, or for DATA
        ACCEPT_THEN_DROP. Scripted replies still come first; `probability=0` stops the faults."""
        if not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        chosen: dict[str, tuple[str, ...]] = {}
        for command, replies in faults.items():
            if command not in COMMANDS:
                raise ValueError(f"cannot script {command!r}; one of {', '.join(COMMANDS)}")
            for reply in replies:
                if reply == ACCEPT_THEN_DROP and command != "DATA":
                    raise ValueError("ACCEPT_THEN_DROP only happens after DATA")
                if reply not in (HANG_UP, ACCEPT_THEN_DROP):
                    wire_reply(reply, "x")
            if replies:
                chosen[command] = tuple(replies)
        with self._lock:
            self._random, self._probability, self._rng = chosen, probability, random.Random(seed)

    def take(self, command: Command) -> str | None:
        """The next scripted reply for `command` (random faults aside), consumed."""
        with self._lock:
            queue = self._replies[command]
            return queue.popleft() if queue else None

    def draw(self, command: Command) -> str | None:
        """What the server answers `command` with instead of its normal reply: a scripted reply first,
        else perhaps a random fault (recorded in `injected`), else None."""
        scripted = self.take(command)
        if scripted is not None:
            return scripted
        with self._lock:
            candidates = self._random.get(command)
            if not candidates or self._rng.random() >= self._probability:
                return None
            fault = self._rng.choice(candidates)
            self.injected.append((command, fault))
            return fault

    def take_drop(self) -> bool:
        with self._lock:
            if self._drops:
                self._drops -= 1
                return True
            return False

    def hold(self, command: HoldCommand, *, after: int = 0) -> None:
        """Let `after` replies to `command` out, then keep the next one back until `release()` (or the
        server stops): its client then provably waits at that point, where a crash test kills it. For DATA
        the message is recorded first: the server has it and owes the 250."""
        if command not in HOLD_COMMANDS:
            raise ValueError(f"cannot hold {command!r}; one of {', '.join(HOLD_COMMANDS)}")
        if after < 0:
            raise ValueError("after must be 0 or more")
        with self._lock:
            self._holds[command] = after

    def held(self, command: HoldCommand) -> int:
        """How many replies to `command` have been kept back so far."""
        with self._lock:
            return self._kept.count(command)

    def release(self) -> None:
        """Disarm every hold and let every reply kept back go (its client may be gone by then)."""
        with self._lock:
            self._holds.clear()
            waiting, self._waiting = self._waiting, []
        for loop, event in waiting:
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)

    async def keep_back(self, command: HoldCommand) -> None:
        """The server's side of `hold()`, awaited before it replies: returns at once, or when released."""
        with self._lock:
            left = self._holds.get(command)
            if left is None:
                return
            if left > 0:
                self._holds[command] = left - 1
                return
            del self._holds[command]
            event = asyncio.Event()
            self._waiting.append((asyncio.get_running_loop(), event))
            self._kept.append(command)
        await event.wait()  # cancelled instead when the client's connection is lost

    def pending(self) -> dict[str, list[str]]:
        """Scripted replies not used yet (a test can assert its script was consumed)."""
        with self._lock:
            pending = {command: list(queue) for command, queue in self._replies.items() if queue}
            if self._drops:
                pending["DROP_AFTER_DATA"] = ["drop"] * self._drops
            return pending


class _QuietSession(Session):
    """aiosmtpd logs a deprecation warning whenever it sets login_data; we never read it."""

    @property
    def login_data(self) -> Any:
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value


class _GmailSMTP(SMTP):
    """One connection. aiosmtpd does the protocol; the overrides give it Gmail's words and gates."""

    def __init__(self, server: GmailLikeServer, session_id: str, **kwargs: Any) -> None:
        super().__init__(_GmailHandler(server), **kwargs)
        self.gmail = server
        self.session_id = session_id
        self.log: SessionLog | None = None
        self._dropping = False
        self._gone: asyncio.Future[None] | None = None
        for name, method in list(self._smtp_methods.items()):
            self._smtp_methods[name] = self._recorded(name, method)

    def _recorded(self, name: str, method: Any) -> Any:
        async def record(arg: str | None) -> None:
            if self.log is not None:
                shown = name if name == "AUTH" or not arg else f"{name} {arg}"
                if name == "AUTH" and arg:
                    shown = f"AUTH {arg.split()[0]}"
                self.log.commands.append(shown)
                # aiosmtpd decoded the line as UTF-8 with surrogateescape: encoding it back gives the bytes.
                self.log.wire.append(shown.encode("utf-8", "surrogateescape"))
            await method(arg)

        return record

    def _create_session(self) -> Session:
        return _QuietSession(self.loop)

    @property
    def tls_active(self) -> bool:
        return self.gmail.mode == "ssl" or self._tls_protocol is not None

    def reply(self, text: str) -> str:
        return wire_reply(text, self.session_id)

    def scripted(self, command: Command) -> str | None:
        """The scripted reply for `command` in wire form, or None. A hang-up closes the connection and
        returns "" (push() ignores everything once the line is dead)."""
        return self.as_reply(self.gmail.script.draw(command))

    def as_reply(self, scripted: str | None) -> str | None:
        if scripted is None:
            return None
        if scripted == HANG_UP:
            self.hang_up()
            return ""
        return self.reply(scripted)

    def hang_up(self) -> None:
        self._dropping = True
        self.close_line()

    def close_line(self) -> None:
        """Close the TCP connection, after what was written so far. Under TLS this skips close_notify:
        a clean TLS close waits (30 s) for the client's close_notify, which an idle client never sends."""
        if self.transport is None:
            return
        raw: Any = self._original_transport  # STARTTLS: the TCP transport under the TLS one
        if raw is None:
            ssl_protocol = getattr(self.transport, "_ssl_protocol", None)  # implicit TLS
            raw = ssl_protocol._transport if ssl_protocol is not None else self.transport
        raw.close()

    # -- connection bookkeeping ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.log is None
        super().connection_made(transport)
        if first:
            self._gone = self.loop.create_future()
            self.log = self.gmail._register(self)
        if self.log is not None:
            self.log.tls = self.tls_active

    def connection_lost(self, error: Exception | None) -> None:
        super().connection_lost(error)
        self.gmail._unregister(self)
        if self.log is not None:
            self.log.closed = True
        if self._gone is not None and not self._gone.done():
            self._gone.set_result(None)

    async def close_now(self, reply: str | None) -> None:
        """Server-side close (idle timeout, shutdown); `reply` is sent first when given."""
        if self.transport is None:
            return
        if reply is not None:
            self._writer.write(self.reply(reply).encode() + b"\r\n")
        self.close_line()
        if self._gone is not None:
            await self._gone

    async def push(self, status: AnyStr) -> None:
        if self._dropping or self.transport is None:
            return
        await super().push(status)
        code = status[:3] if isinstance(status, str) else status[:3].decode("ascii", "replace")
        if code == "421":
            self.close_line()

    async def _handle_client(self) -> None:
        scripted = self.scripted("CONNECT") if self.gmail._started else None
        if scripted is not None:
            await self.push(scripted)
            self.close_line()
            return
        await super()._handle_client()

    # -- Gmail's commands ------------------------------------------------------------------------------

    async def smtp_EHLO(self, hostname: str | None) -> None:
        if not hostname:
            await self.push("501-5.5.4 Empty HELO/EHLO argument not allowed, closing connection.")
            return
        scripted = self.scripted("EHLO")
        if scripted is not None:
            await self.push(scripted)
            return
        self.envelope = self._create_envelope()  # EHLO resets the transaction
        assert self.session is not None
        self.session.extended_smtp = True
        self.session.host_name = hostname
        self.command_size_limits["MAIL"] = self.command_size_limit + 26 + 10 + 15
        lines = [
            f"{GMAIL_HOSTNAME} at your service, [127.0.0.1]",
            f"SIZE {self.gmail.size_limit}",
            "8BITMIME",
        ]
        if self.gmail.mode == "starttls" and not self.tls_active:
            lines.append("STARTTLS")
        if self.tls_active or (self.gmail.mode == "plain" and self.gmail.auth_required):
            lines.append("AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH")
        lines += ["ENHANCEDSTATUSCODES", "PIPELINING", "CHUNKING"]
        if self.gmail.smtputf8:
            lines.append("SMTPUTF8")
        for index, line in enumerate(lines):
            await self.push(f"250{' ' if index == len(lines) - 1 else '-'}{line}")

    async def smtp_STARTTLS(self, arg: str | None) -> None:
        scripted = self.scripted("STARTTLS")
        if scripted is not None:
            await self.push(scripted)
            return
        if self.tls_active:
            await self.push(self.reply("503 5.5.1 STARTTLS may not be repeated."))
            return
        await super().smtp_STARTTLS(arg)

    async def smtp_AUTH(self, arg: str | None) -> None:
        if not self.tls_active and self.gmail.mode != "plain":
            await self.push(self.reply(MUST_STARTTLS))
            return
        if arg and arg.split()[0].upper() not in ("PLAIN", "LOGIN"):
            await self.push(self.reply("504 5.7.4 Unrecognized authentication type."))
            return
        await self.gmail.script.keep_back("AUTH")
        await super().smtp_AUTH(arg)

    async def check_auth_needed(self, caller_method: str) -> bool:
        assert self.session is not None
        if self.gmail.mode != "plain" and not self.tls_active:
            await self.push(self.reply(MUST_STARTTLS))
            return True
        if self.gmail.auth_required and not self.session.authenticated:
            await self.push(self.reply(AUTH_REQUIRED))
            return True
        return False


class _GmailHandler:
    """aiosmtpd's hooks: scripted replies first, then what Gmail says when all goes well."""

    def __init__(self, server: GmailLikeServer) -> None:
        self.gmail = server

    async def handle_NOOP(
        self, smtp: _GmailSMTP, session: Session, envelope: Envelope, arg: str | None
    ) -> str:
        await self.gmail.script.keep_back("NOOP")
        return smtp.scripted("NOOP") or smtp.reply("250 2.0.0 OK")

    async def handle_QUIT(self, smtp: _GmailSMTP, session: Session, envelope: Envelope) -> str:
        return smtp.reply("221 2.0.0 closing connection")

    async def handle_RSET(self, smtp: _GmailSMTP, session: Session, envelope: Envelope) -> str:
        return smtp.reply("250 2.1.5 Flushed")

    async def handle_MAIL(
        self, smtp: _GmailSMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        await self.gmail.script.keep_back("MAIL")
        scripted = smtp.scripted("MAIL")
        if scripted is not None:
            return scripted
        refusal = self._not_ascii(address, options)
        if refusal is not None:
            return smtp.reply(refusal)
        for option in options:
            name, _, value = option.partition("=")
            if name == "SIZE" and value.isdigit() and int(value) > self.gmail.size_limit:
                return smtp.reply(SIZE_EXCEEDED)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return smtp.reply("250 2.1.0 OK")

    async def handle_RCPT(
        self, smtp: _GmailSMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        await self.gmail.script.keep_back("RCPT")
        scripted = smtp.scripted("RCPT")
        if scripted is not None:
            return scripted
        refusal = self._not_ascii(address, options)
        if refusal is not None:
            return smtp.reply(refusal)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return smtp.reply("250 2.1.5 OK")

    async def handle_DATA(self, smtp: _GmailSMTP, session: Session, envelope: Envelope) -> str:
        fault = self.gmail.script.draw("DATA")
        drop = fault == ACCEPT_THEN_DROP
        if fault is not None and not drop:
            return smtp.as_reply(fault) or ""
        raw = envelope.original_content or b""
        if len(raw) > self.gmail.size_limit:
            return smtp.reply(SIZE_EXCEEDED)
        if not self.gmail.smtputf8 and not raw.split(b"\r\n\r\n", 1)[0].isascii():
            return smtp.reply("554 5.6.7 SMTPUTF8 is not supported: the header block is not ASCII")
        number = self.gmail._record(smtp, envelope.mail_from or "", tuple(envelope.rcpt_tos), raw)
        await self.gmail.script.keep_back("DATA")  # the server has the message; the 250 waits
        if drop or self.gmail.script.take_drop():
            smtp.hang_up()  # accepted, then lost: the client never hears the 250 it is owed
        return smtp.reply(f"250 2.0.0 OK  {1764230000 + number}")

    def _not_ascii(self, address: str, options: list[str]) -> str | None:
        """Without SMTPUTF8 on offer, the refusal for a non-ASCII address or the SMTPUTF8 parameter."""
        if self.gmail.smtputf8:
            return None
        if any(option.upper() == "SMTPUTF8" for option in options):
            return "555 5.5.4 SMTPUTF8 is not supported by this server"
        if not address.isascii():
            return "553 5.6.7 Non-ASCII addresses are not permitted here (no SMTPUTF8)"
        return None

    def authenticate(
        self, smtp: _GmailSMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if smtp.log is not None:
            smtp.log.auth_attempts += 1
        scripted = smtp.scripted("AUTH")
        if scripted is not None:
            if scripted.startswith("2"):
                return self._accepted(smtp, auth_data, scripted)
            return AuthResult(success=False, handled=False, message=scripted)
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.gmail.username.encode()
            and auth_data.password == self.gmail.password.encode()
        )
        if not ok:
            return AuthResult(success=False, handled=False, message=smtp.reply(BAD_CREDENTIALS))
        return self._accepted(smtp, auth_data, "235 2.7.0 Accepted")

    @staticmethod
    def _accepted(smtp: _GmailSMTP, auth_data: Any, reply: str) -> AuthResult:
        if smtp.log is not None:
            smtp.log.logins += 1
        return AuthResult(success=True, auth_data=auth_data, message=smtp.reply(reply))


class _Controller(Controller):
    def __init__(self, server: GmailLikeServer, **kwargs: Any) -> None:
        super().__init__(None, hostname="127.0.0.1", port=0, **kwargs)
        self.gmail = server
        self._numbers = itertools.count(1)

    def factory(self) -> _GmailSMTP:
        gmail = self.gmail
        session_id = f"{random.getrandbits(48):012x}-{next(self._numbers)}sm.{random.randrange(100)}"
        handler_for_auth = _GmailHandler(gmail)
        smtp = _GmailSMTP(
            gmail,
            session_id,
            hostname=GMAIL_HOSTNAME,
            ident=f"ESMTP {session_id} - gsmtp",
            tls_context=gmail._server_context if gmail.mode == "starttls" else None,
            data_size_limit=None,
            enable_SMTPUTF8=True,
            auth_require_tls=False,
            authenticator=lambda *args: handler_for_auth.authenticate(*args),
            timeout=gmail.idle_timeout,
            loop=self.loop,
        )
        return smtp

    def _trigger_server(self) -> None:
        """aiosmtpd connects once to prove the server is up; that connection is not a client's session."""
        assert self.server is not None
        self.port = cast(asyncio.Server, self.server).sockets[0].getsockname()[1]
        with socket.create_connection((self.hostname, self.port), 2.0) as raw:
            self.gmail._ignored_peers.add(raw.getsockname())
            if self.gmail.mode == "ssl":
                with self.gmail.client_context().wrap_socket(raw, server_hostname="localhost") as tls:
                    tls.recv(1024)
            else:
                raw.recv(1024)


class GmailLikeServer:
    """The server and everything it saw. Start with `with` (or `gmail_like_server()`)."""

    def __init__(
        self,
        *,
        mode: Mode = "starttls",
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        auth_required: bool = True,
        size_limit: int = GMAIL_SIZE_LIMIT,
        idle_timeout: float = 300.0,
        ca: trustme.CA | None = None,
        smtputf8: bool = True,
    ) -> None:
        self.mode: Mode = mode
        self.smtputf8 = smtputf8
        self.username = username
        self.password = password
        self.auth_required = auth_required
        self.size_limit = size_limit
        self.idle_timeout = idle_timeout
        self.ca = ca or trustme.CA()
        self.host = "127.0.0.1"
        self.port = 0
        self.script = Script()
        self._lock = threading.Lock()
        self._messages: list[ReceivedMessage] = []
        self._sessions: list[SessionLog] = []
        self._live: set[_GmailSMTP] = set()
        self._ignored_peers: set[tuple[str, int]] = set()
        self._started = False
        # Gmail files a copy of every message it accepts in the account's Sent folder: set this (e.g. to
        # tests.imap_server.DovecotServer.file_sent) and each accepted message is handed to it first.
        self.file_sent: Callable[[bytes], None] | None = None
        self._server_context: ssl.SSLContext | None = None
        if mode != "plain":
            self._server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.ca.issue_cert("localhost", "127.0.0.1").configure_cert(self._server_context)
        self._controller = _Controller(self, ssl_context=self._server_context if mode == "ssl" else None)

    # -- what tests read -------------------------------------------------------------------------------

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts this server's test CA (and nothing else)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the host name
        self.ca.configure_trust(context)
        return context

    @property
    def messages(self) -> list[ReceivedMessage]:
        with self._lock:
            return list(self._messages)

    @property
    def sessions(self) -> list[SessionLog]:
        """Client connections, oldest first (aiosmtpd's own start-up probe left out)."""
        with self._lock:
            return [s for s in self._sessions if s.peer not in self._ignored_peers]

    @property
    def connections(self) -> int:
        return len(self.sessions)

    @property
    def logins(self) -> int:
        return sum(session.logins for session in self.sessions)

    @property
    def auth_attempts(self) -> int:
        return sum(session.auth_attempts for session in self.sessions)

    def drop_connections(self, reply: str | None = None) -> int:
        """Close every open connection from the server side, as an idle timeout does; `reply` (e.g.
        `IDLE_TIMEOUT`) is sent first. Returns how many were closed, once they are closed."""
        with self._lock:
            live = list(self._live)

        async def close_all() -> None:
            await asyncio.gather(*(smtp.close_now(reply) for smtp in live))

        asyncio.run_coroutine_threadsafe(close_all(), self._controller.loop).result(timeout=10)
        return len(live)

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        self._controller.start()
        self.port = self._controller.port
        self._started = True

    def stop(self) -> None:
        self.script.release()
        if self._controller.loop.is_running():
            self.drop_connections()
        self._controller.stop()

    def __enter__(self) -> GmailLikeServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- called from the server thread -----------------------------------------------------------------

    def _register(self, smtp: _GmailSMTP) -> SessionLog:
        peer: Any = smtp.session.peer if smtp.session is not None else ("?", 0)
        log = SessionLog(peer=(str(peer[0]), int(peer[1])), session_id=smtp.session_id)
        with self._lock:
            self._sessions.append(log)
            self._live.add(smtp)
        return log

    def _unregister(self, smtp: _GmailSMTP) -> None:
        with self._lock:
            self._live.discard(smtp)

    def _record(self, smtp: _GmailSMTP, envelope_from: str, recipients: tuple[str, ...], raw: bytes) -> int:
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        if self.file_sent is not None:
            self.file_sent(raw)
        with self._lock:
            self._messages.append(ReceivedMessage(envelope_from, recipients, raw, parsed, smtp.session_id))
            return len(self._messages)


@contextmanager
def gmail_like_server(
    *,
    mode: Mode = "starttls",
    username: str = DEFAULT_USERNAME,
    password: str = DEFAULT_PASSWORD,
    auth_required: bool | None = None,
    size_limit: int = GMAIL_SIZE_LIMIT,
    idle_timeout: float = 300.0,
    ca: trustme.CA | None = None,
    smtputf8: bool = True,
) -> Iterator[GmailLikeServer]:
    """A started GmailLikeServer, stopped (every connection closed) on exit. `mode="ssl"` is port-465
    style implicit TLS; `mode="plain"` is a local relay without TLS, and without AUTH unless
    `auth_required=True`; `smtputf8=False` does not offer SMTPUTF8."""
    server = GmailLikeServer(
        mode=mode,
        username=username,
        password=password,
        auth_required=mode != "plain" if auth_required is None else auth_required,
        size_limit=size_limit,
        idle_timeout=idle_timeout,
        ca=ca,
        smtputf8=smtputf8,
    )
    with server:
        yield server
