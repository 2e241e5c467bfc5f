"""abonne's PrestaShop module, as the stand-in plays it: events signed per the README's "Events from shop-side
modules", sent from a background thread with a short timeout, and kept in a queue with the module's backoff
(1 min, 5 min, 30 min, 2 h, then every 6 h, given up 3 days after the event was first queued:
adapters/prestashop/module/abonne/classes/AbonneBackoff.php). Time is the stand-in's clock, so a test that moves it
makes events fall due; `resend_due()` is the module's cron.

Which hook gives which event (captures hooks_*.jsonl): actionValidateOrderAfter -> order.created (old_status null;
the actionOrderStatusPostUpdate that fires first for a new order sends nothing), actionOrderStatusPostUpdate ->
order.status_changed, actionOrderSlipAdd -> order.refunded (one credit slip), actionObjectOrderDeleteBefore ->
order.deleted.

The module's signed cart-total read (controllers/front/cart.php) is `cart_answer`; the stand-in serves it at
index.php?fc=module&module=abonne&controller=cart.
"""
from __future__ import annotations

import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Mapping

import requests

from adapters.module_events import sign_read, signed_headers
from adapters.prestashop.standin_shop import PS_OS_CANCELED, PS_OS_REFUND, ShopState, decimal, round2

FIRST_DELAYS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))
THEN_EVERY = timedelta(hours=6)
GIVE_UP_AFTER = timedelta(days=3)
MODULE_VERSION = "1.0.0"
RENEWAL_MODULE = "abonne"


def delay_after(failed_attempts: int) -> timedelta:
    index = max(1, failed_attempts) - 1
    return FIRST_DELAYS[index] if index < len(FIRST_DELAYS) else THEN_EVERY


@dataclass
class QueuedEvent:
    event: str
    order_id: str
    event_id: str
    body: bytes
    created_at: datetime
    attempts: int = 0
    next_at: datetime | None = None  # None: send now
    in_flight: bool = False


@dataclass(frozen=True)
class SentEvent:
    """One delivery attempt: what was sent and what came back (`status` None: no HTTP answer)."""

    event: str
    order_id: str
    event_id: str
    url: str
    headers: dict[str, str]
    body: bytes
    status: int | None
    error: str | None
    sent_at: datetime
    attempt: int

    @property
    def delivered(self) -> bool:
        return self.status == 200

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


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


def encode(body: dict[str, Any]) -> bytes:
    """json_encode with JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE, as AbonneEventSigner::encode."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class ModuleEvents:
    """The module's outbox. Thread-safe; sending happens on its own thread."""

    shop: ShopState
    link: ModuleLink | None = None
    queue: list[QueuedEvent] = field(default_factory=list)
    sent: list[SentEvent] = field(default_factory=list)
    given_up: list[QueuedEvent] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _stopping: bool = False
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ps-standin-module-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

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
        with self._cond:
            self.queue.append(QueuedEvent(event, str(order_id), secrets.token_hex(16), encode(body),
                                          self.shop.clock()))
            self._cond.notify_all()

    def ping(self) -> SentEvent:
        """The module's settings page "Test connection": one synchronous ping, not queued."""
        body = encode({"event": "ping", "platform": "prestashop", "platform_version": "8.2.0",
                       "module_version": MODULE_VERSION})
        return self._send(QueuedEvent("ping", "", secrets.token_hex(16), body, self.shop.clock()))

    def resend_due(self) -> list[SentEvent]:
        """The module's cron: send every queued event whose time has come, now, on the caller's thread."""
        now = self.shop.clock()
        with self._cond:
            due = [q for q in self.queue if not q.in_flight and (q.next_at is None or q.next_at <= now)]
            for queued in due:
                queued.in_flight = True
        return [self._attempt(queued) for queued in due]

    def flush(self, timeout: float) -> bool:
        """Wait until nothing is waiting to be sent now (events waiting for their backoff do not count)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while any(q.next_at is None or q.in_flight for q in self.queue):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and not any(q.next_at is None and not q.in_flight for q in self.queue):
                    self._cond.wait()
                if self._stopping:
                    return
                now = self.shop.clock()
                # A new event: the module sends it, and with it whatever else has fallen due.
                batch = [q for q in self.queue if not q.in_flight and (q.next_at is None or q.next_at <= now)]
                for queued in batch:
                    queued.in_flight = True
            for queued in batch:
                self._attempt(queued)

    def _attempt(self, queued: QueuedEvent) -> SentEvent:
        result = self._send(queued)
        with self._cond:
            queued.in_flight = False
            queued.attempts += 1
            if result.delivered:
                self.queue.remove(queued)
            else:
                next_at = result.sent_at + delay_after(queued.attempts)
                if next_at > queued.created_at + GIVE_UP_AFTER:
                    self.queue.remove(queued)
                    self.given_up.append(queued)
                else:
                    queued.next_at = next_at
            self._cond.notify_all()
        return result

    def _send(self, queued: QueuedEvent) -> SentEvent:
        link = self.link
        sent_at = self.shop.clock()
        if link is None:
            return SentEvent(queued.event, queued.order_id, queued.event_id, "", {}, queued.body, None,
                             "the module is not connected", sent_at, queued.attempts + 1)
        # Signed again on every attempt: abonne refuses a timestamp more than 5 minutes off its clock.
        headers = signed_headers(link.secret, int(sent_at.timestamp()), queued.body, queued.event_id)
        headers["User-Agent"] = "abonne-prestashop/" + MODULE_VERSION
        status, error = None, None
        try:
            response = requests.post(link.url, data=queued.body, headers=headers, timeout=link.timeout_s,
                                     allow_redirects=False)
            status = response.status_code
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        result = SentEvent(queued.event, queued.order_id, queued.event_id, link.url, headers, queued.body, status,
                           error, sent_at, queued.attempts + 1)
        with self._cond:
            self.sent.append(result)
        return result
