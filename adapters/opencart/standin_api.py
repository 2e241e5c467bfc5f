"""The catalog API of the stand-in OpenCart shop: 4.1.0.4's signed, stateless `api/order&call=...` and 3.0.5.1's
`api/login` + `api_token` session routes. Answers, error texts and quirks are the captured ones
(tests/fixtures/opencart-4.1.0.4, opencart-3.0.5.1, OPENCART.md §3, §4, §6); what no capture shows is marked
"not captured" where it is made. Callers hold the shop lock.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Callable, Mapping

from adapters.opencart.standin_shop import (
    DEFAULT_STATUS, FLAT, PAYMENT_TITLES, STORE_COUNTRY_ID, VOIDED, Line, Priced, ShopState, empty_address, money,
    php_int, to_decimal,
)
from adapters.opencart.standin_wire import PhpArray, number, php_empty

PERMISSION_41 = {"error": "You do not have permission to access this page."}
PERMISSION_30 = {"error": {"warning": "Warning: You do not have permission to access the API!"}}
ORDERS_OK = "Success: You have modified orders!"
CALLS_41 = ("customer", "cart", "product_add", "payment_address", "shipping_address", "shipping_method",
            "shipping_methods", "payment_method", "payment_methods", "extension", "affiliate", "confirm",
            "history_add")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SESSION_IDLE = timedelta(hours=1)  # startup/session.php purges api sessions idle for longer (3.0)
STOCK_ERROR = "Warning: Products marked with *** are not available in the desired quantity or not in stock!"


def _length_ok(text: str, low: int, high: int) -> bool:
    return low <= len(text) <= high


# ====================================================================== 4.1.0.4

class Api41:
    """route=api/order: every call rebuilds its state from the cleaned POST (OPENCART.md §3.1)."""

    def __init__(self, shop: ShopState, cleanup_cart: Callable[[], bool]):
        self.shop = shop
        self._cleanup_cart = cleanup_cart  # abonne's extension clears the API call's cart rows (S2)

    def call(self, call: str, post: PhpArray, client: Mapping[str, str]) -> dict[str, Any]:
        if call not in CALLS_41:
            return {"error": "API call not found"}
        handler = getattr(self, f"call_{call}", None)
        if handler is None:  # not captured: calls of api/order the stand-in does not model
            return {"error": f"the stand-in does not model call={call}"}
        rows_before = len(self.shop.cart_rows)
        try:
            return handler(post, client)
        finally:
            if self._cleanup_cart():
                del self.shop.cart_rows[rows_before:]

    # ------------------------------------------------------------------ helpers the calls share

    def _customer_errors(self, post: PhpArray) -> dict[str, str]:
        errors: dict[str, str] = {}
        customer_id = php_int(post.get("customer_id"))
        if customer_id and customer_id not in self.shop.customers:
            errors["warning"] = "Warning: Customer could not be found!"
        if not _length_ok(str(post.get("firstname", "")), 1, 32):
            errors["firstname"] = "First Name must be between 1 and 32 characters!"
        if not _length_ok(str(post.get("lastname", "")), 1, 32):
            errors["lastname"] = "Last Name must be between 1 and 32 characters!"  # not captured: stock text
        if not EMAIL.match(str(post.get("email", ""))):
            errors["email"] = "E-Mail Address does not appear to be valid!"
        return errors

    def _lines(self, post: PhpArray) -> tuple[list[Line], dict[str, str]]:
        """The posted products, put in the cart: a logged-in customer's rows land in oc_cart (S2)."""
        lines: list[Line] = []
        errors: dict[str, str] = {}
        customer_id = php_int(post.get("customer_id"))
        session = secrets.token_hex(13)
        items = post.get("product") if isinstance(post.get("product"), dict) else {}
        for index, item in items.items():
            item = item if isinstance(item, dict) else {}
            product = self.shop.products.get(php_int(item.get("product_id")))
            if product is None or not product["status"]:
                errors[f"product_{index}_product"] = "Warning: Product could not be found!"
                continue
            quantity = php_int(item.get("quantity"))
            if quantity < product["minimum"]:
                errors[f"product_{index}_product"] = (f"Minimum order amount for {product['name']} is "
                                                      f"{product['minimum']}!")
                continue
            cart_id = self.shop.next_id("cart")
            if customer_id in self.shop.customers:
                self.shop.cart_rows.append({"cart_id": cart_id, "api_id": 0, "customer_id": customer_id,
                                            "session_id": session, "product_id": product["product_id"],
                                            "quantity": quantity, "date_added": self.shop.now()})
            lines.append(Line(product, quantity, cart_id, self._choices(product, item)))
        if errors:
            errors["warning"] = "Warning: Please check the cart carefully for errors!"
        return lines, errors

    def _choices(self, product: dict[str, Any], item: PhpArray) -> dict[str, Any]:
        """The options and the subscription plan a posted product line names."""
        return {"options": self.shop.option_rows(product, item.get("option")),
                "subscription": self.shop.plan(item.get("subscription_plan_id"))}

    @staticmethod
    def _posted_shipping(post: PhpArray) -> dict[str, Any] | None:
        """shipping_method[name|code|cost|tax_class_id], checked with empty() only (S4): "0" fails, "0.00" and -1
        pass, and the code need not be an installed extension."""
        method = post.get("shipping_method")
        if not isinstance(method, dict) or any(php_empty(method.get(k)) for k in ("name", "code", "cost",
                                                                                    "tax_class_id")):
            return None
        return {"title": method["name"], "code": method["code"], "cost": to_decimal(method["cost"]),
                "tax_class_id": php_int(method["tax_class_id"])}

    @staticmethod
    def _posted_payment(post: PhpArray) -> dict[str, str] | None:
        method = post.get("payment_method")
        if not isinstance(method, dict) or php_empty(method.get("name")) or php_empty(method.get("code")):
            return None
        return {"name": method["name"], "code": method["code"]}

    def _priced(self, post: PhpArray, with_shipping: bool = True) -> tuple[Priced, dict[str, str]]:
        lines, errors = self._lines(post)
        # S1: startup/tax runs before the API sets the session addresses, so tax is the store address's.
        shipping = self._posted_shipping(post) if with_shipping else None
        return self.shop.price(lines, shipping, STORE_COUNTRY_ID), errors

    def _cart_body(self, priced: Priced) -> dict[str, Any]:
        return {"products": [self._product_row(line) for line in priced.lines],
                "totals": self._totals(priced), "shipping_required": priced.shipping_required}

    def _product_row(self, line: Line) -> dict[str, Any]:
        p, q = line.product, line.quantity
        unit = self.shop.with_tax(p["price"], p["tax_class_id"], STORE_COUNTRY_ID)
        return {
            "subscription_plan_id": 0, "subscription": "", "image": "placeholder.png", "option": [],
            "price_text": money(unit), "total_text": money(unit * q), "cart_id": str(line.cart_id), "download": [],
            "quantity": str(q), "minimum_status": True, "stock": str(p["quantity"]),
            "stock_status": p["quantity"] >= q, "price": number(p["price"]), "total": number(p["price"] * q),
            "reward": 0, "points": 0, "weight": number(p["weight"] * q), "product_id": str(p["product_id"]),
            "store_id": "0", "master_id": "0", "model": p["model"], "location": "", "variant": "[]",
            "override": "[]", "stock_status_id": "7", "manufacturer_id": "0", "shipping": "1" if p["shipping"] else "0",
            "tax_class_id": str(p["tax_class_id"]), "date_available": "2020-01-01", "weight_class_id": "1",
            "length": "0.00000000", "width": "0.00000000", "height": "0.00000000", "length_class_id": "1",
            "subtract": str(p["subtract"]), "minimum": str(p["minimum"]), "rating": "0", "sort_order": "0",
            "status": "1", "date_added": p["date_added"], "date_modified": p["date_modified"], "language_id": "1",
            "name": p["name"], "description": p["description"], "tag": "", "meta_title": p["name"],
            "meta_description": "", "meta_keyword": ""}

    @staticmethod
    def _totals(priced: Priced) -> list[dict[str, Any]]:
        rows = [("sub_total", "Sub-Total", priced.sub_total, 1)]
        if priced.shipping is not None:
            rows.append(("shipping", priced.shipping["title"], priced.shipping["cost"], 3))
        rows += [("tax", title, value, 5) for title, value in priced.taxes.items()]
        rows.append(("total", "Total", priced.total, 9))
        return [{"text": money(value), "extension": "opencart", "code": code, "title": title, "value": number(value),
                 "sort_order": sort} for code, title, value, sort in rows]

    def _method_errors(self, post: PhpArray, priced: Priced) -> dict[str, str]:
        errors: dict[str, str] = {}
        shipping_ok = not priced.shipping_required or self._posted_shipping(post) is not None
        if not shipping_ok:
            errors["shipping_method"] = "Warning: Shipping method required!"
        # The payment helper needs the shipping method first: 22 and 21 name both.
        if not shipping_ok or self._posted_payment(post) is None:
            errors["payment_method"] = "Warning: Payment method required!"
        return errors

    # ------------------------------------------------------------------ the calls

    def call_customer(self, post: PhpArray, client: Mapping[str, str]) -> dict[str, Any]:
        errors = self._customer_errors(post)
        return {"error": errors} if errors else {"success": "You have successfully modified customers"}

    def call_cart(self, post: PhpArray, client: Mapping[str, str]) -> dict[str, Any]:
        priced, errors = self._priced(post, with_shipping=False)
        if errors:
            return {"error": errors, **self._cart_body(priced)}
        return {"success": "Success: You have modified your shopping cart!", **self._cart_body(priced)}

    def call_shipping_methods(self, post: PhpArray, client: Mapping[str, str]) -> dict[str, Any]:
        priced, _ = self._priced(post, with_shipping=False)
        if not priced.shipping_required:  # not captured
            return {"error": "Warning: No Shipping options are available!"}
        text = money(self.shop.with_tax(FLAT["cost"], FLAT["tax_class_id"], STORE_COUNTRY_ID))
        return {"shipping_methods": {"flat": {
            "code": "flat", "name": "Flat Rate",
            "quote": {"flat": {"code": FLAT["code"], "name": FLAT["title"], "cost": f"{FLAT['cost']:.2f}",
                               "tax_class_id": str(FLAT["tax_class_id"]), "text": text}},
            "sort_order": "1", "error": False}}}

    def call_shipping_method(self, post: PhpArray, client: Mapping[str, str]) -> dict[str, Any]:
        priced, _ = self._priced(post)
        if priced.shipping_required and self._posted_shipping(post) is None:  # not captured alone
            return {"error": {"shipping_method": "Warning: Shipping method required!"}, **self._cart_body(priced)}
        return {"success": "Success: Shipping method has been set!", **self._cart_body(priced)}

    def call_payment_methods(self, post: PhpArray, client: Mapping[str, str]) -> dict[str, Any]:
        priced, _ = self._priced(post)
        methods: dict[str, Any] = {}
        if priced.total == 0:
            methods["free_checkout"] = {"code": "free_checkout", "name": "Free Checkout",
                                        "option": {"free_checkout": {"code": "free_checkout.free_checkout",
                                                                     "name": "Free Checkout"}}, "sort_order": "1"}
        if priced.shipping_required:
            methods["cod"] = {"code": "cod", "name": "Cash On Delivery",
                              "option": {"cod": {"code": "cod.cod", "name": "Cash On Delivery"}}, "sort_order": "5"}
        if not methods:  # not captured
            return {"error": "Warning: No Payment options are available!"}
        return {"payment_methods": methods}

    def call_payment_method(self, post: PhpArray, client: Mapping[str, str]) -> dict[str, Any]:
        priced, _ = self._priced(post)
        errors = self._method_errors(post, priced)
        if errors:  # not captured alone
            return {"error": errors, **self._cart_body(priced)}
        return {"success": "Success: Payment method has been set!", **self._cart_body(priced)}

    def call_confirm(self, post: PhpArray, client: Mapping[str, str]) -> dict[str, Any]:
        customer_errors = self._customer_errors(post)
        if customer_errors:  # not captured: confirm with a bad customer
            return {"error": customer_errors}
        priced, errors = self._priced(post)
        if errors:
            return {"error": errors}  # 17, 18, 19: the product errors alone
        errors = self._method_errors(post, priced)
        if errors:
            return {"error": errors, **self._cart_body(priced)}  # 21, 22
        shipping = self._posted_shipping(post) if priced.shipping_required else None
        data = self._order_data(post, priced, shipping, client)
        # S3: a missing order_status_id is 0, an order no list shows, and no history event.
        status = php_int(post.get("order_status_id", 0))
        existing = self.shop.orders.get(php_int(post.get("order_id", 0)))
        if existing is not None:
            self.shop.edit_order(existing, data, priced, VOIDED)  # 26: Voided (notify=1) first, no event
            order = existing
        else:  # not captured: an order_id that does not exist; the stand-in makes a new order
            order = self.shop.create_order(data, priced)
        if status:
            self.shop.add_history(order, status)
        return {"order_id": order["order_id"], "success": ORDERS_OK, "points": 0, **self._cart_body(priced)}

    def call_history_add(self, post: PhpArray, client: Mapping[str, str]) -> dict[str, Any]:
        order = self.shop.orders.get(php_int(post.get("order_id")))
        if order is None:
            return {"error": "Warning: Order could not be found!"}
        self.shop.add_history(order, php_int(post.get("order_status_id", 0)), str(post.get("comment", "")),
                              str(post.get("notify", "0")) not in ("", "0"))
        return {"success": ORDERS_OK}

    def _order_data(self, post: PhpArray, priced: Priced, shipping: dict[str, Any] | None,
                    client: Mapping[str, str]) -> dict[str, Any]:
        data: dict[str, Any] = {
            "customer_id": php_int(post.get("customer_id")), "customer_group_id": php_int(post.get("customer_group_id")),
            "firstname": post.get("firstname", ""), "lastname": post.get("lastname", ""),
            "email": post.get("email", ""), "telephone": post.get("telephone", ""),
            "comment": str(post.get("comment", "")), "ip": client.get("ip", ""),
            "user_agent": client.get("user_agent", ""), "payment_method": self._posted_payment(post),
            "payment_code": "", "shipping_code": "",
            "shipping_method": {} if shipping is None else {
                "name": shipping["title"], "code": shipping["code"], "cost": number(shipping["cost"]),
                "tax_class_id": shipping["tax_class_id"],
                "text": money(self.shop.with_tax(shipping["cost"], shipping["tax_class_id"], STORE_COUNTRY_ID))},
        }
        for prefix in ("payment", "shipping"):
            data.update(empty_address(prefix))
            for name in ("firstname", "lastname", "company", "address_1", "address_2", "city", "postcode"):
                data[f"{prefix}_{name}"] = str(post.get(f"{prefix}_{name}", ""))
            for name in ("address_id", "country_id", "zone_id"):
                data[f"{prefix}_{name}"] = php_int(post.get(f"{prefix}_{name}"))
        return data


# ====================================================================== 3.0.5.1

@dataclass
class Session30:
    """oc_session data of one api_token: what the earlier calls set."""

    token: str
    modified: datetime
    customer: dict[str, Any] | None = None
    cart: list[dict[str, Any]] = field(default_factory=list)  # oc_cart rows with api_id 1
    payment_address: dict[str, Any] | None = None
    shipping_address: dict[str, Any] | None = None
    shipping_methods: dict[str, Any] | None = None
    shipping_method: dict[str, Any] | None = None
    payment_methods: dict[str, Any] | None = None
    payment_method: dict[str, Any] | None = None


class Api30:
    """api/login + api_token (OPENCART.md §3.2, §4 3.0.5.1)."""

    ROUTES = ("api/customer", "api/cart/add", "api/cart/products", "api/payment/address", "api/shipping/address",
              "api/shipping/methods", "api/shipping/method", "api/payment/methods", "api/payment/method",
              "api/order/add", "api/order/edit", "api/order/history", "api/order/info")

    def __init__(self, shop: ShopState, username: str, key: str, allowed_ips: Callable[[], set[str]],
                 extension_installed: Callable[[], bool] = lambda: False):
        self._extension_installed = extension_installed
        self.free_shipping = False  # Extensions > Shipping > Free Shipping (off in the captured shop)
        self.shop = shop
        self.username = username
        self.key = key
        self.allowed_ips = allowed_ips
        self.sessions: dict[str, Session30] = {}

    def login(self, post: PhpArray, remote_addr: str) -> Any:
        username = post.get("username") or "Default"  # 03: a key alone logs in as Default
        if username != self.username or post.get("key") != self.key:
            return []  # 01, 02: a wrong key or user is HTTP 200 and an empty array
        if remote_addr not in self.allowed_ips():  # 04, 05: REMOTE_ADDR only, X-Forwarded-For is not read
            return {"error": {"ip": f"Warning: Your IP {remote_addr} is not allowed to access this API!",
                              "key": "Warning: Incorrect API Key!"}}
        token = secrets.token_hex(13)
        self.sessions[token] = Session30(token, self.shop.clock())
        return {"success": "Success: API session successfully started!", "api_token": token}

    def expire_sessions(self) -> None:
        """Age every api session past the 1 h idle limit (as 10_err_expired_session aged date_modified)."""
        for session in self.sessions.values():
            session.modified -= SESSION_IDLE + timedelta(hours=1)

    def session(self, token: str, remote_addr: str) -> Session30 | None:
        """startup/session.php: purge sessions idle > 1 h, then join the token with oc_api_ip on REMOTE_ADDR (09)."""
        now = self.shop.clock()
        for stale in [t for t, s in self.sessions.items() if s.modified + SESSION_IDLE < now]:
            del self.sessions[stale]
        session = self.sessions.get(token)
        if session is None or remote_addr not in self.allowed_ips():
            return None
        session.modified = now
        return session

    def call(self, route: str, session: Session30, post: PhpArray, get: Mapping[str, str],
             client: Mapping[str, str]) -> Any:
        return getattr(self, "_" + route[4:].replace("/", "_"))(session, post, get, client)

    # ------------------------------------------------------------------ cart

    def _lines(self, session: Session30) -> list[Line]:
        """Cart::getProducts: rows of unknown products or quantity < 1 are dropped (16, 22, 29)."""
        kept, lines = [], []
        for row in session.cart:
            product = self.shop.products.get(row["product_id"])
            if product is None or row["quantity"] < 1:
                continue
            kept.append(row)
            lines.append(Line(product, row["quantity"], row["cart_id"], row.get("choices", {})))
        session.cart[:] = kept
        return lines

    def _tax_country(self, session: Session30) -> int:
        address = session.shipping_address or None
        return address["country_id"] if address else STORE_COUNTRY_ID

    def _priced(self, session: Session30) -> Priced:
        lines = self._lines(session)
        shipping = session.shipping_method
        return self.shop.price(lines, {"title": shipping["title"], "code": shipping["code"],
                                       "cost": shipping["cost"], "tax_class_id": shipping["tax_class_id"]}
                               if shipping else None, self._tax_country(session))

    def _add_row(self, session: Session30, product_id: int, quantity: int, posted: Any = None) -> None:
        """One oc_cart row; `posted` the line's option[...] (3.0 has no subscription plans)."""
        product = self.shop.products.get(product_id)
        options = self.shop.option_rows(product, (posted or {}).get("option")) if product and posted else []
        session.cart.append({"cart_id": self.shop.next_id("cart"), "product_id": product_id, "quantity": quantity,
                             "choices": {"options": options, "subscription": None}})

    def _customer(self, session: Session30, post: PhpArray, get: Mapping, client: Mapping) -> Any:
        errors: dict[str, str] = {}
        customer_id = php_int(post.get("customer_id"))
        if customer_id and customer_id not in self.shop.customers:
            errors["warning"] = "You must select a customer!"
        if not _length_ok(str(post.get("firstname", "")), 1, 32):
            errors["firstname"] = "First Name must be between 1 and 32 characters!"  # not captured on 3.0
        if not _length_ok(str(post.get("lastname", "")), 1, 32):
            errors["lastname"] = "Last Name must be between 1 and 32 characters!"  # not captured
        if not EMAIL.match(str(post.get("email", ""))):
            errors["email"] = "E-Mail Address does not appear to be valid!"
        if not _length_ok(str(post.get("telephone", "")), 3, 32):
            errors["telephone"] = "Telephone must be between 3 and 32 characters!"
        if errors:
            return {"error": errors}
        session.customer = {"customer_id": customer_id, "customer_group_id": php_int(post.get("customer_group_id")),
                            **{k: str(post.get(k, "")) for k in ("firstname", "lastname", "email", "telephone")}}
        return {"success": "You have successfully modified customers"}

    def _cart_add(self, session: Session30, post: PhpArray, get: Mapping, client: Mapping) -> Any:
        items = post.get("product")
        if isinstance(items, dict):
            session.cart.clear()  # the array form empties the cart first, and checks nothing (16, 22, 29)
            for item in items.values():
                item = item if isinstance(item, dict) else {}
                self._add_row(session, php_int(item.get("product_id")), php_int(item.get("quantity")), item)
            return {"success": "Success: You have modified your shopping cart!"}
        product = self.shop.products.get(php_int(post.get("product_id")))
        if product is None:
            return {"error": {"store": "Product can not be bought from the store you have choosen!"}}  # 15
        self._add_row(session, product["product_id"], php_int(post.get("quantity", 1)) or 1)
        return {"success": "Success: You have modified your shopping cart!"}

    def _cart_products(self, session: Session30, post: PhpArray, get: Mapping, client: Mapping) -> Any:
        priced, rows = self.cart_rows(session)
        products = [{"cart_id": row["cart_id"], "product_id": row["product_id"], "name": row["name"],
                     "model": row["model"], "option": [], "quantity": row["quantity"], "stock": row["stock"],
                     "shipping": "1" if row["product"]["shipping"] else "0", "price": row["price"],
                     "total": row["total"], "reward": 0} for row in rows]
        return {"products": products, "vouchers": [], "totals": self.totals_text(priced)}

    def cart_rows(self, session: Session30) -> tuple[Priced, list[dict[str, Any]]]:
        """The priced cart and its lines as the cart listings show them: ids and quantities as text, prices with
        the tax of the shipping address's country, formatted."""
        priced = self._priced(session)
        country = self._tax_country(session)
        rows = []
        for line in priced.lines:
            p = line.product
            unit = self.shop.with_tax(p["price"], p["tax_class_id"], country)
            rows.append({"product": p, "cart_id": str(line.cart_id), "product_id": str(p["product_id"]),
                         "name": p["name"], "model": p["model"], "quantity": str(line.quantity),
                         "stock": p["quantity"] >= line.quantity, "price": money(unit),
                         "total": money(unit * line.quantity)})
        return priced, rows

    @staticmethod
    def totals_text(priced: Priced) -> list[dict[str, str]]:
        totals = [("Sub-Total", priced.sub_total)]
        if priced.shipping is not None:
            totals.append((priced.shipping["title"], priced.shipping["cost"]))
        totals += list(priced.taxes.items()) + [("Total", priced.total)]
        return [{"title": title, "text": money(value)} for title, value in totals]

    # ------------------------------------------------------------------ addresses and methods

    def _address(self, post: PhpArray) -> tuple[dict[str, Any] | None, dict[str, str]]:
        """Not captured: the field errors (stock language texts); captured: the success path."""
        errors: dict[str, str] = {}
        text = {k: str(post.get(k, "")) for k in ("firstname", "lastname", "company", "address_1", "address_2",
                                                   "city", "postcode")}
        if not _length_ok(text["firstname"], 1, 32):
            errors["firstname"] = "First Name must be between 1 and 32 characters!"
        if not _length_ok(text["lastname"], 1, 32):
            errors["lastname"] = "Last Name must be between 1 and 32 characters!"
        if not _length_ok(text["address_1"], 3, 128):
            errors["address_1"] = "Address 1 must be between 3 and 128 characters!"
        if not _length_ok(text["city"], 2, 128):
            errors["city"] = "City must be between 2 and 128 characters!"
        country_id = php_int(post.get("country_id"))
        if self.shop.country_of(country_id)["name"] == "":
            errors["country"] = "Please select a country!"
        if str(post.get("zone_id", "")) == "" or not str(post.get("zone_id")).lstrip("-").isdigit():
            errors["zone"] = "Please select a region / state!"
        if errors:
            return None, errors
        return {**text, "country_id": country_id, "zone_id": php_int(post.get("zone_id"))}, {}

    def _payment_address(self, session: Session30, post: PhpArray, get: Mapping, client: Mapping) -> Any:
        address, errors = self._address(post)
        if errors:
            return {"error": errors}
        session.payment_address = address
        return {"success": "Success: Payment address has been set!"}

    def _shipping_address(self, session: Session30, post: PhpArray, get: Mapping, client: Mapping) -> Any:
        if not any(line.product["shipping"] for line in self._lines(session)):
            return []  # 19, 24, 31: nothing to ship, nothing said
        address, errors = self._address(post)
        if errors:
            return {"error": errors}
        session.shipping_address = address
        return {"success": "Success: Shipping address has been set!"}

    def _shipping_methods(self, session: Session30, post: PhpArray, get: Mapping, client: Mapping) -> Any:
        session.shipping_methods = session.shipping_method = None
        if not any(line.product["shipping"] for line in self._lines(session)):
            return {"shipping_methods": []}  # 25, 32
        if session.shipping_address is None:  # not captured
            return {"error": "Warning: Shipping address required!"}
        text = money(self.shop.with_tax(FLAT["cost"], FLAT["tax_class_id"], self._tax_country(session)))
        session.shipping_methods = {"flat.flat": {"title": FLAT["title"], "code": FLAT["code"], "cost": FLAT["cost"],
                                                  "tax_class_id": FLAT["tax_class_id"]}}
        listed = {"flat": {
            "title": "Flat Rate",
            "quote": {"flat": {"code": FLAT["code"], "title": FLAT["title"], "cost": f"{FLAT['cost']:.2f}",
                               "tax_class_id": str(FLAT["tax_class_id"]), "text": text}},
            "sort_order": "1", "error": False}}
        if self.free_shipping:  # not captured: stock Free Shipping with a 0.00 minimum, as the real shop here has it
            session.shipping_methods["free.free"] = {"title": "Free Shipping", "code": "free.free",
                                                     "cost": Decimal("0"), "tax_class_id": 0}
            listed["free"] = {"title": "Free Shipping", "quote": {"free": {
                "code": "free.free", "title": "Free Shipping", "cost": 0.0, "tax_class_id": 0, "text": "$0.00"}},
                "sort_order": "", "error": False}
        return {"shipping_methods": listed}

    def _shipping_method(self, session: Session30, post: PhpArray, get: Mapping, client: Mapping) -> Any:
        if not any(line.product["shipping"] for line in self._lines(session)):
            return []  # 26, 33
        chosen = (session.shipping_methods or {}).get(str(post.get("shipping_method", "")))
        if session.shipping_address is None or chosen is None:  # not captured
            return {"error": "Warning: Shipping method required!"}
        session.shipping_method = chosen
        return {"success": "Success: Shipping method has been set!"}

    def _payment_methods(self, session: Session30, post: PhpArray, get: Mapping, client: Mapping) -> Any:
        session.payment_methods = session.payment_method = None
        if session.payment_address is None:  # not captured
            return {"error": "Warning: Payment address required!"}
        priced = self._priced(session)
        methods: dict[str, Any] = {}
        if priced.total == 0:  # 20, 27, 34: an empty cart still offers Free Checkout
            methods["free_checkout"] = {"code": "free_checkout", "title": "Free Checkout", "terms": "",
                                        "sort_order": "1"}
        if priced.shipping_required and priced.total > 0:
            methods["cod"] = {"code": "cod", "title": "Cash On Delivery", "terms": "", "sort_order": "5"}
        if self._extension_installed():  # abonne's payment method, offered to API sessions only (verified on 3.0.5.1)
            methods["abonne"] = {"code": "abonne.card", "title": "Card on file, myPOS", "terms": "", "sort_order": "0"}
        if not methods:  # not captured
            return {"error": "Warning: No Payment options are available!"}
        session.payment_methods = methods
        return {"payment_methods": methods}

    def _payment_method(self, session: Session30, post: PhpArray, get: Mapping, client: Mapping) -> Any:
        chosen = (session.payment_methods or {}).get(str(post.get("payment_method", "")))
        if session.payment_address is None or chosen is None:  # not captured
            return {"error": "Warning: Payment method required!"}
        session.payment_method = chosen
        return {"success": "Success: Payment method has been set!"}

    # ------------------------------------------------------------------ orders

    def _order_checks(self, session: Session30, post: PhpArray) -> tuple[str | None, Priced]:
        """api/order add/edit: each failing check overwrites $json['error'], so the last one wins (21, 62)."""
        error = None
        if session.customer is None:
            error = "Warning: Customer details required!"  # not captured: stock text
        if session.payment_address is None:
            error = "Warning: Payment address required!"  # not captured: stock text
        posted = str(post.get("payment_method", ""))
        if posted and error is None:
            if not session.payment_methods:
                error = "Warning: No Payment options are available!"
            elif posted not in session.payment_methods:
                error = "Warning: Payment method required!"
            else:
                session.payment_method = session.payment_methods[posted]
        if session.payment_method is None:
            error = "Warning: Payment method required!"
        priced = self._priced(session)
        if priced.shipping_required:
            if session.shipping_address is None:
                error = "Warning: Shipping address required!"
            posted_shipping = str(post.get("shipping_method", ""))
            if posted_shipping:
                chosen = (session.shipping_methods or {}).get(posted_shipping)
                if chosen is None:
                    error = "Warning: Shipping method required!"
                else:
                    session.shipping_method = chosen
                    priced = self._priced(session)
            if session.shipping_method is None:
                error = "Warning: Shipping method required!"
        if not priced.lines or any(line.product["quantity"] < line.quantity for line in priced.lines):
            error = STOCK_ERROR
        return error, priced

    def _order_data(self, session: Session30, post: PhpArray, client: Mapping[str, str]) -> dict[str, Any]:
        customer = session.customer or {}
        payment = session.payment_method or {}
        shipping = session.shipping_method if session.shipping_address is not None else None
        data: dict[str, Any] = {
            **{k: customer.get(k, "") for k in ("firstname", "lastname", "email", "telephone")},
            "customer_id": customer.get("customer_id", 0), "customer_group_id": customer.get("customer_group_id", 1),
            "payment_method": payment.get("title", ""), "payment_code": payment.get("code", ""),
            "shipping_method": shipping["title"] if shipping else "", "shipping_code": shipping["code"] if shipping else "",
            "comment": str(post.get("comment", "")), "ip": client.get("remote_addr", ""),
            "user_agent": client.get("user_agent", ""),
        }
        for prefix, address in (("payment", session.payment_address), ("shipping", session.shipping_address)):
            data.update(empty_address(prefix))
            for name, value in (address or {}).items():
                data[f"{prefix}_{name}"] = value
        return data

    def _order_add(self, session: Session30, post: PhpArray, get: Mapping, client: Mapping) -> Any:
        error, priced = self._order_checks(session, post)
        if error:
            return {"error": error}
        order = self.shop.create_order(self._order_data(session, post, client), priced)
        self.shop.add_history(order, php_int(post.get("order_status_id")) or DEFAULT_STATUS,
                              str(post.get("comment", "")))
        session.cart.clear()  # 49: a second add in the same session finds an empty cart
        return {"success": ORDERS_OK, "order_id": order["order_id"]}

    def _order_edit(self, session: Session30, post: PhpArray, get: Mapping, client: Mapping) -> Any:
        order = self.shop.orders.get(php_int(get.get("order_id")))
        if order is None:
            return {"error": "Warning: Order could not be found!"}
        error, priced = self._order_checks(session, post)
        if error:
            return {"error": error}
        before = order["order_status_id"]
        self.shop.edit_order(order, self._order_data(session, post, client), priced, 0)  # status 0, no event
        self.shop.add_history(order, php_int(post.get("order_status_id")) or DEFAULT_STATUS,
                              str(post.get("comment", "")), source="edit", remembered=before)
        return {"success": ORDERS_OK}  # 57; the cart stays, so a following add makes another order (58)

    def _order_history(self, session: Session30, post: PhpArray, get: Mapping, client: Mapping) -> Any:
        order = self.shop.orders.get(php_int(get.get("order_id")))
        if order is None:
            return {"error": "Warning: Order could not be found!"}
        self.shop.add_history(order, php_int(post.get("order_status_id")), str(post.get("comment", "")),
                              str(post.get("notify", "0")) not in ("", "0"))
        return {"success": ORDERS_OK}

    def _order_info(self, session: Session30, post: PhpArray, get: Mapping, client: Mapping) -> Any:
        order = self.shop.orders.get(php_int(get.get("order_id")))
        if order is None:
            return {"error": "Warning: Order could not be found!"}
        return {"order": self.shop.get_order(order), "success": ORDERS_OK}


def storefront_payment(version: str, code: str) -> dict[str, Any]:
    """What a storefront checkout stores for a payment code: 4.x {name, code} ("cod" is cod.cod), 3.0 title + code."""
    base = code.split(".")[0]
    title = PAYMENT_TITLES.get(base, base)
    if version.startswith("4"):
        return {"payment_method": {"name": title, "code": code if "." in code else f"{code}.{code}"},
                "payment_code": ""}
    return {"payment_method": title, "payment_code": code}


__all__ = ["Api41", "Api30", "Session30", "PERMISSION_41", "PERMISSION_30", "storefront_payment"]
