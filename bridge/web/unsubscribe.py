"""Unsubscribing from marketing mail: signed tokens, the List-Unsubscribe links, checking an unsubscribe
before bridge.state.unsubscribes records it, and the HTTP endpoint the links point to (its requests in
bridge/web/app.py, its pages in bridge/web/pages.py, its server in bridge/web/serving.py).

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
import logging
import os
import re
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Final, Literal
from urllib.parse import parse_qsl, quote, urlsplit

from bridge.clock import Clock
from bridge.errors import ConfigError
from bridge.model.headers import mask_email as mask_email  # moved there; kept importable here
from bridge.secret import REDACTED, Secret
from bridge.state import unsubscribes
from bridge.state.store import Store, Tx

# The store's side lives in bridge.state.unsubscribes; the endpoint uses these, and `bridge suppress` still
# finds them here.
from bridge.state.unsubscribes import Unsubscribe as Unsubscribe
from bridge.state.unsubscribes import normalise_email
from bridge.state.unsubscribes import unsubscribed as unsubscribed
from bridge.web.app import UnsubscribeApp
from bridge.web.pages import choose_language as choose_language  # the endpoint's pages; tests import it here
from bridge.web.serving import BackgroundServer, Limits

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


# --- the HTTP endpoint ---------------------------------------------------------------------------------

AfterUnsubscribe = Callable[[Tx, str, datetime], None]


class UnsubscribeServer:
    """The endpoint behind UNSUBSCRIBE_URL: bridge.web.app's pages, served by waitress (bridge.web.serving).

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
        limits: Limits | None = None,
    ) -> None:
        self.store = store
        self.signer = signer
        self.clock = clock
        self.shop_name = shop_name
        self.host = host
        self.port = port
        self.after_unsubscribe = after_unsubscribe
        self.limits = limits or Limits()
        self._server: BackgroundServer | None = None

    def start(self) -> UnsubscribeServer:
        if self._server is not None:
            return self
        try:
            server = BackgroundServer(
                UnsubscribeApp(self), self.host, self.port, self.limits, name="unsubscribe-endpoint"
            )
        except (OSError, ValueError) as error:  # ValueError: waitress cannot resolve the host
            reason = error.strerror if isinstance(error, OSError) and error.strerror else error
            where = f"{self.host}:{self.port}"
            raise ConfigError(f"UNSUBSCRIBE_LISTEN {where}: cannot listen ({reason})") from None
        self.port = server.port
        self._server = server
        server.start()
        log.info("unsubscribe endpoint listening on %s", self.url)
        if self.host not in LOOPBACK_HOSTS:  # the settings allowed it: UNSUBSCRIBE_EXPOSED=yes
            log.info("the unsubscribe endpoint may be reached from other machines, not only through a proxy")
        return self

    def stop(self) -> None:
        """Stop listening, close every connection, let the workers finish (bounded: a few seconds at most)."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()

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

    def address(self, token: str) -> str | None:
        """The address `token` was signed for; None when this bridge did not sign it."""
        try:
            return self.signer.verify(token)
        except InvalidToken:
            return None

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
