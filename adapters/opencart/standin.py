"""A stand-in OpenCart shop with abonne's extension installed, over real HTTP on a free loopback port.

    standin = OpenCartStandin()
    shop = standin.start(version="4.1", api_key=KEY, clock=clock)       # shop.url == "http://127.0.0.1:PORT/"
    jane = standin.add_customer("jane@example.com", "Jane", "Roaster", customer_id=1)
    standin.add_address(jane, "1 Bean Street", "New York", "10001")      # country 223, zone 3655
    club = standin.add_product("Coffee Club Monthly", "19.90", "COFFEE-M", product_id=100)
    standin.connect_extension("http://127.0.0.1:8000", shop_id=1, secret="...")
    order_id = standin.place_order(jane, [(club, 1)])                   # status 1, event order.created
    standin.flush_events()
    standin.stop()

Versions: "4.1" (4.1.0.4: `index.php?route=api/order&call=...`, HMAC-signed, stateless), "4.0" (4.0.2.3:
`api/account/login` then `api_token` on `api/sale/*`, adapters/opencart/standin_api40.py, from the captures in
tests/fixtures/opencart-4.0.2.3) and "3.0" (3.0.5.1: `api/login` then `api_token`). The API user is `api_username` with `api_key`; its IP whitelist (oc_api_ip) is
127.0.0.1 unless `set_allowed_ips()` changes it. Reads of abonne's extension: 4.x
`index.php?route=extension/abonne/module/abonne.read&call=...`, 3.0 `route=extension/module/abonne/read`.

Captured (tests/fixtures/opencart-4.1.0.4, opencart-3.0.5.1, OPENCART.md): the 4.1 signature and its gate (one 403
body for every refusal, a ±450 s window, the Host header, the X-Forwarded-For spoof of the IP whitelist), the calls'
answers and error bodies, the hidden status-0 order and duplicate orders of confirm, the store-address tax of 4.1
(S1), the leaked storefront cart rows (S2), 3.0's `[]` for a wrong key, its REMOTE_ADDR-only whitelist, session
expiry, unvalidated array cart/add, order/add clearing the cart and order/edit not, and the response headers.
Not captured, and marked where made: errors of calls no capture shows failing, other countries' ids, the 404 page
bodies, and everything about the extension beyond the README contract and its PHP library.
"""
from __future__ import annotations

import hmac
import secrets
import string
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import parse_qsl, unquote
from zoneinfo import ZoneInfo

from waitress.server import create_server

from adapters.opencart.standin_api import PERMISSION_30, PERMISSION_41, Api30, Api41, storefront_payment
from adapters.opencart.standin_api40 import Api40
from adapters.opencart.standin_extension import (
    DEFAULT_CANCELLED, DEFAULT_PAID, DEFAULT_REFUNDED, PLATFORM_VERSIONS, ExtensionEvents, Settings, read_answer,
)
from adapters.opencart.standin_shop import (
    COUNTRIES, FLAT, ZONES, Line, ShopState, empty_address, money, php_int, to_decimal,
)
from adapters.opencart.standin_wire import api_signature, clean, parse_str, php_json, signing_string
from adapters.standin_http import Answer, SwitchableStandin
from adapters.standin_module_events import ModuleEventSender, ModuleEventViews, SentEvent, encode
from bridge.clock import now_function
from bridge.serving import RunningServer

READ_ROUTES = {"4.1": "extension/abonne/module/abonne.read", "4.0": "extension/abonne/module/abonne.read",
               "3.0": "extension/module/abonne/read"}
# 4.0.2.3 with a token that is unknown, idle over an hour or from an address no longer allowed (errors/10-17).
SESSION_GONE_40 = (b"<b>Typed property Opencart\\System\\Library\\Session::$session_id must not be accessed before "
                   b"initialization</b>: in <b>/var/www/opencart/system/library/session.php</b> on line <b>56</b>")
TIME_WINDOW_S = 450  # startup/api.php (4.1.0.4): errors/05 (451 s) refused, errors/06 (440 s) accepted
# oc_get_ip(): these headers win over REMOTE_ADDR, so the 4.1 whitelist can be spoofed (S5, errors/11).
IP_HEADERS = ("cf-connecting-ip", "x-forwarded-for", "x-real-ip", "x-client-ip", "client-ip", "x-cluster-client-ip")
PHP_HEADERS = [("X-Powered-By", "PHP/8.2.36"), ("Expires", "Thu, 19 Nov 1981 08:52:00 GMT"),
               ("Cache-Control", "no-store, no-cache, must-revalidate, post-check=0, pre-check=0"),
               ("Pragma", "no-cache")]
CORS = [("Access-Control-Allow-Origin", "*"), ("Access-Control-Allow-Credentials", "true"),
        ("Access-Control-Max-Age", "1000"),
        ("Access-Control-Allow-Headers", "X-Requested-With, Content-Type, Origin, Cache-Control, Pragma, "
                                         "Authorization, Accept, Accept-Encoding"),
        ("Access-Control-Allow-Methods", "PUT, POST, GET, OPTIONS, DELETE")]
JSON = "application/json"
HTML = "text/html; charset=utf-8"
NOT_FOUND_PAGE = (b"<!DOCTYPE html>\n<html dir=\"ltr\" lang=\"en\">\n<head>\n<meta charset=\"UTF-8\" />\n"
                  b"<title>The page you requested cannot be found!</title>\n</head>\n<body>\n"
                  b"<h1>Page Not Found!</h1>\n<p>The page you requested cannot be found.</p>\n</body>\n</html>\n")


@dataclass
class RunningShop:
    """What `start()` returns: the shop URL (trailing slash), the API user and the version served."""

    url: str
    api_username: str
    api_key: str
    version: str
    standin: "OpenCartStandin"

    @property
    def host(self) -> str:
        """The Host header a client sends, which the 4.1 signature covers byte for byte."""
        return self.url.split("//", 1)[1].rstrip("/")

    def stop(self) -> None:
        self.standin.stop()


class _Request:
    def __init__(self, environ: Mapping[str, Any]):
        self.method = environ["REQUEST_METHOD"].upper()
        self.path = unquote(environ.get("PATH_INFO", "/"))
        self.pairs = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        self.params = dict(self.pairs)
        self.headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        self.remote_addr = environ.get("REMOTE_ADDR", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        form = environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded")
        self.post = clean(parse_str(body.decode("utf-8", "replace"))) if form and self.method == "POST" else {}
        self.cookies = dict(part.strip().partition("=")[::2] for part in self.headers.get("cookie", "").split(";")
                            if "=" in part)

    @property
    def client_ip(self) -> str:
        return next((self.headers[h] for h in IP_HEADERS if self.headers.get(h)), self.remote_addr)


class OpenCartStandin(SwitchableStandin, ModuleEventViews):
    """An OpenCart shop on a free local port, with abonne's extension. Thread-safe; every method may be called
    from tests. The breakage switches (refuse_connections, answer, slow_down, answer_late, ...) come from
    SwitchableStandin, the event views (events, queued_events, flush_events, resend_due, ...) from
    ModuleEventViews."""

    def __init__(self, event_timeout_s: float = 3.0, timezone: str = "UTC"):
        """`timezone` is config_timezone: the shop stores and shows its dates in this zone's local time."""
        super().__init__()
        self._event_timeout_s = event_timeout_s
        self._timezone = timezone
        self._shop: ShopState | None = None
        self._events: ExtensionEvents | None = None
        self._api41: Api41 | None = None
        self._api30: Api30 | None = None
        self._version = ""
        self._username = ""
        self._key = ""
        self._allowed_ips = {"127.0.0.1"}
        self._installed = True
        self._payment_method = True

    # ================================================================== lifecycle

    def start(self, version: str = "4.1", api_username: str = "Default", api_key: str | None = None,
              clock: Any = None, port: int = 0) -> RunningShop:
        """Serve on 127.0.0.1 (port 0: a free one). `api_key`: the oc_api key (default: 256 random characters, as
        the installer makes). `clock`: callable -> aware UTC datetime, or an object with .now()."""
        if version not in PLATFORM_VERSIONS:
            raise ValueError(f"version must be one of {', '.join(PLATFORM_VERSIONS)}, got {version!r}")
        self._open_listener(port)
        self._version = version
        self._username = api_username
        alphabet = string.ascii_letters + string.digits
        self._key = api_key if api_key is not None else "".join(secrets.choice(alphabet) for _ in range(256))
        self._shop = ShopState(now_function(clock), self.url, PLATFORM_VERSIONS[version], ZoneInfo(self._timezone))
        self._events = ExtensionEvents(self._shop, PLATFORM_VERSIONS[version])
        self._shop.on_history = self._history_changed
        self._events.sender.start()
        self._api41 = Api41(self._shop, lambda: self._installed)
        session_api = Api40 if version == "4.0" else Api30
        self._api30 = session_api(self._shop, api_username, self._key, lambda: set(self._allowed_ips),
                                  lambda: self._installed and self._payment_method)
        return RunningShop(self.url, api_username, self._key, version, self)

    def stop(self) -> None:
        if self._events is not None:
            self._events.sender.stop()
        self._close_listener()

    @property
    def version(self) -> str:
        return self._version

    @property
    def shop(self) -> ShopState:
        if self._shop is None:
            raise RuntimeError("start() the stand-in first")
        return self._shop

    def set_allowed_ips(self, ips: Iterable[str]) -> None:
        """oc_api_ip of the API user (System > Users > API > IP Addresses). 3.0 checks it on every call (09)."""
        self._allowed_ips = set(ips)

    # ================================================================== seeding (the owner's catalogue)

    def add_customer(self, email: str, first_name: str, last_name: str, telephone: str = "5551234567",
                     customer_id: int | None = None) -> int:
        with self.shop.lock:
            return self.shop.add_customer(email, first_name, last_name, telephone, customer_id)["customer_id"]

    def add_address(self, customer_id: int, address_1: str, city: str, postcode: str, country_id: int = 223,
                    zone_id: int = 3655, first_name: str | None = None, last_name: str | None = None,
                    company: str = "", address_2: str = "") -> int:
        """An address book entry; the first one is the customer's default. Countries: 223 US, 222 UK, 103 IE, 81 DE;
        zones: 3655 New York, 3624 California, 3563 Greater London."""
        if country_id not in COUNTRIES or zone_id not in ZONES:
            raise ValueError(f"the stand-in knows countries {sorted(COUNTRIES)} and zones {sorted(ZONES)}")
        with self.shop.lock:
            customer = self.shop.customers[customer_id]
            return self.shop.add_address(customer_id, {
                "firstname": first_name if first_name is not None else customer["firstname"],
                "lastname": last_name if last_name is not None else customer["lastname"], "company": company,
                "address_1": address_1, "address_2": address_2, "city": city, "postcode": postcode,
                "country_id": country_id, "zone_id": zone_id})["address_id"]

    def add_product(self, name: str, price: Any, model: str, tax_class_id: int = 0, quantity: int = 1000,
                    product_id: int | None = None, shipping: bool = True, weight: Any = "1",
                    minimum: int = 1, description: str = "") -> int:
        """A product at this price without tax. tax_class_id 9 ("Taxable Goods") is taxed in the UK only."""
        with self.shop.lock:
            row = self.shop.add_product(name, to_decimal(price), model, tax_class_id, quantity, product_id,
                                        shipping, to_decimal(weight), minimum)
            row["description"] = description
            return row["product_id"]

    def add_product_option(self, product_id: int, name: str, values: Iterable[str], kind: str = "select") -> dict[str, int]:
        """Catalog > Products > Option: an option with these values; {value: product_option_value_id}."""
        with self.shop.lock:
            return self.shop.add_option(product_id, name, list(values), kind)

    @staticmethod
    def _option_row(product: Mapping[str, Any], name: str, value: str) -> dict[str, Any]:
        """The order_option row of a choice made on the product's page (an option the product does not define
        is stored as typed, with no ids)."""
        for option_id, option in product.get("options", {}).items():
            if option["name"] == name:
                value_id = next((vid for vid, text in option["values"].items() if text == value), 0)
                return {"product_option_id": option_id, "product_option_value_id": value_id, "name": name,
                        "value": value, "type": option["type"]}
        return {"product_option_id": 0, "product_option_value_id": 0, "name": name, "value": value, "type": "text"}

    def set_product_attribute(self, product_id: int, name: str, text: str) -> None:
        """Catalog > Products > Attribute: `name` (an attribute) with this text, in the store's one language."""
        with self.shop.lock:
            self.shop.products[product_id].setdefault("attributes", {})[name] = text

    # ================================================================== abonne's extension

    def connect_extension(self, bridge_url: str, shop_id: int | str, secret: str,
                          paid: Iterable[int] = DEFAULT_PAID, refunded: Iterable[int] = DEFAULT_REFUNDED,
                          cancelled: Iterable[int] = DEFAULT_CANCELLED) -> None:
        """The extension's settings: events go to {bridge_url}/webhooks/opencart/{shop_id}, signed with secret;
        which order status ids mean paid, refunded and cancelled."""
        url = f"{bridge_url.rstrip('/')}/webhooks/opencart/{shop_id}"
        self._outbox.settings = Settings(url, secret, self._event_timeout_s, frozenset(paid), frozenset(refunded),
                                         frozenset(cancelled))

    def disconnect_extension(self) -> None:
        self._outbox.settings = None

    def enable_free_shipping(self) -> None:
        """3.0: the stock Free Shipping method, as the owner enables it (abonne's 3.0 renewal orders use it)."""
        assert self._api30 is not None, "start() the 3.0 stand-in first"
        self._api30.free_shipping = True

    def set_extension_installed(self, installed: bool) -> None:
        """Uninstalled: no events, the read route is a 404, and API calls leak cart rows again (S2)."""
        self._installed = installed

    def set_payment_method_enabled(self, enabled: bool) -> None:
        """3.0 and 4.0: abonne's payment method in Extensions > Payments (installed and enabled with the module)."""
        self._payment_method = enabled

    def ping_extension(self) -> SentEvent:
        """The settings page's "Test connection": one synchronous signed ping."""
        return self._outbox.ping()

    @property
    def _outbox(self) -> ExtensionEvents:
        if self._events is None:
            raise RuntimeError("start() the stand-in first")
        return self._events

    def _sender(self) -> ModuleEventSender:
        return self._outbox.sender

    def _history_changed(self, order: Mapping[str, Any], old: int, new: int, source: str) -> None:
        if self._installed:
            self._outbox.history_changed(order, old, new, source)

    # ================================================================== customers' and owner's actions

    def place_order(self, customer_id: int, lines: Iterable[tuple[int, int]], payment_code: str = "cod",
                    status_id: int = 1, comment: str = "",
                    chosen: Mapping[int, Mapping[str, Any]] | None = None) -> int:
        """A storefront checkout on the customer's default address: addOrder (status 0), then the payment
        extension's addHistory to `status_id`, which fires order.created. Tax follows the customer's address, not
        the store's (storefront_checkout_cod.jsonl: 24.90 in New York). `chosen` {product_id: {"options": [(name,
        value)], "subscription": order_subscription row}}: what the customer chose on a product's page (4.x only
        has subscription plans). Returns the order id."""
        with self.shop.lock:
            shop = self.shop
            customer = shop.customers[customer_id]
            address = shop.addresses.get(customer["address_id"])
            if address is None:
                raise ValueError(f"customer {customer_id} has no address; add_address() first")
            priced_lines = [Line(shop.products[p], q) for p, q in lines]
            required = any(line.product["shipping"] for line in priced_lines)
            priced = shop.price(priced_lines, dict(FLAT) if required else None, address["country_id"])
            data: dict[str, Any] = {
                "customer_id": customer_id, "customer_group_id": customer["customer_group_id"],
                **{k: customer[k] for k in ("firstname", "lastname", "email", "telephone")},
                "comment": clean(comment), "ip": "127.0.0.1", "user_agent": "Mozilla/5.0 (stand-in storefront)",
                **storefront_payment(self._version, payment_code),
                "shipping_method": "", "shipping_code": "",
            }
            for prefix in ("payment", "shipping"):
                data.update(empty_address(prefix))
            # 4.x with config_checkout_payment_address off leaves the payment address empty (the captured
            # storefront order); 3.0 always asks for it.
            prefixes = [] if self._version.startswith("4") else ["payment"]
            prefixes += ["shipping"] if required else []
            for prefix in prefixes:
                data[f"{prefix}_address_id"] = address["address_id"]
                for name in ("firstname", "lastname", "company", "address_1", "address_2", "city", "postcode",
                             "country_id", "zone_id"):
                    data[f"{prefix}_{name}"] = address[name]
            if required:
                text = money(shop.with_tax(FLAT["cost"], FLAT["tax_class_id"], address["country_id"]))
                if self._version.startswith("4"):
                    data["shipping_method"] = {"name": FLAT["title"], "code": FLAT["code"], "cost": "5.00",
                                               "tax_class_id": "9", "text": text}
                else:
                    data["shipping_method"], data["shipping_code"] = FLAT["title"], FLAT["code"]
            order = shop.create_order(data, priced)
            for row in order["products"]:
                extras = (chosen or {}).get(row["product_id"], {})
                row["options"] = [self._option_row(shop.products[row["product_id"]], name, value)
                                  for name, value in extras.get("options", ())]
                if extras.get("subscription"):
                    plan = dict(extras["subscription"])
                    shop.plans.setdefault(int(plan["subscription_plan_id"]), plan)
                    row["subscription"] = plan
            shop.add_history(order, status_id, source="storefront")
            return order["order_id"]

    def set_order_status(self, order_id: int, status_id: int, comment: str = "", notify: bool = False) -> None:
        """The owner changes the status in the back office: the catalog history call runs (4.1 in-process,
        3.0 from the admin's browser), so order.status_changed fires."""
        with self.shop.lock:
            self.shop.add_history(self.shop.orders[order_id], status_id, clean(comment), notify, source="admin")

    # ================================================================== observation

    def order(self, order_id: int) -> dict[str, Any] | None:
        """getOrder() of this version (4.x with products and totals), None when there is no such order."""
        with self.shop.lock:
            order = self.shop.orders.get(order_id)
            return None if order is None else self.shop.get_order(order)

    def order_history(self, order_id: int) -> list[dict[str, Any]]:
        """oc_order_history rows of the order, oldest first (status ids as given, notify 0/1)."""
        with self.shop.lock:
            return [dict(row) for row in self.shop.history if row["order_id"] == order_id]

    def storefront_cart(self, customer_id: int) -> list[dict[str, Any]]:
        """The oc_cart rows the customer's next storefront login moves into her cart (S2)."""
        with self.shop.lock:
            return [dict(row) for row in self.shop.cart_rows if row["customer_id"] == customer_id]

    def stock(self, product_id: int) -> int:
        with self.shop.lock:
            return self.shop.products[product_id]["quantity"]

    # ================================================================== breakage switches (beyond SwitchableStandin's)

    def expire_sessions(self) -> None:
        """3.0: every api_token has been idle for more than an hour (errors/10); the next call is refused."""
        with self.shop.lock:
            if self._api30 is not None:
                self._api30.expire_sessions()

    # ================================================================== HTTP

    def _listen(self, port: int) -> RunningServer:
        return _serve(self._wsgi, port)

    def _parse(self, environ: Mapping[str, Any]) -> _Request:
        return _Request(environ)

    def _handle(self, request: _Request) -> Answer:
        route = request.params.get("route", "")
        if request.path not in ("/", "/index.php"):
            return Answer(404, NOT_FOUND_PAGE, [*PHP_HEADERS, ("Content-Type", HTML)])
        if route == READ_ROUTES[self._version]:
            return self._read(request)
        with self.shop.lock:
            if self._version == "4.1":
                return self._api_41(request)
            if self._version == "4.0":
                return self._api_40(request)
            return self._api_30(request)

    # ---------------------------------------------------------------- 4.1.0.4

    def _cookies_41(self) -> list[tuple[str, str]]:
        now = self.shop.clock()
        day, month = now + timedelta(days=1), now + timedelta(days=30)
        stamp = "%a, %d %b %Y %H:%M:%S GMT"
        return [("Set-Cookie", f"OCSESSID={secrets.token_hex(13)}; expires={day.strftime(stamp)}; Max-Age=86400; "
                               "path=/; HttpOnly; SameSite=Strict"),
                ("Set-Cookie", f"currency=USD; expires={month.strftime(stamp)}; Max-Age=2592000; path=/; HttpOnly; "
                               "SameSite=Lax")]

    def _api_41(self, request: _Request) -> Answer:
        route = clean(request.params.get("route", "")).lower()
        if not route.startswith("api/"):
            return Answer(404, NOT_FOUND_PAGE, [*PHP_HEADERS, ("Content-Type", HTML)])
        if not self._gate_41(request, route):
            # Every refusal is this one body, sent as text/html (errors/01-12).
            return Answer(403, php_json(PERMISSION_41),
                           [*PHP_HEADERS, *self._cookies_41(), ("Content-Type", HTML), *CORS])
        client = {"ip": request.client_ip, "user_agent": request.headers.get("user-agent", "")}
        if route != "api/order":  # not captured: api/subscription passes the gate; the stand-in has no calls there
            body: Any = {"error": "API call not found"}
        else:
            body = self._api41.call(clean(request.params.get("call", "")), request.post, client)
        return Answer(200, php_json(body), [*PHP_HEADERS, *self._cookies_41(), *CORS, ("Content-Type", JSON)])

    def _gate_41(self, request: _Request, route: str) -> bool:
        """catalog/controller/startup/api.php of 4.1.0.4."""
        if route not in ("api/order", "api/subscription"):
            return False
        get = {k: clean(v) for k, v in request.params.items()}
        names = ("call", "username", "store_id", "language", "currency", "time", "signature")
        if any(name not in get for name in names):
            return False
        if get["username"] != self._username or request.client_ip not in self._allowed_ips:
            return False
        if abs(php_int(get["time"]) - int(self.shop.clock().timestamp())) > TIME_WINDOW_S:
            return False
        text = signing_string(route, get["call"], get["username"], request.headers.get("host", ""), "/",
                              get["store_id"], get["language"], get["currency"], request.post, get["time"])
        return hmac.compare_digest(api_signature(self._key, text).encode(), unquote(get["signature"]).encode())

    # ---------------------------------------------------------------- 3.0.5.1

    def _api_30(self, request: _Request) -> Answer:
        route = request.params.get("route", "")
        headers = list(PHP_HEADERS)
        # The browser session cookie is set when missing, and again by a login (errors/08); language and
        # currency only when missing.
        month = (self.shop.clock() + timedelta(days=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
        if route == "api/login" or "OCSESSID" not in request.cookies:
            headers.append(("Set-Cookie", f"OCSESSID={request.cookies.get('OCSESSID') or secrets.token_hex(13)}; "
                                          "path=/"))
        headers += [("Set-Cookie", f"{name}={value}; expires={month}; Max-Age=2592000; path=/")
                    for name, value in (("language", "en-gb"), ("currency", "USD")) if name not in request.cookies]
        api = self._api30
        if route == "api/login":
            body: Any = api.login(request.post, request.remote_addr)
        elif route in Api30.ROUTES:
            session = api.session(request.params.get("api_token", ""), request.remote_addr)
            client = {"remote_addr": request.remote_addr, "user_agent": request.headers.get("user-agent", "")}
            body = PERMISSION_30 if session is None else api.call(route, session, request.post, request.params,
                                                                  client)
        else:  # 63: an unknown route is the theme's 404 page
            return Answer(404, NOT_FOUND_PAGE, [*headers, ("Content-Type", HTML)])
        return Answer(200, php_json(body), [*headers, ("Content-Type", JSON)])

    # ---------------------------------------------------------------- 4.0.2.3

    def _api_40(self, request: _Request) -> Answer:
        route = request.params.get("route", "")
        headers = [*PHP_HEADERS, ("Set-Cookie", "currency=USD; path=/")]
        api = self._api30
        assert isinstance(api, Api40)
        if route == "api/account/login":
            body: Any = api.login(request.post, request.remote_addr)
            headers.append(("Set-Cookie", f"OCSESSID={secrets.token_hex(13)}; path=/"))  # a storefront session
        elif route in Api40.ROUTES:
            token = request.params.get("api_token", "")
            if not token:  # errors/14: startup/api routes to a page that 4.0.2.3 does not have
                return Answer(404, NOT_FOUND_PAGE, [*headers, ("Content-Type", HTML)])
            session = api.session(token, request.remote_addr)
            if session is None:
                return Answer(500, SESSION_GONE_40, [*headers, ("Content-Type", HTML)])
            client = {"remote_addr": request.remote_addr, "user_agent": request.headers.get("user-agent", "")}
            body = api.call(route, session, request.post, request.params, client)
        else:  # errors/19, 20
            return Answer(404, NOT_FOUND_PAGE, [*headers, ("Content-Type", HTML)])
        warning = b""
        if isinstance(body, tuple):
            body, text = body
            warning = text.encode()
        return Answer(200, warning + php_json(body), [*headers, ("Content-Type", JSON)])

    # ---------------------------------------------------------------- the extension's read

    def _read(self, request: _Request) -> Answer:
        if not self._installed:  # not captured: no controller at that route
            return Answer(404, NOT_FOUND_PAGE, [*PHP_HEADERS, ("Content-Type", HTML)])
        with self.shop.lock:
            status, body = read_answer(self.shop, self._outbox.settings, request.headers, request.params)
        return Answer(status, encode(body), [*PHP_HEADERS, ("Content-Type", JSON)])


def _serve(app: Callable, port: int) -> RunningServer:
    """bridge.serving.serve_in_thread, but proxy headers reach the app: PHP sees X-Forwarded-For, and 4.1's
    oc_get_ip() trusts it (S5), which serve_in_thread's clear_untrusted_proxy_headers would hide."""
    server = create_server(app, host="127.0.0.1", port=port, threads=8, ident="Apache",
                           clear_untrusted_proxy_headers=False)
    bound = server.effective_port
    thread = threading.Thread(target=server.run, name=f"opencart-standin:{bound}", daemon=True)
    thread.start()
    return RunningServer(url=f"http://127.0.0.1:{bound}", host="127.0.0.1", port=bound, _server=server,
                         _thread=thread)


__all__ = ["OpenCartStandin", "RunningShop", "SentEvent"]
