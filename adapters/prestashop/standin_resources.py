"""The resources the PrestaShop stand-in serves: their fields in output order, links, schema attributes.

Orders, customers, carts, addresses, products, order_histories, order_payments, messages, order_details,
order_carriers, order_slip and order_states follow tests/fixtures/prestashop-8.2.0 (the synopsis attributes of orders
and customers are copied from captures 17 and 03). customer_threads, customer_messages, currencies, configurations,
product_features, product_feature_values, specific_prices and countries were not captured: their fields come from
the PrestaShop 8 classes (`CustomerThread`, `CustomerMessage`, `Currency`, `Configuration`, `Feature`,
`FeatureValue`, `SpecificPrice`, `Country`: webservice fields first, then `$definition` order, as the captured
resources show), and their synopsis attributes are built the same way as the captured ones.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Field:
    name: str
    link: str | None = None  # xlink resource; the href shows when the value is not empty (or always, link_empty)
    synopsis: str = ""  # attributes in ?schema=synopsis, in PrestaShop's order: required, maxSize, format, readOnly
    lang: bool = False  # a <language id="1"> field
    not_filterable: bool = False  # shows notFilterable="true" in GET output and synopsis
    link_empty: bool = False
    virtual: bool = False  # computed for output only: not in ?schema=blank/synopsis


@dataclass(frozen=True)
class Association:
    name: str  # cart_rows
    node: str  # cart_row
    fields: tuple[Field, ...]
    api: str | None = None  # api="groups" and an xlink:href per item; None: virtualEntity="true"
    synopsis_fields: tuple[Field, ...] | None = None  # when the synopsis differs (order_rows)


@dataclass(frozen=True)
class Resource:
    name: str  # URL segment
    node: str  # one object's element
    fields: tuple[Field, ...]  # without id
    associations: tuple[Association, ...] = ()
    list_node: str = ""  # the list element when it is not `name` (order_slip -> order_slips)
    post_ints: frozenset[str] = field(default_factory=frozenset)  # values PHP holds as int after add()

    @property
    def plural(self) -> str:
        return self.list_node or self.name

    @property
    def field_names(self) -> list[str]:
        return ["id", *[f.name for f in self.fields if not f.virtual]]

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    @property
    def required(self) -> list[str]:
        return [f.name for f in self.fields if 'required="true"' in f.synopsis]


def F(name: str, link: str | None = None, synopsis: str = "", **kw) -> Field:
    return Field(name, link, synopsis, **kw)


UID = 'format="isUnsignedId"'
REQ_UID = 'required="true" format="isUnsignedId"'
DATE = 'format="isDate"'
BOOL = 'format="isBool"'
PRICE = 'format="isPrice"'

ORDERS = Resource("orders", "order", (
    F("id_address_delivery", "addresses", REQ_UID),
    F("id_address_invoice", "addresses", REQ_UID),
    F("id_cart", "carts", REQ_UID),
    F("id_currency", "currencies", REQ_UID),
    F("id_lang", "languages", REQ_UID),
    F("id_customer", "customers", REQ_UID),
    F("id_carrier", "carriers", REQ_UID),
    F("current_state", "order_states", UID, link_empty=True),
    F("module", None, 'required="true" format="isModuleName"'),
    F("invoice_number"), F("invoice_date"), F("delivery_number"), F("delivery_date"), F("valid"),
    F("date_add", None, DATE), F("date_upd", None, DATE),
    F("shipping_number", not_filterable=True),
    F("note", None, 'maxSize="4194303"'),
    F("id_shop_group", None, UID), F("id_shop", None, UID),
    F("secure_key", None, 'format="isMd5"'),
    F("payment", None, 'required="true" format="isGenericName"'),
    F("recyclable", None, BOOL), F("gift", None, BOOL),
    F("gift_message", None, 'maxSize="4194303" format="isCleanHtml"'),
    F("mobile_theme", None, BOOL),
    F("total_discounts", None, PRICE), F("total_discounts_tax_incl", None, PRICE),
    F("total_discounts_tax_excl", None, PRICE),
    F("total_paid", None, 'required="true" format="isPrice"'),
    F("total_paid_tax_incl", None, PRICE), F("total_paid_tax_excl", None, PRICE),
    F("total_paid_real", None, 'required="true" format="isPrice"'),
    F("total_products", None, 'required="true" format="isPrice"'),
    F("total_products_wt", None, 'required="true" format="isPrice"'),
    F("total_shipping", None, PRICE), F("total_shipping_tax_incl", None, PRICE),
    F("total_shipping_tax_excl", None, PRICE),
    F("carrier_tax_rate", None, 'format="isFloat"'),
    F("total_wrapping", None, PRICE), F("total_wrapping_tax_incl", None, PRICE),
    F("total_wrapping_tax_excl", None, PRICE),
    F("round_mode", None, UID), F("round_type", None, UID),
    F("conversion_rate", None, 'required="true" format="isFloat"'),
    F("reference"),
), associations=(Association("order_rows", "order_row", (
    F("id"), F("product_id", "products"), F("product_attribute_id"), F("product_quantity"), F("product_name"),
    F("product_reference"), F("product_ean13"), F("product_isbn"), F("product_upc"), F("product_price"),
    F("id_customization", "customizations"), F("unit_price_tax_incl"), F("unit_price_tax_excl"),
), synopsis_fields=(
    F("id"), F("product_id", "products", 'required="true"'), F("product_attribute_id", None, 'required="true"'),
    F("product_quantity", None, 'required="true"'),
    *[F(n, None, 'read_only="true" readOnly="true"') for n in (
        "product_name", "product_reference", "product_ean13", "product_isbn", "product_upc", "product_price")],
    F("id_customization", "customizations"),
    F("unit_price_tax_incl", None, 'read_only="true" readOnly="true"'),
    F("unit_price_tax_excl", None, 'read_only="true" readOnly="true"'),
)),))

CUSTOMERS = Resource("customers", "customer", (
    F("id_default_group", "groups"), F("id_lang", "languages", UID),
    F("newsletter_date_add"), F("ip_registration_newsletter"),
    F("last_passwd_gen", None, 'readOnly="true"'),
    F("secure_key", None, 'format="isMd5" readOnly="true"'),
    F("deleted", None, BOOL),
    F("passwd", None, 'required="true" maxSize="255" format="isHashedPassword"'),
    F("lastname", None, 'required="true" maxSize="255" format="isCustomerName"'),
    F("firstname", None, 'required="true" maxSize="255" format="isCustomerName"'),
    F("email", None, 'required="true" maxSize="255" format="isEmail"'),
    F("id_gender", None, UID), F("birthday", None, 'format="isBirthDate"'),
    F("newsletter", None, BOOL), F("optin", None, BOOL), F("website", None, 'format="isUrl"'),
    F("company", None, 'format="isGenericName"'), F("siret", None, 'format="isGenericName"'),
    F("ape", None, 'format="isApe"'), F("outstanding_allow_amount", None, 'format="isFloat"'),
    F("show_public_prices", None, BOOL), F("id_risk", None, 'format="isUnsignedInt"'),
    F("max_payment_days", None, 'format="isUnsignedInt"'), F("active", None, BOOL),
    F("note", None, 'maxSize="4194303"'), F("is_guest", None, BOOL),
    F("id_shop", None, UID), F("id_shop_group", None, UID),
    F("date_add", None, DATE), F("date_upd", None, DATE),
    F("reset_password_token", None, 'maxSize="40" format="isSha1"'),
    F("reset_password_validity", None, 'format="isDateOrNull"'),
), associations=(Association("groups", "group", (F("id"),), api="groups"),))

ADDRESSES = Resource("addresses", "address", (
    F("id_customer", "customers", UID), F("id_manufacturer", "manufacturers", UID),
    F("id_supplier", "suppliers", UID), F("id_warehouse", "warehouses", UID),
    F("id_country", "countries", REQ_UID), F("id_state", "states", UID),
    F("alias", None, 'required="true" maxSize="32" format="isGenericName"'),
    F("company", None, 'maxSize="255" format="isGenericName"'),
    F("lastname", None, 'required="true" maxSize="255" format="isName"'),
    F("firstname", None, 'required="true" maxSize="255" format="isName"'),
    F("vat_number", None, 'format="isGenericName"'),
    F("address1", None, 'required="true" maxSize="128" format="isAddress"'),
    F("address2", None, 'maxSize="128" format="isAddress"'),
    F("postcode", None, 'maxSize="12" format="isPostCode"'),
    F("city", None, 'required="true" maxSize="64" format="isCityName"'),
    F("other", None, 'maxSize="300" format="isMessage"'),
    F("phone", None, 'maxSize="32" format="isPhoneNumber"'),
    F("phone_mobile", None, 'maxSize="32" format="isPhoneNumber"'),
    F("dni", None, 'maxSize="16" format="isDniLite"'),
    F("deleted", None, BOOL), F("date_add", None, DATE), F("date_upd", None, DATE),
))

CARTS = Resource("carts", "cart", (
    F("id_address_delivery", "addresses", UID), F("id_address_invoice", "addresses", UID),
    F("id_currency", "currencies", REQ_UID), F("id_customer", "customers", UID),
    F("id_guest", "guests", UID), F("id_lang", "languages", REQ_UID),
    F("id_shop_group", None, UID), F("id_shop", None, UID), F("id_carrier", None, UID),
    F("recyclable", None, BOOL), F("gift", None, BOOL), F("gift_message", None, 'format="isCleanHtml"'),
    F("mobile_theme", None, BOOL), F("delivery_option"), F("secure_key", None, 'maxSize="32"'),
    F("allow_seperated_package", None, BOOL), F("date_add", None, DATE), F("date_upd", None, DATE),
), associations=(Association("cart_rows", "cart_row", (
    F("id_product", "products"), F("id_product_attribute", "combinations"),
    F("id_address_delivery", "addresses"), F("id_customization", "customizations"), F("quantity"),
), synopsis_fields=(
    F("id_product", "products", 'required="true"'), F("id_product_attribute", "combinations", 'required="true"'),
    F("id_address_delivery", "addresses", 'required="true"'), F("id_customization", "customizations"),
    F("quantity", None, 'required="true"'),
)),), post_ints=frozenset({"id_shop"}))

_LANG_PRODUCT = ("meta_description", "meta_keywords", "meta_title", "link_rewrite", "name", "description",
                 "description_short", "available_now", "available_later")
PRODUCTS = Resource("products", "product", (
    F("id_manufacturer", "manufacturers"), F("id_supplier", "suppliers"), F("id_category_default", "categories"),
    F("new"), F("cache_default_attribute"), F("id_default_image", not_filterable=True),
    F("id_default_combination", not_filterable=True), F("id_tax_rules_group", "tax_rule_groups"),
    F("position_in_category", not_filterable=True), F("manufacturer_name", not_filterable=True, virtual=True),
    F("quantity", not_filterable=True, virtual=True), F("type", not_filterable=True),
    *[F(n) for n in ("id_shop_default", "reference", "supplier_reference", "location", "width", "height", "depth",
                     "weight", "quantity_discount", "ean13", "isbn", "upc", "mpn", "cache_is_pack",
                     "cache_has_attachments", "is_virtual", "state", "additional_delivery_times")],
    F("delivery_in_stock", lang=True), F("delivery_out_stock", lang=True),
    *[F(n) for n in ("product_type", "on_sale", "online_only", "ecotax", "minimal_quantity", "low_stock_threshold",
                     "low_stock_alert", "price", "wholesale_price", "unity", "unit_price", "unit_price_ratio",
                     "additional_shipping_cost", "customizable", "text_fields", "uploadable_files", "active",
                     "redirect_type", "id_type_redirected", "available_for_order", "available_date",
                     "show_condition", "condition", "show_price", "indexed", "visibility",
                     "advanced_stock_management", "date_add", "date_upd", "pack_stock_type")],
    *[F(n, lang=True) for n in _LANG_PRODUCT],
), associations=(
    Association("categories", "category", (F("id"),), api="categories"),
    Association("images", "image", (F("id"),), api="images"),
    Association("combinations", "combination", (F("id"),), api="combinations"),
    Association("product_option_values", "product_option_value", (F("id"),), api="product_option_values"),
    Association("product_features", "product_feature",
                (F("id"), F("id_feature_value", "product_feature_values")), api="product_features"),
    Association("tags", "tag", (F("id"),), api="tags"),
    Association("stock_availables", "stock_available", (F("id"), F("id_product_attribute")), api="stock_availables"),
    Association("attachments", "attachment", (F("id"),), api="attachments"),
    Association("accessories", "product", (F("id"),), api="products"),
    Association("product_bundle", "product", (F("id"), F("id_product_attribute"), F("quantity")), api="products"),
))

PRODUCT_FEATURES = Resource("product_features", "product_feature", (
    F("position", None, 'format="isInt"'),
    F("name", None, 'required="true" maxSize="128" format="isGenericName"', lang=True),
))
PRODUCT_FEATURE_VALUES = Resource("product_feature_values", "product_feature_value", (
    F("id_feature", "product_features", REQ_UID), F("custom", None, BOOL),
    F("value", None, 'required="true" maxSize="255" format="isGenericName"', lang=True),
))

ORDER_HISTORIES = Resource("order_histories", "order_history", (
    F("id_employee", "employees", UID), F("id_order_state", "order_states", REQ_UID),
    F("id_order", "orders", REQ_UID), F("date_add", None, DATE),
), post_ints=frozenset({"id_order_state"}))

ORDER_PAYMENTS = Resource("order_payments", "order_payment", (
    F("order_reference", None, 'maxSize="9"'), F("id_currency", "currencies", REQ_UID),
    F("amount", None, 'required="true" format="isPrice"'), F("payment_method", None, 'format="isGenericName"'),
    F("conversion_rate", None, 'format="isFloat"'), F("transaction_id", None, 'maxSize="254"'),
    F("card_number", None, 'maxSize="254"'), F("card_brand", None, 'maxSize="254"'),
    F("card_expiration", None, 'maxSize="254"'), F("card_holder", None, 'maxSize="254"'),
    F("date_add", None, DATE), F("id_employee", None, UID),
))

ORDER_DETAILS = Resource("order_details", "order_detail", tuple(F(n, link) for n, link in (
    ("id_order", "orders"), ("product_id", "products"), ("product_attribute_id", "combinations"),
    ("product_quantity_reinjected", None), ("group_reduction", None), ("discount_quantity_applied", None),
    ("download_hash", None), ("download_deadline", None), ("id_order_invoice", "order_invoices"),
    ("id_warehouse", "warehouses"), ("id_shop", "shops"), ("id_customization", "customizations"),
    ("product_name", None), ("product_quantity", None), ("product_quantity_in_stock", None),
    ("product_quantity_return", None), ("product_quantity_refunded", None), ("product_price", None),
    ("reduction_percent", None), ("reduction_amount", None), ("reduction_amount_tax_incl", None),
    ("reduction_amount_tax_excl", None), ("product_quantity_discount", None), ("product_ean13", None),
    ("product_isbn", None), ("product_upc", None), ("product_mpn", None), ("product_reference", None),
    ("product_supplier_reference", None), ("product_weight", None), ("tax_computation_method", None),
    ("id_tax_rules_group", "tax_rule_groups"), ("ecotax", None), ("ecotax_tax_rate", None), ("download_nb", None),
    ("unit_price_tax_incl", None), ("unit_price_tax_excl", None), ("total_price_tax_incl", None),
    ("total_price_tax_excl", None), ("total_shipping_price_tax_excl", None), ("total_shipping_price_tax_incl", None),
    ("purchase_supplier_price", None), ("original_product_price", None), ("original_wholesale_price", None),
    ("total_refunded_tax_excl", None), ("total_refunded_tax_incl", None),
)), associations=(Association("taxes", "tax", (F("id"),), api="taxes"),))

ORDER_CARRIERS = Resource("order_carriers", "order_carrier", tuple(F(n, link) for n, link in (
    ("id_order", "orders"), ("id_carrier", "carriers"), ("id_order_invoice", "order_invoices"), ("weight", None),
    ("shipping_cost_tax_excl", None), ("shipping_cost_tax_incl", None), ("tracking_number", None),
    ("date_add", None),
)))

ORDER_SLIP = Resource("order_slip", "order_slip", tuple(F(n, link) for n, link in (
    ("id_customer", "customers"), ("id_order", "orders"), ("conversion_rate", None),
    ("total_products_tax_excl", None), ("total_products_tax_incl", None), ("total_shipping_tax_excl", None),
    ("total_shipping_tax_incl", None), ("amount", None), ("shipping_cost", None), ("shipping_cost_amount", None),
    ("partial", None), ("date_add", None), ("date_upd", None), ("order_slip_type", None),
)), associations=(Association("order_slip_details", "order_slip_detail", (
    F("id"), F("id_order_detail", "order_details"), F("product_quantity"), F("amount_tax_excl"),
    F("amount_tax_incl"),
)),), list_node="order_slips")

ORDER_STATES = Resource("order_states", "order_state", (
    *[F(n) for n in ("unremovable", "delivery", "hidden", "send_email", "module_name", "invoice", "color", "logable",
                     "shipped", "paid", "pdf_delivery", "pdf_invoice", "deleted")],
    F("name", lang=True), F("template", lang=True),
))

MESSAGES = Resource("messages", "message", (
    F("id_cart", "carts", UID), F("id_order", "orders", UID), F("id_customer", "customers", UID),
    F("id_employee", None, UID), F("message", None, 'required="true" maxSize="1600" format="isCleanHtml"'),
    F("private", None, BOOL), F("date_add", None, DATE),
))

CUSTOMER_THREADS = Resource("customer_threads", "customer_thread", (
    F("id_lang", "languages", REQ_UID), F("id_shop", "shops", UID), F("id_customer", "customers", UID),
    F("id_order", "orders", UID), F("id_product", "products", UID), F("id_contact", None, REQ_UID),
    F("email", None, 'maxSize="255" format="isEmail"'),
    F("token", None, 'required="true" maxSize="12" format="isGenericName"'),
    F("status"), F("date_add", None, DATE), F("date_upd", None, DATE),
), associations=(Association("customer_messages", "customer_message", (F("id"),), api="customer_messages"),))

CUSTOMER_MESSAGES = Resource("customer_messages", "customer_message", (
    F("id_employee", "employees", UID), F("id_customer_thread", "customer_threads"),
    F("ip_address", None, 'maxSize="15" format="isIp2Long"'),
    F("message", None, 'required="true" maxSize="16777216" format="isCleanHtml"'),
    F("file_name"), F("user_agent"), F("private"), F("date_add", None, DATE), F("date_upd", None, DATE),
    F("read", None, BOOL),
))

CURRENCIES = Resource("currencies", "currency", (
    F("names", lang=True), F("name"), F("symbol", lang=True),
    F("iso_code", None, 'required="true" maxSize="3" format="isLanguageIsoCode"'),
    F("numeric_iso_code", None, 'maxSize="3" format="isNumericIsoCode"'),
    F("precision", None, 'format="isInt"'),
    F("conversion_rate", None, 'required="true" format="isUnsignedFloat"'),
    F("deleted", None, BOOL), F("active", None, BOOL), F("unofficial", None, BOOL), F("modified", None, BOOL),
    F("pattern", lang=True),
))

CONFIGURATIONS = Resource("configurations", "configuration", (
    F("value"), F("name", None, 'required="true" maxSize="254" format="isConfigName"'),
    F("id_shop_group", "shop_groups", UID), F("id_shop", "shops", UID),
    F("date_add", None, DATE), F("date_upd", None, DATE),
))

SPECIFIC_PRICES = Resource("specific_prices", "specific_price", (
    F("id_shop_group", "shop_groups", UID), F("id_shop", "shops", REQ_UID), F("id_cart", "carts", REQ_UID),
    F("id_product", "products", REQ_UID), F("id_product_attribute", "product_attributes", UID),
    F("id_currency", "currencies", REQ_UID), F("id_country", "countries", REQ_UID),
    F("id_group", "groups", REQ_UID), F("id_customer", "customers", REQ_UID),
    F("id_specific_price_rule", None, UID),
    F("price", None, 'required="true" format="isNegativePrice"'),
    F("from_quantity", None, 'required="true" format="isUnsignedInt"'),
    F("reduction", None, 'required="true" format="isPrice"'),
    F("reduction_tax", None, 'required="true" format="isBool"'),
    F("reduction_type", None, 'required="true" format="isReductionType"'),
    F("from", None, 'required="true" format="isDateFormat"'),
    F("to", None, 'required="true" format="isDateFormat"'),
))

COUNTRIES = Resource("countries", "country", (
    F("id_zone", "zones", REQ_UID), F("id_currency", "currencies", UID),
    F("call_prefix", None, 'format="isInt"'),
    F("iso_code", None, 'required="true" maxSize="3" format="isLanguageIsoCode"'),
    F("active", None, BOOL), F("contains_states", None, 'required="true" format="isBool"'),
    F("need_identification_number", None, 'required="true" format="isBool"'),
    F("need_zip_code", None, BOOL), F("zip_code_format", None, 'format="isZipCodeFormat"'),
    F("display_tax_label", None, 'required="true" format="isBool"'),
    F("name", None, 'required="true" maxSize="64" format="isGenericName"', lang=True),
))

RESOURCES: dict[str, Resource] = {r.name: r for r in (
    ORDERS, CUSTOMERS, ADDRESSES, CARTS, PRODUCTS, PRODUCT_FEATURES, PRODUCT_FEATURE_VALUES, ORDER_HISTORIES,
    ORDER_PAYMENTS, ORDER_DETAILS, ORDER_CARRIERS, ORDER_SLIP, ORDER_STATES, MESSAGES, CUSTOMER_THREADS,
    CUSTOMER_MESSAGES, CURRENCIES, CONFIGURATIONS, SPECIFIC_PRICES, COUNTRIES,
)}

# Every resource of a PrestaShop 8.2.0 shop, as error 27 lists them (capture 65).
ALL_RESOURCES = (
    "addresses", "attachments", "carriers", "cart_rules", "carts", "categories", "combinations", "configurations",
    "contacts", "content_management_system", "countries", "currencies", "customer_messages", "customer_threads",
    "customers", "customizations", "deliveries", "employees", "groups", "guests", "image_types", "images",
    "languages", "manufacturers", "messages", "order_carriers", "order_cart_rules", "order_details",
    "order_histories", "order_invoices", "order_payments", "order_slip", "order_states", "orders", "price_ranges",
    "product_customization_fields", "product_feature_values", "product_features", "product_option_values",
    "product_options", "product_suppliers", "products", "search", "shop_groups", "shop_urls", "shops",
    "specific_price_rules", "specific_prices", "states", "stock_availables", "stock_movement_reasons",
    "stock_movements", "stocks", "stores", "suppliers", "supply_order_details", "supply_order_histories",
    "supply_order_receipt_histories", "supply_order_states", "supply_orders", "tags", "tax_rule_groups", "tax_rules",
    "taxes", "translated_configurations", "warehouse_product_locations", "warehouses", "weight_ranges", "zones",
)

# The api root's descriptions (capture 01), for the resources a full key of the captured shop was given.
DESCRIPTIONS = {
    "addresses": "The Customer, Brand and Customer addresses", "carriers": "The Carriers",
    "cart_rules": "Cart rules management", "carts": "Customer's carts", "categories": "The product categories",
    "combinations": "The product combinations", "configurations": "Shop configuration",
    "countries": "The countries", "currencies": "The currencies", "customer_messages": "Customer services messages",
    "customer_threads": "Customer services threads", "customers": "The e-shop's customers", "guests": "The guests",
    "images": "The images", "languages": "Shop languages", "messages": "The Messages",
    "order_carriers": "The Order carriers", "order_cart_rules": "The Order cart rules",
    "order_details": "Details of an order", "order_histories": "The Order histories",
    "order_invoices": "The Order invoices", "order_payments": "The Order payments", "order_slip": "The Order slips",
    "order_states": "The Order statuses", "orders": "The Customers orders",
    "product_feature_values": "The product feature values", "product_features": "The product features",
    "product_option_values": "The product options value", "product_options": "The product options",
    "products": "The products", "shops": "Shops from multi-shop feature",
    "specific_prices": "Specific price management", "states": "The available states of countries",
    "stock_availables": "Available quantities", "tax_rule_groups": "Tax rule groups",
    "tax_rules": "Tax rules entity", "taxes": "The tax rate", "zones": "The Countries zones",
}
FULL_KEY_RESOURCES = tuple(DESCRIPTIONS)
METHODS = ("GET", "PUT", "POST", "PATCH", "DELETE", "HEAD")
