"""The email kinds the bridge sends: what each is for, the context its templates expect, and its samples.

The outbox stores `(kind, language, context)` and renders at send time, so the context is a contract between
the code that reads the shop (which builds it) and the templates (which read it). It is plain JSON:

- money is `{"amount": "1234.56", "currency": "PLN"}` (a decimal *string*, an ISO 4217 code);
- instants are ISO 8601 strings with an offset (`"2026-11-27T10:05:00+01:00"`);
- optional text is `""`, optional money is `None`; every key listed below is present (templates use
  StrictUndefined, so a missing key fails the render instead of printing a blank).

`render.py` adds `shop` (the ShopIdentity's fields), `lang`, `locale`, `timezone` and `subject` itself;
contexts must not carry them.
Each kind lists its samples, which feed `bridge templates lint`, previews, the test email and the tests. The
sample data itself is in `bridge.model.samples` (the shared customer, order, address and products, and the
samples of the kinds declared here); the kind modules beside this one keep their own kinds' samples.

Adding a kind: add its context TypedDict and an entry to KINDS here, its samples to `bridge.model.samples`
(or to its own module), add `<kind>.subject.txt`, `<kind>.txt` and `<kind>.html` under every language in
`templates/`, then let tests/test_templates.py pick it up.

Marketing kinds (cart reminders, review requests) go only to customers who agreed to them. `render.py`
renders them only with unsubscribe links (`SAMPLE_UNSUBSCRIBE` here for samples): it writes the RFC 8058
List-Unsubscribe headers and gives the templates `unsubscribe_url`, which the shared layout shows in the
footer. Their contexts carry no unsubscribe data: the links are made at send time, per recipient.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Final, Literal, NotRequired, TypedDict, get_origin

from bridge.model import campaign_kinds, owner_kinds, samples, service_kinds
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
    refund: NotRequired[CancelledRefund]  # absent from emails queued before it existed (`is defined`)


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


# --- The samples' unsubscribe links (the samples themselves: bridge.model.samples) ---------------------


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
        """The keys the renderer insists on: an email queued by an older bridge lacks the keys added since,
        which are declared `NotRequired`. Python 3.11 cannot see `NotRequired` in a TypedDict whose module
        postpones annotations (they stay strings), so those are read from the annotation's text."""
        declared: frozenset[str] = getattr(self.context_type, "__required_keys__", frozenset())
        annotations = getattr(self.context_type, "__annotations__", {})
        return frozenset(key for key in declared if not _not_required(annotations.get(key)))

    @property
    def needs_consent(self) -> bool:
        return self.category == "marketing"

    @property
    def budget_class(self) -> Literal["transactional", "marketing"]:
        """How the daily budget counts it: marketing waits for room; everything else goes first."""
        return "marketing" if self.category == "marketing" else "transactional"


def _not_required(annotation: object) -> bool:
    text = getattr(annotation, "__forward_arg__", annotation)  # a postponed annotation: a ForwardRef or str
    if isinstance(text, str):
        return text.replace(" ", "").startswith(("NotRequired[", "typing.NotRequired["))
    return get_origin(annotation) is NotRequired


_PRIORITY: Final[dict[Category, int]] = {"owner": -1, "transactional": 0, "marketing": 5}
OWNER_BUSINESS_PRIORITY: Final = 1
# Legal notices to every customer (terms changed) go last, after marketing, spread over days.
NOTICE_PRIORITY: Final = 9


def _kind(
    name: str,
    description: str,
    context_type: type,
    *contexts: Any,
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
        tuple(dict(c) for c in contexts),
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
            samples.ORDER_CONFIRMATION,
            samples.ORDER_CONFIRMATION_GUEST,
        ),
        _kind(
            AWAITING_BANK_WIRE,
            "Awaiting bank wire payment: the shop's bank details and the transfer title.",
            BankWireContext,
            samples.AWAITING_BANK_WIRE,
            samples.AWAITING_BANK_WIRE_DOMESTIC,
            state="bankwire",
        ),
        _kind(
            AWAITING_CHEQUE,
            "Awaiting cheque payment: the payee and where to send the cheque.",
            ChequeContext,
            samples.AWAITING_CHEQUE,
            state="cheque",
        ),
        _kind(
            PAYMENT_ACCEPTED,
            "Payment accepted (payment confirmation): method, amount and transaction id.",
            PaymentAcceptedContext,
            samples.PAYMENT_ACCEPTED,
            samples.PAYMENT_ACCEPTED_NO_ID,
            state="payment",
        ),
        _kind(PROCESSING, "The order is being prepared.", StatusContext, samples.STATUS, state="preparation"),
        _kind(
            SHIPPED,
            "The order was shipped: carrier, tracking number and tracking link.",
            ShippedContext,
            samples.SHIPPED,
            samples.SHIPPED_NO_TRACKING,
            state="shipped",
        ),
        _kind(
            TRACKING_ADDED,
            "A tracking number arrived after the order was marked as shipped.",
            ShippedContext,
            samples.SHIPPED,
            samples.TRACKING_NO_URL,
        ),
        _kind(DELIVERED, "The order was delivered.", StatusContext, samples.STATUS, state=""),
        _kind(
            CANCELLED,
            "The order was cancelled; whether money comes back, and how.",
            CancelledContext,
            samples.CANCELLED,
            samples.CANCELLED_UNPAID,
            state="order_canceled",
        ),
        _kind(
            REFUNDED,
            "The order was refunded.",
            RefundedContext,
            samples.REFUNDED,
            samples.REFUNDED_UNKNOWN,
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
        _kind(PAYMENT_ERROR, "The payment failed.", StatusContext, samples.STATUS, state="payment_error"),
        _kind(
            BACKORDER,
            "Some products are on backorder; the order ships when they arrive.",
            StatusContext,
            samples.STATUS,
            state="outofstock",
        ),
        _kind(
            TEST_EMAIL,
            "Proves the SMTP settings work: which server, port and security were used.",
            SmtpTestContext,
            samples.TEST_EMAIL,
            samples.TEST_EMAIL_UNBRANDED,
        ),
        _kind(
            CART_REMINDER,
            "Marketing: products left in a cart, up to three reminders, perhaps with a discount code.",
            CartReminderContext,
            samples.CART_REMINDER,
            samples.CART_REMINDER_LAST,
            samples.CART_REMINDER_AMOUNT,
            category="marketing",
        ),
        _kind(
            REVIEW_REQUEST,
            "Marketing: after delivery, asks for a review of each product of the order.",
            ReviewRequestContext,
            samples.REVIEW_REQUEST,
            samples.REVIEW_REQUEST_GUEST,
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
            samples.OWNER_ALERT,
            samples.OWNER_ALERT_CREDENTIALS,
            samples.OWNER_ALERT_QUOTA,
            samples.OWNER_ALERT_SECOND_SENDER,
            samples.OWNER_ALERT_LOGIN,
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
