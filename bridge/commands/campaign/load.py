"""A campaign file read and checked whole: its shape (bridge.plan.campaign_file) and its texts
(bridge.mail.owner_text), every problem one line naming the file, the field and what to write."""

from __future__ import annotations

from pathlib import Path

from bridge.errors import BridgeError
from bridge.mail.owner_text import CODE_VARIABLES, check_text
from bridge.plan.campaign_file import Campaign, CampaignFileError, Discount, parse_campaign


class CampaignError(BridgeError):
    """The campaign cannot go as written (the file, or the shop or store it meets): nothing was queued."""

    exit_code = 65  # EX_DATAERR


def problems_error(path: Path, problems: list[str]) -> CampaignError:
    return CampaignError("\n".join(f"{path.name}: {problem}" for problem in problems))


def load_campaign(path: Path) -> Campaign:
    """The campaign in `path`; CampaignError with one line per problem."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CampaignError(f"cannot read the campaign file {path}: {error}") from None
    try:
        campaign = parse_campaign(source)
    except CampaignFileError as error:
        raise problems_error(path, error.problems) from None
    problems = []
    unavailable = unavailable_variables(campaign.discount)
    for iso, text in campaign.texts.items():
        problems += check_text(f"[{iso}] subject", text.subject, markdown=False, unavailable=unavailable)
        problems += check_text(f"[{iso}] body", text.body, markdown=True, unavailable=unavailable)
    if problems:
        raise problems_error(path, problems)
    return campaign


def unavailable_variables(discount: Discount | None) -> dict[str, str]:
    """The variables this campaign cannot fill, each with why (what the owner would add)."""
    if discount is None:
        why = "the campaign has no [discount] section: add one, or remove the variable"
        return dict.fromkeys(CODE_VARIABLES, why)
    missing: dict[str, str] = {}
    if discount.minimum_amount is None:
        missing["minimum_amount"] = "[discount] has no minimum_amount: add one, or remove the variable"
    if not discount.single_use and discount.valid_days is None and discount.valid_until is None:
        missing["valid_until"] = (
            "the shared code has no end: add valid_until = 2026-12-01 (or valid_days) to [discount]"
        )
    return missing
