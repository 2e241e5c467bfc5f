"""abonne's OpenCart extension, as the stand-in plays it: the order object of the README's event contract built from
the shop's order, the signed events with their queue and backoff, and the signed read endpoint.

Which hook gives which event (OPENCART.md §5): the catalog addHistory (4.x) / addOrderHistory (3.0) /before and
/after pair. The status read at /before is the old one: 0 -> non-zero is order.created (an API confirm, a storefront
checkout), anything else order.status_changed. A status 0 order (confirm without order_status_id, S3) sends nothing
until its first real status. Edits: 4.1 writes Voided (16) without an event first, so the event says old 16; on 3.0
the internal status is 0, and the extension tells an edit from a new order by the request route (api/order/edit,
§7 consequence 3), so an edit is order.status_changed from the status the order had.

The queue, backoff and signing of events are the outbox the PrestaShop module shares (adapters/
standin_module_events.py, as the extension's library/backoff.php and event_queue.php). Read signatures follow the
extension's read_signature.php: reads accept the query encoded with "%7E" (PHP) or "~" (Python).
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Mapping

from adapters.opencart.standin_shop import RENEWAL_CODE, ShopState, php_int
from adapters.opencart.standin_wire import clean, http_build_query
from adapters.standin_module_events import ModuleEventSender, SentEvent, encode

EXTENSION_VERSION = "1.0.0"
PLATFORM_VERSIONS = {"4.1": "4.1.0.4", "4.0": "4.0.2.3", "3.0": "3.0.5.1"}
READ_WINDOW_S = 300
DEFAULT_PAID = (2, 3, 5, 15)
DEFAULT_REFUNDED = (11,)
DEFAULT_CANCELLED = (7,)
MAX_PAGE = 100


@dataclass
class Settings:
    """The extension's settings page: where events go, the shared secret, and which statuses mean what."""

    url: str
    secret: str
    timeout_s: float
    paid: frozenset[int] = frozenset(DEFAULT_PAID)
    refunded: frozenset[int] = frozenset(DEFAULT_REFUNDED)
    cancelled: frozenset[int] = frozenset(DEFAULT_CANCELLED)


# ====================================================================== the order object

def _status(shop: ShopState, settings: Settings | None, status_id: int | None) -> dict[str, Any] | None:
    if status_id is None:
        return None
    s = settings or Settings("", "", 0)
    return {"id": str(status_id), "name": shop.status_name(status_id), "paid": status_id in s.paid,
            "refunded": status_id in s.refunded, "cancelled": status_id in s.cancelled}


def _money(value: Decimal) -> str:
    return f"{Decimal(value).quantize(Decimal('0.01')):.2f}"


def _address(shop: ShopState, order: Mapping[str, Any], prefix: str) -> dict[str, str]:
    zone = shop.zone_of(order[f"{prefix}_zone_id"])
    return {"id": str(order.get(f"{prefix}_address_id") or ""), "first_name": order[f"{prefix}_firstname"],
            "last_name": order[f"{prefix}_lastname"], "company": order[f"{prefix}_company"],
            "address_1": order[f"{prefix}_address_1"], "address_2": order[f"{prefix}_address_2"],
            "city": order[f"{prefix}_city"], "postcode": order[f"{prefix}_postcode"], "state": zone["code"],
            "country": shop.country_of(order[f"{prefix}_country_id"])["iso_code_2"], "phone": order["telephone"],
            "country_id": str(order[f"{prefix}_country_id"]), "zone_id": str(order[f"{prefix}_zone_id"])}


def payment_code(shop: ShopState, order: Mapping[str, Any]) -> tuple[str, str]:
    """(code, name): 4.x stores payment_method {name, code}; 3.0 a title and payment_code."""
    if shop.version.startswith("4"):
        method = order["payment_method"] or {}
        return str(method.get("code", "")), str(method.get("name", ""))
    return order["payment_code"], order["payment_method"]


def event_order(shop: ShopState, settings: Settings | None, order: Mapping[str, Any],
                old_status: int | None) -> dict[str, Any]:
    """The `order` object of an event and of a read (caller holds the shop lock)."""
    lines = []
    for p in order["products"]:
        quantity = int(p["quantity"])
        unit_net, unit_tax = Decimal(p["price"]), Decimal(p["tax"])
        options = list(p.get("options") or ())
        variant = next((str(o["product_option_value_id"]) for o in options if o["product_option_value_id"]), "0")
        lines.append({"id": str(p["order_product_id"]), "product_id": str(p["product_id"]), "variant_id": variant,
                      "reference": p["model"], "name": p["name"], "quantity": quantity,
                      "unit_price": _money(unit_net + unit_tax), "unit_price_net": _money(unit_net),
                      "total": _money((unit_net + unit_tax) * quantity), "total_net": _money(unit_net * quantity),
                      "tax_rate": f"{(unit_tax * 100 / unit_net if unit_net else Decimal(0)):.3f}",
                      "options": [{"name": o["name"], "value": o["value"], "type": o["type"],
                                   "product_option_id": str(o["product_option_id"]),
                                   "product_option_value_id": str(o["product_option_value_id"])} for o in options],
                      "subscription": plan(p.get("subscription"))})
    totals = {t["code"]: Decimal(0) for t in order["totals"]}
    for t in order["totals"]:
        totals[t["code"]] += Decimal(t["value"])
    products = sum((Decimal(line["total"]) for line in lines), Decimal(0))
    total = totals.get("total", Decimal(0))
    taxes = totals.get("tax", Decimal(0))
    code, name = payment_code(shop, order)
    # Without a payment address (a 4.1 storefront checkout with config_checkout_payment_address off) the shipping
    # address is the billing one.
    billing = "payment" if order["payment_country_id"] else "shipping"
    return {
        "id": str(order["order_id"]), "reference": str(order["order_id"]), "cart_id": "",
        "status": _status(shop, settings, order["order_status_id"]), "old_status": _status(shop, settings, old_status),
        "renewal": code == RENEWAL_CODE, "payment_module": code, "payment": name,
        "transaction_id": "",
        "customer": {"id": str(order["customer_id"]), "email": order["email"], "first_name": order["firstname"],
                     "last_name": order["lastname"], "group_id": str(order.get("customer_group_id") or "1")},
        "comment": order.get("comment", ""),
        "billing_address": _address(shop, order, billing), "shipping_address": _address(shop, order, "shipping"),
        "currency": "USD", "lines": lines,
        "totals": {"products": _money(products), "shipping": _money(total - products), "discounts": "0.00",
                   "total": _money(total), "total_net": _money(total - taxes), "refunded": "0.00"},
        "created_at": shop.local_to_aware(order["date_added"]).isoformat(),
        "modified_at": shop.local_to_aware(order["date_modified"]).isoformat(),
    }


def plan(row: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """An order_subscription row (OpenCart 4's own plan on a line) as the extension's event_body.php plan() puts it."""
    if not row:
        return None
    body: dict[str, Any] = {
        "id": str(row["subscription_plan_id"]), "name": row["plan_name"], "unit": row["frequency"],
        "every": int(row["cycle"]), "cycles": int(row["duration"]),
        "price": _money(Decimal(row["price"]) + Decimal(row.get("tax") or 0)), "trial": None}
    if int(row.get("trial_status") or 0) == 1:
        body["trial"] = {"unit": row["trial_frequency"], "every": int(row["trial_cycle"]),
                         "cycles": int(row["trial_duration"]), "price": _money(Decimal(row["trial_price"]))}
    return body


def product_answer(shop: ShopState, product_id: int) -> tuple[int, dict[str, Any]]:
    product = shop.products.get(product_id)
    if product is None:
        return 404, _error("product_unknown", f"no product {product_id} in this shop")
    return 200, {"ok": True, "platform_version": shop.version, "product": {
        "id": str(product["product_id"]), "model": product["model"], "name": product["name"],
        "price": f"{Decimal(product['price']):.4f}",
        "attributes": [{"name": name, "text": text, "language_id": "1"}
                       for name, text in product.get("attributes", {}).items()]}}


# ====================================================================== the signed read

def read_answer(shop: ShopState, settings: Settings | None, headers: Mapping[str, str],
                params: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
    """The extension's read controller: (status, body). `headers` lower-cased, `params` the raw query (caller holds
    the shop lock)."""
    secret = settings.secret if settings else ""
    call = params.get("call", "")
    stamp = headers.get("x-abonne-timestamp", "").strip()
    given = headers.get("x-abonne-signature", "")
    if not secret:
        return 401, _error("not_configured", "the abonne extension has no signing secret yet")
    if not stamp or not given.strip():
        return 401, _error("signature_missing", "a signed request is needed (X-Abonne-Timestamp and "
                                                "X-Abonne-Signature)")
    if not (stamp.isascii() and stamp.isdigit()):
        return 401, _error("timestamp_invalid", "X-Abonne-Timestamp must be Unix seconds")
    signed = {k: v for k, v in sorted(params.items()) if k not in ("route", "call")}
    query = http_build_query(signed)
    expected = [_read_signature(secret, stamp, call, text) for text in dict.fromkeys([query, query.replace("%7E", "~")])]
    matched = False
    for candidate in given.split(","):
        for value in expected:
            matched = hmac.compare_digest(value, candidate.strip()) or matched
    if not matched:
        return 401, _error("signature_mismatch", "the signature does not match this shop's abonne secret")
    if abs(int(shop.clock().timestamp()) - int(stamp)) > READ_WINDOW_S:
        return 401, _error("timestamp_out_of_window", "the request is more than 5 minutes away from the shop's clock")
    if call == "order":
        order = shop.orders.get(php_int(params.get("order_id", "")))
        if order is None:
            return 404, _error("order_unknown", f"no order {php_int(params.get('order_id', ''))}")
        return 200, {"ok": True, "platform_version": shop.version, "order": event_order(shop, settings, order, None)}
    if call == "orders":
        return _orders_page(shop, settings, params)
    if call == "product":
        return product_answer(shop, php_int(params.get("product_id", "")))
    if call == "find":
        # The stored comment went through Request::clean(), and so does the marker read from the query.
        marker = clean(params.get("marker", ""))
        if not marker:
            return 400, _error("marker_missing", "find needs a marker")
        found = [o for o in sorted(shop.orders.values(), key=lambda o: o["order_id"]) if marker in o["comment"]]
        return 200, {"ok": True, "platform_version": shop.version,
                     "orders": [event_order(shop, settings, o, None) for o in found]}
    return 400, _error("call_unknown", f"call must be order, orders, product or find, got {call[:40]!r}")


def _orders_page(shop: ShopState, settings: Settings | None, params: Mapping[str, str]) -> tuple[int, dict]:
    since_text = params.get("modified_since", "")
    since = None
    if since_text:
        try:
            since = datetime.fromisoformat(since_text)
        except ValueError:
            since = None
        if since is None or since.tzinfo is None:
            return 400, _error("modified_since_invalid", "modified_since must be ISO 8601 with its offset")
    after_id = php_int(params.get("after_id", "0"))
    limit = php_int(params.get("limit", str(MAX_PAGE))) or MAX_PAGE
    if limit < 1 or limit > MAX_PAGE:
        return 400, _error("limit_invalid", f"limit must be between 1 and {MAX_PAGE}")

    def key(order: Mapping[str, Any]) -> tuple[datetime, int]:
        return shop.local_to_aware(order["date_modified"]), order["order_id"]

    rows = sorted(shop.orders.values(), key=key)
    if since is not None:
        rows = [o for o in rows if key(o) > (since, after_id)]
    return 200, {"ok": True, "platform_version": shop.version,
                 "orders": [event_order(shop, settings, o, None) for o in rows[:limit]]}


def _read_signature(secret: str, stamp: str, call: str, query: str) -> str:
    digest = hmac.new(secret.encode(), f"{stamp}.{call}:{query}".encode(), hashlib.sha256).hexdigest()
    return f"v1={digest}"


def _error(code: str, detail: str) -> dict[str, Any]:
    return {"ok": False, "error": code, "detail": detail}


# ====================================================================== the outbox

class ExtensionEvents:
    """The extension's event handlers: each builds its event body from the shop's order and hands it to the outbox
    (`sender`)."""

    def __init__(self, shop: ShopState, platform_version: str):
        self.shop = shop
        self.platform_version = platform_version
        self.sender = ModuleEventSender(shop.clock, "abonne-opencart/" + EXTENSION_VERSION,
                                        "the extension is not connected", "oc-standin-extension-events")
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings | None:
        """The extension's settings page; None while it is not configured."""
        return self._settings

    @settings.setter
    def settings(self, settings: Settings | None) -> None:
        self._settings = self.sender.destination = settings

    def history_changed(self, order: Mapping[str, Any], old: int, new: int, source: str) -> None:
        """The addHistory /before + /after handlers (caller holds the shop lock). `source` "edit" for an order edit
        whose pre-edit status is in `old`."""
        settings = self.settings
        if settings is None or (old == 0 and new == 0):
            return
        event = "order.created" if old == 0 and source != "edit" else "order.status_changed"
        body = {"event": event, "platform": "opencart", "platform_version": self.platform_version,
                "module_version": EXTENSION_VERSION,
                "order": event_order(self.shop, settings, order, None if event == "order.created" else old)}
        self.sender.enqueue(event, str(order["order_id"]), encode(body))

    def ping(self) -> SentEvent:
        return self.sender.send_once("ping", encode({"event": "ping", "platform": "opencart",
                                                     "platform_version": self.platform_version,
                                                     "module_version": EXTENSION_VERSION}))
