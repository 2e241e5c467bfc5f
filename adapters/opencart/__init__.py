"""OpenCart 3.0, 4.0 and 4.1: orders come in as signed events from abonne's extension, and are read through its
signed read endpoint (OpenCart's API has no call that reads an order); renewal orders and order history go through
the shop's own API (adapters/opencart/api.py), in the fewest calls each version allows.

A renewal order on 4.1 is one `confirm` carrying the whole order (customer, the first order's addresses, the lines,
a zero-cost shipping line with no tax class, abonne's payment code `abonne.card` and the paid status) and one
`history_add` with the myPOS transaction. Its comment carries `abonne:<transaction id>`, which the extension's `find`
read looks for before every retry: confirm is not idempotent (two identical confirms make two orders).
"""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable, ClassVar, Mapping

import requests

from adapters.module_events import parse_event_order, sign_read, verify_event
from adapters.periods import parse_period
from adapters.opencart.api import Api30, Api40, Api41, as_pairs
from bridge.domain.money import Money
from bridge.ports import (
    ConnectionReport, CreatedOrder, RenewalLine, RenewalOrder, SettingField, ShopError, ShopOrder, ShopProduct,
    ShopWebhook, WebhookRejected, WebhookRepair,
)

log = logging.getLogger(__name__)

PAYMENT_CODE, PAYMENT_NAME = "abonne.card", "Card on file, myPOS"
PAYMENT_CODE_30 = "abonne"  # 3.0 names a payment method by its extension code
# A zero-cost line with no tax class: OpenCart checks these with empty(), so "0" would read as missing.
SHIPPING = {"name": "Subscription renewal", "code": "abonne.renewal", "cost": "0.00", "tax_class_id": "-1"}
READ_ROUTES = {"4": "extension/abonne/module/abonne.read", "3": "extension/module/abonne/read"}


class OpenCartShop:
    platform: ClassVar[str] = "opencart"
    settings_fields: ClassVar[tuple[SettingField, ...]] = (
        SettingField("url", "Shop URL", url=True, help="The store's address, e.g. https://shop.example.com"),
        SettingField("api_username", "API user", help="System > Users > API: the API user's name (e.g. Default)"),
        SettingField("api_key", "API key", secret=True,
                     help="That API user's key; add abonne's IP address to the user's allowed IPs"),
        SettingField("webhook_secret", "Extension signing secret", secret=True,
                     help="The signing secret in the abonne extension's settings"),
        SettingField("oc_version", "OpenCart version", required=False, choices=("auto", "3.0", "4.0", "4.1"),
                     help="auto asks the abonne extension"),
        SettingField("paid_status_id", "Paid order status id", required=False,
                     help="The order status renewal orders and paid first orders get (default 2, Processing)"),
        SettingField("subscription_option", "Subscription option or attribute", required=False,
                     help="A product option or attribute whose value names the billing period (e.g. option "
                          "\"Delivery\" with the value \"Every 2 weeks\"); leave empty to use plan mappings and "
                          "OpenCart 4's own subscription plans only"),
    )

    def __init__(self, settings: Mapping[str, str], secrets: Mapping[str, str], timeout: float = 30.0,
                 clock: Callable[[], datetime] | None = None):
        self.url = settings["url"].rstrip("/")
        self._username = settings.get("api_username") or "Default"
        self._key = secrets["api_key"]
        self._secret = secrets["webhook_secret"]
        self._wanted = settings.get("oc_version") or "auto"
        self._paid = str(settings.get("paid_status_id") or "2")
        self._period_name = (settings.get("subscription_option") or "").strip().lower()
        self._now = clock or (lambda: datetime.now(timezone.utc))
        self._timeout = timeout
        self._version: str | None = None if self._wanted == "auto" else self._wanted

    @staticmethod
    def connect_instructions(delivery_url: str, shop_id: int) -> str:
        bridge_url = delivery_url.rsplit("/webhooks/", 1)[0]
        return ("Install the abonne extension (Extensions > Installer: dist/opencart-4/abonne.ocmod.zip for 4.0 and "
                f"4.1, dist/opencart-3/abonne.ocmod.zip for 3.0, from `make modules`), then in its settings set the "
                f"bridge URL {bridge_url}, shop id {shop_id}, the same signing secret and the paid, refunded and "
                "cancelled statuses, and press \"Send a test ping\".")

    # ------------------------------------------------------------------ events in

    def verify_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> ShopWebhook:
        return verify_event(self._secret, headers, raw_body, self._now())

    def parse_order(self, raw_body: bytes) -> ShopOrder:
        return self._with_period_options(parse_event_order(raw_body))

    def _with_period_options(self, order: ShopOrder) -> ShopOrder:
        """Lines whose option named in the shop's settings names a billing period carry those terms; the shop's
        own plan on a line comes first."""
        if not self._period_name:
            return order
        lines = []
        for line in order.lines:
            chosen = next((value for name, value in line.options if name.strip().lower() == self._period_name), None)
            terms = parse_period(chosen) if chosen is not None and line.terms is None else None
            lines.append(replace(line, terms=terms) if terms is not None else line)
        return replace(order, lines=tuple(lines))

    # ------------------------------------------------------------------ reads, through the extension

    def _read(self, call: str, **params: str) -> dict[str, Any]:
        data, _ = self._read_at(READ_ROUTES["3" if self.version().startswith("3") else "4"], call, params)
        return data

    def _read_at(self, route: str, call: str, params: Mapping[str, str]) -> tuple[dict[str, Any], int]:
        stamp = int(self._now().timestamp())
        try:
            response = requests.get(f"{self.url}/index.php", params={"route": route, "call": call, **params},
                                    headers={"X-Abonne-Timestamp": str(stamp),
                                             "X-Abonne-Signature": sign_read(self._secret, stamp, call, params)},
                                    timeout=(5.0, self._timeout))
        except requests.RequestException as error:
            raise ShopError(f"cannot reach the abonne extension at {self.url} ({error.__class__.__name__})",
                            retryable=True) from None
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict) or not data.get("ok"):
            detail = (data or {}).get("detail") if isinstance(data, dict) else None
            raise ShopError(f"the abonne extension did not answer the {call} read ({response.status_code}"
                            f"{': ' + str(detail) if detail else ''}); is it installed, with the same secret?",
                            status=response.status_code, retryable=response.status_code >= 500)
        return data, response.status_code

    def version(self) -> str:
        """3.0, 4.0 or 4.1: as set, or as the extension says (one read, then remembered)."""
        if self._version is None:
            for major, route in (("4", READ_ROUTES["4"]), ("3", READ_ROUTES["3"])):
                try:
                    data, _ = self._read_at(route, "orders", {"limit": "1", "modified_since": self._now().isoformat()})
                except ShopError:
                    continue
                # The route that answered tells the major version; 4.0 and 4.1 share it, the answer tells which.
                said = str(data.get("platform_version") or "")
                if said.startswith(major):
                    self._version = ".".join(said.split(".")[:2])
                else:  # an answer that does not say: the route's own version (4.1 for OpenCart 4's route)
                    self._version = "3.0" if major == "3" else "4.1"
                break
            else:
                raise ShopError("the abonne extension answers at neither OpenCart 3 nor OpenCart 4's route: install "
                                "it and set its signing secret to the one abonne has")
        return self._version

    def get_order(self, order_id: str) -> ShopOrder:
        return self._as_order(self._read("order", order_id=str(int(order_id)))["order"])

    def _readable(self, order: Mapping[str, Any]) -> ShopOrder | None:
        """One order of a page, or None when it cannot be read: one bad order must not hide the others."""
        try:
            return self._as_order(order)
        except WebhookRejected as error:
            log.warning("OpenCart %s: order %s cannot be read and is skipped: %s", self.url, order.get("id"),
                        error.detail)
            return None

    def _as_order(self, order: Mapping[str, Any]) -> ShopOrder:
        return self.parse_order(json.dumps({"event": "order.status_changed", "order": order}).encode())

    def orders_modified_since(self, since: datetime) -> list[ShopOrder]:
        found: list[ShopOrder] = []
        cursor, after = since.isoformat(), "0"
        while True:
            page = self._read("orders", modified_since=cursor, after_id=after, limit="100")["orders"]
            found += [order for order in map(self._readable, page) if order is not None]
            if len(page) < 100:
                return found
            cursor, after = page[-1]["modified_at"], str(page[-1]["id"])

    def get_product(self, product_id: str) -> ShopProduct:
        """Through the extension's product read when the shop's settings name an attribute that may carry the
        billing period; otherwise nothing to read (OpenCart's API reads no products): subscriptions are then the
        products mapped to plans and the lines with OpenCart 4's own plans."""
        if not self._period_name:
            return ShopProduct(product_id=str(product_id), sku="", name="", price="0", terms=None)
        product = self._read("product", product_id=str(int(product_id)))["product"]
        period = next((str(attribute.get("text") or "") for attribute in product.get("attributes") or []
                       if str(attribute.get("name") or "").strip().lower() == self._period_name), None)
        return ShopProduct(product_id=str(product["id"]), sku=str(product.get("model") or ""),
                           name=str(product.get("name") or ""), price=str(product.get("price") or "0"),
                           terms=parse_period(period) if period is not None else None)

    # ------------------------------------------------------------------ order history

    def add_customer_note(self, order_id: str, text: str) -> None:
        """Order history with notify=1: OpenCart mails the comment to the customer and shows it in her account."""
        order = self._read("order", order_id=str(int(order_id)))["order"]
        self._history(order_id, str(order["status"]["id"]), text, notify=True)

    def mark_paid(self, order_id: str, transaction_id: str) -> None:
        order = self._read("order", order_id=str(int(order_id)))["order"]
        status = order["status"]
        if status.get("refunded") or status.get("cancelled"):
            self._history(order_id, str(status["id"]), f"abonne: the customer's card payment arrived (myPOS "
                          f"transaction {transaction_id}) after this order was ended; refund it in myPOS if it should "
                          "not stand.", notify=False)
            return
        if status.get("paid") and order.get("transaction_id") == transaction_id:
            return
        self._history(order_id, self._paid, f"Paid by card (myPOS transaction {transaction_id}).", notify=True)

    def _history(self, order_id: str, status_id: str, comment: str, notify: bool) -> None:
        post = [("order_id", str(int(order_id))), ("order_status_id", status_id), ("comment", comment),
                ("notify", "1" if notify else "0"), ("override", "0")]
        version = self.version()
        if version.startswith("3"):
            Api30(self.url, self._username, self._key, self._timeout).call(
                "api/order/history", post[1:], order_id=str(int(order_id)))
        elif version == "4.0":
            Api40(self.url, self._username, self._key, self._timeout).call("api/sale/order.addHistory", post)
        else:
            self._api41().call("history_add", post)

    def _api41(self) -> Api41:
        return Api41(self.url, self._username, self._key, self._timeout, now=lambda: self._now().timestamp())

    # ------------------------------------------------------------------ renewal orders

    def find_renewal_order(self, renewal: RenewalOrder) -> CreatedOrder | None:
        for order in self._read("find", marker=_marker(renewal))["orders"]:
            if _marker(renewal) in str(order.get("comment") or "") or order.get("transaction_id") == \
                    renewal.transaction_id:
                totals = order.get("totals") or {}
                return CreatedOrder(str(order["id"]), Money.parse(Decimal(str(totals.get("total") or 0))
                                                                  .quantize(Decimal("0.01")), order["currency"]))
        return None

    def create_renewal_order(self, renewal: RenewalOrder) -> CreatedOrder:
        first = self._read("order", order_id=str(int(renewal.parent_order_id)))["order"]
        if self.version().startswith("3"):
            return self._renewal_30(renewal, first)
        if self.version() == "4.0":
            return self._renewal_40(renewal, first)
        api = self._api41()
        customer = first.get("customer") or {}
        state: dict[str, Any] = {
            "customer_id": customer.get("id") or "0", "customer_group_id": customer.get("group_id") or "1",
            "firstname": customer.get("first_name", ""), "lastname": customer.get("last_name", ""),
            "email": customer.get("email", ""), "telephone": (first.get("billing_address") or {}).get("phone", ""),
            "product": [_cart_line(line, first) for line in renewal.lines],
            **_address("payment", first.get("billing_address") or {}),
            **_address("shipping", first.get("shipping_address") or first.get("billing_address") or {}),
            "shipping_method": SHIPPING, "payment_method": {"name": PAYMENT_NAME, "code": PAYMENT_CODE},
            "order_status_id": self._paid, "order_id": "0", "comment": _comment(renewal),
        }
        confirmed = api.call("confirm", as_pairs(state))
        order_id = str(confirmed["order_id"])
        api.call("history_add", [("order_id", order_id), ("order_status_id", self._paid),
                                 ("comment", f"Paid by card (myPOS transaction {renewal.transaction_id})."),
                                 ("notify", "0"), ("override", "0")])
        total = next((Decimal(str(t["value"])) for t in confirmed.get("totals") or [] if t.get("code") == "total"),
                     Decimal(0))
        return CreatedOrder(order_id, Money.parse(total.quantize(Decimal("0.01")), renewal.charged.currency))

    def _renewal_30(self, renewal: RenewalOrder, first: Mapping[str, Any]) -> CreatedOrder:
        """3.0 keeps the order being built in the API session: a session of its own for each renewal (renewals
        are pushed in parallel), then customer, cart, addresses, the free shipping method, abonne's payment
        method, order/add with the paid status and the marker, and the history with the transaction."""
        api = Api30(self.url, self._username, self._key, self._timeout)
        customer = first.get("customer") or {}
        billing = first.get("billing_address") or {}
        shipping = first.get("shipping_address") or billing
        api.call("api/customer", [("customer_id", str(customer.get("id") or "0")),
                                  ("customer_group_id", str(customer.get("group_id") or "1")),
                                  ("firstname", customer.get("first_name", "")),
                                  ("lastname", customer.get("last_name", "")), ("email", customer.get("email", "")),
                                  ("telephone", billing.get("phone", ""))])
        api.call("api/cart/add", as_pairs({"product": [_cart_line(line, first, plans=False)
                                                       for line in renewal.lines]}))
        api.call("api/payment/address", _plain_address(billing))
        api.call("api/shipping/address", _plain_address(shipping))
        methods = api.call("api/shipping/methods", []).get("shipping_methods") or {}
        if "free" not in methods:
            raise ShopError("OpenCart 3.0 renewal orders need the Free Shipping method enabled (Extensions > "
                            "Shipping), so that the renewal carries a zero-cost shipping line")
        api.call("api/shipping/method", [("shipping_method", "free.free")])
        api.call("api/payment/methods", [])
        api.call("api/payment/method", [("payment_method", PAYMENT_CODE_30)])
        added = api.call("api/order/add", [("order_status_id", self._paid), ("comment", _comment(renewal))])
        order_id = str(added["order_id"])
        api.call("api/order/history", [("order_status_id", self._paid), ("notify", "0"), ("override", "0"),
                                       ("comment", f"Paid by card (myPOS transaction {renewal.transaction_id}).")],
                 order_id=order_id)
        return self._created(order_id, renewal)

    def _renewal_40(self, renewal: RenewalOrder, first: Mapping[str, Any]) -> CreatedOrder:
        """4.0 builds the order in an API session too (a session of its own per renewal: a second confirm in one
        session edits the first order): customer, one cart.add per line, the addresses (4.0 wants their ids
        posted, 0 will do), Free Shipping and abonne's payment method, each only from the list the session asked
        for just before, the marker as the order's comment (confirm ignores a posted one), confirm with the paid
        status, then the history with the transaction."""
        api = Api40(self.url, self._username, self._key, self._timeout)
        customer = first.get("customer") or {}
        billing = first.get("billing_address") or {}  # 4.0 stores none unless the shop asks for one
        shipping = first.get("shipping_address") or billing
        api.call("api/sale/customer", [("customer_id", str(customer.get("id") or "0")),
                                       ("customer_group_id", str(customer.get("group_id") or "1")),
                                       ("firstname", customer.get("first_name", "")),
                                       ("lastname", customer.get("last_name", "")),
                                       ("email", customer.get("email", "")),
                                       ("telephone", (billing or shipping).get("phone", ""))])
        for line in renewal.lines:
            api.call("api/sale/cart.add", as_pairs(_cart_line(line, first)))
        if billing:
            api.call("api/sale/payment_address", [("payment_address_id", "0"), *_plain_address(billing)])
        if shipping:
            try:
                api.call("api/sale/shipping_address", [("shipping_address_id", "0"), *_plain_address(shipping)])
            except ShopError as error:
                if "require shipping" not in error.detail:
                    raise
                shipping = {}  # nothing in the cart is shipped
        if shipping:
            methods = api.call("api/sale/shipping_method", []).get("shipping_methods") or {}
            if "free" not in methods:
                raise ShopError("OpenCart 4.0 renewal orders need the Free Shipping method enabled (Extensions > "
                                "Shipping), so that the renewal carries a zero-cost shipping line")
            api.call("api/sale/shipping_method.save", [("shipping_method", "free.free")])
        methods = api.call("api/sale/payment_method", []).get("payment_methods") or {}
        if "abonne" not in methods:
            raise ShopError("OpenCart 4.0 takes only payment methods its extensions offer: enable \"Card on file, "
                            "myPOS\" (Extensions > Payments, installed with the abonne extension)")
        api.call("api/sale/payment_method.save", [("payment_method", PAYMENT_CODE)])
        api.call("api/sale/order.comment", [("comment", _comment(renewal))])
        order_id = str(api.call("api/sale/order.confirm", [("order_status_id", self._paid)])["order_id"])
        api.call("api/sale/order.addHistory", [("order_id", order_id), ("order_status_id", self._paid),
                                               ("comment", f"Paid by card (myPOS transaction "
                                                           f"{renewal.transaction_id})."),
                                               ("notify", "0"), ("override", "0")])
        return self._created(order_id, renewal)

    def _created(self, order_id: str, renewal: RenewalOrder) -> CreatedOrder:
        order = self._read("order", order_id=order_id)["order"]
        return CreatedOrder(order_id, Money.parse(Decimal(str(order["totals"]["total"])).quantize(Decimal("0.01")),
                                                  renewal.charged.currency))

    # ------------------------------------------------------------------ connection

    def test_connection(self) -> ConnectionReport:
        try:
            version = self.version()
            if version == "4.1":
                try:
                    self._api41().call("abonne_probe", [])  # past the gate, an unknown call is a plain error
                except ShopError as error:
                    if error.status == 403:
                        raise
            elif version == "4.0":
                Api40(self.url, self._username, self._key, self._timeout).login()
            elif version.startswith("3"):
                Api30(self.url, self._username, self._key, self._timeout).login()
        except ShopError as error:
            if version_known := self._version:
                return ConnectionReport(False, f"OpenCart {version_known}: {error.detail}")
            return ConnectionReport(False, error.detail)
        except requests.RequestException as error:
            return ConnectionReport(False, f"cannot reach the shop at {self.url} ({error.__class__.__name__})")
        return ConnectionReport(True, f"connected to OpenCart {version} at {self.url}: the extension answers signed "
                                      "reads and the API accepts abonne's key")

    def register_webhooks(self, delivery_url: str) -> list[str]:
        raise ShopError("OpenCart sends no webhooks, so there are none to register: its events come from the abonne "
                        "extension (see `abonne shop add` or the README)")

    def repair_webhooks(self, delivery_url: str) -> list[WebhookRepair]:
        return []

    def order_admin_url(self, order_id: str) -> str:
        return f"{self.url}/admin/index.php?route=sale/order.info&order_id={int(order_id)}"


def _cart_line(line: RenewalLine, first: Mapping[str, Any], plans: bool = True) -> dict[str, Any]:
    """A renewal line as OpenCart's API adds it to a cart: with the options the customer chose on the first order
    (a required option is refused without them) and, on 4.x, the subscription plan she bought it with (a product
    sold with plans is refused without one); 3.0's recurring profiles are not carried."""
    item: dict[str, Any] = {"product_id": line.product_id, "quantity": str(line.quantity)}
    variant = (line.variation_id or "").partition(":")[2]
    bought = next((raw for raw in first.get("lines") or [] if str(raw.get("product_id")) == line.product_id
                   and (not variant or str(raw.get("variant_id")) == variant)), {})
    options: dict[str, Any] = {}
    for option in bought.get("options") or []:
        option_id = str(option.get("product_option_id") or "")
        value_id = str(option.get("product_option_value_id") or "0")
        if not option_id:
            continue
        if option.get("type") == "checkbox":
            options.setdefault(option_id, []).append(value_id)
        else:  # a chosen value by its id; a typed one (text, date, ...) as typed
            options[option_id] = value_id if value_id != "0" else str(option.get("value") or "")
    if options:
        item["option"] = options
    plan = str((bought.get("subscription") or {}).get("id") or "")
    if plans and plan:
        item["subscription_plan_id"] = plan
    return item


def _comment(renewal: RenewalOrder) -> str:
    return (f"abonne: renewal cycle {renewal.cycle} of agreement {renewal.agreement_id}, charged {renewal.charged} "
            f"with myPOS transaction {renewal.transaction_id} ({_marker(renewal)})")


def _plain_address(address: Mapping[str, Any]) -> list[tuple[str, str]]:
    """An address as 3.0's api/payment/address and api/shipping/address take it."""
    return [(name, value) for name, value in ((k.split("_", 1)[1], v) for k, v in _address("x", address).items())
            if name != "address_id"]


def _marker(renewal: RenewalOrder) -> str:
    return f"abonne:{renewal.transaction_id}"


def _address(kind: str, address: Mapping[str, Any]) -> dict[str, str]:
    fields = ("firstname", "first_name"), ("lastname", "last_name"), ("company", "company"), \
        ("address_1", "address_1"), ("address_2", "address_2"), ("city", "city"), ("postcode", "postcode"), \
        ("country_id", "country_id"), ("zone_id", "zone_id"), ("address_id", "id")
    return {f"{kind}_{name}": str(address.get(source) or "") for name, source in fields}
