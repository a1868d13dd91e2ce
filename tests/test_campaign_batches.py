"""One campaign email per address across the batches of a pass (issue 18, benchmarks/campaigns.py (a)).

`bridge campaign send` reads the customers a batch at a time (bridge.shop.audience.BATCH, 500). A guest
checkout and a later account often share an address, and they may fall in different batches. A dry run
remembers the addresses it gave an email; `--yes` remembers none: each batch is committed before the next
is planned, and the store says which addresses have the campaign already (an indexed lookup). Here the
batches are two customers, so every duplicate crosses a batch.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.commands.campaign.send import send_campaign
from bridge.model.campaign_kinds import CAMPAIGN
from bridge.shop import audience
from bridge.state.outbox import list_rows
from tests.conftest import World
from tests.test_cart_reminders import WARSAW, marketing

NEWS = '''
name = "nowa-kolekcja"
audience = "newsletter"
[pl]
subject = "Nowa kolekcja"
body = """Cześć {{ firstname }}!"""
'''
SHARED = ("ala@example.com", "Ala@Example.com ", "ola@example.com", "ALA@example.com")


@pytest.fixture
def shared(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[World, Path]:
    """Marketing on, the first run done, batches of two, and newsletter customers whose addresses repeat
    (accounts far apart in id order)."""
    marketing(world)
    world.sync()
    world.shop.advance(60)
    monkeypatch.setattr(audience, "BATCH", 2)
    for number, email in enumerate(SHARED):
        world.shop.register_customer(
            f"Klient{number}", "Nowak", email, address=WARSAW, newsletter=True, guest=number % 2 == 1
        )
        world.shop.register_customer(f"Inny{number}", "Nowak", f"inny.{number}@example.com", address=WARSAW)
    path = tmp_path / "campaign.toml"
    path.write_text(NEWS, encoding="utf-8")
    return world, path


def campaign_rows(world: World) -> dict[str, int]:
    """Campaign emails queued, by lower-cased address."""
    found: dict[str, int] = {}
    for row in list_rows(world.store, limit=5000):
        if row.kind == CAMPAIGN:
            address = row.recipient_email.strip().lower()
            found[address] = found.get(address, 0) + 1
    return found


def left_out(lines: list[str]) -> str:
    return next(line for line in lines if line.startswith("  Left out: "))


def test_the_dry_run_counts_an_address_once_across_batches(shared: tuple[World, Path]) -> None:
    world, path = shared
    lines = list(send_campaign(world.client, world.store, world.settings, world.clock, path))

    assert lines[1] == "  Recipients: 4 (pl: 4)"  # the demo shop's two subscribers, ala and ola
    assert "same address as another customer: 2" in left_out(lines)
    assert campaign_rows(world) == {}


def test_queueing_gives_an_address_one_email_across_batches_and_a_rerun_none(
    shared: tuple[World, Path],
) -> None:
    world, path = shared
    lines = list(send_campaign(world.client, world.store, world.settings, world.clock, path, yes=True))

    assert lines[-1].startswith("Queued 4 email(s)")
    rows = campaign_rows(world)
    assert rows["ala@example.com"] == 1 and rows["ola@example.com"] == 1 and len(rows) == 4

    world.shop.register_customer("Nowa", "Nowak", "ALA@EXAMPLE.COM", address=WARSAW, newsletter=True)
    again = list(send_campaign(world.client, world.store, world.settings, world.clock, path, yes=True))
    assert again[-1].startswith("Queued 0 email(s)")
    assert "same address as another customer: 3" in left_out(again)
    assert campaign_rows(world) == rows
