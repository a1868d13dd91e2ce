"""`bridge templates lint` and previews: every kind × language rendered with sample data.

An owner who edits a template in TEMPLATES_DIR learns here, with the file and line, that a variable is
misspelt, a Polish plural form is missing, a translation file is absent or the HTML layout is broken, instead
of learning it from a failed send.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Final

from jinja2 import TemplateSyntaxError

from bridge.mail.render import PARTS, RenderedEmail, Renderer, RenderError, shipped_templates_dir
from bridge.model.headers import make_address
from bridge.model.identity import DEFAULT_ACCENT, LEGAL_FIELDS, ShopIdentity
from bridge.model.kinds import KINDS, SAMPLE_UNSUBSCRIBE, get_kind

SHIPPED_LANGUAGES: Final = ("pl", "en")
HELPER_TEMPLATES: Final = frozenset({"base", "parts"})  # per-language files that are not kinds
GMAIL_CLIP_BYTES: Final = 100_000  # Gmail hides everything after ~102 KB behind "[Message clipped]"
_VOID: Final = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    }
)
_LANGUAGE_DIR = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{2,8})*")
_KIND_FILE = re.compile(r"(?P<kind>[A-Za-z0-9_]+)\.(?:subject\.txt|txt|html)")
_TEMPLATE_CODE = re.compile(r"\{\{|\{%|\{#")

# The shop every sample is rendered for: Polish letters in every field that reaches a header or the layout.
SAMPLE_SHOP: Final = ShopIdentity(
    name="Żółta Łódka",
    email="kontakt@zolta-lodka.pl",
    from_email="sklep.zolta.lodka@gmail.com",
    from_name="Sklep Żółta Łódka",
    address_lines=("ul. Długa 5", "31-147 Kraków"),
    phone="+48 12 345 67 89",
    logo_url="https://zolta-lodka.pl/img/logo.png",
    accent_color="#0b7a75",
    base_url="https://zolta-lodka.pl",
    timezone="Europe/Warsaw",
    default_language="pl",
    footer_text="Sklep stacjonarny: ul. Długa 5, pon.–pt. 10–18.",
    legal_company="Żółta Łódka sp. z o.o.",
    legal_address="ul. Długa 5, 31-147 Kraków",
    legal_tax_id="6762461659",
    legal_registration="KRS 0000123456, REGON 123456789",
    legal_terms_url="https://zolta-lodka.pl/content/3-regulamin",
    legal_returns_url="https://zolta-lodka.pl/content/7-zwroty",
    legal_privacy_url="https://zolta-lodka.pl/content/8-polityka-prywatnosci",
)
# The same shop with no branding or legal settings: no logo, the default accent, no legal lines.
PLAIN_SHOP: Final = dataclasses.replace(
    SAMPLE_SHOP,
    logo_url="",
    accent_color=DEFAULT_ACCENT,
    footer_text="",
    **dict.fromkeys((f"legal_{key}" for key in LEGAL_FIELDS), ""),  # type: ignore[arg-type]
)


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.line else f"{self.file}: {self.message}"


def template_languages(templates_dir: Path | None) -> list[str]:
    """pl and en, plus every language folder the owner (or a later release) added."""
    found = dict.fromkeys(SHIPPED_LANGUAGES)
    for root in (templates_dir, shipped_templates_dir()):
        if root is not None and root.is_dir():
            for child in sorted(root.iterdir()):
                if child.is_dir() and _LANGUAGE_DIR.fullmatch(child.name):
                    found[child.name] = None
    return list(found)


def lint_templates(
    templates_dir: Path | None = None,
    *,
    languages: Iterable[str] | None = None,
    shop: ShopIdentity = SAMPLE_SHOP,
) -> list[Problem]:
    """Every problem in the effective template set (owner's files over shipped ones); [] means all good.

    Checks: Jinja syntax of every file; owner files named after no kind; every kind has its three files in
    every language; every sample of every kind renders (strict variables, plural forms, money, dates); the
    output holds no template code; the HTML is balanced, script-free and below Gmail's clipping size.
    """
    renderer = Renderer(templates_dir)
    problems: set[Problem] = set()
    problems.update(_syntax_problems(renderer, templates_dir))
    if templates_dir is not None:
        problems.update(_unknown_files(templates_dir))
    for language in languages if languages is not None else template_languages(templates_dir):
        for kind in KINDS.values():
            paths = {part: renderer.template_path(f"{language}/{kind.name}.{part}") for part in PARTS}
            missing = [f"{kind.name}.{part}" for part, path in paths.items() if path is None]
            if missing:
                expected = (templates_dir or shipped_templates_dir()) / language / missing[0]
                listed = ", ".join(missing)
                problems.add(Problem(str(expected), None, f"missing translation: {language} has no {listed}"))
                continue
            marketing = kind.category == "marketing"
            url = SAMPLE_UNSUBSCRIBE.url if marketing else ""
            for sample in kind.samples:
                try:
                    parts = renderer.render_parts(
                        kind.name, language, sample, shop=shop, locale=language, unsubscribe_url=url
                    )
                    if marketing:
                        renderer.check_unsubscribe_shown(kind.name, language, parts, url)
                except RenderError as error:
                    if isinstance(error.__cause__, TemplateSyntaxError):
                        continue  # already reported by _syntax_problems, with its line
                    file = error.file or str(paths["html"])
                    problems.add(Problem(file, error.line, f"{kind.name} ({language}): {error.reason}"))
                    continue
                where = f"{kind.name} ({language})"  # no sample number: one report per broken line
                for part, output in (
                    ("subject.txt", parts.subject),
                    ("txt", parts.text),
                    ("html", parts.raw_html),
                ):
                    if _TEMPLATE_CODE.search(output):
                        problems.add(
                            Problem(str(paths[part]), None, f"{where}: template code left in the output")
                        )
                html_file = str(paths["html"])
                problems.update(_html_problems(parts.raw_html, html_file, renderer, language, where))
                if len(parts.html.encode()) > GMAIL_CLIP_BYTES:
                    problems.add(
                        Problem(html_file, None, f"{where}: HTML is over 100 KB; Gmail will clip it")
                    )
    return sorted(problems, key=lambda p: (p.file, p.line or 0, p.message))


def _syntax_problems(renderer: Renderer, templates_dir: Path | None) -> list[Problem]:
    names: set[str] = set()
    for root in (templates_dir, shipped_templates_dir()):
        if root is not None and root.is_dir():
            names.update(
                path.relative_to(root).as_posix()
                for path in root.rglob("*")
                if path.is_file() and path.suffix in (".html", ".txt")
            )
    problems = []
    loader = renderer.env.loader
    assert loader is not None
    for name in sorted(names):
        source, filename, _uptodate = loader.get_source(renderer.env, name)
        try:
            renderer.env.parse(source, name, filename)
        except TemplateSyntaxError as error:
            problems.append(Problem(filename or name, error.lineno, f"syntax error: {error.message}"))
    return problems


def _unknown_files(templates_dir: Path) -> list[Problem]:
    """A typo in a file name silently does nothing; say so."""
    problems = []
    if not templates_dir.is_dir():
        return [Problem(str(templates_dir), None, "the templates folder does not exist")]
    for path in sorted(templates_dir.glob("*/*")):
        match = _KIND_FILE.fullmatch(path.name)
        if not path.is_file() or match is None or path.name.startswith("_"):
            continue
        kind = match["kind"]
        if kind not in KINDS and kind not in HELPER_TEMPLATES:
            problems.append(
                Problem(
                    str(path), None, f"no email kind is called {kind!r} (known: {', '.join(sorted(KINDS))})"
                )
            )
    return problems


class _TagChecker(HTMLParser):
    """Finds what mail clients choke on: unbalanced tags, scripts, remote CSS, event handlers."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, int, str]] = []
        self.issues: list[tuple[int, str, str]] = []  # (rendered line, message, start tag text)
        self.in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        line, text = self.getpos()[0], self.get_starttag_text() or f"<{tag}>"
        if tag == "script":
            self.issues.append((line, "<script> is not allowed in email", text))
        if tag == "link" and any(k == "rel" and (v or "").lower() == "stylesheet" for k, v in attrs):
            self.issues.append((line, "remote stylesheets are not allowed in email", text))
        if any(name.startswith("on") for name, _ in attrs):
            self.issues.append((line, "event handler attributes are not allowed in email", text))
        self.in_style = tag == "style"
        if tag not in _VOID:
            self.stack.append((tag, line, text))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        line = self.getpos()[0]
        self.in_style = False
        if tag in _VOID:
            return
        if not any(open_tag == tag for open_tag, _, _ in self.stack):
            self.issues.append((line, f"</{tag}> closes nothing", f"</{tag}>"))
            return
        while self.stack:
            open_tag, open_line, text = self.stack.pop()
            if open_tag == tag:
                return
            self.issues.append((open_line, f"<{open_tag}> is never closed", text))

    def handle_data(self, data: str) -> None:
        if self.in_style and "@import" in data:
            self.issues.append((self.getpos()[0], "@import loads remote CSS", "@import"))

    def close(self) -> None:
        super().close()
        for open_tag, open_line, text in self.stack:
            self.issues.append((open_line, f"<{open_tag}> is never closed", text))


def _html_problems(html: str, html_file: str, renderer: Renderer, language: str, where: str) -> list[Problem]:
    checker = _TagChecker()
    checker.feed(html)
    checker.close()
    problems = []
    if "preheader" not in html:
        problems.append(Problem(html_file, None, f"{where}: the layout's preheader is missing"))
    for rendered_line, message, snippet in checker.issues:
        file, line = _find_source(snippet, html_file, renderer, language) or (html_file, None)
        problems.append(
            Problem(file, line, f"{where}: {message} (rendered line {rendered_line}: {snippet[:80]})")
        )
    return problems


def _find_source(snippet: str, html_file: str, renderer: Renderer, language: str) -> tuple[str, int] | None:
    """The template line that holds `snippet` verbatim: the kind's own file first, then any HTML file it
    may include, when exactly one line matches."""
    names = {"layout.html"} | {f"{language}/{p.name}" for p in _language_files(renderer, language)}
    others = {path for name in names if (path := renderer.template_path(name)) is not None} - {html_file}
    for candidates in ([html_file], sorted(others)):
        hits = [
            (path, number)
            for path in candidates
            for number, text in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1)
            if snippet in text
        ]
        if len(hits) == 1:
            return hits[0]
        if hits:
            return None
    return None


def _language_files(renderer: Renderer, language: str) -> list[Path]:
    roots = [renderer.templates_dir, shipped_templates_dir()]
    return [p for root in roots if root is not None for p in (root / language).glob("*.html")]


def preview_email(
    kind: str,
    language: str,
    *,
    now: datetime,
    templates_dir: Path | None = None,
    sample: int = 0,
    shop: ShopIdentity = SAMPLE_SHOP,
) -> RenderedEmail:
    """The sample of `kind` as the customer would get it: for `bridge templates preview` and eyeballing."""
    context = get_kind(kind).sample(sample)
    recipient = make_address("Zofia Żółkiewska", "zofia@example.com")
    return Renderer(templates_dir).render(
        kind,
        language,
        context,
        shop=shop,
        message_id=f"<preview.{kind}.{language}@{shop.domain}>",
        recipient=recipient,
        now=now,
        unsubscribe=SAMPLE_UNSUBSCRIBE,
    )
