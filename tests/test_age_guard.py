"""Safe catch-ups, end to end: the age guard holds an order email whose shop event is older than
MAX_EMAIL_AGE until the owner releases it, and `bridge sync --since` shows what it would queue and queues
nothing before the owner agrees.

Real parts only: the webservice simulator, the Gmail-like SMTP server, the SQLite state store; the owner's
commands run through `bridge.cli.main` on the world's clock.
"""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest

from bridge.cli import main
from bridge.model.cursors import Cursors
from bridge.state import cursors
from bridge.state.outbox import Status, list_rows
from tests.conftest import World
from tests.test_cli_outbox import bridge, clean_environment, env_file
from tests.test_sync import customer, order, started

__all__ = ["clean_environment"]  # the autouse fixture: no owner's environment leaks into these commands

SINCE = "2026-11-20"  # a week of the demo shop's history before the test's start


def test_an_order_older_than_max_email_age_is_held_listed_and_sent_once_released(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = started(world).shop
    old_id = order(shop, customer(shop), "przelewy24")  # paid by card at checkout: one confirmation
    old_reference = shop.order_ref(old_id)
    shop.advance(timedelta(days=3))  # the bridge was stopped for three days
    order(shop, customer(shop, "Jan", "Kowalski", "jan@example.com"), "przelewy24")
    shop.advance(30)

    summary = world.sync()
    assert (summary.poll.queued, summary.poll.held, summary.delivery.sent) == (1, 1, 1)
    assert "1 held (older than MAX_EMAIL_AGE" in summary.line()
    assert [str(m["To"]) for m in world.mail()] == ["Jan Kowalski <jan@example.com>"]
    [held] = list_rows(world.store, status=Status.HELD)
    assert (held.order_id, held.kind) == (old_id, "order_confirmation")
    assert world.sync().delivery.sent == 0  # never claimed while held

    code, out, _ = bridge(world, capsys, "status")
    assert code == 0
    assert "1 held" in out
    assert "problem: 1 order email(s) held" in out and "bridge outbox release --held" in out
    code, out, _ = bridge(world, capsys, "explain", "order", old_reference)
    assert code == 0
    assert f"#{held.id}  order_confirmation: held: not sent until you release it" in out
    assert (
        "why held    the event is 3 days old; older than MAX_EMAIL_AGE=48h;"
        f" release with: bridge outbox release {held.id}"
    ) in out
    code, out, _ = bridge(world, capsys, "outbox", "list", "--status", "held")
    assert code == 0 and f"{held.id}  held" in out

    code, out, _ = bridge(world, capsys, "outbox", "release", str(held.id))
    assert code == 0 and f"Email #{held.id} (order_confirmation for order {old_reference}) is released" in out
    assert world.sync().delivery.sent == 1
    assert len(world.mail_to("zofia@example.com")) == 1
    assert world.sync().delivery.sent == 0
    assert bridge(world, capsys, "outbox", "release", "--held")[1] == "No email is held.\n"


def test_release_names_what_it_cannot_release_and_release_held_sends_them_all(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = started(world).shop
    for who in ("ala@example.com", "ola@example.com"):
        order(shop, customer(shop, "Ala", "Nowak", who), "przelewy24")
    shop.advance(timedelta(days=2, minutes=1))
    assert world.sync().poll.held == 2
    first, second = sorted(row.id for row in list_rows(world.store, status=Status.HELD))

    code, _, err = bridge(world, capsys, "outbox", "release")
    assert code == 64 and "--held" in err
    code, _, err = bridge(world, capsys, "outbox", "release", str(first), "999")
    assert code == 66 and "no email #999" in err
    assert len(list_rows(world.store, status=Status.HELD)) == 2  # nothing released by a refused command
    code, out, _ = bridge(world, capsys, "outbox", "release", "--held")
    assert code == 0 and f"Email #{first} " in out and f"Email #{second} " in out
    code, _, err = bridge(world, capsys, "outbox", "release", str(first))
    assert code == 65 and "is not held" in err
    assert world.sync().delivery.sent == 2


def test_a_held_email_can_be_cancelled_instead(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    shop = started(world).shop
    order(shop, customer(shop), "przelewy24")
    shop.advance(timedelta(days=5))
    world.sync()
    [held] = list_rows(world.store, status=Status.HELD)
    assert bridge(world, capsys, "outbox", "cancel", str(held.id))[0] == 0
    shop.advance(60)
    assert world.sync().delivery.sent == 0
    assert world.mail() == []


def test_max_email_age_zero_sends_an_old_order_as_before(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = started(world).shop
    order(shop, customer(shop), "przelewy24")
    shop.advance(timedelta(days=5))
    env = env_file(world)
    env.write_text(env.read_text() + "MAX_EMAIL_AGE=0\nMAIL_TRANSPORT=file\n")
    assert main(["--env-file", str(env), "sync"], clock=world.clock) == 0
    assert " 1 queued," in capsys.readouterr().out
    assert [row.kind for row in list_rows(world.store, status=Status.SENT)] == ["order_confirmation"]
    assert list_rows(world.store, status=Status.HELD) == []


# --- sync --since: shown first, queued only once the owner agrees -------------------------------------


def catch_up(
    world: World, capsys: pytest.CaptureFixture[str], *flags: str, answer: str | None = None
) -> tuple[int, str, str]:
    """`bridge sync --since SINCE FLAGS` through the CLI and the real SMTP server; `answer` is typed at a
    terminal when given (otherwise stdin is no terminal, as under a timer)."""
    env = env_file(world)
    bundle = world.settings.state_dir.parent / "smtp-ca.pem"
    world.smtp.ca.cert_pem.write_to_path(str(bundle))
    env.write_text(env.read_text() + f"SMTP_CA_FILE={bundle}\n")
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as patch:
        if answer is not None:
            patch.setattr("sys.stdin", Terminal(answer + "\n"))
        code = main(["--env-file", str(env), "sync", "--since", SINCE, *flags], clock=world.clock)
    out, err = capsys.readouterr()
    return code, out, err


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def stands(world: World) -> Cursors:
    with world.store.read() as conn:
        return cursors.load(conn)


def assert_nothing_happened(world: World, before: Cursors) -> None:
    after = stands(world)
    assert (after.orders, after.carts) == (before.orders, before.carts)
    assert list_rows(world.store) == []
    assert world.mail() == []


def test_sync_since_without_yes_and_without_a_terminal_queues_nothing(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    started(world)
    before = stands(world)
    code, out, err = catch_up(world, capsys)
    assert code == 64
    assert out.startswith(f"Catching up since {SINCE} 00:00")
    assert "nothing was queued or sent" in err and "add --yes" in err
    assert_nothing_happened(world, before)


def test_sync_since_dry_run_lists_counts_and_masked_recipients_and_queues_nothing(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    started(world)
    before = stands(world)
    code, out, _ = catch_up(world, capsys, "--dry-run")
    assert code == 0
    lines = out.splitlines()
    assert "By kind:" in lines and "First emails (order, kind, recipient):" in lines
    counted = lines[lines.index("By kind:") + 1 : lines.index("First emails (order, kind, recipient):")]
    assert any(re.fullmatch(r"  order_confirmation +[1-9][0-9]*", line) for line in counted)
    listed = lines[lines.index("First emails (order, kind, recipient):") + 1 : -1]
    assert listed
    for line in listed:  # reference, kind, and the address masked: never shown whole
        assert re.fullmatch(r"  [A-Z]{9}  [a-z_]+ +[a-z]\*\*\*@example\.com", line) or line.startswith(
            "  … and "
        )
    assert lines[-1] == "dry run: nothing was queued or sent, no cursor moved"
    assert_nothing_happened(world, before)


def test_sync_since_asks_at_a_terminal_and_no_means_nothing(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    started(world)
    before = stands(world)
    code, out, err = catch_up(world, capsys, answer="n")
    assert code == 1
    assert "Queue and send these " in out and " emails? [y/N] " in out
    assert "you answered no" in err
    assert_nothing_happened(world, before)


def test_sync_since_sends_once_confirmed_and_a_catch_up_is_not_held_for_its_age(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    started(world)
    code, out, _ = catch_up(world, capsys, answer="y")
    assert code == 0
    sent = list_rows(world.store, status=Status.SENT)
    assert sent and len(world.mail()) == len(sent)
    assert list_rows(world.store, status=Status.HELD) == []  # a week old, and asked for
    assert f"Queue and send these {len(sent)} emails? [y/N] " in out


def test_sync_since_yes_sends_without_asking(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    started(world)
    code, out, _ = catch_up(world, capsys, "--yes")
    assert code == 0 and "[y/N]" not in out
    assert len(world.mail()) == len(list_rows(world.store, status=Status.SENT)) > 0


def test_yes_and_dry_run_go_with_since(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = bridge(world, capsys, "sync", "--dry-run")
    assert code == 64 and "--since" in err
    assert stands(world).orders.baseline_at is None  # not even a baseline
