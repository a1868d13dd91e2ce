"""Renders rows the way PrestaShop's webservice does, in JSON (per flavour) and XML.

The JSON quirks are PrestaShop's, reproduced on purpose: `json_encode` escapes `/`, a single object drops
every falsy field in 8.x (`array_filter`), an empty list is a bare `[]`, a multilingual field collapses to a
string when one language is selected, and 8.0/8.1 on PHP 8.1+ sends INT columns as JSON numbers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import quoteattr

from bridge.simulator.schema import RESOURCE_DESCRIPTIONS, WITHOUT_SCHEMA, Association, Field, Resource

XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<prestashop xmlns:xlink="http://www.w3.org/1999/xlink">\n'
XML_TAIL = "</prestashop>\n"
METHODS = ("GET", "PUT", "POST", "PATCH", "DELETE", "HEAD")


@dataclass(frozen=True)
class Flavour:
    """What differs between PrestaShop versions, as far as a reader of the webservice can see."""

    name: str
    psws_version: str
    native_ints: bool  # 8.0/8.1 on PHP >= 8.1: INT columns are JSON numbers
    strip_falsy_single: bool  # 8.x: `array_filter` on the single-object JSON
    psws_version_on_auth_error: str
    honours_local_sha1: bool  # 304 when Local-Content-Sha1 matches (8.0+)
    json_root_works: bool  # 1.7.x: `/api/?output_format=JSON` lists resource names
    php_warnings: bool  # PHP 8 emits warnings on bad filters, turning 400 into 500 with code 3 errors
    hidden_fields: frozenset[tuple[str, str]] = frozenset()
    missing_resources: frozenset[str] = frozenset()


FLAVOURS: dict[str, Flavour] = {
    "1.7.7": Flavour(
        name="1.7.7",
        psws_version="1.7.7.8",
        native_ints=False,
        strip_falsy_single=False,
        psws_version_on_auth_error="1.7.7.8",
        honours_local_sha1=False,
        json_root_works=True,
        php_warnings=False,
        hidden_fields=frozenset({("orders", "note"), ("order_payments", "id_employee")}),
        missing_resources=frozenset({"attachments", "order_cart_rules"}),
    ),
    "8.1": Flavour(
        name="8.1",
        psws_version="8.1.2",
        native_ints=True,
        strip_falsy_single=True,
        psws_version_on_auth_error="0",
        honours_local_sha1=True,
        json_root_works=False,
        php_warnings=True,
    ),
    "8.2": Flavour(
        name="8.2",
        psws_version="8.2.0",
        native_ints=False,
        strip_falsy_single=True,
        psws_version_on_auth_error="0",
        honours_local_sha1=True,
        json_root_works=False,
        php_warnings=True,
    ),
}

# Which resource an id-like field points to (XML `xlink:href`).
XLINKS: dict[str, str] = {
    "id_address_delivery": "addresses",
    "id_address_invoice": "addresses",
    "id_cart": "carts",
    "id_currency": "currencies",
    "id_lang": "languages",
    "id_customer": "customers",
    "id_carrier": "carriers",
    "current_state": "order_states",
    "id_order": "orders",
    "id_order_state": "order_states",
    "id_employee": "employees",
    "id_country": "countries",
    "id_state": "states",
    "id_zone": "zones",
    "id_product": "products",
    "product_id": "products",
    "id_customization": "customizations",
    "id_default_group": "groups",
    "id_order_invoice": "order_invoices",
    "id_order_detail": "order_details",
    "id_customer_thread": "customer_threads",
    "id_contact": "contacts",
    "id_guest": "guests",
    "id_manufacturer": "manufacturers",
    "id_supplier": "suppliers",
    "id_category_default": "categories",
    "id_tax_rules_group": "tax_rule_groups",
    "id_default_combination": "combinations",
    "id_product_attribute": "combinations",
    "id_cart_rule": "cart_rules",
    "id_warehouse": "warehouses",
}


def php_json(document: Any) -> bytes:
    """`json_encode($document, JSON_UNESCAPED_UNICODE)`: raw UTF-8, `/` escaped as `\\/`, no spaces."""
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return text.replace("/", "\\/").encode("utf-8")


def php_falsy(value: Any) -> bool:
    """What PHP's `array_filter` (no callback) drops: "0", 0, "", null, false, empty array."""
    return value is None or value is False or value == 0 or value in ("", "0") or value == [] or value == {}


# -- scalar values --------------------------------------------------------------------------------------


def text_value(field: Field, value: Any) -> str | None:
    """The value as the database driver hands it over as a string (None for SQL NULL)."""
    if value is None:
        match field.kind:
            case "date":
                return "0000-00-00 00:00:00"
            case "birthday":
                return "0000-00-00"
            case _:
                return None
    match field.kind:
        case "id" | "int":
            return str(int(value))
        case "bool":
            return "1" if value else "0"
        case "money" | "decimal":
            return f"{Decimal(value):.{field.scale}f}"
        case "date":
            assert isinstance(value, datetime)
            return value.strftime("%Y-%m-%d %H:%M:%S")
        case "birthday":
            assert isinstance(value, date)
            return value.isoformat()
        case _:
            if value is False:
                return None
            return str(value)


def json_value(field: Field, value: Any, flavour: Flavour, *, top_level_id: bool = False) -> Any:
    """A non-multilingual value as this flavour's JSON shows it."""
    if top_level_id:
        return int(value)
    if value is None:
        if field.name.startswith("id_") and field.kind in ("id", "int"):
            return ""  # WebserviceOutputBuilder turns a NULL id_* into ""
        return text_value(field, value)
    if field.kind == "string" and value is False:
        return False  # a getter returning false (products.manufacturer_name)
    if field.kind in ("id", "int") and flavour.native_ints:
        return int(value)
    return text_value(field, value)


# -- languages ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LanguageSelection:
    """The languages i18n fields are rendered in, and how their ids print in JSON lists."""

    ids: tuple[int, ...]
    ids_as_strings: bool

    @property
    def single(self) -> bool:
        return len(self.ids) == 1


def i18n_json(values: Mapping[int, str], languages: LanguageSelection) -> Any:
    if languages.single:
        return values.get(languages.ids[0], "")
    return [
        {"id": str(lang) if languages.ids_as_strings else lang, "value": values.get(lang, "")}
        for lang in languages.ids
    ]


# -- JSON documents -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Display:
    """Which fields and associations an entity shows. `associations` maps name -> sub-fields (None = all).

    `virtual`: the `price[alias]` names to show, as the query wrote them (see `bridge.simulator.prices`).
    """

    fields: tuple[Field, ...]
    associations: Mapping[str, tuple[str, ...] | None]
    virtual: tuple[str, ...] = ()


def entity_json(
    resource: Resource,
    row: Mapping[str, Any],
    display: Display,
    languages: LanguageSelection,
    flavour: Flavour,
    virtual: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One entity; `virtual` maps alias -> computed text (an alias named like a field replaces its value)."""
    computed = virtual or {}
    entity: dict[str, Any] = {}
    for field in display.fields:
        value = row.get(field.name)
        if field.name in computed:
            entity[field.name] = computed[field.name]
        elif field.kind == "i18n":
            entity[field.name] = i18n_json(value or {}, languages)
        else:
            entity[field.name] = json_value(field, value, flavour, top_level_id=field.name == "id")
    names = {field.name for field in display.fields}
    for alias in display.virtual:
        if alias in computed and alias not in names:
            # PrestaShop keys the output by the lower-cased alias (the field's `sqlId`).
            entity[alias.lower()] = computed[alias]
    associations: dict[str, Any] = {}
    stored = row.get("associations") or {}
    for association in resource.associations:
        if association.name not in display.associations:
            continue
        items = stored.get(association.name) or []
        if not items:
            continue  # an empty association gives no key at all
        wanted = display.associations[association.name]
        associations[association.name] = [
            {
                field.name: json_value(field, item.get(field.name), flavour)
                for field in association.fields
                if wanted is None or field.name in wanted
            }
            for item in items
        ]
    if associations:
        entity["associations"] = associations
    return entity


def list_json(resource: Resource, entities: Sequence[dict[str, Any]]) -> bytes:
    if not entities:
        return b"[]"
    return php_json({resource.plural: list(entities)})


def minimal_list_json(resource: Resource, ids: Iterable[int]) -> bytes:
    items = [{"id": int(row_id)} for row_id in ids]
    if not items:
        return b"[]"
    return php_json({resource.plural: items})


def single_json(resource: Resource, entity: dict[str, Any], flavour: Flavour) -> bytes:
    if flavour.strip_falsy_single:
        entity = {key: value for key, value in entity.items() if not php_falsy(value)}
    return php_json({resource.singular: entity})


def created_json(
    resource: Resource, echo: Mapping[str, Any], languages: LanguageSelection, flavour: Flavour
) -> bytes:
    """The answer to a POST: the new object as PHP holds it after `add()`, not as the database stores it.

    `echo` maps field -> what the object holds: the text the XML body gave, None for a field the body left
    out (the webservice nulls those), or what `add()` set itself (the id, the dates, a default currency).
    """
    entity: dict[str, Any] = {}
    for field in resource.fields:
        value = echo.get(field.name)
        if field.kind == "i18n":
            entity[field.name] = i18n_json(value if isinstance(value, Mapping) else {}, languages)
        elif field.name == "id":
            entity["id"] = int(str(value))
        elif value is None and field.name.startswith("id_"):
            entity[field.name] = ""  # WebserviceOutputBuilder turns a NULL id_* into ""
        else:
            entity[field.name] = value
    return single_json(resource, entity, flavour)


def created_xml(
    resource: Resource, echo: Mapping[str, Any], languages: LanguageSelection, api_url: str
) -> bytes:
    """`created_json` in XML: every field, each value as the object holds it."""
    lines = [f"<{resource.singular}>\n"]
    for field in resource.fields:
        value = echo.get(field.name)
        if field.kind == "i18n":
            lines.append(
                _xml_field(field, value if isinstance(value, Mapping) else {}, api_url, languages, "\t")
            )
            continue
        text = "" if value is None else str(value)
        target = XLINKS.get(field.name)
        link = f' xlink:href="{api_url}{target}/{text}"' if target and text not in ("", "0") else ""
        lines.append(f"\t<{field.name}{link}>{cdata(text)}</{field.name}>\n")
    lines.append(f"</{resource.singular}>\n")
    return single_xml("".join(lines))


def errors_json(errors: Sequence[tuple[int, str]], content: Mapping[str, Any] | None = None) -> bytes:
    document: dict[str, Any] = dict(content or {})
    document["errors"] = [{"code": code, "message": message} for code, message in errors]
    return php_json(document)


# -- XML documents --------------------------------------------------------------------------------------


def cdata(text: str | None) -> str:
    return "<![CDATA[" + (text or "").replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _xml_field(field: Field, value: Any, api_url: str, languages: LanguageSelection, indent: str) -> str:
    if field.kind == "i18n":
        values: Mapping[int, str] = value or {}
        inner = "".join(
            f'<language id="{lang}" xlink:href="{api_url}languages/{lang}">'
            f"{cdata(values.get(lang, ''))}</language>"
            for lang in languages.ids
        )
        return f"{indent}<{field.name}>{inner}</{field.name}>\n"
    text = text_value(field, value)
    attributes = ""
    target = XLINKS.get(field.name)
    if target and text not in (None, ""):
        attributes = f' xlink:href="{api_url}{target}/{text}"'
    if not field.filterable:
        attributes += ' notFilterable="true"'
    return f"{indent}<{field.name}{attributes}>{cdata(text)}</{field.name}>\n"


def _xml_association(
    association: Association, items: Sequence[Mapping[str, Any]], wanted: Any, api_url: str
) -> str:
    head = f'<{association.name} nodeType="{association.node}"'
    head += ' virtualEntity="true"' if association.virtual else f' api="{association.name}"'
    if not items:
        return head + "/>\n"
    lines = [head + ">\n"]
    no_languages = LanguageSelection((), False)
    for item in items:
        link = ""
        if not association.virtual and "id" in item:
            link = f' xlink:href="{api_url}{association.name}/{item["id"]}"'
        lines.append(f"\t<{association.node}{link}>\n")
        for field in association.fields:
            if wanted is None or field.name in wanted:
                lines.append(_xml_field(field, item.get(field.name), api_url, no_languages, "\t"))
        lines.append(f"\t</{association.node}>\n")
    lines.append(f"</{association.name}>\n")
    return "".join(lines)


def entity_xml(
    resource: Resource,
    row: Mapping[str, Any],
    display: Display,
    languages: LanguageSelection,
    api_url: str,
    virtual: Mapping[str, str] | None = None,
) -> str:
    computed = virtual or {}
    lines = [f"<{resource.singular}>\n"]
    for field in display.fields:
        if field.name in computed:
            lines.append(f"\t<{field.name}>{cdata(computed[field.name])}</{field.name}>\n")
        else:
            lines.append(_xml_field(field, row.get(field.name), api_url, languages, "\t"))
    names = {field.name for field in display.fields}
    for alias in display.virtual:
        if alias in computed and alias not in names:
            lines.append(f"\t<{alias.lower()}>{cdata(computed[alias])}</{alias.lower()}>\n")
    shown = [a for a in resource.associations if a.name in display.associations]
    if shown:
        stored = row.get("associations") or {}
        lines.append("<associations>\n")
        for association in shown:
            lines.append(
                _xml_association(
                    association,
                    stored.get(association.name) or [],
                    display.associations[association.name],
                    api_url,
                )
            )
        lines.append("</associations>\n")
    lines.append(f"</{resource.singular}>\n")
    return "".join(lines)


def list_xml(resource: Resource, entities_xml: Sequence[str]) -> bytes:
    return (
        XML_HEAD + f"<{resource.plural}>\n" + "".join(entities_xml) + f"</{resource.plural}>\n" + XML_TAIL
    ).encode()


def minimal_list_xml(resource: Resource, ids: Iterable[int], api_url: str) -> bytes:
    items = "".join(
        f'<{resource.singular} id="{row_id}" xlink:href="{api_url}{resource.name}/{row_id}"/>\n'
        for row_id in ids
    )
    return (XML_HEAD + f"<{resource.plural}>\n" + items + f"</{resource.plural}>\n" + XML_TAIL).encode()


def single_xml(entity: str) -> bytes:
    return (XML_HEAD + entity + XML_TAIL).encode()


def errors_xml(errors: Sequence[tuple[int, str]]) -> bytes:
    body = "".join(
        f"<error>\n<code>{cdata(str(code))}</code>\n<message>{cdata(message)}</message>\n</error>\n"
        for code, message in errors
    )
    return (XML_HEAD + "<errors>\n" + body + "</errors>\n" + XML_TAIL).encode()


def api_root_xml(
    shop_name: str,
    resources: Iterable[str],
    permissions: Mapping[str, frozenset[str]],
    api_url: str,
    module_resources: Mapping[str, str] | None = None,
) -> bytes:
    """`GET /api/`: the resources this key may use, with one attribute per method.

    `module_resources` (name -> description) are listed without schema links, as module resources are.
    """
    modules = module_resources or {}
    parts = [XML_HEAD, f"<api shopName={quoteattr(shop_name)}>\n"]
    for name in resources:
        allowed = permissions.get(name)
        if not allowed:
            continue
        flags = " ".join(
            f'{method.lower()}="{"true" if method in allowed else "false"}"' for method in METHODS
        )
        href = f"{api_url}{name}"
        parts.append(f'<{name} xlink:href="{href}" {flags}>\n')
        description = modules.get(name) or RESOURCE_DESCRIPTIONS.get(name, name)
        parts.append(f'<description xlink:href="{href}" {flags}>\n{description}</description>\n')
        if name not in WITHOUT_SCHEMA and name not in modules:
            parts.append(f'<schema xlink:href="{href}?schema=blank" type="blank"/>\n')
            parts.append(f'<schema xlink:href="{href}?schema=synopsis" type="synopsis"/>\n')
        parts.append(f"</{name}>\n")
    parts.append("</api>\n")
    parts.append(XML_TAIL)
    return "".join(parts).encode()


IMAGE_TYPES = ("general", "products", "categories", "manufacturers", "suppliers", "stores", "customizations")
IMAGE_MIMETYPES = "image/gif, image/jpg, image/jpeg, image/pjpeg, image/png, image/webp, image/x-png"


def image_types_xml(api_url: str) -> bytes:
    lines = [XML_HEAD, "<image_types>\n"]
    for name in IMAGE_TYPES:
        lines.append(
            f'<{name} xlink:href="{api_url}images/{name}" get="true" put="false" post="false" patch="false" '
            f'delete="false" head="true" upload_allowed_mimetypes="{IMAGE_MIMETYPES}"/>\n'
        )
    lines.append("</image_types>\n")
    lines.append(XML_TAIL)
    return "".join(lines).encode()


def product_images_xml(product_id: int, image_ids: Sequence[int], api_url: str) -> bytes:
    lines = [XML_HEAD, f'<image id="{product_id}">\n']
    for image_id in image_ids:
        lines.append(
            f'<declination id="{image_id}" xlink:href="{api_url}images/products/{product_id}/{image_id}"/>\n'
        )
    lines.append("</image>\n")
    lines.append(XML_TAIL)
    return "".join(lines).encode()
