"""The stand-in OpenCart shop's data and rules: customers, addresses, products, tax, orders and their history.

Numbers, names and ids follow tests/fixtures/opencart-4.1.0.4 and opencart-3.0.5.1: stock order statuses
(refunds/db_order_statuses.json), country 223 / zone 3655 (United States / New York), the Flat Rate shipping (5.00,
tax class 9) and tax class 9 of a stock shop, whose two UK rates ("Eco Tax (-2.00)" fixed 2.00 and "VAT (20%)") made
the captured 27.90 (S1). Callers hold `lock`.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo

STATUSES = {1: "Pending", 2: "Processing", 3: "Shipped", 5: "Complete", 7: "Canceled", 8: "Denied",
            9: "Canceled Reversal", 10: "Failed", 11: "Refunded", 12: "Reversed", 13: "Chargeback", 14: "Expired",
            15: "Processed", 16: "Voided"}
PROCESSING = {5, 1, 2, 12, 3}  # config_processing_status
COMPLETE = {5, 3}  # config_complete_status
VOIDED = 16  # config_void_status_id (4.1): written first when confirm edits an order (S3)
DEFAULT_STATUS = 1  # config_order_status_id

ADDRESS_FORMAT = "{firstname} {lastname}\r\n{company}\r\n{address_1}\r\n{address_2}\r\n{city}, {zone} {postcode}\r\n{country}"
# Country and zone ids of a stock install. 223/3655 are captured; the others are from the install SQL, not captured.
COUNTRIES = {
    223: {"name": "United States", "iso_code_2": "US", "iso_code_3": "USA", "address_format": ADDRESS_FORMAT},
    222: {"name": "United Kingdom", "iso_code_2": "GB", "iso_code_3": "GBR", "address_format": ""},
    103: {"name": "Ireland", "iso_code_2": "IE", "iso_code_3": "IRL", "address_format": ""},
    81: {"name": "Germany", "iso_code_2": "DE", "iso_code_3": "DEU", "address_format": ""},
}
ZONES = {3655: {"country_id": 223, "name": "New York", "code": "NY"},
         3624: {"country_id": 223, "name": "California", "code": "CA"},
         3563: {"country_id": 222, "name": "Greater London", "code": "GTL"}}
STORE_COUNTRY_ID, STORE_ZONE_ID = 222, 3563  # the store's address: what 4.1's API taxes against (S1)
UK_VAT_ZONE = {222}
# tax class -> rates, in the order the captured totals list them; each applies inside the UK VAT zone only.
TAX_RATES = {9: [("Eco Tax (-2.00)", "F", Decimal("2.00")), ("VAT (20%)", "P", Decimal("20"))]}
FLAT = {"code": "flat.flat", "cost": Decimal("5.00"), "tax_class_id": 9, "title": "Flat Shipping Rate"}
PAYMENT_TITLES = {"cod": "Cash On Delivery", "free_checkout": "Free Checkout", "abonne": "Card on file (abonne)"}
RENEWAL_CODE = "abonne.card"


def money(value: Decimal) -> str:
    """The currency format of USD as the shop shows it: "$19.90"."""
    rounded = Decimal(value).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return f"-${-rounded:.2f}" if rounded < 0 else f"${rounded:.2f}"


def dec4(value: Decimal) -> str:
    """A DECIMAL(15,4) column as MySQL returns it: "19.9000"."""
    return f"{Decimal(value).quantize(Decimal('0.0001'), ROUND_HALF_UP):.4f}"


def to_decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value).strip() or "0")
    except ArithmeticError:
        return Decimal(0)


def php_int(value: Any) -> int:
    """(int) of a request value: its leading sign and digits, 0 when there are none."""
    text = str(value if value is not None else "").strip()
    sign, digits = (-1, text[1:]) if text.startswith("-") else (1, text)
    lead = ""
    for char in digits:
        if not char.isdigit():
            break
        lead += char
    return sign * int(lead) if lead else 0


@dataclass
class Line:
    """One cart line priced for one tax address: unit price, unit tax, and the rates behind it."""

    product: dict[str, Any]
    quantity: int
    cart_id: int = 0
    choices: dict[str, Any] = field(default_factory=dict)  # {"options": [order_option rows], "subscription": plan}

    @property
    def price(self) -> Decimal:
        return self.product["price"]


@dataclass
class Priced:
    lines: list[Line]
    sub_total: Decimal
    shipping: dict[str, Any] | None  # {"title", "code", "cost", "tax_class_id"} when a shipping line is counted
    taxes: dict[str, Decimal]
    line_tax: dict[int, Decimal]  # product_id -> tax per unit
    total: Decimal
    shipping_required: bool


@dataclass
class ShopState:
    clock: Callable[[], datetime]
    base_url: str
    version: str
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    lock: threading.RLock = field(default_factory=threading.RLock)
    customers: dict[int, dict[str, Any]] = field(default_factory=dict)
    addresses: dict[int, dict[str, Any]] = field(default_factory=dict)
    products: dict[int, dict[str, Any]] = field(default_factory=dict)
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    cart_rows: list[dict[str, Any]] = field(default_factory=list)  # oc_cart
    plans: dict[int, dict[str, Any]] = field(default_factory=dict)  # subscription plans, as order_subscription rows
    statuses: dict[int, str] = field(default_factory=lambda: dict(STATUSES))
    on_history: Callable[..., None] | None = None  # the extension's addHistory before/after pair
    _ids: dict[str, int] = field(default_factory=lambda: {"customer": 0, "address": 0, "product": 99, "order": 0,
                                                           "order_product": 0, "order_total": 0, "history": 0,
                                                           "cart": 0, "product_option": 0,
                                                           "product_option_value": 0})

    def next_id(self, table: str) -> int:
        self._ids[table] += 1
        return self._ids[table]

    def now(self) -> str:
        """NOW() in the shop's time zone, as a DATETIME string."""
        return self.clock().astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S")

    def local_to_aware(self, stamp: str) -> datetime:
        return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=self.zone)

    # ------------------------------------------------------------------ catalogue

    def add_customer(self, email: str, firstname: str, lastname: str, telephone: str,
                     customer_id: int | None) -> dict[str, Any]:
        cid = customer_id or self.next_id("customer")
        self._ids["customer"] = max(self._ids["customer"], cid)
        row = {"customer_id": cid, "customer_group_id": 1, "firstname": firstname, "lastname": lastname,
               "email": email, "telephone": telephone, "status": 1, "address_id": 0}
        self.customers[cid] = row
        return row

    def add_address(self, customer_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        aid = self.next_id("address")
        row = {"address_id": aid, "customer_id": customer_id, **fields}
        self.addresses[aid] = row
        customer = self.customers[customer_id]
        if not customer["address_id"]:
            customer["address_id"] = aid
        return row

    def plan(self, plan_id: Any) -> dict[str, Any] | None:
        """An order_subscription row for a subscription plan a cart line names (4.x)."""
        row = self.plans.get(php_int(plan_id))
        return dict(row) if row else None

    def add_product(self, name: str, price: Decimal, model: str, tax_class_id: int, quantity: int,
                    product_id: int | None, shipping: bool, weight: Decimal, minimum: int) -> dict[str, Any]:
        pid = product_id or self.next_id("product")
        self._ids["product"] = max(self._ids["product"], pid)
        now = self.now()
        row = {"product_id": pid, "name": name, "model": model, "price": price, "tax_class_id": tax_class_id,
               "quantity": quantity, "shipping": shipping, "weight": weight, "minimum": minimum, "status": 1,
               "subtract": 1, "description": "", "date_added": now, "date_modified": now}
        self.products[pid] = row
        return row

    def add_option(self, product_id: int, name: str, values: list[str], kind: str = "select") -> dict[str, int]:
        """A product option (Catalog > Products > Option): {value: product_option_value_id}."""
        option_id = self.next_id("product_option")
        ids = {value: self.next_id("product_option_value") for value in values}
        self.products[product_id].setdefault("options", {})[option_id] = {
            "name": name, "type": kind, "values": {vid: value for value, vid in ids.items()}}
        return ids

    def option_rows(self, product: Mapping[str, Any], posted: Any) -> list[dict[str, Any]]:
        """order_option rows for what a cart line was given: option[product_option_id] = value id (or ids, or a
        typed value); ids the product does not have are left out, as Cart does."""
        rows = []
        for option_id, chosen in (posted.items() if isinstance(posted, Mapping) else ()):
            option = product.get("options", {}).get(php_int(option_id))
            if option is None:
                continue
            for value in (chosen.values() if isinstance(chosen, Mapping) else [chosen]):
                value_id = php_int(value) if option["values"] else 0
                rows.append({"product_option_id": php_int(option_id), "product_option_value_id": value_id,
                             "name": option["name"], "type": option["type"],
                             "value": option["values"].get(value_id, "") if option["values"] else str(value)})
        return rows

    def zone_of(self, zone_id: int) -> dict[str, Any]:
        return ZONES.get(zone_id, {"country_id": 0, "name": "", "code": ""})

    def country_of(self, country_id: int) -> dict[str, Any]:
        return COUNTRIES.get(country_id, {"name": "", "iso_code_2": "", "iso_code_3": "", "address_format": ""})

    # ------------------------------------------------------------------ prices and tax

    def unit_taxes(self, amount: Decimal, tax_class_id: int, country_id: int) -> list[tuple[str, Decimal]]:
        """Tax::getRates for one unit: nothing outside the UK VAT zone or for classes without rules (0, -1)."""
        if country_id not in UK_VAT_ZONE:
            return []
        return [(title, rate if kind == "F" else amount * rate / 100)
                for title, kind, rate in TAX_RATES.get(tax_class_id, [])]

    def with_tax(self, amount: Decimal, tax_class_id: int, country_id: int) -> Decimal:
        """config_tax on: prices and shipping quotes are shown with their tax ("$8.00" for the 5.00 flat rate)."""
        return amount + sum((t for _, t in self.unit_taxes(amount, tax_class_id, country_id)), Decimal(0))

    def price(self, lines: list[Line], shipping: dict[str, Any] | None, tax_country: int) -> Priced:
        """sub_total, shipping, tax and total as the order totals extensions compute them."""
        taxes: dict[str, Decimal] = {}
        line_tax: dict[int, Decimal] = {}
        sub_total = Decimal(0)
        for line in lines:
            sub_total += line.price * line.quantity
            unit = self.unit_taxes(line.price, int(line.product["tax_class_id"]), tax_country)
            line_tax[line.product["product_id"]] = sum((t for _, t in unit), Decimal(0))
            for title, amount in unit:
                taxes[title] = taxes.get(title, Decimal(0)) + amount * line.quantity
        required = any(line.product["shipping"] for line in lines)
        counted = shipping if (shipping is not None and required) else None
        if counted is not None:
            for title, amount in self.unit_taxes(counted["cost"], int(counted["tax_class_id"]), tax_country):
                taxes[title] = taxes.get(title, Decimal(0)) + amount
        total = sub_total + (counted["cost"] if counted else Decimal(0)) + sum(taxes.values(), Decimal(0))
        ordered = {title: taxes[title] for title, _, _ in TAX_RATES[9] if title in taxes}
        return Priced(lines, sub_total, counted, ordered, line_tax, total, required)

    # ------------------------------------------------------------------ orders

    def create_order(self, data: dict[str, Any], priced: Priced) -> dict[str, Any]:
        """addOrder(): the order row with status 0, its products and totals (no history, no event)."""
        order_id = self.next_id("order")
        now = self.now()
        order = {**data, "order_id": order_id, "order_status_id": 0, "date_added": now, "date_modified": now}
        self._store_lines(order, priced)
        self.orders[order_id] = order
        return order

    def edit_order(self, order: dict[str, Any], data: dict[str, Any], priced: Priced, internal_status: int) -> None:
        """editOrder(): the internal status write fires no event (4.1: Voided with notify=1; 3.0: 0)."""
        self._restock(order, order["order_status_id"], internal_status)
        if internal_status:
            self.history_row(order, internal_status, "", True)
        order["order_status_id"] = internal_status
        order.update({k: v for k, v in data.items() if k not in ("order_id", "date_added")})
        self._store_lines(order, priced)
        order["date_modified"] = self.now()

    def _store_lines(self, order: dict[str, Any], priced: Priced) -> None:
        order["products"] = [
            {"order_product_id": self.next_id("order_product"), "product_id": line.product["product_id"],
             "name": line.product["name"], "model": line.product["model"], "quantity": line.quantity,
             "price": line.price, "total": line.price * line.quantity,
             "tax": priced.line_tax.get(line.product["product_id"], Decimal(0)),
             "options": list(line.choices.get("options", ())), "subscription": line.choices.get("subscription")}
            for line in priced.lines]
        totals = [("sub_total", "Sub-Total", priced.sub_total, 1)]
        if priced.shipping is not None:
            totals.append(("shipping", priced.shipping["title"], priced.shipping["cost"], 3))
        totals += [("tax", title, amount, 5) for title, amount in priced.taxes.items()]
        totals.append(("total", "Total", priced.total, 9))
        order["totals"] = [{"order_total_id": self.next_id("order_total"), "extension": "opencart", "code": code,
                            "title": title, "value": value, "sort_order": sort}
                           for code, title, value, sort in totals]
        order["total"] = priced.total

    def add_history(self, order: dict[str, Any], status_id: int, comment: str = "", notify: bool = False,
                    source: str = "api", remembered: int | None = None) -> None:
        """addHistory() / addOrderHistory(): stock follows the processing/complete lists; the status is stored as
        given, known or not (S4); the extension's before/after handlers see the old and the new status.
        `remembered`: for an edit, the status the extension noted before editOrder() reset it."""
        old = order["order_status_id"]
        self._restock(order, old, status_id)
        order["order_status_id"] = status_id
        order["date_modified"] = self.now()
        self.history_row(order, status_id, comment, notify)
        if self.on_history is not None:
            self.on_history(order, old if remembered is None else remembered, status_id, source)

    def history_row(self, order: dict[str, Any], status_id: int, comment: str, notify: bool) -> None:
        self.history.append({"order_history_id": self.next_id("history"), "order_id": order["order_id"],
                             "order_status_id": status_id, "notify": int(notify), "comment": comment,
                             "date_added": self.now()})

    def _restock(self, order: dict[str, Any], old: int, new: int) -> None:
        held = PROCESSING | COMPLETE
        if (old in held) == (new in held):
            return
        sign = -1 if new in held else 1
        for line in order.get("products", []):
            product = self.products.get(line["product_id"])
            if product is not None and product["subtract"]:
                product["quantity"] += sign * line["quantity"]

    def status_name(self, status_id: int) -> str:
        return self.statuses.get(status_id, "")

    # ------------------------------------------------------------------ getOrder()

    def get_order(self, order: dict[str, Any]) -> dict[str, Any]:
        """model_checkout_order->getOrder() of this version, with products and totals on 4.x (OPENCART.md §5)."""
        o = order
        pay_zone, ship_zone = self.zone_of(o["payment_zone_id"]), self.zone_of(o["shipping_zone_id"])
        pay_country, ship_country = self.country_of(o["payment_country_id"]), self.country_of(o["shipping_country_id"])

        def address(prefix: str, with_id: bool) -> dict[str, Any]:
            out = {f"{prefix}_address_id": str(o[f"{prefix}_address_id"])} if with_id else {}
            for name in ("firstname", "lastname", "company", "address_1", "address_2"):
                out[f"{prefix}_{name}"] = o[f"{prefix}_{name}"]
            return out

        status = o["order_status_id"]
        if self.version.startswith("4"):
            body: dict[str, Any] = {
                "order_id": str(o["order_id"]), "subscription_id": "0", "invoice_no": "0",
                "invoice_prefix": "INV-2026-00", "transaction_id": None, "store_id": "0", "store_name": "Your Store",
                "store_url": self.base_url, "customer_id": str(o["customer_id"]),
                "customer_group_id": str(o["customer_group_id"]), "firstname": o["firstname"],
                "lastname": o["lastname"], "email": o["email"], "telephone": o["telephone"], "custom_field": [],
                **address("payment", True),
                "payment_city": o["payment_city"], "payment_postcode": o["payment_postcode"],
                "payment_country": pay_country["name"], "payment_country_id": str(o["payment_country_id"]),
                "payment_zone": pay_zone["name"], "payment_zone_id": str(o["payment_zone_id"]),
                "payment_address_format": pay_country["address_format"], "payment_custom_field": [],
                "payment_method": o["payment_method"],
                **address("shipping", True),
                "shipping_city": o["shipping_city"], "shipping_postcode": o["shipping_postcode"],
                "shipping_country": ship_country["name"], "shipping_country_id": str(o["shipping_country_id"]),
                "shipping_zone": ship_zone["name"], "shipping_zone_id": str(o["shipping_zone_id"]),
                "shipping_address_format": ship_country["address_format"], "shipping_custom_field": [],
                "shipping_method": o["shipping_method"], "comment": o["comment"], "total": dec4(o["total"]),
                "order_status_id": str(status), "affiliate_id": "0", "commission": "0.0000", "marketing_id": "0",
                "tracking": "", "language_id": "1", "language_code": "en-gb", "currency_id": "2",
                "currency_code": "USD", "currency_value": "1.00000000", "ip": o["ip"], "forwarded_ip": "",
                "user_agent": o["user_agent"], "accept_language": "", "date_added": o["date_added"],
                "date_modified": o["date_modified"], "order_status": self.status_name(status),
                "payment_iso_code_2": pay_country["iso_code_2"], "payment_iso_code_3": pay_country["iso_code_3"],
                "payment_zone_code": pay_zone["code"], "shipping_iso_code_2": ship_country["iso_code_2"],
                "shipping_iso_code_3": ship_country["iso_code_3"], "shipping_zone_code": ship_zone["code"],
            }
            body["products"] = [{"order_product_id": str(p["order_product_id"]), "order_id": str(o["order_id"]),
                                 "product_id": str(p["product_id"]), "master_id": "0", "name": p["name"],
                                 "model": p["model"], "quantity": str(p["quantity"]), "price": dec4(p["price"]),
                                 "total": dec4(p["total"]), "tax": dec4(p["tax"]), "reward": "0"}
                                for p in o["products"]]
            body["totals"] = [{"order_total_id": str(t["order_total_id"]), "order_id": str(o["order_id"]),
                               "extension": t["extension"], "code": t["code"], "title": t["title"],
                               "value": dec4(t["value"]), "sort_order": str(t["sort_order"])} for t in o["totals"]]
            return body
        return {  # 3.0.5.1, the 65 keys of 13_order_info.json in their order
            "order_id": str(o["order_id"]), "invoice_no": "0", "invoice_prefix": "INV-2026-00", "store_id": "0",
            "store_name": "Your Store", "store_url": self.base_url, "customer_id": str(o["customer_id"]),
            "firstname": o["firstname"], "lastname": o["lastname"], "email": o["email"],
            "telephone": o["telephone"], "custom_field": [],
            **address("payment", False),
            "payment_postcode": o["payment_postcode"], "payment_city": o["payment_city"],
            "payment_zone_id": str(o["payment_zone_id"]), "payment_zone": pay_zone["name"],
            "payment_zone_code": pay_zone["code"], "payment_country_id": str(o["payment_country_id"]),
            "payment_country": pay_country["name"], "payment_iso_code_2": pay_country["iso_code_2"],
            "payment_iso_code_3": pay_country["iso_code_3"], "payment_address_format": pay_country["address_format"],
            "payment_custom_field": [], "payment_method": o["payment_method"], "payment_code": o["payment_code"],
            **address("shipping", False),
            "shipping_postcode": o["shipping_postcode"], "shipping_city": o["shipping_city"],
            "shipping_zone_id": str(o["shipping_zone_id"]), "shipping_zone": ship_zone["name"],
            "shipping_zone_code": ship_zone["code"], "shipping_country_id": str(o["shipping_country_id"]),
            "shipping_country": ship_country["name"], "shipping_iso_code_2": ship_country["iso_code_2"],
            "shipping_iso_code_3": ship_country["iso_code_3"],
            "shipping_address_format": ship_country["address_format"], "shipping_custom_field": [],
            "shipping_method": o["shipping_method"], "shipping_code": o["shipping_code"], "comment": o["comment"],
            "total": dec4(o["total"]), "order_status_id": str(status), "order_status": self.status_name(status),
            "affiliate_id": "0", "commission": "0.0000", "language_id": "1", "language_code": "en-gb",
            "currency_id": "2", "currency_code": "USD", "currency_value": "1.00000000", "ip": o["ip"],
            "forwarded_ip": "", "user_agent": o["user_agent"], "accept_language": "", "date_added": o["date_added"],
            "date_modified": o["date_modified"],
        }


def empty_address(prefix: str) -> dict[str, Any]:
    return {f"{prefix}_address_id": 0, f"{prefix}_firstname": "", f"{prefix}_lastname": "",
            f"{prefix}_company": "", f"{prefix}_address_1": "", f"{prefix}_address_2": "", f"{prefix}_city": "",
            f"{prefix}_postcode": "", f"{prefix}_country_id": 0, f"{prefix}_zone_id": 0}

