"""The OpenCart targets (4.1, 4.0 and 3.0): the stand-in, or a real OpenCart with abonne's extension installed.

A real shop's extension is configured by hand once (bridge URL `http://127.0.0.1:<port>`, shop id 1, a signing
secret, the default paid/refunded/cancelled statuses). First orders are entered the way the admin's order editor
enters them, through the shop's own API (cash on delivery, status Pending); what the customer
reads in her account, the order history, is read from the shop's database (`mysql`), since OpenCart has no API
that reads it.
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from adapters.opencart.api import Api30, Api40, Api41, as_pairs
from bridge.clock import SettableClock

SETTINGS = ("URL", "API_USERNAME", "API_KEY", "EXTENSION_SECRET", "BRIDGE_PORT", "DATABASE", "PRODUCT_ID")
PREFIX = {"4.1": "ABONNE_REAL_OPENCART_", "4.0": "ABONNE_REAL_OPENCART40_", "3.0": "ABONNE_REAL_OPENCART30_"}
PENDING, REFUNDED = 1, 11
# The call that creates a renewal order, by version: how a test holds back the shop's answer to it.
CREATING_CALL = {"4.1": r"(^|&)call=confirm(&|$)", "4.0": r"route=api(%2F|/)sale(%2F|/)order\.confirm",
                 "3.0": r"route=api(%2F|/)order(%2F|/)add"}
ADDRESS = {"firstname": "Jane", "lastname": "Roaster", "company": "", "address_1": "1 Bean Street", "address_2": "",
           "city": "New York", "postcode": "10001", "country_id": "223", "zone_id": "3655"}
CUSTOMER = {"customer_id": "1", "customer_group_id": "1", "firstname": "Jane", "lastname": "Roaster",
            "email": "jane@example.com", "telephone": "5551234567"}


def real_settings(version: str) -> tuple[str, ...]:
    return tuple(PREFIX[version] + name for name in SETTINGS)


@dataclass
class OpenCartTarget:
    kind: str
    version: str
    url: str
    username: str
    key: str
    secret: str
    bridge_port: int | None = None
    database: str = ""
    product: int = 0
    standin: Any = None
    clock: SettableClock | None = None
    on_close: list[Callable[[], None]] = field(default_factory=list)

    @property
    def netloc(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.hostname}:{parts.port or 80}"

    def shop_add_args(self) -> list[str]:
        return ["--platform", "opencart", "--url", self.url, "--api-username", self.username, "--api-key", self.key,
                "--webhook-secret", self.secret, "--oc-version", self.version]

    def connect_extension(self, abonne_url: str, shop_id: int) -> None:
        if self.standin is not None:
            self.standin.connect_extension(abonne_url, shop_id, self.secret)
            return
        assert (abonne_url.rsplit(":", 1)[1], shop_id) == (str(self.bridge_port), 1), \
            f"the real shop's extension sends to port {self.bridge_port}, shop 1; abonne is {abonne_url}, {shop_id}"

    def subscription_product(self) -> int:
        if self.standin is not None:
            return self.standin.add_product("Coffee Club Monthly", "19.90", "COFFEE-M")
        return self.product

    def place_order(self, product_id: int) -> int:
        if self.standin is not None:
            customer = self.standin.add_customer("jane@example.com", "Jane", "Roaster")
            self.standin.add_address(customer, "1 Bean Street", "New York", "10001")
            return self.standin.place_order(customer, [(product_id, 1)], payment_code="cod", status_id=PENDING)
        if self.version == "3.0":
            api = Api30(self.url, self.username, self.key)
            api.call("api/customer", list(CUSTOMER.items()))
            api.call("api/cart/add", as_pairs({"product": [{"product_id": str(product_id), "quantity": "1"}]}))
            api.call("api/payment/address", list(ADDRESS.items()))
            api.call("api/shipping/address", list(ADDRESS.items()))
            api.call("api/shipping/methods", [])
            api.call("api/shipping/method", [("shipping_method", "free.free")])
            api.call("api/payment/methods", [])
            api.call("api/payment/method", [("payment_method", "cod")])
            return int(api.call("api/order/add", [("order_status_id", str(PENDING)), ("comment", "")])["order_id"])
        if self.version == "4.0":  # a storefront-like order through 4.0's session API, paid on delivery
            api40 = Api40(self.url, self.username, self.key)
            api40.call("api/sale/customer", list(CUSTOMER.items()))
            api40.call("api/sale/cart.add", [("product_id", str(product_id)), ("quantity", "1")])
            api40.call("api/sale/shipping_address", [("shipping_address_id", "0"), *ADDRESS.items()])
            api40.call("api/sale/shipping_method", [])
            api40.call("api/sale/shipping_method.save", [("shipping_method", "free.free")])
            api40.call("api/sale/payment_method", [])
            api40.call("api/sale/payment_method.save", [("payment_method", "cod.cod")])
            return int(api40.call("api/sale/order.confirm", [("order_status_id", str(PENDING))])["order_id"])
        order = {**CUSTOMER, "product": [{"product_id": str(product_id), "quantity": "1"}],
                 **{f"payment_{k}": v for k, v in ADDRESS.items()}, **{f"shipping_{k}": v for k, v in ADDRESS.items()},
                 "shipping_method": {"name": "Free Shipping", "code": "free.free", "cost": "0.00", "tax_class_id": "-1"},
                 "payment_method": {"name": "Cash On Delivery", "code": "cod.cod"}, "order_id": "0",
                 "order_status_id": str(PENDING), "comment": ""}
        return int(Api41(self.url, self.username, self.key).call("confirm", as_pairs(order))["order_id"])

    def history(self, order_id: int) -> list[dict[str, str]]:
        """The order's history as the customer reads it in her account: status, comment, whether she was mailed."""
        if self.standin is not None:
            return [{"status": str(h["order_status_id"]), "comment": str(h["comment"]), "notify": str(h["notify"])}
                    for h in self.standin.order_history(order_id)]
        rows = self._mysql("SELECT order_status_id, notify, REPLACE(comment, '\\n', ' ') FROM oc_order_history "
                           f"WHERE order_id = {int(order_id)} ORDER BY order_history_id")
        return [dict(zip(("status", "notify", "comment"), row.split("\t", 2))) for row in rows]

    def renewal_orders(self, after: int) -> list[dict[str, str]]:
        """Orders after `after` whose payment is abonne's (their history and totals as stored)."""
        if self.standin is not None:
            found = [self.standin.order(i) for i in range(after + 1, after + 50)]
            return [{"order_id": str(o["order_id"]), "total": str(o["total"]), "status": str(o["order_status_id"]),
                     "comment": o["comment"]} for o in found if o and _payment_code(o) == "abonne.card"]
        code = "payment_code = 'abonne.card'" if self.version == "3.0" else "payment_method LIKE '%abonne.card%'"
        rows = self._mysql("SELECT order_id, total, order_status_id, comment FROM oc_order WHERE order_id > "
                           f"{int(after)} AND {code} ORDER BY order_id")
        return [dict(zip(("order_id", "total", "status", "comment"), row.split("\t", 3))) for row in rows]

    def set_status(self, order_id: int, status: int) -> None:
        """The owner's status change in the admin (its order page calls the same API)."""
        if self.standin is not None:
            self.standin.set_order_status(order_id, status)
            return
        change = [("order_status_id", str(status)), ("comment", ""), ("notify", "0"), ("override", "0")]
        if self.version == "3.0":
            Api30(self.url, self.username, self.key).call("api/order/history", change, order_id=str(order_id))
        elif self.version == "4.0":
            Api40(self.url, self.username, self.key).call("api/sale/order.addHistory",
                                                          [("order_id", str(order_id)), *change])
        else:
            Api41(self.url, self.username, self.key).call("history_add", [("order_id", str(order_id)), *change])

    def customer_of(self, order_id: int) -> int:
        if self.standin is not None:
            return int(self.standin.order(order_id)["customer_id"])
        return int(self._mysql(f"SELECT customer_id FROM oc_order WHERE order_id = {int(order_id)}")[0])

    def storefront_cart(self, customer_id: int) -> list[str]:
        """What the customer would find in her storefront cart at her next login (4.1's S2 leak puts API rows
        there): one line per cart row."""
        if self.standin is not None:
            return [str(row) for row in self.standin.storefront_cart(customer_id)]
        return self._mysql(f"SELECT cart_id, product_id, quantity FROM oc_cart WHERE customer_id = {int(customer_id)}")

    def run_extension_cron(self) -> None:
        """What the shop's crontab does for the extension, once its queued events are due (the first resend comes
        a minute after the failure): the stand-in's clock moves that minute; a real shop's crontab runs on its
        own."""
        if self.standin is not None:
            self.clock.advance(timedelta(seconds=61))
            self.standin.resend_due()

    def _mysql(self, sql: str) -> list[str]:
        return subprocess.run(["mysql", "-uroot", "-N", "-B", self.database, "-e", sql], capture_output=True,
                              text=True, check=True).stdout.splitlines()

    def close(self) -> None:
        for close in self.on_close:
            close()


def _payment_code(order: Mapping[str, Any]) -> str:
    method = order.get("payment_method")
    return str(method.get("code")) if isinstance(method, dict) else str(order.get("payment_code", ""))


def standin_opencart(version: str) -> OpenCartTarget:
    from adapters.opencart.standin import OpenCartStandin
    standin = OpenCartStandin()
    clock = SettableClock(datetime.now(timezone.utc))
    running = standin.start(version=version, clock=clock)
    if version in ("3.0", "4.0"):
        standin.enable_free_shipping()
    return OpenCartTarget("stand-in", version, running.url, running.api_username, running.api_key,
                          "standin-extension-secret", standin=standin, clock=clock, on_close=[standin.stop])


def real_opencart(version: str, env: Mapping[str, str] = os.environ) -> OpenCartTarget:
    url, username, key, secret, port, database, product = (env[name] for name in real_settings(version))
    return OpenCartTarget("real", version, url, username, key, secret, bridge_port=int(port), database=database,
                          product=int(product))
