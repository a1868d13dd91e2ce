"""Customer-service kinds: the contexts and samples of the credit slip (a refund), the merchant's reply to a
customer's message and the acknowledgement of a new message. Declared in `bridge.model.kinds` (KINDS);
kept here so that module stays readable.

The samples are built from the shared ones in `bridge.model.samples`. Shop text (a message, a product name)
is data: the templates escape it and keep its line breaks (`white-space: pre-line`), never render it as
markup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, TypedDict

from bridge.model.samples import (
    CARD,
    CUSTOMER,
    CUSTOMER_NO_FIRST_NAME,
    FRONT,
    GUEST_ORDER,
    MONEY_BACK,
    MUG,
    ORDER,
    POSTCARD,
    SOCKS,
    pln,
)

if TYPE_CHECKING:  # kinds.py declares these and imports this module
    from bridge.model.kinds import Customer, Money, OrderSummary


class SlipLine(TypedDict):
    name: str  # the order line's product name, as frozen on the order
    quantity: int  # how many of it were refunded
    amount: Money  # refunded for this line, tax included


class Slip(TypedDict):
    number: int  # the credit slip's id (PrestaShop prints it as the slip number)
    date: str  # ISO instant the slip was made
    lines: list[SlipLine]  # may be empty (a refund of shipping alone)
    products: Money  # total_products_tax_incl
    shipping: Money | None  # total_shipping_tax_incl; None when shipping was not refunded
    total: Money  # products + shipping, tax included, in the order's currency


class MoneyBack(TypedDict):
    """How and when the money comes back."""

    # "transfer": a bank wire order, the money goes back by transfer; "same": an online payment, back
    # the way it came; "": unknown (cash on delivery, cheque, a module the bridge does not know)
    way: str
    method: str  # the order's payment method as the shop names it, "" when none
    days: int  # the refund arrives within this many days (REFUND_DAYS); 0: not stated
    note: str  # the owner's own sentence (REFUND_NOTE), shown instead of the bridge's; "" when none


class CreditSlipContext(TypedDict):
    """A credit slip (a partial or full refund) was made for an order."""

    customer: Customer
    order: OrderSummary
    slip: Slip
    money_back: MoneyBack


class CancelledRefund(TypedDict):
    """What the cancelled email says about money: whether any was paid, and how it comes back."""

    paid: Money | None  # what the shop received for the order; None: nothing was paid
    money_back: MoneyBack


class QuotedMessage(TypedDict):
    text: str  # plain text as the customer typed it (line breaks kept)
    date: str  # ISO instant, "" when unknown


class Conversation(TypedDict):
    reference: str  # how the shop names the thread to the customer: "#12"
    order_reference: str  # the order the thread is about, "" when none
    url: str  # where to answer: the shop's contact page (with the thread's token when known), "" when none


class MessageReplyContext(TypedDict):
    """The shop's staff answered a customer's message."""

    customer: Customer  # first and last name "" for someone without an account
    conversation: Conversation
    reply: QuotedMessage  # the staff's answer
    quoted: QuotedMessage | None  # the customer's last message before the answer; None when none


class MessageReceivedContext(TypedDict):
    """A customer opened a new conversation: it arrived, and when to expect an answer."""

    customer: Customer
    conversation: Conversation
    message: QuotedMessage
    reply_hours: int  # the shop's stated reply time (REPLY_TIME_HOURS); 0: not stated


# --- Samples (the shared building blocks: bridge.model.samples) ------------------------------------------

CREDIT_SLIP: Final[CreditSlipContext] = {
    "customer": CUSTOMER,
    "order": ORDER,
    "slip": {
        "number": 7,
        "date": "2026-12-02T10:15:00+00:00",
        "lines": [
            {"name": MUG, "quantity": 1, "amount": pln("59.99")},
            {"name": SOCKS, "quantity": 2, "amount": pln("99.98")},
        ],
        "products": pln("159.97"),
        "shipping": pln("14.99"),
        "total": pln("174.96"),
    },
    "money_back": MONEY_BACK,
}
# A guest paid by card; shipping not refunded; the owner's own sentence.
CREDIT_SLIP_CARD: Final[CreditSlipContext] = {
    "customer": CUSTOMER_NO_FIRST_NAME,
    "order": {**GUEST_ORDER, "payment_method": CARD},
    "slip": {
        "number": 8,
        "date": "2026-12-02T10:15:00+00:00",
        "lines": [{"name": POSTCARD, "quantity": 1, "amount": pln("21.00")}],
        "products": pln("21.00"),
        "shipping": None,
        "total": pln("21.00"),
    },
    "money_back": {"way": "same", "method": CARD, "days": 0, "note": ""},
}
CREDIT_SLIP_UNKNOWN: Final[CreditSlipContext] = {
    **CREDIT_SLIP,
    "money_back": {
        "way": "",
        "method": "Płatność przy odbiorze",
        "days": 14,
        "note": "Zwrot wyślemy przelewem na konto podane w formularzu zwrotu.",
    },
}

_CONVERSATION: Conversation = {
    "reference": "#12",
    "order_reference": ORDER["reference"],
    "url": f"{FRONT}?controller=contact&id_customer_thread=12&token=iw5ouV0tWCnG",
}
# Someone without an account.
_STRANGER: Customer = {"first_name": "", "last_name": "", "email": "ktos@example.com"}
_ASKED: QuotedMessage = {
    "text": "Dzień dobry,\nczy mogę zmienić adres dostawy?\nZofia",
    "date": "2026-11-27T09:40:00+00:00",
}

MESSAGE_REPLY: Final[MessageReplyContext] = {
    "customer": CUSTOMER,
    "conversation": _CONVERSATION,
    "reply": {
        "text": "Dzień dobry,\ntak — zmieniliśmy adres na <ul. Świętokrzyska 12>.\nPozdrawiamy!",
        "date": "2026-11-27T10:05:00+00:00",
    },
    "quoted": _ASKED,
}
# Someone without an account, about no order, who wrote nothing before the answer we can quote.
MESSAGE_REPLY_STRANGER: Final[MessageReplyContext] = {
    "customer": _STRANGER,
    "conversation": {"reference": "#13", "order_reference": "", "url": ""},
    "reply": {"text": "Dzień dobry, tak, wysyłamy za granicę.", "date": "2026-11-27T10:05:00+00:00"},
    "quoted": None,
}

MESSAGE_RECEIVED: Final[MessageReceivedContext] = {
    "customer": CUSTOMER,
    "conversation": _CONVERSATION,
    "message": _ASKED,
    "reply_hours": 24,
}
MESSAGE_RECEIVED_STRANGER: Final[MessageReceivedContext] = {
    "customer": _STRANGER,
    "conversation": {
        "reference": "#13",
        "order_reference": "",
        "url": f"{FRONT}?controller=contact",
    },
    "message": {"text": "Czy wysyłacie za granicę?", "date": "2026-11-27T09:40:00+00:00"},
    "reply_hours": 0,
}


# --- Terms changed (a legal notice, bridge.plan.terms) -------------------------------------------------


class TermsPage(TypedDict):
    name: str  # what the page is (TERMS_PAGES): "terms", "privacy", "returns" or the owner's own word
    title: str  # the page's title in the customer's language (meta_title)
    url: str  # the page on the shop, in the customer's language; "" when the shop's address is unknown


class TermsChangedContext(TypedDict):
    """A legal notice: a page of the shop's terms changed; from when the new text applies, and where it is.
    Not marketing: no consent and no unsubscribe link, but the email says why the customer receives it."""

    customer: Customer
    page: TermsPage
    date: str  # ISO instant: the start of the day (shop time) from which the new text applies


class ChangedPage(TypedDict):
    id: int  # the CMS page's id
    name: str  # its name in TERMS_PAGES
    title: str  # its title in the shop's default language
    languages: list[str]  # the ISO codes of the languages whose text changed


class OwnerTermsChangedContext(TypedDict):
    """To the owner (ADMIN_EMAIL): a terms page's text changed; how many customers a notice would reach and
    the command that sends it."""

    page: ChangedPage
    date: str  # ISO instant the change was seen
    customers: int  # active customers with an account (not guests, not deleted) a notice would reach


TERMS_CHANGED: Final[TermsChangedContext] = {
    "customer": CUSTOMER,
    "page": {
        "name": "terms",
        "title": "Regulamin",
        "url": f"{FRONT}?controller=cms&id_cms=3&id_lang=2",
    },
    "date": "2026-12-21T00:00:00+01:00",
}
TERMS_CHANGED_NO_URL: Final[TermsChangedContext] = {
    "customer": CUSTOMER_NO_FIRST_NAME,
    "page": {"name": "privacy", "title": "Polityka prywatności", "url": ""},
    "date": "2026-12-21T00:00:00+01:00",
}
OWNER_TERMS_CHANGED: Final[OwnerTermsChangedContext] = {
    "page": {"id": 3, "name": "terms", "title": "Regulamin", "languages": ["pl", "en"]},
    "date": "2026-12-07T09:05:00+00:00",
    "customers": 1234,
}
