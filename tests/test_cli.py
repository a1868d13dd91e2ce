"""The command line as an owner uses it: `bridge demo`, `bridge sync`, and their exit codes."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.simulator import Simulator
from tests.conftest import SHOP_KEY, bridge_settings
from tests.smtp_server import DEFAULT_PASSWORD, DEFAULT_USERNAME, GmailLikeServer


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("PRESTASHOP_", "SMTP_", "MAIL_", "SHOP_", "STATE_", "DATABASE_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_the_demo_tells_the_whole_story_and_writes_every_email(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--output", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    emails = sorted((tmp_path / "out" / "emails").glob("*.eml"))
    assert len(emails) == 40
    assert f"{len(emails)} emails written" in out
    # The lifecycle part of the story: Marek's left cart is reminded once, then he orders; Zofia (who
    # agreed to news) is asked for a review two weeks after delivery, Emily (who did not) is not.
    listed = re.sub(r"(?<=\S) +→ ", " → ", out)  # the kind column is as wide as the longest kind
    assert "cart_reminder → marek.nowak@example.com" in listed
    assert "review_request → zofia.wisniewska@example.com" in listed
    assert "review_request → emily" not in listed
    # The owner (OWNER_EMAIL) hears of each of the three new orders.
    assert listed.count("owner_new_order → wlascicielka@") == 3
    assert "owner_customer_message → wlascicielka@" in listed
    assert listed.count("owner_low_stock → wlascicielka@") == 1  # the vases, told once
    # Customer service: Zofia's question is acknowledged and answered; a refunded item has its credit slip.
    for kind in ("message_received", "message_reply", "credit_slip"):
        assert f"{kind} → zofia.wisniewska@example.com" in listed, kind
    # The terms change: the owner (ADMIN_EMAIL) is told, then `notify-terms --yes` tells the 7 accounts.
    assert listed.count("owner_terms_changed → wlascicielka@") == 1
    assert listed.count(" terms_changed → ") == 7 and "en  terms_changed → emily.clarke@" in listed
    # Beyond orders: the day's new-product digest and a campaign (a personal code each) reach the 4
    # subscribers; the next morning Emily (Berlin) has her birthday and her win-back, each with a code.
    assert listed.count(" new_products → ") == 4 and listed.count(" campaign → ") == 4
    assert "en  birthday → emily.clarke@example.com" in listed
    assert "en  winback → emily.clarke@example.com" in listed
    codes = {
        email.name: re.findall(r"\b(?:SS|BIRTHDAY|COMEBACK)-[A-Z0-9]{8}\b", email.read_text())
        for email in emails
        if any(word in email.name for word in ("wyprzeda", "spring-sale", "birthday", "we-miss-you"))
    }
    assert len(codes) == 6 and all(codes.values()), codes
    assert len({found[0] for found in codes.values()}) == 6  # a code per email, none shared
    # INVOICE_ATTACH=yes: the emails at which an invoice appears carry its PDF.
    assert sum("invoice-" in email.read_text() for email in emails) == 3
    index = (tmp_path / "out" / "emails" / "index.html").read_text()
    assert all(f'href="{email.name}"' in index for email in emails)
    assert "first run: recorded where the shop stands" in out
    [idle] = [line for line in out.splitlines() if "a sync with nothing new" in line]
    assert "0 queued" in idle and "0 sent" in idle


def write_env(tmp_path: Path, server: Simulator, smtp: GmailLikeServer) -> Path:
    env = tmp_path / "bridge.env"
    env.write_text(
        f"PRESTASHOP_URL={server.url}\nPRESTASHOP_API_KEY={SHOP_KEY}\nSMTP_HOST={smtp.host}\n"
        f"SMTP_PORT={smtp.port}\nSMTP_USERNAME={DEFAULT_USERNAME}\nSMTP_PASSWORD={DEFAULT_PASSWORD}\n"
        f"STATE_DIR={tmp_path / 'state'}\nMAIL_TRANSPORT=file\n"
    )
    env.chmod(0o600)
    return env


def test_bridge_sync_prints_one_summary_line_and_the_first_run_sends_nothing(
    shop_server: Simulator, smtp_server: GmailLikeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = write_env(tmp_path, shop_server, smtp_server)
    assert main(["--env-file", str(env), "sync"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ["first run: recorded where the shop stands, nothing to send; 0 sent, 0 to retry, 0 failed"]
    assert bridge_settings(shop_server.url, smtp_server, tmp_path / "state").database_url.endswith(
        "bridge.sqlite3"
    )
    assert (tmp_path / "state" / "bridge.sqlite3").stat().st_mode & 0o777 == 0o600


def test_bridge_sync_since_says_how_many_emails_it_will_queue(
    shop_server: Simulator, smtp_server: GmailLikeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = write_env(tmp_path, shop_server, smtp_server)
    assert main(["--env-file", str(env), "sync", "--since", "2026-11-20", "--yes"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Catching up since 2026-11-20 00:00")
    assert "email(s) to queue" in out
    assert len(list((tmp_path / "state" / "outbox-eml").glob("*.eml"))) > 0


def test_bridge_sync_against_a_shop_that_refuses_the_key_exits_77(
    shop_server: Simulator, smtp_server: GmailLikeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = write_env(tmp_path, shop_server, smtp_server)
    env.write_text(env.read_text().replace(SHOP_KEY, "X" * 32))
    assert main(["--env-file", str(env), "sync"]) == 77
    assert "PRESTASHOP_API_KEY" in capsys.readouterr().err


def test_bridge_test_email_delivers_a_sample_confirmation_and_check_logs_in(
    shop_server: Simulator, smtp_server: GmailLikeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = write_env(tmp_path, shop_server, smtp_server)
    bundle = tmp_path / "ca.pem"
    smtp_server.ca.cert_pem.write_to_path(str(bundle))
    env.write_text(env.read_text().replace("MAIL_TRANSPORT=file\n", f"SMTP_CA_FILE={bundle}\n"))
    assert main(["--env-file", str(env), "test-email", "--to", "owner@example.pl"]) == 0
    [received] = smtp_server.messages
    assert received.recipients == ("owner@example.pl",)
    assert "[TEST]" in str(received.message["Subject"])
    assert main(["--env-file", str(env), "check"]) == 0
    out = capsys.readouterr().out
    assert "log in to its SMTP server" in out
    assert DEFAULT_PASSWORD not in out


def test_bridge_test_email_explains_a_refused_app_password(
    shop_server: Simulator, smtp_server: GmailLikeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = write_env(tmp_path, shop_server, smtp_server)
    bundle = tmp_path / "ca.pem"
    smtp_server.ca.cert_pem.write_to_path(str(bundle))
    env.write_text(
        env.read_text()
        .replace("MAIL_TRANSPORT=file\n", f"SMTP_CA_FILE={bundle}\n")
        .replace(DEFAULT_PASSWORD, "wrongwrongwrongw")
    )
    assert main(["--env-file", str(env), "test-email", "--to", "owner@example.pl"]) == 75
    err = capsys.readouterr().err
    assert "535 5.7.8" in err and "https://myaccount.google.com/apppasswords" in err
    assert "wrongwrongwrongw" not in err
    assert smtp_server.messages == []
