"""`bridge campaign send|preview|list`: an owner's own email to the customers who agreed to marketing mail.

- `send FILE`: a dry run by default (who it reaches per language, who is left out and why, the first
  recipients, how many days the daily budget needs); `--yes` queues it (bridge.commands.campaign.send).
- `preview FILE --to ADDRESS`: one rendered sample, marked as a preview, through the configured transport
  (bridge.commands.campaign.preview); no cart rule is created.
- `list`: every campaign and how far it went; `bridge status` shows the active ones
  (bridge.commands.campaign.progress).

The file's shape is bridge.plan.campaign_file's; the owner's text is rendered by bridge.mail.owner_text.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bridge.commands.campaign.load import CampaignError
from bridge.commands.campaign.progress import NO_CAMPAIGN, CampaignsStatus, campaign_lines, campaigns_status
from bridge.config import Settings

__all__ = ["CampaignError", "CampaignsStatus", "add_campaign_command", "campaigns_status"]


def add_campaign_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    campaign = commands.add_parser(
        "campaign", help="send your own campaign (a TOML file) to the customers who agreed to marketing mail"
    )
    actions = campaign.add_subparsers(dest="action", required=True, metavar="ACTION")
    send = actions.add_parser(
        "send",
        help="show who the campaign reaches, who is left out and why, and how many days it takes;"
        " with --yes queue it",
    )
    send.add_argument(
        "file", type=Path, metavar="FILE", help="the campaign file (docs/campaign.example.toml)"
    )
    send.add_argument("--yes", action="store_true", help="queue the campaign (without it: a dry run)")
    send.add_argument("--dry-run", action="store_true", help="show what would be queued (the default)")
    send.set_defaults(run=cmd_campaign_send, needs_shop=True)
    preview = actions.add_parser(
        "preview", help="send one sample of the campaign, marked as a preview, to your own address"
    )
    preview.add_argument("file", type=Path, metavar="FILE")
    preview.add_argument("--to", required=True, metavar="ADDRESS", help="where to send it (your own address)")
    preview.add_argument(
        "--lang", metavar="CODE", help="which language section (default: the shop's default language's)"
    )
    preview.set_defaults(run=cmd_campaign_preview, needs_shop=True)
    listing = actions.add_parser("list", help="every campaign: queued, sent, left out, cancelled, codes")
    listing.set_defaults(run=cmd_campaign_list)


def cmd_campaign_send(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.app import open_shop
    from bridge.cli import open_state
    from bridge.commands.campaign.send import send_campaign

    if args.yes and args.dry_run:
        raise CampaignError("--yes and --dry-run contradict each other: give one")
    with open_shop(settings) as client, open_state(settings) as store:
        for line in send_campaign(client, store, settings, args.clock, args.file, yes=args.yes):
            print(line)  # noqa: T201 - the command's own output
    return 0


def cmd_campaign_preview(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.app import open_shop
    from bridge.commands.campaign.preview import send_preview

    with open_shop(settings) as client:
        report = send_preview(client, settings, args.file, args.to, language=args.lang, clock=args.clock)
    print(report)  # noqa: T201 - the command's own output
    return 0


def cmd_campaign_list(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.cli import quiet_logs
    from bridge.delivery.deliver import existing_store

    quiet_logs(settings)
    with existing_store(settings) as store:  # a look creates no state store
        lines = campaign_lines(store) if store is not None else iter([NO_CAMPAIGN])
        for line in lines:
            print(line)  # noqa: T201 - the command's own output
    return 0
