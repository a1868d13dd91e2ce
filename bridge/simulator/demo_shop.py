"""The demo shop: a small Polish pottery shop with three weeks of history, built in a few milliseconds.

It seeds the README quick start and most tests, so it is deterministic (same clock and seed, same rows)
and looks like a real PrestaShop 8.1 install: languages en=1 and pl=2, Europe/Warsaw, the default order
states with their real EN/PL names and flags, PS_MAIL_METHOD=3 (the shop never sends mail itself, which
is why the bridge exists), carriers whose tracking URLs carry the `@` placeholder.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal

from bridge.clock import Clock, ManualClock
from bridge.simulator import stock
from bridge.simulator.actions import Language, PostalAddress, Shop, net_from_gross
from bridge.simulator.state import ShopState

SHOP_NAME = "Pracownia Ceramiki Złota Łąka"
SHOP_DOMAIN = "zlota-laka.example"
SHOP_EMAIL = "sklep@zlota-laka.example"
DEFAULT_SEED = 2026

EN, PL = 1, 2

# (id, EN name, PL name, template, color, module_name, flags) — a fresh 8.1 install (ids 1-13) plus the
# four states ps_checkout (installed by default) adds; PL names as the Polish translation pack shows them.
# flags: send_email invoice logable paid shipped delivery pdf_invoice pdf_delivery
ORDER_STATES: tuple[tuple[int, str, str, str, str, str, str], ...] = (
    (
        1,
        "Awaiting check payment",
        "Oczekiwanie na płatność czekiem",
        "cheque",
        "#34209E",
        "ps_checkpayment",
        "10000000",
    ),
    (2, "Payment accepted", "Płatność zaakceptowana", "payment", "#3498D8", "", "11110010"),
    (3, "Processing in progress", "Przygotowanie w toku", "preparation", "#3498D8", "", "11110100"),
    (4, "Shipped", "Wysłane", "shipped", "#01B887", "", "11111100"),
    (5, "Delivered", "Dostarczone", "", "#01B887", "", "01111100"),
    (6, "Canceled", "Anulowane", "order_canceled", "#2C3E50", "", "10000000"),
    (7, "Refunded", "Zwrot pieniędzy", "refund", "#01B887", "", "11000000"),
    (8, "Payment error", "Błąd płatności", "payment_error", "#E74C3C", "", "10000000"),
    (9, "On backorder (paid)", "Zamówienie oczekujące (opłacone)", "outofstock", "#3498D8", "", "11010000"),
    (
        10,
        "Awaiting bank wire payment",
        "Oczekiwanie na przelew bankowy",
        "bankwire",
        "#34209E",
        "ps_wirepayment",
        "10000000",
    ),
    (11, "Remote payment accepted", "Płatność zdalna zaakceptowana", "payment", "#3498D8", "", "11110000"),
    (
        12,
        "On backorder (not paid)",
        "Zamówienie oczekujące (nieopłacone)",
        "outofstock",
        "#34209E",
        "",
        "10000000",
    ),
    (
        13,
        "Awaiting Cash On Delivery validation",
        "Oczekiwanie na potwierdzenie płatności przy odbiorze",
        "cashondelivery",
        "#34209E",
        "ps_cashondelivery",
        "00000000",
    ),
    (14, "Waiting for payment", "Oczekiwanie na płatność", "", "#34209E", "ps_checkout", "00000000"),
    (15, "Partial refund", "Częściowy zwrot pieniędzy", "", "#01B887", "ps_checkout", "00000000"),
    (16, "Partial payment", "Częściowa płatność", "", "#3498D8", "ps_checkout", "00000000"),
    (
        17,
        "Authorized. To be captured by merchant",
        "Autoryzowane. Do pobrania przez sprzedawcę",
        "",
        "#3498D8",
        "ps_checkout",
        "00000000",
    ),
)

OS_KEYS: dict[str, int] = {
    "PS_OS_CHEQUE": 1,
    "PS_OS_PAYMENT": 2,
    "PS_OS_PREPARATION": 3,
    "PS_OS_SHIPPING": 4,
    "PS_OS_DELIVERED": 5,
    "PS_OS_CANCELED": 6,
    "PS_OS_REFUND": 7,
    "PS_OS_ERROR": 8,
    "PS_OS_OUTOFSTOCK": 9,
    "PS_OS_OUTOFSTOCK_PAID": 9,
    "PS_OS_BANKWIRE": 10,
    "PS_OS_WS_PAYMENT": 11,
    "PS_OS_OUTOFSTOCK_UNPAID": 12,
    "PS_OS_COD_VALIDATION": 13,
}

# (id, iso, EN, PL, zone, call prefix, zip format)
COUNTRIES: tuple[tuple[int, str, str, str, int, int, str], ...] = (
    (1, "DE", "Germany", "Niemcy", 1, 49, "NNNNN"),
    (8, "FR", "France", "Francja", 1, 33, "NNNNN"),
    (14, "PL", "Poland", "Polska", 1, 48, "NN-NNN"),
    (16, "CZ", "Czechia", "Czechy", 1, 420, "NNN NN"),
    (17, "GB", "United Kingdom", "Wielka Brytania", 7, 44, ""),
)


@dataclass(frozen=True)
class DemoCarrier:
    id: int
    name: str
    url: str
    delay_en: str
    delay_pl: str
    gross_price: str
    deleted: bool = False
    reference: int | None = None


CARRIERS: tuple[DemoCarrier, ...] = (
    DemoCarrier(
        1,
        "Odbiór osobisty w pracowni",
        "",
        "Pick up at the workshop in Bolesławiec",
        "Odbiór w pracowni w Bolesławcu",
        "0",
    ),
    DemoCarrier(
        2,
        "Paczkomat 24/7",
        "https://sledzenie.paczkomat.example/?numer=@",
        "Parcel locker, 1-2 working days",
        "Paczkomat, 1-2 dni robocze",
        "13.99",
    ),
    DemoCarrier(
        3,
        "Kurier Ekspres",
        "https://kurier-ekspres.example/track/@",
        "Courier, next working day",
        "Kurier, następny dzień roboczy",
        "17.90",
        deleted=True,
    ),
    DemoCarrier(
        4,
        "Poczta — paczka pocztowa",
        "https://emonitoring.poczta.example/?numer=@",
        "Post office parcel, 2-4 working days",
        "Paczka pocztowa, 2-4 dni robocze",
        "16.50",
    ),
    # The courier edited in the back office: a new id, the old row kept with deleted=1.
    DemoCarrier(
        5,
        "Kurier Ekspres",
        "https://kurier-ekspres.example/track/@",
        "Courier, next working day",
        "Kurier, następny dzień roboczy",
        "19.90",
        reference=3,
    ),
)


@dataclass(frozen=True)
class DemoProduct:
    reference: str
    pl: str
    en: str
    gross: str
    vat: int
    weight: str
    # (PL group, PL value, EN group, EN value, gross price impact)
    combinations: tuple[tuple[str, str, str, str, str], ...] = ()


PRODUCTS: tuple[DemoProduct, ...] = (
    DemoProduct(
        "ZL-KUB-01",
        "Kubek ręcznie toczony",
        "Hand-thrown mug",
        "69.00",
        23,
        "0.40",
        (
            ("Kolor", "Kobaltowy", "Colour", "Cobalt", "0"),
            ("Kolor", "Miodowy", "Colour", "Honey", "0"),
            ("Kolor", "Zielony mech", "Colour", "Moss green", "0"),
        ),
    ),
    DemoProduct("ZL-MIS-02", "Miska na zupę „Złota Łąka”", "“Golden Meadow” soup bowl", "89.00", 23, "0.60"),
    DemoProduct("ZL-TAL-03", "Talerz obiadowy 27 cm", "Dinner plate 27 cm", "95.00", 23, "0.80"),
    DemoProduct("ZL-DZB-04", "Dzbanek na mleko", "Milk jug", "120.00", 23, "0.70"),
    DemoProduct("ZL-WAZ-05", "Wazon „Wrzos”", "“Heather” vase", "159.00", 23, "1.20"),
    DemoProduct(
        "ZL-ESP-06", "Komplet 6 filiżanek do espresso", "Set of 6 espresso cups", "249.00", 23, "1.10"
    ),
    DemoProduct(
        "ZL-DON-07",
        "Doniczka z podstawką",
        "Plant pot with saucer",
        "75.00",
        23,
        "0.90",
        (
            ("Rozmiar", "S (12 cm)", "Size", "S (12 cm)", "0"),
            ("Rozmiar", "M (16 cm)", "Size", "M (16 cm)", "20.00"),
            ("Rozmiar", "L (22 cm)", "Size", "L (22 cm)", "45.00"),
        ),
    ),
    DemoProduct(
        "ZL-SWI-08",
        "Świeca sojowa w ceramicznej miseczce",
        "Soy candle in a ceramic bowl",
        "59.00",
        23,
        "0.35",
    ),
    DemoProduct("ZL-POD-09", "Podkładki pod kubek (4 szt.)", "Coasters (set of 4)", "45.00", 23, "0.30"),
    DemoProduct("ZL-HER-10", "Herbata ziołowa „Łąka” 100 g", "“Meadow” herbal tea 100 g", "29.00", 8, "0.12"),
    DemoProduct(
        "ZL-WAR-11", "Warsztaty toczenia na kole (bilet)", "Pottery wheel workshop (ticket)", "180.00", 8, "0"
    ),
)


def build_demo_shop(clock: Clock | None = None, *, seed: int = DEFAULT_SEED) -> Shop:
    """The demo shop as a `Shop` (actions included), its history written up to the clock's present."""
    clock = clock or ManualClock()
    state = ShopState(clock, timezone="Europe/Warsaw")
    shop = Shop(state, seed=seed)
    today = state.now_local()
    _configuration(state, today)
    _reference_data(shop)
    _cms_pages(shop)
    _catalogue(shop, today - timedelta(days=60))
    _history(shop, today)
    return shop


def build_demo_state(clock: Clock | None = None, *, seed: int = DEFAULT_SEED) -> ShopState:
    """The demo shop's database (see `build_demo_shop`)."""
    return build_demo_shop(clock, seed=seed).state


def _configuration(state: ShopState, today: datetime) -> None:
    install = today - timedelta(days=90)
    setup = install + timedelta(minutes=12)
    values: dict[str, str] = {
        "PS_LANG_DEFAULT": str(PL),
        "PS_CURRENCY_DEFAULT": "1",
        "PS_COUNTRY_DEFAULT": "14",
        "PS_TIMEZONE": "Europe/Warsaw",
        "PS_SHOP_NAME": SHOP_NAME,
        "PS_SHOP_EMAIL": SHOP_EMAIL,
        "PS_SHOP_DOMAIN": SHOP_DOMAIN,
        "PS_SHOP_DOMAIN_SSL": SHOP_DOMAIN,
        "PS_SSL_ENABLED": "1",
        "PS_SSL_ENABLED_EVERYWHERE": "1",
        "PS_SHOP_ENABLE": "1",
        "PS_SHOP_ADDR1": "ul. Garncarska 12",
        "PS_SHOP_ADDR2": "",
        "PS_SHOP_CODE": "59-700",
        "PS_SHOP_CITY": "Bolesławiec",
        "PS_SHOP_COUNTRY_ID": "14",
        "PS_SHOP_PHONE": "+48 75 612 34 56",
        "PS_SHOP_DETAILS": "NIP 612-000-00-00",
        "PS_LOGO": "logo-zlota-laka.png",
        "PS_LOGO_MAIL": "logo-mail-zlota-laka.png",  # Design > Theme & Logo > Mail logo
        "PS_CONDITIONS_CMS_ID": "3",  # the terms page of a fresh install
        # 3 = "never send emails": the shop owner disabled mail; the bridge sends them instead.
        "PS_MAIL_METHOD": "3",
        "PS_ORDER_RETURN": "1",
        "PS_ORDER_RETURN_NB_DAYS": "14",
        "PS_WEBSERVICE": "1",
        "PS_CARRIER_DEFAULT": "2",
        "PS_SHIPPING_FREE_PRICE": "400",
        "PS_PASSWD_TIME_FRONT": "360",
        "PS_GUEST_CHECKOUT_ENABLED": "1",
        "PS_INVOICE": "1",
        "PS_STOCK_MANAGEMENT": "1",
        "PS_LAST_QTIES": "3",  # "display remaining quantities when the quantity is lower than": the default
        # What the wire and cheque payment modules were configured with (shown in their emails).
        "BANK_WIRE_OWNER": "Pracownia Ceramiki Złota Łąka Zofia Nowak",
        "BANK_WIRE_DETAILS": "PL61 1090 1014 0000 0712 1981 2874",
        "BANK_WIRE_ADDRESS": "Santander Bank Polska, ul. Rynek 1, 59-700 Bolesławiec",
        "CHEQUE_NAME": "Pracownia Ceramiki Złota Łąka",
        "CHEQUE_ADDRESS": "ul. Garncarska 12\n59-700 Bolesławiec",
        **{key: str(value) for key, value in OS_KEYS.items()},
    }
    for name, value in values.items():
        # Installer rows keep a zero date_add; the ones changed during setup carry that moment.
        state.insert("configurations", {"name": name, "value": value, "date_add": None, "date_upd": setup})


def _reference_data(shop: Shop) -> None:
    state = shop.state
    state.insert(
        "languages",
        {
            "name": "English (English)",
            "iso_code": "en",
            "locale": "en-US",
            "language_code": "en-us",
            "active": True,
            "is_rtl": False,
            "date_format_lite": "m/d/Y",
            "date_format_full": "m/d/Y H:i:s",
        },
        id=EN,
    )
    state.insert(
        "languages",
        {
            "name": "Polski (Polish)",
            "iso_code": "pl",
            "locale": "pl-PL",
            "language_code": "pl-pl",
            "active": True,
            "is_rtl": False,
            "date_format_lite": "d.m.Y",
            "date_format_full": "d.m.Y H:i:s",
        },
        id=PL,
    )
    state.insert(
        "currencies",
        {
            "names": {EN: "Polish Zloty", PL: "złoty polski"},
            "name": "złoty polski",
            "symbol": {EN: "zł", PL: "zł"},
            "iso_code": "PLN",
            "numeric_iso_code": "985",
            "precision": 2,
            "conversion_rate": Decimal(1),
            "deleted": 0,
            "active": 1,
            "unofficial": 0,
            "modified": 0,
            "pattern": {EN: "", PL: ""},
        },
        id=1,
    )
    state.insert(
        "currencies",
        {
            "names": {EN: "Euro", PL: "euro"},
            "name": "euro",
            "symbol": {EN: "€", PL: "€"},
            "iso_code": "EUR",
            "numeric_iso_code": "978",
            "precision": 2,
            "conversion_rate": Decimal("0.230000"),
            "deleted": 0,
            "active": 1,
            "unofficial": 0,
            "modified": 0,
            "pattern": {EN: "", PL: ""},
        },
        id=2,
    )
    for country_id, iso, en, pl, zone, prefix, zip_format in COUNTRIES:
        state.insert(
            "countries",
            {
                "id_zone": zone,
                "id_currency": 0,
                "call_prefix": prefix,
                "iso_code": iso,
                "active": True,
                "contains_states": False,
                "need_identification_number": False,
                "need_zip_code": bool(zip_format),
                "zip_code_format": zip_format,
                "display_tax_label": True,
                "name": {EN: en, PL: pl},
            },
            id=country_id,
        )
    for state_id, en, pl, template, color, module_name, flags in ORDER_STATES:
        send_email, invoice, logable, paid, shipped, delivery, pdf_invoice, pdf_delivery = (
            f == "1" for f in flags
        )
        state.insert(
            "order_states",
            {
                "unremovable": True,
                "delivery": delivery,
                "hidden": False,
                "send_email": send_email,
                "module_name": module_name,
                "invoice": invoice,
                "color": color,
                "logable": logable,
                "shipped": shipped,
                "paid": paid,
                "pdf_delivery": pdf_delivery,
                "pdf_invoice": pdf_invoice,
                "deleted": False,
                "name": {EN: en, PL: pl},
                "template": {EN: template, PL: template},
            },
            id=state_id,
        )
    shop.add_tax_rules_group("PL Standard Rate (23%)", 23, id=1)
    shop.add_tax_rules_group("PL Reduced Rate (8%)", 8, id=2)
    shop.add_tax_rules_group("PL Reduced Rate (5%)", 5, id=3)
    for position, carrier in enumerate(c for c in CARRIERS if not c.deleted):
        _insert_carrier(shop, carrier, position)
    for carrier in CARRIERS:
        if carrier.deleted:
            _insert_carrier(shop, carrier, 0)
    state.insert(
        "contacts",
        {
            "email": SHOP_EMAIL,
            "customer_service": True,
            "name": {EN: "Webmaster", PL: "Webmaster"},
            "description": {
                EN: "If a technical problem occurs on this website",
                PL: "W przypadku problemów technicznych ze stroną",
            },
        },
        id=1,
    )
    state.insert(
        "contacts",
        {
            "email": SHOP_EMAIL,
            "customer_service": True,
            "name": {EN: "Customer service", PL: "Obsługa klienta"},
            "description": {
                EN: "For any question about a product, an order",
                PL: "Pytania o produkty i zamówienia",
            },
        },
        id=2,
    )
    state.insert(
        "shops",
        {
            "id_shop_group": 1,
            "id_category": 2,
            "active": 1,
            "deleted": 0,
            "name": SHOP_NAME,
            "color": "",
            "theme_name": "classic",
        },
        id=1,
    )
    state.insert(
        "shop_urls",
        {
            "id_shop": 1,
            "active": True,
            "main": True,
            "domain": SHOP_DOMAIN,
            "domain_ssl": SHOP_DOMAIN,
            "physical_uri": "/",
            "virtual_uri": "",
        },
        id=1,
    )


# The CMS pages of a fresh 8.1.2 install (category 1, "Home"): (id, EN title, PL title, EN and PL content).
_LOREM = "Lorem ipsum dolor sit amet, consectetur adipiscing elit."
CMS_PAGES: tuple[tuple[int, str, str, str, str], ...] = (
    (
        1,
        "Delivery",
        "Dostawa",
        "<h2>Shipments and returns</h2><h3>Your pack shipment</h3><p>Packages are generally dispatched within"
        " 2 days after receipt of payment.</p>",
        "<h2>Wysyłka i zwroty</h2><h3>Wysyłka paczki</h3><p>Paczki wysyłamy zwykle w ciągu 2 dni od"
        " otrzymania płatności.</p>",
    ),
    (
        2,
        "Legal Notice",
        "Nota prawna",
        "<h2>Legal</h2><h3>Credits</h3><p>Concept and production:</p>",
        "<h2>Informacje prawne</h2><h3>Autorzy</h3><p>Koncepcja i wykonanie:</p>",
    ),
    (
        3,
        "Terms and conditions of use",
        "Regulamin",
        f'<h1 class="page-heading">Terms and conditions of use</h1><h3>Rule 1</h3><p>{_LOREM}</p>'
        f"<h3>Rule 2</h3><p>{_LOREM}</p>",
        f'<h1 class="page-heading">Regulamin</h1><h3>Zasada 1</h3><p>{_LOREM}</p>'
        f"<h3>Zasada 2</h3><p>{_LOREM}</p>",
    ),
    (
        4,
        "About us",
        "O nas",
        f"<h1>About us</h1><h2>Our company</h2><p>{_LOREM}</p>",
        f"<h1>O nas</h1><h2>Nasza firma</h2><p>{_LOREM}</p>",
    ),
    (
        5,
        "Secure payment",
        "Bezpieczne płatności",
        "<h2>Secure payment</h2><h3>Our secure payment</h3><p>With SSL</p>",
        "<h2>Bezpieczne płatności</h2><h3>Nasze bezpieczne płatności</h3><p>Z SSL</p>",
    ),
)

# The terms as the demo's owner rewrites them (`bridge demo`: the terms watch and `bridge notify-terms`).
NEW_TERMS: dict[Language, str] = {
    "pl": '<h1 class="page-heading">Regulamin</h1><h3>Zasada 1</h3><p>Zamówienie można zwrócić w ciągu 30 dni'
    " od doręczenia.</p>",
    "en": '<h1 class="page-heading">Terms and conditions of use</h1><h3>Rule 1</h3><p>An order may be'
    " returned within 30 days of delivery.</p>",
}


def _cms_pages(shop: Shop) -> None:
    for position, (page_id, title_en, title_pl, content_en, content_pl) in enumerate(CMS_PAGES):
        titles: dict[Language, str] = {"en": title_en, "pl": title_pl}
        contents: dict[Language, str] = {"en": content_en, "pl": content_pl}
        shop.add_cms_page(titles, contents, id=page_id, position=position)


def _insert_carrier(shop: Shop, carrier: DemoCarrier, position: int) -> None:
    shop.state.insert(
        "carriers",
        {
            "deleted": carrier.deleted,
            "is_module": False,
            "id_tax_rules_group": 1,
            "id_reference": carrier.reference or carrier.id,
            "name": carrier.name,
            "active": not carrier.deleted,
            "is_free": carrier.gross_price == "0",
            "url": carrier.url,
            "shipping_handling": False,
            "shipping_external": False,
            "range_behavior": False,
            "shipping_method": 2,
            "max_weight": Decimal(0),
            "external_module_name": "",
            "need_range": False,
            "position": position,
            "delay": {EN: carrier.delay_en, PL: carrier.delay_pl},
        },
        id=carrier.id,
    )
    shop.set_carrier_price(carrier.id, net_from_gross(carrier.gross_price, 23), tax_rate=23)


def _catalogue(shop: Shop, when: datetime) -> None:
    with shop.at(when):
        for product in PRODUCTS:
            product_id = shop.add_product(
                {"pl": product.pl, "en": product.en},
                net_from_gross(product.gross, product.vat),
                tax_rate=product.vat,
                reference=product.reference,
                weight=product.weight,
                wholesale_price=(Decimal(product.gross) * Decimal("0.35")).quantize(Decimal("0.01")),
            )
            # One photo per product (image id = product id), served at the public /img/p/ URL.
            shop.state.update("products", product_id, id_default_image=product_id)
            stock.set_stock(shop.state, product_id, 0 if product.combinations else 25)
            for index, (pl_group, pl_value, en_group, en_value, impact) in enumerate(product.combinations, 1):
                combination = shop.add_combination(
                    product_id,
                    {"pl": [(pl_group, pl_value)], "en": [(en_group, en_value)]},
                    price_impact=net_from_gross(impact, product.vat),
                    reference=f"{product.reference}-{index}",
                )
                stock.set_stock(shop.state, product_id, 12, attribute_id=combination)


# Product ids follow PRODUCTS' order; combination ids are global, in order.
MUG, BOWL, PLATE, JUG, VASE, ESPRESSO, POT, CANDLE, COASTERS, TEA, WORKSHOP = range(1, 12)
MUG_COBALT, MUG_HONEY, MUG_MOSS, POT_S, POT_M, POT_L = range(1, 7)


def _history(shop: Shop, today: datetime) -> None:
    """Customers, orders in every common state, a thread, a refund, abandoned carts: three weeks of it."""
    midnight = datetime.combine(today.date(), time(0, 0))

    def day(days_ago: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
        return midnight - timedelta(days=days_ago) + timedelta(hours=hour, minutes=minute, seconds=second)

    # The GDPR module's placeholder account exists on every real 8.x shop.
    with shop.at(day(89, 23, 58)):
        anonymous = shop.register_customer(
            "Anonymous", "Anonymous", "anonymous@psgdpr.example", language="en"
        )
        shop.state.update("customers", anonymous.customer_id, active=False)

    with shop.at(day(21, 9, 14, 3)):
        malgorzata = shop.register_customer(
            "Małgorzata",
            "Łęcka",
            "malgorzata.lecka@example.com",
            newsletter=True,
            address=PostalAddress("ul. Świętokrzyska 18 m. 4", "00-052", "Warszawa", phone="+48 601 234 567"),
        )
    with shop.at(day(21, 9, 21, 40)):
        cart = shop.create_cart(malgorzata.customer_id, [(MUG, 2, MUG_COBALT), (BOWL, 2)], carrier_id=2)
    with shop.at(day(21, 9, 24, 12)):
        order_1 = shop.place_order(cart, "przelewy24")
    with shop.at(day(21, 11, 2)):
        shop.change_state(order_1, 3)
    with shop.at(day(20, 14, 35)):
        shop.set_tracking(order_1, "620123456789012345678901")
        shop.change_state(order_1, 4)
    with shop.at(day(18, 16, 5)):
        shop.change_state(order_1, 5)
    with shop.at(day(15, 19, 12, 44)):
        thread, _ = shop.customer_message(
            "Dzień dobry, jeden z kubków ma pęknięte ucho. Czy mogę go zwrócić?", order_id=order_1
        )
    with shop.at(day(14, 8, 40)):
        shop.employee_reply(
            thread, "Dzień dobry, bardzo przepraszamy! Zwrócimy pieniądze za kubek. Pozdrawiamy, Zofia"
        )
        details = shop.order_details(order_1)
        shop.request_return(order_1, [(details[0]["id"], 1)], question="Pęknięte ucho")
    with shop.at(day(13, 10, 3)):
        shop.issue_credit_slip(order_1, [(details[0]["id"], 1)])

    with shop.at(day(16, 20, 47, 9)):
        pawel = shop.register_customer(
            "Paweł",
            "Żółkiewski",
            "pawel.zolkiewski@example.com",
            address=PostalAddress("ul. Długa 7/3", "80-827", "Gdańsk", phone_mobile="+48 512 345 678"),
        )
        cart = shop.create_cart(pawel.customer_id, [(VASE, 1), (CANDLE, 2)], carrier_id=4)
    with shop.at(day(16, 20, 52, 30)):
        order_2 = shop.place_order(cart, "ps_wirepayment")
    with shop.at(day(15, 9, 31)):
        shop.change_state(order_2, 2)
    with shop.at(day(14, 12, 10)):
        shop.set_tracking(order_2, "PX00112233445PL")
        shop.change_state(order_2, 4)

    with shop.at(day(9, 18, 2, 55)):
        emily = shop.register_customer(
            "Emily",
            "Clarke",
            "emily.clarke@example.com",
            language="en",
            newsletter=True,
            optin=True,
            # `bridge demo` ends on the morning three weeks from today: her birthday, and 30 days after her
            # last order (the demo's WINBACK_AFTER_DAYS).
            birthday=(today + timedelta(days=21)).date().replace(year=1992),
            address=PostalAddress(
                "Kastanienallee 44", "10435", "Berlin", country="DE", phone="+49 30 1234567"
            ),
        )
        cart = shop.create_cart(emily.customer_id, [(ESPRESSO, 1), (TEA, 3)], currency="EUR", carrier_id=3)
    with shop.at(day(9, 18, 6, 21)):
        order_3 = shop.place_order(cart, "przelewy24")
    with shop.at(day(8, 10, 15)):
        shop.change_state(order_3, 3)

    with shop.at(day(6, 13, 30, 2)):
        jadwiga = shop.register_customer(
            "Jadwiga",
            "Dąbrowska",
            "jadwiga.dabrowska@example.com",
            guest=True,
            address=PostalAddress("ul. Rynek 5", "50-106", "Wrocław", phone_mobile="+48 698 111 222"),
        )
        cart = shop.create_cart(
            jadwiga.customer_id, [(POT, 1, POT_L), (POT, 2, POT_S), (COASTERS, 1)], carrier_id=5
        )
    with shop.at(day(6, 13, 34, 18)):
        order_4 = shop.place_order(cart, "ps_cashondelivery")
    with shop.at(day(5, 9, 5)):
        shop.change_state(order_4, 3)
    with shop.at(day(4, 15, 40)):
        shop.set_tracking(order_4, "KE2611270004")
        shop.change_state(order_4, 4)

    with shop.at(day(4, 21, 11, 7)):
        cart = shop.create_cart(malgorzata.customer_id, [(PLATE, 6)], carrier_id=2)
        order_5 = shop.place_order(cart, "ps_checkpayment")
    with shop.at(day(2, 8, 55)):
        shop.change_state(order_5, 6)

    with shop.at(day(1, 22, 18, 40)):
        cart = shop.create_cart(pawel.customer_id, [(JUG, 1), (MUG, 2, MUG_HONEY)], carrier_id=2)
        shop.place_order(cart, "ps_wirepayment", comment="Proszę o staranne zapakowanie, to prezent.")

    with shop.at(day(1, 7, 30)):
        tomasz = shop.register_customer(
            "Tomasz",
            "Wąsik",
            "tomasz.wasik@example.com",
            address=PostalAddress("ul. Piotrkowska 120", "90-006", "Łódź"),
        )
    with shop.at(day(1, 7, 44, 10)):
        # Abandoned: a registered customer's cart untouched for more than a day.
        cart = shop.create_cart(tomasz.customer_id, [(WORKSHOP, 1)])
    with shop.at(day(1, 7, 52, 33)):
        shop.set_cart_items(cart, [(WORKSHOP, 2), (TEA, 1)])
    with shop.at(today - timedelta(hours=5, minutes=12)):
        # An anonymous visitor's cart: nobody to write to.
        shop.create_cart(None, [(CANDLE, 1)])
    with shop.at(today - timedelta(hours=3, minutes=40)):
        shop.create_cart(malgorzata.customer_id, [(VASE, 1), (MUG, 1, MUG_MOSS)], carrier_id=2)
