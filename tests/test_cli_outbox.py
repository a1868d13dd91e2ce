"""The owner's view from the command line: `bridge outbox …` and `bridge explain order …` after real syncs.

The shop, the Gmail-like SMTP server and the state store are real (the `world` fixture); the commands run
through `bridge.cli.main` with an env file pointing at the same state store, on the world's clock.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.simulator.actions import Shop
from bridge.state.outbox import Status, list_rows
from tests.conftest import SHOP_KEY, World
from tests.smtp_server import DEFAULT_PASSWORD, DEFAULT_USERNAME
from tests.test_sync import customer, order, started

UNKNOWN_USER = "550 5.1.1 The email account that you tried to reach does not exist."


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("PRESTASHOP_", "SMTP_", "MAIL_", "SHOP_", "STATE_", "DATABASE_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def env_file(world: World, *, shop_url: str | None = None) -> Path:
    """The owner's .env for the world's shop, SMTP server and state store (chmod 600: it holds secrets)."""
    env = world.settings.state_dir.parent / "bridge.env"
    env.write_text(
        f"PRESTASHOP_URL={shop_url or world.settings.prestashop_url}\nPRESTASHOP_API_KEY={SHOP_KEY}\n"
        f"SMTP_HOST={world.smtp.host}\nSMTP_PORT={world.smtp.port}\nSMTP_USERNAME={DEFAULT_USERNAME}\n"
        f"SMTP_PASSWORD={DEFAULT_PASSWORD}\nSTATE_DIR={world.settings.state_dir}\n"
    )
    env.chmod(0o600)
    return env


def bridge(
    world: World, capsys: pytest.CaptureFixture[str], *argv: str, shop_url: str | None = None
) -> tuple[int, str, str]:
    """Run `bridge --env-file … ARGV` at the world's time; (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = main(["--env-file", str(env_file(world, shop_url=shop_url)), *argv], clock=world.clock)
    out, err = capsys.readouterr()
    for secret in (DEFAULT_PASSWORD, SHOP_KEY):
        assert secret not in out and secret not in err
    return code, out, err


def new_order(world: World, payment: str = "przelewy24", **who: str) -> tuple[int, str]:
    shop = world.shop
    order_id = order(shop, customer(shop, **who), payment)
    shop.advance(30)
    return order_id, shop.order_ref(order_id)


def only(world: World, order_id: int, kind: str = "order_confirmation") -> int:
    [row] = [r for r in list_rows(world.store, order_id=order_id) if r.kind == kind]
    return row.id


def test_outbox_list_shows_the_sent_confirmation_of_a_new_order(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    started(world)
    order_id, reference = new_order(world)
    world.sync()

    code, out, _ = bridge(world, capsys, "outbox", "list")
    assert code == 0
    header, *rows, footer = out.strip().splitlines()
    assert header.split() == [
        "ID",
        "STATUS",
        "KIND",
        "ORDER",
        "RECIPIENT",
        "CREATED",
        "SENT",
        "TRIES",
        "REASON",
    ]
    [line] = [row for row in rows if "order_confirmation" in row]
    assert line.split()[:5] == [
        str(only(world, order_id)),
        "sent",
        "order_confirmation",
        reference,
        "zofia@example.com",
    ]
    assert "2026-11-27 10:01" in line  # 09:01 UTC, shown in the shop's time zone
    assert line.split()[-1] == "1"  # one attempt, no reason
    assert footer == f"{len(rows)} email(s), newest first; times in Europe/Warsaw"


def test_outbox_list_filters_by_status_and_order_and_says_when_nothing_matches(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    started(world)
    first, _ = new_order(world)
    second, reference = new_order(world, first="Ewa", last="Kowal", email="ewa@example.com")
    world.sync()

    _, out, _ = bridge(world, capsys, "outbox", "list", "--order", reference)
    assert "ewa@example.com" in out and "zofia@example.com" not in out
    _, by_id, _ = bridge(world, capsys, "outbox", "list", "--order", str(second))
    assert by_id == out
    _, limited, _ = bridge(world, capsys, "outbox", "list", "--limit", "1")
    assert len(limited.strip().splitlines()) == 3 and "--limit 2 shows more" in limited
    code, failed, _ = bridge(world, capsys, "outbox", "list", "--status", "failed")
    assert (code, failed) == (0, "No failed emails in the outbox.\n")
    assert first != second


def test_outbox_list_before_the_first_run_says_the_bridge_has_not_run(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = bridge(world, capsys, "outbox", "list")
    assert code == 0
    assert out.startswith("No emails in the outbox.\nThe bridge has not run yet with this state store")


def test_outbox_show_displays_the_attempt_and_gmails_reply(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    started(world)
    order_id, reference = new_order(world)
    world.sync()
    [mail] = world.mail()
    email = only(world, order_id)

    code, out, _ = bridge(world, capsys, "outbox", "show", str(email))
    assert code == 0
    assert out.startswith(f"Email #{email}: order_confirmation for order {reference} (#{order_id})\n")
    fields = dict(
        re.match(r"  ([A-Za-z -]+):\s+(.*)", line).groups()  # type: ignore[union-attr]
        for line in out.splitlines()
        if re.match(r"  [A-Z]", line)
    )
    assert fields["Key"] == f"order_confirmation:order:{order_id}"
    assert fields["Message-ID"] == mail["Message-ID"]
    assert fields["Recipient"] == "Zofia Wiśniewska <zofia@example.com>"
    assert fields["Language"] == "pl"
    assert fields["Status"].startswith("sent 2026-11-27 10:01")
    assert re.fullmatch(r"250 2\.0\.0 OK .* - gsmtp", fields["SMTP reply"])
    assert (fields["Skip reason"], fields["Last error"], fields["Expires"]) == ("-", "-", "never")
    log = out.split("Attempt log:\n", 1)[1]
    assert log.startswith("  1. started   2026-11-27 10:01")
    assert "handed over to the server: yes, at 2026-11-27 10:01" in log
    assert "outcome   sent" in log
    assert re.search(r"SMTP      250 2\.0\.0 OK .* - gsmtp", log)


def test_show_of_an_email_that_does_not_exist_exits_66(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    started(world)
    code, out, err = bridge(world, capsys, "outbox", "show", "#999")
    assert (code, out) == (66, "")
    assert err == "bridge: there is no email #999 in the outbox (see `bridge outbox list`)\n"


def test_a_skipped_email_shows_its_reason_in_list_show_and_explain(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = started(world).shop
    buyer = customer(shop)
    order_id = order(shop, buyer, "przelewy24")
    shop.delete_customer(buyer)
    world.sync()
    reason = f"customer #{buyer} was deleted in the shop"

    _, listed, _ = bridge(world, capsys, "outbox", "list", "--status", "skipped")
    [line] = [row for row in listed.splitlines() if "order_confirmation" in row]
    assert line.split()[:3] == [str(only(world, order_id)), "skipped", "order_confirmation"]
    assert line.endswith(f"0  {reason}")

    _, shown, _ = bridge(world, capsys, "outbox", "show", str(only(world, order_id)))
    assert f"Skip reason: {reason}" in shown
    assert "no message ever carried it" in shown
    assert "Attempt log: none (a skipped email is never sent)" in shown

    code, explained, _ = bridge(world, capsys, "explain", "order", str(order_id))
    assert code == 0
    assert "order_confirmation: not sent: the bridge decided not to write it" in explained
    assert re.search(rf"why not\s+{re.escape(reason)}", explained)


def test_retry_of_a_failed_email_requeues_it_with_the_same_message_id_and_the_next_sync_sends_it(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    started(world)
    order_id, _ = new_order(world)
    world.smtp.script.next_reply("RCPT", UNKNOWN_USER)
    assert world.sync().delivery.failed == 1
    email = only(world, order_id)
    [failed] = list_rows(world.store, status=Status.FAILED)

    _, listed, _ = bridge(world, capsys, "outbox", "list", "--status", "failed")
    [line] = listed.splitlines()[1:-1]
    assert line.split()[:3] == [str(email), "failed", "order_confirmation"]
    assert "550 5.1.1: the recipient's address does not exist" in line

    world.clock.advance(timedelta(hours=2))  # the customer fixed their mailbox
    code, out, _ = bridge(world, capsys, "outbox", "retry", str(email))
    assert code == 0
    assert out.startswith(f"Email #{email} (order_confirmation for order ")
    assert f"It keeps its Message-ID {failed.message_id}" in out
    assert "show it once" in out
    assert "zofia@example.com was blocked after a permanent refusal" in out  # and is no longer

    summary = world.sync()
    assert summary.delivery.sent == 1
    [mail] = world.mail()
    assert mail["Message-ID"] == failed.message_id
    _, shown, _ = bridge(world, capsys, "outbox", "show", str(email))
    assert "Attempts:    2" in shown
    assert "  2. started   2026-11-27 12:0" in shown


def test_retry_refuses_a_sent_email_and_cancel_refuses_it_with_the_day_it_was_sent(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    started(world)
    order_id, _ = new_order(world)
    world.sync()
    email = only(world, order_id)

    code, out, err = bridge(world, capsys, "outbox", "cancel", str(email))
    assert (code, out) == (65, "")
    assert err.startswith(f"bridge: email #{email} was already sent on 2026-11-27 10:01:")
    assert err.rstrip().endswith("it cannot be cancelled")
    code, _, err = bridge(world, capsys, "outbox", "retry", str(email))
    assert code == 65
    assert f"email #{email} was already sent on 2026-11-27 10:01:" in err and "250 2.0.0 OK" in err
    assert len(world.mail()) == 1


def test_an_email_waiting_for_a_retry_can_be_cancelled_and_is_then_not_sent(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    started(world)
    order_id, _ = new_order(world)
    world.smtp.script.next_reply("RCPT", "451 4.3.0 Mail server temporarily rejected message.")
    assert world.sync().delivery.retry == 1
    email = only(world, order_id)

    code, out, _ = bridge(world, capsys, "outbox", "cancel", str(email))
    assert code == 0
    assert "is cancelled: it will not be sent" in out
    world.clock.advance(timedelta(days=1))
    assert world.sync().delivery.sent == 0
    assert world.mail() == []
    _, listed, _ = bridge(world, capsys, "outbox", "list")
    assert "cancelled by the owner" in listed
    code, _, err = bridge(world, capsys, "outbox", "cancel", str(email))
    assert code == 65 and "is already cancelled (cancelled by the owner)" in err


def test_explain_by_id_and_by_reference_lists_the_emails_in_order(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = started(world).shop
    order_id, reference = new_order(world, payment="ps_wirepayment")
    world.sync()
    shop.advance(timedelta(hours=3))
    shop.change_state(order_id, 2)  # payment accepted
    world.sync()
    rows = sorted(list_rows(world.store, order_id=order_id), key=lambda r: r.id)
    assert [r.kind for r in rows] == ["order_confirmation", "awaiting_bank_wire", "payment_accepted"]

    code, by_id, _ = bridge(world, capsys, "explain", "order", str(order_id))
    assert code == 0
    _, by_reference, _ = bridge(world, capsys, "explain", "order", reference.lower())
    assert by_reference == by_id
    lines = by_id.splitlines()
    assert lines[0] == f"Order {reference} (#{order_id}), first seen by the bridge 2026-11-27 10:01:30 CET"
    assert lines[1] == "3 emails, oldest first (times in Europe/Warsaw):"
    headings = [line.split()[:2] for line in lines if line.startswith("  #")]
    assert headings == [[f"#{r.id}", f"{r.kind}:"] for r in rows]
    assert all(f"Message-ID  {r.message_id}" in by_id for r in rows)
    assert by_id.count("→ sent: 250 2.0.0 OK") == 3
    assert "sent 2026-11-27 13:01:30 CET" in by_id  # the payment email, three hours later
    assert by_id.count("template    pl\n") == 3


def test_explain_of_an_order_in_a_language_without_templates_shows_the_fallback(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = started(world).shop
    german = add_language(shop, "de")
    order_id, _ = new_order(world)
    shop.state.update("orders", order_id, id_lang=german)
    world.sync()
    [mail] = world.mail()
    assert str(mail["Subject"]).startswith("Potwierdzenie zamówienia")  # Polish, the DEFAULT_LANGUAGE

    _, explained, _ = bridge(world, capsys, "explain", "order", str(order_id))
    assert "template    language de has no template: sent in pl (DEFAULT_LANGUAGE)" in explained
    _, shown, _ = bridge(world, capsys, "outbox", "show", str(only(world, order_id)))
    assert "Language:    language de has no template: sent in pl (DEFAULT_LANGUAGE)" in shown


def add_language(shop: Shop, iso: str) -> int:
    return shop.state.insert(
        "languages",
        {
            "name": "Deutsch (German)",
            "iso_code": iso,
            "locale": "de-DE",
            "language_code": "de-de",
            "active": True,
            "is_rtl": False,
            "date_format_lite": "d.m.Y",
            "date_format_full": "d.m.Y H:i:s",
        },
    )


def test_explain_of_an_order_from_before_the_first_run_mentions_the_baseline(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    started(world)
    code, out, _ = bridge(world, capsys, "explain", "order", "1")  # one of the shop's historical orders
    assert code == 66
    assert out.startswith("The bridge has never seen order #1: it sent, queued and skipped no email for it.")
    # Only the baseline ran: no shop time zone recorded yet, so the time is in this machine's zone.
    started_at = r"\(first run 2026-11-2[67] \d\d:00:00 \S+, orders up to #6\)"
    assert re.search(rf"already in the shop when the bridge started {started_at}", out)
    assert "orders placed before the first run get no order confirmation" in out

    code, out, _ = bridge(world, capsys, "explain", "order", "NOSUCHREF")
    assert code == 66
    assert "never seen an order with reference NOSUCHREF" in out


def test_the_owners_commands_work_while_the_shop_is_down(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    started(world)
    order_id, reference = new_order(world)
    world.sync()
    down = "http://127.0.0.1:9"  # the discard port: nothing listens there
    for argv in (
        ("outbox", "list"),
        ("outbox", "show", str(only(world, order_id))),
        ("explain", "order", reference),
    ):
        code, out, err = bridge(world, capsys, *argv, shop_url=down)
        assert code == 0, err
        assert reference in out


def test_customer_data_cannot_send_escape_sequences_to_the_owners_terminal(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = started(world).shop
    order_id = order(
        shop, customer(shop, "Zofia\x1b[2J", "Nowak\x1b]0;pwned\x07", "zofia@example.com"), "przelewy24"
    )
    world.sync()
    _, out, _ = bridge(world, capsys, "outbox", "show", str(only(world, order_id)))
    assert "\x1b" not in out and "\x07" not in out
    assert "Zofia\\x1b[2J" in out
