"""The campaign file and the owner's text: what the owner wrote is read exactly as the issue shapes it, each
mistake is one line naming the field and what to write, and a customer's values are data (escaped, never
Markdown, never template code). Plain data and the sandboxed renderer: no server."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bridge.commands.campaign.load import CampaignError, load_campaign
from bridge.mail.owner_text import OwnerTextError, check_text, markdown_template, render_html, values_of
from bridge.plan.campaign_file import CampaignFileError, parse_campaign

ROOT = Path(__file__).resolve().parent.parent
ISSUE_EXAMPLE = '''
name = "black-friday-2026"          # unique; the campaign's identity for idempotency
audience = "newsletter"             # newsletter | optin | newsletter_or_optin
[discount]                          # optional
percent = 10                        # or: amount = 20 (in the shop's default currency)
valid_days = 7
single_use = true                   # a code per customer; false: `code = "BF2026"` shared
minimum_amount = 100                # optional
[pl]
subject = "Prezent dla Ciebie"
body = """Cześć {{ firstname }}, użyj kodu {{ code }} do {{ valid_until }}."""
[en]
subject = "A gift for you"
body = """Hello {{ firstname }}, use {{ code }} before {{ valid_until }}."""
'''


def problems(source: str) -> list[str]:
    with pytest.raises(CampaignFileError) as raised:
        parse_campaign(source)
    return raised.value.problems


def test_the_issues_example_reads_as_written() -> None:
    campaign = parse_campaign(ISSUE_EXAMPLE)
    assert (campaign.name, campaign.audience, campaign.languages) == ("black-friday-2026", "newsletter", ())
    assert campaign.discount is not None
    assert campaign.discount.percent == Decimal(10) and campaign.discount.amount is None
    assert campaign.discount.single_use and campaign.discount.valid_days == 7
    assert campaign.discount.minimum_amount == Decimal(100)
    assert list(campaign.texts) == ["pl", "en"]
    assert campaign.texts["en"].subject == "A gift for you"


def test_the_shipped_example_file_is_valid(tmp_path: Path) -> None:
    campaign = load_campaign(ROOT / "docs" / "campaign.example.toml")
    assert campaign.discount is not None and set(campaign.texts) == {"pl", "en"}


def test_comments_spacing_and_key_order_are_no_change_but_the_text_is() -> None:
    same = ISSUE_EXAMPLE.replace("# optional\n", "\n").replace(
        'audience = "newsletter"', 'audience="newsletter"'
    )
    reordered = ISSUE_EXAMPLE.replace(
        'name = "black-friday-2026"          # unique; the campaign\'s identity for idempotency\n'
        'audience = "newsletter"             # newsletter | optin | newsletter_or_optin\n',
        'audience = "newsletter"\nname = "black-friday-2026"\n',
    )
    changed = ISSUE_EXAMPLE.replace("A gift for you", "A present for you")
    first = parse_campaign(ISSUE_EXAMPLE).content_hash
    assert parse_campaign(same).content_hash == first == parse_campaign(reordered).content_hash
    assert parse_campaign(changed).content_hash != first


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ('name = "black-friday-2026"', 'name = "black friday"'),
            "name: 'black friday' is not a name; write name =",
        ),
        (
            ('audience = "newsletter"', 'audience = "everyone"'),
            "audience: 'everyone' is not an audience; write",
        ),
        (("percent = 10", "percent = 10\namount = 20"), "[discount]: write percent or amount, not both"),
        (("percent = 10", "percent = 120"), "[discount] percent = 120: write a number above 0 up to 100"),
        (("percent = 10", "percent = 9.999"), "at most two decimals"),
        (("percent = 10", "amount = 1e20"), "[discount] amount = 1e+20: write a number above 0 up to 100000"),
        (("minimum_amount = 100", "minimum_amount = inf"), "[discount] minimum_amount = inf: write a number"),
        (("single_use = true", "single_use = false"), "[discount] single_use = false needs the shared code"),
        (("single_use = true", 'code = "BF2026"'), None),  # a code alone: shared, valid_days optional
        (("valid_days = 7\n", ""), "[discount] valid_days: missing; write how many days a code works"),
        (("valid_days = 7", "valid_days = 0"), "[discount] valid_days = 0: write a whole number of days"),
        (
            ("valid_days = 7", "valid_days = 7\nvalid_until = 2026-12-01"),
            "[discount] valid_until: only a shared",
        ),
        (
            ("minimum_amount = 100", 'prefix = "bf"'),
            "[discount] prefix: write 1-12 capital letters or digits",
        ),
        (("minimum_amount = 100", "minimum = 100"), "[discount] minimum: unknown key"),
        (('subject = "A gift for you"', 'subjekt = "A gift for you"'), "[en] subjekt: unknown key"),
        (('subject = "A gift for you"', 'subject = ""'), "[en] subject: write it as text"),
        (("[en]", "[english]"), "unknown key 'english'"),
        (
            ("[discount]", "ordered_within_days = 30\nnot_ordered_within_days = 60\n[discount]"),
            "ordered_within_days (30) must be more than not_ordered_within_days (60)",
        ),
        (("[discount]", 'languages = "pl"\n[discount]'), "languages = 'pl': write a list of language codes"),
        (("[discount]", "not_ordered_within_days = -1\n[discount]"), "not_ordered_within_days = -1: write"),
        (('name = "black-friday-2026"', 'name = "black-friday-2026'), "the file is not valid TOML"),
    ],
)
def test_each_mistake_is_one_line_naming_the_field(change: tuple[str, str], expected: str | None) -> None:
    source = ISSUE_EXAMPLE.replace(*change)
    assert source != ISSUE_EXAMPLE
    if expected is None:
        assert parse_campaign(source).discount is not None
        return
    found = problems(source)
    assert any(expected in problem for problem in found), found
    assert all("\n" not in problem for problem in found)


def test_a_file_without_a_language_section_or_a_name_lists_every_problem() -> None:
    found = problems('audience = "optin"\n')
    assert found[0].startswith('name: missing; write name = "black-friday-2026"')
    assert "no language section: add [pl]" in found[1]


def test_a_shared_code_with_a_last_day() -> None:
    source = ISSUE_EXAMPLE.replace(
        "single_use = true", 'single_use = false\ncode = "BF2026"\nvalid_until = 2026-12-01'
    )
    discount = parse_campaign(source).discount
    assert discount is not None and discount.code == "BF2026" and discount.valid_until == date(2026, 12, 1)


def write(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "campaign.toml"
    path.write_text(source, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Cześć {{ imie }}", "[pl] body uses {{ imie }}, which is not a variable: use one of firstname,"),
        ("Cześć {{ firstname }\n", "[pl] body, line 1: unexpected '}'"),
        ("Linia\n\n{% if firstname %}\nCześć\n", "[pl] body, line 4: Unexpected end of template"),
        (
            "Zamów za {{ minimum_amount }}",
            "[pl] body uses {{ minimum_amount }}, but [discount] has no minimum_amount",
        ),
        ("[Sklep]({{ firstname }})", "[pl] body: a link's address starts with {{ firstname }}"),
    ],
)
def test_the_texts_are_checked_before_anything_is_queued(tmp_path: Path, body: str, expected: str) -> None:
    source = ISSUE_EXAMPLE.replace("minimum_amount = 100", "").replace(
        '"""Cześć {{ firstname }}, użyj kodu {{ code }} do {{ valid_until }}."""',
        repr(body).replace("'", '"'),
    )
    with pytest.raises(CampaignError) as raised:
        load_campaign(write(tmp_path, source))
    assert f"campaign.toml: {expected}" in str(raised.value), str(raised.value)
    assert raised.value.exit_code == 65


def test_code_variables_need_a_discount(tmp_path: Path) -> None:
    source = ISSUE_EXAMPLE.split("[discount]")[0] + '[pl]\nsubject = "Kod {{ code }}"\nbody = "Hej"\n'
    with pytest.raises(CampaignError) as raised:
        load_campaign(write(tmp_path, source))
    assert "[pl] subject uses {{ code }}, but the campaign has no [discount] section" in str(raised.value)


ZONE = ZoneInfo("Europe/Warsaw")
HOSTILE = {
    "customer": {"first_name": "<b>Ala</b> **x** {{ shop_name }}", "last_name": "[a](javascript:alert(1))"},
    "shop": {"name": "Sklep", "base_url": "https://sklep.example.pl/"},
}


def test_a_customers_values_are_escaped_and_never_markdown_or_template_code() -> None:
    values = values_of(HOSTILE, locale="pl_PL", zone=ZONE)
    html = str(render_html("**Cześć** {{ firstname }} {{ lastname }}\n\n[Sklep]({{ shop_url }})", values))
    assert "<strong>Cześć</strong> &lt;b&gt;Ala&lt;/b&gt; **x** {{ shop_name }}" in html
    assert "[a](javascript:alert(1))" in html and '<a href="javascript' not in html
    assert '<a href="https://sklep.example.pl/">Sklep</a>' in html
    assert "<b>" not in html and "<strong>x" not in html


def test_the_owners_raw_html_and_script_links_are_not_rendered() -> None:
    html = str(render_html("<script>alert(1)</script>\n\n[x](javascript:alert(1)) <img src=x onerror=y>", {}))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'href="javascript' not in html and "<img" not in html


def test_a_code_is_kept_whole_and_the_offer_in_the_customers_locale() -> None:
    context = {
        **HOSTILE,
        "code": {
            "code": "BF-7KQ2M9XA",
            "percent": "7.5",
            "amount": None,
            "currency": "PLN",
            "minimum_amount": "100.00",
            "free_shipping": False,
            "valid_until": "2026-12-04T10:05:00+00:00",
        },
    }
    polish = values_of(context, locale="pl_PL", zone=ZONE)
    assert (polish["discount"], polish["valid_until"]) == ("7,5%", "4 grudnia 2026 11:05")
    assert polish["minimum_amount"] == "100,00\xa0zł"
    english = values_of(context, locale="en_GB", zone=ZONE)
    assert english["code"] == "BF-7KQ2M9XA" and english["minimum_amount"] == "PLN\xa0100.00"
    # Whole on a line where it is text; plain inside a link's address, which markup would break.
    html = str(render_html("Kod: {{ code }}. [Użyj go]({{ shop_url }}?kod={{ code }})", polish))
    assert '<p>Kod: <span class="keep">BF-7KQ2M9XA</span>.' in html
    assert '<a href="https://sklep.example.pl/?kod=BF-7KQ2M9XA">Użyj go</a>' in html


def test_a_link_may_start_with_the_shops_address_only() -> None:
    assert 'href="{{ shop_url }}"' in markdown_template("[Sklep]({{ shop_url }})")
    assert 'href="https://x.pl/?c={{ code }}"' in markdown_template("[Sklep](https://x.pl/?c={{ code }})")
    with pytest.raises(OwnerTextError):
        markdown_template("![x]({{ lastname }})")
    assert check_text("[pl] body", "[x]({{ code }})", markdown=True, unavailable={}) == [
        "[pl] body: a link's address starts with {{ code }}: only {{ shop_url }} may start one; write the"
        " address itself"
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("{{ firstname | safe }}", "line 1: the filter | safe cannot be used in a campaign's text"),
        ("{% autoescape false %}{{ firstname }}{% endautoescape %}", "line 1: {% autoescape %} cannot be"),
        ("{% for x in range(100000) %}{{ x }}{% endfor %}", "line 1: {% for %} cannot be used"),
        ("{{ firstname * 100000000 }}", "line 1: arithmetic cannot be used"),
        ("{{ firstname.__class__ }}", "line 1: an attribute ( . ) cannot be used"),
        ("{{ lipsum(100) }}", "line 1: a call ( … ) cannot be used"),
        ("{{ cycler }}", "uses {{ cycler }}, which is not a variable"),
        ("[Sklep](java{{ lastname }})", "a link's address has {{ lastname }} before its https://"),
    ],
)
def test_the_owners_template_cannot_unescape_loop_or_call_nor_let_a_value_pick_a_links_scheme(
    body: str, expected: str
) -> None:
    [problem] = check_text("[pl] body", body, markdown=True, unavailable={})
    assert problem.startswith("[pl] body") and expected in problem, problem
    with pytest.raises(OwnerTextError):  # a stored row with such a text is not rendered either
        render_html(body, values_of(HOSTILE, locale="pl_PL", zone=ZONE))


def test_what_a_text_may_use_renders() -> None:
    body = (
        "{% if firstname %}Cześć {{ firstname | trim | upper }}{% else %}Dzień dobry{% endif %},"
        " {{ lastname or 'x' }}"
    )
    assert check_text("[pl] body", body, markdown=True, unavailable={}) == []
    html = str(render_html(body, values_of(HOSTILE, locale="pl_PL", zone=ZONE)))
    assert html == "<p>Cześć &lt;B&gt;ALA&lt;/B&gt; **X** {{ SHOP_NAME }}, [a](javascript:alert(1))</p>"
