"""Turns an outbox row (kind, language, stored context) into a ready-to-send EmailMessage.

Templates are Jinja2 files, one triplet per kind and language (`pl/shipped.subject.txt`, `pl/shipped.txt`,
`pl/shipped.html`), found first in the owner's TEMPLATES_DIR and then in the shipped set, file by file.
Everything from the shop is data: autoescaped in HTML, stripped of control characters and RFC 2047
encoded-word openers before it reaches a header (Python 3.11.7 emits an injected header for a decoded
`=?UTF-8?Q?=0A?=`, CVE-2024-6923), and never compiled as a template. The environment is sandboxed because
owners edit templates, and strict because a blank where a tracking number should be is worse than a
failed render that the owner sees.

Marketing kinds render only with unsubscribe links: the message gets RFC 8058 one-click List-Unsubscribe
headers and the body must show the same link (the layout's footer does, from `unsubscribe_url`).
"""

from __future__ import annotations

import email
import functools
import importlib.resources
import re
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address, BaseHeader, UnstructuredHeader
from email.message import EmailMessage
from email.policy import Policy
from email.utils import format_datetime, make_msgid
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import css_inline
from babel.numbers import format_percent
from jinja2 import (
    ChoiceLoader,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from bridge.errors import BridgeError
from bridge.mail import formatting
from bridge.mail.addresses import address_header, ascii_address, ascii_domain, needs_utf8
from bridge.mail.owner_text import FILTERS as OWNER_TEXT_FILTERS
from bridge.mail.postal import postal_lines
from bridge.mail.reply_to import replying_to
from bridge.model.bridge_key import HEADER as BRIDGE_KEY
from bridge.model.headers import (
    BIDI_CONTROLS,
    HEADER_UNSAFE,
    LANGUAGE_TAG,
    clean_header_text,
    make_address,
    shorten,
)
from bridge.model.identity import ShopIdentity
from bridge.model.kinds import get_kind

PARTS: Final = ("subject.txt", "txt", "html")
# Names the renderer puts into every template context; a stored context must not use them.
RESERVED_KEYS: Final = frozenset({"shop", "lang", "locale", "timezone", "subject", "unsubscribe_url"})

# The same minus tab and line ends, which text from the shop (a checkout comment) may carry in a body.
_BODY_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
SUBJECT_LIMIT: Final = 200
_MESSAGE_ID = re.compile(r"<[^<>\s@]+@[^<>\s@]+>")
_HEADERS_WE_WRITE: Final = frozenset(
    {
        "from",
        "to",
        "reply-to",
        "subject",
        "date",
        "message-id",
        "auto-submitted",
        "x-auto-response-suppress",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "content-language",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "x-bridge-key",
    }
)


class RenderError(BridgeError):
    """A template could not be rendered for this message: a permanent failure of that one email.

    `file` and `line` point at the template (owner's or shipped) when Jinja knows them.
    """

    exit_code = 65  # EX_DATAERR

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        where = f"{file}:{line}: " if file and line else (f"{file}: " if file else "")
        super().__init__(f"{where}{message}")
        self.file = file
        self.line = line
        self.reason = message


# --- Header hygiene -------------------------------------------------------------------------------


def clean_body_value(value: object) -> object:
    """Jinja's `finalize`: shop text printed into a body loses control characters (tab and line ends
    stay) and bidi controls. Markup (a macro's output) was cleaned when it was built."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return _BODY_UNSAFE.sub(" ", BIDI_CONTROLS.sub("", value))
    return value


# --- Unsubscribe links (marketing kinds) ----------------------------------------------------------


class UnsubscribeLinks(Protocol):
    """One recipient's way out of marketing mail (made by bridge.web.unsubscribe; anything with these two)."""

    @property
    def url(self) -> str: ...  # https: the one-click endpoint (POST) and the page the footer links (GET)

    @property
    def mailto(self) -> str: ...  # `mailto:…?subject=…`, or "" for none


# A URI is never broken across lines, so it must fit on one (RFC 5322: 998 octets) after the header name.
UNSUBSCRIBE_URI_LIMIT: Final = 900
_URI_UNSAFE = re.compile(r"[\s<>\x00-\x1f\x7f]")  # would end the <URI> early, or the header
_LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})
ONE_CLICK: Final = "List-Unsubscribe=One-Click"  # RFC 8058 §3.1, the only value there is


def unsubscribe_uris(links: UnsubscribeLinks) -> tuple[str, str]:
    """`(url, mailto)` of `links`, each one header-safe token; RenderError when either cannot be sent.

    RFC 8058 wants an https URL (http is let through for loopback hosts only: a demo on one machine).
    Nothing is repaired: a URL with a space or a bracket would be cut short by every client reading it.
    Errors never quote the links: they hold the recipient's token.
    """
    url, mailto = links.url, links.mailto
    for label, uri in (("URL", url), ("mailto", mailto)):
        if not isinstance(uri, str):
            raise RenderError(f"the unsubscribe {label} is not text: {type(uri).__name__}")
        if not uri.isascii() or _URI_UNSAFE.search(uri):
            raise RenderError(
                f"the unsubscribe {label} has spaces, controls, brackets or non-ASCII letters; "
                "percent-encode them"
            )
        if len(uri) > UNSUBSCRIBE_URI_LIMIT:
            raise RenderError(
                f"the unsubscribe {label} is {len(uri)} characters, over {UNSUBSCRIBE_URI_LIMIT}"
            )
    try:
        parsed = urlsplit(url)
        scheme, host = parsed.scheme, parsed.hostname
    except ValueError:  # "https://[bad/": an IPv6 literal that never closes
        scheme, host = "", None
    secure = scheme == "https" or (scheme == "http" and host in _LOOPBACK_HOSTS)
    if not (host and secure):
        raise RenderError(
            "the unsubscribe URL is not an https URL with a host name: one-click unsubscribe "
            "(RFC 8058) needs https"
        )
    if mailto and not (mailto[:7].lower() == "mailto:" and "@" in mailto.split("?", 1)[0]):
        raise RenderError("the unsubscribe mailto is not a mailto: address")
    return url, mailto


class _UriListHeader(UnstructuredHeader, BaseHeader):
    """List-Unsubscribe as written: folded only between its `<URI>`s, each whole on one line.

    Python 3.11 folds an unstructured header longer than 78 characters by turning all of it into RFC 2047
    encoded words (`=?utf-8?q?=3Chttps=3A//…?=`); Python reads that back, but a mail client does not
    decode encoded words in List-Unsubscribe (RFC 2047 §5 allows them in text and phrases only), so Gmail
    would find no link. A URI longer than a line stays unbroken: RFC 5322 allows lines of 998 octets.
    """

    max_count = 1

    @classmethod
    def parse(cls, value: str, kwds: dict[str, Any]) -> None:
        kwds["parse_tree"] = cls.value_parser(value)
        kwds["decoded"] = value  # as given: "=?" in a URI is not an encoded word

    def fold(self, *, policy: Policy) -> str:
        limit = policy.max_line_length or 78
        items = re.split(r"(?<=>), (?=<)", str(self))
        lines = [f"{self.name}: {items[0]}"]
        for item in items[1:]:
            if len(lines[-1]) + 2 + len(item) <= limit:
                lines[-1] += ", " + item
            else:
                lines[-1] += ","
                lines.append(" " + item)  # unfolding (removing the CRLF) gives back ", "
        return policy.linesep.join(lines) + policy.linesep


class _AsciiSubject(UnstructuredHeader, BaseHeader):
    """An ASCII subject folded between its words, the first ones on the `Subject:` line.

    Python 3.11 folds a one-line subject of about 70 to 77 characters as `Subject:` CRLF and the whole text
    on the next line, which reads back (and shows in some clients) with a leading space. A word longer than
    a line stays whole: RFC 5322 allows lines of 998 octets.
    """

    max_count = 1

    @classmethod
    def parse(cls, value: str, kwds: dict[str, Any]) -> None:
        kwds["parse_tree"] = cls.value_parser(value)
        kwds["decoded"] = value

    def fold(self, *, policy: Policy) -> str:
        limit = policy.max_line_length or 78
        words = str(self).split(" ")
        lines = [f"{self.name}: {words[0]}"]
        for word in words[1:]:
            if len(lines[-1]) + 1 + len(word) <= limit or not lines[-1].strip(" "):
                lines[-1] += " " + word
            else:
                lines.append(" " + word)  # unfolding (removing the CRLF) gives back the space
        return policy.linesep.join(lines) + policy.linesep


def subject_header(subject: str) -> str | _AsciiSubject:
    """The Subject as it is set on the message: plain ASCII words are folded by `_AsciiSubject`; anything
    else (non-ASCII, or `=?` that a client would take for an encoded word) is left to Python's encoder."""
    plain = subject.isascii() and subject.isprintable() and "=?" not in subject and "  " not in subject
    if not plain or not subject.strip() or subject != subject.strip():
        return subject
    return _AsciiSubject("Subject", subject)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.update(value for name, value in attrs if name == "href" and value)


def _links_in(html: str) -> set[str]:
    parser = _Links()
    parser.feed(html)
    parser.close()
    return parser.hrefs


# --- Where templates live -------------------------------------------------------------------------


def shipped_templates_dir() -> Path:
    """The templates inside the wheel (`bridge/templates`), or `<repo>/templates` in an editable install."""
    packaged = importlib.resources.files("bridge") / "templates"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "templates"


def new_message_id(shop: ShopIdentity, idstring: str | None = None) -> str:
    """A Message-ID on the shop's domain. Call it once, when the email is enqueued, and store it."""
    tag = re.sub(r"[^A-Za-z0-9.-]", "-", idstring) if idstring else None
    return make_msgid(idstring=tag, domain=shop.domain)


# --- The result -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedEmail:
    message: EmailMessage
    subject: str
    text: str
    html: str
    language_used: str
    fell_back: bool  # True when the requested language had no templates for this kind


@dataclass(frozen=True)
class RenderedParts:
    subject: str
    text: str
    html: str  # CSS inlined: what is sent
    raw_html: str  # as the templates produced it, for lint


# --- Jinja filters --------------------------------------------------------------------------------


def _from_context(context: Context, name: str) -> str:
    value = context.resolve_or_missing(name)
    if not isinstance(value, str):
        # Macros imported without context cannot see the language: say how to fix it.
        raise formatting.FormattingError(f"no {name!r} here: import macros 'with context'")
    return value


def _locale_of(context: Context) -> str:
    return _from_context(context, "locale")


def _zone_of(context: Context) -> ZoneInfo:
    return ZoneInfo(_from_context(context, "timezone"))


@pass_context
def _money_filter(context: Context, value: Mapping[str, Any]) -> str:
    return formatting.format_money(value, _locale_of(context))


@pass_context
def _date_filter(context: Context, value: str) -> str:
    if value == "":
        return ""  # unknown (a zero date in the shop)
    return formatting.format_local_date(value, _zone_of(context), _locale_of(context))


@pass_context
def _datetime_filter(context: Context, value: str) -> str:
    if value == "":
        return ""  # unknown (a zero date in the shop)
    return formatting.format_local_datetime(value, _zone_of(context), _locale_of(context))


@pass_context
def _plural_filter(context: Context, count: object, **forms: str) -> str:
    return formatting.choose_plural(count, forms, _locale_of(context))


@pass_context
def _percent_filter(context: Context, value: object) -> str:
    """`"10"` → `10%`, `"7.5"` → `7,5%` (pl) / `7.5%` (en): as many decimals as the shop gave."""
    number = formatting.to_decimal(value) / 100
    return str(format_percent(number, locale=_locale_of(context), decimal_quantization=False))


def _url_filter(value: str) -> str:
    """Only http(s) links reach an href: a `javascript:` tracking URL from a carrier becomes nothing."""
    url = str(value).strip()
    return url if urlsplit(url).scheme in ("http", "https") and not HEADER_UNSAFE.search(url) else ""


# Longer than this, a value is not a reference or a code but hostile or broken data: it may wrap anywhere.
KEEP_LIMIT: Final = 34
_KEEP: Final = Markup('<span class="keep">{}</span>')


def _clean(value: object) -> str:
    """What `finalize` does to printed text, which Markup (these filters' output) would skip."""
    return str(clean_body_value(str(value)))


def _keep_filter(value: object) -> Markup:
    """HTML: a value that must not break across lines (an order reference, a code, a postal code)."""
    text = _clean(value)
    return _KEEP.format(text) if 0 < len(text) <= KEEP_LIMIT else Markup.escape(text)


def _keep_groups_filter(value: object) -> Markup:
    """HTML: each space-separated group kept whole (an IBAN in groups of four); lines break between."""
    return Markup(" ").join(_keep_filter(group) for group in _clean(value).split())


def _keep_in_filter(line: object, value: object) -> Markup:
    """HTML: `line` with its first `value` kept whole (the postal code in `00-916 Warszawa`)."""
    text, part = _clean(line), _clean(value)
    if not part or len(part) > KEEP_LIMIT or part not in text:
        return Markup.escape(text)
    before, _, after = text.partition(part)
    return Markup.escape(before) + _keep_filter(part) + Markup.escape(after)


_FILTERS: Final[dict[str, Callable[..., Any]]] = {
    "money": _money_filter,
    "date": _date_filter,
    "datetime": _datetime_filter,
    "plural": _plural_filter,
    "percent": _percent_filter,
    "url": _url_filter,
    "postal_lines": postal_lines,
    "keep": _keep_filter,
    "keep_groups": _keep_groups_filter,
    "keep_in": _keep_in_filter,
}


def build_environment(templates_dir: Path | None) -> ImmutableSandboxedEnvironment:
    """The one Jinja environment: owner's folder first, then the shipped templates; sandboxed, strict."""
    loaders = [FileSystemLoader(templates_dir)] if templates_dir is not None else []
    loaders.append(FileSystemLoader(shipped_templates_dir()))
    env = ImmutableSandboxedEnvironment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        undefined=StrictUndefined,
        finalize=clean_body_value,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=True,
    )
    env.filters.update(_FILTERS)
    env.filters.update(OWNER_TEXT_FILTERS)  # a campaign's own text (bridge.mail.owner_text)
    return env


def locate_error(error: BaseException) -> tuple[str | None, int | None]:
    """The template file and line an error happened at, from Jinja's rewritten traceback."""
    if isinstance(error, TemplateSyntaxError):
        return error.filename, error.lineno
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if frame.filename.endswith((".html", ".txt")):
            return frame.filename, frame.lineno
    return None, None


def tidy_text(text: str) -> str:
    """No trailing spaces, at most one blank line in a row: template whitespace is not the reader's."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"


_INLINER: Final = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


# html5ever (inside css-inline) re-serialises attribute values with `<` and `>` as they are (HTML's rules
# before 2025): inert in a browser, but an alt text reading `<script>` is what naive filters on the way
# (webmail sanitisers, scanners) mis-read. Its attribute values are always double-quoted with `"` and `&`
# escaped, and its text never holds a raw `<` or `>`, so a `="…"` span holding one is an attribute value.
_VALUE_WITH_BRACKETS = re.compile(r'="([^"]*[<>][^"]*)"')


def inline_css(html: str) -> str:
    """Move <style> rules into style attributes, keeping @media rules (phones, dark mode) in a <style>."""
    inlined = str(_INLINER.inline(html))
    return _VALUE_WITH_BRACKETS.sub(
        lambda m: '="' + m.group(1).replace("<", "&lt;").replace(">", "&gt;") + '"', inlined
    )


# --- Rendering ------------------------------------------------------------------------------------


class Renderer:
    """Renders kinds from one template search path. Cheap to keep; templates reload when files change."""

    def __init__(self, templates_dir: Path | None = None) -> None:
        self.templates_dir = templates_dir
        self.env = build_environment(templates_dir)

    def template_path(self, name: str) -> str | None:
        """The file that `name` resolves to (owner's first), or None when no folder has it."""
        loader = self.env.loader
        assert loader is not None
        try:
            _source, filename, _uptodate = loader.get_source(self.env, name)
        except TemplateNotFound:
            return None
        return filename

    def has_kind(self, kind: str, language: str) -> bool:
        return all(self.template_path(f"{language}/{kind}.{part}") for part in PARTS)

    def choose_language(self, kind: str, language: str, default_language: str) -> tuple[str, bool]:
        """Order's language, else its primary subtag (`pl-PL` → `pl`), else the owner's default, else `en`."""
        requested = language.strip().lower().replace("_", "-")
        primary = requested.split("-")[0]
        for candidate in dict.fromkeys((requested, primary)):
            if candidate and LANGUAGE_TAG.fullmatch(candidate) and self.has_kind(kind, candidate):
                return candidate, False
        for candidate in dict.fromkeys((default_language.lower(), "en")):
            if self.has_kind(kind, candidate):
                return candidate, True
        raise RenderError(f"no templates for {kind!r} in {language!r}, {default_language!r} or 'en'")

    def render_parts(
        self,
        kind: str,
        language: str,
        context: Mapping[str, Any],
        *,
        shop: ShopIdentity,
        locale: str,
        unsubscribe_url: str = "",
    ) -> RenderedParts:
        """Subject, text and inlined HTML of `kind` in `language` (which must have all three templates).

        `unsubscribe_url` is what the layout's footer links to; "" (transactional mail) shows no such line.
        """
        clash = RESERVED_KEYS & set(context)
        if clash:
            raise RenderError(f"the context of {kind!r} must not set {', '.join(sorted(clash))}")
        values: dict[str, Any] = {
            **context,
            "shop": shop.to_template(),
            "lang": language,
            "locale": locale,
            "timezone": shop.timezone,
            "unsubscribe_url": unsubscribe_url,
        }
        subject = shorten(
            clean_header_text(self._render(f"{language}/{kind}.subject.txt", values)), SUBJECT_LIMIT
        )
        if not subject:
            raise RenderError(
                "the subject is empty", file=self.template_path(f"{language}/{kind}.subject.txt")
            )
        values["subject"] = subject
        text = tidy_text(self._render(f"{language}/{kind}.txt", values))
        raw_html = self._render(f"{language}/{kind}.html", values)
        html = inline_css(raw_html).rstrip() + "\n"  # set_content would add the newline anyway
        return RenderedParts(subject, text, html, raw_html)

    def _render(self, name: str, values: Mapping[str, Any]) -> str:
        try:
            return self.env.get_template(name).render(values)
        except (TemplateError, formatting.FormattingError, TypeError, ValueError, KeyError) as error:
            file, line = locate_error(error)
            raise RenderError(
                f"{type(error).__name__}: {error}", file=file or self.template_path(name), line=line
            ) from error

    def render(
        self,
        kind: str,
        language: str,
        context: Mapping[str, Any],
        *,
        shop: ShopIdentity,
        message_id: str,
        recipient: Address,
        now: datetime,
        unsubscribe: UnsubscribeLinks | None = None,
        bridge_key: str | None = None,
    ) -> RenderedEmail:
        """The complete message for one outbox row. RenderError (a permanent failure) on any problem.

        A marketing kind needs `unsubscribe` (the recipient's links): they become the List-Unsubscribe
        headers and the footer's link. A transactional kind ignores it and gets neither. `bridge_key` is
        the X-Bridge-Key header's value (bridge.model.bridge_key), which delivery gives every outbox row.
        """
        spec = get_kind(kind)
        links: tuple[str, str] | None = None
        if spec.category == "marketing":
            if unsubscribe is None:
                raise RenderError(
                    f"marketing email needs an unsubscribe link: {kind!r} was rendered without one "
                    "(is UNSUBSCRIBE_URL set?)"
                )
            links = unsubscribe_uris(unsubscribe)
        missing = spec.required_keys - set(context)
        if missing:
            raise RenderError(f"the context of {kind!r} lacks {', '.join(sorted(missing))}")
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("render needs a timezone-aware `now`")
        if not _MESSAGE_ID.fullmatch(message_id):
            raise RenderError(f"not a Message-ID: {message_id!r}")
        used, fell_back = self.choose_language(kind, language, shop.default_language)
        parts = self.render_parts(
            kind,
            used,
            context,
            shop=shop,
            locale=_formatting_locale(language, used, _country_of(context)),
            unsubscribe_url=links[0] if links else "",
        )
        if links is not None:
            self.check_unsubscribe_shown(kind, used, parts, links[0])
        message = assemble_message(
            parts,
            shop=replying_to(spec, context, shop),
            recipient=recipient,
            message_id=message_id,
            now=now,
            language=used,
            unsubscribe=links,
            bridge_key=bridge_key,
        )
        return RenderedEmail(message, parts.subject, parts.text, parts.html, used, fell_back)

    def check_unsubscribe_shown(self, kind: str, language: str, parts: RenderedParts, url: str) -> None:
        """The law and Gmail want the way out visible in the body, not only in a header: an owner's layout
        that lost the footer line fails here instead of sending marketing mail without it (lint can ask
        the same of parts rendered with a sample `unsubscribe_url`)."""
        for part, shown in (("txt", url in parts.text), ("html", url in _links_in(parts.html))):
            if not shown:
                raise RenderError(
                    f"the {part} part of {kind!r} shows no unsubscribe link: marketing mail must (the "
                    "shipped layout's footer shows `unsubscribe_url` when it is set)",
                    file=self.template_path(f"{language}/{kind}.{part}"),
                )


def _formatting_locale(requested: str, used: str, country: str = "") -> str:
    """The customer's own locale when the template speaks its language: the order's language in the
    delivery country (`en` + GB → `en_GB`), else the language as the order gives it (`en-US`)."""
    code = requested.strip().replace("-", "_")
    if code.split("_")[0].lower() != used:
        code = used
    try:
        return str(formatting.locale_for(code, country))
    except formatting.FormattingError:
        return str(formatting.parse_locale(used))


def _country_of(context: Mapping[str, Any]) -> str:
    """The customer's country (ISO alpha-2): the order's delivery country, when the context has one.
    Contexts stored before it was recorded have none: the language alone decides then."""
    order = context.get("order")
    country = order.get("country", "") if isinstance(order, Mapping) else ""
    return country if isinstance(country, str) else ""


def assemble_message(
    parts: RenderedParts,
    *,
    shop: ShopIdentity,
    recipient: Address,
    message_id: str,
    now: datetime,
    language: str,
    unsubscribe: tuple[str, str] | None = None,
    bridge_key: str | None = None,
) -> EmailMessage:
    """multipart/alternative (text, then HTML) with the headers a transactional email needs, and with
    `unsubscribe` (url, mailto: see unsubscribe_uris) the RFC 8058 one-click headers of marketing mail."""
    message = EmailMessage(policy=policy.SMTP)
    set_address(message, "From", make_address(shop.from_name or shop.name, shop.from_email))
    set_address(message, "To", make_address(recipient.display_name, recipient.addr_spec))
    set_address(
        message, "Reply-To", make_address(shop.reply_to_name or shop.name, shop.reply_to_email or shop.email)
    )
    message["Subject"] = subject_header(clean_header_text(parts.subject))
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to transactional mail
    message["X-Auto-Response-Suppress"] = "OOF, AutoReply"  # the same for Exchange/Outlook
    list_unsubscribe = None
    if unsubscribe is not None:
        url, mailto = unsubscribe
        list_unsubscribe = f"<{url}>" + (f", <{mailto}>" if mailto else "")
        message["List-Unsubscribe"] = _UriListHeader("List-Unsubscribe", list_unsubscribe)
        message["List-Unsubscribe-Post"] = ONE_CLICK
    if bridge_key is not None:  # one line, never encoded words: the Sent folder is searched for it
        message[BRIDGE_KEY] = _UriListHeader(BRIDGE_KEY, bridge_key)
    message.set_content(parts.text)
    message.add_alternative(parts.html, subtype="html")
    message["Content-Language"] = language  # after set_content, which clears every Content-* header
    _verify_headers(message, parts.subject, list_unsubscribe)
    return message


def set_address(message: EmailMessage, header: str, address: Address) -> None:
    """Set an address header that reads back as exactly this one address, however it travels.

    `AddressLine` writes it (Python 3.11.7's folder drops the quotes of a display name with specials:
    `To: Anna Bcc: victim@evil.example, Jan … <zofia@…>` read as two recipients). Belt and braces, it is
    read back in each form it can be sent in: UTF-8 (SMTPUTF8) and, unless the local part is non-ASCII,
    ASCII (encoded words, an IDNA domain).
    """
    message[header] = address_header(header, address)
    forms = [True]
    try:
        ascii_address(address.addr_spec)
        forms.append(False)
    except ValueError:  # only SMTPUTF8 can carry it; delivery says so if the server cannot
        pass
    if not all(_reads_back(message, header, address, utf8=utf8) for utf8 in forms):
        del message[header]
        raise RenderError(f"the {header} header of {address.addr_spec!r} cannot be written safely")


def _reads_back(message: EmailMessage, header: str, address: Address, *, utf8: bool) -> bool:
    folded = (policy.SMTPUTF8 if utf8 else policy.SMTP).fold_binary(header, message[header])
    reader = policy.SMTPUTF8 if utf8 else policy.default
    parsed = email.message_from_string(folded.decode("utf-8") + "\r\n", policy=reader)[header]
    domain = address.domain if utf8 else ascii_domain(address.domain)
    found = [(re.sub(r"\s+", "", a.display_name), a.username, a.domain) for a in parsed.addresses]
    return found == [(re.sub(r"\s+", "", address.display_name), address.username, domain)]


def _verify_headers(message: EmailMessage, subject: str, list_unsubscribe: str | None = None) -> None:
    """Belt and braces for unpatched Pythons: the serialised header block holds exactly our headers, and
    List-Unsubscribe, unfolded as a client unfolds it, is exactly what we wrote."""
    if str(message["Subject"]) != subject:
        raise RenderError("the subject changed when it was encoded; refusing to send it")
    raw = message.as_bytes(policy=policy.SMTPUTF8 if needs_utf8(message) else None)
    head = raw.split(b"\r\n\r\n", 1)[0]
    if b"\r" in head.replace(b"\r\n", b"") or b"\n" in head.replace(b"\r\n", b""):
        raise RenderError("a bare CR or LF in the header block; refusing to send it")
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            continue
        name = line.split(b":", 1)[0].decode("ascii", "replace").lower()
        if name not in _HEADERS_WE_WRITE:
            raise RenderError(f"unexpected header {name!r} in the message; refusing to send it")
    if list_unsubscribe is not None:
        unfolded = head.replace(b"\r\n ", b" ").replace(b"\r\n\t", b"\t").split(b"\r\n")
        written = [line for line in unfolded if line.lower().startswith(b"list-unsubscribe:")]
        if written != [b"List-Unsubscribe: " + list_unsubscribe.encode("ascii")]:
            raise RenderError("the List-Unsubscribe header changed when it was folded; refusing to send it")


@functools.lru_cache(maxsize=8)
def get_renderer(templates_dir: Path | None = None) -> Renderer:
    """One Renderer per templates folder, so compiled templates are reused between messages."""
    return Renderer(templates_dir)


def render_email(
    kind: str,
    language: str,
    context: Mapping[str, Any],
    *,
    shop: ShopIdentity,
    message_id: str,
    recipient: Address,
    now: datetime,
    templates_dir: Path | None = None,
    unsubscribe: UnsubscribeLinks | None = None,
    bridge_key: str | None = None,
) -> RenderedEmail:
    """Render `kind` for the order's `language` from a stored context. See Renderer.render."""
    return get_renderer(templates_dir).render(
        kind,
        language,
        context,
        shop=shop,
        message_id=message_id,
        recipient=recipient,
        now=now,
        unsubscribe=unsubscribe,
        bridge_key=bridge_key,
    )
