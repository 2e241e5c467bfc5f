"""Where a shop scenario runs: a stand-in started here (the default, what CI runs) or a real shop that already runs
and is named by `ABONNE_REAL_<PLATFORM>_*` settings. Tests talk to either only over HTTP, as abonne and the shop's
customers do: the shop's REST API to read what abonne did, its storefront API to order as a customer.

Nothing here installs a shop. A real target is left as found, apart from the orders the scenarios place: the
webhooks pointing at this run's abonne and the products the run created are removed afterwards.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

import requests
from woocommerce import API

from adapters.woocommerce.standin import WooCommerceStandin

REAL_WOOCOMMERCE = ("ABONNE_REAL_WOOCOMMERCE_URL", "ABONNE_REAL_WOOCOMMERCE_CONSUMER_KEY",
                    "ABONNE_REAL_WOOCOMMERCE_CONSUMER_SECRET")
REAL_PRESTASHOP = ("ABONNE_REAL_PRESTASHOP_URL", "ABONNE_REAL_PRESTASHOP_WEBSERVICE_KEY",
                   "ABONNE_REAL_PRESTASHOP_MODULE_SECRET", "ABONNE_REAL_PRESTASHOP_BRIDGE_PORT")
REAL_OPENCART = ("ABONNE_REAL_OPENCART_URL", "ABONNE_REAL_OPENCART_API_USERNAME", "ABONNE_REAL_OPENCART_API_KEY")
REAL_OPENCART30 = ("ABONNE_REAL_OPENCART30_URL", "ABONNE_REAL_OPENCART30_API_USERNAME",
                   "ABONNE_REAL_OPENCART30_API_KEY")
REAL_OPENCART40 = ("ABONNE_REAL_OPENCART40_URL", "ABONNE_REAL_OPENCART40_API_USERNAME",
                   "ABONNE_REAL_OPENCART40_API_KEY", "ABONNE_REAL_OPENCART40_EXTENSION_SECRET",
                   "ABONNE_REAL_OPENCART40_ORDER_ID")
REAL_SETTINGS = {"woocommerce": REAL_WOOCOMMERCE, "prestashop": REAL_PRESTASHOP, "opencart": REAL_OPENCART,
                 "opencart30": REAL_OPENCART30, "opencart40": REAL_OPENCART40}
TIMEOUT = 60


def missing_real_settings(platform: str, env: Mapping[str, str] = os.environ) -> list[str]:
    return [name for name in REAL_SETTINGS[platform] if not env.get(name)]


def configured_real_platforms(env: Mapping[str, str] = os.environ) -> list[str]:
    return [platform for platform in REAL_SETTINGS if not missing_real_settings(platform, env)]


@dataclass
class Customer:
    first_name: str
    last_name: str
    email: str
    address_1: str = "12 Vitosha Blvd"
    city: str = "Sofia"
    postcode: str = "1000"
    country: str = "BG"
    phone: str = "+359888123456"

    @classmethod
    def new(cls, first_name: str = "Maria", last_name: str = "Ivanova") -> Customer:
        """A customer no earlier run has used (a real shop keeps every run's orders)."""
        return cls(first_name, last_name, f"{first_name.lower()}.{secrets.token_hex(4)}@example.test")

    def address(self) -> dict[str, str]:
        return {"first_name": self.first_name, "last_name": self.last_name, "company": "",
                "address_1": self.address_1, "address_2": "", "city": self.city, "state": "",
                "postcode": self.postcode, "country": self.country, "phone": self.phone}


@dataclass
class WooCommerceTarget:
    kind: str  # "stand-in" or "real"
    url: str
    consumer_key: str
    consumer_secret: str
    on_close: list[Callable[[], None]] = field(default_factory=list)
    platform: str = "woocommerce"

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        self.api = API(url=self.url, consumer_key=self.consumer_key, consumer_secret=self.consumer_secret,
                       version="wc/v3", timeout=TIMEOUT)
        self.products: list[int] = []
        self.abonne_urls: list[str] = []  # whose webhooks to remove afterwards

    @property
    def netloc(self) -> str:
        """host:port, as the forward proxy names the shop."""
        parts = urlsplit(self.url)
        return f"{parts.hostname}:{parts.port or 80}"

    def shop_add_args(self, webhook_secret: str) -> list[str]:
        return ["--platform", "woocommerce", "--url", self.url, "--consumer-key", self.consumer_key,
                "--consumer-secret", self.consumer_secret, "--webhook-secret", webhook_secret]

    # ------------------------------------------------------------------ the shop's REST API

    def _call(self, method: str, endpoint: str, data: Any = None, **params: Any) -> Any:
        call = getattr(self.api, method.lower())
        response = call(endpoint, data, params=params) if data is not None else call(endpoint, params=params)
        assert response.status_code < 300, f"{method} {endpoint}: {response.status_code} {response.text[:500]}"
        return response.json()

    def create_product(self, name: str, price: str) -> int:
        """A plain virtual product; abonne's plan mapping is what makes it a subscription."""
        product = self._call("POST", "products", {"name": f"{name} {secrets.token_hex(3)}", "type": "simple",
                                                  "regular_price": price, "virtual": True, "status": "publish"})
        self.products.append(product["id"])
        return product["id"]

    def order(self, order_id: int) -> dict[str, Any]:
        return self._call("GET", f"orders/{order_id}")

    def notes(self, order_id: int) -> list[dict[str, Any]]:
        return self._call("GET", f"orders/{order_id}/notes")

    def child_orders(self, parent_id: int) -> list[dict[str, Any]]:
        return self._call("GET", "orders", parent=parent_id, per_page=100, orderby="id", order="asc")

    def refund(self, order_id: int, amount: str, reason: str) -> dict[str, Any]:
        """A manual refund from the order screen (money goes back outside WooCommerce: api_refund false)."""
        return self._call("POST", f"orders/{order_id}/refunds", {"amount": amount, "reason": reason,
                                                                 "api_refund": False})

    def webhooks_to(self, url_prefix: str) -> list[dict[str, Any]]:
        hooks = self._call("GET", "webhooks", per_page=100)
        return [hook for hook in hooks if hook["delivery_url"].startswith(url_prefix)]

    def set_webhook_status(self, webhook_id: int, status: str) -> None:
        self._call("PUT", f"webhooks/{webhook_id}", {"status": status})

    # ------------------------------------------------------------------ the storefront (Store API, as a customer)

    def place_order(self, lines: list[tuple[int, int]], customer: Customer, payment_method: str = "cod") -> int:
        """A guest checkout through the Store API, as the block checkout does it: a cart session (Cart-Token and
        Nonce from the shop), the items added, then checkout. Returns the order id."""
        store = f"{self.url}/wp-json/wc/store/v1/"
        browser = requests.Session()
        browser.headers["User-Agent"] = "Mozilla/5.0 (abonne shop scenario)"
        cart = browser.get(store + "cart", timeout=TIMEOUT)
        assert cart.status_code == 200, f"GET cart: {cart.status_code} {cart.text[:300]}"
        session = {"Nonce": cart.headers["Nonce"], "Cart-Token": cart.headers["Cart-Token"]}
        for product_id, quantity in lines:
            added = browser.post(store + "cart/add-item", json={"id": product_id, "quantity": quantity},
                                 headers=session, timeout=TIMEOUT)
            assert added.status_code == 201, f"add-item: {added.status_code} {added.text[:300]}"
            session["Nonce"] = added.headers.get("Nonce", session["Nonce"])
        address = customer.address()
        checkout = browser.post(store + "checkout", headers=session, timeout=TIMEOUT, json={
            "billing_address": {**address, "email": customer.email},
            "shipping_address": address, "payment_method": payment_method, "payment_data": [], "customer_note": ""})
        assert checkout.status_code == 200, f"checkout: {checkout.status_code} {checkout.text[:500]}"
        return checkout.json()["order_id"]

    # ------------------------------------------------------------------ afterwards

    def close(self) -> None:
        """Remove what this run left in the shop besides its orders: webhooks to this run's abonne, products."""
        try:
            for hook in [hook for url in self.abonne_urls for hook in self.webhooks_to(url)]:
                self.api.delete(f"webhooks/{hook['id']}", params={"force": True})
            for product_id in self.products:
                self.api.delete(f"products/{product_id}", params={"force": True})
        finally:
            for close in self.on_close:
                close()


def standin_woocommerce() -> WooCommerceTarget:
    """A stand-in started for one test; like a real shop it keeps real time and delivers webhooks on its own."""
    key, secret = f"ck_{secrets.token_hex(20)}", f"cs_{secrets.token_hex(20)}"
    standin = WooCommerceStandin(delivery_delay_s=0.05)
    standin.start(key, secret)
    return WooCommerceTarget("stand-in", standin.url, key, secret, on_close=[standin.stop])


def real_woocommerce(env: Mapping[str, str] = os.environ) -> WooCommerceTarget:
    url, key, secret = (env[name] for name in REAL_WOOCOMMERCE)
    return WooCommerceTarget("real", url, key, secret)


def main() -> int:
    """`make test-real` asks first: which real shops are configured? None is an error naming the settings."""
    platforms = configured_real_platforms()
    if not platforms:
        wanted = "; ".join(f"{platform}: {', '.join(names)}" for platform, names in REAL_SETTINGS.items())
        print(f"make test-real: no real shop is configured. Set, for each shop to test against: {wanted}")
        return 2
    print("make test-real: against " + ", ".join(f"{p} at {os.environ[REAL_SETTINGS[p][0]]}" for p in platforms))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
