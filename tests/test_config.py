"""Settings: every problem at once, secrets never shown, and config.example.env in step with the table."""

from __future__ import annotations

import dataclasses
import os
import re
from datetime import timedelta
from pathlib import Path

import pytest

from bridge.config import (
    DEMO_MAIL_FROM,
    SETTINGS,
    Settings,
    load_settings,
    parse_bool,
    parse_duration,
    read_env_file,
    setting_names,
)
from bridge.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config.example.env"

API_KEY = "APIKEY-0123456789-abcdefghijklmn"  # 32 characters, easy to spot in any text
APP_PASSWORD = "qwer tyui opas dfgh"  # as Google shows it
SHOP = {
    "PRESTASHOP_URL": "https://sklep.example.pl",
    "PRESTASHOP_API_KEY": API_KEY,
    "SMTP_USERNAME": "zofia@gmail.com",
    "SMTP_PASSWORD": APP_PASSWORD,
}


def problems_of(mapping: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping(mapping)
    return caught.value.problems


# --- defaults ------------------------------------------------------------------------------------------


def test_settings_load_without_a_shop_and_then_mail_no_one() -> None:
    # The owner's store-only and template commands work; commands that read a shop refuse (test_cli).
    settings = Settings.from_mapping({})
    assert settings.shop_configured is False
    assert settings.prestashop_url is None
    assert settings.mail_transport == "file"  # no shop, no customers: test mail goes to files
    assert str(settings.mail_from) == DEMO_MAIL_FROM
    assert settings.warnings == ()


def test_a_gmail_shop_needs_only_url_key_username_and_app_password() -> None:
    settings = Settings.from_mapping(SHOP)
    assert settings.shop_configured is True
    assert settings.prestashop_url == "https://sklep.example.pl"
    assert settings.prestashop_timeout == timedelta(seconds=20)
    assert settings.prestashop_retries == 3
    assert settings.shop_timezone is None
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_security) == (
        "smtp.gmail.com",
        587,
        "starttls",
    )
    assert settings.smtp_timeout == timedelta(seconds=60)
    assert settings.mail_transport == "smtp"
    assert settings.mail_from.addr_spec == "zofia@gmail.com"
    assert settings.smtp_helo_name == "gmail.com"
    assert settings.mail_reply_to is None and settings.admin_email is None
    assert settings.state_dir == Path("state")
    assert settings.mail_file_dir == Path("state/outbox-eml")
    assert settings.database_url == "sqlite:///state/bridge.sqlite3"
    assert settings.poll_interval == timedelta(seconds=60)
    assert settings.log_level == "INFO"
    assert settings.default_language == "pl"
    assert settings.templates_dir is None
    assert settings.daily_send_limit == 400
    assert settings.warnings == ()


def test_settings_cannot_be_changed_after_loading() -> None:
    settings = Settings.from_mapping(SHOP)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.smtp_port = 25  # type: ignore[misc]


def test_systemd_state_directory_is_the_default_state_dir() -> None:
    settings = Settings.from_mapping({**SHOP, "STATE_DIRECTORY": "/var/lib/prestashop-bridge"})
    assert settings.state_dir == Path("/var/lib/prestashop-bridge")
    assert settings.database_url == "sqlite:////var/lib/prestashop-bridge/bridge.sqlite3"
    explicit = Settings.from_mapping({**SHOP, "STATE_DIRECTORY": "/var/lib/x", "STATE_DIR": "/srv/bridge"})
    assert explicit.state_dir == Path("/srv/bridge")


def test_an_empty_value_means_the_default() -> None:
    settings = Settings.from_mapping({**SHOP, "SMTP_PORT": "", "POLL_INTERVAL": "  ", "LOG_LEVEL": ""})
    assert (settings.smtp_port, settings.poll_interval, settings.log_level) == (
        587,
        timedelta(minutes=1),
        "INFO",
    )


# --- problems ------------------------------------------------------------------------------------------


def test_every_problem_is_reported_at_once_and_names_its_setting() -> None:
    problems = problems_of(
        {
            "PRESTASHOP_URL": "ftp://sklep.example.pl",
            "PRESTASHOP_TIMEOUT": "forever",
            "SHOP_TIMEZONE": "europe/warsaw",
            "SMTP_PORT": "abc",
            "SMTP_USERNAME": "zofia@gmail.com",
            "MAIL_FROM": "not an address",
            "LOG_LEVEL": "loud",
            "DEFAULT_LANGUAGE": "de",
            "DAILY_SEND_LIMIT": "0",
            "POLL_INTERVAL": "1s",
        }
    )
    assert "SMTP_PORT: must be a whole number between 1 and 65535, got 'abc'" in problems
    assert "SHOP_TIMEZONE: must be a time zone name like Europe/Warsaw, got 'europe/warsaw';" in " ".join(
        problems
    )
    assert any("did you mean Europe/Warsaw?" in problem for problem in problems)
    named = [problem.split(":", 1)[0] for problem in problems]
    assert set(named) == {
        "PRESTASHOP_URL",
        "PRESTASHOP_TIMEOUT",
        "SHOP_TIMEZONE",
        "SMTP_PORT",
        "SMTP_PASSWORD",
        "MAIL_FROM",
        "POLL_INTERVAL",
        "LOG_LEVEL",
        "DEFAULT_LANGUAGE",
        "DAILY_SEND_LIMIT",
        "PRESTASHOP_API_KEY",
    }
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping({"SMTP_PORT": "abc", "LOG_LEVEL": "loud"})
    assert str(caught.value).startswith("configuration has 2 problems:")
    assert caught.value.exit_code == 78


def test_a_real_shop_needs_its_api_key_and_smtp_login() -> None:
    problems = problems_of({"PRESTASHOP_URL": "https://sklep.example.pl"})
    assert [problem.split(":", 1)[0] for problem in problems] == [
        "PRESTASHOP_API_KEY",
        "SMTP_USERNAME",
        "SMTP_PASSWORD",
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("60", timedelta(seconds=60)),
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("24h", timedelta(hours=24)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(minutes=90)),
        ("2M", timedelta(minutes=2)),
    ],
)
def test_durations_are_seconds_or_numbers_with_a_unit(raw: str, expected: timedelta) -> None:
    assert parse_duration(timedelta(0), timedelta(days=2))(raw) == expected


@pytest.mark.parametrize("raw", ["1.5h", "-5", "10x", "m", "5 minutes", "3d"])
def test_durations_outside_the_bounds_or_misspelt_are_refused(raw: str) -> None:
    problems = problems_of({"POLL_INTERVAL": raw})
    assert problems == [
        "POLL_INTERVAL: must be a duration between 10s and 1d"
        f" (seconds, or a number with s, m, h or d: 90s, 15m, 24h, 1d), got {raw!r}"
    ]


def test_yes_no_words_parse_as_booleans() -> None:
    assert [parse_bool(word) for word in ("yes", "TRUE", "1", "on")] == [True] * 4
    assert [parse_bool(word) for word in ("no", "False", "0", "off")] == [False] * 4
    with pytest.raises(ValueError, match="must be yes or no"):
        parse_bool("maybe")


def test_the_api_key_length_is_checked_like_prestashop_does() -> None:
    problems = problems_of({**SHOP, "PRESTASHOP_API_KEY": API_KEY[:-1]})
    assert problems == [
        "PRESTASHOP_API_KEY: PrestaShop keys are 32 characters, this one has 31"
        " (copy it again from Advanced Parameters → Webservice)"
    ]


def test_a_pasted_api_path_and_trailing_slash_are_removed_from_the_shop_url() -> None:
    settings = Settings.from_mapping({**SHOP, "PRESTASHOP_URL": "https://Sklep.example.pl/shop/api/"})
    assert settings.prestashop_url == "https://sklep.example.pl/shop"


def test_plain_http_to_a_remote_shop_is_allowed_with_a_warning() -> None:
    remote = Settings.from_mapping({**SHOP, "PRESTASHOP_URL": "http://sklep.example.pl"})
    assert any(w.startswith("PRESTASHOP_URL uses http://") for w in remote.warnings)
    local = Settings.from_mapping({**SHOP, "PRESTASHOP_URL": "http://127.0.0.1:8080"})
    assert local.warnings == ()


def test_an_unknown_time_zone_is_a_problem_and_a_known_one_is_used() -> None:
    assert problems_of({"SHOP_TIMEZONE": "Mars/Olympus"}) == [
        "SHOP_TIMEZONE: must be a time zone name like Europe/Warsaw, got 'Mars/Olympus'"
    ]
    settings = Settings.from_mapping({**SHOP, "SHOP_TIMEZONE": "Europe/Warsaw"})
    assert settings.shop_timezone is not None and settings.shop_timezone.key == "Europe/Warsaw"


def test_templates_dir_must_exist(tmp_path: Path) -> None:
    assert problems_of({"TEMPLATES_DIR": str(tmp_path / "missing")}) == [
        f"TEMPLATES_DIR: must be an existing directory, got {str(tmp_path / 'missing')!r}"
    ]
    assert Settings.from_mapping({"TEMPLATES_DIR": str(tmp_path)}).templates_dir == tmp_path


def test_a_header_injection_in_an_address_is_refused() -> None:
    problems = problems_of({"MAIL_FROM": "shop@example.com\nBcc: everyone@example.com"})
    assert problems == [
        "MAIL_FROM: must not contain control characters or line breaks"
        ", got 'shop@example.com\\nBcc: everyone@example.com'"
    ]


# --- SMTP rules ----------------------------------------------------------------------------------------


def test_ssl_without_a_port_uses_465() -> None:
    settings = Settings.from_mapping({**SHOP, "SMTP_SECURITY": "ssl"})
    assert (settings.smtp_security, settings.smtp_port) == ("ssl", 465)
    assert Settings.from_mapping({**SHOP, "SMTP_SECURITY": "SSL", "SMTP_PORT": "2465"}).smtp_port == 2465


def test_no_encryption_is_refused_for_a_remote_server() -> None:
    problems = problems_of({**SHOP, "SMTP_HOST": "mail.example.pl", "SMTP_SECURITY": "none"})
    assert problems == [
        "SMTP_SECURITY: none is only allowed for a server on this machine (localhost), not mail.example.pl:"
        " the password and every email would travel in clear text"
    ]


def test_a_local_relay_without_encryption_needs_no_login() -> None:
    settings = Settings.from_mapping(
        {
            "PRESTASHOP_URL": "https://sklep.example.pl",
            "PRESTASHOP_API_KEY": API_KEY,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": "2525",
            "SMTP_SECURITY": "none",
            "MAIL_FROM": "Sklep Zofii <sklep@example.pl>",
        }
    )
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_username) == ("127.0.0.1", 2525, None)
    assert settings.smtp_helo_name == "example.pl"


def test_gmail_port_and_security_must_match() -> None:
    assert problems_of({**SHOP, "SMTP_PORT": "465"}) == [
        "SMTP_PORT: Gmail's port 465 does not speak starttls: use SMTP_SECURITY=ssl with port 465,"
        " or starttls with 587"
    ]
    other = Settings.from_mapping({**SHOP, "SMTP_HOST": "mail.example.pl", "SMTP_PORT": "465"})
    assert other.warnings == (
        "SMTP_PORT 465 usually does not speak starttls:"
        " use SMTP_SECURITY=ssl with port 465, or starttls with 587",
    )


def test_the_spaces_google_shows_in_an_app_password_are_removed() -> None:
    settings = Settings.from_mapping(SHOP)
    assert settings.smtp_password is not None
    assert settings.smtp_password.reveal() == "qwertyuiopasdfgh"
    other = Settings.from_mapping({**SHOP, "SMTP_HOST": "mail.example.pl", "SMTP_PASSWORD": "correct horse"})
    assert other.smtp_password is not None and other.smtp_password.reveal() == "correct horse"


def test_a_gmail_password_that_is_not_an_app_password_is_warned_about() -> None:
    settings = Settings.from_mapping({**SHOP, "SMTP_PASSWORD": "MyAccountPassword1"})
    assert settings.warnings == (
        "SMTP_PASSWORD has 18 characters, but Gmail app passwords are 16 letters: Gmail refuses the"
        " account's own password (create one at https://myaccount.google.com/apppasswords)",
    )


def test_a_sender_other_than_the_gmail_account_is_warned_about() -> None:
    settings = Settings.from_mapping({**SHOP, "MAIL_FROM": "Sklep Zofii <sklep@example.pl>"})
    assert settings.mail_from.display_name == "Sklep Zofii"
    assert settings.warnings == (
        "MAIL_FROM (sklep@example.pl) is not SMTP_USERNAME (zofia@gmail.com): Gmail replaces it with the"
        " account's address unless it is a verified 'Send mail as' alias",
    )
    same = Settings.from_mapping({**SHOP, "MAIL_FROM": "Sklep Zofii <Zofia@Gmail.com>"})
    assert same.warnings == ()


def test_mail_from_is_required_when_the_username_is_not_an_address() -> None:
    problems = problems_of({**SHOP, "SMTP_HOST": "mail.example.pl", "SMTP_USERNAME": "zofia"})
    assert problems == ["MAIL_FROM: required, because SMTP_USERNAME (zofia) is not an address"]


# --- secrets from files --------------------------------------------------------------------------------


def test_a_secret_can_come_from_a_file_without_its_trailing_newline(tmp_path: Path) -> None:
    (tmp_path / "key").write_text(API_KEY + "\n")
    settings = Settings.from_mapping(
        {**SHOP, "PRESTASHOP_API_KEY": "", "PRESTASHOP_API_KEY_FILE": str(tmp_path / "key")}
    )
    assert settings.prestashop_api_key is not None
    assert settings.prestashop_api_key.reveal() == API_KEY


def test_a_bare_file_name_is_looked_up_in_the_systemd_credentials_directory(tmp_path: Path) -> None:
    (tmp_path / "smtp-password").write_text("qwertyuiopasdfgh\n")
    settings = Settings.from_mapping(
        {
            **SHOP,
            "SMTP_PASSWORD": "",
            "SMTP_PASSWORD_FILE": "smtp-password",
            "CREDENTIALS_DIRECTORY": str(tmp_path),
        }
    )
    assert settings.smtp_password is not None
    assert settings.smtp_password.reveal() == "qwertyuiopasdfgh"


def test_a_missing_secret_file_is_a_problem_naming_the_file_setting(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    problems = problems_of({**SHOP, "SMTP_PASSWORD": "", "SMTP_PASSWORD_FILE": str(missing)})
    assert problems == [f"SMTP_PASSWORD_FILE: {missing} does not exist"]
    bare = problems_of({**SHOP, "SMTP_PASSWORD": "", "SMTP_PASSWORD_FILE": "smtp-password"})
    assert bare == ["SMTP_PASSWORD_FILE: smtp-password does not exist ($CREDENTIALS_DIRECTORY is not set)"]


def test_setting_a_secret_and_its_file_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "password").write_text("qwertyuiopasdfgh")
    problems = problems_of({**SHOP, "SMTP_PASSWORD_FILE": str(tmp_path / "password")})
    assert problems == ["SMTP_PASSWORD: set either SMTP_PASSWORD or SMTP_PASSWORD_FILE, not both"]


# --- secrets are never shown ---------------------------------------------------------------------------


def assert_hidden(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text
        assert secret.replace(" ", "") not in text
        assert secret[4:-4] not in text  # not even a recognisable middle part


def test_secrets_never_appear_in_repr_str_or_warnings() -> None:
    settings = Settings.from_mapping(
        {
            **SHOP,
            "SMTP_PASSWORD": "MyAccountPassword1",  # draws a warning that talks about the password
            "DATABASE_URL": "postgresql://bridge:DbPassw0rd-xyz@db.example.pl/bridge",
        }
    )
    assert settings.warnings
    texts = [repr(settings), str(settings), *settings.warnings]
    for text in texts:
        assert_hidden(text, API_KEY, "MyAccountPassword1", "DbPassw0rd-xyz")
    assert "Secret('***')" in repr(settings)
    assert [secret.reveal() for secret in settings.secrets()] == [
        API_KEY,
        "MyAccountPassword1",
        "DbPassw0rd-xyz",
    ]


@pytest.mark.parametrize(
    "mapping",
    [
        {**SHOP, "PRESTASHOP_API_KEY": API_KEY + "X", "SMTP_PASSWORD": "MyAccountPassword1\x01"},
        {**SHOP, "PRESTASHOP_API_KEY_FILE": "/nonexistent", "SMTP_PASSWORD_FILE": "/nonexistent"},
        {**SHOP, "PRESTASHOP_URL": f"https://{API_KEY}@sklep.example.pl", "SMTP_PORT": "none"},
        {**SHOP, "PRESTASHOP_URL": f"https://sklep.example.pl/api?ws_key={API_KEY}"},
        {**SHOP, "DATABASE_URL": "postgres:/bridge:DbPassw0rd-xyz@db", "SMTP_USERNAME": ""},
        {**SHOP, "DATABASE_URL": "postgres://bridge:DbPassw0rd-xyz@db\n", "SMTP_USERNAME": ""},
        {**SHOP, "SMTP_PASSWORD": "MyAccountPassword1", "SMTP_PORT": "MyAccountPassword1"},
    ],
    ids=[
        "bad-lengths",
        "both-forms",
        "key-in-url",
        "key-in-query",
        "bad-db-url",
        "db-url-newline",
        "misplaced",
    ],
)
def test_secrets_never_appear_in_configuration_errors(mapping: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping(mapping)
    for text in [str(caught.value), repr(caught.value), *caught.value.problems]:
        assert_hidden(text, API_KEY, "MyAccountPassword1", APP_PASSWORD, "DbPassw0rd-xyz")


# --- loading: .env and the environment -----------------------------------------------------------------


def write_env(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_the_real_environment_beats_the_env_file(tmp_path: Path) -> None:
    env_file = write_env(
        tmp_path / "bridge.env",
        f"PRESTASHOP_URL=https://sklep.example.pl\nPRESTASHOP_API_KEY={API_KEY}\n"
        "SMTP_USERNAME=zofia@gmail.com\nSMTP_PASSWORD='qwer tyui opas dfgh'\n"
        "SMTP_PORT=465\nSMTP_SECURITY=ssl\n",
    )
    settings = load_settings(env_file, environ={"SMTP_PORT": "587", "SMTP_SECURITY": "starttls"})
    assert (settings.smtp_port, settings.smtp_security) == (587, "starttls")
    assert settings.prestashop_url == "https://sklep.example.pl"


def test_the_env_file_in_the_current_directory_is_read_and_os_environ_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_env(tmp_path / ".env", "POLL_INTERVAL=15m\nLOG_LEVEL=debug\n")
    monkeypatch.chdir(tmp_path)
    before = dict(os.environ)
    settings = load_settings(environ={})
    assert (settings.poll_interval, settings.log_level) == (timedelta(minutes=15), "DEBUG")
    assert dict(os.environ) == before


def test_no_env_file_is_fine_but_a_missing_env_file_option_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings.shop_configured is False
    assert settings.env_file == tmp_path / ".env"  # where it looked, for the "no shop" message
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "missing.env", environ={})
    assert caught.value.problems == [f"--env-file: {tmp_path / 'missing.env'} does not exist"]


def test_unknown_keys_in_the_env_file_are_warnings_with_a_guess(tmp_path: Path) -> None:
    env_file = write_env(tmp_path / ".env", "POLL_INTERVAL=2m\nPOLL_INTERVALL=5m\n")
    settings = load_settings(env_file, environ={"SOMETHING_ELSE": "from the environment is not ours"})
    assert settings.warnings == (
        f"POLL_INTERVALL (in {env_file}): not a setting of the bridge; did you mean POLL_INTERVAL?",
    )


def test_unknown_keys_are_listed_with_the_problems_they_probably_cause(tmp_path: Path) -> None:
    env_file = write_env(
        tmp_path / ".env",
        f"PRESTASHOP_URL=https://sklep.example.pl\nPRESTASHOP_API_KEY={API_KEY}\n"
        "SMTP_USERNAME=zofia@gmail.com\nSMTP_PASWORD=qwertyuiopasdfgh\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file, environ={})
    assert caught.value.problems == [
        "SMTP_PASSWORD: required when SMTP_USERNAME is set",
        f"SMTP_PASWORD (in {env_file}): not a setting of the bridge; did you mean SMTP_PASSWORD?",
    ]


def test_a_line_the_env_parser_cannot_read_is_a_problem_that_does_not_quote_it(tmp_path: Path) -> None:
    env_file = write_env(
        tmp_path / ".env", "# comment\n\nSMTP_PASSWORD='unterminated qwerty\nLOG_LEVEL=INFO\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file, environ={})
    assert caught.value.problems == [f"{env_file} line 3: not a NAME=value line (check its quotes)"]
    assert "qwerty" not in str(caught.value)


def test_an_env_file_with_secrets_that_others_can_read_is_warned_about(tmp_path: Path) -> None:
    env_file = write_env(tmp_path / ".env", f"PRESTASHOP_API_KEY={API_KEY}\n")
    env_file.chmod(0o644)
    settings = load_settings(env_file, environ={})
    assert f"{env_file} holds secrets and other users can read it: chmod 600 {env_file}" in settings.warnings


# --- config.example.env is the documentation of the table ----------------------------------------------

SETTING_LINE = re.compile(r"^(?P<commented># )?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")


def documented() -> dict[str, tuple[bool, str, str]]:
    """name → (commented out, value as written, the comment block above it)."""
    entries: dict[str, tuple[bool, str, str]] = {}
    comment: list[str] = []
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = SETTING_LINE.match(line)
        if match:
            assert match["name"] not in entries, f"{match['name']} is documented twice"
            entries[match["name"]] = (bool(match["commented"]), match["value"], " ".join(comment))
            comment = []
        elif line.startswith("#"):
            comment.append(line.lstrip("# "))
        else:
            comment = []
    return entries


def test_the_example_documents_exactly_the_settings_of_the_table() -> None:
    assert set(documented()) == setting_names()
    fields = {field.name for field in dataclasses.fields(Settings)}
    assert fields - {"warnings", "env_file"} == {row.attribute for row in SETTINGS}


def test_every_documented_setting_has_a_comment_block_above_it() -> None:
    for name, (_, _, comment) in documented().items():
        if name.endswith("_FILE"):
            assert name.removesuffix("_FILE") in comment or "instead of" in comment, name
        assert len(comment) > 30, f"{name} has no explanation above it"


def test_the_example_states_the_real_defaults() -> None:
    entries = documented()
    baseline = Settings.from_mapping(SHOP)
    for row in SETTINGS:
        commented, value, _ = entries[row.name]
        if row.placeholder is not None:
            continue
        assert commented, f"{row.name} has a default: it should be commented out"
        assert value == row.default, f"config.example.env says {row.name}={value}, the table {row.default!r}"
        stated = Settings.from_mapping({**SHOP, row.name: value})
        assert stated == baseline, f"{row.name}={value} is not what the bridge does without it"
    for name in setting_names() - {row.name for row in SETTINGS}:
        assert entries[name][:2] == (True, ""), f"{name} has no default: show it as `# {name}=`"


def test_the_example_placeholders_must_be_replaced(tmp_path: Path) -> None:
    values, problems = read_env_file(EXAMPLE)
    assert problems == []
    placeholders = {row.name: row.placeholder for row in SETTINGS if row.placeholder is not None}
    assert {name: values[name] for name in values} == placeholders
    with pytest.raises(ConfigError) as caught:
        load_settings(write_env(tmp_path / ".env", EXAMPLE.read_text()), environ={})
    assert caught.value.problems == [
        f"{name}: still the example value from config.example.env; put your own here" for name in placeholders
    ]


# --- marketing mail ------------------------------------------------------------------------------------


def test_marketing_mail_is_off_until_an_unsubscribe_url_is_set() -> None:
    assert not Settings.from_mapping(SHOP).marketing_enabled
    settings = Settings.from_mapping({**SHOP, "UNSUBSCRIBE_URL": "https://sklep.example.pl/wypisz"})
    assert settings.marketing_enabled
    assert settings.cart_reminders == (timedelta(hours=1), timedelta(hours=24), timedelta(hours=72))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1h,24h,72h", (timedelta(hours=1), timedelta(hours=24), timedelta(hours=72))),
        ("1h,off,72h", (timedelta(hours=1), None, timedelta(hours=72))),
        ("2h", (timedelta(hours=2),)),
        ("off", ()),
    ],
)
def test_cart_reminder_steps_can_be_moved_or_turned_off(
    raw: str, expected: tuple[timedelta | None, ...]
) -> None:
    assert Settings.from_mapping({**SHOP, "CART_REMINDERS": raw}).cart_reminders == expected


@pytest.mark.parametrize(
    ("name", "raw", "says"),
    [
        ("CART_REMINDERS", "24h,1h", "later than the one before"),
        ("CART_REMINDERS", "1h,2h,3h,4h", "at most three"),
        ("CART_REMINDERS", "5m", "between"),
        ("UNSUBSCRIBE_URL", "http://sklep.example.pl/wypisz", "https"),
        ("UNSUBSCRIBE_URL", "https://sklep.example.pl/wypisz#x", "fragment"),
        ("UNSUBSCRIBE_LISTEN", "8787", "host:port"),
        ("MARKETING_CONSENT", "everyone", "newsletter"),
        ("CART_DISCOUNT", "half", "none"),
        ("CART_DISCOUNT_PERCENT", "150", "percentage"),
        ("CART_DISCOUNT_CODE", "WRÓĆ 10", "letters, digits"),
    ],
)
def test_marketing_settings_that_make_no_sense_are_refused_by_name(name: str, raw: str, says: str) -> None:
    [problem] = problems_of({**SHOP, name: raw})
    assert problem.startswith(f"{name}: ") and says in problem


def test_a_shared_discount_needs_its_code() -> None:
    assert problems_of({**SHOP, "CART_DISCOUNT": "shared"}) == [
        "CART_DISCOUNT_CODE: required when CART_DISCOUNT=shared"
    ]


def test_the_unsubscribe_secret_and_the_cookie_key_are_secrets_the_logs_redact() -> None:
    signing = "podpis-linkow-wypisu-Kq7Zr2Xw9Lm4Tn8V"  # strong enough to sign with
    settings = Settings.from_mapping(
        {**SHOP, "UNSUBSCRIBE_SECRET": signing, "SHOP_COOKIE_KEY": "ciasteczkowy-klucz-sklepu"}
    )
    revealed = {secret.reveal() for secret in settings.secrets()}
    assert {signing, "ciasteczkowy-klucz-sklepu"} <= revealed
    assert "podpis-linkow-wypisu" not in repr(settings) and "ciasteczkowy" not in repr(settings)
