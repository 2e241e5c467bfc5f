"""A stand-in PrestaShop 8.2.0 shop: its webservice over real HTTP, and abonne's module sending signed events.

    standin = PrestaShopStandin()
    shop = standin.start("BRIDGE0KEY0FULL0ACCESS0123456789", clock=clock)   # shop.url == "http://127.0.0.1:PORT/"
    jane = standin.add_customer("jane@example.com", "Jane", "Doe")
    home = standin.add_address(jane, "1 Main St", "Dublin", "D02", country="IE")
    club = standin.add_product("Coffee Club Monthly", "19.90", "CLUB-M", features={"Subscription": "monthly"})
    standin.connect_module("http://127.0.0.1:8000", shop_id=1, secret="...")
    order_id = standin.place_order(jane, [(club, 1)])                      # state 10, event order.created
    standin.flush_events()
    standin.stop()

What it serves: `/api/` with Basic auth (the key as user, empty password) or `?ws_key=`, per-key permissions,
XML or JSON output, filters, display, sort, limit and schemas, for customers, addresses, countries, products,
product_features, product_feature_values, carts, specific_prices, orders (validateOrder semantics),
order_histories, order_payments, order_details, order_carriers, order_slip, order_states, messages,
customer_threads, customer_messages, currencies and configurations; and abonne's module: its signed events and
its signed cart-total read at index.php?fc=module&module=abonne&controller=cart. Shapes, codes and quirks come from
tests/fixtures/prestashop-8.2.0 and from checks on a real 8.2.0 (specific prices for one cart and their removal by
validateOrder, "Id(s) not exists" for a DELETE of a missing id, the 500 "Unable to save resource" of a state change
whose mail fails); the rules live in standin_shop.py (orders, prices, mails), standin_wire.py (formats),
standin_resources.py (fields) and standin_module.py (events, cart totals).

Not captured, so built from PrestaShop's code and marked where they are made: the 503 of a disabled webservice, the
schemas of customer_threads/customer_messages/currencies/configurations/product features/specific_prices/countries,
PUT/PATCH of order_payments, the errors for a missing <id> on PATCH and for unsupported methods, "Secure key does
not match", and the 404 page for a module controller that is not there.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import parse_qsl, unquote

from adapters.prestashop.standin_module import ModuleEvents, ModuleLink, cart_answer
from adapters.prestashop.standin_resources import (
    ALL_RESOURCES, DESCRIPTIONS, FULL_KEY_RESOURCES, METHODS, RESOURCES, Resource,
)
from adapters.prestashop.standin_shop import (
    PAYMENT_MODULES, PS_OS_WS_PAYMENT, Mail, ShopState, decimal, money6, round2,
)
from adapters.prestashop.standin_wire import (
    HTML_CONTENT_TYPE, JSON_CONTENT_TYPE, XML_CONTENT_TYPE, WsError, closest, fold_associations, input_object,
    json_errors,
    list_json, list_xml, object_json, object_xml, parse_input_xml, parse_list_query, php_json, schema_xml, select,
    xml_document, xml_errors,
)
from adapters.standin_http import Answer, SwitchableStandin
from adapters.standin_module_events import ModuleEventSender, ModuleEventViews, SentEvent
from bridge.clock import now_function

REALM = 'Basic realm="Welcome to PrestaShop Webservice, please enter the authentication key as the login. ' \
        'No password required."'
PHP_POWERED = ("X-Powered-By", "PHP/8.2.28")
GENERIC_NAME = set("<>={}")  # Validate::isGenericName refuses these (capture 47)
WRITABLE = {  # resource -> methods the stand-in implements beyond GET/HEAD
    "carts": {"POST"}, "orders": {"POST", "PATCH", "DELETE"}, "order_histories": {"POST"},
    "order_payments": {"PUT", "PATCH"}, "messages": {"POST"}, "customer_threads": {"POST", "PATCH"},
    "customer_messages": {"POST"}, "specific_prices": {"POST", "DELETE"},
}
DELETABLE = ("orders", "specific_prices")


@dataclass
class RunningShop:
    """What `start()` returns: the shop URL (trailing slash) and the webservice root."""

    url: str
    standin: "PrestaShopStandin"

    @property
    def api_url(self) -> str:
        return self.url + "api/"

    def stop(self) -> None:
        self.standin.stop()


class _Request:
    def __init__(self, environ: Mapping[str, Any]):
        self.method = environ["REQUEST_METHOD"].upper()
        self.path = unquote(environ.get("PATH_INFO", "/"))
        self.params = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        self.headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        self.content_type = environ.get("CONTENT_TYPE", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        self.body = environ["wsgi.input"].read(length) if length else b""
        if self.content_type.startswith("application/x-www-form-urlencoded") and self.body.startswith(b"xml="):
            self.body = dict(parse_qsl(self.body.decode("utf-8", "replace"))).get("xml", "").encode()

    @property
    def wants_json(self) -> bool:
        """output_format / io_format in the query, or the Output-Format / Io-Format header; exactly "JSON"."""
        return "JSON" in (self.params.get("output_format"), self.params.get("io_format"),
                          self.headers.get("output-format"), self.headers.get("io-format"))


class PrestaShopStandin(SwitchableStandin, ModuleEventViews):
    """A PrestaShop 8.2.0 shop on a free local port. Thread-safe; every method may be called from tests. The
    breakage switches (refuse_connections, answer, slow_down, answer_late, ...) come from SwitchableStandin, the
    event views (events, queued_events, flush_events, resend_due, ...) from ModuleEventViews."""

    def __init__(self, shop_name: str = "abonne stand-in shop", event_timeout_s: float = 3.0,
                 timezone: str = "Europe/Dublin"):
        """`timezone` is PS_TIMEZONE: the shop stores and shows its dates in this zone's local time."""
        super().__init__()
        self._shop_name = shop_name
        self._timezone = timezone
        self._event_timeout_s = event_timeout_s
        self._shop: ShopState | None = None
        self._events: ModuleEvents | None = None
        self._keys: dict[str, dict[str, set[str]]] = {}
        self._enabled = True

    # ================================================================== lifecycle

    def start(self, full_key: str, clock: Any = None, port: int = 0) -> RunningShop:
        """Serve on 127.0.0.1 (port 0: a free one). `full_key` may use every method on the resources the captured
        shop's full key had (capture 01). `clock`: callable -> aware UTC datetime, or an object with .now()."""
        self._open_listener(port)
        self._shop = ShopState(now_function(clock), self._emit, f"http://127.0.0.1:{self._port}", self._timezone)
        self._events = ModuleEvents(self._shop)
        self._events.sender.start()
        self.add_key(full_key, {resource: set(METHODS) for resource in FULL_KEY_RESOURCES})
        return RunningShop(url=self.url, standin=self)

    def stop(self) -> None:
        if self._events is not None:
            self._events.sender.stop()
        self._close_listener()

    @property
    def shop(self) -> ShopState:
        if self._shop is None:
            raise RuntimeError("start() the stand-in first")
        return self._shop

    def add_key(self, key: str, permissions: Mapping[str, Iterable[str]]) -> None:
        """A webservice key with {resource: {"GET", "POST", ...}} (Advanced Parameters > Webservice)."""
        self._keys[key] = {resource: {m.upper() for m in methods} for resource, methods in permissions.items()}

    def remove_key(self, key: str) -> None:
        self._keys.pop(key, None)

    # ================================================================== seeding (the shop owner's catalogue)

    def add_customer(self, email: str, first_name: str = "", last_name: str = "", note: str = "") -> int:
        with self.shop.lock:
            return self.shop.add_customer(email, first_name, last_name, note)["id"]

    def add_address(self, customer_id: int, address1: str, city: str, postcode: str = "", country: str = "IE",
                    phone: str = "", first_name: str | None = None, last_name: str | None = None,
                    company: str = "", address2: str = "", alias: str = "Home") -> int:
        with self.shop.lock:
            customer = self.shop.table("customers")[customer_id]
            return self.shop.add_address(customer_id, first_name if first_name is not None else customer["firstname"],
                                         last_name if last_name is not None else customer["lastname"], address1,
                                         city, postcode, country, phone, company, address2, alias)["id"]

    def add_product(self, name: str, price_tax_incl: Any, reference: str = "",
                    features: Mapping[str, str] | None = None, weight: Any = "0.5") -> int:
        """A product at this price including 23 % VAT; `features={"Subscription": "monthly"}` creates the product
        feature and value when needed and links them (products' associations/product_features)."""
        with self.shop.lock:
            return self.shop.add_product(name, decimal(price_tax_incl), reference, dict(features or {}),
                                         str(weight))["id"]

    def add_product_feature(self, product_id: int, feature: str, value: str) -> None:
        with self.shop.lock:
            self.shop.set_product_feature(product_id, feature, value)

    def set_carrier_price(self, carrier_id: int, price_tax_incl: Any) -> None:
        """Carrier 1 is the free default ("Click and collect"), carrier 2 costs 8.61 as captured."""
        with self.shop.lock:
            self.shop.carrier_prices[carrier_id] = decimal(price_tax_incl)

    def set_module_active(self, module: str, active: bool) -> None:
        """Enable or disable a payment module (capture 45: a disabled one refuses orders)."""
        with self.shop.lock:
            if module not in self.shop.modules:
                raise ValueError(f"{module} is not installed; installed: {', '.join(self.shop.modules)}")
            self.shop.modules[module] = active

    # ================================================================== the module

    def connect_module(self, bridge_url: str, shop_id: int | str, secret: str) -> None:
        """Configure abonne's module: events go to {bridge_url}/webhooks/prestashop/{shop_id}, signed with secret."""
        url = f"{bridge_url.rstrip('/')}/webhooks/prestashop/{shop_id}"
        self._module.link = ModuleLink(url, secret, self._event_timeout_s)

    def disconnect_module(self) -> None:
        self._module.link = None

    def ping_module(self) -> SentEvent:
        """The module's "Test connection" button: a synchronous signed ping."""
        return self._module.ping()

    @property
    def _module(self) -> ModuleEvents:
        if self._events is None:
            raise RuntimeError("start() the stand-in first")
        return self._events

    def _sender(self) -> ModuleEventSender:
        return self._module.sender

    def _emit(self, event: str, order_id: int, old_state: int | None = None, refund: dict[str, str] | None = None,
              snapshot: dict[str, Any] | None = None) -> None:
        if self._events is not None:
            self._events.record(event, order_id, old_state, refund, snapshot)

    # ================================================================== customers' and owner's actions

    def place_order(self, customer_id: int, lines: Iterable[tuple[int, int]], payment_module: str = "ps_wirepayment",
                    state: int | None = None, address_id: int | None = None, carrier_id: int = 2,
                    payment: str | None = None) -> int:
        """A front-office checkout: a cart with `lines` [(product_id, quantity)] on the customer's first address,
        then validateOrder with the cart total, in `state` (default: 10 for ps_wirepayment, 13 for
        ps_cashondelivery, 1 for ps_checkpayment, 2 otherwise). Fires order.created. Returns the order id."""
        initial = state if state is not None else {"ps_wirepayment": 10, "ps_cashondelivery": 13,
                                                    "ps_checkpayment": 1}.get(payment_module, 2)
        with self.shop.lock:
            if address_id is None:
                address_id = next(a["id"] for a in self.shop.table("addresses").values()
                                  if a["id_customer"] == str(customer_id))
            cart = self.shop.create_cart(
                {"id_customer": str(customer_id), "id_address_delivery": str(address_id),
                 "id_address_invoice": str(address_id), "id_currency": "1", "id_lang": "1",
                 "id_carrier": str(carrier_id), "delivery_option": f'{{"{address_id}":"{carrier_id},"}}'},
                [{"id_product": str(p), "quantity": str(q)} for p, q in lines])
            products, shipping, _ = self.shop.cart_total(cart)
            order = self.shop.validate_order(cart["id"], initial, products + shipping, payment_module,
                                             payment or PAYMENT_MODULES.get(payment_module, payment_module), None)
            return order["id"]

    def set_order_state(self, order_id: int, state_id: int, send_email: bool = False) -> None:
        """The owner changes the status in the back office (id_employee 1): fires order.status_changed."""
        with self.shop.lock:
            order = self.shop.table("orders")[order_id]
            self.shop.change_state(order, state_id, employee=1)
            if send_email:
                self.shop.state_mail(order, state_id)

    def add_credit_slip(self, order_id: int, amount: Any, shipping: Any = "0",
                        quantities: Mapping[int, int] | None = None) -> int:
        """A partial refund with a credit slip (products tax incl + shipping): the state stays, order.refunded
        fires. `quantities` {order_detail_id: units}; by default the first line, amount / unit price units."""
        with self.shop.lock:
            order = self.shop.table("orders")[order_id]
            return self.shop.add_credit_slip(order, decimal(amount), decimal(shipping),
                                             dict(quantities) if quantities is not None else None)["id"]

    def delete_order(self, order_id: int) -> None:
        """As DELETE /api/orders/<id> does (the back office cannot): fires order.deleted."""
        with self.shop.lock:
            self.shop.delete_order(self.shop.table("orders")[order_id])

    # ================================================================== observation

    def order(self, order_id: int) -> dict[str, Any] | None:
        """The order as GET /api/orders/<id>?display=full&output_format=JSON shows it (None when deleted)."""
        with self.shop.lock:
            record = self.shop.order_or_none(order_id)
            if record is None:
                return None
            return object_json(RESOURCES["orders"], record, self.shop.associations("orders", record),
                               drop_empty=False)

    def rows(self, resource: str) -> list[dict[str, Any]]:
        """Every row of a table (orders, carts, order_payments, order_histories, customer_messages…)."""
        with self.shop.lock:
            return [{k: v for k, v in r.items() if not k.startswith("_")} for r in self.shop.table(resource).values()]

    def order_messages(self, order_id: int, include_private: bool = False) -> list[str]:
        """The customer_messages of the order's threads: what the customer reads on the order page of her account
        (private ones only with include_private)."""
        with self.shop.lock:
            threads = {str(t["id"]) for t in self.shop.table("customer_threads").values()
                       if t["id_order"] == str(order_id)}
            return [m["message"] for m in self.shop.table("customer_messages").values()
                    if m["id_customer_thread"] in threads and (include_private or m["private"] != "1")]

    @property
    def mails(self) -> list[Mail]:
        """Mails the shop sent: order_conf on validateOrder (not for Payment error or Canceled), the state's template
        for order_histories?sendemail=1, and reply_msg for a public customer_message created through the webservice
        on an order's thread (CustomerMessage::add mails nobody; abonne's module does, while it is active)."""
        with self.shop.lock:
            return list(self.shop.mails)

    # ================================================================== breakage switches (beyond SwitchableStandin's)

    def fail_mails(self, failing: bool = True) -> None:
        """Mail::Send fails (no SMTP server): nothing is recorded in `mails`, validateOrder and the module carry on,
        and order_histories?sendemail=1 saves the state and its history row, then answers 500 "Unable to save
        resource" (code 46), as OrderHistory::addWithemail returns false after changeIdOrderState."""
        with self.shop.lock:
            self.shop.mail_fails = failing

    def set_webservice_enabled(self, enabled: bool) -> None:
        """PS_WEBSERVICE: when off every authenticated call answers 503 (see `_disabled`)."""
        self._enabled = enabled

    def behave_normally(self) -> None:
        self._enabled = True
        super().behave_normally()

    # ================================================================== HTTP

    def _parse(self, environ: Mapping[str, Any]) -> _Request:
        return _Request(environ)

    def _ws_headers(self, json_output: bool, body: bytes, status: int, extra: list[tuple[str, str]] = (),
                    content: bool = True) -> list[tuple[str, str]]:
        headers = [*extra, ("Access-Time", str(int(self.shop.clock().timestamp()))),
                   ("X-Powered-By", "PrestaShop Webservice"), ("PSWS-Version", "8.2.0")]
        if content:
            headers.append(("Content-Type", JSON_CONTENT_TYPE) if json_output
                           else ("Content-type", XML_CONTENT_TYPE))
        headers.append(("Execution-Time", "0.006"))
        if content and 200 <= status < 300:
            headers.append(("Content-Sha1", hashlib.sha1(body).hexdigest()))
        return headers

    def _error(self, request: _Request, error: WsError, extra: list[tuple[str, str]] = ()) -> Answer:
        if error.raw is not None:  # a PHP die() or fatal: not a webservice document (42–45, 50, 61)
            return Answer(error.status, error.raw, [PHP_POWERED, ("Content-type", HTML_CONTENT_TYPE)])
        json_output = request.wants_json
        body = json_errors(error.errors) if json_output else xml_errors(error.errors)
        return Answer(error.status, body, self._ws_headers(json_output, body, error.status, extra))

    def _handle(self, request: _Request) -> Answer:
        if request.path in ("/", "/index.php") and request.params.get("fc") == "module":
            return self._module_controller(request)
        if not (request.path == "/api" or request.path.startswith("/api/")):
            return Answer(404, b"<html><body>Not Found</body></html>", [("Content-Type", HTML_CONTENT_TYPE)])
        key = self._key_of(request)
        if key is None:  # the dispatcher's own answer, before the webservice runs (34)
            return Answer(401, b"401 Unauthorized", [PHP_POWERED, ("WWW-Authenticate", REALM),
                                                     ("Content-type", HTML_CONTENT_TYPE)])
        try:
            if not self._enabled:
                # Not captured. WebserviceRequest::isActivated(), checked before the key: 503 and error 22.
                raise WsError(503, [(22, "The PrestaShop webservice is disabled. Please activate it in the "
                                         "PrestaShop Back Office")])
            if len(key) != 32:
                return self._error(request, WsError(401, [(18, "Invalid authentication key format")]),
                                   [("WWW-Authenticate", REALM)])
            permissions = self._keys.get(key)
            if permissions is None:
                return self._error(request, WsError(401, [(20, "Authentification key is not active"),
                                                          (21, "No permission for this authentication key")]),
                                   [("WWW-Authenticate", REALM)])
            parts = [p for p in request.path[len("/api"):].split("/") if p]
            if not parts:
                return self._root(request, permissions)
            resource_name = parts[0]
            if resource_name not in ALL_RESOURCES:
                listed = ", ".join(f'"{r}"' for r in ALL_RESOURCES)
                raise WsError(400, [(27, f'Resource of type "{resource_name}" does not exists. Did you mean: '
                                         f'"{closest(resource_name, ALL_RESOURCES)}"? The full list is: {listed}')])
            if resource_name not in permissions:
                raise WsError(401, [(26, f'Resource of type "{resource_name}" is not allowed with this '
                                         "authentication key")])
            if request.method not in permissions[resource_name]:
                raise WsError(405, [(25, f"Method {request.method} is not allowed for the resource "
                                         f"{resource_name} with this authentication key")])
            resource = RESOURCES.get(resource_name)
            if resource is None:
                raise WsError(501, [(0, f'The stand-in does not model the resource "{resource_name}"')])
            object_id = parts[1] if len(parts) > 1 else None
            return self._dispatch(request, resource, object_id)
        except WsError as error:
            return self._error(request, error)

    def _module_controller(self, request: _Request) -> Answer:
        """A module front controller: abonne's cart read (AbonneMachineController::answer writes one JSON line)."""
        if (request.params.get("module"), request.params.get("controller")) != ("abonne", "cart") \
                or not self.shop.modules.get("abonne"):
            # Not captured: the Dispatcher's 404 page for a controller no active module provides.
            return Answer(404, b"<html><body><h1>Page not found</h1></body></html>",
                           [("Content-Type", HTML_CONTENT_TYPE)])
        link = self._module.link
        with self.shop.lock:
            status, body = cart_answer(self.shop, link.secret if link else "", request.headers,
                                       request.params.get("id_cart", ""))
        raw = json.dumps(body, separators=(",", ":")).encode() + b"\n"  # JSON_UNESCAPED_SLASHES, ASCII
        return Answer(status, raw, [PHP_POWERED, ("Content-Type", "application/json"), ("Cache-Control", "no-store")])

    @staticmethod
    def _key_of(request: _Request) -> str | None:
        authorization = request.headers.get("authorization", "")
        if authorization.lower().startswith("basic "):
            try:
                user = base64.b64decode(authorization[6:]).decode("utf-8", "replace").partition(":")[0]
            except ValueError:
                user = ""
            if user:
                return user
        return request.params.get("ws_key") or None

    def _root(self, request: _Request, permissions: Mapping[str, set[str]]) -> Answer:
        base = self.shop.base_url
        out = f'<api shopName="{self._shop_name}">\n'
        for name in sorted(permissions):
            flags = " ".join(f'{m.lower()}="{"true" if m in permissions[name] else "false"}"' for m in METHODS)
            # images has no schema links (capture 01): it is not an ObjectModel resource.
            schemas = "" if name == "images" else (
                f'<schema xlink:href="{base}/api/{name}?schema=blank" type="blank"/>\n'
                f'<schema xlink:href="{base}/api/{name}?schema=synopsis" type="synopsis"/>\n')
            out += (f'<{name} xlink:href="{base}/api/{name}" {flags}>\n'
                    f'<description xlink:href="{base}/api/{name}" {flags}>\n{DESCRIPTIONS.get(name, name)}'
                    f'</description>\n{schemas}</{name}>\n')
        body = xml_document(out + "</api>\n")
        return Answer(200, body, self._ws_headers(False, body, 200))

    def _dispatch(self, request: _Request, resource: Resource, object_id: str | None) -> Answer:
        method = request.method
        if method in ("GET", "HEAD"):
            return self._get(request, resource, object_id)
        if method not in WRITABLE.get(resource.name, set()):
            # Not captured: the real shop would run the generic ObjectModel write; the stand-in does not model it.
            raise WsError(405, [(25, f"Method {method} is not supported by the stand-in for the resource "
                                     f"{resource.name}")])
        if method == "DELETE":
            return self._delete(request, resource, object_id)
        root = parse_input_xml(request.body)
        fields, given = input_object(root, resource.node)
        with self.shop.lock:
            if method == "POST":
                if "id" in fields and object_id is None:
                    raise WsError(400, [(91, "id is forbidden when adding a new resource")])  # 60
                missing = [name for name in resource.required if not fields.get(name)]
                if missing:
                    raise WsError(400, [(41, f'parameter "{missing[0]}" required')])  # 48
                status, record, associations = 201, *self._create(request, resource, fields, given)
            else:
                status, record, associations = 200, *self._update(resource, object_id, fields, method)
        extra = [("Set-Cookie", self._cookie())] if resource.name == "orders" and method == "POST" else []
        if request.wants_json:
            body = php_json({resource.node: object_json(resource, record, associations, drop_empty=True,
                                                        id_as_string=True)})
        else:
            body = xml_document(object_xml(self.shop.base_url, resource, record, associations))
        return Answer(status, body, self._ws_headers(request.wants_json, body, status, extra))

    def _cookie(self) -> str:
        expires = self.shop.clock() + timedelta(days=20)
        return (f"PrestaShop-{secrets.token_hex(16)}=def502{secrets.token_hex(60)}; "
                f"expires={expires.strftime('%a, %d %b %Y %H:%M:%S GMT')}; Max-Age=1728000; path=/; HttpOnly; "
                "SameSite=Lax")

    # ---------------------------------------------------------------- reads

    def _get(self, request: _Request, resource: Resource, object_id: str | None) -> Answer:
        base = self.shop.base_url
        json_output = request.wants_json
        schema = request.params.get("schema")
        if schema in ("blank", "synopsis"):
            body = xml_document(schema_xml(base, resource, schema))  # schemas are XML even with output_format=JSON
            return Answer(200, body, self._ws_headers(False, body, 200))
        query = parse_list_query(resource, request.params)
        extra = self._price_fields(resource, request.params)
        with self.shop.lock:
            table = self.shop.table(resource.name)
            if object_id is not None:
                record = table.get(int(object_id)) if object_id.isdigit() else None
                if record is None:  # 63, 64: no body, no Content-Type
                    return Answer(404, b"", self._ws_headers(json_output, b"", 404, content=False))
                if query.display is None:
                    associations = self.shop.associations(resource.name, record)
                    if json_output:
                        body = php_json({resource.node: object_json(resource, record, associations, drop_empty=True,
                                                                    extra=extra(record))})
                    else:
                        body = xml_document(object_xml(base, resource, record, associations, extra=extra(record)))
                    return Answer(200, body, self._ws_headers(json_output, body, 200))
                rows = [record]  # display=… on one object gives the list shape (26, 86)
            else:
                rows = select(list(table.values()), query)
            pairs = [(r, self.shop.associations(resource.name, r)) for r in rows]
            if json_output:
                body = php_json(list_json(resource, pairs, query.display, extra))
            else:
                body = xml_document(list_xml(base, resource, pairs, query.display, extra))
        return Answer(200, body, self._ws_headers(json_output, body, 200))

    def _price_fields(self, resource: Resource, params: Mapping[str, str]) -> Callable[[dict], dict[str, str]]:
        """products?price[<name>][use_tax]=0|1: virtual price fields after the product's own (capture 14)."""
        wanted = [(m.group(1), value) for key, value in params.items()
                  if (m := re.fullmatch(r"price\[(\w+)\]\[use_tax\]", key))]
        if resource.name != "products" or not wanted:
            return lambda record: {}

        def fields(record: dict) -> dict[str, str]:
            incl = self.shop.unit_price_incl(record)
            # Product::getPriceStatic rounds to the 2 decimals of the currency (capture 14: 16.180000).
            return {name: money6(round2(incl if use_tax == "1" else incl * 100 / 123)) for name, use_tax in wanted}
        return fields

    # ---------------------------------------------------------------- writes (caller holds the shop lock)

    def _create(self, request: _Request, resource: Resource, fields: dict[str, str],
                given: dict[str, list[dict[str, str]]]) -> tuple[dict, dict]:
        shop = self.shop
        echo = {f.name: fields.get(f.name, "") for f in resource.fields}
        if resource.name == "carts":
            cart = shop.create_cart(fields, fold_associations(resource, given).get("cart_rows", []))
            echo.update(id=cart["id"], id_shop_group="1", id_shop="1", date_add=cart["date_add"],
                        date_upd=cart["date_upd"])
            return echo, shop.associations("carts", cart)  # 20: sent values, not the stored ones
        if resource.name == "orders":
            payment = fields["payment"]
            if set(payment) & GENERIC_NAME:
                raise WsError(400, [(85, 'Validation error: "Property Order-&gt;payment is not valid"')])  # 47
            total = fields["total_paid"]
            try:
                amount = Decimal(total)
            except ArithmeticError:
                raise WsError(400, [(85, 'Validation error: "Property Order-&gt;total_paid is not valid"')]) \
                    from None
            customer_id = int(fields["id_customer"]) if fields["id_customer"].isdigit() else None
            order = shop.validate_order(int(fields["id_cart"]) if fields["id_cart"].isdigit() else 0,
                                        PS_OS_WS_PAYMENT, amount, fields["module"], payment, customer_id)
            echo["id"] = order["id"]
            return echo, shop.associations("orders", order)  # 21: the request echoed, only id and rows are real
        if resource.name == "order_histories":
            order = shop.order_or_none(int(fields["id_order"]) if fields["id_order"].isdigit() else 0)
            if order is None:
                raise WsError(500, raw=b"", content_type="text/html")  # 61: "Invalid new order status"
            state_id = int(fields["id_order_state"] or 0)
            history = shop.change_state(order, state_id)
            if request.params.get("sendemail") == "1" and not shop.state_mail(order, state_id):
                # OrderHistory::addWithemail: the state and the history row are saved, the mail failed.
                raise WsError(500, [(46, "Unable to save resource")])
            echo.update(id=history["id"], date_add=history["date_add"])
            return echo, {}
        if resource.name == "specific_prices":
            price = shop.add_specific_price(fields)
            echo["id"] = price["id"]
            return echo, {}  # like carts and orders: the values sent, and the new id
        now = shop.now()
        if resource.name == "messages":
            record = shop.insert("messages", {**{f.name: fields.get(f.name, "") for f in resource.fields},
                                              "id_employee": fields.get("id_employee") or 0,
                                              "private": fields.get("private") or 0, "date_add": now})
            return dict(record), {}
        if resource.name == "customer_threads":
            email = fields.get("email", "")
            if email and "@" not in email:
                raise WsError(400, [(85, 'Validation error: "Property CustomerThread-&gt;email is not valid"')])
            if set(fields["token"]) & GENERIC_NAME:
                raise WsError(400, [(85, 'Validation error: "Property CustomerThread-&gt;token is not valid"')])
            record = shop.insert("customer_threads", {
                **{f.name: fields.get(f.name, "") for f in resource.fields},
                "id_shop": fields.get("id_shop") or 1, "id_customer": fields.get("id_customer") or 0,
                "id_order": fields.get("id_order") or 0, "id_product": fields.get("id_product") or 0,
                "status": fields.get("status") or "open", "date_add": now, "date_upd": now})
            echo.update(id=record["id"], date_add=now, date_upd=now)
            return echo, {}
        if resource.name == "customer_messages":
            if not _clean_html(fields["message"]):
                raise WsError(400, [(85, 'Validation error: "Property CustomerMessage-&gt;message is not valid"')])
            record = shop.insert("customer_messages", {
                **{f.name: fields.get(f.name, "") for f in resource.fields},
                "id_employee": fields.get("id_employee") or 0, "private": fields.get("private") or 0,
                "read": fields.get("read") or 0, "date_add": now, "date_upd": now})
            shop.customer_message_added(record)
            echo.update(id=record["id"], date_add=now, date_upd=now)
            return echo, {}
        raise WsError(405, [(25, f"Method POST is not supported by the stand-in for the resource {resource.name}")])

    def _update(self, resource: Resource, object_id: str | None, fields: dict[str, str],
                method: str) -> tuple[dict, dict]:
        shop = self.shop
        if "id" not in fields:
            # Not captured: PrestaShop's error when a PUT/PATCH body has no <id>.
            raise WsError(400, [(90, "id is required when modifying a resource")])
        record = shop.table(resource.name).get(int(fields["id"]) if fields["id"].isdigit() else 0)
        if record is None or (object_id is not None and object_id != fields["id"]):
            raise WsError(404 if record is None else 400, [(89, "id is invalid")] if record is not None else [])
        if method == "PUT":
            missing = [name for name in resource.required if not fields.get(name)]
            if missing:
                raise WsError(400, [(41, f'parameter "{missing[0]}" required')])
        names = [f.name for f in resource.fields if not f.virtual]
        if resource.name == "orders" and "current_state" in fields and fields["current_state"] \
                and fields["current_state"] != record["current_state"]:
            shop.change_state(record, int(fields["current_state"]))  # Order::setWsCurrentState
        for name in names:
            if name in ("current_state", "date_add", "date_upd", "reference", "secure_key"):
                continue
            if name in fields:
                record[name] = fields[name]
            elif method == "PUT":
                record[name] = ""  # PUT sets every field that is not sent to NULL
        if "date_upd" in names:
            record["date_upd"] = shop.now()
        return record, shop.associations(resource.name, record)

    def _delete(self, request: _Request, resource: Resource, object_id: str | None) -> Answer:
        if resource.name not in DELETABLE:
            raise WsError(405, [(25, f"Method DELETE is not supported by the stand-in for the resource "
                                     f"{resource.name}")])
        with self.shop.lock:
            table = self.shop.table(resource.name)
            record = table.get(int(object_id)) if object_id and object_id.isdigit() else None
            if record is None:
                # WebserviceRequest::executeEntityDelete, seen on a real 8.2.0: "Id(s) not exists: 3".
                raise WsError(404, [(87, f"Id(s) not exists: {object_id or ''}")])
            if resource.name == "orders":
                self.shop.delete_order(record)
            else:
                del table[record["id"]]
        return Answer(200, b"", self._ws_headers(False, b"", 200, content=False))  # 66: no body, no Content-Type


def _clean_html(text: str) -> bool:
    """Validate::isCleanHtml with iframes not allowed: no scripts, event handlers or embedded documents."""
    return not re.search(r"<\s*script|\bon\w+\s*=|javascript\s*:|<\s*(iframe|form|input|embed|object)\b", text,
                         re.I)


__all__ = ["PrestaShopStandin", "RunningShop", "Mail", "SentEvent"]
