"""The demo's shop, per platform: a stand-in started on a free loopback port, connected the way an owner connects
a real one, and read the way the owner and the customer would see it."""
from __future__ import annotations

import re
import secrets
from typing import Any, Callable, Protocol

from adapters.prestashop.standin import PrestaShopStandin
from adapters.woocommerce.standin import WooCommerceStandin
from bridge.context import Bridge
from bridge.services import setup
from bridge.store.tables import Shop

PRODUCT, PRICE, SKU = "Coffee Club Monthly", "19.90", "COFFEE-CLUB-M"
CUSTOMER = {"first_name": "Maria", "last_name": "Ivanova", "address_1": "12 Vitosha Blvd", "city": "Sofia",
            "postcode": "1000", "country": "BG", "email": "maria.ivanova@example.test", "phone": "+359888123456"}
SHOP_NAME = "Sofia Coffee Roasters"


class DemoShop(Protocol):
    title: str  # "stand-in WooCommerce"
    where: str  # a line for the final summary: its API's address

    def start(self, clock: Callable[[], Any]) -> None: ...
    def stop(self) -> None: ...
    def connect(self, bridge: Bridge) -> tuple[Shop, str]: ...
    def add_subscription_product(self) -> tuple[int, str]: ...
    def place_order(self, product_id: int) -> int: ...
    def links(self, order_id: int, kind: str) -> list[str]: ...
    def is_paid(self, order_id: int) -> bool: ...
    def renewal_orders(self, order_id: int) -> list[int]: ...


class WooCommerceDemo:
    title = "stand-in WooCommerce"

    def __init__(self) -> None:
        self.key, self.secret = f"ck_{secrets.token_hex(20)}", f"cs_{secrets.token_hex(20)}"
        self.standin = WooCommerceStandin(delivery_delay_s=0.05, site_name=f"{SHOP_NAME} (stand-in shop)")

    def start(self, clock: Callable[[], Any]) -> None:
        self.standin.start(self.key, self.secret)  # the shop keeps real time, as OAuth needs

    def stop(self) -> None:
        self.standin.stop()

    @property
    def where(self) -> str:
        return f"{self.standin.url}wp-json/wc/v3/   (WooCommerce REST API, OAuth 1.0a)"

    def connect(self, bridge: Bridge) -> tuple[Shop, str]:
        shop = setup.add_shop(bridge, "woocommerce", {"url": self.standin.url, "consumer_key": self.key,
                                                      "consumer_secret": self.secret,
                                                      "webhook_secret": secrets.token_urlsafe(24)},
                              name=SHOP_NAME, check=True)
        lines, pinged = setup.register_webhooks(bridge, shop)
        if not pinged:
            raise RuntimeError("the stand-in shop created its webhooks but its ping never reached abonne")
        return shop, "as `abonne shop add --register-webhooks` does; its REST keys were checked; " + "; ".join(lines)

    def add_subscription_product(self) -> tuple[int, str]:
        product = self.standin.add_product(PRODUCT, PRICE, SKU, meta={"_subscription_period": "month",
                                                                      "_subscription_period_interval": "1"})
        return product, "a WooCommerce Subscriptions-style product: abonne recognizes it without any plan mapping"

    def place_order(self, product_id: int) -> int:
        return self.standin.place_order(customer=CUSTOMER, lines=[(product_id, 1)], payment_method="mypos")

    def links(self, order_id: int, kind: str) -> list[str]:
        notes = sorted(self.standin.notes(order_id), key=lambda n: n.id)  # the shop lists them newest first
        return [found.group(1) for note in notes if note.customer_note
                and (found := re.search(rf"(http://\S+{kind}\S+?)\s", note.note + " "))]

    def is_paid(self, order_id: int) -> bool:
        return bool((self.standin.order(order_id) or {}).get("date_paid_gmt"))

    def renewal_orders(self, order_id: int) -> list[int]:
        return [o["id"] for o in self.standin.orders() if o["parent_id"] == order_id]


class PrestaShopDemo:
    title = "stand-in PrestaShop"

    def __init__(self) -> None:
        self.key = secrets.token_hex(16).upper()
        self.secret = secrets.token_urlsafe(24)
        self.standin = PrestaShopStandin(shop_name=f"{SHOP_NAME} (stand-in shop)")
        self.customer = 0

    def start(self, clock: Callable[[], Any]) -> None:
        self.standin.start(self.key, clock=clock)  # the module signs its events by the shop's (travelling) clock

    def stop(self) -> None:
        self.standin.stop()

    @property
    def where(self) -> str:
        return f"{self.standin.url}api/   (PrestaShop Webservice, key {self.key})"

    def connect(self, bridge: Bridge) -> tuple[Shop, str]:
        shop = setup.add_shop(bridge, "prestashop", {"url": self.standin.url, "webservice_key": self.key,
                                                     "webhook_secret": self.secret,
                                                     "subscription_feature": "Subscription"},
                              name=SHOP_NAME, check=True)
        self.standin.connect_module(bridge.settings.public_url, shop.id, self.secret)
        return shop, ("as `abonne shop add --platform prestashop` does; the Webservice key's permissions were "
                      "checked, and abonne's module in the shop now sends its signed order events")

    def add_subscription_product(self) -> tuple[int, str]:
        product = self.standin.add_product(PRODUCT, PRICE, SKU, features={"Subscription": "1 month"})
        return product, "its product feature Subscription = \"1 month\" makes it a subscription, no plan mapping"

    def place_order(self, product_id: int) -> int:
        self.customer = self.standin.add_customer(CUSTOMER["email"], CUSTOMER["first_name"], CUSTOMER["last_name"])
        self.standin.add_address(self.customer, CUSTOMER["address_1"], CUSTOMER["city"], CUSTOMER["postcode"],
                                 country=CUSTOMER["country"], phone=CUSTOMER["phone"])
        return self.standin.place_order(self.customer, [(product_id, 1)], payment_module="ps_wirepayment",
                                        carrier_id=1)

    def links(self, order_id: int, kind: str) -> list[str]:
        return [found.group(1) for message in self.standin.order_messages(order_id)
                if (found := re.search(rf"(http://\S+{kind}\S+?)(?:\s|$)", message))]

    def is_paid(self, order_id: int) -> bool:
        return str((self.standin.order(order_id) or {}).get("current_state")) == "2"

    def renewal_orders(self, order_id: int) -> list[int]:
        return [int(row["id"]) for row in self.standin.rows("orders")
                if row.get("module") == "abonne" and str(row.get("id_customer")) == str(self.customer)]


DEMO_SHOPS: dict[str, Callable[[], DemoShop]] = {"woocommerce": WooCommerceDemo, "prestashop": PrestaShopDemo}
