"""The PrestaShop target: the stand-in, or a real PrestaShop 8 with abonne's module installed.

A real shop's module is configured by hand once (its settings page): bridge URL `http://127.0.0.1:<port>`, shop
id 1 and a signing secret. The scenario's abonne then listens on that port with a fresh database, whose first shop
is shop 1, and uses the same secret: so nothing in the shop is changed behind its back.

Customers order as they do in the shop's storefront: signed in, product added to the cart, address and carrier
confirmed, bank wire chosen (an unpaid order the pay link then pays). Everything else is read and done through the
Webservice, as the owner's back office would.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import requests

from adapters.prestashop.webservice import Languages, Webservice, listed, one, to_xml
from bridge.clock import SettableClock
from tests.shops.targets import REAL_PRESTASHOP, Customer

TIMEOUT = 60
PASSWORD = "Scenario-Pass-2026"


@dataclass
class PrestaShopTarget:
    kind: str  # "stand-in" or "real"
    url: str
    key: str
    module_secret: str
    bridge_port: int | None = None  # the port the real module's bridge URL names; None: any (stand-in)
    standin: Any = None
    clock: Any = None  # the stand-in's: its module's backoff runs on it
    on_close: list[Callable[[], None]] = field(default_factory=list)
    platform: str = "prestashop"

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        self.ws = Webservice(self.url, self.key, timeout=TIMEOUT)
        self.products: list[int] = []

    @property
    def netloc(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.hostname}:{parts.port or 80}"

    def shop_add_args(self, webhook_secret: str) -> list[str]:
        return ["--platform", "prestashop", "--url", self.url, "--webservice-key", self.key,
                "--webhook-secret", self.module_secret]

    def update_module(self, modules_dir: str) -> None:
        """Put the module zip just built into a real shop, as an owner updates a module by hand: unpacked into its
        modules/ folder, owned like the folder, the shop's cache cleared. The module was installed and configured
        once (bin/console prestashop:module install abonne, then its settings page); this keeps that."""
        from adapters.prestashop.module.build import build
        target = Path(modules_dir)
        owner = target.stat()
        with zipfile.ZipFile(build(Path(tempfile.mkdtemp()) / "abonne-prestashop.zip")) as archive:
            archive.extractall(target)  # fresh file times: PHP's OPcache sees new code
        for path in [target / "abonne", *(target / "abonne").rglob("*")]:
            os.chown(path, owner.st_uid, owner.st_gid)
        shutil.rmtree(target.parent / "var" / "cache", ignore_errors=True)

    def connect_module(self, abonne_url: str, shop_id: int) -> None:
        """Point the module at this abonne: the stand-in's by call, a real one's was set by hand (see above)."""
        if self.standin is not None:
            self.standin.connect_module(abonne_url, shop_id, self.module_secret)
            return
        assert (abonne_url.rsplit(":", 1)[1], shop_id) == (str(self.bridge_port), 1), \
            f"the real shop's module sends to port {self.bridge_port}, shop 1; abonne is {abonne_url}, shop {shop_id}"

    # ------------------------------------------------------------------ the catalog and the storefront

    def create_product(self, name: str, price: str) -> int:
        """A product without tax, in stock: its price is what the customer pays."""
        label = f"{name} {secrets.token_hex(3)}"
        if self.standin is not None:  # the stand-in's catalog is filled by hand (it taxes at 23 %)
            return self.standin.add_product(label, price, f"SCN-{secrets.token_hex(3).upper()}")
        # Not from the blank schema: a blank product trips PrestaShop 8.2 (position 0, then a PHP warning), so the
        # owner's tool sends only these fields, as the captured product create did.
        answer = requests.post(f"{self.url}/api/products", params={"output_format": "JSON"}, auth=(self.key, ""),
                               timeout=TIMEOUT, data=to_xml("product", {
            "id_category_default": 2, "id_tax_rules_group": 0, "type": "simple", "id_shop_default": 1,
            "reference": f"SCN-{secrets.token_hex(3).upper()}", "state": 1, "product_type": "standard",
            "minimal_quantity": 1, "price": price, "active": 1, "redirect_type": "default",
            "available_for_order": 1, "condition": "new", "show_price": 1, "visibility": "both",
            "link_rewrite": Languages({1: re.sub(r"[^a-z0-9]+", "-", label.lower())}), "name": Languages({1: label}),
            "associations": {"categories": [("category", {"id": 2})]}}),
                               headers={"Content-Type": "application/xml"})
        assert answer.status_code == 201, answer.text[:300]
        product = one(answer.json(), "product")
        self.products.append(int(product["id"]))
        stock = listed(self.ws.get("stock_availables", {"filter[id_product]": f"[{product['id']}]",
                                                        "display": "[id]"}), "stock_availables")
        self.ws.patch(f"stock_availables/{stock[0]['id']}", "stock_available",
                      {"id": stock[0]["id"], "quantity": 100000})
        return int(product["id"])

    def place_order(self, lines: list[tuple[int, int]], customer: Customer) -> int:
        if self.standin is not None:
            customer_id = self.standin.add_customer(customer.email, customer.first_name, customer.last_name)
            self.standin.add_address(customer_id, customer.address_1, customer.city, customer.postcode,
                                     country=customer.country, phone=customer.phone)
            return self.standin.place_order(customer_id, lines, payment_module="ps_wirepayment", carrier_id=1)
        return self._storefront_order(lines, customer)

    def _customer(self, customer: Customer) -> tuple[int, int]:
        country = listed(self.ws.get("countries", {"filter[iso_code]": f"[{customer.country}]",
                                                   "display": "[id]"}), "countries")[0]["id"]
        created = one(self.ws.post("customers", "customer", {
            "id_default_group": 3, "id_lang": 1, "passwd": PASSWORD, "lastname": customer.last_name,
            "firstname": customer.first_name, "email": customer.email, "newsletter": 0, "optin": 0, "active": 1,
            "is_guest": 0, "associations": {"groups": [("group", {"id": 3})]}}), "customer")
        address = one(self.ws.post("addresses", "address", {
            "id_customer": created["id"], "id_country": country, "alias": "Home", "lastname": customer.last_name,
            "firstname": customer.first_name, "address1": customer.address_1, "postcode": customer.postcode,
            "city": customer.city, "phone": customer.phone}), "address")
        return int(created["id"]), int(address["id"])

    def _storefront_order(self, lines: list[tuple[int, int]], customer: Customer) -> int:
        """Sign in, fill the cart, confirm address and the free carrier, pay by bank wire: the order id."""
        _, address_id = self._customer(customer)
        carrier = listed(self.ws.get("carriers", {"filter[is_free]": "[1]", "filter[active]": "[1]",
                                                  "filter[deleted]": "[0]", "display": "[id]"}), "carriers")[0]["id"]
        browser = requests.Session()
        browser.get(f"{self.url}/index.php?controller=authentication", timeout=TIMEOUT)
        signed_in = browser.post(f"{self.url}/index.php?controller=authentication", timeout=TIMEOUT, data={
            "back": "my-account", "email": customer.email, "password": PASSWORD, "submitLogin": "1"})
        assert "mylogout" in signed_in.text or "logout" in signed_in.text, "the customer could not sign in"
        for product_id, quantity in lines:
            page = browser.get(f"{self.url}/index.php?controller=product&id_product={product_id}", timeout=TIMEOUT)
            token = re.search(r'"static_token":"([0-9a-f]+)"', page.text).group(1)
            added = browser.post(f"{self.url}/index.php?controller=cart", timeout=TIMEOUT, data={
                "token": token, "id_product": product_id, "id_customization": 0, "qty": quantity, "add": 1,
                "action": "update", "ajax": 1})
            assert added.json().get("success"), added.text[:300]
        browser.get(f"{self.url}/index.php?controller=order", timeout=TIMEOUT)
        browser.post(f"{self.url}/index.php?controller=order", timeout=TIMEOUT, data={
            "id_address_delivery": address_id, "id_address_invoice": address_id, "confirm-addresses": "1"})
        payment = browser.post(f"{self.url}/index.php?controller=order", timeout=TIMEOUT, data={
            f"delivery_option[{address_id}]": f"{carrier},", "delivery_message": "", "confirmDeliveryOption": "1"})
        action = re.search(r'action="([^"]*ps_wirepayment[^"]*validation[^"]*)"', payment.text)
        validation = (action.group(1) if action else
                      f"{self.url}/index.php?fc=module&module=ps_wirepayment&controller=validation").replace("&amp;", "&")
        confirmed = browser.post(validation, timeout=TIMEOUT, data={"conditions_to_approve[terms-and-conditions]": "1"})
        order = re.search(r"id_order=(\d+)", confirmed.url)
        assert order, f"the checkout did not end on an order confirmation: {confirmed.url}"
        return int(order.group(1))

    # ------------------------------------------------------------------ what the shop shows

    def order(self, order_id: int) -> dict[str, Any]:
        return one(self.ws.get(f"orders/{order_id}"), "order")

    def payments(self, order_id: int) -> list[dict[str, Any]]:
        reference = self.order(order_id)["reference"]
        return listed(self.ws.get("order_payments", {"filter[order_reference]": f"[{reference}]",
                                                     "display": "full"}), "order_payments")

    def messages(self, order_id: int) -> list[dict[str, Any]]:
        threads = listed(self.ws.get("customer_threads", {"filter[id_order]": f"[{order_id}]", "display": "[id]"}),
                         "customer_threads")
        found: list[dict[str, Any]] = []
        for thread in threads:
            found += listed(self.ws.get("customer_messages", {"filter[id_customer_thread]": f"[{thread['id']}]",
                                                              "display": "full"}), "customer_messages")
        return found

    def renewal_orders(self, customer_id: Any) -> list[dict[str, Any]]:
        return listed(self.ws.get("orders", {"filter[module]": "[abonne]", "filter[id_customer]": f"[{customer_id}]",
                                             "display": "full", "sort": "[id_ASC]"}), "orders")

    def state_id(self, name: str) -> str:
        rows = listed(self.ws.get("configurations", {"filter[name]": f"[{name}]", "display": "[value]"}),
                      "configurations")
        return str(rows[0]["value"])

    def set_state(self, order_id: int, state: str) -> None:
        """What the owner does on the order page: a new state (the module reports it)."""
        self.ws.post("order_histories", "order_history", {"id_order": order_id, "id_order_state": state})

    def run_module_cron(self) -> None:
        """What the shop's crontab does for the module, once its queued events are due (the first resend comes a
        minute after the failure): the stand-in's clock moves that minute; a real shop's crontab runs on its own."""
        if self.standin is not None:
            self.clock.advance(timedelta(seconds=61))
            self.standin.resend_due()

    def close(self) -> None:
        try:
            for product_id in self.products:
                self.ws.patch(f"products/{product_id}", "product", {"id": product_id, "active": 0})
        finally:
            for close in self.on_close:
                close()


def real_prestashop(env: Mapping[str, str] = os.environ) -> PrestaShopTarget:
    url, key, secret, port = (env[name] for name in REAL_PRESTASHOP)
    return PrestaShopTarget("real", url, key, secret, bridge_port=int(port))


def standin_prestashop() -> PrestaShopTarget:
    from adapters.prestashop.standin import PrestaShopStandin
    key = secrets.token_hex(16).upper()
    clock = SettableClock(datetime.now(timezone.utc))
    standin = PrestaShopStandin()
    standin.start(key, clock=clock)
    return PrestaShopTarget("stand-in", standin.url, key, "standin-module-secret", standin=standin, clock=clock,
                            on_close=[standin.stop])
