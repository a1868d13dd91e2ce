"""`bridge check` against the simulator: the owner's first contact with the bridge."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.simulator import Simulator
from bridge.simulator.demo_shop import build_demo_state

GOOD_KEY = "GOODKEY0GOODKEY0GOODKEY0GOODKEY0"
WRONG_KEY = "WRONGKEYWRONGKEYWRONGKEYWRONGKEY"
NO_ORDERS_KEY = "NOORDERS0NOORDERS0NOORDERS0NOORD"
WRITER_KEY = "WRITERKEYWRITERKEYWRITERKEYWRITE"
CODES_KEY = "CODESKEY0CODESKEY0CODESKEY0CODES"


@pytest.fixture(scope="module")
def shop() -> Iterator[Simulator]:
    simulator = Simulator(build_demo_state(), flavour="8.1", api_key=GOOD_KEY)
    read_only = {name: ("GET",) for name in simulator.resource_names()}
    simulator.add_key(GOOD_KEY, read_only)
    simulator.add_key(NO_ORDERS_KEY, {name: m for name, m in read_only.items() if name != "orders"})
    simulator.add_key(WRITER_KEY, {**read_only, "orders": ("GET", "PUT")})
    simulator.add_key(CODES_KEY, {**read_only, "cart_rules": ("GET", "POST")})
    with simulator:
        yield simulator


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The developer's own settings must not leak into these tests."""
    for name in list(os.environ):
        if name.startswith(("PRESTASHOP_", "SMTP_", "MAIL_", "SHOP_", "STATE_", "DATABASE_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def run_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str, key: str, extra: str = ""
) -> tuple[int, str, str]:
    env = tmp_path / "shop.env"
    env.write_text(
        f"PRESTASHOP_URL={url}\nPRESTASHOP_API_KEY={key}\nPRESTASHOP_RETRIES=0\nMAIL_TRANSPORT=file\n"
        "MAIL_FROM=Sklep <sklep@example.com>\n" + extra
    )
    env.chmod(0o600)
    code = main(["--env-file", str(env), "check"])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_good_key_reports_version_timezone_languages_and_currencies(
    shop: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_check(tmp_path, capsys, shop.url, GOOD_KEY)
    assert code == 0, err
    assert "PrestaShop 8.1.2" in out
    assert "Europe/Warsaw" in out
    assert "pl (Polski" in out and "en (English" in out
    assert "PLN (default)" in out and "EUR" in out
    assert "warning" not in out


def test_a_wrong_key_exits_77_and_says_which_setting_to_fix(
    shop: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_check(tmp_path, capsys, shop.url, WRONG_KEY)
    assert code == 77
    assert "PRESTASHOP_API_KEY" in err
    assert WRONG_KEY not in out + err
    assert len(err.strip().splitlines()) == 1, "one line for the owner, not a traceback"


def test_a_key_without_orders_names_the_resource_and_where_to_tick_it(
    shop: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run_check(tmp_path, capsys, shop.url, NO_ORDERS_KEY)
    assert code == 77
    assert "orders" in err
    assert "Webservice" in err and "GET" in err


def test_a_disabled_webservice_says_to_switch_it_on(
    shop: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shop.webservice_enabled = False
    try:
        code, _out, err = run_check(tmp_path, capsys, shop.url, GOOD_KEY)
    finally:
        shop.webservice_enabled = True
    assert code == 69
    assert "switched off" in err and "Enable PrestaShop's webservice" in err


def test_a_key_that_may_write_orders_gets_a_warning(
    shop: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _err = run_check(tmp_path, capsys, shop.url, WRITER_KEY)
    assert code == 0
    assert "warning: the key may also PUT orders" in out


def test_a_shop_that_still_sends_its_own_mail_gets_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = build_demo_state()
    state.set_config("PS_MAIL_METHOD", "1")
    simulator = Simulator(state, flavour="8.2", api_key=GOOD_KEY)
    with simulator:
        code, out, _err = run_check(tmp_path, capsys, simulator.url, GOOD_KEY)
    assert code == 0
    assert "customers get two" in out
    assert "Never send emails" in out


def test_a_shop_that_never_sends_mail_says_who_sends_what_without_a_warning(
    shop: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _err = run_check(tmp_path, capsys, shop.url, GOOD_KEY)
    assert code == 0
    [line] = [line for line in out.splitlines() if line.startswith("Shop mail:")]
    assert "PrestaShop sends none itself (Never send emails)" in line
    assert "the bridge sends the order confirmation and the emails of 12 statuses (" in line
    assert "password-reset, account, contact-form and other emails are not sent" in line
    assert "warning" not in out


def own_mail_shop(method: str, *, send_email: bool) -> Simulator:
    """The demo shop with PS_MAIL_METHOD = `method` and every status's 'send email' box = `send_email`."""
    state = build_demo_state()
    state.set_config("PS_MAIL_METHOD", method)
    for row in state.rows("order_states"):
        state.update("order_states", int(row["id"]), send_email=send_email)
    return Simulator(state, flavour="8.1", api_key=GOOD_KEY)


def test_the_order_confirmation_is_a_duplicate_even_with_every_status_unticked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # PaymentModule::validateOrder sends `order_conf` whatever the statuses say: only
    # PS_MAIL_METHOD = 3 stops it.
    with own_mail_shop("1", send_email=False) as simulator:
        code, out, _err = run_check(tmp_path, capsys, simulator.url, GOOD_KEY)
    assert code == 0
    [warning] = [line for line in out.splitlines() if "sends its own emails" in line]
    assert warning.startswith("warning: the shop still sends its own emails (PS_MAIL_METHOD=1")
    assert "PrestaShop sends its order confirmation whatever the statuses say" in warning
    assert "customers get two order confirmations." in warning
    assert "Advanced Parameters → E-mail → 'Never send emails'" in warning
    [line] = [line for line in out.splitlines() if line.startswith("Shop mail:")]
    assert "PrestaShop sends its own too: the order confirmation always;" in line


def test_ticked_statuses_are_named_as_duplicates_and_those_only_prestashop_sends_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    silenced = "STATUS_EMAILS=4=none\n"  # the owner wants no 'shipped' email from the bridge
    with own_mail_shop("2", send_email=True) as simulator:
        code, out, _err = run_check(tmp_path, capsys, simulator.url, GOOD_KEY, silenced)
    assert code == 0
    [warning] = [line for line in out.splitlines() if "sends its own emails" in line]
    assert "(PS_MAIL_METHOD=2: its own SMTP settings)" in warning
    assert "customers get two order confirmations, and two emails for 10 statuses (" in warning
    [line] = [line for line in out.splitlines() if line.startswith("Shop mail:")]
    assert (
        "; only PrestaShop sends those of 2 statuses (Shipped, Awaiting Cash On Delivery validation);" in line
    )
    assert "the bridge sends the order confirmation and the emails of 11 statuses" in line


def test_an_unreachable_shop_exits_69(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, _out, err = run_check(tmp_path, capsys, f"http://127.0.0.1:{port}", GOOD_KEY)
    assert code == 69
    assert "127.0.0.1" in err


def test_invalid_settings_exit_78_naming_each_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = tmp_path / "bad.env"
    env.write_text("PRESTASHOP_URL=ftp://shop\nSMTP_PORT=abc\n")
    code = main(["--env-file", str(env), "check"])
    _out, err = capsys.readouterr()
    assert code == 78
    assert "PRESTASHOP_URL" in err and "SMTP_PORT" in err


def test_check_with_no_configuration_names_prestashop_url_instead_of_using_the_demo_shop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["check"])
    out, err = capsys.readouterr()
    assert code == 78
    assert "PRESTASHOP_URL" in err and str(tmp_path / ".env") in err
    assert "Europe/Warsaw" not in out


def test_check_says_what_marketing_mail_will_do_and_that_it_is_off_without_an_unsubscribe_url(
    shop: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _code, out, _err = run_check(tmp_path, capsys, shop.url, GOOD_KEY)
    assert "Marketing:  off (set UNSUBSCRIBE_URL" in out
    code, out, _err = run_check(
        tmp_path, capsys, shop.url, GOOD_KEY, "UNSUBSCRIBE_URL=https://sklep.example.pl/wypisz\n"
    )
    assert code == 0
    assert "Marketing:  cart reminders after 1h, 1d, 3d; review requests 14 days after delivery" in out


def test_unique_discount_codes_need_a_key_that_may_create_cart_rules(
    shop: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marketing = "UNSUBSCRIBE_URL=https://sklep.example.pl/wypisz\nCART_DISCOUNT=unique\n"
    _code, out, _err = run_check(tmp_path, capsys, shop.url, GOOD_KEY, marketing)
    assert "warning: CART_DISCOUNT=unique, but the key may not create discount codes" in out
    _code, out, _err = run_check(tmp_path, capsys, shop.url, CODES_KEY, marketing)
    assert "CART_DISCOUNT=unique" not in out
