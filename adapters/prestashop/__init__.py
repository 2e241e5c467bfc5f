"""PrestaShop 1.7.8 to 8.2: orders come in as signed events from abonne's module (README, "Events from shop-side
modules"); reads and renewal orders go through the Webservice (XML in, JSON out).

A renewal order is made the way PrestaShop makes every order, from a cart (fixtures/PRESTASHOP.md section 3): a
fresh cart with the first order's customer, addresses and `delivery_option`, each line pinned to the agreed net
price by a specific price that only this cart sees, the cart's total read back from the module and compared with
the charge (a mismatch would land the order in "Payment error" while booking the payment, so it stops there with
both figures), then the order with module `abonne` and `total_paid` equal to the charge, "Payment accepted", the
myPOS transaction id on its payment, and a private note.
"""
from __future__ import annotations

import hashlib
import logging
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Callable, ClassVar, Mapping

import requests

from adapters.module_events import parse_event_order, sign_read, verify_event
from adapters.periods import parse_period
from adapters.prestashop.webservice import Webservice, WebserviceError, listed, one
from bridge.domain.money import Money, currency_exponent
from bridge.ports import (
    ConnectionReport, CreatedOrder, RenewalOrder, SettingField, ShopError, ShopOrder, ShopProduct, ShopWebhook,
    SubscriptionTerms, WebhookRepair,
)

log = logging.getLogger(__name__)

MODULE = "abonne"
PAYMENT_LABEL = "Card on file, myPOS"  # plus the transaction id: the marker written with the order (isGenericName)
CARD_PAYMENT_METHOD = "Card, myPOS"  # what a first order's payment row says once the customer paid through abonne
PAID_STATE = "PS_OS_PAYMENT"
ENDED_STATES = ("PS_OS_CANCELED", "PS_OS_REFUND", "PS_OS_ERROR")
# What abonne does with the key, by resource: `abonne shop test` names each one the key lacks.
NEEDED = {
    "orders": ("get", "post"), "carts": ("get", "post"), "order_histories": ("get", "post"),
    "order_payments": ("get", "patch"), "order_details": ("get",), "customers": ("get",), "addresses": ("get",),
    "countries": ("get",), "currencies": ("get",), "products": ("get",), "product_features": ("get",),
    "product_feature_values": ("get",), "order_states": ("get",), "configurations": ("get",),
    "specific_prices": ("post", "delete"), "customer_threads": ("get", "post"), "customer_messages": ("post",),
}


class PrestaShopShop:
    platform: ClassVar[str] = "prestashop"
    settings_fields: ClassVar[tuple[SettingField, ...]] = (
        SettingField("url", "Shop URL", url=True, help="The shop's address, e.g. https://shop.example.com"),
        SettingField("webservice_key", "Webservice key", secret=True,
                     help="Advanced Parameters > Webservice: a 32-character key; `abonne shop test` names any "
                          "permission it lacks"),
        SettingField("webhook_secret", "Module signing secret", secret=True,
                     help="The signing secret in the abonne module's configuration page"),
        SettingField("subscription_feature", "Subscription feature", required=False,
                     help="A product feature whose value is the billing period (e.g. 'Subscription' = '1 month'); "
                          "leave empty to use plan mappings only"),
    )

    def __init__(self, settings: Mapping[str, str], secrets: Mapping[str, str], timeout: float = 30.0,
                 clock: Callable[[], datetime] | None = None):
        self.url = settings["url"].rstrip("/")
        self._feature = (settings.get("subscription_feature") or "").strip()
        self._secret = secrets["webhook_secret"]
        self._ws = Webservice(self.url, secrets["webservice_key"], timeout=timeout)
        self._now = clock or (lambda: datetime.now(timezone.utc))
        self._states: dict[str, str] | None = None
        self._state_names: dict[str, str] = {}
        self._listing: dict[str, Any] | None = None  # while orders are listed: each customer, address... read once

    @staticmethod
    def connect_instructions(delivery_url: str, shop_id: int) -> str:
        bridge_url = delivery_url.rsplit("/webhooks/", 1)[0]
        return (f"Install the abonne module in the shop (Modules > Module Manager > Upload a module: "
                f"dist/abonne-prestashop.zip from `make modules`), then in its configuration set the bridge URL "
                f"{bridge_url}, shop id {shop_id} and the same signing secret, and press \"Send a test ping\".")

    # ------------------------------------------------------------------ events in

    def verify_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> ShopWebhook:
        return verify_event(self._secret, headers, raw_body, self._now())

    def parse_order(self, raw_body: bytes) -> ShopOrder:
        return parse_event_order(raw_body)

    # ------------------------------------------------------------------ reads

    def get_order(self, order_id: str) -> ShopOrder:
        order = one(self._ws.get(f"orders/{int(order_id)}"), "order")
        return self._normalized(order)

    def orders_modified_since(self, since: datetime) -> list[ShopOrder]:
        """Orders whose date_upd is at or after `since`, oldest change first. PrestaShop stores shop-local times
        to the second: the query starts a second early, in the shop's time zone."""
        local = since.astimezone(self._zone()).replace(tzinfo=None) - timedelta(seconds=1)  # `>` is strict
        found: list[ShopOrder] = []
        offset = 0
        while True:
            page = listed(self._ws.get("orders", {"filter[date_upd]": f">[{local:%Y-%m-%d %H:%M:%S}]", "date": 1,
                                                  "display": "full", "sort": "[date_upd_ASC]",
                                                  "limit": f"{offset},100"}), "orders")
            # A busy shop lists hundreds of orders of few customers: read each customer, address, country and
            # currency once per listing, not once per order (a real shop's 850 orders took 6 minutes before).
            self._listing = {}
            try:
                found += [self._normalized(order) for order in page]
            finally:
                self._listing = None
            if len(page) < 100:
                return found
            offset += 100

    def get_product(self, product_id: str) -> ShopProduct:
        try:
            product = one(self._ws.get(f"products/{int(product_id)}"), "product")
        except WebserviceError as error:
            if error.status == 404:
                return ShopProduct(product_id=str(product_id), sku="", name="", price="0", terms=None)
            raise
        return ShopProduct(product_id=str(product["id"]), sku=str(product.get("reference") or ""),
                           name=_text(product.get("name")), price=str(product.get("price") or "0"),
                           terms=self._terms(product))

    def _terms(self, product: Mapping[str, Any]) -> SubscriptionTerms | None:
        if not self._feature:
            return None
        features = (product.get("associations") or {}).get("product_features") or []
        for feature in features:
            name = _text(one(self._ws.get(f"product_features/{int(feature['id'])}"), "product_feature").get("name"))
            if name.strip().lower() != self._feature.lower():
                continue
            value = one(self._ws.get(f"product_feature_values/{int(feature['id_feature_value'])}"),
                        "product_feature_value")
            return parse_period(_text(value.get("value")))
        return None

    # ------------------------------------------------------------------ writes for the first order

    def add_customer_note(self, order_id: str, text: str) -> None:
        """A message to the customer on the order: the shop shows it in the customer's account."""
        self._message(order_id, text, private=False)

    def mark_paid(self, order_id: str, transaction_id: str) -> None:
        """"Payment accepted" with the card's transaction id, unless the order is paid or the owner ended it."""
        order = one(self._ws.get(f"orders/{int(order_id)}"), "order")
        states = self._state_ids()
        state = str(order.get("current_state") or "")
        if state in {states.get(name) for name in ENDED_STATES}:
            self._message(order_id, f"abonne: the customer's card payment arrived (myPOS transaction "
                                    f"{transaction_id}) after this order was ended; refund it in myPOS if it should "
                                    "not stand.", private=True)
            return
        if state != states[PAID_STATE]:
            self._set_state(order_id, states[PAID_STATE])
        self._record_transaction(str(order["reference"]), transaction_id)

    def _set_state(self, order_id: str, state: str) -> None:
        """A new order state, with the state's e-mail to the customer. When the shop cannot send that e-mail it
        answers 500 "Unable to save resource" (code 46) although the state was saved: read back before failing."""
        try:
            self._ws.post("order_histories", "order_history", {"id_order": int(order_id), "id_order_state": state},
                          {"sendemail": 1})
        except WebserviceError as error:
            if 46 not in error.codes:
                raise
            now = str(one(self._ws.get(f"orders/{int(order_id)}"), "order").get("current_state") or "")
            if now != state:
                raise
            log.warning("PrestaShop %s: order %s is in state %s, but the shop could not send its e-mail",
                        self.url, order_id, state)

    # ------------------------------------------------------------------ renewal orders

    def find_renewal_order(self, renewal: RenewalOrder) -> CreatedOrder | None:
        """The order whose payment label names this charge's transaction: written in the call that creates the
        order, so no other install's order can match it. An attempt cut short after the create (the state and
        the payment's transaction id follow it) is finished here: both steps are idempotent."""
        label = _payment_label(renewal)
        orders = listed(self._ws.get("orders", {"filter[module]": f"[{MODULE}]", "filter[payment]": f"[{label}]",
                                                "display": "[id,total_paid,id_currency,payment]"}), "orders")
        for order in orders:
            if order.get("payment") == label:
                self.mark_paid(str(order["id"]), renewal.transaction_id)
                return CreatedOrder(str(order["id"]), self._money(order["total_paid"], order["id_currency"]))
        return None

    def create_renewal_order(self, renewal: RenewalOrder) -> CreatedOrder:
        first = one(self._ws.get(f"orders/{int(renewal.parent_order_id)}"), "order")
        cart_id = self._renewal_cart(renewal, first)
        pinned = self._pin_prices(renewal, first, cart_id)
        try:
            total = self._cart_total(cart_id, renewal.charged.currency)
            if total != renewal.charged:
                raise ShopError(f"the shop's cart {cart_id} for renewal cycle {renewal.cycle} totals {total}, but the "
                                f"card was charged {renewal.charged}: no order was created (PrestaShop would file "
                                "it under Payment error); check the product's tax rule and the carrier's price")
            created = self._ws.post("orders", "order", renewal_order_fields(renewal, first, cart_id))
        except ShopError:
            # validateOrder removes a cart's own prices once the order exists; without an order they stay behind.
            for price_id in pinned:
                self._quietly(lambda: self._ws.delete(f"specific_prices/{price_id}"), "remove a pinned price")
            raise
        order_id = str(one(created, "order")["id"])  # the 201 echoes the request: only the id is real
        self.mark_paid(order_id, renewal.transaction_id)
        self._quietly(lambda: self._message(order_id, f"abonne: renewal cycle {renewal.cycle} of agreement "
                                                      f"{renewal.agreement_id}, charged {renewal.charged} with myPOS "
                                                      f"transaction {renewal.transaction_id}.", private=True),
                      "add the renewal's private note")
        stored = one(self._ws.get(f"orders/{int(order_id)}"), "order")
        return CreatedOrder(order_id, self._money(stored["total_paid"], stored["id_currency"]))

    def _renewal_cart(self, renewal: RenewalOrder, first: Mapping[str, Any]) -> int:
        return int(one(self._ws.post("carts", "cart", renewal_cart_fields(renewal, first)), "cart")["id"])

    def _pin_prices(self, renewal: RenewalOrder, first: Mapping[str, Any], cart_id: int) -> list[int]:
        """One specific price per line for this cart only: the agreed net unit price, whatever the catalog says."""
        pinned = []
        for line in renewal.lines:
            unit = line.net_total.amount / line.quantity
            price = self._ws.post("specific_prices", "specific_price", {
                "id_shop": 1, "id_cart": cart_id, "id_product": line.product_id,
                "id_product_attribute": _combination(line.variation_id), "id_currency": 0, "id_country": 0,
                "id_group": 0,
                "id_customer": first["id_customer"], "price": f"{unit:.6f}", "from_quantity": 1, "reduction": 0,
                "reduction_tax": 0, "reduction_type": "amount", "from": "0000-00-00 00:00:00",
                "to": "0000-00-00 00:00:00"})
            pinned.append(int(one(price, "specific_price")["id"]))
        return pinned

    def _cart_total(self, cart_id: int, currency: str) -> Money:
        """The cart's total with tax and shipping as validateOrder will compute it, from the module's signed read
        endpoint (the Webservice has no cart totals)."""
        stamp = int(self._now().timestamp())
        signature = sign_read(self._secret, stamp, "cart", {"id_cart": cart_id})
        try:
            response = requests.get(f"{self.url}/index.php", timeout=(5, 30), params={
                "fc": "module", "module": MODULE, "controller": "cart", "id_cart": cart_id},
                headers={"X-Abonne-Timestamp": str(stamp), "X-Abonne-Signature": signature})
        except requests.RequestException as error:
            raise ShopError(f"cannot read cart {cart_id}'s total from the abonne module: {error}",
                            retryable=True) from None
        if response.status_code != 200:
            raise ShopError(f"the abonne module did not give cart {cart_id}'s total ({response.status_code}: "
                            f"{response.text[:200]}); is the module installed and its secret the same as abonne's?",
                            status=response.status_code, retryable=response.status_code >= 500)
        data = response.json()
        if data.get("currency") != currency:
            raise ShopError(f"cart {cart_id} is in {data.get('currency')}, the charge in {currency}")
        return Money.parse(data["total"], currency)

    # ------------------------------------------------------------------ connection and setup

    def test_connection(self) -> ConnectionReport:
        try:
            root = self._ws.root()
        except ShopError as error:
            return ConnectionReport(False, error.detail)
        api = root.find("api")
        if api is None:
            return ConnectionReport(False, "the shop's /api/ answered without a resource list: is this PrestaShop?")
        missing = []
        for resource, methods in NEEDED.items():
            node = api.find(resource)
            lacking = [m.upper() for m in methods if node is None or node.get(m) != "true"]
            if lacking:
                missing.append(f"{resource} ({', '.join(lacking)})")
        if missing:
            return ConnectionReport(False, "the Webservice key lacks these permissions: " + "; ".join(missing))
        return ConnectionReport(True, f"connected to PrestaShop at {self.url} ({api.get('shopName', '')}): the "
                                      "Webservice key has every permission abonne needs")

    def register_webhooks(self, delivery_url: str) -> list[str]:
        raise ShopError("PrestaShop sends no webhooks, so there are none to register: its events come from the abonne "
                        "module (see `abonne shop add` or the README)")

    def repair_webhooks(self, delivery_url: str) -> list[WebhookRepair]:
        return []  # the module resends what it could not deliver; reconciliation polls for the rest

    def order_admin_url(self, order_id: str) -> str:
        return f"{self.url}/index.php?controller=AdminOrders&id_order={int(order_id)}&vieworder=1"

    # ------------------------------------------------------------------ helpers

    def _normalized(self, order: Mapping[str, Any]) -> ShopOrder:
        """A Webservice order as the module's event would carry it, through the one parser of events."""
        import json
        states = self._state_ids()
        currency = one(self._once(f"currencies/{int(order['id_currency'])}"), "currency")["iso_code"]
        cents = Decimal(1).scaleb(-currency_exponent(currency))

        def line_total(row: Mapping[str, Any], price: str) -> str:
            # Unit prices come with 6 decimals; the line is rounded to the currency, as PrestaShop shows it.
            return str((Decimal(str(row.get(price) or 0)) * int(row["product_quantity"])).quantize(cents))
        customer = one(self._once(f"customers/{int(order['id_customer'])}"), "customer")
        state = str(order.get("current_state") or "")
        body = {"event": "order.status_changed", "order": {
            "id": str(order["id"]), "reference": order.get("reference", ""), "cart_id": str(order.get("id_cart", "")),
            "status": {"id": state, "name": self._state_name(state), "paid": bool(int(order.get("valid") or 0)),
                       "refunded": state == states.get("PS_OS_REFUND"),
                       "cancelled": state == states.get("PS_OS_CANCELED")},
            "renewal": order.get("module") == MODULE, "payment_module": order.get("module", ""),
            "customer": {"id": str(customer["id"]), "email": customer.get("email", ""),
                         "first_name": customer.get("firstname", ""), "last_name": customer.get("lastname", "")},
            "billing_address": self._address(order["id_address_invoice"]),
            "shipping_address": self._address(order["id_address_delivery"]),
            "currency": currency,
            "lines": [{"id": str(row.get("id")), "product_id": str(row["product_id"]),
                       "variant_id": str(row.get("product_attribute_id") or 0),
                       "reference": row.get("product_reference", ""), "name": row.get("product_name", ""),
                       "quantity": int(row["product_quantity"]),
                       "total": line_total(row, "unit_price_tax_incl"),
                       "total_net": line_total(row, "unit_price_tax_excl")}
                      for row in (order.get("associations") or {}).get("order_rows") or []],
            "totals": {"total": str(Decimal(str(order.get("total_paid_tax_incl") or order.get("total_paid") or 0))
                                    .quantize(cents))},
            "modified_at": self._local(order.get("date_upd")),
        }}
        return parse_event_order(json.dumps(body).encode())

    def _address(self, address_id: Any) -> dict[str, str]:
        address = one(self._once(f"addresses/{int(address_id)}"), "address")
        country = one(self._once(f"countries/{int(address['id_country'])}"), "country")
        return {"first_name": address.get("firstname", ""), "last_name": address.get("lastname", ""),
                "company": address.get("company", ""), "address_1": address.get("address1", ""),
                "address_2": address.get("address2", ""), "city": address.get("city", ""),
                "postcode": address.get("postcode", ""), "country": country.get("iso_code", ""),
                "phone": address.get("phone") or address.get("phone_mobile") or ""}

    def _state_ids(self) -> dict[str, str]:
        """PS_OS_* names to this shop's order state ids (they differ between shops)."""
        if self._states is None:
            names = ("PS_OS_PAYMENT", *ENDED_STATES, "PS_TIMEZONE")
            rows = listed(self._ws.get("configurations", {"filter[name]": f"[{'|'.join(names)}]",
                                                          "display": "[name,value]"}), "configurations")
            self._states = {row["name"]: str(row.get("value") or "") for row in rows}
            if not self._states.get(PAID_STATE):
                raise ShopError("the shop did not say which order state means \"Payment accepted\" (PS_OS_PAYMENT)")
        return self._states

    def _state_name(self, state: str) -> str:
        if state not in self._state_names:
            found = one(self._ws.get(f"order_states/{int(state)}"), "order_state") if state.isdigit() else {}
            self._state_names[state] = _text(found.get("name")) or state
        return self._state_names[state]

    def _zone(self) -> Any:
        from zoneinfo import ZoneInfo
        return ZoneInfo(self._state_ids().get("PS_TIMEZONE") or "UTC")

    def _local(self, stamp: Any) -> str | None:
        if not stamp or str(stamp).startswith("0000"):
            return None
        return datetime.fromisoformat(str(stamp)).replace(tzinfo=self._zone()).isoformat()

    def _once(self, resource: str) -> Any:
        """GET resource, from what this listing already read when one is under way."""
        if self._listing is None:
            return self._ws.get(resource)
        if resource not in self._listing:
            self._listing[resource] = self._ws.get(resource)
        return self._listing[resource]

    def _money(self, amount: Any, currency_id: Any) -> Money:
        currency = one(self._ws.get(f"currencies/{int(currency_id)}"), "currency")["iso_code"]
        return Money.parse(Decimal(str(amount)).quantize(Decimal("0.01")), currency)

    def _message(self, order_id: str, text: str, private: bool) -> None:
        order = one(self._ws.get(f"orders/{int(order_id)}"), "order")
        threads = listed(self._ws.get("customer_threads", {"filter[id_order]": f"[{int(order_id)}]",
                                                           "display": "[id]"}), "customer_threads")
        if threads:
            thread_id = threads[0]["id"]
        else:
            customer = one(self._ws.get(f"customers/{int(order['id_customer'])}"), "customer")
            thread = self._ws.post("customer_threads", "customer_thread", {
                "id_lang": order["id_lang"], "id_shop": order.get("id_shop") or 1, "id_customer": order["id_customer"],
                "id_order": int(order_id), "id_contact": 0, "email": customer.get("email", ""), "status": "open",
                "token": hashlib.sha256(f"{order_id}:{order.get('reference')}".encode()).hexdigest()[:12]})
            thread_id = one(thread, "customer_thread")["id"]
        self._ws.post("customer_messages", "customer_message", {
            "id_customer_thread": thread_id, "id_employee": 0, "message": text, "private": int(private)})

    def _record_transaction(self, reference: str, transaction_id: str) -> None:
        payments = listed(self._ws.get("order_payments", {"filter[order_reference]": f"[{reference}]",
                                                          "display": "full"}), "order_payments")
        for payment in payments:
            if payment.get("transaction_id") == transaction_id:
                return
        if payments:  # the payment row PrestaShop wrote when the order became paid: it was paid by card, here
            self._ws.patch(f"order_payments/{int(payments[0]['id'])}", "order_payment",
                           {"id": payments[0]["id"], "transaction_id": transaction_id,
                            "payment_method": CARD_PAYMENT_METHOD})

    def _quietly(self, action: Callable[[], Any], what: str) -> None:
        try:
            action()
        except ShopError as error:
            log.warning("PrestaShop %s: could not %s: %s", self.url, what, error.detail)


def renewal_cart_fields(renewal: RenewalOrder, first: Mapping[str, Any]) -> dict[str, Any]:
    """The renewal's cart: the first order's customer, addresses, currency and carrier, the subscription lines."""
    delivery = str(first["id_address_delivery"])
    rows = [("cart_row", {"id_product": line.product_id, "id_product_attribute": _combination(line.variation_id),
                          "id_address_delivery": delivery, "quantity": line.quantity}) for line in renewal.lines]
    return {"id_customer": first["id_customer"], "id_address_delivery": delivery,
            "id_address_invoice": first["id_address_invoice"], "id_currency": first["id_currency"],
            "id_lang": first["id_lang"], "id_carrier": first["id_carrier"],
            # Without delivery_option validateOrder ignores id_carrier and takes the default carrier.
            "delivery_option": f'{{"{delivery}":"{first["id_carrier"]},"}}',
            "associations": {"cart_rows": rows}}


def renewal_order_fields(renewal: RenewalOrder, first: Mapping[str, Any], cart_id: int) -> dict[str, Any]:
    """The order of module abonne for the renewal's cart, paid with exactly the charged amount."""
    return {"id_address_delivery": first["id_address_delivery"], "id_address_invoice": first["id_address_invoice"],
            "id_cart": cart_id, "id_currency": first["id_currency"], "id_lang": first["id_lang"],
            "id_customer": first["id_customer"], "id_carrier": first["id_carrier"], "module": MODULE,
            "payment": _payment_label(renewal), "total_paid": str(renewal.charged.amount),
            "total_paid_real": str(renewal.charged.amount), "total_products": "0", "total_products_wt": "0",
            "conversion_rate": "1"}


def _combination(variation_id: str | None) -> str:
    """The combination id of a line's variant ("<product>:<combination>", see module_events), or 0."""
    return variation_id.rpartition(":")[2] if variation_id else "0"


def _payment_label(renewal: RenewalOrder) -> str:
    return f"{PAYMENT_LABEL} {renewal.transaction_id}"


def _text(value: Any) -> str:
    """A multilingual field: the first language's value (or the value itself)."""
    if isinstance(value, list):
        return str(value[0].get("value", "")) if value else ""
    return str(value or "")


