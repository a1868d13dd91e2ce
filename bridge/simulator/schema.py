"""What each webservice resource looks like: field names in PrestaShop's output order and their kinds.

The field lists are taken from the responses of a real PrestaShop 8.1.2 shop (`display=full`), so the
simulator answers with the same keys in the same order. A field's kind decides how its canonical Python value
is rendered in each flavour (see `bridge.simulator.output`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FieldKind = Literal["id", "int", "bool", "money", "decimal", "date", "birthday", "string", "i18n"]


@dataclass(frozen=True)
class Field:
    name: str
    kind: FieldKind
    filterable: bool = True  # False for getter ("dynamic") fields such as orders.shipping_number (code 34)
    getter: bool = False  # virtual field computed from other tables (orders.shipping_number)
    nullable: bool = False  # the column may hold NULL; a new row gets None instead of the kind's zero
    scale: int = 6  # digits after the point for "money"/"decimal" (carrier_tax_rate has 3)


@dataclass(frozen=True)
class Association:
    name: str  # "order_rows", "cart_rows", "groups", "images", ...
    node: str  # XML node name of one item: "order_row", "cart_row", "group", ...
    fields: tuple[Field, ...]
    virtual: bool = True  # virtual rows (order_rows) carry no xlink:href to a resource of their own


@dataclass(frozen=True)
class Resource:
    name: str  # URL name: "orders", "order_slip", "order_histories"
    singular: str  # JSON key of one object: "order", "order_slip", "order_history"
    plural: str  # JSON key of a list: "orders", "order_slips", "order_histories"
    fields: tuple[Field, ...]  # PrestaShop's output order, "id" first
    associations: tuple[Association, ...] = ()

    def field(self, name: str) -> Field | None:
        for candidate in self.fields:
            if candidate.name == name:
                return candidate
        return None

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


def _fields(spec: str) -> tuple[Field, ...]:
    """Parse `name:kind` items; suffix `?` = nullable, `!` = not filterable, `*` = getter (implies `!`).

    `decimal3` means kind "decimal" with 3 digits after the point.
    """
    out: list[Field] = []
    for item in spec.split():
        name, _, kind_spec = item.partition(":")
        nullable = "?" in kind_spec
        getter = "*" in kind_spec
        filterable = not ("!" in kind_spec or getter)
        kind_text = kind_spec.strip("?!*")
        scale = 6
        if kind_text.startswith("decimal") and kind_text != "decimal":
            scale = int(kind_text[len("decimal") :])
            kind_text = "decimal"
        kind: FieldKind = kind_text  # type: ignore[assignment]
        if kind not in ("id", "int", "bool", "money", "decimal", "date", "birthday", "string", "i18n"):
            raise ValueError(f"unknown kind in {item!r}")
        out.append(Field(name, kind, filterable=filterable, getter=getter, nullable=nullable, scale=scale))
    return tuple(out)


def _assoc(name: str, node: str, spec: str, *, virtual: bool = False) -> Association:
    return Association(name, node, _fields(spec), virtual=virtual)


def _resource(
    name: str, singular: str, plural: str, spec: str, associations: tuple[Association, ...] = ()
) -> Resource:
    return Resource(name, singular, plural, _fields("id:id " + spec), associations)


_ORDER_ROWS = _assoc(
    "order_rows",
    "order_row",
    "id:id product_id:int product_attribute_id:int product_quantity:int product_name:string "
    "product_reference:string product_ean13:string product_isbn:string product_upc:string "
    "product_price:money "
    "id_customization:int unit_price_tax_incl:money unit_price_tax_excl:money",
    virtual=True,
)
_CART_ROWS = _assoc(
    "cart_rows",
    "cart_row",
    "id_product:int id_product_attribute:int id_address_delivery:int id_customization:int quantity:int",
    virtual=True,
)


def _ids(name: str, node: str) -> Association:
    return _assoc(name, node, "id:id")


_RESOURCE_LIST: tuple[Resource, ...] = (
    _resource(
        "addresses",
        "address",
        "addresses",
        "id_customer:int id_manufacturer:int id_supplier:int id_warehouse:int id_country:int id_state:int "
        "alias:string company:string lastname:string firstname:string vat_number:string address1:string "
        "address2:string postcode:string city:string other:string phone:string phone_mobile:string "
        "dni:string "
        "deleted:bool date_add:date date_upd:date",
    ),
    _resource(
        "carriers",
        "carrier",
        "carriers",
        "deleted:bool is_module:bool id_tax_rules_group:int! id_reference:int name:string active:bool "
        "is_free:bool url:string shipping_handling:bool shipping_external:bool range_behavior:bool "
        "shipping_method:int max_width:int max_height:int max_depth:int max_weight:money grade:int "
        "external_module_name:string need_range:bool position:int delay:i18n",
    ),
    _resource(
        "cart_rules",
        "cart_rule",
        "cart_rules",
        "id_customer:int date_from:date date_to:date description:string quantity:int quantity_per_user:int "
        "priority:int partial_use:bool code:string minimum_amount:money minimum_amount_tax:bool "
        "minimum_amount_currency:int minimum_amount_shipping:bool country_restriction:bool "
        "carrier_restriction:bool group_restriction:bool cart_rule_restriction:bool product_restriction:bool "
        "shop_restriction:bool free_shipping:bool reduction_percent:decimal2 reduction_amount:money "
        "reduction_tax:bool reduction_currency:int reduction_product:int reduction_exclude_special:bool "
        "gift_product:int gift_product_attribute:int highlight:bool active:bool date_add:date date_upd:date "
        "name:i18n",
    ),
    _resource(
        "carts",
        "cart",
        "carts",
        "id_address_delivery:int id_address_invoice:int id_currency:int id_customer:int id_guest:int "
        "id_lang:int id_shop_group:int id_shop:int id_carrier:int recyclable:bool gift:bool "
        "gift_message:string "
        "mobile_theme:bool delivery_option:string secure_key:string allow_seperated_package:bool "
        "date_add:date "
        "date_upd:date",
        (_CART_ROWS,),
    ),
    _resource(
        "configurations",
        "configuration",
        "configurations",
        "value:string? name:string id_shop_group:int? id_shop:int? date_add:date date_upd:date",
    ),
    _resource(
        "contacts",
        "contact",
        "contacts",
        "email:string customer_service:bool name:i18n description:i18n",
    ),
    # CMS pages (`CMS::$webserviceParameters`: objectNodeName "content", objectsNodeName
    # "content_management_system"); every text a multilingual field.
    _resource(
        "content_management_system",
        "content",
        "content_management_system",
        "id_cms_category:int position:int indexation:bool active:bool meta_title:i18n head_seo_title:i18n "
        "meta_description:i18n meta_keywords:i18n content:i18n link_rewrite:i18n",
    ),
    _resource(
        "countries",
        "country",
        "countries",
        "id_zone:int id_currency:int call_prefix:int iso_code:string active:bool contains_states:bool "
        "need_identification_number:bool need_zip_code:bool zip_code_format:string display_tax_label:bool "
        "name:i18n",
    ),
    _resource(
        "currencies",
        "currency",
        "currencies",
        # 8.1.2 renders these flags as JSON numbers (they are not strval'ed like other bools).
        "names:i18n! name:string! symbol:i18n! iso_code:string numeric_iso_code:string precision:int "
        "conversion_rate:money deleted:int active:int unofficial:int modified:int pattern:i18n!",
    ),
    _resource(
        "customer_messages",
        "customer_message",
        "customer_messages",
        "id_employee:int id_customer_thread:int ip_address:string message:string file_name:string "
        "user_agent:string private:bool date_add:date date_upd:date read:bool",
    ),
    _resource(
        "customer_threads",
        "customer_thread",
        "customer_threads",
        "id_lang:int id_shop:int id_customer:int id_order:int id_product:int id_contact:int email:string "
        "token:string status:string date_add:date date_upd:date",
        (_ids("customer_messages", "customer_message"),),
    ),
    _resource(
        "customers",
        "customer",
        "customers",
        "id_default_group:int id_lang:int newsletter_date_add:date ip_registration_newsletter:string? "
        "last_passwd_gen:date secure_key:string deleted:bool passwd:string lastname:string firstname:string "
        "email:string id_gender:int birthday:birthday newsletter:bool optin:bool website:string? "
        "company:string? siret:string? ape:string? outstanding_allow_amount:money show_public_prices:bool "
        "id_risk:int max_payment_days:int active:bool note:string? is_guest:bool id_shop:int "
        "id_shop_group:int "
        "date_add:date date_upd:date reset_password_token:string? reset_password_validity:date",
        (_ids("groups", "group"),),
    ),
    _resource(
        "languages",
        "language",
        "languages",
        "name:string iso_code:string locale:string language_code:string active:bool is_rtl:bool "
        "date_format_lite:string date_format_full:string",
    ),
    _resource(
        "messages",
        "message",
        "messages",
        "id_cart:int id_order:int id_customer:int id_employee:int message:string private:bool date_add:date",
    ),
    _resource(
        "order_carriers",
        "order_carrier",
        "order_carriers",
        "id_order:int id_carrier:int id_order_invoice:int weight:money shipping_cost_tax_excl:money "
        "shipping_cost_tax_incl:money tracking_number:string date_add:date",
    ),
    _resource(
        "order_cart_rules",
        "order_cart_rule",
        "order_cart_rules",
        "id_order:int id_cart_rule:int id_order_invoice:int name:string value:money value_tax_excl:money "
        "free_shipping:bool deleted:bool",
    ),
    _resource(
        "order_details",
        "order_detail",
        "order_details",
        "id_order:int product_id:int product_attribute_id:int product_quantity_reinjected:int "
        "group_reduction:decimal2 discount_quantity_applied:int download_hash:string download_deadline:date "
        "id_order_invoice:int id_warehouse:int id_shop:int id_customization:int product_name:string "
        "product_quantity:int product_quantity_in_stock:int product_quantity_return:int "
        "product_quantity_refunded:int product_price:money reduction_percent:decimal2 reduction_amount:money "
        "reduction_amount_tax_incl:money reduction_amount_tax_excl:money product_quantity_discount:money "
        "product_ean13:string product_isbn:string product_upc:string product_mpn:string "
        "product_reference:string product_supplier_reference:string product_weight:money "
        "tax_computation_method:int id_tax_rules_group:int ecotax:money ecotax_tax_rate:decimal3 "
        "download_nb:int unit_price_tax_incl:money unit_price_tax_excl:money total_price_tax_incl:money "
        "total_price_tax_excl:money total_shipping_price_tax_excl:money total_shipping_price_tax_incl:money "
        "purchase_supplier_price:money original_product_price:money original_wholesale_price:money "
        "total_refunded_tax_excl:money total_refunded_tax_incl:money",
        (_ids("taxes", "tax"),),
    ),
    _resource(
        "order_histories",
        "order_history",
        "order_histories",
        "id_employee:int id_order_state:int id_order:int date_add:date",
    ),
    _resource(
        "order_invoices",
        "order_invoice",
        "order_invoices",
        "id_order:int number:int delivery_number:int delivery_date:date total_discount_tax_excl:money "
        "total_discount_tax_incl:money total_paid_tax_excl:money total_paid_tax_incl:money "
        "total_products:money "
        "total_products_wt:money total_shipping_tax_excl:money total_shipping_tax_incl:money "
        "shipping_tax_computation_method:int total_wrapping_tax_excl:money total_wrapping_tax_incl:money "
        "shop_address:string note:string date_add:date",
    ),
    _resource(
        "order_payments",
        "order_payment",
        "order_payments",
        "order_reference:string id_currency:int amount:money payment_method:string conversion_rate:money "
        "transaction_id:string card_number:string card_brand:string card_expiration:string "
        "card_holder:string "
        "date_add:date id_employee:int?",
    ),
    _resource(
        "order_slip",
        "order_slip",
        "order_slips",
        "id_customer:int id_order:int conversion_rate:money total_products_tax_excl:money "
        "total_products_tax_incl:money total_shipping_tax_excl:money total_shipping_tax_incl:money "
        "amount:money "
        "shipping_cost:bool shipping_cost_amount:money partial:int date_add:date date_upd:date "
        "order_slip_type:int",
        (
            _assoc(
                "order_slip_details",
                "order_slip_detail",
                "id:id id_order_detail:int product_quantity:int amount_tax_excl:money amount_tax_incl:money",
            ),
        ),
    ),
    _resource(
        "order_states",
        "order_state",
        "order_states",
        "unremovable:bool delivery:bool hidden:bool send_email:bool module_name:string invoice:bool "
        "color:string logable:bool shipped:bool paid:bool pdf_delivery:bool pdf_invoice:bool deleted:bool "
        "name:i18n template:i18n",
    ),
    _resource(
        "orders",
        "order",
        "orders",
        "id_address_delivery:int id_address_invoice:int id_cart:int id_currency:int id_lang:int "
        "id_customer:int id_carrier:int current_state:int module:string invoice_number:int invoice_date:date "
        "delivery_number:int delivery_date:date valid:bool date_add:date date_upd:date "
        "shipping_number:string?* note:string? id_shop_group:int id_shop:int secure_key:string "
        "payment:string "
        "recyclable:bool gift:bool gift_message:string? mobile_theme:bool total_discounts:money "
        "total_discounts_tax_incl:money total_discounts_tax_excl:money total_paid:money "
        "total_paid_tax_incl:money total_paid_tax_excl:money total_paid_real:money total_products:money "
        "total_products_wt:money total_shipping:money total_shipping_tax_incl:money "
        "total_shipping_tax_excl:money carrier_tax_rate:decimal3 total_wrapping:money "
        "total_wrapping_tax_incl:money total_wrapping_tax_excl:money round_mode:int round_type:int "
        "conversion_rate:money reference:string",
        (_ORDER_ROWS,),
    ),
    _resource(
        "products",
        "product",
        "products",
        # `manufacturer_name`, `id_default_image`, `id_default_combination`, `position_in_category` and `type`
        # are getters in PrestaShop; they are stored on the row here. `manufacturer_name` may be False and
        # `id_default_image` None, exactly as the getters return them.
        "id_manufacturer:int id_supplier:int id_category_default:int new:string? cache_default_attribute:int "
        "id_default_image:int?! id_default_combination:int! id_tax_rules_group:int position_in_category:int! "
        "manufacturer_name:string?! quantity:int type:string! id_shop_default:int reference:string "
        "supplier_reference:string location:string width:money height:money depth:money weight:money "
        "quantity_discount:bool ean13:string isbn:string upc:string mpn:string cache_is_pack:bool "
        "cache_has_attachments:bool is_virtual:bool state:int additional_delivery_times:int "
        "delivery_in_stock:i18n delivery_out_stock:i18n product_type:string on_sale:bool online_only:bool "
        "ecotax:money minimal_quantity:int low_stock_threshold:string? low_stock_alert:bool price:money "
        "wholesale_price:money unity:string unit_price:money unit_price_ratio:money "
        "additional_shipping_cost:money customizable:int text_fields:int uploadable_files:int active:bool "
        "redirect_type:string id_type_redirected:int available_for_order:bool available_date:birthday "
        "show_condition:bool condition:string show_price:bool indexed:bool visibility:string "
        "advanced_stock_management:bool date_add:date date_upd:date pack_stock_type:int "
        "meta_description:i18n meta_keywords:i18n meta_title:i18n link_rewrite:i18n name:i18n "
        "description:i18n description_short:i18n available_now:i18n available_later:i18n",
        (
            _ids("categories", "category"),
            _ids("images", "image"),
            _ids("combinations", "combination"),
            _ids("product_option_values", "product_option_value"),
            _assoc("product_features", "product_feature", "id:id id_feature_value:int"),
            _ids("tags", "tag"),
            _assoc("stock_availables", "stock_available", "id:id id_product_attribute:int"),
            _ids("attachments", "attachment"),
            _ids("accessories", "product"),
            _assoc("product_bundle", "product", "id:id id_product_attribute:int quantity:int"),
        ),
    ),
    _resource(
        "shop_urls",
        "shop_url",
        "shop_urls",
        "id_shop:int active:bool main:bool domain:string domain_ssl:string physical_uri:string "
        "virtual_uri:string",
    ),
    _resource(
        "shops",
        "shop",
        "shops",
        # 8.1.2 renders the shop flags as JSON numbers.
        "id_shop_group:int id_category:int active:int deleted:int name:string color:string theme_name:string",
    ),
    _resource(
        # Not recorded from the real shop: PrestaShop 8.1.2's StockAvailable definition. One row per product
        # and combination (id_product_attribute 0: the product, for a product with combinations the sum).
        "stock_availables",
        "stock_available",
        "stock_availables",
        "id_product:int id_product_attribute:int id_shop:int id_shop_group:int quantity:int "
        "depends_on_stock:bool out_of_stock:int location:string",
    ),
)

RESOURCES: dict[str, Resource] = {resource.name: resource for resource in _RESOURCE_LIST}

# The full resource list of PrestaShop 8.1 (`WebserviceRequest::getResources()`, sorted), as error 27
# prints it.
# `images` is a "specific management" resource: it has no table and is answered by its own code path.
ALL_RESOURCE_NAMES: tuple[str, ...] = (
    "addresses",
    "attachments",
    "carriers",
    "cart_rules",
    "carts",
    "categories",
    "combinations",
    "configurations",
    "contacts",
    "content_management_system",
    "countries",
    "currencies",
    "customer_messages",
    "customer_threads",
    "customers",
    "customizations",
    "deliveries",
    "employees",
    "groups",
    "guests",
    "image_types",
    "images",
    "languages",
    "manufacturers",
    "messages",
    "order_carriers",
    "order_cart_rules",
    "order_details",
    "order_histories",
    "order_invoices",
    "order_payments",
    "order_slip",
    "order_states",
    "orders",
    "price_ranges",
    "product_customization_fields",
    "product_feature_values",
    "product_features",
    "product_option_values",
    "product_options",
    "product_suppliers",
    "products",
    "search",
    "shop_groups",
    "shop_urls",
    "shops",
    "specific_price_rules",
    "specific_prices",
    "states",
    "stock_availables",
    "stock_movement_reasons",
    "stock_movements",
    "stocks",
    "stores",
    "suppliers",
    "supply_order_details",
    "supply_order_histories",
    "supply_order_receipt_histories",
    "supply_order_states",
    "supply_orders",
    "tags",
    "tax_rule_groups",
    "tax_rules",
    "taxes",
    "translated_configurations",
    "warehouse_product_locations",
    "warehouses",
    "weight_ranges",
    "zones",
)

# Resources absent from the 1.7.7 list (added in 8.x).
NEWER_THAN_177: frozenset[str] = frozenset({"attachments", "order_cart_rules"})

# Human descriptions the API root (`GET /api/`) prints for each resource.
RESOURCE_DESCRIPTIONS: dict[str, str] = {
    "addresses": "The Customer, Brand and Customer addresses",
    "attachments": "The product Attachments",
    "carriers": "The Carriers",
    "cart_rules": "Cart rules management",
    "carts": "Customer's carts",
    "categories": "The product categories",
    "combinations": "The product combinations",
    "configurations": "Shop configuration",
    "contacts": "Shop contacts",
    "content_management_system": "Content management system",
    "countries": "The countries",
    "currencies": "The currencies",
    "customer_messages": "Customer services messages",
    "customer_threads": "Customer services threads",
    "customers": "The e-shop's customers",
    "customizations": "Customization values",
    "deliveries": "Product delivery",
    "employees": "The Employees",
    "groups": "The customer's groups",
    "guests": "The guests",
    "image_types": "The image types",
    "images": "The images",
    "languages": "Shop languages",
    "manufacturers": "The product brands",
    "messages": "The Messages",
    "order_carriers": "The Order carriers",
    "order_cart_rules": "The Order cart rules",
    "order_details": "Details of an order",
    "order_histories": "The Order histories",
    "order_invoices": "The Order invoices",
    "order_payments": "The Order payments",
    "order_slip": "The Order slips",
    "order_states": "The Order statuses",
    "orders": "The Customers orders",
    "price_ranges": "Price ranges",
    "product_customization_fields": "Customization Field",
    "product_feature_values": "The product feature values",
    "product_features": "The product features",
    "product_option_values": "The product options value",
    "product_options": "The product options",
    "product_suppliers": "Product Suppliers",
    "products": "The products",
    "search": "Search",
    "shop_groups": "Shop groups from multi-shop feature",
    "shop_urls": "Shop URLs from multi-shop feature",
    "shops": "Shops from multi-shop feature",
    "specific_price_rules": "Specific price management",
    "specific_prices": "Specific price management",
    "states": "The available states of countries",
    "stock_availables": "Available quantities",
    "stock_movement_reasons": "Stock movement reason",
    "stock_movements": "Stock movements",
    "stocks": "Stocks",
    "stores": "The stores",
    "suppliers": "The product suppliers",
    "supply_order_details": "Supply Order Details",
    "supply_order_histories": "Supply Order Histories",
    "supply_order_receipt_histories": "Supply Order Receipt Histories",
    "supply_order_states": "Supply Order Statuses",
    "supply_orders": "Supply Orders",
    "tags": "The Products tags",
    "tax_rule_groups": "Tax rule groups",
    "tax_rules": "Tax rules entity",
    "taxes": "The tax rate",
    "translated_configurations": "Shop configuration",
    "warehouse_product_locations": "Location of products in warehouses",
    "warehouses": "Warehouses",
    "weight_ranges": "Weight ranges",
    "zones": "The Countries zones",
}

# Resources the API root lists without `schema` links (no object model behind them).
WITHOUT_SCHEMA: frozenset[str] = frozenset({"attachments", "images", "search"})
