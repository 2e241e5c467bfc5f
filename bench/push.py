"""Push-back speed: renewal orders per second that abonne pushes into a shop, beside the shop's own bare API calls.

Run: .venv/bin/python bench/push.py [--orders 200] [--platform woocommerce,prestashop] [--real] [--real-orders 40]
     [--postgres URL]
For each per-shop concurrency c in 1, 2, 4, 8, against the stand-in WooCommerce and the stand-in PrestaShop (each in
a child process, so it does not share this process's interpreter lock) and, with --real or when
ABONNE_REAL_WOOCOMMERCE_URL, ABONNE_REAL_WOOCOMMERCE_CONSUMER_KEY and ABONNE_REAL_WOOCOMMERCE_CONSUMER_SECRET are
set, against that WooCommerce:

1. A fresh database (SQLite; PostgreSQL too with --postgres or ABONNE_TEST_DATABASE_URL), the stand-in myPOS and
   the shop connected through the CLI, N due agreements (each with its own paid parent order in the shop and its own
   card token) written as the pay flow leaves them; the worker's renewal step (renew_due) charges them, which
   queues N renewal orders in the outbox exactly as production does. Nothing is pushed yet.
2. Bare: N orders from c threads, each with the fewest calls the shop's API needs to create one, through the client
   abonne itself uses and with the bodies abonne's adapter builds for one of those renewals (its own key and
   transaction id, one parent order for all): what the shop itself sustains. WooCommerce: one POST /orders with
   the `woocommerce` client. PrestaShop: POST carts then POST orders through the Webservice, where abonne also pins
   the agreed price on the cart, reads the cart total back from its module, sets the paid state, records the
   transaction on the payment and leaves a private note.
3. abonne: the outbox drained as `abonne worker` drains it (outbox.drain passes with ABONNE_SHOP_CONCURRENCY=c)
   until the N renewal orders are in the shop. Every push is checked: one order per renewal, no retry, none dead.

Overhead = the time a push holds its slot above the time its own shop calls took, in the same round (abonne's own
work: the claim, the record); the rate gap (bare orders/s / abonne orders/s - 1) is shown beside it. Every shop
call either side makes is counted and timed at the client, so the output also says what one push costs. Prints the
figures and records them in bench/RESULTS.md. The real shop gets one plain product and the orders this run creates;
nothing is deleted.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlencode

import requests.sessions
from woocommerce import API

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.child import Child  # noqa: E402
from bench.renewals import Database, postgres_admin_url  # noqa: E402
from bench.results import record  # noqa: E402

CONCURRENCIES = (1, 2, 4, 8)
TARGET_OVERHEAD = 0.10
STANDIN_CK, STANDIN_CS = "ck_bench_push", "cs_bench_push"
REAL_ENV = ("ABONNE_REAL_WOOCOMMERCE_URL", "ABONNE_REAL_WOOCOMMERCE_CONSUMER_KEY",
            "ABONNE_REAL_WOOCOMMERCE_CONSUMER_SECRET")
REAL_PRESTASHOP_ENV = ("ABONNE_REAL_PRESTASHOP_URL", "ABONNE_REAL_PRESTASHOP_WEBSERVICE_KEY",
                       "ABONNE_REAL_PRESTASHOP_MODULE_SECRET")


# ------------------------------------------------------------------------------------------ shop calls, counted

@dataclass
class CallStats:
    count: int = 0
    seconds: float = 0.0


class ShopCalls:
    """Every HTTP call made from this process through `requests` (the `woocommerce` client, the PrestaShop
    Webservice client, the module's cart read), by kind, with its round-trip time.

    Wrapping `requests.Session.request` sees the bare baseline's calls and abonne's alike, at the same point, with
    nothing of abonne changed. Counts are taken only around the bare posts and the drain, where the shop is the only
    peer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: dict[str, CallStats] = defaultdict(CallStats)
        send = requests.sessions.Session.request
        calls = self

        def timed(session: requests.Session, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            return calls._timed(send, session, method, url, *args, **kwargs)

        requests.sessions.Session.request = timed  # type: ignore[method-assign]

    def _timed(self, send: Any, session: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return send(session, method, url, *args, **kwargs)
        finally:
            elapsed = time.perf_counter() - started
            with self._lock:
                stats = self.calls[call_kind(method, url, kwargs.get("params"))]
                stats.count += 1
                stats.seconds += elapsed

    def take(self) -> dict[str, CallStats]:
        with self._lock:
            taken, self.calls = dict(self.calls), defaultdict(CallStats)
        return taken


def call_kind(method: str, url: str, params: Any = None) -> str:
    path, _, query = url.partition("?")
    query += "&" + urlencode(params or {})
    if "controller=cart" in query:
        return f"{method} module cart total"
    path = re.sub(r"/\d+", "/{id}", re.split(r"/wc/v3/|/api/", path, maxsplit=1)[-1])
    if method == "GET" and path == "orders":
        looked_by = "search" if "search=" in query else "parent" if "parent=" in query else "list"
        return f"GET orders?{looked_by}" + (" (trash)" if "status=trash" in query else "")
    return f"{method} {path}"


# ------------------------------------------------------------------------------------------ the shops

PS_KEY = "BENCHPUSHPRESTASHOPWEBSERVICEKEY"
PS_SECRET = "bench-push-module-secret"
PS_NET_MINOR = 1618  # 16.18 + the stand-in's 23 % VAT = 19.90, the charge


def serve_standin(platform: str) -> None:
    """Child process: a stand-in shop, driven by one-line commands on stdin, answering one JSON line each."""
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # at c=8 a call may wait a moment for a thread
    handle = _serve_woocommerce() if platform == "woocommerce" else _serve_prestashop()
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        print(json.dumps(handle(command, argument)), flush=True)


def _serve_woocommerce() -> Callable[[str, str], Any]:
    from adapters.woocommerce.standin import WooCommerceStandin
    from tests.integration.conftest import BILLING
    standin = WooCommerceStandin(first_post_id=11)
    standin.start(STANDIN_CK, STANDIN_CS)
    print(json.dumps({"url": standin.url}), flush=True)

    def handle(command: str, argument: str) -> Any:
        if command == "product":
            return standin.add_product("Coffee beans 1 kg", "19.90", f"BEANS-{secrets.token_hex(3)}")
        if command == "parents":
            product, count = map(int, argument.split())
            return [standin.place_order(customer=BILLING, lines=[(product, 1)], payment_method="cod")
                    for _ in range(count)]
        return f"unknown command {command!r}"
    return handle


def _serve_prestashop() -> Callable[[str, str], Any]:
    from adapters.prestashop.standin import PrestaShopStandin
    standin = PrestaShopStandin(event_timeout_s=0.5)
    standin.start(PS_KEY)
    customer = standin.add_customer("maria.ivanova@example.test", "Maria", "Ivanova")
    standin.add_address(customer, "12 Vitosha Blvd", "Dublin", "D02 X285", "IE")
    print(json.dumps({"url": standin.url}), flush=True)

    def handle(command: str, argument: str) -> Any:
        if command == "product":
            return standin.add_product("Coffee beans 1 kg", "19.90", f"BEANS-{secrets.token_hex(3)}")
        if command == "parents":  # paid by bank wire, delivered by the free carrier
            product, count = map(int, argument.split())
            return [standin.place_order(customer, [(product, 1)], "ps_wirepayment", carrier_id=1)
                    for _ in range(count)]
        if command == "connect":  # the module's secret signs its cart reads; its events go nowhere here
            standin.connect_module("http://127.0.0.1:9", argument, PS_SECRET)
            return "connected"
        return f"unknown command {command!r}"
    return handle


class Shop:
    """What the bench needs of a shop: where it is, how abonne connects to it, a plain product, paid parent orders
    to renew, and the bare calls that create one order through its API."""

    name: str
    platform: str
    url: str
    net_minor = 1990  # the agreement's line price before the shop's tax
    concurrencies = CONCURRENCIES

    def shop_args(self) -> list[str]:
        raise NotImplementedError

    def product(self) -> int:
        raise NotImplementedError

    def parent_orders(self, product_id: int, count: int) -> list[int]:
        raise NotImplementedError

    def connected(self, shop_id: int) -> None:
        """abonne has added the shop as `shop_id`."""

    def bare_poster(self, parent_id: int) -> Callable[[Any], None]:
        """A function that creates one order for a renewal with the bare API calls."""
        raise NotImplementedError

    def stop(self) -> None:
        pass


class WooCommerce(Shop):
    platform = "woocommerce"
    consumer_key: str
    consumer_secret: str

    def shop_args(self) -> list[str]:
        return ["--consumer-key", self.consumer_key, "--consumer-secret", self.consumer_secret,
                "--webhook-secret", "s"]

    def bare_poster(self, parent_id: int) -> Callable[[Any], None]:
        from adapters.woocommerce import _renewal_body  # the very body abonne sends; a copy here could drift from it
        api = API(url=self.url.rstrip("/"), consumer_key=self.consumer_key, consumer_secret=self.consumer_secret,
                  version="wc/v3", timeout=60)

        def post(renewal: Any) -> None:
            answer = api.post("orders", _renewal_body(replace(renewal, parent_order_id=str(parent_id))))
            assert answer.status_code == 201, f"bare POST /orders answered {answer.status_code}: {answer.text[:300]}"
        return post


class StandinWooCommerce(Child, WooCommerce):
    name = "stand-in WooCommerce"

    def __init__(self) -> None:
        Child.__init__(self, __file__, "woocommerce")
        self.url = self.hello["url"]
        self.consumer_key, self.consumer_secret = STANDIN_CK, STANDIN_CS

    def product(self) -> int:
        return self.ask("product")

    def parent_orders(self, product_id: int, count: int) -> list[int]:
        return self.ask(f"parents {product_id} {count}")


class RealWooCommerce(WooCommerce):
    name = "real WooCommerce"

    def __init__(self, url: str, consumer_key: str, consumer_secret: str):
        self.url, self.consumer_key, self.consumer_secret = url.rstrip("/") + "/", consumer_key, consumer_secret
        self.api = API(url=url.rstrip("/"), consumer_key=consumer_key, consumer_secret=consumer_secret,
                       version="wc/v3", timeout=60)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.api.post(path, body)
        if answer.status_code != 201:
            raise SystemExit(f"the real shop answered POST {path} with {answer.status_code}: {answer.text[:300]}")
        return answer.json()

    def product(self) -> int:
        return int(self._post("products", {"name": f"abonne push bench {secrets.token_hex(3)}", "type": "simple",
                                           "regular_price": "19.90", "virtual": True})["id"])

    def parent_orders(self, product_id: int, count: int) -> list[int]:
        from tests.integration.conftest import BILLING
        body = {"billing": BILLING, "line_items": [{"product_id": product_id, "quantity": 1}],
                "payment_method": "cod", "payment_method_title": "Cash on delivery", "status": "processing"}
        with ThreadPoolExecutor(4) as pool:
            return list(pool.map(lambda _: int(self._post("orders", body)["id"]), range(count)))


class StandinPrestaShop(Child, Shop):
    name = "stand-in PrestaShop"
    platform = "prestashop"
    net_minor = PS_NET_MINOR

    def __init__(self) -> None:
        Child.__init__(self, __file__, "prestashop")
        self.url = self.hello["url"]

    def shop_args(self) -> list[str]:
        return ["--webservice-key", PS_KEY, "--webhook-secret", PS_SECRET]

    def product(self) -> int:
        return self.ask("product")

    def parent_orders(self, product_id: int, count: int) -> list[int]:
        return self.ask(f"parents {product_id} {count}")

    def connected(self, shop_id: int) -> None:
        self.ask(f"connect {shop_id}")

    def bare_poster(self, parent_id: int) -> Callable[[Any], int]:
        return _prestashop_poster(self.url, PS_KEY, parent_id)


class RealPrestaShop(Shop):
    """A real PrestaShop with abonne's module (ABONNE_REAL_PRESTASHOP_URL, _WEBSERVICE_KEY, _MODULE_SECRET): one
    storefront order as the model, then parent orders made with the same bare calls (cart, order)."""

    name = "real PrestaShop"
    platform = "prestashop"
    # Orders created at once make the shop here fail with empty 500s: PrestaShop 8.2 rewrites its translation
    # catalogue under var/cache on module loads and two requests race on the rename. abonne's pushes survive that
    # (a retry after a lookup); the bare calls cannot, so this shop is measured one order at a time.
    concurrencies = (1,)

    def __init__(self, url: str, key: str, secret: str):
        from tests.shops.prestashop_target import PrestaShopTarget
        self.target = PrestaShopTarget("real", url, key, secret)
        self.url, self.key, self.secret = self.target.url + "/", key, secret
        self._model: int | None = None

    def shop_args(self) -> list[str]:
        return ["--webservice-key", self.key, "--webhook-secret", self.secret]

    def product(self) -> int:
        return self.target.create_product("abonne push bench", "19.90")  # no tax: net is what the customer pays

    def parent_orders(self, product_id: int, count: int) -> list[int]:
        from tests.shops.targets import Customer
        if self._model is None:
            self._model = self.target.place_order([(product_id, 1)], Customer.new("Push", "Bench"))
        post = self.bare_poster(self._model)
        return [post(_model_renewal(product_id)) for _ in range(count)]

    def bare_poster(self, parent_id: int) -> Callable[[Any], int]:
        return _prestashop_poster(self.url, self.key, parent_id)

    def stop(self) -> None:
        self.target.close()


def _model_renewal(product_id: int) -> Any:
    """A renewal of one unit at 19.90 without tax: the body of a parent order made with the bare calls."""
    from bridge.domain.money import Money
    from bridge.ports import Address, RenewalLine, RenewalOrder
    nobody = Address()
    price = Money.parse("19.90", "EUR")
    return RenewalOrder(key=f"parent:{secrets.token_hex(6)}", parent_order_id="0", customer_id=None, billing=nobody,
                        shipping=nobody, lines=(RenewalLine(str(product_id), None, "parent", 1, price),),
                        charged=price, transaction_id=f"parent-{secrets.token_hex(6)}", agreement_id=0, cycle=1)


def _prestashop_poster(url: str, key: str, parent_id: int) -> Callable[[Any], int]:
    """The Webservice client and the bodies abonne's adapter uses: a cart, then the order. Returns the order id."""
    from adapters.prestashop import renewal_cart_fields, renewal_order_fields
    from adapters.prestashop.webservice import Webservice, one
    service = Webservice(url, key, timeout=60)
    first = one(service.get(f"orders/{parent_id}"), "order")

    def post(renewal: Any) -> int:
        cart_id = int(one(service.post("carts", "cart", renewal_cart_fields(renewal, first)), "cart")["id"])
        return int(one(service.post("orders", "order", renewal_order_fields(renewal, first, cart_id)), "order")["id"])
    return post


# ------------------------------------------------------------------------------------------ one concurrency

@dataclass
class Round:
    concurrency: int
    bare_rate: float
    bare_latency_ms: list[float]
    bare_calls: dict[str, CallStats]
    abonne_rate: float
    abonne_seconds: float
    abonne_calls: dict[str, CallStats]
    passes: int
    totals_differ: int

    @property
    def overhead(self) -> float:
        """Throughput: how much faster the shop takes bare orders than abonne pushes them."""
        return self.bare_rate / self.abonne_rate - 1

    def own_time(self, orders: int) -> tuple[float, float]:
        """(seconds one push holds a slot, seconds of it spent in shop calls): the rest is abonne's own work."""
        push = self.abonne_seconds * self.concurrency / orders
        return push, sum(s.seconds for s in self.abonne_calls.values()) / orders

    def own_overhead(self, orders: int) -> float:
        push, shop = self.own_time(orders)
        return push / shop - 1


def prepare(shop: Shop, kind: str, admin_url: str | None, work: Path, mypos: Any, product_id: int, orders: int,
            concurrency: int) -> tuple[Any, Database]:
    """A bridge with `orders` renewal orders queued and due in its outbox, charged through the real renewal step."""
    from click.testing import CliRunner
    from sqlalchemy import func, select, update

    from bridge.app import build_bridge
    from bridge.cli import main as cli_main
    from bridge.config import Settings
    from bridge.services.renew import renew_due
    from bridge.store.db import migrate
    from bridge.store.tables import OutboxMessage
    from bridge.store.tables import Shop as ShopRow
    from tests.fixture_files import MYPOS
    from tests.integration.test_worker_race import seed_due_agreements

    database = Database(kind, work, admin_url)
    env = {"ABONNE_DATABASE_URL": database.url, "ABONNE_SECRET_KEY": secrets.token_urlsafe(32),
           "ABONNE_PUBLIC_URL": "http://127.0.0.1:9", "ABONNE_INSTANCE_PATH": str(work / "instance"),
           "ABONNE_SHOP_CONCURRENCY": str(concurrency)}
    migrate(database.url)
    certificate = work / "mypos-standin.pem"
    certificate.write_text(mypos.certificate_pem)
    runner = CliRunner()
    shop_id = 0
    for args in (["gateway", "set", "--sid", "000000000000010", "--wallet-number", "61938166610", "--key-index", "1",
                  "--private-key", str(MYPOS / "test-merchant-private-key.pem"), "--certificate", str(certificate),
                  "--endpoint", mypos.endpoint],
                 ["shop", "add", "--platform", shop.platform, "--url", shop.url, *shop.shop_args()]):
        result = runner.invoke(cli_main, args, env=env)
        assert result.exit_code == 0, result.output
        if args[0] == "shop":
            shop_id = int(re.search(r"shop (\d+) added", result.output).group(1))
    shop.connected(shop_id)
    bridge = build_bridge(Settings.from_env(env))
    assert bridge.settings.shop_concurrency == concurrency
    now = datetime.now(timezone.utc)
    parents = shop.parent_orders(product_id, orders)
    tokens = [mypos.register_card("4006090000000007", "3012") for _ in range(orders)]
    seed_due_agreements(bridge, shop_id, str(product_id), tokens, [str(p) for p in parents],
                        now - timedelta(minutes=1), net_minor=shop.net_minor)
    with bridge.db.engine.begin() as connection:  # the shop's reconcile pass is not what is measured here
        connection.execute(update(ShopRow).values(reconcile_due_at=now + timedelta(days=1)))
    while (report := renew_due(bridge)).attempts:
        assert report.charged == report.attempts, report.summary()
    with bridge.db.read() as uow:
        queued = uow.session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.kind == "renewal_order", OutboxMessage.state == "pending"))
    assert queued == orders, f"{queued} renewal orders queued for {orders} charges"
    return bridge, database


def bare_renewals(bridge: Any) -> list[Any]:
    """The queued renewals, each made a distinct order of its own (another key, a transaction id that does not
    contain abonne's: WooCommerce's search matches partially) so that abonne's lookups never see the bare orders."""
    from sqlalchemy import select

    from bridge.services.outbox import renewal_from_payload
    from bridge.store.tables import OutboxMessage
    with bridge.db.read() as uow:
        payloads = uow.session.scalars(select(OutboxMessage.payload).where(OutboxMessage.state == "pending")
                                       .order_by(OutboxMessage.id)).all()
    return [replace(renewal, key=f"bare:{renewal.key}", transaction_id=f"bare-{secrets.token_hex(8)}")
            for renewal in (renewal_from_payload(payload["renewal"]) for payload in payloads)]


def post_bare(shop: Shop, parent_id: int, renewals: list[Any], concurrency: int) -> tuple[float, list[float]]:
    """Orders per second and each order's latency (ms) through the bare calls, with `concurrency` threads."""
    post = shop.bare_poster(parent_id)
    latencies: list[float] = []

    def timed(renewal: Any) -> None:
        started = time.perf_counter()
        post(renewal)
        latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(timed, renewals))
    return len(renewals) / (time.perf_counter() - started), latencies


def drain_all(bridge: Any, orders: int) -> tuple[float, int]:
    """The outbox as the worker drains it, until the renewal orders are sent. Seconds and drain passes."""
    from bridge.services import outbox
    sent = passes = 0
    started = time.perf_counter()
    while sent < orders:
        report = outbox.drain(bridge)
        assert report.retried == report.dead == 0, f"{report}: {failures(bridge)}"
        assert report.sent, f"the outbox stopped with {sent} of {orders} sent"
        sent += report.sent
        passes += 1
    return time.perf_counter() - started, passes


def failures(bridge: Any) -> dict[str, int]:
    """The errors of messages that were not sent, and how often each."""
    from sqlalchemy import func, select

    from bridge.store.tables import OutboxMessage
    with bridge.db.read() as uow:
        rows = uow.session.execute(select(OutboxMessage.last_error, func.count()).where(OutboxMessage.last_error != "")
                                   .group_by(OutboxMessage.last_error)).all()
    return {error: count for error, count in rows}


def check_pushed(bridge: Any, orders: int) -> int:
    """Every charge got its shop order and every message is done. Returns how many shop totals differ."""
    from sqlalchemy import func, select

    from bridge.store.tables import Charge, EventRecord, OutboxMessage
    with bridge.db.read() as uow:
        linked = uow.session.scalar(select(func.count()).select_from(Charge).where(Charge.shop_order_id.is_not(None),
                                                                                   Charge.shop_order_id != ""))
        done = uow.session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.state == "done"))
        differ = uow.session.scalar(select(func.count()).select_from(EventRecord).where(
            EventRecord.kind == "renewal_total_differs"))
    assert linked == done == orders, f"{linked} charges linked to a shop order, {done} messages done, of {orders}"
    return differ


def run_round(shop: Shop, calls: ShopCalls, kind: str, admin_url: str | None, work: Path, mypos: Any,
              product_id: int, bare_parent: int, orders: int, concurrency: int) -> Round:
    bridge, database = prepare(shop, kind, admin_url, work, mypos, product_id, orders, concurrency)
    try:
        renewals = bare_renewals(bridge)
        calls.take()
        bare_rate, latencies = post_bare(shop, bare_parent, renewals, concurrency)
        bare_calls = calls.take()
        seconds, passes = drain_all(bridge, orders)
        abonne_calls = calls.take()
        differ = check_pushed(bridge, orders)
        bridge.db.dispose()
    finally:
        database.drop()
    assert bare_calls["POST orders"].count == orders and abonne_calls["POST orders"].count == orders, \
        (bare_calls, abonne_calls)
    return Round(concurrency, bare_rate, latencies, bare_calls, orders / seconds, seconds, abonne_calls, passes,
                 differ)


# ------------------------------------------------------------------------------------------ reporting

def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def per_push(calls: dict[str, CallStats], orders: int) -> str:
    """'4 GET orders?search ... (x ms each)' for one push, most frequent first."""
    parts = [f"{stats.count / orders:g}× {name} ({stats.seconds / stats.count * 1000:.1f} ms)"
             for name, stats in sorted(calls.items(), key=lambda item: (-item[1].count, item[0]))]
    return ", ".join(parts)


def summarize(shop: Shop, kind: str, rounds: list[Round], orders: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    label = f"{shop.name}, {kind}"
    print(f"\n{label}, {orders} renewal orders per round")
    print(f"{'c':>3} {'bare /s':>9} {'bare p50 ms':>12} {'bare p95 ms':>12} {'abonne /s':>10} {'rate gap':>9} "
          f"{'shop calls/push':>16} {'shop s/push':>12} {'abonne s/push':>14} {'own':>6}")
    for r in rounds:
        shop_calls = sum(s.count for s in r.abonne_calls.values()) / orders
        push_seconds, shop_seconds = r.own_time(orders)
        print(f"{r.concurrency:>3} {r.bare_rate:>9.1f} {statistics.median(r.bare_latency_ms):>12.1f} "
              f"{percentile(r.bare_latency_ms, 95):>12.1f} {r.abonne_rate:>10.1f} {r.overhead:>9.0%} "
              f"{shop_calls:>16.1f} {shop_seconds * 1000:>10.1f}ms {push_seconds * 1000:>12.1f}ms "
              f"{r.own_overhead(orders):>6.0%}")
        figures[f"{label}, c={r.concurrency}: bare orders per s (p50 / p95 ms)"] = (
            f"{r.bare_rate:.1f} ({statistics.median(r.bare_latency_ms):.1f} / "
            f"{percentile(r.bare_latency_ms, 95):.1f})")
        figures[f"{label}, c={r.concurrency}: abonne renewal orders per s (overhead)"] = (
            f"{r.abonne_rate:.1f} (rate gap {r.overhead:+.0%}, own time {r.own_overhead(orders):+.0%} above its shop "
            f"calls; {orders} in {r.abonne_seconds:.2f} s, {r.passes} drain passes"
            + (f"; {r.totals_differ} shop totals differ from the charge" if r.totals_differ else "") + ")")
    best_bare = max(rounds, key=lambda r: r.bare_rate)
    best_abonne = max(rounds, key=lambda r: r.abonne_rate)
    overhead = best_bare.bare_rate / best_abonne.abonne_rate - 1
    own = best_abonne.own_overhead(orders)
    met = own < TARGET_OVERHEAD
    print(f"best: bare {best_bare.bare_rate:.1f}/s at c={best_bare.concurrency}, abonne "
          f"{best_abonne.abonne_rate:.1f}/s at c={best_abonne.concurrency} (rate gap {overhead:+.0%}); abonne's own "
          f"time above its shop calls there {own:+.0%} (target < {TARGET_OVERHEAD:.0%}: {'met' if met else 'NOT met'})")
    print(f"one push at c={best_abonne.concurrency}: {per_push(best_abonne.abonne_calls, orders)}")
    print(f"one bare order at c={best_bare.concurrency}: {per_push(best_bare.bare_calls, orders)}")
    figures[f"{label}: best c, bare vs abonne"] = (
        f"bare {best_bare.bare_rate:.1f}/s at c={best_bare.concurrency}, abonne {best_abonne.abonne_rate:.1f}/s at "
        f"c={best_abonne.concurrency}")
    figures[f"{label}: abonne's own time above its shop calls at its best c (target < {TARGET_OVERHEAD:.0%})"] = (
        f"{own:+.0%}: {'met' if met else 'NOT met'} (rate gap to the best bare round {overhead:+.0%})")
    figures[f"{label}: shop calls per push at c={best_abonne.concurrency} (mean round trip)"] = (
        per_push(best_abonne.abonne_calls, orders))
    return figures


def machine_notes() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU") if Path("/proc/cpuinfo").exists() else "unknown CPU"
    return f"{os.cpu_count()} cores ({cpu})"


# ------------------------------------------------------------------------------------------ main

def real_shop(forced: bool) -> RealWooCommerce | None:
    values = [os.environ.get(name, "") for name in REAL_ENV]
    if all(values):
        return RealWooCommerce(*values)
    if forced:
        raise SystemExit(f"--real needs {', '.join(REAL_ENV)} in the environment")
    print(f"no real WooCommerce configured ({REAL_ENV[0]} and its key and secret): stand-in only")
    return None


def real_prestashop() -> list[Shop]:
    values = [os.environ.get(name, "") for name in REAL_PRESTASHOP_ENV]
    return [RealPrestaShop(*values)] if all(values) else []


def bench_shop(shop: Shop, calls: ShopCalls, databases: list[str], admin_url: str | None, work: Path, mypos: Any,
               orders: int) -> dict[str, Any]:
    product_id = shop.product()
    bare_parent = shop.parent_orders(product_id, 1)[0]
    # Warm the shop and this process's imports and connections; not counted.
    bridge, database = prepare(shop, databases[0], admin_url, work, mypos, product_id, 3, 1)
    try:
        post_bare(shop, bare_parent, bare_renewals(bridge), 1)
        drain_all(bridge, 3)
        bridge.db.dispose()
    finally:
        database.drop()
    figures: dict[str, Any] = {}
    for kind in databases:
        rounds = []
        for concurrency in shop.concurrencies:
            rounds.append(run_round(shop, calls, kind, admin_url, work, mypos, product_id, bare_parent, orders,
                                    concurrency))
            r = rounds[-1]
            print(f"{shop.name}, {kind}, c={concurrency}: bare {r.bare_rate:.1f}/s, abonne {r.abonne_rate:.1f}/s "
                  f"({r.overhead:+.0%})", flush=True)
        figures.update(summarize(shop, kind, rounds, orders))
    return figures


def main() -> None:
    if sys.argv[1:2] == ["--serve-standin"]:
        serve_standin(sys.argv[2])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=200, help="renewal orders per round against a stand-in")
    parser.add_argument("--platform", default="woocommerce,prestashop",
                        help="the stand-in shops to bench, comma-separated (default: woocommerce,prestashop)")
    parser.add_argument("--real", action="store_true",
                        help="also against the real WooCommerce named by ABONNE_REAL_WOOCOMMERCE_* (default: when set)")
    parser.add_argument("--real-orders", type=int, default=40, help="renewal orders per round against the real shop")
    parser.add_argument("--no-standin", action="store_true", help="only the real shop")
    parser.add_argument("--postgres", default=None, help="a PostgreSQL server URL (default ABONNE_TEST_DATABASE_URL)")
    args = parser.parse_args()

    from adapters.mypos.standin import MyPosStandin
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    admin_url = postgres_admin_url(args.postgres)
    databases = ["sqlite"] + (["postgresql"] if admin_url else [])
    real = real_shop(args.real)
    work = Path(tempfile.mkdtemp(prefix="abonne-bench-push-"))
    calls = ShopCalls()
    mypos = MyPosStandin.start(threads=16)
    load_before = os.getloadavg()[0]
    figures: dict[str, Any] = {}
    setups = []
    try:
        standins = {"woocommerce": StandinWooCommerce, "prestashop": StandinPrestaShop}
        for platform in [] if args.no_standin else args.platform.split(","):
            if platform not in standins:
                raise SystemExit(f"--platform: no stand-in for {platform!r}; choose from {', '.join(standins)}")
            standin = standins[platform]()
            try:
                figures.update(bench_shop(standin, calls, databases, admin_url, work, mypos, args.orders))
            finally:
                standin.stop()
            setups.append(f"the {standin.name} (child process), {args.orders} renewal orders per round")
        for shop in ([real] if real is not None else []) + real_prestashop():
            try:
                figures.update(bench_shop(shop, calls, databases, admin_url, work, mypos, args.real_orders))
            finally:
                shop.stop()
            setups.append(f"a {shop.name} at {shop.url} ({args.real_orders} renewal orders per round)")
    finally:
        mypos.stop()
        shutil.rmtree(work, ignore_errors=True)
    # The machine is shared: the load says how much of its cores the run really had.
    figures["load average (1 min) before / after"] = f"{load_before:.1f} / {os.getloadavg()[0]:.1f}"
    print(json.dumps(figures, indent=2, ensure_ascii=False))
    record("Push-back (bench/push.py)",
           f"Renewal orders abonne pushes into a shop per second, beside the shop's own bare order-creating calls in "
           f"the same run; against {' and '.join(setups)}; {' and '.join(databases)}; per-shop concurrency c "
           f"(ABONNE_SHOP_CONCURRENCY for abonne, threads for bare) 1, 2, 4, 8. Per round: fresh database, N due "
           f"agreements charged by the worker's renewal step against the stand-in myPOS (which queues the renewal "
           f"orders), then N bare orders (the client abonne uses, the bodies abonne's adapter builds: WooCommerce "
           f"one POST /orders; PrestaShop POST carts + POST orders), then the outbox drained as the worker drains "
           f"it (passes of 50: a first attempt creates the order without a lookup, then one transaction records "
           f"it; PrestaShop adds the agreed price pinned on the cart, the cart total read from abonne's module, "
           f"the paid state, the payment's transaction id and a private note). Overhead = the time a push holds its slot above the time its shop calls "
           f"took, in the same round; target under {TARGET_OVERHEAD:.0%} at abonne's best c. The rate gap (bare/s ÷ "
           f"abonne/s − 1) is shown too: it also holds the shop's own variance between the two halves of a round. "
           f"Shop calls are counted and timed at the client. Machine: {machine_notes()}, shared with other work.", figures)


if __name__ == "__main__":
    main()
