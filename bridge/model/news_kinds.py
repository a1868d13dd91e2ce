"""The new-product digest (NEW_PRODUCTS): its kind's name, context and samples. Declared in
`bridge.model.kinds` (KINDS); kept here so that module stays readable.

Marketing: it goes only to customers who subscribed to the newsletter, with the one-click unsubscribe the
shared layout carries. Shop text (a product's name, its short description) is data: the templates escape
it, and the description arrives as plain text (the planner strips the shop's HTML).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Literal, TypedDict

from bridge.model.samples import CUSTOMER, CUSTOMER_NO_FIRST_NAME, FRONT, SHOP, pln

if TYPE_CHECKING:  # kinds.py declares these and imports this module
    from bridge.model.kinds import Customer, Money

NEW_PRODUCTS: Final = "new_products"
# In the daily budget: after cart reminders and review requests (5), before campaigns (7).
NEWS_PRIORITY: Final = 6


class NewProduct(TypedDict):
    name: str  # in the customer's language
    description: str  # the short description as plain text, cut to a few lines; "" when none
    price: Money | None  # tax included, in the shop's default currency; None when the shop hides prices
    url: str  # the product's page in the customer's language, "" when the shop's address is unknown
    image_url: str  # absolute URL of the product's cover image, "" when none (or PRODUCT_IMAGES=none)


class NewProductsContext(TypedDict):
    """Marketing: the products that went on sale since the last digest, newest first."""

    customer: Customer
    period: Literal["daily", "weekly"]  # NEW_PRODUCTS
    date: str  # ISO instant the digest's window opened ("new since …"): the last digest, or the watch's start
    products: list[NewProduct]  # at most NEW_PRODUCTS_LIMIT, never empty
    more: int  # how many more new products the digest does not list; 0 when it lists them all
    url: str  # where the button goes: the shop's new-products page in the customer's language, or ""


# --- Samples (the shared building blocks: bridge.model.samples) ------------------------------------------

NEW_PRODUCTS_WEEKLY: Final[NewProductsContext] = {
    "customer": CUSTOMER,
    "period": "weekly",
    "date": "2026-11-23T09:00:00+00:00",
    "products": [
        {
            "name": "Dzbanek „Wrzos” 1 l",
            "description": (
                "Ręcznie toczony dzbanek z kamionki, szkliwiony na fioletowo. Można myć w zmywarce."
            ),
            "price": pln("149.00"),
            "url": f"{FRONT}?controller=product&id_product=12&id_lang=2",
            "image_url": f"{SHOP}/img/p/1/2/12-small_default.jpg",
        },
        {
            "name": "Kubek „Łódź” 330 ml – edycja zimowa",
            "description": "Nasz najpopularniejszy kubek w nowym, śnieżnobiałym szkliwie.",
            "price": pln("59.99"),
            "url": f"{FRONT}?controller=product&id_product=13&id_lang=2",
            "image_url": f"{SHOP}/img/p/1/3/13-small_default.jpg",
        },
        {
            "name": "Podstawki pod kubki, komplet 4 szt.",
            "description": "",
            "price": pln("39.00"),
            "url": f"{FRONT}?controller=product&id_product=14&id_lang=2",
            "image_url": "",
        },
    ],
    "more": 0,
    "url": f"{FRONT}?controller=new-products&id_lang=2",
}
# A daily digest of one product the shop sells without a shown price and without a picture, and more new
# products than the digest lists; the customer gave no first name.
NEW_PRODUCTS_MORE: Final[NewProductsContext] = {
    "customer": CUSTOMER_NO_FIRST_NAME,
    "period": "daily",
    "date": "2026-11-26T09:00:00+00:00",
    "products": [
        {
            "name": "Warsztaty ceramiczne dla dwojga (voucher)",
            "description": "Trzy godziny przy kole garncarskim, glina i wypał w cenie.",
            "price": None,
            "url": f"{FRONT}?controller=product&id_product=15&id_lang=2",
            "image_url": "",
        }
    ],
    "more": 14,
    "url": f"{FRONT}?controller=new-products&id_lang=2",
}
# Without the shop's address: no links at all.
NEW_PRODUCTS_NO_LINKS: Final[NewProductsContext] = {
    **NEW_PRODUCTS_MORE,
    "products": [{**NEW_PRODUCTS_WEEKLY["products"][0], "url": "", "image_url": ""}],
    "more": 2,
    "url": "",
}
