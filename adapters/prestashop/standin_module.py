"""abonne's PrestaShop module, as the stand-in plays it: the event bodies its hooks build, sent through the outbox
the OpenCart extension shares (adapters/standin_module_events.py: signing, queue, the backoff of
adapters/prestashop/module/abonne/classes/AbonneBackoff.php, the cron `resend_due()`).

Which hook gives which event (captures hooks_*.jsonl): actionValidateOrderAfter -> order.created (old_status null;
the actionOrderStatusPostUpdate that fires first for a new order sends nothing), actionOrderStatusPostUpdate ->
order.status_changed, actionOrderSlipAdd -> order.refunded (one credit slip), actionObjectOrderDeleteBefore ->
order.deleted.

The module's signed cart-total read (controllers/front/cart.php) is `cart_answer`; the stand-in serves it at
index.php?fc=module&module=abonne&controller=cart.
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from adapters.module_events import sign_read
from adapters.prestashop.standin_shop import PS_OS_CANCELED, PS_OS_REFUND, ShopState, decimal, round2
from adapters.standin_module_events import Destination, ModuleEventSender, SentEvent, encode

MODULE_VERSION = "1.0.0"
RENEWAL_MODULE = "abonne"


@dataclass
class ModuleLink:
    url: str
    secret: str
    timeout_s: float


def _status(shop: ShopState, state_id: str | int | None) -> dict[str, Any] | None:
    state = shop.state(int(state_id or 0))
    if state is None:
        return None
    return {"id": str(state["id"]), "name": state["name"], "paid": state["paid"] == "1",
            "refunded": state["id"] == PS_OS_REFUND, "cancelled": state["id"] == PS_OS_CANCELED}


def _iso(shop: ShopState, mysql_date: str) -> str | None:
    """AbonneEventBody::time: the stored local time (PS_TIMEZONE) in ISO 8601 with its offset."""
    if not mysql_date or mysql_date.startswith("0000-00-00"):
        return None
    return datetime.fromisoformat(mysql_date).replace(tzinfo=shop.zone).isoformat()


def _money(value: Any) -> str:
    return f"{round2(decimal(value)):.2f}"


def _address(shop: ShopState, address_id: str) -> dict[str, str]:
    address = shop.table("addresses").get(int(address_id or 0)) or {}
    return {"id": str(address_id), "first_name": address.get("firstname", ""),
            "last_name": address.get("lastname", ""), "company": address.get("company", ""),
            "address_1": address.get("address1", ""), "address_2": address.get("address2", ""),
            "city": address.get("city", ""), "postcode": address.get("postcode", ""), "state": "",
            "country": shop.country_iso(address.get("id_country", "")), "phone": address.get("phone", "")}


def event_order(shop: ShopState, order: dict[str, Any], old_state: int | None,
                refund: dict[str, str] | None) -> dict[str, Any]:
    """The `order` object of an event, from the shop's rows (caller holds the shop lock)."""
    customer = shop.table("customers").get(int(order["id_customer"] or 0)) or {}
    currency = shop.table("currencies").get(int(order["id_currency"] or 1)) or {"iso_code": "EUR"}
    lines = []
    for detail in shop.table("order_details").values():
        if detail["id_order"] != str(order["id"]):
            continue
        quantity = int(detail["product_quantity"])
        lines.append({
            "id": str(detail["id"]), "product_id": detail["product_id"], "variant_id": detail["product_attribute_id"],
            "reference": detail["product_reference"], "name": detail["product_name"], "quantity": quantity,
            "unit_price": _money(detail["unit_price_tax_incl"]),
            "unit_price_net": _money(detail["unit_price_tax_excl"]),
            "total": _money(detail["total_price_tax_incl"]), "total_net": _money(detail["total_price_tax_excl"]),
            "tax_rate": "23.000"})
    transaction_id = next((p["transaction_id"] for p in shop.payments_of(order) if p["transaction_id"]), "")
    body = {
        "id": str(order["id"]), "reference": order["reference"], "cart_id": str(order["id_cart"]),
        "status": _status(shop, order["current_state"]), "old_status": _status(shop, old_state),
        "renewal": order["module"] == RENEWAL_MODULE, "payment_module": order["module"], "payment": order["payment"],
        "transaction_id": transaction_id,
        "customer": {"id": str(order["id_customer"]), "email": customer.get("email", ""),
                     "first_name": customer.get("firstname", ""), "last_name": customer.get("lastname", "")},
        "billing_address": _address(shop, order["id_address_invoice"]),
        "shipping_address": _address(shop, order["id_address_delivery"]),
        "currency": currency["iso_code"], "lines": lines,
        "totals": {"products": _money(order["total_products_wt"]), "shipping": _money(order["total_shipping"]),
                   "discounts": _money(order["total_discounts"]), "total": _money(order["total_paid"]),
                   "total_net": _money(order["total_paid_tax_excl"]), "refunded": _money(shop.refunded(order))},
    }
    if refund is not None:
        body["refund"] = refund
    body["created_at"] = _iso(shop, order["date_add"])
    body["modified_at"] = _iso(shop, order["date_upd"])
    return body


CART_WINDOW_S = 300  # AbonneCartModuleFrontController::WINDOW


def cart_answer(shop: ShopState, secret: str, headers: Mapping[str, str], id_cart: str) -> tuple[int, dict[str, Any]]:
    """controllers/front/cart.php: (status, body) for a signed read of a cart's totals. `headers` lower-cased;
    `secret` "" while the module is not configured. Caller holds the shop lock."""
    cart_id = _php_int(id_cart)
    stamp = headers.get("x-abonne-timestamp", "")
    given = headers.get("x-abonne-signature", "")
    if not secret or not stamp or not (stamp.isascii() and stamp.isdigit()):
        return 401, {"ok": False, "error": "signature_missing", "detail": "a signed request is needed"}
    expected = sign_read(secret, int(stamp), "cart", {"id_cart": cart_id})
    if not hmac.compare_digest(expected, given):
        return 401, {"ok": False, "error": "signature_mismatch",
                     "detail": "the signature does not match this shop's abonne secret"}
    if abs(int(shop.clock().timestamp()) - int(stamp)) > CART_WINDOW_S:
        return 401, {"ok": False, "error": "timestamp_out_of_window",
                     "detail": "the request is more than 5 minutes away from the shop's clock"}
    cart = shop.table("carts").get(cart_id)
    if cart is None:
        return 404, {"ok": False, "error": "cart_unknown", "detail": f"no cart {cart_id}"}
    products, shipping, _ = shop.cart_total(cart)
    currency = shop.table("currencies").get(int(cart["id_currency"] or 1)) or {"iso_code": "EUR"}
    return 200, {"ok": True, "id_cart": str(cart_id), "currency": currency["iso_code"], "products": f"{products:.2f}",
                 "shipping": f"{round2(shipping):.2f}", "total": f"{round2(products + shipping):.2f}"}


def _php_int(text: str) -> int:
    """PHP's (int) cast of a request value: its leading digits, 0 when there are none."""
    digits = ""
    for char in text.strip():
        if not char.isdigit():
            break
        digits += char
    return int(digits or 0)


class ModuleEvents:
    """The module's hooks: each builds its event body from the shop's rows, as the module does, and hands it to the
    outbox (`sender`)."""

    def __init__(self, shop: ShopState):
        self.shop = shop
        self.sender = ModuleEventSender(shop.clock, "abonne-prestashop/" + MODULE_VERSION,
                                        "the module is not connected", "ps-standin-module-events")

    @property
    def link(self) -> Destination | None:
        """Where the module's settings send events; None while it is not configured."""
        return self.sender.destination

    @link.setter
    def link(self, link: Destination | None) -> None:
        self.sender.destination = link

    def record(self, event: str, order_id: int, old_state: int | None = None, refund: dict[str, str] | None = None,
               snapshot: dict[str, Any] | None = None) -> None:
        """A hook fired (caller holds the shop lock): build the body now, as the module does, and queue it."""
        if self.link is None:
            return
        order = snapshot or self.shop.order_or_none(order_id)
        if order is None:
            return
        body = {"event": event, "platform": "prestashop", "platform_version": "8.2.0",
                "module_version": MODULE_VERSION, "order": event_order(self.shop, order, old_state, refund)}
        self.sender.enqueue(event, str(order_id), encode(body))

    def ping(self) -> SentEvent:
        """The module's settings page "Test connection": one synchronous ping, not queued."""
        return self.sender.send_once("ping", encode({"event": "ping", "platform": "prestashop",
                                                     "platform_version": "8.2.0", "module_version": MODULE_VERSION}))
