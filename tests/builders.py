"""Plain shop records for the planner's unit tests, with the values of a small Polish shop by default.

The defaults follow the demo shop (`bridge/simulator/demo_shop.py`): state ids of a fresh PrestaShop 8.1
install, languages EN=1 and PL=2, PLN, the Paczkomat carrier, a customer who signed up for the newsletter.
Every builder takes keyword overrides, so a test names only what it is about.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from bridge.model.cursors import CartCursors, IdCursor, OrderCursors
from bridge.model.identity import ShopIdentity
from bridge.model.memory import SeenOrder
from bridge.model.profile import ShopProfile, state_kinds
from bridge.model.records import (
    Address,
    Carrier,
    Cart,
    CartProduct,
    CartRow,
    Country,
    Currency,
    Customer,
    Language,
    Multilingual,
    Order,
    OrderCarrier,
    OrderHistory,
    OrderPayment,
    OrderRow,
    OrderState,
)
from bridge.plan.carts import CartSettings, DueFacts, IssuedCode, Plan, Reachable, Series
from bridge.plan.contexts import OrderFacts
from bridge.plan.orders import OrderMemory, OrderRows
from bridge.plan.rules import RuleSettings
from bridge.secret import Secret

NOW: Final = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
FRONT_URL: Final = "https://zlota-laka.example"
SHOP_NAME: Final = "Pracownia Ceramiki Złota Łąka"

EN, PL = 1, 2
PLN, EUR = 1, 2
POLAND = 14
PACZKOMAT = 2

# Order states of a fresh 8.1 install (PS_OS_*), plus a module state that has no mail template.
AWAITING_CHEQUE = 1
PAYMENT_ACCEPTED = 2
PROCESSING = 3
SHIPPED = 4
DELIVERED = 5  # no template in PrestaShop: the bridge sends `delivered` because PS_OS_DELIVERED names it
CANCELLED = 6
REFUNDED = 7
PAYMENT_ERROR = 8
BACKORDER_PAID = 9
BANK_WIRE = 10
COD_VALIDATION = 13
WAITING_FOR_PAYMENT = 14  # ps_checkout's state: no template, no email

# (id, name, template, paid, shipped)
_STATES: Final = (
    (AWAITING_CHEQUE, "Awaiting check payment", "cheque", False, False),
    (PAYMENT_ACCEPTED, "Payment accepted", "payment", True, False),
    (PROCESSING, "Processing in progress", "preparation", True, False),
    (SHIPPED, "Shipped", "shipped", True, True),
    (DELIVERED, "Delivered", "", True, True),
    (CANCELLED, "Canceled", "order_canceled", False, False),
    (REFUNDED, "Refunded", "refund", True, False),
    (PAYMENT_ERROR, "Payment error", "payment_error", False, False),
    (BACKORDER_PAID, "On backorder (paid)", "outofstock", True, False),
    (BANK_WIRE, "Awaiting bank wire payment", "bankwire", False, False),
    (COD_VALIDATION, "Awaiting Cash On Delivery validation", "cashondelivery", False, False),
    (WAITING_FOR_PAYMENT, "Waiting for payment", "", False, False),
)

SHOP_CONFIGURATION: Final[Mapping[str, str]] = {
    "BANK_WIRE_OWNER": "Pracownia Ceramiki Złota Łąka Zofia Nowak",
    "BANK_WIRE_DETAILS": "PL61 1090 1014 0000 0712 1981 2874",
    "BANK_WIRE_ADDRESS": "Santander Bank Polska, ul. Rynek 1, 59-700 Bolesławiec",
    "CHEQUE_NAME": "Pracownia Ceramiki Złota Łąka",
    "CHEQUE_ADDRESS": "ul. Garncarska 12\n59-700 Bolesławiec",
}

CUSTOMER_ID: Final = 7
CUSTOMER_EMAIL: Final = "malgorzata.lecka@example.com"
NEWSLETTER_SINCE: Final = datetime(2026, 11, 6, 8, 14, 3, tzinfo=UTC)

# Catalogue: product id → (PL name, EN name, gross price).
MUG, BOWL, VASE = 1, 2, 5
_PRODUCTS: Final = {
    MUG: ("Kubek ręcznie toczony", "Hand-thrown mug", Decimal("69.00")),
    BOWL: ("Miska na zupę „Złota Łąka”", "“Golden Meadow” soup bowl", Decimal("89.00")),
    VASE: ("Wazon „Wrzos”", "“Heather” vase", Decimal("159.00")),
}
SHIPPING: Final = Decimal("13.99")


def ago(**delta: float) -> datetime:
    """An instant before NOW: `ago(hours=2)`."""
    return NOW - timedelta(**delta)


def later(**delta: float) -> datetime:
    """An instant after NOW: `later(days=14)`."""
    return NOW + timedelta(**delta)


# --- the shop's slow-changing facts ------------------------------------------------------------------


def order_state(state_id: int, name: str, template: str, *, paid: bool, shipped: bool) -> OrderState:
    return OrderState(
        id=state_id,
        name=Multilingual.of({EN: name}),
        template=Multilingual.of({None: template}),
        send_email=bool(template),
        paid=paid,
        shipped=shipped,
        delivery=shipped,
        logable=paid,
        invoice=paid,
        deleted=False,
        hidden=False,
        unremovable=True,
        pdf_invoice=paid,
        pdf_delivery=shipped,
        module_name="",
        color="#34209E",
    )


def language(id_lang: int, iso: str, name: str) -> Language:
    locale = f"{iso}-{iso.upper()}" if iso != "en" else "en-US"
    return Language(id_lang, name, iso, locale, locale.lower(), True, "d.m.Y", "d.m.Y H:i:s")


def currency(id_currency: int, iso: str, symbol: str) -> Currency:
    rate = Decimal(1) if iso == "PLN" else Decimal("0.23")
    return Currency(
        id_currency,
        iso,
        iso,
        Multilingual.of({None: iso}),
        Multilingual.of({None: symbol}),
        2,
        rate,
        True,
        False,
    )


def identity() -> ShopIdentity:
    return ShopIdentity(
        name=SHOP_NAME,
        email="sklep@zlota-laka.example",
        from_email="zlota.laka.sklep@gmail.com",
        address_lines=("ul. Garncarska 12", "59-700 Bolesławiec"),
        base_url=FRONT_URL,
    )


def profile(
    *,
    overrides: Mapping[int, str | None] | None = None,
    configuration: Mapping[str, str | None] = SHOP_CONFIGURATION,
    front_url: str = FRONT_URL,
) -> ShopProfile:
    """The demo shop's profile: pl/en, PLN and EUR, the usual states mapped to their emails."""
    states = {sid: order_state(sid, name, tpl, paid=paid, shipped=sh) for sid, name, tpl, paid, sh in _STATES}
    return ShopProfile(
        identity=identity(),
        states=states,
        languages={EN: language(EN, "en", "English (English)"), PL: language(PL, "pl", "Polski (Polish)")},
        currencies={PLN: currency(PLN, "PLN", "zł"), EUR: currency(EUR, "EUR", "€")},
        state_kinds=state_kinds(states, delivered_state_id=DELIVERED, overrides=overrides or {}),
        configuration=dict(configuration),
        front_url=front_url,
    )


# --- people and places ---------------------------------------------------------------------------------


def customer(customer_id: int = CUSTOMER_ID, **changes: Any) -> Customer:
    """A registered customer who signed up for the newsletter (the consent the defaults count)."""
    made = Customer(
        id=customer_id,
        id_lang=PL,
        email=CUSTOMER_EMAIL if customer_id == CUSTOMER_ID else f"klient{customer_id}@example.com",
        firstname="Małgorzata",
        lastname="Łęcka",
        id_gender=2,
        newsletter=True,
        newsletter_date_add=NEWSLETTER_SINCE,
        optin=False,
        is_guest=False,
        active=True,
        deleted=False,
        date_add=NEWSLETTER_SINCE,
        date_upd=NEWSLETTER_SINCE,
    )
    return dataclasses.replace(made, **changes)


def without_consent(customer_id: int = CUSTOMER_ID, **changes: Any) -> Customer:
    """A customer who ticked neither the newsletter nor the partners' offers."""
    return customer(
        customer_id, **{"newsletter": False, "newsletter_date_add": None, "optin": False, **changes}
    )


def address(address_id: int = 11, customer_id: int = CUSTOMER_ID) -> Address:
    return Address(
        id=address_id,
        id_customer=customer_id,
        id_country=POLAND,
        id_state=0,
        alias="Dom",
        company="",
        firstname="Małgorzata",
        lastname="Łęcka",
        address1="ul. Świętokrzyska 18 m. 4",
        address2="",
        postcode="00-052",
        city="Warszawa",
        phone="+48 601 234 567",
        phone_mobile="",
        vat_number="",
        deleted=False,
    )


def poland() -> Country:
    return Country(POLAND, "PL", Multilingual.of({EN: "Poland", PL: "Polska"}), True)


def paczkomat() -> Carrier:
    return Carrier(
        id=PACZKOMAT,
        id_reference=PACZKOMAT,
        name="Paczkomat 24/7",
        url="https://sledzenie.paczkomat.example/?numer=@",
        delay=Multilingual.of({EN: "Parcel locker, 1-2 working days", PL: "Paczkomat, 1-2 dni robocze"}),
        active=True,
        deleted=False,
    )


# --- orders ----------------------------------------------------------------------------------------------


def reference(order_id: int) -> str:
    """A PrestaShop-like reference (nine capital letters), the same for the same order id."""
    letters, n = [], order_id
    for _ in range(9):
        n, digit = divmod(n, 26)
        letters.append(chr(ord("A") + digit))
    return "".join(reversed(letters))


def order_row(
    row_id: int = 1, product_id: int = MUG, *, quantity: int = 1, name: str | None = None, vat: int = 23
) -> OrderRow:
    pl_name, _en, gross = _PRODUCTS[product_id]
    net = (gross / (1 + Decimal(vat) / 100)).quantize(Decimal("0.000001"))
    return OrderRow(
        id=row_id,
        product_id=product_id,
        product_attribute_id=0,
        quantity=quantity,
        name=name or pl_name,
        reference=f"ZL-{product_id:03d}",
        unit_price_tax_incl=gross,
        unit_price_tax_excl=net,
        product_price=net,
        id_customization=0,
    )


def order(
    order_id: int = 1042,
    *,
    state: int = BANK_WIRE,
    customer_id: int = CUSTOMER_ID,
    rows: Sequence[OrderRow] | None = None,
    placed_at: datetime | None = None,
    **changes: Any,
) -> Order:
    """An order of one mug, paid by bank wire (so not yet paid), shipped by parcel locker."""
    lines = tuple(rows) if rows is not None else (order_row(order_id * 10),)
    products = sum((r.unit_price_tax_incl * r.quantity for r in lines), Decimal(0))
    products_net = sum((r.unit_price_tax_excl * r.quantity for r in lines), Decimal(0)).quantize(
        Decimal("0.01")
    )
    shipping_net = (SHIPPING / Decimal("1.23")).quantize(Decimal("0.01"))
    total, total_net = products + SHIPPING, products_net + shipping_net
    when = placed_at or ago(minutes=5)
    made = Order(
        id=order_id,
        reference=reference(order_id),
        id_customer=customer_id,
        id_cart=order_id + 100,
        id_lang=PL,
        id_currency=PLN,
        id_carrier=PACZKOMAT,
        id_address_delivery=11,
        id_address_invoice=11,
        current_state=state,
        module="ps_wirepayment",
        payment="Przelew bankowy",
        valid=False,
        date_add=when,
        date_upd=when,
        invoice_number=0,
        invoice_date=None,
        delivery_date=None,
        shipping_number="",
        secure_key=Secret("0f3e7c1a5b9d2e4f6a8c0b1d3e5f7a9c"),
        total_paid=total,
        total_paid_tax_incl=total,
        total_paid_tax_excl=total_net,
        total_paid_real=Decimal(0),
        total_products=products_net,
        total_products_wt=products,
        total_discounts=Decimal(0),
        total_discounts_tax_incl=Decimal(0),
        total_discounts_tax_excl=Decimal(0),
        total_shipping=SHIPPING,
        total_shipping_tax_incl=SHIPPING,
        total_shipping_tax_excl=shipping_net,
        total_wrapping=Decimal(0),
        total_wrapping_tax_incl=Decimal(0),
        total_wrapping_tax_excl=Decimal(0),
        carrier_tax_rate=Decimal(23),
        conversion_rate=Decimal(1),
        gift=False,
        gift_message="",
        rows=lines,
    )
    return dataclasses.replace(made, **changes)


def facts(of: Order, **changes: Any) -> OrderFacts:
    """Everything the order's emails may show: its customer (the order's), address, carrier, PLN."""
    fields: dict[str, Any] = {
        "order": of,
        "customer": customer(of.id_customer),
        "delivery_address": address(of.id_address_delivery, of.id_customer),
        "invoice_address": address(of.id_address_invoice, of.id_customer),
        "countries": {POLAND: poland()},
        "carrier": paczkomat(),
        "currency": "PLN",
        "language_id": of.id_lang,
        "payments": (),
        "tracking_number": "",
        "discounts": (),
        "images": {},
    }
    fields.update(changes)
    return OrderFacts(**fields)


def facts_of(*orders: Order, **changes: Any) -> dict[int, OrderFacts]:
    return {o.id: facts(o, **changes) for o in orders}


def history(
    history_id: int, order_id: int = 1042, state: int = PAYMENT_ACCEPTED, *, at: datetime | None = None
) -> OrderHistory:
    return OrderHistory(history_id, order_id, state, 0, at or ago(minutes=1))


def payment(
    payment_id: int = 301, of: Order | None = None, *, amount: str | None = None, currency_id: int = PLN
) -> OrderPayment:
    """A payment typed in the back office for `of` (by default the default order), of its full amount."""
    paid_for = of or order()
    return OrderPayment(
        id=payment_id,
        order_reference=paid_for.reference,
        amount=Decimal(amount) if amount is not None else paid_for.total_paid_tax_incl,
        payment_method="Przelew bankowy",
        transaction_id="PRZ/2026/11/0042",
        id_currency=currency_id,
        conversion_rate=Decimal(1),
        date_add=ago(days=1),  # typed by an employee: dates lie
    )


def order_carrier(
    order_id: int = 1042, tracking: str = "", *, carrier_row_id: int | None = None
) -> OrderCarrier:
    shipping_net = (SHIPPING / Decimal("1.23")).quantize(Decimal("0.01"))
    return OrderCarrier(
        carrier_row_id or order_id + 5000, order_id, PACZKOMAT, tracking, SHIPPING, shipping_net, ago(days=1)
    )


def seen(of: Order, *, last_history_id: int | None = None, tracking: str | None = None) -> SeenOrder:
    """What the bridge remembers of an order it saw in an earlier poll."""
    assert of.date_upd is not None
    return SeenOrder(
        of.id, of.reference, of.current_state, last_history_id, tracking, of.total_paid_real, of.date_upd
    )


def rule_settings(**changes: Any) -> RuleSettings:
    return dataclasses.replace(RuleSettings(), **changes)


# --- the order pass ----------------------------------------------------------------------------------


def cursors(
    histories: int = 5000, orders: int = 1041, payments: int = 300, *, done: Iterable[int] = ()
) -> OrderCursors:
    """Cursors of a bridge that has been running: baseline at order 1000, every id up to the cursors done
    (`done` adds ids to the history cursor's overlap)."""

    def processed(position: int) -> IdCursor:
        return IdCursor(position, frozenset(range(position - 19, position + 1)))

    histories_cursor = processed(histories)
    if done:
        histories_cursor = IdCursor(histories, frozenset(done))
    return OrderCursors(
        baseline_at=ago(days=30),
        baseline_order_id=1000,
        histories=histories_cursor,
        orders=processed(orders),
        payments=processed(payments),
    )


def poll(
    *,
    histories: Sequence[OrderHistory] = (),
    payments: Sequence[OrderPayment] = (),
    new_orders: Sequence[Order] = (),
    carriers: Sequence[OrderCarrier] = (),
    others: Sequence[Order] = (),
) -> OrderRows:
    """What one poll read: the moved rows, and every order they involve (new ones and `others`)."""
    return OrderRows(
        histories=histories,
        payments=payments,
        new_orders=new_orders,
        carriers=carriers,
        orders={o.id: o for o in (*new_orders, *others)},
    )


def memory(
    *known: SeenOrder,
    at: OrderCursors | None = None,
    already_sent: Mapping[int, frozenset[str]] | None = None,
) -> OrderMemory:
    return OrderMemory(at or cursors(), {s.order_id: s for s in known}, already_sent or {})


# --- carts -----------------------------------------------------------------------------------------------


REMINDERS: Final = Plan(
    delays=(timedelta(hours=1), timedelta(hours=24), timedelta(hours=72)), late_limit=timedelta(hours=12)
)


def cart(
    cart_id: int = 77,
    *,
    customer_id: int = CUSTOMER_ID,
    updated_at: datetime | None = None,
    rows: Sequence[CartRow] | None = None,
    currency_id: int = PLN,
    **changes: Any,
) -> Cart:
    """A cart left with two cobalt mugs and a soup bowl."""
    when = updated_at or ago(hours=2)
    made = Cart(
        id=cart_id,
        id_customer=customer_id,
        id_guest=cart_id + 900,
        id_lang=PL,
        id_currency=currency_id,
        id_carrier=PACZKOMAT,
        id_address_delivery=11,
        id_address_invoice=11,
        date_add=when - timedelta(minutes=7),
        date_upd=when,
        rows=tuple(rows) if rows is not None else (cart_row(MUG, 2, attribute=1), cart_row(BOWL)),
    )
    return dataclasses.replace(made, **changes)


def cart_row(product_id: int, quantity: int = 1, *, attribute: int = 0) -> CartRow:
    return CartRow(product_id, attribute, 11, 0, quantity)


def cart_product(
    product_id: int, *, active: bool = True, prices: Mapping[int, Decimal] | None = None
) -> CartProduct:
    """A catalogue product priced in PLN; the mug comes in three colours (combinations 1-3)."""
    pl_name, en_name, gross = _PRODUCTS[product_id]
    default_prices = {attr: gross for attr in (1, 2, 3)} if product_id == MUG else {0: gross}
    return CartProduct(
        id=product_id,
        name=Multilingual.of({EN: en_name, PL: pl_name}),
        link_rewrite=Multilingual.of({EN: "product", PL: "produkt"}),
        id_default_image=product_id * 10,
        active=active,
        prices=dict(prices) if prices is not None else default_prices,
    )


def catalogue(*products: CartProduct, currency_id: int = PLN) -> dict[int, dict[int, CartProduct]]:
    """Prices per currency, as `reminders` reads them (the whole catalogue by default)."""
    chosen = products or tuple(cart_product(pid) for pid in _PRODUCTS)
    return {currency_id: {p.id: p for p in chosen}}


def series(of: Cart, *, steps_done: int = 0, status: str = "open") -> Series:
    assert of.date_upd is not None
    return Series(of.id, of.id_customer, of.date_upd, status, steps_done)


def cart_settings(**changes: Any) -> CartSettings:
    return dataclasses.replace(CartSettings(plan=REMINDERS), **changes)


def cart_cursors(changed_up_to: datetime | None = None) -> CartCursors:
    return CartCursors(
        changed_up_to=changed_up_to or ago(minutes=5), checked_at=ago(minutes=5), baseline_at=ago(days=7)
    )


def due_facts(
    *carts: Cart,
    customers: Iterable[Customer] | None = None,
    ordered: Mapping[int, Order] | None = None,
    later_orders: Mapping[int, Sequence[Order]] | None = None,
) -> DueFacts:
    """The due carts as the shop shows them now, and their customers (the default customer by default)."""
    people = list(customers) if customers is not None else [customer()]
    return DueFacts({c.id: c for c in carts}, ordered or {}, later_orders or {}, {p.id: p for p in people})


def reachable(
    *,
    unsubscribed: Mapping[str, str] | None = None,
    last_reminder: Mapping[int, datetime] | None = None,
    codes: Iterable[IssuedCode] = (),
) -> Reachable:
    return Reachable(unsubscribed or {}, last_reminder or {}, {c.customer_id: c for c in codes})
