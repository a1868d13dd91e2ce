"""Unsubscribing, end to end (issue 7): from the link in a real reminder through the endpoint `bridge run`
serves, or from an email the owner applies with `bridge suppress`, after which no marketing email reaches
the address while its order emails still do."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import requests

from bridge.cli import main
from bridge.state.outbox import Status, list_rows
from bridge.web.unsubscribe import Signer, UnsubscribeServer, load_key
from tests.conftest import SHOP_KEY, World, html_of
from tests.test_cart_reminders import ZOFIA, H, at, customer, left_cart, reminder_mail, reminders, started


def endpoint(world: World) -> UnsubscribeServer:
    """The endpoint as `bridge run` builds it (bridge.service.Service.unsubscribe_server)."""
    from bridge.service import _cancel_marketing

    signer = Signer(load_key(world.settings.state_dir, world.settings.unsubscribe_secret))
    return UnsubscribeServer(
        world.store, signer, world.clock, shop_name="Złota Łąka", after_unsubscribe=_cancel_marketing
    )


def header_link(world: World) -> str:
    [mail] = reminder_mail(world)
    return str(mail["List-Unsubscribe"]).split(">")[0].lstrip("<")


def owner_env(world: World, tmp_path: Path) -> Path:
    env = tmp_path / "bridge.env"
    env.write_text(
        f"PRESTASHOP_URL={world.settings.prestashop_url}\nPRESTASHOP_API_KEY={SHOP_KEY}\n"
        f"MAIL_TRANSPORT=file\nMAIL_FROM=sklep@example.pl\nSTATE_DIR={world.settings.state_dir}\n"
        f"UNSUBSCRIBE_URL={world.settings.unsubscribe_url}\n"
    )
    env.chmod(0o600)
    return env


def later_marketing_reaches_nobody(world: World, left: object) -> None:
    for hours in (25.2, 72.1, 100):
        at(world, left, H(hours))  # type: ignore[arg-type]
    assert [r.context["step"] for r in reminders(world, Status.SENT)] == [1]
    assert len(reminder_mail(world)) == 1


def test_the_one_click_link_of_a_reminder_stops_every_later_marketing_email(world: World) -> None:
    shop = started(world).shop
    zofia = customer(shop)
    left_cart(shop, zofia)
    left = world.clock.now()
    at(world, left, H(1.1))
    link = header_link(world)
    path_and_query = link.split("/unsubscribe", 1)[1]

    with endpoint(world) as server:
        # What Gmail's unsubscribe button does (RFC 8058): a POST with this body, no cookies.
        answer = requests.post(
            server.url.rstrip("/") + "/unsubscribe" + path_and_query,
            data="List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=5,
        )
    assert answer.status_code == 200
    later_marketing_reaches_nobody(world, left)

    # An order email still goes: unsubscribing from marketing is not unsubscribing from the shop.
    cart = shop.create_cart(zofia, [(1, 1)], carrier_id=2)
    shop.place_order(cart, "przelewy24")
    world.sync()
    assert any("Potwierdzenie zamówienia" in str(m["Subject"]) for m in world.mail_to(ZOFIA))


def test_the_visible_link_asks_before_unsubscribing(world: World) -> None:
    shop = started(world).shop
    left_cart(shop, customer(shop))
    left = world.clock.now()
    at(world, left, H(1.1))
    link = header_link(world)
    assert link.replace("&", "&amp;") in html_of(reminder_mail(world)[0])
    query = link.split("?", 1)[1]
    with endpoint(world) as server:
        page = requests.get(f"{server.url}?{query}", timeout=5)
        assert page.status_code == 200 and "<form" in page.text
        assert reminders(world, Status.SENT)  # a GET (a link scanner) unsubscribed nobody
        at(world, left, H(25.2))
        assert len(reminders(world, Status.SENT)) == 2
        confirmed = requests.post(f"{server.url}?{query}", data={"confirm": "1"}, timeout=5)
    assert confirmed.status_code == 200
    for hours in (72.1, 100):
        at(world, left, H(hours))
    assert [r.context["step"] for r in reminders(world, Status.SENT)] == [1, 2]


def test_bridge_suppress_applies_an_unsubscribe_that_reached_the_shop_by_email(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = started(world).shop
    left_cart(shop, customer(shop))
    left = world.clock.now()
    at(world, left, H(1.1))
    [mail] = reminder_mail(world)
    mailto = str(mail["List-Unsubscribe"]).split("<mailto:")[1].rstrip(">")
    subject = mailto.split("subject=", 1)[1].replace("%20", " ")  # what the mail client puts in Subject
    env = owner_env(world, tmp_path)

    assert main(["--env-file", str(env), "suppress", f"Re: {subject}"], clock=world.clock) == 0
    assert f"{ZOFIA} now gets no marketing mail" in capsys.readouterr().out
    later_marketing_reaches_nobody(world, left)

    assert main(["--env-file", str(env), "explain", "address", ZOFIA], clock=world.clock) == 0
    story = capsys.readouterr().out
    assert "unsubscribed from marketing mail" in story and "(mailto)" in story
    assert "consent  newsletter=1 since" in story  # the basis the sent reminder rested on

    assert main(["--env-file", str(env), "suppress", "--list"], clock=world.clock) == 0
    assert ZOFIA in capsys.readouterr().out


def test_bridge_suppress_by_address_cancels_what_waits_and_a_forged_subject_is_refused(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = started(world).shop
    left_cart(shop, customer(shop))
    left = world.clock.now()
    at(world, left, H(1.1))
    env = owner_env(world, tmp_path)
    forged = "unsubscribe 1.am9obkBleGFtcGxlLmNvbQ.AAAAAAAAAAAAAAAAAAAAAA"
    assert main(["--env-file", str(env), "suppress", forged], clock=world.clock) == 78
    assert "not signed by this bridge" in capsys.readouterr().err

    assert main(["--env-file", str(env), "suppress", ZOFIA.upper()], clock=world.clock) == 0
    later_marketing_reaches_nobody(world, left)
    assert main(["--env-file", str(env), "unsuppress", ZOFIA], clock=world.clock) == 0
    assert "may get marketing mail again" in capsys.readouterr().out


def test_a_review_request_to_an_unsubscribed_address_is_cancelled_with_the_reason(
    world: World, tmp_path: Path
) -> None:
    shop = started(world).shop
    cart = shop.create_cart(customer(shop), [(1, 1)], carrier_id=2)
    order_id = shop.place_order(cart, "przelewy24")
    world.sync()
    shop.advance(timedelta(days=1))
    shop.change_state(order_id, 5)
    world.sync()
    assert main(["--env-file", str(owner_env(world, tmp_path)), "suppress", ZOFIA], clock=world.clock) == 0
    shop.advance(timedelta(days=15))
    world.sync()
    [row] = [r for r in list_rows(world.store) if r.kind == "review_request"]
    assert row.status is Status.CANCELLED and "unsubscribed" in (row.skip_reason or "")
    assert [m for m in world.mail() if m["List-Unsubscribe"]] == []
