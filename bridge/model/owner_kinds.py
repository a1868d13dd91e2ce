"""The contexts and samples of the shop owner's business alerts (OWNER_EMAIL): plain data for
`bridge.model.kinds`, which declares the kinds themselves.

They answer what PrestaShop's mail alerts module (ps_emailalerts) told the merchant: a new order (one
email, or one digest when many arrive at once), a new message from a customer. Same JSON conventions as
every context (see `bridge.model.kinds`): money as `{"amount", "currency"}`, instants as ISO strings, every
key present. The samples are built from the shared ones in `bridge.model.samples`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NotRequired, TypedDict

from bridge.model.samples import (
    ADDRESS,
    ADMIN,
    BANK_WIRE,
    CARD,
    CUSTOMER,
    GUEST_ORDER,
    JACKET_LINE,
    MUG,
    MUG_LINE,
    NOW,
    ORDER,
    pln,
)

if TYPE_CHECKING:  # kinds.py declares these and imports this module
    from bridge.model.kinds import Discount, Money, OrderLine, OrderSummary, PostalAddress, Totals


class OwnerCustomer(TypedDict):
    first_name: str
    last_name: str
    email: str  # the Reply-To of the alert: the owner answers the customer from the mail


class OwnerNewOrderContext(TypedDict):
    """One new order, for the owner: who ordered what, how it is paid and where it goes."""

    customer: OwnerCustomer
    guest: bool  # ordered without an account
    first_order: bool  # the customer's first order in the shop
    order: OrderSummary
    items: list[OrderLine]
    discounts: list[Discount]
    totals: Totals
    paid: bool
    carrier: str  # "" for virtual-only orders
    delivery_address: PostalAddress
    message: str  # the customer's checkout comment, "" when none
    admin_url: str  # the order in the back office (SHOP_ADMIN_URL), "" when the owner gave none


class OwnerOrderBrief(TypedDict):
    reference: str
    date: str  # ISO instant
    customer_name: str
    customer_email: str
    total: Money
    paid: bool
    payment_method: str
    admin_url: str  # "" without SHOP_ADMIN_URL


class OwnerNewOrdersContext(TypedDict):
    """A digest: more new orders arrived in one poll than are worth an email each (a catch-up)."""

    count: int
    orders: list[OwnerOrderBrief]  # oldest first
    totals: list[Money]  # the sum per currency, largest currency first


class OwnerCustomerMessageContext(TypedDict):
    """A customer wrote to the shop (the contact form, or a reply in an order's thread)."""

    customer: OwnerCustomer  # first/last name "" when the sender has no account
    order_reference: str  # "" when the message is about no order
    admin_url: str  # the thread in the back office (SHOP_ADMIN_URL), "" when the owner gave none
    message: str
    date: str  # ISO instant


class LowStockLine(TypedDict):
    name: str  # the product's name in the owner's language
    reference: str  # the product's reference (SKU), "" when none
    combination: int  # the combination's id (id_product_attribute), 0 for the product itself
    quantity: int  # what is left: at or below the threshold, negative when oversold
    admin_url: str  # the product in the back office (SHOP_ADMIN_URL), "" when the owner gave none


class OwnerLowStockContext(TypedDict):
    """Products whose available quantity fell to the threshold or below since the last poll."""

    threshold: int  # LOW_STOCK_THRESHOLD, or the shop's PS_LAST_QTIES
    products: list[LowStockLine]


class KindCount(TypedDict):
    kind: str  # the email kind's name, as `bridge outbox` shows it
    count: int


class OwnerDailySummaryContext(TypedDict):
    """Yesterday in the shop and in the bridge, at OWNER_SUMMARY_HOUR in the shop's time zone."""

    date: str  # ISO instant of the day's start (shop-local midnight): the `date` filter shows the day
    orders: int  # orders placed that day
    revenue: list[Money]  # their totals, one per currency, largest first
    sent: list[KindCount]  # emails sent that day, per kind
    failed: list[KindCount]  # emails that failed for good that day, per kind
    held: list[KindCount]  # emails waiting for the owner's release now (older than MAX_EMAIL_AGE)
    unknown: int  # emails whose outcome is unknown now, waiting for the owner
    paused: str  # why sending is paused now, "" when it is not
    # Addresses suppressed after a bounce that day (bridge.mailbox.bounces); absent from summaries queued
    # before it was counted.
    bounced: NotRequired[int]


# --- Samples -------------------------------------------------------------------------------------------

NEW_ORDER: OwnerNewOrderContext = {
    "customer": CUSTOMER,
    "guest": False,
    "first_order": True,
    "order": ORDER,
    "items": [{**JACKET_LINE, "image_url": ""}, {**MUG_LINE, "customization": ""}],
    "discounts": [{"name": "Rabat na start", "amount": pln("10.00")}],
    "totals": {
        "products": pln("1057.99"),
        "discounts": pln("10.00"),
        "shipping": pln("14.99"),
        "wrapping": None,
        "taxes": [{"label": "VAT 23%", "amount": pln("198.90")}],
        "total_tax_excl": pln("864.08"),
        "total": pln("1062.98"),
    },
    "paid": False,
    "carrier": "InPost Paczkomaty 24/7",
    "delivery_address": ADDRESS,
    "message": "Proszę o dostawę po 16:00.",
    "admin_url": f"{ADMIN}?controller=AdminOrders&id_order=1042&vieworder=1",
}

# A guest's repeat order, paid at once, no message, no back-office link: the other branches.
NEW_ORDER_GUEST: OwnerNewOrderContext = {
    **NEW_ORDER,
    "guest": True,
    "first_order": False,
    "order": {**GUEST_ORDER, "payment_method": CARD},
    "discounts": [],
    "paid": True,
    "carrier": "",
    "message": "",
    "admin_url": "",
}


def _brief(reference: str, name: str, email: str, amount: str, *, paid: bool) -> OwnerOrderBrief:
    return {
        "reference": reference,
        "date": NOW,
        "customer_name": name,
        "customer_email": email,
        "total": pln(amount),
        "paid": paid,
        "payment_method": CARD if paid else BANK_WIRE,
        "admin_url": "",
    }


NEW_ORDERS: OwnerNewOrdersContext = {
    "count": 7,
    "orders": [
        _brief("XKBKNABJK", "Zofia Żółkiewska", "zofia@example.com", "1234.56", paid=False),
        _brief("QWERTYUIO", "Jan Nowak", "jan.nowak@example.com", "59.99", paid=True),
        _brief("ASDFGHJKL", "Anna Wiśniewska", "anna@example.com", "149.97", paid=True),
        _brief("ZXCVBNMLK", "Piotr Kowalski", "piotr@example.com", "499.00", paid=False),
        _brief("POIUYTREW", "Maria Lewandowska", "maria@example.com", "21.00", paid=True),
        _brief("LKJHGFDSA", "Tomasz Wójcik", "tomasz@example.com", "98.00", paid=True),
        _brief("MNBVCXZAQ", "Ewa Kamińska", "ewa@example.com", "310.50", paid=False),
    ],
    "totals": [pln("2373.02")],
}

CUSTOMER_MESSAGE: OwnerCustomerMessageContext = {
    "customer": CUSTOMER,
    "order_reference": ORDER["reference"],
    "admin_url": f"{ADMIN}?controller=AdminCustomerThreads&id_customer_thread=7&viewcustomer_thread=1",
    "message": "Dzień dobry, czy mogę zmienić adres dostawy na ul. Długą 5 w Gdańsku?\nPozdrawiam, Zofia",
    "date": NOW,
}

# Someone without an account, about no order, and no back-office link.
CUSTOMER_MESSAGE_STRANGER: OwnerCustomerMessageContext = {
    "customer": {"first_name": "", "last_name": "", "email": "pytanie@example.com"},
    "order_reference": "",
    "admin_url": "",
    "message": "Czy wysyłacie do Niemiec?",
    "date": NOW,
}

DAILY_SUMMARY: OwnerDailySummaryContext = {
    "date": "2026-11-26T00:00:00+01:00",
    "orders": 12,
    "revenue": [pln("3456.78"), {"amount": "120.00", "currency": "EUR"}],
    "sent": [
        {"kind": "order_confirmation", "count": 12},
        {"kind": "shipped", "count": 9},
        {"kind": "cart_reminder", "count": 4},
    ],
    "failed": [{"kind": "shipped", "count": 1}],
    "held": [{"kind": "order_confirmation", "count": 2}],
    "unknown": 1,
    "paused": "550 5.4.5 Daily user sending limit exceeded; sending resumes at 14:05",
    "bounced": 2,
}

# A quiet day: nothing ordered, nothing waiting.
DAILY_SUMMARY_QUIET: OwnerDailySummaryContext = {
    "date": "2026-11-26T00:00:00+01:00",
    "orders": 0,
    "revenue": [],
    "sent": [],
    "failed": [],
    "held": [],
    "unknown": 0,
    "paused": "",
    "bounced": 0,
}

LOW_STOCK: OwnerLowStockContext = {
    "threshold": 3,
    "products": [
        {
            "name": MUG,
            "reference": "KUBEK-LODZ",
            "combination": 0,
            "quantity": 2,
            "admin_url": f"{ADMIN}?controller=AdminProducts&id_product=2",
        },
        {
            "name": "Kurtka przeciwdeszczowa",
            "reference": "KURTKA-M-GR",
            "combination": 5,
            "quantity": 0,
            "admin_url": "",
        },
        {"name": "Skarpetki wełniane", "reference": "", "combination": 0, "quantity": -1, "admin_url": ""},
    ],
}
