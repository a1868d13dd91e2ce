"""A refused password pauses sending; a corrected one ends the pause at once, in the run that finds it.

Real parts: the demo shop behind the webservice simulator, the Gmail-like SMTP server (which answers
`535 5.7.8` to a wrong password), an SQLite state store and a clock that moves only when a test moves it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.clock import ManualClock
from bridge.config import Settings
from bridge.cycle import Cycle, SyncSummary
from bridge.delivery.deliver import paused
from bridge.delivery.smtp import SmtpSender, credentials_fingerprint
from bridge.delivery.transports import smtp_transport
from bridge.secret import Secret
from bridge.simulator import Simulator
from bridge.simulator.actions import PostalAddress, Shop
from bridge.simulator.demo_shop import BOWL, MUG
from tests.conftest import SHOP_KEY, World, bridge_settings, text_of
from tests.smtp_server import DEFAULT_PASSWORD, DEFAULT_USERNAME, GmailLikeServer

WRONG = "wrongwrongwrongw"
ALSO_WRONG = "stillwrongstillw"
OWNER = "wlasciciel@example.pl"


def order(shop: Shop) -> int:
    """A customer registers and orders; a minute passes."""
    address = PostalAddress("ul. Długa 5", "00-238", "Warszawa")
    customer = shop.register_customer("Zofia", "Wiśniewska", "zofia@example.com", address=address)
    cart = shop.create_cart(customer.customer_id, [(MUG, 1), (BOWL, 1)], carrier_id=2)
    order_id = shop.place_order(cart, "przelewy24")
    shop.advance(60)
    return order_id


@contextmanager
def logging_in_with(world: World, password: str) -> Iterator[tuple[Cycle, SmtpSender]]:
    """The cycle `bridge sync` runs when .env says SMTP_PASSWORD=`password` (and ADMIN_EMAIL is set)."""
    settings = bridge_settings(
        world.client.base_url, world.smtp, world.settings.state_dir, SMTP_PASSWORD=password, ADMIN_EMAIL=OWNER
    )
    with SmtpSender(
        world.smtp.host,
        world.smtp.port,
        "starttls",
        DEFAULT_USERNAME,
        Secret(password),
        helo_name="bridge.test",
        timeout=5,
        ssl_context=world.smtp.client_context(),
    ) as sender:
        yield Cycle(world.client, world.store, sender, world.renderer, settings, world.clock), sender


def sync_with(world: World, password: str) -> SyncSummary:
    with logging_in_with(world, password) as (cycle, _sender):
        return cycle.once()


@pytest.fixture
def refused(world: World) -> World:
    """A bridge whose SMTP_PASSWORD is wrong: the baseline is taken, an order comes in, and its
    confirmation meets `535 5.7.8`: sending pauses for SMTP_LOGIN_RETRY (an hour)."""
    assert sync_with(world, WRONG).poll.baseline
    order(world.shop)
    summary = sync_with(world, WRONG)
    assert (summary.poll.queued, summary.delivery.sent, summary.delivery.stopped_by) == (1, 0, "pause")
    return world


def test_a_corrected_password_sends_the_pending_emails_in_that_same_sync(refused: World) -> None:
    world = refused
    world.clock.advance(timedelta(minutes=5))  # far from the end of the hour
    fixed = sync_with(world, DEFAULT_PASSWORD)
    assert fixed.delivery.paused is None
    assert fixed.delivery.sent == 2  # the owner's alert about the pause, then the order confirmation
    assert len(world.mail_to("zofia@example.com")) == 1
    assert paused(world.store, world.clock.now()) is None


def test_the_pause_names_what_lifts_it_in_the_log_status_and_the_owners_alert(
    refused: World, caplog: pytest.LogCaptureFixture
) -> None:
    world = refused
    pause = paused(world.store, world.clock.now())
    assert pause is not None and pause.kind == "credentials"
    lifts = (
        "sending resumes as soon as a new SMTP_PASSWORD (or SMTP_USERNAME) works (the next `bridge sync`, "
        "or `bridge run` once restarted, tries it at once), after a successful `bridge check`, or at "
        f"{world.clock.now() + timedelta(hours=1):%Y-%m-%d %H:%M} UTC"
    )
    assert pause.reason.startswith("535 5.7.8") and pause.reason.endswith(lifts)  # what `bridge status` shows
    world.clock.advance(timedelta(minutes=1))
    sync_with(world, DEFAULT_PASSWORD)
    [alert] = world.mail_to(OWNER)
    assert lifts in " ".join(text_of(alert).split())


def test_only_a_fingerprint_of_the_refused_login_is_kept(refused: World) -> None:
    world = refused
    pause = paused(world.store, world.clock.now())
    assert pause is not None
    assert pause.credentials == credentials_fingerprint(DEFAULT_USERNAME, Secret(WRONG))
    assert len(pause.credentials) == 64
    database = Path(world.settings.database_url.removeprefix("sqlite:///"))
    stored = b"".join(path.read_bytes() for path in database.parent.glob(f"{database.name}*"))
    assert WRONG.encode() not in stored and DEFAULT_PASSWORD.encode() not in stored


def test_the_same_wrong_password_is_not_tried_again_and_another_wrong_one_once(refused: World) -> None:
    world = refused
    attempts = world.smtp.auth_attempts
    world.clock.advance(timedelta(minutes=5))
    assert sync_with(world, WRONG).delivery.stopped_by == "pause"
    assert world.smtp.auth_attempts == attempts  # nothing changed: no login storm while paused

    world.clock.advance(timedelta(minutes=5))
    again = sync_with(world, ALSO_WRONG)
    assert (again.delivery.sent, again.delivery.stopped_by) == (0, "pause")
    assert world.smtp.auth_attempts == attempts + 1  # the new password, tried once
    pause = paused(world.store, world.clock.now())
    assert pause is not None and pause.kind == "credentials"
    assert pause.credentials == credentials_fingerprint(DEFAULT_USERNAME, Secret(ALSO_WRONG))
    assert pause.until == world.clock.now() + timedelta(hours=1)  # a new pause, from the new refusal

    world.clock.advance(timedelta(minutes=5))
    assert sync_with(world, ALSO_WRONG).delivery.stopped_by == "pause"
    assert world.smtp.auth_attempts == attempts + 1
    assert world.mail_to("zofia@example.com") == []


# -- as the owner does it: edit .env, run `bridge sync` ------------------------------------------------------


@pytest.fixture
def owner_shell(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("PRESTASHOP_", "SMTP_", "MAIL_", "SHOP_", "STATE_", "DATABASE_", "ADMIN_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.mark.usefixtures("owner_shell")
def test_bridge_sync_after_fixing_smtp_password_in_env_sends_at_once(
    shop: Shop,
    shop_server: Simulator,
    smtp_server: GmailLikeServer,
    clock: ManualClock,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bundle = tmp_path / "ca.pem"
    smtp_server.ca.cert_pem.write_to_path(str(bundle))
    env = tmp_path / ".env"

    def sync(password: str) -> str:
        env.write_text(
            f"PRESTASHOP_URL={shop_server.url}\nPRESTASHOP_API_KEY={SHOP_KEY}\nPRESTASHOP_RETRIES=0\n"
            f"SMTP_HOST={smtp_server.host}\nSMTP_PORT={smtp_server.port}\nSMTP_CA_FILE={bundle}\n"
            f"SMTP_USERNAME={DEFAULT_USERNAME}\nSMTP_PASSWORD={password}\n"
            f"MAIL_FROM=Sklep <{DEFAULT_USERNAME}>\nSTATE_DIR={tmp_path / 'state'}\n"
        )
        env.chmod(0o600)
        assert main(["--env-file", str(env), "sync"], clock=clock) == 0
        out, _err = capsys.readouterr()
        return out.strip().splitlines()[-1]

    sync(WRONG)  # the baseline
    order(shop)
    refused = sync(WRONG)
    assert "0 sent" in refused and "535 5.7.8" in refused and "a new SMTP_PASSWORD" in refused
    clock.advance(timedelta(minutes=2))
    fixed = sync(DEFAULT_PASSWORD)
    assert "1 sent" in fixed and "paused" not in fixed
    assert [m.recipients for m in smtp_server.messages] == [("zofia@example.com",)]


def test_settings_name_the_password_the_fingerprint_is_taken_from(tmp_path: Path) -> None:
    """The fingerprint is of what the settings give the sender: SMTP_USERNAME and SMTP_PASSWORD."""
    settings = Settings.from_mapping(
        {
            "PRESTASHOP_URL": "http://127.0.0.1:1",
            "PRESTASHOP_API_KEY": SHOP_KEY,
            "SMTP_USERNAME": DEFAULT_USERNAME,
            "SMTP_PASSWORD": WRONG,
            "MAIL_FROM": DEFAULT_USERNAME,
            "STATE_DIR": str(tmp_path),
        }
    )
    with smtp_transport(settings) as sender:
        assert sender.credentials == credentials_fingerprint(DEFAULT_USERNAME, Secret(WRONG))
        assert sender.credentials != credentials_fingerprint(DEFAULT_USERNAME, Secret(DEFAULT_PASSWORD))
