"""The WooCommerce stand-in against real WooCommerce 10.0.2 traffic (tests/fixtures/woocommerce-10.0.2).

Fidelity tests compare the stand-in's wire output with the captures; behaviour tests check the rules a bridge
depends on (auto-disable, coalescing, payment semantics). A raw-socket receiver records webhook requests byte for
byte, as the capture kit did.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import socket
import threading
import time
from base64 import b64encode
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from woocommerce import API
from woocommerce.oauth import OAuth

from adapters.woocommerce.standin import WooCommerceStandin
from adapters.woocommerce.standin_wire import webhook_signature
from bridge.clock import SettableClock

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "woocommerce-10.0.2"
KEY = "ck_f9e4731437e9d43d89a65d490b0c167a6e00b1c9"
SECRET = "cs_a97fc6d7dc88f0d6fadd29da2d5d47baba6fbb47"
HOOK_SECRET = "bridge-secret-7f3a9c"
QUIRK_SECRET = 'q&amp;x"y<z>'
IVAN = {"first_name": "Ivan", "last_name": "Petrov", "address_1": "12 Vitosha Blvd", "address_2": "",
        "city": "Sofia", "state": "", "postcode": "1000", "country": "BG", "email": "ivan.petrov@example.test",
        "phone": "+359888123456"}


# ---------------------------------------------------------------------------------------------- helpers

def capture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def shape(value):
    """Keys in order and value types, recursively; lists by their first element."""
    if isinstance(value, dict):
        return [(k, shape(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def wait_for(predicate, timeout: float = 3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.01)
    raise AssertionError("condition not met before the deadline")


class RawReceiver:
    """Accepts HTTP requests on a socket, keeps the exact bytes, answers `status` (changeable)."""

    def __init__(self, status: int = 200):
        self.status = status
        self.requests: list[bytes] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(32)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._running = True
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def url(self, path: str = "/bridge/woo") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _loop(self) -> None:
        while self._running:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(re.search(rb"(?im)^content-length:\s*(\d+)", head).group(1)) if b"ength" in head else 0
                while len(body) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    body += chunk
                with self._lock:
                    self.requests.append(head + b"\r\n\r\n" + body)
                status = self.status
                conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".encode())

    def parsed(self) -> list[tuple[list[tuple[str, str]], bytes]]:
        out = []
        with self._lock:
            raw = list(self.requests)
        for request in raw:
            head, _, body = request.partition(b"\r\n\r\n")
            lines = head.decode().split("\r\n")[1:]
            out.append(([tuple(line.split(": ", 1)) for line in lines], body))
        return out

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=2)
        self._sock.close()


@pytest.fixture
def receiver():
    r = RawReceiver()
    yield r
    r.close()


@pytest.fixture
def standin():
    s = WooCommerceStandin(delivery_delay_s=0.02)
    s.start(KEY, SECRET)
    yield s
    s.stop()


@pytest.fixture
def api(standin):
    return API(url=standin.url, consumer_key=KEY, consumer_secret=SECRET, version="wc/v3", timeout=10)


def seed_coffee(standin) -> tuple[int, int]:
    club = standin.add_product("Coffee Club Monthly", "19.90", "COFFEE-CLUB-M",
                               meta={"_subscription_period": "month", "_subscription_period_interval": "1"})
    mug = standin.add_product("Coffee Mug", "12.50", "MUG-1")
    return club, mug


def header_names(headers) -> list[str]:
    return [name for name, _ in headers]


def deliveries(standin, topic=None):
    return [d for d in standin.deliveries if d.topic != "ping" and (topic is None or d.topic == topic)]


# ---------------------------------------------------------------------------------------------- fidelity

def test_a_rest_created_order_is_delivered_with_the_captured_shape_and_headers(standin, api, receiver):
    club, _ = seed_coffee(standin)
    standin.add_webhook("order.created", receiver.url(), HOOK_SECRET)
    request = capture("rest/03_order_create_1_subscription.json")
    body = json.loads(request["request"]["body"])
    body["line_items"][0]["product_id"] = club

    response = api.post("orders", body)

    assert response.status_code == 201
    assert shape(response.json()) == shape(request["response"]["body_json"])
    assert standin.flush_deliveries()
    (headers, delivered), = [r for r in receiver.parsed() if "X-WC-Webhook-Topic" in dict(r[0])]
    captured_meta = json.loads((FIXTURES / "webhooks/0005_order-created.meta.json").read_text())
    captured_body = (FIXTURES / "webhooks/0005_order-created.body").read_bytes()
    assert shape(json.loads(delivered)) == shape(json.loads(captured_body))
    assert header_names(headers) == header_names(captured_meta["headers"])
    sent, expected = dict(headers), dict(captured_meta["headers"])
    for name in ("User-Agent", "Accept", "Accept-Encoding", "Content-Type", "X-WC-Webhook-Topic",
                 "X-WC-Webhook-Resource", "X-WC-Webhook-Event", "Connection"):
        assert sent[name] == expected[name]
    assert sent["X-WC-Webhook-Source"] == standin.url
    assert sent["X-WC-Webhook-Signature"] == webhook_signature(delivered, HOOK_SECRET)
    assert re.fullmatch(r"[0-9a-f]{32}", sent["X-WC-Webhook-Delivery-ID"])
    assert b"\\/" in delivered and b"\\u20ac" in delivered and b", " not in delivered


def _normalised(body: bytes, order_id: int, key: str) -> str:
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", "DATE", body.decode())
    text = re.sub(r"wc_order_[A-Za-z0-9]{13}", "KEY", text)
    return text.replace(f'"id":{order_id},', '"id":ID,').replace(f"\\/{order_id}\\/", "\\/ID\\/") \
        .replace(f"orders\\/{order_id}", "orders\\/ID").replace(f'"number":"{order_id}"', '"number":"ID"')


def test_a_rest_created_order_answer_equals_the_captured_bytes_but_ids_dates_and_key():
    captured = capture("rest/03_order_create_1_subscription.json")
    standin = WooCommerceStandin(first_post_id=11)  # products 12 and 13, then order 14, as in the capture
    standin.start(KEY, SECRET, site_url="http://127.0.0.1:8088")
    try:
        club, _ = seed_coffee(standin)
        body = json.loads(captured["request"]["body"])
        body["line_items"][0]["product_id"] = club
        signed = OAuth(url="http://127.0.0.1:8088/wp-json/wc/v3/orders", consumer_key=KEY, consumer_secret=SECRET,
                       version="wc/v3", method="POST").get_oauth_url()
        response = requests.post(signed.replace("http://127.0.0.1:8088/", standin.listen_url), json=body, timeout=10)
    finally:
        standin.stop()
    assert response.status_code == 201
    assert response.json()["id"] == 14
    assert _normalised(response.content, 14, "") == _normalised(captured["response"]["body_raw"].encode(), 14, "")


def test_a_storefront_order_matches_the_captured_store_api_deliveries(standin, receiver):
    club, _ = seed_coffee(standin)
    jane = standin.add_customer("jane@example.com", "Jane", "Doe",
                                billing={"address_1": "12 Vitosha Blvd", "city": "Sofia", "postcode": "1000",
                                         "country": "BG", "phone": "+359888000002"})
    standin.add_webhook("order.created", receiver.url("/hook"), HOOK_SECRET)
    standin.add_webhook("order.updated", receiver.url("/hook"), HOOK_SECRET)

    standin.place_order(customer=jane, lines=[(club, 1)], payment_method="cod", via="store-api")

    assert standin.flush_deliveries()
    sent = deliveries(standin)
    assert [d.topic for d in sent] == ["order.updated", "order.created"]
    assert sent[0].body == sent[1].body
    captured = json.loads((FIXTURES / "more/webhooks/0005_order-updated.body").read_bytes())
    mine = json.loads(sent[0].body)
    assert shape(mine) == shape(captured)
    assert (mine["status"], mine["date_paid"], mine["created_via"], mine["needs_payment"]) == \
        ("processing", None, "store-api", False)
    captured_headers = json.loads((FIXTURES / "more/webhooks/0005_order-updated.meta.json").read_text())["headers"]
    assert header_names(sent[0].headers) == header_names(captured_headers)


def test_the_ping_matches_the_capture_byte_for_byte_except_host_and_port(standin, receiver):
    standin.add_webhook("order.created", receiver.url("/bridge/woo"), HOOK_SECRET)

    expected = (FIXTURES / "webhooks/0001_ping.http").read_bytes().replace(
        b"Host: 127.0.0.1:8080", f"Host: 127.0.0.1:{receiver.port}".encode())
    assert receiver.requests == [expected]
    assert standin.webhook(1)["pending_delivery"] is False


def _captured_deliveries():
    secrets_by_dir = {"webhooks": {"1": HOOK_SECRET, "2": HOOK_SECRET, "3": QUIRK_SECRET},
                      "more/webhooks": {"1": HOOK_SECRET, "2": HOOK_SECRET, "3": HOOK_SECRET, "4": HOOK_SECRET}}
    for folder, secrets in secrets_by_dir.items():
        for meta_file in sorted((FIXTURES / folder).glob("*.meta.json")):
            headers = dict(json.loads(meta_file.read_text())["headers"])
            if "X-WC-Webhook-Signature" in headers and headers["X-WC-Webhook-ID"] in secrets:
                body = meta_file.with_name(meta_file.name.replace(".meta.json", ".body")).read_bytes()
                yield pytest.param(body, secrets[headers["X-WC-Webhook-ID"]], headers["X-WC-Webhook-Signature"],
                                   id=f"{folder}/{meta_file.name[:4]}")


@pytest.mark.parametrize("body,secret,signature", list(_captured_deliveries()))
def test_the_signature_of_every_captured_delivery_is_reproduced(body, secret, signature):
    assert webhook_signature(body, secret) == signature


def test_the_quirk_secret_signs_deliveries_decoded_like_wordpress(standin, receiver):
    club, _ = seed_coffee(standin)
    standin.add_webhook("order.created", receiver.url(), QUIRK_SECRET)
    standin.place_order(customer=dict(IVAN), lines=[(club, 1)], payment_method="mypos", paid=True)
    assert standin.flush_deliveries()
    delivery, = deliveries(standin)
    decoded = 'q&x"y<z>'.encode()
    expected = b64encode(hmac.new(decoded, delivery.body, hashlib.sha256).digest()).decode()
    assert delivery.header("X-WC-Webhook-Signature") == expected


ERROR_CAPTURES = [
    "rest/05_err_400_invalid_customer_id", "rest/05_err_400_invalid_email", "rest/05_err_400_invalid_parent_id",
    "rest/05_err_400_invalid_status", "rest/05_err_400_line_item_bad_quantity_type",
    "rest/05_err_400_line_item_missing_product", "rest/05_err_400_line_items_not_array",
    "rest/05_err_400_put_missing_order", "rest/05_err_404_get_missing_order",
    "rest/05_err_404_note_on_missing_order", "rest/05_err_404_unknown_route", "rest/05_err_401_no_auth",
    "rest/05_err_401_basic_over_plain_http", "rest/01_auth_none", "rest/01_auth_basic_over_http",
    "rest/01_auth_querystring_over_http", "rest/05_surprise_500_line_item_zero_quantity",
    "more/rest/14_delete_force_get_after",
]


def _replay(standin, captured: dict) -> requests.Response:
    req = captured["request"]
    target = req["target"].replace("?<oauth>", "").replace("&<oauth>", "")
    parts = urlsplit(target)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not k.startswith("oauth_")]
    url = standin.url.rstrip("/") + parts.path
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query)
    if captured.get("auth_style") == "oauth" or "oauth_signature" in req["target"] or "<oauth>" in req["target"]:
        url = OAuth(url=url, consumer_key=KEY, consumer_secret=SECRET, version="wc/v3",
                    method=req["method"]).get_oauth_url()
    body = req.get("body")
    return requests.request(req["method"], url, data=body.encode() if body else None, headers=req["headers"],
                            timeout=10)


@pytest.mark.parametrize("name", ERROR_CAPTURES)
def test_captured_error_answers_are_reproduced(standin, name):
    seed_coffee(standin)
    captured = capture(name + ".json")

    response = _replay(standin, captured)

    assert response.status_code == captured["response"]["status"]
    assert response.content == captured["response"]["body_raw"].encode()
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    wp_headers = {n.lower() for n, _ in captured["response"]["headers"]} - {
        "host", "date", "connection", "x-powered-by", "server", "transfer-encoding", "content-length"}
    assert wp_headers <= {n.lower() for n in response.headers}


def test_the_real_python_client_works_for_get_post_and_put_with_query_params(standin, api):
    club, _ = seed_coffee(standin)
    created = api.post("orders", {"set_paid": True, "transaction_id": "MYPOS-TX-7", "billing": IVAN,
                                  "line_items": [{"product_id": club, "quantity": 1}]})
    assert created.status_code == 201
    assert created.headers["Location"] == f"{standin.url}wp-json/wc/v3/orders/{created.json()['id']}"
    updated = api.put(f"orders/{created.json()['id']}", {"status": "completed"}, params={"dp": 2})
    assert updated.status_code == 200 and updated.json()["status"] == "completed"
    listed = api.get("orders", params={"per_page": 5, "search": "Coffee Club", "status": "any",
                                       "modified_after": "2000-01-01T00:00:00", "dates_are_gmt": "true"})
    assert listed.status_code == 200
    assert [o["id"] for o in listed.json()] == [created.json()["id"]]
    assert listed.headers["X-WP-Total"] == "1" and listed.headers["X-WP-TotalPages"] == "1"


def test_hmac_sha1_signatures_are_accepted(standin):
    url = standin.url + "wp-json/wc/v3/orders"
    params = {"per_page": "2", "oauth_consumer_key": KEY, "oauth_timestamp": str(int(time.time())),
              "oauth_nonce": "sha1nonce1", "oauth_signature_method": "HMAC-SHA1"}
    normalized = OAuth.normalize_parameters(OAuth.sorted_params(params))
    base = "GET&" + requests.utils.quote(url, safe="") + "&" + "%26".join(f"{k}%3D{v}" for k, v in normalized.items())
    params["oauth_signature"] = b64encode(hmac.new(f"{SECRET}&".encode(), base.encode(), hashlib.sha1).digest())
    response = requests.get(url, params=params, timeout=10)
    assert response.status_code == 200, response.text


def test_wrong_secret_stale_timestamp_and_replayed_nonce_fail_as_captured(standin, api):
    wrong = API(url=standin.url, consumer_key=KEY, consumer_secret="cs_wrong", version="wc/v3")
    assert wrong.get("orders").content == capture("rest/01_auth_oauth1_wrong_secret.json")["response"]["body_raw"].encode()

    signed = OAuth(url=standin.url + "wp-json/wc/v3/orders", consumer_key=KEY, consumer_secret=SECRET,
                   version="wc/v3", method="GET").get_oauth_url()
    assert requests.get(signed, timeout=10).status_code == 200
    second = requests.get(signed, timeout=10)
    assert (second.status_code, second.content) == (
        401, capture("rest/01_auth_oauth1_replay_second.json")["response"]["body_raw"].encode())

    stale = OAuth(url=standin.url + "wp-json/wc/v3/orders", consumer_key=KEY, consumer_secret=SECRET,
                  version="wc/v3", method="GET", oauth_timestamp=int(time.time()) - 16 * 60).get_oauth_url()
    response = requests.get(stale, timeout=10)
    assert (response.status_code, response.content) == (
        401, capture("rest/01_auth_oauth1_stale_timestamp.json")["response"]["body_raw"].encode())


@pytest.mark.parametrize("name,status", [("rest/01_auth_oauth1_over_http", 200),
                                         ("rest/01_auth_oauth1_stale_timestamp", 401),
                                         ("rest/01_auth_oauth1_wrong_secret", 401),
                                         ("rest/05_orders_query_created_via", 200),
                                         ("rest/05_orders_query_product_name", 200)])
def test_captured_oauth_requests_replay_as_they_did_on_the_real_shop(name, status):
    """The captured signatures themselves verify when the stand-in has the real shop's home URL and time."""
    captured = capture(name + ".json")
    clock = SettableClock(datetime.fromisoformat(captured["captured_at_utc"].replace("Z", "+00:00")))
    standin = WooCommerceStandin()
    standin.start(KEY, SECRET, clock=clock, site_url="http://127.0.0.1:8088")
    try:
        target = standin.listen_url.rstrip("/") + captured["request"]["target"]
        first = requests.get(target, timeout=10)
        again = requests.get(target, timeout=10)
    finally:
        standin.stop()
    assert first.status_code == status
    if status == 401:
        assert first.content == captured["response"]["body_raw"].encode()
    else:
        assert again.json()["message"] == "Invalid nonce - nonce has already been used."


# ---------------------------------------------------------------------------------------------- behaviour

def test_a_webhook_is_disabled_on_the_seventh_consecutive_failure_and_events_are_then_lost(standin, api, receiver):
    club, _ = seed_coffee(standin)
    receiver.status = 500
    hook = standin.add_webhook("order.created", receiver.url(), HOOK_SECRET)
    for n in range(1, 7):
        standin.place_order(customer=dict(IVAN), lines=[(club, 1)], payment_method="bacs")
        assert standin.flush_deliveries()
        assert standin.webhook(hook)["failure_count"] == n
        assert standin.webhook(hook)["status"] == "active"

    standin.place_order(customer=dict(IVAN), lines=[(club, 1)], payment_method="bacs")
    assert standin.flush_deliveries()
    assert standin.webhook(hook)["status"] == "disabled"
    assert standin.webhook(hook)["failure_count"] == 6
    standin.place_order(customer=dict(IVAN), lines=[(club, 1)], payment_method="bacs")
    assert standin.flush_deliveries()
    assert len(deliveries(standin)) == 7

    shown = api.get(f"webhooks/{hook}").json()
    assert shown["status"] == "disabled" and "failure_count" not in shown

    assert api.put(f"webhooks/{hook}", {"status": "active"}).json()["status"] == "active"
    standin.place_order(customer=dict(IVAN), lines=[(club, 1)], payment_method="bacs")
    assert standin.flush_deliveries()
    assert standin.webhook(hook)["status"] == "disabled"  # failure_count stayed at 6


def test_a_successful_delivery_resets_the_failure_count(standin, receiver):
    club, _ = seed_coffee(standin)
    receiver.status = 503
    hook = standin.add_webhook("order.created", receiver.url(), HOOK_SECRET)
    standin.place_order(customer=dict(IVAN), lines=[(club, 1)], payment_method="bacs")
    standin.flush_deliveries()
    assert standin.webhook(hook)["failure_count"] == 1
    receiver.status = 302  # counted as success, as WooCommerce counts 200..302
    standin.place_order(customer=dict(IVAN), lines=[(club, 1)], payment_method="bacs")
    standin.flush_deliveries()
    assert standin.webhook(hook)["failure_count"] == 0


def test_the_ping_counts_as_delivered_only_on_exactly_200(standin, api, receiver):
    receiver.status = 201
    created = api.post("webhooks", {"name": "abonne", "topic": "order.created", "delivery_url": receiver.url(),
                                    "secret": HOOK_SECRET, "status": "active"})
    assert created.status_code == 201
    assert shape(created.json()) == shape(capture("more/rest/10_webhook_create_order_created.json")
                                          ["response"]["body_json"])
    hook = created.json()["id"]
    assert len(receiver.requests) == 1  # the ping went out inside the create call
    assert standin.webhook(hook)["pending_delivery"] is True
    receiver.status = 200
    api.put(f"webhooks/{hook}", {"status": "active"})  # an active webhook still pending is pinged again
    assert standin.webhook(hook)["pending_delivery"] is False


def test_a_webhook_created_without_secret_gets_a_generated_one(standin, api, receiver):
    created = api.post("webhooks", {"topic": "order.updated", "delivery_url": receiver.url()})
    hook = standin.webhook(created.json()["id"])
    assert len(hook["secret"]) == 50
    assert created.json()["name"].startswith("Webhook created on ")
    assert api.delete(f"webhooks/{hook['id']}").status_code == 501
    assert api.delete(f"webhooks/{hook['id']}", params={"force": "true"}).status_code == 200


def test_changes_close_together_are_merged_and_only_the_latest_state_is_sent(standin, api, receiver):
    club, _ = seed_coffee(standin)
    standin.add_webhook("order.updated", receiver.url(), HOOK_SECRET)
    order_id = standin.place_order(customer=dict(IVAN), lines=[(club, 1)], payment_method="cod")
    assert standin.flush_deliveries()
    standin.set_delivery_delay(5.0)

    api.put(f"orders/{order_id}", {"status": "on-hold"})
    api.put(f"orders/{order_id}", {"status": "completed"})
    assert standin.pending_deliveries() == [(1, order_id)]
    assert standin.flush_deliveries()

    updates = deliveries(standin, "order.updated")
    assert len(updates) == 2
    assert json.loads(updates[-1].body)["status"] == "completed"


def test_deliveries_leave_on_their_own_shortly_after_the_change(standin, receiver):
    club, _ = seed_coffee(standin)
    standin.add_webhook("order.created", receiver.url(), HOOK_SECRET)
    standin.place_order(customer=dict(IVAN), lines=[(club, 1)], payment_method="cod")
    wait_for(lambda: len(receiver.requests) == 2)


def test_trashing_sends_only_the_id_and_a_forced_delete_sends_nothing(standin, api, receiver):
    club, _ = seed_coffee(standin)
    standin.add_webhook("order.deleted", receiver.url(), HOOK_SECRET)
    standin.add_webhook("order.updated", receiver.url(), HOOK_SECRET)
    standin.add_webhook("order.restored", receiver.url(), HOOK_SECRET)
    order_id = standin.place_order(customer=dict(IVAN), lines=[(club, 1)], payment_method="cod")
    other = standin.place_order(customer=dict(IVAN), lines=[(club, 1)], payment_method="cod")
    assert standin.flush_deliveries()
    before = len(deliveries(standin))

    trashed = api.delete(f"orders/{order_id}")
    assert trashed.json()["status"] == "processing"  # the answer shows the order before trashing
    assert api.get(f"orders/{order_id}").json()["status"] == "trash"
    assert standin.flush_deliveries()
    deleted, = deliveries(standin)[before:]
    assert (deleted.topic, deleted.body) == ("order.deleted", f'{{"id":{order_id}}}'.encode())
    assert deleted.header("X-WC-Webhook-Signature") == webhook_signature(deleted.body, HOOK_SECRET)

    assert api.get("orders").headers["X-WP-Total"] == "1"
    assert [o["id"] for o in api.get("orders", params={"status": "trash"}).json()] == [order_id]

    standin.restore_order(order_id)
    assert standin.flush_deliveries()
    restored = deliveries(standin)[-1]
    assert restored.topic == "order.restored" and json.loads(restored.body)["status"] == "processing"

    count = len(deliveries(standin))
    assert api.delete(f"orders/{other}", params={"force": "true"}).status_code == 200
    assert standin.flush_deliveries()
    assert len(deliveries(standin)) == count
    assert api.get(f"orders/{other}").json()["code"] == "woocommerce_rest_shop_order_invalid_id"


def test_rest_created_orders_send_created_before_updated_and_storefront_the_reverse(standin, api, receiver):
    club, _ = seed_coffee(standin)
    standin.add_webhook("order.created", receiver.url(), HOOK_SECRET)
    standin.add_webhook("order.updated", receiver.url(), HOOK_SECRET)
    api.post("orders", {"set_paid": True, "billing": IVAN, "line_items": [{"product_id": club, "quantity": 1}]})
    assert standin.flush_deliveries()
    standin.place_order(customer=dict(IVAN), lines=[(club, 1)], payment_method="bacs", via="checkout")
    assert standin.flush_deliveries()
    standin.place_order(customer=dict(IVAN), lines=[(club, 1)], payment_method="bacs", via="store-api")
    assert standin.flush_deliveries()
    assert [d.topic for d in deliveries(standin)] == ["order.created", "order.updated"] * 2 + [
        "order.updated", "order.created"]


def test_set_paid_runs_payment_complete_only_from_payable_statuses(standin, api):
    club, _ = seed_coffee(standin)
    paid = api.post("orders", {"set_paid": True, "transaction_id": "MYPOS-TX-1", "billing": IVAN,
                               "line_items": [{"product_id": club, "quantity": 1, "subtotal": "15.00",
                                               "total": "15.00"}]}).json()
    assert (paid["status"], paid["transaction_id"], paid["total"]) == ("processing", "MYPOS-TX-1", "15.00")
    assert paid["date_paid"] is not None and paid["created_via"] == "rest-api"

    gotcha = api.post("orders", {"set_paid": True, "status": "processing", "transaction_id": "MYPOS-TX-2",
                                 "billing": IVAN, "line_items": [{"product_id": club, "quantity": 1}]}).json()
    assert (gotcha["status"], gotcha["transaction_id"]) == ("processing", "MYPOS-TX-2")
    assert gotcha["date_paid"] is not None

    pending = api.post("orders", {"billing": IVAN, "created_via": "abonne",
                                  "line_items": [{"product_id": club, "quantity": 1}]}).json()
    assert (pending["status"], pending["date_paid"], pending["needs_payment"], pending["created_via"]) == (
        "pending", None, True, "abonne")
    now_paid = api.put(f"orders/{pending['id']}", {"set_paid": True, "transaction_id": "TX-9"}).json()
    assert (now_paid["status"], now_paid["transaction_id"]) == ("processing", "TX-9")

    bacs = standin.place_order(customer=dict(IVAN), lines=[(club, 1)], payment_method="bacs")
    on_hold = api.put(f"orders/{bacs}", {"set_paid": True}).json()
    assert (on_hold["status"], on_hold["date_paid"]) == ("on-hold", None)  # on-hold does not need payment
    assert api.put(f"orders/{bacs}", {"status": "processing"}).json()["date_paid"] is not None

    cod = standin.order(standin.place_order(customer=dict(IVAN), lines=[(club, 1)], payment_method="cod"))
    assert (cod["status"], cod["date_paid"]) == ("processing", None)
    card = standin.order(standin.place_order(customer=dict(IVAN), lines=[(club, 1)], payment_method="mypos",
                                             paid=True, transaction_id="MYPOS-TX-3"))
    assert (card["status"], card["transaction_id"]) == ("processing", "MYPOS-TX-3") and card["date_paid"]


def test_a_full_refund_makes_the_order_refunded_and_a_partial_one_does_not(standin, api, receiver):
    club, mug = seed_coffee(standin)
    standin.add_webhook("order.updated", receiver.url(), HOOK_SECRET)
    full = standin.place_order(customer=dict(IVAN), lines=[(club, 1)], payment_method="cod")
    mixed = standin.place_order(customer=dict(IVAN), lines=[(club, 1), (mug, 1)], payment_method="cod")
    assert standin.flush_deliveries()
    line = standin.order(full)["line_items"][0]["id"]
    mug_line = standin.order(mixed)["line_items"][1]["id"]

    refund = api.post(f"orders/{full}/refunds", {"amount": "19.90", "reason": "Customer cancelled",
                                                 "api_refund": False,
                                                 "line_items": [{"id": line, "quantity": 1, "refund_total": 19.9}]})
    assert refund.status_code == 201
    assert shape(refund.json()) == shape(capture("more/rest/13_refund_full_create.json")["response"]["body_json"])
    api.post(f"orders/{mixed}/refunds", {"amount": "12.50", "reason": "Mug arrived broken", "api_refund": False,
                                         "line_items": [{"id": mug_line, "quantity": 1, "refund_total": 12.5}]})
    assert standin.flush_deliveries()

    after = api.get(f"orders/{full}").json()
    assert (after["status"], after["total"]) == ("refunded", "19.90")
    assert after["refunds"] == [{"id": refund.json()["id"], "reason": "Customer cancelled", "total": "-19.90"}]
    partial = api.get(f"orders/{mixed}").json()
    assert (partial["status"], partial["total"], partial["refunds"][0]["total"]) == ("processing", "32.40", "-12.50")
    updated = [json.loads(d.body)["id"] for d in deliveries(standin, "order.updated")][-2:]
    assert updated == [full, mixed]


def test_an_earlier_attempt_is_found_by_transaction_id_parent_and_customer_but_not_by_meta(standin, api):
    club, _ = seed_coffee(standin)
    maria = standin.add_customer("maria.ivanova@example.test", "Maria", "Ivanova")
    first = api.post("orders", {"customer_id": maria, "set_paid": True, "transaction_id": "MYPOS-TX-1000",
                                "billing": {**IVAN, "first_name": "Maria", "last_name": "Ivanova",
                                            "email": "maria.ivanova@example.test"},
                                "line_items": [{"product_id": club, "quantity": 1}]}).json()
    renewal = api.post("orders", {"customer_id": maria, "parent_id": first["id"], "set_paid": True,
                                  "transaction_id": "MYPOS-TX-1001-RENEWAL", "billing": IVAN,
                                  "line_items": [{"product_id": club, "quantity": 1}],
                                  "meta_data": [{"key": "_bridge_renewal_of", "value": str(first["id"])}]}).json()

    def ids(**params):
        return [o["id"] for o in api.get("orders", params=params).json()]

    assert ids(search="MYPOS-TX-1001-RENEWAL") == [renewal["id"]]
    assert ids(search="TX-1001") == [renewal["id"]]
    assert ids(parent=first["id"]) == [renewal["id"]]
    assert ids(customer=maria) == [renewal["id"], first["id"]]
    assert ids(search="_bridge_renewal_of") == []
    assert ids(meta_key="_bridge_renewal_of", meta_value=str(first["id"])) == [renewal["id"], first["id"]]
    assert ids(search="Ivanova") == [first["id"]]
    only_meta = api.get("orders", params={"include_meta": "_bridge_renewal_of"}).json()
    assert only_meta[0]["meta_data"][0]["key"] == "_bridge_renewal_of"
    assert api.get("orders", params={"per_page": 101}).status_code == 400
    page = api.get("orders", params={"per_page": 1, "orderby": "id", "order": "asc"})
    assert page.headers["X-WP-TotalPages"] == "2" and 'rel="next"' in page.headers["Link"]
    assert [o["id"] for o in page.json()] == [first["id"]]


def test_a_customer_note_is_mailed_to_the_customer_and_fires_no_webhook(standin, api, receiver):
    club, _ = seed_coffee(standin)
    standin.add_webhook("order.updated", receiver.url(), HOOK_SECRET)
    order_id = standin.place_order(customer=dict(IVAN), lines=[(club, 1)], payment_method="bacs")
    assert standin.flush_deliveries()
    count = len(deliveries(standin))

    created = api.post(f"orders/{order_id}/notes", {"note": "Manage your card: https://pay.example.test/m",
                                                    "customer_note": True})
    assert created.status_code == 201
    assert shape(created.json()) == shape(capture("rest/05_order_note_create_customer.json")["response"]["body_json"])
    assert b"https:\\/\\/pay.example.test\\/m" in created.content
    assert standin.flush_deliveries()
    assert len(deliveries(standin)) == count
    mail, = standin.mails
    assert (mail.to, mail.subject, mail.order_id) == (IVAN["email"], "A note has been added to your order from "
                                                      "abonne stand-in shop", order_id)
    assert "https://pay.example.test/m" in mail.text
    listed = api.get(f"orders/{order_id}/notes")
    assert "X-WP-Total" not in listed.headers
    assert [n["customer_note"] for n in listed.json() if n["note"].startswith("Manage your card")] == [True]
    assert any(n.customer_note for n in standin.notes(order_id))


def test_a_variation_order_line_names_the_parent_product(standin, api):
    flex = standin.add_product("Coffee Club Flex", type="variable", sku="COFFEE-CLUB-FLEX",
                               meta={"_subscription_period": "month", "_subscription_period_interval": "1"},
                               attributes={"Bag size": ["250 g", "500 g"]})
    big = standin.add_variation(flex, "24.90", "COFFEE-CLUB-FLEX-500", {"Bag size": "500 g"})
    order = standin.order(standin.place_order(customer=dict(IVAN), lines=[(flex, 1, big)], payment_method="cod"))
    line = order["line_items"][0]
    assert (line["product_id"], line["variation_id"], line["sku"], line["name"], line["parent_name"]) == (
        flex, big, "COFFEE-CLUB-FLEX-500", "Coffee Club Flex - 500 g", "Coffee Club Flex")
    assert line["meta_data"][0]["display_key"] == "Bag size"
    captured = capture("more/rest/16_variation_order_get.json")["response"]["body_json"]["line_items"][0]
    assert shape(line) == shape(captured)
    product = api.get(f"products/{flex}").json()
    assert product["meta_data"][0]["key"] == "_subscription_period" and product["variations"] == [big]


def test_delivery_ids_repeat_within_one_second(receiver):
    clock = SettableClock(datetime(2026, 11, 24, 18, 39, 48, tzinfo=timezone.utc))
    standin = WooCommerceStandin(delivery_delay_s=0.01)
    standin.start(KEY, SECRET, clock=clock)
    try:
        club, _ = seed_coffee(standin)
        standin.add_webhook("order.created", receiver.url(), HOOK_SECRET)
        standin.place_order(customer=dict(IVAN), lines=[(club, 1)], payment_method="cod")
        standin.place_order(customer=dict(IVAN), lines=[(club, 1)], payment_method="cod")
        standin.flush_deliveries()
        clock.advance(timedelta(seconds=1))
        standin.place_order(customer=dict(IVAN), lines=[(club, 1)], payment_method="cod")
        standin.flush_deliveries()
        ids = [d.header("X-WC-Webhook-Delivery-ID") for d in deliveries(standin)]
        assert ids[0] == ids[1] != ids[2]
        assert json.loads(deliveries(standin)[0].body)["date_created"] == "2026-11-24T18:39:48"
    finally:
        standin.stop()


def test_the_store_api_checkout_places_an_order_over_http(standin, receiver):
    club, _ = seed_coffee(standin)
    standin.add_webhook("order.created", receiver.url(), HOOK_SECRET)
    captured = capture("more/rest/11_storeapi_bacs_checkout.json")
    store = standin.url + "wp-json/wc/store/v1/"
    browser = requests.Session()
    browser.headers["User-Agent"] = "Mozilla/5.0 (test)"
    session = browser.get(store + "cart", timeout=10)
    headers = {"Nonce": session.headers["Nonce"], "Cart-Token": session.headers["Cart-Token"]}
    assert browser.post(store + "cart/add-item", json={"id": club, "quantity": 2}, headers=headers,
                        timeout=10).status_code == 201

    response = browser.post(store + "checkout", data=captured["request"]["body"],
                            headers={**headers, "Content-Type": "application/json"}, timeout=10)

    assert response.status_code == 200
    assert shape(response.json()) == shape(captured["response"]["body_json"])
    order = standin.order(response.json()["order_id"])
    assert (order["status"], order["total"], order["created_via"]) == ("on-hold", "39.80", "store-api")
    assert order["line_items"][0]["price"] == 19.9
    again = browser.post(store + "checkout", data=captured["request"]["body"],
                         headers={**headers, "Content-Type": "application/json"}, timeout=10)
    assert (again.status_code, again.json()["code"]) == (409, "woocommerce_rest_cart_empty")


def test_a_store_api_cart_post_without_nonce_or_cart_token_is_refused(standin):
    club, _ = seed_coffee(standin)
    response = requests.post(standin.url + "wp-json/wc/store/v1/cart/add-item", json={"id": club, "quantity": 1},
                             timeout=10)
    assert (response.status_code, response.json()["code"]) == (401, "woocommerce_rest_missing_nonce")


def test_breakage_switches_make_the_rest_api_fail_and_recover(standin, api):
    standin.answer(503)
    assert api.get("orders").status_code == 503
    standin.behave_normally()
    assert api.get("orders").status_code == 200
    standin.refuse_connections()
    with pytest.raises(requests.ConnectionError):
        api.get("orders")
    standin.accept_connections()
    assert api.get("orders").status_code == 200
