"""The first hour with the bridge, as a new owner lives it: no silent demo, a demo that touches nothing real,
quiet first runs, settings warnings in the log, and commands that write files only where asked.

Real parts only: `bridge.cli.main` as the `bridge` script runs it, the webservice simulator on 127.0.0.1
standing in for the owner's real shop, and the Gmail-like SMTP server.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.commands.demo import MARKER
from bridge.simulator import Simulator
from bridge.simulator.actions import PostalAddress, Shop
from bridge.simulator.demo_shop import BOWL, MUG, MUG_HONEY
from tests.conftest import SHOP_KEY
from tests.smtp_server import DEFAULT_PASSWORD, DEFAULT_USERNAME, GmailLikeServer

WARSAW = PostalAddress("ul. Marszałkowska 10/4", "00-590", "Warszawa", phone="+48 600 700 800")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("PRESTASHOP_", "SMTP_", "MAIL_", "SHOP_", "STATE_", "DATABASE_", "LOG_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def owner_env(path: Path, shop: Simulator, smtp: GmailLikeServer, *extra: str) -> Path:
    """The owner's `.env` for their real shop, with the state store in the default ./state."""
    lines = [
        f"PRESTASHOP_URL={shop.url}",
        f"PRESTASHOP_API_KEY={SHOP_KEY}",
        "PRESTASHOP_RETRIES=0",
        f"SMTP_HOST={smtp.host}",
        f"SMTP_PORT={smtp.port}",
        f"SMTP_USERNAME={DEFAULT_USERNAME}",
        f"SMTP_PASSWORD={DEFAULT_PASSWORD}",
        "MAIL_TRANSPORT=file",
        *extra,
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


# --- no silent demo --------------------------------------------------------------------------------------

SHOP_COMMANDS = (["sync"], ["run"], ["check"], ["preview", "order_confirmation", "--order", "1"])


@pytest.mark.parametrize("command", SHOP_COMMANDS, ids=lambda argv: argv[0])
def test_a_command_that_reads_the_shop_stops_with_78_naming_prestashop_url_and_writes_nothing(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, *command)
    assert code == 78
    [line] = err.strip().splitlines()
    assert "PRESTASHOP_URL" in line and f"there is no {tmp_path / '.env'}" in line
    assert "demo" not in out
    assert sorted(tmp_path.iterdir()) == []  # no state folder, no database, no lock


def test_an_env_file_without_prestashop_url_is_named_in_the_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = tmp_path / "owner.env"
    env.write_text("SMTP_USERNAME=sklep@gmail.com\nSMTP_PASSWORD=abcdabcdabcdabcd\n", encoding="utf-8")
    env.chmod(0o600)
    code, _out, err = run(capsys, "--env-file", str(env), "sync")
    assert code == 78
    assert f"PRESTASHOP_URL is not set in {env}: set it to your shop's address" in err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["owner.env"]


def test_the_owners_store_only_commands_still_work_without_a_shop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _err = run(capsys, "templates", "lint")
    assert code == 0 and "no problems" in out


# --- the demo touches nothing real ------------------------------------------------------------------------


def test_the_demo_ignores_the_configured_shop_and_state_store(
    shop_server: Simulator, smtp_server: GmailLikeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    owner_env(tmp_path / ".env", shop_server, smtp_server, f"STATE_DIR={tmp_path / 'real-state'}")
    code, out, _err = run(capsys, "demo", "--output", str(tmp_path / "out"))
    assert code == 0
    assert "Pracownia Ceramiki" in out and "40 emails written" in out
    assert shop_server.requests == []  # the owner's shop was not read once
    assert not (tmp_path / "real-state").exists()
    assert not (tmp_path / "state").exists()
    assert smtp_server.messages == []
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [MARKER, "emails"]


def test_the_demo_refuses_a_folder_it_did_not_write_and_leaves_its_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "Documents"
    folder.mkdir()
    (folder / "invoice.pdf").write_bytes(b"%PDF-1.7 the owner's own file")
    code, out, err = run(capsys, "demo", "--output", str(folder))
    assert code == 73
    [line] = err.strip().splitlines()
    assert str(folder) in line and "not written by `bridge demo`" in line
    assert out == ""
    assert sorted(path.name for path in folder.iterdir()) == ["invoice.pdf"]
    assert (folder / "invoice.pdf").read_bytes() == b"%PDF-1.7 the owner's own file"


def test_the_demo_takes_an_empty_folder_and_replaces_only_its_own_emails_next_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    assert run(capsys, "demo", "--output", str(folder))[0] == 0
    first = sorted(path.name for path in (folder / "emails").iterdir())
    (folder / "notes.txt").write_text("the owner's notes about the demo")
    assert run(capsys, "demo", "--output", str(folder))[0] == 0
    assert sorted(path.name for path in (folder / "emails").iterdir()) == first  # not 28 emails
    assert (folder / "notes.txt").read_text() == "the owner's notes about the demo"


# --- quiet first runs, and the settings warnings in the log --------------------------------------------


def test_a_first_sync_shows_no_migration_lines_but_logs_the_settings_warnings(
    shop_server: Simulator, smtp_server: GmailLikeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    owner_env(tmp_path / ".env", shop_server, smtp_server, "POLL_INTERVALL=5m")
    code, out, err = run(capsys, "sync")
    assert code == 0, err
    assert out.startswith("first run: recorded where the shop stands")
    assert "alembic" not in err and "Running upgrade" not in err
    [warning] = [line for line in err.splitlines() if "WARNING" in line]
    assert "POLL_INTERVALL (in .env): not a setting of the bridge; did you mean POLL_INTERVAL?" in warning


def test_log_level_debug_shows_the_migration_lines(
    shop_server: Simulator, smtp_server: GmailLikeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    owner_env(tmp_path / ".env", shop_server, smtp_server, "LOG_LEVEL=DEBUG")
    code, _out, err = run(capsys, "sync")
    assert code == 0
    assert "alembic.runtime.migration: Running upgrade" in err


# --- status and preview write only where asked ---------------------------------------------------------


def test_status_before_the_first_sync_creates_no_state_store(
    shop_server: Simulator, smtp_server: GmailLikeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    owner_env(tmp_path / ".env", shop_server, smtp_server)
    code, out, _err = run(capsys, "status")
    assert code == 0
    assert "No state store yet" in out and "has not run" in out
    code, out, _err = run(capsys, "status", "--json")
    assert code == 0 and '"exists": false' in out
    assert sorted(path.name for path in tmp_path.iterdir()) == [".env"]


def test_preview_prints_the_email_and_writes_files_only_with_output(
    shop: Shop,
    shop_server: Simulator,
    smtp_server: GmailLikeServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    owner_env(tmp_path / ".env", shop_server, smtp_server)
    customer = shop.register_customer("Zofia", "Wiśniewska", "zofia@example.com", address=WARSAW)
    cart = shop.create_cart(customer.customer_id, [(MUG, 2, MUG_HONEY), (BOWL, 1)], carrier_id=2)
    order_id = shop.place_order(cart, "ps_wirepayment")
    reference = shop.order_ref(order_id)

    code, out, err = run(capsys, "preview", "order_confirmation", "--order", str(order_id))
    assert code == 0, err
    assert out.startswith(f"=== order_confirmation (pl) for order #{order_id} {reference} ===\n")
    assert "To: Zofia Wiśniewska <zofia@example.com>" in out and reference in out
    assert "--output DIR" in out
    assert sorted(path.name for path in tmp_path.iterdir()) == [".env"]

    code, out, _err = run(
        capsys, "preview", "order_confirmation", "--order", str(order_id), "--output", "out"
    )
    assert code == 0
    written = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert [Path(line).name for line in out.split()] == [
        name for name in written if name.endswith(".html")
    ] + [name for name in written if name.endswith(".eml")]
