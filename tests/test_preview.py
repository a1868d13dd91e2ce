"""`bridge preview KIND --order ID`: a real order of the shop (the simulator over HTTP), rendered into files
exactly as its customer would get it, without queueing or sending anything."""

from __future__ import annotations

import email
import re
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from bridge.clock import ManualClock
from bridge.commands.preview import OrderNotFound, PreviewError, preview_order
from bridge.config import Settings
from bridge.secret import Secret
from bridge.shop.client import ShopClient
from bridge.simulator import Simulator
from bridge.simulator.actions import PostalAddress, Shop
from bridge.simulator.demo_shop import BOWL, MUG, MUG_HONEY, VASE
from tests.conftest import SHOP_KEY, World, html_of, text_of

WARSAW = PostalAddress("ul. Marszałkowska 10/4", "00-590", "Warszawa", phone="+48 600 700 800")
EDINBURGH = PostalAddress("14 Hanover Street", "EH2 2EQ", "Edinburgh", country="GB")


@pytest.fixture
def client(shop_server: Simulator) -> Iterator[ShopClient]:
    with ShopClient(shop_server.url, Secret(SHOP_KEY), retries=0) as shop_client:
        yield shop_client


@pytest.fixture
def settings(shop_server: Simulator, tmp_path: Path) -> Settings:
    return Settings.from_mapping(
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


def place(shop: Shop, payment: str = "ps_wirepayment", *, english: bool = False) -> int:
    if english:
        ref = shop.register_customer(
            "Emily", "Clarke", "emily@example.co.uk", language="en", address=EDINBURGH
        )
        cart = shop.create_cart(ref.customer_id, [(VASE, 1)], currency="EUR", carrier_id=4)
    else:
        ref = shop.register_customer("Zofia", "Wiśniewska", "zofia@example.com", address=WARSAW)
        cart = shop.create_cart(ref.customer_id, [(MUG, 2, MUG_HONEY), (BOWL, 1)], carrier_id=2)
    order_id = shop.place_order(cart, payment)
    shop.advance(30)
    return order_id


def parse(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_an_order_preview_writes_html_and_eml_of_that_real_order(
    shop: Shop, client: ShopClient, settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    order_id = place(shop)
    reference = shop.order_ref(order_id)

    paths = preview_order(
        client, settings, "order_confirmation", order_id, output_dir=tmp_path / "out", clock=clock
    )

    html_path, eml_path = paths
    assert (html_path.suffix, eml_path.suffix) == (".html", ".eml")
    assert html_path.name == f"order-{order_id}-{reference}-order_confirmation-pl.html"
    message = parse(eml_path)
    assert str(message["To"]) == "Zofia Wiśniewska <zofia@example.com>"
    assert reference in str(message["Subject"])
    assert message["Content-Language"] == "pl"
    html = html_path.read_text(encoding="utf-8")
    assert html == html_of(message).replace("\r\n", "\n")  # the .eml has SMTP line ends
    for part in (html, text_of(message)):
        assert "Kubek ręcznie toczony (Kolor: Miodowy)" in part
        assert "ul. Marszałkowska 10/4" in part
        assert "Paczkomat 24/7" in part
    assert "227,00\xa0zł" in text_of(message)


def test_the_preview_is_the_email_the_sync_sends(world: World, tmp_path: Path) -> None:
    assert world.sync().poll.baseline
    world.shop.advance(60)
    order_id = place(world.shop, "przelewy24")
    world.sync()
    [sent] = world.mail_to("zofia@example.com")

    [_html, eml] = preview_order(
        world.client,
        world.settings,
        "order_confirmation",
        order_id,
        output_dir=tmp_path / "out",
        clock=world.clock,
    )

    previewed = parse(eml)
    assert text_of(previewed) == text_of(sent)
    assert html_of(previewed) == html_of(sent)
    assert str(previewed["Subject"]) == str(sent["Subject"])
    assert previewed["Message-ID"] != sent["Message-ID"]  # a preview is never mistaken for the real one


def test_an_order_is_found_by_reference_and_previewed_in_its_customers_language(
    shop: Shop, client: ShopClient, settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    order_id = place(shop, "przelewy24", english=True)

    _html, eml = preview_order(
        client, settings, "processing", shop.order_ref(order_id), output_dir=tmp_path, clock=clock
    )

    message = parse(eml)
    assert message["Content-Language"] == "en"
    assert "Hello Emily," in text_of(message)
    assert eml.name.endswith("-processing-en.eml")


def test_the_language_option_overrides_the_orders_language(
    shop: Shop, client: ShopClient, settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    order_id = place(shop, "przelewy24", english=True)

    _html, eml = preview_order(
        client, settings, "shipped", order_id, language="pl", output_dir=tmp_path, clock=clock
    )

    assert parse(eml)["Content-Language"] == "pl"
    assert "Twoje zamówienie jest w drodze" in html_of(parse(eml))


def test_all_renders_every_kind_that_applies_in_every_shop_language(
    shop: Shop, client: ShopClient, settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    order_id = place(shop, "ps_wirepayment")

    paths = preview_order(client, settings, None, order_id, all_kinds=True, output_dir=tmp_path, clock=clock)

    emails = {p.name.removeprefix(f"order-{order_id}-{shop.order_ref(order_id)}-") for p in paths}
    expected_kinds = [
        "order_confirmation",
        "awaiting_bank_wire",  # paid by bank wire: the transfer details apply
        "backorder",
        "cancelled",
        "delivered",
        "payment_accepted",
        "payment_error",
        "processing",
        "refunded",
        "shipped",
    ]
    assert emails == {
        f"{k}-{lang}.{ext}" for k in expected_kinds for lang in ("pl", "en") for ext in ("html", "eml")
    }
    assert "awaiting_cheque" not in str(emails)  # not paid by cheque
    assert "tracking_added" not in str(emails)  # no tracking number yet
    for path in paths:
        assert path.stat().st_size > 0

    shop.set_tracking(order_id, "PX00998877665PL")
    more = preview_order(client, settings, None, order_id, all_kinds=True, output_dir=tmp_path, clock=clock)
    tracking = [p for p in more if "tracking_added" in p.name and p.suffix == ".eml"]
    assert len(tracking) == 2
    assert all("PX00998877665PL" in text_of(parse(p)) for p in tracking)


def test_all_with_a_language_renders_only_that_language(
    shop: Shop, client: ShopClient, settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    order_id = place(shop, "przelewy24")

    paths = preview_order(
        client, settings, None, order_id, language="en", all_kinds=True, output_dir=tmp_path, clock=clock
    )

    assert paths and all(p.stem.endswith("-en") for p in paths)


def test_a_bank_wire_preview_shows_the_shops_own_bank_details(
    shop: Shop, client: ShopClient, settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    order_id = place(shop, "ps_wirepayment")

    _html, eml = preview_order(
        client, settings, "awaiting_bank_wire", order_id, output_dir=tmp_path, clock=clock
    )

    text = text_of(parse(eml))
    assert "PL61 1090 1014 0000 0712 1981 2874" in text  # BANK_WIRE_DETAILS of the wire payment module
    assert shop.order_ref(order_id) in text  # the transfer title


def test_an_email_the_sync_would_skip_is_refused_with_the_same_reason(
    shop: Shop, client: ShopClient, settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    order_id = place(shop)
    customer_id = int(shop.state.get("orders", order_id)["id_customer"])
    shop.delete_customer(customer_id)

    with pytest.raises(PreviewError, match=r"would not be sent: customer #\d+ was deleted"):
        preview_order(client, settings, "shipped", order_id, output_dir=tmp_path / "out", clock=clock)
    assert not (tmp_path / "out").exists()


def test_an_unknown_order_is_named_in_the_error(
    client: ShopClient, settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    with pytest.raises(OrderNotFound, match="no order #9999") as by_id:
        preview_order(client, settings, "shipped", 9999, output_dir=tmp_path, clock=clock)
    with pytest.raises(OrderNotFound, match="reference 'NOSUCHREF'"):
        preview_order(client, settings, "shipped", "NOSUCHREF", output_dir=tmp_path, clock=clock)
    assert by_id.value.exit_code == 66


@pytest.mark.parametrize("kind", ["test_email", "newsletter", None])
def test_a_kind_that_is_not_about_an_order_is_refused_before_reading_the_shop(
    kind: str | None, client: ShopClient, settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    with pytest.raises(PreviewError, match=r"order kinds: order_confirmation|name an email kind"):
        preview_order(client, settings, kind, 1, output_dir=tmp_path, clock=clock)


def test_hostile_names_in_the_shop_reach_the_preview_as_inert_text(
    shop: Shop, client: ShopClient, settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    ref = shop.register_customer(
        "<script>alert(1)</script>", "Kowalski\r\nBcc: victim@evil.example", "jan@example.com", address=WARSAW
    )
    cart = shop.create_cart(ref.customer_id, [(BOWL, 1)], carrier_id=2)
    order_id = shop.place_order(cart, "przelewy24")

    html_path, eml = preview_order(
        client, settings, "order_confirmation", order_id, output_dir=tmp_path, clock=clock
    )

    raw = eml.read_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert not re.search(rb"^bcc:", head, re.IGNORECASE | re.MULTILINE)
    assert [a.addr_spec for a in parse(eml)["To"].addresses] == ["jan@example.com"]
    html = html_path.read_text(encoding="utf-8")
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
