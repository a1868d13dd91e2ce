"""The `price[alias][param]=value` virtual fields of `products`: a price PrestaShop computes for a context.

What PrestaShop 8 does (`WebserviceRequest::specificPriceCalculation`, `Product::priceCalculation`,
`WebserviceOutputBuilder::addVirtualFields`), reproduced:

- each alias becomes one more field of every rendered product, after all the stored fields (before the
  associations), keyed by the lower-cased alias; `display=full` and a single GET show every alias,
  `display=[...]` only the aliases it lists (by their exact spelling), the minimal list none;
- an alias spelled like a stored field (`price[price][...]`) replaces that field's value in place;
- parameters and their defaults: `use_tax` (PS_TAX), `currency` (the default currency), `decimals`
  (PS_PRICE_ROUND_MODE, i.e. 2 on a fresh install, not 6), `product_attribute` (0 = the default
  combination), `use_ecotax` (PS_USE_ECOTAX), `only_reduction`, `use_reduction`; `country`, `state`,
  `county`, `group` and `quantity` only choose tax rules and specific prices, which this simulator does
  not model (one rate per tax rules group, no specific prices, so no reduction ever applies);
- value = (price tax excl. + combination impact) x conversion rate x (1 + tax rate), plus ecotax,
  rounded half up to `decimals`, never negative, printed with `%f` (6 decimals);
- a combination that is not the product's, or an unknown currency, gives 0.000000 (PHP computes null or
  multiplies by a missing rate);
- an alias that is not `[a-zA-Z0-9_-]+` gives 400 code 128; a `price` (or an alias) that is not an array
  makes PHP 8 die (HTTP 500, empty body). Both only when a product is actually rendered.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from bridge.simulator.query import PhpFatal, WebserviceError, php_intval
from bridge.simulator.state import ShopState

_ALIAS = re.compile(r"^[a-zA-Z_0-9-]+$")  # Validate::isConfigName
_ZERO = Decimal(0)
_MICRO = Decimal("0.000001")
# Values of a fresh install, used when the shop has no such configuration row.
_INSTALL_DEFAULTS: Mapping[str, str] = {
    "PS_TAX": "1",
    "PS_PRICE_ROUND_MODE": "2",
    "PS_CURRENCY_DEFAULT": "1",
    "PS_USE_ECOTAX": "0",
}


def alias_names(raw: Any) -> tuple[str, ...]:
    """The aliases of a `price` parameter, in query order (none when it is not an array)."""
    return tuple(raw) if isinstance(raw, Mapping) else ()


def computed_prices(
    state: ShopState, raw: Any, products: Sequence[Mapping[str, Any]]
) -> list[dict[str, str]]:
    """Per product row (in order), alias -> price text. Call with `state.lock` held.

    Raises PhpFatal or WebserviceError (code 128) as PrestaShop fails, only if `products` is not empty.
    """
    if not products:
        return []
    if not isinstance(raw, Mapping) or any(not isinstance(params, Mapping) for params in raw.values()):
        raise PhpFatal("price parameters must be arrays")
    combinations = _combinations(state)
    out = [
        {name: price_text(state, row, params, combinations) for name, params in raw.items()}
        for row in products
    ]
    for name in raw:
        if not _ALIAS.fullmatch(name):
            raise WebserviceError(400, [(128, "Name for the virtual field is not allow")])
    return out


def price_text(
    state: ShopState,
    product: Mapping[str, Any],
    params: Mapping[str, Any],
    combinations: Mapping[int, Mapping[int, Decimal]] | None = None,
) -> str:
    """One product's price for one alias's parameters, as `sprintf('%f')` prints it.

    `combinations` (product id -> combination id -> price impact) saves reading them for every product.
    """
    use_tax = _php_bool(params.get("use_tax", _config(state, "PS_TAX")))
    decimals = _php_int(params.get("decimals", _config(state, "PS_PRICE_ROUND_MODE")))
    attribute_id = _php_int(params.get("product_attribute", "0"))
    currency_id = _php_int(params.get("currency", _config(state, "PS_CURRENCY_DEFAULT")))
    use_ecotax = _php_bool(params.get("use_ecotax", _config(state, "PS_USE_ECOTAX")))
    only_reduction = _php_bool(params.get("only_reduction", ""))

    if combinations is None:
        combinations = _combinations(state)
    impact = _combination_impact(product, combinations.get(int(product["id"]), {}), attribute_id)
    if impact is None:
        return _printed(_ZERO)  # priceCalculation returns null: not one of the product's combinations
    rate = _conversion_rate(state, currency_id)
    price = (Decimal(product.get("price") or 0) + impact) * rate
    tax_enabled = _php_bool(_config(state, "PS_TAX"))
    if use_tax and tax_enabled:
        price *= 1 + _tax_rate(state, int(product.get("id_tax_rules_group") or 0)) / 100
    ecotax = Decimal(product.get("ecotax") or 0)
    if use_ecotax and ecotax:
        ecotax *= rate
        if use_tax and tax_enabled:
            group = _php_int(_config(state, "PS_ECOTAX_TAX_RULES_GROUP_ID") or "0")
            ecotax *= 1 + _tax_rate(state, group) / 100
        price += ecotax
    if only_reduction:
        return _printed(_ZERO)  # no specific prices here, so no reduction
    price = _php_round(price, decimals)
    return _printed(max(price, _ZERO))


def _combinations(state: ShopState) -> dict[int, dict[int, Decimal]]:
    """Price impacts of every combination, by product id then combination id."""
    out: dict[int, dict[int, Decimal]] = {}
    for combination_id, combination in state.private.get("combinations", {}).items():
        impacts = out.setdefault(int(combination["id_product"]), {})
        impacts[int(combination_id)] = Decimal(combination["price_impact"])
    return out


def _combination_impact(
    product: Mapping[str, Any], impacts: Mapping[int, Decimal], attribute_id: int
) -> Decimal | None:
    """The combination's price impact; 0 = the default combination (or none); None: not this product's."""
    if attribute_id == 0:
        if not impacts:
            return _ZERO
        return impacts.get(int(product.get("cache_default_attribute") or 0))
    return impacts.get(attribute_id)


def _conversion_rate(state: ShopState, currency_id: int) -> Decimal:
    """`Tools::convertPrice`: the default currency is left alone; an unknown one multiplies by nothing."""
    if currency_id == _php_int(_config(state, "PS_CURRENCY_DEFAULT")):
        return Decimal(1)
    currency = state.table("currencies").get(currency_id)
    return _ZERO if currency is None else Decimal(currency["conversion_rate"])


def _tax_rate(state: ShopState, group_id: int) -> Decimal:
    group = state.private.get("tax_rules_groups", {}).get(group_id)
    return _ZERO if group is None else Decimal(group["rate"])


def _config(state: ShopState, name: str) -> str:
    value = state.config(name)
    return value if value is not None else _INSTALL_DEFAULTS.get(name, "")


def _php_int(value: Any) -> int:
    """PHP's `(int)` of a query value: a string's leading digits, an array's emptiness."""
    if isinstance(value, Mapping):
        return 1 if value else 0
    return php_intval(str(value))


def _php_bool(value: Any) -> bool:
    """PHP's `(bool)` of a query value: "" and "0" are false, as is an empty array."""
    if isinstance(value, Mapping):
        return bool(value)
    return str(value) not in ("", "0")


def _php_round(value: Decimal, decimals: int) -> Decimal:
    """`Tools::ps_round` in PS_ROUND_HALF_UP mode; negative decimals round to tens, hundreds..."""
    decimals = min(decimals, 12)
    return value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def _printed(value: Decimal) -> str:
    return f"{value.quantize(_MICRO, rounding=ROUND_HALF_UP):f}"
