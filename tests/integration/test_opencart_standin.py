"""The OpenCart stand-in against real OpenCart 4.1.0.4 and 3.0.5.1 API traffic (tests/fixtures/opencart-*).

Fidelity tests replay the captured requests in order against one stand-in and compare status, content type and the
JSON body: exactly, except for values that are ids, stock counts or times, which are compared by type (an order id
the capture made is mapped to the stand-in's, so later requests that name it still work). The 4.1 captures were
signed with the captured shop's key, which the fixtures do not hold, so they are signed again with the stand-in's;
the signature's body digest is checked against values PHP 8.2 itself computed for the signing captures.
Behaviour tests run the renewal flows, the extension's signed reads and its events with their queue and backoff.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
import requests

from adapters.module_events import parse_event_order, sign_read, verify_event
from adapters.opencart.api import Api30, as_pairs
from adapters.opencart.standin import OpenCartStandin
from adapters.opencart.standin_wire import clean, http_build_query, parse_str, sign_41_request
from bridge.clock import SettableClock
from bridge.ports import OrderState
from tests.integration.standin_helpers import Receiver

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
OC41, OC30 = FIXTURES / "opencart-4.1.0.4", FIXTURES / "opencart-3.0.5.1"
KEY = "K" * 200 + "stand-in-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEF"  # 256 characters
SECRET = "extension-signing-secret"
START = datetime(2026, 11, 24, 18, 56, 40, tzinfo=timezone.utc)
VOLATILE = {"cart_id", "order_id", "stock", "date_added", "date_modified", "api_token", "store_url", "user_agent",
            "order_product_id", "order_total_id"}
STATE = [("customer_id", "1"), ("customer_group_id", "1"), ("firstname", "Jane"), ("lastname", "Roaster"),
         ("email", "jane@example.com"), ("telephone", "5551234567"), ("product[0][product_id]", "100"),
         ("product[0][quantity]", "1")] + [
    (f"{prefix}_{name}", value) for prefix in ("payment", "shipping") for name, value in (
        ("firstname", "Jane"), ("lastname", "Roaster"), ("company", ""), ("address_1", "1 Bean Street"),
        ("address_2", ""), ("city", "New York"), ("postcode", "10001"), ("country_id", "223"), ("zone_id", "3655"),
        ("address_id", "1"))]
METHODS = [("shipping_method[name]", "Flat Shipping Rate"), ("shipping_method[code]", "flat.flat"),
           ("shipping_method[cost]", "5.00"), ("shipping_method[tax_class_id]", "9"),
           ("payment_method[name]", "Cash On Delivery"), ("payment_method[code]", "cod.cod")]


# ---------------------------------------------------------------------------------------------- helpers

def load(path: Path) -> dict:
    return json.loads(path.read_text())


def captured_at(capture: dict) -> datetime:
    return parsedate_to_datetime(capture["response"]["headers"]["Date"])


def normalized(value, key: str = ""):
    """The body with ids, stock counts and times replaced by their type."""
    if isinstance(value, dict):
        return {k: normalized(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [normalized(v) for v in value]
    return f"<{type(value).__name__}>" if key in VOLATILE else value


def keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | set().union(*(keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(keys(v) for v in value)) if value else set()
    return set()


@pytest.fixture
def clock():
    return SettableClock(START)


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def seeded(version: str, clock, key: str = KEY) -> OpenCartStandin:
    """Jane (customer 1, New York) and products 100 and 101, as in the captured shops."""
    standin = OpenCartStandin(event_timeout_s=1.0)
    standin.start(version=version, api_key=key, clock=clock)
    jane = standin.add_customer("jane@example.com", "Jane", "Roaster", customer_id=1)
    standin.add_address(jane, "1 Bean Street", "New York", "10001")
    standin.add_product("Coffee Club Monthly", "19.90", "COFFEE-M", product_id=100,
                        description="Monthly coffee subscription box")
    standin.add_product("Free Sample", "0.00", "FREE-SAMPLE", product_id=101, weight="0", description="zero price")
    return standin


@pytest.fixture
def oc41(clock):
    standin = seeded("4.1", clock)
    yield standin
    standin.stop()


@pytest.fixture
def oc30(clock):
    key = dict(load(OC30 / "flow" / "01_login.json")["request"]["body_form"])["key"]
    standin = seeded("3.0", clock, key)
    yield standin
    standin.stop()


def call41(standin, call: str, form: list[tuple[str, str]], clock, key: str = KEY, host: str | None = None,
           headers: dict | None = None, skew: int = 0, **overrides) -> requests.Response:
    """A signed 4.1 call; `skew` seconds between the client's `time` and the shop's clock."""
    shop_host = standin.url.split("//")[1].rstrip("/")
    params = sign_41_request(key, host or shop_host, call, form, int(clock.now().timestamp()) + skew)
    params.update(overrides)
    params = {k: v for k, v in params.items() if v is not None}
    return requests.post(standin.url + "index.php", params=params, data=form, headers=headers or {}, timeout=10)


def read(standin, call: str, params: dict, clock, secret: str = SECRET, stamp: int | None = None,
         route: str = "extension/abonne/module/abonne.read") -> requests.Response:
    stamp = int(clock.now().timestamp()) if stamp is None else stamp
    headers = {"X-Abonne-Timestamp": str(stamp), "X-Abonne-Signature": sign_read(secret, stamp, call, params)}
    return requests.get(standin.url + "index.php", params={"route": route, "call": call, **params},
                        headers=headers, timeout=10)


# ---------------------------------------------------------------------------------------------- 4.1 replays

def replay_41(standin, clock, capture: dict, ids: dict[str, str]) -> requests.Response:
    """Send a 4.1 capture again, signed with the stand-in's key, reproducing what made it fail."""
    name = capture["name"]
    query = dict(capture["request"]["query"])
    form = [(k, ids.get(v, v) if k == "order_id" else v) for k, v in capture["request"]["body_form"]]
    clock.set(captured_at(capture))
    host = standin.url.split("//")[1].rstrip("/")
    signed_form, sent_form = form, form
    if name == "err_body_tampered":  # signed with customer 1, sent with customer 2
        signed_form = [(k, "1" if k == "customer_id" else v) for k, v in form]
    signed = sign_41_request("wrong" + KEY[5:] if name == "err_wrong_key" else KEY,
                             "localhost:" + host.split(":")[1] if name == "err_signed_other_host" else host,
                             query.get("call", ""), signed_form, int(query.get("time", clock.now().timestamp())),
                             username=query.get("username", "Default"), route=query["route"])
    params = {k: signed[k] if k == "signature" else v for k, v in query.items()}
    standin.set_allowed_ips(["198.51.100.7"] if name in ("err_ip_not_allowed_remote_addr", "spoof_ip_allowed_via_xff")
                            else ["127.0.0.1"])
    headers = {k: v for k, v in capture["request"]["headers"].items() if k == "X-Forwarded-For"}
    response = requests.post(standin.url + "index.php", params=params, data=sent_form, headers=headers, timeout=10)
    standin.set_allowed_ips(["127.0.0.1"])
    body = response.json()
    if isinstance(body, dict) and "order_id" in body and "order_id" in (capture["response"]["body_json"] or {}):
        ids[str(capture["response"]["body_json"]["order_id"])] = str(body["order_id"])
    return response


@pytest.mark.parametrize("folder", ["flow", "errors", "minimal_flow", "extras"])
def test_41_captures_replay_with_the_captured_status_headers_and_bodies(oc41, clock, folder):
    ids: dict[str, str] = {}
    for path in sorted((OC41 / folder).glob("*.json")):
        capture = load(path)
        response = replay_41(oc41, clock, capture, ids)
        expected = capture["response"]
        assert response.status_code == expected["status"], path.name
        assert response.headers["Content-Type"] == expected["headers"]["Content-Type"], path.name
        assert response.headers["Set-Cookie"].startswith("OCSESSID="), path.name
        assert "currency=USD" in response.headers["Set-Cookie"]
        assert normalized(response.json()) == normalized(expected["body_json"]), path.name
        if not keys(expected["body_json"]) & VOLATILE:
            assert response.content == expected["body_raw"].encode(), path.name  # byte for byte


def test_the_41_signature_digest_is_phps_for_the_signing_captures():
    """md5(http_build_query(cleaned POST)) as PHP 8.2 computed it for these bodies (htmlspecialchars, trim,
    "+" for space, %7E for "~", UTF-8 bytes percent-encoded), and the comment stored HTML-escaped."""
    php_md5 = {"01_sign_special_chars.json": "2a457fc1933453e99b4fd304f763c597",
               "02_sign_bools.json": "a6aa1067fa2ecf66826d599a184df8ea"}
    for name, expected in php_md5.items():
        capture = load(OC41 / "signing" / name)
        cleaned = clean(parse_str(capture["request"]["body_raw"]))
        assert hashlib.md5(http_build_query(cleaned).encode()).hexdigest() == expected
    cart = load(OC41 / "flow" / "02_cart.json")["request"]["body_raw"]
    assert hashlib.md5(http_build_query(clean(parse_str(cart))).encode()).hexdigest() == \
        "4845fca98c018d637f201b3a7ee032bd"


def test_the_signing_captures_are_accepted_and_the_comment_is_stored_escaped(oc41, clock):
    confirmed = call41(oc41, "confirm", STATE + METHODS + [("order_status_id", "1")], clock).json()
    ids = {"35": str(confirmed["order_id"])}
    for name in ("01_sign_special_chars.json", "02_sign_bools.json"):
        capture = load(OC41 / "signing" / name)
        clock.set(captured_at(capture))
        response = replay_41(oc41, clock, capture, ids)
        assert (response.status_code, response.content) == (200, capture["response"]["body_raw"].encode())
    comments = [row["comment"] for row in oc41.order_history(confirmed["order_id"])]
    assert "Renewal &quot;A&quot; &amp; &lt;B&gt; ünïcødé € ~tilde+plus" in comments


def test_every_41_gate_failure_is_the_same_403(oc41, clock):
    customer = STATE[:6]
    refusals = [
        call41(oc41, "customer", customer, clock, key="another key"),
        call41(oc41, "customer", customer, clock, username="Nobody"),
        call41(oc41, "customer", customer, clock, signature=None),
        call41(oc41, "customer", customer, clock, time=None),
        call41(oc41, "customer", customer, clock, host="localhost:80"),
        call41(oc41, "customer", customer, clock, route="api/customer"),
        call41(oc41, "customer", customer, clock, headers={"X-Forwarded-For": "10.9.9.9"}),
    ]
    for response in refusals:
        assert (response.status_code, response.text) == (403, '{"error":"You do not have permission to access this page."}')
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    # errors/05 and 06: 451 s off is refused, 440 s is accepted; the window is ±450 s on the shop's clock.
    assert [call41(oc41, "customer", customer, clock, skew=skew).status_code
            for skew in (-451, -450, 450, 451)] == [403, 200, 200, 403]


def test_the_41_whitelist_is_spoofable_with_x_forwarded_for(oc41, clock):
    oc41.set_allowed_ips(["198.51.100.7"])
    assert call41(oc41, "customer", STATE[:6], clock).status_code == 403
    spoofed = call41(oc41, "customer", STATE[:6], clock, headers={"X-Forwarded-For": "198.51.100.7"})
    assert spoofed.json() == {"success": "You have successfully modified customers"}


# ---------------------------------------------------------------------------------------------- 4.1 behaviour

def test_the_minimal_41_renewal_is_confirm_then_history_add_and_tax_is_the_stores(oc41, clock, receiver):
    oc41.connect_extension(receiver.url, 7, SECRET)
    confirmed = call41(oc41, "confirm", STATE + METHODS + [("order_status_id", "1"), ("comment", "SUB-123 #2")],
                       clock).json()
    order_id = confirmed["order_id"]
    # S1: the UK rates of tax class 9 on the shipping line, for a New York customer.
    assert [(t["code"], t["value"]) for t in confirmed["totals"]] == [
        ("sub_total", 19.9), ("shipping", 5), ("tax", 2), ("tax", 1), ("total", 27.9)]
    assert call41(oc41, "history_add", [("order_id", str(order_id)), ("order_status_id", "2"),
                                        ("comment", "paid"), ("notify", "0"), ("override", "0")],
                  clock).json() == {"success": "Success: You have modified orders!"}
    order = oc41.order(order_id)
    assert (order["order_status_id"], order["order_status"], order["total"]) == ("2", "Processing", "27.9000")
    assert order["payment_method"] == {"name": "Cash On Delivery", "code": "cod.cod"}
    dump = load(OC41 / "events" / "getOrder_dump.json")["order"]
    assert list(order) == list(dump)  # getOrder()'s 72 keys, in order
    assert oc41.storefront_cart(1) == []  # the extension's cleanup (S2)
    assert oc41.flush_events()
    kinds = [json.loads(body)["event"] for _, body in receiver.requests]
    assert kinds == ["order.created", "order.status_changed"]


def test_a_free_shipping_line_with_tax_class_minus_one_has_no_tax(oc41, clock):
    free = [("shipping_method[name]", "Free"), ("shipping_method[code]", "abonne.free"),
            ("shipping_method[cost]", "0.00"), ("shipping_method[tax_class_id]", "-1"),
            ("payment_method[name]", "Card on file"), ("payment_method[code]", "abonne.card")]
    body = call41(oc41, "confirm", STATE + free + [("order_status_id", "1")], clock).json()
    assert body["totals"][-1]["value"] == 19.9
    assert oc41.order(body["order_id"])["payment_method"]["code"] == "abonne.card"


def test_a_taxable_product_is_taxed_with_the_store_rates(oc41, clock):
    oc41.add_product("Grinder", "100.00", "GRIND", tax_class_id=9, product_id=200)
    form = [(k, "200" if k == "product[0][product_id]" else v) for k, v in STATE] + METHODS
    body = call41(oc41, "cart", form, clock).json()
    assert body["products"][0]["price_text"] == "$122.00"  # 100 + 20 % + 2.00 eco tax
    confirmed = call41(oc41, "confirm", form + [("order_status_id", "1")], clock).json()
    assert confirmed["totals"][-1] == {"text": "$130.00", "extension": "opencart", "code": "total",
                                       "title": "Total", "value": 130, "sort_order": 9}


def test_confirm_without_a_status_hides_the_order_and_confirming_twice_makes_two(oc41, clock, receiver):
    oc41.connect_extension(receiver.url, 7, SECRET)
    hidden = call41(oc41, "confirm", STATE + METHODS, clock).json()["order_id"]
    assert oc41.order(hidden)["order_status_id"] == "0" and oc41.order_history(hidden) == []
    first = call41(oc41, "confirm", STATE + METHODS + [("order_status_id", "1")], clock).json()["order_id"]
    second = call41(oc41, "confirm", STATE + METHODS + [("order_status_id", "1")], clock).json()["order_id"]
    assert len({hidden, first, second}) == 3
    call41(oc41, "history_add", [("order_id", str(hidden)), ("order_status_id", "999")], clock)
    assert oc41.order(hidden)["order_status_id"] == "999"  # stored unvalidated (S4)
    assert oc41.flush_events()
    sent = [(json.loads(b)["event"], json.loads(b)["order"]["id"]) for _, b in receiver.requests]
    # the hidden order says nothing until its first real status
    assert sorted(sent) == sorted([("order.created", str(first)), ("order.created", str(second)),
                                   ("order.created", str(hidden))])


def test_confirm_with_an_order_id_edits_it_after_a_voided_history_row(oc41, clock, receiver):
    oc41.connect_extension(receiver.url, 7, SECRET)
    order_id = call41(oc41, "confirm", STATE + METHODS + [("order_status_id", "2")], clock).json()["order_id"]
    edit = [(k, "2" if k == "product[0][quantity]" else v) for k, v in STATE] + METHODS
    call41(oc41, "confirm", edit + [("order_id", str(order_id)), ("order_status_id", "2")], clock)
    assert [(r["order_status_id"], r["notify"]) for r in oc41.order_history(order_id)] == [(2, 0), (16, 1), (2, 0)]
    assert oc41.order(order_id)["total"] == "47.8000"
    assert oc41.flush_events()
    edited = json.loads(receiver.requests[-1][1])
    assert (edited["event"], edited["order"]["old_status"]["id"]) == ("order.status_changed", "16")


def test_without_the_extension_api_calls_leak_rows_into_the_storefront_cart(oc41, clock):
    oc41.set_extension_installed(False)
    for call in ("cart", "shipping_method", "confirm"):
        call41(oc41, call, STATE + METHODS + [("order_status_id", "1")], clock)
    leaked = oc41.storefront_cart(1)
    assert len(leaked) == 3 and {row["product_id"] for row in leaked} == {100}
    assert read(oc41, "order", {"order_id": "1"}, clock).status_code == 404


def test_stock_follows_the_processing_statuses(oc41, clock):
    before = oc41.stock(100)
    order_id = call41(oc41, "confirm", STATE + METHODS + [("order_status_id", "1")], clock).json()["order_id"]
    assert oc41.stock(100) == before - 1
    oc41.set_order_status(order_id, 7)
    assert oc41.stock(100) == before


# ---------------------------------------------------------------------------------------------- 3.0 replays

def replay_30(standin, clock, capture: dict, tokens: dict[str, str], ids: dict[str, str]) -> requests.Response:
    name = capture["name"]
    query = [(k, tokens.get(v, v) if k == "api_token" else ids.get(v, v) if k == "order_id" else v)
             for k, v in capture["request"]["query"]]
    clock.set(captured_at(capture))
    if name in ("err_login_ip_not_allowed", "err_login_ip_xff_ignored", "err_token_ok_but_ip_removed"):
        standin.set_allowed_ips(["198.51.100.7"])
    if name == "err_expired_session":
        standin.expire_sessions()
    headers = {k: v for k, v in capture["request"]["headers"].items() if k in ("X-Forwarded-For", "Cookie")}
    response = requests.post(standin.url + "index.php", params=query, data=capture["request"]["body_form"] or None,
                             headers=headers, timeout=10)
    standin.set_allowed_ips(["127.0.0.1"])
    expected = capture["response"]["body_json"]
    if isinstance(expected, dict):
        for key, mapping in (("api_token", tokens), ("order_id", ids)):
            if key in expected:
                mapping[str(expected[key])] = str(response.json()[key])
    return response


@pytest.mark.parametrize("folder", ["flow", "errors"])
def test_30_captures_replay_with_the_captured_status_and_bodies(oc30, clock, folder):
    oc30.set_extension_installed(False)  # the captured shop had no abonne extension (and so no abonne method)
    tokens: dict[str, str] = {}
    ids: dict[str, str] = {}
    for path in sorted((OC30 / folder).glob("*.json")):
        capture = load(path)
        response = replay_30(oc30, clock, capture, tokens, ids)
        expected = capture["response"]
        assert response.status_code == expected["status"], path.name
        assert response.headers["Content-Type"] == expected["headers"]["Content-Type"], path.name
        assert ("Set-Cookie" in response.headers) == ("Set-Cookie" in expected["headers"]), path.name
        if expected["body_json"] is None:
            assert "The page you requested cannot be found!" in response.text
            continue
        assert normalized(response.json()) == normalized(expected["body_json"]), path.name
        if not keys(expected["body_json"]) & VOLATILE:
            assert response.content == expected["body_raw"].encode(), path.name  # byte for byte


def test_the_30_login_flow_renews_in_one_session_and_info_reads_it_back(oc30, clock):
    base = oc30.url + "index.php"
    key = dict(load(OC30 / "flow" / "01_login.json")["request"]["body_form"])["key"]
    token = requests.post(base, params={"route": "api/login"}, data={"key": key}).json()["api_token"]
    session = requests.Session()

    def api(route, data=None, **params):
        return session.post(base, params={"route": route, "api_token": token, "store_id": 0, **params},
                            data=data, timeout=10).json()
    address = dict(firstname="Jane", lastname="Roaster", address_1="1 Bean Street", city="New York",
                   postcode="10001", country_id=223, zone_id=3655)
    api("api/customer", dict(customer_id=1, customer_group_id=1, firstname="Jane", lastname="Roaster",
                             email="jane@example.com", telephone="5551234567"))
    api("api/cart/add", {"product[0][product_id]": 100, "product[0][quantity]": 1})
    api("api/payment/address", address)
    api("api/shipping/address", address)
    api("api/shipping/methods")
    api("api/shipping/method", {"shipping_method": "flat.flat"})
    api("api/payment/methods")
    added = api("api/order/add", {"payment_method": "cod", "order_status_id": 1, "comment": "SUB-1 #2"})
    api("api/order/history", {"order_status_id": 2, "notify": 0, "override": 0, "comment": "paid"},
        order_id=added["order_id"])
    info = api("api/order/info", order_id=added["order_id"])["order"]
    assert (info["total"], info["order_status"], info["payment_code"]) == ("24.9000", "Processing", "cod")
    assert list(info) == list(load(OC30 / "flow" / "13_order_info.json")["response"]["body_json"]["order"])
    clock.advance(timedelta(minutes=61))
    assert api("api/order/info", order_id=added["order_id"]) == {
        "error": {"warning": "Warning: You do not have permission to access the API!"}}


# ---------------------------------------------------------------------------------------------- reads

def test_the_signed_read_answers_order_orders_and_find(oc41, clock):
    oc41.connect_extension("http://127.0.0.1:9", 7, SECRET)
    first = oc41.place_order(1, [(100, 1)])
    clock.advance(timedelta(minutes=1))
    renewal = call41(oc41, "confirm", STATE + METHODS[:4] + [
        ("payment_method[name]", "Card on file"), ("payment_method[code]", "abonne.card"),
        ("order_status_id", "2"), ("comment", "abonne renewal SUB-9 cycle 3 & more")], clock).json()["order_id"]
    one = read(oc41, "order", {"order_id": str(renewal)}, clock)
    assert one.status_code == 200 and one.json()["ok"] is True
    order = one.json()["order"]
    assert (order["renewal"], order["status"]["paid"], order["totals"]["total"]) == (True, True, "27.90")
    assert order["billing_address"]["country"] == "US" and order["lines"][0]["reference"] == "COFFEE-M"
    storefront = read(oc41, "order", {"order_id": str(first)}, clock).json()["order"]
    assert (storefront["renewal"], storefront["totals"]["total"], storefront["status"]["name"]) == \
        (False, "24.90", "Pending")
    assert read(oc41, "order", {"order_id": "999"}, clock).json()["error"] == "order_unknown"
    page = read(oc41, "orders", {"modified_since": "2026-01-01T00:00:00+00:00", "after_id": "0", "limit": "1"},
                clock).json()["orders"]
    assert [o["id"] for o in page] == [str(first)]
    since = page[0]["modified_at"]
    rest = read(oc41, "orders", {"modified_since": since, "after_id": str(first), "limit": "100"}, clock).json()
    assert [o["id"] for o in rest["orders"]] == [str(renewal)]
    found = read(oc41, "find", {"marker": "SUB-9 cycle 3 & more"}, clock).json()["orders"]
    assert [o["id"] for o in found] == [str(renewal)]
    event_like = json.dumps({"event": "order.created", "order": order}).encode()
    assert parse_event_order(event_like).own_renewal


def test_reads_are_refused_like_the_extensions_php(oc41, clock):
    assert read(oc41, "order", {"order_id": "1"}, clock).json()["error"] == "not_configured"
    oc41.connect_extension("http://127.0.0.1:9", 7, SECRET)
    now = int(clock.now().timestamp())
    for response, error in ((read(oc41, "order", {"order_id": "1"}, clock, secret="other"), "signature_mismatch"),
                            (read(oc41, "order", {"order_id": "1"}, clock, stamp=now - 301),
                             "timestamp_out_of_window")):
        assert (response.status_code, response.json()["ok"], response.json()["error"]) == (401, False, error)
    bare = requests.get(oc41.url + "index.php", params={"route": "extension/abonne/module/abonne.read",
                                                        "call": "order", "order_id": "1"})
    assert (bare.status_code, bare.json()["error"]) == (401, "signature_missing")
    assert read(oc41, "orders", {"limit": "101"}, clock).status_code == 400


def test_the_30_read_route_and_renewal_flag(oc30, clock):
    oc30.connect_extension("http://127.0.0.1:9", 7, SECRET)
    order_id = oc30.place_order(1, [(100, 1)], payment_code="abonne.card", status_id=2)
    body = read(oc30, "order", {"order_id": str(order_id)}, clock, route="extension/module/abonne/read").json()
    assert body["order"]["renewal"] is True and body["order"]["totals"]["total"] == "24.90"
    assert read(oc30, "order", {"order_id": str(order_id)}, clock).status_code == 404  # the 4.x route


# ---------------------------------------------------------------------------------------------- events

def test_events_are_signed_and_parse_as_abonnes_orders(oc41, clock, receiver):
    oc41.connect_extension(receiver.url, 7, SECRET, refunded=[11, 13])
    order_id = oc41.place_order(1, [(100, 1)])
    oc41.set_order_status(order_id, 2)
    oc41.set_order_status(order_id, 13)
    assert oc41.flush_events()
    assert receiver.requests[0][0]["X-Abonne-Signature"].startswith("v1=")
    bodies = [receiver.verified(i, SECRET, clock.now())[0] for i in range(len(receiver.requests))]
    assert [b["event"] for b in bodies] == ["order.created", "order.status_changed", "order.status_changed"]
    assert bodies[0]["order"]["old_status"] is None and bodies[0]["platform_version"] == "4.1.0.4"
    assert bodies[1]["order"]["old_status"]["id"] == "1"
    assert parse_event_order(json.dumps(bodies[1]).encode()).paid
    assert parse_event_order(json.dumps(bodies[2]).encode()).state is OrderState.REFUNDED
    assert [e.status for e in oc41.events] == [200, 200, 200]
    assert oc41.ping_extension().status == 200


def test_30_order_edit_is_a_status_change_not_a_new_order(oc30, clock, receiver):
    oc30.connect_extension(receiver.url, 7, SECRET)
    token, body = "", {}
    for path in sorted((OC30 / "flow").glob("*.json"))[:11]:  # the captured login .. order/add
        capture = load(path)
        query = {k: token if k == "api_token" else v for k, v in capture["request"]["query"]}
        body = requests.post(oc30.url + "index.php", params=query,
                             data=capture["request"]["body_form"] or None).json()
        token = body.get("api_token", token)
    order_id = body["order_id"]
    requests.post(oc30.url + "index.php", params={"route": "api/cart/add", "api_token": token},
                  data={"product[0][product_id]": "100", "product[0][quantity]": "2"})
    edited = requests.post(oc30.url + "index.php", params={"route": "api/order/edit", "api_token": token,
                                                           "order_id": order_id},
                           data={"payment_method": "cod", "order_status_id": "1"}).json()
    assert edited == {"success": "Success: You have modified orders!"}
    assert oc30.flush_events()
    kinds = [(json.loads(b)["event"], (json.loads(b)["order"]["old_status"] or {}).get("id")) for _, b in
             receiver.requests]
    assert kinds == [("order.created", None), ("order.status_changed", "1")]


def test_failed_events_wait_with_the_backoff_and_are_given_up_after_three_days(oc41, clock):
    with Receiver(status=503) as receiver:
        oc41.connect_extension(receiver.url, 7, SECRET)
        oc41.place_order(1, [(100, 1)])
        assert oc41.flush_events()
        assert [e.status for e in oc41.events] == [503]
        clock.advance(timedelta(seconds=59))
        assert oc41.resend_due() == []
        clock.advance(timedelta(seconds=1))
        assert [e.attempt for e in oc41.resend_due()] == [2]
        clock.advance(timedelta(minutes=5))
        assert [e.attempt for e in oc41.resend_due()] == [3]
        receiver.status = 200
        clock.advance(timedelta(minutes=30))
        assert [e.status for e in oc41.resend_due()] == [200] and oc41.queued_events == []
        headers, body = receiver.requests[-1]
        verify_event(SECRET, headers, body, clock.now())  # signed again with the new time
        assert len({h["X-Abonne-Event-Id"] for h, _ in receiver.requests}) == 1
        receiver.status = 500
        oc41.set_order_status(1, 2)
        assert oc41.flush_events()
        for _ in range(20):
            clock.advance(timedelta(hours=6))
            oc41.resend_due()
        assert oc41.queued_events == [] and [e["event"] for e in oc41.given_up_events] == ["order.status_changed"]


# ---------------------------------------------------------------------------------------------- switches

def test_breakage_switches(oc41, clock):
    oc41.answer(502, b"bad gateway", "text/plain")
    assert call41(oc41, "customer", STATE[:6], clock).status_code == 502
    oc41.behave_normally()
    oc41.refuse_connections()
    with pytest.raises(requests.ConnectionError):
        call41(oc41, "customer", STATE[:6], clock)
    oc41.accept_connections()
    assert call41(oc41, "customer", STATE[:6], clock).status_code == 200
    oc41.slow_down(0.3)
    with pytest.raises(requests.Timeout):
        requests.post(oc41.url + "index.php", timeout=0.1)
    oc41.behave_normally()
    with pytest.raises(ValueError):
        OpenCartStandin().start(version="4.0.1")


def test_30_offers_abonnes_payment_method_to_api_sessions_while_the_extension_is_installed(oc30, clock):
    """As verified on a real 3.0.5.1: listed under its extension code, stored as abonne.card."""
    customer = oc30.add_customer("jane@example.com", "Jane", "Roaster")
    oc30.add_address(customer, "1 Bean Street", "New York", "10001")
    api = Api30(oc30.url, "Default", oc30._key)
    api.call("api/customer", [("customer_id", str(customer)), ("customer_group_id", "1"), ("firstname", "Jane"),
                              ("lastname", "Roaster"), ("email", "jane@example.com"), ("telephone", "5551234567")])
    api.call("api/cart/add", as_pairs({"product": [{"product_id": str(oc30.add_product("Club", "19.90", "C")),
                                                    "quantity": "1"}]}))
    api.call("api/payment/address", [("firstname", "Jane"), ("lastname", "Roaster"), ("address_1", "1 Bean Street"),
                                     ("city", "New York"), ("postcode", "10001"), ("country_id", "223"),
                                     ("zone_id", "3655")])
    assert api.call("api/payment/methods", [])["payment_methods"]["abonne"]["code"] == "abonne.card"
    oc30.set_extension_installed(False)
    assert "abonne" not in api.call("api/payment/methods", [])["payment_methods"]
