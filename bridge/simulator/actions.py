"""Things happening in the simulated shop, moving exactly the timestamps and rows the real shop moves.

Each `Shop` method is one action of a customer or an employee (checkout, a back-office state change, a
tracking number...). What each one touches was recorded on a real PrestaShop 8.1.2 shop
(`tests/data/real-responses/timeline/`, docs/shop-facts.md §6, §7); the bridge's change detection is only as
good as this fidelity, so the surprising parts are deliberate:

- checkout does not touch the cart's `date_upd` (neither do the vouchers it uses);
- a voucher used at checkout leaves one `order_cart_rules` row and takes one use off the rule (its
  `date_upd` moves);
- a back-office payment moves `orders.date_upd` but adds no `order_histories` row and keeps the state;
- moving an unpaid order to a paid state creates a payment for the rest, none when it is already paid;
- a tracking number moves no timestamp anywhere;
- merchandise returns live in private tables the webservice cannot see;
- a credit slip does not move `orders.date_upd`.
"""

from __future__ import annotations

import random
import string
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from bridge.clock import ManualClock
from bridge.simulator import stock
from bridge.simulator.state import ShopState

Row = dict[str, Any]
Language = str | int
CartItem = tuple[int, int] | tuple[int, int, int]

CENT = Decimal("0.01")
MICRO = Decimal("0.000001")
ZERO = Decimal(0)

# PS_PASSWD_TIME_FRONT (minutes): PrestaShop back-dates `last_passwd_gen` by it at registration.
PASSWORD_REGENERATION_MINUTES = 360
# The REMOTE_ADDR the real shop stored, as `ip2long` writes it into customer_messages.ip_address.
LOOPBACK_IP2LONG = "2130706433"
CUSTOMER_USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"

# Default order state ids of a fresh install, used when a PS_OS_* configuration row is missing.
DEFAULT_STATE_IDS: dict[str, int] = {
    "PS_OS_CHEQUE": 1,
    "PS_OS_PAYMENT": 2,
    "PS_OS_PREPARATION": 3,
    "PS_OS_SHIPPING": 4,
    "PS_OS_DELIVERED": 5,
    "PS_OS_CANCELED": 6,
    "PS_OS_REFUND": 7,
    "PS_OS_ERROR": 8,
    "PS_OS_OUTOFSTOCK_PAID": 9,
    "PS_OS_BANKWIRE": 10,
    "PS_OS_WS_PAYMENT": 11,
    "PS_OS_OUTOFSTOCK_UNPAID": 12,
    "PS_OS_COD_VALIDATION": 13,
}

# Merchandise return states of a fresh install (order_return_state); not exposed by the webservice.
RETURN_STATES: dict[int, str] = {
    1: "Waiting for confirmation",
    2: "Waiting for package",
    3: "Package received",
    4: "Return denied",
    5: "Return completed",
}


@dataclass(frozen=True)
class PaymentModule:
    """A payment module as `validateOrder` sees it: its technical name, display name and first state."""

    module: str
    names: Mapping[str, str]  # language iso code -> display name stored in orders.payment
    initial_state: str  # PS_OS_* configuration key of the state validateOrder adds
    transaction_ids: bool = False  # the gateway reports a transaction id with the payment


PAYMENT_MODULES: dict[str, PaymentModule] = {
    "ps_wirepayment": PaymentModule(
        "ps_wirepayment", {"en": "Wire payment", "pl": "Przelew bankowy"}, "PS_OS_BANKWIRE"
    ),
    "ps_checkpayment": PaymentModule(
        "ps_checkpayment", {"en": "Payments by check", "pl": "Płatność czekiem"}, "PS_OS_CHEQUE"
    ),
    "ps_cashondelivery": PaymentModule(
        "ps_cashondelivery",
        {"en": "Cash on delivery (COD)", "pl": "Płatność przy odbiorze"},
        "PS_OS_COD_VALIDATION",
    ),
    # A card/instant-transfer gateway that validates the order only once the money is in.
    "przelewy24": PaymentModule(
        "przelewy24", {"en": "Przelewy24", "pl": "Przelewy24"}, "PS_OS_PAYMENT", transaction_ids=True
    ),
}


@dataclass(frozen=True)
class PostalAddress:
    """An address as the customer types it at checkout."""

    address1: str
    postcode: str
    city: str
    country: str = "PL"  # ISO code
    address2: str = ""
    phone: str = ""
    phone_mobile: str = ""
    company: str = ""
    vat_number: str = ""
    other: str = ""
    alias: str | None = None  # None: "Mój adres" / "My address" in the customer's language


@dataclass(frozen=True)
class CustomerRef:
    customer_id: int
    address_id: int | None


@dataclass
class _Line:
    """One order line while the order is being built."""

    product: Row
    attribute_id: int
    quantity: int
    name: str
    reference: str
    unit_excl: Decimal
    unit_incl: Decimal
    total_excl: Decimal
    total_incl: Decimal
    original_price: Decimal
    weight: Decimal
    tax_group: int
    tax_ids: list[int] = field(default_factory=list)


def money(value: Decimal) -> Decimal:
    """Round half up to cents (round_mode 2, PS_ROUND_HALF_UP)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def micro(value: Decimal) -> Decimal:
    """Round to the 6 digits PrestaShop's DECIMAL(20,6) columns keep."""
    return value.quantize(MICRO, rounding=ROUND_HALF_UP)


def net_from_gross(gross: Decimal | str | int, rate: Decimal | str | int) -> Decimal:
    """The tax-excluded price PrestaShop stores for a price the merchant typed tax-included."""
    return micro(Decimal(gross) / (1 + Decimal(rate) / 100))


_TRANSLITERATION = str.maketrans({"ł": "l", "Ł": "L", "đ": "d", "ß": "ss", "ø": "o", "æ": "ae"})


def link_rewrite(text: str) -> str:
    """PrestaShop's `Tools::str2url`: lower-case ASCII words joined by hyphens."""
    ascii_text = (
        unicodedata.normalize("NFKD", text.translate(_TRANSLITERATION)).encode("ascii", "ignore").decode()
    )
    words = "".join(ch if ch.isalnum() else " " for ch in ascii_text.lower()).split()
    return "-".join(words)


class Shop:
    """A Python API that makes things happen in a `ShopState` the way the real shop does.

    Several actions may happen in the same second (the real shop validates 1-10 orders per second): time
    only moves through `advance()`, or is pinned for a block with `at()` (back-dating history).
    """

    def __init__(self, state: ShopState, *, seed: int = 0) -> None:
        self.state = state
        self._random = random.Random(seed)
        self._pinned: datetime | None = None
        for table in (
            "tax_rules_groups",
            "carrier_prices",
            "combinations",
            "guests",
            "order_returns",
            "order_return_details",
        ):
            state.private.setdefault(table, {})

    # -- time ---------------------------------------------------------------------------------------

    @property
    def clock(self) -> ManualClock:
        clock = self.state.clock
        if not isinstance(clock, ManualClock):
            raise TypeError("Shop needs a ShopState driven by a ManualClock")
        return clock

    def now(self) -> datetime:
        """The shop-local wall time actions stamp (naive, to the second)."""
        return self._pinned if self._pinned is not None else self.state.now_local()

    def advance(self, delta: timedelta | float = 1.0) -> datetime:
        """Move the shop's clock forward (seconds or a timedelta); returns the new shop-local time."""
        self.clock.advance(delta)
        return self.now()

    @contextmanager
    def at(self, when: datetime) -> Iterator[None]:
        """Stamp every action in the block with `when` (shop-local; aware values are converted).

        How history is back-dated, like the recorded abandoned cart whose row was edited to look 2 h old.
        """
        if when.tzinfo is not None:
            when = when.astimezone(self.state.timezone).replace(tzinfo=None)
        previous = self._pinned
        self._pinned = when.replace(microsecond=0)
        try:
            yield
        finally:
            self._pinned = previous

    # -- lookups ------------------------------------------------------------------------------------

    def language_id(self, language: Language | None) -> int:
        if language is None:
            return int(self.state.config("PS_LANG_DEFAULT") or 1)
        if isinstance(language, int):
            self.state.get("languages", language)
            return language
        for row in self.state.rows("languages"):
            if row["iso_code"] == language:
                return int(row["id"])
        raise KeyError(f"no language {language!r}")

    def language_iso(self, language_id: int) -> str:
        return str(self.state.get("languages", language_id)["iso_code"])

    def currency_id(self, currency: str | int | None) -> int:
        if currency is None:
            return int(self.state.config("PS_CURRENCY_DEFAULT") or 1)
        if isinstance(currency, int):
            self.state.get("currencies", currency)
            return currency
        for row in self.state.rows("currencies"):
            if row["iso_code"] == currency:
                return int(row["id"])
        raise KeyError(f"no currency {currency!r}")

    def country_id(self, iso_code: str) -> int:
        for row in self.state.rows("countries"):
            if row["iso_code"] == iso_code:
                return int(row["id"])
        raise KeyError(f"no country {iso_code!r}")

    def state_id(self, key: str) -> int:
        """The order state a PS_OS_* configuration key points at."""
        value = self.state.config(key)
        return int(value) if value else DEFAULT_STATE_IDS[key]

    def order_ref(self, order_id: int) -> str:
        return str(self.state.get("orders", order_id)["reference"])

    def order_details(self, order_id: int) -> list[Row]:
        return [
            self.state.get("order_details", i)
            for i in self.state.ids_where("order_details", "id_order", order_id)
        ]

    def payments(self, order_id: int) -> list[Row]:
        reference = self.order_ref(order_id)
        ids = self.state.ids_where("order_payments", "order_reference", reference)
        return [self.state.get("order_payments", i) for i in ids]

    def order_carrier(self, order_id: int) -> Row:
        ids = self.state.ids_where("order_carriers", "id_order", order_id)
        return self.state.get("order_carriers", ids[0])

    def history(self, order_id: int) -> list[Row]:
        ids = self.state.ids_where("order_histories", "id_order", order_id)
        return [self.state.get("order_histories", i) for i in ids]

    def customer_address_id(self, customer_id: int) -> int | None:
        """The customer's newest live address, which checkout preselects."""
        ids = [
            i
            for i in self.state.ids_where("addresses", "id_customer", customer_id)
            if not self.state.get("addresses", i)["deleted"]
        ]
        return ids[-1] if ids else None

    # -- random but reproducible values -------------------------------------------------------------

    def _hex32(self) -> str:
        return f"{self._random.getrandbits(128):032x}"

    def _token(self, length: int) -> str:
        alphabet = string.ascii_letters + string.digits
        return "".join(self._random.choice(alphabet) for _ in range(length))

    def _password_hash(self) -> str:
        alphabet = string.ascii_letters + string.digits + "./"
        return "$2y$10$" + "".join(self._random.choice(alphabet) for _ in range(53))

    def _reference(self) -> str:
        """`Order::generateReference()`: 9 random upper-case letters."""
        while True:
            reference = "".join(self._random.choice(string.ascii_uppercase) for _ in range(9))
            if not self.state.ids_where("orders", "reference", reference):
                return reference

    # -- catalogue ----------------------------------------------------------------------------------

    def add_tax_rules_group(self, name: str, rate: Decimal | str | int, *, id: int | None = None) -> int:
        """A tax rules group (the webservice resources for taxes are not simulated; orders need the rate)."""
        table = self.state.private["tax_rules_groups"]
        group_id = id if id is not None else max(table, default=0) + 1
        table[group_id] = {"id": group_id, "name": name, "rate": Decimal(rate), "id_tax": group_id}
        return group_id

    def tax_rules_group_for(self, rate: Decimal | str | int) -> int:
        wanted = Decimal(rate)
        for group_id, group in self.state.private["tax_rules_groups"].items():
            if group["rate"] == wanted:
                return int(group_id)
        return self.add_tax_rules_group(f"VAT {wanted}%", wanted)

    def tax_rate(self, tax_rules_group: int) -> Decimal:
        group = self.state.private["tax_rules_groups"].get(tax_rules_group)
        return ZERO if group is None else Decimal(group["rate"])

    def add_product(
        self,
        names: Mapping[Language, str],
        price: Decimal | str | int,
        *,
        tax_rate: Decimal | str | int = 23,
        reference: str = "",
        weight: Decimal | str | int = 0,
        descriptions: Mapping[Language, str] | None = None,
        wholesale_price: Decimal | str | int = 0,
        active: bool = True,
        category_id: int = 2,
        short_descriptions: Mapping[Language, str] | None = None,
        visibility: str = "both",
    ) -> int:
        """A product created in the back office. `price` is tax excluded, as PrestaShop stores it;
        `visibility` is both, catalog, search or none."""
        now = self.now()
        names_by_id = self._i18n(names)
        descriptions_by_id = self._i18n(descriptions or {})
        short_by_id = self._i18n(short_descriptions or {})
        empty = dict.fromkeys(names_by_id, "")
        with self.state.lock:
            values: Row = {
                "id_manufacturer": 0,
                "id_supplier": 0,
                "id_category_default": category_id,
                "new": None,
                "cache_default_attribute": 0,
                "id_default_image": None,
                "id_default_combination": 0,
                "id_tax_rules_group": self.tax_rules_group_for(tax_rate),
                "position_in_category": self.state.count("products"),
                "manufacturer_name": False,
                "quantity": 0,
                "type": "simple",
                "id_shop_default": 1,
                "reference": reference,
                "weight": Decimal(weight),
                "state": 1,
                "additional_delivery_times": 1,
                "delivery_in_stock": empty,
                "delivery_out_stock": empty,
                "product_type": "standard",
                "minimal_quantity": 1,
                "price": micro(Decimal(price)),
                "wholesale_price": Decimal(wholesale_price),
                "active": active,
                "redirect_type": "default",
                "available_for_order": True,
                "show_condition": False,
                "condition": "new",
                "show_price": True,
                "indexed": True,
                "visibility": visibility,
                "date_add": now,
                "date_upd": now,
                "pack_stock_type": 3,
                "meta_description": empty,
                "meta_keywords": empty,
                "meta_title": empty,
                "link_rewrite": {lang: link_rewrite(name) for lang, name in names_by_id.items()},
                "name": names_by_id,
                "description": {lang: descriptions_by_id.get(lang, "") for lang in names_by_id},
                "description_short": {lang: short_by_id.get(lang, "") for lang in names_by_id},
                "available_now": empty,
                "available_later": empty,
                "associations": {"categories": [{"id": c} for c in dict.fromkeys((2, category_id))]},
            }
            return self.state.insert("products", values)

    def edit_product(
        self, product_id: int, *, texts: Mapping[str, Mapping[Language, str]] | None = None, **values: Any
    ) -> None:
        """The merchant saves a product in the back office (switches it on or off, changes its visibility,
        its short description...): `Product::update()` stamps `date_upd`, whatever changed. Multilingual
        fields go in `texts` ({"description_short": {"pl": ..., "en": ...}})."""
        with self.state.lock:
            changes: Row = dict(values)
            for name, by_language in (texts or {}).items():
                changes[name] = self._i18n(by_language)
            self.state.update("products", product_id, **changes, date_upd=self.now())

    def add_combination(
        self,
        product_id: int,
        attributes: Mapping[Language, Sequence[tuple[str, str]]],
        *,
        price_impact: Decimal | str | int = 0,
        reference: str = "",
        weight_impact: Decimal | str | int = 0,
    ) -> int:
        """A combination (e.g. colour) of a product; `attributes` per language: [(group, value), ...]."""
        table = self.state.private["combinations"]
        with self.state.lock:
            combination_id = max(table, default=0) + 1
            labels = {self.language_id(lang): list(pairs) for lang, pairs in attributes.items()}
            table[combination_id] = {
                "id": combination_id,
                "id_product": product_id,
                "labels": labels,
                "price_impact": Decimal(price_impact),
                "weight_impact": Decimal(weight_impact),
                "reference": reference,
            }
            product = self.state.get("products", product_id)
            combos = [*product.get("associations", {}).get("combinations", []), {"id": combination_id}]
            associations = dict(product.get("associations", {}))
            associations["combinations"] = combos
            changes: Row = {"associations": associations, "product_type": "combinations"}
            if not product["cache_default_attribute"]:
                changes["cache_default_attribute"] = combination_id
                changes["id_default_combination"] = combination_id
            self.state.update("products", product_id, **changes)
            return combination_id

    def _i18n(self, texts: Mapping[Language, str]) -> dict[int, str]:
        by_id = {self.language_id(lang): text for lang, text in texts.items()}
        if not by_id:
            return {}
        fallback = by_id.get(self.language_id(None), next(iter(by_id.values())))
        # PrestaShop copies the default language into languages the employee left empty.
        return {lang: by_id.get(lang, fallback) for lang in self.state.active_language_ids()}

    # -- customers ----------------------------------------------------------------------------------

    def register_customer(
        self,
        firstname: str,
        lastname: str,
        email: str,
        *,
        language: Language = "pl",
        newsletter: bool = False,
        optin: bool = False,
        guest: bool = False,
        address: PostalAddress | None = None,
        gender: int = 0,
        birthday: Any = None,
        company: str | None = None,
    ) -> CustomerRef:
        """A front-office registration (or a guest checkout account), with an optional first address."""
        now = self.now()
        with self.state.lock:
            group = 2 if guest else 3
            customer_id = self.state.insert(
                "customers",
                {
                    "id_default_group": group,
                    "id_lang": self.language_id(language),
                    "newsletter_date_add": now if newsletter else None,
                    "ip_registration_newsletter": "127.0.0.1" if newsletter else None,
                    "last_passwd_gen": now - timedelta(minutes=PASSWORD_REGENERATION_MINUTES),
                    "secure_key": self._hex32(),
                    "deleted": False,
                    "passwd": self._password_hash(),
                    "lastname": lastname,
                    "firstname": firstname,
                    "email": email,
                    "id_gender": gender,
                    "birthday": birthday,
                    "newsletter": newsletter,
                    "optin": optin,
                    "company": company,
                    "active": True,
                    "is_guest": guest,
                    "id_shop": 1,
                    "id_shop_group": 1,
                    "date_add": now,
                    "date_upd": now,
                    "reset_password_validity": None,
                    "associations": {"groups": [{"id": group}]},
                },
            )
            address_id = None if address is None else self.add_address(customer_id, address)
            return CustomerRef(customer_id, address_id)

    def add_address(self, customer_id: int, address: PostalAddress) -> int:
        now = self.now()
        customer = self.state.get("customers", customer_id)
        alias = address.alias
        if alias is None:
            alias = "Mój adres" if self.language_iso(customer["id_lang"]) == "pl" else "My address"
        return self.state.insert(
            "addresses",
            {
                "id_customer": customer_id,
                "id_country": self.country_id(address.country),
                "alias": alias,
                "company": address.company,
                "lastname": customer["lastname"],
                "firstname": customer["firstname"],
                "vat_number": address.vat_number,
                "address1": address.address1,
                "address2": address.address2,
                "postcode": address.postcode,
                "city": address.city,
                "other": address.other,
                "phone": address.phone,
                "phone_mobile": address.phone_mobile,
                "dni": "",
                "deleted": False,
                "date_add": now,
                "date_upd": now,
            },
        )

    def update_customer(self, customer_id: int, **values: Any) -> None:
        """A customer (or employee) edits the account: `Customer::update()` moves date_upd."""
        now = self.now()
        if values.get("newsletter") and not self.state.get("customers", customer_id)["newsletter"]:
            values.setdefault("newsletter_date_add", now)
        self.state.update("customers", customer_id, **values, date_upd=now)

    def delete_customer(self, customer_id: int) -> None:
        """Back-office delete of a customer who has orders: a soft delete (deleted=1), the row stays."""
        self.state.update("customers", customer_id, deleted=True, date_upd=self.now())

    # -- carts --------------------------------------------------------------------------------------

    def _new_guest(self, customer_id: int) -> int:
        guests = self.state.private["guests"]
        if customer_id:
            for guest_id, guest in guests.items():
                if guest["id_customer"] == customer_id:
                    return int(guest_id)
        guest_id = max(guests, default=0) + 1
        guests[guest_id] = {"id": guest_id, "id_customer": customer_id}
        return guest_id

    def create_cart(
        self,
        customer_id: int | None,
        items: Sequence[CartItem] = (),
        *,
        currency: str | int | None = "PLN",
        carrier_id: int | None = None,
        address_id: int | None = None,
        language: Language | None = None,
    ) -> int:
        """A cart as the front office creates it; `customer_id` None or 0: an anonymous visitor's cart."""
        now = self.now()
        customer_id = customer_id or 0
        with self.state.lock:
            customer = self.state.get("customers", customer_id) if customer_id else None
            lang_id = (
                self.language_id(language)
                if language is not None or customer is None
                else customer["id_lang"]
            )
            if customer is not None and address_id is None:
                address_id = self.customer_address_id(customer_id)
            address_id = address_id or 0
            if customer is not None and carrier_id is None:
                carrier_id = int(self.state.config("PS_CARRIER_DEFAULT") or 0)
            carrier_id = carrier_id or 0
            values: Row = {
                "id_address_delivery": address_id,
                "id_address_invoice": address_id,
                "id_currency": self.currency_id(currency),
                "id_customer": customer_id,
                "id_guest": self._new_guest(customer_id),
                "id_lang": lang_id,
                "id_shop_group": 1,
                "id_shop": 1,
                "id_carrier": carrier_id,
                "recyclable": False,
                "gift": False,
                "gift_message": "",
                "mobile_theme": False,
                "delivery_option": f'{{"{address_id}":"{carrier_id},"}}' if address_id and carrier_id else "",
                "secure_key": customer["secure_key"] if customer is not None else self._hex32(),
                "allow_seperated_package": False,
                "date_add": now,
                "date_upd": now,
            }
            rows = self._cart_rows(items, address_id)
            if rows:
                values["associations"] = {"cart_rows": rows}
            return self.state.insert("carts", values)

    def _cart_rows(self, items: Sequence[CartItem], address_id: int) -> list[Row]:
        rows: list[Row] = []
        for item in items:
            product_id, quantity = item[0], item[1]
            attribute_id = item[2] if len(item) > 2 else 0
            self.state.get("products", product_id)
            if quantity <= 0:
                raise ValueError("a cart row needs a positive quantity")
            rows.append(
                {
                    "id_product": product_id,
                    "id_product_attribute": attribute_id,
                    "id_address_delivery": address_id,
                    "id_customization": 0,
                    "quantity": quantity,
                }
            )
        return rows

    def set_cart_items(self, cart_id: int, items: Sequence[CartItem]) -> None:
        """The visitor changes the cart's contents: `Cart::updateQty()` moves the cart's date_upd."""
        with self.state.lock:
            cart = self.state.get("carts", cart_id)
            rows = self._cart_rows(items, cart["id_address_delivery"])
            self.state.update("carts", cart_id, associations={"cart_rows": rows}, date_upd=self.now())

    def empty_cart(self, cart_id: int) -> None:
        """The visitor removes every product: `Cart::deleteProduct()` ends with `update()`, so date_upd moves.

        The cart then has no `cart_rows` at all (no `associations` key in JSON, a self-closed virtual
        entity in XML)."""
        with self.state.lock:
            self.state.get("carts", cart_id)
            self.state.update("carts", cart_id, associations={"cart_rows": []}, date_upd=self.now())

    def attach_cart(self, cart_id: int, customer_id: int, *, address_id: int | None = None) -> None:
        """An anonymous visitor logs in (or registers): the cart gets the customer, address and carrier."""
        with self.state.lock:
            customer = self.state.get("customers", customer_id)
            cart = self.state.get("carts", cart_id)
            address_id = address_id or self.customer_address_id(customer_id) or 0
            carrier_id = cart["id_carrier"] or int(self.state.config("PS_CARRIER_DEFAULT") or 0)
            rows = cart.get("associations", {}).get("cart_rows", [])
            for row in rows:
                row["id_address_delivery"] = address_id
            changes: Row = {
                "id_customer": customer_id,
                "id_lang": customer["id_lang"],
                "id_address_delivery": address_id,
                "id_address_invoice": address_id,
                "id_carrier": carrier_id,
                "secure_key": customer["secure_key"],
                "delivery_option": f'{{"{address_id}":"{carrier_id},"}}' if address_id and carrier_id else "",
                "date_upd": self.now(),
            }
            if rows:
                changes["associations"] = {"cart_rows": rows}
            self.state.update("carts", cart_id, **changes)

    # -- checkout -----------------------------------------------------------------------------------

    def _line(self, cart_row: Row, lang_id: int, conversion: Decimal) -> _Line:
        product = self.state.get("products", cart_row["id_product"])
        attribute_id = int(cart_row["id_product_attribute"])
        quantity = int(cart_row["quantity"])
        base = Decimal(product["price"])
        weight = Decimal(product["weight"])
        name = product["name"].get(lang_id) or next(iter(product["name"].values()), "")
        reference = str(product["reference"])
        if attribute_id:
            combination = self.state.private["combinations"][attribute_id]
            base += combination["price_impact"]
            weight += combination["weight_impact"]
            pairs = combination["labels"].get(lang_id) or next(iter(combination["labels"].values()))
            # 8.1 appends the attributes in parentheses: "Name (Size: S - Color: White)".
            name = f"{name} ({' - '.join(f'{group}: {value}' for group, value in pairs)})"
            reference = combination["reference"] or reference
        tax_group = int(product["id_tax_rules_group"])
        rate = self.tax_rate(tax_group) / 100
        unit_excl = micro(base * conversion)
        group = self.state.private["tax_rules_groups"].get(tax_group)
        return _Line(
            product=product,
            attribute_id=attribute_id,
            quantity=quantity,
            name=name,
            reference=reference,
            unit_excl=unit_excl,
            unit_incl=micro(unit_excl * (1 + rate)),
            # round_type 2 (ROUND_LINE): each line is rounded, then summed.
            total_excl=money(unit_excl * quantity),
            total_incl=money(unit_excl * (1 + rate) * quantity),
            original_price=micro(Decimal(product["price"]) * conversion),
            weight=weight,
            tax_group=tax_group,
            tax_ids=[] if group is None else [int(group["id_tax"])],
        )

    def place_order(
        self,
        cart_id: int,
        payment: str | PaymentModule = "ps_wirepayment",
        *,
        comment: str | None = None,
        transaction_id: str | None = None,
        discount: Decimal | str | int | None = None,
        vouchers: Sequence[str] = (),
    ) -> int:
        """Checkout (`PaymentModule::validateOrder`). Returns the order id.

        Creates the order, its lines, its order_carrier and the first history row (employee 0) in the
        module's initial state, with everything that state implies (invoice, payment). The cart is left
        untouched. `discount` is a voucher amount, tax included, with no cart rule behind it. `vouchers` are
        cart rule codes (created in the back office or through `POST cart_rules`), checked as the front
        office checks them (ValueError with PrestaShop's message when one may not be used), each recorded in
        `order_cart_rules` and one use taken off the rule. Partial use of an amount is not modelled: what the
        order does not use of it is lost.
        """
        module = PAYMENT_MODULES[payment] if isinstance(payment, str) else payment
        now = self.now()
        with self.state.lock:
            cart = self.state.get("carts", cart_id)
            if not cart["id_customer"]:
                raise ValueError(
                    f"cart {cart_id} has no customer: a visitor must log in or check out as a guest"
                )
            if not cart["id_address_delivery"]:
                raise ValueError(f"cart {cart_id} has no delivery address")
            rows = cart.get("associations", {}).get("cart_rows", [])
            if not rows:
                raise ValueError(f"cart {cart_id} is empty")
            customer = self.state.get("customers", cart["id_customer"])
            lang_id = int(cart["id_lang"])
            currency = self.state.get("currencies", cart["id_currency"])
            conversion = Decimal(currency["conversion_rate"])
            lines = [self._line(row, lang_id, conversion) for row in rows]

            products_excl = sum((line.total_excl for line in lines), ZERO)
            products_incl = sum((line.total_incl for line in lines), ZERO)
            carrier_id = int(cart["id_carrier"])
            carrier = self.state.get("carriers", carrier_id)
            shipping = self.state.private["carrier_prices"].get(carrier_id, {})
            carrier_rate = self.tax_rate(int(shipping.get("id_tax_rules_group", 0)))
            free_above = Decimal(self.state.config("PS_SHIPPING_FREE_PRICE") or 0) * conversion
            if carrier["is_free"] or (free_above > 0 and products_incl >= free_above):
                shipping_excl = ZERO
            else:
                shipping_excl = micro(Decimal(shipping.get("price", 0)) * conversion)
            shipping_incl = money(shipping_excl * (1 + carrier_rate / 100))
            shipping_excl = money(shipping_excl)
            discount_incl = min(money(Decimal(discount)), products_incl) if discount else ZERO
            discount_excl = money(discount_incl * products_excl / products_incl) if discount_incl else ZERO
            used: list[tuple[Row, Decimal, Decimal]] = []
            for code in vouchers:
                rule = self._usable_rule(code, customer, products_incl, shipping_incl, conversion, now)
                value_incl, value_excl = self._rule_value(
                    rule,
                    products_incl - discount_incl,
                    products_excl - discount_excl,
                    shipping_incl,
                    shipping_excl,
                    conversion,
                )
                used.append((rule, value_incl, value_excl))
                discount_incl += value_incl
                discount_excl += value_excl
            paid_incl = products_incl + shipping_incl - discount_incl
            paid_excl = products_excl + shipping_excl - discount_excl
            initial_state = self.state_id(module.initial_state)

            order_id = self.state.insert(
                "orders",
                {
                    "id_address_delivery": cart["id_address_delivery"],
                    "id_address_invoice": cart["id_address_invoice"],
                    "id_cart": cart_id,
                    "id_currency": cart["id_currency"],
                    "id_lang": lang_id,
                    "id_customer": cart["id_customer"],
                    "id_carrier": carrier_id,
                    "current_state": 0,
                    "module": module.module,
                    "invoice_number": 0,
                    "invoice_date": None,
                    "delivery_number": 0,
                    "delivery_date": None,
                    "valid": False,
                    "date_add": now,
                    "date_upd": now,
                    "shipping_number": "",
                    "note": "",
                    "id_shop_group": 1,
                    "id_shop": 1,
                    "secure_key": customer["secure_key"],
                    "payment": module.names.get(
                        self.language_iso(lang_id), next(iter(module.names.values()))
                    ),
                    "recyclable": cart["recyclable"],
                    "gift": cart["gift"],
                    "gift_message": cart["gift_message"],
                    "mobile_theme": False,
                    "total_discounts": discount_incl,
                    "total_discounts_tax_incl": discount_incl,
                    "total_discounts_tax_excl": discount_excl,
                    "total_paid": paid_incl,
                    "total_paid_tax_incl": paid_incl,
                    "total_paid_tax_excl": paid_excl,
                    "total_paid_real": ZERO,
                    "total_products": products_excl,
                    "total_products_wt": products_incl,
                    "total_shipping": shipping_incl,
                    "total_shipping_tax_incl": shipping_incl,
                    "total_shipping_tax_excl": shipping_excl,
                    "carrier_tax_rate": carrier_rate if shipping_incl else ZERO,
                    "total_wrapping": ZERO,
                    "total_wrapping_tax_incl": ZERO,
                    "total_wrapping_tax_excl": ZERO,
                    "round_mode": 2,
                    "round_type": 2,
                    "conversion_rate": conversion,
                    "reference": self._reference(),
                },
            )
            order_rows: list[Row] = []
            for line in lines:
                detail_id = self.state.insert(
                    "order_details",
                    {
                        "id_order": order_id,
                        "product_id": line.product["id"],
                        "product_attribute_id": line.attribute_id,
                        "download_deadline": None,
                        "id_shop": 1,
                        "product_name": line.name,
                        "product_quantity": line.quantity,
                        "product_quantity_in_stock": line.quantity,
                        "product_price": line.unit_excl,
                        "product_reference": line.reference,
                        "product_weight": line.weight,
                        "id_tax_rules_group": line.tax_group,
                        "unit_price_tax_incl": line.unit_incl,
                        "unit_price_tax_excl": line.unit_excl,
                        "total_price_tax_incl": line.total_incl,
                        "total_price_tax_excl": line.total_excl,
                        "purchase_supplier_price": line.product["wholesale_price"],
                        "original_product_price": line.original_price,
                        "original_wholesale_price": line.product["wholesale_price"],
                        "associations": {"taxes": [{"id": tax_id} for tax_id in line.tax_ids]},
                    },
                )
                order_rows.append(
                    {
                        "id": detail_id,
                        "product_id": line.product["id"],
                        "product_attribute_id": line.attribute_id,
                        "product_quantity": line.quantity,
                        "product_name": line.name,
                        "product_reference": line.reference,
                        "product_price": line.unit_excl,
                        "id_customization": 0,
                        "unit_price_tax_incl": line.unit_incl,
                        "unit_price_tax_excl": line.unit_excl,
                    }
                )
            self.state.update("orders", order_id, associations={"order_rows": order_rows})
            self.state.insert(
                "order_carriers",
                {
                    "id_order": order_id,
                    "id_carrier": carrier_id,
                    "id_order_invoice": 0,
                    "weight": sum((line.weight * line.quantity for line in lines), ZERO),
                    "shipping_cost_tax_excl": shipping_excl,
                    "shipping_cost_tax_incl": shipping_incl,
                    "tracking_number": "",
                    "date_add": now,
                },
            )
            for rule, value_incl, value_excl in used:
                self.state.insert(
                    "order_cart_rules",
                    {
                        "id_order": order_id,
                        "id_cart_rule": rule["id"],
                        "id_order_invoice": 0,
                        "name": rule["name"].get(lang_id) or next(iter(rule["name"].values()), ""),
                        "value": value_incl,
                        "value_tax_excl": value_excl,
                        "free_shipping": rule["free_shipping"],
                        "deleted": False,
                    },
                )
                # validateOrder: `$rule->quantity = max(0, $rule->quantity - 1); $rule->update();`
                self.state.update(
                    "cart_rules", rule["id"], quantity=max(0, int(rule["quantity"]) - 1), date_upd=now
                )
            if comment:
                self._checkout_comment(order_id, cart, customer, comment)
            stock.take_ordered(self.state, [(ln.product["id"], ln.attribute_id, ln.quantity) for ln in lines])
            self._change_state(order_id, initial_state, employee_id=0, now=now)
            if module.transaction_ids and self.payments(order_id):
                payment_row = self.payments(order_id)[-1]
                self.state.update(
                    "order_payments",
                    payment_row["id"],
                    transaction_id=transaction_id or f"P24-{self._token(10).upper()}",
                )
            return order_id

    def _usable_rule(
        self,
        code: str,
        customer: Row,
        products_incl: Decimal,
        shipping_incl: Decimal,
        conversion: Decimal,
        now: datetime,
    ) -> Row:
        """The cart rule behind a code, if this customer may use it now (`CartRule::checkValidity`)."""
        wanted = code.strip().casefold()
        matches = [row for row in self.state.rows("cart_rules") if str(row["code"]).casefold() == wanted]
        if not code.strip() or not matches:
            raise ValueError(f"This voucher does not exist ({code!r}).")
        rule = matches[0]
        if not rule["active"]:
            raise ValueError("This voucher is disabled")
        if int(rule["quantity"]) <= 0:
            raise ValueError("This voucher has already been used")
        if rule["date_from"] is not None and rule["date_from"] > now:
            raise ValueError("This voucher is not valid yet")
        if rule["date_to"] is not None and rule["date_to"] < now:
            raise ValueError("This voucher has expired")
        if rule["id_customer"] and int(rule["id_customer"]) != int(customer["id"]):
            raise ValueError("You cannot use this voucher")
        error_state = self.state_id("PS_OS_ERROR")
        uses = sum(
            1
            for usage in self.state.rows("order_cart_rules")
            if usage["id_cart_rule"] == rule["id"]
            and (order := self.state.find("orders", int(usage["id_order"]))) is not None
            and order["id_customer"] == customer["id"]
            and order["current_state"] != error_state
        )
        if uses >= int(rule["quantity_per_user"]):
            raise ValueError("You cannot use this voucher anymore (usage limit reached)")
        minimum = Decimal(rule["minimum_amount"])
        if minimum > 0:
            rate = self._currency_rate(int(rule["minimum_amount_currency"]))
            total = products_incl + (shipping_incl if rule["minimum_amount_shipping"] else ZERO)
            if total < money(minimum / rate * conversion):
                raise ValueError("The minimum amount to benefit from this promo code is not reached.")
        return rule

    def _rule_value(
        self,
        rule: Row,
        products_incl: Decimal,
        products_excl: Decimal,
        shipping_incl: Decimal,
        shipping_excl: Decimal,
        conversion: Decimal,
    ) -> tuple[Decimal, Decimal]:
        """What a cart rule takes off the order (tax included, tax excluded), never more than is left."""
        incl = excl = ZERO
        percent = Decimal(rule["reduction_percent"])
        amount = Decimal(rule["reduction_amount"])
        if percent > 0:
            incl = money(products_incl * percent / 100)
            excl = money(products_excl * percent / 100)
        elif amount > 0 and products_incl > 0:
            converted = amount / self._currency_rate(int(rule["reduction_currency"])) * conversion
            if rule["reduction_tax"]:
                incl = min(money(converted), products_incl)
                excl = money(incl * products_excl / products_incl)
            else:
                excl = min(money(converted), products_excl)
                incl = money(excl * products_incl / products_excl) if products_excl else ZERO
        if rule["free_shipping"]:
            incl += shipping_incl
            excl += shipping_excl
        return incl, excl

    def _currency_rate(self, currency_id: int) -> Decimal:
        row = self.state.find("currencies", currency_id) if currency_id else None
        return Decimal(row["conversion_rate"]) if row is not None and row["conversion_rate"] else Decimal(1)

    def _checkout_comment(self, order_id: int, cart: Row, customer: Row, text: str) -> None:
        """validateOrder copies the checkout comment into a legacy message and a customer thread."""
        now = self.now()
        self.state.insert(
            "messages",
            {
                "id_cart": cart["id"],
                "id_order": order_id,
                "id_customer": customer["id"],
                "id_employee": 0,
                "message": text,
                "private": False,
                "date_add": now,
            },
        )
        thread_id = self.state.insert(
            "customer_threads",
            {
                "id_lang": cart["id_lang"],
                "id_shop": 1,
                "id_customer": customer["id"],
                "id_order": order_id,
                "id_product": 0,
                "id_contact": 0,
                "email": customer["email"],
                "token": self._token(12),
                "status": "open",
                "date_add": now,
                "date_upd": now,
            },
        )
        message_id = self._message(thread_id, text, employee_id=0)
        self.state.update(
            "customer_threads", thread_id, associations={"customer_messages": [{"id": message_id}]}
        )

    # -- back office: order states, payments, shipping ----------------------------------------------

    def change_state(self, order_id: int, state_id: int, *, employee_id: int = 1) -> int:
        """A back-office state change (`OrderHistory::changeIdOrderState` + `add`). Returns the history id."""
        with self.state.lock:
            return self._change_state(order_id, state_id, employee_id=employee_id, now=self.now())

    def _change_state(self, order_id: int, state_id: int, *, employee_id: int, now: datetime) -> int:
        order = self.state.get("orders", order_id)
        new = self.state.get("order_states", state_id)
        old = self.state.find("order_states", order["current_state"]) if order["current_state"] else None
        changes: Row = {"current_state": state_id, "valid": new["logable"], "date_upd": now}
        invoice_id = self._invoice_id(order_id)
        if new["invoice"] and not order["invoice_number"]:
            invoice_id, number = self._create_invoice(order, now)
            changes["invoice_number"] = number
            changes["invoice_date"] = now
        if new["paid"] and not (old is not None and old["paid"]):
            # `use_existing_payment`: only what is still owed becomes a payment.
            paid = sum((Decimal(p["amount"]) for p in self.payments(order_id)), ZERO)
            rest = Decimal(order["total_paid_tax_incl"]) - paid
            if rest > 0:
                self._insert_payment(order, rest, order["payment"], employee_id=None, date=now)
                changes["total_paid_real"] = Decimal(order["total_paid_real"]) + rest
        if new["delivery"]:
            if not order["delivery_number"]:
                number = self._next_delivery_number()
                changes["delivery_number"] = number
                if invoice_id is not None:
                    self.state.update("order_invoices", invoice_id, delivery_number=number, delivery_date=now)
            # Moves on every state with delivery=1 (Processing, Shipped, Delivered): not "received".
            changes["delivery_date"] = now
        self.state.update("orders", order_id, **changes)
        return self.state.insert(
            "order_histories",
            {"id_employee": employee_id, "id_order_state": state_id, "id_order": order_id, "date_add": now},
        )

    def _invoice_id(self, order_id: int) -> int | None:
        ids = self.state.ids_where("order_invoices", "id_order", order_id)
        return ids[0] if ids else None

    def _create_invoice(self, order: Row, now: datetime) -> tuple[int, int]:
        number = max((int(r["number"]) for r in self.state.rows("order_invoices")), default=0) + 1
        invoice_id = self.state.insert(
            "order_invoices",
            {
                "id_order": order["id"],
                "number": number,
                "delivery_number": 0,
                "delivery_date": None,
                "total_discount_tax_excl": order["total_discounts_tax_excl"],
                "total_discount_tax_incl": order["total_discounts_tax_incl"],
                "total_paid_tax_excl": order["total_paid_tax_excl"],
                "total_paid_tax_incl": order["total_paid_tax_incl"],
                "total_products": order["total_products"],
                "total_products_wt": order["total_products_wt"],
                "total_shipping_tax_excl": order["total_shipping_tax_excl"],
                "total_shipping_tax_incl": order["total_shipping_tax_incl"],
                "shipping_tax_computation_method": 0,
                "total_wrapping_tax_excl": ZERO,
                "total_wrapping_tax_incl": ZERO,
                "shop_address": self.state.config("PS_SHOP_NAME") or "",
                "note": "",
                "date_add": now,
            },
        )
        for detail_id in self.state.ids_where("order_details", "id_order", order["id"]):
            self.state.update("order_details", detail_id, id_order_invoice=invoice_id)
        for carrier_row_id in self.state.ids_where("order_carriers", "id_order", order["id"]):
            self.state.update("order_carriers", carrier_row_id, id_order_invoice=invoice_id)
        for rule_row_id in self.state.ids_where("order_cart_rules", "id_order", order["id"]):
            self.state.update("order_cart_rules", rule_row_id, id_order_invoice=invoice_id)
        return invoice_id, number

    def _next_delivery_number(self) -> int:
        return max((int(r["delivery_number"]) for r in self.state.rows("orders")), default=0) + 1

    def _insert_payment(
        self,
        order: Row,
        amount: Decimal,
        method: str,
        *,
        employee_id: int | None,
        date: datetime,
        transaction_id: str = "",
        card_number: str = "",
        card_brand: str = "",
        card_expiration: str = "",
        card_holder: str = "",
    ) -> int:
        return self.state.insert(
            "order_payments",
            {
                "order_reference": order["reference"],
                "id_currency": order["id_currency"],
                "amount": money(amount),
                "payment_method": method,
                "conversion_rate": order["conversion_rate"],
                "transaction_id": transaction_id,
                "card_number": card_number,
                "card_brand": card_brand,
                "card_expiration": card_expiration,
                "card_holder": card_holder,
                "date_add": date,
                "id_employee": employee_id,
            },
        )

    def add_payment(
        self,
        order_id: int,
        amount: Decimal | str | int,
        method: str | None = None,
        *,
        transaction_id: str = "",
        date: datetime | None = None,
        employee_id: int = 1,
    ) -> int:
        """Back-office "Add payment": a payment row and total_paid_real; date_upd moves, the state does not.

        `date` is what the employee typed in the form (default now); it may lie in the past.
        """
        now = self.now()
        with self.state.lock:
            order = self.state.get("orders", order_id)
            if date is not None and date.tzinfo is not None:
                date = date.astimezone(self.state.timezone).replace(tzinfo=None)
            payment_id = self._insert_payment(
                order,
                Decimal(amount),
                method or order["payment"],
                employee_id=employee_id,
                date=date or now,
                transaction_id=transaction_id,
            )
            self.state.update(
                "orders",
                order_id,
                total_paid_real=Decimal(order["total_paid_real"]) + money(Decimal(amount)),
                date_upd=now,
            )
            return payment_id

    def set_tracking(self, order_id: int, number: str) -> None:
        """The employee types a tracking number: order_carriers.tracking_number only, no timestamp moves."""
        with self.state.lock:
            order_carrier = self.order_carrier(order_id)
            self.state.update("order_carriers", order_carrier["id"], tracking_number=number)
            # The virtual orders.shipping_number reads the same column.
            self.state.update("orders", order_id, shipping_number=number)

    def tracking_url(self, order_id: int) -> str:
        """What `{followup}` becomes in the in_transit mail: the carrier url with `@` replaced."""
        order_carrier = self.order_carrier(order_id)
        carrier = self.state.get("carriers", order_carrier["id_carrier"])
        url = str(carrier["url"] or "")
        return url.replace("@", str(order_carrier["tracking_number"])) if url else ""

    # -- returns and refunds ------------------------------------------------------------------------

    def request_return(self, order_id: int, lines: Sequence[tuple[int, int]], *, question: str = "") -> int:
        """The customer asks to return goods: rows only in private tables (no webservice resource)."""
        now = self.now()
        with self.state.lock:
            order = self.state.get("orders", order_id)
            returns = self.state.private["order_returns"]
            details = self.state.private["order_return_details"]
            return_id = max(returns, default=0) + 1
            returns[return_id] = {
                "id": return_id,
                "id_customer": order["id_customer"],
                "id_order": order_id,
                "state": 1,
                "question": question,
                "date_add": now,
                "date_upd": now,
            }
            for detail_id, quantity in lines:
                detail = self.state.get("order_details", detail_id)
                if detail["id_order"] != order_id:
                    raise ValueError(f"order_detail {detail_id} is not part of order {order_id}")
                details[max(details, default=0) + 1] = {
                    "id_order_return": return_id,
                    "id_order_detail": detail_id,
                    "product_quantity": quantity,
                }
            return return_id

    def set_return_state(self, return_id: int, state: int) -> None:
        """The employee moves a merchandise return along (1..5): invisible to the webservice."""
        if state not in RETURN_STATES:
            raise ValueError(f"unknown return state {state}")
        row = self.state.private["order_returns"][return_id]
        row["state"] = state
        row["date_upd"] = self.now()

    def issue_credit_slip(
        self,
        order_id: int,
        lines: Sequence[tuple[int, int]] | Sequence[tuple[int, int, Decimal]],
        *,
        shipping: bool = False,
    ) -> int:
        """A back-office partial refund with a credit slip (IssuePartialRefundCommand).

        `lines` are (order_detail id, quantity[, amount tax incl]). orders.date_upd does not move.
        """
        now = self.now()
        with self.state.lock:
            order = self.state.get("orders", order_id)
            delivered = any(
                self.state.get("order_states", h["id_order_state"])["delivery"]
                for h in self.history(order_id)
            )
            slip_details: list[Row] = []
            products_excl = products_incl = ZERO
            updates: list[tuple[int, Row]] = []
            for line in lines:
                detail = self.state.get("order_details", line[0])
                if detail["id_order"] != order_id:
                    raise ValueError(f"order_detail {line[0]} is not part of order {order_id}")
                quantity = int(line[1])
                unit_incl = Decimal(detail["unit_price_tax_incl"])
                unit_excl = Decimal(detail["unit_price_tax_excl"])
                amount_incl = money(Decimal(line[2])) if len(line) > 2 else money(unit_incl * quantity)
                amount_excl = money(amount_incl * unit_excl / unit_incl) if unit_incl else ZERO
                products_excl += amount_excl
                products_incl += amount_incl
                slip_details.append(
                    {
                        "id_order_detail": detail["id"],
                        "product_quantity": quantity,
                        "amount_tax_excl": amount_excl,
                        "amount_tax_incl": amount_incl,
                    }
                )
                # Goods that left the shop come back as "returned"; otherwise they are "refunded".
                counter = "product_quantity_return" if delivered else "product_quantity_refunded"
                updates.append(
                    (
                        detail["id"],
                        {
                            counter: int(detail[counter]) + quantity,
                            "total_refunded_tax_excl": Decimal(detail["total_refunded_tax_excl"])
                            + amount_excl,
                            "total_refunded_tax_incl": Decimal(detail["total_refunded_tax_incl"])
                            + amount_incl,
                        },
                    )
                )
            shipping_excl = Decimal(order["total_shipping_tax_excl"]) if shipping else ZERO
            shipping_incl = Decimal(order["total_shipping_tax_incl"]) if shipping else ZERO
            slip_id = self.state.next_id("order_slip")
            self.state.insert(
                "order_slip",
                {
                    "id_customer": order["id_customer"],
                    "id_order": order_id,
                    "conversion_rate": order["conversion_rate"],
                    "total_products_tax_excl": products_excl,
                    "total_products_tax_incl": products_incl,
                    "total_shipping_tax_excl": shipping_excl,
                    "total_shipping_tax_incl": shipping_incl,
                    "amount": products_incl + shipping_incl,
                    "shipping_cost": shipping,
                    "shipping_cost_amount": shipping_incl,
                    "partial": 0,
                    "date_add": now,
                    "date_upd": now,
                    "order_slip_type": 0,
                    "associations": {"order_slip_details": [{"id": slip_id, **d} for d in slip_details]},
                },
                id=slip_id,
            )
            for detail_id, values in updates:
                self.state.update("order_details", detail_id, **values)
            return slip_id

    # -- customer service ---------------------------------------------------------------------------

    def _message(self, thread_id: int, text: str, *, employee_id: int, private: bool = False) -> int:
        now = self.now()
        return self.state.insert(
            "customer_messages",
            {
                "id_employee": employee_id,
                "id_customer_thread": thread_id,
                "ip_address": LOOPBACK_IP2LONG,
                "message": text,
                "file_name": "",
                "user_agent": "" if employee_id else CUSTOMER_USER_AGENT,
                "private": private,
                "date_add": now,
                "date_upd": now,
                "read": False,
            },
        )

    def customer_message(
        self,
        text: str,
        *,
        order_id: int | None = None,
        customer_id: int | None = None,
        email: str | None = None,
        contact_id: int = 2,
    ) -> tuple[int, int]:
        """The contact form: a new thread or the (email, order) thread reopened; returns (thread, message)."""
        now = self.now()
        with self.state.lock:
            order = self.state.get("orders", order_id) if order_id else None
            if customer_id is None and order is not None:
                customer_id = int(order["id_customer"])
            customer = self.state.get("customers", customer_id) if customer_id else None
            if email is None:
                if customer is None:
                    raise ValueError("a message needs an email, a customer or an order")
                email = str(customer["email"])
            lang_id = (
                int(order["id_lang"])
                if order is not None
                else int(customer["id_lang"])
                if customer is not None
                else self.language_id(None)
            )
            thread_id = next(
                (
                    int(row["id"])
                    for row in self.state.rows("customer_threads")
                    if row["email"] == email and row["id_order"] == (order_id or 0)
                ),
                None,
            )
            if thread_id is None:
                thread_id = self.state.insert(
                    "customer_threads",
                    {
                        "id_lang": lang_id,
                        "id_shop": 1,
                        "id_customer": customer_id or 0,
                        "id_order": order_id or 0,
                        "id_product": 0,
                        "id_contact": contact_id,
                        "email": email,
                        "token": self._token(12),
                        "status": "open",
                        "date_add": now,
                        "date_upd": now,
                    },
                )
            else:
                self.state.update("customer_threads", thread_id, status="open", date_upd=now)
            message_id = self._message(thread_id, text, employee_id=0)
            self._link_message(thread_id, message_id)
            return thread_id, message_id

    def employee_reply(
        self, thread_id: int, text: str, *, employee_id: int = 1, private: bool = False
    ) -> int:
        """A back-office reply: a message with id_employee set; the thread closes and its date_upd moves.
        `private`: an internal note of the staff instead (the thread stays as it is)."""
        with self.state.lock:
            message_id = self._message(thread_id, text, employee_id=employee_id, private=private)
            self._link_message(thread_id, message_id)
            if not private:
                self.state.update("customer_threads", thread_id, status="closed", date_upd=self.now())
            return message_id

    def _link_message(self, thread_id: int, message_id: int) -> None:
        thread = self.state.get("customer_threads", thread_id)
        linked = [*thread.get("associations", {}).get("customer_messages", []), {"id": message_id}]
        self.state.update("customer_threads", thread_id, associations={"customer_messages": linked})

    # -- CMS pages ----------------------------------------------------------------------------------

    def add_cms_page(
        self,
        titles: Mapping[Language, str],
        contents: Mapping[Language, str],
        *,
        id: int | None = None,
        position: int = 0,
    ) -> int:
        """A CMS page in category 1 ("Home"), active and indexed, as the installer and back office make."""
        titles_by_id = self._i18n(titles)
        return self.state.insert(
            "content_management_system",
            {
                "id_cms_category": 1,
                "position": position,
                "indexation": True,
                "active": True,
                "meta_title": titles_by_id,
                "head_seo_title": dict.fromkeys(titles_by_id, ""),
                "meta_description": dict.fromkeys(titles_by_id, ""),
                "meta_keywords": dict.fromkeys(titles_by_id, ""),
                "content": self._i18n(contents),
                "link_rewrite": {lang: link_rewrite(title) for lang, title in titles_by_id.items()},
            },
            id=id,
        )

    def edit_cms_page(self, page_id: int, contents: Mapping[Language, str]) -> None:
        """The back office saves a page's content in the given languages (a CMS page has no date_upd)."""
        page = self.state.get("content_management_system", page_id)
        changed = {**page["content"], **{self.language_id(lang): text for lang, text in contents.items()}}
        self.state.update("content_management_system", page_id, content=changed)

    # -- carriers -----------------------------------------------------------------------------------

    def set_carrier_price(
        self, carrier_id: int, price: Decimal | str | int, *, tax_rate: Decimal | str | int = 23
    ) -> None:
        """The carrier's shipping price, tax excluded (PrestaShop keeps it in price ranges)."""
        self.state.get("carriers", carrier_id)
        self.state.private["carrier_prices"][carrier_id] = {
            "price": Decimal(price),
            "id_tax_rules_group": self.tax_rules_group_for(tax_rate),
        }
