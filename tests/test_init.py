"""`bridge init` as an owner meets it: a real terminal session (a pseudo-terminal driven with pexpect), the
webservice simulator standing in for the shop and the Gmail-like SMTP server for Gmail, on 127.0.0.1.

The wizard runs as the `bridge` process would (`python -m bridge init`). The SMTP server's certificate comes
from a test CA, which the wizard is told about as an owner of a private relay would tell it: SMTP_CA_FILE
in the environment (an extra CA; certificates are still verified).
"""

from __future__ import annotations

import io
import os
import re
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import redirect_stderr
from dataclasses import dataclass
from pathlib import Path

import pexpect
import pytest

from bridge.cli import main
from bridge.commands.cron import cron_line
from bridge.commands.init import InitOptions, run_init
from bridge.commands.init.envfile import quote, render
from bridge.commands.init.prompts import ScriptedTerminal
from bridge.commands.init.running import SERVICE_ENV, SERVICE_STATE, Host, install_service, state_dir_for
from bridge.commands.init.texts import system_language
from bridge.config import read_env_file, setting_names
from bridge.simulator import Simulator
from bridge.simulator.demo_shop import build_demo_state
from tests.smtp_server import DEFAULT_PASSWORD, DEFAULT_USERNAME, GmailLikeServer, gmail_like_server

GOOD_KEY = "INITKEY0INITKEY0INITKEY0INITKEY0"
WRONG_KEY = "WRONGKEYWRONGKEYWRONGKEYWRONGKEY"
WRONG_PASSWORD = "wrongwrongwrongw"
OWNER = "owner@example.pl"
WAIT = 60  # seconds a prompt may take to appear: generous, a loaded machine is not a failure


@pytest.fixture(scope="module")
def shop() -> Iterator[Simulator]:
    with Simulator(build_demo_state(), flavour="8.1", api_key=GOOD_KEY) as simulator:
        yield simulator


@pytest.fixture
def smtp() -> Iterator[GmailLikeServer]:
    with gmail_like_server() as server:
        yield server


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The developer's own settings must not leak in; `bridge check` below runs here too."""
    for name in [*setting_names(), "BRIDGE_IMAGE", "SSL_CERT_FILE", "SSL_CERT_DIR"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@dataclass
class Owner:
    """The owner at a terminal: `bridge init` in a pseudo-terminal, and what it printed."""

    child: pexpect.spawn
    transcript: io.StringIO

    def answer(self, prompt: str, reply: str) -> None:
        self.child.expect_exact(prompt, timeout=WAIT)
        self.child.sendline(reply)

    def sees(self, text: str) -> None:
        self.child.expect_exact(text, timeout=WAIT)

    def finish(self) -> int:
        self.child.expect(pexpect.EOF, timeout=WAIT)
        self.child.close()
        assert self.child.exitstatus is not None, self.transcript.getvalue()
        return int(self.child.exitstatus)


def spawn(tmp_path: Path, smtp: GmailLikeServer, *args: str, lang: str = "en_GB.UTF-8") -> Owner:
    ca_file = tmp_path / "test-ca.pem"
    smtp.ca.cert_pem.write_to_path(str(ca_file))
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in setting_names() and name not in {"BRIDGE_IMAGE", "LC_ALL", "LC_MESSAGES", "LANGUAGE"}
    }
    env.update(LANG=lang, SMTP_CA_FILE=str(ca_file), PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    transcript = io.StringIO()
    child = pexpect.spawn(
        sys.executable,
        ["-m", "bridge", *args, "init"],
        cwd=str(tmp_path),
        env=env,
        encoding="utf-8",
        timeout=WAIT,
        dimensions=(50, 200),
    )
    child.logfile_read = transcript
    return Owner(child, transcript)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def check_message(tmp_path: Path, values: dict[str, str]) -> tuple[int, str]:
    """What `bridge check` says (exit code, the line after `bridge: `) for these settings."""
    env = tmp_path / "check.env"
    env.write_text("".join(f"{name}={quote(value)}\n" for name, value in values.items()), encoding="utf-8")
    env.chmod(0o600)
    err = io.StringIO()
    with redirect_stderr(err):
        code = main(["--env-file", str(env), "check"])
    env.unlink()
    [line] = err.getvalue().strip().splitlines()
    assert line.startswith("bridge: ")
    return code, line.removeprefix("bridge: ")


def shop_values(url: str, key: str = GOOD_KEY) -> dict[str, str]:
    return {
        "PRESTASHOP_URL": url,
        "PRESTASHOP_API_KEY": key,
        "PRESTASHOP_RETRIES": "0",
        "MAIL_TRANSPORT": "file",
        "MAIL_FROM": "shop@example.com",
    }


def smtp_values(shop: Simulator, smtp: GmailLikeServer, tmp_path: Path, password: str) -> dict[str, str]:
    return {
        "PRESTASHOP_URL": shop.url,
        "PRESTASHOP_API_KEY": GOOD_KEY,
        "SMTP_HOST": smtp.host,
        "SMTP_PORT": str(smtp.port),
        "SMTP_USERNAME": DEFAULT_USERNAME,
        "SMTP_PASSWORD": password,
        "SMTP_CA_FILE": str(tmp_path / "test-ca.pem"),
    }


# --- the terminal session -------------------------------------------------------------------------------


def test_each_refusal_is_caught_at_its_step_with_checks_words_and_the_fixed_run_writes_a_working_env(
    shop: Simulator, smtp: GmailLikeServer, tmp_path: Path
) -> None:
    nowhere = f"http://127.0.0.1:{closed_port()}"
    owner = spawn(tmp_path, smtp)
    owner.sees("Ctrl-C stops without writing anything")
    # Step 1: an unreachable shop, then a wrong key; each is asked again, the answers kept as defaults.
    owner.answer("Shop address (like https://shop.example.com): ", nowhere)
    owner.answer("Webservice key (32 characters, not shown): ", GOOD_KEY)
    code, unreachable = check_message(tmp_path, shop_values(nowhere))
    assert code == 69
    owner.sees(f"Problem: {unreachable}")
    owner.answer(f"Shop address (like https://shop.example.com) [{nowhere}]: ", shop.url)
    owner.answer("Webservice key (32 characters, not shown) (Enter keeps the one typed before): ", WRONG_KEY)
    code, wrong_key = check_message(tmp_path, shop_values(shop.url, WRONG_KEY))
    assert code == 77 and "PRESTASHOP_API_KEY" in wrong_key
    owner.sees(f"Problem: {wrong_key}")
    owner.answer(f"[{shop.url}]: ", "")
    owner.answer("(Enter keeps the one typed before): ", GOOD_KEY)
    owner.sees(f"Shop: {shop.url} (PrestaShop 8.1.2), time zone Europe/Warsaw")
    # Step 2: Gmail's app-password steps, a refused password, asked again.
    owner.answer("Sending address (your Gmail or Google Workspace address): ", DEFAULT_USERNAME)
    owner.answer(
        "SMTP server (host, or host:port; Gmail: smtp.gmail.com) [smtp.gmail.com]: ",
        f"{smtp.host}:{smtp.port}",
    )
    owner.answer("Password (not shown): ", WRONG_PASSWORD)
    code, refused = check_message(tmp_path, smtp_values(shop, smtp, tmp_path, WRONG_PASSWORD))
    assert code == 75 and "535 5.7.8" in refused
    # Word for word, up to the server's reply, whose session id differs from one connection to the next.
    said, _, reply = refused.partition(" (server said: 535 5.7.8 ")
    assert reply
    owner.sees(f"Problem: {said} (server said: 535 5.7.8 ")
    owner.answer(f"[{DEFAULT_USERNAME}]: ", "")
    owner.answer(f"[{smtp.host}:{smtp.port}]: ", "")
    owner.answer("Password (not shown) (Enter keeps the one typed before): ", DEFAULT_PASSWORD)
    owner.sees(f"Logged in: SMTP {smtp.host}:{smtp.port}: connected over TLS")
    # Step 3: the test email.
    owner.answer(f"Send a test email to (your own address) [{DEFAULT_USERNAME}]: ", OWNER)
    owner.sees(f"Sent to {OWNER}.")
    # Step 4 and the end: the file, then the cron line for this machine (no systemd, not the image).
    env = tmp_path / ".env"
    owner.sees(f"Saved {env}")
    expected = [cron_line(env)] if not Host.detect().systemd else []
    assert owner.finish() == 0, owner.transcript.getvalue()
    transcript = owner.transcript.getvalue()
    assert all(line in transcript for line in expected)
    for secret in (GOOD_KEY, WRONG_KEY, DEFAULT_PASSWORD, WRONG_PASSWORD):
        assert secret not in transcript, "typed secrets are not echoed"

    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    values, problems = read_env_file(env)
    assert problems == []
    assert values["PRESTASHOP_URL"] == shop.url and values["PRESTASHOP_API_KEY"] == GOOD_KEY
    assert (values["SMTP_USERNAME"], values["SMTP_PASSWORD"]) == (DEFAULT_USERNAME, DEFAULT_PASSWORD)
    assert values["SMTP_CA_FILE"] == str(tmp_path / "test-ca.pem")
    assert values["ADMIN_EMAIL"] == OWNER
    assert values["STATE_DIR"] == str(tmp_path / "state")
    lines = env.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        if "=" in line and not line.startswith("#"):
            assert lines[index - 1].startswith("# "), f"{line.split('=')[0]} has no comment"
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".env.")] == []
    [test_email] = smtp.messages
    assert test_email.recipients == (OWNER,) and "[TEST]" in str(test_email.message["Subject"])
    # The written file is one `bridge check` accepts, and `bridge sync` can start from.
    assert main(["--env-file", str(env), "check"]) == 0
    assert not (tmp_path / "state").exists(), "the wizard and check create no state store"


def test_ctrl_c_mid_way_leaves_no_env_and_the_wizard_speaks_the_systems_polish(
    shop: Simulator, smtp: GmailLikeServer, tmp_path: Path
) -> None:
    owner = spawn(tmp_path, smtp, lang="pl_PL.UTF-8")
    owner.answer("Adres sklepu (np. https://sklep.example.pl): ", shop.url)
    owner.answer("Klucz webservice (32 znaki, niewidoczne): ", GOOD_KEY)
    owner.sees(f"Sklep: {shop.url} (PrestaShop 8.1.2)")
    owner.sees("Adres nadawcy")
    owner.child.sendintr()
    owner.sees("Przerwano: niczego nie zapisano.")
    assert owner.finish() == 130
    assert sorted(path.name for path in tmp_path.iterdir()) == ["test-ca.pem"]


def test_an_existing_env_is_kept_on_no_and_on_ctrl_c_after_yes(
    shop: Simulator, smtp: GmailLikeServer, tmp_path: Path
) -> None:
    env = tmp_path / ".env"
    env.write_text("PRESTASHOP_URL=https://old.example.com\n", encoding="utf-8")
    env.chmod(0o600)
    owner = spawn(tmp_path, smtp)
    owner.answer(f"{env} already exists. Replace it with the new settings? [y/N] ", "")
    owner.sees(f"Nothing changed: {env} stays as it was.")
    assert owner.finish() == 1
    assert env.read_text(encoding="utf-8") == "PRESTASHOP_URL=https://old.example.com\n"

    owner = spawn(tmp_path, smtp)
    owner.answer("[y/N] ", "y")
    # The replaced file's address is offered as the default; Ctrl-C still changes nothing.
    owner.sees("Shop address (like https://shop.example.com) [https://old.example.com]: ")
    owner.child.sendintr()
    assert owner.finish() == 130
    assert env.read_text(encoding="utf-8") == "PRESTASHOP_URL=https://old.example.com\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == [".env", "test-ca.pem"]


def test_without_a_terminal_it_asks_for_from_env(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "init", "--lang", "en"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=WAIT,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert result.returncode == 64
    assert "run it in a terminal, or pass --from-env" in result.stderr
    assert not (tmp_path / ".env").exists()


# --- the same checks without questions (scripts) -------------------------------------------------------


def from_env(
    monkeypatch: pytest.MonkeyPatch, shop: Simulator, smtp: GmailLikeServer, tmp_path: Path, **changes: str
) -> None:
    smtp.ca.cert_pem.write_to_path(str(tmp_path / "test-ca.pem"))
    for name, value in {**smtp_values(shop, smtp, tmp_path, DEFAULT_PASSWORD), **changes}.items():
        monkeypatch.setenv(name, value)


def test_from_env_runs_the_same_checks_and_writes_the_file(
    shop: Simulator,
    smtp: GmailLikeServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from_env(monkeypatch, shop, smtp, tmp_path)
    env = tmp_path / "bridge.env"
    assert main(["--env-file", str(env), "init", "--from-env", "--lang", "en", "--test-email", OWNER]) == 0
    out = capsys.readouterr().out
    assert f"Sent to {OWNER}." in out and f"Saved {env}" in out
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    values, _ = read_env_file(env)
    assert values["ADMIN_EMAIL"] == OWNER and values["DEFAULT_LANGUAGE"] == "pl"
    assert values["MAIL_FROM"].endswith(f"<{DEFAULT_USERNAME}>")
    # A second run does not replace it without --yes.
    assert main(["--env-file", str(env), "init", "--from-env"]) == 78
    assert "pass --yes to replace it" in capsys.readouterr().err


def test_from_env_stops_at_a_wrong_key_with_checks_exit_code_and_writes_nothing(
    shop: Simulator,
    smtp: GmailLikeServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from_env(monkeypatch, shop, smtp, tmp_path, PRESTASHOP_API_KEY=WRONG_KEY)
    code, wrong_key = check_message(tmp_path, shop_values(shop.url, WRONG_KEY))
    capsys.readouterr()
    assert main(["--env-file", str(tmp_path / "bridge.env"), "init", "--from-env"]) == code == 77
    assert capsys.readouterr().err.strip() == f"bridge: {wrong_key}"
    assert not (tmp_path / "bridge.env").exists()


# --- the parts ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["plain", "Sklep Zofii <s@gmail.com>", "pa#ss wo #rd", 'it\'s "quoted"', "'lead", "back\\slash", " x "],
)
def test_every_value_reads_back_exactly_as_written(value: str, tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(f"MAIL_FROM={quote(value)}\n", encoding="utf-8")
    assert read_env_file(env) == ({"MAIL_FROM": value}, [])
    assert (quote(value) == value) == (
        value in {"plain", "Sklep Zofii <s@gmail.com>", 'it\'s "quoted"', "back\\slash"}
    )


def test_the_file_names_each_value_in_the_owners_language() -> None:
    from datetime import UTC, datetime

    text = render({"PRESTASHOP_URL": "https://sklep.pl", "STATE_DIR": "/srv/state"}, "pl", datetime.now(UTC))
    assert "# Adres sklepu; most czyta go przez webservice (/api).\nPRESTASHOP_URL=https://sklep.pl" in text
    assert text.startswith("# Most pocztowy PrestaShop: ustawienia zapisane przez `bridge init`")


def test_the_system_locale_chooses_the_language() -> None:
    assert system_language({"LANG": "pl_PL.UTF-8"}) == "pl"
    assert system_language({"LC_ALL": "en_US.UTF-8", "LANG": "pl_PL.UTF-8"}) == "en"
    assert system_language({"LC_MESSAGES": "pl_PL"}) == "pl"
    assert system_language({}) == "en"


def test_the_service_is_installed_as_the_guide_says_with_the_state_in_var_lib(tmp_path: Path) -> None:
    ran: list[list[str]] = []
    env = tmp_path / ".env"
    done = install_service(env, run=ran.append, user_exists=False)
    assert ran[0][:2] == ["useradd", "--system"] and ran[0][-1] == "prestashop-mail-bridge"
    assert ["install", "-m", "0640", "-g", "prestashop-mail-bridge", str(env), SERVICE_ENV] in ran
    assert ran[-2:] == [["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", "bridge.service"]]
    assert len(done) == len(ran)
    assert state_dir_for("systemd", env) == SERVICE_STATE
    assert state_dir_for("container", env) is None
    assert state_dir_for("cron", env) == str(tmp_path / "state")


def test_the_wizard_asks_before_installing_the_service_and_installs_it_on_yes(
    shop: Simulator, smtp: GmailLikeServer, tmp_path: Path
) -> None:
    ca = tmp_path / "test-ca.pem"
    smtp.ca.cert_pem.write_to_path(str(ca))
    answers = [shop.url, GOOD_KEY, DEFAULT_USERNAME, f"{smtp.host}:{smtp.port}", DEFAULT_PASSWORD, OWNER, "y"]
    terminal = ScriptedTerminal.of(answers)
    ran: list[list[str]] = []
    options = InitOptions(target=tmp_path / ".env", language="en", smtp_ca_file=str(ca))
    host = Host(image=None, systemd=True, root=True)
    assert run_init(options, terminal, environ={}, host=host, run=ran.append) == 0
    said = "\n".join(terminal.said)
    assert "Install the bridge as a service now" in said
    assert ["systemctl", "enable", "--now", "bridge.service"] in ran
    assert read_env_file(tmp_path / ".env")[0]["STATE_DIR"] == SERVICE_STATE
    assert "journalctl -u bridge -f" in said


def test_in_the_bridges_image_it_ends_with_the_container_command(
    shop: Simulator, smtp: GmailLikeServer, tmp_path: Path
) -> None:
    ca = tmp_path / "test-ca.pem"
    smtp.ca.cert_pem.write_to_path(str(ca))
    answers = [shop.url, GOOD_KEY, DEFAULT_USERNAME, f"{smtp.host}:{smtp.port}", DEFAULT_PASSWORD, OWNER]
    terminal = ScriptedTerminal.of(answers)
    options = InitOptions(target=tmp_path / ".env", language="en", smtp_ca_file=str(ca))
    host = Host.detect({"BRIDGE_IMAGE": "prestashop-mail-bridge"})
    assert run_init(options, terminal, environ={}, host=host) == 0
    assert re.search(r"docker run -d .*--env-file \.env .*prestashop-mail-bridge$", terminal.said[-1])
    assert "STATE_DIR" not in read_env_file(tmp_path / ".env")[0], "the image's STATE_DIR applies"
