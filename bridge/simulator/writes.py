"""The one write the simulator accepts: `POST cart_rules` (a discount code), as PrestaShop 8 handles it.

`WebserviceRequest::saveEntityFromXml`, `ObjectModel::validateFieldsLang` / `validateFields` / `add` and
`CartRule::add`, reproduced where a client can tell:

- the body is XML (`<prestashop><cart_rule>...</cart_rule></prestashop>`); one that does not parse is
  500 code 127; an `<id>` is 400 code 91; every child of the root is one object (its tag is not checked);
- fields are read in the resource's order: a missing required one (`date_from`, `date_to`) is 400 code 41;
  **any other field the body leaves out is set to NULL, so it is stored as 0 or "": a rule posted without
  `<quantity>`, `<active>` or `<quantity_per_user>` cannot be used**, the class defaults do not apply;
- `name` must be given per language (`<name><language id="1">...</language></name>`) and is required in
  the shop's default language: 400 code 84 `Validation error: "Property CartRule->name is empty."`;
  languages left out get the default language's text when stored;
- every other field is checked with its validator (isDate, isUnsignedInt, isPercentage, isBool, isFloat,
  isCleanHtml, sizes): 400 code 85 `Validation error: "Property CartRule->quantity is not valid"` (the
  first failing field in definition order); nothing checks that a code is unique, or that only one of
  `reduction_percent` / `reduction_amount` is set (the back office does, the webservice does not);
- `add()` sets `date_add` / `date_upd` to now, `reduction_currency` to the default currency when 0, and
  PS_CART_RULE_FEATURE_ACTIVE to 1;
- the answer is 201 with the object as PHP holds it (the texts the body gave, NULL for what it left out),
  not as the database stores it; several objects in one body are created one by one, and an error on a
  later one leaves the earlier ones created.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from xml.etree import ElementTree

from bridge.simulator.query import WebserviceError, php_intval
from bridge.simulator.schema import RESOURCES, Field
from bridge.simulator.state import ShopState

Echo = dict[str, Any]

CART_RULES = RESOURCES["cart_rules"]
_CLASS = "CartRule"
_REQUIRED = frozenset({"date_from", "date_to"})
_SIZES: Mapping[str, int] = {"description": 65534, "code": 254, "name": 254}
_PHP_NUMBER = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")
_DATE = re.compile(r"^(\d{4})-(0?\d|1[0-2])-(0?\d|[12]\d|3[01])( (\d{2}):(\d{2}):(\d{2}))?$")
# Validate::isCleanHtml without iframes (PS_ALLOW_HTML_IFRAME off): scripts, inline event handlers,
# `script:` URLs and embedded frames, forms and objects are refused.
_UNCLEAN = (
    re.compile(r"<\s*script", re.I | re.S),
    re.compile(r"\bon[a-z]+\s*=", re.I | re.S),
    re.compile(r"script:", re.I | re.S),
    re.compile(r"<\s*(i?frame|form|input|embed|object)", re.I | re.S),
)


def xml_error(body: bytes) -> str | None:
    """`simplexml_load_string` failing: PrestaShop's code 127 message; None for a well-formed body."""
    if _parse(body) is not None:
        return None
    text = body.decode("utf-8", "replace")
    return f"XML error : String could not be parsed as XML\nXML length : {len(body)}\nOriginal XML : {text}"


def _parse(body: bytes) -> ElementTree.Element | None:
    if not body.decode("utf-8", "replace").strip():
        return None
    try:
        return ElementTree.fromstring(body)  # noqa: S314 - a test server parsing its own tests' input
    except ElementTree.ParseError:
        return None


def post_cart_rules(state: ShopState, body: bytes) -> list[Echo]:
    """Create the cart rules of an XML body; returns each new object as PHP holds it (see the module doc).

    Raises WebserviceError with PrestaShop's status and code.
    """
    root = _parse(body)
    if root is None:
        message = xml_error(body)
        assert message is not None
        raise WebserviceError(500, [(127, message)])
    entities = list(root)
    for entity in entities:
        found = entity.find("id")
        if found is not None and _text(found) != "":
            raise WebserviceError(400, [(91, "id is forbidden when adding a new resource")])
    created: list[Echo] = []
    for entity in entities:
        with state.lock:
            created.append(_create(state, entity))
    return created


def _create(state: ShopState, entity: ElementTree.Element) -> Echo:
    echo: Echo = {}
    for field in CART_RULES.fields:
        element = entity.find(field.name)
        if field.kind == "i18n":
            echo[field.name] = _languages(element)
        elif element is not None:
            echo[field.name] = _text(element)
        elif field.name in _REQUIRED:
            raise WebserviceError(400, [(41, f'parameter "{field.name}" required')])
        else:
            echo[field.name] = None  # left out: the webservice sets the property to NULL
    default_language = php_intval(state.config("PS_LANG_DEFAULT") or "1")
    problem = _check_name(echo["name"], default_language)
    if problem is not None:
        raise WebserviceError(400, [(84, f'Validation error: "{problem}"')])
    for field in CART_RULES.fields:
        if field.name == "id" or field.kind == "i18n":
            continue
        problem = _check(field, echo[field.name])
        if problem is not None:
            raise WebserviceError(400, [(85, f'Validation error: "{problem}"')])

    now = state.now_local()
    stamp = now.strftime("%Y-%m-%d %H:%M:%S")
    echo["date_add"] = echo["date_upd"] = stamp
    if _php_falsy(echo["reduction_currency"]):
        echo["reduction_currency"] = php_intval(state.config("PS_CURRENCY_DEFAULT") or "1")
    values: dict[str, Any] = {}
    for field in CART_RULES.fields:
        if field.name == "id":
            continue
        if field.kind == "i18n":
            values[field.name] = _stored_names(state, echo[field.name], default_language)
        else:
            values[field.name] = _stored(field, echo[field.name])
    values["date_add"] = values["date_upd"] = now
    echo["id"] = state.insert("cart_rules", values)
    if state.config("PS_CART_RULE_FEATURE_ACTIVE") != "1":
        state.set_config("PS_CART_RULE_FEATURE_ACTIVE", "1")
    return echo


def _text(element: ElementTree.Element) -> str:
    """SimpleXML's `(string)`: the element's own text, not its children's."""
    return (element.text or "") + "".join(child.tail or "" for child in element)


def _languages(element: ElementTree.Element | None) -> dict[int | None, str]:
    """An i18n field: `<language id="N">` texts, or (no such children) the element's text for no language."""
    if element is None:
        return {None: ""}
    languages = element.findall("language")
    if not languages:
        return {None: _text(element)}
    return {php_intval(item.get("id") or ""): _text(item) for item in languages}


def _check_name(values: Mapping[int | None, str], default_language: int) -> str | None:
    """`validateFieldsLang`: the default language must have a name; no name may exceed 254 characters."""
    checked = dict(values)
    checked.setdefault(default_language, "")
    for language, text in checked.items():
        if (not language or language == default_language) and text == "":
            return f"Property {_CLASS}->name is empty."
        if len(text) > _SIZES["name"]:
            return _too_long("name", len(text))
    return None


def _check(field: Field, value: str | None) -> str | None:
    """`ObjectModel::validateField` for one non-multilingual field: required, size, then validator."""
    if field.name in _REQUIRED and (value is None or value == ""):
        return f"Property {_CLASS}->{field.name} is empty."
    size = _SIZES.get(field.name)
    if size is not None and value is not None and len(value) > size:
        return _too_long(field.name, len(value))
    if value is None or _php_falsy(value):
        return None  # validators only run on non-empty values: "0" always passes
    validator = _VALIDATORS.get(field.name)
    if validator is not None and not validator(value):
        return f"Property {_CLASS}->{field.name} is not valid"
    return None


def _too_long(name: str, length: int) -> str:
    return (
        f"The length of property {_CLASS}->{name} is currently {length} chars. "
        f"It must be between 0 and {_SIZES[name]} chars."
    )


def _php_falsy(value: Any) -> bool:
    return value is None or value == "" or value == "0" or value == 0


def _is_unsigned_int(value: str) -> bool:
    return str(php_intval(value)) == value and 0 <= php_intval(value) < 4294967296


def _is_int(value: str) -> bool:
    return str(php_intval(value)) == value


def _is_float(value: str) -> bool:
    return bool(_PHP_NUMBER.match(value))


def _is_percentage(value: str) -> bool:
    return _is_float(value) and 0 <= Decimal(value.strip()) <= 100


def _is_bool(value: str) -> bool:
    return value in ("0", "1")


def _is_date(value: str) -> bool:
    match = _DATE.match(value)
    if match is None:
        return False
    try:
        datetime(int(match.group(1)), int(match.group(2)), int(match.group(3)))  # noqa: DTZ001 - checkdate
    except ValueError:
        return False
    return True


def _is_clean_html(value: str) -> bool:
    return not any(pattern.search(value) for pattern in _UNCLEAN)


_BY_KIND: Mapping[str, Callable[[str], bool]] = {
    "bool": _is_bool,
    "money": _is_float,
    "date": _is_date,
    "string": _is_clean_html,
}
_VALIDATORS: dict[str, Callable[[str], bool]] = {
    field.name: _BY_KIND[field.kind] for field in CART_RULES.fields if field.kind in _BY_KIND
}
_VALIDATORS.update(
    {
        "id_customer": _is_unsigned_int,
        "quantity": _is_unsigned_int,
        "quantity_per_user": _is_unsigned_int,
        "priority": _is_unsigned_int,
        "minimum_amount_currency": _is_int,
        "reduction_percent": _is_percentage,
        "reduction_currency": _is_unsigned_int,
        "reduction_product": _is_int,
        "gift_product": _is_unsigned_int,
        "gift_product_attribute": _is_unsigned_int,
    }
)


def _stored(field: Field, value: Any) -> Any:
    """`ObjectModel::formatValue` and the column type: what MySQL keeps of the object's value."""
    text = "" if value is None else str(value)
    match field.kind:
        case "id" | "int":
            return php_intval(text)
        case "bool":
            return php_intval(text) != 0
        case "money" | "decimal":
            number = Decimal(text.strip()) if _is_float(text) else Decimal(0)
            return number.quantize(Decimal(1).scaleb(-field.scale), rounding=ROUND_HALF_UP)
        case "date":
            match = _DATE.match(text)
            assert match is not None  # validated (and required) before
            hour, minute, second = (int(part) if part else 0 for part in match.group(5, 6, 7))
            try:
                return datetime(  # noqa: DTZ001 - shop-local wall time, like every stored date
                    int(match.group(1)), int(match.group(2)), int(match.group(3)), hour, minute, second
                )
            except ValueError:
                # isDate does not check the time; MySQL refuses 25:61:00 and `add()` fails.
                raise WebserviceError(500, [(46, "Unable to save resource")]) from None
        case _:
            return text


def _stored_names(
    state: ShopState, values: Mapping[int | None, str], default_language: int
) -> dict[int, str]:
    """Every language gets a name: its own, or the default language's (the field is required)."""
    with state.lock:
        languages = sorted(state.table("languages"))
    fallback = values.get(default_language, "")
    return {
        language: text if (text := values.get(language)) not in (None, "", "0") else fallback
        for language in languages
    }
