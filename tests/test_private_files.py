"""Files that hold customers' personal data are the owner's alone: 0600, in folders the bridge makes 0700.

Each test runs under umask 022, the usual default, under which a plain `write_text` gives 0644: a test that
passes here proves the mode was set on purpose.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.clock import ManualClock
from bridge.commands.demo import prepare_output
from bridge.commands.preview import preview_order
from bridge.config import Settings
from bridge.delivery.transports import FileTransport
from bridge.files import make_private_dir, write_private
from bridge.mail.lint import SAMPLE_SHOP
from bridge.mail.render import render_email
from bridge.model.headers import make_address
from bridge.model.kinds import get_kind
from bridge.secret import Secret
from bridge.shop.client import ShopClient
from bridge.simulator import Simulator
from bridge.simulator.actions import PostalAddress, Shop
from bridge.simulator.demo_shop import MUG
from tests.conftest import SHOP_KEY


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def modes_under(folder: Path) -> dict[str, int]:
    return {str(path.relative_to(folder)): mode(path) for path in sorted(folder.rglob("*"))}


def test_a_new_file_is_0600_even_under_an_open_umask(tmp_path: Path) -> None:
    os.umask(0)

    write_private(tmp_path / "a.eml", b"From: x\r\n")

    assert mode(tmp_path / "a.eml") == 0o600
    assert (tmp_path / "a.eml").read_bytes() == b"From: x\r\n"


def test_an_existing_readable_file_is_replaced_by_a_private_one_and_no_partial_file_is_left(
    tmp_path: Path,
) -> None:
    path = tmp_path / "index.html"
    path.write_text("old", encoding="utf-8")
    path.chmod(0o644)

    write_private(path, "nowy indeks: Zażółć")

    assert mode(path) == 0o600
    assert path.read_text(encoding="utf-8") == "nowy indeks: Zażółć"
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]


def test_a_symlink_planted_where_the_file_goes_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me", encoding="utf-8")
    planted = tmp_path / "preview.html"
    planted.symlink_to(victim)

    write_private(planted, "<p>preview</p>")

    assert victim.read_text(encoding="utf-8") == "keep me"
    assert not planted.is_symlink() and mode(planted) == 0o600


def test_missing_folders_are_made_0700_and_existing_ones_keep_their_mode(tmp_path: Path) -> None:
    owners = tmp_path / "owners"
    owners.mkdir()
    owners.chmod(0o755)

    make_private_dir(owners / "emails" / "2026")

    assert modes_under(owners) == {"emails": 0o700, "emails/2026": 0o700}
    assert mode(owners) == 0o755


def test_the_file_transport_writes_emails_previews_and_index_0600_in_a_0700_folder(tmp_path: Path) -> None:
    transport = FileTransport(tmp_path / "emails")
    message = render_email(
        "processing",
        "pl",
        get_kind("processing").sample(),
        shop=SAMPLE_SHOP,
        message_id="<private.1@zolta-lodka.pl>",
        recipient=make_address("Zofia Wiśniewska", "zofia@example.com"),
        now=datetime(2026, 11, 27, 9, 0, tzinfo=UTC),
    ).message

    for _ in range(2):
        assert transport.send(message, envelope_from=SAMPLE_SHOP.from_email, recipients=[]).sent

    assert mode(tmp_path / "emails") == 0o700
    files = modes_under(tmp_path / "emails")
    assert len(files) == 5  # two .eml, their two .html previews, the index
    assert set(files.values()) == {0o600}


def test_the_demo_output_folder_is_0700_and_its_marker_0600(tmp_path: Path) -> None:
    emails = prepare_output(tmp_path / "demo")

    assert mode(tmp_path / "demo") == 0o700
    assert set(modes_under(tmp_path / "demo").values()) == {0o600}
    FileTransport(emails).send(
        render_email(
            "processing",
            "pl",
            get_kind("processing").sample(),
            shop=SAMPLE_SHOP,
            message_id="<private.2@zolta-lodka.pl>",
            recipient=make_address("", "jan@example.pl"),
            now=datetime(2026, 11, 27, 9, 0, tzinfo=UTC),
        ).message,
        envelope_from=SAMPLE_SHOP.from_email,
        recipients=[],
    )
    assert mode(emails) == 0o700


def test_an_order_preview_is_written_0600(
    shop: Shop, shop_server: Simulator, clock: ManualClock, tmp_path: Path
) -> None:
    settings = Settings.from_mapping(
        {
            "PRESTASHOP_URL": shop_server.url,
            "PRESTASHOP_API_KEY": SHOP_KEY,
            "PRESTASHOP_RETRIES": "0",
            "SMTP_USERNAME": "sklep.zlota.laka@gmail.com",
            "SMTP_PASSWORD": "abcdabcdabcdabcd",
            "MAIL_FROM": "Złota Łąka <sklep.zlota.laka@gmail.com>",
            "STATE_DIR": str(tmp_path / "state"),
        }
    )
    warsaw = PostalAddress("ul. Marszałkowska 10/4", "00-590", "Warszawa")
    ref = shop.register_customer("Zofia", "Wiśniewska", "zofia@example.com", address=warsaw)
    order_id = shop.place_order(shop.create_cart(ref.customer_id, [(MUG, 1)], carrier_id=2), "ps_wirepayment")
    shop.advance(30)

    with ShopClient(shop_server.url, Secret(SHOP_KEY), retries=0) as client:
        paths = preview_order(
            client, settings, "order_confirmation", order_id, output_dir=tmp_path / "out" / "new", clock=clock
        )

    assert [mode(path) for path in paths] == [0o600, 0o600]
    assert (mode(tmp_path / "out"), mode(tmp_path / "out" / "new")) == (0o700, 0o700)


def test_the_templates_preview_file_is_0600(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in list(os.environ):
        if name.startswith(("PRESTASHOP_", "SMTP_", "MAIL_", "SHOP_", "STATE_", "DATABASE_", "TEMPLATES_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env here
    output = tmp_path / "preview.html"

    code = main(["templates", "preview", "order_confirmation", "--output", str(output)])

    assert code == 0, capsys.readouterr()
    assert mode(output) == 0o600 and output.read_text(encoding="utf-8").startswith("<!")
