"""Logging: one line per event, and no secret survives into any output."""

from __future__ import annotations

import base64
import io
import logging
import re
from collections.abc import Iterator
from datetime import datetime

import pytest

from bridge.logs import setup_logging
from bridge.secret import Secret

API_KEY = "APIKEY-0123456789-abcdefghijklmn"
PASSWORD = "qwertyuiopasdfgh"
log = logging.getLogger("bridge.test")


@pytest.fixture(autouse=True)
def restore_root_logger(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("apscheduler").setLevel(logging.NOTSET)


def logged_to_buffer(level: str = "INFO") -> io.StringIO:
    buffer = io.StringIO()
    setup_logging(level, [Secret(API_KEY), Secret(PASSWORD), Secret("")], stream=buffer)
    return buffer


def test_a_secret_in_the_arguments_and_the_exception_text_is_redacted() -> None:
    buffer = logged_to_buffer()
    try:
        raise RuntimeError(f"shop refused https://sklep.example.pl/api/?ws_key={API_KEY}")
    except RuntimeError:
        log.exception("reading orders with key %s failed (password %r)", API_KEY, PASSWORD)
    output = buffer.getvalue()
    assert API_KEY not in output and PASSWORD not in output
    assert "reading orders with key *** failed (password '***')" in output
    assert "RuntimeError: shop refused https://sklep.example.pl/api/?ws_key=***" in output


def test_the_http_basic_authorization_header_is_redacted() -> None:
    buffer = logged_to_buffer()
    header = "Basic " + base64.b64encode(f"{API_KEY}:".encode()).decode()
    log.warning("sent Authorization: %s", header)
    assert buffer.getvalue().endswith("WARNING bridge.test: sent Authorization: Basic ***\n")


def test_the_smtp_auth_plain_form_with_any_user_name_is_redacted() -> None:
    buffer = logged_to_buffer()
    for user in ("zofia@gmail.com", "z", "zo"):  # every alignment of the password inside the base64
        encoded = base64.b64encode(f"\0{user}\0{PASSWORD}".encode()).decode()
        log.info("send: AUTH PLAIN %s", encoded)
        token = buffer.getvalue().splitlines()[-1].rsplit(" ", 1)[-1]
        before, after = token.split("***")
        # What is left visible are the two base64 groups that mix the password with its neighbours:
        # they give away at most two of its letters at either end.
        assert PASSWORD[:3] not in base64.b64decode(before).decode("latin-1")
        assert PASSWORD[-3:] not in base64.b64decode(after).decode("latin-1")


def test_records_seen_by_other_handlers_are_redacted_too(caplog: pytest.LogCaptureFixture) -> None:
    logged_to_buffer()
    log.warning("password is %s", PASSWORD)
    assert PASSWORD not in caplog.text
    assert "password is ***" in caplog.text


def test_calling_setup_twice_does_not_print_lines_twice() -> None:
    first = io.StringIO()
    setup_logging("INFO", [], stream=first)
    second = logged_to_buffer()
    log.info("polled the shop")
    assert first.getvalue() == ""
    assert second.getvalue().count("polled the shop") == 1
    assert [handler.get_name() for handler in logging.getLogger().handlers].count("bridge") == 1


def test_lines_start_with_an_iso_timestamp_outside_systemd() -> None:
    buffer = logged_to_buffer()
    log.info("polled the shop")
    stamp, rest = buffer.getvalue().split(" ", 1)
    assert rest == "INFO bridge.test: polled the shop\n"
    assert datetime.fromisoformat(stamp).tzinfo is not None


def test_under_journald_lines_carry_a_priority_and_no_timestamp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "8:123456")
    buffer = logged_to_buffer()
    log.warning("Gmail refused the app password")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("a bug")
    lines = buffer.getvalue().splitlines()
    assert lines[0] == "<4>WARNING bridge.test: Gmail refused the app password"
    assert lines[1] == "<3>ERROR bridge.test: a bug"
    assert all(line.startswith("<3>  ") for line in lines[2:]) and lines[-1] == "<3>  ValueError: boom"


def test_a_line_break_in_shop_data_cannot_forge_a_log_line() -> None:
    buffer = logged_to_buffer()
    log.info("customer %s", "Ann\nERROR bridge.delivery.smtp: Gmail refused the app password")
    assert buffer.getvalue().count("\n") == 1
    assert "customer Ann\\nERROR bridge.delivery.smtp" in buffer.getvalue()


def test_the_level_hides_debug_lines_and_the_scheduler_chatter() -> None:
    buffer = logged_to_buffer("info")
    log.debug("raw response")
    logging.getLogger("apscheduler.executors.default").info("Job executed successfully")
    log.info("kept")
    assert re.findall(r"bridge\.test: (\w+)", buffer.getvalue()) == ["kept"]
    assert "apscheduler" not in buffer.getvalue()


def test_logging_goes_to_stderr_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("INFO", [Secret(API_KEY)])
    log.error("key %s refused", API_KEY)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.endswith("ERROR bridge.test: key *** refused\n")


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level 'LOUD'"):
        setup_logging("LOUD", [])
