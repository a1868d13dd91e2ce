"""An email queued by an earlier bridge and sent by this one still renders.

The outbox keeps each email's context as it was when the email was queued (docs/design.md §3.3), so after an
upgrade the new templates meet contexts written by the old planner: a key added since is absent from them.
The recorded contexts in tests/data/queued-contexts/ are every kind's sample contexts as two earlier versions
wrote them (named by commit); each must still render in both languages, or a queued email would fail for good
at send time ("the context … lacks …"). A key added to a context must be `NotRequired` and tested with
`is defined` in the templates.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bridge.mail.lint import SAMPLE_SHOP
from bridge.mail.render import render_email
from bridge.model.headers import make_address
from bridge.model.kinds import KINDS, SAMPLE_UNSUBSCRIBE, get_kind

RECORDED = Path(__file__).resolve().parent / "data" / "queued-contexts"
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def recorded() -> list[Any]:
    cases = []
    for path in sorted(RECORDED.glob("*.json")):
        for kind, contexts in json.loads(path.read_text(encoding="utf-8")).items():
            for index, context in enumerate(contexts):
                cases.append(pytest.param(path.stem, kind, context, id=f"{path.stem}-{kind}-{index}"))
    return cases


CASES = recorded()


def test_the_recordings_cover_every_kind_that_existed_then() -> None:
    assert {case.values[0] for case in CASES} == {"5b28f2b", "aa7eb20"}
    kinds = {case.values[1] for case in CASES}
    assert {"order_confirmation", "cancelled", "cart_reminder", "owner_daily_summary", "credit_slip"} <= kinds
    assert kinds <= set(KINDS)  # a kind is never taken away while emails of it may wait in an outbox


@pytest.mark.parametrize(("version", "kind", "context"), CASES)
@pytest.mark.parametrize("language", ["pl", "en"])
def test_an_email_queued_by_an_earlier_bridge_renders_after_the_upgrade(
    version: str, kind: str, context: dict[str, Any], language: str
) -> None:
    rendered = render_email(
        kind,
        language,
        context,
        shop=SAMPLE_SHOP,
        message_id="<upgrade.test@zolta-lodka.pl>",
        recipient=make_address("Zofia Wiśniewska", "zofia@example.com"),
        now=NOW,
        unsubscribe=SAMPLE_UNSUBSCRIBE if get_kind(kind).category == "marketing" else None,
    )

    assert rendered.subject.strip() and rendered.text.strip() and "</html>" in rendered.html
    assert "Undefined" not in rendered.text and "None" not in rendered.subject
