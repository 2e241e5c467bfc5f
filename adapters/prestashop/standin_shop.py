"""The PrestaShop stand-in's shop: its tables and the rules of `PaymentModule::validateOrder`,
`OrderHistory::changeIdOrderState`, cart prices with specific prices, and credit slips, as
tests/fixtures/prestashop-8.2.0 shows them.

Every method expects the caller to hold `lock`. Rows are dicts of MySQL-formatted strings ("28.510000", "" for
NULL) with an int "id", so the wire layer renders them as the real shop does. Dates are the shop's local time
(PS_TIMEZONE), as PrestaShop stores them.
"""
from __future__ import annotations

import json
import secrets
import string
import threading
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Callable
from zoneinfo import ZoneInfo

from adapters.prestashop.standin_wire import Record, WsError

TAX_RATE = Decimal("23")  # the captured shop: Ireland, 23 % VAT on products and carriers
ZERO_DATE = "0000-00-00 00:00:00"
PS_OS_WS_PAYMENT, PS_OS_ERROR, PS_OS_CANCELED, PS_OS_REFUND, PS_OS_PAYMENT = 11, 8, 6, 7, 2
# Stock order states, in the order the webservice lists them (capture 82; flags from refunds/db_order_states.json).
ORDER_STATES = [  # id, name, paid, logable, shipped, delivery, invoice, module_name, template
    (2, "Payment accepted", 1, 1, 0, 0, 1, "", "payment"),
    (3, "Processing in progress", 1, 1, 0, 1, 1, "", "preparation"),
    (4, "Shipped", 1, 1, 1, 1, 1, "", "shipped"),
    (5, "Delivered", 1, 1, 1, 1, 1, "", ""),
    (6, "Canceled", 0, 0, 0, 0, 0, "", "order_canceled"),
    (7, "Refunded", 0, 0, 0, 0, 1, "", "refund"),
    (8, "Payment error", 0, 0, 0, 0, 0, "", "payment_error"),
    (9, "On backorder (paid)", 1, 0, 0, 0, 1, "", "outofstock"),
    (11, "Remote payment accepted", 1, 1, 0, 0, 1, "", "payment"),
    (12, "On backorder (not paid)", 0, 0, 0, 0, 0, "", "outofstock"),
    (13, "Awaiting Cash On Delivery validation", 0, 0, 0, 0, 0, "ps_cashondelivery", "cashondelivery"),
    (1, "Awaiting check payment", 0, 0, 0, 0, 0, "ps_checkpayment", "cheque"),
    (10, "Awaiting bank wire payment", 0, 0, 0, 0, 0, "ps_wirepayment", "bankwire"),
]
CONFIGURATION = {  # refunds/db_order_states.json
    "PS_OS_BANKWIRE": "10", "PS_OS_CANCELED": "6", "PS_OS_CHEQUE": "1", "PS_OS_COD_VALIDATION": "13",
    "PS_OS_DELIVERED": "5", "PS_OS_ERROR": "8", "PS_OS_OUTOFSTOCK": "9", "PS_OS_OUTOFSTOCK_PAID": "9",
    "PS_OS_OUTOFSTOCK_UNPAID": "12", "PS_OS_PAYMENT": "2", "PS_OS_PREPARATION": "3", "PS_OS_REFUND": "7",
    "PS_OS_SHIPPING": "4", "PS_OS_WS_PAYMENT": "11", "PS_ORDER_RETURN": "0", "PS_STOCK_MANAGEMENT": "1",
    "PS_WEBSERVICE": "1", "PS_CURRENCY_DEFAULT": "1", "PS_LANG_DEFAULT": "1", "PS_CARRIER_DEFAULT": "1",
    "PS_ROUND_TYPE": "2", "PS_PRICE_ROUND_MODE": "2",  # ROUND_LINE, half up: the captured orders' round_type/mode
}
# Payment modules and the label each writes on a storefront order; "abonne" is abonne's own module, installed and
# active so renewal orders can name it. ps_banner is installed but is no PaymentModule (capture 44).
PAYMENT_MODULES = {"ps_wirepayment": "Wire payment", "ps_checkpayment": "Payments by check",
                   "ps_cashondelivery": "Cash on delivery (COD)", "abonne": "Card on file, myPOS"}
OTHER_MODULES = ("ps_banner",)
# A few of the 244 countries a PrestaShop 8 install creates. Their ids are their places in the installer's
# install-dev/data/xml/country.xml (IE = 26 is captured); zones are zone.xml's: 1 Europe, 2 North America,
# 7 Europe (non-EU). iso -> (id, name, zone, call prefix, zip code format).
COUNTRIES = {
    "DE": (1, "Germany", 1, "49", "NNNNN"), "AT": (2, "Austria", 1, "43", "NNNN"),
    "BE": (3, "Belgium", 1, "32", "NNNN"), "ES": (6, "Spain", 1, "34", "NNNNN"),
    "FR": (8, "France", 1, "33", "NNNNN"), "GR": (9, "Greece", 1, "30", "NNNNN"),
    "IT": (10, "Italy", 1, "39", "NNNNN"), "NL": (13, "Netherlands", 1, "31", "NNNN LL"),
    "PL": (14, "Poland", 1, "48", "NN-NNN"), "PT": (15, "Portugal", 1, "351", "NNNN-NNN"),
    "GB": (17, "United Kingdom", 1, "44", ""), "CH": (19, "Switzerland", 7, "41", "NNNN"),
    "US": (21, "United States", 2, "1", "NNNNN"), "IE": (26, "Ireland", 1, "353", ""),
    "RO": (36, "Romania", 1, "40", "NNNNNN"), "BG": (236, "Bulgaria", 1, "359", "NNNN"),
}
CART_TAKEN = b"Cart cannot be loaded or an order has already been placed using this cart"


def fmt_date(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def money6(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.000001'), ROUND_HALF_UP):.6f}"


def round2(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), ROUND_HALF_UP)


def round6(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.000001"), ROUND_HALF_UP)


def decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value).strip() or "0")
    except InvalidOperation:
        return Decimal(0)


def without_tax(amount: Decimal) -> Decimal:
    return amount * 100 / (100 + TAX_RATE)


def with_tax(amount: Decimal) -> Decimal:
    return amount * (100 + TAX_RATE) / 100


@dataclass(frozen=True)
class Mail:
    """A mail PrestaShop would have sent (mail is not delivered; this is the record)."""

    to: str
    template: str
    subject: str
    order_id: int | None
    sent_at: datetime


class ShopState:
    def __init__(self, clock: Callable[[], datetime], emit: Callable[..., None], base_url: str = "",
                 timezone: str = "Europe/Dublin"):
        self.lock = threading.RLock()
        self.clock = clock
        self.timezone = timezone
        self.zone = ZoneInfo(timezone)
        self.emit = emit  # emit(event, order_id, old_state=None, refund=None, snapshot=None)
        self.base_url = base_url
        self.tables: dict[str, dict[int, Record]] = {}
        self._next: dict[str, int] = {}
        self.cart_rows: dict[int, list[dict[str, str]]] = {}
        self.product_features: dict[int, list[dict[str, str]]] = {}
        self.slip_details: dict[int, list[dict[str, str]]] = {}
        self.customer_groups: dict[int, list[dict[str, str]]] = {}
        self.modules: dict[str, bool] = {name: True for name in (*PAYMENT_MODULES, *OTHER_MODULES)}
        self.carrier_prices: dict[int, Decimal] = {1: Decimal("0"), 2: Decimal("8.61")}
        self.default_carrier = 1
        self.mails: list[Mail] = []
        self.mail_fails = False  # Mail::Send answers false: no SMTP server, a refused recipient...
        self._invoice_number = 0
        self._seed()

    # ------------------------------------------------------------------ tables

    def now(self) -> str:
        return fmt_date(self.clock(), self.zone)

    def table(self, resource: str) -> dict[int, Record]:
        return self.tables.setdefault(resource, {})

    def insert(self, resource: str, row: dict[str, Any], row_id: int | None = None) -> Record:
        if row_id is None:
            row_id = self._next.get(resource, 1)
        self._next[resource] = max(self._next.get(resource, 1), row_id + 1)
        record = {"id": row_id, **{k: "" if v is None else str(v) for k, v in row.items()}}
        self.table(resource)[row_id] = record
        return record

    def _seed(self) -> None:
        for state_id, name, paid, logable, shipped, delivery, invoice, module, template in ORDER_STATES:
            self.insert("order_states", {
                "unremovable": 1, "delivery": delivery, "hidden": 0, "send_email": int(bool(template)),
                "module_name": module, "invoice": invoice, "color": "", "logable": logable, "shipped": shipped,
                "paid": paid, "pdf_delivery": 0, "pdf_invoice": invoice, "deleted": 0, "name": name,
                "template": template}, state_id)
        self._next["order_states"] = 14
        now = self.now()
        for name, value in {**CONFIGURATION, "PS_TIMEZONE": self.timezone}.items():
            self.insert("configurations", {"value": value, "name": name, "id_shop_group": "", "id_shop": "",
                                           "date_add": now, "date_upd": now})
        for iso, (country_id, name, zone, prefix, zip_format) in COUNTRIES.items():
            self.insert("countries", {
                "id_zone": zone, "id_currency": 0, "call_prefix": prefix, "iso_code": iso, "active": 1,
                "contains_states": int(iso == "US"), "need_identification_number": 0,
                "need_zip_code": int(bool(zip_format)), "zip_code_format": zip_format, "display_tax_label": 1,
                "name": name}, country_id)
        self.insert("currencies", {"names": "Euro", "name": "Euro", "symbol": "€", "iso_code": "EUR",
                                   "numeric_iso_code": "978", "precision": 2, "conversion_rate": "1.000000",
                                   "deleted": 0, "active": 1, "unofficial": 0, "modified": 0,
                                   "pattern": ""})

    def state(self, state_id: int) -> Record | None:
        return self.table("order_states").get(state_id)

    # ------------------------------------------------------------------ catalogue and customers (seeding)

    def add_customer(self, email: str, first_name: str, last_name: str, note: str = "") -> Record:
        now = self.now()
        record = self.insert("customers", {
            "id_default_group": 3, "id_lang": 1, "newsletter_date_add": ZERO_DATE, "ip_registration_newsletter": "",
            "last_passwd_gen": now, "secure_key": secrets.token_hex(16), "deleted": 0,
            "passwd": "$2y$10$" + secrets.token_urlsafe(40)[:53], "lastname": last_name, "firstname": first_name,
            "email": email, "id_gender": 0, "birthday": "0000-00-00", "newsletter": 0, "optin": 0, "website": "",
            "company": "", "siret": "", "ape": "", "outstanding_allow_amount": "0.000000", "show_public_prices": 0,
            "id_risk": 0, "max_payment_days": 0, "active": 1, "note": note, "is_guest": 0, "id_shop": 1,
            "id_shop_group": 1, "date_add": now, "date_upd": now, "reset_password_token": "",
            "reset_password_validity": ZERO_DATE})
        self.customer_groups[record["id"]] = [{"id": "3"}]
        return record

    def add_address(self, customer_id: int, first_name: str, last_name: str, address1: str, city: str,
                    postcode: str, country: str, phone: str, company: str, address2: str, alias: str) -> Record:
        now = self.now()
        return self.insert("addresses", {
            "id_customer": customer_id, "id_manufacturer": 0, "id_supplier": 0, "id_warehouse": 0,
            "id_country": self.country_id(country), "id_state": 0, "alias": alias, "company": company,
            "lastname": last_name, "firstname": first_name, "vat_number": "", "address1": address1,
            "address2": address2, "postcode": postcode, "city": city, "other": "", "phone": phone,
            "phone_mobile": "", "dni": "", "deleted": 0, "date_add": now, "date_upd": now})

    def country_id(self, iso: str) -> int:
        found = COUNTRIES.get(iso.upper())
        if found is None:
            raise ValueError(f"the stand-in shop has no country {iso!r}; it has {', '.join(sorted(COUNTRIES))}")
        return found[0]

    def country_iso(self, country_id: str) -> str:
        country = self.table("countries").get(int(country_id or 0))
        return country["iso_code"] if country else ""

    def add_product(self, name: str, price_tax_incl: Decimal, reference: str, features: dict[str, str],
                    weight: str) -> Record:
        now = self.now()
        slug = "-".join("".join(c if c.isalnum() else " " for c in name.lower()).split())
        record = self.insert("products", {
            "id_manufacturer": 0, "id_supplier": 0, "id_category_default": 2, "new": "", "cache_default_attribute": 0,
            "id_default_image": "", "id_default_combination": 0, "id_tax_rules_group": 1,
            "position_in_category": len(self.table("products")) + 1, "manufacturer_name": "", "quantity": 0,
            "type": "simple", "id_shop_default": 1, "reference": reference, "supplier_reference": "", "location": "",
            "width": "0.000000", "height": "0.000000", "depth": "0.000000", "weight": money6(decimal(weight)),
            "quantity_discount": 0, "ean13": "", "isbn": "", "upc": "", "mpn": "", "cache_is_pack": 0,
            "cache_has_attachments": 0, "is_virtual": 0, "state": 1, "additional_delivery_times": 0,
            "delivery_in_stock": "", "delivery_out_stock": "", "product_type": "standard", "on_sale": 0,
            "online_only": 0, "ecotax": "0.000000", "minimal_quantity": 1, "low_stock_threshold": "",
            "low_stock_alert": 0, "price": money6(without_tax(price_tax_incl)), "wholesale_price": "0.000000",
            "unity": "", "unit_price": "0.000000", "unit_price_ratio": "0.000000",
            "additional_shipping_cost": "0.000000", "customizable": 0, "text_fields": 0, "uploadable_files": 0,
            "active": 1, "redirect_type": "default", "id_type_redirected": 0, "available_for_order": 1,
            "available_date": "0000-00-00", "show_condition": 0, "condition": "new", "show_price": 1, "indexed": 1,
            "visibility": "both", "advanced_stock_management": 0, "date_add": now, "date_upd": now,
            "pack_stock_type": 0, "meta_description": "", "meta_keywords": "", "meta_title": "", "link_rewrite": slug,
            "name": name, "description": "", "description_short": "", "available_now": "", "available_later": ""})
        record["_price_tax_incl"] = str(price_tax_incl)  # kept exact: 19.90 is 16.178862 + 23 %, rounded
        self.product_features[record["id"]] = []
        for feature, value in features.items():
            self.set_product_feature(record["id"], feature, value)
        return record

    def set_product_feature(self, product_id: int, feature: str, value: str) -> None:
        features = self.table("product_features")
        found = next((f for f in features.values() if f["name"] == feature), None)
        if found is None:
            found = self.insert("product_features", {"position": len(features), "name": feature})
        values = self.table("product_feature_values")
        found_value = next((v for v in values.values()
                            if v["id_feature"] == str(found["id"]) and v["value"] == value), None)
        if found_value is None:
            found_value = self.insert("product_feature_values", {"id_feature": found["id"], "custom": 0,
                                                                 "value": value})
        rows = [r for r in self.product_features.setdefault(product_id, []) if r["id"] != str(found["id"])]
        rows.append({"id": str(found["id"]), "id_feature_value": str(found_value["id"])})
        self.product_features[product_id] = rows

    def unit_price_incl(self, product: Record) -> Decimal:
        return decimal(product.get("_price_tax_incl") or round2(decimal(product["price"]) * (100 + TAX_RATE) / 100))

    # ------------------------------------------------------------------ specific prices

    def add_specific_price(self, fields: dict[str, str]) -> Record:
        """SpecificPrice::add with the values as MySQL stores them (not-sent ids are 0)."""
        def number(name: str) -> Decimal:
            try:
                return Decimal(fields.get(name) or "0")
            except InvalidOperation:
                raise WsError(400, [(85, f'Validation error: "Property SpecificPrice-&gt;{name} is not valid"')]) \
                    from None
        if fields.get("reduction_type") not in ("amount", "percentage"):
            raise WsError(400, [(85, 'Validation error: "Property SpecificPrice-&gt;reduction_type is not valid"')])
        ids = ("id_shop_group", "id_shop", "id_cart", "id_product", "id_product_attribute", "id_currency",
               "id_specific_price_rule", "id_country", "id_group", "id_customer")
        return self.insert("specific_prices", {
            **{name: int(number(name)) for name in ids}, "price": money6(number("price")),
            "from_quantity": int(number("from_quantity")), "reduction": money6(number("reduction")),
            "reduction_tax": int(number("reduction_tax")), "reduction_type": fields["reduction_type"],
            "from": fields.get("from") or ZERO_DATE, "to": fields.get("to") or ZERO_DATE})

    def cart_specific_price(self, cart: Record, product: Record, row: dict[str, str]) -> Record | None:
        """The cart's own specific price for this row (SpecificPrice::getSpecificPrice, limited to prices made for
        one cart): same product, same or any combination and customer, enough quantity, within its dates. Among
        several, the most specific wins, then the newest."""
        now = self.now()
        quantity = int(row["quantity"])
        matching = [
            p for p in self.table("specific_prices").values()
            if p["id_cart"] == str(cart["id"]) and p["id_product"] == str(product["id"])
            and p["id_product_attribute"] in ("0", row["id_product_attribute"] or "0")
            and p["id_customer"] in ("0", str(cart["id_customer"])) and int(p["from_quantity"]) <= quantity
            and (p["from"] == ZERO_DATE or p["from"] <= now) and (p["to"] == ZERO_DATE or now <= p["to"])]
        return max(matching, default=None, key=lambda p: (p["id_product_attribute"] != "0", p["id_customer"] != "0",
                                                          int(p["from_quantity"]), p["id"]))

    def line_prices(self, cart: Record, product: Record, row: dict[str, str]) -> tuple[Decimal, Decimal]:
        """(unit price tax excl, unit price tax incl) as Product::getPriceStatic gives them for a cart row: the
        specific price's price (-1: the catalog's) with tax added, less its reduction, rounded to 6 decimals."""
        specific = self.cart_specific_price(cart, product, row)
        if specific is None:
            return decimal(product["price"]), self.unit_price_incl(product)
        price = decimal(specific["price"])
        excl = decimal(product["price"]) if price < 0 else price
        incl = with_tax(excl)
        reduction = decimal(specific["reduction"])
        if specific["reduction_type"] == "percentage":
            excl, incl = excl * (1 - reduction), incl * (1 - reduction)
        elif specific["reduction_tax"] == "1":
            excl, incl = excl - without_tax(reduction), incl - reduction
        else:
            excl, incl = excl - reduction, incl - with_tax(reduction)
        return round6(max(excl, Decimal(0))), round6(max(incl, Decimal(0)))

    def delete_cart_specific_prices(self, cart_id: int) -> None:
        """SpecificPrice::deleteByIdCart, which validateOrder calls once the order exists (seen on a real 8.2.0: a
        DELETE of the pinned price afterwards says "Id(s) not exists")."""
        prices = self.table("specific_prices")
        for price_id in [i for i, p in prices.items() if p["id_cart"] == str(cart_id)]:
            del prices[price_id]

    # ------------------------------------------------------------------ carts

    def create_cart(self, fields: dict[str, str], rows: list[dict[str, str]]) -> Record:
        """Cart::addWs: stores what it is given, nonexistent products and other customers' addresses too (49, 51);
        the secure key comes from the customer."""
        now = self.now()
        customer = self.table("customers").get(int(fields.get("id_customer") or 0))
        record = self.insert("carts", {
            "id_address_delivery": fields.get("id_address_delivery") or 0,
            "id_address_invoice": fields.get("id_address_invoice") or 0, "id_currency": fields.get("id_currency"),
            "id_customer": fields.get("id_customer") or 0, "id_guest": fields.get("id_guest") or 0,
            "id_lang": fields.get("id_lang"), "id_shop_group": 1, "id_shop": 1,
            "id_carrier": fields.get("id_carrier") or 0, "recyclable": fields.get("recyclable") or 0,
            "gift": fields.get("gift") or 0, "gift_message": fields.get("gift_message", ""),
            "mobile_theme": fields.get("mobile_theme") or 0, "delivery_option": fields.get("delivery_option", ""),
            "secure_key": customer["secure_key"] if customer else "", "allow_seperated_package": 0,
            "date_add": now, "date_upd": now})
        self.cart_rows[record["id"]] = [{
            "id_product": row.get("id_product", ""), "id_product_attribute": row.get("id_product_attribute") or "0",
            "id_address_delivery": row.get("id_address_delivery") or str(record["id_address_delivery"]),
            "id_customization": row.get("id_customization") or "0", "quantity": row.get("quantity") or "1",
        } for row in rows]
        return record

    def cart_carrier(self, cart: Record) -> int:
        """The carrier validateOrder uses: delivery_option {"<address>":"<carrier>,"} or the default carrier; the
        cart's id_carrier alone is ignored (captures 84–86)."""
        try:
            option = json.loads(cart.get("delivery_option") or "{}")
            chosen = str(option.get(str(cart["id_address_delivery"]), "")).rstrip(",").split(",")[0]
            if chosen and int(chosen) in self.carrier_prices:
                return int(chosen)
        except (ValueError, AttributeError, TypeError):
            pass
        return self.default_carrier

    def cart_lines(self, cart_id: int) -> list[tuple[Record | None, dict[str, str]]]:
        products = self.table("products")
        return [(products.get(int(row["id_product"] or 0)), row) for row in self.cart_rows.get(cart_id, [])]

    def cart_total(self, cart: Record) -> tuple[Decimal, Decimal, int]:
        """(products tax incl, shipping tax incl, carrier) as Cart::getOrderTotal computes them with ROUND_LINE:
        each line's unit price incl times its quantity rounded to 2 decimals, then their sum."""
        products = sum((round2(self.line_prices(cart, p, row)[1] * int(row["quantity"]))
                        for p, row in self.cart_lines(cart["id"]) if p), Decimal(0))
        carrier = self.cart_carrier(cart)
        return round2(products), self.carrier_prices[carrier], carrier

    # ------------------------------------------------------------------ orders

    def order_or_none(self, order_id: int) -> Record | None:
        return self.table("orders").get(order_id)

    def new_reference(self) -> str:
        taken = {o["reference"] for o in self.table("orders").values()}
        while True:
            reference = "".join(secrets.choice(string.ascii_uppercase) for _ in range(9))
            if reference not in taken:
                return reference

    def validate_order(self, cart_id: int, state_id: int, amount_paid: Decimal, module: str, payment: str,
                       customer_id: int | None) -> Record:
        """PaymentModule::validateOrder for one cart, with the guards and outcomes of captures 21, 39–54, 85."""
        if module not in self.modules:
            raise WsError(500, raw=b"", content_type="text/html")  # 43: validateOrder() on bool, a PHP fatal
        if module not in PAYMENT_MODULES:
            raise WsError(500, raw=b"", content_type="text/html")  # 44: undefined method validateOrder()
        if not self.modules[module]:
            raise WsError(500, raw=b"Error processing order. Payment module is not active.",
                          content_type="text/html")  # 45
        cart = self.table("carts").get(cart_id)
        if cart is None or any(o["id_cart"] == str(cart_id) for o in self.table("orders").values()):
            raise WsError(500, raw=CART_TAKEN, content_type="text/html")  # 42, 52
        if customer_id is not None:
            customer = self.table("customers").get(customer_id)
            if customer is None or customer["secure_key"] != cart["secure_key"]:
                # Not captured; PaymentModule dies with this text (reference §1.5).
                raise WsError(500, raw=b"Secure key does not match", content_type="text/html")
        lines = self.cart_lines(cart_id)
        if not lines or any(product is None for product, _ in lines):
            raise WsError(500, raw=b"", content_type="text/html")  # 50, 54: "Can't save Order Payment", no order
        products_incl, shipping_incl, carrier = self.cart_total(cart)
        total = products_incl + shipping_incl
        initial = self.state(state_id)
        final_state = state_id
        if initial["logable"] == "1" and round2(amount_paid) != total:
            final_state = PS_OS_ERROR  # "Total paid amount does not match cart total" (39–41, 85–86)
        now = self.now()
        customer = self.table("customers").get(int(cart["id_customer"] or 0))
        prices = [self.line_prices(cart, product, row) for product, row in lines]
        products_excl = sum((round2(excl * int(row["quantity"])) for (excl, _), (_, row) in zip(prices, lines)),
                            Decimal(0))
        shipping_excl = round2(without_tax(shipping_incl))
        order = self.insert("orders", {
            "id_address_delivery": cart["id_address_delivery"], "id_address_invoice": cart["id_address_invoice"],
            "id_cart": cart_id, "id_currency": cart["id_currency"] or 1, "id_lang": cart["id_lang"] or 1,
            "id_customer": cart["id_customer"], "id_carrier": carrier, "current_state": 0, "module": module,
            "invoice_number": 0, "invoice_date": ZERO_DATE, "delivery_number": 0, "delivery_date": ZERO_DATE,
            "valid": 0, "date_add": now, "date_upd": now, "shipping_number": "", "note": "", "id_shop_group": 1,
            "id_shop": 1, "secure_key": customer["secure_key"] if customer else cart["secure_key"],
            "payment": payment, "recyclable": 0, "gift": 0, "gift_message": "", "mobile_theme": 0,
            "total_discounts": money6(Decimal(0)), "total_discounts_tax_incl": money6(Decimal(0)),
            "total_discounts_tax_excl": money6(Decimal(0)), "total_paid": money6(total),
            "total_paid_tax_incl": money6(total), "total_paid_tax_excl": money6(products_excl + shipping_excl),
            "total_paid_real": money6(amount_paid), "total_products": money6(products_excl),
            "total_products_wt": money6(products_incl), "total_shipping": money6(shipping_incl),
            "total_shipping_tax_incl": money6(shipping_incl), "total_shipping_tax_excl": money6(shipping_excl),
            "carrier_tax_rate": f"{TAX_RATE:.3f}", "total_wrapping": money6(Decimal(0)),
            "total_wrapping_tax_incl": money6(Decimal(0)), "total_wrapping_tax_excl": money6(Decimal(0)),
            "round_mode": 2, "round_type": 2, "conversion_rate": "1.000000", "reference": self.new_reference()})
        weight = Decimal(0)
        for (product, row), (unit_excl, unit_incl) in zip(lines, prices):
            quantity = int(row["quantity"])
            weight += decimal(product["weight"]) * quantity
            self.insert("order_details", {
                "id_order": order["id"], "product_id": product["id"],
                "product_attribute_id": row["id_product_attribute"], "product_quantity_reinjected": 0,
                "group_reduction": "0.00", "discount_quantity_applied": 0, "download_hash": "",
                "download_deadline": ZERO_DATE, "id_order_invoice": 0, "id_warehouse": 0, "id_shop": 1,
                "id_customization": row["id_customization"], "product_name": product["name"],
                "product_quantity": quantity, "product_quantity_in_stock": quantity, "product_quantity_return": 0,
                "product_quantity_refunded": 0, "product_price": money6(unit_excl), "reduction_percent": "0.00",
                "reduction_amount": money6(Decimal(0)), "reduction_amount_tax_incl": money6(Decimal(0)),
                "reduction_amount_tax_excl": money6(Decimal(0)), "product_quantity_discount": money6(Decimal(0)),
                "product_ean13": product["ean13"], "product_isbn": product["isbn"], "product_upc": product["upc"],
                "product_mpn": product["mpn"], "product_reference": product["reference"],
                "product_supplier_reference": "", "product_weight": product["weight"], "tax_computation_method": 0,
                "id_tax_rules_group": product["id_tax_rules_group"], "ecotax": money6(Decimal(0)),
                "ecotax_tax_rate": "0.000", "download_nb": 0, "unit_price_tax_incl": money6(unit_incl),
                "unit_price_tax_excl": money6(unit_excl),
                "total_price_tax_incl": money6(round2(unit_incl * quantity)),
                "total_price_tax_excl": money6(round2(unit_excl * quantity)),
                "total_shipping_price_tax_excl": money6(Decimal(0)),
                "total_shipping_price_tax_incl": money6(Decimal(0)),
                "purchase_supplier_price": money6(Decimal(0)),
                "original_product_price": money6(decimal(product["price"])),
                "original_wholesale_price": money6(Decimal(0)), "total_refunded_tax_excl": money6(Decimal(0)),
                "total_refunded_tax_incl": money6(Decimal(0))})
        self.insert("order_carriers", {
            "id_order": order["id"], "id_carrier": carrier, "id_order_invoice": 0, "weight": money6(weight),
            "shipping_cost_tax_excl": money6(shipping_excl), "shipping_cost_tax_incl": money6(shipping_incl),
            "tracking_number": "", "date_add": now})
        if initial["logable"] == "1":
            # Registered for the state asked for, so a wrong total still leaves a payment of the amount sent (41).
            self.add_payment(order, amount_paid, payment)
        self.change_state(order, final_state, new_order=True)
        self.delete_cart_specific_prices(cart_id)
        if customer is not None and final_state not in (PS_OS_ERROR, PS_OS_CANCELED):
            self.mail(customer["email"], "order_conf", "Order confirmation", order["id"])  # a failure is ignored
        self.emit("order.created", order["id"])
        return order

    def add_payment(self, order: Record, amount: Decimal, method: str) -> Record:
        return self.insert("order_payments", {
            "order_reference": order["reference"], "id_currency": order["id_currency"], "amount": money6(amount),
            "payment_method": method, "conversion_rate": "1.000000", "transaction_id": "", "card_number": "",
            "card_brand": "", "card_expiration": "", "card_holder": "", "date_add": self.now(), "id_employee": ""})

    def payments_of(self, order: Record) -> list[Record]:
        return [p for p in self.table("order_payments").values() if p["order_reference"] == order["reference"]]

    def change_state(self, order: Record, state_id: int, new_order: bool = False, employee: int = 0) -> Record:
        """OrderHistory::changeIdOrderState + add(): the order's state, validity, invoice and first payment, then
        one history row. Raises the captured empty 500 for an unknown state (62)."""
        new = self.state(state_id)
        if new is None:
            raise WsError(500, raw=b"", content_type="text/html")  # "Invalid new order status"
        old_id = int(order["current_state"] or 0)
        old = self.state(old_id)
        if new["logable"] == "1" and (old is None or old["logable"] != "1") and not self.payments_of(order):
            self.add_payment(order, decimal(order["total_paid_tax_incl"]), order["payment"])
            order["total_paid_real"] = order["total_paid_tax_incl"]
        if new["invoice"] == "1" and order["invoice_number"] in ("", "0"):
            self._invoice_number += 1
            order["invoice_number"] = str(self._invoice_number)
            order["invoice_date"] = self.now()
            for row in self.table("order_details").values():
                if row["id_order"] == str(order["id"]):
                    row["id_order_invoice"] = order["invoice_number"]
            for row in self.table("order_carriers").values():
                if row["id_order"] == str(order["id"]):
                    row["id_order_invoice"] = order["invoice_number"]
        order["current_state"] = str(state_id)
        order["valid"] = new["logable"]
        order["date_upd"] = self.now()
        history = self.insert("order_histories", {"id_employee": employee, "id_order_state": state_id,
                                                  "id_order": order["id"], "date_add": self.now()})
        if not new_order:
            self.emit("order.status_changed", order["id"], old_state=old_id or None)
        return history

    def state_mail(self, order: Record, state_id: int) -> bool:
        """OrderHistory::sendEmail after the history row is saved: the state's template to the customer. False
        when Mail::Send fails; a state without a template sends nothing and succeeds."""
        state = self.state(state_id)
        customer = self.table("customers").get(int(order["id_customer"] or 0))
        if state is None or not state["template"] or customer is None:
            return True
        return self.mail(customer["email"], state["template"], state["name"], order["id"])

    def customer_message_added(self, message: Record) -> None:
        """abonne's hookActionObjectCustomerMessageAddAfter: a public message made through the Webservice (no
        employee) on an order's thread is mailed to the thread's customer with the reply_msg template."""
        if message["private"] == "1" or message["id_employee"] not in ("", "0") or not self.modules.get("abonne"):
            return
        thread = self.table("customer_threads").get(int(message["id_customer_thread"] or 0))
        if thread is None or thread["id_order"] in ("", "0"):
            return
        customer = self.table("customers").get(int(thread["id_customer"] or 0))
        if customer is None or "@" not in customer["email"]:
            return
        order = self.table("orders").get(int(thread["id_order"]))
        reference = order["reference"] if order else ""
        self.mail(customer["email"], "reply_msg", f"About your order {reference}", int(thread["id_order"]))

    def add_credit_slip(self, order: Record, amount: Decimal, shipping: Decimal,
                        quantities: dict[int, int] | None) -> Record:
        """A partial refund with a credit slip (refunds/ scenario A): the state does not change."""
        details = [d for d in self.table("order_details").values() if d["id_order"] == str(order["id"])]
        if quantities is None:
            first = details[0]
            unit = decimal(first["unit_price_tax_incl"]) or Decimal(1)
            quantities = {first["id"]: max(0, min(int(first["product_quantity"]), int(round(amount / unit))))}
        now = self.now()
        shipping_excl = round2(without_tax(shipping))
        slip = self.insert("order_slip", {
            "id_customer": order["id_customer"], "id_order": order["id"], "conversion_rate": "1.000000",
            "total_products_tax_excl": money6(round2(without_tax(amount))), "total_products_tax_incl": money6(amount),
            "total_shipping_tax_excl": money6(shipping_excl), "total_shipping_tax_incl": money6(shipping),
            "amount": money6(amount), "shipping_cost": int(shipping > 0), "shipping_cost_amount": money6(shipping),
            "partial": 0, "date_add": now, "date_upd": now, "order_slip_type": 2 if shipping > 0 else 0})
        rows = []
        remaining = amount
        for detail in details:
            quantity = quantities.get(detail["id"], 0)
            if not quantity:
                continue
            line_incl = min(remaining, decimal(detail["unit_price_tax_incl"]) * quantity)
            remaining -= line_incl
            detail_excl = round2(without_tax(line_incl))
            self._next["order_slip_details"] = self._next.get("order_slip_details", 1) + 1
            rows.append({"id": str(self._next["order_slip_details"] - 1), "id_order_detail": str(detail["id"]),
                         "product_quantity": str(quantity), "amount_tax_excl": money6(detail_excl),
                         "amount_tax_incl": money6(line_incl)})
            detail["product_quantity_refunded"] = str(int(detail["product_quantity_refunded"]) + quantity)
            detail["total_refunded_tax_incl"] = money6(decimal(detail["total_refunded_tax_incl"]) + line_incl)
            detail["total_refunded_tax_excl"] = money6(decimal(detail["total_refunded_tax_excl"]) + detail_excl)
        self.slip_details[slip["id"]] = rows
        # AbonneOrderReader::latestRefund: a slip's amount is its products plus its shipping.
        self.emit("order.refunded", order["id"], refund={
            "id": str(slip["id"]), "amount": f"{round2(amount + shipping):.2f}", "shipping": f"{round2(shipping):.2f}",
            "total_refunded": f"{self.refunded(order):.2f}"})
        return slip

    def refunded(self, order: Record) -> Decimal:
        """Every credit slip of the order, shipping included."""
        return round2(sum((decimal(s["amount"]) + decimal(s["shipping_cost_amount"]) for s in
                           self.table("order_slip").values() if s["id_order"] == str(order["id"])), Decimal(0)))

    def delete_order(self, order: Record) -> None:
        """DELETE /api/orders/<id>: only the order row goes; histories, details and payments stay (refunds/64, 65)."""
        snapshot = dict(order)
        self.emit("order.deleted", order["id"], snapshot=snapshot)
        del self.table("orders")[order["id"]]

    def mail(self, to: str, template: str, subject: str, order_id: int | None) -> bool:
        """Mail::Send: recorded, or False when mails fail (see `mail_fails`)."""
        if self.mail_fails:
            return False
        self.mails.append(Mail(to, template, subject, order_id, self.clock()))
        return True

    # ------------------------------------------------------------------ associations

    def associations(self, resource: str, record: Record) -> dict[str, list[dict[str, str]]]:
        record_id = record["id"]
        if resource == "orders":
            return {"order_rows": [{
                "id": str(d["id"]), "product_id": d["product_id"], "product_attribute_id": d["product_attribute_id"],
                "product_quantity": d["product_quantity"], "product_name": d["product_name"],
                "product_reference": d["product_reference"], "product_ean13": d["product_ean13"],
                "product_isbn": d["product_isbn"], "product_upc": d["product_upc"],
                "product_price": d["product_price"], "id_customization": d["id_customization"],
                "unit_price_tax_incl": d["unit_price_tax_incl"], "unit_price_tax_excl": d["unit_price_tax_excl"],
            } for d in self.table("order_details").values() if d["id_order"] == str(record_id)]}
        if resource == "carts":
            return {"cart_rows": list(self.cart_rows.get(record_id, []))}
        if resource == "customers":
            return {"groups": list(self.customer_groups.get(record_id, []))}
        if resource == "products":
            return {"categories": [{"id": str(record["id_category_default"])}],
                    "product_features": list(self.product_features.get(record_id, []))}
        if resource == "order_details":
            return {"taxes": [{"id": "1"}]}
        if resource == "order_slip":
            return {"order_slip_details": list(self.slip_details.get(record_id, []))}
        if resource == "customer_threads":
            return {"customer_messages": [{"id": str(m["id"])} for m in self.table("customer_messages").values()
                                          if m["id_customer_thread"] == str(record_id)]}
        return {}
