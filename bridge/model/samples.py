"""The email kinds' sample data: the building blocks every kind module shares, and the samples of the kinds
`bridge.model.kinds` declares itself.

A sample is a context as the planner would store it (the JSON conventions of `bridge.model.kinds`): it feeds
`bridge templates lint`, previews, the test email, the tools and the tests. The sample customer, her order,
her address, the shop's products and the shop's addresses are written once, here; the kind modules beside
this one (owner_kinds, service_kinds, campaign_kinds, news_kinds, automation_kinds) keep their own kinds'
samples and build them from these. A kind's first sample is its main one; the others reach the templates'
optional branches.

Every kind module imports this one and kinds.py imports them all, so it imports none of them at run time
(the context types below are for the type checker only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:  # kinds.py declares the contexts and imports this module
    from bridge.model.kinds import (
        BankDetails,
        BankWireContext,
        CancelledContext,
        CartReminderContext,
        ChequeContext,
        Customer,
        Money,
        OrderConfirmationContext,
        OrderLine,
        OrderSummary,
        OwnerAlertContext,
        PaymentAcceptedContext,
        PostalAddress,
        RefundedContext,
        ReviewRequestContext,
        Shipment,
        ShippedContext,
        SmtpTestContext,
        StatusContext,
    )
    from bridge.model.service_kinds import MoneyBack


# --- Building blocks, shared by every kind module ------------------------------------------------------


def pln(amount: str) -> Money:
    return {"amount": amount, "currency": "PLN"}


def _eur(amount: str) -> Money:
    return {"amount": amount, "currency": "EUR"}


# The samples' present: the order was placed then, and the alerts and the test email are dated then.
NOW: Final = "2026-11-27T09:05:00+00:00"

SHOP: Final = "https://sklep.example.pl"
FRONT: Final = f"{SHOP}/index.php"  # the storefront's controllers
ADMIN: Final = f"{SHOP}/admin-x7k2/index.php"  # the back office (SHOP_ADMIN_URL)
COMPANY: Final = "Żółta Łódka sp. z o.o."
BANK_WIRE: Final = "Przelew bankowy"
CARD: Final = "Karta płatnicza"

CUSTOMER: Customer = {"first_name": "Zofia", "last_name": "Żółkiewska", "email": "zofia@example.com"}
CUSTOMER_NO_FIRST_NAME: Customer = {**CUSTOMER, "first_name": ""}

ORDER: OrderSummary = {
    "reference": "XKBKNABJK",
    "date": NOW,
    "url": f"{FRONT}?controller=order-detail&id_order=1042",
    "guest": False,
    "total": pln("1234.56"),
    "payment_method": BANK_WIRE,
    "country": "PL",
    "invoice": False,
}
# Ordered without an account: the order's link is the guest tracking page.
GUEST_ORDER: OrderSummary = {
    **ORDER,
    "guest": True,
    "url": f"{FRONT}?controller=guest-tracking&order_reference=XKBKNABJK",
}

ADDRESS: PostalAddress = {
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

# The shop's products: their names as frozen on an order, their pages and their pictures.
JACKET: Final = "Kurtka przeciwdeszczowa (Rozmiar: M - Kolor: Granatowy)"
MUG: Final = "Kubek „Łódź” 330 ml"
SOCKS: Final = "Skarpetki wełniane (Rozmiar: 39-42)"
POSTCARD: Final = "Pocztówka"
JACKET_URL: Final = f"{SHOP}/kurtki/1-kurtka-przeciwdeszczowa.html"
MUG_URL: Final = f"{SHOP}/kubki/2-kubek-lodz-330-ml.html"
SOCKS_URL: Final = f"{SHOP}/skarpetki/3-skarpetki-welniane.html"
JACKET_IMAGE: Final = f"{SHOP}/img/p/1/1-home_default.jpg"
MUG_IMAGE: Final = f"{SHOP}/img/p/2/2-home_default.jpg"
SOCKS_IMAGE: Final = f"{SHOP}/img/p/3/3-home_default.jpg"

JACKET_LINE: OrderLine = {
    "name": JACKET,
    "reference": "KURTKA-M-GR",
    "customization": "",
    "quantity": 2,
    "unit_price": pln("499.00"),
    "total": pln("998.00"),
    "image_url": JACKET_IMAGE,
}
MUG_LINE: OrderLine = {
    "name": MUG,
    "reference": "KUBEK-LODZ",
    "customization": "Dla Józefa",
    "quantity": 1,
    "unit_price": pln("59.99"),
    "total": pln("59.99"),
    "image_url": "",
}
SOCKS_LINE: OrderLine = {
    "name": SOCKS,
    "reference": "",
    "customization": "",
    "quantity": 3,
    "unit_price": pln("49.99"),
    "total": pln("149.97"),
    "image_url": SOCKS_IMAGE,
}

# How a bank wire order's money comes back (the cancelled email, the credit slip).
MONEY_BACK: MoneyBack = {"way": "transfer", "method": BANK_WIRE, "days": 14, "note": ""}


# --- Order emails ---------------------------------------------------------------------------------------

ORDER_CONFIRMATION: OrderConfirmationContext = {
    "customer": CUSTOMER,
    "order": ORDER,
    "items": [JACKET_LINE, MUG_LINE, SOCKS_LINE],
    "discounts": [{"name": "Rabat na start", "amount": pln("10.00")}],
    "totals": {
        "products": pln("1207.96"),
        "discounts": pln("10.00"),
        "shipping": pln("14.99"),
        "wrapping": pln("21.61"),
        "taxes": [{"label": "VAT 23%", "amount": pln("230.85")}],
        "total_tax_excl": pln("1003.71"),
        "total": pln("1234.56"),
    },
    "paid": False,
    "carrier": "InPost Paczkomaty 24/7",
    "delivery_address": ADDRESS,
    "invoice_address": {
        **ADDRESS,
        "company": COMPANY,
        "vat_number": "PL5260250274",
        "street": ["al. Jerozolimskie 44", "lok. 7"],
        "postal_code": "00-024",
    },
    "message": "Proszę o dostawę po 16:00.",
}

# A guest who paid at once, no discount, no wrapping, no images, free shipping: the other branches.
ORDER_CONFIRMATION_GUEST: OrderConfirmationContext = {
    **ORDER_CONFIRMATION,
    "order": {
        **GUEST_ORDER,
        "total": _eur("21.00"),
        "payment_method": CARD,
        "invoice": True,  # paid at once: PrestaShop numbered the invoice
    },
    "items": [
        {
            "name": POSTCARD,
            "reference": "",
            "customization": "",
            "quantity": 1,
            "unit_price": _eur("21.00"),
            "total": _eur("21.00"),
            "image_url": "",
        }
    ],
    "discounts": [],
    "totals": {
        "products": _eur("21.00"),
        "discounts": None,
        "shipping": _eur("0.00"),
        "wrapping": None,
        "taxes": [],
        "total_tax_excl": _eur("21.00"),
        "total": _eur("21.00"),
    },
    "paid": True,
    "carrier": "",
    "invoice_address": ADDRESS,
    "message": "",
}

# processing, delivered, payment_error, backorder; the others add their part to it.
STATUS: StatusContext = {"customer": CUSTOMER, "order": ORDER}

BANK: BankDetails = {
    "owner": COMPANY,
    "iban": "PL61 1090 1014 0000 0712 1981 2874",
    "bic": "WBKPPLPP",
    "bank_name": "Santander Bank Polska",
    "address": "al. Jana Pawła II 17, 00-854 Warszawa",
}
AWAITING_BANK_WIRE: BankWireContext = {**STATUS, "bank": BANK}
AWAITING_BANK_WIRE_DOMESTIC: BankWireContext = {**STATUS, "bank": {**BANK, "bic": "", "address": ""}}

AWAITING_CHEQUE: ChequeContext = {
    **STATUS,
    "cheque": {"payee": COMPANY, "address": ["Skrytka pocztowa 12", "30-001 Kraków 1"]},
}

PAYMENT_ACCEPTED: PaymentAcceptedContext = {
    **STATUS,
    "order": {**ORDER, "invoice": True},
    "payment": {
        "method": BANK_WIRE,
        "amount": pln("1234.56"),
        "transaction_id": "TR-2026-11-27-0042",
        "date": "2026-11-27T13:45:00+00:00",
    },
}
# No transaction id recorded; no invoice yet.
PAYMENT_ACCEPTED_NO_ID: PaymentAcceptedContext = {
    **STATUS,
    "payment": {**PAYMENT_ACCEPTED["payment"], "transaction_id": ""},
}

SHIPMENT: Shipment = {
    "carrier": "InPost Paczkomaty 24/7",
    "tracking_number": "PL123456789",
    "tracking_url": "https://inpost.pl/sledzenie-przesylek?number=PL123456789",
    "delay": "1-2 dni robocze",
    "items": ORDER_CONFIRMATION["items"],
    "address": ADDRESS,
}
SHIPPED: ShippedContext = {**STATUS, "shipment": SHIPMENT}
SHIPPED_NO_TRACKING: ShippedContext = {
    **STATUS,
    "shipment": {**SHIPMENT, "tracking_number": "", "tracking_url": ""},
}
TRACKING_NO_URL: ShippedContext = {**STATUS, "shipment": {**SHIPMENT, "tracking_url": ""}}

CANCELLED: CancelledContext = {**STATUS, "refund": {"paid": ORDER["total"], "money_back": MONEY_BACK}}
CANCELLED_UNPAID: CancelledContext = {**STATUS, "refund": {"paid": None, "money_back": MONEY_BACK}}

REFUNDED: RefundedContext = {**STATUS, "refund": {"amount": pln("1234.56")}}
REFUNDED_UNKNOWN: RefundedContext = {**STATUS, "refund": {"amount": None}}


# --- The test email -------------------------------------------------------------------------------------

TEST_EMAIL: SmtpTestContext = {
    "smtp": {
        "host": "smtp.gmail.com",
        "port": 587,
        "security": "starttls",
        "username": "sklep.zolta.lodka@gmail.com",
    },
    "sent_at": NOW,
    "bridge_version": "0.1.0",
    "shop_read": True,
    "missing": [],
}
# Implicit TLS, before the first sync, with the branding and legal settings left empty.
TEST_EMAIL_UNBRANDED: SmtpTestContext = {
    "smtp": {"host": "smtp.gmail.com", "port": 465, "security": "ssl", "username": "sklep@gmail.com"},
    "sent_at": NOW,
    "bridge_version": "0.1.0",
    "shop_read": False,
    "missing": ["LOGO_URL", "LEGAL_COMPANY", "LEGAL_TAX_ID", "LEGAL_TERMS_URL"],
}


# --- Marketing: cart reminders and review requests -------------------------------------------------------

CART_REMINDER: CartReminderContext = {
    "customer": CUSTOMER,
    "step": 1,
    "cart": {
        "items": [
            {
                "name": JACKET,
                "quantity": 1,
                "unit_price": pln("499.00"),
                "total": pln("499.00"),
                "url": JACKET_URL,
                "image_url": JACKET_IMAGE,
            },
            {
                "name": MUG,
                "quantity": 2,
                "unit_price": pln("59.99"),
                "total": pln("119.98"),
                "url": MUG_URL,
                "image_url": MUG_IMAGE,
            },
            {
                "name": SOCKS,
                "quantity": 3,
                "unit_price": pln("49.99"),
                "total": pln("149.97"),
                "url": SOCKS_URL,
                "image_url": SOCKS_IMAGE,
            },
        ],
        "total": pln("768.95"),
        "url": f"{FRONT}?controller=order&recover_cart=731&token_cart=8f14e45fceea167a5a36dedd4bea2543",
        "restores_session": True,
    },
    "discount": None,
}

# The last reminder: a plain cart link (the customer signs in), a percentage code that expires, and a
# product with neither page nor picture.
CART_REMINDER_LAST: CartReminderContext = {
    "customer": CUSTOMER,
    "step": 3,
    "cart": {
        "items": [
            CART_REMINDER["cart"]["items"][0],
            {
                "name": "Karta podarunkowa 50 zł",
                "quantity": 1,
                "unit_price": pln("50.00"),
                "total": pln("50.00"),
                "url": "",
                "image_url": "",
            },
        ],
        "total": pln("549.00"),
        "url": f"{FRONT}?controller=cart&action=show",
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
CART_REMINDER_AMOUNT: CartReminderContext = {
    "customer": CUSTOMER_NO_FIRST_NAME,
    "step": 2,
    "cart": {
        "items": [
            {
                "name": MUG,
                "quantity": 1,
                "unit_price": pln("59.99"),
                "total": pln("59.99"),
                "url": MUG_URL,
                "image_url": "",
            }
        ],
        "total": pln("59.99"),
        "url": f"{FRONT}?controller=cart&action=show",
        "restores_session": False,
    },
    "discount": {"code": "KOSZYK20", "percent": "", "amount": pln("20.00"), "valid_until": ""},
}

REVIEW_REQUEST: ReviewRequestContext = {
    "customer": CUSTOMER,
    "order": ORDER,
    "products": [
        {"name": JACKET, "url": JACKET_URL, "image_url": JACKET_IMAGE},
        {"name": MUG, "url": MUG_URL, "image_url": ""},
        {"name": SOCKS, "url": SOCKS_URL, "image_url": SOCKS_IMAGE},
    ],
}

# A guest's order of one product the shop no longer shows: nothing to link, a reply is the way to answer.
REVIEW_REQUEST_GUEST: ReviewRequestContext = {
    "customer": CUSTOMER,
    "order": GUEST_ORDER,
    "products": [{"name": POSTCARD, "url": "", "image_url": ""}],
}


# --- The bridge's own alerts to ADMIN_EMAIL -------------------------------------------------------------

OWNER_ALERT: OwnerAlertContext = {
    "problem": "shop_unreachable",
    "pause_kind": "",
    "date": NOW,
    "error": (
        "timed out after 20 s waiting for an answer from sklep.example.pl: the shop is down or overloaded"
    ),
    "advice": "",
    "waiting": 0,
}

OWNER_ALERT_CREDENTIALS: OwnerAlertContext = {
    "problem": "sending_paused",
    "pause_kind": "credentials",
    "date": NOW,
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

OWNER_ALERT_QUOTA: OwnerAlertContext = {
    **OWNER_ALERT_CREDENTIALS,
    "pause_kind": "quota",
    "error": "550 5.4.5 Daily user sending limit exceeded.",
    "advice": (
        "Gmail's daily sending limit for this account is used up (550 5.4.5). Sending is paused and resumes "
        "as the rolling 24-hour window frees up; no email is lost. Mail the owner sends by hand from the "
        "same account counts towards the same limit"
    ),
    "waiting": 1,
}

# Another bridge's email in the Sent folder (bridge.mailbox.senders): marketing waits for the owner.
OWNER_ALERT_SECOND_SENDER: OwnerAlertContext = {
    "problem": "second_sender",
    "pause_kind": "",
    "date": NOW,
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

OWNER_ALERT_LOGIN: OwnerAlertContext = {
    **OWNER_ALERT_CREDENTIALS,
    "pause_kind": "login",
    "error": "454 4.7.0 Too many login attempts, please try again later.",
    "advice": (
        "Gmail refuses logins for a while (454 4.7.0 too many login attempts). Sending is "
        "paused; check that no other program keeps logging in with this account"
    ),
    "waiting": 22,
}
