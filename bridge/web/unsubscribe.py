"""Unsubscribing from marketing mail: signed tokens, the List-Unsubscribe links, checking an unsubscribe
before bridge.state.unsubscribes records it, and the small HTTP endpoint the links point to.

A marketing email carries `List-Unsubscribe: <https://…?t=TOKEN&l=pl>, <mailto:…?subject=unsubscribe%20TOKEN>`
and `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058, RFC 2369), plus the same URL in its body.
The token names the address and is signed with a key only the bridge holds, so the endpoint needs no
lookup table and no login. Tokens never expire: an unsubscribe link in a two-year-old email must still work.

The endpoint unsubscribes on POST only. A GET shows a page with one button, because link scanners, spam
filters and mail previews fetch every URL in a message; a mail provider's one-click POST
(`List-Unsubscribe=One-Click`, no cookies, no redirects) unsubscribes at once. Order emails are not
marketing and keep arriving: only marketing kinds are held back by `unsubscribed()`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import html
import logging
import os
import re
import secrets
import socket
import socketserver
import stat
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email import policy as email_policy
from email.parser import BytesParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal
from urllib.parse import parse_qs, parse_qsl, quote, urlsplit

from bridge.clock import Clock
from bridge.errors import ConfigError, StoreError
from bridge.secret import REDACTED, Secret
from bridge.state import unsubscribes
from bridge.state.store import Store, Tx

# The store's side lives in bridge.state.unsubscribes; the endpoint uses these, and `bridge suppress` still
# finds them here.
from bridge.state.unsubscribes import Unsubscribe as Unsubscribe
from bridge.state.unsubscribes import normalise_email
from bridge.state.unsubscribes import unsubscribed as unsubscribed
from bridge.web.server import StoppableHTTPServer

log = logging.getLogger(__name__)

Source = Literal["one-click", "link", "mailto", "cli"]
SOURCES: Final = ("one-click", "link", "mailto", "cli")

# The header that turns the https link into a one-click one (RFC 8058 §3.1); the lead adds it beside
# List-Unsubscribe on every marketing email.
LIST_UNSUBSCRIBE_POST: Final = "List-Unsubscribe=One-Click"

KEY_FILE: Final = "unsubscribe.key"
KEY_SIZE: Final = 32
MIN_KEY_SIZE: Final = 16
SHORT_SECRET: Final = 16  # characters; below this, one leaked token lets someone guess the secret offline
MAX_EMAIL_BYTES: Final = 320  # the store's column; RFC 5321 allows no more in practice
MAC_SIZE: Final = 16  # bytes of HMAC-SHA256 kept: 128 bits
MAX_TOKEN_LENGTH: Final = 512  # "1." + base64 of 320 bytes (427) + "." + 22: anything longer is not ours
MAX_BODY: Final = 4096  # a one-click POST is 26 bytes, the page's form 9
DRAIN_LIMIT: Final = 65536  # read (and drop) up to this much of a refused body, so the 413 arrives cleanly
REQUEST_TIMEOUT: Final = 10.0  # seconds a client may take per read before its connection is dropped
RETRY_AFTER: Final = "120"

_VERSION: Final = "1"
_MAC_CONTEXT: Final = b"prestashop-mail-bridge unsubscribe\x00v1\x00"
_HKDF_SALT: Final = b"prestashop-mail-bridge unsubscribe salt"
_HKDF_INFO: Final = b"unsubscribe token key v1"
_B64: Final = r"[A-Za-z0-9_-]"
_TOKEN_SHAPE: Final = re.compile(rf"{_VERSION}\.({_B64}+)\.({_B64}{{22}})")
_TOKEN_IN_TEXT: Final = re.compile(rf"(?<![A-Za-z0-9_.-]){_VERSION}\.{_B64}+\.{_B64}{{22}}(?![A-Za-z0-9_.-])")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "::1", "localhost"})


class InvalidToken(ValueError):
    """A token that this bridge did not sign, or that lost characters on the way.

    A ValueError, not a BridgeError: it is bad input from a web request or a pasted mail (like
    `int("x")`), answered with a 400 page or a CLI message by whoever verifies it. The BridgeError
    taxonomy lives in bridge/errors.py and is for failures of the bridge itself.
    """


# --- tokens --------------------------------------------------------------------------------------------


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    """Strict URL-safe base64 without padding; a non-canonical spelling is refused (one token per address)."""
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise InvalidToken("the token is not base64") from None
    if _b64encode(data) != text:
        raise InvalidToken("the token is not canonical base64")
    return data


def _check_email(email: str) -> bytes:
    if not email:
        raise ValueError("an empty email address cannot be unsubscribed")
    if _CONTROL.search(email) or " " in email:
        raise ValueError("an email address cannot contain spaces or control characters")
    raw = email.encode("utf-8")
    if len(raw) > MAX_EMAIL_BYTES:
        raise ValueError(f"an email address cannot be longer than {MAX_EMAIL_BYTES} bytes")
    return raw


class Signer:
    """Signs and checks unsubscribe tokens: `1.<address, base64url>.<HMAC-SHA256 truncated to 128 bits>`.

    The address travels in the token (lower-cased), so the endpoint needs no table of tokens, and a token
    works as long as the key does; the MAC covers a versioned, purpose-bound payload, so a future format
    or another use of the same key cannot be confused with this one.
    """

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes) or len(key) < MIN_KEY_SIZE:
            raise ValueError(f"an unsubscribe key must be at least {MIN_KEY_SIZE} bytes")
        self._key = key

    def _mac(self, address: bytes) -> str:
        digest = hmac.new(self._key, _MAC_CONTEXT + address, hashlib.sha256).digest()
        return _b64encode(digest[:MAC_SIZE])

    def token(self, email: str) -> str:
        """A URL-safe token for `email` (normalised with strip().lower()); characters: A-Z a-z 0-9 - _ ."""
        raw = _check_email(normalise_email(email))
        return f"{_VERSION}.{_b64encode(raw)}.{self._mac(raw)}"

    def verify(self, token: str) -> str:
        """The address `token` was made for; InvalidToken for anything this key did not sign."""
        if not isinstance(token, str) or not token:
            raise InvalidToken("no token")
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("the token is too long")
        if not token.isascii():
            raise InvalidToken("the token has characters a token never has")
        shape = _TOKEN_SHAPE.fullmatch(token)
        if shape is None:
            raise InvalidToken("the token is incomplete or has the wrong shape")
        address_part, mac_part = shape.groups()
        raw = _b64decode(address_part)
        if not hmac.compare_digest(self._mac(raw), mac_part):
            raise InvalidToken("the token's signature does not match")
        try:
            email = raw.decode("utf-8")
            _check_email(email)
        except ValueError:  # UnicodeDecodeError included; only a key shared with other code gets here
            raise InvalidToken("the token does not hold an email address") from None
        if email != normalise_email(email):
            raise InvalidToken("the token does not hold a normalised email address")
        return email

    def __repr__(self) -> str:
        return f"Signer(key={REDACTED!r})"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("unsubscribe signers are not pickled: they hold the key")


def _hkdf_sha256(secret: bytes, length: int = KEY_SIZE) -> bytes:
    """RFC 5869 HKDF with SHA-256 (the standard library has HMAC but no HKDF)."""
    prk = hmac.new(_HKDF_SALT, secret, hashlib.sha256).digest()
    output, block, counter = b"", b"", 1
    while len(output) < length:
        block = hmac.new(prk, block + _HKDF_INFO + bytes([counter]), hashlib.sha256).digest()
        output += block
        counter += 1
    return output[:length]


def load_key(state_dir: Path, secret: Secret | None) -> bytes:
    """The 32-byte signing key: derived from UNSUBSCRIBE_SECRET when set, else kept in STATE_DIR.

    The key file is made once (atomically, mode 0600) and reused by every later run: a new key would
    break every unsubscribe link in mail already sent. A key file that others can read, or of the wrong
    size, is a ConfigError rather than something to repair silently.
    """
    if secret:
        value = secret.reveal()
        if len(value) < SHORT_SECRET:
            log.warning(
                "UNSUBSCRIBE_SECRET is shorter than %d characters: anyone holding one unsubscribe link "
                "could guess it offline; use 32 or more random characters",
                SHORT_SECRET,
            )
        return _hkdf_sha256(value.encode("utf-8"))
    path = state_dir / KEY_FILE
    try:
        return _read_key(path)
    except FileNotFoundError:
        return _create_key(path)


def _read_key(path: Path) -> bytes:
    """The key in `path`; FileNotFoundError when there is none yet."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise
    except OSError as error:
        raise ConfigError(f"unsubscribe key {path}: cannot be read ({error.strerror or error})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"unsubscribe key {path}: is not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise ConfigError(
                f"unsubscribe key {path}: other users can read it (mode {mode:04o}); "
                f"run `chmod 600 {path}` (and treat the key as leaked if they could)"
            )
        data = os.read(fd, KEY_SIZE + 1)
    except OSError as error:
        raise ConfigError(f"unsubscribe key {path}: cannot be read ({error.strerror or error})") from None
    finally:
        os.close(fd)
    if len(data) != KEY_SIZE:
        raise ConfigError(
            f"unsubscribe key {path}: holds {len(data)} bytes instead of {KEY_SIZE}, so it is damaged; "
            "restore it from a backup (deleting it makes a new key, and every unsubscribe link in mail "
            "already sent stops working), or set UNSUBSCRIBE_SECRET"
        )
    return data


def _create_key(path: Path) -> bytes:
    """Write a fresh key beside `path`, then hard-link it into place.

    The link appears whole or not at all, and never replaces a key another bridge process made a moment
    earlier (that process may already have signed links with it): the loser reads the winner's key.
    """
    key = secrets.token_bytes(KEY_SIZE)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)  # whatever the umask left
            os.write(fd, key)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temporary, path)
        except FileExistsError:
            return _read_key(path)
        _fsync_directory(path.parent)
    except OSError as error:
        raise ConfigError(
            f"unsubscribe key {path}: cannot be created ({error.strerror or error}); "
            "make STATE_DIR writable or set UNSUBSCRIBE_SECRET"
        ) from None
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()
    log.info("created a new unsubscribe key in %s (keep it with your backups)", path)
    return key


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a directory be fsynced
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --- links ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnsubscribeLinks:
    """The two ways out of one email: the https link (header and body) and the mailto fallback."""

    url: str
    mailto: str

    def header_value(self) -> str:
        """The List-Unsubscribe value, https first (RFC 8058 one-click needs it; mailto is the fallback)."""
        return f"<{self.url}>, <{self.mailto}>"


def validate_base_url(url: str) -> str:
    """The owner's UNSUBSCRIBE_URL, checked: https (http only on loopback, for tests), no fragment.

    Messages never quote the URL back: a pasted URL could hold a password.
    """
    value = url.strip()
    if not value:
        raise ValueError("the unsubscribe URL is empty")
    if not value.isascii() or _CONTROL.search(value) or " " in value:
        raise ValueError(
            "the unsubscribe URL may hold only ASCII without spaces (write the host in punycode and "
            "percent-encode the path)"
        )
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    try:
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        raise ValueError("the unsubscribe URL has an invalid port") from None
    if scheme not in ("https", "http"):
        raise ValueError("the unsubscribe URL must start with https://")
    if not host:
        raise ValueError("the unsubscribe URL has no host name")
    if scheme == "http" and host not in LOOPBACK_HOSTS:
        raise ValueError(
            "the unsubscribe URL must use https: mail providers make one-click unsubscribe requests only "
            "to https URLs (http is accepted for 127.0.0.1, ::1 and localhost, for tests and demos)"
        )
    if parts.username is not None or parts.password is not None:
        raise ValueError("the unsubscribe URL must not contain a user name or password")
    if "#" in value:
        raise ValueError("the unsubscribe URL must not contain a fragment (#…): the token goes in the query")
    if any(name in ("t", "l") for name, _ in parse_qsl(parts.query, keep_blank_values=True)):
        raise ValueError("the unsubscribe URL's query must not use t= or l=: the bridge adds them")
    return value


def _check_mailto(address: str) -> str:
    value = address.strip()
    if not value or "@" not in value or re.search(r"[\s<>,?#\"\x00-\x1f\x7f]", value):
        raise ValueError("the unsubscribe mailto address must be a plain address like sklep@example.pl")
    return value


def links(email: str, *, base_url: str, mailto: str, language: str, signer: Signer) -> UnsubscribeLinks:
    """The unsubscribe links for one recipient: `{base_url}?t={token}&l={language}` and a mailto."""
    base = validate_base_url(base_url)
    token = signer.token(email)
    query = f"t={token}&l={quote(language, safe='-_')}"
    if "?" not in base:
        separator = "?"
    elif base.endswith(("?", "&")):
        separator = ""
    else:
        separator = "&"
    return UnsubscribeLinks(
        url=f"{base}{separator}{query}",
        mailto=f"mailto:{_check_mailto(mailto)}?subject=unsubscribe%20{token}",
    )


def token_from_mailto_subject(subject: str) -> str | None:
    """The token in the subject of a mail sent through the mailto link ("Re: unsubscribe 1.…"), unverified.

    Mail clients decode the `%20`; a few leave it, some add "Re:" or fold the line. Verify the result
    with `Signer.verify` before acting on it.
    """
    if not subject:
        return None
    match = _TOKEN_IN_TEXT.search(subject[:4096].replace("%20", " "))
    return match.group() if match else None


def mask_email(email: str) -> str:
    """`z***@example.com`: enough for the customer (and a log reader) to recognise, not to harvest."""
    local, at, domain = email.rpartition("@")
    if not at:
        return email[:1] + "***"
    return f"{local[:1]}***@{domain}"


# --- the store -----------------------------------------------------------------------------------------


def _aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}")


def unsubscribe(tx: Tx, email: str, source: Source, *, now: datetime) -> bool:
    """Record that `email` wants no more marketing mail; True when it is new (the first request wins)."""
    if source not in SOURCES:
        raise ValueError(f"unknown unsubscribe source {source!r}; expected one of {', '.join(SOURCES)}")
    _aware(now)
    address = normalise_email(email)
    _check_email(address)
    return unsubscribes.add(tx, address, source, now=now)


# --- pages ---------------------------------------------------------------------------------------------

Language = Literal["pl", "en"]

_TEXTS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "confirm_title": "Unsubscribe from marketing emails",
        "confirm": "Stop sending reminders and offers to {address}?",
        "button": "Unsubscribe",
        "orders": "Emails about your orders, such as confirmations and shipping updates, will still arrive.",
        "already_title": "Already unsubscribed",
        "already": "{address} is already unsubscribed: {shop} sends it no reminders or offers.",
        "already_anonymous": "{address} is already unsubscribed: it gets no reminders or offers.",
        "done_title": "You are unsubscribed",
        "done": "{shop} will send no more reminders or offers to {address}.",
        "done_anonymous": "We will send no more reminders or offers to {address}.",
        "bad_title": "This link does not work",
        "bad": (
            "The unsubscribe link is incomplete or damaged. Open it again from the email, or copy the "
            "whole link. Nothing was changed."
        ),
        "unavailable_title": "Please try again",
        "unavailable": (
            "Your request could not be saved just now. Please try again in a few minutes. "
            "Nothing was changed."
        ),
        "method_title": "Not allowed",
        "method": "This address only answers the unsubscribe link and its button.",
        "too_large_title": "Request too large",
        "too_large": "The request was too large. Nothing was changed.",
        "error_title": "Something went wrong",
        "error": "Something went wrong on our side. Please try again in a few minutes. Nothing was changed.",
    },
    "pl": {
        "confirm_title": "Rezygnacja z wiadomości marketingowych",
        "confirm": "Czy przestać wysyłać przypomnienia i oferty na adres {address}?",
        "button": "Wypisz mnie",
        "orders": (
            "Wiadomości o Twoich zamówieniach, takie jak potwierdzenia i informacje o wysyłce, nadal "
            "będą przychodzić."
        ),
        "already_title": "Adres jest już wypisany",
        "already": "Adres {address} jest już wypisany: {shop} nie wysyła na niego przypomnień ani ofert.",
        "already_anonymous": (
            "Adres {address} jest już wypisany: nie trafiają na niego przypomnienia ani oferty."
        ),
        "done_title": "Gotowe, adres został wypisany",
        "done": "{shop} nie będzie już wysyłać przypomnień ani ofert na adres {address}.",
        "done_anonymous": "Nie będziemy już wysyłać przypomnień ani ofert na adres {address}.",
        "bad_title": "Ten link nie działa",
        "bad": (
            "Link do wypisania się jest niepełny lub uszkodzony. Otwórz go ponownie z wiadomości albo "
            "skopiuj w całości. Niczego nie zmieniono."
        ),
        "unavailable_title": "Spróbuj ponownie",
        "unavailable": (
            "Nie udało się teraz zapisać Twojej prośby. Spróbuj ponownie za kilka minut. "
            "Niczego nie zmieniono."
        ),
        "method_title": "Niedozwolone żądanie",
        "method": "Ten adres obsługuje tylko link do wypisania się i jego przycisk.",
        "too_large_title": "Zbyt duże żądanie",
        "too_large": "Żądanie było zbyt duże. Niczego nie zmieniono.",
        "error_title": "Coś poszło nie tak",
        "error": (
            "Coś poszło nie tak po naszej stronie. Spróbuj ponownie za kilka minut. Niczego nie zmieniono."
        ),
    },
}

_STYLE: Final = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:34rem;"
    "margin:3rem auto;padding:0 1rem;line-height:1.5;color:#222;background:#fff}"
    ".shop{color:#555;margin:0}h1{font-size:1.4rem}"
    "button{font:inherit;padding:.6rem 1.4rem;border:0;border-radius:4px;background:#1a5fb4;color:#fff;"
    "cursor:pointer}"
)


def _render(
    language: Language,
    shop: str,
    page: str,
    *,
    address: str = "",
    extra: tuple[str, ...] = (),
    button: bool = False,
) -> bytes:
    """One page; every value from outside (shop name, masked address) is HTML-escaped here and only here."""
    texts = _TEXTS[language]
    values = {"shop": html.escape(shop), "address": f"<strong>{html.escape(address)}</strong>"}
    title = html.escape(texts[f"{page}_title"])
    # Without a shop name (not read from the shop yet) the sentences must not start with a blank.
    sentence = (
        texts[f"{page}_anonymous"] if not shop.strip() and f"{page}_anonymous" in texts else texts[page]
    )
    paragraphs = [sentence.format(**values)]
    paragraphs += [html.escape(texts[name]) for name in extra]
    body = "".join(f"<p>{paragraph}</p>" for paragraph in paragraphs)
    if button:
        # No action attribute: the browser posts back to the URL it shows, the public one, whatever
        # path the owner's web server forwards to this endpoint.
        body += (
            '<form method="post"><input type="hidden" name="confirm" value="1">'
            f'<button type="submit">{html.escape(texts["button"])}</button></form>'
        )
    shop_line = f'<p class="shop">{html.escape(shop)}</p>' if shop.strip() else ""
    return (
        f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex, nofollow">'
        f"<title>{title}</title><style>{_STYLE}</style></head>"
        f"<body>{shop_line}<h1>{title}</h1>{body}</body></html>\n"
    ).encode()


def choose_language(requested: str | None, accept_language: str | None) -> Language:
    """Polish or English: the link's `l`, else the browser's Accept-Language, else English."""
    primary = (requested or "").strip().lower().replace("_", "-").split("-")[0]
    if primary in _TEXTS:
        return "pl" if primary == "pl" else "en"
    best: tuple[float, int] | None = None
    chosen: Language = "en"
    for position, item in enumerate((accept_language or "")[:1000].split(",")):
        tag, _, parameters = item.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in _TEXTS:
            continue
        quality = 1.0
        for parameter in parameters.split(";"):
            name, _, value = parameter.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality <= 0:
            continue
        rank = (quality, -position)
        if best is None or rank > best:
            best, chosen = rank, ("pl" if primary == "pl" else "en")
    return chosen


# --- the HTTP endpoint ---------------------------------------------------------------------------------

SECURITY_HEADERS: Final = (
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
    ("X-Robots-Tag", "noindex, nofollow"),
)
ALLOWED_METHODS: Final = "GET, HEAD, POST"
_TOKEN_IN_QUERY: Final = re.compile(r"(?i)([?&;]t=)[^&;\s\"]*")

AfterUnsubscribe = Callable[[Tx, str, datetime], None]


def _mask_tokens(text: str) -> str:
    """Request lines without the token: it names the address and unsubscribes it."""
    return _TOKEN_IN_TEXT.sub(REDACTED, _TOKEN_IN_QUERY.sub(rf"\g<1>{REDACTED}", text))


class _BodyTooLarge(Exception):
    pass


class _BadBody(Exception):
    pass


class UnsubscribeServer:
    """The endpoint behind UNSUBSCRIBE_URL: a threaded stdlib HTTP server in a daemon thread.

    It listens on loopback by default; the owner's web server terminates https and forwards the public
    URL here. Every unsubscribe is its own short transaction in `store`; `after_unsubscribe(conn, email,
    now)`, when given, runs inside it (new or repeated), e.g. to cancel marketing mail still queued.
    """

    def __init__(
        self,
        store: Store,
        signer: Signer,
        clock: Clock,
        *,
        shop_name: str,
        host: str = "127.0.0.1",
        port: int = 0,
        after_unsubscribe: AfterUnsubscribe | None = None,
    ) -> None:
        self.store = store
        self.signer = signer
        self.clock = clock
        self.shop_name = shop_name
        self.host = host
        self.port = port
        self.after_unsubscribe = after_unsubscribe
        self._server: _Server | None = None

    def start(self) -> UnsubscribeServer:
        if self._server is not None:
            return self
        try:
            server = _Server((self.host, self.port), self)
        except OSError as error:
            raise ConfigError(
                f"UNSUBSCRIBE_LISTEN {self.host}:{self.port}: cannot listen ({error.strerror or error})"
            ) from None
        self.port = server.server_address[1]
        self._server = server
        server.serve_in_background("unsubscribe-endpoint", poll_interval=0.1)
        log.info("unsubscribe endpoint listening on %s", self.url)
        return self

    def stop(self) -> None:
        server = self._server
        if server is None:
            return
        server.stop()
        self._server = None

    def __enter__(self) -> UnsubscribeServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Where the endpoint listens, e.g. http://127.0.0.1:8787/ (the owner's proxy forwards to it)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def __repr__(self) -> str:
        return f"UnsubscribeServer({self.url!r})"

    def record(self, email: str, source: Source) -> bool:
        """One unsubscribe in its own transaction; True when new. StoreError when the store cannot."""
        with self.store.transaction() as tx:
            now = self.clock.now()
            new = unsubscribe(tx, email, source, now=now)
            if self.after_unsubscribe is not None:
                self.after_unsubscribe(tx, normalise_email(email), now)
        if new:
            log.info("unsubscribed %s from marketing mail (%s)", mask_email(email), source)
        else:
            log.info("%s was already unsubscribed (%s again)", mask_email(email), source)
        return new

    def lookup(self, email: str) -> Unsubscribe | None:
        with self.store.read() as tx:
            return unsubscribed(tx, email)


class _Server(StoppableHTTPServer):
    def __init__(self, address: tuple[str, int], endpoint: UnsubscribeServer) -> None:
        self.endpoint = endpoint
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind also resolves the host's FQDN: a DNS lookup at every start, for nothing.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.socket.getsockname()[:2]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up or stalls is not worth a traceback."""
        log.debug("unsubscribe endpoint: a connection ended badly", exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a provider may send several one-click POSTs on one connection
    server: _Server
    timeout = REQUEST_TIMEOUT
    server_version = "bridge-unsubscribe"

    def version_string(self) -> str:
        return self.server_version  # no Python version for the world to read

    def setup(self) -> None:
        self._body_read = False
        self.server.track(self.request)
        super().setup()

    def parse_request(self) -> bool:
        self._body_read = False  # one handler serves every request of a kept-alive connection
        return super().parse_request()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.request)

    # -- logging: the module logger, at DEBUG, without tokens ------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("unsubscribe endpoint: %s", _mask_tokens(format % args))

    # -- methods -----------------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._guarded(self._show)

    def do_HEAD(self) -> None:
        self._guarded(self._show)

    def do_POST(self) -> None:
        self._guarded(self._post)

    def __getattr__(self, name: str) -> Callable[[], None]:
        # http.server answers a method without a do_* handler with 501; this endpoint says 405 and Allow.
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def _not_allowed(self) -> None:
        self._page(HTTPStatus.METHOD_NOT_ALLOWED, "method", headers=(("Allow", ALLOWED_METHODS),), close=True)

    # -- routes ------------------------------------------------------------------------------------------

    def _guarded(self, route: Callable[[], None]) -> None:
        try:
            route()
        except StoreError as error:
            log.warning("unsubscribe endpoint: the state store is unavailable: %s", error)
            self._page(HTTPStatus.SERVICE_UNAVAILABLE, "unavailable", headers=(("Retry-After", RETRY_AFTER),))
        except Exception as error:
            # Only the type and the place: an exception's text may quote the address it was handling.
            where = traceback.extract_tb(error.__traceback__)[-1]
            log.error(
                "unsubscribe endpoint: %s at %s:%s while answering a %s",
                type(error).__name__,
                Path(where.filename).name,
                where.lineno,
                self.command,
            )
            self._page(HTTPStatus.INTERNAL_SERVER_ERROR, "error", close=True)

    def _query(self) -> dict[str, list[str]]:
        try:
            return parse_qs(urlsplit(self.path).query, max_num_fields=20)
        except ValueError:
            return {}

    def _language(self) -> Language:
        requested = self._query().get("l", [None])[0]
        return choose_language(requested, self.headers.get("Accept-Language"))

    def _email(self) -> str | None:
        values = self._query().get("t", [])
        if len(set(values)) != 1:
            return None
        try:
            return self.server.endpoint.signer.verify(values[0])
        except InvalidToken:
            return None

    def _show(self) -> None:
        """GET/HEAD: say what the button would do; never unsubscribe (scanners and previews GET links)."""
        email = self._email()
        if email is None:
            self._page(HTTPStatus.BAD_REQUEST, "bad")
            return
        if self.server.endpoint.lookup(email) is not None:
            self._page(HTTPStatus.OK, "already", address=mask_email(email), extra=("orders",))
            return
        self._page(HTTPStatus.OK, "confirm", address=mask_email(email), extra=("orders",), button=True)

    def _post(self) -> None:
        try:
            form = self._form()
        except _BodyTooLarge:
            self._page(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "too_large", close=True)
            return
        except _BadBody:
            self._page(HTTPStatus.BAD_REQUEST, "bad", close=True)
            return
        email = self._email()
        one_click = any(v.strip().lower() == "one-click" for v in form.get("List-Unsubscribe", []))
        confirmed = any(v.strip() == "1" for v in form.get("confirm", []))
        if email is None or not (one_click or confirmed):
            self._page(HTTPStatus.BAD_REQUEST, "bad")
            return
        # RFC 8058: the one-click POST needs nothing else (no cookie, no second step).
        self.server.endpoint.record(email, "one-click" if one_click else "link")
        self._page(HTTPStatus.OK, "done", address=mask_email(email), extra=("orders",))

    # -- request bodies ----------------------------------------------------------------------------------

    def _form(self) -> dict[str, list[str]]:
        """The POSTed fields, urlencoded or multipart/form-data (RFC 8058 allows both), at most MAX_BODY."""
        body = self._body()
        content_type = self.headers.get("Content-Type", "")
        try:
            if content_type.split(";")[0].strip().lower() == "multipart/form-data":
                return _multipart_fields(content_type, body)
            return parse_qs(body.decode("utf-8"), max_num_fields=20, strict_parsing=False)
        except (ValueError, UnicodeDecodeError):
            raise _BadBody from None

    def _body(self) -> bytes:
        self._body_read = True  # even when refused part-way: _send then closes the connection anyway
        encoding = self.headers.get("Transfer-Encoding", "").strip().lower()
        if encoding:
            if encoding != "chunked":
                raise _BadBody
            return self._chunked()
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            return b""
        if not length_text.strip().isdigit():
            raise _BadBody
        length = int(length_text)
        if length > MAX_BODY:
            if length <= DRAIN_LIMIT:  # read it, so the client gets the 413 rather than a reset
                self.rfile.read(length)
            raise _BodyTooLarge
        return self.rfile.read(length)

    def _chunked(self) -> bytes:
        body = b""
        while True:
            line = self.rfile.readline(100)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise _BadBody from None
            if size < 0:
                raise _BadBody
            if size == 0:
                break
            if len(body) + size > MAX_BODY:
                raise _BodyTooLarge
            body += self.rfile.read(size)
            if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _BadBody
        for _ in range(20):  # trailer fields, up to the blank line
            if self.rfile.readline(1000) in (b"\r\n", b"\n", b""):
                return body
        raise _BadBody

    # -- responses ---------------------------------------------------------------------------------------

    def _page(
        self,
        status: HTTPStatus,
        page: str,
        *,
        address: str = "",
        extra: tuple[str, ...] = (),
        button: bool = False,
        headers: tuple[tuple[str, str], ...] = (),
        close: bool = False,
    ) -> None:
        language = self._language()
        body = _render(
            language, self.server.endpoint.shop_name, page, address=address, extra=extra, button=button
        )
        self._send(status, body, language, headers=headers, close=close)

    def _send(
        self,
        status: HTTPStatus | int,
        body: bytes,
        language: str,
        *,
        headers: tuple[tuple[str, str], ...] = (),
        close: bool = False,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Language", language)
        for name, value in (*SECURITY_HEADERS, *headers):
            self.send_header(name, value)
        if (
            not close
            and not self._body_read
            and (
                self.headers.get("Transfer-Encoding")
                or self.headers.get("Content-Length", "0").strip() != "0"
            )
        ):
            close = True  # a body nobody read (a GET with one, a PUT) would be parsed as the next request
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (bad request line, headers too long) with this endpoint's headers."""
        with contextlib.suppress(ValueError):
            status = HTTPStatus(code)
            text = html.escape(f"{status.value} {status.phrase}")
            body = (
                f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{text}</title></head>'
                f"<body><h1>{text}</h1></body></html>\n"
            ).encode()
            self.log_error("code %d, message %s", code, message)
            self._send(code, body, "en", close=True)


def _multipart_fields(content_type: str, body: bytes) -> dict[str, list[str]]:
    """Fields of a small multipart/form-data body, parsed by the standard library's MIME parser."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=email_policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise ValueError("not a multipart body")
    fields: dict[str, list[str]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields.setdefault(name, []).append(payload.decode("utf-8"))
    return fields
