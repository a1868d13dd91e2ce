"""Text the owner writes (a campaign's subject and body): Markdown with a few variables, rendered safely.

The owner writes Markdown and a small set of variables (`{{ firstname }}`, `{{ code }}`, … VARIABLES);
the customer's values are data. So the order of the steps matters:

1. the Jinja constructs (`{{ … }}`, `{% … %}`, `{# … #}`) are set aside, each replaced by a plain token;
2. the Markdown becomes HTML (markdown-it-py, CommonMark, raw HTML disabled: an owner's `<script>` is shown
   as text, and a link may not be `javascript:`), and the constructs are put back;
3. that HTML is a template in a sandboxed Jinja environment with autoescape and StrictUndefined: a
   customer's `<b>` or `**` is printed as those characters, never read as markup or as Markdown.

The text part is the Markdown source with the variables filled in (Markdown reads as plain text), and the
subject is plain text. A variable may not start a link's address, except `{{ shop_url }}`, nor come before
the address's scheme (`java{{ x }}`): a customer named `javascript:…` must not become a link. The template
language is cut down to what a text needs (ALLOWED_FILTERS, `{% if %}`, `or`/`and`/`not`, `~`): no `| safe`
or `{% autoescape false %}` that would print a customer's `<b>` as markup, no loop or call that could make
one email take minutes. The code is kept whole on a line (`<span class="keep">`) where it is text, and
plain inside a link's address. `check_text` finds what would fail before anything is queued: a syntax
error (with its line), an unknown variable, a construct the text may not use, a variable the campaign
cannot fill; rendering refuses the same (a stored row is never trusted more than the file).

Templates call the filters `owner_subject`, `owner_text` and `owner_html` (registered in
bridge.mail.render) on the context's `campaign`; the values come from the rest of the context (`customer`,
`code`, `shop`, the locale and time zone).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

from babel.numbers import format_percent
from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, nodes, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markdown_it import MarkdownIt
from markupsafe import Markup

from bridge.mail import formatting
from bridge.model.headers import BIDI_CONTROLS

# The variables an owner may use, and what each holds (the guides list the same).
VARIABLES: Final[dict[str, str]] = {
    "firstname": "the customer's first name",
    "lastname": "the customer's last name",
    "shop_name": "the shop's name",
    "shop_url": "the shop's address (for links)",
    "code": "the discount code",
    "discount": "what the code takes off: 10% or 20,00 zł",
    "valid_until": "when the code stops working: date and time",
    "minimum_amount": "the order value the code needs",
}
CODE_VARIABLES: Final = frozenset({"code", "discount", "valid_until", "minimum_amount"})
LINK_VARIABLE: Final = "shop_url"  # the one variable a link's address may start with
# What `{{ … }}` may do to a value: change its case, trim it, or stand in for an empty one.
ALLOWED_FILTERS: Final = frozenset({"upper", "lower", "title", "capitalize", "trim", "default", "d"})

_CONSTRUCT: Final = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_BODY_UNSAFE: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_ATTRIBUTE: Final = re.compile(r'([a-z]+)="([^"]*)"')  # markdown-it writes `"` in a value as &quot;
_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_KEEP_CODE: Final = '<span class="keep">{}</span>'
# The template constructs a text may use: values, `{% if %}` on them, `or`/`and`/`not`, `~` and a comparison.
_NODES: Final = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Name,
    nodes.Const,
    nodes.If,
    nodes.Not,
    nodes.And,
    nodes.Or,
    nodes.CondExpr,
    nodes.Concat,
    nodes.Compare,
    nodes.Operand,
    nodes.Filter,
)
_NAMED: Final = {
    "For": "{% for %}",
    "Assign": "{% set %}",
    "AssignBlock": "{% set %}",
    "ScopedEvalContextModifier": "{% autoescape %}",
    "EvalContextModifier": "{% autoescape %}",
    "Macro": "{% macro %}",
    "CallBlock": "{% call %}",
    "FilterBlock": "{% filter %}",
    "Include": "{% include %}",
    "Import": "{% import %}",
    "FromImport": "{% from %}",
    "Extends": "{% extends %}",
    "Block": "{% block %}",
    "With": "{% with %}",
    "Call": "a call ( … )",
    "Getattr": "an attribute ( . )",
    "Getitem": "an index ( [ ] )",
}
_SAMPLE: Final[dict[str, str]] = {
    "firstname": "Zofia",
    "lastname": "Żółkiewska",
    "shop_name": "Sklep",
    "shop_url": "https://sklep.example.pl/",
    "code": "BF-7KQ2M9XA",
    "discount": "10%",
    "valid_until": "4 grudnia 2026 10:05",
    "minimum_amount": "100,00 zł",
}


class OwnerTextError(ValueError):
    """The owner's text cannot be rendered: one line naming where and what."""


def _clean(value: object) -> object:
    """Printed values lose control and bidi characters (line ends and tabs stay), as in every template."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return _BODY_UNSAFE.sub(" ", BIDI_CONTROLS.sub("", value))
    return value


def _environment(*, html: bool) -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        autoescape=html, undefined=StrictUndefined, finalize=_clean, trim_blocks=True, lstrip_blocks=True
    )


_HTML_ENV: Final = _environment(html=True)
_TEXT_ENV: Final = _environment(html=False)
_MARKDOWN: Final = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


# --- Markdown, with the template's constructs kept whole ----------------------------------------------------


def markdown_template(body: str) -> str:
    """The body's Markdown as HTML, its Jinja constructs as written (a template for `_HTML_ENV`); a
    `{{ code }}` in the text kept whole on a line. OwnerTextError for a link that a value could turn into
    another scheme."""
    nonce = hashlib.sha256(body.encode()).hexdigest()[:10]
    constructs: list[str] = []

    def token(match: re.Match[str]) -> str:
        constructs.append(match.group(0))
        return f"q{nonce}x{len(constructs) - 1}q"

    html = _MARKDOWN.render(_CONSTRUCT.sub(token, body))
    marker = re.compile(r"q" + nonce + r"x(\d+)q")
    in_attributes: set[int] = set()
    for attribute in _ATTRIBUTE.finditer(html):
        name, value = attribute.groups()
        found = list(marker.finditer(value))
        in_attributes.update(int(m.group(1)) for m in found)
        if found and name in ("href", "src"):
            _check_address(value, found[0], constructs[int(found[0].group(1))])

    def restore(match: re.Match[str]) -> str:
        index = int(match.group(1))
        construct = constructs[index]
        if index not in in_attributes and _bare(construct) == "{{code}}":
            return _KEEP_CODE.format(construct)
        return construct

    return marker.sub(restore, html)


def _bare(construct: str) -> str:
    return re.sub(r"[\s-]", "", construct)


def _check_address(address: str, first: re.Match[str], construct: str) -> None:
    """A value may not decide a link's scheme: the address starts with `{{ shop_url }}`, or with a scheme
    of its own (checked by markdown-it) before any variable."""
    if first.start() == 0 and _bare(construct) == "{{" + LINK_VARIABLE + "}}":
        return
    if first.start() == 0:
        raise OwnerTextError(
            f"a link's address starts with {construct}: only {{{{ {LINK_VARIABLE} }}}} may start one;"
            " write the address itself"
        )
    if not _SCHEME.match(address[: first.start()]):
        raise OwnerTextError(
            f"a link's address has {construct} before its https://: write the whole address first"
            f" (https://…, or {{{{ {LINK_VARIABLE} }}}}), then the variables"
        )


def clean_source(source: str) -> str:
    """The owner's own text loses control and bidi characters too: it is printed as it is."""
    return str(_clean(source))


@functools.lru_cache(maxsize=64)
def _html_template(body: str) -> Template:
    _refuse_constructs(clean_source(body))
    return _HTML_ENV.from_string(markdown_template(clean_source(body)))


@functools.lru_cache(maxsize=128)
def _text_template(source: str) -> Template:
    _refuse_constructs(clean_source(source))
    return _TEXT_ENV.from_string(clean_source(source))


def _refuse_constructs(source: str) -> None:
    """At render time too: a row's stored text is rendered only if its file could have been queued."""
    problems = construct_problems("the text", _TEXT_ENV.parse(source))
    if problems:
        raise OwnerTextError(problems[0])


def construct_problems(where: str, parsed: nodes.Node) -> list[str]:
    """What in a parsed text is not a variable, or a construct a text may not use (one line each; what is
    inside a refused construct is not looked at)."""
    problems: list[str] = []
    for node in parsed.iter_child_nodes():
        problem = _node_problem(where, node)
        if problem is not None:
            problems.append(problem)
        else:
            problems += construct_problems(where, node)
    return list(dict.fromkeys(problems))


def _node_problem(where: str, node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Scope):  # what `{% autoescape %}` wraps itself in: its content decides
        return None
    if not isinstance(node, _NODES):
        what = _NAMED.get(
            type(node).__name__, "arithmetic" if isinstance(node, nodes.BinExpr) else "this construct"
        )
        return (
            f"{where}, line {node.lineno}: {what} cannot be used in a campaign's text: write"
            " {{ variable }} and {% if variable %}…{% else %}…{% endif %}"
        )
    if isinstance(node, nodes.Filter) and node.name not in ALLOWED_FILTERS:
        return (
            f"{where}, line {node.lineno}: the filter | {node.name} cannot be used in a campaign's text:"
            f" use one of {', '.join(sorted(ALLOWED_FILTERS))}"
        )
    if isinstance(node, nodes.Name) and node.name not in VARIABLES:
        known = ", ".join(VARIABLES)
        return f"{where} uses {{{{ {node.name} }}}}, which is not a variable: use one of {known}"
    return None


def render_html(body: str, values: Mapping[str, object]) -> Markup:
    """The body as HTML, the values escaped."""
    # Autoescaped: the owner's Markdown is already HTML, every value was escaped as it went in.
    return Markup(_html_template(body).render(values).strip())  # noqa: S704


def render_text(source: str, values: Mapping[str, object]) -> str:
    """A subject or the body's text part: the source with the values filled in, as they are."""
    return _text_template(source).render(values).strip()


# --- Checking before anything is queued ---------------------------------------------------------------------


def check_text(where: str, source: str, *, markdown: bool, unavailable: Mapping[str, str]) -> list[str]:
    """What stops `source` from rendering, one line each (empty: it renders). `where` names it for the
    owner ("[pl] body"); `unavailable` maps a variable to why this campaign cannot fill it."""
    try:
        parsed = _TEXT_ENV.parse(source)
    except TemplateSyntaxError as error:
        return [f"{where}, line {error.lineno}: {error.message}; check the {{{{ }}}} and {{% %}} marks"]
    problems = construct_problems(where, parsed)
    names = sorted({node.name for node in parsed.find_all(nodes.Name)})
    problems += [
        f"{where} uses {{{{ {name} }}}}, but {unavailable[name]}" for name in names if name in unavailable
    ]
    if problems:
        return problems
    try:
        render_text(source, _SAMPLE)
        if markdown:
            render_html(source, _SAMPLE)
    except OwnerTextError as error:
        return [f"{where}: {error}"]
    except TemplateError as error:
        return [f"{where}: {type(error).__name__}: {error}"]
    return []


# --- The values, from a template's context ------------------------------------------------------------------


def values_of(context: Mapping[str, Any], *, locale: str, zone: ZoneInfo) -> dict[str, object]:
    """The variables' values for one email: the customer's, the shop's and, with a code, the code's."""
    customer = context.get("customer") or {}
    shop = context.get("shop") or {}
    values: dict[str, object] = {
        "firstname": str(customer.get("first_name", "")),
        "lastname": str(customer.get("last_name", "")),
        "shop_name": str(shop.get("name", "")),
        "shop_url": str(shop.get("base_url", "")),
    }
    code = context.get("code")
    if isinstance(code, Mapping):
        text = str(code.get("code", ""))
        values["code"] = text
        values["discount"] = discount_text(code, locale)
        until = code.get("valid_until") or ""
        values["valid_until"] = formatting.format_local_datetime(until, zone, locale) if until else ""
        minimum = code.get("minimum_amount")
        currency = str(code.get("currency", ""))
        values["minimum_amount"] = (
            formatting.format_money({"amount": minimum, "currency": currency}, locale) if minimum else ""
        )
    return values


def discount_text(code: Mapping[str, Any], locale: str) -> str:
    """`10%` / `10 %`, or `20,00 zł`: what the code takes off, in the customer's locale."""
    percent = code.get("percent")
    if percent:
        number = formatting.to_decimal(percent) / Decimal(100)
        return str(format_percent(number, locale=locale, decimal_quantization=False))
    amount = code.get("amount")
    if amount:
        return formatting.format_money({"amount": amount, "currency": code.get("currency", "")}, locale)
    return ""


def _from(context: Context) -> dict[str, object]:
    locale, zone = context.resolve_or_missing("locale"), context.resolve_or_missing("timezone")
    if not isinstance(locale, str) or not isinstance(zone, str):
        raise formatting.FormattingError("no locale here: import macros 'with context'")
    return values_of(context.get_all(), locale=locale, zone=ZoneInfo(zone))


@pass_context
def owner_subject_filter(context: Context, text: Mapping[str, Any]) -> str:
    return render_text(str(text["subject"]), _from(context))


@pass_context
def owner_text_filter(context: Context, text: Mapping[str, Any]) -> str:
    return render_text(str(text["body"]), _from(context))


@pass_context
def owner_html_filter(context: Context, text: Mapping[str, Any]) -> Markup:
    return render_html(str(text["body"]), _from(context))


FILTERS: Final = {
    "owner_subject": owner_subject_filter,
    "owner_text": owner_text_filter,
    "owner_html": owner_html_filter,
}
