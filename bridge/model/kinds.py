"""The email kinds the bridge sends: what each is for, the context its templates expect, and sample data.

The outbox stores `(kind, language, context)` and renders at send time, so the context is a contract between
the code that reads the shop (which builds it) and the templates (which read it). It is plain JSON:

- money is `{"amount": "1234.56", "currency": "PLN"}` (a decimal *string*, an ISO 4217 code);
- instants are ISO 8601 strings with an offset (`"2026-11-27T10:05:00+01:00"`);
- optional text is `""`, optional money is `None`; every key listed below is present (templates use
  StrictUndefined, so a missing key fails the render instead of printing a blank).

`render.py` adds `shop` (the ShopIdentity's fields), `lang`, `locale`, `timezone` and `subject` itself;
contexts must not carry them.
The samples here feed `bridge templates lint`, previews, the test email and the tests.

Adding a kind: add its context TypedDict and an entry to KINDS here, add `<kind>.subject.txt`, `<kind>.txt`
and `<kind>.html` under every language in `templates/`, then let tests/test_templates.py pick it up.

Marketing kinds (cart reminders, review requests) go only to customers who agreed to them. `render.py`
renders them only with unsubscribe links (`SAMPLE_UNSUBSCRIBE` here for samples): it writes the RFC 8058
List-Unsubscribe headers and gives the templates `unsubscribe_url`, which the shared layout shows in the
footer. Their contexts carry no unsubscribe data: the links are made at send time, per recipient.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Final, Literal, NotRequired, TypedDict

from bridge.model import campaign_kinds, owner_kinds, service_kinds
from bridge.model.automation_kinds import (
    BIRTHDAY,
    BIRTHDAY_NO_CODE,
    BIRTHDAY_PRIORITY,
    BIRTHDAY_SAMPLE,
    WINBACK,
    WINBACK_NO_CODE,
    WINBACK_PRIORITY,
    WINBACK_SAMPLE,
    BirthdayContext,
    WinbackContext,
)
from bridge.model.campaign_kinds import CAMPAIGN, CAMPAIGN_PRIORITY, CampaignContext
from bridge.model.news_kinds import (
    NEW_PRODUCTS,
    NEW_PRODUCTS_MORE,
    NEW_PRODUCTS_NO_LINKS,
    NEW_PRODUCTS_WEEKLY,
    NEWS_PRIORITY,
    NewProductsContext,
)
from bridge.model.owner_kinds import (
    OwnerCustomerMessageContext,
    OwnerDailySummaryContext,
    OwnerLowStockContext,
    OwnerNewOrderContext,
    OwnerNewOrdersContext,
)
from bridge.model.service_kinds import (
    CancelledRefund,
    CreditSlipContext,
    MessageReceivedContext,
    MessageReplyContext,
    OwnerTermsChangedContext,
    TermsChangedContext,
)

# Transactional mail answers something the customer did and needs no consent; marketing mail goes only to
# customers who agreed, with a one-click unsubscribe; owner mail goes to the shop owner (ADMIN_EMAIL for the
# bridge's incidents, OWNER_EMAIL for the shop's business).
Category = Literal["transactional", "marketing", "owner"]

# Every kind's name, written once. Code elsewhere names a kind through these.
ORDER_CONFIRMATION: Final = "order_confirmation"
AWAITING_BANK_WIRE: Final = "awaiting_bank_wire"
AWAITING_CHEQUE: Final = "awaiting_cheque"
PAYMENT_ACCEPTED: Final = "payment_accepted"
PROCESSING: Final = "processing"
SHIPPED: Final = "shipped"
TRACKING_ADDED: Final = "tracking_added"
DELIVERED: Final = "delivered"
CANCELLED: Final = "cancelled"
REFUNDED: Final = "refunded"
PAYMENT_ERROR: Final = "payment_error"
BACKORDER: Final = "backorder"
TEST_EMAIL: Final = "test_email"
CART_REMINDER: Final = "cart_reminder"
REVIEW_REQUEST: Final = "review_request"
OWNER_ALERT: Final = "owner_alert"
# The owner's business alerts (OWNER_EMAIL, OWNER_ALERTS): what PrestaShop's ps_emailalerts told the merchant.
OWNER_NEW_ORDER: Final = "owner_new_order"
OWNER_NEW_ORDERS: Final = "owner_new_orders"  # the digest of a poll that brought many
OWNER_CUSTOMER_MESSAGE: Final = "owner_customer_message"
OWNER_DAILY_SUMMARY: Final = "owner_daily_summary"
OWNER_LOW_STOCK: Final = "owner_low_stock"
# Customer service (bridge.model.service_kinds): a refund's credit slip, the staff's reply to a message, the
# acknowledgement of a new message.
CREDIT_SLIP: Final = "credit_slip"
MESSAGE_REPLY: Final = "message_reply"
MESSAGE_RECEIVED: Final = "message_received"
TERMS_CHANGED: Final = "terms_changed"
OWNER_TERMS_CHANGED: Final = "owner_terms_changed"


# --- Building blocks ------------------------------------------------------------------------------


class Money(TypedDict):
    amount: str  # decimal string, e.g. "1234.56" (PrestaShop's "1234.560000" is fine too)
    currency: str  # ISO 4217, the order's currency: "PLN", "EUR"


class Customer(TypedDict):
    first_name: str
    last_name: str
    email: str


class PostalAddress(TypedDict):
    first_name: str
    last_name: str
    company: str  # "" when none
    vat_number: str  # "" when none (invoice addresses of companies: NIP)
    street: list[str]  # address1, address2 (non-empty lines only)
    postal_code: str
    city: str
    state: str  # "" when the country has none
    country: str  # in the order's language: "Polska"
    phone: str  # "" when none
    # ISO 3166 alpha-2 ("PL", "GB"): the lines are written in that country's order (bridge/mail/postal.py).
    # Absent from contexts stored before it was recorded: then the Polish order.
    country_code: NotRequired[str]


class OrderLine(TypedDict):
    name: str  # as frozen on the order, attributes included: "Koszulka (Rozmiar: S - Kolor: Biały)"
    reference: str  # product reference (SKU), "" when none
    customization: str  # customer's customisation text, "" when none
    quantity: int
    unit_price: Money  # tax included, after reductions
    total: Money  # unit_price × quantity, tax included
    image_url: str  # absolute https URL of the product image, "" when none


class Discount(TypedDict):
    name: str  # cart rule name, e.g. "Rabat na start"
    amount: Money  # positive; templates show it as a deduction


class TaxLine(TypedDict):
    label: str  # "VAT 23%"
    amount: Money


class Totals(TypedDict):
    products: Money  # total_products_wt
    discounts: Money | None  # total_discounts_tax_incl; None when no discount
    shipping: Money  # total_shipping_tax_incl (0 for free shipping)
    wrapping: Money | None  # total_wrapping_tax_incl; None when no gift wrapping
    taxes: list[TaxLine]  # tax included in the total, one line per rate (may be empty)
    total_tax_excl: Money  # total_paid_tax_excl
    total: Money  # total_paid_tax_incl


class OrderSummary(TypedDict):
    """What every order email shows."""

    reference: str  # orders.reference: "XKBKNABJK"
    date: str  # orders.date_add as an ISO instant (converted from shop-local time at the boundary)
    url: str  # the order in the customer's account, or the guest tracking link
    guest: bool  # True: `url` is the guest tracking link (no account)
    total: Money  # total_paid_tax_incl
    payment_method: str  # orders.payment: "Przelew bankowy"
    # ISO 3166 alpha-2 of the delivery address, "" when unknown: money and dates are written for the
    # customer's language in this country (en + GB → `PLN 1,234.56`, `27 November 2026`). May be absent.
    country: NotRequired[str]
    # True once the order has an invoice (invoice_number > 0): `url` is where the customer downloads it.
    invoice: NotRequired[bool]


class BankDetails(TypedDict):
    owner: str  # account owner
    iban: str  # "PL61 1090 1014 0000 0712 1981 2874"
    bic: str  # "" when not needed (domestic transfers)
    bank_name: str
    address: str  # bank or owner address, "" when none


class ChequeDetails(TypedDict):
    payee: str
    address: list[str]  # where to send the cheque, one line per item


class PaymentDetails(TypedDict):
    method: str  # order_payments.payment_method
    amount: Money  # order_payments.amount, in the payment's currency
    transaction_id: str  # "" when the module recorded none
    date: str  # ISO instant of the payment


class Shipment(TypedDict):
    carrier: str  # carrier name
    tracking_number: str  # "" when not known yet
    tracking_url: str  # carrier url with "@" replaced by the number; "" when none
    # Absent from contexts stored before they were recorded:
    delay: NotRequired[str]  # the carrier's delivery time in the order's language ("1-2 dni robocze"), or ""
    items: NotRequired[list[OrderLine]]  # what the parcel holds
    address: NotRequired[PostalAddress]  # where it goes (the delivery address)


class Refund(TypedDict):
    amount: Money | None  # credit slip amount when known, else None


class SmtpSummary(TypedDict):
    host: str
    port: int
    security: Literal["starttls", "ssl", "none"]
    username: str


# --- Contexts, one per kind -----------------------------------------------------------------------


class OrderConfirmationContext(TypedDict):
    customer: Customer
    order: OrderSummary
    items: list[OrderLine]
    discounts: list[Discount]
    totals: Totals
    paid: bool  # False → "awaiting payment" next to the payment method
    carrier: str  # carrier name, "" for virtual-only orders
    delivery_address: PostalAddress
    invoice_address: PostalAddress
    message: str  # the customer's checkout comment, "" when none


class StatusContext(TypedDict):
    """processing, delivered, cancelled, payment_error, backorder."""

    customer: Customer
    order: OrderSummary


class BankWireContext(StatusContext):
    bank: BankDetails  # the transfer title is order.reference


class ChequeContext(StatusContext):
    cheque: ChequeDetails


class PaymentAcceptedContext(StatusContext):
    payment: PaymentDetails


class ShippedContext(StatusContext):
    shipment: Shipment


class RefundedContext(StatusContext):
    refund: Refund


class CancelledContext(StatusContext):
    refund: CancelledRefund  # absent from emails queued before it existed (templates test `is defined`)


class SmtpTestContext(TypedDict):
    smtp: SmtpSummary
    sent_at: str  # ISO instant
    bridge_version: str
    shop_read: bool  # False: the shop's name, logo and address were not read from the shop (no sync yet)
    missing: list[str]  # the branding and legal settings the owner has not set: "LEGAL_TAX_ID"…


class CartItem(TypedDict):
    name: str  # in the cart's language, attributes included: "Kurtka (Rozmiar: M - Kolor: Granatowy)"
    quantity: int
    unit_price: Money  # tax included, as the shop computes it for this cart
    total: Money  # unit_price × quantity, tax included
    url: str  # the product page, "" when none
    image_url: str  # absolute https URL of the product image, "" when none


class Cart(TypedDict):
    items: list[CartItem]  # templates read it as cart["items"]: cart.items is the dict's own method
    total: Money  # the products, tax included (no shipping: the customer has not chosen a carrier)
    url: str  # where the button goes
    # True: `url` is PrestaShop's recovery link, which signs the customer in and refills the cart;
    # False: `url` is the cart page, where the customer may have to sign in first.
    restores_session: bool


class DiscountCode(TypedDict):
    """A cart rule code offered with a reminder (CART_DISCOUNT)."""

    code: str  # what the customer types at checkout
    percent: str  # decimal string ("10", "7.5"), "" when the code takes off an amount or gives something else
    amount: Money | None  # the amount taken off, None when the code is a percentage (or neither)
    valid_until: str  # ISO instant the code stops working, "" when it does not expire


class CartReminderContext(TypedDict):
    """Marketing: a signed-in customer left products in a cart and ordered nothing since."""

    customer: Customer
    step: Literal[1, 2, 3]  # 1 a gentle "you left something", 2 a nudge, 3 the last reminder
    cart: Cart
    discount: DiscountCode | None


class ReviewProduct(TypedDict):
    name: str  # as frozen on the order
    url: str  # the product page, where the review form is; "" when none
    image_url: str  # absolute https URL, "" when none


class ReviewRequestContext(TypedDict):
    """Marketing: some days after delivery, one "write a review" link per product of the order."""

    customer: Customer
    order: OrderSummary
    products: list[ReviewProduct]


class OwnerAlertContext(TypedDict):
    """To the owner (ADMIN_EMAIL), about the bridge itself: no customer, no order (bridge.alerts)."""

    problem: Literal["shop_unreachable", "sending_paused", "second_sender"]
    pause_kind: Literal["", "quota", "login", "credentials"]  # the sending pause's kind; "" for the shop
    date: str  # ISO instant: when the incident began (the first failed poll, or the pause)
    error: str  # the last error as the bridge reported it: the shop error, or the SMTP server's reply
    advice: str  # what to do, in the bridge's words; "" when `error` says it already
    waiting: int  # customer emails waiting in the outbox when the alert was queued


# --- Samples --------------------------------------------------------------------------------------


def _pln(amount: str) -> Money:
    return {"amount": amount, "currency": "PLN"}


_CUSTOMER: Customer = {"first_name": "Zofia", "last_name": "Żółkiewska", "email": "zofia@example.com"}

_ORDER: OrderSummary = {
    "reference": "XKBKNABJK",
    "date": "2026-11-27T09:05:00+00:00",
    "url": "https://sklep.example.pl/index.php?controller=order-detail&id_order=1042",
    "guest": False,
    "total": _pln("1234.56"),
    "payment_method": "Przelew bankowy",
    "country": "PL",
    "invoice": False,
}

_ADDRESS: PostalAddress = {
    "first_name": "Zofia",
    "last_name": "Żółkiewska",
    "company": "",
    "vat_number": "",
    "street": ["ul. Świętokrzyska 12 m. 4"],
    "postal_code": "00-916",
    "city": "Warszawa",
    "state": "",
    "country": "Polska",
    "phone": "+48 600 700 800",
    "country_code": "PL",
}

_ORDER_CONFIRMATION: OrderConfirmationContext = {
    "customer": _CUSTOMER,
    "order": _ORDER,
    "items": [
        {
            "name": "Kurtka przeciwdeszczowa (Rozmiar: M - Kolor: Granatowy)",
            "reference": "KURTKA-M-GR",
            "customization": "",
            "quantity": 2,
            "unit_price": _pln("499.00"),
            "total": _pln("998.00"),
            "image_url": "https://sklep.example.pl/img/p/1/1-home_default.jpg",
        },
        {
            "name": "Kubek „Łódź” 330 ml",
            "reference": "KUBEK-LODZ",
            "customization": "Dla Józefa",
            "quantity": 1,
            "unit_price": _pln("59.99"),
            "total": _pln("59.99"),
            "image_url": "",
        },
        {
            "name": "Skarpetki wełniane (Rozmiar: 39-42)",
            "reference": "",
            "customization": "",
            "quantity": 3,
            "unit_price": _pln("49.99"),
            "total": _pln("149.97"),
            "image_url": "https://sklep.example.pl/img/p/3/3-home_default.jpg",
        },
    ],
    "discounts": [{"name": "Rabat na start", "amount": _pln("10.00")}],
    "totals": {
        "products": _pln("1207.96"),
        "discounts": _pln("10.00"),
        "shipping": _pln("14.99"),
        "wrapping": _pln("21.61"),
        "taxes": [{"label": "VAT 23%", "amount": _pln("230.85")}],
        "total_tax_excl": _pln("1003.71"),
        "total": _pln("1234.56"),
    },
    "paid": False,
    "carrier": "InPost Paczkomaty 24/7",
    "delivery_address": _ADDRESS,
    "invoice_address": {
        **_ADDRESS,
        "company": "Żółta Łódka sp. z o.o.",
        "vat_number": "PL5260250274",
        "street": ["al. Jerozolimskie 44", "lok. 7"],
        "postal_code": "00-024",
    },
    "message": "Proszę o dostawę po 16:00.",
}

# A guest who paid at once, no discount, no wrapping, no images, free shipping: the other branches.
_ORDER_CONFIRMATION_GUEST: OrderConfirmationContext = {
    **_ORDER_CONFIRMATION,
    "order": {
        **_ORDER,
        "guest": True,
        "url": "https://sklep.example.pl/index.php?controller=guest-tracking&order_reference=XKBKNABJK",
        "total": {"amount": "21.00", "currency": "EUR"},
        "payment_method": "Karta płatnicza",
        "invoice": True,  # paid at once: PrestaShop numbered the invoice
    },
    "items": [
        {
            "name": "Pocztówka",
            "reference": "",
            "customization": "",
            "quantity": 1,
            "unit_price": {"amount": "21.00", "currency": "EUR"},
            "total": {"amount": "21.00", "currency": "EUR"},
            "image_url": "",
        }
    ],
    "discounts": [],
    "totals": {
        "products": {"amount": "21.00", "currency": "EUR"},
        "discounts": None,
        "shipping": {"amount": "0.00", "currency": "EUR"},
        "wrapping": None,
        "taxes": [],
        "total_tax_excl": {"amount": "21.00", "currency": "EUR"},
        "total": {"amount": "21.00", "currency": "EUR"},
    },
    "paid": True,
    "carrier": "",
    "invoice_address": _ADDRESS,
    "message": "",
}

_STATUS: StatusContext = {"customer": _CUSTOMER, "order": _ORDER}
_MONEY_BACK = service_kinds.CREDIT_SLIP["money_back"]

_BANK: BankDetails = {
    "owner": "Żółta Łódka sp. z o.o.",
    "iban": "PL61 1090 1014 0000 0712 1981 2874",
    "bic": "WBKPPLPP",
    "bank_name": "Santander Bank Polska",
    "address": "al. Jana Pawła II 17, 00-854 Warszawa",
}

_SHIPMENT: Shipment = {
    "carrier": "InPost Paczkomaty 24/7",
    "tracking_number": "PL123456789",
    "tracking_url": "https://inpost.pl/sledzenie-przesylek?number=PL123456789",
    "delay": "1-2 dni robocze",
    "items": _ORDER_CONFIRMATION["items"],
    "address": _ADDRESS,
}


_OWNER_ALERT: OwnerAlertContext = {
    "problem": "shop_unreachable",
    "pause_kind": "",
    "date": "2026-11-27T09:05:00+00:00",
    "error": (
        "timed out after 20 s waiting for an answer from sklep.example.pl: the shop is down or overloaded"
    ),
    "advice": "",
    "waiting": 0,
}

_OWNER_ALERT_CREDENTIALS: OwnerAlertContext = {
    "problem": "sending_paused",
    "pause_kind": "credentials",
    "date": "2026-11-27T09:05:00+00:00",
    "error": (
        "535 5.7.8 Username and Password not accepted. For more information, go to 5.7.8 "
        "https://support.google.com/mail/?p=BadCredentials"
    ),
    "advice": (
        "the app password was refused or revoked (Google revokes them when the account password changes): "
        "create a new one at https://myaccount.google.com/apppasswords and put it in SMTP_PASSWORD. Sending "
        "is paused; every email stays pending"
    ),
    "waiting": 7,
}

# Another bridge's email in the Sent folder (bridge.mailbox.senders): marketing waits for the owner.
_OWNER_ALERT_SECOND_SENDER: OwnerAlertContext = {
    "problem": "second_sender",
    "pause_kind": "",
    "date": "2026-11-27T09:05:00+00:00",
    "error": (
        "the Sent folder has emails of another bridge sending as this account (store 3f9c2a71d04be815,"
        " Message-ID domain sklep.example.pl)"
    ),
    "advice": (
        "stop the other bridge (or point it at another account), then run `bridge mailbox confirm-sender`;"
        " marketing mail waits until then"
    ),
    "waiting": 3,
}

_OWNER_ALERT_QUOTA: OwnerAlertContext = {
    **_OWNER_ALERT_CREDENTIALS,
    "pause_kind": "quota",
    "error": "550 5.4.5 Daily user sending limit exceeded.",
    "advice": (
        "Gmail's daily sending limit for this account is used up (550 5.4.5). Sending is paused and resumes "
        "as the rolling 24-hour window frees up; no email is lost. Mail the owner sends by hand from the "
        "same account counts towards the same limit"
    ),
    "waiting": 1,
}


_JACKET_URL = "https://sklep.example.pl/kurtki/1-kurtka-przeciwdeszczowa.html"
_MUG_URL = "https://sklep.example.pl/kubki/2-kubek-lodz-330-ml.html"
_SOCKS_URL = "https://sklep.example.pl/skarpetki/3-skarpetki-welniane.html"

_CART_REMINDER: CartReminderContext = {
    "customer": _CUSTOMER,
    "step": 1,
    "cart": {
        "items": [
            {
                "name": "Kurtka przeciwdeszczowa (Rozmiar: M - Kolor: Granatowy)",
                "quantity": 1,
                "unit_price": _pln("499.00"),
                "total": _pln("499.00"),
                "url": _JACKET_URL,
                "image_url": "https://sklep.example.pl/img/p/1/1-home_default.jpg",
            },
            {
                "name": "Kubek „Łódź” 330 ml",
                "quantity": 2,
                "unit_price": _pln("59.99"),
                "total": _pln("119.98"),
                "url": _MUG_URL,
                "image_url": "https://sklep.example.pl/img/p/2/2-home_default.jpg",
            },
            {
                "name": "Skarpetki wełniane (Rozmiar: 39-42)",
                "quantity": 3,
                "unit_price": _pln("49.99"),
                "total": _pln("149.97"),
                "url": _SOCKS_URL,
                "image_url": "https://sklep.example.pl/img/p/3/3-home_default.jpg",
            },
        ],
        "total": _pln("768.95"),
        "url": (
            "https://sklep.example.pl/index.php?controller=order&recover_cart=731"
            "&token_cart=8f14e45fceea167a5a36dedd4bea2543"
        ),
        "restores_session": True,
    },
    "discount": None,
}

# The last reminder: a plain cart link (the customer signs in), a percentage code that expires, and a
# product with neither page nor picture.
_CART_REMINDER_LAST: CartReminderContext = {
    "customer": _CUSTOMER,
    "step": 3,
    "cart": {
        "items": [
            {
                "name": "Kurtka przeciwdeszczowa (Rozmiar: M - Kolor: Granatowy)",
                "quantity": 1,
                "unit_price": _pln("499.00"),
                "total": _pln("499.00"),
                "url": _JACKET_URL,
                "image_url": "https://sklep.example.pl/img/p/1/1-home_default.jpg",
            },
            {
                "name": "Karta podarunkowa 50 zł",
                "quantity": 1,
                "unit_price": _pln("50.00"),
                "total": _pln("50.00"),
                "url": "",
                "image_url": "",
            },
        ],
        "total": _pln("549.00"),
        "url": "https://sklep.example.pl/index.php?controller=cart&action=show",
        "restores_session": False,
    },
    "discount": {
        "code": "WRACAJ-7KQ2M",
        "percent": "10",
        "amount": None,
        "valid_until": "2026-12-04T22:59:00+00:00",
    },
}

# The second reminder, one product (one picture, so no column of empty thumbnails), an amount off that
# never expires.
_CART_REMINDER_AMOUNT: CartReminderContext = {
    "customer": {**_CUSTOMER, "first_name": ""},
    "step": 2,
    "cart": {
        "items": [
            {
                "name": "Kubek „Łódź” 330 ml",
                "quantity": 1,
                "unit_price": _pln("59.99"),
                "total": _pln("59.99"),
                "url": _MUG_URL,
                "image_url": "",
            }
        ],
        "total": _pln("59.99"),
        "url": "https://sklep.example.pl/index.php?controller=cart&action=show",
        "restores_session": False,
    },
    "discount": {"code": "KOSZYK20", "percent": "", "amount": _pln("20.00"), "valid_until": ""},
}

_REVIEW_REQUEST: ReviewRequestContext = {
    "customer": _CUSTOMER,
    "order": _ORDER,
    "products": [
        {
            "name": "Kurtka przeciwdeszczowa (Rozmiar: M - Kolor: Granatowy)",
            "url": _JACKET_URL,
            "image_url": "https://sklep.example.pl/img/p/1/1-home_default.jpg",
        },
        {"name": "Kubek „Łódź” 330 ml", "url": _MUG_URL, "image_url": ""},
        {
            "name": "Skarpetki wełniane (Rozmiar: 39-42)",
            "url": _SOCKS_URL,
            "image_url": "https://sklep.example.pl/img/p/3/3-home_default.jpg",
        },
    ],
}

# A guest's order of one product the shop no longer shows: nothing to link, a reply is the way to answer.
_REVIEW_REQUEST_GUEST: ReviewRequestContext = {
    "customer": _CUSTOMER,
    "order": {
        **_ORDER,
        "guest": True,
        "url": "https://sklep.example.pl/index.php?controller=guest-tracking&order_reference=XKBKNABJK",
    },
    "products": [{"name": "Pocztówka", "url": "", "image_url": ""}],
}


@dataclass(frozen=True)
class SampleUnsubscribe:
    """Unsubscribe links for samples (lint, previews, tests, tools), shaped like bridge.web.unsubscribe's."""

    url: str
    mailto: str


SAMPLE_UNSUBSCRIBE: Final = SampleUnsubscribe(
    url="https://sklep.example.pl/unsubscribe?t=MTA0Mi56b2ZpYUBleGFtcGxlLmNvbQ.q3Vx8TtN0yq1b8kH&l=pl",
    mailto="mailto:sklep@example.pl?subject=unsubscribe%20MTA0Mi56b2ZpYUBleGFtcGxlLmNvbQ.q3Vx8TtN0yq1b8kH",
)


@dataclass(frozen=True)
class Kind:
    """One email kind, declared once: everything else (settings, rules, rendering, lint, tests) reads this."""

    name: str
    category: Category
    description: str
    context_type: type  # the TypedDict documenting the context
    samples: tuple[dict[str, Any], ...]  # the first is the main one; the others cover optional branches
    priority: int  # in the daily budget, lower goes first: the owner's alerts, then customers' orders
    # Order-state emails: sent when an order enters a state mapped to the kind (STATUS_EMAILS may map any
    # state to it); `ps_template` is PrestaShop's own mail template of the states that send it by default.
    order_state: bool = False
    ps_template: str | None = None
    # The context key of the person a reply should reach (a Customer-shaped dict): the owner's alert about
    # a customer's order or message is answered to that customer. None: the shop's own Reply-To.
    reply_to: str | None = None

    def sample(self, index: int = 0) -> dict[str, Any]:
        """A fresh copy, so a test that edits it cannot leak into another."""
        return copy.deepcopy(self.samples[index])

    @property
    def required_keys(self) -> frozenset[str]:
        return frozenset(getattr(self.context_type, "__required_keys__", frozenset()))

    @property
    def needs_consent(self) -> bool:
        return self.category == "marketing"

    @property
    def budget_class(self) -> Literal["transactional", "marketing"]:
        """How the daily budget counts it: marketing waits for room; everything else goes first."""
        return "marketing" if self.category == "marketing" else "transactional"


_PRIORITY: Final[dict[Category, int]] = {"owner": -1, "transactional": 0, "marketing": 5}
OWNER_BUSINESS_PRIORITY: Final = 1
# Legal notices to every customer (terms changed) go last, after marketing, spread over days.
NOTICE_PRIORITY: Final = 9


def _kind(
    name: str,
    description: str,
    context_type: type,
    *samples: Any,
    category: Category = "transactional",
    state: str | None = None,
    priority: int | None = None,
    reply_to: str | None = None,
) -> Kind:
    """A kind; `state` names PrestaShop's mail template for an order-state email ("" for a state email
    PrestaShop has no template for)."""
    return Kind(
        name,
        category,
        description,
        context_type,
        tuple(dict(s) for s in samples),
        priority=_PRIORITY[category] if priority is None else priority,
        order_state=state is not None,
        ps_template=state or None,
        reply_to=reply_to,
    )


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        _kind(
            ORDER_CONFIRMATION,
            "The order was placed: items, totals, payment, carrier, addresses, link to the order.",
            OrderConfirmationContext,
            _ORDER_CONFIRMATION,
            _ORDER_CONFIRMATION_GUEST,
        ),
        _kind(
            AWAITING_BANK_WIRE,
            "Awaiting bank wire payment: the shop's bank details and the transfer title.",
            BankWireContext,
            {**_STATUS, "bank": _BANK},
            {**_STATUS, "bank": {**_BANK, "bic": "", "address": ""}},
            state="bankwire",
        ),
        _kind(
            AWAITING_CHEQUE,
            "Awaiting cheque payment: the payee and where to send the cheque.",
            ChequeContext,
            {
                **_STATUS,
                "cheque": {
                    "payee": "Żółta Łódka sp. z o.o.",
                    "address": ["Skrytka pocztowa 12", "30-001 Kraków 1"],
                },
            },
            state="cheque",
        ),
        _kind(
            PAYMENT_ACCEPTED,
            "Payment accepted (payment confirmation): method, amount and transaction id.",
            PaymentAcceptedContext,
            {
                **_STATUS,
                "order": {**_ORDER, "invoice": True},
                "payment": {
                    "method": "Przelew bankowy",
                    "amount": _pln("1234.56"),
                    "transaction_id": "TR-2026-11-27-0042",
                    "date": "2026-11-27T13:45:00+00:00",
                },
            },
            {
                **_STATUS,
                "payment": {
                    "method": "Przelew bankowy",
                    "amount": _pln("1234.56"),
                    "transaction_id": "",
                    "date": "2026-11-27T13:45:00+00:00",
                },
            },
            state="payment",
        ),
        _kind(PROCESSING, "The order is being prepared.", StatusContext, _STATUS, state="preparation"),
        _kind(
            SHIPPED,
            "The order was shipped: carrier, tracking number and tracking link.",
            ShippedContext,
            {**_STATUS, "shipment": _SHIPMENT},
            {**_STATUS, "shipment": {**_SHIPMENT, "tracking_number": "", "tracking_url": ""}},
            state="shipped",
        ),
        _kind(
            TRACKING_ADDED,
            "A tracking number arrived after the order was marked as shipped.",
            ShippedContext,
            {**_STATUS, "shipment": _SHIPMENT},
            {**_STATUS, "shipment": {**_SHIPMENT, "tracking_url": ""}},
        ),
        _kind(DELIVERED, "The order was delivered.", StatusContext, _STATUS, state=""),
        _kind(
            CANCELLED,
            "The order was cancelled; whether money comes back, and how.",
            CancelledContext,
            {**_STATUS, "refund": {"paid": _ORDER["total"], "money_back": _MONEY_BACK}},
            {**_STATUS, "refund": {"paid": None, "money_back": _MONEY_BACK}},
            state="order_canceled",
        ),
        _kind(
            REFUNDED,
            "The order was refunded.",
            RefundedContext,
            {**_STATUS, "refund": {"amount": _pln("1234.56")}},
            {**_STATUS, "refund": {"amount": None}},
            state="refund",
        ),
        _kind(
            CREDIT_SLIP,
            "A refund (credit slip): the amount, lines and quantities, how the money comes back.",
            CreditSlipContext,
            service_kinds.CREDIT_SLIP,
            service_kinds.CREDIT_SLIP_CARD,
            service_kinds.CREDIT_SLIP_UNKNOWN,
        ),
        _kind(
            MESSAGE_REPLY,
            "The shop answered a customer's message: the answer, the message it answers, where to reply.",
            MessageReplyContext,
            service_kinds.MESSAGE_REPLY,
            service_kinds.MESSAGE_REPLY_STRANGER,
        ),
        _kind(
            MESSAGE_RECEIVED,
            "A customer's new message arrived: the message quoted, its reference, when to expect an answer.",
            MessageReceivedContext,
            service_kinds.MESSAGE_RECEIVED,
            service_kinds.MESSAGE_RECEIVED_STRANGER,
        ),
        _kind(
            TERMS_CHANGED,
            "A legal notice to every customer with an account: a terms page changed, from when, and where"
            " it is (sent only by `bridge notify-terms --yes`, last in the daily budget).",
            TermsChangedContext,
            service_kinds.TERMS_CHANGED,
            service_kinds.TERMS_CHANGED_NO_URL,
            priority=NOTICE_PRIORITY,
        ),
        _kind(PAYMENT_ERROR, "The payment failed.", StatusContext, _STATUS, state="payment_error"),
        _kind(
            BACKORDER,
            "Some products are on backorder; the order ships when they arrive.",
            StatusContext,
            _STATUS,
            state="outofstock",
        ),
        _kind(
            TEST_EMAIL,
            "Proves the SMTP settings work: which server, port and security were used.",
            SmtpTestContext,
            {
                "smtp": {
                    "host": "smtp.gmail.com",
                    "port": 587,
                    "security": "starttls",
                    "username": "sklep.zolta.lodka@gmail.com",
                },
                "sent_at": "2026-11-27T09:05:00+00:00",
                "bridge_version": "0.1.0",
                "shop_read": True,
                "missing": [],
            },
            {
                "smtp": {
                    "host": "smtp.gmail.com",
                    "port": 465,
                    "security": "ssl",
                    "username": "sklep@gmail.com",
                },
                "sent_at": "2026-11-27T09:05:00+00:00",
                "bridge_version": "0.1.0",
                "shop_read": False,
                "missing": ["LOGO_URL", "LEGAL_COMPANY", "LEGAL_TAX_ID", "LEGAL_TERMS_URL"],
            },
        ),
        _kind(
            CART_REMINDER,
            "Marketing: products left in a cart, up to three reminders, perhaps with a discount code.",
            CartReminderContext,
            _CART_REMINDER,
            _CART_REMINDER_LAST,
            _CART_REMINDER_AMOUNT,
            category="marketing",
        ),
        _kind(
            REVIEW_REQUEST,
            "Marketing: after delivery, asks for a review of each product of the order.",
            ReviewRequestContext,
            _REVIEW_REQUEST,
            _REVIEW_REQUEST_GUEST,
            category="marketing",
        ),
        _kind(
            NEW_PRODUCTS,
            "Marketing: the products that went on sale since the last digest (NEW_PRODUCTS daily or weekly),"
            " to newsletter subscribers: picture, name, short description, price and link.",
            NewProductsContext,
            NEW_PRODUCTS_WEEKLY,
            NEW_PRODUCTS_MORE,
            NEW_PRODUCTS_NO_LINKS,
            category="marketing",
            priority=NEWS_PRIORITY,
        ),
        _kind(
            CAMPAIGN,
            "Marketing: the owner's campaign (`bridge campaign send FILE --yes`): their subject and Markdown"
            " body, perhaps with a shared or a personal single-use discount code.",
            CampaignContext,
            campaign_kinds.CAMPAIGN_CODE,
            campaign_kinds.CAMPAIGN_PLAIN,
            campaign_kinds.CAMPAIGN_SHARED,
            category="marketing",
            priority=CAMPAIGN_PRIORITY,
        ),
        _kind(
            BIRTHDAY,
            "Marketing: on the customer's birthday (BIRTHDAY_EMAILS), a greeting, perhaps with a personal"
            " code.",
            BirthdayContext,
            BIRTHDAY_SAMPLE,
            BIRTHDAY_NO_CODE,
            category="marketing",
            priority=BIRTHDAY_PRIORITY,
        ),
        _kind(
            WINBACK,
            "Marketing: the customer's last order is WINBACK_AFTER_DAYS old; an invitation back, perhaps with"
            " a personal code.",
            WinbackContext,
            WINBACK_SAMPLE,
            WINBACK_NO_CODE,
            category="marketing",
            priority=WINBACK_PRIORITY,
        ),
        _kind(
            OWNER_ALERT,
            "To the owner (ADMIN_EMAIL): the shop is unreachable, sending is paused, or another bridge"
            " sends as this account; what to do.",
            OwnerAlertContext,
            _OWNER_ALERT,
            _OWNER_ALERT_CREDENTIALS,
            _OWNER_ALERT_QUOTA,
            _OWNER_ALERT_SECOND_SENDER,
            {
                **_OWNER_ALERT_CREDENTIALS,
                "pause_kind": "login",
                "error": "454 4.7.0 Too many login attempts, please try again later.",
                "advice": (
                    "Gmail refuses logins for a while (454 4.7.0 too many login attempts). Sending is "
                    "paused; check that no other program keeps logging in with this account"
                ),
                "waiting": 22,
            },
            category="owner",
        ),
        _kind(
            OWNER_TERMS_CHANGED,
            "To the owner (ADMIN_EMAIL): a terms page's text changed; which languages, how many customers a"
            " notice would reach, and the command that sends it.",
            OwnerTermsChangedContext,
            service_kinds.OWNER_TERMS_CHANGED,
            category="owner",
        ),
        # The owner's business alerts go after the customers' order emails (priority 1; the customers' 0)
        # and before marketing: a receipt never waits for the owner's copy.
        _kind(
            OWNER_NEW_ORDER,
            "To the owner (OWNER_EMAIL): a new order, its items, payment, carrier and address; replies reach "
            "the customer.",
            OwnerNewOrderContext,
            owner_kinds.NEW_ORDER,
            owner_kinds.NEW_ORDER_GUEST,
            category="owner",
            priority=OWNER_BUSINESS_PRIORITY,
            reply_to="customer",
        ),
        _kind(
            OWNER_NEW_ORDERS,
            "To the owner (OWNER_EMAIL): one digest of the new orders when many arrive in one poll.",
            OwnerNewOrdersContext,
            owner_kinds.NEW_ORDERS,
            category="owner",
            priority=OWNER_BUSINESS_PRIORITY,
        ),
        _kind(
            OWNER_CUSTOMER_MESSAGE,
            "To the owner (OWNER_EMAIL): a customer wrote to the shop; replies reach the customer.",
            OwnerCustomerMessageContext,
            owner_kinds.CUSTOMER_MESSAGE,
            owner_kinds.CUSTOMER_MESSAGE_STRANGER,
            category="owner",
            priority=OWNER_BUSINESS_PRIORITY,
            reply_to="customer",
        ),
        _kind(
            OWNER_DAILY_SUMMARY,
            "To the owner (OWNER_EMAIL): yesterday's orders and revenue, the emails sent, failed and held, "
            "and anything waiting for the owner.",
            OwnerDailySummaryContext,
            owner_kinds.DAILY_SUMMARY,
            owner_kinds.DAILY_SUMMARY_QUIET,
            category="owner",
            priority=OWNER_BUSINESS_PRIORITY,
        ),
        _kind(
            OWNER_LOW_STOCK,
            "To the owner (OWNER_EMAIL): products (or combinations) whose stock fell to the threshold or "
            "below, once per fall.",
            OwnerLowStockContext,
            owner_kinds.LOW_STOCK,
            category="owner",
            priority=OWNER_BUSINESS_PRIORITY,
        ),
    )
}


# Order states PrestaShop sends no email for, though its template names one: the order confirmation already
# says everything ("awaiting cash-on-delivery validation").
SILENT_TEMPLATES: Final = frozenset({"cashondelivery"})


def status_kinds() -> tuple[str, ...]:
    """The kinds an order state can send (STATUS_EMAILS maps states to these)."""
    return tuple(kind.name for kind in KINDS.values() if kind.order_state)


def template_kinds() -> dict[str, str | None]:
    """PrestaShop's own mail template of an order state → the kind the bridge sends for it."""
    found: dict[str, str | None] = {k.ps_template: k.name for k in KINDS.values() if k.ps_template}
    return found | dict.fromkeys(SILENT_TEMPLATES)


def marketing_kinds() -> tuple[str, ...]:
    return tuple(kind.name for kind in KINDS.values() if kind.needs_consent)


def get_kind(name: str) -> Kind:
    """The registered kind called `name`; KeyError names the known ones."""
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"unknown email kind {name!r}; known: {', '.join(sorted(KINDS))}") from None
