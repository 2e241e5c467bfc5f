"""The catalog API of the stand-in OpenCart 4.0.2.3: `api/account/login` gives an `api_token`, passed in the query of
every `api/sale/*` call, whose session keeps the order being built. Answers, error texts and quirks are the ones
captured on a real 4.0.2.3 (tests/fixtures/opencart-4.0.2.3: README.md, numbered files); what no capture shows is
marked "not captured" where it is made. Callers hold the shop lock.

It shares 3.0's session model (Api30: customer, cart rows, addresses, pricing) and differs where 4.0 does: both
username and key to log in, one product per `cart.add`, the address ids a client must post, `<code>.<option>`
methods chosen only from the list the session asked for, the comment set apart from `confirm`, a second `confirm`
in one session editing the first order, JSON `{"name", "code"}` methods on the order, and no payment address stored
(`config_checkout_payment_address` is off after an install).
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Mapping

from adapters.opencart.standin_api import EMAIL, ORDERS_OK, STOCK_ERROR, Api30, Session30, _length_ok
from adapters.opencart.standin_shop import DEFAULT_STATUS, FLAT, Priced, empty_address, money, php_int
from adapters.opencart.standin_wire import PhpArray

LOGIN_OK = "Success: API session successfully started!"
WRONG_KEY = {"error": "Warning: Incorrect API Key!"}
NO_SHIPPING = {"error": {"warning": "Warning: There are no products that require shipping"}}
# What PHP prints before the JSON when a field the controller reads is missing (errors/27, config_error_display=1).
UNDEFINED_KEY = ('<br />\n<b>Warning</b>:  Undefined array key "{key}" in <b>/var/www/opencart/catalog/controller/api'
                 '/sale/{file}.php</b> on line <b>109</b><br />\n')


@dataclass
class Session40(Session30):
    """A 3.0-shaped session plus what 4.0 keeps apart: the comment and the order a confirm made."""

    comment: str = ""
    order_id: int | None = None


class Api40(Api30):
    """api/account/login + api_token (captures-4.0.2.3 §1 to §6)."""

    ROUTES = ("api/sale/customer", "api/sale/cart", "api/sale/cart.add", "api/sale/payment_address", "api/sale/shipping_address",
              "api/sale/shipping_method", "api/sale/shipping_method.save", "api/sale/payment_method",
              "api/sale/payment_method.save", "api/sale/order.comment", "api/sale/order.confirm",
              "api/sale/order.addHistory")

    def login(self, post: PhpArray, remote_addr: str) -> Any:
        if post.get("username") != self.username or post.get("key") != self.key:
            return WRONG_KEY  # errors/01-05: a key alone does not log in on 4.0
        if remote_addr not in self.allowed_ips():
            return {"error": f"Warning: Your IP {remote_addr} is not allowed to access this API!"}  # errors/08
        token = secrets.token_hex(13)
        self.sessions[token] = Session40(token, self.shop.clock())
        return {"success": LOGIN_OK, "api_token": token}

    def call(self, route: str, session: Session30, post: PhpArray, get: Mapping[str, str],
             client: Mapping[str, str]) -> Any:
        """The answer's body, or (body, the PHP warning printed before it)."""
        assert isinstance(session, Session40)
        name = route[len("api/sale/"):].replace(".", "_")
        return getattr(self, "_40_" + name)(session, post, client)

    # ------------------------------------------------------------------ customer and cart

    def _40_customer(self, session: Session40, post: PhpArray, client: Mapping) -> Any:
        customer_id = php_int(post.get("customer_id"))
        if customer_id and customer_id not in self.shop.customers:
            return {"error": {"warning": "Warning: Customer could not be found!"}}
        errors: dict[str, str] = {}
        if not _length_ok(str(post.get("firstname", "")), 1, 32):
            errors["firstname"] = "First Name must be between 1 and 32 characters!"
        if not _length_ok(str(post.get("lastname", "")), 1, 32):
            errors["lastname"] = "Last Name must be between 1 and 32 characters!"
        if not EMAIL.match(str(post.get("email", ""))):
            errors["email"] = "E-Mail Address does not appear to be valid!"
        if errors:
            return {"error": errors}
        session.customer = {"customer_id": customer_id, "customer_group_id": php_int(post.get("customer_group_id")) or 1,
                            **{k: str(post.get(k, "")) for k in ("firstname", "lastname", "email", "telephone")}}
        return {"success": "You have successfully modified customers"}

    def _40_cart_add(self, session: Session40, post: PhpArray, client: Mapping) -> Any:
        product = self.shop.products.get(php_int(post.get("product_id")))
        if product is None:
            return {"error": {"warning": "Warning: Product could not be found!"}}
        quantity = php_int(post.get("quantity", 1))
        choices = {"options": self.shop.option_rows(product, post.get("option")),
                   "subscription": self.shop.plan(post.get("subscription_plan_id"))}
        for row in session.cart:  # the same product with the same choices again adds to its row
            if row["product_id"] == product["product_id"] and row.get("choices") == choices:
                row["quantity"] += quantity
                break
        else:
            self._add_row(session, product["product_id"], quantity)
            session.cart[-1]["choices"] = choices
        return {"success": "Success: You have modified your shopping cart!"}

    def _40_cart(self, session: Session40, post: PhpArray, client: Mapping) -> Any:
        """flow/04: formatted prices only."""
        priced, rows = self.cart_rows(session)
        products = [{"cart_id": row["cart_id"], "product_id": row["product_id"], "name": row["name"],
                     "model": row["model"], "option": [], "subscription": "", "quantity": row["quantity"],
                     "stock": row["stock"], "minimum": int(row["quantity"]) >= row["product"]["minimum"], "reward": 0,
                     "price": row["price"], "total": row["total"]} for row in rows]
        return {"products": products, "vouchers": [], "totals": self.totals_text(priced),
                "shipping_required": priced.shipping_required}

    # ------------------------------------------------------------------ addresses

    def _40_payment_address(self, session: Session40, post: PhpArray, client: Mapping) -> Any:
        address, errors = self._address(post)
        if errors:
            return {"error": errors}
        session.payment_address = address
        body = {"success": "Success: Payment address has been set!"}
        if "payment_address_id" not in post:
            return body, UNDEFINED_KEY.format(key="payment_address_id", file="payment_address")
        return body

    def _40_shipping_address(self, session: Session40, post: PhpArray, client: Mapping) -> Any:
        if not any(line.product["shipping"] for line in self._lines(session)):
            return NO_SHIPPING
        address, errors = self._address(post)
        if errors:
            return {"error": errors}
        session.shipping_address = address
        body = {"success": "Success: Shipping address has been set!"}
        if "shipping_address_id" not in post:
            return body, UNDEFINED_KEY.format(key="shipping_address_id", file="shipping_address")
        return body

    # ------------------------------------------------------------------ methods, each from the session's list

    def _40_shipping_method(self, session: Session40, post: PhpArray, client: Mapping) -> Any:
        session.shipping_methods = session.shipping_method = None
        if not any(line.product["shipping"] for line in self._lines(session)):
            return NO_SHIPPING  # not captured: the list without shipped products
        if session.shipping_address is None:
            return {"error": "Warning: Shipping address required!"}  # not captured
        session.shipping_methods = {"flat.flat": {"name": FLAT["title"], "title": FLAT["title"], "code": FLAT["code"],
                                                  "cost": FLAT["cost"], "tax_class_id": FLAT["tax_class_id"]}}
        text = money(self.shop.with_tax(FLAT["cost"], FLAT["tax_class_id"], self._tax_country(session)))
        listed: dict[str, Any] = {}
        if self.free_shipping:
            session.shipping_methods["free.free"] = {"name": "Free Shipping", "title": "Free Shipping",
                                                     "code": "free.free", "cost": 0, "tax_class_id": 0}
            listed["free"] = {"code": "free", "name": "Free Shipping", "quote": {"free": {
                "code": "free.free", "name": "Free Shipping", "cost": 0, "tax_class_id": 0, "text": "$0.00"}},
                "sort_order": "0", "error": False}
        listed["flat"] = {"code": "flat", "name": "Flat Rate", "quote": {"flat": {
            "code": FLAT["code"], "name": FLAT["title"], "cost": f"{FLAT['cost']:.2f}",
            "tax_class_id": str(FLAT["tax_class_id"]), "text": text}}, "sort_order": "1", "error": False}
        return {"shipping_methods": listed}

    def _40_shipping_method_save(self, session: Session40, post: PhpArray, client: Mapping) -> Any:
        chosen = (session.shipping_methods or {}).get(str(post.get("shipping_method", "")))
        if chosen is None:  # payment/09: a code the list did not give, or no list asked for
            return {"error": "Warning: Shipping method required!"}
        session.shipping_method = chosen
        return {"success": "Success: Shipping method has been set!"}

    def _40_payment_method(self, session: Session40, post: PhpArray, client: Mapping) -> Any:
        session.payment_methods = session.payment_method = None
        priced = self._priced(session)
        listed: dict[str, Any] = {}
        if self._extension_installed():  # abonne's payment method, offered to API sessions only (probe, order 7)
            listed["abonne"] = {"code": "abonne", "name": "Card on file, myPOS", "option": {
                "card": {"code": "abonne.card", "name": "Card on file, myPOS"}}, "sort_order": 0}
        if priced.shipping_required and priced.total > 0:
            listed["cod"] = {"code": "cod", "name": "Cash On Delivery", "option": {
                "cod": {"code": "cod.cod", "name": "Cash On Delivery"}}, "sort_order": "5"}
        if priced.total <= 0:
            listed["free_checkout"] = {"code": "free_checkout", "name": "Free Checkout", "option": {
                "free_checkout": {"code": "free_checkout.free_checkout", "name": "Free Checkout"}}, "sort_order": "1"}
        session.payment_methods = {option["code"]: option for method in listed.values()
                                   for option in method["option"].values()}
        return {"payment_methods": listed}

    def _40_payment_method_save(self, session: Session40, post: PhpArray, client: Mapping) -> Any:
        chosen = (session.payment_methods or {}).get(str(post.get("payment_method", "")))
        if chosen is None:  # payment/05, 12, 14: not from the session's list
            return {"error": "Warning: Payment method required!"}
        session.payment_method = chosen
        return {"success": "Success: Payment method has been set!"}

    # ------------------------------------------------------------------ the order

    def _40_order_comment(self, session: Session40, post: PhpArray, client: Mapping) -> Any:
        session.comment = str(post.get("comment", ""))
        return {"success": ORDERS_OK}

    def _40_order_confirm(self, session: Session40, post: PhpArray, client: Mapping) -> Any:
        priced = self._priced(session)
        errors: dict[str, str] = {}
        if not priced.lines:
            errors["product"] = "Warning: Products required!"
        elif any(line.product["quantity"] < line.quantity for line in priced.lines):
            errors["stock"] = STOCK_ERROR
        if session.customer is None:
            errors["customer"] = "Warning: Customer details required!"
        if priced.shipping_required and session.shipping_address is None:
            errors["shipping_address"] = "Warning: Shipping address required!"  # not captured
        if priced.shipping_required and session.shipping_method is None:
            errors["shipping_method"] = "Warning: Shipping method required!"
        if session.payment_method is None:
            errors["payment_method"] = "Warning: Payment method required!"
        if errors:
            return {"error": errors}
        status = php_int(post.get("order_status_id")) or DEFAULT_STATUS
        data = self._order_40(session, priced, client)
        order = self.shop.orders.get(session.order_id) if session.order_id else None
        if order is None:
            order = self.shop.create_order(data, priced)
            session.order_id = order["order_id"]
            self.shop.add_history(order, status)
        else:  # session/12-16: the same session's confirm edits its order; a status 0 row stays in the history
            self.shop.edit_order(order, data, priced, 0)
            self.shop.history_row(order, 0, "", False)
            self.shop.add_history(order, status, source="edit")
        return {"order_id": order["order_id"], "success": ORDERS_OK, "points": 0, "commission": "$0.00"}

    def _order_40(self, session: Session40, priced: Priced, client: Mapping[str, str]) -> dict[str, Any]:
        customer = session.customer or {}
        payment = session.payment_method or {}
        shipping = session.shipping_method if session.shipping_address is not None else None
        data: dict[str, Any] = {
            **{k: customer.get(k, "") for k in ("firstname", "lastname", "email", "telephone")},
            "customer_id": customer.get("customer_id", 0), "customer_group_id": customer.get("customer_group_id", 1),
            "payment_method": {"name": payment.get("name", ""), "code": payment.get("code", "")}, "payment_code": "",
            "shipping_method": {"name": shipping["name"], "code": shipping["code"], "cost": shipping["cost"],
                                "tax_class_id": shipping["tax_class_id"]} if shipping else "",
            "shipping_code": "", "comment": session.comment, "ip": client.get("remote_addr", ""),
            "user_agent": client.get("user_agent", ""),
        }
        data.update(empty_address("payment"))  # config_checkout_payment_address is off: none is stored (§7)
        data.update(empty_address("shipping"))
        for name, value in (session.shipping_address or {}).items():
            data[f"shipping_{name}"] = value
        return data

    def _40_order_addHistory(self, session: Session40, post: PhpArray, client: Mapping) -> Any:
        order = self.shop.orders.get(php_int(post.get("order_id")))
        if order is None:
            return {"error": "Warning: Order could not be found!"}  # errors/30
        self.shop.add_history(order, php_int(post.get("order_status_id")), str(post.get("comment", "")),
                              str(post.get("notify", "")) not in ("", "0"))
        return {"success": ORDERS_OK}
