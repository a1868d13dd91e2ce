"""Shared fixtures: a demo shop behind the real webservice simulator, a Gmail-like SMTP server on
127.0.0.1, a real SQLite state store, and a clock that only moves when a test moves it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from bridge.clock import ManualClock
from bridge.config import Settings
from bridge.cycle import Cycle, SyncSummary
from bridge.delivery.smtp import SmtpSender
from bridge.mail.render import Renderer, get_renderer
from bridge.secret import Secret
from bridge.shop.client import ShopClient
from bridge.simulator import Simulator
from bridge.simulator.actions import Shop
from bridge.simulator.demo_shop import build_demo_shop
from bridge.state.store import Store, open_store
from tests.smtp_server import DEFAULT_PASSWORD, DEFAULT_USERNAME, GmailLikeServer, gmail_like_server

SHOP_KEY = "TESTKEY0TESTKEY0TESTKEY0TESTKEY0"
START = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """`bridge.cli.main` installs the bridge's log handler on the root logger; undo it after each test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def shop(clock: ManualClock) -> Shop:
    """The seeded Polish demo shop (three weeks of history), on the test's clock."""
    return build_demo_shop(clock)


@pytest.fixture
def shop_server(shop: Shop) -> Iterator[Simulator]:
    with Simulator(shop.state, flavour="8.1", api_key=SHOP_KEY) as server:
        yield server


@pytest.fixture
def smtp_server() -> Iterator[GmailLikeServer]:
    with gmail_like_server() as server:
        yield server


def bridge_settings(shop_url: str, smtp: GmailLikeServer, state_dir: Path, **extra: str) -> Settings:
    return Settings.from_mapping(
        {
            "PRESTASHOP_URL": shop_url,
            "PRESTASHOP_API_KEY": SHOP_KEY,
            "PRESTASHOP_RETRIES": "0",
            "SMTP_HOST": smtp.host,
            "SMTP_PORT": str(smtp.port),
            "SMTP_USERNAME": DEFAULT_USERNAME,
            "SMTP_PASSWORD": DEFAULT_PASSWORD,
            "MAIL_FROM": f"Sklep <{DEFAULT_USERNAME}>",
            "STATE_DIR": str(state_dir),
            **extra,
        }
    )


@dataclass
class World:
    """A shop, the bridge and an SMTP server, wired as an owner would wire them, for one test."""

    shop: Shop
    clock: ManualClock
    settings: Settings
    store: Store
    client: ShopClient
    sender: SmtpSender
    smtp: GmailLikeServer
    renderer: Renderer = field(default_factory=get_renderer)

    def sync(self, since: datetime | None = None) -> SyncSummary:
        cycle = Cycle(self.client, self.store, self.sender, self.renderer, self.settings, self.clock)
        return cycle.once(since=since)

    def mail(self) -> list[EmailMessage]:
        return [received.message for received in self.smtp.messages]

    def mail_to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.mail() if address in str(m["To"])]


@pytest.fixture
def world(
    shop: Shop, shop_server: Simulator, smtp_server: GmailLikeServer, clock: ManualClock, tmp_path: Path
) -> Iterator[World]:
    settings = bridge_settings(shop_server.url, smtp_server, tmp_path / "state")
    with (
        open_store(settings.database_url) as store,
        ShopClient(shop_server.url, Secret(SHOP_KEY), retries=0) as client,
        SmtpSender(
            smtp_server.host,
            smtp_server.port,
            "starttls",
            DEFAULT_USERNAME,
            Secret(DEFAULT_PASSWORD),
            helo_name="bridge.test",
            timeout=5,
            ssl_context=smtp_server.client_context(),
        ) as sender,
    ):
        yield World(shop, clock, settings, store, client, sender, smtp_server)


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())
