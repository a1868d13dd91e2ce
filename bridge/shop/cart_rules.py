"""The bridge's one write to the shop, a discount code (`POST cart_rules`), kept apart because unlike every
read it is never retried: a retry after a lost answer would create a second code."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ElementTree
from decimal import Decimal

import requests

from bridge.errors import ShopAuthError, ShopDisabled, ShopError, ShopPermissionError, ShopRequestError
from bridge.model.records import CartRuleSpec
from bridge.shop import jsonsafe
from bridge.shop.failures import parse_xml, sanitize
from bridge.shop.paging import raw_id
from bridge.shop.query import Query, equals
from bridge.shop.reader import ShopReader

log = logging.getLogger(__name__)


class CartRuleWrites(ShopReader):
    """Creates discount codes, and finds one whose creation may or may not have gone through."""

    def can_create_cart_rules(self) -> bool:
        """Whether the key may POST `cart_rules` (read from the API root, as `bridge check` reads it)."""
        return "POST" in self.permissions().get("cart_rules", set())

    def find_cart_rule(self, code: str) -> int | None:
        """The id of the cart rule with this exact code, if the shop has one (e.g. after a lost answer)."""
        query = Query(display=("id", "code"), filters={"code": equals(code)})
        rows = self._pager.list_page("cart_rules", self._pager.params(query))
        ids = [raw_id("cart_rules", row) for row in rows if row.get("code") == code]
        return min(ids) if ids else None

    def create_cart_rule(self, spec: CartRuleSpec) -> int:
        """Create a discount code in the shop (`POST /api/cart_rules`, an XML body) and return its id.

        **Never retried**: when the shop fails (5xx) or does not answer in time, it may have created the code
        all the same, and a second POST would create a second one. `find_cart_rule(spec.code)` tells.

        Raises ShopPermissionError when the key may not POST cart_rules (the message says where to tick it),
        ShopAuthError / ShopDisabled as every read does, and ShopRequestError for everything else: the shop
        refused the rule (validation codes 41/84/85), failed, timed out or sent an unreadable answer.
        """
        if self._transport.form is None:
            self.permissions()  # learn the URL form with a GET, so the POST is sent only once
        body = self._cart_rule_xml(spec)
        failure: ShopError | None = None
        try:
            response = self._transport.request("cart_rules", [], "cart_rules", method="POST", body=body)
        except ShopError as error:
            failure = error
        # Raised outside the `except` block, like every read's errors: nothing of the exchange is chained.
        if failure is not None:
            raise _creation_error(failure)
        created = _created_id(response)
        if created is None:
            raise ShopRequestError(
                f"the shop answered the new discount code with HTTP {response.status_code} but no id "
                f"({sanitize(response.text)!r}); the code may exist: look for {spec.code!r} under Catalog → "
                "Discounts",
                resource="cart_rules",
                status=response.status_code,
            )
        log.info("created cart rule #%s", created)
        return created

    def _cart_rule_xml(self, spec: CartRuleSpec) -> bytes:
        """The POST body: every field of the rule, since the webservice stores a left-out field as 0."""
        tz = self.shop_timezone()

        def flag(value: bool) -> str:
            return "1" if value else "0"

        def amount(value: Decimal | None) -> str:
            return "0" if value is None else f"{value:f}"

        fields: list[tuple[str, str]] = [
            ("id_customer", str(spec.id_customer)),
            ("date_from", spec.date_from.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")),
            ("date_to", spec.date_to.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")),
            ("description", spec.description),
            ("quantity", str(spec.quantity)),
            ("quantity_per_user", str(spec.quantity_per_user)),
            ("priority", str(spec.priority)),
            ("partial_use", flag(spec.partial_use)),
            ("code", spec.code),
            ("minimum_amount", amount(spec.minimum_amount)),
            ("minimum_amount_tax", flag(spec.minimum_amount_tax)),
            ("minimum_amount_currency", str(spec.minimum_amount_currency)),
            ("minimum_amount_shipping", flag(spec.minimum_amount_shipping)),
            ("country_restriction", "0"),
            ("carrier_restriction", "0"),
            ("group_restriction", "0"),
            ("cart_rule_restriction", "0"),
            ("product_restriction", "0"),
            ("shop_restriction", "0"),
            ("free_shipping", flag(spec.free_shipping)),
            ("reduction_percent", amount(spec.reduction_percent)),
            ("reduction_amount", amount(spec.reduction_amount)),
            ("reduction_tax", flag(spec.reduction_tax)),
            ("reduction_currency", str(spec.reduction_currency)),
            ("reduction_product", "0"),
            ("reduction_exclude_special", "0"),
            ("gift_product", "0"),
            ("gift_product_attribute", "0"),
            ("highlight", flag(spec.highlight)),
            ("active", flag(spec.active)),
        ]
        root = ElementTree.Element("prestashop")
        rule = ElementTree.SubElement(root, "cart_rule")
        for name, text in fields:
            ElementTree.SubElement(rule, name).text = text
        names = ElementTree.SubElement(rule, "name")
        for language_id, text in spec.names.items():
            ElementTree.SubElement(names, "language", id=str(int(language_id))).text = text
        document: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
        return document


def _creation_error(failure: ShopError) -> ShopError:
    """What a failed `POST cart_rules` becomes for the caller (see `CartRuleWrites.create_cart_rule`)."""
    if isinstance(failure, ShopPermissionError):
        return ShopPermissionError(
            f"the API key may not create discount codes (POST on `cart_rules`, HTTP {failure.status}): in "
            "the back office open Advanced Parameters → Webservice → edit the key → tick POST for "
            "`cart_rules`, or use a shared code instead of one per customer",
            resource="cart_rules",
            status=failure.status,
        )
    if isinstance(failure, ShopAuthError | ShopDisabled | ShopRequestError):
        return failure
    return ShopRequestError(
        "creating the discount code failed and was not retried, because the shop may have created it "
        f"anyway: {failure}",
        resource="cart_rules",
        status=failure.status,
    )


def _created_id(response: requests.Response) -> int | None:
    """The id in a POST's answer: `<prestashop><cart_rule><id>` (XML) or `{"cart_rule":{"id":N}}` (JSON)."""
    body = response.content.strip()
    value: object = None
    if body.startswith(b"{"):
        try:
            document = jsonsafe.loads(body)  # refuses absurd nesting or numbers as a ValueError
        except ValueError:
            return None
        single = document.get("cart_rule") if isinstance(document, dict) else None
        value = single.get("id") if isinstance(single, dict) else None
    else:
        root = parse_xml(body)
        found = root.find("./cart_rule/id") if root is not None else None
        value = (found.text or "").strip() if found is not None else None
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    try:
        created = int(value)
    except ValueError:
        return None
    return created if created > 0 else None
