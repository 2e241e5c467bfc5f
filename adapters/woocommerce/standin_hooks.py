"""Webhooks of the stand-in shop: their records, the synchronous ping, and the asynchronous delivery queue.

Reproduces WooCommerce 10.0.2 (`WC_Webhook`, `wc-webhook-functions.php`, Action Scheduler) as captured:
- events are queued per (webhook, resource id) and a pending one swallows later ones (coalescing);
- the body is built when the delivery runs, so it shows the state at that moment;
- one attempt only: 200..302 is success (failure_count back to 0), anything else or a connection error adds a
  failure, and the 7th consecutive failure sets the webhook to `disabled`, after which events are lost;
- the ping on creation is synchronous and counts only an exact 200.
"""
from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import secrets
import string
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from adapters.woocommerce.standin_shop import DRAFT_STATUSES, ShopState, fmt_date
from adapters.woocommerce.standin_wire import php_json, webhook_signature

USER_AGENT = "WooCommerce/10.0.2 Hookshot (WordPress/6.8.2)"
DELIVERY_TIMEOUT_S = 60.0  # MINUTE_IN_SECONDS in WC_Webhook::deliver()
PING_TIMEOUT_S = 5.0  # WordPress's default http_request_timeout
MAX_FAILURES = 5  # woocommerce_max_webhook_delivery_failures: disabled when the stored count is above it
TOPIC_HOOKS = {
    "order.created": ["woocommerce_new_order"],
    "order.updated": ["woocommerce_update_order", "woocommerce_order_refunded"],
    "order.deleted": ["wp_trash_post", "woocommerce_trash_order"],
    "order.restored": ["untrashed_post", "woocommerce_untrash_order"],
    "product.created": ["woocommerce_process_product_meta", "woocommerce_new_product",
                        "woocommerce_new_product_variation"],
    "product.updated": ["woocommerce_process_product_meta", "woocommerce_update_product",
                        "woocommerce_update_product_variation"],
    "product.deleted": ["wp_trash_post"],
    "product.restored": ["untrashed_post"],
    "customer.created": ["user_register", "woocommerce_created_customer", "woocommerce_new_customer"],
    "customer.updated": ["profile_update", "woocommerce_update_customer"],
    "customer.deleted": ["delete_user"],
    "coupon.created": ["woocommerce_process_shop_coupon_meta", "woocommerce_new_coupon"],
    "coupon.updated": ["woocommerce_process_shop_coupon_meta", "woocommerce_update_coupon"],
    "coupon.deleted": ["wp_trash_post"],
    "coupon.restored": ["untrashed_post"],
}
WEBHOOK_STATUSES = ("active", "paused", "disabled")


@dataclass
class Webhook:
    id: int
    name: str
    status: str
    topic: str
    delivery_url: str
    secret: str
    created: datetime
    modified: datetime | None = None
    failure_count: int = 0
    pending_delivery: bool = True


@dataclass(frozen=True)
class Delivery:
    """One request the shop made to a receiver, as sent, and what came back (`status` None: no HTTP answer)."""

    webhook_id: int
    topic: str  # "ping" for the creation ping
    resource_id: int | None
    delivery_url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    status: int | None
    error: str | None
    sent_at: datetime

    @property
    def succeeded(self) -> bool:
        if self.topic == "ping":
            return self.status == 200
        return self.status is not None and 200 <= self.status <= 302

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def generate_secret() -> str:
    """wp_generate_password(50, true, true): what REST create stores when no secret is given."""
    alphabet = string.ascii_letters + string.digits + "!@#$%^&*()-_ []{}<>~`+=,.;:/?|"
    return "".join(secrets.choice(alphabet) for _ in range(50))


def webhook_json(shop: ShopState, hook: Webhook) -> dict[str, Any]:
    """REST v3 webhook object as captured: no secret, no failure_count, no pending_delivery."""
    resource, _, event = hook.topic.partition(".")
    link = f"{shop.site}/wp-json/wc/v3/webhooks/{hook.id}"
    return {
        "id": hook.id, "name": hook.name, "status": hook.status, "topic": hook.topic, "resource": resource,
        "event": event, "hooks": list(TOPIC_HOOKS.get(hook.topic, [])), "delivery_url": hook.delivery_url,
        "date_created": fmt_date(hook.created), "date_created_gmt": fmt_date(hook.created),
        "date_modified": fmt_date(hook.modified), "date_modified_gmt": fmt_date(hook.modified),
        "_links": {"self": [{"href": link, "targetHints": {"allow": ["GET", "POST", "PUT", "PATCH", "DELETE"]}}],
                   "collection": [{"href": f"{shop.site}/wp-json/wc/v3/webhooks"}]},
    }


def post_raw(url: str, headers: list[tuple[str, str]], body: bytes, timeout: float) -> tuple[int | None, str | None]:
    """POST with exactly these headers in this order; no redirects followed. Returns (status, error)."""
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = connection_class(parts.hostname or "", parts.port, timeout=timeout)
    try:
        conn.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders(body)
        response = conn.getresponse()
        response.read()
        return response.status, None
    except (OSError, http.client.HTTPException) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()


class WebhookHub:
    """Webhook records plus the Action-Scheduler-like queue that delivers them from one background thread."""

    def __init__(self, shop: ShopState, delay_s: float = 0.05, enforce_safe_urls: bool = False):
        self.shop = shop
        self.delay_s = delay_s
        self.enforce_safe_urls = enforce_safe_urls
        self.webhooks: dict[int, Webhook] = {}
        self.deliveries: list[Delivery] = []
        self._next_id = 0
        self._salt = secrets.token_bytes(32)
        self._queue: dict[tuple[int, int], float] = {}  # (webhook id, resource id) -> due (monotonic)
        self._in_flight = 0
        self._hurry = False
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="wc-standin-deliveries", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ records

    def create(self, name: str, topic: str, delivery_url: str, secret: str | None, status: str) -> Webhook:
        """Caller holds the shop lock; the ping is sent by `ping()` after the record exists."""
        self._next_id += 1
        now = self.shop.now()
        hook = Webhook(id=self._next_id, name=name or f"Webhook created on {now.strftime('%b %d, %Y @ %I:%M %p')}",
                       status=status, topic=topic, delivery_url=delivery_url,
                       secret=secret if secret else generate_secret(), created=now)
        self.webhooks[hook.id] = hook
        return hook

    def ping(self, hook: Webhook) -> Delivery:
        """WC_Webhook::deliver_ping: synchronous form POST, no X-WC-* headers, success only on exactly 200."""
        body = f"webhook_id={hook.id}".encode()
        parts = urlsplit(hook.delivery_url)
        headers = [("Host", parts.netloc), ("User-Agent", USER_AGENT), ("Accept", "*/*"),
                   ("Accept-Encoding", "deflate, gzip, br, zstd"), ("Connection", "close"),
                   ("Content-Length", str(len(body))), ("Content-Type", "application/x-www-form-urlencoded")]
        status, error = self._send(hook.delivery_url, headers, body, PING_TIMEOUT_S)
        delivery = Delivery(hook.id, "ping", None, hook.delivery_url, tuple(headers), body, status, error,
                            self.shop.now())
        with self.shop.lock:
            self.deliveries.append(delivery)
            if status == 200:
                hook.pending_delivery = False
                hook.modified = self.shop.now()  # saving pending_delivery is what sets date_modified
        return delivery

    # ------------------------------------------------------------------ queue

    def enqueue(self, topic: str, resource_id: int) -> None:
        """An order hook fired: queue one delivery per active webhook on that topic, unless one is pending."""
        due = time.monotonic() + self.delay_s
        with self._cond:
            for hook in sorted(self.webhooks.values(), key=lambda h: h.id):
                if hook.topic != topic or hook.status != "active":
                    continue  # WooCommerce only listens for active webhooks: events while disabled are lost
                key = (hook.id, resource_id)
                if key not in self._queue:
                    self._queue[key] = due
            self._cond.notify_all()

    def flush(self, timeout: float = 5.0) -> bool:
        """Run everything queued now and wait until the queue is empty. False if it did not empty in time."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._hurry = True
            self._cond.notify_all()
            try:
                while self._queue or self._in_flight:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._cond.wait(remaining)
                return True
            finally:
                self._hurry = False

    def pending(self) -> list[tuple[int, int]]:
        with self._cond:
            return list(self._queue)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping:
                    now = time.monotonic()
                    ready = [k for k, due in self._queue.items() if self._hurry or due <= now]
                    if ready:
                        break
                    waits = [due - now for due in self._queue.values()]
                    self._cond.wait(min(waits) if waits else None)
                if self._stopping:
                    return
                key = min(ready, key=lambda k: (self._queue[k], list(self._queue).index(k)))
                del self._queue[key]
                self._in_flight += 1
            try:
                self._deliver(*key)
            finally:
                with self._cond:
                    self._in_flight -= 1
                    self._cond.notify_all()

    def _deliver(self, webhook_id: int, resource_id: int) -> None:
        with self.shop.lock:
            hook = self.webhooks.get(webhook_id)
            if hook is None or hook.status != "active":
                return
            _, _, event = hook.topic.partition(".")
            if event == "deleted":
                body = php_json({"id": resource_id})
            else:
                order = self.shop.orders.get(resource_id)
                if order is None or order.status in DRAFT_STATUSES:
                    return  # is_valid_resource(): gone or draft orders are not delivered
                body = php_json(self.shop.order_json(order))
            now = self.shop.now()
            delivery_id = hmac.new(self._salt, f"{hook.id}{int(now.timestamp())}".encode(), hashlib.md5).hexdigest()
            parts = urlsplit(hook.delivery_url)
            headers = [
                ("Host", parts.netloc), ("User-Agent", USER_AGENT), ("Accept", "*/*"),
                ("Accept-Encoding", "deflate, gzip, br, zstd"), ("Content-Type", "application/json"),
                ("X-WC-Webhook-Source", self.shop.site + "/"), ("X-WC-Webhook-Topic", hook.topic),
                ("X-WC-Webhook-Resource", hook.topic.partition(".")[0]), ("X-WC-Webhook-Event", event),
                ("X-WC-Webhook-Signature", webhook_signature(body, hook.secret)),
                ("X-WC-Webhook-ID", str(hook.id)), ("X-WC-Webhook-Delivery-ID", delivery_id),
                ("Connection", "close"), ("Content-Length", str(len(body))),
            ]
            url, topic = hook.delivery_url, hook.topic
        status, error = self._send(url, headers, body, DELIVERY_TIMEOUT_S)
        with self.shop.lock:
            self.deliveries.append(Delivery(webhook_id, topic, resource_id, url, tuple(headers), body, status,
                                            error, self.shop.now()))
            hook = self.webhooks.get(webhook_id)
            if hook is None:
                return
            if status is not None and 200 <= status < 303:
                hook.failure_count = 0
            elif hook.failure_count > MAX_FAILURES:
                hook.status = "disabled"  # the 7th consecutive failure; re-enabling keeps failure_count at 6
            else:
                hook.failure_count += 1
            hook.modified = self.shop.now()

    def _send(self, url: str, headers: list[tuple[str, str]], body: bytes,
              timeout: float) -> tuple[int | None, str | None]:
        refusal = self._unsafe(url) if self.enforce_safe_urls else None
        if refusal:
            return None, refusal
        return post_raw(url, headers, body, timeout)

    def _unsafe(self, url: str) -> str | None:
        """wp_http_validate_url(): private/loopback hosts and ports other than 80/443/8080 are refused."""
        parts = urlsplit(url)
        home = urlsplit(self.shop.site)
        same_host = (parts.hostname or "").lower() == (home.hostname or "").lower()
        if not same_host:
            try:
                address = ipaddress.ip_address(parts.hostname or "")
                if address.is_private or address.is_loopback or address.is_link_local:
                    return "http_request_failed: A valid URL was not provided."
            except ValueError:
                pass
        if parts.port is not None and parts.port not in (80, 443, 8080) and not (same_host and parts.port == home.port):
            return "http_request_failed: A valid URL was not provided."
        return None
