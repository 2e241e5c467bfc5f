"""A stand-in WooCommerce 10.0.2 shop: a real HTTP server speaking the real wire protocol, for tests and `abonne demo`.

    standin = WooCommerceStandin()
    shop = standin.start("ck_...", "cs_...", clock=clock)      # shop.url == "http://127.0.0.1:PORT/"
    product_id = standin.add_product("Coffee Club Monthly", "19.90", "COFFEE-CLUB-M",
                                     meta={"_subscription_period": "month", "_subscription_period_interval": "1"})
    order_id = standin.place_order(customer=2, lines=[(product_id, 1)], payment_method="cod")
    standin.flush_deliveries()
    standin.stop()

What it serves (over plain http, like the captured shop): `/wp-json/wc/v3/` products (+ variations), orders
(+ notes, refunds), customers and webhooks with OAuth 1.0a one-legged auth in the query; the Store API's guest
cart and checkout (`/wp-json/wc/store/v1/cart`, `cart/add-item`, `checkout`). What it sends: the webhook ping
(synchronous) and signed deliveries (asynchronous, coalesced, never retried, auto-disable on the 7th failure).
Shapes, codes and quirks come from tests/fixtures/woocommerce-10.0.2; the rules live in standin_shop.py (orders),
standin_hooks.py (webhooks) and standin_wire.py (PHP/WordPress encodings).
"""
from __future__ import annotations

import base64
import json
import math
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import unquote, urlencode, urlsplit

from adapters.woocommerce.standin_hooks import TOPIC_HOOKS, WEBHOOK_STATUSES, Delivery, WebhookHub, webhook_json
from adapters.woocommerce.standin_shop import (
    Mail, Note, Order, RestError, ShopState, fmt_date, money, to_decimal,
)
from adapters.woocommerce.standin_wire import (
    JSON_CONTENT_TYPE, cart_token, invalid_params, oauth_signature, oauth_string_to_sign, parse_php_query, php_json,
    php_list, rest_error,
)
from bridge.clock import now_function
from bridge.serving import RunningServer, serve_in_thread

OAUTH_WINDOW_S = 15 * 60
WP_HEADERS_HEAD = [
    ("X-Robots-Tag", "noindex"),
]
CORS_HEADERS = [
    ("X-Content-Type-Options", "nosniff"),
    ("Access-Control-Expose-Headers", "X-WP-Total, X-WP-TotalPages, Link"),
    ("Access-Control-Allow-Headers", "Authorization, X-WP-Nonce, Content-Disposition, Content-MD5, Content-Type"),
]
NOCACHE_HEADERS = [
    ("Expires", "Wed, 11 Jan 1984 05:00:00 GMT"),
    ("Cache-Control", "no-cache, must-revalidate, max-age=0, no-store, private"),
]
ITEM_ALLOW = "GET, POST, PUT, PATCH, DELETE"
COLLECTION_ALLOW = "GET, POST"


@dataclass
class RunningShop:
    """What `start()` returns: the site URL (with trailing slash, as WordPress's home_url('/')) and `stop()`."""

    url: str
    standin: "WooCommerceStandin"

    @property
    def api_url(self) -> str:
        return self.url + "wp-json/wc/v3/"

    def stop(self) -> None:
        self.standin.stop()


@dataclass
class _Answer:
    status: int
    body: Any  # JSON-able; encoded with php_json
    headers: list[tuple[str, str]]


class _Request:
    def __init__(self, environ: Mapping[str, Any]):
        self.method = environ["REQUEST_METHOD"].upper()
        raw_uri = environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
        self.raw_path = urlsplit(raw_uri).path or "/"
        self.path = unquote(self.raw_path)
        self.query_string = environ.get("QUERY_STRING", "")
        self.get = parse_php_query(self.query_string)
        self.headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        self.content_type = environ.get("CONTENT_TYPE", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        self.body = environ["wsgi.input"].read(length) if length else b""
        self.post = parse_php_query(self.body.decode("utf-8", "replace")) \
            if self.method == "POST" and self.content_type.startswith("application/x-www-form-urlencoded") else {}
        self.is_ssl = self.headers.get("x-forwarded-proto", "").lower() == "https"


class WooCommerceStandin:
    """A WooCommerce 10.0.2 shop on a free local port. Thread-safe; every method may be called from tests."""

    def __init__(self, delivery_delay_s: float = 0.05, site_name: str = "abonne stand-in shop",
                 enforce_safe_urls: bool = False, first_post_id: int = 10):
        self._delivery_delay_s = delivery_delay_s
        self._site_name = site_name
        self._enforce_safe_urls = enforce_safe_urls
        self._first_post_id = first_post_id
        self._server: RunningServer | None = None
        self._port = 0
        self._shop: ShopState | None = None
        self._hub: WebhookHub | None = None
        self._keys: dict[str, tuple[str, str]] = {}
        self._nonces: dict[str, dict[int, str]] = {}
        self._forced: tuple[int, bytes, str, tuple[tuple[str, str], ...]] | None = None
        self.api_calls: list[tuple[str, str]] = []  # (method, path) of every REST and Store API request received
        self._slow_s = 0.0
        self._late_s = 0.0
        self._carts: dict[str, list[tuple[int, int, int]]] = {}
        self._store_nonces: set[str] = set()
        self._switch_lock = threading.Lock()

    # ================================================================== lifecycle

    def start(self, consumer_key: str, consumer_secret: str, clock: Any = None,
              permissions: str = "read_write", port: int = 0, site_url: str | None = None) -> RunningShop:
        """Start serving on 127.0.0.1 (port 0: a free one). `clock`: callable -> aware datetime, or a Clock.

        `site_url` is WordPress's home URL when it differs from where the stand-in listens (a shop behind a
        proxy): links, X-WC-Webhook-Source and the OAuth base string use it, as WooCommerce does.
        """
        if self._server is not None:
            raise RuntimeError("this stand-in is already running")
        self._server = serve_in_thread(self._wsgi, port=port)
        self._port = self._server.port
        site = (site_url or f"http://127.0.0.1:{self._port}").rstrip("/")
        self._shop = ShopState(site, now_function(clock), self._emit, site_name=self._site_name,
                               first_post_id=self._first_post_id)
        self._hub = WebhookHub(self._shop, delay_s=self._delivery_delay_s, enforce_safe_urls=self._enforce_safe_urls)
        self._keys = {consumer_key: (consumer_secret, permissions)}
        return RunningShop(url=site + "/", standin=self)

    def stop(self) -> None:
        if self._hub is not None:
            self._hub.stop()
        with self._switch_lock:
            self._close_listener()

    def _close_listener(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    @property
    def url(self) -> str:
        """The site URL (home_url('/')), e.g. http://127.0.0.1:PORT/."""
        return self.shop.site + "/"

    @property
    def listen_url(self) -> str:
        """Where the stand-in really listens (differs from `url` only when start() got a site_url)."""
        return f"http://127.0.0.1:{self._port}/"

    @property
    def shop(self) -> ShopState:
        if self._shop is None:
            raise RuntimeError("start() the stand-in first")
        return self._shop

    @property
    def hub(self) -> WebhookHub:
        if self._hub is None:
            raise RuntimeError("start() the stand-in first")
        return self._hub

    def add_api_key(self, consumer_key: str, consumer_secret: str, permissions: str = "read_write") -> None:
        """Another REST key (`read`, `write` or `read_write`)."""
        self._keys[consumer_key] = (consumer_secret, permissions)

    # ================================================================== seeding (as the shop owner would)

    def add_product(self, name: str, price: Any = "", sku: str = "", meta: Mapping[str, Any] | None = None,
                    type: str = "simple", attributes: Mapping[str, Iterable[str]] | None = None,
                    virtual: bool = False, downloadable: bool = False, description: str = "") -> int:
        """A product (simple, or `type="variable"` with `attributes={"Bag size": ["250 g", "500 g"]}`)."""
        attrs = [{"name": n, "options": list(opts), "position": i, "visible": True, "variation": True}
                 for i, (n, opts) in enumerate((attributes or {}).items())]
        with self.shop.lock:
            return self.shop.add_product(name, price, sku, meta, type=type, attributes=attrs, virtual=virtual,
                                         downloadable=downloadable, description=description).id

    def add_variation(self, parent_id: int, price: Any, sku: str = "",
                      attributes: Mapping[str, str] | None = None) -> int:
        """A variation of a variable product, e.g. attributes={"Bag size": "500 g"}. Orders name the parent."""
        with self.shop.lock:
            return self.shop.add_variation(parent_id, price, sku, attributes).id

    def add_customer(self, email: str, first_name: str = "", last_name: str = "",
                     billing: Mapping[str, str] | None = None, shipping: Mapping[str, str] | None = None,
                     username: str = "") -> int:
        billing = {"first_name": first_name, "last_name": last_name, "email": email, **(billing or {})}
        with self.shop.lock:
            return self.shop.add_customer(email, first_name, last_name, username, billing, shipping).id

    def add_webhook(self, topic: str, delivery_url: str, secret: str | None = None, name: str = "",
                    status: str = "active") -> int:
        """Like POST /webhooks (including the synchronous ping). Returns the webhook id."""
        with self.shop.lock:
            hook = self.hub.create(name, topic, delivery_url, secret, status)
        if status == "active":
            self.hub.ping(hook)
        return hook.id

    # ================================================================== customers' actions

    def place_order(self, customer: int | Mapping[str, str] | None = None,
                    lines: Iterable[tuple] = (), payment_method: str = "cod", via: str = "store-api",
                    paid: bool = False, transaction_id: str = "", customer_note: str = "",
                    billing: Mapping[str, str] | None = None, shipping: Mapping[str, str] | None = None,
                    user_agent: str = "Mozilla/5.0 (abonne stand-in storefront)") -> int:
        """An order placed at the storefront, as a customer does. Returns the order id.

        `customer`: a customer id, a billing dict (guest), or None (guest with `billing`). `lines`:
        (product_id, qty) or (product_id, qty, variation_id); a variation id alone as product_id works too.
        `via`: "store-api" (block checkout: order.updated is delivered before order.created) or "checkout"
        (classic). Payment: "cod" arrives processing with date_paid null, "bacs"/"cheque" on-hold; any other
        gateway is pending unless `paid=True`, which runs payment_complete (processing, date_paid set).
        """
        with self.shop.lock:
            order = self.shop.place_storefront_order(customer, list(lines), payment_method, via, paid,
                                                     transaction_id, customer_note, user_agent, billing, shipping)
            return order.id

    # ================================================================== shop owner's actions

    def set_order_status(self, order_id: int, status: str) -> None:
        """The owner changes the status in wp-admin: one order.updated."""
        with self.shop.lock:
            self.shop.update_order_from_rest(order_id, {"status": status})

    def trash_order(self, order_id: int) -> None:
        with self.shop.lock:
            self.shop.trash_order(self.shop.order_or_error(order_id))

    def restore_order(self, order_id: int) -> None:
        """wp-admin Orders > Trash > Restore: status from before trashing, order.restored with the full order."""
        with self.shop.lock:
            order = self.shop.order_or_error(order_id)
            if order.status != "trash":
                raise ValueError(f"order {order_id} is not in the trash")
            self.shop.restore_order(order)

    def set_webhook_status(self, webhook_id: int, status: str) -> None:
        """The owner sets active / paused / disabled in wp-admin (failure_count is kept, as WooCommerce does)."""
        if status not in WEBHOOK_STATUSES:
            raise ValueError(f"webhook status must be one of {WEBHOOK_STATUSES}")
        with self.shop.lock:
            hook = self.hub.webhooks[webhook_id]
            hook.status = status
            hook.modified = self.shop.now()

    # ================================================================== observation

    def order(self, order_id: int) -> dict[str, Any] | None:
        """The order as GET /orders/{id} shows it (None if force-deleted or never existed)."""
        with self.shop.lock:
            order = self.shop.orders.get(order_id)
            return None if order is None else json.loads(php_json(self.shop.order_json(order)))

    def orders(self) -> list[dict[str, Any]]:
        with self.shop.lock:
            return [json.loads(php_json(self.shop.order_json(o))) for o in sorted(self.shop.orders.values(),
                                                                                   key=lambda o: o.id)]

    def notes(self, order_id: int) -> list[Note]:
        with self.shop.lock:
            return list(self.shop.notes_of(order_id))

    @property
    def mails(self) -> list[Mail]:
        """E-mails WooCommerce would have sent (customer notes)."""
        with self.shop.lock:
            return list(self.shop.mails)

    @property
    def deliveries(self) -> list[Delivery]:
        """Every request the shop made to a webhook receiver, pings included (topic "ping"), in order."""
        with self.shop.lock:
            return list(self.hub.deliveries)

    def webhook(self, webhook_id: int) -> dict[str, Any]:
        """A webhook as the database has it, with the fields REST hides (failure_count, pending_delivery)."""
        with self.shop.lock:
            hook = self.hub.webhooks[webhook_id]
            return {"id": hook.id, "topic": hook.topic, "status": hook.status, "delivery_url": hook.delivery_url,
                    "secret": hook.secret, "failure_count": hook.failure_count,
                    "pending_delivery": hook.pending_delivery}

    def flush_deliveries(self, timeout: float = 5.0) -> bool:
        """Deliver everything queued now (like a WP-Cron run) and wait until the queue is empty."""
        return self.hub.flush(timeout)

    def pending_deliveries(self) -> list[tuple[int, int]]:
        """Queued (webhook id, resource id) pairs not yet sent."""
        return self.hub.pending()

    def set_delivery_delay(self, seconds: float) -> None:
        self.hub.delay_s = seconds

    # ================================================================== breakage switches

    def refuse_connections(self) -> None:
        """Close the listening socket: REST clients get "connection refused" until `accept_connections()`."""
        with self._switch_lock:
            self._close_listener()

    def accept_connections(self) -> None:
        with self._switch_lock:
            if self._server is None:
                self._server = serve_in_thread(self._wsgi, port=self._port)

    def answer(self, status: int = 503, body: bytes = b"<html><body><h1>503 Service Unavailable</h1></body></html>",
               content_type: str = "text/html; charset=UTF-8", headers: Mapping[str, str] | None = None) -> None:
        """Answer every REST and Store API request with this status and body, as a broken host or proxy would
        (`headers`, e.g. a rate limiter's Retry-After, are added)."""
        self._forced = (status, body, content_type, tuple((headers or {}).items()))

    def slow_down(self, seconds: float) -> None:
        """Wait this long before answering each REST request (0 to stop)."""
        self._slow_s = seconds

    def answer_late(self, seconds: float) -> None:
        """Do each request's work at once but answer it this much later: the shop has done it, the caller does
        not know yet (0 to stop)."""
        self._late_s = seconds

    def behave_normally(self) -> None:
        self._forced = None
        self._slow_s = self._late_s = 0.0
        self.accept_connections()

    # ================================================================== internals: events

    def _emit(self, topic: str, resource_id: int) -> None:
        if self._hub is not None:
            self._hub.enqueue(topic, resource_id)

    # ================================================================== internals: HTTP

    def _wsgi(self, environ: Mapping[str, Any], start_response: Callable) -> list[bytes]:
        request = _Request(environ)
        if request.path.startswith("/wp-json/"):
            self.api_calls.append((request.method, request.path))
        if self._slow_s:
            time.sleep(self._slow_s)
        forced = self._forced
        if forced is not None and request.path.startswith("/wp-json/"):
            status, body, content_type, extra_headers = forced
            start_response(f"{status} {_reason(status)}", [("Content-Type", content_type), *extra_headers])
            return [body]
        if not request.path.startswith("/wp-json/"):
            start_response("404 Not Found", [("Content-Type", "text/html; charset=UTF-8")])
            return [b"<html><body>Not Found</body></html>"]
        answer = self._handle(request)
        if self._late_s:
            time.sleep(self._late_s)
        start_response(f"{answer.status} {_reason(answer.status)}", answer.headers)
        return [php_json(answer.body)]

    def _headers(self, request: _Request, *, authenticated: bool, allow: str | None = None,
                 total: tuple[int, int] | None = None, links: list[str] | None = None,
                 location: str | None = None, store: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
        scheme_site = self.shop.site.replace("http://", "https://", 1) if request.is_ssl else self.shop.site
        headers = [("Content-Type", JSON_CONTENT_TYPE), *WP_HEADERS_HEAD]
        if not links:
            headers.append(("Link", f'<{scheme_site}/wp-json/>; rel="https://api.w.org/"'))
        headers.extend(CORS_HEADERS)
        if not authenticated and request.method in ("GET", "HEAD"):
            headers.append(("Vary", "Origin"))
        if total is not None:
            headers += [("X-WP-Total", str(total[0])), ("X-WP-TotalPages", str(total[1]))]
        if links:
            headers.append(("Link", ", ".join(links)))
        if location:
            headers.append(("Location", location))
        if store:
            headers.extend(store)
        if allow:
            headers.append(("Allow", allow))
        if authenticated:
            headers.extend(NOCACHE_HEADERS)
        return headers

    def _handle(self, request: _Request) -> _Answer:
        route = _match_route(request.method, request.path)
        auth_error, user = self._authenticate(request)
        if auth_error is not None:
            return _Answer(401, auth_error, self._headers(request, authenticated=False))
        if route is None:
            return _Answer(404, rest_error("rest_no_route", "No route was found matching the URL and request method.",
                                           404), self._headers(request, authenticated=user is not None))
        handler_name, args, allow, kind = route
        if kind == "wc" and user is None:
            return _Answer(401, _permission_error(request.method, handler_name),
                           self._headers(request, authenticated=False))
        if kind == "wc" and user is not None:
            permissions = self._keys[user][1]
            needed = "read" if request.method in ("GET", "HEAD") else "write"
            if needed not in permissions:
                message = ("The API key provided does not have read permissions." if needed == "read"
                           else "The API key provided does not have write permissions.")
                return _Answer(401, rest_error("woocommerce_rest_authentication_error", message, 401),
                               self._headers(request, authenticated=False))
        try:
            body = self._json_body(request)
            params = {**request.get, **request.post, **(body if isinstance(body, dict) else {})}
            result = getattr(self, handler_name)(request, params, *args)
        except RestError as error:
            return _Answer(error.status, error.body, self._headers(request, authenticated=True, allow=allow))
        status, payload, extra = result
        return _Answer(status, payload, self._headers(request, authenticated=True, allow=allow, **extra))

    @staticmethod
    def _json_body(request: _Request) -> Any:
        if not request.body or not request.content_type.startswith("application/json"):
            return {}
        try:
            return json.loads(request.body)
        except ValueError:
            raise RestError(400, rest_error("rest_invalid_json", "Invalid JSON body passed.", 400,
                                            json_error_code=4, json_error_message="Syntax error"))

    # ---------------------------------------------------------------- auth (WC_REST_Authentication)

    def _authenticate(self, request: _Request) -> tuple[dict[str, Any] | None, str | None]:
        """(error body or None, consumer key of the authenticated user or None)."""
        if request.is_ssl:
            key = request.get.get("consumer_key")
            secret = request.get.get("consumer_secret")
            if not key:
                authorization = request.headers.get("authorization", "")
                if authorization.lower().startswith("basic "):
                    try:
                        key, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
                    except ValueError:
                        key = None
            if key and key in self._keys:
                if secret == self._keys[key][0]:
                    return None, key
                return rest_error("woocommerce_rest_authentication_error", "Consumer secret is invalid.", 401), None
        # OAuth 1.0a, one-legged: parameters from $_GET and $_POST (an Authorization: OAuth header is not read).
        params = {**request.get, **request.post}
        required = ("oauth_consumer_key", "oauth_timestamp", "oauth_nonce", "oauth_signature", "oauth_signature_method")
        if any(not params.get(name) for name in required):
            return None, None
        key = str(params["oauth_consumer_key"])
        if key not in self._keys:
            return rest_error("woocommerce_rest_authentication_error", "Consumer key is invalid.", 401), None
        secret = self._keys[key][0]
        given = unquote(str(params.pop("oauth_signature")).replace(" ", "+"))
        method = params["oauth_signature_method"]
        if method not in ("HMAC-SHA1", "HMAC-SHA256"):
            return rest_error("woocommerce_rest_authentication_error",
                              "Invalid signature - signature method is invalid.", 401), None
        base_url = self.shop.site.replace("http://", "https://", 1) if request.is_ssl else self.shop.site
        string_to_sign = oauth_string_to_sign(request.method, base_url + "/" + request.raw_path.lstrip("/"), params)
        if oauth_signature(string_to_sign, secret, method) != given:
            return rest_error("woocommerce_rest_authentication_error",
                              "Invalid signature - provided signature does not match.", 401), None
        try:
            timestamp = int(str(params["oauth_timestamp"]))
        except ValueError:
            timestamp = 0
        now = int(self.shop.now().timestamp())
        if timestamp < now - OAUTH_WINDOW_S or timestamp > now + OAUTH_WINDOW_S:
            return rest_error("woocommerce_rest_authentication_error", "Invalid timestamp.", 401), None
        with self.shop.lock:
            used = self._nonces.setdefault(key, {})
            nonce = str(params["oauth_nonce"])
            if nonce in used.values():
                return rest_error("woocommerce_rest_authentication_error",
                                  "Invalid nonce - nonce has already been used.", 401), None
            # WooCommerce keys remembered nonces by timestamp, so a second request in the same second replaces
            # the first one's nonce; kept as is.
            used[timestamp] = nonce
            for stamp in [s for s in used if s < now - OAUTH_WINDOW_S]:
                del used[stamp]
        return None, key

    # ---------------------------------------------------------------- pagination

    def _page(self, request: _Request, params: Mapping[str, Any], items: list[Any],
              max_per_page: int = 100) -> tuple[list[Any], dict[str, Any]]:
        per_page = _int_param(params, "per_page", 10, 1, max_per_page)
        page = _int_param(params, "page", 1, 1, None)
        offset = params.get("offset")
        start = int(offset) if offset not in (None, "") and str(offset).isdigit() else (page - 1) * per_page
        total = len(items)
        pages = math.ceil(total / per_page) if total else 0
        links = []
        base = f"{self.shop.site}{request.raw_path}"

        def link(to_page: int, rel: str) -> str:
            query = {k: v for k, v in request.get.items() if k != "page" and not isinstance(v, dict)}
            query["page"] = str(to_page)
            return f'<{base}?{urlencode(query)}>; rel="{rel}"'

        if page > 1 and total:
            links.append(link(min(page - 1, pages), "prev"))
        if page < pages:
            links.append(link(page + 1, "next"))
        return items[start:start + per_page], {"total": (total, pages), "links": links}

    # ---------------------------------------------------------------- orders

    def _orders_list(self, request: _Request, params: dict[str, Any]) -> tuple:
        shop = self.shop
        dp = _int_param(params, "dp", 2, 0, None)
        with shop.lock:
            statuses = php_list(params.get("status")) or ["any"]
            orders = list(shop.orders.values())
            if "any" in statuses:
                orders = [o for o in orders if o.status not in ("trash", "checkout-draft", "auto-draft")]
            else:
                orders = [o for o in orders if o.status in statuses]
            if params.get("customer") not in (None, ""):
                orders = [o for o in orders if str(o.customer_id) == str(params["customer"])]
            if params.get("parent") not in (None, ""):
                parents = set(php_list(params["parent"]))
                orders = [o for o in orders if str(o.parent_id) in parents]
            if params.get("parent_exclude") not in (None, ""):
                excluded = set(php_list(params["parent_exclude"]))
                orders = [o for o in orders if str(o.parent_id) not in excluded]
            if params.get("include") not in (None, ""):
                included = set(php_list(params["include"]))
                orders = [o for o in orders if str(o.id) in included]
            if params.get("exclude") not in (None, ""):
                excluded = set(php_list(params["exclude"]))
                orders = [o for o in orders if str(o.id) not in excluded]
            if params.get("created_via") not in (None, ""):
                vias = set(php_list(params["created_via"]))
                orders = [o for o in orders if o.created_via in vias]
            if params.get("product") not in (None, ""):
                orders = [o for o in orders
                          if any(str(li.product_id) == str(params["product"]) for li in o.line_items)]
            for name, attr, keep in (("after", "created", lambda v, b: v > b), ("before", "created", lambda v, b: v < b),
                                     ("modified_after", "modified", lambda v, b: v > b),
                                     ("modified_before", "modified", lambda v, b: v < b)):
                if params.get(name) not in (None, ""):
                    bound = _parse_date(str(params[name]), name)
                    orders = [o for o in orders if keep(getattr(o, attr), bound)]
            if params.get("search") not in (None, ""):
                term = str(params["search"])
                orders = [o for o in orders if _order_matches(o, term)]
            orderby = str(params.get("orderby") or "date")
            if orderby not in ("date", "id", "include", "title", "slug", "modified"):
                raise RestError(400, invalid_params([(
                    "orderby", "rest_not_in_enum", "orderby is not one of date, id, include, title, slug, and modified.",
                    None)]))
            descending = str(params.get("order") or "desc").lower() != "asc"
            keys = {"date": lambda o: (o.created, o.id), "modified": lambda o: (o.modified, o.id)}
            orders.sort(key=keys.get(orderby, lambda o: o.id), reverse=descending)
            page, extra = self._page(request, params, orders)
            include_meta = php_list(params.get("include_meta")) or None
            exclude_meta = php_list(params.get("exclude_meta")) or None
            return 200, [shop.order_json(o, dp, include_meta, exclude_meta, listed=True) for o in page], extra

    def _orders_create(self, request: _Request, params: dict[str, Any]) -> tuple:
        body = self._json_body(request) or params
        with self.shop.lock:
            order = self.shop.create_order_from_rest(body)
            location = f"{self.shop.site}/wp-json/wc/v3/orders/{order.id}"
            return 201, self.shop.order_json(order), {"location": location}

    def _orders_get(self, request: _Request, params: dict[str, Any], order_id: str) -> tuple:
        with self.shop.lock:
            order = self.shop.order_or_error(order_id)
            return 200, self.shop.order_json(order, _int_param(params, "dp", 2, 0, None)), {}

    def _orders_update(self, request: _Request, params: dict[str, Any], order_id: str) -> tuple:
        body = self._json_body(request) or params
        with self.shop.lock:
            order = self.shop.update_order_from_rest(order_id, body)
            return 200, self.shop.order_json(order), {}

    def _orders_delete(self, request: _Request, params: dict[str, Any], order_id: str) -> tuple:
        force = _boolean_param(params, "force")
        with self.shop.lock:
            order = self.shop.order_or_error(order_id)
            before = self.shop.order_json(order)  # the answer is the order as it was before the delete
            if force:
                self.shop.force_delete_order(order)
            elif order.status == "trash":
                raise RestError(410, rest_error("woocommerce_rest_already_trashed",
                                                "The shop_order has already been deleted.", 410))
            else:
                self.shop.trash_order(order)
            return 200, before, {}

    def _notes_list(self, request: _Request, params: dict[str, Any], order_id: str) -> tuple:
        with self.shop.lock:
            order = self.shop.order_or_error(order_id, code="woocommerce_rest_order_invalid_id",
                                             message="Invalid order ID.")
            kind = str(params.get("type") or "any")
            notes = [n for n in self.shop.notes_of(order.id)
                     if kind == "any" or (kind == "customer") == n.customer_note]
            return 200, [self.shop.note_json(n) for n in notes], {}

    def _notes_create(self, request: _Request, params: dict[str, Any], order_id: str) -> tuple:
        with self.shop.lock:
            order = self.shop.order_or_error(order_id, code="woocommerce_rest_order_invalid_id",
                                             message="Invalid order ID.")
            if not params.get("note"):
                raise RestError(400, rest_error("rest_missing_callback_param", "Missing parameter(s): note", 400,
                                                params=["note"]))
            customer_note = params.get("customer_note") in (True, "true", "1", 1)
            author = "admin" if params.get("added_by_user") in (True, "true", "1", 1) else "WooCommerce"
            # A note is a comment, not an order save: no order.updated (captured in rest/06 and more/15).
            note = self.shop.add_note(order, str(params["note"]), customer_note, author)
            location = f"{self.shop.site}/wp-json/wc/v3/orders/{order.id}/notes/{note.id}"
            return 201, self.shop.note_json(note), {"location": location}

    def _refunds_list(self, request: _Request, params: dict[str, Any], order_id: str) -> tuple:
        with self.shop.lock:
            order = self.shop.order_or_error(order_id, code="woocommerce_rest_order_invalid_id",
                                             message="Invalid order ID.")
            refunds = sorted((self.shop.refunds[r] for r in order.refund_ids), key=lambda r: (r.created, r.id),
                             reverse=True)
            page, extra = self._page(request, params, refunds)
            return 200, [self.shop.refund_json(r) for r in page], extra

    def _refunds_create(self, request: _Request, params: dict[str, Any], order_id: str) -> tuple:
        with self.shop.lock:
            order = self.shop.order_or_error(order_id, code="woocommerce_rest_order_invalid_id",
                                             message="Invalid order ID.")
            refund = self.shop.create_refund(order, params)
            location = f"{self.shop.site}/wp-json/wc/v3/orders/{order.id}/refunds/{refund.id}"
            return 201, self.shop.refund_json(refund), {"location": location}

    # ---------------------------------------------------------------- products and customers

    def _products_list(self, request: _Request, params: dict[str, Any]) -> tuple:
        with self.shop.lock:
            products = [p for p in self.shop.products.values() if p.type != "variation"]
            if params.get("sku"):
                products = [p for p in products if p.sku in php_list(params["sku"])]
            if params.get("search"):
                products = [p for p in products if str(params["search"]).lower() in p.name.lower()]
            products.sort(key=lambda p: (p.created, p.id), reverse=str(params.get("order") or "desc") != "asc")
            page, extra = self._page(request, params, products)
            return 200, [self.shop.product_json(p) for p in page], extra

    def _products_create(self, request: _Request, params: dict[str, Any]) -> tuple:
        with self.shop.lock:
            attrs = [a for a in params.get("attributes") or [] if isinstance(a, Mapping)]
            product = self.shop.add_product(
                str(params.get("name") or ""), params.get("regular_price", ""), str(params.get("sku") or ""),
                {m["key"]: m.get("value") for m in params.get("meta_data") or [] if isinstance(m, Mapping)},
                type=str(params.get("type") or "simple"), description=str(params.get("description") or ""),
                virtual=bool(params.get("virtual")), downloadable=bool(params.get("downloadable")),
                attributes=attrs)
            location = f"{self.shop.site}/wp-json/wc/v3/products/{product.id}"
            return 201, self.shop.product_json(product, context="edit"), {"location": location}

    def _products_get(self, request: _Request, params: dict[str, Any], product_id: str) -> tuple:
        with self.shop.lock:
            product = self.shop.products.get(int(product_id))
            if product is None:
                raise RestError(404, rest_error("woocommerce_rest_product_invalid_id", "Invalid ID.", 404))
            return 200, self.shop.product_json(product), {}

    def _variations_list(self, request: _Request, params: dict[str, Any], product_id: str) -> tuple:
        with self.shop.lock:
            parent = self.shop.products.get(int(product_id))
            if parent is None:
                raise RestError(404, rest_error("woocommerce_rest_product_invalid_id", "Invalid ID.", 404))
            variations = [self.shop.products[v] for v in parent.variations]
            page, extra = self._page(request, params, variations)
            return 200, [self.shop.product_json(v) for v in page], extra

    def _variations_create(self, request: _Request, params: dict[str, Any], product_id: str) -> tuple:
        with self.shop.lock:
            attributes = {a.get("name"): a.get("option") for a in params.get("attributes") or []
                          if isinstance(a, Mapping)}
            variation = self.shop.add_variation(int(product_id), params.get("regular_price", ""),
                                                str(params.get("sku") or ""), attributes)
            location = f"{self.shop.site}/wp-json/wc/v3/products/{product_id}/variations/{variation.id}"
            return 201, self.shop.product_json(variation), {"location": location}

    def _variations_get(self, request: _Request, params: dict[str, Any], product_id: str,
                        variation_id: str) -> tuple:
        with self.shop.lock:
            variation = self.shop.products.get(int(variation_id))
            if variation is None or variation.parent_id != int(product_id):
                raise RestError(404, rest_error("woocommerce_rest_product_variation_invalid_id", "Invalid ID.", 404))
            return 200, self.shop.product_json(variation), {}

    def _customers_list(self, request: _Request, params: dict[str, Any]) -> tuple:
        with self.shop.lock:
            customers = sorted(self.shop.customers.values(), key=lambda c: c.username)
            if params.get("email"):
                customers = [c for c in customers if c.email.lower() == str(params["email"]).lower()]
            page, extra = self._page(request, params, customers)
            return 200, [self.shop.customer_json(c) for c in page], extra

    def _customers_create(self, request: _Request, params: dict[str, Any]) -> tuple:
        with self.shop.lock:
            customer = self.shop.add_customer(
                str(params.get("email") or ""), str(params.get("first_name") or ""),
                str(params.get("last_name") or ""), str(params.get("username") or ""),
                params.get("billing") if isinstance(params.get("billing"), Mapping) else None,
                params.get("shipping") if isinstance(params.get("shipping"), Mapping) else None)
            location = f"{self.shop.site}/wp-json/wc/v3/customers/{customer.id}"
            return 201, self.shop.customer_json(customer), {"location": location}

    def _customers_get(self, request: _Request, params: dict[str, Any], customer_id: str) -> tuple:
        with self.shop.lock:
            customer = self.shop.customers.get(int(customer_id))
            if customer is None:
                raise RestError(404, rest_error("woocommerce_rest_invalid_id", "Invalid resource ID.", 404))
            return 200, self.shop.customer_json(customer), {}

    # ---------------------------------------------------------------- webhooks

    def _webhook_or_error(self, webhook_id: str):
        hook = self.hub.webhooks.get(int(webhook_id))
        if hook is None:
            raise RestError(404, rest_error("woocommerce_rest_webhook_invalid_id", "Invalid ID.", 404))
        return hook

    def _validate_webhook(self, params: Mapping[str, Any], creating: bool) -> None:
        if "status" in params and params["status"] not in WEBHOOK_STATUSES:
            raise RestError(400, invalid_params([("status", "rest_not_in_enum",
                                                  "status is not one of active, paused, and disabled.", None)]))
        topic = params.get("topic")
        if (creating or topic is not None) and not _valid_topic(str(topic or "")):
            raise RestError(400, rest_error("woocommerce_rest_shop_webhook_invalid_topic",
                                            "Webhook topic is required and must be valid.", 400))
        url = params.get("delivery_url")
        if (creating or url is not None) and not re.match(r"^https?://[^/\s]+", str(url or "")):
            raise RestError(400, rest_error("woocommerce_rest_shop_webhook_invalid_delivery_url",
                                            "Webhook delivery URL must be a valid URL starting with http:// or https://.",
                                            400))

    def _webhooks_list(self, request: _Request, params: dict[str, Any]) -> tuple:
        with self.shop.lock:
            status = str(params.get("status") or "all")
            hooks = [h for h in self.hub.webhooks.values() if status == "all" or h.status == status]
            hooks.sort(key=lambda h: (-h.created.timestamp(), h.id))  # captured: newest first, then by id
            page, extra = self._page(request, params, hooks)
            return 200, [webhook_json(self.shop, h) for h in page], extra

    def _webhooks_create(self, request: _Request, params: dict[str, Any]) -> tuple:
        self._validate_webhook(params, creating=True)
        with self.shop.lock:
            hook = self.hub.create(str(params.get("name") or ""), str(params["topic"]), str(params["delivery_url"]),
                                   str(params["secret"]) if params.get("secret") else None,
                                   str(params.get("status") or "active"))
            answer = webhook_json(self.shop, hook)
        if hook.status == "active":
            self.hub.ping(hook)  # synchronous, inside the create call; its result does not change the answer
        location = f"{self.shop.site}/wp-json/wc/v3/webhooks/{hook.id}"
        return 201, answer, {"location": location}

    def _webhooks_get(self, request: _Request, params: dict[str, Any], webhook_id: str) -> tuple:
        with self.shop.lock:
            return 200, webhook_json(self.shop, self._webhook_or_error(webhook_id)), {}

    def _webhooks_update(self, request: _Request, params: dict[str, Any], webhook_id: str) -> tuple:
        self._validate_webhook(params, creating=False)
        with self.shop.lock:
            hook = self._webhook_or_error(webhook_id)
            url_changed = "delivery_url" in params and params["delivery_url"] != hook.delivery_url
            for name in ("name", "topic", "delivery_url", "status"):
                if name in params and params[name] is not None:
                    setattr(hook, name, str(params[name]))
            if params.get("secret"):
                hook.secret = str(params["secret"])
            if url_changed:
                hook.pending_delivery = True
            hook.modified = self.shop.now()
            ping = hook.status == "active" and hook.pending_delivery
        if ping:
            self.hub.ping(hook)  # the data store re-pings an active webhook whose delivery is still pending
        with self.shop.lock:
            return 200, webhook_json(self.shop, hook), {}

    def _webhooks_delete(self, request: _Request, params: dict[str, Any], webhook_id: str) -> tuple:
        with self.shop.lock:
            hook = self._webhook_or_error(webhook_id)
            if not _boolean_param(params, "force"):
                raise RestError(501, rest_error("woocommerce_rest_trash_not_supported",
                                                "Webhooks do not support trashing.", 501))
            answer = webhook_json(self.shop, hook)
            del self.hub.webhooks[hook.id]
            return 200, answer, {}

    # ---------------------------------------------------------------- Store API (the block checkout)

    def _cart(self, request: _Request) -> tuple[str, list[tuple[int, int, int]]]:
        """The guest cart a request names with its Cart-Token header (a new one when it names none).

        A cart POST needs that token or the Nonce the shop handed out; without either the real Store API answers
        401 woocommerce_rest_missing_nonce."""
        token = request.headers.get("cart-token", "")
        with self.shop.lock:
            if token in self._carts:
                return token, self._carts[token]
            if request.method == "POST" and request.headers.get("nonce") not in self._store_nonces:
                raise RestError(401, rest_error("woocommerce_rest_missing_nonce",
                                                "Missing the Nonce header. This endpoint requires a valid nonce.", 401))
            token = cart_token()
            self._carts[token] = []
            return token, self._carts[token]

    def _store_headers(self, token: str) -> dict[str, Any]:
        nonce = secrets.token_hex(5)
        with self.shop.lock:
            self._store_nonces.add(nonce)
        return {"store": [("Nonce", nonce), ("Nonce-Timestamp", str(int(self.shop.now().timestamp()))),
                          ("User-ID", "0"), ("Cart-Token", token), ("Cart-Hash", "")]}

    def _store_cart(self, request: _Request, params: dict[str, Any]) -> tuple:
        """GET /wc/store/v1/cart: where a storefront session starts (its Nonce and Cart-Token headers)."""
        token, lines = self._cart(request)
        return 200, self._cart_json(lines), self._store_headers(token)

    def _store_add_item(self, request: _Request, params: dict[str, Any]) -> tuple:
        token, lines = self._cart(request)
        try:
            product_id, quantity = int(params.get("id") or 0), int(params.get("quantity") or 1)
        except (TypeError, ValueError):
            product_id, quantity = 0, 0
        with self.shop.lock:
            if product_id not in self.shop.products:
                raise RestError(400, rest_error("woocommerce_rest_cart_invalid_product",
                                                f"Product with ID &quot;{product_id}&quot; was not found and cannot "
                                                "be added to the cart.", 400))
            if quantity < 1:
                raise RestError(400, invalid_params([("quantity", "rest_invalid_param",
                                                      "quantity must be greater than 0", {"param": "quantity"})]))
            lines.append((product_id, quantity, int(params.get("variation_id") or 0)))
        return 201, self._cart_json(lines), self._store_headers(token)

    def _cart_json(self, lines: list[tuple[int, int, int]]) -> dict[str, Any]:
        with self.shop.lock:
            items = [{"id": product_id, "quantity": quantity, "name": self.shop.products[product_id].name}
                     for product_id, quantity, _ in lines]
        return {"items": items, "items_count": sum(item["quantity"] for item in items), "needs_payment": True}

    def _store_checkout(self, request: _Request, params: dict[str, Any]) -> tuple:
        """POST /wc/store/v1/checkout: the cart of the Cart-Token becomes an order, and the cart is emptied."""
        token, lines = self._cart(request)
        if not lines:
            raise RestError(409, rest_error("woocommerce_rest_cart_empty",
                                            "Cannot place an order, your cart is empty.", 409))
        billing = params.get("billing_address") if isinstance(params.get("billing_address"), Mapping) else {}
        shipping = params.get("shipping_address") if isinstance(params.get("shipping_address"), Mapping) else None
        with self.shop.lock:
            order = self.shop.place_storefront_order(
                None, list(lines), str(params.get("payment_method") or "cod"), "store-api", False, "",
                str(params.get("customer_note") or ""), request.headers.get("user-agent", ""), billing, shipping)
            lines.clear()
            return 200, self.shop.checkout_json(order), self._store_headers(token)


# ====================================================================== routing helpers

_ROUTES: list[tuple[str, str, dict[str, str], str, str]] = [
    # (path pattern, allow header, method -> handler, kind)
    (r"/wp-json/wc/v3/orders", COLLECTION_ALLOW, {"GET": "_orders_list", "POST": "_orders_create"}, "wc"),
    (r"/wp-json/wc/v3/orders/(\d+)", ITEM_ALLOW,
     {"GET": "_orders_get", "POST": "_orders_update", "PUT": "_orders_update", "PATCH": "_orders_update",
      "DELETE": "_orders_delete"}, "wc"),
    (r"/wp-json/wc/v3/orders/(\d+)/notes", COLLECTION_ALLOW, {"GET": "_notes_list", "POST": "_notes_create"}, "wc"),
    (r"/wp-json/wc/v3/orders/(\d+)/refunds", COLLECTION_ALLOW,
     {"GET": "_refunds_list", "POST": "_refunds_create"}, "wc"),
    (r"/wp-json/wc/v3/products", COLLECTION_ALLOW, {"GET": "_products_list", "POST": "_products_create"}, "wc"),
    (r"/wp-json/wc/v3/products/(\d+)", ITEM_ALLOW, {"GET": "_products_get"}, "wc"),
    (r"/wp-json/wc/v3/products/(\d+)/variations", COLLECTION_ALLOW,
     {"GET": "_variations_list", "POST": "_variations_create"}, "wc"),
    (r"/wp-json/wc/v3/products/(\d+)/variations/(\d+)", ITEM_ALLOW, {"GET": "_variations_get"}, "wc"),
    (r"/wp-json/wc/v3/customers", COLLECTION_ALLOW, {"GET": "_customers_list", "POST": "_customers_create"}, "wc"),
    (r"/wp-json/wc/v3/customers/(\d+)", ITEM_ALLOW, {"GET": "_customers_get"}, "wc"),
    (r"/wp-json/wc/v3/webhooks", COLLECTION_ALLOW, {"GET": "_webhooks_list", "POST": "_webhooks_create"}, "wc"),
    (r"/wp-json/wc/v3/webhooks/(\d+)", ITEM_ALLOW,
     {"GET": "_webhooks_get", "POST": "_webhooks_update", "PUT": "_webhooks_update", "PATCH": "_webhooks_update",
      "DELETE": "_webhooks_delete"}, "wc"),
    (r"/wp-json/wc/store/v1/cart", "GET", {"GET": "_store_cart"}, "store"),
    (r"/wp-json/wc/store/v1/cart/add-item", "POST", {"POST": "_store_add_item"}, "store"),
    (r"/wp-json/wc/store/v1/checkout", "GET, POST, PUT, PATCH", {"POST": "_store_checkout"}, "store"),
]


def _match_route(method: str, path: str) -> tuple[str, tuple[str, ...], str, str] | None:
    path = path.rstrip("/") or "/"
    for pattern, allow, handlers, kind in _ROUTES:
        match = re.fullmatch(pattern, path)
        if match and method in handlers:
            return handlers[method], match.groups(), allow, kind
    return None


def _permission_error(method: str, handler: str) -> dict[str, Any]:
    """The 401 a route's permission callback gives when nobody is authenticated (rest/01_auth_*, 05_err_401_*)."""
    collection = handler.endswith("_list")
    if method == "GET" and collection:
        return rest_error("woocommerce_rest_cannot_view", "Sorry, you cannot list resources.", 401)
    if method == "GET":
        return rest_error("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource.", 401)
    if method == "POST" and handler.endswith("_create"):
        return rest_error("woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources.", 401)
    if method == "DELETE":
        return rest_error("woocommerce_rest_cannot_delete", "Sorry, you are not allowed to delete this resource.", 401)
    return rest_error("woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource.", 401)


def _valid_topic(topic: str) -> bool:
    if topic.startswith("action.woocommerce_") or topic.startswith("action.wc_"):
        return True
    resource, _, event = topic.partition(".")
    return resource in ("coupon", "customer", "order", "product") and event in ("created", "updated", "deleted",
                                                                                "restored")


def _order_matches(order: Order, term: str) -> bool:
    """HPOS search: the order id, order item names, the billing/shipping address index and the transaction id."""
    needle = term.lower()
    if term.isdigit() and int(term) == order.id:
        return True
    haystacks = [li.name for li in order.line_items]
    haystacks.append(" ".join(order.billing.values()))
    haystacks.append(" ".join(order.shipping.values()))
    haystacks.append(order.transaction_id)
    return any(needle in h.lower() for h in haystacks if h)


def _parse_date(value: str, name: str) -> datetime:
    text = value.strip().replace(" ", "+") if "T" in value else value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise RestError(400, invalid_params([(name, "rest_invalid_date", "Invalid date.", None)]))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)  # site timezone is UTC: local and _gmt dates agree
    return moment.astimezone(timezone.utc)


def _boolean_param(params: Mapping[str, Any], name: str) -> bool:
    """rest_sanitize_boolean after the schema's type check: anything but these is a 400 naming the parameter."""
    value = params.get(name, False)
    if value in (True, False, 1, 0) or str(value).lower() in ("", "true", "false", "1", "0"):
        return value is True or str(value).lower() in ("true", "1")
    message = f"{name} is not of type boolean."
    raise RestError(400, invalid_params([(name, "rest_invalid_type", message, {"param": name})]))


def _int_param(params: Mapping[str, Any], name: str, default: int, low: int, high: int | None) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(str(raw))
    except ValueError:
        raise RestError(400, invalid_params([(name, "rest_invalid_type", f"{name} is not of type integer.",
                                              {"param": name})]))
    if value < low or (high is not None and value > high):
        message = (f"{name} must be between {low} (inclusive) and {high} (inclusive)" if high is not None
                   else f"{name} must be greater than or equal to {low}")
        raise RestError(400, invalid_params([(name, "rest_out_of_bounds", message, None)]))
    return value


def _reason(status: int) -> str:
    from http import HTTPStatus
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


__all__ = ["WooCommerceStandin", "RunningShop", "Delivery", "Mail", "Note", "fmt_date", "money", "to_decimal",
           "TOPIC_HOOKS"]
