"""WooCommerce: webhooks in, REST API out. Nothing outside this folder knows a WooCommerce header or field."""
from __future__ import annotations

from typing import ClassVar, Mapping

from adapters.woocommerce.rest import WooRest
from adapters.woocommerce.webhook import parse_order, parse_order_body, verify_webhook
from bridge.ports import (ConnectionReport, SettingField, ShopError, ShopOrder, ShopProduct, ShopWebhook,
                          SubscriptionTerms)

WEBHOOK_TOPICS = ("order.created", "order.updated", "order.deleted")
_PERIODS = ("day", "week", "month", "year")


class WooCommerceShop:
    platform: ClassVar[str] = "woocommerce"
    settings_fields: ClassVar[tuple[SettingField, ...]] = (
        SettingField("url", "Shop URL", url=True, help="The WordPress site address, e.g. https://shop.example.com"),
        SettingField("consumer_key", "REST API consumer key", secret=True,
                     help="WooCommerce > Settings > Advanced > REST API, with Read/Write permission"),
        SettingField("consumer_secret", "REST API consumer secret", secret=True),
        SettingField("webhook_secret", "Webhook secret", secret=True,
                     help="The secret of the shop's order webhooks (abonne sets it when it registers them)"),
    )

    def __init__(self, settings: Mapping[str, str], secrets: Mapping[str, str], timeout: float = 30.0):
        self.url = settings["url"].rstrip("/")
        self._webhook_secret = secrets["webhook_secret"]
        self._rest = WooRest(self.url, secrets["consumer_key"], secrets["consumer_secret"], timeout=timeout)

    def verify_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> ShopWebhook:
        return verify_webhook(self._webhook_secret, headers, raw_body)

    def parse_order(self, raw_body: bytes) -> ShopOrder:
        return parse_order_body(raw_body)

    def get_order(self, order_id: str) -> ShopOrder:
        return parse_order(self._rest.request("GET", f"orders/{int(order_id)}"))

    def get_product(self, product_id: str) -> ShopProduct:
        try:
            data = self._rest.request("GET", f"products/{int(product_id)}")
        except ShopError as error:
            if error.status == 404:  # deleted since the order: it can no longer say it is a subscription
                return ShopProduct(product_id=str(product_id), sku="", name="", price="0", terms=None)
            raise
        meta = {m.get("key"): m.get("value") for m in data.get("meta_data") or [] if isinstance(m, dict)}
        return ShopProduct(product_id=str(data["id"]), sku=str(data.get("sku") or ""),
                           name=str(data.get("name") or ""), price=str(data.get("price") or "0"),
                           terms=_terms_from_meta(meta))

    def add_customer_note(self, order_id: str, text: str) -> None:
        # customer_note: true makes WooCommerce show the note in the order and e-mail it to the customer.
        self._rest.request("POST", f"orders/{int(order_id)}/notes", body={"note": text, "customer_note": True})

    def mark_paid(self, order_id: str, transaction_id: str) -> None:
        # set_paid alone (no status) runs WooCommerce's payment_complete(), which acts only on an unpaid order.
        self._rest.request("PUT", f"orders/{int(order_id)}", body={"set_paid": True, "transaction_id": transaction_id})

    def test_connection(self) -> ConnectionReport:
        try:
            data = self._rest.request("GET", "orders", params={"per_page": 1})
        except ShopError as error:
            return ConnectionReport(False, error.detail)
        if not isinstance(data, list):
            return ConnectionReport(False, "the shop answered, but not with a list of orders: this does not look "
                                           "like the WooCommerce REST API v3")
        return ConnectionReport(True, f"connected to WooCommerce at {self.url}: the REST API answered with the "
                                      "key's permissions")

    def register_webhooks(self, delivery_url: str) -> list[str]:
        existing = self._rest.request("GET", "webhooks", params={"per_page": 100})
        done = []
        for topic in WEBHOOK_TOPICS:
            body = {"name": f"abonne {topic}", "topic": topic, "delivery_url": delivery_url,
                    "secret": self._webhook_secret, "status": "active"}
            match = next((w for w in existing if w.get("topic") == topic and w.get("delivery_url") == delivery_url),
                         None)
            if match:
                self._rest.request("PUT", f"webhooks/{int(match['id'])}", body=body)
                done.append(f"webhook {match['id']} ({topic}) updated and set active")
            else:
                created = self._rest.request("POST", "webhooks", body=body)
                done.append(f"webhook {created['id']} ({topic}) created")
        return done


def _terms_from_meta(meta: Mapping[str, object]) -> SubscriptionTerms | None:
    """WooCommerce Subscriptions-style product meta; `_subscription_length` counts periods, not payments."""
    period = str(meta.get("_subscription_period") or "")
    if period not in _PERIODS:
        return None
    every = _positive_int(meta.get("_subscription_period_interval"), default=1)
    length = _positive_int(meta.get("_subscription_length"), default=0)
    trial_unit = str(meta.get("_subscription_trial_period") or "day")
    return SubscriptionTerms(
        unit=period,
        every=every,
        cycles=max(1, length // every) if length else None,
        trial_unit=trial_unit if trial_unit in _PERIODS else "day",
        trial_length=_positive_int(meta.get("_subscription_trial_length"), default=0),
        signup_fee=str(meta.get("_subscription_sign_up_fee") or "0") or "0",
    )


def _positive_int(value: object, default: int) -> int:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default
